"""Markdown summary of one benchmark results folder (the runs.jsonl that benchmarks/run.py wrote).

    python benchmarks/summarize.py benchmarks/results/2026-11-27_170000     # prints and rewrites summary.md
    python benchmarks/summarize.py DIR --stdout                              # prints only

How the numbers are made:
* a training run's value is the median of its timed epochs (epochs 2..N, the first is the
  warm-up); a table cell is the median of those values over the rounds, next to their min-max;
* "glassnet / peer" is glassnet's median epoch time divided by the peer's, both from the same
  invocation: below 1 glassnet is faster, above 1 it takes that many times as long;
* "x floor" is the peer's time divided by the numpy GEMM-only floor (the matrix products alone);
* the extra measurements compare glassnet with torch eager: per-example time of SGD with batch
  size 1 (time ratio), predict throughput on the W1 test set (throughput ratio, above 1 glassnet
  is faster), peak memory of the W1 training runs, and test accuracy after a longer W1 run.
"""
import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

NOTES = {
    "glassnet": "this project: gn.Sequential + model.fit (NumPy)",
    "torch-eager": "nn.Sequential, default Adam, randperm + X[idx] loop",
    "torch-eager-fused": "as torch-eager, Adam(fused=True)",
    "torch-eager-foreach": "as torch-eager, Adam(foreach=True)",
    "torch-compile": "torch.compile(loss fn) + torch.compile(opt.step); warm-up = cold compile",
    "jax-jit": "hand-written MLP, optax.adam, one jit call per step",
    "jax-jit-scan": "as jax-jit, an epoch's full batches in one lax.scan",
    "keras-jax": "Keras 3 Sequential + model.fit, JAX backend",
    "sklearn-mlp": "MLPClassifier(adam), partial_fit per epoch",
    "numpy-gemm-floor": "only the forward/backward matmuls (NumPy BLAS): not a trainer",
    "torch-gemm-floor": "the same matmuls via torch.matmul: not a trainer",
}
FLOOR = "numpy-gemm-floor"


def read_runs(out):
    path = Path(out) / "runs.jsonl"
    if not path.exists():
        sys.exit(f"{path} not found")
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def num(x, digits=3):
    """Compact number: 3 decimals below 10, fewer above; '-' for None."""
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits}f}"


def ratio(a, b):
    return None if a is None or not b else a / b


def pct(x):
    return "-" if x is None else f"{100 * x:.2f}%"


def display_path(path):
    """``path`` relative to the current folder when it lies below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def machine_lines(out):
    path = Path(out) / "machine.txt"
    if not path.exists():
        return []
    keep = ("date:", "cpu:", "cpu flags:", "nproc:", "memory:", "numpy BLAS:", "numpy:", "torch:",
            "jax:", "keras:", "scikit-learn:", "glassnet commit:", "threads per run:")
    return [l for l in path.read_text().splitlines() if l.startswith(keep)]


class Results:
    def __init__(self, runs):
        self.ok = defaultdict(list)        # (kind, workload, peer) -> successful runs
        self.failed = defaultdict(list)    # (kind, workload, peer) -> error records
        self.missing = {}                  # peer -> import error
        for r in runs:
            k = (r.get("kind", "timing"), r.get("workload"), r.get("peer"))
            if r.get("error") == "missing":
                self.missing[r["peer"]] = r.get("missing", "")
            elif "error" in r:
                self.failed[k].append(r)
            else:
                self.ok[k].append(r)

    def timing(self, workload, peer):
        """Median over rounds of the runs' median epoch seconds."""
        return med(r["median_epoch_s"] for r in self.ok[("timing", workload, peer)])

    def value(self, kind, workload, peer, field):
        return med(r.get(field) for r in self.ok[(kind, workload, peer)])


def workload_table(res, w, peers, lines):
    runs = [r for p in peers for r in res.ok[("timing", w, p)]]
    if runs:
        r0 = runs[0]
        lines.append(f"### {w} {r0['name']}: {'-'.join(map(str, r0['sizes']))} ReLU, batch {r0['batch']}, "
                     f"{r0['n_train']:,} examples per epoch\n")
    else:
        lines.append(f"### {w}\n")
    gn = res.timing(w, "glassnet")
    floor = res.timing(w, FLOOR)
    epochs = med(r.get("epochs") for r in runs)
    epochs = None if epochs is None else int(epochs)
    lines.append(f"| peer | runs | median epoch s | min-max s | examples/s | **glassnet / peer** | x floor "
                 f"| warm-up epoch s | peak RSS MB | test acc ({epochs or '?'} ep) | notes |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")

    def order(p):
        t = res.timing(w, p)
        return (t is None, t or 0)

    for p in sorted(peers, key=order):
        ok, bad = res.ok[("timing", w, p)], res.failed[("timing", w, p)]
        note = NOTES.get(p, "")
        if p in res.missing and not ok:
            lines.append(f"| {p} | 0 | - | - | - | - | - | - | - | - | **missing**: {res.missing[p]} |")
            continue
        if not ok:
            why = bad[-1]["error"] if bad else "no run"
            lines.append(f"| {p} | 0 ({len(bad)} failed) | - | - | - | - | - | - | - | - | **failed**: {why} |")
            continue
        t = res.timing(w, p)
        meds = [r["median_epoch_s"] for r in ok]
        n_train = ok[0]["n_train"]
        runs_cell = f"{len(ok)}" + (f" ({len(bad)} failed)" if bad else "")
        gn_ratio = ratio(gn, t)
        lines.append(
            f"| {'**glassnet**' if p == 'glassnet' else p} | {runs_cell} | {num(t)} | {num(min(meds))}-{num(max(meds))} "
            f"| {n_train / t:,.0f} | {'**' + num(gn_ratio, 2) + '**' if gn_ratio else '-'} "
            f"| {num(ratio(t, floor), 2)} | {num(med(r['warmup_epoch_s'] for r in ok), 2)} "
            f"| {num(med(r.get('peak_rss_mb') for r in ok))} | {pct(med(r.get('test_acc') for r in ok))} | {note} |")
    lines.append("")


def extras_table(res, lines):
    g, t = "glassnet", "torch-eager"
    rows = []
    b1 = [res.value("batch1", "W2", p, "per_example_us") for p in (g, t)]
    if any(v is not None for v in b1):
        r0 = (res.ok[("batch1", "W2", g)] or res.ok[("batch1", "W2", t)])[0]
        rows.append((f"W2 SGD, batch size 1 ({r0['n_train']:,} rows/epoch): us per example", b1,
                     ratio(*b1), "time: below 1 glassnet is faster"))
    inf_runs = res.ok[("inference", "W1", g)] + res.ok[("inference", "W1", t)]
    sizes = sorted({bs for r in inf_runs for bs in r["inference"]}, key=int)
    for bs in sizes:
        v = [med(r["inference"][bs]["examples_per_s"] for r in res.ok[("inference", "W1", p)]
                 if bs in r["inference"]) for p in (g, t)]
        rows.append((f"W1 predict, 10,000 test examples in batches of {int(bs):,}: examples/s", v,
                     ratio(*v), "throughput: above 1 glassnet is faster"))
    rss = [res.value("timing", "W1", p, "peak_rss_mb") for p in (g, t)]
    if any(v is not None for v in rss):
        rows.append(("W1 training run, peak RSS MB (whole process)", rss, ratio(*rss),
                     "memory: below 1 glassnet uses less"))
    acc = [res.value("accuracy", "W1", p, "test_acc") for p in (g, t)]
    if any(v is not None for v in acc):
        ep = int(med(r.get("epochs") for p in (g, t) for r in res.ok[("accuracy", "W1", p)]))
        diff = None if None in acc else 100 * (acc[0] - acc[1])
        rows.append((f"W1 test accuracy after {ep} epochs", [pct(a) for a in acc],
                     None if diff is None else f"{diff:+.2f} pt", "difference in points"))
    if not rows:
        return
    lines.append("### Extra measurements: glassnet vs torch eager\n")
    lines.append("| measurement | glassnet | torch eager | glassnet / torch | how to read |")
    lines.append("|---|---|---|---|---|")
    for name, (a, b), rt, how in rows:
        a = a if isinstance(a, str) else num(a)
        b = b if isinstance(b, str) else num(b)
        rt = rt if isinstance(rt, str) else f"**{num(rt, 2)}**" if rt is not None else "-"
        lines.append(f"| {name} | {a} | {b} | {rt} | {how} |")
    lines.append("")


def summarize(out):
    out = Path(out)
    runs = read_runs(out)
    res = Results(runs)
    meta = json.loads((out / "meta.json").read_text()) if (out / "meta.json").exists() else {}
    lines = ["# glassnet benchmark: glassnet vs peers", ""]
    if meta:
        lines.append(f"Produced by `{meta.get('command')}` (from `{meta.get('cwd')}`), "
                     f"started {meta.get('started')}, finished {meta.get('finished', '(not finished)')}"
                     f"{', ' + str(round(meta['wall_s'] / 60, 1)) + ' min' if meta.get('wall_s') else ''}.")
        lines.append(f"Rebuild this file with `python benchmarks/summarize.py {display_path(out)}`.")
        if meta.get("python_note"):
            lines.append(f"Note: {meta['python_note']} (python: `{meta.get('python')}`).")
        lines.append("")
    ml = machine_lines(out)
    if ml:
        lines += ["Machine (see machine.txt):", ""] + [f"    {l}" for l in ml] + [""]

    srcs = sorted({r["glassnet_src"] for r in runs if r.get("glassnet_src")})
    if len(srcs) > 1:
        lines.append(f"**Warning**: glassnet's source changed during this invocation ({len(srcs)} "
                     "versions among its runs): its medians mix versions.\n")

    lines.append("Each run: epoch 1 is the warm-up, epochs 2..N are timed (shuffle and batch gathering "
                 "included); a run's value is the median of its timed epochs, a cell the median over "
                 "rounds. **glassnet / peer** = glassnet's median epoch time / the peer's: below 1 "
                 "glassnet is faster, above 1 it takes that many times as long.\n")

    timing_keys = [k for k in list(res.ok) + list(res.failed) if k[0] == "timing"]
    workloads = sorted({k[1] for k in timing_keys} | {r["workload"] for r in runs
                                                      if r.get("kind") == "timing" and r.get("workload")})
    peers = list(dict.fromkeys([k[2] for k in timing_keys] + list(res.missing)))
    peers = sorted(peers, key=lambda p: (p != "glassnet", list(NOTES).index(p) if p in NOTES else 99, p))

    if workloads:
        lines.append("## glassnet / peer at a glance (median epoch time ratio)\n")
        lines.append("| peer | " + " | ".join(workloads) + " |")
        lines.append("|---|" + "---|" * len(workloads))
        for p in peers:
            if p == "glassnet":
                cells = [f"{num(res.timing(w, p))} s" for w in workloads]
                lines.append("| glassnet (its median epoch) | " + " | ".join(cells) + " |")
                continue
            cells = []
            for w in workloads:
                rt = ratio(res.timing(w, "glassnet"), res.timing(w, p))
                cells.append("missing" if p in res.missing and rt is None else num(rt, 2))
            lines.append(f"| {p} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append("## Per workload\n")
        for w in workloads:
            workload_table(res, w, peers, lines)

    extras_table(res, lines)

    peaks = [r for r in runs if r.get("kind") == "peak" and "error" not in r]
    if peaks:
        p = peaks[0]
        parts = [f"{lib}: {p[lib + '_gflops_median']} GFLOP/s" for lib in ("numpy", "torch")
                 if p.get(lib + "_gflops_median") is not None]
        lines.append(f"BLAS peak, one 2048x2048x2048 float32 product (median of 10): {', '.join(parts)}; "
                     f"numpy BLAS {p.get('numpy_blas')}.\n")

    problems = [r for r in runs if "error" in r]
    if problems:
        lines.append("### Missing peers and failed runs\n")
        for peer, why in res.missing.items():
            lines.append(f"- {peer}: missing, cannot be imported ({why}); every run of it skipped")
        for r in problems:
            if r["error"] != "missing":
                lines.append(f"- {r['peer']} {r.get('workload')} {r.get('kind')} round {r.get('round')}: "
                             f"{r['error']} -- `{r.get('cmd')}` -- {r.get('stderr_tail', '')[-300:]}")
        lines.append("")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="a results folder with runs.jsonl")
    p.add_argument("--stdout", action="store_true", help="print only, do not rewrite summary.md")
    args = p.parse_args()
    text = summarize(args.out)
    print(text)
    if not args.stdout:
        (args.out / "summary.md").write_text(text)


if __name__ == "__main__":
    main()
