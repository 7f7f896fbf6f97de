"""clix_dataset on a small archive made here, against expectations computed by hand: a user id on
two servers, a shared account, a school collected in two years, a tool record without times, and
records that cannot be read."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
from pathlib import Path

import bson
import duckdb
import pytest
from bson import ObjectId

from clix_dataset.build import build
from clix_dataset.extract import SchoolReader
from clix_dataset.tables import PRIVACY_MEANING, TABLES

T0 = dt.datetime(2018, 6, 4, 10, 0, 0)  # IST wall clock, stored by gStudio as if UTC
GST, UNIT, LESSON, ACT, MODULE = (ObjectId(f"{i:024x}") for i in range(1, 6))
PLAYER = f"/{UNIT}/course/activity_player/{LESSON}/{ACT}/"
COPY = ("COPY public.auth_user (id, password, last_login, is_superuser, username, first_name, last_name, email, "
        "is_staff, is_active, date_joined) FROM stdin;\n")


def bench(user: str, url: str, when: dt.datetime, name: str, session: str = "s1") -> dict:
    return {"_id": ObjectId(), "calling_url": url, "last_update": when, "user": user, "session_key": session,
            "name": name, "locale": "en"}


def write_bson(path: Path, docs: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(bson.encode(d) for d in docs))


def school(root: Path, year: str, folder: str, users: list[tuple], benches: list[dict],
           tools: dict[str, str] | None = None, progress: dict[str, str] | None = None) -> Path:
    code, sid = folder.split("-")
    top = root / year / "mz" / folder
    g = top / "gstudio"
    (g / "postgres-dump").mkdir(parents=True)
    rows = "".join(f"{uid}\tx\t{last}\tf\t{name}\t\t\t\tf\tt\t{joined}\n" for uid, name, last, joined in users)
    (g / "postgres-dump" / "pg_dump_all.sql").write_text(f"-- dump\n{COPY}{rows}\\.\n")
    (g / "server_settings.py").write_text(f"GSTUDIO_INSTITUTE_ID = '{sid}'\nGSTUDIO_INSTITUTE_ID_SECONDARY = "
                                          f"'{code}'\nGSTUDIO_INSTITUTE_NAME = 'School {sid}'\n")
    db = g / "db" / "gstudio-mongodb"
    write_bson(db / "Nodes.bson", [
        {"_id": GST, "_type": "GSystemType", "name": "announced_unit"},
        {"_id": MODULE, "_type": "GSystemType", "name": "Module"},
        {"_id": UNIT, "_type": "Group", "name": "Sound", "altnames": "Sound Unit", "member_of": [GST],
         "collection_set": [LESSON]},
        {"_id": LESSON, "_type": "GSystem", "name": "Lesson 1", "collection_set": [ACT]},
        {"_id": ACT, "_type": "GSystem", "name": "Activity 1", "altnames": ""},
        {"_id": ObjectId(), "_type": "GSystem", "name": "Science", "member_of": [MODULE], "collection_set": [UNIT]},
    ])
    write_bson(db / "Benchmarks.bson", benches)
    for rel, text in (tools or {}).items():
        (g / "gstudio_tools_logs" / rel).parent.mkdir(parents=True, exist_ok=True)
        (g / "gstudio_tools_logs" / rel).write_text(text)
    for name, text in (progress or {}).items():
        (g / "gstudio-exported-users-analytics-csvs").mkdir(parents=True, exist_ok=True)
        (g / "gstudio-exported-users-analytics-csvs" / name).write_text(text)
    manifest = {"school": {"server_id": sid, "school_code": code, "school_name": f"School {sid}", "state": "mz"},
                "run": {"ended": f"{year}-11-01T10:00:00"}, "last_complete": f"{year}-11-01T10:00:00",
                "items": {"db": {"status": "ok"}}, "totals": {"files": 1, "bytes": 1}}
    (top / "MANIFEST.json").write_text(json.dumps(manifest))
    return top


MZ1_USERS = [(1, "administrator", "2018-05-01 09:00:00+05:30", "2018-05-01 09:00:00+05:30"),
             (2, "red-fox-mz1", "2018-06-04 09:55:00+05:30", "2018-05-01 09:00:00+05:30")]
FIRST_VISITS = [bench("red-fox-mz1", PLAYER, T0, "activity_player_detail"),
                bench("red-fox-mz1", "/home/my-desk/", T0 + dt.timedelta(seconds=150), "my_desk")]
LATER_VISITS = [bench("red-fox-mz1", PLAYER, T0 + dt.timedelta(days=1), "activity_player_detail", "s2"),
                bench("red-fox-mz1", f"/{UNIT}/course/content/", T0 + dt.timedelta(days=1, seconds=60),
                      "course_content", "s2")]
PROGRESS_HEADER = "server_id,school_name,school_code,module_name,unit_name,username,user_id,activities_visited," \
                  f"Activity 1 [{ACT}]\r\n"


@pytest.fixture()
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    school(root, "2025", "2031001-mz1", MZ1_USERS, FIRST_VISITS)
    # Collected again a year later: the same users and the first visit again, one visit more.
    school(root, "2026", "2031001-mz1", MZ1_USERS, FIRST_VISITS + LATER_VISITS)
    progress = PROGRESS_HEADER + "mz2,School mz2,2031002,\"[u'Science', u'Sound']\",sound,blue-owl-mz2,2,1,3\r\n" \
        + "mz2,School mz2,2031002,[],sound,too-short\r\n"
    school(root, "2026", "2031002-mz2",
           [(2, "blue-owl-mz2", "2018-06-04 09:55:00+05:30", "2018-05-01 09:00:00+05:30"),
            (3, "green-apple-sp100", "\\N", "2018-05-01 09:00:00+05:30")],
           [bench("blue-owl-mz2", PLAYER, T0, "activity_player_detail"),
            bench("green-apple-sp100", PLAYER, T0 + dt.timedelta(minutes=5), "activity_player_detail", "s9"),
            bench("ghost-mz2", PLAYER, T0 + dt.timedelta(minutes=9), "activity_player_detail", "s7")],
           tools={"coins-puzzle/2-coins-puzzle.json": json.dumps([
                      {"appName": "coins-puzzle", "event_type": "start"},
                      {"appName": "coins-puzzle", "created_at": "2018-6-4 10:0:05", "event_type": "click"}]),
                  "coins-puzzle/3-coins-puzzle.json": "[{\"appName\": \"coins-puzzle\", "},
           progress={"2031002-mz2-sound-20180604-18h30m.csv": progress})
    return root


def query(root: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(root / "dataset" / "clix.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def parquet_files(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in (root / "dataset").rglob("*.parquet")}


def test_users_are_keyed_by_account_and_flags_are_set(archive):
    build(str(archive), log=lambda _: None)
    users = query(archive, "SELECT server_id, user_id, username, never_logged_in, shared_account, "
                  "username_matches_server, collection FROM users ORDER BY server_id, user_id")
    assert users == [
        ("mz1", 1, "administrator", True, False, False, "2026/mz/2031001-mz1"),
        ("mz1", 2, "red-fox-mz1", False, False, True, "2026/mz/2031001-mz1"),
        ("mz2", 2, "blue-owl-mz2", False, False, True, "2026/mz/2031002-mz2"),
        ("mz2", 3, "green-apple-sp100", True, True, False, "2026/mz/2031002-mz2"),
    ]
    # User id 2 exists on both servers: joined on user_key, each visit finds its own user.
    joined = query(archive, "SELECT v.server_id, u.username FROM activity_visits v JOIN users u "
                   "USING (user_key) WHERE v.user_id = 2 ORDER BY v.started_at, v.server_id")
    assert joined == [("mz1", "red-fox-mz1"), ("mz2", "blue-owl-mz2"), ("mz1", "red-fox-mz1")]
    assert query(archive, "SELECT username FROM student_visits WHERE shared_account") == [("green-apple-sp100",)]
    # Benchmarks of a username without an auth_user row are kept, with no user id and a key of their own.
    assert query(archive, "SELECT user_id, user_key IS NOT NULL FROM activity_visits WHERE username = 'ghost-mz2'") \
        == [(None, True)]


def test_every_collection_keeps_its_rows_and_the_views_give_the_latest(archive):
    build(str(archive), log=lambda _: None)
    history = query(archive, "SELECT collection, strftime(started_at AT TIME ZONE 'Asia/Kolkata', '%Y-%m-%d %H:%M') "
                    "FROM activity_visits_history WHERE server_id = 'mz1' ORDER BY started_at, collection")
    assert history == [("2025/mz/2031001-mz1", "2018-06-04 10:00"), ("2026/mz/2031001-mz1", "2018-06-04 10:00"),
                       ("2026/mz/2031001-mz1", "2018-06-05 10:00")]
    visits = query(archive, "SELECT year, collection, unit_name, lesson_name, activity_name, "
                   "strftime(started_at AT TIME ZONE 'Asia/Kolkata', '%Y-%m-%d %H:%M:%S'), seconds, out_action "
                   "FROM activity_visits WHERE server_id = 'mz1' ORDER BY started_at")
    assert visits == [
        (2026, "2026/mz/2031001-mz1", "Sound Unit", "Lesson 1", "Activity 1", "2018-06-04 10:00:00", 150.0, "my_desk"),
        (2026, "2026/mz/2031001-mz1", "Sound Unit", "Lesson 1", "Activity 1", "2018-06-05 10:00:00", 60.0,
         "course_content"),
    ]
    assert query(archive, "SELECT count(*), count(DISTINCT record_key) FROM users_history WHERE server_id = 'mz1'") \
        == [(4, 2)]
    assert query(archive, "SELECT collection, district FROM schools WHERE server_id = 'mz1'") == [
        ("2026/mz/2031001-mz1", "03")]
    assert query(archive, "SELECT year, count(*) FROM collections GROUP BY year ORDER BY year") == [(2025, 1), (2026, 2)]
    assert query(archive, "SELECT module_names FROM units WHERE server_id = 'mz2'") == [(["Science"],)]


def test_record_keys_are_unique_across_schools(tmp_path):
    """Two servers with the very same users, visits and files: every record twice, never merged."""
    for folder in ("2031001-mz1", "2031002-mz2"):
        school(tmp_path, "2026", folder, MZ1_USERS, FIRST_VISITS,
               tools={"coins-puzzle/2-coins-puzzle.json": json.dumps([{"created_at": "2018-6-4 10:0:05"}])})
    build(str(tmp_path), log=lambda _: None)
    for table in ("users", "activity_visits", "tool_events", "units", "server_days"):
        assert query(tmp_path, f"SELECT count(DISTINCT server_id), count(*), count(DISTINCT record_key) "
                               f"FROM {table}") == [(2, *[query(tmp_path, f"SELECT count(*) FROM {table}")[0][0]] * 2)]
        assert query(tmp_path, f"SELECT count(*) % 2 FROM {table}") == [(0,)], table


REINSTALL_2025 = [(1, "administrator", "2018-05-01 09:00:00+05:30", "2018-05-01 09:00:00+05:30"),
                  (2, "blue-owl-mz2", "2018-06-04 09:55:00+05:30", "2018-05-01 09:00:00+05:30")]
# The server was reinstalled: user id 2 is now another child's account, and the old username is
# given to a third child.
REINSTALL_2026 = [(1, "administrator", "2026-01-10 09:00:00+05:30", "2026-01-10 09:00:00+05:30"),
                  (2, "pink-cat-mz2", "2026-01-12 10:00:00+05:30", "2026-01-10 09:00:00+05:30"),
                  (3, "blue-owl-mz2", "2026-01-12 10:00:00+05:30", "2026-01-11 09:00:00+05:30")]


def test_a_recollection_shows_the_latest_truth_and_no_join_fans_out(tmp_path):
    """mz1 collected in 2025 and again in 2026: red-fox logged in again, and the visit that was still
    open in 2025 (no out-event yet) has its out-event. mz2 was reinstalled in between: user id 2
    belongs to another child in 2026."""
    open_visit = bench("red-fox-mz1", PLAYER, T0 + dt.timedelta(days=2), "activity_player_detail", "s3")
    out_later = bench("red-fox-mz1", "/home/my-desk/", T0 + dt.timedelta(days=2, seconds=95), "my_desk", "s3")
    school(tmp_path, "2025", "2031001-mz1", MZ1_USERS, [*FIRST_VISITS, open_visit])
    later_login = [MZ1_USERS[0], (2, "red-fox-mz1", "2019-01-07 11:00:00+05:30", "2018-05-01 09:00:00+05:30")]
    school(tmp_path, "2026", "2031001-mz1", later_login, [*FIRST_VISITS, open_visit, out_later])
    school(tmp_path, "2025", "2031002-mz2", REINSTALL_2025,
           [bench("blue-owl-mz2", PLAYER, T0, "activity_player_detail"),
            bench("blue-owl-mz2", "/home/my-desk/", T0 + dt.timedelta(seconds=30), "my_desk")])
    school(tmp_path, "2026", "2031002-mz2", REINSTALL_2026,
           [bench("pink-cat-mz2", PLAYER, T0 + dt.timedelta(days=600), "activity_player_detail", "p1"),
            bench("pink-cat-mz2", "/home/my-desk/", T0 + dt.timedelta(days=600, seconds=40), "my_desk", "p1"),
            bench("blue-owl-mz2", PLAYER, T0 + dt.timedelta(days=601), "activity_player_detail", "p2")])
    build(str(tmp_path), log=lambda _: None)
    assert query(tmp_path, "SELECT strftime(last_login AT TIME ZONE 'Asia/Kolkata', '%Y-%m-%d %H:%M'), "
                 "never_logged_in FROM users WHERE username = 'red-fox-mz1'") == [("2019-01-07 11:00", False)]
    assert query(tmp_path, "SELECT seconds, out_action, collection FROM activity_visits WHERE session_key = 's3'") \
        == [(95.0, "my_desk", "2026/mz/2031001-mz1")]
    assert query(tmp_path, "SELECT ended_at IS NULL FROM activity_visits_history WHERE session_key = 's3' "
                 "ORDER BY collection") == [(True,), (False,)]
    # Both children with user id 2 of mz2 are there, and both children called blue-owl, each with
    # their own key and visits.
    assert query(tmp_path, "SELECT username, user_id, collection FROM users WHERE server_id = 'mz2' AND user_id > 1 "
                 "ORDER BY collection, user_id") == [("blue-owl-mz2", 2, "2025/mz/2031002-mz2"),
                                                     ("pink-cat-mz2", 2, "2026/mz/2031002-mz2"),
                                                     ("blue-owl-mz2", 3, "2026/mz/2031002-mz2")]
    assert query(tmp_path, "SELECT v.collection, u.user_id, strftime(u.date_joined AT TIME ZONE 'Asia/Kolkata', "
                 "'%Y') FROM activity_visits v JOIN users u USING (user_key) WHERE v.username = 'blue-owl-mz2' "
                 "ORDER BY v.started_at") == [("2025/mz/2031002-mz2", 2, "2018"), ("2026/mz/2031002-mz2", 3, "2026")]
    visits = query(tmp_path, "SELECT count(*) FROM activity_visits")[0][0]
    assert visits == 5
    joined = query(tmp_path, "SELECT count(*), count(*) FILTER (WHERE v.username = u.username) FROM activity_visits v "
                   "JOIN users u USING (user_key)")
    assert joined == [(visits, visits)]
    assert query(tmp_path, "SELECT count(*) FROM student_visits") == [(visits,)]
    # The join on (server_id, user_id) would have matched each mz2 visit of user id 2 with both children.
    assert query(tmp_path, "SELECT count(*) FROM activity_visits v JOIN users u USING (server_id, user_id)")[0][0] \
        == visits + 2


def test_tool_records_without_times_are_flagged_and_unreadable_records_are_rejected(archive):
    build(str(archive), log=lambda _: None)
    tools = query(archive, "SELECT user_id, record_index, missing_time, impossible_time, "
                  "strftime(event_at AT TIME ZONE 'Asia/Kolkata', '%Y-%m-%d %H:%M:%S'), raw->>'event_type' "
                  "FROM tool_events ORDER BY record_index")
    assert tools == [(2, 0, True, False, None, "start"), (2, 1, False, False, "2018-06-04 10:00:05", "click")]
    rejects = query(archive, "SELECT table_name, source_file, position, reason FROM rejects ORDER BY table_name")
    assert [(t, f, p) for t, f, p, _ in rejects] == [
        ("progress", "2026/mz/2031002-mz2/gstudio/gstudio-exported-users-analytics-csvs/"
                     "2031002-mz2-sound-20180604-18h30m.csv", "line 3"),
        ("tool_events", "2026/mz/2031002-mz2/gstudio/gstudio_tools_logs/coins-puzzle/3-coins-puzzle.json", ""),
    ]
    assert rejects[0][3] == "6 cells under 9 headers" and rejects[1][3].startswith("not JSON")
    progress = query(archive, "SELECT user_id, module_names, activities_visited, activity_counts, "
                     "strftime(snapshot_at AT TIME ZONE 'Asia/Kolkata', '%Y-%m-%d %H:%M') FROM progress")
    assert progress == [(2, ["Science", "Sound"], 1, [{"activity": "Activity 1", "activity_id": str(ACT),
                                                       "visits": 3}], "2018-06-04 18:30")]


def test_a_rerun_rewrites_only_the_partition_that_changed(archive, tmp_path):
    first = build(str(archive), log=lambda _: None)
    assert len(first["rebuilt"]) == 3
    # One file per table and partition (year, state), whatever the number of schools.
    files = parquet_files(archive)
    assert all(re.fullmatch(r"dataset/\w+_history/year=\d{4}/state=mz/data\.parquet|dataset/build_status/data\.parquet",
                            f) for f in files), files
    before = parquet_files(archive)
    assert build(str(archive), log=lambda _: None)["rebuilt"] == [] and parquet_files(archive) == before
    school(archive, "2026", "2031003-mz3", [(2, "pink-cat-mz3", "\\N", "2018-05-01 09:00:00+05:30")], [])
    lines: list[str] = []
    second = build(str(archive), log=lines.append)
    assert second["rebuilt"] == ["2026/mz/2031003-mz3"]
    after = parquet_files(archive)
    old_partition = {k: v for k, v in before.items() if "/year=2025/" in k}
    assert {k: v for k, v in after.items() if k in old_partition} == old_partition
    assert [line.split(": ")[1] for line in lines if "] 2" in line].count("unchanged") == 3
    assert second["counts"]["users"] == first["counts"]["users"] + 1
    # A school folder taken out of the archive takes its rows out of the dataset.
    shutil.rmtree(archive / "2026" / "mz" / "2031003-mz3")
    assert build(str(archive), log=lambda _: None)["rebuilt"] == []
    assert query(archive, "SELECT count(*) FROM users WHERE server_id = 'mz3'") == [(0,)]
    assert set(parquet_files(archive)) == set(before)


def test_the_dataset_folder_works_wherever_it_is_copied_and_reads_no_other_copy(archive, tmp_path):
    build(str(archive), log=lambda _: None)
    copy = tmp_path / "elsewhere" / "dataset"
    shutil.copytree(archive / "dataset", copy)
    # The original goes away: the copy answers from itself alone.
    (archive / "dataset").rename(archive / "dataset.moved")
    con = duckdb.connect(str(copy / "clix.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM activity_visits").fetchone() == (5,)
        assert con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal AND sql ILIKE '%read_%'"
                           ).fetchone() == (0,)
    finally:
        con.close()


def test_build_status_reports_failed_quarantined_and_history_folders(archive, monkeypatch):
    quarantined = archive / "quarantine" / "2026" / "mz" / "2031004-mz4"
    quarantined.mkdir(parents=True)
    kept = archive / "2026" / "mz" / "2031001-mz1" / "history" / "20260101T100000Z" / "gstudio"
    kept.mkdir(parents=True)
    (kept / "x.json").write_text("[]")
    build(str(archive), log=lambda _: None)
    # mz2 changes, and cannot be read this time: it keeps the rows of its last good build, says why,
    # and is read again by the next run.
    manifest = archive / "2026" / "mz" / "2031002-mz2" / "MANIFEST.json"
    manifest.write_text(manifest.read_text().replace("10:00:00", "12:00:00"))
    read = SchoolReader.read

    def broken(self):
        if self.path.endswith("mz2"):
            raise OSError("disk error")
        read(self)
    monkeypatch.setattr(SchoolReader, "read", broken)
    result = build(str(archive), log=lambda _: None)
    assert result["failed"] == [{"collection": "2026/mz/2031002-mz2", "error": "disk error"}]
    status = {c: (s, r) for c, s, r in query(archive, "SELECT collection, status, reason FROM build_status")}
    assert status["2026/mz/2031002-mz2"] == ("failed", "OSError: disk error")
    assert status["2025/mz/2031001-mz1"] == ("built", None)
    assert status["quarantine/2026/mz/2031004-mz4"][0] == "left out"
    assert status["2026/mz/2031001-mz1/history/20260101T100000Z"][0] == "left out"
    assert "1 older versions" in status["2026/mz/2031001-mz1/history/20260101T100000Z"][1]
    assert query(archive, "SELECT count(*) FROM users WHERE server_id = 'mz2'") == [(2,)]
    monkeypatch.setattr(SchoolReader, "read", read)
    assert build(str(archive), log=lambda _: None)["rebuilt"] == ["2026/mz/2031002-mz2"]
    assert query(archive, "SELECT status FROM build_status WHERE collection = '2026/mz/2031002-mz2'") == [("built",)]


def test_server_days_come_from_the_server_s_own_evidence_in_ist(tmp_path):
    top = school(tmp_path, "2026", "2031001-mz1", MZ1_USERS,
                 [bench("red-fox-mz1", PLAYER, dt.datetime(2018, 6, 4, 23, 50), "activity_player_detail")],
                 progress={"2031001-mz1-sound-20180605-01h05m.csv": PROGRESS_HEADER})
    beats = top / "gstudio" / "system-heartbeat"
    beats.mkdir()
    (beats / "system-heartbeat-20180606-000101.log").write_text("clixserver\n")  # the server's own, IST
    # The collector's own heartbeat: a UTC stamp with a JSON twin, written when it visited.
    (beats / "system-heartbeat-20261101-043000.log").write_text("Captured at: 2026-11-01T04:30:00+00:00\n")
    (beats / "system-heartbeat-20261101-043000.json").write_text('{"captured_at": "2026-11-01T04:30:00+00:00"}')
    # The export the collector had gStudio write during its run (10:00 IST, in the run of 04:25-04:40 UTC).
    (top / "gstudio" / "gstudio-exported-users-analytics-csvs" / "2031001-mz1-sound-20261101-10h00m.csv").write_text(
        PROGRESS_HEADER)
    manifest = json.loads((top / "MANIFEST.json").read_text())
    manifest["run"] = {"started": "2026-11-01T04:25:00+00:00", "ended": "2026-11-01T04:40:00+00:00"}
    (top / "MANIFEST.json").write_text(json.dumps(manifest))
    build(str(tmp_path), log=lambda _: None)
    assert query(tmp_path, "SELECT strftime(day, '%Y-%m-%d'), source, events, users FROM server_days ORDER BY day") == [
        ("2018-06-04", "benchmarks", 1, 1), ("2018-06-05", "export", 1, 0), ("2018-06-06", "heartbeat", 1, 0)]


def test_a_recomputation_run_again_adds_no_rows(archive):
    derived = archive / "derived" / "2026" / "mz" / "2031002-mz2" / "gstudio-exported-users-analytics-csvs"
    derived.mkdir(parents=True)
    rows = PROGRESS_HEADER + "mz2,School mz2,2031002,[],sound,blue-owl-mz2,2,1,3\r\n"
    for run in ("20261101-10h00m", "20261102-10h00m", "20261103-10h00m"):  # derive.yml run three times
        (derived / f"2031002-mz2-sound-{run}.csv").write_text(rows)
        build(str(archive), log=lambda _: None)
        assert query(archive, "SELECT count(*) FROM progress WHERE origin = 'derived'") == [(1,)]
    assert query(archive, "SELECT source_name FROM progress WHERE origin = 'derived'") == [
        ("2031002-mz2-sound-20261103-10h00m.csv",)]


def test_the_codebook_documents_every_table_view_and_column_with_its_privacy_class(archive):
    build(str(archive), log=lambda _: None)
    book = (archive / "dataset" / "CODEBOOK.md").read_text()
    assert "SET TimeZone = 'Asia/Kolkata';" in book
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", book, re.M | re.S))
    con = duckdb.connect(str(archive / "dataset" / "clix.duckdb"), read_only=True)
    try:
        objects = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() UNION "
                                             "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        undocumented = {o for o in objects if o not in sections and o.removesuffix("_history") not in sections}
        assert undocumented == {"dataset_info"}
        for table in TABLES:
            columns = [r[0] for r in con.execute(f"DESCRIBE {table.name}").fetchall()]
            documented = re.findall(r"^\| `(\w+)`", sections[table.name], re.M)
            assert documented == columns, table.name
            for line in sections[table.name].splitlines():
                if line.startswith("| `"):
                    cells = [c.strip() for c in line.split("|")[1:-1]]
                    assert all(cells[:3]) and cells[5] in PRIVACY_MEANING and cells[6], line
    finally:
        con.close()


def test_the_dataset_is_private(archive):
    old = os.umask(0o022)  # a permissive umask: the files are private all the same
    try:
        build(str(archive), log=lambda _: None)
    finally:
        os.umask(old)
    assert all(p.stat().st_mode & 0o077 == 0 for p in (archive / "dataset").rglob("*.parquet"))


def readme_query(name: str) -> str:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    return re.search(rf"<!-- query: {name} -->\n```sql\n(.*?)```", text, re.S).group(1)


def test_the_readme_queries_answer_the_research_questions(archive):
    g = archive / "2026" / "mz" / "2031002-mz2" / "gstudio"
    (g / "gstudio-exported-users-analytics-csvs" / "2031002-mz2-sound-20180605-18h30m.csv").write_text(
        PROGRESS_HEADER + "mz2,School mz2,2031002,[],sound,blue-owl-mz2,2,2,4\r\n")
    (g / "gstudio_tools_logs" / "policesquad").mkdir()
    (g / "gstudio_tools_logs" / "policesquad" / "2-policesquad.json").write_text(json.dumps(
        [{"appName": "policesquad", "created_at": t} for t in
         ("2018-6-4 10:0:00", "2018-6-4 10:5:00", "2018-6-5 9:0:00", "2018-6-5 9:1:00")]))
    build(str(archive), log=lambda _: None)
    name = dict(query(archive, "SELECT user_key, username FROM users"))
    # mz1: red-fox on 4 and 5 June; mz2: blue-owl on 4 June (the shared sp100 account and ghost-mz2,
    # who has no auth_user row, are left out).
    assert query(archive, readme_query("lab-usage")) == [
        ("mz", "mz1", "2031001", "2018-06", 2, 1.0), ("mz", "mz2", "2031002", "2018-06", 1, 1.0)]
    assert [(*r[:3], name[r[3]], *r[4:]) for r in query(archive, readme_query("max-activities"))] == [
        ("mz", "mz2", "2031002", "blue-owl-mz2", "sound", 2)]
    # coins-puzzle: one timed event (0 s); policesquad: 5 min on 4 June + 1 min on 5 June.
    assert [(*r[:3], name[r[3]], *r[4:]) for r in query(archive, readme_query("tool-time"))] == [
        ("mz", "mz2", "2031002", "blue-owl-mz2", "coins-puzzle", 1, 0),
        ("mz", "mz2", "2031002", "blue-owl-mz2", "policesquad", 2, 360)]


def test_a_progress_csv_collected_and_recomputed_alike_gives_each_row_once(archive):
    name = "2031002-mz2-sound-20180604-18h30m.csv"
    collected = archive / "2026" / "mz" / "2031002-mz2" / "gstudio" / "gstudio-exported-users-analytics-csvs" / name
    derived = archive / "derived" / "2026" / "mz" / "2031002-mz2" / "gstudio-exported-users-analytics-csvs" / name
    derived.parent.mkdir(parents=True)
    derived.write_bytes(collected.read_bytes())
    other = derived.with_name(name.replace("18h30m", "19h30m"))
    other.write_bytes(collected.read_bytes())
    build(str(archive), log=lambda _: None)
    assert query(archive, "SELECT origin, source_name FROM progress ORDER BY source_name") == [
        ("collected", name), ("derived", other.name)]


def test_a_broken_dump_is_a_reject_and_the_school_keeps_its_other_tables(archive):
    benchmarks = archive / "2026" / "mz" / "2031002-mz2" / "gstudio" / "db" / "gstudio-mongodb" / "Benchmarks.bson"
    benchmarks.write_bytes(benchmarks.read_bytes()[:-7])
    result = build(str(archive), log=lambda _: None)
    assert result["failed"] == []
    reasons = query(archive, "SELECT table_name, reason FROM rejects WHERE table_name <> 'progress' "
                    "AND source_file LIKE '%/db/%' ORDER BY ALL")
    assert [t for t, _ in reasons] == ["activity_visits", "server_days"]
    assert query(archive, "SELECT count(*) FROM activity_visits WHERE server_id = 'mz2'") == [(0,)]
    assert query(archive, "SELECT count(*) FROM users WHERE server_id = 'mz2'") == [(2,)]


def test_dumps_linked_outside_the_school_are_rejects_never_read(archive, tmp_path):
    """A school server chooses what its tree holds: a dump that is a link (here to a file of the
    control node's) is refused, never followed."""
    gstudio = archive / "2026" / "mz" / "2031002-mz2" / "gstudio"
    for rel in ("postgres-dump/pg_dump_all.sql", "db/gstudio-mongodb/Benchmarks.bson"):
        outside = tmp_path / rel.replace("/", "-")
        outside.write_bytes((gstudio / rel).read_bytes().replace(b"blue-owl-mz2", b"leaked-mz2"))
        (gstudio / rel).unlink()
        (gstudio / rel).symlink_to(outside)
    build(str(archive), log=lambda _: None)
    assert query(archive, "SELECT count(*) FROM users WHERE server_id = 'mz2'") == [(0,)]
    rejected = {f.rsplit("/", 1)[1] for (f,) in query(archive, "SELECT source_file FROM rejects "
                                                                "WHERE reason LIKE '%symbolic link: not followed%'")}
    assert {"pg_dump_all.sql", "Benchmarks.bson"} <= rejected


def test_a_fifo_in_the_archive_is_a_reject_never_a_hang(archive):
    """The archive holds what school servers sent: a FIFO at a tool log's or a progress CSV's name is
    refused without being opened for reading (which would wait for a writer for ever)."""
    gstudio = archive / "2026" / "mz" / "2031002-mz2" / "gstudio"
    os.mkfifo(gstudio / "gstudio_tools_logs" / "coins-puzzle" / "4-coins-puzzle.json")
    os.mkfifo(gstudio / "gstudio-exported-users-analytics-csvs" / "2031002-mz2-sound-20180605-18h30m.csv")
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("the dataset build blocked on a FIFO"))
    signal.alarm(60)
    try:
        build(str(archive), log=lambda _: None)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    rejected = {f.rsplit("/", 1)[1] for (f,) in query(archive, "SELECT source_file FROM rejects")}
    assert "4-coins-puzzle.json" in rejected


def test_the_conventions_follow_the_team_s_rules(archive):
    """progress_monthly keeps, per unit and month, the rows of the month's latest progress CSV (the
    team's filter_out_latest); the reference tables are the team's maps."""
    folder = archive / "2026" / "mz" / "2031002-mz2" / "gstudio" / "gstudio-exported-users-analytics-csvs"
    for stamp, visited in (("20180620-10h00m", 2), ("20180620-09h00m", 5), ("20180701-09h00m", 3)):
        (folder / f"2031002-mz2-sound-{stamp}.csv").write_text(
            PROGRESS_HEADER + f"mz2,School mz2,2031002,[],sound,blue-owl-mz2,2,{visited},3\r\n")
    build(str(archive), log=lambda _: None)
    assert query(archive, "SELECT month, source_name, activities_visited FROM progress_monthly ORDER BY month") == [
        ("2018-06", "2031002-mz2-sound-20180620-10h00m.csv", 2), ("2018-07", "2031002-mz2-sound-20180701-09h00m.csv", 3)]
    assert query(archive, "SELECT domain FROM ref_tool_domain WHERE tool_family IN ('ice', 'astroamer_moon_track') "
                 "ORDER BY tool_family") == [("Science",), ("Mathematics",)]
    assert query(archive, "SELECT count(*), count(DISTINCT domain) FROM ref_module_domain") == [(14, 3)]
    assert query(archive, "SELECT module_name FROM ref_tool_module WHERE tool_family = 'policesquad' ORDER BY 1") == [
        ("Geometric Reasoning Part I",), ("Geometric Reasoning Part II",)]
    assert query(archive, "SELECT unit_code FROM ref_unit_code WHERE unit_slug = 'sound'") == [("36",)]
