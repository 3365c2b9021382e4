"""Weight penalties that fight overfitting: L1, L2 and both.

A regularizer attached to a parameter adds ``penalty(w)`` to the training loss of every batch and
``gradient(w)`` to the parameter's gradient. The scaling follows Keras:

    L1(l1):      penalty = l1 * sum(|w|)            gradient = l1 * sign(w)
    L2(l2):      penalty = l2 * sum(w ** 2)         gradient = 2 * l2 * w
    L1L2(l1, l2): the sum of both

A plain subgradient step ``w - lr * l1 * sign(w)`` almost never lands on exactly 0: a small weight
jumps back and forth across 0. So training treats L1 orthant-wise (as OWL-QN does), which makes
weights exactly 0 with any optimizer:

    before the step:  s = l1 * sign(w)                where w != 0
                      s = -clip(g, -l1, l1)           where w == 0 (g: the data gradient)
                      g <- g + s;  orthant = sign(w), or sign(-g) where w == 0
    after the step:   w <- 0 where sign(w) != orthant (the weight crossed 0, or left 0 although
                      |g| <= l1 holds it there)

At ``w = 0``, ``s`` is the subgradient of ``l1 |w|`` closest to ``-g``: a zero weight stays exactly
0 while the data pull on it is no stronger than ``l1``. For plain SGD this is the proximal
(soft-threshold) step ``w <- sign(v) max(|v| - lr l1, 0)`` on ``v = w - lr g``, except that a
weight which the data gradient alone carries across 0 stops at 0 for one step; for momentum,
Adam and RMSprop it keeps Keras's coupled L1 strength. ``gradient(w)`` stays the plain
subgradient (``sign(0) = 0``) that ``gradcheck`` checks; ``docs/course/regularization.md`` has
the numbers.

The penalty is a sum over the weights, not a mean, and it is not divided by the batch size: the
loss of a batch is ``mean(data loss over the batch) + sum of penalties``. (PyTorch's
``weight_decay=wd`` in SGD equals ``L2(wd / 2)`` here.)
"""
import numpy as np

from . import checks, serialization
from .errors import lookup


class Regularizer:
    """Base class: ``penalty(w)`` is a float, ``gradient(w)`` an array shaped like ``w``."""

    def penalty(self, w):
        raise NotImplementedError

    def gradient(self, w):
        raise NotImplementedError

    def add_training_gradient(self, w, grad):
        """Add to ``grad`` (the data gradient, in place) the gradient training follows; return
        the orthant (array of signs) the optimizer step must keep ``w`` in, or None: by default
        ``gradient(w)`` and no orthant."""
        grad += self.gradient(w)
        return None

    def get_config(self):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``; gradient ``l1 * sign(w) + 2 * l2 * w``."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = checks.number("l1", l1, low=0)
        self.l2 = checks.number("l2", l2, low=0)

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

    def add_training_gradient(self, w, grad):
        """``2 l2 w`` plus L1's orthant-wise term (see the module docstring); returns the orthant."""
        if self.l2:
            grad += (2 * self.l2) * w
        if not self.l1:
            return None
        orthant = np.sign(w)
        grad += self.l1 * orthant
        at_zero = orthant == 0
        if at_zero.any():
            pull = grad[at_zero]
            pull -= np.clip(pull, -self.l1, self.l1)
            grad[at_zero] = pull
            orthant[at_zero] = -np.sign(pull)
        return orthant

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
        return serialization.deserialize(regularizer, REGULARIZERS.values(), "regularizer")
    return lookup(REGULARIZERS, regularizer, "regularizer")()


def serialize(regularizer):
    if regularizer is None:
        return None
    return serialization.serialize(regularizer)


def total_penalty(parameters):
    """The summed penalty of the regularized ``parameters`` (added to every reported loss)."""
    return sum(p.regularizer.penalty(p.value) for p in parameters)


def add_penalties(parameters):
    """Add each regularizer's gradient into its parameter's ``grad``; return the summed penalty."""
    for p in parameters:
        p.grad += p.regularizer.gradient(p.value)
    return total_penalty(parameters)


def add_training_penalties(parameters):
    """The training step's version of ``add_penalties``: adds the gradients training follows
    (L1 orthant-wise) and returns ``(summed penalty, orthants)`` for ``stay_in_orthants``."""
    orthants = [p.regularizer.add_training_gradient(p.value, p.grad) for p in parameters]
    return total_penalty(parameters), orthants


def stay_in_orthants(parameters, orthants):
    """After the optimizer step: every L1 weight that left its orthant becomes exactly 0."""
    for p, orthant in zip(parameters, orthants):
        if orthant is not None:
            p.value[np.sign(p.value) != orthant] = 0
