"""The Layer: parameters, a forward pass, and a backward pass written as a closure.

``forward(x, training)`` returns ``(y, backward)``. ``backward(dy)`` maps the gradient of the loss
with respect to ``y`` to the gradient with respect to ``x``, and on the way *stores* the gradients
of the layer's parameters in their ``grad`` (the gradient of this batch; it replaces the last one).
The closure sees exactly the arrays the forward saw, so the layer keeps no cache that could go
stale. A backward never writes into ``dy``: in a graph model one gradient array may be handed to
several layers (an ``Add`` passes its ``dy`` to both its inputs).

    def forward(self, x, training=False):
        y = f(x)
        def backward(dy):
            self.weight.grad[...] = ...   # dL/dW by the chain rule
            return dy * f'(x)          # dL/dx
        return y, backward

A layer is built lazily: ``build(input_shape, rng, dtype)`` runs on the first input and creates
the parameters, so ``Dense(64)`` needs no input size. Shapes here never include the batch axis.

``trainable = False`` freezes the layer: its parameters keep their values while the rest of the
model trains (the gradient still flows through it to the layers before), from the next optimizer
step on, and ``True`` unfreezes it. A parameter made with ``add_parameter(..., trainable=False)``
is state the layer updates itself (a moving average), never the optimizer, whatever the layer's
``trainable`` says.

``compute_input_gradient`` is True unless the layer's input is the data itself: a model sets it
to False on its first layer, whose ``dx`` nobody needs (for a first Dense layer that saves the
largest matrix product of the backward pass), and that layer's backward then returns None.
"""
import numpy as np

from .. import checks, graph
from ..errors import ConfigurationError
from ..parameter import Parameter


class Layer:
    """Base class of all layers. Subclasses override ``build``, ``forward`` and ``get_config``."""

    # The activation that ends this layer (a Softmax or Sigmoid the loss may fuse), if any.
    output_activation = None
    # Whether backward returns dL/dx; see the module docstring.
    compute_input_gradient = True
    # None for a layer of numbers; for one that takes integer ids (Embedding), how many there are:
    # a model whose first layer it is keeps its inputs as integers, checked to be in [0, id_count).
    id_count = None
    # Whether the layer deals its work to glassnet's threads (a convolution's slices, a pooling's
    # examples): a network with one trains and predicts inside ``threads.splitting``.
    splits_work = False

    def __init__(self, name=None, input_shape=None, trainable=True):
        if name is not None and not isinstance(name, str):
            raise ConfigurationError(f"layer name must be a string, got {name!r}")
        self.name = name or type(self).__name__.lower()
        self.input_shape = None if input_shape is None else checks.shape("input_shape", input_shape)
        self._trainable = checks.boolean("trainable", trainable)
        self.built = False
        self.rng = None
        self.dtype = None
        self._parameters = []
        self._state_parameters = []  # made with trainable=False: never trained, whatever self.trainable

    @property
    def trainable(self):
        """Whether the optimizer updates this layer's parameters; see the module docstring."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = checks.boolean("trainable", value)
        for parameter in self._parameters:
            if parameter not in self._state_parameters:
                parameter.trainable = self._trainable

    # -- building -------------------------------------------------------------------------------
    def ensure_built(self, input_shape, rng, dtype=np.float32):
        """Build the layer for inputs of shape ``input_shape`` (no batch axis), once."""
        if self.built:
            return
        self.input_shape = checks.shape("input_shape", input_shape)
        self.rng = rng
        self.dtype = np.dtype(dtype)
        self.build(self.input_shape, rng, self.dtype)
        self.built = True

    def build(self, input_shape, rng, dtype):
        """Create the parameters with ``self.add_parameter``; layers without any need nothing."""

    def parameter_shapes(self, input_shape):
        """``{name: shape}`` of the parameters ``build`` would create for ``input_shape``, worked
        out without allocating anything: a model file's stored tensors are compared with these
        before a model is built from it. Layers with parameters override it."""
        return {}

    def add_parameter(self, name, value, regularizer=None, trainable=True):
        """Register a parameter named ``<layer name>.<name>`` and return it. ``trainable=False``:
        state the layer updates itself in ``forward``, which no optimizer step ever changes."""
        trainable = checks.boolean("trainable", trainable)
        parameter = Parameter(f"{self.name}.{name}", value, regularizer, trainable and self._trainable)
        self._parameters.append(parameter)
        if not trainable:
            self._state_parameters.append(parameter)
        return parameter

    def parameters(self):
        return list(self._parameters)

    def count_params(self):
        return sum(p.size for p in self._parameters)

    def compute_output_shape(self, input_shape):
        """The output shape (no batch axis) for inputs of ``input_shape``; same shape by default."""
        return tuple(input_shape)

    # -- running ---------------------------------------------------------------------------------
    def forward(self, x, training=False):
        """Return ``(y, backward)``; see the module docstring."""
        raise NotImplementedError

    def forward_logits(self, x, training=False):
        """The forward without ``output_activation``, so a loss can fuse it (see ``losses``)."""
        raise NotImplementedError(f"{type(self).__name__} has no output activation to leave out")

    def __call__(self, x, training=False):
        """On a symbolic tensor (``gn.Input`` and what layers made from it), or a list of them,
        record the call for a graph model (``glassnet.graph``) and return the symbolic output.
        On data, run the forward pass alone and return the output. An unbuilt layer is built on first
        use with a fresh, unseeded generator; for reproducible weights build it yourself first:
        ``layer.ensure_built(shape, np.random.default_rng(seed), dtype)``."""
        if graph.is_symbolic(x):  # building a graph model: record the call, compute nothing
            return graph.call(self, x)
        x = checks.numeric_array("x", x)
        dtype = self.dtype if self.built else x.dtype if x.dtype in (np.float32, np.float64) else np.float32
        x = checks.model_inputs(x, dtype, self.input_shape, self.id_count)
        if not self.built:
            self.ensure_built(x.shape[1:], np.random.default_rng(), dtype)
        return self.forward(x, training)[0]

    # -- configuration ---------------------------------------------------------------------------
    def get_config(self):
        """The constructor arguments, as JSON-compatible values; ``from_config`` inverts it."""
        config = {"name": self.name}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        if not self._trainable:
            config["trainable"] = False
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"
