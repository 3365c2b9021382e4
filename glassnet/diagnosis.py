"""The overfitting verdict: read a run's training and validation curves like a course does.

    diagnosis = history.diagnose()          # or gn.diagnose(history)
    print(diagnosis)                        # verdict, from which epoch, gaps, the reason
    diagnosis.verdict                       # "underfit", "good fit", "overfit", "unstable" or "too noisy to tell"

With ``L`` the training loss and ``V`` the validation loss per epoch, ``b`` the epoch of the lowest
``V`` (the best epoch) and ``end`` the last epoch, the rules are tried in this order:

1. unstable:  ``L`` is not finite, or the mean of its last ``window`` values is more than
   ``1 + min_rise`` times the lowest mean of ``window`` consecutive values: training itself went
   wrong (learning rate too high), so the gap says nothing about fitting.
2. overfit:   ``V[end] > (1 + min_rise) * V[b]`` and ``L[end] < L[b]``: the validation loss rose
   while the training loss kept falling. Overfitting starts at epoch ``b + 1``. But when the mean
   of the last ``window`` values of ``V`` is within 3 x its epoch-to-epoch noise (``epoch_noise``)
   of ``V[b]``: "too noisy to tell" (the validation set is too small).
3. underfit:  ``L[end] > (1 - min_progress) * L[first]`` (training barely learned), or, over the
   last ``window`` epochs, both ``L`` and ``V`` still fell by more than ``min_progress`` per epoch
   on average (relative): training stopped while it was still learning.
4. good fit:  otherwise: the validation loss has flattened within ``min_rise`` of its best.

Defaults: ``min_rise=0.1`` (10%), ``min_progress=0.01`` (1% per epoch), ``window`` a fifth of the
epochs (at least 1). The gaps say how much better training looks than validation, at the last
epoch and at the best epoch: ``val_loss - loss``, and for the first metric with a validation curve
``accuracy - val_accuracy`` (``val_mae - mae`` for an error metric, where lower is better). Epoch numbers are
counted from 0 as in ``History.epoch``; the text counts from 1, like the progress bar.
``docs/diagnosis.md`` explains the rules and their limits.
"""
import math
import statistics

import numpy as np

from . import checks
from .errors import ConfigurationError, DataError


class Diagnosis:
    """The verdict on one run; ``str()`` gives it in words. Attributes:

    verdict, since_epoch (first epoch of overfitting, else None), best_epoch, last_epoch,
    loss, val_loss (at the last epoch), best_val_loss, loss_gap, loss_gap_at_best,
    metric (name or None), metric_gap, metric_gap_at_best, reason (one sentence).
    """

    def __init__(self, verdict, reason, since_epoch, best_epoch, last_epoch, loss, val_loss,
                 best_val_loss, loss_gap, loss_gap_at_best, metric=None, metric_gap=None,
                 metric_gap_at_best=None):
        self.verdict, self.reason, self.since_epoch = verdict, reason, since_epoch
        self.best_epoch, self.last_epoch = best_epoch, last_epoch
        self.loss, self.val_loss, self.best_val_loss = loss, val_loss, best_val_loss
        self.loss_gap, self.loss_gap_at_best = loss_gap, loss_gap_at_best
        self.metric, self.metric_gap, self.metric_gap_at_best = metric, metric_gap, metric_gap_at_best

    def as_dict(self):
        return dict(vars(self))

    def __str__(self):
        since = f" from epoch {self.since_epoch + 1}" if self.since_epoch is not None else ""
        lines = [f"verdict: {self.verdict}{since} ({self.last_epoch + 1} epochs)",
                 f"best epoch: {self.best_epoch + 1} (val_loss {self.best_val_loss:.4g})",
                 f"gap val_loss - loss: {self.loss_gap:.4g} at the end, "
                 f"{self.loss_gap_at_best:.4g} at the best epoch"]
        if self.metric is not None:
            what = (f"{self.metric} - val_{self.metric}" if "acc" in self.metric
                    else f"val_{self.metric} - {self.metric}")
            lines.append(f"gap {what}: {self.metric_gap:.4g} at the end, "
                         f"{self.metric_gap_at_best:.4g} at the best epoch")
        lines.append(f"reason: {self.reason}")
        return "\n".join(lines)

    def __repr__(self):
        return f"Diagnosis(verdict={self.verdict!r}, best_epoch={self.best_epoch}, since_epoch={self.since_epoch})"


def diagnose(history, min_rise=0.1, min_progress=0.01, window=None, validation_rows=None):
    """The ``Diagnosis`` of a run from its ``History`` (or a dict like ``History.history``);
    ``validation_rows``, when known, is named when the validation loss is too noisy to judge."""
    logs, epochs = _curves(history)
    min_rise = _fraction("min_rise", min_rise)
    min_progress = _fraction("min_progress", min_progress)
    train, val = logs["loss"], logs["val_loss"]
    n = len(train)
    if window is None:
        window = max(1, n // 5)
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window < n:
        raise ConfigurationError(f"window must be an integer in [1, {n - 1}] for a run of {n} epochs, got {window!r}")
    b = min(range(n), key=lambda i: (val[i], i))
    metric = metric_name(logs)
    gaps = {"loss_gap": val[-1] - train[-1], "loss_gap_at_best": val[b] - train[b]}
    if metric is not None:
        sign = 1.0 if "acc" in metric else -1.0  # accuracies: higher is better
        gap = [sign * (t - v) for t, v in zip(logs[metric], logs["val_" + metric])]
        gaps.update(metric=metric, metric_gap=gap[-1], metric_gap_at_best=gap[b])
    verdict, reason, since = _verdict(train, val, b, epochs, min_rise, min_progress, window, validation_rows)
    return Diagnosis(verdict, reason, since, epochs[b], epochs[-1], train[-1], val[-1], val[b], **gaps)


def _verdict(train, val, b, epochs, min_rise, min_progress, window, validation_rows):
    if not all(math.isfinite(v) for v in train + val):
        return "unstable", "the loss became NaN or infinite: lower the learning rate.", None
    low, end = _smoothed_low_and_end(train, window)
    if end > (1 + min_rise) * low:
        return ("unstable", f"the training loss ended {_percent(end, low)} above its lowest value "
                f"({low:.4g}), so training itself is unstable: lower the learning rate.", None)
    if val[-1] > (1 + min_rise) * val[b] and train[-1] < train[b]:
        noise = epoch_noise(val, window)
        if _mean(val[-window:]) - val[b] <= 3 * noise:
            rows = "" if validation_rows is None else f" ({validation_rows} rows)"
            return ("too noisy to tell", f"the validation loss rose {_percent(val[-1], val[b])} above its lowest "
                    f"value, but it moves by about {noise / val[b]:.0%} from epoch to epoch: the validation "
                    f"set{rows} is too small to tell overfitting from noise; judge on more held-out rows "
                    "rather than by changing the model.", None)
        return ("overfit", f"the validation loss rose {_percent(val[-1], val[b])} above its lowest value "
                f"(epoch {epochs[b] + 1}) while the training loss kept falling "
                f"({train[b]:.4g} -> {train[-1]:.4g}).", epochs[b] + 1)
    if train[-1] > (1 - min_progress) * train[0]:
        return ("underfit", f"the training loss barely fell ({train[0]:.4g} -> {train[-1]:.4g}): "
                "the model learned almost nothing; train longer, with a higher learning rate "
                "or a larger model.", None)
    fall_train = _fall_per_epoch(train, window)
    fall_val = _fall_per_epoch(val, window)
    if fall_train > min_progress and fall_val > min_progress:
        return ("underfit", f"training and validation losses were still falling at the end "
                f"({fall_train:.1%} and {fall_val:.1%} per epoch over the last {window}): train longer.", None)
    return ("good fit", f"the validation loss flattened near its lowest value ({val[b]:.4g}, epoch "
            f"{epochs[b] + 1}) without rising more than {min_rise:.0%} while the model trained.", None)


def _smoothed_low_and_end(values, window):
    """The lowest mean of ``window`` consecutive values, and the mean of the last ``window``: epoch to
    epoch noise (dropout, mini-batches) averages out, a loss that climbs does not."""
    # from a running sum, each mean is one subtraction: linear in the epochs, where summing every
    # window anew took 13 s for 100,000 epochs (the playground diagnoses long runs live)
    sums = np.cumsum(np.concatenate(([0.0], values)))
    means = (sums[window:] - sums[:-window]) / window
    return float(means.min()), float(means[-1])


def epoch_noise(values, window):
    """How much ``values`` move from one epoch to the next by chance: a robust standard deviation
    (1.4826 x the median absolute deviation) of the epoch-to-epoch changes over the last ``window``
    epochs, over sqrt(2); 0 with fewer than 4 changes to go by."""
    changes = [b - a for a, b in zip(values[-window - 1:], values[-window:])]
    if len(changes) < 4:
        return 0.0
    middle = statistics.median(changes)
    return 1.4826 * statistics.median(abs(c - middle) for c in changes) / math.sqrt(2)


def _mean(values):
    return sum(values) / len(values)


def _fall_per_epoch(values, window):
    """The mean relative fall per epoch over the last ``window`` epochs."""
    start = values[-1 - window]
    return (start - values[-1]) / (abs(start) * window) if start else 0.0


def _percent(value, reference):
    return f"{(value - reference) / abs(reference):.0%}" if reference else "above 0"


def _curves(history):
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise ConfigurationError(f"diagnose takes a History or a dict of per-epoch lists, got {type(history).__name__}")
    for key in ("loss", "val_loss"):
        if key not in logs:
            raise DataError(f"diagnose needs {key!r} in the history, which has: {', '.join(sorted(logs)) or 'nothing'}"
                            + (" (fit with validation_split or validation_data)" if key == "val_loss" else ""))
    logs = {k: [float(v) for v in values] for k, values in logs.items()}
    n = len(logs["loss"])
    if n < 2:
        raise DataError(f"diagnose needs at least 2 epochs of history, got {n}")
    lengths = {k: len(v) for k, v in logs.items()}
    if any(length != n for length in lengths.values()):
        raise DataError(f"every curve in the history must have one value per epoch, got lengths {lengths}")
    epochs = list(getattr(history, "epoch", None) or range(n))
    if len(epochs) != n:
        raise DataError(f"the history lists {len(epochs)} epoch numbers for {n} values per curve")
    return logs, epochs


def metric_name(logs):
    """The first metric with a validation curve (``accuracy`` for ``accuracy``/``val_accuracy``)."""
    for key in logs:
        if key not in ("loss", "learning_rate") and not key.startswith("val_") and "val_" + key in logs:
            return key
    return None


def _fraction(name, value):
    return checks.number(name, value, low=0, high=1, high_open=True)
