"""Data-parallel throughput: W3 (784-1024-1024-10, batch 512, Adam 1e-3, float32, Fashion-MNIST)
trained by 1, 2 and 4 MPI processes on this machine, measured interleaved in one invocation.

    python benchmarks/distributed.py                      # 2 rounds x (1, 2, 4 processes), 3 epochs
    python benchmarks/distributed.py --processes 1,2 --rounds 1 --epochs 2
    python benchmarks/distributed.py --cost-model          # predictions for 8, 64, 512 machines

Each run is ``mpiexec -n P python benchmarks/distributed.py --worker`` (one process: plain
Python) with ``cores // P`` BLAS threads per process (at least 1), so the processes share the
cores fairly: on 2 cores, 1 process uses 2 threads, 2 and 4 processes 1 thread each (4 processes
then run 2 per core). Timing as in ``common.py``: epoch 1 is the warm-up, the median of the
others is the run's epoch time; throughput is training rows per second. After training, each
run also times the gradient allreduce alone (the W3 gradient buffer, 20 times) so that the
communication share of a step shows. The rows of the table are medians over rounds; ratios are
against 1 process of the same invocation. ``--out FILE`` also writes the runs as JSON lines.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


# The ring allreduce cost model (docs/distributed.md). One step on N machines, global batch B:
#     T(N) = T_c / N + T_opt + T_ring(N),   T_ring(N) = 2 (N - 1) alpha + 2 (N - 1) / N * S / beta
# T_c: forward and backward of the whole batch on one machine, T_opt: the optimizer step (every
# machine updates every weight), S: gradient bytes, beta: link bandwidth, alpha: latency per message.
WORKLOADS = {  # one-machine figures measured on this 2-core machine (float32, 2 threads)
    "W1": {"step_ms": 1.51, "optimizer_ms": 0.10, "bytes": 940_584},
    "W3": {"step_ms": 34.8, "optimizer_ms": 1.24, "bytes": 7_454_760},
}
NETWORKS = {"10 Gb/s Ethernet (TCP)": (10e9 / 8, 30e-6), "100 Gb/s InfiniBand": (100e9 / 8, 5e-6)}


def step_time(workload, n, bandwidth, latency, per_machine_batch=False):
    """Predicted seconds per step on ``n`` machines (the global batch fixed, or ``n`` times it)."""
    compute = (workload["step_ms"] - workload["optimizer_ms"]) / 1e3
    ring = 2 * (n - 1) * latency + 2 * (n - 1) / n * workload["bytes"] / bandwidth
    return (compute if per_machine_batch else compute / n) + workload["optimizer_ms"] / 1e3 + ring


def cost_model():
    for name, workload in WORKLOADS.items():
        one = workload["step_ms"] / 1e3
        print(f"\n{name}: {workload['bytes']:,} gradient bytes, {workload['step_ms']} ms per step on one machine")
        print("| network | speedup on 8 / 64 / 512 machines (global batch fixed) | best | slower than 1 machine from | "
              "efficiency on 8 / 64 / 512 (batch per machine fixed) |")
        print("| --- | --- | --- | --- | --- |")
        for network, (bandwidth, latency) in NETWORKS.items():
            speedups = {n: one / step_time(workload, n, bandwidth, latency) for n in range(1, 4097)}
            best = max(speedups, key=speedups.get)
            slower = next((n for n in range(2, 4097) if speedups[n] < 1), None)
            efficiency = [one / step_time(workload, n, bandwidth, latency, True) for n in (8, 64, 512)]
            print(f"| {network} | {' / '.join(f'{speedups[n]:.2f}x' for n in (8, 64, 512))} | "
                  f"{speedups[best]:.2f}x at {best} | {slower or '-'} | "
                  f"{' / '.join(f'{e:.0%}' for e in efficiency)} |")


def worker(epochs):
    """One run, inside mpiexec: train W3, print rank 0's JSON line."""
    sys.path[:0] = [HERE, os.path.join(HERE, "peers"), ROOT]
    import common  # noqa: F401  (first: pins the BLAS threads from BENCH_THREADS)
    import numpy as np
    from glassnet import distributed
    from glassnet_mlp import EpochTimer, build

    w = common.WORKLOADS["W3"]
    x, y, _, _ = common.load("W3")
    model = build(w["sizes"], seed=0)
    timer = EpochTimer()
    model.fit(x, y, batch_size=w["batch"], epochs=epochs, verbose=0, callbacks=[timer])
    comm = distributed.world()
    allreduce_ms = 0.0
    if comm is not None:
        grads = np.ones_like(model.params.grads)
        comm.sum(grads)
        start = time.perf_counter()
        for _ in range(20):
            comm.sum(grads)
        allreduce_ms = (time.perf_counter() - start) / 20 * 1e3
    if comm is None or comm.rank == 0:
        median = statistics.median(timer.times[1:])
        print(json.dumps({"processes": 1 if comm is None else comm.size, "threads": common.THREADS,
                          "epoch_s": [round(t, 3) for t in timer.times], "median_epoch_s": round(median, 3),
                          "rows_per_s": round(len(x) / median, 1), "steps_per_epoch": -(-len(x) // w["batch"]),
                          "gradient_bytes": model.params.grads.nbytes,
                          "allreduce_ms": round(allreduce_ms, 2)}), flush=True)


def run(processes, epochs, cores):
    threads = max(1, cores // processes)
    env = {**os.environ, "BENCH_THREADS": str(threads), "OMPI_ALLOW_RUN_AS_ROOT": "1",
           "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_rmaps_base_oversubscribe": "1"}
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--epochs", str(epochs)]
    if processes > 1:
        mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        command = [mpiexec if os.path.exists(mpiexec) else "mpiexec", "-n", str(processes)] + command
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode:
        sys.exit(f"{processes} processes failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3, help="per run; the first is the warm-up")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--out", help="also write every run as a JSON line to this file")
    parser.add_argument("--cost-model", action="store_true", help="print the predictions, run nothing")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.epochs)
    if args.cost_model:
        return cost_model()
    counts = [int(p) for p in args.processes.split(",")]
    runs = []
    for round_ in range(args.rounds):
        for processes in counts[round_ % len(counts):] + counts[:round_ % len(counts)]:
            result = run(processes, args.epochs, args.cores)
            result["round"] = round_
            runs.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
    if args.out:
        with open(args.out, "w") as file:
            file.writelines(json.dumps(r) + "\n" for r in runs)
    base = statistics.median(r["rows_per_s"] for r in runs if r["processes"] == counts[0])
    print(f"W3 on {args.cores} cores, {args.rounds} rounds x {args.epochs} epochs; gradient buffer "
          f"{runs[0]['gradient_bytes']:,} bytes")
    print("| processes | threads each | median epoch | rows/s | throughput vs 1 | allreduce per step | share of a step |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for processes in counts:
        mine = [r for r in runs if r["processes"] == processes]
        epoch = statistics.median(r["median_epoch_s"] for r in mine)
        rate = statistics.median(r["rows_per_s"] for r in mine)
        allreduce = statistics.median(r["allreduce_ms"] for r in mine)
        step_ms = epoch / mine[0]["steps_per_epoch"] * 1e3
        print(f"| {processes} | {mine[0]['threads']} | {epoch:.2f} s | {rate:,.0f} | {rate / base:.2f} | "
              f"{allreduce:.1f} ms | {allreduce / step_ms:.0%} |")


if __name__ == "__main__":
    main()
