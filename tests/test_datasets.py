"""fit and evaluate on a glassnet.datasets.Dataset: batches read one at a time, checked as arrays
are, shuffled by a generator of each epoch's own, resumable mid-epoch."""
import numpy as np
import pytest

import glassnet as gn
from glassnet import layers
from glassnet.datasets import ArrayDataset, Dataset

from .test_callbacks_checkpoint import Interrupt, StopAt, data, model


class Counting(Dataset):
    """An ArrayDataset that records the rows it served in each epoch."""

    def __init__(self, x, y):
        self.x, self.y, self.rows = x, y, len(x)
        self.served = []

    def batches(self, batch_size, rng=None):
        order = np.arange(self.rows) if rng is None else rng.permutation(self.rows)
        self.served.append([])
        for start in range(0, self.rows, batch_size):
            rows = order[start:start + batch_size]
            self.served[-1].extend(rows.tolist())
            yield self.x[rows], self.y[rows]


def test_a_dataset_in_order_trains_exactly_as_the_arrays_do():
    x, y = data()
    on_arrays, on_dataset = model(), model()
    expected = on_arrays.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    history = on_dataset.fit(ArrayDataset(x, y), epochs=3, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(on_arrays.get_weights(), on_dataset.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history.history == expected.history


def test_each_epoch_serves_every_row_once_in_a_new_order_and_the_seed_repeats_it():
    x, y = data()
    runs = []
    for _ in range(2):
        dataset = Counting(x, y)
        m = model()
        m.fit(dataset, epochs=3, batch_size=32, verbose=0)
        runs.append((dataset.served, m.get_weights()))
    served = runs[0][0]
    assert len(served) == 3 + 1  # the first batch is read once more to build the model
    for epoch in served[1:]:
        assert sorted(epoch) == list(range(len(x)))
    assert served[1] != served[2]
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_a_dataset_learns_and_validates_on_arrays_or_on_a_dataset():
    x, y = data(600)
    m = model()
    history = m.fit(ArrayDataset(x[:500], y[:500]), validation_data=ArrayDataset(x[500:], y[500:]),
                    epochs=15, batch_size=32, verbose=0)
    assert history.history["val_accuracy"][-1] > 0.7  # chance: 0.33
    on_arrays = m.evaluate(x[500:], y[500:], return_dict=True, verbose=0)
    assert m.evaluate(ArrayDataset(x[500:], y[500:]), return_dict=True, verbose=0) == pytest.approx(on_arrays)
    assert history.history["val_loss"][-1] == pytest.approx(on_arrays["loss"])


def test_class_weight_and_sample_weight_from_the_batches():
    x, y = data()
    weights = np.where(y == 0, 3.0, 1.0)
    by_class, by_sample = model(), model()
    by_class.fit(ArrayDataset(x, y), class_weight={0: 3.0}, epochs=2, batch_size=16, shuffle=False, verbose=0)
    by_sample.fit(ArrayDataset(x, y, weights), epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(by_class.get_weights(), by_sample.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_a_backup_resumes_a_dataset_run_mid_epoch_exactly(tmp_path):
    x, y = data()
    fit = dict(epochs=4, batch_size=16, verbose=0)
    straight = model()
    straight.fit(ArrayDataset(x, y), **fit)
    interrupted = model()
    with pytest.raises(Interrupt):
        interrupted.fit(ArrayDataset(x, y), callbacks=[gn.callbacks.BackupAndRestore(tmp_path, save_freq=3),
                                                       StopAt(2, 7)], **fit)
    resumed = model()
    resumed.fit(ArrayDataset(x, y), callbacks=[gn.callbacks.BackupAndRestore(tmp_path, save_freq=3)], **fit)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


class Broken(Dataset):
    rows = 10

    def __init__(self, batch):
        self.batch = batch

    def batches(self, batch_size, rng=None):
        yield self.batch


class Empty(Dataset):
    rows = 1

    def batches(self, batch_size, rng=None):
        return iter(())


@pytest.mark.parametrize("arguments, message", [
    (dict(y=np.zeros(3)), "y must be left out"),
    (dict(sample_weight=np.ones(3)), "sample_weight must be left out"),
    (dict(validation_split=0.2), "validation_split cannot cut a Dataset"),
    (dict(batch_size=None), "whole Dataset as one batch"),
    (dict(class_weight="balanced"), "class counts of the whole Dataset"),
])
def test_arguments_a_dataset_cannot_take_are_refused(arguments, message):
    x, y = data()
    with pytest.raises(gn.ConfigurationError, match=message):
        model().fit(ArrayDataset(x, y), **{"epochs": 1, "verbose": 0, **arguments})


@pytest.mark.parametrize("batch, error, message", [
    ([np.zeros((2, 5))], gn.ConfigurationError, r"tuples \(x, y\) or \(x, y, sample_weight\), got list"),
    ((np.full((2, 5), np.nan), np.zeros(2)), gn.DataError, "NaN"),
    ((np.zeros((2, 4)), np.zeros(2)), gn.ShapeError, "5"),
    ((np.zeros((2, 5)), np.array([0, 7])), gn.DataError, "7"),
])
def test_bad_batches_are_refused_as_bad_arrays_are(batch, error, message):
    m = model()
    m.build((5,))
    with pytest.raises(error, match=message):
        m.fit(Broken(batch), epochs=1, verbose=0)


def test_a_dataset_without_a_row_count_or_rows_is_refused():
    m = model()
    empty = Broken((np.zeros((0, 5)), np.zeros(0)))
    empty.rows = None
    with pytest.raises(gn.ConfigurationError, match="Broken.rows"):
        m.fit(empty, epochs=1, verbose=0)
    m.build((5,))
    with pytest.raises(gn.ConfigurationError, match="Empty yielded no rows to evaluate"):
        m.evaluate(Empty())


def test_arrays_without_targets_are_refused():
    x, _ = data()
    with pytest.raises(gn.ConfigurationError, match="targets y are needed"):
        model().fit(x, epochs=1, verbose=0)


def test_a_dataset_yielding_more_or_fewer_rows_than_it_says_still_trains_on_what_it_yields():
    x, y = data(64)
    dataset = ArrayDataset(x, y)
    dataset.rows = 40  # wrong: the progress bar counts 3 steps, the epoch runs 4
    m = gn.Sequential([layers.Dense(3, activation="softmax")], seed=0)
    m.compile("sgd", "sparse_categorical_crossentropy")
    history = m.fit(dataset, epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0])
