"""``glassnet train --stream`` on a generated Parquet table larger than memory, and on one that fits.

    python benchmarks/stream.py generate --rows 30000000 --data /tmp/glassnet-stream   # once (~4 GB)
    python benchmarks/stream.py big --data /tmp/glassnet-stream --epochs 2             # peak memory
    python benchmarks/stream.py match --rows 400000 --epochs 10                        # stream vs memory

The table (``generate``) has 20 columns, like a real one: 12 numeric (3 with 5% missing values), 3
text (10, 50 and 2,000 categories, skewed), a date-time, an integer row id, a text identifier, a
boolean and the target ``y``, a regression on a non-linear function of most columns plus noise
(R² at most about 0.95). It is written a part at a time into a folder of Parquet files (one file
per 2 million rows, row groups of 250,000 rows), so writing it needs little memory too.

``big`` trains on it with ``glassnet train --stream`` in a child process under ``/usr/bin/time -v``
and reports the wall time, the peak resident memory and the test scores the run printed.
``match`` generates a table that fits in memory and trains on it twice in one go, streamed and read
whole, with the same seed: the scores should match (the two paths hold out different rows: by a
hash of the row number when streaming, shuffled and stratified in memory). Results go to
``runs.jsonl`` and ``summary.md`` under ``--out``.
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILE_ROWS = 2_000_000
GROUP_ROWS = 250_000


def part(rows, first, seed):
    """Rows ``first .. first + rows - 1`` of the generated table, as a DataFrame."""
    import pandas as pd

    rng = np.random.default_rng([seed, first])
    x = rng.standard_normal((rows, 12))
    small = rng.choice(10, rows, p=np.arange(10, 0, -1) / 55)
    medium = rng.zipf(1.5, rows) % 50
    large = rng.zipf(1.3, rows) % 2000
    times = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365 * 24 * 60, rows), unit="min")
    flag = rng.random(rows) < 0.3
    effects = np.linspace(-1, 1, 10)[small] + 0.5 * np.sin(medium) + 0.2 * (large < 5)
    y = (np.tanh(x[:, 0] * x[:, 1]) + np.sin(x[:, 2]) + 0.5 * x[:, 3] ** 2 - x[:, 4] + 0.3 * x[:, 5:12].sum(axis=1)
         + effects + 0.5 * np.sin(2 * np.pi * times.hour.to_numpy() / 24) + 0.5 * flag)
    y = y + 0.35 * rng.standard_normal(rows)
    frame = pd.DataFrame({f"x{i}": x[:, i] for i in range(12)})
    for i in (0, 5, 9):  # missing values
        frame.loc[rng.random(rows) < 0.05, f"x{i}"] = np.nan
    frame["small"] = np.array([f"s{v}" for v in range(10)])[small]
    frame["medium"] = np.array([f"m{v}" for v in range(50)])[medium]
    frame["large"] = np.array([f"l{v}" for v in range(2000)])[large]
    frame["time"] = times
    frame["row_id"] = np.arange(first, first + rows)
    frame["ref"] = [f"r{v:09d}" for v in range(first, first + rows)]  # an identifier: left out
    frame["flag"] = flag
    frame["y"] = y
    return frame


def generate(rows, folder, seed=0):
    """Write the table of ``rows`` rows into ``folder`` (one Parquet file per ``FILE_ROWS``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    os.makedirs(folder, exist_ok=True)
    for number, first in enumerate(range(0, rows, FILE_ROWS)):
        path = os.path.join(folder, f"part-{number:04d}.parquet")
        writer = None
        for start in range(first, min(first + FILE_ROWS, rows), GROUP_ROWS):
            table = pa.Table.from_pandas(part(min(GROUP_ROWS, rows - start), start, seed), preserve_index=False)
            writer = writer or pq.ParquetWriter(path + ".tmp", table.schema)
            writer.write_table(table, row_group_size=GROUP_ROWS)
        writer.close()
        os.replace(path + ".tmp", path)
        print(f"wrote {path}", flush=True)


def train(data, model, extra, log):
    """``glassnet train`` in a child process under ``/usr/bin/time -v``: wall s, peak MB, scores."""
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "glassnet", "train", data, "--target", "y",
               "--out", model, "--force", *extra]
    start = time.perf_counter()
    with open(log, "w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": ROOT})
    wall = time.perf_counter() - start
    text = open(log).read()
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    scores = re.search(r"validation: RMSE ([\d.]+), MAE ([\d.]+), R² ([-\d.]+)", text)
    return {"command": " ".join(command[2:]), "returncode": done.returncode, "wall_s": wall,
            "peak_mb": int(peak.group(1)) / 1024 if peak else None,
            "rmse": float(scores.group(1)) if scores else None, "mae": float(scores.group(2)) if scores else None,
            "r2": float(scores.group(3)) if scores else None, "log": log}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("generate", "big", "match"))
    parser.add_argument("--rows", type=int, default=None, help="generate: 30,000,000; match: 400,000")
    parser.add_argument("--data", default="/tmp/glassnet-stream")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", f"{datetime.date.today()}_stream"))
    args = parser.parse_args(argv)
    if args.what == "generate":
        return generate(args.rows or 30_000_000, args.data)
    os.makedirs(args.out, exist_ok=True)
    runs = []
    if args.what == "big":
        runs.append(train(args.data, os.path.join(args.out, "big.safetensors"),
                          ["--stream", "--epochs", str(args.epochs)], os.path.join(args.out, "big.log")))
    else:
        folder = args.data.rstrip(os.sep) + f"-match-{args.rows or 400_000}"
        if not os.path.isdir(folder):
            generate(args.rows or 400_000, folder)
        for how in ("--stream", "--no-stream"):
            runs.append(train(folder, os.path.join(args.out, f"match{how}.safetensors"),
                              [how, "--epochs", str(args.epochs)], os.path.join(args.out, f"match{how}.log")))
    with open(os.path.join(args.out, "runs.jsonl"), "a") as out:
        for run in runs:
            out.write(json.dumps(run) + "\n")
            print(json.dumps(run))


if __name__ == "__main__":
    main()
