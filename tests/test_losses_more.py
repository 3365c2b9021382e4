"""KL divergence, hinge, Poisson and binary focal cross-entropy: values by hand and from Keras's
documentation, PyTorch parity (through tests/test_torch_parity.py's checks, skipped without
PyTorch), names, saving, and the inputs they refuse. Their float64 gradient checks are among
every loss's in tests/test_gradcheck.py."""
import importlib
import math

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers, losses, serialization


# -- values by hand --------------------------------------------------------------------------------

def test_kl_divergence_by_hand():
    y, p = np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])
    assert losses.KLDivergence()(y, p) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3))
    assert losses.KLDivergence()(p, p) == 0.0
    _, grad = losses.KLDivergence().value_and_grad(y, p)
    np.testing.assert_allclose(grad, -y / p)


def test_kl_divergence_is_cross_entropy_minus_the_targets_entropy(rng):
    y, p = rng.dirichlet(np.ones(4), 6), rng.dirichlet(np.ones(4), 6)
    entropy = -(y * np.log(y)).sum(axis=1).mean()
    assert losses.KLDivergence()(y, p) == pytest.approx(losses.CategoricalCrossentropy()(y, p) - entropy)


@pytest.mark.parametrize("negative", [-1, 0])
def test_hinge_by_hand_with_either_kind_of_labels(negative):
    y, p = np.array([[1, negative, 1]]), np.array([[0.3, 0.5, 2.0]])
    # margins 1 - s p: 0.7, 1.5, -1 -> losses 0.7, 1.5, 0; the last output is past the margin
    value, grad = losses.Hinge().value_and_grad(y, p)
    assert value == pytest.approx(2.2 / 3)
    np.testing.assert_allclose(grad, [[-1 / 3, 1 / 3, 0.0]])


def test_poisson_by_hand():
    y, p = np.array([[2.0, 0.0]]), np.array([[1.0, 0.5]])
    eps = 1e-7
    value, grad = losses.Poisson().value_and_grad(y, p)
    assert value == pytest.approx((1 - 2 * math.log(1 + eps) + 0.5) / 2, rel=1e-12)
    np.testing.assert_allclose(grad, [[(1 - 2 / (1 + eps)) / 2, 0.5]])


# Keras's documented examples of BinaryFocalCrossentropy (printed to 3 or 4 digits).
KERAS_Y, KERAS_Z = np.array([[0, 1], [0, 0]]), np.array([[-18.6, 0.51], [2.94, -12.8]])


@pytest.mark.parametrize("gamma, balanced, expected", [(3, False, 0.647), (3, True, 0.482)])
def test_focal_loss_matches_keras_documentation(gamma, balanced, expected):
    loss = losses.BinaryFocalCrossentropy(apply_class_balancing=balanced, gamma=gamma, from_logits=True)
    assert loss(KERAS_Y, KERAS_Z) == pytest.approx(expected, abs=5e-4)
    flat = losses.BinaryFocalCrossentropy(apply_class_balancing=balanced, gamma=2, from_logits=True)
    assert flat(KERAS_Y.reshape(1, 4), KERAS_Z.reshape(1, 4)) == pytest.approx(0.51 if balanced else 0.691, abs=5e-3)


def test_focal_loss_per_example_and_weighted_match_keras_documentation():
    loss = losses.BinaryFocalCrossentropy(gamma=5, from_logits=True)
    np.testing.assert_allclose(loss.per_example(KERAS_Y, KERAS_Z)[0], [0.0017, 1.1561], atol=5e-5)
    assert losses.BinaryFocalCrossentropy(gamma=3, from_logits=True)(KERAS_Y, KERAS_Z, [0.8, 0.2]) == \
        pytest.approx(0.133, abs=5e-4)
    probabilities = losses.BinaryFocalCrossentropy(gamma=2).per_example(np.array([[0, 1], [0, 0]]),
                                                                          np.array([[0.6, 0.4], [0.4, 0.6]]))[0]
    np.testing.assert_allclose(probabilities, [0.330, 0.206], atol=5e-4)


@pytest.mark.parametrize("from_logits", [True, False])
def test_focal_loss_with_gamma_0_is_the_binary_cross_entropy(from_logits, rng):
    y = rng.integers(0, 2, (6, 3))
    pred = rng.standard_normal((6, 3)) if from_logits else rng.uniform(0.05, 0.95, (6, 3))
    focal = losses.BinaryFocalCrossentropy(gamma=0.0, from_logits=from_logits, label_smoothing=0.1)
    plain = losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=0.1)
    for a, b in zip(focal.value_and_grad(y, pred), plain.value_and_grad(y, pred)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_focal_loss_is_finite_for_huge_logits():
    z = np.array([[1e4, -1e4, 800.0, -800.0]])
    value, grad = losses.BinaryFocalCrossentropy(gamma=0.5, from_logits=True).value_and_grad(
        np.array([[1, 0, 0, 1]]), z)
    assert value == pytest.approx((800 + 800) / 4) and np.isfinite(grad).all()


# -- a model that ends in a sigmoid ------------------------------------------------------------------

def test_model_ending_in_sigmoid_trains_focal_loss_on_logits(rng):
    model = gn.Sequential([layers.Dense(4, activation="tanh"), layers.Dense(3, activation="sigmoid")],
                          seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss="binary_focal_crossentropy", metrics=["accuracy", "auc"])
    assert model.head_loss.from_logits and not model.loss.from_logits and model.head_loss.gamma == 2.0
    x, y = rng.standard_normal((8, 5)), rng.integers(0, 2, (8, 3))
    assert gn.gradcheck(model, x, y).passed
    loss, accuracy, _ = model.evaluate(x, y, verbose=0)
    probabilities = model.predict(x)
    assert loss == pytest.approx(model.loss(y, probabilities))
    assert accuracy == pytest.approx(((probabilities > 0.5) == y).mean())


# -- PyTorch parity ---------------------------------------------------------------------------------

def _torch_kl_divergence(torch, y, p, reduction):
    per_example = torch.nn.functional.kl_div(torch.log(p), y, reduction="none").sum(dim=-1)
    return per_example.mean() if reduction == "mean" else per_example


def _torch_poisson(torch, y, p, reduction):
    return torch.nn.functional.poisson_nll_loss(p, y, log_input=False, eps=1e-7, reduction=reduction)


def _torch_focal(gamma, alpha=None, logits=True):
    """torchvision's ``sigmoid_focal_loss`` (on probabilities too), written out."""
    def focal(torch, y, y_pred, reduction):
        functional = torch.nn.functional
        p = torch.sigmoid(y_pred) if logits else y_pred
        ce = (functional.binary_cross_entropy_with_logits(y_pred, y, reduction="none") if logits
              else functional.binary_cross_entropy(y_pred, y, reduction="none"))
        loss = ce * (1 - (p * y + (1 - p) * (1 - y))) ** gamma
        if alpha is not None:
            loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
        return loss.mean() if reduction == "mean" else loss
    return focal


def _counts_and_rates(rng):
    return rng.poisson(2.0, (8, 5)).astype(np.float64), rng.uniform(0.05, 4.0, (8, 5))


PARITY_CASES = [  # (loss, a maker of (y_true, y_pred): a name in test_torch_parity or a function, torch loss)
    pytest.param(losses.KLDivergence(), "_categorical_probabilities", _torch_kl_divergence, id="kl_divergence"),
    pytest.param(losses.Poisson(), _counts_and_rates, _torch_poisson, id="poisson"),
    pytest.param(losses.BinaryFocalCrossentropy(from_logits=True), "_binary_logits", _torch_focal(2.0),
                 id="focal_logits"),
    pytest.param(losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=1.5, from_logits=True),
                 "_binary_logits", _torch_focal(1.5, alpha=0.4), id="focal_logits_balanced"),
    pytest.param(losses.BinaryFocalCrossentropy(gamma=3.0), "_binary_probabilities", _torch_focal(3.0, logits=False),
                 id="focal_probabilities"),
]


@pytest.fixture
def parity():
    """tests/test_torch_parity.py, whose loss checks these cases go through (skips without PyTorch)."""
    return importlib.import_module("tests.test_torch_parity")


@pytest.mark.parametrize("loss, make_data, torch_loss", PARITY_CASES)
@pytest.mark.parametrize("check", ["test_loss_value_and_gradient_match_torch_mean_reduction",
                                   "test_loss_with_sample_weights_matches_torch_weighted_sum_over_n"])
def test_loss_matches_torch(parity, check, loss, make_data, torch_loss):
    maker = getattr(parity, make_data) if isinstance(make_data, str) else make_data
    getattr(parity, check)(loss, maker, lambda y, p, reduction: torch_loss(parity.torch, y, p, reduction))


# -- names, saving, refusals ------------------------------------------------------------------------

@pytest.mark.parametrize("name, cls", [("kl_divergence", losses.KLDivergence), ("kld", losses.KLDivergence),
                                       ("KLD", losses.KLDivergence), ("hinge", losses.Hinge),
                                       ("poisson", losses.Poisson),
                                       ("binary_focal_crossentropy", losses.BinaryFocalCrossentropy)])
def test_keras_loss_names(name, cls):
    assert type(losses.get(name)) is cls


@pytest.mark.parametrize("loss", [losses.KLDivergence(), losses.Hinge(), losses.Poisson(),
                                  losses.BinaryFocalCrossentropy(True, alpha=0.4, gamma=3.0, from_logits=True,
                                                                 label_smoothing=0.1)])
def test_losses_round_trip_through_their_config(loss):
    again = losses.deserialize(serialization.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()


def test_a_model_file_keeps_the_focal_loss(tmp_path, rng):
    model = gn.Sequential([layers.Input((3,)), layers.Dense(1, activation="sigmoid")], seed=0)
    loss = losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=1.0)
    model.compile(optimizer="adam", loss=loss)
    model.save(tmp_path / "m.safetensors")
    loaded = gn.load(tmp_path / "m.safetensors")
    assert loaded.loss.get_config() == loss.get_config() and loaded.head_loss.from_logits


def test_hinge_class_weights_count_minus_one_as_the_first_class():
    model = gn.Sequential([layers.Input((2,)), layers.Dense(1)], seed=0)
    model.compile(optimizer="sgd", loss="hinge")
    x, y = np.zeros((4, 2), np.float32), np.array([-1, -1, -1, 1])
    history = model.fit(x, y, class_weight={0: 0.0, 1: 4.0}, epochs=1, batch_size=4, verbose=0)
    assert history.history["loss"][0] == pytest.approx(1.0)  # the one positive, weighed 4, over 4 rows


@pytest.mark.parametrize("make, message", [
    (lambda: losses.Hinge()(np.array([2, 1]), np.zeros(2)[:, None]), "-1/1 or 0/1"),
    (lambda: losses.Hinge()(np.array([-1, 0, 1]), np.zeros(3)[:, None]), "-1/1 or 0/1"),
    (lambda: losses.Poisson()(np.array([-1.0]), np.ones((1, 1))), r"targets must be >= 0"),
    (lambda: losses.Poisson()(np.array([1.0]), -np.ones((1, 1))), "predictions >= 0"),
    (lambda: losses.KLDivergence()(np.array([[0.5, 1.5]]), np.full((1, 2), 0.5)), r"in \[0, 1\]"),
    (lambda: losses.BinaryFocalCrossentropy()(np.array([[2.0]]), np.full((1, 1), 0.5)), r"in \[0, 1\]"),
])
def test_bad_targets_and_predictions_are_refused(make, message):
    with pytest.raises(gn.DataError, match=message):
        make()


def test_kl_divergence_needs_outputs_of_shape_n_classes():
    with pytest.raises(gn.ShapeError, match="classes"):
        losses.KLDivergence()(np.full(3, 0.5), np.full(3, 0.5))


@pytest.mark.parametrize("make, message", [
    (lambda: losses.BinaryFocalCrossentropy(gamma=-1.0), "gamma"),
    (lambda: losses.BinaryFocalCrossentropy(alpha=1.5), "alpha"),
    (lambda: losses.BinaryFocalCrossentropy(label_smoothing=2.0), "label_smoothing"),
])
def test_bad_focal_arguments(make, message):
    with pytest.raises(gn.ConfigurationError, match=message):
        make()
