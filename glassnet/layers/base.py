"""The Layer: parameters, a forward pass, and a backward pass written as a closure.

``forward(x, training)`` returns ``(y, backward)``. ``backward(dy)`` maps the gradient of the loss
with respect to ``y`` to the gradient with respect to ``x``, and on the way *stores* the gradients
of the layer's parameters in their ``grad`` (the gradient of this batch; it replaces the last one).
The closure sees exactly the arrays the forward saw, so the layer keeps no cache that could go
stale:

    def forward(self, x, training=False):
        y = f(x)
        def backward(dy):
            self.weight.grad[...] = ...   # dL/dW by the chain rule
            return dy * f'(x)          # dL/dx
        return y, backward

A layer is built lazily: ``build(input_shape, rng, dtype)`` runs on the first input and creates
the parameters, so ``Dense(64)`` needs no input size. Shapes here never include the batch axis.

``compute_input_gradient`` is True unless the layer's input is the data itself: a model sets it
to False on its first layer, whose ``dx`` nobody needs (for a first Dense layer that saves the
largest matrix product of the backward pass), and that layer's backward then returns None.
"""
import numpy as np

from .. import checks
from ..errors import ConfigurationError
from ..parameter import Parameter


class Layer:
    """Base class of all layers. Subclasses override ``build``, ``forward`` and ``get_config``."""

    # The activation that ends this layer (a Softmax or Sigmoid the loss may fuse), if any.
    output_activation = None
    # Whether backward returns dL/dx; see the module docstring.
    compute_input_gradient = True

    def __init__(self, name=None, input_shape=None):
        if name is not None and not isinstance(name, str):
            raise ConfigurationError(f"layer name must be a string, got {name!r}")
        self.name = name or type(self).__name__.lower()
        self.input_shape = None if input_shape is None else checks.shape("input_shape", input_shape)
        self.built = False
        self.rng = None
        self.dtype = None
        self._parameters = []

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

    def add_parameter(self, name, value, regularizer=None):
        """Register a parameter named ``<layer name>.<name>`` and return it."""
        parameter = Parameter(f"{self.name}.{name}", value, regularizer)
        self._parameters.append(parameter)
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
        """Run the forward pass alone and return the output. An unbuilt layer is built on first
        use with a fresh, unseeded generator; for reproducible weights build it yourself first:
        ``layer.ensure_built(shape, np.random.default_rng(seed), dtype)``."""
        x = checks.numeric_array("x", x)
        dtype = self.dtype if self.built else x.dtype if x.dtype in (np.float32, np.float64) else np.float32
        x = checks.model_inputs(x, dtype, self.input_shape)
        if not self.built:
            self.ensure_built(x.shape[1:], np.random.default_rng(), dtype)
        return self.forward(x, training)[0]

    # -- configuration ---------------------------------------------------------------------------
    def get_config(self):
        """The constructor arguments, as JSON-compatible values; ``from_config`` inverts it."""
        config = {"name": self.name}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"
