"""Claim 2: dropout, L2 and early stopping each shrink the gap between training and validation
that claim 1 shows, on the same data with the same seed.

A 784-256-256-10 ReLU network (Adam 1e-3, batches of 32) on 500 training pictures of
Fashion-MNIST and 2,000 validation pictures is trained four times: as it is, with
``Dropout(0.5)`` after each hidden layer, with ``L2(1e-3)`` on the weights, and with
``EarlyStopping(patience=5, restore_best_weights=True)``. The gap is ``val_loss - loss`` of the
final weights, both the data loss alone (no dropout, no penalty, so the four are comparable); the
validation curves of the figure are that data loss after every epoch too (the history's
``val_loss`` of the L2 run includes its penalty, which the others do not have).
Writes docs/course/regularization.png. (On an easy task such as scikit-learn's digits the plain
network's validation loss barely rises and the differences shrink to a few percent; a harder
task shows what regularization is for.)

Needs the Fashion-MNIST files (``apt-get install -y dataset-fashion-mnist``, or a folder named by
the ``FASHION_MNIST_DIR`` environment variable).

    python examples/course/regularization.py [--quick]
"""
import common

import glassnet as gn


METHODS = ("none", "dropout 0.5", "L2 1e-3", "early stopping")


class DataLoss(gn.callbacks.Callback):
    """The validation cross-entropy alone after every epoch (the history's val_loss adds L2's
    penalty, so L2's curve would not compare with the others')."""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y, self.losses = x, y, []

    def on_epoch_end(self, epoch, logs=None):
        self.losses.append(common.data_loss(self.model, self.x, self.y))


def run(quick=False, seed=0, figure=None, data_dir=None):
    (x, y), _ = common.fashion_mnist(data_dir)
    train, val = (x[:500], y[:500]), (x[10000:12000], y[10000:12000])
    epochs = 25 if quick else 40
    results = {}
    for method in METHODS:
        options = {"dropout": 0.5} if method == "dropout 0.5" else {}
        if method == "L2 1e-3":
            options["kernel_regularizer"] = gn.regularizers.L2(1e-3)
        model = common.classifier([256, 256], seed, gn.optimizers.Adam(1e-3), **options)
        curve = DataLoss(*val)
        callbacks = [curve] + ([gn.callbacks.EarlyStopping(patience=5, restore_best_weights=True)]
                               if method == "early stopping" else [])
        history = model.fit(*train, validation_data=val, epochs=epochs, batch_size=32, verbose=0,
                            callbacks=callbacks)
        r = results[method] = {**common.gap(model, train, val), "epochs": len(history.epoch),
                               "val_curve": curve.losses, "val_loss_logged": history.history["val_loss"]}
        print(f"{method:15} train loss {r['loss']:.4f}  val loss {r['val_loss']:.4f}  gap {r['gap']:.4f}  "
              f"val accuracy {r['val_accuracy']:.3f}  ({len(history.epoch)} epochs)")
    if figure:
        _figure(results, figure)
    return results


def _figure(results, path):
    fig = common.figure(2)
    bars, curves = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    gaps = [results[m]["gap"] for m in METHODS]
    bars.bar(range(len(METHODS)), gaps, color=["#d62728", "#1f77b4", "#2ca02c", "#9467bd"])
    bars.set_xticks(range(len(METHODS)), METHODS, fontsize=8)
    bars.set_ylabel("val_loss - loss (final weights)")
    bars.set_title("the train/validation gap", fontsize=10)
    for method in METHODS:
        curves.plot(range(1, len(results[method]["val_curve"]) + 1), results[method]["val_curve"], label=method)
    curves.set_xlabel("epoch")
    curves.set_ylabel("validation cross-entropy")
    curves.set_title("validation data loss per epoch (no penalty, no dropout)", fontsize=10)
    curves.legend(fontsize=8)
    common.save(fig, path)


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "regularization.png")
    run(args.quick, args.seed, args.figure)
