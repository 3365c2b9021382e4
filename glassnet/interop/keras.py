"""glassnet <-> Keras 3: ``keras.Sequential`` and functional ``keras.Model`` networks and their weights.

    keras_model = to_keras(model)        # gn.Sequential -> keras.Sequential, gn.Model -> functional keras.Model
    model = from_keras(keras_model)      # and back, built, with the same weights and layer names

glassnet's layers are Keras's, with Keras's arguments and weight layouts (``Dense``'s kernel is
(in, units) in both, a convolution's (kh, kw, in / groups, filters), maps channels-last), so each
layer maps to the layer of the same name and its weights are copied as they are: ``Input``,
``Dense``, ``Activation``, ``ReLU`` (``negative_slope`` as a ``LeakyReLU``), ``LeakyReLU``, ``ELU``,
``Softmax``, ``Dropout``, ``Flatten``, ``Reshape``, ``BatchNormalization``, ``LayerNormalization``,
``Embedding``, ``Conv1D``, ``Conv2D``, ``MaxPooling1D/2D``, ``AveragePooling1D/2D``,
``GlobalAveragePooling1D/2D``, ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``,
``Minimum`` and ``Concatenate``. Activations by name (of a Dense or a convolution): linear, relu,
leaky_relu, elu, selu, gelu (exact), sigmoid, tanh, softmax, softplus, silu/swish. L1, L2 and
L1L2 regularizers and the initializers both have (glorot, he, lecun, uniform, zeros, ones) come
along; another initializer becomes glassnet's default (the weights are copied anyway).

Where glassnet has a layer Keras has no named form of, it becomes its nearest: a standalone
``SELU()``, ``GELU()``, ``Sigmoid()``, ``Tanh()``, ``Softplus()``, ``Swish()`` or ``Linear()``
becomes ``keras.layers.Activation(name)`` (and comes back as ``gn.layers.Activation(name)``, the
same function), and a ``Dense`` whose activation has arguments Keras's names do not take
(``LeakyReLU(0.1)``, ``ELU(0.5)``, ``Softmax(axis=1)``) becomes a ``Dense`` and that activation's
Keras layer. ``GELU(approximate=True)`` has neither and is refused.

Anything without a counterpart is a ConfigurationError naming the layer and what is missing: a
layer class glassnet lacks (Conv3D, the recurrent layers, ...), ``data_format="channels_first"``,
constraints, an activity regularizer, masking (``mask_zero``), ``noise_shape``, LoRA or quantized
layers, a BatchNormalization or LayerNormalization of an axis other than the last, a layer called
with ``training=`` fixed in the graph, a model nested as a layer, mixed precision. A subclassed
``keras.Model`` (its own ``call``) has no graph to read.

Keras reads a functional model's wiring from the symbolic tensors: each ``KerasTensor`` knows the
layer call that made it (``tensor._keras_history``: the operation, which of its calls, which
output), and that call (``operation._inbound_nodes[i]``, a ``Node``) knows the tensors it read
(``node.arguments``). ``from_keras`` walks these back from the outputs, as ``gn.Model`` walks its
own nodes. Keras on JAX computes in float32 unless JAX's x64 mode is on, so a float64 model is
refused there rather than rounded.
"""
import numpy as np

from .. import graph
from .. import layers as gl
from .. import regularizers as gr
from ..errors import ConfigurationError, NotBuiltError
from ..extras import require_keras
from ..functional import Model
from ..initializers import INITIALIZERS
from ..model import Sequential
from .common import checked_dtype, refuse, set_weights, shape_text

# glassnet's activation layers by the name Keras gives the same function (Keras's ``silu``)
_NAMES = {gl.Linear: "linear", gl.ReLU: "relu", gl.LeakyReLU: "leaky_relu", gl.ELU: "elu", gl.SELU: "selu",
          gl.GELU: "gelu", gl.Sigmoid: "sigmoid", gl.Tanh: "tanh", gl.Softmax: "softmax", gl.Softplus: "softplus",
          gl.Swish: "silu"}
# Keras's initializers by class name -> glassnet's by name (RandomUniform only with Keras's default range)
_INITIALIZERS = {"GlorotUniform": "glorot_uniform", "GlorotNormal": "glorot_normal", "HeNormal": "he_normal",
                 "HeUniform": "he_uniform", "LecunNormal": "lecun_normal", "LecunUniform": "lecun_uniform",
                 "Zeros": "zeros", "Ones": "ones"}
_MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate")


def _keras(purpose):
    return require_keras(purpose)


# ---------------------------------------------------------------------------------------------
# Keras -> glassnet
# ---------------------------------------------------------------------------------------------
def from_keras(model, seed=None):
    """A built glassnet model with the layers, wiring, names and weights of the Keras 3 ``model``:
    a ``gn.Sequential`` for a ``keras.Sequential``, a graph ``gn.Model`` for a functional
    ``keras.Model`` (several inputs and outputs, shared layers, merges). The model must know
    its input shape (a ``keras.Input``, or built). ``seed`` seeds the glassnet model's generator
    (dropout masks, shuffling). See the module docstring for the layers covered."""
    keras = _keras("glassnet.interop.from_keras")
    if not isinstance(model, keras.Model):
        raise ConfigurationError(f"from_keras converts a keras.Sequential or a functional keras.Model, got "
                                 f"{type(model).__name__}")
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError, TypeError):
        inputs = outputs = None
    if not inputs or not outputs or not all(hasattr(t, "_keras_history") for t in inputs + outputs):
        what = "has no input shape yet: start it with keras.Input(shape)" if isinstance(model, keras.Sequential) \
            else "is subclassed (its own call), so it has no graph of layers to read"
        raise ConfigurationError(f"cannot convert the Keras model {model.name!r}: it {what}")
    dtype = _dtype(model, keras)
    if isinstance(model, keras.Sequential):
        return _from_sequential(model, inputs[0], keras, seed, dtype)
    return _from_functional(model, inputs, outputs, keras, seed, dtype)


def _dtype(model, keras):
    for layer in model.layers:
        if layer.weights and (str(layer.compute_dtype) != str(layer.variable_dtype)):
            raise refuse(_where(layer), f"it computes in {layer.compute_dtype} and keeps {layer.variable_dtype} "
                                        "weights (mixed precision); a glassnet model has one dtype")
    return checked_dtype({str(v.dtype) for v in model.weights}, f"the Keras model {model.name!r}")


def _where(layer):
    return f"layer {layer.name!r} (keras.layers.{type(layer).__name__})"


def _example_shape(tensor, where):
    shape = tuple(tensor.shape[1:])
    if any(d is None for d in shape):
        raise refuse(where, f"its input shape {shape_text(shape)} has an axis of unknown size; glassnet's inputs have "
                            "a fixed shape per example")
    return shape


def _from_sequential(model, tensor, keras, seed, dtype):
    shape = input_shape = _example_shape(tensor, f"the Keras model {model.name!r}")
    layers, weights = [], []
    for index, layer in enumerate(model.layers):
        where = _where(layer)
        if type(layer) is keras.layers.Embedding and index > 0:
            raise refuse(where, "an Embedding reads integer ids, so in a Sequential it must be the first layer")
        converted, arrays = _from_keras_layer(layer, shape, where, keras)
        layers.append(converted)
        weights.append((converted, arrays, where))
        shape = _output_shape(converted, shape, where)
    result = Sequential([gl.Input(input_shape), *layers], seed=seed, name=model.name, dtype=dtype)
    result.build()
    for layer, arrays, where in weights:
        set_weights(layer, arrays, where)
    return result


def _from_functional(model, inputs, outputs, keras, seed, dtype):
    table = {}  # id(KerasTensor) -> glassnet symbolic tensor
    gn_inputs = []
    for tensor in inputs:
        layer = tensor._keras_history[0]
        where = f"the input {layer.name!r} of the Keras model {model.name!r}"
        if getattr(tensor, "sparse", False) or getattr(tensor, "ragged", False):
            raise refuse(where, "it is sparse or ragged; glassnet's inputs are dense arrays")
        kind = str(tensor.dtype)
        gn_input = graph.Input(_example_shape(tensor, where), name=layer.name,
                               dtype=kind if kind in graph.INTEGER_DTYPES else None)
        table[id(tensor)] = gn_input
        gn_inputs.append(gn_input)
    converted = {}  # id(Keras layer) -> (glassnet layer, arrays, where): a shared layer once
    for node in _keras_nodes(outputs, keras):
        layer = node.operation
        if isinstance(layer, keras.layers.Layer):
            where = _where(layer)
        else:  # keras.ops.add(x, y) and the like, which record a node too
            module = type(layer).__module__.replace("keras.src.", "keras.")
            where = f"operation {layer.name!r} ({module}.{type(layer).__name__})"
        args, kwargs = list(node.arguments.args), dict(node.arguments.kwargs)
        if not args and "inputs" in kwargs:  # layer(inputs=x)
            args = [kwargs.pop("inputs")]
        fixed = {k: v for k, v in kwargs.items() if v is not None}
        if fixed:
            raise refuse(where, f"it is called with {', '.join(f'{k}={v!r}' for k, v in fixed.items())} in the graph; "
                                "glassnet runs every layer of a model as the call asks (fit trains, predict infers)")
        if len(args) != 1:
            raise refuse(where, f"it is called on {len(args)} arguments; glassnet's layers take one tensor or one list")
        read = args[0]
        as_list = isinstance(read, (list, tuple))
        try:
            reads = [table[id(t)] for t in (read if as_list else [read])]
        except KeyError:
            raise refuse(where, "it reads a tensor that is not made from the model's inputs") from None
        shapes = [t.shape for t in reads]
        if id(layer) not in converted:
            if isinstance(layer, keras.Model):
                raise refuse(where, "a model used as a layer inside another; build the outer model from its layers")
            if type(layer) is keras.layers.Embedding and (as_list or not isinstance(reads[0], graph.Input)):
                raise refuse(where, "an Embedding reads integer ids, so it must be called on a model input")
            gn_layer, arrays = _from_keras_layer(layer, shapes if as_list else shapes[0], where, keras)
            converted[id(layer)] = (gn_layer, arrays, where)
        gn_layer = converted[id(layer)][0]
        table[id(node.output_tensors[0])] = gn_layer(reads if as_list else reads[0])
    gn_outputs = [table[id(t)] for t in outputs]
    result = Model(gn_inputs if len(gn_inputs) > 1 else gn_inputs[0],
                   gn_outputs if len(gn_outputs) > 1 else gn_outputs[0], name=model.name, seed=seed, dtype=dtype)
    for layer, arrays, where in converted.values():
        set_weights(layer, arrays, where)
    return result


def _keras_nodes(outputs, keras):
    """The Keras nodes (layer calls) the ``outputs`` need, each after the nodes it reads: a
    depth-first walk back through ``tensor._keras_history`` without recursion."""
    order, done = [], set()
    stack = [(t, False) for t in reversed(outputs)]
    while stack:
        tensor, ready = stack.pop()
        operation, node_index, _ = tensor._keras_history
        node = operation._inbound_nodes[node_index]
        if type(operation) is keras.layers.InputLayer or id(node) in done:
            continue
        if ready:
            done.add(id(node))
            order.append(node)
        else:
            stack.append((tensor, True))
            stack.extend((t, False) for t in reversed(node.input_tensors))
    return order


def _output_shape(layer, shape, where):
    try:
        return tuple(layer.compute_output_shape(shape))
    except (ConfigurationError, ValueError) as error:
        raise refuse(where, f"on inputs of shape {shape_text(shape)}: {error}") from None


def _numpy(variable, keras):
    """A copy of a Keras variable's value (``.value``: the variable itself warns under NumPy 2)."""
    return np.array(keras.ops.convert_to_numpy(variable.value))


def _from_keras_layer(layer, shape, where, keras):
    """``(glassnet layer, {parameter attribute: array})`` for one Keras layer, named as it is."""
    kl = keras.layers
    kind = type(layer)
    if getattr(layer, "quantization_mode", None) or getattr(layer, "lora_enabled", False):
        raise refuse(where, "it is quantized or has LoRA weights; glassnet's layers hold plain float weights")
    for option in ("kernel_constraint", "bias_constraint", "beta_constraint", "gamma_constraint",
                   "embeddings_constraint", "activity_regularizer"):
        if getattr(layer, option, None) is not None:
            raise refuse(where, f"{option}={getattr(layer, option)!r} has no counterpart in glassnet")
    arrays = {}
    if kind is kl.Dense:
        if len(shape) != 1:
            raise refuse(where, f"Keras's Dense acts on the last axis of its {shape_text(shape)} input, glassnet's "
                                "takes (batch, features): put a Flatten before it")
        converted = gl.Dense(layer.units, activation=_activation_name(layer.activation, where, keras),
                             use_bias=layer.use_bias,
                             kernel_initializer=_initializer(layer.kernel_initializer, "glorot_uniform"),
                             bias_initializer=_initializer(layer.bias_initializer, "zeros"),
                             kernel_regularizer=_regularizer(layer.kernel_regularizer, where, keras),
                             bias_regularizer=_regularizer(layer.bias_regularizer, where, keras))
        arrays["weight"] = _numpy(layer.kernel, keras)
        if layer.use_bias:
            arrays["bias"] = _numpy(layer.bias, keras)
    elif kind is kl.Activation:
        name = _activation_name(layer.activation, where, keras)
        converted = gl.Activation(name or "linear")
    elif kind is kl.ReLU:
        if layer.max_value is not None or layer.threshold != 0:
            raise refuse(where, f"max_value={layer.max_value}, threshold={layer.threshold}: glassnet's ReLU and "
                                "LeakyReLU have neither")
        converted = gl.LeakyReLU(float(layer.negative_slope)) if layer.negative_slope else gl.ReLU()
    elif kind is kl.LeakyReLU:
        converted = gl.LeakyReLU(float(layer.negative_slope))
    elif kind is kl.ELU:
        converted = gl.ELU(float(layer.alpha))
    elif kind is kl.Softmax:
        if not isinstance(layer.axis, int):
            raise refuse(where, f"axis={layer.axis!r}: glassnet's Softmax takes one axis")
        converted = gl.Softmax(axis=layer.axis)
    elif kind is kl.Dropout:
        if layer.noise_shape is not None:
            raise refuse(where, f"noise_shape={layer.noise_shape!r} (one mask shared along axes) has no counterpart; "
                                "glassnet's Dropout draws every value's mask")
        converted = gl.Dropout(layer.rate)
    elif kind is kl.Flatten:
        if layer.data_format == "channels_first" and len(shape) > 1:
            raise refuse(where, "data_format='channels_first' moves the channels last before flattening; glassnet's "
                                "Flatten keeps the order of the axes")
        converted = gl.Flatten()
    elif kind is kl.Reshape:
        converted = gl.Reshape(tuple(layer.target_shape))
    elif kind is kl.BatchNormalization:
        _last_axis(layer.axis, shape, where)
        if getattr(layer, "renorm", False):
            raise refuse(where, "renorm=True (batch renormalization) has no counterpart in glassnet")
        converted = gl.BatchNormalization(
            momentum=float(layer.momentum), epsilon=float(layer.epsilon), center=layer.center, scale=layer.scale,
            beta_initializer=_initializer(layer.beta_initializer, "zeros"),
            gamma_initializer=_initializer(layer.gamma_initializer, "ones"),
            moving_mean_initializer=_initializer(layer.moving_mean_initializer, "zeros"),
            moving_variance_initializer=_initializer(layer.moving_variance_initializer, "ones"),
            beta_regularizer=_regularizer(layer.beta_regularizer, where, keras),
            gamma_regularizer=_regularizer(layer.gamma_regularizer, where, keras))
        arrays.update(moving_mean=_numpy(layer.moving_mean, keras),
                      moving_variance=_numpy(layer.moving_variance, keras))
        _normalization_weights(layer, arrays, keras)
    elif kind is kl.LayerNormalization:
        _last_axis(layer.axis, shape, where)
        if getattr(layer, "rms_scaling", False):
            raise refuse(where, "rms_scaling=True (RMS normalization) has no counterpart in glassnet")
        converted = gl.LayerNormalization(
            epsilon=float(layer.epsilon), center=layer.center, scale=layer.scale,
            beta_initializer=_initializer(layer.beta_initializer, "zeros"),
            gamma_initializer=_initializer(layer.gamma_initializer, "ones"),
            beta_regularizer=_regularizer(layer.beta_regularizer, where, keras),
            gamma_regularizer=_regularizer(layer.gamma_regularizer, where, keras))
        _normalization_weights(layer, arrays, keras)
    elif kind is kl.Embedding:
        if layer.mask_zero:
            raise refuse(where, "mask_zero=True (id 0 masks the steps after it) has no counterpart: glassnet has "
                                "no masks")
        converted = gl.Embedding(layer.input_dim, layer.output_dim,
                                 embeddings_initializer=_initializer(layer.embeddings_initializer, "uniform"),
                                 embeddings_regularizer=_regularizer(layer.embeddings_regularizer, where, keras))
        arrays["weight"] = _numpy(layer.embeddings, keras)
    elif kind in (kl.Conv1D, kl.Conv2D):
        _channels_last(layer, where)
        converted = getattr(gl, kind.__name__)(
            layer.filters, tuple(layer.kernel_size), strides=tuple(layer.strides), padding=layer.padding,
            dilation_rate=tuple(layer.dilation_rate), groups=layer.groups,
            activation=_activation_name(layer.activation, where, keras), use_bias=layer.use_bias,
            kernel_initializer=_initializer(layer.kernel_initializer, "glorot_uniform"),
            bias_initializer=_initializer(layer.bias_initializer, "zeros"),
            kernel_regularizer=_regularizer(layer.kernel_regularizer, where, keras),
            bias_regularizer=_regularizer(layer.bias_regularizer, where, keras))
        arrays["weight"] = _numpy(layer.kernel, keras)  # (kh, kw, in / groups, filters) in both
        if layer.use_bias:
            arrays["bias"] = _numpy(layer.bias, keras)
    elif kind in (kl.MaxPooling1D, kl.MaxPooling2D, kl.AveragePooling1D, kl.AveragePooling2D):
        _channels_last(layer, where)
        converted = getattr(gl, kind.__name__)(pool_size=tuple(layer.pool_size), strides=tuple(layer.strides),
                                               padding=layer.padding)
    elif kind in (kl.GlobalAveragePooling1D, kl.GlobalAveragePooling2D):
        _channels_last(layer, where)
        converted = getattr(gl, kind.__name__)(keepdims=bool(layer.keepdims))
    elif kind is kl.Concatenate:
        converted = gl.Concatenate(axis=int(layer.axis))
    elif kind.__name__ in _MERGES and kind is getattr(kl, kind.__name__):
        converted = getattr(gl, kind.__name__)()
    else:
        raise refuse(where, "glassnet has no counterpart of it; from_keras converts Input, Dense, Activation, ReLU, "
                            "LeakyReLU, ELU, Softmax, Dropout, Flatten, Reshape, BatchNormalization, "
                            "LayerNormalization, Embedding, Conv1D, Conv2D, MaxPooling1D/2D, AveragePooling1D/2D, "
                            "GlobalAveragePooling1D/2D, Add, Subtract, Multiply, Average, Maximum, Minimum and "
                            "Concatenate")
    converted.name = layer.name
    return converted, arrays


def _channels_last(layer, where):
    if layer.data_format != "channels_last":
        raise refuse(where, f"data_format={layer.data_format!r}: glassnet's convolutions and poolings are "
                            "channels-last, (batch, ..., channels)")


def _normalization_weights(layer, arrays, keras):
    if layer.scale:
        arrays["gamma"] = _numpy(layer.gamma, keras)
    if layer.center:
        arrays["beta"] = _numpy(layer.beta, keras)


def _last_axis(axis, shape, where):
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    rank = len(shape) + 1  # with the batch axis
    if [a % rank for a in axes] != [rank - 1]:
        raise refuse(where, f"axis={axis!r} on a {shape_text(shape)} input: glassnet normalizes the last axis (-1) "
                            "only")


def _activation_name(function, where, keras):
    """glassnet's name for the Keras activation function ``function`` (None for linear)."""
    acts = keras.activations
    table = {acts.linear: None, acts.relu: "relu", acts.leaky_relu: "leaky_relu", acts.elu: "elu", acts.selu: "selu",
             acts.gelu: "gelu", acts.sigmoid: "sigmoid", acts.tanh: "tanh", acts.softmax: "softmax",
             acts.softplus: "softplus", acts.silu: "swish"}
    try:
        return table[function]
    except (KeyError, TypeError):
        name = getattr(function, "__name__", repr(function))
        raise refuse(where, f"its activation {name!r} has no counterpart; glassnet's are linear, relu, leaky_relu, "
                            "elu, selu, gelu, sigmoid, tanh, softmax, softplus and silu (swish)") from None


def _initializer(initializer, default):
    """glassnet's name for a Keras initializer, or ``default`` where glassnet has none like it."""
    kind = type(initializer).__name__
    if kind == "RandomUniform":
        config = initializer.get_config()
        return "uniform" if (config.get("minval"), config.get("maxval")) == (-0.05, 0.05) else default
    return _INITIALIZERS.get(kind, default)


def _regularizer(regularizer, where, keras):
    if regularizer is None:
        return None
    kr = keras.regularizers
    kind = type(regularizer)
    if kind is kr.L1:
        return gr.L1(float(regularizer.l1))
    if kind is kr.L2:
        return gr.L2(float(regularizer.l2))
    if kind is kr.L1L2:
        return gr.L1L2(float(regularizer.l1), float(regularizer.l2))
    raise refuse(where, f"its regularizer {kind.__name__} has no counterpart; glassnet has L1, L2 and L1L2")


# ---------------------------------------------------------------------------------------------
# glassnet -> Keras
# ---------------------------------------------------------------------------------------------
def to_keras(model):
    """A Keras 3 model with the layers, wiring, names and weights of the built glassnet
    ``model``: a ``keras.Sequential`` for a ``gn.Sequential``, a functional ``keras.Model`` for a
    graph ``gn.Model``. Not compiled: compile it as any Keras model. See the module docstring
    for the layers covered."""
    keras = _keras("glassnet.interop.to_keras")
    if not isinstance(model, (Sequential, Model)):
        raise ConfigurationError(f"to_keras converts a gn.Sequential or a gn.Model, got {type(model).__name__}")
    model.build_if_shape_known()
    if not model.built:
        raise NotBuiltError("to_keras copies the weights, and the model has none yet: start it with "
                            "gn.layers.Input(shape), or fit or build it first")
    dtype = model.dtype.name
    if dtype == "float64" and keras.backend.backend() == "jax":
        import jax
        if not jax.config.read("jax_enable_x64"):
            raise ConfigurationError("to_keras: the model is float64, and Keras on JAX computes in float32 unless "
                                     "JAX's x64 mode is on (JAX_ENABLE_X64=1); the weights would be rounded")
    copies = []
    if isinstance(model, Sequential):
        first = model.layers[0] if model.layers else None
        ids = first is not None and first.id_count is not None
        inputs = keras.Input(shape=model.input_shape, dtype=_id_dtype(keras, "int64") if ids else dtype)
        chain, shape = [inputs], model.input_shape
        for index, layer in enumerate(model.layers):
            for converted, arrays in _to_keras_layer(layer, shape, f"layer {index} ({layer.name!r}, "
                                                     f"{type(layer).__name__})", keras, dtype):
                chain.append(converted)
                copies.append((converted, arrays))
            shape = tuple(layer.compute_output_shape(shape))
        result = keras.Sequential(chain, name=model.name)
    else:
        table = {}
        inputs = []
        for tensor, name in zip(model.inputs, model.input_names):
            made = keras.Input(shape=tensor.shape, name=name,
                               dtype=_id_dtype(keras, tensor.dtype) if tensor.dtype in graph.INTEGER_DTYPES else dtype)
            table[id(tensor)] = made
            inputs.append(made)
        converted_layers = {}
        for node in graph.sorted_nodes(model.inputs, model.outputs):
            layer = node.layer
            if id(layer) not in converted_layers:
                where = f"layer {layer.name!r} ({type(layer).__name__})"
                shapes = node.input_shapes if node.as_list else node.input_shapes[0]
                converted_layers[id(layer)] = _to_keras_layer(layer, shapes, where, keras, dtype)
                copies.extend(converted_layers[id(layer)])
            reads = [table[_key(t)] for t in node.inputs]
            x = reads if node.as_list else reads[0]
            for converted, _ in converted_layers[id(layer)]:
                x = converted(x)
            table[id(node)] = x
        outputs = [table[_key(t)] for t in model.outputs]
        result = keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                             name=model.name)
    for converted, arrays in copies:
        for attribute, array in arrays.items():
            # a copy: Keras on JAX may keep the very NumPy buffer it is given (no copy on a CPU), and
            # glassnet's weights are views into its flat buffer, which its training changes in place
            getattr(converted, attribute).assign(np.array(array, copy=True))
    return result


def _key(tensor):
    return id(tensor.node) if tensor.node is not None else id(tensor)


def _id_dtype(keras, dtype):
    """Keras on JAX holds 32-bit integers unless JAX's x64 mode is on: ids as int32 there."""
    if keras.backend.backend() == "jax":
        import jax
        if not jax.config.read("jax_enable_x64"):
            return "int32"
    return dtype


def _keras_initializer(initializer):
    for name, function in INITIALIZERS.items():
        if function is initializer:
            return name
    return None


def _keras_regularizer(regularizer, where, keras):
    if regularizer is None:
        return None
    kind = type(regularizer)
    if kind is gr.L1:
        return keras.regularizers.L1(regularizer.l1)
    if kind is gr.L2:
        return keras.regularizers.L2(regularizer.l2)
    if kind is gr.L1L2:
        return keras.regularizers.L1L2(l1=regularizer.l1, l2=regularizer.l2)
    raise refuse(where, f"its regularizer {kind.__name__} has no Keras counterpart that to_keras knows")


def _initializers(layer, **names):
    """Keras keyword arguments for the glassnet initializers ``names`` maps (Keras's name for
    glassnet's), left out where glassnet's is one of your own."""
    out = {}
    for keras_name, attribute in names.items():
        name = _keras_initializer(getattr(layer, attribute))
        if name is not None:
            out[keras_name] = name
    return out


def _to_keras_layer(layer, shape, where, keras, dtype):
    """``[(Keras layer, {variable attribute: array})]`` for one glassnet layer (two for a Dense
    whose activation Keras cannot name); an argument Keras refuses (a Conv2D with both strides
    and dilation above 1) is refused naming the layer."""
    try:
        return _keras_layers_of(layer, shape, where, keras, dtype)
    except ConfigurationError:
        raise
    except ValueError as error:
        raise refuse(where, f"Keras refuses it: {error}") from None


def _keras_layers_of(layer, shape, where, keras, dtype):
    kl = keras.layers
    kind = type(layer)
    common = {"name": layer.name, "dtype": dtype}
    if kind in (gl.Dense, gl.Conv1D, gl.Conv2D):
        activation, extra = _keras_activation_name(layer.activation), []
        if layer.activation is not None and activation is None:
            extra = [(_keras_activation_layer(layer.activation, where, keras, f"{layer.name}_activation", dtype), {})]
        options = dict(activation=activation, use_bias=layer.use_bias,
                       kernel_regularizer=_keras_regularizer(layer.kernel_regularizer, where, keras),
                       bias_regularizer=_keras_regularizer(layer.bias_regularizer, where, keras),
                       **_initializers(layer, kernel_initializer="kernel_initializer",
                                       bias_initializer="bias_initializer"), **common)
        if kind is gl.Dense:
            converted = kl.Dense(layer.units, **options)
        else:  # the same arguments and kernel layout (kh, kw, in / groups, filters)
            converted = getattr(kl, kind.__name__)(
                layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
                dilation_rate=layer.dilation_rate, groups=layer.groups, data_format="channels_last", **options)
        arrays = {"kernel": layer.weight.value}
        if layer.use_bias:
            arrays["bias"] = layer.bias.value
        return [(converted, arrays), *extra]
    if kind is gl.Activation or kind in _NAMES:
        return [(_keras_activation_layer(layer, where, keras, layer.name, dtype), {})]
    if kind is gl.Dropout:
        return [(kl.Dropout(layer.rate, **common), {})]
    if kind is gl.Flatten:
        return [(kl.Flatten(data_format="channels_last", **common), {})]
    if kind is gl.Reshape:
        return [(kl.Reshape(layer.target_shape, **common), {})]
    if kind in (gl.BatchNormalization, gl.LayerNormalization):
        options = {"axis": -1, "epsilon": layer.epsilon, "center": layer.center, "scale": layer.scale,
                   "beta_regularizer": _keras_regularizer(layer.beta_regularizer, where, keras),
                   "gamma_regularizer": _keras_regularizer(layer.gamma_regularizer, where, keras),
                   **_initializers(layer, beta_initializer="beta_initializer", gamma_initializer="gamma_initializer")}
        arrays = {}
        if layer.scale:
            arrays["gamma"] = layer.gamma.value
        if layer.center:
            arrays["beta"] = layer.beta.value
        if kind is gl.LayerNormalization:
            return [(kl.LayerNormalization(**options, **common), arrays)]
        options.update(_initializers(layer, moving_mean_initializer="moving_mean_initializer",
                                     moving_variance_initializer="moving_variance_initializer"))
        arrays.update(moving_mean=layer.moving_mean.value, moving_variance=layer.moving_variance.value)
        return [(kl.BatchNormalization(momentum=layer.momentum, **options, **common), arrays)]
    if kind is gl.Embedding:
        converted = kl.Embedding(layer.input_dim, layer.output_dim,
                                 embeddings_regularizer=_keras_regularizer(layer.embeddings_regularizer, where, keras),
                                 **_initializers(layer, embeddings_initializer="embeddings_initializer"), **common)
        return [(converted, {"embeddings": layer.weight.value})]
    if kind in (gl.MaxPooling1D, gl.MaxPooling2D, gl.AveragePooling1D, gl.AveragePooling2D):
        return [(getattr(kl, kind.__name__)(pool_size=layer.pool_size, strides=layer.strides, padding=layer.padding,
                                            data_format="channels_last", **common), {})]
    if kind in (gl.GlobalAveragePooling1D, gl.GlobalAveragePooling2D):
        return [(getattr(kl, kind.__name__)(keepdims=layer.keepdims, data_format="channels_last", **common), {})]
    if kind is gl.Concatenate:
        return [(kl.Concatenate(axis=layer.axis, **common), {})]
    if kind.__name__ in _MERGES and kind is getattr(gl, kind.__name__):
        return [(getattr(kl, kind.__name__)(**common), {})]
    raise refuse(where, "Keras has no counterpart that to_keras knows; to_keras converts Dense, the activation layers, "
                        "Dropout, Flatten, Reshape, BatchNormalization, LayerNormalization, Embedding, the convolution "
                        "and pooling layers and the merge layers")


def _keras_activation_name(activation):
    """Keras's name for a glassnet activation layer when the name alone says it all (its
    arguments are the defaults of Keras's function), else None; None for no activation."""
    if activation is None:
        return None
    if type(activation) is gl.Activation:
        activation = activation.activation
    kind = type(activation)
    if kind is gl.LeakyReLU and activation.negative_slope != 0.2 or kind is gl.ELU and activation.alpha != 1.0 \
            or kind is gl.Softmax and activation.axis != -1 or kind is gl.GELU and activation.approximate:
        return None
    return _NAMES.get(kind)


def _keras_activation_layer(layer, where, keras, name, dtype):
    """The Keras layer of a glassnet activation layer: ReLU, LeakyReLU, ELU and Softmax have one
    of the same name; the others become ``Activation(name)``."""
    kl = keras.layers
    activation = layer.activation if type(layer) is gl.Activation else layer
    kind = type(activation)
    common = {"name": name, "dtype": dtype}
    standalone = type(layer) is not gl.Activation
    if standalone and kind is gl.ReLU:
        return kl.ReLU(**common)
    keras_name = _keras_activation_name(activation)
    if keras_name is not None and not (standalone and kind in (gl.LeakyReLU, gl.ELU, gl.Softmax)):
        return kl.Activation(keras_name, **common)
    if kind is gl.LeakyReLU:
        return kl.LeakyReLU(negative_slope=activation.negative_slope, **common)
    if kind is gl.ELU:
        return kl.ELU(alpha=activation.alpha, **common)
    if kind is gl.Softmax:
        return kl.Softmax(axis=activation.axis, **common)
    if kind is gl.GELU:
        raise refuse(where, "GELU(approximate=True) has no Keras layer or activation name (keras.activations.gelu's "
                            "approximate argument is not reachable by name); use GELU() or convert to PyTorch")
    raise refuse(where, f"its activation {kind.__name__} has no Keras counterpart that to_keras knows")
