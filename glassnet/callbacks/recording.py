"""Recording training as it goes: ``WeightHistory(every=N)`` keeps a copy of the model's weights
every ``N`` optimizer steps, to look at afterwards: how a weight moved (the paths of two weights
on the loss surface), or what the model computed at each moment (its decision boundary, drawn
with ``gn.plot_decision_boundary`` after ``restore``).

    history = gn.callbacks.WeightHistory(every=50)
    model.fit(x, y, epochs=20, callbacks=[history])
    history.steps                  # [0, 50, 100, ..., the last step]
    history.weights[k]             # the weights at history.steps[k], as model.get_weights() gives them
    history.values("dense.weight") # one parameter's array at every record, stacked: (records, *shape)
    history.restore(model, k)      # put record k's weights back into the model
"""
import numpy as np

from .. import checks
from ..errors import ConfigurationError
from .base import Callback


class WeightHistory(Callback):
    """Copies of the weights every ``every`` optimizer steps (``model.optimizer.iterations``, so a
    second ``fit`` goes on counting), also before the first step and after the last.

    ``steps`` lists the step of each record and ``weights`` the copies (a list of arrays per
    record, in ``model.get_weights()`` order); ``names`` the parameters' names in that order.
    ``parameters`` (a list of names) keeps only those, for long runs of large models: the memory is
    one copy of the recorded parameters per record. Every process of a distributed fit records
    its own (identical) copies; a run resumed by ``BackupAndRestore`` records from where it resumes."""

    def __init__(self, every=1, parameters=None):
        super().__init__()
        self.every = checks.positive_int("every", every)
        if parameters is not None and (isinstance(parameters, str) or not all(isinstance(p, str) for p in parameters)):
            raise ConfigurationError(f"parameters must be a list of parameter names, got {parameters!r}")
        self.parameters = None if parameters is None else list(parameters)
        self.steps, self.weights, self.names = [], [], None

    def on_train_begin(self, logs=None):
        names = [p.name for p in self.model.parameters()]
        if self.parameters is not None:
            unknown = [name for name in self.parameters if name not in names]
            if unknown:
                raise ConfigurationError(f"WeightHistory: the model has no parameter {unknown[0]!r}; its "
                                         f"parameters are {', '.join(names)}")
            names = [name for name in names if name in self.parameters]
        if self.names is not None and names != self.names:
            raise ConfigurationError("WeightHistory records one model: this fit's parameters are not the ones "
                                     "recorded before")
        self.names = names
        self._record()

    def on_train_batch_end(self, batch, logs=None):
        if self.model.optimizer.iterations % self.every == 0:
            self._record()

    def on_train_end(self, logs=None):
        self._record()

    def _record(self):
        step = self.model.optimizer.iterations
        if self.steps and self.steps[-1] == step:
            return
        by_name = {p.name: p for p in self.model.parameters()}
        self.steps.append(step)
        self.weights.append([by_name[name].value.copy() for name in self.names])

    def values(self, name):
        """Parameter ``name`` at every record, stacked: an array of shape ``(records, *shape)``."""
        if self.names is None or name not in self.names:
            raise ConfigurationError(f"WeightHistory has no record of {name!r}; it recorded "
                                     f"{', '.join(self.names or []) or 'nothing yet'}")
        i = self.names.index(name)
        return np.stack([weights[i] for weights in self.weights])

    def restore(self, model, record):
        """Set ``model``'s recorded parameters to record number ``record`` (negative counts from the end)."""
        weights = self.weights[record]
        by_name = {p.name: p for p in model.parameters()}
        missing = [name for name, value in zip(self.names, weights)
                   if name not in by_name or by_name[name].shape != value.shape]
        if missing:
            raise ConfigurationError(f"the model has no parameter {missing[0]!r} of the recorded shape")
        for name, value in zip(self.names, weights):
            by_name[name].value[...] = value
