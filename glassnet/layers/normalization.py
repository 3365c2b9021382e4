"""Normalization: rescale each feature to mean 0 and variance 1, then let the network learn a scale
and a shift back.

Both layers compute, over some axes of the input,

    x_hat = (x - mean) / sqrt(var + eps)      (var: the biased variance, the mean of (x - mean)^2)
    y = gamma * x_hat + beta                  gamma, beta: one per feature (the last axis)

``BatchNormalization`` takes the mean and variance of each feature over the batch (every axis but
the last), ``LayerNormalization`` those of each example over its features (the last axis). Both
share the backward of the normalization: with ``d_x_hat = dy * gamma`` and means over the same
axes as the forward's,

    dx = (d_x_hat - mean(d_x_hat) - x_hat * mean(d_x_hat * x_hat)) / sqrt(var + eps)

(the three terms: the direct path, the path through the mean, the path through the variance), and
``dgamma = sum(dy * x_hat)``, ``dbeta = sum(dy)`` over every axis but the last.

In a data-parallel fit on several processes (``glassnet/distributed.py``) ``BatchNormalization``
takes its statistics over the whole global batch, whose rows are spread over the processes:
``global_moments`` and ``BatchNormalization``'s docstring give the math.
"""
import numpy as np

from .. import checks, initializers, layer_kernels, regularizers
from ..errors import ConfigurationError
from .base import Layer


def normalize(x, axis, epsilon):
    """``(x_hat, mean, variance, inv_std)`` with ``x_hat = (x - mean) * inv_std``,
    ``inv_std = 1 / sqrt(variance + epsilon)``, the statistics over ``axis`` (kept as size-1 axes)."""
    mean = x.mean(axis=axis, keepdims=True)
    centered = x - mean
    variance = np.mean(centered * centered, axis=axis, keepdims=True)
    inv_std = 1 / np.sqrt(variance + x.dtype.type(epsilon))
    return centered * inv_std, mean, variance, inv_std


def global_moments(x, axis, comm, what):
    """``(mean, variance, count, total)`` of ``x`` over ``axis`` and over the rows every process
    of ``comm`` holds (the global batch); ``count`` values per feature are this process's,
    ``total`` all processes'. One exchange: each process sends its count ``m_r``, mean ``mean_r``
    and sum of squared deviations ``M2_r = sum((x - mean_r)^2)`` (``2 F + 1`` numbers for ``F``
    features), and every process merges all of them alike, in float64 (the parallel form of
    Chan et al.'s formula, which subtracts no two large numbers):

        m = sum_r m_r,   mean = sum_r m_r mean_r / m,
        var = (sum_r M2_r + sum_r m_r (mean_r - mean)^2) / m

    A process with no rows sends ``m_r = 0`` and adds nothing. ``comm`` needs ``gather(array,
    what)``: every process's ``array`` stacked in rank order (``distributed.Communicator``)."""
    features, count = x.shape[-1], int(np.prod(x.shape[:-1]))
    local = np.zeros(2 * features + 1)
    local[0] = count
    if count:
        mean = x.mean(axis=axis)
        centered = x - mean
        local[1:features + 1] = mean
        local[features + 1:] = np.add.reduce(centered * centered, axis=axis)
    every = comm.gather(local, what)  # (processes, 2 F + 1), the same on every process
    counts, means, squares = every[:, :1], every[:, 1:features + 1], every[:, features + 1:]
    total = counts.sum()
    mean = (counts * means).sum(axis=0) / total
    deviations = means - mean
    variance = (squares.sum(axis=0) + (counts * deviations * deviations).sum(axis=0)) / total
    return mean.astype(x.dtype), variance.astype(x.dtype), count, total


def normalize_backward(d_x_hat, x_hat, inv_std, axis):
    """``dx`` of ``normalize`` from ``d_x_hat = dL/dx_hat``: the three-term formula of the module
    docstring, the means over ``axis``."""
    through_mean = d_x_hat.mean(axis=axis, keepdims=True)
    through_variance = x_hat * (d_x_hat * x_hat).mean(axis=axis, keepdims=True)
    return (d_x_hat - through_mean - through_variance) * inv_std


class _Normalization(Layer):
    """What both layers share: ``axis`` (the last only), ``epsilon``, and the learned
    ``y = gamma * x_hat + beta`` with its backward."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if axis != -1:
            raise ConfigurationError(f"{type(self).__name__} normalizes the last axis (the features): "
                                     f"axis must be -1, got {axis!r}")
        self.axis = -1
        self.epsilon = checks.number(f"{type(self).__name__} epsilon", epsilon, low=0, low_open=True)
        self.center = checks.boolean("center", center)
        self.scale = checks.boolean("scale", scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.gamma = self.beta = None

    def parameter_shapes(self, input_shape):
        """``gamma`` (with ``scale``) and ``beta`` (with ``center``): one per feature."""
        features = (input_shape[-1],)
        return {**({"gamma": features} if self.scale else {}), **({"beta": features} if self.center else {})}

    def build(self, input_shape, rng, dtype):
        features = (input_shape[-1],)
        if self.scale:
            self.gamma = self.add_parameter("gamma", self.gamma_initializer(features, rng, dtype), self.gamma_regularizer)
        if self.center:
            self.beta = self.add_parameter("beta", self.beta_initializer(features, rng, dtype), self.beta_regularizer)

    def scale_and_shift(self, x_hat):
        """``y = gamma * x_hat + beta`` and its backward, which stores ``dgamma`` and ``dbeta``
        (sums over every axis but the features) and returns ``d_x_hat = dy * gamma``."""
        gamma = None if self.gamma is None else self.gamma.value
        y = x_hat if gamma is None else x_hat * gamma
        if self.beta is not None:
            y = y + self.beta.value
        batch_axes = tuple(range(x_hat.ndim - 1))

        def backward(dy):
            if self.beta is not None:
                np.add.reduce(dy, axis=batch_axes, out=self.beta.grad)
            if gamma is None:
                return dy
            np.add.reduce(dy * x_hat, axis=batch_axes, out=self.gamma.grad)
            return dy * gamma

        return y, backward

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "beta_initializer": initializers.name_of(self.beta_initializer),
                "gamma_initializer": initializers.name_of(self.gamma_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer)}


class BatchNormalization(_Normalization):
    """Normalize each feature over the batch (Keras's arguments and defaults).

    Training: the statistics of the batch, over every axis but the last (``m`` values per feature),

        mean = sum(x) / m,   var = sum((x - mean)^2) / m,   x_hat = (x - mean) / sqrt(var + eps)
        y = gamma * x_hat + beta

    and the moving statistics follow them, as Keras does (PyTorch's ``momentum`` is ``1 -`` this
    one, and PyTorch moves its variance toward the unbiased ``var * m / (m - 1)``):

        moving_mean = momentum * moving_mean + (1 - momentum) * mean
        moving_variance = momentum * moving_variance + (1 - momentum) * var

    Backward: the three-term formula of the module docstring, the means over the batch, since
    ``mean`` and ``var`` depend on every example. Inference uses the moving statistics, so an
    example's output does not depend on the others in its batch; its backward is
    ``dx = dy * gamma / sqrt(moving_variance + eps)`` (and, for ``gradcheck``, the gradients of
    the moving statistics, ``-sum(d_x_hat) / sqrt(moving_variance + eps)`` and
    ``-sum(d_x_hat * x_hat) / (2 (moving_variance + eps))``). A frozen layer (``trainable = False``)
    runs as in inference, in training too, and its moving statistics stay (Keras's rule, so that
    fine-tuning does not disturb statistics learned on other data).

    ``moving_mean`` and ``moving_variance`` are state parameters (``add_parameter(...,
    trainable=False)``): saved in model files, counted as non-trainable, never moved by the
    optimizer.

    Data-parallel training (``glassnet/distributed.py``): ``DataParallel`` sets ``comm``, the
    communicator of the processes, for the length of a ``fit`` and takes it back at the end (it is
    None otherwise, and inference never reads it). The training forward then normalizes by the
    statistics of the whole global batch (``global_moments``: one exchange of ``2 F + 1`` numbers
    per process), so every process computes the very ``x_hat`` and moving statistics one process
    computes on the whole batch. Each process's loss is a mean over its ``m_r`` of the ``m``
    values, so the ``dy`` it back-propagates is ``m / m_r`` times the whole batch's; the backward's
    two means are therefore global sums, one allreduce of ``2 F`` numbers weighted by ``m_r / m``
    (as the gradients are), divided by this process's ``m_r``:

        S_1 = sum_r (m_r / m) sum_{i in r} d_x_hat_i,   S_2 = sum_r (m_r / m) sum_{i in r} d_x_hat_i x_hat_i
        dx = (d_x_hat - S_1 / m_r - x_hat * S_2 / m_r) / sqrt(var + eps)

    which is ``m / m_r`` times the whole batch's ``dx``, the scale the layers before expect.
    (``dgamma`` and ``dbeta`` stay this process's sums: the gradient allreduce weighs and adds
    them as every other gradient.) A first layer, which returns no ``dx``, skips that allreduce.
    """

    # The communicator of a data-parallel fit under way (``DataParallel`` sets it), else None.
    comm = None

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer,
                         beta_regularizer, gamma_regularizer, **kwargs)
        self.momentum = checks.number("BatchNormalization momentum", momentum, low=0, high=1)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.moving_mean = self.moving_variance = None

    def parameter_shapes(self, input_shape):
        """``gamma``, ``beta``, and the state ``moving_mean``, ``moving_variance``: one per feature."""
        features = (input_shape[-1],)
        return {**super().parameter_shapes(input_shape), "moving_mean": features, "moving_variance": features}

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        features = (input_shape[-1],)
        self.moving_mean = self.add_parameter(
            "moving_mean", self.moving_mean_initializer(features, rng, dtype), trainable=False)
        self.moving_variance = self.add_parameter(
            "moving_variance", self.moving_variance_initializer(features, rng, dtype), trainable=False)

    def forward(self, x, training=False):
        if training and self.trainable:
            return self._forward_batch_statistics(x)
        return self._forward_moving_statistics(x)

    def _forward_batch_statistics(self, x):
        comm = self.comm
        if comm is None and x.size:  # one process: the compiled passes
            return self._forward_batch_statistics_compiled(x)
        batch_axes = tuple(range(x.ndim - 1))
        if comm is None:  # an empty batch
            x_hat, mean, variance, inv_std = normalize(x, batch_axes, self.epsilon)
        else:  # the global batch's statistics, on every process
            mean, variance, count, total = global_moments(x, batch_axes, comm, f"the batch statistics of {self.name}")
            inv_std = 1 / np.sqrt(variance + x.dtype.type(self.epsilon))
            x_hat = x - mean
            x_hat *= inv_std
        self._follow(self.moving_mean.value, mean.reshape(-1))
        self._follow(self.moving_variance.value, variance.reshape(-1))
        y, backward_scale = self.scale_and_shift(x_hat)

        def backward(dy):
            d_x_hat = backward_scale(dy)
            if not self.compute_input_gradient:
                return None
            if comm is None:
                return normalize_backward(d_x_hat, x_hat, inv_std, batch_axes)
            sums = np.empty(2 * x.shape[-1], x.dtype)  # [S_1, S_2], one allreduce
            s_1, s_2 = sums[:x.shape[-1]], sums[x.shape[-1]:]
            np.add.reduce(d_x_hat, axis=batch_axes, out=s_1)
            np.add.reduce(d_x_hat * x_hat, axis=batch_axes, out=s_2)
            sums *= x.dtype.type(count / total)
            comm.sum(sums, f"the gradient sums of {self.name}")
            if not count:  # no rows here: an empty dx
                return d_x_hat * inv_std
            sums /= x.dtype.type(count)  # S_1 / m_r, S_2 / m_r
            dx = d_x_hat - s_1
            dx -= x_hat * s_2
            dx *= inv_std
            return dx

        return y, backward

    def _forward_batch_statistics_compiled(self, x):
        """On one process: ``layer_kernels.batch_norm_forward`` and ``batch_norm_backward``, the same
        math as ``normalize``, ``scale_and_shift`` and ``normalize_backward`` (what the tests
        compare them with) in three passes forward and two back, over ``x`` read as (rows, F)."""
        features, dtype = x.shape[-1], x.dtype
        x2 = np.ascontiguousarray(x).reshape(-1, features)
        y, x_hat = np.empty_like(x2), np.empty_like(x2)
        mean, variance, inv_std = (np.empty(features, dtype) for _ in range(3))
        gamma = np.ones(features, dtype) if self.gamma is None else self.gamma.value
        beta = np.zeros(features, dtype) if self.beta is None else self.beta.value
        layer_kernels.batch_norm_forward(x=x2, gamma=gamma, beta=beta, epsilon=dtype.type(self.epsilon), y=y,
                                         x_hat=x_hat, mean=mean, variance=variance, inv_std=inv_std)
        self._follow(self.moving_mean.value, mean)
        self._follow(self.moving_variance.value, variance)

        def backward(dy):
            dy2 = np.ascontiguousarray(dy).reshape(-1, features)
            dx = np.empty_like(dy2) if self.compute_input_gradient else np.empty((0, features), dtype)
            d_gamma = np.empty(features, dtype) if self.gamma is None else self.gamma.grad
            d_beta = np.empty(features, dtype) if self.beta is None else self.beta.grad
            layer_kernels.batch_norm_backward(dy=dy2, x_hat=x_hat, gamma=gamma, inv_std=inv_std, dx=dx,
                                              d_gamma=d_gamma, d_beta=d_beta)
            return dx.reshape(x.shape) if self.compute_input_gradient else None

        return y.reshape(x.shape), backward

    def _follow(self, moving, batch_statistic):
        """``moving = momentum * moving + (1 - momentum) * batch_statistic``, in place."""
        moving *= moving.dtype.type(self.momentum)
        moving += moving.dtype.type(1 - self.momentum) * batch_statistic

    def _forward_moving_statistics(self, x):
        inv_std = 1 / np.sqrt(self.moving_variance.value + x.dtype.type(self.epsilon))
        x_hat = (x - self.moving_mean.value) * inv_std
        y, backward_scale = self.scale_and_shift(x_hat)
        batch_axes = tuple(range(x.ndim - 1))

        def backward(dy):
            d_x_hat = backward_scale(dy)
            # no optimizer reads these two; they make the backward whole, so gradcheck can check it
            np.multiply(-inv_std, np.add.reduce(d_x_hat, axis=batch_axes), out=self.moving_mean.grad)
            np.multiply(-0.5 * inv_std * inv_std, np.add.reduce(d_x_hat * x_hat, axis=batch_axes),
                        out=self.moving_variance.grad)
            return d_x_hat * inv_std if self.compute_input_gradient else None

        return y, backward

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum,
                "moving_mean_initializer": initializers.name_of(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.name_of(self.moving_variance_initializer)}


class LayerNormalization(_Normalization):
    """Normalize each example over its features (the last axis; Keras's arguments and defaults):

        mean = sum_j x_j / n,   var = sum_j (x_j - mean)^2 / n,   x_hat = (x - mean) / sqrt(var + eps)
        y = gamma * x_hat + beta

    The same in training and inference: no moving statistics, and an example's output never
    depends on the rest of its batch. Backward: the three-term formula of the module docstring,
    the means over the features.
    """

    def forward(self, x, training=False):
        x_hat, _, _, inv_std = normalize(x, -1, self.epsilon)
        y, backward_scale = self.scale_and_shift(x_hat)

        def backward(dy):
            d_x_hat = backward_scale(dy)
            return normalize_backward(d_x_hat, x_hat, inv_std, -1) if self.compute_input_gradient else None

        return y, backward
