"""Progress displays: the Keras-like one of ``fit``, and one bar for a whole training run.

On a terminal, ``verbose=1`` redraws one line per epoch in place as batches go by
(``  120/469 [=====>......] - 2s - loss: 0.4123 - accuracy: 0.8512``). Anywhere else (a log
file, CI, a notebook capturing output), and with ``verbose=2``, it prints one line per finished
epoch without the bar (``469/469 - 9s - loss: 0.3012 - ...``), so logs do not fill with carriage
returns.

``TrainingBar`` (what ``glassnet train`` shows) is one bar over the epochs instead, for runs of
hundreds of short epochs: redrawn in place on a terminal (``epoch 57/500 [==>......] - 12s -
at most 1m40s left - loss: 0.1234 - val_loss: 0.2345``), within long epochs too (``batch
412/1023``), and elsewhere printed about ten times per run and at least every 15 seconds.
"""
import sys
import time

from .base import Callback
from .control import EarlyStopping


def format_logs(logs):
    return " - ".join(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}"
                      for key, value in logs.items())


class ProgressBar(Callback):
    """Prints training progress; ``verbose`` 1 = bar on a terminal, 2 = one line per epoch."""

    def __init__(self, verbose=1, stream=None, width=30, interval=0.1):
        super().__init__()
        self.verbose, self.stream, self.width, self.interval = verbose, stream, width, interval

    def on_train_begin(self, logs=None):
        self.stream = self.stream or sys.stdout
        self.in_place = self.verbose == 1 and self.stream.isatty()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = self.last_draw = time.perf_counter()
        self.stream.write(f"Epoch {epoch + 1}/{self.params['epochs']}\n")

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self.in_place and now - self.last_draw >= self.interval:
            self.last_draw = now
            self._draw(batch + 1, logs, end="")

    def on_epoch_end(self, epoch, logs=None):
        self._draw(self.params["steps"], logs, end="\n")
        self.stream.flush()

    def _draw(self, done, logs, end):
        steps = self.params["steps"]
        elapsed = time.perf_counter() - self.epoch_start
        text = f"{done:>{len(str(steps))}}/{steps}"
        if self.in_place:
            text += f" [{_bar(done, steps, self.width)}]"
        text += f" - {elapsed:.0f}s"
        if logs:
            text += " - " + format_logs(logs)
        self.stream.write(("\r" + text + "\033[K" if self.in_place else text) + end)
        if self.in_place:
            self.stream.flush()


def _bar(done, total, width):
    filled = width * done // total
    return "=" * max(filled - 1, 0) + (">" if filled < width else "=") + "." * (width - filled)


class TrainingBar(Callback):
    """One progress line for a whole run (``label`` starts it), with the time so far and an ETA.

    On a terminal it is redrawn after every epoch, and within an epoch every ``interval`` seconds
    once the epoch has run ``long_epoch`` seconds. Elsewhere it prints about ``lines`` lines per
    run, and a line (mid-epoch if need be) whenever ``log_every`` seconds passed without one. The
    ETA is to the run's last epoch; with an ``EarlyStopping`` among the callbacks that is an upper
    bound, shown as ``at most``."""

    def __init__(self, label="epoch", stream=None, width=30, lines=10, interval=0.5, long_epoch=2.0,
                 log_every=15.0):
        super().__init__()
        self.label, self.stream, self.width, self.lines = label, stream, width, lines
        self.interval, self.long_epoch, self.log_every = interval, long_epoch, log_every

    def on_train_begin(self, logs=None):
        self.stream = self.stream or sys.stdout
        self.in_place = self.stream.isatty()
        self.start = self.shown = time.perf_counter()
        self.every = max(1, self.params["epochs"] // self.lines)
        self.bounded = any(isinstance(c, EarlyStopping) for c in self.params.get("callbacks", ()))
        self.last, self.drawn = (0, {}), 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        due = (now - self.shown >= self.interval and now - self.epoch_start >= self.long_epoch if self.in_place
               else now - self.shown >= self.log_every)
        if due:
            self._draw(self.last[0], batch + 1, logs or {}, now)

    def on_epoch_end(self, epoch, logs=None):
        self.last = (epoch + 1, dict(logs or {}))
        now = time.perf_counter()
        if self.in_place or self.last[0] % self.every == 0 or now - self.shown >= self.log_every:
            self._draw(self.last[0], 0, self.last[1], now)

    def on_train_end(self, logs=None):
        if self.in_place:
            self.stream.write("\n")
        elif self.drawn != self.last[0]:  # the last epoch (training may stop early) was not shown
            self._draw(self.last[0], 0, self.last[1], time.perf_counter())
        self.stream.flush()

    def _draw(self, epochs_done, batches_done, logs, now):
        """Draw the run at ``epochs_done`` whole epochs and ``batches_done`` batches of the next."""
        total, steps = self.params["epochs"], self.params["steps"]
        shown = epochs_done + (1 if batches_done else 0)
        text = f"{self.label} {shown:>{len(str(total))}}/{total} [{_bar(epochs_done * steps + batches_done, total * steps, self.width)}]"
        if batches_done:
            text += f" batch {batches_done}/{steps}"
        elapsed = now - self.start
        done = epochs_done * steps + batches_done
        left = elapsed * (total * steps - done) / done if done else None
        text += f" - {_duration(elapsed)}"
        if left is not None and done < total * steps:
            text += f" - {'at most ' if self.bounded else ''}{_duration(left)} left"
        if logs:
            text += " - " + format_logs(logs)
        self.stream.write("\r" + text + "\033[K" if self.in_place else text + "\n")
        self.stream.flush()
        self.shown = now
        self.drawn = None if batches_done else epochs_done


def _duration(seconds):
    """``45s``, ``3m05s``, ``1h02m``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
