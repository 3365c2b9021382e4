"""``explain``: check the arguments, copy the model to float64, run its steps forward and
backward one at a time recording every number, check the gradients, and take the optimizer steps."""
import collections

import numpy as np

from .. import checks, optimizers, regularizers, training
from ..errors import ConfigurationError
from ..functional import Model
from ..gradcheck import GradcheckReport, gradcheck
from ..layers import activations
from ..layers.normalization import normalize
from ..model import Sequential
from .examples import (MAX_EXAMPLES, TASKS, _batch_normalizations, _compile, _default_model, _examples,
                       _float64_copy, _heads, _targets)
from .sections import _relative_errors
from .trace import LayerTrace, OptimizerTrace, OutputTrace, StepTrace, Trace

MAX_OPTIMIZER_STEPS = 10  # a trace of more optimizer steps does not read well


def explain(model=None, x=None, y=None, *, learning_rate=0.1, task="regression", inputs=2,
            hidden=(3,), outputs=None, activation="sigmoid", seed=0, max_parameters=500, examples=None,
            optimizer="sgd", steps=1):
    """Trace one forward pass, backward pass and gradient-descent step of ``model`` on a few examples.

    Without a model, one is made with ``inputs`` inputs, a Dense layer of each size in ``hidden``
    (activation ``activation``) and ``outputs`` outputs: for ``task="regression"`` one linear
    output and the mean squared error, for ``"classification"`` a softmax over ``outputs``
    classes (2 by default) and the cross-entropy, or with ``outputs=1`` one sigmoid output (the
    probability of class 1) and the binary cross-entropy; weights from ``seed``. ``model`` may be a
    ``Sequential`` or a graph ``gn.Model`` of the layers the module docstring names. A model
    that is not compiled gets its loss from its last activation (softmax: sparse categorical
    cross-entropy, sigmoid: binary cross-entropy, otherwise MSE), one per output.

    ``x`` is one example (shape ``(features,)``) or a batch of up to ``MAX_EXAMPLES`` (shape
    ``(n, features)``; a list or dict of them for a model with several inputs), ``y`` its
    targets (a list or dict of them for several outputs); either is drawn from ``seed`` when
    left out, ``examples`` examples (1, or 4 for a model with a BatchNormalization, which needs
    two or more).

    The step is plain SGD with ``learning_rate`` whatever the model's optimizer, or
    ``optimizer="momentum"`` (SGD with momentum 0.9), ``"adam"`` (Adam's defaults), or an
    ``SGD`` or ``Adam`` instance (its own learning rate and settings, without weight decay or
    clipping); ``steps`` steps (at most ``MAX_OPTIMIZER_STEPS``) on the same examples show what
    the optimizer remembers from one to the next: each weight's gradient, momentum buffer or
    Adam's moments, its step size and update, next to plain SGD's ``-learning_rate * dL/dw``.
    """
    if task not in TASKS:
        raise ConfigurationError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    rng = np.random.default_rng(checks.seed("seed", seed))
    max_parameters = checks.positive_int("max_parameters", max_parameters)
    steps = checks.positive_int("steps", steps)
    if steps > MAX_OPTIMIZER_STEPS:
        raise ConfigurationError(f"steps must be at most {MAX_OPTIMIZER_STEPS} (a trace of more does not read well), "
                                 f"got {steps}")
    step_optimizer = _optimizer(optimizer, learning_rate)
    if examples is not None:
        examples = checks.positive_int("examples", examples)
        if examples > MAX_EXAMPLES:
            raise ConfigurationError(f"examples must be at most {MAX_EXAMPLES} (a trace of more rows does not "
                                     f"read well), got {examples}")
    if model is None:
        model = _default_model(task, inputs, hidden, outputs, activation, seed)
    if x is not None and not isinstance(model, Model):
        x = checks.numeric_array("x", x)
    clone = _float64_copy(model, x, max_parameters)
    _compile(clone, model, step_optimizer)
    x = _examples(clone, x, examples, rng)
    y = _targets(clone, y, training.rows(x), rng)
    x, y, _ = training.prepare(clone, x, y)
    for layer in clone.layers:  # show dL/dx too
        layer.compute_input_gradient = True
    state = _parameter_values(clone)
    trace = _run(clone, x, y)
    _restore(clone, state)  # the forward moved the moving statistics; the step moves them once
    moving = [p for layer in _batch_normalizations(clone) for p in (layer.moving_mean, layer.moving_variance)]
    trace.check = _judged(gradcheck(clone, x, y, max_entries=max_parameters), {p.name for p in moving})
    _restore(clone, state)
    trainable = [p for p in clone.parameters() if p.trainable]
    trace.optimizer = OptimizerTrace(clone.optimizer)
    trace.learning_rate = trace.optimizer.learning_rate
    trace.steps = []
    loss_before = trace.loss
    slots = {p.name: {slot: np.zeros(p.shape) for slot in clone.optimizer.slots} for p in trainable}
    for _ in range(steps):
        before = {p.name: p.value.copy() for p in trainable}
        training.train_step(clone, x, y, None)
        record = StepTrace(clone.optimizer.iterations, loss_before)
        record.updates = {p.name: (before[p.name], p.grad.copy(), p.value.copy()) for p in trainable}
        record.slots_before = slots
        if clone.optimizer.slots:
            saved = clone.optimizer.state_dict()["state"]
            slots = {p.name: saved[p.name] for p in trainable}
        record.slots = slots
        record.loss_after = loss_before = _training_loss(clone, x, y)
        if not trace.steps:
            trace.moving = {p.name: (state[p.name], p.value.copy()) for p in moving}
        trace.optimizer.derive(record)
        trace.steps.append(record)
    trace.updates, trace.loss_after = trace.steps[0].updates, trace.steps[0].loss_after
    trace.frozen = [p.name for p in clone.parameters() if not p.trainable and p.name not in trace.moving]
    trace.shapes = {p.name: p.shape for p in clone.parameters()}
    return trace


def _optimizer(optimizer, learning_rate):
    """The optimizer of the traced steps: a name or an SGD/Adam instance (copied: its state is not touched)."""
    if isinstance(optimizer, str):
        names = {"sgd": lambda: optimizers.SGD(learning_rate),
                 "momentum": lambda: optimizers.SGD(learning_rate, momentum=0.9),
                 "adam": lambda: optimizers.Adam(learning_rate)}
        if optimizer not in names:
            raise ConfigurationError(f"optimizer must be one of {', '.join(names)} or an SGD or Adam instance, "
                                     f"got {optimizer!r}")
        return names[optimizer]()
    if type(optimizer) not in (optimizers.SGD, optimizers.Adam):
        raise ConfigurationError(f"explain shows the steps of SGD (with or without momentum) and Adam; got "
                                 f"{type(optimizer).__name__}")
    if optimizer.weight_decay or optimizer.clipnorm or optimizer.clipvalue or optimizer.global_clipnorm:
        raise ConfigurationError("explain shows the optimizer's step without weight_decay or clipping; "
                                 f"got {optimizer!r}")
    return type(optimizer).from_config(optimizer.get_config())


class _Step:
    """One layer call: ``reads`` (keys of the tensors read), ``made`` (the key of its output),
    ``as_list`` (a merge layer's list), ``fused`` (the loss takes its logits)."""

    def __init__(self, layer, name, reads, read_names, made, as_list, fused, reads_input):
        self.layer, self.name, self.reads, self.read_names = layer, name, reads, read_names
        self.made, self.as_list, self.fused, self.reads_input = made, as_list, fused, reads_input


def _steps(model):
    """``(steps, input keys, input names, output keys, output names)``; a tensor's key is the
    index of the step that makes it, or ``("input", i)``."""
    fused = _fused_outputs(model)
    if isinstance(model, Sequential):
        steps, last = [], len(model.layers) - 1
        for i, layer in enumerate(model.layers):
            reads = [("input", 0)] if i == 0 else [i - 1]
            steps.append(_Step(layer, layer.name, reads, ["x" if i == 0 else model.layers[i - 1].name], i,
                               False, i == last and fused[0], i == 0))
        return steps, [("input", 0)], ["x"], [last], [model.layers[-1].name]
    keys = {id(t): ("input", i) for i, t in enumerate(model.inputs)}
    names = {("input", i): name for i, name in enumerate(model.input_names)}
    keys.update((id(node), j) for j, node in enumerate(model._nodes))
    fused_nodes = {id(t.node) for t, f in zip(model.outputs, fused) if f}
    counts = collections.Counter(id(node.layer) for node in model._nodes)
    calls = {}
    steps = []
    for j, node in enumerate(model._nodes):
        calls[id(node.layer)] = calls.get(id(node.layer), -1) + 1
        names[j] = node.layer.name if counts[id(node.layer)] == 1 else f"{node.layer.name}[{calls[id(node.layer)]}]"
        reads = [keys[_tensor_id(t)] for t in node.inputs]
        steps.append(_Step(node.layer, names[j], reads, [names[k] for k in reads], j, node.as_list,
                           id(node) in fused_nodes, any(isinstance(k, tuple) for k in reads)))
    output_keys = [keys[_tensor_id(t)] for t in model.outputs]
    return steps, [("input", i) for i in range(len(model.inputs))], list(model.input_names), output_keys, \
        list(model.output_names)


def _tensor_id(tensor):
    return id(tensor.node) if tensor.node is not None else id(tensor)


def _fused_outputs(model):
    """Whether each output's loss takes its logits (compile fused its softmax/sigmoid)."""
    compiled = model.loss if isinstance(model.loss, list) else [model.loss]
    return [head is not loss for head, loss in zip(_heads(model)[0], compiled)]


def _is_softmax(layer):
    inner = layer.activation if type(layer) is activations.Activation else layer
    return isinstance(inner, activations.Softmax)


def _run(model, x, y):
    """The traced forward and backward: the layers' own closures, one step at a time, the
    gradients of a tensor read twice added as ``Model.backward`` adds them."""
    steps, input_keys, input_names, output_keys, output_names = _steps(model)
    trace = Trace()
    trace.graph = isinstance(model, Model)
    trace.x, trace.y = x, y
    trace.examples = training.rows(x)
    trace.input_names, trace.input_sizes = input_names, [a.shape[-1] for a in (x if isinstance(x, list) else [x])]
    names = dict(zip(input_keys, input_names))
    names.update((step.made, step.name) for step in steps)
    values = dict(zip(input_keys, x if isinstance(x, list) else [x]))
    trace.layers, backwards = [], []
    for index, step in enumerate(steps):
        record = LayerTrace(step, index)
        read = [values[k] for k in step.reads] if step.as_list else values[step.reads[0]]
        values[step.made], backward = _FORWARD[record.kind](step, record, read)
        trace.layers.append(record)
        backwards.append(backward)
    trace.ancestors = _ancestors(steps, names)
    trace.kinds = {r.name: r.kind for r in trace.layers}
    counts = collections.Counter(id(step.layer) for step in steps)
    shared = {id(step.layer) for step in steps if counts[id(step.layer)] > 1}
    trace.shared = {}
    for step in steps:
        if id(step.layer) in shared:
            trace.shared.setdefault(step.layer.name, []).append(step.name)
    outputs = [values[k] for k in output_keys]
    several = len(outputs) > 1  # as the model's forward gives them to the loss
    data_loss, d_heads = model.head_loss.unchecked_value_and_grad(y, outputs if several else outputs[0])
    d_heads = d_heads if several else [d_heads]
    trace.outputs = _output_traces(model, trace, output_keys, output_names, outputs, y, d_heads)
    first = trace.outputs[0]
    trace.prediction, trace.loss_object, trace.fused, trace.d_head = first.prediction, first.loss_object, \
        first.fused, first.d_head
    trace.data_loss = data_loss
    # backward: each tensor's gradient is the sum of what its readers send back, in the order
    # they send it (the reverse order of the steps, as Model.backward adds them)
    arriving = {}
    for key, d in zip(output_keys, d_heads):
        arriving.setdefault(key, []).append(("the loss", d))
    trace.gradients, trace.paths = {}, {}
    kept = {}  # a shared layer's parameter gradients from its calls already run back
    for step, record, backward in zip(reversed(steps), reversed(trace.layers), reversed(backwards)):
        d = _gradient_of(trace, step.name, arriving.pop(step.made))
        if id(step.layer) in kept:
            before = kept[id(step.layer)]
            dx = backward(d)
            for p, g in zip(step.layer.parameters(), before):
                p.grad += g
        else:
            dx = backward(d)
        if id(step.layer) in shared:
            kept[id(step.layer)] = [p.grad.copy() for p in step.layer.parameters()]
        for key, d_input in zip(step.reads, dx if step.as_list else [dx]):
            if d_input is not None:
                arriving.setdefault(key, []).append((step.name, d_input))
    for key, name in zip(input_keys, input_names):
        if key in arriving:
            _gradient_of(trace, name, arriving.pop(key))
    trace.penalty = regularizers.add_penalties(model.regularized_parameters) if model.regularized_parameters else 0.0
    trace.loss = data_loss + trace.penalty
    return trace


def _output_traces(model, trace, keys, names, outputs, y, d_heads):
    """An ``OutputTrace`` per output: its loss, prediction (probabilities for a fused one), targets,
    loss value and each example's, and the gradient it sends back (``d_heads``, the model's own)."""
    heads, weights = _heads(model)
    ys = y if isinstance(y, list) else [y]
    records = []
    for key, name, head, weight, fused, out, target, d in zip(keys, names, heads, weights, _fused_outputs(model),
                                                                outputs, ys, d_heads):
        o = OutputTrace()
        o.name, o.loss_object, o.weight, o.fused, o.y, o.d_head = name, head, weight, fused, target, d
        o.prediction = trace.layers[key].outputs
        o.data_loss = head.unchecked_value_and_grad(target, out)[0]
        o.per_example = head.unchecked_per_example(target, out)[0]
        records.append(o)
    return records


def _gradient_of(trace, name, parts):
    """The sum of the gradients ``parts`` (``(reader, gradient)``) arriving at tensor ``name``,
    added in the order they came, as ``Model.backward`` adds them; kept in ``trace``."""
    total = parts[0][1]
    for _, d in parts[1:]:
        total = total + d
    trace.gradients[name] = total
    if len(parts) > 1:
        trace.paths[name] = [(reader, d.copy()) for reader, d in parts]
    return total


def _ancestors(steps, names):
    """Tensor name -> the names of every tensor it is computed from."""
    ancestors = {}
    for step in steps:
        found = set()
        for key in step.reads:
            found.add(names[key])
            found |= ancestors.get(names[key], set())
        ancestors[step.name] = found
    return ancestors


def _dense(step, r, a):
    layer = step.layer
    r.inputs, r.weight = a.copy(), layer.weight.value.copy()
    r.bias = None if layer.bias is None else layer.bias.value.copy()
    z, backward_affine = layer.forward_logits(a, training=True)
    r.z = z.copy()
    backward_activation = None
    if layer.activation is None:
        out = shown = z
    elif step.fused:
        out = z  # the loss takes the logits; the probabilities are only shown
        shown = layer.activation.forward(z)[0]
    else:
        out, backward_activation = layer.activation.forward(z, training=True)
        shown = out
    r.outputs = shown.copy()

    def backward(d):
        r.d_outputs, r.local = d.copy(), None
        if backward_activation is not None:
            if not _is_softmax(layer.activation):
                r.local = backward_activation(np.ones_like(d))
            d = backward_activation(d)
        r.dz = d.copy()
        d = backward_affine(d)
        r.d_weight = layer.weight.grad.copy()
        r.d_bias = None if layer.bias is None else layer.bias.grad.copy()
        r.d_inputs = None if d is None else d.copy()
        return d

    return out, backward


def _activation(step, r, a):
    layer = step.layer
    r.inputs = a.copy()
    if step.fused:
        out, backward_layer = layer.forward_logits(a, training=True)
        r.outputs = layer.forward(a)[0].copy()
    else:
        out, backward_layer = layer.forward(a, training=True)
        r.outputs = out.copy()

    def backward(d):
        r.d_outputs = d.copy()
        r.local = None if step.fused or _is_softmax(layer) else backward_layer(np.ones_like(d))
        dx = backward_layer(d)
        r.d_inputs = None if dx is None else dx.copy()
        return dx

    return out, backward


def _normalization(step, r, a):
    layer = step.layer
    batch = r.kind == "batch_normalization"
    axis = 0 if batch else -1  # the statistics: per feature over the batch, or per example over its features
    r.inputs = a.copy()
    if batch:
        moving = [layer.moving_mean, layer.moving_variance]
        before = [p.value.copy() for p in moving]
    y, backward_layer = layer.forward(a, training=True)
    x_hat, mean, variance, inv_std = normalize(a, (0,) if batch else -1, layer.epsilon)  # as the layer does
    r.mean, r.variance, r.std = mean.reshape(-1), variance.reshape(-1), (1 / inv_std).reshape(-1)
    r.x_hat = x_hat
    r.gamma = None if layer.gamma is None else layer.gamma.value.copy()
    r.beta = None if layer.beta is None else layer.beta.value.copy()
    r.outputs = y.copy()
    if batch:
        r.moving = {p.name: (b, p.value.copy()) for p, b in zip(moving, before)}

    def backward(d):
        r.d_outputs = d.copy()
        dx = backward_layer(d)
        r.d_gamma = None if layer.gamma is None else layer.gamma.grad.copy()
        r.d_beta = None if layer.beta is None else layer.beta.grad.copy()
        r.d_x_hat = d * r.gamma if r.gamma is not None else d.copy()
        r.through_mean = r.d_x_hat.mean(axis=axis)
        r.through_variance = (r.d_x_hat * x_hat).mean(axis=axis)
        r.d_inputs = None if dx is None else dx.copy()
        return dx

    return y, backward


def _add(step, r, xs):
    r.inputs = [x.copy() for x in xs]
    y, backward_layer = step.layer.forward(xs, training=True)
    r.outputs = y.copy()

    def backward(d):
        r.d_outputs = d.copy()
        dxs = backward_layer(d)
        r.d_inputs = [None if dx is None else dx.copy() for dx in dxs]
        return dxs

    return y, backward


_FORWARD = {"dense": _dense, "activation": _activation, "batch_normalization": _normalization,
            "layer_normalization": _normalization, "add": _add}


def _parameter_values(model):
    return {p.name: p.value.copy() for p in model.parameters()}


def _restore(model, values):
    for p in model.parameters():
        p.value[...] = values[p.name]


def _judged(check, moving):
    """``check`` with each entry judged against the largest gradient of the whole model (gradcheck
    judges an array against its own largest entry, so an array whose gradient is 0 but for
    rounding, such as a bias's just before a BatchNormalization, would fail); the moving
    statistics, which no gradient moves, left out."""
    compared = {name: v for name, v in check.compared.items() if name not in moving}
    scale = max([np.abs(np.concatenate([a, n])).max(initial=0.0) for _, a, n in compared.values()] + [1e-12])
    errors = {name: float(_relative_errors(a, n, scale).max(initial=0.0)) for name, (_, a, n) in compared.items()}
    judged = GradcheckReport(errors, check.tolerance, compared)
    judged.scale = scale
    return judged


def _training_loss(model, x, y):
    """The loss on the batch as the step saw it (training mode: a BatchNormalization with the
    batch's statistics), its moving statistics left as the step set them."""
    state = _parameter_values(model)
    outputs, _ = model.forward_head(x, training=True)
    loss, _ = model.head_loss.unchecked_value_and_grad(y, outputs)
    _restore(model, state)
    return loss + regularizers.total_penalty(model.regularized_parameters)
