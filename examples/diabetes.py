"""Regression on scikit-learn's diabetes data: a small glassnet network next to scikit-learn.

The diabetes data set has 442 patients, 10 measurements each (age, sex, body mass index, blood
pressure and six blood serum values), and a number to predict: how far the disease progressed one
year later. With so few examples a network overfits quickly, so this script shows the usual
defences:

  * standardize the features with the *training* mean and standard deviation (the test set must
    not leak into them), and standardize the target too, so the network predicts numbers near 0;
  * an L2 penalty on the hidden layer's weights (``kernel_regularizer=gn.regularizers.L2(1e-3)``)
    and dropout (``Dropout(0.5)``);
  * ``EarlyStopping(restore_best_weights=True)``: hold out the last 20% of the training data,
    stop when the validation loss has not improved for ``--patience`` epochs, and go back to the
    weights of the best epoch.

The network is Dense(32, relu) -> Dropout(0.5) -> Dense(1), trained with loss "mse". Its
predictions are turned back into the original units before computing the test R^2, which is
printed next to scikit-learn's ``MLPRegressor`` (same hidden layer, batch size and learning
rate, with its own early stopping) and ``Ridge`` (linear regression with an L2 penalty) on the
same split. Expect R^2 values around 0.35-0.39 for all three: this split is a hard one, and the
data are mostly linear. It takes a few seconds.

Run it from the repository root:

    python examples/diabetes.py
    python examples/diabetes.py --seed 1 --patience 50
"""
import argparse
import time

from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor

import glassnet as gn


def load_data():
    """Train/test split with the features standardized by the training statistics."""
    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    x_train = (x_train - mean) / std
    x_test = (x_test - mean) / std
    return x_train, x_test, y_train, y_test


def train_glassnet(x_train, t_train, epochs, patience, seed):
    """Fit on standardized targets ``t_train``; returns the model and the EarlyStopping."""
    model = gn.Sequential([
        gn.layers.Dense(32, activation="relu", kernel_regularizer=gn.regularizers.L2(1e-3)),
        gn.layers.Dropout(0.5),
        gn.layers.Dense(1),
    ], seed=seed)
    model.compile(optimizer=gn.optimizers.Adam(1e-3), loss="mse")
    early_stopping = gn.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                                restore_best_weights=True)
    model.fit(x_train, t_train, epochs=epochs, batch_size=32, validation_split=0.2,
              callbacks=[early_stopping], verbose=0)
    return model, early_stopping


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=1000, help="most epochs to train (default 1000)")
    parser.add_argument("--patience", type=int, default=30, help="EarlyStopping patience (default 30)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    x_train, x_test, y_train, y_test = load_data()
    # Standardize the target with the training statistics; predictions are mapped back below.
    y_mean, y_std = y_train.mean(), y_train.std()
    t_train = (y_train - y_mean) / y_std
    print(f"diabetes: {len(x_train)} training and {len(x_test)} test examples, "
          f"{x_train.shape[1]} features")

    results = []

    start = time.perf_counter()
    model, early_stopping = train_glassnet(x_train, t_train, args.epochs, args.patience, args.seed)
    predictions = model.predict(x_test)[:, 0] * y_std + y_mean  # back to the original units
    results.append(("glassnet MLP", r2_score(y_test, predictions), time.perf_counter() - start))
    # (val_loss is the validation MSE on the standardized target plus the L2 penalty, as in Keras)
    print(f"glassnet: trained {len(model.history.epoch)} epochs, best val_loss "
          f"{early_stopping.best:.4f} at epoch {early_stopping.best_epoch + 1} (weights restored)")

    start = time.perf_counter()
    mlp = MLPRegressor(hidden_layer_sizes=(32,), alpha=1.0, batch_size=32, learning_rate_init=1e-3,
                       max_iter=2000, early_stopping=True, validation_fraction=0.2,
                       n_iter_no_change=args.patience, random_state=args.seed)
    mlp.fit(x_train, t_train)
    predictions = mlp.predict(x_test) * y_std + y_mean
    results.append(("sklearn MLPRegressor", r2_score(y_test, predictions), time.perf_counter() - start))

    start = time.perf_counter()
    ridge = Ridge(alpha=1.0).fit(x_train, y_train)
    results.append(("sklearn Ridge", r2_score(y_test, ridge.predict(x_test)), time.perf_counter() - start))

    print()
    print(f"{'model':<22} {'test R^2':>8} {'time':>7}")
    for name, r2, seconds in results:
        print(f"{name:<22} {r2:>8.4f} {seconds:>6.2f}s")


if __name__ == "__main__":
    main()
