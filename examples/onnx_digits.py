"""Train on scikit-learn's digits, export to ONNX, and serve the file with ONNX Runtime.

The served predictions are compared with ``model.predict``: the largest difference of any
probability is printed (it is around 1e-7), and the predicted digits are the same. Then one image
is classified by the ONNX file alone, as a server would. It takes a few seconds.

Run it from the repository root:  python examples/onnx_digits.py [--out digits.onnx]
"""
import argparse
import os
import tempfile

import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import glassnet as gn

parser = argparse.ArgumentParser(description="export a digits classifier to ONNX and serve it")
parser.add_argument("--out", help="where to write the ONNX file (default: a temporary folder)")
args = parser.parse_args()

x, y = load_digits(return_X_y=True)
x_train, x_test, y_train, y_test = train_test_split((x / 16).astype(np.float32), y, test_size=0.25,
                                                    random_state=0, stratify=y)
model = gn.Sequential([gn.layers.Input((64,)), gn.layers.Dense(64, activation="gelu"), gn.layers.Dropout(0.2),
                       gn.layers.Dense(10, activation="softmax")], seed=0)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=40, verbose=0)

with tempfile.TemporaryDirectory() as folder:
    path = args.out or os.path.join(folder, "digits.onnx")
    proto = model.to_onnx(path)
    print(f"wrote {path}: {os.path.getsize(path):,} bytes, opset {proto.opset_import[0].version}, "
          f"operators {' '.join(node.op_type for node in proto.graph.node)}")

    # Serving: these lines need only onnxruntime and the file.
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    probabilities = session.run(None, {"input": x_test})[0]

    expected = model.predict(x_test)
    print(f"largest difference from model.predict over {len(x_test)} images: "
          f"{np.abs(probabilities - expected).max():.2e}")
    print(f"same predicted digits: {bool((probabilities.argmax(1) == expected.argmax(1)).all())}")
    print(f"test accuracy of the ONNX file: {(probabilities.argmax(1) == y_test).mean():.4f}")
    one = session.run(None, {"input": x_test[:1]})[0][0]
    print(f"one image: digit {one.argmax()} with probability {one.max():.3f} (true digit {y_test[0]})")
