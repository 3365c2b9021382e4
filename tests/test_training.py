"""The training loop: batch sizes, validation, weights, reproducibility, evaluate/predict/summary."""

import numpy as np
import pytest

import glassnet as gn
from glassnet import checks, layers


def blobs(n=120, seed=0):
    """Three well separated Gaussian blobs in 4 dimensions."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 4)) * 0.5 + np.eye(4)[y] * 3
    return x.astype(np.float32), y


def classifier(seed=0, dropout=0.0, optimizer=None, **dense):
    model = gn.Sequential([layers.Dense(16, activation="relu", **dense), layers.Dropout(dropout),
                           layers.Dense(3, activation="softmax")], seed=seed)
    model.compile(optimizer=optimizer or gn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class CountBatches(gn.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.sizes = []

    def on_train_batch_end(self, batch, logs=None):
        self.sizes.append(batch)


@pytest.mark.parametrize("batch_size, steps", [(1, 90), (32, 3), (None, 1), (90, 1), (1000, 1)])
def test_batch_size_sets_the_number_of_steps(batch_size, steps):
    x, y = blobs(90)
    counter = CountBatches()
    model = classifier()
    model.fit(x, y, batch_size=batch_size, epochs=2, verbose=0, callbacks=[counter])
    assert len(counter.sizes) == 2 * steps
    assert model.optimizer.iterations == 2 * steps


@pytest.mark.parametrize("batch_size", [1, 16, None])
def test_every_kind_of_gradient_descent_learns(batch_size):
    x, y = blobs()
    model = classifier(optimizer=gn.optimizers.SGD(0.05 if batch_size == 1 else 0.5))
    model.fit(x, y, batch_size=batch_size, epochs=25 if batch_size is None else 5, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] > 0.95


def test_history_has_one_value_per_epoch_and_val_keys():
    x, y = blobs()
    history = classifier().fit(x, y, epochs=3, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values())
    assert history.epoch == [0, 1, 2]


def test_validation_split_holds_out_the_last_examples():
    x, y = blobs()
    model = classifier()
    history = model.fit(x, y, epochs=1, validation_split=0.25, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x[90:], y[90:], verbose=0)[0], rel=1e-6)


def test_validation_data_is_evaluated_each_epoch():
    x, y = blobs()
    model = classifier()
    history = model.fit(x[:80], y[:80], epochs=2, validation_data=(x[80:], y[80:]), verbose=0)
    assert history.history["val_accuracy"][-1] == pytest.approx(model.evaluate(x[80:], y[80:], verbose=0)[1])


def test_same_seed_same_training_bit_for_bit():
    x, y = blobs()
    runs = []
    for _ in range(2):
        model = classifier(seed=7, dropout=0.3)
        history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0)
        runs.append((model.get_weights(), history.history))
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(a, b)
    assert runs[0][1] == runs[1][1]
    other = classifier(seed=8, dropout=0.3)
    other.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0)
    assert not np.array_equal(other.get_weights()[0], runs[0][0][0])


def test_shuffle_false_uses_the_data_in_order():
    x, y = blobs(64)
    seen = []
    model = classifier()
    original = model.forward_head

    def spy(xb, training=False):
        if training:
            seen.append(xb.copy())
        return original(xb, training)

    model.forward_head = spy
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_array_equal(np.concatenate(seen), x)


def test_class_weight_weighs_each_class_in_the_loss():
    """L = sum_i w_{y_i} l_i / N: with weight 1 on class 0 and 0 on the others, a full-batch SGD
    step equals a step on the class-0 rows alone with the learning rate scaled by N_0 / N."""
    x, y = blobs()
    n, n0 = len(x), int((y == 0).sum())
    weighted = classifier(optimizer=gn.optimizers.SGD(0.5))
    weighted.fit(x, y, batch_size=None, epochs=1, verbose=0, class_weight={0: 1.0, 1: 0.0, 2: 0.0})
    alone = classifier(optimizer=gn.optimizers.SGD(0.5 * n0 / n))
    alone.fit(x[y == 0], y[y == 0], batch_size=None, epochs=1, verbose=0)
    for wa, wb in zip(weighted.get_weights(), alone.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    start = classifier()
    start.build((4,))
    moved = [np.abs(w - w0).max() for w, w0 in zip(weighted.get_weights(), start.get_weights())]
    assert max(moved) > 1e-3  # the step did something


def test_zero_sample_weights_ignore_examples():
    x, y = blobs()
    model = classifier()
    weights = np.ones(len(x))
    weights[y == 2] = 0
    model.fit(x, y, epochs=3, verbose=0, sample_weight=weights, batch_size=None)
    before = model.get_weights()
    # an example with weight 0 contributes no gradient: training on it alone changes nothing
    model.compile(optimizer=gn.optimizers.SGD(1.0), loss="sparse_categorical_crossentropy")
    model.fit(x[y == 2][:5], y[y == 2][:5], sample_weight=np.zeros(5), epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_regularization_penalty_is_in_the_reported_loss():
    x, y = blobs()
    plain = classifier(seed=3)
    l2 = classifier(seed=3, kernel_regularizer=gn.regularizers.L2(0.1))
    l2.build((4,))
    plain.build((4,))
    plain.set_weights(l2.get_weights())
    penalty = 0.1 * float((l2.get_weights()[0].astype(np.float64) ** 2).sum())
    assert l2.evaluate(x, y, verbose=0)[0] == pytest.approx(plain.evaluate(x, y, verbose=0)[0] + penalty, rel=1e-5)


def test_l1_drives_weights_to_zero_and_l2_shrinks_them():
    x, y = blobs()
    norms = {}
    for name, reg in [("none", None), ("l2", gn.regularizers.L2(0.01)), ("l1", gn.regularizers.L1(0.01))]:
        model = classifier(seed=1, kernel_regularizer=reg)
        model.fit(x, y, epochs=20, verbose=0)
        w = model.get_weights()[0]
        norms[name] = (np.square(w).sum(), np.mean(np.abs(w) < 1e-2))
    assert norms["l2"][0] < norms["none"][0]
    assert norms["l1"][1] > norms["none"][1]


def test_evaluate_and_predict():
    x, y = blobs()
    model = classifier()
    model.fit(x, y, epochs=5, verbose=0)
    loss, accuracy = model.evaluate(x, y, verbose=0)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs == {"loss": loss, "accuracy": accuracy}
    p = model.predict(x)
    assert p.shape == (len(x), 3) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(model.predict(x, batch_size=1), p, rtol=1e-5, atol=1e-6)
    assert accuracy == pytest.approx(np.mean(p.argmax(axis=1) == y))


def test_evaluate_without_metrics_returns_a_float():
    x, y = blobs()
    model = gn.Sequential([layers.Dense(3)], seed=0)
    model.compile(optimizer="sgd", loss=gn.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert isinstance(model.evaluate(x, y, verbose=0), float)


def test_regression_with_mse_and_mae_metrics():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3
    model = gn.Sequential([layers.Dense(1)], seed=0)
    model.compile(optimizer=gn.optimizers.SGD(0.1), loss="mse", metrics=["mae", "mse"])
    history = model.fit(x, y, epochs=30, batch_size=20, verbose=0)
    assert history.history["loss"][-1] < 1e-4
    assert history.history["mse"][-1] == pytest.approx(history.history["loss"][-1], rel=1e-3)
    np.testing.assert_allclose(model.get_weights()[0].ravel(), [1.0, -2.0, 0.5], atol=1e-2)


def test_binary_classification_with_logits_and_probabilities():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 2)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.float32)
    for output, loss in [("sigmoid", "binary_crossentropy"),
                         (None, gn.losses.BinaryCrossentropy(from_logits=True))]:
        model = gn.Sequential([layers.Dense(1, activation=output)], seed=0)
        model.compile(optimizer=gn.optimizers.Adam(0.05), loss=loss, metrics=["accuracy"])
        history = model.fit(x, y, epochs=20, verbose=0)
        assert history.history["accuracy"][-1] > 0.95


def test_one_hot_targets_with_categorical_crossentropy():
    x, y = blobs()
    model = gn.Sequential([layers.Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer=gn.optimizers.Adam(0.05), loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, np.eye(3)[y], epochs=10, verbose=0)
    assert model.evaluate(x, np.eye(3)[y], verbose=0)[1] > 0.95


def test_float64_models_train_in_float64():
    x, y = blobs()
    model = gn.Sequential([layers.Dense(3, activation="softmax")], seed=0, dtype="float64")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert model.params.values.dtype == np.float64 and model.predict(x).dtype == np.float64


def test_summary_before_training_with_input():
    model = gn.Sequential([layers.Input((784,)), layers.Dense(256, activation="relu"), layers.Dropout(0.3),
                           layers.Dense(10, activation="softmax")])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(None, 256)" in text and "200,960" in text and "2,570" in text
    assert "Total params: 203,530" in text


def test_summary_with_input_shape_argument_and_unbuilt():
    model = gn.Sequential([layers.Dense(4, input_shape=(3,))])
    lines = []
    model.summary(print_fn=lines.append)
    assert "16" in "\n".join(lines)
    unbuilt = gn.Sequential([layers.Dense(4)])
    lines = []
    unbuilt.summary(print_fn=lines.append)
    assert "unbuilt" in "\n".join(lines)


def test_layer_names_are_unique():
    model = gn.Sequential([layers.Dense(4), layers.Dense(4), layers.Dense(2)])
    assert [l.name for l in model.layers] == ["dense", "dense_1", "dense_2"]


def test_config_round_trip_makes_the_same_architecture():
    model = classifier(kernel_regularizer=gn.regularizers.L1L2(0.01, 0.02))
    model.build((4,))
    clone = gn.Sequential.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    clone.set_weights(model.get_weights())
    x, _ = blobs()
    np.testing.assert_array_equal(clone(x), model(x))


def test_fit_twice_continues_training():
    x, y = blobs()
    model = classifier()
    first = model.fit(x, y, epochs=2, verbose=0).history["loss"][-1]
    second = model.fit(x, y, epochs=2, verbose=0).history["loss"][0]
    assert second < first * 1.2
    assert model.optimizer.iterations == 2 * 2 * 4


def test_balanced_class_weight_is_scikit_learns_formula():
    from sklearn.utils.class_weight import compute_class_weight
    y = np.array([0, 0, 0, 0, 0, 0, 2, 2, 1, 0, 2, 0])
    weights = checks.class_weights("balanced", y, 4)  # class 3 does not occur
    expected = compute_class_weight("balanced", classes=np.unique(y), y=y)
    np.testing.assert_allclose(weights, expected[np.searchsorted(np.unique(y), y)], rtol=1e-15)
    one_hot = checks.class_weights("balanced", np.eye(4)[y], 4)
    binary = checks.class_weights("balanced", (y[:, None] > 0).astype(float), 1)
    np.testing.assert_array_equal(one_hot, weights)
    assert binary.sum() == pytest.approx(len(y)) and binary[0] == len(y) / (2 * 8)  # 8 negatives
    with pytest.raises(gn.ConfigurationError, match="a dict {class: weight} or 'balanced', got str 'even'"):
        checks.class_weights("even", y, 4)


def test_fit_with_balanced_class_weight_weighs_each_class_the_same():
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.1).astype(int)  # 10% positives
    x = rng.standard_normal((200, 3)) + y[:, None] * 0.5
    recalls = {}
    for class_weight in (None, "balanced"):
        model = gn.Sequential([gn.layers.Input((3,)), gn.layers.Dense(1, activation="sigmoid")], seed=0)
        model.compile(gn.optimizers.Adam(0.05), "binary_crossentropy", metrics=["recall"])
        model.fit(x, y, epochs=20, batch_size=32, verbose=0, class_weight=class_weight)
        recalls[class_weight] = model.evaluate(x, y, verbose=0)[1]
    assert recalls[None] < 0.3 < recalls["balanced"]  # the rare class is found once it weighs as much
