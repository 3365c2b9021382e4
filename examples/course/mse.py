"""Claim 6: the mean squared error punishes big errors more. A house worth 45 (thousand) predicted
at 50 is an error of 5 and a squared error of 25; an error twice as large costs four times as much,
while the mean absolute error only doubles. Numbers from ``gn.losses``; writes docs/course/mse.png.

    python examples/course/mse.py [--quick]
"""
import common
import numpy as np

import glassnet as gn

ERRORS = (0.5, 1, 2, 5, 10, 20)


def run(quick=False, seed=0, figure=None):
    mse, mae = gn.losses.MeanSquaredError(), gn.losses.MeanAbsoluteError()
    house = mse(np.array([[45.0]]), np.array([[50.0]]))
    print(f"house price: true 45, predicted 50 -> error 5, squared error {house:g}")
    table = [(e, mse(np.zeros((1, 1)), np.full((1, 1), e)), mae(np.zeros((1, 1)), np.full((1, 1), e)))
             for e in ERRORS]
    print(f"{'error':>6} {'MSE':>8} {'MAE':>6}")
    for e, squared, absolute in table:
        print(f"{e:6g} {squared:8g} {absolute:6g}")
    if figure:
        fig = common.figure(1, width=5)
        axes = fig.add_subplot(1, 1, 1)
        errors = np.linspace(-10, 10, 201)[:, None]
        axes.plot(errors, [mse(np.zeros((1, 1)), e[None]) for e in errors], label="squared error (MSE)")
        axes.plot(errors, [mae(np.zeros((1, 1)), e[None]) for e in errors], label="absolute error (MAE)")
        axes.annotate("50 vs 45: 25", (5, 25), (-9, 60), arrowprops={"arrowstyle": "->"})
        axes.set_xlabel("error = prediction - target")
        axes.set_ylabel("loss of one example")
        axes.legend(fontsize=8)
        common.save(fig, figure)
    return {"house": house, "table": table}


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "mse.png")
    run(args.quick, args.seed, args.figure)
