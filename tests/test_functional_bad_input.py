"""Bad input to graph models (``gn.Model``), what ``tests/fuzzing`` found: crafted files' wiring
and per-output compile settings, files as large as a file may be (100,000 nodes, inputs or
outputs: bounded time, no allocation the file does not pay for), and ids that reach an Embedding
through another layer. Each must be refused with a GlassnetError that names what was expected
and what came, or work.

Each test pins a fix the fuzzing found.
"""
import json
import time

import numpy as np
import pytest

import glassnet as gn
from glassnet.errors import ConfigurationError, ModelFileError
from glassnet.io import model_file
from tests.fuzzing import TooSlow, time_limit


def graph_model():
    """Two inputs (int64 ids into an Embedding), a layer called twice, a residual Add, a
    Concatenate, two outputs with a loss each. Its nodes, in order: 0 shared(numeric), 1 mix,
    2 shared(mix), 3 residual Add, 4 embedding(city), 5 flatten, 6 concatenate, 7 price, 8 label."""
    numeric, city = gn.Input((4,), name="numeric"), gn.Input((2,), dtype="int64", name="city")
    shared = gn.layers.Dense(4, activation="tanh", name="shared")
    x = gn.layers.Add(name="residual")([shared(numeric), shared(gn.layers.Dense(4, name="mix")(numeric))])
    e = gn.layers.Flatten()(gn.layers.Embedding(10, 3)(city))
    x = gn.layers.Concatenate()([x, e])
    model = gn.Model([numeric, city], [gn.layers.Dense(1, name="price")(x),
                                       gn.layers.Dense(3, activation="softmax", name="label")(x)], seed=0)
    model.compile("adam", loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[1.0, 0.5],
                  metrics=[[], ["accuracy"]])
    return model


def data(n=8):
    rng = np.random.default_rng(0)
    return ({"numeric": rng.standard_normal((n, 4)).astype(np.float32), "city": rng.integers(0, 10, (n, 2))},
            {"price": rng.standard_normal((n, 1)).astype(np.float32), "label": rng.integers(0, 3, n)})


def crafted(path, change, model=None):
    """``path``: the graph model's file after ``change(model_field, compile_field)``, its
    checksum recomputed (a checksum is not a signature)."""
    (model or graph_model()).save(path, include_optimizer=False)
    file = model_file.read(path)
    fields = json.loads(json.dumps(file.fields))
    change(fields["model"], fields["compile"])
    model_file.write(path, {f"params/{k}": v for k, v in file.group("params").items()}, fields, True)
    return path


def within(seconds, run):
    """``run()``, failing the test if it takes more than ``seconds``."""
    try:
        with time_limit(seconds):
            return run()
    except TooSlow:
        pytest.fail(f"took more than {seconds} s")


def _set(where, key, value):
    where[key] = value


@pytest.mark.parametrize("change, message", [
    (lambda m, c: _set(m["nodes"][3], "inputs", [["node", 0], ["node", 3]]), r"model.nodes\[3\].inputs\[1\]\[1\] must be an integer in \[0, 2\], got 3"),
    (lambda m, c: _set(m["nodes"][2], "inputs", [["node", 5]]), r"model.nodes\[2\].inputs\[0\]\[1\] must be an integer in \[0, 1\], got 5"),
    (lambda m, c: _set(m["nodes"][4], "inputs", [["input", 2]]), r"model.nodes\[4\].inputs\[0\]\[1\] must be an integer in \[0, 1\], got 2"),
    (lambda m, c: _set(m["nodes"][4], "inputs", [["layer", 0]]), r"model.nodes\[4\].inputs\[0\] must be \['input', i\] or \['node', j\], got \['layer', 0\]"),
    (lambda m, c: _set(m["nodes"][0], "layer", -1), r"model.nodes\[0\].layer must be an integer in \[0, 7\], got -1"),
    (lambda m, c: _set(m["nodes"][3], "as_list", False), r"model.nodes\[3\].inputs must be one tensor, or a list of them with as_list"),
    (lambda m, c: _set(m["nodes"][7], "as_list", True), r"Dense|price"),
    (lambda m, c: m["layers"].append({"class_name": "ReLU", "config": {"name": "unused"}}), "model.nodes must be every layer used by a node"),
    (lambda m, c: _set(m, "output_names", ["price", "price"]), r"model.output_names must be one distinct name per output, got \['price', 'price'\]"),
    (lambda m, c: _set(m["inputs"][0], "shape", [2 ** 20, 2 ** 21]), r"model.inputs\[0\].shape must be 1 to 8 sizes of at most"),
    (lambda m, c: _set(m["inputs"][1], "dtype", "int8"), r"model.inputs\[1\].dtype must be null, 'float32', 'float64', 'int32' or 'int64', got 'int8'"),
    (lambda m, c: _set(c, "loss", c["loss"][:1]), r"compile.loss_weights must be a list of 1 items, got \[1.0, 0.5\]"),
    (lambda m, c: _set(c, "loss_weights", [1.0, -0.5]), r"compile.loss_weights\[1\] must be a finite number in \[0, inf\], got -0.5"),
    (lambda m, c: _set(c, "loss_weights", [float("nan"), 1.0]), r"compile.loss_weights\[0\] must be a finite number in \[0, inf\], got nan"),
    (lambda m, c: _set(c, "loss_weights", ["1", 1.0]), r"compile.loss_weights\[0\] must be a finite number in \[0, inf\], got '1'"),
    (lambda m, c: _set(c, "metrics", [["accuracy"]]), r"compile.metrics must be a list of 2 items, got \[\['accuracy'\]\]"),
    (lambda m, c: _set(c, "metrics", [[], "accuracy"]), r"compile.metrics\[1\] must be a list, got 'accuracy'"),
])
def test_crafted_wiring_and_per_output_settings_are_refused_naming_the_field(tmp_path, change, message):
    path = crafted(tmp_path / "m.safetensors", change)
    with pytest.raises(ModelFileError, match=message):
        gn.load(path)


def test_sequential_load_of_a_graph_file_says_to_use_gn_load(tmp_path):
    path = tmp_path / "m.safetensors"
    graph_model().save(path)
    with pytest.raises(ModelFileError, match="holds a Model, not a Sequential: load it with gn.load"):
        gn.Sequential.load(path)


def chain(m, length):
    """``length`` ReLU nodes after the residual Add (node 3), which the Concatenate then reads."""
    m["layers"].append({"class_name": "ReLU", "config": {"name": "deep"}})
    for node in m["nodes"][4:]:
        node["inputs"] = [["node", j + length] if kind == "node" and j > 3 else
                          ["node", 3 + length] if [kind, j] == ["node", 3] else [kind, j] for kind, j in node["inputs"]]
    m["outputs"] = [["node", j + length] for _, j in m["outputs"]]
    m["nodes"][4:4] = [{"layer": len(m["layers"]) - 1, "inputs": [["node", 3 + k]], "as_list": False}
                       for k in range(length)]


def test_a_20000_node_chain_loads_predicts_and_trains_in_bounded_time(tmp_path):
    """No recursion and no work quadratic in the nodes: a 20,000-node chain (a 100,000-node one
    is in the long fuzzing runs) loads and trains in seconds, and gives what the graph without
    the chain gives (ReLU after tanh... of an Add can change numbers, so the outputs are compared
    with the same file's model built twice)."""
    path = crafted(tmp_path / "m.safetensors", lambda m, c: chain(m, 20_000))
    x, y = data()
    model = within(30, lambda: gn.load(path))
    assert len(model._nodes) == 20_009
    within(30, lambda: model.fit(x, y, epochs=1, verbose=0))
    assert np.isfinite(model.predict(x)[0]).all()


# -- fixes proposed for other files ---------------------------------------------------------------
def ids_through_a_relu(m, c):
    """A ReLU reads the ids and the Embedding reads the ReLU: ids that a layer computed."""
    m["layers"].append({"class_name": "ReLU", "config": {"name": "ids_relu"}})
    for node in m["nodes"][4:]:
        node["inputs"] = [["node", j + 1] if kind == "node" and j >= 4 else [kind, j] for kind, j in node["inputs"]]
    m["outputs"] = [["node", j + 1] for _, j in m["outputs"]]
    m["nodes"].insert(4, {"layer": len(m["layers"]) - 1, "inputs": [["input", 1]], "as_list": False})
    m["nodes"][5]["inputs"] = [["node", 4]]


def test_a_file_whose_embedding_reads_a_layer_is_refused(tmp_path):
    path = crafted(tmp_path / "m.safetensors", ids_through_a_relu)
    with pytest.raises(ModelFileError, match=r"layer 'embedding' \(Embedding\) takes integer ids.*the output of layer "
                                             r"'ids_relu'"):
        gn.load(path)


def test_a_file_whose_embedding_reads_an_input_of_numbers_is_refused(tmp_path):
    path = crafted(tmp_path / "m.safetensors", lambda m, c: _set(m["inputs"][1], "dtype", "float32"))
    with pytest.raises(ModelFileError, match=r"layer 'embedding' \(Embedding\) takes integer ids.*input 'city'"):
        gn.load(path)


def test_two_embeddings_of_different_sizes_can_share_an_id_input():
    ids = gn.Input((2,), dtype="int64", name="ids")
    small, large = gn.layers.Embedding(5, 2), gn.layers.Embedding(50, 2)
    model = gn.Model(ids, gn.layers.Concatenate()([gn.layers.Flatten()(small(ids)), gn.layers.Flatten()(large(ids))]))
    assert model.predict(np.array([[0, 4]])).shape == (1, 8)
    with pytest.raises(gn.DataError, match=r"has 7 at index \(0, 1\), which is not an id.*input_dim=5"):
        model.predict(np.array([[0, 7]]))


def many_outputs(m, c, count=40_000):
    m["outputs"] += [m["outputs"][0]] * count
    m["output_names"] += [f"out_{k}" for k in range(count)]
    c.update(loss=c["loss"] + [c["loss"][0]] * count, loss_weights=c["loss_weights"] + [1.0] * count,
             metrics=c["metrics"] + [[]] * count)


def test_a_file_of_40000_outputs_loads_in_bounded_time(tmp_path):
    """About 2 s on a quiet 2-core machine once linear (the limit leaves room for a busy one)."""
    path = crafted(tmp_path / "m.safetensors", many_outputs)
    assert len(within(12, lambda: gn.load(path)).outputs) == 40_002


def add_output(m, c, name):
    """One more output, named ``name``, reading the last node, with an mse loss."""
    m["outputs"].append(["node", len(m["nodes"]) - 1])
    m["output_names"].append(name)
    c.update(loss=c["loss"] + [c["loss"][0]], loss_weights=c["loss_weights"] + [1.0], metrics=c["metrics"] + [[]])


def many_inputs(m, c, count=40_000):
    m["inputs"] += [{"name": f"in_{k}", "shape": [1], "dtype": None} for k in range(count)]
    m["layers"].append({"class_name": "Concatenate", "config": {"name": "wide"}})
    m["nodes"].append({"layer": len(m["layers"]) - 1, "inputs": [["input", 2 + k] for k in range(count)],
                       "as_list": True})
    add_output(m, c, "wide")


def test_a_file_of_40000_inputs_loads_in_bounded_time(tmp_path):
    """About 2 s on a quiet 2-core machine once linear."""
    path = crafted(tmp_path / "m.safetensors", many_inputs)
    assert len(within(12, lambda: gn.load(path)).inputs) == 40_002


def amplifier(m, c):
    """A Concatenate of 100,000 copies of the numeric input, and one of 100,000 copies of that:
    no weights, 4 * 10**10 numbers per example."""
    for k, read in enumerate([["input", 0], ["node", len(m["nodes"])]]):
        m["layers"].append({"class_name": "Concatenate", "config": {"name": f"amplifier_{k}"}})
        m["nodes"].append({"layer": len(m["layers"]) - 1, "inputs": [read] * 100_000, "as_list": True})
    add_output(m, c, "amplified")


def test_a_file_whose_activations_cannot_fit_is_refused_at_load(tmp_path):
    path = crafted(tmp_path / "m.safetensors", amplifier)
    with pytest.raises(ModelFileError, match="activations"):
        gn.load(path)


@pytest.mark.parametrize("value", [3, 1.5, True])
def test_a_compile_field_that_is_not_an_object_is_named(tmp_path, value):
    path = tmp_path / "m.safetensors"
    graph_model().save(path)
    file = model_file.read(path)
    model_file.write(path, {f"params/{k}": v for k, v in file.group("params").items()},
                     {**file.fields, "compile": value}, True)
    with pytest.raises(ModelFileError, match="compile must be an object"):
        gn.load(path)


def test_a_loss_weight_beyond_a_float_is_named(tmp_path):
    path = crafted(tmp_path / "m.safetensors", lambda m, c: _set(c, "loss_weights", [10 ** 400, 1.0]))
    with pytest.raises(ModelFileError, match=r"compile.loss_weights\[0\] must be a finite number"):
        gn.load(path)


def test_a_backup_of_other_wiring_does_not_resume(tmp_path):
    x, y = data()
    backup = tmp_path / "backup"
    graph_model().fit(x, y, epochs=1, verbose=0,
                      callbacks=[gn.callbacks.BackupAndRestore(backup, delete_checkpoint=False)])
    path = backup / gn.callbacks.BackupAndRestore.FILENAME
    file = model_file.read(path)
    fields = json.loads(json.dumps(file.fields))
    fields["model"]["nodes"][2]["inputs"] = [["node", 0]]  # shared(shared(numeric)) instead of shared(mix)
    model_file.write(path, file.tensors, fields, True)
    with pytest.raises(ModelFileError, match="different architecture"):
        graph_model().fit(x, y, epochs=2, verbose=0, callbacks=[gn.callbacks.BackupAndRestore(backup)])


def test_a_merge_of_tensors_and_arrays_is_refused_naming_the_layer():
    with pytest.raises(ConfigurationError, match=r"Add layer 'add'.*symbolic"):
        gn.layers.Add()([gn.Input((3,)), np.ones((4, 3))])


def test_time_limit_interrupts():
    """The helper above stops a run that takes too long (SIGALRM)."""
    start = time.perf_counter()
    with pytest.raises(pytest.fail.Exception, match="took more than 0.2 s"):
        within(0.2, lambda: time.sleep(5))
    assert time.perf_counter() - start < 2
