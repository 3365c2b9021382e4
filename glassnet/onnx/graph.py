"""A small builder of ONNX graphs: nodes with unique names, weights as initializers.

    graph = Graph(np.float32)
    x = graph.input("input", (784,))
    z = graph.node("Gemm", [x, graph.constant("dense.weight", w), graph.constant("dense.bias", b)], "dense")
    graph.output(graph.node("Relu", [z], "relu"), "output", (64,))
    proto = graph.model(opset=17)

Every tensor the graph computes is named after the layer that computes it, so the graph reads
like the model in a viewer such as Netron. Shapes have a symbolic first axis, ``batch``.

A weight asked for twice under one name with the same value is stored once, so a layer converted
once per call (a graph model's shared layer, under ``graph.constants_of(call, layer)``) keeps one
copy of its weights; the names of a graph model's outputs are set aside with ``reserve`` before
its layers are converted, so that no other tensor takes them.
"""
import collections
import contextlib

import numpy as np

from ..errors import ExportError
from ..extras import require

onnx = require("onnx", extra="onnx", purpose="ONNX export")

from onnx import helper, numpy_helper  # noqa: E402

BATCH = "batch"
# The operator sets of the domain "ai.onnx.ml" (LabelEncoder): version 2 is read by every ONNX
# Runtime that reads opset 13.
ML_DOMAIN, ML_OPSET = "ai.onnx.ml", 2


def tensor_type(dtype):
    """The ONNX element type (``TensorProto.FLOAT``, ...) of a NumPy dtype; ``object`` is text."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class Graph:
    """The nodes, weights, inputs and outputs of a graph whose floating-point tensors have ``dtype``."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self.domains = set()
        self._names = set()
        self._reserved = set()  # names kept for outputs still to be declared
        self._constants = {}  # the name a weight was asked for -> [(its name in the graph, its array)]
        self._constant_prefix = None  # (call, layer): see constants_of
        self.renamed = {}  # tensor name -> the output name ``output`` gave it
        # indexes that keep a graph of many nodes and outputs linear to build
        self._producers = {}  # tensor name -> the node that makes it
        self._consumers = collections.defaultdict(list)  # tensor name -> the nodes that read it
        self._declared = set()  # the names of the graph outputs so far
        self._suffixes = {}  # hint -> the next suffix to try for it

    def _unique(self, hint):
        name, i = hint, self._suffixes.get(hint, 1)
        if name in self._names:
            name = f"{hint}_{i}"
            while name in self._names:
                i += 1
                name = f"{hint}_{i}"
            self._suffixes[hint] = i + 1
        self._names.add(name)
        return name

    def input(self, name, shape, dtype=None):
        """Declare a graph input of per-example ``shape`` (the batch axis is added) and ``dtype``
        (the graph's by default; ``object`` for text); return its name."""
        name = self._unique(name)
        self.inputs.append(helper.make_tensor_value_info(name, tensor_type(dtype or self.dtype), [BATCH, *shape]))
        return name

    def reserve(self, names):
        """Keep ``names`` for graph outputs still to be declared (``output``): a node or weight
        asking for one of them gets a suffix instead. A name already taken is not reserved."""
        for name in names:
            if name not in self._names:
                self._names.add(name)
                self._reserved.add(name)

    def constant(self, name, value, dtype=None):
        """Store ``value`` (in the graph's dtype unless ``dtype`` is given) as a weight; return its
        name. A weight asked for under the same name with the same dtype, shape and bytes before is
        not stored again: its name is returned."""
        array = np.asarray(value, dtype=dtype or self.dtype)
        if self._constant_prefix is not None:
            call, layer = self._constant_prefix
            if name == call or name.startswith(call + "/"):
                name = layer + name[len(call):]
        stored = self._constants.setdefault(name, [])
        for graph_name, earlier in stored:
            if (earlier.dtype, earlier.shape) == (array.dtype, array.shape) and earlier.tobytes() == array.tobytes():
                return graph_name
        graph_name = self._unique(name)
        self.initializers.append(numpy_helper.from_array(array, graph_name))
        stored.append((graph_name, array))
        return graph_name

    @contextlib.contextmanager
    def constants_of(self, call, layer):
        """Within this block a weight asked for under ``call`` (or ``call/...``) is asked for
        under ``layer`` (``layer/...``) instead: the second call of a shared layer, converted
        under the name ``call``, finds the weights its first call stored (same name, same value)."""
        previous, self._constant_prefix = self._constant_prefix, (call, layer)
        try:
            yield
        finally:
            self._constant_prefix = previous

    def node(self, op, inputs, name, domain="", **attributes):
        """Add the operator ``op`` on the tensors named ``inputs``; return the name of its output."""
        output = self._unique(name)
        node = helper.make_node(op, list(inputs), [output], name=output, domain=domain, **attributes)
        self.nodes.append(node)
        self._producers[output] = node
        for tensor in set(node.input):
            self._consumers[tensor].append(node)
        if domain:
            self.domains.add(domain)
        return output

    def output(self, tensor, name, shape, dtype=None):
        """Make the tensor ``tensor`` (per-example ``shape``) a graph output called ``name``, its
        name from now on (``renamed[tensor]``), which this returns. A graph input, a weight or a
        tensor that is already an output keeps its name: an ``Identity`` copies it to ``name``."""
        if tensor != name:
            if name in self._names and name not in self._reserved:
                raise ExportError(f"the graph output {name!r} has the name of an input or a weight; "
                                  "rename that input, column or layer")
            producer = self._producers.get(tensor) if tensor not in self._declared else None
            if producer is not None:  # rename the tensor, where it is made and wherever it is used
                self._names.add(name)
                for node in self._consumers.pop(tensor, []):
                    node.input[:] = [name if t == tensor else t for t in node.input]
                    self._consumers[name].append(node)
                producer.output[:] = [name]
                del self._producers[tensor]
                self._producers[name] = producer
                if name in self._reserved and producer.name == tensor:
                    producer.name = name  # it had a suffix only because the name was kept for it
                self.renamed[tensor] = name
            else:
                self._names.discard(name)  # free when reserved, so the Identity takes it as it is
                self.node("Identity", [tensor], name)
        self._reserved.discard(name)
        self.outputs.append(helper.make_tensor_value_info(name, tensor_type(dtype or self.dtype), [BATCH, *shape]))
        self._declared.add(name)
        return name

    def model(self, opset, doc_string="", metadata=None):
        """The ``onnx.ModelProto`` of the graph, for ``opset``; ``metadata`` (str to str) becomes
        its ``metadata_props``."""
        graph = helper.make_graph(self.nodes, "glassnet", self.inputs, self.outputs, self.initializers)
        opsets = [helper.make_opsetid("", opset)]
        if ML_DOMAIN in self.domains:
            opsets.append(helper.make_opsetid(ML_DOMAIN, ML_OPSET))
        proto = helper.make_model(graph, opset_imports=opsets, producer_name="glassnet",
                                  ir_version=helper.find_min_ir_version_for(opsets), doc_string=doc_string)
        helper.set_model_props(proto, dict(metadata or {}))
        return proto
