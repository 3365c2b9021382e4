"""``glassnet train``: a table in, a trained model file out, with a report of how it went."""
import argparse
import datetime
import json
import os

import numpy as np

from .. import callbacks, distributed, optimizers
from ..tabular import networks
from ..version import __version__
from ..errors import ConfigurationError, DataError, lookup
from ..extras import require
from ..io import atomic
from ..tabular import files as tables
from ..plotting import plot_history
from ..tabular.preprocessing import TablePreprocessor, TargetEncoder
from ..callbacks import TrainingBar
from ..tabular.model import TableModel, format_scores

EXAMPLES = """examples:
  glassnet train --dataset digits                     a built-in data set, no file needed
  glassnet train houses.csv --target price            regression (numeric target)
  glassnet train churn.parquet --target churned --drop customer_id --layers 128,64 --dropout 0.3
  glassnet train data.csv --target y --batch-size 1   stochastic gradient descent, one row at a time
"""


def register(subparsers):
    parser = subparsers.add_parser(
        "train", help="train a model on a CSV or Parquet table",
        description="Train a dense network on a table: numeric columns are standardized, text "
                    "columns one-hot encoded, missing values imputed; the task (classification "
                    "or regression) is inferred from the target. Writes the model file, a JSON "
                    "file of metrics and history, and a PNG of the training curves.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("data", nargs="?",
                      help="a CSV (.csv, .tsv) or Parquet (.parquet) file, or a folder of Parquet files")
    data.add_argument("--dataset", choices=tables.BUILTIN_DATASETS,
                      help="a built-in data set instead of a file (target column: target)")
    data.add_argument("--target", help="the column to predict (default for --dataset: target)")
    data.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                      help="default: classification for text, boolean or a few integer values")
    data.add_argument("--drop", action="append", default=[], metavar="COLUMNS",
                      help="columns to leave out, comma-separated (repeatable), e.g. an id")
    data.add_argument("--validation-split", type=float, default=0.2, metavar="FRACTION",
                      help="rows held out to validate on, shuffled (default 0.2)")
    net = parser.add_argument_group("network and training")
    net.add_argument("--layers", default="128,64", help="hidden layer sizes (default 128,64)")
    net.add_argument("--activation", default="relu", help="hidden activation (default relu)")
    net.add_argument("--optimizer", default="adam", choices=sorted(optimizers.OPTIMIZERS))
    net.add_argument("--lr", type=float, default=3e-4, help="learning rate (default 0.0003)")
    net.add_argument("--batch-size", type=int, default=32,
                     help="rows per step: 1 = one example at a time, 0 = full batch (default 32)")
    net.add_argument("--epochs", type=int, default=500, help="at most this many (default 500)")
    net.add_argument("--dropout", type=float, default=0.2,
                     help="dropout rate after each hidden layer (default 0.2; 0 = off)")
    net.add_argument("--l1", type=float, default=0.0, help="L1 penalty on every weight matrix")
    net.add_argument("--l2", type=float, default=1e-4, help="L2 penalty (default 1e-4)")
    net.add_argument("--early-stopping", type=int, default=20, metavar="PATIENCE",
                     help="stop after this many epochs without a better validation loss and keep "
                          "the best weights (default 20; 0 = off)")
    net.add_argument("--no-refit", dest="refit", action="store_false",
                     help="keep the model trained on the training rows only (by default, once the "
                          "validation rows have chosen the number of epochs, the model is trained "
                          "again on all rows for that many)")
    net.add_argument("--seed", type=int, default=0, help="the same seed gives the same model")
    out = parser.add_argument_group("output")
    out.add_argument("--out", "-o", help="the model file (default: next to the data, .safetensors)")
    out.add_argument("--force", action="store_true", help="overwrite existing output files")
    out.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args):
    comm = distributed.world()  # None unless started by an MPI launcher with several processes
    if comm is not None:  # each process reads its part of the rows; process 0 reports and writes
        comm.begin("glassnet train")
        args.quiet = args.quiet or comm.rank > 0
    frame, source = _read(args, comm)
    target_name = args.target or ("target" if args.dataset else None)
    dropped = [c.strip() for spec in args.drop for c in spec.split(",") if c.strip()]
    _check_columns(frame, source, target_name, dropped)
    outputs = _output_paths(args, source)
    require("matplotlib", "plots", "the picture of the training curves")
    require("sklearn", "cli", "glassnet train")

    missing_target = _total(comm, int(frame[target_name].isna().sum()))
    frame = frame[frame[target_name].notna()]
    rows = _total(comm, len(frame))
    if rows < 2:
        raise DataError(f"{source} has {rows} row(s) with a target value; at least 2 are needed")
    target = TargetEncoder.fit(frame[target_name], None if args.task == "auto" else args.task, comm)
    features = frame.drop(columns=[target_name, *dropped])
    if features.shape[1] == 0:
        raise DataError(f"{source} has no columns left to learn from after the target and --drop")
    train_rows, val_rows = _split(frame, target, args)
    preprocessor = TablePreprocessor.fit(features.iloc[train_rows], comm)
    n_train = _total(comm, len(train_rows))
    n_val = 0 if val_rows is None else _total(comm, len(val_rows))
    table = TableModel(None, preprocessor, target, dropped)

    x_train, _ = preprocessor.transform(features.iloc[train_rows])
    y_train = target.encode(frame[target_name].iloc[train_rows])
    validation = None
    if val_rows is not None:
        x_val, _ = preprocessor.transform(features.iloc[val_rows])
        validation = (x_val, target.encode(frame[target_name].iloc[val_rows]))

    model = _network(args, target, x_train.shape[1])
    table.model = model
    _say(args, _intro(source, rows, target, preprocessor, model, args, missing_target, n_train, n_val))
    stopper = None
    fit_callbacks = []
    if args.early_stopping and validation is not None:
        stopper = callbacks.EarlyStopping(monitor="val_loss", patience=args.early_stopping,
                                          restore_best_weights=True)
        fit_callbacks.append(stopper)
    history = model.fit(x_train, y_train, batch_size=args.batch_size or None, epochs=args.epochs,
                        validation_data=validation, callbacks=fit_callbacks + _progress(args, "epoch"),
                        verbose=0, distributed="shards")
    if stopper is not None and stopper.stopped_epoch is not None:
        _say(args, f"stopped early after epoch {stopper.stopped_epoch + 1}: no better validation loss "
                   f"for {args.early_stopping} epochs; kept the weights of epoch {stopper.best_epoch + 1}")
    if target.task == "regression":
        target.fold_into(model)
    scored_on = "validation" if validation else "training"
    x_score, y_score = validation or (x_train, y_train)
    scores = table.scores(_everyone(comm, y_score), _everyone(comm, table.outputs(x_score)))

    refit = None
    if args.refit and validation is not None:
        # The validation rows chose the number of epochs; the final model learns from every row.
        refit = {"rows": rows, "epochs": len(history.epoch) if stopper is None or stopper.best_epoch is None
                 else stopper.best_epoch + 1}
        _say(args, f"refitting on all {refit['rows']} rows for {refit['epochs']} epochs")
        preprocessor = table.features = TablePreprocessor.fit(features, comm)
        x_all, _ = preprocessor.transform(features)
        model = table.model = _network(args, target, x_all.shape[1])
        model.fit(x_all, target.encode(frame[target_name]), batch_size=args.batch_size or None,
                  epochs=refit["epochs"], callbacks=_progress(args, "refit"), verbose=0, distributed="shards")
        model.history = history  # the curves that chose the epochs, with validation
        if target.task == "regression":
            target.fold_into(model)

    model.preprocessing = table.preprocessing_config()
    model.metadata = {"training": {
        "data": source, "rows": rows, "train_rows": n_train, "validation_rows": n_val, "target": target_name,
        "task": target.task, "options": {k: v for k, v in vars(args).items() if k not in ("run", "func")},
        "epochs_run": len(history.epoch), "best_epoch": None if stopper is None or stopper.best_epoch is None
        else stopper.best_epoch + 1, "refit": refit, "scores": {scored_on: scores},
        "glassnet_version": __version__, "date": datetime.datetime.now().isoformat(timespec="seconds")}}

    if comm is not None:
        comm.end()
        if comm.rank:
            return 0
    model.save(outputs["model"], overwrite=True)
    diagnosis = plot_history(history, outputs["plot"], title=f"{os.path.basename(source)}: {target_name}")
    report = {"scores": {scored_on: scores}, "task": target.task, "history": history.history,
              "epochs_run": len(history.epoch), "diagnosis": None if diagnosis is None else str(diagnosis)}
    atomic.write_text(outputs["metrics"], json.dumps(report, indent=2) + "\n")

    if diagnosis is not None:
        _say(args, str(diagnosis))
    print(f"{scored_on}: {format_scores(scores)}")
    _say(args, "wrote " + ", ".join(outputs.values()))
    return 0


def _total(comm, count):
    """``count`` summed over all processes (itself on one)."""
    return count if comm is None else comm.total(count)


def _everyone(comm, array):
    """Every process's rows of ``array``, in rank order (itself on one)."""
    return array if comm is None else comm.concatenate(array)


def _progress(args, label):
    """One progress bar over the epochs (a line per epoch would be hundreds of lines)."""
    return [] if args.quiet else [TrainingBar(label)]


def _say(args, text):
    if not args.quiet:
        print(text)


def _read(args, comm):
    """The table (with ``comm``, this process's part of its rows) and its name."""
    if (args.data is None) == (args.dataset is None):
        raise ConfigurationError("give either a data file or --dataset NAME (one of: "
                                 f"{', '.join(tables.BUILTIN_DATASETS)})")
    part = None if comm is None else (comm.rank, comm.size)
    if args.dataset:
        return tables.builtin_dataset(args.dataset, part), args.dataset
    return tables.read_table(args.data, part), args.data


def _check_columns(frame, source, target, dropped):
    columns = ", ".join(map(str, frame.columns))
    if target is None:
        raise ConfigurationError(f"--target is required: which column of {source} should the model "
                                 f"predict? Columns: {columns}")
    for name, what in [(target, "target")] + [(d, "--drop") for d in dropped]:
        if name not in frame.columns:
            raise DataError(f"{what} column {name!r} is not in {source}; its columns are: {columns}")
    if target in dropped:
        raise ConfigurationError(f"the target {target!r} cannot also be dropped")


def _output_paths(args, source):
    """The model file, and next to it the metrics JSON and the PNG; each checked before training."""
    model = args.out or (os.path.splitext(source)[0] + ".safetensors")
    stem = os.path.splitext(model)[0]
    paths = {"model": model, "metrics": stem + ".metrics.json", "plot": stem + ".png"}
    for path in paths.values():
        tables.check_output_path(path, args.force)
    return paths


def _split(frame, target, args):
    """Shuffled row positions for training and validation (stratified by class when every class
    has at least two rows): ``(train_rows, val_rows or None)``."""
    from sklearn.model_selection import train_test_split  # the cli extra, checked by run
    fraction = args.validation_split
    if not 0 <= fraction < 1:
        raise ConfigurationError(f"--validation-split must be in [0, 1), got {fraction}")
    rows = np.arange(len(frame))
    if fraction == 0:
        return rows, None
    stratify = None
    if target.task == "classification":
        labels = target.encode(frame[target.name])
        counts = np.bincount(labels, minlength=target.n_classes)
        if counts.min() >= 2 and round(len(rows) * fraction) >= target.n_classes:
            stratify = labels
    train, val = train_test_split(rows, test_size=fraction, random_state=args.seed, stratify=stratify)
    if len(train) == 0 or len(val) == 0:
        raise DataError(f"--validation-split {fraction} of {len(rows)} rows leaves no rows for training "
                        "or validation")
    return np.sort(train), np.sort(val)


def _network(args, target, n_inputs):
    if target.task == "classification":
        units, output_activation, loss = networks.classification_head(target.n_classes)
        metrics = ["accuracy"]
    else:
        units, output_activation, loss, metrics = 1, None, "mse", ["mae"]
    sizes = [int(s) for s in args.layers.split(",")] if args.layers.strip() else []
    model = networks.dense_network(n_inputs, networks.hidden_sizes(sizes, "--layers"), units,
                                   activation=args.activation, output_activation=output_activation,
                                   dropout=args.dropout, l1=args.l1, l2=args.l2, seed=args.seed)
    optimizer = lookup(optimizers.OPTIMIZERS, args.optimizer, "optimizer")(learning_rate=args.lr)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model


def _intro(source, rows, target, preprocessor, model, args, missing_target, n_train, n_val):
    kinds = [c["kind"] for c in preprocessor.columns]
    if target.task == "classification":
        shown = ", ".join(map(str, target.classes[:10])) + (", ..." if target.n_classes > 10 else "")
        task = f"classification, {target.n_classes} classes: {shown}"
    else:
        task = f"regression (mean {target.mean:.4g}, std {target.std:.4g})"
    how = target.reason
    sizes = [str(preprocessor.feature_names.__len__())] + [
        f"{layer.units} {layer.activation.name if layer.activation else 'linear'}"
        for layer in model.layers if hasattr(layer, "units")]
    lines = [f"data: {source}, {rows} rows, target {target.name!r}",
             f"task: {task} ({how})",
             f"inputs: {kinds.count('numeric')} numeric columns standardized, "
             f"{kinds.count('categorical')} categorical one-hot encoded -> {len(preprocessor.feature_names)} inputs"]
    missing = {c["name"]: c["missing"] for c in preprocessor.columns if c["missing"]}
    if missing:
        lines.append("missing values imputed (training rows): " + ", ".join(f"{k} {v}" for k, v in missing.items()))
    for column in preprocessor.columns:
        if column["kind"] == "categorical" and len(column["categories"]) > max(50, n_train // 2):
            lines.append(f"note: {column['name']!r} has {len(column['categories'])} distinct values in "
                         f"{n_train} rows, like an identifier; consider --drop {column['name']}")
    if missing_target:
        lines.append(f"left out {missing_target} row(s) without a target value")
    lines.append(f"network: {' -> '.join(sizes)} ({model.count_params():,} parameters), "
                 f"{args.optimizer} lr {args.lr:g}, batch {args.batch_size or 'full'}"
                 + (f", dropout {args.dropout:g}" if args.dropout else "")
                 + (f", L1 {args.l1:g}" if args.l1 else "") + (f", L2 {args.l2:g}" if args.l2 else ""))
    lines.append(f"training on {n_train} rows, validating on {n_val}")
    return "\n".join(lines)
