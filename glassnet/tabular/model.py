"""What the table commands share: a model with its table preprocessing, predictions for the rows
of a table, and the scores of those predictions."""
import numpy as np

from ..errors import ModelFileError
from ..extras import require
from ..io import load
from .preprocessing import TablePreprocessor, TargetEncoder


class TableModel:
    """A model trained by ``glassnet train``, with the steps from raw columns to its inputs
    (``features``) and from its outputs to the user's labels or values (``target``)."""

    def __init__(self, model, features, target, dropped=()):
        self.model, self.features, self.target, self.dropped = model, features, target, list(dropped)

    @classmethod
    def load(cls, path):
        model = load(path)
        config = model.preprocessing
        if not isinstance(config, dict) or not {"features", "target"} <= set(config):
            raise ModelFileError(f"{path} has no table preprocessing: it was not made by 'glassnet train' "
                                 "(load it in Python with glassnet.load and call predict on arrays)")
        return cls(model, TablePreprocessor.from_config(config["features"]),
                   TargetEncoder.from_config(config["target"]), config.get("dropped", ()))

    def preprocessing_config(self):
        return {"features": self.features.get_config(), "target": self.target.get_config(),
                "dropped": self.dropped}

    def predict(self, frame, where="the table"):
        """``(outputs, report)``: class probabilities (n, classes) or values (n,) for ``frame``."""
        inputs, report = self.features.transform(frame, where)
        return self.outputs(inputs), report

    def outputs(self, inputs):
        outputs = self.model.predict(inputs)
        if self.target.task == "regression":
            return outputs[:, 0]
        if outputs.shape[1] == 1:  # one sigmoid unit: the probability of the second class
            return np.hstack([1 - outputs, outputs])
        return outputs

    def prediction_frame(self, outputs):
        """Predictions as columns: the label and one probability per class, or the value."""
        pd = require("pandas", "tables", "writing predictions")
        name = self.target.name
        if self.target.task == "regression":
            return pd.DataFrame({name: outputs})
        columns = {name: self.target.decode(outputs.argmax(axis=1))}
        for i, label in enumerate(self.target.classes):
            columns[f"probability_{label}"] = outputs[:, i]
        return pd.DataFrame(columns)

    def scores(self, encoded_targets, outputs):
        """Accuracy and macro F1, or RMSE, MAE and R², of ``outputs`` against encoded targets."""
        metrics = require("sklearn.metrics", "cli", "scoring predictions")
        if self.target.task == "classification":
            predicted = outputs.argmax(axis=1)
            return {"accuracy": float(metrics.accuracy_score(encoded_targets, predicted)),
                    "f1": float(metrics.f1_score(encoded_targets, predicted, average="macro",
                                                 labels=np.arange(self.target.n_classes)))}
        truth = encoded_targets * self.target.std + self.target.mean  # back to the user's units
        return {"rmse": float(np.sqrt(metrics.mean_squared_error(truth, outputs))),
                "mae": float(metrics.mean_absolute_error(truth, outputs)),
                "r2": float(metrics.r2_score(truth, outputs))}

    def confusion_matrix(self, encoded_targets, outputs):
        pd = require("pandas", "tables", "the confusion matrix")
        metrics = require("sklearn.metrics", "cli", "the confusion matrix")
        matrix = metrics.confusion_matrix(encoded_targets, outputs.argmax(axis=1),
                                          labels=np.arange(self.target.n_classes))
        labels = [str(c) for c in self.target.classes]
        return pd.DataFrame(matrix, index=[f"true {c}" for c in labels],
                            columns=[f"predicted {c}" for c in labels])


def format_scores(scores):
    names = {"accuracy": "accuracy", "f1": "F1 (macro)", "rmse": "RMSE", "mae": "MAE", "r2": "R²"}
    return ", ".join(f"{names.get(k, k)} {v:.4f}" for k, v in scores.items())
