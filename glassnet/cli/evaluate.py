"""``glassnet evaluate``: how good a model is on a table with known targets."""
import json
import sys

from ..errors import DataError
from ..io import atomic
from ..tabular import files as tables
from . import note
from ..tabular.model import TableModel, format_scores


def register(subparsers):
    parser = subparsers.add_parser(
        "evaluate", help="score a model on a table with known targets",
        description="Score a model from 'glassnet train' on a table that has the target column: "
                    "accuracy, macro F1, ROC AUC (binary; for more classes the macro average of "
                    "one-vs-rest AUCs) and the confusion matrix (classification), or RMSE, MAE and "
                    "R² (regression).")
    parser.add_argument("model", help="a model file from glassnet train")
    parser.add_argument("data", help="rows with the target column (CSV or Parquet)")
    parser.add_argument("--json", metavar="PATH", help="also write the scores as JSON")
    parser.add_argument("--force", action="store_true", help="overwrite an existing JSON file")
    parser.set_defaults(run=run)


def run(args):
    table = TableModel.load(args.model)
    if args.json:
        tables.check_output_path(args.json, args.force)
    frame = tables.read_table(args.data, na_values=table.features.markers)
    name = table.target.name
    if name not in frame.columns:
        raise DataError(f"{args.data} has no target column {name!r} to score against; its columns are: "
                        f"{', '.join(map(str, frame.columns))} (use 'glassnet predict' for rows without it)")
    missing = int(frame[name].isna().sum())
    frame = frame[frame[name].notna()]
    if len(frame) == 0:
        raise DataError(f"{args.data} has no rows with a value in the target column {name!r}")
    targets = table.target.encode(frame[name], args.data)
    outputs, report = table.predict(frame, args.data)
    scores = table.scores(targets, outputs)
    for line in report.lines() + ([f"left out {missing} row(s) without a target value"] if missing else []):
        note(line)
    print(f"{tables.printable(args.data)}: {len(frame)} rows; {format_scores(scores)}")
    result = {"data": args.data, "rows": len(frame), "scores": scores}
    if table.target.task == "classification":
        matrix = table.confusion_matrix(targets, outputs)
        print("\nconfusion matrix (rows: true class, columns: predicted class)")
        print(matrix.rename(index=tables.printable, columns=tables.printable).to_string())
        result["confusion_matrix"] = {"labels": [str(c) for c in table.target.classes],
                                      "counts": matrix.to_numpy().tolist()}
    if args.json:
        atomic.write_text(args.json, json.dumps(result, indent=2) + "\n", overwrite=args.force)
    return 0
