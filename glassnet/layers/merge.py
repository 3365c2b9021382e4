"""Merge layers: several tensors in, one out, as in Keras (``Add``, ``Subtract``, ``Multiply``,
``Average``, ``Maximum``, ``Minimum``, ``Concatenate``). They have no parameters and exist for
graph models, where two branches meet:

    merged = gn.layers.Concatenate()([numeric_branch, embedded_ids])
    y = gn.layers.Add()([x, gn.layers.Dense(64)(x)])        # a residual connection

The contract differs from ``Layer``'s in one way: a list where a layer has one array.

- ``forward(xs, training=False)`` takes a list of arrays (batch first) and returns
  ``(y, backward)``; ``backward(dy)`` returns a list of ``dx``, one per input, in order
  (a list of None when ``compute_input_gradient`` is False). ``Add`` returns ``dy`` itself for
  every input: a backward never writes into its ``dy``, so one array may be handed on several
  times. ``Concatenate``'s ``dx`` are views of ``dy``.
- ``compute_output_shape(input_shapes)``, ``ensure_built(input_shapes, rng, dtype)`` and
  ``parameter_shapes(input_shapes)`` take a list of shapes (no batch axis).
- Called on a list of ``gn.Input``-made tensors, a merge layer records a node of a graph model;
  called on a list of arrays, it checks them and returns the output.

Every merge takes at least two inputs (Keras 3 also takes one, as an identity), ``Subtract``
exactly two. The elementwise ones take inputs of one shape: Keras would broadcast a (None, 1)
against a (None, 4), glassnet refuses it with a ShapeError, as a shape mistake is the likelier
cause. ``Concatenate`` takes shapes that agree on every axis but ``axis``.
"""
import math
import numbers

import numpy as np

from .. import checks, graph
from ..errors import ConfigurationError, DataError, ShapeError
from .base import Layer


def _text(shape):
    """A shape with its batch axis, as Keras prints it: ``(None, 4)``."""
    return "(None, " + ", ".join(map(str, shape)) + ")"


class Merge(Layer):
    """Base class of the merge layers; see the module docstring for the contract. Subclasses
    define ``forward`` and, if their output shape is not the shape of their inputs,
    ``merged_shape``."""

    min_inputs, max_inputs = 2, None

    def __init__(self, **kwargs):
        if kwargs.get("input_shape") is not None:
            raise ConfigurationError(f"{type(self).__name__} takes no input_shape: a merge layer combines "
                                     "several inputs, whose shapes come from the tensors it is called on")
        super().__init__(**kwargs)
        self.input_shapes = None

    # -- shapes and building ----------------------------------------------------------------------
    def checked_shapes(self, input_shapes):
        """``input_shapes`` as a list of tuples, refused unless it is a list of as many shapes as
        this layer takes."""
        what = f"{type(self).__name__} layer {self.name!r}"
        count = f"exactly {self.min_inputs}" if self.max_inputs == self.min_inputs else f"at least {self.min_inputs}"
        if not isinstance(input_shapes, (list, tuple)) or not input_shapes \
                or not all(isinstance(shape, (list, tuple)) for shape in input_shapes):
            if isinstance(input_shapes, (list, tuple)) and input_shapes \
                    and all(isinstance(d, numbers.Integral) for d in input_shapes):
                got = f"one input of shape {_text(input_shapes)}"
            else:
                got = repr(input_shapes)
            raise ConfigurationError(f"{what} takes a list of {count} inputs, got {got}")
        shapes = [checks.shape(f"{what} input {i} shape", shape) for i, shape in enumerate(input_shapes)]
        if len(shapes) < self.min_inputs or (self.max_inputs is not None and len(shapes) > self.max_inputs):
            raise ConfigurationError(f"{what} takes a list of {count} inputs, got {len(shapes)}: "
                                     f"{', '.join(map(_text, shapes))}")
        return shapes

    def compute_output_shape(self, input_shapes):
        """The output shape for inputs of ``input_shapes`` (a list, no batch axes), checked."""
        return self.merged_shape(self.checked_shapes(input_shapes))

    def merged_shape(self, shapes):
        """Elementwise: every input has the first one's shape, which is the output's."""
        for shape in shapes[1:]:
            if shape != shapes[0]:
                raise ShapeError(f"{type(self).__name__} layer {self.name!r} needs inputs of one shape, got "
                                 f"{_text(shapes[0])} and {_text(shape)} (glassnet does not broadcast merges)")
        return shapes[0]

    def ensure_built(self, input_shapes, rng, dtype=np.float32):
        """Check ``input_shapes`` (a list) and remember them, once; nothing to allocate."""
        if self.built:
            return
        shapes = self.checked_shapes(input_shapes)
        self.merged_shape(shapes)
        self.input_shapes = shapes
        self.rng = rng
        self.dtype = np.dtype(dtype)
        self.built = True

    def parameter_shapes(self, input_shapes):
        return {}

    # -- running ----------------------------------------------------------------------------------
    def forward(self, xs, training=False):
        """Return ``(y, backward)`` for the list of arrays ``xs``; ``backward(dy)`` returns the list
        of their gradients."""
        raise NotImplementedError

    def __call__(self, xs, training=False):
        """On a list of symbolic tensors, record a node of a graph model and return its output
        tensor; on a list of arrays (numeric, finite, with one batch size), the output array."""
        if graph.is_symbolic(xs):
            return graph.call(self, xs)
        what = f"{type(self).__name__} layer {self.name!r}"
        if not isinstance(xs, (list, tuple)):
            raise DataError(f"{what} takes a list of arrays, got {type(xs).__name__}")
        symbolic = [i for i, x in enumerate(xs) if isinstance(x, graph.SymbolicTensor)]
        if symbolic:
            raise ConfigurationError(f"{what} takes a list of symbolic tensors (to build a graph model) or a list of "
                                     f"arrays, not both: input {symbolic[0]} is {xs[symbolic[0]]!r}")
        arrays = [checks.nonempty_array(f"{what} input {i}", x) for i, x in enumerate(xs)]
        if self.built:
            dtype = self.dtype
        else:
            common = np.result_type(*arrays) if arrays else np.float32
            dtype = common if common in (np.float32, np.float64) else np.dtype(np.float32)
        arrays = [checks.finite(f"{what} input {i}", x, within=dtype).astype(dtype, copy=False)
                  for i, x in enumerate(arrays)]
        for i, x in enumerate(arrays):
            if x.ndim < 2:
                raise ShapeError(f"{what}: input {i} must have shape (n_examples, features...), got shape {x.shape}")
        sizes = [len(x) for x in arrays]
        if len(set(sizes)) > 1:
            raise ShapeError(f"{what}: the inputs must have one batch size, got {', '.join(map(str, sizes))} rows")
        shapes = [x.shape[1:] for x in arrays]
        if self.built:
            if shapes != self.input_shapes:
                raise ShapeError(f"{what} was built for inputs of shapes {', '.join(map(_text, self.input_shapes))}, "
                                 f"got {', '.join(map(_text, shapes))}")
        else:
            self.ensure_built(shapes, np.random.default_rng(), dtype)
        return self.forward(arrays, training)[0]

    def _none(self, xs):
        """What a backward returns when no input gradient is wanted."""
        return [None] * len(xs)


class Add(Merge):
    """``y = x_1 + x_2 + ... + x_n``."""

    def forward(self, xs, training=False):
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y += x  # y is this layer's own array

        def backward(dy):
            """``dy/dx_i = 1``, so ``dx_i = dy`` for every input: the same array, never written."""
            return [dy] * len(xs) if self.compute_input_gradient else self._none(xs)

        return y, backward


class Subtract(Merge):
    """``y = x_1 - x_2``, for exactly two inputs."""

    min_inputs, max_inputs = 2, 2

    def forward(self, xs, training=False):
        first, second = xs

        def backward(dy):
            """``dx_1 = dy``, ``dx_2 = -dy``."""
            return [dy, -dy] if self.compute_input_gradient else self._none(xs)

        return first - second, backward


class Multiply(Merge):
    """``y = x_1 * x_2 * ... * x_n``, elementwise."""

    def forward(self, xs, training=False):
        y = xs[0] * xs[1]
        for x in xs[2:]:
            y *= x

        def backward(dy):
            """``dx_i = dy * prod_{j != i} x_j``: the product of the others, recomputed for each input
            (never ``y / x_i``, which fails where ``x_i`` is 0); n - 1 products per input, and n is
            small."""
            if not self.compute_input_gradient:
                return self._none(xs)
            return [dy * math.prod(x for j, x in enumerate(xs) if j != i) for i in range(len(xs))]

        return y, backward


class Average(Merge):
    """``y = (x_1 + ... + x_n) / n``."""

    def forward(self, xs, training=False):
        n = len(xs)
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y += x
        y /= n

        def backward(dy):
            """``dx_i = dy / n`` for every input (one array, handed to each)."""
            return [dy / n] * n if self.compute_input_gradient else self._none(xs)

        return y, backward


class _Extremum(Merge):
    """The elementwise maximum (``better = np.greater``) or minimum (``np.less``) of the inputs,
    and which input gave each element: the first of equal ones, as Keras's chain of pairwise
    ``maximum``s sends the gradient (PyTorch's ``torch.maximum`` splits a tie's gradient
    between the two instead)."""

    better = None

    def forward(self, xs, training=False):
        y = xs[0].copy()
        winner = np.zeros(y.shape, np.min_scalar_type(len(xs) - 1))
        for i, x in enumerate(xs[1:], 1):
            wins = self.better(x, y)  # strictly: a tie stays with the earlier input
            np.copyto(y, x, where=wins)
            np.copyto(winner, i, where=wins)

        def backward(dy):
            """``dx_i = dy`` where input ``i`` gave the output (the first of equal inputs), else 0."""
            if not self.compute_input_gradient:
                return self._none(xs)
            return [dy * (winner == i) for i in range(len(xs))]

        return y, backward


class Maximum(_Extremum):
    """``y = max(x_1, ..., x_n)`` elementwise; ``dx_i = dy`` where ``x_i`` is the maximum (the
    first of equal ones), else 0."""

    better = np.greater


class Minimum(_Extremum):
    """``y = min(x_1, ..., x_n)`` elementwise; ``dx_i = dy`` where ``x_i`` is the minimum (the
    first of equal ones), else 0."""

    better = np.less


class Concatenate(Merge):
    """The inputs side by side along ``axis`` (Keras's default -1, the last): shapes that agree on
    every other axis. ``axis`` counts the batch axis as Keras does (1 is the first axis of an
    example, -1 the last), and cannot be the batch axis."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ConfigurationError(f"Concatenate axis must be an integer, got {axis!r}")
        self.axis = int(axis)

    def example_axis(self, rank):
        """``axis`` as an axis of one example (0 .. rank - 1) for inputs of ``rank`` axes
        (without the batch axis); a ConfigurationError if it names none."""
        if not (1 <= self.axis <= rank or -rank <= self.axis <= -1):
            raise ConfigurationError(f"Concatenate layer {self.name!r}: axis must name an axis of the examples "
                                     f"(1 to {rank}, or -{rank} to -1) for inputs of rank {rank + 1}, got {self.axis}")
        return self.axis - 1 if self.axis > 0 else self.axis + rank

    def merged_shape(self, shapes):
        """The shapes agree but on ``axis``, where the output has their sum."""
        what = f"Concatenate layer {self.name!r}"
        first = shapes[0]
        for shape in shapes[1:]:
            if len(shape) != len(first):
                raise ShapeError(f"{what} needs inputs of one rank, got {_text(first)} and {_text(shape)}")
        axis = self.example_axis(len(first))
        for shape in shapes[1:]:
            if shape[:axis] + shape[axis + 1:] != first[:axis] + first[axis + 1:]:
                raise ShapeError(f"{what} needs inputs whose shapes agree on every axis but axis {self.axis}, "
                                 f"got {_text(first)} and {_text(shape)}")
        return first[:axis] + (sum(shape[axis] for shape in shapes),) + first[axis + 1:]

    def forward(self, xs, training=False):
        axis = self.axis  # counted as NumPy counts, the batch axis being 0
        sizes = [x.shape[axis] for x in xs]

        def backward(dy):
            """Each input's slice of ``dy`` along ``axis`` (views, never written)."""
            if not self.compute_input_gradient:
                return self._none(xs)
            return np.split(dy, np.cumsum(sizes)[:-1], axis=axis)

        return np.concatenate(xs, axis=axis), backward

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
