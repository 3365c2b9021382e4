"""Numerically stable elementwise functions shared by activations and losses.

Each is written so that no intermediate overflows for any finite input (NumPy floating-point
warnings are errors in the tests). Sums and maxima call the ufunc reductions (``np.add.reduce``)
directly: ``a.sum()`` costs several Python calls more, which shows on small batches.
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
    shifted = x - np.maximum.reduce(x, axis=axis, keepdims=True)
    return shifted - np.log(np.add.reduce(np.exp(shifted), axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``, shifted by the maximum; rows sum to 1."""
    e = np.exp(x - np.maximum.reduce(x, axis=axis, keepdims=True))
    e /= np.add.reduce(e, axis=axis, keepdims=True)
    return e
