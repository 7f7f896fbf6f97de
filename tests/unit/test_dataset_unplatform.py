"""The research dataset's lab-PC tables, on the hand-made school of tests/unplatform_fixture.py:
the same sessions and visits as its hand-computed CSVs, and no gStudio reject for a school that has
lab PCs and no server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from unplatform_fixture import make_school

from clix_dataset.build import build


@pytest.fixture()
def dataset(tmp_path: Path):
    make_school(tmp_path, "2026")
    build(str(tmp_path), log=lambda _: None)
    con = duckdb.connect(str(tmp_path / "dataset" / "clix.duckdb"), read_only=True)
    con.execute("SET TimeZone = 'Asia/Kolkata'")
    yield con
    con.close()


def test_sessions_are_the_rows_of_sessions_csv_with_times_as_timestamps(dataset):
    rows = dataset.execute("SELECT pc, session_id, user_type, user_count, username, strftime(started_at, '%Y-%m-%d %H:%M:%S.%f'),"
                           " strftime(ended_at, '%H:%M:%S'), log_entries FROM unplatform_sessions"
                           " ORDER BY pc, started_at NULLS LAST, session_id").fetchall()
    assert rows == [
        ("pc01", "aaaa1111", "student", "3", "100, 120, and 97", "2018-07-09 10:00:00.250000", "10:20:00", 7),
        ("pc01", "bbbb2222", "student", "1", "सुनीता", "2018-07-09 23:30:00.000000", None, 2),
        ("pc01", "ffff6666", "student", "1", "सुनीता", "2018-07-10 09:30:00.000000", None, 1),
        ("pc01", "dddd4444", "teacher", "1", None, "2018-07-10 10:30:00.000000", "10:32:00", 2),
        ("pc01", "eeee5555", None, None, None, "2018-07-10 11:30:00.000000", None, 1),
        ("pc01", "cccc3333", None, None, None, None, None, 0),
        ("pc02", "hhhh8888", "student", "2", None, "2016-06-01 10:30:00.000000", None, 1),
        ("pc02", "gggg7777", "student", "2", "zoë, 42", "2018-08-01 08:30:00.000000", "08:36:00", 2)]


def test_visits_are_the_blobs_of_activity_data_csv_one_per_credited_user(dataset):
    rows = dataset.execute("SELECT username, strftime(visited_at, '%Y-%m-%d %H:%M:%S'), name, day FROM unplatform_visits"
                           " WHERE pc = 'pc01' ORDER BY username, visited_at").fetchall()
    intro, story = "class-9-eb / english-lesson-1 / introduction", "class-9-eb / english-lesson-1 / story-time"
    group = [("2018-07-09 10:02:00", intro), ("2018-07-09 10:05:00", story), ("2018-07-09 10:10:00", intro),
             ("2018-07-09 10:15:30", "Police Quad")]
    assert rows == [(user, t, name, dt.date(2018, 7, 9)) for user in ("100", "120", "97")
                    for t, name in group] + [
        ("dddd4444", "2018-07-10 10:31:00", "Turtle Blocks", dt.date(2018, 7, 10)),
        ("सुनीता", "2018-07-09 23:50:00", "class-8-maths / lesson-2 / activity-1", dt.date(2018, 7, 9)),
        ("सुनीता", "2018-07-10 00:10:00", "class-8-maths / lesson-2 / activity-2", dt.date(2018, 7, 10))]


def test_a_lab_only_school_has_its_lab_pc_rejects_and_no_gstudio_reject(dataset):
    # (the hand-made tree has no MANIFEST.json: that reject is the collections table's)
    rejects = dataset.execute("SELECT table_name, source_file, reason FROM rejects WHERE table_name <> 'collections'"
                              " ORDER BY source_file").fetchall()
    assert [(t, s.rsplit("/", 1)[1]) for t, s, _ in rejects] == [("unplatform_sessions", "e13.json"),
                                                                  ("unplatform_sessions", "e15.json")]
    assert "symbolic link" in rejects[1][2]
    assert dataset.execute("SELECT count(*) FROM schools").fetchone() == (1,)
