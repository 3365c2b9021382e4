"""The ``glassnet`` command: ``glassnet train``, ``predict``, ``evaluate``, ``info``, ...

Each subcommand is one module of this package with a ``register(subparsers)`` function that adds
its parser and sets ``run`` (a function of the parsed arguments that returns the exit status).
Errors a user can cause (a ``GlassnetError``, a missing file, a missing optional extra) are
printed as one line, ``glassnet: error: ...``, with exit status 1 and no traceback. Strings from
files (labels, column names, anything in a model file) reach the terminal through
``tabular.files.printable``: shown escaped, never obeyed.
"""
import argparse
import importlib
import sys

from ..errors import GlassnetError
from ..tabular.files import printable
from ..version import __version__

# The modules that define the subcommands, in the order ``glassnet --help`` lists them.
COMMANDS = ("train", "predict", "evaluate", "info", "export", "explain", "playground")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="glassnet", description="Train, inspect and use glassnet models from the command line.")
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def note(text):
    """Print ``text`` (escaped: it may hold strings from files) as a note on standard error."""
    print(f"note: {printable(text)}", file=sys.stderr)


def main(argv=None):
    """Entry point of the console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except (GlassnetError, OSError) as error:
        message = str(error) if not isinstance(error, OSError) or not error.filename else (
            f"{error.strerror}: {error.filename}")
        print(f"glassnet: error: {printable(message)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("glassnet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
