"""clix_restore's checks on the server, on real files: which settings name this school (a blank install
too), and whether each file system has room for what the restore writes there."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from library_module import library_module, run_module

clix_restore = library_module("clix_restore")

SETTINGS = "GSTUDIO_INSTITUTE_ID = '{}'\nGSTUDIO_INSTITUTE_ID_SECONDARY = '{}'\nGSTUDIO_INSTITUTE_NAME = 'x'\n"


def params(settings: Path) -> dict:
    return {"server_settings": str(settings), "server_id": "ct2", "school_code": "01011002"}


@pytest.mark.parametrize("ids", [("ct2", "01011002"), ("ct2", "1011002"), ("sp100", "00000000"), None])
def test_this_school_or_a_blank_install_is_accepted(tmp_path, ids):
    settings = tmp_path / "server_settings.py"
    if ids:
        settings.write_text(SETTINGS.format(*ids))
    identity = clix_restore.check_identity(params(settings))
    assert identity == (None if ids is None else {"server_id": ids[0], "school_code": ids[1], "school_name": "x"})


@pytest.mark.parametrize("ids", [("ct1", "01011002"), ("ct2", "1011001"), ("sp100", "01011002")])
def test_settings_naming_another_school_are_refused(tmp_path, ids):
    settings = tmp_path / "server_settings.py"
    settings.write_text(SETTINGS.format(*ids))
    with pytest.raises(clix_restore.RestoreError) as refused:
        clix_restore.check_identity(params(settings))
    assert str(refused.value).startswith("this server's settings say it is server '%s' of school '%s', not ct2 of "
                                         "01011002 as the inventory says" % ids)


def test_each_file_system_must_hold_what_goes_there_with_the_reserve(tmp_path):
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    media, db = str(tmp_path / "data" / "media"), str(tmp_path / "staging" / "db")  # neither exists yet
    assert clix_restore.space_problems({media: 1, db: 1}, 0) == []
    assert clix_restore.space_problems({media: free // 2, db: free // 2}, 2**20) != []  # summed on one file system
    problems = clix_restore.space_problems({media: free + 1, db: 0}, 0)
    assert len(problems) == 1 and problems[0].startswith("%s has " % tmp_path)
    assert "%s, %s needs about" % (media, db) in problems[0]
    with pytest.raises(clix_restore.RestoreError, match=r"^not enough free space on this server .*Nothing was changed"):
        clix_restore.refuse([], False, None, problems)


def test_files_changed_after_the_collection_are_named_as_newer_data(tmp_path):
    old, new = tmp_path / "media", tmp_path / "rcs-repo"
    (old / "a").mkdir(parents=True)
    (new / "b").mkdir(parents=True)
    (old / "a" / "old.png").write_bytes(b"1")
    (new / "b" / "new.rcs").write_bytes(b"2")
    os.utime(old / "a" / "old.png", (1_700_000_000, 1_700_000_000))
    os.utime(new / "b" / "new.rcs", (1_800_000_000, 1_800_000_000))
    folders = [str(old), str(new), str(tmp_path / "absent")]
    since = clix_restore.collected_seconds("2026-01-01T00:00:00+00:00")
    held, newer = clix_restore.folder_data(folders, since)
    assert held == [f"files in {old}", f"files in {new} (some changed since: the newest at 2027-01-15T08:00:00Z)"]
    assert newer
    assert clix_restore.folder_data(folders, None) == ([f"files in {old}", f"files in {new}"], False)
    assert clix_restore.folder_data(folders, clix_restore.collected_seconds("2028-01-01T00:00:00Z"))[1] is False
    with pytest.raises(clix_restore.RestoreError, match=r"^this server holds data newer than the collection restored "
                       r"from \(collected 2026-01-01T00:00:00\+00:00\): files in .*rcs-repo .*clix_restore_overwrite=true"):
        clix_restore.refuse(held, newer, "2026-01-01T00:00:00+00:00", [])


def test_a_password_in_the_mongodb_uri_is_refused_unused_and_unshown(tmp_path, monkeypatch, capsys):
    result = run_module(clix_restore, {"server_id": "ct2", "school_code": "01011002",
                                       "server_settings": str(tmp_path / "server_settings.py"),
                                       "uri": "mongodb://clix:s3cr%2Ft@127.0.0.1:9/"}, monkeypatch, capsys)
    assert result["failed"] and result["msg"].startswith("uri holds a password")
    assert "s3cr" not in json.dumps(result)
