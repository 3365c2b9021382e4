"""Property tests (Hypothesis): invariants that must hold for any input, not just chosen ones."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from glassnet import layers, losses

logits = arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(2, 8)),
                elements=st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False))


@given(logits)
def test_softmax_rows_are_distributions(z):
    p = layers.Softmax()(z)
    assert np.all(p >= 0) and np.all(p <= 1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


@given(logits, st.data())
def test_cross_entropy_is_finite_and_nonnegative_for_any_logits(z, data):
    labels = np.array(data.draw(st.lists(st.integers(0, z.shape[1] - 1), min_size=len(z), max_size=len(z))))
    value, grad = losses.SparseCategoricalCrossentropy(from_logits=True).value_and_grad(labels, z)
    assert np.isfinite(value) and value >= 0
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-12)  # softmax - onehot sums to 0 per row
    onehot = np.eye(z.shape[1])[labels]
    value_cce = losses.CategoricalCrossentropy(from_logits=True)(onehot, z)
    np.testing.assert_allclose(value_cce, value, rtol=1e-12, atol=1e-12)  # both ~1e-16 when every label is certain


@given(logits, st.data())
def test_binary_cross_entropy_is_finite_for_any_logits(z, data):
    y = data.draw(arrays(np.float64, z.shape, elements=st.sampled_from([0.0, 1.0])))
    value, grad = losses.BinaryCrossentropy(from_logits=True).value_and_grad(y, z)
    assert np.isfinite(value) and value >= 0 and np.all(np.isfinite(grad))


@given(arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 10)),
              elements=st.floats(-1e6, 1e6, allow_nan=False, width=32)))
def test_dropout_at_rate_zero_is_the_identity(x):
    layer = layers.Dropout(0.0)
    layer.ensure_built(x.shape[1:], np.random.default_rng(0), np.float32)
    for training in (True, False):
        y, backward = layer.forward(x, training)
        np.testing.assert_array_equal(y, x)
        np.testing.assert_array_equal(backward(x), x)


@settings(max_examples=25)
@given(st.floats(0.05, 0.9), st.integers(0, 2 ** 32 - 1))
def test_dropout_keeps_the_expected_value(rate, seed):
    layer = layers.Dropout(rate)
    layer.ensure_built((1000,), np.random.default_rng(seed), np.float64)
    x = np.ones((20, 1000))
    y = layer.forward(x, training=True)[0]
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / (1 - rate))
    assert abs(kept.mean() - (1 - rate)) < 0.03
    np.testing.assert_array_equal(layer.forward(x, training=False)[0], x)


@given(arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)),
              elements=st.floats(-700, 700, allow_nan=False)))
def test_activations_are_finite_for_large_inputs(x):
    for cls in (layers.Sigmoid, layers.Tanh, layers.Softplus, layers.Swish, layers.ELU, layers.SELU, layers.GELU):
        y, backward = cls().forward(x)
        assert np.all(np.isfinite(y)) and np.all(np.isfinite(backward(np.ones_like(x))))
