"""Export a trained model to ONNX, for inference anywhere ONNX Runtime runs.

    model.to_onnx("model.onnx")                       # or glassnet.onnx.export(model, "model.onnx")

    import onnxruntime as ort
    session = ort.InferenceSession("model.onnx")
    probabilities = session.run(None, {"input": x.astype("float32")})[0]

The graph has one input, ``input`` (shape ``(batch, *input_shape)``, any batch size; int64 ids
when the first layer is an Embedding), and one output, ``output``, equal to ``model.predict``:
probabilities for a softmax or sigmoid model. A
model trained by ``glassnet train`` takes its raw columns instead and gives labels
(``tables.py``). The graph is the inference forward of each layer (``layers.py``; Dropout is left
out) built with ``onnx.helper`` (``graph.py``), checked with
``onnx.checker.check_model(full_check=True)`` before anything is written, and written
atomically. Needs the ``[onnx]`` extra.
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
    so the graph takes the raw columns; ``preprocessing=False`` exports the network alone."""
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


def export(model, path, opset=DEFAULT_OPSET, dtype=None, preprocessing=True, overwrite=True):
    """Write ``model`` to the ONNX file ``path`` (atomically; ``overwrite=False`` refuses to
    replace a file) and return its ``onnx.ModelProto``; see ``to_proto`` for the rest."""
    proto = to_proto(model, opset, dtype, preprocessing)
    atomic.write_bytes(path, proto.SerializeToString(), overwrite)
    return proto
