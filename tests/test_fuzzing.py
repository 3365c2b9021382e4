"""The fuzzing harness (``tests/fuzzing``) in CI: a fast seeded subset of each kind, no failures."""
import numpy as np

from tests.fuzzing import cases, run_cases


def test_files_fuzzing_has_no_failures():
    """3,000 damaged and crafted model files through every entry point: each refused with a
    GlassnetError or loaded and run (``python -m tests.fuzzing --kinds files`` for long runs)."""
    results = run_cases(cases("files", np.random.default_rng(13), 3000))
    assert results.failed == 0, results.table() + "\n" + "\n".join(results.failures)


def test_api_calls_work_or_are_refused_cleanly():
    """Public functions with drawn arguments: each call works (with a right result where the case
    can tell) or raises a GlassnetError."""
    results = run_cases(cases("api", np.random.default_rng(0), 2000))
    assert results.failed == 0, "\n".join(results.failures)


def test_command_lines_work_or_are_refused_in_one_line():
    """``glassnet train`` and ``explain`` with drawn options: exit 0, or a usage error, or one line
    ``glassnet: error: ...`` with exit status 1; never a traceback."""
    results = run_cases(cases("cli", np.random.default_rng(0), 150))
    assert results.failed == 0, "\n".join(results.failures)
