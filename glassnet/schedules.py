"""Learning-rate schedules: functions of the optimizer step ``t`` (0, 1, 2, ...) that give the
learning rate to use for that step. Pass one as ``learning_rate`` to any optimizer:

    gn.optimizers.Adam(gn.optimizers.schedules.CosineDecay(1e-3, decay_steps=10_000))

(For a schedule per epoch, or one that reacts to the validation loss, use the
``LearningRateScheduler`` and ``ReduceLROnPlateau`` callbacks.)
"""
import math

from . import checks, serialization


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


class CosineDecay(LearningRateSchedule):
    """Half a cosine from ``initial_learning_rate`` down to ``alpha * initial_learning_rate`` over
    ``decay_steps`` steps, then flat (Keras's ``CosineDecay``):

        lr(t) = initial * (alpha + (1 - alpha) * (1 + cos(pi * min(t, decay_steps) / decay_steps)) / 2)
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0):
        self.initial_learning_rate = checks.number("initial_learning_rate", initial_learning_rate,
                                                   low=0, low_open=True)
        self.decay_steps = checks.positive_int("decay_steps", decay_steps)
        self.alpha = checks.number("alpha", alpha, low=0, high=1)

    def __call__(self, step):
        progress = min(step, self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return self.initial_learning_rate * (self.alpha + (1 - self.alpha) * cosine)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha}


SCHEDULES = (StepDecay, ExponentialDecay, CosineDecay)


def deserialize(spec):
    """A schedule from ``serialization.serialize(schedule)``'s output."""
    return serialization.deserialize(spec, SCHEDULES, "learning-rate schedule")
