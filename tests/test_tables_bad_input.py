"""Issue 14's bad inputs and misleading reports that no other test file covers, each as a user
meets it: the message names what was expected and what came. (The rest have their tests beside
the code: test_cli.py, test_tabular_preprocessing.py, test_metrics.py, test_sklearn.py,
test_diagnosis.py.)"""
import tracemalloc

import numpy as np
import pandas as pd
import pytest

import glassnet as gn
from glassnet.tabular.model import TableModel
from glassnet.tabular.preprocessing import TablePreprocessor

from .test_cli import FAST, customers, error_of, run, table  # noqa: F401 (table: a fixture)

ONE_EPOCH = ["--epochs", "1", "--layers", "4"]


# -- bad input -------------------------------------------------------------------------------------------
def _with_dates(frame):
    """``frame`` with a date-time column (UTC) and a date column, one value missing."""
    frame = frame.assign(joined=pd.date_range("2020-01-01", periods=len(frame), freq="37h", tz="UTC"),
                         day=pd.date_range("2019-03-01", periods=len(frame), freq="D"))
    frame.loc[5, "joined"] = pd.NaT
    return frame


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_dates_from_text_and_parquet_timestamps_become_their_parts(tmp_path, capsys, suffix):
    path = tmp_path / f"dated{suffix}"
    frame = _with_dates(customers())
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)  # text, or timestamps
    status, out, _ = run(["train", path, "--target", "churned", "--drop", "id", *ONE_EPOCH], capsys)
    assert status == 0 and "2 date columns split into parts" in out
    days = "year, month_sin, month_cos, day, weekday_sin, weekday_cos"
    assert f"joined: dates -> {days}, hour_sin, hour_cos, minute\n" in out and f"day: dates -> {days}\n" in out
    kinds = {c["name"]: c["kind"] for c in TableModel.load(tmp_path / "dated.safetensors").features.columns}
    assert kinds == {"age": "numeric", "plan": "categorical", "spend": "numeric", "value": "numeric",
                     "joined": "date", "day": "date"}


def test_pandas_datetimes_in_python_become_their_parts():
    table, _ = TableModel.fit(_with_dates(customers()), "churned", drop=["id"], layers=(4,), epochs=1)
    assert [c["kind"] for c in table.features.columns if c["name"] in ("joined", "day")] == ["date", "date"]


def test_an_infinite_target_is_named_with_its_row_in_the_file(tmp_path, capsys):
    frame = customers().drop(columns=["id"]).astype({"value": object})
    frame.loc[2, "value"] = "?"  # a row without a target before it: the rows trained on shift
    frame.loc[7, "value"] = "inf"
    frame.to_csv(tmp_path / "infinite.csv", index=False)
    err = error_of(["train", tmp_path / "infinite.csv", "--target", "value", *FAST], capsys)
    assert "the target 'value' holds inf in row 8, which is not a finite number" in err


def test_an_infinite_input_is_named_with_its_row_in_the_table_whichever_rows_are_looked_at():
    frame = pd.DataFrame({"a": np.arange(40.0), "b": np.ones(40)})
    frame.loc[25, "a"] = -np.inf
    training, held_out = frame.iloc[::2], frame.iloc[1::2]  # row 26 of the table is held out
    with pytest.raises(gn.DataError, match=r"column 'a' of the table holds -inf in row 26, which is not a finite"):
        TablePreprocessor.fit(frame)
    with pytest.raises(gn.DataError, match=r"column 'a' of the rows: row 26 \(-inf\) standardizes to -inf"):
        TablePreprocessor.fit(training).transform(held_out, "the rows")


def test_evaluate_names_an_infinite_target_with_its_row(table, tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    run(["train", table, "--target", "value", "--drop", "id", "-o", model, *ONE_EPOCH, "-q"], capsys)
    frame = customers().astype({"value": object})
    frame.loc[[2, 9], "value"] = ["", "-inf"]
    frame.to_csv(tmp_path / "test.csv", index=False)
    err = error_of(["evaluate", model, tmp_path / "test.csv"], capsys)
    assert f"the target 'value' of {tmp_path / 'test.csv'} holds -inf in row 10, which is not a finite number" in err


def test_an_identifier_column_is_left_out_before_anything_of_its_size_is_allocated():
    rows = 20_000
    frame = pd.DataFrame({"name": [f"customer {i}" for i in range(rows)], "x": np.arange(rows) % 7.0})
    tracemalloc.start()
    preprocessor = TablePreprocessor.fit(frame)
    inputs, _ = preprocessor.transform(frame)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert preprocessor.left_out == {"name": "20000 distinct values in 20000 rows, like an identifier"}
    assert inputs.shape == (rows, 1) and peak < 20 * 2**20  # one-hot: rows x 20,000 (1.6 GB in float32)


# -- misleading reports ----------------------------------------------------------------------------------
def test_the_preprocessing_time_is_said_as_soon_as_it_is_done(table, tmp_path, capsys):
    status, out, _ = run(["train", table, "--target", "churned", "-o", tmp_path / "m.safetensors", *ONE_EPOCH], capsys)
    lines = out.splitlines()
    assert status == 0 and lines[1].startswith("read 240 rows") and lines[2].startswith("preprocessed in ")


def test_regression_errors_are_labelled_in_the_targets_units_on_the_picture(table, tmp_path, capsys, monkeypatch):
    from matplotlib.axes import Axes
    labels, set_ylabel = [], Axes.set_ylabel
    monkeypatch.setattr(Axes, "set_ylabel", lambda axes, label, **kw: labels.append(label) or set_ylabel(axes, label, **kw))
    status = run(["train", table, "--target", "value", "--drop", "id", "-o", tmp_path / "r.safetensors", *FAST], capsys)[0]
    assert status == 0
    assert labels == ["loss", "mae (in units of value)"]


@pytest.mark.parametrize("refit", ["--refit", "--no-refit"])
def test_info_describes_the_saved_model_not_the_run_before_the_refit(table, tmp_path, capsys, refit):
    model = tmp_path / "m.safetensors"
    run(["train", table, "--target", "churned", "--drop", "id", "-o", model, refit, *FAST], capsys)
    epochs = gn.load(model).metadata["training"]["best_epoch"]
    out = run(["info", model], capsys)[1]
    if refit == "--refit":
        assert f"the saved model: refit on all 240 rows for {epochs} epochs, the number chosen by a first run " \
               f"(on 192 rows, validated on 48, for " in out
    else:
        assert "the saved model: trained on 192 rows, validated on 48, for " in out and "refit" not in out


@pytest.mark.parametrize("option, shown", [(None, "batch 32\n"), ("balanced", "batch 32, class weight balanced\n"),
                                           ('{"yes": 3, "no": 0.5}', "batch 32, class weights yes 3, no 0.5\n")])
def test_info_shows_the_class_weight_the_model_was_trained_with(table, tmp_path, capsys, option, shown):
    model = tmp_path / "m.safetensors"
    weights = [] if option is None else ["--class-weight", option]
    run(["train", table, "--target", "churned", "--drop", "id", "-o", model, *weights, *FAST], capsys)
    assert shown in run(["info", model], capsys)[1]


def test_info_refuses_class_weights_that_are_not_weights(tmp_path, capsys):
    table, _ = TableModel.fit(customers(), "churned", drop=["id"], layers=(4,), epochs=1)
    table.model.metadata["training"]["options"]["class_weight"] = {"yes": "heavy"}
    table.model.save(tmp_path / "m.safetensors")
    err = error_of(["info", tmp_path / "m.safetensors"], capsys)
    assert "metadata.training.options.class_weight['yes'] must be a finite number in [0, inf], got 'heavy'" in err


def test_a_small_noisy_validation_set_is_too_noisy_to_tell_not_a_reason_to_change_the_model(
        table, tmp_path, capsys, monkeypatch):
    from glassnet.cli import train
    from .test_diagnosis import _history
    # the validation loss ends 20% above its lowest, within the noise of its 48 rows
    val = [0.5 / (1 + i) for i in range(10)] + list(0.06 + 0.01 * np.random.default_rng(2).standard_normal(30))
    val[-1] = 1.2 * min(val)
    noisy = _history([1.0 / (1 + i) for i in range(40)], val)
    plot_history = train.plot_history
    monkeypatch.setattr(train, "plot_history", lambda history, *args, **kw: plot_history(noisy, *args, **kw))
    status, out, _ = run(["train", table, "--target", "churned", "-o", tmp_path / "m.safetensors", *ONE_EPOCH], capsys)
    assert status == 0 and "verdict: too noisy to tell" in out
    assert "the validation set (48 rows) is too small to tell overfitting from noise" in out
    assert "lower the learning rate" not in out and "larger model" not in out

