# SPDX-License-Identifier: GPL-3.0-or-later
"""A lab PC's JSON files as clix_pull's json kind pulls them: each file read once, bounded by the json
limit, parsed (clix_unplatform.json_parses) to tell a whole file from one torn by the app's in-place
rewrite, and hashed from the bytes parsed for the manifest (clix_manifest.leave_known); torn ones
pulled again; the pulled tree moved into place. Control node only (it needs the manifest and rsync)."""

from __future__ import annotations

import hashlib
import os
import queue
import stat
import tempfile
import threading
import time

from ansible.module_utils.clix_files import open_regular, syncfs
from ansible.module_utils.clix_manifest import entry as manifest_entry
from ansible.module_utils.clix_rsync import PARTIAL_DIR, rsync
from ansible.module_utils.clix_unplatform import json_parses


def walk_entries(top: str):
    """(relative path, os.DirEntry) of every regular file below top, links never followed, rsync's
    partial folders left out."""
    folders, cut = [top], len(os.path.join(top, ""))
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != PARTIAL_DIR:
                        folders.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    yield entry.path[cut:], entry


def walk_files(top: str):
    """(relative path, path) of every regular file below top (walk_entries)."""
    return ((rel, entry.path) for rel, entry in walk_entries(top))


class JsonTooLarge(Exception):
    """A JSON file larger than json_limit: never read."""


def parses(path: str, limit: int) -> bool:
    try:
        return read_json(path, limit) is not None
    except JsonTooLarge:
        return False


def read_json(path: str, limit: int) -> dict | None:
    """The manifest entry (clix_manifest.entry) of a regular JSON file that parses, read once, or None.
    Raises JsonTooLarge, reading nothing, when the file is larger than limit bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            if st.st_size > limit:
                raise JsonTooLarge(path)
            data = os.read(fd, st.st_size + 1)  # one more byte than stat says: a file that grew is seen
        finally:
            os.close(fd)
    except OSError:
        return None
    if len(data) != st.st_size or not json_parses(data):  # changed while it was read, or torn
        return None
    return manifest_entry(st.st_size, st.st_mtime_ns, st.st_ino, hashlib.sha256(data).hexdigest())


class JsonChecker:
    """Parses the JSON files rsync names as received while it still runs (parsing then costs
    little time after the transfer), and at the end every JSON file below top that it has not
    parsed in its present form: a file is known by its inode, which rsync's rename into place
    changes, so one it read too early (a leftover of an interrupted run, or named before it
    landed) is read again. parsed: {relative path: manifest entry} of the files that parse, hashed
    from the bytes parsed (the manifest takes them as known: clix_manifest.leave_known)."""

    def __init__(self, top: str, limit: int) -> None:
        self.top, self.limit, self.parsed, self.queue = top, limit, {}, queue.Queue()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def received(self, names: list) -> None:
        self.queue.put([name for name in names if name.endswith(".json")])

    def run(self) -> None:
        for names in iter(self.queue.get, None):
            for name in names:
                try:
                    found = read_json(os.path.join(self.top, name), self.limit)
                except JsonTooLarge:
                    continue  # the final walk lists it
                if found is not None:  # else not there (yet), a name rsync escaped, or torn: the final walk reads it
                    self.parsed[name] = found

    def finish(self) -> tuple:
        """(JSON files below top, the relative paths of those that do not parse, of those larger than the limit)."""
        self.queue.put(None)
        self.thread.join()
        found, torn, large = 0, [], []
        for rel, entry in walk_entries(self.top):
            if not rel.endswith(".json"):
                continue
            found += 1
            if (self.parsed.get(rel) or {}).get("inode") != entry.inode():
                self.parsed.pop(rel, None)
                try:
                    read = read_json(entry.path, self.limit)
                except JsonTooLarge:
                    large.append(rel)
                    continue
                if read is None:
                    torn.append(rel)
                else:
                    self.parsed[rel] = read
        return found, sorted(torn), sorted(large)


def torn_json(top: str, limit: int, rels=None) -> tuple:
    """(JSON files checked, relative paths of those that do not parse) below top, or among rels."""
    if rels is None:
        found = [(rel, path) for rel, path in walk_files(top) if rel.endswith(".json")]
    else:
        found = [(rel, os.path.join(top, rel)) for rel in rels if os.path.isfile(os.path.join(top, rel))]
    return len(found), sorted(rel for rel, path in found if not parses(path, limit))


def repull_torn(p: dict, item: dict, incoming: str, extra: list, torn: list) -> list:
    """Pull the torn files again, a while apart, until they parse or the tries are spent; the ones
    that never parsed are removed from incoming and returned. A file whose current version is the
    archived one does not land again (--compare-dest), and that is its end."""
    for _ in range(max(p["json_tries"], 1) - 1):
        if not torn:
            break
        for rel in torn:
            os.unlink(os.path.join(incoming, rel))
        time.sleep(p["json_wait"])
        with tempfile.NamedTemporaryFile("w", prefix="clix-torn-", suffix=".list") as listed:
            listed.write("".join(rel + "\n" for rel in torn))
            listed.flush()
            rsync(p, item["src"], incoming + "/", False, [*extra, "--files-from=%s" % listed.name])
        torn = torn_json(incoming, p["json_limit"], torn)[1]
    for rel in torn:
        os.unlink(os.path.join(incoming, rel))
    return torn


def move_into_place(incoming: str, final: str, changed: set) -> list:
    """Move everything below incoming into final: a folder final lacks in one rename, a file over
    the archived one. Returns the paths that could not be moved (a file where the archive holds a
    folder: the archive's is kept). changed collects the folders to fsync."""
    refused = []
    if not os.path.lexists(final):
        os.makedirs(os.path.dirname(final), mode=0o700, exist_ok=True)
        os.rename(incoming, final)
        changed.add(os.path.dirname(final))
        return refused
    if not (os.path.isdir(final) and not os.path.islink(final)):
        return [final]
    with os.scandir(incoming) as entries:
        names = [e.name for e in entries if e.name != PARTIAL_DIR]
    for name in names:
        src, dst = os.path.join(incoming, name), os.path.join(final, name)
        if os.path.isdir(src) and not os.path.islink(src) and os.path.lexists(dst):
            refused += move_into_place(src, dst, changed)
        elif os.path.isdir(dst) and not os.path.islink(dst):
            refused.append(dst)
        else:
            os.rename(src, dst)
            changed.add(final)
    return refused


def flush(folder: str) -> None:
    """What was pulled below folder on disk before it is moved in: one syncfs for the file system,
    or each file fsynced where syncfs is missing."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        if syncfs(fd):
            return
    finally:
        os.close(fd)
    for _, path in walk_files(folder):
        fd = open_regular(path)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
