"""Numerically stable elementwise functions shared by activations and losses.

Each is written so that no intermediate overflows for any finite input (NumPy floating-point
warnings are errors in the tests).
"""
import numpy as np


def sigmoid(x):
    """``1 / (1 + exp(-x))`` computed from ``exp(-|x|)``, which never overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def log_sigmoid(x):
    """``log(sigmoid(x)) = -log(1 + exp(-x))``, stable for any x."""
    return -np.logaddexp(0, -x)


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``, shifted by the maximum so that exp never overflows."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``, shifted by the maximum; rows sum to 1."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e
