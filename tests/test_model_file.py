"""Model files: round trips, exact resume, atomic writes, and refusing every kind of damaged file."""
import json
import os

import numpy as np
import pytest
import safetensors.numpy

import glassnet as gn
from glassnet import layers
from glassnet.io import model_file


def data(n=60, features=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = (rng.standard_normal((n, features)) + np.eye(features)[y % features] * 2).astype(np.float32)
    return x, y


def small_model(seed=0, dtype="float32", optimizer=None):
    model = gn.Sequential([layers.Input((4,)),
                           layers.Dense(8, activation="relu", kernel_regularizer=gn.regularizers.L2(1e-3)),
                           layers.Dropout(0.25),
                           layers.Dense(3, activation="softmax")], seed=seed, dtype=dtype)
    model.compile(optimizer=optimizer or gn.optimizers.Adam(gn.schedules.ExponentialDecay(0.01, 10, 0.9)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def assert_same_model(a, b):
    assert a.get_config() == b.get_config()
    assert a.get_compile_config() == b.get_compile_config()
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert wa.dtype == wb.dtype
        np.testing.assert_array_equal(wa, wb)
    assert a.preprocessing == b.preprocessing and a.metadata == b.metadata
    assert (a.history.history if a.history else None) == (b.history.history if b.history else None)


@pytest.fixture
def trained(tmp_path):
    x, y = data()
    model = small_model()
    model.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0)
    model.preprocessing = {"columns": ["a", "b", "c", "d"]}
    model.metadata = {"note": "kept"}
    path = tmp_path / "model.safetensors"
    model.save(path)
    return model, path, (x, y)


# -- round trips -------------------------------------------------------------------------------------
def test_round_trip_keeps_everything(trained):
    model, path, (x, _) = trained
    loaded = gn.load(path)
    assert_same_model(model, loaded)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.history.history["val_loss"] == model.history.history["val_loss"]
    assert isinstance(loaded.optimizer.get_config()["learning_rate"], dict)  # the schedule survived
    assert loaded.optimizer.iterations == 0  # no optimizer state unless asked for


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_of_an_untrained_uncompiled_model(tmp_path, dtype):
    model = gn.Sequential([layers.Input((5,)), layers.Dense(2, activation="tanh")], seed=3, dtype=dtype)
    model.save(tmp_path / "m.safetensors")
    loaded = gn.load(tmp_path / "m.safetensors")
    assert loaded.optimizer is None and loaded.dtype == np.dtype(dtype)
    assert_same_model(model, loaded)


def test_a_file_is_safetensors_with_json_metadata(trained):
    _, path, _ = trained
    with safetensors.safe_open(path, "np") as file:
        metadata = file.metadata()
        names = set(file.keys())
    assert metadata["format"] == "glassnet-model" and metadata["format_version"] == "1"
    assert json.loads(metadata["model"])["layers"][0]["class_name"] == "Dense"
    assert names == {"params/dense.weight", "params/dense.bias", "params/dense_1.weight", "params/dense_1.bias"}


@pytest.mark.parametrize("make_optimizer", [
    lambda: None,  # small_model's Adam with an exponential decay
    lambda: gn.optimizers.Nadam(gn.schedules.OneCycle(0.02, total_steps=30)),
    lambda: gn.optimizers.Adagrad(0.05, weight_decay=1e-3),
    lambda: gn.optimizers.Adamax(gn.schedules.CosineDecay(0.0, 20, warmup_target=0.01, warmup_steps=5)),
], ids=["adam", "nadam_one_cycle", "adagrad", "adamax_warmup_cosine"])
def test_include_optimizer_resumes_exactly(tmp_path, make_optimizer):
    x, y = data()
    straight = small_model(seed=7, optimizer=make_optimizer())
    straight.fit(x, y, epochs=5, batch_size=8, validation_split=0.2, verbose=0)

    first = small_model(seed=7, optimizer=make_optimizer())
    first.fit(x, y, epochs=2, batch_size=8, validation_split=0.2, verbose=0)
    first.save(tmp_path / "half.safetensors", include_optimizer=True)
    resumed = gn.load(tmp_path / "half.safetensors")
    assert resumed.optimizer.iterations == first.optimizer.iterations
    resumed.fit(x, y, epochs=5, batch_size=8, validation_split=0.2, verbose=0, initial_epoch=2)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_saving_needs_a_built_model_and_named_metrics(tmp_path):
    with pytest.raises(gn.NotBuiltError, match="build it"):
        gn.Sequential([layers.Dense(3)]).save(tmp_path / "m.safetensors")
    model = gn.Sequential([layers.Input((2,)), layers.Dense(1)])
    model.compile("sgd", "mse", metrics=[gn.metrics.LossMetric("custom", gn.losses.MeanAbsoluteError())])
    with pytest.raises(gn.ConfigurationError, match="metrics by name"):
        model.save(tmp_path / "m.safetensors")
    with pytest.raises(gn.NotCompiledError):
        gn.Sequential([layers.Input((2,)), layers.Dense(1)]).save(tmp_path / "m.safetensors",
                                                                   include_optimizer=True)
    assert not os.listdir(tmp_path)


# -- atomic writes -------------------------------------------------------------------------------------
def test_a_failed_write_leaves_the_old_file_untouched(trained, monkeypatch):
    model, path, _ = trained
    before = path.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", full_disk)
    model.fit(*data(), epochs=1, verbose=0)
    with pytest.raises(OSError, match="No space"):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind


def test_write_errors_name_the_problem(trained, tmp_path):
    model, path, _ = trained
    with pytest.raises(FileNotFoundError, match="folder to write into does not exist"):
        model.save(tmp_path / "missing" / "m.safetensors")
    with pytest.raises(FileExistsError, match="will not overwrite"):
        model.save(path, overwrite=False)


# -- damaged files -------------------------------------------------------------------------------------
def rewrite(path, tensors=None, **metadata_changes):
    """Re-save ``path`` with changed metadata or tensors and a *valid* checksum, so that the check
    under test is the one that must catch the problem."""
    with safetensors.safe_open(path, "np") as file:
        metadata = file.metadata()
        arrays = {k: file.get_tensor(k) for k in file.keys()}
    arrays = tensors(arrays) if tensors else arrays
    for key, value in metadata_changes.items():
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    metadata["checksum"] = model_file.checksum(metadata, arrays)
    path.write_bytes(safetensors.numpy.save(arrays, metadata=metadata))


def config_with(path, change):
    with safetensors.safe_open(path, "np") as file:
        config = json.loads(file.metadata()["model"])
    change(config)
    return json.dumps(config)


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(b""), "shorter than a safetensors header"),
    (lambda p: p.write_bytes(p.read_bytes()[:-10]), "not a valid safetensors"),
    (lambda p: p.write_text("a,b\n1,2\n"), "not a valid safetensors"),
    (lambda p: p.write_bytes(safetensors.numpy.save({"x": np.zeros(2)})), "not a glassnet model"),
    (lambda p: rewrite(p, format_version="2"), "format version 2.*upgrade glassnet"),
    (lambda p: rewrite(p, format_version="one"), "format version 'one' is not a number"),
    (lambda p: rewrite(p, model=None), "no architecture"),
    (lambda p: rewrite(p, model="{not json"), "'model' is not valid JSON"),
    (lambda p: rewrite(p, model=config_with(p, lambda c: c["layers"][0]["config"].update(units=9))),
     "dense.weight is float32 \\(4, 8\\) in the file, but the architecture needs float32 \\(4, 9\\)"),
    (lambda p: rewrite(p, model=config_with(p, lambda c: c["layers"].append(
        {"class_name": "Dense", "config": {"units": 2}}))), "missing \\['dense_2.bias', 'dense_2.weight'\\]"),
    (lambda p: rewrite(p, model=config_with(p, lambda c: c["layers"].append(
        {"class_name": "os.system", "config": {}}))), "unknown layer 'os.system'"),
    (lambda p: rewrite(p, model=config_with(p, lambda c: c.update(input_shape=None))), "no input shape"),
    (lambda p: rewrite(p, compile='{"optimizer": 3}'), "compile settings are not valid"),
    (lambda p: rewrite(p, lambda t: {**t, "params/dense.bias": t["params/dense.bias"].astype(np.float64)}),
     "dense.bias is float64"),
    (lambda p: rewrite(p, training_state='{"optimizer": {}, "rng": 1}'), "training state is not valid"),
], ids=["empty", "truncated", "csv", "other-safetensors", "newer-version", "bad-version", "no-architecture",
        "bad-json", "wrong-shape", "missing-weights", "unknown-layer", "no-input-shape", "bad-compile",
        "wrong-dtype", "bad-training-state"])
def test_damaged_files_are_refused_with_a_clear_error(trained, damage, message):
    _, path, _ = trained
    damage(path)
    with pytest.raises(gn.ModelFileError, match=message):
        gn.load(path)


def test_a_changed_byte_in_the_weights_is_caught_by_the_checksum(trained):
    _, path, _ = trained
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10  # inside the last tensor: still a valid safetensors file
    path.write_bytes(bytes(data))
    with pytest.raises(gn.ModelFileError, match="damaged: its contents do not match the checksum"):
        gn.load(path)


def mutations(data, rng):
    """One seeded random way of damaging ``data``: flip, overwrite, insert, delete or duplicate
    bytes, truncate, or damage the header length."""
    data = bytearray(data)
    kind = rng.integers(7)
    at = int(rng.integers(len(data)))
    if kind == 0:
        for _ in range(int(rng.integers(1, 4))):
            data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
    elif kind == 1:
        data[at] = int(rng.integers(256))
    elif kind == 2:
        data[at:at] = rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
    elif kind == 3:
        del data[at:at + int(rng.integers(1, 64))]
    elif kind == 4:
        data[at:at] = data[at:at + int(rng.integers(1, 64))]
    elif kind == 5:
        data = data[:at]
    else:
        data[:8] = int(rng.integers(0, 2 ** 63)).to_bytes(8, "little")
    return bytes(data)


def test_a_thousand_random_damages_load_the_same_model_or_raise_model_file_error(tmp_path):
    x, y = data()
    model = small_model()
    model.fit(x, y, epochs=1, verbose=0)
    original = tmp_path / "original.safetensors"
    model.save(original, include_optimizer=True)
    pristine = original.read_bytes()
    damaged = tmp_path / "damaged.safetensors"
    rng = np.random.default_rng(2026)
    outcomes = {"same model": 0, "refused": 0}
    for _ in range(1000):
        damaged.write_bytes(mutations(pristine, rng))
        try:
            loaded = gn.load(damaged)
        except gn.ModelFileError:
            outcomes["refused"] += 1
            continue
        assert_same_model(model, loaded)
        outcomes["same model"] += 1
    assert outcomes["refused"] > 900, outcomes


def test_an_architecture_larger_than_the_stored_weights_is_refused_before_any_allocation(trained):
    """A 3 kB file whose architecture asks for a 25,000 x 25,000 Dense (2.5 GB of float32) is
    compared with the tensors it stores before a layer is built: refused, allocating almost nothing."""
    import tracemalloc
    _, path, _ = trained

    def huge(config):
        config["input_shape"] = [25_000]
        config["layers"][0]["config"].update(units=25_000, input_shape=[25_000])
    rewrite(path, model=config_with(path, huge))
    tracemalloc.start()
    try:
        with pytest.raises(gn.ModelFileError, match=r"\(25000, 25000\)"):
            gn.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * path.stat().st_size + 1_000_000, f"loading allocated {peak:,} bytes"


# -- hostile files under a memory limit ------------------------------------------------------------------
def crafted_files(folder):
    """``{name: path}`` of files an attacker could send, each small: a 25,000 x 25,000 Dense, 16,000
    repeated layers, an estimator whose ``classes_`` dtype is ``<U300000000`` (3.6 GB), a header
    that claims 3 GiB, and a FIFO."""
    model = small_model()
    model.fit(*data(), epochs=1, verbose=0)
    files = {name: folder / f"{name}.safetensors" for name in ("huge_dense", "many_layers", "classes", "header")}
    for path in files.values():
        model.save(path)

    def huge(config):
        config["input_shape"] = [25_000]
        config["layers"][0]["config"].update(units=25_000)
    rewrite(files["huge_dense"], model=config_with(files["huge_dense"], huge))
    rewrite(files["many_layers"], model=config_with(files["many_layers"], lambda c: c["layers"].extend(
        [{"class_name": "ReLU", "config": {"name": "relu"}}] * 16_000)))
    estimator = {"estimator": "GlassnetClassifier", "params": {}, "fitted": {
        "classes_": {"values": ["a", "b", "c"], "dtype": "<U300000000"}, "n_features_in_": 4}}
    rewrite(files["classes"], metadata=json.dumps({"sklearn": estimator}))
    data_ = bytearray(files["header"].read_bytes())
    data_[:8] = (3 * 2 ** 30).to_bytes(8, "little")
    files["header"].write_bytes(bytes(data_))
    files["fifo"] = folder / "fifo.safetensors"
    os.mkfifo(files["fifo"])
    return files


LIMITED_LOADS = """
import json, resource, sys, time, tracemalloc
import glassnet as gn
from glassnet.sklearn import GlassnetClassifier
from glassnet.cli import main
import glassnet.cli.info, glassnet.tabular.model  # imported here, not counted in the first file's allocations
size = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + ALLOWANCE, size + ALLOWANCE))
results = {}
for name, path in json.loads(sys.argv[1]).items():
    tracemalloc.start()
    start = time.perf_counter()
    try:
        (GlassnetClassifier.load if name == "classes" else gn.load)(path)
        outcome = "loaded"
    except gn.ModelFileError as error:
        outcome = "ModelFileError"
    except MemoryError:
        outcome = "MemoryError"
    status = main(["info", path])
    results[name] = [outcome, status, tracemalloc.get_traced_memory()[1], time.perf_counter() - start]
    print(name, results[name], file=sys.stderr)
    tracemalloc.stop()
print(json.dumps(results))
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/proc/self/status"),
                    reason="needs Linux (RLIMIT_AS, /proc, FIFOs)")
def test_crafted_files_are_refused_within_a_memory_limit_and_in_bounded_time(tmp_path):
    """In a process allowed 300 MB more address space than glassnet, NumPy, Numba and scikit-learn
    take once imported, each crafted file loads or is refused with ModelFileError (never a
    MemoryError), glassnet info exits 0 or 1, within seconds, allocating at most 32 times the
    file's size plus 2 MB (tracemalloc)."""
    import subprocess
    import sys
    files = crafted_files(tmp_path)
    script = LIMITED_LOADS.replace("ALLOWANCE", str(300 * 2 ** 20))
    done = subprocess.run([sys.executable, "-c", script, json.dumps({k: str(v) for k, v in files.items()})],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.splitlines()[-1])
    for name, (outcome, status, peak, seconds) in results.items():
        size = os.path.getsize(files[name]) if name != "fifo" else 0
        assert outcome in ("ModelFileError", "loaded") and status in (0, 1), (name, outcome, status)
        assert peak < 32 * size + 2_000_000, f"{name}: {peak:,} bytes allocated for a file of {size:,}"
        assert seconds < 10, f"{name} took {seconds:.1f} s"
    assert results["huge_dense"][0] == results["classes"][0] == results["header"][0] == "ModelFileError"
    assert results["fifo"][:2] == ["ModelFileError", 1]
