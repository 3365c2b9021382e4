"""The text of ``summary()``: one row per layer (a ``Sequential``) or per node (a graph ``Model``:
its inputs first, then each layer call with the tensors it reads) with its output shape and
parameters, then the counts of all parameters, the trainable ones and the frozen ones."""
import collections


def _shape_text(shape):
    return "(None, " + ", ".join(map(str, shape)) + ")" if shape is not None else "?"


def summary_lines(model):
    """Lines of a Sequential's summary table (Keras's layout, plain ASCII)."""
    model.build_if_shape_known()
    rows = []
    for i, layer in enumerate(model.layers):
        shape = model._output_shapes[i] if model.built else None
        params = f"{layer.count_params():,}" if model.built else "0 (unbuilt)"
        rows.append((f"{layer.name} ({type(layer).__name__})", _shape_text(shape), params))
    return _table(model, ("Layer (type)", "Output Shape", "Param #"), rows) + \
        [f"Input shape: {_shape_text(model.input_shape)}"]


def graph_summary_lines(model):
    """Lines of a graph model's summary: a row per input and per node, with what it reads; a
    shared layer's parameters count at its first call."""
    rows = [(f"{name} (Input)", _shape_text(t.shape), "0", "") for name, t in zip(model.input_names, model.inputs)]
    names = {id(t): name for name, t in zip(model.input_names, model.inputs)}
    counted = set()
    calls = collections.Counter(id(node.layer) for node in model._nodes)
    made = collections.Counter()  # calls of each layer so far
    for node in model._nodes:
        layer = node.layer
        params = "shared" if id(layer) in counted else f"{layer.count_params():,}"
        counted.add(id(layer))
        reads = _reads_text([names[id(t)] if t.node is None else names[id(t.node)] for t in node.inputs])
        names[id(node)] = layer.name if calls[id(layer)] == 1 else f"{layer.name}[{made[id(layer)]}]"
        made[id(layer)] += 1
        rows.append((f"{names[id(node)]} ({type(layer).__name__})", _shape_text(node.output_shape()), params, reads))
    outputs = ", ".join(f"{name} {_shape_text(t.shape)}" for name, t in zip(model.output_names, model.outputs))
    return _table(model, ("Layer (type)", "Output Shape", "Param #", "Reads"), rows) + [f"Outputs: {outputs}"]


READS_SHOWN = 6  # a node reading more (a Concatenate of many inputs) names the first few and the count


def _reads_text(names):
    """The tensors a node reads, in a cell: all of them, or the first few and how many in all."""
    if len(names) <= READS_SHOWN:
        return ", ".join(names)
    return ", ".join(names[:READS_SHOWN - 1]) + f", ... ({len(names):,} in all)"


def _table(model, header, rows):
    widths = [max(len(r[i]) for r in rows + [header]) + 2 for i in range(len(header))]
    rule = "-" * sum(widths)
    lines = [f'Model: "{model.name}"', rule, "".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(),
             rule.replace("-", "=")]
    lines += ["".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    total = model.count_params()
    trainable = sum(p.size for p in model.parameters() if p.trainable)
    return lines + [rule] + [f"{what} params: {count:,} ({_bytes(count * model.dtype.itemsize)})" for what, count in
                             (("Total", total), ("Trainable", trainable), ("Non-trainable", total - trainable))]


def _bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
