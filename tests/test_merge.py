"""Merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate), Keras's
Activation layer and Reshape: gradient checks, shapes and the refusals, eager and symbolic calls,
configs, PyTorch parity and ONNX.

Tolerances: gradient checks in float64 against central differences at 1e-6 (gradcheck's
relative error; they land below 1e-7, the rounding of the differences, and a backward off by
1e-4 fails); PyTorch parity in float64 at rtol 1e-12; ONNX Runtime: the merge converters give the
layers' forward to the last bit (float32 and float64), a Sequential with Activation and Reshape
layers gives predict within 1e-6 in float32 and 1e-12 in float64 (its matrix products round
differently).
"""
import numpy as np
import pytest

import glassnet as gn
from glassnet import layers
from glassnet.gradcheck import numerical_gradient, relative_error
from glassnet.layers.activations import ACTIVATIONS

EXACT = dict(rtol=1e-12, atol=0)
MERGES = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]
ELEMENTWISE = [name for name in MERGES if name != "Concatenate"]


def arrays(shapes, n=5, seed=0, dtype=np.float64):
    """Random inputs of the per-example ``shapes``; entries of inputs of one shape at least 0.01
    apart at each place, so that a maximum or minimum never changes under a step of the gradient
    check."""
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((n, *shape)) for shape in shapes]
    pairs = [(i, j) for i in range(len(xs)) for j in range(i) if xs[i].shape == xs[j].shape]
    while any((np.abs(xs[i] - xs[j]) < 0.01).any() for i, j in pairs):
        for i, j in pairs:
            xs[i][np.abs(xs[i] - xs[j]) < 0.01] += 0.05
    return [x.astype(dtype) for x in xs]


def merge(kind, **kwargs):
    return getattr(layers, kind)(**kwargs)


def built(kind, shapes, dtype=np.float64, **kwargs):
    layer = merge(kind, **kwargs)
    layer.ensure_built(shapes, np.random.default_rng(0), dtype)
    return layer


def merge_gradcheck(layer, xs, seed=1, eps=1e-6):
    """The worst relative error, over every input, of ``layer``'s backward against central
    differences of ``f = sum(forward(xs) * G)`` for a fixed random ``G``."""
    y, backward = layer.forward(xs)
    g = np.random.default_rng(seed).standard_normal(y.shape)
    analytic = backward(g)
    assert isinstance(analytic, list) and len(analytic) == len(xs)

    def f():
        return float((layer.forward(xs)[0] * g).sum())

    errors = []
    for x, dx in zip(xs, analytic):
        assert dx.shape == x.shape
        numeric = numerical_gradient(f, x, eps, range(x.size))
        errors.append(relative_error(dx, numeric))
    return max(errors)


GRADIENT_CASES = [
    *[(name, [(4,), (4,)], {}) for name in MERGES],
    *[(name, [(2, 3)] * 3, {}) for name in ELEMENTWISE if name != "Subtract"],
    ("Subtract", [(2, 3), (2, 3)], {}),
    ("Concatenate", [(3,), (1,), (2,)], {}),
    ("Concatenate", [(2, 3), (2, 1)], {"axis": -1}),
    ("Concatenate", [(2, 3), (4, 3), (1, 3)], {"axis": 1}),
    ("Concatenate", [(2, 3), (2, 2)], {"axis": 2}),
    ("Concatenate", [(2, 3), (1, 3)], {"axis": -2}),
]


def case_id(case):
    name, shapes, kwargs = case
    return f"{name}-{'-'.join('x'.join(map(str, s)) for s in shapes)}" + "".join(f"-{k}{v}" for k, v in kwargs.items())


# -- gradients ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", GRADIENT_CASES, ids=case_id)
def test_backward_matches_central_differences(case):
    name, shapes, kwargs = case
    layer = built(name, shapes, **kwargs)
    assert merge_gradcheck(layer, arrays(shapes)) <= 1e-6


@pytest.mark.parametrize("name", MERGES)
def test_forward_and_backward_leave_their_arrays_untouched(name):
    """A backward never writes into dy (one gradient may be handed to several layers), and a
    forward never writes into its inputs."""
    shapes = [(2, 3)] * (2 if name == "Subtract" else 3)
    layer = built(name, shapes)
    xs = arrays(shapes)
    before = [x.copy() for x in xs]
    y, backward = layer.forward(xs)
    dy = np.random.default_rng(2).standard_normal(y.shape)
    dy_before = dy.copy()
    backward(dy)
    backward(dy)
    for x, x_before in zip(xs, before):
        np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dy, dy_before)
    assert not any(np.shares_memory(y, x) for x in xs)


@pytest.mark.parametrize("name", ["Maximum", "Minimum"])
def test_a_tie_sends_the_gradient_to_the_first_of_the_equal_inputs(name):
    a = np.array([[1.0, 2.0, 3.0]])
    b = np.array([[1.0, 0.0, 3.0]]) if name == "Maximum" else np.array([[1.0, 5.0, 3.0]])
    c = np.array([[0.0, 2.0, 3.0]]) if name == "Maximum" else np.array([[2.0, 2.0, 3.0]])
    layer = built(name, [(3,)] * 3)
    y, backward = layer.forward([a, b, c])
    np.testing.assert_array_equal(y, [[1.0, 2.0, 3.0]])
    dx = backward(np.array([[10.0, 20.0, 30.0]]))
    np.testing.assert_array_equal(dx[0], [[10.0, 20.0, 30.0]])  # every tie: the first input
    np.testing.assert_array_equal(dx[1], [[0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(dx[2], [[0.0, 0.0, 0.0]])


def test_what_each_merge_computes():
    a, b, c = arrays([(2, 3)] * 3)
    expected = {"Add": a + b + c, "Multiply": a * b * c, "Average": (a + b + c) / 3,
                "Maximum": np.maximum(np.maximum(a, b), c), "Minimum": np.minimum(np.minimum(a, b), c)}
    for name, value in expected.items():
        np.testing.assert_allclose(built(name, [(2, 3)] * 3).forward([a, b, c])[0], value, **EXACT)
    np.testing.assert_array_equal(built("Subtract", [(2, 3)] * 2).forward([a, b])[0], a - b)
    for axis in (1, 2, -1, -2):
        np.testing.assert_array_equal(built("Concatenate", [(2, 3)] * 3, axis=axis).forward([a, b, c])[0],
                                      np.concatenate([a, b, c], axis=axis))


def test_add_and_average_hand_one_gradient_to_every_input():
    xs = arrays([(4,)] * 3)
    dy = np.ones((5, 4))
    dx = built("Add", [(4,)] * 3).forward(xs)[1](dy)
    assert all(d is dy for d in dx)
    dx = built("Average", [(4,)] * 3).forward(xs)[1](dy)
    np.testing.assert_array_equal(dx[0], dy / 3)
    assert dx[0] is dx[1] is dx[2]


@pytest.mark.parametrize("name", MERGES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outputs_and_gradients_keep_the_dtype(name, dtype):
    shapes = [(3,), (3,)]
    layer = built(name, shapes, dtype)
    y, backward = layer.forward(arrays(shapes, dtype=dtype))
    assert y.dtype == dtype and y.shape == (5, *layer.compute_output_shape(shapes))
    assert all(dx.dtype == dtype for dx in backward(np.ones_like(y)))


@pytest.mark.parametrize("name", MERGES)
def test_without_input_gradients_the_backward_returns_a_none_per_input(name):
    layer = built(name, [(3,), (3,)])
    layer.compute_input_gradient = False
    assert layer.forward(arrays([(3,), (3,)]))[1](np.ones((5, 3 * (1 + (name == "Concatenate"))))) == [None, None]


# -- shapes, building, arguments ------------------------------------------------------------------
def test_output_shapes():
    assert layers.Add().compute_output_shape([(4,), (4,), (4,)]) == (4,)
    assert layers.Concatenate().compute_output_shape([(2, 3), (2, 5)]) == (2, 8)
    assert layers.Concatenate(axis=1).compute_output_shape([(2, 3), (4, 3)]) == (6, 3)
    assert layers.Concatenate(axis=-2).compute_output_shape([(2, 3), (4, 3)]) == (6, 3)
    assert layers.Concatenate().compute_output_shape([[3], [1]]) == (4,)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_merges_refuse_shapes_that_differ_naming_both(name):
    with pytest.raises(gn.ShapeError, match=r"needs inputs of one shape, got \(None, 4\) and \(None, 1\)"):
        merge(name).compute_output_shape([(4,), (1,)])
    with pytest.raises(gn.ShapeError, match=r"got \(None, 2, 3\) and \(None, 3, 2\)"):
        merge(name).ensure_built([(2, 3), (3, 2)], None)


@pytest.mark.parametrize("shapes, axis, error, message", [
    ([(2, 3), (3, 3)], -1, gn.ShapeError, r"agree on every axis but axis -1, got \(None, 2, 3\) and \(None, 3, 3\)"),
    ([(2, 3), (3,)], -1, gn.ShapeError, r"one rank, got \(None, 2, 3\) and \(None, 3\)"),
    ([(2,), (3,)], 0, gn.ConfigurationError, r"axis must name an axis of the examples \(1 to 1, or -1 to -1\) "
                                             r"for inputs of rank 2, got 0"),
    ([(2, 3), (2, 3)], 3, gn.ConfigurationError, r"\(1 to 2, or -2 to -1\) for inputs of rank 3, got 3"),
    ([(2, 3), (2, 3)], -3, gn.ConfigurationError, r"got -3"),
])
def test_concatenate_refusals(shapes, axis, error, message):
    with pytest.raises(error, match=message):
        layers.Concatenate(axis=axis).compute_output_shape(shapes)


@pytest.mark.parametrize("name", MERGES)
def test_a_merge_takes_a_list_of_at_least_two_inputs(name):
    count = "exactly 2" if name == "Subtract" else "at least 2"
    with pytest.raises(gn.ConfigurationError, match=rf"takes a list of {count} inputs, got one input of shape \(None, 4\)"):
        merge(name).compute_output_shape((4,))
    with pytest.raises(gn.ConfigurationError, match=rf"takes a list of {count} inputs, got 1: \(None, 4\)"):
        merge(name).compute_output_shape([(4,)])
    with pytest.raises(gn.ConfigurationError, match=rf"takes a list of {count} inputs, got \[\]"):
        merge(name).ensure_built([], None)


def test_subtract_takes_exactly_two():
    with pytest.raises(gn.ConfigurationError, match=r"takes a list of exactly 2 inputs, got 3: "
                                                     r"\(None, 4\), \(None, 4\), \(None, 4\)"):
        layers.Subtract().compute_output_shape([(4,)] * 3)


@pytest.mark.parametrize("arguments, message", [
    ({"axis": 1.5}, "Concatenate axis must be an integer, got 1.5"),
    ({"axis": True}, "Concatenate axis must be an integer, got True"),
    ({"input_shape": (4,)}, "Concatenate takes no input_shape"),
])
def test_bad_arguments(arguments, message):
    with pytest.raises(gn.ConfigurationError, match=message):
        layers.Concatenate(**arguments)


@pytest.mark.parametrize("name", MERGES)
def test_building_takes_the_list_and_creates_nothing(name):
    layer = merge(name)
    assert layer.parameter_shapes([(3,), (3,)]) == {}
    layer.ensure_built([(3,), [3]], np.random.default_rng(0), "float64")
    assert layer.built and layer.input_shapes == [(3,), (3,)] and layer.dtype == np.float64
    assert layer.parameters() == [] and layer.count_params() == 0
    layer.ensure_built([(5,), (5,)], None)  # once built, a second build changes nothing
    assert layer.input_shapes == [(3,), (3,)]


# -- calls ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", MERGES)
def test_an_eager_call_checks_the_arrays_and_returns_the_output(name):
    a, b = arrays([(3,), (3,)], dtype=np.float32)
    layer = merge(name)
    y = layer([a, b])
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    np.testing.assert_array_equal(y, layer.forward([a, b])[0])
    assert layer.built and layer.input_shapes == [(3,), (3,)]
    with pytest.raises(gn.ShapeError, match=rf"{name} layer '{name.lower()}' was built for inputs of shapes "
                                            r"\(None, 3\), \(None, 3\), got \(None, 4\), \(None, 4\)"):
        layer([np.ones((2, 4)), np.ones((2, 4))])


def test_an_eager_call_works_out_the_dtype():
    ints = [np.arange(6).reshape(2, 3), np.ones((2, 3), int)]
    assert layers.Add()(ints).dtype == np.float32
    assert layers.Add()([np.ones((2, 3)), np.ones((2, 3))]).dtype == np.float64
    assert layers.Add()([np.ones((2, 3), np.float32), np.ones((2, 3))]).dtype == np.float64
    layer = layers.Add()
    layer.ensure_built([(3,), (3,)], None, np.float32)
    assert layer([np.ones((2, 3)), np.ones((2, 3))]).dtype == np.float32  # a built layer's own dtype


@pytest.mark.parametrize("inputs, error, message", [
    (np.ones((2, 3)), gn.DataError, "Add layer 'add' takes a list of arrays, got ndarray"),
    ([np.ones((2, 3)), np.ones((3, 3))], gn.ShapeError, "the inputs must have one batch size, got 2, 3 rows"),
    ([np.ones((2, 3)), np.full((2, 3), np.nan)], gn.DataError, r"input 1 contains NaN values \(first at index \(0, 0\)\)"),
    ([np.ones((2, 3)), np.array([["a"] * 3] * 2)], gn.DataError, "input 1 must be numeric"),
    ([np.ones(3), np.ones(3)], gn.ShapeError, r"input 0 must have shape \(n_examples, features...\), got shape \(3,\)"),
    ([np.ones((2, 3)), np.ones((2, 4))], gn.ShapeError, r"got \(None, 3\) and \(None, 4\)"),
    ([np.ones((2, 3))], gn.ConfigurationError, "takes a list of at least 2 inputs, got 1"),
    ([np.ones((0, 3)), np.ones((0, 3))], gn.DataError, "input 0 is empty"),
])
def test_an_eager_call_refuses(inputs, error, message):
    with pytest.raises(error, match=message):
        layers.Add()(inputs)


def test_a_symbolic_call_records_a_node_and_works_out_the_shape():
    a, b = gn.Input((4,)), gn.Input((4,))
    add = layers.Add()
    y = add([a, b])
    assert y.shape == (4,) and y.node.layer is add and y.node.inputs == [a, b] and y.node.as_list
    assert not add.built  # recording computes nothing
    assert layers.Concatenate()([a, b, y]).shape == (12,)
    with pytest.raises(gn.ShapeError, match=r"needs inputs of one shape, got \(None, 4\) and \(None, 3\)"):
        layers.Multiply()([a, gn.Input((3,))])
    with pytest.raises(gn.ConfigurationError, match="^Subtract layer .subtract. takes a list of exactly 2 inputs, got 3"):
        layers.Subtract()([a, b, y])


# -- configs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, kwargs", [*[(name, {}) for name in MERGES], ("Concatenate", {"axis": 1})])
def test_config_round_trip(name, kwargs):
    layer = merge(name, name="joined", trainable=False, **kwargs)
    spec = layers.serialize(layer)
    assert spec == {"class_name": name, "config": {"name": "joined", "trainable": False, **kwargs,
                                                   **({"axis": -1} if name == "Concatenate" and not kwargs else {})}}
    clone = layers.deserialize(spec)
    assert type(clone) is type(layer) and layers.serialize(clone) == spec
    shapes = [(2, 3), (2, 3)]
    xs = arrays(shapes)
    clone.ensure_built(shapes, None, np.float64)
    np.testing.assert_array_equal(built(name, shapes, **kwargs).forward(xs)[0], clone.forward(xs)[0])


def test_every_public_merge_layer_is_tested_here():
    public = {name for name in layers.__all__ if isinstance(getattr(layers, name), type)
              and issubclass(getattr(layers, name), layers.Merge) and getattr(layers, name) is not layers.Merge}
    assert public == set(MERGES)


# -- PyTorch parity -------------------------------------------------------------------------------
def _torch_merge(torch, name, axis):
    if name == "Add":
        return lambda ts: torch.stack(ts).sum(0) if len(ts) > 2 else torch.add(*ts)
    if name == "Subtract":
        return lambda ts: torch.sub(*ts)
    if name == "Multiply":
        return lambda ts: torch.prod(torch.stack(ts), 0) if len(ts) > 2 else torch.mul(*ts)
    if name == "Average":
        return lambda ts: torch.stack(ts).mean(0)
    if name in ("Maximum", "Minimum"):
        pair = torch.maximum if name == "Maximum" else torch.minimum

        def chain(ts):
            y = ts[0]
            for t in ts[1:]:
                y = pair(y, t)
            return y
        return chain
    return lambda ts: torch.cat(ts, dim=axis)


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=case_id)
def test_forward_and_gradients_match_torch(case):
    torch = pytest.importorskip("torch")
    name, shapes, kwargs = case
    layer = built(name, shapes, **kwargs)
    xs = arrays(shapes, seed=4)
    y, backward = layer.forward(xs)
    dy = np.random.default_rng(5).standard_normal(y.shape)
    dxs = backward(dy)
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    y_t = _torch_merge(torch, name, kwargs.get("axis", -1))(ts)
    y_t.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, y_t.detach().numpy(), **EXACT)
    for dx, t in zip(dxs, ts, strict=True):
        np.testing.assert_allclose(dx, t.grad.numpy(), **EXACT)


# -- Activation -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_by_name_is_the_dedicated_layer(name):
    layer = layers.Activation(name)
    dedicated = ACTIVATIONS[name]()
    shape = (2, 4)
    for each in (layer, dedicated):
        each.ensure_built(shape, np.random.default_rng(0), np.float64)
    x = arrays([shape], seed=6)[0]
    dy = np.random.default_rng(7).standard_normal(x.shape)
    for training in (False, True):
        y, backward = layer.forward(x, training)
        y_ref, backward_ref = dedicated.forward(x, training)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(backward(dy), backward_ref(dy))
    assert layer.output_activation is (layer.activation if name in ("softmax", "sigmoid") else None)
    assert type(layer.activation) is ACTIVATIONS[name]
    spec = layers.serialize(layer)
    assert spec["class_name"] == "Activation"
    assert spec["config"]["activation"] == gn.layers.activations.serialize(dedicated)  # "silu" is saved as "swish"
    clone = layers.deserialize(spec)
    assert type(clone) is layers.Activation and layers.serialize(clone) == spec


def test_activation_serializes_as_keras():
    assert layers.serialize(layers.Activation("relu")) == {"class_name": "Activation",
                                                          "config": {"name": "activation", "activation": "relu"}}
    leaky = layers.Activation(layers.LeakyReLU(0.1), name="leaky")
    spec = layers.serialize(leaky)
    assert spec["config"] == {"name": "leaky", "activation": {"class_name": "LeakyReLU",
                                                              "config": {"negative_slope": 0.1}}}
    clone = layers.deserialize(spec)
    assert type(clone.activation) is layers.LeakyReLU and clone.activation.negative_slope == 0.1
    assert layers.deserialize({"class_name": "Activation", "config": {"activation": "tanh"}}).activation.name == "tanh"


@pytest.mark.parametrize("call, error, message", [
    (lambda: layers.Activation(), gn.ConfigurationError, "Activation needs the activation to apply"),
    (lambda: layers.Activation("nope"), gn.ConfigurationError, "unknown activation 'nope'"),
    (lambda: layers.Activation(layers.Dense(3)), gn.ConfigurationError,
     "Activation applies an activation .* got the Dense layer 'dense'; use that layer itself"),
    (lambda: layers.Activation(3), gn.ConfigurationError, "activation must be a name or a Layer, got int 3"),
    (lambda: layers.ReLU("tanh"), gn.ConfigurationError,
     "ReLU is an activation itself and takes no activation argument; Activation\\('tanh'\\) applies one"),
    (lambda: layers.Tanh().forward_logits(np.ones((1, 2))), NotImplementedError, "Tanh has no output activation"),
])
def test_activation_refusals(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_activation_of_an_activation_layer_applies_it_and_an_activation_layer_nests_once():
    relu = layers.ReLU()
    assert layers.Activation(relu).activation is relu
    assert type(layers.Activation(layers.Activation("tanh")).activation) is layers.Tanh


def test_a_subclass_without_forward_says_what_is_missing():
    class Nothing(layers.Activation):
        pass

    with pytest.raises(NotImplementedError, match="Nothing must define forward"):
        Nothing().forward(np.ones((1, 2)))
    assert Nothing().output_activation is None and "activation" not in Nothing().get_config()


@pytest.mark.parametrize("head, loss, y", [
    ("softmax", "sparse_categorical_crossentropy", np.array([0, 2, 1, 1, 0, 2, 2, 1])),
    ("sigmoid", "binary_crossentropy", np.array([[0], [1], [1], [0], [1], [0], [0], [1]])),
])
def test_a_final_activation_layer_fuses_with_the_cross_entropy_as_the_dedicated_layer(head, loss, y):
    """``Activation("softmax")`` at the end trains on the logits with the fused loss, exactly as
    ``Softmax()`` does, and predicts probabilities."""
    x = np.random.default_rng(0).standard_normal((8, 5))
    units = 3 if head == "softmax" else 1
    models = []
    for last in (layers.Activation(head), ACTIVATIONS[head]()):
        model = gn.Sequential([layers.Input((5,)), layers.Dense(units), last], seed=0, dtype="float64")
        model.compile(gn.optimizers.SGD(0.5), loss, metrics=["accuracy"])
        assert model.head_loss.from_logits and model.head_loss is not model.loss
        history = model.fit(x, y, epochs=3, batch_size=4, verbose=0)
        models.append((model, history.history))
    (fused, history), (dedicated, history_ref) = models
    assert history == history_ref
    for a, b in zip(fused.get_weights(), dedicated.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fused.predict(x, verbose=0), dedicated.predict(x, verbose=0))


def test_dense_takes_an_activation_layer_as_its_activation():
    dense = layers.Dense(3, activation=layers.Activation("tanh"))
    assert type(dense.activation) is layers.Tanh and dense.get_config()["activation"] == "tanh"
    assert type(layers.Dense(3, activation={"class_name": "Activation", "config": {"activation": "relu"}}).activation) \
        is layers.ReLU


def test_a_model_with_activation_and_reshape_layers_saves_and_loads(tmp_path):
    model = gn.Sequential([layers.Input((6,)), layers.Dense(8), layers.Activation("relu"), layers.Reshape((2, -1)),
                           layers.LayerNormalization(), layers.Flatten(), layers.Dense(3),
                           layers.Activation("softmax")], seed=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).standard_normal((16, 6)).astype(np.float32)
    model.fit(x, np.arange(16) % 3, epochs=2, verbose=0)
    model.save(tmp_path / "m.safetensors")
    loaded = gn.load(tmp_path / "m.safetensors")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# -- Reshape --------------------------------------------------------------------------------------
@pytest.mark.parametrize("input_shape, target, output", [
    ((6,), (2, 3), (2, 3)), ((6,), (-1, 2), (3, 2)), ((2, 3, 4), (-1,), (24,)), ((2, 3, 4), (4, 3, 2), (4, 3, 2)),
    ((12,), [3, -1], (3, 4)),
])
def test_reshape_computes_as_numpy_and_checks_its_gradient(input_shape, target, output):
    layer = layers.Reshape(target)
    assert layer.compute_output_shape(input_shape) == output
    layer.ensure_built(input_shape, np.random.default_rng(0), np.float64)
    x = arrays([input_shape])[0]
    y, backward = layer.forward(x)
    np.testing.assert_array_equal(y, x.reshape(len(x), *output))
    assert backward(np.ones_like(y)).shape == x.shape
    report = gn.gradcheck(layer, x)
    assert report.passed and set(report.errors) == {"input"}, str(report)
    assert layer.forward(x[:0])[0].shape == (0, *output)  # an empty batch, -1 or not


@pytest.mark.parametrize("target", [(), (0, 3), (-1, -1), (-2, 3), (2.0, 3), (True, 3), "23", 6, None])
def test_reshape_refuses_a_bad_target_shape(target):
    with pytest.raises(gn.ConfigurationError, match="Reshape target_shape must be a tuple of positive integers "
                                                    r"\(no batch axis\), one of which may be -1, got"):
        layers.Reshape(target)


@pytest.mark.parametrize("target, message", [
    ((5,), r"cannot reshape inputs of shape \(batch, 2, 3\), 6 numbers per example, to \(batch, 5\), which holds 5"),
    ((4, -1), r"to \(batch, 4, -1\), which holds a multiple of 4"),
])
def test_reshape_refuses_sizes_that_do_not_agree(target, message):
    with pytest.raises(gn.ShapeError, match=message):
        layers.Reshape(target).ensure_built((2, 3), None)
    with pytest.raises(gn.ShapeError, match=message):
        layers.Reshape(target)(np.ones((4, 2, 3)))
    with pytest.raises(gn.ShapeError, match=message):
        layers.Reshape(target)(gn.Input((2, 3)))


def test_reshape_config_is_keras_s():
    spec = layers.serialize(layers.Reshape((3, -1)))
    assert spec == {"class_name": "Reshape", "config": {"name": "reshape", "target_shape": [3, -1]}}
    assert layers.deserialize(spec).target_shape == (3, -1)


# -- ONNX -----------------------------------------------------------------------------------------
def _session(proto):
    onnxruntime = pytest.importorskip("onnxruntime")
    return onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("dtype, tolerance", [("float32", 1e-6), ("float64", 1e-12)])
def test_activation_and_reshape_export_to_onnx(dtype, tolerance):
    pytest.importorskip("onnx")
    from glassnet.onnx import to_proto

    model = gn.Sequential([layers.Input((6,)), layers.Dense(12), layers.Activation("relu"), layers.Reshape((3, -1)),
                           layers.Activation(layers.LeakyReLU(0.1)), layers.Reshape((2, 2, 3)), layers.Flatten(),
                           layers.Dense(4), layers.Activation("swish"), layers.Dense(3),
                           layers.Activation("softmax")], seed=0, dtype=dtype)
    proto = to_proto(model)
    ops = [node.op_type for node in proto.graph.node]
    assert ops.count("Reshape") == 2 and "Softmax" in ops and "PRelu" in ops and "Relu" in ops
    shapes = [list(t.dims) for t in proto.graph.initializer if t.name.endswith("/shape")]
    assert sorted(tuple(s) for s in shapes) == [(3,), (4,)]
    x = (np.random.default_rng(1).standard_normal((50, 6)) * 2).astype(dtype)
    session = _session(proto)
    for rows in (x, x[:1]):
        np.testing.assert_allclose(session.run(None, {"input": rows})[0], model.predict(rows, verbose=0),
                                   rtol=0, atol=tolerance)


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=case_id)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_merge_converters_compute_the_forward_under_onnx_runtime(case, dtype):
    """Merge layers cannot be in a Sequential, so each converter is called on a hand-made graph
    whose inputs are the merge's inputs; the graph passes the full ONNX check and gives the
    layer's forward, to the last bit (each converter computes in glassnet's order)."""
    onnx = pytest.importorskip("onnx")
    from glassnet.onnx.graph import Graph
    from glassnet.onnx.layers import convert

    name, shapes, kwargs = case
    layer = built(name, shapes, dtype, **kwargs)
    graph = Graph(dtype)
    inputs = [graph.input(f"x{i}", shape) for i, shape in enumerate(shapes)]
    graph.output(convert(graph, layer, inputs), "output", layer.compute_output_shape(shapes))
    proto = graph.model(17)
    onnx.checker.check_model(proto, full_check=True)
    xs = arrays(shapes, n=7, seed=8, dtype=dtype)
    out = _session(proto).run(None, {f"x{i}": x for i, x in enumerate(xs)})[0]
    np.testing.assert_array_equal(out, layer.forward(xs)[0])
