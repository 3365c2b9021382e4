"""Pictures of training: ``plot_history(history, path)`` draws the loss (and the first metric) per
epoch, for training and validation, marks the best epoch and shades the epochs where the run
overfits, with the verdict of ``diagnose`` in the title. ``plot_decision_boundary(model, x, y,
path)`` draws what a classifier of 2-D data decides at every point of the plane, its boundary and
the examples. Needs matplotlib (``glassnet[plots]``); they draw on their own figure, never on
pyplot's global one, and write the file atomically.
"""
import os

import numpy as np

from .diagnosis import diagnose, metric_name
from .errors import ConfigurationError, ShapeError
from .extras import require
from .io.atomic import atomic_path

TRAIN_COLOR, VAL_COLOR, MARK_COLOR = "#1f77b4", "#d62728", "#2ca02c"
CLASS_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf")


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


def plot_decision_boundary(model, x, y=None, path=None, *, axes=None, title=None, resolution=200, margin=0.1,
                           dpi=100, file_format=None):
    """Draw the decisions of ``model``, a classifier of 2-D inputs, over the plane around ``x``
    (an ``(n, 2)`` array; ``margin`` adds that share of each range on both sides): each point of a
    ``resolution x resolution`` grid is coloured by the class the model predicts there, lightly,
    the boundaries between classes are lines, and the examples ``x`` are dots coloured by their
    class ``y`` (labels, or one-hot rows; left out: plain dots). A model with one output (a
    sigmoid) predicts class 1 where its output is above 0.5, and the shading follows that
    probability; with several outputs the class is the arg-max.

    Writes ``path`` (PNG, SVG, PDF, ...: ``file_format``, by default the extension), or draws
    into ``axes`` (a matplotlib Axes, for a figure of several panels; then ``path`` may be left
    out). Returns the grid's predicted classes, an array of shape ``(resolution, resolution)``
    (row ``i`` is the i-th value of the second input, column ``j`` of the first)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ShapeError(f"plot_decision_boundary draws 2-D data: x must have shape (n, 2), got {x.shape}")
    if len(x) == 0:
        raise ShapeError("plot_decision_boundary needs at least one example to set the plane's range")
    if path is None and axes is None:
        raise ConfigurationError("plot_decision_boundary needs a path to write or axes to draw into")
    resolution = int(resolution)
    if resolution < 2:
        raise ConfigurationError(f"resolution must be at least 2, got {resolution}")
    labels = None if y is None else _class_labels(y, len(x))
    low, high = x.min(axis=0), x.max(axis=0)
    pad = np.maximum(high - low, 1e-6) * margin
    u = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    v = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    grid_u, grid_v = np.meshgrid(u, v)
    outputs = np.asarray(model.predict(np.stack([grid_u.ravel(), grid_v.ravel()], axis=1), verbose=0))
    outputs = outputs.reshape(len(outputs), -1)
    if outputs.shape[1] == 1:
        probability = outputs[:, 0].reshape(grid_u.shape)
        classes = (probability > 0.5).astype(int)
    else:
        probability = None
        classes = outputs.argmax(axis=1).reshape(grid_u.shape)
    n_classes = max(int(classes.max()) + 1, 2 if probability is not None else outputs.shape[1],
                    0 if labels is None else int(labels.max()) + 1)
    figure = canvas = None
    if axes is None:
        figure_module = require("matplotlib.figure", extra="plots", purpose="plot_decision_boundary")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        path = os.fspath(path)
        file_format = file_format or os.path.splitext(path)[1][1:].lower()
        figure = figure_module.Figure(figsize=(5, 4.2), dpi=dpi)
        canvas = FigureCanvasAgg(figure)
        if file_format not in canvas.get_supported_filetypes():
            raise ConfigurationError(f"plot_decision_boundary writes {', '.join(sorted(canvas.get_supported_filetypes()))} "
                                     f"files (from the extension of the path), got {path!r}")
        axes = figure.add_subplot(1, 1, 1)
    colors = require("matplotlib.colors", extra="plots", purpose="plot_decision_boundary")
    palette = [CLASS_COLORS[k % len(CLASS_COLORS)] for k in range(n_classes)]
    if probability is not None:  # the probability of class 1, from the colour of class 0 to that of class 1
        shading = colors.LinearSegmentedColormap.from_list("p", [palette[0], "#ffffff", palette[1]])
        axes.contourf(grid_u, grid_v, probability, levels=np.linspace(0, 1, 11), cmap=shading, alpha=0.35)
        axes.contour(grid_u, grid_v, probability, levels=[0.5], colors="black", linewidths=1.2)
    else:
        axes.contourf(grid_u, grid_v, classes, levels=np.arange(n_classes + 1) - 0.5,
                      colors=palette, alpha=0.25)
        axes.contour(grid_u, grid_v, classes, levels=np.arange(n_classes) + 0.5, colors="black", linewidths=1.2)
    if labels is None:
        axes.scatter(x[:, 0], x[:, 1], s=10, color="black")
    else:
        for k in range(n_classes):
            chosen = labels == k
            if chosen.any():
                axes.scatter(x[chosen, 0], x[chosen, 1], s=10, color=palette[k], edgecolors="white",
                             linewidths=0.3, label=f"class {k}")
        axes.legend(fontsize=7, loc="best")
    axes.set_xlim(u[0], u[-1])
    axes.set_ylim(v[0], v[-1])
    axes.set_xlabel("x1")
    axes.set_ylabel("x2")
    if title:
        axes.set_title(title, fontsize=10)
    if figure is not None:
        figure.tight_layout()
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=file_format)
    return classes


def _class_labels(y, n):
    """Class labels from labels or one-hot rows."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(-1)
    if len(y) != n:
        raise ShapeError(f"plot_decision_boundary: x has {n} examples but y has {len(y)}")
    if not np.all(np.isfinite(y.astype(np.float64))) or np.any(y < 0) or np.any(y != np.round(y)):
        raise ConfigurationError("plot_decision_boundary: y must hold class labels 0, 1, 2, ... (or one-hot rows)")
    return y.astype(int)
