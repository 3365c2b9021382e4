"""Your own layers, losses, metrics, initializers and regularizers, named in model files.

    @gn.saving.register(package="my_lab")
    class Scale(gn.layers.Layer):
        ...

    model.save("m.safetensors")                      # the file names the layer "my_lab>Scale"
    gn.load("m.safetensors")                         # where the decorated class is imported
    gn.load("m.safetensors", custom_objects={"my_lab>Scale": Scale})   # or given by hand

A model file names each object it holds: glassnet's own classes and functions by their plain
names, anything else by the name it was registered under, ``"package>Name"`` (Keras's form). The
package is part of every registered name, so a registered class never stands for one of
glassnet's own. Loading makes objects only from glassnet's own classes, the registered names and
the ``custom_objects`` of the load: a name in a file is never imported or looked up anywhere
else, so a file cannot make glassnet run code the program did not already choose to hold.

This module is the registry only; ``serialization`` and ``initializers`` ask it for names, and
``Sequential.save`` checks every object of a model (``model_fields.check_layers`` and
``check_compiled``) before it writes a byte.
"""
import contextlib
import contextvars
import inspect

from .errors import ConfigurationError

SEPARATOR = ">"

_OBJECTS = {}  # "package>Name" -> the registered class or function
_NAMES = {}  # the registered class or function -> "package>Name"
# The custom_objects of the load in progress ({name: class or function}); see custom_object_scope.
_SCOPE = contextvars.ContextVar("glassnet_custom_objects", default={})
# Whether names are being given for a model file (see for_a_file).
_FOR_A_FILE = contextvars.ContextVar("glassnet_names_for_a_file", default=False)


def register(package="Custom", name=None):
    """A decorator that registers a class or a function under ``"package>name"`` (``name`` is
    its ``__name__`` unless given) so that a model file can name it; returns it unchanged.

    Defining the same class again (a notebook cell run twice) replaces its registration; another
    class under a name already taken, or one class under two names, is a ConfigurationError.
    """
    _check_part("package", package)
    if name is not None:
        _check_part("name", name)

    def decorate(obj):
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            raise ConfigurationError(f"gn.saving.register decorates a class or a function, got {obj!r}")
        registered = f"{package}{SEPARATOR}{name or obj.__name__}"
        previous = _OBJECTS.get(registered)
        if previous is not None and previous is not obj:
            if _defined_at(previous) != _defined_at(obj):
                raise ConfigurationError(f"{registered!r} is already registered for {_defined_at(previous)}")
            del _NAMES[previous]
        if _NAMES.get(obj, registered) != registered:
            raise ConfigurationError(f"{obj.__qualname__} is already registered as {_NAMES[obj]!r}")
        _OBJECTS[registered], _NAMES[obj] = obj, registered
        return obj

    return decorate


def registered_name(obj):
    """The name the class or function ``obj`` is registered under, or None."""
    return _NAMES.get(obj)


def config_name(obj):
    """The name a config gives ``obj`` (a function) or its class: the registered name, the plain
    name of glassnet's own, or else its Python path (``"__main__.Swish"``), which describes it
    (``get_config()``, an ONNX file's metadata) but which no load resolves. Within ``for_a_file``
    that last case is a ConfigurationError naming it."""
    target = obj if inspect.isfunction(obj) else type(obj)
    if target in _NAMES:
        return _NAMES[target]
    if target.__module__.partition(".")[0] == "glassnet":
        return target.__name__
    if _FOR_A_FILE.get():
        what = "the function" if target is obj else "the class"
        raise ConfigurationError(f"{what} {target.__qualname__} is not registered; decorate it with "
                                 f"@gn.saving.register(package=...) to save it by name")
    return f"{target.__module__}.{target.__qualname__}"


def stored_name(obj):
    """The name a model file stores for ``obj``: ``config_name`` within ``for_a_file``."""
    with for_a_file():
        return config_name(obj)


@contextlib.contextmanager
def for_a_file():
    """Within the block, ``config_name`` (and so every ``get_config`` and ``serialize`` in it)
    refuses what a model file could not name; the checks before a save run in it."""
    token = _FOR_A_FILE.set(True)
    try:
        yield
    finally:
        _FOR_A_FILE.reset(token)


def resolve(name, kind):
    """The class or function a model file names ``"package>Name"``: from the ``custom_objects``
    of the load in progress (by that name, or by ``Name`` alone), else from the registry."""
    scope = _SCOPE.get()
    for key in (name, name.partition(SEPARATOR)[2]):
        if key in scope:
            return scope[key]
    if name in _OBJECTS:
        return _OBJECTS[name]
    raise ConfigurationError(
        f"unknown {kind} {name!r}: nothing is registered under this name; import the module that "
        f"registers it (@gn.saving.register), or pass custom_objects={{{name!r}: ...}} to gn.load")


def resolve_function(name, kind):
    """``resolve`` for names that must be functions (initializers, metric functions)."""
    function = resolve(name, kind)
    if not inspect.isfunction(function):
        raise ConfigurationError(f"{kind} {name!r} is {function!r}, not a function")
    return function


@contextlib.contextmanager
def custom_object_scope(custom_objects):
    """Within the ``with`` block, ``custom_objects`` (``{name: class or function}``, names as a
    model file writes them, ``"package>Name"``, or ``Name`` alone) resolve a file's registered
    names before the registry does. ``gn.load(path, custom_objects=...)`` uses it; use it around
    other loads (``TableModel.load``, a resuming ``fit``)."""
    if not isinstance(custom_objects, dict):
        raise ConfigurationError(f"custom_objects must be a dict {{name: class or function}}, got {custom_objects!r}")
    for key, obj in custom_objects.items():
        if not isinstance(key, str) or not all(key.split(SEPARATOR)) or key.count(SEPARATOR) > 1:
            raise ConfigurationError(f"custom_objects names are 'package>Name' or 'Name', got {key!r}")
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            raise ConfigurationError(f"custom_objects[{key!r}] must be a class or a function, got {obj!r}")
    token = _SCOPE.set({**_SCOPE.get(), **custom_objects})
    try:
        yield
    finally:
        _SCOPE.reset(token)


def _check_part(what, value):
    if not isinstance(value, str) or not value or SEPARATOR in value:
        raise ConfigurationError(f"a registered {what} is a non-empty string without {SEPARATOR!r}, got {value!r}")


def _defined_at(obj):
    return f"{obj.__module__}.{obj.__qualname__}"
