"""glassnet inside scikit-learn: a Pipeline, a grid search, cross-validation and a model file.

On scikit-learn's breast-cancer data (569 tumours, 30 measurements, malignant or benign) this
script standardizes the columns and trains a ``GlassnetClassifier`` in one ``Pipeline``, picks the
hidden layer size and learning rate with ``GridSearchCV`` (5-fold), reports the test accuracy
next to scikit-learn's ``MLPClassifier`` and ``LogisticRegression`` on the same split, and saves
the chosen network to a glassnet model file and loads it back (no pickle). It takes a few seconds.

Run it from the repository root:  python examples/sklearn_pipeline.py
"""
import os
import tempfile

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from glassnet.sklearn import GlassnetClassifier

x, y = load_breast_cancer(return_X_y=True, as_frame=True)
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)

pipeline = make_pipeline(StandardScaler(), GlassnetClassifier(epochs=100, early_stopping=True, random_state=0))
grid = {"glassnetclassifier__hidden_layer_sizes": [(16,), (64, 32)],
        "glassnetclassifier__learning_rate": [1e-3, 1e-2]}
search = GridSearchCV(pipeline, grid, cv=5).fit(x_train, y_train)
best = search.best_estimator_
network = best[-1]
print(f"best of the grid: {search.best_params_} (cross-validated accuracy {search.best_score_:.4f})")
print(f"it trained {network.n_iter_} epochs (early stopping); best validation loss "
      f"{min(network.history_['val_loss']):.4f}")

scores = cross_val_score(best, x_train, y_train, cv=5)
print(f"5-fold accuracy of that pipeline: {scores.mean():.4f} +/- {scores.std():.4f}")

for name, reference in [("MLPClassifier", MLPClassifier(hidden_layer_sizes=network.hidden_layer_sizes,
                                                        learning_rate_init=network.learning_rate,
                                                        early_stopping=True, max_iter=100, random_state=0)),
                        ("LogisticRegression", LogisticRegression(max_iter=1000))]:
    score = make_pipeline(StandardScaler(), reference).fit(x_train, y_train).score(x_test, y_test)
    print(f"test accuracy, {name}: {score:.4f}")
print(f"test accuracy, glassnet: {best.score(x_test, y_test):.4f}")

with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "breast_cancer.safetensors")
    network.save(path)
    loaded = GlassnetClassifier.load(path)
    features = best[0].transform(x_test)
    same = np.array_equal(loaded.predict_proba(features), network.predict_proba(features))
    print(f"saved to a model file ({os.path.getsize(path):,} bytes) and loaded back: "
          f"{'identical' if same else 'DIFFERENT'} predictions")
