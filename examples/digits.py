"""One example at a time, mini-batches, or the whole data set: three kinds of gradient descent.

scikit-learn's digits are 1,797 pictures of handwritten digits, each 8x8 pixels with values 0-16
(64 features). This script trains the same small network

    Dense(64, relu) -> Dense(10, softmax)

three times with plain stochastic gradient descent (``gn.optimizers.SGD``), changing only
``fit``'s ``batch_size``:

    batch_size=1     stochastic gradient descent: one update per training example, so many small,
                     noisy steps per epoch; a small learning rate and few epochs are enough.
    batch_size=32    mini-batch descent: one update per 32 examples; the usual choice.
    batch_size=None  full-batch gradient descent: one exact update per epoch (the gradient over
                     the whole training set), so it needs a larger learning rate and many epochs.

Each reaches about 97% test accuracy. At the end it prints a table of batch size, updates per
epoch, epochs, total updates, test accuracy and training time. It takes a few seconds.

Run it from the repository root:

    python examples/digits.py
    python examples/digits.py --seed 1 --epochs 20 50 500
"""
import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import glassnet as gn

# (batch size, learning rate, epochs) for plain SGD. The fewer updates per epoch, the larger the
# learning rate and the more epochs it takes.
SETTINGS = [
    (1, 0.01, 20),
    (32, 0.1, 50),
    (None, 0.5, 500),
]


def load_data():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)  # pixel values 0..16 -> 0..1
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)


def train(x_train, y_train, x_test, y_test, batch_size, learning_rate, epochs, seed):
    model = gn.Sequential([
        gn.layers.Dense(64, activation="relu"),
        gn.layers.Dense(10, activation="softmax"),
    ], seed=seed)
    model.compile(optimizer=gn.optimizers.SGD(learning_rate),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return accuracy, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, nargs=3, metavar=("SGD", "MINI", "FULL"),
                        default=[epochs for _, _, epochs in SETTINGS],
                        help="epochs for batch sizes 1, 32 and None (default: %(default)s)")
    args = parser.parse_args()

    x_train, x_test, y_train, y_test = load_data()
    n = len(x_train)
    print(f"digits: {n} training and {len(x_test)} test examples, {x_train.shape[1]} features")

    rows = []
    for (batch_size, learning_rate, _), epochs in zip(SETTINGS, args.epochs):
        steps = -(-n // (batch_size or n))  # updates per epoch: ceil(n / batch size)
        accuracy, seconds = train(x_train, y_train, x_test, y_test,
                                  batch_size, learning_rate, epochs, args.seed)
        name = "None (full)" if batch_size is None else str(batch_size)
        rows.append((name, learning_rate, steps, epochs, steps * epochs, accuracy, seconds))
        print(f"batch_size={name}: test accuracy {accuracy:.4f}")

    print()
    print(f"{'batch size':<12} {'lr':>5} {'steps/epoch':>11} {'epochs':>6} {'updates':>8} "
          f"{'test acc':>8} {'time':>7}")
    for name, learning_rate, steps, epochs, updates, accuracy, seconds in rows:
        print(f"{name:<12} {learning_rate:>5g} {steps:>11} {epochs:>6} {updates:>8} "
              f"{accuracy:>8.4f} {seconds:>6.2f}s")


if __name__ == "__main__":
    main()
