"""Fuzzing cases of the "files" kind: damaged and crafted model files through every entry point.

The originals (a plain model, one saved with its optimizer state, a training backup with callback
states, a ``glassnet train`` table model, a scikit-learn estimator) are made once per process.
Each case changes one of them, either damaging its bytes (flipped bits, truncation, inserted or
deleted bytes, a forged header length) or crafting it (a JSON field changed structurally, a
tensor renamed, retyped, reshaped, added or dropped, a dtype glassnet does not read), with the
checksum recomputed: a checksum is not a signature. Then it loads the file through one entry
point: ``gn.load`` and predict, the estimator's ``load`` and predict, a resume with
``BackupAndRestore``, a loaded checkpoint trained on, or ``glassnet info``/``predict``/
``export`` in this process. A case returns "equal" (the same result as the original's), "works",
or raises a ``GlassnetError``; a command line that fails must say so in one line, exit status 1.
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
from glassnet import cli
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
    return made


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


def train_on(path):
    x, y = data()
    model = gn.load(path)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model.get_weights()


def resume(path):
    backup_dir = os.path.join(folder(), "backup")
    os.makedirs(backup_dir, exist_ok=True)
    os.replace(path, os.path.join(backup_dir, gn.callbacks.BackupAndRestore.FILENAME))
    x, y = data()
    model = network()
    model.fit(x, y, epochs=4, batch_size=16, validation_split=0.25, verbose=0, callbacks=callbacks(backup_dir))
    return model.get_weights() + [model.history.history]


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


def crafted(data, rng):
    """``(description, bytes)``: a file changed as an attacker would, with a valid checksum."""
    metadata, tensors = parts(data)
    choice = rng.random()
    if choice < 0.7:
        description = crafted_field(metadata, rng)
    elif choice < 0.9:
        description = crafted_tensor(tensors, rng)
    else:
        return unreadable_dtype(data, rng)
    return description, encoded(metadata, tensors)


# -- the cases -----------------------------------------------------------------------------------
def cases(rng, count):
    """``count`` cases: a third damaged, two thirds crafted, each through one entry point of
    its original."""
    made = originals()
    names = sorted(made)
    for _ in range(count):
        name = names[int(rng.integers(len(names)))]
        data, entries = made[name]
        entry = entries[int(rng.integers(len(entries)))]
        description, changed = (damaged if rng.random() < 1 / 3 else crafted)(data, rng)
        yield Case(KIND, f"{name} file, {description}, through {entry}",
                   functools.partial(run_through, name, entry, changed))
