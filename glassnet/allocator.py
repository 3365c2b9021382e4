"""Freed memory kept for the next step: the C allocator's settings while convolutional networks run.

A convolutional network's step makes and drops arrays of megabytes: the padded input, each
layer's output and gradient, the windows and tiles of a slice of the batch. glibc's ``malloc``
serves such a request from fresh pages of the operating system (``mmap``) or, once it has seen
arrays that large freed, from its heap, which it shrinks again whenever more than twice that
much lies free at its top. Either way most of a step's arrays arrive in pages the kernel has to
map and zero on first touch: W4's step (``docs/performance.md``) took about 6,000 page faults and
22 ms of system time, of about 60 ms. (PyTorch's step pays the same; its tuning guide suggests
preloading jemalloc or tcmalloc for this reason.)

``keep_freed_memory`` sets two of glibc's ``mallopt`` parameters, once per process, the first
time a network with convolutions or pooling trains or predicts (``threads.splitting``):
``M_MMAP_THRESHOLD`` to 32 MiB (glibc's largest: smaller requests come from the heap) and
``M_TRIM_THRESHOLD`` to 512 MiB (the heap keeps up to that much free memory instead of giving it
back). The next step's arrays then reuse the last step's pages: W4's page faults went from about
6,000 a step to none, its step from about 60 to 48 ms. The price: the process's resident memory
stays near its peak rather than falling between steps; ``release()`` hands the free memory back
(``malloc_trim``). Set ``GLASSNET_KEEP_FREED_MEMORY=0`` to leave the allocator alone. Elsewhere
than on glibc (macOS, Windows, musl) nothing is changed.
"""
import ctypes
import os
import sys
import threading

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
MMAP_THRESHOLD = 32 * 2**20  # the largest glibc accepts (HEAP_MAX_SIZE / 2 on 64 bits)
TRIM_THRESHOLD = 512 * 2**20

_lock = threading.Lock()
_state = {"done": False, "libc": None}


def _glibc():
    """The C library when it is glibc (has ``mallopt`` and ``malloc_trim``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018  (both must exist)
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_memory():
    """Once per process: glibc keeps freed blocks of up to 32 MiB, and up to 512 MiB of free heap,
    for reuse (the module docstring). Returns whether the settings are in place."""
    with _lock:
        if not _state["done"]:
            _state["done"] = True
            if os.environ.get("GLASSNET_KEEP_FREED_MEMORY", "1").strip() != "0":
                libc = _glibc()
                if libc is not None and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1:
                    libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
                    _state["libc"] = libc
        return _state["libc"] is not None


def release():
    """Give the free memory of glibc's heaps back to the operating system (``malloc_trim(0)``);
    returns whether any was given back. A no-op elsewhere than on glibc."""
    libc = _state["libc"] or _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
