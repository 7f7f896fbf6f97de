#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_merge
short_description: Merge a field archive (a field laptop's clix-collect archive) into the central archive
description:
  - Runs on the control node; both archives are on its file systems (for example a USB disk mounted
    beside the central archive). Every school folder of O(source) - collected, quarantined,
    derived, and replaced (what a restore collected of a server before replacing it) - is merged into the
    same folder of O(dest).
  - Each source school is verified against its C(MANIFEST.json) first (every listed file present, a
    regular file, of the listed size and sha256; nothing unlisted). A school that fails is refused
    and reported, and its central copy is left untouched; the other schools are merged.
  - Files new to the central archive are copied; files identical on both sides (same sha256 in the
    manifests) are not copied again. Snapshot items (the table's C(kind=snapshot), the database dumps)
    from the newer collection replace the older ones whole; every other file that differs is kept as
    both. The newer version is current, the older is kept under the school's
    C(history/<collected-at>/), so no collection is ever lost and nothing is silently overwritten.
  - The central school's manifest is rebuilt from both sides and records, per file, which archive
    and run it came from (C(origins)).
  - Safe to interrupt and to repeat - each school's next state is built beside it under a hidden
    name (hard links for the files that stay, verified copies for the new ones, the rebuilt manifest
    inside), flushed to disk (syncfs), and exchanged with the central folder in one step (renameat2
    RENAME_EXCHANGE). A merge killed at any point leaves every school folder whole and verifiable; its
    re-run reuses, by their sha256, the copies it had made. Merging the same source twice changes
    nothing.
  - Nothing of the field archive is trusted. Its C(MANIFEST.json) is checked against the published
    JSON Schema (C(schemas/manifest-1.schema.json)) before any of it is used; the central manifest's
    C(top_folders) are rebuilt from the files merged, and which school a folder is comes from the
    central manifest or the folder's name, never from the field. Names from the field are escaped
    in every message. A school that cannot be merged for any reason is refused and reported; the
    others are still merged.
  - A symbolic link the field manifest records (collect keeps a link that resolves inside its item)
    is made anew in the central archive with the same target, never followed, once proved to
    resolve inside its item there too; a recorded link that leads outside its item refuses the
    school. Links the manifest does not list, devices, sockets and pipes are never followed or
    copied; they are reported. The central archive stays private (folders 0700, files 0600).
  - Take the central archive's lock (C(clix_archive_lock)) around it, as C(merge.yml) does.
version_added: "0.3.0"
options:
  source:
    description: >-
      The field archive's root (holds C(<YYYY>/<state>/...)).
    type: path
    required: true
  dest:
    description: >-
      The central archive's root.
    type: path
    required: true
  source_name:
    description: How the manifests name the field archive in C(origins); the source path by default.
    type: str
  items:
    description:
      - The role's item table (C(clix_items)) - C(name), C(dest) (below the school folder) and C(kind).
        It tells which item a file belongs to (its collection time, the folder its links must stay in)
        and which items are snapshots.
    type: list
    elements: dict
    default: []
  reports_dir:
    description:
      - Where the run's report goes (C(<central archive>/reports)), as C(merge-<time>.json) and C(.md),
        with the field archive, its name, and each school folder's line and counts. None is written when
        omitted, nor in check mode.
    type: path
attributes:
  check_mode:
    details: Verifies the source and reports what would be copied, kept or moved to history; writes nothing.
extends_documentation_fragment:
  - clix_progress
  - clix_attributes
"""

EXAMPLES = r"""
- name: Merge a field laptop's archive into the central one
  clix_merge:
    source: /media/usb/clix-archive
    dest: /srv/clix-archive
    items: "{{ clix_items }}"
    reports_dir: /srv/clix-archive/reports
  delegate_to: localhost
"""

RETURN = r"""
schools:
  description: One entry per source school folder.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: >-
        The folder below the archive root (C(2026/mz/2031001-mz1), C(derived/...)).
      type: str
    status:
      description: >-
        C(merged), C(unchanged) or C(refused).
      type: str
    added:
      description: >-
        Files new to the central archive.
      type: int
    identical:
      description: >-
        Files already there with the same content.
      type: int
    replaced:
      description: >-
        Central files that moved to C(history/) for a newer version.
      type: int
    kept_older:
      description: >-
        Source files older than the central version, kept in C(history/).
      type: int
    bytes_copied:
      description: >-
        Bytes copied.
      type: int
    problems:
      description: >-
        Why the school was refused.
      type: list
      elements: str
    skipped:
      description: >-
        Links the source's manifest does not list and special files of the source, not copied.
      type: list
      elements: str
lines:
  description: >-
    One line per school folder - what was added, kept, moved to history, or why it was refused.
  type: list
  returned: always
  elements: str
refused:
  description: >-
    The refused school folders.
  type: list
  returned: always
  elements: str
bytes_copied:
  description: >-
    Bytes copied in all.
  type: int
  returned: always
files:
  description: The report files written (none in check mode or without O(reports_dir)).
  type: list
  returned: always
  elements: str
"""

import concurrent.futures
import ctypes
import datetime
import errno
import hashlib
import json
import os
import stat
import threading

from ansible.module_utils import clix_schema
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import (
    fsync_dir,
    human_bytes,
    open_regular,
    remove_quietly,
    sha256_and_size,
    syncfs,
    write_text_files,
)
from ansible.module_utils.clix_identity import said, shown
from ansible.module_utils.clix_layout import (
    HISTORY,
    KINDS,
    MANIFEST,
    PLATFORMS,
    LayoutError,
    check_relpath,
    contained,
    history_path,
    history_stamp,
    item_of,
    kind_root,
    link_stays_inside,
    report_base,
    school_roots,
)
from ansible.module_utils.clix_manifest import FORMAT, LINK, OK, is_internal, load, write
from ansible.module_utils.clix_progress import module_progress

CHUNK = 1024 * 1024
COPY_THREADS = 3
LINK_MARK = "link:"  # a link's fingerprint: the sha256 of its target's text, never equal to a file's
STAGE_SUFFIX = ".clix-merge"
THIS_ARCHIVE = "(collected here)"


class Refused(Exception):
    """The source school does not match its manifest."""


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def copy_file(src: str, dest: str) -> tuple[str, int]:
    """Copy src to the new file dest in the kernel (copy_file_range; a read/write loop where that is
    refused), then return the sha256 and size of what dest holds: the copy itself is verified."""
    fd_in = open_regular(src)
    try:
        fd_out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            try:
                while os.copy_file_range(fd_in, fd_out, 1 << 30):
                    pass
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                os.lseek(fd_in, 0, os.SEEK_SET)
                os.ftruncate(fd_out, 0)
                os.lseek(fd_out, 0, os.SEEK_SET)
                for block in iter(lambda: os.read(fd_in, CHUNK), b""):
                    write_all(fd_out, block)
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)
    return sha256_and_size(dest)


def scan(school: str, tops: list) -> tuple[dict, dict, list]:
    """({relpath: lstat} of the regular files below the top folders, {relpath: target} of the links,
    [special entries]); nothing is followed."""
    files, links, odd = {}, {}, []
    stack = [t for t in tops if os.path.lexists(os.path.join(school, t))]
    while stack:
        rel = stack.pop()
        st = os.lstat(os.path.join(school, rel))
        if stat.S_ISDIR(st.st_mode):
            for entry in os.scandir(os.path.join(school, rel)):
                if not is_internal(entry.name):
                    stack.append(rel + "/" + entry.name)
        elif stat.S_ISREG(st.st_mode):
            files[rel] = st
        elif stat.S_ISLNK(st.st_mode):
            links[rel] = os.readlink(os.path.join(school, rel))
        else:
            odd.append("%s (a special file)" % said(rel))
    return files, links, sorted(odd)


def top_folders(manifest: dict | None, school: str) -> list:
    """The folders a school's files lie in: those of its listed files and the platforms' (never the
    top_folders a manifest names: a field archive's may lead anywhere)."""
    tops = set(PLATFORMS) | {rel.split("/", 1)[0] for rel in (manifest or {}).get("files", {})}
    if manifest is None:  # a derived folder: everything below it is data
        tops |= {e.name for e in os.scandir(school) if not is_internal(e.name) and e.name != MANIFEST}
    if os.path.lexists(os.path.join(school, HISTORY)):
        tops.add(HISTORY)
    return sorted(tops)


def fingerprint(entry: dict) -> str:
    """What tells two versions of a path apart: a file's sha256, a link's target (by its sha256)."""
    return LINK_MARK + entry["sha256"] if entry.get("type") == LINK else entry["sha256"]


def link_entry(target: str) -> dict:
    raw = os.fsencode(target)
    return dict(type=LINK, target=target, size=len(raw), sha256=hashlib.sha256(raw).hexdigest())


def schema_problems(manifest: dict | None, whose: str) -> list:
    problems = clix_schema.problems(manifest) if manifest is not None else []
    return ["%s %s does not follow %s: %s" % (whose, MANIFEST, os.path.join("schemas", os.path.basename(clix_schema.SCHEMA)),
                                              "; ".join(problems))] if problems else []


def source_problems(src_path: str, manifest: dict | None, kind: str, scanned: tuple, table: list) -> list:
    """What differs from the manifest (checked against the schema first) without reading the data
    (the hashes are checked on read): every listed file a regular file of its size, every listed link
    the link collect kept, resolving inside its item."""
    if manifest is None:
        return [] if kind == "derived" else ["no %s: the field archive's collection of it did not finish" % MANIFEST]
    files, links, _ = scanned
    listed = manifest["files"]
    problems = []
    for rel, entry in sorted(listed.items()):
        if entry.get("type") == LINK:
            if links.get(rel) != entry["target"]:
                problems.append("%s: missing (or not the link to %s the manifest records)" % (said(rel), shown(entry["target"])))
            elif link_entry(entry["target"]) != entry:
                problems.append("%s: the manifest's size or sha256 is not its target's" % said(rel))
            elif not link_stays_inside(src_path, table, rel, entry["target"]):
                problems.append("%s: a link to %s, which leads outside its item" % (said(rel), shown(entry["target"])))
        elif rel not in files:
            problems.append("%s: missing (or not a regular file)" % said(rel))
        elif files[rel].st_size != entry["size"]:
            problems.append("%s: size %d, manifest says %d" % (said(rel), files[rel].st_size, entry["size"]))
    problems += ["%s: not in the manifest" % said(rel) for rel in sorted(set(files) - set(listed))]
    return problems


def iso_mtime(st) -> str:
    return datetime.datetime.fromtimestamp(st.st_mtime_ns // 10**9, datetime.timezone.utc).isoformat()


class Side:
    """One school folder (source or central): its manifest, files, their sha256 and collection times."""

    def __init__(self, path: str, manifest: dict | None, files: dict, hashes: dict, table: list, label: str):
        self.path, self.manifest, self.files, self.hashes, self.table = path, manifest, files, hashes, table
        self.items = (manifest or {}).get("items") or {}
        self.run = (manifest or {}).get("run") or {}
        self.label = label
        self.origins = (manifest or {}).get("origins") or {}

    def collected_at(self, rel: str) -> str:
        """When this side's version of rel was collected: its recorded origin (a file merged earlier),
        else its item's last collection, else the run, else its mtime."""
        runs = [str(o.get("run")) for o in self.origins.get(rel) or [] if o.get("run")]
        if runs:
            return max(runs, key=moment)
        item = item_of(self.table, rel)
        when = item and (self.items.get(item["name"]) or {}).get("collected_at")
        return when or self.run.get("ended") or self.mtime(rel)

    def mtime(self, rel: str) -> str:
        return iso_mtime(self.files[rel] if rel in self.files else os.lstat(os.path.join(self.path, rel)))

    def origin(self, rel: str) -> list:
        """Where this side's version came from; a file its own manifest does not list (put in place by
        an interrupted merge) has no origin of its own."""
        if rel in self.origins:
            return self.origins[rel]
        if rel not in ((self.manifest or {}).get("files") or {}):
            return []
        return [dict(archive=self.label, run=self.collected_at(rel))]


def snapshot_dests(table: list) -> list:
    return sorted(str(i["dest"]).strip("/") for i in table if i.get("kind") == "snapshot" and i.get("dest"))


def newer(src: Side, cen: Side, rel_src: str, rel_cen: str) -> bool:
    """Is the source's version newer than the central one? Ties go by content, so the result never
    depends on the order in which archives are merged."""
    a, b = moment(src.collected_at(rel_src)), moment(cen.collected_at(rel_cen))
    if a != b:
        return a > b
    return src.hashes[rel_src] > cen.hashes[rel_cen]


def moment(when: str) -> tuple:
    """A collection time as a sortable key (times in other zones compare by the instant)."""
    try:
        return (history_stamp(when), str(when))
    except ValueError:
        return ("", str(when))


def plan(src: Side, cen: Side) -> tuple[list, list, dict]:
    """(copies [(source rel, central rel)], retires [(central rel, history rel)], counts)."""
    copies, retires = [], []
    counts = dict(added=0, identical=0, replaced=0, kept_older=0)
    snapshots = snapshot_dests(src.table)

    def keep_older_source(rel: str) -> None:
        target = _hist(src, rel)
        if cen.hashes.get(target) != src.hashes[rel]:
            _free(cen, target)
            copies.append((rel, target))
            counts["kept_older"] += 1

    def retire(rel: str) -> None:
        target = _hist(cen, rel)
        if cen.hashes.get(target) != cen.hashes[rel]:
            _free(cen, target)
        retires.append((rel, target))
        counts["replaced"] += 1

    handled = set()
    for snap in snapshots:
        s_rels = [r for r in src.hashes if r == snap or r.startswith(snap + "/")]
        c_rels = [r for r in cen.hashes if r == snap or r.startswith(snap + "/")]
        handled |= set(s_rels)
        if not s_rels:
            continue
        same = all(cen.hashes.get(r) == src.hashes[r] for r in s_rels) and set(c_rels) == set(s_rels)
        if same:
            counts["identical"] += len(s_rels)
            continue
        if not c_rels or newer(src, cen, s_rels[0], c_rels[0]):
            for r in c_rels:
                if cen.hashes[r] != src.hashes.get(r):
                    retire(r)
            for r in s_rels:
                if cen.hashes.get(r) == src.hashes[r]:
                    counts["identical"] += 1
                else:
                    copies.append((r, r))
                    counts["added"] += 1
        else:
            for r in s_rels:
                if cen.hashes.get(r) == src.hashes[r]:
                    counts["identical"] += 1
                else:
                    keep_older_source(r)
    for rel in sorted(set(src.hashes) - handled):
        if rel not in cen.hashes:
            copies.append((rel, rel))
            counts["added"] += 1
        elif cen.hashes[rel] == src.hashes[rel]:
            counts["identical"] += 1
        elif newer(src, cen, rel, rel):
            retire(rel)
            copies.append((rel, rel))
        else:
            keep_older_source(rel)
    return copies, retires, counts


def _free(cen: Side, target: str) -> None:
    if target in cen.hashes:
        raise Refused("%s already holds another version in the central archive: move it aside by hand, then "
                      "merge again" % target)


def _hist(side: Side, rel: str) -> str:
    return os.path.relpath(history_path(side.path, history_stamp(side.collected_at(rel)), rel), side.path)


def central_hashes(school: str, manifest: dict | None, files: dict, links: dict) -> dict:
    """The fingerprint of every central file and link: a file's sha256 from its manifest when size and
    mtime match, read otherwise (a file an interrupted merge put in place before it could write the
    manifest); a link's from its target."""
    listed = (manifest or {}).get("files") or {}
    hashes = {rel: fingerprint(link_entry(target)) for rel, target in links.items()}
    for rel, st in files.items():
        entry = listed.get(rel)
        if entry and entry.get("type") != LINK and entry["size"] == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
            hashes[rel] = entry["sha256"]
        else:
            hashes[rel] = sha256_and_size(os.path.join(school, rel))[0]
    return hashes


class Stage:
    """The central school folder's next state, built beside it under a hidden name: unchanged files are
    hard links to the central ones, new files are copied (read once, hashed while written, fsynced),
    then the two folders are exchanged in one rename. Until then nothing visible changes; after it
    the folder and its manifest agree."""

    def __init__(self, school: str, src_root: str, expected: dict | None):
        parent, name = os.path.split(school)
        self.school, self.src_root, self.expected = school, src_root, expected
        self.path = os.path.join(parent, "." + name + STAGE_SUFFIX)
        self.prev = self.path + "-prev"  # what a killed run had built: its copies are reused by hash
        self.old = self.path + "-old"
        self.bytes = 0
        self.dirs = set()
        self.copied = []
        self.lock = threading.Lock()

    def recover(self) -> None:
        """Put back a central folder that a two-rename swap, killed between its renames, left aside."""
        if not os.path.lexists(self.school) and os.path.isdir(self.old):
            os.rename(self.old, self.school)
        remove_quietly(self.old)

    def open(self) -> None:
        remove_quietly(self.prev)
        if os.path.lexists(self.path):
            os.rename(self.path, self.prev)
        os.makedirs(self.path, mode=0o700)
        if os.path.isdir(self.school):
            self._clone(self.school, self.path)

    def _clone(self, src: str, dst: str) -> None:
        for entry in os.scandir(src):
            if src == self.school and entry.name == MANIFEST:
                continue
            target = os.path.join(dst, entry.name)
            if entry.is_dir(follow_symlinks=False):
                os.mkdir(target, 0o700)
                self._clone(entry.path, target)
            else:
                os.link(entry.path, target, follow_symlinks=False)
        self.dirs.add(dst)

    def target(self, rel: str) -> str:
        path = os.path.join(self.path, *check_relpath(rel))
        folder = os.path.dirname(path)
        if folder not in self.dirs:  # proved once per folder to stay under the stage (no link leads out)
            contained(self.path, folder)
            os.makedirs(folder, mode=0o700, exist_ok=True)
            self.dirs.add(folder)
        if os.path.lexists(path):
            os.unlink(path)  # a link to the central file: never write through it
        return path

    def keep_in_history(self, rel: str, hist: str, drop: bool) -> None:
        current = os.path.join(self.path, rel)
        if not os.path.lexists(os.path.join(self.path, hist)):
            os.link(current, self.target(hist), follow_symlinks=False)
        if drop:
            os.unlink(current)
            self.dirs.add(os.path.dirname(current))

    def copy(self, src_rel: str, dest_rel: str) -> None:
        final = self.target(dest_rel)
        expected = (self.expected or {}).get(src_rel)
        src = os.path.join(self.src_root, src_rel)
        if expected is not None and expected.startswith(LINK_MARK):  # made anew: never followed
            target = os.readlink(src)
            if fingerprint(link_entry(target)) != expected:
                raise Refused("%s: the link changed since it was checked" % said(src_rel))
            os.symlink(target, final)
            return
        if expected and self._reuse(dest_rel, final, expected, os.lstat(src).st_size):
            return
        digest, size = copy_file(src, final)
        self.copied.append(final)
        if expected is not None and expected != digest:
            raise Refused("%s: content differs from the manifest (sha256 mismatch)" % said(src_rel))
        mtime = os.lstat(src).st_mtime_ns
        os.utime(final, ns=(mtime, mtime))
        with self.lock:
            self.bytes += size

    def _reuse(self, rel: str, final: str, expected: str, size: int) -> bool:
        done = os.path.join(self.prev, rel)
        try:
            st = os.lstat(done)
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size != size or sha256_and_size(done)[0] != expected:
            return False
        os.link(done, final)
        return True

    def flush(self) -> None:
        """Everything staged on disk before the swap: one syncfs for the file system (a journal commit
        per file costs more than the copy), or each file and folder fsynced where syncfs is missing."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            if syncfs(fd):
                return
        finally:
            os.close(fd)
        for path in self.copied:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for folder in sorted(self.dirs, reverse=True):
            fsync_dir(folder)

    def swap(self) -> None:
        self.flush()
        parent = os.path.dirname(self.school)
        os.makedirs(parent, mode=0o700, exist_ok=True)
        if not os.path.lexists(self.school):
            os.rename(self.path, self.school)
        elif not exchange(self.path, self.school):
            os.rename(self.school, self.old)
            os.rename(self.path, self.school)
            self.path = self.old
        fsync_dir(parent)
        self.close()

    def close(self) -> None:
        remove_quietly(self.path)
        remove_quietly(self.prev)


def exchange(a: str, b: str) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), b)


def verify_uncopied(root: str, rels, expected: dict) -> dict:
    hashes = {}
    for rel in rels:
        path = os.path.join(root, rel)
        if expected is not None and expected[rel].startswith(LINK_MARK):
            digest = fingerprint(link_entry(os.readlink(path)))
        else:
            digest = sha256_and_size(path)[0]
        if expected is not None and expected.get(rel) != digest:
            raise Refused("%s: content differs from the manifest (sha256 mismatch)" % said(rel))
        hashes[rel] = digest
    return hashes


def links_outside(school: str, final: dict, table: list) -> list:
    """The links of a school's next state that would lead outside their item (a folder of the central
    archive that is a link where the field's was not, say): the merge is refused."""
    return [rel for rel, digest in sorted(final.items()) if digest.startswith(LINK_MARK)
            and not link_stays_inside(school, table, rel, os.readlink(os.path.join(school, rel)))]


def merged_manifest(src: Side, cen: Side, final_hashes: dict, origins: dict, school: str, who: dict) -> dict:
    """The central school's manifest after the merge. Which school it is comes from the central
    manifest, else from the folder's name (the layout's): never from the field archive."""
    sm, cm = src.manifest or {}, cen.manifest or {}
    later = sm if (sm.get("run") or {}).get("ended", "") > (cm.get("run") or {}).get("ended", "") else cm
    items = {}
    for name in sorted(set(src.items) | set(cen.items)):
        both = [e for e in (cen.items.get(name), src.items.get(name)) if e]
        items[name] = max(both, key=lambda e: (str(e.get("collected_at") or ""), e.get("status") == OK))
    files = {}
    for rel in sorted(final_hashes):
        path = os.path.join(school, rel)
        if final_hashes[rel].startswith(LINK_MARK):
            files[rel] = link_entry(os.readlink(path))
            continue
        st = os.lstat(path)
        files[rel] = dict(size=st.st_size, sha256=final_hashes[rel], mtime_ns=st.st_mtime_ns, inode=st.st_ino)
    completes = [m.get("last_complete") for m in (sm, cm) if m.get("last_complete")]
    # the folders of the files merged (and the central manifest's own): never the field's top_folders
    tops = sorted({rel.split("/", 1)[0] for rel in files} | set(cm.get("top_folders") or []))
    return dict(format=FORMAT, school=cm.get("school") or who, run=later.get("run") or {}, top_folders=tops, items=items,
                last_complete=max(completes) if completes else None, files=files,
                totals=dict(files=len(files), bytes=sum(f["size"] for f in files.values())),
                **{k: v for k, v in (("origins", origins),) if v},
                **{k: later[k] for k in ("heartbeat",) if later.get(k)})


def _uniq(entries: list) -> list:
    seen = {}
    for e in entries:
        seen[(e.get("archive"), e.get("run"))] = e
    return [seen[k] for k in sorted(seen, key=lambda k: (str(k[0]), str(k[1])))]


def merge_school(src_path: str, dest_path: str, parsed: dict, table: list, label: str, check: bool) -> dict:
    result = dict(added=0, identical=0, replaced=0, kept_older=0, bytes_copied=0, problems=[], skipped=[])
    stage = Stage(dest_path, src_path, None)
    if not check:
        stage.recover()
    smanifest = load(src_path)
    refuse(schema_problems(smanifest, "its"))  # before anything of it is used
    scanned = scan(src_path, top_folders(smanifest, src_path))
    s_files, s_links, odd = scanned
    listed = (smanifest or {}).get("files", {})
    result["skipped"] = odd + ["%s (a link the manifest does not list)" % said(rel) for rel in sorted(set(s_links) - set(listed))]
    refuse(source_problems(src_path, smanifest, parsed["kind"], scanned, table))
    expected = {rel: fingerprint(e) for rel, e in listed.items()} if smanifest else None
    cmanifest = load(dest_path) if os.path.isdir(dest_path) else None
    refuse(schema_problems(cmanifest, "the central archive's"))
    c_files, c_links, _ = scan(dest_path, top_folders(cmanifest, dest_path)) if os.path.isdir(dest_path) else ({}, {}, [])
    s_hashes = dict(expected) if expected is not None else verify_uncopied(src_path, s_files, None)
    src = Side(src_path, smanifest, s_files, s_hashes, table, label)
    cen = Side(dest_path, cmanifest, c_files, central_hashes(dest_path, cmanifest, c_files, c_links), table, THIS_ARCHIVE)
    copies, retires, counts = plan(src, cen)
    result.update(counts)
    copied = {s for s, _ in copies}
    if expected is not None:  # verified first: every listed file's content, read once
        verify_uncopied(src_path, sorted(set(s_hashes) - copied), expected)
    if check:
        result["bytes_copied"] = sum(s_files[s].st_size for s, _ in copies if s in s_files)
        return result
    final, origins = outcome(src, cen, copies, retires)
    who = {k: parsed[k] for k in ("state", "school_code", "server_id", "folder")}
    if not copies and not retires:
        manifest = merged_manifest(src, cen, final, origins, dest_path, who)
        if manifest != cmanifest:
            write(dest_path, manifest)
            result["status"] = "merged"
        return result
    stage.expected = expected
    try:
        stage.open()
        replaced = {d for _, d in copies}
        for rel, hist in retires:
            stage.keep_in_history(rel, hist, drop=rel not in replaced)
        copy_all(stage, copies)
        refuse(["%s: a link that would lead outside its item in the central archive" % said(rel)
                for rel in links_outside(stage.path, final, table)])
        write(stage.path, merged_manifest(src, cen, final, origins, stage.path, who))
    except BaseException:
        stage.close()
        raise
    stage.swap()
    result.update(status="merged", bytes_copied=stage.bytes)
    return result


def refuse(problems: list) -> None:
    if problems:
        raise Refused("; ".join(problems[:20]) + (" (and %d more)" % (len(problems) - 20) if len(problems) > 20 else ""))


def copy_all(stage: Stage, copies: list) -> None:
    """Copy in a few threads: reads, writes and sha256 release the GIL, so copying overlaps hashing
    (as rsync's sender and receiver processes do). The folders are made first, in order."""
    for _, d_rel in copies:
        stage.target(d_rel)
    with concurrent.futures.ThreadPoolExecutor(max_workers=COPY_THREADS) as pool:
        for future in [pool.submit(stage.copy, s_rel, d_rel) for s_rel, d_rel in copies]:
            future.result()


def outcome(src: Side, cen: Side, copies: list, retires: list) -> tuple[dict, dict]:
    """The central school's files after the merge ({relpath: sha256}) and their origins."""
    final = dict(cen.hashes)
    origins = {rel: list(cen.origin(rel)) for rel in cen.hashes}
    replaced = {d for _, d in copies}
    for rel, hist in retires:
        final[hist] = final[rel]
        origins[hist] = origins.get(rel) or []
        if rel not in replaced:
            del final[rel]
            origins.pop(rel, None)
    for s_rel, d_rel in copies:
        final[d_rel] = src.hashes[s_rel]
        origins[d_rel] = _uniq(list(src.origin(s_rel)))
    copied = {s for s, _ in copies}
    for rel in src.hashes:
        if rel not in copied and final.get(rel) == src.hashes[rel]:
            origins[rel] = _uniq(origins.get(rel, []) + src.origin(rel))
    return final, {k: v for k, v in origins.items() if v}


def strays(source: str, schools: list) -> list:
    """Folders of the source that hold a MANIFEST.json but are not school folders of the layout (an
    older quarantine naming, a copied subtree): never merged, always reported."""
    known = {path for path, _ in schools}
    found = []
    for folder, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not is_internal(d))
        if MANIFEST in files:
            dirs[:] = []
            if folder not in known:
                found.append(os.path.relpath(folder, source))
    return found


def merge(source: str, dest: str, table: list, label: str, check: bool, results: list | None = None) -> list:
    """Each school folder's result, appended to results (given: a caller shows the progress from it)."""
    os.umask(0o077)  # the archive holds private data
    schools = school_roots(source, kinds=KINDS)
    results = [] if results is None else results
    results += [dict(path=said(rel), kind="unknown", status="refused",
                     problems=["not a school folder of the archive layout (<YYYY>/<state>/<code>-<id>, or below "
                               "quarantine/, derived/ or replaced/<YYYYMMDDTHHMMSSZ>/): merge it by hand"])
                for rel in strays(source, schools)]
    for path, parsed in schools:
        rel = os.path.relpath(path, source)
        entry = dict(path=rel, kind=parsed["kind"], status="unchanged")
        try:
            target = kind_root(dest, parsed)
            entry.update(merge_school(path, target, parsed, table, label, check))
            if check and (entry["added"] or entry["replaced"] or entry["kept_older"]):
                entry["status"] = "merged"
        except (Refused, LayoutError, OSError, ValueError) as exc:
            entry.update(status="refused", problems=[str(exc)])
        except Exception as exc:  # one odd school never stops the others (deep JSON, a time out of range...)
            entry.update(status="refused", problems=["cannot be merged: %s: %s" % (type(exc).__name__, said(str(exc)))])
        results.append(entry)
    return results


def summary_line(school: dict) -> str:
    if school["status"] == "refused":
        return "%s: REFUSED, central copy untouched: %s" % (school["path"], "; ".join(school["problems"]))
    line = "%s: %s - %d added, %d identical, %d replaced (older in history/), %d older kept in history/" % (
        school["path"], school["status"], school.get("added", 0), school.get("identical", 0),
        school.get("replaced", 0), school.get("kept_older", 0))
    if school.get("skipped"):
        line += "; not copied (never followed): " + ", ".join(school["skipped"])
    return line


def write_report(reports: str, started: str, source: str, name: str, schools: list, lines: list) -> list:
    """merge-<time>.json and .md in reports: what this run took from which field archive."""
    os.makedirs(reports, mode=0o700, exist_ok=True)
    base = report_base(reports, "merge")
    refused = sum(s["status"] == "refused" for s in schools)
    heading = ["# clix-collect merge %s" % started, "", "From %s (%s): %d school folder(s), %d refused." % (
        shown(source), shown(name), len(schools), refused), ""]
    return write_text_files(base, {
        ".json": json.dumps(dict(started=started, source=source, source_name=name, schools=schools, lines=lines),
                            indent=1, sort_keys=True),
        ".md": "\n".join(heading + ["- " + line for line in lines]) + "\n"})


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(source=dict(type="path", required=True), dest=dict(type="path", required=True),
                           source_name=dict(type="str"),
                           items=dict(type="list", elements="dict", default=[]),
                           reports_dir=dict(type="path"),
                           progress_seconds=dict(type="int", default=60)),
        supports_check_mode=True,
    )
    p = module.params
    source, dest = os.path.abspath(p["source"]), os.path.abspath(p["dest"])
    if not os.path.isdir(source):
        module.fail_json(msg="%s is not a folder: give the field archive's root (it holds <YYYY>/<state>/...)" % source)
    if os.path.realpath(source) == os.path.realpath(dest):
        module.fail_json(msg="the field archive and the central archive are the same folder (%s)" % source)
    if not school_roots(source, kinds=KINDS):
        module.fail_json(msg="no school folder (<YYYY>/<state>/<code>-<id>) below %s: is it a clix-collect archive?"
                         % source)
    try:
        clix_schema.validator()
    except clix_schema.SchemaUnavailable as exc:
        module.fail_json(msg=str(exc))
    if not module.check_mode:
        os.makedirs(dest, mode=0o700, exist_ok=True)
    schools = []
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    with module_progress(module, lambda: "merging: %d school folders done, %d refused, %s copied" % (
            len(schools), sum(s["status"] == "refused" for s in schools),
            human_bytes(sum(s.get("bytes_copied", 0) for s in schools)))):
        merge(source, dest, p["items"], p["source_name"] or source, module.check_mode, schools)
    refused = [s["path"] for s in schools if s["status"] == "refused"]
    lines = [summary_line(s) for s in schools]
    files = []
    if p["reports_dir"] and not module.check_mode:
        files = write_report(p["reports_dir"], started, source, p["source_name"] or source, schools, lines)
    module.exit_json(changed=any(s["status"] == "merged" for s in schools), schools=schools, refused=refused,
                     lines=lines, files=files, bytes_copied=sum(s.get("bytes_copied", 0) for s in schools))


if __name__ == "__main__":
    main()
