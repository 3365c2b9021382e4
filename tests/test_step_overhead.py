"""Guards for the speed of a training step that do not time anything: they count the Python-level
calls one step makes and check that batches reuse their buffers. A change that adds Python work to
every step (a wrapper, a per-layer loop, a forgotten debugging call) fails here; the size of the
budget is what a 3-layer MLP step made when this test was written, plus a small margin."""
import sys

import numpy as np

import glassnet as gn
from glassnet import training

CALL_BUDGET = 45  # calls (Python functions and C functions) per step of a 3-layer MLP; 37 when written


def _model():
    model = gn.Sequential([gn.layers.Dense(32, activation="relu"), gn.layers.Dense(32, activation="relu"),
                           gn.layers.Dense(10, activation="softmax")], seed=0)
    model.compile(optimizer=gn.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return model


def count_calls(function, *args):
    calls = 0

    def profile(frame, event, arg):
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(profile)
    try:
        function(*args)
    finally:
        sys.setprofile(None)
    return calls - 1  # the call of setprofile(None) itself


def test_python_calls_per_training_step_stay_within_budget():
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 64), dtype=np.float32), rng.integers(0, 10, 64)
    model = _model()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # build, compile kernels, warm up
    calls = count_calls(training.train_step, model, x[:32], y[:32], None)
    assert calls <= CALL_BUDGET, f"one training step made {calls} calls, budget {CALL_BUDGET}"


def test_calls_per_step_do_not_grow_with_the_number_of_parameters():
    """The optimizer works on the flat buffers: its cost in calls is the same for any model size."""
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 64), dtype=np.float32), rng.integers(0, 10, 64)
    counts = []
    for width in (8, 512):
        model = gn.Sequential([gn.layers.Dense(width, activation="relu"), gn.layers.Dense(10)], seed=0)
        model.compile(optimizer="adam", loss=gn.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        counts.append(count_calls(training.train_step, model, x[:32], y[:32], None))
    assert counts[0] == counts[1]


def test_shuffled_batches_reuse_one_buffer():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20)
    batches = training.Batches(x, y, None, batch_size=8)
    seen = [(xb, yb) for xb, yb, _ in batches.epoch(np.random.default_rng(0).permutation(20))]
    assert all(np.shares_memory(xb, seen[0][0]) for xb, _ in seen)
    assert all(np.shares_memory(yb, seen[0][1]) for _, yb in seen)
    rows = np.random.default_rng(0).permutation(20)
    np.testing.assert_array_equal(seen[-1][0], x[rows[16:]])  # the short last batch is right
