"""The numerical gradient check: is a backward pass right?

For a scalar function ``f`` of an array ``a``, the central difference

    df/da_i ~ (f(a + eps e_i) - f(a - eps e_i)) / (2 eps)

approximates each partial derivative with an error of order ``eps**2``. ``gradcheck`` compares it,
in float64, with the analytic gradient the backward passes compute, for every parameter and for
the input, and reports the worst relative error of each. To turn a layer's array output into a
scalar it uses ``f = sum(output * G)`` with a fixed random ``G``, which checks the backward for an
arbitrary upstream gradient, not only for a gradient of ones. Dropout draws the same mask in every
pass: the random generators are rewound before each forward.
"""
import numpy as np

from . import checks, regularizers
from .errors import ConfigurationError
from .layers import Layer
from .losses import Loss
from .functional import Model
from .model import Sequential
from .training import rows


class GradcheckReport:
    """``errors[name]`` is the worst relative error of the parameter (or ``"input"``);
    ``compared[name]`` is ``(entries, analytic, numerical)``: the flat indices checked and the two
    gradients there (``glassnet.explain`` prints them side by side)."""

    def __init__(self, errors, tolerance, compared=None):
        self.errors = errors
        self.tolerance = tolerance
        self.compared = compared or {}

    @property
    def max_error(self):
        return max(self.errors.values(), default=0.0)

    @property
    def passed(self):
        return self.max_error <= self.tolerance

    def __bool__(self):
        return self.passed

    def __str__(self):
        width = max((len(name) for name in self.errors), default=5)
        lines = [f"{'gradient of':<{width}}  worst relative error"]
        for name, error in self.errors.items():
            mark = "ok" if error <= self.tolerance else "FAILED"
            lines.append(f"{name:<{width}}  {error:.2e}  {mark}")
        verdict = "passed" if self.passed else "FAILED"
        lines.append(f"gradcheck {verdict} (tolerance {self.tolerance:.0e})")
        return "\n".join(lines)

    __repr__ = __str__


def relative_errors(analytic, numerical):
    """``|a - n| / max(|a|, |n|, s)`` elementwise; ``s`` is 1e-3 of the largest gradient entry,
    so entries that are tiny next to the rest are judged on an absolute scale."""
    scale = max(np.abs(numerical).max(initial=0.0), np.abs(analytic).max(initial=0.0), 1e-12)
    denominator = np.maximum(np.maximum(np.abs(analytic), np.abs(numerical)), 1e-3 * scale)
    return np.abs(analytic - numerical) / denominator


def relative_error(analytic, numerical):
    """The worst of ``relative_errors``."""
    return float(relative_errors(analytic, numerical).max(initial=0.0))


def numerical_gradient(f, array, eps, entries):
    """Central differences of ``f()`` with respect to ``array`` (changed in place, restored) at
    the flat indices ``entries``."""
    flat = array.reshape(-1)
    grad = np.zeros(flat.size)
    for i in entries:
        original = flat[i]
        flat[i] = original + eps
        plus = f()
        flat[i] = original - eps
        minus = f()
        flat[i] = original
        grad[i] = (plus - minus) / (2 * eps)
    return grad.reshape(array.shape)


def gradcheck(target, x, y=None, *, eps=1e-6, tolerance=1e-5, seed=0, max_entries=200,
              training=True, sample_weight=None):
    """Check the backward of a layer, a loss or a whole model against central differences.

    - a ``Layer``: ``f = sum(layer(x) * G)``; checks its parameters and ``x``.
    - a ``Loss``: ``f = loss(y, x, sample_weight)``, with ``x`` the predictions; checks ``x``.
    - a ``Sequential``: if compiled and ``y`` is given, ``f`` is the training loss (fused head
      and L1/L2 penalties included); otherwise ``sum(model(x) * G)``. Checks every parameter.
    - a graph ``Model``: the same (``x`` and ``y`` as its ``fit`` takes them, ``G`` one per
      output); checks every parameter, not the inputs.

    Everything runs in float64 (parameters are cast for the check and restored afterwards). At
    most ``max_entries`` entries of each array are checked, chosen at random with ``seed``.
    Returns a ``GradcheckReport``; ``bool(report)`` says whether all errors are within ``tolerance``.
    """
    if not isinstance(target, (Loss, Sequential, Model, Layer)):
        raise ConfigurationError(f"gradcheck takes a Layer, a Loss, a Sequential or a Model, got {type(target).__name__}")
    eps = checks.number("eps", eps, low=0, low_open=True)
    tolerance = checks.number("tolerance", tolerance, low=0)
    max_entries = checks.positive_int("max_entries", max_entries)
    rng = np.random.default_rng(checks.seed("seed", seed))
    if isinstance(target, Loss):
        x = checks.numeric_array("x", x).astype(np.float64)
        return _check_loss(target, x, y, sample_weight, rng, eps, tolerance, max_entries)
    if isinstance(target, Model):
        x = _float64(target.prepare_inputs(x))
        run, parameters, generators = _model_function(target, x, y, sample_weight, training, rng)
    elif isinstance(target, Sequential):
        x = checks.model_inputs(x, np.float64, target.input_shape)
        if not target.built:
            target.prepare_inputs(x)
        run, parameters, generators = _model_function(target, x, y, sample_weight, training, rng)
    else:
        x = checks.model_inputs(x, np.float64, target.input_shape)
        if not target.built:
            target.ensure_built(x.shape[1:], np.random.default_rng(seed), np.float64)
        run, parameters, generators = _layer_function(target, training, rng)

    saved = [(p, p.value, p.grad) for p in parameters]
    states = [g.bit_generator.state for g in generators]
    # The input's gradient is checked too, but for a graph model (whose backward gives none).
    first_layer = target.layers[0] if isinstance(target, Sequential) else None if isinstance(target, Model) else target
    input_gradient = first_layer is not None and first_layer.compute_input_gradient
    try:
        if first_layer is not None:
            first_layer.compute_input_gradient = True
        for p in parameters:
            p.value = p.value.astype(np.float64)
            p.grad = np.zeros_like(p.value)

        def f():
            for g, state in zip(generators, states):
                g.bit_generator.state = state
            return run(x, backward=False)

        for g, state in zip(generators, states):
            g.bit_generator.state = state
        dx = run(x, backward=True)
        errors, compared = {}, {}
        for name, array, analytic in [(p.name, p.value, p.grad) for p in parameters] + [("input", x, dx)]:
            if analytic is None:
                continue
            entries = _entries(array.size, max_entries, rng)
            numeric = numerical_gradient(f, array, eps, entries).reshape(-1)[entries]
            compared[name] = (entries, analytic.reshape(-1)[entries].copy(), numeric)
            errors[name] = relative_error(compared[name][1], numeric)
    finally:
        if first_layer is not None:
            first_layer.compute_input_gradient = input_gradient
        for p, value, grad in saved:
            p.value, p.grad = value, grad
        for g, state in zip(generators, states):
            g.bit_generator.state = state
    return GradcheckReport(errors, tolerance, compared)


def _entries(size, max_entries, rng):
    if size <= max_entries:
        return np.arange(size)
    return np.sort(rng.choice(size, max_entries, replace=False))


def _random_upstream(forward, rng):
    """``f = sum(output * G)`` with a fixed random ``G``; its gradient runs the backward on ``G``."""
    upstream = None

    def run(x, backward):
        nonlocal upstream
        outputs, back = forward(x)
        several = isinstance(outputs, list)
        if upstream is None:
            upstream = [rng.standard_normal(o.shape) for o in outputs] if several else rng.standard_normal(outputs.shape)
        if backward:
            return back(upstream)
        return float(sum((o * g).sum() for o, g in zip(outputs, upstream)) if several else (outputs * upstream).sum())

    return run


def _layer_function(layer, training, rng):
    run = _random_upstream(lambda x: layer.forward(x, training), rng)
    generators = [layer.rng] if isinstance(layer.rng, np.random.Generator) else []
    return run, layer.parameters(), generators


def _model_function(model, x, y, sample_weight, training, rng):
    if model.head_loss is not None and y is not None:
        y = _float64(model.prepare_targets(y))
        if rows(y) != rows(x):
            raise ConfigurationError(f"x and y must have the same number of examples, got {rows(x)} and {rows(y)}")
        weights = None if sample_weight is None else checks.sample_weights(sample_weight, rows(x))

        def run(x, backward):
            outputs, back = model.forward_head(x, training)
            loss, d_outputs = model.head_loss.unchecked_value_and_grad(y, outputs, weights)
            if not backward:
                return loss + regularizers.total_penalty(model.regularized_parameters)
            d_inputs = back(d_outputs)
            regularizers.add_penalties(model.regularized_parameters)
            return d_inputs
    else:
        run = _random_upstream(lambda x: model.forward(x, training), rng)
    return run, model.parameters(), [model.rng]


def _float64(a):
    """Float arrays (or each of a list) in float64; integer ids as they are."""
    if isinstance(a, list):
        return [_float64(b) for b in a]
    return a.astype(np.float64) if a.dtype.kind == "f" else a


def _check_loss(loss, y_pred, y_true, sample_weight, rng, eps, tolerance, max_entries):
    if y_true is None:
        raise ConfigurationError("gradcheck of a loss needs the targets y")
    y_true, y_pred, weights = loss.checked(y_true, y_pred, sample_weight)
    _, analytic = loss.unchecked_value_and_grad(y_true, y_pred, weights)
    entries = _entries(y_pred.size, max_entries, rng)
    numeric = numerical_gradient(lambda: loss.unchecked_value_and_grad(y_true, y_pred, weights)[0], y_pred, eps, entries)
    error = relative_error(analytic.reshape(-1)[entries], numeric.reshape(-1)[entries])
    return GradcheckReport({"input": error}, tolerance)
