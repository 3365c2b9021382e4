"""glassnet/metrics.py: each metric's ``(total, count)`` on arrays made by hand, the epoch value as
the sum of the totals over the sum of the counts, and how ``metrics.get`` resolves names."""
import numpy as np
import pytest

import glassnet as gn
from glassnet import layers, losses, metrics, ops


def test_sparse_categorical_accuracy_counts_rows_whose_largest_output_is_the_label():
    y_pred = np.array([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.3, 0.3, 0.4]])
    y_true = np.array([1, 2, 2, 0])
    assert metrics.SparseCategoricalAccuracy("accuracy").totals(y_true, y_pred) == (2.0, 4)


def test_categorical_accuracy_compares_with_the_largest_target():
    y_pred = np.array([[0.1, 0.9], [0.6, 0.4], [0.3, 0.7]])
    y_true = np.array([[0.0, 1.0], [0.0, 1.0], [0.1, 0.9]])  # soft targets: the largest counts
    assert metrics.CategoricalAccuracy("accuracy").totals(y_true, y_pred) == (2.0, 3)


def test_binary_accuracy_counts_every_output_against_the_threshold():
    y_pred = np.array([[0.9, 0.2], [0.4, 0.6], [0.5, 0.51]])
    y_true = np.array([[1, 0], [1, 1], [0, 1]])
    # right: 0.9->1, 0.2->0, 0.6->1, 0.5->0 (not above 0.5), 0.51->1; wrong: 0.4->1
    assert metrics.BinaryAccuracy("accuracy").totals(y_true, y_pred) == (5.0, 6)


def test_binary_accuracy_on_logits_uses_threshold_zero():
    logits = np.array([[2.0], [-0.5], [0.1], [-3.0]])
    y_true = np.array([[1], [1], [0], [0]])
    metric = metrics.get("accuracy", losses.BinaryCrossentropy(from_logits=True), on_logits=True)
    assert isinstance(metric, metrics.BinaryAccuracy) and metric.threshold == 0.0
    assert metric.totals(y_true, logits) == (2.0, 4)
    probabilities = ops.sigmoid(logits)
    assert metrics.get("accuracy", losses.BinaryCrossentropy()).totals(y_true, probabilities) == (2.0, 4)


def test_loss_metric_sums_the_per_example_losses():
    y_pred = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, -1.0]])
    y_true = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    total, count = metrics.LossMetric("mse", losses.MeanSquaredError()).totals(y_true, y_pred)
    assert count == 3 and total == pytest.approx((4 / 2) + (2 / 2) + (10 / 2))
    total, count = metrics.LossMetric("mae", losses.MeanAbsoluteError()).totals(y_true, y_pred)
    assert count == 3 and total == pytest.approx((2 / 2) + (2 / 2) + (4 / 2))


def test_on_activation_runs_the_metric_on_the_activated_outputs():
    logits = np.array([[0.0, 2.0], [1.0, -1.0]])
    y_true = np.array([[0.0, 1.0], [1.0, 0.0]])
    metric = metrics.OnActivation(metrics.LossMetric("mse", losses.MeanSquaredError()), layers.Softmax())
    before = logits.copy()
    total, count = metric.totals(y_true, logits)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert metric.name == "mse" and count == 2
    assert total == pytest.approx(((p - y_true) ** 2).mean(axis=1).sum())
    np.testing.assert_array_equal(logits, before)


def test_epoch_value_is_sum_of_totals_over_sum_of_counts_with_a_short_last_batch():
    rng = np.random.default_rng(0)
    y_pred, y_true = rng.random((10, 3)), rng.integers(0, 3, 10)
    metric = metrics.SparseCategoricalAccuracy("accuracy")
    batches = [slice(0, 4), slice(4, 8), slice(8, 10)]  # the last batch has 2 rows
    totals = [metric.totals(y_true[b], y_pred[b]) for b in batches]
    epoch = sum(t for t, _ in totals) / sum(c for _, c in totals)
    assert epoch == np.mean(y_pred.argmax(axis=1) == y_true)


def test_evaluate_weighs_a_short_last_batch_by_its_rows():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((10, 4)).astype(np.float32), rng.integers(0, 3, 10)
    model = gn.Sequential([layers.Dense(3, activation="softmax")], seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    accuracy = model.evaluate(x, y, batch_size=4, verbose=0)[1]
    assert accuracy == pytest.approx(np.mean(model.predict(x).argmax(axis=1) == y))


@pytest.mark.parametrize("loss, expected", [
    (losses.SparseCategoricalCrossentropy(), metrics.SparseCategoricalAccuracy),
    (losses.CategoricalCrossentropy(), metrics.CategoricalAccuracy),
    (losses.BinaryCrossentropy(), metrics.BinaryAccuracy),
])
@pytest.mark.parametrize("name", ["accuracy", "acc", "Accuracy"])
def test_get_resolves_accuracy_from_the_loss(loss, expected, name):
    metric = metrics.get(name, loss)
    assert type(metric) is expected and metric.name == name


@pytest.mark.parametrize("name, loss_class", [("mse", losses.MeanSquaredError),
                                              ("mean_absolute_error", losses.MeanAbsoluteError)])
def test_get_makes_loss_metrics_and_wraps_them_for_logits(name, loss_class):
    metric = metrics.get(name, losses.MeanSquaredError())
    assert isinstance(metric, metrics.LossMetric) and type(metric.loss) is loss_class
    softmax = layers.Softmax()
    wrapped = metrics.get(name, losses.CategoricalCrossentropy(), output_activation=softmax, on_logits=True)
    assert isinstance(wrapped, metrics.OnActivation) and wrapped.activation is softmax
    assert type(wrapped.metric.loss) is loss_class


def test_get_returns_a_metric_instance_as_it_is():
    metric = metrics.BinaryAccuracy("custom", threshold=0.3)
    assert metrics.get(metric, losses.MeanSquaredError()) is metric


@pytest.mark.parametrize("name, loss, message", [
    ("f1", losses.MeanSquaredError(), "unknown metric 'f1'; expected one of: .*accuracy"),
    ("accuracy", losses.MeanSquaredError(), "needs a classification loss.*got MeanSquaredError"),
    (3, losses.MeanSquaredError(), "a metric must be a name or a Metric, got int 3"),
])
def test_get_refuses_unknown_names_with_a_configuration_error(name, loss, message):
    with pytest.raises(gn.ConfigurationError, match=message):
        metrics.get(name, loss)
