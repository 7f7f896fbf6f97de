#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_archive_lock
short_description: Take or release the archive's lock, so that two collections never write it at once
description:
  - Runs on the control node. O(state=present) creates C(.clix-collect.lock) in O(path) holding the
    pid of the running C(ansible-playbook), or fails with a clear message when a live run holds it.
    A lock left by a run that died is taken over, with a warning. A holder is dead when it ran on
    this host and its pid no longer exists, or, for a lock taken on another host (every AWX job runs
    on a fresh one), when its heartbeat is older than O(stale_after) seconds.
  - The heartbeat is the lock file's modification time, which a small process started with the lock
    renews every O(heartbeat) seconds for as long as the run lives and holds the lock. When the run
    ends still holding it, that process gives the lock back at once. A play whose every host failed
    or became unreachable runs no finish of its own (Ansible's C(always) runs only for hosts still in
    the play); so it leaves no lock, and neither does an interrupted run.
  - Taking, taking over and releasing happen under an exclusive C(flock) on the archive root folder
    (or, where a folder cannot be flocked, on a C(.clix-collect.lock.guard) file kept beside the lock),
    so two runs that find the same dead holder never both take over - the second one finds the first
    as a live holder and is refused. The lock file itself is written whole (temporary name, fsync,
    rename).
  - O(state=absent) removes the lock if this run holds it.
version_added: "0.1.0"
options:
  path:
    description: The archive root.
    type: path
    required: true
  state:
    description: Take (present) or release (absent) the lock.
    type: str
    choices: [present, absent]
    default: present
  heartbeat:
    description: Seconds between two renewals of the lock's heartbeat (0 for none).
    type: int
    default: 60
  stale_after:
    description:
      - Seconds without a heartbeat after which a lock taken on another host counts as left by a run
        that died. Keep it well above O(heartbeat).
    type: int
    default: 900
attributes:
  check_mode:
    details: >-
      Reads the lock; with O(state=present) fails as a real run would when a live collection holds it (and
      warns when it would take over a dead run's lock); creates, takes over or removes no lock.
  diff_mode:
    details: The lock file is RV(lock).
extends_documentation_fragment:
  - clix_attributes
"""

EXAMPLES = r"""
- name: Lock the archive
  clix_archive_lock:
    path: /srv/archive
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
lock:
  description: The lock file.
  returned: always
  type: str
owner:
  description: The pid recorded in the lock.
  returned: always
  type: int
"""

import datetime
import fcntl
import json
import os
import select
import socket
import time
from contextlib import contextmanager
from typing import Iterator

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import atomic_output, read_regular

LOCK = ".clix-collect.lock"
GUARD = ".guard"


def playbook_pid() -> int:
    """The ansible-playbook process that runs this module: the outermost ancestor whose command
    line names ansible (its forked workers carry the same command line, and die per task)."""
    pid, found = os.getppid(), os.getppid()
    while pid > 1:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
            with open("/proc/%d/stat" % pid) as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
        if any(os.path.basename(arg) in (b"ansible-playbook", b"ansible") for arg in argv[:2]):
            found = pid
        pid = parent
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_lock(path: str) -> dict:
    try:
        data = read_regular(path, limit=4096)
        holder = json.loads(data.decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


class LockHeld(Exception):
    """A live run holds the lock (or took it a moment ago)."""

    def __init__(self, holder: dict) -> None:
        super().__init__(holder)
        self.holder = holder


@contextmanager
def guarded(path: str) -> Iterator[None]:
    """Hold the guard of the lock at path: every read-decide-write of the lock happens under it, so
    two runs can never both see a dead holder and both take over. The guard is an exclusive flock
    on the archive root itself (never removed, and leaves nothing in the archive); where folders
    cannot be flocked (NFS emulates flock with write locks), on a guard file beside the lock, which
    is never removed either (a lock on a file that can be unlinked protects nothing)."""
    fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        os.close(fd)
        fd = os.open(path + GUARD, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


def heartbeat_age(path: str) -> float:
    try:
        return time.time() - os.lstat(path).st_mtime
    except OSError:
        return 0.0


def holder_is_gone(holder: dict, path: str = "", stale_after: float = 0) -> bool:
    """A holder is gone when it ran on this host and its process no longer exists, or ran on
    another host and its heartbeat (the lock's mtime) is older than stale_after (0: never)."""
    if holder.get("host") == socket.gethostname():
        return not alive(int(holder.get("pid", 0) or 0))
    return bool(stale_after and path and heartbeat_age(path) > stale_after)


def ended(pidfd: int | None, pid: int, seconds: float) -> bool:
    """Wait up to `seconds` for the process to end (its pidfd wakes us at once; without one, sleep and
    look); whether it has."""
    if pidfd is None:
        time.sleep(seconds)
        return not alive(pid)
    return bool(select.select([pidfd], [], [], seconds)[0])


def keep_alive(path: str, me: int, every: float) -> None:
    """Renew the lock's heartbeat every `every` seconds while the run me lives and holds the lock, and
    give the lock back when the run ends holding it: a detached grandchild, so that neither the module
    nor Ansible's worker waits for it."""
    if every <= 0:
        return
    child = os.fork()
    if child:
        os.waitpid(child, 0)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        os.closerange(0, 65536)  # nothing of the worker's (its pipes, its sockets) stays open here
        try:
            pidfd = os.pidfd_open(me)
        except ProcessLookupError:
            pidfd = -1  # gone already
        except (AttributeError, OSError):
            pidfd = None  # no pidfd (an old kernel): polled
        gone = pidfd == -1
        while not gone and read_lock(path).get("pid") == me:
            os.utime(path, follow_symlinks=False)
            gone = ended(pidfd, me, every)
        if gone:
            give_back(path, me, check=False)
    finally:
        os._exit(0)


def take(path: str, me: int, check: bool, stale_after: float = 0) -> dict | None:
    """Take the lock for the run me. Returns the dead holder taken over from (or None); raises
    LockHeld when a live run holds it, or when it is ours already (holder pid == me: nothing to do)."""
    if check:
        holder = read_lock(path)
        if holder and holder.get("pid") != me and not holder_is_gone(holder, path, stale_after):
            raise LockHeld(holder)
        return holder or None
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with guarded(path):
        holder = read_lock(path)
        if holder and (holder.get("pid") == me or not holder_is_gone(holder, path, stale_after)):
            raise LockHeld(holder)
        with atomic_output(path) as out:
            out.write(json.dumps(dict(pid=me, host=socket.gethostname(),
                                      started=datetime.datetime.now(datetime.timezone.utc).isoformat())).encode())
    return holder or None


def give_back(path: str, me: int, check: bool) -> bool:
    """Remove the lock if the run me holds it; whether it did."""
    if check:
        return read_lock(path).get("pid") == me
    if not os.path.exists(path):
        return False
    with guarded(path):
        if read_lock(path).get("pid") != me:
            return False
        os.unlink(path)
    return True


def acquire(module: AnsibleModule, path: str, me: int) -> None:
    try:
        dead = take(path, me, module.check_mode, module.params["stale_after"])
    except LockHeld as held:
        holder = held.holder
        if holder.get("pid") == me:
            module.exit_json(changed=False, lock=path, owner=me)
        module.fail_json(msg="The archive is locked by another collection (pid %s on %s, started %s, heartbeat "
                         "%d s ago). Wait for it to finish; a lock of another host whose heartbeat stops is taken "
                         "over after %d s (stale_after)." % (
                             holder.get("pid"), holder.get("host"), holder.get("started"), heartbeat_age(path),
                             module.params["stale_after"]), lock=path)
    if dead:
        module.warn("taking over the lock of a collection that died (pid %s on %s, started %s)"
                    % (dead.get("pid"), dead.get("host"), dead.get("started")))
    if not module.check_mode:
        keep_alive(path, me, module.params["heartbeat"])
    module.exit_json(changed=True, lock=path, owner=me)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(path=dict(type="path", required=True),
                           state=dict(type="str", choices=["present", "absent"], default="present"),
                           heartbeat=dict(type="int", default=60),
                           stale_after=dict(type="int", default=900)),
        supports_check_mode=True,
    )
    os.umask(0o077)  # archive and staging hold private data
    path = os.path.join(module.params["path"], LOCK)
    me = playbook_pid()
    if module.params["state"] == "present":
        acquire(module, path, me)
    if not give_back(path, me, module.check_mode):
        module.exit_json(changed=False, lock=path, owner=read_lock(path).get("pid", 0))
    module.exit_json(changed=True, lock=path, owner=me)


if __name__ == "__main__":
    main()
