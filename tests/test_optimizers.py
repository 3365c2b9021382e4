"""Optimizer updates against values computed by hand, clipping, schedules and saved state."""
import math

import numpy as np
import pytest

import glassnet as gn
from glassnet.optimizers import SGD, Adam, AdamW, RMSprop, schedules
from glassnet.parameter import FlatParameters, Parameter


def attach(optimizer, *values):
    """An optimizer on parameters with the given starting values (float64)."""
    params = FlatParameters([Parameter(f"p{i}", np.array(v, dtype=np.float64)) for i, v in enumerate(values)],
                            np.float64)
    optimizer.build(params)
    return params


def step(optimizer, params, *grads):
    for p, g in zip(params.parameters, grads):
        p.grad[...] = g
    optimizer.step()
    return [p.value.copy() for p in params.parameters]


def test_plain_sgd():
    opt = SGD(0.1)
    params = attach(opt, [1.0, -2.0])
    assert step(opt, params, [0.5, -1.0])[0] == pytest.approx([0.95, -1.9])


def test_sgd_momentum_two_steps():
    opt = SGD(0.1, momentum=0.9)
    params = attach(opt, [1.0])
    step(opt, params, [1.0])           # b = 1,          w = 1 - 0.1 = 0.9
    w = step(opt, params, [1.0])[0]    # b = 0.9 + 1,    w = 0.9 - 0.19 = 0.71
    assert w == pytest.approx([0.71])


def test_sgd_nesterov_two_steps():
    opt = SGD(0.1, momentum=0.9, nesterov=True)
    params = attach(opt, [1.0])
    step(opt, params, [1.0])           # b = 1, g + 0.9 b = 1.9, w = 0.81
    w = step(opt, params, [1.0])[0]    # b = 1.9, g + 0.9 b = 2.71, w = 0.81 - 0.271
    assert w == pytest.approx([0.539])


def test_sgd_weight_decay_is_coupled():
    opt = SGD(0.1, weight_decay=0.5)
    params = attach(opt, [2.0])
    assert step(opt, params, [0.0])[0] == pytest.approx([2.0 - 0.1 * 0.5 * 2.0])


def test_adam_first_steps():
    opt = Adam(0.01, epsilon=1e-8)
    params = attach(opt, [1.0, 1.0])
    # step 1: m_hat = g, v_hat = g^2, so the step is lr * sign(g)
    first = step(opt, params, [0.3, -4.0])[0]
    assert first == pytest.approx([0.99, 1.01], abs=1e-9)
    # step 2 with g = 0.1: the moments and their bias corrections in full
    m = 0.9 * 0.1 * 0.3 + 0.1 * 0.1
    v = 0.999 * 0.001 * 0.09 + 0.001 * 0.01
    expected = first[0] - 0.01 * (m / (1 - 0.9 ** 2)) / (math.sqrt(v / (1 - 0.999 ** 2)) + 1e-8)
    assert step(opt, params, [0.1, 0.0])[0][0] == pytest.approx(expected, rel=1e-12)


def test_adamw_decays_weights_directly():
    opt = AdamW(0.01, weight_decay=0.1, epsilon=1e-8)
    params = attach(opt, [2.0])
    # w * (1 - 0.01 * 0.1) then the Adam step of size lr
    assert step(opt, params, [1.0])[0] == pytest.approx([2.0 * 0.999 - 0.01])


def test_rmsprop_first_step():
    opt = RMSprop(0.01, rho=0.9, epsilon=0.0 + 1e-12)
    params = attach(opt, [1.0])
    # v = 0.1 * g^2, step = lr * g / sqrt(v) = lr / sqrt(0.1)
    assert step(opt, params, [2.0])[0] == pytest.approx([1 - 0.01 / math.sqrt(0.1)])


def test_rmsprop_centered_first_step():
    opt = RMSprop(0.01, rho=0.9, epsilon=1e-12, centered=True)
    params = attach(opt, [1.0])
    # v = 0.1 g^2, mean = 0.1 g, sqrt(v - mean^2) = 0.3 |g|: the step is lr / 0.3
    assert step(opt, params, [2.0])[0] == pytest.approx([1 - 0.01 / 0.3])


def test_rmsprop_momentum_two_steps():
    opt = RMSprop(0.01, rho=0.9, epsilon=1e-12, momentum=0.5)
    params = attach(opt, [1.0])
    step(opt, params, [2.0])                  # b = 1 / sqrt(0.1)
    w = step(opt, params, [2.0])[0]           # v = 0.19 g^2, b = 0.5 / sqrt(0.1) + 1 / sqrt(0.19)
    first = 1 / math.sqrt(0.1)
    assert w == pytest.approx([1 - 0.01 * first - 0.01 * (0.5 * first + 1 / math.sqrt(0.19))])


def test_clipvalue_and_global_clipnorm():
    opt = SGD(1.0, clipvalue=0.5)
    params = attach(opt, [0.0, 0.0])
    assert step(opt, params, [2.0, -0.1])[0] == pytest.approx([-0.5, 0.1])
    opt = SGD(1.0, global_clipnorm=1.0)
    params = attach(opt, [0.0], [0.0])
    values = step(opt, params, [3.0], [4.0])     # norm 5 -> scaled by 1/5
    assert values[0] == pytest.approx([-0.6]) and values[1] == pytest.approx([-0.8])


def test_clipnorm_is_per_parameter():
    opt = SGD(1.0, clipnorm=1.0)
    params = attach(opt, [0.0, 0.0], [0.0])
    values = step(opt, params, [3.0, 4.0], [0.5])
    assert values[0] == pytest.approx([-0.6, -0.8]) and values[1] == pytest.approx([-0.5])


@pytest.mark.parametrize("schedule, expected", [
    (schedules.StepDecay(1.0, step_size=2, gamma=0.5), [1.0, 1.0, 0.5, 0.5, 0.25]),
    (schedules.ExponentialDecay(1.0, decay_steps=2, decay_rate=0.25), [1.0, 0.5, 0.25, 0.125, 0.0625]),
    (schedules.ExponentialDecay(1.0, decay_steps=2, decay_rate=0.25, staircase=True), [1.0, 1.0, 0.25, 0.25, 0.0625]),
    (schedules.CosineDecay(1.0, decay_steps=4), [1.0, 0.5 + 0.5 * math.cos(math.pi / 4), 0.5,
                                                 0.5 + 0.5 * math.cos(3 * math.pi / 4), 0.0]),
])
def test_schedules_by_hand(schedule, expected):
    assert [schedule(t) for t in range(5)] == pytest.approx(expected)
    opt = SGD(schedule)
    params = attach(opt, [0.0])
    w = [step(opt, params, [1.0])[0][0] for _ in range(5)]
    assert np.diff(np.concatenate([[0.0], w])) == pytest.approx([-e for e in expected])


def test_schedule_learning_rate_cannot_be_set():
    opt = SGD(schedules.StepDecay(0.1, 10))
    with pytest.raises(gn.ConfigurationError, match="schedule"):
        opt.learning_rate = 0.5


def test_state_dict_round_trip_resumes_exactly():
    a, b = Adam(0.01), Adam(0.01)
    pa, pb = attach(a, [1.0, 2.0], [3.0]), attach(b, [1.0, 2.0], [3.0])
    for g in ([0.1, 0.2], [0.3]), ([-0.2, 0.5], [0.1]):
        step(a, pa, *g)
    state = a.state_dict()
    assert set(state["state"]) == {"p0", "p1"} and set(state["state"]["p0"]) == {"m", "v"}
    b.load_state_dict(state)
    pb.values[...] = pa.values
    np.testing.assert_array_equal(step(a, pa, [0.7, 0.1], [0.2])[0], step(b, pb, [0.7, 0.1], [0.2])[0])
    assert a.iterations == b.iterations == 3


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s["state"].pop("p1"), "missing"),
    (lambda s: s["state"].__setitem__("p0", {"m": np.zeros(3), "v": np.zeros(2)}), "shape"),
    (lambda s: s["state"]["p0"].pop("v"), "slots"),
    (lambda s: s.__setitem__("class_name", "SGD"), "SGD"),
])
def test_load_state_dict_checks(mutate, message):
    opt = Adam()
    attach(opt, [1.0, 2.0], [3.0])
    state = opt.state_dict()
    mutate(state)
    with pytest.raises(gn.StateError, match=message):
        _fresh_adam().load_state_dict(state)


def _fresh_adam():
    opt = Adam()
    attach(opt, [1.0, 2.0], [3.0])
    return opt


@pytest.mark.parametrize("make, message", [
    (lambda: SGD(-0.1), "learning_rate"),
    (lambda: SGD(0.1, momentum=1.5), "momentum"),
    (lambda: SGD(0.1, nesterov=True), "nesterov"),
    (lambda: Adam(beta_1=1.0), "beta_1"),
    (lambda: Adam(epsilon=0), "epsilon"),
    (lambda: RMSprop(rho=-0.1), "rho"),
    (lambda: SGD(0.1, clipnorm=1.0, global_clipnorm=1.0), "not both"),
    (lambda: gn.optimizers.get("adadelta"), "adagrad, adam, adamax, adamw, nadam, rmsprop, sgd"),
    (lambda: schedules.StepDecay(0.1, step_size=0), "step_size"),
])
def test_bad_hyperparameters(make, message):
    with pytest.raises(gn.ConfigurationError, match=message):
        make()
