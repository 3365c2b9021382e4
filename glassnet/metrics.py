"""Metrics reported next to the loss, each exact over a whole epoch.

A metric turns a batch into a fixed number of sums (``Metric.sums``: counts, totals); the sums of
the batches of an epoch are added up (also across the processes of data-parallel training, and a
mid-epoch backup saves them) and the metric's value is computed from their total
(``Metric.result``). So a short last batch weighs what it should, and the metrics that are not
means of per-example values (precision, recall, F1, AUC, R²) are those of the whole epoch, never an
average of batch values. Metrics are not weighted by ``sample_weight`` or ``class_weight``.

Names (``compile(metrics=[...])``) and what they compute:

    accuracy, acc            the accuracy that matches the loss (binary, categorical, sparse)
    mse, mae, rmse           mean squared / absolute error, root of the mean squared error
    r2                       coefficient of determination, per output, averaged over outputs
    precision, recall, f1    binary with a binary cross-entropy; macro averages over the classes
                             with categorical cross-entropies
    auc                      area under the ROC curve; macro one-vs-rest over the classes with
                             categorical cross-entropies

A function ``f(y_true, y_pred)`` is a metric too (``FunctionMean``).
"""
import math

import numpy as np

from . import losses
from .errors import ConfigurationError, lookup

# How a metric reads a classification loss's targets: 0/1 values (every output a yes/no), class
# labels (sparse), or one-hot rows.
BINARY, LABELS, ONE_HOT = "binary", "labels", "one_hot"
_TARGETS = {losses.BinaryCrossentropy: BINARY, losses.BinaryFocalCrossentropy: BINARY,
            losses.SparseCategoricalCrossentropy: LABELS, losses.CategoricalCrossentropy: ONE_HOT}


class Metric:
    """Base class: ``sums(y_true, y_pred)`` turns a batch into ``size(output_shape)`` numbers
    that add up over batches; ``result(sums)`` is the metric's value from their total."""

    def __init__(self, name):
        self.name = name

    def size(self, output_shape):
        raise NotImplementedError

    def sums(self, y_true, y_pred):
        raise NotImplementedError

    def result(self, sums):
        raise NotImplementedError


class Mean(Metric):
    """A mean of per-example values: sums ``(total, count)``, value ``total / count``."""

    def size(self, output_shape):
        return 2

    def result(self, sums):
        total, count = sums
        return float(total / count)


class SparseCategoricalAccuracy(Mean):
    """Fraction of examples whose largest output is the integer label."""

    def sums(self, y_true, y_pred):
        return np.count_nonzero(y_pred.argmax(axis=-1) == y_true), y_true.shape[0]


class CategoricalAccuracy(Mean):
    """Fraction of examples whose largest output is the largest target (one-hot targets)."""

    def sums(self, y_true, y_pred):
        return np.count_nonzero(y_pred.argmax(axis=-1) == y_true.argmax(axis=-1)), y_true.shape[0]


class BinaryAccuracy(Mean):
    """Fraction of outputs on the right side of ``threshold`` (0.5 for probabilities; a model
    that outputs logits is compared with the matching logit, ``log(t / (1 - t))``)."""

    def __init__(self, name, threshold=0.5):
        super().__init__(name)
        self.threshold = threshold

    def sums(self, y_true, y_pred):
        return np.count_nonzero((y_pred > self.threshold) == (y_true > 0.5)), y_true.size


class LossMetric(Mean):
    """The mean of a loss's per-example values (``mse``, ``mae``)."""

    def __init__(self, name, loss):
        super().__init__(name)
        self.loss = loss

    def sums(self, y_true, y_pred):
        return self.loss.unchecked_per_example(y_true, y_pred)[0].sum(), y_true.shape[0]


class RootMeanSquaredError(LossMetric):
    """``sqrt(sum_i mse_i / n)``, ``mse_i`` the mean squared error of example ``i`` over its
    outputs (Keras's RootMeanSquaredError; scikit-learn's ``root_mean_squared_error`` for one
    output)."""

    def __init__(self, name="rmse"):
        super().__init__(name, losses.MeanSquaredError())

    def result(self, sums):
        return math.sqrt(super().result(sums))


class FunctionMean(Mean):
    """A function ``f(y_true, y_pred)`` averaged over the epoch, as Keras's MeanMetricWrapper
    does: an array of values, one per example, counts each example once; one number for the
    batch counts once for each of its rows. So the epoch value is the mean of the batch values
    weighted by their rows: exact for a mean of per-example values, an approximation for
    anything else (precision, AUC: use the built-in metrics, exact over the epoch). ``f``
    receives the targets as the loss takes them and what ``predict`` returns (probabilities on a
    softmax or sigmoid model)."""

    def __init__(self, function, name=None):
        super().__init__(name or getattr(function, "__name__", type(function).__name__))
        self.function = function

    def sums(self, y_true, y_pred):
        rows = y_true.shape[0]
        if rows == 0:  # a process's share of a batch can be empty
            return 0.0, 0
        value = self.function(y_true, y_pred)
        try:
            values = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            values = None
        if values is None or (values.ndim and values.shape[0] != rows):
            raise ConfigurationError(f"metric {self.name!r} must return a number or one number per example "
                                     f"({rows} for this batch), got {type(value).__name__} {value!r:.60}")
        if values.ndim == 0:
            return float(values) * rows, rows
        return values.reshape(rows, -1).mean(axis=1).sum(), rows


class ClassCounts(Metric):
    """Per class ``c``: true positives ``TP_c``, predicted ``P_c = TP_c + FP_c`` and actual
    ``A_c = TP_c + FN_c`` counts, from which precision ``TP/P``, recall ``TP/A`` and F1
    ``2 TP / (P + A)`` follow (0 where the denominator is 0, as scikit-learn's
    ``zero_division=0``).

    ``targets="binary"``: every output is a yes/no, predicted yes above ``threshold``; all
    outputs count as one positive class (scikit-learn's binary score, and ``average="micro"``
    for several outputs). ``"labels"``/``"one_hot"``: the predicted class is the largest output;
    the value is the macro average over the classes that occur (as true or predicted class) in
    the epoch, which is scikit-learn's ``average="macro"``. (The micro average of a single-label
    problem is the accuracy, so it has no name of its own.)"""

    def __init__(self, name, targets=BINARY, threshold=0.5):
        super().__init__(name)
        self.targets, self.threshold = targets, threshold

    def size(self, output_shape):
        return 3 * _classes(self.targets, output_shape)

    def sums(self, y_true, y_pred):
        if self.targets == BINARY:
            actual, predicted = y_true > 0.5, y_pred > self.threshold
            return (np.count_nonzero(actual & predicted), np.count_nonzero(predicted),
                    np.count_nonzero(actual))
        k = y_pred.shape[-1]
        actual, predicted = _labels(self.targets, y_true), y_pred.argmax(axis=-1)
        return np.concatenate([np.bincount(actual[actual == predicted], minlength=k),
                               np.bincount(predicted, minlength=k), np.bincount(actual, minlength=k)])

    def result(self, sums):
        tp, predicted, actual = sums.reshape(3, -1)
        scores = self.score(tp, predicted, actual)
        if self.targets == BINARY:
            return float(scores[0])
        occurring = (predicted + actual) > 0
        return float(scores[occurring].mean()) if occurring.any() else 0.0

    def score(self, tp, predicted, actual):
        raise NotImplementedError


def _ratio(numerator, denominator):
    """``numerator / denominator``, 0 where the denominator is 0."""
    return np.divide(numerator, denominator, out=np.zeros_like(numerator, dtype=np.float64),
                     where=denominator > 0)


class Precision(ClassCounts):
    """``TP / (TP + FP)``: of the examples predicted in a class, the fraction that are in it."""

    def score(self, tp, predicted, actual):
        return _ratio(tp, predicted)


class Recall(ClassCounts):
    """``TP / (TP + FN)``: of the examples in a class, the fraction predicted in it."""

    def score(self, tp, predicted, actual):
        return _ratio(tp, actual)


class F1Score(ClassCounts):
    """``2 TP / (2 TP + FP + FN)``, the harmonic mean of precision and recall."""

    def score(self, tp, predicted, actual):
        return _ratio(2 * tp, predicted + actual)


class AUC(Metric):
    """Area under the ROC curve, from confusion counts at ``num_thresholds`` fixed thresholds
    (Keras's AUC: ``t_0 = -eps``, ``t_j = j / (T - 1)``, ``t_(T-1) = 1 + eps``).

    Sums: for each class, how many positive and how many negative examples have a probability
    in each of the ``T + 1`` intervals between thresholds. Then ``TP_j`` (``FP_j``) counts the
    positives (negatives) above ``t_j``, ``TPR_j = TP_j / P``, ``FPR_j = FP_j / N``, and the area
    is the trapezoidal rule over the points ``(FPR_j, TPR_j)``:
    ``sum_j (FPR_j - FPR_(j+1)) (TPR_j + TPR_(j+1)) / 2``. This is the exact AUC (scikit-learn's
    ``roc_auc_score``) except that a positive and a negative between the same two thresholds
    count as a tie (1/2): the difference is at most half the fraction of such pairs.

    ``targets="binary"``: all outputs are scores of one positive class. ``"labels"`` or
    ``"one_hot"``: one-vs-rest per class, averaged over the classes that have positives and
    negatives in the epoch (scikit-learn's ``multi_class="ovr", average="macro"``). NaN if no
    class has both. Needs probabilities (``metrics.get`` applies the model's softmax or sigmoid).
    """

    def __init__(self, name="auc", targets=BINARY, num_thresholds=200):
        super().__init__(name)
        self.targets = targets
        self.thresholds = np.concatenate([[-1e-7], np.arange(1, num_thresholds - 1) / (num_thresholds - 1),
                                          [1 + 1e-7]])

    def size(self, output_shape):
        return 2 * _classes(self.targets, output_shape) * (len(self.thresholds) + 1)

    def sums(self, y_true, y_pred):
        if self.targets == BINARY:
            positive, scores = (y_true > 0.5).reshape(-1, 1), y_pred.reshape(-1, 1)
        else:
            scores = y_pred
            positive = _labels(self.targets, y_true)[:, None] == np.arange(y_pred.shape[-1])
        intervals = len(self.thresholds) + 1
        interval = np.searchsorted(self.thresholds, scores)  # thresholds below each score
        index = interval + intervals * (np.arange(scores.shape[1]) + scores.shape[1] * positive)
        return np.bincount(index.ravel(), minlength=2 * scores.shape[1] * intervals)

    def result(self, sums):
        negatives, positives = sums.reshape(2, -1, len(self.thresholds) + 1)
        p, n = positives.sum(axis=1, keepdims=True), negatives.sum(axis=1, keepdims=True)
        both = (p[:, 0] > 0) & (n[:, 0] > 0)
        if not both.any():
            return math.nan
        # above t_j: the counts of the intervals after the j-th
        tpr = (p - np.cumsum(positives, axis=1)[:, :-1])[both] / p[both]
        fpr = (n - np.cumsum(negatives, axis=1)[:, :-1])[both] / n[both]
        areas = ((fpr[:, :-1] - fpr[:, 1:]) * (tpr[:, :-1] + tpr[:, 1:]) / 2).sum(axis=1)
        return float(areas.mean())


class R2Score(Metric):
    """Coefficient of determination per output ``j``, averaged over the outputs (scikit-learn's
    ``r2_score``): ``R²_j = 1 - SSE_j / SST_j`` with ``SSE_j = sum_i (y_ij - p_ij)²`` and
    ``SST_j = sum_i y_ij² - (sum_i y_ij)² / n``; where ``SST_j`` is 0, 1 for a perfect fit and 0
    otherwise. Sums: ``n``, and per output ``sum y``, ``sum y²``, ``SSE`` (Keras's R2Score; on
    targets with a mean far larger than their spread, ``SST`` loses digits: standardize them)."""

    def size(self, output_shape):
        return 1 + 3 * math.prod(output_shape)

    def sums(self, y_true, y_pred):
        y = y_true.reshape(y_true.shape[0], -1).astype(np.float64)
        errors = y - y_pred.reshape(y.shape)
        return np.concatenate([[y.shape[0]], y.sum(axis=0), (y * y).sum(axis=0), (errors * errors).sum(axis=0)])

    def result(self, sums):
        n, (total, squares, sse) = sums[0], sums[1:].reshape(3, -1)
        sst = squares - total * total / n
        return float(np.where(sst > 0, 1 - _ratio(sse, sst), sse == 0).mean())


class OnActivation(Metric):
    """Runs ``metric`` on ``activation(y_pred)``: how metrics see probabilities when the model
    computes its loss on logits."""

    def __init__(self, metric, activation):
        super().__init__(metric.name)
        self.metric, self.activation = metric, activation

    def size(self, output_shape):
        return self.metric.size(output_shape)

    def sums(self, y_true, y_pred):
        return self.metric.sums(y_true, self.activation.forward(y_pred)[0])

    def result(self, sums):
        return self.metric.result(sums)


def _classes(targets, output_shape):
    """The classes a metric counts: one for binary targets, else one per output."""
    return 1 if targets == BINARY else output_shape[-1]


def _labels(targets, y_true):
    """Class labels from sparse labels or one-hot rows."""
    return y_true if targets == LABELS else y_true.argmax(axis=-1)


_ACCURACIES = {losses.SparseCategoricalCrossentropy: SparseCategoricalAccuracy,
               losses.CategoricalCrossentropy: CategoricalAccuracy,
               losses.BinaryCrossentropy: BinaryAccuracy, losses.BinaryFocalCrossentropy: BinaryAccuracy}
_CLASSIFICATION = (ClassCounts, AUC)  # metrics of classes: they read targets as the loss gives them

METRICS = {
    "accuracy": None, "acc": None,  # resolved from the loss, as Keras does
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "mse": losses.MeanSquaredError, "mean_squared_error": losses.MeanSquaredError,
    "mae": losses.MeanAbsoluteError, "mean_absolute_error": losses.MeanAbsoluteError,
    "rmse": RootMeanSquaredError, "root_mean_squared_error": RootMeanSquaredError,
    "r2": R2Score, "r2_score": R2Score,
    "precision": Precision, "recall": Recall, "f1": F1Score, "f1_score": F1Score,
    "auc": AUC,
}


def get(name, loss, output_activation=None, on_logits=False):
    """Make the metric ``name`` (a name, a ``Metric`` or a function ``f(y_true, y_pred)``) for
    a model trained with ``loss``.

    ``on_logits`` says that the model hands the metric logits: its loss fuses
    ``output_activation`` (which ``predict`` applies), or the loss itself is ``from_logits``.
    Accuracies compare logits directly; precision, recall, F1 and AUC get probabilities; other
    metrics, functions and ``Metric`` objects get what ``predict`` returns.
    """
    if not on_logits:
        output_activation = None
    if isinstance(name, Metric) or (callable(name) and not isinstance(name, type)):
        metric = name if isinstance(name, Metric) else FunctionMean(name)
        return OnActivation(metric, output_activation) if output_activation else metric
    if not isinstance(name, str):
        raise ConfigurationError(f"a metric must be a name, a Metric or a function f(y_true, y_pred), "
                                 f"got {type(name).__name__} {name!r}")
    cls = lookup(METRICS, name, "metric")
    if cls is None:
        cls = _ACCURACIES.get(type(loss))
        if cls is None:
            raise ConfigurationError(
                f"metric {name!r} needs a classification loss to tell which accuracy is meant, got "
                f"{type(loss).__name__}; name one of: binary_accuracy, categorical_accuracy, "
                "sparse_categorical_accuracy")
    if issubclass(cls, _CLASSIFICATION):
        targets = _TARGETS.get(type(loss))
        if targets is None:
            raise ConfigurationError(f"metric {name!r} counts classes and needs a classification loss (a "
                                     f"cross-entropy), got {type(loss).__name__}")
        metric = cls(name, targets=targets)
        return OnActivation(metric, output_activation or loss.fuses()) if on_logits else metric
    if (cls is SparseCategoricalAccuracy) != isinstance(loss, losses.SparseCategoricalCrossentropy):
        raise ConfigurationError(
            f"metric {name!r} and the loss {loss.name} take different targets (class labels for "
            "sparse_categorical_*, arrays shaped as the outputs for the others)")
    if cls is BinaryAccuracy:
        return BinaryAccuracy(name, threshold=0.0 if on_logits else 0.5)
    if cls in (SparseCategoricalAccuracy, CategoricalAccuracy):
        return cls(name)  # the largest logit is the largest probability
    metric = LossMetric(name, cls()) if issubclass(cls, losses.Loss) else cls(name)
    return OnActivation(metric, output_activation) if output_activation else metric
