"""Learning-rate schedules: functions of the optimizer step ``t`` (0, 1, 2, ...) that give the
learning rate to use for that step. Pass one as ``learning_rate`` to any optimizer:

    gn.optimizers.Adam(gn.optimizers.schedules.CosineDecay(1e-3, decay_steps=10_000))

(For a schedule per epoch, or one that reacts to the validation loss, use the
``LearningRateScheduler`` and ``ReduceLROnPlateau`` callbacks.)
"""
import math

from . import checks, serialization
from .errors import ConfigurationError, lookup


class LearningRateSchedule:
    """Base class: ``schedule(step) -> learning rate``."""

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class StepDecay(LearningRateSchedule):
    """``lr(t) = initial_learning_rate * gamma ** floor(t / step_size)``: cut by ``gamma`` every
    ``step_size`` steps (PyTorch's ``StepLR``, counted in optimizer steps). ``gamma`` is in
    (0, 1]: a rate that grew would overflow in the middle of training."""

    def __init__(self, initial_learning_rate, step_size, gamma=0.1):
        self.initial_learning_rate = checks.number("initial_learning_rate", initial_learning_rate,
                                                   low=0, low_open=True)
        self.step_size = checks.positive_int("step_size", step_size)
        self.gamma = checks.number("gamma", gamma, low=0, high=1, low_open=True)

    def __call__(self, step):
        return self.initial_learning_rate * self.gamma ** (step // self.step_size)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "step_size": self.step_size,
                "gamma": self.gamma}


class ExponentialDecay(LearningRateSchedule):
    """``lr(t) = initial_learning_rate * decay_rate ** (t / decay_steps)``; with ``staircase`` the
    exponent is rounded down, so the rate drops in steps (Keras's ``ExponentialDecay``).
    ``decay_rate`` is in (0, 1] (Keras also allows growth, which overflows in a long run)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate = checks.number("initial_learning_rate", initial_learning_rate,
                                                   low=0, low_open=True)
        self.decay_steps = checks.positive_int("decay_steps", decay_steps)
        self.decay_rate = checks.number("decay_rate", decay_rate, low=0, high=1, low_open=True)
        self.staircase = bool(staircase)

    def __call__(self, step):
        exponent = step / self.decay_steps
        if self.staircase:
            exponent = math.floor(exponent)
        return self.initial_learning_rate * self.decay_rate ** exponent

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase}


def _cosine(start, end, fraction):
    """Half a cosine from ``start`` (at fraction 0) down or up to ``end`` (at fraction 1)."""
    return end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2


def _line(start, end, fraction):
    """A straight line from ``start`` (at fraction 0) to ``end`` (at fraction 1)."""
    return start + (end - start) * fraction


class CosineDecay(LearningRateSchedule):
    """Half a cosine from ``initial_learning_rate`` down to ``alpha * initial_learning_rate`` over
    ``decay_steps`` steps, then flat (Keras's ``CosineDecay``):

        lr(t) = initial * (alpha + (1 - alpha) * (1 + cos(pi * min(t, decay_steps) / decay_steps)) / 2)

    With a ``warmup_target`` (the peak), the rate first rises in a straight line from
    ``initial_learning_rate`` (0 allowed) to the peak over ``warmup_steps`` steps, then the cosine
    runs from the peak down to ``alpha * peak`` over the ``decay_steps`` steps after those:

        lr(t) = initial + (peak - initial) * t / warmup_steps                          t < warmup_steps
        lr(t) = peak * (alpha + (1 - alpha) * (1 + cos(pi * min(t - warmup_steps, decay_steps) / decay_steps)) / 2)
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = checks.number("initial_learning_rate", initial_learning_rate, low=0,
                                                   low_open=warmup_target is None)
        self.decay_steps = checks.positive_int("decay_steps", decay_steps)
        self.alpha = checks.number("alpha", alpha, low=0, high=1)
        self.warmup_target = (None if warmup_target is None
                              else checks.number("warmup_target", warmup_target, low=0, low_open=True))
        self.warmup_steps = checks.nonnegative_int("warmup_steps", warmup_steps)
        if self.warmup_steps and warmup_target is None:
            raise ConfigurationError("warmup_steps needs a warmup_target, the rate to rise to")

    def __call__(self, step):
        peak = self.initial_learning_rate if self.warmup_target is None else self.warmup_target
        if step < self.warmup_steps:
            return _line(self.initial_learning_rate, peak, step / self.warmup_steps)
        progress = min(step - self.warmup_steps, self.decay_steps) / self.decay_steps
        return _cosine(peak, self.alpha * peak, progress)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


_ANNEALING = {"cos": _cosine, "linear": _line}


class OneCycle(LearningRateSchedule):
    """The one-cycle policy (Smith and Topin), as PyTorch's ``OneCycleLR``: the rate rises from
    ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of ``total_steps``, then
    falls to ``max_lr / (div_factor * final_div_factor)`` at step ``total_steps - 1`` and stays
    there (PyTorch raises an error past ``total_steps``). Each phase, from ``a`` at step ``s`` to
    ``b`` at step ``e``, is half a cosine (``anneal_strategy="cos"``) or a straight line
    (``"linear"``) in ``f = (t - s) / (e - s)``:

        cos:     lr(t) = b + (a - b) * (1 + cos(pi * f)) / 2        linear:  lr(t) = a + (b - a) * f

    with ``e = pct_start * total_steps - 1`` for the rise (from ``s = 0``) and the fall running
    from there to ``total_steps - 1``. PyTorch also cycles the momentum (down while the rate
    rises); here the optimizer's momentum stays as set. PyTorch's ``epochs`` and
    ``steps_per_epoch`` are ``total_steps = epochs * steps_per_epoch``; ``three_phase`` is not
    offered.
    """

    def __init__(self, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
                 final_div_factor=1e4):
        self.max_lr = checks.number("max_lr", max_lr, low=0, low_open=True)
        self.total_steps = checks.positive_int("total_steps", total_steps)
        self.pct_start = checks.number("pct_start", pct_start, low=0, high=1, low_open=True, high_open=True)
        self._anneal = lookup(_ANNEALING, anneal_strategy, "anneal_strategy")
        self.anneal_strategy = anneal_strategy.lower()
        self.div_factor = checks.number("div_factor", div_factor, low=0, low_open=True)
        self.final_div_factor = checks.number("final_div_factor", final_div_factor, low=0, low_open=True)
        self._peak_step = self.pct_start * self.total_steps - 1  # a float, as PyTorch's
        if self._peak_step <= 0:
            raise ConfigurationError(f"the rise lasts pct_start * total_steps - 1 steps, which must be > 0; got "
                                     f"pct_start={self.pct_start} and total_steps={self.total_steps}")

    def __call__(self, step):
        initial = self.max_lr / self.div_factor
        step = min(step, self.total_steps - 1)
        if step <= self._peak_step:
            return self._anneal(initial, self.max_lr, step / self._peak_step)
        fraction = (step - self._peak_step) / (self.total_steps - 1 - self._peak_step)
        return self._anneal(self.max_lr, initial / self.final_div_factor, fraction)

    def get_config(self):
        return {"max_lr": self.max_lr, "total_steps": self.total_steps, "pct_start": self.pct_start,
                "anneal_strategy": self.anneal_strategy, "div_factor": self.div_factor,
                "final_div_factor": self.final_div_factor}


SCHEDULES = (StepDecay, ExponentialDecay, CosineDecay, OneCycle)


def deserialize(spec):
    """A schedule from ``serialization.serialize(schedule)``'s output."""
    return serialization.deserialize(spec, SCHEDULES, "learning-rate schedule")
