"""glassnet's own split of a convolutional network's work (glassnet/threads.py): the same numbers as
one thread (bit for bit where nothing is summed across threads, to rounding where dW is), the same
numbers from run to run, and BLAS's threads given back, also after an error."""
import threading

import numpy as np
import pytest
import threadpoolctl

import glassnet as gn
from glassnet import layers, threads


def blas_threads():
    return max(info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas")


@pytest.fixture
def two_blas_threads():
    """BLAS set to two threads for the test (CI machines may have one core), then as it was."""
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        if blas_threads() < 2:
            pytest.skip("BLAS cannot be set to two threads here")
        yield


def run_layer(layer, x, dy):
    y, backward = layer.forward(x, training=True)
    return y.copy(), backward(dy).copy(), [p.grad.copy() for p in layer.parameters()]


@pytest.mark.parametrize("make, shape", [
    (lambda: layers.Conv2D(6, 3, padding="same", activation="relu"), (11, 9, 9, 4)),     # whole batch, a slice a thread
    (lambda: layers.Conv2D(64, 5, padding="same"), (40, 14, 14, 32)),                    # many slices a thread
    (lambda: layers.Conv1D(5, 3, strides=2, groups=1), (7, 20, 3)),
    (lambda: layers.MaxPooling2D(2), (9, 8, 8, 3)),
    (lambda: layers.ReLU(), (50, 40, 20)),                                               # the compiled backward
    (lambda: layers.Dense(64, activation="relu"), (256, 200)),                           # threads.matmul's halves
])
def test_split_work_gives_the_numbers_of_one_thread(two_blas_threads, make, shape):
    rng = np.random.default_rng(0)
    layer = make()
    model = gn.Sequential([layers.Input(shape[1:]), layer], seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss="mse")
    layer.compute_input_gradient = True  # a first layer's dx too
    x = rng.standard_normal(shape)
    dy = rng.standard_normal((shape[0], *model.output_shape))
    alone = run_layer(layer, x, dy)
    with threads.splitting():
        assert threads.workers() == 2 and blas_threads() == 1
        split = run_layer(layer, x, dy)
        again = run_layer(layer, x, dy)
    assert blas_threads() == 2
    for a, b, c in zip(alone[:2], split[:2], again[:2]):  # y and dx: each example's own, bit for bit
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(b, c)
    for a, b, c in zip(alone[2], split[2], again[2]):  # dW, db: summed over the threads' slices
        # in another order: a few last bits (Winograd's dW = G^T dU G cancels some of its terms)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(b, c)


def cnn(seed):
    model = gn.Sequential([layers.Input((12, 12, 1)), layers.Conv2D(8, 3, padding="same", activation="relu"),
                           layers.MaxPooling2D(2), layers.Conv2D(8, 3, activation="relu"), layers.Flatten(),
                           layers.Dense(3, activation="softmax")], seed=seed)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_a_cnn_trains_reproducibly_and_gives_blas_its_threads_back(two_blas_threads):
    rng = np.random.default_rng(1)
    x, y = rng.random((300, 12, 12, 1), dtype=np.float32), rng.integers(0, 3, 300)
    weights = []
    for _ in range(2):
        model = cnn(0)
        model.fit(x, y, batch_size=64, epochs=2, verbose=0)
        assert blas_threads() == 2
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    assert model.predict(x[:5]).shape == (5, 3) and blas_threads() == 2


def test_blas_gets_its_threads_back_when_training_fails(two_blas_threads):
    class Stop(gn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            assert threads.workers() == 2 and blas_threads() == 1
            raise KeyboardInterrupt

    rng = np.random.default_rng(2)
    with pytest.raises(KeyboardInterrupt):
        cnn(0).fit(rng.random((64, 12, 12, 1)), rng.integers(0, 3, 64), batch_size=32, verbose=0, callbacks=[Stop()])
    assert blas_threads() == 2 and threads.workers() == 1


def test_overlapping_callers_hold_blas_at_one_thread_until_the_last_leaves(two_blas_threads):
    first_inside, second_done = threading.Event(), threading.Event()

    def second():
        first_inside.wait()
        with threads.splitting():
            pass
        second_done.set()

    other = threading.Thread(target=second)
    other.start()
    with threads.splitting():
        first_inside.set()
        second_done.wait()
        assert blas_threads() == 1  # the second caller left first: still held for this one
    other.join()
    assert blas_threads() == 2


def test_without_splitting_or_with_one_blas_thread_the_work_stays_on_the_calling_thread():
    assert threads.workers() == 1
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        with threads.splitting():
            assert threads.workers() == 1
    seen = []
    threads.run_split(lambda k, items: seen.append((k, list(items), threading.current_thread())), [1, 2, 3])
    assert seen == [(0, [1, 2, 3], threading.current_thread())]


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_trains_a_cnn_with_threads_of_its_own(two_blas_threads):
    """The parent's pool threads do not exist in a forked child: it makes its own, never waits on them."""
    import multiprocessing
    rng = np.random.default_rng(3)
    x, y = rng.random((64, 12, 12, 1), dtype=np.float32), rng.integers(0, 3, 64)
    cnn(0).fit(x, y, batch_size=32, verbose=0)  # the parent's pool exists now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_train_in_child, args=(x, y, queue))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0 and queue.get(timeout=5) == "trained"


def _train_in_child(x, y, queue):
    cnn(0).fit(x, y, batch_size=32, verbose=0)
    queue.put("trained")


def test_matmul_splits_only_large_products_and_only_while_splitting(two_blas_threads, monkeypatch):
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((300, 200)), rng.standard_normal((200, 70))
    calls = []
    original = threads.run_ranges
    monkeypatch.setattr(threads, "run_ranges", lambda function, n: calls.append(n) or original(function, n))
    np.testing.assert_array_equal(threads.matmul(a, b), a @ b)  # outside splitting: NumPy's product
    with threads.splitting():
        out = np.empty((300, 70))
        assert threads.matmul(a, b, out=out) is out
        np.testing.assert_allclose(out, a @ b, rtol=1e-13)
        np.testing.assert_allclose(threads.matmul(a.T[:, :200].T, b), a[:200] @ b, rtol=1e-13)  # a view
        small = threads.matmul(a[:20, :20], b[:20, :10])  # 4,000 multiply-adds: not worth the threads
        np.testing.assert_allclose(small, a[:20, :20] @ b[:20, :10], rtol=1e-13)
    assert calls == [300, 200]


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamax", "nadam", "rmsprop", "adagrad"])
def test_an_update_split_over_the_threads_gives_the_same_weights(two_blas_threads, optimizer, monkeypatch):
    """While a network splits its work, each optimizer's compiled update runs one pass per thread over
    a run of the buffers (Optimizer._run); element by element, the weights come out bit for bit."""
    weights, original = [], threads.run_ranges
    for split in (False, True):
        model = gn.Sequential([layers.Input((300,)), layers.Dense(400)], seed=0)  # 120,400 weights
        model.compile(optimizer=gn.optimizers.SGD(0.01, momentum=0.9) if optimizer == "sgd" else optimizer, loss="mse")
        rng = np.random.default_rng(1)
        calls = []
        monkeypatch.setattr(threads, "run_ranges", lambda function, n: calls.append(n) or original(function, n))
        with threads.splitting(split):
            for _ in range(3):
                for p in model.parameters():
                    p.grad[...] = rng.standard_normal(p.grad.shape)
                model.optimizer.step()
        assert calls == ([120_400] * 3 if split else [])
        weights.append([p.value.copy() for p in model.parameters()])
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
