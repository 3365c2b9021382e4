"""Optimizers: how the gradient changes the weights.

Every optimizer works on the model's flat buffers (``FlatParameters``): ``w`` is all the trainable
weights of the model as one vector and ``g`` all their gradients, so one step is a few whole-buffer
NumPy operations (frozen weights sit after them in the buffers, outside the step). Per-parameter state (momentum, Adam's moments) lives in buffers of the same layout and
is saved and restored by parameter name (``state_dict`` / ``load_state_dict``).

Before the update, ``step()`` clips the gradient if asked (``clipvalue``: each entry to
``[-c, c]``; ``clipnorm``: each parameter's gradient to norm ``c``; ``global_clipnorm``: the whole
gradient to norm ``c``). Clipping works in place on the gradient buffer: after
``step()``, ``grads`` holds the clipped gradient (the next backward overwrites it). The update rules, with ``t`` the step number from 1, are PyTorch's, so the
parity tests can compare step by step; the argument names are Keras's.
"""
import math

import numpy as np

from . import checks, kernels, schedules, serialization, threads
from .errors import ConfigurationError, NotBuiltError, StateError, lookup

# The fewest weights whose update ``Optimizer._run`` deals to glassnet's threads.
UPDATE_SPLIT_FROM = 2**16

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adamax", "Nadam", "RMSprop", "Adagrad", "get", "schedules"]


class Optimizer:
    """Base class. Subclasses list their per-parameter ``slots`` and implement ``update``."""

    slots = ()

    def __init__(self, learning_rate, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 weight_decay=0.0):
        if isinstance(learning_rate, schedules.LearningRateSchedule):
            self._schedule, self._learning_rate = learning_rate, None
        else:
            self._schedule = None
            self._learning_rate = checks.number("learning_rate", learning_rate, low=0, low_open=True)
        if clipnorm is not None and global_clipnorm is not None:
            raise ConfigurationError("pass clipnorm (per parameter) or global_clipnorm, not both")
        self.clipnorm = None if clipnorm is None else checks.number("clipnorm", clipnorm, low=0, low_open=True)
        self.clipvalue = None if clipvalue is None else checks.number("clipvalue", clipvalue, low=0, low_open=True)
        self.global_clipnorm = (None if global_clipnorm is None
                                else checks.number("global_clipnorm", global_clipnorm, low=0, low_open=True))
        self.weight_decay = checks.number("weight_decay", weight_decay, low=0)
        self.iterations = 0
        self.params = None
        self.state = {}

    # -- learning rate ---------------------------------------------------------------------------
    @property
    def learning_rate(self):
        """The rate the next step will use (a schedule is evaluated at ``iterations``)."""
        if self._schedule is not None:
            return float(self._schedule(self.iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if self._schedule is not None:
            raise ConfigurationError(
                f"this optimizer follows the schedule {self._schedule!r}; its learning rate cannot be set")
        self._learning_rate = checks.number("learning_rate", value, low=0, low_open=True)

    # -- stepping --------------------------------------------------------------------------------
    def build(self, params):
        """Attach to a model's ``FlatParameters`` and allocate the state buffers (zeros)."""
        if self._schedule is None:  # a rate beyond the buffers' range would become infinite
            checks.number("learning_rate", self._learning_rate, high=float(np.finfo(params.values.dtype).max))
        self.params = params
        self.state = {slot: np.zeros_like(params.values) for slot in self.slots}
        self._unused = np.zeros(0, dtype=params.values.dtype)  # stands in for a slot not in use
        self._layout = params.slices  # the layout the state buffers follow
        self._trainable_part = self._views()

    def step(self):
        """Clip the gradients if asked, then update the weights in place; one training step.
        Only the trainable parameters (the first part of the buffers) change; frozen ones and
        their state stay as they are."""
        if self.params is None:
            raise NotBuiltError("the optimizer is not attached to a model; call model.compile() first")
        if self._layout is not self.params.slices:
            self._follow_layout()
        values, grads, state = self._trainable_part
        self._clip(grads)
        learning_rate = self.learning_rate
        self.iterations += 1
        buffers, self.state = self.state, state  # update reads the trainable part of each slot
        try:
            self.update(values, grads, learning_rate, self.iterations)
        finally:
            self.state = buffers

    def _views(self):
        """``(values, grads, {slot: state})`` of the trainable part of the buffers."""
        n = self.params.trainable_size
        return self.params.values[:n], self.params.grads[:n], {slot: b[:n] for slot, b in self.state.items()}

    def _follow_layout(self):
        """Once the model has packed its parameters anew (one was frozen or unfrozen), move each
        parameter's state to its new place in the buffers."""
        if self._layout is not self.params.slices:
            for slot, buffer in self.state.items():
                moved = np.empty_like(buffer)
                for name, part in self.params.slices.items():
                    moved[part] = buffer[self._layout[name]]
                self.state[slot] = moved
            self._layout = self.params.slices
        self._trainable_part = self._views()

    def update(self, w, g, learning_rate, t):
        """Change ``w`` in place from the gradient ``g``; ``t`` counts steps from 1."""
        raise NotImplementedError

    def _run(self, kernel, **arguments):
        """``kernel(**arguments)``, the update's one compiled pass over the buffers; while a
        convolutional network splits its work (``threads.py``), one pass per thread over a run of
        them (the update is element by element: the same numbers either way)."""
        size = len(arguments["w"])
        if not threads.SPLITTING or size < UPDATE_SPLIT_FROM:
            return kernel(**arguments)

        def run(start, stop):  # each buffer's run (an empty one, for an option that is off, whole)
            kernel(**{name: value[start:stop] if isinstance(value, np.ndarray) and len(value) == size else value
                      for name, value in arguments.items()})

        threads.run_ranges(run, size)

    def _slot(self, name):
        return self.state.get(name, self._unused)

    def _clip(self, grads):
        if self.clipvalue is not None:
            np.clip(grads, -self.clipvalue, self.clipvalue, out=grads)
        if self.clipnorm is not None:
            for p in self.params.trainable_parameters:
                norm = float(np.sqrt(np.square(p.grad).sum()))
                if norm > self.clipnorm:
                    p.grad *= self.clipnorm / norm
        if self.global_clipnorm is not None:
            norm = float(np.sqrt(np.dot(grads, grads)))
            if norm > self.global_clipnorm:
                grads *= self.global_clipnorm / norm

    # -- state -----------------------------------------------------------------------------------
    def state_dict(self):
        """``{"iterations", "learning_rate", "state": {parameter name: {slot: array}}}`` (copies)."""
        if self.params is None:
            raise NotBuiltError("the optimizer has no state before model.compile()")
        self._follow_layout()
        per_name = {name: {slot: self.state[slot][part].reshape(self.params.by_name()[name].shape).copy()
                           for slot in self.slots}
                    for name, part in self.params.slices.items()}
        return {"class_name": type(self).__name__, "iterations": self.iterations,
                "learning_rate": self._learning_rate, "state": per_name}

    def load_state_dict(self, state_dict):
        """Restore a ``state_dict()``; names, slots and shapes must match this model exactly."""
        if self.params is None:
            raise NotBuiltError("compile the model before loading optimizer state")
        self._follow_layout()
        if state_dict.get("class_name") != type(self).__name__:
            raise StateError(f"optimizer state is for {state_dict.get('class_name')}, not {type(self).__name__}")
        saved, expected = set(state_dict["state"]), set(self.params.slices)
        if saved != expected:
            raise StateError(f"optimizer state names do not match the model: missing "
                             f"{sorted(expected - saved)}, unexpected {sorted(saved - expected)}")
        by_name = self.params.by_name()
        for name, slots in state_dict["state"].items():
            if set(slots) != set(self.slots):
                raise StateError(f"optimizer state for {name!r} has slots {sorted(slots)}, expected {list(self.slots)}")
            for slot, array in slots.items():
                if np.shape(array) != by_name[name].shape or np.asarray(array).dtype != self.params.values.dtype:
                    raise StateError(f"optimizer state {slot!r} of {name!r} has shape {np.shape(array)} and dtype "
                                     f"{np.asarray(array).dtype}, expected {by_name[name].shape} and "
                                     f"{self.params.values.dtype}")
        iterations = checks.nonnegative_int("optimizer state iterations", state_dict["iterations"])
        rate = state_dict.get("learning_rate")
        if rate is not None and self._schedule is None:
            self.learning_rate = rate
        self.iterations = iterations
        for name, slots in state_dict["state"].items():
            for slot, array in slots.items():
                self.state[slot][self.params.slices[name]] = np.asarray(array).ravel()

    def get_config(self):
        """The constructor arguments as JSON (a schedule as its ``{"class_name", "config"}``)."""
        rate = self._learning_rate if self._schedule is None else serialization.serialize(self._schedule)
        config = {"learning_rate": rate, "weight_decay": self.weight_decay}
        for name in ("clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, name) is not None:
                config[name] = getattr(self, name)
        return config

    @classmethod
    def from_config(cls, config):
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self):
        config = {**self.get_config(), "learning_rate": self._schedule or self._learning_rate}
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum and Nesterov momentum:

        g = g + weight_decay * w
        b = momentum * b + g                         (b = 0 at the start)
        w = w - lr * (g + momentum * b  if nesterov  else  b)

    With ``momentum=0`` it is plain ``w = w - lr * g``. Whether it is "one example at a time",
    mini-batch or full-batch descent is ``fit``'s ``batch_size`` (1, 32, None).
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = checks.number("momentum", momentum, low=0, high=1, high_open=True)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ConfigurationError("nesterov=True needs a momentum > 0")
        self.slots = ("momentum",) if self.momentum else ()

    def update(self, w, g, learning_rate, t):
        c = w.dtype.type
        self._run(kernels.sgd, w=w, g=g, momentum_buffer=self._slot("momentum"), learning_rate=c(learning_rate),
                  momentum=c(self.momentum), nesterov=self.nesterov, weight_decay=c(self.weight_decay))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma and Ba): momentum on the gradient and a per-weight step size.

        g = g + weight_decay * w
        m = beta_1 * m + (1 - beta_1) * g            first moment (mean of g)
        v = beta_2 * v + (1 - beta_2) * g^2          second moment (mean of g^2)
        w = w - lr / (1 - beta_1^t) * m / (sqrt(v / (1 - beta_2^t)) + epsilon)
    """

    slots = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = checks.number("beta_1", beta_1, low=0, high=1, high_open=True)
        self.beta_2 = checks.number("beta_2", beta_2, low=0, high=1, high_open=True)
        self.epsilon = checks.number("epsilon", epsilon, low=0, low_open=True)

    decoupled = False  # AdamW: decay the weights directly instead of adding wd * w to g

    def update(self, w, g, learning_rate, t):
        c = w.dtype.type
        coupled, shrink = (0.0, 1 - learning_rate * self.weight_decay) if self.decoupled else (self.weight_decay, 1.0)
        self._run(kernels.adam, w=w, g=g, m=self.state["m"], v=self.state["v"], one_minus_beta_1=c(1 - self.beta_1),
                  beta_2=c(self.beta_2), one_minus_beta_2=c(1 - self.beta_2),
                  step_size=c(learning_rate / (1 - self.beta_1 ** t)),
                  root_correction=c(math.sqrt(1 - self.beta_2 ** t)), epsilon=c(self.epsilon),
                  weight_decay=c(coupled), shrink=c(shrink))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): the weights shrink directly,
    ``w = w * (1 - lr * weight_decay)``, then the Adam step runs on the raw gradient."""

    decoupled = True

    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class Adamax(Adam):
    """Adamax (Kingma and Ba): Adam with the largest recent gradient in place of the root mean
    square, so a weight's step is at most about ``lr``:

        g = g + weight_decay * w
        m = beta_1 * m + (1 - beta_1) * g
        u = max(beta_2 * u, |g| + epsilon)           (u = 0 at the start)
        w = w - lr / (1 - beta_1^t) * m / u

    PyTorch's form; Keras takes ``u = max(beta_2 * u, |g|)`` and divides by ``u + epsilon``.
    """

    slots = ("m", "u")

    def update(self, w, g, learning_rate, t):
        c = w.dtype.type
        self._run(kernels.adamax, w=w, g=g, m=self.state["m"], u=self.state["u"], one_minus_beta_1=c(1 - self.beta_1),
                  beta_2=c(self.beta_2), step_size=c(learning_rate / (1 - self.beta_1 ** t)),
                  epsilon=c(self.epsilon), weight_decay=c(self.weight_decay))


class Nadam(Adam):
    """Nadam (Dozat): Adam with Nesterov momentum, whose coefficient ``mu_t`` rises toward
    ``beta_1`` as training goes on. With ``M_t = mu_1 * ... * mu_t``,

        mu_t = beta_1 * (1 - 0.5 * 0.96^(t * momentum_decay))
        g = g + weight_decay * w
        m = beta_1 * m + (1 - beta_1) * g;   v = beta_2 * v + (1 - beta_2) * g^2
        w = w - lr * ((1 - mu_t) / (1 - M_t) * g + mu_(t+1) / (1 - M_t * mu_(t+1)) * m)
                / (sqrt(v / (1 - beta_2^t)) + epsilon)

    PyTorch's ``NAdam`` (``momentum_decay=0.004`` is its default). Keras 3's ``Nadam`` has the
    same update with ``mu_t = beta_1 * (1 - 0.5 * 0.96^t)``: ``momentum_decay=1`` gives it.
    ``M_t`` is carried from step to step and recomputed from ``iterations`` after a restore, so it
    is no part of the saved state.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, momentum_decay=0.004,
                 **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self.momentum_decay = checks.number("momentum_decay", momentum_decay, low=0)
        self._momentum_product = (0, 1.0)  # (t, M_t)

    def _mu(self, t):
        return self.beta_1 * (1 - 0.5 * 0.96 ** (t * self.momentum_decay))

    def _product_until(self, t):
        """``M_t``, from ``M_(t-1)`` of the step before (or from ``M_0 = 1`` after a jump)."""
        last, product = self._momentum_product
        if last != t - 1:
            last, product = 0, 1.0
        for s in range(last + 1, t + 1):
            product *= self._mu(s)
        self._momentum_product = (t, product)
        return product

    def update(self, w, g, learning_rate, t):
        c = w.dtype.type
        mu, mu_next, product = self._mu(t), self._mu(t + 1), self._product_until(t)
        self._run(kernels.nadam, w=w, g=g, m=self.state["m"], v=self.state["v"], one_minus_beta_1=c(1 - self.beta_1),
                  beta_2=c(self.beta_2), one_minus_beta_2=c(1 - self.beta_2),
                  gradient_step=c(learning_rate * (1 - mu) / (1 - product)),
                  momentum_step=c(learning_rate * mu_next / (1 - product * mu_next)),
                  root_correction=c(math.sqrt(1 - self.beta_2 ** t)), epsilon=c(self.epsilon),
                  weight_decay=c(self.weight_decay))

    def get_config(self):
        return {**super().get_config(), "momentum_decay": self.momentum_decay}


class RMSprop(Optimizer):
    """RMSprop (Hinton): divide the gradient by a running root mean square of recent gradients.

        g = g + weight_decay * w
        v = rho * v + (1 - rho) * g^2
        d = sqrt(v - a^2) + epsilon,  a = rho * a + (1 - rho) * g   if centered
            sqrt(v) + epsilon                                     otherwise
        b = momentum * b + g / d;  w = w - lr * b                  (w = w - lr * g / d without momentum)
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = checks.number("rho", rho, low=0, high=1, high_open=True)
        self.momentum = checks.number("momentum", momentum, low=0, high=1, high_open=True)
        self.epsilon = checks.number("epsilon", epsilon, low=0, low_open=True)
        self.centered = bool(centered)
        self.slots = ("v",) + (("mean",) if self.centered else ()) + (("momentum",) if self.momentum else ())

    def update(self, w, g, learning_rate, t):
        c = w.dtype.type
        self._run(kernels.rmsprop, w=w, g=g, v=self.state["v"], mean=self._slot("mean"),
                  momentum_buffer=self._slot("momentum"), learning_rate=c(learning_rate),
                  rho=c(self.rho), one_minus_rho=c(1 - self.rho), momentum=c(self.momentum),
                  epsilon=c(self.epsilon), centered=self.centered, weight_decay=c(self.weight_decay))

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.): each weight's step shrinks as the squares of its gradients add up.

        g = g + weight_decay * w
        a = a + g^2                                  (a = initial_accumulator_value at the start)
        w = w - lr * g / (sqrt(a) + epsilon)

    PyTorch's form (without its ``lr_decay``); Keras divides by ``sqrt(a + epsilon)``.
    """

    slots = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = checks.number("initial_accumulator_value", initial_accumulator_value,
                                                       low=0)
        self.epsilon = checks.number("epsilon", epsilon, low=0, low_open=True)

    def build(self, params):
        super().build(params)
        self.state["accumulator"].fill(self.initial_accumulator_value)

    def update(self, w, g, learning_rate, t):
        c = w.dtype.type
        self._run(kernels.adagrad, w=w, g=g, accumulator=self.state["accumulator"], learning_rate=c(learning_rate),
                  epsilon=c(self.epsilon), weight_decay=c(self.weight_decay))

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad,
              "adamax": Adamax, "nadam": Nadam}


def get(optimizer):
    """An optimizer from its Keras name (``"adam"``) with default settings, or the instance."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if not isinstance(optimizer, str):
        raise ConfigurationError(
            f"optimizer must be a name or an Optimizer, got {type(optimizer).__name__} {optimizer!r}")
    return lookup(OPTIMIZERS, optimizer, "optimizer")()


def deserialize(spec):
    """An optimizer (fresh state) from ``serialization.serialize(optimizer)``'s output."""
    return serialization.deserialize(spec, OPTIMIZERS.values(), "optimizer")
