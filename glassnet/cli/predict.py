"""``glassnet predict``: predictions for the rows of a table, from a model made by ``train``."""
import argparse
import sys

from ..tabular import files as tables
from . import note
from ..tabular.model import TableModel


def register(subparsers):
    parser = subparsers.add_parser(
        "predict", help="predict the rows of a CSV or Parquet table",
        description="Predict every row of a table with a model from 'glassnet train'. Writes the "
                    "predicted label and one probability per class (classification) or the "
                    "predicted value (regression), in the order of the rows, after any columns "
                    "left out in training with --drop (such as an id) that the table has.")
    parser.add_argument("model", help="a model file from glassnet train")
    parser.add_argument("data", help="the rows to predict (CSV or Parquet)")
    parser.add_argument("--output", "-o", help="where to write the predictions (CSV or Parquet; "
                                               "default: print CSV)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    parser.add_argument("--escape-formulas", action=argparse.BooleanOptionalAction, default=True,
                        help="in CSV, prefix with ' the text cells that a spreadsheet would run as "
                             "formulas (starting with = + - @, tab or CR; numbers are never changed) "
                             "(default: on)")
    parser.set_defaults(run=run)


def run(args):
    table = TableModel.load(args.model)
    if args.output:
        tables.check_table_suffix(args.output)
        tables.check_output_path(args.output, args.force)
    frame = tables.read_table(args.data, na_values=table.features.markers)
    outputs, report = table.predict(frame, args.data)
    predictions = table.prediction_frame(outputs)
    kept = [c for c in table.dropped if c in frame.columns]
    if kept:
        predictions = frame[kept].reset_index(drop=True).join(predictions)
    notes = report.lines()
    if args.escape_formulas and (args.output is None or tables.is_csv(args.output)):
        predictions, escaped = tables.escape_formulas(predictions)
        notes += [f"{escaped} text cell(s) that a spreadsheet would run as formulas were prefixed with ' "
                  "(--no-escape-formulas keeps them as they are)"] if escaped else []
    for line in notes:
        note(line)
    if args.output:
        tables.write_table(predictions, args.output, overwrite=args.force)
        print(f"wrote {len(predictions)} predictions to {tables.printable(args.output)}", file=sys.stderr)
    else:
        predictions.to_csv(sys.stdout, index=False)
    return 0
