"""Claim 16: dropout at the rates a course recommends (0.2 to 0.5) shrinks the gap between
training and validation, more as the rate grows, and the validation score does not suffer.

Claim 2's setting: a 784-256-256-10 ReLU network (Adam 1e-3, batches of 32) on 500 training and
2,000 validation pictures of Fashion-MNIST, 40 epochs, the same seed, with ``Dropout(rate)``
after each hidden layer for rates 0, 0.2, 0.3, 0.4 and 0.5. The gap is ``val_loss - loss`` of
the final weights, both the data loss without dropout. Writes docs/course/dropout_rates.png.

Needs the Fashion-MNIST files (``apt-get install -y dataset-fashion-mnist``, or a folder named by
the ``FASHION_MNIST_DIR`` environment variable).

    python examples/course/dropout_rates.py [--quick]
"""
import common

import glassnet as gn


RATES = (0.0, 0.2, 0.3, 0.4, 0.5)


def run(quick=False, seed=0, figure=None, data_dir=None):
    (x, y), _ = common.fashion_mnist(data_dir)
    if quick:  # the tests: a smaller network, 300 pictures, 15 epochs
        train, val, hidden, epochs = (x[:300], y[:300]), (x[10000:11000], y[10000:11000]), [128, 128], 15
    else:
        train, val, hidden, epochs = (x[:500], y[:500]), (x[10000:12000], y[10000:12000]), [256, 256], 40
    results = {}
    for rate in RATES:
        model = common.classifier(hidden, seed, gn.optimizers.Adam(1e-3), dropout=rate)
        history = model.fit(*train, validation_data=val, epochs=epochs, batch_size=32, verbose=0)
        r = results[rate] = {**common.gap(model, train, val), "val_curve": history.history["val_loss"]}
        print(f"dropout {rate:.1f}: train loss {r['loss']:.4f}  val loss {r['val_loss']:.4f}  gap {r['gap']:.4f}  "
              f"val accuracy {r['val_accuracy']:.3f}")
    if figure:
        _figure(results, figure)
    return results


def _figure(results, path):
    fig = common.figure(2)
    gaps, curves = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    rates = list(results)
    gaps.plot(rates, [results[r]["gap"] for r in rates], "o-", color="#d62728", label="gap val_loss - loss")
    gaps.plot(rates, [results[r]["val_loss"] for r in rates], "s--", color="#1f77b4", label="validation loss")
    gaps.set_xlabel("dropout rate")
    gaps.set_ylabel("cross-entropy (final weights, no dropout)")
    score = gaps.twinx()
    score.plot(rates, [results[r]["val_accuracy"] for r in rates], "^:", color="#2ca02c", label="validation accuracy")
    score.set_ylabel("validation accuracy")
    score.set_ylim(0.7, 0.9)
    lines = gaps.get_legend_handles_labels()[0] + score.get_legend_handles_labels()[0]
    gaps.legend(lines, [line.get_label() for line in lines], fontsize=7, loc="lower left")
    gaps.set_title("the gap shrinks as the rate grows", fontsize=10)
    for rate in rates:
        curve = results[rate]["val_curve"]
        curves.plot(range(1, len(curve) + 1), curve, label=f"rate {rate:.1f}")
    curves.set_xlabel("epoch")
    curves.set_ylabel("validation loss (no dropout at evaluation)")
    curves.set_title("validation loss per epoch", fontsize=10)
    curves.legend(fontsize=8)
    common.save(fig, path)


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "dropout_rates.png")
    run(args.quick, args.seed, args.figure)
