#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_manifest
short_description: Seal a school's archive folder with MANIFEST.json (sizes, sha256, item statuses)
description:
  - Runs on the control node. Writes C(MANIFEST.json) in the school's LEVEL 2 folder, beside
    C(gstudio/) - every file's path, size and sha256, every item's status (C(ok), C(failed),
    C(skipped), C(absent)) with the reason and source path, the versions of the tools and the
    start and end times of the run.
  - Items not collected in this run (for example with C(--tags db)) keep the entry of the run that
    last collected them, marked with that run's time.
  - A file whose size, mtime and inode are unchanged since the last manifest is not read again.
  - Nothing in the folder is followed - a symbolic link is recorded as a link (C(type=link), its
    C(target) as data), a FIFO, device or socket is never opened and is listed in C(special_files)
    with a warning. Each item lists the links its pull did not keep (C(skipped_links)).
version_added: "0.1.0"
options:
  root:
    description: The school's folder (LEVEL 2).
    type: path
    required: true
  school:
    description: Identity - state, server_id, school_code, school_name, host.
    type: dict
    required: true
  items:
    description: This run's item results - name, status, reason, source, bytes_received, total_bytes, seconds, skipped_links.
    type: list
    elements: dict
    required: true
  run:
    description: Run facts - started, ended, tools (versions).
    type: dict
    default: {}
  top_folders:
    description: LEVEL 3 folders whose files are listed.
    type: list
    elements: str
    default: [gstudio, unplatform]
  complete_run:
    description: This run asked for every item. When every item then ended C(ok) or C(absent) its end time is recorded as C(last_complete).
    type: bool
    default: false
attributes:
  check_mode:
    description: >-
      Does nothing - reads no file and writes no manifest; returns RV(path) with RV(files) and RV(bytes) 0
      and C(changed=false), so a check run says nothing about what the manifest would record.
    support: full
  diff_mode:
    description: >-
      Not supported; the manifest written is RV(path).
    support: none
author: clix-collect developers (@clix-collect)
"""

EXAMPLES = r"""
- name: Seal the school's folder
  clix_manifest:
    root: /srv/archive/2026/mz/2031001-mz1
    school: {state: mz, server_id: mz1, school_code: "2031001", school_name: GOVT. MIZO HIGH SCHOOL}
    items: "{{ clix_item_results }}"
  delegate_to: localhost
"""

RETURN = r"""
path:
  description: The manifest file.
  returned: always
  type: str
files:
  description: Number of files listed (0 in check mode, or when O(root) is not a folder - then nothing is written).
  returned: always
  type: int
bytes:
  description: Total size of the files listed (0 in check mode, or when O(root) is not a folder).
  returned: always
  type: int
special_files:
  description: FIFOs, devices and sockets found in the folder (never read) - path and kind.
  returned: always
  type: dict
"""

import datetime
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_manifest import FORMAT, MANIFEST, load, scan, write

ITEM_KEYS = ("status", "reason", "source", "bytes_received", "total_bytes", "seconds", "skipped_links")


def merged_items(previous: dict | None, results: list, stamp: str) -> dict:
    items = dict((previous or {}).get("items", {}))
    for r in results:
        entry = {k: r.get(k) for k in ITEM_KEYS}
        entry["skipped_links"] = entry["skipped_links"] or []
        entry["collected_at"] = stamp
        items[r["name"]] = entry
    return items


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            school=dict(type="dict", required=True),
            items=dict(type="list", elements="dict", required=True),
            run=dict(type="dict", default={}),
            top_folders=dict(type="list", elements="str", default=["gstudio", "unplatform"]),
            complete_run=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    os.umask(0o077)  # archive and staging hold private data
    p = module.params
    root = p["root"]
    path = os.path.join(root, MANIFEST)
    if module.check_mode or not os.path.isdir(root):
        module.exit_json(changed=False, path=path, files=0, bytes=0, special_files={})
    try:
        previous = load(root)
    except (OSError, ValueError) as exc:
        module.fail_json(msg="%s cannot be read (%s); move it aside and run again" % (path, exc))
    stamp = p["run"].get("ended") or datetime.datetime.now(datetime.timezone.utc).isoformat()
    tree = scan(root, p["top_folders"], previous)
    files = tree.files
    for rel, kind in sorted(tree.special.items()):
        module.warn("%s/%s is a %s: not data, never read; remove it" % (root, rel, kind))
    items = merged_items(previous, p["items"], stamp)
    last_complete = (previous or {}).get("last_complete")
    if p["complete_run"] and p["items"] and all(r.get("status") in ("ok", "absent") for r in p["items"]):
        last_complete = stamp
    manifest = dict(format=FORMAT, school=p["school"], run=p["run"], top_folders=p["top_folders"], items=items,
                    last_complete=last_complete, files=files, special_files=tree.special,
                    totals=dict(files=len(files), bytes=sum(f["size"] for f in files.values())))
    changed = previous is None or previous.get("files") != files or previous.get("items") != manifest["items"]
    write(root, manifest)
    module.exit_json(changed=changed, path=path, files=len(files), bytes=manifest["totals"]["bytes"],
                     special_files=tree.special)


if __name__ == "__main__":
    main()
