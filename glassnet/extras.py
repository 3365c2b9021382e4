"""Optional dependencies: imported only where they are used, with a message naming the extra.

    pd = require("pandas", extra="tables", purpose="reading CSV files")
    keras = require_keras(purpose="converting a Keras model")
"""
import importlib
import importlib.util
import os
import sys

from .errors import MissingExtraError


def require(module, extra, purpose):
    """Import ``module``, or raise ``MissingExtraError`` saying which extra of glassnet installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(
            f"{purpose} needs {module.split('.')[0]}, which is not installed: "
            f"pip install 'glassnet[{extra}]'") from error


def require_keras(purpose):
    """Import Keras 3, or raise ``MissingExtraError`` naming the ``keras`` extra.

    Keras picks its backend once, when it is first imported: the ``KERAS_BACKEND`` environment
    variable, else ``~/.keras/keras.json``, else TensorFlow. The ``keras`` extra installs JAX, not
    TensorFlow, so when Keras is not imported yet, ``KERAS_BACKEND`` is unset and TensorFlow is not
    installed but JAX is, this sets ``KERAS_BACKEND=jax`` first (otherwise the import would fail
    for want of TensorFlow). A backend chosen any other way is left alone."""
    if "keras" not in sys.modules and "KERAS_BACKEND" not in os.environ \
            and importlib.util.find_spec("tensorflow") is None and importlib.util.find_spec("jax") is not None:
        os.environ["KERAS_BACKEND"] = "jax"
    try:
        keras = importlib.import_module("keras")
    except ImportError as error:
        missing = (getattr(error, "name", None) or "").split(".")[0]
        if importlib.util.find_spec("keras") is None or missing == "keras":
            raise MissingExtraError(f"{purpose} needs keras, which is not installed: "
                                    f"pip install 'glassnet[keras]'") from error
        if missing in ("tensorflow", "jax", "jaxlib", "torch"):
            raise MissingExtraError(
                f"{purpose} needs Keras's backend {missing}, which is not installed; the keras extra installs JAX: "
                f"pip install 'glassnet[keras]' and set KERAS_BACKEND=jax") from error
        raise MissingExtraError(f"{purpose} needs keras, whose import failed ({error}): "
                                f"pip install 'glassnet[keras]'") from error
    version = getattr(keras, "__version__", "0")
    if not version.split(".")[0].isdigit() or int(version.split(".")[0]) < 3:
        raise MissingExtraError(f"{purpose} needs Keras 3, found Keras {version}: pip install 'glassnet[keras]'")
    return keras
