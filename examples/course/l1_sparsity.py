"""Claim 3: L1 sets less important weights to exactly zero, L2 only shrinks them.

A 64-32-10 ReLU network learns the handwritten digits (1,000 training images, plain SGD 0.05,
batches of 32) three times: without a penalty, with ``L1(1e-3)`` and with ``L2(1e-3)`` on the
first layer's weights. Counted: the first-layer weights that are exactly 0. Many of the 64 pixels
(the border of the 8x8 pictures) carry no information, and L1 cuts their weights to 0.

Why exactly 0: a subgradient step ``w - lr * l1 * sign(w)`` jumps over 0 and back. glassnet stops
a weight at 0 when a step would carry it across (``glassnet/regularizers.py``); the script
prints both on one weight. Writes docs/course/l1_sparsity.png.

    python examples/course/l1_sparsity.py [--quick]
"""
import common
import numpy as np

import glassnet as gn

PENALTIES = {"none": None, "L1 1e-3": gn.regularizers.L1(1e-3), "L2 1e-3": gn.regularizers.L2(1e-3)}


def subgradient_versus_glassnet(w=0.0123, lr=0.05, l1=0.1, steps=6):
    """One weight that the data no longer pulls on (its input is 0), under the L1 term alone:
    the subgradient steps other libraries take, and glassnet's training steps (``fit``)."""
    plain = [w]
    for _ in range(steps):
        plain.append(plain[-1] - lr * l1 * np.sign(plain[-1]))
    model = gn.Sequential([gn.layers.Dense(1, use_bias=False, kernel_regularizer=gn.regularizers.L1(l1),
                                           input_shape=(1,))], dtype="float64")
    model.compile(optimizer=gn.optimizers.SGD(lr), loss="mse")
    model.set_weights([np.array([[w]])])
    weight = model.layers[0].weight.value
    stopped = [w]
    record = gn.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: stopped.append(float(weight[0, 0])))
    model.fit(np.zeros((1, 1)), np.zeros(1), epochs=steps, verbose=0, callbacks=[record])
    return plain, stopped


def run(quick=False, seed=0, figure=None):
    x, y = common.digits(seed)
    results = {}
    for name, penalty in PENALTIES.items():
        model = gn.Sequential([gn.layers.Dense(32, activation="relu", kernel_regularizer=penalty),
                               gn.layers.Dense(10, activation="softmax")], seed=seed)
        model.compile(optimizer=gn.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x[:1000], y[:1000], epochs=15 if quick else 40, batch_size=32, verbose=0)
        w = model.layers[0].weight.value
        accuracy = model.evaluate(x[1000:], y[1000:], verbose=0)[1]
        results[name] = {"weights": w.copy(), "zeros": int(np.count_nonzero(w == 0)),
                         "mean_abs": float(np.abs(w).mean()), "accuracy": float(accuracy)}
        print(f"{name:8} exact zeros {results[name]['zeros']:5d} of {w.size}  mean |w| "
              f"{results[name]['mean_abs']:.4f}  test accuracy {accuracy:.3f}")
    plain, stopped = subgradient_versus_glassnet()
    print("one weight under L1 alone, subgradient steps:", " ".join(f"{v:+.4f}" for v in plain))
    print("the same steps in glassnet (stops at 0):     ", " ".join(f"{v:+.4f}" for v in stopped))
    results["subgradient"], results["stopped"] = plain, stopped
    if figure:
        _figure(results, figure)
    return results


def _figure(results, path):
    fig = common.figure(3, width=3.4)
    for i, name in enumerate(PENALTIES):
        axes = fig.add_subplot(1, 3, i + 1)
        axes.hist(results[name]["weights"].ravel(), bins=60, range=(-0.6, 0.6), color="#1f77b4")
        axes.set_title(f"{name}: {results[name]['zeros']} weights exactly 0", fontsize=9)
        axes.set_xlabel("first-layer weight")
        axes.set_yscale("log")
    common.save(fig, path)


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "l1_sparsity.png")
    run(args.quick, args.seed, args.figure)
