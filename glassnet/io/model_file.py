"""Model files: one safetensors file with the weights, and JSON metadata for everything else.

Layout (format version 1):

    tensors   params/<parameter name>              every weight and bias
              optimizer/<slot>/<parameter name>    with include_optimizer: Adam's m and v, ...
    metadata  format            "glassnet-model"
              format_version    "1" (a file with a higher version is refused, not misread)
              glassnet_version  the version that wrote it
              model             the architecture: Sequential.get_config()
              compile           optimizer, loss and metric names, when compiled
              history           the training history, when trained
              preprocessing     how raw table columns become inputs (command line), if any
              metadata          anything else the caller keeps with the model (JSON)
              training_state    with include_optimizer: optimizer step count and learning rate,
                                the model's random generator state, and where training stands
                                (epoch, batch), for an exact resume
              checksum          SHA-256 of all of the above and every tensor's name, dtype,
                                shape and bytes

Loading never runs code: the metadata is JSON, and the architecture can only name glassnet's own
layers (``glassnet.serialization``). Any way a file can be wrong (not safetensors, truncated,
changed bytes, missing or invalid metadata, shapes that do not fit the architecture, a newer
format) is refused with a ``ModelFileError`` that says what is wrong; the checksum catches
changed bytes that would otherwise load as a different model.
"""
import hashlib
import json
import os

import numpy as np
import safetensors
import safetensors.numpy

from ..errors import GlassnetError, ModelFileError, NotBuiltError
from ..version import __version__
from . import atomic

FORMAT = "glassnet-model"
FORMAT_VERSION = 1
_JSON_FIELDS = ("model", "compile", "history", "preprocessing", "metadata", "training_state")


# -- writing ---------------------------------------------------------------------------------------
def save(model, path, include_optimizer=False, position=None, callbacks=(), overwrite=True):
    """Write ``model`` to ``path`` atomically. ``include_optimizer`` adds what an exact resume
    needs; ``position`` (from the training loop) says where in training the model is, and
    ``callbacks`` whose state (``Callback.get_state``) is kept with it."""
    model.build_if_shape_known()
    if not model.built:
        raise NotBuiltError("the model has no weights yet: build it (or fit it) before saving")
    tensors = {f"params/{p.name}": p.value for p in model.parameters()}
    fields = {"model": model.get_config(), "compile": model.get_compile_config(),
              "history": _history_json(model.history), "preprocessing": model.preprocessing,
              "metadata": model.metadata or None, "training_state": None}
    if include_optimizer:
        model.require_compiled("save with include_optimizer=True (there is no optimizer state) before")
        state = model.optimizer.state_dict()
        for name, slots in state["state"].items():
            for slot, array in slots.items():
                tensors[f"optimizer/{slot}/{name}"] = array
        fields["training_state"] = {
            "optimizer": {"class_name": state["class_name"], "iterations": state["iterations"],
                          "learning_rate": state["learning_rate"]},
            "rng": model.rng.bit_generator.state, "position": position,
            "callbacks": _callback_states(callbacks, tensors)}
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "glassnet_version": __version__}
    metadata.update({key: json.dumps(value) for key, value in fields.items() if value is not None})
    tensors = {name: np.ascontiguousarray(array) for name, array in tensors.items()}
    metadata["checksum"] = _checksum(metadata, tensors)
    atomic.write_bytes(path, safetensors.numpy.save(tensors, metadata=metadata), overwrite)


def _callback_states(callbacks, tensors):
    """``[{"class_name", "state", "arrays": count}]`` for the callbacks that have a state; their
    arrays go into ``tensors`` as ``callbacks/<i>/<j>``."""
    states = []
    for callback in callbacks:
        state = callback.get_state()
        if state is None:
            continue
        arrays = list(state.get("arrays", ()))
        for j, array in enumerate(arrays):
            tensors[f"callbacks/{len(states)}/{j}"] = array
        states.append({"class_name": type(callback).__name__, "arrays": len(arrays),
                       "state": {k: v for k, v in state.items() if k != "arrays"}})
    return states


def restore_callbacks(file, callbacks):
    """Give each of ``callbacks`` the state saved for it in ``file``: the saved states of a class
    go, in order, to the callbacks of that class."""
    saved = (file.fields.get("training_state") or {}).get("callbacks") or []
    for class_name in {entry["class_name"] for entry in saved}:
        entries = [(i, e) for i, e in enumerate(saved) if e["class_name"] == class_name]
        mine = [c for c in callbacks if type(c).__name__ == class_name]
        for (i, entry), callback in zip(entries, mine):
            arrays = [file.tensors[f"callbacks/{i}/{j}"] for j in range(entry["arrays"])]
            callback.set_state({**entry["state"], "arrays": arrays})


def _history_json(history):
    if history is None or not history.epoch:
        return None
    return {"epoch": [int(e) for e in history.epoch],
            "history": {k: [float(v) for v in values] for k, values in history.history.items()}}


def _checksum(metadata, tensors):
    digest = hashlib.sha256()
    for key in sorted(metadata):
        if key != "checksum":
            digest.update(json.dumps([key, metadata[key]]).encode())
    for name in sorted(tensors):
        array = tensors[name]
        digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


# -- reading ---------------------------------------------------------------------------------------
class ModelFile:
    """A checked model file: ``fields`` (the parsed JSON metadata) and ``tensors`` (arrays)."""

    def __init__(self, path, fields, tensors, format_version, glassnet_version):
        self.path, self.fields, self.tensors = path, fields, tensors
        self.format_version, self.glassnet_version = format_version, glassnet_version

    def params(self):
        return {name[len("params/"):]: a for name, a in self.tensors.items() if name.startswith("params/")}


def read(path):
    """Read and check a model file; raises ``ModelFileError`` for anything wrong with it."""
    with open(path, "rb") as file:
        data = file.read()
    where = os.fspath(path)
    if len(data) < 8:
        raise ModelFileError(f"{where} is not a model file: {len(data)} bytes, shorter than a safetensors header")
    try:
        tensors = safetensors.numpy.load(data)
        header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    except (safetensors.SafetensorError, ValueError, TypeError, OverflowError, RecursionError) as error:
        raise ModelFileError(f"{where} is not a valid safetensors file (truncated or damaged?): {error}") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(f"{where} is a safetensors file but not a glassnet model "
                             "(its metadata has no format 'glassnet-model')")
    version = metadata.get("format_version", "")
    if not version.isdigit():
        raise ModelFileError(f"{where}: the format version {version!r} is not a number")
    if int(version) > FORMAT_VERSION:
        raise ModelFileError(f"{where} was written by glassnet {metadata.get('glassnet_version', '?')} in "
                             f"format version {version}; this glassnet reads up to version "
                             f"{FORMAT_VERSION}: upgrade glassnet to load it")
    if metadata.get("checksum") != _checksum(metadata, tensors):
        raise ModelFileError(f"{where} is damaged: its contents do not match the checksum written with it")
    fields = {}
    for key in _JSON_FIELDS:
        if key in metadata:
            try:
                fields[key] = json.loads(metadata[key])
            except (ValueError, RecursionError) as error:
                raise ModelFileError(f"{where}: the metadata field {key!r} is not valid JSON: {error}") from None
    if not isinstance(fields.get("model"), dict):
        raise ModelFileError(f"{where} has no architecture (metadata field 'model')")
    return ModelFile(where, fields, tensors, int(version), metadata.get("glassnet_version"))


def load(path):
    """A new model from a model file: architecture, weights, compile settings, history,
    preprocessing and metadata; and, when the file has them, the optimizer state, the random
    generator state and the training position (``model.saved_position``)."""
    return build(read(path))


def build(file):
    """The model a checked ``ModelFile`` (from ``read``) describes, with its state (see ``load``)."""
    from ..model import Sequential
    try:
        model = Sequential.from_config(file.fields["model"])
        if not model.built:
            raise ModelFileError("the architecture has no input shape, so the weights cannot be placed")
        if file.fields.get("compile") is not None:
            model.compile_from_config(file.fields["compile"])
    except ModelFileError as error:
        raise ModelFileError(f"{file.path}: {error}") from None
    except (GlassnetError, TypeError, KeyError, ValueError, AttributeError) as error:
        raise ModelFileError(f"{file.path}: the architecture or compile settings are not valid: "
                             f"{type(error).__name__}: {error}") from None
    apply(model, file)
    return model


def restore(model, path):
    """Put the state saved in ``path`` into ``model``, whose architecture must be the file's."""
    file = read(path)
    if file.fields["model"].get("layers") != model.get_config()["layers"]:
        raise ModelFileError(f"{file.path} holds a different architecture from this model's")
    apply(model, file)
    return file


def apply(model, file):
    """Weights, history, preprocessing, metadata and (if present) training state from ``file``."""
    from ..callbacks.base import History
    _set_weights(model, file)
    model.preprocessing = file.fields.get("preprocessing")
    model.metadata = file.fields.get("metadata") or {}
    history = file.fields.get("history")
    model.saved_position = None
    try:
        if history is not None:  # filled in place: during fit, the History is a live callback
            model.history = model.history or History()
            model.history.epoch = [int(e) for e in history["epoch"]]
            model.history.history = {str(k): [float(v) for v in values]
                                     for k, values in history["history"].items()}
        state = file.fields.get("training_state")
        if state is not None:
            _set_training_state(model, file, state)
    except ModelFileError:
        raise
    except (GlassnetError, TypeError, KeyError, ValueError, AttributeError) as error:
        raise ModelFileError(f"{file.path}: the history or training state is not valid: "
                             f"{type(error).__name__}: {error}") from None


def _set_weights(model, file):
    saved = file.params()
    expected = {p.name: p for p in model.parameters()}
    if set(saved) != set(expected):
        raise ModelFileError(f"{file.path}: the weights do not match the architecture: missing "
                             f"{sorted(set(expected) - set(saved))}, unexpected {sorted(set(saved) - set(expected))}")
    for name, p in expected.items():
        if saved[name].shape != p.shape or saved[name].dtype != p.value.dtype:
            raise ModelFileError(f"{file.path}: {name} is {saved[name].dtype} {saved[name].shape} in the "
                                 f"file, but the architecture needs {p.value.dtype} {p.shape}")
    for name, p in expected.items():
        p.value[...] = saved[name]


def _set_training_state(model, file, state):
    if model.optimizer is None:
        raise ModelFileError(f"{file.path} has optimizer state but no compile settings")
    slots = {}
    for name, array in file.tensors.items():
        if name.startswith("optimizer/"):
            slot, param = name[len("optimizer/"):].split("/", 1)
            slots.setdefault(param, {})[slot] = array
    for param in {p.name for p in model.parameters()}:
        slots.setdefault(param, {})
    model.optimizer.load_state_dict({**state["optimizer"], "state": slots})
    model.rng.bit_generator.state = state["rng"]
    model.saved_position = state.get("position")
