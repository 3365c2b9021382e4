"""Conv1D, Conv2D and the pooling layers: im2col and col2im against nested loops, the forward
against the window sum, float64 gradient checks for every option, PyTorch parity of the forward
and the gradients for random shapes, strides, paddings and dilations, model files, summary, graph
models, ONNX Runtime, and the refusals with their messages.

Tolerances: gradient checks at gradcheck's 1e-5 in float64; PyTorch parity and the loop
references in float64 at rtol 1e-10; ONNX Runtime within 1e-5 in float32 and 1e-12 in float64.
"""
import math

import numpy as np
import pytest

import glassnet as gn
from glassnet import checks, layer_kernels, layers
from glassnet.errors import ConfigurationError, ShapeError
from glassnet.layers import conv
from tests.test_model_file import config_with, rewrite

F64 = dict(rtol=1e-10, atol=1e-12)


def built(layer, shape, dtype=np.float64, seed=0):
    """``layer`` built for inputs of ``shape``, with a random bias (not the initial zeros)."""
    layer.ensure_built(shape, np.random.default_rng(seed), dtype)
    if getattr(layer, "bias", None) is not None:
        layer.bias.value[...] = np.random.default_rng(seed + 1).standard_normal(layer.bias.shape)
    return layer


def images(shape, n=3, seed=2):
    return np.random.default_rng(seed).standard_normal((n, *shape))


# -- the references: nested loops over every index --------------------------------------------------
def window_entries(kernel, strides, dilation, output_size, batch, channels, groups):
    """Every ``(k, row, column, n, y, x, c)``: entry ``[k, row, column]`` of the im2col matrices
    is the number at ``xp[n, y, x, c]``, written out one index at a time."""
    (kh, kw), (sh, sw), (dh, dw), (out_h, out_w) = kernel, strides, dilation, output_size
    per_group = channels // groups
    for k, n, p, q, i, j, c in np.ndindex(groups, batch, out_h, out_w, kh, kw, per_group):
        yield (k, (n * out_h + p) * out_w + q, (i * kw + j) * per_group + c,
               n, p * sh + i * dh, q * sw + j * dw, k * per_group + c)


def im2col_loops(xp, kernel, strides, dilation, output_size, groups):
    """cols[k, (n, p, q), (i, j, c)] = xp[n, p*sh + i*dh, q*sw + j*dw, k*Cg + c], one number at a time."""
    batch, _, _, channels = xp.shape
    cols = np.zeros((groups, batch * output_size[0] * output_size[1], kernel[0] * kernel[1] * channels // groups))
    for k, row, column, n, y, x, c in window_entries(kernel, strides, dilation, output_size, batch, channels, groups):
        cols[k, row, column] = xp[n, y, x, c]
    return cols


def col2im_loops(dcols, padded_shape, kernel, strides, dilation, output_size):
    """The transpose of ``im2col_loops``: each number of ``dcols`` added where it was copied from."""
    dxp = np.zeros(padded_shape)
    batch, _, _, channels = padded_shape
    for k, row, column, n, y, x, c in window_entries(kernel, strides, dilation, output_size, batch, channels,
                                                     dcols.shape[0]):
        dxp[n, y, x, c] += dcols[k, row, column]
    return dxp


def conv_loops(layer, x):
    """The window sum of the Conv2D docstring, one output number at a time (no im2col)."""
    geometry = layer.geometry(x.shape[1:])
    xp = conv.pad(x, geometry.pads)
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel_size, layer.strides, layer.dilation_rate
    w = layer.weight.value
    per_group, filters_per_group = w.shape[2], layer.filters // layer.groups
    y = np.zeros((len(x), *geometry.output_size, layer.filters))
    for n, p, q, f in np.ndindex(y.shape):
        group = f // filters_per_group
        total = 0.0 if layer.bias is None else layer.bias.value[f]
        for i in range(kh):
            for j in range(kw):
                for c in range(per_group):
                    total += xp[n, p * sh + i * dh, q * sw + j * dw, group * per_group + c] * w[i, j, c, f]
        y[n, p, q, f] = total
    return y


GEOMETRIES = [  # (input shape, kernel, strides, dilation, padding, groups)
    ((5, 6, 2), (3, 3), (1, 1), (1, 1), "valid", 1),
    ((6, 5, 3), (2, 3), (2, 1), (1, 1), "same", 1),
    ((7, 7, 4), (3, 2), (1, 2), (2, 1), "same", 2),
    ((8, 6, 6), (2, 2), (3, 2), (2, 2), "valid", 3),
    ((4, 4, 1), (4, 4), (1, 1), (1, 1), "same", 1),  # an odd padding of 3: 1 before, 2 after
]


@pytest.mark.parametrize("shape, kernel, strides, dilation, padding, groups", GEOMETRIES)
def test_im2col_and_col2im_are_the_nested_loops(shape, kernel, strides, dilation, padding, groups):
    layer = layers.Conv2D(groups * 2, kernel, strides, padding, dilation, groups)
    geometry = layer.geometry(shape)
    xp = conv.pad(images(shape), geometry.pads)
    cols = conv.im2col(xp, kernel, strides, dilation, geometry.output_size, groups)
    np.testing.assert_array_equal(cols, im2col_loops(xp, kernel, strides, dilation, geometry.output_size, groups))
    dcols = np.random.default_rng(3).standard_normal(cols.shape)
    expected = col2im_loops(dcols, xp.shape, kernel, strides, dilation, geometry.output_size)
    options = dict(kernel_h=kernel[0], kernel_w=kernel[1], stride_h=strides[0], stride_w=strides[1],
                   dilation_h=dilation[0], dilation_w=dilation[1])
    for col2im in (layer_kernels.col2im, layer_kernels.col2im_reference):
        dxp = np.zeros(xp.shape)
        col2im(dcols=dcols, dxp=dxp, **options)
        np.testing.assert_allclose(dxp, expected, **F64)
    # col2im is the transpose of im2col: <im2col(x), d> == <x, col2im(d)>
    np.testing.assert_allclose(np.vdot(cols, dcols), np.vdot(xp, expected), **F64)


@pytest.mark.parametrize("shape, kernel, strides, dilation, padding, groups", GEOMETRIES)
def test_the_transposed_im2col_is_the_transpose(shape, kernel, strides, dilation, padding, groups):
    geometry = layers.Conv2D(groups * 2, kernel, strides, padding, dilation, groups).geometry(shape)
    xp = conv.pad(images(shape), geometry.pads)
    cols = conv.im2col(xp, kernel, strides, dilation, geometry.output_size, groups)
    transposed = conv.im2col(xp, kernel, strides, dilation, geometry.output_size, groups, transposed=True)
    np.testing.assert_array_equal(transposed, cols.transpose(0, 2, 1))


@pytest.mark.parametrize("case", ["valid", "same_strided", "dilated_relu"])
def test_one_input_channel_takes_the_transposed_windows_and_gives_the_window_sum(case, monkeypatch):
    """With one input channel the windows are copied transposed (conv.py); forward, input gradient
    and kernel gradient are those of the same layer run on the usual matrices."""
    layer = {"valid": layers.Conv2D(3, 3),
             "same_strided": layers.Conv2D(3, (2, 3), strides=(2, 1), padding="same"),
             "dilated_relu": layers.Conv2D(2, 3, dilation_rate=2, activation="relu")}[case]
    layer = built(layer, (9, 8, 1))
    layer.compute_input_gradient = True
    x = images((9, 8, 1), n=4)
    np.testing.assert_allclose(layer.forward(x)[0], np.maximum(conv_loops(layer, x), 0) if case == "dilated_relu"
                               else conv_loops(layer, x), **F64)
    calls = []
    original = conv.im2col
    monkeypatch.setattr(conv, "im2col", lambda *args, **kw: calls.append(kw.get("transposed")) or original(*args, **kw))
    y, backward = layer.forward(x, training=True)
    dy = np.random.default_rng(5).standard_normal(y.shape)
    dx, dw = backward(dy), layer.weight.grad.copy()
    assert calls and all(calls)  # the transposed copy
    layer_wide = built(type(layer).from_config(layer.get_config()), (9, 8, 2))  # two channels: the usual copy
    layer_wide.compute_input_gradient = True
    layer_wide.weight.value[...] = 0
    layer_wide.weight.value[:, :, :1] = layer.weight.value
    layer_wide.bias.value[...] = layer.bias.value
    wide = np.concatenate([x, np.zeros_like(x)], axis=-1)
    calls.clear()
    y_wide, backward_wide = layer_wide.forward(wide, training=True)
    assert calls and not any(calls)
    np.testing.assert_allclose(y, y_wide, **F64)
    np.testing.assert_allclose(dx, backward_wide(dy)[..., :1], **F64)
    np.testing.assert_allclose(dw, layer_wide.weight.grad[:, :, :1], **F64)


@pytest.mark.parametrize("shape, kernel, strides, dilation, padding, groups", GEOMETRIES)
def test_the_forward_is_the_window_sum(shape, kernel, strides, dilation, padding, groups):
    layer = built(layers.Conv2D(groups * 2, kernel, strides, padding, dilation, groups), shape)
    x = images(shape)
    np.testing.assert_allclose(layer.forward(x)[0], conv_loops(layer, x), **F64)


def test_same_padding_is_tensorflows_the_odd_row_and_column_at_the_bottom_and_right():
    assert conv.output_length(4, 4, 1, 1, "same") == (4, 1, 2)
    assert conv.output_length(5, 3, 2, 1, "same") == (3, 1, 1)
    assert conv.output_length(6, 3, 2, 1, "same") == (3, 0, 1)
    assert conv.output_length(7, 1, 3, 1, "same") == (3, 0, 0)
    assert conv.output_length(9, 3, 1, 2, "same") == (9, 2, 2)  # the dilated kernel spans 5
    assert conv.output_length(9, 3, 2, 1, "valid") == (4, 0, 0)
    assert conv.output_length(6, 3, 1, 2, "causal") == (6, 4, 0)
    layer = layers.Conv2D(1, (2, 3), strides=(1, 2), padding="same")
    assert layer.geometry((5, 6, 1)).pads == ((0, 1), (0, 1))


def test_the_batch_is_split_into_slices_that_give_the_same_numbers(monkeypatch):
    """The windows are copied a slice of the batch at a time (``CHUNK_BYTES``); any slicing gives
    the forward and gradients of the whole batch at once."""
    layer = built(layers.Conv2D(4, 3, strides=(2, 1), padding="same", groups=2, activation="tanh"), (7, 6, 4))
    x = images((7, 6, 4), n=5)
    dy = np.random.default_rng(4).standard_normal(layer.forward(x)[0].shape)
    results = []
    for chunk_bytes in (conv.CHUNK_BYTES, 1, 3 * 7 * 6 * 2 * 9 * 8):  # whole batch, one example, 2-3 examples
        monkeypatch.setattr(conv, "CHUNK_BYTES", chunk_bytes)
        y, backward = layer.forward(x, training=True)
        dx = backward(dy)
        results.append((y, dx, layer.weight.grad.copy(), layer.bias.grad.copy()))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, **F64)


def test_an_example_whose_windows_do_not_fit_in_memory_is_refused(monkeypatch):
    layer = built(layers.Conv2D(2, 3, padding="same", name="big"), (8, 8, 3))
    monkeypatch.setattr(checks, "physical_memory", lambda: 1000)
    with pytest.raises(ConfigurationError, match="the im2col matrix of one example in layer 'big' would need"):
        layer.forward(images((8, 8, 3)))


# -- gradient checks ------------------------------------------------------------------------------
CONVOLUTIONS = {
    "valid": (lambda: layers.Conv2D(3, 3), (6, 5, 2)),
    "same": (lambda: layers.Conv2D(3, (3, 2), padding="same"), (5, 6, 2)),
    "same_odd_padding": (lambda: layers.Conv2D(2, 4, padding="same"), (5, 5, 2)),
    "strides": (lambda: layers.Conv2D(3, 3, strides=(2, 3), padding="same"), (7, 8, 2)),
    "strides_valid": (lambda: layers.Conv2D(2, 2, strides=2), (7, 6, 3)),
    "dilation": (lambda: layers.Conv2D(2, 3, dilation_rate=(2, 1), padding="same"), (6, 5, 2)),
    "dilation_and_strides": (lambda: layers.Conv2D(2, 2, strides=2, dilation_rate=2), (7, 7, 2)),
    "groups": (lambda: layers.Conv2D(4, 3, groups=2, padding="same"), (5, 5, 4)),
    "depthwise": (lambda: layers.Conv2D(3, 2, groups=3), (4, 5, 3)),
    "no_bias": (lambda: layers.Conv2D(3, 2, use_bias=False), (4, 4, 2)),
    "tanh": (lambda: layers.Conv2D(3, 2, activation="tanh"), (4, 4, 2)),
    "l2": (lambda: layers.Conv2D(2, 2, kernel_regularizer=gn.regularizers.L2(0.1),
                                 bias_regularizer=gn.regularizers.L1(0.1)), (4, 4, 2)),
    "1d_valid": (lambda: layers.Conv1D(3, 3), (7, 2)),
    "1d_same": (lambda: layers.Conv1D(3, 4, padding="same"), (7, 2)),
    "1d_causal": (lambda: layers.Conv1D(2, 3, padding="causal", dilation_rate=2), (7, 2)),
    "1d_strides": (lambda: layers.Conv1D(2, 3, strides=2, padding="same"), (8, 3)),
    "1d_groups_no_bias": (lambda: layers.Conv1D(4, 2, groups=2, use_bias=False), (6, 4)),
}
POOLINGS = {
    "max": (lambda: layers.MaxPooling2D(), (4, 6, 2)),
    "max_odd_size": (lambda: layers.MaxPooling2D(), (5, 5, 2)),
    "max_same_overlapping": (lambda: layers.MaxPooling2D((3, 2), strides=(2, 1), padding="same"), (5, 6, 2)),
    "average": (lambda: layers.AveragePooling2D(), (4, 6, 2)),
    "average_same": (lambda: layers.AveragePooling2D(3, strides=2, padding="same"), (6, 5, 2)),
    "global_average": (lambda: layers.GlobalAveragePooling2D(), (3, 4, 2)),
    "global_average_keepdims": (lambda: layers.GlobalAveragePooling2D(keepdims=True), (3, 4, 2)),
    "max_1d": (lambda: layers.MaxPooling1D(3, strides=2, padding="same"), (8, 2)),
    "average_1d": (lambda: layers.AveragePooling1D(), (7, 2)),
    "global_average_1d": (lambda: layers.GlobalAveragePooling1D(), (5, 2)),
}


@pytest.mark.parametrize("case", sorted(CONVOLUTIONS))
def test_gradcheck_of_every_convolution_option(case):
    factory, shape = CONVOLUTIONS[case]
    layer = built(factory(), shape)
    report = gn.gradcheck(layer, images(shape), training=True)
    assert report.passed, str(report)
    assert set(report.errors) == {p.name for p in layer.parameters()} | {"input"}


@pytest.mark.parametrize("case", sorted(POOLINGS))
def test_gradcheck_of_every_pooling_option(case):
    factory, shape = POOLINGS[case]
    layer = built(factory(), shape)
    for training in (True, False):
        report = gn.gradcheck(layer, images(shape), training=training)
        assert report.passed, str(report)


def cnn(dtype="float64", seed=0, input_shape=(8, 8, 1)):
    model = gn.Sequential([layers.Input(input_shape), layers.Conv2D(4, 3, padding="same", activation="tanh"),
                           layers.MaxPooling2D(), layers.Conv2D(6, 3, activation="tanh"),
                           layers.GlobalAveragePooling2D(), layers.Dense(3, activation="softmax")],
                          seed=seed, dtype=dtype)
    model.compile(gn.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_gradcheck_of_a_small_cnn_through_its_loss():
    x, y = images((8, 8, 1), n=6), np.arange(6) % 3
    report = gn.gradcheck(cnn(), x, y)
    assert report.passed, str(report)
    assert len(report.errors) == 7  # six parameters and the input


# -- PyTorch parity ---------------------------------------------------------------------------------
def draw_convolution(rng, rank):
    """Random arguments and an input shape that fits them."""
    groups = int(rng.choice([1, 1, 2, 3]))
    kernel = tuple(int(k) for k in rng.integers(1, 5, rank))
    strides = tuple(int(s) for s in rng.integers(1, 4, rank))
    dilation = tuple(int(d) for d in rng.integers(1, 4, rank))
    padding = str(rng.choice(["valid", "same"] + (["causal"] if rank == 1 else [])))
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    size = tuple(int(rng.integers(span, span + 6)) for span in spans)
    channels, filters = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    layer_class = layers.Conv2D if rank == 2 else layers.Conv1D
    layer = layer_class(filters, kernel, strides, padding, dilation, groups, use_bias=bool(rng.integers(2)))
    return layer, (*size, channels)


@pytest.mark.parametrize("rank", [1, 2])
@pytest.mark.parametrize("seed", range(12))
def test_pytorch_parity_of_the_forward_and_every_gradient(rank, seed):
    """Random shapes, strides, paddings, dilations and groups against ``torch.nn.functional.conv2d``
    (``conv1d``) on channels-first copies, "same" and "causal" as an explicit ``F.pad`` (which may
    be asymmetric); kernel (kh, kw, C / g, F) <-> PyTorch's (F, C / g, kh, kw)."""
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    rng = np.random.default_rng(seed)
    layer, shape = draw_convolution(rng, rank)
    layer = built(layer, shape, seed=seed)
    x = images(shape, n=int(rng.integers(1, 4)), seed=seed)
    y, backward = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape)
    dx = backward(dy)

    first, last = ((0, 2, 1), (0, 2, 1)) if rank == 1 else ((0, 3, 1, 2), (0, 2, 3, 1))
    x_t = torch.tensor(x.transpose(first), requires_grad=True)
    w_t = torch.tensor(np.moveaxis(layer.weight.value, (-1, -2), (0, 1)).copy(), requires_grad=True)
    b_t = None if layer.bias is None else torch.tensor(layer.bias.value, requires_grad=True)
    pads = layer.geometry(shape).pads[2 - rank:]
    padded = functional.pad(x_t, [amount for before_after in reversed(pads) for amount in before_after])
    op = functional.conv1d if rank == 1 else functional.conv2d
    y_t = op(padded, w_t, b_t, stride=layer.strides, dilation=layer.dilation_rate, groups=layer.groups)
    y_t.backward(torch.tensor(dy.transpose(first)))
    np.testing.assert_allclose(y, y_t.detach().numpy().transpose(last), **F64)
    np.testing.assert_allclose(dx, x_t.grad.numpy().transpose(last), **F64)
    np.testing.assert_allclose(layer.weight.grad, np.moveaxis(w_t.grad.numpy(), (0, 1), (-1, -2)), **F64)
    if b_t is not None:
        np.testing.assert_allclose(layer.bias.grad, b_t.grad.numpy(), **F64)


@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("seed", range(8))
def test_pytorch_parity_of_pooling(kind, seed):
    """``max_pool2d`` on the input padded with -inf; the average as PyTorch's sum pooling
    (``divisor_override=1``) of the zero-padded input divided by that of a padded mask of ones
    (the number of real cells). Random inputs have no ties."""
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    rng = np.random.default_rng(seed)
    pool = tuple(int(p) for p in rng.integers(1, 4, 2))
    strides = tuple(int(s) for s in rng.integers(1, 4, 2))
    padding = str(rng.choice(["valid", "same"]))
    shape = (*(int(n) for n in rng.integers(4, 9, 2)), int(rng.integers(1, 4)))
    layer = built((layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D)(pool, strides, padding), shape)
    x = images(shape, seed=seed)
    y, backward = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape)
    dx = backward(dy)

    x_t = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    (top, bottom), (left, right) = layer.geometry(shape)[2]
    pads = [left, right, top, bottom]
    if kind == "max":
        y_t = functional.max_pool2d(functional.pad(x_t, pads, value=-math.inf), pool, strides)
    else:
        sums = functional.avg_pool2d(functional.pad(x_t, pads), pool, strides, divisor_override=1)
        counts = functional.avg_pool2d(functional.pad(torch.ones_like(x_t), pads), pool, strides, divisor_override=1)
        y_t = sums / counts
    y_t.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(y, y_t.detach().numpy().transpose(0, 2, 3, 1), **F64)
    np.testing.assert_allclose(dx, x_t.grad.numpy().transpose(0, 2, 3, 1), **F64)


def test_pytorch_parity_of_global_average_pooling():
    torch = pytest.importorskip("torch")
    layer = built(layers.GlobalAveragePooling2D(), (3, 5, 4))
    x = images((3, 5, 4))
    y, backward = layer.forward(x)
    dy = np.random.default_rng(0).standard_normal(y.shape)
    x_t = torch.tensor(x, requires_grad=True)
    y_t = x_t.mean(dim=(1, 2))
    y_t.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, y_t.detach().numpy(), **F64)
    np.testing.assert_allclose(backward(dy), x_t.grad.numpy(), **F64)


def test_a_max_pooling_tie_sends_the_gradient_to_the_first_maximum():
    """In row-major order of the window; after a ReLU, windows of zeros are common."""
    layer = built(layers.MaxPooling2D(), (2, 4, 1))
    x = np.array([[[0.0], [0.0], [1.0], [3.0]],
                  [[0.0], [0.0], [3.0], [2.0]]])[None]
    y, backward = layer.forward(x, training=True)
    np.testing.assert_array_equal(y[0, 0, :, 0], [0.0, 3.0])
    dx = backward(np.array([[[[5.0], [7.0]]]]))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[5.0, 0.0, 0.0, 7.0], [0.0, 0.0, 0.0, 0.0]])
    inference_dx = layer.forward(x, training=False)[1](np.array([[[[5.0], [7.0]]]]))
    np.testing.assert_array_equal(inference_dx, dx)


def test_same_average_pooling_divides_by_the_real_cells_only():
    layer = built(layers.AveragePooling2D(2, padding="same"), (3, 3, 1))
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    y = layer.forward(x)[0][0, :, :, 0]
    np.testing.assert_allclose(y, [[(0 + 1 + 3 + 4) / 4, (2 + 5) / 2], [(6 + 7) / 2, 8.0]], **F64)


# -- in models ------------------------------------------------------------------------------------
def fashion_like(n=48, shape=(8, 8, 1), seed=0):
    """Three classes of pictures: a bright horizontal bar, a vertical bar, or neither, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.standard_normal((n, *shape)) * 0.3
    x[y == 0, 3:5, :, :] += 2
    x[y == 1, :, 3:5, :] += 2
    return x, y


def test_a_cnn_with_batch_normalization_and_dropout_learns_saves_and_loads(tmp_path):
    x, y = fashion_like()
    model = gn.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(4, 3, padding="same", use_bias=False),
                           layers.BatchNormalization(), layers.ReLU(), layers.MaxPooling2D(),
                           layers.Conv2D(8, 3, activation="relu"), layers.Dropout(0.2), layers.Flatten(),
                           layers.Dense(3, activation="softmax")], seed=0, dtype="float32")
    model.compile(gn.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 2
    assert history.history["accuracy"][-1] > 0.9
    model.save(tmp_path / "cnn.safetensors")
    loaded = gn.load(tmp_path / "cnn.safetensors")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]


def test_summary_shows_the_shapes_of_a_cnn():
    lines = []
    gn.Sequential([layers.Input((28, 28, 1)), layers.Conv2D(8, 3, padding="same", activation="relu"),
                   layers.MaxPooling2D(), layers.Conv2D(16, 3), layers.GlobalAveragePooling2D(),
                   layers.Dense(10, activation="softmax")]).summary(print_fn=lines.append)
    text = "\n".join(lines)
    for shape in ["(None, 28, 28, 8)", "(None, 14, 14, 8)", "(None, 12, 12, 16)", "(None, 16)", "(None, 10)"]:
        assert shape in text, text
    # 3*3*1*8 + 8, 3*3*8*16 + 16, 16*10 + 10
    assert "Total params: 1,418" in text


def test_a_cnn_in_a_graph_model_with_a_skip_connection():
    x, y = fashion_like()
    pictures = layers.Input((8, 8, 1))
    h = layers.Conv2D(4, 3, padding="same", activation="tanh")(pictures)
    h = layers.Add()([h, layers.Conv2D(4, 3, padding="same", activation="tanh")(h)])
    h = layers.GlobalAveragePooling2D()(layers.MaxPooling2D()(h))
    model = gn.Model(pictures, layers.Dense(3, activation="softmax")(h), seed=0, dtype="float64")
    model.compile(gn.optimizers.Adam(0.02), "sparse_categorical_crossentropy")
    report = gn.gradcheck(model, x[:6], y[:6])
    assert report.passed, str(report)
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_glorot_uniform_has_keras_fans_for_a_kernel():
    layer = built(layers.Conv2D(64, 5), (12, 12, 32), dtype=np.float32)
    fan_in, fan_out = 5 * 5 * 32, 5 * 5 * 64
    limit = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(layer.weight.value).max() <= limit
    assert np.abs(layer.weight.value).max() > 0.95 * limit


# -- refusals ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda: layers.Conv2D(0, 3), "Conv2D filters must be a positive integer, got 0"),
    (lambda: layers.Conv2D(4, 0), "Conv2D kernel_size must be a positive integer or a tuple of 2 positive integers, "
                                  "got 0"),
    (lambda: layers.Conv2D(4, (3, -1)), "kernel_size .* got \\(3, -1\\)"),
    (lambda: layers.Conv2D(4, (3, 3, 3)), "kernel_size .* got \\(3, 3, 3\\)"),
    (lambda: layers.Conv2D(4, 3, strides=0), "Conv2D strides must be"),
    (lambda: layers.Conv2D(4, 3, dilation_rate=(1, 0)), "Conv2D dilation_rate must be"),
    (lambda: layers.Conv2D(4, 3, padding="full"), "Conv2D padding must be one of 'valid', 'same', got 'full'"),
    (lambda: layers.Conv2D(4, 3, padding="causal"), "Conv2D padding must be one of 'valid', 'same'"),
    (lambda: layers.Conv2D(3, 3, groups=2), "filters \\(3\\) must be divisible by groups \\(2\\)"),
    (lambda: layers.Conv2D(4, 3, groups=0), "Conv2D groups must be a positive integer"),
    (lambda: layers.Conv1D(4, (3, 3)), "Conv1D kernel_size must be a positive integer, got \\(3, 3\\)"),
    (lambda: layers.MaxPooling2D(0), "MaxPooling2D pool_size must be"),
    (lambda: layers.AveragePooling2D(2, strides=(1, 0)), "AveragePooling2D strides must be"),
    (lambda: layers.MaxPooling1D(2, padding="causal"), "MaxPooling1D padding must be 'valid' or 'same'"),
    (lambda: layers.GlobalAveragePooling2D(keepdims=1), "keepdims must be True or False"),
])
def test_bad_arguments_are_refused(make, message):
    with pytest.raises(ConfigurationError, match=message):
        make()


@pytest.mark.parametrize("layer, shape, message", [
    (layers.Conv2D(8, 3), (784,), "layer 'conv2d' \\(Conv2D\\) needs inputs of shape \\(batch, height, width, "
                                  "channels\\), got \\(batch, 784\\): reshape with "
                                  "gn.layers.Reshape\\(\\(28, 28, 1\\)\\)"),
    (layers.Conv2D(8, 3), (30,), "got \\(batch, 30\\): reshape with "
                                 "gn.layers.Reshape\\(\\(height, width, channels\\)\\)"),
    (layers.Conv2D(8, 3), (28, 28), "a channel axis is missing, add one with "
                                    "gn.layers.Reshape\\(\\(28, 28, 1\\)\\)"),
    (layers.Conv1D(8, 3), (100,), "Conv1D\\) needs inputs of shape \\(batch, steps, channels\\), got \\(batch, "
                                  "100\\): a channel axis is missing, add one with gn.layers.Reshape\\(\\(100, 1\\)\\)"),
    (layers.Conv2D(8, 5), (3, 4, 1), "its kernel spans 5x5, more than its input of 3x4 with padding 'valid'"),
    (layers.Conv2D(8, 3, dilation_rate=3), (6, 6, 1), "spans 7x7 \\(kernel_size \\(3, 3\\) with dilation_rate "
                                                      "\\(3, 3\\)\\), more than its input of 6x6"),
    (layers.Conv2D(4, 3, groups=2), (8, 8, 3), "has groups=2, so its input's channels must be divisible by 2, "
                                               "got 3 channels"),
    (layers.MaxPooling2D(3), (2, 5, 1), "its pool of 3x3 is larger than its input of 2x5"),
    (layers.GlobalAveragePooling2D(), (5, 3), "needs inputs of shape \\(batch, height, width, channels\\)"),
])
def test_inputs_that_do_not_fit_are_refused_naming_what_was_expected(layer, shape, message):
    with pytest.raises(ShapeError, match=message):
        gn.Sequential([layers.Input(shape), layer]).build()
    with pytest.raises(ShapeError, match=message):  # in a graph, when the call is recorded
        layer(layers.Input(shape))


def test_the_kernel_larger_than_the_input_is_fine_with_same_padding():
    layer = built(layers.Conv2D(2, 5, padding="same"), (3, 4, 1))
    assert layer.forward(images((3, 4, 1)))[0].shape == (3, 3, 4, 2)


def test_a_model_file_whose_kernel_has_the_wrong_shape_is_refused(tmp_path):
    path = tmp_path / "cnn.safetensors"
    cnn().save(path)
    rewrite(path, model=config_with(path, lambda c: c["layers"][0]["config"].update(kernel_size=[5, 5])))
    with pytest.raises(gn.ModelFileError, match="conv2d.weight is float64 \\(3, 3, 1, 4\\) in the file, but the "
                                                "architecture needs float64 \\(5, 5, 1, 4\\)"):
        gn.load(path)
    cnn().save(path)
    rewrite(path, lambda t: {**t, "params/conv2d_1.weight": t["params/conv2d_1.weight"][:, :, :2].copy()})
    with pytest.raises(gn.ModelFileError, match="conv2d_1.weight is float64 \\(3, 3, 2, 6\\) in the file"):
        gn.load(path)


def test_predict_refuses_pictures_of_the_wrong_shape():
    model = cnn()
    with pytest.raises(ShapeError, match="x has shape \\(2, 8, 8, 3\\) but the model expects \\(n, 8, 8, 1\\)"):
        model.predict(np.zeros((2, 8, 8, 3)), verbose=0)


# -- ONNX -----------------------------------------------------------------------------------------
def onnx_outputs(model, x):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from glassnet.onnx import to_proto
    session = ort.InferenceSession(to_proto(model).SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


ONNX_TOLERANCE = {"float32": dict(rtol=0, atol=1e-5), "float64": dict(rtol=0, atol=1e-12)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_onnx_runtime_gives_predict_for_a_small_cnn(dtype):
    """The issue's network; float32 runs ONNX's Conv, MaxPool and GlobalAveragePool between
    Transposes; float64 (which ONNX Runtime has no Conv for) im2col as Gather and MatMul."""
    model = gn.Sequential([layers.Input((28, 28, 1)), layers.Conv2D(8, 3, padding="same", activation="relu"),
                           layers.MaxPooling2D(), layers.Conv2D(16, 3), layers.GlobalAveragePooling2D(),
                           layers.Dense(10, activation="softmax")], seed=0, dtype=dtype)
    x = images((28, 28, 1), n=7).astype(dtype)
    outputs = onnx_outputs(model, x)
    assert outputs.dtype == np.dtype(dtype) and outputs.shape == (7, 10)
    np.testing.assert_allclose(outputs, model.predict(x, verbose=0), **ONNX_TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CONVOLUTIONS) + sorted(POOLINGS))
def test_onnx_runtime_gives_predict_for_every_option(case, dtype):
    factory, shape = {**CONVOLUTIONS, **POOLINGS}[case]
    model = gn.Sequential([layers.Input(shape), factory()], seed=0, dtype=dtype)
    model.build()
    for p in model.parameters():
        p.value[...] = np.random.default_rng(1).standard_normal(p.shape)
    x = images(shape, n=4).astype(dtype)
    np.testing.assert_allclose(onnx_outputs(model, x), model.predict(x, verbose=0), **ONNX_TOLERANCE[dtype])
