"""Claim 17: each hidden layer lets the decision boundary bend more. Without a hidden layer a
network draws a straight line; with hidden layers it bends the line, more with each layer.

Two interleaved spirals (1.5 turns, 400 points for training) are learned by networks with 0, 1,
2 and 3 hidden layers of 4 tanh neurons and one sigmoid output (full-batch Adam 0.03, 800 steps,
the same seed). ``gn.plot_decision_boundary`` draws what each decides over the plane. Then
``gn.callbacks.WeightHistory(every=100)`` records the 3-layer network's weights as it trains,
and the boundary is drawn again from the records: the line bending step by step. Writes
docs/course/decision_boundary.png.

    python examples/course/decision_boundary.py [--quick]
"""
import common
import numpy as np

import glassnet as gn

DEPTHS = (0, 1, 2, 3)
WIDTH = 4


def spirals(n, seed, turns=1.5, noise=0.08):
    """Two spirals, one per class, winding ``turns`` times around the origin."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.05, 1, n)) * turns * 2 * np.pi
    y = rng.integers(0, 2, n)
    angle = t + np.pi * y
    radius = t / (turns * 2 * np.pi)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1) + rng.normal(0, noise, (n, 2))
    return x.astype(np.float32), y.astype(np.float32)


def network(depth, seed):
    model = gn.Sequential([gn.layers.Dense(WIDTH, activation="tanh") for _ in range(depth)] +
                          [gn.layers.Dense(1, activation="sigmoid")], seed=seed)
    model.compile(optimizer=gn.optimizers.Adam(0.03), loss="binary_crossentropy", metrics=["binary_accuracy"])
    return model


def accuracy(model, x, y):
    return float(np.mean((model.predict(x, verbose=0)[:, 0] > 0.5) == y))


def run(quick=False, seed=0, figure=None):
    x, y = spirals(400, seed)
    steps = 500 if quick else 800
    results = {"x": x, "y": y, "models": {}, "accuracy": {}}
    for depth in DEPTHS:
        model = network(depth, seed)
        recorder = gn.callbacks.WeightHistory(every=100) if depth == DEPTHS[-1] else None
        model.fit(x, y, epochs=steps, batch_size=None, verbose=0, callbacks=[recorder] if recorder else None)
        results["models"][depth] = model
        results["accuracy"][depth] = accuracy(model, x, y)
        print(f"{depth} hidden layer{'s' if depth != 1 else ''} of {WIDTH}: training accuracy "
              f"{results['accuracy'][depth]:.3f}")
    deepest = results["models"][DEPTHS[-1]]
    shown = [0, 2, 4, len(recorder.steps) - 1]  # steps 0, 200, 400 and the last
    results["history"] = recorder
    results["history_accuracy"] = []
    for k in range(len(recorder.steps)):
        recorder.restore(deepest, k)
        results["history_accuracy"].append(accuracy(deepest, x, y))
    print(f"{DEPTHS[-1]} hidden layers, recorded every 100 steps: training accuracy "
          + ", ".join(f"{a:.3f} (step {s})" for s, a in zip(recorder.steps, results["history_accuracy"])))
    if figure:
        results["overlapping_labels"] = _figure(results, shown, figure)
    recorder.restore(deepest, -1)  # the trained weights back
    return results


def _figure(results, shown, path):
    fig = common.figure(4, width=2.6, height=5.6)
    x, y, recorder = results["x"], results["y"], results["history"]
    for k, depth in enumerate(DEPTHS):
        axes = fig.add_subplot(2, 4, k + 1)
        gn.plot_decision_boundary(results["models"][depth], x, y, axes=axes, resolution=150,
                                  title=f"{depth} hidden layer{'s' if depth != 1 else ''}: "
                                        f"{results['accuracy'][depth]:.0%} right")
        _tidy(axes)
    deepest = results["models"][DEPTHS[-1]]
    for k, record in enumerate(shown):
        recorder.restore(deepest, record)
        axes = fig.add_subplot(2, 4, 5 + k)
        gn.plot_decision_boundary(deepest, x, y, axes=axes, resolution=150,
                                  title=f"3 layers, step {recorder.steps[record]}: "
                                        f"{results['history_accuracy'][record]:.0%}")
        _tidy(axes)
    return common.save(fig, path)


def _tidy(axes):
    axes.set_xlabel("")
    axes.set_ylabel("")
    axes.set_xticks([])
    axes.set_yticks([])
    if axes.get_legend() is not None:
        axes.get_legend().remove()
    axes.title.set_fontsize(8)


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "decision_boundary.png")
    run(args.quick, args.seed, args.figure)
