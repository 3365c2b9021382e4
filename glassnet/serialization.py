"""Objects as JSON and back: ``{"class_name": "Adam", "config": {...}}``.

Layers, regularizers, losses, optimizers and schedules all describe themselves with
``get_config()`` (their constructor arguments, JSON-compatible) and are rebuilt by
``deserialize(spec, classes, kind)``, which only ever makes one of the ``classes`` it is given.
This is what lets a model file hold a whole architecture without pickle: loading a file can only
create glassnet's own objects, never run code.
"""
from .errors import ConfigurationError, lookup


def serialize(obj):
    """``{"class_name": type name, "config": obj.get_config()}``."""
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def deserialize(spec, classes, kind):
    """A new object from ``serialize``'s output; its class must be one of ``classes``."""
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str) \
            or not isinstance(spec.get("config"), dict):
        raise ConfigurationError(f"a {kind} spec is a dict with 'class_name' and 'config', got {spec!r}")
    cls = lookup({c.__name__.lower(): c for c in classes}, spec["class_name"], kind)
    try:
        if hasattr(cls, "from_config"):
            return cls.from_config(dict(spec["config"]))
        return cls(**spec["config"])
    except TypeError as error:
        raise ConfigurationError(f"invalid config for {kind} {spec['class_name']}: {error}") from None
