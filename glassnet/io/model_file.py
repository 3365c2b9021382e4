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

Any way a file can be wrong at this level (not safetensors, truncated, changed bytes, metadata
that is not JSON, a newer format) is refused with a ``ModelFileError`` that says what is wrong;
the checksum catches changed bytes that would otherwise load as a different model. Whether the
fields make sense is for their reader to check.
"""
import hashlib
import json
import os

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
    """Read and check a model file; raises ``ModelFileError`` for anything wrong with it."""
    with open(path, "rb") as file:
        data = file.read()
    where = os.fspath(path)
    if len(data) < 8:
        raise ModelFileError(f"{where} is not a model file: {len(data)} bytes, shorter than a safetensors header")
    try:
        tensors = safetensors.numpy.load(data)
        header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    except (safetensors.SafetensorError, ValueError, TypeError, OverflowError, RecursionError) as error:
        raise ModelFileError(f"{where} is not a valid safetensors file (truncated or damaged?): {error}") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(f"{where} is a safetensors file but not a glassnet model "
                             "(its metadata has no format 'glassnet-model')")
    version = metadata.get("format_version", "")
    if not version.isdigit():
        raise ModelFileError(f"{where}: the format version {version!r} is not a number")
    if int(version) > FORMAT_VERSION:
        raise ModelFileError(f"{where} was written by glassnet {metadata.get('glassnet_version', '?')} in "
                             f"format version {version}; this glassnet reads up to version "
                             f"{FORMAT_VERSION}: upgrade glassnet to load it")
    if metadata.get("checksum") != checksum(metadata, tensors):
        raise ModelFileError(f"{where} is damaged: its contents do not match the checksum written with it")
    fields = {}
    for key, text in metadata.items():
        if key not in _FORMAT_ENTRIES:
            try:
                fields[key] = json.loads(text)
            except (ValueError, RecursionError) as error:
                raise ModelFileError(f"{where}: the metadata field {key!r} is not valid JSON: {error}") from None
    return ModelFile(where, fields, tensors, int(version), metadata.get("glassnet_version"))
