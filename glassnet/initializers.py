"""Weight initializers: functions of ``(shape, rng, dtype)`` that return a new array.

For a weight matrix of shape ``(fan_in, fan_out)``:

| name | distribution | variance |
| --- | --- | --- |
| ``he_normal`` / ``he_uniform`` | truncated normal / uniform | 2 / fan_in (for ReLU) |
| ``glorot_normal`` / ``glorot_uniform`` | truncated normal / uniform | 2 / (fan_in + fan_out) |
| ``lecun_normal`` / ``lecun_uniform`` | truncated normal / uniform | 1 / fan_in (for SELU) |
| ``uniform`` | uniform on [-0.05, 0.05] (Keras's ``RandomUniform()``, an Embedding's default) | 0.05**2 / 3 |
| ``zeros``, ``ones`` | constant | 0 |

The normal variants are truncated at two standard deviations and rescaled to keep the variance,
as Keras does; a uniform on ``[-a, a]`` has variance ``a**2 / 3``. ``shape`` must be positive
integers whose array fits in memory, ``rng`` a ``numpy.random.Generator``, ``dtype`` float32 or
float64 (a ConfigurationError otherwise).
"""
import math

import numpy as np

from . import checks, saving
from .errors import ConfigurationError, lookup

# Standard deviation of a unit normal truncated to [-2, 2], used to rescale the truncated draws.
_TRUNCATED_STD = 0.87962566103423978


def _checked(shape, dtype, rng=None, random=False):
    """``(shape, dtype)`` checked: an array of them fits in memory (with the float64 draws), and
    a random initializer has a generator."""
    shape = checks.shape("initializer shape", shape)
    dtype = checks.float_dtype("initializer dtype", dtype)
    if random and not isinstance(rng, np.random.Generator):
        raise ConfigurationError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    checks.affordable(f"a weight array of shape {shape}", math.prod(shape) * (8 + dtype.itemsize))
    return shape, dtype


def _fans(shape):
    shape = checks.shape("initializer shape", shape)
    if len(shape) == 1:
        return shape[0], shape[0]
    # A convolution kernel (kh, kw, in, out): each output sees kh * kw * in inputs (Keras's rule).
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _truncated_normal(shape, rng, dtype, variance):
    shape, dtype = _checked(shape, dtype, rng, random=True)
    std = np.sqrt(variance) / _TRUNCATED_STD
    draws = rng.standard_normal(shape)
    outside = np.abs(draws) > 2
    while outside.any():  # redraw the tails: a handful of rounds at most
        draws[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(draws) > 2
    return (draws * std).astype(dtype)


def _uniform(shape, rng, dtype, variance):
    shape, dtype = _checked(shape, dtype, rng, random=True)
    limit = np.sqrt(3.0 * variance)
    return rng.uniform(-limit, limit, shape).astype(dtype)


def he_normal(shape, rng, dtype=np.float32):
    return _truncated_normal(shape, rng, dtype, 2.0 / _fans(shape)[0])


def he_uniform(shape, rng, dtype=np.float32):
    return _uniform(shape, rng, dtype, 2.0 / _fans(shape)[0])


def glorot_normal(shape, rng, dtype=np.float32):
    fan_in, fan_out = _fans(shape)
    return _truncated_normal(shape, rng, dtype, 2.0 / (fan_in + fan_out))


def glorot_uniform(shape, rng, dtype=np.float32):
    fan_in, fan_out = _fans(shape)
    return _uniform(shape, rng, dtype, 2.0 / (fan_in + fan_out))


def lecun_normal(shape, rng, dtype=np.float32):
    return _truncated_normal(shape, rng, dtype, 1.0 / _fans(shape)[0])


def lecun_uniform(shape, rng, dtype=np.float32):
    return _uniform(shape, rng, dtype, 1.0 / _fans(shape)[0])


def uniform(shape, rng, dtype=np.float32):
    return _uniform(shape, rng, dtype, 0.05 ** 2 / 3)


def zeros(shape, rng=None, dtype=np.float32):
    return np.zeros(*_checked(shape, dtype))


def ones(shape, rng=None, dtype=np.float32):
    return np.ones(*_checked(shape, dtype))


INITIALIZERS = {f.__name__: f for f in (he_normal, he_uniform, glorot_normal, glorot_uniform,
                                        lecun_normal, lecun_uniform, uniform, zeros, ones)}


def get(initializer):
    """An initializer from its name (a registered one's ``"package>name"``), or the callable itself."""
    if callable(initializer):
        return initializer
    if isinstance(initializer, str) and saving.SEPARATOR in initializer:
        return saving.resolve_function(initializer, "initializer")
    return lookup(INITIALIZERS, initializer, "initializer")


def name_of(initializer):
    """The name of an initializer in a layer's config: glassnet's own, or the registered one."""
    for name, function in INITIALIZERS.items():
        if function is initializer:
            return name
    registered = saving.registered_name(initializer)
    if registered is None:
        raise ConfigurationError(f"initializer {initializer!r} is not registered; decorate it with "
                                 "@gn.saving.register(package=...) to save it by name")
    return registered
