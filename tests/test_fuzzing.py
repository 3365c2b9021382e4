"""The fuzzing harness (``tests/fuzzing``) in CI: a fast seeded subset of each kind, no failures."""
import re

import numpy as np

from tests.fuzzing import cases, run_cases

# Failures known and not fixed yet, each a pattern searched in the failure's description and
# outcome (none at present: the fixes the fuzzing of graph models asked for are in).
PENDING = {}


def unexpected(results):
    """The failures that no ``PENDING`` pattern matches."""
    return [failure for failure in results.failures if not any(re.search(p, failure) for p in PENDING)]


def test_files_fuzzing_has_no_failures():
    """3,000 damaged and crafted model files (graph models' wiring and per-output settings among
    them) through every entry point: each refused with a clear GlassnetError or loaded and run
    (``python -m tests.fuzzing --kinds files`` for long runs, with the 100,000-node files)."""
    results = run_cases(cases("files", np.random.default_rng(13), 3000, large=False), keep=10 ** 6)
    assert not unexpected(results), results.table() + "\n" + "\n".join(unexpected(results)[:10])


def test_api_calls_work_or_are_refused_cleanly():
    """Public functions with drawn arguments (graph models, merge layers and embeddings among
    them): each call works (with a right result where the case can tell) or raises a GlassnetError."""
    results = run_cases(cases("api", np.random.default_rng(0), 2000), keep=10 ** 6)
    assert not unexpected(results), "\n".join(unexpected(results)[:10])


def test_command_lines_work_or_are_refused_in_one_line():
    """``glassnet train`` and ``explain`` with drawn options: exit 0, or a usage error, or one line
    ``glassnet: error: ...`` with exit status 1; never a traceback."""
    results = run_cases(cases("cli", np.random.default_rng(0), 150))
    assert results.failed == 0, "\n".join(results.failures)
