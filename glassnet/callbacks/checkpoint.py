"""Callbacks that write model files during training: checkpoints, and backups to resume from.

``ModelCheckpoint`` keeps the model of every epoch, or of the best one by a monitored value.
``BackupAndRestore`` keeps one backup of the whole training state (weights, optimizer state,
random generator, history, and the position: epoch and batch) and, when ``fit`` starts and finds
one, continues from it; if the process was killed, running the same script again finishes the
training with exactly the weights an uninterrupted run would have had (same seed, same data).

Both write through ``model.save``: a temporary file renamed into place, so a crash mid-write
never leaves a broken file where a good one was. In data-parallel training only process 0 writes
(every process holds the same state), and every process restores from the backup.
"""
import os

from .base import Callback, Monitor
from ..errors import ConfigurationError, ModelFileError
from ..io import model_file


def _writes(model):
    """Whether this process writes the files: always, but only process 0 of a distributed fit."""
    return model.data_parallel is None or model.data_parallel.rank == 0


def _save_freq(save_freq):
    if save_freq == "epoch":
        return save_freq
    if isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1:
        raise ConfigurationError(f"save_freq must be 'epoch' or a number of batches >= 1, got {save_freq!r}")
    return save_freq


class ModelCheckpoint(Callback):
    """Save the model to ``filepath`` after every epoch (or every ``save_freq`` batches).

    ``filepath`` may hold ``{epoch}`` (counted from 1) and any logged value, e.g.
    ``"model-{epoch:02d}-{val_loss:.3f}.safetensors"``. With ``save_best_only=True`` a file is
    written only when ``monitor`` improves on the best so far (``mode`` as in EarlyStopping), so a
    fixed ``filepath`` always holds the best model. ``include_optimizer=True`` stores what an exact
    resume needs.
    """

    saves_training_state = True

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, mode="auto",
                 include_optimizer=False, save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor, self.verbose = monitor, verbose
        self.save_best_only, self.include_optimizer = bool(save_best_only), bool(include_optimizer)
        self._monitor = Monitor(monitor, mode, 0.0)
        self.save_freq = _save_freq(save_freq)
        self.initial_value_threshold = initial_value_threshold
        if self.save_freq != "epoch":
            self.on_train_batch_end = self._on_batch_end

    def on_train_begin(self, logs=None):
        if self.initial_value_threshold is None:
            self.best = self._monitor.worst()
        else:
            self.best = float(self.initial_value_threshold)
        self.batches_seen = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(logs, {"epoch": epoch + 1, "batch": 0}, epoch=epoch + 1)

    def _on_batch_end(self, batch, logs=None):
        self.batches_seen += 1
        if self.batches_seen % self.save_freq == 0:
            progress = self.model.epoch_progress
            self._save(logs, progress.position(batch + 1), epoch=progress.epoch + 1, batch=batch + 1)

    def get_state(self):
        return {"best": self.best}

    def set_state(self, state):
        self.best = float(state["best"])

    def _save(self, logs, position, **names):
        logs = logs or {}
        if self.save_best_only:
            current = self._monitor.read(logs)
            if not self._monitor.improved(current, self.best):
                return
            self.best = current
        try:
            path = self.filepath.format(**names, **logs)
        except (KeyError, IndexError, ValueError) as error:
            raise ConfigurationError(f"ModelCheckpoint filepath {self.filepath!r} names {error}, which is "
                                     f"not in the logs ({', '.join(['epoch', *logs])})") from None
        if not _writes(self.model):
            return
        model_file.save(self.model, path, include_optimizer=self.include_optimizer, position=position)
        if self.verbose:
            print(f"Epoch {names['epoch']}: saved model to {path}")


class BackupAndRestore(Callback):
    """Back up the whole training state to ``backup_dir`` after every epoch (or every
    ``save_freq`` batches); when ``fit`` starts and a backup is there, restore it and continue from
    where it was taken. The backup is deleted when training ends normally
    (``delete_checkpoint=True``).

    Restored exactly: weights, optimizer state (moments, step count, learning rate), the model's
    random generator (shuffling, dropout), the history, the position in training, down to the
    batch, and the state of the other callbacks that keep one (``Callback.get_state``:
    EarlyStopping's best value, patience counter and best weights, ReduceLROnPlateau's counters,
    ModelCheckpoint's best value).
    """

    FILENAME = "backup.safetensors"
    saves_training_state = True

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        self.backup_dir = os.fspath(backup_dir)
        self.path = os.path.join(self.backup_dir, self.FILENAME)
        self.save_freq = _save_freq(save_freq)
        self.delete_checkpoint = bool(delete_checkpoint)
        if self.save_freq != "epoch":
            self.on_train_batch_end = self._on_batch_end

    def on_train_begin(self, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        self.batches_seen = 0
        self.restored_from = None
        if os.path.exists(self.path):
            file = model_file.restore(self.model, self.path)
            if self.model.saved_position is None:
                raise ModelFileError(f"{self.path} is not a training backup: it has no training position")
            self.model.resume_from = self.restored_from = self.model.saved_position
            try:
                model_file.restore_callbacks(file, self._others())
            except (KeyError, TypeError, ValueError) as error:
                raise ModelFileError(f"{self.path}: a callback's saved state is not valid: {error!r}") from None

    def on_epoch_end(self, epoch, logs=None):
        self._save({"epoch": epoch + 1, "batch": 0})

    def _on_batch_end(self, batch, logs=None):
        self.batches_seen += 1
        if self.batches_seen % self.save_freq == 0:
            self._save(self.model.epoch_progress.position(batch + 1))

    def _others(self):
        """The other callbacks of this fit, whose state (EarlyStopping's patience, ...) is backed up."""
        return [c for c in self.params.get("callbacks", ()) if c is not self]

    def _save(self, position):
        if _writes(self.model):
            model_file.save(self.model, self.path, include_optimizer=True, position=position,
                            callbacks=self._others())

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and _writes(self.model) and os.path.exists(self.path):
            os.remove(self.path)
