"""BatchNormalization and LayerNormalization: gradient checks, the moving statistics, training vs
inference, freezing, model files and exact resume, PyTorch parity and ONNX export.

Tolerances: gradient checks in float64 at gradcheck's 1e-5 (they land near 1e-7); PyTorch parity
in float64 at rtol 1e-10 for one forward and backward and 1e-9 after several training steps;
ONNX Runtime within 1e-5 in float32 and 1e-12 in float64.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers
from tests.test_callbacks_checkpoint import Interrupt, StopAt

F64 = dict(rtol=1e-10, atol=1e-12)
NORMALIZATIONS = {
    "batch": lambda **kwargs: layers.BatchNormalization(**kwargs),
    "layer": lambda **kwargs: layers.LayerNormalization(**kwargs),
}


def built(kind, shape, dtype=np.float64, seed=0, **kwargs):
    """A built normalization layer with random gamma and beta (not the initial ones and zeros)."""
    layer = NORMALIZATIONS[kind](**kwargs)
    layer.ensure_built(shape, np.random.default_rng(seed), dtype)
    rng = np.random.default_rng(seed + 1)
    for p in (layer.gamma, layer.beta):
        if p is not None:
            p.value[...] = rng.uniform(0.5, 2.0, p.shape) * rng.choice([-1, 1], p.shape)
    return layer


def batch(shape, n=12, seed=3):
    """Inputs whose features have different means and scales."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *shape)) * rng.uniform(0.5, 3.0, shape[-1]) + rng.uniform(-2, 2, shape[-1])


def classification(n=96, features=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return rng.standard_normal((n, features)) * 2 + 1 + np.eye(features)[y] * 1.5, y


def network(dtype="float64", seed=0, momentum=0.9):
    model = gn.Sequential([layers.Input((5,)), layers.Dense(8), layers.BatchNormalization(momentum=momentum),
                           layers.Tanh(), layers.Dense(8, activation="tanh"), layers.LayerNormalization(),
                           layers.Dense(3, activation="softmax")], seed=seed, dtype=dtype)
    model.compile(gn.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    return model


# -- gradient checks ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["batch", "layer"])
@pytest.mark.parametrize("shape", [(4,), (3, 4)], ids=["2d", "3d"])
@pytest.mark.parametrize("options", [{}, {"center": False}, {"scale": False}], ids=["gamma_beta", "no_beta", "no_gamma"])
def test_gradcheck_of_gamma_beta_and_the_input_in_training(kind, shape, options):
    layer = built(kind, shape, **options)
    report = gn.gradcheck(layer, batch(shape), training=True)
    assert report.passed, str(report)
    learned = {p.name for p in layer.parameters() if p.trainable}
    assert learned | {"input"} <= set(report.errors)
    assert len(learned) == 2 - len(options)


def test_gradcheck_of_a_model_with_both_layers_through_its_loss():
    """In training, the bias of the Dense layer before a BatchNormalization has no effect (the
    batch mean takes it away again): its gradient is 0, and its central differences are rounding
    noise, which a relative error cannot judge. Every other gradient passes."""
    x, y = classification(16)
    model = network()
    report = gn.gradcheck(model, x, y, training=True)
    assert max(error for name, error in report.errors.items() if name != "dense.bias") <= 1e-5, str(report)
    assert np.abs(report.compared["dense.bias"][1]).max() < 1e-12
    assert gn.gradcheck(model, x, y, training=False).passed


# -- what the forward computes --------------------------------------------------------------------
def test_batch_normalization_training_normalizes_each_feature_and_moves_the_statistics():
    layer = built("batch", (4,), momentum=0.9)
    x = batch((4,))
    mean, variance = x.mean(axis=0), x.var(axis=0)  # biased, as Keras
    y = layer.forward(x, training=True)[0]
    gamma, beta = layer.gamma.value, layer.beta.value
    np.testing.assert_allclose(y, gamma * (x - mean) / np.sqrt(variance + 1e-3) + beta, **F64)
    np.testing.assert_allclose(y.mean(axis=0), beta, **F64)
    np.testing.assert_allclose(layer.moving_mean.value, 0.1 * mean, **F64)
    np.testing.assert_allclose(layer.moving_variance.value, 0.9 + 0.1 * variance, **F64)


def test_batch_normalization_of_images_takes_the_statistics_over_batch_height_and_width():
    layer = built("batch", (2, 3, 4))
    x = batch((2, 3, 4))
    mean, variance = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(layer.forward(x, training=True)[0],
                               layer.gamma.value * (x - mean) / np.sqrt(variance + 1e-3) + layer.beta.value, **F64)


def test_inference_uses_the_moving_statistics_and_each_example_alone():
    layer = built("batch", (4,))
    rng = np.random.default_rng(5)
    layer.moving_mean.value[...] = rng.standard_normal(4)
    layer.moving_variance.value[...] = rng.uniform(0.5, 2, 4)
    moving = [layer.moving_mean.value.copy(), layer.moving_variance.value.copy()]
    x = batch((4,))
    y = layer.forward(x, training=False)[0]
    expected = (layer.gamma.value * (x - moving[0]) / np.sqrt(moving[1] + 1e-3) + layer.beta.value)
    np.testing.assert_allclose(y, expected, **F64)
    np.testing.assert_allclose(layer.forward(x[:1], training=False)[0], y[:1], **F64)
    np.testing.assert_array_equal(layer.moving_mean.value, moving[0])  # inference leaves them
    np.testing.assert_array_equal(layer.moving_variance.value, moving[1])


def test_layer_normalization_is_the_same_in_training_and_inference():
    layer = built("layer", (3, 4))
    x = batch((3, 4))
    mean, variance = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
    expected = layer.gamma.value * (x - mean) / np.sqrt(variance + 1e-3) + layer.beta.value
    for training in (True, False):
        np.testing.assert_allclose(layer.forward(x, training)[0], expected, **F64)


def test_predict_after_fit_uses_the_moving_statistics():
    x, y = classification()
    model = network()
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    bn = model.layers[1]
    assert not np.allclose(bn.moving_mean.value, 0)
    hidden = x @ model.layers[0].weight.value + model.layers[0].bias.value
    normalized = bn.gamma.value * (hidden - bn.moving_mean.value) / np.sqrt(bn.moving_variance.value + 1e-3) + bn.beta.value
    np.testing.assert_allclose(model.layers[1].forward(hidden)[0], normalized, **F64)
    np.testing.assert_allclose(model.predict(x[:1], verbose=0), model.predict(x, verbose=0)[:1], **F64)


# -- frozen, counted, saved -----------------------------------------------------------------------
def test_a_frozen_batch_normalization_runs_in_inference_mode_and_keeps_everything():
    """Keras's rule: ``trainable = False`` makes BatchNormalization use and keep its moving
    statistics, in training too; the layers around it still train."""
    x, y = classification()
    model = network()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    bn = model.layers[1]
    bn.trainable = False
    before = [p.value.copy() for p in bn.parameters()]
    dense = model.layers[0].weight.value.copy()
    hidden = x[:8] @ model.layers[0].weight.value + model.layers[0].bias.value
    np.testing.assert_array_equal(bn.forward(hidden, training=True)[0], bn.forward(hidden, training=False)[0])
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for p, value in zip(bn.parameters(), before):
        np.testing.assert_array_equal(p.value, value)
    assert not np.array_equal(model.layers[0].weight.value, dense)
    assert gn.gradcheck(model, x[:16], y[:16]).passed  # the inference backward


def test_summary_counts_the_moving_statistics_as_non_trainable():
    lines = []
    network().summary(print_fn=lines.append)
    # Dense 48 + BN 4 * 8 + Dense 72 + LN 2 * 8 + Dense 27; the moving mean and variance: 16
    assert lines[-4:-1] == ["Total params: 195 (1.52 KB)", "Trainable params: 179 (1.40 KB)",
                            "Non-trainable params: 16 (128 B)"]


def test_the_moving_statistics_are_saved_and_loaded(tmp_path):
    x, y = classification()
    model = network()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "bn.safetensors")
    loaded = gn.load(tmp_path / "bn.safetensors")
    for name, layer in (("moving_mean", loaded.layers[1]), ("moving_variance", loaded.layers[1])):
        np.testing.assert_array_equal(getattr(layer, name).value, getattr(model.layers[1], name).value)
        assert not getattr(layer, name).trainable
    assert loaded.layers[1].get_config() == model.layers[1].get_config()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_an_interrupted_run_resumes_exactly_moving_statistics_included(tmp_path):
    x, y = classification()
    fit = dict(epochs=4, batch_size=16, validation_split=0.25, verbose=0)
    straight = network(dtype="float32")
    straight.fit(x, y, **fit)
    with pytest.raises(Interrupt):
        network(dtype="float32").fit(x, y, callbacks=[gn.callbacks.BackupAndRestore(tmp_path, save_freq=2),
                                                      StopAt(2, 1)], **fit)
    resumed = network(dtype="float32")
    resumed.fit(x, y, callbacks=[gn.callbacks.BackupAndRestore(tmp_path, save_freq=2)], **fit)
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# -- arguments ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["batch", "layer"])
@pytest.mark.parametrize("arguments, message", [
    ({"axis": 1}, "normalizes the last axis \\(the features\\): axis must be -1, got 1"),
    ({"epsilon": 0}, "epsilon must be a finite number > 0, got 0"),
    ({"center": "yes"}, "center must be True or False"),
])
def test_bad_arguments_are_refused(kind, arguments, message):
    with pytest.raises(gn.ConfigurationError, match=message):
        NORMALIZATIONS[kind](**arguments)


def test_momentum_is_between_0_and_1():
    with pytest.raises(gn.ConfigurationError, match="momentum must be in \\[0, 1\\], got 1.5"):
        layers.BatchNormalization(momentum=1.5)


# -- PyTorch parity -------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4,), (3, 4)], ids=["2d", "3d"])
def test_batch_normalization_forward_and_gradients_match_torch(shape):
    """``F.batch_norm`` in training mode; torch puts the features on axis 1, glassnet last."""
    torch = pytest.importorskip("torch")
    layer = built("batch", shape)
    x, dy = batch(shape), np.random.default_rng(9).standard_normal((12, *shape))
    y, backward = layer.forward(x, training=True)
    dx = backward(dy)

    channels_first = (0, len(shape), *range(1, len(shape)))
    x_t = torch.tensor(x.transpose(channels_first), requires_grad=True)
    gamma_t = torch.tensor(layer.gamma.value, requires_grad=True)
    beta_t = torch.tensor(layer.beta.value, requires_grad=True)
    y_t = torch.nn.functional.batch_norm(x_t, None, None, gamma_t, beta_t, training=True, eps=1e-3)
    y_t.backward(torch.from_numpy(dy.transpose(channels_first).copy()))
    back = np.argsort(channels_first)
    np.testing.assert_allclose(y, y_t.detach().numpy().transpose(back), **F64)
    np.testing.assert_allclose(dx, x_t.grad.numpy().transpose(back), **F64)
    np.testing.assert_allclose(layer.gamma.grad, gamma_t.grad.numpy(), **F64)
    np.testing.assert_allclose(layer.beta.grad, beta_t.grad.numpy(), **F64)


def test_layer_normalization_forward_and_gradients_match_torch():
    torch = pytest.importorskip("torch")
    layer = built("layer", (3, 4))
    x, dy = batch((3, 4)), np.random.default_rng(9).standard_normal((12, 3, 4))
    y, backward = layer.forward(x, training=True)
    dx = backward(dy)
    x_t, gamma_t, beta_t = (torch.tensor(a, requires_grad=True) for a in (x, layer.gamma.value, layer.beta.value))
    y_t = torch.nn.functional.layer_norm(x_t, (4,), gamma_t, beta_t, eps=1e-3)
    y_t.backward(torch.from_numpy(dy))
    for mine, theirs in ((y, y_t), (dx, x_t.grad), (layer.gamma.grad, gamma_t.grad), (layer.beta.grad, beta_t.grad)):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), **F64)


def _torch_network(model, torch):
    """``network()`` in torch: BatchNorm1d with momentum 1 - Keras's, LayerNorm, the same weights."""
    dense_1, bn, _, dense_2, ln, dense_3 = model.layers
    linears = []
    for dense in (dense_1, dense_2, dense_3):
        linear = torch.nn.Linear(*dense.weight.shape).double()
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(dense.weight.value.T.copy()))
            linear.bias.copy_(torch.from_numpy(dense.bias.value))
        linears.append(linear)
    batch_norm = torch.nn.BatchNorm1d(8, eps=bn.epsilon, momentum=1 - bn.momentum).double()
    layer_norm = torch.nn.LayerNorm(8, eps=ln.epsilon).double()
    return torch.nn.Sequential(linears[0], batch_norm, torch.nn.Tanh(), linears[1], torch.nn.Tanh(),
                               layer_norm, linears[2])


def test_training_and_the_running_statistics_match_torch_after_several_steps():
    """Eight SGD steps of batches of 12 in both. The running mean is PyTorch's; the running
    variance differs by design: PyTorch moves toward the unbiased ``var * m / (m - 1)``, glassnet
    (as Keras) toward the biased ``var``, so with ``d_t = torch_t - glassnet_t``

        d_t = momentum * d_{t-1} + (1 - momentum) * var_t / (m - 1),   d_0 = 0

    which the test adds up from the biased variances of the batches PyTorch's BatchNorm saw."""
    torch = pytest.importorskip("torch")
    x, y = classification()
    model = network()
    reference = _torch_network(model, torch)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    seen = []
    reference[1].register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].var(0, unbiased=False)))
    for start in range(0, len(x), 12):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(reference(torch.from_numpy(x[start:start + 12])),
                                                 torch.from_numpy(y[start:start + 12]))
        loss.backward()
        optimizer.step()
    model.fit(x, y, epochs=1, batch_size=12, shuffle=False, verbose=0)

    dense_1, bn, _, dense_2, ln, dense_3 = model.layers
    close = dict(rtol=1e-9, atol=1e-11)
    for dense, linear in ((dense_1, reference[0]), (dense_2, reference[3]), (dense_3, reference[6])):
        np.testing.assert_allclose(dense.weight.value, linear.weight.detach().numpy().T, **close)
    for mine, theirs in ((bn.gamma, reference[1].weight), (bn.beta, reference[1].bias),
                         (ln.gamma, reference[5].weight), (ln.beta, reference[5].bias)):
        np.testing.assert_allclose(mine.value, theirs.detach().numpy(), **close)
    np.testing.assert_allclose(bn.moving_mean.value, reference[1].running_mean.numpy(), **close)
    difference = np.zeros(8)
    for variance in seen:
        difference = bn.momentum * difference + (1 - bn.momentum) * variance.detach().numpy() / (12 - 1)
    np.testing.assert_allclose(bn.moving_variance.value + difference, reference[1].running_var.numpy(), **close)
    reference.eval()  # inference: torch's running statistics, ours moving ones
    with torch.no_grad():
        reference[1].running_var.copy_(torch.from_numpy(bn.moving_variance.value))
        expected = torch.softmax(reference(torch.from_numpy(x)), dim=1).numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, **close)


# -- data-parallel: the statistics of the whole global batch --------------------------------------
class Threads:
    """``size`` processes simulated by threads in this one, with the two collective operations a
    BatchNormalization uses (``distributed.Communicator``'s ``gather`` and ``sum``); ``rank(r)``
    is the communicator as process ``r`` sees it. Records what each exchange was for."""

    def __init__(self, size):
        self.size, self.slots, self.exchanges = size, [None] * size, []
        self.barrier = threading.Barrier(size, timeout=10)  # a broken test fails, it does not hang

    def rank(self, rank):
        group = self

        class Rank:
            def gather(self, array, what):
                return group.exchange(rank, array, what)

            def sum(self, array, what):
                array[...] = group.exchange(rank, array, what).sum(axis=0)

        return Rank()

    def exchange(self, rank, array, what):
        self.slots[rank] = array.copy()
        if rank == 0:
            self.exchanges.append(what)
        self.barrier.wait()
        every = np.stack(self.slots)
        self.barrier.wait()  # nobody writes a slot again before all have read them
        return every


@pytest.mark.parametrize("shape", [(4,), (3, 4)], ids=["2d", "3d"])
@pytest.mark.parametrize("dtype, close", [(np.float64, dict(rtol=1e-12, atol=1e-12)),
                                          (np.float32, dict(rtol=2e-5, atol=2e-5))])
def test_processes_normalize_by_the_whole_batch_as_one_process_does(shape, dtype, close):
    """13 rows on three processes, as shares of 5, 0 and 8 rows. Each process's loss is a mean over
    its own rows, so it back-propagates ``dy * B / n_r``; the model then weighs its gradients by
    ``n_r / B`` and adds them (``DataParallel.average_gradients``). Forward, ``dx`` (so weighted),
    ``dgamma``, ``dbeta`` and the moving statistics must be one process's on the 13 rows."""
    x = (batch(shape, n=13) * 10 + 50).astype(dtype)  # means far from 0: the merge must be careful
    dy = np.random.default_rng(7).standard_normal(x.shape).astype(dtype) / len(x)  # a mean loss's
    one = built("batch", shape, dtype=dtype, momentum=0.9)
    y_one, backward = one.forward(x, training=True)
    dx_one = backward(dy)
    shares = np.split(np.arange(13), [5, 5])
    threads = Threads(len(shares))
    layers_ = [built("batch", shape, dtype=dtype, momentum=0.9) for _ in shares]

    def process(rank):
        layer, rows = layers_[rank], shares[rank]
        layer.comm = threads.rank(rank)
        y, backward = layer.forward(x[rows], training=True)
        weight = len(rows) / len(x)
        dx = backward(dy[rows] / dtype(weight) if len(rows) else dy[rows])
        return y, dx * dtype(weight), {p.name: p.grad * dtype(weight) for p in layer.parameters() if p.trainable}

    with ThreadPoolExecutor(len(shares)) as pool:
        results = list(pool.map(process, range(len(shares))))
    assert threads.exchanges == ["the batch statistics of batchnormalization",
                                 "the gradient sums of batchnormalization"]  # one each way
    np.testing.assert_allclose(np.concatenate([y for y, _, _ in results]), y_one, **close)
    np.testing.assert_allclose(np.concatenate([dx for _, dx, _ in results]), dx_one, **close)
    for p in one.parameters():
        if p.trainable:
            np.testing.assert_allclose(sum(grads[p.name] for _, _, grads in results), p.grad, **close)
    for layer in layers_:  # the moving statistics: bit-identical on every process, and one process's
        np.testing.assert_array_equal(layer.moving_mean.value, layers_[0].moving_mean.value)
        np.testing.assert_array_equal(layer.moving_variance.value, layers_[0].moving_variance.value)
        np.testing.assert_allclose(layer.moving_mean.value, one.moving_mean.value, **close)
        np.testing.assert_allclose(layer.moving_variance.value, one.moving_variance.value, **close)


def test_with_a_communicator_a_first_layer_and_inference_exchange_only_what_they_need():
    threads = Threads(1)
    layer = built("batch", (4,))
    layer.comm = threads.rank(0)
    layer.compute_input_gradient = False  # a model's first layer: no dx, so no backward exchange
    y, backward = layer.forward(batch((4,)), training=True)
    assert backward(np.ones_like(y)) is None
    assert threads.exchanges == ["the batch statistics of batchnormalization"]
    layer.forward(batch((4,)), training=False)[1](np.ones_like(y))  # inference never communicates
    layer.trainable = False  # nor does a frozen layer, which runs as in inference
    layer.forward(batch((4,)), training=True)[1](np.ones_like(y))
    assert len(threads.exchanges) == 1


# -- ONNX -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, tolerance", [("float32", 1e-5), ("float64", 1e-12)])
@pytest.mark.parametrize("options", [{}, {"center": False, "scale": False}], ids=["gamma_beta", "plain"])
def test_onnx_export_matches_predict(dtype, tolerance, options):
    onnxruntime = pytest.importorskip("onnxruntime")
    from glassnet.onnx import to_proto

    model = gn.Sequential([layers.Input((3, 5)), layers.BatchNormalization(**options),
                           layers.LayerNormalization(**options), layers.Flatten(), layers.Dense(4),
                           layers.BatchNormalization(**options), layers.Dense(2)], seed=0, dtype=dtype)
    model.compile("adam", "mse")
    x = (np.random.default_rng(1).standard_normal((64, 3, 5)) * 3 + 1).astype(dtype)
    model.fit(x, np.random.default_rng(2).standard_normal((64, 2)), epochs=2, batch_size=16, verbose=0)
    session = onnxruntime.InferenceSession(to_proto(model).SerializeToString(), providers=["CPUExecutionProvider"])
    for rows in (x, x[:1]):
        np.testing.assert_allclose(session.run(None, {"input": rows})[0], model.predict(rows, verbose=0),
                                   rtol=0, atol=tolerance)
