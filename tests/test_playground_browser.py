"""The playground in a real browser: headless Chromium (Debian's ``chromium`` package) driven by
Playwright's Python package pointed at it (never ``playwright install``). Skipped where either is
missing. The server is the command line's: ``python -m glassnet playground --no-browser``."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

import glassnet as gn
from glassnet.playground import datasets, network

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("CHROMIUM") or next(
    (path for path in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if path), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")
TIMEOUT_MS = 30_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url):
    try:
        with urllib.request.urlopen(url + "api/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def server():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "glassnet", "playground", "--no-browser", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while not healthy(url):
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "the playground did not start within 60 s"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    # bypass_csp: Playwright's wait_for_function evaluates strings, which the page's CSP forbids
    context = browser.new_context(bypass_csp=True, accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(server)
    page.wait_for_function("window.playground.frames > 0")
    yield page
    context.close()


def value(page, testid):
    return float(page.get_attribute(f"[data-testid={testid}]", "data-value"))


def settle(page, generation):
    """Wait for the frame of the network after the ``generation``-th reset."""
    page.wait_for_function(f"window.playground.state.generation > {generation} && window.playground.state.frame "
                           f"&& window.playground.state.frame.generation === window.playground.state.generation")


def generation(page):
    return page.evaluate("window.playground.state.generation")


def choose(page, testid_or_selector, action):
    g = generation(page)
    action(testid_or_selector)
    settle(page, g)


def test_page_loads_without_console_errors(page):
    assert page.evaluate("window.playground.firstFrameAt") < 10_000
    for testid in ("epoch", "train-loss", "test-loss", "play"):
        assert page.locator(f"[data-testid={testid}]").count() == 1
    assert page.inner_text("[data-testid=epoch]") == "0"
    assert page.inner_text("[data-testid=play]") == "Play"
    assert page.errors == []


def test_train_on_the_spiral_and_the_test_loss_falls(page):
    choose(page, "[data-testid=dataset-spiral]", page.click)
    for layer, clicks in ((0, 4), (1, 4)):  # 2-4-2-1 -> 2-8-6-1, one click a neuron
        for _ in range(clicks):
            g = generation(page)
            page.click(f"[data-testid=add-neuron-{layer}]")
            settle(page, g)
    assert page.evaluate("window.playground.state.network.sizes") == [2, 8, 6, 1]
    for sel, text in (("#optimizer", "adam"),):
        g = generation(page)
        page.select_option(sel, text)
        settle(page, g)
    page.fill("#learning_rate", "0.04")
    g = generation(page)
    page.press("#learning_rate", "Enter")
    page.locator("#learning_rate").blur()
    settle(page, g)
    before = value(page, "test-loss")
    page.click("[data-testid=play]")
    page.wait_for_function("document.querySelector('[data-testid=play]').textContent === 'Pause'")
    # 500 epochs: the test loss then about 0.4 from 0.71 (at 300 it was 0.42 to 0.50, and a run paused at
    # exactly 300 on a slow machine ended at 0.502, just above the 0.7x asked for)
    page.wait_for_function("Number(document.querySelector('[data-testid=epoch]').textContent) >= 500")
    page.click("[data-testid=play]")
    page.wait_for_function("document.querySelector('[data-testid=play]').textContent === 'Play'")
    after = value(page, "test-loss")
    assert after < 0.7 * before, (before, after)
    assert page.errors == []


def test_upload_a_csv_and_train(page, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    rows = ["weight,height,colour,class"] + [f"{a:.4f},{b:.4f},{'red' if a > 0 else 'blue'},{'in' if a * a + b * b < 1.2 else 'out'}"
                                             for a, b in x]
    path = tmp_path / "mine.csv"
    path.write_text("\n".join(rows) + "\n")
    g = generation(page)
    page.set_input_files("[data-testid=csv-file]", str(path))
    settle(page, g)
    assert page.evaluate("window.playground.state.data.features") == ["weight", "height"]
    assert page.evaluate("window.playground.state.data.classes") == ["in", "out"]
    page.click("[data-testid=play]")
    page.wait_for_function("Number(document.querySelector('[data-testid=epoch]').textContent) >= 5")
    page.click("[data-testid=play]")
    assert page.is_hidden("[data-testid=message]")
    assert page.errors == []


def test_click_a_point_shows_gn_explains_numbers(page):
    choose(page, "[data-testid=dataset-xor]", page.click)
    state = page.evaluate("({settings: window.playground.state.settings, point: window.playground.state.data.train_points[7],"
                          " domain: window.playground.state.data.domain})")
    box = page.locator("#view").bounding_box()
    (lo, hi), (x1, x2, _) = state["domain"], state["point"]
    page.mouse.click(box["x"] + (x1 - lo) / (hi - lo) * box["width"], box["y"] + (hi - x2) / (hi - lo) * box["height"])
    page.wait_for_selector("[data-testid=z-0-0]")
    shown = page.evaluate("window.playground.lastTrace")
    s = state["settings"]
    data = datasets.make(s["dataset"], s["points"], s["noise"], s["train_fraction"], s["seed"])
    x, y = (data.x_train, data.y_train) if shown["set"] == "train" else (data.x_test, data.y_test)
    i = shown["index"]
    model = network.build(s, data)  # step 0: the seed's weights, as on the page
    trace = gn.explain(model, x[i:i + 1], network.targets(y, s["output"])[i:i + 1], optimizer=network.optimizer(s))
    dense = [t for t in trace.layers if t.kind == "dense"]
    for l, t in enumerate(dense):
        for j in range(t.units):
            assert value(page, f"z-{l}-{j}") == t.z[0, j]
            assert value(page, f"a-{l}-{j}") == t.outputs[0, j]
            assert value(page, f"dz-{l}-{j}") == t.dz[0, j]
            assert value(page, f"db-{l}-{j}") == t.d_bias[j]
            for k in range(t.weight.shape[0]):
                assert value(page, f"dw-{l}-{k}-{j}") == t.d_weight[k, j]
    assert value(page, "trace-loss") == trace.data_loss
    assert value(page, "trace-loss-after") == trace.loss_after
    # and a weight: its value, gradient and history
    page.click("[data-testid=step]")
    page.wait_for_function("window.playground.step === 1")
    page.locator("[data-testid=weight-0-1-0]").dispatch_event("click")
    page.wait_for_selector("[data-testid=weight-value]")
    assert value(page, "weight-value") == float(page.evaluate("window.playground.state.frame.weights[0].w[1][0]")) \
        or abs(value(page, "weight-value") - page.evaluate("window.playground.state.frame.weights[0].w[1][0]")) < 1e-5
    assert page.errors == []


def test_download_the_script_run_it_same_weights(page, tmp_path):
    choose(page, "[data-testid=dataset-moons]", page.click)
    g = generation(page)
    page.select_option("#optimizer", "momentum")
    settle(page, g)
    page.click("[data-testid=play]")
    page.wait_for_function("window.playground.step >= 200")
    page.click("[data-testid=play]")
    page.wait_for_function("window.playground.state.frame.running === false")  # the frame drawn at the pause
    for _ in range(3):
        step = page.evaluate("window.playground.state.frame.step")  # the frame received (drawn at the next paint)
        page.click("[data-testid=step]")
        page.wait_for_function(f"window.playground.state.frame.step === {step + 1}")
    files = {}
    for kind in ("model", "script", "onnx"):
        with page.expect_download() as info:
            page.click(f"[data-testid=download-{kind}]")
        files[kind] = tmp_path / info.value.suggested_filename
        info.value.save_as(files[kind])
    assert files["script"].name == "playground_model.py"
    files["model"] = files["model"].rename(tmp_path / "page.glassnet")
    run = subprocess.run([sys.executable, "playground_model.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    for a, b in zip(gn.load(str(files["model"])).get_weights(),
                    gn.load(str(tmp_path / "playground_model.glassnet")).get_weights()):
        np.testing.assert_array_equal(a, b)
    assert files["onnx"].stat().st_size > 0
    assert page.errors == []


def test_a_bad_csv_gives_a_message_and_the_server_still_answers(page, server, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("x,y,label\n1,2,a\nthree,4,b\n5,6,a\n7,8,b\n")
    page.set_input_files("[data-testid=csv-file]", str(path))
    page.wait_for_selector("[data-testid=message]:not([hidden])")
    assert "two numeric columns" in page.inner_text("[data-testid=message]")
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    page.set_input_files("[data-testid=csv-file]", str(path))
    page.wait_for_function("document.querySelector('[data-testid=message]').textContent.includes('not UTF-8')")
    path = tmp_path / "big.csv"
    path.write_bytes(b"a,b,c\n" + b"1,2,3\n" * (1024 * 1024))  # 6 MiB: over the limit, refused before sending
    page.set_input_files("[data-testid=csv-file]", str(path))
    page.wait_for_function("document.querySelector('[data-testid=message]').textContent.includes('at most 5,242,880')")
    page.fill("#learning_rate", "1e9")
    page.locator("#learning_rate").blur()
    page.wait_for_function("document.querySelector('[data-testid=message]').textContent.includes('learning rate')")
    assert healthy(server)
    page.click("[data-testid=step]")
    page.wait_for_function("window.playground.step === 1")
    # the browser logs the refused upload's HTTP 400 itself; nothing else may be an error
    assert [e for e in page.errors if "status of 400" not in e] == []


def test_digits_show_pictures_and_first_layer_weights(page):
    pytest.importorskip("sklearn")
    choose(page, "[data-testid=dataset-digits]", page.click)
    assert page.is_visible("[data-testid=pictures]") and page.is_hidden("[data-testid=view]")
    assert page.locator("[data-testid=first-weights] canvas").count() == 4  # the default 4-2 network
    page.click("[data-testid=step]")
    page.wait_for_function("window.playground.step === 1")
    page.click("[data-testid=picture-0]")
    page.wait_for_selector("[data-testid=z-0-0]")
    assert page.evaluate("window.playground.lastTrace.layers[0].wide")
    assert page.errors == []
