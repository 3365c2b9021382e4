"""The network of the page's settings, built with glassnet's public API: the same calls the
exported script (``script.py``) writes out, so that both make the same model from the same seed.

    model = build(settings, data)            # compiled Sequential
    y_train = targets(data.y_train, output)  # class numbers as the loss takes them
"""
import numpy as np

from .. import callbacks, layers, optimizers, regularizers
from ..model import Sequential
from .settings import MOMENTUM, OUTPUTS

MAX_EPOCHS = 1_000_000  # the page trains until paused, reset or stopped early


def units_out(data, output):
    """How many output neurons: one for a sigmoid or a regression, one per class for a softmax."""
    return len(data.classes) if output == "softmax" else 1


def output_for(data, output):
    """The output the data can take: a sigmoid only for two classes; the task decides the rest."""
    from .settings import output_for as for_task
    output = for_task(data.task, output)
    if output == "sigmoid" and len(data.classes) != 2:
        return "softmax"
    return output


def targets(y, output):
    """The targets as the output's loss takes them: float (n, 1) 0/1 for a sigmoid, class numbers for a softmax."""
    if output == "sigmoid":
        return y.astype(np.float32).reshape(-1, 1)
    return y


def build(settings, data):
    """The compiled ``Sequential`` of ``settings`` for ``data``'s inputs and classes."""
    output = output_for(data, settings["output"])
    activation, loss, _ = OUTPUTS[output]
    regularizer = _regularizer(settings)
    stack = [layers.Input((data.features,))]
    for units in settings["hidden"]:
        stack.append(layers.Dense(units, activation=settings["activation"], kernel_regularizer=regularizer))
        if settings["dropout"]:
            stack.append(layers.Dropout(settings["dropout"]))
    stack.append(layers.Dense(units_out(data, output), activation=activation, kernel_regularizer=regularizer))
    model = Sequential(stack, seed=settings["seed"])
    model.compile(optimizer=optimizer(settings), loss=loss)
    return model


def optimizer(settings):
    lr = settings["learning_rate"]
    if settings["optimizer"] == "adam":
        return optimizers.Adam(lr)
    return optimizers.SGD(lr, momentum=MOMENTUM if settings["optimizer"] == "momentum" else 0.0)


def early_stopping(settings):
    """The ``EarlyStopping`` callback of the settings, or None. It watches the test loss
    (``val_loss``) and keeps the last weights (no restore), so a run can be replayed exactly."""
    if not settings["early_stopping"]:
        return None
    return callbacks.EarlyStopping(monitor="val_loss", patience=settings["patience"])


def _regularizer(settings):
    if settings["l1"] or settings["l2"]:
        return regularizers.L1L2(l1=settings["l1"], l2=settings["l2"])
    return None
