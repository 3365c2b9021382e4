"""Claim 11: backpropagation is a student correcting a guess. The target is 50, the student
guesses 40: the error is 10, and the gradient says which way and how far to move.

The student is a network of one neuron: one input ``x = 1``, one weight ``w = 40`` (the guess),
no bias, no activation, so its answer is ``w * x = 40``; the loss is the squared error. Six steps
of gradient descent with learning rate 0.25, traced by ``gn.explain`` with every number: each
step computes ``dL/dw = 2 * (guess - 50) * x`` and moves ``w`` against it, and each halves the
error: 40, 45, 47.5, 48.75, ... Writes docs/course/guessing_student.png and the trace
docs/course/explain_student.md.

    python examples/course/guessing_student.py [--quick]
"""
import common
import numpy as np

import glassnet as gn

TARGET, GUESS, LEARNING_RATE = 50.0, 40.0, 0.25


def student():
    """One neuron, one weight: its answer to the input 1 is its weight."""
    model = gn.Sequential([gn.layers.Input((1,)), gn.layers.Dense(1, use_bias=False)], dtype="float64")
    model.compile(optimizer=gn.optimizers.SGD(LEARNING_RATE), loss="mse")
    model.set_weights([np.array([[GUESS]])])
    return model


def run(quick=False, seed=0, figure=None, trace=None):
    steps = 4 if quick else 6
    explained = gn.explain(student(), x=[1.0], y=TARGET, learning_rate=LEARNING_RATE, steps=steps)
    guesses = [GUESS] + [float(step.updates["dense.weight"][2][0, 0]) for step in explained.steps]
    gradients = [float(step.updates["dense.weight"][1][0, 0]) for step in explained.steps]
    errors = [TARGET - g for g in guesses]
    for t, (guess, gradient) in enumerate(zip(guesses, gradients)):
        print(f"step {t + 1}: guess {guess:g}, error {TARGET - guess:g}, loss {(guess - TARGET) ** 2:g}, "
              f"dL/dw = 2 * ({guess:g} - {TARGET:g}) * 1 = {gradient:g}, new guess "
              f"{guess:g} - {LEARNING_RATE:g} * ({gradient:g}) = {guesses[t + 1]:g}")
    if trace:
        common.write_trace(trace, explained.to_markdown())
    result = {"trace": explained, "guesses": guesses, "gradients": gradients, "errors": errors}
    if figure:
        fig = common.figure(2)
        path, error = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        path.plot(range(len(guesses)), guesses, "o-", label="the guess w")
        path.axhline(TARGET, color="#2ca02c", linestyle="--", label="the target 50")
        path.set_xlabel("step of gradient descent")
        path.set_ylabel("guess")
        path.set_title("the student's guess", fontsize=10)
        path.legend(fontsize=8)
        error.bar(range(len(errors)), errors, color="#d62728")
        for t, e in enumerate(errors):
            error.annotate(f"{e:g}", (t, e), ha="center", va="bottom", fontsize=8)
        error.set_ylim(0, 1.15 * errors[0])
        error.set_xlabel("step of gradient descent")
        error.set_ylabel("error = 50 - guess")
        error.set_title("each step halves the error (learning rate 0.25)", fontsize=10)
        common.save(fig, figure)
    return result


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "guessing_student.png", "explain_student.md")
    run(args.quick, args.seed, args.figure, args.trace)
