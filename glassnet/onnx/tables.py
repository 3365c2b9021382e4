"""The table preprocessing of a model made by ``glassnet train``, as ONNX operators, so that the
exported graph takes the raw columns and gives labels (``glassnet/tabular/preprocessing.py`` and
``tabular/networks.py`` are the NumPy side of each step).

Inputs, one per feature column, each of shape ``(batch, 1)``, named after the column:

    numeric column      float64    z = (x - mean) / std, NaN (missing) -> 0 (the mean), as float32
    categorical column  string     one-hot over the training categories: an empty string
                                   (missing) -> the most frequent category, a category never seen
                                   in training -> all zeros, or the "(other)" input when the
                                   column keeps only its most frequent categories
    embedded column     string     int64 ids through ``ai.onnx.ml.LabelEncoder`` (the sorted
                                   categories -> 1, 2, ...; an empty string (missing) and any
                                   other text -> 0, "(other)"), fed to the network's input of the
                                   column's name, which its Embedding reads (a ``Gather``)

The numeric and one-hot inputs are concatenated, in column order, into the network's one float
input (``features`` for a graph model with embedded columns, whose other inputs are the ids).

A date column (``tabular/preprocessing.py`` splits it into numeric parts) has no operators here:
a model with one is refused with an ``ExportError`` naming it. Missing-value markers other than
the empty string (``?``, ``NA``, ...) are the caller's to turn into empty strings or NaN.

Outputs: ``label`` (batch,) and ``probabilities`` (batch, classes) in the order of the classes,
for classification; ``prediction`` (batch,) for regression (the target's scaling is folded into
the last layer by ``networks.fold_target_scale``).
"""
import numpy as np

from ..errors import ExportError
from ..tabular.columns import DATE, EMBEDDED, NUMERIC
from ..tabular.preprocessing import TablePreprocessor, TargetEncoder
from .graph import ML_DOMAIN, tensor_type


class TableStage:
    """The steps from raw columns to the network's inputs, and from its outputs to labels."""

    def __init__(self, features, target):
        self.features, self.target = features, target

    @classmethod
    def of(cls, model):
        """The stage of a model trained from a table, or None for any other model."""
        config = model.preprocessing
        if not isinstance(config, dict) or not {"features", "target"} <= set(config):
            return None
        features = TablePreprocessor.from_config(config["features"])
        dates = [column["name"] for column in features.columns if column["kind"] == DATE]
        if dates:
            raise ExportError(f"the date column{'s' * (len(dates) > 1)} {', '.join(map(repr, dates))} cannot be "
                              "exported: ONNX has no operators here that split a date into its parts; export "
                              "the network alone (preprocessing=False, glassnet export --no-preprocessing) "
                              "or train without the column")
        return cls(features, TargetEncoder.from_config(config["target"]))

    def inputs(self, graph):
        """Declare one input per column; return the name of the network's input matrix (without
        embedded columns; with them, the list ``network_inputs`` returns)."""
        tensors = self.network_inputs(graph)
        return tensors[0] if len(tensors) == 1 and not self.features.embedded else tensors

    def network_inputs(self, graph):
        """Declare one graph input per column, in column order; return the names of the tensors
        that feed the network's inputs, in their order (``TablePreprocessor.network_inputs``): the
        float matrix of the numeric and one-hot columns, if any, then each embedded column's ids."""
        parts, ids = [], {}
        for column in self.features.columns:
            if column["kind"] == EMBEDDED:
                ids[column["name"]] = _ids(graph, column)
            else:
                parts.append((_numeric if column["kind"] == NUMERIC else _one_hot)(graph, column))
        matrix = [graph.node("Concat", parts, "features", axis=1) if len(parts) > 1 else parts[0]] if parts else []
        return matrix + [ids[column["name"]] for column in self.features.embedded]

    def outputs(self, graph, outputs, model):
        """Turn the network's ``outputs`` into the graph's outputs (see the module docstring); one
        sigmoid output ``p`` becomes the columns ``[1 - p, p]``, as ``networks.class_probabilities``
        does in NumPy."""
        if self.target.task == "regression":
            flat = graph.node("Reshape", [outputs, graph.constant("flat_shape", [-1], np.int64)], "prediction")
            graph.output(flat, "prediction", ())
            return
        if model.output_shape == (1,):
            other = graph.node("Sub", [graph.constant("one", [[1.0]]), outputs], "other_class")
            outputs = graph.node("Concat", [other, outputs], "probabilities", axis=1)
        outputs = graph.output(outputs, "probabilities", (self.target.n_classes,))
        index = graph.node("ArgMax", [outputs], "class_index", axis=1, keepdims=0)
        labels = _labels(self.target.classes)
        graph.output(graph.node("Gather", [graph.constant("classes", labels, labels.dtype), index], "label"),
                     "label", (), labels.dtype)


def _numeric(graph, column):
    name = column["name"]
    x = graph.input(name, (1,), np.float64)
    centred = graph.node("Sub", [x, graph.constant(f"{name}/mean", [column["mean"]], np.float64)], f"{name}/centred")
    z = graph.node("Div", [centred, graph.constant(f"{name}/std", [column["std"]], np.float64)], f"{name}/z")
    missing = graph.node("IsNaN", [z], f"{name}/missing")
    filled = graph.node("Where", [missing, graph.constant(f"{name}/zero", [0.0], np.float64), z], f"{name}/filled")
    return graph.node("Cast", [filled], f"{name}/standardized", to=tensor_type(graph.dtype))


def _one_hot(graph, column):
    name, categories = column["name"], list(column["categories"])
    x = graph.input(name, (1,), object)
    keys, codes = categories, list(range(len(categories)))
    if "" not in categories:  # an empty string is a missing value: the most frequent category
        keys, codes = keys + [""], codes + [categories.index(column["fill"])]
    depth = len(categories) + bool(column.get("other"))  # unseen: "(other)", or out of range (zeros)
    index = graph.node("LabelEncoder", [x], f"{name}/index", domain=ML_DOMAIN, keys_strings=keys,
                       values_int64s=codes, default_int64=len(categories))
    one_hot = graph.node("OneHot", [index, graph.constant(f"{name}/depth", depth, np.int64),
                                    graph.constant(f"{name}/off_on", [0.0, 1.0])], f"{name}/one_hot", axis=-1)
    return graph.node("Flatten", [one_hot], f"{name}/one_hot_2d", axis=1)


def _ids(graph, column):
    """An embedded column's text as its ids, ``(batch, 1)`` int64: 1 + the position among the
    sorted categories, 0 for an empty string (missing) and any other text (``columns.ids``)."""
    name, categories = column["name"], list(column["categories"])
    x = graph.input(name, (1,), object)
    keys, values = categories, list(range(1, len(categories) + 1))
    if "" not in categories:  # (also keeps the table non-empty when no category has an id)
        keys, values = keys + [""], values + [0]
    return graph.node("LabelEncoder", [x], f"{name}/ids", domain=ML_DOMAIN, keys_strings=keys,
                      values_int64s=values, default_int64=0)


def _labels(classes):
    """The class labels as an array ONNX can hold: integers, booleans or numbers as they are,
    anything else (or a mix) as text."""
    kinds = {type(c) for c in classes}
    for types, dtype in (({int}, np.int64), ({bool}, np.bool_), ({int, float}, np.float64)):
        if kinds <= types:
            return np.array(classes, dtype=dtype)
    return np.array([str(c) for c in classes], dtype=object)
