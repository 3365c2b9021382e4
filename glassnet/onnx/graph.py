"""A small builder of ONNX graphs: nodes with unique names, weights as initializers.

    graph = Graph(np.float32)
    x = graph.input("input", (784,))
    z = graph.node("Gemm", [x, graph.constant("dense.weight", w), graph.constant("dense.bias", b)], "dense")
    graph.output(graph.node("Relu", [z], "relu"), "output", (64,))
    proto = graph.model(opset=17)

Every tensor the graph computes is named after the layer that computes it, so the graph reads
like the model in a viewer such as Netron. Shapes have a symbolic first axis, ``batch``.
"""
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

    def _unique(self, hint):
        name, i = hint, 1
        while name in self._names:
            name, i = f"{hint}_{i}", i + 1
        self._names.add(name)
        return name

    def input(self, name, shape, dtype=None):
        """Declare a graph input of per-example ``shape`` (the batch axis is added) and ``dtype``
        (the graph's by default; ``object`` for text); return its name."""
        name = self._unique(name)
        self.inputs.append(helper.make_tensor_value_info(name, tensor_type(dtype or self.dtype), [BATCH, *shape]))
        return name

    def constant(self, name, value, dtype=None):
        """Store ``value`` (in the graph's dtype unless ``dtype`` is given) as a weight; return its name."""
        name = self._unique(name)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype or self.dtype), name))
        return name

    def node(self, op, inputs, name, domain="", **attributes):
        """Add the operator ``op`` on the tensors named ``inputs``; return the name of its output."""
        output = self._unique(name)
        self.nodes.append(helper.make_node(op, list(inputs), [output], name=output, domain=domain, **attributes))
        if domain:
            self.domains.add(domain)
        return output

    def output(self, tensor, name, shape, dtype=None):
        """Make the tensor ``tensor`` (per-example ``shape``) a graph output called ``name``, its
        name from now on, which this returns."""
        if tensor != name:
            if name in self._names:
                raise ExportError(f"the graph output {name!r} has the name of an input or a weight; "
                                  "rename that column or layer")
            producers = [node for node in self.nodes if tensor in node.output]
            if producers:  # rename the tensor, where it is made and wherever it is used
                self._names.add(name)
                for node in self.nodes:
                    node.input[:] = [name if t == tensor else t for t in node.input]
                producers[0].output[:] = [name]
            else:
                self.node("Identity", [tensor], name)
        self.outputs.append(helper.make_tensor_value_info(name, tensor_type(dtype or self.dtype), [BATCH, *shape]))
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
