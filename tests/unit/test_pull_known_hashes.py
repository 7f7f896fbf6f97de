"""clix_pull's json kind hashes each JSON file from the bytes it parses and leaves the entries for the
manifest (clix_manifest.leave_known / take_known), so the manifest does not read 100k files again;
a file that changed after the pull is hashed anew."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from ansible.module_utils import clix_labpc_json, clix_rsync
from ansible.module_utils import clix_manifest as manifest
from library_module import library_module, run_module

LOCAL_RSH = Path(__file__).parent / "data" / "local-rsh"
clix_pull = library_module("clix_pull")
clix_manifest_module = library_module("clix_manifest")
DEST = "unplatform/pc01/opt-clix/ds"
FILES = {"logging/LogEntry/a.json": '{"a": 1}', "logging/LogEntry/b.json": '{"b": 1}',
         "assessment/AssessmentTaken/t.json": '{"t": 1}', "studentResponseFiles/x.mp3": "audio"}


@pytest.fixture(autouse=True)
def local_rsync(monkeypatch):
    monkeypatch.setattr(clix_rsync, "ssh_command", lambda p: str(LOCAL_RSH))


@pytest.fixture
def pulled(tmp_path) -> Path:
    src = tmp_path / "pc" / "datastore"
    for rel, text in FILES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    root = tmp_path / "school"
    item = dict(name="ds", src=str(src) + "/", dest=DEST, kind="json", redact=False, error=None, expect={}, exclude=[])
    p = dict(host="pc", port=22, user=None, private_key=None, ssh_args="", connection="ssh", root=str(root),
             items=[item], bwlimit=0, compress=False, timeout=30, connect_timeout=5, rsync_path="rsync",
             progress_seconds=0, json_tries=2, json_wait=0, json_limit=1 << 20, retries=0, retry_seconds=0)
    assert clix_pull.pull_all(p, False, None)[0]["status"] == "ok"
    return root


def reads(monkeypatch) -> list:
    """The files the manifest's scan reads to hash them."""
    read = []
    real = manifest.sha256_file

    def counting(name, dir_fd=None):
        read.append(name)
        return real(name, dir_fd=dir_fd)
    monkeypatch.setattr(manifest, "sha256_file", counting)
    return read


def test_the_pulled_json_files_are_taken_as_known_and_not_read_again(pulled, monkeypatch):
    known, left = manifest.take_known(str(pulled))
    assert len(left) == 1 and os.path.basename(left[0]).startswith(manifest.KNOWN_PREFIX)
    assert sorted(known) == sorted(f"{DEST}/{rel}" for rel in FILES if rel.endswith(".json"))
    read = reads(monkeypatch)
    tree = manifest.scan(str(pulled), ["unplatform"], None, known)
    assert read == ["x.mp3"]  # only the file the pull did not parse
    for rel, text in FILES.items():
        assert tree.files[f"{DEST}/{rel}"]["sha256"] == hashlib.sha256(text.encode()).hexdigest(), rel
    assert tree.files == manifest.scan(str(pulled), ["unplatform"]).files  # the same as reading every file


def test_a_file_changed_after_the_pull_is_hashed_anew(pulled, monkeypatch):
    changed = pulled / DEST / "logging/LogEntry/a.json"
    st = changed.stat()
    changed.write_text('{"a": 2}')  # same size, another mtime
    replaced = pulled / DEST / "logging/LogEntry/b.json"
    st_b = replaced.stat()
    replaced.unlink()
    replaced.write_text('{"b": 2}')  # same size and mtime, another inode
    os.utime(replaced, ns=(st_b.st_atime_ns, st_b.st_mtime_ns))
    assert changed.stat().st_mtime_ns != st.st_mtime_ns
    known, _ = manifest.take_known(str(pulled))
    read = reads(monkeypatch)
    tree = manifest.scan(str(pulled), ["unplatform"], None, known)
    assert sorted(read) == ["a.json", "b.json", "x.mp3"]
    assert tree.files[f"{DEST}/logging/LogEntry/a.json"]["sha256"] == hashlib.sha256(b'{"a": 2}').hexdigest()
    assert tree.files[f"{DEST}/logging/LogEntry/b.json"]["sha256"] == hashlib.sha256(b'{"b": 2}').hexdigest()


def test_entries_that_are_not_entries_are_left_out(tmp_path):
    (tmp_path / (manifest.KNOWN_PREFIX + "x.json")).write_text(json.dumps(
        {"a": {"size": True, "mtime_ns": 1, "inode": 1, "sha256": "0"}, "b": "no",
         "c": {"size": 1, "mtime_ns": 1, "inode": 1, "sha256": "ab"}}))
    (tmp_path / (manifest.KNOWN_PREFIX + "y.json")).write_text("[torn")
    os.symlink("/etc/passwd", tmp_path / (manifest.KNOWN_PREFIX + "z.json"))
    known, left = manifest.take_known(str(tmp_path))
    assert known == {"c": {"size": 1, "mtime_ns": 1, "inode": 1, "sha256": "ab"}} and len(left) == 3


def test_the_manifest_module_uses_and_removes_what_the_pull_left(pulled, monkeypatch, capsys):
    read = reads(monkeypatch)
    args = {"root": str(pulled), "school": {"code": "2031001"}, "items": [{"name": "unplatform/pc01", "status": "ok"}]}
    assert run_module(clix_manifest_module, args, monkeypatch, capsys)["files"] == len(FILES)
    assert read == ["x.mp3"]
    assert not [p for p in pulled.iterdir() if p.name.startswith(manifest.KNOWN_PREFIX)]
    assert manifest.differences(str(pulled), manifest.load(str(pulled))) == []


def test_a_json_file_is_read_once_and_only_when_whole_regular_and_parsed(tmp_path, monkeypatch):
    """read_json: the entry of a whole JSON file (hashed from the bytes parsed); None for a torn file,
    a link (never followed), a FIFO (never blocked on) and a file that grew after its fstat."""
    whole = tmp_path / "whole.json"
    whole.write_bytes(b'{"a": [1, 2]}')
    st = whole.stat()
    assert clix_labpc_json.read_json(str(whole), 1 << 20) == manifest.entry(st.st_size, st.st_mtime_ns, st.st_ino,
                                                              hashlib.sha256(b'{"a": [1, 2]}').hexdigest())
    (tmp_path / "torn.json").write_bytes(b'{"a": [1,')
    (tmp_path / "link.json").symlink_to(whole)
    os.mkfifo(tmp_path / "fifo.json")
    assert [clix_labpc_json.read_json(str(tmp_path / n), 1 << 20) for n in ("torn.json", "link.json", "fifo.json")] == [None] * 3
    with open(whole, "ab") as f:
        f.write(b"  ")  # still whole JSON: only the size says it changed
    real_fstat = os.fstat
    monkeypatch.setattr(os, "fstat", lambda f: st if real_fstat(f).st_ino == st.st_ino else real_fstat(f))  # as before it grew
    assert clix_labpc_json.read_json(str(whole), 1 << 20) is None
