"""``gn.plot_decision_boundary`` (what a classifier of 2-D data decides over the plane) and
``gn.callbacks.WeightHistory`` (the weights every N steps), which the course's boundary figure uses."""
import numpy as np
import pytest

import glassnet as gn

pytest.importorskip("matplotlib")


def _linear_classifier(units=1, activation="sigmoid"):
    """A model that decides class 1 where x1 > x2 (no training: weights set by hand)."""
    model = gn.Sequential([gn.layers.Input((2,)), gn.layers.Dense(units, activation=activation)], seed=0)
    w = np.array([[4.0], [-4.0]]) if units == 1 else np.array([[-4.0, 4.0], [4.0, -4.0]])
    model.set_weights([w, np.zeros(units)])
    return model


def test_the_grid_holds_the_models_decisions_and_the_file_is_written(tmp_path):
    x = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    y = np.array([0, 0, 1, 0])
    classes = gn.plot_decision_boundary(_linear_classifier(), x, y, tmp_path / "boundary.png", resolution=50)
    assert (tmp_path / "boundary.png").read_bytes()[:4] == b"\x89PNG"
    assert classes.shape == (50, 50)
    u = np.linspace(-0.1, 1.1, 50)  # the range of x with a 10% margin: rows follow x2, columns x1
    np.testing.assert_array_equal(classes, (u[None, :] > u[:, None]).astype(int))
    softmax = gn.plot_decision_boundary(_linear_classifier(2, "softmax"), x, np.eye(2)[y], tmp_path / "b.svg",
                                        resolution=50)
    np.testing.assert_array_equal(softmax, classes)
    assert (tmp_path / "b.svg").read_text().lstrip().startswith("<?xml")


def test_draws_into_given_axes_without_a_file(tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure()
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 2, 1)
    gn.plot_decision_boundary(_linear_classifier(), np.random.default_rng(0).normal(size=(20, 2)), axes=axes,
                              title="no labels")
    assert axes.get_title() == "no labels" and len(axes.collections) >= 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(x=np.zeros((3, 3))), gn.ShapeError, r"x must have shape \(n, 2\), got \(3, 3\)"),
    (dict(x=np.zeros((0, 2))), gn.ShapeError, "at least one example"),
    (dict(y=[0, 1]), gn.ShapeError, "x has 3 examples but y has 2"),
    (dict(y=[0, -1, 1]), gn.ConfigurationError, "class labels"),
    (dict(path=None), gn.ConfigurationError, "a path to write or axes"),
    (dict(path="b.nope"), gn.ConfigurationError, "writes .*png"),
    (dict(resolution=1), gn.ConfigurationError, "resolution must be at least 2"),
])
def test_errors(kwargs, error, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    arguments = {"x": np.zeros((3, 2)), "y": [0, 1, 1], "path": "b.png", **kwargs}
    with pytest.raises(error, match=message):
        gn.plot_decision_boundary(_linear_classifier(), arguments.pop("x"), arguments.pop("y"), **arguments)


def _trained(every, epochs=3, parameters=None):
    x = np.random.default_rng(0).normal(size=(40, 2))
    y = (x[:, 0] > x[:, 1]).astype(float)
    model = gn.Sequential([gn.layers.Dense(4, activation="relu"), gn.layers.Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer=gn.optimizers.SGD(0.1), loss="binary_crossentropy")
    history = gn.callbacks.WeightHistory(every=every, parameters=parameters)
    seen = []
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, shuffle=False,
              callbacks=[gn.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(model.get_weights())),
                         history])
    return model, history, seen, (x, y)


def test_weight_history_records_every_n_steps_the_start_and_the_end():
    model, history, seen, _ = _trained(every=4)  # 5 steps an epoch, 15 in all
    assert history.steps == [0, 4, 8, 12, 15]
    assert history.names == [p.name for p in model.parameters()]
    for step, weights in zip(history.steps[1:], history.weights[1:]):
        for recorded, actual in zip(weights, seen[step - 1]):
            np.testing.assert_array_equal(recorded, actual)
    for recorded, final in zip(history.weights[-1], model.get_weights()):
        np.testing.assert_array_equal(recorded, final)
    first = gn.Sequential([gn.layers.Dense(4, activation="relu"), gn.layers.Dense(1, activation="sigmoid")], seed=0)
    first.build((2,))
    for recorded, initial in zip(history.weights[0], first.get_weights()):
        np.testing.assert_array_equal(recorded, initial)
    assert history.values("dense.bias").shape == (5, 4)


def test_restore_puts_a_record_back_and_a_second_fit_goes_on_counting():
    model, history, seen, (x, y) = _trained(every=5, epochs=2)
    assert history.steps == [0, 5, 10]
    history.restore(model, 1)
    for value, recorded in zip(model.get_weights(), history.weights[1]):
        np.testing.assert_array_equal(value, recorded)
    history.restore(model, -1)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False, callbacks=[history])
    assert history.steps == [0, 5, 10, 15]


def test_only_the_parameters_asked_for_and_errors():
    model, history, _, _ = _trained(every=5, parameters=["dense_1.weight"])
    assert history.names == ["dense_1.weight"] and all(len(w) == 1 for w in history.weights)
    with pytest.raises(gn.ConfigurationError, match="no record of 'dense.weight'"):
        history.values("dense.weight")
    with pytest.raises(gn.ConfigurationError, match="every must be a positive integer"):
        gn.callbacks.WeightHistory(every=0)
    with pytest.raises(gn.ConfigurationError, match="list of parameter names"):
        gn.callbacks.WeightHistory(parameters="dense.weight")
    with pytest.raises(gn.ConfigurationError, match="no parameter 'nope'"):
        _trained(every=1, parameters=["nope"])
