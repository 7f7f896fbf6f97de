"""The release tier on a small archive made here: it needs a key and says how to make one, holds no
direct identifier or free text (neither as columns nor anywhere in its bytes), gives a child one
pseudonym across years, and is written again only where the dataset changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import dataset_values
from test_dataset_units import ACT, FIRST_VISITS, LATER_VISITS, LESSON, PROGRESS_HEADER, bench, school

from clix_dataset.release import ReleaseError, release
from clix_dataset.tables import PSEUDONYMISED, TABLES

REPO = Path(__file__).resolve().parents[2]
PROGRESS = ("server_id,school_name,school_code,module_name,unit_name,username,user_id,first_name,last_name,roll_no,"
            "grade,activities_visited\r\nmz1,School mz1,2031001,[],sound,red-fox-mz1,2,Sunaina,Verghese,"
            "2031001042,Class 9,1\r\n")
USERS = [(1, "administrator", "2018-05-01 09:00:00+05:30", "2018-05-01 09:00:00+05:30"),
         (2, "red-fox-mz1", "2018-06-04 09:55:00+05:30", "2018-05-01 09:00:00+05:30")]
# What must never be in a release: usernames, names, roll numbers, session keys, typed text.
SECRETS = ["red-fox-mz1", "blue-owl-mz2", "administrator", "Sunaina", "Verghese", "2031001042", "sess-7f3a9c",
           "my secret reason"]


@pytest.fixture()
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    tools = {"coins-puzzle/2-coins-puzzle.json":
             '[{"created_at": "2018-6-4 10:0:05", "params": {"TextReason": "my secret reason"}}]'}
    school(root, "2025", "2031001-mz1", USERS, FIRST_VISITS, tools=tools,
           progress={"2031001-mz1-sound-20180604-18h30m.csv": PROGRESS})
    # A page of the activity player reached through the child's own group (named after the child).
    own_group = bench("red-fox-mz1", f"/red-fox-mz1/course/activity_player/{LESSON}/{ACT}/",
                      FIRST_VISITS[0]["last_update"], "activity_player_detail", "s5")
    school(root, "2026", "2031001-mz1", USERS, [*FIRST_VISITS, *LATER_VISITS, own_group], tools=tools)
    school(root, "2026", "2031002-mz2", [(2, "blue-owl-mz2", "\\N", "2018-05-01 09:00:00+05:30")],
           [bench("blue-owl-mz2", "/x/course/activity_player/a/b/", FIRST_VISITS[0]["last_update"],
                  "activity_player_detail", "sess-7f3a9c")],
           progress={"2031002-mz2-sound-20180604-18h30m.csv": PROGRESS_HEADER + "broken,row\r\n"})
    return root


def key_file(tmp_path: Path, name: str = "release.key", data: bytes | None = None) -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(32) if data is None else data)
    path.chmod(0o600)
    return path


def quiet(_: str) -> None:
    pass


def test_a_release_without_a_good_key_is_refused_with_how_to_make_one(archive, tmp_path):
    with pytest.raises(ReleaseError, match=r"head -c 32 /dev/urandom"):
        release(str(archive), None, log=quiet)
    with pytest.raises(ReleaseError, match=r"holds 31 bytes, fewer than 32.*head -c 32 /dev/urandom"):
        release(str(archive), str(key_file(tmp_path, "short.key", b"k" * 31)), log=quiet)
    with pytest.raises(ReleaseError, match="inside the archive"):
        release(str(archive), str(key_file(archive, "in-archive.key")), log=quiet)
    readable = key_file(tmp_path, "readable.key")
    readable.chmod(0o644)
    with pytest.raises(ReleaseError, match="chmod 600"):
        release(str(archive), str(readable), log=quiet)
    (tmp_path / "link.key").symlink_to(key_file(tmp_path))
    with pytest.raises(ReleaseError, match="not a link"):
        release(str(archive), str(tmp_path / "link.key"), log=quiet)
    assert not (archive / "release").exists()
    # The command line says the same and exits 2.
    proc = subprocess.run([sys.executable, "-m", "clix_dataset", "release", str(archive)], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "head -c 32 /dev/urandom" in proc.stderr


def test_the_release_holds_no_direct_identifier_or_free_text(archive, tmp_path):
    release(str(archive), str(key_file(tmp_path)), log=quiet)
    out = archive / "release"
    restricted = dataset_values(archive / "dataset")
    assert all(secret in restricted for secret in SECRETS)  # they were there to be removed
    values = dataset_values(out)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"clix.duckdb", "CODEBOOK.md", "data.parquet"}
    for secret in SECRETS:
        assert secret not in values, secret
        for path in files:
            assert secret.encode() not in path.read_bytes(), (secret, path)
    con = duckdb.connect(str(out / "clix.duckdb"), read_only=True)
    try:
        for table in TABLES:
            assert [r[0] for r in con.execute(f"DESCRIBE {table.name}").fetchall()] == \
                [c.name for c in table.released()], table.name
            assert con.execute(f"SELECT count(*) FROM {table.name}").fetchone() == \
                duckdb.connect(str(archive / "dataset" / "clix.duckdb"), read_only=True).execute(
                    f"SELECT count(*) FROM {table.name}").fetchone(), table.name
        # Schools stay named; the views work on the release as on the restricted tier.
        assert con.execute("SELECT count(*) FROM student_visits").fetchone() == (4,)
        assert con.execute("SELECT value FROM dataset_info WHERE name = 'tier'").fetchone() == ("release",)
    finally:
        con.close()
    assert os.stat(out).st_mode & 0o077 == 0 and all(p.stat().st_mode & 0o077 == 0 for p in files)


def pseudonyms(folder: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(folder / "clix.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_child_has_one_pseudonym_across_years_and_another_under_another_key(archive, tmp_path):
    release(str(archive), str(key_file(tmp_path, "a.key", b"a" * 32)), log=quiet)
    sql = ("SELECT collection, user_key FROM users_history WHERE server_id = 'mz1' AND year IN (2025, 2026) "
           "AND date_joined = TIMESTAMPTZ '2018-05-01 09:00:00+05:30' AND NOT never_logged_in ORDER BY collection")
    rows = pseudonyms(archive / "release", sql)
    assert [c for c, _ in rows] == ["2025/mz/2031001-mz1", "2026/mz/2031001-mz1"]
    assert rows[0][1] == rows[1][1]
    pseudonym = rows[0][1]
    # The visits of both years carry the same pseudonym; nothing of the restricted key is left.
    visits = pseudonyms(archive / "release", "SELECT DISTINCT year, user_key FROM activity_visits_history "
                        "WHERE server_id = 'mz1' ORDER BY year")
    assert visits == [(2025, pseudonym), (2026, pseudonym)]
    restricted = {k for (k,) in pseudonyms(archive / "dataset", "SELECT user_key FROM users_history")}
    assert pseudonym not in restricted
    release(str(archive), str(key_file(tmp_path, "b.key", b"b" * 32)), str(tmp_path / "other"), log=quiet)
    other = pseudonyms(tmp_path / "other", sql)
    assert other[0][1] == other[1][1] != pseudonym


def test_pseudonymised_columns_join_as_in_the_restricted_tier(archive, tmp_path):
    release(str(archive), str(key_file(tmp_path)), log=quiet)
    for table in TABLES:
        for column in (c.name for c in table.columns if c.privacy == PSEUDONYMISED):
            sql = f"SELECT count(DISTINCT {column}), count({column}) FROM {table.history}"
            assert pseudonyms(archive / "release", sql) == pseudonyms(archive / "dataset", sql), (table.name, column)


def test_a_second_release_writes_only_what_changed(archive, tmp_path):
    key = str(key_file(tmp_path))
    assert release(str(archive), key, log=quiet)["partitions_written"] == 2
    files = {p: p.stat().st_mtime_ns for p in (archive / "release").rglob("*.parquet")}
    assert release(str(archive), key, log=quiet)["partitions_written"] == 0
    assert {p: p.stat().st_mtime_ns for p in files} == files
    school(archive, "2025", "2031003-mz3", [(2, "pink-cat-mz3", "\\N", "2018-05-01 09:00:00+05:30")], [])
    assert release(str(archive), key, log=quiet)["partitions_written"] == 1
    assert {p: t for p, t in files.items() if "year=2026" in str(p)} == \
        {p: p.stat().st_mtime_ns for p in files if "year=2026" in str(p)}
