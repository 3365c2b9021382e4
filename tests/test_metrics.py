"""glassnet/metrics.py: each metric's sums on arrays made by hand, the epoch value computed from
the sums of its batches (against scikit-learn on whole-epoch data, with short last batches, in
training, resumed from a mid-epoch backup and on two MPI processes), and how ``metrics.get``
resolves names, functions and objects."""
import numpy as np
import pytest

import glassnet as gn
from glassnet import layers, losses, metrics, ops

from .test_callbacks_checkpoint import Interrupt, StopAt


def test_sparse_categorical_accuracy_counts_rows_whose_largest_output_is_the_label():
    y_pred = np.array([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.3, 0.3, 0.4]])
    y_true = np.array([1, 2, 2, 0])
    assert metrics.SparseCategoricalAccuracy("accuracy").sums(y_true, y_pred) == (2.0, 4)


def test_categorical_accuracy_compares_with_the_largest_target():
    y_pred = np.array([[0.1, 0.9], [0.6, 0.4], [0.3, 0.7]])
    y_true = np.array([[0.0, 1.0], [0.0, 1.0], [0.1, 0.9]])  # soft targets: the largest counts
    assert metrics.CategoricalAccuracy("accuracy").sums(y_true, y_pred) == (2.0, 3)


def test_binary_accuracy_counts_every_output_against_the_threshold():
    y_pred = np.array([[0.9, 0.2], [0.4, 0.6], [0.5, 0.51]])
    y_true = np.array([[1, 0], [1, 1], [0, 1]])
    # right: 0.9->1, 0.2->0, 0.6->1, 0.5->0 (not above 0.5), 0.51->1; wrong: 0.4->1
    assert metrics.BinaryAccuracy("accuracy").sums(y_true, y_pred) == (5.0, 6)


def test_binary_accuracy_on_logits_uses_threshold_zero():
    logits = np.array([[2.0], [-0.5], [0.1], [-3.0]])
    y_true = np.array([[1], [1], [0], [0]])
    metric = metrics.get("accuracy", losses.BinaryCrossentropy(from_logits=True), on_logits=True)
    assert isinstance(metric, metrics.BinaryAccuracy) and metric.threshold == 0.0
    assert metric.sums(y_true, logits) == (2.0, 4)
    probabilities = ops.sigmoid(logits)
    assert metrics.get("accuracy", losses.BinaryCrossentropy()).sums(y_true, probabilities) == (2.0, 4)


def test_loss_metric_sums_the_per_example_losses():
    y_pred = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, -1.0]])
    y_true = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    total, count = metrics.LossMetric("mse", losses.MeanSquaredError()).sums(y_true, y_pred)
    assert count == 3 and total == pytest.approx((4 / 2) + (2 / 2) + (10 / 2))
    total, count = metrics.LossMetric("mae", losses.MeanAbsoluteError()).sums(y_true, y_pred)
    assert count == 3 and total == pytest.approx((2 / 2) + (2 / 2) + (4 / 2))


def test_on_activation_runs_the_metric_on_the_activated_outputs():
    logits = np.array([[0.0, 2.0], [1.0, -1.0]])
    y_true = np.array([[0.0, 1.0], [1.0, 0.0]])
    metric = metrics.OnActivation(metrics.LossMetric("mse", losses.MeanSquaredError()), layers.Softmax())
    before = logits.copy()
    total, count = metric.sums(y_true, logits)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert metric.name == "mse" and count == 2
    assert total == pytest.approx(((p - y_true) ** 2).mean(axis=1).sum())
    np.testing.assert_array_equal(logits, before)


def test_mean_epoch_value_is_sum_of_totals_over_sum_of_counts_with_a_short_last_batch():
    rng = np.random.default_rng(0)
    y_pred, y_true = rng.random((10, 3)), rng.integers(0, 3, 10)
    metric = metrics.SparseCategoricalAccuracy("accuracy")
    batches = [slice(0, 4), slice(4, 8), slice(8, 10)]  # the last batch has 2 rows
    epoch = metric.result(sum(np.array(metric.sums(y_true[b], y_pred[b]), dtype=float) for b in batches))
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
    ("f2", losses.MeanSquaredError(), "unknown metric 'f2'; expected one of: .*accuracy"),
    ("f1", losses.MeanSquaredError(), "counts classes and needs a classification loss.*MeanSquaredError"),
    ("r2", losses.SparseCategoricalCrossentropy(), "take different targets"),
    ("accuracy", losses.MeanSquaredError(), "needs a classification loss.*got MeanSquaredError"),
    (3, losses.MeanSquaredError(), "a metric must be a name, a Metric or a function f.y_true, y_pred., got int 3"),
])
def test_get_refuses_unknown_names_with_a_configuration_error(name, loss, message):
    with pytest.raises(gn.ConfigurationError, match=message):
        metrics.get(name, loss)


# -- the metrics of a whole epoch, against scikit-learn --------------------------------------------

sk = pytest.importorskip("sklearn.metrics")


def _classification_model(classes, loss, seed=0):
    """A small trained model whose predictions are neither perfect nor random."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, 203)
    x = (rng.standard_normal((203, 5)) + np.eye(5)[y % 5] * 0.8).astype(np.float64)
    out = 1 if loss == "binary_crossentropy" else classes
    model = gn.Sequential([layers.Input((5,)), layers.Dense(8, activation="relu"),
                           layers.Dense(out, activation="sigmoid" if out == 1 else "softmax")],
                          seed=seed, dtype="float64")
    targets = np.eye(classes)[y] if loss == "categorical_crossentropy" else y
    model.compile(gn.optimizers.Adam(0.05), loss, metrics=["precision", "recall", "f1", "auc", "accuracy"])
    model.fit(x, targets, epochs=5, batch_size=32, verbose=0)
    return model, x, y, targets


def _auc_tolerance(metric, labels, scores):
    """Half the fraction of (positive, negative) pairs between the same two thresholds: the most the
    grid's AUC can differ from the exact one (``metrics.AUC``), per class, the largest."""
    bound = 0.0
    for positive, score in zip(labels.T, scores.T):
        interval = np.searchsorted(metric.thresholds, score)
        same = sum(np.count_nonzero(interval[positive] == i) * np.count_nonzero(interval[~positive] == i)
                   for i in np.unique(interval))
        bound = max(bound, 0.5 * same / (positive.sum() * (~positive).sum()))
    return bound + 1e-12


def test_binary_precision_recall_f1_and_auc_are_scikit_learns_over_the_epoch():
    model, x, y, targets = _classification_model(2, "binary_crossentropy")
    p = model.predict(x)[:, 0]
    _, precision, recall, f1, auc, accuracy = model.evaluate(x, targets, batch_size=19, verbose=0)  # last: 13 rows
    predicted = p > 0.5
    assert precision == sk.precision_score(y, predicted)
    assert recall == sk.recall_score(y, predicted)
    assert f1 == pytest.approx(sk.f1_score(y, predicted), abs=1e-15)
    assert accuracy == sk.accuracy_score(y, predicted)
    tolerance = _auc_tolerance(model.metrics[3].metric, (y == 1)[:, None], p[:, None])
    assert abs(auc - sk.roc_auc_score(y, p)) <= tolerance and tolerance < 0.01
    print(f"binary AUC {auc:.6f} vs scikit-learn {sk.roc_auc_score(y, p):.6f} (bound {tolerance:.2g})")


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_multiclass_metrics_are_macro_averages_and_one_vs_rest_auc(loss):
    model, x, y, targets = _classification_model(4, loss)
    p = model.predict(x)
    _, precision, recall, f1, auc, accuracy = model.evaluate(x, targets, batch_size=19, verbose=0)
    predicted = p.argmax(axis=1)
    assert precision == pytest.approx(sk.precision_score(y, predicted, average="macro", zero_division=0), abs=1e-15)
    assert recall == pytest.approx(sk.recall_score(y, predicted, average="macro"), abs=1e-15)
    assert f1 == pytest.approx(sk.f1_score(y, predicted, average="macro"), abs=1e-15)
    exact = sk.roc_auc_score(y, p, multi_class="ovr", average="macro")
    tolerance = _auc_tolerance(model.metrics[3].metric, y[:, None] == np.arange(4), p)
    assert abs(auc - exact) <= tolerance and tolerance < 0.01
    print(f"macro one-vs-rest AUC {auc:.6f} vs scikit-learn {exact:.6f} (bound {tolerance:.2g})")


def test_macro_scores_average_over_the_classes_that_occur_as_scikit_learn_does():
    metric = metrics.F1Score("f1", targets=metrics.LABELS)
    y_true, y_pred = np.array([0, 0, 1, 1, 1]), np.eye(4)[[0, 1, 1, 1, 0]]  # classes 2, 3 never occur
    sums = np.array(metric.sums(y_true, y_pred), dtype=float)
    assert metric.result(sums) == pytest.approx(sk.f1_score(y_true, y_pred.argmax(axis=1), average="macro"))
    assert metrics.Precision("p").result(np.zeros(3)) == 0.0  # no predicted positives: 0, as zero_division=0


def test_epoch_scores_are_not_the_mean_of_batch_scores():
    y_true = np.array([1, 0, 0, 0, 1, 1, 1, 0])[:, None]
    y_pred = np.array([0.9, 0.6, 0.2, 0.1, 0.8, 0.3, 0.7, 0.4])[:, None]
    metric = metrics.F1Score("f1")
    sums = sum(np.array(metric.sums(y_true[b], y_pred[b]), dtype=float) for b in (slice(0, 3), slice(3, 8)))
    batch_mean = np.mean([sk.f1_score(y_true[b], y_pred[b] > 0.5) for b in (slice(0, 3), slice(3, 8))])
    assert metric.result(sums) == pytest.approx(sk.f1_score(y_true, y_pred > 0.5)) != pytest.approx(batch_mean)


def test_r2_and_rmse_are_scikit_learns_over_the_epoch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((101, 3))
    y = x @ np.array([[1.0, 0.5], [-2.0, 0.0], [0.5, 3.0]]) + rng.standard_normal((101, 2)) * 0.3 + [5.0, -1.0]
    model = gn.Sequential([layers.Input((3,)), layers.Dense(2)], seed=0, dtype="float64")
    model.compile(gn.optimizers.Adam(0.05), "mse", metrics=["r2", "rmse", "mse"])
    model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    _, r2, rmse, mse = model.evaluate(x, y, batch_size=10, verbose=0)  # last batch: 1 row
    p = model.predict(x)
    assert r2 == pytest.approx(sk.r2_score(y, p), rel=1e-12)
    assert rmse == pytest.approx(np.sqrt(sk.mean_squared_error(y, p)), rel=1e-12)  # all outputs together
    assert rmse == pytest.approx(np.sqrt(mse), rel=1e-12)


def test_r2_of_a_constant_target_follows_scikit_learn():
    metric = metrics.R2Score("r2")
    y = np.full((4, 1), 2.0)
    assert metric.result(np.asarray(metric.sums(y, y))) == sk.r2_score(y, y) == 1.0
    assert metric.result(np.asarray(metric.sums(y, y + 1))) == sk.r2_score(y, y + 1) == 0.0


def test_auc_without_both_classes_is_nan():
    metric = metrics.AUC()
    assert np.isnan(metric.result(np.asarray(metric.sums(np.ones((3, 1)), np.full((3, 1), 0.7)), dtype=float)))


def test_metric_sizes_follow_the_outputs():
    assert metrics.AUC(targets=metrics.LABELS).size((4,)) == 2 * 4 * 201
    assert metrics.AUC().size((3,)) == 2 * 201  # binary: every output a score of the one positive class
    assert metrics.Recall("r", targets=metrics.ONE_HOT).size((5,)) == 15
    assert metrics.R2Score("r2").size((2,)) == 7


# -- what metrics see -----------------------------------------------------------------------------

def test_a_metric_function_receives_probabilities_and_is_averaged_by_rows():
    model, x, y, targets = _classification_model(3, "sparse_categorical_crossentropy")
    seen = []

    def first_probability(y_true, y_pred):
        seen.append(y_pred)
        return y_pred[:, 0].mean()  # one number per batch: weighted by the batch's rows

    def right(y_true, y_pred):  # one number per example
        return (y_pred.argmax(axis=1) == y_true).astype(float)

    model.compile(model.optimizer, "sparse_categorical_crossentropy", metrics=[first_probability, right])
    _, mean, accuracy = model.evaluate(x, y, batch_size=50, verbose=0)  # 203 rows: the last batch has 3
    p = model.predict(x)
    assert all(np.allclose(batch.sum(axis=1), 1) for batch in seen)  # probabilities, not logits
    assert mean == pytest.approx(p[:, 0].mean(), rel=1e-12)
    assert accuracy == pytest.approx(np.mean(p.argmax(axis=1) == y), rel=1e-12)
    assert [m.name for m in model.metrics] == ["first_probability", "right"]


def test_a_custom_precision_sees_what_predict_returns():
    model, x, y, targets = _classification_model(2, "binary_crossentropy", seed=3)

    def my_precision(y_true, y_pred):
        return sk.precision_score(y_true.ravel(), y_pred.ravel() > 0.5, zero_division=0)

    model.compile(model.optimizer, "binary_crossentropy", metrics=[my_precision, "precision"])
    _, custom, exact = model.evaluate(x, y, batch_size=len(x), verbose=0)  # one batch: both exact
    assert custom == pytest.approx(exact) == pytest.approx(sk.precision_score(y, model.predict(x)[:, 0] > 0.5))


def test_two_metrics_of_one_name_are_refused():
    def precision(y_true, y_pred):
        return 0.0

    model = gn.Sequential([layers.Dense(1, activation="sigmoid")])
    with pytest.raises(gn.ConfigurationError, match="two metrics are named 'precision'"):
        model.compile("sgd", "binary_crossentropy", metrics=[precision, "precision"])


def test_a_metric_function_that_returns_no_number_is_refused():
    model, x, y, _ = _classification_model(2, "binary_crossentropy")
    model.compile("sgd", "binary_crossentropy", metrics=[lambda y_true, y_pred: "high"])
    with pytest.raises(gn.ConfigurationError, match="must return a number or one number per example"):
        model.evaluate(x, y, verbose=0)


def test_a_model_with_an_unregistered_metric_function_cannot_be_saved(tmp_path):
    model, x, y, _ = _classification_model(2, "binary_crossentropy")
    model.compile("sgd", "binary_crossentropy", metrics=[sk.precision_score])
    with pytest.raises(gn.ConfigurationError, match="metric 0 \\(precision_score\\): the function precision_score "
                                                    "is not registered; decorate it with @gn.saving.register"):
        model.save(tmp_path / "m.safetensors")


def test_metrics_of_a_from_logits_loss_get_probabilities_where_they_need_them():
    loss = losses.BinaryCrossentropy(from_logits=True)
    auc = metrics.get("auc", loss, on_logits=True)
    assert isinstance(auc, metrics.OnActivation) and isinstance(auc.activation, layers.Sigmoid)
    assert isinstance(metrics.get("f1", losses.SparseCategoricalCrossentropy(from_logits=True), on_logits=True).activation,
                      layers.Softmax)
    assert isinstance(metrics.get(np.mean, loss, on_logits=True), metrics.FunctionMean)  # predict returns logits too


# -- sums that add up: a mid-epoch backup, processes ------------------------------------------------

def test_a_mid_epoch_backup_keeps_the_sums_of_every_metric(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((150, 4))
    y = (x[:, 0] + rng.standard_normal(150) > 0).astype(float)

    def model():
        m = gn.Sequential([layers.Input((4,)), layers.Dense(6, activation="relu"),
                           layers.Dense(1, activation="sigmoid")], seed=0, dtype="float64")
        m.compile(gn.optimizers.Adam(0.02), "binary_crossentropy", metrics=["auc", "f1", "accuracy", "mse"])
        return m

    fit = dict(epochs=3, batch_size=16, verbose=0)
    straight = model().fit(x, y, **fit).history
    with pytest.raises(Interrupt):
        model().fit(x, y, callbacks=[gn.callbacks.BackupAndRestore(tmp_path, save_freq=4), StopAt(1, 6)], **fit)
    resumed = model().fit(x, y, callbacks=[gn.callbacks.BackupAndRestore(tmp_path, save_freq=4)], **fit).history
    assert resumed == straight


def test_a_backup_position_of_the_older_format_is_read_as_mean_sums():
    from glassnet.callbacks.checkpoint import checked_position
    model = gn.Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax")], seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    state = model.rng.bit_generator.state
    old = {"epoch": 0, "batch": 2, "epoch_rng": state,
           "totals": {"loss": 1.5, "examples": 64, "sums": [40.0], "counts": [64]}}
    assert checked_position(old, model)["totals"]["sums"] == [[40.0, 64.0]]
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy", "auc"])
    new = {**old, "totals": {"loss": 1.5, "examples": 64, "sums": [[40.0, 64.0], [1.0] * 3]}}
    with pytest.raises(gn.ModelFileError, match=r"position.totals.sums\[1\] must be a list of 804 items"):
        checked_position(new, model)


MPI_WORKER = '''
import json, sys
import numpy as np
from mpi4py import MPI
import glassnet as gn
rng = np.random.default_rng(0)
y = rng.integers(0, 3, 301)
x = rng.standard_normal((301, 4)) + np.eye(4)[y] * 0.7
model = gn.Sequential([gn.layers.Input((4,)), gn.layers.Dense(3, activation="softmax")], seed=0, dtype="float64")
# a step of 1e-300 leaves float64 weights as they are: every batch sees the same model
model.compile(gn.optimizers.SGD(1e-300), "sparse_categorical_crossentropy", metrics=["auc", "f1", "recall"])
history = model.fit(x, y, epochs=1, batch_size=40, validation_split=0.3, verbose=0)  # last batch: 10 rows
if MPI.COMM_WORLD.rank == 0:
    json.dump({**history.history, "p": model.predict(x).tolist()}, open(sys.argv[1], "w"))
'''


def test_two_processes_sum_the_metrics_to_those_of_all_rows(tmp_path):
    from tests.test_distributed import MPIEXEC
    if MPIEXEC is None:
        pytest.skip("needs mpi4py and mpiexec")
    import json
    import os
    import subprocess
    import sys
    (tmp_path / "worker.py").write_text(MPI_WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMPI_ALLOW_RUN_AS_ROOT": "1",
           "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_rmaps_base_oversubscribe": "1"}
    done = subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(tmp_path / "worker.py"), str(tmp_path / "h.json")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    history = json.loads((tmp_path / "h.json").read_text())
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 301)
    p = np.array(history["p"])  # the model of every batch
    train, val = slice(0, 210), slice(210, 301)
    for rows, prefix in ((train, ""), (val, "val_")):
        predicted = p[rows].argmax(axis=1)
        assert history[prefix + "f1"][0] == pytest.approx(sk.f1_score(y[rows], predicted, average="macro"), abs=1e-15)
        assert history[prefix + "recall"][0] == pytest.approx(sk.recall_score(y[rows], predicted, average="macro"),
                                                              abs=1e-15)
        tolerance = _auc_tolerance(metrics.AUC(), y[rows, None] == np.arange(3), p[rows])
        assert abs(history[prefix + "auc"][0] - sk.roc_auc_score(y[rows], p[rows], multi_class="ovr")) <= tolerance
