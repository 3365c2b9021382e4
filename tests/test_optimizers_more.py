"""Adagrad, Adamax and Nadam: several steps against values by hand (and Nadam against Keras 3's
update written out), 20-step trajectories against torch.optim (through tests/test_torch_parity.py's
check, skipped without PyTorch), exact resume from a state_dict, names and configs."""
import importlib
import math

import numpy as np
import pytest

import glassnet as gn
from glassnet import serialization
from glassnet.optimizers import Adagrad, Adamax, Nadam, schedules
from tests.test_optimizers import attach, step

EPS = 1e-7


def test_adagrad_three_steps():
    opt = Adagrad(0.1, initial_accumulator_value=0.1, epsilon=EPS)
    params = attach(opt, [1.0])
    w = 1.0
    for g, accumulator in [(1.0, 1.1), (2.0, 5.1), (-1.0, 6.1)]:  # a = 0.1 + sum of g^2
        w -= 0.1 * g / (math.sqrt(accumulator) + EPS)
        assert step(opt, params, [g])[0] == pytest.approx([w], rel=1e-14)
    assert opt.state_dict()["state"]["p0"]["accumulator"] == pytest.approx([6.1])


def test_adamax_three_steps():
    opt = Adamax(0.01, epsilon=EPS)
    params = attach(opt, [1.0])
    w = 1.0
    # m = 0.9 m + 0.1 g;  u = max(0.999 u, |g| + eps);  w -= 0.01 / (1 - 0.9^t) * m / u
    for t, (g, m, u) in enumerate([(0.5, 0.05, 0.5 + EPS), (-1.0, -0.055, 1.0 + EPS),
                                   (0.2, -0.0295, 0.999 * (1.0 + EPS))], start=1):
        w -= 0.01 / (1 - 0.9 ** t) * m / u
        assert step(opt, params, [g])[0] == pytest.approx([w], rel=1e-14)


def keras_nadam(grads, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=EPS):
    """The weights after each step of Keras 3's ``Nadam.update_step`` on one weight from 1.0."""
    w, m, v, u_product, weights = 1.0, 0.0, 0.0, 1.0, []
    for t, g in enumerate(grads, start=1):
        u_t, u_next = (beta_1 * (1 - 0.5 * 0.96 ** s) for s in (t, t + 1))
        u_product *= u_t
        m += (g - m) * (1 - beta_1)
        v += (g * g - v) * (1 - beta_2)
        m_hat = u_next * m / (1 - u_product * u_next) + (1 - u_t) * g / (1 - u_product)
        w -= m_hat * learning_rate / (math.sqrt(v / (1 - beta_2 ** t)) + epsilon)
        weights.append(w)
    return weights


def test_nadam_with_momentum_decay_1_is_keras_nadam():
    grads = [0.3, -1.2, 0.5, 0.05, 2.0]
    opt = Nadam(0.01, momentum_decay=1.0)
    params = attach(opt, [1.0])
    assert [step(opt, params, [g])[0][0] for g in grads] == pytest.approx(keras_nadam(grads, 0.01), rel=1e-13)


def test_nadam_first_step_by_hand():
    # t = 1: m = 0.1 g, v = 0.001 g^2 -> sqrt(v / 0.001) = |g|; with mu_1, mu_2 and M_1 = mu_1 the
    # step is lr * ((1 - mu_1) / (1 - mu_1) + mu_2 * 0.1 / (1 - mu_1 mu_2)) * sign(g)
    mu_1, mu_2 = (0.9 * (1 - 0.5 * 0.96 ** (t * 0.004)) for t in (1, 2))
    opt = Nadam(0.01, epsilon=1e-12)
    params = attach(opt, [1.0])
    expected = 1.0 - 0.01 * (1 + mu_2 * 0.1 / (1 - mu_1 * mu_2))
    assert step(opt, params, [4.0])[0] == pytest.approx([expected], rel=1e-12)


# -- PyTorch parity ---------------------------------------------------------------------------------

OPTIMIZER_CASES = [  # (glassnet optimizer factory, torch.optim class name and arguments, {slot: torch state key})
    pytest.param(lambda: Adagrad(0.1), "Adagrad", dict(lr=0.1, initial_accumulator_value=0.1, eps=1e-7),
                 {"accumulator": "sum"}, id="adagrad"),
    pytest.param(lambda: Adagrad(0.1, initial_accumulator_value=0.0, epsilon=1e-10, weight_decay=0.05), "Adagrad",
                 dict(lr=0.1, eps=1e-10, weight_decay=0.05), {"accumulator": "sum"}, id="adagrad_weight_decay"),
    pytest.param(lambda: Adamax(0.02, epsilon=1e-8), "Adamax", dict(lr=0.02, eps=1e-8),
                 {"m": "exp_avg", "u": "exp_inf"}, id="adamax"),
    pytest.param(lambda: Adamax(0.02, beta_1=0.8, beta_2=0.95, epsilon=1e-8, weight_decay=0.05), "Adamax",
                 dict(lr=0.02, betas=(0.8, 0.95), eps=1e-8, weight_decay=0.05),
                 {"m": "exp_avg", "u": "exp_inf"}, id="adamax_other_betas_weight_decay"),
    pytest.param(lambda: Nadam(0.01, epsilon=1e-8), "NAdam", dict(lr=0.01, eps=1e-8),
                 {"m": "exp_avg", "v": "exp_avg_sq"}, id="nadam"),
    pytest.param(lambda: Nadam(0.01, beta_1=0.8, epsilon=1e-8, momentum_decay=0.1, weight_decay=0.05), "NAdam",
                 dict(lr=0.01, betas=(0.8, 0.999), eps=1e-8, momentum_decay=0.1, weight_decay=0.05),
                 {"m": "exp_avg", "v": "exp_avg_sq"}, id="nadam_momentum_decay_weight_decay"),
]


@pytest.mark.parametrize("make_optimizer, torch_name, torch_kwargs, slots", OPTIMIZER_CASES)
def test_trajectory_matches_torch_optim(make_optimizer, torch_name, torch_kwargs, slots):
    parity = importlib.import_module("tests.test_torch_parity")  # skips without PyTorch
    make_torch = lambda tensors: getattr(parity.torch.optim, torch_name)(tensors, **torch_kwargs)  # noqa: E731
    parity.test_optimizer_trajectory_matches_torch_optim(make_optimizer, make_torch, slots)


# -- state, names, configs ----------------------------------------------------------------------------

OPTIMIZERS = [lambda: Adagrad(0.05, initial_accumulator_value=0.2), lambda: Adamax(0.01),
              lambda: Nadam(schedules.OneCycle(0.01, total_steps=8))]


@pytest.mark.parametrize("make", OPTIMIZERS, ids=["adagrad", "adamax", "nadam_one_cycle"])
def test_state_dict_resumes_exactly(make):
    a, b = make(), make()
    pa, pb = attach(a, [1.0, 2.0], [3.0]), attach(b, [0.0, 0.0], [0.0])
    grads = [([0.1, 0.2], [0.3]), ([-0.2, 0.5], [0.1]), ([0.4, -0.3], [-0.2]), ([0.7, 0.1], [0.2])]
    for g in grads[:3]:
        step(a, pa, *g)
    b.load_state_dict(a.state_dict())
    pb.values[...] = pa.values
    for g in grads[3:]:
        for x, y in zip(step(a, pa, *g), step(b, pb, *g)):
            np.testing.assert_array_equal(x, y)
    assert a.iterations == b.iterations == 4


@pytest.mark.parametrize("name, cls", [("adagrad", Adagrad), ("adamax", Adamax), ("nadam", Nadam)])
def test_names_in_compile_and_keras_defaults(name, cls):
    model = gn.Sequential([gn.layers.Input((2,)), gn.layers.Dense(1)])
    model.compile(optimizer=name, loss="mse")
    assert type(model.optimizer) is cls and model.optimizer.learning_rate == 0.001
    assert model.optimizer.epsilon == 1e-7


def test_adagrad_starts_from_its_initial_accumulator_value():
    opt = Adagrad(initial_accumulator_value=0.25)
    attach(opt, [1.0, 2.0])
    np.testing.assert_array_equal(opt.state["accumulator"], [0.25, 0.25])


@pytest.mark.parametrize("optimizer", [
    Adagrad(0.02, initial_accumulator_value=0.0, epsilon=1e-6, clipnorm=1.0),
    Adamax(schedules.CosineDecay(0.0, 100, warmup_target=0.01, warmup_steps=10), beta_2=0.99),
    Nadam(schedules.OneCycle(0.01, 1000, anneal_strategy="linear"), momentum_decay=1.0, weight_decay=1e-4),
], ids=["adagrad", "adamax", "nadam"])
def test_configs_round_trip(optimizer):
    again = gn.optimizers.deserialize(serialization.serialize(optimizer))
    assert type(again) is type(optimizer) and again.get_config() == optimizer.get_config()
    assert again.learning_rate == optimizer.learning_rate


@pytest.mark.parametrize("make, message", [
    (lambda: Adagrad(initial_accumulator_value=-0.1), "initial_accumulator_value"),
    (lambda: Adagrad(epsilon=0), "epsilon"),
    (lambda: Adamax(beta_2=1.0), "beta_2"),
    (lambda: Nadam(momentum_decay=-1), "momentum_decay"),
])
def test_bad_hyperparameters(make, message):
    with pytest.raises(gn.ConfigurationError, match=message):
        make()
