"""An Embedding of 100,000 x 32 fed batches of 128 ids: one training step of glassnet's
``Embedding``, of the same lookup as a dense one-hot product in glassnet, and of PyTorch eager's
``nn.Embedding`` with dense Adam, interleaved in one process.

    python benchmarks/embedding.py                  # 5 rounds of 200 steps each
    python benchmarks/embedding.py --rounds 3 --steps 100

The three networks compute the same function: ids (128, 1) -> 32 numbers -> Dense(1), mean squared
error, Adam (learning rate 1e-3, betas 0.9/0.999, epsilon 1e-8), float32, 2 threads.

- ``glassnet``: ``Embedding(100000, 32) -> Flatten -> Dense(1)``; a step is
  ``glassnet.training.train_step`` on a batch of int64 ids (forward, loss, backward, Adam).
- ``one-hot``: ``Dense(32, use_bias=False) -> Dense(1)`` on the one-hot rows of the same ids
  (a (128, 100000) float32 matrix, kept in one buffer of which only the 128 ones change: the
  product alone is timed, not the making of the matrix).
- ``torch``: ``nn.Embedding(100000, 32) -> Flatten -> nn.Linear(32, 1)``, ``torch.optim.Adam``
  (dense gradients: untouched rows move through the moments, as glassnet's do); a step is
  ``zero_grad``, forward, ``mse_loss``, ``backward``, ``step``.

Each round times ``--steps`` steps of each in turn (the order rotated per round), after warm-up
steps; printed: the median over rounds of each one's time per step, the ratios to glassnet's, the
load average, and where glassnet's step goes (Adam over the 3.2 million weights, the embedding
gradient: zeroing the (100000, 32) matrix and the scatter-add). The machine is shared: read the
ratios, and run it when ``uptime`` shows it quiet.
"""
import os

THREADS = 2
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import glassnet as gn  # noqa: E402
from glassnet import layer_kernels, training  # noqa: E402

ROWS, WIDTH, BATCH = 100_000, 32, 128
LR, EPS = 1e-3, 1e-8


def batches(count, seed=0):
    """``count`` batches of (ids (128, 1) int64, targets (128, 1) float32)."""
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, ROWS, (BATCH, 1)), rng.standard_normal((BATCH, 1)).astype(np.float32))
            for _ in range(count)]


def glassnet_embedding(data):
    model = gn.Sequential([gn.layers.Input((1,)), gn.layers.Embedding(ROWS, WIDTH), gn.layers.Flatten(),
                           gn.layers.Dense(1)], seed=0)
    model.compile(optimizer=gn.optimizers.Adam(LR, epsilon=EPS), loss="mse")

    def step(i):
        ids, y = data[i % len(data)]
        training.train_step(model, ids, y, None)
    return step, model


def glassnet_one_hot(data):
    model = gn.Sequential([gn.layers.Input((ROWS,)), gn.layers.Dense(WIDTH, use_bias=False), gn.layers.Dense(1)],
                          seed=0)
    model.compile(optimizer=gn.optimizers.Adam(LR, epsilon=EPS), loss="mse")
    one_hot, rows = np.zeros((BATCH, ROWS), np.float32), np.arange(BATCH)
    previous = [data[0][0][:, 0]]

    def step(i):
        ids, y = data[i % len(data)]
        one_hot[rows, previous[0]] = 0
        one_hot[rows, ids[:, 0]] = 1
        previous[0] = ids[:, 0]
        training.train_step(model, one_hot, y, None)
    return step


def torch_embedding(data):
    import torch
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(ROWS, WIDTH), torch.nn.Flatten(), torch.nn.Linear(WIDTH, 1))
    adam = torch.optim.Adam(model.parameters(), lr=LR, eps=EPS)
    tensors = [(torch.from_numpy(ids), torch.from_numpy(y)) for ids, y in data]

    def step(i):
        ids, y = tensors[i % len(tensors)]
        adam.zero_grad()
        torch.nn.functional.mse_loss(model(ids), y).backward()
        adam.step()
    return step


def per_step(step, steps, start):
    begin = time.perf_counter()
    for i in range(start, start + steps):
        step(i)
    return (time.perf_counter() - begin) / steps


def breakdown(model, data, steps):
    """Seconds per call of glassnet's Adam step over all weights and of the embedding gradient."""
    layer = model.layers[0]
    grad = layer.weight.grad
    dy = np.ones((BATCH, WIDTH), np.float32)
    ids = data[0][0].reshape(-1)
    adam = per_step(lambda i: model.optimizer.step(), steps, 0)
    gradient = per_step(lambda i: layer_kernels.embedding_gradient(grad=grad, ids=ids, dy=dy), steps, 0)
    zeroing = per_step(lambda i: grad.fill(0), steps, 0)
    return adam, gradient, zeroing


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    data = batches(64)
    embedding_step, model = glassnet_embedding(data)
    runners = {"glassnet": embedding_step, "one-hot": glassnet_one_hot(data), "torch": torch_embedding(data)}
    for step in runners.values():
        per_step(step, 20, 0)  # warm-up: compilation, allocator, BLAS
    load_before = os.getloadavg()[0]
    times = {name: [] for name in runners}
    names = list(runners)
    for round_ in range(args.rounds):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            times[name].append(per_step(runners[name], args.steps, round_ * args.steps))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"Embedding {ROWS:,} x {WIDTH}, batches of {BATCH} ids, Adam, {THREADS} threads; "
          f"{args.rounds} rounds x {args.steps} steps; load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}")
    print("| step | ms per step (median; min-max) | / glassnet |\n| --- | --- | --- |")
    for name, values in times.items():
        print(f"| {name} | {medians[name] * 1e3:.3f} ({min(values) * 1e3:.3f}-{max(values) * 1e3:.3f}) | "
              f"{medians[name] / medians['glassnet']:.2f} |")
    adam, gradient, zeroing = breakdown(model, data, args.steps)
    print(f"glassnet's step: Adam over {ROWS * WIDTH:,} weights {adam * 1e3:.3f} ms "
          f"({adam / medians['glassnet']:.0%}); embedding gradient {gradient * 1e3:.3f} ms "
          f"({gradient / medians['glassnet']:.0%}), of which zeroing the matrix alone (fill) "
          f"{zeroing * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
