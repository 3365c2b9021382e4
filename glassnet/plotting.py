"""Pictures of training: ``plot_history(history, path)`` draws the loss (and the first metric) per
epoch, for training and validation, marks the best epoch and shades the epochs where the run
overfits, with the verdict of ``diagnose`` in the title. Needs matplotlib (``glassnet[plots]``);
it draws on its own figure, never on pyplot's global one, and writes the file atomically.
"""
import os

from .diagnosis import diagnose, metric_name
from .errors import ConfigurationError
from .extras import require
from .io.atomic import atomic_path

TRAIN_COLOR, VAL_COLOR, MARK_COLOR = "#1f77b4", "#d62728", "#2ca02c"


def plot_history(history, path, title=None, dpi=100, file_format=None, metric_units=None, validation_rows=None):
    """Write the training curves of ``history`` (a ``History`` or its ``.history`` dict) to
    ``path`` (PNG, SVG, PDF, ...: ``file_format``, by default the extension); returns the
    ``Diagnosis``, or None when the run has no validation curve (then only the training curves are
    drawn). ``metric_units`` names what the metric's values are in (``glassnet train``: the target,
    for ``mae``); its axis says so. ``validation_rows`` goes to ``diagnose``."""
    figure_module = require("matplotlib.figure", extra="plots", purpose="plot_history")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs.get("loss"):
        raise ConfigurationError(f"plot_history needs a History with a 'loss' curve, got {type(history).__name__}")
    path = os.fspath(path)
    file_format = file_format or os.path.splitext(path)[1][1:].lower()
    figure = figure_module.Figure(figsize=(10 if metric_name(logs) else 6, 4), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    if file_format not in canvas.get_supported_filetypes():
        raise ConfigurationError(f"plot_history writes {', '.join(sorted(canvas.get_supported_filetypes()))} "
                                 f"files (from the extension of the path), got {path!r}")
    epochs = [e + 1 for e in (getattr(history, "epoch", None) or range(len(logs["loss"])))]
    diagnosis = diagnose(history, validation_rows=validation_rows) if "val_loss" in logs and len(logs["loss"]) >= 2 else None
    metric = metric_name(logs)
    keys = ["loss"] + ([metric] if metric else [])
    for i, key in enumerate(keys):
        axes = figure.add_subplot(1, len(keys), i + 1)
        _draw(axes, epochs, logs, key, diagnosis, metric_units if i else None)
    figure.suptitle(title or _title(diagnosis), fontsize=10)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=file_format)
    return diagnosis


def _draw(axes, epochs, logs, key, diagnosis, units=None):
    axes.plot(epochs, logs[key], color=TRAIN_COLOR, label=f"training {key}")
    if "val_" + key in logs:
        axes.plot(epochs, logs["val_" + key], color=VAL_COLOR, label=f"validation {key}")
    if diagnosis is not None:
        best = diagnosis.best_epoch + 1
        axes.axvline(best, color=MARK_COLOR, linestyle="--", linewidth=1, label=f"best epoch ({best})")
        if diagnosis.since_epoch is not None:
            axes.axvspan(diagnosis.since_epoch + 1, epochs[-1], color=VAL_COLOR, alpha=0.08,
                         label="overfitting")
    axes.set_xlabel("epoch")
    axes.set_ylabel(key if units is None else f"{key} (in units of {units})")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)


def _title(diagnosis):
    if diagnosis is None:
        return "training curves (no validation data)"
    since = f" from epoch {diagnosis.since_epoch + 1}" if diagnosis.since_epoch is not None else ""
    return (f"{diagnosis.verdict}{since}: best epoch {diagnosis.best_epoch + 1}, "
            f"gap val_loss - loss {diagnosis.loss_gap:.3g} at the end")
