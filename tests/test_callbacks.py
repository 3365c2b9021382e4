"""Callbacks: early stopping (the exact stopping epoch), learning-rate callbacks, NaN, lambdas,
and the progress display."""
import io

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers
from glassnet.callbacks.progress import ProgressBar, TrainingBar


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = (rng.standard_normal((n, 3)) + y[:, None]).astype(np.float32)
    return x, y


def model(seed=0):
    m = gn.Sequential([layers.Dense(4, activation="tanh"), layers.Dense(2, activation="softmax")], seed=seed)
    m.compile(optimizer=gn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def scripted(key, values):
    """A callback that writes ``values[epoch]`` into the logs as ``key`` (a monitored value we control)."""
    return gn.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: logs.__setitem__(key, values[epoch]))


@pytest.mark.parametrize("values, patience, min_delta, epochs_run, best_epoch", [
    ([5, 4, 3, 3.5, 3.2, 3.1, 2.0, 1.0], 2, 0.0, 5, 2),   # best at epoch 2; epochs 3 and 4 do not improve
    ([5, 4, 3, 3.5, 2.9, 3.1, 2.0, 1.0], 2, 0.0, 8, 7),   # epoch 4 improves in time: no stop
    ([5, 4, 3, 2.95, 2.92, 2.9, 2.0, 1.0], 2, 0.1, 5, 2),  # improvements smaller than min_delta do not count
    ([5, 6, 7, 8, 9, 9, 9, 9], 0, 0.0, 2, 0),             # patience 0: the first non-improving epoch stops
    ([5, 6, 7, 8, 9, 9, 9, 9], 3, 0.0, 4, 0),
])
def test_early_stopping_stops_at_the_documented_epoch(values, patience, min_delta, epochs_run, best_epoch):
    x, y = data()
    stop = gn.callbacks.EarlyStopping(monitor="val_loss", patience=patience, min_delta=min_delta)
    history = model().fit(x, y, epochs=8, verbose=0, callbacks=[scripted("val_loss", values), stop])
    assert len(history.epoch) == epochs_run
    assert stop.best_epoch == best_epoch
    assert stop.stopped_epoch == (None if epochs_run == 8 else epochs_run - 1)


def test_early_stopping_mode_max_for_accuracy():
    x, y = data()
    stop = gn.callbacks.EarlyStopping(monitor="val_accuracy", patience=1)
    history = model().fit(x, y, epochs=8, verbose=0,
                          callbacks=[scripted("val_accuracy", [0.5, 0.6, 0.55, 0.5, 0.9, 1, 1, 1]), stop])
    assert len(history.epoch) == 3 and stop.best_epoch == 1


def test_restore_best_weights():
    x, y = data()
    snapshots = []
    m = model()
    record = gn.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(m.get_weights()))
    stop = gn.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    m.fit(x, y, epochs=8, verbose=0, callbacks=[scripted("val_loss", [5, 4, 3, 3.5, 3.2, 3.1, 2, 1]), record, stop])
    for a, b in zip(m.get_weights(), snapshots[2]):
        np.testing.assert_array_equal(a, b)


def test_restore_best_weights_also_when_training_runs_out():
    x, y = data()
    snapshots = []
    m = model()
    record = gn.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(m.get_weights()))
    stop = gn.callbacks.EarlyStopping(patience=10, restore_best_weights=True)
    m.fit(x, y, epochs=4, verbose=0, callbacks=[scripted("val_loss", [5, 1, 3, 4]), record, stop])
    np.testing.assert_array_equal(m.get_weights()[0], snapshots[1][0])


def test_early_stopping_on_real_validation_loss():
    x, y = data(200)
    stop = gn.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    history = model().fit(x, y, epochs=200, validation_split=0.3, verbose=0, callbacks=[stop])
    assert len(history.epoch) < 200
    assert stop.best == min(history.history["val_loss"])


def test_monitoring_a_missing_value_names_the_available_ones():
    x, y = data()
    with pytest.raises(gn.ConfigurationError, match="val_loss.*accuracy, loss.*validation_split"):
        model().fit(x, y, epochs=2, verbose=0, callbacks=[gn.callbacks.EarlyStopping()])


def test_reduce_lr_on_plateau():
    x, y = data()
    m = model()
    reduce = gn.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_lr=0.02)
    history = m.fit(x, y, epochs=6, verbose=0, callbacks=[scripted("val_loss", [3, 2, 2, 2, 2, 2]), reduce])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.025, 0.02])
    assert m.optimizer.learning_rate == pytest.approx(0.02)


def test_learning_rate_scheduler_both_signatures():
    x, y = data()
    m = model()
    history = m.fit(x, y, epochs=3, verbose=0,
                    callbacks=[gn.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.025, 0.0125])
    history = m.fit(x, y, epochs=2, verbose=0,
                    callbacks=[gn.callbacks.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))])
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.02])


def test_terminate_on_nan(capsys):
    x, y = data()
    m = gn.Sequential([layers.Dense(1)], seed=0)
    m.compile(optimizer=gn.optimizers.SGD(1e30), loss="mse")
    with np.errstate(all="ignore"):
        history = m.fit(x * 1e10, y, epochs=5, batch_size=8, verbose=0, callbacks=[gn.callbacks.TerminateOnNaN()])
    assert len(history.epoch) == 1
    assert "invalid loss" in capsys.readouterr().out


def test_lambda_callback_hooks_and_order():
    x, y = data(32)
    calls = []
    hooks = {name: (lambda name: lambda *args: calls.append(name))(name) for name in
             ("on_train_begin", "on_epoch_begin", "on_train_batch_begin", "on_train_batch_end",
              "on_epoch_end", "on_train_end")}
    model().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[gn.callbacks.LambdaCallback(**hooks)])
    batch = ["on_train_batch_begin", "on_train_batch_end"]
    epoch = ["on_epoch_begin"] + batch * 2 + ["on_epoch_end"]
    assert calls == ["on_train_begin"] + epoch * 2 + ["on_train_end"]


def test_lambda_callback_rejects_unknown_hooks():
    with pytest.raises(gn.ConfigurationError, match="on_batch_end"):
        gn.callbacks.LambdaCallback(on_batch_end=print)


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("stream, verbose, in_place", [(io.StringIO(), 1, False), (FakeTerminal(), 1, True),
                                                      (FakeTerminal(), 2, False)])
def test_progress_bar_redraws_only_on_a_terminal(stream, verbose, in_place):
    x, y = data(64)
    bar = ProgressBar(verbose, stream=stream, interval=0.0)
    model().fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[bar])
    text = stream.getvalue()
    assert ("\r" in text) == in_place
    assert text.count("Epoch ") == 2 and "8/8" in text and "accuracy:" in text
    if not in_place:
        assert len(text.strip().splitlines()) == 4  # "Epoch i/2" and one summary line per epoch


def test_verbose_fit_prints_one_line_per_epoch_off_a_terminal(capsys):
    x, y = data()
    model().fit(x, y, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert out.count("loss:") == 2 and "\r" not in out


@pytest.mark.parametrize("epochs, lines", [(40, 10), (7, 7), (23, 12)])
def test_training_bar_prints_about_ten_lines_off_a_terminal_and_the_last_epoch(epochs, lines):
    x, y = data(32)
    stream = io.StringIO()
    model().fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=[TrainingBar("epoch", stream=stream)])
    shown = stream.getvalue().splitlines()
    assert len(shown) == lines and shown[-1].startswith(f"epoch {epochs}/{epochs} [") and "loss:" in shown[-1]


def test_training_bar_redraws_one_line_on_a_terminal():
    x, y = data(32)
    stream = FakeTerminal()
    model().fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[TrainingBar("refit", stream=stream)])
    text = stream.getvalue()
    assert text.count("\r") == 5 and text.endswith("\n") and text.count("\n") == 1 and "refit 5/5" in text


class FakeClock:
    """``time.perf_counter`` for the progress display: ``seconds_per_batch`` pass at every batch."""

    def __init__(self, seconds_per_batch):
        self.now, self.step = 0.0, seconds_per_batch

    def perf_counter(self):
        return self.now

    def callback(self):
        return gn.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs=None: setattr(self, "now", self.now + self.step))


def clocked_run(monkeypatch, stream, seconds_per_batch, epochs, extra=()):
    """Train with a TrainingBar on ``stream`` while ``seconds_per_batch`` pass (fake) per batch."""
    import glassnet.callbacks.progress as progress
    clock = FakeClock(seconds_per_batch)
    monkeypatch.setattr(progress, "time", clock)
    x, y = data(64)
    model().fit(x, y, epochs=epochs, batch_size=16, verbose=0, validation_split=0.25,
                callbacks=[clock.callback(), *extra, TrainingBar("epoch", stream=stream)])
    return stream.getvalue()


def test_training_bar_prints_a_line_at_least_every_15_seconds_in_a_log(monkeypatch):
    text = clocked_run(monkeypatch, io.StringIO(), 10.0, epochs=20)  # 3 batches: 30 s an epoch
    lines = text.splitlines()
    assert len(lines) > 20  # a line each epoch (more than ten), and mid-epoch ones
    mid = [line for line in lines if " batch " in line]
    assert mid and mid[0].startswith("epoch  1/20 [") and "batch 2/3" in mid[0] and "20s - 9m40s left" in mid[0]
    assert lines[-1].startswith("epoch 20/20 [") and "left" not in lines[-1]


def test_training_bar_eta_is_an_upper_bound_with_early_stopping(monkeypatch):
    stop = gn.callbacks.EarlyStopping(monitor="val_loss", patience=100)
    text = clocked_run(monkeypatch, io.StringIO(), 1.0, epochs=40, extra=[stop])
    first = text.splitlines()[0]
    assert first.startswith("epoch  4/40 [") and "12s - at most 1m48s left - loss:" in first


def test_training_bar_redraws_within_long_epochs_on_a_terminal(monkeypatch):
    text = clocked_run(monkeypatch, FakeTerminal(), 1.5, epochs=2)  # 3 batches of 1.5 s
    drawn = text.split("\r")
    assert any("batch 2/3" in d for d in drawn) and not any("batch 1/3" in d for d in drawn)
    assert text.endswith("\n") and text.count("\n") == 1


def test_training_bar_stays_per_epoch_on_a_terminal_when_epochs_are_short(monkeypatch):
    text = clocked_run(monkeypatch, FakeTerminal(), 0.1, epochs=5)
    assert text.count("\r") == 5 and " batch " not in text


@pytest.mark.parametrize("monitor, mode", [("val_loss", "min"), ("val_mae", "min"), ("val_accuracy", "max"),
                                           ("val_auc", "max"), ("val_f1", "max"), ("val_r2", "max"),
                                           ("val_precision", "max"), ("val_recall", "max")])
def test_early_stopping_auto_mode_knows_which_scores_grow(monitor, mode):
    assert gn.callbacks.EarlyStopping(monitor=monitor)._monitor.mode == mode
