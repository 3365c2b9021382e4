"""Export a trained model to ONNX, for inference anywhere ONNX Runtime runs.

    model.to_onnx("model.onnx")                       # or glassnet.onnx.export(model, "model.onnx")

    import onnxruntime as ort
    session = ort.InferenceSession("model.onnx")
    probabilities = session.run(None, {"input": x.astype("float32")})[0]

The graph has one input, ``input`` (shape ``(batch, *input_shape)``, any batch size), and one
output, ``output``, equal to ``model.predict``: probabilities for a softmax or sigmoid model.
It is the inference forward of each layer (``layers.py``; Dropout is left out) built with
``onnx.helper``, checked with ``onnx.checker.check_model(full_check=True)`` before anything is
written, and written atomically. Needs the ``[onnx]`` extra.
"""
import json

import numpy as np

from .. import __version__
from ..errors import ExportError, NotBuiltError
from ..io import atomic
from .graph import Graph, onnx
from .layers import convert, register

__all__ = ["export", "to_proto", "register", "DEFAULT_OPSET", "MIN_OPSET"]

# Opset 17 is read by every ONNX Runtime since 1.13 (2022) and has every operator used here.
DEFAULT_OPSET = 17
# Softmax along one axis, as glassnet computes it, needs 13.
MIN_OPSET = 13


def to_proto(model, opset=DEFAULT_OPSET, dtype=None):
    """The ``onnx.ModelProto`` of ``model``'s inference forward, checked. ``dtype`` ("float32" or
    "float64") is the model's own unless given: a float64 model can be exported as float32."""
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
    x = graph.input("input", model.input_shape)
    for layer in model.layers:
        x = convert(graph, layer, x)
    proto = graph.model(x, model.output_shape, opset, doc_string=f"glassnet model {model.name!r}",
                        metadata={"glassnet_version": __version__,
                                  "glassnet_model": json.dumps(model.get_config()),
                                  **{key: json.dumps(value) for key, value in model.metadata.items()}})
    proto.producer_version = __version__
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export(model, path, opset=DEFAULT_OPSET, dtype=None):
    """Write ``model`` to the ONNX file ``path`` (atomically) and return its ``onnx.ModelProto``;
    see ``to_proto`` for ``opset`` and ``dtype``."""
    proto = to_proto(model, opset, dtype)
    atomic.write_bytes(path, proto.SerializeToString())
    return proto
