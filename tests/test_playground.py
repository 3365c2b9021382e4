"""The playground's server without a browser: the data sets, the CSV intake and its limits, the
settings' checks, the WebSocket protocol (frames, play/pause/step, clicks traced by gn.explain),
downloads, and the exported script, which trains to the same weights as the page."""
import json
import math
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import glassnet as gn
from glassnet.errors import DataError
from glassnet.playground import csvdata, datasets, network, script, settings as settings_module

starlette = pytest.importorskip("starlette")
pytest.importorskip("httpx")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note that httpx will be replaced
    from starlette.testclient import TestClient

from glassnet.playground.app import create_app  # noqa: E402

TIMEOUT = 30


@pytest.fixture
def client():
    app = create_app(allowed_hosts=["testserver"])
    with TestClient(app) as c:
        yield c
    assert not app.state.folder.exists()  # the temporary folder is gone with the server


class Page:
    """A WebSocket session as the page holds it: messages collected by type."""

    def __init__(self, ws):
        self.ws = ws
        hello = ws.receive_json()
        assert hello["type"] == "hello"
        self.sid = hello["session"]
        self.reset = self.wait("reset")
        self.frame = self.wait("frame")

    def send(self, **message):
        self.ws.send_text(json.dumps(message))

    def wait(self, kind, until=lambda m: True):
        """The next message of ``kind`` satisfying ``until`` (frames of an older network skipped)."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            m = self.ws.receive_json()
            if m["type"] == "reset":
                self.reset = m
            if m["type"] == "error" and kind != "error":
                raise AssertionError(f"the server answered an error: {m['message']}")
            if m["type"] == kind and until(m):
                if kind == "frame":
                    self.frame = m
                return m
        raise AssertionError(f"no {kind} message within {TIMEOUT} s")

    def settings(self, **changes):
        self.send(type="settings", settings=changes)
        reset = self.wait("reset")
        self.wait("frame", lambda m: m["generation"] == reset["generation"])
        return reset

    def steps(self, n):
        generation = self.reset["generation"]
        target = self.frame["step"] + n
        for _ in range(n):
            self.send(type="step")
        return self.wait("frame", lambda m: m["generation"] == generation and m["step"] >= target and not m["running"])


def open_page(client):
    return client.websocket_connect("/ws")


# -- data ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", datasets.CLASSIFICATION + datasets.REGRESSION)
def test_each_2d_set_is_made_the_same_from_its_seed(name):
    a = datasets.make(name, points=200, noise=0.2, train_fraction=0.6, seed=3)
    b = datasets.make(name, points=200, noise=0.2, train_fraction=0.6, seed=3)
    assert a.x_train.shape == (120, 2) and a.x_test.shape == (80, 2) and a.x_train.dtype == np.float32
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert np.abs(a.x_train).max() < 12
    if name in datasets.CLASSIFICATION:
        assert a.task == "classification" and set(np.unique(a.y_train)) == {0, 1}
    else:
        assert a.task == "regression" and a.y_train.shape == (120, 1) and np.abs(a.y_train).max() <= 1


def test_digits_are_pictures():
    pytest.importorskip("sklearn")
    d = datasets.make("digits", train_fraction=0.5, seed=0)
    assert d.kind == "pictures" and d.picture_shape == (8, 8) and d.x_train.shape[1] == 64
    assert len(d.classes) == 10 and 0 <= d.x_train.min() and d.x_train.max() <= 1


@pytest.mark.skipif(not datasets.os.path.isdir(datasets.FASHION_DIR), reason="Fashion-MNIST not installed")
def test_fashion_mnist_pictures():
    d = datasets.make("fashion", train_fraction=0.8, seed=0)
    assert d.x_train.shape == (2400, 784) and d.picture_shape == (28, 28) and d.classes[9] == "Ankle boot"


CSV = "height,weight,name,label\n" + "".join(
    f"{1.5 + 0.01 * i},{50 + (i * 7) % 40},p{i},{'tall' if i % 3 else 'short'}\n" for i in range(60))


def test_csv_is_read_and_standardized():
    table = csvdata.read(CSV.encode())
    assert table.numeric == ["height", "weight"]
    assert table.describe()["choice"] == {"x1": "height", "x2": "weight", "target": "label", "task": "auto"}
    data = table.points("height", "weight", "label", "auto", 0.5, 0)
    assert data.task == "classification" and data.classes == ("short", "tall")
    allx = np.concatenate([data.x_train, data.x_test])
    np.testing.assert_allclose(allx.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(allx.std(axis=0), 1, atol=1e-5)


def test_csv_regression_target():
    text = "a,b,y\n" + "".join(f"{i},{i % 7},{i * 0.37 + 1}\n" for i in range(40))
    data = csvdata.read(text.encode()).points("a", "b", "y", "auto", 0.5, 0)
    assert data.task == "regression" and data.y_train.shape == (20, 1)


@pytest.mark.parametrize("text, column, expected", [
    ("a,b,c\n1,2,0\nx,3,1\n4,5,0\n6,7,1\n8,9,0\n", ("a", "b", "c"), "the column 'a' needs numbers, but row 3 holds 'x'"),
    ("a,b,c\n1,2,0\n2,3,1\n4,5,0\n6,7,1\n", ("a", "z", "c"), "the second feature column 'z' is not in the table"),
    ("a,b,c\n1,2,0\n2,3,1\n4,5,0\n6,7,1\n", ("a", "a", "c"), "three different columns"),
    ("a,b,c\n1,2,0\n1,3,1\n1,5,0\n1,7,1\n", ("a", "b", "c"), "same value in every row"),
    ("a,b,c\n1,2,0\n2,3,0\n4,5,0\n6,7,0\n", ("a", "b", "c"), "only one class"),
    ("a,b,c\n1,2,0\n,3,1\n4,5,0\n", ("a", "b", "c"), "only 2 rows have all of"),
])
def test_csv_mistakes_are_named(text, column, expected):
    with pytest.raises(DataError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        csvdata.read(text.encode()).points(*column)


@pytest.mark.parametrize("data, expected", [
    (b"\xff\xfe\x00a", "not UTF-8"),
    (b"a,b,c\n", "header row"),
    (b"a,b\n1,2\n", "two feature columns and a target"),
    (b"a,b,c\n1,2\n", "row 2 has 2 cells"),
    (b"a,a,c\n1,2,3\n", "names the column 'a' twice"),
    ("a,b,c\n".encode() + b"1,2,3\n" * (csvdata.MAX_ROWS + 5), "more than 10,000 rows"),
    (b"a,b,c\n1,2,3" + b"0" * csvdata.MAX_BYTES, "at most 5,242,880"),
])
def test_bad_files_are_refused(data, expected):
    with pytest.raises(DataError, match=expected):
        csvdata.read(data)


# -- settings ------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, expected", [
    ({"learning_rate": 1e9}, "learning rate must be between 1e-06 and 10, got 1e+09"),
    ({"learning_rate": "fast"}, "learning rate must be a number"),
    ({"hidden": [3] * 50}, "at most 6 hidden layers, got 50"),
    ({"hidden": [1000]}, "neurons of a layer must be between 1 and 16"),
    ({"batch_size": 0}, "batch size must be between 1"),
    ({"dropout": 1.0}, "dropout rate must be between 0 and 0.9"),
    ({"dataset": "../../etc/passwd"}, "dataset must be one of"),
    ({"path": "/tmp/x"}, "unknown setting 'path'"),
    ({"early_stopping": "yes"}, "early_stopping must be true or false"),
])
def test_settings_are_checked(changes, expected):
    with pytest.raises(settings_module.SettingsError, match=expected.replace("+", r"\+")):
        settings_module.check(changes)


# -- the server --------------------------------------------------------------------------------

def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and 'data-testid="play"' in page.text
    assert "Content-Security-Policy" in page.headers
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/static/../session.py").status_code == 404
    assert client.get("/api/health").json() == {"ok": True, "sessions": 0}


def test_other_hosts_and_origins_are_refused(client):
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400
    with pytest.raises(Exception):
        with client.websocket_connect("/ws", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_json()


def test_frames_play_pause_and_step(client):
    with open_page(client) as ws:
        page = Page(ws)
        assert page.reset["network"]["sizes"] == [2, 4, 2, 1]
        frame = page.frame
        assert frame["step"] == 0 and frame["epoch"] == 0 and frame["grid"]["size"] == 100
        assert len(frame["neurons"]["layers"]) == 2 and math.isfinite(frame["loss"])
        page.settings(dataset="spiral", hidden=[8, 8], optimizer="adam", learning_rate=0.03, batch_size=25)
        frame = page.steps(3)
        assert frame["step"] == 3 and frame["epoch"] == 0
        page.send(type="play")
        frame = page.wait("frame", lambda m: m["epoch"] >= 40)
        assert frame["running"] and frame["loss"] < frame["initial"][0]
        page.send(type="pause")
        paused = page.wait("state", lambda m: not m["running"])
        time.sleep(0.3)
        page.send(type="step")
        frame = page.wait("frame", lambda m: not m["running"] and m["step"] == paused["step"] + 1)
        assert frame["diagnosis"]["verdict"] in ("underfit", "good fit", "overfit", "unstable", "too noisy to tell")


def test_bad_messages_get_a_message_and_the_server_answers(client):
    with open_page(client) as ws:
        page = Page(ws)
        ws.send_text("not json")
        assert "not JSON" in page.wait("error")["message"]
        ws.send_bytes(b"\x00\x01")
        assert "JSON text" in page.wait("error")["message"]
        ws.send_text("x" * 70_000)
        assert "over the limit" in page.wait("error")["message"]
        page.send(type="settings", settings={"learning_rate": 1e9})
        assert page.wait("error")["message"] == "learning rate must be between 1e-06 and 10, got 1e+09"
        page.send(type="settings", settings={"hidden": [2] * 50})
        assert "at most 6 hidden layers" in page.wait("error")["message"]
        page.send(type="explain", set="train", index=10 ** 9)
        assert "no train example" in page.wait("error")["message"]
        page.send(type="weight", layer=7, row=0, column=0)
        assert "no such layer" in page.wait("error")["message"]
        page.send(type="rm -rf")
        assert "unknown message type" in page.wait("error")["message"]
        assert client.get("/api/health").json()["sessions"] == 1
        page.steps(1)  # still training


def test_upload_limits_and_errors(client):
    with open_page(client) as ws:
        page = Page(ws)
        url = f"/api/{page.sid}/csv"
        big = client.post(url, content=b"a,b,c\n", headers={"content-length": str(500 * 1024 * 1024)})
        assert big.status_code == 413 and "5,242,880" in big.json()["error"]

        def chunks():  # no Content-Length: cut off while reading
            for _ in range(6):
                yield b"1,2,3\n" * (1024 * 1024 // 6)
        streamed = client.post(url, content=chunks())
        assert streamed.status_code == 413
        text = client.post(url, content=b"a,b,c\n1,2,x\nfoo,4,y\n5,6,x\n7,8,y\n")
        assert text.status_code == 200 and text.json()["numeric"] == ["b"]
        page.send(type="settings", settings={"dataset": "csv", "csv": {"x1": "a", "x2": "b", "target": "c"}})
        assert page.wait("error")["message"] == "the column 'a' needs numbers, but row 3 holds 'foo'"
        page.send(type="settings", settings={"dataset": "csv", "csv": {"x1": "b", "x2": "nope", "target": "c"}})
        assert "the second feature column 'nope' is not in the table" in page.wait("error")["message"]
        assert client.post("/api/nosuchsession/csv", content=b"a").status_code == 404
        assert client.get("/api/health").status_code == 200


def test_csv_upload_then_train(client):
    with open_page(client) as ws:
        page = Page(ws)
        answer = client.post(f"/api/{page.sid}/csv", content=CSV.encode()).json()
        reset = page.settings(dataset="csv", csv=answer["choice"], learning_rate=0.1)
        assert reset["data"]["features"] == ["height", "weight"] and reset["data"]["classes"] == ["short", "tall"]
        frame = page.steps(5)
        assert frame["step"] == 5


def test_clicked_point_is_gn_explain(client):
    with open_page(client) as ws:
        page = Page(ws)
        reset = page.settings(dataset="xor", hidden=[3, 2], optimizer="momentum", learning_rate=0.1, l2=0.001)
        page.send(type="explain", set="train", index=4)
        trace = page.wait("trace")
        s = reset["settings"]
        data = datasets.make(s["dataset"], s["points"], s["noise"], s["train_fraction"], s["seed"])
        model = network.build(s, data)  # step 0: the seed's weights
        y = network.targets(data.y_train, s["output"])
        expected = gn.explain(model, data.x_train[4:5], y[4:5], optimizer=network.optimizer(s))
        dense = [t for t in expected.layers if t.kind == "dense"]
        assert len(trace["layers"]) == len(dense) == 3
        for got, want in zip(trace["layers"], dense):
            assert got["z"] == want.z[0].tolist() and got["outputs"] == want.outputs[0].tolist()
            assert got["dz"] == want.dz[0].tolist() and got["d_weight"] == want.d_weight.tolist()
        assert trace["loss"] == expected.loss and trace["penalty"] == expected.penalty > 0
        name = "dense.weight"
        assert trace["updates"][name]["after"] == expected.updates[name][2].tolist()
        assert trace["gradcheck"] == "ok"


def test_dropout_is_left_out_of_the_trace(client):
    with open_page(client) as ws:
        page = Page(ws)
        page.settings(dropout=0.2)
        page.send(type="explain", set="test", index=0)
        trace = page.wait("trace")
        assert "dropout is left out" in trace["note"] and len(trace["layers"]) == 3


def test_weight_value_gradient_and_history(client):
    with open_page(client) as ws:
        page = Page(ws)
        page.steps(4)
        page.send(type="weight", layer=1, row=0, column=1)
        w = page.wait("weight")
        assert w["steps"] == [0, 1, 2, 3, 4] and len(w["history"]) == 5 and w["history"][-1] == w["value"]
        assert w["gradient"] is not None and w["name"] == "dense_1.weight"
        page.send(type="weight", layer=0, row=-1, column=0)
        assert page.wait("weight")["name"] == "dense.bias"


def _train_and_download(client, tmp_path, changes, steps, csv=None):
    with open_page(client) as ws:
        page = Page(ws)
        if csv is not None:
            answer = client.post(f"/api/{page.sid}/csv", content=csv.encode()).json()
            changes = dict(changes, dataset="csv", csv=answer["choice"])
        page.settings(**changes)
        page.send(type="play")
        page.wait("frame", lambda m: m["step"] >= steps // 2)
        page.send(type="pause")
        page.wait("state", lambda m: not m["running"])
        page.steps(3)  # and a few single steps, ending mid-epoch more often than not
        frame = page.frame
        files = {}
        for kind, name in (("model", "page.glassnet"), ("script", "playground_model.py"), ("onnx", "page.onnx")):
            response = client.get(f"/api/{page.sid}/download/{kind}")
            assert response.status_code == 200, response.text
            (tmp_path / name).write_bytes(response.content)
            files[kind] = tmp_path / name
        return frame, files


@pytest.mark.parametrize("changes, csv", [
    ({"dataset": "spiral", "hidden": [8, 8], "optimizer": "adam", "learning_rate": 0.03, "batch_size": 7,
      "noise": 0.1, "seed": 5}, None),
    ({"dataset": "moons", "hidden": [6], "optimizer": "momentum", "learning_rate": 0.05, "batch_size": 1,
      "l1": 0.001, "l2": 0.002, "dropout": 0.2, "early_stopping": True, "patience": 3, "output": "softmax"}, None),
    ({"dataset": "bumps", "hidden": [8, 4], "activation": "relu", "optimizer": "sgd", "learning_rate": 0.01,
      "batch_size": 32, "output": "linear_mae"}, None),
    ({"hidden": [5], "learning_rate": 0.1, "batch_size": 4}, CSV),
])
def test_the_script_trains_to_the_same_weights(client, tmp_path, changes, csv):
    frame, files = _train_and_download(client, tmp_path, changes, 300, csv)
    run = subprocess.run([sys.executable, files["script"].name], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    page_model = gn.load(str(files["model"]))
    script_model = gn.load(str(tmp_path / "playground_model.glassnet"))
    assert frame["step"] > 0
    for a, b in zip(page_model.get_weights(), script_model.get_weights()):
        np.testing.assert_array_equal(a, b)  # bit for bit: the same fit, the same seed, the same steps
    onnxruntime = pytest.importorskip("onnxruntime")
    sess = onnxruntime.InferenceSession(str(files["onnx"]))
    x = np.random.default_rng(0).normal(size=(5, page_model.input_shape[0])).astype(np.float32)
    out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(out, page_model.predict(x), rtol=1e-5, atol=1e-6)


def test_script_text_builds_the_settings_network():
    s = settings_module.check({"hidden": [3], "l2": 0.01, "dropout": 0.5, "optimizer": "adam", "learning_rate": 0.002})
    data = datasets.make("circle", seed=0)
    text = script.write(s, data, 0)
    assert "gn.layers.Dropout(0.5)" in text and "gn.optimizers.Adam(0.002)" in text and "STEPS = 0" in text
    compile(text, "playground_model.py", "exec")


def test_downloads_refuse_unknown_kinds_and_sessions(client):
    with open_page(client) as ws:
        page = Page(ws)
        assert client.get(f"/api/{page.sid}/download/passwd").status_code == 404
        assert client.get("/api/0000/download/model").status_code == 404


def test_each_tab_has_its_own_session(client):
    with open_page(client) as a, open_page(client) as b:
        pa, pb = Page(a), Page(b)
        assert pa.sid != pb.sid
        pa.settings(dataset="xor")
        pa.steps(2)
        assert pb.frame["step"] == 0 and pb.reset["settings"]["dataset"] == "circle"
        assert client.get("/api/health").json()["sessions"] == 2


def test_too_many_sessions_get_a_message():
    app = create_app(allowed_hosts=["testserver"], max_sessions=1)
    with TestClient(app) as c, open_page(c) as first:
        Page(first)
        with open_page(c) as second:
            m = second.receive_json()
            assert m["type"] == "error" and "at most 1 tabs" in m["message"]


def test_command_line_lists_the_playground():
    from glassnet.cli import build_parser
    parser = build_parser()
    args = parser.parse_args(["playground", "--no-browser", "--port", "0"])
    assert args.no_browser and args.port == 0 and args.host == "127.0.0.1"


def test_the_page_ships_as_package_data():
    import pathlib
    import tomllib
    root = pathlib.Path(__file__).parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text())
    assert config["tool"]["setuptools"]["package-data"]["glassnet.playground"] == ["static/*"]
    assert "starlette>=0.37" in config["project"]["optional-dependencies"]["playground"]
    static = root / "glassnet" / "playground" / "static"
    assert sorted(p.name for p in static.iterdir()) == ["app.js", "index.html", "style.css"]
    assert "http" not in (static / "index.html").read_text().replace("http://www.w3.org", "")  # no CDN


def test_a_diverging_network_is_drawn_not_fatal(client):
    with open_page(client) as ws:
        page = Page(ws)
        page.settings(dataset="bumps", hidden=[16, 16], activation="relu", output="linear_mse",
                      learning_rate=10.0, batch_size=1)
        page.send(type="play")
        frame = page.wait("frame", lambda m: m["epoch"] >= 3)
        page.send(type="pause")
        page.wait("state", lambda m: not m["running"])
        assert frame["loss"] is None or frame["loss"] > 1  # NaN goes to the page as null
        page.send(type="explain", set="train", index=0)
        page.wait("trace")
        assert client.get("/api/health").status_code == 200


def test_the_command_names_the_extra_when_starlette_is_missing(monkeypatch, capsys):
    from glassnet.cli import main
    monkeypatch.setitem(sys.modules, "starlette", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "glassnet.playground.app", raising=False)
    assert main(["playground", "--no-browser"]) == 1
    assert "needs starlette, which is not installed: pip install 'glassnet[playground]'" in capsys.readouterr().err


def test_a_host_other_than_this_machine_is_warned_about(monkeypatch, capsys):
    from glassnet.cli import main
    from glassnet.playground import app
    served = []
    monkeypatch.setattr(app, "serve", lambda host, port, open_browser: served.append((host, port, open_browser)))
    assert main(["playground", "--host", "0.0.0.0", "--port", "9999", "--no-browser"]) == 0
    assert served == [("0.0.0.0", 9999, False)] and "warning: serving on 0.0.0.0" in capsys.readouterr().err
    assert main(["playground", "--no-browser"]) == 0
    assert served[-1] == ("127.0.0.1", 8765, False) and "warning" not in capsys.readouterr().err


def test_early_stopping_ends_the_run_and_the_script_stops_there_too(client, tmp_path):
    with open_page(client) as ws:
        page = Page(ws)
        page.settings(dataset="gaussians", noise=0.5, hidden=[8, 8], optimizer="adam", learning_rate=0.1,
                      early_stopping=True, patience=2, batch_size=50)
        page.send(type="play")
        state = page.wait("state", lambda m: m["finished"] is not None)
        assert state["finished"].startswith("early stopping ended training at epoch") and not state["running"]
        page.send(type="play")
        assert "reset to train again" in page.wait("error")["message"]
        (tmp_path / "page.glassnet").write_bytes(client.get(f"/api/{page.sid}/download/model").content)
        (tmp_path / "playground_model.py").write_bytes(client.get(f"/api/{page.sid}/download/script").content)
    run = subprocess.run([sys.executable, "playground_model.py"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    page_model, script_model = gn.load(str(tmp_path / "page.glassnet")), gn.load(str(tmp_path / "playground_model.glassnet"))
    assert len(page_model.history.history["loss"]) == len(script_model.history.history["loss"])
    for a, b in zip(page_model.get_weights(), script_model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_speed_setting_paces_the_steps(client):
    with open_page(client) as ws:
        page = Page(ws)
        page.settings(speed="10")
        page.send(type="play")
        first = page.wait("frame", lambda m: m["running"] and m["step"] >= 1)
        time.sleep(1.0)
        page.send(type="weight", layer=0, row=0, column=0)  # a message while running must not end the pacing
        time.sleep(1.0)
        page.send(type="pause")
        state = page.wait("state", lambda m: not m["running"])
        assert 10 <= state["step"] - first["step"] <= 30, state["step"] - first["step"]


def test_a_second_csv_with_the_same_columns_replaces_the_first(client):
    with open_page(client) as ws:
        page = Page(ws)
        first = "a,b,y\n" + "".join(f"{i},{i % 5},{i % 2}\n" for i in range(40))
        second = "a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(60))
        choice = client.post(f"/api/{page.sid}/csv", content=first.encode()).json()["choice"]
        assert page.settings(dataset="csv", csv=choice)["data"]["train"] == 20
        client.post(f"/api/{page.sid}/csv", content=second.encode())
        assert page.settings(dataset="csv", csv=choice)["data"]["train"] == 30
