"""A fuzzing harness: seeded cases, each of which must either work or be refused cleanly.

A case is a ``Case(kind, description, run)``: ``run()`` returns the name of a good outcome
("works", "equal" for a file that loads equal to the original, ...) or raises. A raised
``GlassnetError`` is a clean refusal; anything else (another exception, a wrong number that the
case detects and reports as "wrong") is a failure. ``run_cases`` counts the outcomes per kind and
keeps the first few failures with their descriptions, so a failure can be replayed from its seed.

    python -m tests.fuzzing --cases 100000            # the long run, every kind, counts printed
    python -m tests.fuzzing --kinds files --cases 2000 --seed 7

``tests/test_fuzzing.py`` runs a fast seeded subset in CI. Each kind is a module of this package
with ``cases(rng, count)``: a generator of ``Case`` objects drawn from ``rng``.
"""
import collections
import dataclasses
import importlib
import traceback

import numpy as np

from glassnet.errors import GlassnetError

KINDS = ("files", "api", "cli")
GOOD = ("works", "equal", "refused")


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
    """``(outcome, detail)``: the case's own answer, "refused" for a GlassnetError, or
    "error: <type>" with the traceback for anything else.

    A case runs under NumPy's default floating-point handling (warnings), the same in a long run
    as under the test suite's stricter settings: an overflow that huge but finite numbers cause
    (a crafted file's learning rate of 1e30, a call's 1e39) is not a failure of the call."""
    try:
        with np.errstate(all="warn", under="ignore"):
            return case.run(), ""
    except GlassnetError:
        return "refused", ""
    except Exception as error:  # the harness's job is to catch whatever escapes
        return f"error: {type(error).__name__}", f"{error}\n{traceback.format_exc(limit=-3)}"


def run_cases(cases, keep=10):
    """Run ``cases``; return the ``Results`` (the first ``keep`` failures with their details)."""
    results = Results()
    for case in cases:
        outcome, detail = outcome_of(case)
        results.counts[(case.kind, outcome)] += 1
        if outcome not in GOOD and len(results.failures) < keep:
            results.failures.append(f"[{case.kind}] {case.description}\n  -> {outcome}: {detail}")
    return results


def cases(kind, rng, count):
    """The cases of ``kind`` (a module of this package)."""
    return importlib.import_module(f"{__name__}.{kind}").cases(rng, count)
