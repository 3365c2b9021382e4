"""Claim 4: Adam reaches a target loss in fewer steps than plain SGD with the same budget of steps
and the same learning rate, and momentum helps SGD.

A 64-32-10 ReLU network on 1,000 handwritten digits, batches of 32, learning rate 0.01, from the
same initial weights (seed) with SGD, SGD with momentum 0.9 and Adam. After every few steps the
loss on the whole training set is recorded; the table gives the first step at which it is below
the target. Writes docs/course/optimizers.png.

    python examples/course/optimizers.py [--quick]
"""
import common

import glassnet as gn

TARGET = 0.3
OPTIMIZERS = {"SGD": lambda: gn.optimizers.SGD(0.01),
              "SGD + momentum 0.9": lambda: gn.optimizers.SGD(0.01, momentum=0.9),
              "Adam": lambda: gn.optimizers.Adam(0.01)}


def run(quick=False, seed=0, figure=None):
    x, y = common.digits(seed)
    x, y = x[:1000], y[:1000]
    epochs = 6 if quick else 20  # 32 steps per epoch: the budget is 192 or 640 steps
    results = {}
    for name, make in OPTIMIZERS.items():
        model = common.classifier([32], seed, make())
        recorder = common.StepLoss(x, y, every=4)
        model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=[recorder])
        reached = next((step for step, loss in zip(recorder.at, recorder.losses) if loss < TARGET), None)
        results[name] = {"steps": recorder.at, "losses": recorder.losses, "reached": reached,
                         "final": recorder.losses[-1]}
        print(f"{name:20} training loss below {TARGET} after "
              f"{reached if reached else 'more than ' + str(recorder.at[-1])} steps; "
              f"after {recorder.at[-1]} steps: {recorder.losses[-1]:.4f}")
    if figure:
        fig = common.figure(1, width=6)
        axes = fig.add_subplot(1, 1, 1)
        for name, result in results.items():
            axes.plot(result["steps"], result["losses"], label=name)
        axes.axhline(TARGET, color="grey", linestyle=":", label=f"target {TARGET}")
        axes.set_yscale("log")
        axes.set_xlabel("optimizer step (batches of 32)")
        axes.set_ylabel("loss on the training set")
        axes.legend(fontsize=8)
        common.save(fig, figure)
    return results


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "optimizers.png")
    run(args.quick, args.seed, args.figure)
