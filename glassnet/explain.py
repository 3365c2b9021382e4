"""One forward pass, one backward pass and one step of gradient descent, with every number.

    trace = gn.explain()                  # 2 inputs -> 3 sigmoid neurons -> 1 output, one example
    trace.print()                         # tables in the terminal (colours with rich)
    trace.to_markdown()                   # the same as Markdown
    gn.explain(model, x, y)               # any Sequential of Dense layers, one example

For each Dense layer ``k`` with inputs ``a`` (the example ``x`` for the first layer) the trace
shows, per neuron ``j``,

    forward:   z_j = a_1 w_1j + a_2 w_2j + ... + b_j,     output_j = f(z_j)
    backward:  dL/dz_j = dL/doutput_j * f'(z_j)            (the gradient arriving times the local one)
               dL/dw_ij = a_i * dL/dz_j,   dL/db_j = dL/dz_j,   dL/da_i = sum_j w_ij dL/dz_j

then the update ``w <- w - lr * dL/dw`` of every weight and bias, the loss before and after it, and
each analytic gradient next to its central difference from ``glassnet.gradcheck``. Nothing is
recomputed here: the numbers are what the layers' own forward and backward closures, the loss's
``value_and_grad`` and ``training.train_step`` produce, run in float64 on a copy of the model (the
model passed in is not changed). With a softmax (sigmoid) output and a cross-entropy the loss takes
the logits ``z`` and sends back ``dL/dz = p - y``, as in training.
"""
import math

import numpy as np

from . import checks, losses, optimizers, regularizers, report, training
from .errors import ConfigurationError, NotBuiltError, ShapeError
from .gradcheck import gradcheck, relative_errors
from .layers import Dense, Input, activations
from .model import Sequential

TASKS = ("regression", "classification")


class LayerTrace:
    """The numbers of one Dense layer for the traced example (vectors are 1-D, ``weight`` is
    (inputs, units)): inputs, weight, bias, z, outputs (after the activation; the probabilities
    for a fused output), d_outputs (the gradient arriving; ``dL/dz`` itself for a fused output),
    local (``f'(z)``, None without an elementwise activation), dz, d_weight, d_bias, d_inputs."""

    def __init__(self, layer, index):
        self.name, self.index = layer.name, index
        self.activation = _activation_name(layer)
        self.units = layer.units


class Trace:
    """The result of ``explain``: ``layers`` (``LayerTrace`` in order), the example ``x`` and
    target ``y``, ``prediction``, ``loss`` (with any L1/L2 penalty) and ``loss_after`` the step,
    ``learning_rate``, ``updates`` (parameter name -> (before, gradient, after)) and ``check``
    (the ``GradcheckReport``). ``str()`` and ``to_text()`` give plain text, ``to_markdown()``
    Markdown, ``print()`` a terminal rendering."""

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
            hidden=(3,), outputs=None, activation="sigmoid", seed=0, max_parameters=500):
    """Trace one forward pass, backward pass and gradient-descent step of ``model`` on one example.

    Without a model, one is made with ``inputs`` inputs, a Dense layer of each size in ``hidden``
    (activation ``activation``) and ``outputs`` outputs: for ``task="regression"`` one linear
    output and the mean squared error, for ``"classification"`` a softmax over ``outputs``
    classes (2 by default) and the cross-entropy; weights from ``seed``. A model that is not
    compiled gets its loss from its last activation (softmax: sparse categorical cross-entropy,
    sigmoid: binary cross-entropy, otherwise MSE). ``x`` is one example (shape ``(features,)``
    or ``(1, features)``) and ``y`` its target; either is drawn from ``seed`` when left out. The
    step is plain SGD with ``learning_rate`` whatever the model's optimizer.
    """
    if task not in TASKS:
        raise ConfigurationError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    rng = np.random.default_rng(checks.seed("seed", seed))
    max_parameters = checks.positive_int("max_parameters", max_parameters)
    x = None if x is None else checks.numeric_array("x", x)
    y = None if y is None else checks.numeric_array("y", y)
    if model is None:
        model = _default_model(task, inputs, hidden, outputs, activation, seed)
    clone = _float64_copy(model, x, max_parameters)
    loss = model.loss if model.loss is not None else _loss_for(clone.layers[-1])
    clone.compile(optimizer=optimizers.SGD(learning_rate), loss=loss)
    x = _example(clone, x, rng)
    y = _target(clone, y, rng)
    x, y, _ = training.prepare(clone, x, y)
    clone.layers[0].compute_input_gradient = True  # show dL/dx too
    trace = _run(clone, x, y)
    trace.check = gradcheck(clone, x, y, max_entries=max_parameters)
    before = {p.name: p.value.copy() for p in clone.parameters()}
    grads = {p.name: p.grad.copy() for p in clone.parameters()}
    training.train_step(clone, x, y, None)
    trace.updates = {p.name: (before[p.name], grads[p.name], p.value.copy()) for p in clone.parameters()}
    trace.loss_after = training.evaluate_arrays(clone, x, y)["loss"]
    trace.learning_rate = float(learning_rate)
    return trace


def _run(model, x, y):
    """The traced forward and backward: the layers' own closures, one layer at a time."""
    trace = Trace()
    trace.x, trace.y, trace.loss_object = x[0], y, model.head_loss
    trace.fused = model.head_loss is not model.loss
    trace.layers, backwards = [], []
    a = x
    for index, layer in enumerate(model.layers):
        record = LayerTrace(layer, index)
        record.inputs, record.weight = a[0], layer.weight.value.copy()
        record.bias = None if layer.bias is None else layer.bias.value.copy()
        z, backward_affine = layer.forward_logits(a, training=True)
        record.z = z[0]
        backward_activation = None
        if layer.activation is None:
            a = shown = z
        elif index == len(model.layers) - 1 and trace.fused:
            a = z  # the loss takes the logits; the probabilities are only shown
            shown = layer.activation.forward(z)[0]
        else:
            a, backward_activation = layer.activation.forward(z, training=True)
            shown = a
        record.outputs = shown[0]
        trace.layers.append(record)
        backwards.append((record, layer, backward_affine, backward_activation))
    trace.prediction = trace.layers[-1].outputs
    data_loss, d_head = model.head_loss.unchecked_value_and_grad(y, a)
    trace.data_loss, trace.d_head = data_loss, d_head[0]
    d = d_head
    for record, layer, backward_affine, backward_activation in reversed(backwards):
        record.d_outputs = d[0]
        record.local = None
        if backward_activation is not None:
            if not isinstance(layer.activation, activations.Softmax):
                record.local = backward_activation(np.ones_like(d))[0]
            d = backward_activation(d)
        record.dz = d[0]
        d = backward_affine(d)
        record.d_weight = layer.weight.grad.copy()
        record.d_bias = None if layer.bias is None else layer.bias.grad.copy()
        record.d_inputs = d[0]
    trace.penalty = regularizers.add_penalties(model.regularized_parameters) if model.regularized_parameters else 0.0
    trace.loss = data_loss + trace.penalty
    return trace


# -- the model and the example --------------------------------------------------------------------

def _default_model(task, inputs, hidden, outputs, activation, seed):
    """The model ``explain`` makes when given none (declared, built by ``_float64_copy``)."""
    regression = task == "regression"
    inputs = checks.positive_int("inputs", inputs)
    outputs = checks.positive_int("outputs", outputs if outputs is not None else (1 if regression else 2))
    if not regression and outputs < 2:
        raise ConfigurationError(f"classification needs outputs >= 2 classes, got {outputs!r}")
    layers = [Dense(units, activation=activation) for units in checks.positive_ints("hidden", hidden)]
    layers.append(Dense(outputs, activation=None if regression else "softmax"))
    return Sequential([Input((inputs,)), *layers], seed=seed, dtype="float64")


def _float64_copy(model, x, max_parameters):
    if not isinstance(model, Sequential):
        raise ConfigurationError(f"explain takes a Sequential model, got {type(model).__name__}")
    for layer in model.layers:
        if not isinstance(layer, Dense):
            raise ConfigurationError(f"explain traces Sequential models of Dense layers; layer {layer.name!r} "
                                     f"is a {type(layer).__name__} (use Dense(units, activation=...))")
    if not model.layers:
        raise ConfigurationError("the model has no layers")
    if model.input_shape is None and x is None:
        raise NotBuiltError("the model does not know its input size: build it or pass an example x")
    size = sum(math.prod(shape) for shape in model.parameter_shapes(model.input_shape or x.shape[-1:]).values())
    if size > max_parameters:
        raise ConfigurationError(f"the model has {size} parameters; a trace of more than "
                                 f"max_parameters={max_parameters} does not read well (raise the limit to see it anyway)")
    if not model.built:
        model.build(model.input_shape or x.shape[-1:])
    clone = Sequential.from_config({**model.get_config(), "dtype": "float64", "input_shape": list(model.input_shape)})
    clone.set_weights(model.get_weights())
    return clone


def _loss_for(last):
    output = last.output_activation
    if isinstance(output, activations.Softmax):
        return losses.SparseCategoricalCrossentropy()
    if isinstance(output, activations.Sigmoid):
        return losses.BinaryCrossentropy()
    return losses.MeanSquaredError()


def _example(model, x, rng):
    if x is None:
        return np.round(rng.uniform(-1, 1, (1,) + model.input_shape), 1)
    x = x.astype(np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or len(x) != 1:
        raise ShapeError(f"explain traces one example: x must have shape ({model.input_shape[0]},) or "
                         f"(1, {model.input_shape[0]}), got {np.shape(x)}")
    return x


def _target(model, y, rng):
    units = model.output_shape[0]
    loss = model.head_loss
    if y is None:
        if isinstance(loss, losses.SparseCategoricalCrossentropy):
            return np.array([rng.integers(units)])
        if isinstance(loss, losses.CategoricalCrossentropy):
            return np.eye(units)[[rng.integers(units)]]
        if isinstance(loss, losses.BinaryCrossentropy):
            return rng.integers(0, 2, (1, units)).astype(np.float64)
        return np.round(rng.uniform(-1, 1, (1, units)), 1)
    y = np.asarray(y)
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        return y.reshape(1) if y.size == 1 else y
    return y.reshape(1, -1) if y.ndim <= 1 else y


def _activation_name(layer):
    if layer.activation is None:
        return "linear"
    names = [name for name, cls in activations.ACTIVATIONS.items() if cls is type(layer.activation)]
    return names[0] if names else type(layer.activation).__name__


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


def _sections(t):
    first = t.layers[0]
    shape = " -> ".join([f"{len(first.inputs)} inputs"] + [f"{r.name} ({r.units}, {r.activation})" for r in t.layers])
    sections = [report.Section("The network and the example", [
        f"network: {shape}",
        f"example: x = [{', '.join(num(v) for v in t.x)}], target y = {_target_text(t)}",
        f"loss: {t.loss_object.name}" + (" on the logits z (softmax/sigmoid fused into the loss)" if t.fused else ""),
        f"one step of gradient descent with learning rate {num(t.learning_rate)}",
    ])]
    sections += [_forward_section(t, r) for r in t.layers]
    sections.append(_loss_section(t))
    sections += [_backward_section(t, r) for r in reversed(t.layers)]
    sections.append(_update_section(t))
    sections.append(_check_section(t))
    return sections


def _target_text(t):
    y = np.ravel(t.y)
    if isinstance(t.loss_object, losses.SparseCategoricalCrossentropy):
        return f"class {int(y[0])}"
    return num(y[0]) if y.size == 1 else "[" + ", ".join(num(v) for v in y) + "]"


def _source(r):
    return "x" if r.index == 0 else "a"


def _forward_section(t, r):
    src = _source(r)
    rows = []
    for j in range(r.units):
        terms = [f"{_factor(r.inputs[i])}*{_factor(r.weight[i, j])}" for i in range(len(r.inputs))]
        symbols = [f"{src}{i + 1}*w[{i + 1},{j + 1}]" for i in range(len(r.inputs))]
        if r.bias is not None:
            terms.append(_factor(r.bias[j]))
            symbols.append(f"b[{j + 1}]")
        rows.append([f"{j + 1}", " + ".join(symbols), " + ".join(terms), num(r.z[j]), num(r.outputs[j])])
    out = "softmax(z)" if r.activation == "softmax" else f"{r.activation}(z)"
    lines = [f"inputs {src} = [{', '.join(num(v) for v in r.inputs)}]; each neuron j computes "
             f"z = sum_i {src}i*w[i,j] + b[j], then {out}."]
    if r.activation == "softmax":
        lines.append("softmax: p_j = exp(z_j) / sum_k exp(z_k), so the outputs add up to 1.")
    return report.Section(f"Forward, layer {r.index + 1}: {r.name} ({r.units} neuron{'s' if r.units > 1 else ''}, {r.activation})", lines,
                          [report.Table(["neuron", "z =", "with the numbers", "z", out], rows, "lllrr")])


def _loss_section(t):
    name = t.loss_object.name
    pred = ", ".join(num(v) for v in t.prediction)
    lines = [f"prediction: [{pred}]", f"target: {_target_text(t)}"]
    grad = ", ".join(num(v) for v in t.d_head)
    if isinstance(t.loss_object, losses.MeanSquaredError):
        error = t.prediction - np.ravel(t.y)
        lines.append(f"error: prediction - target = [{', '.join(num(v) for v in error)}]")
        squares = " + ".join(f"{_factor(e)}^2" for e in error)
        lines.append(f"loss: L = mean over outputs of error^2 = ({squares}) / {len(error)} = {num(t.data_loss)}")
        lines.append(f"dL/dprediction = 2 * error / {len(error)} = [{grad}]")
    elif t.fused and isinstance(t.loss_object, losses.SparseCategoricalCrossentropy):
        c = int(np.ravel(t.y)[0])
        lines.append(f"loss: L = -log(p of the right class) = -log({num(t.prediction[c])}) = {num(t.data_loss)}")
        lines.append(f"error: p - onehot(y) = dL/dz = [{grad}]   (the gradient of softmax and cross-entropy together)")
    elif t.fused and isinstance(t.loss_object, losses.CategoricalCrossentropy):
        lines.append(f"loss: L = -sum_k y_k log p_k = {num(t.data_loss)}")
        lines.append(f"error: p - y = dL/dz = [{grad}]")
    elif t.fused and isinstance(t.loss_object, losses.BinaryCrossentropy):
        lines.append(f"loss: L = -mean(y log p + (1 - y) log(1 - p)) = {num(t.data_loss)}")
        lines.append(f"error: (p - y) / outputs = dL/dz = [{grad}]")
    else:
        lines.append(f"loss: L = {name}(target, prediction) = {num(t.data_loss)}")
        lines.append(f"dL/d(output) = [{grad}]")
    if t.penalty:
        lines.append(f"L1/L2 penalty: {num(t.penalty)}; total loss {num(t.loss)}")
    return report.Section("The loss", lines)


def _backward_section(t, r):
    src = _source(r)
    last = r.index == len(t.layers) - 1
    arriving = "dL/dz (from the loss)" if last and t.fused else "dL/doutput"
    rows = []
    for j in range(r.units):
        if r.local is not None:
            product = f"{_factor(r.d_outputs[j])} * {_factor(r.local[j])}"
            local = num(r.local[j])
        else:
            product = ("(fused into the loss)" if last and t.fused else
                       "(softmax Jacobian)" if r.activation == "softmax" else "(no activation)")
            local = "-"
        rows.append([f"{j + 1}", num(r.d_outputs[j]), local, product, num(r.dz[j])])
    neuron_table = report.Table(["neuron", arriving, f"f'(z) of {r.activation}", "product", "dL/dz"], rows, "lrrlr")
    weights = []
    for i in range(len(r.inputs)):
        for j in range(r.units):
            weights.append([f"w[{i + 1},{j + 1}]", f"{src}{i + 1} * dL/dz{j + 1}",
                            f"{_factor(r.inputs[i])} * {_factor(r.dz[j])}", num(r.d_weight[i, j])])
    if r.bias is not None:
        weights += [[f"b[{j + 1}]", f"dL/dz{j + 1}", num(r.dz[j]), num(r.d_bias[j])] for j in range(r.units)]
    weight_table = report.Table(["parameter", "chain rule", "with the numbers", "gradient"], weights, "lllr")
    back = []
    for i in range(len(r.inputs)):
        terms = " + ".join(f"{_factor(r.weight[i, j])}*{_factor(r.dz[j])}" for j in range(r.units))
        back.append([f"{src}{i + 1}", f"sum_j w[{i + 1},j] * dL/dzj", terms, num(r.d_inputs[i])])
    to = "the inputs (not needed for training)" if r.index == 0 else f"layer {r.index}"
    back_table = report.Table([f"dL/d{src}", "chain rule", "with the numbers", f"passed to {to}"], back, "lllr")
    lines = ["dL/dz = dL/doutput * f'(z): the gradient arriving times the local derivative of the activation."]
    if last and t.fused:
        lines = ["The loss took the logits, so the gradient arriving is dL/dz itself."]
    return report.Section(f"Backward, layer {r.index + 1}: {r.name}", lines, [neuron_table, weight_table, back_table])


def _update_section(t):
    rows = []
    for name, (before, grad, after) in t.updates.items():
        layer, kind = name.rsplit(".", 1)
        for index in np.ndindex(before.shape):
            label = f"{layer}.{'w' if kind == 'weight' else 'b'}[{','.join(str(i + 1) for i in index)}]"
            rows.append([label, num(before[index]), num(grad[index]),
                         f"{_factor(before[index])} - {num(t.learning_rate)}*{_factor(grad[index])}", num(after[index])])
    change = t.loss_after - t.loss
    lines = [f"w <- w - learning_rate * dL/dw, with learning rate {num(t.learning_rate)} "
             "(training.train_step, the step fit takes)",
             f"loss before the step: {num(t.loss)}; after: {num(t.loss_after)} ({'+' if change >= 0 else ''}{num(change)})"]
    if t.penalty:
        lines.append("with L1, a weight that the step would carry across 0 stops at exactly 0 "
                     "(see glassnet/regularizers.py)")
    return report.Section("One step of gradient descent", lines,
                          [report.Table(["parameter", "before", "dL/dw", "w - lr * dL/dw", "after"], rows, "lrrlr")])


def _check_section(t):
    rows = []
    for name, (entries, analytic, numerical) in t.check.compared.items():
        if name == "input":
            continue
        layer, kind = name.rsplit(".", 1)
        shape = t.updates[name][0].shape
        for entry, a, n, error in zip(entries, analytic, numerical, relative_errors(analytic, numerical)):
            index = np.unravel_index(entry, shape)
            label = f"{layer}.{'w' if kind == 'weight' else 'b'}[{','.join(str(i + 1) for i in index)}]"
            rows.append([label, num(a), num(n), f"{error:.1e}", "ok" if error <= t.check.tolerance else "FAILED"])
    verdict = "passed" if t.check.passed else "FAILED"
    lines = ["Each gradient from backpropagation next to the central difference (L(w + eps) - L(w - eps)) / (2 eps), "
             "eps = 1e-6 (glassnet.gradcheck).",
             f"gradient check {verdict}: worst relative error {t.check.max_error:.1e} (tolerance {t.check.tolerance:.0e})"]
    return report.Section("Gradient check", lines,
                          [report.Table(["parameter", "backprop", "numerical", "relative error", "check"], rows, "lrrrl")])
