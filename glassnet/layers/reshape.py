"""Layers that only change the shape of their input."""
import math
import numbers

from ..errors import ConfigurationError, ShapeError
from .base import Layer


class Flatten(Layer):
    """``(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)``; the backward reshapes back."""

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x, training=False):
        shape = x.shape
        return x.reshape(shape[0], -1), lambda dy: dy.reshape(shape)


class Reshape(Layer):
    """``(batch, *input_shape) -> (batch, *target_shape)``, as Keras's ``Reshape``: the same
    numbers in the same (row-major) order, the batch axis untouched. One entry of
    ``target_shape`` may be -1, worked out from the input's size; the sizes must agree. The
    backward reshapes ``dy`` back to the input's shape."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(target_shape) if isinstance(target_shape, (list, tuple)) else None
        if not dims or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and (d > 0 or d == -1)
                               for d in dims) or dims.count(-1) > 1:
            raise ConfigurationError(f"Reshape target_shape must be a tuple of positive integers (no batch axis), "
                                     f"one of which may be -1, got {target_shape!r}")
        self.target_shape = tuple(int(d) for d in dims)

    def compute_output_shape(self, input_shape):
        size = math.prod(input_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape and size % known == 0:
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            target = ", ".join(map(str, self.target_shape))
            holds = f"a multiple of {known}" if -1 in self.target_shape else str(known)
            raise ShapeError(f"Reshape layer {self.name!r} cannot reshape inputs of shape (batch, "
                             f"{', '.join(map(str, input_shape))}), {size} numbers per example, to (batch, {target}), "
                             f"which holds {holds}")
        return self.target_shape

    def build(self, input_shape, rng, dtype):
        self.compute_output_shape(input_shape)

    def forward(self, x, training=False):
        shape = x.shape
        return x.reshape(shape[0], *self.compute_output_shape(shape[1:])), lambda dy: dy.reshape(shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}
