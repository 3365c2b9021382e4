"""io/atomic.py: no half-written file is ever seen, no existing file is clobbered without
``overwrite``, the umask is never touched, modes, owners, read-only files and symbolic links are
treated as documented, the folder is flushed, and what a killed write left is tidied up."""
import multiprocessing
import os
import secrets
import signal
import stat
import subprocess
import sys
import threading

import pytest

from glassnet.io import atomic

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX file semantics (Windows: see docs/model-files.md)")


def leftovers(folder):
    """glassnet's temporary files and journals in ``folder``."""
    return sorted(name for name in os.listdir(folder) if atomic._match(name))


def dead_pid():
    """The PID of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def leftover(path, pid, host=atomic.HOST, kind="tmp", age=0):
    """A file named as a write of ``path`` by process ``pid`` on ``host`` would name its temporary
    file, last changed ``age`` seconds ago."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.glassnet-{host}-{pid}-{secrets.token_hex(8)}.{kind}")
    with open(tmp, "w") as file:
        file.write("partial")
    os.utime(tmp, (os.path.getmtime(tmp) - age,) * 2)
    return tmp


@pytest.fixture
def umask():
    """A function that sets the umask for the test; the old one is restored after it."""
    real_umask = os.umask
    old = real_umask(0o022)
    yield real_umask
    real_umask(old)


@pytest.fixture
def no_umask_calls(monkeypatch):
    def forbidden(*args):
        raise AssertionError("os.umask was called: it changes the umask of every thread")
    monkeypatch.setattr(os, "umask", forbidden)


# -- exclusive creation --------------------------------------------------------------------------------
def test_of_threads_writing_without_overwrite_exactly_one_succeeds(tmp_path):
    path = tmp_path / "m.bin"
    for _ in range(20):
        barrier, results = threading.Barrier(8), {}

        def write(i):
            barrier.wait()
            try:
                atomic.write_bytes(path, b"%d" % i * 1000, overwrite=False)
                results[i] = "wrote"
            except FileExistsError:
                results[i] = "refused"
        threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [i for i, result in results.items() if result == "wrote"]
        assert len(winners) == 1 and len(results) == 8
        assert path.read_bytes() == b"%d" % winners[0] * 1000
        assert leftovers(tmp_path) == []
        path.unlink()


def _write_exclusively(path, i, barrier, queue):
    barrier.wait()
    try:
        atomic.write_bytes(path, b"%d" % i * 100_000, overwrite=False)
        queue.put((i, "wrote"))
    except FileExistsError:
        queue.put((i, "refused"))


def test_of_processes_writing_without_overwrite_exactly_one_succeeds(tmp_path):
    context = multiprocessing.get_context("fork")
    path = tmp_path / "m.bin"
    for _ in range(5):
        barrier, queue = context.Barrier(6), context.Queue()
        processes = [context.Process(target=_write_exclusively, args=(path, i, barrier, queue)) for i in range(6)]
        for process in processes:
            process.start()
        results = dict(queue.get(timeout=30) for _ in processes)
        for process in processes:
            process.join()
        winners = [i for i, result in results.items() if result == "wrote"]
        assert len(winners) == 1
        assert path.read_bytes() == b"%d" % winners[0] * 100_000
        assert leftovers(tmp_path) == []
        path.unlink()


def test_without_hard_links_creation_is_still_exclusive(tmp_path, monkeypatch):
    def no_links(*args):
        raise OSError(1, "Operation not permitted")
    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "m.bin"
    atomic.write_bytes(path, b"first", overwrite=False)
    with pytest.raises(FileExistsError, match="will not overwrite"):
        atomic.write_bytes(path, b"second", overwrite=False)
    assert path.read_bytes() == b"first" and leftovers(tmp_path) == []


def test_a_name_taken_while_writing_is_not_clobbered(tmp_path):
    path = tmp_path / "m.bin"
    with pytest.raises(FileExistsError, match="will not overwrite"):
        with atomic.atomic_path(path, overwrite=False) as tmp:
            with open(tmp, "wb") as file:
                file.write(b"mine")
            path.write_bytes(b"someone else's")  # after the early check, before the end
    assert path.read_bytes() == b"someone else's" and leftovers(tmp_path) == []


# -- umask, modes, owners -------------------------------------------------------------------------------
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_a_new_file_gets_0666_less_the_umask_which_is_never_changed(tmp_path, umask, no_umask_calls, mask):
    umask(mask)
    atomic.write_bytes(tmp_path / "new.bin", b"x")
    atomic.write_bytes(tmp_path / "exclusive.bin", b"x", overwrite=False)
    for name in ("new.bin", "exclusive.bin"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~mask


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664, 0o755])
def test_a_replaced_file_keeps_its_mode(tmp_path, no_umask_calls, mode):
    path = tmp_path / "m.bin"
    path.write_bytes(b"old")
    os.chmod(path, mode)
    atomic.write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and stat.S_IMODE(os.stat(path).st_mode) == mode


def other_group():
    """A group this process may give its files, other than its own; None if there is none."""
    groups = {4000} if os.geteuid() == 0 else set(os.getgroups())
    groups.discard(os.getegid())
    return min(groups) if groups else None


@pytest.mark.skipif(other_group() is None, reason="needs a second group (or root)")
def test_the_group_of_a_setgid_folder_and_of_a_replaced_file_is_kept(tmp_path):
    group = other_group()
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chown(shared, -1, group)
    os.chmod(shared, 0o2775)
    atomic.write_bytes(shared / "new.bin", b"x")
    assert os.stat(shared / "new.bin").st_gid == group  # as a plain open: the folder's group
    replaced = tmp_path / "replaced.bin"
    replaced.write_bytes(b"old")
    os.chown(replaced, -1, group)
    atomic.write_bytes(replaced, b"new")
    assert os.stat(replaced).st_gid == group


# -- read-only files and symbolic links -----------------------------------------------------------------
def test_a_read_only_file_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "m.bin"
    path.write_bytes(b"keep me")
    os.chmod(path, 0o444)
    with pytest.raises(PermissionError, match="read-only") as error:
        atomic.write_bytes(path, b"new")
    assert error.value.filename == str(path)
    assert path.read_bytes() == b"keep me" and leftovers(tmp_path) == []
    os.chmod(path, 0o644)
    atomic.write_bytes(path, b"new")
    assert path.read_bytes() == b"new"


def test_a_symbolic_link_is_written_through_and_stays_a_link(tmp_path):
    real = tmp_path / "real" / "m.bin"
    real.parent.mkdir()
    real.write_bytes(b"old")
    os.chmod(real, 0o640)
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    atomic.write_bytes(link, b"new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == b"new" and stat.S_IMODE(os.stat(real).st_mode) == 0o640
    assert leftovers(tmp_path) == [] and leftovers(real.parent) == []
    dangling = tmp_path / "dangling.bin"
    dangling.symlink_to(tmp_path / "real" / "created.bin")
    atomic.write_bytes(dangling, b"made")  # as open() would: the file the link names is created
    assert dangling.is_symlink() and (tmp_path / "real" / "created.bin").read_bytes() == b"made"
    with pytest.raises(FileExistsError):
        atomic.write_bytes(link, b"x", overwrite=False)  # a link is an existing name


# -- flushing -------------------------------------------------------------------------------------------
def test_the_file_then_the_folder_are_flushed(tmp_path, monkeypatch):
    events, fsync, replace = [], os.fsync, os.replace

    def recording_fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def recording_replace(source, target):
        events.append(("replace", str(target)))
        replace(source, target)
    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    path = tmp_path.resolve() / "m.bin"
    atomic.write_bytes(path, b"x")
    assert [kind for kind, _ in events] == ["fsync", "replace", "fsync"]
    assert atomic._match(os.path.basename(events[0][1]), "m.bin")  # the temporary file
    assert events[1:] == [("replace", str(path)), ("fsync", str(path.parent))]
    events.clear()
    atomic.write_bytes(path.parent / "n.bin", b"x", overwrite=False)
    assert events[-1] == ("fsync", str(path.parent))


# -- leftovers of killed writes -------------------------------------------------------------------------
def test_stale_temporary_files_of_the_same_path_are_removed_by_the_next_write(tmp_path):
    path = tmp_path / "m.bin"
    dead = leftover(path, dead_pid())
    old = leftover(path, os.getpid(), age=atomic.STALE_AFTER_SECONDS + 60)  # a running PID, but untouched for long
    live = leftover(path, os.getpid())  # a write in progress
    elsewhere = leftover(path, dead_pid(), host="0123abcd")  # another machine's PIDs mean nothing here
    other_target = leftover(tmp_path / "n.bin", dead_pid())
    not_ours = tmp_path / ".m.bin.abc123.tmp"  # not glassnet's pattern
    not_ours.write_text("x")
    atomic.write_bytes(path, b"new")
    remaining = set(os.listdir(tmp_path))
    assert os.path.basename(dead) not in remaining and os.path.basename(old) not in remaining
    assert {os.path.basename(p) for p in (live, elsewhere, other_target)} | {not_ours.name, "m.bin"} == remaining


def _killed_in_the_middle_of_a_write(path):
    with atomic.atomic_path(path) as tmp:
        with open(tmp, "wb") as file:
            file.write(b"half")
        os.kill(os.getpid(), signal.SIGKILL)


def test_a_write_killed_halfway_leaves_the_old_file_and_its_temporary_file_goes_next_time(tmp_path):
    path = tmp_path / "m.bin"
    path.write_bytes(b"old")
    process = multiprocessing.get_context("fork").Process(target=_killed_in_the_middle_of_a_write, args=(path,))
    process.start()
    process.join()
    assert process.exitcode == -signal.SIGKILL
    assert path.read_bytes() == b"old" and len(leftovers(tmp_path)) == 1
    atomic.tidy(path)
    assert leftovers(tmp_path) == [] and path.read_bytes() == b"old"


# -- sets of files --------------------------------------------------------------------------------------
def write_set(paths, content, overwrite=True):
    with atomic.atomic_paths(paths, overwrite) as temps:
        for tmp in temps:
            with open(tmp, "wb") as file:
                file.write(content)


def _killed_between_renames(paths, content):
    replace = os.replace
    renames = []

    def replace_then_die(source, target):
        if len(renames) == 2:  # the journal and the first file are in place, the others are not
            os.kill(os.getpid(), signal.SIGKILL)
        renames.append(target)
        replace(source, target)
    os.replace = replace_then_die
    write_set(paths, content)


def test_a_set_killed_between_its_renames_is_completed_by_the_next_write(tmp_path):
    paths = [str(tmp_path / name) for name in ("m.safetensors", "m.metrics.json", "m.png")]
    write_set(paths, b"run 1")
    process = multiprocessing.get_context("fork").Process(target=_killed_between_renames, args=(paths, b"run 2"))
    process.start()
    process.join()
    assert process.exitcode == -signal.SIGKILL
    contents = [open(p, "rb").read() for p in paths]
    assert contents == [b"run 2", b"run 1", b"run 1"]  # a mix, and a journal that says so:
    assert any(name.endswith(".set") for name in leftovers(tmp_path))
    atomic.tidy(paths[0])  # what the next write of the set does first
    assert [open(p, "rb").read() for p in paths] == [b"run 2"] * 3
    assert leftovers(tmp_path) == []


def test_a_set_that_fails_before_its_renames_changes_nothing(tmp_path):
    paths = [str(tmp_path / name) for name in ("a", "b")]
    write_set(paths, b"old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_paths(paths):
            raise RuntimeError("failed while writing")
    assert [open(p, "rb").read() for p in paths] == [b"old", b"old"] and leftovers(tmp_path) == []


def test_of_sets_written_without_overwrite_one_claims_them_all(tmp_path):
    paths = [str(tmp_path / name) for name in ("m", "m.json", "m.png")]
    barrier, results = threading.Barrier(4), []

    def write(i):
        barrier.wait()
        try:
            write_set(paths, b"%d" % i, overwrite=False)
            results.append(i)
        except FileExistsError:
            pass
    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 1
    assert [open(p, "rb").read() for p in paths] == [b"%d" % results[0]] * 3 and leftovers(tmp_path) == []


def test_a_write_nested_in_a_set_goes_straight_to_its_temporary_file(tmp_path):
    paths = [str(tmp_path / "a"), str(tmp_path / "b")]
    with atomic.atomic_paths(paths) as (a, b):
        atomic.write_text(a, "first")
        atomic.write_text(b, "second")
        assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(t) for t in (a, b))
    assert [open(p).read() for p in paths] == ["first", "second"] and leftovers(tmp_path) == []
