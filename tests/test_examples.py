"""The examples that the README runs work from a fresh install. The CNN on Fashion-MNIST runs in
its --quick form (skipped without the data set); the full-size runs (examples/fashion_mnist.py,
dense_vs_cnn.py, the digits batch-size table) are run by hand, their figures in the README and docs."""
import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def run(script, *args):
    result = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quickstart_trains_digits_to_high_accuracy():
    pytest.importorskip("sklearn")
    out = run("quickstart.py")
    accuracy = float(out.strip().splitlines()[-1].split(":")[1])
    assert accuracy >= 0.96
    assert "Total params: 4,810" in out


def test_dropout_equivalence_prints_identical_outputs():
    out = run("dropout_equivalence.py").splitlines()
    classic, inverted = [line.split(":")[1] for line in out if "weights W" in line or "keep * W:" in line][:2]
    assert classic.strip() == inverted.strip()


def test_tables_compares_glassnet_train_with_scikit_learn_on_one_split():
    pytest.importorskip("pandas")
    out = run("tables.py", "--datasets", "wine", "--seeds", "0")
    row = next(line for line in out.splitlines() if line.startswith("| wine"))
    assert float(row.split("**")[1]) >= 0.95


FASHION = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not os.path.isdir(FASHION), reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_cnn_quick_learns_the_clothes():
    out = run("fashion_mnist_cnn.py", "--quick")
    assert "(None, 28, 28, 16)" in out and "(None, 7, 7, 32)" in out  # the summary shows the maps' shapes
    lines = dict(line.split(": ", 1) for line in out.splitlines() if line.startswith(("parameters:", "test accuracy:")))
    assert int(lines["parameters"].replace(",", "")) < 120_000
    assert float(lines["test accuracy"]) >= 0.75  # 4,000 pictures, 2 epochs; 10 classes: chance is 0.10
