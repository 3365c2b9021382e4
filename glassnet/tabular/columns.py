"""What kind of values a table's raw column holds, before any learning: numbers, text or dates
(and the parts of a date), which text cells are missing-value markers, and which columns only
number the rows (an index written with the table); and how each kind of column becomes inputs,
once ``preprocessing.TablePreprocessor`` has learned its config:

    numeric column      z = (x - mean) / std          a missing value becomes the mean (z = 0)
    categorical column  one-hot over the categories   a missing value becomes the most frequent
                        kept (at most MAX_CATEGORIES, category; one never seen in training
                        the most frequent), and one   becomes all zeros (and is reported), or
                        input "(other)" for the rest  "(other)" when the column has that input
    date column         its parts as numbers: year, day of the month (and minute, for date-times)
                        standardized; month, weekday (and hour) as sin and cos of their angle on
                        the cycle, so December is next to January; a missing date is all zeros
    embedded column     one integer id per row, the input of an ``Embedding(ids, embedding_size(ids))``
    (text, --embed)     of the network: ids 1, 2, ... for the categories seen at least
                        EMBED_MIN_ROWS times in training (the MAX_IDS most frequent at most), in
                        sorted order; id 0, "(other)", for the rest, missing values and categories
                        never seen in training (fastai's "#na#" does the same)

Every column but an embedded one makes at most MAX_CATEGORIES + 1 inputs, written straight into
the float32 matrix; an embedded column makes no input there, and a (rows, 1) int64 array of ids
of its own (``ids``).
A date column is a column of pandas datetimes (Parquet timestamps) or of text whose first
``DATE_SAMPLE`` values all start with an ISO 8601 date (``2013-01-01``,
``2013-01-01T10:00:00Z``); times with a zone are taken in UTC, seconds are ignored.
"""
import math
import numbers
import re

import numpy as np

from ..errors import DataError
from ..extras import require

NUMERIC, CATEGORICAL, DATE, EMBEDDED = "numeric", "categorical", "date", "embedded"
# A text column is one-hot encoded over at most this many categories, plus one input for the rest.
MAX_CATEGORIES = 100
OTHER = "(other)"
# An embedded column gives ids to at most this many categories (the count that merged summaries of
# a text column keep exactly: preprocessing.TRACKED_CATEGORIES), each seen in at least
# EMBED_MIN_ROWS training rows: a category seen once would get a vector learned from one row, and
# it teaches id 0 ("(other)") what a rare category is like instead, the best stand-in for one never seen.
MAX_IDS = 20_000
EMBED_MIN_ROWS = 2
# --embed auto embeds the text columns with more distinct values in the training rows than this:
# those one-hot encoding would cap.
EMBED_ABOVE = MAX_CATEGORIES
# The most numbers an embedded category becomes (embedding_size).
MAX_EMBEDDING_SIZE = 50
# The parts of a date (and of a date-time); cyclic parts with their period become sin and cos.
DAY_PARTS, TIME_PARTS = ("year", "month", "day", "weekday"), ("hour", "minute")
CYCLES = {"month": 12, "weekday": 7, "hour": 24}
ISO_DATE = re.compile(r"\s*\d{4}-\d{2}-\d{2}")
DATE_SAMPLE = 1000  # values looked at to tell whether a text column holds dates
NUMBER_SAMPLE = 100  # values looked at first to tell whether a text column holds only numbers
# The names (in any case) of an index written with a table: R's row names, pandas' index, an id;
# such a column is left out when its integers rise from row to row, with gaps or without.
INDEX_NAMES = {"rownames", "row.names", "row_names", "rowid", "row_id", "index", "id"}


def _pandas():
    return require("pandas", "tables", "preparing tables")


def is_numeric(series):
    pd = _pandas()
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def is_dates(series):
    """Whether ``series`` holds datetimes, or text whose first values all start with an ISO date."""
    pd = _pandas()
    if pd.api.types.is_datetime64_any_dtype(series):
        return True
    if is_numeric(series):
        return False
    sample = series.dropna().head(DATE_SAMPLE)
    return len(sample) > 0 and all(isinstance(v, str) and ISO_DATE.match(v) for v in sample)


def dates(series, name, where):
    """The column as UTC datetimes (NaT where missing); a value that is not a date is refused."""
    pd = _pandas()
    times = pd.to_datetime(series, errors="coerce", utc=True, format="ISO8601")
    bad = times.isna() & series.notna()
    if bad.any():
        value, row = cell(series, np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"column {name!r} of {where} holds {value!r} in {row} where "
                        "dates are expected (YYYY-MM-DD, optionally with a time)")
    return times


def cell(series, position):
    """``(value, "row 8")``: the value at ``position`` of ``series`` and its row as the user counts
    it, for messages: the index label + 1 (the rows of the file glassnet read, counted from 1, however
    many rows training held out or left out before), or the label of an index of other labels."""
    value, label = series.iloc[position], series.index[position]
    value = value.item() if isinstance(value, np.generic) else value
    return value, f"row {label + 1}" if isinstance(label, numbers.Integral) else f"row {label!r}"


def date_parts(times):
    """Every part of ``times`` (UTC datetimes) as float arrays (NaN where missing), by name: the
    year, the month (0-11), the day of the month, the weekday (Monday 0), the hour and the minute,
    from the minutes since 1970 in integer arithmetic (ten times faster than pandas' accessors)."""
    minutes = times.dt.tz_localize(None).to_numpy(dtype="datetime64[m]")
    missing = np.isnat(minutes)
    minutes = np.where(missing, 0, minutes.astype(np.int64))
    days, minute_of_day = np.divmod(minutes, 24 * 60)
    year, month, day = _civil(days)
    parts = {"year": year, "month": month - 1, "day": day, "weekday": (days + 3) % 7,  # 1970-01-01: a Thursday
             "hour": minute_of_day // 60, "minute": minute_of_day % 60}
    return {name: np.where(missing, np.nan, values.astype(float)) for name, values in parts.items()}


def _civil(days):
    """``(year, month 1-12, day)`` of days since 1970-01-01 in the proleptic Gregorian calendar:
    Howard Hinnant's ``civil_from_days``, counting 400-year eras of 146,097 days from 0000-03-01
    (so that the leap day ends a year)."""
    z = days + 719_468
    era = z // 146_097
    day_of_era = z - era * 146_097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153  # 0 = March
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = np.where(shifted_month < 10, shifted_month + 3, shifted_month - 9)
    return year_of_era + era * 400 + (month <= 2), month, day


def date_features(parts):
    """The inputs a date column makes: ``part`` for linear parts, ``part_sin``/``part_cos`` for cycles."""
    return [name for part in parts for name in ((f"{part}_sin", f"{part}_cos") if part in CYCLES else (part,))]


def missing_marked(series, markers):
    """``series`` with its text cells that are missing-value ``markers`` made missing, and as
    numbers if every other cell is one (as reading the file with those markers gives)."""
    pd = _pandas()
    series = marked_missing(series, markers)
    if not markers or is_numeric(series) or pd.api.types.is_datetime64_any_dtype(series) or series.notna().sum() == 0:
        return series  # (datetimes too: to_numeric would make them nanoseconds)
    if pd.to_numeric(series.dropna().head(NUMBER_SAMPLE), errors="coerce").isna().any():
        return series  # text: its first values are not all numbers (most columns stop here, fast)
    numbers_ = pd.to_numeric(series, errors="coerce")
    return numbers_ if numbers_.notna().sum() == series.notna().sum() else series


def marked_missing(series, markers):
    """``series`` with its text cells that are missing-value ``markers`` made missing."""
    pd = _pandas()
    if not markers or is_numeric(series) or pd.api.types.is_datetime64_any_dtype(series):
        return series
    return series.where(~series.isin(list(markers)))


def _integers(series):
    pd = _pandas()
    return pd.api.types.is_integer_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _run(series):
    """What ``index_columns`` needs of this process's part of a column: ``(first, last, by_one)``
    when its values are integers that rise from row to row (``by_one``: by exactly 1 each time),
    ``()`` when the part has no rows, None otherwise."""
    if len(series) == 0:
        return ()
    if not _integers(series):
        return None
    values = series.to_numpy()
    steps = np.diff(values)
    return (int(values[0]), int(values[-1]), bool(np.all(steps == 1))) if np.all(steps > 0) else None


def _rising(runs):
    """The processes' ``_run``s (in rank order) that have rows, when together they rise from row
    to row; else None."""
    parts = [run for run in runs if run != ()]
    if not parts or None in parts or any(b[0] <= a[1] for a, b in zip(parts, parts[1:])):
        return None
    return parts


def _counts_rows(parts):
    """Whether rising ``parts`` together count 0, 1, ... or 1, 2, ...: no gap within or between."""
    return parts[0][0] in (0, 1) and all(part[2] for part in parts) and all(
        b[0] == a[1] + 1 for a, b in zip(parts, parts[1:]))


def _reason(name, facts):
    """Why column ``name`` is an index, from each process's ``(_run, _integers)`` of it, or None:
    it counts the rows; or it is named like an index and rises (row numbers of part of a table, such
    as a training split: a sorted column of years or amounts, named otherwise, stays a feature); or
    pandas wrote it (``Unnamed: 0``, any integers)."""
    parts = _rising([run for run, _ in facts])
    if parts and _counts_rows(parts):
        return "numbers the rows (like an index)"
    if parts and name.strip().lower() in INDEX_NAMES:
        return "named like an index and rising from row to row: row numbers, with gaps where rows were taken out"
    if re.fullmatch(r"Unnamed: \d+", name) and all(integers for run, integers in facts if run != ()):
        return "an unnamed integer column (an index written with the table)"
    return None


def index_columns(frame, comm=None):
    """``{name: reason}`` for the columns of ``frame`` that are an index, nothing to learn from
    (``_reason``), judged in table order over every process's rows with ``comm``."""
    facts = index_facts(frame)
    return index_reasons(list(frame.columns), [facts] if comm is None else comm.allgather(facts, "the index columns"))


def index_facts(frame):
    """What ``index_reasons`` needs of one part of a table's rows: per column, its ``_run`` and
    whether it holds integers."""
    return [(_run(frame[name]), _integers(frame[name])) for name in frame.columns]


def index_reasons(names, parts):
    """``{name: reason}`` for the index columns among ``names``, from the ``index_facts`` of the
    parts of the table (processes' rows, or chunks read one after another), in table order."""
    reasons = {name: _reason(str(name), column) for name, column in zip(names, zip(*parts))}
    return {name: reason for name, reason in reasons.items() if reason}


def embedding_size(ids):
    """How many numbers an embedded column's ``ids`` become: fastai's rule of thumb,
    ``round(1.6 * ids ** 0.56)``, at most ``MAX_EMBEDDING_SIZE`` (fastai's is 600): 3 for 3 ids, 22
    for 106, 50 from 459 on. The cap keeps an embedding narrower than the first hidden layer
    (128 by default) that reads it, and its matrix, which every Adam step updates whole, small."""
    return max(1, min(MAX_EMBEDDING_SIZE, round(1.6 * ids ** 0.56)))


def id_count(column):
    """How many ids an embedded column has: one per category it keeps, and id 0 for the rest."""
    return len(column["categories"]) + 1


def width(column):
    """How many inputs a column makes in the float32 matrix (an embedded column: none)."""
    if column["kind"] == NUMERIC:
        return 1
    if column["kind"] == EMBEDDED:
        return 0
    if column["kind"] == DATE:
        return len(date_features(column["parts"]))
    return len(column["categories"]) + bool(column.get("other"))


def feature_names(column):
    name = column["name"]
    if column["kind"] == NUMERIC:
        return [name]
    if column["kind"] == DATE:
        return [f"{name}.{feature}" for feature in date_features(column["parts"])]
    if column["kind"] == EMBEDDED:
        return []
    return [f"{name}={v}" for v in column["categories"]] + [f"{name}={OTHER}"] * bool(column.get("other"))


def _numeric(column, series, out, where, report):
    pd = _pandas()
    values = pd.to_numeric(series, errors="coerce") if not is_numeric(series) else series
    text = values.isna() & series.notna()
    if text.any():
        value, row = cell(series, np.flatnonzero(text.to_numpy())[0])
        raise DataError(f"column {column['name']!r} of {where} holds text ({value!r} in {row}) where the "
                        "model was trained on numbers")
    with np.errstate(over="ignore", invalid="ignore"):  # huge values are refused just below
        z = (values.astype(float).to_numpy() - column["mean"]) / column["std"]
    z[np.isnan(values.to_numpy(dtype=float))] = 0.0  # missing: the mean
    beyond = ~(np.abs(z) <= np.finfo(np.float32).max)
    if beyond.any():
        position = np.flatnonzero(beyond)[0]
        value, row = cell(series, position)
        raise DataError(f"column {column['name']!r} of {where}: {row} ({value!r}) standardizes to {z[position]:.3g} "
                        f"(mean {column['mean']:.3g}, std {column['std']:.3g}), beyond what the model's float32 "
                        "inputs hold")
    out[:, 0] = z


def _one_hot(column, series, out, where, report):
    pd = _pandas()
    categories = column["categories"]
    text = series if pd.api.types.is_string_dtype(series) else series.astype(str)  # (a copy only when needed)
    values = text.where(series.notna(), column["fill"])
    codes = pd.Index(categories).get_indexer(values)
    unseen = codes < 0
    if column.get("other"):
        codes[unseen] = len(categories)
    elif unseen.any():
        names, counts = np.unique(values.to_numpy(dtype=object)[unseen].astype(str), return_counts=True)
        report.unseen[column["name"]] = {str(c): int(n) for c, n in zip(names, counts)}
    out[:] = 0.0
    rows = np.flatnonzero(codes >= 0)
    out[rows, codes[rows]] = 1.0


def _date(column, series, out, where, report):
    parts = date_parts(dates(series, column["name"], where))
    encoded = []
    for part in column["parts"]:
        if part in CYCLES:
            angle = parts[part] * (2 * math.pi / CYCLES[part])
            encoded += [np.sin(angle), np.cos(angle)]
        else:
            encoded.append((parts[part] - column["mean"][part]) / column["std"][part])
    for j, values in enumerate(encoded):
        out[:, j] = np.nan_to_num(values, nan=0.0)  # missing: the mean, the centre of each cycle


def ids(column, series):
    """The ids of an embedded ``column`` (a preprocessing config) for ``series``: a (rows, 1) int64
    array, 1 + the position of each value among the sorted categories, 0 for a value that is
    missing or not among them."""
    pd = _pandas()
    text = series if pd.api.types.is_string_dtype(series) else series.astype(str)
    codes = pd.Index(column["categories"], dtype=object).get_indexer(text.to_numpy(dtype=object)) + 1
    codes[series.isna().to_numpy()] = 0
    return codes.astype(np.int64).reshape(-1, 1)


ENCODERS = {NUMERIC: _numeric, CATEGORICAL: _one_hot, DATE: _date}


def encode(column, series, out, where, report):
    """Write the inputs of ``column`` (a preprocessing config) for ``series`` into ``out``, a
    (rows, ``width(column)``) float32 view; unseen categories go to ``report.unseen``."""
    ENCODERS[column["kind"]](column, series, out, where, report)
