"""One contract every layer keeps: it builds, gives the right output shape and dtype, its backward
returns gradients of the right shapes and passes the gradient check, inference is deterministic,
a batch equals its rows one at a time, and its config makes the same layer again."""
import inspect

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers

# Every public layer, with the input shape (no batch axis) it is tested on.
CASES = {
    "Dense": (lambda: layers.Dense(5), (4,)),
    "Dense_relu_l2": (lambda: layers.Dense(3, activation="relu", kernel_regularizer=gn.regularizers.L2(0.01),
                                           kernel_initializer="he_normal"), (6,)),
    "Dense_no_bias": (lambda: layers.Dense(3, use_bias=False, activation="tanh"), (4,)),
    "Dropout": (lambda: layers.Dropout(0.3), (7,)),
    "Flatten": (lambda: layers.Flatten(), (2, 3, 2)),
    "Reshape": (lambda: layers.Reshape((3, -1)), (2, 3, 2)),
    "Activation_tanh": (lambda: layers.Activation("tanh"), (5,)),
    "Activation_relu": (lambda: layers.Activation("relu"), (5,)),
    "Linear": (lambda: layers.Linear(), (5,)),
    "ReLU": (lambda: layers.ReLU(), (5,)),
    "LeakyReLU": (lambda: layers.LeakyReLU(0.1), (5,)),
    "ELU": (lambda: layers.ELU(0.7), (5,)),
    "SELU": (lambda: layers.SELU(), (5,)),
    "GELU": (lambda: layers.GELU(), (5,)),
    "GELU_tanh": (lambda: layers.GELU(approximate=True), (5,)),
    "Sigmoid": (lambda: layers.Sigmoid(), (5,)),
    "Tanh": (lambda: layers.Tanh(), (5,)),
    "Softmax": (lambda: layers.Softmax(), (5,)),
    "Softplus": (lambda: layers.Softplus(), (5,)),
    "Swish": (lambda: layers.Swish(), (5,)),
    "Embedding": (lambda: layers.Embedding(7, 3), (4,)),
    "Embedding_2d_l2": (lambda: layers.Embedding(5, 2, embeddings_initializer="glorot_uniform",
                                                 embeddings_regularizer=gn.regularizers.L2(0.01)), (2, 3)),
    "BatchNormalization": (lambda: layers.BatchNormalization(), (5,)),
    "BatchNormalization_3d_no_beta": (lambda: layers.BatchNormalization(momentum=0.9, center=False), (2, 3)),
    "LayerNormalization": (lambda: layers.LayerNormalization(), (5,)),
    "LayerNormalization_3d_no_gamma": (lambda: layers.LayerNormalization(scale=False), (2, 3)),
    "Conv2D": (lambda: layers.Conv2D(3, 2), (4, 5, 2)),
    "Conv2D_same_strided_tanh_l2": (lambda: layers.Conv2D(4, (3, 2), strides=(2, 1), padding="same", activation="tanh",
                                                          kernel_regularizer=gn.regularizers.L2(0.01)), (5, 4, 2)),
    "Conv2D_groups_dilated_no_bias": (lambda: layers.Conv2D(4, 2, dilation_rate=2, groups=2, use_bias=False),
                                      (5, 5, 4)),
    "Conv1D": (lambda: layers.Conv1D(3, 3, padding="causal", activation="tanh"), (6, 2)),
    "MaxPooling2D": (lambda: layers.MaxPooling2D(), (4, 5, 3)),
    "MaxPooling2D_same_overlapping": (lambda: layers.MaxPooling2D(3, strides=2, padding="same"), (5, 4, 2)),
    "AveragePooling2D": (lambda: layers.AveragePooling2D((2, 3), padding="same"), (5, 4, 2)),
    "MaxPooling1D": (lambda: layers.MaxPooling1D(), (5, 3)),
    "AveragePooling1D": (lambda: layers.AveragePooling1D(3, strides=1, padding="same"), (5, 3)),
    "GlobalAveragePooling2D": (lambda: layers.GlobalAveragePooling2D(), (3, 4, 2)),
    "GlobalAveragePooling1D_keepdims": (lambda: layers.GlobalAveragePooling1D(keepdims=True), (4, 3)),
}


def make(case, dtype=np.float64, seed=0):
    factory, shape = CASES[case]
    layer = factory()
    layer.ensure_built(shape, np.random.default_rng(seed), dtype)
    return layer, shape


def inputs(shape, n=6, dtype=np.float64, seed=1, ids=None):
    """Random inputs kept away from 0, where ReLU-like functions have a kink; for a layer that
    takes ids (``ids``: its ``id_count``), integer ids with repeats."""
    if ids is not None:
        return np.random.default_rng(seed).integers(0, ids, (n,) + shape)
    x = np.random.default_rng(seed).standard_normal((n,) + shape)
    x = np.where(np.abs(x) < 0.05, 0.3, x)
    return x.astype(dtype)


def test_every_public_layer_is_in_the_contract_suite():
    """Merge layers take a list of inputs: tests/test_merge.py holds their suite."""
    public = {name for name in layers.__all__
              if inspect.isclass(getattr(layers, name)) and issubclass(getattr(layers, name), layers.Layer)
              and getattr(layers, name) is not layers.Layer and not issubclass(getattr(layers, name), layers.Merge)}
    covered = {type(CASES[case][0]()).__name__ for case in CASES}
    assert public - {"SiLU"} <= covered, f"layers without a contract test: {public - covered}"


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_shape_and_dtype(case, dtype):
    layer, shape = make(case, dtype)
    x = inputs(shape, dtype=dtype, ids=layer.id_count)
    for training in (False, True):
        y, backward = layer.forward(x, training)
        assert y.shape == (len(x),) + tuple(layer.compute_output_shape(shape))
        assert y.dtype == dtype
        dx = backward(np.ones_like(y))
        if layer.id_count is None:
            assert dx.shape == x.shape and dx.dtype == dtype
        else:
            assert dx is None  # ids have no gradient
    for p in layer.parameters():
        assert p.grad.shape == p.value.shape and p.value.dtype == dtype


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradcheck(case):
    layer, shape = make(case)
    report = gn.gradcheck(layer, inputs(shape, ids=layer.id_count), training=True)
    assert report.passed, str(report)
    differentiable = {"input"} if layer.id_count is None else set()
    assert set(report.errors) == {p.name for p in layer.parameters()} | differentiable


@pytest.mark.parametrize("case", sorted(CASES))
def test_inference_is_deterministic_and_batch_equals_rows(case):
    layer, shape = make(case)
    x = inputs(shape, ids=layer.id_count)
    first = layer.forward(x, training=False)[0]
    np.testing.assert_array_equal(first, layer.forward(x, training=False)[0])
    rows = np.concatenate([layer.forward(x[i:i + 1], training=False)[0] for i in range(len(x))])
    np.testing.assert_allclose(first, rows, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_and_backward_leave_their_inputs_untouched(case):
    """A layer may compute in place only into arrays it made itself (Dense's activation writes
    over Dense's own z), never over the input it was given: that may be the user's data."""
    layer, shape = make(case)
    x = inputs(shape, ids=layer.id_count)
    for training in (False, True):
        before = x.copy()
        y, backward = layer.forward(x, training)
        dy = np.ones_like(y)
        backward(dy)
        np.testing.assert_array_equal(x, before)
        np.testing.assert_array_equal(dy, np.ones_like(y))


@pytest.mark.parametrize("case", sorted(CASES))
def test_config_round_trip(case):
    layer, shape = make(case)
    spec = layers.serialize(layer)
    clone = layers.deserialize(spec)
    assert type(clone) is type(layer)
    assert layers.serialize(clone)["config"] == spec["config"]
    clone.ensure_built(shape, np.random.default_rng(0), np.float64)
    for mine, theirs in zip(layer.parameters(), clone.parameters()):
        theirs.value[...] = mine.value
    x = inputs(shape, ids=layer.id_count)
    np.testing.assert_array_equal(layer.forward(x)[0], clone.forward(x)[0])


@pytest.mark.parametrize("case", sorted(CASES))
def test_parameter_shapes_are_the_shapes_build_creates(case):
    """What a model file's tensors are checked against before anything is allocated."""
    layer, shape = make(case)
    built = {p.name.split(".", 1)[1]: p.shape for p in layer.parameters()}
    assert layer.parameter_shapes(shape) == built


def test_an_activation_shared_by_a_dense_and_a_standalone_layer_leaves_the_input_untouched():
    """In-place computation is an argument of Dense's call, not a flag on the activation object:
    the same ReLU object inside a Dense and as a standalone layer must not overwrite the data."""
    relu = layers.ReLU()
    model = gn.Sequential([relu, layers.Dense(3, activation=relu)], seed=0)
    x = inputs((4,), dtype=np.float32)
    before = x.copy()
    y = model.predict(x, verbose=0)
    np.testing.assert_array_equal(x, before)
    dense = model.layers[1]
    expected = np.maximum(np.maximum(before, 0) @ dense.weight.value + dense.bias.value, 0)
    np.testing.assert_allclose(y, expected, rtol=1e-6)
