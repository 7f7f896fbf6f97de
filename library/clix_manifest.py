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
  - Nor is a file whose size, mtime and inode are those C(clix_pull) saw when it hashed the file as
    it parsed it (a lab PC's JSON files; left in hidden C(.clix-known-*.json) files of the folder, removed
    once the manifest is written). A file changed since is read and hashed again.
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
    description:
      - This run's item results - name, status, reason, source, bytes_received, total_bytes, seconds, skipped_links.
      - An item's C(details) (a dict, for example the installs of a lab PC or the extraction an ingest
        read) is kept in its entry as it is.
    type: list
    elements: dict
    required: true
  run:
    description:
      - Run facts - started, ended, tools (versions).
      - C(started) and C(ended) are ISO 8601 times with their zone; one without (or that is no time) fails
        the task before anything is written.
    type: dict
    default: {}
  top_folders:
    description: LEVEL 3 folders whose files are listed.
    type: list
    elements: str
    default: [gstudio, unplatform]
  counts:
    description:
      - "What this run's producers counted, per item - for example C({db: {documents: 1234}}). Kept in the
        item's entry (C(counts)) only when the item ended C(ok); None values are left out."
    type: dict
    default: {}
  postgres_dump:
    description:
      - The PostgreSQL dump below O(root), where C(module_utils/clix_layout.py) puts it. When the
        C(postgres-dump) item ended C(ok), the rows of C(public.auth_user) in it are counted into that
        item's C(counts.users) (a stream read, only when the dump changed).
    type: str
    default: gstudio/postgres-dump/pg_dump_all.sql
  heartbeat:
    description: This run's heartbeat (C(clix_heartbeat)); its summary (uptime, load, memory, disks, clock skew, services) is kept as C(heartbeat).
    type: dict
  complete_run:
    description: This run asked for every item. When every item then ended C(ok) or C(absent) its end time is recorded as C(last_complete).
    type: bool
    default: false
attributes:
  check_mode:
    details: >-
      Does nothing - reads no file and writes no manifest; returns RV(path) with RV(files) and RV(bytes) 0
      and C(changed=false), so a check run says nothing about what the manifest would record.
  diff_mode:
    details: The manifest written is RV(path).
extends_documentation_fragment:
  - clix_progress
  - clix_attributes
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

import contextlib
import datetime
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_layout import HISTORY, MANIFEST, pg_dump_path
from ansible.module_utils.clix_manifest import (
    ABSENT,
    FORMAT,
    OK,
    Tree,
    count_copy_rows,
    heartbeat_summary,
    load,
    scan,
    scanned_so_far,
    take_known,
    write,
)
from ansible.module_utils.clix_progress import module_progress

ITEM_KEYS = ("status", "reason", "source", "bytes_received", "total_bytes", "seconds", "skipped_links")


def merged_items(previous: dict | None, results: list, stamp: str, counts: dict) -> dict:
    items = dict((previous or {}).get("items", {}))
    for r in results:
        entry = {k: r.get(k) for k in ITEM_KEYS}
        entry["skipped_links"] = entry["skipped_links"] or []
        entry["collected_at"] = stamp
        if r.get("details"):
            entry["details"] = r["details"]
        found = {k: v for k, v in (counts.get(r["name"]) or {}).items() if v is not None}
        if r.get("status") == OK and found:
            entry["counts"] = found
        items[r["name"]] = entry
    return items


def postgres_users(root: str, relpath: str | None, items: dict, previous: dict | None, files: dict) -> None:
    """Count the dump's users into the postgres-dump item when it was collected now (a changed dump),
    or keep the count of the dump that is still there."""
    entry = items.get("postgres-dump")
    if not relpath or not entry or entry.get("status") != OK or files.get(relpath, {}).get("type", "file") != "file":
        return
    old = (previous or {}).get("files", {}).get(relpath, {})
    old_count = ((previous or {}).get("items", {}).get("postgres-dump") or {}).get("counts", {}).get("users")
    if old.get("sha256") == files[relpath]["sha256"] and old_count is not None:
        users = old_count
    else:
        users = count_copy_rows(os.path.join(root, relpath), "public.auth_user")
    if users is not None:
        entry["counts"] = dict(entry.get("counts") or {}, users=users)


def kept_origins(previous: dict | None, files: dict) -> dict:
    """Where each file came from (recorded by clix_merge), kept for the files that did not change."""
    old_files = (previous or {}).get("files", {})
    return {rel: origin for rel, origin in ((previous or {}).get("origins") or {}).items()
            if rel in files and old_files.get(rel, {}).get("sha256") == files[rel]["sha256"]}


def refuse_zoneless_times(module) -> None:
    """Every time a manifest records carries its zone (its readers compare them with the time now):
    a run time without one, or that is no time, stops the seal before anything is written."""
    for key in ("started", "ended"):
        when = module.params["run"].get(key)
        try:
            zoned = not when or datetime.datetime.fromisoformat(str(when).replace("Z", "+00:00")).tzinfo is not None
        except ValueError:
            zoned = False
        if not zoned:
            module.fail_json(msg="run.%s %r is not an ISO 8601 time with its zone (YYYY-MM-DDTHH:MM:SS+00:00, as the "
                             "role's clix_now writes it): nothing was written" % (key, when))


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            school=dict(type="dict", required=True),
            items=dict(type="list", elements="dict", required=True),
            run=dict(type="dict", default={}),
            top_folders=dict(type="list", elements="str", default=["gstudio", "unplatform"]),
            complete_run=dict(type="bool", default=False),
            counts=dict(type="dict", default={}),
            postgres_dump=dict(type="str", default=pg_dump_path("")),
            heartbeat=dict(type="dict"),
            progress_seconds=dict(type="int", default=60),
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
    refuse_zoneless_times(module)
    stamp = p["run"].get("ended") or datetime.datetime.now(datetime.timezone.utc).isoformat()
    tops = p["top_folders"] + ([HISTORY] if os.path.isdir(os.path.join(root, HISTORY)) else [])
    hashed, left = take_known(root)
    tree = Tree()
    with module_progress(module, lambda: "sealing %s: %s" % (os.path.basename(root), scanned_so_far(tree))):
        scan(root, tops, previous, hashed, tree)
    files = tree.files
    for rel, kind in sorted(tree.special.items()):
        module.warn("%s/%s is a %s: not data, never read; remove it" % (root, rel, kind))
    items = merged_items(previous, p["items"], stamp, p["counts"])
    postgres_users(root, p["postgres_dump"], items, previous, files)
    last_complete = (previous or {}).get("last_complete")
    if p["complete_run"] and p["items"] and all(r.get("status") in (OK, ABSENT) for r in p["items"]):
        last_complete = stamp
    manifest = dict(format=FORMAT, school=p["school"], run=p["run"], top_folders=tops, items=items,
                    last_complete=last_complete, files=files, special_files=tree.special,
                    totals=dict(files=len(files), bytes=sum(f["size"] for f in files.values())))
    heartbeat = heartbeat_summary(p["heartbeat"]) or (previous or {}).get("heartbeat")
    if heartbeat:
        manifest["heartbeat"] = heartbeat
    origins = kept_origins(previous, files)
    if origins:
        manifest["origins"] = origins
    changed = previous is None or previous.get("files") != files or previous.get("items") != manifest["items"]
    write(root, manifest)
    for path in left:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    module.exit_json(changed=changed, path=path, files=len(files), bytes=manifest["totals"]["bytes"],
                     special_files=tree.special)


if __name__ == "__main__":
    main()
