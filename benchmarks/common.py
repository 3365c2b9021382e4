"""What every benchmark runner shares: thread pinning, the workloads, the data, the command-line
options and the one JSON result line.

Import this module FIRST in every runner (before numpy or any framework): BLAS and OpenMP read
their thread counts when they load, so the pin must be in the environment before that. The
number of threads is ``BENCH_THREADS`` (default 2, the cores of the project's machines).

Timing convention (the same for every peer, glassnet included)
---------------------------------------------------------------
* A run trains for ``--epochs`` epochs in one process. Epoch 1 is the warm-up (JIT or
  ``torch.compile`` compilation, allocator and BLAS warm-up); it is reported on its own as
  ``warmup_epoch_s`` and never enters a median. Epochs 2..N are the timed ones (``epoch_s``);
  ``median_epoch_s`` is their median.
* An epoch's time covers everything a training epoch does: the shuffle (a permutation of the
  rows), gathering each batch, forward, loss, backward and the optimizer step. Loading and
  converting the data set is not timed; neither is the test-set evaluation after training.
* ``per_example_us`` is ``median_epoch_s / n_train`` in microseconds, so runs on a subset of the
  rows (``--rows``, used for batch size 1) stay comparable.
* ``peak_rss_mb`` is the process's peak resident memory (Linux's ``VmHWM``; see ``peak_rss_mb``),
  read once at the end of the run: framework, data and training together.
"""
import os

THREADS = int(os.environ.get("BENCH_THREADS", "2"))
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

# The three agreed workloads: layer sizes (input, hidden..., classes), batch size, data set.
WORKLOADS = {
    "W1": dict(name="fashion-mlp", sizes=(784, 256, 128, 10), batch=128, data="fashion"),
    "W2": dict(name="small-overhead", sizes=(64, 32, 32, 10), batch=32, data="random"),
    "W3": dict(name="big-gemm", sizes=(784, 1024, 1024, 10), batch=512, data="fashion"),
}
# Adam, identical for every peer (glassnet's own default epsilon is Keras's 1e-7: set explicitly)
LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-8
DATA_DIR = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
RANDOM_SEED = 1234             # the W2 random data set
RANDOM_ROWS = (60_000, 10_000)  # W2 train and test rows


def read_idx(path):
    """One gzip-compressed IDX file (the MNIST format: a 4-byte header whose last byte is the
    number of dimensions, the dimensions as big-endian uint32, then the uint8 values)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(workload, rows=None):
    """``(x_train, y_train, x_test, y_test)`` for a workload: C-contiguous float32 features
    (Fashion-MNIST pixels scaled to [0, 1]) and int64 labels. ``rows`` keeps only the first
    ``rows`` training examples (the test set is always whole)."""
    w = WORKLOADS[workload]
    if w["data"] == "fashion":
        def path(split, kind):
            p = os.path.join(DATA_DIR, f"{split}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz")
            if not os.path.exists(p):
                sys.exit(f"Fashion-MNIST file not found: {p}\n(apt-get install -y dataset-fashion-mnist, "
                         "or set FASHION_MNIST_DIR to a folder with the four .gz files)")
            return p

        def images(split):
            return read_idx(path(split, "images")).reshape(-1, 784).astype(np.float32) / np.float32(255)

        def labels(split):
            return read_idx(path(split, "labels")).astype(np.int64)

        xtr, ytr, xte, yte = images("train"), labels("train"), images("t10k"), labels("t10k")
    else:
        # W2: uniform random features and labels; it measures per-step overhead, and its
        # accuracy is chance level (about 10%) by design.
        rng = np.random.default_rng(RANDOM_SEED)
        n_train, n_test = RANDOM_ROWS
        n_in, n_out = w["sizes"][0], w["sizes"][-1]
        x = rng.random((n_train + n_test, n_in), dtype=np.float32)
        y = rng.integers(0, n_out, n_train + n_test).astype(np.int64)
        xtr, ytr, xte, yte = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    if rows is not None:
        xtr, ytr = xtr[:rows], ytr[:rows]
    return tuple(np.ascontiguousarray(a) for a in (xtr, ytr, xte, yte))


def parse_args(description, add_options=None, inference=False):
    """The options every runner takes; ``add_options(parser)`` adds a runner's own, and
    ``inference=True`` adds ``--inference`` (glassnet and torch)."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", "-w", choices=sorted(WORKLOADS), default="W1")
    p.add_argument("--epochs", "-e", type=int, default=4,
                   help="total epochs; epoch 1 is the untimed warm-up (default 4)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="override the workload's batch size (e.g. 1 for per-example SGD)")
    p.add_argument("--rows", type=int, default=None,
                   help="train on the first ROWS training examples only (keeps batch-1 epochs short)")
    p.add_argument("--seed", type=int, default=0)
    if inference:
        p.add_argument("--inference", action="store_true",
                       help="train 1 epoch, then time predict on the test set instead of training epochs")
        p.add_argument("--infer-batch-sizes", default="1024,all",
                       help="comma-separated predict batch sizes; 'all' is the whole test set (default 1024,all)")
        p.add_argument("--infer-reps", type=int, default=7,
                       help="timed predict repetitions per batch size, after one untimed (default 7)")
    if add_options:
        add_options(p)
    args = p.parse_args()
    if args.epochs < 1:
        p.error("--epochs must be >= 1")
    if args.batch_size is not None and args.batch_size < 1:
        p.error("--batch-size must be >= 1")
    if args.rows is not None and args.rows < 1:
        p.error("--rows must be >= 1")
    args.batch = args.batch_size or WORKLOADS[args.workload]["batch"]
    return args


def peak_rss_mb():
    """Peak resident set size of this process so far, in MB: Linux's ``VmHWM``. Not ``ru_maxrss``,
    which a child process inherits from its parent across fork and exec (a child of a 1 GB parent
    reports 1 GB), so a runner's own size would show up in every measurement it starts."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _base(peer, args, n_train):
    w = WORKLOADS[args.workload]
    return dict(peer=peer, workload=args.workload, name=w["name"], sizes=list(w["sizes"]),
                batch=args.batch, n_train=n_train, threads=THREADS)


def _emit(out):
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out), flush=True)
    return out


def report(peer, args, epoch_times, test_acc=None, n_train=None, **extra):
    """Print the one JSON line of a training run and return it as a dict.

    ``epoch_times``: every epoch's seconds, the warm-up first. ``extra``: anything the runner
    wants to add (its version, dtype, time to the first step, ...).
    """
    timed = [float(t) for t in epoch_times[1:]]
    med = statistics.median(timed) if timed else None
    n_train = n_train if n_train is not None else (args.rows or 60_000)
    out = _base(peer, args, n_train)
    out.update(
        mode="train", epochs=len(epoch_times),
        warmup_epoch_s=round(float(epoch_times[0]), 4),
        epoch_s=[round(t, 4) for t in timed],
        median_epoch_s=None if med is None else round(med, 4),
        samples_per_s=None if med is None else round(n_train / med, 1),
        per_example_us=None if med is None else round(med / n_train * 1e6, 3),
        test_acc=None if test_acc is None else round(float(test_acc), 4),
    )
    out.update(extra)
    return _emit(out)


def infer_batch_sizes(args, n_test):
    """The predict batch sizes of ``--infer-batch-sizes`` ('all' = the whole test set)."""
    sizes = []
    for item in args.infer_batch_sizes.split(","):
        item = item.strip()
        sizes.append(n_test if item == "all" else int(item))
    return sizes


def time_inference(predict, n_examples, reps):
    """Call ``predict()`` once untimed, then ``reps`` times timed; the throughput summary."""
    predict()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        predict()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return dict(median_s=round(med, 5), times_s=[round(t, 5) for t in times],
                examples_per_s=round(n_examples / med, 1))


def report_inference(peer, args, results, train_epoch_s, test_acc=None, n_train=None, **extra):
    """Print the one JSON line of an ``--inference`` run. ``results`` maps a batch size to
    ``time_inference``'s summary; ``examples_per_s`` is the median over repetitions."""
    out = _base(peer, args, n_train if n_train is not None else (args.rows or 60_000))
    out.update(mode="inference", train_epoch_s=round(float(train_epoch_s), 4),
               inference={str(bs): r for bs, r in results.items()},
               test_acc=None if test_acc is None else round(float(test_acc), 4))
    out.update(extra)
    return _emit(out)
