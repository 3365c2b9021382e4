"""Your own layers, losses, metrics, initializers, regularizers, activations and schedules, saved
in model files by their registered names (``glassnet/saving.py``), and refused at save time when
they are not registered; a file's names never resolve to anything else."""
import json
import sys

import numpy as np
import pytest
import safetensors

import glassnet as gn
from glassnet import saving
from tests.test_model_file import rewrite


# -- the objects of one lab, as docs/custom-objects.md writes them ------------------------------------------
@gn.saving.register(package="test_lab")
class Scale(gn.layers.Layer):
    """``y = x * s + shift``: one learned scale per feature, a fixed shift.
    Backward: ``ds = sum over the batch of dy * x``, ``dx = dy * s``."""

    def __init__(self, shift=0.0, **kwargs):
        super().__init__(**kwargs)
        self.shift = float(shift)

    def parameter_shapes(self, input_shape):
        return {"scale": tuple(input_shape)}

    def build(self, input_shape, rng, dtype):
        self.scale = self.add_parameter("scale", rng.uniform(0.5, 1.5, input_shape).astype(dtype))

    def forward(self, x, training=False):
        s = self.scale.value

        def backward(dy):
            self.scale.grad[...] = (dy * x).sum(axis=0)
            return dy * s if self.compute_input_gradient else None

        return x * s + x.dtype.type(self.shift), backward

    def get_config(self):
        return {**super().get_config(), "shift": self.shift}


@gn.saving.register(package="test_lab")
class Softsign(gn.layers.Activation):
    """``y = x / (1 + |x|)``; ``dx = dy / (1 + |x|)^2``."""

    def forward(self, x, training=False, in_place=False):
        d = 1 + np.abs(x)
        return x / d, lambda dy: dy / (d * d)


@gn.saving.register(package="test_lab")
def small_uniform(shape, rng, dtype=np.float32):
    return rng.uniform(-0.3, 0.3, shape).astype(dtype)


@gn.saving.register(package="test_lab")
class LogCosh(gn.regularizers.Regularizer):
    """``strength * sum(log(cosh(w)))``; gradient ``strength * tanh(w)``."""

    def __init__(self, strength=0.01):
        self.strength = float(strength)

    def penalty(self, w):
        return self.strength * float(np.log(np.cosh(w)).sum())

    def gradient(self, w):
        return w.dtype.type(self.strength) * np.tanh(w)

    def get_config(self):
        return {"strength": self.strength}


@gn.saving.register(package="test_lab")
class ScaledSquaredError(gn.losses.Loss):
    """``l = factor * mean_j (p_j - y_j)^2``; ``dl/dp = 2 factor (p - y) / D``."""

    def __init__(self, factor=1.0):
        self.factor = float(factor)

    def unchecked_per_example(self, y_true, y_pred):
        diff = (y_pred - y_true).astype(y_pred.dtype, copy=False)
        features = diff[0].size if len(diff) else 1
        return self.factor * (diff * diff).mean(axis=-1), diff * y_pred.dtype.type(2 * self.factor / features)

    def get_config(self):
        return {"factor": self.factor}


@gn.saving.register(package="test_lab")
def largest_error(y_true, y_pred):
    return np.abs(y_pred - y_true).max(axis=-1)


@gn.saving.register(package="test_lab")
class WithinTolerance(gn.metrics.Metric):
    """The fraction of outputs within ``tolerance`` of their targets."""

    def __init__(self, tolerance=0.5, name="within"):
        super().__init__(name)
        self.tolerance = float(tolerance)

    def size(self, output_shape):
        return 2

    def sums(self, y_true, y_pred):
        return np.count_nonzero(np.abs(y_pred - y_true) <= self.tolerance), y_true.size

    def result(self, sums):
        return float(sums[0] / sums[1])

    def get_config(self):
        return {"tolerance": self.tolerance, "name": self.name}


@gn.saving.register(package="test_lab")
class Halving(gn.schedules.LearningRateSchedule):
    """``initial * 0.5 ** (step // every)``."""

    def __init__(self, initial, every):
        self.initial, self.every = float(initial), int(every)

    def __call__(self, step):
        return self.initial * 0.5 ** (step // self.every)

    def get_config(self):
        return {"initial": self.initial, "every": self.every}


NAMES = ["test_lab>Scale", "test_lab>Softsign", "test_lab>small_uniform", "test_lab>LogCosh",
         "test_lab>ScaledSquaredError", "test_lab>largest_error", "test_lab>WithinTolerance", "test_lab>Halving"]


def lab_model(dtype="float32"):
    """A model holding one object of each kind of the lab."""
    model = gn.Sequential([gn.layers.Input((3,)), Scale(shift=0.25),
                           gn.layers.Dense(8, activation=Softsign(), kernel_initializer=small_uniform,
                                           kernel_regularizer=LogCosh(0.01)),
                           gn.layers.Dense(2)], seed=0, dtype=dtype)
    model.compile(optimizer=gn.optimizers.Adam(Halving(0.02, every=8)), loss=ScaledSquaredError(2.0),
                  metrics=[largest_error, WithinTolerance(0.3), "mae"])
    return model


def lab_data(n=48):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    y = np.stack([x[:, 0] * x[:, 1], np.sin(x[:, 2])], axis=1).astype(np.float32)
    return x, y


@pytest.fixture
def saved(tmp_path):
    x, y = lab_data()
    model = lab_model()
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    path = tmp_path / "lab.safetensors"
    model.save(path, include_optimizer=True)
    return model, path


def architecture_names(path):
    with safetensors.safe_open(path, "np") as file:
        return file.metadata()["model"] + file.metadata()["compile"]


def test_a_custom_layer_passes_gradcheck_trains_saves_and_loads_the_same(saved):
    report = gn.gradcheck(lab_model("float64"), *lab_data(8))
    assert report.passed and {"scale.scale", "dense.weight", "input"} <= set(report.errors)
    model, path = saved
    assert model.history.history["loss"][-1] < model.history.history["loss"][0]
    text = architecture_names(path)
    assert all(f'"{name}"' in text for name in NAMES)
    loaded = gn.load(path)
    x, y = lab_data()
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.get_config() == model.get_config() and loaded.get_compile_config() == model.get_compile_config()
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    assert [type(o) for o in (loaded.layers[0], loaded.layers[1].activation, loaded.layers[1].kernel_regularizer,
                              loaded.loss, loaded.optimizer._schedule)] == \
        [Scale, Softsign, LogCosh, ScaledSquaredError, Halving]
    assert loaded.layers[1].kernel_initializer is small_uniform
    for m in (model, loaded):  # the optimizer state came back too: training goes on the same
        m.fit(x, y, epochs=4, initial_epoch=3, batch_size=16, verbose=0)
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])
    assert loaded.history.history == model.history.history


def test_custom_objects_resolve_a_file_without_the_registry(saved, monkeypatch):
    model, path = saved
    objects = {name: saving._OBJECTS[name] for name in NAMES}
    monkeypatch.setattr(saving, "_OBJECTS", {})
    monkeypatch.setattr(saving, "_NAMES", {})
    with pytest.raises(gn.ModelFileError, match="unknown layer 'test_lab>Scale': nothing is registered under "
                                                "this name; import the module that registers it"):
        gn.load(path)
    x, _ = lab_data()
    np.testing.assert_array_equal(gn.load(path, custom_objects=objects).predict(x), model.predict(x))
    by_plain_name = {name.partition(">")[2]: obj for name, obj in objects.items()}  # Keras users write these
    np.testing.assert_array_equal(gn.load(path, custom_objects=by_plain_name).predict(x), model.predict(x))
    with saving.custom_object_scope(objects):  # around any other load
        assert type(gn.load(path).layers[0]) is Scale
    with pytest.raises(gn.ModelFileError, match="unknown layer"):
        gn.load(path)  # the scope ended with the block


# -- what save refuses, before it writes ----------------------------------------------------------------
class UnregisteredScale(Scale):
    """A subclass is not its registered parent: saved as the parent, it would load as another class."""


class UnregisteredSoftsign(Softsign):
    pass


class UnregisteredLogCosh(LogCosh):
    pass


class UnregisteredLoss(ScaledSquaredError):
    pass


class UnregisteredHalving(Halving):
    pass


class MyDense(gn.layers.Dense):
    pass


def unregistered_init(shape, rng, dtype=np.float32):
    return np.zeros(shape, dtype)


def unregistered_metric(y_true, y_pred):
    return 0.0


def _model_with(layer=None, loss=None, metric=None, schedule=None):
    model = gn.Sequential([gn.layers.Input((3,)), layer or gn.layers.Dense(2)], seed=0)
    model.compile(optimizer=gn.optimizers.SGD(schedule or 0.1), loss=loss or "mse", metrics=[metric or "mae"])
    return model


UNREGISTERED = [
    (lambda: _model_with(layer=UnregisteredScale()),
     "layer 0 \\(unregisteredscale\\): the class UnregisteredScale is not registered; decorate it with "
     "@gn.saving.register\\(package=...\\) to save it by name"),
    (lambda: _model_with(layer=MyDense(2)), "layer 0 \\(mydense\\): the class MyDense is not registered"),
    (lambda: _model_with(layer=gn.layers.Dense(2, activation=UnregisteredSoftsign())),
     "layer 0 \\(dense\\) activation: the class UnregisteredSoftsign is not registered"),
    (lambda: _model_with(layer=gn.layers.Dense(2, kernel_initializer=unregistered_init)),
     "layer 0 \\(dense\\) kernel_initializer: the function unregistered_init is not registered"),
    (lambda: _model_with(layer=gn.layers.Dense(2, bias_regularizer=UnregisteredLogCosh())),
     "layer 0 \\(dense\\) bias_regularizer: the class UnregisteredLogCosh is not registered"),
    (lambda: _model_with(loss=UnregisteredLoss()), "the loss: the class UnregisteredLoss is not registered"),
    (lambda: _model_with(metric=unregistered_metric),
     "metric 0 \\(unregistered_metric\\): the function unregistered_metric is not registered"),
    (lambda: _model_with(metric=gn.metrics.R2Score("r2")),
     "metric 0 \\(r2\\): a model file stores glassnet's own metrics by name only"),
    (lambda: _model_with(schedule=UnregisteredHalving(0.1, 2)),
     "the optimizer: the class UnregisteredHalving is not registered"),
]


@pytest.mark.parametrize("make_model, message", UNREGISTERED, ids=[
    "layer", "subclass-of-dense", "activation", "initializer", "regularizer", "loss", "metric-function",
    "builtin-metric-object", "schedule"])
def test_an_unregistered_object_fails_at_save_naming_it_and_writes_nothing(tmp_path, make_model, message):
    model = make_model()
    with pytest.raises(gn.ConfigurationError, match=message):
        model.save(tmp_path / "new.safetensors")
    assert list(tmp_path.iterdir()) == []
    kept = tmp_path / "kept.safetensors"
    _model_with().save(kept)
    before = kept.read_bytes()
    with pytest.raises(gn.ConfigurationError, match=message):
        model.save(kept, overwrite=True)
    assert kept.read_bytes() == before and list(tmp_path.iterdir()) == [kept]


@gn.saving.register(package="test_lab")
class Forgetful(Scale):
    """Its get_config leaves out the shift."""

    def get_config(self):
        return {"name": self.name}


@gn.saving.register(package="test_lab")
class Drifting(Scale):
    """Its get_config does not give back what the constructor took."""

    def get_config(self):
        return {**super().get_config(), "shift": self.shift + 1}


@gn.saving.register(package="test_lab")
class NotJson(Scale):
    def get_config(self):
        return {**super().get_config(), "shift": np.float32(self.shift)}


@gn.saving.register(package="test_lab")
class ForgetsTrainable(Scale):
    def get_config(self):
        return {"name": self.name, "shift": self.shift}


@pytest.mark.parametrize("layer, message", [
    (Forgetful(shift=1.0), "layer 0 \\(forgetful\\): Forgetful rebuilt from its get_config\\(\\) "
                           '{"class_name": "test_lab>Forgetful", "config": {"name": "forgetful"}} has shift=0.0 '
                           "instead of 1.0; get_config\\(\\) must return the constructor's arguments"),
    (Drifting(shift=1.0), 'layer 0 \\(drifting\\): Drifting rebuilt from its get_config\\(\\) .*"shift": 2.0.* '
                          'gives .*"shift": 3.0'),
    (NotJson(shift=1.0), "layer 0 \\(notjson\\): its get_config\\(\\) is not JSON: Object of type float32"),
    (ForgetsTrainable(trainable=False), "layer 0 \\(forgetstrainable\\): trainable=False is not in its "
                                        "get_config\\(\\); start the config from super\\(\\).get_config\\(\\)"),
], ids=["lost-argument", "drifting-argument", "not-json", "lost-trainable"])
def test_a_config_that_does_not_come_back_the_same_fails_at_save(tmp_path, layer, message):
    with pytest.raises(gn.ConfigurationError, match=message):
        _model_with(layer=layer).save(tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_get_config_describes_an_unregistered_class_by_its_python_path_which_nothing_resolves():
    class Dense(gn.layers.Dense):  # named like glassnet's own
        pass

    model = gn.Sequential([gn.layers.Input((3,)), Dense(2, activation=UnregisteredSoftsign())])
    spec = model.get_config()["layers"][0]  # what an ONNX file's metadata shows
    assert spec["class_name"] == f"{__name__}.{Dense.__qualname__}"
    assert spec["config"]["activation"]["class_name"] == f"{__name__}.UnregisteredSoftsign"
    with pytest.raises(gn.ConfigurationError, match="unknown layer 'tests.test_saving_custom.test_get_config"):
        gn.Sequential.from_config(model.get_config())


# -- what a file can name ---------------------------------------------------------------------------------
def _set_model(path, change):
    with safetensors.safe_open(path, "np") as file:
        fields = {key: json.loads(file.metadata()[key]) for key in ("model", "compile")}
    change(fields)
    rewrite(path, **{key: json.dumps(value) for key, value in fields.items()})


CRAFTED = {
    "layer": lambda f: f["model"]["layers"][0].update(class_name="builtins>eval"),
    "activation": lambda f: f["model"]["layers"][1]["config"].update(
        activation={"class_name": "builtins>eval", "config": {}}),
    "initializer": lambda f: f["model"]["layers"][1]["config"].update(kernel_initializer="os>system"),
    "regularizer": lambda f: f["model"]["layers"][1]["config"]["kernel_regularizer"].update(
        class_name="builtins>eval"),
    "loss": lambda f: f["compile"]["loss"].update(class_name="builtins>eval"),
    "optimizer": lambda f: f["compile"]["optimizer"].update(class_name="builtins>eval"),
    "learning-rate schedule": lambda f: f["compile"]["optimizer"]["config"]["learning_rate"].update(
        class_name="builtins>eval"),
    "metric": lambda f: f["compile"]["metrics"].__setitem__(0, "builtins>eval"),
}


@pytest.mark.parametrize("kind", CRAFTED)
def test_a_crafted_file_naming_anything_unregistered_never_resolves(saved, kind):
    _, path = saved
    name = "os>system" if kind == "initializer" else "builtins>eval"
    _set_model(path, CRAFTED[kind])
    with pytest.raises(gn.ModelFileError, match=f"unknown {kind} '{name}': nothing is registered under this name"):
        gn.load(path)


def test_a_file_imports_nothing_and_a_registered_name_stands_only_where_its_kind_can(saved):
    _, path = saved
    _set_model(path, lambda f: f["model"]["layers"][0].update(class_name="glassnet_never_imported>Layer"))
    with pytest.raises(gn.ModelFileError, match="unknown layer 'glassnet_never_imported>Layer'"):
        gn.load(path)
    assert "glassnet_never_imported" not in sys.modules
    _set_model(path, lambda f: (f["model"]["layers"][0].update(class_name="test_lab>Scale"),
                                f["compile"]["loss"].update(class_name="test_lab>Scale")))
    with pytest.raises(gn.ModelFileError, match="loss 'test_lab>Scale' is <class '.*Scale'>, which is not a Loss"):
        gn.load(path)
    _set_model(path, lambda f: f["compile"].update(metrics=["test_lab>Scale"]))
    with pytest.raises(gn.ModelFileError, match="metric 'test_lab>Scale' is <class .*>, not a function"):
        gn.load(path)
    with pytest.raises(gn.ConfigurationError, match="custom_objects\\['builtins>eval'\\] must be a class or a function"):
        gn.load(path, custom_objects={"builtins>eval": eval})


# -- the registry ---------------------------------------------------------------------------------------------
def test_register_checks_its_names_and_keeps_one_name_per_object(monkeypatch):
    monkeypatch.setattr(saving, "_OBJECTS", {})
    monkeypatch.setattr(saving, "_NAMES", {})
    for package, name in [("", None), ("a>b", None), ("lab", ""), ("lab", "x>y"), (3, None)]:
        with pytest.raises(gn.ConfigurationError, match="a registered (package|name) is a non-empty string"):
            gn.saving.register(package, name)
    with pytest.raises(gn.ConfigurationError, match="decorates a class or a function"):
        gn.saving.register("lab")(Scale(shift=1.0))
    assert gn.saving.register()(Scale) is Scale and gn.saving.registered_name(Scale) == "Custom>Scale"
    with pytest.raises(gn.ConfigurationError, match="'Custom>Scale' is already registered for tests.test_saving_custom.Scale"):
        gn.saving.register(name="Scale")(Forgetful)
    with pytest.raises(gn.ConfigurationError, match="Scale is already registered as 'Custom>Scale'"):
        gn.saving.register("other")(Scale)

    def define():
        class Cell(gn.layers.Layer):
            pass
        return gn.saving.register("lab")(Cell)

    first, again = define(), define()  # a notebook cell run twice: the new class takes the name
    assert saving.resolve("lab>Cell", "layer") is again and gn.saving.registered_name(first) is None
    for bad in ("lab>a>b", ">a", "a>", 3):
        with pytest.raises(gn.ConfigurationError, match="custom_objects names are 'package>Name' or 'Name'"):
            gn.load("unused.safetensors", custom_objects={bad: Scale})
    with pytest.raises(gn.ConfigurationError, match="custom_objects must be a dict"):
        gn.load("unused.safetensors", custom_objects=[Scale])
