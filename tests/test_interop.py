"""glassnet.interop: networks and weights moved to PyTorch and Keras 3 and back.

Round trips glassnet -> PyTorch -> glassnet and glassnet -> Keras -> glassnet give the same layers
(configs), bit-identical weights and predictions; each covered layer predicts the same in the other
framework to float32 rounding (rtol 1e-5, atol 1e-6); a Keras functional model with two inputs,
an Embedding, a shared layer and a residual Add comes across both ways; a layer or option without a
counterpart is refused by name; and a few steps of the same training in the three frameworks agree
(SGD with momentum and Adam against PyTorch to 1e-6; Keras's Adam differs by its epsilon, by about
1e-4, and agrees to 1e-6 with epsilon 1e-12 and float32 betas). The PyTorch half skips without
torch, the Keras half without Keras 3 (its import, a few seconds, happens once per module).
"""
import collections

import numpy as np
import pytest

import glassnet as gn
from glassnet import interop, layers
from glassnet.errors import ConfigurationError, MissingExtraError, NotBuiltError

F32 = dict(rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", exc_type=ImportError)


@pytest.fixture(scope="module")
def keras():
    from glassnet.extras import require_keras  # sets KERAS_BACKEND=jax where Keras would want TensorFlow
    try:
        return require_keras("the interop tests")
    except MissingExtraError as error:
        pytest.skip(str(error))


def randomized(model, seed=0):
    """``model`` with every weight drawn at random (variances positive), so that no weight is left
    at an initializer's zeros or ones."""
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        if p.name.endswith("moving_variance"):
            p.value[...] = rng.uniform(0.5, 2.0, p.shape)
        else:
            p.value[...] = rng.normal(0, 0.5, p.shape)
    return model


def same_model(back, model, x):
    """``back`` (a round trip of ``model``) has its layers, bit-identical weights and predictions."""
    assert layer_configs(back) == layer_configs(model)
    same_weights(back, model)
    np.testing.assert_array_equal(back.predict(x), model.predict(x))


def layer_configs(model):
    return [layer.get_config() for layer in model.layers]


def same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        assert x.dtype == y.dtype and np.array_equal(x, y)


def stack(*middle, input_shape=(6,), dtype="float32", seed=0):
    """Input -> Dense(6) -> the layers ``middle`` -> Dense(3), weights drawn at random."""
    model = gn.Sequential([layers.Input(input_shape), layers.Dense(6), *middle, layers.Dense(3)], seed=seed,
                          dtype=dtype)
    model.build()
    return randomized(model, seed)


def data(shape=(6,), rows=7, seed=1, dtype=np.float32):
    return np.random.default_rng(seed).normal(size=(rows, *shape)).astype(dtype)


def ids_model(seed=0):
    model = gn.Sequential([layers.Input((5,)), layers.Embedding(12, 4), layers.Flatten(),
                           layers.Dense(6, activation="tanh"), layers.Dense(3, activation="softmax")], seed=seed)
    model.build()
    return randomized(model, seed)


def ids(rows=7, seed=1):
    return np.random.default_rng(seed).integers(0, 12, (rows, 5))


# One covered layer each (after a Dense of 6 on 6 features); the same list for both frameworks,
# but for the few each cannot take.
LAYER_CASES = {
    "relu": lambda: [layers.Dense(6, activation="relu")],
    "leaky_relu 0.1": lambda: [layers.LeakyReLU(0.1)],
    "dense leaky_relu 0.1": lambda: [layers.Dense(6, activation=layers.LeakyReLU(0.1))],
    "elu 0.7": lambda: [layers.Dense(6, activation=layers.ELU(0.7))],
    "selu": lambda: [layers.SELU()],
    "gelu": lambda: [layers.Dense(6, activation="gelu")],
    "gelu tanh": lambda: [layers.GELU(approximate=True)],
    "sigmoid": lambda: [layers.Sigmoid()],
    "tanh": lambda: [layers.Activation("tanh")],
    "softmax": lambda: [layers.Dense(6, activation="softmax")],
    "softplus": lambda: [layers.Dense(6, activation="softplus")],
    "swish": lambda: [layers.Swish()],
    "linear": lambda: [layers.Linear()],
    "dropout": lambda: [layers.Dropout(0.4)],
    "reshape flatten": lambda: [layers.Reshape((2, 3)), layers.Softmax(axis=1), layers.Flatten()],
    "batchnorm": lambda: [layers.BatchNormalization(momentum=0.9, epsilon=1e-5)],
    "batchnorm no affine": lambda: [layers.BatchNormalization(center=False, scale=False)],
    "layernorm": lambda: [layers.LayerNormalization(epsilon=1e-5)],
    "layernorm no center": lambda: [layers.LayerNormalization(center=False)],
    "layernorm none": lambda: [layers.LayerNormalization(center=False, scale=False)],
}
NOT_IN_KERAS = {"gelu tanh"}  # no Keras layer or activation name for it
# A standalone activation after a Dense comes back from PyTorch as that Dense's activation
FOLDED_BY_TORCH = {"leaky_relu 0.1", "selu", "gelu tanh", "sigmoid", "tanh", "swish", "linear"}
# A standalone activation Keras has no layer of comes back as Activation(name); a Dense's
# activation with arguments comes back as a layer of its own
RENAMED_BY_KERAS = {"selu", "sigmoid", "swish", "linear", "dense leaky_relu 0.1", "elu 0.7"}


# ---------------------------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------------------------
def torch_predict(torch, net, x):
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("case", LAYER_CASES)
def test_torch_predicts_what_glassnet_does_for_each_layer(torch, case):
    model = stack(*LAYER_CASES[case]())
    x = data()
    net = interop.to_torch(model)
    assert not net.training
    np.testing.assert_allclose(torch_predict(torch, net, x), model.predict(x), **F32)
    back = interop.from_torch(net)
    if case in FOLDED_BY_TORCH:
        assert len(back.layers) == len(model.layers) - 1
        assert (back.layers[0].activation is None) == (case == "linear")
        same_weights(back, model)
        np.testing.assert_array_equal(back.predict(x), model.predict(x))
    else:
        same_model(back, model, x)


def test_torch_round_trip_of_a_whole_network_is_exact_in_float32_and_float64(torch):
    for dtype in ("float32", "float64"):
        model = stack(layers.Dense(8, activation="relu"), layers.BatchNormalization(), layers.Dropout(0.2),
                      layers.LayerNormalization(), layers.Dense(6, activation=layers.GELU(approximate=True)),
                      dtype=dtype)
        x = data(dtype=dtype)
        net = interop.to_torch(model)
        assert next(net.parameters()).dtype == getattr(torch, dtype)
        assert [name for name, _ in net.named_children()] == [
            "dense", "dense_1", "dense_1_relu", "batchnormalization", "dropout", "layernormalization", "dense_2",
            "dense_2_gelu", "dense_3"]
        np.testing.assert_allclose(torch_predict(torch, net, x), model.predict(x), rtol=1e-12 if dtype == "float64"
                                   else 1e-5, atol=1e-12 if dtype == "float64" else 1e-6)
        back = interop.from_torch(net, seed=3)
        assert back.dtype == np.dtype(dtype) and back.seed == 3
        same_model(back, model, x)


def test_torch_embedding_network_round_trip(torch):
    model = ids_model()
    x = ids()
    net = interop.to_torch(model)
    np.testing.assert_allclose(torch_predict(torch, net, x), model.predict(x), **F32)
    with pytest.raises(ConfigurationError, match="input_shape"):
        interop.from_torch(net)
    back = interop.from_torch(net, input_shape=(5,))
    same_model(back, model, x)


def test_a_network_made_in_torch_comes_over_with_its_names_and_folded_activations(torch):
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.LayerNorm(5),
        nn.Linear(5, 8), nn.LeakyReLU(0.05),
        nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8, momentum=0.1, eps=1e-5), nn.SiLU()),
        nn.Dropout(0.3), nn.Linear(8, 4, bias=False), nn.Unflatten(1, (2, 2)), nn.Softmax(dim=-1), nn.Flatten(),
        nn.Identity(), nn.Linear(4, 2), nn.Softplus())
    with torch.no_grad():  # moved running statistics, not the initial zeros and ones
        net[3][1].running_mean.normal_()
        net[3][1].running_var.uniform_(0.5, 2)
    net.eval()
    model = interop.from_torch(net, seed=0)
    assert [type(layer).__name__ for layer in model.layers] == [
        "LayerNormalization", "Dense", "Dense", "BatchNormalization", "Swish", "Dropout", "Dense", "Reshape", "Softmax",
        "Flatten", "Linear", "Dense"]
    leaky = model.layers[1].activation
    assert isinstance(leaky, layers.LeakyReLU) and leaky.negative_slope == 0.05
    assert model.layers[2].activation is None and isinstance(model.layers[-1].activation, layers.Softplus)
    bn = model.layers[3]
    assert bn.momentum == 0.9 and bn.epsilon == 1e-5
    x = data((5,))
    np.testing.assert_allclose(model.predict(x), torch_predict(torch, net, x), **F32)
    named = nn.Sequential(collections.OrderedDict(fc=nn.Linear(5, 3), act=nn.Tanh()))
    assert [layer.name for layer in interop.from_torch(named).layers] == ["fc"]


def test_batchnorm_momentum_converts_both_ways_without_rounding_noise(torch):
    net = torch.nn.Sequential(torch.nn.BatchNorm1d(4, momentum=0.1))
    model = interop.from_torch(net)
    assert model.layers[0].momentum == 0.9
    assert interop.to_torch(model)[0].momentum == 0.1
    model = stack(layers.BatchNormalization(momentum=0.99))
    assert interop.to_torch(model)[1].momentum == 0.01
    assert interop.from_torch(interop.to_torch(model)).layers[1].momentum == 0.99


@pytest.mark.parametrize("make, message", [
    (lambda nn: nn.Sequential(nn.Linear(4, 4), nn.Conv3d(1, 1, 3)), r"module '1' \(torch.nn.Conv3d\).*no counterpart"),
    (lambda nn: nn.Sequential(nn.Linear(4, 4), nn.Conv1d(1, 1, 3)), r"module '1' \(torch.nn.Conv1d\).*not a map"),
    (lambda nn: nn.Sequential(nn.Linear(4, 4), nn.PReLU()), r"module '1' \(torch.nn.PReLU\)"),
    (lambda nn: nn.Sequential(nn.Linear(4, 4), nn.LayerNorm((2, 2))), "normalized_shape"),
    (lambda nn: nn.Sequential(nn.Embedding(10, 4, padding_idx=0)), "padding_idx"),
    (lambda nn: nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, momentum=None)), "momentum=None"),
    (lambda nn: nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, track_running_stats=False)), "track_running_stats"),
    (lambda nn: nn.Sequential(nn.Linear(4, 4), nn.Softmax(dim=0)), "dim=0"),
    (lambda nn: nn.Sequential(nn.Linear(4, 4), nn.Softplus(beta=2)), "beta=2"),
    (lambda nn: nn.Sequential(nn.Linear(4, 4), nn.Flatten(start_dim=0)), "start_dim=0"),
    (lambda nn: nn.Sequential(nn.Linear(4, 4), nn.Embedding(4, 2)), "first module"),
    (lambda nn: nn.Linear(4, 4), "converts a torch.nn.Sequential"),
    (lambda nn: nn.Sequential(nn.Linear(4, 4).half()), "float16"),
])
def test_from_torch_refuses_what_glassnet_lacks_by_name(torch, make, message):
    with pytest.raises(ConfigurationError, match=message):
        interop.from_torch(make(torch.nn), input_shape=(4,) if "Embedding" not in message else None)


def test_from_torch_refuses_a_linear_on_an_unflattened_input(torch):
    nn = torch.nn
    with pytest.raises(ConfigurationError, match=r"module '0' \(torch.nn.Linear\).*nn.Flatten"):
        interop.from_torch(nn.Sequential(nn.Linear(3, 2)), input_shape=(4, 3))


def test_to_torch_refuses_what_pytorch_lacks_by_name(torch):
    inputs = gn.Input((4,))
    graph_model = gn.Model(inputs, layers.Add()([inputs, layers.Dense(4)(inputs)]))
    with pytest.raises(ConfigurationError, match="graph gn.Model"):
        interop.to_torch(graph_model)
    with pytest.raises(ConfigurationError, match=r"layer 1 \('dense_1', Dense\).*kernel_regularizer"):
        interop.to_torch(stack(layers.Dense(4, kernel_regularizer="l2")))
    with pytest.raises(ConfigurationError, match=r"layer 1 .*center=True, scale=False"):
        interop.to_torch(stack(layers.BatchNormalization(scale=False)))
    with pytest.raises(ConfigurationError, match=r"layer 1 .*center=True, scale=False"):
        interop.to_torch(stack(layers.LayerNormalization(scale=False)))
    with pytest.raises(ConfigurationError, match="BatchNorm1d normalizes axis 1"):
        interop.to_torch(stack(layers.Reshape((2, 3)), layers.BatchNormalization(), layers.Flatten()))
    with pytest.raises(NotBuiltError):
        interop.to_torch(gn.Sequential([layers.Dense(3)]))


# Networks of convolutions and poolings (channels-last in glassnet and Keras, channels-first in PyTorch)
CONV_CASES = {
    "conv2d, max pool same, groups, batchnorm, flatten": lambda: [
        layers.Input((7, 6, 3)), layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2, padding="same"), layers.Conv2D(6, (2, 3), strides=2, groups=2),
        layers.BatchNormalization(), layers.Flatten(), layers.Dropout(0.2), layers.LayerNormalization(),
        layers.Dense(5, activation="tanh"), layers.Dense(3)],
    "conv2d asymmetric same, average pool, dilation, global pool": lambda: [
        layers.Input((8, 8, 2)), layers.Conv2D(4, 4, padding="same"), layers.AveragePooling2D((2, 2)),
        layers.Conv2D(3, 3, dilation_rate=2, padding="same", activation="elu"), layers.GlobalAveragePooling2D(),
        layers.Dense(2)],
    "conv1d causal, softmax over channels, global pool": lambda: [
        layers.Input((12, 3)), layers.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="swish"),
        layers.MaxPooling1D(3, strides=2, padding="same"), layers.Conv1D(5, 3, strides=2, padding="same"),
        layers.AveragePooling1D(2), layers.Softmax(axis=-1), layers.GlobalAveragePooling1D(), layers.Dense(2)],
    "reshape to one channel": lambda: [
        layers.Input((16,)), layers.Reshape((4, 4, 1)), layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(3)],
}


def conv_model(case, seed=0):
    model = gn.Sequential(CONV_CASES[case](), seed=seed)
    model.build()
    return randomized(model, seed)


def channels_first(x):
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if x.ndim > 2 else x


@pytest.mark.parametrize("case", CONV_CASES)
def test_torch_convolutions_channels_first_predict_the_same_and_come_back(torch, case):
    model = conv_model(case)
    x = data(model.input_shape)
    net = interop.to_torch(model)
    np.testing.assert_allclose(torch_predict(torch, net, channels_first(x)), model.predict(x), **F32)
    shape = model.input_shape
    back = interop.from_torch(net, input_shape=(shape[-1], *shape[:-1]) if len(shape) > 1 else shape)
    same_model(back, model, x)


def test_a_convolutional_network_made_in_torch_predicts_the_same_in_glassnet(torch):
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.AvgPool2d(1), nn.Flatten(), nn.Linear(8 * 3 * 3, 5)).eval()
    with torch.no_grad():
        net[4].running_mean.normal_()
        net[4].running_var.uniform_(0.5, 2)
    model = interop.from_torch(net, input_shape=(3, 10, 10))
    assert model.input_shape == (10, 10, 3)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "BatchNormalization", "ReLU", "AveragePooling2D", "Flatten", "Dense"]
    assert model.layers[0].padding == "same" and model.layers[2].padding == "same"
    x = data((3, 10, 10))
    np.testing.assert_allclose(model.predict(np.moveaxis(x, 1, -1)), torch_predict(torch, net, x), **F32)
    kept = gn.Sequential([layers.Input((6, 2)), layers.Conv1D(3, 2), layers.GlobalAveragePooling1D(keepdims=True),
                          layers.Flatten(), layers.Dense(2)], seed=0)
    back = interop.from_torch(interop.to_torch(kept), input_shape=(2, 6))  # AdaptiveAvgPool1d + Flatten
    assert [type(layer).__name__ for layer in back.layers] == ["Conv1D", "GlobalAveragePooling1D", "Dense"]
    x1 = data((6, 2))
    np.testing.assert_allclose(back.predict(x1), kept.predict(x1), **F32)
    with pytest.raises(ConfigurationError, match=r"module '0' \(torch.nn.Conv2d\).*padding"):
        interop.from_torch(nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1)), input_shape=(3, 8, 8))
    with pytest.raises(ConfigurationError, match="ceil_mode"):
        interop.from_torch(nn.Sequential(nn.MaxPool2d(2, ceil_mode=True)), input_shape=(3, 8, 8))


def three_way_steps():
    """Iris-like data: 64 examples of 4 features, 3 classes, and 5 batches of 16."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
    return x, y, [rng.permutation(64)[:16] for _ in range(5)]


def three_way_model():
    model = gn.Sequential([layers.Input((4,)), layers.Dense(16, activation="relu"),
                           layers.Dense(3, activation="softmax")], seed=0)
    model.build()
    return model


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_glassnet_and_pytorch_train_to_the_same_weights(torch, optimizer):
    """5 steps of SGD with momentum 0.9 (0.1) or Adam (0.01, epsilon 1e-7) on the same batches."""
    x, y, steps = three_way_steps()
    model = three_way_model()
    net = interop.to_torch(model).train()
    if optimizer == "sgd":
        model.compile(gn.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy")
        torch_optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    else:
        model.compile(gn.optimizers.Adam(0.01, epsilon=1e-7), "sparse_categorical_crossentropy")
        torch_optimizer = torch.optim.Adam(net.parameters(), lr=0.01, eps=1e-7)
    for rows in steps:
        loss = model.fit(x[rows], y[rows], batch_size=None, shuffle=False, verbose=0).history["loss"][0]
        torch_optimizer.zero_grad()
        torch_loss = torch.nn.functional.cross_entropy(net[:-1](torch.from_numpy(x[rows])), torch.from_numpy(y[rows]))
        torch_loss.backward()
        torch_optimizer.step()
        assert abs(loss - torch_loss.item()) < 1e-6
    for a, b in zip(model.get_weights(), interop.from_torch(net).get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Keras
# ---------------------------------------------------------------------------------------------
def keras_predict(keras, model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.mark.parametrize("case", [c for c in LAYER_CASES if c not in NOT_IN_KERAS])
def test_keras_predicts_what_glassnet_does_for_each_layer(keras, case):
    model = stack(*LAYER_CASES[case]())
    x = data()
    keras_model = interop.to_keras(model)
    np.testing.assert_allclose(keras_predict(keras, keras_model, x), model.predict(x), **F32)
    back = interop.from_keras(keras_model)
    same_weights(back, model)
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
    if case not in RENAMED_BY_KERAS:
        assert layer_configs(back) == layer_configs(model)


@pytest.mark.parametrize("case", CONV_CASES)
def test_keras_convolutions_predict_the_same_and_come_back(keras, case):
    model = conv_model(case)
    x = data(model.input_shape)
    keras_model = interop.to_keras(model)
    np.testing.assert_allclose(keras_predict(keras, keras_model, x), model.predict(x), **F32)
    back = interop.from_keras(keras_model)
    same_model(back, model, x)


def test_keras_names_its_own_forms_of_glassnet_activations(keras):
    model = stack(layers.SELU(), layers.Dense(6, activation=layers.LeakyReLU(0.1)))
    keras_model = interop.to_keras(model)
    assert [(type(layer).__name__, layer.name) for layer in keras_model.layers] == [
        ("Dense", "dense"), ("Activation", "selu"), ("Dense", "dense_1"), ("LeakyReLU", "dense_1_activation"),
        ("Dense", "dense_2")]
    back = interop.from_keras(keras_model)
    assert type(back.layers[1]) is layers.Activation and type(back.layers[1].activation) is layers.SELU
    assert back.layers[3].negative_slope == pytest.approx(0.1)


def test_keras_round_trip_of_a_whole_network_is_exact(keras):
    model = stack(layers.Dense(8, activation="relu", kernel_regularizer=gn.regularizers.L1L2(1e-4, 1e-3),
                               kernel_initializer="he_normal"),
                  layers.BatchNormalization(momentum=0.9), layers.Dropout(0.2), layers.LayerNormalization(),
                  layers.Dense(6, activation="softmax"))
    x = data()
    keras_model = interop.to_keras(model)
    assert isinstance(keras_model, keras.Sequential)
    np.testing.assert_allclose(keras_predict(keras, keras_model, x), model.predict(x), **F32)
    back = interop.from_keras(keras_model, seed=5)
    assert back.seed == 5 and back.name == model.name
    same_model(back, model, x)


def test_keras_embedding_network_round_trip(keras):
    model = ids_model()
    x = ids()
    keras_model = interop.to_keras(model)
    np.testing.assert_allclose(keras_predict(keras, keras_model, x), model.predict(x), **F32)
    back = interop.from_keras(keras_model)
    same_model(back, model, x)


def test_to_keras_copies_the_weights(keras):
    """Keras on JAX may keep the NumPy buffer it is given; glassnet's training writes its weights
    in place, which must not reach the Keras model."""
    x, y, steps = three_way_steps()
    model = three_way_model()
    keras_model = interop.to_keras(model)
    before = [w.copy() for w in interop.from_keras(keras_model).get_weights()]
    model.compile(gn.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(before, interop.from_keras(keras_model).get_weights()):
        np.testing.assert_array_equal(a, b)


def graph_model(seed=0):
    """Two inputs (4 numbers, 3 ids), an Embedding, a shared Dense, a residual Add, a Concatenate,
    a LayerNormalization and a softmax; weights at random."""
    numbers = gn.Input((4,), name="numbers")
    words = gn.Input((3,), dtype="int32", name="words")
    shared = layers.Dense(4, activation="tanh", name="shared")
    h = shared(numbers)
    residual = layers.Add(name="residual")([numbers, layers.Dense(4, name="inner")(h)])
    again = shared(residual)
    embedded = layers.Flatten(name="flat")(layers.Embedding(10, 2, name="embed")(words))
    joined = layers.Concatenate(name="joined")([again, embedded, layers.Multiply(name="gate")([h, again])])
    normed = layers.LayerNormalization(name="norm")(joined)
    model = gn.Model([numbers, words], [layers.Dense(3, activation="softmax", name="out")(normed),
                                        layers.Dense(1, name="value")(residual)], seed=seed)
    return randomized(model, seed)


def test_a_keras_functional_model_with_a_residual_and_two_inputs_both_ways(keras):
    model = graph_model()
    rng = np.random.default_rng(1)
    x = [rng.normal(size=(7, 4)).astype(np.float32), rng.integers(0, 10, (7, 3)).astype(np.int32)]
    keras_model = interop.to_keras(model)
    assert isinstance(keras_model, keras.Model) and not isinstance(keras_model, keras.Sequential)
    for ours, theirs in zip(model.predict(x), keras_model(x, training=False)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(theirs), ours, **F32)
    back = interop.from_keras(keras_model)
    assert isinstance(back, gn.Model)
    config, original = back.get_config(), model.get_config()
    for key in ("layers", "nodes", "outputs", "inputs", "output_names"):
        assert config[key] == original[key], key
    same_weights(back, model)
    for a, b in zip(back.predict(x), model.predict(x)):
        np.testing.assert_array_equal(a, b)


def test_a_functional_model_written_in_keras_predicts_the_same_in_glassnet(keras):
    kl = keras.layers
    keras.utils.set_random_seed(0)
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    h = kl.Dense(5, activation="relu")(a)
    s = kl.Subtract()([kl.Add()([h, b]), kl.Average()([a, b])])
    m = kl.Maximum()([kl.Minimum()([s, a]), kl.ReLU(negative_slope=0.1)(b)])
    m = kl.BatchNormalization()(m)
    out = kl.Dense(2, activation="sigmoid", kernel_regularizer=keras.regularizers.L2(0.01))(kl.ELU(0.5)(m))
    keras_model = keras.Model([a, b], out)
    bn = keras_model.layers[-3]
    bn.moving_mean.assign(np.linspace(-1, 1, 5).astype(np.float32))
    bn.moving_variance.assign(np.linspace(0.5, 2, 5).astype(np.float32))
    model = interop.from_keras(keras_model)
    assert [layer.name for layer in model.layers] == [layer.name for layer in keras_model.layers
                                                      if not isinstance(layer, kl.InputLayer)]
    assert model.input_names == ["a", "b"]
    assert model.layers[-1].kernel_regularizer.l2 == pytest.approx(0.01)
    rng = np.random.default_rng(2)
    x = [rng.normal(size=(6, 5)).astype(np.float32) for _ in range(2)]
    np.testing.assert_allclose(model.predict(x), keras_predict(keras, keras_model, x), **F32)


def keras_refusals(keras):
    kl = keras.layers

    def sequential(*middle, shape=(4,)):
        return keras.Sequential([keras.Input(shape), *middle])

    def functional_with(call):
        inputs = keras.Input((4,))
        return keras.Model(inputs, call(inputs))

    inner = keras.Sequential([keras.Input((4,)), kl.Dense(4)], name="inner")

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    return [
        (sequential(kl.Conv3D(2, 2), shape=(4, 4, 4, 1)), r"layer 'conv3d\w*' \(keras.layers.Conv3D\).*no counterpart"),
        (sequential(kl.Conv2D(2, 2, data_format="channels_first"), shape=(1, 4, 4)), "channels_first"),
        (sequential(kl.Dense(4, kernel_constraint=keras.constraints.NonNeg())), "kernel_constraint"),
        (sequential(kl.Dense(4, activity_regularizer="l2")), "activity_regularizer"),
        (sequential(kl.Dense(4, activation="hard_sigmoid")), "hard_sigmoid"),
        (sequential(kl.Embedding(10, 2, mask_zero=True), shape=(3,)), "mask_zero"),
        (sequential(kl.BatchNormalization(axis=1), shape=(3, 4)), "axis=1"),
        (sequential(kl.Dropout(0.5, noise_shape=(None, 1))), "noise_shape"),
        (sequential(kl.ReLU(max_value=6.0)), "max_value"),
        (sequential(kl.PReLU()), r"\(keras.layers.PReLU\)"),
        (sequential(kl.Dense(4), shape=(3, 4)), "put a Flatten before it"),
        (sequential(kl.Dense(4, kernel_regularizer=keras.regularizers.OrthogonalRegularizer())), "Orthogonal"),
        (functional_with(lambda x: kl.Dropout(0.5)(x, training=True)), "training=True"),
        (functional_with(lambda x: inner(x)), "model used as a layer"),
        (functional_with(lambda x: keras.ops.add(x, x)), r"operation 'add"),
        (Subclassed(), "subclassed"),
        (keras.Sequential([kl.Dense(4)]), "no input shape yet"),
    ]


def test_from_keras_refuses_what_glassnet_lacks_by_name(keras):
    for model, message in keras_refusals(keras):
        with pytest.raises(ConfigurationError, match=message):
            interop.from_keras(model)


def test_to_keras_refuses_what_keras_lacks_by_name(keras):
    with pytest.raises(ConfigurationError, match=r"layer 1 \('gelu', GELU\).*approximate=True"):
        interop.to_keras(stack(layers.GELU(approximate=True)))
    if keras.backend.backend() == "jax":
        import jax
        if not jax.config.read("jax_enable_x64"):
            with pytest.raises(ConfigurationError, match="float64"):
                interop.to_keras(stack(dtype="float64"))
    with pytest.raises(NotBuiltError):
        interop.to_keras(gn.Sequential([layers.Dense(3)]))
    with pytest.raises(ConfigurationError, match=r"layer 0 \('conv2d', Conv2D\): Keras refuses it.*dilation"):
        interop.to_keras(gn.Sequential([layers.Input((9, 9, 2)), layers.Conv2D(2, 3, strides=2, dilation_rate=2)]))


def test_the_three_frameworks_train_to_the_same_weights_but_for_keras_adam_epsilon(torch, keras):
    """5 steps on the same batches from the same weights: SGD with momentum agrees in all three
    (1e-6); Adam with epsilon 1e-7 agrees with PyTorch but not with Keras, which adds epsilon
    to the root of the uncorrected second moment (a difference above 1e-5); with epsilon 1e-12
    and float32 betas Keras agrees too (1e-6)."""
    x, y, steps = three_way_steps()
    float32_betas = dict(beta_1=float(np.float32(0.9)), beta_2=float(np.float32(0.999)))
    runs = {"sgd": (lambda: gn.optimizers.SGD(0.1, momentum=0.9), lambda: keras.optimizers.SGD(0.1, momentum=0.9)),
            "adam": (lambda: gn.optimizers.Adam(0.01, epsilon=1e-7), lambda: keras.optimizers.Adam(0.01, epsilon=1e-7)),
            "adam agreeing": (lambda: gn.optimizers.Adam(0.01, epsilon=1e-12, **float32_betas),
                              lambda: keras.optimizers.Adam(0.01, epsilon=1e-12, **float32_betas))}
    gaps = {}
    for name, (ours, theirs) in runs.items():
        model = three_way_model()
        keras_model = interop.to_keras(model)
        model.compile(ours(), "sparse_categorical_crossentropy")
        keras_model.compile(optimizer=theirs(), loss="sparse_categorical_crossentropy")
        for rows in steps:
            loss = model.fit(x[rows], y[rows], batch_size=None, shuffle=False, verbose=0).history["loss"][0]
            keras_loss = float(keras_model.train_on_batch(x[rows], y[rows]))
            if name != "adam":
                assert abs(loss - keras_loss) < 1e-6
        theirs = interop.from_keras(keras_model).get_weights()
        gaps[name] = max(float(np.abs(a - b).max()) for a, b in zip(model.get_weights(), theirs))
    assert gaps["sgd"] < 1e-6 and gaps["adam agreeing"] < 1e-6
    assert gaps["adam"] > 1e-5
