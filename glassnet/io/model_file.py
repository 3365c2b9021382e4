"""The model file format: one safetensors file of named tensors, and JSON fields in its metadata.

This module is the format only. It writes and reads tensors plus JSON fields, checks the checksum
and the format version, and knows nothing of models, training or callbacks: the model turns
itself into tensors and fields and back (``Sequential.save`` / ``Sequential.load``), and the
checkpoint callbacks add the training position (``glassnet/callbacks/checkpoint.py``).

Layout (format version 1):

    tensors   params/<parameter name>              every weight and bias
              optimizer/<slot>/<parameter name>    with include_optimizer: Adam's m and v, ...
              callbacks/<i>/<j>                    arrays a callback keeps (backups)
    metadata  format            "glassnet-model"
              format_version    "1" (a file with a higher version is refused, not misread)
              glassnet_version  the version that wrote it
              checksum          SHA-256 of every other metadata entry and every tensor's name,
                                dtype, shape and bytes
              any other entry   one JSON field each: model, compile, history, preprocessing,
                                metadata, training_state (``docs/model-files.md``)

Any way a file can be wrong at this level (not a regular file, not safetensors, truncated, a
header beyond the limits below, a tensor dtype glassnet does not read, changed bytes, metadata
that is not JSON, a newer format) is refused with a ``ModelFileError`` that says what is wrong;
the checksum catches changed bytes that would otherwise load as a different model (damage, not
tampering: anyone can recompute it). Whether the fields make sense is for their reader to check,
once, with ``io.schema``.
"""
import hashlib
import json
import os
import stat

import numpy as np
import safetensors
import safetensors.numpy

from ..errors import ModelFileError
from ..version import __version__
from . import atomic

FORMAT = "glassnet-model"
FORMAT_VERSION = 1
# Metadata entries of the format itself; every other entry is a JSON field.
_FORMAT_ENTRIES = ("format", "format_version", "glassnet_version", "checksum")
# Limits on what a file may ask of the reader (docs/model-files.md): anything beyond them is
# refused before it is parsed further. A header (JSON) of at most 64 MiB, at most a million
# tensors, JSON nested at most 32 levels deep, tensors only in the dtypes NumPy reads exactly.
MAX_HEADER_BYTES = 64 * 2 ** 20
MAX_TENSORS = 1_000_000
MAX_JSON_DEPTH = 32
DTYPES = ("F16", "F32", "F64", "I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "BOOL")


class ModelFile:
    """A checked model file: ``fields`` (the parsed JSON metadata) and ``tensors`` (arrays)."""

    def __init__(self, path, fields, tensors, format_version, glassnet_version):
        self.path, self.fields, self.tensors = path, fields, tensors
        self.format_version, self.glassnet_version = format_version, glassnet_version

    def group(self, prefix):
        """``{name: array}`` of the tensors named ``<prefix>/<name>``."""
        start = prefix + "/"
        return {name[len(start):]: a for name, a in self.tensors.items() if name.startswith(start)}


def write(path, tensors, fields, overwrite=True):
    """Write ``tensors`` (``{name: array}``) and ``fields`` (``{name: JSON value}``; None values
    are left out) to ``path`` atomically (``io.atomic``)."""
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "glassnet_version": __version__}
    for key, value in fields.items():
        if key in _FORMAT_ENTRIES:
            raise ValueError(f"{key!r} is an entry of the file format, not a field")
        if value is not None:
            metadata[key] = json.dumps(value)
    tensors = {name: np.ascontiguousarray(array) for name, array in tensors.items()}
    metadata["checksum"] = checksum(metadata, tensors)
    atomic.write_bytes(path, safetensors.numpy.save(tensors, metadata=metadata), overwrite)


def checksum(metadata, tensors):
    """SHA-256 over the metadata entries (but the checksum) and every tensor's name, dtype,
    shape and bytes, in sorted order."""
    digest = hashlib.sha256()
    for key in sorted(metadata):
        if key != "checksum":
            digest.update(json.dumps([key, metadata[key]]).encode())
    for name in sorted(tensors):
        array = tensors[name]
        digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def read(path):
    """Read and check a model file; raises ``ModelFileError`` for anything wrong with it.

    The header (its length, then its JSON) is checked against the file's size and the limits
    before the tensor bytes are read, so a small file cannot make the reader allocate more than a
    small multiple of its size."""
    where = os.fspath(path)
    header, data = _read_checked_header(where)
    metadata = header.get("__metadata__")
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(f"{where} is a safetensors file but not a glassnet model "
                             "(its metadata has no format 'glassnet-model')")
    version = _format_version(where, metadata)
    try:
        tensors = safetensors.numpy.load(data)
    except (safetensors.SafetensorError, ValueError, TypeError, OverflowError) as error:
        raise ModelFileError(f"{where} is not a valid safetensors file (truncated or damaged?): {error}") from None
    if metadata.get("checksum") != checksum(metadata, tensors):
        raise ModelFileError(f"{where} is damaged: its contents do not match the checksum written with it")
    fields = {key: parse_json(where, f"the metadata field {key!r}", text)
              for key, text in metadata.items() if key not in _FORMAT_ENTRIES}
    return ModelFile(where, fields, tensors, version, metadata.get("glassnet_version"))


def parse_json(where, what, text):
    """``text`` parsed as JSON no deeper than ``MAX_JSON_DEPTH``, or a ``ModelFileError`` naming
    ``what`` in the file ``where``. Infinity and NaN are read as floats: glassnet writes them
    (a loss that diverged, a best value not yet set); the readers of the fields refuse them
    where a finite number is expected (``io.schema``)."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError, RecursionError) as error:
        raise ModelFileError(f"{where}: {what} is not valid JSON: {error}") from None
    if not _nested_within(value, MAX_JSON_DEPTH):
        raise ModelFileError(f"{where}: {what} is nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _nested_within(value, depth):
    """Whether the JSON ``value`` has at most ``depth`` levels of lists and objects."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            if level > depth:
                return False
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return True


def _read_checked_header(where):
    """``(header, data)``: the parsed safetensors header of the regular file ``where``, checked
    (``_check_header``) before the whole file ``data`` is read. A FIFO or a device is refused
    without blocking: the file is opened non-blocking and looked at before anything is read."""
    descriptor = os.open(where, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ModelFileError(f"{where} is not a model file: not a regular file")
        size = info.st_size
        if size < 8:
            raise ModelFileError(f"{where} is not a model file: {size} bytes, shorter than a safetensors header")
        length = int.from_bytes(file.read(8), "little")
        if length > size - 8 or length > MAX_HEADER_BYTES:
            raise ModelFileError(f"{where} is not a valid safetensors file (truncated or damaged?): its header "
                                 f"claims {length:,} bytes, but the file has {size:,} bytes and a header "
                                 f"may have up to {MAX_HEADER_BYTES:,}")
        header = parse_json(where, "not a valid safetensors file (truncated or damaged?): its header",
                            file.read(length))
        _check_header(where, header)
        file.seek(0)
        data = file.read(size)
    if len(data) != size:
        raise ModelFileError(f"{where} changed while it was read ({size:,} bytes, then {len(data):,})")
    return header, data


def _check_header(where, header):
    """Refuse a header that is not an object of tensor entries and string metadata, has more
    than ``MAX_TENSORS`` tensors, or a tensor of a dtype glassnet does not read (BF16, F8...)."""
    if not isinstance(header, dict):
        raise ModelFileError(f"{where} is not a valid safetensors file (truncated or damaged?): its header "
                             "is not a JSON object")
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ModelFileError(f"{where} is not a valid safetensors file: its metadata is not text entries")
    if len(header) > MAX_TENSORS + 1:
        raise ModelFileError(f"{where} holds {len(header) - 1:,} tensors; a model file may hold up to {MAX_TENSORS:,}")
    for name, entry in header.items():
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        if name != "__metadata__" and dtype not in DTYPES:
            raise ModelFileError(f"{where}: the tensor {name[:100]!r} has dtype {str(dtype)[:20]!r}, which glassnet "
                                 f"does not read (it reads {', '.join(DTYPES)})")


def _format_version(where, metadata):
    """The file's format version as an int, refused if it is not a plain number or is newer
    than this glassnet reads."""
    version = metadata.get("format_version", "")
    if not (version.isascii() and version.isdigit() and len(version) <= 9):
        raise ModelFileError(f"{where}: the format version {version[:20]!r} is not a number")
    if int(version) > FORMAT_VERSION:
        raise ModelFileError(f"{where} was written by glassnet {metadata.get('glassnet_version', '?')[:40]} in "
                             f"format version {version}; this glassnet reads up to version "
                             f"{FORMAT_VERSION}: upgrade glassnet to load it")
    return int(version)
