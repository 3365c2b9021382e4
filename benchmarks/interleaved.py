"""What the interleaved benchmarks share (``residual.py``, ``cnn.py``): a glassnet and a PyTorch
network trained an epoch at a time so that their epochs alternate in one process, waiting for a
quiet machine, the results folder, and the tables of paired epoch times and test accuracy.

Import ``common`` first (it pins the BLAS threads before NumPy loads); this module imports
NumPy, and glassnet and torch only when a run is made.
"""
import datetime
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


class GlassnetRun:
    """A compiled glassnet ``model`` trained one ``fit(epochs=1)`` at a time on ``data``
    (x_train, y_train, x_test, y_test); ``epoch()`` returns the seconds ``fit`` spent in it."""

    def __init__(self, model, data, batch):
        import glassnet as gn

        class EpochTimer(gn.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds = time.perf_counter() - self.t0

        self.model, self.data, self.batch, self.timer = model, data, batch, EpochTimer()
        self.version = gn.__version__

    def epoch(self):
        xtr, ytr = self.data[:2]
        self.model.fit(xtr, ytr, batch_size=self.batch, epochs=1, shuffle=True, verbose=0, callbacks=[self.timer])
        return self.timer.seconds

    def predict(self, x, batch):
        return self.model.predict(x, batch_size=batch)

    def accuracy(self):
        xte, yte = self.data[2:]
        return float((np.argmax(self.predict(xte, 1000), axis=1) == yte).mean())


class TorchRun:
    """A PyTorch eager ``model`` trained by the idiomatic loop (``randperm``, ``X[idx]``,
    ``zero_grad``, backward, ``step``) with Adam and cross-entropy on logits; ``epoch()``
    returns its seconds. ``data`` as NumPy arrays in the layout the model reads."""

    def __init__(self, model, data, batch, lr, betas, eps):
        import torch
        self.torch, self.model, self.batch = torch, model, batch
        self.data = [torch.from_numpy(a) for a in data]
        self.opt = torch.optim.Adam(model.parameters(), lr=lr, betas=betas, eps=eps)
        self.loss = torch.nn.CrossEntropyLoss()
        self.version = torch.__version__

    def epoch(self):
        torch, model, opt, batch = self.torch, self.model, self.opt, self.batch
        xtr, ytr = self.data[:2]
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(len(xtr))
        for start in range(0, len(xtr), batch):
            idx = perm[start:start + batch]
            opt.zero_grad(set_to_none=True)
            self.loss(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
        return time.perf_counter() - t0

    def predict(self, x, batch):
        """Logits of ``x`` (a tensor) under ``no_grad`` in eval mode, in batches, into one tensor."""
        torch = self.torch
        self.model.eval()
        with torch.no_grad():
            first = self.model(x[:batch])
            out = torch.empty((len(x), *first.shape[1:]), dtype=first.dtype)
            out[:len(first)] = first
            for start in range(batch, len(x), batch):
                out[start:start + batch] = self.model(x[start:start + batch])
        return out

    def accuracy(self):
        xte, yte = self.data[2:]
        return float((self.predict(xte, 1000).argmax(1) == yte).float().mean().item())


def train_interleaved(runs, epochs, log=print):
    """Train each of ``runs`` ({name: run}) ``epochs`` epochs, one epoch of each in turn in the
    order given; return ``{name: [seconds per epoch]}`` and ``{name: [load before each epoch]}``."""
    times = {name: [] for name in runs}
    loads = {name: [] for name in runs}
    for epoch in range(epochs):
        for name, run in runs.items():
            loads[name].append(round(os.getloadavg()[0], 2))
            times[name].append(run.epoch())
        log(f"epoch {epoch + 1}: " + ", ".join(
            f"{name} {times[name][-1]:.3f} s (load {loads[name][-1]:.2f})" for name in runs))
    return times, loads


def epoch_table(records, names, reference):
    """Markdown lines: for each peer in ``names``, the median of its timed epochs over every
    record (``epoch_s`` lists; the first epoch of a run is the untimed warm-up), and the ratio of
    ``reference``'s epochs to it, of the medians and paired epoch by epoch (the noise)."""
    by = {name: [r for r in records if r["peer"] == name] for name in names}
    timed = {name: [t for r in rs for t in r["epoch_s"]] for name, rs in by.items()}
    if not all(timed.values()):
        return ["(no timed epochs: use --epochs 2 or more)", ""]
    med = {name: statistics.median(ts) for name, ts in timed.items()}
    lines = ["| peer | epoch s, median of the timed epochs (min-max) | warm-up epoch s | "
             f"{reference} / peer: ratio of medians | paired per epoch: median (min-max) |",
             "| --- | --- | --- | --- | --- |"]
    for name in names:
        ts = timed[name]
        paired = [g / t for rg, rt in zip(by[reference], by[name]) for g, t in zip(rg["epoch_s"], rt["epoch_s"])]
        lines.append(f"| {name} | {med[name]:.3f} ({min(ts):.3f}-{max(ts):.3f}) | "
                     f"{statistics.median(r['warmup_epoch_s'] for r in by[name]):.3f} | "
                     f"{med[reference] / med[name]:.3f} | "
                     f"{statistics.median(paired):.3f} ({min(paired):.3f}-{max(paired):.3f}) |")
    loads = [x for rs in by.values() for r in rs for x in r["load"][1:]]
    return lines + ["", f"Load average (1 min) before the timed epochs: {min(loads):.2f}-{max(loads):.2f}.", ""]


def accuracy_table(records, names, epochs):
    """Markdown lines: each seed's test accuracy after ``epochs`` epochs, per peer, and the mean."""
    by = {name: {r["seed"]: r["test_acc"] for r in records if r["peer"] == name} for name in names}
    first, second = names
    lines = [f"Test accuracy after {epochs} epochs (10,000 test rows):", "",
             f"| seed | {first} | {second} | {first} - {second} |", "| --- | --- | --- | --- |"]
    for seed in sorted(by[first]):
        a, b = by[first][seed], by[second].get(seed)
        lines.append(f"| {seed} | {a:.4f} | {b:.4f} | {a - b:+.4f} |")
    a, b = statistics.mean(by[first].values()), statistics.mean(by[second].values())
    return lines + [f"| mean | {a:.4f} | {b:.4f} | {a - b:+.4f} |", ""]


# -- the machine and the results ------------------------------------------------------------------
def prepare(out, name):
    """The results folder ``out``, or ``benchmarks/results/<date>_<name>/``, made if missing."""
    from pathlib import Path
    folder = Path(out or os.path.join(HERE, "results", f"{datetime.date.today().isoformat()}_{name}"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def busy_cores(seconds=1.0):
    """How many cores the machine kept busy over the next ``seconds`` (from /proc/stat): other
    processes' work, when this one is idle."""
    def sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # all, idle + iowait
    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return (1 - (idle1 - idle0) / max(total1 - total0, 1)) * (os.cpu_count() or 1)


def wait_quiet(limit, settle=3, give_up=None):
    """Wait until the other processes keep fewer than ``limit`` cores busy for ``settle`` seconds
    in a row (never, with ``limit`` 0; at most ``give_up`` seconds when given); returns the
    seconds waited."""
    if not limit:
        return 0.0
    t0, calm = time.perf_counter(), 0
    while calm < settle and (give_up is None or time.perf_counter() - t0 < give_up):
        calm = calm + 1 if busy_cores() < limit else 0
    return round(time.perf_counter() - t0, 1)


def now():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def commit(tree=None):
    """The short commit of checkout ``tree`` (this one by default), marked when its glassnet/ differs."""
    tree = tree or os.path.dirname(HERE)
    try:
        head = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", tree, "status", "--porcelain", "glassnet"], capture_output=True,
                               text=True).stdout.strip()
    except OSError:
        return "?"
    return head + (" (working tree differs)" if dirty else "")


def command_line(script):
    """The command that ran, as Markdown code: ``python benchmarks/<script> <its arguments>``."""
    return "`" + " ".join(["python", f"benchmarks/{script}", *sys.argv[1:]]) + "`"
