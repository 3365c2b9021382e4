"""Claim 10: the course's table of forward against backward propagation, each row checked on a
real network. Direction, purpose, whether it uses the target, computes the error, changes the
weights, uses the chain rule, needs an optimizer: for the forward pass, the backward pass, and
the update that follows them.

A 64-16-10 network (ReLU, softmax, float64) and 32 of the handwritten digits. Every layer's
forward and every backward closure is wrapped to log its calls, in order; the weights are
copied before and after each phase. The forward pass runs without targets and without a
compiled model; the loss and its gradient are computed from the targets; the backward pass
runs on a model that has no optimizer; then the model is compiled with SGD and takes one
optimizer step. Writes docs/course/forward_backward.png (the calls in time order). The run is
small: ``--quick`` makes the same one.

    python examples/course/forward_backward.py [--quick]
"""
import common
import numpy as np

import glassnet as gn


def logged(model, log):
    """Wrap each layer's forward so that it and the backward closure it returns log their calls."""
    for index, layer in enumerate(model.layers):
        def forward(x, training=False, _layer=layer, _index=index, _forward=layer.forward):
            log.append(("forward", _index, _layer.name))
            y, backward = _forward(x, training)

            def logged_backward(d, _backward=backward):
                log.append(("backward", _index, _layer.name))
                return _backward(d)

            return y, logged_backward

        layer.forward = forward


def changed(before, after):
    """How many weights differ between two ``get_weights()`` lists."""
    return int(sum(np.count_nonzero(a != b) for a, b in zip(before, after)))


def run(quick=False, seed=0, figure=None):
    x, y = common.digits(seed)
    x, y = x[:32].astype(np.float64), y[:32]
    model = gn.Sequential([gn.layers.Dense(16, activation="relu"), gn.layers.Dense(10, activation="softmax")],
                          seed=seed, dtype="float64")
    model.build((64,))
    log = []
    logged(model, log)
    loss = gn.losses.SparseCategoricalCrossentropy()
    r = {}

    w0 = model.get_weights()
    probabilities, backward = model.forward(x, training=True)  # no target anywhere, no optimizer
    r["forward_calls"] = [name for kind, _, name in log if kind == "forward"]
    timeline = list(log)  # one training step's calls in order, for the figure
    r["forward_changed"] = changed(w0, model.get_weights())
    r["forward_needs_target"] = False  # model.forward(x) takes no y: nothing to pass it
    r["predictions_equal_predict"] = bool(np.allclose(probabilities, model.predict(x, verbose=0), rtol=1e-12))
    r["rows_sum_to_one"] = float(np.abs(probabilities.sum(axis=1) - 1).max())
    log.clear()

    error, d_probabilities = loss.value_and_grad(y, probabilities)  # the error needs the targets
    r["loss"] = float(error)
    timeline.append(("loss", len(model.layers), "loss"))
    w1 = model.get_weights()
    r["optimizer_before_backward"] = model.optimizer
    backward(d_probabilities)
    r["backward_calls"] = [name for kind, _, name in log if kind == "backward"]
    timeline += log
    r["backward_changed"] = changed(w1, model.get_weights())
    gradients = [p.grad.copy() for p in model.parameters()]
    r["gradient_shapes_match"] = all(g.shape == p.shape for g, p in zip(gradients, model.parameters()))

    # the same backward with other targets gives other gradients; the forward's output is the same
    log.clear()
    others = (y + 1) % 10
    again, backward_again = model.forward(x, training=True)
    backward_again(loss.value_and_grad(others, again)[1])
    r["forward_same_with_other_targets"] = bool(np.array_equal(again, probabilities))
    r["gradients_change_with_targets"] = float(max(np.abs(p.grad - g).max() for p, g in zip(model.parameters(), gradients)))

    # the chain rule by hand: dL/dW1 = x^T ((dL/dz2 W2^T) * relu'(z1)), dL/dz2 = (p - onehot(y)) / N
    w_1, b_1, w_2, _ = w0
    z1 = x @ w_1 + b_1
    dz2 = (probabilities - np.eye(10)[y]) / len(x)
    by_hand = x.T @ ((dz2 @ w_2.T) * (z1 > 0))
    r["chain_rule_difference"] = float(np.abs(by_hand - gradients[0]).max() / np.abs(gradients[0]).max())
    model.compile(optimizer=gn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    r["gradcheck"] = gn.gradcheck(model, x, y)

    # the update: only the optimizer's step changes the weights
    log.clear()
    model.set_weights(w0)
    for p, g in zip(model.parameters(), gradients):
        p.grad[...] = g
    model.optimizer.step()
    timeline.append(("update", -1, "optimizer"))
    r["timeline"] = timeline
    w2 = model.get_weights()
    r["update_changed"] = changed(w0, w2)
    r["nonzero_gradients"] = int(sum(np.count_nonzero(g) for g in gradients))
    r["weights"] = int(sum(g.size for g in gradients))
    r["update_is_sgd"] = float(max(np.abs(a - (b - 0.1 * g)).max() for a, b, g in zip(w2, w0, gradients)))
    r["update_calls"] = len(log)
    r["loss_after_update"] = float(loss(y, model.predict(x, verbose=0)))
    _print(r)
    if figure:
        r["overlapping_labels"] = _figure(r, figure)
    return r


def table(r):
    """The course's rows, each with what the forward pass, the backward pass and the update did here."""
    return [
        ("direction", " -> ".join(["input"] + r["forward_calls"] + ["output"]),
         " -> ".join(["loss"] + r["backward_calls"]), "-"),
        ("purpose", "predictions: 32 rows of 10 probabilities", f"a gradient for each of the {r['weights']} "
         f"weights ({r['nonzero_gradients']} nonzero)", f"moves the {r['update_changed']} with a nonzero gradient"),
        ("uses the target", "no: forward(x) takes none; other targets, same output", "yes: other targets change "
         f"the gradients by up to {r['gradients_change_with_targets']:.3f}", "no (it reads the gradients)"),
        ("computes the error", f"its output goes to the loss, with y: L = {r['loss']:.4f}", "no: it sends the "
         "error's gradient dL/dz2 = (p - onehot(y)) / 32 back through every layer", "-"),
        ("changes weights", f"no: {r['forward_changed']} changed", f"no: {r['backward_changed']} changed",
         f"yes: {r['update_changed']} changed, w - 0.1 dL/dw (to {r['update_is_sgd']:.0e})"),
        ("uses the chain rule", "no", f"yes: dL/dW1 = x^T((dL/dz2 W2^T) * relu'(z1)) by hand, to "
         f"{r['chain_rule_difference']:.0e}; central differences {'agree' if r['gradcheck'].passed else 'DISAGREE'} "
         f"({r['gradcheck'].max_error:.0e})", "no"),
        ("needs an optimizer", "no (model not compiled)", f"no (model.optimizer is {r['optimizer_before_backward']})",
         "yes: SGD(0.1).step()"),
    ]


def _print(r):
    rows = table(r)
    widths = [max(len(row[k]) for row in rows) for k in range(4)]
    print("  ".join(h.ljust(w) for h, w in zip(("", "forward pass", "backward pass", "update"), widths)))
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    print(f"loss {r['loss']:.4f} before the update, {r['loss_after_update']:.4f} after")


def _figure(r, path):
    """The logged calls of one training step in time order: the forwards up through the layers,
    the loss, the backwards down, the update."""
    fig = common.figure(1, width=6.4, height=3.0)
    axes = fig.add_subplot(1, 1, 1)
    colors = {"forward": "#1f77b4", "loss": "#2ca02c", "backward": "#d62728", "update": "#9467bd"}
    levels = [index + 1 for _, index, _ in r["timeline"]]
    for t, ((kind, _, name), level) in enumerate(zip(r["timeline"], levels)):
        axes.scatter([t], [level], s=220, color=colors[kind], zorder=3)
        label = {"loss": "loss\n(needs y)", "update": "update\n(optimizer)"}.get(kind, f"{kind}\n{name}")
        axes.annotate(label, (t, level), (0, 16), textcoords="offset points", ha="center", fontsize=7)
    axes.plot(range(len(levels)), levels, color="grey", linewidth=0.8, zorder=1)
    top = max(levels)
    axes.set_yticks(range(top + 1), ["weights"] + [f"layer {k}" for k in range(1, top)] + ["loss"], fontsize=8)
    axes.set_xticks(range(len(levels)), [str(t + 1) for t in range(len(levels))], fontsize=8)
    axes.set_xlabel("the calls of one training step, in the order they were logged", fontsize=8)
    axes.set_ylim(-0.6, top + 1.0)
    axes.set_xlim(-0.6, len(levels) - 0.4)
    return common.save(fig, path)


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "forward_backward.png")
    run(args.quick, args.seed, args.figure)
