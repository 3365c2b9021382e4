"""API cases: public functions called with drawn arguments (odd shapes and dtypes, NaN, infinity,
values beyond float32, wrong types, strings, None, negative numbers, bools, nested lists).

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
          losses.CategoricalCrossentropy, losses.SparseCategoricalCrossentropy]


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
                      "mae", losses.SparseCategoricalCrossentropy(from_logits=True)])
    optimizer = pick(rng, ["adam", "sgd", "rmsprop", optimizers.SGD(1e30)])
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


CASES = [loss_call, loss_call, constructor, fit, predict, evaluate, layer_call, gradcheck, explain]


def _text(a):
    """A short description of an argument: dtype and shape for arrays."""
    if isinstance(a, np.ndarray):
        return f"array({a.dtype}, {a.shape})"
    text = repr(a)
    return text if len(text) < 60 else text[:57] + "..."


def cases(rng, count):
    for _ in range(count):
        maker = CASES[rng.integers(len(CASES))]
        run, description = maker(rng)
        yield Case("api", f"{maker.__name__}: {description}", run)
