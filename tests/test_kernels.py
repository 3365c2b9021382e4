"""The compiled kernels (optimizer updates, softmax cross-entropy) against the NumPy expression of
the same math (the readable reference), in float64 and float32, for every option."""
import math

import numpy as np
import pytest

from glassnet import kernels


def reference_sgd(w, g, b, lr, momentum, nesterov, wd):
    g = g + wd * w
    if momentum:
        b[...] = momentum * b + g
        g = g + momentum * b if nesterov else b
    w -= lr * g


def reference_adam(w, g, m, v, b1, b2, eps, wd, lr, t, decoupled):
    if decoupled:
        w *= 1 - lr * wd
    else:
        g = g + wd * w
    m[...] = b1 * m + (1 - b1) * g
    v[...] = b2 * v + (1 - b2) * g * g
    w -= lr / (1 - b1 ** t) * m / (np.sqrt(v / (1 - b2 ** t)) + eps)


def reference_rmsprop(w, g, v, mean, b, lr, rho, momentum, eps, centered, wd):
    g = g + wd * w
    v[...] = rho * v + (1 - rho) * g * g
    if centered:
        mean[...] = rho * mean + (1 - rho) * g
        d = np.sqrt(v - mean * mean) + eps
    else:
        d = np.sqrt(v) + eps
    if momentum:
        b[...] = momentum * b + g / d
        w -= lr * b
    else:
        w -= lr * g / d


def buffers(dtype, n=257, count=4):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(n).astype(dtype) for _ in range(count)]


TOLERANCE = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=2e-5, atol=2e-6)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum, nesterov, wd", [(0.0, False, 0.0), (0.9, False, 0.0), (0.9, True, 0.1)])
def test_sgd_kernel(dtype, momentum, nesterov, wd):
    w, b = buffers(dtype, count=2)
    w_ref, b_ref = w.astype(np.float64), np.zeros(w.size)
    b[...] = 0
    c = np.dtype(dtype).type
    for step in range(5):
        g = np.sin(np.arange(w.size) + step).astype(dtype)
        kernels.sgd(w, g, b, c(0.1), c(momentum), nesterov, c(wd))
        reference_sgd(w_ref, g.astype(np.float64), b_ref, 0.1, momentum, nesterov, wd)
    np.testing.assert_allclose(w, w_ref, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("wd, decoupled", [(0.0, False), (0.1, False), (0.1, True)])
def test_adam_kernel(dtype, wd, decoupled):
    (w,) = buffers(dtype, count=1)
    m, v = np.zeros_like(w), np.zeros_like(w)
    w_ref, m_ref, v_ref = w.astype(np.float64), np.zeros(w.size), np.zeros(w.size)
    c = np.dtype(dtype).type
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    for t in range(1, 6):
        g = np.cos(np.arange(w.size) * 0.3 + t).astype(dtype)
        coupled, shrink = (0.0, 1 - lr * wd) if decoupled else (wd, 1.0)
        kernels.adam(w, g, m, v, c(1 - b1), c(b2), c(1 - b2), c(lr / (1 - b1 ** t)),
                     c(math.sqrt(1 - b2 ** t)), c(eps), c(coupled), c(shrink))
        reference_adam(w_ref, g.astype(np.float64), m_ref, v_ref, b1, b2, eps, wd, lr, t, decoupled)
    np.testing.assert_allclose(w, w_ref, **TOLERANCE[dtype])
    np.testing.assert_allclose(v, v_ref, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum, centered", [(0.0, False), (0.5, False), (0.0, True), (0.5, True)])
def test_rmsprop_kernel(dtype, momentum, centered):
    (w,) = buffers(dtype, count=1)
    v, mean, b = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    refs = [w.astype(np.float64)] + [np.zeros(w.size) for _ in range(3)]
    c = np.dtype(dtype).type
    for step in range(5):
        g = np.sin(np.arange(w.size) * 0.7 + step).astype(dtype)
        kernels.rmsprop(w, g, v, mean, b, c(0.01), c(0.9), c(1 - 0.9), c(momentum), c(1e-7), centered, c(0.01))
        reference_rmsprop(refs[0], g.astype(np.float64), *refs[1:], 0.01, 0.9, momentum, 1e-7, centered, 0.01)
    np.testing.assert_allclose(w, refs[0], **TOLERANCE[dtype])


def reference_sparse_softmax_cross_entropy(z, labels, s):
    """``-sum_j y_j log_softmax(z)_j`` and ``softmax(z) - y``, ``y = (1 - s) onehot + s / K``."""
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    y = np.full(z.shape, s / z.shape[1])
    y[np.arange(len(z)), labels] += 1 - s
    return -(y * log_p).sum(axis=1), np.exp(log_p) - y


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("scale", [1.0, 1e3])  # large logits: no overflow, no NaN
def test_sparse_softmax_cross_entropy_matches_numpy(dtype, tolerance, smoothing, scale):
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((17, 5)) * scale).astype(dtype)
    labels = rng.integers(0, 5, 17).astype(np.intp)
    values, grads = np.empty(17, dtype), np.empty_like(z)
    kernels.sparse_softmax_cross_entropy(z, labels, smoothing, values, grads)
    expected_values, expected_grads = reference_sparse_softmax_cross_entropy(z.astype(np.float64), labels, smoothing)
    np.testing.assert_allclose(values, expected_values, rtol=tolerance, atol=tolerance * scale)
    np.testing.assert_allclose(grads, expected_grads, rtol=tolerance, atol=tolerance)
    assert values.dtype == grads.dtype == dtype
