"""glassnet train on real tables, against scikit-learn's models at their defaults.

    python examples/tables.py                       # breast cancer, wine, diabetes; 5 splits
    python examples/tables.py --out tables/ --seeds 0   # one split; keep the CSV files and models

Exports scikit-learn's bundled breast cancer, wine and diabetes data (no download) to CSV, splits
each into training and test rows (75/25, seeded, stratified for classes; five different splits
by default, as one split of a few hundred rows is a noisy judge), trains with
``glassnet train train.csv --target target`` and its defaults, and scores the test rows. The
references get the same training rows, standardized: MLPClassifier/MLPRegressor and
LogisticRegression/Ridge, all at their defaults. Prints a Markdown table (accuracy, or R² for
diabetes).
"""
import argparse
import os
import tempfile
import warnings

import numpy as np

from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from glassnet.cli import main as glassnet
from glassnet.tabular.model import TableModel
from glassnet.tabular.files import builtin_dataset

DATASETS = {"breast_cancer": "classification", "wine": "classification", "diabetes": "regression"}


def export(name, folder, seed):
    """``(train.csv, test.csv)`` paths for data set ``name``."""
    frame = builtin_dataset(name)
    stratify = frame["target"] if DATASETS[name] == "classification" else None
    train, test = train_test_split(frame, test_size=0.25, random_state=seed, stratify=stratify)
    paths = [os.path.join(folder, f"{name}-{part}.csv") for part in ("train", "test")]
    train.to_csv(paths[0], index=False)
    test.to_csv(paths[1], index=False)
    return paths, train, test


def glassnet_score(train_csv, test_csv, folder, name, extra_args=()):
    model_path = os.path.join(folder, f"{name}.safetensors")
    status = glassnet(["train", train_csv, "--target", "target", "--out", model_path, "--force", "-q",
                       *extra_args])
    assert status == 0, f"glassnet train failed on {name}"
    table = TableModel.load(model_path)
    frame = __import__("pandas").read_csv(test_csv)
    outputs, _ = table.predict(frame)
    scores = table.scores(table.target.encode(frame["target"]), outputs)
    return scores["accuracy" if table.target.task == "classification" else "r2"]


def reference_scores(name, train, test):
    x, y = train.drop(columns="target"), train["target"]
    xt, yt = test.drop(columns="target"), test["target"]
    if DATASETS[name] == "classification":
        models = {"MLPClassifier": MLPClassifier(random_state=0), "LogisticRegression": LogisticRegression()}
    else:
        models = {"MLPRegressor": MLPRegressor(random_state=0), "Ridge": Ridge()}
    scores = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for label, model in models.items():
            scores[label] = make_pipeline(StandardScaler(), model).fit(x, y).score(xt, yt)
    return scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="keep the CSV files and models in this folder")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", default="0,1,2,3,4", help="seeds of the train/test splits")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {}  # (data set, model) -> one score per split
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.out or scratch
        os.makedirs(folder, exist_ok=True)
        for name in args.datasets.split(","):
            for seed in seeds:
                (train_csv, test_csv), train, test = export(name, folder, seed)
                results.setdefault((name, "glassnet"), []).append(
                    glassnet_score(train_csv, test_csv, folder, name))
                for label, score in reference_scores(name, train, test).items():
                    results.setdefault((name, label), []).append(score)
    print(f"| data set | score | glassnet train (defaults) | references | glassnet - best reference |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.datasets.split(","):
        ours = np.mean(results[name, "glassnet"])
        refs = {label: np.mean(v) for (n, label), v in results.items() if n == name and label != "glassnet"}
        best = max(refs, key=refs.get)
        score = "accuracy" if DATASETS[name] == "classification" else "R²"
        shown = ", ".join(f"{label} {value:.4f}" for label, value in refs.items())
        print(f"| {name} | {score} | **{ours:.4f}** | {shown} | {ours - refs[best]:+.4f} |")
    print(f"\nmeans over {len(seeds)} train/test splits (seeds {args.seeds}); per split:")
    for (name, label), scores in results.items():
        print(f"  {name:14s} {label:18s} " + " ".join(f"{s:.4f}" for s in scores))
    return results


if __name__ == "__main__":
    main()
