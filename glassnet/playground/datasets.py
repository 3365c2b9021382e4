"""The playground's data: the classic 2-D sets, regression surfaces and the picture sets.

Everything here is NumPy only, so an exported script can call ``make`` and get the same arrays
as the page, bit for bit. A 2-D set lives in the square [-6, 6] x [-6, 6] (TensorFlow
Playground's); classes are 0 and 1; a regression target lies in [-1, 1].

    data = make("spiral", points=500, noise=0.1, train_fraction=0.5, seed=0)
    data.x_train, data.y_train, data.x_test, data.y_test, data.task, data.classes
"""
import gzip
import os

import numpy as np

from ..errors import ConfigurationError, DataError

CLASSIFICATION = ("circle", "xor", "gaussians", "spiral", "moons")
REGRESSION = ("plane", "bumps")
PICTURES = ("digits", "fashion")
EXTENT = 6.0  # the 2-D sets lie in [-EXTENT, EXTENT]^2
FASHION_DIR = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
FASHION_IMAGES = 3000  # the first of the training file: enough to see learning, quick to train
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


class Data:
    """Training and test arrays (float32 inputs; targets: class numbers int64 (n,), or float32
    (n, 1) for regression), ``task`` ("classification" or "regression"), ``classes`` (names, or None),
    ``kind`` ("points" for 2-D inputs, "pictures" with ``picture_shape``), ``feature_names``
    and ``domain`` ((low, high) of both axes of a 2-D set)."""

    def __init__(self, x_train, y_train, x_test, y_test, task, classes=None, kind="points", picture_shape=None,
                 feature_names=("x1", "x2"), domain=(-EXTENT, EXTENT), target_range=(-1.0, 1.0)):
        self.x_train, self.y_train, self.x_test, self.y_test = x_train, y_train, x_test, y_test
        self.task, self.classes, self.kind, self.picture_shape = task, classes, kind, picture_shape
        self.feature_names, self.domain, self.target_range = tuple(feature_names), domain, target_range

    @property
    def features(self):
        return self.x_train.shape[1]


def available():
    """The names of the data sets this machine can make (Fashion-MNIST only where installed)."""
    names = list(CLASSIFICATION + REGRESSION) + ["digits"]
    if os.path.isdir(FASHION_DIR):
        names.append("fashion")
    return names


def make(name, points=500, noise=0.0, train_fraction=0.5, seed=0):
    """The data set ``name`` (see the module docstring), shuffled with ``seed`` and split."""
    rng = np.random.default_rng(seed)
    if name in CLASSIFICATION or name in REGRESSION:
        x, y = _POINTS[name](int(points), float(noise), rng)
        task = "classification" if name in CLASSIFICATION else "regression"
        y = y.astype(np.int64) if task == "classification" else y.astype(np.float32).reshape(-1, 1)
        return _split(x.astype(np.float32), y, train_fraction, rng, task=task,
                      classes=("0", "1") if task == "classification" else None)
    if name == "digits":
        x, y = _digits()
        return _split(x, y, train_fraction, rng, task="classification", classes=tuple(str(d) for d in range(10)),
                      kind="pictures", picture_shape=(8, 8))
    if name == "fashion":
        x, y = _fashion()
        return _split(x, y, train_fraction, rng, task="classification", classes=FASHION_CLASSES,
                      kind="pictures", picture_shape=(28, 28))
    raise ConfigurationError(f"unknown data set {name!r}; expected one of {', '.join(available())}")


def split(x, y, train_fraction, rng):
    """``(x_train, y_train, x_test, y_test)``: the rows shuffled by ``rng``, the first
    ``train_fraction`` of them (at least one each side) for training."""
    n = len(x)
    order = rng.permutation(n)
    cut = min(max(int(round(n * train_fraction)), 1), n - 1)
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def _split(x, y, train_fraction, rng, **kwargs):
    return Data(*split(x, y, train_fraction, rng), **kwargs)


# -- the 2-D sets: (x (n, 2), y (n,)) ------------------------------------------------------------

def _circle(n, noise, rng):
    radius = 5.0
    r = np.concatenate([rng.uniform(0, radius * 0.5, n // 2), rng.uniform(radius * 0.7, radius, n - n // 2)])
    angle = rng.uniform(0, 2 * np.pi, n)
    x = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
    x += rng.uniform(-radius, radius, (n, 2)) * noise
    y = (np.hypot(x[:, 0], x[:, 1]) < radius * 0.6).astype(np.float64)
    return x, y


def _xor(n, noise, rng):
    x = rng.uniform(-5, 5, (n, 2))
    x += np.where(x > 0, 0.3, -0.3)  # a gap along the axes
    y = (x[:, 0] * x[:, 1] >= 0).astype(np.float64)
    x += rng.uniform(-5, 5, (n, 2)) * noise
    return x, y


def _gaussians(n, noise, rng):
    spread = 0.5 + noise * 7  # noise 0..0.5 -> standard deviation 0.5..4
    half = n // 2
    x = np.concatenate([rng.normal(2, spread, (half, 2)), rng.normal(-2, spread, (n - half, 2))])
    y = np.concatenate([np.ones(half), np.zeros(n - half)])
    return x, y


def _spiral(n, noise, rng):
    half = n // 2
    parts, labels = [], []
    for label, delta, count in ((1, 0.0, half), (0, np.pi, n - half)):
        t = np.arange(count) / count
        r = 5 * t
        angle = 1.75 * t * 2 * np.pi + delta
        points = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
        parts.append(points + rng.uniform(-1, 1, (count, 2)) * noise * 2)
        labels.append(np.full(count, float(label)))
    return np.concatenate(parts), np.concatenate(labels)


def _moons(n, noise, rng):
    half = n // 2
    t1, t2 = rng.uniform(0, np.pi, half), rng.uniform(0, np.pi, n - half)
    upper = np.stack([np.cos(t1), np.sin(t1)], axis=1)
    lower = np.stack([1 - np.cos(t2), 0.5 - np.sin(t2)], axis=1)
    x = (np.concatenate([upper, lower]) - [0.5, 0.25]) * 3.5
    x += rng.normal(0, 1, (n, 2)) * noise * 2
    return x, np.concatenate([np.zeros(half), np.ones(n - half)])


def _plane(n, noise, rng):
    x = rng.uniform(-EXTENT, EXTENT, (n, 2))
    y = (x[:, 0] + x[:, 1]) / (2 * EXTENT) + rng.normal(0, 1, n) * noise
    return x, np.clip(y, -1, 1)


def _bumps(n, noise, rng):
    x = rng.uniform(-EXTENT, EXTENT, (n, 2))
    centres = [(-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1)]
    y = np.zeros(n)
    for cx, cy, sign in centres:
        y += sign * np.exp(-((x[:, 0] - cx) ** 2 + (x[:, 1] - cy) ** 2) / 2)
    y += rng.normal(0, 1, n) * noise
    return x, np.clip(y, -1, 1)


_POINTS = {"circle": _circle, "xor": _xor, "gaussians": _gaussians, "spiral": _spiral, "moons": _moons,
           "plane": _plane, "bumps": _bumps}


# -- the picture sets: (x (n, pixels) float32 in [0, 1], y (n,) int64) ----------------------------

def _digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ConfigurationError("the digits need scikit-learn: pip install \"glassnet[playground]\"") from None
    digits = load_digits()
    return (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)


def _fashion():
    images = os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz")
    labels = os.path.join(FASHION_DIR, "train-labels-idx1-ubyte.gz")
    if not (os.path.isfile(images) and os.path.isfile(labels)):
        raise DataError(f"Fashion-MNIST is not installed in {FASHION_DIR} (apt-get install dataset-fashion-mnist)")
    x = _idx(images, 16, FASHION_IMAGES * 784).reshape(-1, 784)
    y = _idx(labels, 8, FASHION_IMAGES)
    return (x / np.float32(255)).astype(np.float32), y.astype(np.int64)


def _idx(path, header, count):
    """The first ``count`` bytes after the header of an IDX file (Fashion-MNIST's format)."""
    with gzip.open(path, "rb") as f:
        f.read(header)
        return np.frombuffer(f.read(count), dtype=np.uint8)
