"""Work split over the cores by glassnet itself, while BLAS runs on one thread.

A convolutional network's step is mostly many medium-sized pieces: the products of a slice of the
batch, the copies of its windows, col2im, the pooling loops. Left to BLAS, only the products run on
every core, and between them BLAS's idle threads spin for a while, taking a core from the copies
and loops that follow (``docs/performance.md``, "Convolutions: W4"). So while such a network trains
or predicts (``splitting``), BLAS is held at one thread and the layers deal their slices to
glassnet's own threads, as many as BLAS was set to use (``OPENBLAS_NUM_THREADS``,
``threadpoolctl``). NumPy's copies and products and the compiled loops (``nogil``) release the
GIL, so the threads run at once.

Outside ``splitting`` (a network of Dense layers, or BLAS set to one thread) nothing changes: the
slices run one after the other on the calling thread. The slices are dealt in a fixed order
(thread ``k`` takes slices ``k``, ``k + T``, ...), so a sum over slices is added in an order that
depends on ``T`` only: the same number of threads gives the same numbers, bit for bit. Several
callers may overlap (the playground's sessions): the first to enter holds BLAS at one thread, the
last to leave gives it back its number. Entering also asks the C allocator to keep freed memory
for the next step (``allocator.py``).
"""
import concurrent.futures
import contextlib
import os
import threading

import numpy as np
import threadpoolctl

from . import allocator

_lock = threading.Lock()
_local = threading.local()  # ``worker``: set on glassnet's own threads (a split inside a split runs in place)
_state = {"blas": None, "pool": None, "active": 0, "threads": 1}
# True while some network splits its work over more than one thread: a flag a layer reads without a
# call, so that a network of Dense layers pays nothing for the check (tests/test_step_overhead.py)
SPLITTING = False


def _after_fork_in_child():
    """A forked child has none of its parent's threads: a new lock, no pool, nothing held (the
    child's BLAS keeps the number it had at the fork)."""
    global _lock, SPLITTING
    _lock = threading.Lock()
    _state.update(pool=None, active=0)
    SPLITTING = False


os.register_at_fork(after_in_child=_after_fork_in_child)


def _blas():
    """threadpoolctl's controllers of the BLAS libraries loaded in this process (found once)."""
    if _state["blas"] is None:
        _state["blas"] = threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers
    return _state["blas"]


def _blas_threads():
    return max([c.num_threads for c in _blas()] or [1])


@contextlib.contextmanager
def splitting(enabled=True):
    """While inside: BLAS at one thread, ``workers()`` the number of threads it had (when above 1)."""
    if not enabled:
        yield
        return
    allocator.keep_freed_memory()  # a step's large arrays reuse the last step's pages (allocator.py)
    global SPLITTING
    with _lock:
        if not _state["active"]:
            _state["threads"] = _blas_threads()
            if _state["threads"] > 1:
                for c in _blas():
                    c.set_num_threads(1)
        _state["active"] += 1
        SPLITTING = _state["threads"] > 1
    try:
        yield
    finally:
        with _lock:
            _state["active"] -= 1
            if not _state["active"]:
                SPLITTING = False
                if _state["threads"] > 1:
                    for c in _blas():
                        c.set_num_threads(_state["threads"])


def workers():
    """How many threads a split uses now: BLAS's number inside ``splitting``, else 1."""
    if not _state["active"] or getattr(_local, "worker", False):
        return 1
    return _state["threads"]


def run_split(function, items, count=None):
    """``function(k, items[k::T])`` for each thread ``k < T`` (``T = min(count or workers(),
    len(items))``), side by side; their results in the order of ``k``. With one thread, here."""
    count = min(count or workers(), len(items))
    if count <= 1:
        return [function(0, items)]
    pool = _pool(count)
    futures = [pool.submit(_as_worker, function, k, items[k::count]) for k in range(count)]
    return [future.result() for future in futures]


def _as_worker(function, k, items):
    _local.worker = True
    return function(k, items)


def _pool(count):
    with _lock:
        pool = _state["pool"]
        if pool is None or pool._max_workers < count:
            pool = _state["pool"] = concurrent.futures.ThreadPoolExecutor(count, thread_name_prefix="glassnet")
        return pool


# The smallest product (multiply-adds) ``matmul`` splits: below it, handing the halves to the
# threads costs more than it saves (a 128 x 128 by 128 x 10 product: 0.02 ms alone, 0.2 split).
MATMUL_SPLIT_FROM = 2**21


def matmul(a, b, out=None):
    """``a @ b`` for 2-D ``a`` and ``b``: while a network splits its work (``splitting``), the rows
    of ``a`` in runs, one per thread (each ``out[rows] = a[rows] @ b``), else NumPy's product here."""
    if workers() < 2 or a.shape[0] * a.shape[1] * b.shape[1] < MATMUL_SPLIT_FROM or len(a) < 2 * workers():
        return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    run_ranges(lambda start, stop: np.matmul(a[start:stop], b, out=out[start:stop]), len(a))
    return out


def example_ranges(n):
    """``[(start, stop), ...]``: ``n`` examples cut into ``workers()`` runs of about equal length,
    one per thread (fewer when there are fewer examples)."""
    count = max(min(workers(), n), 1)
    bounds = [n * k // count for k in range(count + 1)]
    return [(a, b) for a, b in zip(bounds, bounds[1:])]


def run_ranges(function, n):
    """``function(start, stop)`` over ``example_ranges(n)``, each range on a thread of its own."""
    def each(k, ranges):
        for start, stop in ranges:
            function(start, stop)
    run_split(each, example_ranges(n))
