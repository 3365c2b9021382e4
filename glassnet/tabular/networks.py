"""Networks described by a few numbers: what the command line and the scikit-learn estimators
build from their options, written once.

    model = dense_network(n_features=30, hidden=[64, 32], outputs=1, output_activation="sigmoid",
                          dropout=0.2, l2=1e-4, seed=0)
"""
import numbers

from .. import layers, regularizers
from ..errors import ConfigurationError
from ..model import Sequential


def hidden_sizes(hidden, name="hidden layer sizes"):
    """``hidden`` (an int or a sequence of ints) as a list of positive ints, checked."""
    sizes = [hidden] if isinstance(hidden, numbers.Integral) else list(hidden)
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in sizes):
        raise ConfigurationError(f"{name} must be positive integers, got {hidden!r}")
    return [int(s) for s in sizes]


def dense_network(n_features, hidden, outputs, activation="relu", output_activation=None, dropout=0.0,
                  l1=0.0, l2=0.0, seed=None, dtype="float32"):
    """``Input -> [Dense(h, activation) -> Dropout(dropout)] per hidden size -> Dense(outputs)``,
    with L1/L2 on every weight matrix when ``l1``/``l2`` > 0 (built, not compiled)."""
    regularizer = regularizers.L1L2(l1, l2) if l1 or l2 else None
    stack = [layers.Input((n_features,))]
    for size in hidden_sizes(hidden):
        stack.append(layers.Dense(size, activation=activation, kernel_regularizer=regularizer))
        if dropout:
            stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(outputs, activation=output_activation, kernel_regularizer=regularizer))
    return Sequential(stack, seed=seed, dtype=dtype)


def classification_head(n_classes):
    """``(output units, output activation, loss)`` for ``n_classes`` classes: one sigmoid unit and
    binary cross-entropy for two, softmax and sparse categorical cross-entropy for more."""
    if n_classes == 2:
        return 1, "sigmoid", "binary_crossentropy"
    return n_classes, "softmax", "sparse_categorical_crossentropy"
