"""Tables in and out: CSV and Parquet files (pandas, pyarrow), and the built-in data sets.

Reading needs the ``tables`` extra (``pip install 'glassnet[tables]'``); the error says so when it
is missing. Every way a file can fail to read (missing, empty, header only, not CSV, not Parquet)
becomes one clear ``DataError`` naming the file.

The separator of a delimited file is sniffed from its first lines (``,``, ``;``, tab or ``|``),
whatever its suffix. Text cells that are missing-value markers (``MISSING_MARKERS``:
``?``, ``NA``, ``N/A``, ``null``, empty, ..., and any the caller adds) are read as missing, in CSV
and in Parquet text columns. Nested Parquet columns (lists, structs, maps) are refused by name.

A folder of Parquet files is one table: its files in name order. Each process of a distributed
training reads only its part of the rows (``part=(index, count)``); from Parquet, only the row
groups that hold them, so no process needs memory for the whole table.

Strings from a table (or from a model file made from one) are untrusted on the way out:
``printable`` shows control characters as escapes for a terminal, and ``escape_formulas`` keeps a
spreadsheet from running CSV cells as formulas.
"""
import csv
import os
import re

import numpy as np

from ..errors import DataError
from ..extras import require
from ..io import atomic

CSV_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": None}
PARQUET_SUFFIXES = (".parquet", ".pq")
# The data sets that ship with scikit-learn (no download); the target column is "target".
BUILTIN_DATASETS = ("digits", "iris", "wine", "breast_cancer", "diabetes")
# How a CSV cell that a spreadsheet would run as a formula starts (OWASP's list), and a plain
# number, which starts the same way but is only a number.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Text cells read as missing values (besides empty cells); glassnet train's --na-values adds more.
MISSING_MARKERS = ("", "?", "NA", "N/A", "n/a", "#N/A", "NaN", "nan", "null", "NULL", "None", "<NA>")
SEPARATORS = ",;\t|"
SNIFFED_BYTES = 64 * 1024
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def read_table(path, part=None, na_values=()):
    """A CSV (``.csv``, ``.tsv``, ``.txt``) or Parquet (``.parquet``, ``.pq``) file, or a folder
    of Parquet files, as a DataFrame; text in ``MISSING_MARKERS`` or ``na_values`` is missing. With
    ``part=(index, count)``, only rows ``[n * index // count, n * (index + 1) // count)`` of its
    ``n`` rows: from Parquet, only the row groups that hold them are read; a CSV file is read
    whole and cut."""
    pd = require("pandas", "tables", "reading tables")
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    markers = [*MISSING_MARKERS, *na_values]
    delimited = not os.path.isdir(path) and suffix in CSV_SUFFIXES
    if is_parquet(path):
        frame = _read_parquet(open_parquet(path, na_values), part)
    elif suffix not in CSV_SUFFIXES:
        raise DataError(f"{path}: expected a CSV file (.csv, .tsv, .txt) or a Parquet file "
                        f"(.parquet, .pq), got {suffix or 'no extension'}")
    elif not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    else:
        try:
            frame = pd.read_csv(path, sep=_separator(path, suffix), na_values=markers, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise DataError(f"{path} is empty: expected a header line and rows") from None
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
            raise DataError(f"{path} could not be read as CSV: {error}") from None
    if frame.shape[1] == 0:
        raise DataError(f"{path} has no columns")
    if len(frame) == 0:
        raise DataError(f"{path} has a header ({', '.join(map(str, frame.columns))}) but no rows")
    if part is not None and delimited:
        frame = frame.iloc[_rows(path, len(frame), part)]
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _rows(path, n, part):
    """The rows of ``part=(index, count)`` of a table of ``n`` rows, as a slice."""
    index, count = part
    if n < count:
        raise DataError(f"{path} has {n} rows, fewer than the {count} processes that share them")
    return slice(n * index // count, n * (index + 1) // count)


def _separator(path, suffix):
    """The separator of a delimited file, sniffed from its first lines (``csv.Sniffer``), or the
    suffix's (``,`` for ``.csv``, tab for ``.tsv``) when they do not tell."""
    with open(path, "rb") as file:
        sample = file.read(SNIFFED_BYTES).decode("utf-8", errors="replace")
    lines = sample.splitlines()[:-1] if len(sample) == SNIFFED_BYTES else sample.splitlines()
    try:
        return csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=SEPARATORS).delimiter
    except csv.Error:
        return CSV_SUFFIXES[suffix] or ","


def _nested_columns(schema):
    """``name (type)`` of every nested column (list, struct, map) of a pyarrow schema."""
    import pyarrow as pa
    return [f"{field.name} ({field.type})" for field in schema if pa.types.is_nested(field.type)]


class ParquetTable:
    """A Parquet file, or a folder of them (its files in name order), opened to be read a piece
    at a time: ``pieces`` are its row groups, ``(file, group, rows)`` in table order, and
    ``starts`` the table's row number of each piece's first row. Only the files' metadata is read
    here (the schema, checked for nested columns, and the row counts); text in ``markers`` reads
    as missing."""

    def __init__(self, path, files, markers=MISSING_MARKERS):
        require("pyarrow", "tables", "reading Parquet files")
        import pyarrow.parquet as pq
        self.path, self.files, self.markers = path, files, list(markers)
        try:
            metadata = [pq.read_metadata(file) for file in files]
            self.schema = pq.read_schema(files[0])
        except Exception as error:  # pyarrow raises several unrelated types for a bad file
            raise DataError(f"{path} could not be read as Parquet: {error}") from None
        nested = _nested_columns(self.schema)
        if nested:
            raise DataError(f"{path} has nested columns, which a network cannot take as inputs: "
                            f"{', '.join(nested)}; flatten them into plain columns or leave them out of the file")
        self.columns = [str(name) for name in self.schema.names]
        self.pieces = [(file, group, data.row_group(group).num_rows)
                       for file, data in zip(files, metadata) for group in range(data.num_row_groups)]
        self.starts = np.cumsum([0] + [rows for _, _, rows in self.pieces])
        self.rows = int(self.starts[-1])
        # what the rows take once decoded (before pandas, which takes more for text)
        self.bytes = sum(data.row_group(group).total_byte_size for data in metadata for group in range(data.num_row_groups))

    def read(self, piece, first=0, rows=None):
        """Rows ``[first, first + rows)`` of piece number ``piece`` as a DataFrame."""
        file, group, _ = self.pieces[piece]
        return self._frame(lambda pq: pq.ParquetFile(file).read_row_group(group).slice(first, rows))

    def chunks(self, piece, rows, columns=None):
        """Yield ``(row number in the table, DataFrame)`` for the piece ``piece`` cut into chunks
        of at most ``rows`` rows (only ``columns``, all by default), reading one chunk at a time;
        a chunk's index is the table's row numbers (counted from 0)."""
        file, group, _ = self.pieces[piece]
        start = int(self.starts[piece])
        batches = self._checked(lambda pq: pq.ParquetFile(file).iter_batches(rows, row_groups=[group], columns=columns))
        while True:
            batch = self._checked(lambda pq: next(batches, None))
            if batch is None:
                return
            frame = self._frame(lambda pq: batch)
            frame.index = range(start, start + len(frame))  # messages name the table's row numbers
            yield start, frame
            start += batch.num_rows

    def _checked(self, read):
        """``read(pyarrow.parquet)``, any pyarrow error as a ``DataError`` naming the table."""
        import pyarrow.parquet as pq
        try:
            return read(pq)
        except Exception as error:  # pyarrow raises several unrelated types for a bad file
            raise DataError(f"{self.path} could not be read as Parquet: {error}") from None

    def _frame(self, read):
        """What ``read`` returns (a pyarrow table or record batch) as a DataFrame, markers missing."""
        frame = self._checked(lambda pq: read(pq).to_pandas())
        frame.columns = [str(c) for c in frame.columns]
        text = frame.select_dtypes(include=["object", "string"]).columns
        frame[text] = frame[text].apply(lambda column: column.where(~column.isin(self.markers)))
        return frame


def open_parquet(path, na_values=()):
    """The Parquet file or folder ``path`` as a ``ParquetTable`` (``read_table``'s errors for a
    path that is not one); text in ``MISSING_MARKERS`` or ``na_values`` reads as missing."""
    path = os.fspath(path)
    if os.path.isdir(path):
        files = sorted(os.path.join(path, name) for name in os.listdir(path)
                       if os.path.splitext(name)[1].lower() in PARQUET_SUFFIXES)
        if not files:
            raise DataError(f"{path} is a folder without Parquet files (.parquet, .pq)")
        return ParquetTable(path, files, [*MISSING_MARKERS, *na_values])
    if os.path.splitext(path)[1].lower() not in PARQUET_SUFFIXES:
        raise DataError(f"{path}: only Parquet files (.parquet, .pq) or folders of them can be streamed")
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    return ParquetTable(path, [path], [*MISSING_MARKERS, *na_values])


def is_parquet(path):
    """Whether ``path`` names a Parquet file or a folder (of Parquet files, ``open_parquet`` checks)."""
    return os.path.isdir(path) or os.path.splitext(os.fspath(path))[1].lower() in PARQUET_SUFFIXES


def available_memory():
    """The bytes of memory available to start new work (Linux's MemAvailable), or None where
    it cannot be read."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _read_parquet(table, part):
    """The rows of ``part`` (all with None) of a ``ParquetTable``, reading only the row groups
    that hold them."""
    pd = require("pandas", "tables", "reading tables")
    wanted = _rows(table.path, table.rows, part) if part is not None else slice(0, table.rows)
    frames = []
    for piece, start in enumerate(table.starts[:-1]):
        lo, hi = max(wanted.start, start), min(wanted.stop, start + table.pieces[piece][2])
        if lo < hi:
            frames.append(table.read(piece, lo - start, hi - lo))
    if not frames:
        return table.schema.empty_table().to_pandas()
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def builtin_dataset(name, part=None):
    """One of scikit-learn's bundled data sets as a DataFrame with a ``target`` column; class
    labels are the data set's own names (``"malignant"``, ``"class_0"``, digits 0-9). ``part``
    as in ``read_table``."""
    if name not in BUILTIN_DATASETS:
        raise DataError(f"unknown data set {name!r}; built in: {', '.join(BUILTIN_DATASETS)}")
    datasets = require("sklearn.datasets", "cli", "the built-in data sets")
    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    names = getattr(bunch, "target_names", None)
    if name in ("iris", "wine", "breast_cancer"):
        frame["target"] = [str(names[i]) for i in frame["target"]]
    return frame if part is None else frame.iloc[_rows(name, len(frame), part)]


def check_output_path(path, force=False):
    """Refuse, before any work, an output ``path`` in a folder that does not exist, a file that
    exists (unless ``force``) or a read-only one; first finish or remove what a killed write to
    it left (``io.atomic.tidy``). The write itself checks again (``overwrite=force``)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise DataError(f"cannot write {path}: the folder {folder} does not exist")
    atomic.tidy(path)
    if os.path.lexists(path) and not force:
        raise DataError(f"{path} already exists; pass --force to overwrite it")
    if os.path.exists(path) and atomic.read_only(path):
        raise DataError(f"{path} is read-only; make it writable to replace it")


def check_table_suffix(path):
    """Refuse, before any work, an output ``path`` whose suffix is neither CSV's nor Parquet's."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in CSV_SUFFIXES and suffix not in PARQUET_SUFFIXES:
        raise DataError(f"{path}: tables are written as CSV (.csv, .tsv, .txt) or Parquet (.parquet, .pq), "
                        f"not {suffix or 'without a suffix'}")


def is_csv(path):
    """Whether ``write_table`` writes ``path`` as CSV (anything but Parquet's suffixes)."""
    return os.path.splitext(os.fspath(path))[1].lower() not in PARQUET_SUFFIXES


def write_table(frame, path, overwrite=True):
    """Write ``frame`` to CSV or Parquet (by the suffix of ``path``) atomically; with
    ``overwrite=False``, only if ``path`` does not exist (checked as it is created)."""
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    with atomic.atomic_path(path, overwrite) as tmp:
        if is_csv(path):
            frame.to_csv(tmp, index=False, sep=CSV_SUFFIXES.get(suffix) or ",")
        else:
            frame.to_parquet(tmp, index=False)


def escape_formulas(frame):
    """``(copy of frame, count)``: every text cell and column name that a spreadsheet would run as
    a formula (starting with ``= + - @``, a tab or a carriage return, and not a plain number such
    as ``-1.5``) prefixed with ``'``, as OWASP recommends, and how many were changed. Numbers and
    other non-text cells are never changed."""
    changed = {"count": 0}

    def escape(value):
        if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(value):
            changed["count"] += 1
            return "'" + value
        return value

    frame = frame.rename(columns=escape)
    text = frame.select_dtypes(exclude=["number", "bool", "datetime", "timedelta"]).columns
    frame[text] = frame[text].apply(lambda column: column.map(escape))
    return frame, changed["count"]


def printable(text):
    """``text`` with every character a terminal would act on rather than show (escape sequences,
    carriage returns, newlines, other control and invisible format characters) written as its
    Python escape (``\\x1b``, ``\\r``, ``\\u202e``): a string from a file is shown, never obeyed."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
