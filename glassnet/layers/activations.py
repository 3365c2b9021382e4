"""Activation functions as layers. Each forward computes ``y = f(x)``; each backward returns
``dx = dy * f'(x)`` (softmax, whose outputs depend on each other, uses its Jacobian instead).

They can be used as layers (``Sigmoid()``, or Keras's ``Activation("sigmoid")``) or by name in
``Dense(activation="sigmoid")``.
"""
import math
import numbers

import numpy as np

from .. import checks, layer_kernels, ops, saving, serialization, threads
from ..errors import ConfigurationError, lookup
from .base import Layer

try:  # an exact erf for GELU; SciPy is optional, math.erf is the exact fallback
    from scipy.special import erf as _erf
except ImportError:  # pragma: no cover - depends on the environment
    _erf = np.vectorize(math.erf, otypes=[np.float64])


class Activation(Layer):
    """Keras's ``Activation(activation)`` layer, and the base class of the activation layers.

    ``Activation("relu")`` applies the activation named (any name of ``ACTIVATIONS``), given as
    a spec, or given as an activation layer (``Activation(LeakyReLU(0.1))``): its forward and
    backward are that activation's, held in ``self.activation``. Its config is Keras's,
    ``{"activation": "relu"}`` (a spec for an activation with arguments). At the end of a
    network, ``Activation("softmax")`` or ``Activation("sigmoid")`` is fused with the
    cross-entropy as a ``Softmax()`` or ``Sigmoid()`` is (``output_activation``, ``forward_logits``).

    The activation layers (ReLU, Sigmoid, ..., and your own) subclass it, take no
    ``activation``, and define ``forward``; they have no parameters and their output shape is
    their input shape.

    ``forward(x, training, in_place=True)`` allows the activation to write ``y`` over ``x``; a caller
    passes it only for an ``x`` of its own that nothing else reads: ``Dense`` does for its fresh
    ``z = x @ W + b``. ReLU, LeakyReLU and Tanh, whose backward needs only ``y``, then compute in
    place, which saves a new array per layer and batch (on a batch of 10,000 about 10 MB to
    allocate and fault in per layer); the others ignore it. By default (``in_place=False``, and so
    as a standalone layer, whose input may be the user's data) ``x`` is never written.
    """

    def __init__(self, activation=None, **kwargs):
        super().__init__(**kwargs)
        if type(self) is not Activation:
            if activation is not None:
                raise ConfigurationError(f"{type(self).__name__} is an activation itself and takes no activation "
                                         f"argument; Activation({activation!r}) applies one")
            return
        if activation is None:
            raise ConfigurationError("Activation needs the activation to apply: a name such as 'relu' (one of "
                                     f"{', '.join(ACTIVATIONS)}) or an activation layer")
        self.activation = get(activation)
        if not isinstance(self.activation, Activation):
            raise ConfigurationError(f"Activation applies an activation (a name such as 'relu', or a layer such as "
                                     f"ReLU()), got the {type(self.activation).__name__} layer "
                                     f"{self.activation.name!r}; use that layer itself")

    @property
    def output_activation(self):
        """For ``Activation(...)``, the activation it applies if that can end a network and be
        fused into the loss (softmax, sigmoid); None for the other activation layers."""
        return self.activation.output_activation if type(self) is Activation else None

    def build(self, input_shape, rng, dtype):
        if type(self) is Activation:
            self.activation.ensure_built(input_shape, rng, dtype)

    def forward(self, x, training=False, in_place=False):
        """Return ``(y, backward)``; ``in_place`` allows ``y`` to be written over ``x``."""
        if type(self) is not Activation:
            raise NotImplementedError(f"{type(self).__name__} must define forward(x, training=False, in_place=False)")
        return self.activation.forward(x, training, in_place=in_place)

    def forward_logits(self, x, training=False):
        if type(self) is Activation:
            return self.activation.forward_logits(x, training)
        return super().forward_logits(x, training)

    def get_config(self):
        config = super().get_config()
        if type(self) is Activation:
            config["activation"] = serialize(self.activation)
        return config


class Linear(Activation):
    """``y = x``; ``dx = dy``."""

    def forward(self, x, training=False, in_place=False):
        return x, _identity


def _identity(dy):
    return dy


# From this many numbers on, ReLU's backward runs layer_kernels.relu_backward: one pass instead of two
# saves about 1.4 ns a number, more than the few microseconds of calling it.
RELU_KERNEL_FROM = 2**15


class ReLU(Activation):
    """``y = max(x, 0)``; ``dx = dy * (x > 0)``."""

    def forward(self, x, training=False, in_place=False):
        y = np.maximum(x, 0, out=x if in_place else None)

        def backward(dy):
            # y > 0 exactly where x > 0; one compiled pass for a large array lying flat in memory
            # (a convolution's output), NumPy's expression for the rest: a small step's few calls
            if (y.size < RELU_KERNEL_FROM or dy.shape != y.shape or dy.dtype != y.dtype
                    or not (dy.flags.c_contiguous and y.flags.c_contiguous)):
                return dy * (y > 0)
            dx = np.empty_like(y)
            flat_y, flat_dy, flat_dx = y.reshape(-1), dy.reshape(-1), dx.reshape(-1)
            # in runs, one per thread while the network splits its work
            threads.run_ranges(
                lambda a, b: layer_kernels.relu_backward(y=flat_y[a:b], dy=flat_dy[a:b], dx=flat_dx[a:b]), flat_y.size)
            return dx

        return y, backward


class LeakyReLU(Activation):
    """``y = x if x > 0 else negative_slope * x``; ``dx = dy * (1 or negative_slope)``.

    The default slope 0.2 is Keras's ``leaky_relu`` (PyTorch uses 0.01).
    """

    def __init__(self, negative_slope=0.2, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = checks.number("LeakyReLU negative_slope", negative_slope, low=0)

    def forward(self, x, training=False, in_place=False):
        slope = np.where(x > 0, 1, self.negative_slope).astype(x.dtype)
        return np.multiply(x, slope, out=x if in_place else None), lambda dy: dy * slope

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(Activation):
    """``y = x if x > 0 else alpha * (exp(x) - 1)``; ``f'(x) = 1 if x > 0 else y + alpha``."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def forward(self, x, training=False, in_place=False):
        negative = self.alpha * np.expm1(np.minimum(x, 0))
        y = np.where(x > 0, x, negative)
        slope = np.where(x > 0, 1, negative + self.alpha).astype(x.dtype)
        return y, lambda dy: dy * slope

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class SELU(Activation):
    """``y = scale * elu(x, alpha)`` with the self-normalizing constants of Klambauer et al."""

    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946

    def forward(self, x, training=False, in_place=False):
        negative = self.alpha * np.expm1(np.minimum(x, 0))
        y = (self.scale * np.where(x > 0, x, negative)).astype(x.dtype)
        slope = (self.scale * np.where(x > 0, 1, negative + self.alpha)).astype(x.dtype)
        return y, lambda dy: dy * slope


class GELU(Activation):
    """``y = x * Phi(x)``, Phi the standard normal CDF; ``f'(x) = Phi(x) + x * phi(x)``.

    ``approximate=True`` uses ``Phi(x) ~ (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) / 2``.
    """

    def __init__(self, approximate=False, **kwargs):
        super().__init__(**kwargs)
        self.approximate = bool(approximate)

    def forward(self, x, training=False, in_place=False):
        if self.approximate:
            c = math.sqrt(2 / math.pi)
            t = np.tanh(c * (x + 0.044715 * x ** 3))
            cdf = 0.5 * (1 + t)
            slope = cdf + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
        else:
            cdf = 0.5 * (1 + _erf(x / math.sqrt(2)).astype(x.dtype))
            pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
            slope = cdf + x * pdf
        return (x * cdf).astype(x.dtype), lambda dy: dy * slope.astype(x.dtype)

    def get_config(self):
        return {**super().get_config(), "approximate": self.approximate}


class OutputActivation(Activation):
    """An activation that can end a network and be fused into its loss (softmax, sigmoid):
    ``forward_logits`` leaves it out and passes the logits through."""

    @property
    def output_activation(self):
        return self

    def forward_logits(self, x, training=False):
        return x, _identity


class Sigmoid(OutputActivation):
    """``y = 1 / (1 + exp(-x))``; ``f'(x) = y * (1 - y)``."""

    def forward(self, x, training=False, in_place=False):
        y = ops.sigmoid(x)
        return y, lambda dy: dy * y * (1 - y)


class Tanh(Activation):
    """``y = tanh(x)``; ``f'(x) = 1 - y**2``."""

    def forward(self, x, training=False, in_place=False):
        y = np.tanh(x, out=x if in_place else None)
        return y, lambda dy: dy * (1 - y * y)


class Softmax(OutputActivation):
    """``y_i = exp(x_i) / sum_j exp(x_j)`` along ``axis``, one of the example's axes (not the
    batch axis: ``1 .. rank`` or ``-rank .. -1``).

    Its Jacobian is ``dy_i/dx_j = y_i (delta_ij - y_j)``, so ``dx = y * (dy - sum(dy * y))``.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ConfigurationError(f"Softmax axis must be an integer, got {axis!r}")
        self.axis = int(axis)

    def build(self, input_shape, rng, dtype):
        rank = len(input_shape)
        if not (1 <= self.axis <= rank or -rank <= self.axis <= -1):
            raise ConfigurationError(f"Softmax axis must name an axis of the example (1 to {rank}, or -{rank} "
                                     f"to -1) for inputs of shape (batch, {', '.join(map(str, input_shape))}), "
                                     f"got {self.axis}")

    def forward(self, x, training=False, in_place=False):
        y = ops.softmax(x, self.axis)

        def backward(dy):
            return y * (dy - (dy * y).sum(axis=self.axis, keepdims=True))

        return y, backward

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Softplus(Activation):
    """``y = log(1 + exp(x))``; ``f'(x) = sigmoid(x)``."""

    def forward(self, x, training=False, in_place=False):
        y = np.logaddexp(0, x).astype(x.dtype)
        slope = ops.sigmoid(x)
        return y, lambda dy: dy * slope


class Swish(Activation):
    """Swish, also called SiLU: ``y = x * sigmoid(x)``; ``f'(x) = s + x * s * (1 - s)``."""

    def forward(self, x, training=False, in_place=False):
        s = ops.sigmoid(x)
        slope = s * (1 + x * (1 - s))
        return x * s, lambda dy: dy * slope


ACTIVATIONS = {
    "linear": Linear, "relu": ReLU, "leaky_relu": LeakyReLU, "elu": ELU, "selu": SELU,
    "gelu": GELU, "sigmoid": Sigmoid, "tanh": Tanh, "softmax": Softmax, "softplus": Softplus,
    "swish": Swish, "silu": Swish,
}


def get(activation):
    """An activation layer from a name (``"relu"``), a spec, a Layer, or None (linear). An
    ``Activation("relu")`` gives the activation it applies (a ``ReLU``)."""
    if activation is None:
        return None
    if isinstance(activation, Layer):
        layer = activation
    elif isinstance(activation, dict):
        layer = serialization.deserialize(activation, {*ACTIVATIONS.values(), Activation}, "activation")
    elif isinstance(activation, str):
        layer = lookup(ACTIVATIONS, activation, "activation")()
    else:
        raise ConfigurationError(
            f"activation must be a name or a Layer, got {type(activation).__name__} {activation!r}")
    return layer.activation if type(layer) is Activation else layer


def serialize(activation):
    """The activation's name (``"relu"``) when it has only default arguments, else a layer spec."""
    extra = {k: v for k, v in activation.get_config().items() if k not in ("name", "input_shape")}
    names = [name for name, cls in ACTIVATIONS.items() if cls is type(activation)]
    if extra or not names:
        return {"class_name": saving.config_name(activation), "config": extra}
    return names[0]
