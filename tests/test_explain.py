"""``glassnet.explain`` and ``glassnet explain``: the trace's numbers are the model's own (its
layers' forward and backward, its loss, its training step, gradcheck), it renders as text,
Markdown and rich, and every misuse gets a clear error."""
import io
import sys

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers, report
from glassnet.cli import main
from glassnet.explain import num


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
    np.testing.assert_array_equal(trace.prediction, model(np.array([[0.5, -1.0]]))[0])
    first = trace.layers[0]
    np.testing.assert_allclose(first.z, first.inputs @ first.weight + first.bias, rtol=1e-15)
    np.testing.assert_allclose(first.dz, first.d_outputs * first.local, rtol=1e-15)
    np.testing.assert_allclose(first.d_weight, np.outer(first.inputs, first.dz), rtol=1e-15)
    assert trace.data_loss == pytest.approx((trace.prediction[0] - 0.8) ** 2, rel=1e-14)


def test_the_printed_text_holds_those_numbers():
    trace = gn.explain()
    text = str(trace)
    for r in trace.layers:
        for i, j in np.ndindex(r.weight.shape):
            assert f"{num(r.inputs[i]) if r.inputs[i] >= 0 else '(' + num(r.inputs[i]) + ')'} * " in text
            assert num(r.d_weight[i, j]) in text
        for v in r.z:
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
    assert trace.data_loss == pytest.approx(-np.log(last.outputs[2]))
    text = trace.to_text()
    assert "-log(p of the right class)" in text and "(fused into the loss)" in text


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
    (dict(model="not a model"), gn.ConfigurationError, "Sequential model, got str"),
    (dict(task="ranking"), gn.ConfigurationError, "task must be one of regression, classification, got 'ranking'"),
    (dict(x=[[1.0, 2.0], [3.0, 4.0]]), gn.ShapeError, r"one example: x must have shape \(2,\) or \(1, 2\), got \(2, 2\)"),
    (dict(x=[1.0, 2.0, 3.0]), gn.ShapeError, "3 features instead of 2"),
    (dict(inputs=0), gn.ConfigurationError, "inputs must be a positive integer, got 0"),
    (dict(task="classification", outputs=1), gn.ConfigurationError, "outputs >= 2 classes, got 1"),
    (dict(hidden=(64, 64)), gn.ConfigurationError, "4417 parameters.*max_parameters=500"),
    (dict(learning_rate=0), gn.ConfigurationError, "learning_rate"),
    (dict(activation="nope"), gn.ConfigurationError, "unknown activation 'nope'"),
    (dict(task="classification", y=5), gn.DataError, r"class labels must be in \[0, 1\]"),
])
def test_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        gn.explain(**kwargs)


def test_only_dense_layers_and_a_known_input_size():
    with pytest.raises(gn.ConfigurationError, match="layer 'dropout' is a Dropout"):
        gn.explain(gn.Sequential([layers.Dense(3), layers.Dropout(0.5), layers.Dense(1)]), [1.0, 2.0])
    with pytest.raises(gn.NotBuiltError, match="pass an example x"):
        gn.explain(gn.Sequential([layers.Dense(3), layers.Dense(1)]))
    assert gn.explain(gn.Sequential([layers.Dense(3), layers.Dense(1)], seed=0), [1.0, 2.0]).check.passed


# -- rendering -------------------------------------------------------------------------------------

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


@pytest.mark.parametrize("argv, message", [
    (["--hidden", "a,b"], "expected sizes such as 3 or 4,3"),
    (["--hidden", "0"], "layer sizes must be positive"),
    (["--x", "1,x"], "expected comma-separated numbers"),
])
def test_cli_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", *argv])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_cli_reports_errors_in_one_line(capsys):
    assert main(["explain", "--x", "1,2,3"]) == 1
    assert capsys.readouterr().err.strip() == "glassnet: error: x has shape (1, 3) but the model expects (n, 2): 3 features instead of 2"
    assert main(["explain", "--model", "missing.safetensors"]) == 1
