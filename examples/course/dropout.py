"""Claim 9: inverted dropout (glassnet, Keras, PyTorch: scale by 1/keep in training, nothing at
test time) and the classic form (all neurons at test time, outputs multiplied by keep) give the
next layer the same expected outputs.

For the 64 hidden outputs of a 64-64-10 ReLU network trained on the digits, with rate 0.5: the
mean over many dropout masks of what the next layer receives in training, against what it
receives at test time, for both forms. ``examples/dropout_equivalence.py`` shows the exact
equivalence of the two forms (weights ``keep * W``). Writes docs/course/dropout.png.

    python examples/course/dropout.py [--quick]
"""
import common
import numpy as np

import glassnet as gn


def run(quick=False, seed=0, figure=None, rate=0.5):
    x, y = common.digits(seed)
    model = common.classifier([64], seed, gn.optimizers.Adam(1e-3))
    model.fit(x[:1000], y[:1000], epochs=5, verbose=0)
    hidden = model.layers[0](x[:1])[0]  # the hidden layer's outputs for one picture
    dropout = gn.layers.Dropout(rate)
    dropout.ensure_built(hidden.shape, np.random.default_rng(seed), np.float32)
    masks = 5_000 if quick else 50_000
    trials = np.repeat(hidden[None], masks, axis=0)
    inverted_train = dropout.forward(trials, training=True)[0]
    keep = 1 - rate
    classic_train = inverted_train * keep  # the same masks, without the 1/keep scaling
    result = {"hidden": hidden, "inverted_train": inverted_train.mean(0), "inverted_test": dropout.forward(hidden[None])[0][0],
              "classic_train": classic_train.mean(0), "classic_test": keep * hidden}
    scale = hidden.max()
    result["inverted_difference"] = float(np.abs(result["inverted_train"] - result["inverted_test"]).max() / scale)
    result["classic_difference"] = float(np.abs(result["classic_train"] - result["classic_test"]).max() / scale)
    print(f"rate {rate}, {masks} masks: largest difference between the mean training output and the test "
          f"output, relative to the largest output: inverted {result['inverted_difference']:.2%}, "
          f"classic {result['classic_difference']:.2%}")
    if figure:
        fig = common.figure(2)
        for i, form in enumerate(("classic", "inverted")):
            axes = fig.add_subplot(1, 2, i + 1)
            axes.scatter(result[f"{form}_test"], result[f"{form}_train"], s=10)
            top = max(result[f"{form}_test"].max(), 1e-6)
            axes.plot([0, top], [0, top], color="grey", linestyle=":")
            axes.set_xlabel("test-time output" + (" (keep * x)" if form == "classic" else " (x)"))
            axes.set_ylabel("mean training output over the masks")
            axes.set_title(f"{form} dropout, rate {rate}", fontsize=10)
        common.save(fig, figure)
    return result


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "dropout.png")
    run(args.quick, args.seed, args.figure)
