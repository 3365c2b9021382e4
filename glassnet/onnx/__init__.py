"""Export a trained model to ONNX, for inference anywhere ONNX Runtime runs.

    model.to_onnx("model.onnx")                       # or glassnet.onnx.export(model, "model.onnx")

    import onnxruntime as ort
    session = ort.InferenceSession("model.onnx")
    probabilities = session.run(None, {"input": x.astype("float32")})[0]

A ``Sequential``'s graph has one input, ``input`` (shape ``(batch, *input_shape)``, any batch
size; int64 ids when the first layer is an Embedding), and one output, ``output``, equal to
``model.predict``: probabilities for a softmax or sigmoid model. A graph ``Model``'s has one input
per model input, named by ``model.input_names`` (int64 for an input an Embedding reads), and one
output per model output, named by ``model.output_names``, each equal to its part of
``model.predict``; its nodes are converted in order, a merge layer's converter getting the list
of its inputs' names, a shared layer's once per call (``<layer>/call_2``, ...) with its weights
stored once. A model trained by ``glassnet train`` takes its raw columns instead and gives labels
(``tables.py``; a graph model only if it has one output and takes the inputs that stage makes
from the columns: one float matrix, or what its ``inputs`` lists). The graph is the inference
forward of each layer (``layers.py``; Dropout is left out) built with ``onnx.helper``
(``graph.py``), checked with ``onnx.checker.check_model(full_check=True)`` before anything is
written, and written atomically. Needs the ``[onnx]`` extra.
"""
import json

import numpy as np

from ..version import __version__
from ..errors import ExportError, NotBuiltError
from ..io import atomic
from .graph import Graph, onnx
from .layers import convert, register
from .tables import TableStage

__all__ = ["export", "to_proto", "register", "DEFAULT_OPSET", "MIN_OPSET"]

# Opset 17 is read by every ONNX Runtime since 1.13 (2022) and has every operator used here.
DEFAULT_OPSET = 17
# Softmax along one axis, as glassnet computes it, needs 13.
MIN_OPSET = 13


def to_proto(model, opset=DEFAULT_OPSET, dtype=None, preprocessing=True):
    """The ``onnx.ModelProto`` of ``model``'s inference forward, checked. ``dtype`` ("float32" or
    "float64") is the model's own unless given: a float64 model can be exported as float32. A
    model trained by ``glassnet train`` exports with its table preprocessing (``tables.py``),
    so the graph takes the raw columns; ``preprocessing=False`` exports the network alone. A
    graph ``Model``'s inputs and outputs are named by ``input_names`` and ``output_names``."""
    model.build_if_shape_known()
    if not model.built:
        raise NotBuiltError("the model has no weights yet: build it (or fit it) before exporting it")
    dtype = model.dtype if dtype is None else dtype
    if dtype not in ("float32", "float64", np.float32, np.float64):
        raise ExportError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ExportError(f"opset must be an integer from {MIN_OPSET} to {newest} (the newest "
                          f"this onnx package knows), got {opset!r}")
    graph = Graph(dtype)
    table = TableStage.of(model) if preprocessing else None
    if hasattr(model, "_nodes"):  # a graph Model (not imported: network.py, which it uses, imports this)
        _graph_model(graph, model, table)
    else:
        ids = model.layers[0].id_count is not None  # a first Embedding takes int64 ids
        x = table.inputs(graph) if table else graph.input("input", model.input_shape, np.int64 if ids else None)
        for layer in model.layers:
            x = convert(graph, layer, x)
        if table:
            table.outputs(graph, x, model)
        else:
            graph.output(x, "output", model.output_shape)
    metadata = {"glassnet_model": model.get_config(), **model.metadata}
    if table:
        metadata["glassnet_preprocessing"] = model.preprocessing
    proto = graph.model(opset, doc_string=f"glassnet model {model.name!r}",
                        metadata={"glassnet_version": __version__,
                                  **{key: json.dumps(value) for key, value in metadata.items()}})
    proto.producer_version = __version__
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ExportError(f"the ONNX graph made for model {model.name!r} is not valid: {first_line}") from None
    return proto


def _graph_model(graph, model, table):
    """Add a graph ``Model`` to ``graph``: one input per model input (``input_names``), its
    nodes in order (a node of a layer called on a list gets the list of its inputs' names; the
    k-th call of a shared layer is named ``<layer>/call_<k>`` and reuses the weights its first
    call stored), one output per model output (``output_names``); or, with the ``table`` stage,
    the raw columns into the model's inputs and labels from its one output."""
    if table is not None:
        feeds = _table_feeds(graph, model, table)
    else:
        feeds = [graph.input(name, tensor.shape, np.int64 if ids is not None else None)  # ids as int64
                 for tensor, name, ids in zip(model._inputs, model.input_names, model._id_counts)]
        graph.reserve(model.output_names)  # kept for the outputs (an input's is taken: output refuses it)
    names = {id(tensor): feed for tensor, feed in zip(model._inputs, feeds)}  # tensor's key -> graph name
    calls = {}  # layer -> how many of its nodes are converted so far
    for node in model._nodes:
        x = [names[_key(t)] for t in node.inputs]
        x = x if node.as_list else x[0]
        layer = node.layer
        calls[id(layer)] = calls.get(id(layer), 0) + 1
        if calls[id(layer)] == 1:
            names[id(node)] = convert(graph, layer, x)
        else:
            call = f"{layer.name}/call_{calls[id(layer)]}"
            with graph.constants_of(call, layer.name):
                names[id(node)] = convert(graph, layer, x, call)
    outputs = [names[_key(t)] for t in model._outputs]
    if table is not None:
        table.outputs(graph, outputs[0], model)
        return
    for tensor, output, name in zip(model._outputs, outputs, model.output_names):
        graph.output(graph.renamed.get(output, output), name, tensor.shape)


def _table_feeds(graph, model, table):
    """The names of the tensors the ``table`` stage makes from the raw columns, one per model
    input, in order; an ``ExportError`` for a graph model the stage cannot feed or read. The
    stage's ``inputs`` gives one name (its float matrix) or a list (one per network input)."""
    made = table.inputs(graph)
    feeds = made if isinstance(made, list) else [made]
    counts = {"input": len(model._inputs), "output": len(model._outputs)}
    problem = None
    if len(feeds) != counts["input"] or counts["output"] != 1:
        problem = "it has " + " and ".join(f"{n} {what}{'s' * (n != 1)}" for what, n in counts.items())
        stage = (f"the table stage makes {len(feeds)} network input{'s' * (len(feeds) != 1)} from the "
                 "columns and reads one output")
    elif not isinstance(made, list) and model._id_counts[0] is not None:
        problem = f"its input {model.input_names[0]!r} takes Embedding ids"
        stage = "the table stage feeds it a float matrix"
    if problem:
        raise ExportError(f"model {model.name!r} has table preprocessing, but {problem}: {stage}; export the "
                          "network alone (preprocessing=False, glassnet export --no-preprocessing)")
    return feeds


def _key(tensor):
    return id(tensor.node) if tensor.node is not None else id(tensor)


def export(model, path, opset=DEFAULT_OPSET, dtype=None, preprocessing=True, overwrite=True):
    """Write ``model`` to the ONNX file ``path`` (atomically; ``overwrite=False`` refuses to
    replace a file) and return its ``onnx.ModelProto``; see ``to_proto`` for the rest."""
    proto = to_proto(model, opset, dtype, preprocessing)
    atomic.write_bytes(path, proto.SerializeToString(), overwrite)
    return proto
