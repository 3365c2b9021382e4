"""Freezing layers (``layer.trainable = False``): frozen parameters do not move at all, the rest
trains as if the frozen layers were constants, fine-tuning (freeze, fit, unfreeze, fit) keeps the
optimizer state, and model files keep ``trainable``; ``get_layer`` and ``summary``'s counts."""
import pickle

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers


def data(n=64, features=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int) + (x[:, 3] > 1)
    return x, y % classes


def penalized_model(optimizer, seed=0):
    l1l2 = gn.regularizers.L1L2(l1=1e-3, l2=1e-2)
    model = gn.Sequential([layers.Input((5,)),
                           layers.Dense(16, activation="relu", kernel_regularizer=l1l2, bias_regularizer=l1l2),
                           layers.Dense(8, activation="tanh", kernel_regularizer=l1l2, bias_regularizer=l1l2),
                           layers.Dense(3, activation="softmax", kernel_regularizer=gn.regularizers.L2(1e-2))],
                          seed=seed)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


OPTIMIZERS = {
    "adam-weight-decay": lambda: gn.optimizers.Adam(0.01, weight_decay=0.01),
    "adamw": lambda: gn.optimizers.AdamW(0.01, weight_decay=0.1),
    "sgd-nesterov": lambda: gn.optimizers.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "rmsprop-centered": lambda: gn.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: gn.optimizers.Adagrad(0.05),
    "nadam-clipped": lambda: gn.optimizers.Nadam(0.01, clipnorm=0.1),
}


def state_of(model, layer):
    state = model.optimizer.state_dict()["state"]
    return {name: {slot: a.copy() for slot, a in slots.items()} for name, slots in state.items()
            if name.startswith(layer.name + ".")}


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for name in a:
        for slot in a[name]:
            np.testing.assert_array_equal(a[name][slot], b[name][slot])


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_a_frozen_layer_does_not_move_at_all_and_keeps_its_optimizer_state(make_optimizer):
    x, y = data()
    model = penalized_model(make_optimizer())
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)  # momentum and moments built up
    middle = model.get_layer("dense_1")
    weights, state = [p.value.copy() for p in middle.parameters()], state_of(model, middle)
    others = [p.value.copy() for layer in (model.layers[0], model.layers[2]) for p in layer.parameters()]
    middle.trainable = False
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    for before, p in zip(weights, middle.parameters()):
        np.testing.assert_array_equal(p.value, before)
    assert_same_state(state_of(model, middle), state)
    moved = [p.value for layer in (model.layers[0], model.layers[2]) for p in layer.parameters()]
    assert all(not np.array_equal(a, b) for a, b in zip(others, moved))


def test_the_other_layers_train_as_if_the_frozen_layer_were_a_constant():
    """A frozen first layer: the rest trains exactly as a model of the rest trains on its
    outputs, bit for bit, with penalties on both and the whole gradient clipped to a norm."""
    x, y = data()
    optimizer = lambda: gn.optimizers.Adam(0.01, global_clipnorm=0.05)  # noqa: E731
    model = penalized_model(optimizer())
    model.get_layer(index=0).trainable = False
    rest = gn.Sequential([layers.Input((16,)), *(layers.deserialize(layers.serialize(l)) for l in model.layers[1:])])
    rest.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rest.set_weights(model.get_weights()[2:])
    rest.rng.bit_generator.state = model.rng.bit_generator.state  # the same shuffles
    features = model.layers[0](x)

    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0)
    expected = rest.fit(features, y, epochs=4, batch_size=16, verbose=0)

    for a, b in zip(model.get_weights()[2:], rest.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert history.history == expected.history  # the frozen layer's penalty is not in the loss


def test_fine_tuning_freeze_fit_unfreeze_fit():
    x, y = data()
    model = penalized_model(gn.optimizers.Adam(0.01))
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    base = model.layers[0]
    base.trainable = False
    frozen = [p.value.copy() for p in base.parameters()]
    state = state_of(model, base)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert_same_state(state_of(model, base), state)
    loss = model.evaluate(x, y, verbose=0)[0]
    base.trainable = True
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert all(not np.array_equal(p.value, before) for p, before in zip(base.parameters(), frozen))
    moments = state_of(model, base)  # Adam went on from the moments it kept
    assert all(not np.array_equal(moments[n]["m"], state[n]["m"]) for n in state)
    assert model.evaluate(x, y, verbose=0)[0] < loss


def test_trainable_takes_effect_at_the_next_step_without_compiling_again():
    x, y = data()
    model = penalized_model("adam")
    last = model.layers[2]
    seen = []

    def freeze_after_first_epoch(epoch, logs):
        seen.append(last.weight.value.copy())
        last.trainable = False

    model.fit(x, y, epochs=3, batch_size=16, verbose=0,
              callbacks=[gn.callbacks.LambdaCallback(on_epoch_end=freeze_after_first_epoch)])
    np.testing.assert_array_equal(seen[1], seen[0])
    np.testing.assert_array_equal(last.weight.value, seen[0])
    assert model.regularized_parameters == model.layers[0].parameters() + [model.layers[1].weight,
                                                                           model.layers[1].bias]


def test_a_frozen_model_resumes_exactly_from_a_file(tmp_path):
    x, y = data()
    once = penalized_model(gn.optimizers.Adam(0.01))
    once.layers[1].trainable = False
    once.fit(x, y, epochs=4, batch_size=16, verbose=0)

    model = penalized_model(gn.optimizers.Adam(0.01))
    model.layers[1].trainable = False
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "half.safetensors", include_optimizer=True)
    resumed = gn.load(tmp_path / "half.safetensors")
    assert [layer.trainable for layer in resumed.layers] == [True, False, True]
    assert resumed.get_config()["layers"][1]["config"]["trainable"] is False
    assert "trainable" not in resumed.get_config()["layers"][0]["config"]
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    for a, b in zip(resumed.get_weights(), once.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert resumed.history.history == {k: v[2:] for k, v in once.history.history.items()}


def test_a_backup_resumes_with_the_layers_a_callback_froze(tmp_path):
    """Killed after a callback froze a layer, the same script resumes from its backup with the
    layer frozen, and ends as the run that was never interrupted."""
    from tests.test_callbacks_checkpoint import Interrupt, StopAt

    x, y = data()

    def run(*callbacks):
        model = penalized_model(gn.optimizers.Adam(0.01))
        freeze = gn.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: epoch == 1 and setattr(
            model.layers[0], "trainable", False))
        model.fit(x, y, epochs=5, batch_size=16, verbose=0,
                  callbacks=[freeze, *callbacks, gn.callbacks.BackupAndRestore(tmp_path, save_freq=3)])
        return model

    straight = run()
    with pytest.raises(Interrupt):
        run(StopAt(3, 2))
    resumed = run()
    assert not resumed.layers[0].trainable
    for a, b in zip(resumed.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_pickled_frozen_model_trains_on_the_same():
    x, y = data()
    model = penalized_model(gn.optimizers.SGD(0.05, momentum=0.9))
    model.layers[0].trainable = False
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    copy = pickle.loads(pickle.dumps(model))
    for m in (model, copy):
        m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(model.get_weights(), copy.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_gradcheck_passes_with_a_frozen_regularized_layer():
    x, y = data(8)
    model = penalized_model("sgd")
    model.layers[1].trainable = False
    assert gn.gradcheck(model, x, y).passed


class RunningMean(layers.Layer):
    """Passes its input through and keeps the mean of the inputs it trained on: state the layer
    updates itself, which no optimizer step moves."""

    def build(self, input_shape, rng, dtype):
        self.mean = self.add_parameter("mean", np.zeros(input_shape, dtype), trainable=False)

    def forward(self, x, training=False):
        if training:
            self.mean.value[...] = 0.9 * self.mean.value + 0.1 * x.mean(axis=0)
        return x, lambda dy: dy


def test_state_parameters_are_never_trained_whatever_the_layer_says():
    x, y = data()
    model = gn.Sequential([layers.Input((5,)), RunningMean(), layers.Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer=gn.optimizers.AdamW(0.01, weight_decay=0.5), loss="sparse_categorical_crossentropy")
    running = model.layers[0]
    running.trainable = False
    running.trainable = True
    assert not running.mean.trainable
    model.fit(x, y, epochs=1, batch_size=64, shuffle=False, verbose=0)
    np.testing.assert_allclose(running.mean.value, 0.1 * x.mean(axis=0), rtol=1e-6)  # decay would shrink it
    lines = []
    model.summary(print_fn=lines.append)
    assert "Non-trainable params: 5 (20 B)" in lines


def test_summary_counts_trainable_and_non_trainable_parameters():
    model = gn.Sequential([layers.Input((4,)), layers.Dense(8), layers.Dense(2, trainable=False)])
    lines = []
    model.summary(print_fn=lines.append)
    assert lines[-4:] == ["Total params: 58 (232 B)", "Trainable params: 40 (160 B)",
                          "Non-trainable params: 18 (72 B)", "Input shape: (None, 4)"]


def test_get_layer_by_name_or_index():
    model = gn.Sequential([layers.Input((4,)), layers.Dense(8), layers.Dropout(0.5), layers.Dense(2)])
    assert model.get_layer("dense_1") is model.layers[2] and model.get_layer(index=1) is model.layers[1]
    with pytest.raises(gn.ConfigurationError, match="no layer named 'dense_2'; the layers are "
                                                    "\\['dense', 'dropout', 'dense_1'\\]"):
        model.get_layer("dense_2")
    with pytest.raises(gn.ConfigurationError, match="no layer at index 3: the model has 3 layers"):
        model.get_layer(index=3)
    with pytest.raises(gn.ConfigurationError, match="index must be an integer >= 0, got -1"):
        model.get_layer(index=-1)
    for arguments in ({}, {"name": "dense", "index": 0}):
        with pytest.raises(gn.ConfigurationError, match="a layer name or an index, not both or neither"):
            model.get_layer(**arguments)


def test_trainable_is_true_or_false():
    with pytest.raises(gn.ConfigurationError, match="trainable must be True or False, got 'no'"):
        layers.Dense(2, trainable="no")
    layer = layers.Dense(2)
    with pytest.raises(gn.ConfigurationError, match="trainable must be True or False, got 0"):
        layer.trainable = 0
    layer.trainable = np.False_
    assert layer.trainable is False and layer.get_config()["trainable"] is False


def test_frozen_first_layer_fine_tune_matches_torch():
    """A frozen first layer in PyTorch: ``requires_grad_(False)``; Adam, full batches, float64."""
    torch = pytest.importorskip("torch")
    from tests.test_torch_parity import _assert_same_weights, _classification_data, _torch_mlp

    x, labels = _classification_data()
    model = gn.Sequential([layers.Dense(16, activation="tanh"), layers.Dense(3, activation="softmax")],
                          seed=0, dtype="float64")
    model.compile(optimizer=gn.optimizers.Adam(0.01, epsilon=1e-8), loss="sparse_categorical_crossentropy")
    model.build((x.shape[1],))
    model.layers[0].trainable = False
    torch_model = _torch_mlp(model, torch.nn.Tanh)
    torch_model[0].requires_grad_(False)
    torch_optimizer = torch.optim.Adam([p for p in torch_model.parameters() if p.requires_grad], lr=0.01, eps=1e-8)

    model.fit(x, labels, batch_size=None, epochs=10, shuffle=False, verbose=0)
    for _ in range(10):
        torch_optimizer.zero_grad()
        torch.nn.functional.cross_entropy(torch_model(torch.from_numpy(x)), torch.from_numpy(labels)).backward()
        torch_optimizer.step()

    _assert_same_weights(model, torch_model, rtol=1e-9, atol=1e-12)
