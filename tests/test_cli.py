"""The command line: train, predict, evaluate and info on tables, and every bad input's message."""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import glassnet as gn
from glassnet.cli import main
from glassnet.tabular.model import TableModel
from glassnet.tabular.preprocessing import TargetEncoder

FAST = ["--epochs", "30", "--layers", "16", "-q"]


def customers(n=240, seed=0):
    """A table with numeric, categorical and missing values, an id, and a text target."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 80, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    spend = rng.gamma(2, 50, n) + (plan == "pro") * 80
    churned = np.where(age / 80 + (plan == "basic") * 0.6 + rng.normal(0, 0.15, n) > 0.9, "yes", "no")
    frame = pd.DataFrame({"id": np.arange(n), "age": age, "plan": plan, "spend": spend, "churned": churned,
                          "value": 3 * age + spend / 10 + rng.normal(0, 5, n)})
    frame.loc[::17, "age"] = np.nan
    frame.loc[::23, "plan"] = None
    return frame


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "customers.csv"
    customers().to_csv(path, index=False)
    return path


def run(argv, capsys):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


# -- what works ----------------------------------------------------------------------------------------
def test_train_on_a_builtin_dataset_writes_model_metrics_and_plot(tmp_path, capsys):
    status, out, _ = run(["train", "--dataset", "digits", "--out", tmp_path / "digits.safetensors", *FAST], capsys)
    assert status == 0
    assert "validation: accuracy" in out
    metrics = json.loads((tmp_path / "digits.metrics.json").read_text())
    assert metrics["task"] == "classification" and metrics["scores"]["validation"]["accuracy"] > 0.85
    assert len(metrics["history"]["val_loss"]) == metrics["epochs_run"]
    assert (tmp_path / "digits.png").read_bytes().startswith(b"\x89PNG")
    model = gn.load(tmp_path / "digits.safetensors")
    assert model.metadata["training"]["data"] == "digits"


def test_classification_on_a_csv_with_categories_missing_values_and_text_labels(table, tmp_path, capsys):
    status, out, _ = run(["train", table, "--target", "churned", "--drop", "id,value", "--epochs", "60"], capsys)
    assert status == 0
    assert "task: classification, 2 classes: no, yes (the target holds text or true/false values)" in out
    assert "1 numeric" not in out and "2 numeric columns standardized, 1 categorical" in out
    assert "missing values imputed (training rows): age" in out
    progress = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert 2 <= len(progress) <= 11 and progress[-1].startswith("epoch ") and "val_loss" in progress[-1]
    model_path = tmp_path / "customers.safetensors"  # next to the data by default
    table_model = TableModel.load(model_path)
    assert table_model.target.classes == ["no", "yes"]

    new = customers(30, seed=1).drop(columns=["churned", "value"])
    new.loc[0, "plan"] = "enterprise"  # a category never seen in training
    new.to_csv(tmp_path / "new.csv", index=False)
    status, _, err = run(["predict", model_path, tmp_path / "new.csv", "-o", tmp_path / "pred.csv"], capsys)
    assert status == 0
    assert "plan: 1 value(s) of categories not seen in training" in err and "'enterprise'" in err
    predictions = pd.read_csv(tmp_path / "pred.csv")
    assert list(predictions.columns) == ["id", "churned", "probability_no", "probability_yes"]
    assert set(predictions["churned"]) <= {"yes", "no"}
    np.testing.assert_allclose(predictions[["probability_no", "probability_yes"]].sum(axis=1), 1, atol=1e-6)

    status, out, _ = run(["evaluate", model_path, table, "--json", tmp_path / "scores.json"], capsys)
    assert status == 0 and "confusion matrix" in out and "true yes" in out
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["scores"]["accuracy"] > 0.8


def test_regression_predicts_in_the_users_units(table, tmp_path, capsys):
    status, out, _ = run(["train", table, "--target", "value", "--drop", "id", "--out", tmp_path / "r.safetensors",
                          "--epochs", "80"], capsys)
    assert status == 0 and "task: regression" in out and "(the target holds numbers with fractions)" in out
    assert "R²" in out
    frame = customers()
    status, out, _ = run(["predict", tmp_path / "r.safetensors", table], capsys)
    predictions = pd.read_csv(__import__("io").StringIO(out))
    r2 = 1 - np.sum((predictions["value"] - frame["value"]) ** 2) / np.sum((frame["value"] - frame["value"].mean()) ** 2)
    assert r2 > 0.8  # the target's scaling is folded into the last layer


def test_parquet_in_and_out(table, tmp_path, capsys):
    customers().to_parquet(tmp_path / "c.parquet")
    assert run(["train", tmp_path / "c.parquet", "--target", "churned", *FAST], capsys)[0] == 0
    status, _, _ = run(["predict", tmp_path / "c.safetensors", tmp_path / "c.parquet", "-o", tmp_path / "p.parquet"],
                       capsys)
    assert status == 0 and len(pd.read_parquet(tmp_path / "p.parquet")) == 240


@pytest.mark.parametrize("values, task", [(["a", "b"] * 50, "classification"), ([True, False] * 50, "classification"),
                                          (list(range(3)) * 40, "classification"),
                                          (list(np.linspace(0, 1, 100)), "regression"),
                                          (list(range(100)), "regression")])
def test_the_task_is_inferred_from_the_target(values, task):
    assert TargetEncoder.infer_task(pd.Series(values)) == task


def test_an_identifier_like_text_column_is_pointed_out(tmp_path, capsys):
    frame = customers()
    frame["name"] = [f"customer {i}" for i in range(len(frame))]
    frame.to_csv(tmp_path / "named.csv", index=False)
    status, out, _ = run(["train", tmp_path / "named.csv", "--target", "churned", "--epochs", "2"], capsys)
    assert status == 0 and "'name' has 192 distinct values in 192 rows, like an identifier; consider --drop name" in out


def test_task_override_batch_size_one_and_no_validation(tmp_path, capsys):
    frame = pd.DataFrame({"x": np.arange(60.0), "y": np.arange(60) % 3})
    frame.to_csv(tmp_path / "t.csv", index=False)
    status, out, _ = run(["train", tmp_path / "t.csv", "--target", "y", "--task", "regression", "--batch-size", "1",
                          "--validation-split", "0", "--epochs", "2", "--layers", "4"], capsys)
    assert status == 0 and "task: regression" in out and "(as --task says)" in out
    assert "batch 1" in out and "training: RMSE" in out


def test_info_shows_architecture_preprocessing_and_training(table, tmp_path, capsys):
    run(["train", table, "--target", "churned", "--drop", "id", *FAST], capsys)
    status, out, _ = run(["info", tmp_path / "customers.safetensors"], capsys)
    assert status == 0
    for text in ("Total params", "plan: categorical, one-hot over 3 categories", "age: numeric, standardized",
                 "target: 'churned', classification", "left out: id", f"trained on {table}"):
        assert text in out
    status, out, _ = run(["info", tmp_path / "customers.safetensors", "--json"], capsys)
    assert json.loads(out)["preprocessing"]["target"]["classes"] == ["no", "yes"]


# -- bad input -------------------------------------------------------------------------------------------
def error_of(argv, capsys):
    status, out, err = run(argv, capsys)
    assert status == 1, (out, err)
    assert err.startswith("glassnet: error: ") and "Traceback" not in err
    return err


def test_unknown_columns_are_named_with_the_columns_there_are(table, capsys):
    err = error_of(["train", table, "--target", "price"], capsys)
    assert "target column 'price' is not in" in err and "its columns are: id, age, plan, spend, churned, value" in err
    err = error_of(["train", table, "--target", "churned", "--drop", "zip"], capsys)
    assert "--drop column 'zip'" in err
    assert "--target is required" in error_of(["train", table], capsys)
    assert "either a data file or --dataset" in error_of(["train"], capsys)


def test_bad_files_are_refused(tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b,target\n")
    (tmp_path / "data.json").write_text("{}")
    (tmp_path / "bad.parquet").write_text("not parquet")
    (tmp_path / "one.csv").write_text("a,target\n1,x\n2,x\n3,x\n")
    assert "is empty" in error_of(["train", tmp_path / "empty.csv", "--target", "target"], capsys)
    assert "has a header (a, b, target) but no rows" in error_of(["train", tmp_path / "header.csv", "--target", "target"], capsys)
    assert "expected a CSV file" in error_of(["train", tmp_path / "data.json", "--target", "target"], capsys)
    assert "could not be read as Parquet" in error_of(["train", tmp_path / "bad.parquet", "--target", "t"], capsys)
    assert "no such file" in error_of(["train", tmp_path / "missing.csv", "--target", "t"], capsys)
    assert "single class ('x')" in error_of(["train", tmp_path / "one.csv", "--target", "target"], capsys)


def test_prediction_files_must_fit_the_model(table, tmp_path, capsys):
    run(["train", table, "--target", "churned", "--drop", "id", *FAST], capsys)
    model = tmp_path / "customers.safetensors"
    customers().drop(columns=["spend", "plan"]).to_csv(tmp_path / "partial.csv", index=False)
    err = error_of(["predict", model, tmp_path / "partial.csv"], capsys)
    assert "lacks the columns the model needs: plan, spend" in err
    texty = customers().astype({"age": object})
    texty.loc[5, "age"] = "forty"
    texty.to_csv(tmp_path / "texty.csv", index=False)
    assert "column 'age' of" in error_of(["predict", model, tmp_path / "texty.csv"], capsys)
    assert "'forty' in row 6" in error_of(["predict", model, tmp_path / "texty.csv"], capsys)
    customers().drop(columns="churned").to_csv(tmp_path / "unlabelled.csv", index=False)
    assert "no target column 'churned'" in error_of(["evaluate", model, tmp_path / "unlabelled.csv"], capsys)


def test_outputs_are_never_overwritten_without_force_nor_written_to_missing_folders(table, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"the user's own file")
    err = error_of(["train", table, "--target", "churned", "--out", out, *FAST], capsys)
    assert "already exists; pass --force" in err
    assert out.read_bytes() == b"the user's own file"
    assert "does not exist" in error_of(["train", table, "--target", "churned", "--out",
                                         tmp_path / "nowhere" / "m.safetensors", *FAST], capsys)
    assert run(["train", table, "--target", "churned", "--out", out, "--force", *FAST], capsys)[0] == 0
    (tmp_path / "p.csv").write_text("keep me")
    assert "already exists" in error_of(["predict", out, table, "-o", tmp_path / "p.csv"], capsys)
    assert (tmp_path / "p.csv").read_text() == "keep me"


def test_damaged_or_foreign_model_files_are_refused(table, tmp_path, capsys):
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 100)
    assert "not a valid safetensors" in error_of(["predict", tmp_path / "junk.safetensors", table], capsys)
    plain = gn.Sequential([gn.layers.Input((2,)), gn.layers.Dense(1)])
    plain.save(tmp_path / "plain.safetensors")
    assert "was not made by 'glassnet train'" in error_of(["predict", tmp_path / "plain.safetensors", table], capsys)


def test_the_console_command_exits_non_zero_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "glassnet", "train", str(tmp_path / "x.csv"), "--target", "y"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "no such file" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "glassnet", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "train" in result.stdout and "predict" in result.stdout


@pytest.mark.parametrize("module, extra", [("pandas", "tables"), ("matplotlib", "plots")])
def test_a_missing_optional_dependency_is_named_with_its_extra(table, capsys, monkeypatch, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    err = error_of(["train", table, "--target", "churned", *FAST], capsys)
    assert f"needs {module}, which is not installed: pip install 'glassnet[{extra}]'" in err


def test_info_on_a_python_model_and_a_scikit_learn_one(tmp_path, capsys):
    model = gn.Sequential([gn.layers.Input((3,)), gn.layers.Dense(2, activation="softmax")], seed=0)
    model.compile(gn.optimizers.Adam(gn.schedules.CosineDecay(0.01, 100)), "sparse_categorical_crossentropy")
    model.save(tmp_path / "python.safetensors")
    status, out, _ = run(["info", tmp_path / "python.safetensors"], capsys)
    assert status == 0 and "optimizer Adam(learning_rate=CosineDecay(initial_learning_rate=0.01" in out
    from glassnet.sklearn import GlassnetClassifier
    rng = np.random.default_rng(0)
    GlassnetClassifier(hidden_layer_sizes=(4,), epochs=2, random_state=0).fit(
        rng.random((30, 3)), rng.integers(0, 2, 30)).save(tmp_path / "sk.safetensors")
    status, out, _ = run(["info", tmp_path / "sk.safetensors"], capsys)
    assert "saved by scikit-learn's GlassnetClassifier(" in out and "GlassnetClassifier.load" in out
