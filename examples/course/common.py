"""Shared by the course experiments: the data, a recorder of the loss after every step, the
figure, and the command-line arguments (``--quick`` for the small runs the tests make)."""
import argparse
import functools
import os
import pathlib
import sys

import numpy as np

import glassnet as gn
from glassnet.extras import require
from glassnet.io.atomic import atomic_path, write_text

FIGURES = pathlib.Path(__file__).resolve().parents[2] / "docs" / "course"


def arguments(description, figure, trace=None):
    """``--quick``, ``--seed`` and ``--figure`` (default: the picture in docs/course/); with
    ``trace``, ``--trace`` too (default: that Markdown file in docs/course/)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a small, fast run (what the tests run)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, shuffling and split")
    parser.add_argument("--figure", default=str(FIGURES / figure), help="where to write the figure")
    if trace:
        parser.add_argument("--trace", default=str(FIGURES / trace), help="where to write the Markdown trace")
    return parser.parse_args()


def write_trace(path, text):
    """Write a ``gn.explain`` trace (Markdown), atomically."""
    write_text(path, text)
    print(f"wrote {path}")


def digits(seed=0):
    """scikit-learn's 1,797 handwritten digits (8x8 pixels, values 0-16 scaled to [0, 1]), shuffled."""
    datasets = require("sklearn.datasets", extra="examples", purpose="the course's data sets")
    x, y = datasets.load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(x))
    return (x[order] / 16).astype(np.float32), y[order]


@functools.lru_cache(maxsize=2)
def fashion_mnist(data_dir=None):
    """Fashion-MNIST ``((x, y), (x_test, y_test))``, pictures as rows of 784 numbers in [0, 1], from
    ``data_dir``, ``$FASHION_MNIST_DIR`` or /usr/share/datasets/fashion-mnist; read once per process
    (the tests run three scripts that use it)."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from fashion_mnist import DEFAULT_DIR, load_fashion_mnist
    return load_fashion_mnist(data_dir or os.environ.get("FASHION_MNIST_DIR", DEFAULT_DIR))


def classifier(hidden, seed, optimizer, dropout=0.0, **dense):
    """ReLU layers of the sizes in ``hidden`` (each followed by Dropout when asked), a softmax
    over 10 classes, the cross-entropy and accuracy."""
    layers = []
    for units in hidden:
        layers.append(gn.layers.Dense(units, activation="relu", **dense))
        if dropout:
            layers.append(gn.layers.Dropout(dropout))
    model = gn.Sequential(layers + [gn.layers.Dense(10, activation="softmax")], seed=seed)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data_loss(model, x, y):
    """The cross-entropy of ``model``'s predictions alone: no dropout (predict), no L1/L2 penalty
    (which ``evaluate``'s loss includes)."""
    return float(gn.losses.SparseCategoricalCrossentropy()(y, model.predict(x, verbose=0)))


def gap(model, train, val):
    """``loss`` and ``val_loss`` (the data loss of the training and validation pictures), the
    ``gap`` between them and the validation accuracy ``val_accuracy``: comparable between runs
    with and without dropout or a penalty."""
    loss, val_loss = data_loss(model, *train), data_loss(model, *val)
    accuracy = float(np.mean(model.predict(val[0], verbose=0).argmax(1) == val[1]))
    return {"loss": loss, "val_loss": val_loss, "gap": val_loss - loss, "val_accuracy": accuracy}


class StepLoss(gn.callbacks.Callback):
    """Records the loss on the whole training set after every ``every`` optimizer steps
    (``model.evaluate`` between steps of ``fit``, the one training loop)."""

    def __init__(self, x, y, every=1):
        super().__init__()
        self.x, self.y, self.every = x, y, every
        self.steps, self.at, self.losses = 0, [], []

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps % self.every == 0:
            self.at.append(self.steps)
            self.losses.append(self.model.evaluate(self.x, self.y, verbose=0, return_dict=True)["loss"])


def figure(columns=1, width=4.6, height=3.2):
    """A matplotlib figure that is not pyplot's (no global state, no window)."""
    figure_module = require("matplotlib.figure", extra="plots", purpose="the course's figures")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    fig = figure_module.Figure(figsize=(width * columns, height), dpi=80)
    FigureCanvasAgg(fig)
    return fig


def save(fig, path):
    """Write ``fig`` as a PNG, atomically; returns ``overlapping_texts(fig)`` (and says so when
    some labels overlap)."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    print(f"wrote {path}")
    overlaps = overlapping_texts(fig)
    for a, b in overlaps:
        print(f"warning: in {path}, the labels {a!r} and {b!r} overlap")
    return overlaps


def overlapping_texts(fig):
    """The pairs of texts drawn on ``fig`` (titles, axis labels, the tick labels shown, legends'
    texts, annotations) whose boxes overlap."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = list(fig.texts)
    for axes in fig.axes:
        texts += [axes.title, axes.xaxis.label, axes.yaxis.label, *axes.texts]
        for axis in (axes.xaxis, axes.yaxis):
            low, high = sorted(axis.get_view_interval())
            slack = 1e-9 * (high - low)
            texts += [label for tick in axis.get_major_ticks() if low - slack <= tick.get_loc() <= high + slack
                      for label in (tick.label1, tick.label2)]
        if axes.get_legend() is not None:
            texts += axes.get_legend().get_texts()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts if t.get_visible() and t.get_text().strip()]
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:] if box_a.overlaps(box_b)]
