"""Fashion-MNIST with a 784-256-128-10 multilayer perceptron, optionally next to PyTorch.

Fashion-MNIST is 70,000 grey 28x28 pictures of clothes in 10 classes (T-shirt, trouser, pullover,
dress, coat, sandal, shirt, sneaker, bag, ankle boot): 60,000 to train on and 10,000 to test. This
script reads the four gzip-compressed IDX files itself (no download, no extra package), flattens
each picture to 784 numbers in [0, 1], and trains

    Dense(256, relu) -> Dense(128, relu) -> Dense(10, softmax)

with Adam (learning rate 1e-3), sparse categorical cross-entropy and batches of 128 for 10 epochs.
It prints one line per epoch and then the test accuracy (about 88-89%) and the training time.

With ``--torch`` it also trains the same network in PyTorch (nn.Linear layers, Adam lr 1e-3,
CrossEntropyLoss, batch 128, same epochs, 2 CPU threads) and prints both results side by side.
The two do not start from the same random weights (each library has its own initializer and
random generator), so expect accuracies that agree to within a few tenths of a percent.

Run it from the repository root:

    python examples/fashion_mnist.py
    python examples/fashion_mnist.py --torch --epochs 10 --seed 0

The files are looked for in ``--data-dir``, else in ``$FASHION_MNIST_DIR``, else in
``/usr/share/datasets/fashion-mnist`` (where ``apt-get install -y dataset-fashion-mnist`` puts them).
"""
import argparse
import gzip
import os
import time

import numpy as np

import glassnet as gn

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def read_idx(path):
    """Read one gzip-compressed IDX file into a NumPy array.

    An IDX file is a 4-byte header (two zero bytes, a type code, the number of dimensions), then
    each dimension as a big-endian 32-bit integer, then the values. Fashion-MNIST uses type code
    0x08 (unsigned bytes): images have dimensions (n, 28, 28), labels (n,).
    """
    with gzip.open(path, "rb") as f:
        data = f.read()
    zeros, type_code, ndim = data[0:2], data[2], data[3]
    if zeros != b"\x00\x00" or type_code != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    values = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return values.reshape(shape)


def load_fashion_mnist(data_dir):
    """``(x_train, y_train), (x_test, y_test)``: images flattened to 784 float32 values in [0, 1],
    labels as integers 0-9."""
    paths = {key: os.path.join(data_dir, name) for key, name in FILES.items()}
    missing = [p for p in paths.values() if not os.path.exists(p)]
    if missing:
        raise SystemExit(
            "Fashion-MNIST files not found:\n  " + "\n  ".join(missing) + "\n"
            "Install them with `apt-get install -y dataset-fashion-mnist` (they go to "
            f"{DEFAULT_DIR}),\nor point --data-dir or the FASHION_MNIST_DIR environment variable "
            "at a folder holding the four .gz files.")
    arrays = {key: read_idx(path) for key, path in paths.items()}

    def images(a):
        return a.reshape(len(a), 28 * 28).astype(np.float32) / 255.0

    return ((images(arrays["train_images"]), arrays["train_labels"].astype(np.int64)),
            (images(arrays["test_images"]), arrays["test_labels"].astype(np.int64)))


def train_glassnet(x_train, y_train, x_test, y_test, epochs, batch_size, seed):
    model = gn.Sequential([
        gn.layers.Dense(256, activation="relu"),
        gn.layers.Dense(128, activation="relu"),
        gn.layers.Dense(10, activation="softmax"),
    ], seed=seed)
    model.compile(optimizer=gn.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=2)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return accuracy, seconds


def train_torch(x_train, y_train, x_test, y_test, epochs, batch_size, seed):
    """The same network, optimizer, loss, batch size and epochs, written in plain PyTorch."""
    import torch
    from torch import nn

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    # The model outputs logits; CrossEntropyLoss applies the softmax itself (as glassnet does
    # internally when the last layer is a softmax and the loss is a cross-entropy).
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(),
                          nn.Linear(256, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x, y = torch.from_numpy(x_train), torch.from_numpy(y_train)
    generator = torch.Generator().manual_seed(seed)

    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total_loss, correct = 0.0, 0
        for i in range(0, len(x), batch_size):
            rows = order[i:i + batch_size]
            logits = model(x[rows])
            loss = loss_fn(logits, y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(rows)
            correct += (logits.argmax(dim=1) == y[rows]).sum().item()
        print(f"torch epoch {epoch + 1}/{epochs} - loss: {total_loss / len(x):.4f} "
              f"- accuracy: {correct / len(x):.4f}")
    seconds = time.perf_counter() - start

    model.eval()
    with torch.no_grad():
        predictions = model(torch.from_numpy(x_test)).argmax(dim=1).numpy()
    return float((predictions == y_test).mean()), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", help="folder with the four .gz files "
                                           f"(default: $FASHION_MNIST_DIR, else {DEFAULT_DIR})")
    parser.add_argument("--torch", action="store_true", help="also train the same network in PyTorch")
    args = parser.parse_args()

    data_dir = args.data_dir or os.environ.get("FASHION_MNIST_DIR") or DEFAULT_DIR
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(data_dir)
    print(f"train: {x_train.shape}, test: {x_test.shape}")

    results = [("glassnet", *train_glassnet(x_train, y_train, x_test, y_test,
                                            args.epochs, args.batch_size, args.seed))]
    if args.torch:
        results.append(("pytorch", *train_torch(x_train, y_train, x_test, y_test,
                                                args.epochs, args.batch_size, args.seed)))

    print()
    print(f"{'library':<10} {'test accuracy':>14} {'train time':>11}")
    for name, accuracy, seconds in results:
        print(f"{name:<10} {accuracy:>14.4f} {seconds:>10.1f}s")


if __name__ == "__main__":
    main()
