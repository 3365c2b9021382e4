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
