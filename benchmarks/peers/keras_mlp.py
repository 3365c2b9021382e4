"""Keras 3 on the JAX backend: keras.Sequential of Dense layers and model.fit, as a user writes it.

The same API glassnet copies, so this is the closest like-for-like peer: Dense(h, relu) layers,
a final Dense(classes) on logits, SparseCategoricalCrossentropy(from_logits=True), Adam, one
fit() call with shuffle=True and verbose=0 (Keras compiles its train step with XLA by default).
Epoch times come from a callback (on_epoch_begin -> on_epoch_end), exactly as for glassnet.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common  # noqa: E402  (first: pins the BLAS threads before keras/jax load)

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true")

import time  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._t0)


def main():
    args = common.parse_args(__doc__)
    keras.utils.set_random_seed(args.seed)
    xtr, ytr, xte, yte = common.load(args.workload, args.rows)
    sizes = common.WORKLOADS[args.workload]["sizes"]
    model = keras.Sequential([keras.Input((sizes[0],))]
                             + [keras.layers.Dense(h, activation="relu") for h in sizes[1:-1]]
                             + [keras.layers.Dense(sizes[-1])])
    model.compile(
        optimizer=keras.optimizers.Adam(common.LR, beta_1=common.BETA1, beta_2=common.BETA2,
                                        epsilon=common.EPS),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    timer = EpochTimer()
    model.fit(xtr, ytr.astype(np.int32), batch_size=args.batch, epochs=args.epochs, shuffle=True,
              verbose=0, callbacks=[timer])
    logits = model.predict(xte, batch_size=1000, verbose=0)
    acc = float((np.argmax(logits, axis=1) == yte).mean())
    common.report("keras-jax", args, timer.times, acc, n_train=len(xtr), version=keras.__version__,
                  backend=keras.backend.backend(), dtype=str(model.weights[0].dtype))


if __name__ == "__main__":
    main()
