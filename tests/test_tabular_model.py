"""The table application from Python, without the command line: ``TableModel.fit`` on a
DataFrame, its predictions and scores, the same model as ``glassnet train`` makes from the same
rows; and the network helpers the command line and the scikit-learn estimators share."""
import numpy as np
import pandas as pd
import pytest

import glassnet as gn
from glassnet.cli import main
from glassnet.tabular import files, networks
from glassnet.tabular.model import TableModel

from .test_cli import customers

SMALL = {"layers": (16,), "epochs": 30}


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    """The rows as ``glassnet train`` reads them from the CSV file (so both see the same numbers)."""
    path = tmp_path_factory.mktemp("table") / "customers.csv"
    customers().to_csv(path, index=False)
    return files.read_table(path)


def test_classification_with_text_labels_and_missing_values(frame):
    lines = []
    table, training = TableModel.fit(frame, "churned", drop=["id", "value"], log=lines.append, **SMALL)
    assert table.target.classes == ["no", "yes"] and table.dropped == ["id", "value"]
    assert (training.rows, training.train_rows, training.validation_rows) == (240, 192, 48)
    assert training.scored_on == "validation" and set(training.scores) == {"accuracy", "f1", "auc"}
    assert training.refit == {"rows": 240, "epochs": training.best_epoch or training.epochs_run}
    assert lines[0].startswith("preprocessed in") and "missing values imputed (training rows): age" in lines[1]
    assert lines[-1].startswith("refitting on all 240 rows")

    new = customers(20, seed=1).drop(columns=["churned", "value"])
    new.loc[0, "plan"] = "enterprise"
    probabilities, report = table.predict(new)
    assert probabilities.shape == (20, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-6)
    assert report.unseen == {"plan": {"enterprise": 1}}
    assert set(table.prediction_frame(probabilities)["churned"]) <= {"no", "yes"}
    assert table.model.metadata["training"]["options"]["learning_rate"] == 3e-4


def test_regression_predicts_in_the_targets_units(frame):
    table, training = TableModel.fit(frame, "value", drop=["id"], layers=(16,), epochs=80, learning_rate=3e-3)
    assert table.target.task == "regression" and set(training.scores) == {"rmse", "mae", "r2"}
    values, _ = table.predict(frame)
    assert values.shape == (240,)
    truth = table.target.encode(frame["value"])
    assert table.scores(truth, values)["r2"] > 0.8  # the target's scale is folded into the last layer


def test_without_validation_rows_it_scores_the_training_rows_and_does_not_refit(frame):
    table, training = TableModel.fit(frame, "churned", drop=["id"], validation_split=0, **SMALL)
    assert (training.scored_on, training.refit, training.best_epoch) == ("training", None, None)
    assert training.epochs_run == 30 and training.validation_rows == 0


@pytest.mark.parametrize("target, drop", [("churned", "id,value"), ("value", "id")])
def test_the_same_model_as_glassnet_train(frame, tmp_path, target, drop):
    path = tmp_path / "cli.safetensors"
    csv = tmp_path / "customers.csv"
    frame.to_csv(csv, index=False)
    assert main(["train", str(csv), "--target", target, "--drop", drop, "--layers", "16", "--epochs", "30",
                 "-q", "--out", str(path)]) == 0
    table, training = TableModel.fit(frame, target, drop=drop.split(","), **SMALL)
    from_cli = TableModel.load(path)
    for ours, theirs in zip(table.model.parameters(), from_cli.model.parameters()):
        np.testing.assert_array_equal(ours.value, theirs.value)
    np.testing.assert_array_equal(table.predict(frame)[0], from_cli.predict(frame)[0])
    assert from_cli.model.metadata["training"]["scores"] == {training.scored_on: training.scores}
    assert from_cli.preprocessing_config() == table.preprocessing_config()


def test_a_saved_python_model_works_with_the_commands(frame, tmp_path, capsys):
    table, _ = TableModel.fit(frame, "churned", drop=["id"], source="customers", **SMALL)
    table.model.save(tmp_path / "python.safetensors")
    frame.to_csv(tmp_path / "rows.csv", index=False)
    assert main(["info", str(tmp_path / "python.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "trained on customers" in out and "refit on all 240 rows" in out and "on 192 rows, validated on 48" in out
    assert main(["evaluate", str(tmp_path / "python.safetensors"), str(tmp_path / "rows.csv")]) == 0
    assert "240 rows; accuracy" in capsys.readouterr().out


def test_progress_callbacks_for_each_training(frame):
    stages = []
    TableModel.fit(frame, "churned", drop=["id"], progress=lambda stage: stages.append(stage) or [], **SMALL)
    assert stages == ["epoch", "refit"]


@pytest.mark.parametrize("settings, error, message", [
    ({"target": "price"}, gn.DataError, "target column 'price' is not in the table; its columns are: id, age"),
    ({"drop": ["zip"]}, gn.DataError, "--drop column 'zip'"),
    ({"drop": ["churned"]}, gn.ConfigurationError, "cannot also be dropped"),
    ({"task": "ranking"}, gn.ConfigurationError, "task must be one of auto, classification, regression"),
    ({"validation_split": 1.0}, gn.ConfigurationError, r"validation_split must be in \[0, 1\), got 1.0"),
    ({"layers": (8, 0)}, gn.ConfigurationError, "layers must be positive integers"),
    ({"optimizer": "adadelta"}, gn.ConfigurationError, "unknown optimizer 'adadelta'"),
])
def test_bad_settings_are_refused(frame, settings, error, message):
    with pytest.raises(error, match=message):
        TableModel.fit(frame, **{"target": "churned", **settings})


# -- networks ----------------------------------------------------------------------------------------
def test_a_regression_target_folds_its_scale_into_the_last_layer():
    model = gn.Sequential([gn.layers.Input((2,)), gn.layers.Dense(1)], seed=0)
    x = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    standardized = model.predict(x)
    networks.fold_target_scale(model, mean=200.0, std=57.5)
    np.testing.assert_allclose(model.predict(x), standardized * 57.5 + 200.0, rtol=1e-5)


def test_one_sigmoid_output_becomes_two_probability_columns():
    p = np.array([[0.25], [0.5]])
    np.testing.assert_array_equal(networks.class_probabilities(p), [[0.75, 0.25], [0.5, 0.5]])
    softmax = np.array([[0.2, 0.3, 0.5]])
    assert networks.class_probabilities(softmax) is softmax


def test_the_holdout_split_is_scikit_learns():
    from sklearn.model_selection import train_test_split
    labels = np.arange(50) % 3
    train, val = networks.holdout_split(50, 0.2, seed=4, stratify=labels)
    expected = train_test_split(np.arange(50), test_size=0.2, random_state=4, stratify=labels)
    np.testing.assert_array_equal(train, expected[0])
    np.testing.assert_array_equal(val, expected[1])
    assert np.bincount(labels[val]).tolist() == [4, 3, 3]


def test_the_compiled_network_follows_its_task():
    model = networks.compiled_network(4, [8], networks.output_head("classification", 3), optimizer="sgd",
                                      learning_rate=0.05, dropout=0.1, seed=0, metrics=["accuracy"])
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dropout", "Dense"]
    assert model.output_shape == (3,) and model.loss.name == "sparse_categorical_crossentropy"
    assert isinstance(model.optimizer, gn.optimizers.SGD) and model.optimizer.learning_rate == 0.05
    assert networks.output_head("classification", 2) == (1, "sigmoid", "binary_crossentropy")
    assert networks.output_head("regression", 2) == (2, None, "mse")


def test_a_diverged_training_is_reported_not_scored():
    """A learning rate of 1e20 trains to non-finite outputs: one clear error instead of a traceback
    from the scoring."""
    import pandas as pd
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    frame["y"] = frame["a"] * 3 + rng.normal(size=60)
    with np.errstate(all="ignore"), pytest.raises(gn.DataError, match="not finite"):  # as outside the tests
        TableModel.fit(frame, "y", task="regression", learning_rate=1e20, epochs=3, layers=(4,))


# -- settings that follow the rows, the refit, the progress --------------------------------------

@pytest.mark.parametrize("rows, batch", [(400, 32), (45_000, 32), (46_000, 64), (209_000, 256), (10**8, 1024)])
def test_auto_settings_follow_the_training_rows(rows, batch):
    from glassnet.tabular.model import default_settings
    chosen = default_settings(rows)
    assert chosen["batch_size"] == batch
    if batch == 32:  # the settings tuned on small tables, README's tables among them
        assert chosen == {"batch_size": 32, "learning_rate": 3e-4, "dropout": 0.2, "l2": 1e-4, "min_delta": 0.0}
    else:  # early stopping ignores gains under 0.001 of the standardized loss (flights: 232 -> 88 epochs)
        assert chosen["learning_rate"] == pytest.approx(3e-4 * (batch / 32) ** 0.5)
        assert chosen["dropout"] == chosen["l2"] == 0 and chosen["min_delta"] == 1e-3


def test_the_auto_settings_are_used_and_recorded(frame):
    lines = []
    table, _ = TableModel.fit(frame, "churned", drop=["id", "value"], log=lines.append, options={"dropout": None},
                              **SMALL)
    assert "batch 32, dropout 0.2, L2 0.0001" in "\n".join(lines)
    recorded = table.model.metadata["training"]["options"]
    assert recorded == {"dropout": 0.2, "batch_size": 32, "learning_rate": 3e-4, "l2": 1e-4, "min_delta": 0.0}


def test_early_stopping_ignores_gains_under_the_auto_min_delta(frame, monkeypatch):
    import glassnet.tabular.model as tabular_model
    small = tabular_model.default_settings(0)
    monkeypatch.setattr(tabular_model, "default_settings", lambda rows: {**small, "min_delta": 10.0})
    table, training = TableModel.fit(frame, "churned", drop=["id", "value"], early_stopping=3, **SMALL)
    assert (training.best_epoch, training.epochs_run) == (1, 4)  # no later loss is 10 lower than the first
    assert table.model.metadata["training"]["options"]["min_delta"] == 10.0


def test_many_training_rows_keep_the_validated_model_and_say_so(frame, monkeypatch):
    import glassnet.tabular.model as tabular_model
    monkeypatch.setattr(tabular_model, "REFIT_ROWS", 100)
    lines = []
    _, training = TableModel.fit(frame, "churned", drop=["id", "value"], log=lines.append, **SMALL)
    assert training.refit is None and "not refitting on all rows: 192 training rows" in "\n".join(lines)
    _, training = TableModel.fit(frame, "churned", drop=["id", "value"], refit=True, **SMALL)
    assert training.refit is not None


def test_regression_errors_are_logged_in_the_targets_units(frame):
    lines = []
    table, training = TableModel.fit(frame, "value", drop=["id"], refit=False, log=lines.append, **SMALL)
    assert "errors (mae) in units of 'value'" in "\n".join(lines) and "preprocessed in" in "\n".join(lines)
    history = training.history.history
    best = training.best_epoch - 1 if training.best_epoch else -1
    assert history["val_mae"][best] == pytest.approx(training.scores["mae"], rel=1e-3)
