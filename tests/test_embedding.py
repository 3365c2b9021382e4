"""Embedding: the float64 gradient check (repeated ids summed), the scatter-add kernel against
``np.add.at``, PyTorch parity (forward, gradient, Adam steps that move rows absent from a batch),
ids refused with a message naming them and the range, ids kept exact as integers, save/load and
exact resume, freezing, summary counts and ONNX export."""
import numpy as np
import pytest

import glassnet as gn
from glassnet import checks, layer_kernels, layers
from glassnet.errors import ConfigurationError, DataError

F32 = dict(rtol=1e-5, atol=1e-6)


def built(input_dim=10, output_dim=3, dtype=np.float64, seed=0, **kwargs):
    layer = layers.Embedding(input_dim, output_dim, **kwargs)
    layer.ensure_built((4,), np.random.default_rng(seed), dtype)
    return layer


def id_model(input_dim=20, output_dim=3, n=3, seed=0, dtype="float32", optimizer=None, **kwargs):
    """ids (batch, n) -> Embedding -> Flatten -> Dense(2), compiled with mse."""
    model = gn.Sequential([layers.Input((n,)), layers.Embedding(input_dim, output_dim, **kwargs),
                           layers.Flatten(), layers.Dense(2)], seed=seed, dtype=dtype)
    model.compile(optimizer=optimizer or gn.optimizers.Adam(0.01), loss="mse")
    return model


def data(input_dim=20, n=3, rows=64, seed=1):
    rng = np.random.default_rng(seed)
    return rng.integers(0, input_dim, (rows, n)), rng.standard_normal((rows, 2)).astype(np.float32)


# -- forward and gradient ------------------------------------------------------------------------
def test_forward_picks_rows_and_the_gradient_sums_repeated_ids():
    layer = built()
    ids = np.array([[1, 4, 1, 1], [4, 0, 9, 1]])
    y, backward = layer.forward(ids)
    np.testing.assert_array_equal(y, layer.weight.value[ids])
    dy = np.random.default_rng(2).standard_normal(y.shape)
    assert backward(dy) is None
    expected = np.zeros_like(layer.weight.value)
    for (b, k), i in np.ndenumerate(ids):
        expected[i] += dy[b, k]
    np.testing.assert_allclose(layer.weight.grad, expected, rtol=1e-15)
    assert not layer.weight.grad[[2, 3, 5, 6, 7, 8]].any()  # rows no id picked


def test_gradcheck_with_repeated_ids():
    layer = built()
    report = gn.gradcheck(layer, np.array([[3, 3, 7, 3], [7, 0, 3, 9]]))
    assert report.passed and set(report.errors) == {"embedding.weight"}, str(report)


def test_gradcheck_of_a_model_with_an_l2_penalty_on_the_embeddings():
    model = id_model(dtype="float64", embeddings_regularizer=gn.regularizers.L2(0.01))
    x, y = data(rows=8)
    x[:, 0] = x[0, 0]  # the same id in every row
    assert gn.gradcheck(model, x, y).passed


def test_a_later_batch_stores_its_own_gradient_not_a_sum():
    layer = built()
    layer.forward(np.array([[1, 2, 3, 4]]))[1](np.ones((1, 4, 3)))
    layer.forward(np.array([[5, 5, 6, 7]]))[1](np.ones((1, 4, 3)))
    assert not layer.weight.grad[:5].any() and (layer.weight.grad[5] == 2).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_kernel_matches_its_numpy_reference(dtype):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, 300)  # many repeats
    dy = rng.standard_normal((300, 7)).astype(dtype)
    grad, expected = np.full((50, 7), 9, dtype), np.full((50, 7), 9, dtype)
    assert layer_kernels.embedding_gradient(grad=grad, ids=ids, dy=dy) == -1
    layer_kernels.embedding_gradient_reference(grad=expected, ids=ids, dy=dy)
    np.testing.assert_allclose(grad, expected, rtol=1e-5 if dtype == np.float32 else 1e-13, atol=1e-6)


def test_the_kernel_returns_the_first_id_outside_the_matrix():
    grad = np.zeros((5, 2))
    assert layer_kernels.embedding_gradient(grad=grad, ids=np.array([1, 5, -1]), dy=np.ones((3, 2))) == 1
    with pytest.raises(gn.errors.ShapeError):
        layer_kernels.embedding_gradient(grad=grad, ids=np.array([1, 2]), dy=np.ones((3, 2)))


# -- ids -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, shown", [(-1, "-1"), (20, "20"), (2.5, "2.5"), (np.nan, "nan"), (np.inf, "inf")])
def test_ids_outside_the_range_are_refused_naming_the_id_and_the_range(bad, shown):
    model = id_model()
    x, y = data()
    x = x.astype(type(bad))  # integer ids as integers, the rest as floats
    x[5, 2] = bad
    message = f"x has {shown} at index (5, 2), which is not an id: ids are integers from 0 to 19 (input_dim=20)"
    for call in (lambda: model.fit(x, y, verbose=0), lambda: model.predict(x), lambda: model.evaluate(x, y)):
        with pytest.raises(DataError) as error:
            call()
        assert str(error.value) == message


def test_the_layer_itself_refuses_bad_ids():
    layer = built()
    with pytest.raises(DataError, match=r"the input of layer 'embedding' \(Embedding\) has 10 at index \(0, 1\)"):
        layer.forward(np.array([[0, 10, 1, 1]]))
    with pytest.raises(DataError, match="has -3 at index"):
        layer(np.array([[0, 1, -3, 1]]))


def test_ids_stay_integers_so_ids_beyond_2_to_the_24_are_exact():
    """float32 rounds 2**24 + 1 to 2**24: a model of float32 weights keeps its ids as integers."""
    x = np.array([[2**24 + 1, 3]])
    ids = checks.model_inputs(x, np.float32, (2,), id_count=2**25)
    assert ids.dtype == np.intp and ids[0, 0] == 2**24 + 1
    model = id_model()
    assert model.prepare_inputs(data()[0]).dtype == np.intp


@pytest.mark.parametrize("argument", [0, -3, 2.5, "10", None])
def test_dimensions_must_be_positive_integers(argument):
    with pytest.raises(ConfigurationError, match="Embedding input_dim must be a positive integer"):
        layers.Embedding(argument, 4)
    with pytest.raises(ConfigurationError, match="Embedding output_dim must be a positive integer"):
        layers.Embedding(4, argument)


def test_keras_defaults():
    layer = built(1000, 8, dtype=np.float32)
    config = layer.get_config()
    assert config["embeddings_initializer"] == "uniform" and config["embeddings_regularizer"] is None
    assert np.abs(layer.weight.value).max() <= 0.05 and layer.weight.value.std() > 0.025
    assert layer.compute_output_shape((4,)) == (4, 8) and layer.compute_output_shape((2, 3)) == (2, 3, 8)


# -- training, files, freezing -------------------------------------------------------------------
def test_save_load_round_trip_and_exact_resume(tmp_path):
    x, y = data()
    once = id_model()
    once.fit(x, y, epochs=4, batch_size=16, verbose=0)

    model = id_model()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "half.safetensors", include_optimizer=True)
    resumed = gn.load(tmp_path / "half.safetensors")
    np.testing.assert_array_equal(resumed.predict(x), model.predict(x))
    assert resumed.get_config() == model.get_config()
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    for a, b in zip(resumed.get_weights(), once.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_frozen_embedding_keeps_its_weights_and_the_rest_trains():
    x, y = data()
    model = id_model()
    model.layers[0].trainable = False
    before = model.get_weights()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    after = model.get_weights()
    np.testing.assert_array_equal(after[0], before[0])
    assert not np.array_equal(after[1], before[1])


def test_summary_counts_the_embedding_as_trainable_or_not():
    model = id_model(input_dim=20, output_dim=3)  # 60 + Dense(9 -> 2): 20
    lines = []
    model.summary(print_fn=lines.append)
    assert "Total params: 80 (320 B)" in lines and "Trainable params: 80 (320 B)" in lines
    model.layers[0].trainable = False
    lines = []
    model.summary(print_fn=lines.append)
    assert "Trainable params: 20 (80 B)" in lines and "Non-trainable params: 60 (240 B)" in lines


# -- PyTorch parity ------------------------------------------------------------------------------
def test_forward_gradient_and_adam_steps_match_torch_embedding_with_dense_adam():
    """Each step's batch leaves some rows out: PyTorch's dense Adam still moves them through the
    moments, and so does glassnet's."""
    torch = pytest.importorskip("torch")
    input_dim, output_dim = 12, 4
    model = gn.Sequential([layers.Input((3,)), layers.Embedding(input_dim, output_dim), layers.Flatten()], seed=0)
    model.compile(optimizer=gn.optimizers.Adam(0.01, epsilon=1e-8), loss="mse")
    embedding = torch.nn.Embedding(input_dim, output_dim)
    with torch.no_grad():
        embedding.weight.copy_(torch.from_numpy(model.layers[0].weight.value))
    adam = torch.optim.Adam(embedding.parameters(), lr=0.01, eps=1e-8)
    initial = model.layers[0].weight.value.copy()
    rng = np.random.default_rng(3)
    batches = [np.array([[0, 1, 1], [2, 1, 3]]), np.array([[5, 6, 6], [6, 5, 7]]), np.array([[0, 9, 9], [9, 9, 0]])]
    for step, ids in enumerate(batches):
        target = rng.standard_normal((2, 3 * output_dim)).astype(np.float32)
        adam.zero_grad()
        outputs = embedding(torch.from_numpy(ids)).reshape(2, -1)
        torch.nn.functional.mse_loss(outputs, torch.from_numpy(target)).backward()
        before = model.layers[0].weight.value.copy()
        loss, glassnet_outputs = gn.training.train_step(model, ids, target, None)
        np.testing.assert_allclose(glassnet_outputs, outputs.detach().numpy(), **F32)
        np.testing.assert_allclose(model.layers[0].weight.grad, embedding.weight.grad.numpy(), **F32)
        adam.step()
        np.testing.assert_allclose(model.layers[0].weight.value, embedding.weight.detach().numpy(), **F32)
        if step == 1:  # rows 0-3 are absent from this batch, yet their momentum moves them
            assert (model.layers[0].weight.value[:4] != before[:4]).all()
    never_picked = [4, 8, 10, 11]  # zero moments: Adam leaves them where they were
    np.testing.assert_array_equal(model.layers[0].weight.value[never_picked], initial[never_picked])


# -- ONNX ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_onnx_export_gathers_int64_ids_and_matches_predict(dtype):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from glassnet.onnx import to_proto
    model = id_model(input_dim=50, dtype=dtype)
    x, y = data(input_dim=50)
    model.fit(x, y, epochs=1, verbose=0)
    proto = to_proto(model)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert [node.op_type for node in proto.graph.node][0] == "Gather"
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for rows in (x[:1], x):
        np.testing.assert_allclose(session.run(None, {"input": rows.astype(np.int64)})[0], model.predict(rows),
                                   rtol=1e-5, atol=1e-6)


# -- ids from somewhere else than the data ---------------------------------------------------------
@pytest.mark.parametrize("make, got", [
    (lambda: gn.Input((2,), dtype="float32", name="city"), "the input 'city', declared float32"),
    (lambda: gn.Input((2,), dtype="float64"), "the input 'input', declared float64"),
    (lambda: layers.Dense(2, name="scores")(gn.Input((3,))), r"the output of layer 'scores' \(numbers it computes"),
    (lambda: layers.Flatten()(gn.Input((2,), dtype="int64")), "the output of layer 'flatten'"),
    (lambda: [gn.Input((2,), dtype="int64")] * 2, "a list of 2 tensors"),
])
def test_in_a_graph_an_embedding_is_called_on_an_integer_input(make, got):
    """Ids that a layer computed are floats (exact up to 2**24 only) with no gradient to pass
    back: refused when the call is recorded, naming the layer, what it needs and what it got; so
    is an input declared float."""
    with pytest.raises(ConfigurationError, match=r"layer 'embedding' \(Embedding\) takes integer ids, so it must be "
                                                  r"called on an integer input, gn.Input\(shape, dtype='int64'\), got "
                                                  + got):
        layers.Embedding(10, 3)(make())
    for ids in (gn.Input((2,), dtype="int32"), gn.Input((2,), dtype="int64"), gn.Input((2,))):
        assert layers.Embedding(10, 3)(ids).shape == (2, 3)  # without a dtype, the model keeps ids as ids


@pytest.mark.parametrize("before", [layers.ReLU, layers.Flatten, lambda: layers.Dense(2)])
def test_in_a_sequential_an_embedding_is_the_first_layer(before):
    with pytest.raises(ConfigurationError, match=r"layer 1 \('embedding', Embedding\) takes integer ids, so it must "
                                                  "be the first layer of a Sequential"):
        gn.Sequential([layers.Input((2,)), before(), layers.Embedding(10, 3), layers.Flatten(), layers.Dense(1)])
