"""From a table's raw columns to a network's inputs and targets, learned from the training rows.

``TablePreprocessor`` turns the feature columns into one float32 matrix (how each kind of column
becomes inputs: ``columns.py``), learning what it needs from the training rows: means and
standard deviations, the categories kept (at most ``columns.MAX_CATEGORIES``, the most frequent,
the rest one input "(other)"), which columns to leave out (an identifier: text with distinct
values for more than half of its rows; an index, ``columns.index_columns``; ``keep`` overrides).
Text columns named in ``embed`` (or, with "auto", those of more than ``columns.EMBED_ABOVE``
distinct values) are embedded instead: each becomes a column of integer ids, a network input of
its own (``network_inputs``), and ``transform`` gives a list of arrays: the matrix, then the ids.

``TargetEncoder`` turns the target column into what the loss needs: class indices for
classification (the labels stay the user's own values: strings, integers, booleans) and
standardized values for regression. Both are plain JSON (``get_config``/``from_config``), kept in
the model file, so predictions on new rows go through exactly the same steps.

Both learn from summaries of the columns (counts, means and variances, category counts, class
sets). In data-parallel training (``glassnet.distributed``) each process holds part of the rows:
``fit(..., comm=...)`` exchanges the processes' summaries and merges them, in rank order, into
those of all rows; means and variances by Chan's formulas, for parts a and b with n = n_a + n_b:

    mean = mean_a + (mean_b - mean_a) n_b / n
    n var = n_a var_a + n_b var_b + (mean_b - mean_a)^2 n_a n_b / n
"""
import math
import numbers

import numpy as np

from ..errors import ConfigurationError, DataError
from ..extras import require
from ..io import schema
from .columns import (CATEGORICAL, CYCLES, DATE, DAY_PARTS, EMBED_ABOVE, EMBED_MIN_ROWS, EMBEDDED, MAX_CATEGORIES,
                      MAX_IDS, NUMERIC, OTHER, TIME_PARTS, cell, date_features, date_parts, dates, embedding_size,
                      encode, feature_names, id_count, ids, is_dates, is_numeric, marked_missing, missing_marked, width)
from .files import MISSING_MARKERS

# An integer target with at most this many distinct values (and few per row) is a class label.
MAX_INTEGER_CLASSES = 20
# A target with more distinct values than this cannot be classes (a network's output per class).
MAX_CLASSES = 10_000
# Text with more distinct values than this and than half its rows is an identifier.
MIN_IDENTIFIER_VALUES = 20
# Merged summaries of a text column count at most twice this many categories (``_forget_rarest``).
TRACKED_CATEGORIES = MAX_IDS
# The word of ``embed`` that embeds every text column of more than EMBED_ABOVE distinct values.
AUTO = "auto"
# The name of the network input that takes the float32 matrix when a table has embedded columns.
FEATURES_INPUT = "features"


def _pandas():
    return require("pandas", "tables", "preparing tables")


def _combine(comm, summary, merge, what):
    """``summary`` of this process's rows, or with ``comm`` the ``merge`` of every process's."""
    return summary if comm is None else merge(comm.allgather(summary, what))


def _moments(values):
    """``(count, mean, variance)`` of a float Series or array without missing values."""
    if len(values) == 0:
        return 0, 0.0, 0.0
    return len(values), float(values.mean()), float(values.var(ddof=0))


def _merge_moments(parts):
    """The ``_moments`` of the union of parts (see the module docstring)."""
    count, mean, var = 0, 0.0, 0.0
    for n_b, mean_b, var_b in parts:
        if n_b:
            n = count + n_b
            delta = mean_b - mean
            var = (count * var + n_b * var_b + delta * delta * count * n_b / n) / n
            mean, count = mean + delta * n_b / n, n
    return count, mean, var


def _finite(series, what):
    """Refuse a column of numbers that holds an infinite one (it has no mean; the network would
    learn NaN), naming it (``what``), the value and its row as the user counts it."""
    infinite = np.flatnonzero(np.isinf(series.to_numpy(dtype=float, na_value=np.nan)))
    if len(infinite):
        value, row = cell(series, infinite[0])
        raise DataError(f"{what} holds {value} in {row}, which is not a finite number: correct it, or "
                        "empty the cell to make it a missing value")


def _column_summary(series, where, text=False):
    """What a column's preprocessing is learned from: its kind, missing values, and the moments
    of its numbers, the count of each category (most frequent first), or the moments of its date
    parts and whether any has a time of day. With ``text`` (a column to embed), text that looks
    like dates is counted as categories."""
    missing = int(series.isna().sum())
    if is_numeric(series):
        _finite(series, f"column {series.name!r} of {where}")
        return {"kind": NUMERIC, "missing": missing, "moments": _moments(series.dropna().astype(float))}
    if is_dates(series) and not (text and not _pandas().api.types.is_datetime64_any_dtype(series)):
        parts = date_parts(dates(series, str(series.name), where))
        moments = {part: _moments(values[~np.isnan(values)]) for part, values in parts.items() if part not in CYCLES}
        timed = bool(np.nansum(parts["hour"]) + np.nansum(parts["minute"]) > 0)
        return {"kind": DATE, "missing": missing, "moments": moments, "timed": timed}
    counts = series.dropna().astype(str).value_counts()
    return {"kind": CATEGORICAL, "missing": missing, "counts": dict(zip(counts.index, counts.tolist()))}


def _count(summary):
    """How many values (missing ones aside) a column summary was made from."""
    if summary["kind"] == CATEGORICAL:
        return sum(summary["counts"].values()) + summary.get("untracked_values", 0)
    return (summary["moments"]["year"] if summary["kind"] == DATE else summary["moments"])[0]


def _merge_column(name, parts):
    has_values = [p for p in parts if _count(p)]
    if len({p["kind"] for p in has_values}) > 1:
        raise DataError(f"column {name!r} holds different kinds of values (numbers, text, dates) "
                        "in different parts of the table (processes' rows, or chunks of the file)")
    merged = dict((has_values or parts)[0], missing=sum(p["missing"] for p in parts))
    if merged["kind"] == NUMERIC:
        merged["moments"] = _merge_moments([p["moments"] for p in has_values])
    elif merged["kind"] == DATE:
        merged["moments"] = {part: _merge_moments([p["moments"][part] for p in has_values]) for part in merged["moments"]}
        merged["timed"] = any(p["timed"] for p in has_values)
    else:
        counts = merged["counts"] = {}
        for part in has_values:
            for category, count in part["counts"].items():
                counts[category] = counts.get(category, 0) + count
        for key in ("untracked", "untracked_values"):
            merged[key] = sum(p.get(key, 0) for p in has_values)
        if len(counts) > 2 * TRACKED_CATEGORIES:
            _forget_rarest(merged)
    return merged


def _forget_rarest(summary):
    """Keep the counts of the ``TRACKED_CATEGORIES`` most frequent categories of a categorical
    summary, adding the others to its untracked categories and values: the memory of a text column's
    summary stays bounded however many distinct values its rows hold (the most frequent, which
    preprocessing keeps, are counted exactly unless they are first seen late and rarely)."""
    counts = summary["counts"]
    ranked = sorted(counts, key=lambda category: (-counts[category], category))
    for category in ranked[TRACKED_CATEGORIES:]:
        summary["untracked"] += 1
        summary["untracked_values"] += counts.pop(category)


def _std(var):
    std = math.sqrt(var)
    return std if std > 0 and math.isfinite(std) else 1.0


def _column(name, summary, embedded=False):
    """A column's preprocessing (JSON) from its summary; ``embedded``: as ids (a text column)."""
    kind, missing = summary["kind"], summary["missing"]
    if not _count(summary):
        raise DataError(f"column {name!r} has no values at all; drop it (--drop {name})")
    if embedded:
        counts = summary["counts"]
        ranked = sorted(counts, key=lambda category: (-counts[category], category))[:MAX_IDS]
        kept = [category for category in ranked if counts[category] >= EMBED_MIN_ROWS]
        return {"name": name, "kind": EMBEDDED, "categories": sorted(kept), "missing": missing,
                "other": _distinct(summary) - len(kept)}
    if kind == NUMERIC:
        _, mean, var = summary["moments"]
        return {"name": name, "kind": NUMERIC, "mean": mean, "std": _std(var), "missing": missing}
    if kind == DATE:
        parts = DAY_PARTS + (TIME_PARTS if summary["timed"] else ())
        linear = [part for part in parts if part not in CYCLES]
        return {"name": name, "kind": DATE, "parts": list(parts),
                "mean": {part: summary["moments"][part][1] for part in linear},
                "std": {part: _std(summary["moments"][part][2]) for part in linear}, "missing": missing}
    counts = summary["counts"]
    kept = sorted(counts, key=lambda category: (-counts[category], category))[:MAX_CATEGORIES]
    return {"name": name, "kind": CATEGORICAL, "categories": sorted(kept), "fill": kept[0],
            "missing": missing, "other": len(counts) - len(kept) + summary.get("untracked", 0)}


def _distinct(summary):
    """How many distinct values a categorical summary counted (about, when some are untracked)."""
    return len(summary["counts"]) + summary.get("untracked", 0)


def _identifier(summary):
    """Why a column looks like an identifier (text, distinct in most rows), or None."""
    if summary["kind"] != CATEGORICAL:
        return None
    distinct, values = _distinct(summary), _count(summary)
    if distinct > max(MIN_IDENTIFIER_VALUES, values / 2):
        about = "about " if summary.get("untracked") else ""
        return f"{about}{distinct} distinct values in {values} rows, like an identifier"
    return None


def _label(value):
    """A label as a JSON value that compares equal however the file spelled it (1, 1.0, "1"
    stay distinct from each other only when they are genuinely different types)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)


def embedding_request(embed):
    """``(names, auto)`` of ``embed``: the columns named (a list, or comma-separated text) and
    whether "auto" is among them."""
    if isinstance(embed, str):
        embed = [embed]
    names = [name for name in embed if name != AUTO]
    for name in names:
        if not isinstance(name, str):
            raise ConfigurationError(f"embed names columns (text) or says 'auto', got {name!r}")
    return names, AUTO in embed


def _embedded(name, summary, named, auto):
    """Why column ``name`` is embedded (in a few words), or None: it is ``named`` (``embed``), or
    ``auto`` is asked and it is text of more than ``EMBED_ABOVE`` distinct values."""
    if name in named:
        if summary["kind"] != CATEGORICAL:
            kind = "numbers" if summary["kind"] == NUMERIC else "date-times"
            raise DataError(f"--embed column {name!r} holds {kind}; an Embedding takes categories (text): leave "
                            f"it out of --embed (write its values as text to embed them, e.g. codes)")
        return "--embed " + name
    if auto and summary["kind"] == CATEGORICAL and _distinct(summary) > EMBED_ABOVE:
        return f"--embed auto: more than {EMBED_ABOVE} categories"
    return None


class Report:
    """What a transform did that the user should know: imputed and unseen values per column."""

    def __init__(self):
        self.missing = {}   # column -> number of values imputed
        self.unseen = {}    # column -> {category: count} not seen in training
        self.embedded = set()  # the embedded columns: a missing value is id 0, "(other)"

    def lines(self):
        out = [f"{column}: {count} missing value{'s' * (count != 1)} "
               + (f"given id 0 {OTHER!r}" if column in self.embedded else "imputed")
               for column, count in self.missing.items()]
        for column, categories in self.unseen.items():
            shown = ", ".join(f"{c!r} ({n})" for c, n in list(categories.items())[:5])
            out.append(f"{column}: {sum(categories.values())} value(s) of categories not seen in "
                       f"training, encoded as all zeros: {shown}")
        return out


class TablePreprocessor:
    """Standardize numeric columns, one-hot encode categorical ones and split dates into parts
    (see the module doc); ``left_out`` says which columns were not used, and why."""

    def __init__(self, columns, markers=(), left_out=None, embedded_because=None):
        self.columns = columns  # one dict per feature column, in input order
        self.markers = list(markers)  # text read as a missing value
        self.left_out = dict(left_out or {})  # column -> why it is not used
        self.embedded_because = dict(embedded_because or {})  # column -> why embedded (not kept in the file)

    @classmethod
    def fit(cls, frame, comm=None, markers=MISSING_MARKERS, left_out=None, keep=(), embed=()):
        """Learn the statistics of every column of ``frame`` (the training rows only) but those in
        ``left_out`` (``{name: reason}``); with ``comm`` (a ``distributed.Communicator``), of every
        process's part of the rows. Text in ``markers`` is a missing value; a column that looks
        like an identifier is left out unless it is in ``keep``. ``embed`` names text columns to
        embed, or holds "auto" (``embedding_request``); a column named there is used even if it
        looks like an identifier."""
        left_out = dict(left_out or {})
        named, _ = embedding_request(embed)
        _check_embedded(named, frame.columns, left_out)
        names = [name for name in frame.columns if name not in left_out]
        summaries = _combine(comm, cls.summaries(frame[names], markers, named),
                             lambda parts: cls.merged(names, parts), "the column statistics")
        return cls.from_summaries(names, summaries, markers, left_out, keep, embed)

    @staticmethod
    def summaries(frame, markers=MISSING_MARKERS, text=()):
        """What the preprocessing of each column of ``frame`` is learned from (``_column_summary``);
        the columns in ``text`` (to embed) as text even where it looks like dates."""
        return [_column_summary(missing_marked(frame[name], markers), "the table", name in text)
                for name in frame.columns]

    @staticmethod
    def merged(names, parts):
        """The ``summaries`` of the union of the rows of several parts (processes, chunks)."""
        return [_merge_column(name, column) for name, column in zip(names, zip(*parts))]

    @classmethod
    def from_summaries(cls, names, summaries, markers=MISSING_MARKERS, left_out=None, keep=(), embed=()):
        """The preprocessor of the columns ``names`` learned from their ``summaries`` (see ``fit``)."""
        left_out = dict(left_out or {})
        named, auto = embedding_request(embed)
        _check_embedded(named, names, left_out)
        columns, because = [], {}
        for name, summary in zip(names, summaries):
            reason = None if name in keep or name in named else _identifier(summary)
            if reason:
                left_out[name] = reason
            elif name not in left_out:
                because[name] = _embedded(name, summary, named, auto) if _count(summary) else None
                columns.append(_column(name, summary, embedded=because[name] is not None))
        return cls(columns, markers, left_out, {k: v for k, v in because.items() if v})

    @property
    def input_names(self):
        return [c["name"] for c in self.columns]

    @property
    def feature_names(self):
        """The names of the matrix columns: numeric columns as they are, ``column=category``
        (``column=(other)``), ``column.part`` for dates (embedded columns have none)."""
        return [name for column in self.columns for name in feature_names(column)]

    @property
    def embedded(self):
        """The configs of the embedded columns, in input order."""
        return [column for column in self.columns if column["kind"] == EMBEDDED]

    def network_inputs(self):
        """The inputs of the network, in order, each ``(name, shape, ids)``: without embedded
        columns the matrix alone, ``("input", (features,), None)``; with them the matrix (when
        any column makes one) as ``"features"`` (``"features_1"``, ... should a column have that
        name), then one ``(column name, (1,), id count)`` per embedded column."""
        embedded = self.embedded
        matrix = len(self.feature_names)
        if not embedded:
            return [("input", (matrix,), None)]
        names = {column["name"] for column in embedded}
        features, i = FEATURES_INPUT, 1
        while features in names:
            features, i = f"{FEATURES_INPUT}_{i}", i + 1
        return [(features, (matrix,), None)] * bool(matrix) + [(c["name"], (1,), id_count(c)) for c in embedded]

    def transform(self, frame, where="the table"):
        """``(inputs, report)``: the float32 matrix for ``frame`` (with embedded columns, a list of
        the network's inputs, ``network_inputs``: the matrix if any, then each embedded column's
        (rows, 1) int64 ids), and what was imputed or unseen."""
        absent = [name for name in self.input_names if name not in frame.columns]
        if absent:
            raise DataError(f"{where} lacks the column{'s' * (len(absent) > 1)} the model needs: "
                            f"{', '.join(absent)} (it has: {', '.join(map(str, frame.columns))})")
        report = Report()
        inputs = np.empty((len(frame), sum(map(width, self.columns))), dtype=np.float32)
        identifiers = []
        start = 0
        for column in self.columns:
            series = marked_missing(frame[column["name"]], self.markers)
            missing = int(series.isna().sum())
            if missing:
                report.missing[column["name"]] = missing
            if column["kind"] == EMBEDDED:
                report.embedded.add(column["name"])
                identifiers.append(ids(column, series))
                continue
            size = width(column)
            encode(column, series, inputs[:, start:start + size], where, report)
            start += size
        if not identifiers:
            return inputs, report
        return [inputs] * bool(inputs.shape[1]) + identifiers, report

    def choices(self):
        """The report lines of what was decided per column beyond standardizing and one-hot
        encoding: dates split, categories capped or embedded, columns left out."""
        lines = []
        for column in self.columns:
            if column["kind"] == DATE:
                lines.append(f"{column['name']}: dates -> {', '.join(date_features(column['parts']))}")
            elif column["kind"] == CATEGORICAL and column.get("other"):
                kept = len(column["categories"])
                lines.append(f"{column['name']}: {kept + column['other']} categories; the {kept} most frequent "
                             f"one-hot encoded, the other {column['other']} as one input {OTHER!r}")
            elif column["kind"] == EMBEDDED:
                kept, count = len(column["categories"]), id_count(column)
                because = self.embedded_because.get(column["name"])
                lines.append(f"{column['name']}: {kept + column['other']} categories embedded"
                             + (f" ({because})" if because else "")
                             + f" -> Embedding({count}, {embedding_size(count)}): an id for each of the {kept} "
                             f"seen in at least {EMBED_MIN_ROWS} training rows, id 0 {OTHER!r} for the other "
                             f"{column['other']}, missing values and categories not seen in training")
        lines += [f"left out {name}: {reason} (--keep {name} uses it)" for name, reason in self.left_out.items()]
        return lines

    def get_config(self):
        return {"columns": self.columns, "missing_markers": self.markers, "left_out": self.left_out}

    @classmethod
    def from_config(cls, config):
        """The preprocessor of ``get_config()``, every column checked (``_checked_column``);
        a config that is not one raises ``ModelFileError``."""
        where = "preprocessing.features"
        schema.fields(where, config, ("columns",), ("missing_markers", "left_out"))
        columns = schema.listing(f"{where}.columns", config["columns"])
        columns = [_checked_column(f"{where}.columns[{i}]", c) for i, c in enumerate(columns)]
        names = [c["name"] for c in columns]
        if not columns or len(set(names)) != len(names):
            schema.refuse(f"{where}.columns", "one or more columns of distinct names", names)
        markers = [schema.string(f"{where}.missing_markers", m)
                   for m in schema.listing(f"{where}.missing_markers", config.get("missing_markers", []))]
        left_out = schema.mapping(f"{where}.left_out", config.get("left_out", {}))
        for name, reason in left_out.items():
            schema.string(f"{where}.left_out[{name!r}]", reason)
        return cls(columns, markers, left_out)


def _checked_column(where, column):
    """A column of ``TablePreprocessor.get_config()`` checked: its name (text), kind and missing
    count, and its mean and standard deviation > 0 (numeric), its distinct categories, the one
    that fills missing values and the count of those in "(other)" (categorical), or its parts
    with the mean and standard deviation > 0 of each linear one (date)."""
    kind = schema.mapping(where, column).get("kind")
    if kind == NUMERIC:
        schema.fields(where, column, ("name", "kind", "mean", "std", "missing"))
        schema.number(f"{where}.mean", column["mean"])
        schema.number(f"{where}.std", column["std"], low=math.ulp(0))
    elif kind == CATEGORICAL:
        schema.fields(where, column, ("name", "kind", "categories", "fill", "missing"), ("other",))
        categories = [schema.string(f"{where}.categories", c)
                      for c in schema.listing(f"{where}.categories", column["categories"])]
        if not categories or len(set(categories)) != len(categories) or column["fill"] not in categories:
            schema.refuse(f"{where}.categories", "distinct texts, among them the fill value", categories)
        schema.integer(f"{where}.other", column.get("other", 0))
    elif kind == DATE:
        _checked_date(where, column)
    elif kind == EMBEDDED:
        schema.fields(where, column, ("name", "kind", "categories", "missing", "other"))
        categories = [schema.string(f"{where}.categories", c)
                      for c in schema.listing(f"{where}.categories", column["categories"])]
        if len(set(categories)) != len(categories) or categories != sorted(categories) or len(categories) > MAX_IDS:
            schema.refuse(f"{where}.categories", f"distinct texts in sorted order, at most {MAX_IDS}", categories)
        schema.integer(f"{where}.other", column["other"])
    else:
        schema.refuse(f"{where}.kind", f"{NUMERIC!r}, {CATEGORICAL!r}, {DATE!r} or {EMBEDDED!r}", kind)
    schema.string(f"{where}.name", column["name"])
    schema.integer(f"{where}.missing", column["missing"])
    return column


def _check_embedded(named, columns, left_out):
    """Refuse ``embed`` names that are not among ``columns`` or are left out."""
    for name in named:
        if name not in columns:
            raise DataError(f"--embed column {name!r} is not in the table; its columns are: "
                            f"{', '.join(map(str, columns))}")
        if name in left_out:
            raise ConfigurationError(f"--embed column {name!r} is left out ({left_out[name]}); it cannot be embedded too")


def _checked_date(where, column):
    """A date column's parts (a date's, or a date-time's), and a mean and a standard deviation
    > 0 for each linear part."""
    schema.fields(where, column, ("name", "kind", "parts", "mean", "std", "missing"))
    parts = column["parts"]
    if parts not in (list(DAY_PARTS), list(DAY_PARTS + TIME_PARTS)):
        schema.refuse(f"{where}.parts", f"{list(DAY_PARTS)} or {list(DAY_PARTS + TIME_PARTS)}", parts)
    linear = [part for part in parts if part not in CYCLES]
    for key, low in (("mean", -math.inf), ("std", math.ulp(0))):
        values = schema.fields(f"{where}.{key}", column[key], linear)
        for part in linear:
            schema.number(f"{where}.{key}.{part}", values[part], low=low)


def _checked_label(where, value):
    """A class label as ``_label`` makes it: text, a whole number, a finite number or a boolean."""
    if isinstance(value, str) or isinstance(value, bool) or isinstance(value, int):
        return value
    return schema.number(where, value)


def _target_summary(series):
    """What the target's task and encoding are learned from (``TargetEncoder.summary``)."""
    values = series.dropna()
    text = not is_numeric(values) or _pandas().api.types.is_bool_dtype(values)
    numbers_ = None if text else values.astype(float).to_numpy()
    fractions = [] if text else numbers_[numbers_ != np.round(numbers_)]
    counts = values.value_counts(sort=False)
    labels = None  # more than MAX_CLASSES
    if len(counts) <= MAX_CLASSES:
        labels = {}
        for value, count in zip(counts.index, counts.tolist()):
            label = _label(value)
            labels[label] = labels.get(label, 0) + count
    return {"count": len(values), "text": text, "fraction": float(fractions[0]) if len(fractions) else None,
            # enough distinct values to tell whether there are more than MAX_INTEGER_CLASSES
            "distinct": set() if text else set(np.unique(numbers_)[:MAX_INTEGER_CLASSES + 1].tolist()),
            "labels": labels if labels is None or len(labels) <= MAX_CLASSES else None,
            "moments": None if text else _moments(numbers_)}


def _merge_target_summaries(parts):
    voters = [p for p in parts if p["count"]]
    labels = {}
    for part in voters:
        for label, count in (part["labels"] or {}).items():
            labels[label] = labels.get(label, 0) + count
    fractions = [p["fraction"] for p in voters if p["fraction"] is not None]
    return {"count": sum(p["count"] for p in parts), "text": any(p["text"] for p in voters),
            "fraction": fractions[0] if fractions else None,
            "distinct": set(sorted(set().union(*(p["distinct"] for p in voters)))[:MAX_INTEGER_CLASSES + 1]),
            "labels": None if any(p["labels"] is None for p in voters) or len(labels) > MAX_CLASSES else labels,
            "moments": _merge_moments([p["moments"] for p in voters if p["moments"] is not None])}


def _task(summary):
    """``(task, reason)``: classification for text, booleans and a few integer values; regression
    otherwise; and why, in a few words."""
    if summary["text"]:
        return "classification", "the target holds text or true/false values"
    limit = min(MAX_INTEGER_CLASSES, max(2, summary["count"] // 10))
    distinct = len(summary["distinct"])
    if summary["fraction"] is None and distinct <= limit:
        return "classification", f"the target holds {distinct} distinct whole numbers"
    if summary["fraction"] is None:
        return "regression", f"the target holds more than {limit} distinct whole numbers"
    return "regression", "the target holds numbers with fractions"


class TargetEncoder:
    """The target column as the loss needs it, and back (see the module doc)."""

    def __init__(self, name, task, classes=None, mean=0.0, std=1.0, reason=None, class_counts=None):
        self.name, self.task = name, task
        self.reason = reason  # why this task (shown by glassnet train; not kept in the file)
        self.classes = classes
        self.class_counts = class_counts  # the rows of each class it learned from (not kept in the file)
        self.mean, self.std = mean, std

    @staticmethod
    def infer_task(series, comm=None):
        """Classification for text, booleans and a few integer values; regression otherwise
        (with ``comm``, judged on every process's rows)."""
        return TargetEncoder.infer_task_and_reason(series, comm)[0]

    @staticmethod
    def infer_task_and_reason(series, comm=None):
        """``(task, reason)``: the task ``infer_task`` picks, and why, in a few words."""
        return _task(_combine(comm, TargetEncoder.summary(series), _merge_target_summaries, "the target's values"))

    @classmethod
    def fit(cls, series, task=None, comm=None):
        """Learn the classes, or the mean and standard deviation, of the target ``series`` (with
        ``comm``, of every process's part of the rows)."""
        summary = _combine(comm, cls.summary(series), _merge_target_summaries, "the target's values")
        return cls.from_summary(str(series.name), summary, task)

    @staticmethod
    def summary(series):
        """What the encoder is learned from: the count of values, whether they are text, whole
        numbers, the count of each label (up to ``MAX_CLASSES``), and their moments."""
        if is_numeric(series):
            _finite(series, f"the target {str(series.name)!r}")
        return _target_summary(series)

    @staticmethod
    def merged(parts):
        """The ``summary`` of the union of the rows of several parts (processes, chunks)."""
        return _merge_target_summaries(parts)

    @classmethod
    def from_summary(cls, name, summary, task=None):
        """The encoder learned from the ``summary`` of the target ``name``; ``task`` None infers it."""
        reason = "as --task says"
        if task is None:
            task, reason = _task(summary)
        if task == "classification":
            if summary["fraction"] is not None:
                raise DataError(f"the target {name!r} holds numbers with fractions ({summary['fraction']:g}, ...), "
                                "which are not classes: leave out --task classification to predict the value "
                                "(regression), or turn the values into classes first")
            if summary["labels"] is None:
                raise DataError(f"the target {name!r} has more than {MAX_CLASSES} distinct values: too many to be "
                                "classes (for numbers, --task regression predicts the value)")
            classes = sorted(summary["labels"], key=lambda v: (str(type(v)), v))
            if len(classes) < 2:
                raise DataError(f"the target {name!r} has a single class ({classes[0]!r}): "
                                "there is nothing to learn to tell apart")
            return cls(name, task, classes=classes, reason=reason,
                       class_counts=[summary["labels"][c] for c in classes])
        if summary["text"]:
            raise DataError(f"the target {name!r} holds text, so it cannot be a regression target; "
                            "use --task classification")
        _, mean, var = summary["moments"]
        std = math.sqrt(var)
        if std == 0:
            raise DataError(f"the target {name!r} has the same value ({mean}) in every row")
        return cls(name, task, mean=mean, std=std, reason=reason)

    @property
    def n_classes(self):
        return len(self.classes)

    def encode(self, series, where="the table"):
        """Class indices (int) or standardized values (float32); rows with a missing target must
        have been dropped before."""
        if self.task == "classification":
            index = {c: i for i, c in enumerate(self.classes)}
            labels = [_label(v) for v in series]
            unknown = sorted({str(v) for v in labels if v not in index})
            if unknown:
                raise DataError(f"the target {self.name!r} of {where} has classes the model does not know: "
                                f"{', '.join(unknown[:5])} (it knows: {', '.join(map(str, self.classes))})")
            return np.array([index[v] for v in labels])
        values = series.astype(float).to_numpy() if is_numeric(series) else None
        if values is None:
            raise DataError(f"the target {self.name!r} of {where} holds text where numbers are expected")
        _finite(series, f"the target {self.name!r} of {where}")
        return ((values - self.mean) / self.std).astype(np.float32)

    def decode(self, indices):
        """Labels (the user's values) for class indices."""
        return np.asarray(self.classes, dtype=object)[np.asarray(indices)]

    def get_config(self):
        return {"name": self.name, "task": self.task, "classes": self.classes,
                "mean": self.mean, "std": self.std}

    @classmethod
    def from_config(cls, config):
        """The encoder of ``get_config()``, checked: a name, the task, and two or more distinct
        labels (classification) or a finite mean and a standard deviation > 0 (regression)."""
        where = "preprocessing.target"
        schema.fields(where, config, ("name", "task", "classes", "mean", "std"))
        task = config["task"]
        if task not in ("classification", "regression"):
            schema.refuse(f"{where}.task", "'classification' or 'regression'", task)
        classes = None
        if task == "classification":
            classes = [_checked_label(f"{where}.classes", v) for v in schema.listing(f"{where}.classes", config["classes"])]
            if len(classes) < 2 or len(set(classes)) != len(classes):
                schema.refuse(f"{where}.classes", "two or more distinct labels", classes)
        return cls(schema.string(f"{where}.name", config["name"]), task, classes,
                   schema.number(f"{where}.mean", config["mean"]),
                   schema.number(f"{where}.std", config["std"], low=math.ulp(0)))
