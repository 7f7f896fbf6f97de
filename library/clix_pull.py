#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_pull
short_description: Pull a school's items into its archive folder with rsync over SSH, resumably
description:
  - Runs on the control node (with C(delegate_to) set to C(localhost)) and pulls each item of O(items) from the
    school server with C(rsync) over C(ssh), into O(root) (the school's LEVEL 2 folder).
  - Incremental and resumable - unchanged files are not sent again, partial files are kept in a
    hidden C(.rsync-partial) folder and resumed, and files removed from the server stay in the
    archive (no deletion). Files appear under their final name only when complete.
  - C(snapshot) items (database dumps) are pulled into a hidden C(.incoming) folder, checked
    against the sha256 that the producing module reported, and only then swapped in whole, so the
    previous dump is replaced only by a complete, verified one.
  - SSH host key checking stays on - the school's key must be in the known_hosts file.
  - The archive is private - folders 0700, files 0600, owned by the operator.
version_added: "0.1.0"
options:
  host:
    description: Address of the school server.
    type: str
    required: true
  port:
    description: SSH port.
    type: int
    default: 22
  user:
    description: SSH user (who can read the sources without become).
    type: str
  private_key:
    description: SSH private key file.
    type: path
  ssh_args:
    description: Extra ssh options (for example the inventory's ansible_ssh_common_args).
    type: str
    default: ""
  root:
    description: The school's folder in the archive (LEVEL 2).
    type: path
    required: true
  items:
    description: What to pull.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Item name (for the report).
        type: str
        required: true
      src:
        description: Path on the server (a folder's contents are pulled).
        type: str
        required: true
      dest:
        description: Path below O(root).
        type: str
        required: true
      kind:
        description: C(folder) (merge, keep removed files), C(file), or C(snapshot) (verify, then swap in whole).
        type: str
        choices: [folder, file, snapshot]
        default: folder
      redact:
        description:
          - For C(file) items (settings files), replace secret values (SECRET_KEY, passwords, tokens) in the
            archived copy. The verbatim file never reaches the archive.
        type: bool
        default: false
      error:
        description: The producer of this item failed with this message; the item is reported as failed and not pulled.
        type: str
      expect:
        description: For snapshots, C({relative path - sha256}) that every pulled file must match.
        type: dict
        default: {}
  bwlimit:
    description: Bandwidth limit in KiB/s for slow school links (0 = none).
    type: int
    default: 0
  compress:
    description:
      - Compress on the wire (rsync C(--compress); zstd when both ends have rsync 3.2, zlib otherwise).
        Files that are already compressed (videos, images, archives) are sent as they are.
      - Saves time on slow school links, where logs, CSVs and the RCS repository shrink several
        times; costs CPU on a fast LAN.
    type: bool
    default: true
  timeout:
    description: Seconds without progress before rsync gives up (the run can be resumed).
    type: int
    default: 120
  progress_seconds:
    description:
      - While items are being pulled, print a line per running item this often (bytes so far, share of the
        item, rate); 0 for none.
      - Printed when the module runs on the control node through the C(clix_inprocess) action plugin (as
        C(collect.yml) runs it); a module process cannot print while it runs.
    type: int
    default: 60
  connect_timeout:
    description: Seconds to wait for the SSH connection.
    type: int
    default: 20
  rsync_path:
    description: rsync on the control node.
    type: str
    default: rsync
attributes:
  check_mode:
    description: >-
      Runs rsync with C(--dry-run) against the archived copy (against an empty temporary folder when
      nothing is archived yet) and reports in RV(items) what would be transferred. A settings file with
      O(items[].redact) is fetched into a private temporary folder to compare its redacted copy with the
      archived one, then removed. Nothing is written in the archive.
    support: full
  diff_mode:
    description: >-
      Not supported; what was transferred is counted in RV(items).
    support: none
requirements: [rsync on the control node and on the school server, ssh]
author: clix-collect developers (@clix-collect)
"""

EXAMPLES = r"""
- name: Pull media and nginx logs
  clix_pull:
    host: 10.0.0.5
    user: root
    root: /srv/archive/2026/mz/2031001-mz1
    items:
      - {name: media, src: /home/core/data/media/, dest: gstudio/media}
      - {name: nginx-logs, src: /home/core/data/nginx-logs/, dest: gstudio/nginx-logs}
  delegate_to: localhost
"""

RETURN = r"""
items:
  description: One entry per item.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Item name.
      type: str
    status:
      description: C(ok), C(failed) or C(absent) (not on the server).
      type: str
    reason:
      description: Why it failed or is absent.
      type: str
    source:
      description: The item's path on the server (its O(items[].src)).
      type: str
    bytes_received:
      description: Bytes that crossed the network (would, in check mode).
      type: int
    files_transferred:
      description: Files created or updated.
      type: int
    total_bytes:
      description: Size of the item on the server.
      type: int
    seconds:
      description: Time taken.
      type: float
bytes_received:
  description: Sum over the items.
  returned: always
  type: int
total_bytes:
  description: Sum over the items.
  returned: always
  type: int
"""

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Callable

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import atomic_output, fsync_dir, replace_dir, sha256_file
from ansible.module_utils.clix_settings import redact_settings

PARTIAL_DIR = ".rsync-partial"
INCOMING = ".incoming"
STATS = {
    "bytes_received": re.compile(r"^Total bytes received: ([\d,]+)", re.M),
    "files_transferred": re.compile(r"^Number of regular files transferred: ([\d,]+)", re.M),
    "total_bytes": re.compile(r"^Total file size: ([\d,]+)", re.M),
}
# rsync --info=progress2: "  1,234,567  12%  1.23MB/s    0:01:23 (xfr#5, to-chk=100/200)"
PROGRESS_LINE = re.compile(r"^\s*([\d,]+)\s+(\d+%)\s+(\S+/s)")
ABSENT = re.compile(r"(change_dir|link_stat) \"[^\"]*\" failed: No such file or directory")
RSYNC_EXIT = {
    5: "error starting the client-server protocol", 10: "error in socket I/O", 11: "error in file I/O",
    12: "error in the rsync protocol data stream", 23: "some files could not be transferred",
    24: "some source files vanished during the transfer", 30: "timeout in data send/receive",
    35: "timeout waiting for the daemon connection", 255: "ssh failed (host down, unreachable, or host key)",
}


def ssh_command(p: dict) -> str:
    argv = ["ssh", "-p", str(p["port"]), "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % p["connect_timeout"],
            "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3",
            # One SSH connection serves every item of the school: the one Ansible opened already,
            # as ansible.cfg puts its control sockets at the same path.
            "-o", "ControlMaster=auto", "-o", "ControlPersist=30",
            "-o", "ControlPath=%s" % os.path.expanduser("~/.ansible/cp/%C")]
    if p["private_key"]:
        argv += ["-i", p["private_key"]]
    argv += shlex.split(p["ssh_args"] or "")
    return " ".join(shlex.quote(a) for a in argv)


def remote(p: dict, path: str) -> str:
    user = ("%s@" % p["user"]) if p["user"] else ""
    host = "[%s]" % p["host"] if ":" in p["host"] else p["host"]
    return "%s%s:%s" % (user, host, path)


def rsync(p: dict, src: str, dest: str, check: bool, extra: list, progress: Callable | None = None) -> tuple:
    """(exit code, stdout, stderr); progress, when given, gets each of rsync's progress lines."""
    argv = [p["rsync_path"], "-a", "--no-owner", "--no-group", "--chmod=D0700,F0600", "--stats",
            "--partial-dir=%s" % PARTIAL_DIR, "--timeout=%d" % p["timeout"], "-e", ssh_command(p), *extra]
    if p["bwlimit"]:
        argv.append("--bwlimit=%d" % p["bwlimit"])
    if p["compress"]:
        argv.append("--compress")
    if check:
        argv.append("--dry-run")
    if progress is not None:
        argv.append("--info=progress2")
    argv += [remote(p, src), dest]
    return rsync_watched(argv, progress or (lambda _match: None))


def rsync_watched(argv: list, progress: Callable) -> tuple:
    """Run rsync, handing each progress line to progress and keeping the rest of its output."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = []
    drain = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    drain.start()
    out, pending = [], b""
    for chunk in iter(lambda: proc.stdout.read1(65536), b""):  # progress lines end in \r, not \n
        *lines, pending = re.split(rb"[\r\n]", pending + chunk)
        for line in lines:
            text = line.decode("utf-8", "replace")
            match = PROGRESS_LINE.match(text)
            if match:
                progress(match)
            elif text:
                out.append(text)
    out.append(pending.decode("utf-8", "replace"))
    proc.wait()
    drain.join()
    return proc.returncode, "\n".join(out), b"".join(err).decode("utf-8", "replace")


def parse_stats(stdout: str) -> dict:
    out = {}
    for key, rx in STATS.items():
        m = rx.search(stdout)
        out[key] = int(m.group(1).replace(",", "")) if m else 0
    return out


def verify_snapshot(folder: str, expect: dict) -> list:
    problems = []
    for rel, digest in sorted(expect.items()):
        path = os.path.join(folder, rel)
        if not os.path.isfile(path):
            problems.append("%s missing" % rel)
        elif sha256_file(path) != digest:
            problems.append("%s differs from what the server wrote" % rel)
    return problems


def remove_empty_parents(folder: str, stop: str) -> None:
    while os.path.abspath(folder) != os.path.abspath(stop):
        try:
            os.rmdir(folder)
        except OSError:
            return
        folder = os.path.dirname(folder)


def pull_redacted(p: dict, item: dict, check: bool, result: dict, started: float) -> dict:
    """Pull a settings file to a private temporary name, write the redacted copy in its place."""
    final = os.path.join(p["root"], item["dest"])
    work = tempfile.mkdtemp(prefix="clix-redact-")
    try:
        rc, out, err = rsync(p, item["src"], os.path.join(work, "f"), False, [])
        result.update(parse_stats(out))
        if rc != 0:
            result.update(status="absent" if ABSENT.search(err) else "failed", reason=err.strip()[-300:])
        else:
            with open(os.path.join(work, "f"), "rb") as f:
                text = redact_settings(f.read().decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
            old = None
            if os.path.exists(final):
                with open(final, "rb") as f:
                    old = f.read()
            result["files_transferred"] = int(old != text)
            if old != text and not check:
                os.makedirs(os.path.dirname(final), mode=0o700, exist_ok=True)
                with atomic_output(final) as dst:
                    dst.write(text)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["seconds"] = round(time.time() - started, 3)
    return result


def pull_item(p: dict, item: dict, check: bool, progress: Callable | None = None) -> dict:
    started = time.time()
    root = p["root"]
    final = os.path.join(root, item["dest"])
    kind = item["kind"]
    result = dict(name=item["name"], status="ok", reason=None, source=item["src"], bytes_received=0,
                  files_transferred=0, total_bytes=0)
    if item["error"]:
        result.update(status="failed", reason=item["error"], seconds=0.0)
        return result
    if kind == "file" and item["redact"]:
        return pull_redacted(p, item, check, result, started)
    if kind == "snapshot":
        target = os.path.join(root, INCOMING, item["dest"])
        if not check and not os.path.exists(target):
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            if os.path.isdir(final):
                # Seed with hard links to the previous dump: rsync then sends only what changed,
                # and replaces files by rename, so the archived dump is never modified in place.
                subprocess.run(["cp", "-al", final, target], check=True)
        # -c: a re-made dump has new mtimes; compare contents. --delete: only inside .incoming.
        extra = ["-c", "--delete"]
        dest = target + "/"
    elif kind == "file":
        target, extra, dest = final, [], final
    else:
        target, extra, dest = final, [], final + "/"
    if not check:
        os.makedirs(os.path.dirname(target) if kind == "file" else target, mode=0o700, exist_ok=True)
        rc, out, err = rsync(p, item["src"], dest, check, extra, progress)
    elif os.path.exists(target):
        rc, out, err = rsync(p, item["src"], dest, check, extra)
    else:
        # Nothing archived yet: a dry run against an empty folder shows the whole item.
        empty = tempfile.mkdtemp(prefix="clix-check-")
        try:
            rc, out, err = rsync(p, item["src"], empty + "/", check, extra)
        finally:
            os.rmdir(empty)
    result.update(parse_stats(out))
    if rc != 0:
        if ABSENT.search(err):
            result.update(status="absent", reason="not on the server: %s" % item["src"])
            if not check:
                remove_empty_parents(target if kind != "file" else os.path.dirname(target), root)
        else:
            result.update(status="failed", reason="rsync exit %d (%s): %s" % (
                rc, RSYNC_EXIT.get(rc, "error"), err.strip().splitlines()[-1] if err.strip() else ""))
    elif kind == "snapshot" and not check:
        problems = verify_snapshot(target, item["expect"] or {})
        if problems:
            result.update(status="failed", reason="not verified, previous copy kept: " + "; ".join(problems))
        else:
            replace_dir(target, final)
            remove_empty_parents(os.path.dirname(target), root)
    result["seconds"] = round(time.time() - started, 3)
    return result


def pull_all(p: dict, check: bool, show: Callable | None) -> list:
    """Pull every item, a few at once (each rsync waits on round trips more than on the link or
    the disks); with show, a line per running item every progress_seconds."""
    latest = {}

    def watched(item: dict) -> dict:
        def note(match) -> None:
            latest[item["name"]] = "%s bytes (%s of the item), %s" % match.groups()
        try:
            return pull_item(p, item, check, note if show else None)
        finally:
            latest.pop(item["name"], None)

    shown = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(watched, item) for item in p["items"]]
        while wait(futures, timeout=p["progress_seconds"] or None)[1]:
            for name, text in sorted(latest.items()):
                if shown.get(name) != text:
                    show("pulling %s: %s" % (name, text))
                    shown[name] = text
    return [f.result() for f in futures]


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True),
            port=dict(type="int", default=22),
            user=dict(type="str"),
            private_key=dict(type="path"),
            ssh_args=dict(type="str", default=""),
            root=dict(type="path", required=True),
            items=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                src=dict(type="str", required=True),
                dest=dict(type="str", required=True),
                kind=dict(type="str", default="folder", choices=["folder", "file", "snapshot"]),
                expect=dict(type="dict", default={}),
                redact=dict(type="bool", default=False),
                error=dict(type="str"),
            )),
            bwlimit=dict(type="int", default=0),
            compress=dict(type="bool", default=True),
            timeout=dict(type="int", default=120),
            connect_timeout=dict(type="int", default=20),
            rsync_path=dict(type="str", default="rsync"),
            progress_seconds=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    os.umask(0o077)  # archive and staging hold private data
    p = module.params
    if not module.check_mode:
        os.makedirs(p["root"], mode=0o700, exist_ok=True)
    os.makedirs(os.path.expanduser("~/.ansible/cp"), mode=0o700, exist_ok=True)
    # Only the in-process twin of AnsibleModule (action_plugins/clix_inprocess.py) can print.
    show = getattr(module, "progress", None) if p["progress_seconds"] > 0 else None
    results = pull_all(p, module.check_mode, show)
    if not module.check_mode:
        fsync_dir(p["root"])
    module.exit_json(changed=any(r["files_transferred"] for r in results), items=results,
                     bytes_received=sum(r["bytes_received"] for r in results),
                     total_bytes=sum(r["total_bytes"] for r in results))


if __name__ == "__main__":
    main()
