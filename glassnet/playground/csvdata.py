"""A CSV of the learner's own: read from the uploaded bytes (never from a path), checked, and
turned into 2-D points (two feature columns and a target).

``read(data)`` parses the bytes into a ``Table`` (a header row, then rows; at most ``MAX_ROWS``
rows and ``MAX_COLUMNS`` columns). ``Table.points(x1, x2, target, task, train_fraction, seed)``
gives the ``datasets.Data``: the features standardized (``(value - mean) / std`` over all the
rows, in float64, then float32), a numeric regression target standardized the same way, a
classification target's values sorted and numbered. Every mistake is a ``DataError`` whose
message names the column, the row and the value (escaped).
"""
import csv
import io
import math

import numpy as np

from ..errors import DataError
from . import datasets

MAX_BYTES = 5 * 1024 * 1024  # the upload limit, checked before the body is read
MAX_ROWS = 10_000
MAX_COLUMNS = 200
MAX_CLASSES = 10  # a target of at most this many distinct values may be read as classes


class Table:
    """``columns`` (names) and ``cells`` (a list of rows of strings); ``numeric`` (the columns
    whose every non-empty cell is a number)."""

    def __init__(self, columns, cells):
        self.columns, self.cells = columns, cells
        self.numeric = [name for j, name in enumerate(columns) if _numeric_column(cells, j)]

    def describe(self):
        """What the page needs to offer the choice of columns."""
        default = self.default_choice()
        return {"columns": self.columns, "numeric": self.numeric, "rows": len(self.cells), "choice": default}

    def default_choice(self):
        """The first two numeric columns as features, the last column (not one of them) as target."""
        if len(self.numeric) < 2:
            return None
        x1, x2 = self.numeric[:2]
        others = [c for c in self.columns if c not in (x1, x2)]
        return {"x1": x1, "x2": x2, "target": others[-1] if others else None, "task": "auto"}

    def column(self, name, role):
        if name not in self.columns:
            raise DataError(f"the {role} column {_show(name)} is not in the table; its columns are "
                            f"{', '.join(_show(c) for c in self.columns[:20])}")
        j = self.columns.index(name)
        return [row[j] for row in self.cells]

    def points(self, x1, x2, target, task="auto", train_fraction=0.5, seed=0):
        """The ``datasets.Data`` of columns ``x1`` and ``x2`` against ``target``; rows missing any
        of the three are left out (``Data.dropped`` counts them)."""
        if target is None:
            raise DataError("choose the target column")
        if len({x1, x2, target}) < 3:
            raise DataError(f"the two feature columns and the target must be three different columns, got "
                            f"{_show(x1)}, {_show(x2)} and {_show(target)}")
        columns = [self.column(x1, "first feature"), self.column(x2, "second feature"),
                   self.column(target, "target")]
        keep = [i for i in range(len(self.cells)) if all(col[i].strip() for col in columns)]
        if len(keep) < 4:
            raise DataError(f"only {len(keep)} rows have all of {_show(x1)}, {_show(x2)} and {_show(target)}: "
                            "at least 4 are needed (some to train, some to test)")
        features = np.stack([_numbers(col, keep, name) for col, name in zip(columns[:2], (x1, x2))], axis=1)
        raw_target = [columns[2][i].strip() for i in keep]
        task = _task(task, raw_target, target)
        mean, std = features.mean(axis=0), features.std(axis=0)
        for name, s in zip((x1, x2), std):
            if not s > 0:
                raise DataError(f"the column {_show(name)} has the same value in every row: it cannot separate anything")
        x = standardize(features, mean, std)
        scaling = {"x_mean": mean.tolist(), "x_std": std.tolist(), "raw_x": features.tolist()}
        if task == "classification":
            classes = sorted(set(raw_target), key=_class_key)
            index = {c: k for k, c in enumerate(classes)}
            codes = np.array([index[c] for c in raw_target])
            y = codes.astype(np.int64)
            scaling.update(classes=classes, codes=codes.tolist())
            target_range = (0.0, 1.0)
        else:
            values = _numbers(columns[2], keep, target)
            y_mean, y_std = float(values.mean()), float(values.std())
            if not y_std > 0:
                raise DataError(f"the target {_show(target)} has the same value in every row: nothing to learn")
            y = standardize(values, y_mean, y_std).reshape(-1, 1)
            scaling.update(y_mean=y_mean, y_std=y_std, raw_y=values.tolist())
            target_range = (float(y.min()), float(y.max()))
            classes = None
        rng = np.random.default_rng(seed)
        low = float(min(x.min(), -1.0)) * 1.1
        high = float(max(x.max(), 1.0)) * 1.1
        extent = max(-low, high)
        data = datasets.Data(*datasets.split(x, y, train_fraction, rng), task=task,
                             classes=tuple(classes) if classes else None, feature_names=(x1, x2),
                             domain=(-extent, extent), target_range=target_range)
        data.dropped, data.scaling = len(self.cells) - len(keep), scaling
        return data


def standardize(values, mean, std):
    """``(values - mean) / std`` in float64, as float32: the page and the exported script both call it."""
    return ((np.asarray(values, dtype=np.float64) - mean) / std).astype(np.float32)


def read(data):
    """The ``Table`` in the CSV bytes ``data`` (UTF-8, with or without a byte-order mark)."""
    if len(data) > MAX_BYTES:
        raise DataError(f"the file has {len(data):,} bytes; the playground takes CSV files of at most {MAX_BYTES:,}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(f"the file is not UTF-8 text (byte {error.start} is not): is it a CSV file?") from None
    if "\0" in text:
        raise DataError("the file holds NUL bytes: it is not a CSV text file")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = []
    try:
        for row in csv.reader(io.StringIO(text), dialect):
            if not any(cell.strip() for cell in row):
                continue
            rows.append(row)
            if len(rows) > MAX_ROWS + 1:
                raise DataError(f"the file has more than {MAX_ROWS:,} rows; the playground draws at most {MAX_ROWS:,} points")
    except csv.Error as error:
        raise DataError(f"the file is not a CSV table: {error}") from None
    if len(rows) < 2:
        raise DataError("the file needs a header row with the column names and at least one row of values")
    columns = [cell.strip() for cell in rows[0]]
    if len(columns) > MAX_COLUMNS:
        raise DataError(f"the table has {len(columns)} columns; the playground reads at most {MAX_COLUMNS}")
    if len(columns) < 3:
        raise DataError(f"the table has {len(columns)} column(s); it needs two feature columns and a target")
    if any(not name for name in columns):
        raise DataError(f"column {columns.index('') + 1} of the header has no name")
    if len(set(columns)) != len(columns):
        twice = next(c for c in columns if columns.count(c) > 1)
        raise DataError(f"the header names the column {_show(twice)} twice")
    cells = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(columns):
            raise DataError(f"row {number} has {len(row)} cells but the header names {len(columns)} columns")
        cells.append(row)
    return Table(columns, cells)


def _numeric_column(cells, j):
    seen = False
    for row in cells:
        cell = row[j].strip()
        if cell:
            if _number(cell) is None:
                return False
            seen = True
    return seen


def _number(cell):
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) and abs(value) < 1e30 else None


def _numbers(column, keep, name):
    values = np.empty(len(keep))
    for k, i in enumerate(keep):
        value = _number(column[i].strip())
        if value is None:
            raise DataError(f"the column {_show(name)} needs numbers, but row {i + 2} holds {_show(column[i].strip())}")
        values[k] = value
    return values


def _task(task, raw, name):
    if task not in ("auto", "classification", "regression"):
        raise DataError(f"the task must be auto, classification or regression, got {_show(task)}")
    distinct = set(raw)
    numeric = all(_number(v) is not None for v in raw)
    if task == "regression" and not numeric:
        bad = next(v for v in raw if _number(v) is None)
        raise DataError(f"a regression target needs numbers, but the column {_show(name)} holds {_show(bad)}")
    if task == "auto":
        task = "classification" if not numeric or len(distinct) <= MAX_CLASSES else "regression"
        if task == "classification" and numeric and len(distinct) > 2 and any(
                not float(v).is_integer() for v in distinct):
            task = "regression"
    if task == "classification":
        if len(distinct) < 2:
            raise DataError(f"the target {_show(name)} has only one class; a classifier needs two or more")
        if len(distinct) > MAX_CLASSES:
            raise DataError(f"the target {_show(name)} has {len(distinct)} distinct values; the playground draws at "
                            f"most {MAX_CLASSES} classes (choose regression for a number)")
    return task


def _class_key(value):
    number = _number(value)
    return (0, number, "") if number is not None else (1, 0.0, value)


def _show(value, limit=40):
    """A value from the file, quoted and shortened, safe to put in a message."""
    text = repr(str(value))
    return text if len(text) <= limit else text[:limit - 4] + "...'"
