"""Parameters (a named array and its gradient) and the flat buffers that hold them all.

A model packs all its parameters into one contiguous ``values`` array and all their gradients into
one ``grads`` array; each ``Parameter.value`` and ``Parameter.grad`` is a view into them. An
optimizer step is then a handful of whole-buffer operations whatever the number of layers, and
averaging gradients across processes is one call on ``grads``.
"""
import numpy as np


class Parameter:
    """A trainable array.

    ``value`` holds the numbers, ``grad`` the gradient of the loss with respect to them (same shape
    and dtype). A layer's backward pass stores the gradient of the current batch in ``grad``;
    ``regularizer`` (an L1/L2 object or None) then adds its penalty to the loss and its gradient here.
    """

    def __init__(self, name, value, regularizer=None):
        self.name = name
        self.value = value
        self.grad = np.zeros_like(value)
        self.regularizer = regularizer

    @property
    def shape(self):
        return self.value.shape

    @property
    def size(self):
        return self.value.size

    def __repr__(self):
        return f"Parameter({self.name!r}, shape={self.value.shape}, dtype={self.value.dtype})"


class FlatParameters:
    """All parameters of a model as views into two contiguous buffers, ``values`` and ``grads``.

    ``slices[name]`` is the part of the flat buffers that belongs to the parameter ``name``.
    """

    def __init__(self, parameters, dtype):
        self.parameters = list(parameters)
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError(f"parameter names must be unique, got {names}")
        total = sum(p.size for p in self.parameters)
        self.values = np.empty(total, dtype=dtype)
        self.grads = np.zeros(total, dtype=dtype)
        self.slices = {}
        start = 0
        for p in self.parameters:
            part = slice(start, start + p.size)
            self.values[part] = p.value.ravel()
            p.value = self.values[part].reshape(p.shape)
            p.grad = self.grads[part].reshape(p.shape)
            self.slices[p.name] = part
            start += p.size

    @property
    def size(self):
        return self.values.size

    def by_name(self):
        return {p.name: p for p in self.parameters}
