"""glassnet: the project itself, trained only through its public API.

    gn.Sequential([Input, Dense(h, relu)..., Dense(classes)])
    compile(Adam(1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8),
            SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size, epochs, shuffle=True, verbose=0, callbacks=[EpochTimer()])

One fit() call trains every epoch; a small callback records time.perf_counter() at
on_epoch_begin and on_epoch_end, so an epoch's time is exactly what fit spends in it (the
shuffle, gathering the batches, forward, loss, backward, Adam). The input checks fit does once
before the first epoch are part of "loading the data" and are not timed.

--inference trains 1 epoch, then times model.predict(x_test, batch_size=B) for each B of
--infer-batch-sizes (median of --infer-reps repetitions) and reports examples per second.

The glassnet imported is the one in this repository's working tree, whatever is installed.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))                    # benchmarks/: common
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))   # repository root: glassnet
import common  # noqa: E402  (first: pins the BLAS threads before numpy loads)

import time  # noqa: E402

import numpy as np  # noqa: E402

import glassnet as gn  # noqa: E402


class EpochTimer(gn.callbacks.Callback):
    """Seconds spent in each epoch of a fit() call."""

    def __init__(self):
        super().__init__()
        self.times = []
        self._t0 = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._t0)


def build(sizes, seed):
    layers = [gn.layers.Input((sizes[0],))]
    layers += [gn.layers.Dense(units, activation="relu") for units in sizes[1:-1]]
    layers += [gn.layers.Dense(sizes[-1])]  # logits; the loss applies the softmax
    model = gn.Sequential(layers, seed=seed)
    model.compile(
        optimizer=gn.optimizers.Adam(common.LR, beta_1=common.BETA1, beta_2=common.BETA2,
                                     epsilon=common.EPS),
        loss=gn.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def accuracy(model, x, y):
    return float((np.argmax(model.predict(x, batch_size=1000), axis=1) == y).mean())


def main():
    args = common.parse_args(__doc__, inference=True)
    xtr, ytr, xte, yte = common.load(args.workload, args.rows)
    model = build(common.WORKLOADS[args.workload]["sizes"], args.seed)
    timer = EpochTimer()
    epochs = 1 if args.inference else args.epochs
    model.fit(xtr, ytr, batch_size=args.batch, epochs=epochs, shuffle=True, verbose=0,
              callbacks=[timer])
    info = dict(version=gn.__version__, dtype=model.dtype.name, numpy=np.__version__,
                glassnet_path=os.path.dirname(gn.__file__))

    if args.inference:
        results = {}
        for bs in common.infer_batch_sizes(args, len(xte)):
            results[bs] = common.time_inference(lambda: model.predict(xte, batch_size=bs),
                                                len(xte), args.infer_reps)
        common.report_inference("glassnet", args, results, timer.times[0],
                                accuracy(model, xte, yte), n_train=len(xtr), **info)
    else:
        common.report("glassnet", args, timer.times, accuracy(model, xte, yte), n_train=len(xtr),
                      **info)


if __name__ == "__main__":
    main()
