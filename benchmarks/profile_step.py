"""Where the time of a glassnet training step goes, from a sampling profiler.

    python benchmarks/profile_step.py --workload W1 --epochs 4
    python benchmarks/profile_step.py --workload W2 --batch-size 1 --rows 6000

Runs ``peers/glassnet_mlp.py`` under py-spy (``--native``: the samples see into NumPy, OpenBLAS
and the compiled optimizer, not just the Python frames) and sorts every sample taken inside the
training loop by what the main thread was doing:

    matrix products   inside OpenBLAS (sgemm and its packing and threading routines)
    optimizer         inside Optimizer.step: the compiled kernel and its call
    batching          inside Batches.epoch: the shuffled np.take gathers
    elementwise       NumPy's arithmetic loops: bias adds, activations, reductions, the loss
    Python overhead   the interpreter running the loop, the closures and the calls, and NumPy's
                      own per-call work before its loops start (argument parsing, type
                      resolution, iterator set-up): the cost of a call whatever the array size

Samples from imports, data loading, the warm-up compilation (numba) and the test-set
evaluation are left out. Sampling with ``--native`` stops the process for every sample, so the
times come from a second run of the same command without the profiler: its median epoch time,
split by the shares, gives microseconds per step. OpenBLAS's second thread is not sampled (it is not a Python thread),
so "matrix products" is the wall time the main thread spends in them, which is what a step costs.
Needs ``pip install py-spy`` (benchmarks/setup_peers.sh installs it).
"""
import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "peers" / "glassnet_mlp.py"
CATEGORIES = ["matrix products", "elementwise", "optimizer", "batching", "Python overhead"]
GEMM = re.compile(r"gemm|openblas|blas_thread|exec_blas|_matmul", re.I)
# native leaf functions that do the arithmetic of NumPy's elementwise work and reductions
ARITHMETIC = re.compile(r"^(FLOAT|DOUBLE|BOOL|BYTE|UBYTE|SHORT|INT|UINT|LONG|ULONG|LONGLONG|HALF)_"
                        r"|simd|npyv|_contig|_aligned|avx|exp|log|sqrt|tanh|mem(cpy|move|set)|"
                        r"npy_|_sum|_max|_min|reduce_loop|copyswap|cast", re.I)


def classify(frames):
    """The category of one sampled stack (outermost frame first), or None outside training."""
    names = [frame.split(" (")[0] for frame in frames]
    if "train_step" not in names and "Batches.epoch" not in names:
        return None
    if any("numba/core" in frame for frame in frames):
        return None  # compiling or loading the optimizer kernel: the warm-up epoch only
    if "Batches.epoch" in names:
        return "batching"
    if "Optimizer.step" in names:
        return "optimizer"
    if any(GEMM.search(frame) for frame in frames):
        return "matrix products"
    if ARITHMETIC.search(names[-1]) and ".py:" not in frames[-1]:
        return "elementwise"
    # the interpreter running glassnet's lines, or NumPy parsing arguments, resolving types and
    # setting up iterators before its loops run: the cost of a call, whatever the array size
    return "Python overhead"


def runner_command(args):
    command = [sys.executable, str(RUNNER), "-w", args.workload, "-e", str(args.epochs)]
    if args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    if args.rows:
        command += ["--rows", str(args.rows)]
    return command


def result_line(stdout):
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def profile(args):
    if shutil.which("py-spy") is None:
        sys.exit("py-spy is not installed: pip install py-spy")
    plain = subprocess.run(runner_command(args), capture_output=True, text=True, check=True)
    run = result_line(plain.stdout)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "stacks.txt"
        command = ["py-spy", "record", "--native", "--rate", str(args.rate), "--format", "raw",
                   "-o", str(raw), "--"] + runner_command(args)
        subprocess.run(command, capture_output=True, text=True, check=True)
        counts = Counter()
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            category = classify(stack.split(";"))
            if category:
                counts[category] += int(count)
    return run, counts


def table(run, counts):
    total = sum(counts.values())
    steps = -(-run["n_train"] // run["batch"])
    step_us = run["median_epoch_s"] / steps * 1e6
    lines = [f"{run['workload']} ({'-'.join(map(str, run['sizes']))}, batch {run['batch']}): "
             f"{step_us:.0f} us per step, {total} samples",
             "", "| part of a step | share | us per step |", "| --- | --- | --- |"]
    for category in CATEGORIES:
        share = counts[category] / total if total else 0.0
        lines.append(f"| {category} | {share:.0%} | {share * step_us:.0f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", "-w", default="W1", choices=["W1", "W2", "W3"])
    parser.add_argument("--epochs", "-e", type=int, default=4)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--rows", type=int)
    parser.add_argument("--rate", type=int, default=250, help="samples per second (default 250)")
    args = parser.parse_args()
    print(table(*profile(args)))


if __name__ == "__main__":
    main()
