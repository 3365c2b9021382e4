"""Command-line cases: ``glassnet train`` and ``glassnet explain`` run in this process
(``glassnet.cli.main``) with drawn options on a tiny CSV table.

A run must end in one of three ways: exit status 0 ("works"); argparse's usage error (exit
status 2, no traceback) or exit status 1 with exactly one line ``glassnet: error: ...`` on
standard error ("refused"). Anything else, a traceback or an exception escaping ``main``, is a
failure. Valid values are drawn rarely enough that a case takes milliseconds on average.
"""
import contextlib
import functools
import io
import os
import tempfile

from glassnet import cli

from . import Case

ODD = ["", "a", "-1", "0", "nan", "inf", "-inf", "1e400", "2.5", "1e9", "99999999999999999999", "0x10",
       " ", ",", "1,,2", "-", "--", "\x00", "é", "１"]
TRAIN_OPTIONS = {
    "--layers": ["4", "4,3", "", "a,b", "64,,32", "100000,100000", "0", "-1", "3.5", "1,0", "10**12"],
    "--epochs": ["1", "2", "0", "-3", "1.5"],
    "--batch-size": ["1", "0", "4", "-3", "1000000000000", "2.5"],
    "--lr": ["0.01", "nan", "-1", "0", "1e308", "inf", "x"],
    "--dropout": ["0", "0.2", "1", "1.5", "-0.1", "nan"],
    "--l1": ["0", "1e-3", "-1", "nan"], "--l2": ["0", "1e-4", "-1", "inf"],
    "--validation-split": ["0", "0.25", "1", "2", "-0.2", "nan"],
    "--seed": ["0", "7", "-1", "2**64", "1.5", "18446744073709551616"],
    "--early-stopping": ["0", "2", "-1", "1.5"],
    "--activation": ["relu", "tanh", "nope", "softmax", "", "RELU"],
    "--optimizer": ["adam", "sgd", "nope"],
    "--task": ["auto", "classification", "regression", "x"],
    "--target": ["y", "a", "missing", ""],
    "--drop": ["a", "b", "y", "a,b", ",", "zzz"],
}
EXPLAIN_OPTIONS = {
    "--inputs": ["1", "2", "3", "0", "-1", "100000", "1.5"],
    "--hidden": ["3", "4,3", "", "0", "a", "1,,2", "100000,100000", "-2"],
    "--outputs": ["1", "2", "3", "0", "-4", "100000"],
    "--task": ["regression", "classification", "x"],
    "--activation": ["sigmoid", "relu", "softmax", "nope", ""],
    "--seed": ["0", "3", "-1", "x"],
    "--lr": ["0.1", "0", "-1", "nan", "1e308"],
    "--x": ["0.5,-0.5", "1", "1,2,3", "nan,1", "1e39,1", "a,b", ""],
    "--y": ["1", "0", "7", "0.5", "-1", "1,2", "nan", ""],
}


@functools.cache
def folder():
    """A folder with the tiny table, made once per process."""
    path = tempfile.mkdtemp(prefix="glassnet-fuzz-cli-")
    rows = "".join(f"{i},{'xyz'[i % 3]},{i % 2}\n" for i in range(12))
    with open(os.path.join(path, "table.csv"), "w") as file:
        file.write("a,b,y\n" + rows)
    return path


def draw_options(rng, options, count):
    """``count`` options with drawn values (now and then an odd value from ``ODD``)."""
    argv = []
    for name in rng.choice(sorted(options), size=count, replace=False):
        values = options[name] + (ODD if rng.random() < 0.2 else [])
        argv += [str(name), values[rng.integers(len(values))]]
    return argv


def train_argv(rng):
    out = os.path.join(folder(), "model.safetensors")
    argv = ["train", os.path.join(folder(), "table.csv"), "--target", "y", "--epochs", "1", "--layers", "3",
            "--no-refit", "-q", "--force", "-o", out]
    return argv + draw_options(rng, TRAIN_OPTIONS, int(rng.integers(1, 4)))


def explain_argv(rng):
    return ["explain", "--plain"] + draw_options(rng, EXPLAIN_OPTIONS, int(rng.integers(1, 4)))


def outcome(argv):
    """Run ``glassnet argv``; "works" or "refused" as the module docstring says, else a failure."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(argv)
        except SystemExit as exit:
            status = "usage" if exit.code == 2 else exit.code
    errors = err.getvalue()
    if "Traceback" in errors:
        return "traceback printed"
    if status == "usage":
        return "refused"
    if status == 0 or (argv[0] == "explain" and status == 1 and "gradient check FAILED" in out.getvalue()):
        return "works"
    lines = errors.strip().splitlines()
    if status == 1 and len(lines) == 1 and lines[0].startswith("glassnet: error: "):
        return "refused"
    return f"exit status {status} with {len(lines)} error lines"


def cases(rng, count):
    for _ in range(count):
        argv = (train_argv if rng.random() < 0.6 else explain_argv)(rng)
        yield Case("cli", "glassnet " + " ".join(repr(a) if " " in a or not a else a for a in argv),
                   functools.partial(outcome, argv))
