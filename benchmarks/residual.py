"""A residual MLP with BatchNorm on W1's data, glassnet's graph model against PyTorch eager, one
epoch of each in turn in one process; and the no-regression check of the Sequential W1/W2
benchmarks against another checkout of glassnet.

    python benchmarks/residual.py                               # 3 seeds x 10 epochs, interleaved
    python benchmarks/residual.py --seeds 1 --epochs 3 --rows 6000      # a quick check
    git worktree add /tmp/before b64d7f6 && git worktree add /tmp/graph 5e021ed
    python benchmarks/residual.py sequential --trees /tmp/before,/tmp/graph,. --rounds 5

The network (the same in both, on Fashion-MNIST: 60,000 training rows, 784 inputs, 10 classes):

    784 -> Dense(256)                                     (no activation: a projection)
        -> 4 x [ x + ReLU(BatchNorm(Dense(256)(x))) ]     (gn.layers.Add: the skip)
        -> Dense(10, softmax)                             (trained on its logits, fused loss)

- ``glassnet``: ``gn.Model`` built with ``gn.Input``, ``Dense``, ``BatchNormalization()`` (Keras's
  momentum 0.99, epsilon 1e-3), ``ReLU()`` and ``Add()``; ``compile(Adam(1e-3, beta_1=0.9,
  beta_2=0.999, epsilon=1e-8), "sparse_categorical_crossentropy")``; an epoch is one
  ``model.fit(x, y, batch_size=128, epochs=1, shuffle=True, verbose=0)`` call, timed by a callback
  between ``on_epoch_begin`` and ``on_epoch_end`` (the shuffle, gathering the batches, forward,
  loss, backward, Adam; not fit's input checks, as in ``peers/glassnet_mlp.py``).
- ``torch``: ``nn.Linear``, ``nn.BatchNorm1d(256, momentum=0.01, eps=1e-3)`` (PyTorch's momentum is
  ``1 -`` Keras's), ``nn.ReLU``, ``x + block(x)``; ``CrossEntropyLoss`` on the logits, default
  ``torch.optim.Adam`` (the same hyperparameters); an epoch is ``randperm`` + ``X[idx]`` per batch,
  ``zero_grad(set_to_none=True)``, ``backward``, ``step``, as ``peers/torch_mlp.py`` does.
- The same initialization family: Glorot uniform weights and zero biases (glassnet's and Keras's
  defaults; ``nn.init.xavier_uniform_`` and ``zeros_`` in torch), gamma 1 and beta 0.
- Both at ``common.THREADS`` threads (2, the machine's cores; ``BENCH_THREADS`` changes it):
  OpenBLAS through the environment before NumPy loads, ``torch.set_num_threads`` as
  ``peers/torch_mlp.py``.

For each seed the two train side by side from their own random weights: glassnet epoch, torch
epoch, glassnet epoch, ... (which one starts alternates by seed), ``--epochs`` (10) each. Before each seed (and
each round of ``sequential``) the script waits until the other processes keep fewer than
``--quiet`` (0.3) cores busy for 3 seconds (``/proc/stat``), as the machine is shared. Epoch 1
of each is the warm-up (Numba's kernels, the allocator, BLAS) and is never timed; epochs 2..N are.
After the last epoch each model predicts the 10,000 test rows (torch in ``eval()`` mode, glassnet's
``predict``: both on their moving statistics): the test accuracy after ``--epochs`` epochs. The
load average is read before every epoch. The figures: the median over every timed epoch of each,
the median of the paired ratios (glassnet's epoch over the torch epoch next to it) with their
min-max, and each seed's accuracy.

``sequential`` runs ``peers/glassnet_mlp.py`` (W1 and W2, ``--epochs`` 4 per run, the first
untimed) of each checkout in ``--trees`` in its own process with ``PYTHONPATH`` at that checkout
(the runner also puts its own checkout first on ``sys.path``; its JSON line's ``glassnet_path``
says which glassnet ran), the order of the checkouts rotated each round; per workload the median
over rounds of each run's median epoch, its ratio to the first checkout's, and the paired ratio
(each round's run over the first checkout's run of the same round) with its min-max: the noise.

Results: ``--out`` (default ``benchmarks/results/<date>_residual/``) gets ``runs.jsonl`` (one JSON
line per training run) and ``summary.md``; ``sequential`` writes ``sequential.jsonl`` (one line
per run: the runner's line, the checkout, its commit, the load before and after) and
``sequential.md`` (``--name`` changes the two names), so both fit in one folder. The machine is shared: run it when
``uptime`` shows it quiet, and read the ratios with the load beside them.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)                   # benchmarks/: common
sys.path.insert(0, os.path.dirname(HERE))  # repository root: glassnet
import common  # noqa: E402  (first: pins the BLAS threads before numpy and torch load)
import interleaved  # noqa: E402

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402


WIDTH, BLOCKS, CLASSES, BATCH = 256, 4, 10, 128
MOMENTUM, EPSILON = 0.99, 1e-3  # Keras's BatchNormalization defaults; PyTorch's momentum = 1 - 0.99


# -- the two networks ----------------------------------------------------------------------------
def glassnet_model(seed):
    import glassnet as gn
    inputs = gn.Input((784,))
    x = gn.layers.Dense(WIDTH)(inputs)
    for _ in range(BLOCKS):
        h = gn.layers.Dense(WIDTH)(x)
        h = gn.layers.BatchNormalization(momentum=MOMENTUM, epsilon=EPSILON)(h)
        h = gn.layers.ReLU()(h)
        x = gn.layers.Add()([x, h])
    outputs = gn.layers.Dense(CLASSES, activation="softmax")(x)
    model = gn.Model(inputs, outputs, seed=seed)
    model.compile(optimizer=gn.optimizers.Adam(common.LR, beta_1=common.BETA1, beta_2=common.BETA2,
                                               epsilon=common.EPS),
                  loss="sparse_categorical_crossentropy")
    return model


def torch_model(seed):
    import torch
    from torch import nn

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Linear(784, WIDTH)
            self.blocks = nn.ModuleList(
                nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.BatchNorm1d(WIDTH, momentum=1 - MOMENTUM, eps=EPSILON),
                              nn.ReLU())
                for _ in range(BLOCKS))
            self.head = nn.Linear(WIDTH, CLASSES)

        def forward(self, x):
            x = self.stem(x)
            for block in self.blocks:
                x = x + block(x)
            return self.head(x)

    torch.manual_seed(seed)
    model = Residual()
    for module in model.modules():
        if isinstance(module, nn.Linear):  # Keras's defaults, as glassnet's Dense
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return model


# -- the residual comparison ----------------------------------------------------------------------
def residual(args):
    import torch
    torch.set_num_threads(common.THREADS)
    data = common.load("W1", args.rows)
    out = interleaved.prepare(args.out, "residual")
    runs_path = out / "runs.jsonl"
    started = interleaved.now()
    records = []
    for seed in range(args.seeds):
        waited = interleaved.wait_quiet(args.quiet)
        runs = {"glassnet": interleaved.GlassnetRun(glassnet_model(seed), data, BATCH),
                "torch": interleaved.TorchRun(torch_model(seed), data, BATCH, common.LR, (common.BETA1, common.BETA2),
                                              common.EPS)}
        order = ["glassnet", "torch"] if seed % 2 == 0 else ["torch", "glassnet"]
        times, loads = interleaved.train_interleaved({name: runs[name] for name in order}, args.epochs,
                                                     log=lambda line: print(f"seed {seed} {line}", flush=True))
        for name, run in runs.items():
            timed = times[name][1:]
            record = dict(benchmark="residual", peer=name, seed=seed, first=order[0], epochs=args.epochs,
                          rows=len(data[0]), batch=BATCH, threads=common.THREADS, version=run.version,
                          warmup_epoch_s=round(times[name][0], 4), epoch_s=[round(t, 4) for t in timed],
                          median_epoch_s=round(statistics.median(timed), 4) if timed else None,
                          load=loads[name], waited_for_quiet_s=waited, test_acc=round(run.accuracy(), 4),
                          torch_threads=torch.get_num_threads(), glassnet_commit=interleaved.commit(),
                          started=started)
            records.append(record)
            with runs_path.open("a") as f:
                f.write(json.dumps(record) + "\n")
        print(f"seed {seed}: test accuracy " + ", ".join(
            f"{r['peer']} {r['test_acc']:.4f}" for r in records if r["seed"] == seed), flush=True)
    summary = "\n".join(
        [interleaved.command_line("residual.py"),
         f"started {started}, ended {interleaved.now()}; {common.THREADS} threads each (OpenBLAS, "
         f"torch.set_num_threads); glassnet commit {interleaved.commit()}", ""]
        + interleaved.epoch_table(records, ["glassnet", "torch"], "glassnet")
        + interleaved.accuracy_table(records, ["glassnet", "torch"], args.epochs))
    (out / "summary.md").write_text(summary)
    print(summary)


def sequential(args):
    trees = [os.path.abspath(t) for t in args.trees.split(",")]
    out = interleaved.prepare(args.out, "residual")
    runs_path = out / f"{args.name}.jsonl"
    started = interleaved.now()
    records = []
    for rnd in range(args.rounds):
        for workload in args.workloads.split(","):
            waited = interleaved.wait_quiet(args.quiet)  # each round's runs side by side on a quiet machine
            shift = rnd % len(trees)
            for tree in trees[shift:] + trees[:shift]:
                script = os.path.join(tree, "benchmarks", "peers", "glassnet_mlp.py")
                env = {**os.environ, "PYTHONPATH": tree}
                load = round(os.getloadavg()[0], 2)
                t0 = time.perf_counter()
                result = subprocess.run([sys.executable, script, "-w", workload, "-e", str(args.epochs)],
                                        capture_output=True, text=True, env=env, timeout=1200)
                line = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
                record = json.loads(line) if line.startswith("{") else {"workload": workload,
                                                                         "error": result.stderr[-2000:]}
                record.update(benchmark="sequential", tree=tree, commit=interleaved.commit(tree), round=rnd,
                              waited_for_quiet_s=waited, load_before=load,
                              load_after=round(os.getloadavg()[0], 2), wall_s=round(time.perf_counter() - t0, 2))
                records.append(record)
                with runs_path.open("a") as f:
                    f.write(json.dumps(record) + "\n")
                print(f"round {rnd} {workload} {tree} ({record['commit']}): "
                      f"{record.get('median_epoch_s')} s/epoch, load {load:.2f}-{record['load_after']:.2f}", flush=True)
    summary = sequential_summary(records, trees, args, started)
    (out / f"{args.name}.md").write_text(summary)
    print(summary)


def sequential_summary(records, trees, args, started):
    """Per workload and checkout: the median over rounds of each run's median epoch, and the
    ratio to the first checkout's run of the same round (paired: the two ran side by side)."""
    lines = [f"`python benchmarks/residual.py {' '.join(sys.argv[1:])}`",
             f"started {started}, ended {interleaved.now()}; peers/glassnet_mlp.py, {args.epochs} epochs a run (the first "
             f"untimed), {args.rounds} rounds, the checkouts' order rotated each round", "",
             "| workload | checkout | commit | median epoch s over rounds (min-max) | ratio of medians | "
             "paired ratio per round: median (min-max) | test acc | load before-after a run |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for workload in args.workloads.split(","):
        def runs(tree):
            return {r["round"]: r for r in records
                    if r["tree"] == tree and r.get("workload") == workload and "error" not in r}
        first = runs(trees[0])
        for tree in trees:
            rs = runs(tree)
            if not rs or not first:
                lines.append(f"| {workload} | {tree} | | failed | | | | |")
                continue
            meds = [r["median_epoch_s"] for r in rs.values()]
            med = statistics.median(meds)
            paired = [rs[k]["median_epoch_s"] / first[k]["median_epoch_s"] for k in rs if k in first]
            loads = [r["load_before"] for r in rs.values()] + [r["load_after"] for r in rs.values()]
            lines.append(f"| {workload} | {tree} | {next(iter(rs.values()))['commit']} | {med:.4f} "
                         f"({min(meds):.4f}-{max(meds):.4f}) | "
                         f"{med / statistics.median(r['median_epoch_s'] for r in first.values()):.3f} | "
                         f"{statistics.median(paired):.3f} ({min(paired):.3f}-{max(paired):.3f}) | "
                         f"{statistics.median(r['test_acc'] for r in rs.values()):.4f} | "
                         f"{min(loads):.2f}-{max(loads):.2f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("mode", nargs="?", choices=["residual", "sequential"], default="residual")
    parser.add_argument("--seeds", type=int, default=3, help="residual: training runs of each (default 3)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="residual: epochs per run, the first untimed (default 10); sequential: per run (4)")
    parser.add_argument("--rows", type=int, default=None, help="residual: train on the first ROWS rows only")
    parser.add_argument("--trees", default=".", help="sequential: comma-separated glassnet checkouts, the first "
                                                     "the reference")
    parser.add_argument("--workloads", default="W1,W2", help="sequential: workloads (default W1,W2)")
    parser.add_argument("--rounds", type=int, default=5, help="sequential: rounds (default 5)")
    parser.add_argument("--quiet", type=float, default=0.3,
                        help="before each seed (residual) or each round of a workload (sequential), wait until "
                             "other processes keep fewer than QUIET cores busy for 3 s (default 0.3; 0: never wait)")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/results/<date>_residual/)")
    parser.add_argument("--name", default="sequential",
                        help="sequential: the results' file names, NAME.jsonl and NAME.md (default sequential)")
    args = parser.parse_args()
    if args.mode == "residual":
        args.epochs = args.epochs or 10
        residual(args)
    else:
        args.epochs = args.epochs or 4
        sequential(args)


if __name__ == "__main__":
    main()
