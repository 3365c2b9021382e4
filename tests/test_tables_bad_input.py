"""Issue 14's bad inputs and misleading reports that no other test file covers, each as a user
meets it: the message names what was expected and what came. (The rest have their tests beside
the code: test_cli.py, test_tabular_preprocessing.py, test_metrics.py, test_sklearn.py,
test_diagnosis.py.)"""
import json
import tracemalloc

import numpy as np
import pandas as pd
import pytest

import glassnet as gn
from glassnet.tabular.model import TableModel
from glassnet.tabular.preprocessing import TablePreprocessor

from .test_cli import FAST, customers, error_of, run, table  # noqa: F401 (table: a fixture)


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
    status, out, _ = run(["train", path, "--target", "churned", "--drop", "id", "--epochs", "1", "--layers", "4"], capsys)
    assert status == 0 and "2 date columns split into parts" in out
    assert "joined: dates -> year, month_sin, month_cos, day, weekday_sin, weekday_cos, hour_sin, hour_cos, minute" in out
    assert "day: dates -> year, month_sin, month_cos, day, weekday_sin, weekday_cos\n" in out
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
