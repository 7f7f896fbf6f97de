"""Atomic writes, hashing, free-space refusal, identity parsing and redaction."""

from __future__ import annotations

import errno
import gzip
import hashlib
import os

import pytest
from ansible.module_utils import clix_files
from ansible.module_utils.clix_settings import SettingsError, read_identity


def test_atomic_output_appears_complete_with_its_hash(tmp_path):
    target = tmp_path / "dump.bson"
    with clix_files.atomic_output(str(target)) as out:
        out.write(b"abc")
        assert not target.exists()  # never visible under its final name while being written
    assert target.read_bytes() == b"abc"
    assert out.sha256.hexdigest() == hashlib.sha256(b"abc").hexdigest() and out.size == 3
    assert oct(target.stat().st_mode & 0o777) == "0o600"


def test_atomic_output_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "dump.bson"
    with pytest.raises(RuntimeError), clix_files.atomic_output(str(target)) as out:
        out.write(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_disk_full_while_writing_becomes_a_clear_error(tmp_path, monkeypatch):
    target = tmp_path / "dump.bson"

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(clix_files.HashingFile, "write", full)
    with pytest.raises(clix_files.DiskFullError, match="no space left"), clix_files.atomic_output(str(target)) as out:
        out.write(b"x")
    assert list(tmp_path.iterdir()) == []


def test_gzip_output_hashes_the_stored_bytes(tmp_path):
    target = tmp_path / "c.bson.gz"
    with clix_files.atomic_output(str(target), compress=True) as out:
        out.write(b"hello" * 100)
    assert gzip.decompress(target.read_bytes()) == b"hello" * 100
    assert out.sha256.hexdigest() == hashlib.sha256(target.read_bytes()).hexdigest()


def test_require_free_space_refuses_with_what_to_do(tmp_path):
    with pytest.raises(clix_files.DiskFullError, match="clix_staging_dir"):
        clix_files.require_free_space(str(tmp_path), needed=1 << 60, reserve=0)


def test_replace_dir_swaps_in_a_new_folder_whole(tmp_path):
    final = tmp_path / "db"
    final.mkdir()
    (final / "old.bson").write_bytes(b"old")
    new = clix_files.new_temp_dir(str(final))
    (open(os.path.join(new, "new.bson"), "wb")).close()
    clix_files.replace_dir(new, str(final))
    assert sorted(p.name for p in final.iterdir()) == ["new.bson"]
    assert [p.name for p in tmp_path.iterdir()] == ["db"]


SETTINGS = """
import os
GSTUDIO_INSTITUTE_ID = 'mz1'
GSTUDIO_INSTITUTE_ID_SECONDARY ='02031001'
GSTUDIO_INSTITUTE_NAME = "GOVT. MIZO HIGH SCHOOL"
EVIL = os.system('touch /tmp/should-never-run')
"""


def test_identity_is_read_without_executing_the_file(tmp_path):
    path = tmp_path / "server_settings.py"
    path.write_text(SETTINGS)
    assert read_identity(str(path)) == {"server_id": "mz1", "school_code": "02031001",
                                        "school_name": "GOVT. MIZO HIGH SCHOOL"}


def test_broken_or_missing_settings_are_reported(tmp_path):
    bad = tmp_path / "s.py"
    bad.write_text("GSTUDIO_INSTITUTE_ID = 'mz1\n")
    with pytest.raises(SettingsError, match="not valid Python"):
        read_identity(str(bad))
    with pytest.raises(SettingsError, match="cannot read"):
        read_identity(str(tmp_path / "absent.py"))
