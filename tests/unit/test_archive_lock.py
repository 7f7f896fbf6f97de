"""The archive lock (library/clix_archive_lock.py): one holder at a time, a dead holder taken over
by exactly one run, a live one or one on another host never."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import socket
import stat
import subprocess
import time

import pytest
from library_module import library_module

lock = library_module("clix_archive_lock")
DEAD = 2**22 + 7  # above the default pid_max: never a live process


def write_holder(path, pid: int, host: str | None = None) -> None:
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "started": "earlier"}))


def test_a_free_archive_is_locked_and_released(tmp_path):
    path = tmp_path / "archive" / lock.LOCK
    assert lock.take(str(path), 4242, check=False) is None
    assert json.loads(path.read_text())["pid"] == 4242
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert lock.give_back(str(path), 1111, check=False) is False and path.exists()  # not ours
    assert lock.give_back(str(path), 4242, check=False) is True
    assert list(path.parent.iterdir()) == []  # nothing left behind


def test_a_live_holder_is_never_taken_over(tmp_path):
    path = tmp_path / lock.LOCK
    write_holder(path, os.getpid())
    with pytest.raises(lock.LockHeld) as held:
        lock.take(str(path), 4242, check=False)
    assert held.value.holder["pid"] == os.getpid()
    assert json.loads(path.read_text())["pid"] == os.getpid()


def test_a_holder_on_another_host_is_never_taken_over(tmp_path):
    path = tmp_path / lock.LOCK
    write_holder(path, DEAD, host="some-other-control-node")
    with pytest.raises(lock.LockHeld):
        lock.take(str(path), 4242, check=False)


def test_a_dead_holder_is_taken_over(tmp_path):
    path = tmp_path / lock.LOCK
    write_holder(path, DEAD)
    assert lock.take(str(path), os.getpid(), check=False)["pid"] == DEAD
    assert json.loads(path.read_text())["pid"] == os.getpid()


def test_check_mode_takes_nothing(tmp_path):
    path = tmp_path / lock.LOCK
    write_holder(path, DEAD)
    assert lock.take(str(path), os.getpid(), check=True)["pid"] == DEAD
    assert json.loads(path.read_text())["pid"] == DEAD
    assert sorted(p.name for p in tmp_path.iterdir()) == [lock.LOCK]


def contender(path: str, start, finish, wins) -> None:
    start.wait()
    try:
        lock.take(path, os.getpid(), check=False)
        wins.put(os.getpid())
    except lock.LockHeld:
        pass
    finish.wait()  # stay alive until every contender has tried: a winner that exited would be dead


@pytest.fixture(params=["folder", "guard file"])
def guard(request, monkeypatch) -> str:
    """The guard: a flock on the archive folder, or on the guard file where folders cannot be flocked."""
    if request.param == "guard file":
        real = lock.fcntl.flock

        def no_folder_locks(fd, operation):
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                raise OSError(errno.EBADF, "flock on a folder is emulated with write locks here (NFS)")
            return real(fd, operation)

        monkeypatch.setattr(lock.fcntl, "flock", no_folder_locks)
    return request.param


def test_the_guard_file_is_used_where_a_folder_cannot_be_locked(tmp_path, guard):
    lock.take(str(tmp_path / lock.LOCK), 4242, check=False)
    guard_file = tmp_path / (lock.LOCK + lock.GUARD)
    assert guard_file.exists() == (guard == "guard file")


@pytest.mark.parametrize("contenders", [2, 4])
def test_two_takeovers_of_a_dead_holder_never_both_win(tmp_path, monkeypatch, guard, contenders):
    # Reading the lock is slowed down so that every contender reads it before any writes it: without
    # the guard they would all see the dead holder and all take over.
    read = lock.read_lock

    def slow_read(path):
        holder = read(path)
        time.sleep(0.05)
        return holder

    monkeypatch.setattr(lock, "read_lock", slow_read)
    ctx = multiprocessing.get_context("fork")
    for _ in range(10):
        path = tmp_path / lock.LOCK
        write_holder(path, DEAD)
        start, finish, wins = ctx.Barrier(contenders), ctx.Barrier(contenders), ctx.Queue()
        procs = [ctx.Process(target=contender, args=(str(path), start, finish, wins)) for _ in range(contenders)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        winners = []
        while not wins.empty():
            winners.append(wins.get())
        assert len(winners) == 1, winners
        assert json.loads(path.read_text())["pid"] == winners[0]


def test_a_holder_on_another_host_whose_heartbeat_stopped_is_taken_over(tmp_path):
    """Every AWX job runs on a fresh host: its lock is left for good unless its heartbeat says it died."""
    path = tmp_path / lock.LOCK
    write_holder(path, os.getpid(), host="job-of-yesterday")
    os.utime(path, (time.time() - 3600, time.time() - 3600))
    assert lock.take(str(path), 4242, check=False, stale_after=900)["host"] == "job-of-yesterday"
    assert json.loads(path.read_text())["pid"] == 4242


def test_a_holder_on_another_host_with_a_fresh_heartbeat_is_never_taken_over(tmp_path):
    path = tmp_path / lock.LOCK
    write_holder(path, DEAD, host="running-job")
    os.utime(path, (time.time() - 60, time.time() - 60))
    with pytest.raises(lock.LockHeld):
        lock.take(str(path), 4242, check=False, stale_after=900)


def test_the_heartbeat_is_renewed_while_the_holder_lives_and_holds_the_lock(tmp_path):
    path = tmp_path / lock.LOCK
    write_holder(path, os.getpid())
    os.utime(path, (time.time() - 3600, time.time() - 3600))
    lock.keep_alive(str(path), os.getpid(), 0.05)
    deadline = time.monotonic() + 20
    while lock.heartbeat_age(str(path)) > 600 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock.heartbeat_age(str(path)) < 600
    path.unlink()  # released: the renewer stops and never brings the file back
    time.sleep(0.3)
    assert not path.exists()


def test_the_lock_is_given_back_when_its_run_ends_holding_it(tmp_path):
    """A play whose every host failed or became unreachable runs no finish (Ansible's always: runs only
    for hosts left in the play): the lock's keeper gives it back the moment the run ends."""
    path = tmp_path / lock.LOCK
    run = subprocess.Popen(["sleep", "60"])
    try:
        assert lock.take(str(path), run.pid, check=False) is None
        lock.keep_alive(str(path), run.pid, 60)
        time.sleep(0.3)
        assert json.loads(path.read_text())["pid"] == run.pid  # held while the run lives
    finally:
        run.kill()
        run.wait()
    deadline = time.monotonic() + 10
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not path.exists()
    assert lock.take(str(path), 4242, check=False) is None  # free: no takeover, no warning
