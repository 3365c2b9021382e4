"""Compiled loops of the layers: the embedding's scatter-add, col2im and max pooling for the
convolutions, ReLU's backward and batch normalization.

Made as ``kernels.py``'s (its docstring has the rules): each beside ``<kernel>_reference``, the
same math as NumPy with the same arguments and effect, which ``tests/test_kernels.py`` compares it
with; callers name every argument; no argument a caller passes makes a kernel touch memory
outside its arrays (each compares its arrays' shapes first, a ShapeError if they do not fit).
"""
import math

import numpy as np

from .errors import ShapeError
from .kernels import compiled


@compiled
def embedding_gradient(grad, ids, dy):
    """The gradient of the lookup ``y[k] = E[ids[k]]`` (``E``: ``(rows, d)``) as a scatter-add:

        grad = 0;   grad[ids[k]] += dy[k]   for every k

    so a row of ``E`` that no id picks gets 0, and a row picked several times the sum of their
    ``dy``. One pass over ``grad`` to zero it (a memset) and one over ``dy``, whatever the number
    of rows: NumPy's ``np.add.at`` takes about 30x longer on 128 ids of 32 numbers.

    Returns -1, or the first ``k`` whose id is not a row of ``grad``: nothing is added from it
    on, and the caller raises."""
    rows, d = grad.shape
    if dy.shape[0] != ids.shape[0] or dy.shape[1] != d:
        raise ShapeError("embedding_gradient: dy needs one row per id, as wide as grad")
    grad[:, :] = 0
    for k in range(ids.shape[0]):
        i = ids[k]
        if i < 0 or i >= rows:
            return k
        for j in range(d):
            grad[i, j] += dy[k, j]
    return -1


def embedding_gradient_reference(grad, ids, dy):
    """``embedding_gradient`` as NumPy (ids already in range)."""
    grad[...] = 0
    np.add.at(grad, ids, dy)
    return -1


@compiled
def col2im(dcols, dxp, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w):
    """The transpose of im2col (``layers/conv.py``): every entry of the window matrices ``dcols``
    (groups, batch * out_h * out_w, kernel_h * kernel_w * C / groups) added back to the pixel of
    the padded input gradient ``dxp`` (batch, Hp, Wp, C) it was copied from:

        dxp[n, p*sh + i*dh, q*sw + j*dw, k*Cg + c] += dcols[k, (n, p, q), (i, j, c)]

    (``Cg = C / groups``; ``dxp`` is added to, so start from zeros). ``out_h, out_w`` are the
    largest sizes whose windows fit in ``dxp``, as the forward's. One pass over ``dcols``, each
    window's numbers added where they came from while that example's part of ``dxp`` is in cache:
    the reference's ``kh * kw`` strided slice adds over the whole batch take about 8x as long for
    a 5x5 kernel on 14x14x32 (``docs/layers.md``)."""
    batch, height, width, channels = dxp.shape
    groups, rows, columns = dcols.shape
    out_h = (height - dilation_h * (kernel_h - 1) - 1) // stride_h + 1
    out_w = (width - dilation_w * (kernel_w - 1) - 1) // stride_w + 1
    per_group = channels // groups if groups > 0 else 0
    if (groups < 1 or channels % groups != 0 or out_h < 1 or out_w < 1 or rows != batch * out_h * out_w
            or columns != kernel_h * kernel_w * per_group):
        raise ShapeError("col2im: dcols must be (groups, batch * out_h * out_w, kernel_h * kernel_w * channels / "
                         "groups) for the windows that fit in dxp")
    for n in range(batch):
        for p in range(out_h):
            for q in range(out_w):
                row = (n * out_h + p) * out_w + q
                for i in range(kernel_h):
                    y = p * stride_h + i * dilation_h
                    for j in range(kernel_w):
                        x = q * stride_w + j * dilation_w
                        column = (i * kernel_w + j) * per_group
                        for k in range(groups):
                            for c in range(per_group):
                                dxp[n, y, x, k * per_group + c] += dcols[k, row, column + c]


def col2im_reference(dcols, dxp, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w):
    """``col2im`` as NumPy: a loop over the kernel offsets ``(i, j)``. Offset ``(i, j)`` of every
    window is one strided slice of pixels, rows ``i*dh + p*sh`` and columns ``j*dw + q*sw`` for
    all ``(p, q)``, and its column of ``dcols`` is added to that slice in one operation."""
    batch, height, width, channels = dxp.shape
    groups = dcols.shape[0]
    out_h = (height - dilation_h * (kernel_h - 1) - 1) // stride_h + 1
    out_w = (width - dilation_w * (kernel_w - 1) - 1) // stride_w + 1
    d = dcols.reshape(groups, batch, out_h, out_w, kernel_h, kernel_w, channels // groups)
    target = dxp.reshape(batch, height, width, groups, channels // groups)
    for i in range(kernel_h):
        for j in range(kernel_w):
            rows = slice(i * dilation_h, i * dilation_h + stride_h * (out_h - 1) + 1, stride_h)
            columns = slice(j * dilation_w, j * dilation_w + stride_w * (out_w - 1) + 1, stride_w)
            target[:, rows, columns] += d[:, :, :, :, i, j].transpose(1, 2, 3, 0, 4)


@compiled
def max_pool(xp, pool_h, pool_w, stride_h, stride_w, y, first):
    """The maximum of each (pool_h, pool_w) window of the padded input ``xp`` (batch, Hp, Wp, C)
    into ``y`` (batch, out_h, out_w, C), and in ``first`` (same shape, integers) the offset
    ``i * pool_w + j`` of its first maximum in the window's row-major order:

        y[n, p, q, c] = max_{i, j} xp[n, p*sh + i, q*sw + j, c]

    An offset replaces the maximum so far only when strictly greater, so a tie keeps the earlier
    (and a NaN is never picked after the first offset). One pass over the windows, where the
    reference makes three whole-tensor passes per offset."""
    batch, height, width, channels = xp.shape
    out_h = (height - pool_h) // stride_h + 1
    out_w = (width - pool_w) // stride_w + 1
    if (out_h < 1 or out_w < 1 or y.shape[0] != batch or y.shape[1] != out_h or y.shape[2] != out_w
            or y.shape[3] != channels or first.shape != y.shape):
        raise ShapeError("max_pool: y and first must be (batch, out_h, out_w, channels) for the windows that fit in xp")
    for n in range(batch):
        for p in range(out_h):
            for q in range(out_w):
                for c in range(channels):
                    y[n, p, q, c] = xp[n, p * stride_h, q * stride_w, c]
                    first[n, p, q, c] = 0
                for i in range(pool_h):
                    for j in range(pool_w):
                        if i == 0 and j == 0:
                            continue
                        k = i * pool_w + j
                        for c in range(channels):
                            v = xp[n, p * stride_h + i, q * stride_w + j, c]
                            if v > y[n, p, q, c]:
                                y[n, p, q, c] = v
                                first[n, p, q, c] = k


def max_pool_reference(xp, pool_h, pool_w, stride_h, stride_w, y, first):
    """``max_pool`` as NumPy: a loop over the window's offsets, each one strided slice of ``xp``
    holding that offset of every window."""
    out_h, out_w = y.shape[1:3]
    y[...] = xp[:, :stride_h * (out_h - 1) + 1:stride_h, :stride_w * (out_w - 1) + 1:stride_w]
    first[...] = 0
    for k in range(1, pool_h * pool_w):
        i, j = divmod(k, pool_w)
        candidate = xp[:, i:i + stride_h * (out_h - 1) + 1:stride_h, j:j + stride_w * (out_w - 1) + 1:stride_w]
        greater = candidate > y
        np.copyto(y, candidate, where=greater)
        np.copyto(first, k, where=greater)


@compiled
def max_pool_backward(dy, first, pool_h, pool_w, stride_h, stride_w, dxp):
    """The gradient of ``max_pool``: each window's ``dy`` added to the input pixel of its first
    maximum, the padded input gradient ``dxp`` (batch, Hp, Wp, C) being added to (start from zeros):

        dxp[n, p*sh + i, q*sw + j, c] += dy[n, p, q, c]     where first[n, p, q, c] == i * pool_w + j

    For each window and offset ``(i, j)`` the loop over the channels adds ``dy`` or 0, a select
    the compiler vectorizes (about 3x faster than jumping to each maximum channel by channel).
    Raises a ShapeError for an offset in ``first`` outside the window, before writing it."""
    batch, height, width, channels = dxp.shape
    out_h = (height - pool_h) // stride_h + 1
    out_w = (width - pool_w) // stride_w + 1
    if (out_h < 1 or out_w < 1 or dy.shape[0] != batch or dy.shape[1] != out_h or dy.shape[2] != out_w
            or dy.shape[3] != channels or first.shape != dy.shape):
        raise ShapeError("max_pool_backward: dy and first must be (batch, out_h, out_w, channels) for the windows "
                         "that fit in dxp")
    cells = pool_h * pool_w
    for n in range(batch):
        for p in range(out_h):
            for q in range(out_w):
                outside = False
                for c in range(channels):
                    k = first[n, p, q, c]
                    outside |= (k < 0) | (k >= cells)
                if outside:
                    raise ShapeError("max_pool_backward: an offset in first is outside the pool")
                for i in range(pool_h):
                    for j in range(pool_w):
                        k = i * pool_w + j
                        for c in range(channels):
                            g = dy[n, p, q, c]
                            dxp[n, p * stride_h + i, q * stride_w + j, c] += g if first[n, p, q, c] == k else 0


def max_pool_backward_reference(dy, first, pool_h, pool_w, stride_h, stride_w, dxp):
    """``max_pool_backward`` as NumPy: for each offset ``k`` of the window, ``dy`` where the first
    maximum is at ``k`` (0 elsewhere) added to the slice of ``dxp`` holding that offset."""
    out_h, out_w = dy.shape[1:3]
    for k in range(pool_h * pool_w):
        i, j = divmod(k, pool_w)
        dxp[:, i:i + stride_h * (out_h - 1) + 1:stride_h, j:j + stride_w * (out_w - 1) + 1:stride_w] += \
            np.where(first == k, dy, 0)


@compiled
def relu_backward(y, dy, dx):
    """``dx = dy * (y > 0)`` over flat, equally long arrays (ReLU's output ``y``, the gradient of
    its output ``dy``): one pass, where NumPy's expression makes two and a boolean temporary."""
    if y.shape != dy.shape or y.shape != dx.shape:
        raise ShapeError("relu_backward: y, dy and dx must have the same size")
    for i in range(y.shape[0]):
        g = dy[i]
        dx[i] = g if y[i] > 0 else 0


def relu_backward_reference(y, dy, dx):
    """``relu_backward`` as NumPy."""
    np.multiply(dy, y > 0, out=dx)


@compiled
def batch_norm_forward(x, gamma, beta, epsilon, y, x_hat, mean, variance, inv_std):
    """Batch normalization in training, over the rows of ``x`` (rows, F), each column a feature:

        mean = sum(x) / m,   variance = sum((x - mean)^2) / m,   inv_std = 1 / sqrt(variance + epsilon)
        x_hat = (x - mean) * inv_std,   y = gamma * x_hat + beta

    written into ``y`` and ``x_hat`` (like ``x``) and ``mean``, ``variance``, ``inv_std`` (F,).
    Three passes over ``x`` (the sums, the squared deviations, the outputs) with the sums in
    float64, where the NumPy form (``layers/normalization.py``: ``normalize`` and
    ``scale_and_shift``) makes about eight and reduces down the rows with the buffers' precision."""
    rows, features = x.shape
    if (y.shape != x.shape or x_hat.shape != x.shape or gamma.shape[0] != features or beta.shape[0] != features
            or mean.shape[0] != features or variance.shape[0] != features or inv_std.shape[0] != features
            or rows < 1):
        raise ShapeError("batch_norm_forward: y and x_hat must be shaped as x (rows >= 1, features), gamma, beta, "
                         "mean, variance and inv_std must have one entry per feature")
    total = np.zeros(features)
    for r in range(rows):
        for f in range(features):
            total[f] += x[r, f]
    centre = total / rows
    squares = np.zeros(features)
    for r in range(rows):
        for f in range(features):
            d = x[r, f] - centre[f]
            squares[f] += d * d
    scale = np.empty(features)
    for f in range(features):
        var = squares[f] / rows
        scale[f] = 1 / math.sqrt(var + epsilon)
        mean[f], variance[f], inv_std[f] = centre[f], var, scale[f]
    for r in range(rows):
        for f in range(features):
            h = (x[r, f] - centre[f]) * scale[f]
            x_hat[r, f] = h
            y[r, f] = gamma[f] * h + beta[f]


def batch_norm_forward_reference(x, gamma, beta, epsilon, y, x_hat, mean, variance, inv_std):
    """``batch_norm_forward`` as NumPy."""
    mean[...] = x.mean(axis=0)
    variance[...] = ((x - mean) ** 2).mean(axis=0)
    inv_std[...] = 1 / np.sqrt(variance + epsilon)
    x_hat[...] = (x - mean) * inv_std
    y[...] = gamma * x_hat + beta


@compiled
def batch_norm_backward(dy, x_hat, gamma, inv_std, dx, d_gamma, d_beta):
    """The gradients of ``batch_norm_forward`` given ``dy`` (rows, F): ``d_beta = sum(dy)``,
    ``d_gamma = sum(dy * x_hat)`` over the rows, and (unless ``dx`` has no rows) the three-term
    backward of the normalization with ``d_x_hat = gamma * dy``:

        dx = (d_x_hat - mean(d_x_hat) - x_hat * mean(d_x_hat * x_hat)) * inv_std
           = gamma * inv_std * (dy - d_beta / m - x_hat * d_gamma / m)

    Two passes (the sums in float64, then ``dx``) where the NumPy form makes about ten."""
    rows, features = dy.shape
    if (x_hat.shape != dy.shape or gamma.shape[0] != features or inv_std.shape[0] != features
            or d_gamma.shape[0] != features or d_beta.shape[0] != features or rows < 1
            or not (dx.shape[0] == 0 or dx.shape == dy.shape) or dx.shape[1] != features):
        raise ShapeError("batch_norm_backward: x_hat must be shaped as dy (rows >= 1, features), dx too or with no "
                         "rows, gamma, inv_std, d_gamma and d_beta must have one entry per feature")
    sum_dy = np.zeros(features)
    sum_dy_x_hat = np.zeros(features)
    for r in range(rows):
        for f in range(features):
            g = dy[r, f]
            sum_dy[f] += g
            sum_dy_x_hat[f] += g * x_hat[r, f]
    for f in range(features):
        d_beta[f], d_gamma[f] = sum_dy[f], sum_dy_x_hat[f]
    if dx.shape[0] == 0:
        return
    factor = np.empty(features)
    for f in range(features):
        factor[f] = gamma[f] * inv_std[f]
    mean_dy, mean_dy_x_hat = sum_dy / rows, sum_dy_x_hat / rows
    for r in range(rows):
        for f in range(features):
            dx[r, f] = factor[f] * (dy[r, f] - mean_dy[f] - x_hat[r, f] * mean_dy_x_hat[f])


def batch_norm_backward_reference(dy, x_hat, gamma, inv_std, dx, d_gamma, d_beta):
    """``batch_norm_backward`` as NumPy (the three-term formula as ``normalize_backward`` writes it)."""
    d_beta[...] = dy.sum(axis=0)
    d_gamma[...] = (dy * x_hat).sum(axis=0)
    if dx.shape[0]:
        d_x_hat = dy * gamma
        dx[...] = (d_x_hat - d_x_hat.mean(axis=0) - x_hat * (d_x_hat * x_hat).mean(axis=0)) * inv_std
