"""Pooling, channels-last as in Keras: the maximum or the mean of each window, channel by channel.

For a pool of (ph, pw) with strides (sh, sw) over the (padded) input ``xp``, output pixel ``(p, q)``
of channel ``c`` reads the window

    xp[n, p*sh + i, q*sw + j, c]     for i < ph, j < pw

and takes its maximum (``MaxPooling2D``) or mean (``AveragePooling2D``). In NumPy both are a loop
over the ``ph * pw`` offsets ``(i, j)`` of the window: offset ``(i, j)`` of every window at once is
one strided slice of ``xp`` (``offset_slices``), so the forward is ``ph * pw`` whole-tensor
operations with no loop over pixels, and the backward is the same loop sending ``dy`` back
through the slices:

- max: ``dx`` gets ``dy`` at the position of each window's maximum, 0 elsewhere. When several
  entries of a window tie for the maximum (windows of zeros after a ReLU are common), the first
  in the window's row-major order (smallest ``i``, then smallest ``j``) gets it all; PyTorch
  also gives it to one entry, and the tests compare with it on inputs without ties.
- mean: ``dx`` gets ``dy / count`` at every position of the window (``count`` its number of cells).

The average runs that NumPy loop. The max runs compiled loops (``layer_kernels.max_pool``,
``layer_kernels.max_pool_backward``) whose NumPy references are exactly that loop: keeping the offset of
each window's first maximum takes three passes over the output per offset in NumPy, and the
training step of a 2x2 max pooling of 128 examples of 28x28x32 took 97 ms that way against
PyTorch's 48; compiled, 17 ms (each a single thread, on a loaded machine).

Padding ``"valid"`` / ``"same"`` follows ``windows.output_length``, Keras's (and TensorFlow's) rule;
the padded cells never count: a max pools over the real cells only (padding is ``-inf``) and a
mean divides by the number of real cells in its window (``count_include_pad=False`` in PyTorch).
"""
import math

import numpy as np

from .. import checks, layer_kernels, threads
from ..errors import ConfigurationError, ShapeError
from .base import Layer
from .windows import output_length, pad, spatial_sizes

# How many examples the max pooling's backward clears and fills at a time (each thread its own).
BACKWARD_EXAMPLES = 8


def offset_slices(pool, strides, output_size):
    """For each offset ``(i, j)`` of a window, in row-major order, the slices of the padded input
    that hold that offset of every window: rows ``i, i + sh, ...`` and columns ``j, j + sw, ...``."""
    (ph, pw), (sh, sw), (out_h, out_w) = pool, strides, output_size
    return [(slice(None), slice(i, i + sh * (out_h - 1) + 1, sh), slice(j, j + sw * (out_w - 1) + 1, sw))
            for i in range(ph) for j in range(pw)]


def window_counts(size, pads, slices, dtype):
    """The number of real (not padded) cells in each window, shaped (out_h, out_w, 1) to divide
    by: the pool's area everywhere unless "same" padding added cells at the borders. ``size`` is
    the input's (H, W), ``slices`` the ``offset_slices`` of the pool."""
    (top, bottom), (left, right) = pads
    real = np.zeros((1, size[0] + top + bottom, size[1] + left + right, 1), dtype)
    real[:, top:top + size[0], left:left + size[1]] = 1
    return sum(real[s] for s in slices)[0]


class _Pooling(Layer):
    """What the max and average poolings share; ``rank`` is the number of spatial axes (a 1-D
    pooling runs as a 2-D one of height 1)."""

    splits_work = True  # its slices or examples go to glassnet's threads (threads.splitting)

    rank = None
    example_shape = None

    def __init__(self, pool_size, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        kind = type(self).__name__
        self.pool_size = spatial_sizes(kind, "pool_size", pool_size, self.rank)
        strides = spatial_sizes(kind, "strides", strides, self.rank, allow_none=True)
        self.strides = self.pool_size if strides is None else strides  # Keras: strides default to pool_size
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ConfigurationError(f"{kind} padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding.lower()

    def _plane(self, values, fill):
        return (fill,) * (2 - self.rank) + tuple(values)

    def geometry(self, input_shape):
        """``(input_size, output_size, pads, channels)`` in 2-D form (see ``windows.Geometry``); a
        ShapeError when the input does not fit."""
        kind = type(self).__name__
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 1:
            raise ShapeError(f"layer {self.name!r} ({kind}) needs inputs of shape (batch, {self.example_shape}), "
                             f"got (batch, {', '.join(map(str, input_shape))})")
        *size, channels = input_shape
        axes = [output_length(n, k, s, 1, self.padding) for n, k, s in zip(size, self.pool_size, self.strides)]
        if any(out == 0 for out, _, _ in axes):
            raise ShapeError(f"layer {self.name!r} ({kind}): its pool of {'x'.join(map(str, self.pool_size))} is "
                             f"larger than its input of {'x'.join(map(str, size))} (input shape {input_shape}) with "
                             "padding 'valid'; use padding='same' or a smaller pool_size")
        return (self._plane(size, 1), self._plane([a[0] for a in axes], 1),
                self._plane([a[1:] for a in axes], (0, 0)), channels)

    def compute_output_shape(self, input_shape):
        _, output_size, _, channels = self.geometry(input_shape)
        return (*output_size[2 - self.rank:], channels)

    def build(self, input_shape, rng, dtype):
        self.geometry(input_shape)

    def forward(self, x, training=False):
        input_size, output_size, pads, channels = self.geometry(x.shape[1:])
        x4 = x.reshape(x.shape[0], *input_size, channels)  # a 1-D pooling: height 1
        y, backward4 = self._pool(x4, output_size, pads, self._plane(self.pool_size, 1),
                                  self._plane(self.strides, 1), training)

        def backward(dy):
            dxp = backward4(dy.reshape(x.shape[0], *output_size, channels))
            (top, _), (left, _) = pads
            return dxp[:, top:top + input_size[0], left:left + input_size[1]].reshape(x.shape)

        return y.reshape(x.shape[0], *output_size[2 - self.rank:], channels), backward

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


class _MaxPooling(_Pooling):
    def _pool(self, x, output_size, pads, pool, strides, training):
        """``y`` = the maximum of each window and ``first``, the offset of its first maximum
        (``layer_kernels.max_pool``; its NumPy reference is the loop over offsets of the module
        docstring); the backward adds ``dy`` at those offsets (``layer_kernels.max_pool_backward``)."""
        xp = pad(x, pads, -np.inf)
        y = np.empty((x.shape[0], *output_size, x.shape[3]), x.dtype)
        first = np.empty(y.shape, np.uint8 if pool[0] * pool[1] <= 256 else np.intp)
        options = dict(pool_h=pool[0], pool_w=pool[1], stride_h=strides[0], stride_w=strides[1])
        # the examples in runs, one per thread while the network splits its work (threads.py)
        threads.run_ranges(
            lambda a, b: layer_kernels.max_pool(xp=xp[a:b], y=y[a:b], first=first[a:b], **options), len(x))

        def backward(dy):
            dxp = np.empty(xp.shape, dy.dtype)
            dy = np.ascontiguousarray(dy)

            def examples(a, b):
                """Zeros, then the gradient added, a few examples at a time: their part of dxp
                stays in cache between the two, and each thread clears its own examples."""
                for start in range(a, b, BACKWARD_EXAMPLES):
                    part = slice(start, min(start + BACKWARD_EXAMPLES, b))
                    dxp[part] = 0
                    layer_kernels.max_pool_backward(dy=dy[part], first=first[part], dxp=dxp[part], **options)

            threads.run_ranges(examples, len(dy))
            return dxp

        return y, backward


class _AveragePooling(_Pooling):
    def _pool(self, x, output_size, pads, pool, strides, training):
        """``y`` = the sum over the window's offsets divided by ``count``, the number of real
        (not padded) cells of each window."""
        xp = pad(x, pads)
        slices = offset_slices(pool, strides, output_size)
        y = xp[slices[0]].copy()
        for window_offset in slices[1:]:
            y += xp[window_offset]
        count = window_counts(x.shape[1:3], pads, slices, x.dtype)
        y /= count

        def backward(dy):
            share = dy / count  # each cell of a window gets dy / count
            dxp = np.zeros(xp.shape, dy.dtype)
            for window_offset in slices:
                dxp[window_offset] += share
            return dxp

        return y, backward


class MaxPooling2D(_MaxPooling):
    """The maximum of each (ph, pw) window of (batch, height, width, channels) inputs, channel by
    channel; Keras's arguments (``strides`` default to ``pool_size``). Backward: ``dy`` goes to
    the window's maximum (the first, in row-major order, when several tie); see the module docstring."""

    rank = 2
    example_shape = "height, width, channels"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(pool_size, strides, padding, **kwargs)


class AveragePooling2D(_AveragePooling):
    """The mean of each (ph, pw) window of (batch, height, width, channels) inputs, channel by
    channel; Keras's arguments. With ``padding="same"`` a window at the border averages over its
    real cells only. Backward: ``dy / count`` to every cell of the window."""

    rank = 2
    example_shape = "height, width, channels"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(pool_size, strides, padding, **kwargs)


class MaxPooling1D(_MaxPooling):
    """``MaxPooling2D`` along the steps of (batch, steps, channels) inputs."""

    rank = 1
    example_shape = "steps, channels"

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(pool_size, strides, padding, **kwargs)


class AveragePooling1D(_AveragePooling):
    """``AveragePooling2D`` along the steps of (batch, steps, channels) inputs."""

    rank = 1
    example_shape = "steps, channels"

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(pool_size, strides, padding, **kwargs)


class _GlobalAveragePooling(Layer):
    """The mean over every spatial axis, channel by channel:

        y[n, c] = sum_{p, q} x[n, p, q, c] / (H * W),      dx[n, p, q, c] = dy[n, c] / (H * W)

    ``keepdims=True`` keeps the spatial axes with length 1 ((batch, 1, 1, channels)), as Keras."""

    rank = None
    example_shape = None

    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = checks.boolean(f"{type(self).__name__} keepdims", keepdims)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 1:
            raise ShapeError(f"layer {self.name!r} ({type(self).__name__}) needs inputs of shape (batch, "
                             f"{self.example_shape}), got (batch, {', '.join(map(str, input_shape))})")
        return (*(1,) * self.rank, input_shape[-1]) if self.keepdims else (input_shape[-1],)

    def build(self, input_shape, rng, dtype):
        self.compute_output_shape(input_shape)

    def forward(self, x, training=False):
        axes = tuple(range(1, self.rank + 1))
        y = x.mean(axis=axes, keepdims=self.keepdims)
        cells = math.prod(x.shape[1:-1])

        def backward(dy):
            dx = np.empty(x.shape, dy.dtype)
            dx[...] = (dy if self.keepdims else dy.reshape(len(dy), *(1,) * self.rank, -1)) / dy.dtype.type(cells)
            return dx

        return y, backward

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalAveragePooling):
    __doc__ = _GlobalAveragePooling.__doc__
    rank = 2
    example_shape = "height, width, channels"


class GlobalAveragePooling1D(_GlobalAveragePooling):
    """The mean over the steps of (batch, steps, channels) inputs, channel by channel:
    ``y[n, c] = sum_t x[n, t, c] / T``, ``dx[n, t, c] = dy[n, c] / T``; ``keepdims`` as Keras."""

    rank = 1
    example_shape = "steps, channels"
