"""The Dense network and the CNN on the same Fashion-MNIST data, measured in one run (docs/cnn.md).

Both train on the 60,000 training pictures and are tested on the 10,000 test pictures, with the
same seed, optimizer (Adam, learning rate 1e-3), loss, batch size (128) and number of epochs:

- Dense: examples/fashion_mnist.py's 784-256-128-10 ReLU network, on rows of 784 pixels;
- CNN: examples/fashion_mnist_cnn.py's network (two 3x3 convolutions of 16 and 32 filters, each
  with BatchNormalization, ReLU and 2x2 max pooling, Dropout 0.25, Dense 64, Dense 10), on
  (28, 28, 1) pictures.

For each it prints the parameters, the multiply-adds of one picture's forward pass, the test
accuracy after every epoch (a callback evaluates the test set; it does not count in the times),
the seconds per epoch, the seconds to predict the test set, and the test accuracy when every test
picture is moved 2 pixels to the right (a picture the network never saw at that place). The load
average of the machine (/proc/loadavg, as ``uptime`` shows it) is printed before and after each
model, since the times depend on what else runs.

    python examples/dense_vs_cnn.py                 # 5 epochs each: about 5 minutes on 2 cores
    python examples/dense_vs_cnn.py --quick         # 4,000 pictures, 1 epoch: a smoke test
"""
import argparse
import os
import platform
import time

import numpy as np

import glassnet as gn
from fashion_mnist import DEFAULT_DIR, load_fashion_mnist
from fashion_mnist_cnn import as_images, build_cnn


def build_dense(seed=0):
    """examples/fashion_mnist.py's network, compiled the same way as the CNN."""
    model = gn.Sequential([
        gn.layers.Input((784,)),
        gn.layers.Dense(256, activation="relu"),
        gn.layers.Dense(128, activation="relu"),
        gn.layers.Dense(10, activation="softmax"),
    ], seed=seed)
    model.compile(optimizer=gn.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def multiply_adds(model):
    """Multiply-adds of one example's forward pass through the Dense and Conv2D layers (the matrix
    products; activations, normalization and pooling are a few operations per value on top)."""
    shape, total = tuple(model.input_shape), 0
    for layer in model.layers:
        out = tuple(layer.compute_output_shape(shape))
        if isinstance(layer, (gn.layers.Dense, gn.layers.Conv2D)):
            # every output value is one dot product as long as the weights one filter/unit has
            total += int(np.prod(out)) * int(np.prod(layer.weight.value.shape[:-1]))
        shape = out
    return total


class Record(gn.callbacks.Callback):
    """Each epoch's wall-clock seconds, then (outside the timing) the test accuracy."""

    def __init__(self, x_test, y_test):
        super().__init__()
        self.x_test, self.y_test = x_test, y_test
        self.seconds, self.accuracy = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)
        predictions = self.model.predict(self.x_test, verbose=0).argmax(axis=1)
        self.accuracy.append(float(np.mean(predictions == self.y_test)))


def shifted(pictures, pixels):
    """The pictures moved ``pixels`` to the right (zeros come in on the left)."""
    moved = np.zeros_like(pictures)
    moved[:, :, pixels:] = pictures[:, :, :-pixels]
    return moved


def measure(name, model, x, y, x_test, y_test, epochs, batch_size):
    load_before = loadavg()
    record = Record(x_test, y_test)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[record])
    start = time.perf_counter()
    predictions = model.predict(x_test, verbose=0).argmax(axis=1)
    predict_seconds = time.perf_counter() - start
    images = x_test.reshape(len(x_test), 28, 28)
    moved = shifted(images, 2).reshape(x_test.shape)
    result = {"name": name, "parameters": model.count_params(), "multiply_adds": multiply_adds(model),
              "accuracy": float(np.mean(predictions == y_test)), "accuracy_per_epoch": record.accuracy,
              "epoch_seconds": record.seconds, "predict_seconds": predict_seconds,
              "shifted_accuracy": float(np.mean(model.predict(moved, verbose=0).argmax(axis=1) == y_test)),
              "load": (load_before, loadavg())}
    print(f"{name}: test accuracy by epoch {' '.join(f'{a:.4f}' for a in record.accuracy)}; "
          f"epochs {' '.join(f'{s:.1f}' for s in record.seconds)} s; load {result['load'][0]} -> {result['load'][1]}",
          flush=True)
    return result


def loadavg():
    """The 1, 5 and 15-minute load averages, as ``uptime`` prints them."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="4,000 training and 2,000 test pictures, 1 epoch")
    parser.add_argument("--data-dir", help=f"folder with the four .gz files (default: $FASHION_MNIST_DIR, else {DEFAULT_DIR})")
    args = parser.parse_args()

    data_dir = args.data_dir or os.environ.get("FASHION_MNIST_DIR") or DEFAULT_DIR
    (x, y), (x_test, y_test) = load_fashion_mnist(data_dir)
    epochs = args.epochs
    if args.quick:
        x, y, x_test, y_test, epochs = x[:4000], y[:4000], x_test[:2000], y_test[:2000], 1
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "OpenBLAS's default")
    print(f"{len(x):,} training and {len(x_test):,} test pictures, {epochs} epochs, batch {args.batch_size}, "
          f"seed {args.seed}; {os.cpu_count()} CPUs, BLAS threads: {threads}; NumPy {np.__version__}, "
          f"Python {platform.python_version()}", flush=True)

    results = [measure("Dense 784-256-128-10", build_dense(args.seed), x, y, x_test, y_test, epochs, args.batch_size),
               measure("CNN", build_cnn(args.seed), as_images(x), y, as_images(x_test), y_test, epochs,
                       args.batch_size)]

    print()
    print("| network | parameters | multiply-adds per picture | test accuracy | seconds per epoch (median) "
          "| predict 10,000 | test moved 2 px right | load before -> after |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        per_10k = r["predict_seconds"] * 10000 / len(x_test)
        print(f"| {r['name']} | {r['parameters']:,} | {r['multiply_adds']:,} | {r['accuracy']:.4f} | "
              f"{np.median(r['epoch_seconds']):.1f} | {per_10k:.2f} s | {r['shifted_accuracy']:.4f} | "
              f"{r['load'][0]} -> {r['load'][1]} |")


if __name__ == "__main__":
    main()
