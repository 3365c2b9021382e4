"""ModelCheckpoint and BackupAndRestore: files written during training, and exact resume."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import safetensors
import safetensors.numpy

import glassnet as gn
from glassnet import layers
from glassnet.io import model_file


def data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.standard_normal((n, 5)) + np.eye(5)[y] * 1.5).astype(np.float32)
    return x, y


def model(seed=0):
    m = gn.Sequential([layers.Dense(16, activation="relu"), layers.Dropout(0.3),
                       layers.Dense(3, activation="softmax")], seed=seed)
    m.compile(gn.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


FIT = dict(epochs=6, batch_size=16, validation_split=0.2, verbose=0)


class Interrupt(Exception):
    pass


class StopAt(gn.callbacks.Callback):
    """Raises at (epoch, batch), as a crash would."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise Interrupt


@pytest.mark.parametrize("save_freq, stop_at", [("epoch", (3, 4)), (4, (2, 6)), (1, (4, 0)), (3, (0, 5))])
def test_backup_and_restore_resumes_exactly(tmp_path, save_freq, stop_at):
    x, y = data()
    straight = model()
    straight_history = straight.fit(x, y, **FIT)

    interrupted = model()
    backup = gn.callbacks.BackupAndRestore(tmp_path / "backup", save_freq=save_freq)
    with pytest.raises(Interrupt):
        interrupted.fit(x, y, callbacks=[backup, StopAt(*stop_at)], **FIT)
    assert os.path.exists(backup.path)

    resumed = model()  # a fresh process would start here: same script, same seed
    history = resumed.fit(x, y, callbacks=[gn.callbacks.BackupAndRestore(tmp_path / "backup",
                                                                         save_freq=save_freq)], **FIT)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history.history == straight_history.history
    assert history.epoch == list(range(6))
    assert not os.path.exists(backup.path)  # deleted once training ended


@pytest.mark.parametrize("stop_at", [(4, 3), (6, 0)])
def test_a_resume_keeps_early_stopping_and_reduce_lr_on_plateau_where_they_were(tmp_path, stop_at):
    """Their best values, counters and best weights are in the backup: the resumed run stops at
    the same epoch, with the same learning rate and the same restored best weights."""
    x, y = data()

    def watchers():
        return [gn.callbacks.EarlyStopping(patience=3, min_delta=0.005, restore_best_weights=True),
                gn.callbacks.ReduceLROnPlateau(patience=2, factor=0.5, min_delta=0.005)]

    fit = {**FIT, "epochs": 40}
    straight = model()
    straight_history = straight.fit(x, y, callbacks=watchers(), **fit)
    assert len(straight_history.epoch) < 40  # it did stop early
    assert stop_at[0] < len(straight_history.epoch) and straight.optimizer.learning_rate < 0.01  # and cut the rate

    with pytest.raises(Interrupt):
        model().fit(x, y, callbacks=[*watchers(), gn.callbacks.BackupAndRestore(tmp_path, save_freq=4),
                                     StopAt(*stop_at)], **fit)
    resumed = model()
    first, plateau = watchers()
    history = resumed.fit(x, y, callbacks=[first, plateau, gn.callbacks.BackupAndRestore(tmp_path, save_freq=4)], **fit)
    assert history.history == straight_history.history
    assert first.stopped_epoch == len(straight_history.epoch) - 1
    assert resumed.optimizer.learning_rate == straight.optimizer.learning_rate
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_backup_is_kept_when_asked_and_refuses_a_plain_model_file(tmp_path):
    x, y = data()
    backup = gn.callbacks.BackupAndRestore(tmp_path, delete_checkpoint=False)
    model().fit(x, y, callbacks=[backup], **FIT)
    assert model_file.read(backup.path).fields["training_state"]["position"] == {"epoch": 6, "batch": 0}
    plain = model()
    plain.build((5,))
    plain.save(backup.path)
    with pytest.raises(gn.ModelFileError, match="not a training backup"):
        model().fit(x, y, callbacks=[gn.callbacks.BackupAndRestore(tmp_path)], **FIT)


def test_backup_of_another_architecture_is_refused(tmp_path):
    x, y = data()
    other = gn.Sequential([layers.Dense(4), layers.Dense(3, activation="softmax")], seed=0)
    other.compile("adam", "sparse_categorical_crossentropy")
    other.fit(x, y, epochs=1, verbose=0, callbacks=[gn.callbacks.BackupAndRestore(tmp_path, delete_checkpoint=False)])
    with pytest.raises(gn.ModelFileError, match="different architecture"):
        model().fit(x, y, callbacks=[gn.callbacks.BackupAndRestore(tmp_path)], **FIT)


def test_model_checkpoint_every_epoch_formats_the_name(tmp_path):
    x, y = data()
    m = model()
    m.fit(x, y, callbacks=[gn.callbacks.ModelCheckpoint(tmp_path / "m-{epoch:02d}-{val_loss:.3f}.safetensors")], **FIT)
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 6 and names[0].startswith("m-01-") and names[-1].startswith("m-06-")
    last = gn.load(tmp_path / names[-1])
    for a, b in zip(m.get_weights(), last.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert f"{m.history.history['val_loss'][-1]:.3f}" in names[-1]


def test_model_checkpoint_best_only_keeps_the_best_epoch(tmp_path):
    x, y = data()
    m = model()
    path = tmp_path / "best.safetensors"
    history = m.fit(x, y, callbacks=[gn.callbacks.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)],
                    epochs=12, batch_size=16, validation_split=0.2, verbose=0)
    best = int(np.argmin(history.history["val_loss"]))
    saved = gn.load(path)
    assert len(saved.history.epoch) == best + 1  # written at the best epoch, not after it


def test_model_checkpoint_with_optimizer_state_resumes_exactly(tmp_path):
    x, y = data()
    straight = model()
    straight.fit(x, y, **FIT)
    first = model()
    first.fit(x, y, callbacks=[gn.callbacks.ModelCheckpoint(tmp_path / "e{epoch}.safetensors",
                                                            include_optimizer=True)], **FIT)
    resumed = gn.load(tmp_path / "e2.safetensors")
    assert model_file.read(tmp_path / "e2.safetensors").fields["training_state"]["position"] == {"epoch": 2, "batch": 0}
    resumed.fit(x, y, initial_epoch=2, **FIT)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_errors(tmp_path):
    x, y = data()
    with pytest.raises(gn.ConfigurationError, match="save_freq"):
        gn.callbacks.ModelCheckpoint(tmp_path / "m.safetensors", save_freq=0)
    with pytest.raises(gn.ConfigurationError, match="save_freq"):
        gn.callbacks.BackupAndRestore(tmp_path, save_freq="sometimes")
    with pytest.raises(gn.ConfigurationError, match="names 'val_auc'"):
        model().fit(x, y, callbacks=[gn.callbacks.ModelCheckpoint(tmp_path / "{val_auc}.safetensors")], **FIT)
    with pytest.raises(gn.ConfigurationError, match="monitor 'val_loss' is not in the training logs"):
        model().fit(x, y, epochs=1, verbose=0,
                    callbacks=[gn.callbacks.ModelCheckpoint(tmp_path / "m.safetensors", save_best_only=True)])


TRAIN_SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    import glassnet as gn
    out, backup = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    x = (rng.standard_normal((600, 8)) + np.eye(8)[y] * 1.5).astype(np.float32)
    model = gn.Sequential([gn.layers.Dense(32, activation="relu"), gn.layers.Dropout(0.3),
                           gn.layers.Dense(3, activation="softmax")], seed=5)
    model.compile(gn.optimizers.Adam(0.005), "sparse_categorical_crossentropy", metrics=["accuracy"])
    slow = gn.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: time.sleep(0.002))
    callbacks = [slow] + ([gn.callbacks.BackupAndRestore(backup, save_freq=7)] if backup != "-" else [])
    model.fit(x, y, epochs=20, batch_size=10, validation_split=0.1, verbose=0, callbacks=callbacks)
    model.save(out)
""")


def test_a_training_process_killed_with_sigkill_resumes_to_bit_identical_weights(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    run = [sys.executable, str(script)]
    subprocess.run(run + [str(tmp_path / "straight.safetensors"), "-"], env=env, check=True, timeout=300)

    backup = tmp_path / "backup" / "backup.safetensors"
    process = subprocess.Popen(run + [str(tmp_path / "resumed.safetensors"), str(tmp_path / "backup")], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if backup.exists() and model_file.read(backup).fields["training_state"]["position"]["epoch"] >= 3:
            break
        time.sleep(0.01)
    assert process.poll() is None, "training ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    position = model_file.read(backup).fields["training_state"]["position"]
    assert 3 <= position["epoch"] < 20
    assert not (tmp_path / "resumed.safetensors").exists()

    subprocess.run(run + [str(tmp_path / "resumed.safetensors"), str(tmp_path / "backup")], env=env,
                   check=True, timeout=300)
    straight, resumed = gn.load(tmp_path / "straight.safetensors"), gn.load(tmp_path / "resumed.safetensors")
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        assert a.tobytes() == b.tobytes()
    assert straight.history.history == resumed.history.history
    assert not backup.exists()


def test_a_backup_with_a_damaged_callback_state_is_refused(tmp_path):
    x, y = data()
    watcher = lambda: gn.callbacks.EarlyStopping(patience=50)
    model().fit(x, y, callbacks=[watcher(), gn.callbacks.BackupAndRestore(tmp_path, delete_checkpoint=False)], **FIT)
    path = tmp_path / "backup.safetensors"
    file = model_file.read(path)
    file.fields["training_state"]["callbacks"][0]["state"] = {"wait": "soon"}
    with safetensors.safe_open(path, "np") as f:
        metadata, arrays = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    metadata["training_state"] = json.dumps(file.fields["training_state"])
    metadata["checksum"] = model_file.checksum(metadata, arrays)
    path.write_bytes(safetensors.numpy.save(arrays, metadata=metadata))
    with pytest.raises(gn.ModelFileError, match="a callback's saved state is not valid"):
        model().fit(x, y, callbacks=[watcher(), gn.callbacks.BackupAndRestore(tmp_path)], **FIT)
