"""The text of ``Sequential.summary()``: one row per layer with its output shape and parameters,
then the counts of all parameters, the trainable ones and the frozen ones."""


def _shape_text(shape):
    return "(None, " + ", ".join(map(str, shape)) + ")" if shape is not None else "?"


def summary_lines(model):
    """Lines of the summary table (Keras's layout, plain ASCII)."""
    model.build_if_shape_known()
    rows = []
    for i, layer in enumerate(model.layers):
        shape = model._output_shapes[i] if model.built else None
        params = f"{layer.count_params():,}" if model.built else "0 (unbuilt)"
        rows.append((f"{layer.name} ({type(layer).__name__})", _shape_text(shape), params))
    header = ("Layer (type)", "Output Shape", "Param #")
    widths = [max(len(r[i]) for r in rows + [header]) + 2 for i in range(3)]
    rule = "-" * sum(widths)
    lines = [f'Model: "{model.name}"', rule, "".join(h.ljust(w) for h, w in zip(header, widths)), rule.replace("-", "=")]
    lines += ["".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    total = model.count_params()
    trainable = sum(p.size for p in model.parameters() if p.trainable)
    lines += [rule] + [f"{what} params: {count:,} ({_bytes(count * model.dtype.itemsize)})" for what, count in
                       (("Total", total), ("Trainable", trainable), ("Non-trainable", total - trainable))]
    return lines + [f"Input shape: {_shape_text(model.input_shape)}"]


def _bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
