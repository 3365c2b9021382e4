"""Layers and markers that only change or declare shapes."""
import math

from .. import checks
from .base import Layer


class Flatten(Layer):
    """``(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)``; the backward reshapes back."""

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x, training=False):
        shape = x.shape
        return x.reshape(shape[0], -1), lambda dy: dy.reshape(shape)


class Input:
    """Declares the shape of one example (no batch axis), as the first entry of a Sequential:

        gn.Sequential([gn.layers.Input((784,)), gn.layers.Dense(10)])

    so that ``summary()`` can show shapes and parameter counts before any data is seen.
    """

    def __init__(self, shape):
        self.shape = checks.shape("Input shape", shape)

    def __repr__(self):
        return f"Input(shape={self.shape})"
