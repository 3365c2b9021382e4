"""Quickstart: train a small network on scikit-learn's handwritten digits in a few seconds.

Shows the whole glassnet workflow: build a Sequential model, print its summary, compile it with
Adam, train with EarlyStopping on a validation split, and measure the test accuracy (about 97%).
Run it from the repository root:  python examples/quickstart.py [--epochs 200] [--seed 0]
"""
import argparse

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import glassnet as gn

parser = argparse.ArgumentParser(description="glassnet quickstart on the digits data")
parser.add_argument("--epochs", type=int, default=200)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

x, y = load_digits(return_X_y=True)  # 1,797 images of 8x8 pixels with values 0..16, labels 0..9
x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.25, random_state=0, stratify=y)

model = gn.Sequential([
    gn.layers.Input((64,)),
    gn.layers.Dense(64, activation="relu"),
    gn.layers.Dropout(0.2),
    gn.layers.Dense(10, activation="softmax"),
], seed=args.seed)
model.summary()
model.compile(optimizer=gn.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
stop = gn.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, validation_split=0.2, callbacks=[stop], verbose=0)

loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"trained {len(model.history.epoch)} epochs (best at epoch {stop.best_epoch + 1})")
print(f"test accuracy: {accuracy:.4f}")
