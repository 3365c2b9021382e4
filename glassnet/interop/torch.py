"""glassnet <-> PyTorch: a ``torch.nn.Sequential`` and a ``gn.Sequential`` of the same layers and weights.

    net = to_torch(model)                       # torch.nn.Sequential, in eval() mode
    model = from_torch(net, seed=0)             # gn.Sequential, built, with net's weights

Module by module (glassnet on the left):

    Dense(units, activation)     nn.Linear(in, units, bias=use_bias) [+ the activation's module]
                                 weight: glassnet (in, units), PyTorch (units, in): transposed
    ReLU, LeakyReLU(s), ELU(a),  nn.ReLU, nn.LeakyReLU(s), nn.ELU(a), nn.SELU,
    SELU, GELU(approximate),     nn.GELU("none" or "tanh"), nn.Sigmoid, nn.Tanh,
    Sigmoid, Tanh, Softmax(axis),nn.Softmax(dim=axis) (both count the batch axis as 0),
    Softplus, Swish, Linear      nn.Softplus() (beta 1, threshold >= 20), nn.SiLU, nn.Identity
    Dropout(rate)                nn.Dropout(p=rate)
    Flatten                      nn.Flatten() (start_dim 1, end_dim -1)
    Reshape(shape)               nn.Unflatten(1, shape) on a flat input (else nn.Flatten + it)
    BatchNormalization           nn.BatchNorm1d on (batch, features): gamma/beta = weight/bias,
                                 moving statistics = running_mean/running_var, epsilon = eps,
                                 momentum = 1 - PyTorch's momentum
    LayerNormalization           nn.LayerNorm(features): gamma/beta = weight/bias, epsilon = eps;
                                 scale=False, center=False: elementwise_affine=False; center=False: bias=False
    Embedding(n, d)              nn.Embedding(n, d), the first module (it reads the integer ids)

``from_torch`` makes an activation module that follows an ``nn.Linear`` that ``Dense``'s
``activation`` (``Linear, ReLU`` becomes ``Dense(units, activation="relu")``), so a network
goes to PyTorch and back to the layers it had. Any other module, or an option glassnet has no
counterpart for, is a ConfigurationError naming the module and the option. Weights are copied
without rounding (a float64 model gives a float64 module and back), so the two predict the same
up to the rounding of their float32 arithmetic.

Two things differ in training, not in the forward: PyTorch's BatchNorm1d moves its running
variance toward the unbiased batch variance (``var * m / (m - 1)``), glassnet's (and Keras's)
toward the biased one; and L1/L2 regularizers are part of a glassnet layer but of the loss in
PyTorch, so a layer with one is refused rather than converted without it.
"""
import collections

import numpy as np

from .. import checks
from .. import layers as gl
from ..errors import ConfigurationError, NotBuiltError
from ..extras import require
from ..functional import Model
from ..model import Sequential
from .common import checked_dtype, refuse, set_weights, shape_text


def _torch(purpose):
    return require("torch", extra="torch", purpose=purpose)


def _one_minus(momentum):
    """``1 - momentum`` to 15 significant digits (the subtraction's own rounding), so that 0.1
    becomes 0.9 and back 0.1, not 0.09999999999999998."""
    return float(f"{1 - momentum:.15g}")


# ---------------------------------------------------------------------------------------------
# PyTorch -> glassnet
# ---------------------------------------------------------------------------------------------
def from_torch(module, input_shape=None, seed=None):
    """A built ``gn.Sequential`` with the layers and weights of the ``torch.nn.Sequential`` ``module``.

    ``input_shape`` is the shape of one example (no batch axis); it may be left out when the
    first module that changes shapes is an ``nn.Linear`` (its ``in_features``) or an
    ``nn.BatchNorm1d``. ``seed`` seeds the model's generator (dropout masks, shuffling).
    Nested ``nn.Sequential`` modules are read in order, as PyTorch runs them. The model's dtype
    is the weights' (float32 or float64). See the module docstring for the layers covered."""
    torch = _torch("glassnet.interop.from_torch")
    nn = torch.nn
    if not isinstance(module, nn.Sequential):
        raise ConfigurationError(
            f"from_torch converts a torch.nn.Sequential, got {type(module).__name__}: a module with its own "
            "forward has no list of layers to read; put its layers in an nn.Sequential")
    entries = list(_unrolled(module, nn, ""))
    if not entries:
        raise ConfigurationError("from_torch got an empty nn.Sequential: there is no layer to convert")
    tensors = [*module.parameters(), *(b for b in module.buffers() if b.is_floating_point())]
    dtype = checked_dtype({str(t.dtype).replace("torch.", "") for t in tensors}, "this nn.Sequential")
    activations, others = _tables(nn)
    shape = input_shape = _input_shape(entries, input_shape, nn, activations)
    layers, weights = [], []
    i = 0
    while i < len(entries):
        path, child = entries[i]
        where = _where(path, child)
        kind = type(child)
        if kind is nn.Embedding and i > 0:
            raise refuse(where, "an Embedding reads integer ids, so in a Sequential it must be the first module")
        if kind is nn.Linear:
            activation, i = None, i + 1
            if i < len(entries) and type(entries[i][1]) in activations:
                activation = _activation_from_torch(entries[i][1], _where(*entries[i]), nn, activations)
                i += 1
            layer, arrays = _linear_from_torch(child, shape, where, activation)
        elif kind in activations:
            layer, arrays, i = _activation_from_torch(child, where, nn, activations), {}, i + 1
        elif kind in others:
            layer, arrays = others[kind](child, shape, where)
            i += 1
        else:
            raise refuse(where, f"glassnet has no counterpart of torch.nn.{kind.__name__}; from_torch converts "
                                f"{_COVERED}")
        name = path.rpartition(".")[2]
        if not name.isdigit():
            layer.name = path.replace(".", "_")
        layers.append(layer)
        weights.append((layer, arrays, where))
        shape = _output_shape(layer, shape, where)
    model = Sequential([gl.Input(shape=input_shape), *layers], seed=seed, dtype=dtype)
    model.build()
    for layer, arrays, where in weights:
        set_weights(layer, arrays, where)
    return model


def _unrolled(module, nn, prefix):
    """``(dotted path, module)`` of every module a Sequential runs, nested Sequentials opened."""
    for name, child in module.named_children():
        path = f"{prefix}{name}"
        if type(child) is nn.Sequential:
            yield from _unrolled(child, nn, path + ".")
        else:
            yield path, child


def _where(path, module):
    return f"module {path!r} (torch.nn.{type(module).__name__})"


def _input_shape(entries, given, nn, activations):
    """The shape of one example: ``given``, else the ``in_features`` of the first Linear (or the
    ``num_features`` of the first BatchNorm1d) when only shape-keeping modules come before it."""
    if given is not None:
        return checks.shape("input_shape", given)
    keeps_shape = (*activations, nn.Dropout, nn.LayerNorm)
    for path, child in entries:
        if type(child) is nn.Linear:
            return (child.in_features,)
        if type(child) is nn.BatchNorm1d:
            return (child.num_features,)
        if type(child) not in keeps_shape:
            break
    raise ConfigurationError(f"from_torch cannot tell the shape of one example from {_where(path, child)}: pass "
                             "input_shape=(...) without the batch axis, e.g. input_shape=(10,) for 10 ids per example")


def _output_shape(layer, shape, where):
    try:
        return tuple(layer.compute_output_shape(shape))
    except (ConfigurationError, ValueError) as error:
        raise refuse(where, f"on inputs of shape {shape_text(shape)}: {error}") from None


def _numpy(tensor):
    return tensor.detach().cpu().numpy().copy()


def _linear_from_torch(linear, shape, where, activation):
    if len(shape) != 1:
        raise refuse(where, f"PyTorch's Linear acts on the last axis of its {shape_text(shape)} input, glassnet's "
                            "Dense takes (batch, features): put an nn.Flatten() before it")
    if shape[0] != linear.in_features:
        raise refuse(where, f"it takes {linear.in_features} features, the module before gives {shape[0]}")
    layer = gl.Dense(linear.out_features, activation=activation, use_bias=linear.bias is not None)
    arrays = {"weight": _numpy(linear.weight).T.copy()}  # (out, in) -> (in, out)
    if linear.bias is not None:
        arrays["bias"] = _numpy(linear.bias)
    return layer, arrays


def _activation_from_torch(module, where, nn, activations):
    kind = type(module)
    if kind is nn.LeakyReLU:
        return gl.LeakyReLU(module.negative_slope)
    if kind is nn.ELU:
        return gl.ELU(module.alpha)
    if kind is nn.GELU:
        if module.approximate not in ("none", "tanh"):
            raise refuse(where, f"approximate={module.approximate!r}; glassnet's GELU is exact or tanh-approximated")
        return gl.GELU(approximate=module.approximate == "tanh")
    if kind is nn.Softmax:
        if module.dim is None or module.dim == 0:
            raise refuse(where, f"dim={module.dim!r}: glassnet's Softmax takes an axis of the example (dim=-1 for the "
                                "features); dim=None is PyTorch's deprecated guess, dim=0 the batch axis")
        return gl.Softmax(axis=module.dim)
    if kind is nn.Softplus:
        if module.beta != 1 or module.threshold < 20:
            raise refuse(where, f"beta={module.beta}, threshold={module.threshold}: glassnet's Softplus is "
                                "log(1 + exp(x)), PyTorch's with beta=1 and threshold >= 20")
        return gl.Softplus()
    return activations[kind]()


def _dropout_from_torch(module, shape, where):
    return gl.Dropout(module.p), {}


def _flatten_from_torch(module, shape, where):
    if (module.start_dim, module.end_dim) != (1, -1):
        raise refuse(where, f"start_dim={module.start_dim}, end_dim={module.end_dim}: glassnet's Flatten keeps the "
                            "batch axis and flattens all the others (start_dim=1, end_dim=-1)")
    return gl.Flatten(), {}


def _unflatten_from_torch(module, shape, where):
    if module.dim not in (1, -1) or len(shape) != 1:
        raise refuse(where, f"dim={module.dim} of a {shape_text(shape)} input: glassnet's Reshape reshapes the whole "
                            "example; an Unflatten of dim 1 of a flat input is one")
    return gl.Reshape(tuple(module.unflattened_size)), {}


def _batchnorm_from_torch(module, shape, where):
    if len(shape) != 1:
        raise refuse(where, f"on a {shape_text(shape)} input PyTorch's BatchNorm1d normalizes axis 1 (channels first), "
                            "glassnet's BatchNormalization the last axis")
    if module.momentum is None:
        raise refuse(where, "momentum=None (a cumulative average of the batch statistics) has no counterpart: "
                            "glassnet's moving statistics follow an exponential average")
    if not module.track_running_stats or module.running_mean is None:
        raise refuse(where, "track_running_stats=False (batch statistics at inference too) has no counterpart: "
                            "glassnet's BatchNormalization predicts with its moving statistics")
    layer = gl.BatchNormalization(momentum=_one_minus(module.momentum), epsilon=module.eps,
                                  center=module.affine, scale=module.affine)
    arrays = {"moving_mean": _numpy(module.running_mean), "moving_variance": _numpy(module.running_var)}
    if module.affine:
        arrays.update(gamma=_numpy(module.weight), beta=_numpy(module.bias))
    return layer, arrays


def _layernorm_from_torch(module, shape, where):
    if len(module.normalized_shape) != 1 or module.normalized_shape[0] != shape[-1]:
        raise refuse(where, f"normalized_shape={tuple(module.normalized_shape)} on a {shape_text(shape)} input: "
                            "glassnet's LayerNormalization normalizes the last axis alone")
    layer = gl.LayerNormalization(epsilon=module.eps, center=module.bias is not None, scale=module.weight is not None)
    arrays = {}
    if module.weight is not None:
        arrays["gamma"] = _numpy(module.weight)
    if module.bias is not None:
        arrays["beta"] = _numpy(module.bias)
    return layer, arrays


def _embedding_from_torch(module, shape, where):
    for option, value, default in (("padding_idx", module.padding_idx, None), ("max_norm", module.max_norm, None),
                                   ("scale_grad_by_freq", module.scale_grad_by_freq, False),
                                   ("sparse", module.sparse, False)):
        if value != default:
            raise refuse(where, f"{option}={value!r} has no counterpart in glassnet's Embedding (a plain table of "
                                "rows, a dense gradient)")
    return gl.Embedding(module.num_embeddings, module.embedding_dim), {"weight": _numpy(module.weight)}


def _tables(nn):
    """``(activations, others)``: the module classes from_torch converts, by exact class (a
    subclass may have its own forward). An activation's entry is its glassnet class when it
    takes no argument, else None (``_activation_from_torch`` reads its arguments)."""
    activations = {nn.ReLU: gl.ReLU, nn.LeakyReLU: None, nn.ELU: None, nn.SELU: gl.SELU, nn.GELU: None,
                   nn.Sigmoid: gl.Sigmoid, nn.Tanh: gl.Tanh, nn.Softmax: None, nn.Softplus: None,
                   nn.SiLU: gl.Swish, nn.Identity: gl.Linear}
    others = {nn.Dropout: _dropout_from_torch, nn.Flatten: _flatten_from_torch, nn.Unflatten: _unflatten_from_torch,
              nn.BatchNorm1d: _batchnorm_from_torch, nn.LayerNorm: _layernorm_from_torch,
              nn.Embedding: _embedding_from_torch}
    return activations, others


_COVERED = ("Linear, ReLU, LeakyReLU, ELU, SELU, GELU, Sigmoid, Tanh, Softmax, Softplus, SiLU, Identity, Dropout, "
            "Flatten, Unflatten, BatchNorm1d, LayerNorm and Embedding in an nn.Sequential")


# ---------------------------------------------------------------------------------------------
# glassnet -> PyTorch
# ---------------------------------------------------------------------------------------------
def to_torch(model):
    """A ``torch.nn.Sequential`` with the layers and weights of the built ``gn.Sequential``
    ``model``, in the model's dtype, in evaluation mode (as ``model.predict``; call ``.train()``
    to train it). Its modules are named after the layers when the names are Python identifiers
    (``net.dense_1.weight``), else numbered. A graph ``gn.Model`` is refused: ``nn.Sequential``
    is a chain. See the module docstring for the layers covered."""
    torch = _torch("glassnet.interop.to_torch")
    nn = torch.nn
    if isinstance(model, Model):
        raise ConfigurationError("to_torch converts a gn.Sequential; a graph gn.Model (inputs wired to outputs) has no "
                                 "torch.nn.Sequential form: write a torch.nn.Module whose forward calls the layers")
    if not isinstance(model, Sequential):
        raise ConfigurationError(f"to_torch converts a gn.Sequential, got {type(model).__name__}")
    model.build_if_shape_known()
    if not model.built:
        raise NotBuiltError("to_torch copies the weights, and the model has none yet: start it with "
                            "gn.layers.Input(shape), or fit or build it first")
    named, copies = [], []
    shape = model.input_shape
    for index, layer in enumerate(model.layers):
        where = f"layer {index} ({layer.name!r}, {type(layer).__name__})"
        for suffix, module, arrays in _to_torch_layer(layer, shape, where, index, nn):
            named.append((layer.name + suffix, module))
            copies.append((module, arrays))
        shape = tuple(layer.compute_output_shape(shape))
    names = [name for name, _ in named]
    blank = nn.Sequential()
    if all(n.isidentifier() and not hasattr(blank, n) for n in names) and len(set(names)) == len(names):
        net = nn.Sequential(collections.OrderedDict(named))
    else:
        net = nn.Sequential(*(module for _, module in named))
    net.to(getattr(torch, model.dtype.name))
    with torch.no_grad():
        for module, arrays in copies:
            for attribute, array in arrays.items():
                target = getattr(module, attribute)
                target.copy_(torch.from_numpy(np.ascontiguousarray(array)))
    return net.eval()


def _to_torch_layer(layer, shape, where, index, nn):
    """``[(name suffix, module, {attribute: array})]`` for one glassnet layer."""
    kind = type(layer)
    if kind is gl.Dense:
        _no_regularizers(layer, where, ("kernel_regularizer", "bias_regularizer"))
        linear = nn.Linear(shape[0], layer.units, bias=layer.use_bias)
        arrays = {"weight": layer.weight.value.T}
        if layer.use_bias:
            arrays["bias"] = layer.bias.value
        modules = [("", linear, arrays)]
        if layer.activation is not None:
            activation = layer.activation
            modules.append((f"_{_activation_suffix(activation)}", _activation_to_torch(activation, where, nn), {}))
        return modules
    if kind is gl.Activation or kind in _ACTIVATIONS_TO_TORCH:
        return [("", _activation_to_torch(layer, where, nn), {})]
    if kind is gl.Dropout:
        return [("", nn.Dropout(layer.rate), {})]
    if kind is gl.Flatten:
        return [("", nn.Flatten(), {})]
    if kind is gl.Reshape:
        target = tuple(layer.compute_output_shape(shape))
        if len(shape) == 1:
            return [("", nn.Unflatten(1, target), {})]
        return [("_flatten", nn.Flatten(), {}), ("", nn.Unflatten(1, target), {})]
    if kind is gl.BatchNormalization:
        _no_regularizers(layer, where, ("gamma_regularizer", "beta_regularizer"))
        if len(shape) != 1:
            raise refuse(where, f"on a {shape_text(shape)} input it normalizes the last axis; PyTorch's BatchNorm1d "
                                "normalizes axis 1 (channels first)")
        if layer.center != layer.scale:
            raise refuse(where, f"center={layer.center}, scale={layer.scale}: PyTorch's BatchNorm1d learns both "
                                "gamma and beta (affine=True) or neither")
        module = nn.BatchNorm1d(shape[0], eps=layer.epsilon, momentum=_one_minus(layer.momentum), affine=layer.center)
        arrays = {"running_mean": layer.moving_mean.value, "running_var": layer.moving_variance.value}
        if layer.center:
            arrays.update(weight=layer.gamma.value, bias=layer.beta.value)
        return [("", module, arrays)]
    if kind is gl.LayerNormalization:
        _no_regularizers(layer, where, ("gamma_regularizer", "beta_regularizer"))
        if layer.center and not layer.scale:
            raise refuse(where, "center=True, scale=False: PyTorch's LayerNorm learns a bias only with a weight")
        module = nn.LayerNorm(shape[-1], eps=layer.epsilon, elementwise_affine=layer.scale, bias=layer.center)
        arrays = {}
        if layer.scale:
            arrays["weight"] = layer.gamma.value
        if layer.center:
            arrays["bias"] = layer.beta.value
        return [("", module, arrays)]
    if kind is gl.Embedding:
        _no_regularizers(layer, where, ("embeddings_regularizer",))
        return [("", nn.Embedding(layer.input_dim, layer.output_dim), {"weight": layer.weight.value})]
    if isinstance(layer, gl.Merge):
        raise refuse(where, "a merge layer combines several tensors, which only a graph model has")
    raise refuse(where, "PyTorch's nn.Sequential has no counterpart that to_torch knows; to_torch converts Dense, the "
                        "activation layers, Dropout, Flatten, Reshape, BatchNormalization, LayerNormalization and "
                        "Embedding")


def _no_regularizers(layer, where, attributes):
    for attribute in attributes:
        if getattr(layer, attribute) is not None:
            raise refuse(where, f"{attribute}={getattr(layer, attribute)!r}: a PyTorch module has no regularizer (the "
                                "penalty goes into the loss there); set it to None to convert the layer without it")


def _activation_suffix(activation):
    return type(activation).__name__.lower()


def _activation_to_torch(layer, where, nn):
    if type(layer) is gl.Activation:
        layer = layer.activation
    kind = type(layer)
    if kind is gl.LeakyReLU:
        return nn.LeakyReLU(layer.negative_slope)
    if kind is gl.ELU:
        return nn.ELU(layer.alpha)
    if kind is gl.GELU:
        return nn.GELU(approximate="tanh" if layer.approximate else "none")
    if kind is gl.Softmax:
        return nn.Softmax(dim=layer.axis)
    if kind in _ACTIVATIONS_TO_TORCH:
        return getattr(nn, _ACTIVATIONS_TO_TORCH[kind])()
    raise refuse(where, f"its activation {type(layer).__name__} has no PyTorch module that to_torch knows")


_ACTIVATIONS_TO_TORCH = {gl.ReLU: "ReLU", gl.LeakyReLU: "LeakyReLU", gl.ELU: "ELU", gl.SELU: "SELU", gl.GELU: "GELU",
                         gl.Sigmoid: "Sigmoid", gl.Tanh: "Tanh", gl.Softmax: "Softmax", gl.Softplus: "Softplus",
                         gl.Swish: "SiLU", gl.Linear: "Identity"}
