"""Atomic writes, hashing, free-space refusal, identity parsing and redaction."""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import signal
import stat

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


def planted_names(monkeypatch, *suffixes: str) -> None:
    """Make temp_sibling pick these suffixes first, as if someone had guessed them."""
    queue = list(suffixes)
    real = clix_files.secrets.token_hex
    monkeypatch.setattr(clix_files.secrets, "token_hex", lambda n: queue.pop(0) if queue else real(n))


def blocked(signum, frame):
    raise TimeoutError("blocked opening what was planted at the temp name")


def test_atomic_output_never_writes_through_what_was_planted_at_its_temp_name(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    target = tmp_path / "dump.bson"
    os.symlink(victim, tmp_path / ".dump.bson.tmp-aaaa")
    os.mkfifo(tmp_path / ".dump.bson.tmp-bbbb")  # opening it for writing would block forever
    planted_names(monkeypatch, "aaaa", "bbbb")
    signal.signal(signal.SIGALRM, blocked)
    signal.alarm(10)
    try:
        with clix_files.atomic_output(str(target)) as out:
            out.write(b"dump")
    finally:
        signal.alarm(0)
    assert target.read_bytes() == b"dump" and not target.is_symlink()
    assert victim.read_bytes() == b"precious"
    assert os.readlink(tmp_path / ".dump.bson.tmp-aaaa") == str(victim)  # what is not ours stays
    assert stat.S_ISFIFO(os.lstat(tmp_path / ".dump.bson.tmp-bbbb").st_mode)


def test_temp_names_are_not_predictable(tmp_path):
    assert len({clix_files.temp_sibling(str(tmp_path / "x")) for _ in range(50)}) == 50


def test_replace_dir_moves_a_planted_link_aside_without_following_it(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep").write_bytes(b"keep")
    work = tmp_path / "work"
    work.mkdir()
    os.symlink(elsewhere, work / "db")
    new = clix_files.new_temp_dir(str(work / "db"))
    clix_files.replace_dir(new, str(work / "db"))
    assert not (work / "db").is_symlink() and (work / "db").is_dir()
    assert (elsewhere / "keep").read_bytes() == b"keep"
    assert sorted(p.name for p in work.iterdir()) == ["db"]


def test_private_dir_creates_the_staging_folder_private(tmp_path):
    staging = tmp_path / "stage"
    pinned = clix_files.private_dir(str(staging / "postgres-dump"), str(staging))
    with clix_files.atomic_output(os.path.join(pinned, "pg_dump_all.sql")) as out:
        out.write(b"sql")
    assert (staging / "postgres-dump" / "pg_dump_all.sql").read_bytes() == b"sql"
    for folder in (staging, staging / "postgres-dump"):
        st = os.lstat(folder)
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()


def test_private_dir_tightens_a_folder_of_its_own(tmp_path):
    staging = tmp_path / "stage"
    staging.mkdir(mode=0o755)
    staging.chmod(0o777)
    clix_files.private_dir(str(staging))
    assert stat.S_IMODE(staging.stat().st_mode) == 0o700


@pytest.mark.parametrize("where", ["stage", "stage/postgres-dump", "home"])
def test_private_dir_refuses_a_link_anywhere_on_the_path(tmp_path, where):
    (tmp_path / "real").mkdir()
    link = tmp_path / where
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(tmp_path / "real", link)
    staging = tmp_path / "home" / "stage" if where == "home" else tmp_path / "stage"
    with pytest.raises(clix_files.UnsafeFolderError, match=r"symbolic link.*clix_staging_dir"):
        clix_files.private_dir(str(staging / "postgres-dump"), str(staging))
    assert list((tmp_path / "real").iterdir()) == []


def test_private_dir_refuses_a_staging_folder_someone_else_owns(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: the folder must belong to another user")
    staging = tmp_path / "stage"
    staging.mkdir()
    os.chown(staging, 500, 500)
    with pytest.raises(clix_files.UnsafeFolderError, match=r"belongs to uid 500.*rm -rf"):
        clix_files.private_dir(str(staging / "system-heartbeat"), str(staging))
    assert list(staging.iterdir()) == []


def test_private_dir_allows_a_users_home_above_the_staging_folder(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: the home must belong to another user")
    home = tmp_path / "home-core"
    home.mkdir()
    os.chown(home, 500, 500)
    clix_files.private_dir(str(home / "stage" / "db"), str(home / "stage"))
    assert os.lstat(home / "stage").st_uid == 0


def test_private_dir_keeps_writing_into_the_folder_it_checked(tmp_path):
    """Swapping the checked folder for a link afterwards redirects nothing."""
    staging = tmp_path / "stage"
    pinned = clix_files.private_dir(str(staging), str(staging))
    (tmp_path / "decoy").mkdir()
    os.rename(staging, tmp_path / "moved")
    os.symlink(tmp_path / "decoy", staging)
    with clix_files.atomic_output(os.path.join(pinned, "git-commit.log")) as out:
        out.write(b"log")
    assert list((tmp_path / "decoy").iterdir()) == []
    assert (tmp_path / "moved" / "git-commit.log").read_bytes() == b"log"


def test_a_dump_folder_is_swapped_in_under_a_private_staging_folder(tmp_path):
    """How clix_mongodump uses it: the folder holding dest made private, dest replaced whole."""
    staging = tmp_path / "stage"
    dest = os.path.join(clix_files.private_dir(str(staging), str(staging)), "db")
    new = clix_files.new_temp_dir(dest)
    with clix_files.atomic_output(os.path.join(new, "x.bson")) as out:
        out.write(b"x")
    clix_files.replace_dir(new, dest)
    assert [p.name for p in staging.iterdir()] == ["db"] and (staging / "db" / "x.bson").read_bytes() == b"x"


SETTINGS = """
import os
GSTUDIO_INSTITUTE_ID = 'mz1'
GSTUDIO_INSTITUTE_ID_SECONDARY ='02031001'
GSTUDIO_INSTITUTE_NAME = "GOVT. MIZO HIGH SCHOOL"
EVIL = os.system('touch {canary}')
"""


def test_identity_is_read_without_executing_the_file(tmp_path):
    canary = tmp_path / "canary"
    path = tmp_path / "server_settings.py"
    path.write_text(SETTINGS.format(canary=canary))
    assert read_identity(str(path)) == {"server_id": "mz1", "school_code": "02031001",
                                        "school_name": "GOVT. MIZO HIGH SCHOOL"}
    assert not canary.exists(), "reading the identity ran the settings file"


def test_broken_or_missing_settings_are_reported(tmp_path):
    bad = tmp_path / "s.py"
    bad.write_text("GSTUDIO_INSTITUTE_ID = 'mz1\n")
    with pytest.raises(SettingsError, match="not valid Python"):
        read_identity(str(bad))
    with pytest.raises(SettingsError, match="cannot read"):
        read_identity(str(tmp_path / "absent.py"))


def test_settings_that_are_a_fifo_a_device_or_huge_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "fifo.py"
    os.mkfifo(fifo)
    with pytest.raises(SettingsError, match="not a regular file"):
        read_identity(str(fifo))  # opening a FIFO for reading would block until a writer came
    link = tmp_path / "zero.py"
    link.symlink_to("/dev/zero")
    with pytest.raises(SettingsError, match="not a regular file"):
        read_identity(str(link))
    huge = tmp_path / "huge.py"
    huge.write_bytes(b"#" * (5 * 2**20))
    with pytest.raises(SettingsError, match="larger than"):
        read_identity(str(huge))


def test_open_regular_refuses_a_file_swapped_in_between_its_check_and_its_open(tmp_path, monkeypatch):
    path, other = tmp_path / "settings.py", tmp_path / "planted"
    path.write_text("mine")
    other.write_text("someone else's")
    real_open = os.open

    def swap_first(name, *args, **kwargs):
        if str(name) == str(path) and other.exists():
            os.replace(other, path)  # a regular file again, but another one
        return real_open(name, *args, **kwargs)
    monkeypatch.setattr(clix_files.os, "open", swap_first)
    with pytest.raises(clix_files.NotRegularFileError, match="changed while being opened"):
        clix_files.open_regular(str(path))
