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
    Conv1D, Conv2D               nn.Conv1d, nn.Conv2d: kernel (kh, kw, in / groups, filters) against
                                 PyTorch's (filters, in / groups, kh, kw); padding "valid", or "same"
                                 (TensorFlow's: an odd total puts the extra row or column after) and
                                 "causal" as the conv's symmetric padding or an nn.ConstantPad before it
    MaxPooling1D/2D              nn.MaxPool1d/2d ("same": an nn.ConstantPad of -inf before it)
    AveragePooling1D/2D          nn.AvgPool1d/2d (without padding: glassnet leaves padded cells out
                                 of the mean, which PyTorch does only for a symmetric padding)
    GlobalAveragePooling1D/2D    nn.AdaptiveAvgPool1d/2d(1) (and nn.Flatten() unless keepdims)
    BatchNormalization of a map  nn.BatchNorm1d / nn.BatchNorm2d over the channels

glassnet's maps are channels-last, (batch, height, width, channels) as in Keras; PyTorch's are
channels-first, (batch, channels, height, width). A network of convolutions therefore moves to
PyTorch's own layout: the module takes ``np.moveaxis(x, -1, 1)`` where the glassnet model takes
``x``, and ``from_torch`` takes ``input_shape`` as PyTorch sees it, ``(channels, height, width)``.
The layers follow: a Softmax over the channels is ``dim=1``, and where a map is flattened (the
two frameworks flatten its numbers in different orders) the next Dense's weight rows, and the
per-feature weights of a BatchNormalization or LayerNormalization between them, are permuted
(``flat_permutation``), so the two predict the same. A ``Reshape`` into maps of one channel is an
``nn.Unflatten`` to ``(1, ...)``; a layer that would need the axes moved inside the network (a
convolution after an Embedding, a Reshape into several channels, a LayerNormalization of a
map's channels) is refused.

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
from ..layers.conv import output_length
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

    ``input_shape`` is the shape of one example as PyTorch takes it (no batch axis; channels
    first for a network of convolutions: ``(channels, height, width)``); it may be left out when
    the first module that changes shapes is an ``nn.Linear`` (its ``in_features``) or an
    ``nn.BatchNorm1d``. A network of convolutions becomes a channels-last glassnet model: it takes
    ``x.transpose(0, 2, 3, 1)`` where the module takes ``x`` (see the module docstring). ``seed``
    seeds the model's generator (dropout masks, shuffling). Nested ``nn.Sequential`` modules are
    read in order, as PyTorch runs them. The model's dtype is the weights' (float32 or float64)."""
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
    torch_shape = _input_shape(entries, input_shape, nn, activations)
    layout = _Layout(len(torch_shape) >= 2 and _feeds_convolution([type(c) for _, c in entries], 0, _spatial_torch(nn),
                                                                   (nn.Flatten, nn.Unflatten, nn.Linear)))
    shape = input_shape = (*torch_shape[1:], torch_shape[0]) if layout.spatial else torch_shape
    layers, weights = [], []
    i = 0
    while i < len(entries):
        path, child = entries[i]
        where = _where(path, child)
        kind = type(child)
        following = type(entries[i + 1][1]) if i + 1 < len(entries) else None
        if kind is nn.Embedding and i > 0:
            raise refuse(where, "an Embedding reads integer ids, so in a Sequential it must be the first module")
        if kind in (nn.ConstantPad1d, nn.ConstantPad2d) and following in _POOLS_AND_CONVS(nn):
            pad, (path, child), i = child, entries[i + 1], i + 1
            where, kind = f"{where} and {_where(path, child)}", type(child)
        else:
            pad = None
        if kind in (nn.Linear, nn.Conv1d, nn.Conv2d):
            activation, i = None, i + 1
            if i < len(entries) and type(entries[i][1]) in activations:
                activation = _activation_from_torch(entries[i][1], _where(*entries[i]), nn, activations, shape,
                                                    layout)
                i += 1
            if kind is nn.Linear:
                layer, arrays = _linear_from_torch(child, shape, where, activation, layout)
            else:
                layer, arrays = _conv_from_torch(child, pad, shape, where, activation, layout, nn)
        elif kind in _POOLS_AND_CONVS(nn):
            layer, arrays, i = _pool_from_torch(child, pad, shape, where, layout, nn), {}, i + 1
        elif kind in (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d):
            flat = following is nn.Flatten and (entries[i + 1][1].start_dim, entries[i + 1][1].end_dim) == (1, -1)
            layer, arrays, i = _global_pool_from_torch(child, shape, where, layout, flat), {}, i + (2 if flat else 1)
        elif kind in activations:
            layer, arrays = _activation_from_torch(child, where, nn, activations, shape, layout), {}
            i += 1
        elif kind is nn.Unflatten:
            into_map = _feeds_convolution([type(c) for _, c in entries], i + 1, _spatial_torch(nn),
                                          (nn.Flatten, nn.Unflatten, nn.Linear))
            layer, arrays = _unflatten_from_torch(child, shape, where, layout, into_map), {}
            i += 1
        elif kind in others:
            layer, arrays = others[kind](child, shape, where, layout)
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


class _Layout:
    """Where the numbers of the tensor between two layers sit in PyTorch against glassnet.
    ``spatial``: a map (steps or rows and columns, and channels) that glassnet holds channels-last
    and PyTorch channels-first. ``perm``: after such a map was flattened, where each of glassnet's
    flat features sits in PyTorch's flat tensor, ``gn[i] = torch[perm[i]]``, until a Dense (Linear)
    reads them in that order; None when the two orders are the same."""

    def __init__(self, spatial):
        self.spatial, self.perm = spatial, None


def flat_permutation(shape):
    """For glassnet's channels-last map of ``shape`` (no batch axis: (..., channels)), flattened:
    ``perm[i]`` is where PyTorch's flattened channels-first map has glassnet's feature ``i``."""
    order = np.arange(int(np.prod(shape))).reshape(shape[-1], *shape[:-1])  # PyTorch's flat index, by [c, ...]
    return np.moveaxis(order, 0, -1).reshape(-1)


def _spatial_torch(nn):
    return (nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d,
            nn.AdaptiveAvgPool2d)


def _POOLS_AND_CONVS(nn):
    return (nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)


def _feeds_convolution(kinds, start, spatial, flat):
    """Whether the layers from ``start`` on reach a convolution or pooling (``spatial`` kinds)
    before a layer of ``flat`` kinds: whether the tensor there is a map of channels."""
    for kind in kinds[start:]:
        if kind in spatial:
            return True
        if kind in flat:
            return False
    return False


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


def _linear_from_torch(linear, shape, where, activation, layout):
    if len(shape) != 1:
        raise refuse(where, f"PyTorch's Linear acts on the last axis of its {shape_text(shape)} input, glassnet's "
                            "Dense takes (batch, features): put an nn.Flatten() before it")
    if shape[0] != linear.in_features:
        raise refuse(where, f"it takes {linear.in_features} features, the module before gives {shape[0]}")
    layer = gl.Dense(linear.out_features, activation=activation, use_bias=linear.bias is not None)
    weight = _numpy(linear.weight)  # (out, in)
    if layout.perm is not None:  # after a flattened map: glassnet's feature i is PyTorch's perm[i]
        weight, layout.perm = weight[:, layout.perm], None
    arrays = {"weight": weight.T.copy()}  # (out, in) -> (in, out)
    if linear.bias is not None:
        arrays["bias"] = _numpy(linear.bias)
    return layer, arrays


def _spatial_pads(pad, where, value):
    """``[(before, after)]`` per spatial axis (rows first) of an ``nn.ConstantPad1d/2d`` of ``value``."""
    if pad is None:
        return None
    if float(pad.value) != value:
        raise refuse(where, f"its padding value is {pad.value}; glassnet pads a convolution with 0 and a max "
                            "pooling with -inf")
    left, right, *rows = pad.padding
    return ([tuple(rows)] if rows else []) + [(left, right)]


def _padding_name(pads, shape, kernel, strides, dilation, where):
    """glassnet's padding ("valid", "same", "causal") that adds ``pads`` (per spatial axis) to
    an input of ``shape``, or a refusal: glassnet has no other padding."""
    rank = len(kernel)
    if all(p == (0, 0) for p in pads):
        return "valid"
    for name in ("same", "causal") if rank == 1 else ("same",):
        if all(output_length(n, k, s, d, name)[1:] == tuple(p)
               for n, k, s, d, p in zip(shape[:-1], kernel, strides, dilation, pads)):
            return name
    raise refuse(where, f"its padding {pads} (before, after per axis) is neither 'same' (TensorFlow's) nor "
                        "'causal' for this input; glassnet's convolutions and poolings have no other padding")


def _sizes(values, rank):
    return tuple(values) if isinstance(values, (tuple, list)) else (values,) * rank


def _conv_from_torch(conv, pad, shape, where, activation, layout, nn):
    rank = 1 if type(conv) is nn.Conv1d else 2
    if not layout.spatial or len(shape) != rank + 1:
        raise refuse(where, f"its input here is not a map of channels (glassnet's {shape_text(shape)}): PyTorch's "
                            f"Conv{rank}d takes (batch, channels, ...) and glassnet's (batch, ..., channels)")
    if conv.padding_mode != "zeros":
        raise refuse(where, f"padding_mode={conv.padding_mode!r}: glassnet pads with zeros")
    kernel, strides, dilation = (_sizes(v, rank) for v in (conv.kernel_size, conv.stride, conv.dilation))
    if conv.padding == "same":
        padding = "same"
    else:
        own = [(0, 0)] * rank if conv.padding == "valid" else [(p, p) for p in _sizes(conv.padding, rank)]
        extra = _spatial_pads(pad, where, 0.0) or [(0, 0)] * rank
        pads = [(a + c, b + d) for (a, b), (c, d) in zip(own, extra)]
        padding = _padding_name(pads, shape, kernel, strides, dilation, where)
    layer = getattr(gl, f"Conv{rank}D")(conv.out_channels, kernel, strides=strides, padding=padding,
                                        dilation_rate=dilation, groups=conv.groups, activation=activation,
                                        use_bias=conv.bias is not None)
    # PyTorch's (filters, channels / groups, kh, kw) -> glassnet's (kh, kw, channels / groups, filters)
    arrays = {"weight": np.ascontiguousarray(np.moveaxis(_numpy(conv.weight), (0, 1), (-1, -2)))}
    if conv.bias is not None:
        arrays["bias"] = _numpy(conv.bias)
    return layer, arrays


def _pool_from_torch(pool, pad, shape, where, layout, nn):
    kind = type(pool)
    rank = 1 if kind in (nn.MaxPool1d, nn.AvgPool1d) else 2
    is_max = kind in (nn.MaxPool1d, nn.MaxPool2d)
    if not layout.spatial or len(shape) != rank + 1:
        raise refuse(where, f"its input here is not a map of channels (glassnet's {shape_text(shape)})")
    if pool.ceil_mode:
        raise refuse(where, "ceil_mode=True has no counterpart: glassnet's pools follow Keras's 'valid'/'same' sizes")
    kernel = _sizes(pool.kernel_size, rank)
    strides = _sizes(pool.stride if pool.stride is not None else pool.kernel_size, rank)
    own = [(p, p) for p in _sizes(pool.padding, rank)]
    if is_max:
        if pool.return_indices or any(d != 1 for d in _sizes(pool.dilation, rank)):
            raise refuse(where, "return_indices=True or a dilation has no counterpart in glassnet's MaxPooling")
        extra = _spatial_pads(pad, where, float("-inf")) or [(0, 0)] * rank
        pads = [(a + c, b + d) for (a, b), (c, d) in zip(own, extra)]
    else:
        if pad is not None or any(p != (0, 0) for p in own) or getattr(pool, "divisor_override", None) is not None:
            raise refuse(where, "a padded average pooling (or divisor_override) has no counterpart that from_torch "
                                "knows: glassnet's averages leave padded cells out of the count")
        pads = own
    padding = _padding_name(pads, shape, kernel, strides, (1,) * rank, where)
    name = f"{'Max' if is_max else 'Average'}Pooling{rank}D"
    return getattr(gl, name)(pool_size=kernel, strides=strides, padding=padding)


def _global_pool_from_torch(pool, shape, where, layout, flat):
    rank = len(shape) - 1
    if not layout.spatial or rank not in (1, 2) or set(_sizes(pool.output_size, rank)) != {1}:
        raise refuse(where, "glassnet's global average pooling is an adaptive pooling to size 1 of a map of channels")
    if flat:  # AdaptiveAvgPool + Flatten: (batch, channels), the same order in both
        layout.spatial = False
    return getattr(gl, f"GlobalAveragePooling{rank}D")(keepdims=not flat)


def _activation_from_torch(module, where, nn, activations, shape=None, layout=None):
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
        axis = module.dim
        if layout is not None and layout.spatial:  # PyTorch's (batch, C, ...) against glassnet's (batch, ..., C)
            full = len(shape) + 1
            axis = module.dim % full
            axis = -1 if axis == 1 else axis - 1
        return gl.Softmax(axis=axis)
    if kind is nn.Softplus:
        if module.beta != 1 or module.threshold < 20:
            raise refuse(where, f"beta={module.beta}, threshold={module.threshold}: glassnet's Softplus is "
                                "log(1 + exp(x)), PyTorch's with beta=1 and threshold >= 20")
        return gl.Softplus()
    return activations[kind]()


def _dropout_from_torch(module, shape, where, layout):
    return gl.Dropout(module.p), {}


def _flatten_from_torch(module, shape, where, layout):
    if (module.start_dim, module.end_dim) != (1, -1):
        raise refuse(where, f"start_dim={module.start_dim}, end_dim={module.end_dim}: glassnet's Flatten keeps the "
                            "batch axis and flattens all the others (start_dim=1, end_dim=-1)")
    if layout.spatial:  # PyTorch flattens (channels, ...), glassnet (..., channels)
        layout.spatial, layout.perm = False, flat_permutation(shape)
    return gl.Flatten(), {}


def _unflatten_from_torch(module, shape, where, layout, into_map):
    if module.dim not in (1, -1) or len(shape) != 1 or layout.spatial or layout.perm is not None:
        raise refuse(where, f"dim={module.dim} of a {shape_text(shape)} input: glassnet's Reshape reshapes the whole "
                            "example; an Unflatten of dim 1 of a flat input (not a flattened map) is one")
    sizes = tuple(module.unflattened_size)
    if into_map:  # a map for the convolutions: PyTorch's (channels, ...), glassnet's (..., channels)
        if sizes[0] != 1:
            raise refuse(where, f"it unflattens to {sizes}, channels first, for a convolution; glassnet's maps are "
                                "channels-last and hold the numbers in another order unless there is one channel")
        layout.spatial = True
        return gl.Reshape((*sizes[1:], 1))
    return gl.Reshape(sizes)


def _permuted(array, layout):
    """A per-feature array of PyTorch's in glassnet's order (after a flattened map)."""
    return array if layout.perm is None else array[layout.perm]


def _batchnorm_from_torch(module, shape, where, layout):
    rank = 2 if type(module).__name__ == "BatchNorm2d" else 1
    if layout.spatial and len(shape) == rank + 1:
        pass  # channels: PyTorch's axis 1, glassnet's last axis
    elif rank == 2 or len(shape) != 1:
        raise refuse(where, f"on a {shape_text(shape)} input PyTorch's {type(module).__name__} normalizes axis 1 "
                            "(channels first), glassnet's BatchNormalization the last axis")
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
    return layer, {k: _permuted(v, layout) for k, v in arrays.items()}


def _layernorm_from_torch(module, shape, where, layout):
    if layout.spatial or len(module.normalized_shape) != 1 or module.normalized_shape[0] != shape[-1]:
        raise refuse(where, f"normalized_shape={tuple(module.normalized_shape)} on a {shape_text(shape)} input: "
                            "glassnet's LayerNormalization normalizes the last axis alone (the channels of a map)")
    layer = gl.LayerNormalization(epsilon=module.eps, center=module.bias is not None, scale=module.weight is not None)
    arrays = {}
    if module.weight is not None:
        arrays["gamma"] = _permuted(_numpy(module.weight), layout)
    if module.bias is not None:
        arrays["beta"] = _permuted(_numpy(module.bias), layout)
    return layer, arrays


def _embedding_from_torch(module, shape, where, layout):
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
    others = {nn.Dropout: _dropout_from_torch, nn.Flatten: _flatten_from_torch,
              nn.BatchNorm1d: _batchnorm_from_torch, nn.BatchNorm2d: _batchnorm_from_torch,
              nn.LayerNorm: _layernorm_from_torch, nn.Embedding: _embedding_from_torch}
    return activations, others


_COVERED = ("Linear, Conv1d, Conv2d (with a ConstantPad before them), MaxPool1d/2d, AvgPool1d/2d, "
            "AdaptiveAvgPool1d/2d to size 1, ReLU, LeakyReLU, ELU, SELU, GELU, Sigmoid, Tanh, Softmax, Softplus, "
            "SiLU, Identity, Dropout, Flatten, Unflatten, BatchNorm1d/2d, LayerNorm and Embedding in an nn.Sequential")


# ---------------------------------------------------------------------------------------------
# glassnet -> PyTorch
# ---------------------------------------------------------------------------------------------
def to_torch(model):
    """A ``torch.nn.Sequential`` with the layers and weights of the built ``gn.Sequential``
    ``model``, in the model's dtype, in evaluation mode (as ``model.predict``; call ``.train()``
    to train it). Its modules are named after the layers when the names are Python identifiers
    (``net.dense_1.weight``), else numbered. A model of convolutions becomes PyTorch's
    channels-first network: it takes ``x.transpose(0, 3, 1, 2)`` where glassnet takes ``x`` (see
    the module docstring). A graph ``gn.Model`` is refused: ``nn.Sequential`` is a chain."""
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
    kinds = [type(layer) for layer in model.layers]
    ids = bool(model.layers) and model.layers[0].id_count is not None
    layout = _Layout(len(shape) >= 2 and not ids and _feeds_convolution(kinds, 0, _SPATIAL, _FLAT))
    for index, layer in enumerate(model.layers):
        where = f"layer {index} ({layer.name!r}, {type(layer).__name__})"
        into_map = _feeds_convolution(kinds, index + 1, _SPATIAL, _FLAT)
        for suffix, module, arrays in _to_torch_layer(layer, shape, where, nn, layout, into_map):
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


_SPATIAL = (gl.Conv1D, gl.Conv2D, gl.MaxPooling1D, gl.MaxPooling2D, gl.AveragePooling1D, gl.AveragePooling2D,
            gl.GlobalAveragePooling1D, gl.GlobalAveragePooling2D)
_FLAT = (gl.Flatten, gl.Reshape, gl.Dense)


def _in_torch_order(array, layout):
    """A per-feature array of glassnet's in PyTorch's order (after a flattened map)."""
    if layout.perm is None:
        return array
    out = np.empty_like(array)
    out[layout.perm] = array
    return out


def _torch_pad(pads, value, nn):
    """The ``nn.ConstantPad1d/2d`` that adds ``pads`` ((before, after) per spatial axis, rows first)."""
    if len(pads) == 1:
        return nn.ConstantPad1d(tuple(pads[0]), value)
    (top, bottom), (left, right) = pads
    return nn.ConstantPad2d((left, right, top, bottom), value)


def _pads(layer, shape, kernel, dilation):
    return [output_length(n, k, s, d, layer.padding)[1:]
            for n, k, s, d in zip(shape[:-1], kernel, layer.strides, dilation)]


def _to_torch_layer(layer, shape, where, nn, layout, into_map):
    """``[(name suffix, module, {attribute: array})]`` for one glassnet layer; ``layout`` says
    where the numbers of its input sit in PyTorch (and is moved on to its output), ``into_map``
    whether its output feeds a convolution."""
    kind = type(layer)
    if kind in _SPATIAL and not layout.spatial:
        raise refuse(where, "its input is channels-last in PyTorch too here (after an Embedding, or a Reshape to more "
                            "than one channel), and PyTorch's convolutions and poolings take channels first; no module "
                            "of an nn.Sequential moves the axes")
    if kind in (gl.Dense, gl.Conv1D, gl.Conv2D):
        _no_regularizers(layer, where, ("kernel_regularizer", "bias_regularizer"))
        if kind is gl.Dense:
            weight = layer.weight.value.T  # (in, out) -> (out, in)
            if layout.perm is not None:  # after a flattened map: PyTorch's feature perm[i] is glassnet's i
                moved = np.empty_like(weight)
                moved[:, layout.perm] = weight
                weight, layout.perm = moved, None
            modules = [("", nn.Linear(shape[0], layer.units, bias=layer.use_bias), {"weight": weight})]
        else:
            modules = _conv_to_torch(layer, shape, nn)
        if layer.use_bias:
            modules[-1][2]["bias"] = layer.bias.value
        if layer.activation is not None:
            activation = layer.activation
            modules.append((f"_{_activation_suffix(activation)}",
                            _activation_to_torch(activation, where, nn, shape, layout), {}))
        return modules
    if kind in (gl.MaxPooling1D, gl.MaxPooling2D, gl.AveragePooling1D, gl.AveragePooling2D):
        rank = layer.rank
        pads = _pads(layer, shape, layer.pool_size, (1,) * rank)
        is_max = kind in (gl.MaxPooling1D, gl.MaxPooling2D)
        pool = getattr(nn, f"{'Max' if is_max else 'Avg'}Pool{rank}d")(layer.pool_size, layer.strides)
        if all(p == (0, 0) for p in pads):
            return [("", pool, {})]
        if not is_max:
            raise refuse(where, f"padding='same' adds {pads} cells here, which glassnet leaves out of each mean; "
                                "PyTorch's AvgPool can leave out only a symmetric padding")
        return [("_pad", _torch_pad(pads, float("-inf"), nn), {}), ("", pool, {})]
    if kind in (gl.GlobalAveragePooling1D, gl.GlobalAveragePooling2D):
        pool = getattr(nn, f"AdaptiveAvgPool{layer.rank}d")(1)
        if layer.keepdims:
            return [("", pool, {})]
        layout.spatial = False
        return [("", pool, {}), ("_flatten", nn.Flatten(), {})]
    if kind is gl.Activation or kind in _ACTIVATIONS_TO_TORCH:
        return [("", _activation_to_torch(layer, where, nn, shape, layout), {})]
    if kind is gl.Dropout:
        return [("", nn.Dropout(layer.rate), {})]
    if kind is gl.Flatten:
        if layout.spatial:  # PyTorch flattens (channels, ...), glassnet (..., channels)
            layout.spatial, layout.perm = False, flat_permutation(shape)
        return [("", nn.Flatten(), {})]
    if kind is gl.Reshape:
        target = tuple(layer.compute_output_shape(shape))
        if layout.spatial or layout.perm is not None:
            raise refuse(where, "it reshapes a map of channels (or its flattened numbers), which PyTorch holds in "
                                "another order (channels first)")
        if into_map:
            if target[-1] != 1:
                raise refuse(where, f"it makes maps of {target[-1]} channels for a convolution; PyTorch's are channels "
                                    "first and hold the numbers in another order unless there is one channel")
            layout.spatial, target = True, (1, *target[:-1])
        if len(shape) == 1:
            return [("", nn.Unflatten(1, target), {})]
        return [("_flatten", nn.Flatten(), {}), ("", nn.Unflatten(1, target), {})]
    if kind is gl.BatchNormalization:
        _no_regularizers(layer, where, ("gamma_regularizer", "beta_regularizer"))
        if layout.spatial and len(shape) in (2, 3):
            module_class = nn.BatchNorm1d if len(shape) == 2 else nn.BatchNorm2d
        elif len(shape) == 1:
            module_class = nn.BatchNorm1d
        else:
            raise refuse(where, f"on a {shape_text(shape)} input it normalizes the last axis; PyTorch's BatchNorm1d "
                                "normalizes axis 1 (channels first)")
        if layer.center != layer.scale:
            raise refuse(where, f"center={layer.center}, scale={layer.scale}: PyTorch's BatchNorm learns both "
                                "gamma and beta (affine=True) or neither")
        module = module_class(shape[-1], eps=layer.epsilon, momentum=_one_minus(layer.momentum), affine=layer.center)
        arrays = {"running_mean": layer.moving_mean.value, "running_var": layer.moving_variance.value}
        if layer.center:
            arrays.update(weight=layer.gamma.value, bias=layer.beta.value)
        return [("", module, {k: _in_torch_order(v, layout) for k, v in arrays.items()})]
    if kind is gl.LayerNormalization:
        _no_regularizers(layer, where, ("gamma_regularizer", "beta_regularizer"))
        if layout.spatial:
            raise refuse(where, "it normalizes the channels of a map, PyTorch's LayerNorm the last axes (channels "
                                "first there)")
        if layer.center and not layer.scale:
            raise refuse(where, "center=True, scale=False: PyTorch's LayerNorm learns a bias only with a weight")
        module = nn.LayerNorm(shape[-1], eps=layer.epsilon, elementwise_affine=layer.scale, bias=layer.center)
        arrays = {}
        if layer.scale:
            arrays["weight"] = _in_torch_order(layer.gamma.value, layout)
        if layer.center:
            arrays["bias"] = _in_torch_order(layer.beta.value, layout)
        return [("", module, arrays)]
    if kind is gl.Embedding:
        _no_regularizers(layer, where, ("embeddings_regularizer",))
        return [("", nn.Embedding(layer.input_dim, layer.output_dim), {"weight": layer.weight.value})]
    if isinstance(layer, gl.Merge):
        raise refuse(where, "a merge layer combines several tensors, which only a graph model has")
    raise refuse(where, "PyTorch's nn.Sequential has no counterpart that to_torch knows; to_torch converts Dense, "
                        "Conv1D, Conv2D, the poolings, the activation layers, Dropout, Flatten, Reshape, "
                        "BatchNormalization, LayerNormalization and Embedding")


def _conv_to_torch(layer, shape, nn):
    """``[(suffix, module, arrays)]``: PyTorch's Conv1d/Conv2d, after an ``nn.ConstantPad`` where
    the padding is not the same on both sides ("same" with an odd total, "causal")."""
    rank = layer.rank
    pads = _pads(layer, shape, layer.kernel_size, layer.dilation_rate)
    symmetric = all(before == after for before, after in pads)
    conv = getattr(nn, f"Conv{rank}d")(shape[-1], layer.filters, layer.kernel_size, stride=layer.strides,
                                       padding=tuple(p[0] for p in pads) if symmetric else 0,
                                       dilation=layer.dilation_rate, groups=layer.groups, bias=layer.use_bias)
    # glassnet's (kh, kw, channels / groups, filters) -> PyTorch's (filters, channels / groups, kh, kw)
    modules = [("", conv, {"weight": np.moveaxis(layer.weight.value, (-1, -2), (0, 1))})]
    if not symmetric:
        modules.insert(0, ("_pad", _torch_pad(pads, 0.0, nn), {}))
    return modules


def _no_regularizers(layer, where, attributes):
    for attribute in attributes:
        if getattr(layer, attribute) is not None:
            raise refuse(where, f"{attribute}={getattr(layer, attribute)!r}: a PyTorch module has no regularizer (the "
                                "penalty goes into the loss there); set it to None to convert the layer without it")


def _activation_suffix(activation):
    return type(activation).__name__.lower()


def _activation_to_torch(layer, where, nn, shape=None, layout=None):
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
        if layout is not None and layout.spatial:  # glassnet's (batch, ..., C) against PyTorch's (batch, C, ...)
            axis = layer.axis % (len(shape) + 1)
            return nn.Softmax(dim=1 if axis == len(shape) else axis + 1)
        return nn.Softmax(dim=layer.axis)
    if kind in _ACTIVATIONS_TO_TORCH:
        return getattr(nn, _ACTIVATIONS_TO_TORCH[kind])()
    raise refuse(where, f"its activation {type(layer).__name__} has no PyTorch module that to_torch knows")


_ACTIVATIONS_TO_TORCH = {gl.ReLU: "ReLU", gl.LeakyReLU: "LeakyReLU", gl.ELU: "ELU", gl.SELU: "SELU", gl.GELU: "GELU",
                         gl.Sigmoid: "Sigmoid", gl.Tanh: "Tanh", gl.Softmax: "Softmax", gl.Softplus: "Softplus",
                         gl.Swish: "SiLU", gl.Linear: "Identity"}
