"""Parity with PyTorch: glassnet must compute what PyTorch computes.

"Parity" here means: for the same inputs, the same parameter values and the same upstream
gradient, a glassnet forward pass returns the same outputs as the equivalent PyTorch function,
its backward closure returns the same input gradient and stores the same parameter gradients
as ``torch.autograd``, every loss returns the same value and the same gradient with respect to the
predictions as ``torch.nn.functional`` with ``reduction="mean"``, and every optimizer moves the
parameters along the same trajectory as ``torch.optim`` (with its learning-rate schedulers and
gradient clipping utilities).

Forward passes and gradients are compared in float64, where both libraries should agree to
rounding (relative tolerance 1e-10). Optimizer trajectories are compared in float32, the dtype
they run in during training, step by step for 20 steps (rtol 1e-5, atol 1e-6). A last check
trains the same small network in both libraries through ``Sequential.fit`` and compares the
losses and the final weights in float64.

PyTorch's conventions that differ from glassnet's are mapped explicitly: a Dense weight is
``(fan_in, units)`` here and ``(units, fan_in)`` in ``nn.Linear``; RMSprop's ``rho`` is
PyTorch's ``alpha``; Adam's ``epsilon`` defaults to 1e-7 here (Keras) and 1e-8 there, so the
tests always pass it explicitly.
"""
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import glassnet as gn  # noqa: E402
from glassnet import layers, losses, optimizers  # noqa: E402
from glassnet.optimizers import schedules  # noqa: E402
from glassnet.parameter import FlatParameters, Parameter  # noqa: E402

F64 = dict(rtol=1e-10, atol=1e-12)   # float64 forward/gradient checks
F32 = dict(rtol=1e-5, atol=1e-6)     # float32 optimizer trajectories


def leaf(array):
    """A PyTorch leaf tensor holding a copy of ``array`` (same dtype) that records its gradient."""
    return torch.tensor(np.array(array), requires_grad=True)


def numpy(tensor):
    return tensor.detach().numpy()


def away_from_zero(rng, shape, low=0.05, high=4.0):
    """Random numbers with ``low <= |x| <= high``: no input sits on a kink at 0."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, high, size=shape)


# =================================================================================================
# 1. Dense vs torch.nn.functional.linear
# =================================================================================================

def _built_dense(rng, fan_in, units, dtype=np.float64, **kwargs):
    layer = layers.Dense(units, **kwargs)
    layer.ensure_built((fan_in,), np.random.default_rng(0), dtype)
    # Replace the initial values by arbitrary ones (the default bias is all zeros).
    layer.weight.value[...] = rng.normal(size=layer.weight.shape)
    if layer.bias is not None:
        layer.bias.value[...] = rng.normal(size=layer.bias.shape)
    return layer


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("batch, fan_in, units", [(1, 1, 1), (7, 5, 3), (16, 32, 8), (3, 2, 40)])
def test_dense_forward_and_gradients_match_torch_linear(batch, fan_in, units, use_bias):
    rng = np.random.default_rng(batch * 1000 + fan_in * 10 + units)
    layer = _built_dense(rng, fan_in, units, use_bias=use_bias)
    x = rng.normal(size=(batch, fan_in))
    dy = rng.normal(size=(batch, units))
    for p in layer.parameters():
        p.grad[...] = 0

    y, backward = layer.forward(x, training=True)
    dx = backward(dy)

    x_t = leaf(x)
    w_t = leaf(layer.weight.value.T)  # torch stores (units, fan_in)
    b_t = leaf(layer.bias.value) if use_bias else None
    y_t = F.linear(x_t, w_t, b_t)
    y_t.backward(torch.from_numpy(dy))

    np.testing.assert_allclose(y, numpy(y_t), **F64)
    np.testing.assert_allclose(dx, numpy(x_t.grad), **F64)
    np.testing.assert_allclose(layer.weight.grad, numpy(w_t.grad).T, **F64)
    if use_bias:
        np.testing.assert_allclose(layer.bias.grad, numpy(b_t.grad), **F64)
    else:
        assert layer.bias is None and len(layer.parameters()) == 1


def test_dense_backward_stores_the_gradient_of_the_latest_batch():
    """glassnet's backward *stores* dL/dW of its batch (torch would accumulate; glassnet's loop
    never needs a sum over backward calls): after two batches, ``grad`` is the second one's."""
    rng = np.random.default_rng(7)
    layer = _built_dense(rng, 6, 4)
    x1, x2 = rng.normal(size=(5, 6)), rng.normal(size=(3, 6))
    dy1, dy2 = rng.normal(size=(5, 4)), rng.normal(size=(3, 4))
    layer.forward(x1, training=True)[1](dy1)
    layer.forward(x2, training=True)[1](dy2)

    w_t, b_t = leaf(layer.weight.value.T), leaf(layer.bias.value)
    F.linear(torch.from_numpy(x2), w_t, b_t).backward(torch.from_numpy(dy2))
    np.testing.assert_allclose(layer.weight.grad, numpy(w_t.grad).T, **F64)
    np.testing.assert_allclose(layer.bias.grad, numpy(b_t.grad), **F64)


# Activation names accepted by Dense(activation=...) and what they are in PyTorch.
DENSE_ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": F.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.2),
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda z: F.softmax(z, dim=-1),
    "softplus": F.softplus,
    "swish": F.silu,
    "silu": F.silu,
}


@pytest.mark.parametrize("activation", sorted(DENSE_ACTIVATIONS))
def test_dense_with_activation_matches_torch_linear_then_activation(activation):
    rng = np.random.default_rng(zlib.crc32(activation.encode()))
    layer = _built_dense(rng, 5, 4, activation=activation)
    x = rng.normal(size=(9, 5))
    dy = rng.normal(size=(9, 4))
    for p in layer.parameters():
        p.grad[...] = 0

    y, backward = layer.forward(x, training=True)
    dx = backward(dy)

    x_t, w_t, b_t = leaf(x), leaf(layer.weight.value.T), leaf(layer.bias.value)
    y_t = DENSE_ACTIVATIONS[activation](F.linear(x_t, w_t, b_t))
    y_t.backward(torch.from_numpy(dy))

    np.testing.assert_allclose(y, numpy(y_t), **F64)
    np.testing.assert_allclose(dx, numpy(x_t.grad), **F64)
    np.testing.assert_allclose(layer.weight.grad, numpy(w_t.grad).T, **F64)
    np.testing.assert_allclose(layer.bias.grad, numpy(b_t.grad), **F64)


# =================================================================================================
# 2. Activations vs their torch equivalents
# =================================================================================================

ACTIVATIONS = [
    pytest.param(layers.Linear, lambda x: x, id="linear"),
    pytest.param(layers.ReLU, F.relu, id="relu"),
    pytest.param(lambda: layers.LeakyReLU(negative_slope=0.2), lambda x: F.leaky_relu(x, 0.2),
                 id="leaky_relu_0.2"),
    pytest.param(lambda: layers.LeakyReLU(negative_slope=0.01), lambda x: F.leaky_relu(x, 0.01),
                 id="leaky_relu_0.01"),
    pytest.param(layers.ELU, F.elu, id="elu"),
    pytest.param(lambda: layers.ELU(alpha=0.5), lambda x: F.elu(x, alpha=0.5), id="elu_alpha_0.5"),
    pytest.param(layers.SELU, F.selu, id="selu"),
    pytest.param(lambda: layers.GELU(approximate=False), lambda x: F.gelu(x, approximate="none"),
                 id="gelu_exact"),
    pytest.param(lambda: layers.GELU(approximate=True), lambda x: F.gelu(x, approximate="tanh"),
                 id="gelu_tanh"),
    pytest.param(layers.Sigmoid, torch.sigmoid, id="sigmoid"),
    pytest.param(layers.Tanh, torch.tanh, id="tanh"),
    pytest.param(layers.Softmax, lambda x: F.softmax(x, dim=-1), id="softmax"),
    pytest.param(lambda: layers.Softmax(axis=1), lambda x: F.softmax(x, dim=1), id="softmax_axis_1"),
    pytest.param(layers.Softplus, F.softplus, id="softplus"),
    pytest.param(layers.Swish, F.silu, id="swish"),
    pytest.param(layers.SiLU, F.silu, id="silu_alias"),
]


def _activation_forward_backward(make_layer, x, dy):
    layer = make_layer()
    layer.ensure_built(x.shape[1:], np.random.default_rng(0), x.dtype)
    y, backward = layer.forward(x, training=True)
    return y, backward(dy)


def _torch_forward_backward(torch_fn, x, dy):
    x_t = leaf(x)
    y_t = torch_fn(x_t)
    y_t.backward(torch.from_numpy(dy))
    return numpy(y_t), numpy(x_t.grad)


@pytest.mark.parametrize("shape", [(6, 7), (4, 3, 5)], ids=["2d", "3d"])
@pytest.mark.parametrize("make_layer, torch_fn", ACTIVATIONS)
def test_activation_forward_and_input_gradient_match_torch(make_layer, torch_fn, shape):
    rng = np.random.default_rng(sum(shape))
    x = away_from_zero(rng, shape)
    dy = rng.normal(size=shape)

    y, dx = _activation_forward_backward(make_layer, x, dy)
    y_t, dx_t = _torch_forward_backward(torch_fn, x, dy)

    assert y.dtype == np.float64 and dx.dtype == np.float64
    np.testing.assert_allclose(y, y_t, **F64)
    np.testing.assert_allclose(dx, dx_t, **F64)


@pytest.mark.parametrize("make_layer, torch_fn", ACTIVATIONS)
def test_activation_matches_torch_on_large_inputs(make_layer, torch_fn):
    """Saturated inputs (|x| up to 60): no overflow, no NaN, still the same numbers as torch
    (torch's softplus returns x itself above 20; exp(-20) ~ 2e-9 is inside the atol)."""
    x = np.array([[-60.0, -30.0, -20.0, -8.0, 8.0, 20.0, 30.0, 60.0],
                  [60.0, -60.0, 0.5, -0.5, 35.0, -35.0, 1.0, -1.0]])
    dy = np.linspace(-1.0, 1.0, x.size).reshape(x.shape)

    y, dx = _activation_forward_backward(make_layer, x, dy)
    y_t, dx_t = _torch_forward_backward(torch_fn, x, dy)

    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    np.testing.assert_allclose(y, y_t, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(dx, dx_t, rtol=1e-10, atol=1e-8)


@pytest.mark.parametrize("make_layer, torch_fn", [
    pytest.param(layers.ReLU, F.relu, id="relu"),
    pytest.param(lambda: layers.LeakyReLU(negative_slope=0.2), lambda x: F.leaky_relu(x, 0.2),
                 id="leaky_relu"),
    pytest.param(layers.ELU, F.elu, id="elu"),
    pytest.param(lambda: layers.ELU(alpha=0.5), lambda x: F.elu(x, alpha=0.5), id="elu_alpha_0.5"),
    pytest.param(layers.SELU, F.selu, id="selu"),
])
def test_kinked_activation_gradient_at_exactly_zero_follows_torch_convention(make_layer, torch_fn):
    """At the kink x == 0 both libraries pick the same one-sided derivative (the left one)."""
    x = np.array([[0.0, -0.0, 1.0, -1.0]])
    dy = np.array([[1.0, 1.0, 1.0, 1.0]])

    y, dx = _activation_forward_backward(make_layer, x, dy)
    y_t, dx_t = _torch_forward_backward(torch_fn, x, dy)

    np.testing.assert_allclose(y, y_t, **F64)
    np.testing.assert_allclose(dx, dx_t, **F64)


@pytest.mark.parametrize("make_layer, torch_fn", ACTIVATIONS)
def test_activation_keeps_float32_and_matches_torch_float32(make_layer, torch_fn):
    rng = np.random.default_rng(3)
    x = away_from_zero(rng, (5, 6)).astype(np.float32)
    dy = rng.normal(size=(5, 6)).astype(np.float32)

    y, dx = _activation_forward_backward(make_layer, x, dy)
    y_t, dx_t = _torch_forward_backward(torch_fn, x, dy)

    assert y.dtype == np.float32 and dx.dtype == np.float32
    np.testing.assert_allclose(y, y_t, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, dx_t, rtol=1e-5, atol=1e-6)


# =================================================================================================
# 3. Losses vs torch.nn.functional
# =================================================================================================
#
# Each case: a glassnet loss, a maker of (y_true, y_pred) from a generator, and the torch loss as
# ``torch_loss(y_true, y_pred, reduction)``. With reduction="none" torch returns per-element or
# per-example losses; averaging everything but the batch axis gives glassnet's per-example l_i.

N, D, K = 8, 5, 4


def _regression_data(rng, shape=(N, D)):
    return rng.normal(size=shape), rng.normal(size=shape)


def _mae_data(rng):
    y_pred = rng.normal(size=(N, D))
    return y_pred + away_from_zero(rng, (N, D), 0.05, 2.0), y_pred  # |y_pred - y_true| >= 0.05


def _binary_logits(rng, soft=False):
    y = rng.uniform(0, 1, size=(N, D)) if soft else rng.integers(0, 2, size=(N, D)).astype(np.float64)
    return y, 3 * rng.normal(size=(N, D))


def _binary_probabilities(rng):
    return rng.integers(0, 2, size=(N, D)).astype(np.float64), rng.uniform(0.02, 0.98, size=(N, D))


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _categorical_logits(rng, one_hot=False):
    if one_hot:
        y = np.eye(K)[rng.integers(0, K, size=N)]
    else:
        y = rng.dirichlet(np.ones(K), size=N)
    return y, 2 * rng.normal(size=(N, K))


def _categorical_probabilities(rng):
    return rng.dirichlet(np.ones(K), size=N), _softmax(rng.normal(size=(N, K)))


def _sparse_logits(rng):
    return rng.integers(0, K, size=N).astype(np.int64), 2 * rng.normal(size=(N, K))


def _sparse_probabilities(rng):
    return rng.integers(0, K, size=N).astype(np.int64), _softmax(rng.normal(size=(N, K)))


def _reduce(per_example, reduction):
    return per_example.mean() if reduction == "mean" else per_example


def _smooth_binary(y, s):
    return y * (1 - s) + 0.5 * s


def _torch_categorical_on_probabilities(y, p, reduction, s=0.0):
    """-sum_k y_k log p_k, with y smoothed to y (1 - s) + s / K; torch has no such functional."""
    y = y * (1 - s) + s / y.shape[-1]
    return _reduce(-(y * torch.log(p)).sum(dim=-1), reduction)


def _torch_sparse_on_probabilities(labels, p, reduction, s=0.0):
    """NLL on log(p), with label smoothing written out: (1 - s) nll + s / K sum_k -log p_k.
    (F.cross_entropy(log p) is not the same: its log_softmax changes the gradient by a constant.)"""
    log_p = torch.log(p)
    nll = F.nll_loss(log_p, labels, reduction="none")
    if s:
        nll = (1 - s) * nll - (s / p.shape[-1]) * log_p.sum(dim=-1)
    return _reduce(nll, reduction)


LOSS_CASES = [
    pytest.param(losses.MeanSquaredError(), _regression_data,
                 lambda y, p, r: F.mse_loss(p, y, reduction=r), id="mse"),
    pytest.param(losses.MeanSquaredError(), lambda rng: _regression_data(rng, (N, 2, 3)),
                 lambda y, p, r: F.mse_loss(p, y, reduction=r), id="mse_3d"),
    pytest.param(losses.MeanSquaredError(), lambda rng: _regression_data(rng, (N, 1)),
                 lambda y, p, r: F.mse_loss(p, y, reduction=r), id="mse_one_output"),
    pytest.param(losses.MeanAbsoluteError(), _mae_data,
                 lambda y, p, r: F.l1_loss(p, y, reduction=r), id="mae"),
    pytest.param(losses.Huber(), lambda rng: _regression_data(rng),
                 lambda y, p, r: F.huber_loss(p, y, reduction=r, delta=1.0), id="huber_1.0"),
    pytest.param(losses.Huber(delta=0.3), lambda rng: _regression_data(rng),
                 lambda y, p, r: F.huber_loss(p, y, reduction=r, delta=0.3), id="huber_0.3"),
    pytest.param(losses.Huber(delta=2.5), lambda rng: _regression_data(rng),
                 lambda y, p, r: F.huber_loss(p, y, reduction=r, delta=2.5), id="huber_2.5"),
    pytest.param(losses.BinaryCrossentropy(from_logits=True), _binary_logits,
                 lambda y, z, r: F.binary_cross_entropy_with_logits(z, y, reduction=r),
                 id="bce_logits"),
    pytest.param(losses.BinaryCrossentropy(from_logits=True), lambda rng: _binary_logits(rng, soft=True),
                 lambda y, z, r: F.binary_cross_entropy_with_logits(z, y, reduction=r),
                 id="bce_logits_soft_targets"),
    pytest.param(losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), _binary_logits,
                 lambda y, z, r: F.binary_cross_entropy_with_logits(z, _smooth_binary(y, 0.1), reduction=r),
                 id="bce_logits_smoothing_0.1"),
    pytest.param(losses.BinaryCrossentropy(from_logits=False), _binary_probabilities,
                 lambda y, p, r: F.binary_cross_entropy(p, y, reduction=r), id="bce_probabilities"),
    pytest.param(losses.BinaryCrossentropy(from_logits=False, label_smoothing=0.1), _binary_probabilities,
                 lambda y, p, r: F.binary_cross_entropy(p, _smooth_binary(y, 0.1), reduction=r),
                 id="bce_probabilities_smoothing_0.1"),
    pytest.param(losses.CategoricalCrossentropy(from_logits=True), _categorical_logits,
                 lambda y, z, r: F.cross_entropy(z, y, reduction=r), id="cce_logits_soft_targets"),
    pytest.param(losses.CategoricalCrossentropy(from_logits=True),
                 lambda rng: _categorical_logits(rng, one_hot=True),
                 lambda y, z, r: F.cross_entropy(z, y, reduction=r), id="cce_logits_one_hot"),
    pytest.param(losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), _categorical_logits,
                 lambda y, z, r: F.cross_entropy(z, y, reduction=r, label_smoothing=0.1),
                 id="cce_logits_smoothing_0.1"),
    pytest.param(losses.CategoricalCrossentropy(from_logits=False), _categorical_probabilities,
                 _torch_categorical_on_probabilities, id="cce_probabilities"),
    pytest.param(losses.CategoricalCrossentropy(from_logits=False, label_smoothing=0.1),
                 _categorical_probabilities,
                 lambda y, p, r: _torch_categorical_on_probabilities(y, p, r, s=0.1),
                 id="cce_probabilities_smoothing_0.1"),
    pytest.param(losses.SparseCategoricalCrossentropy(from_logits=True), _sparse_logits,
                 lambda c, z, r: F.cross_entropy(z, c, reduction=r), id="sparse_logits"),
    pytest.param(losses.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1), _sparse_logits,
                 lambda c, z, r: F.cross_entropy(z, c, reduction=r, label_smoothing=0.1),
                 id="sparse_logits_smoothing_0.1"),
    pytest.param(losses.SparseCategoricalCrossentropy(from_logits=False), _sparse_probabilities,
                 _torch_sparse_on_probabilities, id="sparse_probabilities"),
    pytest.param(losses.SparseCategoricalCrossentropy(from_logits=False, label_smoothing=0.1),
                 _sparse_probabilities,
                 lambda c, p, r: _torch_sparse_on_probabilities(c, p, r, s=0.1),
                 id="sparse_probabilities_smoothing_0.1"),
]


def _torch_loss_and_grad(torch_loss, y_true, y_pred, sample_weight=None):
    """The torch loss ('mean', or sum_i w_i l_i / N from 'none') and its gradient wrt y_pred."""
    y_pred_t = leaf(y_pred)
    y_true_t = torch.from_numpy(y_true)
    if sample_weight is None:
        value = torch_loss(y_true_t, y_pred_t, "mean")
    else:
        elementwise = torch_loss(y_true_t, y_pred_t, "none")
        per_example = elementwise.reshape(len(y_pred), -1).mean(dim=1)
        value = (torch.from_numpy(sample_weight) * per_example).sum() / len(y_pred)
    value.backward()
    return value.item(), numpy(y_pred_t.grad)


@pytest.mark.parametrize("loss, make_data, torch_loss", LOSS_CASES)
def test_loss_value_and_gradient_match_torch_mean_reduction(loss, make_data, torch_loss):
    rng = np.random.default_rng(11)
    y_true, y_pred = make_data(rng)
    y_true_before, y_pred_before = y_true.copy(), y_pred.copy()

    value, grad = loss.value_and_grad(y_true, y_pred)
    value_t, grad_t = _torch_loss_and_grad(torch_loss, y_true, y_pred)

    assert isinstance(value, float)
    assert grad.shape == y_pred.shape and grad.dtype == np.float64
    np.testing.assert_allclose(value, value_t, **F64)
    np.testing.assert_allclose(grad, grad_t, **F64)
    # value_and_grad must not write into its arguments
    np.testing.assert_array_equal(y_true, y_true_before)
    np.testing.assert_array_equal(y_pred, y_pred_before)


@pytest.mark.parametrize("loss, make_data, torch_loss", LOSS_CASES)
def test_loss_with_sample_weights_matches_torch_weighted_sum_over_n(loss, make_data, torch_loss):
    """glassnet: L = sum_i w_i l_i / N; torch: (w * per-example loss).sum() / N from 'none'."""
    rng = np.random.default_rng(12)
    y_true, y_pred = make_data(rng)
    sample_weight = rng.uniform(0.0, 2.0, size=len(y_pred))
    sample_weight[1] = 0.0  # an example that does not count at all

    value, grad = loss.value_and_grad(y_true, y_pred, sample_weight=sample_weight)
    value_t, grad_t = _torch_loss_and_grad(torch_loss, y_true, y_pred, sample_weight)

    np.testing.assert_allclose(value, value_t, **F64)
    np.testing.assert_allclose(grad, grad_t, **F64)
    np.testing.assert_array_equal(grad[1], 0.0)


def test_loss_call_returns_the_value_of_value_and_grad():
    rng = np.random.default_rng(13)
    labels, logits = _sparse_logits(rng)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    expected = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    np.testing.assert_allclose(loss(labels, logits), expected, **F64)


# =================================================================================================
# 4. Optimizers vs torch.optim (float32 trajectories)
# =================================================================================================

PARAMETER_SHAPES = [(3, 4), (4,), (2, 3, 2)]  # a weight matrix, a bias, a 3-d tensor
STEPS = 20


def _initial_values():
    rng = np.random.default_rng(1234)
    return [rng.normal(size=shape).astype(np.float32) for shape in PARAMETER_SHAPES]


def _gradient(step, index, shape):
    """A fixed pseudo-random gradient for parameter ``index`` at ``step``: the same array for
    both libraries, whatever the parameters' values."""
    return np.random.default_rng([step, index, 99]).normal(size=shape).astype(np.float32)


class _Pair:
    """The same parameters in glassnet's flat buffers and as torch tensors."""

    def __init__(self, optimizer, make_torch_optimizer):
        values = _initial_values()
        self.parameters = [Parameter(f"p{i}", v.copy()) for i, v in enumerate(values)]
        self.flat = FlatParameters(self.parameters, np.float32)
        self.optimizer = optimizer
        self.optimizer.build(self.flat)
        self.tensors = [torch.tensor(v.copy(), requires_grad=True) for v in values]
        self.torch_optimizer = make_torch_optimizer(self.tensors)

    def set_gradients(self, step):
        for i, (p, t) in enumerate(zip(self.parameters, self.tensors)):
            g = _gradient(step, i, p.shape)
            p.grad[...] = g
            t.grad = torch.from_numpy(g.copy())

    def assert_same_values(self, step):
        for p, t in zip(self.parameters, self.tensors):
            np.testing.assert_allclose(p.value, numpy(t), **F32,
                                       err_msg=f"{p.name} differs after step {step + 1}")


def _torch_sgd(**kwargs):
    return lambda params: torch.optim.SGD(params, **kwargs)


def _torch_adam(**kwargs):
    return lambda params: torch.optim.Adam(params, **kwargs)


def _torch_adamw(**kwargs):
    return lambda params: torch.optim.AdamW(params, **kwargs)


def _torch_rmsprop(**kwargs):
    return lambda params: torch.optim.RMSprop(params, **kwargs)


# (glassnet optimizer factory, torch optimizer factory, {glassnet slot: torch state key})
OPTIMIZER_CASES = [
    pytest.param(lambda: optimizers.SGD(0.1), _torch_sgd(lr=0.1), {}, id="sgd"),
    pytest.param(lambda: optimizers.SGD(0.05, momentum=0.9), _torch_sgd(lr=0.05, momentum=0.9),
                 {"momentum": "momentum_buffer"}, id="sgd_momentum"),
    pytest.param(lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                 _torch_sgd(lr=0.05, momentum=0.9, nesterov=True),
                 {"momentum": "momentum_buffer"}, id="sgd_nesterov"),
    pytest.param(lambda: optimizers.SGD(0.1, weight_decay=0.05), _torch_sgd(lr=0.1, weight_decay=0.05),
                 {}, id="sgd_weight_decay"),
    pytest.param(lambda: optimizers.SGD(0.05, momentum=0.9, weight_decay=0.05),
                 _torch_sgd(lr=0.05, momentum=0.9, weight_decay=0.05),
                 {"momentum": "momentum_buffer"}, id="sgd_momentum_weight_decay"),
    pytest.param(lambda: optimizers.Adam(0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-8),
                 _torch_adam(lr=0.01, betas=(0.9, 0.999), eps=1e-8),
                 {"m": "exp_avg", "v": "exp_avg_sq"}, id="adam"),
    pytest.param(lambda: optimizers.Adam(0.02, beta_1=0.8, beta_2=0.95, epsilon=1e-6),
                 _torch_adam(lr=0.02, betas=(0.8, 0.95), eps=1e-6),
                 {"m": "exp_avg", "v": "exp_avg_sq"}, id="adam_other_betas"),
    pytest.param(lambda: optimizers.Adam(0.01, epsilon=1e-8, weight_decay=0.05),
                 _torch_adam(lr=0.01, eps=1e-8, weight_decay=0.05),
                 {"m": "exp_avg", "v": "exp_avg_sq"}, id="adam_weight_decay"),
    pytest.param(lambda: optimizers.AdamW(0.01, weight_decay=0.01, epsilon=1e-8),
                 _torch_adamw(lr=0.01, weight_decay=0.01, eps=1e-8),
                 {"m": "exp_avg", "v": "exp_avg_sq"}, id="adamw"),
    pytest.param(lambda: optimizers.AdamW(0.05, weight_decay=0.5, beta_1=0.85, epsilon=1e-8),
                 _torch_adamw(lr=0.05, weight_decay=0.5, betas=(0.85, 0.999), eps=1e-8),
                 {"m": "exp_avg", "v": "exp_avg_sq"}, id="adamw_strong_decay"),
    pytest.param(lambda: optimizers.RMSprop(0.01, rho=0.9, epsilon=1e-8),
                 _torch_rmsprop(lr=0.01, alpha=0.9, eps=1e-8),
                 {"v": "square_avg"}, id="rmsprop"),
    pytest.param(lambda: optimizers.RMSprop(0.01, rho=0.9, momentum=0.9, epsilon=1e-8),
                 _torch_rmsprop(lr=0.01, alpha=0.9, momentum=0.9, eps=1e-8),
                 {"v": "square_avg", "momentum": "momentum_buffer"}, id="rmsprop_momentum"),
    pytest.param(lambda: optimizers.RMSprop(0.01, rho=0.9, centered=True, epsilon=1e-8),
                 _torch_rmsprop(lr=0.01, alpha=0.9, centered=True, eps=1e-8),
                 {"v": "square_avg", "mean": "grad_avg"}, id="rmsprop_centered"),
    pytest.param(lambda: optimizers.RMSprop(0.01, rho=0.8, momentum=0.5, centered=True, epsilon=1e-8),
                 _torch_rmsprop(lr=0.01, alpha=0.8, momentum=0.5, centered=True, eps=1e-8),
                 {"v": "square_avg", "mean": "grad_avg", "momentum": "momentum_buffer"},
                 id="rmsprop_centered_momentum"),
    pytest.param(lambda: optimizers.RMSprop(0.01, rho=0.9, epsilon=1e-8, weight_decay=0.05),
                 _torch_rmsprop(lr=0.01, alpha=0.9, eps=1e-8, weight_decay=0.05),
                 {"v": "square_avg"}, id="rmsprop_weight_decay"),
]


@pytest.mark.parametrize("make_optimizer, make_torch_optimizer, slots", OPTIMIZER_CASES)
def test_optimizer_trajectory_matches_torch_optim(make_optimizer, make_torch_optimizer, slots):
    pair = _Pair(make_optimizer(), make_torch_optimizer)
    for step in range(STEPS):
        pair.set_gradients(step)
        pair.optimizer.step()
        pair.torch_optimizer.step()
        pair.assert_same_values(step)
    assert pair.optimizer.iterations == STEPS

    # The optimizer's state (momentum buffers, moments) is the same as torch's, too.
    assert set(pair.optimizer.slots) == set(slots)
    state = pair.optimizer.state_dict()["state"]
    for p, t in zip(pair.parameters, pair.tensors):
        for slot, torch_key in slots.items():
            np.testing.assert_allclose(state[p.name][slot], numpy(pair.torch_optimizer.state[t][torch_key]),
                                       **F32, err_msg=f"state {slot!r} of {p.name}")


SCHEDULE_CASES = [
    pytest.param(lambda: schedules.StepDecay(0.1, step_size=5, gamma=0.5),
                 lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5),
                 0.1, id="step_decay_vs_steplr"),
    pytest.param(lambda: schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.9),
                 lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9),
                 0.1, id="exponential_decay_vs_exponentiallr"),
    pytest.param(lambda: schedules.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.7, staircase=True),
                 lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.7),
                 0.1, id="staircase_exponential_decay_vs_steplr"),
    pytest.param(lambda: schedules.CosineDecay(0.1, decay_steps=STEPS),
                 lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS),
                 0.1, id="cosine_decay_vs_cosineannealinglr"),
    pytest.param(lambda: schedules.CosineDecay(0.1, decay_steps=STEPS, alpha=0.1),
                 lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS, eta_min=0.01),
                 0.1, id="cosine_decay_alpha_vs_cosineannealinglr_eta_min"),
]


@pytest.mark.parametrize("make_schedule, make_scheduler, initial_rate", SCHEDULE_CASES)
@pytest.mark.parametrize("kind", ["sgd", "sgd_momentum", "adam"])
def test_learning_rate_schedule_matches_torch_scheduler(make_schedule, make_scheduler, initial_rate, kind):
    """A glassnet schedule (evaluated at the optimizer's step count) and a torch scheduler stepped
    once after every optimizer step give the same rate at every step, and the same weights."""
    if kind == "sgd":
        optimizer, make_torch = optimizers.SGD(make_schedule()), _torch_sgd(lr=initial_rate)
    elif kind == "sgd_momentum":
        optimizer = optimizers.SGD(make_schedule(), momentum=0.9)
        make_torch = _torch_sgd(lr=initial_rate, momentum=0.9)
    else:
        optimizer = optimizers.Adam(make_schedule(), epsilon=1e-8)
        make_torch = _torch_adam(lr=initial_rate, eps=1e-8)
    pair = _Pair(optimizer, make_torch)
    scheduler = make_scheduler(pair.torch_optimizer)
    for step in range(STEPS):
        np.testing.assert_allclose(pair.optimizer.learning_rate, scheduler.get_last_lr()[0],
                                   rtol=1e-9, atol=1e-12, err_msg=f"learning rate at step {step}")
        pair.set_gradients(step)
        pair.optimizer.step()
        pair.torch_optimizer.step()
        scheduler.step()
        pair.assert_same_values(step)


CLIPPING_CASES = [
    pytest.param(dict(global_clipnorm=1.0),
                 lambda ts: torch.nn.utils.clip_grad_norm_(ts, max_norm=1.0), id="global_clipnorm"),
    pytest.param(dict(global_clipnorm=100.0),
                 lambda ts: torch.nn.utils.clip_grad_norm_(ts, max_norm=100.0),
                 id="global_clipnorm_inactive"),
    pytest.param(dict(clipnorm=1.5),
                 lambda ts: [torch.nn.utils.clip_grad_norm_([t], max_norm=1.5) for t in ts],
                 id="clipnorm_per_parameter"),
    pytest.param(dict(clipvalue=0.5),
                 lambda ts: torch.nn.utils.clip_grad_value_(ts, clip_value=0.5), id="clipvalue"),
    pytest.param(dict(clipvalue=0.5, global_clipnorm=1.0),
                 lambda ts: (torch.nn.utils.clip_grad_value_(ts, clip_value=0.5),
                             torch.nn.utils.clip_grad_norm_(ts, max_norm=1.0)),
                 id="clipvalue_then_global_clipnorm"),
]


@pytest.mark.parametrize("clip_kwargs, torch_clip", CLIPPING_CASES)
@pytest.mark.parametrize("kind", ["sgd_momentum", "adam"])
def test_gradient_clipping_matches_torch_clip_utilities(clip_kwargs, torch_clip, kind):
    """Clipping happens on the raw gradient before the update (torch: clip, then ``step()``).
    torch divides by ``norm + 1e-6``; the ~1e-7 relative difference is inside the float32 rtol."""
    if kind == "sgd_momentum":
        optimizer = optimizers.SGD(0.1, momentum=0.9, **clip_kwargs)
        make_torch = _torch_sgd(lr=0.1, momentum=0.9)
    else:
        optimizer = optimizers.Adam(0.05, epsilon=1e-8, **clip_kwargs)
        make_torch = _torch_adam(lr=0.05, eps=1e-8)
    pair = _Pair(optimizer, make_torch)
    for step in range(STEPS):
        pair.set_gradients(step)
        pair.optimizer.step()
        torch_clip(pair.tensors)
        pair.torch_optimizer.step()
        pair.assert_same_values(step)


@pytest.mark.parametrize("clip_kwargs, torch_clip", CLIPPING_CASES)
def test_clipped_gradient_matches_torch_clipped_gradient(clip_kwargs, torch_clip):
    """The clipped gradient itself (left in ``flat.grads`` by plain SGD) equals torch's."""
    pair = _Pair(optimizers.SGD(0.1, **clip_kwargs), _torch_sgd(lr=0.1))
    pair.set_gradients(0)
    pair.optimizer.step()
    torch_clip(pair.tensors)
    for p, t in zip(pair.parameters, pair.tensors):
        np.testing.assert_allclose(p.grad, numpy(t.grad), **F32)


# =================================================================================================
# 5. A whole model trained with Sequential.fit vs the same network trained by a torch loop
# =================================================================================================

def _classification_data(n=32, features=4, classes=3):
    rng = np.random.default_rng(2024)
    x = rng.normal(size=(n, features))
    y = rng.integers(0, classes, size=n)
    return x, y


def _torch_mlp(glassnet_model, hidden_activation):
    """A torch nn.Sequential with glassnet's Dense layers as nn.Linear (weights transposed)."""
    modules = []
    for i, layer in enumerate(glassnet_model.layers):
        linear = torch.nn.Linear(layer.weight.shape[0], layer.units).double()
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(layer.weight.value.T.copy()))
            linear.bias.copy_(torch.from_numpy(layer.bias.value.copy()))
        modules.append(linear)
        if i < len(glassnet_model.layers) - 1:
            modules.append(hidden_activation())
    return torch.nn.Sequential(*modules)


def _assert_same_weights(glassnet_model, torch_model, rtol=1e-10, atol=1e-12):
    linears = [m for m in torch_model if isinstance(m, torch.nn.Linear)]
    for layer, linear in zip(glassnet_model.layers, linears, strict=True):
        np.testing.assert_allclose(layer.weight.value, numpy(linear.weight).T, rtol=rtol, atol=atol)
        np.testing.assert_allclose(layer.bias.value, numpy(linear.bias), rtol=rtol, atol=atol)


MODEL_CASES = [
    # The reference case: tanh hidden layer, softmax output fused with the sparse cross-entropy,
    # plain SGD, full-batch steps.
    pytest.param("sparse_categorical_crossentropy", "softmax", 3, lambda: optimizers.SGD(0.1),
                 _torch_sgd(lr=0.1), None, id="softmax_sparse_ce_sgd_full_batch"),
    pytest.param("sparse_categorical_crossentropy", "softmax", 3,
                 lambda: optimizers.Adam(0.01, epsilon=1e-8),
                 _torch_adam(lr=0.01, eps=1e-8), 8, id="softmax_sparse_ce_adam_minibatch"),
    pytest.param("categorical_crossentropy", "softmax", 3,
                 lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                 _torch_sgd(lr=0.1, momentum=0.9, nesterov=True), None,
                 id="softmax_one_hot_ce_nesterov"),
    pytest.param("binary_crossentropy", "sigmoid", 1,
                 lambda: optimizers.RMSprop(0.01, epsilon=1e-8),
                 _torch_rmsprop(lr=0.01, alpha=0.9, eps=1e-8), 16, id="sigmoid_bce_rmsprop"),
    pytest.param("mse", None, 3, lambda: optimizers.AdamW(0.01, weight_decay=0.01, epsilon=1e-8),
                 _torch_adamw(lr=0.01, weight_decay=0.01, eps=1e-8), None, id="linear_mse_adamw"),
]


def _torch_loss_for(loss_name, y):
    if loss_name == "sparse_categorical_crossentropy":
        return torch.nn.CrossEntropyLoss(), torch.from_numpy(y)
    if loss_name == "categorical_crossentropy":
        return torch.nn.CrossEntropyLoss(), torch.from_numpy(np.eye(3)[y])
    if loss_name == "binary_crossentropy":
        return torch.nn.BCEWithLogitsLoss(), torch.from_numpy((y == 0).astype(np.float64)[:, None])
    return torch.nn.MSELoss(), torch.from_numpy(np.eye(3)[y])


@pytest.mark.parametrize("loss_name, output_activation, outputs, make_optimizer, make_torch_optimizer, "
                         "batch_size", MODEL_CASES)
def test_sequential_fit_matches_torch_training_loop(loss_name, output_activation, outputs,
                                                    make_optimizer, make_torch_optimizer, batch_size):
    x, labels = _classification_data()
    model = gn.Sequential([layers.Dense(16, activation="tanh"),
                           layers.Dense(outputs, activation=output_activation)],
                          seed=0, dtype="float64")
    model.compile(optimizer=make_optimizer(), loss=loss_name)
    model.build((x.shape[1],))
    # Non-zero biases, so that copying them across is checked too.
    rng = np.random.default_rng(5)
    model.set_weights([w if w.ndim == 2 else rng.normal(scale=0.1, size=w.shape)
                       for w in model.get_weights()])

    torch_model = _torch_mlp(model, torch.nn.Tanh)
    torch_optimizer = make_torch_optimizer(torch_model.parameters())
    criterion, target = _torch_loss_for(loss_name, labels)
    # glassnet's targets in the form its loss wants
    y = {"sparse_categorical_crossentropy": labels,
         "categorical_crossentropy": np.eye(3)[labels],
         "binary_crossentropy": (labels == 0).astype(np.float64)[:, None],
         "mse": np.eye(3)[labels]}[loss_name]

    with torch.no_grad():
        np.testing.assert_allclose(model.predict(x), _torch_outputs(torch_model, x, output_activation), **F64)

    history = model.fit(x, y, batch_size=batch_size, epochs=5, shuffle=False, verbose=0)

    x_t, n = torch.from_numpy(x), len(x)
    size = n if batch_size is None else batch_size
    torch_epoch_losses = []
    for _ in range(5):
        total = 0.0
        for start in range(0, n, size):
            torch_optimizer.zero_grad()
            loss = criterion(torch_model(x_t[start:start + size]), target[start:start + size])
            loss.backward()
            torch_optimizer.step()
            total += loss.item() * len(x_t[start:start + size])
        torch_epoch_losses.append(total / n)

    np.testing.assert_allclose(history.history["loss"], torch_epoch_losses, rtol=1e-9, atol=1e-12)
    _assert_same_weights(model, torch_model, rtol=1e-9, atol=1e-12)
    with torch.no_grad():
        np.testing.assert_allclose(model.predict(x), _torch_outputs(torch_model, x, output_activation),
                                   rtol=1e-9, atol=1e-12)


def _torch_outputs(torch_model, x, output_activation):
    z = torch_model(torch.from_numpy(x))
    if output_activation == "softmax":
        z = torch.softmax(z, dim=-1)
    elif output_activation == "sigmoid":
        z = torch.sigmoid(z)
    return numpy(z)


def test_l2_regularizer_matches_torch_sgd_weight_decay_on_kernels():
    """``kernel_regularizer=L2(wd / 2)`` adds ``wd * w`` to the kernel gradients, which is torch's
    ``SGD(weight_decay=wd)`` restricted to the weight matrices (biases not decayed)."""
    wd = 0.1
    x, labels = _classification_data()
    model = gn.Sequential([layers.Dense(16, activation="tanh", kernel_regularizer=gn.regularizers.L2(wd / 2)),
                           layers.Dense(3, activation="softmax",
                                        kernel_regularizer=gn.regularizers.L2(wd / 2))],
                          seed=1, dtype="float64")
    model.compile(optimizer=optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.build((x.shape[1],))

    torch_model = _torch_mlp(model, torch.nn.Tanh)
    linears = [m for m in torch_model if isinstance(m, torch.nn.Linear)]
    torch_optimizer = torch.optim.SGD([
        {"params": [m.weight for m in linears], "weight_decay": wd},
        {"params": [m.bias for m in linears], "weight_decay": 0.0}], lr=0.1)

    history = model.fit(x, labels, batch_size=None, epochs=5, shuffle=False, verbose=0)

    x_t, y_t = torch.from_numpy(x), torch.from_numpy(labels)
    torch_losses = []
    for _ in range(5):
        torch_optimizer.zero_grad()
        data_loss = F.cross_entropy(torch_model(x_t), y_t)
        penalty = sum((wd / 2) * (m.weight ** 2).sum() for m in linears)
        (data_loss).backward()
        torch_optimizer.step()
        torch_losses.append((data_loss + penalty).item())

    np.testing.assert_allclose(history.history["loss"], torch_losses, rtol=1e-9, atol=1e-12)
    _assert_same_weights(model, torch_model, rtol=1e-9, atol=1e-12)
