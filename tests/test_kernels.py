"""Every compiled kernel (``glassnet.kernels``: optimizer updates, softmax cross-entropy;
``glassnet.layer_kernels``: the layers' loops) against its NumPy reference (the same math as
whole-array expressions), called with the same keyword arguments, in float64 and float32, for
every option. The kernel runs on the buffers' dtype; the
reference runs in float64 on the same coefficients."""
import numpy as np
import pytest

from glassnet import kernels, layer_kernels
from glassnet.errors import ShapeError

TOLERANCE = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=2e-5, atol=2e-6)}


def random_buffers(dtype, names, n=257):
    rng = np.random.default_rng(0)
    return {name: rng.standard_normal(n).astype(dtype) for name in names}


def run_both(kernel, reference, dtype, buffers, coefficients, steps=5):
    """``steps`` updates by ``kernel`` on ``buffers`` and by ``reference`` on float64 copies, each
    step with a new gradient ``g``; return both sets of buffers."""
    c = np.dtype(dtype).type
    coefficients = {k: v if isinstance(v, bool) else c(v) for k, v in coefficients.items()}
    expected = {name: b.astype(np.float64) for name, b in buffers.items()}
    for step in range(steps):
        g = np.sin(np.arange(buffers["w"].size) * 0.7 + step).astype(dtype)
        kernel(g=g, **buffers, **coefficients)
        reference(g=g.astype(np.float64), **expected, **coefficients)
    return buffers, expected


def assert_close(got, expected, dtype):
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], **TOLERANCE[dtype], err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum, nesterov, weight_decay",
                         [(0.0, False, 0.0), (0.9, False, 0.0), (0.9, True, 0.1)])
def test_sgd_kernel(dtype, momentum, nesterov, weight_decay):
    buffers = random_buffers(dtype, ["w", "momentum_buffer"])
    coefficients = dict(learning_rate=0.1, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    assert_close(*run_both(kernels.sgd, kernels.sgd_reference, dtype, buffers, coefficients), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weight_decay, shrink", [(0.0, 1.0), (0.1, 1.0), (0.0, 0.999)])  # Adam, L2, AdamW
def test_adam_kernel(dtype, weight_decay, shrink):
    buffers = random_buffers(dtype, ["w", "m", "v"])
    buffers["v"] **= 2  # a second moment is >= 0
    coefficients = dict(one_minus_beta_1=0.1, beta_2=0.999, one_minus_beta_2=0.001,
                        step_size=0.01 / 0.1, root_correction=np.sqrt(0.001), epsilon=1e-8,
                        weight_decay=weight_decay, shrink=shrink)  # Adam's first step at rate 0.01
    assert_close(*run_both(kernels.adam, kernels.adam_reference, dtype, buffers, coefficients), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum, centered", [(0.0, False), (0.5, False), (0.0, True), (0.5, True)])
def test_rmsprop_kernel(dtype, momentum, centered):
    buffers = random_buffers(dtype, ["w", "v", "mean", "momentum_buffer"])
    buffers["v"] **= 2
    coefficients = dict(learning_rate=0.01, rho=0.9, one_minus_rho=0.1, momentum=momentum, epsilon=1e-7,
                        centered=centered, weight_decay=0.01)
    assert_close(*run_both(kernels.rmsprop, kernels.rmsprop_reference, dtype, buffers, coefficients), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adagrad_kernel(dtype, weight_decay):
    buffers = random_buffers(dtype, ["w", "accumulator"])
    buffers["accumulator"] **= 2  # a sum of squares is >= 0
    coefficients = dict(learning_rate=0.1, epsilon=1e-7, weight_decay=weight_decay)
    assert_close(*run_both(kernels.adagrad, kernels.adagrad_reference, dtype, buffers, coefficients), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adamax_kernel(dtype, weight_decay):
    buffers = random_buffers(dtype, ["w", "m", "u"])
    buffers["u"] = np.abs(buffers["u"])  # a largest |g| is >= 0
    coefficients = dict(one_minus_beta_1=0.1, beta_2=0.999, step_size=0.01 / 0.1, epsilon=1e-7,
                        weight_decay=weight_decay)
    assert_close(*run_both(kernels.adamax, kernels.adamax_reference, dtype, buffers, coefficients), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_nadam_kernel(dtype, weight_decay):
    buffers = random_buffers(dtype, ["w", "m", "v"])
    buffers["v"] **= 2
    coefficients = dict(one_minus_beta_1=0.1, beta_2=0.999, one_minus_beta_2=0.001, gradient_step=0.01,
                        momentum_step=0.02, root_correction=np.sqrt(0.001), epsilon=1e-7, weight_decay=weight_decay)
    assert_close(*run_both(kernels.nadam, kernels.nadam_reference, dtype, buffers, coefficients), dtype)


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("scale", [1.0, 1e3])  # large logits: no overflow, no NaN
def test_sparse_softmax_cross_entropy_kernel(dtype, tolerance, smoothing, scale):
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((17, 5)) * scale).astype(dtype)
    labels = rng.integers(0, 5, 17).astype(np.intp)
    values, grads = np.empty(17, dtype), np.empty_like(z)
    kernels.sparse_softmax_cross_entropy(z=z, labels=labels, smoothing=smoothing, values=values, grads=grads)
    expected_values, expected_grads = np.empty(17), np.empty(z.shape)
    kernels.sparse_softmax_cross_entropy_reference(z=z.astype(np.float64), labels=labels, smoothing=smoothing,
                                                   values=expected_values, grads=expected_grads)
    np.testing.assert_allclose(values, expected_values, rtol=tolerance, atol=tolerance * scale)
    np.testing.assert_allclose(grads, expected_grads, rtol=tolerance, atol=tolerance)
    assert values.dtype == grads.dtype == dtype


def cross_entropy_buffers(n=4, k=3, dtype=np.float32):
    return dict(z=np.zeros((n, k), dtype), labels=np.zeros(n, np.intp), smoothing=0.0,
                values=np.empty(n, dtype), grads=np.empty((n, k), dtype))


@pytest.mark.parametrize("label", [-1, 3, 10**9])
def test_cross_entropy_kernel_returns_the_first_row_whose_label_is_out_of_range(label):
    buffers = cross_entropy_buffers()
    buffers["labels"][2] = label
    assert kernels.sparse_softmax_cross_entropy(**buffers) == 2
    buffers["labels"][2] = 1
    assert kernels.sparse_softmax_cross_entropy(**buffers) == -1


def test_cross_entropy_kernel_with_no_classes_touches_nothing():
    assert kernels.sparse_softmax_cross_entropy(**cross_entropy_buffers(k=0)) == 0
    assert kernels.sparse_softmax_cross_entropy(**cross_entropy_buffers(n=0, k=0)) == -1


@pytest.mark.parametrize("name, array", [("labels", np.zeros(3, np.intp)), ("values", np.empty(3, np.float32)),
                                         ("grads", np.empty((4, 2), np.float32)),
                                         ("grads", np.empty((3, 3), np.float32))])
def test_cross_entropy_kernel_refuses_buffers_of_other_sizes(name, array):
    with pytest.raises(ShapeError):
        kernels.sparse_softmax_cross_entropy(**{**cross_entropy_buffers(), name: array})


def optimizer_buffers(names, n=8, dtype=np.float32):
    return {name: np.zeros(n, dtype) for name in names}


SGD_COEFFICIENTS = dict(learning_rate=0.1, momentum=0.9, nesterov=False, weight_decay=0.0)
ADAM_COEFFICIENTS = dict(one_minus_beta_1=0.1, beta_2=0.999, one_minus_beta_2=0.001, step_size=0.1,
                         root_correction=0.03, epsilon=1e-7, weight_decay=0.0, shrink=1.0)
RMSPROP_COEFFICIENTS = dict(learning_rate=0.1, rho=0.9, one_minus_rho=0.1, momentum=0.5, epsilon=1e-7,
                            centered=True, weight_decay=0.0)
ADAGRAD_COEFFICIENTS = dict(learning_rate=0.1, epsilon=1e-7, weight_decay=0.0)
ADAMAX_COEFFICIENTS = dict(one_minus_beta_1=0.1, beta_2=0.999, step_size=0.1, epsilon=1e-7, weight_decay=0.0)
NADAM_COEFFICIENTS = dict(one_minus_beta_1=0.1, beta_2=0.999, one_minus_beta_2=0.001, gradient_step=0.01,
                          momentum_step=0.02, root_correction=0.03, epsilon=1e-7, weight_decay=0.0)


@pytest.mark.parametrize("kernel, names, coefficients", [
    (kernels.sgd, ["w", "g", "momentum_buffer"], SGD_COEFFICIENTS),
    (kernels.adam, ["w", "g", "m", "v"], ADAM_COEFFICIENTS),
    (kernels.rmsprop, ["w", "g", "v", "mean", "momentum_buffer"], RMSPROP_COEFFICIENTS),
    (kernels.adagrad, ["w", "g", "accumulator"], ADAGRAD_COEFFICIENTS),
    (kernels.adamax, ["w", "g", "m", "u"], ADAMAX_COEFFICIENTS),
    (kernels.nadam, ["w", "g", "m", "v"], NADAM_COEFFICIENTS)])
def test_optimizer_kernels_refuse_a_buffer_shorter_than_the_weights(kernel, names, coefficients):
    for short in names[1:]:
        buffers = {**optimizer_buffers(names), short: np.zeros(3, np.float32)}
        with pytest.raises(ShapeError, match="as many entries as w"):
            kernel(**buffers, **coefficients)


def test_a_buffer_of_an_option_that_is_off_may_be_empty():
    buffers = {**optimizer_buffers(["w", "g"]), "momentum_buffer": np.zeros(0, np.float32)}
    kernels.sgd(**buffers, **{**SGD_COEFFICIENTS, "momentum": 0.0})
    buffers = {**optimizer_buffers(["w", "g", "v"]), "mean": np.zeros(0, np.float32),
               "momentum_buffer": np.zeros(0, np.float32)}
    kernels.rmsprop(**buffers, **{**RMSPROP_COEFFICIENTS, "momentum": 0.0, "centered": False})


# -- convolution and pooling kernels -------------------------------------------------------------------
WINDOWS = [  # (padded input shape, kernel or pool (h, w), strides, dilation, groups)
    ((2, 7, 6, 4), (3, 3), (1, 1), (1, 1), 1),
    ((3, 9, 8, 6), (2, 3), (2, 3), (2, 1), 3),
    ((1, 6, 6, 2), (6, 6), (1, 1), (1, 1), 2),
    ((2, 8, 5, 1), (1, 2), (3, 1), (1, 2), 1),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape, kernel, strides, dilation, groups", WINDOWS)
def test_col2im_kernel(dtype, shape, kernel, strides, dilation, groups):
    out_h = (shape[1] - dilation[0] * (kernel[0] - 1) - 1) // strides[0] + 1
    out_w = (shape[2] - dilation[1] * (kernel[1] - 1) - 1) // strides[1] + 1
    rng = np.random.default_rng(0)
    dcols = rng.standard_normal((groups, shape[0] * out_h * out_w, kernel[0] * kernel[1] * shape[3] // groups))
    start = rng.standard_normal(shape)  # col2im adds to what dxp holds
    options = dict(kernel_h=kernel[0], kernel_w=kernel[1], stride_h=strides[0], stride_w=strides[1],
                   dilation_h=dilation[0], dilation_w=dilation[1])
    got, expected = start.astype(dtype), start.copy()
    layer_kernels.col2im(dcols=dcols.astype(dtype), dxp=got, **options)
    layer_kernels.col2im_reference(dcols=dcols, dxp=expected, **options)
    np.testing.assert_allclose(got, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape, pool, strides, _, __", WINDOWS)
def test_max_pool_kernels(dtype, shape, pool, strides, _, __):
    out_h, out_w = (shape[1] - pool[0]) // strides[0] + 1, (shape[2] - pool[1]) // strides[1] + 1
    rng = np.random.default_rng(1)
    xp = rng.integers(-3, 4, shape).astype(dtype)  # small integers: many ties, which go to the first
    options = dict(pool_h=pool[0], pool_w=pool[1], stride_h=strides[0], stride_w=strides[1])
    results = []
    for pool_kernel in (layer_kernels.max_pool, layer_kernels.max_pool_reference):
        out = (shape[0], out_h, out_w, shape[3])
        y, first = np.empty(out, dtype), np.empty(out, np.uint8)
        pool_kernel(xp=xp, y=y, first=first, **options)
        results.append((y, first))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    dy = rng.standard_normal(results[0][0].shape).astype(dtype)
    got, expected = np.ones(shape, dtype), np.ones(shape, dtype)
    layer_kernels.max_pool_backward(dy=dy, first=results[0][1], dxp=got, **options)
    layer_kernels.max_pool_backward_reference(dy=dy, first=results[0][1], dxp=expected, **options)
    np.testing.assert_allclose(got, expected, **TOLERANCE[dtype])


def test_window_kernels_refuse_arrays_that_do_not_fit():
    dxp = np.zeros((2, 5, 5, 4))
    options = dict(kernel_h=3, kernel_w=3, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1)
    for dcols in (np.zeros((1, 2 * 9 - 1, 36)), np.zeros((1, 18, 35)), np.zeros((3, 18, 12))):
        with pytest.raises(ShapeError, match="col2im: dcols must be"):
            layer_kernels.col2im(dcols=dcols, dxp=dxp, **options)
    with pytest.raises(ShapeError, match="col2im"):
        layer_kernels.col2im(dcols=np.zeros((1, 2, 36)), dxp=dxp, **{**options, "kernel_h": 6})
    pool = dict(pool_h=2, pool_w=2, stride_h=2, stride_w=2)
    y, first = np.zeros((2, 2, 2, 4)), np.zeros((2, 2, 2, 4), np.uint8)
    with pytest.raises(ShapeError, match="max_pool: y and first"):
        layer_kernels.max_pool(xp=dxp, y=np.zeros((2, 3, 2, 4)), first=first, **pool)
    with pytest.raises(ShapeError, match="max_pool: y and first"):
        layer_kernels.max_pool(xp=dxp, y=y, first=first[:, :, :, :3], **pool)
    with pytest.raises(ShapeError, match="max_pool_backward: dy and first"):
        layer_kernels.max_pool_backward(dy=np.zeros((2, 2, 2, 3)), first=first, dxp=dxp, **pool)
    with pytest.raises(ShapeError, match="an offset in first is outside the pool"):
        layer_kernels.max_pool_backward(dy=y, first=np.full((2, 2, 2, 4), 4, np.uint8), dxp=dxp, **pool)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relu_backward_kernel(dtype):
    rng = np.random.default_rng(2)
    y = np.maximum(rng.standard_normal(1001), 0).astype(dtype)
    y[::7] = 0  # exact zeros: ReLU's gradient there is 0, as PyTorch's
    dy = rng.standard_normal(1001).astype(dtype)
    got, expected = np.full_like(y, np.nan), np.full_like(y, np.nan)
    layer_kernels.relu_backward(y=y, dy=dy, dx=got)
    layer_kernels.relu_backward_reference(y=y, dy=dy, dx=expected)
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(ShapeError, match="relu_backward: y, dy and dx must have the same size"):
        layer_kernels.relu_backward(y=y, dy=dy[:-1], dx=got)


def test_relu_layer_gives_the_same_gradient_whatever_the_memory_layout_of_dy():
    from glassnet import layers
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 16, 40)).astype(np.float32)  # large enough for the compiled backward
    assert x.size >= layers.activations.RELU_KERNEL_FROM
    y, backward = layers.ReLU().forward(x)
    dy = rng.standard_normal((40, 16, 64)).astype(np.float32).transpose(2, 1, 0)  # not contiguous
    np.testing.assert_array_equal(backward(dy), dy * (x > 0))
    np.testing.assert_array_equal(backward(np.ascontiguousarray(dy)), dy * (x > 0))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rows, features, input_gradient", [(1, 3, True), (257, 5, True), (1000, 16, False)])
def test_batch_norm_kernels(dtype, rows, features, input_gradient):
    """The kernels on ``dtype`` buffers against the references in float64 on the same numbers."""
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((rows, features)) * 3 + 5).astype(dtype)  # an offset: the centering matters
    gamma, beta = rng.standard_normal(features).astype(dtype), rng.standard_normal(features).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    results = []
    for kernel, t in ((layer_kernels.batch_norm_forward, dtype), (layer_kernels.batch_norm_forward_reference, np.float64)):
        out = dict(y=np.empty(x.shape, t), x_hat=np.empty(x.shape, t),
                   **{k: np.empty(features, t) for k in ("mean", "variance", "inv_std")})
        kernel(x=x.astype(t), gamma=gamma.astype(t), beta=beta.astype(t), epsilon=t(1e-3), **out)
        backward = layer_kernels.batch_norm_backward if t is dtype and kernel is layer_kernels.batch_norm_forward else \
            layer_kernels.batch_norm_backward_reference
        grads = dict(dx=np.empty(x.shape, t) if input_gradient else np.empty((0, features), t),
                     d_gamma=np.empty(features, t), d_beta=np.empty(features, t))
        backward(dy=dy.astype(t), x_hat=out["x_hat"], gamma=gamma.astype(t), inv_std=out["inv_std"], **grads)
        results.append({**out, **grads})
    for name in results[0]:
        np.testing.assert_allclose(results[0][name], results[1][name], **TOLERANCE[dtype], err_msg=name)


def test_batch_norm_kernels_refuse_arrays_that_do_not_fit():
    x, f = np.zeros((4, 3)), np.zeros(3)
    with pytest.raises(ShapeError, match="batch_norm_forward"):
        layer_kernels.batch_norm_forward(x=x, gamma=f, beta=np.zeros(2), epsilon=1e-3, y=np.zeros((4, 3)),
                                   x_hat=np.zeros((4, 3)), mean=f.copy(), variance=f.copy(), inv_std=f.copy())
    with pytest.raises(ShapeError, match="batch_norm_forward"):
        layer_kernels.batch_norm_forward(x=np.zeros((0, 3)), gamma=f, beta=f, epsilon=1e-3, y=np.zeros((0, 3)),
                                   x_hat=np.zeros((0, 3)), mean=f.copy(), variance=f.copy(), inv_std=f.copy())
    with pytest.raises(ShapeError, match="batch_norm_backward"):
        layer_kernels.batch_norm_backward(dy=x, x_hat=x, gamma=f, inv_std=f, dx=np.zeros((3, 3)), d_gamma=f.copy(),
                                    d_beta=f.copy())
