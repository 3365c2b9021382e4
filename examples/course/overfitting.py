"""Claim 1: a large network on a small training set overfits. The training loss keeps falling
while the validation loss rises, and ``history.diagnose()`` says so.

64-256-256-10 ReLU network, Adam 3e-3, batches of 32, on only 100 of scikit-learn's handwritten
digits; 400 others validate. Writes docs/course/overfitting.png (``gn.plot_history``).

    python examples/course/overfitting.py [--quick]
"""
import common

import glassnet as gn


def run(quick=False, seed=0, figure=None):
    x, y = common.digits(seed)
    model = common.classifier([256, 256], seed, gn.optimizers.Adam(3e-3))
    history = model.fit(x[:100], y[:100], validation_data=(x[1000:1400], y[1000:1400]),
                        epochs=100 if quick else 150, batch_size=32, verbose=0)
    diagnosis = history.diagnose()
    print(diagnosis)
    if figure:
        gn.plot_history(history, figure, title=f"100 training digits, 64-256-256-10: {diagnosis.verdict} "
                        f"from epoch {diagnosis.since_epoch + 1}" if diagnosis.since_epoch else None)
        print(f"wrote {figure}")
    return {"history": history, "diagnosis": diagnosis}


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "overfitting.png")
    run(args.quick, args.seed, args.figure)
