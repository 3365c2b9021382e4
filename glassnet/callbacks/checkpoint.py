"""Callbacks that write model files during training: checkpoints, and backups to resume from.

``ModelCheckpoint`` keeps the model of every epoch, or of the best one by a monitored value.
``BackupAndRestore`` keeps one backup of the whole training state (weights, optimizer state,
random generator, history, and the position: epoch and batch) and, when ``fit`` starts and finds
one, continues from it; if the process was killed, running the same script again finishes the
training with exactly the weights an uninterrupted run would have had (same seed, same data).

The training state is the model's own (``model.to_tensors(include_optimizer=True)``: weights,
optimizer state, random generator, history) plus what this module adds to the file's
``training_state`` field: the ``position`` (``training.Progress.position``) and the state of the
other callbacks (``Callback.get_state``), their arrays as tensors ``callbacks/<i>/<j>``.

Files are written through ``io.model_file``: a temporary file renamed into place, so a crash
mid-write never leaves a broken file where a good one was. In data-parallel training only
process 0 writes (every process holds the same state), and every process restores from the backup.
"""
import os

from ..errors import ConfigurationError, GlassnetError, ModelFileError
from ..io import model_file, schema
from .base import Callback, Monitor


def save_training_state(model, path, position, callbacks=()):
    """Write ``model`` with its optimizer and generator state, ``position`` and the state of
    ``callbacks`` to ``path``."""
    tensors, fields = model.to_tensors(include_optimizer=True)
    fields["training_state"]["position"] = position
    fields["training_state"]["callbacks"] = _callback_states(callbacks, tensors)
    model_file.write(path, tensors, fields)


def restore_training_state(model, path, callbacks=(), epochs=None, steps=None):
    """Load the backup at ``path`` into ``model`` (whose architecture must be the file's) and
    into ``callbacks``; return the position training stood at, checked against the ``epochs``
    and ``steps`` (batches per epoch) of the fit that resumes (``_position``)."""
    file = model_file.read(path)
    model.load_state(file)
    state = file.fields.get("training_state") or {}
    if state.get("position") is None:
        raise ModelFileError(f"{path} is not a training backup: it has no training position")
    try:
        position = checked_position(state["position"], model, epochs, steps)
        saved = _saved_callback_states(state.get("callbacks") or [], file.tensors)
        _restore_callbacks(saved, file.tensors, callbacks)
    except (GlassnetError, KeyError, TypeError, ValueError, OverflowError) as error:
        raise ModelFileError(f"{path}: the training position or a callback's saved state is not valid: "
                             f"{error}") from None
    return position


def checked_position(position, model, epochs=None, steps=None):
    """The ``training_state.position`` field checked: the epoch to continue with, at most
    ``epochs`` and after every epoch of the history; the next batch, at most ``steps``; and, in
    the middle of an epoch, the generator state before its shuffle and the running sums of its
    loss and metrics (a list of ``metric.size`` numbers per metric of the model; an older
    backup, with one ``sums`` number and one ``counts`` integer per metric, is read as the
    ``[sum, count]`` of the mean metrics it could only have had)."""
    schema.fields("position", position, ("epoch", "batch"), ("epoch_rng", "totals"))
    last = max(model.history.epoch, default=-1) if model.history is not None else -1
    epoch = schema.integer("position.epoch", position["epoch"], low=last + 1,
                           high=schema.MAX_COUNT if epochs is None else epochs)
    batch = schema.integer("position.batch", position["batch"],
                           high=schema.MAX_COUNT if steps is None else steps)
    if batch == 0:
        return {"epoch": epoch, "batch": 0}
    if epochs is not None and epoch == epochs:
        schema.refuse("position.epoch", f"below {epochs} in the middle of an epoch", epoch)
    schema.fields("position", position, ("epoch", "batch", "epoch_rng", "totals"))
    totals = schema.fields("position.totals", position["totals"], ("loss", "examples", "sums"), ("counts",))
    sums = schema.listing("position.totals.sums", totals["sums"], len(model.metrics))
    if "counts" in totals:
        sums = [[total, schema.integer("position.totals.counts", count, low=1)] for total, count
                in zip(sums, schema.listing("position.totals.counts", totals["counts"], len(sums)))]
    return {"epoch": epoch, "batch": batch,
            "epoch_rng": schema.generator_state("position.epoch_rng", position["epoch_rng"], model.rng.bit_generator),
            "totals": {"loss": schema.number("position.totals.loss", totals["loss"], finite=False),
                       "examples": schema.integer("position.totals.examples", totals["examples"], low=1),
                       "sums": [[schema.number(f"position.totals.sums[{i}]", v, finite=False)
                                 for v in schema.listing(f"position.totals.sums[{i}]", metric_sums,
                                                         metric.size(model.output_shape))]
                                for i, (metric, metric_sums) in enumerate(zip(model.metrics, sums))]}}


def _saved_callback_states(saved, tensors):
    """The ``training_state.callbacks`` field checked: a list of ``{"class_name", "arrays",
    "state"}``, each with its ``arrays`` tensors ``callbacks/<i>/<j>`` in the file."""
    for i, entry in enumerate(schema.listing("training_state.callbacks", saved)):
        name = f"training_state.callbacks[{i}]"
        schema.fields(name, entry, ("class_name", "arrays", "state"))
        schema.string(f"{name}.class_name", entry["class_name"])
        schema.mapping(f"{name}.state", entry["state"])
        for j in range(schema.integer(f"{name}.arrays", entry["arrays"], high=len(tensors))):
            if f"callbacks/{i}/{j}" not in tensors:
                raise ModelFileError(f"{name} has {entry['arrays']} arrays, but the tensor callbacks/{i}/{j} is missing")
    return saved


def _callback_states(callbacks, tensors):
    """``[{"class_name", "state", "arrays": count}]`` for the callbacks that have a state; their
    arrays go into ``tensors`` as ``callbacks/<i>/<j>``."""
    states = []
    for callback in callbacks:
        state = callback.get_state()
        if state is None:
            continue
        arrays = list(state.get("arrays", ()))
        for j, array in enumerate(arrays):
            tensors[f"callbacks/{len(states)}/{j}"] = array
        states.append({"class_name": type(callback).__name__, "arrays": len(arrays),
                       "state": {k: v for k, v in state.items() if k != "arrays"}})
    return states


def _restore_callbacks(saved, tensors, callbacks):
    """Give each of ``callbacks`` the state ``saved`` for it (checked ``_saved_callback_states``,
    arrays in ``tensors``): the saved states of a class go, in order, to the callbacks of that
    class, whose ``set_state`` checks the state's contents."""
    for class_name in {entry["class_name"] for entry in saved}:
        entries = [(i, e) for i, e in enumerate(saved) if e["class_name"] == class_name]
        mine = [c for c in callbacks if type(c).__name__ == class_name]
        for (i, entry), callback in zip(entries, mine):
            arrays = [tensors[f"callbacks/{i}/{j}"] for j in range(entry["arrays"])]
            callback.set_state({**entry["state"], "arrays": arrays})


def _writes(callback):
    """Whether this process writes the files: always, but only process 0 of a distributed fit."""
    return callback.progress is None or callback.progress.writes_files


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
            self._save(logs, self.progress.position(batch + 1), epoch=self.progress.epoch + 1, batch=batch + 1)

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
        if not _writes(self):
            return
        if self.include_optimizer:
            save_training_state(self.model, path, position)
        else:
            self.model.save(path)
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
            self.restored_from = restore_training_state(self.model, self.path, self._others(),
                                                        self.params.get("epochs"), self.params.get("steps"))

    def resume_position(self):
        return self.restored_from

    def on_epoch_end(self, epoch, logs=None):
        self._save({"epoch": epoch + 1, "batch": 0})

    def _on_batch_end(self, batch, logs=None):
        self.batches_seen += 1
        if self.batches_seen % self.save_freq == 0:
            self._save(self.progress.position(batch + 1))

    def _others(self):
        """The other callbacks of this fit, whose state (EarlyStopping's patience, ...) is backed up."""
        return [c for c in self.params.get("callbacks", ()) if c is not self]

    def _save(self, position):
        if _writes(self):
            save_training_state(self.model, self.path, position, self._others())

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and _writes(self) and os.path.exists(self.path):
            os.remove(self.path)
