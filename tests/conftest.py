"""Shared test set-up: NumPy floating-point warnings (overflow, division by zero, invalid
operations) are errors, so no test passes while silently producing inf or NaN. Underflow to zero
is expected in stable exponentials and stays allowed."""
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def floating_point_errors_raise():
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
