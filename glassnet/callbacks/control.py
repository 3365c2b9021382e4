"""Callbacks that steer training: stop early, change the learning rate, stop on NaN, or run
any function at a hook."""
import inspect

import numpy as np

from .. import checks
from ..errors import ConfigurationError
from .base import HOOKS, Callback, Monitor


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs in a row.

    Exactly: after each epoch, if the monitored value beats the best so far by more than
    ``min_delta`` it becomes the best and the wait resets to 0; otherwise the wait grows by one,
    and when it reaches ``patience`` training stops at the end of that epoch. So with the best
    value at epoch ``b`` (from 0) training stops after epoch ``b + patience``, having run
    ``b + patience + 1`` epochs, unless a later epoch improves. Epochs before ``start_from_epoch``
    are not counted. With ``restore_best_weights=True`` the model ends training, stopped or not,
    with the weights of its best epoch. ``stopped_epoch`` and ``best_epoch`` tell what happened.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self._monitor = Monitor(monitor, mode, min_delta)
        self.monitor, self.patience, self.verbose = monitor, checks.nonnegative_int("patience", patience), verbose
        self.baseline = None if baseline is None else checks.number("baseline", baseline)
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = checks.nonnegative_int("start_from_epoch", start_from_epoch)

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = None
        self.best = self._monitor.worst() if self.baseline is None else float(self.baseline)
        self.best_epoch = None
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_from_epoch:
            return
        current = self._monitor.read(logs)
        if self._monitor.improved(current, self.best):
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def get_state(self):
        return {"wait": self.wait, "best": self.best, "best_epoch": self.best_epoch,
                "arrays": self.best_weights or []}

    def set_state(self, state):
        self.wait, self.best = checks.nonnegative_int("wait", state["wait"]), _saved_best(state["best"])
        self.best_epoch = None if state["best_epoch"] is None else checks.nonnegative_int("best_epoch", state["best_epoch"])
        weights = list(state["arrays"])
        shapes = [p.shape for p in self.model.parameters()]
        if weights and [np.shape(w) for w in weights] != shapes:
            raise ConfigurationError(f"the saved best weights have shapes {[np.shape(w) for w in weights]}, "
                                     f"the model's are {shapes}")
        self.best_weights = weights or None

    def on_train_end(self, logs=None):
        if self.stopped_epoch is not None and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping; best {self.monitor} = "
                  f"{self.best:.4g} at epoch {self.best_epoch + 1 if self.best_epoch is not None else '-'}")
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for ``patience``
    epochs, then wait ``cooldown`` epochs before counting again; never below ``min_lr``."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__()
        factor = checks.number("factor", factor, low=0, high=1, low_open=True, high_open=True)
        self._monitor = Monitor(monitor, mode, min_delta)
        self.factor, self.patience, self.verbose = factor, checks.nonnegative_int("patience", patience), verbose
        self.cooldown = checks.nonnegative_int("cooldown", cooldown)
        self.min_lr = checks.number("min_lr", min_lr, low=0)

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = self._monitor.worst(), 0, 0

    def get_state(self):
        return {"best": self.best, "wait": self.wait, "cooldown_counter": self.cooldown_counter}

    def set_state(self, state):
        self.best, self.wait = _saved_best(state["best"]), checks.nonnegative_int("wait", state["wait"])
        self.cooldown_counter = checks.nonnegative_int("cooldown_counter", state["cooldown_counter"])

    def on_epoch_end(self, epoch, logs=None):
        current = self._monitor.read(logs)
        logs["learning_rate"] = self.model.optimizer.learning_rate
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._monitor.improved(current, self.best):
            self.best, self.wait = current, 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            old = self.model.optimizer.learning_rate
            new = max(old * self.factor, self.min_lr)
            if new < old:
                self.model.optimizer.learning_rate = new
                if self.verbose:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new:.4g}.")
            self.cooldown_counter, self.wait = self.cooldown, 0


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Batch {batch}: invalid loss {loss}, terminating training")
            self.model.stop_training = True


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)`` (Keras's
    signature; ``schedule(epoch)`` works too). The rate used shows in the logs as ``learning_rate``."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise ConfigurationError(f"schedule must be callable, got {schedule!r}")
        self.schedule, self.verbose = schedule, verbose
        try:
            self._takes_rate = len(inspect.signature(schedule).parameters) >= 2
        except (TypeError, ValueError):  # a built-in without a signature: called as schedule(epoch)
            self._takes_rate = False

    def on_epoch_begin(self, epoch, logs=None):
        if self._takes_rate:
            rate = self.schedule(epoch, self.model.optimizer.learning_rate)
        else:
            rate = self.schedule(epoch)
        self.model.optimizer.learning_rate = rate  # checked: a finite number > 0
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(rate):.4g}.")

    def on_epoch_end(self, epoch, logs=None):
        logs["learning_rate"] = self.model.optimizer.learning_rate


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks):
        super().__init__()
        for hook, function in hooks.items():
            if hook not in HOOKS:
                raise ConfigurationError(f"unknown hook {hook!r}; expected one of: {', '.join(HOOKS)}")
            if function is not None:
                setattr(self, hook, function)


def _saved_best(value):
    """A saved best monitored value: a number, infinite before any epoch improved, never NaN."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ConfigurationError(f"a saved best value must be a number, got {value!r}")
    return float(value)
