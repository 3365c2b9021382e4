"""A clicked example's forward pass, loss, backward pass and next update, as the page shows them:
``glassnet.explain``'s numbers (its ``Trace``), turned into JSON. Nothing is computed here but
the choice of what to send; the page only formats and draws.

The trace runs on a float64 copy of the network (``gn.explain`` copies the model). A Dropout
layer is left out of the copy: ``explain`` traces Dense and activation layers, and the page
shows the network as it predicts (dropout is off then anyway). The step shown is the
optimizer's first step on this one example (``explain``'s ``optimizer=``), with the page's
learning rate: what gradient descent would do with it alone.
"""
import numpy as np

from .. import layers as layer_types
from ..explain import explain as gn_explain
from ..model import Sequential
from . import network

WIDE = 16  # a layer with more inputs than this is sent without its per-weight arrays (the pictures)


def trace_model(model):
    """The model ``explain`` is given: ``model`` itself, or a copy without its Dropout layers."""
    if not any(isinstance(layer, layer_types.Dropout) for layer in model.layers):
        return model, None
    config = model.get_config()
    config["layers"] = [c for c, layer in zip(config["layers"], model.layers)
                        if not isinstance(layer, layer_types.Dropout)]
    copy = Sequential.from_config(config)
    copy.set_weights(model.get_weights())
    copy.compile(optimizer=network.optimizers.SGD(0.01), loss=model.loss)
    return copy, "dropout is left out of the trace (the network as it predicts)"


def explain(model, settings, x, y):
    """The page's message for example ``x`` with target ``y``: ``gn.explain(model, x, y, optimizer=...)``."""
    traced, note = trace_model(model)
    parameters = sum(p.size for p in traced.parameters())
    t = gn_explain(traced, np.asarray(x)[None, :], np.asarray(y)[None, ...], optimizer=network.optimizer(settings),
                   max_parameters=max(500, parameters))
    step = t.steps[0]
    layers = []
    for lt in t.layers:
        if lt.kind != "dense":
            continue
        wide = lt.weight.shape[0] > WIDE
        layers.append({
            "name": lt.name, "activation": lt.activation or "linear", "fused": bool(lt.fused), "wide": wide,
            "inputs": None if wide else _row(lt.inputs), "weight": None if wide else _list(lt.weight),
            "bias": _list(lt.bias), "z": _row(lt.z), "outputs": _row(lt.outputs),
            "d_outputs": _row(lt.d_outputs), "local": None if lt.local is None else _row(lt.local),
            "dz": _row(lt.dz), "d_weight": None if wide else _list(lt.d_weight), "d_bias": _list(lt.d_bias),
            "d_inputs": None if lt.d_inputs is None or wide else _row(lt.d_inputs),
            "weight_name": f"{lt.name}.weight", "bias_name": f"{lt.name}.bias",
        })
    updates = {}
    for name, (before, gradient, after) in step.updates.items():
        if before.size > WIDE * 64:
            continue
        updates[name] = {"before": _list(before), "gradient": _list(gradient), "update": _list(step.update[name]),
                         "after": _list(after)}
    out = t.outputs[0]
    return {
        "x": _row(t.x), "y": _list(np.atleast_1d(np.asarray(t.y)[0])), "note": note, "layers": layers,
        "prediction": _row(t.prediction), "loss_name": type(out.loss_object).__name__,
        "data_loss": float(t.data_loss), "penalty": float(t.penalty), "loss": float(t.loss),
        "loss_after": float(t.loss_after), "optimizer": t.optimizer.name, "learning_rate": t.learning_rate,
        "updates": updates, "gradcheck": "ok" if t.check.passed else "FAILED",
    }


def _row(a):
    return np.asarray(a, dtype=np.float64)[0].tolist()


def _list(a):
    return np.asarray(a, dtype=np.float64).tolist()
