"""Fashion-MNIST with a small convolutional network (CNN), through glassnet's Python API.

The pictures are read by examples/fashion_mnist.py's loader (the four IDX gzip files, no download)
and given to the network as what they are, grey 28x28 images with one channel, channels last:
an array of shape (pictures, 28, 28, 1). The network:

    Input (28, 28, 1)
    Conv2D 16 filters 3x3, "same"  -> BatchNormalization -> ReLU  -> (28, 28, 16)
    MaxPooling2D 2x2                                               -> (14, 14, 16)
    Conv2D 32 filters 3x3, "same"  -> BatchNormalization -> ReLU  -> (14, 14, 32)
    MaxPooling2D 2x2                                               -> (7, 7, 32)
    Flatten -> Dropout 0.25 -> Dense 64, ReLU -> Dense 10, softmax

The convolutions have no bias: the BatchNormalization after each adds its own shift (beta), and a
bias before it would be taken away again by the batch mean. The normalizations' moving statistics
(what ``evaluate`` and ``predict`` use) follow the batches with momentum 0.9 rather than Keras's
0.99: they then catch up within a few dozen steps, so a short run (``--quick``: 64 steps) is
tested with statistics that fit its weights; with 0.99 it tested at 0.59 while its last epoch
trained at 0.79. Adam (learning rate 1e-3), sparse
categorical cross-entropy, batches of 128, 5 epochs by default. It prints the summary, one line per
epoch, then the test accuracy (about 90-91%), the training time and the number of parameters
(about 106,000, half of the 784-256-128-10 Dense network's 235,146 in examples/fashion_mnist.py,
which reaches about 88%; docs/cnn.md compares the two).

    python examples/fashion_mnist_cnn.py
    python examples/fashion_mnist_cnn.py --epochs 10 --seed 1
    python examples/fashion_mnist_cnn.py --quick      # 4,000 training pictures, 2 epochs: a smoke test

The files are looked for in ``--data-dir``, else in ``$FASHION_MNIST_DIR``, else in
``/usr/share/datasets/fashion-mnist`` (``apt-get install -y dataset-fashion-mnist``).
"""
import argparse
import os
import time

import numpy as np

import glassnet as gn
from fashion_mnist import DEFAULT_DIR, load_fashion_mnist


def build_cnn(seed=0):
    """The network above, compiled; Sequential with Keras's layer names and arguments."""
    model = gn.Sequential([
        gn.layers.Input((28, 28, 1)),
        gn.layers.Conv2D(16, 3, padding="same", use_bias=False),
        gn.layers.BatchNormalization(momentum=0.9),
        gn.layers.ReLU(),
        gn.layers.MaxPooling2D(),
        gn.layers.Conv2D(32, 3, padding="same", use_bias=False),
        gn.layers.BatchNormalization(momentum=0.9),
        gn.layers.ReLU(),
        gn.layers.MaxPooling2D(),
        gn.layers.Flatten(),
        gn.layers.Dropout(0.25),
        gn.layers.Dense(64, activation="relu"),
        gn.layers.Dense(10, activation="softmax"),
    ], seed=seed)
    model.compile(optimizer=gn.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def as_images(x):
    """Rows of 784 pixels -> (pictures, 28, 28, 1): height, width, one channel (channels last)."""
    return x.reshape(len(x), 28, 28, 1)


class EpochTimes(gn.callbacks.Callback):
    """The wall-clock seconds of each epoch of ``fit``."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def train(model, x_train, y_train, x_test, y_test, epochs, batch_size, verbose=2):
    """Fit, then evaluate on the test pictures: accuracy, seconds of training, seconds per epoch."""
    timer = EpochTimes()
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=verbose, callbacks=[timer])
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {"accuracy": float(accuracy), "seconds": seconds, "epoch_seconds": timer.seconds,
            "parameters": model.count_params()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="train on 4,000 pictures for 2 epochs and test on 2,000 (what the tests run)")
    parser.add_argument("--data-dir", help="folder with the four .gz files "
                                           f"(default: $FASHION_MNIST_DIR, else {DEFAULT_DIR})")
    args = parser.parse_args()

    data_dir = args.data_dir or os.environ.get("FASHION_MNIST_DIR") or DEFAULT_DIR
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(data_dir)
    x_train, x_test = as_images(x_train), as_images(x_test)
    epochs = args.epochs
    if args.quick:
        x_train, y_train, x_test, y_test, epochs = x_train[:4000], y_train[:4000], x_test[:2000], y_test[:2000], 2
    print(f"train: {x_train.shape}, test: {x_test.shape}")

    model = build_cnn(args.seed)
    model.summary()
    result = train(model, x_train, y_train, x_test, y_test, epochs, args.batch_size)
    print()
    print(f"parameters: {result['parameters']:,}")
    print(f"training time: {result['seconds']:.1f}s ({np.median(result['epoch_seconds']):.1f}s per epoch, median)")
    print(f"test accuracy: {result['accuracy']:.4f}")


if __name__ == "__main__":
    main()
