"""Claim 7: cross-entropy punishes confident wrong answers. The loss of one example is
``-log p``, ``p`` the probability the model gives the right class: 0.11 at p = 0.9, 0.69 at 0.5,
2.3 at 0.1 and 4.6 at 0.01, without bound as p goes to 0, where the squared error of the same
probabilities stays below 2. Numbers from ``gn.losses``; writes docs/course/cross_entropy.png.

    python examples/course/cross_entropy.py [--quick]
"""
import common
import numpy as np

import glassnet as gn

PROBABILITIES = (0.99, 0.9, 0.5, 0.1, 0.01, 0.001)


def losses_at(p):
    """Cross-entropy and squared error of a two-class prediction giving ``p`` to the right class 1."""
    probabilities = np.array([[1 - p, p]])
    cross_entropy = gn.losses.SparseCategoricalCrossentropy()(np.array([1]), probabilities)
    squared = 2 * gn.losses.MeanSquaredError()(np.array([[0.0, 1.0]]), probabilities)  # sum over the 2 classes
    return cross_entropy, squared


def run(quick=False, seed=0, figure=None):
    table = [(p, *losses_at(p)) for p in PROBABILITIES]
    print(f"{'p(right class)':>15} {'cross-entropy':>14} {'squared error':>14}")
    for p, ce, se in table:
        print(f"{p:15g} {ce:14.4f} {se:14.4f}")
    if figure:
        fig = common.figure(1, width=5)
        axes = fig.add_subplot(1, 1, 1)
        grid = np.linspace(0.005, 1, 200)
        values = np.array([losses_at(p) for p in grid])
        axes.plot(grid, values[:, 0], label="cross-entropy -log p")
        axes.plot(grid, values[:, 1], label="squared error of the probabilities")
        axes.set_xlabel("probability given to the right class")
        axes.set_ylabel("loss of one example")
        axes.legend(fontsize=8)
        common.save(fig, figure)
    return {"table": table}


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "cross_entropy.png")
    run(args.quick, args.seed, args.figure)
