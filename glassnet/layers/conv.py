"""Convolutions, channels-last as in Keras: ``Conv2D`` on (batch, height, width, channels) and
``Conv1D`` on (batch, steps, channels), computed as im2col followed by one matrix product.

The math. A kernel ``W`` of shape (kh, kw, C, F) slides over the (padded) input ``xp``; output
pixel ``(p, q)`` of filter ``f`` is the sum over the window under the kernel:

    y[n, p, q, f] = b[f] + sum_{i < kh, j < kw, c < C} xp[n, p*sh + i*dh, q*sw + j*dw, c] * W[i, j, c, f]

(``sh, sw`` the strides, ``dh, dw`` the dilation). Gather each window into one row, its
``kh * kw * C`` numbers in the order (i, j, c) (im2col, "image to columns"):

    cols[(n, p, q), (i, j, c)] = xp[n, p*sh + i*dh, q*sw + j*dw, c]

and read the kernel as a matrix ``Wm = W.reshape(kh * kw * C, F)``, whose row ``(i, j, c)`` holds
``W[i, j, c, :]``. The triple sum is then exactly a row of ``cols`` times a column of ``Wm``,
so the whole layer is one matrix product:

    Y = cols @ Wm + b           Y: (batch * out_h * out_w, F) = y.reshape(-1, F)

Backward, by the chain rule on that product, given ``dY = dL/dY`` (``dy`` read as a matrix):

    dWm = cols.T @ dY           (every window times the gradient of the pixel it made)
    db = dY.sum(axis=0)         (the sum of dy over the batch and every pixel)
    dcols = dY @ Wm.T           (the gradient of each copied number)
    dx = col2im(dcols)          (each number went to every window that contains it: add them back)

``col2im`` scatter-adds each row of ``dcols`` back to the input pixels its window was copied from;
this is the transposed convolution (the forward's linear map, transposed): the convolution of
``dy``, spread out by the strides and padded, with the kernel flipped in space and its in and out
channels swapped. Its NumPy form is a loop over the ``kh * kw`` kernel offsets, each one slice
add of a whole tensor (``layer_kernels.col2im_reference``); the layer runs the compiled loop beside it,
``layer_kernels.col2im``, which adds each window back while that example's gradient is in cache and
takes about an eighth of the time (4 ms instead of 33 for 5x5 over 128 examples of 14x14x32).

``groups = g`` splits the channels into ``g`` groups of ``C / g`` and the filters into ``g``
groups of ``F / g``; filter group ``k`` sees only channel group ``k``. The kernel is then
(kh, kw, C / g, F) (Keras's layout) and the product is ``g`` products side by side, one batched
``np.matmul`` over a leading axis of ``g``.

Padding, per spatial axis of size ``n`` (Keras's rules, TensorFlow's "same"):

- ``"valid"``: no padding; ``out = floor((n - span) / s) + 1`` with ``span = d * (k - 1) + 1``
  the reach of the dilated kernel, which must fit: ``span <= n``.
- ``"same"``: ``out = ceil(n / s)``, zeros added so that the last window fits,
  ``total = max((out - 1) * s + span - n, 0)``, ``total // 2`` before and the rest after (an odd
  one at the bottom/right, as TensorFlow and PyTorch's ``padding="same"``, which allows stride 1 only).
- ``"causal"`` (Conv1D): ``span - 1`` zeros before, none after, so step ``t`` sees only steps <= t.

Memory: ``cols`` holds every input number once per kernel offset that reads it, about ``kh * kw``
times the input. For a batch of 128 of 28x28x32 through 64 filters of 5x5 with "same" padding it
is 100,352 rows of 800 numbers: 321 MB in float32, next to the 13 MB of the input, the 17 MB of
the padded input and the 26 MB of the output. So the layer never builds it whole: it copies the
windows of a slice of the batch at a time (``CHUNK_BYTES``, 4 MiB: here one example, 2.5 MB),
multiplies, and reuses the buffer for the next slice; the backward copies each slice's windows
again rather than keeping them from the forward. A step then holds the padded input, the output,
the input gradient and one slice's ``cols`` and ``dcols``, about what PyTorch holds, and the
products read a matrix that sits in cache (a single-threaded product of 588 x 800 by 800 x 64 ran
at 120 GFLOP/s, one of 25,088 x 800 at 47). The copy again costs about a tenth of the backward.
An example whose own windows would not fit in memory is refused before anything is allocated.
"""
import numpy as np

from .. import checks, initializers, layer_kernels, regularizers, threads
from ..errors import ConfigurationError, ShapeError
from . import activations, winograd
from .base import Layer
from .dense import Dense, affine_config
from .slices import OutputGradient
from .windows import Geometry, im2col, output_length, pad, spatial_sizes  # noqa: F401  (conv.pad, ... for callers)

# The most bytes of im2col matrix built at once: a slice of the batch whose windows take about
# this much (one example at least). Small enough to stay in cache (2 MiB of L2 per core here)
# while the products read it; large enough that each product is an efficient BLAS call and a
# batch of 128 is a few dozen calls, not hundreds (each a synchronization of BLAS's threads,
# which costs much more on a loaded machine). 1 to 4 MiB ran alike single-threaded.
CHUNK_BYTES = 4 * 2**20

# A batch whose im2col matrix takes at most this much is done in one piece, kept from the forward
# for the backward: a layer with few input channels, such as a first layer on pictures (128
# examples of 28x28x1 under a 5x5 kernel: 10 MB), then copies its windows once a step, not twice.
# Its products, with a short inner dimension (25), run as fast on the whole matrix as in slices.
WHOLE_BATCH_BYTES = 16 * 2**20

# How a convolution is computed: "im2col" (this module), "winograd" (``layers/winograd.py``: stride
# 1, no dilation or groups, kernels of 3 or 5) or "auto" (Winograd where it fits and gains).
ALGORITHMS = ("auto", "im2col", "winograd")
# "auto" takes Winograd from this many input channels and filters on: a training step of a batch of
# 128 took 0.56x to 0.75x im2col's time with 8 to 32 (3x3 and 5x5, 7x7 to 28x28 pictures, two
# threads), about the same with 4 (its products too thin, its transforms as costly)
WINOGRAD_MIN_CHANNELS = 8


def _grouped(matrix, groups):
    """(M, G * k) -> (G, M, k): the columns of each group side by side, as a view."""
    return matrix.reshape(matrix.shape[0], groups, -1).transpose(1, 0, 2)


class _Conv(Layer):
    """What Conv1D and Conv2D share; ``rank`` is the number of spatial axes. Internally a Conv1D
    is a Conv2D of height 1 (its input, kernel and gradients viewed with an axis of length 1)."""

    splits_work = True  # its slices or examples go to glassnet's threads (threads.splitting)

    rank = None
    paddings = ("valid", "same")
    example_shape = None  # the input shape named in messages

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, algorithm="auto", **kwargs):
        super().__init__(**kwargs)
        kind = type(self).__name__
        self.filters = checks.positive_int(f"{kind} filters", filters)
        self.kernel_size = spatial_sizes(kind, "kernel_size", kernel_size, self.rank)
        self.strides = spatial_sizes(kind, "strides", strides, self.rank)
        self.dilation_rate = spatial_sizes(kind, "dilation_rate", dilation_rate, self.rank)
        if not isinstance(padding, str) or padding.lower() not in self.paddings:
            raise ConfigurationError(f"{kind} padding must be one of {', '.join(map(repr, self.paddings))}, "
                                     f"got {padding!r}")
        self.padding = padding.lower()
        self.groups = checks.positive_int(f"{kind} groups", groups)
        if self.filters % self.groups:
            raise ConfigurationError(f"{kind} filters ({self.filters}) must be divisible by groups ({self.groups}): "
                                     "each group of input channels has its own filters")
        self.activation = activations.get(activation)
        if isinstance(self.activation, activations.Linear):
            self.activation = None
        # the output z is this layer's own array, so an Activation may compute over it (as in Dense)
        takes_in_place = isinstance(self.activation, activations.Activation)
        self._activation_options = {"in_place": True} if takes_in_place else {}
        self.use_bias = checks.boolean(f"{kind} use_bias", use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        if algorithm not in ALGORITHMS:
            raise ConfigurationError(f"{kind} algorithm must be one of {', '.join(map(repr, ALGORITHMS))}, "
                                     f"got {algorithm!r}")
        if algorithm == "winograd" and not self._winograd_fits():
            raise ConfigurationError(
                f"{kind} algorithm='winograd' needs a Conv2D with strides 1, dilation_rate 1, groups 1 and kernel "
                f"sizes in {winograd.KERNEL_SIZES}, got a {kind} with kernel_size {self.kernel_size}, strides "
                f"{self.strides}, dilation_rate {self.dilation_rate}, groups {self.groups}")
        self.algorithm = algorithm
        self.weight = self.bias = None

    def _winograd_fits(self):
        """Whether Winograd's F(2x2, kh x kw) computes this layer (``layers/winograd.py``)."""
        return (self.rank == 2 and all(k in winograd.KERNEL_SIZES for k in self.kernel_size)
                and max(self.strides) == 1 and max(self.dilation_rate) == 1 and self.groups == 1)

    def _winograd_plan(self, channels, dtype):
        """The ``winograd.Plan`` to run with, or None for im2col: ``algorithm="auto"`` takes
        Winograd where it fits and the layer has at least ``WINOGRAD_MIN_CHANNELS`` input channels
        and filters (with fewer, its products are too thin to gain on im2col's)."""
        if self.algorithm == "im2col" or not self._winograd_fits():
            return None
        if self.algorithm == "auto" and min(channels, self.filters) < WINOGRAD_MIN_CHANNELS:
            return None
        return winograd.Plan(self.kernel_size, dtype)

    # -- shapes ----------------------------------------------------------------------------------
    def _plane(self, values, fill):
        """A tuple of the layer's spatial arguments in 2-D form (a Conv1D's height is ``fill``)."""
        return (fill,) * (2 - self.rank) + tuple(values)

    def geometry(self, input_shape):
        """The ``Geometry`` of inputs of ``input_shape`` (no batch axis), in 2-D form; a
        ShapeError, naming what was expected and what came, when they do not fit."""
        kind = type(self).__name__
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 1:
            got = ", ".join(map(str, input_shape))
            raise ShapeError(f"layer {self.name!r} ({kind}) needs inputs of shape (batch, {self.example_shape}), got "
                             f"(batch, {got}){self._reshape_hint(input_shape)}")
        *size, channels = input_shape
        if channels % self.groups:
            raise ShapeError(f"layer {self.name!r} ({kind}) has groups={self.groups}, so its input's channels must be "
                             f"divisible by {self.groups}, got {channels} channels")
        axes = [output_length(n, k, s, d, self.padding)
                for n, k, s, d in zip(size, self.kernel_size, self.strides, self.dilation_rate)]
        if any(out == 0 for out, _, _ in axes):
            spans = [d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation_rate)]
            padded = [n + before + after for n, (_, before, after) in zip(size, axes)]
            dilated = ("" if max(self.dilation_rate) == 1
                       else f" (kernel_size {self.kernel_size} with dilation_rate {self.dilation_rate})")
            raise ShapeError(f"layer {self.name!r} ({kind}): its kernel spans {'x'.join(map(str, spans))}{dilated}, "
                             f"more than its input of {'x'.join(map(str, padded))} with padding {self.padding!r} "
                             f"(input shape {input_shape}); use padding='same', a smaller kernel or a larger input")
        return Geometry(self._plane(size, 1), self._plane([a[0] for a in axes], 1),
                        self._plane([a[1:] for a in axes], (0, 0)), channels)

    def _reshape_hint(self, input_shape):
        """What to put before this layer when its input has the wrong number of axes."""
        if len(input_shape) == self.rank:  # one axis short: the channel axis is missing
            return f": a channel axis is missing, add one with gn.layers.Reshape({(*input_shape, 1)})"
        if len(input_shape) == 1 and self.rank == 2:
            side = round(input_shape[0] ** 0.5)
            shape = f"({side}, {side}, 1)" if side * side == input_shape[0] else "(height, width, channels)"
            return f": reshape with gn.layers.Reshape({shape})"
        return ""

    def parameter_shapes(self, input_shape):
        """``weight``: (kh, kw, C / groups, filters) (Conv1D: (k, C / groups, filters)); ``bias``: (filters,)."""
        channels = self.geometry(input_shape).channels
        shapes = {"weight": (*self.kernel_size, channels // self.groups, self.filters)}
        if self.use_bias:
            shapes["bias"] = (self.filters,)
        return shapes

    def compute_output_shape(self, input_shape):
        output_size = self.geometry(input_shape).output_size
        return (*output_size[2 - self.rank:], self.filters)

    def build(self, input_shape, rng, dtype):
        shapes = self.parameter_shapes(input_shape)
        self.weight = self.add_parameter(
            "weight", self.kernel_initializer(shapes["weight"], rng, dtype), self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_parameter("bias", self.bias_initializer(shapes["bias"], rng, dtype),
                                           self.bias_regularizer)
        if self.activation is not None:
            self.activation.ensure_built(self.compute_output_shape(input_shape), rng, dtype)

    @property
    def output_activation(self):
        return None if self.activation is None else self.activation.output_activation

    # -- running ---------------------------------------------------------------------------------
    def forward(self, x, training=False):
        """``forward_logits``, then the activation over the layer's own z (in place), as Dense; a
        ReLU is done inside the convolution instead, slice by slice while each is in cache
        (``y = max(z, 0)`` after the bias; backward ``dz = dy * (y > 0)`` before the products)."""
        if type(self.activation) is activations.ReLU:
            return self._convolve(x, training, relu=True)
        return Dense.forward(self, x, training)

    def forward_logits(self, x, training=False):
        """``z = conv(x, W) + b`` and its backward (no activation); see the module docstring."""
        return self._convolve(x, training, relu=False)

    def _convolve(self, x, training, relu):
        """``z = conv(x, W) + b`` (``max(z, 0)`` with ``relu``) and its backward."""
        geometry = self.geometry(x.shape[1:])
        x4 = x.reshape(x.shape[0], *geometry.input_size, geometry.channels)  # Conv1D: height 1
        plan = self._winograd_plan(geometry.channels, x.dtype)
        if plan is not None:
            return self._winograd_forward(x, x4, geometry, plan, relu)
        xp = pad(x4, geometry.pads)
        kernel, strides = self._plane(self.kernel_size, 1), self._plane(self.strides, 1)
        dilation, output_size = self._plane(self.dilation_rate, 1), geometry.output_size
        g, n = self.groups, x.shape[0]
        weight_matrix = self.weight.value.reshape(-1, self.filters)  # Wm: (kh * kw * C / g, F)
        weight = _grouped(weight_matrix, g)  # (g, kh * kw * C / g, F / g)
        pixels = output_size[0] * output_size[1]
        z = np.empty((n, *output_size, self.filters), dtype=x.dtype)
        z_matrix = z.reshape(n * pixels, self.filters)
        chunk = self._chunk(n, pixels * weight_matrix.shape[0] * g * x.dtype.itemsize)

        # With one input channel a window's row is kw numbers (5, say): NumPy's copy of so short
        # rows is slow, so the matrices are built transposed, each row a run of out_w pixels
        # (4.5x faster for 28x28x1 under 5x5); the products read them as the transpose.
        transposed = geometry.channels == 1

        def matrices_in(buffer, size):
            """The im2col matrices (g, size, kh * kw * C / g) in ``buffer`` (a view)."""
            return buffer[:, :, :size].transpose(0, 2, 1) if transposed else buffer[:, :size]

        def cols_of(start, buffer):
            """The im2col matrices of examples ``start`` to ``start + chunk``, built in ``buffer``."""
            part = xp[start:start + chunk]
            size = len(part) * pixels
            target = buffer[:, :, :size] if transposed else buffer[:, :size]
            im2col(part, kernel, strides, dilation, output_size, g, target, transposed=transposed)
            return matrices_in(buffer, size)

        # the slices, dealt to glassnet's threads while a network that splits its work runs
        # (threads.splitting; one thread otherwise), each thread with a buffer for its slices' windows
        starts = list(range(0, n, chunk))
        workers = max(min(threads.workers(), len(starts)), 1)  # one (with no slice) for an empty batch
        kept = len(starts) <= workers  # one slice per thread: its windows stay in its buffer for the backward
        buffer_shape = (g, min(n, chunk) * pixels, weight.shape[1])
        buffers = [np.empty((g, *buffer_shape[:0:-1]) if transposed else buffer_shape, dtype=x.dtype)
                   for _ in range(workers)]

        def forward_slices(k, own_starts):
            for start in own_starts:
                rows = slice(start * pixels, min(start + chunk, n) * pixels)
                np.matmul(cols_of(start, buffers[k]), weight, out=_grouped(z_matrix[rows], g))  # Y = cols @ Wm
                if self.bias is not None:
                    z_matrix[rows] += self.bias.value
                if relu:
                    np.maximum(z_matrix[rows], 0, out=z_matrix[rows])

        threads.run_split(forward_slices, starts, workers)

        def backward(dz):
            dz_matrix = np.ascontiguousarray(dz).reshape(n * pixels, self.filters)  # dY
            grad = _grouped(self.weight.grad.reshape(-1, self.filters), g)
            dxp = np.zeros(xp.shape, dtype=xp.dtype) if self.compute_input_gradient else None

            def backward_slices(k, own_starts):
                """This thread's slices: its sums of dWm and db over them (the first thread's dWm
                straight into the gradient), and col2im of each into the input gradient."""
                buffer = buffers[k]
                total = grad if k == 0 else np.empty(grad.shape, grad.dtype)
                partial = np.empty(grad.shape, grad.dtype) if len(own_starts) > 1 else None
                dcols_buffer = np.empty(buffer_shape, buffer.dtype) if dxp is not None else None
                bias_sums = OutputGradient(self.bias, dz_matrix, chunk * pixels, relu)
                if not own_starts:
                    total[...] = 0  # the sum over no slice: an empty batch's
                for i, start in enumerate(own_starts):
                    rows = slice(start * pixels, min(start + chunk, n) * pixels)
                    # the forward's windows: still in the buffer if it held one slice, else copied again
                    cols = matrices_in(buffer, rows.stop - rows.start) if kept else cols_of(start, buffer)
                    dz_g = _grouped(bias_sums.add(dz_matrix[rows], z_matrix[rows]), g)
                    if i == 0:
                        np.matmul(cols.transpose(0, 2, 1), dz_g, out=total)  # dWm = cols.T @ dY, summed over slices
                    else:
                        total += np.matmul(cols.transpose(0, 2, 1), dz_g, out=partial)
                    if dxp is not None:
                        dcols = np.matmul(dz_g, weight.transpose(0, 2, 1),  # dY @ Wm.T
                                          out=dcols_buffer[:, :cols.shape[1]])
                        layer_kernels.col2im(dcols=dcols, dxp=dxp[start:start + chunk], kernel_h=kernel[0],
                                             kernel_w=kernel[1], stride_h=strides[0], stride_w=strides[1],
                                             dilation_h=dilation[0], dilation_w=dilation[1])  # dx = col2im(dcols)
                return total, bias_sums

            sums = threads.run_split(backward_slices, starts, workers)
            for total, _ in sums[1:]:
                grad += total  # the threads' sums, added in the order of the threads
            OutputGradient.store([bias_sums for _, bias_sums in sums])
            if dxp is None:
                return None
            (top, _), (left, _) = geometry.pads
            dx = dxp[:, top:top + geometry.input_size[0], left:left + geometry.input_size[1]]
            return dx.reshape(x.shape)

        return z.reshape(n, *output_size[2 - self.rank:], self.filters), backward

    def _winograd_forward(self, x, x4, geometry, plan, relu):
        """``forward_logits`` by ``winograd.convolve``: the input padded as the tiles read it (the
        layer's padding, then zeros at the bottom and right up to ``plan.padded_size``)."""
        (top, _), (left, _) = geometry.pads
        height, width = plan.padded_size(geometry.output_size)
        (h, w) = geometry.input_size
        pads = ((top, height - h - top), (left, width - w - left))
        z, backward_x4 = winograd.convolve(self, x4, pads, geometry.output_size, plan, relu)

        def backward(dz):
            dx = backward_x4(dz)
            return None if dx is None else dx.reshape(x.shape)

        return z, backward

    def _chunk(self, batch, bytes_per_example):
        """How many examples' windows to copy at once: the whole batch when its windows take at
        most ``WHOLE_BATCH_BYTES`` (the backward then reads the forward's, not a copy), else
        ``CHUNK_BYTES`` worth, one at least (and one example's matrix must fit in memory)."""
        checks.affordable(f"the im2col matrix of one example in layer {self.name!r}", bytes_per_example)
        if batch * bytes_per_example <= WHOLE_BATCH_BYTES:  # one slice per thread (threads.workers())
            return max(-(-batch // threads.workers()), 1)
        return max(1, CHUNK_BYTES // max(bytes_per_example, 1))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "dilation_rate": list(self.dilation_rate),
                "groups": self.groups, **affine_config(self), "algorithm": self.algorithm}


class Conv2D(_Conv):
    """A 2-D convolution of ``filters`` filters over (batch, height, width, channels) inputs, with
    Keras's arguments and defaults; the kernel is (kh, kw, channels / groups, filters).

    Forward, for each example ``n``, output pixel ``(p, q)`` and filter ``f`` (``xp``: the padded input):

        z[n, p, q, f] = b[f] + sum_{i, j, c} xp[n, p*sh + i*dh, q*sw + j*dw, c] * W[i, j, c, f]
        y = activation(z)

    computed as ``Y = im2col(xp) @ W.reshape(-1, filters) + b``. Backward, given ``dY``:

        dW = im2col(xp).T @ dY,   db = dY.sum(axis=0),   dx = col2im(dY @ W.reshape(-1, filters).T)

    ``padding``: ``"valid"`` or ``"same"`` (TensorFlow's: an odd padding's extra row and column go at
    the bottom and right). ``strides`` and ``dilation_rate`` may both be above 1 (Keras refuses
    that; PyTorch and ONNX allow it, and the formula holds). The module docstring has the rest.
    """

    rank = 2
    example_shape = "height, width, channels"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1), groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, algorithm="auto", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, dilation_rate, groups, activation, use_bias,
                         kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, algorithm,
                         **kwargs)


class Conv1D(_Conv):
    """A 1-D convolution over (batch, steps, channels) inputs, with Keras's arguments and defaults;
    the kernel is (k, channels / groups, filters):

        z[n, t, f] = b[f] + sum_{i, c} xp[n, t*s + i*d, c] * W[i, c, f],   y = activation(z)

    It is ``Conv2D``'s computation on a height of 1. ``padding`` may also be ``"causal"``: ``d * (k
    - 1)`` zeros before the first step and none after, so output step ``t`` sees only steps up to ``t``.
    """

    rank = 1
    paddings = ("valid", "same", "causal")
    example_shape = "steps, channels"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, algorithm="auto", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, dilation_rate, groups, activation, use_bias,
                         kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, algorithm,
                         **kwargs)
