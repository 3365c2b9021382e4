"""Progress displays: the Keras-like one of ``fit``, and one bar for a whole training run.

On a terminal, ``verbose=1`` redraws one line per epoch in place as batches go by
(``  120/469 [=====>......] - 2s - loss: 0.4123 - accuracy: 0.8512``). Anywhere else (a log
file, CI, a notebook capturing output), and with ``verbose=2``, it prints one line per finished
epoch without the bar (``469/469 - 9s - loss: 0.3012 - ...``), so logs do not fill with carriage
returns.

``TrainingBar`` (what ``glassnet train`` shows) is one bar over the epochs instead, for runs of
hundreds of short epochs: redrawn in place on a terminal (``epoch 57/500 [==>......] - 12s -
loss: 0.1234 - val_loss: 0.2345``), and elsewhere printed about ten times per run.
"""
import sys
import time

from .base import Callback


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
    """One progress line for a whole run, updated after every epoch; ``label`` starts it."""

    def __init__(self, label="epoch", stream=None, width=30, lines=10):
        super().__init__()
        self.label, self.stream, self.width, self.lines = label, stream, width, lines

    def on_train_begin(self, logs=None):
        self.stream = self.stream or sys.stdout
        self.in_place = self.stream.isatty()
        self.start = time.perf_counter()
        self.every = max(1, self.params["epochs"] // self.lines)
        self.last = (0, {})

    def on_epoch_end(self, epoch, logs=None):
        self.last = (epoch + 1, dict(logs or {}))
        if self.in_place or self.last[0] % self.every == 0:
            self._draw()

    def on_train_end(self, logs=None):
        if self.in_place:
            self.stream.write("\n")
        elif self.last[0] % self.every:  # the last epoch (training may stop early) was not shown
            self._draw()
        self.stream.flush()

    def _draw(self):
        (done, logs), total = self.last, self.params["epochs"]
        text = (f"{self.label} {done:>{len(str(total))}}/{total} [{_bar(done, total, self.width)}] - "
                f"{time.perf_counter() - self.start:.0f}s - {format_logs(logs)}")
        self.stream.write("\r" + text + "\033[K" if self.in_place else text + "\n")
        self.stream.flush()
