"""ONNX export: the exported graph passes the full ONNX check and gives model.predict's outputs
under ONNX Runtime for every layer and activation, batch sizes 1 and 1000, and real data."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import glassnet as gn  # noqa: E402
from glassnet import layers  # noqa: E402
from glassnet.errors import ExportError, MissingExtraError  # noqa: E402
from glassnet.onnx import DEFAULT_OPSET, MIN_OPSET, export, register, to_proto  # noqa: E402
from glassnet.onnx.layers import CONVERTERS  # noqa: E402

ACTIVATIONS = ["linear", "relu", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "tanh", "softmax",
               "softplus", "swish", "silu", layers.GELU(approximate=True), layers.LeakyReLU(0.01),
               layers.ELU(alpha=0.5)]
TOLERANCE = 1e-5  # float32, as the issue asks


def session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def run(proto, x):
    return session(proto).run(None, {"input": x})[0]


def inputs(n, shape=(6,), dtype=np.float32, seed=0):
    """Standard normal inputs times 3, so that saturating activations see their flat regions."""
    return (np.random.default_rng(seed).standard_normal((n, *shape)) * 3).astype(dtype)


def network(activation, head="softmax", dtype="float32", seed=0):
    return gn.Sequential([layers.Input((6,)), layers.Dense(16, activation=activation), layers.Dropout(0.5),
                          layers.Dense(12, activation=activation), layers.Dense(4, activation=head)],
                         seed=seed, dtype=dtype)


def name_of(activation):
    return activation if isinstance(activation, str) else repr(activation.get_config())


# -- every layer and activation matches predict --------------------------------------------------
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=name_of)
@pytest.mark.parametrize("head", ["softmax", "sigmoid", None])
@pytest.mark.parametrize("batch", [1, 1000])
def test_outputs_match_predict(activation, head, batch):
    model = network(activation, head)
    x = inputs(batch)
    outputs = run(to_proto(model), x)
    assert outputs.shape == (batch, 4) and outputs.dtype == np.float32
    np.testing.assert_allclose(outputs, model.predict(x), rtol=0, atol=TOLERANCE)


def test_activation_layers_flatten_and_no_bias():
    model = gn.Sequential([layers.Input((2, 3, 4)), layers.Flatten(), layers.Dense(10, use_bias=False),
                           layers.ReLU(), layers.Dense(8), layers.Tanh(), layers.Dropout(0.3),
                           layers.Dense(3), layers.Softmax()], seed=0)
    x = inputs(50, (2, 3, 4))
    proto = to_proto(model)
    assert [node.op_type for node in proto.graph.node] == [
        "Flatten", "MatMul", "Relu", "Gemm", "Tanh", "Gemm", "Softmax"]
    np.testing.assert_allclose(run(proto, x), model.predict(x), rtol=0, atol=TOLERANCE)


def test_trained_on_digits_matches_predict():
    datasets = pytest.importorskip("sklearn.datasets")
    x, y = datasets.load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = (x[order] / 16).astype(np.float32), y[order]
    model = gn.Sequential([layers.Dense(64, activation="relu"), layers.Dropout(0.2),
                           layers.Dense(10, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1500], y[:1500], epochs=20, verbose=0)
    test = x[1500:]
    outputs, expected = run(to_proto(model), test), model.predict(test)
    np.testing.assert_allclose(outputs, expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_array_equal(outputs.argmax(1), expected.argmax(1))
    assert (outputs.argmax(1) == y[1500:]).mean() > 0.95
    for row in (0, 296):
        np.testing.assert_allclose(run(to_proto(model), test[row:row + 1]), expected[row:row + 1], atol=TOLERANCE)


def test_scikit_learn_estimator_exports():
    sklearn_estimators = pytest.importorskip("glassnet.sklearn")
    x, y = inputs(120), np.arange(120) % 3
    clf = sklearn_estimators.GlassnetClassifier(hidden_layer_sizes=(8,), epochs=3, random_state=0).fit(x, y)
    proto = to_proto(clf.model_)
    np.testing.assert_allclose(run(proto, x), clf.predict_proba(x), atol=TOLERANCE)
    saved = json.loads({p.key: p.value for p in proto.metadata_props}["sklearn"])
    assert saved["estimator"] == "GlassnetClassifier" and saved["fitted"]["classes_"]["values"] == [0, 1, 2]


# -- float64 -------------------------------------------------------------------------------------
# ONNX Runtime's CPU build has double kernels for these; Elu, Selu, Softplus and Erf (GELU) are float only.
DOUBLE_IN_ONNX_RUNTIME = ["linear", "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "swish"]


@pytest.mark.parametrize("activation", DOUBLE_IN_ONNX_RUNTIME)
def test_float64_model_exports_as_float64(activation):
    model = network(activation, dtype="float64")
    x = inputs(200, dtype=np.float64)
    proto = to_proto(model)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    np.testing.assert_allclose(run(proto, x), model.predict(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("activation", ["elu", "selu", "softplus", "gelu"])
def test_float64_model_exports_as_float32_on_request(activation):
    model = network(activation, dtype="float64")
    assert to_proto(model).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    x = inputs(200)
    np.testing.assert_allclose(run(to_proto(model, dtype="float32"), x), model.predict(x), rtol=0, atol=TOLERANCE)


# -- the file ------------------------------------------------------------------------------------
def test_file_passes_the_full_check_and_states_opset_and_batch_axis(tmp_path):
    model = network("relu")
    path = tmp_path / "model.onnx"
    returned = model.to_onnx(path)
    loaded = onnx.load(path)
    onnx.checker.check_model(loaded, full_check=True)
    assert loaded == returned
    assert [(o.domain, o.version) for o in loaded.opset_import] == [("", DEFAULT_OPSET)]
    assert loaded.producer_name == "glassnet" and loaded.producer_version == gn.__version__
    (graph_input,), (graph_output,) = loaded.graph.input, loaded.graph.output
    assert (graph_input.name, graph_output.name) == ("input", "output")
    assert [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim] == ["batch", 6]
    assert [d.dim_param or d.dim_value for d in graph_output.type.tensor_type.shape.dim] == ["batch", 4]
    assert os.listdir(tmp_path) == ["model.onnx"], "no temporary file is left behind"


def test_metadata_holds_the_architecture():
    model = network("gelu")
    props = {p.key: p.value for p in to_proto(model).metadata_props}
    assert props["glassnet_version"] == gn.__version__
    rebuilt = gn.Sequential.from_config(json.loads(props["glassnet_model"]))
    assert rebuilt.get_config() == model.get_config()


@pytest.mark.parametrize("opset", [MIN_OPSET, onnx.defs.onnx_opset_version()])
def test_other_opsets(opset):
    model = network("gelu")
    proto = to_proto(model, opset=opset)
    assert proto.opset_import[0].version == opset
    x = inputs(10)
    np.testing.assert_allclose(run(proto, x), model.predict(x), atol=TOLERANCE)


def test_weights_are_named_after_the_parameters():
    model = network("relu")
    names = {init.name for init in to_proto(model).graph.initializer}
    assert {p.name for p in model.parameters()} <= names


def test_an_export_that_fails_leaves_the_old_file(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"the good file")
    broken = gn.Sequential([layers.Input((3,)), Square()], seed=0)
    with pytest.raises(ExportError):
        export(broken, path)
    assert path.read_bytes() == b"the good file" and os.listdir(tmp_path) == ["model.onnx"]


# -- layers of your own --------------------------------------------------------------------------
class Square(layers.Layer):
    """``y = x * x``; ``dx = 2 x dy``."""

    def forward(self, x, training=False):
        return x * x, lambda dy: 2 * x * dy


class Cube(Square):
    """A subclass is not exported with its parent's converter."""

    def forward(self, x, training=False):
        return x ** 3, lambda dy: 3 * x * x * dy


def test_register_a_converter_for_a_layer_of_your_own(monkeypatch):
    monkeypatch.setitem(CONVERTERS, Square, None)
    register(Square, lambda graph, layer, x, name: graph.node("Mul", [x, x], name))
    model = gn.Sequential([layers.Input((3,)), layers.Dense(4), Square(), layers.Dense(2)], seed=0)
    x = inputs(20, (3,))
    np.testing.assert_allclose(run(to_proto(model), x), model.predict(x), atol=TOLERANCE)
    with pytest.raises(ExportError, match=r"layer 'cube' \(Cube\) has no ONNX equivalent"):
        to_proto(gn.Sequential([layers.Input((3,)), Cube()]))


# -- errors --------------------------------------------------------------------------------------
ERRORS = [
    ("custom_layer", lambda: to_proto(gn.Sequential([layers.Input((3,)), layers.Dense(4), Square()])),
     ExportError, r"layer 'square' \(Square\) has no ONNX equivalent.*Dense.*register\(Square"),
    ("custom_activation", lambda: to_proto(gn.Sequential([layers.Input((3,)), layers.Dense(4, activation=Square())])),
     ExportError, r"layer 'dense/square' \(Square\)"),
    ("unbuilt", lambda: to_proto(gn.Sequential([layers.Dense(4)])), gn.NotBuiltError, "build it"),
    ("opset_old", lambda: to_proto(network("relu"), opset=12), ExportError, "opset must be an integer from 13"),
    ("opset_text", lambda: to_proto(network("relu"), opset="17"), ExportError, "got '17'"),
    ("dtype", lambda: to_proto(network("relu"), dtype="float16"), ExportError, "'float32' or 'float64', got 'float16'"),
    ("register_not_a_layer", lambda: register(int, lambda *a: None), ExportError, "Layer subclass"),
    ("register_not_callable", lambda: register(Square, "Mul"), ExportError, "must be callable"),
    ("missing_folder", lambda: export(network("relu"), "/nonexistent/folder/model.onnx"), FileNotFoundError, "folder"),
]


@pytest.mark.parametrize("action, error, message", [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS])
def test_errors(action, error, message):
    with pytest.raises(error, match=message):
        action()


def test_export_errors_are_glassnet_value_errors():
    assert issubclass(ExportError, gn.GlassnetError) and issubclass(ExportError, ValueError)


def test_missing_onnx_names_the_extra(monkeypatch, tmp_path):
    for name in [m for m in sys.modules if m == "onnx" or m.startswith(("onnx.", "glassnet.onnx"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delattr(gn, "onnx", raising=False)
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes "import onnx" fail
    with pytest.raises(MissingExtraError, match=r"pip install 'glassnet\[onnx\]'"):
        network("relu").to_onnx(tmp_path / "model.onnx")
    assert not os.listdir(tmp_path)


def test_example_serves_digits_with_onnx_runtime():
    pytest.importorskip("sklearn")
    script = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "onnx_digits.py")
    result = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "same predicted digits: True" in result.stdout
    difference = float(result.stdout.split("model.predict over 450 images: ")[1].split()[0])
    assert difference < TOLERANCE
