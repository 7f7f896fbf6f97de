# SPDX-License-Identifier: GPL-3.0-or-later
"""MANIFEST.json of a school's folder: every file's size and sha256, and the status of every item.

Written by clix_manifest after each collection, read back by clix_verify.

The tree comes from a school server, so nothing in it is followed: the walk holds a descriptor per
folder and opens each name below it without following links. A symbolic link is recorded as a
link (its target is data: size and sha256 are those of the target text); a FIFO, device or socket
is never opened and is listed apart, as a problem (the pull never creates one).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import stat
import uuid

from ansible.module_utils.clix_files import (
    NotRegularFileError,
    atomic_output,
    human_bytes,
    kind_of,
    open_regular,
    read_regular,
    sha256_file,
)
from ansible.module_utils.clix_layout import MANIFEST

FORMAT = 1
# An item's status, in a run's results and in the manifest: the producers and clix_pull set it; the
# report, the catalogue and the fleet table read it. These names, nowhere else.
OK, ABSENT, SKIPPED, FAILED = "ok", "absent", "skipped", "failed"
ITEM_STATUSES = (OK, ABSENT, SKIPPED, FAILED)
LINK = "link"
MANIFEST_LIMIT = 1 << 30
KNOWN_PREFIX = ".clix-known-"
ENTRY_KEYS = ("size", "mtime_ns", "inode")


def is_internal(name: str) -> bool:
    """Hidden work files of the tool (temporary names, partial transfers) are never data."""
    return name.startswith(".")


class Tree:
    """What a walk found: {relpath: entry} of files and links, {relpath: kind} of everything else,
    and how many files (and bytes) it read to hash them, for its progress."""

    def __init__(self) -> None:
        self.files: dict = {}
        self.special: dict = {}
        self.hashed_files = 0
        self.hashed_bytes = 0


def scan(root: str, top_folders: list, previous: dict | None = None, hashed: dict | None = None,
         tree: Tree | None = None) -> Tree:
    """Every data file and link below root/<top folder>, never following a link, into tree (a new
    one unless given: a caller that shows progress reads it while the walk fills it).

    A regular file whose size, mtime and inode are unchanged since the previous manifest (or since
    it was hashed as it was written: hashed, from take_known) keeps that hash instead of being read again."""
    tree = Tree() if tree is None else tree
    known = dict((previous or {}).get("files", {}), **(hashed or {}))
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for top in sorted(set(top_folders)):
            try:
                st = os.stat(top, dir_fd=root_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            _record(root_fd, top, top, st, tree, known)
    finally:
        os.close(root_fd)
    return tree


def scanned_so_far(tree: Tree) -> str:
    """A walk's progress, for a progress line."""
    return f"{len(tree.files):,} files listed, {tree.hashed_files:,} read and hashed ({human_bytes(tree.hashed_bytes)})"


def entry(size: int, mtime_ns: int, inode: int, sha256: str) -> dict:
    """A regular file's manifest entry."""
    return dict(size=size, sha256=sha256, mtime_ns=mtime_ns, inode=inode)


def leave_known(root: str, entries: dict) -> None:
    """Leave {relpath below root: entry(...)} of files just written and hashed by their writer (the pull
    of a lab PC's JSON reads every file anyway) for the next manifest of root to take as known, in a
    hidden file of root (never data); the scan still reads a file whose size, mtime or inode differ."""
    if entries:
        name = "%s%s.json" % (KNOWN_PREFIX, uuid.uuid4().hex)  # several lab PCs of a school pull at once
        with atomic_output(os.path.join(root, name)) as out:
            out.write(json.dumps(entries).encode("utf-8"))


def take_known(root: str) -> tuple:
    """({relpath: entry} left by leave_known in root, the paths of their files, to remove once the
    manifest is written). An entry that is not one is left out (it would only cost a read)."""
    known, paths = {}, []
    with os.scandir(root) as entries:
        names = sorted(e.name for e in entries if e.name.startswith(KNOWN_PREFIX) and e.name.endswith(".json"))
    for name in names:
        path = os.path.join(root, name)
        paths.append(path)
        try:
            left = json.loads(read_regular(path, limit=MANIFEST_LIMIT).decode("utf-8"))
        except (OSError, ValueError, NotRegularFileError):
            continue
        for rel, e in left.items() if isinstance(left, dict) else ():
            if isinstance(e, dict) and all(type(e.get(k)) is int for k in ENTRY_KEYS) and isinstance(e.get("sha256"), str):
                known[rel] = entry(e["size"], e["mtime_ns"], e["inode"], e["sha256"])
    return known, paths


def file_entries(root: str, top_folders: list, previous: dict | None = None) -> dict:
    """The manifest's file entries of root (special files left out: see scan)."""
    return scan(root, top_folders, previous).files


def _record(dir_fd: int, name: str, rel: str, st: os.stat_result, tree: Tree, known: dict) -> None:
    if stat.S_ISDIR(st.st_mode):
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            with os.scandir(fd) as entries:
                children = sorted((e.name, e.stat(follow_symlinks=False)) for e in entries if not is_internal(e.name))
            for child, child_st in children:
                _record(fd, child, rel + "/" + child, child_st, tree, known)
        finally:
            os.close(fd)
    elif stat.S_ISLNK(st.st_mode):
        target = os.readlink(name, dir_fd=dir_fd)
        raw = os.fsencode(target)
        tree.files[rel] = dict(type=LINK, target=target, size=len(raw), sha256=hashlib.sha256(raw).hexdigest())
    elif stat.S_ISREG(st.st_mode):
        old = known.get(rel)
        if old and old.get("type", "file") == "file" and old.get("size") == st.st_size \
                and old.get("mtime_ns") == st.st_mtime_ns and old.get("inode") == st.st_ino:
            digest = old["sha256"]
        else:
            try:
                digest = sha256_file(name, dir_fd=dir_fd)
            except NotRegularFileError:  # swapped for something else since it was listed
                tree.special[rel] = "file that changed while it was read"
                return
            tree.hashed_files += 1
            tree.hashed_bytes += st.st_size
        tree.files[rel] = entry(st.st_size, st.st_mtime_ns, st.st_ino, digest)
    else:
        tree.special[rel] = kind_of(st.st_mode)


def load(root: str) -> dict | None:
    """The manifest of root, or None; one that is a link or a special file raises NotRegularFileError."""
    try:
        data = read_regular(os.path.join(root, MANIFEST), limit=MANIFEST_LIMIT)
    except FileNotFoundError:
        return None
    return json.loads(data.decode("utf-8"))


def recorded_time(value) -> datetime.datetime:
    """A time as a manifest records it (collected_at, last_complete, run's started and ended), aware, in UTC.

    collect.yml stamped its manifests with Ansible's now(utc=true), a time in UTC written without its
    zone: archives full of such stamps exist, so a time without a zone is read as UTC (which it is),
    never refused. Anything that is not an ISO 8601 time raises ValueError saying what it is."""
    if not isinstance(value, str):
        raise ValueError("%r is not a time (ISO 8601 text expected)" % (value,))
    try:
        moment = datetime.datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        return moment.astimezone(datetime.timezone.utc)
    except (ValueError, OverflowError):
        raise ValueError("%r is not an ISO 8601 time" % (value[:40],)) from None


HEARTBEAT_KEYS = ("captured_at", "uptime_seconds", "load", "memory", "worst_disk_percent", "clock_skew_seconds",
                  "services", "process_count")


def heartbeat_summary(facts) -> dict | None:
    """The heartbeat values a manifest keeps (the catalogue shows them without reading the data)."""
    if not isinstance(facts, dict) or not facts.get("captured_at"):
        return None
    return {k: facts[k] for k in HEARTBEAT_KEYS if k in facts}


def count_copy_rows(path: str, table: str) -> int | None:
    """Rows of `COPY <table> (...) FROM stdin;` in a plain SQL dump (pg_dumpall), read as a stream;
    None when the dump has no such table."""
    start = ("COPY %s " % table).encode()
    rows, inside = None, False
    try:
        f = os.fdopen(open_regular(path), "rb")
    except NotRegularFileError:
        return None
    with f:
        for line in f:
            if inside:
                if line.rstrip(b"\r\n") == b"\\.":
                    return rows
                rows += 1
            elif line.startswith(start) and line.rstrip().endswith(b"FROM stdin;"):
                inside, rows = True, 0
    return rows


ENCODE_ONE = json.JSONEncoder(sort_keys=True).encode


def encode(manifest: dict) -> bytes:
    """The manifest as JSON, indented, each file's entry on one line: Python encodes indented JSON in
    pure Python, 4x slower than on one line, and the files are almost all of a big manifest."""
    head = json.dumps(dict(manifest, files={}), indent=1, sort_keys=True)
    files = ",\n".join("  %s: %s" % (ENCODE_ONE(rel), ENCODE_ONE(e)) for rel, e in sorted(manifest["files"].items()))
    if files:  # the top level's "files" is the one key with exactly one space of indent
        head = head.replace('\n "files": {}', '\n "files": {\n%s\n }' % files, 1)
    return head.encode("utf-8")


def write(root: str, manifest: dict) -> None:
    data = encode(manifest)
    with atomic_output(os.path.join(root, MANIFEST)) as out:
        out.write(data)


def describe(entry: dict) -> str:
    return "a symbolic link to %r" % entry["target"] if entry.get("type") == LINK else "a file"


def differences(root: str, manifest: dict, tree: Tree | None = None) -> list:
    """What differs between the files under root and their manifest, one dict per problem (tree: as
    for scan)."""
    problems = []
    recorded = manifest.get("files", {})
    tops = sorted({rel.split("/", 1)[0] for rel in recorded} | set(manifest.get("top_folders", [])))
    now = scan(root, tops, tree=tree)
    for rel, entry in sorted(recorded.items()):
        found = now.files.get(rel)
        if found is None:
            problem = "is a %s, never read" % now.special[rel] if rel in now.special else "missing"
            problems.append(dict(path=rel, problem=problem))
        elif found.get("type") != entry.get("type") or found.get("target") != entry.get("target"):
            problems.append(dict(path=rel, problem="is %s, manifest says %s" % (describe(found), describe(entry))))
        elif found["size"] != entry["size"]:
            problems.append(dict(path=rel, problem="size %d, manifest says %d" % (found["size"], entry["size"])))
        elif found["sha256"] != entry["sha256"]:
            problems.append(dict(path=rel, problem="content differs (sha256 mismatch)"))
    for rel in sorted(set(now.files) - set(recorded)):
        problems.append(dict(path=rel, problem="not in the manifest"))
    for rel, kind in sorted(now.special.items()):
        if rel not in recorded:
            problems.append(dict(path=rel, problem="is a %s, never read: not data, remove it" % kind))
    return problems
