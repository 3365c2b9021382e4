"""``glassnet export``: a model file to an ONNX file that ONNX Runtime serves without glassnet."""
import argparse
import os

from ..network import Network
from ..tabular import files as tables
from ..tabular.model import TableModel

EXAMPLES = """examples:
  glassnet export churn.safetensors                   writes churn.onnx next to it
  glassnet export churn.safetensors /srv/churn.onnx --force
  glassnet export model.safetensors --no-preprocessing    the network alone: inputs already prepared
"""


SHOWN = 6  # graph inputs and outputs listed by name


def register(subparsers):
    parser = subparsers.add_parser(
        "export", help="export a model file to ONNX",
        description="Write a model file as an ONNX file for ONNX Runtime and other ONNX runtimes. "
                    "A model from 'glassnet train' exports with its preprocessing: the graph takes "
                    "the raw columns (numbers as float64, categories as strings) and gives the "
                    "label and the class probabilities, or the predicted value. Needs the [onnx] extra.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a model file (.safetensors)")
    parser.add_argument("output", nargs="?", help="the ONNX file (default: the model's name with .onnx)")
    parser.add_argument("--opset", type=int, help="the ONNX opset (default 17)")
    parser.add_argument("--dtype", choices=("float32", "float64"),
                        help="the graph's floating-point type (default: the model's)")
    parser.add_argument("--no-preprocessing", dest="preprocessing", action="store_false",
                        help="export the network alone, without a table model's preprocessing")
    parser.add_argument("--force", action="store_true", help="overwrite an existing ONNX file")
    parser.set_defaults(run=run)


def run(args):
    from .. import onnx
    output = args.output or os.path.splitext(args.model)[0] + ".onnx"
    tables.check_output_path(output, args.force)
    model = Network.load(args.model)  # a Sequential or a graph Model
    if args.preprocessing and TableModel.is_table(model):
        TableModel.from_model(model, args.model)  # the preprocessing checked against the network
    proto = onnx.export(model, output, opset=args.opset or onnx.DEFAULT_OPSET, dtype=args.dtype,
                        preprocessing=args.preprocessing, overwrite=args.force)
    print(f"wrote {output}: {os.path.getsize(output):,} bytes, opset {proto.opset_import[0].version}")
    for kind, values in (("inputs", proto.graph.input), ("outputs", proto.graph.output)):
        shown = ", ".join(_describe(v) for v in values[:SHOWN])
        more = f", ... and {len(values) - SHOWN} more" if len(values) > SHOWN else ""
        print(f"  {len(values)} {kind}: {shown}{more}")
    return 0


def _describe(value):
    """``probabilities float32 (batch, 3)``: a graph input or output, its element type and shape."""
    from onnx import helper
    tensor = value.type.tensor_type
    dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type)
    dims = [d.dim_param or str(d.dim_value) for d in tensor.shape.dim]
    return f"{value.name} {'string' if dtype == object else dtype.name} ({', '.join(dims)}{',' * (len(dims) == 1)})"
