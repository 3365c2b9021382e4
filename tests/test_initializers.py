"""Initializers draw with the documented variance, from the generator they are given; Dense takes
an activation as a name or a layer."""
import numpy as np
import pytest

import glassnet as gn
from glassnet import initializers, layers

FAN_IN, FAN_OUT = 400, 300


@pytest.mark.parametrize("name, variance", [
    ("he_normal", 2 / FAN_IN), ("he_uniform", 2 / FAN_IN),
    ("glorot_normal", 2 / (FAN_IN + FAN_OUT)), ("glorot_uniform", 2 / (FAN_IN + FAN_OUT)),
    ("lecun_normal", 1 / FAN_IN), ("lecun_uniform", 1 / FAN_IN),
])
def test_variance_and_range(name, variance):
    w = initializers.get(name)((FAN_IN, FAN_OUT), np.random.default_rng(0), np.float32)
    assert w.dtype == np.float32 and w.shape == (FAN_IN, FAN_OUT)
    assert w.var() == pytest.approx(variance, rel=0.03)
    assert abs(w.mean()) < 0.1 * np.sqrt(variance)
    limit = np.sqrt(3 * variance) if name.endswith("uniform") else 2 * np.sqrt(variance) / 0.8796
    assert np.abs(w).max() <= limit * (1 + 1e-6)


def test_zeros_ones_and_determinism():
    assert not initializers.zeros((3, 2)).any()
    assert (initializers.ones((2,)) == 1).all()
    a = initializers.he_normal((5, 5), np.random.default_rng(3))
    b = initializers.he_normal((5, 5), np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)


def test_dense_uses_its_initializers():
    dense = layers.Dense(4, kernel_initializer="zeros", bias_initializer="ones")
    dense.ensure_built((3,), np.random.default_rng(0), np.float64)
    assert not dense.weight.value.any() and (dense.bias.value == 1).all()


def test_activation_as_a_layer_and_its_config():
    dense = layers.Dense(3, activation=layers.LeakyReLU(0.1))
    clone = layers.deserialize(layers.serialize(dense))
    assert isinstance(clone.activation, layers.LeakyReLU) and clone.activation.negative_slope == 0.1
    assert layers.serialize(layers.Dense(3, activation="relu"))["config"]["activation"] == "relu"
    assert layers.Dense(3, activation="linear").activation is None


def test_model_seed_fixes_the_initial_weights():
    def weights(seed):
        model = gn.Sequential([layers.Input((5,)), layers.Dense(4), layers.Dense(2)], seed=seed)
        return model.get_weights()

    np.testing.assert_array_equal(weights(1)[0], weights(1)[0])
    assert not np.array_equal(weights(1)[0], weights(2)[0])
