"""A small builder of ONNX graphs: nodes with unique names, weights as initializers.

    graph = Graph(np.float32)
    x = graph.input("input", (784,))
    z = graph.node("Gemm", [x, graph.constant("dense.weight", w), graph.constant("dense.bias", b)], "dense")
    proto = graph.model(graph.node("Relu", [z], "relu"), (64,), opset=17)

Every tensor the graph computes is named after the layer that computes it, so the graph reads
like the model in a viewer such as Netron. Shapes have a symbolic first axis, ``batch``.
"""
import numpy as np

from ..extras import require

onnx = require("onnx", extra="onnx", purpose="ONNX export")

from onnx import helper, numpy_helper  # noqa: E402

BATCH = "batch"


class Graph:
    """The nodes, weights and inputs of a graph whose floating-point tensors have ``dtype``."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.nodes, self.initializers, self.inputs = [], [], []
        self._names = set()

    def _unique(self, hint):
        name, i = hint, 1
        while name in self._names:
            name, i = f"{hint}_{i}", i + 1
        self._names.add(name)
        return name

    def input(self, name, shape, dtype=None):
        """Declare a graph input of per-example ``shape`` (the batch axis is added); return its name."""
        name = self._unique(name)
        elem_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype or self.dtype))
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, [BATCH, *shape]))
        return name

    def constant(self, name, value, dtype=None):
        """Store ``value`` (in the graph's dtype unless ``dtype`` is given) as a weight; return its name."""
        name = self._unique(name)
        array = np.asarray(value, dtype=dtype or self.dtype)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op, inputs, name, **attributes):
        """Add the operator ``op`` on the tensors named ``inputs``; return the name of its output."""
        output = self._unique(name)
        self.nodes.append(helper.make_node(op, list(inputs), [output], name=output, **attributes))
        return output

    def model(self, output, shape, opset, output_name="output", doc_string="", metadata=None):
        """The ``onnx.ModelProto`` whose result is the tensor ``output`` (per-example ``shape``),
        renamed ``output_name``; ``metadata`` (str to str) becomes its ``metadata_props``."""
        if self.nodes and self.nodes[-1].output[0] == output and output_name not in self._names:
            self.nodes[-1].output[0] = output_name
        else:
            self.node("Identity", [output], output_name)
        elem_type = helper.np_dtype_to_tensor_dtype(self.dtype)
        graph = helper.make_graph(
            self.nodes, "glassnet", self.inputs,
            [helper.make_tensor_value_info(output_name, elem_type, [BATCH, *shape])], self.initializers)
        opsets = [helper.make_opsetid("", opset)]
        proto = helper.make_model(graph, opset_imports=opsets, producer_name="glassnet",
                                  ir_version=helper.find_min_ir_version_for(opsets), doc_string=doc_string)
        helper.set_model_props(proto, dict(metadata or {}))
        return proto
