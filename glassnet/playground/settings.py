"""What the page may ask for: every setting's default, its limits, and the check that turns the
page's JSON into settings (or a ``SettingsError`` whose message the page shows).

The limits keep one learner's server responsive on a small machine: at most ``MAX_LAYERS``
hidden layers of at most ``MAX_UNITS`` neurons (``MAX_PICTURE_UNITS`` for the picture sets),
learning rates up to 10, at most ``MAX_POINTS`` generated points.
"""
import math

from ..errors import ConfigurationError
from . import datasets

ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear", "leaky_relu", "elu")
# output -> (the output layer's activation, the loss, the task it serves)
OUTPUTS = {
    "sigmoid": ("sigmoid", "binary_crossentropy", "classification"),
    "softmax": ("softmax", "sparse_categorical_crossentropy", "classification"),
    "linear_mse": (None, "mse", "regression"),
    "linear_mae": (None, "mae", "regression"),
}
OPTIMIZERS = ("sgd", "momentum", "adam")
MOMENTUM = 0.9
MAX_LAYERS = 6
MAX_UNITS = 16
MAX_PICTURE_UNITS = 32
MAX_POINTS = 2000
MAX_PATIENCE = 1000
SPEEDS = ("full", "100", "10")  # steps per second: as fast as it goes, or at most 100 or 10

DEFAULTS = {
    "dataset": "circle", "points": 500, "noise": 0.0, "train_fraction": 0.5, "seed": 0,
    "csv": None,  # {"x1", "x2", "target", "task"} when dataset is "csv"
    "hidden": [4, 2], "activation": "tanh", "output": "sigmoid",
    "optimizer": "sgd", "learning_rate": 0.03, "batch_size": 10,
    "l1": 0.0, "l2": 0.0, "dropout": 0.0, "early_stopping": False, "patience": 10, "speed": "full",
}


class SettingsError(ConfigurationError):
    """A setting the page sent that the playground cannot take; the message says which and why."""


def check(raw, current=None):
    """The settings from ``raw`` (a dict from the page: missing keys keep ``current``'s values,
    unknown keys are refused)."""
    if not isinstance(raw, dict):
        raise SettingsError("the settings must be an object")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0][:40]!r}")
    s = dict(current or DEFAULTS)
    s.update(raw)
    names = datasets.available() + ["csv"]
    out = {"dataset": _choice("dataset", s["dataset"], names)}
    out["points"] = _int("points", s["points"], 20, MAX_POINTS)
    out["noise"] = _number("noise", s["noise"], 0, 0.5)
    out["train_fraction"] = _number("train_fraction", s["train_fraction"], 0.1, 0.9)
    out["seed"] = _int("seed", s["seed"], 0, 2 ** 31 - 1)
    out["csv"] = _csv(s["csv"]) if out["dataset"] == "csv" else None
    pictures = out["dataset"] in datasets.PICTURES
    units = MAX_PICTURE_UNITS if pictures else MAX_UNITS
    hidden = s["hidden"]
    if not isinstance(hidden, list):
        raise SettingsError("hidden must be a list of layer sizes")
    if len(hidden) > MAX_LAYERS:
        raise SettingsError(f"at most {MAX_LAYERS} hidden layers, got {len(hidden)}")
    out["hidden"] = [_int("neurons of a layer", n, 1, units) for n in hidden]
    out["activation"] = _choice("activation", s["activation"], ACTIVATIONS)
    out["output"] = _choice("output", s["output"], tuple(OUTPUTS))
    out["optimizer"] = _choice("optimizer", s["optimizer"], OPTIMIZERS)
    out["learning_rate"] = _number("learning rate", s["learning_rate"], 1e-6, 10)
    out["batch_size"] = _int("batch size", s["batch_size"], 1, 100_000)
    out["l1"] = _number("L1", s["l1"], 0, 1)
    out["l2"] = _number("L2", s["l2"], 0, 1)
    out["dropout"] = _number("dropout rate", s["dropout"], 0, 0.9)
    if not isinstance(s["early_stopping"], bool):
        raise SettingsError("early_stopping must be true or false")
    out["early_stopping"] = s["early_stopping"]
    out["patience"] = _int("patience", s["patience"], 1, MAX_PATIENCE)
    out["speed"] = _choice("speed", s["speed"], SPEEDS)
    return out


def output_for(task, output):
    """The output to use for ``task``: ``output`` when it serves the task, else the task's first."""
    if OUTPUTS[output][2] == task:
        return output
    return "sigmoid" if task == "classification" else "linear_mse"


def _csv(value):
    if not isinstance(value, dict):
        raise SettingsError("upload a CSV file and choose its columns first")
    out = {}
    for key in ("x1", "x2", "target"):
        if not isinstance(value.get(key), str) or len(value[key]) > 1000:
            raise SettingsError(f"choose the CSV column for {key}")
        out[key] = value[key]
    out["task"] = _choice("task", value.get("task", "auto"), ("auto", "classification", "regression"))
    return out


def _choice(name, value, choices):
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {str(value)[:40]!r}")
    return value


def _number(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SettingsError(f"{name} must be a number, got {str(value)[:40]!r}")
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g}, got {value:g}")
    return float(value)


def _int(name, value, low, high):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"{name} must be a whole number, got {str(value)[:40]!r}")
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value
