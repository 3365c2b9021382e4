"""Winograd's minimal filtering: a stride-1 convolution with fewer multiplications.

The idea, in one dimension. Two outputs of a 3-tap correlation, ``y_i = sum_k d_{i+k} g_k`` for
``i = 0, 1``, take 6 multiplications done directly. Evaluate instead at the points 0, 1, -1 and
infinity: with

    AT = [[1, 1, 1, 0],       G = [[1,    0,   0  ],      BT = [[1,  0, -1, 0],
          [0, 1, -1, 1]]           [1/2,  1/2, 1/2],            [0,  1,  1, 0],
                                   [1/2, -1/2, 1/2],            [0, -1,  1, 0],
                                   [0,    0,   1  ]]            [0, -1,  0, 1]]

    y = AT @ ((G @ g) * (BT @ d))          (d: 4 inputs, g: 3 taps, y: 2 outputs)

takes 4 multiplications (the ``*``); ``G @ g`` is done once per filter, and the products by
``AT`` and ``BT`` are additions (their entries are 0 and +-1). This is F(m, r): ``m`` outputs of
an ``r``-tap filter from ``alpha = m + r - 1`` inputs with ``alpha`` multiplications instead of
``m * r``. In two dimensions the same identity runs along both axes over a tile of ``alpha x
alpha`` inputs:

    Y = AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T        (d: alpha x alpha, Y: m x m)

and a layer with ``C`` input channels and ``F`` filters sums over the channels inside the
product, which makes the ``*`` one matrix product per position ``xi`` of the tile:

    U[xi] = (G g G^T)[xi]       (C, F)      the kernel, transformed once a step
    V[xi] = (BT d BT^T)[xi]     (tiles, C)  every input tile, transformed
    M[xi] = V[xi] @ U[xi]       (tiles, F)  ``alpha^2`` matrix products
    y = AT M AT^T               per tile and filter, ``m x m`` outputs

For a 5x5 kernel and ``m = 2`` (tiles of 6x6): 36 multiplications per 2x2 outputs per channel
pair instead of 100, 2.8x fewer; for 3x3 (tiles of 4x4), 16 instead of 36. ``m = 2`` keeps the
points small (0, +-1, +-2, infinity), so float32 stays within about 1e-5 of the direct sum
(larger tiles save more and lose more digits).

Where the matrices come from. The correlation of ``r`` taps over ``alpha`` inputs is the
transpose of the linear convolution (the product of polynomials) of ``m`` numbers with ``r``,
which has ``alpha`` coefficients. A polynomial of degree ``alpha - 1`` is known from its values
at ``alpha`` points (infinity stands for the leading coefficient), so: evaluate both factors at
the points (Vandermonde matrices ``E_m`` and ``E_r``), multiply the values, interpolate (the
inverse Vandermonde ``E_alpha^-1``). Transposed: ``AT = E_m^T``, ``G = E_r``,
``BT = E_alpha^-T``; ``transform_matrices`` computes them in exact fractions and moves each row's
denominators from ``BT`` into ``G``, so the data's transform is whole numbers.

Backward is the chain rule through the same linear maps, in reverse order:

    dM[xi] = (A dY A^T)[xi]      the output transform, transposed
    dU[xi] = V[xi]^T @ dM[xi]    summed over the tiles   ->   dW = G^T dU G
    dV[xi] = dM[xi] @ U[xi]^T                              ->   dx = BT^T dV BT, added
                                                                back tile by tile (tiles overlap)

The identity is exact, so these are exactly the gradients of the convolution (up to rounding).
The compiled transforms (``input_transform``, ``output_transform`` and their transposes) sit
beside NumPy references written with ``einsum`` over the tiles, which the tests compare them with.
"""
import functools
import math
from fractions import Fraction

import numba
import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import checks, threads
from ..errors import ShapeError
from .slices import OutputGradient

# The kernel sizes done this way (along each axis), and the outputs per tile along each axis.
KERNEL_SIZES = (3, 5)
OUTPUT_TILE = 2
# The points the polynomials are evaluated at, beside infinity: the first alpha - 1 are used.
POINTS = (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2), Fraction(1, 2), Fraction(-1, 2))

# ``contract`` lets the compiler fuse a multiply and an add (one rounding instead of two); no
# other fast-math license, so NaN and infinity go through as IEEE says.
_compile = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})


def _vandermonde(points, size):
    """Rows ``[1, p, p^2, ..., p^(size-1)]`` for each point, then infinity's ``[0, ..., 0, 1]``."""
    return [[p ** k for k in range(size)] for p in points] + [[Fraction(0)] * (size - 1) + [Fraction(1)]]


def _inverse(matrix):
    """The inverse of a square matrix of Fractions (Gauss-Jordan elimination, exact)."""
    n = len(matrix)
    rows = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next(i for i in range(col, n) if rows[i][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        rows[col] = [value / rows[col][col] for value in rows[col]]
        for i in range(n):
            if i != col and rows[i][col] != 0:
                factor = rows[i][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[col])]
    return [row[n:] for row in rows]


@functools.lru_cache(maxsize=None)
def transform_matrices(m, r):
    """``(AT, G, BT)`` of F(m, r) as float64 arrays: (m, alpha), (alpha, r), (alpha, alpha)."""
    alpha = m + r - 1
    if not 2 <= alpha <= len(POINTS) + 1:
        raise ValueError(f"F({m}, {r}) needs {alpha} points, glassnet has {len(POINTS) + 1}")
    points = POINTS[:alpha - 1]
    evaluate_m, evaluate_r = _vandermonde(points, m), _vandermonde(points, r)
    interpolate = _inverse(_vandermonde(points, alpha))
    bt = [[interpolate[i][j] for i in range(alpha)] for j in range(alpha)]  # E_alpha^-T
    g = [list(row) for row in evaluate_r]
    for j in range(alpha):  # row j of BT times s, row j of G divided by s: the product is unchanged
        scale = math.lcm(*(value.denominator for value in bt[j]))
        bt[j] = [value * scale for value in bt[j]]
        g[j] = [value / scale for value in g[j]]
    at = [[evaluate_m[j][i] for j in range(alpha)] for i in range(m)]
    return tuple(np.array(matrix, dtype=np.float64) for matrix in (at, g, bt))


class Plan:
    """The matrices of one kernel size, per axis, in one dtype: ``at`` (m, alpha), ``g`` (alpha,
    r) and ``bt`` (alpha, alpha) for the height (``_h``) and the width (``_w``)."""

    def __init__(self, kernel_size, dtype):
        (self.at_h, self.g_h, self.bt_h), (self.at_w, self.g_w, self.bt_w) = (
            [matrix.astype(dtype) for matrix in transform_matrices(OUTPUT_TILE, r)] for r in kernel_size)
        self.alpha = (self.bt_h.shape[0], self.bt_w.shape[0])
        self.m = (OUTPUT_TILE, OUTPUT_TILE)

    def tiles(self, output_size):
        """How many tiles of ``m x m`` outputs cover ``output_size`` (the last ones may stick out)."""
        return tuple(-(-size // m) for size, m in zip(output_size, self.m))

    def padded_size(self, output_size):
        """The input size the tiles read: ``m * tiles + r - 1`` along each axis."""
        return tuple(m * t + a - m for m, t, a in zip(self.m, self.tiles(output_size), self.alpha))

    def kernel_transform(self, weight):
        """``U[xi] = (G g G^T)[xi]``: (kh, kw, C, F) -> (alpha_h * alpha_w, C, F)."""
        u = np.einsum("ak,bl,klcf->abcf", self.g_h, self.g_w, weight, optimize=True)
        return np.ascontiguousarray(u.reshape(-1, *weight.shape[2:]))

    def kernel_gradient(self, du):
        """``dW = G^T dU G``, the transpose of ``kernel_transform``: (alpha^2, C, F) -> (kh, kw, C, F)."""
        du = du.reshape(*self.alpha, *du.shape[1:])
        return np.einsum("ak,bl,abcf->klcf", self.g_h, self.g_w, du, optimize=True)


# The compiled transforms work on planes: arrays (height, width, L) whose last axis holds, for each
# pixel, the channels of several examples side by side (``convolve`` lays a slice of the batch
# out so). The transforms are the same for every example and channel, so each inner loop runs
# over all L numbers of a pixel at once: long loops the compiler turns into vector instructions.
# A tile ``t = ty * tiles_w + tx`` reads the plane's rows ``m_h*ty`` to ``m_h*ty + alpha_h - 1`` and
# columns ``m_w*tx`` to ``m_w*tx + alpha_w - 1``.

@_compile
def row_terms(matrix, terms):
    """The nonzero entries of each row of ``matrix`` as ``terms`` (column, value) pairs: ``columns``,
    ``values`` (rows, terms). The transforms sum a fixed number of products per number this way,
    one expression the compiler keeps in registers, where adding one product at a time to memory
    takes about twice as long. A row with fewer entries is padded with its first column and the
    value 0: that number is in the sum already, so a NaN reaches only the sums whose nonzero
    entries read it, as in the direct sum over the window."""
    rows, width = matrix.shape
    columns = np.zeros((rows, terms), np.int64)
    values = np.zeros((rows, terms), matrix.dtype)
    for r in range(rows):
        k = 0
        for col in range(width):
            if matrix[r, col] != 0:
                if k == terms:
                    raise ShapeError("row_terms: a row has more nonzero entries than the transform sums")
                columns[r, k], values[r, k] = col, matrix[r, col]
                k += 1
        columns[r, k:] = columns[r, 0]
    return columns, values


@_compile
def _tiles_fit(plane, bt_h, bt_w, m_h, m_w, tiles_h, tiles_w, tiles):
    """Whether ``tiles_h x tiles_w`` tiles of BT's size, ``m`` apart, lie inside ``plane`` (H, W, L)
    and ``tiles`` is (alpha_h * alpha_w, tiles_h * tiles_w, L): the input transforms' check."""
    height, width, length = plane.shape
    ah, aw = bt_h.shape[0], bt_w.shape[0]
    return (m_h >= 1 and m_w >= 1 and bt_h.shape[1] == ah and bt_w.shape[1] == aw and tiles_h >= 0 and tiles_w >= 0
            and (tiles_h - 1) * m_h + ah <= height and (tiles_w - 1) * m_w + aw <= width
            and tiles.shape[0] == ah * aw and tiles.shape[1] == tiles_h * tiles_w and tiles.shape[2] == length)


@_compile
def input_transform(xp, bt_h, bt_w, m_h, m_w, tiles_h, tiles_w, v):
    """``v[(a, b), t, :] = (BT d BT^T)[a, b]`` for each tile ``t`` of the padded input plane ``xp``
    (Hp, Wp, L), ``d`` the tile's (alpha_h, alpha_w, L) block; ``v``: (alpha_h * alpha_w,
    tiles_h * tiles_w, L). ``BT d`` (down the columns) is done once for a whole row of tiles, a
    strip of ``alpha_h`` rows of the plane: the tiles of a row overlap, and share it. Each number
    is a sum of 4 products (``row_terms``: a row of BT has at most 4 nonzero entries for r <= 5)."""
    length = xp.shape[2]
    ah, aw = bt_h.shape[0], bt_w.shape[0]
    if not _tiles_fit(xp, bt_h, bt_w, m_h, m_w, tiles_h, tiles_w, v):
        raise ShapeError("input_transform: the arrays do not fit the tiles (see its docstring)")
    (i_h, w_h), (i_w, w_w) = row_terms(bt_h, 4), row_terms(bt_w, 4)
    strip = (tiles_w - 1) * m_w + aw
    rows = np.empty((ah, strip, length), xp.dtype)  # BT times the strip's columns
    for ty in range(tiles_h):
        y0 = ty * m_h
        for a in range(ah):
            y1, y2, y3, y4 = y0 + i_h[a, 0], y0 + i_h[a, 1], y0 + i_h[a, 2], y0 + i_h[a, 3]
            w1, w2, w3, w4 = w_h[a, 0], w_h[a, 1], w_h[a, 2], w_h[a, 3]
            for x in range(strip):
                for c in range(length):
                    rows[a, x, c] = (w1 * xp[y1, x, c] + w2 * xp[y2, x, c]) + (w3 * xp[y3, x, c] + w4 * xp[y4, x, c])
        for tx in range(tiles_w):
            t, x0 = ty * tiles_w + tx, tx * m_w
            for b in range(aw):
                x1, x2, x3, x4 = x0 + i_w[b, 0], x0 + i_w[b, 1], x0 + i_w[b, 2], x0 + i_w[b, 3]
                w1, w2, w3, w4 = w_w[b, 0], w_w[b, 1], w_w[b, 2], w_w[b, 3]
                for a in range(ah):
                    position = a * aw + b
                    for c in range(length):
                        v[position, t, c] = ((w1 * rows[a, x1, c] + w2 * rows[a, x2, c])
                                             + (w3 * rows[a, x3, c] + w4 * rows[a, x4, c]))


@_compile
def input_transform_transpose(dv, bt_h, bt_w, m_h, m_w, tiles_h, tiles_w, dxp):
    """The transpose of ``input_transform``: ``(BT^T dV BT)`` of each tile added to the (alpha_h,
    alpha_w, L) block of ``dxp`` (Hp, Wp, L) it was read from (tiles overlap; start from zeros).
    A row of tiles is gathered in a strip first (``dV BT`` of each tile added at its columns),
    which then goes down into ``dxp``'s rows once."""
    length = dxp.shape[2]
    ah, aw = bt_h.shape[0], bt_w.shape[0]
    if not _tiles_fit(dxp, bt_h, bt_w, m_h, m_w, tiles_h, tiles_w, dv):
        raise ShapeError("input_transform_transpose: the arrays do not fit the tiles (see its docstring)")
    strip = (tiles_w - 1) * m_w + aw
    rows = np.empty((ah, strip, length), dxp.dtype)  # dV BT of the row's tiles, added at their columns
    for ty in range(tiles_h):
        y0 = ty * m_h
        for a in range(ah):
            for x in range(strip):
                for c in range(length):
                    rows[a, x, c] = 0
        for tx in range(tiles_w):
            t, x0 = ty * tiles_w + tx, tx * m_w
            for a in range(ah):
                for b in range(aw):
                    position = a * aw + b
                    for j in range(aw):
                        coefficient = bt_w[b, j]
                        if coefficient != 0:
                            for c in range(length):
                                rows[a, x0 + j, c] += coefficient * dv[position, t, c]
        for i in range(ah):
            for a in range(ah):
                coefficient = bt_h[a, i]
                if coefficient != 0:
                    for x in range(strip):
                        for c in range(length):
                            dxp[y0 + i, x, c] += coefficient * rows[a, x, c]


@_compile
def output_transform(mm, at_h, at_w, tiles_h, tiles_w, bias, relu, z):
    """``z[m_h*ty + i, m_w*tx + j, :] = bias + (AT M AT^T)[i, j]`` for each tile ``t`` of ``mm``
    (alpha_h * alpha_w, tiles_h * tiles_w, L); ``z``: (out_h, out_w, L), ``bias``: (L,); outputs
    past ``z``'s edge are dropped. With ``relu``, ``max(z, 0)`` is written instead. Sums of 5
    products (a row of AT has at most 5 nonzero entries for r <= 5)."""
    out_h, out_w, length = z.shape
    mh, ah = at_h.shape
    mw, aw = at_w.shape
    if not (mm.shape[0] == ah * aw and mm.shape[1] == tiles_h * tiles_w and mm.shape[2] == length
            and bias.shape[0] == length and tiles_h * mh >= out_h and tiles_w * mw >= out_w):
        raise ShapeError("output_transform: the arrays do not fit the tiles (see its docstring)")
    (i_h, w_h), (i_w, w_w) = row_terms(at_h, 5), row_terms(at_w, 5)
    rows = np.empty((mh, aw, length), z.dtype)  # AT M: the tile's columns transformed
    for ty in range(tiles_h):
        for tx in range(tiles_w):
            t = ty * tiles_w + tx
            for i in range(mh):
                w1, w2, w3, w4, w5 = w_h[i, 0], w_h[i, 1], w_h[i, 2], w_h[i, 3], w_h[i, 4]
                for b in range(aw):
                    p1, p2, p3 = i_h[i, 0] * aw + b, i_h[i, 1] * aw + b, i_h[i, 2] * aw + b
                    p4, p5 = i_h[i, 3] * aw + b, i_h[i, 4] * aw + b
                    for c in range(length):
                        rows[i, b, c] = ((w1 * mm[p1, t, c] + w2 * mm[p2, t, c]) + (w3 * mm[p3, t, c]
                                         + w4 * mm[p4, t, c]) + w5 * mm[p5, t, c])
            for i in range(min(mh, out_h - ty * mh)):
                for j in range(min(mw, out_w - tx * mw)):
                    y, x = ty * mh + i, tx * mw + j
                    b1, b2, b3, b4, b5 = i_w[j, 0], i_w[j, 1], i_w[j, 2], i_w[j, 3], i_w[j, 4]
                    w1, w2, w3, w4, w5 = w_w[j, 0], w_w[j, 1], w_w[j, 2], w_w[j, 3], w_w[j, 4]
                    for c in range(length):
                        value = bias[c] + ((w1 * rows[i, b1, c] + w2 * rows[i, b2, c]) + (w3 * rows[i, b3, c]
                                           + w4 * rows[i, b4, c]) + w5 * rows[i, b5, c])
                        z[y, x, c] = max(value, 0) if relu else value


@_compile
def output_transform_transpose(dz, at_h, at_w, tiles_h, tiles_w, dm):
    """The transpose of ``output_transform`` (without the bias): ``dm[(a, b), t, :] = (A dY
    A^T)[a, b]``, ``dY`` the tile's (m_h, m_w, L) block of ``dz`` (out_h, out_w, L), zeros past its
    edge. Sums of 2 products (a column of AT has at most ``m`` = 2 nonzero entries)."""
    out_h, out_w, length = dz.shape
    mh, ah = at_h.shape
    mw, aw = at_w.shape
    if not (dm.shape[0] == ah * aw and dm.shape[1] == tiles_h * tiles_w and dm.shape[2] == length
            and tiles_h * mh >= out_h and tiles_w * mw >= out_w and mh <= 2 and mw <= 2):
        raise ShapeError("output_transform_transpose: the arrays do not fit the tiles (see its docstring)")
    (i_h, w_h), (i_w, w_w) = row_terms(at_h.T, 2), row_terms(at_w.T, 2)
    rows = np.zeros((mh, aw, length), dz.dtype)  # dY A^T
    for ty in range(tiles_h):
        for tx in range(tiles_w):
            t, y0, x0 = ty * tiles_w + tx, ty * mh, tx * mw
            for i in range(mh):
                if y0 + i >= out_h:  # the rows past the edge: zeros
                    for b in range(aw):
                        for c in range(length):
                            rows[i, b, c] = 0
                    continue
                for b in range(aw):
                    x1, x2 = x0 + i_w[b, 0], x0 + i_w[b, 1]
                    w1 = w_w[b, 0] if x1 < out_w else 0  # the columns past the edge: no product
                    w2 = w_w[b, 1] if x2 < out_w else 0
                    x1, x2 = min(x1, out_w - 1), min(x2, out_w - 1)
                    for c in range(length):
                        rows[i, b, c] = w1 * dz[y0 + i, x1, c] + w2 * dz[y0 + i, x2, c]
            for a in range(ah):
                r1, r2, w1, w2 = i_h[a, 0], i_h[a, 1], w_h[a, 0], w_h[a, 1]
                for b in range(aw):
                    position = a * aw + b
                    for c in range(length):
                        dm[position, t, c] = w1 * rows[r1, b, c] + w2 * rows[r2, b, c]


# -- NumPy references: the same maps over every tile of a plane at once ---------------------------
def tile_view(xp, alpha, m, tiles):
    """The tiles of the plane ``xp`` (Hp, Wp, L) as a view (tiles_h, tiles_w, alpha_h, alpha_w,
    L): ``[ty, tx, i, j, :] = xp[m_h*ty + i, m_w*tx + j, :]``."""
    sy, sx, sc = xp.strides
    return as_strided(xp, (*tiles, *alpha, xp.shape[2]), (m[0] * sy, m[1] * sx, sy, sx, sc), writeable=False)


def input_transform_reference(xp, bt_h, bt_w, m_h, m_w, tiles_h, tiles_w, v):
    d = tile_view(xp, (bt_h.shape[0], bt_w.shape[0]), (m_h, m_w), (tiles_h, tiles_w))
    v[...] = np.einsum("ai,bj,yxijc->abyxc", bt_h, bt_w, d).reshape(v.shape)


def input_transform_transpose_reference(dv, bt_h, bt_w, m_h, m_w, tiles_h, tiles_w, dxp):
    ah, aw = bt_h.shape[0], bt_w.shape[0]
    dv = dv.reshape(ah, aw, tiles_h, tiles_w, dxp.shape[2])
    dd = np.einsum("ai,bj,abyxc->yxijc", bt_h, bt_w, dv)  # each tile's gradient
    for i in range(ah):  # added back where each tile was read, one offset (i, j) at a time
        for j in range(aw):
            dxp[i:i + m_h * (tiles_h - 1) + 1:m_h, j:j + m_w * (tiles_w - 1) + 1:m_w] += dd[:, :, i, j]


def output_transform_reference(mm, at_h, at_w, tiles_h, tiles_w, bias, relu, z):
    (mh, ah), (mw, aw) = at_h.shape, at_w.shape
    out_h, out_w, length = z.shape
    mm = mm.reshape(ah, aw, tiles_h, tiles_w, length)
    y = np.einsum("ia,jb,abyxc->yixjc", at_h, at_w, mm).reshape(tiles_h * mh, tiles_w * mw, length)
    z[...] = y[:out_h, :out_w] + bias
    if relu:
        np.maximum(z, 0, out=z)


def output_transform_transpose_reference(dz, at_h, at_w, tiles_h, tiles_w, dm):
    mh, mw = at_h.shape[0], at_w.shape[0]
    out_h, out_w, length = dz.shape
    full = np.zeros((tiles_h * mh, tiles_w * mw, length), dz.dtype)
    full[:out_h, :out_w] = dz
    blocks = full.reshape(tiles_h, mh, tiles_w, mw, length)
    dm[...] = np.einsum("ia,jb,yixjc->abyxc", at_h, at_w, blocks).reshape(dm.shape)


# -- the layer's forward and backward ----------------------------------------------------------
# The most bytes of a slice's products M (alpha^2, tiles, F) at once: a few examples whose
# transforms and products stay in a core's cache (2 MiB of L2 here) between the passes.
CHUNK_BYTES = 2 * 2**20


def as_plane(x, pads=((0, 0), (0, 0))):
    """A slice of the batch (examples, H, W, C) as a plane (H, W, examples * C), with ``pads`` =
    ((top, bottom), (left, right)) rows and columns of zeros around it: a copy."""
    n, h, w, c = x.shape
    (top, bottom), (left, right) = pads
    plane = np.empty((h + top + bottom, w + left + right, n, c), x.dtype)
    plane[:top] = plane[top + h:] = 0
    plane[top:top + h, :left] = plane[top:top + h, left + w:] = 0
    np.copyto(plane[top:top + h, left:left + w], x.transpose(1, 2, 0, 3))
    return plane.reshape(plane.shape[0], plane.shape[1], n * c)


def from_plane(plane, out, pads=((0, 0), (0, 0))):
    """``as_plane`` undone: the plane (H, W, examples * C) without its ``pads`` written into
    ``out`` (examples, H, W, C)."""
    (top, _), (left, _) = pads
    h, w = out.shape[1:3]
    inside = plane[top:top + h, left:left + w]
    np.copyto(out, inside.reshape(h, w, out.shape[0], out.shape[3]).transpose(2, 0, 1, 3))


def convolve(layer, x, pads, output_size, plan, relu):
    """``z = conv(xp, W) + b`` by F(2x2, kh x kw) for a stride-1, undilated, ungrouped ``layer``,
    ``xp`` the input ``x`` (batch, H, W, C) with ``pads`` = ((top, bottom), (left, right)) zeros
    around it (to ``plan.padded_size(output_size)``), then ``max(z, 0)`` with ``relu``; returns
    the output and its backward (which returns the gradient of ``x``, or None).

    The batch goes in slices of ``chunk`` examples, dealt to glassnet's threads (``threads.py``);
    each slice is laid out as a padded plane (``as_plane``), so that ``V[xi]`` of its ``T`` tiles
    is the matrix (T * examples, C) and ``M[xi]`` is (T * examples, F), rows in the order (tile,
    example)."""
    n, channels, filters, dtype = x.shape[0], x.shape[3], layer.filters, x.dtype
    (tiles_h, tiles_w), (m_h, m_w) = plan.tiles(output_size), plan.m
    positions, tiles = plan.alpha[0] * plan.alpha[1], tiles_h * tiles_w
    checks.affordable(f"the Winograd tiles of one example in layer {layer.name!r}",
                      positions * tiles * (channels + filters) * dtype.itemsize)
    chunk = max(1, CHUNK_BYTES // (positions * tiles * filters * dtype.itemsize))
    starts = list(range(0, n, chunk))
    u = plan.kernel_transform(layer.weight.value)  # (alpha^2, C, F)
    # U[xi]^T for dV, made contiguous once: a product reads it about 1.5x faster than the transposed view
    u_transposed = np.ascontiguousarray(u.transpose(0, 2, 1)) if layer.compute_input_gradient else None
    bias = layer.bias.value if layer.bias is not None else np.zeros(filters, dtype)
    plane_bias = np.tile(bias, chunk)  # a plane's pixel holds its examples' filters side by side
    z = np.empty((n, *output_size, filters), dtype)
    transform_in = dict(bt_h=plan.bt_h, bt_w=plan.bt_w, m_h=m_h, m_w=m_w, tiles_h=tiles_h, tiles_w=tiles_w)
    transform_out = dict(at_h=plan.at_h, at_w=plan.at_w, tiles_h=tiles_h, tiles_w=tiles_w)

    def transformed_input(start):
        """V of the slice at ``start``: (alpha^2, T * examples, C)."""
        part = x[start:start + chunk]
        v = np.empty((positions, tiles, len(part) * channels), dtype)
        input_transform(xp=as_plane(part, pads), v=v, **transform_in)
        return v.reshape(positions, -1, channels)

    def forward_slices(k, own_starts):
        for start in own_starts:
            v = transformed_input(start)
            mm = np.matmul(v, u)  # M[xi] = V[xi] @ U[xi]
            examples = min(chunk, n - start)
            plane = np.empty((*output_size, examples * filters), dtype)
            output_transform(mm=mm.reshape(positions, tiles, -1), z=plane, bias=plane_bias[:examples * filters],
                             relu=relu, **transform_out)
            from_plane(plane, z[start:start + chunk])

    threads.run_split(forward_slices, starts)

    def backward(dz):
        dz = np.ascontiguousarray(dz)
        dx = np.empty(x.shape, dtype) if layer.compute_input_gradient else None
        padded_size = plan.padded_size(output_size)
        pixels = output_size[0] * output_size[1]

        def backward_slices(k, own_starts):
            """This thread's sums of dU and db over its slices, and each slice's input gradient."""
            du = np.zeros((positions, channels, filters), dtype)
            bias_sums = OutputGradient(layer.bias, dz.reshape(-1, filters), chunk * pixels, relu)
            for start in own_starts:
                v = transformed_input(start)
                dm = np.empty((positions, tiles, v.shape[1] // tiles * filters), dtype)
                part = slice(start, start + chunk)
                dz_part = bias_sums.add(dz[part].reshape(-1, filters), z[part].reshape(-1, filters))
                output_transform_transpose(dz=as_plane(dz_part.reshape(dz[part].shape)), dm=dm, **transform_out)
                dm = dm.reshape(positions, -1, filters)
                du += np.matmul(v.transpose(0, 2, 1), dm)  # dU[xi] = V[xi]^T @ dM[xi]
                if dx is not None:
                    dv = np.matmul(dm, u_transposed)  # dV[xi] = dM[xi] @ U[xi]^T
                    plane = np.zeros((*padded_size, dv.shape[1] // tiles * channels), dtype)
                    input_transform_transpose(dv=dv.reshape(positions, tiles, -1), dxp=plane, **transform_in)
                    from_plane(plane, dx[start:start + chunk], pads)  # the padding's gradient dropped
            return du, bias_sums

        sums = threads.run_split(backward_slices, starts)
        du = sums[0][0]
        for other, _ in sums[1:]:
            du += other  # the threads' sums, in the order of the threads
        OutputGradient.store([bias_sums for _, bias_sums in sums])
        layer.weight.grad[...] = plan.kernel_gradient(du)
        return dx

    return z, backward
