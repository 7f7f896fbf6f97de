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
  - C(folder) items whose places share a folder (C(gstudio/media), C(gstudio/nginx-logs), ...) and whose sources
    end in the same names are pulled together by one C(rsync -R) (a few processes instead of one pair per item);
    each still gets its own totals, links, excludes and status (absent on its own). When that rsync fails otherwise
    than by a missing source or a dropped link, each of them is pulled again alone, so a failure stays its item's.
    C(snapshot) items share an rsync the same way, with each other only, and so do C(file) items (fetched into
    one hidden folder, each then checked, redacted and installed on its own).
  - Incremental and resumable - unchanged files are not sent again, partial files are kept in a
    hidden C(.rsync-partial) folder and resumed, and files removed from the server stay in the
    archive (no deletion). Files appear under their final name only when complete.
  - C(snapshot) items (database dumps) are pulled into a hidden C(.incoming) folder, checked
    against the sha256 that the producing module reported, and only then swapped in whole, so the
    previous dump is replaced only by a complete, verified one.
  - Nothing the server holds is followed or recreated as a special file - devices, FIFOs and sockets
    are not transferred; a symbolic link is kept, as a link, only when it resolves inside its own
    item (following the item's own links, never leaving it); any other link is removed and listed
    in the item's C(skipped_links). A C(file) item that is a link on the server is not collected.
    rsync stores every link it receives as an unusable "munged" link, and the module restores the
    ones that stay inside, so no link pointing out of the item exists in the archive at any time.
  - C(file) items are pulled into a hidden folder of the school's and moved in place (redacted when
    asked) only when they are regular files whose bytes changed; a folder, device, FIFO or socket at
    their path on the server is not collected.
  - Every item's place in the archive (O(root)/O(items[].dest)) is checked before anything is pulled - it stays
    below O(root) and no symbolic link is on the way (C(clix_layout.under)); an item whose place is a link fails.
  - Names and messages from the server (paths, link targets, rsync's complaints) are escaped in every reason and
    progress line (C(clix_identity.shown)) - they are data, never terminal control.
  - SSH host key checking stays on - the school's key must be in the known_hosts file.
  - The archive is private - folders 0700, files 0600, owned by the operator.
version_added: "0.1.0"
options:
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
        description:
          - C(folder) (merge, keep removed files), C(file), or C(snapshot) (verify, then swap in whole).
          - C(json) (a lab PC's datastore) - the new and changed files are pulled into a hidden C(.incoming)
            folder (rsync C(--compare-dest) the archived copy), every C(*.json) among them is parsed, one that
            does not parse (torn by the app's in-place rewrite) is pulled again up to O(json_tries) times and
            never archived if it still does not parse (listed in the item's C(torn); the archived copy keeps
            its previous version), then the files are moved into place (a folder new to the archive in one rename).
            Each JSON file is hashed from the bytes parsed, and its size, mtime, inode and sha256 are left for
            C(clix_manifest) (hidden C(.clix-known-*.json) in O(root)), which then does not read it again.
          - C(sessions) (a staged database) - pulled and checked against O(items[].expect). unplatform's
            C(unplatform.sqlite3) is read as data (read-only, its schema never run, a view or trigger refused)
            and folded with the archived copy, row by row, into a database of the project's own schema that
            replaces it (a session only in the archive is kept); one that is not a plain sessions database
            (no C(sessions) table, a view, a trigger) fails the item and the archived copy stays as it was.
            Version 1's database replaces the archived copy when its bytes differ.
        type: str
        choices: [folder, file, snapshot, json, sessions]
        default: folder
      exclude:
        description: rsync C(--exclude) patterns (for example C(/repository/AssetContent/)), for C(folder) and C(json) items.
        type: list
        elements: str
        default: []
      redact:
        description:
          - For C(file) items (settings files), replace secret values (SECRET_KEY, passwords, tokens,
            passwords in URLs) in the archived copy. The verbatim file never reaches the archive.
          - A file that is not valid Python cannot be redacted - the item fails and the archived copy
            stays as it was.
        type: bool
        default: false
      error:
        description: The producer of this item failed with this message; the item is reported as failed and not pulled.
        type: str
      expect:
        description: For snapshots (and C(sessions), by the file's name), C({relative path - sha256}) that every pulled file must match.
        type: dict
        default: {}
  compress:
    description:
      - Compress on the wire (rsync C(--compress); zstd when both ends have rsync 3.2, zlib otherwise).
        Files that are already compressed (videos, images, archives) are sent as they are.
      - Saves time on slow school links, where logs, CSVs and the RCS repository shrink several
        times; costs CPU on a fast LAN.
    type: bool
    default: true
  timeout:
    description: Seconds without progress before rsync gives up (the item is then tried again, see O(retries)).
    type: int
    default: 120
  retries:
    description:
      - How many more times an item is pulled when its rsync failed the way a dropped or stalled link
        fails (rsync's timeout, a broken connection, ssh exiting 255 for another reason than a refused
        host key or login). Each try resumes what the last one left (C(--partial-dir), the snapshot's
        and JSON's incoming folders); 0 for none.
    type: int
    default: 2
  retry_seconds:
    description: Seconds to wait before each retry (a link that dropped often comes back within them).
    type: float
    default: 10
  progress_seconds:
    description:
      - While items are being pulled, print a line per running pull this often (bytes so far, share of the
        item - or of the folder items pulled together -, rate); 0 for none.
      - Printed when the module runs on the control node through the C(clix_inprocess) action plugin (as
        C(collect.yml) runs it); a module process cannot print while it runs.
    type: int
    default: 60
  json_tries:
    description: For C(json) items, how many times a JSON file that does not parse is pulled before it is reported as torn.
    type: int
    default: 5
  json_wait:
    description: Seconds between two pulls of torn JSON files.
    type: float
    default: 0.5
  json_limit:
    description:
      - For C(json) items, the largest JSON file in bytes that is parsed and archived. A larger one is not read
        nor archived (the archived copy keeps its previous version), and fails the item naming this limit.
      - A JSON file up to 1 MiB is parsed by Python's reader (about 30 times its size in memory), a larger one
        (or one nested too deep for that reader) in one pass building nothing (about 6 times its size at most).
        The role passes C(clix_unplatform_json_limit).
    type: int
    default: 16777216
attributes:
  check_mode:
    details: >-
      Runs rsync with C(--dry-run) against the archived copy (against an empty temporary folder when
      nothing is archived yet) and reports in RV(items) what would be transferred. A C(file) item is
      fetched into a private temporary folder to compare it (redacted, with O(items[].redact)) with the
      archived copy, then removed. Nothing is written in the archive.
  diff_mode:
    details: What was transferred is counted in RV(items).
requirements: [rsync on the control node and on the school server, ssh]
extends_documentation_fragment:
  - clix_ssh
  - clix_attributes
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
      description: Why it failed or is absent (or what it took, e.g. retries, when it is ok).
      type: str
    retried:
      description: Why each try before the last failed (a dropped or stalled link); empty when the first try did.
      type: list
      elements: str
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
    skipped_links:
      description: Symbolic links of the item that point outside it, not kept - C(path) (in the item) and C(target).
      type: list
      elements: dict
    torn:
      description: C(json) items - the JSON files (relative to the item) that never parsed, not archived.
      type: list
      elements: str
    too_large:
      description: C(json) items - the JSON files (relative to the item) larger than O(json_limit), not archived.
      type: list
      elements: str
    json_files:
      description: C(json) items - the JSON files pulled and parsed in this run.
      type: int
    source_files:
      description: C(json) items - the regular files of the item on the server.
      type: int
    sessions:
      description: >-
        C(sessions) items - C(added), C(updated), C(kept) (archived sessions the copy did not change), C(skipped)
        (rows without a session id or atime), C(dropped) (views and triggers of an archived copy not made by clix-collect).
      type: dict
bytes_received:
  description: Sum over the items.
  returned: always
  type: int
total_bytes:
  description: Sum over the items.
  returned: always
  type: int
"""

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Callable

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import (
    NotRegularFileError,
    atomic_output,
    fsync_dir,
    install_file,
    open_regular,
    read_regular,
    replace_dir,
    sha256_file,
)
from ansible.module_utils.clix_identity import shown
from ansible.module_utils.clix_labpc_json import JsonChecker, flush, move_into_place, repull_torn
from ansible.module_utils.clix_layout import LayoutError, under
from ansible.module_utils.clix_links import settle_links
from ansible.module_utils.clix_manifest import ABSENT, FAILED, OK, leave_known
from ansible.module_utils.clix_rsync import (
    LOCAL_CONNECTIONS,
    NOT_THERE,
    SSH_CONNECTIONS,
    TRANSIENT,
    parse_stats,
    rsync,
    rsync_failed,
    rsync_listed,
    ssh_argument_spec,
    unmunged,
)
from ansible.module_utils.clix_settings import SettingsError, redact_settings
from ansible.module_utils.clix_unplatform import V2_SESSIONS_DB, UntrustedDatabaseError, fold_sessions, standalone

INCOMING = ".incoming"
LISTED_LINKS = 100  # skipped links listed per item (a hostile tree may hold millions)
SETTINGS_LIMIT = 16 << 20  # a settings file to redact is read whole


def verify_snapshot(folder: str, expect: dict) -> list:
    problems = []
    for rel, digest in sorted(expect.items()):
        try:
            if sha256_file(os.path.join(folder, rel)) != digest:
                problems.append("%s differs from what the server wrote" % rel)
        except FileNotFoundError:
            problems.append("%s missing" % rel)
        except NotRegularFileError as exc:
            problems.append("%s %s" % (rel, exc.strerror))
    return problems


# -c: a re-made dump has new mtimes; compare contents. --delete: only inside .incoming.
SNAPSHOT_OPTIONS = ["-c", "--delete"]


def seed(final: str, target: str) -> None:
    """A snapshot's incoming folder, when there is none yet, seeded with hard links to the previous
    dump: rsync then sends only what changed, and replaces files by rename, so the archived dump is
    never modified in place."""
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        if os.path.isdir(final):
            subprocess.run(["cp", "-al", final, target], check=True)


def swap_verified(item: dict, target: str, final: str, result: dict) -> None:
    """The snapshot pulled into target swapped in whole at final when every file matches what its producer
    reported; else the item failed and the previous copy kept."""
    problems = verify_snapshot(target, item["expect"] or {})
    if problems:
        result.update(status=FAILED, reason="not verified, previous copy kept: " + "; ".join(problems))
    else:
        replace_dir(target, final)
        result[TIDY] = os.path.dirname(target)


def note_skipped(result: dict, skipped: list) -> None:
    if not skipped:
        return
    result["skipped_links"] = skipped[:LISTED_LINKS]
    text = "%d symbolic link(s) pointing outside the item not kept: %s%s" % (
        len(skipped), ", ".join("%s -> %s" % (shown(s["path"]), shown(s["target"])) for s in skipped[:5]),
        ", ..." if len(skipped) > 5 else "")
    result["reason"] = "%s; %s" % (result["reason"], text) if result["reason"] else text


# Folders an item leaves empty are removed once every item is done: removed while another item of
# the same school is being pulled, they could be that item's folder or its parent.
TIDY = "_remove_if_empty"


def remove_empty_parents(folder: str, stop: str) -> None:
    while os.path.abspath(folder) != os.path.abspath(stop):
        try:
            os.rmdir(folder)
        except OSError:
            return
        folder = os.path.dirname(folder)


def pulled_regular(item: dict, pulled: str, result: dict) -> bool:
    """Whether the file item pulled to pulled is a regular file; if not, result says why (failed)."""
    try:
        os.close(open_regular(pulled))
        return True
    except FileNotFoundError:  # rsync skipped it: --no-recursive, --no-devices, --no-specials
        result.update(status=FAILED, reason="%s is not a regular file on the server (a folder, device, FIFO or "
                      "socket): not collected" % shown(item["src"]))
    except NotRegularFileError as exc:
        if not os.path.islink(pulled):
            result.update(status=FAILED, reason="%s on the server %s: not collected" % (shown(item["src"]), exc.strerror))
            return False
        target = unmunged(os.readlink(pulled))
        result.update(status=FAILED, skipped_links=[dict(path=os.path.basename(item["src"]), target=target)],
                      reason="%s is a symbolic link on the server (to %s): links are never followed; collect the "
                      "file it points to by its own path" % (shown(item["src"]), shown(target)))
    return False


def redacted_in_place(item: dict, pulled: str, result: dict) -> bool:
    """Replace the pulled settings file by its redacted text; False (result failed) when it cannot be."""
    try:
        text = redact_settings(read_regular(pulled, limit=SETTINGS_LIMIT))
    except (SettingsError, ValueError) as exc:
        result.update(status=FAILED, reason="%s cannot be redacted (%s), so it is not archived; the archived copy "
                      "is kept. Fix the file on the server, or collect it verbatim." % (shown(item["src"]), exc))
        return False
    with atomic_output(pulled) as out:
        out.write(text)
    return True


def same_bytes(a: str, b: str) -> bool:
    try:
        return sha256_file(a) == sha256_file(b)
    except OSError:  # none archived yet, or not a regular file: replaced (a rename never follows a link)
        return False


@contextlib.contextmanager
def fetched_file(p: dict, item: dict, check: bool, result: dict):
    """Pull one file into a hidden folder of the school's (a private temporary one in check mode).
    Yields (that folder, the pulled file) when it came as a regular file, else None with the reason
    in result; the folder is removed afterwards."""
    if not check:
        os.makedirs(p["root"], mode=0o700, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".clix-file-", dir=None if check else p["root"])
    try:
        pulled = os.path.join(work, "pulled")
        rc, out, err = rsync(p, item["src"], pulled, False, ["--no-recursive"])
        result.update(parse_stats(out))
        if rc != 0:
            result.update(rsync_failed(rc, err, item["src"]))
            yield None
        else:
            yield (work, pulled) if pulled_regular(item, pulled, result) else None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pull_file(p: dict, item: dict, check: bool, result: dict, started: float) -> dict:
    """Move a pulled file (redacted when asked) into place only when it is a regular file whose bytes
    differ from the archived copy."""
    with fetched_file(p, item, check, result) as got:
        if got:
            install_pulled(p, item, got[1], check, result)
    result["seconds"] = round(time.time() - started, 3)
    return result


def install_pulled(p: dict, item: dict, pulled: str, check: bool, result: dict) -> None:
    """A file item's pulled regular file (redacted when asked) moved into place when its bytes changed."""
    final = os.path.join(p["root"], item["dest"])
    if not item["redact"] or redacted_in_place(item, pulled, result):
        changed = not same_bytes(pulled, final)
        result["files_transferred"] = int(changed)
        if changed and not check:
            install_file(pulled, final)


def refuse_large(p: dict, incoming: str, large: list, result: dict) -> None:
    """The JSON files larger than json_limit removed from incoming unread, the item failed naming the limit."""
    for rel in large:
        os.unlink(os.path.join(incoming, rel))
    result["too_large"] = large[:LISTED_LINKS]
    if large:
        text = "%d JSON file(s) larger than clix_unplatform_json_limit (%d bytes) not read nor archived, the " \
            "archived copy kept: %s%s; if they are real data, raise it with -e clix_unplatform_json_limit=<bytes>" % (
                len(large), p["json_limit"], ", ".join(shown(rel) for rel in large[:5]), ", ..." if len(large) > 5 else "")
        result.update(status=FAILED, reason="%s; %s" % (result["reason"], text) if result["reason"] else text)


def pull_json(p: dict, item: dict, result: dict, progress: Callable | None) -> dict:
    """A lab PC's JSON folder: new and changed files into .incoming, each JSON parsed (torn ones
    pulled again, never archived), then moved into place."""
    root = p["root"]
    final, incoming = os.path.join(root, item["dest"]), os.path.join(root, INCOMING, item["dest"])
    excludes = ["--exclude=%s" % pattern for pattern in item.get("exclude") or []]
    # Files left in incoming by an interrupted run stay: rsync resumes there, and they are parsed again.
    os.makedirs(incoming, mode=0o700, exist_ok=True)
    extra = excludes + (["--compare-dest=%s" % os.path.abspath(final)] if os.path.isdir(final) else [])
    checker = JsonChecker(incoming, p["json_limit"])
    try:
        rc, out, err = rsync(p, item["src"], incoming + "/", False, extra, progress, checker.received)
    finally:
        json_files, torn, large = checker.finish()
    result.update(parse_stats(out, ("bytes_received", "files_transferred", "total_bytes", "source_files")))
    if rc not in (0, 24):  # 24: files the app removed while they were listed
        result.update(rsync_failed(rc, err, item["src"]))
        if result["status"] == ABSENT:
            result[TIDY] = incoming
        return result
    note_skipped(result, settle_links(incoming))
    result["json_files"] = json_files
    torn = repull_torn(p, item, incoming, extra, [rel for rel in torn if os.path.lexists(os.path.join(incoming, rel))])
    result["torn"] = torn
    refuse_large(p, incoming, large, result)
    if torn:
        text = "%d JSON file(s) never parsed (the app kept rewriting them), archived copy kept: %s%s" % (
            len(torn), ", ".join(shown(t) for t in torn[:5]), ", ..." if len(torn) > 5 else "")
        result["reason"] = "%s; %s" % (result["reason"], text) if result["reason"] else text
    with ThreadPoolExecutor(max_workers=1) as background:
        flushed = background.submit(flush, incoming)
        # Every pulled JSON file was read whole to parse it: its hash then saves the manifest a second read.
        leave_known(root, {os.path.join(item["dest"], rel): e for rel, e in checker.parsed.items() if rel not in torn})
        flushed.result()
    changed = set()
    refused = move_into_place(incoming, final, changed)
    for folder in sorted(changed):
        fsync_dir(folder)
    if not refused:
        shutil.rmtree(incoming, ignore_errors=True)  # only the emptied folders are left
    else:
        result.update(status=FAILED, reason="%s is a folder in the archive but a file on the server (or the other "
                      "way round): the archive's kept; %s" % (shown(refused[0]), result["reason"] or ""))
    result[TIDY] = os.path.dirname(incoming)
    return result


def pull_sessions(p: dict, item: dict, check: bool, result: dict) -> dict:
    """A staged database: pulled and verified. unplatform's sessions database is folded with the archived
    one into a database of the project's own schema (fold_sessions: read as data, never run; an archived
    session never lost), which replaces the archived copy whole; a copy that is not a plain sessions
    database fails the item and the archived copy stays as it was. Version 1's database replaces the
    archived copy when its bytes differ."""
    final = os.path.join(p["root"], item["dest"])
    with fetched_file(p, item, check, result) as got:
        if not got:
            return result
        work, pulled = got
        digest = (item["expect"] or {}).get(os.path.basename(item["dest"]))
        if digest and sha256_file(pulled) != digest:
            result.update(status=FAILED, reason="%s differs from what the lab PC staged; archived copy kept" % shown(item["src"]))
            return result
        try:
            standalone(pulled)
            if os.path.basename(item["dest"]) == V2_SESSIONS_DB:
                result["sessions"], merged = fold_sessions(final, pulled, work)
            else:
                merged = None if same_bytes(pulled, final) else pulled
        except (sqlite3.Error, UntrustedDatabaseError) as exc:
            why = str(exc) if isinstance(exc, UntrustedDatabaseError) else shown(str(exc), 500)  # the former shown() already
            result.update(status=FAILED, reason="%s: %s; the archived copy is kept as it was" % (shown(item["src"]), why))
            return result
        result["files_transferred"] = int(merged is not None)
        if merged and not check:
            install_file(merged, final)
    return result


def check_place(root: str, dest: str) -> None:
    """LayoutError unless an item's place and its incoming folder stay below root, no link on the way."""
    for path in (dest, os.path.join(INCOMING, dest)):
        under(root, path, links=False)


def pull_item(p: dict, item: dict, check: bool, progress: Callable | None = None) -> dict:
    started = time.time()
    root = p["root"]
    final = os.path.join(root, item["dest"])
    kind = item["kind"]
    result = new_result(item)
    if item["error"]:
        result.update(status=FAILED, reason=item["error"], seconds=0.0)
        return result
    try:
        check_place(root, item["dest"])
    except LayoutError as exc:
        result.update(status=FAILED, reason="%s not pulled: %s" % (shown(item["dest"]), exc), seconds=0.0)
        return result
    if kind == "file":
        return pull_file(p, item, check, result, started)
    if kind == "sessions":
        result = pull_sessions(p, item, check, result)
        result["seconds"] = round(time.time() - started, 3)
        return result
    if kind == "json" and not check:
        result = pull_json(p, item, result, progress)
        result["seconds"] = round(time.time() - started, 3)
        return result
    if kind == "snapshot":
        target = os.path.join(root, INCOMING, item["dest"])
        if not check:
            seed(final, target)
        extra, dest = SNAPSHOT_OPTIONS, target + "/"
    else:
        target, extra, dest = final, ["--exclude=%s" % pattern for pattern in item.get("exclude") or []], final + "/"
    if not check:
        os.makedirs(target, mode=0o700, exist_ok=True)
        rc, out, err = rsync(p, item["src"], dest, check, extra, progress)
        skipped = settle_links(target) if os.path.isdir(target) else []
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
        result.update(rsync_failed(rc, err, item["src"]))
        if result["status"] == ABSENT and not check:
            result[TIDY] = target
    elif kind == "snapshot" and not check:
        swap_verified(item, target, final, result)
    if not check:
        note_skipped(result, skipped)
    result["seconds"] = round(time.time() - started, 3)
    return result


def retry_after(p: dict, label: str, failed: dict, retried: list, show: Callable | None) -> bool:
    """Whether a pull that failed so is tried again (a dropped or stalled link, tries left); if so,
    after saying it and waiting p["retry_seconds"]."""
    if not failed.pop(TRANSIENT, False) or len(retried) >= p["retries"]:
        return False
    retried.append(failed["reason"])
    if show:
        show("pulling %s: %s; trying again in %g s (%d of %d)" % (
            label, failed["reason"], p["retry_seconds"], len(retried), p["retries"]))
    time.sleep(p["retry_seconds"])
    return True


def note_retried(result: dict, retried: list) -> dict:
    result["retried"] = list(retried)
    if retried:
        tries = "after %d tries, the first failed: %s" % (len(retried) + 1, retried[0])
        result["reason"] = "%s (%s)" % (result["reason"], tries) if result["reason"] else tries
    return result


def pull_retried(p: dict, item: dict, check: bool, progress: Callable | None, show: Callable | None) -> dict:
    """pull_item, tried again (up to p["retries"] times) when it failed the way a dropped or stalled
    link fails; each try resumes what the last one left, as a re-run of the play would."""
    retried = []
    result = pull_item(p, item, check, progress)
    while retry_after(p, item["name"], result, retried, show):
        result = pull_item(p, item, check, progress)
    return note_retried(result, retried)


# A folder item (or a snapshot) shares an rsync with others of its kind (rsync -R) when its source ends
# in the folders its place ends in, named plainly (rsync shows other names escaped), and its excludes are
# anchored (each is then made its own item's: an unanchored one would match in every item of the rsync).
SHARED_PART = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]*", re.A)
SHARED_KINDS = ("folder", "snapshot", "file")  # each shares an rsync with its own kind only


def excludes(item: dict) -> list:
    return item.get("exclude") or [] if item["kind"] == "folder" else []


def shared_place(root: str, item: dict) -> tuple | None:
    """(base, rel) of a folder item or snapshot that can share an rsync: rel, the end its source and its
    place (below base) have in common; None for any other item (pulled alone, as pull_item says)."""
    src, dest = item["src"], item["dest"]
    if item["kind"] not in SHARED_KINDS or item["error"] or src.endswith("/") == (item["kind"] == "file"):
        return None
    if not src.startswith("/") or os.path.normpath(src) != src.rstrip("/") or any(not x.startswith("/") for x in excludes(item)):
        return None
    try:
        check_place(root, dest)
    except LayoutError:
        return None
    if item["kind"] == "file":  # fetched into a hidden folder of its own, by its name there
        name = os.path.basename(src)
        return ("", name) if SHARED_PART.fullmatch(name) else None
    s, d = src.rstrip("/").split("/")[1:], dest.strip("/").split("/")
    n = 0
    while n < min(len(s), len(d)) and s[-1 - n] == d[-1 - n] and SHARED_PART.fullmatch(d[-1 - n]):
        n += 1
    return ("/".join(d[:len(d) - n]), "/".join(d[len(d) - n:])) if n else None


def units(p: dict, check: bool) -> list:
    """The pulls of p's items, as lists of their indexes: the folder items that share a base, one
    rsync together (none inside another's folder, none twice in a place), the snapshots likewise;
    every other item alone."""
    out, shared = [], {}
    for i, item in enumerate(p["items"]):
        place = None if check else shared_place(p["root"], item)
        if place is None:
            out.append([i])
            continue
        base, rel = (item["kind"], place[0]), place[1]
        for unit, rels in shared.get(base, []):
            if not any(r == rel or r.startswith(rel + "/") or rel.startswith(r + "/") for r in rels):
                unit.append(i)
                rels.append(rel)
                break
        else:
            out.append([i])
            shared.setdefault(base, []).append((out[-1], [rel]))
    return out


def new_result(item: dict) -> dict:
    return dict(name=item["name"], status=OK, reason=None, source=item["src"], bytes_received=0,
                files_transferred=0, total_bytes=0)


def tally(listing: list, rels: list, received: int) -> list:
    """Per rel: {files_transferred, total_bytes, bytes_received} of a listed rsync, the bytes that
    crossed (received, the file lists' included) shared by each item's files' (and its count of files)."""
    prefixes = [(rel + "/").encode() for rel in rels]
    counts = [dict(files_transferred=0, total_bytes=0, weight=0) for _ in rels]
    at = 0
    for kind, got, crossed, size, name in listing:
        if not name.startswith(prefixes[at]):
            at = next((i for i, prefix in enumerate(prefixes) if name.startswith(prefix)), None)
            if at is None:
                at = 0
                continue  # an implied folder above the items
        c = counts[at]
        c["weight"] += crossed + 1
        if kind != b"d":
            c["total_bytes"] += size
            c["files_transferred"] += int(got and kind == b"f")
    weights = sum(c["weight"] for c in counts) or 1
    for c in counts:
        c["bytes_received"] = received * c.pop("weight") // weights
    return counts


def absent_sources(err: str, sources: list) -> set | None:
    """The indexes of sources rsync found missing, when that is all its errors say; else None."""
    absent = set()
    for line in err.strip().splitlines():
        missing = NOT_THERE.search(line)
        if missing and os.path.normpath(missing.group(1)) in sources:  # as rsync names it: /a/./b/., /a/b, ...
            absent.add(sources.index(os.path.normpath(missing.group(1))))
        elif not line.startswith("rsync error: some files/attrs were not transferred"):
            return None
    return absent


def shared_rsync(p: dict, items: list, rels: list, dest: str, extra: list, progress: Callable | None,
                 show: Callable | None) -> tuple:
    """The rsync of items (one kind, one base) into dest: (None, results) when it failed - a dropped link
    tried again as pull_retried does, for all of them; any other failure may be one item's, so each is
    then pulled alone, saying what is its own -, else (absent, per item results of rsync's listing)."""
    started, retried, kind = time.time(), [], items[0]["kind"]
    sources = ["%s/./%s%s" % (item["src"].rstrip("/")[:-len(rel)].rstrip("/"), rel, "" if kind == "file" else "/")
               for item, rel in zip(items, rels)]
    while True:
        rc, out, err, listing = rsync_listed(p, sources, dest, extra, progress)
        absent = set() if rc == 0 else absent_sources(err, [os.path.normpath(i["src"]) for i in items]) if rc == 23 else None
        if absent is not None:
            break
        failed = rsync_failed(rc, err, "")
        if failed.get(TRANSIENT) and len(retried) >= p["retries"]:  # the link never came back: as each would say
            return None, [note_retried(dict(new_result(item), status=FAILED, reason=failed["reason"],
                                            seconds=round(time.time() - started, 3)), retried) for item in items]
        if not retry_after(p, ", ".join(item["name"] for item in items), failed, retried, show):
            alone = [pull_retried(p, item, False, progress, show) for item in items]
            if kind != "file":  # what the shared rsync brought stays brought: counted with what the item's own brings
                for result, counts in zip(alone, tally(listing, rels, parse_stats(out)["bytes_received"])):
                    result.update({k: result[k] + counts[k] for k in ("files_transferred", "bytes_received")})
            return None, alone
    results = []
    for i, (item, counts) in enumerate(zip(items, tally(listing, rels, parse_stats(out)["bytes_received"]))):
        result = new_result(item)
        if i in absent:
            result.update(status=ABSENT, reason="not on the server: %s" % shown(item["src"]))
        else:
            result.update(counts)
        results.append(dict(note_retried(result, retried), seconds=round(time.time() - started, 3)))
    return absent, results


def pull_shared(p: dict, items: list, progress: Callable | None, show: Callable | None) -> list:
    """Items of one kind and base pulled by one rsync (-R), each as pull_item pulls it alone: its totals
    from rsync's listing, absent on its own; a folder's or snapshot's links settled on their own, a
    snapshot verified and swapped in on its own, a file checked, redacted and installed on its own."""
    places = [shared_place(p["root"], item) for item in items]
    if None in places:  # a place changed since the plan (under's check): each as pull_item says
        return [pull_retried(p, item, False, progress, show) for item in items]
    base, rels = places[0][0], [rel for _, rel in places]
    if items[0]["kind"] == "file":
        return pull_shared_files(p, items, rels, progress, show)
    snapshots = items[0]["kind"] == "snapshot"
    top = os.path.join(p["root"], INCOMING if snapshots else "")
    for item in items:
        if snapshots:
            seed(os.path.join(p["root"], item["dest"]), os.path.join(top, item["dest"]))
        os.makedirs(os.path.join(top, item["dest"]), mode=0o700, exist_ok=True)
    extra = ["--exclude=/%s%s" % (rel, x) for item, rel in zip(items, rels) for x in excludes(item)]
    absent, results = shared_rsync(p, items, rels, os.path.join(top, base, ""), extra + (SNAPSHOT_OPTIONS if snapshots else []),
                                   progress, show)
    for i, (item, result) in enumerate(zip(items, results) if absent is not None else ()):
        target = os.path.join(top, item["dest"])
        skipped = settle_links(target)
        if i in absent:
            result[TIDY] = target
        elif snapshots:
            swap_verified(item, target, os.path.join(p["root"], item["dest"]), result)
        note_skipped(result, skipped)
    return results


def pull_shared_files(p: dict, items: list, names: list, progress: Callable | None, show: Callable | None) -> list:
    """File items fetched by one rsync into a hidden folder of the school's (each by its name there), then
    each checked (a regular file), redacted when asked and moved into place as pull_file does."""
    os.makedirs(p["root"], mode=0o700, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".clix-file-", dir=p["root"])
    try:
        absent, results = shared_rsync(p, items, names, work + "/", ["--no-recursive"], progress, show)
        for item, name, result in zip(items, names, results) if absent is not None else ():
            pulled = os.path.join(work, name)
            if result["status"] == OK and pulled_regular(item, pulled, result):
                install_pulled(p, item, pulled, False, result)
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pull_all(p: dict, check: bool, show: Callable | None) -> list:
    """Pull every item, a few at once (each rsync waits on round trips more than on the link or
    the disks); with show, a line per running item every progress_seconds."""
    latest = {}

    def watched(unit: list) -> list:
        items = [p["items"][i] for i in unit]
        label = ", ".join(item["name"] for item in items)

        def note(match) -> None:
            latest[label] = "%s bytes (%s of the item%s), %s" % (match.group(1), match.group(2),
                                                                 "s" if len(items) > 1 else "", match.group(3))
        try:
            if len(items) == 1:
                return [pull_retried(p, items[0], check, note if show else None, show)]
            return pull_shared(p, items, note if show else None, show)
        finally:
            latest.pop(label, None)

    shown = {}
    plan = units(p, check)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(watched, unit) for unit in plan]
        while wait(futures, timeout=p["progress_seconds"] or None)[1]:
            for name, text in sorted(latest.items()):
                if shown.get(name) != text:
                    show("pulling %s: %s" % (name, text))
                    shown[name] = text
    results = [None] * len(p["items"])
    for unit, future in zip(plan, futures):
        for i, result in zip(unit, future.result()):
            results[i] = result
    for result in results:
        if TIDY in result:
            remove_empty_parents(result.pop(TIDY), p["root"])
    return results


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            **ssh_argument_spec(),
            root=dict(type="path", required=True),
            items=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                src=dict(type="str", required=True),
                dest=dict(type="str", required=True),
                kind=dict(type="str", default="folder", choices=["folder", "file", "snapshot", "json", "sessions"]),
                expect=dict(type="dict", default={}),
                exclude=dict(type="list", elements="str", default=[]),
                redact=dict(type="bool", default=False),
                error=dict(type="str"),
            )),
            bwlimit=dict(type="int", default=0),
            compress=dict(type="bool", default=True),
            timeout=dict(type="int", default=120),
            retries=dict(type="int", default=2),
            retry_seconds=dict(type="float", default=10),
            connect_timeout=dict(type="int", default=20),
            rsync_path=dict(type="str", default="rsync"),
            progress_seconds=dict(type="int", default=60),
            json_tries=dict(type="int", default=5),
            json_wait=dict(type="float", default=0.5),
            json_limit=dict(type="int", default=16 << 20),
        ),
        supports_check_mode=True,
    )
    os.umask(0o077)  # archive and staging hold private data
    p = module.params
    if p["connection"] not in SSH_CONNECTIONS + LOCAL_CONNECTIONS:
        module.fail_json(msg="clix_pull pulls with rsync over ssh (or locally, for ansible_connection=local); it "
                         "cannot ride the connection %r of this host. Reach the school server over ssh." % p["connection"])
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
