"""Dense: the fully connected layer, ``z = x @ W + b`` followed by an optional activation."""
import numpy as np

from .. import checks, initializers, regularizers, threads
from ..errors import ConfigurationError
from . import activations
from .base import Layer


class Dense(Layer):
    """A fully connected layer of ``units`` neurons.

    Forward, for a batch ``x`` of shape (batch, fan_in):

        z = x @ W + b          W: (fan_in, units), b: (units,)
        y = activation(z)

    Backward, by the chain rule, given ``dy = dL/dy``:

        dz = activation backward of dy
        dW = x.T @ dz          (each weight's gradient sums over the batch)
        db = dz.sum(axis=0)
        dx = dz @ W.T          (what the layer before receives; skipped for a model's first layer)
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = checks.positive_int("Dense units", units)
        self.activation = activations.get(activation)
        if isinstance(self.activation, activations.Linear):
            self.activation = None
        # z = x @ W + b is this layer's own array, so an Activation may compute over it (see
        # Activation); any other layer given as the activation is called as a plain layer
        takes_in_place = isinstance(self.activation, activations.Activation)
        self._activation_options = {"in_place": True} if takes_in_place else {}
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.weight = self.bias = None

    def parameter_shapes(self, input_shape):
        """``weight``: (fan_in, units); ``bias``: (units,)."""
        if len(input_shape) != 1:
            raise ConfigurationError(
                f"layer {self.name!r} (Dense) expects inputs of shape (batch, features), got "
                f"(batch, {', '.join(map(str, input_shape))}); put a Flatten layer before it")
        shapes = {"weight": (input_shape[0], self.units)}
        if self.use_bias:
            shapes["bias"] = (self.units,)
        return shapes

    def build(self, input_shape, rng, dtype):
        shapes = self.parameter_shapes(input_shape)
        self.weight = self.add_parameter(
            "weight", self.kernel_initializer(shapes["weight"], rng, dtype), self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_parameter(
                "bias", self.bias_initializer(shapes["bias"], rng, dtype), self.bias_regularizer)
        if self.activation is not None:
            self.activation.ensure_built((self.units,), rng, dtype)

    def compute_output_shape(self, input_shape):
        return (self.units,)

    @property
    def output_activation(self):
        return None if self.activation is None else self.activation.output_activation

    def forward_logits(self, x, training=False):
        """``z = x @ W + b`` and its backward (no activation)."""
        weight = self.weight.value
        # NumPy's product; inside a convolutional network, its rows dealt to glassnet's threads
        matmul = threads.matmul if threads.SPLITTING else np.matmul
        z = matmul(x, weight)
        if self.bias is not None:
            z += self.bias.value

        def backward(dz):
            matmul(x.T, dz, out=self.weight.grad)
            if self.bias is not None:
                np.add.reduce(dz, axis=0, out=self.bias.grad)  # the sum over the batch
            return matmul(dz, weight.T) if self.compute_input_gradient else None

        return z, backward

    def forward(self, x, training=False):
        z, backward_affine = self.forward_logits(x, training)
        if self.activation is None:
            return z, backward_affine
        y, backward_activation = self.activation.forward(z, training, **self._activation_options)
        return y, lambda dy: backward_affine(backward_activation(dy))

    def get_config(self):
        return {**super().get_config(), "units": self.units, **affine_config(self)}


def affine_config(layer):
    """The settings a layer of ``z = x·W + b`` then an activation has (Dense, the convolutions):
    its activation, ``use_bias``, initializers and regularizers, as in a model file."""
    return {"activation": None if layer.activation is None else activations.serialize(layer.activation),
            "use_bias": layer.use_bias,
            "kernel_initializer": initializers.name_of(layer.kernel_initializer),
            "bias_initializer": initializers.name_of(layer.bias_initializer),
            "kernel_regularizer": regularizers.serialize(layer.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(layer.bias_regularizer)}
