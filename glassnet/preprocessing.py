"""From a table's raw columns to a network's inputs and targets, learned from the training rows.

``TablePreprocessor`` turns the feature columns into one float matrix:

    numeric column      z = (x - mean) / std          a missing value becomes the mean (z = 0)
    categorical column  one-hot over the categories   a missing value becomes the most frequent
                        seen in training              category; a category never seen in training
                                                      becomes all zeros (and is reported)

``TargetEncoder`` turns the target column into what the loss needs: class indices for
classification (the labels stay the user's own values: strings, integers, booleans) and
standardized values for regression. Both are plain JSON (``get_config``/``from_config``), kept in
the model file, so predictions on new rows go through exactly the same steps.
"""
import math
import numbers

import numpy as np

from .errors import DataError
from .extras import require

NUMERIC, CATEGORICAL = "numeric", "categorical"
# An integer target with at most this many distinct values (and few per row) is a class label.
MAX_INTEGER_CLASSES = 20


def _pandas():
    return require("pandas", "tables", "preparing tables")


def _is_numeric(series):
    pd = _pandas()
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


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


class Report:
    """What a transform did that the user should know: imputed and unseen values per column."""

    def __init__(self):
        self.missing = {}   # column -> number of values imputed
        self.unseen = {}    # column -> {category: count} not seen in training

    def lines(self):
        out = [f"{column}: {count} missing value{'s' * (count != 1)} imputed"
               for column, count in self.missing.items()]
        for column, categories in self.unseen.items():
            shown = ", ".join(f"{c!r} ({n})" for c, n in list(categories.items())[:5])
            out.append(f"{column}: {sum(categories.values())} value(s) of categories not seen in "
                       f"training, encoded as all zeros: {shown}")
        return out


class TablePreprocessor:
    """Standardize numeric columns and one-hot encode categorical ones (see the module doc)."""

    def __init__(self, columns):
        self.columns = columns  # one dict per feature column, in input order

    @classmethod
    def fit(cls, frame):
        """Learn the statistics of every column of ``frame`` (the training rows only)."""
        columns = []
        for name in frame.columns:
            series = frame[name]
            missing = int(series.isna().sum())
            if missing == len(series):
                raise DataError(f"column {name!r} has no values at all; drop it (--drop {name})")
            if _is_numeric(series):
                values = series.dropna().astype(float)
                std = float(values.std(ddof=0))
                columns.append({"name": name, "kind": NUMERIC, "mean": float(values.mean()),
                                "std": std if std > 0 and math.isfinite(std) else 1.0,
                                "missing": missing})
            else:
                counts = series.dropna().astype(str).value_counts()
                categories = sorted(counts.index)
                columns.append({"name": name, "kind": CATEGORICAL, "categories": categories,
                                "fill": str(counts.index[0]), "missing": missing})
        return cls(columns)

    @property
    def input_names(self):
        return [c["name"] for c in self.columns]

    @property
    def feature_names(self):
        """The names of the matrix columns: numeric columns as they are, ``column=category``."""
        names = []
        for c in self.columns:
            names += [c["name"]] if c["kind"] == NUMERIC else [f"{c['name']}={v}" for v in c["categories"]]
        return names

    def transform(self, frame, where="the table"):
        """``(inputs, report)``: the float32 matrix for ``frame``, and what was imputed or unseen."""
        absent = [name for name in self.input_names if name not in frame.columns]
        if absent:
            raise DataError(f"{where} lacks the column{'s' * (len(absent) > 1)} the model needs: "
                            f"{', '.join(absent)} (it has: {', '.join(map(str, frame.columns))})")
        report = Report()
        parts = []
        for column in self.columns:
            series = frame[column["name"]]
            missing = int(series.isna().sum())
            if missing:
                report.missing[column["name"]] = missing
            if column["kind"] == NUMERIC:
                parts.append(self._numeric(column, series, where)[:, None])
            else:
                parts.append(self._one_hot(column, series, report))
        return np.hstack(parts).astype(np.float32), report

    @staticmethod
    def _numeric(column, series, where):
        pd = _pandas()
        values = pd.to_numeric(series, errors="coerce") if not _is_numeric(series) else series
        text = values.isna() & series.notna()
        if text.any():
            row = int(np.flatnonzero(text.to_numpy())[0])
            raise DataError(f"column {column['name']!r} of {where} holds text ({series.iloc[row]!r} in row "
                            f"{row + 1}) where the model was trained on numbers")
        values = values.astype(float).to_numpy()
        z = (values - column["mean"]) / column["std"]
        z[np.isnan(z)] = 0.0  # the mean
        return z

    @staticmethod
    def _one_hot(column, series, report):
        values = series.astype(str).where(series.notna(), column["fill"]).to_numpy()
        categories = np.asarray(column["categories"], dtype=object)
        index = {c: i for i, c in enumerate(column["categories"])}
        codes = np.array([index.get(v, -1) for v in values])
        if (codes < 0).any():
            unseen, counts = np.unique(values[codes < 0], return_counts=True)
            report.unseen[column["name"]] = {str(c): int(n) for c, n in zip(unseen, counts)}
        one_hot = np.zeros((len(values), len(categories)))
        rows = np.flatnonzero(codes >= 0)
        one_hot[rows, codes[rows]] = 1.0
        return one_hot

    def get_config(self):
        return {"columns": self.columns}

    @classmethod
    def from_config(cls, config):
        return cls(config["columns"])


class TargetEncoder:
    """The target column as the loss needs it, and back (see the module doc)."""

    def __init__(self, name, task, classes=None, mean=0.0, std=1.0):
        self.name, self.task = name, task
        self.classes = classes
        self.mean, self.std = mean, std

    @staticmethod
    def infer_task(series):
        """Classification for text, booleans and a few integer values; regression otherwise."""
        values = series.dropna()
        if not _is_numeric(values) or _pandas().api.types.is_bool_dtype(values):
            return "classification"
        numbers_ = values.astype(float).to_numpy()
        distinct = len(np.unique(numbers_))
        if np.all(numbers_ == np.round(numbers_)) and distinct <= min(MAX_INTEGER_CLASSES, max(2, len(values) // 10)):
            return "classification"
        return "regression"

    @classmethod
    def fit(cls, series, task=None):
        name = str(series.name)
        task = task or cls.infer_task(series)
        values = series.dropna()
        if task == "classification":
            classes = sorted({_label(v) for v in values}, key=lambda v: (str(type(v)), v))
            if len(classes) < 2:
                raise DataError(f"the target {name!r} has a single class ({classes[0]!r}): "
                                "there is nothing to learn to tell apart")
            return cls(name, task, classes=classes)
        if not _is_numeric(values):
            raise DataError(f"the target {name!r} holds text, so it cannot be a regression target; "
                            "use --task classification")
        numbers_ = values.astype(float)
        std = float(numbers_.std(ddof=0))
        if std == 0:
            raise DataError(f"the target {name!r} has the same value ({numbers_.iloc[0]}) in every row")
        return cls(name, task, mean=float(numbers_.mean()), std=std)

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
        values = series.astype(float).to_numpy() if _is_numeric(series) else None
        if values is None:
            raise DataError(f"the target {self.name!r} of {where} holds text where numbers are expected")
        return ((values - self.mean) / self.std).astype(np.float32)

    def fold_into(self, model):
        """Make ``model``, trained on standardized targets ``t = (y - mean) / std``, predict ``y``
        itself, by rescaling its last (linear) layer:  ``y = t * std + mean = x @ (W * std) +
        (b * std + mean)``. Afterwards ``model.predict`` needs no post-processing (nor does an
        ONNX export)."""
        last = model.layers[-1]
        last.weight.value *= self.std
        last.bias.value *= self.std
        last.bias.value += self.mean

    def decode(self, indices):
        """Labels (the user's values) for class indices."""
        return np.asarray(self.classes, dtype=object)[np.asarray(indices)]

    def get_config(self):
        return {"name": self.name, "task": self.task, "classes": self.classes,
                "mean": self.mean, "std": self.std}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
