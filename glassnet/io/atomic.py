"""Writing files so that no one ever sees a half-written file, and a crash never costs a good one.

    with atomic_path("model.safetensors") as tmp:
        write_everything_to(tmp)

The data goes to a temporary file in the same folder, is flushed to disk, and only then takes the
target's name; the folder is flushed too. If anything fails first, the temporary file is removed
and the target, if there was one, is untouched. The rules (``docs/model-files.md``, "Writing never
destroys a good file"):

- ``overwrite=True`` renames over the target (``os.replace``); ``overwrite=False`` creates it
  exclusively (a hard link that fails when the name exists), so of two writers one fails.
- The temporary file is created with mode 0666 and the kernel applies the umask (the umask is never
  changed); a replaced file keeps its mode, owner and group where permitted; a read-only target is
  refused with ``PermissionError``; a symbolic link is written through (the link stays a link).
- A temporary file is named ``.<name>.glassnet-<host>-<pid>-<random>.tmp``; what a killed write
  left is finished or removed by the next write to the same path (``tidy``).
- ``atomic_paths`` writes several files as a set: all to temporary names, then a journal, then
  the renames, so a set killed halfway is completed by the next write of its first path.
"""
import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import socket
import stat
import time

# A temporary file untouched for this long belongs to no running write, whatever its PID says.
STALE_AFTER_SECONDS = 3600
# Which machine made a temporary file: PIDs mean something only there.
HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
# What follows ".<name>." in glassnet's temporary files (.tmp) and set journals (.set).
LEFTOVER = r"glassnet-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]{16}\.(?P<kind>tmp|set)"


@contextlib.contextmanager
def atomic_path(path, overwrite=True):
    """Yield a temporary path next to ``path``; on success it takes ``path``'s place. A path that
    is itself a temporary file of an enclosing write (``model.save(tmp)`` inside
    ``atomic_paths``) is yielded as it is: the enclosing write makes it atomic."""
    if _match(os.path.basename(os.fspath(path))):
        yield os.fspath(path)
        return
    with atomic_paths([path], overwrite) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(paths, overwrite=True):
    """Yield one temporary path per path of ``paths``; on success they take their places in that
    order (so the first is the claim on the set when ``overwrite=False``), and a set interrupted
    by a kill is completed by the next write of its first path."""
    targets = [_target(path, overwrite) for path in paths]
    for target in targets:
        tidy(target)
    temps = []
    try:
        for target in targets:
            temps.append(_create_temp(target))
        yield list(temps)
        for tmp, target in zip(temps, targets):
            _fsync_file(tmp)
            _keep_owner_and_mode(tmp, target)
        _place_set(list(zip(temps, targets)), overwrite)
    finally:
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def write_bytes(path, data, overwrite=True):
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, overwrite) as tmp, open(tmp, "wb") as file:
        file.write(data)


def write_text(path, text, overwrite=True):
    write_bytes(path, text.encode("utf-8"), overwrite)


def tidy(path):
    """Finish or remove what writes to ``path`` left when they were killed: a set journal is
    completed, then temporary files are removed. Only glassnet's own names for ``path``, only files
    of this user, and only stale ones: made on this machine by a process that no longer runs, or
    untouched for ``STALE_AFTER_SECONDS``."""
    folder, name = os.path.split(os.path.realpath(path))
    with os.scandir(folder) as entries:
        stale = [entry.path for entry in entries if _is_stale(entry, name)]
    for leftover in sorted(stale, key=lambda p: not p.endswith(".set")):  # journals first
        if leftover.endswith(".set"):
            _complete_set(leftover)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(leftover)


def _target(path, overwrite):
    """The file a write of ``path`` will create or replace, checked: its folder exists, it does not
    exist when ``overwrite`` is False, and it is not read-only."""
    path = os.fspath(path)
    target = os.path.realpath(path) if overwrite else os.path.abspath(path)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, "the folder to write into does not exist", folder)
    if not overwrite and os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "will not overwrite an existing file", path)
    if overwrite and os.path.exists(target) and read_only(target):
        raise PermissionError(errno.EACCES, "will not replace a read-only file (make it writable first)", path)
    return target


def read_only(path):
    """Whether ``path`` is a file glassnet refuses to replace: one with no write permission for
    anyone (even for root), or none for this process."""
    return not os.stat(path).st_mode & 0o222 or not os.access(path, os.W_OK)


def _temp_name(target, kind="tmp"):
    folder, name = os.path.split(target)
    return os.path.join(folder, f".{name}.glassnet-{HOST}-{os.getpid()}-{secrets.token_hex(8)}.{kind}")


def _create_temp(target):
    """A new empty temporary file for ``target``, mode 0666 less the umask (applied by the kernel,
    as for a plain ``open``, along with the folder's setgid group and default ACLs)."""
    tmp = _temp_name(target)
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    return tmp


def _match(name, target_name=None):
    """The match of ``name`` against glassnet's leftover names (of ``target_name`` if given)."""
    prefix = re.escape(f".{target_name}.") if target_name is not None else r"\..*\."
    return re.fullmatch(prefix + LEFTOVER, name, re.DOTALL)


def _is_stale(entry, target_name):
    match = _match(entry.name, target_name)
    status = _own_file(entry.path) if match else None
    if status is None:
        return False
    if time.time() - status.st_mtime > STALE_AFTER_SECONDS:
        return True
    return match["host"] == HOST and not _running(int(match["pid"]))


def _own_file(path):
    """The ``stat`` of ``path`` if it is a plain file of this user (on Windows, where ownership
    is not in ``stat``, of anyone), else None (also when another write just removed it)."""
    try:
        status = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    mine = not hasattr(os, "geteuid") or status.st_uid == os.geteuid()
    return status if stat.S_ISREG(status.st_mode) and mine else None


def _running(pid):
    """Whether process ``pid`` runs on this machine (on Windows, unknown: assumed to)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate it there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def _keep_owner_and_mode(tmp, target):
    """Give ``tmp`` the mode, and where permitted the owner and group, of the file it replaces."""
    try:
        old = os.stat(target)
    except FileNotFoundError:
        return
    if hasattr(os, "chown"):
        for owner in (old.st_uid, -1):  # the owner needs root; the group, membership of it
            with contextlib.suppress(PermissionError):
                os.chown(tmp, owner, old.st_gid)
                break
    os.chmod(tmp, stat.S_IMODE(old.st_mode))  # after chown, which clears setuid and setgid


def _place_set(pairs, overwrite):
    """Give each temporary file of ``pairs`` (tmp, target) its target's name, in order; with more
    than one, a journal beside the first target lists them until all are in place."""
    journal = _write_journal(pairs, overwrite) if len(pairs) > 1 else None
    try:
        for tmp, target in pairs:
            _place(tmp, target, overwrite)
        _fsync_folders(target for _, target in pairs)
    finally:
        if journal is not None:
            os.unlink(journal)


def _place(tmp, target, overwrite):
    """Rename ``tmp`` to ``target``; with ``overwrite`` False, only if ``target`` does not exist."""
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)  # fails if target exists, atomically
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "will not overwrite an existing file", target) from None
    except OSError:  # no hard links here (FAT, some network shares): claim the name, then rename over it
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            raise FileExistsError(errno.EEXIST, "will not overwrite an existing file", target) from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def _write_journal(pairs, overwrite):
    """Write and flush the journal of a set whose temporary files are all on disk; its path."""
    first = pairs[0][1]
    tmp, journal = _create_temp(first), _temp_name(first, "set")
    try:
        with open(tmp, "w", encoding="utf-8") as file:
            json.dump({"overwrite": overwrite, "files": pairs}, file)
        _fsync_file(tmp)
        os.replace(tmp, journal)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_folders([journal])
    return journal


def _complete_set(journal):
    """Put in place the temporary files a killed write of a set left, as its journal lists them
    (only glassnet's temporary files of each target, owned by this user)."""
    try:
        with open(journal, encoding="utf-8") as file:
            spec = json.load(file)
        pairs = [(str(tmp), str(target)) for tmp, target in spec["files"]]
        overwrite = spec["overwrite"] is True
    except (OSError, ValueError, KeyError, TypeError):
        return  # not a journal of ours: removed as a leftover
    for tmp, target in pairs:
        if _is_temp_of(tmp, target):
            with contextlib.suppress(FileExistsError, FileNotFoundError):
                _place(tmp, target, overwrite)
    _fsync_folders(target for _, target in pairs)


def _is_temp_of(tmp, target):
    folder, name = os.path.split(target)
    return (os.path.dirname(tmp) == folder and tmp.endswith(".tmp")
            and _match(os.path.basename(tmp), name) is not None and _own_file(tmp) is not None)


def _fsync_file(path):
    with open(path, "rb+") as file:
        os.fsync(file.fileno())


def _fsync_folders(paths):
    """Flush the folders holding ``paths``, so that their renames survive a power cut (POSIX;
    Windows cannot open a folder for this, and its file systems journal renames)."""
    if os.name == "nt":
        return
    for folder in sorted({os.path.dirname(os.path.abspath(path)) for path in paths}):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
