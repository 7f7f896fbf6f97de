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
    A lock left by a run that died is taken over, with a warning.
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
attributes:
  check_mode:
    description: >-
      Reads the lock; with O(state=present) fails as a real run would when a live collection holds it (and
      warns when it would take over a dead run's lock); creates, takes over or removes no lock.
    support: full
  diff_mode:
    description: >-
      Not supported; the lock file is RV(lock).
    support: none
author: clix-collect developers (@clix-collect)
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
import json
import os
import socket

from ansible.module_utils.basic import AnsibleModule

LOCK = ".clix-collect.lock"


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
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def acquire(module: AnsibleModule, path: str, me: int) -> None:
    holder = read_lock(path)
    if holder:
        same_host = holder.get("host") == socket.gethostname()
        if holder.get("pid") == me:
            module.exit_json(changed=False, lock=path, owner=me)
        if not same_host or alive(int(holder.get("pid", 0))):
            module.fail_json(msg="The archive is locked by another collection (pid %s on %s, started %s). Wait "
                             "for it to finish; if it is gone, remove %s." % (
                                 holder.get("pid"), holder.get("host"), holder.get("started"), path), lock=path)
        module.warn("taking over the lock of a collection that died (pid %s, started %s)"
                    % (holder.get("pid"), holder.get("started")))
    if module.check_mode:
        module.exit_json(changed=True, lock=path, owner=me)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    if holder:
        os.unlink(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        module.fail_json(msg="The archive was locked by another collection a moment ago (%s)" % path, lock=path)
    with os.fdopen(fd, "w") as f:
        json.dump(dict(pid=me, host=socket.gethostname(),
                       started=datetime.datetime.now(datetime.timezone.utc).isoformat()), f)
    module.exit_json(changed=True, lock=path, owner=me)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(path=dict(type="path", required=True),
                           state=dict(type="str", choices=["present", "absent"], default="present")),
        supports_check_mode=True,
    )
    os.umask(0o077)  # archive and staging hold private data
    path = os.path.join(module.params["path"], LOCK)
    me = playbook_pid()
    if module.params["state"] == "present":
        acquire(module, path, me)
    holder = read_lock(path)
    if holder.get("pid") != me:
        module.exit_json(changed=False, lock=path, owner=holder.get("pid", 0))
    if not module.check_mode:
        os.unlink(path)
    module.exit_json(changed=True, lock=path, owner=me)


if __name__ == "__main__":
    main()
