"""Loss values against hand-computed numbers, the fusion of softmax/sigmoid with cross-entropy,
and stability for extreme logits."""
import numpy as np
import pytest

import glassnet as gn
from glassnet import layers, losses


def test_mse_mae_huber_by_hand():
    y = np.array([[1.0, 2.0], [0.0, 0.0]])
    p = np.array([[2.0, 2.0], [0.0, 3.0]])
    # per example: mean of squared errors = [0.5, 4.5], batch mean = 2.5
    assert losses.MeanSquaredError()(y, p) == pytest.approx(2.5)
    # per example: mean absolute error = [0.5, 1.5], batch mean = 1.0
    assert losses.MeanAbsoluteError()(y, p) == pytest.approx(1.0)
    # Huber delta 1: errors 1 -> 0.5, 0 -> 0, 0 -> 0, 3 -> 1 * (3 - 0.5) = 2.5; per example [0.25, 1.25]
    assert losses.Huber(1.0)(y, p) == pytest.approx(0.75)
    _, grad = losses.MeanSquaredError().value_and_grad(y, p)
    np.testing.assert_allclose(grad, 2 * (p - y) / (2 * 2))


def test_sample_weights_weigh_examples_and_divide_by_batch_size():
    y = np.array([[0.0], [0.0]])
    p = np.array([[1.0], [2.0]])
    w = np.array([3.0, 0.5])
    # (3 * 1 + 0.5 * 4) / 2 = 2.5
    assert losses.MeanSquaredError()(y, p, w) == pytest.approx(2.5)


def test_cross_entropy_by_hand_with_label_smoothing():
    z = np.array([[2.0, 0.0, -1.0]])
    log_p = z - np.log(np.exp(z).sum())
    plain = losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([0]), z)
    assert plain == pytest.approx(-log_p[0, 0])
    smooth = losses.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.3)(np.array([0]), z)
    target = np.array([0.7 + 0.1, 0.1, 0.1])
    assert smooth == pytest.approx(-(target * log_p[0]).sum())
    categorical = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.3)(np.array([[1, 0, 0]]), z)
    assert categorical == pytest.approx(smooth)


def test_probability_and_logit_forms_agree():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((10, 4))
    y = rng.integers(0, 4, 10)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert losses.SparseCategoricalCrossentropy()(y, p) == pytest.approx(
        losses.SparseCategoricalCrossentropy(from_logits=True)(y, z))
    yb = rng.integers(0, 2, (10, 4))
    s = 1 / (1 + np.exp(-z))
    assert losses.BinaryCrossentropy()(yb, s) == pytest.approx(losses.BinaryCrossentropy(from_logits=True)(yb, z))


@pytest.mark.parametrize("loss, output, y", [
    ("sparse_categorical_crossentropy", "softmax", np.array([0, 2, 1])),
    ("categorical_crossentropy", "softmax", np.eye(3)[[0, 2, 1]]),
    ("binary_crossentropy", "sigmoid", np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0]])),
])
def test_model_ending_in_softmax_or_sigmoid_is_fused(loss, output, y):
    model = gn.Sequential([layers.Dense(3, activation=output)], seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss=loss)
    assert model.head_loss.from_logits and not model.loss.from_logits
    x = np.random.default_rng(1).standard_normal((3, 2))
    probabilities = model.predict(x)
    if output == "softmax":
        np.testing.assert_allclose(probabilities.sum(axis=1), 1)
    unfused = model.loss(y, probabilities)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(unfused)


def test_standalone_softmax_layer_is_fused_too():
    model = gn.Sequential([layers.Dense(3), layers.Softmax()], seed=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert model.head_loss.from_logits


def test_fused_training_is_stable_for_huge_logits():
    model = gn.Sequential([layers.Input((2,)), layers.Dense(2, activation="softmax")], seed=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.set_weights([np.array([[1e4, -1e4], [-1e4, 1e4]], np.float32), np.zeros(2, np.float32)])
    x = np.array([[1.0, 0.0], [1.0, 0.0]], np.float32)
    history = model.fit(x, np.array([1, 0]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert history.history["loss"][0] == pytest.approx(1e4, rel=1e-3)  # half the batch is 2e4 off
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_from_logits_model_is_not_fused_again():
    model = gn.Sequential([layers.Dense(3)], seed=0)
    model.compile(optimizer="sgd", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    assert model.head_loss is model.loss


@pytest.mark.parametrize("name, cls", [("mse", losses.MeanSquaredError), ("mae", losses.MeanAbsoluteError),
                                       ("huber", losses.Huber), ("binary_crossentropy", losses.BinaryCrossentropy),
                                       ("categorical_crossentropy", losses.CategoricalCrossentropy),
                                       ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
                                       ("mean_squared_error", losses.MeanSquaredError)])
def test_keras_loss_names(name, cls):
    assert type(losses.get(name)) is cls


def test_flat_regression_targets_fit_a_single_output():
    y = losses.MeanSquaredError().check_targets(np.arange(4.0), (1,))
    assert y.shape == (4, 1)


# -- the public API checks its arguments (issue 13) ------------------------------------------------

@pytest.mark.parametrize("labels", [[0, 3], [0, -1], [0.5, 1], [0, 1, 2]])
def test_cross_entropy_on_bad_labels_is_refused_without_touching_other_memory(labels):
    with pytest.raises(gn.GlassnetError):
        losses.SparseCategoricalCrossentropy(from_logits=True)(np.array(labels), np.zeros((2, 3), np.float32))


@pytest.mark.parametrize("y_pred", [np.zeros(2), np.zeros((2, 0)), np.zeros((2, 3, 2)), np.zeros((0, 0))])
def test_cross_entropy_needs_predictions_of_shape_n_classes(y_pred):
    with pytest.raises(gn.ShapeError):
        losses.SparseCategoricalCrossentropy(from_logits=True)(np.zeros(len(y_pred), int), y_pred)


def test_cross_entropy_on_non_contiguous_or_integer_predictions_is_right():
    z = np.arange(12.0).reshape(2, 6)
    expected = losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([0, 2]), z[:, ::2].copy())
    assert losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([0, 2]), z[:, ::2]) == expected
    assert losses.SparseCategoricalCrossentropy(from_logits=True)([0, 2], z[:, ::2].astype(int).tolist()) == expected


@pytest.mark.parametrize("loss", [losses.MeanSquaredError(), losses.MeanAbsoluteError(), losses.Huber(),
                                  losses.BinaryCrossentropy()])
def test_flat_targets_against_one_output_are_reshaped_not_broadcast(loss):
    y = np.array([0.0, 1.0, 1.0, 0.0])
    p = np.array([0.2, 0.9, 0.6, 0.1])
    assert loss(y, p[:, None]) == pytest.approx(loss(y[:, None], p[:, None]))
    with pytest.raises(gn.ShapeError):
        loss(y[:, None], p)  # predictions of shape (n,): the targets must be (n,) too
    with pytest.raises(gn.ShapeError):
        loss(y[:, None], np.tile(p[:, None], (1, 3)))


def test_mean_squared_error_of_equal_columns_is_zero():
    y = np.arange(5.0)
    assert losses.MeanSquaredError()(y, y[:, None]) == 0.0


@pytest.mark.parametrize("method", ["__call__", "value_and_grad", "per_example"])
@pytest.mark.parametrize("y_pred", [np.array([[np.nan]] * 2), [["a"], ["b"]], np.ones((2, 1), complex)])
def test_public_loss_methods_refuse_what_is_not_finite_numbers(method, y_pred):
    with pytest.raises(gn.DataError):
        getattr(losses.MeanSquaredError(), method)(np.zeros(2), y_pred)


def test_sample_weight_as_a_list_and_of_the_wrong_length():
    assert losses.MeanSquaredError()(np.zeros(2), np.ones(2), [1.0, 3.0]) == 2.0
    with pytest.raises(gn.ShapeError):
        losses.MeanSquaredError()(np.zeros(2), np.ones(2), [1.0])
