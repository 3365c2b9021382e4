"""One forward pass, one backward pass and one step of gradient descent, with every number.

    trace = gn.explain()                  # 2 inputs -> 3 sigmoid neurons -> 1 output, one example
    trace.print()                         # tables in the terminal (colours with rich)
    trace.to_markdown()                   # the same as Markdown
    gn.explain(model, x, y)               # a Sequential or a graph gn.Model, one example or a few
    gn.explain(optimizer="adam", steps=3) # three Adam steps: each weight's moments, step size, update

It traces Dense layers (with their activation), activation layers (``ReLU()``,
``Activation("tanh")``, ...), ``BatchNormalization``, ``LayerNormalization`` and, in a graph
``gn.Model``, ``Add`` (a residual connection); any other layer is refused by name. ``x`` is one
example or a batch of up to ``MAX_EXAMPLES`` (a model with a BatchNormalization needs two or
more: it normalizes over the batch; 4 are drawn by default).

For each Dense layer with inputs ``a`` (the example ``x`` for the first layer) the trace shows,
per neuron ``j`` (and per example ``r`` of a batch),

    forward:   z_j = a_1 w_1j + a_2 w_2j + ... + b_j,     output_j = f(z_j)
    backward:  dL/dz_j = dL/doutput_j * f'(z_j)            (the gradient arriving times the local one)
               dL/dw_ij = a_i * dL/dz_j (summed over the examples),   dL/db_j = dL/dz_j,
               dL/da_i = sum_j w_ij dL/dz_j

for a normalization, with the mean and variance over the batch (BatchNormalization, per feature)
or over the features (LayerNormalization, per example),

    forward:   x_hat = (a - mean) / sqrt(var + eps),   output = gamma * x_hat + beta
               (BatchNormalization, training: moving = momentum * moving + (1 - momentum) * batch statistic)
    backward:  dL/dgamma = sum dL/doutput * x_hat,   dL/dbeta = sum dL/doutput,   d_x_hat = dL/doutput * gamma
               dL/da = (d_x_hat - mean(d_x_hat) - x_hat * mean(d_x_hat * x_hat)) / sqrt(var + eps)

for an Add, ``output = a + b`` forward and the same gradient back to both inputs; and where a
tensor is read by several steps (the source of a skip connection), the gradients that come back
along each path and their sum, the chain rule's sum over paths. Then the update
``w <- w - lr * dL/dw`` of every trainable parameter (and the moving statistics' new values),
the loss before and after it, and each analytic gradient next to its central difference from
``glassnet.gradcheck``. With ``optimizer="momentum"`` or ``"adam"`` the update shows what the
optimizer remembers (the velocity ``b <- 0.9 b + dL/dw``; Adam's ``m`` and ``v``, their bias
corrections) and each weight's step size and update next to plain SGD's ``-lr * dL/dw``;
``steps=N`` runs N steps on the same examples and adds each weight's total move. A classifier
with one sigmoid output and the binary cross-entropy shows ``p = sigmoid(z)`` as the probability
of class 1, the loss ``-log p`` (or ``-log(1 - p)``) and ``dL/dz = p - y``.

The numbers are what the layers' own forward and backward closures, the loss's
``value_and_grad`` and ``training.train_step`` produce, run in float64 on a copy of the model
(the model passed in is not changed). The one exception: a normalization keeps its mean,
variance and ``x_hat`` inside its closures, so the trace computes them with the layer's own
``normalization.normalize`` and the pieces of the three-term backward from them (the tests
check that they give the layer's own output and ``dL/da``). With a softmax (sigmoid) output
and a cross-entropy the loss takes the logits ``z`` and sends back ``dL/dz = p - y``, as in
training.
"""
import collections
import math

import numpy as np

from . import checks, losses, optimizers, regularizers, report, training
from .errors import ConfigurationError, NotBuiltError, ShapeError
from .functional import Model
from .gradcheck import GradcheckReport, gradcheck
from .heads import Heads
from .layers import Add, BatchNormalization, Dense, Input, LayerNormalization, activations
from .layers.normalization import normalize
from .model import Sequential

TASKS = ("regression", "classification")
MAX_EXAMPLES = 8  # a trace of more rows does not read well
MAX_STEPS = 100  # nor one of more layer calls
MAX_OPTIMIZER_STEPS = 10  # nor one of more optimizer steps
BATCH_EXAMPLES = 4  # drawn for a model with a BatchNormalization
SUPPORTED = "Dense, activation, BatchNormalization, LayerNormalization and Add layers"


class LayerTrace:
    """The numbers of one step (a layer of a Sequential, a node of a graph Model). Arrays have one
    row per example: ``inputs`` (a list of arrays for an Add), ``outputs`` (after the
    activation; the probabilities for a fused output), ``d_outputs`` (the gradient arriving;
    ``dL/dz`` itself for a fused output), ``d_inputs`` (a list for an Add; None where nothing
    is passed back). ``kind`` says which others there are:

    - ``"dense"``: ``weight`` (inputs, units), ``bias``, ``z``, ``local`` (``f'(z)``, None
      without an elementwise activation), ``dz``, ``d_weight``, ``d_bias``.
    - ``"activation"``: ``local`` (``f'(inputs)``, None for a softmax or a fused output).
    - ``"batch_normalization"``, ``"layer_normalization"``: ``mean``, ``variance``, ``std``
      (``sqrt(var + eps)``; per feature for BatchNormalization, per example for
      LayerNormalization), ``x_hat``, ``gamma``, ``beta`` (None when left out), ``d_gamma``,
      ``d_beta``, ``d_x_hat``, ``through_mean`` (the mean of ``d_x_hat``), ``through_variance``
      (the mean of ``d_x_hat * x_hat``); BatchNormalization also ``momentum`` and ``moving``
      (parameter name -> (before, after) the forward).
    - ``"add"``: nothing more.

    ``name`` is the layer's name (``name[k]`` for the k-th call of a shared layer), ``reads``
    the names of the tensors it reads, ``index`` its place (0 first)."""

    def __init__(self, step, index):
        layer = step.layer
        self.name, self.index, self.reads = step.name, index, list(step.read_names)
        self.kind, self.layer_type = _kind(layer), type(layer).__name__
        self.fused = step.fused
        self.source = "x" if step.reads_input else "a"
        if self.kind == "dense":
            self.activation, self.units = _activation_name(layer.activation), layer.units
        elif self.kind == "activation":
            self.activation = _activation_name(layer)
        elif self.kind in ("batch_normalization", "layer_normalization"):
            self.epsilon = float(layer.epsilon)
            if self.kind == "batch_normalization":
                self.momentum = float(layer.momentum)


class OutputTrace:
    """One output of the model: ``name``, ``loss_object`` (the loss the training loop calls: fused
    with the output's softmax/sigmoid when ``fused``), ``weight`` (its loss weight), ``prediction``
    (one row per example; probabilities for a fused output), ``y`` (the targets), ``data_loss``
    (its loss before the weight), ``per_example`` (each example's loss) and ``d_head`` (the
    gradient it sends back, weight and the mean over the examples included)."""


class Trace:
    """The result of ``explain``: ``layers`` (``LayerTrace`` per step, in order), ``outputs``
    (``OutputTrace`` per output), the examples ``x`` and targets ``y`` (as the model takes them:
    one row per example), ``examples`` (how many), ``graph`` (a graph Model or a Sequential),
    ``gradients`` (tensor name -> ``dL/d(tensor)``, for the inputs and every step's output),
    ``paths`` (tensor name -> the ``(reader, gradient)`` pairs that add up to it, for each tensor
    read by more than one step), ``prediction``, ``loss_object``, ``fused``, ``d_head`` (those of
    the first output), ``data_loss``, ``penalty`` and ``loss`` (with any L1/L2 penalty) and
    ``loss_after`` the step (both in training mode), ``learning_rate``, ``updates`` (trainable
    parameter name -> (before, gradient, after)), ``moving`` (a BatchNormalization's moving
    statistics: name -> (before, after) the step) and ``check`` (the ``GradcheckReport``).
    ``str()`` and ``to_text()`` give plain text, ``to_markdown()`` Markdown, ``print()`` a
    terminal rendering."""

    def sections(self):
        return _sections(self)

    def to_text(self):
        return report.to_text(self.sections())

    def to_markdown(self, level=2):
        return report.to_markdown(self.sections(), level)

    def print(self, file=None, color=None):
        """Print the trace; colours with ``rich`` on a terminal (``color=False`` for plain text)."""
        report.print_report(self.sections(), file, color, styles={"ok": "green", "FAILED": "bold red"})

    __str__ = to_text


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


class OptimizerTrace:
    """The optimizer of the traced steps: ``kind`` (``"sgd"``, ``"momentum"`` or ``"adam"``),
    ``learning_rate`` and its settings (``momentum``, ``nesterov``; ``beta_1``, ``beta_2``,
    ``epsilon``), ``name`` in words."""

    def __init__(self, optimizer):
        self.learning_rate = float(optimizer.learning_rate)
        if isinstance(optimizer, optimizers.Adam):
            self.kind, self.name = "adam", "Adam"
            self.beta_1, self.beta_2, self.epsilon = optimizer.beta_1, optimizer.beta_2, optimizer.epsilon
        elif optimizer.momentum:
            self.kind, self.momentum, self.nesterov = "momentum", optimizer.momentum, optimizer.nesterov
            self.name = f"SGD with {'Nesterov ' if self.nesterov else ''}momentum {self.momentum:g}"
        else:
            self.kind, self.name = "sgd", "gradient descent"

    def derive(self, step):
        """Add to ``step`` what its update is made of, per parameter, from the optimizer's own state:
        ``update`` (what the optimizer moves each weight by), ``sgd`` (plain SGD's ``-lr * g``),
        and for Adam ``m_hat``, ``v_hat`` and ``rate`` (the step size ``lr / (sqrt(v_hat) + eps)``)."""
        lr, t = self.learning_rate, step.t
        step.update, step.sgd, step.m_hat, step.v_hat, step.rate = {}, {}, {}, {}, {}
        for name, (_, g, _) in step.updates.items():
            step.sgd[name] = -lr * g
            if self.kind == "adam":
                m, v = step.slots[name]["m"], step.slots[name]["v"]
                step.m_hat[name] = m / (1 - self.beta_1 ** t)
                step.v_hat[name] = v / (1 - self.beta_2 ** t)
                step.rate[name] = lr / (np.sqrt(step.v_hat[name]) + self.epsilon)
                step.update[name] = -step.rate[name] * step.m_hat[name]
            elif self.kind == "momentum":
                b = step.slots[name]["momentum"]
                step.update[name] = -lr * (g + self.momentum * b if self.nesterov else b)
            else:
                step.update[name] = -lr * g


class StepTrace:
    """One optimizer step: ``t`` (its number, from 1), ``loss_before`` and ``loss_after`` (on the
    traced examples, training mode), ``updates`` (parameter name -> (before, gradient, after)),
    ``slots_before`` and ``slots`` (parameter name -> {slot: array} before and after the step:
    ``momentum`` for SGD with momentum, ``m`` and ``v`` for Adam; empty for plain SGD), and what
    ``OptimizerTrace.derive`` adds."""

    def __init__(self, t, loss_before):
        self.t, self.loss_before = t, loss_before


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


# -- the steps: a Sequential's layers or a graph's nodes --------------------------------------------

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


def _heads(model):
    """``(losses the loop calls, their weights)``, one per output."""
    if isinstance(model.head_loss, Heads):
        return model.head_loss.losses, model.head_loss.weights
    return [model.head_loss], [1.0]


def _fused_outputs(model):
    """Whether each output's loss takes its logits (compile fused its softmax/sigmoid)."""
    compiled = model.loss if isinstance(model.loss, list) else [model.loss]
    return [head is not loss for head, loss in zip(_heads(model)[0], compiled)]


def _kind(layer):
    if isinstance(layer, Dense):
        return "dense"
    if isinstance(layer, BatchNormalization):
        return "batch_normalization"
    if isinstance(layer, LayerNormalization):
        return "layer_normalization"
    if isinstance(layer, activations.Activation):
        return "activation"
    if isinstance(layer, Add):
        return "add"
    return None


def _is_softmax(layer):
    inner = layer.activation if type(layer) is activations.Activation else layer
    return isinstance(inner, activations.Softmax)


# -- running the steps ----------------------------------------------------------------------------

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


def _relative_errors(analytic, numerical, scale):
    """``|a - n| / max(|a|, |n|, 1e-3 * scale)``, elementwise."""
    return np.abs(analytic - numerical) / np.maximum(np.maximum(np.abs(analytic), np.abs(numerical)), 1e-3 * scale)


def _training_loss(model, x, y):
    """The loss on the batch as the step saw it (training mode: a BatchNormalization with the
    batch's statistics), its moving statistics left as the step set them."""
    state = _parameter_values(model)
    outputs, _ = model.forward_head(x, training=True)
    loss, _ = model.head_loss.unchecked_value_and_grad(y, outputs)
    _restore(model, state)
    return loss + regularizers.total_penalty(model.regularized_parameters)


# -- the model and the examples ---------------------------------------------------------------------

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


def _activation_name(activation):
    if activation is None:
        return "linear"
    if type(activation) is activations.Activation:
        activation = activation.activation
    names = [name for name, cls in activations.ACTIVATIONS.items() if cls is type(activation)]
    return names[0] if names else type(activation).__name__


# -- the report -----------------------------------------------------------------------------------

def num(v):
    """A number as the trace prints it: 4 decimals, or 3 significant digits with an exponent."""
    v = float(v)
    if v == 0:
        return "0"
    return f"{v:.4f}" if 1e-3 <= abs(v) < 1e5 else f"{v:.3e}"


def _factor(v):
    text = num(v)
    return f"({text})" if v < 0 else text


def _vector(v):
    return "[" + ", ".join(num(x) for x in np.ravel(v)) + "]"


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def _sections(t):
    sections = [_network_section(t)]
    sections += [_FORWARD_SECTION[r.kind](t, r) for r in t.layers]
    sections += _loss_sections(t)
    for r in reversed(t.layers):
        if r.name in t.paths:
            sections.append(_paths_section(t, r.name))
        sections.append(_BACKWARD_SECTION[r.kind](t, r))
    sections += [_paths_section(t, name) for name in t.input_names if name in t.paths]
    sections += [_update_section(t, step) if t.optimizer.kind == "sgd" else _optimizer_section(t, step)
                 for step in t.steps]
    if len(t.steps) > 1:
        sections.append(_steps_summary_section(t))
    sections.append(_check_section(t))
    return sections


def _description(r):
    """What a step is, in a few words: ``3 neurons, sigmoid``, ``BatchNormalization of 3 features``."""
    if r.kind == "dense":
        return f"{_plural(r.units, 'neuron')}, {r.activation}"
    if r.kind == "activation":
        return r.layer_type if r.layer_type != "Activation" else f"Activation {r.activation}"
    if r.kind == "add":
        return "Add"
    return f"{r.layer_type} of {_plural(r.outputs.shape[-1], 'feature')}"


def _title(t, r):
    if not t.graph:
        return f"layer {r.index + 1}: {r.name}"
    return f"step {r.index + 1}: {r.name}"


def _heading(t, r):
    """``layer 2: dense_1 (1 neuron, linear)``, or for a graph ``step 3: add (Add, reads dense, dense_1)``."""
    reads = f", reads {', '.join(r.reads)}" if t.graph else ""
    return f"{_title(t, r)} ({_description(r)}{reads})"


def _network_section(t):
    lines = []
    if not t.graph:
        shape = " -> ".join([_plural(t.input_sizes[0], "input")] + [
            f"{r.name} ({r.units}, {r.activation})" if r.kind == "dense" else f"{r.name} ({_description(r)})"
            for r in t.layers])
        lines.append(f"network: {shape}")
        tables = []
    else:
        lines.append(f"graph model: {_plural(len(t.input_names), 'input')} ({', '.join(t.input_names)}), "
                     f"{_plural(len(t.layers), 'step')} in order, {_plural(len(t.outputs), 'output')} "
                     f"({', '.join(o.name for o in t.outputs)})")
        rows = [[name, "the examples", "-", str(size)] for name, size in zip(t.input_names, t.input_sizes)]
        rows += [[r.name, f"Dense ({_description(r)})" if r.kind == "dense" else _description(r), ", ".join(r.reads),
                  str(r.outputs.shape[-1])] for r in t.layers]
        tables = [report.Table(["tensor", "made by", "reads", "size"], rows, "lllr")]
    xs = t.x if isinstance(t.x, list) else [t.x]
    if t.examples == 1 and len(xs) == 1 and len(t.outputs) == 1:
        lines.append(f"example: x = {_vector(xs[0][0])}, target y = {_target_text(t.outputs[0], 0)}")
    else:
        why = "; BatchNormalization normalizes over them" if any(r.kind == "batch_normalization" for r in t.layers) else ""
        lines.append(f"examples: a batch of {t.examples} (the loss is their mean{why})")
        headers = ["example"] + [f"x = {name}" if t.graph else "x" for name in t.input_names] + \
            [f"target {o.name}" if len(t.outputs) > 1 else "target y" for o in t.outputs]
        rows = [[str(e + 1)] + [_vector(a[e]) for a in xs] + [_target_text(o, e) for o in t.outputs]
                for e in range(t.examples)]
        tables.append(report.Table(headers, rows, "l" * len(headers)))
    for o in t.outputs:
        where = f"{o.name}: " if len(t.outputs) > 1 else ""
        weight = f" (weight {num(o.weight)})" if len(t.outputs) > 1 else ""
        lines.append(f"loss: {where}{o.loss_object.name}{weight}" +
                     (" on the logits z (softmax/sigmoid fused into the loss)" if o.fused else ""))
    steps = "one step" if len(t.steps) == 1 else f"{len(t.steps)} steps"
    lines.append(f"{steps} of {t.optimizer.name} with learning rate {num(t.learning_rate)}"
                 + (" on the same examples" if len(t.steps) > 1 else ""))
    title = "The network and the example" + ("s" if t.examples > 1 else "")
    return report.Section(title, lines, tables)


def _target_text(o, e):
    y = np.asarray(o.y)
    if isinstance(o.loss_object, losses.SparseCategoricalCrossentropy):
        return f"class {int(np.ravel(y)[e])}"
    row = np.ravel(y[e])
    if isinstance(o.loss_object, losses.BinaryCrossentropy) and row.size == 1 and row[0] in (0, 1):
        return f"class {int(row[0])}"
    return num(row[0]) if row.size == 1 else _vector(row)


def _example_column(t, e):
    return [str(e + 1)] if t.examples > 1 else []


def _with_examples(t, headers):
    return (["example"] if t.examples > 1 else []) + headers


def _source_text(t, r):
    """``x`` or ``a``, and in a graph which tensor that is: ``a = dense``."""
    return f"{r.source} = {r.reads[0]}" if t.graph and r.reads[0] != r.source else r.source


def _passed_to(t, r, i=0):
    if r.source == "x" and not t.graph:
        return "the inputs (not needed for training)"
    if t.graph:
        return r.reads[i] + (" (not needed for training)" if r.reads[i] in t.input_names else "")
    return f"layer {r.index}"


# dense ---------------------------------------------------------------------------------------------

def _dense_forward_section(t, r):
    src = r.source
    rows = []
    for e in range(t.examples):
        for j in range(r.units):
            terms = [f"{_factor(r.inputs[e, i])}*{_factor(r.weight[i, j])}" for i in range(r.inputs.shape[1])]
            symbols = [f"{src}{i + 1}*w[{i + 1},{j + 1}]" for i in range(r.inputs.shape[1])]
            if r.bias is not None:
                terms.append(_factor(r.bias[j]))
                symbols.append(f"b[{j + 1}]")
            rows.append(_example_column(t, e) + [f"{j + 1}", " + ".join(symbols), " + ".join(terms), num(r.z[e, j]),
                                                 num(r.outputs[e, j])])
    out = "softmax(z)" if r.activation == "softmax" else f"{r.activation}(z)"
    if t.examples == 1:
        lines = [f"inputs {_source_text(t, r)} = {_vector(r.inputs[0])}; each neuron j computes "
                 f"z = sum_i {src}i*w[i,j] + b[j], then {out}."]
    else:
        lines = [f"inputs {_source_text(t, r)}, one row per example; for each example, each neuron j computes "
                 f"z = sum_i {src}i*w[i,j] + b[j], then {out}."]
    if r.activation == "softmax":
        lines.append("softmax: p_j = exp(z_j) / sum_k exp(z_k), so the outputs add up to 1.")
    elif r.activation == "sigmoid" and r.fused and r.units == 1:
        lines.append("sigmoid: p = 1 / (1 + exp(-z)), between 0 and 1: the probability of class 1 "
                     "(z > 0: more likely class 1, z < 0: class 0).")
    return report.Section(f"Forward, {_heading(t, r)}", lines,
                          [report.Table(_with_examples(t, ["neuron", "z =", "with the numbers", "z", out]), rows,
                                        "l" * (t.examples > 1) + "lllrr")])


def _dense_backward_section(t, r):
    src = r.source
    last_fused = r.fused
    arriving = "dL/dz (from the loss)" if last_fused else "dL/doutput"
    rows = []
    for e in range(t.examples):
        for j in range(r.units):
            if r.local is not None:
                product = f"{_factor(r.d_outputs[e, j])} * {_factor(r.local[e, j])}"
                local = num(r.local[e, j])
            else:
                product = ("(fused into the loss)" if last_fused else
                           "(softmax Jacobian)" if r.activation == "softmax" else "(no activation)")
                local = "-"
            rows.append(_example_column(t, e) + [f"{j + 1}", num(r.d_outputs[e, j]), local, product, num(r.dz[e, j])])
    neuron_table = report.Table(_with_examples(t, ["neuron", arriving, f"f'(z) of {r.activation}", "product", "dL/dz"]),
                                rows, "l" * (t.examples > 1) + "lrrlr")
    weights = []
    batch = t.examples > 1
    over = "sum over the examples of " if batch else ""
    for i in range(r.inputs.shape[1]):
        for j in range(r.units):
            numbers = " + ".join(f"{_factor(r.inputs[e, i])}*{_factor(r.dz[e, j])}" for e in range(t.examples)) if batch \
                else f"{_factor(r.inputs[0, i])} * {_factor(r.dz[0, j])}"
            weights.append([f"w[{i + 1},{j + 1}]", f"{over}{src}{i + 1} * dL/dz{j + 1}", numbers, num(r.d_weight[i, j])])
    if r.bias is not None:
        weights += [[f"b[{j + 1}]", f"{over}dL/dz{j + 1}", " + ".join(_factor(r.dz[e, j]) for e in range(t.examples)),
                     num(r.d_bias[j])] for j in range(r.units)]
    weight_table = report.Table(["parameter", "chain rule", "with the numbers", "gradient"], weights, "lllr")
    back = []
    for e in range(t.examples):
        for i in range(r.inputs.shape[1]):
            terms = " + ".join(f"{_factor(r.weight[i, j])}*{_factor(r.dz[e, j])}" for j in range(r.units))
            back.append(_example_column(t, e) + [f"{src}{i + 1}", f"sum_j w[{i + 1},j] * dL/dzj", terms,
                                                 num(r.d_inputs[e, i])])
    back_table = report.Table(_with_examples(t, [f"dL/d{src}", "chain rule", "with the numbers",
                                                 f"passed to {_passed_to(t, r)}"]), back, "l" * batch + "lllr")
    lines = ["dL/dz = dL/doutput * f'(z): the gradient arriving times the local derivative of the activation."]
    if last_fused:
        lines = ["The loss took the logits, so the gradient arriving is dL/dz itself."]
    if batch:
        lines.append(f"Each weight's gradient is a sum over the {t.examples} examples (each example's dL/dz already "
                     f"carries the 1/{t.examples} of the loss's mean).")
    return report.Section(f"Backward, {_title(t, r)}" + (f" ({_description(r)}, reads {', '.join(r.reads)})" if t.graph else ""),
                          lines, [neuron_table, weight_table, back_table])


# activation layers ------------------------------------------------------------------------------------

def _activation_forward_section(t, r):
    f = f"{r.activation}"
    rows = [_example_column(t, e) + [f"{j + 1}", num(r.inputs[e, j]), num(r.outputs[e, j])]
            for e in range(t.examples) for j in range(r.inputs.shape[1])]
    lines = [f"output = {f}(input), element by element" + (" (softmax: exp(a_j) / sum_k exp(a_k) per example)"
                                                          if f == "softmax" else "") + "; input "
             + (f"{r.reads[0]}" if t.graph else f"from layer {r.index}" if r.index else "x") + "."]
    return report.Section(f"Forward, {_heading(t, r)}", lines,
                          [report.Table(_with_examples(t, ["unit", "input", f"{f}(input)"]), rows,
                                        "l" * (t.examples > 1) + "lrr")])


def _activation_backward_section(t, r):
    rows = []
    for e in range(t.examples):
        for j in range(r.inputs.shape[1]):
            if r.local is not None:
                local, product = num(r.local[e, j]), f"{_factor(r.d_outputs[e, j])} * {_factor(r.local[e, j])}"
            else:
                local, product = "-", "(fused into the loss)" if r.fused else "(softmax Jacobian)"
            d_input = num(r.d_inputs[e, j]) if r.d_inputs is not None else "-"
            rows.append(_example_column(t, e) + [f"{j + 1}", num(r.d_outputs[e, j]), local, product, d_input])
    lines = ["The loss took the logits, so the gradient passes through unchanged." if r.fused else
             "dL/dinput = dL/doutput * f'(input): the gradient arriving times the local derivative."]
    headers = ["unit", "dL/doutput", f"f'(input) of {r.activation}", "product", f"passed to {_passed_to(t, r)}"]
    return report.Section(f"Backward, {_heading(t, r) if t.graph else _title(t, r)}", lines,
                          [report.Table(_with_examples(t, headers), rows, "l" * (t.examples > 1) + "lrrlr")])


# normalizations ---------------------------------------------------------------------------------------

def _statistic_index(r, e, j):
    """Which mean/variance an element uses: its feature's (BatchNormalization) or its example's."""
    return j if r.kind == "batch_normalization" else e


def _normalization_forward_section(t, r):
    batch = r.kind == "batch_normalization"
    n_examples, n_features = r.inputs.shape
    src = r.source
    gamma = r.gamma if r.gamma is not None else np.ones(n_features)
    beta = r.beta if r.beta is not None else np.zeros(n_features)
    if batch:
        lines = [f"Training: each feature j is normalized with the mean and variance of the batch (its {n_examples} "
                 "examples), then scaled and shifted by the learned gamma_j and beta_j:",
                 f"mean_j = sum_r {src}[r,j] / {n_examples};  var_j = sum_r ({src}[r,j] - mean_j)^2 / {n_examples};  "
                 f"x_hat[r,j] = ({src}[r,j] - mean_j) / sqrt(var_j + eps), eps = {r.epsilon:g}"]
        count, label = n_examples, "feature"
        values = [r.inputs[:, j] for j in range(n_features)]
    else:
        lines = [f"Each example r is normalized over its own {n_features} features (the same in training and "
                 "inference, whatever the rest of the batch), then each feature j is scaled and shifted by the "
                 "learned gamma_j and beta_j:",
                 f"mean_r = sum_j {src}[r,j] / {n_features};  var_r = sum_j ({src}[r,j] - mean_r)^2 / {n_features};  "
                 f"x_hat[r,j] = ({src}[r,j] - mean_r) / sqrt(var_r + eps), eps = {r.epsilon:g}"]
        count, label = n_features, "example"
        values = [r.inputs[e] for e in range(n_examples)]
    lines.append(f"output[r,j] = gamma_j * x_hat[r,j] + beta_j, with gamma = {_vector(gamma)}, beta = {_vector(beta)}"
                 + (" (scale=False: gamma = 1)" if r.gamma is None else "") + (" (center=False: beta = 0)" if r.beta is None else ""))
    if t.graph:
        lines.append(f"input {src} = {r.reads[0]}.")
    stats = []
    for k, v in enumerate(values):
        mean_text = f"({' + '.join(_factor(a) for a in v)}) / {count}"
        var_text = f"({' + '.join(f'{_factor(a - r.mean[k])}^2' for a in v)}) / {count}"
        stats.append([f"{k + 1}", mean_text, num(r.mean[k]), var_text, num(r.variance[k]), num(r.std[k])])
    stats_table = report.Table([label, "mean =", "mean", "var =", "var", "sqrt(var + eps)"], stats, "llrlrr")
    rows = []
    for e in range(n_examples):
        for j in range(n_features):
            s = _statistic_index(r, e, j)
            rows.append(_example_column(t, e) + [
                f"{j + 1}", num(r.inputs[e, j]),
                f"({_factor(r.inputs[e, j])} - {_factor(r.mean[s])}) / {num(r.std[s])}", num(r.x_hat[e, j]),
                f"{_factor(gamma[j])}*{_factor(r.x_hat[e, j])} + {_factor(beta[j])}", num(r.outputs[e, j])])
    x_hat_table = report.Table(_with_examples(t, ["feature", src, f"x_hat = ({src} - mean) / sqrt(var + eps)", "x_hat",
                                                  "gamma*x_hat + beta", "output"]), rows, "l" * (t.examples > 1) + "lrlrlr")
    tables = [stats_table, x_hat_table]
    if batch:
        moving = []
        for name, (before, after) in r.moving.items():
            statistic = r.mean if name.endswith("moving_mean") else r.variance
            for j in range(n_features):
                moving.append([f"{name.rsplit('.', 1)[1]}[{j + 1}]",
                               f"{r.momentum:g}*{_factor(before[j])} + {1 - r.momentum:g}*{_factor(statistic[j])}",
                               num(after[j])])
        lines.append(f"The moving statistics follow the batch's: moving = momentum * moving + (1 - momentum) * batch "
                     f"statistic, momentum {r.momentum:g}. evaluate and predict normalize with them instead.")
        tables.append(report.Table(["statistic", "momentum * before + (1 - momentum) * batch", "after"], moving, "llr"))
    return report.Section(f"Forward, {_heading(t, r)}", lines, tables)


def _normalization_backward_section(t, r):
    batch = r.kind == "batch_normalization"
    n_examples, n_features = r.inputs.shape
    over, mean_over = ("r", f"over the {n_examples} examples") if batch else ("j", f"over the {n_features} features")
    src = r.source
    lines = ["dL/dgamma_j = sum_r dL/doutput[r,j] * x_hat[r,j];  dL/dbeta_j = sum_r dL/doutput[r,j];  "
             "d_x_hat = dL/doutput * gamma_j.",
             f"Each x_hat depends on its input directly and through the mean and the variance {mean_over}, so the "
             "gradient has three terms (the direct path, the path through the mean, the path through the variance):",
             f"dL/d{src} = (d_x_hat - mean_{over}(d_x_hat) - x_hat * mean_{over}(d_x_hat * x_hat)) / sqrt(var + eps)"]
    if batch:
        lines.append(f"So each feature's dL/d{src} adds up to 0 over the batch (the path through the mean takes out their "
                     "mean): a bias just before a BatchNormalization gets no gradient, as it has no effect.")
    parameters = []
    if r.d_gamma is not None:
        parameters += [[f"gamma[{j + 1}]", "sum_r dL/doutput * x_hat",
                        " + ".join(f"{_factor(r.d_outputs[e, j])}*{_factor(r.x_hat[e, j])}" for e in range(n_examples)),
                        num(r.d_gamma[j])] for j in range(n_features)]
    if r.d_beta is not None:
        parameters += [[f"beta[{j + 1}]", "sum_r dL/doutput",
                        " + ".join(_factor(r.d_outputs[e, j]) for e in range(n_examples)), num(r.d_beta[j])]
                       for j in range(n_features)]
    tables = []
    if parameters:
        tables.append(report.Table(["parameter", "chain rule", "with the numbers", "gradient"], parameters, "lllr"))
    label = "feature" if batch else "example"
    means = [[f"{k + 1}", num(r.through_mean[k]), num(r.through_variance[k]), num(r.std[k])]
             for k in range(len(r.std))]
    tables.append(report.Table([label, f"mean_{over}(d_x_hat)", f"mean_{over}(d_x_hat * x_hat)", "sqrt(var + eps)"],
                               means, "lrrr"))
    gamma = r.gamma if r.gamma is not None else np.ones(n_features)
    rows = []
    for e in range(n_examples):
        for j in range(n_features):
            s = _statistic_index(r, e, j)
            rows.append(_example_column(t, e) + [
                f"{j + 1}", num(r.d_outputs[e, j]), f"{_factor(r.d_outputs[e, j])}*{_factor(gamma[j])}",
                num(r.d_x_hat[e, j]),
                f"({_factor(r.d_x_hat[e, j])} - {_factor(r.through_mean[s])} - {_factor(r.x_hat[e, j])}*"
                f"{_factor(r.through_variance[s])}) / {num(r.std[s])}",
                num(r.d_inputs[e, j]) if r.d_inputs is not None else "-"])
    tables.append(report.Table(_with_examples(t, ["feature", "dL/doutput", "dL/doutput * gamma", "d_x_hat",
                                                  "three terms with the numbers", f"passed to {_passed_to(t, r)}"]),
                               rows, "l" * (t.examples > 1) + "lrlrlr"))
    return report.Section(f"Backward, {_heading(t, r) if t.graph else _title(t, r)}", lines, tables)


# add and the sum over paths ---------------------------------------------------------------------------

def _add_forward_section(t, r):
    names = r.reads
    lines = [f"{r.name} = {' + '.join(names)}, element by element."]
    for a in names:
        for b in names:
            if a != b and a in t.ancestors.get(b, ()):
                lines.append(f"A residual connection: {a} reaches {r.name} directly (the skip) and through {b}.")
    rows = [_example_column(t, e) + [f"{j + 1}"] + [num(x[e, j]) for x in r.inputs] +
            [" + ".join(_factor(x[e, j]) for x in r.inputs), num(r.outputs[e, j])]
            for e in range(t.examples) for j in range(r.outputs.shape[1])]
    headers = _with_examples(t, ["unit", *names, "with the numbers", r.name])
    return report.Section(f"Forward, {_heading(t, r)}", lines,
                          [report.Table(headers, rows, "l" * (t.examples > 1) + "l" + "r" * len(names) + "lr")])


def _add_backward_section(t, r):
    names = r.reads
    lines = [f"d({r.name})/d({names[0]}) = " + " = ".join(f"d({r.name})/d({n})" for n in names[1:]) + " = 1, so the "
             f"gradient arriving goes back unchanged to each input: the same numbers to {' and '.join(names)}."]
    rows = [_example_column(t, e) + [f"{j + 1}", num(r.d_outputs[e, j])] +
            [num(d[e, j]) if d is not None else "-" for d in r.d_inputs]
            for e in range(t.examples) for j in range(r.outputs.shape[1])]
    headers = _with_examples(t, ["unit", f"dL/d({r.name})", *[f"to {n}" for n in names]])
    return report.Section(f"Backward, {_heading(t, r)}", lines,
                          [report.Table(headers, rows, "l" * (t.examples > 1) + "lr" + "r" * len(names))])


def _paths_section(t, name):
    parts = t.paths[name]
    total = t.gradients[name]
    readers = [reader for reader, _ in parts]
    times = "twice" if len(parts) == 2 else f"{len(parts)} times"
    by = f"by {readers[0]}, as {len(readers)} of its inputs" if len(set(readers)) == 1 else f"by {' and '.join(readers)}"
    lines = [f"{name} is read {times} ({by}): a change in {name} reaches the loss along each path, so the chain rule "
             "adds the gradients that come back along them (in the order they arrive):",
             f"dL/d({name}) = " + " + ".join(f"(via {reader})" for reader in readers)]
    adds = [reader for reader in readers if t.kinds.get(reader) == "add"]
    if adds and len(set(readers)) > 1:
        lines.append(f"The path through {adds[0]} brings the gradient back unchanged (an Add's local derivative is 1), "
                     "however small the other path makes its own: this is why a residual connection helps a deep "
                     "network learn.")
    rows = [_example_column(t, e) + [f"{j + 1}"] + [num(d[e, j]) for _, d in parts] +
            [" + ".join(_factor(d[e, j]) for _, d in parts), num(total[e, j])]
            for e in range(t.examples) for j in range(total.shape[1])]
    headers = _with_examples(t, ["unit", *[f"via {reader}" for reader in readers], "with the numbers", f"dL/d({name})"])
    return report.Section(f"Backward: {name} is read {times}, its gradients add up", lines,
                          [report.Table(headers, rows, "l" * (t.examples > 1) + "l" + "r" * len(parts) + "lr")])


_FORWARD_SECTION = {"dense": _dense_forward_section, "activation": _activation_forward_section,
                    "batch_normalization": _normalization_forward_section,
                    "layer_normalization": _normalization_forward_section, "add": _add_forward_section}
_BACKWARD_SECTION = {"dense": _dense_backward_section, "activation": _activation_backward_section,
                     "batch_normalization": _normalization_backward_section,
                     "layer_normalization": _normalization_backward_section, "add": _add_backward_section}


# the loss, the step and the check ---------------------------------------------------------------------

def _loss_sections(t):
    """One section, or with several outputs one per output and one for their weighted sum."""
    sections = []
    for o in t.outputs:
        lines, tables = (_one_example_loss_lines(o), []) if t.examples == 1 else _batch_loss(t, o)
        title = "The loss" if len(t.outputs) == 1 else f"The loss of output {o.name} (weight {num(o.weight)})"
        sections.append(report.Section(title, lines, tables))
    lines = sections[-1].lines
    if len(t.outputs) > 1:
        terms = " + ".join(f"{num(o.weight)}*{_factor(o.data_loss)}" for o in t.outputs)
        lines = [f"loss: L = sum over the outputs of weight * loss = {terms} = {num(t.data_loss)}",
                 "each output sends back its own gradient, times its weight (above)"]
        sections.append(report.Section("The loss: the weighted sum of the outputs' losses", lines))
    if t.penalty:
        lines.append(f"L1/L2 penalty: {num(t.penalty)}; total loss {num(t.loss)}")
    return sections


def _one_example_loss_lines(o):
    loss = o.loss_object
    prediction = o.prediction[0]
    lines = [f"prediction: {_vector(prediction)}", f"target: {_target_text(o, 0)}"]
    grad = ", ".join(num(v) for v in o.d_head[0])
    if isinstance(loss, losses.MeanSquaredError):
        error = prediction - np.ravel(o.y)
        lines.append(f"error: prediction - target = {_vector(error)}")
        squares = " + ".join(f"{_factor(e)}^2" for e in error)
        lines.append(f"loss: L = mean over outputs of error^2 = ({squares}) / {len(error)} = {num(o.data_loss)}")
        lines.append(f"dL/dprediction = 2 * error / {len(error)}{_weighted(o)} = [{grad}]")
    elif o.fused and isinstance(loss, losses.SparseCategoricalCrossentropy):
        c = int(np.ravel(o.y)[0])
        lines.append(f"loss: L = -log(p of the right class) = -log({num(prediction[c])}) = {num(o.data_loss)}")
        lines.append(f"error: p - onehot(y) = dL/dz{_weighted(o)} = [{grad}]   (the gradient of softmax and cross-entropy together)")
    elif o.fused and isinstance(loss, losses.CategoricalCrossentropy):
        lines.append(f"loss: L = -sum_k y_k log p_k = {num(o.data_loss)}")
        lines.append(f"error: p - y = dL/dz{_weighted(o)} = [{grad}]")
    elif o.fused and isinstance(loss, losses.BinaryCrossentropy) and prediction.size == 1:
        lines += _one_sigmoid_loss_lines(o, prediction[0], float(np.ravel(o.y)[0]), grad)
    elif o.fused and isinstance(loss, losses.BinaryCrossentropy):
        lines.append(f"loss: L = -mean(y log p + (1 - y) log(1 - p)) = {num(o.data_loss)}")
        lines.append(f"error: (p - y) / outputs = dL/dz{_weighted(o)} = [{grad}]")
    else:
        lines.append(f"loss: L = {loss.name}(target, prediction) = {num(o.data_loss)}")
        lines.append(f"dL/d(output){_weighted(o)} = [{grad}]")
    return lines


def _one_sigmoid_loss_lines(o, p, y, grad):
    """One sigmoid output and the binary cross-entropy: p is the probability of class 1."""
    if y == 1:
        value = f"-log(p) = -log({num(p)})"
    elif y == 0:
        value = f"-log(1 - p) = -log({num(1 - p)})"
    else:
        value = f"-({num(y)}*log({num(p)}) + {num(1 - y)}*log({num(1 - p)}))"
    return [f"p = sigmoid(z) = 1 / (1 + exp(-z)) = {num(p)}: the probability the network gives to class 1 "
            f"(and 1 - p = {num(1 - p)} to class 0)",
            f"loss: L = -(y log p + (1 - y) log(1 - p)) = {value} = {num(o.data_loss)}",
            f"error: p - y = {num(p)} - {num(y)} = dL/dz{_weighted(o)} = [{grad}]   (the sigmoid's derivative "
            "p (1 - p) cancels against the loss's 1 / (p (1 - p)): the gradient of sigmoid and binary "
            "cross-entropy together)"]


def _weighted(o):
    return f", times the weight {num(o.weight)}" if o.weight != 1.0 else ""


def _batch_loss(t, o):
    loss, n = o.loss_object, t.examples
    outputs = o.prediction.shape[1]
    if isinstance(loss, losses.MeanSquaredError):
        per = "mean over outputs of (prediction - target)^2"
        grad = f"dL/dprediction = 2 * (prediction - target) / ({_plural(outputs, 'output')} * {n} examples)"
    elif o.fused and isinstance(loss, losses.SparseCategoricalCrossentropy):
        per = "-log(p of the right class)"
        grad = f"dL/dz = (p - onehot(y)) / {n} (softmax and cross-entropy together, and the mean over the examples)"
    elif o.fused and isinstance(loss, losses.CategoricalCrossentropy):
        per = "-sum_k y_k log p_k"
        grad = f"dL/dz = (p - y) / {n}"
    elif o.fused and isinstance(loss, losses.BinaryCrossentropy) and outputs == 1:
        per = "-(y log p + (1 - y) log(1 - p)), p = sigmoid(z) the probability of class 1"
        grad = f"dL/dz = (p - y) / {n} (sigmoid and binary cross-entropy together, and the mean over the examples)"
    elif o.fused and isinstance(loss, losses.BinaryCrossentropy):
        per = "-mean(y log p + (1 - y) log(1 - p))"
        grad = f"dL/dz = (p - y) / ({_plural(outputs, 'output')} * {n} examples)"
    else:
        per = f"{loss.name}(target, prediction)"
        grad = f"dL/d(output): each example's gradient divided by {n}"
    terms = " + ".join(num(v) for v in o.per_example)
    lines = [f"loss of an example: {per}",
             f"loss: L = mean over the {n} examples = ({terms}) / {n} = {num(o.data_loss)}",
             grad + _weighted(o)]
    column = "dL/dz" if o.fused else "dL/dprediction"
    rows = [[str(e + 1), _vector(o.prediction[e]), _target_text(o, e), num(o.per_example[e]), _vector(o.d_head[e])]
            for e in range(n)]
    prediction = "p" if o.fused else "prediction"
    return lines, [report.Table(["example", prediction, "target", "loss", column], rows, "lllrl")]


def _label(name, index):
    layer, kind = name.rsplit(".", 1)
    short = {"weight": "w", "bias": "b"}.get(kind, kind)
    return f"{layer}.{short}[{','.join(str(i + 1) for i in index)}]"


def _step_title(t, step, what):
    return f"One step of {what}" if len(t.steps) == 1 else f"Step {step.t} of {what}"


def _loss_change(step):
    change = step.loss_after - step.loss_before
    return (f"loss before the step: {num(step.loss_before)}; after: {num(step.loss_after)} "
            f"({'+' if change >= 0 else ''}{num(change)})")


def _update_section(t, step):
    rows = []
    for name, (before, grad, after) in step.updates.items():
        for index in np.ndindex(before.shape):
            rows.append([_label(name, index), num(before[index]), num(grad[index]),
                         f"{_factor(before[index])} - {num(t.learning_rate)}*{_factor(grad[index])}", num(after[index])])
    lines = [f"w <- w - learning_rate * dL/dw, with learning rate {num(t.learning_rate)} "
             "(training.train_step, the step fit takes)", _loss_change(step)]
    if step.t > 1:
        return report.Section(_step_title(t, step, "gradient descent"), lines,
                              [report.Table(["parameter", "before", "dL/dw", "w - lr * dL/dw", "after"], rows, "lrrlr")])
    if t.moving:
        lines.append("both losses on this batch in training mode (BatchNormalization with the batch's statistics)")
    if t.penalty:
        lines.append("with L1, a weight that the step would carry across 0 stops at exactly 0 "
                     "(see glassnet/regularizers.py)")
    if t.frozen:
        lines.append(f"frozen (trainable=False), not moved: {', '.join(t.frozen)}")
    for layer, calls in t.shared.items():
        lines.append(f"{layer} is called {len(calls)} times ({', '.join(calls)}): its gradient is the sum of its "
                     "calls' (each call's is in its backward step)")
    tables = [report.Table(["parameter", "before", "dL/dw", "w - lr * dL/dw", "after"], rows, "lrrlr")]
    if t.moving:
        lines.append("The moving statistics are not learned by the gradient: the forward pass moved them (see it above).")
        moving = [[_label(name, index), num(before[index]), num(after[index])]
                  for name, (before, after) in t.moving.items() for index in np.ndindex(before.shape)]
        tables.append(report.Table(["statistic", "before", "after"], moving, "lrr"))
    return report.Section(_step_title(t, step, "gradient descent"), lines, tables)


def _optimizer_section(t, step):
    """A step of SGD with momentum or of Adam: what it remembers, its step size and its update,
    next to plain SGD's ``-lr * g`` with the same gradient."""
    o, lr = t.optimizer, num(t.learning_rate)
    moments, steps = [], []
    if o.kind == "momentum":
        mu = f"{o.momentum:g}"
        lines = [f"SGD with momentum keeps a velocity b per weight, a running sum of its past gradients (each older one "
                 f"weighted by a further {mu}): b <- {mu}*b + dL/dw, starting from b = 0.",
                 f"w <- w - lr * {'(dL/dw + ' + mu + '*b)' if o.nesterov else 'b'}, with learning rate {lr}: a gradient "
                 "that keeps its sign from step to step builds up speed, one that flips sign cancels out."]
        for name, (before, g, after) in step.updates.items():
            b0, b = step.slots_before[name]["momentum"], step.slots[name]["momentum"]
            for i in np.ndindex(before.shape):
                moments.append([_label(name, i), num(g[i]), f"{mu}*{_factor(b0[i])} + {_factor(g[i])}", num(b[i]),
                                num(step.update[name][i]), num(step.sgd[name][i]), num(after[i])])
        tables = [report.Table(["parameter", "dL/dw", "b = momentum*b + dL/dw", "b", "update -lr*b" if not o.nesterov
                                else "update -lr*(dL/dw + momentum*b)", "plain SGD: -lr*dL/dw", "after"],
                               moments, "lrlrrrr")]
    else:
        b1, b2 = f"{o.beta_1:g}", f"{o.beta_2:g}"
        c1, c2 = f"{1 - o.beta_1:g}", f"{1 - o.beta_2:g}"
        lines = ["Adam remembers two running averages per weight: m, of its past gradients (momentum), and v, of their "
                 "squares (how large its gradients are):",
                 f"m <- {b1}*m + {c1}*dL/dw;  v <- {b2}*v + {c2}*dL/dw^2 (both start at 0)",
                 f"m_hat = m / (1 - {b1}^t), v_hat = v / (1 - {b2}^t): the bias correction (m and v start at 0), t = {step.t}",
                 f"step size = lr / (sqrt(v_hat) + eps), eps = {o.epsilon:g}: a learning rate per weight, small for a "
                 "weight whose gradients are large and large for one whose gradients are small",
                 f"w <- w - step size * m_hat, with lr = {lr}; plain SGD moves every weight by -lr * dL/dw, the same "
                 "rate for all"]
        if step.t == 1:
            lines.append("On the first step m_hat = dL/dw and sqrt(v_hat) = |dL/dw|, so every weight moves by about lr, "
                         "whatever the size of its gradient.")
        for name, (before, g, after) in step.updates.items():
            m0, v0 = step.slots_before[name]["m"], step.slots_before[name]["v"]
            m, v = step.slots[name]["m"], step.slots[name]["v"]
            for i in np.ndindex(before.shape):
                label = _label(name, i)
                moments.append([label, num(g[i]), f"{b1}*{_factor(m0[i])} + {c1}*{_factor(g[i])}", num(m[i]),
                                f"{b2}*{_factor(v0[i])} + {c2}*{_factor(g[i])}^2", num(v[i])])
                steps.append([label, num(step.m_hat[name][i]), num(np.sqrt(step.v_hat[name][i])),
                              num(step.rate[name][i]), num(step.update[name][i]), num(step.sgd[name][i]),
                              num(after[i])])
        tables = [report.Table(["parameter", "dL/dw", "m = beta_1*m + (1 - beta_1)*dL/dw", "m",
                                "v = beta_2*v + (1 - beta_2)*dL/dw^2", "v"], moments, "lrlrlr"),
                  report.Table(["parameter", "m_hat", "sqrt(v_hat)", "step size", "update -step size*m_hat",
                                "plain SGD: -lr*dL/dw", "after"], steps, "lrrrrrr")]
    lines.append(_loss_change(step) + " (training.train_step, the step fit takes)")
    if t.penalty:
        lines.append("with L1, a weight that the step would carry across 0 stops at exactly 0 "
                     "(see glassnet/regularizers.py)")
    if t.frozen and step.t == 1:
        lines.append(f"frozen (trainable=False), not moved: {', '.join(t.frozen)}")
    return report.Section(_step_title(t, step, o.name), lines, tables)


def _steps_summary_section(t):
    """Each weight's total move over the steps, and plain SGD's over the same gradients."""
    rows = []
    first, last = t.steps[0], t.steps[-1]
    plain = t.optimizer.kind == "sgd"
    for name, (before, _, _) in first.updates.items():
        after = last.updates[name][2]
        sgd = sum(step.sgd[name] for step in t.steps)
        for i in np.ndindex(before.shape):
            rows.append([_label(name, i), num(before[i]), num(after[i]), num(after[i] - before[i])] +
                        ([] if plain else [num(sgd[i])]))
    losses = " -> ".join(num(v) for v in [first.loss_before] + [step.loss_after for step in t.steps])
    lines = [f"the loss over the {len(t.steps)} steps: {losses}"]
    if not plain:
        lines.append("plain SGD's total: the sum of -lr * dL/dw over the same gradients (what SGD would move each "
                     "weight by with no memory of the steps before)")
    headers = ["parameter", "before", "after", "total move"] + ([] if plain else ["plain SGD's total"])
    return report.Section(f"{len(t.steps)} steps of {t.optimizer.name}: the total", lines,
                          [report.Table(headers, rows, "lrrr" + "r" * (not plain))])


def _check_section(t):
    rows = []
    for name, (entries, analytic, numerical) in t.check.compared.items():
        if name == "input":
            continue
        shape = t.shapes[name]
        for entry, a, n, error in zip(entries, analytic, numerical, _relative_errors(analytic, numerical, t.check.scale)):
            rows.append([_label(name, np.unravel_index(entry, shape)), num(a), num(n), f"{error:.1e}",
                         "ok" if error <= t.check.tolerance else "FAILED"])
    verdict = "passed" if t.check.passed else "FAILED"
    lines = ["Each gradient from backpropagation next to the central difference (L(w + eps) - L(w - eps)) / (2 eps), "
             "eps = 1e-6 (glassnet.gradcheck).",
             f"gradient check {verdict}: worst relative error {t.check.max_error:.1e} (tolerance {t.check.tolerance:.0e})"]
    tiny = [name for name, (_, a, n) in t.check.compared.items() if name != "input"
            and 0 < np.abs(np.concatenate([a, n])).max(initial=0.0) < 1e-6 * t.check.scale]
    if tiny:
        lines.append(f"{', '.join(tiny)}: a gradient that is 0 but for rounding (such as a bias's just before a "
                     "normalization, which has no effect on the loss), judged, as every entry, against the model's "
                     "largest gradient (the error's denominator is at least 1e-3 times it)")
    return report.Section("Gradient check", lines,
                          [report.Table(["parameter", "backprop", "numerical", "relative error", "check"], rows, "lrrrl")])
