"""A model trained from a table by ``glassnet train`` exports with its preprocessing: the ONNX
graph takes the raw columns and gives what ``glassnet predict`` gives, and ``glassnet export``
writes it."""
import json
import re

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from glassnet import cli  # noqa: E402
from glassnet.tabular.model import TableModel  # noqa: E402
from glassnet.errors import ExportError  # noqa: E402
from glassnet.onnx import to_proto  # noqa: E402

TOLERANCE = 1e-5


def make_table(n=300, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"size": rng.normal(50, 20, n), "weight": rng.normal(0, 1, n),
                          "colour": rng.choice(["red", "green", "blue"], n),
                          "city": rng.choice(["Paris", "Rome", "Oslo", "Lima"], n)})
    score = (frame["size"] - 50) / 20 + frame["weight"] + (frame["colour"] == "red") * 2
    frame["kind"] = np.where(score > 1.5, "big", np.where(score > 0, "medium", "small"))
    frame["passed"] = score > 0.7
    frame["grade"] = np.digitize(score, [0, 1.5]) + 1  # integer classes 1, 2, 3
    frame["price"] = score * 1000 + 5000 + rng.normal(0, 100, n)
    frame.loc[n // 3, "size"] = np.nan
    frame.loc[n // 2, "colour"] = None
    return frame


TARGETS = ["kind", "passed", "grade", "price"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One model file per target, trained by the command line on the table's other columns."""
    folder = tmp_path_factory.mktemp("tables")
    make_table().to_csv(folder / "table.csv", index=False)
    paths = {}
    for target in TARGETS:
        paths[target] = folder / f"{target}.safetensors"
        others = ",".join(t for t in TARGETS if t != target)
        assert cli.main(["train", str(folder / "table.csv"), "--target", target, "--drop", others,
                         "--epochs", "5", "--quiet", "--out", str(paths[target])]) == 0
    return paths


def new_rows(n):
    """Rows the models have not seen, with a missing number, a missing category and an unseen one."""
    frame = make_table(n, seed=1)
    frame.loc[0, "colour"] = "purple"
    frame.loc[1, "size"] = np.nan
    frame.loc[2, "city"] = None
    return frame


def feeds(table, frame):
    """The raw columns as ONNX Runtime takes them: numbers as float64, categories as text with
    an empty string for a missing value."""
    return {c["name"]: frame[[c["name"]]].to_numpy(np.float64) if c["kind"] == "numeric"
            else frame[[c["name"]]].fillna("").astype(str).to_numpy(object)
            for c in table.features.columns}


def serve(proto, inputs):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs)))


@pytest.mark.parametrize("target, label_dtype", [("kind", object), ("passed", np.bool_), ("grade", np.int64)])
@pytest.mark.parametrize("n", [1, 1000])
def test_classifier_takes_raw_columns(trained, target, label_dtype, n):
    table = TableModel.load(trained[target])
    rows = new_rows(max(n, 3))[:n]
    outputs = serve(to_proto(table.model), feeds(table, rows))
    expected, _ = table.predict(rows)
    assert list(outputs) == ["probabilities", "label"]
    np.testing.assert_allclose(outputs["probabilities"], expected, rtol=0, atol=TOLERANCE)
    assert outputs["label"].dtype == label_dtype
    np.testing.assert_array_equal(outputs["label"], table.prediction_frame(expected)[target].to_numpy())


@pytest.mark.parametrize("n", [1, 1000])
def test_regressor_takes_raw_columns(trained, n):
    table = TableModel.load(trained["price"])
    rows = new_rows(1000)[:n]
    outputs = serve(to_proto(table.model), feeds(table, rows))
    expected, _ = table.predict(rows)
    assert list(outputs) == ["prediction"] and outputs["prediction"].shape == (n,)
    # float32 outputs of about 1e4: a unit in the last place is 1e-3
    np.testing.assert_allclose(outputs["prediction"], expected, rtol=1e-6, atol=TOLERANCE)


def test_missing_and_unseen_values_are_encoded_as_in_training(trained):
    table = TableModel.load(trained["kind"])
    proto = to_proto(table.model)
    rows = new_rows(3)
    for column, value in (("colour", "purple"), ("city", None), ("size", np.nan)):
        changed = rows.copy()
        changed.loc[:, column] = value
        np.testing.assert_allclose(serve(proto, feeds(table, changed))["probabilities"], table.predict(changed)[0],
                                   atol=TOLERANCE)


def test_graph_inputs_are_the_columns(trained):
    proto = to_proto(TableModel.load(trained["kind"]).model)
    types = {i.name: i.type.tensor_type.elem_type for i in proto.graph.input}
    assert types == {"size": onnx.TensorProto.DOUBLE, "weight": onnx.TensorProto.DOUBLE,
                     "colour": onnx.TensorProto.STRING, "city": onnx.TensorProto.STRING}
    assert {(o.domain, o.version) for o in proto.opset_import} == {("", 17), ("ai.onnx.ml", 2)}
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["glassnet_preprocessing"])["target"]["classes"] == ["big", "medium", "small"]
    assert json.loads(props["training"])["target"] == "kind"


def test_without_preprocessing_the_network_alone(trained):
    table = TableModel.load(trained["kind"])
    proto = to_proto(table.model, preprocessing=False)
    assert [i.name for i in proto.graph.input] == ["input"]
    inputs, _ = table.features.transform(new_rows(50))
    np.testing.assert_allclose(serve(proto, {"input": inputs})["output"], table.model.predict(inputs), atol=TOLERANCE)


def test_a_column_named_like_an_output_is_refused(tmp_path):
    frame = make_table().rename(columns={"weight": "label"})
    frame.to_csv(tmp_path / "table.csv", index=False)
    cli.main(["train", str(tmp_path / "table.csv"), "--target", "kind", "--drop", "passed,grade,price",
              "--epochs", "1", "--quiet", "--out", str(tmp_path / "model.safetensors")])
    with pytest.raises(ExportError, match="the graph output 'label' has the name of an input"):
        to_proto(TableModel.load(tmp_path / "model.safetensors").model)


# -- glassnet export -----------------------------------------------------------------------------
def test_export_command_writes_next_to_the_model(trained, tmp_path, capsys):
    model = tmp_path / "kind.safetensors"
    model.write_bytes(trained["kind"].read_bytes())
    assert cli.main(["export", str(model)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'kind.onnx'}" in out
    assert "inputs: size float64 (batch, 1), weight float64 (batch, 1), colour string (batch, 1)" in out
    assert "outputs: probabilities float32 (batch, 3), label string (batch,)" in out
    onnx.checker.check_model(onnx.load(tmp_path / "kind.onnx"), full_check=True)


def test_export_command_options(trained, tmp_path, capsys):
    path = tmp_path / "price.onnx"
    assert cli.main(["export", str(trained["price"]), str(path), "--no-preprocessing", "--dtype", "float64",
                     "--opset", "13"]) == 0
    proto = onnx.load(path)
    assert [i.name for i in proto.graph.input] == ["input"] and proto.opset_import[0].version == 13
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert "outputs: output float64 (batch, 1)" in capsys.readouterr().out


def test_export_command_refuses_to_overwrite(trained, tmp_path, capsys):
    path = tmp_path / "kind.onnx"
    path.write_bytes(b"keep me")
    assert cli.main(["export", str(trained["kind"]), str(path)]) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert path.read_bytes() == b"keep me"
    assert cli.main(["export", str(trained["kind"]), str(path), "--force"]) == 0
    onnx.checker.check_model(onnx.load(path), full_check=True)


@pytest.mark.parametrize("args, message", [
    (["missing.safetensors"], "No such file or directory: missing.safetensors"),
    (["{kind}", "{folder}/no/such/folder/x.onnx"], "the folder .* does not exist"),
    (["{kind}", "{folder}/x.onnx", "--opset", "12"], "opset must be an integer from 13"),
    (["{table}"], "not a model file|not a valid safetensors file"),
])
def test_export_command_errors(trained, tmp_path, capsys, args, message):
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    args = [a.format(kind=trained["kind"], folder=tmp_path, table=tmp_path / "table.csv") for a in args]
    assert cli.main(["export", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("glassnet: error: ") and len(err.strip().splitlines()) == 1
    assert re.search(message, err)


def test_a_model_with_a_date_column_is_refused_naming_it(tmp_path):
    frame = make_table().assign(sold=pd.date_range("2020-01-01", periods=300, freq="D").astype(str))
    frame.to_csv(tmp_path / "dated.csv", index=False)
    cli.main(["train", str(tmp_path / "dated.csv"), "--target", "kind", "--drop", "passed,grade,price",
              "--epochs", "1", "--quiet", "--out", str(tmp_path / "model.safetensors")])
    with pytest.raises(ExportError, match="the date column 'sold' cannot be exported"):
        to_proto(TableModel.load(tmp_path / "model.safetensors").model)


def test_capped_categories_export_with_their_other_input(tmp_path):
    frame = make_table().assign(shop=[f"s{i % 120}" for i in range(300)])
    frame.to_csv(tmp_path / "shops.csv", index=False)
    cli.main(["train", str(tmp_path / "shops.csv"), "--target", "price", "--drop", "kind,passed,grade",
              "--epochs", "2", "--quiet", "--out", str(tmp_path / "model.safetensors")])
    table = TableModel.load(tmp_path / "model.safetensors")
    assert table.features.columns[-1]["other"] == 20
    rows = make_table(50, seed=1).assign(shop=[f"s{i}" for i in range(100, 150)])  # rare, unseen: (other)
    expected = table.predict(rows)[0]
    outputs = serve(to_proto(table.model), feeds(table, rows))
    np.testing.assert_allclose(outputs["prediction"], expected, rtol=TOLERANCE, atol=TOLERANCE * 1000)
