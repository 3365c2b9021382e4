"""Metrics reported next to the loss: accuracy for classification, MSE and MAE for regression.

A metric turns a batch into ``(total, count)``; the value of an epoch is the sum of the totals over
the sum of the counts, so that a short last batch weighs what it should.
"""

import numpy as np

from . import losses
from .errors import ConfigurationError, lookup


class Metric:
    """Base class: ``totals(y_true, y_pred) -> (total, count)``."""

    def __init__(self, name):
        self.name = name

    def totals(self, y_true, y_pred):
        raise NotImplementedError


class SparseCategoricalAccuracy(Metric):
    """Fraction of examples whose largest output is the integer label."""

    def totals(self, y_true, y_pred):
        return float(np.count_nonzero(y_pred.argmax(axis=-1) == y_true)), y_true.shape[0]


class CategoricalAccuracy(Metric):
    """Fraction of examples whose largest output is the largest target (one-hot targets)."""

    def totals(self, y_true, y_pred):
        return float(np.count_nonzero(y_pred.argmax(axis=-1) == y_true.argmax(axis=-1))), y_true.shape[0]


class BinaryAccuracy(Metric):
    """Fraction of outputs on the right side of ``threshold`` (0.5 for probabilities; a model
    that outputs logits is compared with the matching logit, ``log(t / (1 - t))``)."""

    def __init__(self, name, threshold=0.5):
        super().__init__(name)
        self.threshold = threshold

    def totals(self, y_true, y_pred):
        return float(np.count_nonzero((y_pred > self.threshold) == (y_true > 0.5))), y_true.size


class LossMetric(Metric):
    """The mean of a loss's per-example values (``mse``, ``mae``)."""

    def __init__(self, name, loss):
        super().__init__(name)
        self.loss = loss

    def totals(self, y_true, y_pred):
        return float(self.loss.unchecked_per_example(y_true, y_pred)[0].sum()), y_true.shape[0]


class OnActivation(Metric):
    """Runs ``metric`` on ``activation(y_pred)``: how metrics see probabilities when the model
    computes its loss on logits."""

    def __init__(self, metric, activation):
        super().__init__(metric.name)
        self.metric, self.activation = metric, activation

    def totals(self, y_true, y_pred):
        return self.metric.totals(y_true, self.activation.forward(y_pred)[0])


_ACCURACIES = {losses.SparseCategoricalCrossentropy: SparseCategoricalAccuracy,
               losses.CategoricalCrossentropy: CategoricalAccuracy,
               losses.BinaryCrossentropy: BinaryAccuracy}

METRICS = {
    "accuracy": None, "acc": None,  # resolved from the loss, as Keras does
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "mse": losses.MeanSquaredError, "mean_squared_error": losses.MeanSquaredError,
    "mae": losses.MeanAbsoluteError, "mean_absolute_error": losses.MeanAbsoluteError,
}


def get(name, loss, output_activation=None, on_logits=False):
    """Make the metric called ``name`` for a model trained with ``loss``.

    ``on_logits`` says that the model hands the metric logits (its loss fuses
    ``output_activation``), so thresholds and probability-based metrics are adjusted.
    """
    if isinstance(name, Metric):
        return name
    if not isinstance(name, str):
        raise ConfigurationError(f"a metric must be a name or a Metric, got {type(name).__name__} {name!r}")
    cls = lookup(METRICS, name, "metric")
    if cls is None:
        cls = _ACCURACIES.get(type(loss))
        if cls is None:
            raise ConfigurationError(
                f"metric {name!r} needs a classification loss to tell which accuracy is meant, got "
                f"{type(loss).__name__}; name one of: binary_accuracy, categorical_accuracy, "
                "sparse_categorical_accuracy")
    if (cls is SparseCategoricalAccuracy) != isinstance(loss, losses.SparseCategoricalCrossentropy):
        raise ConfigurationError(
            f"metric {name!r} and the loss {loss.name} take different targets (class labels for "
            "sparse_categorical_*, arrays shaped as the outputs for the others)")
    if cls is BinaryAccuracy:
        return BinaryAccuracy(name, threshold=0.0 if on_logits else 0.5)
    if issubclass(cls, losses.Loss):
        metric = LossMetric(name, cls())
        return OnActivation(metric, output_activation) if on_logits and output_activation else metric
    return cls(name)
