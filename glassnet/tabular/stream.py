"""Training on a Parquet table larger than memory: its rows are read a chunk at a time, never all.

    table = StreamedTable.learn(files.open_parquet("big/"), "y", validation_split=0.2, seed=0)
    model.fit(table.training_rows(), validation_data=table.validation, batch_size=1024)

The file is read in passes, each holding one chunk (``CHUNK_ROWS`` rows) of it at a time:

1. ``learn``, once: the summaries of each chunk's training rows (counts, moments, category
   counts: ``preprocessing``) merged chunk after chunk by the code that merges MPI processes'
   summaries, then the preprocessing learned from them, as from the whole table in memory; the
   index columns judged from the chunks in table order; the target's task and classes or moments.
2. Once more, the held-out rows preprocessed and kept in memory as the validation set: at most
   ``VALIDATION_BYTES`` of inputs (a table too large for that holds out a smaller fraction).
3. Every epoch (``TableRows``, a ``datasets.Dataset``): the row groups in a shuffled order, each
   chunk's training rows preprocessed into a shuffle buffer of about ``BUFFER_BYTES``; once it is
   full, each batch is drawn at random from the buffer and its places are taken by rows still to
   come, and the last rows leave it in a shuffled order.

Whether a row is held out depends only on its row number in the table and the seed (a hash of
both, ``held_out``), not on how the file is cut into row groups and chunks or on the order they
are read in. Peak memory is the buffer, the validation set, one chunk and one row group's
decoding: it does not grow with the rows.

With embedded columns (``embed``) a chunk's inputs are a list, the float32 matrix and each
embedded column's int64 ids (``TablePreprocessor.transform``), and every step here (the buffer,
the batches, the validation rows) carries the list, row for row.
"""
import queue
import threading
import time

import numpy as np

from ..datasets import Dataset
from ..errors import DataError
from .columns import DAY_PARTS, MAX_CATEGORIES, TIME_PARTS, date_features, index_facts, index_reasons, missing_marked
from .preprocessing import TablePreprocessor, TargetEncoder, embedding_request

CHUNK_ROWS = 65_536
READ_AHEAD = 2  # chunks read and preprocessed ahead of the training, by a thread
LOG_EVERY = 15.0  # seconds between the lines that say how far a pass over the table has come
BUFFER_BYTES = 128 * 2 ** 20
VALIDATION_BYTES = 128 * 2 ** 20
# The inputs a date-time column makes (columns.date_features); a number makes one, text at most
# MAX_CATEGORIES + 1: the bounds that size the validation set before the preprocessing is known.
DATE_INPUTS = len(date_features(DAY_PARTS + TIME_PARTS))


def held_out(first_row, rows, fraction, seed):
    """Whether each of rows ``first_row, ..., first_row + rows - 1`` of a table is held out: the
    SplitMix64 hash of its row number and the seed, as a number in [0, 1), below ``fraction``."""
    with np.errstate(over="ignore"):
        z = np.arange(first_row, first_row + rows, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        z += np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53 < fraction


class StreamedTable:
    """What ``learn`` found in a ``files.ParquetTable``: its preprocessing (``features``,
    ``target``), the rows it holds out (``fraction``) and their counts; the validation rows
    (``validation``: inputs and encoded targets in memory), and the training rows as a
    ``Dataset`` (``training_rows``)."""

    def __init__(self, table, target, features, encoder, columns, fraction, seed, counts):
        self.table, self.target, self.features, self.encoder = table, target, features, encoder
        self.columns = columns  # read from the file: the features' and the target
        self.fraction, self.seed = fraction, seed
        self.counts = counts  # {"rows", "train", "validation", "no_target"}
        self.validation = None

    @classmethod
    def learn(cls, table, target, *, drop=(), keep=(), embed=(), task=None, validation_split=0.2, seed=0, log=None):
        """Read ``table`` once and learn its preprocessing from the training rows (see the module
        doc), then preprocess the validation rows; ``log(text)`` hears each pass as it ends.
        ``embed`` as ``TablePreprocessor.fit`` takes it."""
        log = log or (lambda text: None)
        columns = [name for name in table.columns if name not in drop]
        names = [name for name in columns if name != target]
        named, _ = embedding_request(embed)
        for name in named:
            if name not in names:
                raise DataError(f"--embed column {name!r} is not among the feature columns of {table.path}: "
                                f"{', '.join(map(str, names))}")
        fraction = _fraction(table, names, validation_split)
        if fraction < validation_split:
            log(f"holding out {fraction:.2%} of the rows to validate on, not {validation_split:.0%}: at most "
                f"{VALIDATION_BYTES // 2 ** 20} MiB of validation inputs are kept in memory")
        summaries, target_summary, facts, counts = None, None, [], {"rows": 0, "train": 0, "validation": 0}
        for first, chunk in _every_chunk(table, columns, "learning the preprocessing", log):
            facts.append(index_facts(chunk[names]))
            y = missing_marked(chunk[target], table.markers)
            has_target = y.notna().to_numpy()
            train = has_target & ~held_out(first, len(chunk), fraction, seed)
            counts["rows"] += len(chunk)
            counts["train"] += int(train.sum())
            counts["validation"] += int(has_target.sum() - train.sum())
            part = TablePreprocessor.summaries(chunk[names][train], table.markers, named)
            summaries = part if summaries is None else TablePreprocessor.merged(names, [summaries, part])
            part = TargetEncoder.summary(y[has_target])  # as in memory: the classes of every row
            target_summary = part if target_summary is None else TargetEncoder.merged([target_summary, part])
        counts["no_target"] = counts["rows"] - counts["train"] - counts["validation"]
        if counts["train"] < 1:
            raise DataError(f"{table.path} has no training rows with a value of {target!r} "
                            f"({counts['rows']} rows, {counts['validation']} held out)")
        left_out = {name: reason for name, reason in index_reasons(names, facts).items()
                    if name not in keep and name not in named}
        features = TablePreprocessor.from_summaries(names, summaries, table.markers, left_out, keep, embed)
        encoder = TargetEncoder.from_summary(target, target_summary, task)
        streamed = cls(table, target, features, encoder, columns, fraction, seed, counts)
        log(f"learned the preprocessing from {counts['train']} training rows in {len(facts)} chunks")
        if counts["validation"]:
            streamed.validation = streamed._validation_rows(log)
        return streamed

    def training_rows(self, everything=False):
        """The training rows (every row with a target with ``everything``) as a ``TableRows``."""
        return TableRows(self, everything)

    def encoded(self, chunk, rows):
        """``(inputs, targets)`` of the chunk's rows selected by the mask ``rows`` (the inputs a
        list with embedded columns, as ``TablePreprocessor.transform`` gives them)."""
        inputs, _ = self.features.transform(chunk[rows], str(self.table.path))
        return inputs, self.encoder.encode(missing_marked(chunk[self.target][rows], self.table.markers))

    def selected(self, first, chunk, part):
        """The mask of the chunk's rows with a target that are in ``part``: "train",
        "validation" or "all"."""
        rows = missing_marked(chunk[self.target], self.table.markers).notna().to_numpy()
        if part == "all":
            return rows
        out = held_out(first, len(chunk), self.fraction, self.seed)
        return rows & (out if part == "validation" else ~out)

    def _validation_rows(self, log):
        """The validation rows, preprocessed: ``(inputs, encoded targets)``."""
        x, y = [], []
        for first, chunk in _every_chunk(self.table, self.columns, "reading the validation rows", log):
            rows = self.selected(first, chunk, "validation")
            if rows.any():
                inputs, targets = self.encoded(chunk, rows)
                x.append(inputs)
                y.append(targets)
        return _concatenated(x), np.concatenate(y)


def _arrays(x):
    """The inputs ``x`` (an array, or a list of them for a network of several inputs) as a list."""
    return x if isinstance(x, list) else [x]


def _like(x, arrays):
    """``arrays`` (a list) as the inputs ``x`` are held: the one array, or the list."""
    return arrays if isinstance(x, list) else arrays[0]


def _concatenated(parts):
    """The inputs of several chunks (arrays, or lists of arrays) one after another."""
    return _like(parts[0], [np.concatenate(column) for column in zip(*map(_arrays, parts))])


def _every_chunk(table, columns, doing, log):
    """``(first row, chunk)`` of the whole table in order, with a line to ``log`` about every
    ``LOG_EVERY`` seconds saying how far ``doing`` has come."""
    started = last = time.perf_counter()
    for piece in range(len(table.pieces)):
        for first, chunk in table.chunks(piece, CHUNK_ROWS, columns):
            yield first, chunk
            now = time.perf_counter()
            if now - last >= LOG_EVERY:
                done = first + len(chunk)
                log(f"{doing}: {done} of {table.rows} rows ({done / table.rows:.0%}) in {now - started:.0f}s")
                last = now


def _fraction(table, names, validation_split):
    """The fraction of the rows to hold out: ``validation_split``, or less when that many rows'
    inputs could take more than ``VALIDATION_BYTES``, counting for each column the most inputs its
    type can make (a number one, a date-time ``DATE_INPUTS``, anything else ``MAX_CATEGORIES + 1``)."""
    import pyarrow as pa
    inputs = sum(1 if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind) else
                 DATE_INPUTS if pa.types.is_temporal(kind) else MAX_CATEGORIES + 1
                 for kind in (table.schema.field(name).type for name in names))
    most_rows = VALIDATION_BYTES // (4 * max(inputs, 1))
    return min(validation_split, most_rows / max(table.rows, 1))


class TableRows(Dataset):
    """The training rows of a ``StreamedTable`` (or all its rows with a target) served through
    a shuffle buffer (see the module doc); in table order without a generator."""

    def __init__(self, streamed, everything=False):
        self.streamed = streamed
        self.part = "all" if everything else "train"
        counts = streamed.counts
        self.rows = counts["train"] + (counts["validation"] if everything else 0)

    def batches(self, batch_size, rng=None):
        if rng is None:
            return _in_order(_read_ahead(self._encoded_chunks(range(len(self.streamed.table.pieces)))), batch_size)
        features = self.streamed.features
        row_bytes = 4 * len(features.feature_names) + 8 * len(features.embedded)  # float32 inputs, int64 ids
        buffer = ShuffleBuffer(max(BUFFER_BYTES // row_bytes, batch_size), None, batch_size, rng)
        return buffer.shuffled(_read_ahead(self._encoded_chunks(rng.permutation(len(self.streamed.table.pieces)))))

    def _encoded_chunks(self, pieces):
        """``(inputs, targets)`` of the rows of each chunk of the ``pieces``, in that order."""
        streamed = self.streamed
        for piece in pieces:
            for first, chunk in streamed.table.chunks(int(piece), CHUNK_ROWS, streamed.columns):
                rows = streamed.selected(first, chunk, self.part)
                if rows.any():
                    yield streamed.encoded(chunk, rows)


def _read_ahead(chunks, depth=READ_AHEAD):
    """The items of the generator ``chunks``, made by a thread of their own up to ``depth`` ahead:
    reading and preprocessing the next chunks (mostly in pyarrow, pandas and NumPy, which let go
    of the interpreter) goes on while the network trains on this one. An error in the thread is
    raised here; closing this generator stops the thread."""
    items = queue.Queue(depth)
    stop = threading.Event()
    done = object()

    def make():
        try:
            for item in chunks:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        pass
                if stop.is_set():
                    return
            items.put(done)
        except BaseException as error:  # raised again in the consumer
            items.put(error)

    thread = threading.Thread(target=make, name="glassnet-read-ahead", daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _in_order(chunks, batch_size):
    """Batches of ``batch_size`` rows of ``(inputs, targets)`` chunks, in order (inputs an array or
    a list of arrays)."""
    left = None
    for x, y in chunks:
        if left is not None:
            x, y = _concatenated([left[0], x]), np.concatenate([left[1], y])
        rows = len(y)
        full = rows - rows % batch_size
        for start in range(0, full, batch_size):
            yield _like(x, [a[start:start + batch_size] for a in _arrays(x)]), y[start:start + batch_size]
        left = (_like(x, [a[full:] for a in _arrays(x)]), y[full:]) if full < rows else None
    if left is not None:
        yield left


class ShuffleBuffer:
    """Rows in, batches out in a random order (``shuffled``): rows are kept until ``capacity`` are
    held, then each batch of ``batch_size`` rows is drawn at random from them and the rows at the
    end of the buffer take their places before more come in; the last rows leave shuffled. A
    batch is a view of arrays that the next batch reuses. The inputs are an array, or a list of
    arrays (a network of several inputs), whose rows move together; ``width`` is unused (the
    arrays' shapes come with the first chunk)."""

    def __init__(self, capacity, width, batch_size, rng):
        self.capacity, self.width, self.batch_size, self.rng = capacity, width, batch_size, rng
        self.held = 0
        self.xs = self.x = None  # allocated at the first chunk, in its dtypes: each input's buffer, the first's
        self.several = False  # whether the inputs are a list

    def shuffled(self, chunks):
        """The batches of the rows of ``(inputs, targets)`` chunks, in a random order."""
        for x, y in chunks:
            if self.xs is None:
                self.several = isinstance(x, list)
                self._allocate(_arrays(x), y)
            for buffer, array in zip(self.xs, _arrays(x)):
                buffer[self.held:self.held + len(y)] = array
            self.y[self.held:self.held + len(y)] = y
            self.held += len(y)
            while self.held >= max(self.capacity, self.batch_size):
                yield self._take(self._drawn())
        while self.held:
            yield self._take(self._drawn())

    def _drawn(self):
        """The positions of a batch drawn at random among the rows held (sorted: gathered faster)."""
        return np.sort(self.rng.choice(self.held, min(self.batch_size, self.held), replace=False))

    def _allocate(self, xs, y):
        """The buffer and the batch. The buffer holds fewer than ``capacity`` rows when a chunk
        comes in, and chunks have at most ``CHUNK_ROWS`` rows: it has room for both."""
        room = self.capacity + max(len(y), CHUNK_ROWS)
        self.xs = [np.empty((room,) + x.shape[1:], dtype=x.dtype) for x in xs]
        self.x = self.xs[0]
        self.y = np.empty((room,) + y.shape[1:], dtype=y.dtype)
        self.batch = ([np.empty((self.batch_size,) + x.shape[1:], dtype=x.dtype) for x in xs],
                      np.empty((self.batch_size,) + y.shape[1:], dtype=y.dtype))

    def _take(self, picked):
        """The rows at ``picked`` as a batch; the rows at the end of the buffer fill their places."""
        n = len(picked)
        xs = [np.take(buffer, picked, axis=0, out=batch[:n]) for buffer, batch in zip(self.xs, self.batch[0])]
        y = np.take(self.y, picked, axis=0, out=self.batch[1][:n])
        end = self.held - n
        holes = picked[picked < end]
        movers = np.setdiff1d(np.arange(end, self.held), picked, assume_unique=True)
        for buffer in self.xs:
            buffer[holes] = buffer[movers]
        self.y[holes] = self.y[movers]
        self.held = end
        return (xs if self.several else xs[0]), y
