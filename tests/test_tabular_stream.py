"""Streaming a Parquet table (tabular/stream.py): the same preprocessing as in memory, every
training row once per epoch through a bounded shuffle buffer, a model that matches the in-memory
one, and clear refusals."""
import numpy as np
import pandas as pd
import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

import glassnet as gn  # noqa: E402
from glassnet.cli import main  # noqa: E402
from glassnet.tabular import files, preprocessing, stream  # noqa: E402
from glassnet.tabular.model import TableModel  # noqa: E402
from glassnet.tabular.preprocessing import TablePreprocessor, TargetEncoder  # noqa: E402

FAST = dict(epochs=3, early_stopping=0, layers=(16,), learning_rate=0.01)


def table(rows=3000, seed=0):
    """A table with numbers (some missing), text, date-times, an index and an identifier."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 2))
    city = rng.choice(["oslo", "rome", "lima"], rows, p=[0.5, 0.3, 0.2])
    frame = pd.DataFrame({"rownames": np.arange(1, rows + 1), "x0": x[:, 0], "x1": x[:, 1], "city": city,
                          "when": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 10 ** 6, rows), unit="min"),
                          "ref": [f"r{i}" for i in rng.permutation(rows)]})
    frame.loc[rng.random(rows) < 0.1, "x1"] = np.nan
    frame["y"] = 2 * frame["x0"] - frame["x1"].fillna(0) + (frame["city"] == "rome") + 0.1 * rng.standard_normal(rows)
    frame["label"] = np.where(frame["y"] > 0.5, "high", "low")
    return frame


@pytest.fixture
def parquet(tmp_path):
    """The table written as a folder of two Parquet files in row groups of 400 rows."""
    frame = table()
    folder = tmp_path / "parts"
    folder.mkdir()
    for number, rows in enumerate((slice(0, 1700), slice(1700, None))):
        pq.write_table(pa.Table.from_pandas(frame.iloc[rows], preserve_index=False), folder / f"{number}.parquet",
                       row_group_size=400)
    return frame, folder


def small_chunks(monkeypatch, chunk=150, buffer_rows=500, width=8):
    """Chunks and a shuffle buffer far smaller than the table, so a test crosses every boundary."""
    monkeypatch.setattr(stream, "CHUNK_ROWS", chunk)
    monkeypatch.setattr(stream, "BUFFER_BYTES", buffer_rows * 4 * width)


def test_held_out_rows_depend_on_the_row_number_and_the_seed_only():
    whole = stream.held_out(0, 10_000, 0.2, seed=3)
    pieces = np.concatenate([stream.held_out(0, 3_333, 0.2, 3), stream.held_out(3_333, 6_667, 0.2, 3)])
    np.testing.assert_array_equal(whole, pieces)
    assert 0.18 < whole.mean() < 0.22
    assert not np.array_equal(whole, stream.held_out(0, 10_000, 0.2, seed=4))
    assert stream.held_out(0, 1000, 0.0, 0).sum() == 0


def test_the_streamed_preprocessing_is_the_in_memory_one_of_the_same_rows(parquet, monkeypatch):
    frame, folder = parquet
    small_chunks(monkeypatch)
    monkeypatch.setattr(stream, "LOG_EVERY", 0.0)
    lines = []
    streamed = stream.StreamedTable.learn(files.open_parquet(folder), "y", drop=["label"], validation_split=0.25,
                                          log=lines.append)
    assert "learning the preprocessing: 150 of 3000 rows (5%) in " in lines[0]
    assert any(line.startswith("reading the validation rows: 3000 of 3000 rows (100%)") for line in lines)
    train = ~stream.held_out(0, len(frame), streamed.fraction, 0)
    in_memory = TablePreprocessor.fit(frame.drop(columns=["y", "label"])[train],
                                      left_out={"rownames": "numbers the rows (like an index)"})
    ours, theirs = streamed.features.get_config(), in_memory.get_config()
    assert [c["name"] for c in ours["columns"]] == ["x0", "x1", "city", "when"]
    assert ours["left_out"].keys() == theirs["left_out"].keys() == {"rownames", "ref"}
    for a, b in zip(ours["columns"], theirs["columns"]):
        assert a.keys() == b.keys() and a["kind"] == b["kind"]
        if a["kind"] == "numeric":
            assert a["mean"] == pytest.approx(b["mean"], rel=1e-12) and a["std"] == pytest.approx(b["std"], rel=1e-12)
        else:
            assert a == pytest.approx(b) if a["kind"] == "categorical" else a["parts"] == b["parts"]
    assert streamed.encoder.get_config() == pytest.approx(TargetEncoder.fit(frame["y"]).get_config())
    counts = streamed.counts
    assert counts["train"] == train.sum() and counts["train"] + counts["validation"] == len(frame)
    x_val, y_val = streamed.validation
    assert x_val.shape == (counts["validation"], len(streamed.features.feature_names)) and x_val.dtype == np.float32


def test_every_training_row_comes_once_an_epoch_in_batches_through_a_bounded_buffer(parquet, monkeypatch):
    frame, folder = parquet
    small_chunks(monkeypatch)
    streamed = stream.StreamedTable.learn(files.open_parquet(folder), "y", drop=["label"], validation_split=0.25)
    rows = streamed.training_rows()
    expected = np.sort(streamed.encoder.encode(frame["y"][~stream.held_out(0, len(frame), streamed.fraction, 0)]))
    epochs = []
    for seed in (1, 2):
        batches = [(x.copy(), y.copy()) for x, y in rows.batches(64, np.random.default_rng(seed))]  # views, reused
        assert {len(x) for x, _ in batches[:-1]} == {64} and 0 < len(batches[-1][0]) <= 64
        targets = np.concatenate([y for _, y in batches])
        np.testing.assert_array_equal(np.sort(targets), expected)
        epochs.append(targets)
    assert not np.array_equal(epochs[0], epochs[1])
    in_order = np.concatenate([y.copy() for _, y in rows.batches(64)])
    np.testing.assert_array_equal(np.sort(in_order), expected)
    assert not np.array_equal(in_order, epochs[0])
    buffer = stream.ShuffleBuffer(500, 8, 64, np.random.default_rng(0))
    list(buffer.shuffled(([np.zeros((150, 8), np.float32), np.zeros(150)] for _ in range(20))))
    assert len(buffer.x) == 500 + stream.CHUNK_ROWS  # the capacity and one chunk, whatever the rows


def test_a_streamed_model_matches_the_in_memory_one_and_works_with_the_commands(parquet, tmp_path, capsys):
    frame, folder = parquet
    lines = []
    streamed, training = TableModel.fit(files.open_parquet(folder), "label", drop=["y"], log=lines.append, **FAST)
    in_memory, memory_training = TableModel.fit(frame, "label", drop=["y"], **FAST)
    assert training.scores["accuracy"] == pytest.approx(memory_training.scores["accuracy"], abs=0.03)
    assert training.scores["accuracy"] > 0.9
    assert streamed.preprocessing_config()["target"] == in_memory.preprocessing_config()["target"]
    assert any(line.startswith("learned the preprocessing from") for line in lines)
    streamed.model.save(tmp_path / "m.safetensors")
    frame.to_csv(tmp_path / "rows.csv", index=False)
    assert main(["evaluate", str(tmp_path / "m.safetensors"), str(tmp_path / "rows.csv")]) == 0
    assert "3000 rows; accuracy" in capsys.readouterr().out


def test_balanced_class_weights_come_from_the_streamed_counts(parquet):
    frame, folder = parquet
    table_model, _ = TableModel.fit(files.open_parquet(folder), "label", drop=["y"], class_weight="balanced", **FAST)
    counts = frame["label"].value_counts()
    assert table_model.target.class_counts == [counts["high"], counts["low"]]
    assert table_model.model.metadata["training"]["options"]["class_weight"] == "balanced"


def test_glassnet_train_streams_with_stream_or_when_the_table_is_too_large(parquet, tmp_path, capsys, monkeypatch):
    _, folder = parquet
    out = str(tmp_path / "m.safetensors")
    assert main(["train", str(folder), "--target", "y", "--drop", "label", "--stream", "--epochs", "2",
                 "-o", out, "-q"]) == 0
    monkeypatch.setattr(files, "available_memory", lambda: 100_000)
    assert main(["train", str(folder), "--target", "y", "--drop", "label", "--epochs", "2", "-o", out, "--force"]) == 0
    printed = capsys.readouterr().out
    assert "over a quarter of the 0.1 MiB of memory available: streaming it (--no-stream reads it whole)" in printed
    assert "streaming 3000 rows, 8 columns in 9 row groups" in printed and "validation: RMSE" in printed
    assert TableModel.load(out).features.input_names == ["x0", "x1", "city", "when"]


@pytest.mark.parametrize("arguments, message", [
    (["--stream"], "only Parquet files"),  # a CSV file
    (["--dataset", "iris", "--stream"], "a built-in data set is small"),
    (["--stream", "--validation-split", "0"], "validation_split must be above 0"),
    (["--stream", "--target", "nope"], "target column 'nope' is not in"),
])
def test_what_cannot_be_streamed_is_refused(parquet, tmp_path, capsys, arguments, message):
    frame, folder = parquet
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = [str(tmp_path / "t.csv")] if arguments == ["--stream"] else [] if "--dataset" in arguments else [str(folder)]
    target = [] if "--target" in arguments or "--dataset" in arguments else ["--target", "y"]
    assert main(["train", *data, *target, *arguments, "-o", str(tmp_path / "m.safetensors")]) != 0
    assert message in capsys.readouterr().err


def test_a_damaged_or_nested_parquet_file_is_refused_by_name(tmp_path):
    damaged = tmp_path / "bad.parquet"
    damaged.write_bytes(b"PAR1" + b"\0" * 100 + b"PAR1")
    with pytest.raises(gn.DataError, match="bad.parquet could not be read as Parquet"):
        files.open_parquet(damaged)
    nested = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"y": [1.0, 2.0], "tags": [[1], [2, 3]]}), nested)
    with pytest.raises(gn.DataError, match=r"nested columns.*tags \(list<element: int64>\)"):
        files.open_parquet(nested)


def test_a_text_column_of_countless_values_keeps_a_bounded_summary(monkeypatch):
    monkeypatch.setattr(preprocessing, "TRACKED_CATEGORIES", 50)
    parts = [TablePreprocessor.summaries(pd.DataFrame({"id": [f"v{i}" for i in range(start, start + 80)]}))
             for start in range(0, 800, 80)]
    merged = parts[0]
    for part in parts[1:]:
        merged = TablePreprocessor.merged(["id"], [merged, part])
        assert len(merged[0]["counts"]) <= 100
    preprocessor = TablePreprocessor.from_summaries(["id"], merged)
    assert preprocessor.left_out["id"].startswith("about ") and "in 800 rows, like an identifier" in preprocessor.left_out["id"]


def test_a_target_of_too_many_values_is_not_classes(monkeypatch):
    monkeypatch.setattr(preprocessing, "MAX_CLASSES", 10)
    with pytest.raises(gn.DataError, match="more than 10 distinct values: too many to be classes"):
        TargetEncoder.fit(pd.Series([f"c{i}" for i in range(11)] * 2, name="kind"))


def test_a_bad_value_deep_in_a_streamed_table_is_reported_at_its_row_in_the_table(tmp_path, monkeypatch):
    small_chunks(monkeypatch)
    frame = table(1000)
    frame.loc[876, "x0"] = np.inf
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "t.parquet", row_group_size=300)
    with pytest.raises(gn.DataError, match="holds inf in row 877"):
        TableModel.fit(files.open_parquet(tmp_path / "t.parquet"), "y", drop=["label"], **FAST)


def test_reading_ahead_keeps_the_order_raises_the_readers_error_and_stops_when_closed():
    assert list(stream._read_ahead(iter(range(10)))) == list(range(10))

    def failing():
        yield 1
        raise gn.DataError("row 5 is bad")
    with pytest.raises(gn.DataError, match="row 5 is bad"):
        list(stream._read_ahead(failing()))
    made = []

    def endless():
        while True:
            made.append(len(made))
            yield made[-1]
    ahead = stream._read_ahead(endless())
    assert next(ahead) == 0
    ahead.close()  # the thread stops: it has made at most the read-ahead beyond what was taken
    assert len(made) <= 2 + stream.READ_AHEAD
