"""dataset.yml on an archive the fleet's mz schools were collected into: every table filled, and
its counts checked against the collected sources, read here independently of clix_dataset."""

from __future__ import annotations

import csv
import datetime
import json
import re
import subprocess
from pathlib import Path

import bson
import duckdb
import pytest
from conftest import run_playbook

YEAR = str(datetime.date.today().year)
SCHOOLS = ["2031001-mz1", "2031002-mz2", "2031003-mz3"]
STAMP = re.compile(r"-(\d{8}-\d{2}h\d{2}m)\.csv$")


def ok(proc: subprocess.CompletedProcess) -> str:
    return f"rc={proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def dataset(fleet, target_python, tmp_path_factory) -> Path:
    archive = tmp_path_factory.mktemp("dataset") / "clix"
    proc = run_playbook(fleet, "collect.yml", "-l", "mz", "-e", f"clix_archive_root={archive}")
    assert proc.returncode == 0, ok(proc)
    proc = run_playbook(fleet, "dataset.yml", "-e", f"clix_archive_root={archive}")
    assert proc.returncode == 0, ok(proc)
    return archive


def query(archive: Path, sql: str, *params) -> list[tuple]:
    con = duckdb.connect(str(archive / "dataset" / "clix.duckdb"), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def per_school(archive: Path, table: str) -> dict[str, int]:
    rows = query(archive, f"SELECT school_code || '-' || server_id, count(*) FROM {table} GROUP BY ALL")
    return dict(rows)


def gstudio(archive: Path, folder: str) -> Path:
    return archive / YEAR / "mz" / folder / "gstudio"


def bson_docs(path: Path) -> list[dict]:
    with open(path, "rb") as f:
        return list(bson.decode_file_iter(f))


def test_every_table_is_filled_and_nothing_was_rejected(dataset):
    counts = {t: query(dataset, f"SELECT count(*) FROM {t}")[0][0] for t in (
        "schools", "collections", "users", "units", "activity_visits", "progress", "tool_events",
        "assessment_responses", "qbank_log_entries", "server_days")}
    assert all(counts.values()), counts
    assert query(dataset, "SELECT count(*) FROM rejects") == [(0,)]
    assert query(dataset, "SELECT DISTINCT year, state FROM users") == [(int(YEAR), "mz")]
    assert (dataset / "dataset" / "CODEBOOK.md").is_file()


def test_visits_are_the_rows_of_the_activity_timestamp_csvs(dataset):
    """The container ran gStudio's (stand-in) activity_timestamp on the server; its newest CSVs hold
    exactly the visits of the dataset, visit for visit."""
    for folder in SCHOOLS:
        files = sorted((gstudio(dataset, folder) / "activity-timestamp-csvs").glob("*.csv"))
        newest = max(STAMP.search(f.name).group(1) for f in files)
        expected = []
        for f in files:
            if STAMP.search(f.name).group(1) == newest:
                username = f.name[len(folder.split("-")[1]) + 1:f.name.index("-activity-visits-")]
                with open(f, newline="", encoding="utf-8") as fh:
                    expected += [(username, row["VisitedOn"], row["OutTime"], row["TimeSpentInSeconds"])
                                 for row in csv.DictReader(fh)]
        sid = folder.split("-")[1]
        got = [(u, str(s), "NA" if e is None else str(e), "NA" if sec is None else repr(sec))
               for u, s, e, sec in query(dataset, "SELECT username, started_at AT TIME ZONE 'Asia/Kolkata', "
                                         "ended_at AT TIME ZONE 'Asia/Kolkata', seconds FROM activity_visits "
                                         "WHERE server_id = ?", sid)]
        assert expected and sorted(got) == sorted(expected), folder


def test_users_are_the_auth_user_rows_of_the_dump(dataset):
    for folder in SCHOOLS:
        text = (gstudio(dataset, folder) / "postgres-dump" / "pg_dump_all.sql").read_text()
        block = text.split("COPY public.auth_user", 1)[1].split("\n\\.\n", 1)[0]
        expected = sorted(int(line.split("\t")[0]) for line in block.splitlines()[1:])
        got = [r[0] for r in query(dataset, "SELECT user_id FROM users WHERE server_id = ? ORDER BY user_id",
                                   folder.split("-")[1])]
        assert expected and got == expected, folder


def test_tool_events_are_the_records_of_the_tool_logs(dataset):
    expected = {}
    for folder in SCHOOLS:
        files = (gstudio(dataset, folder) / "gstudio_tools_logs").rglob("*.json")
        expected[folder] = sum(len(json.loads(f.read_text())) for f in files)
    assert all(expected.values()) and per_school(dataset, "tool_events") == expected


def test_assessment_responses_are_every_attempt_in_the_qbank_sections(dataset):
    expected, entries = {}, {}
    for folder in SCHOOLS:
        sections = bson_docs(gstudio(dataset, folder) / "db" / "assessment" / "AssessmentSection.bson")
        expected[folder] = sum(1 for s in sections for q in s["questions"] for r in q["responses"]
                               if "submissionTime" in r and r["submissionTime"] is not None)
        entries[folder] = len(bson_docs(gstudio(dataset, folder) / "db" / "logging" / "LogEntry.bson"))
    assert all(expected.values()) and per_school(dataset, "assessment_responses") == expected
    assert per_school(dataset, "qbank_log_entries") == entries
    # Attempts are numbered from the first; a question answered twice has attempts 1 and 2.
    assert query(dataset, "SELECT max(attempt) FROM assessment_responses")[0][0] >= 2


def test_server_days_count_every_benchmark(dataset):
    for folder in SCHOOLS:
        benchmarks = len(bson_docs(gstudio(dataset, folder) / "db" / "gstudio-mongodb" / "Benchmarks.bson"))
        got = query(dataset, "SELECT sum(events) FROM server_days WHERE server_id = ? AND source = 'benchmarks'",
                    folder.split("-")[1])
        assert got == [(benchmarks,)], folder


def test_a_second_run_rewrites_nothing(fleet, dataset):
    files = {p: p.stat().st_mtime_ns for p in (dataset / "dataset").rglob("*.parquet")}
    proc = run_playbook(fleet, "dataset.yml", "-e", f"clix_archive_root={dataset}")
    assert proc.returncode == 0, ok(proc)
    assert "changed=0" in proc.stdout and proc.stdout.count(": unchanged") == len(SCHOOLS)
    assert {p: p.stat().st_mtime_ns for p in files} == files
