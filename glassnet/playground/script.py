"""The Python script that builds and trains the page's network: the same data, settings, seed and
number of steps, through the same public calls (``network.build`` makes the same calls), so
running it ends with the same weights as the page (``tests/test_playground.py`` checks this bit
for bit). A built-in data set is made again by ``glassnet.playground.datasets.make``; a CSV's
chosen columns are written into the script, with the standardization the page applied.
"""
import json
import math

from . import network
from .settings import MOMENTUM, OUTPUTS

TEMPLATE = '''"""A network trained in the glassnet playground, written out as a script.

Running it builds the same network from the same seed, trains it on the same data with the same
settings for the same {steps} steps, and ends with the same weights as the page had.
    python {filename}        # writes playground_model.glassnet and prints the losses
"""
import numpy as np

import glassnet as gn
from glassnet.playground import csvdata, datasets

# -- the data --------------------------------------------------------------------------------
{data}
# -- the network -----------------------------------------------------------------------------
model = gn.Sequential([
{layers}
], seed={seed})
model.compile(optimizer={optimizer}, loss={loss!r})
model.summary()


class StopAfter(gn.callbacks.Callback):
    """Stops training after a number of steps (batches), where the playground was paused."""

    def __init__(self, steps):
        super().__init__()
        self.steps, self.done = steps, 0

    def on_train_batch_end(self, batch, logs=None):
        self.done += 1
        if self.done >= self.steps:
            self.model.stop_training = True


# -- training: {steps} steps of batches of {batch_size} ({steps_per_epoch} an epoch) ---------------
STEPS = {steps}
callbacks = [{early_stopping}StopAfter(STEPS)]
if STEPS:
    history = model.fit(x_train, y_train, batch_size={batch_size}, epochs={epochs}, shuffle=True, verbose=0,
                        validation_data=(x_test, y_test), callbacks=callbacks)
    print(f"after {{len(history.epoch)}} epochs: loss {{history.history['loss'][-1]:.4f}}, "
          f"test loss {{history.history['val_loss'][-1]:.4f}}")
    if len(history.epoch) >= 2:
        print(history.diagnose())
model.save("playground_model.glassnet")
'''


def write(settings, data, steps, table=None):
    """The script's text for a session at ``steps`` steps."""
    output = settings["output"]
    activation, loss, _ = OUTPUTS[output]
    l1, l2, dropout = settings["l1"], settings["l2"], settings["dropout"]
    regularizer = f", kernel_regularizer=gn.regularizers.L1L2(l1={l1!r}, l2={l2!r})" if l1 or l2 else ""
    lines = [f"    gn.layers.Input(({data.features},)),"]
    for units in settings["hidden"]:
        lines.append(f"    gn.layers.Dense({units}, activation={settings['activation']!r}{regularizer}),")
        if dropout:
            lines.append(f"    gn.layers.Dropout({dropout!r}),")
    lines.append(f"    gn.layers.Dense({network.units_out(data, output)}, activation={activation!r}{regularizer}),")
    lr = settings["learning_rate"]
    optimizer = {"sgd": f"gn.optimizers.SGD({lr!r})", "momentum": f"gn.optimizers.SGD({lr!r}, momentum={MOMENTUM!r})",
                 "adam": f"gn.optimizers.Adam({lr!r})"}[settings["optimizer"]]
    early = (f"gn.callbacks.EarlyStopping(monitor='val_loss', patience={settings['patience']}), "
             if settings["early_stopping"] else "")
    rows = len(data.x_train)
    batch = min(settings["batch_size"], rows)
    per_epoch = math.ceil(rows / batch)
    return TEMPLATE.format(
        steps=steps, filename="playground_model.py", data=_data(settings, data, output), layers="\n".join(lines),
        seed=settings["seed"], optimizer=optimizer, loss=loss, early_stopping=early,
        batch_size=settings["batch_size"], steps_per_epoch=per_epoch, epochs=max(1, math.ceil(steps / per_epoch)))


def _data(settings, data, output):
    s = settings
    if s["dataset"] != "csv":
        text = (f"data = datasets.make({s['dataset']!r}, points={s['points']}, noise={s['noise']!r}, "
                f"train_fraction={s['train_fraction']!r}, seed={s['seed']})\n"
                "x_train, y_train, x_test, y_test = data.x_train, data.y_train, data.x_test, data.y_test\n")
    else:
        scaling, choice = data.scaling, s["csv"]
        text = (f"# columns {choice['x1']!r} and {choice['x2']!r} of the uploaded CSV, against {choice['target']!r}"
                f" ({data.task}); rows with a missing value left out\n"
                f"raw_x = np.array({_json(scaling['raw_x'])})\n"
                f"x = csvdata.standardize(raw_x, np.array({_json(scaling['x_mean'])}), np.array({_json(scaling['x_std'])}))\n")
        if data.task == "classification":
            codes = _codes(data)
            text += (f"classes = {_json(scaling['classes'])}\n"
                     f"y = np.array({_json(codes)}, dtype=np.int64)  # the class numbers, in the order of classes\n")
        else:
            text += (f"raw_y = np.array({_json(scaling['raw_y'])})\n"
                     f"y = csvdata.standardize(raw_y, {scaling['y_mean']!r}, {scaling['y_std']!r}).reshape(-1, 1)\n")
        text += (f"x_train, y_train, x_test, y_test = datasets.split(x, y, {s['train_fraction']!r}, "
                 f"np.random.default_rng({s['seed']}))\n")
    if output == "sigmoid":
        text += ("# one sigmoid output: the class (0 or 1) as a float column\n"
                 "y_train, y_test = y_train.astype(np.float32).reshape(-1, 1), y_test.astype(np.float32).reshape(-1, 1)\n")
    return text


def _codes(data):
    return [int(v) for v in data.scaling["codes"]]


def _json(value):
    """A literal Python reads back as the same numbers: JSON writes floats with repr's digits."""
    return json.dumps(value)
