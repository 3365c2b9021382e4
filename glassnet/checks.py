"""Checks on what users pass in, so that mistakes give a clear message instead of a NumPy traceback.

Arguments (``positive_int``, ``positive_ints``, ``boolean``, ``shape``, ``number``, ``seed``, ``verbosity``,
``affordable``, and the ``class_weight`` dict) get a ConfigurationError that names the argument,
says what was expected and shows what came; data (``numeric_array``, ``nonempty_array``, ``finite_array``,
``finite``, ``ids``, ``model_inputs``, ``same_length``, ``sample_weights``) a DataError or ShapeError. ``option`` turns
an argument check into an argparse ``type`` for the command line.
"""
import argparse
import functools
import math
import numbers
import os

import numpy as np

from .errors import ConfigurationError, DataError, ShapeError

# A built, compiled model holds its parameters about this many times over: the weights and their
# gradients, the layers' own arrays while they are packed into the flat buffers, optimizer state.
PARAMETER_COPIES = 6


def positive_int(name, value, allow_none=False):
    """``value`` as an int > 0 (or None where allowed), else a ConfigurationError naming ``name``."""
    if value is None and allow_none:
        return None
    if not _is_int(value) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def nonnegative_int(name, value):
    """``value`` as an int >= 0, else a ConfigurationError naming ``name``."""
    if not _is_int(value) or value < 0:
        raise ConfigurationError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def boolean(name, value):
    """``value`` as a bool if it is True or False (NumPy's too), else a ConfigurationError."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def positive_ints(name, values):
    """``values`` (one int or a sequence of ints) as a tuple of ints > 0; an empty one is allowed."""
    ints = _ints(values)
    if ints is None:
        raise ConfigurationError(f"{name} must be positive integers, got {values!r}")
    return ints


def seed(name, value):
    """A random seed: None or an int in [0, 2**32) (what NumPy's generators and scikit-learn's
    ``random_state`` both accept)."""
    if value is not None and (not _is_int(value) or not 0 <= value < 2**32):
        raise ConfigurationError(f"{name} must be an integer in [0, 2**32), got {value!r}")
    return None if value is None else int(value)


def float_dtype(name, value):
    """``value`` as the NumPy dtype float32 or float64 (a name, a type or a dtype)."""
    try:
        dtype = np.dtype(value)
    except TypeError:
        dtype = None
    if dtype not in (np.float32, np.float64):
        raise ConfigurationError(f"{name} must be 'float32' or 'float64', got {value!r}")
    return dtype


def verbosity(value):
    """``verbose``: "auto", or 0, 1 or 2 (a bool counts as 0 or 1)."""
    if isinstance(value, str) and value == "auto":
        return value
    if not isinstance(value, numbers.Integral) or value not in (0, 1, 2):
        raise ConfigurationError(f"verbose must be 'auto', 0, 1 or 2, got {value!r}")
    return int(value)


def affordable(what, nbytes):
    """Refuse, before anything is allocated, ``what`` needing ``nbytes`` bytes when that is more
    than this machine's physical memory (a MemoryError or the kernel's out-of-memory killer
    would come later, after minutes of swapping)."""
    if nbytes > physical_memory():
        raise ConfigurationError(f"{what} would need {nbytes / 2**30:,.1f} GiB of memory, more than this "
                                 f"machine's {physical_memory() / 2**30:,.1f} GiB")


@functools.cache
def physical_memory():
    """The machine's physical memory in bytes (1 TiB where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 2**40


def option(convert, check, *args, **kwargs):
    """An argparse ``type``: the option's text converted by ``convert`` (``int``, ``float``) and
    checked by ``check(name, value, *args, **kwargs)`` of this module; a failure is an argparse
    usage error (exit status 2) saying what was expected."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            expected = "an integer" if convert is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        try:
            return check("the value", value, *args, **kwargs)
        except ConfigurationError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return parse


def shape(name, value):
    """The shape of one example (no batch axis): one int or a non-empty sequence of ints > 0."""
    dims = _ints(value)
    if not dims:
        raise ConfigurationError(f"{name} must be a tuple of positive integers, got {value!r}")
    return dims


def number(name, value, low=-math.inf, high=math.inf, low_open=False, high_open=False):
    """``value`` as a float from ``low`` to ``high`` (each end included unless ``*_open``); bools,
    NaN, infinity and non-numbers are refused with a ConfigurationError."""
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    inside = is_number and math.isfinite(value) and (value > low if low_open else value >= low)
    if not (inside and (value < high if high_open else value <= high)):
        expected = _expected(low, high, low_open, high_open, is_number)
        raise ConfigurationError(f"{name} must be {expected}, got {value!r}")
    return float(value)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _ints(values):
    """``values`` as a tuple of ints > 0, or None if it is not one int or a sequence of them."""
    if _is_int(values):
        values = (values,)
    try:
        values = tuple(values)
    except TypeError:
        return None
    if not all(_is_int(v) and v > 0 for v in values):
        return None
    return tuple(int(v) for v in values)


def _expected(low, high, low_open, high_open, is_number):
    """The words for what ``number`` accepts: ``in [0, 1)`` (``a number in [0, 1)`` when no number
    came), ``a finite number > 0``, ``a finite number``."""
    if math.isfinite(low) and math.isfinite(high):
        interval = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        return interval if is_number else f"a number {interval}"
    bounds = [f"{'>' if low_open else '>='} {low:g}"] if math.isfinite(low) else []
    bounds += [f"{'<' if high_open else '<='} {high:g}"] if math.isfinite(high) else []
    return " ".join(["a finite number", *bounds])


def numeric_array(name, values):
    """``values`` as an array of booleans, integers or floats (not strings, objects, complex
    numbers or ragged nested lists)."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError, OverflowError) as error:
        raise DataError(f"{name} must be numeric, could not convert it: {error}") from None
    if array.dtype.kind not in "biuf":
        raise DataError(f"{name} must be numeric, got dtype {array.dtype}")
    return array


def finite_array(name, values, within=None):
    """``values`` as a non-empty numeric array without NaN or infinity; with a float dtype
    ``within``, also without values beyond its range (1e39 is finite in float64 but infinite in
    float32, so it would train a float32 model to infinity)."""
    return finite(name, nonempty_array(name, values), within)


def nonempty_array(name, values):
    """``values`` as a numeric array of at least one example."""
    array = numeric_array(name, values)
    if array.ndim == 0 or array.shape[0] == 0:
        raise DataError(f"{name} is empty (shape {array.shape}); expected at least one example")
    return array


def finite(name, array, within=None):
    """``array`` (numeric), refused with a DataError if it holds NaN or infinity, or (with a float
    dtype ``within``) values beyond that dtype's range."""
    if array.dtype.kind != "f" or array.size == 0:
        return array
    # min and max are NaN if any value is, and infinite if any value is: two passes, no copy
    low, high = array.min(), array.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        bad = np.argwhere(~np.isfinite(array))[0]
        kind = "NaN" if np.isnan(array[tuple(bad)]) else "infinite"
        raise DataError(f"{name} contains {kind} values (first at index {tuple(int(i) for i in bad)}); "
                        "remove or impute them before training")
    largest = None if within is None else float(np.finfo(within).max)
    if largest is not None and max(-float(low), float(high)) > largest:
        raise DataError(f"{name} has values from {low:g} to {high:g}, beyond the range of {np.dtype(within)} "
                        f"(+-{largest:g}) that the model computes in; rescale them")
    return array


def model_inputs(x, dtype, input_shape=None, id_count=None, name="x"):
    """Inputs as a float array of the model's dtype, checked against the built input shape; with
    ``id_count`` (the first layer takes integer ids: ``Layer.id_count``), as integer ``ids``
    instead, never through a float32 (which holds integers exactly only up to 2**24). ``name``
    is what messages call it (a graph model's ``input 'city'``)."""
    if id_count is None:
        x = finite_array(name, x, within=dtype).astype(dtype, copy=False)
    else:
        x = ids(name, nonempty_array(name, x), id_count)
    if x.ndim < 2 or 0 in x.shape[1:]:
        raise ShapeError(f"{name} must have shape (n_examples, features...) with at least one feature, got "
                         f"shape {x.shape}; reshape a single example with x[None] or a single feature with x[:, None]")
    if input_shape is not None and x.shape[1:] != tuple(input_shape):
        expected = ", ".join(map(str, input_shape))
        raise ShapeError(f"{name} has shape {x.shape} but the model expects (n, {expected}): "
                         f"{_shape_difference(x.shape[1:], input_shape)}")
    return x


def ids(name, array, count):
    """``array`` (numeric) as integer ids (``np.intp``), each a whole number from 0 to
    ``count - 1``; a DataError names the first that is not (negative, ``count`` or more, 2.5, NaN)."""
    good = (array >= 0) & (array < count)
    if array.dtype.kind == "f":
        good &= np.floor(array) == array
    if not good.all():
        bad = tuple(int(i) for i in np.argwhere(~good)[0])
        raise DataError(f"{name} has {array[bad].item()!r} at index {bad}, which is not an id: ids are "
                        f"integers from 0 to {count - 1} (input_dim={count})")
    return array.astype(np.intp, copy=False)


def _shape_difference(got, expected):
    if len(got) != len(expected):
        return f"rank {len(got) + 1} instead of {len(expected) + 1}"
    return f"{int(np.prod(got))} features instead of {int(np.prod(expected))}"


def same_length(x, y, names=("x", "y")):
    if len(x) != len(y):
        raise ShapeError(f"{names[0]} and {names[1]} must have the same number of examples, "
                         f"got {len(x)} and {len(y)}")


def sample_weights(sample_weight, n, name="sample_weight", within=None):
    """Per-example weights as a float array of length n, finite (in ``within``) and >= 0."""
    w = finite_array(name, sample_weight, within).astype(np.float64)
    if w.shape != (n,):
        raise ShapeError(f"{name} must have shape ({n},), one weight per example, got {w.shape}")
    if (w < 0).any():
        raise DataError(f"{name} must be >= 0, got {w.min()}")
    return w


def class_weights(class_weight, labels, n_classes, comm=None):
    """Per-example weights ``class_weight[label]`` for class labels (integers, 0/1 values or one-hot
    rows, as a classification loss's ``check_targets`` returns them); weights finite and >= 0.
    ``"balanced"`` weighs class ``c`` by ``n / (k * n_c)``, ``n_c`` its examples among the ``n``,
    ``k`` the classes that occur (scikit-learn's ``compute_class_weight``): each class then
    weighs as much in the loss as any other. With ``comm`` (a ``distributed.Communicator``: each
    process holds its own ``labels``), the counts are those of every process's examples."""
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = labels.argmax(axis=1)
    labels = np.asarray(labels).reshape(len(labels)).round().astype(np.intp)
    table = np.ones(max(n_classes, 2))
    if isinstance(class_weight, str) and class_weight == "balanced":
        counts = np.bincount(labels, minlength=len(table))
        if comm is not None:
            counts = comm.total(counts, "the class counts")
        np.divide(counts.sum(), np.count_nonzero(counts) * counts, out=table, where=counts > 0)
    elif isinstance(class_weight, dict):
        for label, weight in class_weight.items():
            if not _is_int(label) or not 0 <= label < len(table):
                raise ConfigurationError(f"class_weight key {label!r} is not a class index in [0, {len(table) - 1}]")
            table[label] = number(f"class_weight[{label}]", weight, low=0)
    else:
        raise ConfigurationError(f"class_weight must be a dict {{class: weight}} or 'balanced', got "
                                 f"{type(class_weight).__name__} {class_weight!r:.60}")
    return table[labels]
