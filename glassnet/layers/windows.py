"""The windows of pictures, what the convolutions and poolings share: the output size and padding
along each axis (Keras's rules: ``output_length``), the padded copy (``pad``), every window as a
strided view (``windows``) and copied into matrices (``im2col``), and the check of the layers'
spatial arguments (``spatial_sizes``). ``conv.py``'s docstring has the math these serve.
"""
import collections

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import checks
from ..errors import ConfigurationError

# How a layer lays its input out, in 2-D form (a Conv1D's steps are a width of height 1):
# input_size (H, W), output_size (out_h, out_w), pads ((top, bottom), (left, right)), channels C.
Geometry = collections.namedtuple("Geometry", "input_size output_size pads channels")


def output_length(size, kernel, stride, dilation, padding):
    """``(out, before, after)`` along one spatial axis of ``size`` (the padding rules of ``conv.py``'s
    docstring); ``out`` is 0 when the dilated kernel does not fit in the padded input."""
    span = dilation * (kernel - 1) + 1
    if padding == "valid":
        before = after = 0
    elif padding == "causal":
        before, after = span - 1, 0
    else:  # "same"
        out = -(-size // stride)
        total = max((out - 1) * stride + span - size, 0)
        before, after = total // 2, total - total // 2
    padded = size + before + after
    return max((padded - span) // stride + 1, 0), before, after


def pad(x, pads, value=0.0):
    """``x`` (batch, H, W, C) with ``pads = ((top, bottom), (left, right))`` rows and columns of
    ``value`` around it: a new array, or ``x`` itself without padding."""
    (top, bottom), (left, right) = pads
    if not (top or bottom or left or right):
        return x
    n, h, w, c = x.shape
    xp = np.full((n, h + top + bottom, w + left + right, c), value, dtype=x.dtype)
    xp[:, top:top + h, left:left + w] = x
    return xp


def windows(xp, kernel_size, strides, dilation, output_size):
    """The windows of the padded batch ``xp`` (batch, Hp, Wp, C), as a read-only view of shape
    (batch, out_h, out_w, kh, kw, C) and no copy:

        windows[n, p, q, i, j, c] = xp[n, p*sh + i*dh, q*sw + j*dw, c]

    Each index steps through ``xp``'s memory by a fixed stride, which is all a strided view is."""
    (kh, kw), (sh, sw), (dh, dw), (out_h, out_w) = kernel_size, strides, dilation, output_size
    batch, channels = xp.shape[0], xp.shape[3]
    sn, sy, sx, sc = xp.strides
    return as_strided(xp, (batch, out_h, out_w, kh, kw, channels), (sn, sh * sy, sw * sx, dh * sy, dw * sx, sc),
                      writeable=False)


def im2col(xp, kernel_size, strides, dilation, output_size, groups=1, out=None, transposed=False):
    """The windows of ``xp`` copied into matrices, one per group: ``cols[k]`` of shape
    (batch * out_h * out_w, kh * kw * C / groups), row ``(n, p, q)`` the window of output pixel
    ``(p, q)`` of example ``n`` in the order (i, j, c) over the channels of group ``k``. Written
    into ``out`` (that shape with ``groups`` first) when given; returned. ``transposed``: each
    ``cols[k]`` transposed instead, (kh * kw * C / groups, batch * out_h * out_w)."""
    view = windows(xp, kernel_size, strides, dilation, output_size)
    batch, out_h, out_w, kh, kw, channels = view.shape
    per_group = channels // groups
    matrix = (kh * kw * per_group, batch * out_h * out_w)
    if out is None:
        out = np.empty((groups, *(matrix[::-1] if not transposed else matrix)), dtype=xp.dtype)
    # split the channel axis into (group, channel in group) and bring the group to the front
    grouped = view.reshape(batch, out_h, out_w, kh, kw, groups, per_group).transpose(5, 0, 1, 2, 3, 4, 6)
    if transposed:
        np.copyto(out.reshape(groups, kh, kw, per_group, batch, out_h, out_w), grouped.transpose(0, 4, 5, 6, 1, 2, 3))
    else:
        np.copyto(out.reshape(groups, batch, out_h, out_w, kh, kw, per_group), grouped)
    return out


def spatial_sizes(kind, name, value, rank, allow_none=False):
    """``value`` (one int or ``rank`` of them) as a tuple of ``rank`` positive ints (or None where
    allowed), else a ConfigurationError naming the layer class ``kind`` and the argument."""
    if value is None and allow_none:
        return None
    values = (value,) * rank if checks._is_int(value) else value
    try:
        values = tuple(values)
    except TypeError:
        values = None
    if values is None or len(values) != rank or not all(checks._is_int(v) and v > 0 for v in values):
        what = "a positive integer" + (f" or a tuple of {rank} positive integers" if rank > 1 else "")
        raise ConfigurationError(f"{kind} {name} must be {what}{' or None' if allow_none else ''}, got {value!r}")
    return tuple(int(v) for v in values)
