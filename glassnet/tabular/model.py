"""``TableModel``: a network with the steps from a table's raw columns to its inputs and from its
outputs to the user's labels or values; ``TableModel.fit`` trains one from a DataFrame, which is
all that ``glassnet train`` does between reading the table and writing the files:

    table, training = TableModel.fit(frame, "price", drop=["id"], epochs=200)
    outputs, report = table.predict(new_rows)      # values, or one probability per class
    training.scores                                # {"rmse": ..., "mae": ..., "r2": ...}

``fit`` leaves out rows without a target, infers the task, holds out ``validation_split`` of the
rows (shuffled, seeded, stratified by class), learns the preprocessing from the training rows,
trains with early stopping on the validation loss (keeping the best weights), scores the
validation rows, then trains a fresh network on all rows for the best number of epochs.

In data-parallel training each process passes its own part of the rows and ``comm`` (a
``distributed.Communicator``): counts, statistics and scores are those of all rows, and every
process ends with the same model.
"""
import dataclasses
import datetime
import math
import time

import numpy as np

from .. import callbacks
from ..errors import ConfigurationError, DataError, ModelFileError
from ..extras import require
from ..io import schema
from ..model import Sequential
from ..network import Network
from ..version import __version__
from . import networks
from .files import MISSING_MARKERS, ParquetTable, printable
from .columns import EMBEDDED, index_columns, missing_marked
from .preprocessing import TablePreprocessor, TargetEncoder, embedding_request
from .stream import StreamedTable

TASKS = ("auto", "classification", "regression")
# What the history shows besides the loss.
METRICS = {"classification": ["accuracy"], "regression": ["mae"]}
# Logged errors that scale with the target: shown in its units (times its std), not standardized.
ERRORS_IN_TARGET_UNITS = ("mae", "rmse")
# From this many training rows on, refit="auto" keeps the model the validation rows chose (benchmarks/README.md).
REFIT_ROWS = 100_000


@dataclasses.dataclass
class Training:
    """What ``TableModel.fit`` did: the facts ``glassnet train`` prints and the model file keeps."""
    source: str           # the table's name
    rows: int             # rows with a target value (of all processes)
    train_rows: int
    validation_rows: int
    history: callbacks.History  # of the run that chose the number of epochs, with validation
    best_epoch: int       # counted from 1; None without early stopping
    refit: dict           # {"rows", "epochs"} of the training on all rows, or None
    scored_on: str        # "validation", or "training" when no rows were held out
    scores: dict          # TableModel.scores of the first network on the rows scored on

    @property
    def epochs_run(self):
        return len(self.history.epoch)


class TableModel:
    """A model trained from a table, with the steps from raw columns to its inputs
    (``features``) and from its outputs to the user's labels or values (``target``)."""

    def __init__(self, model, features, target, dropped=()):
        self.model, self.features, self.target, self.dropped = model, features, target, list(dropped)

    @classmethod
    def fit(cls, data, target, *, drop=(), keep=(), embed=(), na_values=(), task="auto", layers=(128, 64), activation="relu",
            optimizer="adam", learning_rate="auto", batch_size="auto", epochs=500, dropout="auto", l1=0.0,
            l2="auto", early_stopping=20, validation_split=0.2, refit="auto", seed=0, class_weight=None, source="the table",
            comm=None, progress=None, log=None, options=None):
        """Train a model on ``data`` to predict its column ``target`` from the others but ``drop``;
        ``(table_model, Training)``. ``data`` is a DataFrame, or a ``files.ParquetTable``
        (``files.open_parquet(path)``) that is streamed: read a chunk at a time, never whole
        (``stream.py``). Columns that look like an index or an identifier are left out unless in
        ``keep``; text in ``files.MISSING_MARKERS`` and ``na_values`` is a missing value (for a
        ParquetTable, those it was opened with). ``embed`` names text columns to embed (each an
        int64 input of ids through an ``Embedding``: the network is then a graph ``gn.Model``), or
        holds "auto": those of more than ``columns.EMBED_ABOVE`` categories; the embeddings' L2 is
        ``l2`` when given, else ``networks.EMBEDDING_L2`` at every size. The settings are ``glassnet train``'s
        options (``docs/cli.md``): ``batch_size=None`` is the whole data set; ``"auto"`` (batch size,
        learning rate, dropout, L2) is ``default_settings`` of the training rows; ``refit="auto"``
        refits below ``REFIT_ROWS`` training rows;
        ``early_stopping`` the patience (0: off), ``validation_split=0`` holds out nothing;
        ``class_weight`` is None, "balanced" or ``{label: weight}`` with the target's labels (or
        their text, as ``--class-weight`` gives them).

        ``source`` names the table in messages; ``progress(stage)`` returns callbacks for each
        training (``stage`` is "epoch", then "refit"), e.g. ``lambda stage: [TrainingBar(stage)]``;
        ``log(text)`` receives the report lines as they come (``print``); ``options`` is what the
        model file records as the settings (by default these arguments)."""
        started = time.perf_counter()
        progress = progress or (lambda stage: [])
        log = log or (lambda text: None)
        settings = {"task": task, "layers": networks.hidden_sizes(layers, "layers"), "activation": activation,
                    "optimizer": optimizer, "learning_rate": learning_rate, "batch_size": batch_size,
                    "epochs": epochs, "dropout": dropout, "l1": l1, "l2": l2, "early_stopping": early_stopping,
                    "validation_split": validation_split, "refit": refit, "seed": seed,
                    "class_weight": class_weight, "min_delta": "auto", "embed": _embed_setting(embed)}
        if task not in TASKS:
            raise ConfigurationError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
        if not 0 <= validation_split < 1:
            raise ConfigurationError(f"validation_split must be in [0, 1), got {validation_split}")
        drop, keep, embed = list(drop), list(keep), settings["embed"]
        _check_columns(data.columns, source, target, drop, keep, embedding_request(embed)[0])
        task = None if task == "auto" else task
        if isinstance(data, ParquetTable):
            if na_values:
                raise ConfigurationError("a ParquetTable reads the missing-value markers it was opened with: "
                                         "pass na_values to files.open_parquet")
            data = _streamed_rows(data, target, drop, keep, embed, task, validation_split, seed, source, comm, log)
        else:
            data = _frame_rows(data, target, drop, keep, embed, [*MISSING_MARKERS, *na_values], task,
                               validation_split, seed, source, comm)
        encoder, n_train, n_val = data.encoder, data.n_train, data.n_val
        table = cls(None, data.features, encoder, drop)
        settings["embedding_l2"] = networks.EMBEDDING_L2 if l2 == "auto" else l2
        settings.update({k: v for k, v in default_settings(n_train).items() if settings[k] == "auto"})
        batch_size, learning_rate, dropout, l2 = (settings[k] for k in ("batch_size", "learning_rate", "dropout", "l2"))
        weights = _class_weight_by_index(class_weight, encoder, data.streamed)
        preprocessed = time.perf_counter() - started
        outputs = encoder.n_classes if encoder.task == "classification" else 1

        def network(features):
            return networks.compiled_network(
                None, settings["layers"], networks.output_head(encoder.task, outputs), activation=activation,
                optimizer=optimizer, learning_rate=learning_rate, dropout=dropout, l1=l1, l2=l2, seed=seed,
                metrics=METRICS[encoder.task], inputs=features.network_inputs(), embedding_l2=settings["embedding_l2"])

        def train(model, x, y, epochs, stage, validation=None, stopper=None):
            """Train ``model``; its target scale folded into its last layer afterwards."""
            history = model.fit(x, y, batch_size=batch_size, epochs=epochs, validation_data=validation, class_weight=weights,
                                callbacks=units + ([stopper] if stopper else []) + progress(stage), verbose=0,
                                distributed="shards" if comm is not None else False)
            if encoder.task == "regression":
                networks.fold_target_scale(model, encoder.mean, encoder.std)
            return history

        units = [_InTargetUnits(encoder.std)] if encoder.task == "regression" else []
        table.model = network(table.features)
        log(f"preprocessed in {preprocessed:.1f}s")
        log(_intro(source, data.rows, data.no_target, table, n_train, n_val, settings))
        if units:
            log(f"errors ({', '.join(METRICS['regression'])}) in units of {printable(target)!r}; the loss is the "
                "mean squared error of the standardized target")
        stopper = None
        if early_stopping and data.validation is not None:
            stopper = callbacks.EarlyStopping(monitor="val_loss", patience=early_stopping, min_delta=settings["min_delta"],
                                              restore_best_weights=True)
        history = train(table.model, *data.training, epochs, "epoch", data.validation, stopper)
        best_epoch = None if stopper is None or stopper.best_epoch is None else stopper.best_epoch + 1
        if stopper is not None and stopper.stopped_epoch is not None:
            better = f"better by more than {settings['min_delta']:g}" if settings["min_delta"] else "better"
            log(f"stopped early after epoch {stopper.stopped_epoch + 1}: no {better} validation loss "
                f"for {early_stopping} epochs; kept the weights of epoch {best_epoch}")
        x_score, y_score = data.validation or data.training
        scores = table.scores(_everyone(comm, y_score), _everyone(comm, table.outputs(x_score)))

        refitted = None
        if data.validation is not None and _refits(refit, n_train, log):
            # The validation rows chose the number of epochs; the final model learns from every row.
            refitted = {"rows": data.rows, "epochs": len(history.epoch) if best_epoch is None else best_epoch}
            log(f"refitting on all {data.rows} rows for {refitted['epochs']} epochs")
            table.features, everything = data.everything()
            table.model = network(table.features)
            train(table.model, *everything, refitted["epochs"], "refit")
            table.model.history = history  # the curves that chose the epochs, with validation

        training = Training(source, data.rows, n_train, n_val, history, best_epoch, refitted,
                            "validation" if data.validation else "training", scores)
        table.model.preprocessing = table.preprocessing_config()
        recorded = [*default_settings(0), *["embedding_l2"] * bool(table.features.embedded)]
        table.model.metadata = {"training": _metadata(training, encoder, settings if options is None else {**options, **{k: settings[k] for k in recorded}})}
        return table, training

    @classmethod
    def load(cls, path):
        """The table model in the file ``path`` (made by ``glassnet train`` or ``fit``): the
        network (a ``Sequential``, or a graph ``Model`` for embedded columns), and its preprocessing
        checked against it (``from_model``: the network's inputs those the preprocessing makes, one
        output per class or one for a value); anything wrong raises ``ModelFileError``."""
        return cls.from_model(Network.load(path), path)

    @staticmethod
    def is_table(model):
        """Whether ``model`` (a loaded ``Sequential`` or ``Model``) claims a table preprocessing."""
        return isinstance(model.preprocessing, dict) and {"features", "target"} <= set(model.preprocessing)

    @classmethod
    def from_model(cls, model, path):
        """The table model of ``model`` loaded from ``path``, its preprocessing checked."""
        config = model.preprocessing
        if not cls.is_table(model):
            raise ModelFileError(f"{path} has no table preprocessing: it was not made by 'glassnet train' "
                                 "(load it in Python with glassnet.load and call predict on arrays)")
        try:
            schema.fields("preprocessing", config, ("features", "target"), ("dropped",))
            table = cls(model, TablePreprocessor.from_config(config["features"]),
                        TargetEncoder.from_config(config["target"]),
                        [schema.string("preprocessing.dropped", name)
                         for name in schema.listing("preprocessing.dropped", config.get("dropped", []))])
            outputs = table.target.n_classes if table.target.task == "classification" else 1
            _check_network_inputs(model, table.features)
            shapes = (_input_shapes(table.features), (networks.output_head(table.target.task, outputs)[0],))
            if (model.input_shape, model.output_shape) != shapes:
                raise ModelFileError(f"the network takes {model.input_shape} and gives {model.output_shape}, but "
                                     f"the preprocessing makes {shapes[0]} and needs {shapes[1]}")
        except ModelFileError as error:
            raise ModelFileError(f"{path}: the table preprocessing is not valid: {error}") from None
        return table

    def preprocessing_config(self):
        return {"features": self.features.get_config(), "target": self.target.get_config(),
                "dropped": self.dropped}

    def predict(self, frame, where="the table"):
        """``(outputs, report)``: class probabilities (n, classes) or values (n,) for ``frame``."""
        inputs, report = self.features.transform(frame, where)
        return self.outputs(inputs), report

    def outputs(self, inputs):
        outputs = self.model.predict(inputs)
        if self.target.task == "regression":
            return outputs[:, 0]
        return networks.class_probabilities(outputs)

    def prediction_frame(self, outputs):
        """Predictions as columns: the label and one probability per class, or the value."""
        pd = require("pandas", "tables", "writing predictions")
        name = self.target.name
        if self.target.task == "regression":
            return pd.DataFrame({name: outputs})
        columns = {name: self.target.decode(outputs.argmax(axis=1))}
        for i, label in enumerate(self.target.classes):
            columns[f"probability_{label}"] = outputs[:, i]
        return pd.DataFrame(columns)

    def scores(self, encoded_targets, outputs):
        """Accuracy, macro F1 and ROC AUC (``_auc``; left out when the rows hold one class), or
        RMSE, MAE and R², of ``outputs`` against encoded targets."""
        metrics = require("sklearn.metrics", "cli", "scoring predictions")
        if not np.isfinite(outputs).all():
            raise DataError("the model's outputs are not finite numbers, so they cannot be scored: its "
                            "training diverged (lower the learning rate, --lr) or its weights are not finite")
        if self.target.task == "classification":
            predicted = outputs.argmax(axis=1)
            scores = {"accuracy": float(metrics.accuracy_score(encoded_targets, predicted)),
                      "f1": float(metrics.f1_score(encoded_targets, predicted, average="macro",
                                                   labels=np.arange(self.target.n_classes)))}
            if len(np.unique(encoded_targets)) > 1:  # an AUC needs positives and negatives
                scores["auc"] = _auc(metrics, encoded_targets, outputs)
            return scores
        truth = encoded_targets * self.target.std + self.target.mean  # back to the user's units
        return {"rmse": float(np.sqrt(metrics.mean_squared_error(truth, outputs))),
                "mae": float(metrics.mean_absolute_error(truth, outputs)),
                "r2": float(metrics.r2_score(truth, outputs))}

    def confusion_matrix(self, encoded_targets, outputs):
        pd = require("pandas", "tables", "the confusion matrix")
        metrics = require("sklearn.metrics", "cli", "the confusion matrix")
        matrix = metrics.confusion_matrix(encoded_targets, outputs.argmax(axis=1),
                                          labels=np.arange(self.target.n_classes))
        labels = [str(c) for c in self.target.classes]
        return pd.DataFrame(matrix, index=[f"true {c}" for c in labels],
                            columns=[f"predicted {c}" for c in labels])


def _auc(metrics, labels, probabilities):
    """ROC AUC (scikit-learn's ``roc_auc_score``) of the second class's probability for two
    classes; for more, the macro average of the one-vs-rest AUCs of the classes that occur in
    ``labels`` (``multi_class="ovr"`` when all of them do)."""
    if probabilities.shape[1] == 2:
        return float(metrics.roc_auc_score(labels, probabilities[:, 1]))
    return float(np.mean([metrics.roc_auc_score(labels == c, probabilities[:, c]) for c in np.unique(labels)]))


def format_scores(scores):
    names = {"accuracy": "accuracy", "f1": "F1 (macro)", "auc": "AUC", "rmse": "RMSE", "mae": "MAE", "r2": "R²"}
    return ", ".join(f"{names.get(k, k)} {v:.4f}" for k, v in scores.items())


def default_settings(rows):
    """What "auto" stands for with ``rows`` training rows. Up to 45,000 rows, the settings tuned on
    small tables (batch 32, learning rate 3e-4, dropout 0.2, L2 1e-4, early stopping on any better
    validation loss); from there the batch is rows / 1000 rounded to a power of two (about 1,000
    steps an epoch; at most 1024), the learning rate grows with the square root of the batch,
    dropout and L2 are off (the rows regularize), and early stopping counts an epoch as better only
    when the validation loss drops by more than ``min_delta`` 0.001 (a thousandth of the
    standardized target's variance, or of a nat): on many rows it otherwise keeps finding tiny
    gains for hundreds of epochs (measured in benchmarks/README.md, "Tables")."""
    batch = int(min(1024, max(32, 2 ** round(math.log2(max(rows, 1) / 1000)))))
    if batch == 32:
        return {"batch_size": 32, "learning_rate": 3e-4, "dropout": 0.2, "l2": 1e-4, "min_delta": 0.0}
    return {"batch_size": batch, "learning_rate": 3e-4 * math.sqrt(batch / 32), "dropout": 0.0, "l2": 0.0,
            "min_delta": 1e-3}


def _refits(refit, n_train, log):
    """Whether to train again on all rows: ``refit`` itself, or for "auto" whether the training rows
    are fewer than ``REFIT_ROWS`` (said in the log when not)."""
    if refit != "auto":
        return bool(refit)
    if n_train < REFIT_ROWS:
        return True
    log(f"not refitting on all rows: {n_train} training rows are plenty, and a refit would double the "
        "time for little (--refit does it)")
    return False


class _InTargetUnits(callbacks.Callback):
    """Multiplies the logged errors of a standardized target (``ERRORS_IN_TARGET_UNITS``) by its
    std, so that the progress and the history show them in the target's units."""

    def __init__(self, std):
        super().__init__()
        self.std = std

    def on_train_batch_end(self, batch, logs=None):
        self._scale(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._scale(logs)

    def _scale(self, logs):
        for key in logs or {}:
            if key.removeprefix("val_") in ERRORS_IN_TARGET_UNITS:
                logs[key] *= self.std


def _total(comm, count):
    """``count`` summed over all processes (itself on one)."""
    return count if comm is None else comm.total(count)


def _everyone(comm, array):
    """Every process's rows of ``array``, in rank order (itself on one)."""
    return array if comm is None else comm.concatenate(array)


@dataclasses.dataclass
class _Rows:
    """The rows ``fit`` trains on, however they are held: the preprocessing learned from the
    training rows, the counts (over all processes), the training data ``(x, y)`` (arrays, or a
    ``Dataset`` and None), the validation arrays, and ``everything()``: the preprocessing and the
    data to refit on every row."""
    features: TablePreprocessor
    encoder: TargetEncoder
    rows: int           # with a target value
    no_target: int      # left out: no target value
    n_train: int
    n_val: int
    training: tuple
    validation: tuple   # or None
    everything: object  # () -> (TablePreprocessor, (x, y))
    streamed: bool


def _frame_rows(frame, target, drop, keep, embed, markers, task, fraction, seed, source, comm):
    """The ``_Rows`` of a DataFrame (this process's part of the rows with ``comm``): a shuffled,
    stratified holdout (``_split``), the preprocessing learned from the training rows."""
    frame = frame.copy(deep=False)
    frame[target] = missing_marked(frame[target], markers)
    indexes = {name: reason for name, reason in index_columns(frame.drop(columns=[target, *drop]), comm).items()
               if name not in keep and name not in embed}
    frame, rows, no_target = _rows_with_target(frame, target, source, comm)
    encoder = TargetEncoder.fit(frame[target], task, comm)
    features = frame.drop(columns=[target, *drop])
    if features.shape[1] == 0:
        raise DataError(f"{source} has no columns left to learn from after the target and --drop")
    y = encoder.encode(frame[target])
    train_rows, val_rows = _split(y, encoder, fraction, seed)
    columns = dict(comm=comm, markers=markers, left_out=indexes, keep=keep, embed=embed)
    preprocessor = _usable(TablePreprocessor.fit(features.iloc[train_rows], **columns), source)
    validation = None
    if val_rows is not None:
        validation = (preprocessor.transform(features.iloc[val_rows])[0], y[val_rows])

    def everything():
        preprocessor = _usable(TablePreprocessor.fit(features, **columns), source)
        return preprocessor, (preprocessor.transform(features)[0], y)

    return _Rows(preprocessor, encoder, rows, no_target, _total(comm, len(train_rows)),
                 0 if val_rows is None else _total(comm, len(val_rows)),
                 (preprocessor.transform(features.iloc[train_rows])[0], y[train_rows]), validation, everything, False)


def _streamed_rows(table, target, drop, keep, embed, task, fraction, seed, source, comm, log):
    """The ``_Rows`` of a ``ParquetTable`` read a chunk at a time (``stream.StreamedTable``): the
    training rows a ``Dataset``, the validation rows in memory; a refit streams every row through
    the same preprocessing."""
    if comm is not None:
        raise ConfigurationError("a streamed table is read by one process; on several, each reads its part of "
                                 "the rows into memory (leave out --stream)")
    if not fraction:
        raise ConfigurationError("a streamed table is scored on rows held out from it: validation_split must be "
                                 "above 0")
    streamed = StreamedTable.learn(table, target, drop=drop, keep=keep, embed=embed, task=task, validation_split=fraction,
                                   seed=seed, log=log)
    counts = streamed.counts
    _usable(streamed.features, source)
    if counts["train"] + counts["validation"] < 2 or not counts["validation"]:
        raise DataError(f"{source} has {counts['train']} training and {counts['validation']} validation rows with a "
                        "target value; at least one of each is needed")
    return _Rows(streamed.features, streamed.encoder, counts["train"] + counts["validation"], counts["no_target"],
                 counts["train"], counts["validation"], (streamed.training_rows(), None), streamed.validation,
                 lambda: (streamed.features, (streamed.training_rows(everything=True), None)), True)


def _usable(preprocessor, source):
    """``preprocessor``, refused when it leaves no column to use."""
    if not preprocessor.columns:
        reasons = "; ".join(f"{printable(name)}: {reason}" for name, reason in preprocessor.left_out.items())
        raise DataError(f"{source} has no columns left to learn from ({reasons}); --keep COLUMN uses one")
    return preprocessor


def _check_columns(columns, source, target, dropped, kept, embedded=()):
    """Refuse a target, --drop, --keep or --embed column that is not among ``columns``, and an
    embedded column that is the target or dropped."""
    for name, what in [(target, "target")] + [(d, "--drop") for d in dropped] + [(k, "--keep") for k in kept] + [
            (e, "--embed") for e in embedded]:
        if name not in columns:
            raise DataError(f"{what} column {name!r} is not in {source}; its columns are: {', '.join(map(str, columns))}")
    if target in dropped:
        raise ConfigurationError(f"the target {target!r} cannot also be dropped")
    for name in embedded:
        if name == target or name in dropped:
            raise ConfigurationError(f"--embed column {name!r} is {'the target' if name == target else 'dropped'}; "
                                     "only a feature column can be embedded")


def _embed_setting(embed):
    """``embed`` as the settings record it: the names, then "auto" if asked."""
    names, auto = embedding_request(embed)
    return names + ["auto"] * auto


def _input_shapes(features):
    """The input shape of a network for ``features``: one shape, or a list of them with embedded columns."""
    shapes = [shape for _, shape, _ in features.network_inputs()]
    return shapes[0] if len(shapes) == 1 else shapes


def _check_network_inputs(model, features):
    """Refuse a network whose inputs are not those ``features`` makes: a graph model for embedded
    columns, with their names, each embedded column's ids read by an Embedding of as many ids as
    the column has (and a Sequential otherwise)."""
    expected = features.network_inputs()
    if not features.embedded:
        if not isinstance(model, Sequential):
            raise ModelFileError(f"the network is a graph model with inputs {model.input_names}, but the "
                                 "preprocessing has no embedded column: it makes one matrix for a Sequential")
        return
    names = [name for name, _, _ in expected]
    if isinstance(model, Sequential) or list(model.input_names) != names:
        got = "a Sequential of one input" if isinstance(model, Sequential) else f"inputs {model.input_names}"
        raise ModelFileError(f"the preprocessing embeds {', '.join(repr(c['name']) for c in features.embedded)} "
                             f"and makes the inputs {names}, but the network has {got}")
    embeddings = networks.embeddings(model)
    for name, _, ids in expected:
        layer = embeddings.get(name)
        if (layer.input_dim if layer is not None else None) != ids:
            read = "is not read by one Embedding" if layer is None else \
                f"is read by an Embedding of input_dim {layer.input_dim}"
            want = "numbers" if ids is None else f"{ids} ids (its {ids - 1} categories and id 0 for the rest)"
            raise ModelFileError(f"the network's input {name!r} {read}, but the preprocessing gives it {want}")


def _rows_with_target(frame, target, source, comm):
    """``(rows of frame that have a target value, their count, the count of the others)``, the
    counts over all processes."""
    left_out = _total(comm, int(frame[target].isna().sum()))
    frame = frame[frame[target].notna()]
    rows = _total(comm, len(frame))
    if rows < 2:
        raise DataError(f"{source} has {rows} row(s) with a target value; at least 2 are needed")
    return frame, rows, left_out


def _split(y, target, fraction, seed):
    """Row positions for training and validation, each in table order (stratified by class
    when every class has at least two rows and the validation rows can hold one of each):
    ``(train_rows, val_rows or None)``."""
    rows = len(y)
    if fraction == 0:
        return np.arange(rows), None
    stratify = None
    if target.task == "classification":
        counts = np.bincount(y, minlength=target.n_classes)
        if counts.min() >= 2 and round(rows * fraction) >= target.n_classes:
            stratify = y
    train, val = networks.holdout_split(rows, fraction, seed, stratify)
    if len(train) == 0 or len(val) == 0:
        raise DataError(f"validation_split {fraction} of {rows} rows leaves no rows for training "
                        "or validation")
    return np.sort(train), np.sort(val)


def _class_weight_by_index(class_weight, encoder, streamed):
    """``class_weight`` for the loss: "balanced" as it is (``fit`` counts the classes; for
    ``streamed`` rows, from the encoder's counts: rows / (classes * rows of the class)),
    ``{label: weight}`` with the encoder's class indexes for the labels (given as they are or as
    their text)."""
    if class_weight is None:
        return None
    if encoder.task != "classification":
        raise ConfigurationError("class_weight weighs classes, and a regression has none")
    if streamed and class_weight == "balanced":
        counts = np.array(encoder.class_counts, dtype=float)
        return dict(enumerate((counts.sum() / (len(counts) * counts)).tolist()))
    if not isinstance(class_weight, dict):
        return class_weight  # "balanced", or refused by fit
    index = {str(label): i for i, label in enumerate(encoder.classes)}
    unknown = [label for label in class_weight if str(label) not in index]
    if unknown:
        raise DataError(f"class_weight names {', '.join(map(repr, unknown[:5]))}, not a class of the target; "
                        f"its classes are: {', '.join(printable(str(c)) for c in encoder.classes)}")
    return {index[str(label)]: weight for label, weight in class_weight.items()}


def _metadata(training, target, options):
    """``model.metadata["training"]``: how, when and on what the model was trained."""
    return {"data": training.source, "rows": training.rows, "train_rows": training.train_rows,
            "validation_rows": training.validation_rows, "target": target.name, "task": target.task,
            "options": options, "epochs_run": training.epochs_run, "best_epoch": training.best_epoch,
            "refit": training.refit, "scores": {training.scored_on: training.scores},
            "glassnet_version": __version__, "date": datetime.datetime.now().isoformat(timespec="seconds")}


def _intro(source, rows, left_out, table, n_train, n_val, settings):
    """What ``fit`` found and will train, before it trains (the first lines of ``glassnet train``)."""
    preprocessor, target, model = table.features, table.target, table.model
    kinds = [c["kind"] for c in preprocessor.columns]
    dates = kinds.count("date")
    dates = f", {dates} date column{'s' * (dates != 1)} split into parts" if dates else ""
    embedded = kinds.count(EMBEDDED)
    ids = f", {embedded} embedded as ids" if embedded else ""
    if target.task == "classification":
        shown = ", ".join(map(printable, target.classes[:10])) + (", ..." if target.n_classes > 10 else "")
        task = f"classification, {target.n_classes} classes: {shown}"
    else:
        task = f"regression (mean {target.mean:.4g}, std {target.std:.4g})"
    embeddings = networks.embeddings(model)
    width = " + ".join([str(len(preprocessor.feature_names))] * bool(preprocessor.feature_names) + [
        f"{printable(c['name'])} {embeddings[c['name']].output_dim}" for c in preprocessor.embedded])
    sizes = [width] + [f"{layer.units} {layer.activation.name if layer.activation else 'linear'}"
                       for layer in model.layers if hasattr(layer, "units")]
    lines = [f"data: {printable(source)}, {rows} rows, target {target.name!r}",
             f"task: {task} ({target.reason})",
             f"inputs: {kinds.count('numeric')} numeric columns standardized, "
             f"{kinds.count('categorical')} categorical one-hot encoded{dates}{ids} -> "
             f"{len(preprocessor.feature_names)} inputs" + (f" and {embedded} of ids" if embedded else ""),
             "read as missing: empty cells and " + ", ".join(repr(printable(m)) for m in preprocessor.markers if m)]
    missing = {c["name"]: f"{c['missing']}" + " (id 0)" * (c["kind"] == EMBEDDED)
               for c in preprocessor.columns if c["missing"]}
    if missing:
        lines.append("missing values imputed (training rows): "
                     + ", ".join(f"{printable(k)} {v}" for k, v in missing.items()))
    lines += map(printable, preprocessor.choices())
    if left_out:
        lines.append(f"left out {left_out} row(s) without a target value")
    lines.append(f"network: {' -> '.join(sizes)} ({model.count_params():,} parameters), "
                 f"{settings['optimizer']} lr {settings['learning_rate']:g}, batch {settings['batch_size'] or 'full'}"
                 + (f", dropout {settings['dropout']:g}" if settings["dropout"] else "")
                 + (f", L1 {settings['l1']:g}" if settings["l1"] else "")
                 + (f", L2 {settings['l2']:g}" if settings["l2"] else "")
                 + (f", L2 {settings['embedding_l2']:g} on the embeddings" if preprocessor.embedded and
                    settings["embedding_l2"] != settings["l2"] else ""))
    lines.append(f"training on {n_train} rows, validating on {n_val}")
    return "\n".join(lines)
