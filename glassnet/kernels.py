"""Compiled loops of the training step's formulas: the optimizer updates and the softmax
cross-entropy (the layers' loops are in ``layer_kernels.py``, made and checked the same way).

Each optimizer's kernel is its update rule written element by element, as the equations in
``optimizers.py`` read, and compiled by Numba into one pass over memory. Written as NumPy
whole-array expressions the same Adam step is about a dozen passes over the parameter buffers (each
ufunc a pass of its own), which on a network like 784-256-128-10 costs almost half as much as the
matrix products of a training step; one compiled pass costs about a fifth of that
(``docs/performance.md`` has the figures). Beside each kernel, ``<kernel>_reference`` is the same
math as whole-array NumPy, with the same arguments and the same effect (the buffers updated in
place): the form to read, and what ``tests/test_kernels.py`` compares every kernel with.

Callers name every argument (``kernels.adam(w=..., g=..., ...)``): a keyword call into a compiled
function costs about 0.4 us more than a positional one for Adam's twelve arguments and 0.2 us
for the cross-entropy's five, under 1 us per training step.

The callers pass every coefficient already converted to the buffers' dtype, so float32 buffers are
updated with float32 arithmetic (as PyTorch does) and the loop vectorizes; complements such as
``1 - beta_2`` are computed in float64 before the conversion (``1 - float32(0.999)`` is off by
5e-5 relative). Two details make the compiler vectorize it: ``error_model="numpy"`` (a division by zero gives inf instead of raising,
so there is no branch per element) and reading each element once into a local before storing it
(otherwise a store to one buffer forces reloads from the others, which might overlap it).

No argument a caller passes makes a kernel touch memory outside its arrays: each first compares
the sizes of its buffers (a ShapeError if they differ; a buffer of an option that is off, such as
SGD's momentum buffer without momentum, is not read and may be empty), and the cross-entropy
checks each label against the number of classes in its loop and returns the first bad row. The
checks cost a few comparisons per call, nothing measurable next to the loops.
"""
import math

import numba
import numpy as np

from . import ops
from .errors import ShapeError

# How every kernel is compiled (``layer_kernels.py`` too): cached on disk, releasing the GIL while it
# runs (glassnet's threads run kernels side by side), NumPy's error model (no branch per division)
compiled = numba.njit(cache=True, nogil=True, error_model="numpy")


@compiled
def sgd(w, g, momentum_buffer, learning_rate, momentum, nesterov, weight_decay):
    """g += wd * w;  b = momentum * b + g;  w -= lr * (g + momentum * b if nesterov else b)."""
    if g.size != w.size or (momentum != 0 and momentum_buffer.size != w.size):
        raise ShapeError("sgd: g and momentum_buffer must have as many entries as w")
    for i in range(w.size):
        grad = g[i] + weight_decay * w[i]
        if momentum != 0:
            b_i = momentum * momentum_buffer[i] + grad
            momentum_buffer[i] = b_i
            grad = grad + momentum * b_i if nesterov else b_i
        w[i] -= learning_rate * grad


def sgd_reference(w, g, momentum_buffer, learning_rate, momentum, nesterov, weight_decay):
    """``sgd`` as whole-array NumPy."""
    g = g + weight_decay * w
    if momentum != 0:
        momentum_buffer[...] = momentum * momentum_buffer + g
        g = g + momentum * momentum_buffer if nesterov else momentum_buffer
    w -= learning_rate * g


@compiled
def adam(w, g, m, v, one_minus_beta_1, beta_2, one_minus_beta_2, step_size, root_correction, epsilon,
         weight_decay, shrink):
    """g += wd * w;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    w = shrink * w - step_size * m / (sqrt(v) / root_correction + eps)

    with ``step_size = lr / (1 - b1^t)`` and ``root_correction = sqrt(1 - b2^t)`` (Adam's bias
    corrections) and ``shrink = 1 - lr * wd`` for AdamW's decoupled decay (1 for Adam)."""
    if g.size != w.size or m.size != w.size or v.size != w.size:
        raise ShapeError("adam: g, m and v must have as many entries as w")
    for i in range(w.size):
        grad = g[i] + weight_decay * w[i]
        m_i = m[i] + one_minus_beta_1 * (grad - m[i])  # = b1 m + (1 - b1) g, rounded as PyTorch does
        v_i = beta_2 * v[i] + one_minus_beta_2 * grad * grad
        m[i], v[i] = m_i, v_i
        w_i = shrink * w[i]
        w[i] = w_i - step_size * m_i / (math.sqrt(v_i) / root_correction + epsilon)


def adam_reference(w, g, m, v, one_minus_beta_1, beta_2, one_minus_beta_2, step_size, root_correction,
                   epsilon, weight_decay, shrink):
    """``adam`` as whole-array NumPy."""
    g = g + weight_decay * w
    m += one_minus_beta_1 * (g - m)
    v[...] = beta_2 * v + one_minus_beta_2 * g * g
    w[...] = shrink * w - step_size * m / (np.sqrt(v) / root_correction + epsilon)


@compiled
def rmsprop(w, g, v, mean, momentum_buffer, learning_rate, rho, one_minus_rho, momentum, epsilon,
            centered, weight_decay):
    """g += wd * w;  v = rho v + (1 - rho) g^2;  a = rho a + (1 - rho) g (centered only);
    d = sqrt(v - a^2) + eps (centered) or sqrt(v) + eps;
    b = momentum b + g / d, w -= lr * b  (w -= lr * g / d without momentum)."""
    if (g.size != w.size or v.size != w.size or (centered and mean.size != w.size)
            or (momentum != 0 and momentum_buffer.size != w.size)):
        raise ShapeError("rmsprop: g, v, mean (centered) and momentum_buffer (momentum) must have as many entries as w")
    zero = w.dtype.type(0)
    for i in range(w.size):
        grad = g[i] + weight_decay * w[i]
        v_i = rho * v[i] + one_minus_rho * grad * grad
        v[i] = v_i
        if centered:
            mean_i = mean[i] + one_minus_rho * (grad - mean[i])
            mean[i] = mean_i
            denominator = math.sqrt(max(v_i - mean_i * mean_i, zero)) + epsilon
        else:
            denominator = math.sqrt(v_i) + epsilon
        if momentum != 0:
            b_i = momentum * momentum_buffer[i] + grad / denominator
            momentum_buffer[i] = b_i
            w[i] -= learning_rate * b_i
        else:
            w[i] -= learning_rate * grad / denominator


def rmsprop_reference(w, g, v, mean, momentum_buffer, learning_rate, rho, one_minus_rho, momentum, epsilon,
                      centered, weight_decay):
    """``rmsprop`` as whole-array NumPy."""
    g = g + weight_decay * w
    v[...] = rho * v + one_minus_rho * g * g
    if centered:
        mean += one_minus_rho * (g - mean)
        denominator = np.sqrt(np.maximum(v - mean * mean, 0)) + epsilon
    else:
        denominator = np.sqrt(v) + epsilon
    if momentum != 0:
        momentum_buffer[...] = momentum * momentum_buffer + g / denominator
        w -= learning_rate * momentum_buffer
    else:
        w -= learning_rate * g / denominator


@compiled
def adagrad(w, g, accumulator, learning_rate, epsilon, weight_decay):
    """g += wd * w;  a = a + g^2;  w -= lr * g / (sqrt(a) + eps)."""
    if g.size != w.size or accumulator.size != w.size:
        raise ShapeError("adagrad: g and accumulator must have as many entries as w")
    for i in range(w.size):
        grad = g[i] + weight_decay * w[i]
        a_i = accumulator[i] + grad * grad
        accumulator[i] = a_i
        w[i] -= learning_rate * grad / (math.sqrt(a_i) + epsilon)


def adagrad_reference(w, g, accumulator, learning_rate, epsilon, weight_decay):
    """``adagrad`` as whole-array NumPy."""
    g = g + weight_decay * w
    accumulator += g * g
    w -= learning_rate * g / (np.sqrt(accumulator) + epsilon)


@compiled
def adamax(w, g, m, u, one_minus_beta_1, beta_2, step_size, epsilon, weight_decay):
    """g += wd * w;  m = b1 m + (1 - b1) g;  u = max(b2 u, |g| + eps);  w -= step_size * m / u

    with ``step_size = lr / (1 - b1^t)`` (the bias correction of m)."""
    if g.size != w.size or m.size != w.size or u.size != w.size:
        raise ShapeError("adamax: g, m and u must have as many entries as w")
    for i in range(w.size):
        grad = g[i] + weight_decay * w[i]
        m_i = m[i] + one_minus_beta_1 * (grad - m[i])
        u_i = max(beta_2 * u[i], abs(grad) + epsilon)
        m[i], u[i] = m_i, u_i
        w[i] -= step_size * m_i / u_i


def adamax_reference(w, g, m, u, one_minus_beta_1, beta_2, step_size, epsilon, weight_decay):
    """``adamax`` as whole-array NumPy."""
    g = g + weight_decay * w
    m += one_minus_beta_1 * (g - m)
    np.maximum(beta_2 * u, np.abs(g) + epsilon, out=u)
    w -= step_size * m / u


@compiled
def nadam(w, g, m, v, one_minus_beta_1, beta_2, one_minus_beta_2, gradient_step, momentum_step, root_correction,
          epsilon, weight_decay):
    """g += wd * w;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    w -= (gradient_step * g + momentum_step * m) / (sqrt(v) / root_correction + eps)

    with ``gradient_step = lr (1 - mu_t) / (1 - M_t)``, ``momentum_step = lr mu_(t+1) / (1 - M_t
    mu_(t+1))`` (Nesterov's look-ahead, ``M_t`` the product of the momentum coefficients so far) and
    ``root_correction = sqrt(1 - b2^t)``."""
    if g.size != w.size or m.size != w.size or v.size != w.size:
        raise ShapeError("nadam: g, m and v must have as many entries as w")
    for i in range(w.size):
        grad = g[i] + weight_decay * w[i]
        m_i = m[i] + one_minus_beta_1 * (grad - m[i])
        v_i = beta_2 * v[i] + one_minus_beta_2 * grad * grad
        m[i], v[i] = m_i, v_i
        w[i] -= (gradient_step * grad + momentum_step * m_i) / (math.sqrt(v_i) / root_correction + epsilon)


def nadam_reference(w, g, m, v, one_minus_beta_1, beta_2, one_minus_beta_2, gradient_step, momentum_step,
                    root_correction, epsilon, weight_decay):
    """``nadam`` as whole-array NumPy."""
    g = g + weight_decay * w
    m += one_minus_beta_1 * (g - m)
    v[...] = beta_2 * v + one_minus_beta_2 * g * g
    w -= (gradient_step * g + momentum_step * m) / (np.sqrt(v) / root_correction + epsilon)


@compiled
def sparse_softmax_cross_entropy(z, labels, smoothing, values, grads):
    """Per row ``i`` of the logits ``z`` (``K`` classes), true class ``c = labels[i]``, label
    smoothing ``s``; the targets are ``y_j = (1 - s) [j == c] + s / K``:

        m = max_j z_j;   lse = m + log(sum_j exp(z_j - m))          (log-sum-exp, no overflow)
        values[i] = -sum_j y_j log_softmax(z)_j = lse - (1 - s) z_c - (s / K) sum_j z_j
        grads[i, j] = softmax(z)_j - y_j = exp(z_j - lse) - y_j

    One pass over a row for the maximum, one for the sum of exponentials (kept in ``grads``),
    one to finish the gradient: the dozen NumPy calls of the same formula become one call.

    Returns -1, or the first row whose label is not in ``[0, K)``: that row and the ones after
    it are left unwritten, and the caller raises."""
    n, k = z.shape
    if labels.shape[0] != n or values.shape[0] != n or grads.shape[0] != n or grads.shape[1] != k:
        raise ShapeError("sparse_softmax_cross_entropy: labels and values need one entry per row of z, "
                         "grads the shape of z")
    off = smoothing / k
    for i in range(n):
        c = labels[i]
        if c < 0 or c >= k:
            return i
        m = z[i, 0]
        total = 0.0
        for j in range(k):
            m = max(m, z[i, j])
            total += z[i, j]
        sum_exp = 0.0
        for j in range(k):
            e = math.exp(z[i, j] - m)
            grads[i, j] = e
            sum_exp += e
        lse = m + math.log(sum_exp)
        values[i] = lse - (1 - smoothing) * z[i, c] - off * total
        for j in range(k):
            grads[i, j] = grads[i, j] / sum_exp - off
        grads[i, c] -= 1 - smoothing
    return -1


def sparse_softmax_cross_entropy_reference(z, labels, smoothing, values, grads):
    """``sparse_softmax_cross_entropy`` as whole-array NumPy (labels already in range)."""
    y = np.full(z.shape, smoothing / z.shape[1])
    y[np.arange(len(z)), labels] += 1 - smoothing
    log_p = ops.log_softmax(z)
    values[...] = -(y * log_p).sum(axis=1)
    grads[...] = np.exp(log_p) - y
