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


def _clip_probabilities(p, high=1 - _EPSILON):
    """Clip to [eps, high]; the mask marks where the clip is inactive (gradient flows)."""
    clipped = np.clip(p, _EPSILON, high)
    return clipped, (clipped == p)


def _targets_within(loss, y, low, high=math.inf):
    """``y``, checked to hold values in [low, high] (a DataError naming the loss otherwise)."""
    if y.size and (y.min() < low or y.max() > high):
        bounds = f"in [{low}, {high}]" if high < math.inf else f">= {low}"
        raise DataError(f"{loss.name} targets must be {bounds}, got values from {y.min()} to {y.max()}")
    return y


class _BinaryCrossEntropy(_CrossEntropy):
    """What the binary cross-entropies share: targets in [0, 1], smoothed toward 0.5, and a
    sigmoid fused on the logits."""

    fuses = Sigmoid

    def check_targets(self, y, output_shape):
        return _targets_within(self, super().check_targets(y, output_shape), 0, 1)

    def smoothed(self, y_true, dtype):
        """The targets in ``dtype``, smoothed to ``y (1 - s) + s / 2``."""
        y = y_true.astype(dtype, copy=False)
        return y * (1 - self.label_smoothing) + 0.5 * self.label_smoothing if self.label_smoothing else y


def _binary_cross_entropy(y, y_pred, from_logits):
    """Per output: the cross-entropy ``bce``, ``d bce / d y_pred`` and the probability ``p``
    (``BinaryCrossentropy``'s formulas; probabilities are clipped to [eps, 1 - eps], with no
    gradient where the clip acts)."""
    if from_logits:
        z = y_pred
        p = ops.sigmoid(z)
        return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))), p - y, p
    p, inside = _clip_probabilities(y_pred)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p)), np.where(inside, (p - y) / (p * (1 - p)), 0), p


class BinaryCrossentropy(_BinaryCrossEntropy):
    """For yes/no outputs (one sigmoid per output). With ``y`` smoothed toward 0.5,

    logits ``z``:   ``l = mean_j max(z, 0) - z y + log(1 + exp(-|z|))``;  ``dl/dz = (sigmoid(z) - y) / D``
    probabilities:  ``l = -mean_j y log p + (1 - y) log(1 - p)``;  ``dl/dp = (p - y) / (p (1 - p) D)``
    """

    name = "binary_crossentropy"

    def unchecked_per_example(self, y_true, y_pred):
        values, grads, _ = _binary_cross_entropy(self.smoothed(y_true, y_pred.dtype), y_pred, self.from_logits)
        return _mean_features(values), grads * y_pred.dtype.type(1 / _features(y_pred))


class BinaryFocalCrossentropy(_BinaryCrossEntropy):
    """Binary cross-entropy that weighs down the outputs already predicted well (focal loss, Lin
    et al.; Keras's ``BinaryFocalCrossentropy``). With ``y`` smoothed toward 0.5, ``p`` the
    probability (``sigmoid(z)`` of a logit), ``bce`` and its gradient as in
    ``BinaryCrossentropy``, and ``q = 1 - p_t = y + p (1 - 2 y)`` how wrong the output is:

        l = mean_j a q^gamma bce
        dl/dp = a (q^gamma dbce/dp + gamma q^(gamma - 1) (1 - 2 y) bce) / D;   dl/dz = dl/dp * p (1 - p)

    ``a = alpha y + (1 - alpha) (1 - y)`` with ``apply_class_balancing``, 1 otherwise.
    ``gamma = 0`` is the binary cross-entropy. Probabilities are clipped to [eps, 1 - eps] in
    ``q`` too (Keras clips them in the log only); logits are taken stably, not clipped.
    """

    name = "binary_focal_crossentropy"

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(from_logits, label_smoothing)
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha = checks.number("alpha", alpha, low=0, high=1)
        self.gamma = checks.number("gamma", gamma, low=0)

    def unchecked_per_example(self, y_true, y_pred):
        y = self.smoothed(y_true, y_pred.dtype)
        bce, d_bce, p = _binary_cross_entropy(y, y_pred, self.from_logits)
        q = y + p * (1 - 2 * y)
        focal = q ** self.gamma
        values, grads = focal * bce, focal * d_bce
        if self.gamma:  # q^(gamma - 1) bce, written as values / q: finite as q -> 0, where bce -> 0 too
            d_p = p * (1 - p) if self.from_logits else (p == y_pred)
            grads += self.gamma * np.divide(values, q, out=np.zeros_like(q), where=q > 0) * (1 - 2 * y) * d_p
        if self.apply_class_balancing:
            weight = self.alpha * y + (1 - self.alpha) * (1 - y)
            values, grads = values * weight, grads * weight
        return _mean_features(values), grads * y_pred.dtype.type(1 / _features(y_pred))

    def get_config(self):
        return {"apply_class_balancing": self.apply_class_balancing, "alpha": self.alpha, "gamma": self.gamma,
                **super().get_config()}


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


class KLDivergence(Loss):
    """Kullback-Leibler divergence of the predicted distribution ``p`` from the target
    distribution ``y`` over K classes (Keras's ``KLDivergence``: both clipped to [eps, 1]):

        l = sum_k y_k log(y_k / p_k);   dl/dp = -y / p   (0 where ``p`` is clipped)

    It differs from the categorical cross-entropy by ``sum_k y_k log y_k``, which does not depend
    on ``p``: the same gradient, and 0 when ``p = y``.
    """

    name = "kl_divergence"

    def check_targets(self, y, output_shape):
        _classes(self, output_shape)
        return _targets_within(self, super().check_targets(y, output_shape), 0, 1)

    def unchecked_per_example(self, y_true, y_pred):
        y = np.clip(y_true.astype(y_pred.dtype, copy=False), _EPSILON, 1)
        p, inside = _clip_probabilities(y_pred, high=1)
        return (y * np.log(y / p)).sum(axis=-1), np.where(inside, -y / p, 0)


class Hinge(Loss):
    """The margin loss of a support vector machine, for yes/no outputs scored on either side of 0.
    Targets are -1/1 or 0/1 (``check_targets`` makes them 0/1; Keras's rule); with ``s = 2 y - 1``:

        l = mean_j max(0, 1 - s p);   dl/dp = -s [s p < 1] / D
    """

    name = "hinge"
    classification = True

    def check_targets(self, y, output_shape):
        y = super().check_targets(y, output_shape)
        if not (np.isin(y, (0, 1)).all() or np.isin(y, (-1, 1)).all()):
            raise DataError(f"{self.name} targets must be -1/1 or 0/1 labels, got values such as "
                            f"{np.unique(y)[:5].tolist()}")
        return np.maximum(y, 0)

    def unchecked_per_example(self, y_true, y_pred):
        s = 2 * y_true.astype(y_pred.dtype, copy=False) - 1
        margin = 1 - s * y_pred
        grads = np.where(margin > 0, -s, 0) * y_pred.dtype.type(1 / _features(y_pred))
        return _mean_features(np.maximum(margin, 0)), grads


class Poisson(Loss):
    """For counts ``y >= 0`` predicted as rates ``p >= 0`` (end the model in an activation that is
    never negative, such as ``softplus`` or ``relu``); Keras's ``Poisson``, PyTorch's
    ``poisson_nll_loss(log_input=False)``:

        l = mean_j p - y log(p + eps);   dl/dp = (1 - y / (p + eps)) / D

    A negative prediction is a DataError (its log would be NaN).
    """

    name = "poisson"

    def check_targets(self, y, output_shape):
        return _targets_within(self, super().check_targets(y, output_shape), 0)

    def unchecked_per_example(self, y_true, y_pred):
        if y_pred.size and y_pred.min() < 0:
            raise DataError(f"{self.name} needs predictions >= 0 (rates), got {y_pred.min()}; end the model "
                            "in an activation that is never negative, such as softplus or relu")
        y = y_true.astype(y_pred.dtype, copy=False)
        shifted = y_pred + y_pred.dtype.type(_EPSILON)
        values = _mean_features(y_pred - y * np.log(shifted))
        return values, (1 - y / shifted) * y_pred.dtype.type(1 / _features(y_pred))


LOSSES = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "kl_divergence": KLDivergence, "kld": KLDivergence,
    "hinge": Hinge,
    "poisson": Poisson,
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
