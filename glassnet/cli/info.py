"""``glassnet info``: what is in a model file, without running it."""
import json

from ..callbacks import checkpoint
from ..errors import ModelFileError
from ..io import model_file, schema
from ..network import Network
from ..tabular.files import printable
from ..tabular.model import TableModel
from ..tabular import networks
from ..tabular.columns import EMBEDDED, OTHER, date_features, id_count

SHOWN_COLUMNS = 12


def register(subparsers):
    parser = subparsers.add_parser(
        "info", help="show a model file's architecture, preprocessing and training",
        description="Show what a model file holds: the layers and their parameter counts, the "
                    "compile settings, the preprocessing of the table's columns, and how and on "
                    "what it was trained.")
    parser.add_argument("model", help="a model file (.safetensors)")
    parser.add_argument("--json", action="store_true", help="print the metadata as JSON instead")
    parser.set_defaults(run=run)


def run(args):
    file = model_file.read(args.model)
    if args.json:
        print(json.dumps(file.fields, indent=2))
        return 0
    model = Network.from_file(file)  # the file is read and checked once (a Sequential or a graph Model)
    try:
        _show(args, file, model)
    except ModelFileError as error:
        raise ModelFileError(f"{args.model}: {error}") from None
    return 0


def _show(args, file, model):
    """Print what the model file holds; its fields are checked as they are read."""
    _say(f"{args.model}: glassnet model file, format version {file.format_version}, written by "
          f"glassnet {file.glassnet_version}")
    print()
    model.summary(print_fn=_say)
    compiled = file.fields.get("compile")
    if compiled:
        _say(f"\ncompiled: loss {model.loss!r}, optimizer {model.optimizer!r}"
              + (f", metrics {', '.join(_metric_names(compiled['metrics']))}" if compiled["metrics"] else ""))
    estimator = model.metadata.get("sklearn")
    if estimator:
        schema.fields("metadata.sklearn", estimator, ("estimator", "params", "fitted"))
        schema.string("metadata.sklearn.estimator", estimator["estimator"])
        params = ", ".join(f"{k}={v!r}" for k, v in schema.mapping("metadata.sklearn.params", estimator["params"]).items())
        _say(f"saved by scikit-learn's {estimator['estimator']}({params}); "
              f"load it with glassnet.sklearn.{estimator['estimator']}.load")
    if file.fields.get("training_state"):
        position = file.fields["training_state"].get("position")
        position = position and checkpoint.checked_position(position, model)
        _say(f"optimizer state included (step {file.fields['training_state']['optimizer']['iterations']}"
              + (f", epoch {position['epoch']}, batch {position['batch']}" if position else "") + ")")
    if TableModel.is_table(model):
        _preprocessing(TableModel.from_model(model, args.model))
    _training(_training_metadata(model.metadata.get("training")), model.history)


def _metric_names(metrics):
    """The metrics of a compile config: a list of names (Sequential), or one list per output (Model)."""
    return [str(m) for item in metrics for m in (item if isinstance(item, list) else [item])]


def _preprocessing(table):
    target = table.target
    _say(f"\ntarget: {target.name!r}, {target.task}"
          + (f", classes: {', '.join(map(str, target.classes))}" if target.task == "classification"
             else f" (trained on (y - {target.mean:.4g}) / {target.std:.4g}, folded back into the last layer)"))
    columns = table.features.columns
    embeddings = networks.embeddings(table.model)  # checked by from_model: one per embedded column
    _say(f"input columns ({len(columns)}):")
    for column in columns[:SHOWN_COLUMNS]:
        missing = f", {column['missing']} missing in training " + ("(id 0)" if column["kind"] == EMBEDDED else "(imputed)")
        missing = missing if column["missing"] else ""
        _say(f"  {column['name']}: {_encoding(column, embeddings.get(column['name']))}{missing}")
    if len(columns) > SHOWN_COLUMNS:
        _say(f"  ... and {len(columns) - SHOWN_COLUMNS} more (glassnet info --json shows them all)")
    if table.dropped:
        _say(f"left out: {', '.join(table.dropped)}")
    for name, reason in table.features.left_out.items():
        _say(f"left out {name}: {reason}")
    if table.features.markers:
        _say("read as missing: empty cells and " + ", ".join(repr(m) for m in table.features.markers if m))


def _encoding(column, embedding=None):
    """How a column of the preprocessing becomes inputs, in words (``embedding``: the layer that
    reads an embedded column's ids)."""
    if column["kind"] == "numeric":
        return f"numeric, standardized with mean {column['mean']:.4g}, std {column['std']:.4g}"
    if column["kind"] == "date":
        return "date, split into " + ", ".join(date_features(column["parts"]))
    if column["kind"] == EMBEDDED:
        count = id_count(column)
        shown = ", ".join(column["categories"][:8]) + (", ..." if len(column["categories"]) > 8 else "")
        return (f"embedded by {embedding.name} (Embedding({count}, {embedding.output_dim})): ids 1-{count - 1} for "
                f"{shown or 'no category'}; 0 {OTHER!r} for the other {column['other']}, missing and unseen values")
    shown = ", ".join(column["categories"][:8]) + (", ..." if len(column["categories"]) > 8 else "")
    other = (f" and '(other)' for {column['other']} less frequent ones" if column.get("other") else "")
    return f"categorical, one-hot over {len(column['categories'])} categories ({shown}){other}"


def _training_metadata(training):
    """``metadata["training"]`` (what ``TableModel.fit`` keeps) checked for what is shown, or None."""
    if training is None:
        return None
    schema.fields("metadata.training", training, ("data", "train_rows", "validation_rows", "date",
                  "glassnet_version", "options", "epochs_run", "best_epoch", "scores"),
                  ("rows", "target", "task", "refit"))
    for key in ("data", "date", "glassnet_version"):
        schema.string(f"metadata.training.{key}", training[key])
    for key in ("train_rows", "validation_rows", "epochs_run"):
        schema.integer(f"metadata.training.{key}", training[key])
    if training["best_epoch"] is not None:
        schema.integer("metadata.training.best_epoch", training["best_epoch"])
    options = schema.mapping("metadata.training.options", training["options"])
    schema.string("metadata.training.options.optimizer", options.get("optimizer"))
    schema.number("metadata.training.options.lr", options.get("lr", options.get("learning_rate")))
    if options.get("batch_size") is not None:
        schema.integer("metadata.training.options.batch_size", options["batch_size"])
    _checked_class_weight(options.get("class_weight"))
    for name in schema.listing("metadata.training.options.embed", options.get("embed", [])):
        schema.string("metadata.training.options.embed", name)
    if options.get("embedding_l2") is not None:
        schema.number("metadata.training.options.embedding_l2", options["embedding_l2"], low=0)
    if training.get("refit") is not None:
        refit = schema.fields("metadata.training.refit", training["refit"], ("rows", "epochs"))
        for key in ("rows", "epochs"):
            schema.integer(f"metadata.training.refit.{key}", refit[key])
    for part, scores in schema.mapping("metadata.training.scores", training["scores"]).items():
        for name, value in schema.mapping(f"metadata.training.scores[{part!r}]", scores).items():
            schema.number(f"metadata.training.scores[{part!r}][{name!r}]", value, finite=False)
    return training


def _checked_class_weight(weights):
    """The class weights of the training options: None, "balanced", or weights >= 0 by label."""
    where = "metadata.training.options.class_weight"
    if isinstance(weights, dict):
        for label, weight in weights.items():
            schema.number(f"{where}[{label!r}]", weight, low=0)
    elif weights not in (None, "balanced"):
        schema.refuse(where, "null, 'balanced' or an object of weights by label", weights)


def _training(training, history):
    """How the saved model was trained: after a refit, on all rows for the number of epochs a first
    run (the one scored, on the rows it held out) chose."""
    if training:
        options, refit = training["options"], training.get("refit")
        learning_rate = options.get("lr", options.get("learning_rate"))  # glassnet train's, or TableModel.fit's
        _say(f"\ntrained on {training['data']} on {training['date']} with glassnet {training['glassnet_version']}: "
             f"{options['optimizer']} lr {learning_rate:g}, batch {options.get('batch_size') or 'full'}"
             + _class_weight_words(options.get("class_weight"))
             + (f", --embed {','.join(options['embed'])}" if options.get("embed") else "")
             + (f" (L2 {options['embedding_l2']:g} on the embeddings)" if options.get("embedding_l2") is not None else ""))
        run = (f"{training['train_rows']} rows, validated on {training['validation_rows']}, "
               f"for {training['epochs_run']} epochs" + (f", best epoch {training['best_epoch']}" if training["best_epoch"] else ""))
        if refit:
            _say(f"  the saved model: refit on all {refit['rows']} rows for {refit['epochs']} epochs, the number "
                 f"chosen by a first run (on {run}; scored below)")
        else:
            _say(f"  the saved model: trained on {run}")
        for part, scores in training["scores"].items():
            _say(f"  {part}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    elif history is not None and history.epoch:
        last = {k: v[-1] for k, v in history.history.items()}
        _say(f"\ntrained for {len(history.epoch)} epochs; last: " + ", ".join(f"{k} {v:.4f}" for k, v in last.items()))


def _class_weight_words(weights):
    """The class weights of the training options in words, after a comma ("" without them)."""
    if weights is None:
        return ""
    if weights == "balanced":
        return ", class weight balanced"
    return ", class weights " + ", ".join(f"{label} {weight:g}" for label, weight in weights.items())


def _say(text=""):
    """Print a line made of the file's strings, escaped (a leading newline: a blank line first)."""
    if text.startswith("\n"):
        print()
    print(printable(text.removeprefix("\n")))
