"""Claim 8: deeper layers learn more complex features. On Fashion-MNIST a 784-64-32-10 ReLU
network is trained; then for each neuron of the first and the second hidden layer, the training
pictures that excite it most are collected. A first-layer neuron responds to a pattern of pixels
(its weights, drawn as a 28x28 picture) shared by many kinds of clothes; a second-layer neuron
combines them into something closer to one kind of garment: the pictures that excite it most
belong more often to a single class ("purity"). Writes docs/course/features.png.

Needs the Fashion-MNIST files (``apt-get install -y dataset-fashion-mnist``, or a folder named by
the ``FASHION_MNIST_DIR`` environment variable).

    python examples/course/features.py [--quick]
"""
import common
import numpy as np

import glassnet as gn


TOP = 25  # pictures per neuron


def purity(activations, labels, top=TOP):
    """For each neuron, the share of its ``top`` most exciting pictures in their most common class."""
    best = np.argsort(-activations, axis=0)[:top]
    return np.array([np.bincount(labels[rows], minlength=10).max() / top for rows in best.T])


def run(quick=False, seed=0, figure=None, data_dir=None):
    (x, y), _ = common.fashion_mnist(data_dir)
    n = 6000 if quick else 60000
    x, y = x[:n], y[:n]
    model = gn.Sequential([gn.layers.Dense(64, activation="relu"), gn.layers.Dense(32, activation="relu"),
                           gn.layers.Dense(10, activation="softmax")], seed=seed)
    model.compile(optimizer=gn.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=3 if quick else 10, batch_size=64, verbose=0)
    first = model.layers[0](x)
    second = model.layers[1](first)
    result = {}
    for name, activations in (("layer 1", first), ("layer 2", second)):
        alive = activations.max(axis=0) > 0  # a neuron that never fires has no favourite pictures
        result[name] = float(purity(activations[:, alive], y).mean())
    print(f"class purity of the {TOP} most exciting pictures, mean over neurons: "
          f"layer 1 {result['layer 1']:.2f}, layer 2 {result['layer 2']:.2f}")
    if figure:
        result["overlapping_labels"] = _figure(model, x, first, second, figure)
    return result


def _figure(model, x, first, second, path, shown=8):
    """Three rows of pictures, each named on its left; returns the labels that overlap (none)."""
    fig = common.figure(1, width=7.6, height=3.4)
    grid = fig.add_gridspec(3, shown)
    rows = [("layer 1:\nweights", model.layers[0].weight.value.T[:shown]),
            ("layer 1:\ntop pictures", [x[np.argsort(-first[:, j])[:TOP]].mean(0) for j in range(shown)]),
            ("layer 2:\ntop pictures", [x[np.argsort(-second[:, j])[:TOP]].mean(0) for j in range(shown)])]
    for r, (title, images) in enumerate(rows):
        for j in range(shown):
            axes = fig.add_subplot(grid[r, j])
            axes.imshow(np.asarray(images[j]).reshape(28, 28), cmap="gray" if r else "RdBu")
            axes.set_xticks([])
            axes.set_yticks([])
            if j == 0:  # written across, beside the row: rotated, the three names ran into each other
                axes.set_ylabel(title, fontsize=8, rotation=0, ha="right", va="center", labelpad=6)
    return common.save(fig, path)


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "features.png")
    run(args.quick, args.seed, args.figure)
