#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_unplatform_app
short_description: Stop a lab PC's unplatform app for a restore, and start it again as it ran
description:
  - Runs on a lab PC (with the private Python). unplatform runs no service - its launcher, started from the
    desktop, runs the two programs of the install (the UI and qbank-lite) with the install as their folder - so
    the app is told by what its processes use - the processes of this PC's mount namespace whose folder, program
    or an open file is inside one of O(roots).
  - With O(state=stopped), each is sent SIGTERM, and SIGKILL when it still runs after O(stop_seconds); what they
    were (program, arguments, folder, user, groups, environment) is kept in O(record) (mode 0600), never returned.
  - With O(state=started), the processes kept in O(record) that no other of them started (the launcher, not its
    children) are started again as they ran - the same program, arguments, folder, user, groups and environment,
    in a session of their own - and O(record) is removed. Nothing kept means the app was not running - nothing
    is started.
  - Runs as root only (another user's processes could not be seen, and the app would be taken for stopped).
version_added: "0.2.0"
options:
  state:
    description: C(stopped) stops the app and keeps what ran; C(started) starts again what O(record) keeps.
    type: str
    required: true
    choices: [stopped, started]
  roots:
    description: The install roots whose processes are the app (O(state=stopped)).
    type: list
    elements: path
    default: []
  record:
    description: The file on the PC that keeps the stopped processes, in a folder only root may use.
    type: path
    required: true
  stop_seconds:
    description: Seconds a process has to end after SIGTERM before it is killed.
    type: int
    default: 30
  staging_dir:
    description:
      - The staging folder that holds O(record) (C(clix_labpc_staging_dir)). It, and the folders below it on the way to
        O(record), are created 0700 and must belong to the user running the module; no part of the path may be a
        symbolic link. Anything else fails the task before anything is stopped.
      - Defaults to the folder holding O(record).
    type: path
attributes:
  check_mode:
    details: With O(state=stopped), lists what would be stopped and stops nothing; with O(state=started), starts nothing.
extends_documentation_fragment:
  - clix_attributes
"""

EXAMPLES = r"""
- name: Stop the app while its install is restored
  clix_unplatform_app:
    state: stopped
    roots: [/opt/clix]
    record: /opt/clix-collect/staging/app.json
    staging_dir: /opt/clix-collect/staging
  vars:
    ansible_python_interpreter: /opt/clix-collect/venv/bin/python

- name: Start it again as it ran
  clix_unplatform_app:
    state: started
    record: /opt/clix-collect/staging/app.json
    staging_dir: /opt/clix-collect/staging
"""

RETURN = r"""
processes:
  description: The processes stopped (or that would be), or started - pid, user (uid), program (escaped as shown).
  returned: always
  type: list
  elements: dict
"""

import contextlib
import json
import os
import signal
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import UnsafeFolderError, atomic_output, private_dir, read_regular
from ansible.module_utils.clix_identity import shown

RECORD_LIMIT = 16 << 20


def under(path: str, roots: list) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def proc(pid: int, name: str) -> str:
    return "/proc/%d/%s" % (pid, name)


def started_at(pid: int):
    """The process's start time (clock ticks since boot: it tells a process from a later one with its pid),
    or None when it is gone or a zombie."""
    try:
        with open(proc(pid, "stat"), "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in (b"Z", b"X") else int(fields[19])


def status_ids(pid: int) -> dict:
    with open(proc(pid, "status"), "rb") as f:
        lines = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
    return dict(uid=int(lines[b"Uid"].split()[0]), gid=int(lines[b"Gid"].split()[0]),
                groups=[int(g) for g in lines.get(b"Groups", b"").split()])


def uses(pid: int, roots: list) -> bool:
    """Whether the process's folder, program or an open file is inside one of roots."""
    links = ["cwd", "exe"]
    with contextlib.suppress(OSError):
        links += ["fd/" + fd for fd in os.listdir(proc(pid, "fd"))]
    paths = []
    for link in links:
        with contextlib.suppress(OSError):
            paths.append(os.readlink(proc(pid, link)))
    return any(under(p, roots) for p in paths)


def app_processes(roots: list) -> list:
    """The processes of this mount namespace (paths only mean the same there) that use roots, as the record keeps them."""
    mine = os.readlink("/proc/self/ns/mnt")
    skip = {os.getpid(), os.getppid()}
    found = []
    for name in sorted(os.listdir("/proc"), key=lambda n: (len(n), n)):
        if not name.isdigit() or int(name) in skip:
            continue
        pid = int(name)
        try:
            if os.readlink(proc(pid, "ns/mnt")) != mine or not uses(pid, roots):
                continue
            start = started_at(pid)
            if start is None:
                continue
            with open(proc(pid, "stat"), "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            argv = [os.fsdecode(a) for a in read_regular_proc(pid, "cmdline").split(b"\0")[:-1]]
            env = [os.fsdecode(e) for e in read_regular_proc(pid, "environ").split(b"\0") if e]
            found.append(dict(pid=pid, ppid=ppid, start=start, exe=os.readlink(proc(pid, "exe")), argv=argv,
                              cwd=os.readlink(proc(pid, "cwd")), env=env, **status_ids(pid)))
        except (OSError, ValueError, KeyError, IndexError):
            continue  # gone meanwhile, or a kernel thread
    return found


def read_regular_proc(pid: int, name: str) -> bytes:
    with open(proc(pid, name), "rb") as f:
        return f.read(RECORD_LIMIT)


def stop(processes: list, seconds: int) -> list:
    """SIGTERM to each, SIGKILL to those still running after seconds; the ones that never ended."""
    for sig, wait in ((signal.SIGTERM, seconds), (signal.SIGKILL, 5)):
        left = [p for p in processes if started_at(p["pid"]) == p["start"]]
        for p in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p["pid"], sig)
        deadline = time.monotonic() + wait
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = [p for p in left if started_at(p["pid"]) == p["start"]]
        if not left:
            return []
    return left


def start(p: dict) -> int:
    """Start the process p as it ran (its own session, no terminal); its new pid."""
    def become() -> None:
        os.setsid()
        os.setgroups(p["groups"])
        os.setgid(p["gid"])
        os.setuid(p["uid"])

    env = dict(e.split("=", 1) for e in p["env"] if "=" in e)
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        pid = os.fork()
        if pid == 0:  # the child: never returns into the module
            try:
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                os.closerange(3, 65536)
                os.chdir(p["cwd"])
                become()
                os.execve(p["exe"], p["argv"] or [p["exe"]], env)
            finally:
                os._exit(127)
    finally:
        os.close(devnull)
    return pid


def shown_process(p: dict) -> dict:
    return dict(pid=p["pid"], uid=p["uid"], program=shown(" ".join(p["argv"])[:300]))


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=["stopped", "started"]),
            roots=dict(type="list", elements="path", default=[]),
            record=dict(type="path", required=True),
            stop_seconds=dict(type="int", default=30),
            staging_dir=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    os.umask(0o077)
    if os.geteuid() != 0:  # another user's processes would be hidden: the app taken for stopped
        module.fail_json(msg="the app's processes can be found, stopped and started again only as root: connect as "
                         "root (or with become)", processes=[])
    try:
        folder = private_dir(os.path.dirname(p["record"]), p["staging_dir"])
        record = os.path.join(folder, os.path.basename(p["record"]))
        if p["state"] == "stopped":
            processes = app_processes([os.path.normpath(r) for r in p["roots"]])
            if module.check_mode or not processes:
                module.exit_json(changed=False, processes=[shown_process(x) for x in processes])
            with atomic_output(record) as f:
                f.write(json.dumps(processes).encode())
            left = stop(processes, p["stop_seconds"])
            if left:
                module.fail_json(msg="the app did not stop (still running: %s); stop it by hand and run again" % ", ".join(
                    "pid %d %s" % (x["pid"], shown(x["argv"][:1])) for x in left), processes=[])
            module.exit_json(changed=True, processes=[shown_process(x) for x in processes])
        if not os.path.lexists(record):
            module.exit_json(changed=False, processes=[])
        kept = json.loads(read_regular(record, limit=RECORD_LIMIT).decode("utf-8"))
        stopped = {x["pid"] for x in kept}
        tops = [x for x in kept if x["ppid"] not in stopped]
        if module.check_mode:
            module.exit_json(changed=False, processes=[shown_process(x) for x in tops])
        started = [dict(x, pid=start(x)) for x in tops]
        time.sleep(1)
        dead = [x for x in started if os.waitpid(x["pid"], os.WNOHANG)[0]]
        os.unlink(record)
        if dead:
            module.fail_json(msg="the app did not start again: %s ended at once" % ", ".join(
                shown(x["argv"][:1]) for x in dead), processes=[shown_process(x) for x in started])
        module.exit_json(changed=True, processes=[shown_process(x) for x in started])
    except (OSError, ValueError, KeyError, TypeError, UnsafeFolderError) as exc:
        module.fail_json(msg="the app could not be %s: %s" % (p["state"], exc))


if __name__ == "__main__":
    main()
