"""L1 in training lands on exactly zero (orthant-wise, see ``glassnet/regularizers.py``): a weight
that crosses 0 stops there, a zero weight stays 0 while the data pull is at most l1, and with plain
SGD the result is the proximal soft-threshold step, which PyTorch users write by hand."""
import numpy as np
import pytest

import glassnet as gn
from glassnet import layers, training


def _regression(seed=0, n=64, features=8):
    """Only the first two features matter; the rest are noise for L1 to cut."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features))
    y = x[:, :1] * 2.0 - x[:, 1:2] + 0.1 * rng.standard_normal((n, 1))
    return x, y


def _linear(regularizer, optimizer, seed=0):
    model = gn.Sequential([layers.Dense(1, kernel_regularizer=regularizer, input_shape=(8,))],
                          seed=seed, dtype="float64")
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _data_gradient(model, x, y):
    """The gradient of the data loss alone, from the model's own forward and backward."""
    outputs, backward = model.forward_head(x, training=True)
    backward(model.head_loss.value_and_grad(y, outputs)[1])
    return model.layers[0].weight.grad.copy()


def soft_threshold(v, t):
    return np.sign(v) * np.maximum(np.abs(v) - t, 0)


def test_one_sgd_step_is_the_proximal_step_when_the_data_step_does_not_cross_zero():
    x, y = _regression()
    lr, l1 = 0.1, 0.05
    model = _linear(gn.regularizers.L1(l1), gn.optimizers.SGD(lr))
    w = model.layers[0].weight
    w.value[:, 0] = [0.8, -0.5, 0.004, -0.003, 0.0, 0.0, 0.3, -0.2]
    before = w.value.copy()
    g = _data_gradient(model, x, y)
    training.train_step(model, x, y, None)
    v = before - lr * g
    crossed = (np.sign(v) != np.sign(before)) & (before != 0)
    assert not crossed.any()
    np.testing.assert_allclose(w.value, soft_threshold(v, lr * l1), rtol=1e-12, atol=1e-15)
    inside = np.abs(v) <= lr * l1
    assert inside.any() and np.all(w.value[inside] == 0)


def test_a_zero_weight_stays_zero_while_the_data_pull_is_at_most_l1_and_leaves_when_stronger():
    x, y = _regression()
    model = _linear(gn.regularizers.L1(0.5), gn.optimizers.SGD(0.1))
    w = model.layers[0].weight
    w.value[...] = 0.0
    g = _data_gradient(model, x, y)[:, 0]
    training.train_step(model, x, y, None)
    strong = np.abs(g) > 0.5
    assert strong.any() and (~strong).any()
    assert np.all(w.value[~strong, 0] == 0)
    np.testing.assert_allclose(w.value[strong, 0], -0.1 * (g[strong] - 0.5 * np.sign(g[strong])))


def test_a_weight_pushed_across_zero_stops_at_exactly_zero():
    x, y = _regression()
    model = _linear(gn.regularizers.L1(1.0), gn.optimizers.SGD(0.1))
    w = model.layers[0].weight
    w.value[:, 0] = 0.05  # l1 alone moves every weight by 0.1: all would cross
    training.train_step(model, x, y, None)
    assert np.all(w.value[2:] == 0)


@pytest.mark.parametrize("optimizer", [gn.optimizers.SGD(0.05), gn.optimizers.SGD(0.05, momentum=0.9),
                                       gn.optimizers.Adam(0.01), gn.optimizers.RMSprop(0.01)],
                         ids=["sgd", "momentum", "adam", "rmsprop"])
def test_l1_gives_exact_zeros_with_every_optimizer_and_l2_none(optimizer):
    x, y = _regression()
    l1 = _linear(gn.regularizers.L1(0.1), optimizer)
    l1.fit(x, y, epochs=200, batch_size=16, verbose=0)
    noise = l1.layers[0].weight.value[2:, 0]
    assert np.count_nonzero(noise == 0) >= 3, noise
    assert np.all(l1.layers[0].weight.value[:2, 0] != 0)  # the two features that matter survive
    l2 = _linear(gn.regularizers.L2(0.05), gn.optimizers.SGD(0.05))
    l2.fit(x, y, epochs=60, batch_size=16, verbose=0)
    assert np.count_nonzero(l2.layers[0].weight.value == 0) == 0


def test_l1_penalty_is_still_in_the_reported_loss():
    x, y = _regression()
    model = _linear(gn.regularizers.L1(0.05), gn.optimizers.SGD(0.05))
    model.fit(x, y, epochs=3, verbose=0)
    penalty = 0.05 * np.abs(model.layers[0].weight.value).sum()
    data = gn.losses.MeanSquaredError()(y, model.predict(x))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(data + penalty, rel=1e-12)


def test_training_gradient_is_the_plain_one_for_nonzero_weights():
    """Away from 0 training follows exactly ``gradient(w)``, the one gradcheck checks."""
    reg = gn.regularizers.L1L2(0.1, 0.2)
    w = np.array([0.5, -0.25, 2.0])
    grad = np.array([0.3, 0.3, -0.1])
    expected = grad + reg.gradient(w)
    orthant = reg.add_training_gradient(w, grad)
    np.testing.assert_allclose(grad, expected, rtol=1e-15)
    np.testing.assert_array_equal(orthant, np.sign(w))
    assert gn.regularizers.L2(0.1).add_training_gradient(w, grad.copy()) is None


def test_matches_torch_sgd_with_a_hand_written_soft_threshold():
    """PyTorch has no L1 option; its users write the proximal step after ``optimizer.step()``.
    With plain SGD and no weight carried across 0 by the data gradient alone, glassnet's L1
    follows that trajectory exactly (float64)."""
    torch = pytest.importorskip("torch")
    x, y = _regression(n=48)
    lr, l1 = 0.05, 0.2
    model = _linear(gn.regularizers.L1(l1), gn.optimizers.SGD(lr))
    model.build((8,))
    w0, b0 = model.get_weights()
    weight = torch.tensor(w0.copy(), requires_grad=True)
    bias = torch.tensor(b0.copy(), requires_grad=True)
    opt = torch.optim.SGD([weight, bias], lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(30):
        opt.zero_grad()
        torch.nn.functional.mse_loss(xt @ weight + bias, yt).backward()
        opt.step()
        with torch.no_grad():
            weight.copy_(torch.sign(weight) * torch.clamp(weight.abs() - lr * l1, min=0))
    model.fit(x, y, epochs=30, batch_size=None, shuffle=False, verbose=0)
    w, b = model.get_weights()
    np.testing.assert_allclose(w, weight.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b, bias.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert np.array_equal(w == 0, weight.detach().numpy() == 0) and (w == 0).sum() >= 3
