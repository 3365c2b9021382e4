"""Losses: how far the predictions are from the targets, and the gradient that starts backprop.

``loss.value_and_grad(y_true, y_pred, sample_weight)`` returns the loss of a batch and its
gradient with respect to ``y_pred``, both from one formula. Every loss is a mean over the batch
of per-example losses ``l_i``, each weighted by ``w_i`` (1 without sample weights):

    L = sum_i w_i * l_i / N             dL/dy_pred_i = w_i * dl_i/dy_pred_i / N

A batch of no rows has ``L = 0`` (in data-parallel training a process's share of a batch can be
empty; it then adds nothing to the gradient sum).

Cross-entropies fuse the output activation: with ``from_logits=True`` they take the logits ``z``
and compute ``log_softmax(z)`` / ``log_sigmoid(z)`` stably, and their gradient is the famous
``(softmax(z) - y) / N``. A model that ends in ``activation="softmax"`` (or ``"sigmoid"``) and is
compiled with ``from_logits=False`` is fused the same way by ``Sequential.compile``.
"""
import math

import numpy as np

from . import checks, kernels, ops, serialization
from .layers.activations import Sigmoid, Softmax
from .errors import ConfigurationError, DataError, ShapeError, lookup

_EPSILON = 1e-7  # probabilities are clipped to [eps, 1 - eps] before a log, as in Keras


class Loss:
    """Base class. Subclasses implement ``unchecked_per_example(y_true, y_pred) -> (l, dl)``.

    The public methods (``__call__``, ``value_and_grad``, ``per_example``) check their arguments
    first (``checked``): ``y_pred`` numeric and finite, of shape (N, outputs...), ``y_true`` as
    ``check_targets`` makes it for those outputs (targets of shape (N,) for predictions of shape
    (N, 1) are reshaped to (N, 1), as ``fit`` does; any other difference of shapes is a
    ShapeError, never a broadcast), one finite weight >= 0 per example. The training loop
    checks its data once per ``fit`` and calls the ``unchecked_`` methods on every batch."""

    name = "loss"
    classification = False  # whether targets are classes (class_weight needs them)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The loss value of a batch (a float)."""
        return self.value_and_grad(y_true, y_pred, sample_weight)[0]

    def value_and_grad(self, y_true, y_pred, sample_weight=None):
        """``(L, dL/dy_pred)`` for a batch; see the module docstring for the reduction."""
        return self.unchecked_value_and_grad(*self.checked(y_true, y_pred, sample_weight))

    def per_example(self, y_true, y_pred):
        """Per-example losses ``l`` (shape (N,)) and ``dl/dy_pred`` (shape of ``y_pred``)."""
        y_true, y_pred, _ = self.checked(y_true, y_pred)
        return self.unchecked_per_example(y_true, y_pred)

    def checked(self, y_true, y_pred, sample_weight=None):
        """``(y_true, y_pred, sample_weight)`` checked and converted as the class docstring says
        (predictions that are not float32 or float64 become float64)."""
        y_pred = checks.finite("y_pred", checks.numeric_array("y_pred", y_pred))
        if y_pred.dtype not in (np.float32, np.float64):
            y_pred = y_pred.astype(np.float64)
        if y_pred.ndim == 0 or 0 in y_pred.shape[1:]:
            raise ShapeError(f"y_pred must have shape (n, outputs...) with at least one output, got {y_pred.shape}")
        y_true = checks.finite("y_true", self.check_targets(y_true, y_pred.shape[1:]))
        checks.same_length(y_true, y_pred, ("y_true", "y_pred"))
        if sample_weight is not None:
            sample_weight = checks.sample_weights(sample_weight, len(y_pred), within=y_pred.dtype)
        return y_true, y_pred, sample_weight

    def unchecked_value_and_grad(self, y_true, y_pred, sample_weight=None):
        """``value_and_grad`` on arrays ``checked`` would pass unchanged (the training loop's)."""
        losses, grads = self.unchecked_per_example(y_true, y_pred)
        n = y_pred.shape[0] or 1  # 1 for an empty batch: L = 0
        if sample_weight is None:
            return float(np.add.reduce(losses)) / n, grads / grads.dtype.type(n)
        weight = sample_weight.astype(y_pred.dtype, copy=False)
        grads *= (weight / y_pred.dtype.type(n)).reshape((-1,) + (1,) * (grads.ndim - 1))
        return float((losses * weight).sum()) / n, grads

    def unchecked_per_example(self, y_true, y_pred):
        """``per_example`` on checked arrays: the formula of each loss."""
        raise NotImplementedError

    def check_targets(self, y, output_shape):
        """Validate targets for a model whose outputs have ``output_shape`` and return them as the
        array this loss computes with. Dense targets must match the output shape; a flat ``y``
        is accepted for a single output."""
        y = checks.numeric_array(f"{self.name} targets", y)
        if y.ndim == 1 and tuple(output_shape) == (1,):
            y = y.reshape(-1, 1)
        if y.ndim == 0 or y.shape[1:] != tuple(output_shape):
            raise ShapeError(f"{self.name} targets must have shape {_batch_shape(output_shape)} "
                             f"to match the model output, got {y.shape}")
        return y

    def fused_with(self, activation):
        """The loss to train on the logits when the model ends in ``activation``, or None."""
        return None

    def get_config(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _batch_shape(output_shape):
    """``(n, 3)`` for outputs of shape (3,), ``(n,)`` for scalar outputs."""
    return "(" + ", ".join(["n", *map(str, output_shape)]) + (",)" if not output_shape else ")")


def _features(a):
    """The number of output features per example (also for a batch of no rows)."""
    return math.prod(a.shape[1:])


def _mean_features(a):
    return a.reshape(a.shape[0], _features(a)).mean(axis=1)


class MeanSquaredError(Loss):
    """``l = mean_j (p_j - y_j)^2``; ``dl/dp = 2 (p - y) / D`` (D outputs per example)."""

    name = "mean_squared_error"

    def unchecked_per_example(self, y_true, y_pred):
        diff = y_pred - y_true
        return _mean_features(diff * diff), diff * y_pred.dtype.type(2 / _features(diff))


class MeanAbsoluteError(Loss):
    """``l = mean_j |p_j - y_j|``; ``dl/dp = sign(p - y) / D``."""

    name = "mean_absolute_error"

    def unchecked_per_example(self, y_true, y_pred):
        diff = y_pred - y_true
        return _mean_features(np.abs(diff)), np.sign(diff) * y_pred.dtype.type(1 / _features(diff))


class Huber(Loss):
    """Squared near zero, linear far away: with ``r = p - y``,

    ``l = mean_j (r^2 / 2 if |r| <= delta else delta * (|r| - delta / 2))``;
    ``dl/dp = clip(r, -delta, delta) / D``.
    """

    name = "huber"

    def __init__(self, delta=1.0):
        self.delta = checks.number("Huber delta", delta, low=0, low_open=True)

    def unchecked_per_example(self, y_true, y_pred):
        r = y_pred - y_true
        a = np.abs(r)
        values = np.where(a <= self.delta, 0.5 * r * r, self.delta * (a - 0.5 * self.delta))
        grads = np.clip(r, -self.delta, self.delta) * y_pred.dtype.type(1 / _features(r))
        return _mean_features(values), grads

    def get_config(self):
        return {"delta": self.delta}


class _CrossEntropy(Loss):
    """Shared arguments of the cross-entropies."""

    fuses = None  # the activation class this loss absorbs when it trains on logits
    classification = True

    def __init__(self, from_logits=False, label_smoothing=0.0):
        self.from_logits = bool(from_logits)
        self.label_smoothing = checks.number("label_smoothing", label_smoothing, low=0, high=1)

    def fused_with(self, activation):
        if self.from_logits or not isinstance(activation, self.fuses):
            return None
        if getattr(activation, "axis", -1) != -1:
            return None
        return type(self)(**{**self.get_config(), "from_logits": True})

    def get_config(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


def _classes(loss, output_shape):
    """The number of classes K of outputs of shape ``output_shape``, which must be (K,)."""
    if len(output_shape) != 1:
        raise ShapeError(f"{loss.name} needs outputs of shape (n, classes), got {_batch_shape(output_shape)}")
    return output_shape[0]


def _clip_probabilities(p):
    """Clip to [eps, 1 - eps]; the mask marks where the clip is inactive (gradient flows)."""
    clipped = np.clip(p, _EPSILON, 1 - _EPSILON)
    return clipped, (clipped == p)


class BinaryCrossentropy(_CrossEntropy):
    """For yes/no outputs (one sigmoid per output). With ``y`` smoothed toward 0.5,

    logits ``z``:   ``l = mean_j max(z, 0) - z y + log(1 + exp(-|z|))``;  ``dl/dz = (sigmoid(z) - y) / D``
    probabilities:  ``l = -mean_j y log p + (1 - y) log(1 - p)``;  ``dl/dp = (p - y) / (p (1 - p) D)``
    """

    name = "binary_crossentropy"

    fuses = Sigmoid

    def check_targets(self, y, output_shape):
        y = super().check_targets(y, output_shape)
        if y.size and (y.min() < 0 or y.max() > 1):
            raise DataError(f"{self.name} targets must be in [0, 1], got values from {y.min()} to {y.max()}")
        return y

    def unchecked_per_example(self, y_true, y_pred):
        y = y_true.astype(y_pred.dtype, copy=False)
        if self.label_smoothing:
            y = y * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        scale = y_pred.dtype.type(1 / _features(y_pred))
        if self.from_logits:
            z = y_pred
            values = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
            return _mean_features(values), (ops.sigmoid(z) - y) * scale
        p, inside = _clip_probabilities(y_pred)
        values = -(y * np.log(p) + (1 - y) * np.log1p(-p))
        return _mean_features(values), np.where(inside, (p - y) / (p * (1 - p)), 0) * scale


class CategoricalCrossentropy(_CrossEntropy):
    """For one of K classes with one-hot (or soft) targets ``y``, smoothed to ``y(1-s) + s/K``:

    logits ``z``:   ``l = -sum_k y_k log_softmax(z)_k``;  ``dl/dz = softmax(z) sum(y) - y``
    probabilities:  ``l = -sum_k y_k log p_k``;          ``dl/dp = -y / p``
    """

    name = "categorical_crossentropy"

    fuses = Softmax

    def check_targets(self, y, output_shape):
        n_classes = _classes(self, output_shape)
        y = checks.numeric_array(f"{self.name} targets", y)
        if y.ndim == 1 and n_classes != 1:
            raise ShapeError(f"{self.name} needs one-hot targets of shape (n, {n_classes}), got "
                             f"{y.shape}; for integer class labels use 'sparse_categorical_crossentropy'")
        return super().check_targets(y, output_shape)

    def unchecked_per_example(self, y_true, y_pred):
        y = y_true.astype(y_pred.dtype, copy=False)
        if self.label_smoothing:
            y = y * (1 - self.label_smoothing) + self.label_smoothing / y.shape[-1]
        if self.from_logits:
            log_p = ops.log_softmax(y_pred)
            return -(y * log_p).sum(axis=-1), np.exp(log_p) * y.sum(axis=-1, keepdims=True) - y
        p, inside = _clip_probabilities(y_pred)
        return -(y * np.log(p)).sum(axis=-1), np.where(inside, -y / p, 0).astype(y_pred.dtype)


class SparseCategoricalCrossentropy(_CrossEntropy):
    """Categorical cross-entropy with integer class labels ``c`` in ``[0, K)``:

    logits ``z``:   ``l = -log_softmax(z)_c``;  ``dl/dz = softmax(z) - onehot(c)``
    probabilities:  ``l = -log p_c``;           ``dl/dp = -onehot(c) / p_c``
    (with label smoothing ``s`` the one-hot becomes ``onehot(c)(1 - s) + s / K``).
    """

    name = "sparse_categorical_crossentropy"

    fuses = Softmax

    def check_targets(self, y, output_shape):
        n_classes = _classes(self, output_shape)
        y = checks.numeric_array(f"{self.name} targets", y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ShapeError(f"{self.name} needs integer class labels of shape (n,), got {y.shape}; "
                             "for one-hot targets use 'categorical_crossentropy'")
        if y.dtype.kind == "f" and (not np.all(np.isfinite(y)) or np.any(y != np.round(y))):
            raise DataError(f"{self.name} needs integer class labels, got non-integer values "
                            f"such as {y[y != np.round(y)][:3].tolist()}")
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            bad = y[(y < 0) | (y >= n_classes)][:3].tolist()
            raise DataError(f"class labels must be in [0, {n_classes - 1}] for a model with "
                            f"{n_classes} outputs, got {bad}")
        return y.astype(np.intp)

    def unchecked_per_example(self, y_true, y_pred):
        s, k = self.label_smoothing, y_pred.shape[-1]
        if self.from_logits:  # one compiled pass (the formula is in its docstring)
            values, grads = np.empty(y_pred.shape[0], y_pred.dtype), np.empty_like(y_pred)
            bad = kernels.sparse_softmax_cross_entropy(z=y_pred, labels=y_true, smoothing=s, values=values,
                                                       grads=grads)
            if bad >= 0:
                raise DataError(f"class label {y_true[bad]} of row {bad} is not in [0, {k - 1}]")
            return values, grads
        rows = np.arange(y_pred.shape[0])
        p, inside = _clip_probabilities(y_pred)
        y = np.full(p.shape, s / k, dtype=p.dtype)
        y[rows, y_true] += 1 - s
        return -(y * np.log(p)).sum(axis=-1), np.where(inside, -y / p, 0).astype(p.dtype)


LOSSES = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def get(loss):
    """A loss from its Keras name (``"mse"``, ``"sparse_categorical_crossentropy"``) or instance."""
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str):
        raise ConfigurationError(f"loss must be a name or a Loss, got {type(loss).__name__} {loss!r}")
    return lookup(LOSSES, loss, "loss")()



def deserialize(spec):
    """A loss from ``serialization.serialize(loss)``'s output."""
    return serialization.deserialize(spec, set(LOSSES.values()), "loss")
