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
from conftest import REPO, dataset_values, run_playbook
from mit_csv import long_form, sql_long_form

from clix_dataset import tools

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
    restricted = dataset_values(dataset / "dataset")
    assert all(v in restricted for kind in ("usernames", "names", "roll numbers", "typed") for v in secrets[kind])
    release = dataset / "release"
    files = [p for p in release.rglob("*") if p.is_file()]
    assert len([p for p in files if p.name == "data.parquet"]) >= 20
    text = dataset_values(release)  # the Parquet pages are compressed: the values, decoded, too
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


# -- the team's analyses (clix_dataset/analyses/*.sql) on the fleet's archive, against what is
# counted here from the collected files and the fleet's own generator (fleet/data.py) ----------------
def analysis(archive: Path, name: str, tier: str = "dataset") -> list[tuple]:
    return query(archive, (REPO / "clix_dataset" / "analyses" / name).read_text(), tier=tier)


def auth_rows(archive: Path, folder: str) -> list[list[str]]:
    text = (gstudio(archive, folder) / "postgres-dump" / "pg_dump_all.sql").read_text()
    block = text.split("COPY public.auth_user", 1)[1].split("\n\\.\n", 1)[0]
    return [line.split("\t") for line in block.splitlines()[1:]]


def tool_files(archive: Path, folder: str) -> list[tuple[int, str, list[dict]]]:
    return [(int(p.name.split("-", 1)[0]), p.parent.name, json.loads(p.read_text()))
            for p in sorted((gstudio(archive, folder) / "gstudio_tools_logs").rglob("*.json"))]


def visit_days(archive: Path, folder: str) -> dict[str, set]:
    """Each username's days (IST, as stored) of activity-player pages (gStudio's activity_timestamp rule)."""
    days: dict[str, set] = {}
    for d in bson_docs(gstudio(archive, folder) / "db" / "gstudio-mongodb" / "Benchmarks.bson"):
        if re.search(r"/course/activity_player", d["calling_url"], re.I):
            days.setdefault(d["user"], set()).add(d["last_update"].date())
    return days


def test_the_mit_analysis_equals_the_collected_activity_data_csv(dataset):
    """The stand-in gStudio container ran the MIT script's computation when each collection was made:
    the analysis rebuilds that CSV, date by date, from the dataset."""
    rows = analysis(dataset, "mit_activity_data.sql")
    for year in (LAST_YEAR, YEAR):
        for folder in SCHOOLS:
            csv_path = gstudio(dataset, folder, year) / "qbank" / "student-activities" / "activity-data.csv"
            expected = long_form(csv_path)
            got = sql_long_form([r for r in rows if r[0] == f"{year}/mz/{folder}"])
            assert expected and got == expected, (year, folder)
    # Its labels are transliterated as the script's: the third unit is named only in Hindi.
    assert any(r[8].startswith("prmaannu-snrcnaa") for r in rows if r[8])


def test_the_tool_time_analysis_counts_each_tool_as_it_logs_time(dataset):
    # fleet/data.py tool_records: per user three records on 4, 5 and 6 June 2018 - policesquad counts
    # 3:00 + 4:10 + 5:20 itself, Ice-cubes sessions run 11:0i:00-11:0(7+i):30 (7.5 min each), the
    # other tools log one record a day (0 s).
    per_family = {"policesquad": (3, 750.0), "ice": (3, 1350.0), "food_sharing_tool": (3, 0.0),
                  "coins_puzzle": (3, 0.0)}
    for folder in SCHOOLS:
        sid = folder.split("-")[1]
        ids = dict(query(dataset, "SELECT user_key, user_id FROM users WHERE server_id = ?", sid))
        got = sorted((ids[key], family, days, seconds) for _, s, _, key, family, _, days, seconds
                     in analysis(dataset, "tool_time.sql") if s == sid)
        expected = sorted((uid, family, *per_family[family]) for uid, family in
                          {(uid, tools.family(f"{uid}-{folder_name}.json")) for uid, folder_name, _ in
                           tool_files(dataset, folder)})
        assert expected and got == expected, folder
    assert {r[5] for r in analysis(dataset, "tool_time.sql", tier="release")} == {"Mathematics"}


def test_the_logins_by_role_analysis(dataset):
    for folder in SCHOOLS:
        rows = auth_rows(dataset, folder)
        teacher = max(int(r[0]) for r in rows)  # fleet/data.py: the last user teaches
        visited = visit_days(dataset, folder)
        roles: dict[str, list] = {}
        for r in rows:
            role = "admin" if r[3] == "t" else "teacher" if int(r[0]) == teacher else "student"
            counts = roles.setdefault(role, [0, 0, 0, 0])
            counts[0] += 1
            counts[1] += r[2] != r[10].strip()
            counts[2] += r[4] in visited
            counts[3] += len(visited.get(r[4], ()))
        expected = [("mz", folder.split("-")[1], folder.split("-")[0], role, *c) for role, c in sorted(roles.items())]
        got = [r for r in analysis(dataset, "logins_by_role.sql") if r[1] == folder.split("-")[1]]
        assert got == expected, folder
        assert {r[3] for r in got} == {"admin", "student", "teacher"}


def test_the_lab_days_and_attendance_analyses(dataset):
    for folder in SCHOOLS:
        sid = folder.split("-")[1]
        visited = visit_days(dataset, folder)
        teacher = max(int(r[0]) for r in auth_rows(dataset, folder))
        names = {int(r[0]): r[4] for r in auth_rows(dataset, folder)}
        benchmark_days = {d["last_update"].date() for d in
                          bson_docs(gstudio(dataset, folder) / "db" / "gstudio-mongodb" / "Benchmarks.bson")}
        tool_days: dict[int, set] = {}
        for uid, _, records in tool_files(dataset, folder):
            for rec in records:
                when = (rec.get("appData") or {}).get("tool_startTime") or rec.get("created_at") or rec.get("createdAt")
                if when and uid:
                    tool_days.setdefault(uid, set()).add(datetime.datetime.strptime(when, "%Y-%m-%d %H:%M:%S").date())
        module_days = set().union(*visited.values())
        tools = set().union(*tool_days.values())
        # The server's own evidence: its Benchmarks, its heartbeat of 3 June and its export of 3 June
        # (fleet/data.py); the collector's heartbeats and exports are never days.
        on = benchmark_days | {datetime.date(2018, 6, 3)}
        expected = {}
        for day in on | module_days | tools:
            month = expected.setdefault(day.strftime("%Y-%m"), [0, 0, 0, 0, 0])
            month[0] += day in on
            month[1] += day in module_days
            month[2] += day in tools
            month[3] += day in module_days and day in tools
            month[4] += day in on and day not in module_days and day not in tools
        got = {r[3]: list(r[5:]) for r in analysis(dataset, "lab_days.sql") if r[1] == sid}
        assert got == expected and set(got) == {"2018-06"}, folder
        present: dict[datetime.date, set] = {}
        for uid, name in names.items():
            if uid not in (1, teacher):
                for day in visited.get(name, set()) | tool_days.get(uid, set()):
                    present.setdefault(day, set()).add(uid)
        attendance = [r for r in analysis(dataset, "attendance.sql") if r[1] == sid]
        assert attendance == [("mz", sid, folder.split("-")[0], "2018-06", len(present),
                               round(sum(map(len, present.values())) / len(present), 1),
                               len(set().union(*present.values())))], folder


def test_the_assessment_analyses(dataset):
    for folder in SCHOOLS:
        db = gstudio(dataset, folder) / "db"
        items = {str(d["_id"]): d for d in bson_docs(db / "assessment" / "Item.bson")}
        takens = {str(d["_id"]): d for d in bson_docs(db / "assessment" / "AssessmentTaken.bson")}
        expected, scores = [], {}
        for section in bson_docs(db / "assessment" / "AssessmentSection.bson"):
            user = takens[section["assessmentTakenId"]]["takingAgentId"].split("%3A")[1].split("%40")[0]
            for number, question in enumerate(section["questions"], 1):
                item = items[question["itemId"].split("%3A")[1].split("%40")[0]]
                texts = item["question"].get("texts") or [item["question"]["text"]]
                text = next(t["text"] for t in texts if t.get("languageTypeId", "639-2%3AENG%40ISO") == "639-2%3AENG%40ISO")
                attempts = [r for r in reversed(question["responses"]) if r.get("submissionTime")]
                for n, r in enumerate(attempts, 1):
                    chosen = [re.sub("<[^>]+>", "", c["text"]) for c in item["question"].get("choices", [])
                              if c["id"] in r.get("choiceIds", [])]
                    expected.append((user, number, re.sub("<[^>]+>", "", text), n, chosen, r.get("isCorrect")))
                if attempts:
                    s = scores.setdefault(user, [0, 0, 0])
                    s[0] += 1
                    s[1] += attempts[0].get("isCorrect") is True
                    s[2] += attempts[-1].get("isCorrect") is True
        sid = folder.split("-")[1]
        name = dict(query(dataset, "SELECT user_key, username FROM users WHERE server_id = ?", sid))
        got = sorted((name[r[6]], r[7], r[8], r[9], r[12], r[13]) for r in analysis(dataset, "assessment_results.sql")
                     if r[1] == sid)
        assert expected and got == sorted(expected), folder
        assert {(r[3], r[4]) for r in analysis(dataset, "assessment_results.sql") if r[1] == sid} == {
            ("English Elementary", "English: check your understanding")}
        got = {name[r[5]]: list(r[6:]) for r in analysis(dataset, "assessment_scores_by_unit.sql") if r[1] == sid}
        assert got == scores, folder
