"""Claim 13: a sigmoid output gives the probability of one of two classes, cat (0) or dog (1), and
with the binary cross-entropy the gradient that starts backpropagation is simply ``dL/dz = p - y``.

A network of 2 inputs (two measurements of an animal, scaled: snout length and ear length), 3
sigmoid neurons and one sigmoid output: ``p = sigmoid(z) = 1 / (1 + exp(-z))`` is the probability
it gives to "dog", ``1 - p`` to "cat". ``gn.explain`` traces one dog through the untrained network
with every number (the loss ``-log p``, ``dL/dz = p - y``, the step, which raises ``p``); then the
network is trained on 200 animals and says "dog" with a high ``p`` for that dog and a low one for
a cat. Writes docs/course/cat_dog.png and the trace docs/course/explain_binary.md.

    python examples/course/cat_dog.py [--quick]
"""
import common
import numpy as np

import glassnet as gn

DOG, CAT = [0.6, -0.1], [-0.5, 0.5]  # snout length, ear length (scaled)


def animals(n, seed):
    """``n`` animals: dogs (1) have longer snouts and shorter ears than cats (0), with overlap."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    snout = np.where(y == 1, 0.5, -0.5) + rng.normal(0, 0.35, n)
    ears = np.where(y == 1, -0.2, 0.4) + rng.normal(0, 0.35, n)
    return np.stack([snout, ears], axis=1), y.astype(np.float64)


def network(seed):
    model = gn.Sequential([gn.layers.Input((2,)), gn.layers.Dense(3, activation="sigmoid"),
                           gn.layers.Dense(1, activation="sigmoid")], seed=seed, dtype="float64")
    model.compile(optimizer=gn.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["binary_accuracy"])
    return model


def run(quick=False, seed=0, figure=None, trace=None):
    model = network(seed)
    explained = gn.explain(model, x=DOG, y=1, learning_rate=0.5)
    last = explained.layers[-1]
    z, p = float(last.z[0, 0]), float(last.outputs[0, 0])
    stepped = network(seed)  # the network after the traced step
    stepped.set_weights([explained.updates[parameter.name][2] for parameter in model.parameters()])
    p_after = float(stepped.predict(np.array([DOG]), verbose=0)[0, 0])
    print(f"untrained: z = {z:.4f}, p(dog) = sigmoid(z) = {p:.4f}; loss -log p = {explained.data_loss:.4f}; "
          f"dL/dz = p - y = {float(last.dz[0, 0]):.4f}; after one step (lr 0.5) p(dog) = {p_after:.4f}")
    x, y = animals(200, seed)
    history = model.fit(x[:150], y[:150], validation_data=(x[150:], y[150:]), epochs=20 if quick else 60,
                        batch_size=16, verbose=0)
    p_dog, p_cat = (float(v) for v in model.predict(np.array([DOG, CAT]), verbose=0)[:, 0])
    accuracy = history.history["val_binary_accuracy"][-1]
    print(f"trained on 150 animals: p(dog) for the dog {p_dog:.3f}, for a cat {p_cat:.3f}; "
          f"validation accuracy {accuracy:.3f} on 50 others")
    if trace:
        common.write_trace(trace, explained.to_markdown())
    result = {"trace": explained, "z": z, "p": p, "p_after_step": p_after, "p_dog": p_dog, "p_cat": p_cat,
              "val_accuracy": accuracy}
    if figure:
        _figure(result, figure)
    return result


def _figure(result, path):
    fig = common.figure(2)
    curve, loss = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    z = np.linspace(-6, 6, 200)
    curve.plot(z, 1 / (1 + np.exp(-z)), color="#1f77b4")
    curve.axhline(0.5, color="grey", linestyle=":", linewidth=0.8)
    curve.plot([result["z"]], [result["p"]], "o", color="#d62728")
    curve.annotate(f"the dog, untrained: z = {result['z']:.2f}, p = {result['p']:.2f}", (result["z"], result["p"]),
                   (-5.8, 0.85), fontsize=8, arrowprops={"arrowstyle": "->"})
    for name, q, color in (("dog", result["p_dog"], "#2ca02c"), ("cat", result["p_cat"], "#9467bd")):
        curve.plot([np.log(q / (1 - q))], [q], "s", color=color, label=f"trained: the {name}, p = {q:.2f}")
    curve.legend(fontsize=8, loc="lower right")
    curve.set_xlabel("z, the output neuron's sum")
    curve.set_ylabel("p = sigmoid(z) = probability of dog")
    curve.set_title("sigmoid: any z becomes a probability", fontsize=10)
    p = np.linspace(0.005, 0.995, 200)
    loss.plot(p, -np.log(p), label="a dog (y = 1): -log p")
    loss.plot(p, -np.log(1 - p), label="a cat (y = 0): -log(1 - p)")
    loss.plot([result["p"]], [-np.log(result["p"])], "o", color="#d62728")
    loss.set_xlabel("p, the probability of dog")
    loss.set_ylabel("binary cross-entropy of one animal")
    loss.set_title(f"dL/dz = p - y = {result['p'] - 1:.2f} for the dog", fontsize=10)
    loss.legend(fontsize=8)
    common.save(fig, path)


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "cat_dog.png", "explain_binary.md")
    run(args.quick, args.seed, args.figure, args.trace)
