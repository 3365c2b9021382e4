"""How fast the playground's page moves: training steps and boundary frames that reach the page
each second, and the time to the first frame, measured in headless Chromium.

    python benchmarks/playground.py                       # prints a table, writes nothing
    python benchmarks/playground.py --out benchmarks/results/2026-12-01_playground

It starts ``python -m glassnet playground --no-browser`` on a free port, opens the page in
Debian's Chromium through Playwright (``--chromium`` names another binary), and for each setup
(a 2-8-8-1 tanh network on 500 training points and 125 test points, SGD, by default batch sizes
10, 1 and 500) presses play and reads the page's own counters (``window.playground``: the step
of the last frame drawn, the number of frames drawn) at the start and the end of ``--seconds``
of training. The first frame is ``performance.now()`` (milliseconds since the navigation
started) when the page drew it, over ``--loads`` fresh page loads; the page's requirements are
300 steps/s, 20 frames/s of a 100 x 100 grid, and a first frame within 2 s.
"""
import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

SETUPS = [  # name, settings
    ("batch 10", {"batch_size": 10}),
    ("batch 1", {"batch_size": 1}),
    ("full batch (500)", {"batch_size": 500}),
]
BASE = {"dataset": "spiral", "points": 625, "train_fraction": 0.8, "hidden": [8, 8], "activation": "tanh",
        "output": "sigmoid", "optimizer": "sgd", "learning_rate": 0.03, "noise": 0.1, "seed": 0}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url, process, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url + "api/health", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def measure(args):
    from playwright.sync_api import sync_playwright
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([sys.executable, "-m", "glassnet", "playground", "--no-browser", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_before": load_average(),
                           "chromium": args.chromium},
               "settings": BASE, "seconds": args.seconds, "first_frame_ms": [], "setups": []}
    try:
        wait_healthy(url, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"])
            for _ in range(args.loads):  # the first frame of a fresh page
                context = browser.new_context(bypass_csp=True)
                page = context.new_page()
                page.goto(url)
                page.wait_for_function("window.playground.firstFrameAt !== null", timeout=30_000)
                results["first_frame_ms"].append(page.evaluate("window.playground.firstFrameAt"))
                context.close()
            context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(url)
            page.wait_for_function("window.playground.frames > 0")
            for name, changes in SETUPS:
                generation = page.evaluate("window.playground.state.generation")
                page.evaluate(f"window.playground.send({json.dumps({'type': 'settings', 'settings': {**BASE, **changes}})})")
                page.wait_for_function(f"window.playground.state.generation > {generation} && "
                                       "window.playground.state.frame && window.playground.state.frame.generation "
                                       "=== window.playground.state.generation")
                assert page.evaluate("window.playground.state.network.sizes") == [2, 8, 8, 1]
                page.click("[data-testid=play]")
                time.sleep(args.warmup)
                start = page.evaluate("[performance.now(), window.playground.step, window.playground.frames]")
                time.sleep(args.seconds)
                end = page.evaluate("[performance.now(), window.playground.step, window.playground.frames, "
                                    "Number(document.querySelector('[data-testid=epoch]').textContent)]")
                page.click("[data-testid=play]")
                seconds = (end[0] - start[0]) / 1000
                row = {"setup": name, "batch_size": changes["batch_size"], "seconds": round(seconds, 3),
                       "steps_per_s": round((end[1] - start[1]) / seconds, 1),
                       "frames_per_s": round((end[2] - start[2]) / seconds, 2), "epochs_at_end": end[3],
                       "load": load_average()}
                results["setups"].append(row)
                print(f"{name:>18}: {row['steps_per_s']:8.1f} steps/s, {row['frames_per_s']:5.1f} frames/s "
                      f"(load {row['load']:.2f})", flush=True)
            context.close()
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    ff = results["first_frame_ms"]
    results["first_frame_median_ms"] = statistics.median(ff)
    print(f"first frame: median {statistics.median(ff):.0f} ms, max {max(ff):.0f} ms over {len(ff)} page loads")
    return results


def markdown(results):
    lines = ["# The playground's speed", "",
             f"2-8-8-1 tanh network, sigmoid output, SGD, spiral with 500 training and 125 test points; "
             f"{results['seconds']} s of training per setup, counted by the page in headless Chromium; "
             f"{results['machine']['cpus']} CPU cores, load {results['machine']['load_before']:.2f} before the run.", "",
             "| setup | steps/s reaching the page | boundary frames/s (100 x 100) | load |", "| --- | --- | --- | --- |"]
    for row in results["setups"]:
        lines.append(f"| {row['setup']} | {row['steps_per_s']:.0f} | {row['frames_per_s']:.1f} | {row['load']:.2f} |")
    ff = results["first_frame_ms"]
    lines += ["", f"First frame after opening the page: median {statistics.median(ff):.0f} ms, "
                  f"max {max(ff):.0f} ms over {len(ff)} loads (the page's performance.now() when it drew the first frame).",
              "", "Requirements: 300 steps/s, 20 frames/s, first frame within 2 s."]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="training time measured per setup")
    parser.add_argument("--warmup", type=float, default=1.0, help="training time before measuring")
    parser.add_argument("--loads", type=int, default=5, help="page loads for the first-frame time")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    parser.add_argument("--out", help="a folder for results.json and summary.md")
    args = parser.parse_args()
    if not args.chromium:
        raise SystemExit("no chromium found: apt-get install chromium, or pass --chromium PATH")
    results = measure(args)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
        with open(os.path.join(args.out, "summary.md"), "w") as f:
            f.write(markdown(results))


if __name__ == "__main__":
    main()
