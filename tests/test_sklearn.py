"""The scikit-learn estimators: scikit-learn's own checks, labels of any type, DataFrames,
pipelines and model selection, partial_fit, pickling, and every error a user can cause."""
import importlib
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import glassnet as gn  # noqa: E402
from glassnet import layers, training  # noqa: E402
from glassnet.sklearn import GlassnetClassifier, GlassnetRegressor  # noqa: E402

# The scikit-learn checks that each estimator does not pass, and why (a check that starts passing
# shows as XPASS, one that starts failing as a failure).
WEIGHTS_ARE_NOT_REPEATS = (
    "a weight scales an example's loss in the mean over the batch (Keras's convention), and "
    "mini-batch training puts repeated rows in other batches: weighting equals repeating rows "
    "only approximately")
EXPECTED_FAILED_CHECKS = {
    "GlassnetClassifier": {"check_sample_weight_equivalence_on_dense_data": WEIGHTS_ARE_NOT_REPEATS},
    "GlassnetRegressor": {
        "check_sample_weight_equivalence_on_dense_data": WEIGHTS_ARE_NOT_REPEATS,
        "check_methods_subset_invariance":
            "float32 matrix products: BLAS rounds a row differently depending on how many rows are "
            "multiplied together, by one float32 step, 2.4e-7 for the check's predictions near 2, "
            "more than its tolerance of 1e-7 (the classifier's probabilities, at most 1, stay within it)",
    },
}


@parametrize_with_checks([GlassnetClassifier(), GlassnetRegressor()],
                         expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS[type(estimator).__name__])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    x, y = load_iris(return_X_y=True)
    return x, np.array(["setosa", "versicolor", "virginica"])[y]


def small(cls=GlassnetClassifier, **params):
    return cls(**{"hidden_layer_sizes": (16,), "epochs": 60, "batch_size": 32,
                  "learning_rate": 0.01, "random_state": 0, **params})


def table(n=120, seed=0):
    """A DataFrame with two numeric columns and one text column, and a label that depends on all."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"size": rng.normal(50, 20, n), "weight": rng.normal(0, 1, n),
                          "colour": rng.choice(["red", "green", "blue"], n)})
    score = (frame["size"] - 50) / 20 + frame["weight"] + (frame["colour"] == "red") * 2
    return frame, np.where(score > 0.7, "yes", "no")


# -- what fit learns ---------------------------------------------------------------------------
def test_string_labels_come_back_as_strings(iris):
    x, y = iris
    clf = small().fit(x, y)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert set(clf.predict(x)) <= set(clf.classes_)
    assert clf.score(x, y) > 0.9
    probabilities = clf.predict_proba(x)
    assert probabilities.shape == (150, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-6)


def test_binary_labels_use_one_sigmoid_output(iris):
    x, y = iris
    keep = y != "setosa"
    clf = small().fit(x[keep], y[keep])
    assert clf.model_.output_shape == (1,)
    assert isinstance(clf.model_.layers[-1].activation, layers.Sigmoid)
    probabilities = clf.predict_proba(x[keep])
    assert probabilities.shape == (100, 2)
    assert clf.score(x[keep], y[keep]) > 0.9
    np.testing.assert_array_equal(clf.predict(x[keep]), clf.classes_[(probabilities[:, 1] > 0.5).astype(int)])


def test_the_network_follows_the_hyperparameters(iris):
    x, y = iris
    clf = small(hidden_layer_sizes=(8, 4), activation="tanh", dropout=0.25, l2=1e-3,
                optimizer="sgd", learning_rate=0.05, epochs=2).fit(x, y)
    model = clf.model_
    assert isinstance(model, gn.Sequential)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert [layer.units for layer in model.layers if isinstance(layer, layers.Dense)] == [8, 4, 3]
    assert isinstance(model.layers[0].activation, layers.Tanh)
    assert model.layers[1].rate == 0.25
    assert all(layer.kernel_regularizer.l2 == 1e-3 for layer in model.layers if isinstance(layer, layers.Dense))
    assert isinstance(model.optimizer, gn.optimizers.SGD) and model.optimizer.learning_rate == 0.05
    assert clf.n_features_in_ == 4 and clf.n_iter_ == 2


def test_fit_trains_through_the_one_training_loop(iris, monkeypatch):
    calls = []
    real_fit = training.fit
    monkeypatch.setattr(training, "fit", lambda model, x, y, **kw: calls.append(kw) or real_fit(model, x, y, **kw))
    x, y = iris
    small(epochs=3, batch_size=50).fit(x, y)
    assert [(c["epochs"], c["batch_size"]) for c in calls] == [(3, 50)]


def test_same_random_state_same_network(iris):
    x, y = iris
    first, second = small(epochs=5).fit(x, y), small(epochs=5).fit(x, y)
    np.testing.assert_array_equal(first.predict_proba(x), second.predict_proba(x))
    other = small(epochs=5, random_state=1).fit(x, y)
    assert not np.array_equal(first.predict_proba(x), other.predict_proba(x))


def test_history_has_training_and_validation_loss(iris):
    x, y = iris
    clf = small(epochs=500, early_stopping=True, validation_fraction=0.2, patience=3).fit(x, y)
    assert set(clf.history_) == {"loss", "val_loss"}
    assert len(clf.history_["loss"]) == len(clf.history_["val_loss"]) == clf.n_iter_
    assert clf.n_iter_ < 500, "early stopping should stop well before 500 epochs"
    best = int(np.argmin(clf.history_["val_loss"]))
    assert clf.n_iter_ == best + 1 + 3


def test_without_early_stopping_history_has_training_loss_only(iris):
    x, y = iris
    clf = small(epochs=4).fit(x, y)
    assert list(clf.history_) == ["loss"] and len(clf.history_["loss"]) == 4


def test_sample_weight_moves_the_decision(iris):
    x, y = iris
    keep = y != "setosa"
    x, y = x[keep][:, :1], y[keep]  # one feature: the classes overlap
    plain = small().fit(x, y)
    weights = np.where(y == "virginica", 20.0, 1.0)
    weighted = small().fit(x, y, sample_weight=weights)
    assert (weighted.predict(x) == "virginica").sum() > (plain.predict(x) == "virginica").sum()


def test_unit_sample_weights_change_nothing(iris):
    x, y = iris
    np.testing.assert_allclose(small(epochs=5).fit(x, y, sample_weight=np.ones(150)).predict_proba(x),
                               small(epochs=5).fit(x, y).predict_proba(x), rtol=1e-5, atol=1e-6)


def test_multi_output_regression():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3))
    y = np.column_stack([x @ [1.0, -2.0, 0.5], x[:, 0] - x[:, 2]])
    reg = small(GlassnetRegressor, epochs=150).fit(x, y)
    assert reg.predict(x).shape == (200, 2)
    assert reg.model_.output_shape == (2,)
    assert reg.score(x, y) > 0.95
    single = small(GlassnetRegressor, epochs=2).fit(x, y[:, 0])
    assert single.predict(x).shape == (200,)


# -- DataFrames, pipelines, model selection --------------------------------------------------------
def test_dataframe_feature_names(iris):
    x, y = iris
    frame = pd.DataFrame(x, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
    clf = small(epochs=2).fit(frame, y)
    assert list(clf.feature_names_in_) == list(frame.columns)
    clf.predict(frame)
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame.rename(columns={"sepal_length": "length"}))


def test_pipeline_with_column_transformer():
    frame, y = table(240)
    columns = ColumnTransformer([("numbers", StandardScaler(), ["size", "weight"]),
                                 ("categories", OneHotEncoder(), ["colour"])])
    pipeline = make_pipeline(columns, small(epochs=100)).fit(frame[:180], y[:180])
    assert pipeline.score(frame[180:], y[180:]) > 0.85
    assert pipeline[-1].n_features_in_ == 5


def test_grid_search_and_cross_validation(iris):
    x, y = iris
    search = GridSearchCV(small(epochs=30), {"hidden_layer_sizes": [(4,), (16,)], "learning_rate": [0.01, 0.03]},
                          cv=3).fit(x, y)
    assert search.best_score_ > 0.85
    assert search.best_estimator_.hidden_layer_sizes in [(4,), (16,)]
    rng = np.random.default_rng(0)
    features = rng.standard_normal((150, 3))
    scores = cross_val_score(small(GlassnetRegressor, epochs=100), features, features @ [1.0, 2.0, -1.0], cv=3)
    assert scores.min() > 0.9


# -- partial_fit and pickling ----------------------------------------------------------------------
def test_partial_fit_trains_one_epoch_per_call(iris):
    x, y = iris
    clf = small()
    for _ in range(3):
        clf.partial_fit(x, y, classes=np.unique(y))
    assert clf.n_iter_ == 3 and len(clf.history_["loss"]) == 3
    assert clf.history_["loss"][-1] < clf.history_["loss"][0]
    partial = clf.partial_fit(x[:10], y[:10])  # a batch without all classes is fine
    assert partial is clf and clf.n_iter_ == 4


def test_partial_fit_continues_after_fit():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 2))
    reg = small(GlassnetRegressor, epochs=3).fit(x, x.sum(axis=1))
    before = reg.predict(x)
    reg.partial_fit(x, x.sum(axis=1))
    assert reg.n_iter_ == 4 and not np.array_equal(before, reg.predict(x))


def test_pickled_estimator_keeps_training_exactly(iris):
    x, y = iris
    clf = small(epochs=3).fit(x, y)
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(x), clf.predict_proba(x))
    clf.partial_fit(x, y)
    copy.partial_fit(x, y)
    np.testing.assert_array_equal(copy.predict_proba(x), clf.predict_proba(x))


# -- model files -----------------------------------------------------------------------------------
def test_save_and_load_a_classifier(tmp_path, iris):
    x, y = iris
    frame = pd.DataFrame(x, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
    labels = pd.Series(y, dtype=object)
    clf = small(epochs=30, early_stopping=True).fit(frame, labels)
    clf.save(tmp_path / "iris.safetensors")
    loaded = GlassnetClassifier.load(tmp_path / "iris.safetensors")
    assert loaded.get_params() == clf.get_params()
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    assert loaded.classes_.dtype == object
    np.testing.assert_array_equal(loaded.feature_names_in_, clf.feature_names_in_)
    assert (loaded.n_features_in_, loaded.n_iter_, loaded.history_) == (clf.n_features_in_, clf.n_iter_, clf.history_)
    np.testing.assert_array_equal(loaded.predict_proba(frame), clf.predict_proba(frame))
    np.testing.assert_array_equal(loaded.predict(frame), clf.predict(frame))


def test_save_and_load_a_multi_output_regressor(tmp_path):
    x = np.random.default_rng(0).standard_normal((50, 3))
    reg = small(GlassnetRegressor, epochs=3, random_state=np.random.RandomState(0)).fit(x, x[:, :2])
    reg.save(tmp_path / "reg.safetensors")
    loaded = GlassnetRegressor.load(tmp_path / "reg.safetensors")
    assert loaded.random_state is None, "a RandomState instance is not kept"
    assert not hasattr(loaded, "classes_") and not hasattr(loaded, "feature_names_in_")
    np.testing.assert_array_equal(loaded.predict(x), reg.predict(x))


def test_saved_estimator_is_a_glassnet_model_file(tmp_path, iris):
    x, y = iris
    clf = small(epochs=2, hidden_layer_sizes=[np.int64(8)]).fit(x, y)  # NumPy values from a grid
    clf.save(tmp_path / "iris.safetensors")
    model = gn.load(tmp_path / "iris.safetensors")
    np.testing.assert_array_equal(model.predict(x), clf.model_.predict(x))
    saved = model.metadata["sklearn"]
    assert saved["estimator"] == "GlassnetClassifier"
    assert saved["fitted"]["classes_"]["values"] == ["setosa", "versicolor", "virginica"]
    assert saved["params"]["hidden_layer_sizes"] == [8]


def test_hyperparameters_from_numpy_are_kept_as_plain_values(tmp_path):
    reg = small(GlassnetRegressor, epochs=np.int64(2), hidden_layer_sizes=np.array([4, 3]),
                learning_rate=np.float32(0.01)).fit(X, X[:, 0])
    reg.save(tmp_path / "reg.safetensors")
    loaded = GlassnetRegressor.load(tmp_path / "reg.safetensors")
    assert (loaded.epochs, loaded.hidden_layer_sizes) == (2, (4, 3))
    assert loaded.learning_rate == pytest.approx(0.01)


def test_loaded_estimator_keeps_training_exactly(tmp_path, iris):
    x, y = iris
    clf = small(epochs=3).fit(x, y)
    clf.save(tmp_path / "iris.safetensors", include_optimizer=True)
    loaded = GlassnetClassifier.load(tmp_path / "iris.safetensors")
    clf.partial_fit(x, y)
    loaded.partial_fit(x, y)
    np.testing.assert_array_equal(loaded.predict_proba(x), clf.predict_proba(x))
    assert loaded.n_iter_ == clf.n_iter_ == 4


def saved_with(tmp_path, **sklearn_entry):
    model = small(epochs=1).fit(X, Y).model_
    model.metadata["sklearn"] = {"estimator": "GlassnetClassifier", "params": {}, "fitted": {}, **sklearn_entry}
    model.save(tmp_path / "model.safetensors")
    return tmp_path / "model.safetensors"


def plain_model_file(tmp_path):
    model = gn.Sequential([layers.Input((4,)), layers.Dense(3)], seed=0)
    model.save(tmp_path / "plain.safetensors")
    return tmp_path / "plain.safetensors"


FILE_ERRORS = [
    ("other_estimator", lambda tmp: (fitted(GlassnetRegressor).save(tmp / "r.safetensors"), tmp / "r.safetensors")[1],
     "holds no GlassnetClassifier but GlassnetRegressor"),
    ("plain_model", plain_model_file, "holds no GlassnetClassifier but a glassnet model without one"),
    ("unknown_hyperparameter", lambda tmp: saved_with(tmp, params={"units": 3}), "not valid: sklearn.params must be arguments of GlassnetClassifier.*units"),
    ("unknown_attribute", lambda tmp: saved_with(tmp, fitted={"predict": 1}), "unexpected attribute 'predict'"),
    ("bad_array", lambda tmp: saved_with(tmp, fitted={"classes_": {"values": [0, 1], "dtype": "no such type"}}),
     "not valid: TypeError"),
    ("missing_fields", lambda tmp: saved_with(tmp, params=None), "not valid"),
]


@pytest.mark.parametrize("make_file, message", [case[1:] for case in FILE_ERRORS], ids=[case[0] for case in FILE_ERRORS])
def test_load_refuses_what_is_not_a_saved_estimator(tmp_path, make_file, message):
    with pytest.raises(gn.ModelFileError, match=message):
        GlassnetClassifier.load(make_file(tmp_path))


def test_save_before_fit(tmp_path):
    with pytest.raises(NotFittedError):
        small().save(tmp_path / "never.safetensors")
    assert not list(tmp_path.iterdir())


# -- errors ----------------------------------------------------------------------------------------
X = np.random.default_rng(0).standard_normal((30, 4))
Y = np.arange(30) % 3


def fitted(cls=GlassnetClassifier):
    return small(cls, epochs=1).fit(X, Y)


def with_nan(array):
    array = array.copy()
    array[2, 1] = np.nan
    return array


ERRORS = [
    # (id, action, exception type, part of the message)
    ("nan_fit", lambda: small().fit(with_nan(X), Y), ValueError, "Input X contains NaN"),
    ("nan_predict", lambda: fitted().predict(with_nan(X)), ValueError, "Input X contains NaN"),
    ("nan_target", lambda: small(GlassnetRegressor).fit(X, with_nan(X)[:, 1]), ValueError, "Input y contains NaN"),
    ("features_predict", lambda: fitted().predict(X[:, :3]), ValueError,
     "X has 3 features, but GlassnetClassifier is expecting 4 features"),
    ("features_regressor", lambda: fitted(GlassnetRegressor).predict(X[:, :3]), ValueError,
     "X has 3 features, but GlassnetRegressor is expecting 4 features"),
    ("features_partial_fit", lambda: fitted().partial_fit(X[:, :3], Y), ValueError, "X has 3 features"),
    ("unfitted_predict", lambda: small().predict(X), NotFittedError, "not fitted yet"),
    ("unfitted_proba", lambda: small().predict_proba(X), NotFittedError, "not fitted yet"),
    ("unfitted_regressor", lambda: small(GlassnetRegressor).predict(X), NotFittedError, "not fitted yet"),
    ("one_class", lambda: small().fit(X, np.zeros(30)), ValueError, "at least 2 classes.*one class"),
    ("continuous_labels", lambda: small().fit(X, X[:, 0]), ValueError, "Unknown label type: continuous"),
    ("two_label_columns", lambda: small().fit(X, np.eye(3)[Y]), ValueError, "1d array"),
    ("text_target_regressor", lambda: small(GlassnetRegressor).fit(X, np.array(["a", "b"] * 15)), ValueError,
     "could not convert"),
    ("zero_weights", lambda: small().fit(X, Y, sample_weight=np.zeros(30)), gn.DataError, "zero for every example"),
    ("negative_weights", lambda: small().fit(X, Y, sample_weight=-np.ones(30)), gn.DataError, ">= 0"),
    ("weights_length", lambda: small().fit(X, Y, sample_weight=np.ones(29)), gn.ShapeError, r"shape \(30,\)"),
    ("partial_fit_needs_classes", lambda: small().partial_fit(X, Y), ValueError, "classes must be passed"),
    ("partial_fit_other_classes", lambda: fitted().partial_fit(X, Y, classes=[0, 1, 2, 3]), ValueError,
     r"differs from classes_=\[0, 1, 2\]"),
    ("partial_fit_unknown_label", lambda: fitted().partial_fit(X, Y + 1), gn.DataError, r"not in classes_.*\[3\]"),
    ("partial_fit_one_class", lambda: small().partial_fit(X, Y * 0, classes=[0]), ValueError, "at least 2 classes"),
    ("hidden_sizes", lambda: small(hidden_layer_sizes=(8, 0)).fit(X, Y), gn.ConfigurationError,
     r"hidden_layer_sizes must be positive integers, got \(8, 0\)"),
    ("hidden_sizes_text", lambda: small(hidden_layer_sizes="big").fit(X, Y), gn.ConfigurationError, "hidden_layer_sizes"),
    ("activation", lambda: small(activation="relu6").fit(X, Y), gn.ConfigurationError, "unknown activation 'relu6'"),
    ("activation_object", lambda: small(activation=layers.ReLU()).fit(X, Y), gn.ConfigurationError,
     "activation must be a name such as 'relu'"),
    ("learning_rate_schedule", lambda: small(learning_rate=gn.schedules.ExponentialDecay(0.1, 10, 0.5)).fit(X, Y),
     gn.ConfigurationError, "learning_rate must be a finite number > 0"),
    ("optimizer", lambda: small(optimizer="adadelta").fit(X, Y), gn.ConfigurationError, "unknown optimizer 'adadelta'"),
    ("learning_rate", lambda: small(learning_rate=-1).fit(X, Y), gn.ConfigurationError, "learning_rate"),
    ("epochs", lambda: small(epochs=0).fit(X, Y), gn.ConfigurationError, "epochs must be a positive integer"),
    ("batch_size", lambda: small(batch_size=0).fit(X, Y), gn.ConfigurationError, "batch_size must be a positive"),
    ("dropout", lambda: small(dropout=1.0).fit(X, Y), gn.ConfigurationError, r"Dropout rate must be in \[0, 1\)"),
    ("l2", lambda: small(l2=-1).fit(X, Y), gn.ConfigurationError, "l2 must be a finite number >= 0"),
    ("validation_fraction", lambda: small(early_stopping=True, validation_fraction=1.5).fit(X, Y),
     gn.ConfigurationError, r"validation_fraction must be in \(0, 1\), got 1.5"),
    ("not_data", lambda: small(patience=object()).fit(X, Y), gn.ConfigurationError,
     "object .* cannot be kept in a model file"),
    ("patience", lambda: small(early_stopping=True, patience=-1).fit(X, Y), gn.ConfigurationError, "patience"),
]


@pytest.mark.parametrize("action, error, message", [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS])
def test_errors(action, error, message):
    with pytest.raises(error, match=message):
        action()


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, "glassnet.sklearn")
    monkeypatch.delattr(gn, "sklearn", raising=False)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes "import sklearn" fail
    with pytest.raises(gn.errors.MissingExtraError, match=r"pip install 'glassnet\[sklearn\]'"):
        importlib.import_module("glassnet.sklearn")


def test_errors_are_what_scikit_learn_users_catch():
    assert issubclass(gn.ConfigurationError, ValueError) and issubclass(gn.DataError, ValueError)
    assert issubclass(NotFittedError, (ValueError, AttributeError))


def test_example_pipeline_grid_search_and_model_file():
    script = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "sklearn_pipeline.py")
    result = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "loaded back: identical predictions" in result.stdout
    assert float(result.stdout.split("test accuracy, glassnet: ")[1].split()[0]) > 0.9


# -- class_weight -----------------------------------------------------------------------------------
def test_class_weight_dict_with_labels_equals_the_sample_weights_it_stands_for(iris):
    x, y = iris
    by_class = small(epochs=5, class_weight={"virginica": 3.0, "setosa": 0.5}).fit(x, y)
    by_example = small(epochs=5).fit(x, y, sample_weight=np.select([y == "virginica", y == "setosa"], [3.0, 0.5], 1.0))
    np.testing.assert_array_equal(by_class.predict_proba(x), by_example.predict_proba(x))


def test_balanced_class_weight_is_scikit_learns_and_finds_a_rare_class():
    from sklearn.metrics import recall_score
    from sklearn.utils.class_weight import compute_class_weight
    rng = np.random.default_rng(0)
    y = np.where(rng.random(300) < 0.08, "rare", "common")
    x = rng.standard_normal((300, 2)) + (y == "rare")[:, None] * 1.0
    balanced = compute_class_weight("balanced", classes=np.unique(y), y=y)
    as_weights = small(epochs=20).fit(x, y, sample_weight=balanced[np.searchsorted(np.unique(y), y)])
    clf = small(epochs=20, class_weight="balanced").fit(x, y)
    np.testing.assert_array_equal(clf.predict_proba(x), as_weights.predict_proba(x))
    plain = small(epochs=20).fit(x, y)
    assert recall_score(y, plain.predict(x), pos_label="rare") < 0.5 < recall_score(y, clf.predict(x), pos_label="rare")


def test_class_weight_is_kept_in_the_model_file_with_its_labels(tmp_path, iris):
    x, y = iris
    codes = np.searchsorted(np.unique(y), y)  # integer labels: a JSON object would make them text
    clf = small(epochs=2, class_weight={2: 3.0, 0: 0.5}).fit(x, codes)
    clf.save(tmp_path / "c.safetensors")
    loaded = GlassnetClassifier.load(tmp_path / "c.safetensors")
    assert loaded.get_params()["class_weight"] == {2: 3.0, 0: 0.5}
    loaded.fit(x, codes)  # the labels still match classes_


@pytest.mark.parametrize("estimator, message", [
    (small(class_weight={"daisy": 2.0}), "class_weight has labels that are not in classes_"),
    (small(class_weight="even"), "a dict {class: weight} or 'balanced'"),
    (small(GlassnetRegressor, class_weight="balanced"), "GlassnetRegressor has none"),
])
def test_class_weight_mistakes_are_refused(iris, estimator, message):
    x, y = iris
    with pytest.raises(ValueError, match=message):
        estimator.fit(x, y if isinstance(estimator, GlassnetClassifier) else np.arange(150.0))


def test_partial_fit_refuses_balanced_class_weight(iris):
    x, y = iris
    with pytest.raises(ValueError, match="needs all the rows at once"):
        small(class_weight="balanced").partial_fit(x, y, classes=np.unique(y))
