"""Claim 5: stochastic gradient descent one example at a time zig-zags: its loss path is noisier
than mini-batch and full-batch descent, and each epoch takes many more updates.

A 64-32-10 ReLU network on 300 handwritten digits with plain SGD (learning rate 0.05) and
``batch_size`` 1, 32 and None (the whole set), from the same initial weights. The loss on the
whole training set is recorded after every update; "uphill" counts the updates that made it
worse. Writes docs/course/batch_size.png.

    python examples/course/batch_size.py [--quick]
"""
import common
import numpy as np

import glassnet as gn

BATCHES = {"one example (batch_size=1)": 1, "mini-batch (batch_size=32)": 32, "full batch (batch_size=None)": None}


def run(quick=False, seed=0, figure=None):
    x, y = common.digits(seed)
    x, y = x[:300], y[:300]
    epochs = 2 if quick else 5
    results = {}
    for name, batch_size in BATCHES.items():
        model = common.classifier([32], seed, gn.optimizers.SGD(0.05))
        recorder = common.StepLoss(x, y)
        model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[recorder])
        losses = np.array(recorder.losses)
        uphill = float(np.mean(np.diff(losses) > 0)) if len(losses) > 1 else 0.0
        results[name] = {"updates_per_epoch": recorder.steps // epochs, "losses": losses,
                         "uphill": uphill, "final": float(losses[-1])}
        print(f"{name:30} {recorder.steps // epochs:4d} updates per epoch, {uphill:.0%} of them "
              f"uphill, training loss after {epochs} epochs {losses[-1]:.4f}")
    if figure:
        fig = common.figure(1, width=6)
        axes = fig.add_subplot(1, 1, 1)
        for name, result in results.items():
            per_epoch = result["updates_per_epoch"]
            epochs_axis = np.arange(1, len(result["losses"]) + 1) / per_epoch
            axes.plot(epochs_axis, result["losses"], label=name, linewidth=0.8,
                      marker="o" if per_epoch == 1 else None)
        axes.set_xlabel("epoch")
        axes.set_ylabel("loss on the training set")
        axes.legend(fontsize=8)
        common.save(fig, figure)
    return results


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "batch_size.png")
    run(args.quick, args.seed, args.figure)
