"""The one training loop, and the batched loops of evaluation and prediction.

Everything that trains a glassnet model (``Sequential.fit``, and later the command line, the
scikit-learn estimators and the distributed trainer) comes through ``fit`` here. One step is:

    forward:   outputs, backward = model.forward_head(x_batch, training=True)
    loss:      L, dL/doutputs = loss.unchecked_value_and_grad(y_batch, outputs, weights)
    backward:  backward(dL/doutputs) stores every parameter's gradient, layer by layer in reverse
    average:   on several processes (``glassnet.distributed``), one allreduce of the flat
               gradient buffer turns each process's gradient into that of the whole batch
    penalties: L1/L2 add their penalty to L and their gradient to the parameters'
    update:    optimizer.step(); with L1, weights that crossed 0 are set to exactly 0

The batches come from arrays (``Batches``: shuffled row numbers gathered into reused buffers) or
from a ``datasets.Dataset`` that reads them one at a time (checked as they come).
"""
import itertools

import numpy as np

from . import checks, distributed as distributed_training, regularizers, threads
from .callbacks.base import Callback, CallbackList, History
from .callbacks.progress import ProgressBar
from .datasets import Dataset
from .errors import ConfigurationError, ShapeError

# The batch size of evaluate and predict when none is given: large enough that Python's work per
# batch does not show, small enough that the activations of a batch stay in the cache.
INFERENCE_BATCH_SIZE = 256


class _Totals:
    """Running sums of the loss and of each metric's sums (``Metric.sums``) over the batches of an
    epoch; the values are computed from them at the end (``means``). Sums add up across batches
    and across processes (``merged``), and a mid-epoch checkpoint keeps them (``state``)."""

    def __init__(self, metrics, output_shape):
        self.metrics, self.output_shape = metrics, output_shape
        self.loss = 0.0
        self.examples = 0
        self.sums = [np.zeros(metric.size(output_shape)) for metric in metrics]

    def add(self, loss, y_true, outputs):
        n = rows(outputs)
        self.loss += loss * n
        self.examples += n
        for metric, sums in zip(self.metrics, self.sums):
            sums += metric.sums(y_true, outputs)

    def state(self):
        """The sums so far as JSON: the loss's, and one list per metric."""
        return {"loss": float(self.loss), "examples": self.examples, "sums": [s.tolist() for s in self.sums]}

    def load_state(self, state):
        self.loss, self.examples = float(state["loss"]), int(state["examples"])
        self.sums = [np.array(sums, dtype=np.float64) for sums in state["sums"]]

    def merged(self, states):
        """Totals of the same metrics holding the sums of ``states`` (``state()``s, added in order)."""
        merged = _Totals(self.metrics, self.output_shape)
        for state in states:
            merged.loss += state["loss"]
            merged.examples += state["examples"]
            for sums, more in zip(merged.sums, state["sums"]):
                sums += more
        return merged

    def means(self, penalty=0.0):
        logs = {"loss": self.loss / self.examples + penalty}
        for metric, sums in zip(self.metrics, self.sums):
            logs[metric.name] = metric.result(sums)
        return logs


class Batches:
    """The mini-batches of an epoch. With a shuffled ``order`` the rows of each batch are gathered
    with one ``np.take`` per array into buffers that are reused from batch to batch (a step is
    finished with its batch before the next one is gathered); without one, batches are views.
    ``x`` and ``y`` are arrays, or lists of arrays for a graph model with several inputs or
    outputs (each batch then has lists too).

    Data-parallel training plugs in with ``select(batch, rows)``: an epoch then has ``rows``
    rows (those of all processes), cut into global batches of row numbers, and ``select`` gives
    the positions, in this process's arrays, of its share of each (``DataParallel.share``)."""

    def __init__(self, x, y, weights, batch_size, rows=None, select=None):
        self.arrays, self.layout = flattened(x, y, weights)
        self.batch_size = batch_size
        self.rows = self.arrays[0].shape[0] if rows is None else rows
        self.select = select
        self.buffers = [np.empty((batch_size,) + a.shape[1:], dtype=a.dtype) for a in self.arrays]

    def epoch(self, order=None, first_batch=0):
        """Yield ``(x_batch, y_batch, weights_batch or None)`` for every batch of one epoch,
        from batch number ``first_batch`` on."""
        size = self.batch_size
        if order is None and self.select is not None:
            order = np.arange(self.rows)
        for batch, start in enumerate(range(first_batch * size, self.rows, size), first_batch):
            if order is None:
                parts = [a[start:start + size] for a in self.arrays]
            else:
                rows = order[start:start + size]
                if self.select is not None:
                    rows = self.select(batch, rows)
                parts = [np.take(a, rows, axis=0, out=buffer[:len(rows)], mode="clip")
                         for a, buffer in zip(self.arrays, self.buffers)]
            yield unflattened(parts, self.layout)


def flattened(x, y, weights):
    """``(arrays, layout)``: the arrays of ``x``, ``y`` (each an array or a list of arrays) and
    ``weights`` (an array or None) in one list, and what ``unflattened`` needs to rebuild them."""
    xs, ys = (x if isinstance(x, list) else [x]), (y if isinstance(y, list) else [y])
    layout = (len(xs) if isinstance(x, list) else None, len(ys) if isinstance(y, list) else None, weights is not None)
    return xs + ys + ([weights] if weights is not None else []), layout


def unflattened(arrays, layout):
    """``(x, y, weights or None)`` from ``flattened``'s arrays."""
    nx, ny, weighted = layout
    if nx is None and ny is None:  # one input, one output: the common case, with no slicing of lists
        return arrays[0], arrays[1], arrays[2] if weighted else None
    x_end = nx or 1
    y_end = x_end + (ny or 1)
    return (arrays[:x_end] if nx else arrays[0], arrays[x_end:y_end] if ny else arrays[x_end],
            arrays[y_end] if weighted else None)


def rows(a):
    """The number of examples in an array, or in each array of a list (a graph model's inputs)."""
    return len(a[0]) if isinstance(a, list) else len(a)


def part(a, selection):
    """The rows ``selection`` (a slice) of an array or of each array of a list, or None of None."""
    if a is None:
        return None
    return [b[selection] for b in a] if isinstance(a, list) else a[selection]


def splits_work(model):
    """Whether a layer of ``model`` deals its work to glassnet's threads (``threads.splitting``)."""
    return any(layer.splits_work for layer in model.layers)


def train_step(model, x, y, weights, parallel=None):
    """One step of gradient descent on one batch; returns the batch loss and the outputs.
    ``parallel``: the ``distributed.DataParallel`` of a fit on several processes."""
    outputs, backward = model.forward_head(x, training=True)
    loss, d_outputs = model.head_loss.unchecked_value_and_grad(y, outputs, weights)
    backward(d_outputs)
    if parallel is not None:  # None on one process
        parallel.average_gradients(rows(x))
    if model.regularized_parameters:
        penalty, orthants = regularizers.add_training_penalties(model.regularized_parameters)
        loss += penalty
    model.optimizer.step()
    if model.regularized_parameters:  # L1: a weight that crosses 0 stops at exactly 0
        regularizers.stay_in_orthants(model.regularized_parameters, orthants)
    return loss, outputs


def fit(model, x, y, *, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
        shuffle, class_weight, sample_weight, initial_epoch, distributed):
    """Train ``model`` on arrays ``(x, y)`` or on a ``datasets.Dataset`` ``x``; ``Sequential.fit``
    documents the arguments and holds their defaults. Returns the ``History``."""
    model.require_compiled("fit")
    if model.params is not None:  # built: take back shared layers another model packed since (FlatParameters.claim)
        model.params.claim()
    epochs = checks.positive_int("epochs", epochs)
    batch_size = checks.positive_int("batch_size", batch_size, allow_none=True)
    initial_epoch = checks.nonnegative_int("initial_epoch", initial_epoch)
    if initial_epoch >= epochs:
        raise ConfigurationError(f"initial_epoch must be less than epochs={epochs}, got {initial_epoch}")
    verbose = checks.verbosity(verbose)
    callbacks = _callbacks(callbacks)
    validation_split = checks.number("validation_split", validation_split, low=0, high=1, high_open=True)
    parallel = distributed_training.data_parallel(model, distributed)  # None on one process
    progress = Progress(model, parallel)
    if isinstance(x, Dataset):
        source = _DatasetBatches(model, x, y, batch_size, validation_split, sample_weight, class_weight, parallel)
    else:
        source = _ArrayBatches(model, x, y, batch_size, validation_split, sample_weight, class_weight, progress)
    validation = source.validation if validation_data is None else _validation(model, validation_data)

    steps = -(-source.rows // source.batch_size)
    verbose = 1 if verbose == "auto" else verbose
    if parallel is not None and parallel.rank:
        verbose = 0  # process 0 prints
    history = History()
    # See Callback.saves_training_state; the progress bar prints last.
    ordered = ([c for c in callbacks if not c.saves_training_state] + [history]
               + [c for c in callbacks if c.saves_training_state]
               + ([ProgressBar(verbose)] if verbose else [])
               + ([] if parallel is None else [parallel.stop_together(callbacks)]))
    hooks = CallbackList(ordered, model, {"epochs": epochs, "steps": steps, "verbose": verbose}, progress)
    model.history = history
    model.stop_training = False

    with threads.splitting(splits_work(model)):  # a convolutional network: BLAS at one thread, our threads
        try:
            batch_logs = hooks.has("on_train_batch_end")
            hooks.on_train_begin()
            resume = hooks.resume_position()  # where a restored backup stood, or None
            for epoch in range(resume["epoch"] if resume else initial_epoch, epochs):
                progress.start_epoch(epoch, resume if resume and resume["batch"] else None)
                resume = None
                hooks.on_epoch_begin(epoch)
                totals = progress.totals
                for batch, (xb, yb, wb) in enumerate(source.epoch(progress, shuffle), progress.first_batch):
                    hooks.on_train_batch_begin(batch)
                    loss, outputs = train_step(model, xb, yb, wb, parallel)
                    totals.add(loss, yb, outputs)
                    if batch_logs:
                        hooks.on_train_batch_end(batch, totals.means())
                    if model.stop_training:
                        break
                logs = (totals if parallel is None else parallel.combined(totals)).means()
                if validation is not None:
                    for key, value in _evaluate(model, validation, parallel).items():
                        logs["val_" + key] = value
                hooks.on_epoch_end(epoch, logs)
                if model.stop_training:
                    break
            hooks.on_train_end()
        except BaseException:
            if parallel is not None:  # dropout's generator and BatchNormalization's communicator back; the
                parallel.give_layers_back()  # fit stays under way, so the exit hook still stops the others
            raise
    if parallel is not None:
        parallel.finish()
    return history


class _ArrayBatches:
    """The batches of a fit on arrays (``Batches``), after the arrays are checked and the
    validation rows split off; ``rows`` counts those of all processes."""

    def __init__(self, model, x, y, batch_size, validation_split, sample_weight, class_weight, progress):
        x, y, weights = prepare(model, x, y, sample_weight, class_weight, progress.parallel)
        self.validation = None  # or the last validation_split of the rows, (x, y, weights)
        if validation_split:
            n = rows(x)
            split = int(n * (1 - validation_split))
            if split == 0 or split == n:
                raise ConfigurationError(f"validation_split={validation_split} leaves no examples for "
                                         f"training or validation out of {n}")
            self.validation = tuple(part(a, slice(split, None)) for a in (x, y, weights))
            x, y, weights = (part(a, slice(None, split)) for a in (x, y, weights))
        parallel = progress.parallel
        self.rows = rows(x) if parallel is None else parallel.start(rows(x))  # all processes' rows
        self.batch_size = self.rows if batch_size is None else min(batch_size, self.rows)
        self.batches = (Batches(x, y, weights, self.batch_size) if parallel is None else
                        Batches(x, y, weights, self.batch_size, rows=self.rows, select=parallel.selector(progress)))

    def epoch(self, progress, shuffle):
        """The batches of the epoch ``progress`` stands at, from its first batch on."""
        order = progress.shuffled_order(self.rows) if shuffle else None
        return self.batches.epoch(order, progress.first_batch)


class _DatasetBatches:
    """The batches of a fit on a ``Dataset``: each one checked as ``prepare`` checks arrays, and
    weighed by ``class_weight`` (a dict; "balanced" needs counts of the whole data set)."""

    def __init__(self, model, dataset, y, batch_size, validation_split, sample_weight, class_weight, parallel):
        _dataset_alone("fit", y, sample_weight)
        if validation_split:
            raise ConfigurationError("validation_split cannot cut a Dataset: pass validation_data=(x_val, y_val) "
                                     "or a Dataset of validation rows")
        if batch_size is None:
            raise ConfigurationError("batch_size=None would read the whole Dataset as one batch; give a batch size")
        if isinstance(class_weight, str):
            raise ConfigurationError(f"class_weight={class_weight!r} needs the class counts of the whole Dataset; "
                                     "pass them as a dict {class: weight}")
        if parallel is not None:
            raise ConfigurationError("fit on a Dataset runs on one process; train with distributed=False, "
                                     "or pass each process's rows as arrays")
        self.model, self.dataset, self.class_weight = model, dataset, class_weight
        self.rows = checks.positive_int(f"{type(dataset).__name__}.rows", dataset.rows)
        self.batch_size = min(batch_size, self.rows)
        self.validation = None
        if not model.built:  # callbacks may need the weights before the first step
            model.prepare_inputs(next(iter(dataset.batches(self.batch_size)))[0])

    def epoch(self, progress, shuffle):
        rng = progress.epoch_generator() if shuffle else None
        batches = itertools.islice(self.dataset.batches(self.batch_size, rng), progress.first_batch, None)
        return (prepare(self.model, *_batch_parts(batch), self.class_weight) for batch in batches)


class Progress:
    """Where one ``fit`` stands: the epoch, the random generator's state before the epoch's
    shuffle, the running loss and metrics, and the first batch to run. Callbacks that save or
    resume training read it as ``callback.progress`` (a checkpoint taken mid-epoch saves
    ``position(next_batch)``); data-parallel batching seeds dropout from it.

    Given a mid-epoch ``resume`` position (a checkpoint's), ``start_epoch`` continues from it
    instead: the same shuffled order (replayed from the saved generator state), the sums so far,
    and the next batch, so the rest of training is exactly what it would have been.
    """

    def __init__(self, model, parallel=None):
        self.model, self.parallel = model, parallel
        self.epoch = None

    @property
    def writes_files(self):
        """Whether this process writes checkpoints: always, but only process 0 of several."""
        return self.parallel is None or self.parallel.rank == 0

    def start_epoch(self, epoch, resume=None):
        self.epoch = epoch
        self.totals = _Totals(self.model.metrics, self.model.output_shape)
        self.first_batch = 0
        self.resume = resume
        if resume is not None:
            self.first_batch = int(resume["batch"])
            if self.writes_files:  # process 0 holds the sums of all processes
                self.totals.load_state(resume["totals"])
        self.epoch_rng = resume["epoch_rng"] if resume else self.model.rng.bit_generator.state

    def shuffled_order(self, n):
        """The epoch's order of ``n`` rows, drawn from the model's generator."""
        return self._draw(lambda rng: rng.permutation(n))

    def epoch_generator(self):
        """A generator of the epoch's own (a ``Dataset`` shuffles with it), seeded from the model's."""
        return np.random.default_rng(self._draw(lambda rng: int(rng.integers(2 ** 63))))

    def _draw(self, draw):
        """``draw(model.rng)`` at the start of the epoch; on a resume, replayed from the state saved
        before the epoch, leaving the generator where the checkpoint saved it."""
        rng = self.model.rng
        if self.resume is None:
            return draw(rng)
        now = rng.bit_generator.state  # the state the checkpoint saved, after its last batch
        rng.bit_generator.state = self.epoch_rng
        drawn = draw(rng)
        rng.bit_generator.state = now
        return drawn

    def position(self, next_batch):
        """The position of a checkpoint taken before batch ``next_batch`` of this epoch (with the
        sums of all processes when training is distributed)."""
        totals = self.totals if self.parallel is None else self.parallel.combined(self.totals)
        return {"epoch": self.epoch, "batch": next_batch, "epoch_rng": self.epoch_rng,
                "totals": totals.state()}


def prepare(model, x, y, sample_weight=None, class_weight=None, parallel=None):
    """Check and convert inputs, targets and per-example weights (building the model if needed);
    every value must be finite in the model's dtype. In a data-parallel fit (``parallel``, each
    process with its own rows under "shards"), "balanced" class weights count every process's rows."""
    if y is None:
        raise ConfigurationError("targets y are needed beside the inputs x (or pass a glassnet.datasets.Dataset as x)")
    x = model.prepare_inputs(x)
    y = model.prepare_targets(y)
    n = rows(x)
    if rows(y) != n:
        raise ShapeError(f"x and y must have the same number of examples, got {n} and {rows(y)}")
    weights = None
    if sample_weight is not None:
        weights = checks.sample_weights(sample_weight, n)
    if class_weight is not None:
        if not model.head_loss.classification:
            raise ConfigurationError(f"class_weight weighs classes, but the loss {model.head_loss.name} "
                                     "has no classes; use sample_weight")
        per_class = checks.class_weights(class_weight, y, model.output_shape[-1], None if parallel is None else parallel.comm)
        weights = per_class if weights is None else weights * per_class
    if weights is not None:
        weights = checks.sample_weights(weights, n, "sample_weight * class_weight", within=model.dtype)
    return x, y, weights


def _callbacks(callbacks):
    """``callbacks`` (None, or a list or tuple of ``Callback`` objects) as a list."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)) or not all(isinstance(c, Callback) for c in callbacks):
        raise ConfigurationError(f"callbacks must be a list of Callback objects, got {callbacks!r}")
    return list(callbacks)


def _validation(model, validation_data):
    """``validation_data`` as ``_evaluate`` takes it: a ``Dataset``, or checked arrays."""
    if isinstance(validation_data, Dataset):
        return validation_data
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ConfigurationError("validation_data must be a tuple (x_val, y_val) or "
                                 f"(x_val, y_val, sample_weight_val), or a Dataset, got {type(validation_data).__name__}")
    return prepare(model, *validation_data)


def _batch_parts(batch):
    """``(x, y, weights or None)`` of a batch a ``Dataset`` yielded, refused when it is not one."""
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        raise ConfigurationError("a Dataset's batches must be tuples (x, y) or (x, y, sample_weight), "
                                 f"got {type(batch).__name__}")
    return batch[0], batch[1], batch[2] if len(batch) == 3 else None


def _evaluate(model, validation, parallel):
    """The loss and metrics on validation rows: arrays (``evaluate_arrays``) or a ``Dataset``."""
    if isinstance(validation, Dataset):
        return evaluate_dataset(model, validation)
    return evaluate_arrays(model, *validation, parallel=parallel)


def _dataset_alone(what, y, sample_weight):
    """Refuse targets or weights passed beside a ``Dataset``, which yields its own."""
    given = [name for name, value in (("y", y), ("sample_weight", sample_weight)) if value is not None]
    if given:
        raise ConfigurationError(f"{what} on a Dataset takes the targets and weights from its batches, "
                                 f"so {' and '.join(given)} must be left out")


def evaluate(model, x, y, sample_weight, batch_size):
    """``Sequential.evaluate``'s logs: over arrays ``(x, y)``, or over the rows of a ``Dataset`` ``x``."""
    if isinstance(x, Dataset):
        _dataset_alone("evaluate", y, sample_weight)
        return evaluate_dataset(model, x, batch_size)
    return evaluate_arrays(model, *prepare(model, x, y, sample_weight), batch_size)


def evaluate_dataset(model, dataset, batch_size=INFERENCE_BATCH_SIZE):
    """Loss (with the L1/L2 penalty) and metrics over a ``Dataset``'s rows, read in order."""
    totals = _totals(model, (prepare(model, *_batch_parts(batch)) for batch in dataset.batches(batch_size)))
    if not totals.examples:
        raise ConfigurationError(f"{type(dataset).__name__} yielded no rows to evaluate")
    return totals.means(regularizers.total_penalty(model.regularized_parameters))


def evaluate_arrays(model, x, y, weights=None, batch_size=INFERENCE_BATCH_SIZE, parallel=None):
    """Loss (with the L1/L2 penalty, as in training) and metrics over prepared arrays; during a
    distributed ``fit`` (``parallel``), each process evaluates its part and the sums are combined."""
    if parallel is not None:
        arrays, layout = flattened(x, y, weights)
        x, y, weights = unflattened(parallel.own_rows(arrays), layout)
    slices = (slice(start, start + batch_size) for start in range(0, rows(x), batch_size))
    totals = _totals(model, ((part(x, s), part(y, s), part(weights, s)) for s in slices))
    if parallel is not None:
        totals = parallel.combined(totals)
    return totals.means(regularizers.total_penalty(model.regularized_parameters))


def _totals(model, batches):
    """The ``_Totals`` of the model's loss and metrics (in inference mode) over ``(x, y, weights)`` batches."""
    totals = _Totals(model.metrics, model.output_shape)
    with threads.splitting(splits_work(model)):
        for x, y, weights in batches:
            outputs, _ = model.forward_head(x, training=False)
            loss, _ = model.head_loss.unchecked_value_and_grad(y, outputs, weights)
            totals.add(loss, y, outputs)
    return totals


def predict_arrays(model, x, batch_size=INFERENCE_BATCH_SIZE):
    """The model's outputs (after its final activation) for prepared inputs, batch by batch: an
    array, or a list of arrays for a graph model with several outputs."""
    n = rows(x)
    shapes = model.output_shape
    several = isinstance(shapes, list)
    outputs = [np.empty((n,) + tuple(shape), dtype=model.dtype) for shape in (shapes if several else [shapes])]
    with threads.splitting(splits_work(model)):
        for start in range(0, n, batch_size):
            selection = slice(start, start + batch_size)
            batch = model.forward(part(x, selection), training=False)[0]
            for output, values in zip(outputs, batch if several else [batch]):
                output[selection] = values
    return outputs if several else outputs[0]
