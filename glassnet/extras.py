"""Optional dependencies: imported only where they are used, with a message naming the extra.

    pd = require("pandas", extra="tables", purpose="reading CSV files")
"""
import importlib

from .errors import MissingExtraError


def require(module, extra, purpose):
    """Import ``module``, or raise ``MissingExtraError`` saying which extra of glassnet installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(
            f"{purpose} needs {module.split('.')[0]}, which is not installed: "
            f"pip install 'glassnet[{extra}]'") from error
