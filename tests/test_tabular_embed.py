"""Embedded text columns (``glassnet train --embed COLUMN`` / ``--embed auto``): each category an
integer id (0 for the rest, missing and unseen values), a network input of its own read by an
Embedding in a graph model; training, files, the commands, streaming and ONNX all carry them."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import glassnet as gn
from glassnet.cli import main
from glassnet.tabular import columns, files, networks, stream
from glassnet.tabular.model import TableModel
from glassnet.tabular.preprocessing import TablePreprocessor
from tests.test_distributed import MPIEXEC, needs_mpi

pytest.importorskip("sklearn")

FAST = dict(epochs=20, early_stopping=0, layers=(32,), learning_rate=0.01, batch_size=64, dropout=0, l2=0)


def shops(rows=3000, n_shops=150, seed=0):
    """A table whose target is mostly the effect of its ``shop`` (text, 150 values), plus a number
    and a small text column; a few shops are missing."""
    rng = np.random.default_rng(seed)
    effect = rng.normal(0, 1, n_shops)
    shop = rng.integers(0, n_shops, rows)
    x = rng.normal(0, 1, rows)
    frame = pd.DataFrame({"x": x, "shop": [f"shop{i:03d}" for i in shop], "city": rng.choice(["oslo", "rome"], rows),
                          "y": 0.5 * x + 2 * effect[shop] + 0.1 * rng.normal(0, 1, rows)})
    frame.loc[::97, "shop"] = None
    return frame


# -- ids ----------------------------------------------------------------------------------------
def test_ids_for_seen_rare_unseen_and_missing_categories():
    train = pd.DataFrame({"c": ["b", "a", "b", "a", "c", "b", None, "d", "d"], "x": np.arange(9.0)})
    prep = TablePreprocessor.fit(train, embed=["c"])
    column = prep.columns[0]
    # seen in 2+ rows: a, b, d, sorted, ids 1-3; c (once) goes with the rest to 0
    assert column == {"name": "c", "kind": "embedded", "categories": ["a", "b", "d"], "missing": 1, "other": 1}
    assert prep.feature_names == ["x"]
    assert prep.network_inputs() == [("features", (1,), None), ("c", (1,), 4)]
    new = pd.DataFrame({"c": ["d", "a", "c", "zzz", None, "b"], "x": np.zeros(6)})
    (matrix, ids), report = prep.transform(new, "new.csv")
    assert ids.dtype == np.int64 and ids.shape == (6, 1)
    np.testing.assert_array_equal(ids[:, 0], [3, 1, 0, 0, 0, 2])
    assert matrix.shape == (6, 1) and matrix.dtype == np.float32
    assert report.unseen == {} and report.lines() == ["c: 1 missing value given id 0 '(other)'"]
    # the markers are missing values too; numbers in an object column are their text
    marked = prep.transform(pd.DataFrame({"c": ["NA", "?", "b"], "x": [0.0] * 3}))[0][1]
    np.testing.assert_array_equal(marked[:, 0], [0, 0, 2])


def test_the_id_table_survives_json_and_a_bad_one_is_refused():
    prep = TablePreprocessor.fit(shops(600), embed=["shop"])
    again = TablePreprocessor.from_config(json.loads(json.dumps(prep.get_config())))
    for a, b in zip(prep.transform(shops(50, seed=1))[0], again.transform(shops(50, seed=1))[0]):
        np.testing.assert_array_equal(a, b)
    config = prep.get_config()
    for categories in (["b", "a"], ["a", "a"], [1, 2]):
        bad = json.loads(json.dumps(config))
        bad["columns"][1]["categories"] = categories
        with pytest.raises(gn.ModelFileError, match=r"preprocessing.features.columns\[1\].categories"):
            TablePreprocessor.from_config(bad)


def test_a_text_column_that_looks_like_dates_is_embedded_as_text_when_asked():
    frame = pd.DataFrame({"when": ["2013-01-01 05:00", "2013-01-01 06:00"] * 3, "x": np.arange(6.0)})
    assert TablePreprocessor.fit(frame).columns[0]["kind"] == "date"
    column = TablePreprocessor.fit(frame, embed=["when"]).columns[0]
    assert column["kind"] == "embedded" and column["categories"] == ["2013-01-01 05:00", "2013-01-01 06:00"]


def test_auto_embeds_the_text_columns_one_hot_would_cap_and_says_why():
    frame = shops(3000, n_shops=150)
    prep = TablePreprocessor.fit(frame.drop(columns="y"), embed="auto")
    assert [c["kind"] for c in prep.columns] == ["numeric", "embedded", "categorical"]
    line = next(line for line in prep.choices() if line.startswith("shop:"))
    assert line.startswith("shop: 150 categories embedded (--embed auto: more than 100 categories) -> "
                           "Embedding(151, 27): an id for each of the 150 seen in at least 2 training rows")
    few = TablePreprocessor.fit(shops(3000, n_shops=100).drop(columns="y"), embed="auto")
    assert few.columns[1]["kind"] == "categorical" and not few.embedded  # 100: not more than the cap
    assert TablePreprocessor.fit(frame.drop(columns="y"), embed=["shop"]).embedded_because == {"shop": "--embed shop"}


def test_the_embedding_size_rule():
    assert [columns.embedding_size(n) for n in (3, 17, 106, 458, 459, 4044, 20_001)] == [3, 8, 22, 49, 50, 50, 50]


# -- the network ----------------------------------------------------------------------------------
def test_the_network_is_a_graph_model_with_an_id_input_per_embedded_column():
    frame = shops(1000)
    frame["shop2"] = frame["shop"].str[::-1]
    table, _ = TableModel.fit(frame, "y", embed=["shop", "shop2"], **dict(FAST, epochs=1))
    model = table.model
    assert isinstance(model, gn.Model) and model.input_names == ["features", "shop", "shop2"]
    assert model.input_shape == [(3,), (1,), (1,)]
    count = columns.id_count(table.features.columns[1])
    embeddings = networks.embeddings(model)
    assert embeddings["features"] is None
    assert (embeddings["shop"].input_dim, embeddings["shop"].output_dim) == (count, columns.embedding_size(count))
    concatenate = next(layer for layer in model.layers if isinstance(layer, gn.layers.Concatenate))
    dense = model.layers[model.layers.index(concatenate) + 1]
    assert isinstance(dense, gn.layers.Dense) and dense.weight.shape == (3 + 2 * columns.embedding_size(count), 32)
    # no embedded column: the Sequential as before
    assert isinstance(TableModel.fit(frame, "y", **dict(FAST, epochs=1))[0].model, gn.Sequential)


def test_the_embeddings_carry_their_own_l2_unless_l2_is_given(monkeypatch):
    frame = shops(600)
    settings = dict(FAST, epochs=1)
    settings.pop("l2")
    lines = []
    monkeypatch.setattr("glassnet.tabular.model.default_settings",  # as from 45,000 rows on: no L2 on Dense
                        lambda rows: {"batch_size": 64, "learning_rate": 0.01, "dropout": 0.0, "l2": 0.0, "min_delta": 1e-3})
    table, _ = TableModel.fit(frame, "y", embed=["shop"], log=lines.append, **settings)
    embedding = networks.embeddings(table.model)["shop"]
    assert embedding.embeddings_regularizer.l2 == networks.EMBEDDING_L2 == 1e-2
    assert all(layer.kernel_regularizer is None for layer in table.model.layers if isinstance(layer, gn.layers.Dense))
    assert re.search(r"\nnetwork: .*, batch 64, L2 0.01 on the embeddings\n", "\n".join(lines))
    assert table.model.metadata["training"]["options"]["embedding_l2"] == 1e-2
    table, _ = TableModel.fit(frame, "y", embed=["shop"], l2=0, **settings)
    assert networks.embeddings(table.model)["shop"].embeddings_regularizer is None
    table, _ = TableModel.fit(frame, "y", embed=["shop"], l2=1e-5, l1=1e-6, **settings)
    regularizer = networks.embeddings(table.model)["shop"].embeddings_regularizer
    assert (regularizer.l1, regularizer.l2) == (1e-6, 1e-5)


def test_a_table_of_embedded_columns_only_needs_no_concatenate():
    frame = shops(600)[["shop", "y"]]
    table, _ = TableModel.fit(frame, "y", embed=["shop"], **dict(FAST, epochs=1))
    assert table.model.input_names == ["shop"]
    assert not any(isinstance(layer, gn.layers.Concatenate) for layer in table.model.layers)
    outputs, _ = table.predict(frame.head(5))
    assert outputs.shape == (5,)


def test_an_embedded_column_that_carries_the_signal_is_learned():
    frame = shops(3000)
    embedded, training = TableModel.fit(frame, "y", embed=["shop"], **FAST)
    _, without = TableModel.fit(frame, "y", drop=["shop"], **FAST)
    assert training.scores["r2"] > 0.95 and without.scores["r2"] < 0.2
    # the same seed gives the same model
    again, _ = TableModel.fit(frame, "y", embed=["shop"], **FAST)
    np.testing.assert_array_equal(embedded.predict(frame.head(50))[0], again.predict(frame.head(50))[0])


def test_the_training_log_reports_the_embedding():
    lines = []
    TableModel.fit(shops(3000), "y", embed="auto", log=lines.append, **dict(FAST, epochs=1))
    text = "\n".join(lines)
    assert "1 numeric columns standardized, 1 categorical one-hot encoded, 1 embedded as ids -> 3 inputs and 1 of ids" in text
    assert re.search(r"missing values imputed \(training rows\): shop \d+ \(id 0\)", text)
    assert "shop: 150 categories embedded (--embed auto: more than 100 categories) -> Embedding(151, 27)" in text
    assert "network: 3 + shop 27 -> 32 relu -> 1 linear" in text


def test_classification_with_an_embedded_column_and_a_refit():
    frame = shops(1500).assign(high=lambda f: np.where(f["y"] > 0, "yes", "no")).drop(columns="y")
    table, training = TableModel.fit(frame, "high", embed=["shop"], refit=True, **dict(FAST, epochs=5, early_stopping=2))
    assert training.refit is not None and training.scores["accuracy"] > 0.8
    probabilities, _ = table.predict(frame.head(10))
    assert probabilities.shape == (10, 2) and np.allclose(probabilities.sum(axis=1), 1)


# -- files and the commands ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``glassnet train --embed shop`` on a CSV file: (folder, model path, the table)."""
    folder = tmp_path_factory.mktemp("embed")
    frame = shops(2000)
    frame.to_csv(folder / "shops.csv", index=False)
    model = folder / "shops.safetensors"
    assert main(["train", str(folder / "shops.csv"), "--target", "y", "--embed", "shop", "--epochs", "5",
                 "--layers", "16", "-q", "--out", str(model)]) == 0
    return folder, model, frame


def test_save_load_and_predict_round_trip(trained, capsys):
    folder, path, frame = trained
    table = TableModel.load(path)
    assert isinstance(table.model, gn.Model) and table.model.metadata["training"]["options"]["embed"] == ["shop"]
    new = frame.drop(columns="y").head(30).copy()
    new.loc[0, "shop"] = "a shop never seen"
    new.loc[1, "shop"] = None
    new.to_csv(folder / "new.csv", index=False)
    capsys.readouterr()
    assert main(["predict", str(path), str(folder / "new.csv"), "-o", str(folder / "p.csv"), "--force"]) == 0
    assert "shop: 1 missing value given id 0 '(other)'" in capsys.readouterr().err
    expected, _ = table.predict(pd.read_csv(folder / "new.csv"))
    np.testing.assert_allclose(pd.read_csv(folder / "p.csv")["y"], expected, rtol=1e-5)
    assert main(["evaluate", str(path), str(folder / "shops.csv")]) == 0
    assert "2000 rows; RMSE" in capsys.readouterr().out


def test_info_shows_the_embedded_column(trained, capsys):
    _, path, _ = trained
    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "shop (Input)" in out and "embedding (Embedding)" in out
    assert "  shop: embedded by embedding (Embedding(151, 27)): ids 1-150 for shop000, shop001" in out
    assert "0 '(other)' for the other 0, missing and unseen values, 21 missing in training (id 0)" in out
    assert "adam lr 0.0003, batch 32, --embed shop (L2 0.01 on the embeddings)" in out


def _crafted(path, tmp_path, change):
    """The model file at ``path`` saved again with its preprocessing changed by ``change(config)``."""
    model = gn.load(path)
    config = json.loads(json.dumps(model.preprocessing))
    change(config)
    model.preprocessing = config
    model.save(tmp_path / "crafted.safetensors")
    return tmp_path / "crafted.safetensors"


def test_a_crafted_id_table_that_does_not_fit_the_embedding_is_refused(trained, tmp_path, capsys):
    _, path, _ = trained
    crafted = _crafted(path, tmp_path, lambda c: c["features"]["columns"][1]["categories"].pop())
    with pytest.raises(gn.ModelFileError, match=r"the network's input 'shop' is read by an Embedding of input_dim "
                                                r"151, but the preprocessing gives it 150 ids"):
        TableModel.load(crafted)
    capsys.readouterr()
    assert main(["predict", str(crafted), str(path)]) == 1
    assert "table preprocessing is not valid" in capsys.readouterr().err
    renamed = _crafted(path, tmp_path, lambda c: c["features"]["columns"][1].update(name="store"))
    with pytest.raises(gn.ModelFileError, match=r"makes the inputs \['features', 'store'\], but the network has "
                                                r"inputs \['features', 'shop'\]"):
        TableModel.load(renamed)
    one_hot = _crafted(path, tmp_path, lambda c: c["features"]["columns"][1].update(
        kind="categorical", fill="shop000", other=0))
    with pytest.raises(gn.ModelFileError, match="the network is a graph model with inputs"):
        TableModel.load(one_hot)


def test_a_sequential_with_an_embedded_column_in_its_preprocessing_is_refused(tmp_path):
    frame = shops(400)
    table, _ = TableModel.fit(frame, "y", **dict(FAST, epochs=1))
    table.model.save(tmp_path / "plain.safetensors")

    def embed(config):
        column = config["features"]["columns"][1]
        column.update(kind="embedded", categories=sorted(column["categories"]))
        column.pop("fill")
    with pytest.raises(gn.ModelFileError, match="but the network has a Sequential of one input"):
        TableModel.load(_crafted(tmp_path / "plain.safetensors", tmp_path, embed))


@pytest.mark.parametrize("arguments, message", [
    (["--embed", "x"], "--embed column 'x' holds numbers; an Embedding takes categories \\(text\\)"),
    (["--embed", "shp"], "--embed column 'shp' is not in .*shops.csv; its columns are: x, shop, city, y"),
    (["--embed", "y"], "--embed column 'y' is the target"),
    (["--embed", "shop", "--drop", "shop"], "--embed column 'shop' is dropped"),
])
def test_what_cannot_be_embedded_is_refused_naming_it(trained, tmp_path, capsys, arguments, message):
    folder, _, _ = trained
    capsys.readouterr()
    assert main(["train", str(folder / "shops.csv"), "--target", "y", "-q", "--epochs", "1",
                 "--out", str(tmp_path / "m.safetensors"), *arguments]) == 1
    err = capsys.readouterr().err
    assert err.startswith("glassnet: error: ")
    assert re.search(message, err), err
    assert not (tmp_path / "m.safetensors").exists()


def test_an_identifier_named_by_embed_is_used(tmp_path):
    frame = shops(300)
    frame["ref"] = [f"r{i}" for i in range(len(frame))]
    prep = TablePreprocessor.fit(frame.drop(columns="y"))
    assert "ref" in prep.left_out
    prep = TablePreprocessor.fit(frame.drop(columns="y"), embed=["ref"])
    assert "ref" not in prep.left_out and prep.embedded[0]["categories"] == []  # every value once: all id 0


# -- streaming --------------------------------------------------------------------------------------
def test_streamed_ids_are_the_in_memory_ones_and_every_row_keeps_its_ids(tmp_path, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    frame = shops(3000)
    frame["row"] = np.arange(len(frame), dtype=float) * 1.0
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "t.parquet", row_group_size=400)
    monkeypatch.setattr(stream, "CHUNK_ROWS", 150)
    monkeypatch.setattr(stream, "BUFFER_BYTES", 500 * 24)
    streamed = stream.StreamedTable.learn(files.open_parquet(tmp_path / "t.parquet"), "y", embed=["shop"],
                                          validation_split=0.25)
    train = ~stream.held_out(0, len(frame), streamed.fraction, 0)
    in_memory = TablePreprocessor.fit(frame.drop(columns="y")[train], embed=["shop"])
    ours, theirs = streamed.features.get_config()["columns"], in_memory.get_config()["columns"]
    assert ours[1] == theirs[1] and ours[1]["kind"] == "embedded"
    (x_val, ids_val), _ = streamed.validation
    expected = in_memory.transform(frame[~train])[0]
    np.testing.assert_array_equal(ids_val, expected[1])
    np.testing.assert_allclose(x_val, expected[0], rtol=1e-6)
    # through the shuffle buffer: every training row once, its ids beside its numbers
    row_of = {}
    for batch, _ in streamed.training_rows().batches(64, np.random.default_rng(1)):
        matrix, ids = batch
        rows = np.rint(matrix[:, streamed.features.feature_names.index("row")] * in_memory.columns[-1]["std"]
                       + in_memory.columns[-1]["mean"]).astype(int)
        row_of.update(zip(rows.tolist(), ids[:, 0].tolist()))
    assert len(row_of) == train.sum()
    all_ids = in_memory.transform(frame)[0][1][:, 0]
    assert all(all_ids[row] == i for row, i in row_of.items())
    in_order = [x for x, _ in streamed.training_rows().batches(100)]
    assert sum(len(x[1]) for x in in_order) == train.sum()


def test_a_streamed_table_trains_with_an_embedding(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    frame = shops(3000)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "t.parquet", row_group_size=500)
    table, training = TableModel.fit(files.open_parquet(tmp_path / "t.parquet"), "y", embed=["shop"], **FAST)
    assert isinstance(table.model, gn.Model) and training.scores["r2"] > 0.9


@needs_mpi
def test_data_parallel_training_learns_the_ids_from_every_processs_rows(tmp_path):
    frame = shops(900)
    frame.to_csv(tmp_path / "shops.csv", index=False)
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                   "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    done = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "glassnet", "train", str(tmp_path / "shops.csv"),
                           "--target", "y", "--embed", "shop", "--epochs", "2", "--out", str(tmp_path / "m.safetensors")],
                          env=environment, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(re.findall(r"shop: \d+ categories embedded \(--embed shop\)", done.stdout)) == 1  # process 0 reports
    table = TableModel.load(tmp_path / "m.safetensors")  # refit on all rows: the ids of all 900
    assert table.features.embedded == TablePreprocessor.fit(frame.drop(columns="y"), embed=["shop"]).embedded


# -- ONNX -------------------------------------------------------------------------------------------
def _onnx_feeds(frame, table):
    """The raw columns as the exported graph takes them: numbers float64, text strings ('' missing)."""
    feeds = {}
    for column in table.features.columns:
        values = frame[[column["name"]]]
        feeds[column["name"]] = (values.to_numpy(np.float64) if column["kind"] == "numeric"
                                 else values.astype(object).where(values.notna(), "").to_numpy(object))
    return feeds


@pytest.mark.parametrize("target, others", [("y", []), ("high", ["y"])])
def test_the_onnx_export_with_ids_equals_glassnet_predict(trained, tmp_path, capsys, target, others):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    folder, path, frame = trained
    if target == "high":  # a classification: --embed auto embeds shop (150 categories), city stays one-hot
        frame = frame.assign(high=np.where(frame["y"] > 0, "yes", "no"))
        frame.to_csv(tmp_path / "high.csv", index=False)
        path = tmp_path / "high.safetensors"
        assert main(["train", str(tmp_path / "high.csv"), "--target", "high", "--drop", "y", "--embed", "auto",
                     "--epochs", "3", "--layers", "16", "-q", "--out", str(path)]) == 0
    assert main(["export", str(path), str(tmp_path / "m.onnx")]) == 0
    assert "shop string (batch, 1)" in capsys.readouterr().out
    new = frame.drop(columns=[target, *others]).head(40).copy()
    new.loc[0, "shop"] = "a shop never seen"
    new.loc[1, "shop"] = None
    new.to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(path), str(tmp_path / "new.csv"), "-o", str(tmp_path / "p.csv")]) == 0
    predicted = pd.read_csv(tmp_path / "p.csv")
    table = TableModel.load(path)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, _onnx_feeds(new, table))))
    if target == "y":
        np.testing.assert_allclose(got["prediction"], predicted["y"], rtol=1e-5, atol=1e-5)
    else:
        assert list(got["label"]) == list(predicted["high"])
        np.testing.assert_allclose(got["probabilities"][:, 1], predicted["probability_yes"], rtol=1e-5, atol=1e-6)


def test_the_onnx_ids_are_the_preprocessings_and_a_table_of_ids_alone_exports(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from glassnet import onnx as glassnet_onnx
    frame = shops(600)[["shop", "y"]]
    table, _ = TableModel.fit(frame, "y", embed=["shop"], **dict(FAST, epochs=2))
    glassnet_onnx.export(table.model, tmp_path / "ids.onnx")
    session = ort.InferenceSession(str(tmp_path / "ids.onnx"))
    assert [i.name for i in session.get_inputs()] == ["shop"]
    new = pd.DataFrame({"shop": ["shop001", None, "nowhere", "shop149", "shop000"]})
    got = session.run(None, _onnx_feeds(new, table))[0]
    np.testing.assert_allclose(got, table.predict(new)[0], rtol=1e-5, atol=1e-6)
