"""Objects as JSON and back: ``{"class_name": "Adam", "config": {...}}``.

Layers, regularizers, losses, optimizers and schedules all describe themselves with
``get_config()`` (their constructor arguments, JSON-compatible) and are rebuilt by
``deserialize(spec, classes, kind)``, which only ever makes one of the ``classes`` it is given
(glassnet's own, named plainly) or a class registered with ``gn.saving.register`` (named
``"package>Name"``, see ``saving``). This is what lets a model file hold a whole architecture
without pickle: loading a file can only create those objects, never run other code.
"""
from . import saving
from .errors import ConfigurationError, lookup


def serialize(obj):
    """``{"class_name": its name (saving.config_name), "config": obj.get_config()}``."""
    return {"class_name": saving.config_name(obj), "config": obj.get_config()}


def deserialize(spec, classes, kind, base=None):
    """A new object from ``serialize``'s output; its class must be one of ``classes``, or a
    registered class that subclasses ``base`` (by default the most general class that all of
    ``classes`` share: ``Layer`` for layers, ``Loss`` for losses, ``Regularizer``, ...), so that
    a registered class only stands where its kind can."""
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str) \
            or not isinstance(spec.get("config"), dict):
        raise ConfigurationError(f"a {kind} spec is a dict with 'class_name' and 'config', got {spec!r}")
    name = spec["class_name"]
    if saving.SEPARATOR in name or not classes:
        cls = saving.resolve(name, kind)
        base = base or _shared_base(classes)
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise ConfigurationError(f"{kind} {name!r} is {cls!r}, which is not a {base.__name__}")
    else:
        cls = lookup({c.__name__.lower(): c for c in classes}, name, kind)
    try:
        if hasattr(cls, "from_config"):
            return cls.from_config(dict(spec["config"]))
        return cls(**spec["config"])
    except TypeError as error:
        raise ConfigurationError(f"invalid config for {kind} {name}: {error}") from None


def _shared_base(classes):
    """The most general class, other than ``object``, that every one of ``classes`` subclasses."""
    first, *others = classes
    return next(c for c in reversed(first.__mro__[:-1]) if all(issubclass(k, c) for k in others))
