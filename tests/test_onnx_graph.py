"""ONNX export of a graph model (``gn.Model``): one graph input per model input and one output per
model output, by name, equal to ``model.predict`` under ONNX Runtime; merge layers, shared layers
(converted once per call, their weights stored once) and outputs that other layers also read."""
import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import glassnet as gn  # noqa: E402
from glassnet import layers  # noqa: E402
from glassnet.errors import ExportError  # noqa: E402
from glassnet.onnx import export, to_proto  # noqa: E402

RTOL = 1e-5  # float32, as the issue asks
ATOL = 1e-6  # for values near zero, where a relative tolerance means nothing


def session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def serve(proto, feeds):
    """The graph's outputs by name, for ``feeds`` (a dict by input name)."""
    run = session(proto)
    return dict(zip([o.name for o in run.get_outputs()], run.run(None, feeds)))


def as_list(predictions):
    return predictions if isinstance(predictions, list) else [predictions]


def assert_matches_predict(model, proto, feeds, rtol=RTOL, atol=ATOL):
    """Every graph output equals ``model.predict`` on the same inputs (given to it as a dict)."""
    outputs = serve(proto, feeds)
    assert list(outputs) == model.output_names
    for name, expected in zip(model.output_names, as_list(model.predict(feeds))):
        assert outputs[name].shape == expected.shape and outputs[name].dtype == expected.dtype, name
        np.testing.assert_allclose(outputs[name], expected, rtol=rtol, atol=atol, err_msg=name)


def dims(value):
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def elem_type(value):
    return value.type.tensor_type.elem_type


# -- the issue's example ---------------------------------------------------------------------------
def table(n=256, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    numeric = (rng.standard_normal((n, 12)) * 2 + 1).astype(dtype)
    city = rng.integers(0, 50, (n, 1))
    price = (numeric[:, :1] * 2 + city / 50).astype(dtype)
    churn = (numeric[:, 1:2] + (city % 3 == 0) > 0.5).astype(dtype)
    return {"numeric": numeric, "city": city}, {"price": price, "churn": churn}


def issue_model(dtype="float32", seed=0):
    """Two inputs, BatchNorm, a residual Add, LayerNorm, an Embedding, two heads."""
    numeric = gn.Input((12,), name="numeric")
    city = gn.Input((1,), dtype="int64", name="city")
    x = layers.Dense(16, use_bias=False)(numeric)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    h = layers.Dense(16, activation="relu")(x)
    x = layers.Add()([x, h])
    x = layers.LayerNormalization()(x)
    e = layers.Flatten()(layers.Embedding(50, 4)(city))
    x = layers.Concatenate()([x, e])
    price = layers.Dense(1, name="price")(x)
    churn = layers.Dense(1, activation="sigmoid", name="churn")(x)
    return gn.Model(inputs=[numeric, city], outputs=[price, churn], seed=seed, dtype=dtype)


def trained_issue_model(dtype="float32"):
    """The issue's model after a few steps of Adam, so that BatchNorm's moving statistics (and
    every weight) are no longer the initial ones."""
    x, y = table(dtype=dtype)
    model = issue_model(dtype)
    model.compile(optimizer="adam", loss={"price": "mse", "churn": "binary_crossentropy"})
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    batch_norm = model.get_layer("batchnormalization")
    assert not np.allclose(batch_norm.moving_mean.value, 0) and not np.allclose(batch_norm.moving_variance.value, 1)
    return model


@pytest.fixture(scope="module")
def issue32():
    return trained_issue_model("float32")


@pytest.mark.parametrize("batch", [1, 1000])
def test_issue_model_outputs_equal_predict(issue32, batch):
    x, _ = table(batch, seed=1)
    proto = to_proto(issue32)
    assert_matches_predict(issue32, proto, x)
    churn = serve(proto, x)["churn"]
    assert ((churn > 0) & (churn < 1)).all(), "the sigmoid head gives probabilities"


def test_issue_model_graph_inputs_and_outputs(issue32):
    graph = to_proto(issue32).graph
    assert [(i.name, elem_type(i), dims(i)) for i in graph.input] == [
        ("numeric", onnx.TensorProto.FLOAT, ["batch", 12]), ("city", onnx.TensorProto.INT64, ["batch", 1])]
    assert [(o.name, elem_type(o), dims(o)) for o in graph.output] == [
        ("price", onnx.TensorProto.FLOAT, ["batch", 1]), ("churn", onnx.TensorProto.FLOAT, ["batch", 1])]
    ops = [node.op_type for node in graph.node]
    assert ops.count("Concat") == 1 and "Gather" in ops and ops[-1] == "Sigmoid"
    weights = {init.name for init in graph.initializer}
    assert {p.name for p in issue32.parameters() if "batchnormalization" not in p.name} <= weights
    assert len(weights) == len(graph.initializer)


def test_issue_model_exports_as_float64():
    model = trained_issue_model("float64")
    proto = to_proto(model)
    assert [elem_type(i) for i in proto.graph.input] == [onnx.TensorProto.DOUBLE, onnx.TensorProto.INT64]
    assert [elem_type(o) for o in proto.graph.output] == [onnx.TensorProto.DOUBLE] * 2
    x, _ = table(300, seed=2, dtype=np.float64)
    assert_matches_predict(model, proto, x, rtol=1e-12, atol=1e-13)
    x32 = {"numeric": x["numeric"].astype(np.float32), "city": x["city"]}
    outputs = serve(to_proto(model, dtype="float32"), x32)
    for name, expected in zip(model.output_names, model.predict(x)):
        np.testing.assert_allclose(outputs[name], expected, rtol=1e-4, atol=1e-5)


def test_file_metadata_rebuilds_the_graph(issue32, tmp_path):
    path = tmp_path / "model.onnx"
    written = issue32.to_onnx(path)
    loaded = onnx.load(path)
    assert loaded == written
    onnx.checker.check_model(loaded, full_check=True)
    props = {p.key: p.value for p in loaded.metadata_props}
    assert props["glassnet_version"] == gn.__version__
    rebuilt = gn.Model.from_config(json.loads(props["glassnet_model"]))
    assert rebuilt.get_config() == issue32.get_config()


def test_inputs_fed_by_name_in_any_order_and_ids_of_any_integer_type(issue32):
    x, _ = table(40, seed=3)
    feeds = {"city": x["city"].astype(np.int64), "numeric": x["numeric"]}  # a dict, keys in another order
    outputs = serve(to_proto(issue32), feeds)
    for name, expected in zip(["price", "churn"], issue32.predict([x["numeric"], x["city"].astype(np.int32)])):
        np.testing.assert_allclose(outputs[name], expected, rtol=RTOL, atol=ATOL)


def test_int32_ids_input_is_int64_in_the_graph():
    ids = gn.Input((3,), dtype="int32", name="ids")
    model = gn.Model(ids, layers.Dense(2)(layers.Flatten()(layers.Embedding(10, 4)(ids))), seed=0)
    proto = to_proto(model)
    assert elem_type(proto.graph.input[0]) == onnx.TensorProto.INT64
    x = np.random.default_rng(0).integers(0, 10, (7, 3))
    np.testing.assert_allclose(serve(proto, {"ids": x})["dense"], model.predict(x), rtol=RTOL, atol=ATOL)


# -- shared layers ---------------------------------------------------------------------------------
def test_shared_layer_is_converted_per_call_with_its_weights_once():
    a, b = gn.Input((5,), name="a"), gn.Input((5,), name="b")
    shared = layers.Dense(4, activation="relu", name="shared")
    x = layers.Concatenate()([shared(a), shared(b)])
    model = gn.Model([a, b], layers.Dense(3, name="out")(x), seed=0)
    proto = to_proto(model)
    graph = proto.graph
    weights = [init.name for init in graph.initializer]
    assert weights == ["shared.weight", "shared.bias", "out.weight", "out.bias"]
    gemms = [node for node in graph.node if node.op_type == "Gemm"]
    assert [(list(n.input), n.name) for n in gemms[:2]] == [
        (["a", "shared.weight", "shared.bias"], "shared"), (["b", "shared.weight", "shared.bias"], "shared/call_2")]
    names = [node.name for node in graph.node]
    assert len(set(names)) == len(names) and "shared/call_2/relu" in names
    rng = np.random.default_rng(0)
    feeds = {"a": rng.standard_normal((50, 5)).astype(np.float32), "b": rng.standard_normal((50, 5)).astype(np.float32)}
    assert_matches_predict(model, proto, feeds)


def test_shared_normalizations_store_their_constants_once():
    """BatchNormalization's folded scale and shift and LayerNormalization's averaging column are
    made by the converter under the call's name: the second call finds the first's."""
    inputs = [gn.Input((6,), name=n) for n in ("left", "right", "third")]
    batch_norm, layer_norm, gelu = layers.BatchNormalization(), layers.LayerNormalization(), layers.GELU()
    branches = [gelu(layer_norm(batch_norm(x))) for x in inputs]
    model = gn.Model(inputs, layers.Dense(2, name="out")(layers.Average()(branches)), seed=0)
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(1)
    x = [rng.standard_normal((64, 6)).astype(np.float32) * 2 + 1 for _ in inputs]
    model.fit(x, rng.standard_normal((64, 2)).astype(np.float32), epochs=2, batch_size=16, verbose=0)
    graph = to_proto(model).graph
    weights = [init.name for init in graph.initializer]
    assert len(set(weights)) == len(weights) and not any("call_" in w for w in weights), weights
    single = to_proto(gn.Model(inputs[0], layers.GELU()(layers.LayerNormalization()(layers.BatchNormalization()(
        inputs[0]))), seed=0)).graph
    assert len(weights) == len(single.initializer) + 3  # + out.weight, out.bias, average/count
    assert {"batchnormalization/call_3", "layernormalization/call_3/normalized", "gelu/call_2"} <= \
        {node.name for node in graph.node}
    assert_matches_predict(model, to_proto(model), dict(zip(model.input_names, x)))


def test_shared_merge_layer():
    a, b, c = (gn.Input((3,), name=n) for n in "abc")
    add = layers.Add()
    y = layers.Multiply()([add([a, b]), add([b, c])])
    model = gn.Model([a, b, c], y, seed=0)
    rng = np.random.default_rng(2)
    feeds = {n: rng.standard_normal((20, 3)).astype(np.float32) for n in "abc"}
    proto = to_proto(model)
    assert [node.name for node in proto.graph.node] == ["add", "add/call_2", "multiply"]
    assert_matches_predict(model, proto, feeds)


# -- merge layers ----------------------------------------------------------------------------------
MERGES = [(layers.Add, 3), (layers.Subtract, 2), (layers.Multiply, 3), (layers.Average, 3),
          (layers.Maximum, 3), (layers.Minimum, 2), (layers.Concatenate, 3)]


@pytest.mark.parametrize("dtype, rtol, atol", [("float32", RTOL, ATOL), ("float64", 1e-12, 1e-13)])
def test_every_merge_layer(dtype, rtol, atol):
    """Each merge layer on the outputs of small Dense layers, each an output of the model."""
    a, b = gn.Input((4,), name="a"), gn.Input((4,), name="b")
    branches = [layers.Dense(4, activation="tanh")(a), layers.Dense(4)(b), layers.Dense(4, activation="relu")(a)]
    outputs = {cls.__name__.lower(): cls()(branches[:count]) for cls, count in MERGES}
    outputs["concatenate_axis1"] = layers.Concatenate(axis=1)([branches[0], branches[2]])
    model = gn.Model([a, b], outputs, seed=0, dtype=dtype)
    rng = np.random.default_rng(3)
    feeds = {n: (rng.standard_normal((100, 4)) * 2).astype(dtype) for n in "ab"}
    proto = to_proto(model)
    assert [o.name for o in proto.graph.output] == list(outputs)
    assert dims(proto.graph.output[-2]) == ["batch", 12]
    assert_matches_predict(model, proto, feeds, rtol=rtol, atol=atol)


def test_concatenate_of_matrices_along_either_axis():
    a, b = gn.Input((2, 3), name="a"), gn.Input((2, 5), name="b")
    c = gn.Input((4, 3), name="c")
    rows = layers.Concatenate(axis=1)([a, c])
    columns = layers.Concatenate(axis=-1)([a, b])
    model = gn.Model([a, b, c], {"rows": layers.Flatten()(rows), "columns": columns}, seed=0)
    rng = np.random.default_rng(4)
    feeds = {"a": rng.standard_normal((9, 2, 3)), "b": rng.standard_normal((9, 2, 5)),
             "c": rng.standard_normal((9, 4, 3))}
    feeds = {k: v.astype(np.float32) for k, v in feeds.items()}
    assert_matches_predict(model, to_proto(model), feeds)


# -- outputs -----------------------------------------------------------------------------------------
def test_an_output_also_read_by_another_layer():
    x = gn.Input((6,), name="features")
    hidden = layers.Dense(8, activation="relu", name="hidden")(x)
    embedding = layers.Dense(5, name="embedding")(hidden)
    score = layers.Dense(3, activation="softmax", name="score")(layers.Activation("tanh")(embedding))
    model = gn.Model(x, [hidden, embedding, score], seed=0)
    proto = to_proto(model)
    graph = proto.graph
    assert [o.name for o in graph.output] == ["hidden", "embedding", "score"]
    readers = [node.op_type for node in graph.node if "hidden" in node.input]
    assert readers == ["Gemm"], "the renamed tensor is the one the next layer reads"
    assert [node.name for node in graph.node] == ["hidden_1", "hidden", "embedding", "activation", "score_1", "score"]
    feeds = {"features": np.random.default_rng(5).standard_normal((30, 6)).astype(np.float32)}
    assert_matches_predict(model, proto, feeds)
    outputs = serve(proto, feeds)
    np.testing.assert_allclose(outputs["score"].sum(axis=1), 1, rtol=1e-6)


def test_outputs_that_are_an_input_the_same_tensor_twice_or_a_dropout():
    x = gn.Input((4,), name="x")
    h = layers.Dense(4, name="h")(x)
    model = gn.Model(x, {"copy_of_x": x, "first": h, "second": h, "dropped": layers.Dropout(0.5)(h),
                         "x_dropped": layers.Dropout(0.5)(x)}, seed=0)
    proto = to_proto(model)
    assert [o.name for o in proto.graph.output] == ["copy_of_x", "first", "second", "dropped", "x_dropped"]
    feeds = {"x": np.random.default_rng(6).standard_normal((10, 4)).astype(np.float32)}
    assert_matches_predict(model, proto, feeds)
    np.testing.assert_array_equal(serve(proto, feeds)["copy_of_x"], feeds["x"])


def test_an_input_given_back_as_an_output_under_its_own_name():
    x = gn.Input((4,), name="x")
    model = gn.Model(x, [x, layers.Dense(2, name="y")(x)], seed=0)
    proto = to_proto(model)
    assert [i.name for i in proto.graph.input] == ["x"] and [o.name for o in proto.graph.output] == ["x", "y"]
    feeds = {"x": np.random.default_rng(7).standard_normal((3, 4)).astype(np.float32)}
    assert_matches_predict(model, proto, feeds)


def test_outputs_named_by_a_dict_swap_layer_names():
    """Output names are kept for the outputs before any layer is converted, so an output may take
    the name of another layer."""
    x = gn.Input((3,), name="x")
    a, b = layers.Dense(2, name="a")(x), layers.Dense(2, activation="sigmoid", name="b")(x)
    model = gn.Model(x, {"b": a, "a": b}, seed=0)
    proto = to_proto(model)
    assert [o.name for o in proto.graph.output] == ["b", "a"]
    feeds = {"x": np.random.default_rng(8).standard_normal((5, 3)).astype(np.float32)}
    assert_matches_predict(model, proto, feeds)


def test_default_names_of_a_one_input_one_output_model():
    x = gn.Input((3,))
    model = gn.Model(x, layers.Dense(2, activation="softmax")(layers.Dense(4)(x)), seed=0)
    graph = to_proto(model).graph
    assert [i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == ["dense_1"]
    x = np.random.default_rng(9).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(serve(to_proto(model), {"input": x})["dense_1"], model.predict(x), rtol=RTOL)


def test_sequential_keeps_input_and_output():
    model = gn.Sequential([layers.Input((3,)), layers.Dense(4, name="input"), layers.Dense(2, name="output")], seed=0)
    graph = to_proto(model).graph
    assert [i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == ["output"]
    assert [node.name for node in graph.node] == ["input_1", "output"]


# -- what is refused -------------------------------------------------------------------------------
class Square(layers.Layer):
    def forward(self, x, training=False):
        return x * x, lambda dy: 2 * x * dy


def test_a_layer_without_a_converter_is_named(tmp_path):
    a, b = gn.Input((3,), name="a"), gn.Input((3,), name="b")
    model = gn.Model([a, b], layers.Add()([Square()(a), b]), seed=0)
    path = tmp_path / "model.onnx"
    with pytest.raises(ExportError, match=r"layer 'square' \(Square\) has no ONNX equivalent.*register\(Square"):
        export(model, path)
    assert not path.exists()


def test_an_output_named_as_an_input_is_refused():
    x = gn.Input((3,), name="price")
    model = gn.Model(x, layers.Dense(1, name="price")(x), seed=0)
    with pytest.raises(ExportError, match="the graph output 'price' has the name of an input"):
        to_proto(model)


def table_preprocessing(frame, target):
    from glassnet.tabular.preprocessing import TablePreprocessor, TargetEncoder
    return {"features": TablePreprocessor.fit(frame).get_config(),
            "target": TargetEncoder.fit(target, task="regression").get_config()}


def test_table_preprocessing_with_one_input_and_one_output_exports():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(10)
    frame = pd.DataFrame({"size": rng.normal(5, 2, 50), "colour": rng.choice(["red", "blue"], 50)})
    x = gn.Input((3,))
    h = layers.Dense(3, activation="relu")(x)
    model = gn.Model(x, layers.Dense(1)(layers.Add()([x, h])), seed=0)
    model.preprocessing = table_preprocessing(frame, pd.Series(rng.normal(0, 1, 50), name="price"))
    proto = to_proto(model)
    assert [o.name for o in proto.graph.output] == ["prediction"]
    feeds = {"size": frame[["size"]].to_numpy(np.float64), "colour": frame[["colour"]].to_numpy(object)}
    from glassnet.tabular.preprocessing import TablePreprocessor
    features, _ = TablePreprocessor.from_config(model.preprocessing["features"]).transform(frame)
    np.testing.assert_allclose(serve(proto, feeds)["prediction"], model.predict(features)[:, 0], rtol=RTOL, atol=ATOL)
    network_alone = to_proto(model, preprocessing=False)
    assert [i.name for i in network_alone.graph.input] == ["input"]


def test_table_preprocessing_of_a_model_the_table_stage_cannot_feed_is_refused(issue32):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"size": np.arange(20.0)})
    model = issue_model()
    model.preprocessing = table_preprocessing(frame, pd.Series(np.arange(20.0), name="price"))
    with pytest.raises(ExportError, match=r"model 'model' has table preprocessing, but it has 2 inputs and 2 "
                                          r"outputs: the table stage makes 1 network input.*preprocessing=False"):
        to_proto(model)
    assert [i.name for i in to_proto(model, preprocessing=False).graph.input] == ["numeric", "city"]
    ids = gn.Input((1,), dtype="int64")
    embedded = gn.Model(ids, layers.Dense(1)(layers.Flatten()(layers.Embedding(20, 2)(ids))), seed=0)
    embedded.preprocessing = model.preprocessing
    with pytest.raises(ExportError, match="its input 'input' takes Embedding ids"):
        to_proto(embedded)


def test_a_graph_of_thousands_of_outputs_exports_each_by_its_name(tmp_path):
    """Each output renames its tensor through the graph's indexes of producers and readers, not a
    scan of every node (3,000 outputs took 15 s that way; this runs in a fraction of a second)."""
    x = gn.Input((4,), name="x")
    hidden = layers.Dense(8, activation="relu")(x)
    model = gn.Model(x, [layers.Dense(1, name=f"out{i}")(hidden) for i in range(2000)], seed=0)
    path = tmp_path / "many.onnx"
    model.to_onnx(path)
    session = ort.InferenceSession(str(path))
    assert [o.name for o in session.get_outputs()] == model.output_names
    xs = np.random.default_rng(0).random((3, 4)).astype(np.float32)
    for got, expected in zip(session.run(None, {"x": xs}), model.predict(xs)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
