"""The graph model (``gn.Model``, Keras's functional API): wiring, the graph's backward (gradients
summed where a tensor is read twice), several inputs and outputs, the one training loop, files."""
import numpy as np
import pytest

import glassnet as gn
from glassnet.errors import ConfigurationError, DataError, ModelFileError, ShapeError
from glassnet.io import model_file


def table(n=256, seed=0):
    rng = np.random.default_rng(seed)
    numeric = rng.standard_normal((n, 12)).astype(np.float32)
    city = rng.integers(0, 50, (n, 1))
    price = (numeric[:, :1] * 2 + city / 50).astype(np.float32)
    churn = (numeric[:, 1:2] + (city % 3 == 0) > 0.5).astype(np.float32)
    return {"numeric": numeric, "city": city}, {"price": price, "churn": churn}


def issue_model(seed=0, dtype="float32"):
    """The example of the issue: BatchNorm, a residual Add, LayerNorm, an Embedding, two heads."""
    numeric = gn.Input((12,), name="numeric")
    city = gn.Input((1,), dtype="int64", name="city")
    x = gn.layers.Dense(16, use_bias=False)(numeric)  # a bias before BatchNorm has no effect (no gradient)
    x = gn.layers.BatchNormalization()(x)
    x = gn.layers.Activation("relu")(x)
    h = gn.layers.Dense(16, activation="relu")(x)
    x = gn.layers.Add()([x, h])
    x = gn.layers.LayerNormalization()(x)
    e = gn.layers.Flatten()(gn.layers.Embedding(50, 4)(city))
    x = gn.layers.Concatenate()([x, e])
    price = gn.layers.Dense(1, name="price")(x)
    churn = gn.layers.Dense(1, activation="sigmoid", name="churn")(x)
    return gn.Model(inputs=[numeric, city], outputs=[price, churn], seed=seed, dtype=dtype)


def compiled(model):
    model.compile(optimizer="adam", loss={"price": "mse", "churn": "binary_crossentropy"},
                  loss_weights={"price": 1.0, "churn": 0.5}, metrics={"churn": ["auc"]})
    return model


def test_the_issue_example_trains_saves_and_loads(tmp_path):
    x, y = table()
    model = compiled(issue_model())
    history = model.fit(x, y, epochs=4, batch_size=32, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "price_loss", "churn_loss", "churn_auc",
                                    "val_loss", "val_price_loss", "val_churn_loss", "val_churn_auc"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    predictions = model.predict(x)
    assert [p.shape for p in predictions] == [(256, 1), (256, 1)]
    assert ((predictions[1] > 0) & (predictions[1] < 1)).all()  # the sigmoid applied, trained on logits
    path = tmp_path / "m.safetensors"
    model.save(path)
    loaded = gn.load(path)
    assert isinstance(loaded, gn.Model) and loaded.output_names == ["price", "churn"]
    for a, b in zip(loaded.predict(x), predictions):
        np.testing.assert_array_equal(a, b)
    assert loaded.evaluate(x, y, return_dict=True) == pytest.approx(model.evaluate(x, y, return_dict=True))
    with pytest.raises(ModelFileError, match="holds a Model, not a Sequential"):
        gn.Sequential.load(path)


def test_losses_add_up_with_their_weights():
    x, y = table()
    model = compiled(issue_model())
    logs = model.evaluate(x, y, return_dict=True)
    assert logs["loss"] == pytest.approx(logs["price_loss"] + 0.5 * logs["churn_loss"], rel=1e-6)
    price = gn.losses.MeanSquaredError()(y["price"], model.predict(x)[0])
    assert logs["price_loss"] == pytest.approx(price, rel=1e-5)


def test_lists_and_dicts_are_the_same_inputs():
    x, y = table()
    model = compiled(issue_model())
    as_list = model.evaluate([x["numeric"], x["city"]], [y["price"], y["churn"]], return_dict=True)
    assert as_list == model.evaluate(x, y, return_dict=True)


def test_gradients_of_a_graph_match_central_differences():
    """Residual Add, a shared layer, BatchNorm, an Embedding, two weighted losses: float64."""
    x, y = table(n=24)
    model = compiled(issue_model(dtype="float64"))
    report = gn.gradcheck(model, x, y)
    assert report, report.errors
    assert "embedding.weight" in report.errors and "price.weight" in report.errors


def test_a_tensor_read_twice_gets_the_sum_of_both_gradients():
    """y = D(x) + D(x) through one Add: each weight's gradient is twice that of y = D(x)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3))
    inputs = gn.Input((3,))
    h = gn.layers.Dense(2)(inputs)
    doubled = gn.Model(inputs, gn.layers.Add()([h, h]), seed=1, dtype="float64")
    single = gn.Model(inputs, h, seed=1, dtype="float64")
    upstream = rng.standard_normal((8, 2))
    doubled.forward(x)[1](upstream)
    twice = [p.grad.copy() for p in doubled.parameters()]
    single.forward(x)[1](upstream)
    for g2, p in zip(twice, single.parameters()):
        np.testing.assert_allclose(g2, 2 * p.grad)
    assert gn.gradcheck(doubled, x)


def test_a_shared_layer_sums_its_gradients_over_both_calls():
    a, b = gn.Input((4,), name="a"), gn.Input((4,), name="b")
    shared = gn.layers.Dense(3, activation="tanh")
    out = gn.layers.Dense(1)(gn.layers.Concatenate()([shared(a), shared(b)]))
    model = gn.Model([a, b], out, seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    x, y = [rng.standard_normal((10, 4)), rng.standard_normal((10, 4))], rng.standard_normal((10, 1))
    assert len(model.layers) == 3 and model.count_params() == 4 * 3 + 3 + 6 + 1
    assert gn.gradcheck(model, x, y)


def test_one_input_one_output_trains_exactly_as_a_sequential():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((200, 5)).astype(np.float32), rng.integers(0, 3, 200)

    def stack():
        return [gn.layers.Dense(16, activation="relu"), gn.layers.Dropout(0.2), gn.layers.Dense(3, activation="softmax")]

    sequential = gn.Sequential([gn.layers.Input((5,)), *stack()], seed=3)
    inputs = gn.Input((5,))
    t = inputs
    for layer in stack():
        t = layer(t)
    graph = gn.Model(inputs, t, seed=3)
    for model in (sequential, graph):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    a = sequential.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0).history
    b = graph.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0).history
    assert a == b
    for wa, wb in zip(sequential.get_weights(), graph.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(sequential.predict(x), graph.predict(x))


def _two_models_sharing_a_hidden_layer(seed=0):
    inputs = gn.Input((8,))
    hidden = gn.layers.Dense(4, activation="relu", name="hidden")(inputs)
    model = gn.Model(inputs, gn.layers.Dense(2, activation="softmax", name="out")(hidden), seed=seed)
    model.compile(optimizer=gn.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    return inputs, hidden, model


def test_a_model_of_another_models_hidden_layer_leaves_its_training_unchanged():
    """The Keras way to see a hidden layer: a second Model on the same tensors. Building it packs
    the shared layers into its own buffers; the first model's fit takes them back."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    _, _, alone = _two_models_sharing_a_hidden_layer()
    alone.fit(x, y, epochs=3, verbose=0, shuffle=False)
    inputs, hidden, model = _two_models_sharing_a_hidden_layer()
    features = gn.Model(inputs, hidden)  # built before the fit
    model.fit(x, y, epochs=3, verbose=0, shuffle=False)
    for a, b in zip(alone.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    w = model.get_layer("hidden")
    np.testing.assert_allclose(features.predict(x), np.maximum(x @ w.weight.value + w.bias.value, 0), rtol=1e-6)
    # the second model trains the shared layer too, and the first goes on from there
    features.compile(optimizer="sgd", loss="mse")
    before = w.weight.value.copy()
    features.fit(x, np.zeros((256, 4), np.float32), epochs=1, verbose=0)
    moved = w.weight.value.copy()
    assert not np.array_equal(before, moved)
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(moved, w.weight.value)
    np.testing.assert_array_equal(model.params.values[model.params.slices[w.weight.name]], w.weight.value.ravel())


def test_an_output_read_by_another_layer_is_not_fused():
    inputs = gn.Input((3,))
    probabilities = gn.layers.Dense(2, activation="softmax", name="first")(inputs)
    second = gn.layers.Dense(2, activation="softmax", name="second")(probabilities)
    model = gn.Model(inputs, [probabilities, second], seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert model._fused_nodes == {2}  # the slot of the second output: the input is 0, the first node 1
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 3)), rng.integers(0, 2, 6)
    assert gn.gradcheck(model, x, [y, y])


def test_wiring_mistakes_are_named():
    a, b = gn.Input((4,), name="a"), gn.Input((4,), name="b")
    h = gn.layers.Dense(2)(a)
    with pytest.raises(ConfigurationError, match="input 'b' is not used"):
        gn.Model([a, b], h)
    with pytest.raises(ConfigurationError, match="not among the model's inputs"):
        gn.Model(b, h)
    with pytest.raises(ConfigurationError, match="outputs must be tensors made by calling layers"):
        gn.Model(a, np.zeros(3))
    with pytest.raises(ConfigurationError, match="inputs must be gn.Input"):
        gn.Model(h, h)
    shared = gn.layers.Dense(2)
    shared(a)
    with pytest.raises(ShapeError, match="shared.*\\(None, 4\\).*\\(None, 5\\)"):
        shared(gn.Input((5,)))
    with pytest.raises(ShapeError, match="needs inputs of one shape"):
        gn.layers.Add()([a, gn.Input((3,))])
    twin = gn.Input((4,), name="a")
    with pytest.raises(ConfigurationError, match="two inputs are named 'a'"):
        gn.Model([a, twin], gn.layers.Add()([a, twin]))


def test_data_mistakes_are_named():
    x, y = table(n=16)
    model = compiled(issue_model())
    with pytest.raises(ConfigurationError, match="'city' is missing"):
        model.fit({"numeric": x["numeric"]}, y, verbose=0)
    with pytest.raises(ConfigurationError, match="no input is named 'town'"):
        model.fit({**x, "town": x["city"]}, y, verbose=0)
    with pytest.raises(ConfigurationError, match="2 inputs.*list of 1"):
        model.predict([x["numeric"]])
    with pytest.raises(ShapeError, match="same number of examples.*numeric: 16, city: 15"):
        model.predict({"numeric": x["numeric"], "city": x["city"][:15]})
    with pytest.raises(ShapeError, match="input 'numeric' has shape"):
        model.predict({"numeric": x["numeric"][:, :5], "city": x["city"]})
    with pytest.raises(DataError, match="input 'city' has 50 .*input_dim=50"):
        model.predict({"numeric": x["numeric"], "city": np.full((16, 1), 50)})
    with pytest.raises(ConfigurationError, match="loss has nothing for output 'churn'"):
        issue_model().compile(optimizer="sgd", loss={"price": "mse"})
    with pytest.raises(ConfigurationError, match="'cost', which is not an output"):
        issue_model().compile(optimizer="sgd", loss={"price": "mse", "churn": "mse", "cost": "mse"})
    with pytest.raises(ConfigurationError, match="class_weight weighs classes"):
        model.fit(x, y, class_weight={0: 1.0, 1: 2.0}, verbose=0)


def test_summary_shows_what_each_layer_reads():
    lines = []
    issue_model().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "city (Input)" in text and "Reads" in text
    assert any(line.startswith("add (Add)") and line.rstrip().endswith("activation, dense_1") for line in lines), text
    assert "Outputs: price (None, 1), churn (None, 1)" in text
    assert "Non-trainable params: 32" in text  # the BatchNorm's moving mean and variance


def test_a_node_reading_many_tensors_names_the_first_few_and_the_count():
    inputs = [gn.Input((1,), name=f"in{i}") for i in range(1000)]
    model = gn.Model(inputs, gn.layers.Dense(1)(gn.layers.Concatenate()(inputs)))
    lines = []
    model.summary(print_fn=lines.append)
    row = next(line for line in lines if line.startswith("concatenate (Concatenate)"))
    assert row.endswith("in0, in1, in2, in3, in4, ... (1,000 in all)")
    assert max(len(line) for line in lines) < 120  # one wide cell no longer widens every row


def test_freezing_a_layer_of_a_graph():
    x, y = table(n=64)
    model = compiled(issue_model())
    embedding = model.get_layer("embedding")
    embedding.trainable = False
    before = embedding.parameters()[0].value.copy()
    model.fit(x, y, epochs=2, verbose=0)
    np.testing.assert_array_equal(embedding.parameters()[0].value, before)


def test_a_backup_resumes_a_graph_model_exactly(tmp_path):
    x, y = table(n=96)

    def run(callbacks, epochs=4):
        model = compiled(issue_model())
        model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=callbacks)
        return model

    straight = run([])

    class Stop(gn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    backup = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        run([gn.callbacks.BackupAndRestore(backup), Stop()])
    resumed = run([gn.callbacks.BackupAndRestore(backup)])
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def _crafted(path, change):
    file = model_file.read(path)
    tensors = {name: array for group in ("params",) for name, array in
               {f"params/{k}": v for k, v in file.group("params").items()}.items()}
    fields = dict(file.fields)
    change(fields["model"])
    model_file.write(path, tensors, fields, True)


@pytest.mark.parametrize("change, message", [
    (lambda c: c["nodes"][0]["inputs"].__setitem__(0, ["node", 5]), "model.nodes\\[0\\].inputs\\[0\\]\\[1\\]"),
    (lambda c: c["nodes"][1].__setitem__("layer", 99), "model.nodes\\[1\\].layer"),
    (lambda c: c["inputs"][0].__setitem__("shape", [2 ** 41]), "model.inputs\\[0\\].shape"),
    (lambda c: c["outputs"].append(["input", 7]), "model.outputs\\[2\\]"),
    (lambda c: c.pop("nodes") and c.__setitem__("nodes", "x"), "model.nodes"),
    (lambda c: c["inputs"][0].__setitem__("shape", [13]), "dense.weight is float32 \\(12, 16\\) in the file, but the architecture needs float32 \\(13, 16\\)"),
])
def test_crafted_graph_files_are_refused(tmp_path, change, message):
    path = tmp_path / "m.safetensors"
    compiled(issue_model()).save(path)
    _crafted(path, change)
    with pytest.raises(ModelFileError, match=message):
        gn.load(path)


def test_pytorch_parity_of_a_residual_graph():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 6)), rng.integers(0, 3, 16)
    inputs = gn.Input((6,))
    h = gn.layers.Dense(8, activation="tanh")(inputs)
    r = gn.layers.Add()([h, gn.layers.Dense(8, activation="relu")(h)])
    out = gn.layers.Dense(3, activation="softmax")(r)
    model = gn.Model(inputs, out, seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    w1, b1, w2, b2, w3, b3 = [torch.tensor(w, requires_grad=True) for w in model.get_weights()]
    t = torch.tanh(torch.tensor(x) @ w1 + b1)
    t = t + torch.relu(t @ w2 + b2)
    loss = torch.nn.functional.cross_entropy(t @ w3 + b3, torch.tensor(y))
    loss.backward()
    outputs, backward = model.forward_head(x, training=True)
    value, d_outputs = model.head_loss.unchecked_value_and_grad(y, outputs)
    backward(d_outputs)
    assert value == pytest.approx(loss.item(), rel=1e-12)
    for p, w in zip(model.parameters(), (w1, b1, w2, b2, w3, b3)):
        np.testing.assert_allclose(p.grad, w.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_pickled_graph_model_predicts_and_trains_the_same():
    import pickle
    x, y = table(n=64)
    model = compiled(issue_model())
    model.fit(x, y, epochs=1, verbose=0)
    copy = pickle.loads(pickle.dumps(model))
    for a, b in zip(copy.predict(x), model.predict(x)):
        np.testing.assert_array_equal(a, b)
    assert copy.fit(x, y, epochs=1, verbose=0).history == model.fit(x, y, epochs=1, verbose=0).history


def test_dicts_of_inputs_and_outputs_name_them():
    a, b = gn.Input((3,), name="first"), gn.Input((2,))
    h = gn.layers.Concatenate()([a, b])
    model = gn.Model({"left": a, "right": b}, {"sum": gn.layers.Dense(1)(h), "twice": gn.layers.Dense(2)(h)}, seed=0)
    assert model.input_names == ["left", "right"] and model.output_names == ["sum", "twice"]
    out = model.predict({"right": np.ones((4, 2)), "left": np.ones((4, 3))})
    assert [o.shape for o in out] == [(4, 1), (4, 2)]


def test_the_command_line_describes_and_exports_a_graph_model(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from glassnet import cli
    path = tmp_path / "m.safetensors"
    compiled(issue_model()).save(path)
    assert cli.main(["info", str(path)]) == 0
    assert "price" in capsys.readouterr().out
    assert cli.main(["export", str(path), str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx").stat().st_size > 0
