"""Sequential: a stack of layers, run forward in order and backward in reverse.

    model = gn.Sequential([gn.layers.Dense(64, activation="relu"), gn.layers.Dense(10)], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=5)

A ``Network`` (``network.py``: weights, fit, files) whose layers are a chain: one input, one
output, each layer reading the last one's output. It learns its input shape from the first data
it sees when no ``Input`` declares it. Training itself is in ``training.py``.
"""
import math

from . import layers as layers_module
from . import checks, losses, metrics as metrics_module, optimizers, serialization
from .errors import ConfigurationError, NotBuiltError
from . import model_fields
from .layers import Input, Layer
from .network import Network
from .parameter import FlatParameters


class Sequential(Network):
    """A linear stack of layers. ``layers`` may start with ``gn.layers.Input(shape)``."""

    def __init__(self, layers=None, seed=None, name="sequential", dtype="float32"):
        super().__init__(name, seed, dtype)
        if layers is not None and not isinstance(layers, (list, tuple)):
            raise ConfigurationError(f"layers must be a list of layers, got {type(layers).__name__}")
        self.input_shape = None
        for layer in layers or []:
            self.add(layer)

    # -- structure -------------------------------------------------------------------------------
    def add(self, layer):
        """Append a layer (or, first, an ``Input``)."""
        if self.built:
            raise ConfigurationError("cannot add layers to a model that is already built")
        if isinstance(layer, Input):
            if self.layers or self.input_shape is not None:
                raise ConfigurationError("Input must be the first entry of a Sequential")
            self.input_shape = layer.shape
            return
        if not isinstance(layer, Layer):
            raise ConfigurationError(f"Sequential takes Layer instances, got {type(layer).__name__} {layer!r}")
        if self.layers and layer.id_count is not None:
            raise ConfigurationError(
                f"layer {len(self.layers)} ({layer.name!r}, {type(layer).__name__}) takes integer ids, so it must be "
                f"the first layer of a Sequential: here it would read the numbers layer {self.layers[-1].name!r} "
                "computes; give the ids their own gn.Input(shape, dtype='int64') in a gn.Model")
        if not self.layers and self.input_shape is None and layer.input_shape is not None:
            self.input_shape = layer.input_shape
        self._name_uniquely(layer)
        self.layers.append(layer)

    def build(self, input_shape=None):
        """Create every layer's parameters for inputs of ``input_shape`` (no batch axis) and pack
        them into the flat buffers. ``fit``/``predict`` call it on the first data they see."""
        if self.built:
            return
        if input_shape is None:
            input_shape = self.input_shape
        if input_shape is None:
            raise NotBuiltError("the model does not know its input shape yet: start it with "
                                "gn.layers.Input(shape), pass input_shape= to the first layer, or call fit/predict")
        if not self.layers:
            raise ConfigurationError("the model has no layers")
        self.input_shape = checks.shape("input_shape", input_shape)
        size = sum(math.prod(shape) for shape in self.parameter_shapes().values())
        checks.affordable(f"a model of {size:,} parameters", size * self.dtype.itemsize * checks.PARAMETER_COPIES)
        shape = self.input_shape
        self._output_shapes = []
        for layer in self.layers:
            layer.ensure_built(shape, self.rng, self.dtype)
            shape = tuple(layer.compute_output_shape(shape))
            self._output_shapes.append(shape)
        self.layers[0].compute_input_gradient = False
        self.params = FlatParameters(self.parameters(), self.dtype)
        self.built = True
        if self.optimizer is not None:
            self.optimizer.build(self.params)

    def parameter_shapes(self, input_shape=None):
        """``{parameter name: shape}`` of the whole model for inputs of ``input_shape`` (the
        declared one by default), worked out layer by layer without allocating anything."""
        shape = tuple(self.input_shape if input_shape is None else input_shape)
        shapes = {}
        for layer in self.layers:
            for name, parameter_shape in layer.parameter_shapes(shape).items():
                shapes[f"{layer.name}.{name}"] = tuple(parameter_shape)
            shape = tuple(layer.compute_output_shape(shape))
        return shapes

    def build_if_shape_known(self):
        """Build now if the input shape was declared (``Input`` or ``input_shape=``)."""
        if not self.built and self.input_shape is not None and self.layers:
            self.build()

    @property
    def output_shape(self):
        if not self.built:
            raise NotBuiltError("the model is not built yet, so its output shape is unknown")
        return self._output_shapes[-1]

    # -- compile ---------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Choose the optimizer, the loss and the metrics (names or objects, as in Keras).

        When the last layer ends in softmax (sigmoid) and the loss is a categorical (binary)
        cross-entropy on probabilities, the model trains on the logits with the fused, stable
        loss; ``predict`` still returns probabilities.
        """
        if loss is None:
            raise ConfigurationError("compile needs a loss, e.g. loss='sparse_categorical_crossentropy' or 'mse'")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        self.build_if_shape_known()
        activation = self.layers[-1].output_activation if self.layers else None
        fused = self.loss.fused_with(activation)
        self.head_loss = fused or self.loss
        self._fused = fused is not None
        on_logits = self._fused or getattr(self.loss, "from_logits", False)
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise ConfigurationError(f"metrics must be a list such as ['accuracy'], got {metrics!r}")
        self.metrics = [metrics_module.get(m, self.loss, activation if self._fused else None, on_logits)
                        for m in metrics or []]
        names = [metric.name for metric in self.metrics]
        twice = next((name for name in names if names.count(name) > 1), None)
        if twice is not None:
            raise ConfigurationError(f"two metrics are named {twice!r}; the logs and the history need one "
                                     "name each (name a metric function differently)")
        self._metric_specs = list(metrics or [])
        if self.built:
            self.optimizer.build(self.params)

    def get_compile_config(self):
        """The compile settings as JSON (what a model file stores), or None before ``compile``;
        a ConfigurationError names an object that a file could not store."""
        if self.optimizer is None:
            return None
        model_fields.check_compiled(self.loss, self._metric_specs, self.optimizer)
        return {"optimizer": serialization.serialize(self.optimizer),
                "loss": serialization.serialize(self.loss), "metrics": model_fields.metric_specs(self._metric_specs)}

    def compile_from_config(self, config):
        """``compile`` with the settings of ``get_compile_config()`` (a fresh optimizer)."""
        self.compile(optimizer=optimizers.deserialize(config["optimizer"]),
                     loss=losses.deserialize(config["loss"]), metrics=config["metrics"])

    # -- forward and backward --------------------------------------------------------------------
    def forward(self, x, training=False, logits=False):
        """Run every layer; return the outputs and ``backward(d_outputs)``, which stores every
        parameter's gradient. It returns None rather than the gradient with respect to ``x``:
        training never needs it, so the first layer skips it (``Layer.compute_input_gradient``).
        With ``logits=True`` the last layer leaves out its output activation."""
        backwards = []
        *hidden, last = self.layers
        for layer in hidden:
            x, backward = layer.forward(x, training)
            backwards.append(backward)
        x, backward = (last.forward_logits if logits else last.forward)(x, training)
        backwards.append(backward)
        return x, _chain(backwards)

    def prepare_inputs(self, x):
        """``x`` checked (numeric, finite, the declared or built input shape) and in the model's
        dtype, or integer ids if the first layer takes them (``Layer.id_count``); builds the
        model on first use."""
        x = checks.model_inputs(x, self.dtype, self.input_shape, self.layers[0].id_count if self.layers else None)
        if not self.built:
            self.build(x.shape[1:])
        return x

    # -- configuration ---------------------------------------------------------------------------
    def get_config(self):
        return {"name": self.name, "seed": self.seed, "dtype": self.dtype.name,
                "input_shape": None if self.input_shape is None else list(self.input_shape),
                "layers": [layers_module.serialize(layer) for layer in self.layers]}

    @classmethod
    def from_config(cls, config, build=True):
        """A new, untrained model with the same architecture (built if the input shape is known
        and ``build``)."""
        model = cls([layers_module.deserialize(spec) for spec in config["layers"]],
                    seed=config.get("seed"), name=config.get("name", "sequential"),
                    dtype=config.get("dtype", "float32"))
        if config.get("input_shape") is not None:
            model.input_shape = tuple(config["input_shape"])
            if build:
                model.build()
        return model


def _chain(backwards):
    """One backward for a stack of layers: each layer's backward, last layer first."""
    def backward(d_outputs):
        for layer_backward in reversed(backwards):
            d_outputs = layer_backward(d_outputs)
        return d_outputs
    return backward
