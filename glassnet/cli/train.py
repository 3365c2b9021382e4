"""``glassnet train``: a table in, a trained model file out, with a report of how it went. The
training itself is ``tabular.model.TableModel.fit``; this module parses the options, reads the
table, prints, and writes the files."""
import argparse
import json
import os
import time

from .. import checks, distributed, optimizers
from ..callbacks import TrainingBar
from ..errors import ConfigurationError
from ..extras import require
from ..io import atomic
from ..plotting import plot_history
from ..tabular import files as tables
from ..tabular.model import TableModel, format_scores

EXAMPLES = """examples:
  glassnet train --dataset digits                     a built-in data set, no file needed
  glassnet train houses.csv --target price            regression (numeric target)
  glassnet train churn.parquet --target churned --drop customer_id --layers 128,64 --dropout 0.3
  glassnet train data.csv --target y --batch-size 1   stochastic gradient descent, one row at a time
  glassnet train flights.csv --target arr_delay --embed tailnum,dest    an Embedding per text column
  glassnet train flights.csv --target arr_delay --embed auto   embed every text column of over 100 categories
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
    data.add_argument("--keep", action="append", default=[], metavar="COLUMNS",
                      help="columns to use even though they look like an index or an identifier "
                           "(comma-separated, repeatable)")
    data.add_argument("--embed", action="append", default=[], metavar="COLUMNS",
                      help="text columns to embed instead of one-hot encoding (comma-separated, repeatable): "
                           "each becomes integer ids (one per category seen in at least 2 training rows, 0 for "
                           "the rest, missing and unseen values), a network input of its own read by an Embedding; "
                           "'auto' embeds every text column of more than 100 categories (default: none)")
    data.add_argument("--na-values", action="append", default=[], metavar="TEXTS",
                      help="more text that marks a missing value, comma-separated (repeatable); "
                           f"always: empty, {', '.join(m for m in tables.MISSING_MARKERS if m)}")
    data.add_argument("--stream", dest="stream", action="store_const", const=True, default="auto",
                      help="read a Parquet table a chunk at a time instead of whole, for tables larger than "
                           "memory (the default when its decoded size is over a quarter of the memory available)")
    data.add_argument("--no-stream", dest="stream", action="store_const", const=False,
                      help="read the table whole into memory, however large")
    data.add_argument("--validation-split", type=checks.option(float, checks.number, low=0, high=1, high_open=True),
                      default=0.2, metavar="FRACTION",
                      help="rows held out to validate on, shuffled (default 0.2)")
    net = parser.add_argument_group("network and training")
    net.add_argument("--layers", type=_checked_layers, default="128,64", help="hidden layer sizes (default 128,64)")
    net.add_argument("--activation", default="relu", help="hidden activation (default relu)")
    net.add_argument("--optimizer", default="adam", choices=sorted(optimizers.OPTIMIZERS))
    net.add_argument("--lr", dest="learning_rate", metavar="LR", type=checks.option(float, checks.number, low=0, low_open=True),
                     help="learning rate (default 0.0003; from 45,000 training rows on 0.0003 x sqrt(batch/32))")
    net.add_argument("--batch-size", type=checks.option(int, checks.nonnegative_int),
                     help="rows per step: 1 = one example at a time, 0 = full batch (default: 32 up to "
                          "45,000 training rows, then rows/1000 as a power of two, at most 1024)")
    net.add_argument("--epochs", type=checks.option(int, checks.positive_int), default=500, help="at most this many (default 500)")
    net.add_argument("--dropout", type=checks.option(float, checks.number, low=0, high=1, high_open=True),
                     help="dropout rate after each hidden layer (default 0.2, 0 from 45,000 training rows on; 0 = off)")
    net.add_argument("--l1", type=checks.option(float, checks.number, low=0), default=0.0, help="L1 penalty on every weight matrix")
    net.add_argument("--l2", type=checks.option(float, checks.number, low=0),
                     help="L2 penalty (default 1e-4, 0 from 45,000 training rows on)")
    net.add_argument("--early-stopping", type=checks.option(int, checks.nonnegative_int), default=20, metavar="PATIENCE",
                     help="stop after this many epochs without a better validation loss (from 45,000 "
                          "training rows on: better by more than 0.001) and keep the best weights "
                          "(default 20; 0 = off)")
    net.add_argument("--refit", dest="refit", action="store_const", const=True, default="auto",
                     help="once the validation rows have chosen the number of epochs, train again on "
                          "all rows for that many (the default below 100,000 training rows)")
    net.add_argument("--no-refit", dest="refit", action="store_const", const=False,
                     help="keep the model trained on the training rows only (the default from "
                          "100,000 training rows on)")
    net.add_argument("--seed", type=checks.option(int, checks.seed), default=0, help="the same seed gives the same model")
    net.add_argument("--class-weight", type=_class_weight, metavar="balanced|JSON",
                     help="weigh the classes in the loss: 'balanced' (each class as much as any other: "
                          "rows / (classes * rows of the class)) or a JSON object of labels, e.g. "
                          "'{\"yes\": 3, \"no\": 1}' (classes left out weigh 1)")
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
    say = (lambda text: None) if args.quiet else print
    say(f"reading {tables.printable(args.data or args.dataset)}")
    started = time.perf_counter()
    frame, source = _read(args, comm, say)
    if isinstance(frame, tables.ParquetTable):
        say(f"streaming {frame.rows} rows, {len(frame.columns)} columns in {len(frame.pieces)} row groups, "
            f"a chunk at a time")
    else:
        say(f"read {len(frame)} rows, {frame.shape[1]} columns in {time.perf_counter() - started:.1f}s")
    target = args.target or ("target" if args.dataset else None)
    if target is None:
        raise ConfigurationError(f"--target is required: which column of {source} should the model "
                                 f"predict? Columns: {', '.join(map(str, frame.columns))}")
    outputs = _output_paths(args, source)
    require("matplotlib", "plots", "the picture of the training curves")
    require("sklearn", "cli", "glassnet train")
    table, training = TableModel.fit(
        frame, target, drop=_names(args.drop), keep=_names(args.keep), embed=_names(args.embed),
        na_values=_names(args.na_values),
        task=args.task, layers=_layers(args.layers), activation=args.activation, optimizer=args.optimizer,
        learning_rate=_auto(args.learning_rate), batch_size="auto" if args.batch_size is None else args.batch_size or None,
        epochs=args.epochs, dropout=_auto(args.dropout), l1=args.l1, l2=_auto(args.l2), early_stopping=args.early_stopping, validation_split=args.validation_split,
        refit=args.refit, seed=args.seed, class_weight=args.class_weight, source=source, comm=comm,
        progress=None if args.quiet else lambda stage: [TrainingBar(stage)], log=None if args.quiet else print,
        options={k: v for k, v in vars(args).items() if k not in ("run", "func")})
    if comm is not None:
        comm.end()
        if comm.rank:
            return 0
    _write(table, training, outputs, args.force, args.quiet)
    return 0


def _write(table, training, outputs, force, quiet):
    """The model file, the metrics JSON and the picture, written as one set (``io.atomic``: never a
    mix of two runs; the model is placed first, so without ``force`` it claims the set); the
    verdict and the scores printed."""
    with atomic.atomic_paths(list(outputs.values()), overwrite=force) as (model, metrics, plot):
        table.model.save(model)
        units = table.target.name if table.target.task == "regression" else None
        diagnosis = plot_history(training.history, plot, file_format="png", metric_units=units,
                                 validation_rows=training.validation_rows or None,
                                 title=f"{os.path.basename(training.source)}: {table.target.name}")
        scores = {training.scored_on: training.scores}
        report = {"scores": scores, "task": table.target.task, "history": training.history.history,
                  "history_errors_in_units_of": units,
                  "epochs_run": training.epochs_run, "diagnosis": None if diagnosis is None else str(diagnosis)}
        atomic.write_text(metrics, json.dumps(report, indent=2) + "\n")
    if diagnosis is not None and not quiet:
        print(diagnosis)
    print(f"{training.scored_on}: {format_scores(training.scores)}")
    if not quiet:
        print("wrote " + tables.printable(", ".join(outputs.values())))


def _names(specs):
    """The comma-separated names of a repeatable option, as one list."""
    return [name.strip() for spec in specs for name in spec.split(",") if name.strip()]


def _auto(value):
    """An option's value, or "auto" (``TableModel.fit`` picks it from the rows) when not given."""
    return "auto" if value is None else value


def _layers(text):
    """``--layers 128,64`` as sizes (an empty text: no hidden layer), checked."""
    try:
        return list(checks.positive_ints("--layers", [int(s) for s in text.split(",")] if text.strip() else []))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected layer sizes such as 128,64, got {text!r}") from None


def _class_weight(text):
    """The argparse type of ``--class-weight``: "balanced", or a JSON object {label: weight >= 0}."""
    if text == "balanced":
        return text
    try:
        weights = json.loads(text)
    except ValueError:
        weights = None
    if not isinstance(weights, dict) or not weights:
        raise argparse.ArgumentTypeError(f"expected 'balanced' or a JSON object such as '{{\"yes\": 3, \"no\": 1}}', "
                                         f"got {tables.printable(text)!r}")
    try:
        return {label: checks.number(f"the weight of {tables.printable(label)!r}", weight, low=0)
                for label, weight in weights.items()}
    except ConfigurationError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _checked_layers(text):
    """The argparse type of ``--layers``: the text, once ``_layers`` accepts it (the model file
    records the options as they were typed)."""
    _layers(text)
    return text


def _read(args, comm, say):
    """The table and its name: a DataFrame (with ``comm``, of this process's part of its rows),
    or a ``ParquetTable`` to stream (``--stream``, or a Parquet table too large, ``_streams``)."""
    if (args.data is None) == (args.dataset is None):
        raise ConfigurationError("give either a data file or --dataset NAME (one of: "
                                 f"{', '.join(tables.BUILTIN_DATASETS)})")
    part = None if comm is None else (comm.rank, comm.size)
    if args.dataset:
        if args.stream is True:
            raise ConfigurationError("--stream reads a Parquet file or folder; a built-in data set is small")
        return tables.builtin_dataset(args.dataset, part), args.dataset
    if args.stream is True or (args.stream == "auto" and comm is None and tables.is_parquet(args.data)):
        table = tables.open_parquet(args.data, _names(args.na_values))
        if _streams(args.stream, table, say):
            return table, args.data
    return tables.read_table(args.data, part, _names(args.na_values)), args.data


def _streams(stream, table, say):
    """Whether to stream ``table``: ``--stream``, or by default when its decoded size is over a
    quarter of the memory available (reading it whole takes several times that), said."""
    if stream is True:
        return True
    available = tables.available_memory()
    if available is None or table.bytes * 4 <= available:
        return False
    say(f"the table takes {_size(table.bytes)} decoded, over a quarter of the {_size(available)} of memory "
        "available: streaming it (--no-stream reads it whole)")
    return True


def _size(count):
    """A number of bytes in MiB or GiB."""
    return f"{count / 2 ** 30:.1f} GiB" if count >= 2 ** 30 else f"{count / 2 ** 20:.1f} MiB"


def _output_paths(args, source):
    """The model file, and next to it the metrics JSON and the PNG; each checked before training."""
    model = args.out or (os.path.splitext(source)[0] + ".safetensors")
    stem = os.path.splitext(model)[0]
    paths = {"model": model, "metrics": stem + ".metrics.json", "plot": stem + ".png"}
    for path in paths.values():
        tables.check_output_path(path, args.force)
    return paths
