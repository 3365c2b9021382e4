"""The errors a user can cause, all subclasses of one ``GlassnetError``.

Each also subclasses the matching built-in exception, so ``except ValueError`` keeps working for
code that does not know glassnet. Messages say what was expected, what came, and which layer,
argument or column is involved.
"""


class GlassnetError(Exception):
    """Base class of every error glassnet raises on purpose."""


class ConfigurationError(GlassnetError, ValueError):
    """An argument out of range, or an unknown name (activation, loss, optimizer, metric, ...)."""


class ShapeError(GlassnetError, ValueError):
    """An array whose rank or size does not fit what the model or layer expects."""


class DataError(GlassnetError, ValueError):
    """Values that cannot be trained on: NaN or infinity, labels out of range, empty input."""


class NotCompiledError(GlassnetError, RuntimeError):
    """Training or evaluating a model before ``compile()``."""


class NotBuiltError(GlassnetError, RuntimeError):
    """Asking for something that exists only once the model knows its input shape."""


class StateError(GlassnetError, ValueError):
    """A saved state (optimizer, weights) that does not match what it is loaded into."""


class ModelFileError(GlassnetError, ValueError):
    """A model file that cannot be loaded: not a glassnet safetensors file, damaged (truncated,
    changed bytes), metadata missing or wrong, shapes that do not fit the architecture, or a newer
    format version."""


class ExportError(GlassnetError, ValueError):
    """A model that cannot be exported, such as one with a layer that has no ONNX equivalent."""


class DistributedError(GlassnetError, RuntimeError):
    """Processes of one data-parallel training that disagree: different data where the same was
    expected, weights that drifted apart, or a process that stopped answering."""


class MissingExtraError(GlassnetError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def lookup(table, name, kind):
    """Return ``table[name]`` (case-insensitive), or raise a ConfigurationError listing the valid names."""
    key = str(name).lower()
    if key not in table:
        valid = ", ".join(sorted(table))
        raise ConfigurationError(f"unknown {kind} {name!r}; expected one of: {valid}")
    return table[key]
