"""Weight penalties that fight overfitting: L1, L2 and both.

A regularizer attached to a parameter adds ``penalty(w)`` to the training loss of every batch and
``gradient(w)`` to the parameter's gradient. The scaling follows Keras:

    L1(l1):      penalty = l1 * sum(|w|)            gradient = l1 * sign(w)
    L2(l2):      penalty = l2 * sum(w ** 2)         gradient = 2 * l2 * w
    L1L2(l1, l2): the sum of both

The penalty is a sum over the weights, not a mean, and it is not divided by the batch size: the
loss of a batch is ``mean(data loss over the batch) + sum of penalties``. (PyTorch's
``weight_decay=wd`` in SGD equals ``L2(wd / 2)`` here.)
"""
import numpy as np

from .errors import ConfigurationError, lookup


class Regularizer:
    """Base class: ``penalty(w)`` is a float, ``gradient(w)`` an array shaped like ``w``."""

    def penalty(self, w):
        raise NotImplementedError

    def gradient(self, w):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _check_factor(name, value):
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ConfigurationError(f"regularization factor {name} must be a finite number >= 0, got {value}")
    return value


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``; gradient ``l1 * sign(w) + 2 * l2 * w``."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _check_factor("l1", l1)
        self.l2 = _check_factor("l2", l2)

    def penalty(self, w):
        total = 0.0
        if self.l1:
            total += self.l1 * float(np.abs(w).sum())
        if self.l2:
            total += self.l2 * float(np.square(w).sum())
        return total

    def gradient(self, w):
        grad = np.zeros_like(w)
        if self.l1:
            grad += self.l1 * np.sign(w)
        if self.l2:
            grad += (2 * self.l2) * w
        return grad

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|w|)``: pushes weights to exactly zero (sparse weights)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w**2)``: weight decay, shrinks all weights toward zero."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


REGULARIZERS = {"l1": L1, "l2": L2, "l1l2": L1L2, "l1_l2": L1L2}


def get(regularizer):
    """A regularizer from an instance, a name (``"l2"``), a config dict, or None."""
    if regularizer is None or isinstance(regularizer, Regularizer):
        return regularizer
    if isinstance(regularizer, dict):
        return lookup(REGULARIZERS, regularizer["class_name"], "regularizer")(**regularizer["config"])
    return lookup(REGULARIZERS, regularizer, "regularizer")()


def serialize(regularizer):
    if regularizer is None:
        return None
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


def total_penalty(parameters):
    """The summed penalty of the regularized ``parameters`` (added to every reported loss)."""
    return sum(p.regularizer.penalty(p.value) for p in parameters)


def add_penalties(parameters):
    """Add each regularizer's gradient into its parameter's ``grad``; return the summed penalty."""
    for p in parameters:
        p.grad += p.regularizer.gradient(p.value)
    return total_penalty(parameters)
