"""The model and the examples a trace runs on: the default network, the float64 copy of a
user's model (the layers ``explain`` can trace, the size it accepts), the examples and targets
drawn or checked, and the limits that keep a trace readable."""
import math

import numpy as np

from .. import checks, losses
from ..errors import ConfigurationError, NotBuiltError, ShapeError
from ..functional import Model
from ..heads import Heads
from ..layers import BatchNormalization, Dense, Input, activations
from ..model import Sequential
from .trace import _kind


TASKS = ("regression", "classification")
MAX_EXAMPLES = 8  # a trace of more rows does not read well
MAX_STEPS = 100  # nor one of more layer calls
BATCH_EXAMPLES = 4  # drawn for a model with a BatchNormalization
SUPPORTED = "Dense, activation, BatchNormalization, LayerNormalization and Add layers"


def _heads(model):
    """``(losses the loop calls, their weights)``, one per output."""
    if isinstance(model.head_loss, Heads):
        return model.head_loss.losses, model.head_loss.weights
    return [model.head_loss], [1.0]


def _default_model(task, inputs, hidden, outputs, activation, seed):
    """The model ``explain`` makes when given none (declared, built by ``_float64_copy``)."""
    regression = task == "regression"
    inputs = checks.positive_int("inputs", inputs)
    outputs = checks.positive_int("outputs", outputs if outputs is not None else (1 if regression else 2))
    layers = [Dense(units, activation=activation) for units in checks.positive_ints("hidden", hidden)]
    # classification: a softmax over 2 or more classes, or one sigmoid output (yes/no: cat or dog)
    layers.append(Dense(outputs, activation=None if regression else "softmax" if outputs > 1 else "sigmoid"))
    return Sequential([Input((inputs,)), *layers], seed=seed, dtype="float64")


def _float64_copy(model, x, max_parameters):
    """A built float64 copy of ``model`` with its weights, after checking every layer can be shown."""
    if isinstance(model, Model):
        layers = [node.layer for node in model._nodes]
        shapes = [t.shape for t in model.inputs]
        if any(t.node is None for t in model.outputs):
            raise ConfigurationError("explain traces outputs that a layer makes; an output of this model is one of its inputs")
    elif isinstance(model, Sequential):
        layers = model.layers
        if not layers:
            raise ConfigurationError("the model has no layers")
        if model.input_shape is None and x is None:
            raise NotBuiltError("the model does not know its input size: build it or pass an example x")
        shapes = [model.input_shape or x.shape[-1:]]
    else:
        raise ConfigurationError(f"explain takes a Sequential model or a graph gn.Model, got {type(model).__name__}")
    if len(layers) > MAX_STEPS:
        raise ConfigurationError(f"the model has {len(layers)} layer calls; a trace of more than {MAX_STEPS} does not "
                                 "read well")
    for layer in layers:
        if _kind(layer) is None:
            kind = type(layer).__name__
            raise ConfigurationError(f"explain traces {SUPPORTED}; layer {layer.name!r} is "
                                     f"{'an' if kind[0] in 'AEIOU' else 'a'} {kind}, which it cannot show")
        if isinstance(layer, BatchNormalization) and not layer.trainable:
            raise ConfigurationError(f"explain shows a BatchNormalization training on the batch's statistics; layer "
                                     f"{layer.name!r} is frozen (trainable=False) and would use its moving statistics")
    for name, shape in zip(_input_names(model), shapes):
        if len(shape) != 1:
            raise ConfigurationError(f"explain traces inputs of shape (features,); input {name!r} has shape {tuple(shape)}")
    if isinstance(model, Sequential):
        declared = model.parameter_shapes(shapes[0])
    else:
        declared = model.parameter_shapes()
    size = sum(math.prod(shape) for shape in declared.values())
    if size > max_parameters:
        raise ConfigurationError(f"the model has {size} parameters; a trace of more than "
                                 f"max_parameters={max_parameters} does not read well (raise the limit to see it anyway)")
    if isinstance(model, Model):
        clone = Model.from_config({**model.get_config(), "dtype": "float64"})
    else:
        if not model.built:
            model.build(shapes[0])
        clone = Sequential.from_config({**model.get_config(), "dtype": "float64", "input_shape": list(model.input_shape)})
    clone.set_weights(model.get_weights())
    return clone


def _input_names(model):
    return list(model.input_names) if isinstance(model, Model) else ["x"]


def _compile(clone, model, optimizer):
    """``optimizer`` and the model's loss(es), or losses from the output activations."""
    if isinstance(model, Model):
        outputs = [t.node.layer for t in clone.outputs]
        loss = model.loss if model.loss is not None else [_loss_for(layer) for layer in outputs]
        weights = getattr(model, "_loss_weights", None) if model.loss is not None else None
        clone.compile(optimizer=optimizer, loss=loss, loss_weights=weights)
    else:
        loss = model.loss if model.loss is not None else _loss_for(clone.layers[-1])
        clone.compile(optimizer=optimizer, loss=loss)


def _loss_for(last):
    output = last.output_activation
    if isinstance(output, activations.Softmax):
        return losses.SparseCategoricalCrossentropy()
    if isinstance(output, activations.Sigmoid):
        return losses.BinaryCrossentropy()
    return losses.MeanSquaredError()


def _batch_normalizations(model):
    return [layer for layer in model.layers if isinstance(layer, BatchNormalization)]


def _examples(model, x, examples, rng):
    """The examples as rows of float64 (drawn from ``rng`` when ``x`` is None), one array per input."""
    names = _input_names(model)
    shapes = [t.shape for t in model.inputs] if isinstance(model, Model) else [model.input_shape]
    normalizing = _batch_normalizations(model)
    if x is None:
        n = examples or (BATCH_EXAMPLES if normalizing else 1)
        arrays = [np.round(rng.uniform(-1, 1, (n,) + tuple(shape)), 1) for shape in shapes]
    else:
        given = _per_input(x, names)
        arrays = []
        for name, shape, a in zip(names, shapes, given):
            a = checks.numeric_array("x" if len(names) == 1 else f"x[{name!r}]", a).astype(np.float64)
            if a.ndim == 1:
                a = a[None]
            if a.ndim != 2 or not 1 <= len(a) <= MAX_EXAMPLES:
                raise ShapeError(f"explain traces 1 to {MAX_EXAMPLES} examples: x{'' if len(names) == 1 else f'[{name!r}]'} "
                                 f"must have shape ({shape[0]},) or (n, {shape[0]}) with n <= {MAX_EXAMPLES}, got {np.shape(a)}")
            arrays.append(a)
        n = len(arrays[0])
        if examples is not None and examples != n:
            raise ConfigurationError(f"examples={examples} but x holds {n}; leave examples out when passing x")
    if normalizing and n < 2:
        raise ConfigurationError(f"layer {normalizing[0].name!r} (BatchNormalization) normalizes each feature over the "
                                 "batch: with one example every x_hat is 0; trace 2 or more (x with several rows, "
                                 f"or examples={BATCH_EXAMPLES})")
    return arrays[0] if len(arrays) == 1 else arrays


def _per_input(x, names):
    """``x`` as a list in the order of ``names``: one array for one input, a list or dict for several."""
    if len(names) == 1:
        return [x]
    if isinstance(x, dict):
        missing = [name for name in names if name not in x]
        unknown = [key for key in x if key not in names]
        if missing or unknown:
            raise ConfigurationError(f"the inputs are {names}: " + (f"{missing[0]!r} is missing" if missing
                                                                  else f"no input is named {unknown[0]!r}"))
        return [x[name] for name in names]
    if not isinstance(x, (list, tuple)) or len(x) != len(names):
        raise ConfigurationError(f"the model has {len(names)} inputs ({names}): pass x as a list or a dict by name")
    return list(x)


def _targets(model, y, n, rng):
    """The targets, one array per output (drawn from ``rng`` when ``y`` is None); one example's
    given as a flat list or number."""
    heads, _ = _heads(model)
    shapes = [t.shape for t in model.outputs] if isinstance(model, Model) else [model.output_shape]
    names = list(model.output_names) if isinstance(model, Model) else ["y"]
    if y is None:
        targets = [_draw_target(loss, shape[0], n, rng) for loss, shape in zip(heads, shapes)]
    else:
        given = _per_output(y, names)
        targets = [_one_example_target(loss, t) if n == 1 else t for loss, t in zip(heads, given)]
    return targets[0] if len(targets) == 1 else targets


def _per_output(y, names):
    if len(names) == 1:
        return [y]
    if isinstance(y, dict):
        return [y.get(name) for name in names] if set(y) == set(names) else _refuse_targets(names)
    if not isinstance(y, (list, tuple)) or len(y) != len(names):
        _refuse_targets(names)
    return list(y)


def _refuse_targets(names):
    raise ConfigurationError(f"the model has {len(names)} outputs ({names}): pass y as a list or a dict by name, "
                             "one target per output")


def _draw_target(loss, units, n, rng):
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        return np.array([rng.integers(units) for _ in range(n)])
    if isinstance(loss, losses.CategoricalCrossentropy):
        return np.eye(units)[[rng.integers(units) for _ in range(n)]]
    if isinstance(loss, losses.BinaryCrossentropy):
        return rng.integers(0, 2, (n, units)).astype(np.float64)
    return np.round(rng.uniform(-1, 1, (n, units)), 1)


def _one_example_target(loss, y):
    y = checks.numeric_array("y", y)
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        return y.reshape(1) if y.size == 1 else y
    return y.reshape(1, -1) if y.ndim <= 1 else y
