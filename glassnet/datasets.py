"""Data that ``fit`` reads one batch at a time, for data sets that do not fit in memory.

    class Squares(gn.datasets.Dataset):
        rows = 1_000_000
        def batches(self, batch_size, rng=None):
            for start in range(0, self.rows, batch_size):
                x = ...                     # (rows in this batch, features), made or read now
                yield x, x.sum(axis=1, keepdims=True) ** 2

    model.fit(Squares(), epochs=5, batch_size=256)

``Sequential.fit`` (and ``evaluate``) take a ``Dataset`` where they take ``x``, with ``y`` left
out: an epoch is then one pass of ``batches``, and only a batch is in memory at a time. Each
batch is checked as arrays are (shapes, finite values, the loss's targets). ``fit`` hands
``batches`` a random generator of its own for each epoch when ``shuffle=True`` (drawn from the
model's, so the same seed gives the same run, and a resumed run replays the epoch), and None
when ``shuffle=False``: then the batches come in order.

``ArrayDataset`` serves arrays this way (it is what ``fit`` does with arrays, batch for batch);
``glassnet.tabular.stream`` reads a Parquet table larger than memory through a shuffle buffer.
"""
import numpy as np

from . import checks


class Dataset:
    """Rows served batch by batch: ``rows`` in one epoch, and ``batches(batch_size, rng)``."""

    rows = None  # how many rows one pass of ``batches`` yields; fit counts its steps from it

    def batches(self, batch_size, rng=None):
        """Yield the batches of one epoch, each ``(x, y)`` or ``(x, y, sample_weight)`` with
        ``batch_size`` rows (the last may have fewer): every row once, shuffled with ``rng``
        (a ``numpy.random.Generator``), or in order when ``rng`` is None."""
        raise NotImplementedError(f"{type(self).__name__} must define batches(batch_size, rng)")


class ArrayDataset(Dataset):
    """Arrays in memory as a ``Dataset``: rows ``rng.permutation(rows)`` of each epoch, cut into
    batches (in order without ``rng``)."""

    def __init__(self, x, y, sample_weight=None):
        x, y = np.asarray(x), np.asarray(y)
        checks.same_length(x, y)
        if sample_weight is not None:
            sample_weight = checks.sample_weights(sample_weight, len(x))
        self.arrays = [a for a in (x, y, sample_weight) if a is not None]
        self.rows = len(x)

    def batches(self, batch_size, rng=None):
        order = None if rng is None else rng.permutation(self.rows)
        for start in range(0, self.rows, batch_size):
            rows = slice(start, start + batch_size) if order is None else order[start:start + batch_size]
            yield tuple(a[rows] for a in self.arrays)
