"""clix_push with the real rsync on this machine (a local connection): the archive's private files
reach their place with the modes asked for, the archive's work files stay behind, nothing on the
receiving side is deleted, and a long push says how far it is."""

from __future__ import annotations

import os
from pathlib import Path

from library_module import library_module

clix_push = library_module("clix_push")


def params(**extra) -> dict:
    return dict(dict(host="localhost", port=22, user=None, private_key=None, ssh_args="", connection="local",
                     timeout=30, connect_timeout=5, bwlimit=0, compress=False, rsync_path="rsync",
                     progress_seconds=0), **extra)


def test_a_folder_is_pushed_with_the_modes_asked_for_and_nothing_else(tmp_path: Path):
    src, dest = tmp_path / "archive" / "media", tmp_path / "server" / "media"
    (src / "a" / ".rsync-partial").mkdir(parents=True)
    (src / "a" / "clip.mp4").write_bytes(b"x" * 300_000)
    (src / "a" / ".rsync-partial" / "half").write_bytes(b"h")
    (src / ".clix-known-media.json").write_text("{}")
    for path in (src, src / "a"):
        path.chmod(0o700)
    (src / "a" / "clip.mp4").chmod(0o600)
    (dest / "kept").mkdir(parents=True)
    (dest / "kept" / "local.txt").write_text("the server's own")
    lines = []
    result = clix_push.push_item(params(), {"name": "media", "src": str(src), "dest": str(dest), "chmod": "D0755,F0644"},
                                 False, lines.append)
    assert result["status"] == "ok" and result["files_transferred"] == 1 and result["total_bytes"] == 300_000
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*")) == ["a", "a/clip.mp4", "kept", "kept/local.txt"]
    assert os.stat(dest / "a").st_mode & 0o777 == 0o755 and os.stat(dest / "a" / "clip.mp4").st_mode & 0o777 == 0o644
    assert lines and lines[-1].startswith("pushing media: 300,000 bytes (100% of the item), ")


def test_a_check_run_writes_nothing_and_a_missing_source_fails_its_item(tmp_path: Path):
    src, dest = tmp_path / "archive", tmp_path / "server"
    src.mkdir()
    (src / "f").write_text("data")
    dest.mkdir()
    item = {"name": "rcs-repo", "src": str(src), "dest": str(dest), "chmod": "D0755,F0644"}
    result = clix_push.push_item(params(), item, True)
    assert result["status"] == "ok" and result["files_transferred"] == 1 and list(dest.iterdir()) == []
    missing = clix_push.push_item(params(), dict(item, src=str(tmp_path / "gone")), False)
    assert missing["status"] == "failed" and missing["reason"] == "%s is not a folder of the archive" % (tmp_path / "gone")
