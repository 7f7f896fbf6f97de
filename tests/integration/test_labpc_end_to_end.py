"""Lab PCs end to end on the fleet, real parts only: ct1 (server, pc01 with the app's stand-in writing
and three of its files torn in turns so that one is torn at every moment, pc02 without config.json)
and rj1 (lab PCs only, pc01 a 2016 install) collected with collect.yml, derived with
`derive.yml -e derive_from=archive` and checked against the PCs' own data; then a USB extraction of
pc01's install, made as the field team's script makes it with a newer stamp, ingested into the same
archive: nothing the SSH collection archived is lost and the manifest still verifies."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
import usb
from ansible.module_utils.clix_unplatform import V1_DB, V2_DATASTORE, V2_SESSIONS_DB, V2_USER_DATA
from conftest import run_playbook

from fleet import hosts
from fleet.standin.unplatform_writer import TORN_IN_TURNS, writer_tick

YEAR = str(dt.date.today().year)
# The stand-in's files torn in turns (TORN_IN_TURNS): each is whole longer than the pull's pause between
# two tries (clix_unplatform_json_wait), so the tries below get them whole.
TRIES = ["-e", "clix_unplatform_json_tries=8"]
SECTIONS = V2_DATASTORE + "/assessment/AssessmentSection"


def ok(proc) -> str:
    return f"rc={proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


def school_dir(archive: Path, fleet, pc_name: str, year: str = YEAR) -> Path:
    pc = fleet.lab_pc(pc_name)
    return archive / year / pc.state / f"{pc.school_code}-{pc.server_id}"


def session_ids(db: Path, table: str = "sessions", column: str = "session_id") -> set:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return {row[0] for row in con.execute(f"SELECT {column} FROM {table}")}
    finally:
        con.close()


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def parsed(path: Path):
    return json.loads(path.read_bytes())


def later_version(theirs, doc) -> bool:
    """theirs is doc rewritten by the stand-in since: each rewrite puts one response first in an
    AssessmentSection's first question (its tick restarts with the stand-in, so ticks alone cannot say)."""
    try:
        new, old = theirs["questions"][0]["responses"], doc["questions"][0]["responses"]
        rest = {**theirs, "questions": [{**theirs["questions"][0], "responses": old}, *theirs["questions"][1:]]}
    except (KeyError, IndexError, TypeError):
        return False
    return len(new) > len(old) and new[len(new) - len(old):] == old and rest == doc


def start_writer(fleet, env: dict) -> None:
    """(Re)start pc01's stand-in with the CLIX_STANDIN_* settings in env."""
    pc01 = fleet.lab_pc("ct1-pc01")
    hosts.stop_unplatform_writer(fleet.lab, pc01)
    hosts.start_unplatform_writer(fleet.lab, pc01, env=env)


@pytest.fixture(scope="module")
def run(fleet, target_python, tmp_path_factory):
    """collect.yml of ct1 and rj1 while pc01's files tear; pc01's extraction made while its app still
    writes (as the field team would, minutes later); the app stopped, so its files are final when
    compared; then derive.yml. Yields what the tests compare; pc01's stand-in runs as before at the end."""
    base = tmp_path_factory.mktemp("labpc-e2e")
    archive = base / "clix"
    pc_install = fleet.pc_root("ct1-pc01") / "opt/clix"
    start_writer(fleet, TORN_IN_TURNS)
    try:
        before = session_ids(pc_install / V2_SESSIONS_DB)
        collect = run_playbook(fleet, "collect.yml", "-l", "ct1,rj1", "-e", f"clix_archive_root={archive}", *TRIES)
        # The field team's extraction of the same install, a few minutes later: its folder names the
        # install as the SSH collection does, so the ingest has to fold into what SSH archived.
        when = min(dt.datetime.now() + dt.timedelta(minutes=5), dt.datetime(dt.date.today().year, 12, 31, 23, 59, 59))
        zip_path = usb.extract_like_script(pc_install, base / "usb", when, install_path="\\opt-clix\\")
    finally:
        hosts.stop_unplatform_writer(fleet.lab, fleet.lab_pc("ct1-pc01"))
    derive = run_playbook(fleet, "derive.yml", "-l", "ct1,rj1", "-e", f"clix_archive_root={archive}",
                          "-e", "derive_from=archive", "-e", "clix_derive_runner=native")
    yield {"archive": archive, "collect": collect, "derive": derive, "before": before,
           "zip": zip_path, "when": when, "base": base}
    start_writer(fleet, {})


def test_collect_and_derive_succeed_and_the_manifests_verify(fleet, run):
    assert run["collect"].returncode == 0, ok(run["collect"])
    assert run["derive"].returncode == 0, ok(run["derive"])
    assert not list(run["archive"].rglob(".clix-known-*"))  # the pull's hashes, taken by the manifest and removed
    verify = run_playbook(fleet, "verify.yml", "-l", "ct1,rj1", "-e", f"clix_archive_root={run['archive']}")
    assert verify.returncode == 0, ok(verify)


def test_every_archived_json_is_the_pcs_file_at_the_end_or_an_earlier_version_though_files_were_torn(fleet, run):
    """One of the torn-in-turns files was torn whenever the pull read them: each is archived all the
    same (pulled again until whole), and no archived file is torn or newer than the PC's."""
    install = school_dir(run["archive"], fleet, "ct1-pc01") / "unplatform/pc01/opt-clix"
    pc_install = fleet.pc_root("ct1-pc01") / "opt/clix"
    archived = sorted(install.rglob("*.json"))
    assert len(archived) > 900
    for path in archived:
        doc = parsed(path)  # a torn file would raise here
        theirs = parsed(pc_install / path.relative_to(install))
        assert doc == theirs or later_version(theirs, doc), path
    torn_in_turns = sorted((pc_install / SECTIONS).glob("*.json"))[:3]
    assert all(writer_tick(parsed(p)) >= 0 for p in torn_in_turns)  # the stand-in did tear them
    for path in torn_in_turns:
        assert (install / SECTIONS / path.name).is_file(), f"{path.name} (torn in turns) was not pulled again until whole"
    pc = json.loads((school_dir(run["archive"], fleet, "ct1-pc01") / "MANIFEST.json").read_text())
    assert pc["items"]["unplatform/pc01"]["details"]["installs"][0]["torn"] == []


def pc_log_entries(install: Path) -> dict:
    """{session id: [event, ...]} of the PC's LogEntry files (the session is the event's sessionId)."""
    out: dict = {}
    for path in (install / V2_DATASTORE / "logging/LogEntry").glob("*.json"):
        event = json.loads(parsed(path)["text"]["text"])
        out.setdefault(event["sessionId"], []).append(event)
    return out


def test_sessions_csv_holds_each_session_the_pc_held_at_collection(fleet, run):
    pc_install = fleet.pc_root("ct1-pc01") / "opt/clix"
    school = school_dir(run["archive"], fleet, "ct1-pc01")
    derived = run["archive"] / "derived" / YEAR / school.parent.name / school.name / "unplatform/pc01"
    rows = {r["Session"]: r for r in read_csv(derived / "sessions.csv")}
    archived_db = session_ids(school / "unplatform/pc01/opt-clix" / V2_SESSIONS_DB)
    archived_users = {p.stem for p in (school / "unplatform/pc01/opt-clix" / V2_USER_DATA).glob("*.json")}
    assert set(rows) == archived_db | archived_users
    assert len(run["before"]) >= 100 and run["before"] <= set(rows) <= session_ids(pc_install / V2_SESSIONS_DB)
    logs = pc_log_entries(pc_install)
    for sid in run["before"]:
        user = parsed(pc_install / V2_USER_DATA / f"{sid}.json")
        assert rows[sid]["Username"] == user["username"], sid
        assert int(rows[sid]["Log entries"]) == len(logs.get(sid, [])), sid


def test_activity_data_has_visits_for_the_generated_users(fleet, run):
    pc_install = fleet.pc_root("ct1-pc01") / "opt/clix"
    school = school_dir(run["archive"], fleet, "ct1-pc01")
    derived = run["archive"] / "derived" / YEAR / school.parent.name / school.name / "unplatform/pc01"
    table = read_csv(derived / "activity-data.csv")
    cells = {r["Username"]: [v for k, v in r.items() if k not in ("Username", "UserID") and v.strip()] for r in table}
    logs = pc_log_entries(pc_install)
    visited = set()
    for sid in run["before"]:
        names = parsed(pc_install / V2_USER_DATA / f"{sid}.json")["username"].split(", ")
        assert set(names) <= set(cells), sid
        if any(e.get("activity") for e in logs.get(sid, [])):
            visited |= set(names)
    assert len(visited) >= 5
    assert all(cells[name] for name in visited), [name for name in visited if not cells[name]]


def test_the_v1_pc_is_derived(fleet, run):
    school = school_dir(run["archive"], fleet, "rj1-pc01")
    derived = run["archive"] / "derived" / YEAR / school.parent.name / school.name / "unplatform/pc01"
    on_pc = session_ids(fleet.pc_root("rj1-pc01") / "home/student/CLIx_Unplatform" / V1_DB, "research_uuid")
    assert {r["Session"] for r in read_csv(derived / "sessions.csv")} == on_pc and len(on_pc) >= 20
    assert len(read_csv(derived / "activity-data.csv")) >= 1


def tree(school: Path) -> dict:
    return {str(p.relative_to(school)): p.read_bytes() for p in school.rglob("*") if p.is_file()}


def test_a_newer_usb_extraction_ingested_into_the_same_archive_loses_nothing(fleet, run):
    archive = run["archive"]
    school = school_dir(archive, fleet, "ct1-pc01")
    install = school / "unplatform/pc01/opt-clix"
    manifest_before = json.loads((school / "MANIFEST.json").read_text())
    files_before = tree(school / "unplatform")
    sessions_before = session_ids(install / V2_SESSIONS_DB)
    proc = run_playbook(fleet, "ingest.yml", "-e", f"clix_ingest_from={run['zip'].parent}",
                        "-e", f"clix_ingest_school={school.name}", "-e", f"clix_archive_root={archive}")
    assert proc.returncode == 0, ok(proc)
    assert f"INGESTED    '{run['zip'].name}'" in proc.stdout, ok(proc)
    manifest = json.loads((school / "MANIFEST.json").read_text())
    assert manifest["items"]["unplatform/pc01"]["details"]["extraction"]["zip"] == run["zip"].name
    assert set(manifest_before["files"]) <= set(manifest["files"])
    assert set(manifest_before["items"]) <= set(manifest["items"])
    assert sessions_before <= session_ids(install / V2_SESSIONS_DB)
    for rel, data in files_before.items():
        now = school / "unplatform" / rel
        assert now.is_file(), rel
        if rel.endswith(".json") and now.read_bytes() != data:
            assert later_version(parsed(now), json.loads(data)), rel  # only a later version
    verify = run_playbook(fleet, "verify.yml", "-l", "ct1", "-e", f"clix_archive_root={archive}")
    assert verify.returncode == 0, ok(verify)
