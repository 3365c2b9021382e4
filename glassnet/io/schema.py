"""Typed checks of the JSON a model file holds, for the readers of its fields.

Every field of a model file is checked once, by its reader, when the file is read (the model's
architecture, history and training state in ``model.py``, a backup's position and callback states
in ``callbacks/checkpoint.py``, the table preprocessing in ``tabular/preprocessing.py``, the
estimator in ``sklearn.py``); what passes is what the rest of glassnet may rely on. A value that
is not what its field needs raises ``ModelFileError`` naming the field, what it needs and what
came (long values shortened); the reader adds the file's path.

    position = schema.fields("position", value, {"epoch": int, "batch": int})
    schema.integer("position.epoch", position["epoch"], high=epochs)
"""
import math
import numbers

from ..errors import GlassnetError, ModelFileError

# Bounds that no real file comes near: counts (epochs, steps, examples) and integer settings.
MAX_COUNT = 2 ** 53
SHOWN = 60  # characters of a refused value shown in the message


def refuse(name, expected, value):
    """Raise the ``ModelFileError`` for ``name``: it must be ``expected`` and ``value`` came."""
    shown = repr(value)
    shown = shown if len(shown) <= SHOWN else shown[:SHOWN - 3] + "..."
    raise ModelFileError(f"{name} must be {expected}, got {shown}")


def described(error):
    """An error's message, after its type unless it is glassnet's own (which says it all)."""
    return str(error) if isinstance(error, GlassnetError) else f"{type(error).__name__}: {error}"


def integer(name, value, low=0, high=MAX_COUNT):
    """``value`` as an int in ``[low, high]`` (bools and floats refused)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or not low <= value <= high:
        refuse(name, f"an integer in [{low}, {high}]", value)
    return int(value)


def number(name, value, low=-math.inf, high=math.inf, finite=True):
    """``value`` as a float in ``[low, high]``; Infinity and NaN only where ``finite`` is False."""
    try:  # an integer beyond a float's range (10**400) is not a number a file may hold
        number = float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else None
    except OverflowError:
        number = None
    if number is None or (finite and not math.isfinite(number)) or (not math.isnan(number) and not low <= number <= high):
        refuse(name, f"a {'finite ' if finite else ''}number in [{low}, {high}]", value)
    return number


def string(name, value):
    if not isinstance(value, str):
        refuse(name, "a string", value)
    return value


def boolean(name, value):
    if not isinstance(value, bool):
        refuse(name, "true or false", value)
    return value


def listing(name, value, length=None, max_length=MAX_COUNT):
    """``value`` as a list (of exactly ``length`` items if given, else at most ``max_length``)."""
    if not isinstance(value, list) or (length is not None and len(value) != length) or len(value) > max_length:
        refuse(name, "a list" + (f" of {length} items" if length is not None else ""), value)
    return value


def mapping(name, value):
    """``value`` as a dict (a JSON object, whatever its keys)."""
    if not isinstance(value, dict):
        refuse(name, "an object", value)
    return value


def fields(name, value, required, optional=()):
    """``value`` as a dict that has every key of ``required`` and no key outside ``required``
    and ``optional``."""
    mapping(name, value)
    missing = [key for key in required if key not in value]
    unknown = [key for key in value if key not in required and key not in optional]
    if missing or unknown:
        refuse(name, f"an object with {', '.join(required)}"
               + (f" (and optionally {', '.join(optional)})" if optional else ""), sorted(value))
    return value


def generator_state(name, value, bit_generator):
    """``value`` checked as the state of the NumPy ``bit_generator`` (an instance, used only to
    try the state on a copy of its kind): what ``bit_generator.state = value`` accepts."""
    kind = type(bit_generator).__name__
    state = fields(name, value, ("bit_generator", "state", "has_uint32", "uinteger"))
    if state["bit_generator"] != kind:
        refuse(f"{name}.bit_generator", repr(kind), state["bit_generator"])
    for key, item in fields(f"{name}.state", state["state"], ("state", "inc")).items():
        integer(f"{name}.state.{key}", item, high=2 ** 128 - 1)
    integer(f"{name}.has_uint32", state["has_uint32"], high=1)
    integer(f"{name}.uinteger", state["uinteger"], high=2 ** 32 - 1)
    try:
        type(bit_generator)().state = state
    except (ValueError, TypeError, OverflowError, KeyError) as error:
        refuse(name, f"a {kind} state ({error})", value)
    return state
