"""Each glassnet layer as ONNX operators, the inference forward only (Dropout is the identity).

A converter is ``function(graph, layer, x, name) -> y``: it adds the layer's operators to
``graph`` (a ``Graph``) on the tensor named ``x`` and returns the name of the layer's output,
which it calls ``name`` (the layer's name; ``dense/relu`` for the activation of ``dense``).
A merge layer's converter (``Add``, ``Concatenate``, ...: a ``layers.Merge``) gets ``x`` as a
list of tensor names, one per input in order, and returns one name as well.
Converters are looked up by the layer's exact class, so a subclass with a forward of its own is
never exported with its parent's math; ``register`` adds one for a layer of your own.
"""
import math

import numpy as np

from .. import layers
from ..layers.pooling import offset_slices, window_counts
from ..errors import ExportError


def dense(graph, layer, x, name):
    """``z = x @ W + b`` (``Gemm``, or ``MatMul`` without a bias), then the activation."""
    weight = graph.constant(layer.weight.name, layer.weight.value)
    if layer.bias is None:
        z = graph.node("MatMul", [x, weight], name)
    else:
        z = graph.node("Gemm", [x, weight, graph.constant(layer.bias.name, layer.bias.value)], name)
    if layer.activation is None:
        return z
    return convert(graph, layer.activation, z, f"{name}/{layer.activation.name}")


def embedding(graph, layer, x, name):
    """``y = E[ids]``: a ``Gather`` of the weight's rows at the graph's int64 ids."""
    return graph.node("Gather", [graph.constant(layer.weight.name, layer.weight.value), x], name, axis=0)


def gelu(graph, layer, x, name):
    """``x * Phi(x)``: ``Phi(x) = (1 + erf(x / sqrt(2))) / 2``, or with ``approximate=True``
    ``(1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) / 2``, as glassnet computes it."""
    if layer.approximate:
        cube = graph.node("Mul", [x, graph.node("Mul", [x, x], f"{name}/square")], f"{name}/cube")
        inner = graph.node("Add", [x, graph.node("Mul", [cube, graph.constant(f"{name}/c3", 0.044715)],
                                                 f"{name}/cubic_term")], f"{name}/inner")
        scaled = graph.node("Mul", [inner, graph.constant(f"{name}/c", math.sqrt(2 / math.pi))], f"{name}/scaled")
        core = graph.node("Tanh", [scaled], f"{name}/tanh")
    else:
        scaled = graph.node("Div", [x, graph.constant(f"{name}/sqrt2", math.sqrt(2))], f"{name}/scaled")
        core = graph.node("Erf", [scaled], f"{name}/erf")
    one_plus = graph.node("Add", [core, graph.constant(f"{name}/one", 1.0)], f"{name}/one_plus")
    cdf = graph.node("Mul", [one_plus, graph.constant(f"{name}/half", 0.5)], f"{name}/cdf")
    return graph.node("Mul", [x, cdf], name)


def leaky_relu(graph, layer, x, name):
    """``PRelu`` with the slope as a weight: ``LeakyRelu``'s attribute would round it to float32."""
    return graph.node("PRelu", [x, graph.constant(f"{name}/slope", [layer.negative_slope])], name)


def swish(graph, layer, x, name):
    """``x * sigmoid(x)``."""
    return graph.node("Mul", [x, graph.node("Sigmoid", [x], f"{name}/sigmoid")], name)


def batch_normalization(graph, layer, x, name):
    """Inference, folded into one scale and one shift per feature: ``y = x * a + c`` with
    ``a = gamma / sqrt(moving_variance + eps)`` and ``c = beta - moving_mean * a``."""
    a = 1 / np.sqrt(layer.moving_variance.value.astype(np.float64) + layer.epsilon)
    if layer.gamma is not None:
        a = a * layer.gamma.value
    c = -layer.moving_mean.value * a
    if layer.beta is not None:
        c = c + layer.beta.value
    scaled = graph.node("Mul", [x, graph.constant(f"{name}/scale", a)], f"{name}/scaled")
    return graph.node("Add", [scaled, graph.constant(f"{name}/shift", c)], name)


def layer_normalization(graph, layer, x, name):
    """``x_hat = (x - mean) / sqrt(var + eps)`` over the last axis, each mean a product with a
    column of ``1 / n`` (``MatMul`` reads the same in every opset, ``ReduceMean`` does not), then
    ``gamma * x_hat + beta``."""
    features = layer.input_shape[-1]
    average = graph.constant(f"{name}/average", np.full((features, 1), 1 / features))
    centered = graph.node("Sub", [x, graph.node("MatMul", [x, average], f"{name}/mean")], f"{name}/centered")
    square = graph.node("Mul", [centered, centered], f"{name}/square")
    variance = graph.node("MatMul", [square, average], f"{name}/variance")
    std = graph.node("Sqrt", [graph.node("Add", [variance, graph.constant(f"{name}/epsilon", layer.epsilon)],
                                         f"{name}/variance_eps")], f"{name}/std")
    y = graph.node("Div", [centered, std], f"{name}/normalized")
    if layer.gamma is not None:
        y = graph.node("Mul", [y, graph.constant(layer.gamma.name, layer.gamma.value)], f"{name}/scaled")
    if layer.beta is not None:
        y = graph.node("Add", [y, graph.constant(layer.beta.name, layer.beta.value)], f"{name}/shifted")
    return y


def activation(graph, layer, x, name):
    """``Activation("relu")``: the converter of the activation it applies, under the layer's name."""
    return convert(graph, layer.activation, x, name)


def reshape(graph, layer, x, name):
    """``Reshape`` with the shape ``[0, *output_shape]``: 0 keeps the batch axis as it comes (the
    ONNX default ``allowzero=0``), and a -1 of ``target_shape`` is already worked out from the
    known input shape, so the graph holds no -1."""
    shape = [0, *layer.compute_output_shape(layer.input_shape)]
    return graph.node("Reshape", [x, graph.constant(f"{name}/shape", shape, dtype=np.int64)], name)


# -- convolutions and pooling ---------------------------------------------------------------------
# glassnet is channels-last, ONNX's Conv and pooling operators channels-first: each such layer
# transposes its input to channels-first and its output back (ONNX Runtime's optimizer removes the
# pairs that meet between two such layers). ONNX Runtime has no float64 Conv, AveragePool or
# GlobalAveragePool, so a float64 graph computes those as glassnet does, channels-last: im2col as
# a Gather of the padded pixels, then a MatMul (or a ReduceSum for a mean).
_TO_CHANNELS_FIRST = {1: [0, 2, 1], 2: [0, 3, 1, 2]}
_TO_CHANNELS_LAST = {1: [0, 2, 1], 2: [0, 2, 3, 1]}


def _onnx_pads(layer):
    """ONNX's ``pads`` (every axis's start, then every axis's end) of a conv or pooling layer."""
    _, _, pads, _ = layer.geometry(layer.input_shape)
    pads = pads[2 - layer.rank:]
    return [before for before, _ in pads] + [after for _, after in pads]


def _channels_first(graph, layer, x, name, op, inputs=(), **attributes):
    """``op`` on ``x`` transposed to channels-first, its output transposed back."""
    rank = layer.rank
    first = graph.node("Transpose", [x], f"{name}/channels_first", perm=_TO_CHANNELS_FIRST[rank])
    y = graph.node(op, [first, *inputs], f"{name}/{op.lower()}", **attributes)
    return graph.node("Transpose", [y], name, perm=_TO_CHANNELS_LAST[rank])


def _gathered_windows(graph, layer, x, name, window, strides, dilation):
    """im2col in operators, channels-last: ``x`` padded with zeros (``Pad``), its pixels in one
    axis (``Reshape`` to (batch, pixels, C)), and the pixels of every window gathered in order
    (``Gather`` of a fixed index array): (batch, out_pixels * window_cells, C)."""
    input_size, output_size, pads, channels = layer.geometry(layer.input_shape)
    (top, bottom), (left, right) = pads
    padded_width = input_size[1] + left + right
    rank = layer.rank
    if top or bottom or left or right:
        befores, afters = [p[0] for p in pads[2 - rank:]], [p[1] for p in pads[2 - rank:]]
        x = graph.node("Pad", [x, graph.constant(f"{name}/pads", [0, *befores, 0, 0, *afters, 0], dtype=np.int64)],
                       f"{name}/padded")
    pixels = (input_size[0] + top + bottom) * padded_width
    flat = graph.node("Reshape", [x, graph.constant(f"{name}/pixels", [0, pixels, channels], dtype=np.int64)],
                      f"{name}/pixels")
    (kh, kw), (sh, sw), (dh, dw) = window, strides, dilation
    p, q, i, j = np.meshgrid(np.arange(output_size[0]), np.arange(output_size[1]), np.arange(kh), np.arange(kw),
                             indexing="ij")
    index = (p * sh + i * dh) * padded_width + (q * sw + j * dw)  # the padded pixel of window (p, q), offset (i, j)
    return graph.node("Gather", [flat, graph.constant(f"{name}/windows", index.reshape(-1), dtype=np.int64)],
                      f"{name}/windows", axis=1)


def _plane(layer, values, fill):
    return (fill,) * (2 - layer.rank) + tuple(values)


def conv(graph, layer, x, name):
    """``Conv`` on channels-first (float32), or im2col and ``MatMul`` channels-last (float64);
    then the activation. The kernel (kh, kw, C / groups, F) becomes ONNX's (F, C / groups, kh, kw)."""
    weight, bias = layer.weight.value, None if layer.bias is None else layer.bias.value
    if graph.dtype == np.float32:
        inputs = [graph.constant(layer.weight.name, np.moveaxis(weight, (-1, -2), (0, 1)))]
        if bias is not None:
            inputs.append(graph.constant(layer.bias.name, bias))
        z = _channels_first(graph, layer, x, name if layer.activation is None else f"{name}/z", "Conv", inputs,
                            kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                            dilations=list(layer.dilation_rate), group=layer.groups, pads=_onnx_pads(layer))
    else:
        z = _conv_as_product(graph, layer, x, name if layer.activation is None else f"{name}/z")
    if layer.activation is None:
        return z
    return convert(graph, layer.activation, z, f"{name}/{layer.activation.name}")


def _conv_as_product(graph, layer, x, name):
    """The layer's own computation: ``cols @ Wm + b`` on the gathered windows, per group."""
    _, output_size, _, channels = layer.geometry(layer.input_shape)
    g, filters = layer.groups, layer.filters
    cells = int(np.prod(layer.kernel_size))
    out_pixels = output_size[0] * output_size[1]
    gathered = _gathered_windows(graph, layer, x, name, _plane(layer, layer.kernel_size, 1),
                                 _plane(layer, layer.strides, 1), _plane(layer, layer.dilation_rate, 1))
    weight = layer.weight.value.reshape(-1, g, filters // g).transpose(1, 0, 2)  # (g, cells * C / g, F / g)
    shape = graph.constant(f"{name}/cols_shape", [0, out_pixels, cells, g, channels // g], dtype=np.int64)
    cols = graph.node("Transpose", [graph.node("Reshape", [gathered, shape], f"{name}/cols_by_group")],
                      f"{name}/group_first", perm=[0, 3, 1, 2, 4])  # (batch, g, out_pixels, cells, C / g)
    cols = graph.node("Reshape", [cols, graph.constant(f"{name}/cols", [0, g, out_pixels, cells * channels // g],
                                                        dtype=np.int64)], f"{name}/cols")
    product = graph.node("MatMul", [cols, graph.constant(f"{layer.weight.name}/by_group", weight)], f"{name}/product")
    z = graph.node("Transpose", [product], f"{name}/pixel_first", perm=[0, 2, 1, 3])  # (batch, out_pixels, g, F / g)
    out_shape = [0, *output_size[2 - layer.rank:], filters]
    z = graph.node("Reshape", [z, graph.constant(f"{name}/shape", out_shape, dtype=np.int64)],
                   name if layer.bias is None else f"{name}/product_image")
    if layer.bias is None:
        return z
    return graph.node("Add", [z, graph.constant(layer.bias.name, layer.bias.value)], name)


def max_pooling(graph, layer, x, name):
    """``MaxPool`` on channels-first; "same" padding as explicit pads, which a max never picks."""
    return _channels_first(graph, layer, x, name, "MaxPool", kernel_shape=list(layer.pool_size),
                           strides=list(layer.strides), pads=_onnx_pads(layer))


def average_pooling(graph, layer, x, name):
    """``AveragePool`` on channels-first with ``count_include_pad=0`` (a border window averages its
    real cells, as Keras); float64: the gathered windows summed (``ReduceSum``) and divided by
    their counts."""
    if graph.dtype == np.float32:
        return _channels_first(graph, layer, x, name, "AveragePool", kernel_shape=list(layer.pool_size),
                               strides=list(layer.strides), pads=_onnx_pads(layer), count_include_pad=0)
    input_size, output_size, pads, channels = layer.geometry(layer.input_shape)
    pool = _plane(layer, layer.pool_size, 1)
    gathered = _gathered_windows(graph, layer, x, name, pool, _plane(layer, layer.strides, 1), (1, 1))
    out_pixels, cells = output_size[0] * output_size[1], pool[0] * pool[1]
    windows = graph.node("Reshape", [gathered, graph.constant(f"{name}/windows_shape", [0, out_pixels, cells, channels],
                                                              dtype=np.int64)], f"{name}/by_window")
    total = graph.node("ReduceSum", [windows, graph.constant(f"{name}/cell_axis", [2], dtype=np.int64)],
                       f"{name}/sum", keepdims=0)
    slices = offset_slices(pool, _plane(layer, layer.strides, 1), output_size)
    count = window_counts(input_size, pads, slices, np.float64).reshape(out_pixels, 1)
    mean = graph.node("Div", [total, graph.constant(f"{name}/count", count)], f"{name}/mean")
    out_shape = [0, *output_size[2 - layer.rank:], channels]
    return graph.node("Reshape", [mean, graph.constant(f"{name}/shape", out_shape, dtype=np.int64)], name)


def global_average_pooling(graph, layer, x, name):
    """``GlobalAveragePool`` on channels-first, then ``Flatten`` (or back to channels-last with
    ``keepdims``); float64: a ``ReduceSum`` over the pixels divided by their number."""
    rank = layer.rank
    if graph.dtype == np.float32:
        first = graph.node("Transpose", [x], f"{name}/channels_first", perm=_TO_CHANNELS_FIRST[rank])
        pooled = graph.node("GlobalAveragePool", [first], f"{name}/pool")
        if layer.keepdims:
            return graph.node("Transpose", [pooled], name, perm=_TO_CHANNELS_LAST[rank])
        return graph.node("Flatten", [pooled], name, axis=1)
    axes = graph.constant(f"{name}/axes", list(range(1, rank + 1)), dtype=np.int64)
    total = graph.node("ReduceSum", [x, axes], f"{name}/sum", keepdims=int(layer.keepdims))
    cells = int(np.prod(layer.input_shape[:-1]))
    return graph.node("Div", [total, graph.constant(f"{name}/count", cells)], name)


def _elementwise(op):
    """A merge layer that is a chain of ONNX's binary ``op``: ``((x1 op x2) op x3) ...``; ``Sum``,
    ``Max``, ``Min`` and ``Mean`` would take every input at once, but a chain of binary operators
    computes in the order glassnet does, so float32 results agree to the last bit."""
    def convert_layer(graph, layer, x, name):
        y = x[0]
        for i, other in enumerate(x[1:], 2):
            y = graph.node(op, [y, other], name if i == len(x) else f"{name}/{i}")
        return y
    convert_layer.__doc__ = f"A chain of the ONNX operator ``{op}`` over the inputs."
    return convert_layer


def average(graph, layer, x, name):
    """``(x1 + ... + xn) / n``: a chain of ``Add``, then a ``Div`` by n."""
    total = _elementwise("Add")(graph, layer, x, f"{name}/sum")
    return graph.node("Div", [total, graph.constant(f"{name}/count", len(x))], name)


def concatenate(graph, layer, x, name):
    """``Concat`` along ``axis``, which counts the batch axis as ONNX does."""
    return graph.node("Concat", list(x), name, axis=layer.axis)


def _passthrough(graph, layer, x, name):
    return x


def _operator(op, **attributes):
    """A converter that is one ONNX operator; ``attributes`` maps each attribute to a function
    of the layer that gives its value."""
    def convert_layer(graph, layer, x, name):
        return graph.node(op, [x], name, **{key: get(layer) for key, get in attributes.items()})
    convert_layer.__doc__ = f"The ONNX operator ``{op}``."
    return convert_layer


CONVERTERS = {
    layers.Dense: dense,
    layers.Dropout: _passthrough,
    layers.Embedding: embedding,
    layers.Linear: _passthrough,
    layers.Flatten: _operator("Flatten", axis=lambda layer: 1),
    layers.Reshape: reshape,
    layers.Activation: activation,
    layers.ReLU: _operator("Relu"),
    layers.LeakyReLU: leaky_relu,
    layers.ELU: _operator("Elu", alpha=lambda layer: layer.alpha),
    layers.SELU: _operator("Selu", alpha=lambda layer: layer.alpha, gamma=lambda layer: layer.scale),
    layers.GELU: gelu,
    layers.Sigmoid: _operator("Sigmoid"),
    layers.Tanh: _operator("Tanh"),
    layers.Softmax: _operator("Softmax", axis=lambda layer: layer.axis),
    layers.Softplus: _operator("Softplus"),
    layers.Swish: swish,
    layers.BatchNormalization: batch_normalization,
    layers.LayerNormalization: layer_normalization,
    layers.Add: _elementwise("Add"),
    layers.Subtract: _elementwise("Sub"),
    layers.Multiply: _elementwise("Mul"),
    layers.Average: average,
    layers.Maximum: _elementwise("Max"),
    layers.Minimum: _elementwise("Min"),
    layers.Concatenate: concatenate,
    layers.Conv1D: conv,
    layers.Conv2D: conv,
    layers.MaxPooling1D: max_pooling,
    layers.MaxPooling2D: max_pooling,
    layers.AveragePooling1D: average_pooling,
    layers.AveragePooling2D: average_pooling,
    layers.GlobalAveragePooling1D: global_average_pooling,
    layers.GlobalAveragePooling2D: global_average_pooling,
}


def register(layer_class, converter):
    """Export layers of ``layer_class`` (exactly that class) with ``converter(graph, layer, x, name)``."""
    if not (isinstance(layer_class, type) and issubclass(layer_class, layers.Layer)):
        raise ExportError(f"register takes a Layer subclass, got {layer_class!r}")
    if not callable(converter):
        raise ExportError(f"the converter for {layer_class.__name__} must be callable, got {converter!r}")
    CONVERTERS[layer_class] = converter


def convert(graph, layer, x, name=None):
    """Add ``layer``'s operators on ``x`` to ``graph``; return the name of its output (``name``,
    the layer's own name by default)."""
    name = name or layer.name
    converter = CONVERTERS.get(type(layer))
    if converter is None:
        known = ", ".join(sorted(cls.__name__ for cls in CONVERTERS))
        raise ExportError(
            f"layer {name!r} ({type(layer).__name__}) has no ONNX equivalent: glassnet "
            f"exports {known}; for a layer of your own, give its operators with "
            f"glassnet.onnx.register({type(layer).__name__}, converter)")
    return converter(graph, layer, x, name)
