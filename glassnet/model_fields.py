"""The JSON fields of a Sequential's model file, checked when read (``io/schema.py`` typed
checks): the architecture, the compile settings and the history, and the stored weights against
the shapes the architecture asks for. ``Sequential.from_file`` and ``load_state`` use them once
each, before anything of a model is built or changed. Before a file is written, ``check_layers``
and ``check_compiled`` make sure that every object of the model can be named in it and rebuilt.
"""
import functools
import inspect
import json
import math

from . import layers as layers_module
from . import losses, metrics as metrics_module, optimizers, saving, serialization
from .errors import ConfigurationError, GlassnetError, ModelFileError
from .io import schema

# What a model file may declare (checked by ``architecture``): an input of at most 8 axes and
# 2**40 values per example, and at most 100 metric names.
MAX_INPUT_RANK, MAX_INPUT_SIZE, MAX_METRICS = 8, 2 ** 40, 100
# At most this many layers, inputs, nodes and outputs in a graph model's file.
MAX_NODES = 100_000
# A graph model's wiring in its file: a backup resumes only a model wired the same (a Sequential
# has none of these keys).
WIRING = ("inputs", "nodes", "outputs", "output_names")


def kind(config):
    """Which network a ``model`` field describes: "Model" (a graph: it lists its inputs and
    nodes) or "Sequential"."""
    return "Model" if "nodes" in config else "Sequential"


def architecture(config):
    """The ``model`` field checked: its name, seed, dtype and layer specs (each checked by the
    layer it makes), and a Sequential's declared input shape or a graph model's wiring."""
    graph = kind(config) == "Model"
    schema.fields("model", config, ("name", "seed", "dtype", "inputs", "layers", "nodes", "outputs", "output_names")
                  if graph else ("name", "seed", "dtype", "input_shape", "layers"))
    schema.string("model.name", config["name"])
    if config["seed"] is not None:
        schema.integer("model.seed", config["seed"], high=2 ** 128 - 1)
    if config["dtype"] not in ("float32", "float64"):
        schema.refuse("model.dtype", "'float32' or 'float64'", config["dtype"])
    schema.listing("model.layers", config["layers"], max_length=MAX_NODES)
    if graph:
        return _graph(config)
    if config["input_shape"] is None:
        raise ModelFileError("the architecture has no input shape, so the weights cannot be placed")
    _input_shape("model.input_shape", config["input_shape"])
    return config


def _input_shape(name, shape):
    dims = [schema.integer(f"{name}[{i}]", d, low=1, high=MAX_INPUT_SIZE) for i, d in
            enumerate(schema.listing(name, shape, max_length=MAX_INPUT_RANK))]
    if not dims or math.prod(dims) > MAX_INPUT_SIZE:
        schema.refuse(name, f"1 to {MAX_INPUT_RANK} sizes of at most {MAX_INPUT_SIZE} values in all", dims)


def _graph(config):
    """A graph model's wiring checked: inputs (name, shape, dtype), nodes that each name a layer
    and read inputs or *earlier* nodes only (so the file cannot describe a cycle), every layer
    used, and outputs that are nodes or inputs, one distinct name each."""
    inputs = schema.listing("model.inputs", config["inputs"], max_length=MAX_NODES)
    for i, spec in enumerate(inputs):
        schema.fields(f"model.inputs[{i}]", spec, ("name", "shape", "dtype"))
        schema.string(f"model.inputs[{i}].name", spec["name"])
        _input_shape(f"model.inputs[{i}].shape", spec["shape"])
        if spec["dtype"] not in (None, "float32", "float64", "int32", "int64"):
            schema.refuse(f"model.inputs[{i}].dtype", "null, 'float32', 'float64', 'int32' or 'int64'", spec["dtype"])
    if not inputs:
        schema.refuse("model.inputs", "at least one input", inputs)
    nodes = schema.listing("model.nodes", config["nodes"], max_length=MAX_NODES)
    used = set()
    for j, spec in enumerate(nodes):
        where = f"model.nodes[{j}]"
        schema.fields(where, spec, ("layer", "inputs", "as_list"))
        used.add(schema.integer(f"{where}.layer", spec["layer"], low=0, high=len(config["layers"]) - 1))
        schema.boolean(f"{where}.as_list", spec["as_list"])
        reads = schema.listing(f"{where}.inputs", spec["inputs"], max_length=MAX_NODES)
        if not reads or (len(reads) > 1 and not spec["as_list"]):
            schema.refuse(f"{where}.inputs", "one tensor, or a list of them with as_list", reads)
        for k, ref in enumerate(reads):
            _reference(f"{where}.inputs[{k}]", ref, len(inputs), j)
    if len(used) != len(config["layers"]):
        schema.refuse("model.nodes", "every layer used by a node", sorted(used))
    outputs = schema.listing("model.outputs", config["outputs"], max_length=MAX_NODES)
    for k, ref in enumerate(outputs):
        _reference(f"model.outputs[{k}]", ref, len(inputs), len(nodes))
    names = [schema.string(f"model.output_names[{k}]", n) for k, n in
             enumerate(schema.listing("model.output_names", config["output_names"], length=len(outputs)))]
    if not outputs or len(set(names)) != len(names):
        schema.refuse("model.output_names", "one distinct name per output", names)
    return config


def _reference(name, ref, n_inputs, n_nodes):
    """``["input", i]`` with ``i < n_inputs`` or ``["node", j]`` with ``j < n_nodes``."""
    ref = schema.listing(name, ref, length=2)
    if ref[0] not in ("input", "node"):
        schema.refuse(name, "['input', i] or ['node', j]", ref)
    schema.integer(f"{name}[1]", ref[1], low=0, high=(n_inputs if ref[0] == "input" else n_nodes) - 1)


def compile_settings(config):
    """The ``compile`` field checked: optimizer and loss specs (each checked by what it makes)
    and a list of metrics, returned as ``compile`` takes them: names, registered functions (named
    ``"package>name"``) and registered ``Metric`` objects (their specs). A graph model's has a
    list of losses, their weights and a list of metrics for each output."""
    if "loss_weights" not in schema.mapping("compile", config):
        schema.fields("compile", config, ("optimizer", "loss", "metrics"))
        return {**config, "metrics": _metrics("compile.metrics", config["metrics"])}
    schema.fields("compile", config, ("optimizer", "loss", "loss_weights", "metrics"))
    outputs = len(schema.listing("compile.loss", config["loss"], max_length=MAX_NODES))
    weights = [schema.number(f"compile.loss_weights[{k}]", w, low=0) for k, w in
               enumerate(schema.listing("compile.loss_weights", config["loss_weights"], length=outputs))]
    metrics = [_metrics(f"compile.metrics[{k}]", specs) for k, specs in
               enumerate(schema.listing("compile.metrics", config["metrics"], length=outputs))]
    return {**config, "loss_weights": weights, "metrics": metrics}


def _metrics(name, specs):
    return [_metric(f"{name}[{i}]", spec) for i, spec in enumerate(schema.listing(name, specs, max_length=MAX_METRICS))]


def _metric(name, spec):
    if isinstance(spec, dict):
        return _metric_object(spec)
    schema.string(name, spec)
    return saving.resolve_function(spec, "metric") if saving.SEPARATOR in spec else spec


def _metric_object(spec):
    return serialization.deserialize(spec, (), "metric", base=metrics_module.Metric)


def metric_specs(metrics):
    """The metrics of ``compile(metrics=...)`` as a file stores them: a name as it is, a function
    by its registered name, a ``Metric`` object as its spec."""
    return [metric if isinstance(metric, str) else saving.stored_name(metric) if inspect.isfunction(metric)
            else serialization.serialize(metric) for metric in metrics]


def check_layers(layers):
    """Refuse, before a byte is written, layers that a file could not name or rebuild: each
    layer and what it holds (its activation, initializers, regularizers) must be glassnet's own
    or registered, and come back from its JSON config the same. The ConfigurationError names the
    object and where it sits: ``layer 2 (dense_1) kernel_regularizer: the class MyReg is not
    registered; ...``."""
    for i, layer in enumerate(layers):
        where = f"layer {i} ({layer.name})"
        if _round_trip(where, layer, layers_module.deserialize).trainable != layer.trainable:
            raise ConfigurationError(f"{where}: trainable=False is not in its get_config(); start the "
                                     "config from super().get_config()")


def check_compiled(loss, metrics, optimizer):
    """``check_layers`` for the compile settings: the loss, the metrics, the optimizer and its
    schedule."""
    _round_trip("the loss", loss, losses.deserialize)
    _round_trip("the optimizer", optimizer, optimizers.deserialize)
    for i, metric in enumerate(metrics):
        if isinstance(metric, str):
            continue
        where = f"metric {i} ({getattr(metric, 'name', getattr(metric, '__name__', metric))})"
        if saving.SEPARATOR not in _stored_name(where, metric):
            raise ConfigurationError(f"{where}: a model file stores glassnet's own metrics by name only; "
                                     "compile with metric names (metrics=['auc']) to save the model")
        if isinstance(metric, metrics_module.Metric):
            _round_trip(where, metric, _metric_object)


def _round_trip(where, obj, rebuild):
    """``obj`` rebuilt by ``rebuild`` from its spec as a file holds it (JSON text), checked to
    give the same spec again; ConfigurationError naming ``where`` otherwise."""
    _stored_name(where, obj)
    for argument, held in _held_objects(obj):
        _stored_name(f"{where} {argument}", held)
    if not callable(getattr(obj, "get_config", None)):
        raise ConfigurationError(f"{where}: {type(obj).__qualname__} has no get_config(); define it to "
                                 "return the constructor's arguments")
    try:
        with saving.for_a_file():
            text = json.dumps(serialization.serialize(obj), sort_keys=True)
    except GlassnetError as error:
        raise ConfigurationError(f"{where}: {error}") from None
    except (TypeError, ValueError) as error:
        raise ConfigurationError(f"{where}: its get_config() is not JSON: {error}") from None
    try:
        rebuilt = rebuild(json.loads(text))
        again = json.dumps(serialization.serialize(rebuilt), sort_keys=True)
    except (GlassnetError, TypeError, ValueError, KeyError, AttributeError) as error:
        raise ConfigurationError(f"{where}: {type(obj).__qualname__} cannot be rebuilt from its get_config() "
                                 f"{text}: {schema.described(error)}") from None
    before, after = _kept_arguments(obj), _kept_arguments(rebuilt)
    lost = next((a for a, value in before.items() if _as_text(value) != _as_text(after.get(a))), None)
    if again != text or lost is not None:
        changed = f"gives {again}" if again != text else f"has {lost}={after.get(lost)!r} instead of {before[lost]!r}"
        raise ConfigurationError(f"{where}: {type(obj).__qualname__} rebuilt from its get_config() {text} {changed}; "
                                 "get_config() must return the constructor's arguments")
    return rebuilt


def _kept_arguments(obj):
    """``{argument: value}`` for each constructor argument that ``obj`` keeps under its own name."""
    kept = vars(obj)
    return {a: kept[a] for a in _constructor_arguments(type(obj)) if a in kept}


@functools.lru_cache(maxsize=None)
def _constructor_arguments(cls):
    return tuple(inspect.signature(cls).parameters)  # 0.1 ms each time: remembered per class


def _held_objects(obj):
    """``(argument, value)`` of the kept arguments that a file names in turn: functions (an
    initializer) and objects with a config."""
    return [(a, value) for a, value in _kept_arguments(obj).items() if _is_named(value)]


def _is_named(value):
    return inspect.isfunction(value) or (not inspect.isclass(value) and hasattr(value, "get_config"))


def _as_text(value):
    """A kept argument as comparable text: the name of what it is if it is named, JSON if it is
    plain data, else None (not compared)."""
    if _is_named(value):
        return saving.config_name(value)
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return None


def _stored_name(where, obj):
    try:
        return saving.stored_name(obj)
    except ConfigurationError as error:
        raise ConfigurationError(f"{where}: {error}") from None


def trainable_flags(saved, layers):
    """Each layer's ``trainable`` in the layer specs ``saved`` (a file's), if they are the
    model's own ``layers`` but for ``trainable``; None if they describe another architecture."""
    if not isinstance(saved, list) or len(saved) != len(layers):
        return None
    flags = []
    for spec, own in zip(saved, layers):
        if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
            return None
        flag = spec["config"].get("trainable", True)
        if not isinstance(flag, bool) or \
                {**spec, "config": _without_trainable(spec["config"])} != {**own, "config": _without_trainable(own["config"])}:
            return None
        flags.append(flag)
    return flags


def _without_trainable(config):
    return {key: value for key, value in config.items() if key != "trainable"}


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
