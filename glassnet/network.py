"""What every glassnet model is, whatever its layers' wiring: ``Sequential`` (a stack) and the
graph ``Model`` (layers called on symbolic tensors) are both a ``Network``.

A network owns the random generator (seeded by ``seed``: the same seed gives bit-identical weights
and training on one machine), its layers, the flat parameter and gradient buffers, the optimizer,
the loss and the metrics. Here is what does not depend on the wiring: the parameters and
weights, ``fit``/``evaluate``/``predict`` (which delegate to ``training.py``, the one loop),
model files, the summary and the ONNX export. A subclass says how the layers are wired: it
builds them (``build``, ``parameter_shapes``), runs them (``forward``: the outputs and one
backward closure), checks what comes in (``prepare_inputs``, ``prepare_targets``), compiles the
loss of its outputs (``head_loss``) and describes itself as JSON (``get_config``/``from_config``).
"""
import numpy as np

from . import checks, model_fields, saving, training
from .callbacks.base import History
from .errors import ConfigurationError, GlassnetError, ModelFileError, NotBuiltError, NotCompiledError, ShapeError, StateError
from .io import model_file, schema
from .parameter import FlatParameters

# The Network subclasses by the name a model file's architecture gives (model_fields.kind).
KINDS = {}


class Network:
    """The base class of ``Sequential`` and ``Model``; see the module docstring."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        KINDS[cls.__name__] = cls

    def __init__(self, name, seed, dtype):
        if not isinstance(name, str):
            raise ConfigurationError(f"name must be a string, got {name!r}")
        self.name = name
        self.seed = checks.seed("seed", seed)
        self.rng = np.random.default_rng(seed)
        self.dtype = checks.float_dtype("dtype", dtype)
        self.layers = []
        self.built = False
        self.params = None
        self.optimizer = self.loss = self.head_loss = None
        self.metrics = []
        self._fused = False
        self._metric_specs = []
        self.history = None
        # JSON-compatible extras a model file keeps: the preprocessing of a table (command line)
        # and anything else the user or a wrapper (scikit-learn estimator) wants kept with it.
        self.preprocessing = None
        self.metadata = {}
        self.stop_training = False
        self._layer_names = set()
        self._next_suffix = {}  # name -> the first suffix not yet tried

    # -- structure -------------------------------------------------------------------------------
    def _name_uniquely(self, layer):
        """Give ``layer`` a name no other layer of this model has (``dense``, ``dense_1``, ...)."""
        if layer.name in self._layer_names:
            base, i = layer.name, self._next_suffix.get(layer.name, 1)
            while f"{base}_{i}" in self._layer_names:
                i += 1
            self._next_suffix[base] = i + 1  # so n layers of one name take linear time
            layer.name = f"{base}_{i}"
        self._layer_names.add(layer.name)

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    @property
    def regularized_parameters(self):
        """The trainable parameters with a regularizer: their penalties count in the loss."""
        return self.params.penalized

    def count_params(self):
        return sum(p.size for p in self.parameters())

    def get_layer(self, name=None, index=None):
        """The layer called ``name``, or at ``index`` in ``layers`` (Keras's ``get_layer``)."""
        if (name is None) == (index is None):
            raise ConfigurationError(f"get_layer takes a layer name or an index, not both or neither; "
                                     f"got name={name!r}, index={index!r}")
        if index is not None:
            if checks.nonnegative_int("index", index) >= len(self.layers):
                raise ConfigurationError(f"no layer at index {index}: the model has {len(self.layers)} layers")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ConfigurationError(f"no layer named {name!r}; the layers are {[layer.name for layer in self.layers]}")

    def require_compiled(self, what):
        if self.optimizer is None:
            raise NotCompiledError(f"call model.compile(optimizer=..., loss=...) before {what}()")

    # -- forward ---------------------------------------------------------------------------------
    def forward_head(self, x, training=False):
        """The forward whose outputs the loss sees: logits when the loss fuses the final
        softmax/sigmoid (see ``compile``), else the same as ``forward``."""
        return self.forward(x, training, logits=self._fused)

    def __call__(self, x, training=False):
        x = self.prepare_inputs(x)
        return self.forward(x, training)[0]

    def prepare_targets(self, y):
        """``y`` checked (finite in the model's dtype) and as the loss of the output needs it."""
        return self.head_loss.check_targets(checks.finite_array("y", y, within=self.dtype), self.output_shape)

    # -- Keras-style training API ----------------------------------------------------------------
    def fit(self, x, y=None, batch_size=32, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, distributed="auto"):
        """Train for ``epochs`` passes over ``(x, y)``, or over a ``glassnet.datasets.Dataset``
        ``x`` read batch by batch (``y`` left out); returns a ``History``.

        ``batch_size=1`` is stochastic gradient descent one example at a time, ``batch_size=None``
        (or ``len(x)``) full-batch gradient descent, anything between mini-batch descent.
        ``validation_split`` holds out the *last* fraction of the data (before shuffling);
        ``validation_data=(x_val, y_val)`` (or a ``Dataset``) gives a validation set. ``verbose``: 0 silent, 1 a
        progress bar, 2 one line per epoch. ``sample_weight`` weighs examples and
        ``class_weight={class: weight}`` classes in the loss (``"balanced"``: ``n / (k * n_c)``,
        scikit-learn's formula, so that every class weighs the same).

        Started by an MPI launcher (``mpirun -n 4 python train.py``), every process trains its
        share of each batch and the gradients are summed (``docs/distributed.md``): with
        ``distributed="auto"`` each process passes the same data, with ``"shards"`` its own rows;
        ``False`` trains on this process alone. Without a launcher, or with one process, the
        argument changes nothing.
        """
        return training.fit(self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                            callbacks=callbacks, validation_split=validation_split,
                            validation_data=validation_data, shuffle=shuffle,
                            class_weight=class_weight, sample_weight=sample_weight,
                            initial_epoch=initial_epoch, distributed=distributed)

    def evaluate(self, x, y=None, batch_size=None, verbose="auto", sample_weight=None, return_dict=False):
        """Loss and metrics on ``(x, y)`` or on a ``Dataset`` ``x``: a float without metrics, else
        ``[loss, *metrics]`` (or a dict with ``return_dict=True``). The loss includes the L1/L2 penalties."""
        self.require_compiled("evaluate")
        batch_size = checks.positive_int("batch_size", batch_size, allow_none=True) or training.INFERENCE_BATCH_SIZE
        verbose = checks.verbosity(verbose)
        logs = training.evaluate(self, x, y, sample_weight, batch_size)
        if verbose and verbose != "auto":
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def predict(self, x, batch_size=None, verbose=0):
        """The outputs for ``x`` (probabilities for a softmax/sigmoid model), in batches."""
        batch_size = checks.positive_int("batch_size", batch_size, allow_none=True) or training.INFERENCE_BATCH_SIZE
        checks.verbosity(verbose)
        return training.predict_arrays(self, self.prepare_inputs(x), batch_size)

    # -- weights ---------------------------------------------------------------
    def __setstate__(self, state):
        """Unpickling (joblib, multiprocessing) copies every array, so the parameters are no longer
        views into the flat buffers: pack them again, in the same layout the optimizer state has."""
        self.__dict__.update(state)
        if self.built:
            self.params = FlatParameters(self.params.parameters, self.dtype)
            if self.optimizer is not None:
                self.optimizer.params = self.params

    def get_weights(self):
        """Copies of every parameter array, in layer order (weight, then bias)."""
        self.build_if_shape_known()
        return [p.value.copy() for p in self.parameters()]

    def set_weights(self, weights):
        """Set every parameter from a list like ``get_weights()`` (shapes checked)."""
        self.build_if_shape_known()
        params = self.parameters()
        if len(weights) != len(params):
            raise StateError(f"set_weights expects {len(params)} arrays, got {len(weights)}")
        for p, w in zip(params, weights):
            if np.shape(w) != p.shape:
                raise ShapeError(f"weights for {p.name} must have shape {p.shape}, got {np.shape(w)}")
        for p, w in zip(params, weights):
            p.value[...] = w

    # -- model files -----------------------------------------------------------------------------
    def save(self, path, include_optimizer=False, overwrite=True):
        """Write the model to one safetensors file (``glassnet.load`` reads
        it back): the architecture, weights, compile settings, history, preprocessing and
        metadata; with ``include_optimizer=True`` also the optimizer state and the random
        generator state, so that training can continue exactly. The file is written to a
        temporary name and renamed (``docs/model-files.md``)."""
        tensors, fields = self.to_tensors(include_optimizer)
        model_file.write(path, tensors, fields, overwrite)

    def to_tensors(self, include_optimizer=False):
        """``(tensors, fields)``: the model as named arrays and JSON fields, what a model file holds."""
        self.build_if_shape_known()
        if not self.built:
            raise NotBuiltError("the model has no weights yet: build it (or fit it) before saving")
        model_fields.check_layers(self.layers)
        tensors = {f"params/{p.name}": p.value for p in self.parameters()}
        fields = {"model": self.get_config(), "compile": self.get_compile_config(),
                  "history": model_fields.history_fields(self.history), "preprocessing": self.preprocessing,
                  "metadata": self.metadata or None, "training_state": None}
        if include_optimizer:
            self.require_compiled("save with include_optimizer=True (there is no optimizer state) before")
            state = self.optimizer.state_dict()
            for name, slots in state["state"].items():
                for slot, array in slots.items():
                    tensors[f"optimizer/{slot}/{name}"] = array
            fields["training_state"] = {
                "optimizer": {"class_name": state["class_name"], "iterations": state["iterations"],
                              "learning_rate": state["learning_rate"]},
                "rng": self.rng.bit_generator.state}
        return tensors, fields

    @classmethod
    def load(cls, path, custom_objects=None):
        """A new model from a model file (``save``), a ``Sequential`` or a graph ``Model`` as the
        file says (``Sequential.load`` refuses a graph model's file): architecture, weights, compile settings,
        history, preprocessing and metadata, and the optimizer and random generator state when
        the file has them. Anything wrong with the file raises ``ModelFileError``.
        ``custom_objects`` (``{"package>Name": class or function}``) resolves the file's names of
        your own objects besides those registered with ``gn.saving.register``."""
        with saving.custom_object_scope({} if custom_objects is None else custom_objects):
            return cls.from_file(model_file.read(path))

    @classmethod
    def from_file(cls, file):
        """The model a checked ``io.model_file.ModelFile`` describes. The parameter shapes the
        architecture asks for are compared with the tensors the file actually stores before
        anything is built, so a small file cannot make this allocate more than it holds. Every
        field is checked here, once (``io.schema``): what loads, predicts, trains and exports."""
        if not isinstance(file.fields.get("model"), dict):
            raise ModelFileError(f"{file.path} has no architecture (metadata field 'model')")
        kind = KINDS[model_fields.kind(file.fields["model"])]
        if not issubclass(kind, cls):
            raise ModelFileError(f"{file.path} holds a {kind.__name__}, not a {cls.__name__}: load it with gn.load")
        try:
            config = model_fields.architecture(file.fields["model"])
            model = kind.from_config(config, build=False)
            model_fields.check_stored_shapes(model.parameter_shapes(), model.dtype, file.group("params"))
            model.build()
            if file.fields.get("compile") is not None:
                model.compile_from_config(model_fields.compile_settings(file.fields["compile"]))
        except (GlassnetError, TypeError, KeyError, ValueError, AttributeError, OverflowError) as error:
            raise ModelFileError(f"{file.path}: the architecture or compile settings are not valid: "
                                 f"{schema.described(error)}") from None
        model._take_state(file)  # its architecture and weights' shapes were just checked
        return model

    def load_state(self, file):
        """Take the weights, history, preprocessing, metadata and (if the file has it) the
        optimizer and random generator state from ``file``, whose architecture must be this
        model's, and which layers are frozen (``trainable``: a backup written after a callback
        froze a layer resumes with it frozen). A live History (during ``fit``) is filled in
        place. Everything is checked before anything of the model changes."""
        config, own = file.fields.get("model"), self.get_config()
        trainable = model_fields.trainable_flags(config.get("layers") if isinstance(config, dict) else None,
                                                 own["layers"])
        if trainable is None or any(config.get(key) != own.get(key) for key in model_fields.WIRING):
            raise ModelFileError(f"{file.path} holds a different architecture from this model's")
        try:
            model_fields.check_stored_shapes({p.name: p.shape for p in self.parameters()}, self.dtype, file.group("params"))
        except ModelFileError as error:
            raise ModelFileError(f"{file.path}: {error}") from None
        self._take_state(file)
        for layer, flag in zip(self.layers, trainable):
            layer.trainable = flag

    def _take_state(self, file):
        """``load_state`` once the architecture and the weights' shapes are known to match."""
        try:
            history = model_fields.history(file.fields.get("history"))
            metadata = schema.mapping("metadata", file.fields.get("metadata", {}))
            state = file.fields.get("training_state")
            if state is not None:
                self._load_training_state(file, state)
        except (GlassnetError, TypeError, KeyError, ValueError, AttributeError, OverflowError) as error:
            raise ModelFileError(f"{file.path}: the history or training state is not valid: {schema.described(error)}") from None
        saved = file.group("params")
        for p in self.parameters():
            p.value[...] = saved[p.name]
        self.preprocessing = file.fields.get("preprocessing")
        self.metadata = metadata
        if history is not None:
            self.history = self.history or History()
            self.history.epoch, self.history.history = history

    def _load_training_state(self, file, state):
        """The optimizer state (its slots from the ``optimizer/<slot>/<parameter>`` tensors) and
        the random generator's, checked, then set."""
        schema.fields("training_state", state, ("optimizer", "rng"), ("position", "callbacks"))
        if self.optimizer is None:
            raise ModelFileError("it has optimizer state but no compile settings")
        saved = schema.fields("training_state.optimizer", state["optimizer"],
                              ("class_name", "iterations", "learning_rate"))
        rng = schema.generator_state("training_state.rng", state["rng"], self.rng.bit_generator)
        slots = {p.name: {} for p in self.parameters()}
        for name, array in file.group("optimizer").items():
            slot, _, parameter = name.partition("/")
            slots.setdefault(parameter, {})[slot] = array
        self.optimizer.load_state_dict({**saved, "state": slots})
        self.rng.bit_generator.state = rng

    def summary(self, print_fn=print):
        """Print a table of the layers, their output shapes and parameter counts."""
        from .summary import summary_lines
        for line in summary_lines(self):
            print_fn(line)

    def to_onnx(self, path, opset=None, dtype=None):
        """Export the inference forward to the ONNX file ``path`` and return its
        ``onnx.ModelProto``; see ``glassnet.onnx.export`` (needs the ``[onnx]`` extra)."""
        from . import onnx
        return onnx.export(self, path, opset=opset or onnx.DEFAULT_OPSET, dtype=dtype)


