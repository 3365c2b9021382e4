"""``glassnet.explain`` and ``glassnet explain``: the trace's numbers are the model's own (its
layers' forward and backward, its loss, its training step, gradcheck), for Dense layers, a
BatchNormalization and a LayerNormalization in a batch, and a graph model's residual Add and the
sum of the gradients at a tensor read twice; it renders as text, Markdown and rich, and every
misuse gets a clear error."""
import io
import re
import sys

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers, report
from glassnet.cli import main
from glassnet.explain.sections import _factor, num


def _default_model(seed=0, outputs=1, last=None):
    model = gn.Sequential([layers.Dense(3, activation="sigmoid"), layers.Dense(outputs, activation=last)],
                          seed=seed, dtype="float64")
    model.build((2,))
    return model


def _own_gradients(model, loss, x, y):
    """Gradients from the model's own forward/backward (Sequential.forward chains the closures)."""
    model.compile(optimizer=gn.optimizers.SGD(0.1), loss=loss)
    x, y, _ = gn.training.prepare(model, x, y)
    outputs, backward = model.forward_head(x, training=True)
    backward(model.head_loss.value_and_grad(y, outputs)[1])
    return [p.grad.copy() for p in model.parameters()]


def test_default_trace_numbers_are_the_models_own():
    trace = gn.explain(x=[0.5, -1.0], y=0.8)
    grads = _own_gradients(_default_model(), "mse", [[0.5, -1.0]], [[0.8]])
    traced = [g for r in trace.layers for g in (r.d_weight, r.d_bias)]
    for own, shown in zip(grads, traced):
        np.testing.assert_array_equal(own, shown)
    model = _default_model()
    np.testing.assert_array_equal(trace.prediction, model(np.array([[0.5, -1.0]])))
    first = trace.layers[0]
    np.testing.assert_allclose(first.z, first.inputs @ first.weight + first.bias, rtol=1e-15)
    np.testing.assert_allclose(first.dz, first.d_outputs * first.local, rtol=1e-15)
    np.testing.assert_allclose(first.d_weight, first.inputs.T @ first.dz, rtol=1e-15)
    assert trace.data_loss == pytest.approx((trace.prediction[0, 0] - 0.8) ** 2, rel=1e-14)
    assert trace.examples == 1 and not trace.graph and trace.paths == {}


def test_the_printed_text_holds_those_numbers():
    trace = gn.explain()
    text = str(trace)
    for r in trace.layers:
        for i, j in np.ndindex(r.weight.shape):
            assert f"{num(r.inputs[0, i]) if r.inputs[0, i] >= 0 else '(' + num(r.inputs[0, i]) + ')'} * " in text
            assert num(r.d_weight[i, j]) in text
        for v in r.z[0]:
            assert num(v) in text
    for before, grad, after in trace.updates.values():
        for v in np.concatenate([before.ravel(), grad.ravel(), after.ravel()]):
            assert num(v) in text
    assert f"loss before the step: {num(trace.loss)}; after: {num(trace.loss_after)}" in text


def test_the_step_is_the_one_fit_takes():
    trace = gn.explain(x=[0.5, -1.0], y=0.8, learning_rate=0.05)
    model = _default_model()
    model.compile(optimizer=gn.optimizers.SGD(0.05), loss="mse")
    model.fit(np.array([[0.5, -1.0]]), np.array([0.8]), batch_size=1, epochs=1, shuffle=False, verbose=0)
    for p in model.parameters():
        before, grad, after = trace.updates[p.name]
        np.testing.assert_array_equal(after, p.value)
        np.testing.assert_allclose(after, before - 0.05 * grad, rtol=1e-15)
    assert trace.loss_after < trace.loss
    assert trace.loss_after == pytest.approx(model.evaluate(np.array([[0.5, -1.0]]), np.array([0.8]), verbose=0))


def test_every_gradient_is_checked_against_the_numerical_one():
    trace = gn.explain(hidden=(4, 3), activation="tanh", seed=2)
    assert trace.check.passed
    names = {p for p in trace.updates}
    assert names <= set(trace.check.compared)
    for name, (entries, analytic, numerical) in trace.check.compared.items():
        if name != "input":
            assert len(entries) == trace.updates[name][0].size
            np.testing.assert_allclose(analytic, numerical, rtol=1e-5, atol=1e-9)
    assert str(trace).count(" ok") >= sum(v[0].size for v in trace.updates.values())


def test_classification_sends_p_minus_y_back_from_the_loss():
    trace = gn.explain(task="classification", outputs=3, x=[0.2, 0.4], y=2)
    last = trace.layers[-1]
    np.testing.assert_allclose(last.outputs.sum(), 1.0)
    np.testing.assert_allclose(last.dz, last.outputs - np.eye(3)[2], rtol=1e-12)
    assert last.local is None
    assert trace.data_loss == pytest.approx(-np.log(last.outputs[0, 2]))
    text = trace.to_text()
    assert "-log(p of the right class)" in text and "(fused into the loss)" in text


@pytest.mark.parametrize("target", [1, 0])
def test_a_binary_classifier_with_one_sigmoid_output_sends_p_minus_y_back(target):
    trace = gn.explain(task="classification", outputs=1, x=[0.3, -0.5], y=target)
    last = trace.layers[-1]
    assert last.activation == "sigmoid" and last.fused and trace.loss_object.name == "binary_crossentropy"
    p = float(last.outputs[0, 0])
    assert p == pytest.approx(1 / (1 + np.exp(-last.z[0, 0])), rel=1e-14)
    assert trace.data_loss == pytest.approx(-np.log(p if target else 1 - p), rel=1e-12)
    np.testing.assert_allclose(last.dz, [[p - target]], rtol=1e-12)
    grads = _own_gradients(_default_model(last="sigmoid"), "binary_crossentropy", [[0.3, -0.5]], [[target]])
    for own, shown in zip(grads, [g for r in trace.layers for g in (r.d_weight, r.d_bias)]):
        np.testing.assert_allclose(shown, own, rtol=1e-12)
    assert trace.check.passed and trace.loss_after < trace.loss
    text = trace.to_text()
    assert f"target y = class {target}" in text
    assert f"-log({'p' if target else '1 - p'}) = -log({num(p if target else 1 - p)}) = {num(trace.data_loss)}" in text
    assert f"error: p - y = {num(p)} - {num(target)} = dL/dz = [{num(p - target)}]" in text
    assert "sigmoid: p = 1 / (1 + exp(-z))" in text


def test_a_binary_batch_and_the_cli_flag(capsys):
    trace = gn.explain(task="classification", outputs=1, x=[[0.3, -0.5], [0.1, 0.9]], y=[[1], [0]])
    p = trace.layers[-1].outputs[:, 0]
    np.testing.assert_allclose(trace.layers[-1].dz[:, 0], (p - [1, 0]) / 2, rtol=1e-12)
    assert "dL/dz = (p - y) / 2 (sigmoid and binary cross-entropy together" in trace.to_text()
    assert main(["explain", "--plain", "--task", "classification", "--outputs", "1", "--x", "0.3,-0.5", "--y", "1"]) == 0
    out = capsys.readouterr().out
    assert "dense_1 (1, sigmoid)" in out and "loss: binary_crossentropy on the logits z" in out
    assert "gradient check passed" in out


def _fitted_steps(optimizer, steps, x, y):
    """The weights after each of ``steps`` fit steps on one example, and the optimizer's state."""
    model = _default_model()
    model.compile(optimizer=optimizer, loss="mse")
    after = []
    for _ in range(steps):
        model.fit(np.array([x]), np.array([y]), batch_size=1, epochs=1, shuffle=False, verbose=0)
        after.append({p.name: p.value.copy() for p in model.parameters()})
    return after, model.optimizer.state_dict()["state"]


def test_adam_steps_show_its_moments_step_sizes_and_updates_next_to_sgds():
    trace = gn.explain(x=[0.5, -1.0], y=0.8, optimizer="adam", steps=3)
    after, state = _fitted_steps(gn.optimizers.Adam(0.1), 3, [0.5, -1.0], [0.8])
    assert trace.optimizer.kind == "adam" and [s.t for s in trace.steps] == [1, 2, 3]
    for step, fitted in zip(trace.steps, after):
        for name, (before, g, moved) in step.updates.items():
            np.testing.assert_array_equal(moved, fitted[name])
            np.testing.assert_allclose(moved - before, step.update[name], rtol=1e-9, atol=1e-15)
            np.testing.assert_allclose(step.sgd[name], -0.1 * g, rtol=1e-15)
            m_before, v_before = step.slots_before[name]["m"], step.slots_before[name]["v"]
            np.testing.assert_allclose(step.slots[name]["m"], 0.9 * m_before + 0.1 * g, rtol=1e-12)
            np.testing.assert_allclose(step.slots[name]["v"], 0.999 * v_before + 0.001 * g ** 2, rtol=1e-12)
            np.testing.assert_allclose(step.rate[name], 0.1 / (np.sqrt(step.v_hat[name]) + 1e-7), rtol=1e-15)
    for name, slots in state.items():  # the moments are the optimizer's own
        np.testing.assert_allclose(trace.steps[-1].slots[name]["m"], slots["m"], rtol=1e-15)
        np.testing.assert_allclose(trace.steps[-1].slots[name]["v"], slots["v"], rtol=1e-15)
    first = trace.steps[0]  # a learning rate per weight: every weight moves by about lr on step 1
    for name, (_, g, _) in first.updates.items():
        np.testing.assert_allclose(np.abs(first.update[name]), 0.1, rtol=1e-4)
        assert np.all((np.abs(g) < 1) == (first.rate[name] > 0.1))
    assert trace.loss_after == first.loss_after and trace.steps[1].loss_before == first.loss_after
    text = trace.to_text()
    name = "dense_1.weight"
    g, m = first.updates[name][1][0, 0], first.slots[name]["m"][0, 0]
    f = _factor
    assert f"0.9*0 + 0.1*{f(g)}" in text and f"0.999*0 + 0.001*{f(g)}^2" in text
    assert "Step 3 of Adam" in text and "3 steps of Adam: the total" in text
    assert f"0.9*{f(m)} + 0.1*{f(trace.steps[1].updates[name][1][0, 0])}" in text
    assert "plain SGD: -lr*dL/dw" in text and "3 steps of Adam with learning rate 0.1000 on the same examples" in text


def test_momentum_steps_show_the_velocity_the_sum_of_past_gradients():
    trace = gn.explain(x=[0.5, -1.0], y=0.8, optimizer="momentum", steps=2)
    after, state = _fitted_steps(gn.optimizers.SGD(0.1, momentum=0.9), 2, [0.5, -1.0], [0.8])
    g1 = {name: u[1] for name, u in trace.steps[0].updates.items()}
    for name, (before, g2, moved) in trace.steps[1].updates.items():
        np.testing.assert_array_equal(moved, after[1][name])
        np.testing.assert_allclose(trace.steps[1].slots[name]["momentum"], 0.9 * g1[name] + g2, rtol=1e-12)
        np.testing.assert_allclose(trace.steps[1].slots[name]["momentum"], state[name]["momentum"], rtol=1e-15)
        np.testing.assert_allclose(moved - before, -0.1 * (0.9 * g1[name] + g2), rtol=1e-9, atol=1e-15)
    assert "b = momentum*b + dL/dw" in str(trace) and "Step 2 of SGD with momentum 0.9" in str(trace)
    nesterov = gn.explain(x=[0.5, -1.0], y=0.8, optimizer=gn.optimizers.SGD(0.05, momentum=0.5, nesterov=True), steps=2)
    step = nesterov.steps[1]
    for name, (before, g, moved) in step.updates.items():
        np.testing.assert_allclose(moved - before, -0.05 * (g + 0.5 * step.slots[name]["momentum"]), rtol=1e-9, atol=1e-15)
    plain = gn.explain(x=[0.5, -1.0], y=0.8, steps=2)
    assert "Step 2 of gradient descent" in str(plain) and plain.steps[1].slots == {"dense.weight": {}, "dense.bias": {},
                                                                                  "dense_1.weight": {}, "dense_1.bias": {}}


@pytest.mark.parametrize("kwargs, message", [
    (dict(optimizer="rmsprop"), "optimizer must be one of sgd, momentum, adam or an SGD or Adam instance, got 'rmsprop'"),
    (dict(optimizer=gn.optimizers.AdamW()), "SGD \\(with or without momentum\\) and Adam; got AdamW"),
    (dict(optimizer=gn.optimizers.Adam(weight_decay=0.1)), "without weight_decay or clipping"),
    (dict(steps=11), "steps must be at most 10"),
    (dict(steps=0), "steps must be a positive integer"),
])
def test_optimizer_errors(kwargs, message):
    with pytest.raises(gn.ConfigurationError, match=message):
        gn.explain(**kwargs)


def test_cli_optimizer_and_steps(capsys):
    assert main(["explain", "--plain", "--optimizer", "adam", "--steps", "2", "--x", "0.5,-1", "--y", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "Step 1 of Adam" in out and "Step 2 of Adam" in out and "update -step size*m_hat" in out
    assert main(["explain", "--plain", "--optimizer", "momentum"]) == 0
    assert "One step of SGD with momentum 0.9" in capsys.readouterr().out


def test_a_users_model_is_traced_on_a_copy_and_left_unchanged():
    model = gn.Sequential([layers.Dense(4, activation="relu", kernel_regularizer=gn.regularizers.L2(0.01)),
                           layers.Dense(2, activation="sigmoid")], seed=1)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x = np.array([[0.3, -0.2, 0.9]], dtype=np.float32)
    model.fit(np.repeat(x, 4, axis=0), np.ones((4, 2)), verbose=0)
    weights, iterations = model.get_weights(), model.optimizer.iterations
    trace = gn.explain(model, x, [1, 0])
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert model.optimizer.iterations == iterations and model.layers[0].compute_input_gradient is False
    assert trace.penalty == pytest.approx(0.01 * float(np.square(weights[0].astype(np.float64)).sum()), rel=1e-6)
    assert trace.check.passed and "L1/L2 penalty" in str(trace)
    np.testing.assert_allclose(trace.layers[-1].dz, (trace.prediction - [1, 0]) / 2, rtol=1e-12)


def test_uncompiled_models_get_a_loss_from_their_output():
    assert gn.explain(_default_model(outputs=3, last="softmax")).loss_object.name == "sparse_categorical_crossentropy"
    assert gn.explain(_default_model(last="sigmoid")).loss_object.name == "binary_crossentropy"
    softmax_mse = _default_model(outputs=2, last="softmax")
    softmax_mse.compile(optimizer="sgd", loss="mse")
    trace = gn.explain(softmax_mse)
    assert trace.layers[-1].local is None and "(softmax Jacobian)" in str(trace)
    assert trace.check.passed


def test_l1_step_note_and_exact_zeros():
    model = gn.Sequential([layers.Dense(2, kernel_regularizer=gn.regularizers.L1(5.0))], seed=0, dtype="float64")
    model.build((2,))
    trace = gn.explain(model, [0.1, 0.1], [0.0, 0.0], learning_rate=0.5)
    assert np.all(trace.updates["dense.weight"][2] == 0)
    assert "stops at exactly 0" in str(trace)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(model="not a model"), gn.ConfigurationError, "Sequential model or a graph gn.Model, got str"),
    (dict(task="ranking"), gn.ConfigurationError, "task must be one of regression, classification, got 'ranking'"),
    (dict(x=np.ones((9, 2))), gn.ShapeError, r"1 to 8 examples: x must have shape \(2,\) or \(n, 2\) with n <= 8, got \(9, 2\)"),
    (dict(x=np.ones((0, 2))), gn.ShapeError, r"got \(0, 2\)"),
    (dict(examples=9), gn.ConfigurationError, "examples must be at most 8"),
    (dict(examples=0), gn.ConfigurationError, "examples must be a positive integer"),
    (dict(x=np.ones((2, 2)), examples=3), gn.ConfigurationError, "examples=3 but x holds 2"),
    (dict(x=np.ones((3, 2)), y=[1.0, 2.0]), gn.ShapeError, "same number of examples, got 3 and 2"),
    (dict(x=[1.0, 2.0, 3.0]), gn.ShapeError, "3 features instead of 2"),
    (dict(inputs=0), gn.ConfigurationError, "inputs must be a positive integer, got 0"),
    (dict(task="classification", outputs=0), gn.ConfigurationError, "outputs must be a positive integer, got 0"),
    (dict(hidden=(64, 64)), gn.ConfigurationError, "4417 parameters.*max_parameters=500"),
    (dict(learning_rate=0), gn.ConfigurationError, "learning_rate"),
    (dict(activation="nope"), gn.ConfigurationError, "unknown activation 'nope'"),
    (dict(task="classification", y=5), gn.DataError, r"class labels must be in \[0, 1\]"),
])
def test_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        gn.explain(**kwargs)


def test_unsupported_layers_are_named_and_the_input_size_must_be_known():
    with pytest.raises(gn.ConfigurationError, match="layer 'dropout' is a Dropout, which it cannot show"):
        gn.explain(gn.Sequential([layers.Dense(3), layers.Dropout(0.5), layers.Dense(1)]), [1.0, 2.0])
    with pytest.raises(gn.NotBuiltError, match="pass an example x"):
        gn.explain(gn.Sequential([layers.Dense(3), layers.Dense(1)]))
    assert gn.explain(gn.Sequential([layers.Dense(3), layers.Dense(1)], seed=0), [1.0, 2.0]).check.passed
    x = gn.Input((2,))
    joined = layers.Concatenate()([x, layers.Dense(2)(x)])
    with pytest.raises(gn.ConfigurationError, match="Add layers; layer 'concatenate' is a Concatenate"):
        gn.explain(gn.Model(x, layers.Dense(1)(joined)))
    ids = gn.Input((1,), dtype="int64")
    with pytest.raises(gn.ConfigurationError, match="layer 'embedding' is an Embedding"):
        gn.explain(gn.Model(ids, layers.Dense(1)(layers.Flatten()(layers.Embedding(5, 2)(ids)))))
    grid = gn.Input((2, 3))
    with pytest.raises(gn.ConfigurationError, match=r"inputs of shape \(features,\); input 'input' has shape \(2, 3\)"):
        gn.explain(gn.Model(grid, layers.LayerNormalization()(grid)))


def test_a_batch_normalization_needs_a_batch_and_its_training_statistics():
    model = _batch_norm_model()
    with pytest.raises(gn.ConfigurationError, match="normalizes each feature over the batch: with one example every "
                                                    "x_hat is 0; trace 2 or more"):
        gn.explain(model, [1.0, 2.0])
    assert gn.explain(model).examples == 4  # drawn
    model.layers[1].trainable = False
    with pytest.raises(gn.ConfigurationError, match="'batch_normalization' is frozen"):
        gn.explain(model)


# -- normalization -----------------------------------------------------------------------------------

X4 = np.array([[0.5, -1.0], [0.2, 0.4], [-0.7, 0.1], [0.9, 0.8]])
Y4 = np.array([[0.3], [-0.5], [0.8], [0.1]])


def _batch_norm_model(momentum=0.9):
    model = gn.Sequential([layers.Dense(3, name="dense"), layers.BatchNormalization(momentum=momentum, name="batch_normalization"),
                           layers.ReLU(name="relu"), layers.Dense(1, name="out")], seed=4, dtype="float64")
    model.build((2,))
    model.layers[1].gamma.value[...] = [1.5, 0.5, 1.0]  # so that gamma shows in the numbers
    model.layers[1].beta.value[...] = [0.1, -0.2, 0.0]
    return model


def _spy(model):
    """Wrap every layer's forward (and forward_logits) to record what it reads and gives, and its
    backward what arrives and what it sends back: the model's own numbers, by layer name."""
    seen = {}

    def copy(a):
        return None if a is None else [b.copy() for b in a] if isinstance(a, list) else a.copy()

    for layer in model.layers:
        layer.compute_input_gradient = True
        for method in ("forward", "forward_logits"):
            def wrapped(x, training=False, _original=getattr(layer, method), _name=layer.name):
                y, backward = _original(x, training)
                record = seen.setdefault(_name, {})
                record.update(x=copy(x), y=copy(y))

                def spied(dy):
                    dx = backward(dy)
                    record.update(dy=copy(dy), dx=copy(dx))
                    return dx

                return y, spied

            setattr(layer, method, wrapped)
    return seen


def _own_pass(model, loss, x, y, **compile_options):
    """A direct forward and backward of ``model`` in training mode: what each layer saw, the
    parameters' gradients, the batch loss."""
    model.compile(optimizer=gn.optimizers.SGD(0.1), loss=loss, **compile_options)
    x, y, _ = gn.training.prepare(model, x, y)
    seen = _spy(model)
    outputs, backward = model.forward_head(x, training=True)
    loss_value, d_outputs = model.head_loss.unchecked_value_and_grad(y, outputs)
    backward(d_outputs)
    return seen, {p.name: p.grad.copy() for p in model.parameters()}, loss_value


def test_batch_normalization_numbers_are_the_models_own():
    trace = gn.explain(_batch_norm_model(), X4, Y4)
    seen, grads, loss = _own_pass(_batch_norm_model(), "mse", X4, Y4)
    bn = trace.layers[1]
    assert bn.kind == "batch_normalization" and trace.examples == 4
    own = seen["batch_normalization"]
    np.testing.assert_array_equal(bn.inputs, own["x"])
    np.testing.assert_array_equal(bn.outputs, own["y"])
    np.testing.assert_array_equal(bn.d_outputs, own["dy"])
    np.testing.assert_array_equal(bn.d_inputs, own["dx"])
    # the statistics over the batch, per feature, and x_hat from them
    np.testing.assert_allclose(bn.mean, own["x"].mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(bn.variance, own["x"].var(axis=0), rtol=1e-14)
    np.testing.assert_allclose(bn.std, np.sqrt(own["x"].var(axis=0) + 1e-3), rtol=1e-14)
    np.testing.assert_allclose(bn.x_hat, (own["x"] - own["x"].mean(0)) / np.sqrt(own["x"].var(0) + 1e-3), rtol=1e-12)
    np.testing.assert_allclose(bn.outputs, [1.5, 0.5, 1.0] * bn.x_hat + [0.1, -0.2, 0.0], rtol=1e-14, atol=1e-15)
    # dgamma, dbeta and the three terms of dx
    np.testing.assert_array_equal(bn.d_gamma, grads["batch_normalization.gamma"])
    np.testing.assert_array_equal(bn.d_beta, grads["batch_normalization.beta"])
    np.testing.assert_allclose(bn.d_gamma, (own["dy"] * bn.x_hat).sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(bn.d_beta, own["dy"].sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(bn.d_x_hat, own["dy"] * [1.5, 0.5, 1.0], rtol=1e-15)
    np.testing.assert_allclose(bn.through_mean, bn.d_x_hat.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(bn.through_variance, (bn.d_x_hat * bn.x_hat).mean(axis=0), rtol=1e-14)
    three_terms = (bn.d_x_hat - bn.through_mean - bn.x_hat * bn.through_variance) / bn.std
    np.testing.assert_allclose(three_terms, own["dx"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(bn.d_inputs.sum(axis=0), 0, atol=1e-14)  # the mean's path takes the sum out
    for r in trace.layers:
        if r.kind == "dense":
            np.testing.assert_array_equal(r.d_weight, grads[f"{r.name}.weight"])
            np.testing.assert_array_equal(r.d_inputs, seen[r.name]["dx"])
    relu = trace.layers[2]
    np.testing.assert_array_equal(relu.local, (relu.inputs > 0).astype(float))
    assert trace.loss == loss and trace.check.passed


def test_batch_normalization_step_and_moving_statistics_are_the_ones_fit_takes():
    model = _batch_norm_model()
    trace = gn.explain(model, X4, Y4, learning_rate=0.05)
    assert model.layers[1].moving_mean.value.tolist() == [0, 0, 0]  # the model passed in is left alone
    fitted = _batch_norm_model()
    fitted.compile(optimizer=gn.optimizers.SGD(0.05), loss="mse")
    history = fitted.fit(X4, Y4, batch_size=4, epochs=1, shuffle=False, verbose=0)
    bn = trace.layers[1]
    for p in fitted.parameters():
        if p.trainable:
            before, grad, after = trace.updates[p.name]
            np.testing.assert_array_equal(after, p.value)
            np.testing.assert_allclose(after, before - 0.05 * grad, rtol=1e-15)
        else:
            before, after = trace.moving[p.name]
            np.testing.assert_array_equal(after, p.value)
            statistic = bn.mean if p.name.endswith("moving_mean") else bn.variance
            np.testing.assert_allclose(after, 0.9 * before + 0.1 * statistic, rtol=1e-15)
            np.testing.assert_array_equal(bn.moving[p.name][1], after)  # the forward moved them, once
    assert set(trace.moving) == {"batch_normalization.moving_mean", "batch_normalization.moving_variance"}
    assert "batch_normalization.moving_mean" not in trace.updates
    assert trace.loss == pytest.approx(history.history["loss"][0], rel=1e-14)
    outputs, _ = fitted.forward_head(X4, training=True)  # the loss after, on the batch's statistics
    assert trace.loss_after == pytest.approx(float(np.mean((outputs - Y4) ** 2)), rel=1e-13)
    assert trace.loss_after < trace.loss


def test_batch_normalization_text_writes_the_math_out_with_the_numbers():
    trace = gn.explain(_batch_norm_model(), X4, Y4)
    text = trace.to_text()
    bn = trace.layers[1]
    assert "Forward, layer 2: batch_normalization (BatchNormalization of 3 features)" in text
    assert "mean_j = sum_r a[r,j] / 4;  var_j = sum_r (a[r,j] - mean_j)^2 / 4;  " \
           "x_hat[r,j] = (a[r,j] - mean_j) / sqrt(var_j + eps), eps = 0.001" in text
    assert "output[r,j] = gamma_j * x_hat[r,j] + beta_j, with gamma = [1.5000, 0.5000, 1.0000], beta = [0.1000, -0.2000, 0]" in text
    a = bn.inputs
    assert f"({' + '.join(num(v) if v >= 0 else f'({num(v)})' for v in a[:, 0])}) / 4" in text
    for j in range(3):
        assert num(bn.mean[j]) in text and num(bn.variance[j]) in text and num(bn.std[j]) in text
        assert f"moving_mean[{j + 1}]" in text and num(bn.d_gamma[j]) in text and num(bn.d_beta[j]) in text
    assert f"0.9*0 + 0.1*{num(bn.mean[0]) if bn.mean[0] >= 0 else f'({num(bn.mean[0])})'}" in text
    for e in range(4):
        for j in range(3):
            assert num(bn.x_hat[e, j]) in text and num(bn.d_inputs[e, j]) in text
    assert "dL/da = (d_x_hat - mean_r(d_x_hat) - x_hat * mean_r(d_x_hat * x_hat)) / sqrt(var + eps)" in text
    assert "the direct path, the path through the mean, the path through the variance" in text
    assert "example  feature  dL/doutput  dL/doutput * gamma  d_x_hat  three terms with the numbers" in text
    assert "batch_normalization.moving_variance[3]" in text and "evaluate and predict normalize with them" in text
    assert "examples: a batch of 4 (the loss is their mean; BatchNormalization normalizes over them)" in text
    assert "dense.bias: a gradient that is 0 but for rounding" in text and "gradient check passed" in text
    md = trace.to_markdown()
    assert "## Forward, layer 2: batch_normalization (BatchNormalization of 3 features)" in md
    assert "| example | feature | a | x_hat = (a - mean) / sqrt(var + eps) | x_hat | gamma\\*x_hat + beta | output |" in md


def test_layer_normalization_normalizes_each_example_over_its_features():
    model = gn.Sequential([layers.Dense(3, activation="tanh"), layers.LayerNormalization(name="norm"), layers.Dense(1)],
                          seed=2, dtype="float64")
    model.build((2,))
    model.layers[1].gamma.value[...] = [2.0, 1.0, 0.5]
    trace = gn.explain(model, X4[:2], Y4[:2])
    seen, grads, _ = _own_pass(model, "mse", X4[:2], Y4[:2])
    ln, own = trace.layers[1], seen["norm"]
    assert ln.kind == "layer_normalization"
    np.testing.assert_allclose(ln.mean, own["x"].mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(ln.variance, own["x"].var(axis=1), rtol=1e-14)
    np.testing.assert_array_equal(ln.outputs, own["y"])
    np.testing.assert_array_equal(ln.d_gamma, grads["norm.gamma"])
    np.testing.assert_array_equal(ln.d_beta, grads["norm.beta"])
    np.testing.assert_allclose(ln.through_mean, ln.d_x_hat.mean(axis=1), rtol=1e-14)
    three_terms = (ln.d_x_hat - ln.through_mean[:, None] - ln.x_hat * ln.through_variance[:, None]) / ln.std[:, None]
    np.testing.assert_allclose(three_terms, own["dx"], rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(ln.d_inputs, own["dx"])
    text = trace.to_text()
    assert "mean_r = sum_j a[r,j] / 3" in text and "mean_j(d_x_hat * x_hat)" in text and trace.check.passed
    assert "moving" not in text
    assert gn.explain(model, X4[0], Y4[0]).check.passed  # one example is enough: its own statistics


# -- graph models ------------------------------------------------------------------------------------

def _residual_model(skip_from_input=False):
    """x -> h = Dense(3) -> g = Dense(3, relu)(h) -> add = h + g -> out = Dense(1); or add = x + Dense(2)(x)."""
    x = gn.Input((2,), name="x")
    if skip_from_input:
        s = layers.Add(name="add")([x, layers.Dense(2, activation="tanh", name="g")(x)])
    else:
        h = layers.Dense(3, name="h")(x)
        s = layers.Add(name="add")([h, layers.Dense(3, activation="relu", name="g")(h)])
    return gn.Model(x, layers.Dense(1, name="out")(s), seed=5, dtype="float64")


def test_residual_add_sends_the_same_gradient_to_both_branches_and_they_add_up_at_the_skip():
    trace = gn.explain(_residual_model(), X4[:2], Y4[:2])
    seen, grads, loss = _own_pass(_residual_model(), "mse", X4[:2], Y4[:2])
    assert trace.graph and [r.name for r in trace.layers] == ["h", "g", "add", "out"]
    assert [r.reads for r in trace.layers] == [["x"], ["h"], ["h", "g"], ["add"]]
    add = trace.layers[2]
    np.testing.assert_array_equal(add.outputs, add.inputs[0] + add.inputs[1])
    np.testing.assert_array_equal(add.outputs, seen["add"]["y"])
    np.testing.assert_array_equal(add.d_inputs[0], add.d_outputs)  # the same gradient to both branches
    np.testing.assert_array_equal(add.d_inputs[1], add.d_outputs)
    # at h, read by add and by g: the two gradients that arrive, and their sum
    (first, via_add), (second, via_g) = trace.paths["h"]
    assert (first, second) == ("add", "g")  # in the order they arrive: the reverse of the steps
    np.testing.assert_array_equal(via_add, add.d_inputs[0])
    np.testing.assert_array_equal(via_g, trace.layers[1].d_inputs)
    np.testing.assert_array_equal(trace.gradients["h"], via_add + via_g)
    np.testing.assert_array_equal(trace.gradients["h"], seen["h"]["dy"])  # what the model's backward gives h
    np.testing.assert_array_equal(trace.layers[0].d_outputs, seen["h"]["dy"])
    assert not np.allclose(seen["h"]["dy"], via_g) and not np.allclose(seen["h"]["dy"], via_add)
    for name, grad in grads.items():
        np.testing.assert_array_equal(trace.updates[name][1], grad)
    assert trace.loss == loss and trace.check.passed and set(trace.paths) == {"h"}


def test_residual_text_shows_both_inputs_their_sum_and_the_sum_over_paths():
    trace = gn.explain(_residual_model(), X4[:2], Y4[:2])
    text = trace.to_text()
    assert "graph model: 1 input (x), 4 steps in order, 1 output (out)" in text
    assert "Forward, step 3: add (Add, reads h, g)" in text and "add = h + g, element by element." in text
    assert "A residual connection: h reaches add directly (the skip) and through g." in text
    assert "d(add)/d(h) = d(add)/d(g) = 1, so the gradient arriving goes back unchanged to each input" in text
    assert "Backward: h is read twice, its gradients add up" in text
    assert "h is read twice (by add and g)" in text and "dL/d(h) = (via add) + (via g)" in text
    assert re.search(r"example\s+unit\s+via add\s+via g\s+with the numbers\s+dL/d\(h\)", text)
    (_, via_add), (_, via_g) = trace.paths["h"]
    total = trace.gradients["h"]
    for e, j in np.ndindex(total.shape):
        assert num(total[e, j]) in text and num(via_add[e, j]) in text and num(via_g[e, j]) in text
    add = trace.layers[2]
    for e, j in np.ndindex(add.outputs.shape):
        assert num(add.outputs[e, j]) in text
    order = [line for line in text.splitlines() if line.startswith(("Forward, ", "Backward"))]
    assert order.index("Backward: h is read twice, its gradients add up") == \
        order.index("Backward, step 1: h (3 neurons, linear, reads x)") - 1


def test_a_skip_from_the_input_sums_two_gradients_at_x_as_central_differences_do():
    model = _residual_model(skip_from_input=True)
    x = np.array([[0.3, -0.6]])
    trace = gn.explain(model, x, [0.5])
    (_, via_add), (_, via_g) = trace.paths["x"]
    np.testing.assert_array_equal(trace.gradients["x"], via_add + via_g)
    model.compile(optimizer="sgd", loss="mse")

    def loss(x):
        return model.evaluate(x, np.array([[0.5]]), verbose=0)

    eps = 1e-6
    numerical = [(loss(x + eps * np.eye(2)[i]) - loss(x - eps * np.eye(2)[i])) / (2 * eps) for i in range(2)]
    np.testing.assert_allclose(trace.gradients["x"][0], numerical, rtol=1e-7)
    assert "Backward: x is read twice, its gradients add up" in str(trace)
    assert "The path through add brings the gradient back unchanged" in str(trace)


def test_a_graph_with_two_inputs_a_shared_layer_batch_norm_and_two_weighted_outputs():
    def build():
        a, b = gn.Input((2,), name="a"), gn.Input((2,), name="b")
        shared = layers.Dense(2, activation="tanh", name="shared")
        n = layers.BatchNormalization(name="bn")(layers.Add(name="sum")([shared(a), shared(b)]))
        model = gn.Model([a, b], [layers.Dense(1, name="price")(n), layers.Dense(2, activation="softmax", name="kind")(n)],
                         seed=0, dtype="float64")
        model.compile(optimizer="adam", loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[1.0, 0.5])
        return model

    x = {"a": X4[:3], "b": X4[1:]}
    y = {"price": Y4[:3], "kind": np.array([1, 0, 1])}
    model = build()
    trace = gn.explain(model, x, y)
    assert [r.name for r in trace.layers] == ["shared[0]", "shared[1]", "sum", "bn", "price", "kind"]
    assert [o.name for o in trace.outputs] == ["price", "kind"] and [o.fused for o in trace.outputs] == [False, True]
    price, kind = trace.outputs
    assert trace.data_loss == pytest.approx(price.data_loss + 0.5 * kind.data_loss, rel=1e-14)
    np.testing.assert_allclose(kind.d_head, 0.5 * (kind.prediction - np.eye(2)[[1, 0, 1]]) / 3, rtol=1e-12)
    np.testing.assert_array_equal(trace.gradients["bn"], trace.paths["bn"][0][1] + trace.paths["bn"][1][1])
    shared = [r for r in trace.layers if r.name.startswith("shared")]
    np.testing.assert_allclose(trace.updates["shared.weight"][1], shared[0].d_weight + shared[1].d_weight, rtol=1e-14)
    fitted = build()
    fitted.compile(optimizer=gn.optimizers.SGD(0.1), loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[1.0, 0.5])
    fitted.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    for p in fitted.parameters():
        after = trace.updates[p.name][2] if p.trainable else trace.moving[p.name][1]
        np.testing.assert_allclose(after, p.value, rtol=1e-13, atol=1e-15)
    for before, after in zip(build().get_weights(), model.get_weights()):
        np.testing.assert_array_equal(before, after)  # the model passed in is left alone
    text = trace.to_text()
    assert "The loss of output kind (weight 0.5000)" in text and "The loss: the weighted sum of the outputs' losses" in text
    assert "shared is called 2 times (shared[0], shared[1]): its gradient is the sum of its calls'" in text
    assert "example  x = a" in text and trace.check.passed


# -- rendering# -- rendering -------------------------------------------------------------------------------------

def test_markdown_has_a_heading_and_a_table_per_step():
    md = gn.explain().to_markdown()
    assert md.startswith("## The network and the example")
    assert "| neuron | z = | with the numbers | z | sigmoid(z) |" in md
    assert "|:---|:---|:---|---:|---:|" in md and "\\*" in md
    assert md.count("## ") == 1 + 2 + 1 + 2 + 2


def test_plain_print_is_the_text_and_rich_adds_colour(monkeypatch):
    trace = gn.explain()
    out = io.StringIO()
    trace.print(out)  # not a terminal: plain text
    assert out.getvalue() == trace.to_text() + "\n" and "\x1b[" not in out.getvalue()
    pytest.importorskip("rich")
    out = io.StringIO()
    trace.print(out, color=True)
    assert "\x1b[" in out.getvalue() and "Gradient check" in out.getvalue()


def test_without_rich_the_terminal_gets_plain_text(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setitem(sys.modules, "rich", None)
    monkeypatch.setitem(sys.modules, "rich.console", None)
    out = Terminal()
    gn.explain().print(out)
    assert "\x1b[" not in out.getvalue() and "Forward, layer 1" in out.getvalue()
    with pytest.raises(gn.GlassnetError, match=r"glassnet\[cli\]"):
        gn.explain().print(Terminal(), color=True)


def test_text_tables_align_numbers_right():
    text = report.to_text([report.Section("T", ["a line"], [report.Table(["name", "value"], [["a", "1.5"], ["bb", "-10.25"]], "lr")])])
    assert text.splitlines() == ["T", "=", "a line", "", "name   value", "----  ------",
                                 "a        1.5", "bb    -10.25"]
    md = report.to_markdown([report.Section("T", [], [report.Table(["a|b"], [["x*y"]])])])
    assert "| a\\|b |" in md and "| x\\*y |" in md


# -- the command line ------------------------------------------------------------------------------

def test_cli_prints_the_trace_and_writes_markdown(tmp_path, capsys):
    path = tmp_path / "trace.md"
    assert main(["explain", "--plain", "--task", "classification", "--hidden", "4,3", "--x", "0.5,-1",
                 "--y", "1", "--seed", "3", "--lr", "0.2", "--markdown", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Forward, layer 3: dense_2 (2 neurons, softmax)" in out and "gradient check passed" in out
    assert "learning rate 0.2000" in out and f"wrote {path}" in out
    assert path.read_text().startswith("## The network and the example")


def test_cli_traces_a_saved_model(tmp_path, capsys):
    model = _default_model()
    model.compile(optimizer="sgd", loss="mse")
    model.save(tmp_path / "m.safetensors")
    assert main(["explain", "--plain", "--model", str(tmp_path / "m.safetensors"), "--x", "1,2", "--y", "0.5"]) == 0
    assert "example: x = [1.0000, 2.0000], target y = 0.5000" in capsys.readouterr().out


def test_cli_traces_a_saved_graph_model_and_a_batch_of_examples(tmp_path, capsys):
    model = _residual_model()
    model.compile(optimizer="sgd", loss="mse")
    model.save(tmp_path / "residual.safetensors")
    assert main(["explain", "--plain", "--model", str(tmp_path / "residual.safetensors"), "--x", "1,2", "--y", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "Backward: h is read twice, its gradients add up" in out and "gradient check passed" in out
    batch_norm = _batch_norm_model()
    batch_norm.compile(optimizer="sgd", loss="mse")
    batch_norm.save(tmp_path / "bn.safetensors")
    assert main(["explain", "--plain", "--model", str(tmp_path / "bn.safetensors"), "--examples", "3"]) == 0
    assert "examples: a batch of 3" in capsys.readouterr().out
    assert main(["explain", "--plain", "--model", str(tmp_path / "bn.safetensors"), "--x", "1,2;3,4", "--y", "0.5;0.2"]) == 0
    out = capsys.readouterr().out
    assert "1        [1.0000, 2.0000]  0.5000" in out and "mean_j = sum_r a[r,j] / 2" in out
    assert main(["explain", "--plain", "--model", str(tmp_path / "bn.safetensors"), "--x", "1,2"]) == 1
    assert "with one example every x_hat is 0" in capsys.readouterr().err
    assert main(["explain", "--plain", "--x", "0.5,-1;0.1,0.2", "--seed", "1"]) == 0  # the default network, 2 examples
    assert "examples: a batch of 2 (the loss is their mean)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--hidden", "a,b"], "expected sizes such as 3 or 4,3"),
    (["--hidden", "0"], "layer sizes must be positive"),
    (["--x", "1,x"], "expected comma-separated numbers"),
    (["--x", "1,2;3"], "every example separated by ';' needs as many numbers"),
    (["--examples", "0"], "--examples"),
])
def test_cli_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", *argv])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_cli_reports_errors_in_one_line(capsys):
    assert main(["explain", "--x", "1,2,3"]) == 1
    assert capsys.readouterr().err.strip() == "glassnet: error: x has shape (1, 3) but the model expects (n, 2): 3 features instead of 2"
    assert main(["explain", "--model", "missing.safetensors"]) == 1
