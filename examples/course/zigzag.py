"""Claim 14: one example at a time zig-zags, on the loss surface itself. With only two weights the
loss is a surface over a plane, and each optimizer's path can be drawn on its contour lines.

A linear model with two weights and no bias, ``prediction = w1 x1 + w2 x2``, learns 200 examples
(x2 correlated with x1, so the contours are long ellipses; ``y = 2 x1 - x2`` plus noise) with the
mean squared error, from the same start (-1.5, 2) for 100 updates each: plain SGD (learning rate
0.1) one example at a time (``batch_size=1``), in mini-batches of 20 and on the full batch, and
Adam (0.1) in mini-batches of 20. ``gn.callbacks.WeightHistory(every=1)`` records the two
weights after every update. Measured on each path: the share of updates that made the loss on
all 200 examples worse, and the length of the path against the straight line from its start to
its end. Writes docs/course/zigzag.png.

    python examples/course/zigzag.py [--quick]
"""
import common
import numpy as np

import glassnet as gn

START = (-1.5, 2.0)
UPDATES = 100
RUNS = {"one example at a time (batch_size=1)": (1, lambda: gn.optimizers.SGD(0.1)),
        "mini-batch (batch_size=20)": (20, lambda: gn.optimizers.SGD(0.1)),
        "full batch (batch_size=None)": (None, lambda: gn.optimizers.SGD(0.1)),
        "Adam, mini-batch of 20": (20, lambda: gn.optimizers.Adam(0.1))}


def data(seed, n=200):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = 0.8 * x1 + 0.6 * rng.normal(size=n)
    x = np.stack([x1, x2], axis=1)
    return x, (2 * x1 - x2 + 0.5 * rng.normal(size=n))[:, None]


def full_loss(x, y, w1, w2):
    """The mean squared error on all the examples, for arrays of weights (the contour's surface)."""
    w1, w2 = np.asarray(w1, dtype=np.float64), np.asarray(w2, dtype=np.float64)
    predictions = x[:, 0, None] * w1.ravel() + x[:, 1, None] * w2.ravel()
    return np.mean((predictions - y) ** 2, axis=0).reshape(w1.shape)


def path_of(x, y, batch_size, optimizer, seed):
    """The two weights after every one of ``UPDATES`` updates (and at the start)."""
    model = gn.Sequential([gn.layers.Input((2,)), gn.layers.Dense(1, use_bias=False)], seed=seed, dtype="float64")
    model.compile(optimizer=optimizer, loss="mse")
    model.set_weights([np.array([[START[0]], [START[1]]])])
    history = gn.callbacks.WeightHistory(every=1)
    stop = gn.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: setattr(model, "stop_training", model.optimizer.iterations >= UPDATES))
    per_epoch = -(-len(x) // (batch_size or len(x)))
    model.fit(x, y, epochs=-(-UPDATES // per_epoch), batch_size=batch_size, verbose=0, callbacks=[history, stop])
    return history.values(model.layers[0].weight.name)[:, :, 0]


def run(quick=False, seed=0, figure=None):
    x, y = data(seed)
    best = np.linalg.lstsq(x, y, rcond=None)[0].ravel()
    results = {"x": x, "y": y, "best": best, "best_loss": float(full_loss(x, y, best[0], best[1])),
               "start_loss": float(full_loss(x, y, *START))}
    print(f"start {START}, loss {results['start_loss']:.4f}; the least-squares weights ({best[0]:.3f}, {best[1]:.3f}), "
          f"loss {results['best_loss']:.4f}")
    for name, (batch_size, make) in RUNS.items():
        path = path_of(x, y, batch_size, make(), seed)
        losses = full_loss(x, y, path[:, 0], path[:, 1])
        length = float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())
        straight = float(np.linalg.norm(path[-1] - path[0]))
        results[name] = {"path": path, "losses": losses, "uphill": float(np.mean(np.diff(losses) > 0)),
                         "winding": length / straight, "final": float(losses[-1])}
        print(f"{name:38} {len(path) - 1} updates, {results[name]['uphill']:4.0%} uphill, path "
              f"{results[name]['winding']:.2f} x the straight line, final loss {losses[-1]:.4f}")
    if figure:
        results["overlapping_labels"] = _figure(results, figure)
    return results


def _figure(results, path):
    fig = common.figure(2, width=4.2, height=7.2)
    x, y, best = results["x"], results["y"], results["best"]
    w1, w2 = np.meshgrid(np.linspace(-2.2, 3.2, 120), np.linspace(-2.2, 2.8, 120))
    surface = full_loss(x, y, w1, w2)
    levels = results["best_loss"] + np.geomspace(0.02, 12, 12)
    for k, name in enumerate(RUNS):
        axes = fig.add_subplot(2, 2, k + 1)
        axes.contour(w1, w2, surface, levels=levels, colors="grey", linewidths=0.6)
        walk = results[name]["path"]
        axes.plot(walk[:, 0], walk[:, 1], "-", color="#d62728", linewidth=0.9, marker=".", markersize=2.5)
        axes.plot(*START, "o", color="black", markersize=4)
        axes.plot(best[0], best[1], "*", color="#2ca02c", markersize=9)
        axes.set_title(f"{name}\n{results[name]['uphill']:.0%} of updates uphill, path "
                       f"{results[name]['winding']:.2f} x straight", fontsize=8)
        axes.set_xlabel("w1", fontsize=8)
        axes.set_ylabel("w2", fontsize=8)
        axes.tick_params(labelsize=7)
    return common.save(fig, path)


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "zigzag.png")
    run(args.quick, args.seed, args.figure)
