"""Claim 15: L1 does feature selection. On data with inputs known to be irrelevant, L1 on the first
layer sets every weight leaving each irrelevant input to exactly 0 (the network no longer reads
it), and only those; L2 sets none to 0.

The data: 10 inputs drawn from a normal distribution, 5,000 for training and 1,000 for validation;
the class is 1 when ``x1 + x2 - x3 + 0.5 * x4^2 > 0.5``, so x1 to x4 matter and x5 to x10 are noise.
A 10-16-1 network (ReLU, one sigmoid output, binary cross-entropy) is trained three times with
full-batch Adam (learning rate 0.01, 200 steps), the same seed: without a penalty, with
``L1(0.005)`` and with ``L2(0.005)`` on the first layer's weights. All three have ``L2(0.01)`` on
the output layer's weights, so that it cannot grow to make up for a first layer that shrinks.
Counted: the inputs whose 16 weights (a row of the 10 x 16 weight matrix) are all exactly 0.
Writes docs/course/l1_features.png.

    python examples/course/l1_features.py [--quick]
"""
import common
import numpy as np

import glassnet as gn

RELEVANT = 4
PENALTIES = {"none": None, "L1 0.005": gn.regularizers.L1(0.005), "L2 0.005": gn.regularizers.L2(0.005)}


def data(n, seed):
    """``n`` rows of 10 inputs; the class depends on the first 4 only."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 10)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] - x[:, 2] + 0.5 * x[:, 3] ** 2 > 0.5).astype(np.float32)
    return x, y


def run(quick=False, seed=0, figure=None):
    x, y = data(6000, seed)
    train, val = (x[:5000], y[:5000]), (x[5000:], y[5000:])
    results = {}
    for name, penalty in PENALTIES.items():
        model = gn.Sequential([gn.layers.Dense(16, activation="relu", kernel_regularizer=penalty),
                               gn.layers.Dense(1, activation="sigmoid", kernel_regularizer=gn.regularizers.L2(0.01))],
                              seed=seed)
        model.compile(optimizer=gn.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["binary_accuracy"])
        history = model.fit(*train, validation_data=val, epochs=150 if quick else 200, batch_size=None, verbose=0)
        w = model.layers[0].weight.value.copy()
        dropped = [int(i) for i in np.nonzero(np.all(w == 0, axis=1))[0]]
        results[name] = {"weights": w, "dropped": dropped, "zeros": int(np.count_nonzero(w == 0)),
                         "val_accuracy": float(history.history["val_binary_accuracy"][-1])}
        print(f"{name:9} inputs with all 16 weights exactly 0: "
              f"{', '.join(f'x{i + 1}' for i in dropped) or 'none':28} exact zeros {results[name]['zeros']:3d} of "
              f"{w.size}, validation accuracy {results[name]['val_accuracy']:.3f}")
    if figure:
        _figure(results, figure)
    return results


def _figure(results, path):
    fig = common.figure(3, width=3.0, height=3.6)
    top = max(np.abs(r["weights"]).max() for r in results.values())
    for k, (name, result) in enumerate(results.items()):
        axes = fig.add_subplot(1, 3, k + 1)
        w = np.abs(result["weights"])
        shown = np.ma.masked_where(w == 0, w)  # exact zeros white
        axes.imshow(shown, cmap="viridis", vmin=0, vmax=top, aspect="auto")
        axes.set_yticks(range(10), [f"x{i + 1}" + (" (noise)" if i >= RELEVANT else "") for i in range(10)],
                        fontsize=7)
        axes.set_xticks([0, 5, 10, 15], ["1", "6", "11", "16"], fontsize=7)
        axes.set_xlabel("hidden neuron", fontsize=8)
        dropped = ", ".join(f"x{i + 1}" for i in result["dropped"]) or "none"
        axes.set_title(f"{name}: |w|, exact zeros white\ninputs dropped: {dropped}", fontsize=8)
    common.save(fig, path)


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "l1_features.png")
    run(args.quick, args.seed, args.figure)
