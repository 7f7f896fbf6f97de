"""Nothing lost: a file written by atomic_output (module_utils/clix_files.py) has its data on disk
before it appears under its final name, and the rename itself is made durable."""

from __future__ import annotations

import os

from ansible.module_utils import clix_files


def read(path: str) -> bytes:
    """What a file holds when its descriptor is synced."""
    with open(path, "rb") as f:
        return f.read()


def test_the_data_is_fsynced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_rename, real_replace = os.fsync, os.rename, os.replace

    def fsync(fd):
        path = os.readlink("/proc/self/fd/%d" % fd)
        events.append(("fsync", path, read(path) if os.path.isfile(path) else None))
        return real_fsync(fd)

    def recorded(real):
        def move(src, dst, *args, **kwargs):
            events.append(("rename", os.path.abspath(src), os.path.abspath(dst)))
            return real(src, dst, *args, **kwargs)
        return move

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", recorded(real_rename))
    monkeypatch.setattr(os, "replace", recorded(real_replace))
    target = tmp_path / "dump.bson"
    with clix_files.atomic_output(str(target)) as out:
        out.write(b"every byte")
    assert target.read_bytes() == b"every byte"
    moves = [e for e in events if e[0] == "rename" and e[2] == str(target)]
    assert len(moves) == 1, events
    temp, at = moves[0][1], events.index(moves[0])
    assert ("fsync", temp, b"every byte") in events[:at], "the data was not fsynced before the rename: %s" % events
    assert ("fsync", str(tmp_path), None) in events[at:], "the folder was not fsynced after the rename: %s" % events
