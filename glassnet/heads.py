"""The loss and metrics of a model with several outputs, as the training loop sees one loss.

A graph model with outputs ``out_1 .. out_K`` compiled with a loss ``L_k`` and a weight ``w_k``
per output trains on

    L = w_1 L_1(y_1, out_1) + ... + w_K L_K(y_K, out_K)
    dL/d out_k = w_k dL_k/d out_k

so ``Heads`` is a loss over lists: targets, outputs and gradients one per output, in the order of
the model's outputs. Metrics are each computed on one output (``OutputMetric``, logged as
``<output>_<metric>``), and each output's own loss is logged as ``<output>_loss`` (``OutputLoss``,
like Keras's; it weighs every example the same, so with ``sample_weight`` it differs from that
output's part of ``loss``).
"""
import numpy as np

from .errors import ConfigurationError, GlassnetError
from .metrics import Mean, Metric


class Heads:
    """The weighted sum of one loss per output; ``losses`` are the losses the loop calls (fused
    with an output's softmax/sigmoid where the model trains that output on logits)."""

    classification = False  # class_weight weighs the classes of one output: refused with several

    def __init__(self, losses, weights, names):
        self.losses, self.weights, self.names = list(losses), [float(w) for w in weights], list(names)
        self.name = " + ".join(f"{w:g} * {loss.name}({name})" for loss, w, name in zip(self.losses, self.weights, self.names))

    def check_targets(self, ys, output_shapes):
        """Each output's targets checked by its loss; a refusal names the output."""
        checked = []
        for loss, y, shape, name in zip(self.losses, ys, output_shapes, self.names):
            try:
                checked.append(loss.check_targets(y, shape))
            except GlassnetError as error:
                raise type(error)(f"output {name!r}: {error}") from None
        return checked

    def unchecked_value_and_grad(self, ys, outputs, sample_weight=None):
        total, grads = 0.0, []
        for loss, weight, y, out in zip(self.losses, self.weights, ys, outputs):
            value, grad = loss.unchecked_value_and_grad(y, out, sample_weight)
            total += weight * value
            grads.append(grad if weight == 1.0 else grad * weight)
        return total, grads


class OutputMetric(Metric):
    """``metric`` on output ``index`` of a model's list of outputs, named ``<output>_<metric>``."""

    def __init__(self, metric, index, output_name, output_shape):
        super().__init__(f"{output_name}_{metric.name}")
        self.metric, self.index, self.output_shape = metric, index, tuple(output_shape)

    def size(self, output_shapes):
        return self.metric.size(self.output_shape)

    def sums(self, y_true, y_pred):
        return self.metric.sums(y_true[self.index], y_pred[self.index])

    def result(self, sums):
        return self.metric.result(sums)


class OutputLoss(Mean):
    """The mean of output ``index``'s own loss over the examples, named ``<output>_loss``."""

    def __init__(self, loss, index, output_name):
        super().__init__(f"{output_name}_loss")
        self.loss, self.index = loss, index

    def sums(self, y_true, y_pred):
        per_example, _ = self.loss.unchecked_per_example(y_true[self.index], y_pred[self.index])
        return float(np.sum(per_example, dtype=np.float64)), len(per_example)


def per_output(what, value, names, required):
    """``value`` given once for every output, as a list (one per output) or as a dict by output
    name, as a list in the outputs' order (None where a dict leaves an output out and
    ``required`` is False)."""
    if isinstance(value, dict):
        unknown = [key for key in value if key not in names]
        if unknown:
            raise ConfigurationError(f"{what} names {unknown[0]!r}, which is not an output; the outputs are {names}")
        missing = [name for name in names if name not in value]
        if missing and required:
            raise ConfigurationError(f"{what} has nothing for output {missing[0]!r}; give one for each of {names}")
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ConfigurationError(f"{what} as a list needs one entry per output ({len(names)}: {names}), got {len(value)}")
        return list(value)
    return [value] * len(names)
