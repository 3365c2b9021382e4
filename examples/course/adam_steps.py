"""Claim 12: Adam remembers past gradients and gives each weight its own learning rate; momentum
remembers past gradients too.

``gn.explain(optimizer="adam", steps=3)`` (and ``"momentum"``) traces three steps of the default
2-3-1 network on one example: each weight's gradient, Adam's running averages ``m`` (of the
gradients) and ``v`` (of their squares) or momentum's velocity ``b``, with the numbers, each
weight's step size ``lr / (sqrt(v_hat) + eps)`` and its update, next to plain SGD's
``-lr * dL/dw``. Then the same on a real network: a 64-32-10 ReLU network on the handwritten
digits, Adam 0.01, batches of 32; after every step the gradient and Adam's ``m`` and ``v`` of
every weight are read from the optimizer. Writes docs/course/adam_steps.png and the traces
docs/course/explain_optimizers.md.

    python examples/course/adam_steps.py [--quick]
"""
import common
import numpy as np

import glassnet as gn
from glassnet import report


class AdamState(gn.callbacks.Callback):
    """After every step: each trainable weight's gradient and Adam's m and v (the optimizer's own
    state), as flat arrays."""

    def __init__(self):
        super().__init__()
        self.gradients, self.m, self.v = [], [], []

    def on_train_batch_end(self, batch, logs=None):
        parameters = [p for p in self.model.parameters() if p.trainable]
        state = self.model.optimizer.state_dict()["state"]
        self.gradients.append(np.concatenate([p.grad.ravel() for p in parameters]))
        self.m.append(np.concatenate([state[p.name]["m"].ravel() for p in parameters]))
        self.v.append(np.concatenate([state[p.name]["v"].ravel() for p in parameters]))


def sign_changes(series):
    """How many times a series changes sign from one step to the next."""
    signs = np.sign(series)
    return int(np.count_nonzero(signs[1:] * signs[:-1] < 0))


def run(quick=False, seed=0, figure=None, trace=None):
    adam = gn.explain(x=[0.3, -0.5], y=-0.9, optimizer="adam", steps=3, seed=seed)
    momentum = gn.explain(x=[0.3, -0.5], y=-0.9, optimizer="momentum", steps=3, seed=seed)
    first = adam.steps[0]
    moves = np.concatenate([np.abs(u).ravel() for u in first.update.values()])
    sgd_moves = np.concatenate([np.abs(u).ravel() for u in first.sgd.values()])
    print(f"Adam's first step moves every weight of the 2-3-1 network by {moves.min():.4f} to {moves.max():.4f} "
          f"(lr 0.1); plain SGD's would move them by {sgd_moves.min():.5f} to {sgd_moves.max():.4f}")
    print("loss over 3 steps: Adam " + " -> ".join(f"{s.loss_after:.4f}" for s in adam.steps) +
          ", momentum " + " -> ".join(f"{s.loss_after:.4f}" for s in momentum.steps))
    if trace:
        common.write_trace(trace, "# Three steps of Adam and of SGD with momentum\n\n"
                           "`gn.explain(x=[0.3, -0.5], y=-0.9, optimizer=\"adam\", steps=3)`, then `optimizer=\"momentum\"` "
                           "(written by `examples/course/adam_steps.py`).\n\n## Adam\n\n" + adam.to_markdown(3) +
                           "\n## SGD with momentum 0.9\n\nThe same forward and backward pass, then:\n\n" +
                           report.to_markdown([section for section in momentum.sections()
                                               if section.title.startswith(("Step", "3 steps"))], 3))
    x, y = common.digits(seed)
    x, y = x[:1000], y[:1000]
    model = common.classifier([32], seed, gn.optimizers.Adam(0.01))
    recorder = AdamState()
    model.fit(x, y, epochs=2 if quick else 4, batch_size=32, verbose=0, callbacks=[recorder])
    g, m, v = (np.array(a) for a in (recorder.gradients, recorder.m, recorder.v))
    t = len(g)
    rate = 0.01 / (np.sqrt(v[-1] / (1 - 0.999 ** t)) + 1e-7)
    live = np.abs(g).sum(0) > 0  # weights of pixels that are 0 in every picture never get a gradient
    rates = rate[live]
    # shown: the output-layer weight whose gradient flips sign most often more than its m does
    start = len(g[0]) - 32 * 10 - 10
    flips = [sign_changes(g[:, j]) - sign_changes(m[:, j]) for j in range(start, start + 320)]
    pick = start + int(np.argmax(flips))
    result = {"trace_adam": adam, "trace_momentum": momentum, "first_moves": moves, "first_sgd_moves": sgd_moves,
              "steps": t, "rates": rates, "rate_spread": float(np.percentile(rates, 90) / np.percentile(rates, 10)),
              "weight": pick, "g": g[:, pick], "m_hat": m[:, pick] / (1 - 0.9 ** np.arange(1, t + 1)),
              "g_sign_changes": sign_changes(g[:, pick]), "m_sign_changes": sign_changes(m[:, pick])}
    print(f"64-32-10 on the digits, {t} Adam steps: per-weight step sizes lr / (sqrt(v_hat) + eps) from "
          f"{np.percentile(rates, 10):.4f} (10th percentile) to {np.percentile(rates, 90):.4f} (90th), a factor "
          f"{result['rate_spread']:.1f}; SGD's is 0.01 for every weight")
    print(f"one weight's gradient changes sign {result['g_sign_changes']} times in {t} steps, Adam's m "
          f"{result['m_sign_changes']} times")
    if figure:
        _figure(result, figure)
    return result


def _figure(result, path):
    fig = common.figure(2)
    memory, rates = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    steps = np.arange(1, result["steps"] + 1)
    memory.plot(steps, result["g"], color="#aaaaaa", linewidth=0.8, label="its gradient at each step")
    memory.plot(steps, result["m_hat"], color="#d62728", label="Adam's m_hat (the running average)")
    memory.axhline(0, color="black", linewidth=0.5)
    memory.set_xlabel("step")
    memory.set_ylabel("dL/dw of one output-layer weight")
    memory.set_title(f"remembering past gradients: the sign flips {result['g_sign_changes']} times, "
                     f"m_hat's {result['m_sign_changes']}", fontsize=9)
    memory.legend(fontsize=8)
    bins = np.logspace(np.log10(result["rates"].min()), np.log10(result["rates"].max()), 50)
    rates.hist(result["rates"], bins=bins, color="#1f77b4")
    rates.axvline(0.01, color="#d62728", linestyle="--", label="SGD: 0.01 for every weight")
    rates.set_xscale("log")
    rates.set_xlabel(f"Adam's step size lr / (sqrt(v_hat) + eps) after {result['steps']} steps")
    rates.set_ylabel("weights")
    rates.set_title("a learning rate per weight", fontsize=10)
    rates.legend(fontsize=8)
    common.save(fig, path)


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "adam_steps.png", "explain_optimizers.md")
    run(args.quick, args.seed, args.figure, args.trace)
