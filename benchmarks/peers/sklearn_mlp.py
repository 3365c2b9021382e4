"""scikit-learn: MLPClassifier(solver='adam', alpha=0), one partial_fit() call per epoch.

partial_fit makes one shuffled pass over the data and keeps the Adam state between calls (a
fit(max_iter=1, warm_start=True) loop would re-create the optimizer each epoch). alpha=0 turns
off scikit-learn's default L2 penalty, which the other peers do not have. float32 inputs stay
float32 (scikit-learn >= 1.2); the dtype of the weights is reported.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common  # noqa: E402  (first: pins the BLAS threads before numpy loads)

import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402


def main():
    args = common.parse_args(__doc__)
    xtr, ytr, xte, yte = common.load(args.workload, args.rows)
    sizes = common.WORKLOADS[args.workload]["sizes"]
    clf = MLPClassifier(
        hidden_layer_sizes=sizes[1:-1], activation="relu", solver="adam", alpha=0.0,
        batch_size=args.batch, learning_rate_init=common.LR, beta_1=common.BETA1,
        beta_2=common.BETA2, epsilon=common.EPS, shuffle=True, random_state=args.seed,
    )
    classes = np.arange(sizes[-1])
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(args.epochs):
            t0 = time.perf_counter()
            clf.partial_fit(xtr, ytr, classes=classes)
            times.append(time.perf_counter() - t0)
    acc = float((clf.predict(xte) == yte).mean())
    common.report("sklearn-mlp", args, times, acc, n_train=len(xtr), version=sklearn.__version__,
                  dtype=str(clf.coefs_[0].dtype))


if __name__ == "__main__":
    main()
