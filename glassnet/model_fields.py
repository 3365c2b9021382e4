"""The JSON fields of a Sequential's model file, checked when read (``io/schema.py`` typed
checks): the architecture, the compile settings and the history, and the stored weights against
the shapes the architecture asks for. ``Sequential.from_file`` and ``load_state`` use them once
each, before anything of a model is built or changed.
"""
import math

from .errors import ModelFileError
from .io import schema

# What a model file may declare (checked by ``architecture``): an input of at most 8 axes and
# 2**40 values per example, and at most 100 metric names.
MAX_INPUT_RANK, MAX_INPUT_SIZE, MAX_METRICS = 8, 2 ** 40, 100


def architecture(config):
    """The ``model`` field checked: its name, seed, dtype, a declared input shape and a list of
    layer specs (each checked by the layer it makes)."""
    schema.fields("model", config, ("name", "seed", "dtype", "input_shape", "layers"))
    schema.string("model.name", config["name"])
    if config["seed"] is not None:
        schema.integer("model.seed", config["seed"], high=2 ** 128 - 1)
    if config["dtype"] not in ("float32", "float64"):
        schema.refuse("model.dtype", "'float32' or 'float64'", config["dtype"])
    if config["input_shape"] is None:
        raise ModelFileError("the architecture has no input shape, so the weights cannot be placed")
    dims = [schema.integer(f"model.input_shape[{i}]", d, low=1, high=MAX_INPUT_SIZE) for i, d in
            enumerate(schema.listing("model.input_shape", config["input_shape"], max_length=MAX_INPUT_RANK))]
    if not dims or math.prod(dims) > MAX_INPUT_SIZE:
        schema.refuse("model.input_shape", f"1 to {MAX_INPUT_RANK} sizes of at most {MAX_INPUT_SIZE} values in all",
                      dims)
    schema.listing("model.layers", config["layers"])
    return config


def compile_settings(config):
    """The ``compile`` field checked: optimizer and loss specs (each checked by what it makes)
    and a list of metric names."""
    schema.fields("compile", config, ("optimizer", "loss", "metrics"))
    for i, name in enumerate(schema.listing("compile.metrics", config["metrics"], max_length=MAX_METRICS)):
        schema.string(f"compile.metrics[{i}]", name)
    return config


def history(value):
    """``(epochs, {log name: values})`` of the ``history`` field, or None: epoch numbers
    increasing from 0 or more, and as many values (numbers, NaN and Infinity allowed: a loss
    can diverge) for each log as there are epochs."""
    if value is None:
        return None
    schema.fields("history", value, ("epoch", "history"))
    epochs = [schema.integer(f"history.epoch[{i}]", e) for i, e in enumerate(schema.listing("history.epoch", value["epoch"]))]
    if any(later <= earlier for earlier, later in zip(epochs, epochs[1:])):
        schema.refuse("history.epoch", "increasing epoch numbers", epochs)
    logs = {}
    for key, values in schema.mapping("history.history", value["history"]).items():
        schema.listing(f"history.history[{key!r}]", values, length=len(epochs))
        logs[key] = [schema.number(f"history.history[{key!r}]", v, finite=False) for v in values]
    return epochs, logs


def history_fields(history):
    if history is None or not history.epoch:
        return None
    return {"epoch": [int(e) for e in history.epoch],
            "history": {k: [float(v) for v in values] for k, values in history.history.items()}}


def check_stored_shapes(shapes, dtype, stored):
    """Refuse stored parameters ``{name: array}`` that are not exactly ``shapes`` in ``dtype``."""
    if set(stored) != set(shapes):
        raise ModelFileError(f"the weights do not match the architecture: missing "
                             f"{sorted(set(shapes) - set(stored))}, unexpected {sorted(set(stored) - set(shapes))}")
    for name, shape in shapes.items():
        if stored[name].shape != shape or stored[name].dtype != dtype:
            raise ModelFileError(f"{name} is {stored[name].dtype} {stored[name].shape} in the file, but the "
                                 f"architecture needs {dtype} {shape}")
