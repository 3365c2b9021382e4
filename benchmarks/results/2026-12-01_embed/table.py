"""The Markdown table of runs.jsonl (python table.py [runs.jsonl]), as summary.md shows it."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(path=os.path.join(HERE, "runs.jsonl")):
    runs = [json.loads(line) for line in open(path)]
    print("| table | variant | test scores | validation | epochs (best) | parameters | wall s | CPU s | peak MB | load |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in runs:
        if "error" in r:
            print(f"| {r['table']} | {r['variant']} | failed: {r['error'][-1]} | | | | | | | |")
            continue
        shown = ", ".join(f"{k} {r[k]:.4f}" for k in ("r2", "rmse", "mae", "accuracy", "f1", "auc") if k in r)
        validation = r["validation"]["validation"]
        key = "r2" if "r2" in validation else "accuracy"
        args = f" (`{r['glassnet_args']}`)" if r["glassnet_args"] else ""
        args += f", seed {r['seed']}" if r.get("seed") else ""
        print(f"| {r['table']} | {r['variant']}{args} | {shown} | {key} {validation[key]:.4f} | {r['epochs_run']} "
              f"({r['best_epoch']}) | {r['parameters']:,} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | {r['peak_mb']:.0f} | "
              f"{r['load_before'][0]:.1f}-{r['load_after'][0]:.1f} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
