# SPDX-License-Identifier: GPL-3.0-or-later
"""MANIFEST.json of a school's folder: every file's size and sha256, and the status of every item.

Written by clix_manifest after each collection, read back by clix_verify.
"""

from __future__ import annotations

import json
import os

from ansible.module_utils.clix_files import atomic_output, sha256_file

MANIFEST = "MANIFEST.json"
FORMAT = 1


def is_internal(name: str) -> bool:
    """Hidden work files of the tool (temporary names, partial transfers) are never data."""
    return name.startswith(".")


def walk_files(root: str, top_folders: list) -> list:
    """Relative paths of every data file below root/<top folder>, sorted."""
    found = []
    for top in top_folders:
        base = os.path.join(root, top)
        if not os.path.isdir(base):
            continue
        for folder, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if not is_internal(d))
            for name in files:
                if not is_internal(name):
                    found.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(found)


def load(root: str) -> dict | None:
    path = os.path.join(root, MANIFEST)
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return json.loads(f.read().decode("utf-8"))


def file_entries(root: str, top_folders: list, previous: dict | None) -> dict:
    """{relpath: {size, sha256, mtime_ns}}; a file whose size, mtime and inode are unchanged since
    the previous manifest keeps its recorded hash instead of being read again."""
    known = (previous or {}).get("files", {})
    entries = {}
    for rel in walk_files(root, top_folders):
        st = os.stat(os.path.join(root, rel))
        old = known.get(rel)
        if old and old.get("size") == st.st_size and old.get("mtime_ns") == st.st_mtime_ns \
                and old.get("inode") == st.st_ino:
            digest = old["sha256"]
        else:
            digest = sha256_file(os.path.join(root, rel))
        entries[rel] = dict(size=st.st_size, sha256=digest, mtime_ns=st.st_mtime_ns, inode=st.st_ino)
    return entries


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
    with open(path, "rb") as f:
        for line in f:
            if inside:
                if line.rstrip(b"\r\n") == b"\\.":
                    return rows
                rows += 1
            elif line.startswith(start) and line.rstrip().endswith(b"FROM stdin;"):
                inside, rows = True, 0
    return rows


def write(root: str, manifest: dict) -> None:
    data = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
    with atomic_output(os.path.join(root, MANIFEST)) as out:
        out.write(data)


def differences(root: str, manifest: dict) -> list:
    """What differs between the files under root and their manifest, one dict per problem."""
    problems = []
    recorded = manifest.get("files", {})
    for rel, entry in sorted(recorded.items()):
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            problems.append(dict(path=rel, problem="missing"))
            continue
        size = os.path.getsize(path)
        if size != entry["size"]:
            problems.append(dict(path=rel, problem="size %d, manifest says %d" % (size, entry["size"])))
        elif sha256_file(path) != entry["sha256"]:
            problems.append(dict(path=rel, problem="content differs (sha256 mismatch)"))
    tops = sorted({rel.split(os.sep, 1)[0] for rel in recorded} | set(manifest.get("top_folders", [])))
    for rel in walk_files(root, tops):
        if rel not in recorded:
            problems.append(dict(path=rel, problem="not in the manifest"))
    return problems
