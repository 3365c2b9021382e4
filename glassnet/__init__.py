"""glassnet: deep neural networks in NumPy that you can read, check and train.

    import glassnet as gn
    model = gn.Sequential([gn.layers.Dense(64, activation="relu"), gn.layers.Dense(10, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, validation_split=0.1)
"""
from . import (callbacks, datasets, initializers, layers, losses, metrics, optimizers, regularizers,
               saving, schedules)
from .errors import (ConfigurationError, DataError, DistributedError, ExportError, GlassnetError,
                     NotBuiltError, NotCompiledError, ModelFileError, ShapeError, StateError)
from .diagnosis import Diagnosis, diagnose
from .explain import Trace, explain
from .gradcheck import GradcheckReport, gradcheck
from .functional import Model
from .graph import Input
from .model import Sequential
from .network import Network
from .parameter import Parameter
from .plotting import plot_decision_boundary, plot_history

from .version import __version__

load = Network.load  # gn.load(path): a Sequential or a graph Model from a model file

__all__ = [
    "Sequential", "Model", "Input", "load", "Parameter", "gradcheck", "GradcheckReport",
    "diagnose", "Diagnosis", "plot_history", "plot_decision_boundary", "explain", "Trace",
    "layers", "losses", "metrics", "optimizers", "schedules", "regularizers", "initializers", "callbacks", "datasets",
    "saving",
    "GlassnetError", "ConfigurationError", "ShapeError", "DataError", "NotCompiledError",
    "NotBuiltError", "StateError", "ModelFileError", "ExportError", "DistributedError", "__version__",
]
