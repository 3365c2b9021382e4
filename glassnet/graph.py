"""Symbolic tensors: the wiring of a graph model, recorded before any data flows.

    x = gn.Input((12,), name="numeric")        # a placeholder for a batch of 12 numbers per row
    h = gn.layers.Dense(64, activation="relu")(x)   # a Node: this layer applied to x; h its output
    y = gn.layers.Add()([x2, h])                 # a layer applied to several tensors at once

Calling a layer on a ``SymbolicTensor`` (or a list of them) computes nothing: it records a
``Node`` (the layer, the tensors it reads, whether it reads them as a list) and returns the
symbolic tensor the node makes, with the output shape the layer works out without building
(``Layer.compute_output_shape``). ``gn.Model(inputs, outputs)`` then walks back from the outputs
to find every node they need (``sorted_nodes``) and runs them in that order.

A layer called twice is *shared*: both nodes use its one set of parameters, so it must see inputs
of the same shape each time. Shapes never include the batch axis.
"""
import numpy as np

from . import checks
from .errors import ConfigurationError, ShapeError

INTEGER_DTYPES = ("int32", "int64")


class SymbolicTensor:
    """A batch that will flow here: its per-example ``shape`` and the ``node`` that makes it
    (None for an ``Input``)."""

    def __init__(self, shape, node=None):
        self.shape = tuple(shape)
        self.node = node

    @property
    def name(self):
        return self.node.layer.name if self.node is not None else "?"

    def __repr__(self):
        return f"<SymbolicTensor shape=(None, {', '.join(map(str, self.shape))}) from {self.name!r}>"


class Input(SymbolicTensor):
    """The start of a graph: one input of the model, ``shape`` per example (no batch axis).

    ``dtype`` is None for numbers (the model's float dtype) or ``"int64"``/``"int32"`` for integer
    ids (an Embedding's input); ``name`` is the key of this input in a dict of inputs given to
    ``fit``/``predict``. As the first entry of a ``Sequential`` it declares the input shape."""

    def __init__(self, shape, dtype=None, name=None):
        super().__init__(checks.shape("Input shape", shape))
        if dtype is not None and str(np.dtype(dtype) if _is_dtype(dtype) else dtype) not in \
                ("float32", "float64", *INTEGER_DTYPES):
            raise ConfigurationError(f"Input dtype must be None, 'float32', 'float64', 'int32' or 'int64', got {dtype!r}")
        self.dtype = None if dtype is None else str(np.dtype(dtype))
        if name is not None and not isinstance(name, str):
            raise ConfigurationError(f"Input name must be a string, got {name!r}")
        self._name = name

    @property
    def name(self):
        return self._name or "input"

    def __repr__(self):
        return f"Input(shape={self.shape}" + (f", name={self._name!r}" if self._name else "") + ")"


def _is_dtype(value):
    try:
        np.dtype(value)
    except TypeError:
        return False
    return True


class Node:
    """One application of ``layer`` to ``inputs`` (symbolic tensors). ``as_list``: the layer was
    called on a list (a merge layer) and its forward gets a list of arrays; else one array."""

    def __init__(self, layer, inputs, as_list):
        self.layer, self.inputs, self.as_list = layer, list(inputs), as_list
        self.input_shapes = [t.shape for t in self.inputs]

    def output_shape(self):
        shapes = self.input_shapes if self.as_list else self.input_shapes[0]
        return tuple(self.layer.compute_output_shape(shapes))


def is_symbolic(x):
    """Whether ``x`` is a symbolic tensor or a non-empty list of them (a layer call to record)."""
    if isinstance(x, SymbolicTensor):
        return True
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(t, SymbolicTensor) for t in x)


def call(layer, x):
    """Record ``layer`` applied to ``x`` (a symbolic tensor or a list of them) and return the
    symbolic tensor it makes. A shared layer must see the shapes it saw the first time."""
    as_list = isinstance(x, (list, tuple))
    node = Node(layer, x if as_list else [x], as_list)
    first = getattr(layer, "_first_call_shapes", None)
    if first is not None and first != (as_list, node.input_shapes):
        raise ShapeError(f"layer {layer.name!r} is shared, so its inputs must have the shapes of its first call "
                         f"({_shapes_text(first[1])}), got {_shapes_text(node.input_shapes)}")
    try:
        output_shape = node.output_shape()
    except (ShapeError, ConfigurationError):  # the layer's own message names what it expected
        raise
    except (ValueError, TypeError, IndexError) as error:
        raise ShapeError(f"layer {layer.name!r} cannot take inputs of shape {_shapes_text(node.input_shapes)}: "
                         f"{error}") from None
    layer._first_call_shapes = (as_list, node.input_shapes)
    return SymbolicTensor(output_shape, node)


def _shapes_text(shapes):
    return ", ".join("(None, " + ", ".join(map(str, s)) + ")" for s in shapes)


def sorted_nodes(inputs, outputs):
    """Every node the ``outputs`` need, each after the nodes it reads from (a depth-first walk
    back from each output in turn, without recursion so that a deep graph cannot overflow the
    stack), checking that the graph starts at ``inputs`` and only there."""
    order, done = [], set()
    known_inputs, used_inputs = {id(t) for t in inputs}, set()
    for output in outputs:
        stack = [(output, False)]  # (tensor, whether the tensors its node reads are done)
        while stack:
            tensor, ready = stack.pop()
            node = tensor.node
            if node is None:
                if id(tensor) not in known_inputs:
                    raise ConfigurationError(f"the outputs depend on {tensor!r}, which is not among the model's inputs")
                used_inputs.add(id(tensor))
            elif ready:
                if id(node) not in done:
                    done.add(id(node))
                    order.append(node)
            elif id(node) not in done:
                stack.append((tensor, True))
                stack.extend((t, False) for t in reversed(node.inputs))
    unused = [t for t in inputs if id(t) not in used_inputs]
    if unused:
        raise ConfigurationError(f"input {unused[0].name!r} is not used by any output")
    return order
