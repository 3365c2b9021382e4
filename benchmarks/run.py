"""Run glassnet and its peers on the agreed workloads, interleaved, and summarize.

    python benchmarks/run.py                          # 3 rounds x 4 epochs, every peer, W1 W2 W3
    python benchmarks/run.py --rounds 1 --epochs 2    # a quick end-to-end check
    python benchmarks/run.py --peers glassnet,torch --workloads W2 --extras none

What one invocation does (every run is its own subprocess, with the benchmark environment's
Python, benchmarks/.venv/bin/python, or this Python when there is no such environment):

  for each round (--rounds):
      for each workload (--workloads):
          every peer (--peers) once, the order rotated by one each round, so no peer always
          runs first or right after the same neighbour (machine drift and thermal effects
          spread over all of them)
      the extra measurements, glassnet and torch eager in rotating order:
          batch1     W2 with batch size 1 on the first --b1-rows rows (per-example SGD cost)
          inference  train W1 for 1 epoch, then time predict on the 10,000 test examples
  once, after the rounds:
      accuracy   W1 for --acc-epochs epochs (10), glassnet and torch eager: test accuracy
      peak       one 2048^3 float32 matrix product: the BLAS peak of numpy (and torch)

Output folder (--out, default benchmarks/results/<date>_<time>/):
  runs.jsonl   one JSON line per run: the runner's line plus key, kind, round, wall_s; a run
               that failed, timed out or whose peer cannot be imported still gets a line,
               with "error" (and "missing": the import error)
  stderr.log   every run's standard error, under a header naming the run
  machine.txt  date, CPU model and flags, cores, memory, NumPy's BLAS, package versions
  meta.json    the command line, start and end, the glassnet commit
  summary.md   the tables (benchmarks/summarize.py; rerun it on the folder at any time)

Peers whose imports fail are probed once up front and reported as missing (one line per
workload and kind), never silently dropped. Each run has a timeout (--timeout, 1200 s).
"""
import argparse
import datetime
import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER_DIR = HERE / "peers"
VENV_PYTHON = HERE / ".venv" / "bin" / "python"

# key on the command line: (runner script, its options, the peer name it reports, modules it needs)
PEERS = {
    "glassnet":      ("glassnet_mlp.py", [], "glassnet", ["glassnet"]),
    "torch":         ("torch_mlp.py", [], "torch-eager", ["torch"]),
    "torch-fused":   ("torch_mlp.py", ["--adam", "fused"], "torch-eager-fused", ["torch"]),
    "torch-compile": ("torch_mlp.py", ["--compile"], "torch-compile", ["torch"]),
    "jax":           ("jax_mlp.py", [], "jax-jit", ["jax", "optax"]),
    "jax-scan":      ("jax_mlp.py", ["--scan"], "jax-jit-scan", ["jax", "optax"]),
    "keras":         ("keras_mlp.py", [], "keras-jax", ["keras", "jax"]),
    "sklearn":       ("sklearn_mlp.py", [], "sklearn-mlp", ["sklearn"]),
    "numpy-floor":   ("numpy_floor.py", [], "numpy-gemm-floor", ["numpy"]),
    "torch-floor":   ("numpy_floor.py", ["--lib", "torch"], "torch-gemm-floor", ["torch"]),
}
DEFAULT_PEERS = ["glassnet", "torch", "torch-fused", "torch-compile", "jax", "jax-scan", "keras",
                 "sklearn", "numpy-floor"]
WORKLOADS = ["W1", "W2", "W3"]
EXTRAS = ["batch1", "inference", "accuracy", "peak"]
EXTRA_PEERS = ["glassnet", "torch"]  # the extra measurements compare glassnet with torch eager


def csv_list(choices):
    def parse(text):
        if text.strip().lower() in ("none", ""):
            return []
        items = [t.strip() for t in text.replace(" ", ",").split(",") if t.strip()]
        bad = [t for t in items if t not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(bad)}; choose from {', '.join(choices)}")
        return items
    return parse


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--epochs", type=int, default=4,
                   help="epochs per timing run, the first one untimed (default 4)")
    p.add_argument("--workloads", type=csv_list(WORKLOADS), default=WORKLOADS,
                   help="comma-separated, default W1,W2,W3")
    p.add_argument("--peers", type=csv_list(list(PEERS)), default=DEFAULT_PEERS,
                   help=f"comma-separated, default {','.join(DEFAULT_PEERS)} (also: torch-floor)")
    p.add_argument("--extras", type=csv_list(EXTRAS), default=EXTRAS,
                   help="extra measurements, comma-separated or 'none' (default batch1,inference,accuracy,peak)")
    p.add_argument("--b1-rows", type=int, default=6000, help="rows of the W2 batch-1 runs (default 6000)")
    p.add_argument("--b1-epochs", type=int, default=None,
                   help="epochs of the batch-1 runs (default: --epochs)")
    p.add_argument("--acc-epochs", type=int, default=10, help="epochs of the accuracy runs (default 10)")
    p.add_argument("--timeout", type=float, default=1200, help="seconds allowed per run (default 1200)")
    p.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP/framework threads (default 2)")
    p.add_argument("--python", default=None,
                   help="interpreter for the runs (default benchmarks/.venv/bin/python, else this one)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default benchmarks/results/<date>_<time>)")
    args = p.parse_args()
    if args.rounds < 1 or args.epochs < 2:
        p.error("need --rounds >= 1 and --epochs >= 2 (epoch 1 is the untimed warm-up)")
    return args


# -- environment --------------------------------------------------------------------------------
def run_env(threads):
    env = dict(os.environ)
    env.update(BENCH_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               KERAS_BACKEND="jax", XLA_FLAGS="--xla_cpu_multi_thread_eigen=true",
               PYTHONUNBUFFERED="1")
    env.pop("PYTHONPATH", None)  # the runners find common.py and glassnet themselves
    return env


def probe_imports(python, modules, env):
    """None when every module imports, else the (last line of the) import error. It runs in the
    repository root, so ``glassnet`` is the working tree's, with its current dependencies."""
    code = "; ".join(f"import {m}" for m in modules)
    try:
        r = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env,
                           timeout=300, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return f"importing {', '.join(modules)} took over 300 s"
    if r.returncode == 0:
        return None
    lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
    return lines[-1] if lines else f"exit {r.returncode}"


def glassnet_source_hash():
    """A short hash of glassnet's source, recorded with each glassnet run: glassnet is being
    optimized while benchmarks run, and the summary warns when the code changed mid-run."""
    h = hashlib.sha256()
    for path in sorted((ROOT / "glassnet").rglob("*.py")):
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def git(*cmd):
    try:
        return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


MACHINE_SNIPPET = r"""
import importlib.metadata as md, json, sys
print("python:", sys.version.split()[0], sys.executable)
for name in ("numpy", "torch", "jax", "jaxlib", "keras", "optax", "scikit-learn", "threadpoolctl", "glassnet"):
    try:
        print(f"{name}: {md.version(name)}")
    except md.PackageNotFoundError:
        print(f"{name}: not installed")
import numpy
try:
    cfg = numpy.show_config(mode="dicts")
    blas, lapack = cfg["Build Dependencies"]["blas"], cfg["Build Dependencies"]["lapack"]
    print("numpy BLAS:", blas.get("name"), blas.get("version"), "| LAPACK:", lapack.get("name"), lapack.get("version"))
    simd = cfg.get("SIMD Extensions", {})
    print("numpy SIMD baseline:", " ".join(simd.get("baseline", [])), "| found:", " ".join(simd.get("found", [])))
except Exception as e:
    print("numpy BLAS: unknown", e)
try:
    from threadpoolctl import threadpool_info
    for d in threadpool_info():
        print("thread pool:", {k: d.get(k) for k in ("user_api", "internal_api", "version", "architecture", "num_threads")})
except ImportError:
    pass
"""


def machine_txt(python, env):
    lines = [f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}"]
    u = os.uname()
    lines.append(f"uname: {u.sysname} {u.release} {u.machine}")
    lines.append(f"nproc: {len(os.sched_getaffinity(0))} (cpu_count {os.cpu_count()})")
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = next((l.split(":", 1)[1].strip() for l in cpuinfo.splitlines() if l.startswith("model name")), "?")
        flags = next((l.split(":", 1)[1].split() for l in cpuinfo.splitlines() if l.startswith("flags")), [])
        lines.append(f"cpu: {model}")
        lines.append("cpu flags: " + " ".join(f for f in flags if f.startswith(("avx", "fma", "amx"))))
    except OSError:
        pass
    try:
        mem = next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
        lines.append(f"memory: {int(mem.split()[1]) / 2**20:.1f} GiB")
    except (OSError, StopIteration):
        pass
    lines.append(f"threads per run: {env['BENCH_THREADS']}")
    lines.append(f"glassnet commit: {git('rev-parse', '--short', 'HEAD')}"
                 f"{' (working tree differs)' if git('status', '--porcelain', 'glassnet') else ''}")
    r = subprocess.run([python, "-c", MACHINE_SNIPPET], capture_output=True, text=True, env=env,
                       timeout=300, cwd=HERE)
    lines += r.stdout.strip().splitlines()
    if r.returncode:
        lines.append(f"(package/BLAS report failed: {r.stderr.strip().splitlines()[-1:]})")
    return "\n".join(lines) + "\n"


# -- one run ------------------------------------------------------------------------------------
class Runner:
    def __init__(self, python, out, env, timeout, available, total):
        self.python, self.out, self.env, self.timeout = python, out, env, timeout
        self.available = available  # key -> None (importable) or the import error
        self.total, self.done = total, 0
        self.runs_path = out / "runs.jsonl"

    def write(self, record):
        with self.runs_path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def run(self, key, workload, kind, rnd, epochs, extra_args=()):
        """Run one peer once in its own subprocess; append its JSON line (or an error line)."""
        script, options, label, _ = PEERS[key]
        self.done += 1
        base = dict(key=key, peer=label, workload=workload, kind=kind, round=rnd)
        if self.available[key] is not None:
            # its "missing" line is written once per (peer, workload, kind) in main()
            print(f"[{self.done}/{self.total}] r{rnd or '-'} {workload} {kind:<9} {label:<18} skipped: "
                  f"missing ({self.available[key]})", flush=True)
            return None
        cmd = [self.python, str(PEER_DIR / script), *options, "--workload", workload,
               "--epochs", str(epochs), *extra_args]
        shown = shlex.join(["python", f"peers/{script}", *cmd[2:]])
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        src = glassnet_source_hash() if key == "glassnet" else None
        with tempfile.TemporaryDirectory(prefix="bench-inductor-") as cache, \
                (self.out / "stderr.log").open("a") as err:
            err.write(f"\n===== {started} {label} {workload} {kind} round {rnd}: {shown}\n")
            err.flush()
            err_start = err.tell()  # this run's stderr starts here
            env = dict(self.env, TORCHINDUCTOR_CACHE_DIR=cache)  # a cold torch.compile cache per run
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env,
                                    cwd=HERE, start_new_session=True)
            try:
                stdout, _ = proc.communicate(timeout=self.timeout)
                error = None if proc.returncode == 0 else f"exit status {proc.returncode}"
            except subprocess.TimeoutExpired:
                stdout, error = None, f"timeout after {self.timeout:.0f} s"
            finally:
                try:  # the runner's process group: anything it left behind (compile workers)
                    os.killpg(proc.pid, 9)
                except ProcessLookupError:
                    pass
            if stdout is None:
                stdout, _ = proc.communicate()
            wall = time.perf_counter() - t0
        result = None
        for line in reversed(stdout.splitlines()):
            if line.startswith("{"):
                try:
                    result = json.loads(line)
                    break
                except json.JSONDecodeError:
                    pass
        if error is None and result is None:
            error = "no JSON result line on stdout"
        if error is not None:
            record = dict(base, error=error, cmd=shown, wall_s=round(wall, 1),
                          stderr_tail=self.stderr_tail(err_start))
        else:
            record = dict(result, key=key, kind=kind, round=rnd, cmd=shown, wall_s=round(wall, 1),
                          started=started)
            record.setdefault("workload", workload)
        if src:
            record["glassnet_src"] = src
        self.write(record)
        self.progress(record)
        return record

    def stderr_tail(self, start, n=3):
        """The last ``n`` non-blank lines this run wrote to stderr.log (from byte ``start``)."""
        with (self.out / "stderr.log").open("rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
        lines = [l.strip() for l in text.splitlines() if l.strip()]
        return " | ".join(lines[-n:])[-600:] if lines else "(nothing on stderr)"

    def progress(self, r):
        head = f"[{self.done}/{self.total}] r{r['round'] or '-'} {r['workload']} {r['kind']:<9} {r['peer']:<18}"
        if "error" in r:
            msg = f"ERROR {r['error']}: {r.get('stderr_tail', '')[-200:]}"
        elif r.get("mode") == "inference":
            msg = "  ".join(f"bs {bs}: {v['examples_per_s']:,.0f} ex/s" for bs, v in r["inference"].items())
        elif r.get("mode") == "peak":
            msg = "  ".join(f"{k} {v}" for k, v in r.items() if k.endswith("gflops_median"))
        else:
            msg = (f"median epoch {r['median_epoch_s']:.3f} s ({r['per_example_us']:.2f} us/example)"
                   f"  acc {r['test_acc']}" if r.get("median_epoch_s") is not None else "")
        print(f"{head} {msg}  [{r['wall_s']:.0f} s]", flush=True)


def rotated(items, r):
    k = r % len(items) if items else 0
    return items[k:] + items[:k]


def main():
    args = parse_args()
    python = args.python or (str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H%M%S")
    out = (args.out or HERE / "results" / stamp).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if (out / "runs.jsonl").exists():
        sys.exit(f"{out}/runs.jsonl exists already: pick another --out")
    env = run_env(args.threads)
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    meta = dict(command=command, cwd=os.getcwd(), python=python,
                python_note=None if python == str(VENV_PYTHON) else
                "benchmarks/.venv missing or overridden: peers that do not import are reported missing",
                started=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                args={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                glassnet_commit=git("rev-parse", "HEAD"), glassnet_src_start=glassnet_source_hash())
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"== results in {out}\n== python {python}", flush=True)
    (out / "machine.txt").write_text(machine_txt(python, env))

    extras = args.extras
    keys_used = list(dict.fromkeys(args.peers + (EXTRA_PEERS if set(extras) - {"peak"} else [])
                                   + (["numpy-floor"] if "peak" in extras else [])))
    probes, available = {}, {}
    for key in keys_used:
        mods = tuple(PEERS[key][3])
        if mods not in probes:
            probes[mods] = probe_imports(python, mods, env)
        available[key] = probes[mods]
        print(f"== {key:<14} {'ok' if probes[mods] is None else 'MISSING: ' + probes[mods]}", flush=True)
    if any(v is not None for v in available.values()):
        print("== (missing peers are reported, not run; bash benchmarks/setup_peers.sh installs them, "
              "and reinstalls glassnet's dependencies when they change)", flush=True)

    b1_epochs = args.b1_epochs or args.epochs
    per_round = len(args.workloads) * len(args.peers) + sum(2 for e in ("batch1", "inference") if e in extras)
    total = args.rounds * per_round + (2 if "accuracy" in extras else 0) + ("peak" in extras)
    runner = Runner(python, out, env, args.timeout, available, total)

    # one line for each (peer, workload, kind) that cannot run at all
    planned = [(k, w, "timing") for w in args.workloads for k in args.peers]
    planned += [(k, "W2", "batch1") for k in EXTRA_PEERS if "batch1" in extras]
    planned += [(k, "W1", kind) for kind in ("inference", "accuracy") if kind in extras for k in EXTRA_PEERS]
    planned += [("numpy-floor", "W1", "peak")] if "peak" in extras else []
    for key, w, kind in planned:
        if available[key] is not None:
            runner.write(dict(key=key, peer=PEERS[key][2], workload=w, kind=kind, round=None,
                              error="missing", missing=available[key]))

    t_start = time.perf_counter()
    for r in range(args.rounds):
        for w in args.workloads:
            for key in rotated(args.peers, r):
                runner.run(key, w, "timing", r + 1, args.epochs)
        if "batch1" in extras:
            for key in rotated(EXTRA_PEERS, r):
                runner.run(key, "W2", "batch1", r + 1, b1_epochs,
                           ["--batch-size", "1", "--rows", str(args.b1_rows)])
        if "inference" in extras:
            for key in rotated(EXTRA_PEERS, r):
                runner.run(key, "W1", "inference", r + 1, 1, ["--inference"])
    if "accuracy" in extras:
        for key in EXTRA_PEERS:
            runner.run(key, "W1", "accuracy", None, args.acc_epochs)
    if "peak" in extras:
        runner.run("numpy-floor", "W1", "peak", None, 1, ["--peak"])

    meta.update(finished=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                wall_s=round(time.perf_counter() - t_start, 1),
                glassnet_src_end=glassnet_source_hash())
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")

    import summarize
    text = summarize.summarize(out)
    (out / "summary.md").write_text(text)
    print("\n" + text)
    print(f"== wrote {out / 'summary.md'}")


if __name__ == "__main__":
    main()
