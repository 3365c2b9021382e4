"""W4: a LeNet-like convolutional network on Fashion-MNIST, glassnet against PyTorch eager and
against the floor of its own matrix products done with NumPy alone, in one invocation.

    conv 5x5x32 "same" - ReLU - max-pool 2 - conv 5x5x64 "same" - ReLU - max-pool 2 - dense 128 - ReLU - dense 10

batch 128, Adam (1e-3, betas 0.9/0.999, epsilon 1e-8), softmax cross-entropy on the logits,
float32, 2 threads each (``common.py`` pins OpenBLAS's and ``torch.set_num_threads``). Both
networks start from Keras's initialization (Glorot-uniform kernels, zero biases; PyTorch's own
default differs), so they are the same network; glassnet reads (batch, 28, 28, 1) pictures and
PyTorch (batch, 1, 28, 28), each its native layout, from the same memory.

    python benchmarks/cnn.py                                   # 2 seeds x 5 epochs, then inference and memory
    python benchmarks/cnn.py --seeds 1 --epochs 2 --rows 6000  # a quick check of the script
    python benchmarks/cnn.py --seeds 0 --accuracy-seeds 4 --accuracy-from 2 --memory-steps 0  # seeds 2-5, accuracy

1. Training. For each seed, ``glassnet``, ``torch``, ``numpy-floor`` and ``winograd-products``
   train an epoch each in turn (which one starts rotates with the seed), ``--epochs`` (5) each;
   epoch 1 is the untimed warm-up. ``numpy-floor`` is an epoch of only the matrix products of
   the network's matrix form, every convolution as im2col followed by one product (the form the
   issue's target names; ``layers/conv.py``), on the same shapes, in the slices one thread makes
   (a batch's im2col matrix whole up to ``WHOLE_BATCH_BYTES``, else in ``CHUNK_BYTES`` slices), on
   NumPy's BLAS threads, into buffers made once: per batch the forward product, ``dW`` and (but
   for the first layer) ``dX`` of each convolution and dense layer. No im2col copy, col2im,
   activation, pooling, loss or Adam: what NumPy alone cannot avoid. glassnet now computes the
   second convolution by Winograd's F(2x2, 5x5), with 2.8x fewer multiplications than im2col, so
   its epoch can come under that floor; ``winograd-products`` is the floor of what it runs now:
   the same but for the second convolution's 36 products a slice (``WinogradProductsRun``),
   without the transforms. After the last epoch each model predicts the 10,000 test pictures:
   the test accuracy.
2. Inference: the last seed's two models predict the test set in batches of ``--infer-batch``
   (1000) and 128, in turn, ``--infer-reps`` (5) times each after one untimed; glassnet's
   ``predict`` against torch in ``eval()`` under ``no_grad``: pictures per second, the median.
3. Peak memory: each peer in a child process of its own (``--child``) loads the data, trains
   ``--memory-steps`` (100) steps and reports its peak resident memory (``VmHWM``: ``ru_maxrss`` is inherited from the parent) and its
   resident memory before the network was made (the interpreter, the library and the data).

Before each seed the script waits until other processes keep fewer than ``--quiet`` (0.3) cores
busy (at most 10 minutes). Results go to ``--out`` (default ``benchmarks/results/<date>_cnn/``):
``runs.jsonl`` (a JSON line per training run, inference pair and child) and ``summary.md``. The
machine is shared: read the ratios, with the load beside them.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)                   # benchmarks/: common, interleaved
sys.path.insert(0, os.path.dirname(HERE))  # repository root: glassnet
import common  # noqa: E402  (first: pins the BLAS threads before numpy and torch load)
import interleaved  # noqa: E402

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

BATCH, CLASSES = 128, 10
# (filters, kernel) of the two convolutions, then the dense layer's units
CONVS, HIDDEN = ((32, 5), (64, 5)), 128


# -- the two networks ----------------------------------------------------------------------------
def glassnet_model(seed):
    import glassnet as gn
    layers = [gn.layers.Input((28, 28, 1))]
    for filters, kernel in CONVS:
        layers += [gn.layers.Conv2D(filters, kernel, padding="same", activation="relu"), gn.layers.MaxPooling2D(2)]
    layers += [gn.layers.Flatten(), gn.layers.Dense(HIDDEN, activation="relu"), gn.layers.Dense(CLASSES)]
    model = gn.Sequential(layers, seed=seed)
    model.compile(optimizer=gn.optimizers.Adam(common.LR, beta_1=common.BETA1, beta_2=common.BETA2,
                                               epsilon=common.EPS),
                  loss=gn.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def torch_model(seed):
    import torch
    from torch import nn
    torch.manual_seed(seed)
    layers, channels = [], 1
    for filters, kernel in CONVS:
        layers += [nn.Conv2d(channels, filters, kernel, padding=kernel // 2), nn.ReLU(), nn.MaxPool2d(2)]
        channels = filters
    layers += [nn.Flatten(), nn.Linear(channels * 7 * 7, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES)]
    model = nn.Sequential(*layers)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):  # Keras's defaults, as glassnet's
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return model


def pictures(data, layout):
    """The (rows, 784) pixels of ``data`` as NHWC for glassnet or NCHW for torch: a view, no copy."""
    xtr, ytr, xte, yte = data
    shape = (28, 28, 1) if layout == "nhwc" else (1, 28, 28)
    return xtr.reshape(-1, *shape), ytr, xte.reshape(-1, *shape), yte


# -- the floor: the matrix products alone --------------------------------------------------------
class FloorRun:
    """An epoch of only the matrix products of glassnet's W4 training step (the module docstring),
    on buffers of standard-normal numbers made once; ``epoch()`` returns its seconds."""

    def __init__(self, rows, batch):
        from glassnet.layers import conv
        self.rows, self.batch = rows, batch
        rng = np.random.default_rng(0)
        side, channels, self.convs = 28, 1, []
        for filters, kernel in CONVS:
            pixels, depth = side * side, kernel * kernel * channels  # "same": as many outputs as inputs
            per_example = pixels * depth * 4
            chunk = batch if batch * per_example <= conv.WHOLE_BATCH_BYTES else max(1, conv.CHUNK_BYTES // per_example)
            slice_rows = min(chunk, batch) * pixels
            self.convs.append(dict(
                pixels=pixels, chunk=chunk, input_gradient=bool(self.convs),
                cols=rng.standard_normal((slice_rows, depth), dtype=np.float32),
                weight=rng.standard_normal((depth, filters), dtype=np.float32),
                z=np.empty((batch * pixels, filters), np.float32),
                dz=rng.standard_normal((batch * pixels, filters), dtype=np.float32),
                dweight=np.empty((depth, filters), np.float32),
                dcols=np.empty((slice_rows, depth), np.float32)))
            side, channels = side // 2, filters
        self.dense = []
        for n_in, n_out in ((side * side * channels, HIDDEN), (HIDDEN, CLASSES)):
            self.dense.append(dict(x=rng.standard_normal((batch, n_in), dtype=np.float32),
                                   weight=rng.standard_normal((n_in, n_out), dtype=np.float32),
                                   dz=rng.standard_normal((batch, n_out), dtype=np.float32),
                                   dweight=np.empty((n_in, n_out), np.float32)))

    def step(self, n):
        """The products of a batch of ``n`` examples: forward, then backward in reverse order."""
        for c in self.convs:
            for start in range(0, n, c["chunk"]):
                rows = (min(start + c["chunk"], n) - start) * c["pixels"]
                np.matmul(c["cols"][:rows], c["weight"], out=c["z"][start * c["pixels"]:][:rows])
        for d in self.dense:
            d["y"] = d["x"][:n] @ d["weight"]
        for d in reversed(self.dense):
            np.matmul(d["x"][:n].T, d["dz"][:n], out=d["dweight"])
            d["dx"] = d["dz"][:n] @ d["weight"].T
        for c in reversed(self.convs):
            for start in range(0, n, c["chunk"]):
                rows = (min(start + c["chunk"], n) - start) * c["pixels"]
                dz = c["dz"][start * c["pixels"]:][:rows]
                np.matmul(c["cols"][:rows].T, dz, out=c["dweight"])
                if c["input_gradient"]:
                    np.matmul(dz, c["weight"].T, out=c["dcols"][:rows])

    def epoch(self):
        t0 = time.perf_counter()
        for start in range(0, self.rows, self.batch):
            self.step(min(self.batch, self.rows - start))
        return time.perf_counter() - t0


class WinogradProductsRun(FloorRun):
    """An epoch of only the matrix products glassnet's W4 step now runs: the first convolution's as
    ``FloorRun`` (im2col: one input channel), the second's by Winograd's F(2x2, 5x5)
    (``layers/winograd.py``): per slice of ``winograd.CHUNK_BYTES``, the 36 products
    ``M = V @ U``, ``dU = V^T @ dM`` and ``dV = dM @ U^T``; the dense layers' as ``FloorRun``. No
    transform, copy, activation or pooling: what is left when those cost nothing."""

    def __init__(self, rows, batch):
        from glassnet.layers import winograd
        super().__init__(rows, batch)
        rng = np.random.default_rng(1)
        second = self.convs[1]
        channels, filters = second["weight"].shape[0] // 25, second["weight"].shape[1]
        tiles = 7 * 7  # 14x14 outputs in tiles of 2x2
        chunk = max(1, winograd.CHUNK_BYTES // (36 * tiles * filters * 4))
        shape = (36, chunk * tiles)
        second.update(winograd_chunk=chunk,
                      v=rng.standard_normal((*shape, channels), dtype=np.float32),
                      u=rng.standard_normal((36, channels, filters), dtype=np.float32),
                      u_transposed=rng.standard_normal((36, filters, channels), dtype=np.float32),
                      m=np.empty((*shape, filters), np.float32),
                      dm=rng.standard_normal((*shape, filters), dtype=np.float32),
                      du=np.empty((36, channels, filters), np.float32),
                      dv=np.empty((*shape, channels), np.float32))

    def step(self, n):
        first, second = self.convs
        saved, self.convs = self.convs, [first]
        try:
            super().step(n)  # the first convolution and the dense layers
        finally:
            self.convs = saved
        for start in range(0, n, second["winograd_chunk"]):
            rows = (min(start + second["winograd_chunk"], n) - start) * 49
            np.matmul(second["v"][:, :rows], second["u"], out=second["m"][:, :rows])
            np.matmul(second["v"][:, :rows].transpose(0, 2, 1), second["dm"][:, :rows], out=second["du"])
            np.matmul(second["dm"][:, :rows], second["u_transposed"], out=second["dv"][:, :rows])


# -- the three parts -----------------------------------------------------------------------------
def training(args, data, out, records, log):
    import torch
    torch.set_num_threads(common.THREADS)
    names = ["glassnet", "torch", "numpy-floor", "winograd-products"]
    last = None
    for seed in range(args.seeds):
        waited = interleaved.wait_quiet(args.quiet, give_up=600)
        runs = {"glassnet": interleaved.GlassnetRun(glassnet_model(seed), pictures(data, "nhwc"), BATCH),
                "torch": interleaved.TorchRun(torch_model(seed), pictures(data, "nchw"), BATCH, common.LR,
                                              (common.BETA1, common.BETA2), common.EPS),
                "numpy-floor": FloorRun(len(data[0]), BATCH),
                "winograd-products": WinogradProductsRun(len(data[0]), BATCH)}
        order = names[seed % len(names):] + names[:seed % len(names)]
        times, loads = interleaved.train_interleaved({name: runs[name] for name in order}, args.epochs,
                                                     log=lambda line: log(f"seed {seed} {line}"))
        for name in names:
            run = runs[name]
            timed = times[name][1:]
            record = dict(benchmark="cnn", part="training", peer=name, seed=seed, order=order, epochs=args.epochs,
                          rows=len(data[0]), batch=BATCH, threads=common.THREADS,
                          version=getattr(run, "version", np.__version__),
                          warmup_epoch_s=round(times[name][0], 4), epoch_s=[round(t, 4) for t in timed],
                          median_epoch_s=round(statistics.median(timed), 4) if timed else None, load=loads[name],
                          waited_for_quiet_s=waited, torch_threads=torch.get_num_threads(),
                          test_acc=round(run.accuracy(), 4) if hasattr(run, "accuracy") else None,
                          glassnet_commit=interleaved.commit())
            write(out, records, record)
        log(f"seed {seed}: test accuracy " + ", ".join(
            f"{r['peer']} {r['test_acc']:.4f}" for r in records if r.get("seed") == seed and r["test_acc"]))
        last = runs
    return last


def accuracy_only(args, data, out, records, log):
    """``--accuracy-seeds`` more seeds, after the timed ones: glassnet and torch train ``--epochs``
    epochs each (one after the other, untimed) for the test accuracy alone, so that the mean
    accuracy rests on more seeds than the timing needs."""
    import torch
    first = args.seeds if args.accuracy_from is None else args.accuracy_from
    for seed in range(first, first + args.accuracy_seeds):
        runs = {"glassnet": interleaved.GlassnetRun(glassnet_model(seed), pictures(data, "nhwc"), BATCH),
                "torch": interleaved.TorchRun(torch_model(seed), pictures(data, "nchw"), BATCH, common.LR,
                                              (common.BETA1, common.BETA2), common.EPS)}
        for name, run in runs.items():
            for _ in range(args.epochs):
                run.epoch()
            write(out, records, dict(benchmark="cnn", part="accuracy", peer=name, seed=seed, epochs=args.epochs,
                                     test_acc=round(run.accuracy(), 4), torch_threads=torch.get_num_threads(),
                                     glassnet_commit=interleaved.commit()))
        log(f"seed {seed} (accuracy only): " + ", ".join(
            f"{r['peer']} {r['test_acc']:.4f}" for r in records if r.get("seed") == seed))


def inference(args, runs, data, out, records, log):
    """Pictures per second of each trained model predicting the test set, batch sizes in turn."""
    import torch
    tests = {"glassnet": pictures(data, "nhwc")[2], "torch": torch.from_numpy(pictures(data, "nchw")[2])}
    for batch in (args.infer_batch, BATCH):
        times = {name: [] for name in tests}
        for rep in range(args.infer_reps + 1):
            for name in (("glassnet", "torch") if rep % 2 == 0 else ("torch", "glassnet")):
                t0 = time.perf_counter()
                runs[name].predict(tests[name], batch)
                if rep:  # the first is untimed
                    times[name].append(time.perf_counter() - t0)
        for name, seconds in times.items():
            record = dict(benchmark="cnn", part="inference", peer=name, batch=batch, seconds=[round(t, 4) for t in seconds],
                          pictures_per_s=round(len(tests[name]) / statistics.median(seconds), 1),
                          load=round(os.getloadavg()[0], 2))
            write(out, records, record)
            log(f"inference, batches of {batch}: {name} {record['pictures_per_s']:.0f} pictures/s")


def memory(args, out, records, log):
    """Each peer's peak resident memory, from a child process that trains ``--memory-steps`` steps."""
    for name in ("glassnet", "torch"):
        command = [sys.executable, os.path.abspath(__file__), "--child", name, "--memory-steps", str(args.memory_steps)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        lines = result.stdout.strip().splitlines()
        record = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else dict(error=result.stderr[-2000:])
        record.update(benchmark="cnn", part="memory", peer=name)
        write(out, records, record)
        log(f"memory: {name} {record.get('peak_rss_mb')} MB peak, {record.get('before_model_rss_mb')} MB before the "
            "network")


def child(args):
    """Train ``--memory-steps`` steps of one peer; print a JSON line of its memory."""
    if args.child == "glassnet":
        import glassnet  # noqa: F401  (the library is part of "before")
    else:
        import torch
        torch.set_num_threads(common.THREADS)
    data = common.load("W1", BATCH * args.memory_steps)
    before = current_rss_mb()
    if args.child == "glassnet":
        run = interleaved.GlassnetRun(glassnet_model(0), pictures(data, "nhwc"), BATCH)
    else:
        run = interleaved.TorchRun(torch_model(0), pictures(data, "nchw"), BATCH, common.LR,
                                   (common.BETA1, common.BETA2), common.EPS)
    seconds = run.epoch()
    print(json.dumps(dict(steps=args.memory_steps, rows=len(data[0]), seconds=round(seconds, 3),
                          before_model_rss_mb=before, peak_rss_mb=common.peak_rss_mb())))


def current_rss_mb():
    with open("/proc/self/statm") as f:
        return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def write(out, records, record):
    records.append(record)
    with (out / "runs.jsonl").open("a") as f:
        f.write(json.dumps(record) + "\n")


# -- the summary ---------------------------------------------------------------------------------
def summary(args, records, started):
    training_records = [r for r in records if r["part"] == "training"]
    lines = [interleaved.command_line("cnn.py"),
             f"started {started}, ended {interleaved.now()}; {common.THREADS} threads each; glassnet commit "
             f"{interleaved.commit()}; {args.rows or 60_000:,} training pictures, batch {BATCH}", ""]
    if training_records:
        lines += ["Training (epoch times; the ratios are glassnet's time over the peer's: below 1, glassnet is "
                  "faster):", ""]
        lines += interleaved.epoch_table(training_records, ["glassnet", "torch", "numpy-floor", "winograd-products"],
                                         "glassnet")
    accuracy_records = [r for r in records if r["part"] in ("training", "accuracy")]
    lines += interleaved.accuracy_table(accuracy_records, ["glassnet", "torch"], args.epochs)
    inference_records = [r for r in records if r["part"] == "inference"]
    if inference_records:
        lines += ["Inference on the 10,000 test pictures (pictures per second, median; torch in eval() under no_grad):",
                  "", "| batch | glassnet | torch | glassnet / torch |", "| --- | --- | --- | --- |"]
        for batch in sorted({r["batch"] for r in inference_records}, reverse=True):
            speed = {r["peer"]: r["pictures_per_s"] for r in inference_records if r["batch"] == batch}
            lines.append(f"| {batch} | {speed['glassnet']:,.0f} | {speed['torch']:,.0f} | "
                         f"{speed['glassnet'] / speed['torch']:.2f} |")
        lines.append("")
    memory_records = {r["peer"]: r for r in records if r["part"] == "memory" and "peak_rss_mb" in r}
    if len(memory_records) == 2:
        g, t = memory_records["glassnet"], memory_records["torch"]
        lines += [f"Peak resident memory, each in its own process training {args.memory_steps} steps:", "",
                  "| | glassnet | torch | glassnet / torch |", "| --- | --- | --- | --- |",
                  f"| peak MB | {g['peak_rss_mb']:.0f} | {t['peak_rss_mb']:.0f} | "
                  f"{g['peak_rss_mb'] / t['peak_rss_mb']:.2f} |",
                  f"| before the network (interpreter, library, data) MB | {g['before_model_rss_mb']:.0f} | "
                  f"{t['before_model_rss_mb']:.0f} | |",
                  f"| training's own (peak - before) MB | {g['peak_rss_mb'] - g['before_model_rss_mb']:.0f} | "
                  f"{t['peak_rss_mb'] - t['before_model_rss_mb']:.0f} | "
                  f"{(g['peak_rss_mb'] - g['before_model_rss_mb']) / (t['peak_rss_mb'] - t['before_model_rss_mb']):.2f} |",
                  ""]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--seeds", type=int, default=2, help="training runs of each peer (default 2)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run, the first untimed (default 5)")
    parser.add_argument("--rows", type=int, default=None, help="train on the first ROWS pictures only")
    parser.add_argument("--accuracy-seeds", type=int, default=0,
                        help="more seeds, untimed, for the test accuracy alone (default 0)")
    parser.add_argument("--accuracy-from", type=int, default=None,
                        help="the first of the --accuracy-seeds (default: the one after the timed seeds)")
    parser.add_argument("--infer-batch", type=int, default=1000, help="inference batch size besides 128 (default 1000)")
    parser.add_argument("--infer-reps", type=int, default=5, help="timed inference repetitions (default 5)")
    parser.add_argument("--memory-steps", type=int, default=100, help="steps each memory child trains (default 100)")
    parser.add_argument("--quiet", type=float, default=0.3,
                        help="before each seed wait until other processes keep fewer than QUIET cores busy for 3 s "
                             "(default 0.3; 0: never wait; at most 10 minutes)")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/results/<date>_cnn/)")
    parser.add_argument("--child", choices=["glassnet", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    out = interleaved.prepare(args.out, "cnn")
    started, records = interleaved.now(), []

    def log(line):
        print(line, flush=True)

    data = common.load("W1", args.rows)
    runs = training(args, data, out, records, log)
    accuracy_only(args, data, out, records, log)
    if runs is not None:
        inference(args, runs, data, out, records, log)
    if args.memory_steps > 0:
        memory(args, out, records, log)
    text = summary(args, records, started)
    (out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
