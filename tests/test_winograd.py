"""Winograd's F(2x2, 3x3 / 5x5) convolution (``glassnet/layers/winograd.py``) and its use by Conv2D
(``algorithm="auto" | "im2col" | "winograd"`` in ``glassnet/layers/conv.py``, the fused ReLU and
``layers/slices.py``'s ``OutputGradient``):

- the transform matrices: Lavin & Gray's published F(2,3), the 1-D identity for 3 and 5 taps;
- each compiled transform against its NumPy ``_reference`` (kernel sizes 3x3, 5x5, 3x5, 5x3,
  several tile counts, outputs that do not fill the last tile), the transposes as adjoints, the
  refusal of arrays that do not fit the tiles, and no write outside the arrays;
- the layer against im2col with the same weights (forward, input, kernel and bias gradients) for
  paddings, sizes, channels, bias, activations, first layers, slices of the batch and threads;
- the ReLU fused into the convolution against ``forward_logits`` and ``max(z, 0)``;
- float64 gradient checks, PyTorch parity, the configuration (refusals, get_config, model
  files) and a small CNN that trains alike with either algorithm.

Tolerances: float64 at rtol 1e-10 (layer against im2col and PyTorch) or 1e-12 (compiled
transforms against their references, the fused ReLU), with an absolute floor of that times the
largest magnitude (entries that cancel to about 0); float32 at rtol 1e-5 with an absolute floor
of 1e-5 times the largest magnitude (Winograd's float32 is within about 1e-5 of the direct sum),
2e-5 against PyTorch's float32 (both round);
gradient checks at gradcheck's 1e-5; the trained losses of the two algorithms within 2% of each other.
"""
import numpy as np
import pytest

import glassnet as gn
from glassnet import checks, layers, threads
from glassnet.errors import ConfigurationError, ShapeError
from glassnet.layers import conv, winograd
from tests import test_conv
from tests.test_conv import built
from tests.test_model_file import config_with, rewrite
from tests.test_threads import blas_threads, two_blas_threads  # noqa: F401  (a fixture)

F64 = dict(rtol=1e-10, atol=1e-12)


def images(shape, n=3, seed=2, dtype=np.float64):
    return test_conv.images(shape, n, seed).astype(dtype)


def close(got, expected, rtol):
    """``got`` within ``rtol`` of ``expected``, with an absolute floor of ``rtol`` times the largest
    magnitude of ``expected`` (sums that cancel to about 0 keep only their rounding)."""
    expected = np.asarray(expected)
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale)


def tolerance(dtype):
    return 1e-10 if np.dtype(dtype) == np.float64 else 1e-5


def twins(make, shape, dtype=np.float64, seed=0):
    """``make(algorithm)`` built twice, as Winograd and as im2col, with the same weights and bias."""
    fast = built(make("winograd"), shape, dtype, seed)
    slow = built(make("im2col"), shape, dtype, seed)
    slow.weight.value[...] = fast.weight.value
    if fast.bias is not None:
        slow.bias.value[...] = fast.bias.value
    return fast, slow


def run(layer, x, dy):
    """The forward of ``layer`` on ``x`` and its backward of ``dy``: copies of y, dx (or None) and
    each parameter's gradient."""
    y, backward = layer.forward(x, training=True)
    y = y.copy()
    dx = backward(dy)
    return y, None if dx is None else dx.copy(), [p.grad.copy() for p in layer.parameters()]


def assert_same_results(got, expected, rtol):
    (y, dx, grads), (y_e, dx_e, grads_e) = got, expected
    close(y, y_e, rtol)
    if dx_e is None:
        assert dx is None
    else:
        close(dx, dx_e, rtol)
    assert len(grads) == len(grads_e)
    for g, g_e in zip(grads, grads_e):
        close(g, g_e, rtol)


class Spy:
    """Counts the calls of ``winograd.convolve`` (patched in by the ``convolve_calls`` fixture)."""

    def __init__(self):
        self.calls = 0
        self.real = winograd.convolve

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.real(*args, **kwargs)


@pytest.fixture
def convolve_calls(monkeypatch):
    spy = Spy()
    monkeypatch.setattr(winograd, "convolve", spy)
    return spy


# -- the transform matrices -----------------------------------------------------------------------
def test_f_2_3_is_lavin_and_grays():
    at, g, bt = winograd.transform_matrices(2, 3)
    np.testing.assert_array_equal(at, [[1, 1, 1, 0], [0, 1, -1, 1]])
    np.testing.assert_array_equal(g, [[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]])
    np.testing.assert_array_equal(bt, [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, -1, 0, 1]])
    assert at.dtype == g.dtype == bt.dtype == np.float64


@pytest.mark.parametrize("r", [3, 5])
def test_the_one_dimensional_identity_gives_two_outputs_of_the_correlation(r):
    """``AT @ ((G @ g) * (BT @ d)) == [sum_k d[i + k] g[k] for i < 2]`` for random ``d`` and ``g``;
    shapes (2, alpha), (alpha, r), (alpha, alpha); BT's entries are whole numbers."""
    at, g_matrix, bt = winograd.transform_matrices(2, r)
    alpha = r + 1
    assert at.shape == (2, alpha) and g_matrix.shape == (alpha, r) and bt.shape == (alpha, alpha)
    np.testing.assert_array_equal(bt, np.round(bt))
    np.testing.assert_array_equal(at, np.round(at))
    rng = np.random.default_rng(r)
    for _ in range(5):
        d, g = rng.standard_normal(alpha), rng.standard_normal(r)
        direct = [sum(d[i + k] * g[k] for k in range(r)) for i in range(2)]
        np.testing.assert_allclose(at @ ((g_matrix @ g) * (bt @ d)), direct, rtol=1e-13, atol=1e-13)


def test_a_filter_size_beyond_the_points_is_refused():
    with pytest.raises(ValueError, match="F\\(2, 9\\) needs 10 points, glassnet has 8"):
        winograd.transform_matrices(2, 9)


def test_a_plan_holds_each_axis_in_its_dtype():
    plan = winograd.Plan((3, 5), np.float32)
    assert plan.alpha == (4, 6) and plan.m == (2, 2)
    assert plan.bt_h.shape == (4, 4) and plan.bt_w.shape == (6, 6) and plan.g_w.shape == (6, 5)
    assert all(m.dtype == np.float32 for m in (plan.at_h, plan.g_h, plan.bt_h, plan.at_w, plan.g_w, plan.bt_w))
    assert plan.tiles((5, 4)) == (3, 2) and plan.padded_size((5, 4)) == (8, 8)  # 2*3 + 3 - 1, 2*2 + 5 - 1


def test_the_kernel_transform_and_its_gradient_are_adjoint():
    """``kernel_gradient`` is the transpose of ``kernel_transform``: <U(w), du> == <w, dW(du)>."""
    plan = winograd.Plan((5, 3), np.float64)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 3, 2, 4))
    u = plan.kernel_transform(w)
    assert u.shape == (6 * 4, 2, 4) and u.flags.c_contiguous
    du = rng.standard_normal(u.shape)
    np.testing.assert_allclose(np.vdot(u, du), np.vdot(w, plan.kernel_gradient(du)), rtol=1e-12)


# -- the compiled transforms against their references ---------------------------------------------
KERNEL_SIZES = [(3, 3), (5, 5), (3, 5), (5, 3)]
# tiles (1, 1), (1, 2), (3, 2), (4, 3); the odd sizes leave part of the last tile outside the output
OUTPUT_SIZES = [(1, 1), (2, 4), (5, 3), (7, 6)]
TRANSFORM_RTOL = {np.float64: 1e-12, np.float32: 1e-5}
LENGTH = 5  # numbers per pixel of a plane: (examples * channels) side by side


def setting(kernel_size, output_size, dtype):
    """The plan and the keyword arguments the transforms of a plane take, beside its arrays."""
    plan = winograd.Plan(kernel_size, dtype)
    tiles_h, tiles_w = plan.tiles(output_size)
    into = dict(bt_h=plan.bt_h, bt_w=plan.bt_w, m_h=plan.m[0], m_w=plan.m[1], tiles_h=tiles_h, tiles_w=tiles_w)
    out_of = dict(at_h=plan.at_h, at_w=plan.at_w, tiles_h=tiles_h, tiles_w=tiles_w)
    return plan, into, out_of


def transform_arrays(name, kernel_size, output_size, dtype, seed=0, relu=False):
    """``name``'s keyword arguments on random planes, its output array last (``out``: its name)."""
    plan, into, out_of = setting(kernel_size, output_size, dtype)
    rng = np.random.default_rng(seed)
    positions, tiles = plan.alpha[0] * plan.alpha[1], plan.tiles(output_size)[0] * plan.tiles(output_size)[1]
    padded = plan.padded_size(output_size)

    def random(*shape):
        return rng.standard_normal(shape).astype(dtype)

    if name == "input_transform":
        return dict(xp=random(*padded, LENGTH), v=np.full((positions, tiles, LENGTH), np.nan, dtype), **into), "v"
    if name == "input_transform_transpose":  # adds into dxp: start from the same random numbers
        return dict(dv=random(positions, tiles, LENGTH), dxp=random(*padded, LENGTH), **into), "dxp"
    if name == "output_transform":
        return dict(mm=random(positions, tiles, LENGTH), bias=random(LENGTH), relu=relu,
                    z=np.full((*output_size, LENGTH), np.nan, dtype), **out_of), "z"
    assert name == "output_transform_transpose"
    return dict(dz=random(*output_size, LENGTH), dm=np.full((positions, tiles, LENGTH), np.nan, dtype), **out_of), "dm"


TRANSFORMS = [("input_transform", False), ("input_transform_transpose", False), ("output_transform", False),
              ("output_transform", True), ("output_transform_transpose", False)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kernel_size", KERNEL_SIZES)
@pytest.mark.parametrize("output_size", OUTPUT_SIZES)
@pytest.mark.parametrize("name, relu", TRANSFORMS)
def test_each_compiled_transform_is_its_reference(name, relu, output_size, kernel_size, dtype):
    results = []
    for function in (getattr(winograd, name), getattr(winograd, name + "_reference")):
        arguments, out = transform_arrays(name, kernel_size, output_size, dtype, relu=relu)
        function(**arguments)
        assert arguments[out].dtype == dtype and np.isfinite(arguments[out]).all()  # every entry written
        results.append(arguments[out])
    close(*results, TRANSFORM_RTOL[dtype])
    if relu:
        assert results[0].min() == 0 and (results[0] > 0).any()


@pytest.mark.parametrize("kernel_size", KERNEL_SIZES)
def test_the_input_transforms_use_only_the_part_of_a_larger_plane_the_tiles_cover(kernel_size):
    """A plane with more rows and columns than the tiles read: the transform reads, and its
    transpose adds into, only the first ``padded_size`` rows and columns."""
    output_size = (3, 4)
    plan, into, _ = setting(kernel_size, output_size, np.float64)
    height, width = plan.padded_size(output_size)
    arguments, _ = transform_arrays("input_transform", kernel_size, output_size, np.float64)
    larger = np.random.default_rng(5).standard_normal((height + 3, width + 2, LENGTH))
    larger[:height, :width] = arguments["xp"]
    v = np.empty_like(arguments["v"])
    winograd.input_transform(xp=larger, v=v, **into)
    winograd.input_transform_reference(**arguments)
    close(v, arguments["v"], 1e-12)
    dxp = np.zeros_like(larger)
    winograd.input_transform_transpose(dv=v, dxp=dxp, **into)
    assert not dxp[height:].any() and not dxp[:, width:].any() and dxp[:height, :width].any()


@pytest.mark.parametrize("kernel_size", KERNEL_SIZES)
@pytest.mark.parametrize("output_size", OUTPUT_SIZES)
def test_the_transposes_are_adjoint(kernel_size, output_size):
    """<input_transform(x), v> == <x, input_transform_transpose(v)> and <output_transform(m), dz>
    == <m, output_transform_transpose(dz)> (no bias, no ReLU), in float64."""
    plan, into, out_of = setting(kernel_size, output_size, np.float64)
    rng = np.random.default_rng(1)
    positions, tiles = plan.alpha[0] * plan.alpha[1], plan.tiles(output_size)[0] * plan.tiles(output_size)[1]
    xp = rng.standard_normal((*plan.padded_size(output_size), LENGTH))
    dv = rng.standard_normal((positions, tiles, LENGTH))
    v, dxp = np.empty_like(dv), np.zeros_like(xp)
    winograd.input_transform(xp=xp, v=v, **into)
    winograd.input_transform_transpose(dv=dv, dxp=dxp, **into)
    np.testing.assert_allclose(np.vdot(v, dv), np.vdot(xp, dxp), rtol=1e-12)

    mm = rng.standard_normal((positions, tiles, LENGTH))
    dz = rng.standard_normal((*output_size, LENGTH))
    z, dm = np.empty_like(dz), np.empty_like(mm)
    winograd.output_transform(mm=mm, bias=np.zeros(LENGTH), relu=False, z=z, **out_of)
    winograd.output_transform_transpose(dz=dz, dm=dm, **out_of)
    np.testing.assert_allclose(np.vdot(z, dz), np.vdot(mm, dm), rtol=1e-12)


# -- the transforms' refusals and bounds ----------------------------------------------------------
SENTINEL = 12345.0


def guarded(shape, dtype=np.float64):
    """A buffer of SENTINEL with a guard row before and after, and the C-contiguous array between."""
    buffer = np.full((shape[0] + 2, *shape[1:]), SENTINEL, dtype)
    return buffer, buffer[1:-1]


@pytest.mark.parametrize("kernel_size", KERNEL_SIZES)
@pytest.mark.parametrize("name", ["input_transform", "input_transform_transpose", "output_transform",
                                  "output_transform_transpose"])
def test_a_transform_writes_nothing_outside_its_output(name, kernel_size):
    """The output array between two guard rows in one buffer (odd outputs: the tiles stick out)."""
    arguments, out = transform_arrays(name, kernel_size, (5, 3), np.float64, relu=True)
    buffer, inner = guarded(arguments[out].shape)
    inner[...] = arguments[out]
    getattr(winograd, name)(**{**arguments, out: inner})
    getattr(winograd, name + "_reference")(**arguments)
    assert (buffer[0] == SENTINEL).all() and (buffer[-1] == SENTINEL).all()
    close(inner, arguments[out], 1e-12)


def misfits():
    """``(name, change, what)``: arrays for F(2x2, 3x3) with 2x2 tiles of a 4x4 output (planes of 6x6,
    V of (16, 4, 3)), changed so that they do not fit."""
    bad = []
    for name, plane, tiles in [("input_transform", "xp", "v"), ("input_transform_transpose", "dxp", "dv")]:
        bad += [
            (name, {"tiles_h": 3, tiles: (16, 6, 3)}, "more tiles than the plane has rows"),
            (name, {"tiles_w": 4, tiles: (16, 8, 3)}, "more tiles than the plane has columns"),
            (name, {tiles: (16, 3, 3)}, "V with too few tiles"),
            (name, {tiles: (9, 4, 3)}, "V with the positions of another kernel"),
            (name, {tiles: (16, 4, 2)}, "V shorter than the plane's pixels"),
            (name, {plane: (5, 6, 3)}, "a plane shorter than the tiles"),
        ]
    bad += [
        ("output_transform", {"tiles_h": 1, "mm": (16, 2, 3)}, "too few tiles to cover z"),
        ("output_transform", {"mm": (16, 5, 3)}, "M with the wrong number of tiles"),
        ("output_transform", {"mm": (36, 4, 3)}, "M with the positions of another kernel"),
        ("output_transform", {"mm": (16, 4, 4)}, "M longer than z's pixels"),
        ("output_transform", {"bias": (2,)}, "a bias of the wrong length"),
        ("output_transform", {"z": (5, 4, 3)}, "z larger than the tiles"),
        ("output_transform_transpose", {"tiles_w": 1, "dm": (16, 2, 3)}, "too few tiles to cover dz"),
        ("output_transform_transpose", {"dm": (16, 3, 3)}, "dM with the wrong number of tiles"),
        ("output_transform_transpose", {"dm": (16, 4, 2)}, "dM shorter than dz's pixels"),
        ("output_transform_transpose", {"dz": (4, 5, 3)}, "dz larger than the tiles"),
    ]
    return bad


@pytest.mark.parametrize("name, change, what", misfits(), ids=[f"{n}-{w}" for n, _, w in misfits()])
def test_arrays_that_do_not_fit_the_tiles_are_refused_before_anything_is_written(name, change, what):
    arguments, out = transform_arrays(name, (3, 3), (4, 4), np.float64)
    for key, value in change.items():
        arguments[key] = np.full(value, SENTINEL) if isinstance(value, tuple) else value
    output = arguments[out]
    output[...] = SENTINEL
    with pytest.raises(ShapeError) as caught:
        getattr(winograd, name)(**arguments)
    assert str(caught.value) == f"{name}: the arrays do not fit the tiles (see its docstring)", what
    assert (output == SENTINEL).all(), f"{name} wrote into its output before refusing ({what})"


# -- the layer against im2col ---------------------------------------------------------------------
LAYER_CASES = {  # name: (make(algorithm), input shape (no batch axis))
    "3x3_same_odd_sizes": (lambda a: layers.Conv2D(4, 3, padding="same", algorithm=a), (7, 5, 3)),
    "3x3_valid_even_sizes": (lambda a: layers.Conv2D(3, 3, algorithm=a), (8, 6, 2)),
    "3x3_valid_odd_output": (lambda a: layers.Conv2D(3, 3, algorithm=a), (7, 9, 2)),
    "5x5_same_one_channel": (lambda a: layers.Conv2D(2, 5, padding="same", algorithm=a), (6, 7, 1)),
    "5x5_valid": (lambda a: layers.Conv2D(4, 5, algorithm=a), (9, 8, 5)),
    "3x5_same_20_channels": (lambda a: layers.Conv2D(6, (3, 5), padding="same", algorithm=a), (5, 8, 20)),
    "5x3_valid": (lambda a: layers.Conv2D(5, (5, 3), algorithm=a), (7, 6, 3)),
    "5x5_same_kernel_larger_than_input": (lambda a: layers.Conv2D(3, 5, padding="same", algorithm=a), (2, 3, 2)),
    "3x3_valid_one_output_pixel": (lambda a: layers.Conv2D(2, 3, algorithm=a), (3, 3, 2)),
    "no_bias": (lambda a: layers.Conv2D(4, 3, padding="same", use_bias=False, algorithm=a), (6, 6, 3)),
    "relu": (lambda a: layers.Conv2D(4, 3, padding="same", activation="relu", algorithm=a), (6, 7, 3)),
    "tanh": (lambda a: layers.Conv2D(4, 5, activation="tanh", algorithm=a), (8, 7, 2)),
    "relu_5x5_16_channels": (lambda a: layers.Conv2D(16, 5, padding="same", activation="relu", algorithm=a),
                             (5, 6, 16)),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_winograd_gives_the_forward_and_gradients_of_im2col(case, dtype, convolve_calls):
    make, shape = LAYER_CASES[case]
    fast, slow = twins(make, shape, dtype)
    x = images(shape, n=3, dtype=dtype)
    dy = images(slow.compute_output_shape(shape), n=3, seed=7, dtype=dtype)
    expected = run(slow, x, dy)
    assert convolve_calls.calls == 0
    got = run(fast, x, dy)
    assert convolve_calls.calls == 1
    assert got[0].dtype == dtype and got[0].shape == expected[0].shape
    assert_same_results(got, expected, tolerance(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_first_layer_returns_no_input_gradient_and_the_same_parameter_gradients(dtype):
    fast, slow = twins(lambda a: layers.Conv2D(5, 5, padding="same", activation="relu", algorithm=a), (7, 6, 3),
                       dtype)
    fast.compute_input_gradient = slow.compute_input_gradient = False
    x, dy = images((7, 6, 3), dtype=dtype), images((7, 6, 5), seed=7, dtype=dtype)
    got, expected = run(fast, x, dy), run(slow, x, dy)
    assert got[1] is None and expected[1] is None
    assert_same_results(got, expected, tolerance(dtype))


def test_slices_of_the_batch_give_the_numbers_of_the_whole_batch(monkeypatch):
    """``winograd.CHUNK_BYTES`` set so that a slice holds the whole batch, one example, or two (the
    last slice one): the same forward and gradients, and those of im2col."""
    fast, slow = twins(lambda a: layers.Conv2D(5, 3, padding="same", activation="relu", algorithm=a), (7, 6, 4))
    x, dy = images((7, 6, 4), n=5), images((7, 6, 5), n=5, seed=7)
    expected = run(slow, x, dy)
    one_example = 16 * (4 * 3) * 5 * 8  # alpha^2 * tiles * filters * 8 bytes: M of one example
    results = []
    for chunk_bytes in (winograd.CHUNK_BYTES, 1, 2 * one_example + 100):
        monkeypatch.setattr(winograd, "CHUNK_BYTES", chunk_bytes)
        results.append(run(fast, x, dy))
        assert_same_results(results[-1], expected, 1e-10)
    for other in results[1:]:  # each example's y and dx are its own, whatever the slices
        np.testing.assert_array_equal(other[0], results[0][0])
        np.testing.assert_array_equal(other[1], results[0][1])


@pytest.mark.parametrize("activation", [None, "relu"])
def test_threads_give_the_numbers_of_one_thread_and_of_im2col(two_blas_threads, monkeypatch, activation):
    """Inside ``threads.splitting()`` with BLAS at two threads, slices of one example dealt to two
    threads: y and dx bit for bit as one thread, dW and db to rounding (summed in another order)."""
    monkeypatch.setattr(winograd, "CHUNK_BYTES", 1)
    fast, slow = twins(lambda a: layers.Conv2D(4, (5, 3), padding="same", activation=activation, algorithm=a),
                       (6, 7, 3))
    x, dy = images((6, 7, 3), n=5), images((6, 7, 4), n=5, seed=7)
    alone, expected = run(fast, x, dy), run(slow, x, dy)
    with threads.splitting():
        assert threads.workers() == 2 and blas_threads() == 1
        split, again = run(fast, x, dy), run(fast, x, dy)
    assert blas_threads() == 2
    for a, b, c in zip(alone[:2], split[:2], again[:2]):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(b, c)
    for a, b, c in zip(alone[2], split[2], again[2]):
        np.testing.assert_allclose(b, a, **F64)
        np.testing.assert_array_equal(b, c)
    assert_same_results(split, expected, 1e-10)


@pytest.mark.parametrize("kernel", [3, 5])
def test_a_nan_reaches_exactly_the_outputs_whose_windows_hold_it(kernel):
    """The transforms skip their zero coefficients, so a NaN spreads as in the direct sum (not over
    its whole tile): the NaNs of y where im2col has them, the other numbers equal."""
    fast, slow = twins(lambda a: layers.Conv2D(3, kernel, padding="same", algorithm=a), (6, 7, 2))
    x = images((6, 7, 2), n=2)
    x[0, 2, 3, 1] = x[1, 0, 6, 0] = np.nan
    with np.errstate(invalid="ignore"):
        y, expected = fast.forward(x)[0], slow.forward(x)[0]
    assert np.isnan(expected).any() and not np.isnan(expected).all()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    close(y[~np.isnan(y)], expected[~np.isnan(expected)], 1e-10)


@pytest.mark.parametrize("algorithm", ["winograd", "im2col"])
def test_an_empty_batch_gives_empty_outputs_and_zero_gradients(algorithm):
    """A layer called directly on 0 examples (a model refuses them): y and dx of 0 examples, dW and
    db zeros."""
    layer = built(layers.Conv2D(3, 3, padding="same", algorithm=algorithm), (6, 7, 2))
    y, dx, grads = run(layer, images((6, 7, 2), n=0), np.zeros((0, 6, 7, 3)))
    assert y.shape == (0, 6, 7, 3) and dx.shape == (0, 6, 7, 2)
    assert all(not g.any() for g in grads)


def test_an_example_whose_tiles_do_not_fit_in_memory_is_refused(monkeypatch):
    layer = built(layers.Conv2D(2, 3, padding="same", algorithm="winograd", name="big"), (8, 8, 3))
    monkeypatch.setattr(checks, "physical_memory", lambda: 1000)
    with pytest.raises(ConfigurationError, match="the Winograd tiles of one example in layer 'big' would need"):
        layer.forward(images((8, 8, 3)))


# -- the fused ReLU ----------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["winograd", "im2col"])
@pytest.mark.parametrize("kernel, padding", [(3, "same"), (5, "valid"), ((3, 5), "same")])
def test_the_fused_relu_is_forward_logits_then_max(algorithm, kernel, padding):
    """``forward`` with activation="relu" runs the ReLU inside the convolution: y == max(z, 0) with
    z from ``forward_logits``, and its backward of dy is the unfused backward of dy * (z > 0)."""
    layer = built(layers.Conv2D(4, kernel, padding=padding, activation="relu", algorithm=algorithm), (7, 8, 3))
    x = images((7, 8, 3), n=4)
    y, backward = layer.forward(x, training=True)
    dy = np.random.default_rng(3).standard_normal(y.shape)
    dx = backward(dy)
    grads = [p.grad.copy() for p in layer.parameters()]
    z, backward_logits = layer.forward_logits(x, training=True)
    assert (z < 0).any() and (z > 0).any()
    np.testing.assert_allclose(y, np.maximum(z, 0), rtol=1e-12, atol=0)
    close(dx, backward_logits(dy * (z > 0)), 1e-12)
    for g, p in zip(grads, layer.parameters()):
        close(g, p.grad, 1e-12)


# -- gradient checks ------------------------------------------------------------------------------
GRADCHECKS = {
    "3x3_valid": (lambda: layers.Conv2D(3, 3, algorithm="winograd"), (6, 5, 2)),
    "5x5_same": (lambda: layers.Conv2D(2, 5, padding="same", algorithm="winograd"), (5, 6, 2)),
    "3x5_same": (lambda: layers.Conv2D(3, (3, 5), padding="same", algorithm="winograd"), (5, 7, 2)),
    "no_bias": (lambda: layers.Conv2D(3, 3, padding="same", use_bias=False, algorithm="winograd"), (5, 5, 2)),
    "relu": (lambda: layers.Conv2D(3, 3, padding="same", activation="relu", algorithm="winograd"), (5, 6, 2)),
    "16_channels_auto": (lambda: layers.Conv2D(16, 3, padding="same"), (4, 5, 16)),
}


@pytest.mark.parametrize("case", sorted(GRADCHECKS))
def test_gradcheck_of_winograd(case, convolve_calls):
    factory, shape = GRADCHECKS[case]
    layer = built(factory(), shape)
    assert layer._winograd_plan(shape[-1], np.float64) is not None
    report = gn.gradcheck(layer, images(shape, n=2), training=True)
    assert report.passed, str(report)
    assert set(report.errors) == {p.name for p in layer.parameters()} | {"input"}
    assert convolve_calls.calls > 0


@pytest.mark.parametrize("make, channels, winograd_runs", [
    (lambda: layers.Conv2D(16, 3), 16, True),
    (lambda: layers.Conv2D(32, 5, padding="same"), 20, True),
    (lambda: layers.Conv2D(16, (5, 3)), 16, True),
    (lambda: layers.Conv2D(8, 3), 8, True),
    (lambda: layers.Conv2D(16, 3), 7, False),                      # too few channels
    (lambda: layers.Conv2D(7, 3), 16, False),                      # too few filters
    (lambda: layers.Conv2D(16, 3, strides=2), 16, False),
    (lambda: layers.Conv2D(16, 3, dilation_rate=2), 16, False),
    (lambda: layers.Conv2D(16, 3, groups=2), 16, False),
    (lambda: layers.Conv2D(16, 7), 16, False),
    (lambda: layers.Conv2D(16, 3, algorithm="im2col"), 32, False),
    (lambda: layers.Conv2D(2, 3, algorithm="winograd"), 1, True),  # asked for: whatever the channels
    (lambda: layers.Conv1D(16, 3), 16, False),
])
def test_auto_takes_winograd_where_it_fits_with_8_channels_and_filters(make, channels, winograd_runs):
    assert conv.WINOGRAD_MIN_CHANNELS == 8
    plan = make()._winograd_plan(channels, np.float64)
    assert (plan is not None) == winograd_runs
    if plan is not None:
        assert plan.bt_h.dtype == np.float64


# -- PyTorch parity ---------------------------------------------------------------------------------
def draw_winograd_convolution(rng):
    """Random Winograd arguments and an input shape that fits them."""
    kernel = tuple(int(rng.choice([3, 5])) for _ in range(2))
    padding = str(rng.choice(["valid", "same"]))
    size = tuple(int(rng.integers(1 if padding == "same" else k, k + 6)) for k in kernel)
    channels, filters = int(rng.integers(1, 7)), int(rng.integers(1, 7))
    layer = layers.Conv2D(filters, kernel, padding=padding, use_bias=bool(rng.integers(2)), algorithm="winograd")
    return layer, (*size, channels)


def torch_convolution(torch, layer, x, dy, shape):
    """y, dx, dW, db by ``torch.nn.functional.conv2d`` on channels-first copies ("same" as an
    explicit, possibly asymmetric ``F.pad``), in the layer's layout."""
    functional = torch.nn.functional
    x_t = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    w_t = torch.tensor(np.moveaxis(layer.weight.value, (-1, -2), (0, 1)).copy(), requires_grad=True)
    b_t = None if layer.bias is None else torch.tensor(layer.bias.value, requires_grad=True)
    (top, bottom), (left, right) = layer.geometry(shape).pads
    y_t = functional.conv2d(functional.pad(x_t, [left, right, top, bottom]), w_t, b_t)
    y_t.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
    grads = [np.moveaxis(w_t.grad.numpy(), (0, 1), (-1, -2))] + ([] if b_t is None else [b_t.grad.numpy()])
    return y_t.detach().numpy().transpose(0, 2, 3, 1), x_t.grad.numpy().transpose(0, 2, 3, 1), grads


@pytest.mark.parametrize("seed", range(8))
def test_pytorch_parity_of_the_forward_and_every_gradient(seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    layer, shape = draw_winograd_convolution(rng)
    layer = built(layer, shape, seed=seed)
    x = images(shape, n=int(rng.integers(1, 4)), seed=seed)
    dy = rng.standard_normal((len(x), *layer.compute_output_shape(shape)))
    got = run(layer, x, dy)
    assert_same_results(got, torch_convolution(torch, layer, x, dy, shape), 1e-10)


def test_pytorch_parity_in_float32():
    """Float32 against PyTorch's float32 within 2e-5 of the largest magnitude (both round)."""
    torch = pytest.importorskip("torch")
    shape = (9, 8, 16)
    layer = built(layers.Conv2D(16, 5, padding="same", algorithm="winograd"), shape, dtype=np.float32)
    x, dy = images(shape, n=2, dtype=np.float32), images((9, 8, 16), n=2, seed=7, dtype=np.float32)
    got = run(layer, x, dy)
    assert got[0].dtype == np.float32
    assert_same_results(got, torch_convolution(torch, layer, x, dy, shape), 2e-5)


# -- configuration ----------------------------------------------------------------------------------
def test_an_unknown_algorithm_is_refused_naming_the_allowed_ones():
    with pytest.raises(ConfigurationError, match="Conv2D algorithm must be one of 'auto', 'im2col', 'winograd', "
                                                 "got 'fast'"):
        layers.Conv2D(4, 3, algorithm="fast")


@pytest.mark.parametrize("make", [
    lambda: layers.Conv2D(4, 3, strides=2, algorithm="winograd"),
    lambda: layers.Conv2D(4, 3, dilation_rate=2, algorithm="winograd"),
    lambda: layers.Conv2D(4, 3, groups=2, algorithm="winograd"),
    lambda: layers.Conv2D(4, 7, algorithm="winograd"),
    lambda: layers.Conv2D(4, (3, 4), algorithm="winograd"),
    lambda: layers.Conv1D(4, 3, algorithm="winograd"),
], ids=["strides", "dilation", "groups", "kernel_7", "kernel_3x4", "conv1d"])
def test_winograd_where_it_does_not_fit_is_refused_saying_what_it_needs(make):
    with pytest.raises(ConfigurationError, match="algorithm='winograd' needs a Conv2D with strides 1, dilation_rate 1, "
                                                 "groups 1 and kernel sizes in \\(3, 5\\), got a Conv[12]D with "
                                                 "kernel_size"):
        make()


def test_conv1d_with_winograd_is_refused_saying_that_it_needs_two_spatial_axes():
    with pytest.raises(ConfigurationError) as caught:
        layers.Conv1D(4, 3, algorithm="winograd")
    assert "Conv2D" in str(caught.value) or "2-D" in str(caught.value), str(caught.value)


def test_get_config_has_the_algorithm_and_from_config_keeps_it():
    for algorithm in ("auto", "im2col", "winograd"):
        layer = layers.Conv2D(4, 3, algorithm=algorithm)
        assert layer.get_config()["algorithm"] == algorithm
        assert layers.Conv2D.from_config(layer.get_config()).algorithm == algorithm
    assert layers.Conv2D(4, 3).algorithm == "auto" and layers.Conv1D(4, 3).get_config()["algorithm"] == "auto"


def small_cnn(second_algorithm="auto", dtype="float64", seed=0):
    model = gn.Sequential([layers.Input((12, 12, 1)), layers.Conv2D(16, 3, padding="same", activation="relu"),
                           layers.MaxPooling2D(),
                           layers.Conv2D(16, 5, padding="same", activation="relu", algorithm=second_algorithm),
                           layers.Flatten(), layers.Dense(3, activation="softmax")], seed=seed, dtype=dtype)
    model.compile(gn.optimizers.Adam(0.005), "sparse_categorical_crossentropy")
    return model


def bars(n=60, seed=0):
    """Three classes of 12x12 pictures: a bright horizontal bar, a vertical bar, or neither, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.standard_normal((n, 12, 12, 1)) * 0.3
    rows = rng.integers(2, 9, n)
    for i in range(n):
        if y[i] == 0:
            x[i, rows[i]:rows[i] + 2] += 2
        elif y[i] == 1:
            x[i, :, rows[i]:rows[i] + 2] += 2
    return x.astype(np.float32), y


def test_a_model_file_keeps_the_algorithm_and_predicts_the_same(tmp_path, convolve_calls):
    path = tmp_path / "cnn.safetensors"
    model = small_cnn("winograd")
    x = bars(6)[0]
    model.save(path)
    loaded = gn.load(path)
    assert [layer.get_config().get("algorithm") for layer in loaded.layers] == [
        "auto", None, "winograd", None, None]
    calls = convolve_calls.calls
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert convolve_calls.calls > calls


def test_a_model_file_without_the_algorithm_loads_as_auto(tmp_path):
    path = tmp_path / "cnn.safetensors"
    model = small_cnn("im2col")
    model.save(path)

    def forget_algorithm(config):
        for layer in config["layers"]:
            layer["config"].pop("algorithm", None)

    rewrite(path, model=config_with(path, forget_algorithm))
    loaded = gn.load(path)
    assert [layer.algorithm for layer in loaded.layers if isinstance(layer, layers.Conv2D)] == ["auto", "auto"]
    x = bars(6)[0]
    close(loaded.predict(x, verbose=0), model.predict(x, verbose=0), 1e-10)  # now by Winograd: to rounding


# -- training ---------------------------------------------------------------------------------------
def test_a_small_cnn_trains_alike_with_winograd_and_im2col(convolve_calls):
    """Float32, 6 epochs on bars: the loss falls below half its first epoch's with Winograd in the
    second convolution (auto: 16 channels and filters, 8 needed), and im2col ends within 2% of it."""
    x, y = bars()
    losses = {}
    for algorithm in ("auto", "im2col"):
        model = small_cnn(algorithm, dtype="float32")
        calls = convolve_calls.calls
        history = model.fit(x, y, epochs=6, batch_size=16, verbose=0)
        losses[algorithm] = history.history["loss"]
        assert (convolve_calls.calls > calls) == (algorithm == "auto")
    first, last = losses["auto"][0], losses["auto"][-1]
    assert last < first / 2, losses
    assert abs(losses["im2col"][-1] - last) <= 0.02 * last, losses
    np.testing.assert_allclose(losses["im2col"][0], first, rtol=1e-3)
