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

from ..errors import DataError
from ..extras import require
from ..io import schema

NUMERIC, CATEGORICAL = "numeric", "categorical"
# An integer target with at most this many distinct values (and few per row) is a class label.
MAX_INTEGER_CLASSES = 20


def _pandas():
    return require("pandas", "tables", "preparing tables")


def _is_numeric(series):
    pd = _pandas()
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def _combine(comm, summary, merge, what):
    """``summary`` of this process's rows, or with ``comm`` the ``merge`` of every process's."""
    return summary if comm is None else merge(comm.allgather(summary, what))


def _moments(values):
    """``(count, mean, variance)`` of a float Series without missing values."""
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


def _column_summary(series):
    """What a column's preprocessing is learned from: its kind, missing values, and the moments
    of its numbers or the count of each category (most frequent first)."""
    missing = int(series.isna().sum())
    if _is_numeric(series):
        return {"kind": NUMERIC, "missing": missing, "moments": _moments(series.dropna().astype(float))}
    counts = series.dropna().astype(str).value_counts()
    return {"kind": CATEGORICAL, "missing": missing, "counts": dict(zip(counts.index, counts.tolist()))}


def _merge_column(name, parts):
    has_values = [p for p in parts if (p["moments"][0] if p["kind"] == NUMERIC else p["counts"])]
    if len({p["kind"] for p in has_values}) > 1:
        raise DataError(f"column {name!r} holds numbers in some processes' rows and text in others'")
    merged = dict((has_values or parts)[0], missing=sum(p["missing"] for p in parts))
    if merged["kind"] == NUMERIC:
        merged["moments"] = _merge_moments([p["moments"] for p in has_values])
    else:
        merged["counts"] = {}
        for part in has_values:
            for category, count in part["counts"].items():
                merged["counts"][category] = merged["counts"].get(category, 0) + count
    return merged


def _column(name, summary):
    """A column's preprocessing (JSON) from its summary."""
    kind, missing = summary["kind"], summary["missing"]
    if kind == NUMERIC and summary["moments"][0]:
        _, mean, var = summary["moments"]
        std = math.sqrt(var)
        return {"name": name, "kind": NUMERIC, "mean": mean,
                "std": std if std > 0 and math.isfinite(std) else 1.0, "missing": missing}
    if kind == CATEGORICAL and summary["counts"]:
        counts = summary["counts"]
        return {"name": name, "kind": CATEGORICAL, "categories": sorted(counts),
                "fill": max(counts, key=counts.get), "missing": missing}
    raise DataError(f"column {name!r} has no values at all; drop it (--drop {name})")


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
    def fit(cls, frame, comm=None):
        """Learn the statistics of every column of ``frame`` (the training rows only); with
        ``comm`` (a ``distributed.Communicator``), of every process's part of the rows."""
        names = list(frame.columns)
        summaries = _combine(comm, [_column_summary(frame[name]) for name in names],
                             lambda parts: [_merge_column(n, p) for n, p in zip(names, zip(*parts))],
                             "the column statistics")
        return cls([_column(name, summary) for name, summary in zip(names, summaries)])

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
        index = {c: i for i, c in enumerate(column["categories"])}
        codes = np.fromiter((index.get(v, -1) for v in values), dtype=np.intp, count=len(values))
        if (codes < 0).any():
            unseen, counts = np.unique(values[codes < 0], return_counts=True)
            report.unseen[column["name"]] = {str(c): int(n) for c, n in zip(unseen, counts)}
        one_hot = np.zeros((len(values), len(index)))
        rows = np.flatnonzero(codes >= 0)
        one_hot[rows, codes[rows]] = 1.0
        return one_hot

    def get_config(self):
        return {"columns": self.columns}

    @classmethod
    def from_config(cls, config):
        """The preprocessor of ``get_config()``, every column checked (``_checked_column``);
        a config that is not one raises ``ModelFileError``."""
        columns = schema.listing("preprocessing.features.columns",
                                 schema.fields("preprocessing.features", config, ("columns",))["columns"])
        columns = [_checked_column(f"preprocessing.features.columns[{i}]", c) for i, c in enumerate(columns)]
        names = [c["name"] for c in columns]
        if not columns or len(set(names)) != len(names):
            schema.refuse("preprocessing.features.columns", "one or more columns of distinct names", names)
        return cls(columns)


def _checked_column(where, column):
    """A column of ``TablePreprocessor.get_config()`` checked: its name (text), kind and missing
    count, and its mean and standard deviation > 0 (numeric) or its distinct
    categories and the one that fills missing values (categorical)."""
    kind = schema.mapping(where, column).get("kind")
    if kind == NUMERIC:
        schema.fields(where, column, ("name", "kind", "mean", "std", "missing"))
        schema.number(f"{where}.mean", column["mean"])
        schema.number(f"{where}.std", column["std"], low=math.ulp(0))
    elif kind == CATEGORICAL:
        schema.fields(where, column, ("name", "kind", "categories", "fill", "missing"))
        categories = [schema.string(f"{where}.categories", c)
                      for c in schema.listing(f"{where}.categories", column["categories"])]
        if not categories or len(set(categories)) != len(categories) or column["fill"] not in categories:
            schema.refuse(f"{where}.categories", "distinct texts, among them the fill value", categories)
    else:
        schema.refuse(f"{where}.kind", f"{NUMERIC!r} or {CATEGORICAL!r}", kind)
    schema.string(f"{where}.name", column["name"])
    schema.integer(f"{where}.missing", column["missing"])
    return column


def _checked_label(where, value):
    """A class label as ``_label`` makes it: text, a whole number, a finite number or a boolean."""
    if isinstance(value, str) or isinstance(value, bool) or isinstance(value, int):
        return value
    return schema.number(where, value)


def _merge_task_summaries(parts):
    voters = [p for p in parts if p["count"]]
    return {"count": sum(p["count"] for p in parts), "text": any(p["text"] for p in voters),
            "integers": all(p["integers"] for p in voters),
            "distinct": set().union(*(p["distinct"] for p in voters))}


class TargetEncoder:
    """The target column as the loss needs it, and back (see the module doc)."""

    def __init__(self, name, task, classes=None, mean=0.0, std=1.0, reason=None):
        self.name, self.task = name, task
        self.reason = reason  # why this task (shown by glassnet train; not kept in the file)
        self.classes = classes
        self.mean, self.std = mean, std

    @staticmethod
    def infer_task(series, comm=None):
        """Classification for text, booleans and a few integer values; regression otherwise
        (with ``comm``, judged on every process's rows)."""
        return TargetEncoder.infer_task_and_reason(series, comm)[0]

    @staticmethod
    def infer_task_and_reason(series, comm=None):
        """``(task, reason)``: the task ``infer_task`` picks, and why, in a few words."""
        values = series.dropna()
        text = not _is_numeric(values) or _pandas().api.types.is_bool_dtype(values)
        numbers_ = None if text else values.astype(float).to_numpy()
        summary = {"count": len(values), "text": text,
                   "integers": text or bool(np.all(numbers_ == np.round(numbers_))),
                   # enough distinct values to tell whether there are more than MAX_INTEGER_CLASSES
                   "distinct": set() if text else set(np.unique(numbers_)[:MAX_INTEGER_CLASSES + 1].tolist())}
        summary = _combine(comm, summary, _merge_task_summaries, "the target's values")
        if summary["text"]:
            return "classification", "the target holds text or true/false values"
        limit = min(MAX_INTEGER_CLASSES, max(2, summary["count"] // 10))
        distinct = len(summary["distinct"])
        if summary["integers"] and distinct <= limit:
            return "classification", f"the target holds {distinct} distinct whole numbers"
        if summary["integers"]:
            return "regression", f"the target holds more than {limit} distinct whole numbers"
        return "regression", "the target holds numbers with fractions"

    @classmethod
    def fit(cls, series, task=None, comm=None):
        """Learn the classes, or the mean and standard deviation, of the target ``series`` (with
        ``comm``, of every process's part of the rows)."""
        name = str(series.name)
        reason = "as --task says"
        if task is None:
            task, reason = cls.infer_task_and_reason(series, comm)
        values = series.dropna()
        if task == "classification":
            labels = _combine(comm, {_label(v) for v in values}, lambda parts: set().union(*parts),
                              "the target's classes")
            classes = sorted(labels, key=lambda v: (str(type(v)), v))
            if len(classes) < 2:
                raise DataError(f"the target {name!r} has a single class ({classes[0]!r}): "
                                "there is nothing to learn to tell apart")
            return cls(name, task, classes=classes, reason=reason)
        if not _is_numeric(values):
            raise DataError(f"the target {name!r} holds text, so it cannot be a regression target; "
                            "use --task classification")
        _, mean, var = _combine(comm, _moments(values.astype(float)), _merge_moments, "the target's moments")
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
        values = series.astype(float).to_numpy() if _is_numeric(series) else None
        if values is None:
            raise DataError(f"the target {self.name!r} of {where} holds text where numbers are expected")
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
