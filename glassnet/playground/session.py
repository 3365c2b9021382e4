"""One learner's session: the data, the network and its training, run by one worker thread.

Everything that touches the model runs on the session's worker thread, in the order the page
asked for it: the page's messages become tasks (``submit``), which the worker runs between two
training steps, so a frame, a trace or a download always sees the weights between steps and
never races the optimizer. Training is the library's own ``model.fit`` (the one loop of
``glassnet.training``) with a callback (``_Control``) at each batch: it runs the waiting tasks,
holds the loop while paused, lets one batch through for "step", sends a frame at most
``FRAME_RATE`` times a second, and unwinds the fit (``_Abort``) on reset or a change of
settings. The exported script runs the same ``fit`` and stops after the same number of steps, so
it ends with the same weights.

``emit(message, latest)`` hands a message (a dict) to the page's connection; ``latest=True``
marks a frame, of which only the newest waiting one needs to be sent.
"""
import base64
import collections
import concurrent.futures
import logging
import threading
import time

import numpy as np

from .. import callbacks, layers as layer_types
from ..diagnosis import diagnose
from ..errors import GlassnetError
from . import csvdata, datasets, network, settings as settings_module, trace as trace_module

FRAME_RATE = 30  # frames a second while training
FRAME_YIELD = 0.0005  # seconds the worker sleeps after a frame
GRID = 100  # the boundary's grid: GRID x GRID points through predict
NEURON_GRID = 24  # each neuron's picture
SHOWN_PICTURES = 24  # test pictures shown with their predicted class
HISTORY_RECORDS = 1000  # weight snapshots kept for a weight's history (thinned by half when full)
DIAGNOSIS_EVERY = 0.5  # seconds between verdicts
DIAGNOSIS_POINTS = 500  # at most this many (blocks of) epochs are diagnosed
DATA_KEYS = ("dataset", "points", "noise", "train_fraction", "seed", "csv")
log = logging.getLogger("glassnet.playground")


class _Abort(Exception):
    """Unwinds ``fit`` for a reset, new settings or the end of the session."""


class Session:
    def __init__(self, sid, emit):
        self.sid, self.emit = sid, emit
        self.settings = dict(settings_module.DEFAULTS)
        self.table = None  # the uploaded csvdata.Table
        self._new_table = False
        self.data = self.model = None
        self.generation = 0  # counts rebuilds: the page drops frames of an older network
        self._tasks = collections.deque()
        self._wake = threading.Event()
        self._closed = False
        self._pending = None  # settings to apply once the running fit has unwound
        self.running = False
        self._budget = 0
        self._want_fit = False
        self._in_fit = False
        self.finished = None
        self.step = 0
        self.thread = threading.Thread(target=self._loop, name=f"playground-{sid[:8]}", daemon=True)
        self.thread.start()
        self.submit(self._apply, self.settings)

    # -- the page's side (any thread) -----------------------------------------------------------
    def submit(self, function, *args):
        self._tasks.append((function, args, None))
        self._wake.set()

    def request(self, function, *args):
        """Run ``function(*args)`` on the worker; returns a ``concurrent.futures.Future`` of its result."""
        future = concurrent.futures.Future()
        self._tasks.append((function, args, future))
        self._wake.set()
        return future

    def handle(self, message):
        """A message from the page (a dict with a "type"); unknown ones get an error message back."""
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "settings":
            self.submit(self._settings, message.get("settings"))
        elif kind == "reset":
            self.submit(self._reset)
        elif kind == "play":
            self.submit(self._play)
        elif kind == "pause":
            self.submit(self._pause)
        elif kind == "step":
            self.submit(self._step)
        elif kind == "explain":
            self.submit(self._explain, message.get("set"), message.get("index"))
        elif kind == "weight":
            self.submit(self._weight, message.get("layer"), message.get("row"), message.get("column"))
        else:
            self.emit({"type": "error", "message": f"unknown message type {str(kind)[:40]!r}"}, False)

    def close(self):
        self._closed = True
        self._wake.set()

    # -- the worker ---------------------------------------------------------------------------
    def _loop(self):
        with np.errstate(all="ignore"):  # a learning rate that diverges shows on the page as NaN, not as warnings
            self._serve()
        for _, _, future in self._tasks:  # the session closed with a download waiting
            if future is not None and not future.done():
                future.set_exception(settings_module.SettingsError("the page's session has closed"))

    def _serve(self):
        while not self._closed:
            self._wake.wait()
            self._wake.clear()
            self._drain()
            if self._want_fit and not self._closed:
                try:
                    self._fit()
                except Exception as error:  # a bug: say so on the page, keep serving
                    log.exception("playground training failed")
                    self._in_fit = self.running = False
                    self.emit({"type": "error", "message": f"internal error ({type(error).__name__}): {error}"}, False)

    def _drain(self):
        while self._tasks and not self._closed:
            function, args, future = self._tasks.popleft()
            try:
                result = function(*args)
            except _Abort:
                raise
            except GlassnetError as error:
                self._fail(future, error, str(error))
            except Exception as error:  # a bug: say so on the page, keep serving
                log.exception("playground task %s failed", getattr(function, "__name__", function))
                self._fail(future, error, f"internal error ({type(error).__name__}): {error}")
            else:
                if future is not None:
                    future.set_result(result)

    def _fail(self, future, error, message):
        if future is not None:
            future.set_exception(error)
        else:
            self.emit({"type": "error", "message": message}, False)

    def _check(self):
        if self._closed or self._pending is not None:
            raise _Abort()

    # -- tasks ----------------------------------------------------------------------------------
    def _settings(self, raw):
        new = settings_module.check(raw, self.settings)
        if new["dataset"] == "csv" and self.table is None:
            raise settings_module.SettingsError("upload a CSV file first")
        self._restart(self._prepare(new))  # a mistake is reported here, and training goes on untouched

    def _reset(self):
        self._restart(self._prepare(self.settings))

    def _restart(self, prepared):
        if self._in_fit:
            self._pending = prepared  # the callback unwinds the fit, then _fit installs it
        else:
            self._install(prepared)

    def set_table(self, table):
        """A CSV just uploaded (parsed by the server): the page then sends settings choosing columns."""
        self.table = table
        self._new_table = True  # its points are made at the next settings, even with the same column names

    def _play(self):
        if self.finished:
            raise settings_module.SettingsError(f"{self.finished}: reset to train again")
        self.running = True
        self._want_fit = True
        self._state()

    def _pause(self):
        self.running = False
        self._state()

    def _step(self):
        if self.finished:
            raise settings_module.SettingsError(f"{self.finished}: reset to train again")
        self.running = False
        self._budget += 1
        self._want_fit = True

    def _apply(self, new):
        self._install(self._prepare(new))

    def _prepare(self, new):
        """``(settings, data, model)`` for ``new``: the data made again only when its settings changed."""
        data_changed = (self.data is None or any(new[k] != self.settings.get(k) for k in DATA_KEYS)
                        or (new["dataset"] == "csv" and self._new_table))
        data = self._make_data(new) if data_changed else self.data
        new = dict(new, output=network.output_for(data, new["output"]))
        return new, data, network.build(new, data)

    def _install(self, prepared):
        """Put in a new network (and data); training paused at step 0."""
        new, data, model = prepared
        output = new["output"]
        self.settings, self.data, self.model = new, data, model
        if new["dataset"] == "csv":
            self._new_table = False
        self._pending = None
        self.generation += 1
        self.running = self._want_fit = False
        self._budget = self.step = 0
        self.finished = None
        self.y_train = network.targets(data.y_train, output)
        self.y_test = network.targets(data.y_test, output)
        self._initial = (model.evaluate(data.x_train, self.y_train, verbose=0, return_dict=True)["loss"],
                         model.evaluate(data.x_test, self.y_test, verbose=0, return_dict=True)["loss"])
        self._records, self._record_every, self._next_record = [], 1, 0
        self._record()
        self._diagnosis, self._diagnosed_at, self._diagnosed_epochs = None, 0.0, 0
        self._dense = [layer for layer in model.layers if isinstance(layer, layer_types.Dense)]
        self._prepare_grids()
        self.emit(self._reset_message(), False)
        self._frame()

    def _make_data(self, new):
        if new["dataset"] == "csv":
            choice = new["csv"]
            return self.table.points(choice["x1"], choice["x2"], choice["target"], choice["task"],
                                     new["train_fraction"], new["seed"])
        return datasets.make(new["dataset"], new["points"], new["noise"], new["train_fraction"], new["seed"])

    # -- training -------------------------------------------------------------------------------
    def _fit(self):
        self._want_fit = False
        self._in_fit = True
        model, data = self.model, self.data
        callbacks = [c for c in (network.early_stopping(self.settings), _Control(self)) if c is not None]
        try:
            model.fit(data.x_train, self.y_train, batch_size=self.settings["batch_size"], epochs=network.MAX_EPOCHS,
                      verbose=0, validation_data=(data.x_test, self.y_test), shuffle=True, callbacks=callbacks)
        except _Abort:
            pass
        except GlassnetError as error:
            self.finished = f"training stopped: {error}"
            self.emit({"type": "error", "message": str(error)}, False)
        else:
            epochs = len(model.history.history["loss"])
            self.finished = (f"early stopping ended training at epoch {epochs}: the test loss had not improved "
                             f"for {self.settings['patience']} epochs") if epochs < network.MAX_EPOCHS else (
                             f"training reached {network.MAX_EPOCHS:,} epochs")
        finally:
            self._in_fit = False
        self.running = False
        self._budget = 0
        if self._closed:
            return
        if self._pending is not None:
            self._install(self._pending)
        else:
            self._frame()
            self._state()

    def _record(self):
        """Keep a copy of every weight (the flat buffer) now and then, for a weight's history."""
        self._records.append((self.step, self.model.params.values.copy()))
        if len(self._records) > HISTORY_RECORDS:
            self._records = self._records[::2]
            self._record_every *= 2
        self._next_record = self.step + self._record_every

    # -- what the page is sent ----------------------------------------------------------------
    def _state(self):
        self.emit({"type": "state", "generation": self.generation, "running": self.running,
                   "finished": self.finished, "step": self.step}, False)

    def _reset_message(self):
        data, s = self.data, self.settings
        sizes = [data.features] + [layer.units for layer in self._dense]
        message = {"type": "reset", "generation": self.generation, "settings": s,
                   "datasets": datasets.available(), "limits": _limits(),
                   "network": {"sizes": sizes, "activation": s["activation"], "output": s["output"],
                               "names": [layer.name for layer in self._dense]},
                   "data": {"kind": data.kind, "task": data.task, "classes": list(data.classes or []),
                            "features": list(data.feature_names), "train": len(data.x_train),
                            "test": len(data.x_test), "dropped": getattr(data, "dropped", 0)},
                   "csv": None if self.table is None else self.table.describe()}
        if data.kind == "points":
            message["data"].update(domain=list(data.domain), target_range=list(data.target_range),
                                   train_points=_points(data.x_train, data.y_train),
                                   test_points=_points(data.x_test, data.y_test))
        else:
            shown = self._shown
            pictures = np.clip(data.x_test[shown] * 255, 0, 255).astype(np.uint8)
            message["data"].update(shape=list(data.picture_shape), pictures=_b64(pictures),
                                   labels=[int(v) for v in data.y_test[shown]])
        return message

    def _prepare_grids(self):
        data = self.data
        if data.kind == "points":
            low, high = data.domain
            self._grid = _grid(low, high, GRID)
            self._neuron_grid = _grid(low, high, NEURON_GRID)
        else:
            self._shown = np.arange(min(SHOWN_PICTURES, len(data.x_test)))

    def _frame(self):
        """Send what the page draws now: the losses, the boundary (or the pictures' predictions),
        each neuron's picture and the weights."""
        model, data = self.model, self.data
        history = model.history.history if self._in_fit or self.step else None
        losses = history.get("loss", []) if history else []
        val = history.get("val_loss", []) if history else []
        epochs = min(len(losses), len(val))
        frame = {"type": "frame", "generation": self.generation, "step": self.step, "epoch": epochs,
                 "running": self.running, "finished": self.finished,
                 "loss": losses[epochs - 1] if epochs else self._initial[0],
                 "val_loss": val[epochs - 1] if epochs else self._initial[1],
                 "initial": list(self._initial), "diagnosis": self._diagnose(losses, val, epochs)}
        if data.kind == "points":
            frame["grid"] = self._boundary()
            frame["neurons"] = self._neurons()
        else:
            probabilities = model.predict(data.x_test[self._shown])
            frame["predicted"] = [int(k) for k in probabilities.argmax(axis=1)]
            first = self._dense[0].weight.value
            scale = float(np.abs(first).max()) or 1.0
            frame["first_weights"] = {"images": _b64(_quantized(first.T, 0.0, scale)), "scale": scale}
        frame["weights"] = [{"w": None if data.kind == "pictures" and k == 0 else np.round(layer.weight.value, 5).tolist(),
                             "b": np.round(layer.bias.value, 5).tolist()} for k, layer in enumerate(self._dense)]
        frame["_history"] = (self.generation, losses, val)
        self._next_frame = time.perf_counter() + 1 / FRAME_RATE
        self.emit(frame, True)

    def _diagnose(self, losses, val, epochs):
        """``History.diagnose()``'s verdict, at most every ``DIAGNOSIS_EVERY`` seconds while training.
        A long run is read in blocks of ``k`` epochs (their mean losses), at most
        ``DIAGNOSIS_POINTS`` of them: the verdict's rules take time that grows faster than the
        number of epochs (0.4 s at 20,000 epochs on this machine), and a page may train thousands
        of epochs a second."""
        now = time.perf_counter()
        if epochs >= 2 and epochs != self._diagnosed_epochs and (now - self._diagnosed_at > DIAGNOSIS_EVERY
                                                                 or not self.running):
            k = -(-epochs // DIAGNOSIS_POINTS)
            blocks = epochs // k
            loss = np.asarray(losses[:blocks * k], dtype=np.float64).reshape(blocks, k).mean(axis=1)
            val_loss = np.asarray(val[:blocks * k], dtype=np.float64).reshape(blocks, k).mean(axis=1)
            try:
                d = diagnose({"loss": loss.tolist(), "val_loss": val_loss.tolist()})
                self._diagnosis = {"verdict": d.verdict, "text": str(d), "reason": d.reason, "block": k}
            except GlassnetError as error:
                self._diagnosis = {"verdict": "not yet", "text": str(error), "reason": str(error), "block": k}
            self._diagnosed_at, self._diagnosed_epochs = now, epochs
        return self._diagnosis

    def _boundary(self):
        model, data = self.model, self.data
        out = model.predict(self._grid, batch_size=len(self._grid))
        if data.task == "regression":
            low, high = data.target_range
            return {"kind": "value", "size": GRID, "data": _b64(_quantized(out[:, 0], (low + high) / 2, (high - low) / 2))}
        if out.shape[1] == 1:
            return {"kind": "binary", "size": GRID, "data": _b64(_quantized(out[:, 0], 0.5, 0.5))}
        if out.shape[1] == 2:
            return {"kind": "binary", "size": GRID, "data": _b64(_quantized(out[:, 1], 0.5, 0.5))}
        return {"kind": "classes", "size": GRID, "data": _b64(out.argmax(axis=1).astype(np.uint8)),
                "confidence": _b64(_quantized(out.max(axis=1), 0.5, 0.5))}

    def _neurons(self):
        """Each hidden neuron's output over the plane: the layers' own forward, in inference mode."""
        x = self.model.prepare_inputs(self._neuron_grid)
        pictures = []
        for layer in self.model.layers[:-1]:
            x = layer.forward(x, training=False)[0]
            if isinstance(layer, layer_types.Dense):
                centre, half = _range(self.settings["activation"], x)
                pictures.append(_b64(_quantized(x.T, centre, half)))
        return {"size": NEURON_GRID, "layers": pictures}

    # -- clicks ---------------------------------------------------------------------------------
    def _explain(self, which, index):
        data = self.data
        if which not in ("train", "test"):
            raise settings_module.SettingsError("explain needs set 'train' or 'test'")
        x, y = (data.x_train, self.y_train) if which == "train" else (data.x_test, self.y_test)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(x):
            raise settings_module.SettingsError(f"no {which} example number {str(index)[:20]}")
        message = trace_module.explain(self.model, self.settings, x[index], y[index])
        message.update(type="trace", set=which, index=index, step=self.step, generation=self.generation)
        self.emit(message, False)

    def _weight(self, layer, row, column):
        if not (isinstance(layer, int) and 0 <= layer < len(self._dense)):
            raise settings_module.SettingsError("no such layer")
        dense = self._dense[layer]
        rows, columns = dense.weight.shape
        if not (isinstance(column, int) and 0 <= column < columns and isinstance(row, int) and -1 <= row < rows):
            raise settings_module.SettingsError("no such weight")
        parameter = dense.bias if row == -1 else dense.weight
        part = self.model.params.slices[parameter.name]
        flat = part.start + (column if row == -1 else row * columns + column)
        self.emit({"type": "weight", "layer": layer, "row": row, "column": column, "name": parameter.name,
                   "value": float(self.model.params.values[flat]),
                   "gradient": float(self.model.params.grads[flat]) if self.step else None,
                   "steps": [s for s, _ in self._records], "history": [float(v[flat]) for _, v in self._records],
                   "step": self.step, "generation": self.generation}, False)

    # -- downloads ------------------------------------------------------------------------------
    def export(self, kind, folder):
        """The bytes of the model file, the ONNX file or the script (run on the worker)."""
        from . import script
        if kind == "script":
            return script.write(self.settings, self.data, self.step, self.table).encode()
        path = folder / ("model.glassnet" if kind == "model" else "model.onnx")
        try:
            if kind == "model":
                self.model.save(str(path))
            else:
                self.model.to_onnx(str(path))
            return path.read_bytes()
        finally:
            path.unlink(missing_ok=True)


class _Control(callbacks.Callback):
    """The session's hooks into ``fit``: see the module docstring."""

    def __init__(self, session):
        super().__init__()
        self.session = session
        self.delay = {"full": 0.0, "100": 0.01, "10": 0.1}[session.settings["speed"]]
        self.next_time = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        s = self.session
        if s._tasks:
            s._drain()
        s._check()
        if s.running:
            if self.delay:
                self._pace()
            return
        if s._budget:
            s._budget -= 1
            return
        s._frame()
        s._state()
        while True:
            s._wake.wait()
            s._wake.clear()
            s._drain()
            s._check()
            if s.running:
                return
            if s._budget:
                s._budget -= 1
                return

    def on_train_batch_end(self, batch, logs=None):
        s = self.session
        s.step += 1
        if s.step >= s._next_record:
            s._record()
        if s.running and time.perf_counter() >= s._next_frame:
            s._frame()
            time.sleep(FRAME_YIELD)  # let the server's thread take the GIL and send it

    def _pace(self):
        now = time.perf_counter()
        if now < self.next_time:
            # the tasks were run just before; a message that comes meanwhile wakes it early
            self.session._wake.clear()
            self.session._wake.wait(self.next_time - now)
        self.next_time = max(now, self.next_time) + self.delay


def _limits():
    return {"layers": settings_module.MAX_LAYERS, "units": settings_module.MAX_UNITS,
            "picture_units": settings_module.MAX_PICTURE_UNITS, "points": settings_module.MAX_POINTS,
            "csv_bytes": csvdata.MAX_BYTES, "csv_rows": csvdata.MAX_ROWS}


def _grid(low, high, size):
    """``size * size`` points of the square, row by row from the top (highest x2) down."""
    xs = np.linspace(low, high, size)
    x1, x2 = np.meshgrid(xs, xs[::-1])
    return np.stack([x1.ravel(), x2.ravel()], axis=1).astype(np.float32)


def _points(x, y):
    return [[round(float(a), 4), round(float(b), 4), float(t)] for (a, b), t in zip(x, y.reshape(len(y), -1)[:, 0])]


def _range(activation, values):
    if activation == "tanh":
        return 0.0, 1.0
    if activation == "sigmoid":
        return 0.5, 0.5
    top = float(np.abs(values).max())
    return 0.0, top if 0 < top < np.inf else 1.0


def _quantized(values, centre, half):
    """Values as bytes for drawing: ``centre - half`` -> 0, ``centre`` -> 127.5, ``centre + half`` -> 255
    (NaN, from a diverged network, -> 127.5)."""
    scaled = np.nan_to_num((np.asarray(values, dtype=np.float32) - centre) / (half or 1.0), nan=0.0)
    return np.rint((np.clip(scaled, -1, 1) + 1) * 127.5).astype(np.uint8)


def _b64(array):
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")
