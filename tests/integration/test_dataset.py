"""dataset.yml on an archive the fleet's mz schools were collected into: every table filled, and
its counts checked against the collected sources, read here independently of clix_dataset."""

from __future__ import annotations

import csv
import datetime
import hashlib
import hmac
import json
import os
import re
import subprocess
from pathlib import Path

import bson
import duckdb
import pytest
from conftest import run_playbook

# The fleet's mz schools, ct1 (a server and its lab PCs) and rj1 (lab PCs, no server) are collected as
# last year's collection; mz again as this year's: the same children, two collections, two years.
YEAR = str(datetime.date.today().year)
LAST_YEAR = str(int(YEAR) - 1)
SCHOOLS = ["2031001-mz1", "2031002-mz2", "2031003-mz3"]
STAMP = re.compile(r"-(\d{8}-\d{2}h\d{2}m)\.csv$")


def ok(proc: subprocess.CompletedProcess) -> str:
    return f"rc={proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> tuple[Path, bytes]:
    """The steward's pseudonym key, outside the archive."""
    path = tmp_path_factory.mktemp("steward") / "release.key"
    data = os.urandom(32)
    path.write_bytes(data)
    path.chmod(0o600)
    return path, data


@pytest.fixture(scope="module")
def dataset(fleet, target_python, tmp_path_factory, key) -> Path:
    archive = tmp_path_factory.mktemp("dataset") / "clix"
    proc = run_playbook(fleet, "collect.yml", "-l", "mz,ct1,rj1", "-e", f"clix_archive_root={archive}",
                        "-e", f"clix_year={LAST_YEAR}")
    assert proc.returncode == 0, ok(proc)
    proc = run_playbook(fleet, "collect.yml", "-l", "mz", "-e", f"clix_archive_root={archive}", "-e", f"clix_year={YEAR}")
    assert proc.returncode == 0, ok(proc)
    proc = run_playbook(fleet, "dataset.yml", "-e", f"clix_archive_root={archive}", "-e", "clix_dataset_release=true",
                        "-e", f"clix_dataset_key_file={key[0]}")
    assert proc.returncode == 0, ok(proc)
    return archive


def query(archive: Path, sql: str, *params, tier: str = "dataset") -> list[tuple]:
    con = duckdb.connect(str(archive / tier / "clix.duckdb"), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def per_school(archive: Path, table: str) -> dict[str, int]:
    rows = query(archive, f"SELECT school_code || '-' || server_id, count(*) FROM {table} WHERE state = 'mz' "
                 "GROUP BY ALL")
    return dict(rows)


def gstudio(archive: Path, folder: str, year: str = YEAR) -> Path:
    return archive / year / "mz" / folder / "gstudio"


def bson_docs(path: Path) -> list[dict]:
    with open(path, "rb") as f:
        return list(bson.decode_file_iter(f))


def collected_secrets(archive: Path) -> dict[str, set[str]]:
    """What names a child in the collected archive, read from its files here: every username of every
    auth_user dump, the first and last names and roll numbers of every progress CSV, every student id
    typed on a lab PC, every Django session key."""
    found: dict[str, set[str]] = {"usernames": set(), "names": set(), "roll numbers": set(), "typed": set(),
                                  "session keys": set()}
    for dump in archive.glob("*/*/*/gstudio/postgres-dump/pg_dump_all.sql"):
        block = dump.read_text().split("COPY public.auth_user", 1)[1].split("\n\\.\n", 1)[0]
        found["usernames"] |= {line.split("\t")[4] for line in block.splitlines()[1:]}
    for path in archive.glob("*/*/*/gstudio/gstudio-exported-users-analytics-csvs/*.csv"):
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                found["names"] |= {row.get("first_name") or "", row.get("last_name") or ""}
                found["roll numbers"].add(row.get("roll_no") or "")
    for path in archive.glob("*/*/*/unplatform/*/*/webapps/unplatform/user_data/*.json"):
        typed = json.loads(path.read_text(encoding="utf-8")).get("username") or ""
        found["typed"] |= {part.strip() for part in typed.split(",")}
    for path in archive.glob("*/*/*/gstudio/db/gstudio-mongodb/Benchmarks.bson"):
        found["session keys"] |= {d["session_key"] for d in bson_docs(path)[:200] if d.get("session_key")}
    return {kind: {v for v in values if v} for kind, values in found.items()}


def test_every_table_is_filled_and_nothing_was_rejected(dataset):
    counts = {t: query(dataset, f"SELECT count(*) FROM {t}")[0][0] for t in (
        "schools", "collections", "users", "units", "activity_visits", "progress", "tool_events",
        "assessment_responses", "qbank_log_entries", "server_days", "unplatform_sessions", "unplatform_visits")}
    assert all(counts.values()), counts
    assert query(dataset, "SELECT count(*) FROM rejects") == [(0,)]
    assert query(dataset, "SELECT DISTINCT status FROM build_status") == [("built",)]
    assert query(dataset, "SELECT DISTINCT year, state FROM users_history ORDER BY ALL") == [
        (int(LAST_YEAR), "ct"), (int(LAST_YEAR), "mz"), (int(YEAR), "mz")]
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


def test_a_second_run_rewrites_nothing(fleet, dataset, key):
    files = {p: p.stat().st_mtime_ns for tier in ("dataset", "release") for p in (dataset / tier).rglob("*")}
    proc = run_playbook(fleet, "dataset.yml", "-e", f"clix_archive_root={dataset}", "-e", "clix_dataset_release=true",
                        "-e", f"clix_dataset_key_file={key[0]}")
    assert proc.returncode == 0, ok(proc)
    assert "changed=0" in proc.stdout and proc.stdout.count(": unchanged") == 2 * len(SCHOOLS) + 2
    assert {p: p.stat().st_mtime_ns for p in files} == files


def test_the_release_names_no_child_and_keeps_each_child_s_pseudonym_across_years(dataset, key):
    secrets = collected_secrets(dataset)
    assert all(len(values) >= 4 for values in secrets.values()), {k: len(v) for k, v in secrets.items()}
    restricted = values_as_text(dataset / "dataset")
    assert all(v in restricted for kind in ("usernames", "names", "roll numbers", "typed") for v in secrets[kind])
    release = dataset / "release"
    files = [p for p in release.rglob("*") if p.is_file()]
    assert len([p for p in files if p.name == "data.parquet"]) >= 20
    text = values_as_text(release)  # the Parquet pages are compressed: the values, decoded, too
    for kind, values in secrets.items():
        for value in values:
            encoded = value.encode()
            assert value not in text, (kind, value)
            assert not [p for p in files if encoded in p.read_bytes()], (kind, value)
    # A child of mz1 collected last year and this year: one pseudonym, the steward's HMAC of its key.
    (username,) = [u for u in sorted(secrets["usernames"]) if u.endswith("-mz1")][:1]
    keys = query(dataset, "SELECT collection, user_key FROM users_history WHERE username = ? ORDER BY collection",
                 username)
    assert [c for c, _ in keys] == [f"{LAST_YEAR}/mz/2031001-mz1", f"{YEAR}/mz/2031001-mz1"] and keys[0][1] == keys[1][1]
    pseudonym = hmac.new(key[1], b"clix-pseudonym\0" + keys[0][1].encode(), hashlib.sha256).hexdigest()[:32]
    assert query(dataset, "SELECT collection FROM users_history WHERE user_key = ? ORDER BY collection", pseudonym,
                 tier="release") == [(c,) for c, _ in keys]
    assert query(dataset, "SELECT count(DISTINCT year) FROM activity_visits_history WHERE user_key = ?", pseudonym,
                 tier="release") == [(2,)]
    # Lab PCs' visits are in the release too, under their students' pseudonyms.
    assert query(dataset, "SELECT count(*) > 0 FROM unplatform_visits", tier="release") == [(True,)]


def values_as_text(folder: Path) -> str:
    con = duckdb.connect(str(folder / "clix.duckdb"), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return "\n".join(str(row) for name in names for row in con.execute(f"SELECT * FROM {name}").fetchall())
    finally:
        con.close()
