"""What ``explain`` returns: the numbers of each traced step (``LayerTrace``), output
(``OutputTrace``) and optimizer step (``StepTrace``, ``OptimizerTrace``), gathered in a ``Trace``
that renders itself as text, Markdown or a terminal report (``sections.py``)."""
import numpy as np

from .. import optimizers, report
from ..layers import Add, BatchNormalization, Dense, LayerNormalization, activations
from .sections import _sections


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


def _activation_name(activation):
    if activation is None:
        return "linear"
    if type(activation) is activations.Activation:
        activation = activation.activation
    names = [name for name, cls in activations.ACTIVATIONS.items() if cls is type(activation)]
    return names[0] if names else type(activation).__name__
