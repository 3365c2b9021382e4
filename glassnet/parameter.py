"""Parameters (a named array and its gradient) and the flat buffers that hold them all.

A model packs all its parameters into one contiguous ``values`` array and all their gradients into
one ``grads`` array; each ``Parameter.value`` and ``Parameter.grad`` is a view into them. An
optimizer step is then a handful of whole-buffer operations whatever the number of layers, and
averaging gradients across processes is one call on ``grads``.

The trainable parameters come first in the buffers, the frozen ones after them, so an optimizer
step updates one stretch, ``values[:trainable_size]``, and never touches a frozen weight. Freezing
or unfreezing a packed parameter packs the buffers anew (``FlatParameters.pack``).
"""
import numpy as np

from . import checks


class Parameter:
    """A trainable array.

    ``value`` holds the numbers, ``grad`` the gradient of the loss with respect to them (same shape
    and dtype). A layer's backward pass stores the gradient of the current batch in ``grad``;
    ``regularizer`` (an L1/L2 object or None) then adds its penalty to the loss and its gradient here.
    ``trainable`` says whether the optimizer updates it (and its regularizer counts); setting it
    on a parameter of a built model moves it to its side of the flat buffers.
    """

    def __init__(self, name, value, regularizer=None, trainable=True):
        self.name = name
        self.value = value
        self.grad = np.zeros_like(value)
        self.regularizer = regularizer
        self._trainable = checks.boolean("trainable", trainable)
        self.flat = None  # the FlatParameters whose buffers hold it, once a model packs it

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = checks.boolean("trainable", value)
        if value != self._trainable:
            self._trainable = value
            if self.flat is not None:
                self.flat.pack()

    @property
    def shape(self):
        return self.value.shape

    @property
    def size(self):
        return self.value.size

    def __repr__(self):
        frozen = "" if self._trainable else ", trainable=False"
        return f"Parameter({self.name!r}, shape={self.value.shape}, dtype={self.value.dtype}{frozen})"


class FlatParameters:
    """All parameters of a model as views into two contiguous buffers, ``values`` and ``grads``.

    ``slices[name]`` is the part of the flat buffers that belongs to the parameter ``name``. The
    ``trainable_parameters`` (in model order) fill the first ``trainable_size`` entries, the
    frozen ones the rest; ``penalized`` are the trainable ones with a regularizer.
    """

    def __init__(self, parameters, dtype):
        self.parameters = list(parameters)
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError(f"parameter names must be unique, got {names}")
        self.dtype = dtype
        for p in self.parameters:
            p.flat = self
        self.pack()

    def pack(self):
        """Copy the parameters into new buffers, trainable ones first, and make their ``value``
        and ``grad`` views into them. A new ``slices`` dict tells an optimizer that the layout
        changed (it then moves its state to follow, ``Optimizer.step``)."""
        self.trainable_parameters = [p for p in self.parameters if p.trainable]
        order = self.trainable_parameters + [p for p in self.parameters if not p.trainable]
        total = sum(p.size for p in order)
        values, grads = np.empty(total, dtype=self.dtype), np.empty(total, dtype=self.dtype)
        slices, start = {}, 0
        for p in order:
            part = slice(start, start + p.size)
            values[part], grads[part] = p.value.ravel(), p.grad.ravel()
            p.value, p.grad = values[part].reshape(p.shape), grads[part].reshape(p.shape)
            slices[p.name] = part
            start += p.size
        self.values, self.grads, self.slices = values, grads, slices
        self.trainable_size = sum(p.size for p in self.trainable_parameters)
        self.penalized = [p for p in self.trainable_parameters if p.regularizer is not None]

    def claim(self):
        """Make the parameters views into these buffers again if another model packed them since:
        a layer shared by two models (a model for the features of another's hidden layers) sits in
        the buffers of whichever model was built or trained last, and an optimizer updates only its
        own model's buffers. Their current values are copied in (the ``Parameter`` objects are
        shared, so both models always read the same weights); returns whether anything moved."""
        if all(p.flat is self for p in self.parameters):
            return False
        for p in self.parameters:
            p.flat = self
        self.pack()
        return True

    @property
    def size(self):
        return self.values.size

    def by_name(self):
        return {p.name: p for p in self.parameters}
