"""The command line: train, predict, evaluate and info on tables, and every bad input's message."""
import collections
import concurrent.futures
import hashlib
import json
import os
import random
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

import glassnet as gn
from glassnet.cli import main
from glassnet.io import atomic
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


def test_identifier_and_index_columns_are_left_out_reported_and_kept_on_request(tmp_path, capsys):
    frame = customers()
    frame["name"] = [f"customer {i}" for i in range(len(frame))]
    frame.to_csv(tmp_path / "named.csv")  # with pandas' index, read back as 'Unnamed: 0'
    status, out, _ = run(["train", tmp_path / "named.csv", "--target", "churned", "--epochs", "2"], capsys)
    assert status == 0
    for text in ("left out Unnamed: 0: numbers the rows (like an index) (--keep Unnamed: 0 uses it)",
                 "left out id: numbers the rows", "left out name: 192 distinct values in 192 rows, like an identifier"):
        assert text in out
    assert TableModel.load(tmp_path / "named.safetensors").features.input_names == ["age", "plan", "spend", "value"]
    status, out, _ = run(["info", tmp_path / "named.safetensors"], capsys)
    assert "left out name: 240 distinct values in 240 rows" in out and "read as missing: empty cells and '?'" in out
    run(["train", tmp_path / "named.csv", "--target", "churned", "--keep", "id,name", "--force", *FAST], capsys)
    assert TableModel.load(tmp_path / "named.safetensors").features.input_names[:2] == ["id", "age"]


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


# -- strings from files, prediction CSVs ------------------------------------------------------------------
RED, CRLF = "\x1b[31mred", "bad\r\nlabel"


def hostile_table(path, n=120, seed=0):
    """A table whose column name is an escape sequence, whose labels hold a CR LF, and whose id
    and categories are spreadsheet formulas."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    frame = pd.DataFrame({"id": [["=HYPERLINK(\"http://x\")", "-1.5", "+44 20", "@SUM(A1)", "plain"][i % 5]
                                 for i in range(n)],
                          RED: x, "plan": rng.choice(["basic", "=1+1"], n),
                          "y": np.where(x > 0, CRLF, "=cmd|' /C calc'!A0")})
    frame.loc[::10, RED] = np.nan
    frame.to_csv(path, index=False)
    return path


def assert_escaped(*texts):
    for text in texts:
        assert "\x1b" not in text and "\r" not in text


def test_strings_from_files_reach_the_terminal_escaped(tmp_path, capsys):
    data = hostile_table(tmp_path / "hostile.csv")
    status, out, err = run(["train", data, "--target", "y", "--drop", "id", "--epochs", "2", "--layers", "4"], capsys)
    assert status == 0 and "bad\\r\\nlabel" in out and "imputed (training rows): \\x1b[31mred" in out
    assert_escaped(out, err)
    model = tmp_path / "hostile.safetensors"
    status, out, err = run(["info", model], capsys)
    assert status == 0 and "\\x1b[31mred: numeric" in out and "bad\\r\\nlabel" in out
    assert_escaped(out, err)
    status, out, err = run(["evaluate", model, data], capsys)
    assert status == 0 and "true bad\\r\\nlabel" in out
    assert_escaped(out, err)
    new = pd.read_csv(data)
    new.loc[0, "plan"] = "\x1b[2J"  # an unseen category: reported in a note
    new = new.rename(columns={"plan": "plan\x1b[0m"}).assign(plan=new["plan"])
    new.to_csv(tmp_path / "new.csv", index=False)
    status, out, err = run(["predict", model, tmp_path / "new.csv"], capsys)
    assert status == 0 and "\\x1b[2J" in err
    assert_escaped(err)
    err = error_of(["train", data, "--target", "nope", "--force"], capsys)
    assert "\\x1b[31mred" in err and "\x1b" not in err


def test_prediction_csvs_neutralise_formula_cells_unless_told_not_to(tmp_path, capsys):
    data = hostile_table(tmp_path / "hostile.csv")
    run(["train", data, "--target", "y", "--drop", "id", "--epochs", "2", "--layers", "4", "-q"], capsys)
    model = tmp_path / "hostile.safetensors"
    status, out, err = run(["predict", model, data], capsys)
    assert status == 0 and "were prefixed with '" in err
    for predictions in (pd.read_csv(__import__("io").StringIO(out), keep_default_na=False),
                        pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
                        if run(["predict", model, data, "-o", tmp_path / "p.csv"], capsys)[0] == 0 else None):
        assert set(predictions["id"]) == {"'=HYPERLINK(\"http://x\")", "-1.5", "'+44 20", "'@SUM(A1)", "plain"}
        assert set(predictions["y"]) <= {"'=cmd|' /C calc'!A0", CRLF.replace("\r\n", "\n"), CRLF}
        assert "probability_=cmd|' /C calc'!A0" in predictions.columns  # starts with "probability_": safe
    status, out, err = run(["predict", model, data, "--no-escape-formulas"], capsys)
    assert "=HYPERLINK" in out and "'=HYPERLINK" not in out and "prefixed" not in err
    assert run(["predict", model, data, "-o", tmp_path / "p.parquet"], capsys)[0] == 0
    assert "=HYPERLINK(\"http://x\")" in set(pd.read_parquet(tmp_path / "p.parquet")["id"])  # Parquet: as it was


def test_only_text_cells_are_neutralised_never_numbers():
    from glassnet.tabular.files import escape_formulas
    frame = pd.DataFrame({"value": [-1.5, 2.0, -3e-4], "count": [-1, 0, 1], "flag": [True, False, True],
                          "text": ["-1.5", "-x", "=1"], "=name": ["a", "b", "c"]})
    escaped, count = escape_formulas(frame)
    assert count == 3 and list(escaped.columns) == ["value", "count", "flag", "text", "'=name"]
    pd.testing.assert_frame_equal(escaped.iloc[:, :3], frame.iloc[:, :3])
    assert list(escaped["text"]) == ["-1.5", "'-x", "'=1"] and list(frame["text"]) == ["-1.5", "-x", "=1"]


# -- writing the outputs of glassnet train ------------------------------------------------------------
def test_a_name_taken_during_training_is_not_overwritten_without_force(table, tmp_path, capsys, monkeypatch):
    out = tmp_path / "m.safetensors"
    fit = TableModel.fit

    def fit_while_someone_writes_the_output(*args, **kwargs):
        result = fit(*args, **kwargs)
        out.write_bytes(b"written meanwhile")
        return result
    monkeypatch.setattr(TableModel, "fit", fit_while_someone_writes_the_output)
    err = error_of(["train", table, "--target", "churned", "--out", out, *FAST], capsys)
    assert "will not overwrite an existing file" in err and str(out) in err
    assert sorted(os.listdir(tmp_path)) == ["customers.csv", "m.safetensors"]  # nothing else written
    assert out.read_bytes() == b"written meanwhile"


def test_a_read_only_output_is_refused_before_training_even_with_force(table, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"protected")
    os.chmod(out, 0o444)
    err = error_of(["train", table, "--target", "churned", "--out", out, "--force", *FAST], capsys)
    assert f"{out} is read-only" in err and out.read_bytes() == b"protected"


KILL_RUNS = int(os.environ.get("GLASSNET_KILL_RUNS", "6"))  # more for a long run: GLASSNET_KILL_RUNS=100
OUTPUTS = ("iris.safetensors", "iris.metrics.json", "iris.png")


def start_training(folder, seed):
    return subprocess.Popen([sys.executable, "-m", "glassnet", "train", "--dataset", "iris", "--epochs", "3",
                             "--layers", "4", "-q", "--force", "--seed", str(seed), "-o", str(folder / OUTPUTS[0])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def output_hashes(folder):
    return tuple(hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in OUTPUTS)


def one_run(folder):
    """Whether the outputs in ``folder`` are one run's: the model's history is the metrics'."""
    metrics = json.loads((folder / OUTPUTS[1]).read_text())
    return gn.load(folder / OUTPUTS[0]).history.history == metrics["history"]


def kill_at_random(process, folder, rng):
    """SIGKILL ``process`` at a random moment: mostly while it writes (from the moment its first
    temporary file appears), sometimes anywhere in the run. Returns what it was doing."""
    if rng.random() < 0.25:
        time.sleep(rng.uniform(0, 4))
    else:
        while process.poll() is None and not atomic_leftovers(folder):
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 0.6))
    writing = bool(atomic_leftovers(folder))
    process.kill()
    process.wait()
    return "finished" if process.returncode == 0 else "killed writing" if writing else "killed"


def atomic_leftovers(folder):
    return [name for name in os.listdir(folder) if atomic._match(name)]


def kill_trials(folder, first_seed, runs):
    """Train, then ``runs`` times: train again (a new seed) and kill it; after each kill the outputs
    must be the whole previous set or the whole new one (once the next run's first step, tidying,
    has completed an interrupted set), and no temporary file may remain after the next run."""
    rng, counts = random.Random(first_seed), collections.Counter()
    assert start_training(folder, first_seed).wait() == 0
    for seed in range(first_seed + 1, first_seed + 1 + runs):
        before = output_hashes(folder)
        counts[kill_at_random(start_training(folder, seed), folder, rng)] += 1
        journal = any(name.endswith(".set") for name in atomic_leftovers(folder))
        counts["left a set half renamed"] += journal
        if not journal:  # as the kill left them
            after = output_hashes(folder)
            assert after == before or (all(a != b for a, b in zip(after, before)) and one_run(folder))
        for name in OUTPUTS:
            atomic.tidy(folder / name)  # what the next run does first
        after = output_hashes(folder)
        assert after == before or (all(a != b for a, b in zip(after, before)) and one_run(folder))
        counts["previous set" if after == before else "new set"] += 1
    assert start_training(folder, 0).wait() == 0
    assert atomic_leftovers(folder) == [] and one_run(folder)
    return counts


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
def test_killed_training_runs_leave_one_whole_set_of_outputs_and_no_temporary_file(tmp_path):
    folders = [tmp_path / str(i) for i in range(2)]
    for folder in folders:
        folder.mkdir()
    with concurrent.futures.ThreadPoolExecutor(len(folders)) as pool:
        trials = [pool.submit(kill_trials, folder, 1000 * i, KILL_RUNS // len(folders))
                  for i, folder in enumerate(folders)]
        counts = sum((trial.result() for trial in trials), collections.Counter())
    print(f"{KILL_RUNS} killed glassnet train runs: {dict(counts)}")


@pytest.mark.parametrize("option, value", [("--layers", "a,b"), ("--layers", "64,,32"), ("--seed", "-1"),
                                           ("--epochs", "0"), ("--epochs", "-2"), ("--batch-size", "-3"),
                                           ("--lr", "nan"), ("--dropout", "1.5"), ("--validation-split", "2"),
                                           ("--seed", str(2**64))])
def test_bad_training_options_are_usage_errors_without_traceback(table, option, value, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["train", str(table), "--target", "churned", option, value])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and f"argument {option}:" in err and "Traceback" not in err


def test_a_network_larger_than_memory_is_refused_before_allocating(table, tmp_path, capsys):
    err = error_of(["train", table, "--target", "churned", "--layers", "1000000,1000000", "-o",
                    tmp_path / "m.safetensors"], capsys)
    assert "GiB of memory" in err


@pytest.mark.parametrize("options", [["--inputs", "0"], ["--seed", "-1"], ["--lr", "nan"], ["--hidden", "a"]])
def test_bad_explain_options_are_usage_errors(options, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["explain", *options])
    assert exit.value.code == 2 and "Traceback" not in capsys.readouterr().err


# -- columns the way a data scientist treats them (issue 14) ---------------------------------------
def test_question_marks_in_a_numeric_target_are_missing_values_not_classes(tmp_path, capsys):
    frame = customers().drop(columns=["id"]).astype({"value": object, "spend": object})
    frame.loc[::10, "value"] = "?"
    frame.loc[1, "spend"] = "n.d."
    frame.to_csv(tmp_path / "marked.csv", index=False)
    status, out, _ = run(["train", tmp_path / "marked.csv", "--target", "value", "--na-values", "n.d.", *FAST], capsys)
    assert status == 0 and "left out 24 row(s) without a target value" not in out  # -q: no report
    table = TableModel.load(tmp_path / "marked.safetensors")
    assert table.target.task == "regression" and table.features.columns[2]["kind"] == "numeric"
    assert "n.d." in table.features.markers
    status, out, _ = run(["train", tmp_path / "marked.csv", "--target", "value", "--na-values", "n.d.",
                          "--epochs", "1", "--force"], capsys)
    assert "left out 24 row(s) without a target value" in out and "'?', 'NA'" in out and "'n.d.'" in out
    # evaluate and predict read the table with the markers the model was trained with
    frame.loc[2, "spend"] = "n.d."
    frame.to_csv(tmp_path / "marked.csv", index=False)
    status, out, _ = run(["evaluate", tmp_path / "marked.safetensors", tmp_path / "marked.csv"], capsys)
    assert status == 0 and "RMSE" in out
    status, out, _ = run(["predict", tmp_path / "marked.safetensors", tmp_path / "marked.csv"], capsys)
    assert status == 0


def test_classification_of_a_continuous_target_is_refused(table, capsys):
    err = error_of(["train", table, "--target", "value", "--task", "classification"], capsys)
    assert "the target 'value' holds numbers with fractions" in err and "not classes" in err


def test_the_separator_is_sniffed_whatever_the_suffix(tmp_path, capsys):
    customers().to_csv(tmp_path / "semicolons.csv", index=False, sep=";")
    status, out, _ = run(["train", tmp_path / "semicolons.csv", "--target", "churned", "--epochs", "1"], capsys)
    assert status == 0
    assert TableModel.load(tmp_path / "semicolons.safetensors").features.input_names == ["age", "plan", "spend", "value"]


def test_dates_are_split_into_parts_reported_and_shown_by_info(tmp_path, capsys):
    frame = customers()
    frame["joined"] = pd.date_range("2020-01-01", periods=len(frame), freq="37h").astype(str)
    frame.loc[5, "joined"] = None
    frame.to_parquet(tmp_path / "dated.parquet")
    status, out, _ = run(["train", tmp_path / "dated.parquet", "--target", "churned", "--epochs", "1"], capsys)
    assert status == 0 and "1 date column split into parts" in out
    assert "joined: dates -> year, month_sin, month_cos, day, weekday_sin, weekday_cos, hour_sin, hour_cos, minute" in out
    status, out, _ = run(["info", tmp_path / "dated.safetensors"], capsys)
    assert "joined: date, split into year, month_sin" in out
    new = frame.assign(joined=pd.to_datetime(frame["joined"]))  # a timestamp column predicts as the text did
    new.to_parquet(tmp_path / "new.parquet")
    assert run(["predict", tmp_path / "dated.safetensors", tmp_path / "new.parquet", "-o", tmp_path / "p.csv"],
               capsys)[0] == 0


def test_many_categories_are_capped_with_the_choice_reported(tmp_path, capsys):
    frame = customers(600)
    frame["shop"] = [f"shop {i % 150}" for i in range(600)]
    frame.to_csv(tmp_path / "shops.csv", index=False)
    status, out, _ = run(["train", tmp_path / "shops.csv", "--target", "churned", "--epochs", "1"], capsys)
    assert status == 0 and "shop: 149 categories; the 100 most frequent one-hot encoded, the other 49" in out  # training rows
    status, out, _ = run(["info", tmp_path / "shops.safetensors"], capsys)
    assert "shop: categorical, one-hot over 100 categories" in out and "'(other)' for 50 less frequent ones" in out


def test_nested_parquet_columns_are_refused_by_name(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"x": [1.0, 2.0], "tags": [[1, 2], [3]], "y": ["a", "b"]}), tmp_path / "nested.parquet")
    err = error_of(["train", tmp_path / "nested.parquet", "--target", "y"], capsys)
    assert "has nested columns, which a network cannot take as inputs: tags (list<element: int64>)" in err


def test_predictions_to_an_unsupported_suffix_are_refused_before_work(table, tmp_path, capsys):
    run(["train", table, "--target", "churned", *FAST], capsys)
    err = error_of(["predict", tmp_path / "customers.safetensors", table, "-o", tmp_path / "p.xlsx"], capsys)
    assert "p.xlsx: tables are written as CSV (.csv, .tsv, .txt) or Parquet (.parquet, .pq), not .xlsx" in err
    assert not (tmp_path / "p.xlsx").exists()


# -- class weights and AUC ----------------------------------------------------------------------------
def test_evaluate_reports_auc_as_scikit_learn_computes_it(table, tmp_path, capsys):
    from sklearn.metrics import roc_auc_score
    frame = customers()
    for target, drop in (("churned", "id,value"), ("plan", "id,churned")):
        model = tmp_path / f"{target}.safetensors"
        assert run(["train", table, "--target", target, "--drop", drop, "--out", model, *FAST], capsys)[0] == 0
        status, out, _ = run(["evaluate", model, table, "--json", tmp_path / f"{target}.json"], capsys)
        scores = json.loads((tmp_path / f"{target}.json").read_text())["scores"]
        assert status == 0 and f"AUC {scores['auc']:.4f}" in out
        rows = frame[frame[target].notna()]
        loaded = TableModel.load(model)
        probabilities = loaded.predict(rows, "test")[0]
        labels = loaded.target.encode(rows[target], "test")
        if target == "churned":  # binary: the probability of the second class
            expected = roc_auc_score(labels, probabilities[:, 1])
        else:  # three classes: macro one-vs-rest
            expected = roc_auc_score(labels, probabilities, multi_class="ovr", average="macro")
        assert scores["auc"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("weights", ["balanced", '{"yes": 3, "no": 1}'])
def test_class_weight_is_used_and_recorded_in_the_model_file(table, tmp_path, capsys, weights):
    plain, weighted = tmp_path / "plain.safetensors", tmp_path / "weighted.safetensors"
    assert run(["train", table, "--target", "churned", "--drop", "id,value", "-o", plain, *FAST], capsys)[0] == 0
    status, out, _ = run(["train", table, "--target", "churned", "--drop", "id,value", "-o", weighted,
                          "--class-weight", weights, *FAST], capsys)
    assert status == 0 and "AUC" in out
    options = gn.load(weighted).metadata["training"]["options"]
    assert options["class_weight"] == ("balanced" if weights == "balanced" else {"yes": 3.0, "no": 1.0})
    assert gn.load(plain).metadata["training"]["options"]["class_weight"] is None
    assert not np.array_equal(gn.load(plain).get_weights()[0], gn.load(weighted).get_weights()[0])


def test_class_weight_in_python_takes_the_labels_and_equals_the_weights_by_index():
    frame = customers()
    by_label = TableModel.fit(frame, "churned", drop=["id", "value"], epochs=3, class_weight={"yes": 3, "no": 1})[0]
    by_text = TableModel.fit(frame, "churned", drop=["id", "value"], epochs=3, class_weight={"yes": 3})[0]
    np.testing.assert_array_equal(by_label.model.get_weights()[0], by_text.model.get_weights()[0])


@pytest.mark.parametrize("value", ["even", "{not json}", "[1, 2]", "{}", '{"yes": -1}', '{"yes": "high"}'])
def test_bad_class_weights_are_usage_errors(table, value, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["train", str(table), "--target", "churned", "--class-weight", value])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and "argument --class-weight:" in err and "Traceback" not in err


def test_class_weights_of_labels_the_target_does_not_have_are_refused(table, tmp_path, capsys):
    err = error_of(["train", table, "--target", "churned", "--class-weight", '{"maybe": 2}', "-o",
                    tmp_path / "m.safetensors"], capsys)
    assert "class_weight names 'maybe', not a class of the target; its classes are: no, yes" in err
    err = error_of(["train", table, "--target", "value", "--class-weight", "balanced", "-o",
                    tmp_path / "m.safetensors"], capsys)
    assert "class_weight weighs classes, and a regression has none" in err


def test_train_says_what_it_reads_and_labels_errors_in_the_targets_units(table, tmp_path, capsys):
    status, out, _ = run(["train", table, "--target", "value", "--drop", "id", "--out", tmp_path / "r.safetensors",
                          "--epochs", "5"], capsys)
    lines = out.splitlines()
    assert status == 0 and lines[0] == f"reading {table}" and lines[1].startswith("read 240 rows, 6 columns in ")
    assert "errors (mae) in units of 'value'" in out and "batch 32" in out
    metrics = json.loads((tmp_path / "r.metrics.json").read_text())
    assert metrics["history_errors_in_units_of"] == "value"
    info = json.loads(run(["info", tmp_path / "r.safetensors", "--json"], capsys)[1])
    assert info["metadata"]["training"]["options"]["batch_size"] == 32
