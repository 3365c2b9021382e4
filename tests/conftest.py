"""Shared test set-up: NumPy floating-point warnings (overflow, division by zero, invalid
operations) are errors, so no test passes while silently producing inf or NaN. Underflow to zero
is expected in stable exponentials and stays allowed."""
import numpy as np
import pytest
from hypothesis import settings

# No per-example deadline: a busy 2-core CI machine must not turn a slow example into a failure.
settings.register_profile("glassnet", deadline=None)
settings.load_profile("glassnet")


@pytest.fixture(autouse=True)
def floating_point_errors_raise():
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
