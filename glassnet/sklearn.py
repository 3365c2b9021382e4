"""scikit-learn estimators around a glassnet network: ``GlassnetClassifier``, ``GlassnetRegressor``.

    from glassnet.sklearn import GlassnetClassifier
    clf = GlassnetClassifier(hidden_layer_sizes=(64, 32), epochs=50, random_state=0).fit(X, y)
    clf.predict_proba(X_test)

``fit`` builds a ``Sequential`` (one ``Dense`` layer per entry of ``hidden_layer_sizes``, each
followed by ``Dropout`` when ``dropout > 0``, then the output layer) and trains it with
``model.fit``, glassnet's one training loop. The trained network is ``model_``, so everything
glassnet does with a model works on it (``model_.summary()``, ``model_.to_onnx(path)``).
"""
import numbers
import os

import numpy as np

from .extras import require

require("sklearn", extra="sklearn", purpose="glassnet.sklearn")

from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin  # noqa: E402
from sklearn.utils.multiclass import check_classification_targets  # noqa: E402
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data  # noqa: E402

from . import callbacks, checks  # noqa: E402
from .errors import ConfigurationError, DataError, GlassnetError, ModelFileError  # noqa: E402
from .io import schema  # noqa: E402
from .model import Sequential  # noqa: E402
from .tabular import networks  # noqa: E402

__all__ = ["GlassnetClassifier", "GlassnetRegressor"]

_FLOATS = (np.float64, np.float32)


# The fitted attributes a model file keeps besides the network (``model_``): arrays, then values.
_FITTED_ARRAYS = ("classes_", "feature_names_in_")
_FITTED = _FITTED_ARRAYS + ("n_features_in_", "history_", "n_iter_")
# The dtypes a saved array of labels may have besides strings ("<U<width>"), and the most bytes
# such an array may take once made.
_LABEL_DTYPES = ("|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f4", "<f8", "|O")
_MAX_LABEL_BYTES = 2 ** 26
# The Python values each kind of dtype holds.
_LABEL_VALUES = {"b": (bool,), "i": (int,), "u": (int,), "f": (int, float), "O": (int, float, str)}


def _label_array(name, saved, length):
    """The array ``{"values", "dtype"}`` of ``length`` labels saved for ``name``: a dtype of
    ``_LABEL_DTYPES`` whose values are all of its kind and fit it, or a string dtype ``<U<n>``
    exactly as wide as its longest value and at most ``_MAX_LABEL_BYTES`` in all (a file cannot
    ask for more memory than its labels are worth)."""
    saved = schema.fields(name, saved, ("values", "dtype"))
    dtype = np.dtype(schema.string(f"{name}.dtype", saved["dtype"])[:20])  # TypeError for no dtype
    values = schema.listing(f"{name}.values", saved["values"], length=length)
    if dtype.kind == "U":
        if not all(isinstance(v, str) for v in values):
            schema.refuse(f"{name}.values", f"text for the dtype {dtype.str}", values)
        width = max((len(v) for v in values), default=1)
        if dtype.itemsize != 4 * width or dtype.itemsize * length > _MAX_LABEL_BYTES:
            schema.refuse(f"{name}.dtype", f"'<U{width}', as wide as its longest label (and "
                          f"{_MAX_LABEL_BYTES:,} bytes in all at most)", dtype.str)
    elif dtype.str in _LABEL_DTYPES:
        kinds = _LABEL_VALUES[dtype.kind]
        if not all(isinstance(v, kinds) and isinstance(v, bool) == (dtype.kind == "b") for v in values):
            schema.refuse(f"{name}.values", f"values of the dtype {dtype.str}", values)
    else:
        schema.refuse(f"{name}.dtype", f"one of {', '.join(_LABEL_DTYPES)} or a string dtype", dtype.str)
    return np.array(values, dtype=dtype)


def _plain(value):
    """``value`` as JSON data: NumPy arrays and numbers as lists and Python numbers."""
    if isinstance(value, (np.ndarray, np.generic)):
        return _plain(value.tolist())
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise ConfigurationError(f"{type(value).__name__} {value!r} cannot be kept in a model file "
                             "(only numbers, text and lists of them can)")


def _sample_weights(sample_weight, n):
    """``sample_weight`` checked by glassnet (one finite weight >= 0 per example), not all zero."""
    if sample_weight is None:
        return None
    weights = checks.sample_weights(sample_weight, n)
    if not weights.any():
        raise DataError("sample_weight is zero for every example, so there is nothing to learn from")
    return weights


class _GlassnetEstimator(BaseEstimator):
    """What the classifier and the regressor share: hyperparameters, the network, training.

    Subclasses define ``_validate`` (X and y as scikit-learn checks them), ``_head`` (the output
    layer, the loss and the targets as the loss wants them) and may define ``_learn_targets``.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", optimizer="adam",
                 learning_rate=0.001, batch_size=200, epochs=200, dropout=0.0, l1=0.0, l2=0.0,
                 early_stopping=False, validation_fraction=0.1, patience=10, random_state=None,
                 verbose=0, class_weight=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.dropout = dropout
        self.l1 = l1
        self.l2 = l2
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.verbose = verbose
        self.class_weight = class_weight

    # -- training --------------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Build a new network and train it for ``epochs`` epochs (fewer with early stopping:
        the weights of the epoch with the lowest validation loss are kept). Returns ``self``."""
        X, y = self._validate(X, y, reset=True)
        self._learn_targets(y)
        head, targets = self._head(y)
        seed = self._seed()
        self.model_ = self._network(X.shape[1], head, seed)
        weights = self._weights(targets, sample_weight)
        fit_args = {}
        if self.early_stopping:
            X, targets, weights, fit_args["validation_data"] = self._split(X, targets, weights, seed)
            fit_args["callbacks"] = [callbacks.EarlyStopping(
                monitor="val_loss", patience=self.patience, restore_best_weights=True)]
        history = self.model_.fit(X, targets, batch_size=self.batch_size, epochs=self.epochs,
                                  sample_weight=weights, verbose=self.verbose, **fit_args)
        self.history_ = {key: list(values) for key, values in history.history.items()}
        self.n_iter_ = len(history.epoch)
        self._describe_in_model()
        return self

    def _partial_fit(self, X, y, sample_weight, first_call):
        """One epoch over ``(X, y)``; the first call builds the network."""
        X, y = self._validate(X, y, reset=first_call)
        head, targets = self._head(y)
        if first_call:
            self.model_ = self._network(X.shape[1], head, self._seed())
            self.history_, self.n_iter_ = {"loss": []}, 0
        history = self.model_.fit(X, targets, batch_size=self.batch_size, epochs=1,
                                  sample_weight=self._weights(targets, sample_weight), verbose=self.verbose)
        self.history_["loss"].extend(history.history["loss"])
        self.n_iter_ += 1
        self._describe_in_model()
        return self

    def _validate(self, X, y, reset):
        """X and y checked and converted by scikit-learn (NaN, shapes, ``n_features_in_``)."""
        raise NotImplementedError

    def _learn_targets(self, y):
        """What ``fit`` learns from the targets alone (the classifier's ``classes_``)."""

    def _weights(self, targets, sample_weight):
        """Per-example weights: ``sample_weight`` times ``class_weight``'s weight of each class."""
        weights = _sample_weights(sample_weight, len(targets))
        if self.class_weight is None:
            return weights
        per_class = checks.class_weights(self._class_weight_by_index(), targets, len(self.classes_))
        return per_class if weights is None else weights * per_class

    def _class_weight_by_index(self):
        """``class_weight`` with class indexes (the loss's) for the classifier's labels."""
        raise ConfigurationError(f"class_weight weighs classes, and {type(self).__name__} has none; "
                                 "leave it None and use sample_weight")

    def _head(self, y):
        """``(networks.output_head, targets for the loss)`` for checked ``y``."""
        raise NotImplementedError

    def _seed(self):
        """The network's seed: ``random_state`` itself when it is an int or None."""
        if self.random_state is None or isinstance(self.random_state, numbers.Integral):
            return self.random_state
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _network(self, n_features, head, seed):
        """The compiled, built, untrained network these hyperparameters describe."""
        sizes = networks.hidden_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        return networks.compiled_network(n_features, sizes, head, activation=self.activation,
                                         optimizer=self.optimizer, learning_rate=self.learning_rate,
                                         dropout=self.dropout, l1=self.l1, l2=self.l2, seed=seed)

    def _split(self, X, targets, weights, seed):
        """Hold out ``validation_fraction`` of the examples, shuffled (and stratified by class
        for a classifier), for early stopping: ``(X, targets, weights, validation_data)``."""
        fraction = self.validation_fraction
        if not (isinstance(fraction, numbers.Real) and 0 < fraction < 1):
            raise ConfigurationError(f"validation_fraction must be in (0, 1), got {fraction!r}")
        if weights is None:
            weights = np.ones(len(X))
        train, val = networks.holdout_split(len(X), fraction, seed,
                                            stratify=targets if isinstance(self, ClassifierMixin) else None)
        return X[train], targets[train], weights[train], (X[val], targets[val], weights[val])

    # -- model files -----------------------------------------------------------------------------
    def save(self, path, include_optimizer=False):
        """Write the fitted estimator to a glassnet model file (safetensors and JSON, no pickle):
        the network, and in the file's metadata the hyperparameters and the fitted attributes
        (``classes_``, ``n_features_in_``, ``feature_names_in_``, ``history_``, ``n_iter_``).
        ``include_optimizer=True`` keeps the optimizer state too, so that ``partial_fit``
        continues exactly. ``load`` reads the file back."""
        check_is_fitted(self)
        self._describe_in_model()
        self.model_.save(path, include_optimizer=include_optimizer)

    def _describe_in_model(self):
        """Put the hyperparameters and fitted attributes in ``model_.metadata["sklearn"]``, which
        model files and ONNX files keep (so an exported classifier carries its labels)."""
        params = self.get_params()
        if not (params["random_state"] is None or isinstance(params["random_state"], numbers.Integral)):
            params["random_state"] = None  # a RandomState instance is not data
        if isinstance(params["class_weight"], dict):  # JSON keys are text: pairs keep the labels' type
            params["class_weight"] = [[label, weight] for label, weight in params["class_weight"].items()]
        fitted = {name: _plain(getattr(self, name)) for name in _FITTED if hasattr(self, name)}
        for name in _FITTED_ARRAYS:  # with their dtype, so that labels come back as they were
            if name in fitted:
                fitted[name] = {"values": fitted[name], "dtype": getattr(self, name).dtype.str}
        self.model_.metadata["sklearn"] = {"estimator": type(self).__name__, "params": _plain(params),
                                           "fitted": fitted}

    @classmethod
    def load(cls, path):
        """The estimator saved by ``save`` in ``path``, fitted, ready to predict or to train on.
        Its metadata is checked against the network (``_fitted_attributes``)."""
        model = Sequential.load(path)
        saved = model.metadata.get("sklearn")
        if not isinstance(saved, dict) or saved.get("estimator") != cls.__name__:
            holds = saved.get("estimator") if isinstance(saved, dict) else "a glassnet model without one"
            raise ModelFileError(f"{os.fspath(path)} holds no {cls.__name__} but {str(holds)[:80]}")
        try:
            schema.fields("sklearn", saved, ("estimator", "params", "fitted"))
            params = dict(schema.mapping("sklearn.params", saved["params"]))
            unknown = sorted(set(params) - set(cls._get_param_names()))
            if unknown:
                schema.refuse("sklearn.params", f"arguments of {cls.__name__} ({', '.join(cls._get_param_names())})",
                              unknown)
            if isinstance(params.get("hidden_layer_sizes"), list):
                params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
            if isinstance(params.get("class_weight"), list):
                params["class_weight"] = dict(schema.listing(f"sklearn.params.class_weight[{i}]", pair, 2)
                                              for i, pair in enumerate(params["class_weight"]))
            estimator = cls(**params)
            for name, value in cls._fitted_attributes(saved["fitted"], model).items():
                setattr(estimator, name, value)
        except (GlassnetError, KeyError, TypeError, ValueError, OverflowError) as error:
            raise ModelFileError(f"{os.fspath(path)}: the {cls.__name__} in its metadata is not "
                                 f"valid: {schema.described(error)}") from None
        estimator.model_ = model
        return estimator

    @classmethod
    def _fitted_attributes(cls, fitted, model):
        """The ``fitted`` attributes of a saved estimator, checked against its network ``model``:
        ``classes_`` one label per output (two for a single sigmoid output), sorted and unique;
        ``feature_names_in_`` one name per input, ``n_features_in_`` the inputs; ``history_``
        and ``n_iter_``."""
        unknown = [name for name in schema.mapping("sklearn.fitted", fitted) if name not in _FITTED]
        if unknown:
            raise ModelFileError(f"unexpected attribute {unknown[0][:80]!r}")
        if len(model.input_shape) != 1 or len(model.output_shape) != 1:
            raise ModelFileError(f"the network takes {model.input_shape} and gives {model.output_shape}, not "
                                 "one row of features to one row of outputs")
        inputs, outputs = model.input_shape[0], model.output_shape[0]
        attributes = {}
        if issubclass(cls, ClassifierMixin):
            classes = _label_array("classes_", fitted.get("classes_"), 2 if outputs == 1 else outputs)
            if not np.array_equal(np.unique(classes), classes):
                schema.refuse("classes_", "labels sorted and unique", classes.tolist())
            attributes["classes_"] = classes
        if "feature_names_in_" in fitted:
            names = _label_array("feature_names_in_", fitted["feature_names_in_"], inputs)
            if names.dtype != object or not all(isinstance(n, str) for n in names):
                schema.refuse("feature_names_in_", "text", fitted["feature_names_in_"])
            attributes["feature_names_in_"] = names
        attributes["n_features_in_"] = schema.integer("n_features_in_", fitted.get("n_features_in_"),
                                                      low=inputs, high=inputs)
        attributes["history_"] = {key: [schema.number(f"history_[{key!r}]", v, finite=False)
                                        for v in schema.listing(f"history_[{key!r}]", values)]
                                  for key, values in schema.mapping("history_", fitted.get("history_", {})).items()}
        attributes["n_iter_"] = schema.integer("n_iter_", fitted.get("n_iter_", 0))
        return attributes

    # -- prediction ------------------------------------------------------------------------------
    def _outputs(self, X):
        """The network's outputs for ``X`` after the same checks as in ``fit``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_FLOATS)
        return self.model_.predict(X)


class GlassnetClassifier(ClassifierMixin, _GlassnetEstimator):
    """A neural-network classifier: binary (one sigmoid output, binary cross-entropy) or
    multiclass (softmax outputs, cross-entropy); the labels may be of any type (``classes_``).

    Hyperparameters: ``hidden_layer_sizes`` (units of each hidden ``Dense`` layer), ``activation``
    (of the hidden layers: any glassnet activation name), ``optimizer`` (a name: "adam", "sgd",
    "adamw", "rmsprop", "adagrad", "adamax", "nadam") with ``learning_rate``, ``batch_size``
    (None: the whole data set), ``epochs``, ``dropout`` (rate after each hidden layer),
    ``l1``/``l2`` (penalties on every weight matrix), ``early_stopping`` (hold out
    ``validation_fraction``, stop after ``patience`` epochs without a lower validation loss, keep
    the best weights), ``random_state`` (the network's seed),
    ``verbose`` (0 silent, 1 progress bar, 2 a line per epoch) and ``class_weight`` (scikit-learn's
    convention: None, a dict ``{label: weight}`` or "balanced", ``n / (n_classes * n_c)`` over the
    rows given to ``fit``, before the early-stopping hold-out; a dict only for ``partial_fit``).

    Fitted attributes: ``model_`` (the glassnet ``Sequential``), ``classes_``, ``n_features_in_``,
    ``feature_names_in_`` (from a DataFrame), ``history_`` (``{"loss": [...], "val_loss": [...]}``,
    one value per epoch), ``n_iter_`` (epochs run).
    """

    def _validate(self, X, y, reset):
        X, y = validate_data(self, X, y, reset=reset, dtype=_FLOATS)
        check_classification_targets(y)
        return X, y

    def _learn_targets(self, y):
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 classes to train, got one "
                             f"class: {self.classes_.tolist()!r}")

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train one epoch on ``(X, y)``. The first call builds the network and needs ``classes``,
        every label that will ever be seen (as in scikit-learn's ``SGDClassifier``)."""
        if isinstance(self.class_weight, str) and self.class_weight == "balanced":
            raise ValueError("class_weight='balanced' needs all the rows at once, which partial_fit does not "
                             "see; pass a dict {label: weight} (e.g. computed with scikit-learn's "
                             "compute_class_weight on all labels)")
        first_call = not hasattr(self, "model_")
        if first_call:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit: every "
                                 "label that will ever be seen, e.g. classes=np.unique(y_all)")
            self._learn_targets(np.asarray(classes))
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes={np.unique(classes).tolist()!r} differs from classes_="
                             f"{self.classes_.tolist()!r} of the first call")
        return self._partial_fit(X, y, sample_weight, first_call)

    def _class_weight_by_index(self):
        if not isinstance(self.class_weight, dict):
            return self.class_weight  # "balanced", or refused by checks.class_weights
        unknown = [label for label in self.class_weight if label not in self.classes_]
        if unknown:
            raise ValueError(f"class_weight has labels that are not in classes_ {self.classes_.tolist()!r}: "
                             f"{unknown[:5]!r}")
        return {int(np.searchsorted(self.classes_, label)): weight for label, weight in self.class_weight.items()}

    def _head(self, y):
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise DataError(f"y has labels that are not in classes_ {self.classes_.tolist()!r}: "
                            f"{np.unique(y[unknown])[:5].tolist()!r}")
        index = np.searchsorted(self.classes_, y)
        head = networks.output_head("classification", len(self.classes_))
        return head, index.reshape(-1, 1).astype(np.float32) if head[0] == 1 else index

    def predict_proba(self, X):
        """Class probabilities, shape (n_examples, n_classes), in the order of ``classes_``."""
        return networks.class_probabilities(self._outputs(X).astype(np.float64))

    def predict(self, X):
        """The most probable class of each example (a label from ``classes_``)."""
        probabilities = self.predict_proba(X)  # first: unfitted, it raises before classes_ is read
        return self.classes_[np.argmax(probabilities, axis=1)]


class GlassnetRegressor(RegressorMixin, _GlassnetEstimator):
    """A neural-network regressor (mean squared error, linear outputs); ``y`` may have several
    columns (multi-output regression). The hyperparameters and fitted attributes are those of
    ``GlassnetClassifier`` (without ``classes_``; ``class_weight`` must stay None). Targets are not rescaled: for targets far
    from unit scale wrap it in ``TransformedTargetRegressor(regressor, transformer=StandardScaler())``.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _validate(self, X, y, reset):
        return validate_data(self, X, y, reset=reset, dtype=_FLOATS, multi_output=True, y_numeric=True)

    def partial_fit(self, X, y, sample_weight=None):
        """Train one epoch on ``(X, y)``; the first call builds the network."""
        return self._partial_fit(X, y, sample_weight, first_call=not hasattr(self, "model_"))

    def _head(self, y):
        y = np.asarray(y, dtype=np.float64)
        targets = y.reshape(len(y), -1)
        return networks.output_head("regression", targets.shape[1]), targets

    def predict(self, X):
        """Predictions, shape (n_examples,) for a single target, else (n_examples, n_targets)."""
        outputs = self._outputs(X).astype(np.float64)
        return outputs[:, 0] if outputs.shape[1] == 1 else outputs
