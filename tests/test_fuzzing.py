"""The fuzzing harness (``tests/fuzzing``) in CI: a fast seeded subset of each kind, no failures."""
import numpy as np

from tests.fuzzing import cases, run_cases


def test_files_fuzzing_has_no_failures():
    """3,000 damaged and crafted model files through every entry point: each refused with a
    GlassnetError or loaded and run (``python -m tests.fuzzing --kinds files`` for long runs)."""
    results = run_cases(cases("files", np.random.default_rng(13), 3000))
    assert results.failed == 0, results.table() + "\n" + "\n".join(results.failures)

