#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_push
short_description: Push archived folders back onto a school server with rsync over SSH
description:
  - Runs on the control node (C(delegate_to) C(localhost)) and copies each folder of O(items) from the
    archive onto the school server with C(rsync) over C(ssh) - the way back of C(clix_pull), used by
    C(restore.yml).
  - Files are written under their final name only when complete; unchanged files are not sent again, and
    files on the server that the archive does not hold are left as they are (nothing is deleted).
  - Each item's files get the owner, group and modes the server expects (O(items[].owner),
    O(items[].group), O(items[].chmod)), whatever the archive's private modes are.
  - Devices, FIFOs and sockets are never sent; symbolic links are sent as links (the archive keeps only
    those that stay inside their item). Hidden work files of the archive (C(.rsync-partial), C(.incoming))
    are never sent.
  - SSH host key checking stays on - the school's key must be in the known_hosts file.
version_added: "0.2.0"
options:
  items:
    description: What to push.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Item name (for the report).
        type: str
        required: true
      src:
        description: Folder on the control node whose contents are pushed.
        type: path
        required: true
      dest:
        description: Folder on the server that receives them (its parent must exist).
        type: str
        required: true
      owner:
        description: Owner of every file and folder written (as rsync C(--chown)); the SSH user's when omitted.
        type: str
      group:
        description: Group of every file and folder written; the SSH user's when omitted.
        type: str
      chmod:
        description: Modes of what is written, as rsync C(--chmod) takes them.
        type: str
        default: D0755,F0644
  timeout:
    description: Seconds without progress before rsync gives up.
    type: int
    default: 120
  compress:
    description: Compress on the wire (already-compressed media is sent as it is).
    type: bool
    default: true
attributes:
  check_mode:
    details: Runs rsync with C(--dry-run) and reports in RV(items) what would be written; nothing is written.
  diff_mode:
    details: What was sent is counted in RV(items).
requirements: [rsync on the control node and on the school server, ssh]
extends_documentation_fragment:
  - clix_progress
  - clix_ssh
  - clix_attributes
"""

EXAMPLES = r"""
- name: Put media back
  clix_push:
    host: 10.0.0.5
    user: root
    items:
      - {name: media, src: /srv/archive/2026/mz/2031001-mz1/gstudio/media, dest: /home/core/data/media, owner: root, group: root}
  delegate_to: localhost
"""

RETURN = r"""
items:
  description: One entry per item - name, status (C(ok) or C(failed)), reason, files_transferred, bytes_sent, total_bytes, seconds.
  returned: always
  type: list
  elements: dict
"""

import os
import time
from typing import Callable

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_rsync import (
    LOCAL_CONNECTIONS,
    SSH_CONNECTIONS,
    link_options,
    parse_stats,
    remote,
    rsync_watched,
    ssh_argument_spec,
)


def rsync_argv(p: dict, item: dict, check: bool) -> list:
    argv = [p["rsync_path"], "-rlpt", "--no-devices", "--no-specials", "--safe-links", "--stats",
            "--chmod=%s" % item["chmod"], "--timeout=%d" % p["timeout"],
            # The archive's own work files are not data.
            "--exclude=.rsync-partial/", "--exclude=.incoming/", "--exclude=.clix-*"]
    if item.get("owner") or item.get("group"):
        argv.append("--chown=%s:%s" % (item.get("owner") or "", item.get("group") or ""))
    argv += link_options(p, check)
    if not check:
        argv.append("--info=progress2")
    return [*argv, item["src"].rstrip("/") + "/", remote(p, item["dest"].rstrip("/") + "/")]


def throttled(show: Callable | None, name: str, seconds: float) -> Callable:
    """rsync's progress handler: a line "pushing <item>: ..." at most every seconds (none without show)."""
    last = [time.monotonic()]

    def note(match) -> None:
        if show and time.monotonic() - last[0] >= seconds:
            last[0] = time.monotonic()
            show("pushing %s: %s bytes (%s of the item), %s" % (name, *match.groups()))
    return note


def push_item(p: dict, item: dict, check: bool, show: Callable | None = None) -> dict:
    started = time.time()
    result = dict(name=item["name"], status="ok", reason=None, files_transferred=0, bytes_sent=0, total_bytes=0)
    if not os.path.isdir(item["src"]):
        result.update(status="failed", reason="%s is not a folder of the archive" % item["src"])
        return result
    rc, out, err = rsync_watched(rsync_argv(p, item, check), throttled(show, item["name"], p["progress_seconds"]))
    result.update(parse_stats(out, ("files_transferred", "bytes_sent", "total_bytes")))
    if rc != 0:
        result.update(status="failed", reason="rsync exited %d: %s" % (rc, err.strip()[-2000:]))
    result["seconds"] = round(time.time() - started, 3)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            **ssh_argument_spec(),
            items=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                src=dict(type="path", required=True),
                dest=dict(type="str", required=True),
                owner=dict(type="str"),
                group=dict(type="str"),
                chmod=dict(type="str", default="D0755,F0644"),
            )),
            timeout=dict(type="int", default=120),
            connect_timeout=dict(type="int", default=20),
            bwlimit=dict(type="int", default=0),
            compress=dict(type="bool", default=True),
            rsync_path=dict(type="str", default="rsync"),
            progress_seconds=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["connection"] not in SSH_CONNECTIONS + LOCAL_CONNECTIONS:
        module.fail_json(msg="clix_push pushes with rsync over ssh (or locally); it cannot ride the connection %r "
                         "of this host. Reach the school server over ssh." % p["connection"])
    os.makedirs(os.path.expanduser("~/.ansible/cp"), mode=0o700, exist_ok=True)
    # Only the in-process twin of AnsibleModule (action_plugins/clix_inprocess.py) can print.
    show = getattr(module, "progress", None) if p["progress_seconds"] > 0 else None
    results = [push_item(p, item, module.check_mode, show) for item in p["items"]]
    failed = [r for r in results if r["status"] != "ok"]
    if failed:
        module.fail_json(msg="; ".join("%s: %s" % (r["name"], r["reason"]) for r in failed), items=results)
    module.exit_json(changed=any(r["files_transferred"] for r in results), items=results)


if __name__ == "__main__":
    main()
