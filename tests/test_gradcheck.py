"""Analytic gradients against central differences, in float64: every loss (with and without
sample weights, both logits and probabilities), whole models with dropout and L1/L2, and the
checker itself (it must catch a wrong backward)."""
import numpy as np
import pytest

import glassnet as gn
from glassnet import layers, losses


def _probabilities(rng, n, k):
    p = rng.uniform(0.1, 1.0, (n, k))
    return p / p.sum(axis=1, keepdims=True)


def loss_cases(rng):
    n, k = 7, 4
    logits = rng.standard_normal((n, k)) * 2
    labels = rng.integers(0, k, n)
    onehot = np.eye(k)[labels]
    binary = rng.integers(0, 2, (n, 3)).astype(float)
    targets = rng.standard_normal((n, 3))
    preds = targets + rng.choice([-1, 1], (n, 3)) * rng.uniform(0.1, 2.0, (n, 3))  # away from kinks
    return {
        "mse": (losses.MeanSquaredError(), preds, targets),
        "mae": (losses.MeanAbsoluteError(), preds, targets),
        "huber": (losses.Huber(delta=0.8), preds, targets),
        "bce_logits": (losses.BinaryCrossentropy(from_logits=True), logits[:, :3], binary),
        "bce_probabilities": (losses.BinaryCrossentropy(), rng.uniform(0.05, 0.95, (n, 3)), binary),
        "bce_smoothing": (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2), logits[:, :3], binary),
        "cce_logits": (losses.CategoricalCrossentropy(from_logits=True), logits, onehot),
        "cce_probabilities": (losses.CategoricalCrossentropy(), _probabilities(rng, n, k), onehot),
        "cce_smoothing": (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), logits, onehot),
        "sparse_logits": (losses.SparseCategoricalCrossentropy(from_logits=True), logits, labels),
        "sparse_probabilities": (losses.SparseCategoricalCrossentropy(), _probabilities(rng, n, k), labels),
        "sparse_smoothing": (losses.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1), logits, labels),
        "kl": (losses.KLDivergence(), _probabilities(rng, n, k), _probabilities(rng, n, k)),
        "hinge": (losses.Hinge(), (2 * binary - 1) * (1 + preds - targets), binary),  # margins away from 0
        "poisson": (losses.Poisson(), rng.uniform(0.1, 3.0, (n, 3)), rng.poisson(2.0, (n, 3)).astype(float)),
        "focal_logits": (losses.BinaryFocalCrossentropy(from_logits=True), logits[:, :3], binary),
        "focal_probabilities": (losses.BinaryFocalCrossentropy(gamma=3.0), rng.uniform(0.05, 0.95, (n, 3)), binary),
        "focal_gamma_0.5_balanced_smoothed": (
            losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.3, gamma=0.5, from_logits=True,
                                           label_smoothing=0.2), logits[:, :3], binary),
        "focal_probabilities_balanced_soft_targets": (
            losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=1.5), rng.uniform(0.05, 0.95, (n, 3)),
            rng.uniform(0, 1, (n, 3))),
    }


CASE_NAMES = sorted(loss_cases(np.random.default_rng(0)))


@pytest.mark.parametrize("name", CASE_NAMES)
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_gradients(name, weighted):
    rng = np.random.default_rng(3)
    loss, y_pred, y_true = loss_cases(rng)[name]
    weights = rng.uniform(0.2, 2.0, len(y_pred)) if weighted else None
    report = gn.gradcheck(loss, y_pred, y_true, sample_weight=weights)
    assert report.passed, str(report)


def _model(dropout, regularizer, output="softmax", loss="sparse_categorical_crossentropy"):
    model = gn.Sequential([
        layers.Dense(6, activation="tanh", kernel_regularizer=regularizer, bias_regularizer=regularizer),
        layers.Dropout(dropout),
        layers.Dense(5, activation="elu", kernel_regularizer=regularizer),
        layers.Dense(3, activation=output),
    ], seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss=loss)
    return model


@pytest.mark.parametrize("regularizer", [None, gn.regularizers.L1(0.01), gn.regularizers.L2(0.05),
                                         gn.regularizers.L1L2(0.01, 0.02)], ids=["none", "l1", "l2", "l1l2"])
def test_whole_model_with_dropout_and_regularizers(regularizer, rng):
    model = _model(0.4, regularizer)
    x = rng.standard_normal((8, 4))
    y = rng.integers(0, 3, 8)
    report = gn.gradcheck(model, x, y, training=True)
    assert report.passed, str(report)
    assert set(report.errors) == {p.name for p in model.parameters()} | {"input"}


def test_model_gradcheck_without_loss_uses_a_random_upstream_gradient(rng):
    model = gn.Sequential([layers.Dense(4, activation="swish"), layers.Dense(2, activation="sigmoid")], seed=1)
    assert gn.gradcheck(model, rng.standard_normal((5, 3))).passed


def test_binary_model_fused_gradient(rng):
    model = _model(0.0, None, output="sigmoid", loss="binary_crossentropy")
    y = rng.integers(0, 2, (8, 3))
    assert gn.gradcheck(model, rng.standard_normal((8, 4)), y).passed


def test_gradcheck_leaves_the_model_as_it_was(rng):
    model = _model(0.3, gn.regularizers.L2(0.1))
    model.build((4,))
    before = model.get_weights()
    state = model.rng.bit_generator.state
    gn.gradcheck(model, rng.standard_normal((4, 4)), rng.integers(0, 3, 4))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.rng.bit_generator.state == state
    assert model.params.values.dtype == np.float64
    assert model.parameters()[0].value.base is not None  # still a view into the flat buffer


def test_gradcheck_catches_a_wrong_backward(rng):
    class BrokenSquare(layers.Layer):
        def forward(self, x, training=False):
            return x * x, lambda dy: dy * x  # should be 2 * x * dy

    report = gn.gradcheck(BrokenSquare(), rng.standard_normal((3, 4)))
    assert not report.passed
    assert report.errors["input"] > 0.1
    assert "FAILED" in str(report)


def test_gradcheck_of_a_custom_layer_with_a_parameter(rng):
    class Scale(layers.Layer):
        """y = x * s, one scale per feature: ds = sum(dy * x), dx = dy * s."""

        def build(self, input_shape, rng, dtype):
            self.scale = self.add_parameter("scale", rng.standard_normal(input_shape).astype(dtype))

        def forward(self, x, training=False):
            s = self.scale.value

            def backward(dy):
                self.scale.grad[...] = (dy * x).sum(axis=0)
                return dy * s

            return x * s, backward

    report = gn.gradcheck(Scale(), rng.standard_normal((5, 3)))
    assert report.passed and set(report.errors) == {"scale.scale", "input"}


def test_gradcheck_rejects_other_targets():
    with pytest.raises(gn.ConfigurationError, match="Layer, a Loss, a Sequential or a Model"):
        gn.gradcheck(object(), np.zeros((1, 1)))
