"""Callbacks: code that runs at the start and end of training, of each epoch and of each batch.

Early stopping, learning-rate schedules, stopping on NaN and the progress bar are all callbacks;
the training loop itself knows nothing about them. The hooks and their arguments are Keras's:
``on_train_begin(logs)``, ``on_epoch_begin(epoch, logs)``, ``on_train_batch_begin(batch, logs)``,
``on_train_batch_end(batch, logs)``, ``on_epoch_end(epoch, logs)``, ``on_train_end(logs)``.
``logs`` is a dict such as ``{"loss": 0.31, "accuracy": 0.89, "val_loss": 0.35, ...}``.
Epochs and batches are counted from 0.
"""
import inspect
import math

import numpy as np

from .errors import ConfigurationError

__all__ = ["Callback", "CallbackList", "History", "EarlyStopping", "ReduceLROnPlateau",
           "TerminateOnNaN", "LearningRateScheduler", "LambdaCallback", "ModelCheckpoint",
           "BackupAndRestore"]

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
         "on_train_batch_begin", "on_train_batch_end")


class Callback:
    """Base class: every hook does nothing. ``self.model`` is the model being trained and
    ``self.params`` holds ``epochs``, ``steps`` (batches per epoch), ``verbose`` and
    ``callbacks`` (every callback of this ``fit``, in the order they run).

    A callback that remembers something from epoch to epoch (a best value, a patience counter)
    returns it from ``get_state`` and takes it back in ``set_state``, so that ``BackupAndRestore``
    resumes it along with the model: a dict of JSON values, with any NumPy arrays in a list
    under ``"arrays"``."""

    # True for callbacks that save the training state (checkpoints): ``fit`` runs them after the
    # History has recorded the epoch, so what they save includes it.
    saves_training_state = False

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def get_state(self):
        """What this callback must remember across an interrupted run, or None for nothing."""
        return None

    def set_state(self, state):
        """Take back a ``get_state()`` value (called after ``on_train_begin`` on a resume)."""

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass


class CallbackList:
    """Calls each hook on every callback, in order. Hooks a callback leaves as the base class's
    no-op are skipped, so per-batch hooks cost nothing unless some callback uses them."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise ConfigurationError(f"callbacks must be Callback instances, got {type(callback).__name__}")
            callback.set_model(model)
            callback.set_params({**params, "callbacks": self.callbacks})
        for hook in HOOKS:
            setattr(self, hook, _dispatch([getattr(c, hook) for c in self.callbacks if overrides(c, hook)]))

    def has(self, hook):
        return self.__dict__[hook] is not _nothing


def overrides(callback, hook):
    """Whether ``callback`` does something in ``hook`` (rather than the base class's no-op)."""
    return getattr(type(callback), hook) is not getattr(Callback, hook) or hook in vars(callback)


def _nothing(*args, **kwargs):
    pass


def _dispatch(bound):
    if not bound:
        return _nothing

    def call(*args, **kwargs):
        for method in bound:
            method(*args, **kwargs)

    return call


class History(Callback):
    """Records the logs of every epoch: ``history["loss"]``, ``history["val_loss"]``, ... are lists
    with one value per epoch; ``epoch`` lists the epoch numbers. ``fit`` returns it."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def diagnose(self, **rules):
        """Underfit, good fit or overfit, from which epoch, and the gaps: see ``glassnet.diagnosis``."""
        from .diagnosis import diagnose
        return diagnose(self, **rules)


class _Monitor:
    """Whether a monitored value improved: ``mode`` "min", "max", or "auto" (max for accuracies)."""

    def __init__(self, monitor, mode, min_delta):
        if mode not in ("auto", "min", "max"):
            raise ConfigurationError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if any(k in monitor for k in ("acc", "auc")) else "min"
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(float(min_delta))

    def worst(self):
        return math.inf if self.mode == "min" else -math.inf

    def improved(self, current, best):
        if self.mode == "min":
            return current < best - self.min_delta
        return current > best + self.min_delta

    def read(self, logs):
        if self.monitor not in (logs or {}):
            raise ConfigurationError(
                f"monitor {self.monitor!r} is not in the training logs, which have: "
                f"{', '.join(sorted(logs or {}))} (val_ values need validation_split or validation_data)")
        return float(logs[self.monitor])


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
        self._monitor = _Monitor(monitor, mode, min_delta)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ConfigurationError(f"patience must be an integer >= 0, got {patience!r}")
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch

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
        self.wait, self.best, self.best_epoch = int(state["wait"]), float(state["best"]), state["best_epoch"]
        self.best_weights = list(state["arrays"]) or None

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
        if not 0 < factor < 1:
            raise ConfigurationError(f"factor must be in (0, 1), got {factor!r}")
        self._monitor = _Monitor(monitor, mode, min_delta)
        self.factor, self.patience, self.verbose = float(factor), patience, verbose
        self.cooldown, self.min_lr = cooldown, float(min_lr)

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = self._monitor.worst(), 0, 0

    def get_state(self):
        return {"best": self.best, "wait": self.wait, "cooldown_counter": self.cooldown_counter}

    def set_state(self, state):
        self.best, self.wait = float(state["best"]), int(state["wait"])
        self.cooldown_counter = int(state["cooldown_counter"])

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
        self._takes_rate = len(inspect.signature(schedule).parameters) >= 2

    def on_epoch_begin(self, epoch, logs=None):
        if self._takes_rate:
            rate = self.schedule(epoch, self.model.optimizer.learning_rate)
        else:
            rate = self.schedule(epoch)
        self.model.optimizer.learning_rate = float(rate)
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


from .checkpointing import BackupAndRestore, ModelCheckpoint  # noqa: E402  (they build on Callback)
