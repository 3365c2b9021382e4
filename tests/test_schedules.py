"""Warm-up + cosine (CosineDecay's warmup_target/warmup_steps) and the one-cycle schedule: values by
hand (through test_optimizers' check, which also steps an optimizer with them), PyTorch's
schedulers step by step (skipped without PyTorch), and the arguments they refuse."""
import importlib
import math

import pytest

import glassnet as gn
from glassnet import schedules
from tests.test_optimizers import test_schedules_by_hand as check_by_hand


def cosine(start, end, fraction):
    return end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2


# one-cycle, max_lr 1, total 10: from 1/25 up to 1 at step 0.3 * 10 - 1 = 2, then down to
# 1/25/1e4 at step 9 (the fall spans 7 steps), and flat after it
ONE_CYCLE_UP = [0.04, cosine(0.04, 1.0, 0.5), 1.0]
ONE_CYCLE_DOWN = [cosine(1.0, 4e-6, k / 7) for k in range(1, 8)]


@pytest.mark.parametrize("schedule, expected", [
    (schedules.CosineDecay(0.0, decay_steps=2, warmup_target=1.0, warmup_steps=2), [0.0, 0.5, 1.0, 0.5, 0.0]),
    (schedules.CosineDecay(0.2, decay_steps=4, alpha=0.1, warmup_target=1.0, warmup_steps=1),
     [0.2, 1.0, cosine(1.0, 0.1, 0.25), 0.55, cosine(1.0, 0.1, 0.75)]),
    (schedules.CosineDecay(0.5, decay_steps=2, alpha=0.5, warmup_target=1.0), [1.0, 0.75, 0.5, 0.5, 0.5]),
    # the peak at step 0.5 * 5 - 1 = 1.5, between two steps (PyTorch's float), the end at step 4
    (schedules.OneCycle(1.0, total_steps=5, pct_start=0.5, anneal_strategy="linear", div_factor=10,
                        final_div_factor=10), [0.1, 0.1 + 0.9 / 1.5, 1 - 0.99 * 0.5 / 2.5, 1 - 0.99 * 1.5 / 2.5, 0.01]),
])
def test_schedules_by_hand(schedule, expected):
    check_by_hand(schedule, expected)


def test_one_cycle_by_hand():
    schedule = schedules.OneCycle(1.0, total_steps=10)
    assert [schedule(t) for t in range(12)] == pytest.approx(ONE_CYCLE_UP + ONE_CYCLE_DOWN + [4e-6] * 2,
                                                             rel=1e-12)


def test_warmup_is_a_line_then_the_cosine_of_keras():
    schedule = schedules.CosineDecay(0.01, decay_steps=100, alpha=0.05, warmup_target=0.1, warmup_steps=10)
    assert schedule(4) == pytest.approx(0.01 + 0.09 * 4 / 10)
    plain = schedules.CosineDecay(0.1, decay_steps=100, alpha=0.05)
    assert [schedule(10 + t) for t in range(0, 120, 7)] == pytest.approx([plain(t) for t in range(0, 120, 7)])


# -- PyTorch's schedulers -------------------------------------------------------------------------

def _torch_warmup_cosine(torch, optimizer):
    scheduler = torch.optim.lr_scheduler
    return scheduler.SequentialLR(optimizer, [scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=5),
                                              scheduler.CosineAnnealingLR(optimizer, T_max=15, eta_min=0.01)],
                                  milestones=[5])


SCHEDULE_CASES = [  # (glassnet schedule factory, torch scheduler from (torch, optimizer), torch optimizer's rate)
    pytest.param(lambda: schedules.OneCycle(0.1, total_steps=20),
                 lambda torch, opt: torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=20,
                                                                        cycle_momentum=False),
                 0.1, id="one_cycle_vs_onecyclelr"),
    pytest.param(lambda: schedules.OneCycle(0.1, total_steps=20, pct_start=0.25, anneal_strategy="linear",
                                            div_factor=10, final_div_factor=100),
                 lambda torch, opt: torch.optim.lr_scheduler.OneCycleLR(
                     opt, 0.1, total_steps=20, pct_start=0.25, anneal_strategy="linear", div_factor=10,
                     final_div_factor=100, cycle_momentum=False),
                 0.1, id="one_cycle_linear_vs_onecyclelr"),
    pytest.param(lambda: schedules.CosineDecay(0.01, decay_steps=15, alpha=0.1, warmup_target=0.1, warmup_steps=5),
                 _torch_warmup_cosine, 0.1, id="warmup_cosine_vs_linearlr_then_cosineannealinglr"),
]


@pytest.mark.parametrize("make_schedule, make_scheduler, initial_rate", SCHEDULE_CASES)
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_schedule_matches_torch_scheduler(make_schedule, make_scheduler, initial_rate, kind):
    parity = importlib.import_module("tests.test_torch_parity")  # skips without PyTorch
    parity.test_learning_rate_schedule_matches_torch_scheduler(
        make_schedule, lambda opt: make_scheduler(parity.torch, opt), initial_rate, kind)


# -- configs and refusals -------------------------------------------------------------------------

@pytest.mark.parametrize("schedule", [schedules.CosineDecay(0.0, 50, alpha=0.1, warmup_target=0.3, warmup_steps=5),
                                      schedules.OneCycle(0.2, 300, pct_start=0.1, anneal_strategy="LINEAR")])
def test_schedules_round_trip_through_their_config(schedule):
    again = schedules.deserialize(gn.serialization.serialize(schedule))
    assert again.get_config() == schedule.get_config()
    assert [again(t) for t in range(0, 400, 9)] == [schedule(t) for t in range(0, 400, 9)]


@pytest.mark.parametrize("make, message", [
    (lambda: schedules.CosineDecay(0.1, 10, warmup_steps=5), "warmup_steps needs a warmup_target"),
    (lambda: schedules.CosineDecay(0.0, 10), "initial_learning_rate"),
    (lambda: schedules.CosineDecay(0.0, 10, warmup_target=0.0, warmup_steps=2), "warmup_target"),
    (lambda: schedules.CosineDecay(0.0, 10, warmup_target=0.1, warmup_steps=-1), "warmup_steps"),
    (lambda: schedules.OneCycle(0.1, total_steps=3), r"pct_start \* total_steps - 1"),
    (lambda: schedules.OneCycle(0.1, total_steps=100, pct_start=1.0), "pct_start"),
    (lambda: schedules.OneCycle(0.1, total_steps=100, anneal_strategy="exp"), "cos, linear"),
    (lambda: schedules.OneCycle(0.1, total_steps=0), "total_steps"),
    (lambda: schedules.OneCycle(0.1, total_steps=100, div_factor=0), "div_factor"),
])
def test_bad_arguments(make, message):
    with pytest.raises(gn.ConfigurationError, match=message):
        make()
