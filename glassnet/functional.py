"""Model: a network of layers wired as a graph (Keras's functional API).

    numeric = gn.Input((12,), name="numeric")
    x = gn.layers.Dense(64, activation="relu")(numeric)
    h = gn.layers.Dense(64, activation="relu")(x)
    x = gn.layers.Add()([x, h])                       # a residual connection
    price = gn.layers.Dense(1, name="price")(x)
    model = gn.Model(inputs=numeric, outputs=price, seed=0)

Calling layers on ``Input``s records nodes (``graph.py``); ``Model(inputs, outputs)`` sorts the
nodes the outputs need so that each comes after those it reads (``graph.sorted_nodes``) and
builds every layer with the model's generator. ``forward`` runs the nodes in that order, keeping
a table of the arrays each symbolic tensor stands for and each node's backward closure;
``backward`` runs the closures in reverse order and *adds up* the gradients that arrive at a
tensor read by more than one node (a residual connection, a shared layer) before passing them to
the node that made it: the chain rule's sum over every path.

With one input and one output the model takes and gives arrays exactly as a ``Sequential`` does
(and trains through the same code); with several it takes lists (or dicts by input name) and
gives lists, and each output has its own loss (``heads.py``).
"""
import collections

from . import checks, graph, losses, metrics as metrics_module, optimizers, serialization
from . import layers as layers_module
from . import model_fields
from .errors import ConfigurationError, ShapeError
from .graph import Input, SymbolicTensor
from .heads import Heads, OutputLoss, OutputMetric, per_output
from .layers import Layer
from .network import Network
from .parameter import FlatParameters


class Model(Network):
    """Layers wired from ``inputs`` (``gn.Input`` tensors: one, a list, or a dict by name) to
    ``outputs`` (symbolic tensors the layers made: one, a list or a dict by name)."""

    def __init__(self, inputs, outputs, name="model", seed=None, dtype="float32"):
        super().__init__(name, seed, dtype)
        self._wire(inputs, outputs)
        self.build()

    def _wire(self, inputs, outputs):
        """Find the nodes from ``inputs`` to ``outputs``, their layers, and the names."""
        self._inputs, input_keys = _tensors("inputs", inputs, Input)
        self._outputs, output_keys = _tensors("outputs", outputs, SymbolicTensor)
        if len({id(t) for t in self._inputs}) != len(self._inputs):
            raise ConfigurationError("the same Input is given twice in inputs")
        self._nodes = graph.sorted_nodes(self._inputs, self._outputs)
        seen = set()
        for node in self._nodes:
            if id(node.layer) not in seen:
                if not isinstance(node.layer, Layer):
                    raise ConfigurationError(f"{node.layer!r} is not a Layer")
                seen.add(id(node.layer))
                self._name_uniquely(node.layer)
                self.layers.append(node.layer)
            if node.layer.id_count is not None:
                _check_ids_read(node)
        # Inputs are named by the keys of a dict, their own names or their positions; outputs by
        # the keys of a dict or the layers that make them.
        self.input_names = input_keys or [t._name or (f"input_{i}" if len(self._inputs) > 1 else "input")
                                          for i, t in enumerate(self._inputs)]
        self.output_names = output_keys or [t.node.layer.name if t.node else t.name for t in self._outputs]
        for what, names in (("input", self.input_names), ("output", self.output_names)):
            if len(set(names)) != len(names):
                raise ConfigurationError(f"two {what}s are named {next(n for n in names if names.count(n) > 1)!r}; "
                                         f"a dict of {what}s needs one name each")
        self._id_counts = _id_counts(self._inputs, self._nodes)
        self._fused_nodes = set()  # the slots of outputs whose loss fuses their activation (compile)
        calls = collections.Counter(id(node.layer) for node in self._nodes)
        self._shared = {node.layer for node in self._nodes if calls[id(node.layer)] > 1}
        # Each tensor has a slot in forward's table: the inputs first, then each node's output in
        # order. Each node with the slots of the tensors it reads and of the one it makes.
        slots = {id(t): i for i, t in enumerate(self._inputs)}
        slots.update((id(node), len(self._inputs) + j) for j, node in enumerate(self._nodes))
        self._plan = [(node, [slots[_key(t)] for t in node.inputs], slots[id(node)]) for node in self._nodes]
        self._output_slots = [slots[_key(t)] for t in self._outputs]

    # -- structure -------------------------------------------------------------------------------
    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    @property
    def input_shape(self):
        """The shape of one example (no batch axis); a list of them with several inputs."""
        shapes = [t.shape for t in self._inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def build(self, input_shape=None):
        """Create every layer's parameters (with the model's generator, in the order of the
        nodes) and pack them into the flat buffers; done by the constructor."""
        if self.built:
            return
        size = sum(_size(shape) for shape in self.parameter_shapes().values())
        checks.affordable(f"a model of {size:,} parameters", size * self.dtype.itemsize * checks.PARAMETER_COPIES)
        # A layer without weights can still make large outputs (a Concatenate of Concatenates):
        # one example's activations must fit in memory, whatever a file asks for.
        values = sum(_size(node.output_shape()) for node in self._nodes)
        checks.affordable(f"one example's activations ({values:,} numbers)", values * self.dtype.itemsize)
        for node in self._nodes:
            node.layer.ensure_built(node.input_shapes if node.as_list else node.input_shapes[0], self.rng, self.dtype)
        # A layer that only ever reads the model's inputs need not pass a gradient back to them.
        inputs = {id(t) for t in self._inputs}
        reads_more = {id(n.layer) for n in self._nodes if n.as_list or id(n.inputs[0]) not in inputs}
        for layer in self.layers:
            layer.compute_input_gradient = id(layer) in reads_more
        self.params = FlatParameters(self.parameters(), self.dtype)
        self.built = True
        if self.optimizer is not None:
            self.optimizer.build(self.params)

    def build_if_shape_known(self):
        """A graph model is built when it is made."""

    def parameter_shapes(self, input_shape=None):
        """``{parameter name: shape}`` of the whole model, worked out from the nodes' input
        shapes without allocating anything (the first node of a shared layer declares them)."""
        shapes, seen = {}, set()
        for node in self._nodes:
            if id(node.layer) in seen:
                continue
            seen.add(id(node.layer))
            declared = node.layer.parameter_shapes(node.input_shapes if node.as_list else node.input_shapes[0])
            for name, parameter_shape in declared.items():
                shapes[f"{node.layer.name}.{name}"] = tuple(parameter_shape)
        return shapes

    # -- compile ---------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None):
        """Choose the optimizer, the loss of each output and the metrics, as Keras does: ``loss``
        one for every output, a list (one per output) or a dict by output name; ``loss_weights``
        likewise (1.0 by default): the model trains on the weighted sum of its outputs' losses.
        ``metrics`` a list for every output, or a list of lists or a dict of lists per output.
        An output that ends in softmax (sigmoid) under a categorical (binary) cross-entropy on
        probabilities trains on its logits with the fused, stable loss, as in ``Sequential``,
        unless another layer reads that output too."""
        if loss is None:
            raise ConfigurationError("compile needs a loss, e.g. loss='mse', or one per output: "
                                     f"loss={{{', '.join(repr(n) + ': ...' for n in self.output_names)}}}")
        names = self.output_names
        loss_specs = per_output("loss", loss, names, required=True)
        weights = per_output("loss_weights", 1.0 if loss_weights is None else loss_weights, names, required=True)
        weights = [checks.number(f"loss_weights[{name!r}]", w, low=0) for name, w in zip(names, weights)]
        metric_specs = _metric_lists(metrics, names)
        self.optimizer = optimizers.get(optimizer)
        output_losses = [losses.get(spec) for spec in loss_specs]
        read_inside = {id(t) for node in self._nodes for t in node.inputs}
        as_outputs = collections.Counter(id(t) for t in self._outputs)
        heads, fused_nodes, self.metrics = [], set(), []
        for k, (tensor, loss_k) in enumerate(zip(self._outputs, output_losses)):
            node = tensor.node
            once = node is not None and id(tensor) not in read_inside and as_outputs[id(tensor)] == 1
            activation = node.layer.output_activation if once else None
            fused = loss_k.fused_with(activation)
            if fused is not None:
                fused_nodes.add(self._output_slots[k])
            heads.append(fused or loss_k)
            on_logits = fused is not None or getattr(loss_k, "from_logits", False)
            for spec in metric_specs[k]:
                metric = metrics_module.get(spec, loss_k, activation if fused else None, on_logits)
                self.metrics.append(metric if len(names) == 1 else OutputMetric(metric, k, names[k], tensor.shape))
        if len(names) == 1:
            self.loss, self.head_loss = output_losses[0], heads[0]
            if weights[0] != 1.0:
                self.head_loss = Heads(heads, weights, names)  # a weight on the one loss scales it
        else:
            self.loss = output_losses
            self.head_loss = Heads(heads, weights, names)
            self.metrics = [OutputLoss(h, k, name) for k, (h, name) in enumerate(zip(heads, names))] + self.metrics
        self._fused, self._fused_nodes = bool(fused_nodes), fused_nodes
        self._loss_weights = weights
        named = collections.Counter(metric.name for metric in self.metrics)
        twice = next((name for name, count in named.items() if count > 1), None)
        if twice is not None:
            raise ConfigurationError(f"two metrics are named {twice!r}; the logs and the history need one name each")
        self._metric_specs = metric_specs
        self.optimizer.build(self.params)

    def get_compile_config(self):
        """The compile settings as JSON (what a model file stores), or None before ``compile``."""
        if self.optimizer is None:
            return None
        output_losses = self.loss if isinstance(self.loss, list) else [self.loss]
        for k, loss in enumerate(output_losses):
            model_fields.check_compiled(loss, self._metric_specs[k], self.optimizer)
        return {"optimizer": serialization.serialize(self.optimizer),
                "loss": [serialization.serialize(loss) for loss in output_losses],
                "loss_weights": list(self._loss_weights),
                "metrics": [model_fields.metric_specs(specs) for specs in self._metric_specs]}

    def compile_from_config(self, config):
        """``compile`` with the settings of ``get_compile_config()`` (a fresh optimizer)."""
        self.compile(optimizer=optimizers.deserialize(config["optimizer"]),
                     loss=[losses.deserialize(spec) for spec in config["loss"]],
                     loss_weights=config["loss_weights"], metrics=config["metrics"])

    # -- forward and backward --------------------------------------------------------------------
    def forward(self, x, training=False, logits=False):
        """Run every node in order; return the outputs and ``backward(d_outputs)``, which stores
        every parameter's gradient. With one input ``x`` is an array, else a list in the order of
        ``inputs``; likewise the outputs. With ``logits=True`` the outputs whose loss fuses their
        final activation (see ``compile``) leave it out."""
        xs = [x] if len(self._inputs) == 1 else x
        values = [*xs, *[None] * len(self._plan)]  # each tensor's array, by slot
        backwards = []
        fused = self._fused_nodes if logits else ()
        for node, reads, made in self._plan:
            read = [values[key] for key in reads] if node.as_list else values[reads[0]]
            run = node.layer.forward_logits if made in fused else node.layer.forward
            values[made], backward = run(read, training)
            backwards.append(backward)
        outputs = [values[slot] for slot in self._output_slots]

        def backward(d_outputs):
            """The chain rule through the graph: a tensor's gradient is the sum of the gradients
            every node that read it sends back; a node runs its backward once that sum is whole
            (every reader comes after it in the order, so it is, when its turn comes in reverse)."""
            grads = {}  # slot -> dL/d(that tensor) so far
            for slot, d in zip(self._output_slots, [d_outputs] if len(self._outputs) == 1 else d_outputs):
                _add_gradient(grads, slot, d)
            earlier = {}  # shared layer -> its parameters' gradients from the calls already run back
            for (node, reads, made), node_backward in zip(reversed(self._plan), reversed(backwards)):
                if node.layer in self._shared:  # a layer's backward *replaces* its gradients: keep the
                    if node.layer in earlier:   # earlier calls' and add them after (the sum over calls)
                        kept = earlier[node.layer]
                        dx = node_backward(grads.pop(made))
                        for p, g in zip(node.layer.parameters(), kept):
                            p.grad += g
                    else:
                        dx = node_backward(grads.pop(made))
                    earlier[node.layer] = [p.grad.copy() for p in node.layer.parameters()]
                else:
                    dx = node_backward(grads.pop(made))
                if dx is None:  # the layer reads only the model's inputs (compute_input_gradient)
                    continue
                for slot, d in zip(reads, dx if node.as_list else [dx]):
                    _add_gradient(grads, slot, d)
            return None

        return (outputs[0] if len(outputs) == 1 else outputs), backward

    def prepare_inputs(self, x):
        """``x`` checked: with one input an array (as ``Sequential``), else a list in the order
        of ``inputs`` or a dict by input name; each numeric, finite, of its input's shape, in the
        model's dtype, or integer ids for an input an Embedding reads. All with the same rows."""
        if len(self._inputs) == 1 and not isinstance(x, (list, tuple, dict)):
            return checks.model_inputs(x, self.dtype, self._inputs[0].shape, self._id_counts[0])
        arrays = _by_name("inputs", x, self.input_names)
        checked = [checks.model_inputs(a, self.dtype, t.shape, ids, name=f"input {name!r}")
                   for a, t, ids, name in zip(arrays, self._inputs, self._id_counts, self.input_names)]
        _same_rows(checked, self.input_names, "input")
        return checked[0] if len(checked) == 1 else checked

    def prepare_targets(self, y):
        """``y`` checked: with one output as ``Sequential`` does, else a list in the order of
        ``outputs`` or a dict by output name, each as its output's loss needs it."""
        if len(self._outputs) == 1 and not isinstance(y, (list, tuple, dict)):
            return self.head_loss.check_targets(checks.finite_array("y", y, within=self.dtype), self.output_shape) \
                if not isinstance(self.head_loss, Heads) else \
                self.head_loss.check_targets([checks.finite_array("y", y, within=self.dtype)], [self.output_shape])[0]
        arrays = [checks.finite_array(f"y[{name!r}]", a, within=self.dtype)
                  for a, name in zip(_by_name("targets", y, self.output_names), self.output_names)]
        _same_rows(arrays, self.output_names, "target")
        if len(arrays) == 1:
            return self.prepare_targets(arrays[0])
        return self.head_loss.check_targets(arrays, [t.shape for t in self._outputs])

    # -- configuration ---------------------------------------------------------------------------
    def get_config(self):
        """The graph as JSON: the layers (each once), the inputs, and the nodes in order, each
        naming its layer and the tensors it reads (``["input", i]`` or ``["node", j]`` with
        ``j`` before it), and the outputs the same way."""
        node_index = {id(node): j for j, node in enumerate(self._nodes)}
        layer_index = {id(layer): i for i, layer in enumerate(self.layers)}
        input_index = {id(t): i for i, t in enumerate(self._inputs)}

        def ref(t):
            return ["node", node_index[id(t.node)]] if t.node is not None else ["input", input_index[id(t)]]

        return {"name": self.name, "seed": self.seed, "dtype": self.dtype.name,
                "inputs": [{"name": name, "shape": list(t.shape), "dtype": t.dtype}
                           for name, t in zip(self.input_names, self._inputs)],
                "layers": [layers_module.serialize(layer) for layer in self.layers],
                "nodes": [{"layer": layer_index[id(node.layer)], "inputs": [ref(t) for t in node.inputs],
                           "as_list": node.as_list} for node in self._nodes],
                "outputs": [ref(t) for t in self._outputs], "output_names": list(self.output_names)}

    @classmethod
    def from_config(cls, config, build=True):
        """A new, untrained model with the same graph (built unless ``build=False``, for a model
        file whose stored weights are compared with ``parameter_shapes`` first)."""
        layers = [layers_module.deserialize(spec) for spec in config["layers"]]
        inputs = [Input(spec["shape"], dtype=spec["dtype"], name=spec["name"]) for spec in config["inputs"]]
        made = []
        for spec in config["nodes"]:
            reads = [inputs[i] if kind == "input" else made[i] for kind, i in spec["inputs"]]
            made.append(graph.call(layers[spec["layer"]], reads if spec["as_list"] else reads[0]))
        outputs = [inputs[i] if kind == "input" else made[i] for kind, i in config["outputs"]]
        names = config["output_names"]
        model = cls.__new__(cls)
        Network.__init__(model, config["name"], config["seed"], config["dtype"])
        model._wire(inputs, dict(zip(names, outputs)))
        if build:
            model.build()
        return model

    def summary(self, print_fn=print):
        """Print a table of the nodes: layer, output shape, parameters and the layers it reads."""
        from .summary import graph_summary_lines
        for line in graph_summary_lines(self):
            print_fn(line)


def _tensors(what, value, kind):
    """``(list of tensors, names or None)`` from one tensor, a list or a dict by name."""
    names = None
    if isinstance(value, dict):
        names = list(value)
        if not all(isinstance(n, str) for n in names):
            raise ConfigurationError(f"the names of a dict of {what} must be strings, got {names}")
        value = list(value.values())
    elif not isinstance(value, (list, tuple)):
        value = [value]
    if not value:
        raise ConfigurationError(f"a Model needs at least one of its {what}")
    for t in value:
        if not isinstance(t, kind):
            expected = "gn.Input(...) tensors" if kind is Input else "tensors made by calling layers on gn.Input(...)"
            raise ConfigurationError(f"{what} must be {expected}, got {type(t).__name__} {t!r}")
    return list(value), names


def _id_counts(inputs, nodes):
    """For each input, how many ids the layers reading it take (the smallest input_dim of the
    Embeddings that read it; each checks its own ids too), or None for numbers; an input is not
    read both ways."""
    counts = {id(t): set() for t in inputs}
    for node in nodes:
        for t in node.inputs:
            if id(t) in counts:
                counts[id(t)].add(node.layer.id_count)
    for t in inputs:
        if None in counts[id(t)] and len(counts[id(t)]) > 1:
            raise ConfigurationError(f"input {t.name!r} is read both as integer ids (by an Embedding) and as "
                                     "numbers; give each use its own Input")
    return [min(counts[id(t)] - {None}, default=None) for t in inputs]


def _check_ids_read(node):
    """A layer that takes ids (an Embedding) reads one Input of ids (int64, int32 or no dtype:
    ``_id_counts`` keeps it integers): ids that another layer computed are floats (exact only up
    to 2**24), with no gradient to pass back to that layer."""
    read = node.inputs[0]
    if not node.as_list and isinstance(read, Input) and (read.dtype is None or read.dtype in graph.INTEGER_DTYPES):
        return
    got = (f"a list of {len(node.inputs)} tensors" if node.as_list else
           f"the input {read.name!r}, declared {read.dtype}" if isinstance(read, Input) else
           f"the output of layer {read.name!r}")
    raise ConfigurationError(f"layer {node.layer.name!r} ({type(node.layer).__name__}) takes integer ids, so it "
                             f"must read an integer input, gn.Input(shape, dtype='int64'), got {got}")


def _metric_lists(metrics, names):
    """``compile``'s ``metrics`` as one list per output."""
    if metrics is None:
        return [[] for _ in names]
    if isinstance(metrics, dict):
        lists = per_output("metrics", metrics, names, required=False)
        return [[] if m is None else list(m) if isinstance(m, (list, tuple)) else [m] for m in lists]
    if not isinstance(metrics, (list, tuple)):
        raise ConfigurationError(f"metrics must be a list such as ['accuracy'], a list of lists or a dict by "
                                 f"output name, got {metrics!r}")
    if metrics and all(isinstance(m, (list, tuple)) for m in metrics):
        return [list(m) for m in per_output("metrics", list(metrics), names, required=True)]
    return [list(metrics) for _ in names]


def _by_name(what, value, names):
    """``value`` (a list or tuple in order, or a dict by name) as a list in the order of ``names``."""
    if isinstance(value, dict):
        unknown = [key for key in value if key not in names]
        missing = [name for name in names if name not in value]
        if unknown or missing:
            problem = f"no {what[:-1]} is named {unknown[0]!r}" if unknown else f"{missing[0]!r} is missing"
            raise ConfigurationError(f"the {what} are {names}: {problem}")
        return [value[name] for name in names]
    if not isinstance(value, (list, tuple)):
        raise ConfigurationError(f"the model has {len(names)} {what} ({names}): pass a list or a dict by name, "
                                 f"got {type(value).__name__}")
    if len(value) != len(names):
        raise ConfigurationError(f"the model has {len(names)} {what} ({names}), got a list of {len(value)}")
    return list(value)


def _same_rows(arrays, names, what):
    rows = [len(a) for a in arrays]
    if len(set(rows)) > 1:
        raise ShapeError(f"every {what} must have the same number of examples, got "
                         + ", ".join(f"{n}: {r}" for n, r in zip(names, rows)))


def _key(tensor):
    return id(tensor.node) if tensor.node is not None else id(tensor)


def _add_gradient(grads, slot, d):
    """Where a tensor is read twice, the gradients of both readers add up (never in place: a
    backward may hand the same array to two places)."""
    grads[slot] = d if slot not in grads else grads[slot] + d


def _size(shape):
    size = 1
    for d in shape:
        size *= d
    return size
