"""The report of a ``Trace``: one section per table (the network, each step forward and
backward, the loss, the paths of a tensor read twice, each optimizer step, the gradient check),
for ``report.to_text``, ``to_markdown`` and ``print_report``."""
import numpy as np

from .. import losses, report


def _relative_errors(analytic, numerical, scale):
    """``|a - n| / max(|a|, |n|, 1e-3 * scale)``, elementwise."""
    return np.abs(analytic - numerical) / np.maximum(np.maximum(np.abs(analytic), np.abs(numerical)), 1e-3 * scale)


def num(v):
    """A number as the trace prints it: 4 decimals, or 3 significant digits with an exponent."""
    v = float(v)
    if v == 0:
        return "0"
    return f"{v:.4f}" if 1e-3 <= abs(v) < 1e5 else f"{v:.3e}"


def _factor(v):
    text = num(v)
    return f"({text})" if v < 0 else text


def _vector(v):
    return "[" + ", ".join(num(x) for x in np.ravel(v)) + "]"


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def _sections(t):
    sections = [_network_section(t)]
    sections += [_FORWARD_SECTION[r.kind](t, r) for r in t.layers]
    sections += _loss_sections(t)
    for r in reversed(t.layers):
        if r.name in t.paths:
            sections.append(_paths_section(t, r.name))
        sections.append(_BACKWARD_SECTION[r.kind](t, r))
    sections += [_paths_section(t, name) for name in t.input_names if name in t.paths]
    sections += [_update_section(t, step) if t.optimizer.kind == "sgd" else _optimizer_section(t, step)
                 for step in t.steps]
    if len(t.steps) > 1:
        sections.append(_steps_summary_section(t))
    sections.append(_check_section(t))
    return sections


def _description(r):
    """What a step is, in a few words: ``3 neurons, sigmoid``, ``BatchNormalization of 3 features``."""
    if r.kind == "dense":
        return f"{_plural(r.units, 'neuron')}, {r.activation}"
    if r.kind == "activation":
        return r.layer_type if r.layer_type != "Activation" else f"Activation {r.activation}"
    if r.kind == "add":
        return "Add"
    return f"{r.layer_type} of {_plural(r.outputs.shape[-1], 'feature')}"


def _title(t, r):
    if not t.graph:
        return f"layer {r.index + 1}: {r.name}"
    return f"step {r.index + 1}: {r.name}"


def _heading(t, r):
    """``layer 2: dense_1 (1 neuron, linear)``, or for a graph ``step 3: add (Add, reads dense, dense_1)``."""
    reads = f", reads {', '.join(r.reads)}" if t.graph else ""
    return f"{_title(t, r)} ({_description(r)}{reads})"


def _network_section(t):
    lines = []
    if not t.graph:
        shape = " -> ".join([_plural(t.input_sizes[0], "input")] + [
            f"{r.name} ({r.units}, {r.activation})" if r.kind == "dense" else f"{r.name} ({_description(r)})"
            for r in t.layers])
        lines.append(f"network: {shape}")
        tables = []
    else:
        lines.append(f"graph model: {_plural(len(t.input_names), 'input')} ({', '.join(t.input_names)}), "
                     f"{_plural(len(t.layers), 'step')} in order, {_plural(len(t.outputs), 'output')} "
                     f"({', '.join(o.name for o in t.outputs)})")
        rows = [[name, "the examples", "-", str(size)] for name, size in zip(t.input_names, t.input_sizes)]
        rows += [[r.name, f"Dense ({_description(r)})" if r.kind == "dense" else _description(r), ", ".join(r.reads),
                  str(r.outputs.shape[-1])] for r in t.layers]
        tables = [report.Table(["tensor", "made by", "reads", "size"], rows, "lllr")]
    xs = t.x if isinstance(t.x, list) else [t.x]
    if t.examples == 1 and len(xs) == 1 and len(t.outputs) == 1:
        lines.append(f"example: x = {_vector(xs[0][0])}, target y = {_target_text(t.outputs[0], 0)}")
    else:
        why = "; BatchNormalization normalizes over them" if any(r.kind == "batch_normalization" for r in t.layers) else ""
        lines.append(f"examples: a batch of {t.examples} (the loss is their mean{why})")
        headers = ["example"] + [f"x = {name}" if t.graph else "x" for name in t.input_names] + \
            [f"target {o.name}" if len(t.outputs) > 1 else "target y" for o in t.outputs]
        rows = [[str(e + 1)] + [_vector(a[e]) for a in xs] + [_target_text(o, e) for o in t.outputs]
                for e in range(t.examples)]
        tables.append(report.Table(headers, rows, "l" * len(headers)))
    for o in t.outputs:
        where = f"{o.name}: " if len(t.outputs) > 1 else ""
        weight = f" (weight {num(o.weight)})" if len(t.outputs) > 1 else ""
        lines.append(f"loss: {where}{o.loss_object.name}{weight}" +
                     (" on the logits z (softmax/sigmoid fused into the loss)" if o.fused else ""))
    steps = "one step" if len(t.steps) == 1 else f"{len(t.steps)} steps"
    lines.append(f"{steps} of {t.optimizer.name} with learning rate {num(t.learning_rate)}"
                 + (" on the same examples" if len(t.steps) > 1 else ""))
    title = "The network and the example" + ("s" if t.examples > 1 else "")
    return report.Section(title, lines, tables)


def _target_text(o, e):
    y = np.asarray(o.y)
    if isinstance(o.loss_object, losses.SparseCategoricalCrossentropy):
        return f"class {int(np.ravel(y)[e])}"
    row = np.ravel(y[e])
    if isinstance(o.loss_object, losses.BinaryCrossentropy) and row.size == 1 and row[0] in (0, 1):
        return f"class {int(row[0])}"
    return num(row[0]) if row.size == 1 else _vector(row)


def _example_column(t, e):
    return [str(e + 1)] if t.examples > 1 else []


def _with_examples(t, headers):
    return (["example"] if t.examples > 1 else []) + headers


def _source_text(t, r):
    """``x`` or ``a``, and in a graph which tensor that is: ``a = dense``."""
    return f"{r.source} = {r.reads[0]}" if t.graph and r.reads[0] != r.source else r.source


def _passed_to(t, r, i=0):
    if r.source == "x" and not t.graph:
        return "the inputs (not needed for training)"
    if t.graph:
        return r.reads[i] + (" (not needed for training)" if r.reads[i] in t.input_names else "")
    return f"layer {r.index}"


def _dense_forward_section(t, r):
    src = r.source
    rows = []
    for e in range(t.examples):
        for j in range(r.units):
            terms = [f"{_factor(r.inputs[e, i])}*{_factor(r.weight[i, j])}" for i in range(r.inputs.shape[1])]
            symbols = [f"{src}{i + 1}*w[{i + 1},{j + 1}]" for i in range(r.inputs.shape[1])]
            if r.bias is not None:
                terms.append(_factor(r.bias[j]))
                symbols.append(f"b[{j + 1}]")
            rows.append(_example_column(t, e) + [f"{j + 1}", " + ".join(symbols), " + ".join(terms), num(r.z[e, j]),
                                                 num(r.outputs[e, j])])
    out = "softmax(z)" if r.activation == "softmax" else f"{r.activation}(z)"
    if t.examples == 1:
        lines = [f"inputs {_source_text(t, r)} = {_vector(r.inputs[0])}; each neuron j computes "
                 f"z = sum_i {src}i*w[i,j] + b[j], then {out}."]
    else:
        lines = [f"inputs {_source_text(t, r)}, one row per example; for each example, each neuron j computes "
                 f"z = sum_i {src}i*w[i,j] + b[j], then {out}."]
    if r.activation == "softmax":
        lines.append("softmax: p_j = exp(z_j) / sum_k exp(z_k), so the outputs add up to 1.")
    elif r.activation == "sigmoid" and r.fused and r.units == 1:
        lines.append("sigmoid: p = 1 / (1 + exp(-z)), between 0 and 1: the probability of class 1 "
                     "(z > 0: more likely class 1, z < 0: class 0).")
    return report.Section(f"Forward, {_heading(t, r)}", lines,
                          [report.Table(_with_examples(t, ["neuron", "z =", "with the numbers", "z", out]), rows,
                                        "l" * (t.examples > 1) + "lllrr")])


def _dense_backward_section(t, r):
    src = r.source
    last_fused = r.fused
    arriving = "dL/dz (from the loss)" if last_fused else "dL/doutput"
    rows = []
    for e in range(t.examples):
        for j in range(r.units):
            if r.local is not None:
                product = f"{_factor(r.d_outputs[e, j])} * {_factor(r.local[e, j])}"
                local = num(r.local[e, j])
            else:
                product = ("(fused into the loss)" if last_fused else
                           "(softmax Jacobian)" if r.activation == "softmax" else "(no activation)")
                local = "-"
            rows.append(_example_column(t, e) + [f"{j + 1}", num(r.d_outputs[e, j]), local, product, num(r.dz[e, j])])
    neuron_table = report.Table(_with_examples(t, ["neuron", arriving, f"f'(z) of {r.activation}", "product", "dL/dz"]),
                                rows, "l" * (t.examples > 1) + "lrrlr")
    weights = []
    batch = t.examples > 1
    over = "sum over the examples of " if batch else ""
    for i in range(r.inputs.shape[1]):
        for j in range(r.units):
            numbers = " + ".join(f"{_factor(r.inputs[e, i])}*{_factor(r.dz[e, j])}" for e in range(t.examples)) if batch \
                else f"{_factor(r.inputs[0, i])} * {_factor(r.dz[0, j])}"
            weights.append([f"w[{i + 1},{j + 1}]", f"{over}{src}{i + 1} * dL/dz{j + 1}", numbers, num(r.d_weight[i, j])])
    if r.bias is not None:
        weights += [[f"b[{j + 1}]", f"{over}dL/dz{j + 1}", " + ".join(_factor(r.dz[e, j]) for e in range(t.examples)),
                     num(r.d_bias[j])] for j in range(r.units)]
    weight_table = report.Table(["parameter", "chain rule", "with the numbers", "gradient"], weights, "lllr")
    back = []
    for e in range(t.examples):
        for i in range(r.inputs.shape[1]):
            terms = " + ".join(f"{_factor(r.weight[i, j])}*{_factor(r.dz[e, j])}" for j in range(r.units))
            back.append(_example_column(t, e) + [f"{src}{i + 1}", f"sum_j w[{i + 1},j] * dL/dzj", terms,
                                                 num(r.d_inputs[e, i])])
    back_table = report.Table(_with_examples(t, [f"dL/d{src}", "chain rule", "with the numbers",
                                                 f"passed to {_passed_to(t, r)}"]), back, "l" * batch + "lllr")
    lines = ["dL/dz = dL/doutput * f'(z): the gradient arriving times the local derivative of the activation."]
    if last_fused:
        lines = ["The loss took the logits, so the gradient arriving is dL/dz itself."]
    if batch:
        lines.append(f"Each weight's gradient is a sum over the {t.examples} examples (each example's dL/dz already "
                     f"carries the 1/{t.examples} of the loss's mean).")
    return report.Section(f"Backward, {_title(t, r)}" + (f" ({_description(r)}, reads {', '.join(r.reads)})" if t.graph else ""),
                          lines, [neuron_table, weight_table, back_table])


def _activation_forward_section(t, r):
    f = f"{r.activation}"
    rows = [_example_column(t, e) + [f"{j + 1}", num(r.inputs[e, j]), num(r.outputs[e, j])]
            for e in range(t.examples) for j in range(r.inputs.shape[1])]
    lines = [f"output = {f}(input), element by element" + (" (softmax: exp(a_j) / sum_k exp(a_k) per example)"
                                                          if f == "softmax" else "") + "; input "
             + (f"{r.reads[0]}" if t.graph else f"from layer {r.index}" if r.index else "x") + "."]
    return report.Section(f"Forward, {_heading(t, r)}", lines,
                          [report.Table(_with_examples(t, ["unit", "input", f"{f}(input)"]), rows,
                                        "l" * (t.examples > 1) + "lrr")])


def _activation_backward_section(t, r):
    rows = []
    for e in range(t.examples):
        for j in range(r.inputs.shape[1]):
            if r.local is not None:
                local, product = num(r.local[e, j]), f"{_factor(r.d_outputs[e, j])} * {_factor(r.local[e, j])}"
            else:
                local, product = "-", "(fused into the loss)" if r.fused else "(softmax Jacobian)"
            d_input = num(r.d_inputs[e, j]) if r.d_inputs is not None else "-"
            rows.append(_example_column(t, e) + [f"{j + 1}", num(r.d_outputs[e, j]), local, product, d_input])
    lines = ["The loss took the logits, so the gradient passes through unchanged." if r.fused else
             "dL/dinput = dL/doutput * f'(input): the gradient arriving times the local derivative."]
    headers = ["unit", "dL/doutput", f"f'(input) of {r.activation}", "product", f"passed to {_passed_to(t, r)}"]
    return report.Section(f"Backward, {_heading(t, r) if t.graph else _title(t, r)}", lines,
                          [report.Table(_with_examples(t, headers), rows, "l" * (t.examples > 1) + "lrrlr")])


def _statistic_index(r, e, j):
    """Which mean/variance an element uses: its feature's (BatchNormalization) or its example's."""
    return j if r.kind == "batch_normalization" else e


def _normalization_forward_section(t, r):
    batch = r.kind == "batch_normalization"
    n_examples, n_features = r.inputs.shape
    src = r.source
    gamma = r.gamma if r.gamma is not None else np.ones(n_features)
    beta = r.beta if r.beta is not None else np.zeros(n_features)
    if batch:
        lines = [f"Training: each feature j is normalized with the mean and variance of the batch (its {n_examples} "
                 "examples), then scaled and shifted by the learned gamma_j and beta_j:",
                 f"mean_j = sum_r {src}[r,j] / {n_examples};  var_j = sum_r ({src}[r,j] - mean_j)^2 / {n_examples};  "
                 f"x_hat[r,j] = ({src}[r,j] - mean_j) / sqrt(var_j + eps), eps = {r.epsilon:g}"]
        count, label = n_examples, "feature"
        values = [r.inputs[:, j] for j in range(n_features)]
    else:
        lines = [f"Each example r is normalized over its own {n_features} features (the same in training and "
                 "inference, whatever the rest of the batch), then each feature j is scaled and shifted by the "
                 "learned gamma_j and beta_j:",
                 f"mean_r = sum_j {src}[r,j] / {n_features};  var_r = sum_j ({src}[r,j] - mean_r)^2 / {n_features};  "
                 f"x_hat[r,j] = ({src}[r,j] - mean_r) / sqrt(var_r + eps), eps = {r.epsilon:g}"]
        count, label = n_features, "example"
        values = [r.inputs[e] for e in range(n_examples)]
    lines.append(f"output[r,j] = gamma_j * x_hat[r,j] + beta_j, with gamma = {_vector(gamma)}, beta = {_vector(beta)}"
                 + (" (scale=False: gamma = 1)" if r.gamma is None else "") + (" (center=False: beta = 0)" if r.beta is None else ""))
    if t.graph:
        lines.append(f"input {src} = {r.reads[0]}.")
    stats = []
    for k, v in enumerate(values):
        mean_text = f"({' + '.join(_factor(a) for a in v)}) / {count}"
        var_text = f"({' + '.join(f'{_factor(a - r.mean[k])}^2' for a in v)}) / {count}"
        stats.append([f"{k + 1}", mean_text, num(r.mean[k]), var_text, num(r.variance[k]), num(r.std[k])])
    stats_table = report.Table([label, "mean =", "mean", "var =", "var", "sqrt(var + eps)"], stats, "llrlrr")
    rows = []
    for e in range(n_examples):
        for j in range(n_features):
            s = _statistic_index(r, e, j)
            rows.append(_example_column(t, e) + [
                f"{j + 1}", num(r.inputs[e, j]),
                f"({_factor(r.inputs[e, j])} - {_factor(r.mean[s])}) / {num(r.std[s])}", num(r.x_hat[e, j]),
                f"{_factor(gamma[j])}*{_factor(r.x_hat[e, j])} + {_factor(beta[j])}", num(r.outputs[e, j])])
    x_hat_table = report.Table(_with_examples(t, ["feature", src, f"x_hat = ({src} - mean) / sqrt(var + eps)", "x_hat",
                                                  "gamma*x_hat + beta", "output"]), rows, "l" * (t.examples > 1) + "lrlrlr")
    tables = [stats_table, x_hat_table]
    if batch:
        moving = []
        for name, (before, after) in r.moving.items():
            statistic = r.mean if name.endswith("moving_mean") else r.variance
            for j in range(n_features):
                moving.append([f"{name.rsplit('.', 1)[1]}[{j + 1}]",
                               f"{r.momentum:g}*{_factor(before[j])} + {1 - r.momentum:g}*{_factor(statistic[j])}",
                               num(after[j])])
        lines.append(f"The moving statistics follow the batch's: moving = momentum * moving + (1 - momentum) * batch "
                     f"statistic, momentum {r.momentum:g}. evaluate and predict normalize with them instead.")
        tables.append(report.Table(["statistic", "momentum * before + (1 - momentum) * batch", "after"], moving, "llr"))
    return report.Section(f"Forward, {_heading(t, r)}", lines, tables)


def _normalization_backward_section(t, r):
    batch = r.kind == "batch_normalization"
    n_examples, n_features = r.inputs.shape
    over, mean_over = ("r", f"over the {n_examples} examples") if batch else ("j", f"over the {n_features} features")
    src = r.source
    lines = ["dL/dgamma_j = sum_r dL/doutput[r,j] * x_hat[r,j];  dL/dbeta_j = sum_r dL/doutput[r,j];  "
             "d_x_hat = dL/doutput * gamma_j.",
             f"Each x_hat depends on its input directly and through the mean and the variance {mean_over}, so the "
             "gradient has three terms (the direct path, the path through the mean, the path through the variance):",
             f"dL/d{src} = (d_x_hat - mean_{over}(d_x_hat) - x_hat * mean_{over}(d_x_hat * x_hat)) / sqrt(var + eps)"]
    if batch:
        lines.append(f"So each feature's dL/d{src} adds up to 0 over the batch (the path through the mean takes out their "
                     "mean): a bias just before a BatchNormalization gets no gradient, as it has no effect.")
    parameters = []
    if r.d_gamma is not None:
        parameters += [[f"gamma[{j + 1}]", "sum_r dL/doutput * x_hat",
                        " + ".join(f"{_factor(r.d_outputs[e, j])}*{_factor(r.x_hat[e, j])}" for e in range(n_examples)),
                        num(r.d_gamma[j])] for j in range(n_features)]
    if r.d_beta is not None:
        parameters += [[f"beta[{j + 1}]", "sum_r dL/doutput",
                        " + ".join(_factor(r.d_outputs[e, j]) for e in range(n_examples)), num(r.d_beta[j])]
                       for j in range(n_features)]
    tables = []
    if parameters:
        tables.append(report.Table(["parameter", "chain rule", "with the numbers", "gradient"], parameters, "lllr"))
    label = "feature" if batch else "example"
    means = [[f"{k + 1}", num(r.through_mean[k]), num(r.through_variance[k]), num(r.std[k])]
             for k in range(len(r.std))]
    tables.append(report.Table([label, f"mean_{over}(d_x_hat)", f"mean_{over}(d_x_hat * x_hat)", "sqrt(var + eps)"],
                               means, "lrrr"))
    gamma = r.gamma if r.gamma is not None else np.ones(n_features)
    rows = []
    for e in range(n_examples):
        for j in range(n_features):
            s = _statistic_index(r, e, j)
            rows.append(_example_column(t, e) + [
                f"{j + 1}", num(r.d_outputs[e, j]), f"{_factor(r.d_outputs[e, j])}*{_factor(gamma[j])}",
                num(r.d_x_hat[e, j]),
                f"({_factor(r.d_x_hat[e, j])} - {_factor(r.through_mean[s])} - {_factor(r.x_hat[e, j])}*"
                f"{_factor(r.through_variance[s])}) / {num(r.std[s])}",
                num(r.d_inputs[e, j]) if r.d_inputs is not None else "-"])
    tables.append(report.Table(_with_examples(t, ["feature", "dL/doutput", "dL/doutput * gamma", "d_x_hat",
                                                  "three terms with the numbers", f"passed to {_passed_to(t, r)}"]),
                               rows, "l" * (t.examples > 1) + "lrlrlr"))
    return report.Section(f"Backward, {_heading(t, r) if t.graph else _title(t, r)}", lines, tables)


def _add_forward_section(t, r):
    names = r.reads
    lines = [f"{r.name} = {' + '.join(names)}, element by element."]
    for a in names:
        for b in names:
            if a != b and a in t.ancestors.get(b, ()):
                lines.append(f"A residual connection: {a} reaches {r.name} directly (the skip) and through {b}.")
    rows = [_example_column(t, e) + [f"{j + 1}"] + [num(x[e, j]) for x in r.inputs] +
            [" + ".join(_factor(x[e, j]) for x in r.inputs), num(r.outputs[e, j])]
            for e in range(t.examples) for j in range(r.outputs.shape[1])]
    headers = _with_examples(t, ["unit", *names, "with the numbers", r.name])
    return report.Section(f"Forward, {_heading(t, r)}", lines,
                          [report.Table(headers, rows, "l" * (t.examples > 1) + "l" + "r" * len(names) + "lr")])


def _add_backward_section(t, r):
    names = r.reads
    lines = [f"d({r.name})/d({names[0]}) = " + " = ".join(f"d({r.name})/d({n})" for n in names[1:]) + " = 1, so the "
             f"gradient arriving goes back unchanged to each input: the same numbers to {' and '.join(names)}."]
    rows = [_example_column(t, e) + [f"{j + 1}", num(r.d_outputs[e, j])] +
            [num(d[e, j]) if d is not None else "-" for d in r.d_inputs]
            for e in range(t.examples) for j in range(r.outputs.shape[1])]
    headers = _with_examples(t, ["unit", f"dL/d({r.name})", *[f"to {n}" for n in names]])
    return report.Section(f"Backward, {_heading(t, r)}", lines,
                          [report.Table(headers, rows, "l" * (t.examples > 1) + "lr" + "r" * len(names))])


def _paths_section(t, name):
    parts = t.paths[name]
    total = t.gradients[name]
    readers = [reader for reader, _ in parts]
    times = "twice" if len(parts) == 2 else f"{len(parts)} times"
    by = f"by {readers[0]}, as {len(readers)} of its inputs" if len(set(readers)) == 1 else f"by {' and '.join(readers)}"
    lines = [f"{name} is read {times} ({by}): a change in {name} reaches the loss along each path, so the chain rule "
             "adds the gradients that come back along them (in the order they arrive):",
             f"dL/d({name}) = " + " + ".join(f"(via {reader})" for reader in readers)]
    adds = [reader for reader in readers if t.kinds.get(reader) == "add"]
    if adds and len(set(readers)) > 1:
        lines.append(f"The path through {adds[0]} brings the gradient back unchanged (an Add's local derivative is 1), "
                     "however small the other path makes its own: this is why a residual connection helps a deep "
                     "network learn.")
    rows = [_example_column(t, e) + [f"{j + 1}"] + [num(d[e, j]) for _, d in parts] +
            [" + ".join(_factor(d[e, j]) for _, d in parts), num(total[e, j])]
            for e in range(t.examples) for j in range(total.shape[1])]
    headers = _with_examples(t, ["unit", *[f"via {reader}" for reader in readers], "with the numbers", f"dL/d({name})"])
    return report.Section(f"Backward: {name} is read {times}, its gradients add up", lines,
                          [report.Table(headers, rows, "l" * (t.examples > 1) + "l" + "r" * len(parts) + "lr")])


_FORWARD_SECTION = {"dense": _dense_forward_section, "activation": _activation_forward_section,
                    "batch_normalization": _normalization_forward_section,
                    "layer_normalization": _normalization_forward_section, "add": _add_forward_section}


_BACKWARD_SECTION = {"dense": _dense_backward_section, "activation": _activation_backward_section,
                     "batch_normalization": _normalization_backward_section,
                     "layer_normalization": _normalization_backward_section, "add": _add_backward_section}


def _loss_sections(t):
    """One section, or with several outputs one per output and one for their weighted sum."""
    sections = []
    for o in t.outputs:
        lines, tables = (_one_example_loss_lines(o), []) if t.examples == 1 else _batch_loss(t, o)
        title = "The loss" if len(t.outputs) == 1 else f"The loss of output {o.name} (weight {num(o.weight)})"
        sections.append(report.Section(title, lines, tables))
    lines = sections[-1].lines
    if len(t.outputs) > 1:
        terms = " + ".join(f"{num(o.weight)}*{_factor(o.data_loss)}" for o in t.outputs)
        lines = [f"loss: L = sum over the outputs of weight * loss = {terms} = {num(t.data_loss)}",
                 "each output sends back its own gradient, times its weight (above)"]
        sections.append(report.Section("The loss: the weighted sum of the outputs' losses", lines))
    if t.penalty:
        lines.append(f"L1/L2 penalty: {num(t.penalty)}; total loss {num(t.loss)}")
    return sections


def _one_example_loss_lines(o):
    loss = o.loss_object
    prediction = o.prediction[0]
    lines = [f"prediction: {_vector(prediction)}", f"target: {_target_text(o, 0)}"]
    grad = ", ".join(num(v) for v in o.d_head[0])
    if isinstance(loss, losses.MeanSquaredError):
        error = prediction - np.ravel(o.y)
        lines.append(f"error: prediction - target = {_vector(error)}")
        squares = " + ".join(f"{_factor(e)}^2" for e in error)
        lines.append(f"loss: L = mean over outputs of error^2 = ({squares}) / {len(error)} = {num(o.data_loss)}")
        lines.append(f"dL/dprediction = 2 * error / {len(error)}{_weighted(o)} = [{grad}]")
    elif o.fused and isinstance(loss, losses.SparseCategoricalCrossentropy):
        c = int(np.ravel(o.y)[0])
        lines.append(f"loss: L = -log(p of the right class) = -log({num(prediction[c])}) = {num(o.data_loss)}")
        lines.append(f"error: p - onehot(y) = dL/dz{_weighted(o)} = [{grad}]   (the gradient of softmax and cross-entropy together)")
    elif o.fused and isinstance(loss, losses.CategoricalCrossentropy):
        lines.append(f"loss: L = -sum_k y_k log p_k = {num(o.data_loss)}")
        lines.append(f"error: p - y = dL/dz{_weighted(o)} = [{grad}]")
    elif o.fused and isinstance(loss, losses.BinaryCrossentropy) and prediction.size == 1:
        lines += _one_sigmoid_loss_lines(o, prediction[0], float(np.ravel(o.y)[0]), grad)
    elif o.fused and isinstance(loss, losses.BinaryCrossentropy):
        lines.append(f"loss: L = -mean(y log p + (1 - y) log(1 - p)) = {num(o.data_loss)}")
        lines.append(f"error: (p - y) / outputs = dL/dz{_weighted(o)} = [{grad}]")
    else:
        lines.append(f"loss: L = {loss.name}(target, prediction) = {num(o.data_loss)}")
        lines.append(f"dL/d(output){_weighted(o)} = [{grad}]")
    return lines


def _one_sigmoid_loss_lines(o, p, y, grad):
    """One sigmoid output and the binary cross-entropy: p is the probability of class 1."""
    if y == 1:
        value = f"-log(p) = -log({num(p)})"
    elif y == 0:
        value = f"-log(1 - p) = -log({num(1 - p)})"
    else:
        value = f"-({num(y)}*log({num(p)}) + {num(1 - y)}*log({num(1 - p)}))"
    return [f"p = sigmoid(z) = 1 / (1 + exp(-z)) = {num(p)}: the probability the network gives to class 1 "
            f"(and 1 - p = {num(1 - p)} to class 0)",
            f"loss: L = -(y log p + (1 - y) log(1 - p)) = {value} = {num(o.data_loss)}",
            f"error: p - y = {num(p)} - {num(y)} = dL/dz{_weighted(o)} = [{grad}]   (the sigmoid's derivative "
            "p (1 - p) cancels against the loss's 1 / (p (1 - p)): the gradient of sigmoid and binary "
            "cross-entropy together)"]


def _weighted(o):
    return f", times the weight {num(o.weight)}" if o.weight != 1.0 else ""


def _batch_loss(t, o):
    loss, n = o.loss_object, t.examples
    outputs = o.prediction.shape[1]
    if isinstance(loss, losses.MeanSquaredError):
        per = "mean over outputs of (prediction - target)^2"
        grad = f"dL/dprediction = 2 * (prediction - target) / ({_plural(outputs, 'output')} * {n} examples)"
    elif o.fused and isinstance(loss, losses.SparseCategoricalCrossentropy):
        per = "-log(p of the right class)"
        grad = f"dL/dz = (p - onehot(y)) / {n} (softmax and cross-entropy together, and the mean over the examples)"
    elif o.fused and isinstance(loss, losses.CategoricalCrossentropy):
        per = "-sum_k y_k log p_k"
        grad = f"dL/dz = (p - y) / {n}"
    elif o.fused and isinstance(loss, losses.BinaryCrossentropy) and outputs == 1:
        per = "-(y log p + (1 - y) log(1 - p)), p = sigmoid(z) the probability of class 1"
        grad = f"dL/dz = (p - y) / {n} (sigmoid and binary cross-entropy together, and the mean over the examples)"
    elif o.fused and isinstance(loss, losses.BinaryCrossentropy):
        per = "-mean(y log p + (1 - y) log(1 - p))"
        grad = f"dL/dz = (p - y) / ({_plural(outputs, 'output')} * {n} examples)"
    else:
        per = f"{loss.name}(target, prediction)"
        grad = f"dL/d(output): each example's gradient divided by {n}"
    terms = " + ".join(num(v) for v in o.per_example)
    lines = [f"loss of an example: {per}",
             f"loss: L = mean over the {n} examples = ({terms}) / {n} = {num(o.data_loss)}",
             grad + _weighted(o)]
    column = "dL/dz" if o.fused else "dL/dprediction"
    rows = [[str(e + 1), _vector(o.prediction[e]), _target_text(o, e), num(o.per_example[e]), _vector(o.d_head[e])]
            for e in range(n)]
    prediction = "p" if o.fused else "prediction"
    return lines, [report.Table(["example", prediction, "target", "loss", column], rows, "lllrl")]


def _label(name, index):
    layer, kind = name.rsplit(".", 1)
    short = {"weight": "w", "bias": "b"}.get(kind, kind)
    return f"{layer}.{short}[{','.join(str(i + 1) for i in index)}]"


def _step_title(t, step, what):
    return f"One step of {what}" if len(t.steps) == 1 else f"Step {step.t} of {what}"


def _loss_change(step):
    change = step.loss_after - step.loss_before
    return (f"loss before the step: {num(step.loss_before)}; after: {num(step.loss_after)} "
            f"({'+' if change >= 0 else ''}{num(change)})")


def _update_section(t, step):
    rows = []
    for name, (before, grad, after) in step.updates.items():
        for index in np.ndindex(before.shape):
            rows.append([_label(name, index), num(before[index]), num(grad[index]),
                         f"{_factor(before[index])} - {num(t.learning_rate)}*{_factor(grad[index])}", num(after[index])])
    lines = [f"w <- w - learning_rate * dL/dw, with learning rate {num(t.learning_rate)} "
             "(training.train_step, the step fit takes)", _loss_change(step)]
    if step.t > 1:
        return report.Section(_step_title(t, step, "gradient descent"), lines,
                              [report.Table(["parameter", "before", "dL/dw", "w - lr * dL/dw", "after"], rows, "lrrlr")])
    if t.moving:
        lines.append("both losses on this batch in training mode (BatchNormalization with the batch's statistics)")
    if t.penalty:
        lines.append("with L1, a weight that the step would carry across 0 stops at exactly 0 "
                     "(see glassnet/regularizers.py)")
    if t.frozen:
        lines.append(f"frozen (trainable=False), not moved: {', '.join(t.frozen)}")
    for layer, calls in t.shared.items():
        lines.append(f"{layer} is called {len(calls)} times ({', '.join(calls)}): its gradient is the sum of its "
                     "calls' (each call's is in its backward step)")
    tables = [report.Table(["parameter", "before", "dL/dw", "w - lr * dL/dw", "after"], rows, "lrrlr")]
    if t.moving:
        lines.append("The moving statistics are not learned by the gradient: the forward pass moved them (see it above).")
        moving = [[_label(name, index), num(before[index]), num(after[index])]
                  for name, (before, after) in t.moving.items() for index in np.ndindex(before.shape)]
        tables.append(report.Table(["statistic", "before", "after"], moving, "lrr"))
    return report.Section(_step_title(t, step, "gradient descent"), lines, tables)


def _optimizer_section(t, step):
    """A step of SGD with momentum or of Adam: what it remembers, its step size and its update,
    next to plain SGD's ``-lr * g`` with the same gradient."""
    o, lr = t.optimizer, num(t.learning_rate)
    moments, steps = [], []
    if o.kind == "momentum":
        mu = f"{o.momentum:g}"
        lines = [f"SGD with momentum keeps a velocity b per weight, a running sum of its past gradients (each older one "
                 f"weighted by a further {mu}): b <- {mu}*b + dL/dw, starting from b = 0.",
                 f"w <- w - lr * {'(dL/dw + ' + mu + '*b)' if o.nesterov else 'b'}, with learning rate {lr}: a gradient "
                 "that keeps its sign from step to step builds up speed, one that flips sign cancels out."]
        for name, (before, g, after) in step.updates.items():
            b0, b = step.slots_before[name]["momentum"], step.slots[name]["momentum"]
            for i in np.ndindex(before.shape):
                moments.append([_label(name, i), num(g[i]), f"{mu}*{_factor(b0[i])} + {_factor(g[i])}", num(b[i]),
                                num(step.update[name][i]), num(step.sgd[name][i]), num(after[i])])
        tables = [report.Table(["parameter", "dL/dw", "b = momentum*b + dL/dw", "b", "update -lr*b" if not o.nesterov
                                else "update -lr*(dL/dw + momentum*b)", "plain SGD: -lr*dL/dw", "after"],
                               moments, "lrlrrrr")]
    else:
        b1, b2 = f"{o.beta_1:g}", f"{o.beta_2:g}"
        c1, c2 = f"{1 - o.beta_1:g}", f"{1 - o.beta_2:g}"
        lines = ["Adam remembers two running averages per weight: m, of its past gradients (momentum), and v, of their "
                 "squares (how large its gradients are):",
                 f"m <- {b1}*m + {c1}*dL/dw;  v <- {b2}*v + {c2}*dL/dw^2 (both start at 0)",
                 f"m_hat = m / (1 - {b1}^t), v_hat = v / (1 - {b2}^t): the bias correction (m and v start at 0), t = {step.t}",
                 f"step size = lr / (sqrt(v_hat) + eps), eps = {o.epsilon:g}: a learning rate per weight, small for a "
                 "weight whose gradients are large and large for one whose gradients are small",
                 f"w <- w - step size * m_hat, with lr = {lr}; plain SGD moves every weight by -lr * dL/dw, the same "
                 "rate for all"]
        if step.t == 1:
            lines.append("On the first step m_hat = dL/dw and sqrt(v_hat) = |dL/dw|, so every weight moves by about lr, "
                         "whatever the size of its gradient.")
        for name, (before, g, after) in step.updates.items():
            m0, v0 = step.slots_before[name]["m"], step.slots_before[name]["v"]
            m, v = step.slots[name]["m"], step.slots[name]["v"]
            for i in np.ndindex(before.shape):
                label = _label(name, i)
                moments.append([label, num(g[i]), f"{b1}*{_factor(m0[i])} + {c1}*{_factor(g[i])}", num(m[i]),
                                f"{b2}*{_factor(v0[i])} + {c2}*{_factor(g[i])}^2", num(v[i])])
                steps.append([label, num(step.m_hat[name][i]), num(np.sqrt(step.v_hat[name][i])),
                              num(step.rate[name][i]), num(step.update[name][i]), num(step.sgd[name][i]),
                              num(after[i])])
        tables = [report.Table(["parameter", "dL/dw", "m = beta_1*m + (1 - beta_1)*dL/dw", "m",
                                "v = beta_2*v + (1 - beta_2)*dL/dw^2", "v"], moments, "lrlrlr"),
                  report.Table(["parameter", "m_hat", "sqrt(v_hat)", "step size", "update -step size*m_hat",
                                "plain SGD: -lr*dL/dw", "after"], steps, "lrrrrrr")]
    lines.append(_loss_change(step) + " (training.train_step, the step fit takes)")
    if t.penalty:
        lines.append("with L1, a weight that the step would carry across 0 stops at exactly 0 "
                     "(see glassnet/regularizers.py)")
    if t.frozen and step.t == 1:
        lines.append(f"frozen (trainable=False), not moved: {', '.join(t.frozen)}")
    return report.Section(_step_title(t, step, o.name), lines, tables)


def _steps_summary_section(t):
    """Each weight's total move over the steps, and plain SGD's over the same gradients."""
    rows = []
    first, last = t.steps[0], t.steps[-1]
    plain = t.optimizer.kind == "sgd"
    for name, (before, _, _) in first.updates.items():
        after = last.updates[name][2]
        sgd = sum(step.sgd[name] for step in t.steps)
        for i in np.ndindex(before.shape):
            rows.append([_label(name, i), num(before[i]), num(after[i]), num(after[i] - before[i])] +
                        ([] if plain else [num(sgd[i])]))
    losses = " -> ".join(num(v) for v in [first.loss_before] + [step.loss_after for step in t.steps])
    lines = [f"the loss over the {len(t.steps)} steps: {losses}"]
    if not plain:
        lines.append("plain SGD's total: the sum of -lr * dL/dw over the same gradients (what SGD would move each "
                     "weight by with no memory of the steps before)")
    headers = ["parameter", "before", "after", "total move"] + ([] if plain else ["plain SGD's total"])
    return report.Section(f"{len(t.steps)} steps of {t.optimizer.name}: the total", lines,
                          [report.Table(headers, rows, "lrrr" + "r" * (not plain))])


def _check_section(t):
    rows = []
    for name, (entries, analytic, numerical) in t.check.compared.items():
        if name == "input":
            continue
        shape = t.shapes[name]
        for entry, a, n, error in zip(entries, analytic, numerical, _relative_errors(analytic, numerical, t.check.scale)):
            rows.append([_label(name, np.unravel_index(entry, shape)), num(a), num(n), f"{error:.1e}",
                         "ok" if error <= t.check.tolerance else "FAILED"])
    verdict = "passed" if t.check.passed else "FAILED"
    lines = ["Each gradient from backpropagation next to the central difference (L(w + eps) - L(w - eps)) / (2 eps), "
             "eps = 1e-6 (glassnet.gradcheck).",
             f"gradient check {verdict}: worst relative error {t.check.max_error:.1e} (tolerance {t.check.tolerance:.0e})"]
    tiny = [name for name, (_, a, n) in t.check.compared.items() if name != "input"
            and 0 < np.abs(np.concatenate([a, n])).max(initial=0.0) < 1e-6 * t.check.scale]
    if tiny:
        lines.append(f"{', '.join(tiny)}: a gradient that is 0 but for rounding (such as a bias's just before a "
                     "normalization, which has no effect on the loss), judged, as every entry, against the model's "
                     "largest gradient (the error's denominator is at least 1e-3 times it)")
    return report.Section("Gradient check", lines,
                          [report.Table(["parameter", "backprop", "numerical", "relative error", "check"], rows, "lrrrl")])
