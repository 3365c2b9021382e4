"""Fuzzing cases of the "files" kind: damaged and crafted model files through every entry point.

The originals (a plain model, one saved with its optimizer state, a training backup with callback
states, a ``glassnet train`` table model, a scikit-learn estimator, and a graph model, plain, with
its optimizer state and as a backup) are made once per process.
Each case changes one of them, either damaging its bytes (flipped bits, truncation, inserted or
deleted bytes, a forged header length) or crafting it (a JSON field changed structurally, a
tensor renamed, retyped, reshaped, added or dropped, a dtype glassnet does not read), with the
checksum recomputed: a checksum is not a signature. A graph model's file is crafted half the time
where its own mistakes lie (``GRAPH_CHANGES``: nodes that read later nodes or themselves,
references out of range, ``as_list`` lies, unused layers, duplicate names, huge shapes, thousands
of nodes, ids through another layer; loss, weight and metrics lists per output that do not fit),
and in long runs as large as a file may be (``LARGE_CHANGES``: 100,000 nodes, inputs or outputs,
a weightless Concatenate of Concatenates). Then it loads the file through one entry
point: ``gn.load`` and predict, ``gn.Sequential.load`` (a graph's file refused, naming
``gn.load``), the estimator's ``load`` and predict, a resume with ``BackupAndRestore``, a loaded
checkpoint trained on, or ``glassnet info``/``predict``/``export`` in this process. A case
returns "equal" (the same result as the original's), "works", or raises a ``GlassnetError``; a
command line that fails must say so in one line, exit status 1.
"""
import contextlib
import functools
import io
import json
import os
import tempfile

import numpy as np
import safetensors.numpy

import glassnet as gn
from glassnet import cli, model_fields
from glassnet.errors import ModelFileError
from glassnet.io import model_file

from . import Case

KIND = "files"
JUNK = [None, True, False, -1, 0, 1, 2 ** 63, 10 ** 30, -10 ** 30, 1.5, 1e308, -1e308, float("inf"),
        float("-inf"), float("nan"), "", "x", "²", "<U300000000", "BF16", [], {}, [1, 2], [[[[]]]],
        {"class_name": "Dense", "config": {}}, {"a": None}, [-1], [0], [10 ** 9], ["a", "b"]]


# -- the originals, made once per process -------------------------------------------------------
@functools.cache
def folder():
    return tempfile.mkdtemp(prefix="glassnet-fuzz-")


def data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 48)
    x = (rng.standard_normal((48, 4)) + np.eye(4)[y] * 2).astype(np.float32)
    return x, y


def network():
    model = gn.Sequential([gn.layers.Input((4,)), gn.layers.Dense(8, activation="relu"), gn.layers.Dropout(0.2),
                           gn.layers.Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer=gn.optimizers.Adam(gn.schedules.ExponentialDecay(0.01, 10, 0.9)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def callbacks(backup_dir):
    return [gn.callbacks.EarlyStopping(patience=5, restore_best_weights=True),
            gn.callbacks.ReduceLROnPlateau(patience=1),
            gn.callbacks.BackupAndRestore(backup_dir, save_freq=4, delete_checkpoint=False)]


@functools.cache
def originals():
    """``{name: (bytes, entry points)}`` of the original files."""
    x, y = data()
    made = {}
    model = network()
    model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0)
    made["plain"] = _saved(model.save), ("load", "info", "export")
    made["optimizer"] = _saved(lambda p: model.save(p, include_optimizer=True)), ("train", "info")
    backup_dir = os.path.join(folder(), "made-backup")
    network().fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0, callbacks=callbacks(backup_dir))
    with open(os.path.join(backup_dir, gn.callbacks.BackupAndRestore.FILENAME), "rb") as file:
        made["backup"] = file.read(), ("resume", "info")
    made["table"] = _saved(table_model().model.save), ("predict", "info", "export")
    made["estimator"] = _saved(estimator().save), ("estimator", "info")
    x, y = graph_data()
    model = graph_network()
    model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0)
    made["graph"] = _saved(model.save), ("graph_load", "sequential_load", "info", "export")
    made["graph_optimizer"] = (_saved(lambda p: model.save(p, include_optimizer=True)),
                               ("graph_train", "graph_load", "info"))
    backup_dir = os.path.join(folder(), "made-graph-backup")
    graph_network().fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
                        callbacks=callbacks(backup_dir))
    with open(os.path.join(backup_dir, gn.callbacks.BackupAndRestore.FILENAME), "rb") as file:
        made["graph_backup"] = file.read(), ("graph_resume",)
    return made


def graph_data():
    """``(x, y)`` of the graph model, dicts by name: 4 numbers and 2 city ids per row; a price
    and one of 3 labels."""
    rng = np.random.default_rng(1)
    label = rng.integers(0, 3, 48)
    numeric = (rng.standard_normal((48, 4)) + np.eye(4)[label] * 2).astype(np.float32)
    city = rng.integers(0, 10, (48, 2))
    price = (numeric[:, :1] + city[:, :1] / 10).astype(np.float32)
    return {"numeric": numeric, "city": city}, {"price": price, "label": label}


def graph_network():
    """A graph model with what a graph's file can get wrong: two inputs (one of int64 ids into an
    Embedding), a layer shared by two calls, a residual Add, a Concatenate, two outputs with a
    loss, a weight and metrics each."""
    numeric, city = gn.Input((4,), name="numeric"), gn.Input((2,), dtype="int64", name="city")
    shared = gn.layers.Dense(4, activation="tanh", name="shared")
    x = gn.layers.Add()([shared(numeric), shared(gn.layers.Dense(4, name="mix")(numeric))])
    x = gn.layers.Add(name="residual")([x, gn.layers.Dense(4, activation="relu")(x)])
    e = gn.layers.Flatten()(gn.layers.Embedding(10, 3)(city))
    x = gn.layers.Dropout(0.2)(gn.layers.Concatenate()([x, e]))
    price = gn.layers.Dense(1, name="price")(x)
    label = gn.layers.Dense(3, activation="softmax", name="label")(x)
    model = gn.Model([numeric, city], [price, label], seed=0)
    model.compile(optimizer=gn.optimizers.Adam(gn.schedules.ExponentialDecay(0.01, 10, 0.9)),
                  loss={"price": "mse", "label": "sparse_categorical_crossentropy"},
                  loss_weights={"price": 1.0, "label": 0.5}, metrics={"label": ["accuracy"]})
    return model


def _saved(save):
    path = os.path.join(folder(), "made.safetensors")
    save(path)
    with open(path, "rb") as file:
        return file.read()


@functools.cache
def table_frame():
    import pandas as pd
    x, y = data()
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["colour"] = np.array(["red", "green", "blue"])[y]
    frame["label"] = np.array(["yes", "no", "maybe"])[y]
    path = os.path.join(folder(), "table.csv")
    frame.to_csv(path, index=False)
    return frame, path


def table_model():
    from glassnet.tabular.model import TableModel
    frame, _ = table_frame()
    return TableModel.fit(frame, "label", layers=(4,), epochs=2, batch_size=16, early_stopping=2)[0]


def estimator():
    from glassnet.sklearn import GlassnetClassifier
    x, y = data()
    return GlassnetClassifier(hidden_layer_sizes=(4,), epochs=2, random_state=0).fit(x, np.array(["a", "b", "c"])[y])


# -- the entry points: each returns a result to compare with the original's ----------------------
def load_and_predict(path):
    return gn.load(path).predict(data()[0])


def estimator_predict(path):
    from glassnet.sklearn import GlassnetClassifier
    return GlassnetClassifier.load(path).predict(data()[0])


def train_on(path, data=data):
    x, y = data()
    model = gn.load(path)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model.get_weights()


def resume(path, network=network, data=data, backup="backup"):
    """Resume the fit of a fresh ``network()`` on ``data()`` from the backup ``path``."""
    backup_dir = os.path.join(folder(), backup)
    os.makedirs(backup_dir, exist_ok=True)
    os.replace(path, os.path.join(backup_dir, gn.callbacks.BackupAndRestore.FILENAME))
    x, y = data()
    model = network()
    model.fit(x, y, epochs=4, batch_size=16, validation_split=0.25, verbose=0, callbacks=callbacks(backup_dir))
    return model.get_weights() + [model.history.history]


def graph_load_and_predict(path):
    return gn.load(path).predict(graph_data()[0])


def sequential_load(path):
    """``gn.Sequential.load`` of a graph's file: refused, saying to load it with ``gn.load``."""
    try:
        model = gn.Sequential.load(path)
    except ModelFileError as error:
        if "holds a Model, not a Sequential: load it with gn.load" in str(error):
            return "refused, naming gn.load"
        raise
    return model.predict(graph_data()[0]["numeric"])  # a crafted file that is a Sequential's


def command(*argv):
    """Run ``glassnet *argv`` in this process: its output, or a ``ModelFileError`` for a refusal,
    which must be one line ``glassnet: error: ...`` with exit status 1."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main([str(a) for a in argv])
    if status == 1 and err.getvalue().startswith("glassnet: error: ") and err.getvalue().count("\n") == 1:
        raise ModelFileError(err.getvalue())
    if status != 0:
        raise AssertionError(f"glassnet {' '.join(map(str, argv))} exited {status}: {err.getvalue()!r}")
    return out.getvalue().replace(str(argv[1]), "MODEL")


ENTRY_POINTS = {
    "load": load_and_predict,
    "estimator": estimator_predict,
    "train": train_on,
    "resume": resume,
    "info": lambda path: command("info", path),
    "predict": lambda path: command("predict", path, table_frame()[1]),
    "export": lambda path: command("export", path, os.path.join(folder(), "out.onnx"), "--force"),
    "graph_load": graph_load_and_predict,
    "sequential_load": sequential_load,
    "graph_train": lambda path: train_on(path, graph_data),
    "graph_resume": lambda path: resume(path, graph_network, graph_data, "graph-backup"),
}


@functools.cache
def expected(name, entry):
    """The original file's result through ``entry``."""
    return ENTRY_POINTS[entry](_written(originals()[name][0], f"expected-{name}-{entry}"))


def _written(data, stem):
    path = os.path.join(folder(), stem + ".safetensors")
    with open(path, "wb") as file:
        file.write(data)
    return path


def _equal(a, b):
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


def run_through(name, entry, data):
    path = _written(data, "case")
    result = ENTRY_POINTS[entry](path)
    return "equal" if _equal(result, expected(name, entry)) else "works"


# -- damaging bytes ------------------------------------------------------------------------------
def damaged(data, rng):
    """``(description, bytes)``: ``data`` with bits flipped, bytes overwritten, inserted or
    deleted, cut short, or the header length forged."""
    data = bytearray(data)
    kind = int(rng.integers(6))
    at = int(rng.integers(len(data)))
    if kind == 0:
        for _ in range(int(rng.integers(1, 4))):
            data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
        return "flipped bits", bytes(data)
    if kind == 1:
        data[at:at] = rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
        return f"bytes inserted at {at}", bytes(data)
    if kind == 2:
        del data[at:at + int(rng.integers(1, 64))]
        return f"bytes deleted at {at}", bytes(data)
    if kind == 3:
        return f"truncated to {at}", bytes(data[:at])
    if kind == 4:
        data[at] = int(rng.integers(256))
        return f"byte {at} overwritten", bytes(data)
    length = int(rng.choice([0, 1, 7, 3 * 2 ** 30, 2 ** 63, int(rng.integers(0, 2 ** 16))]))
    data[:8] = length.to_bytes(8, "little")
    return f"header length forged to {length}", bytes(data)


# -- crafting files: fields and tensors changed, the checksum recomputed --------------------------
def parts(data):
    """``(metadata, tensors)`` of a file."""
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    return dict(header["__metadata__"]), safetensors.numpy.load(data)


def encoded(metadata, tensors):
    """A file of ``metadata`` and ``tensors`` with its checksum recomputed."""
    metadata = {**metadata, "checksum": model_file.checksum(metadata, tensors)}
    return safetensors.numpy.save(tensors, metadata=metadata)


def json_paths(value, path=()):
    """Every place in a JSON value, as a tuple of keys and indices."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from json_paths(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from json_paths(item, path + (i,))


def junk(rng, original):
    """A value to put where ``original`` was: a wrong type, a huge, negative or non-finite
    number, a deep nest, or a near miss of the original."""
    choice = int(rng.integers(6))
    if choice == 0 and isinstance(original, (int, float)) and not isinstance(original, bool):
        return type(original)(original * float(rng.choice([-1, 2, 1e9, 0.5])))
    if choice == 1:
        deep = original
        for _ in range(int(rng.integers(1, 40))):
            deep = [deep]
        return deep
    if choice == 2 and isinstance(original, list) and original:
        return original + original[:1] if rng.random() < 0.5 else original[:-1]
    return JUNK[int(rng.integers(len(JUNK)))]


def crafted_field(metadata, rng):
    """A description, after changing one place of one JSON field of ``metadata``: a value
    replaced, a key removed or added, or the field dropped."""
    keys = [k for k in metadata if k not in ("format", "glassnet_version", "checksum")]
    key = keys[int(rng.integers(len(keys)))]
    if key == "format_version":
        metadata[key] = str(rng.choice(["²", "0", "2", "1 ", "01", "-1", "9" * 30, ""]))
        return f"format_version {metadata[key]!r}"
    value = json.loads(metadata[key])
    paths = list(json_paths(value))
    path = paths[int(rng.integers(len(paths)))]
    action = int(rng.integers(4))
    if not path or action == 0:
        value = _replaced(value, path, junk(rng, _at(value, path)))
        what = "replaced"
    elif action == 1 and isinstance(_at(value, path[:-1]), (dict, list)):
        parent = _at(value, path[:-1])
        del parent[path[-1]]
        what = "removed"
    elif action == 2 and isinstance(_at(value, path), dict):
        _at(value, path)[str(rng.choice(["extra", "units", "class_name", "epoch", "arrays"]))] = junk(rng, None)
        what = "key added"
    else:
        value = _replaced(value, path, junk(rng, _at(value, path)))
        what = "replaced"
    metadata[key] = json.dumps(value)
    return f"{key}{''.join(f'[{p!r}]' for p in path)} {what}: {metadata[key][:120]}"


def _at(value, path):
    for step in path:
        value = value[step]
    return value


def _replaced(value, path, new):
    if not path:
        return new
    _at(value, path[:-1])[path[-1]] = new
    return value


def crafted_tensor(tensors, rng):
    """A description, after renaming, retyping, reshaping, adding or dropping one tensor."""
    names = sorted(tensors)
    name = names[int(rng.integers(len(names)))]
    action = int(rng.integers(5))
    if action == 0:
        dtype = str(rng.choice(["float64", "float32", "float16", "int32", "uint8", "bool"]))
        tensors[name] = tensors[name].astype(dtype)
        return f"{name} as {dtype}"
    if action == 1:
        tensors[name] = tensors[name].reshape(-1)[:max(1, tensors[name].size - 1)].copy()
        return f"{name} reshaped"
    if action == 2:
        extra = str(rng.choice(["params/extra.weight", "optimizer/m/x", "optimizer/m", "callbacks/9/0", name + "x"]))
        tensors[extra] = np.zeros(int(rng.integers(1, 5)), np.float32)
        return f"tensor {extra} added"
    if action == 3:
        del tensors[name]
        return f"{name} dropped"
    tensors[name.replace("/", "//", 1) if rng.random() < 0.5 else name.upper()] = tensors.pop(name)
    return f"{name} renamed"


def unreadable_dtype(data, rng):
    """``data`` with one tensor's dtype changed to one glassnet does not read (same byte size)."""
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    name = sorted(k for k in header if k != "__metadata__")[int(rng.integers(len(header) - 1))]
    size = {"F32": ["F8_E4M3", "I32"], "F64": ["C64", "I64"], "F16": ["BF16"]}
    header[name]["dtype"] = str(rng.choice(size.get(header[name]["dtype"], ["BF16", "F8_E5M2"])))
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return f"{name} as {header[name]['dtype']}", len(text).to_bytes(8, "little") + text + data[8 + length:]


# -- crafting a graph model's wiring and per-output compile settings ----------------------------
def _node_ref(rng, config):
    """A reference a node or an output could hold: mostly in range, else a near or far miss."""
    n_inputs, n_nodes = len(config["inputs"]), len(config["nodes"])
    return [_pick(rng, ["input", "node", "layer", "Node", ""]),
            _pick(rng, [0, 1, n_inputs, n_nodes, n_nodes - 1, -1, 2 ** 31, 2 ** 64, 1.0, "0", None])]


def _pick(rng, values):
    return values[int(rng.integers(len(values)))]


def _chain(config, length, rng):
    """``length`` nodes of one new activation layer in a chain right after the residual Add,
    whose readers then read the chain's end: thousands of nodes, or a 100,000-node deep chain.
    The file stays valid (every node reads earlier ones), so it must load in bounded time."""
    layers, nodes = config["layers"], config["nodes"]
    start = next(j for j, node in enumerate(nodes) if layers[node["layer"]]["config"].get("name") == "residual")
    layers.append({"class_name": _pick(rng, ["ReLU", "Linear"]), "config": {"name": "deep"}})
    end = start + length

    def moved(ref):
        if ref[0] != "node" or ref[1] < start:
            return ref
        return ["node", end if ref[1] == start else ref[1] + length]

    for node in nodes:
        node["inputs"] = [moved(ref) for ref in node["inputs"]]
    config["outputs"] = [moved(ref) for ref in config["outputs"]]
    nodes[start + 1:start + 1] = [{"layer": len(layers) - 1, "inputs": [["node", start + k]], "as_list": False}
                                  for k in range(length)]
    return f"{length:,} {layers[-1]['class_name']} nodes"


ODD_WEIGHTS = [-1.0, -0.0, 0, float("nan"), float("inf"), "0.5", None, True, 1e308, 10 ** 400, [], {"price": 1.0}]
GRAPH_CHANGES = {
    "a node reads a later node": lambda m, c, rng: _set_read(m, rng, lambda j: ["node", j + int(rng.integers(1, 3))]),
    "a node reads itself": lambda m, c, rng: _set_read(m, rng, lambda j: ["node", j]),
    "a node reads an input out of range": lambda m, c, rng: _set_read(
        m, rng, lambda j: ["input", _pick(rng, [len(m["inputs"]), -1, 10 ** 9])]),
    "a node reads a drawn reference": lambda m, c, rng: _set_read(m, rng, lambda j: _node_ref(rng, m)),
    "a node's layer out of range": lambda m, c, rng: _set_node(
        m, rng, "layer", _pick(rng, [len(m["layers"]), -1, 2 ** 40, 1.0, True])),
    "a node's layer changed": lambda m, c, rng: _set_node(m, rng, "layer", int(rng.integers(len(m["layers"])))),
    "as_list flipped": lambda m, c, rng: _flip_as_list(m, rng),
    "a node reads one more tensor": lambda m, c, rng: _more_reads(m, rng),
    "a node reads nothing": lambda m, c, rng: _set_node(m, rng, "inputs", []),
    "a layer never used": lambda m, c, rng: m["layers"].append(
        {"class_name": "Dense", "config": {"name": "unused", "units": 2}}),
    "a node dropped": lambda m, c, rng: m["nodes"].pop(int(rng.integers(len(m["nodes"])))),
    "nodes reversed": lambda m, c, rng: m["nodes"].reverse(),
    "duplicate output names": lambda m, c, rng: m["output_names"].__setitem__(1, m["output_names"][0]),
    "an output is an input": lambda m, c, rng: m["outputs"].__setitem__(
        int(rng.integers(2)), ["input", int(rng.integers(2))]),
    "an output reads a drawn reference": lambda m, c, rng: m["outputs"].__setitem__(
        int(rng.integers(2)), _node_ref(rng, m)),
    "outputs without names": lambda m, c, rng: m["output_names"].pop(),
    "the same output twice": lambda m, c, rng: m.update(outputs=[m["outputs"][0]] * 2),
    "three outputs": lambda m, c, rng: (m["outputs"].append(m["outputs"][0]), m["output_names"].append("third")),
    "a huge input shape": lambda m, c, rng: m["inputs"][int(rng.integers(2))].__setitem__(
        "shape", _pick(rng, [[2 ** 40], [2 ** 20, 2 ** 20], [10 ** 6, 10 ** 6], [2 ** 63], [0], [1] * 9,
                             [2 ** 13] * 3, [4, 1], [2 ** 31]])),
    "an input's dtype changed": lambda m, c, rng: m["inputs"][int(rng.integers(2))].__setitem__(
        "dtype", _pick(rng, [None, "float32", "float64", "int32", "int64", "int8", "bool", 7])),
    "inputs swapped": lambda m, c, rng: m["inputs"].reverse(),
    "an input removed": lambda m, c, rng: m["inputs"].pop(int(rng.integers(2))),
    "an input added": lambda m, c, rng: m["inputs"].append({"name": "extra", "shape": [3], "dtype": None}),
    "thousands of nodes": lambda m, c, rng: _chain(m, int(rng.integers(1000, 3000)), rng),
    "a loss list one short or long": lambda m, c, rng: c.update(
        loss=c["loss"][:1] if rng.random() < 0.5 else c["loss"] + c["loss"][:1]),
    "a loss swapped": lambda m, c, rng: c["loss"].__setitem__(int(rng.integers(2)), _pick(
        rng, [{"class_name": n, "config": {}} for n in ("SparseCategoricalCrossentropy", "BinaryCrossentropy", "Hinge",
                                                   "KLDivergence", "Poisson", "BinaryFocalCrossentropy",
                                                   "CategoricalCrossentropy", "MeanSquaredError", "Nope")])),
    "odd loss_weights": lambda m, c, rng: c["loss_weights"].__setitem__(int(rng.integers(2)),
                                                                        _pick(rng, ODD_WEIGHTS)),
    "loss_weights of the wrong length": lambda m, c, rng: c.update(loss_weights=c["loss_weights"][:1]
                                                                      if rng.random() < 0.5 else [1.0] * 3),
    "loss_weights a dict": lambda m, c, rng: c.update(loss_weights={"price": 1.0, "label": 0.5}),
    "metrics of the wrong length": lambda m, c, rng: c.update(metrics=c["metrics"][:1] if rng.random() < 0.5
                                                                else c["metrics"] + [["mae"]]),
    "metrics not lists": lambda m, c, rng: c.update(metrics=["accuracy", "accuracy"] if rng.random() < 0.5
                                                     else [["accuracy"], "mae"]),
    "odd metrics": lambda m, c, rng: c["metrics"].__setitem__(int(rng.integers(2)), [_pick(
        rng, ["accuracy", "auc", "mae", "precision", "nope", "top_k_categorical_accuracy", "loss", "price_loss"])]
        * int(rng.integers(1, 3))),
    "a metric named as a loss log": lambda m, c, rng: c.update(metrics=[["loss"], ["price_loss"]]),
    "a dict of losses": lambda m, c, rng: c.update(loss={"price": c["loss"][0], "label": c["loss"][1]}),
    "a ReLU of the ids": lambda m, c, rng: _ids_through_a_layer(m, c, rng),
    "an output renamed": lambda m, c, rng: m["output_names"].__setitem__(int(rng.integers(2)), _pick(
        rng, ["", "loss", "val_price", "price_loss", "label_accuracy", "x" * 10000, "a/b", "é", "\x00"])),
    "an input renamed": lambda m, c, rng: m["inputs"][int(rng.integers(2))].__setitem__("name", _pick(
        rng, ["", "numeric", "city", "input", "x" * 10000, None, 3])),
}


def _set_read(m, rng, reference):
    j = int(rng.integers(len(m["nodes"])))
    node = m["nodes"][j]
    node["inputs"][int(rng.integers(len(node["inputs"])))] = reference(j)
    return f"node {j}"


def _set_node(m, rng, key, value):
    j = int(rng.integers(len(m["nodes"])))
    m["nodes"][j][key] = value
    return f"node {j}"


def _flip_as_list(m, rng):
    j = int(rng.integers(len(m["nodes"])))
    m["nodes"][j]["as_list"] = not m["nodes"][j]["as_list"]
    return f"node {j}"


def _more_reads(m, rng):
    j = int(rng.integers(len(m["nodes"])))
    m["nodes"][j]["inputs"].append(["node", int(rng.integers(j))] if j else ["input", 0])
    return f"node {j}"


def _insert_node(m, at, node):
    """``node`` inserted at position ``at`` of the nodes, the references to later ones moved."""
    def moved(ref):
        return ["node", ref[1] + 1] if ref[0] == "node" and isinstance(ref[1], int) and ref[1] >= at else ref

    for other in m["nodes"]:
        other["inputs"] = [moved(ref) for ref in other["inputs"]]
    m["outputs"] = [moved(ref) for ref in m["outputs"]]
    m["nodes"].insert(at, node)


def _ids_through_a_layer(m, c, rng):
    """A ReLU reads the ids: the Embedding reads its output (floats a layer made), or the ids are
    read both as ids (the Embedding) and as numbers (the ReLU, read by one more output)."""
    j = next(j for j, node in enumerate(m["nodes"]) if m["layers"][node["layer"]]["class_name"] == "Embedding")
    ids = m["nodes"][j]["inputs"][0]
    m["layers"].append({"class_name": "ReLU", "config": {"name": "ids_relu"}})
    _insert_node(m, j, {"layer": len(m["layers"]) - 1, "inputs": [ids], "as_list": False})
    if rng.random() < 0.5:
        m["nodes"][j + 1]["inputs"] = [["node", j]]
        return "the Embedding reads it"
    _extra_output(m, c, ["node", j])
    return "an output reads it"


def _extra_output(m, c, ref):
    """``ref`` read by one more output, with a loss (mse), a weight and no metrics."""
    m["outputs"].append(ref)
    m["output_names"].append("extra")
    c["loss"].append(c["loss"][0])
    c["loss_weights"].append(1.0)
    c["metrics"].append([])


def _many_inputs(m, c, rng):
    """As many inputs as a file may have, all read by one Concatenate that one more output reads."""
    first, count = len(m["inputs"]), model_fields.MAX_NODES - len(m["inputs"])
    m["inputs"] += [{"name": f"in_{k}", "shape": [1], "dtype": None} for k in range(count)]
    m["layers"].append({"class_name": "Concatenate", "config": {"name": "wide"}})
    m["nodes"].append({"layer": len(m["layers"]) - 1, "inputs": [["input", first + k] for k in range(count)],
                       "as_list": True})
    _extra_output(m, c, ["node", len(m["nodes"]) - 1])
    return f"{count:,} more inputs"


def _amplifier(m, c, rng):
    """A Concatenate of a Concatenate, each of 100,000 copies of what it reads: a 2 MB file whose
    extra output has 4 * 10**10 numbers per example, and no weight to compare with the file's."""
    for k, read in enumerate([["input", 0], ["node", len(m["nodes"])]]):
        m["layers"].append({"class_name": "Concatenate", "config": {"name": f"amplifier_{k}"}})
        m["nodes"].append({"layer": len(m["layers"]) - 1, "inputs": [read] * model_fields.MAX_NODES, "as_list": True})
    _extra_output(m, c, ["node", len(m["nodes"]) - 1])


def _many_outputs(m, c, rng):
    """As many outputs as a file may have: the first output again and again, with a loss each."""
    count = model_fields.MAX_NODES - len(m["outputs"])
    m["outputs"] += [m["outputs"][0]] * count
    m["output_names"] += [f"out_{k}" for k in range(count)]
    c.update(loss=c["loss"] + [c["loss"][0]] * count, loss_weights=c["loss_weights"] + [1.0] * count,
             metrics=c["metrics"] + [[]] * count)


# Changes as large as a file may hold (MAX_NODES): each must be refused or load in bounded time
# (a second or two) and memory, never take minutes (quadratic work) or allocate what the file
# does not hold. Seconds each, so long runs only (``cases(large=True)``).
LARGE_CHANGES = {
    "a deep chain": lambda m, c, rng: _chain(m, model_fields.MAX_NODES - len(m["nodes"]), rng),
    "100,000 outputs": _many_outputs,
    "100,000 inputs into one Concatenate": _many_inputs,
    "a Concatenate of Concatenates": _amplifier,
}


def crafted_graph(metadata, rng, large=True):
    """A description, after one change to a graph model's wiring (``model``) or its per-output
    compile settings (``compile``) that a file could hold; with ``large``, now and then one of
    the ``LARGE_CHANGES``."""
    changes = LARGE_CHANGES if large and rng.random() < 0.02 else GRAPH_CHANGES
    name = sorted(changes)[int(rng.integers(len(changes)))]
    model, settings = json.loads(metadata["model"]), json.loads(metadata["compile"])
    detail = changes[name](model, settings, rng)
    metadata["model"], metadata["compile"] = json.dumps(model), json.dumps(settings)
    return f"{name}" + (f" ({detail})" if isinstance(detail, str) else "")


def crafted(data, rng, graph=False, large=True):
    """``(description, bytes)``: a file changed as an attacker would, with a valid checksum; a
    graph model's file has its wiring or per-output settings changed half the time."""
    metadata, tensors = parts(data)
    if graph and rng.random() < 0.5:
        return crafted_graph(metadata, rng, large), encoded(metadata, tensors)
    choice = rng.random()
    if choice < 0.7:
        description = crafted_field(metadata, rng)
    elif choice < 0.9:
        description = crafted_tensor(tensors, rng)
    else:
        return unreadable_dtype(data, rng)
    return description, encoded(metadata, tensors)


# -- the cases -----------------------------------------------------------------------------------
def cases(rng, count, large=True):
    """``count`` cases: a third damaged, two thirds crafted, each through one entry point of
    its original. ``large=False`` leaves out the ``LARGE_CHANGES`` (seconds each: long runs only)."""
    made = originals()
    names = sorted(made)
    for _ in range(count):
        name = names[int(rng.integers(len(names)))]
        data, entries = made[name]
        entry = entries[int(rng.integers(len(entries)))]
        if rng.random() < 1 / 3:
            description, changed = damaged(data, rng)
        else:
            description, changed = crafted(data, rng, graph=name.startswith("graph"), large=large)
        yield Case(KIND, f"{name} file, {description}, through {entry}",
                   functools.partial(run_through, name, entry, changed))
