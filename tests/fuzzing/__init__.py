"""A fuzzing harness: seeded cases, each of which must either work or be refused cleanly.

A case is a ``Case(kind, description, run)``: ``run()`` returns the name of a good outcome
("works", "equal" for a file that loads equal to the original, ...) or raises. A raised
``GlassnetError`` is a clean refusal, unless its message only passes on a Python error's
("TypeError: argument of type 'int' is not iterable": "refused unclearly"); anything else
(another exception, a wrong number that the case detects and reports as "wrong", a case that
runs past ``CASE_SECONDS``: "too slow") is a failure. ``run_cases`` counts the outcomes per kind
and keeps the first few failures with their descriptions, so a failure can be replayed from its seed.

    python -m tests.fuzzing --cases 100000            # the long run, every kind, counts printed
    python -m tests.fuzzing --kinds files --cases 2000 --seed 7
    python -m tests.fuzzing --kinds files --cases 20000 --max-memory 8   # a MemoryError, not swapping

``tests/test_fuzzing.py`` runs a fast seeded subset in CI. Each kind is a module of this package
with ``cases(rng, count, **options)``: a generator of ``Case`` objects drawn from ``rng`` (files
takes ``large=False``: no 100,000-node files, which take seconds each).
"""
import collections
import contextlib
import dataclasses
import importlib
import re
import signal
import threading
import traceback

import numpy as np

from glassnet.errors import GlassnetError

KINDS = ("files", "api", "cli")
GOOD = ("works", "equal", "refused")
# A case that runs longer is a failure ("too slow"): a small input must not buy unbounded time.
CASE_SECONDS = 60
# A refusal must say what was expected and what came, not pass on a Python error's message (which
# ``io.schema.described`` prefixes with the error's type).
RAW_ERROR = re.compile(r"\b(TypeError|KeyError|IndexError|ValueError|AttributeError|OverflowError|RecursionError|"
                       r"ZeroDivisionError|MemoryError|UnicodeError|AssertionError): ")


class TooSlow(BaseException):
    """Raised in a case that runs past ``CASE_SECONDS`` (a BaseException, so that no ``except
    Exception`` on the way swallows it)."""


@dataclasses.dataclass
class Case:
    kind: str
    description: str
    run: object  # () -> outcome name; raises GlassnetError to refuse


@dataclasses.dataclass
class Results:
    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    failures: list = dataclasses.field(default_factory=list)

    @property
    def failed(self):
        return sum(n for (kind, outcome), n in self.counts.items() if outcome not in GOOD)

    def table(self):
        """Counts per kind and outcome, one line each."""
        return "\n".join(f"{kind:6} {outcome:30} {count:>8,}"
                         for (kind, outcome), count in sorted(self.counts.items()))


def outcome_of(case):
    """``(outcome, detail)``: the case's own answer, "refused" for a GlassnetError ("refused
    unclearly" if it only passes on a Python error's message), "too slow" past ``CASE_SECONDS``,
    or "error: <type>" with the traceback for anything else.

    A case runs under NumPy's default floating-point handling (warnings), the same in a long run
    as under the test suite's stricter settings: an overflow that huge but finite numbers cause
    (a crafted file's learning rate of 1e30, a call's 1e39) is not a failure of the call."""
    try:
        with np.errstate(all="warn", under="ignore"), time_limit(CASE_SECONDS):
            return case.run(), ""
    except GlassnetError as error:
        if RAW_ERROR.search(str(error)):
            return "refused unclearly", f"{type(error).__name__}: {error}"
        return "refused", ""
    except TooSlow:
        return "too slow", f"over {CASE_SECONDS} s\n{traceback.format_exc(limit=-3)}"
    except Exception as error:  # the harness's job is to catch whatever escapes
        return f"error: {type(error).__name__}", f"{error}\n{traceback.format_exc(limit=-3)}"


@contextlib.contextmanager
def time_limit(seconds):
    """Raise ``TooSlow`` in the block after ``seconds`` (where a timer signal can: the main thread
    of a POSIX process; elsewhere no limit)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum, frame):
        raise TooSlow(f"over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_cases(cases, keep=10):
    """Run ``cases``; return the ``Results`` (the first ``keep`` failures with their details)."""
    results = Results()
    for case in cases:
        outcome, detail = outcome_of(case)
        results.counts[(case.kind, outcome)] += 1
        if outcome not in GOOD and len(results.failures) < keep:
            results.failures.append(f"[{case.kind}] {case.description}\n  -> {outcome}: {detail}")
    return results


def cases(kind, rng, count, **options):
    """The cases of ``kind`` (a module of this package); ``options`` go to its ``cases``."""
    return importlib.import_module(f"{__name__}.{kind}").cases(rng, count, **options)
