"""The callback machinery: ``Callback`` (every hook a no-op), ``CallbackList`` (calls the hooks
that callbacks override), ``History`` (what ``fit`` returns) and ``Monitor`` (did a logged value
improve?), which the control and checkpoint callbacks share.

The hooks and their arguments are Keras's:
``on_train_begin(logs)``, ``on_epoch_begin(epoch, logs)``, ``on_train_batch_begin(batch, logs)``,
``on_train_batch_end(batch, logs)``, ``on_epoch_end(epoch, logs)``, ``on_train_end(logs)``.
``logs`` is a dict such as ``{"loss": 0.31, "accuracy": 0.89, "val_loss": 0.35, ...}``.
Epochs and batches are counted from 0.
"""
import math

from .. import checks
from ..errors import ConfigurationError

# Monitored names whose larger values are better (mode="auto"): accuracies and the scores of metrics.py.
HIGHER_IS_BETTER = ("acc", "auc", "precision", "recall", "f1", "r2")

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
         "on_train_batch_begin", "on_train_batch_end")


class Callback:
    """Base class: every hook does nothing. ``self.model`` is the model being trained,
    ``self.params`` holds ``epochs``, ``steps`` (batches per epoch), ``verbose`` and
    ``callbacks`` (every callback of this ``fit``, in the order they run), and
    ``self.progress`` is where the fit stands (``training.Progress``: the epoch, the position a
    checkpoint saves, whether this process writes files).

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
        self.progress = None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def set_progress(self, progress):
        self.progress = progress

    def resume_position(self):
        """The position in training (``{"epoch", "batch", ...}``) that this callback restored in
        ``on_train_begin`` and ``fit`` should continue from, or None (``BackupAndRestore``)."""
        return None

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

    def __init__(self, callbacks, model, params, progress=None):
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise ConfigurationError(f"callbacks must be Callback instances, got {type(callback).__name__}")
            callback.set_model(model)
            callback.set_params({**params, "callbacks": self.callbacks})
            callback.set_progress(progress)
        for hook in HOOKS:
            setattr(self, hook, _dispatch([getattr(c, hook) for c in self.callbacks if overrides(c, hook)]))

    def has(self, hook):
        return self.__dict__[hook] is not _nothing

    def resume_position(self):
        """The first position a callback restored training to, or None (see ``Callback``)."""
        return next((p for p in (c.resume_position() for c in self.callbacks) if p is not None), None)


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
        from ..diagnosis import diagnose
        return diagnose(self, **rules)


class Monitor:
    """Whether a monitored value improved: ``mode`` "min", "max", or "auto" (max for accuracies, AUC, precision, recall, F1 and R²)."""

    def __init__(self, monitor, mode, min_delta):
        if not isinstance(monitor, str):
            raise ConfigurationError(f"monitor must be the name of a logged value such as 'val_loss', got {monitor!r}")
        if not isinstance(mode, str) or mode not in ("auto", "min", "max"):
            raise ConfigurationError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if any(k in monitor for k in HIGHER_IS_BETTER) else "min"
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(checks.number("min_delta", min_delta))

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


