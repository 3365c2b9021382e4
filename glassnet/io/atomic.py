"""Writing files so that a crash, a full disk or an error never leaves a half-written file.

    with atomic_path("model.safetensors") as tmp:
        write_everything_to(tmp)

The data goes to a temporary file in the same folder, is flushed to disk, and only then renamed
over the target (``os.replace`` is atomic on POSIX and Windows). If anything fails first, the
temporary file is removed and the target, if there was one, is untouched.
"""
import contextlib
import errno
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path, overwrite=True):
    """Yield a temporary path next to ``path``; on success it replaces ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, "the folder to write into does not exist", folder)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(errno.EEXIST, "will not overwrite an existing file", path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes(path, data, overwrite=True):
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, overwrite) as tmp, open(tmp, "wb") as file:
        file.write(data)


def write_text(path, text, overwrite=True):
    write_bytes(path, text.encode("utf-8"), overwrite)


def _mode_for(path):
    """The permissions the file would get from a plain ``open``: the old file's, else 0666 - umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
