"""Data-parallel training on MPI: several processes, on one machine or many, train one model.

    mpirun -n 4 python train.py                          # a script that calls model.fit
    mpirun -n 4 glassnet train data.parquet --target y

Started by an MPI launcher with more than one process, ``fit`` trains data-parallel (its
``distributed`` argument: ``"auto"``, the default, ``"shards"`` or ``False``). Every process holds
the same weights. All draw the same shuffled order of the training rows from the model's random
generator (which starts, like the weights, as process 0's) and cut it into the same global batches
of ``B`` rows. Process ``r`` trains on its share of each batch (``n_r`` rows), computes the mean
gradient ``g_r`` over it, and one allreduce of the flat gradient buffer gives every process

    g = sum_r (n_r / B) g_r = (1 / B) sum_{i in batch} w_i dl_i/dtheta

the gradient of the whole batch as one process computes it, up to the rounding of the sum. The
L1/L2 penalties (identical on every process; L1's orthant rule needs the whole gradient, so they
come after the sum) and the optimizer step then run on every process alike: the weights stay
bit-identical.

Shares. With ``"auto"`` every process passed the same data, and its share is the ``r``-th of ``N``
near-equal slices of each batch. With ``"shards"`` each passed its own rows (the data set is their
concatenation in rank order) and its share is the rows of the batch that it holds; an empty share
adds nothing to the sum.

The rest of ``fit`` on several processes:
- dropout draws its masks from a generator of each process's own, seeded by (the epoch's shared
  generator state, epoch, rank, batch): the masks differ from a one-process run's, but the shared
  generator stays in step on every process and a resumed run draws the same masks again;
- ``BatchNormalization`` normalizes by the statistics of the whole global batch, as one process
  does: ``start`` hands each such layer the communicator (``layer.comm``) and ``finish`` takes it
  back; its training forward gathers every process's count, mean and sum of squared deviations
  (one allgather) and its backward adds the two sums its ``dx`` needs (one allreduce), so the
  ``x_hat``, the moving statistics and the gradients are the one-process ones (inference never
  communicates);
- the loss and metrics of an epoch and of validation are sums over all processes' rows (each
  evaluates its part), so every process logs the same numbers and EarlyStopping decides alike;
- a callback that stops training on one process stops it on all: after the batch when a callback
  has per-batch hooks, else after the epoch, where the processes also check (CRC-32) that their
  weights are still identical;
- only process 0 prints progress and writes checkpoints; every process reads a backup to resume
  (on several machines: put it in a shared folder).

A process that dies, hangs or leaves must not leave the others waiting forever inside MPI. An error
or exit of one process during training aborts the whole job (``MPI_Abort``) once the error is
printed, and a process that has waited longer than ``GLASSNET_MPI_TIMEOUT`` seconds (default 600)
in one collective operation aborts it too, saying so. (A process killed outright is reported by
the launcher, which then stops the others.)
"""
import atexit
import functools
import os
import sys
import threading
import time
import zlib

import numpy as np

from .callbacks.base import Callback, overrides
from .errors import ConfigurationError, DistributedError
from .extras import require
from .layers.normalization import BatchNormalization

# Where MPI launchers put the number of processes they started: Open MPI's mpirun, and the PMI
# of Hydra (MPICH's and Intel MPI's mpiexec) and of Slurm's srun; MVAPICH2.
SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")
DEFAULT_TIMEOUT = 600.0
SETTINGS = ("auto", "shards", False)


def launched_processes(environ=os.environ):
    """How many processes the MPI launcher started, from its environment (1 without a launcher)."""
    for name in SIZE_VARIABLES:
        if environ.get(name, "").isdigit():
            return int(environ[name])
    return 1


@functools.lru_cache(maxsize=None)
def world():
    """All processes of this MPI job as a ``Communicator``; None when the process was not started
    by an MPI launcher with more than one process (mpi4py is then not even imported)."""
    if launched_processes() < 2:
        return None
    mpi = require("mpi4py.MPI", "mpi", "training on several processes")
    return Communicator(mpi.COMM_WORLD, timeout())


def timeout(environ=os.environ):
    """``GLASSNET_MPI_TIMEOUT``: the seconds a process waits in one collective operation."""
    text = environ.get("GLASSNET_MPI_TIMEOUT", str(DEFAULT_TIMEOUT))
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:
        raise ConfigurationError(f"GLASSNET_MPI_TIMEOUT must be a number of seconds > 0, got {text!r}")
    return seconds


class Communicator:
    """The processes of an MPI job (an mpi4py communicator) and the collective operations glassnet
    uses, each watched: a process that waits in one longer than ``timeout`` seconds aborts the job.

    ``begin(what)``/``end()`` mark work the processes do together; a process that exits inside
    it (an uncaught error, ``sys.exit``) aborts the job instead of leaving the others waiting.
    """

    def __init__(self, comm, timeout=DEFAULT_TIMEOUT):
        from mpi4py import MPI
        self.comm, self.timeout, self._in_place = comm, timeout, MPI.IN_PLACE
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.sections = []
        self._waiting = None  # (since, what) while inside a collective operation
        threading.Thread(target=self._watch, name="glassnet-mpi-watchdog", daemon=True).start()
        atexit.register(self._at_exit)  # after mpi4py's, so it runs before MPI_Finalize

    def sum(self, array, what="a sum"):
        """Replace ``array`` on every process by its sum over all processes (one allreduce)."""
        self._wait(what, self.comm.Allreduce, self._in_place, array)

    def gather(self, array, what="an exchange"):
        """Every process's ``array`` (the same shape and dtype on all), stacked in rank order:
        shape ``(size, *array.shape)``, on every process (one allgather)."""
        every = np.empty((self.size, *array.shape), array.dtype)
        self._wait(what, self.comm.Allgather, array, every)
        return every

    def broadcast(self, array, what="a broadcast"):
        """Overwrite ``array`` on every process with process 0's."""
        self._wait(what, self.comm.Bcast, array)

    def broadcast_object(self, value, what="a broadcast"):
        """Process 0's ``value`` (any picklable object), on every process."""
        return self._wait(what, self.comm.bcast, value)

    def allgather(self, value, what="an exchange"):
        """Every process's ``value``, as a list in rank order, on every process."""
        return self._wait(what, self.comm.allgather, value)

    def concatenate(self, array, what="an exchange"):
        """Every process's rows of ``array``, concatenated in rank order, on every process."""
        return np.concatenate(self.allgather(array, what))

    def total(self, number, what="a count"):
        """The sum of one number over all processes, added in rank order."""
        return sum(self.allgather(number, what))

    def begin(self, what):
        self.sections.append(what)

    def end(self):
        self.sections.pop()

    def abort(self, message):
        """Print ``message`` and stop every process of the job."""
        print(f"glassnet: error: {message}; stopping all {self.size} processes", file=sys.stderr, flush=True)
        time.sleep(0.5)  # the launcher forwards output asynchronously: let it pass this on first
        self.comm.Abort(1)

    def _wait(self, what, operation, *args):
        self._waiting = (time.monotonic(), what)
        try:
            return operation(*args)
        finally:
            self._waiting = None

    def _watch(self):
        while True:
            time.sleep(min(1.0, self.timeout / 4))
            waiting = self._waiting
            if waiting is not None and time.monotonic() - waiting[0] > self.timeout:
                self.abort(f"process {self.rank} of {self.size} waited {self.timeout:g} s for the others "
                           f"in {waiting[1]}: one of them has died, hung or left (GLASSNET_MPI_TIMEOUT "
                           "sets how long to wait)")

    def _at_exit(self):
        if self.sections:
            self.abort(f"process {self.rank} of {self.size} exited during {self.sections[-1]}")


def data_parallel(model, setting="auto"):
    """The ``DataParallel`` of one ``fit``, or None when it trains on this process alone."""
    if setting not in SETTINGS:
        raise ConfigurationError(f"distributed must be 'auto', 'shards' or False, got {setting!r}")
    comm = world() if setting else None
    return None if comm is None else DataParallel(model, comm, sharded=setting == "shards")


class DataParallel:
    """One ``fit`` on all the processes of ``comm`` (see the module docstring): the shares of each
    batch, the gradient sum, the sums of the logs, and stopping together.

    ``fit`` calls ``start`` once the model is built, batches with ``selector``, has
    ``train_step`` call ``average_gradients`` after the backward pass, and calls ``finish`` at
    the end. Between ``start`` and ``finish`` the model's ``BatchNormalization`` layers hold
    ``comm``, which their training forward and backward use.
    """

    def __init__(self, model, comm, sharded):
        self.model, self.comm, self.sharded = model, comm, sharded
        self.rank, self.size = comm.rank, comm.size
        self.batch_rows = 0  # rows of the current global batch: the B of the gradient sum
        comm.begin("data-parallel training")

    def start(self, rows):
        """Put process 0's weights and random generator on every process and give dropout a
        generator per process; return the number of training rows of the whole fit."""
        model, comm = self.model, self.comm
        comm.broadcast(model.params.values, "the initial weights")
        model.rng.bit_generator.state = comm.broadcast_object(model.rng.bit_generator.state)
        counts = comm.allgather(rows, "counting the training rows")
        if not self.sharded and len(set(counts)) > 1:
            raise DistributedError(
                f"the processes passed different numbers of training rows ({', '.join(map(str, counts))}): "
                "with distributed='auto' each passes the whole data set; pass distributed='shards' "
                "when each passes its own rows")
        self.first, self.local_rows = sum(counts[:self.rank]) if self.sharded else 0, rows
        self.dropout_rng = np.random.Generator(np.random.PCG64())
        self.shared_rng_layers = [layer for layer in model.layers if layer.rng is model.rng]
        for layer in self.shared_rng_layers:
            layer.rng = self.dropout_rng
        self.batch_normalizations = [layer for layer in model.layers if isinstance(layer, BatchNormalization)]
        for layer in self.batch_normalizations:  # their training forward takes the global batch's statistics
            layer.comm = comm
        return sum(counts) if self.sharded else rows

    def selector(self, progress):
        """``select(batch, rows)`` for ``training.Batches``: this process's share of a global
        batch (``share``), after noting the batch's size for the gradient sum and seeding
        dropout's generator from (the epoch's shared generator state, epoch, rank, batch) as
        ``progress`` (``training.Progress``) tells them."""
        def select(batch, rows):
            self.batch_rows = len(rows)
            seed = [*progress.epoch_rng["state"].values(), progress.epoch, self.rank, batch]
            self.dropout_rng.bit_generator.state = np.random.PCG64(seed).state
            return self.share(rows)
        return select

    def share(self, batch):
        """This process's rows (positions in its own arrays) of a global ``batch`` of row numbers."""
        if self.sharded:
            return batch[(batch >= self.first) & (batch < self.first + self.local_rows)] - self.first
        n = len(batch)
        return batch[n * self.rank // self.size:n * (self.rank + 1) // self.size]

    def average_gradients(self, rows):
        """``g = sum_r (n_r / B) g_r`` on every process, from this process's mean gradient over
        its ``rows`` of the batch (already in ``params.grads``)."""
        grads = self.model.params.grads
        grads *= grads.dtype.type(rows / self.batch_rows)
        self.comm.sum(grads, "the gradient sum")

    def own_rows(self, arrays):
        """This process's part of ``arrays`` to evaluate: a near-equal slice of arrays that every
        process holds whole, or all of its own rows with shards."""
        if self.sharded:
            return arrays
        n = len(arrays[0])
        part = slice(n * self.rank // self.size, n * (self.rank + 1) // self.size)
        return [None if a is None else a[part] for a in arrays]

    def combined(self, totals):
        """A ``training._Totals`` with the sums of ``totals`` over all processes (rank order)."""
        return totals.merged(self.comm.allgather(totals.state(), "the sums of the loss and metrics"))

    def stop_together(self, callbacks):
        """The callback that makes all processes stop when one's ``callbacks`` ask to."""
        per_batch = any(overrides(c, hook) for c in callbacks if not c.saves_training_state
                        for hook in ("on_train_batch_begin", "on_train_batch_end"))
        return _StopTogether(self.comm, per_batch)

    def give_layers_back(self):
        """Dropout's generator and BatchNormalization's communicator back to how ``start`` found them."""
        for layer in self.shared_rng_layers:
            layer.rng = self.model.rng
        for layer in self.batch_normalizations:
            layer.comm = None

    def finish(self):
        self.give_layers_back()
        self.comm.end()


class _StopTogether(Callback):
    """Training stops on every process when a callback on any one sets ``stop_training``. After
    each epoch the processes also compare a CRC-32 of their weights, which must be identical."""

    def __init__(self, comm, per_batch):
        super().__init__()
        self.comm = comm
        if per_batch:
            self.on_train_batch_end = self._agree

    def _agree(self, batch, logs=None):
        self.model.stop_training = any(self.comm.allgather(self.model.stop_training, "deciding to stop"))

    def on_epoch_end(self, epoch, logs=None):
        votes = self.comm.allgather((self.model.stop_training, zlib.crc32(self.model.params.values)),
                                    "the end of the epoch")
        checksums = [checksum for _, checksum in votes]
        if len(set(checksums)) > 1:
            raise DistributedError(f"after epoch {epoch + 1} the processes' weights differ (CRC-32 per "
                                   f"process: {', '.join(f'{c:08x}' for c in checksums)}): their gradient "
                                   "sums were not identical")
        self.model.stop_training = any(stop for stop, _ in votes)
