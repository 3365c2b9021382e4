"""API cases: public functions called with drawn arguments (odd shapes and dtypes, NaN, infinity,
values beyond float32, wrong types, strings, None, negative numbers, bools, nested lists); graph
models (``gn.Model`` built from inputs and outputs of the wrong kinds, dicts with odd keys, lists of
the wrong length; called with x and y as dicts with keys missing or extra, mismatched rows, ids
out of range or not whole; compiled with losses, loss weights and metrics per output that do not
fit), merge layers on odd lists, and an Embedding fed by another layer.

A call either works ("works"; where a case can tell, it also checks the result and answers
"wrong" when it is not right) or raises a ``GlassnetError``. Sizes are capped so that a call that
works runs in milliseconds; sizes that would not fit in memory are drawn too, and must be refused
before anything is allocated.
"""
import numpy as np

import glassnet as gn
from glassnet import callbacks, initializers, layers, losses, optimizers, regularizers, schedules

from . import Case

SHAPES = [(), (0,), (4,), (4, 1), (4, 2), (4, 3), (4, 0), (1, 3), (4, 3, 2), (3,), (5, 3), (2, 2)]
DTYPES = [np.float32, np.float64, np.int64, np.bool_, np.uint8, np.float16, np.complex128, object, str]
FILLS = ["normal", "labels", "nan", "inf", "huge", "negative", "zeros"]
ODD = [None, 0, -1, 1, 2, 2.5, -0.5, True, False, "x", "0.2", float("nan"), float("inf"), 1e39, 10**30,
       [], [1, 2], {"a": 1}, (2,), np.int64(3), np.float32(0.5), object()]
ACTIVATIONS = ["relu", "softmax", "sigmoid", "tanh", "linear", None, "nope", 3, layers.LeakyReLU(), "gelu"]
LOSSES = [losses.MeanSquaredError, losses.MeanAbsoluteError, losses.Huber, losses.BinaryCrossentropy,
          losses.CategoricalCrossentropy, losses.SparseCategoricalCrossentropy, losses.BinaryFocalCrossentropy,
          losses.KLDivergence, losses.Hinge, losses.Poisson]


def pick(rng, values):
    return values[rng.integers(len(values))]


def array(rng):
    """An array of a drawn shape, dtype and fill, or a list (nested, ragged) or a scalar."""
    kind = rng.integers(10)
    if kind == 0:
        return pick(rng, [[[1.0], [2.0, 3.0]], ["a", "b"], [None, 1.0], [[1, 2], [3, 4]], [0, 1, 1, 0], 3.0, "abc"])
    shape, fill = pick(rng, SHAPES), pick(rng, FILLS)
    values = {"normal": lambda: rng.standard_normal(shape), "labels": lambda: rng.integers(0, 3, shape),
              "nan": lambda: np.full(shape, np.nan), "inf": lambda: np.full(shape, -np.inf),
              "huge": lambda: np.full(shape, 1e39), "negative": lambda: -rng.integers(1, 5, shape),
              "zeros": lambda: np.zeros(shape)}[fill]()
    if kind == 1:
        return values.tolist()
    dtype = pick(rng, DTYPES) if kind < 5 else np.float64
    with np.errstate(all="ignore"):
        return np.asarray(values).astype(dtype)


def value(rng, good):
    """``good`` most of the time, else an odd value."""
    return good if rng.random() < 0.6 else pick(rng, ODD)


def data(rng, n=6, features=3):
    """``(x, y)`` that a model of ``features`` inputs and 3 classes trains on, or drawn arrays."""
    x = rng.standard_normal((n, features)).astype(np.float32) if rng.random() < 0.6 else array(rng)
    y = rng.integers(0, 3, n) if rng.random() < 0.6 else array(rng)
    return x, y


# -- the cases: each returns a zero-argument function and a description -------------------------

def loss_call(rng):
    cls = pick(rng, LOSSES)
    loss = cls(from_logits=bool(rng.integers(2))) if issubclass(cls, losses._CrossEntropy) else cls()
    y_true, y_pred = array(rng), array(rng)
    weight = None if rng.random() < 0.7 else array(rng)
    method = pick(rng, ["__call__", "value_and_grad", "per_example"])

    def run():
        if method == "per_example":
            result = loss.per_example(y_true, y_pred)
        else:
            result = getattr(loss, method)(y_true, y_pred, weight)
        return _check_loss(loss, y_true, y_pred, weight, method, result)

    return run, f"{loss!r}.{method}({_text(y_true)}, {_text(y_pred)}, sample_weight={_text(weight)})"


def _check_loss(loss, y_true, y_pred, weight, method, result):
    """For the mean squared error without weights, compare with NumPy in float64 under the
    documented shape rule; for every loss, the gradient must have the predictions' shape."""
    p = np.asarray(y_pred, dtype=np.float64)
    grad = result[1] if method != "__call__" else None
    if grad is not None and grad.shape != p.shape:
        return "wrong"
    if type(loss) is losses.MeanSquaredError and weight is None and method != "per_example":
        y = np.asarray(y_true, dtype=np.float64)
        if y.ndim == 1 and p.shape[1:] == (1,):
            y = y[:, None]
        if y.shape != p.shape:
            return "wrong"  # a broadcast went through
        value = result if method == "__call__" else result[0]
        expected = np.mean((p - y) ** 2) if p.size else 0.0
        if not np.isclose(value, expected, rtol=1e-4, equal_nan=True):
            return "wrong"
    return "works"


def constructor(rng):
    makers = [
        ("Dense", lambda: layers.Dense(value(rng, 3), activation=pick(rng, ACTIVATIONS),
                                       input_shape=value(rng, (3,)), use_bias=value(rng, True))),
        ("Dense(10**12)", lambda: _built(layers.Dense(pick(rng, [10**12, 10**30, 2**40])), (3,))),
        ("Input", lambda: layers.Input(value(rng, (3,)))),
        ("Input huge", lambda: _built(gn.Sequential([layers.Input((10**6, 10**6)), layers.Flatten(),
                                                     layers.Dense(2)]), None)),
        ("Dropout", lambda: layers.Dropout(value(rng, 0.5))),
        ("LeakyReLU", lambda: layers.LeakyReLU(value(rng, 0.2))),
        ("Huber", lambda: losses.Huber(value(rng, 1.0))),
        ("CrossEntropy", lambda: losses.CategoricalCrossentropy(label_smoothing=value(rng, 0.1))),
        ("SGD", lambda: optimizers.SGD(value(rng, 0.1), momentum=value(rng, 0.9), nesterov=value(rng, False))),
        ("Adam", lambda: optimizers.Adam(value(rng, 1e-3), beta_1=value(rng, 0.9), beta_2=value(rng, 0.999),
                                         epsilon=value(rng, 1e-7), clipnorm=value(rng, None))),
        ("RMSprop", lambda: optimizers.RMSprop(value(rng, 1e-3), rho=value(rng, 0.9), centered=value(rng, False),
                                               global_clipnorm=value(rng, None), clipvalue=value(rng, None))),
        ("Adagrad", lambda: optimizers.Adagrad(value(rng, 1e-3), initial_accumulator_value=value(rng, 0.1),
                                               epsilon=value(rng, 1e-7), weight_decay=value(rng, 0.0))),
        ("Adamax", lambda: optimizers.Adamax(value(rng, 1e-3), beta_1=value(rng, 0.9), beta_2=value(rng, 0.999),
                                             epsilon=value(rng, 1e-7))),
        ("Nadam", lambda: optimizers.Nadam(value(rng, 1e-3), beta_1=value(rng, 0.9), beta_2=value(rng, 0.999),
                                           momentum_decay=value(rng, 0.004), clipnorm=value(rng, None))),
        ("BinaryFocalCrossentropy", lambda: losses.BinaryFocalCrossentropy(
            apply_class_balancing=value(rng, False), alpha=value(rng, 0.25), gamma=value(rng, 2.0),
            from_logits=value(rng, False), label_smoothing=value(rng, 0.0))),
        ("Embedding", lambda: layers.Embedding(value(rng, 10), value(rng, 3),
                                               embeddings_initializer=value(rng, "uniform"),
                                               embeddings_regularizer=value(rng, None))),
        ("StepDecay", lambda: schedules.StepDecay(value(rng, 0.1), value(rng, 2), value(rng, 0.5))),
        ("ExponentialDecay", lambda: schedules.ExponentialDecay(value(rng, 0.1), value(rng, 2), value(rng, 0.9),
                                                                staircase=value(rng, False))),
        ("CosineDecay", lambda: schedules.CosineDecay(value(rng, 0.1), value(rng, 10), value(rng, 0.0))),
        ("L1L2", lambda: regularizers.L1L2(value(rng, 0.01), value(rng, 0.01))),
        ("regularizers.get", lambda: regularizers.get(value(rng, "l2"))),
        ("initializer", lambda: pick(rng, list(initializers.INITIALIZERS.values()))(
            value(rng, (3, 2)), value(rng, np.random.default_rng(0)), value(rng, np.float32))),
        ("initializers.get", lambda: initializers.get(value(rng, "he_normal"))),
        ("losses.get", lambda: losses.get(value(rng, "mse"))),
        ("optimizers.get", lambda: optimizers.get(value(rng, "adam"))),
        ("metrics.get", lambda: gn.metrics.get(value(rng, "accuracy"), pick(rng, LOSSES)())),
        ("EarlyStopping", lambda: callbacks.EarlyStopping(monitor=value(rng, "loss"), patience=value(rng, 2),
                                                          mode=value(rng, "auto"), min_delta=value(rng, 0.0))),
        ("ReduceLROnPlateau", lambda: callbacks.ReduceLROnPlateau(factor=value(rng, 0.5), patience=value(rng, 2))),
        ("LearningRateScheduler", lambda: callbacks.LearningRateScheduler(value(rng, lambda epoch: 0.1))),
        ("Sequential", lambda: gn.Sequential(value(rng, [layers.Dense(2)]), seed=value(rng, 0),
                                             dtype=value(rng, "float32"), name=value(rng, "m"))),
    ]
    name, make = makers[rng.integers(len(makers))]
    return lambda: (make(), "works")[1], f"construct {name}"


def _built(layer_or_model, shape):
    """Build (the memory needed must be refused before any allocation)."""
    if isinstance(layer_or_model, gn.Sequential):
        layer_or_model.build()
    else:
        layer_or_model.ensure_built(shape, np.random.default_rng(0), np.float32)
    return layer_or_model


def _model(rng):
    """A function that makes a small compiled model of drawn activation, loss, optimizer, metrics."""
    activation = pick(rng, ["softmax", "relu", None, "sigmoid"])
    loss = pick(rng, ["sparse_categorical_crossentropy", "mse", "categorical_crossentropy", "binary_crossentropy",
                      "mae", losses.SparseCategoricalCrossentropy(from_logits=True), "binary_focal_crossentropy",
                      "kl_divergence", "hinge", "poisson"])
    optimizer = pick(rng, ["adam", "sgd", "rmsprop", optimizers.SGD(1e30), "adagrad", "adamax", "nadam",
                           optimizers.Nadam(momentum_decay=1)])
    metrics = value(rng, ["accuracy"] if "crossentropy" in str(loss) else ["mae"])

    def make():
        model = gn.Sequential([layers.Dense(4, activation="relu"), layers.Dense(3, activation=activation)], seed=0)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
        return model

    return make


def fit(rng):
    x, y = data(rng)
    options = {
        "batch_size": value(rng, pick(rng, [2, None, 10**12])), "epochs": pick(rng, [1, 2, 0, -1, True, 2.5, "2", None]),
        "verbose": value(rng, 0), "validation_split": value(rng, 0.0), "shuffle": value(rng, True),
        "class_weight": None if rng.random() < 0.6 else pick(rng, [{0: 1.0, 1: 2.0}, {0: np.nan}, {0: -1.0},
                                                                   {5: 1.0}, {0: "x"}, {"a": 1}, {True: 2.0},
                                                                   {0: 1e300}, [1, 2]]),
        "sample_weight": None if rng.random() < 0.6 else pick(rng, [[1.0] * 6, np.full(6, 1e39), array(rng)]),
        "callbacks": None if rng.random() < 0.7 else pick(rng, [["x"], callbacks.EarlyStopping(), [None],
                                                                [callbacks.TerminateOnNaN()], "x"]),
        "validation_data": None if rng.random() < 0.8 else pick(rng, [(x, y), x, (x,), (x, y, y, y), "x"]),
        "initial_epoch": value(rng, 0),
    }
    model = _model(rng)

    def run():
        history = model().fit(x, y, **options)
        return "works" if len(history.epoch) >= 1 else "wrong"

    return run, f"fit({_text(x)}, {_text(y)}, {options})"


def predict(rng):
    model = gn.Sequential([layers.Input((3,)), layers.Dense(2)], seed=0)
    x = array(rng) if rng.random() < 0.8 else rng.standard_normal((5, 3))
    batch_size = value(rng, pick(rng, [1, 2, 10**12]))

    def run():
        outputs = model.predict(x, batch_size=batch_size)
        return "works" if outputs.shape == (len(x), 2) and np.isfinite(outputs).all() else "wrong"

    return run, f"predict({_text(x)}, batch_size={batch_size!r})"


def evaluate(rng):
    model = _model(rng)
    x, y = data(rng)
    batch_size, weight = value(rng, None), None if rng.random() < 0.7 else array(rng)
    return (lambda: model().evaluate(x, y, batch_size=batch_size, sample_weight=weight, verbose=0) is not None
            and "works"), f"evaluate({_text(x)}, {_text(y)}, batch_size={batch_size!r}, sample_weight={_text(weight)})"


def layer_call(rng):
    layer = pick(rng, [layers.Dense(2), layers.ReLU(), layers.Softmax(), layers.Dropout(0.5), layers.Flatten(),
                       layers.GELU(), layers.Dense(2, input_shape=(3,))])
    x = array(rng)
    return lambda: layer(x) is not None and "works", f"{layer!r}({_text(x)})"


def gradcheck(rng):
    target = pick(rng, [layers.Dense(2), losses.MeanSquaredError(), "x", None,
                        gn.Sequential([layers.Input((3,)), layers.Dense(2)], seed=0)])
    x = array(rng) if rng.random() < 0.6 else rng.standard_normal((4, 3))
    options = {"eps": value(rng, 1e-6), "tolerance": value(rng, 1e-5), "max_entries": value(rng, 20),
               "seed": value(rng, 0)}
    y = None if rng.random() < 0.5 else array(rng)
    return (lambda: gn.gradcheck(target, x, y, **options) is not None and "works",
            f"gradcheck({target!r}, {_text(x)}, {_text(y)}, {options})")


def explain(rng):
    options = {"x": None if rng.random() < 0.5 else array(rng), "y": None if rng.random() < 0.6 else array(rng),
               "learning_rate": value(rng, 0.1), "task": value(rng, "regression"), "inputs": value(rng, 2),
               "hidden": value(rng, (3,)), "outputs": value(rng, None), "activation": value(rng, "sigmoid"),
               "seed": value(rng, 0), "max_parameters": value(rng, 500)}
    if rng.random() < 0.1:
        options["hidden"] = (10**6, 10**6)
    return lambda: gn.explain(**options) is not None and "works", f"explain(**{options})"


# -- graph models (gn.Model), merge layers, embeddings ------------------------------------------
def _graph():
    """Fresh symbolic tensors of a small graph: ``(numeric, ids, price, label, other)``; ``other``
    a tensor of another graph (its own Input)."""
    numeric, ids = gn.Input((3,), name="numeric"), gn.Input((2,), dtype="int64", name="ids")
    e = layers.Flatten()(layers.Embedding(5, 2)(ids))
    h = layers.Concatenate()([layers.Dense(4, activation="relu")(numeric), e])
    price = layers.Dense(1, name="price")(h)
    label = layers.Dense(3, activation="softmax", name="label")(layers.Add()([h, layers.Dense(8)(h)]))
    other = layers.Dense(2)(gn.Input((3,), name="numeric"))
    return numeric, ids, price, label, other


def _odd_tensors(rng, good, graph):
    """``good`` (inputs or outputs of a Model) two times in five, else something odd: wrong kinds,
    dicts with odd keys, empty, nested, repeated, an Input as an output, a tensor of another graph."""
    numeric, ids, price, label, other = graph
    if rng.random() < 0.4:
        return good
    return pick(rng, [
        None, [], {}, (), np.zeros((4, 3)), [np.zeros((4, 3))], "numeric", layers.Dense(2), [good], [[numeric, ids]],
        {"a": numeric, 1: ids}, {"": numeric, "ids": ids}, {"numeric": numeric}, {"x": numeric, "y": numeric},
        [numeric, numeric], [numeric, ids, other], [price, label, price], {"price": price, "price2": price},
        [numeric], [ids], [price, ids], numeric, other, [other, label], (numeric, ids), {"p": price, "l": label},
        [price, None], [price, np.zeros(3)], gn.Input((3,)), [numeric, gn.Input((2,), dtype="int64")],
        {"numeric": numeric, "ids": "ids"}, [label], price, {0: price}, {None: price, "l": label}])


def model_construction(rng):
    graph = _graph()
    numeric, ids, price, label, other = graph
    inputs = _odd_tensors(rng, pick(rng, [[numeric, ids], {"numeric": numeric, "ids": ids}, (numeric, ids)]), graph)
    outputs = _odd_tensors(rng, pick(rng, [[price, label], {"price": price, "label": label}, (price, label)]), graph)
    options = {"name": value(rng, "m"), "seed": value(rng, 0), "dtype": value(rng, "float32")}

    def run():
        model = gn.Model(inputs, outputs, **options)
        return "works" if model.built and len(model.output_names) == len(model.outputs) else "wrong"

    return run, f"Model({_text(inputs)}, {_text(outputs)}, **{options})"


def _compiled_graph(rng, seed=0):
    numeric, ids, price, label, _ = _graph()
    model = gn.Model([numeric, ids], [price, label], seed=seed)
    model.compile(optimizer=pick(rng, ["adam", "sgd", "adagrad", "adamax", "nadam", "rmsprop"]),
                  loss={"price": "mse", "label": "sparse_categorical_crossentropy"},
                  metrics={"label": ["accuracy"]})
    return model


def _graph_arrays(rng, n=6):
    """``(x, y)`` a compiled ``_graph`` model trains on, as dicts by name."""
    x = {"numeric": rng.standard_normal((n, 3)).astype(np.float32), "ids": rng.integers(0, 5, (n, 2))}
    y = {"price": rng.standard_normal((n, 1)).astype(np.float32), "label": rng.integers(0, 3, n)}
    return x, y


ODD_IDS = [np.array([[0, 5]] * 6), np.array([[-1, 0]] * 6), np.array([[0.0, 2.5]] * 6), np.array([[0.0, 3.0]] * 6),
           np.array([[np.nan, 1]] * 6), np.array([[True, False]] * 6), np.array([["a", "b"]] * 6),
           np.array([[2 ** 63 - 1, 0]] * 6), np.array([[2 ** 24 + 1, 0]] * 6), np.zeros((6, 3), np.int64),
           np.zeros((6,), np.int64), np.zeros((5, 2), np.int64), np.zeros((6, 2), np.uint64), [[0, 1]] * 6,
           np.zeros((6, 2), np.float32), np.array([[1e300, 0]] * 6), np.zeros((0, 2), np.int64)]


def _odd_data(rng, good, names, arrays):
    """``good`` (a dict by name) most of the time, else a list, a tuple, a dict with a key missing
    or one more, a list of the wrong length, mismatched rows, or an odd array in one place."""
    choice = rng.integers(12)
    if choice < 4:
        return good
    if choice == 4:
        return [good[n] for n in names]
    if choice == 5:
        return tuple(good[n] for n in names)
    if choice == 6:
        return {n: good[n] for n in names[1:]}
    if choice == 7:
        return {**good, pick(rng, ["extra", "", "Price", "numeric "]): good[names[0]]}
    if choice == 8:
        return [good[n] for n in names][:int(rng.integers(2))] + ([good[names[0]]] * int(rng.integers(2)) * 2)
    if choice == 9:
        return {**good, names[-1]: good[names[-1]][:-1]}
    if choice == 10:
        return pick(rng, [None, good[names[0]], "x", 3, [good], {1: good[names[0]]}])
    return {**good, pick(rng, names): pick(rng, arrays) if rng.random() < 0.5 else array(rng)}


def model_call(rng):
    """fit, evaluate, predict or call a compiled two-input, two-output graph model on drawn data."""
    model_rng = np.random.default_rng(int(rng.integers(2 ** 31)))
    x, y = _graph_arrays(model_rng)
    ids = ODD_IDS + [x["ids"]]
    x = _odd_data(rng, x, ["numeric", "ids"], ids)
    y = _odd_data(rng, y, ["price", "label"], [np.zeros((6, 3)), np.full((6,), 3), np.full((6, 1), np.nan),
                                              np.zeros((6, 1), np.float32)])
    method = pick(rng, ["fit", "fit", "evaluate", "predict", "call"])
    options = {}
    if method == "fit":
        options = {"epochs": 1, "batch_size": value(rng, 4), "verbose": 0,
                   "validation_split": value(rng, 0.0) if rng.random() < 0.3 else 0.0,
                   "sample_weight": None if rng.random() < 0.8 else pick(rng, [np.ones(6), np.ones(5), "x"]),
                   "class_weight": None if rng.random() < 0.9 else {0: 1.0},
                   "validation_data": None if rng.random() < 0.85 else pick(rng, [(x, y), (x,), x, ([x], y)])}

    def run():
        model = _compiled_graph(model_rng)
        if method == "fit":
            history = model.fit(x, y, **options)
            return "works" if {"loss", "price_loss", "label_loss", "label_accuracy"} <= set(history.history) \
                else "wrong"
        if method == "evaluate":
            logs = model.evaluate(x, y, verbose=0, return_dict=True)
            return "works" if np.isclose(logs["loss"], logs["price_loss"] + logs["label_loss"], rtol=1e-4) else "wrong"
        outputs = model.predict(x) if method == "predict" else model(x)
        n = len(x[0]) if isinstance(x, (list, tuple)) else len(x["numeric"])
        return "works" if [o.shape for o in outputs] == [(n, 1), (n, 3)] else "wrong"

    return run, f"Model.{method}({_text(x)}, {_text(y)}, {options})"


ODD_LOSSES = ["mse", "nope", None, 3, ["mse"], ["mse", "mse", "mse"], {"price": "mse"},
              {"price": "mse", "label": "sparse_categorical_crossentropy", "cost": "mse"},
              {"Price": "mse", "label": "mae"},
              {1: "mse"}, losses.Hinge(), [losses.Poisson(), "kl_divergence"], ("mse", "binary_focal_crossentropy"),
              {"price": None, "label": "mse"}]
ODD_WEIGHTS = [None, 1.0, -1.0, float("nan"), float("inf"), "0.5", [1.0], [1.0, 2.0], [1.0, 2.0, 3.0], [1.0, "x"],
               {"price": 2.0}, {"price": 1.0, "label": -0.5}, {"cost": 1.0}, {"price": 1.0, "label": 0.0}, True,
               1e39, np.float32(2.0), {"price": np.nan, "label": 1.0}]
ODD_METRICS = [None, ["accuracy"], "accuracy", [["mae"], ["accuracy"]], [["mae"]], [["mae"], ["accuracy"], []],
               {"label": ["accuracy"]}, {"label": "accuracy"}, {"cost": ["mae"]}, {"price": ["auc"]},
               [["mae"], "accuracy"], [[["mae"]]], {"label": [["accuracy"]]}, [None], {"price": None},
               {"label": ["accuracy", "accuracy"]}, ["nope"], [3]]


def model_compile(rng):
    """compile a graph model with a loss, loss_weights and metrics per output drawn from odd ones,
    then train a step on good data."""
    loss = pick(rng, ODD_LOSSES) if rng.random() < 0.7 else {"price": "mse", "label": "sparse_categorical_crossentropy"}
    weights, metrics = pick(rng, ODD_WEIGHTS), pick(rng, ODD_METRICS)
    optimizer = pick(rng, ["adam", "adagrad", "adamax", "nadam", optimizers.Adagrad(0.01), "x", None])

    def run():
        numeric, ids, price, label, _ = _graph()
        model = gn.Model([numeric, ids], [price, label], seed=0)
        model.compile(optimizer=optimizer, loss=loss, loss_weights=weights, metrics=metrics)
        x, y = _graph_arrays(np.random.default_rng(0))
        model.fit(x, y, epochs=1, verbose=0)
        return "works"

    return run, f"Model.compile(optimizer={optimizer!r}, loss={loss!r}, loss_weights={weights!r}, metrics={metrics!r})"


MERGES = [layers.Add, layers.Subtract, layers.Multiply, layers.Average, layers.Maximum, layers.Minimum,
          layers.Concatenate]


def merge_call(rng):
    """A merge layer called on an odd list: empty, one item, arrays and symbolic tensors mixed,
    different shapes, batch sizes or ranks, not a list; arrays that work are checked with NumPy."""
    cls = pick(rng, MERGES)
    kwargs = {"axis": value(rng, pick(rng, [-1, 1, 2, 0, -3]))} if cls is layers.Concatenate else {}
    a, b = gn.Input((3,)), gn.Input((3,))
    r = np.random.default_rng(int(rng.integers(2 ** 31)))
    arrays = [r.standard_normal((4, 3)), r.standard_normal((4, 3)), r.standard_normal((4, 3))]
    xs = pick(rng, [
        arrays[:2], arrays, arrays[:1], [], [a], [a, b], [a, b, gn.Input((3,))], [a, arrays[0]], [arrays[0], a],
        [a, gn.Input((4,))], [a, gn.Input((3, 1))], [a, gn.Input((3,), dtype="int64")], [arrays[0], arrays[1][:3]],
        [arrays[0], r.standard_normal((4, 5))], [arrays[0], r.standard_normal((4, 3, 1))], [arrays[0], np.zeros(3)],
        arrays[0], a, (arrays[0], arrays[1]), {"a": arrays[0]}, [arrays[0], None], [arrays[0], "x"],
        [arrays[0], np.full((4, 3), np.nan)], [arrays[0].astype(np.float32), arrays[1]], [np.ones((4, 3), int)] * 2,
        [[arrays[0], arrays[1]]], [arrays[0].tolist(), arrays[1].tolist()], [a, [b]], [arrays[0], array(rng)],
        [np.zeros((0, 3)), np.zeros((0, 3))], [layers.Dense(3)(a), a], [a, a]])

    def run():
        layer = cls(**kwargs)
        out = layer(xs)
        if isinstance(out, gn.graph.SymbolicTensor):
            return "works"
        return _check_merge(cls, kwargs, xs, out)

    return run, f"{cls.__name__}(**{kwargs})({_text(xs)})"


def _check_merge(cls, kwargs, xs, out):
    """The output of a merge of arrays against NumPy in float64."""
    arrays = [np.asarray(x, dtype=np.float64) for x in xs]
    if cls is layers.Concatenate:
        expected = np.concatenate(arrays, axis=kwargs["axis"])
    else:
        expected = {layers.Add: lambda: sum(arrays), layers.Subtract: lambda: arrays[0] - arrays[1],
                    layers.Multiply: lambda: np.prod(arrays, axis=0), layers.Average: lambda: np.mean(arrays, axis=0),
                    layers.Maximum: lambda: np.max(arrays, axis=0),
                    layers.Minimum: lambda: np.min(arrays, axis=0)}[cls]()
    return "works" if out.shape == expected.shape and np.allclose(out, expected, rtol=1e-5) else "wrong"


def embedding_placement(rng):
    """An Embedding where ids do not reach it as data: after another layer of a Sequential, or in a
    graph on a float Input or on what another layer made; refused when the model is made or
    built (never an IndexError, a TypeError in the backward, or ids silently rounded)."""
    position = int(rng.integers(1, 3))
    before = pick(rng, [layers.Dense(2), layers.ReLU(), layers.Flatten(), layers.Dropout(0.1)])
    where = pick(rng, ["sequential", "graph float input", "graph node", "graph list"])
    x = np.array([[1, 2], [3, 4], [0, 1], [9, 0]])

    def run():
        if where == "sequential":
            stack = [layers.Dense(2, activation="relu") for _ in range(position - 1)] + [before]
            model = gn.Sequential([layers.Input((2,)), *stack, layers.Embedding(10, 2), layers.Flatten(),
                                   layers.Dense(1)], seed=0)
        else:
            dtype = pick(rng, ["float32", "float64"]) if where == "graph float input" else "int64"
            inputs = gn.Input((2,), dtype=dtype)
            read = inputs if where == "graph float input" else before(inputs) if where == "graph node" else [inputs]
            model = gn.Model(inputs, layers.Dense(1)(layers.Flatten()(layers.Embedding(10, 2)(read))), seed=0)
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, np.zeros((4, 1)), epochs=1, verbose=0)
        return "wrong"  # ids from another layer's floats must not train

    return run, f"Embedding after {before!r} ({where}, position {position})"


CASES = [loss_call, loss_call, constructor, fit, predict, evaluate, layer_call, gradcheck, explain,
         model_construction, model_call, model_call, model_compile, merge_call, merge_call, embedding_placement]


def _text(a):
    """A short description of an argument: dtype and shape for arrays."""
    if isinstance(a, np.ndarray):
        return f"array({a.dtype}, {a.shape})"
    text = repr(a)
    return text if len(text) < 60 else text[:57] + "..."


def cases(rng, count):
    """``count`` cases, each a public call drawn from ``CASES``."""
    for _ in range(count):
        maker = CASES[rng.integers(len(CASES))]
        run, description = maker(rng)
        yield Case("api", f"{maker.__name__}: {description}", run)
