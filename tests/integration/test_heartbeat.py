"""`ansible-playbook heartbeat.yml` on a state of 20 schools, some made unhealthy: the fleet table
flags exactly those, stores each heartbeat in the archive, keeps a history, and its HTML page
renders offline in headless Chromium."""

from __future__ import annotations

import datetime
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from chromium import Chromium
from conftest import REPO, ansible_env, give_private_python, run_playbook

from fleet import __main__ as fleet_cli
from fleet import hosts

YEAR = str(datetime.date.today().year)
EXPECTED = {"tg3": "unreachable", "tg5": "mongodb down", "tg7": "disk", "tg9": "clock skew", "tg11": "not collected"}


def seal(archive: Path, school: hosts.School, days_ago: int) -> None:
    """A manifest as a complete collection `days_ago` days ago would have left it (its times in UTC
    without a zone, as collect.yml's seal writes them with Ansible's now(utc=true);
    test_the_table_reads_what_collect_wrote reads a real one)."""
    root = archive / YEAR / school.state / school.hostname
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    ended = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days_ago)).replace(tzinfo=None)
    ended = ended.isoformat()
    (root / "MANIFEST.json").write_text(json.dumps({
        "format": 1, "school": {"server_id": school.server_id}, "run": {"ended": ended}, "last_complete": ended,
        "items": {"media": {"status": "ok", "collected_at": ended}}, "files": {}, "top_folders": ["gstudio"]}))


@pytest.fixture(scope="module")
def state_of_20(fleet, target_python):
    """20 Telangana schools beside the session fleet; tg3, tg5, tg7, tg9 made unhealthy."""
    lab = hosts.Lab(Path(tempfile.mkdtemp(prefix="clix-fleet-hb-", dir="/var/tmp")))
    fleet_cli.up(lab, fleet_cli.plan("tg=20", set(), first_address=120, tag="h"))
    try:
        schools = {s.server_id: s for s in lab.schools()}
        installed = fleet.lab.host_dir(fleet.school("mz1")) / "root" / "opt"  # by target_python
        for school in schools.values():  # not 20 installs of the same wheels on 2 cores
            give_private_python(installed, lab.host_dir(school) / "root")
        os.kill(hosts.sshd_pid(lab, schools["tg3"]), signal.SIGTERM)  # sshd stopped
        hosts.stop_mongo(lab, schools["tg5"])
        full = "/home/core/data/filled"
        hosts.in_namespace(lab, schools["tg7"], ["mkdir", "-p", full])
        hosts.in_namespace(lab, schools["tg7"], ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", full])
        hosts.in_namespace(lab, schools["tg7"], ["dd", "if=/dev/zero", f"of={full}/fill", "bs=1k", "count=1000"],
                           capture_output=True)
        host_vars = lab.inventory / "host_vars"
        host_vars.mkdir()
        (host_vars / f"{schools['tg9'].hostname}.yml").write_text("clix_heartbeat_clock_offset: 900\n")
        yield lab, schools
    finally:
        fleet_cli.down(lab)
        shutil.rmtree(lab.root, ignore_errors=True)


def heartbeat(lab, archive: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(lab.inventory),
                           str(REPO / "heartbeat.yml"), "-l", "tg", "-e", f"clix_archive_root={archive}",
                           "-e", "clix_heartbeat_disk_percent=97"],
                          cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def two_runs(state_of_20, tmp_path_factory):
    """Two heartbeat runs on an archive where every school was collected 3 days ago, but tg11 400."""
    lab, schools = state_of_20
    archive = tmp_path_factory.mktemp("hb") / "archive"
    for sid, school in schools.items():
        seal(archive, school, days_ago=400 if sid == "tg11" else 3)
    runs = [heartbeat(lab, archive), heartbeat(lab, archive)]
    for run in runs:
        assert run.returncode == 0, run.stdout[-5000:]
    return archive, schools, runs[-1]


def test_fleet_table_flags_exactly_the_unhealthy_schools(two_runs):
    archive, schools, second = two_runs
    table = json.loads(sorted((archive / "reports").glob("heartbeat-*.json"))[-1].read_text())
    flagged = {r["server_id"]: "; ".join(r["problems"]) for r in table["rows"] if r["problems"]}
    assert set(flagged) == set(EXPECTED), flagged
    for sid, problem in EXPECTED.items():
        assert problem in flagged[sid], (sid, flagged[sid])
    assert [bool(r["problems"]) for r in table["rows"]] == sorted((bool(r["problems"]) for r in table["rows"]),
                                                                 reverse=True)  # problems first
    assert "!! " in second.stdout and "20 school(s), 5 with problems" in second.stdout

    healthy = archive / YEAR / "tg" / schools["tg1"].hostname / "gstudio" / "system-heartbeat"
    assert len(list(healthy.glob("system-heartbeat-*.log"))) >= 1  # same files collect writes
    history = (archive / "reports" / "heartbeat-history-tg.jsonl").read_text().splitlines()
    assert len(history) == 40  # two runs x 20 schools
    csv_rows = sorted((archive / "reports").glob("heartbeat-*.csv"))[-1].read_text().splitlines()
    assert csv_rows[0].startswith("server_id,school_code,school_name,reachable") and len(csv_rows) == 21


def test_html_page_renders_offline_with_the_problem_rows(two_runs, tmp_path):
    archive, _, _ = two_runs
    page = sorted((archive / "reports").glob("heartbeat-*.html"))[-1]
    text = page.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text  # no external assets
    assert text.count('<ul class="history"><li>') == 20 and text.count("</li><li>") >= 20  # two runs each
    with Chromium(tmp_path) as browser:
        loaded = browser.load(page, width=1400)  # 20 schools fit a 1400 px window, and nothing is refused
        browser.screenshot(tmp_path / "heartbeat.png")
    assert loaded.errors == [] and loaded.overflow <= 0, (loaded.errors, loaded.overflow, loaded.widest)
    assert sorted(re.findall(r'<tr class="problem">\s*<th>(.*?)</th>', text)) == sorted(EXPECTED)
    assert all(sid in loaded.text for sid in EXPECTED)


def test_the_heartbeat_probes_the_services_where_the_dumps_read_them(fleet, target_python, tmp_path):
    """-e clix_postgres_port / clix_mongo_uri move the probes with the dumps: one owner per address."""
    def services(*extra: str) -> dict:
        archive = tmp_path / f"archive{len(extra)}"
        proc = run_playbook(fleet, "heartbeat.yml", "-l", "mz1", "-e", f"clix_archive_root={archive}", *extra)
        table = json.loads(sorted((archive / "reports").glob("heartbeat-*.json"))[-1].read_text())
        row = table["rows"][0]
        return {"postgresql": "postgresql down" in "; ".join(row["problems"]),
                "mongodb": "mongodb down" in "; ".join(row["problems"]), "rc": proc.returncode}

    assert services() == {"postgresql": False, "mongodb": False, "rc": 0}
    assert services("-e", "clix_postgres_port=9", "-e", "clix_mongo_uri=mongodb://127.0.0.1:9/") == \
        {"postgresql": True, "mongodb": True, "rc": 0}


def test_the_table_reads_what_collect_wrote(fleet, target_python, tmp_path):
    """collect.yml -l mz as ops run it - mz2's gStudio container stopped (its derived data an expected
    `skipped`), mz3's MongoDB down (db failed) - then heartbeat.yml -l mz on that archive: each school
    was last collected by that run, whatever its items' statuses, and the table says what it lacked."""
    archive = tmp_path / "archive"
    mz2, mz3 = fleet.school("mz2"), fleet.school("mz3")
    hosts.podman_in_school(fleet.lab, mz2, "stop", "-t", "0", "gstudio", capture_output=True)
    hosts.stop_mongo(fleet.lab, mz3)
    before = datetime.datetime.now(datetime.timezone.utc)
    try:
        collect = run_playbook(fleet, "collect.yml", "-l", "mz", "-e", f"clix_archive_root={archive}")
    finally:
        hosts.podman_in_school(fleet.lab, mz2, "start", "gstudio", capture_output=True)
        hosts.restart_mongo(fleet.lab, mz3)
    assert collect.returncode != 0, collect.stdout[-5000:]  # mz3's db failed
    collected = datetime.datetime.now(datetime.timezone.utc)
    proc = run_playbook(fleet, "heartbeat.yml", "-l", "mz", "-e", f"clix_archive_root={archive}")
    assert proc.returncode == 0, proc.stdout[-5000:]
    rows = {sid: r for (sid, _), r in fleet_rows(archive).items()}
    for sid, row in rows.items():  # the heartbeat run refreshed its own items, and is no collection
        assert before <= datetime.datetime.fromisoformat(row["last_collected"]) <= collected, (sid, row)
    assert rows["mz1"]["problems"] == [] and rows["mz2"]["problems"] == [], rows
    lacked = {sid: {e["item"]: e for e in row["lacked"]} for sid, row in rows.items()}
    assert lacked["mz2"]["derived (gStudio container)"]["status"] == "skipped"
    assert "is stopped" in lacked["mz2"]["derived (gStudio container)"]["reason"]
    assert rows["mz3"]["problems"] == ["last collection failed: db, derived (gStudio container)"]  # no MongoDB
    assert "MongoDB" in lacked["mz3"]["db"]["reason"]
    assert "never collected" not in proc.stdout and "skipped: derived (gStudio container)" in proc.stdout
    page = html.unescape(sorted((archive / "reports").glob("heartbeat-*.html"))[-1].read_text())
    assert "is stopped" in page  # the reasons on the page
    for entries in lacked.values():  # pymongo's reason may say None; the table itself never does
        for entry in entries.values():
            page = page.replace(entry["reason"], "")
    assert "None" not in page


def fleet_rows(archive: Path) -> dict:
    table = json.loads(sorted((archive / "reports").glob("heartbeat-*.json"))[-1].read_text())
    return {(r["server_id"], r.get("pc")): r for r in table["rows"]}


def test_lab_pcs_appear_in_the_fleet_table_with_their_app_data_and_last_collection(fleet, target_python, tmp_path):
    """heartbeat.yml -l ct1,rj1: ct1's server and its two lab PCs (pc01's app running), and rj1, a
    school of lab PCs without a server. A PC's last collection is its unplatform/<pc> item's."""
    archive = tmp_path / "archive"
    ct1 = fleet.school("ct1")
    folder = archive / YEAR / "ct" / ct1.hostname
    folder.mkdir(parents=True, mode=0o700)
    (folder / "MANIFEST.json").write_text(json.dumps({"format": 1, "files": {}, "items": {
        "unplatform/pc01": {"status": "ok", "collected_at": f"{YEAR}-01-02T03:04:05+00:00"},
        "unplatform/pc02": {"status": "failed", "collected_at": f"{YEAR}-01-03T03:04:05+00:00"}}}))
    proc = run_playbook(fleet, "heartbeat.yml", "-l", "ct1,rj1", "-e", f"clix_archive_root={archive}")
    assert proc.returncode == 0, proc.stdout[-5000:]
    rows = fleet_rows(archive)
    assert set(rows) == {("ct1", None), ("ct1", "pc01"), ("ct1", "pc02"), ("rj1", "pc01"), ("rj1", "pc02")}
    pc01, pc02, v1, rj2 = rows["ct1", "pc01"], rows["ct1", "pc02"], rows["rj1", "pc01"], rows["rj1", "pc02"]
    assert all(r["reachable"] == "yes" for r in rows.values()), rows
    assert pc01["app"] == {"qbank_lite": True, "unplatform": True}
    assert pc02["app"] == rj2["app"] == v1["app"] == {"qbank_lite": False, "unplatform": False}
    assert [(i["path"], i["version"]) for i in pc01["installs"]] == [("/opt/clix", "v2")]
    assert [(i["path"], i["version"]) for i in v1["installs"]] == [("/home/student/CLIx_Unplatform", "v1")]
    on_disk = sum(p.stat().st_size for p in (fleet.pc_root("rj1-pc01") / "home/student/CLIx_Unplatform").rglob("*")
                  if p.is_file())
    assert v1["data_bytes"] == on_disk > 0
    assert pc01["data_bytes"] > 0 and "mongodb" not in pc01
    assert pc01["last_collected"] == f"{YEAR}-01-02T03:04:05+00:00"
    assert pc02["last_collected"] == f"{YEAR}-01-03T03:04:05+00:00"  # its item failed: collected all the same
    assert "last collection failed: unplatform/pc02" in pc02["problems"]
    assert "!! ct1/pc02" in proc.stdout and "running" in proc.stdout
    assert "1 school(s) and 4 lab PC(s)" in proc.stdout
    assert not list(archive.glob(f"{YEAR}/rj/*/unplatform"))  # the heartbeat of a lab PC writes nothing


def test_a_lab_pc_whose_app_stopped_shows_it_down_and_an_unreachable_one_is_flagged(fleet, target_python, tmp_path):
    pc01, rj2 = fleet.lab_pc("ct1-pc01"), fleet.lab_pc("rj1-pc02")
    hosts.stop_unplatform_writer(fleet.lab, pc01)
    hosts.set_link(rj2, up=False)
    try:
        proc = run_playbook(fleet, "heartbeat.yml", "-l", "ct1,rj1", "-e", f"clix_archive_root={tmp_path / 'a'}",
                            "-e", "clix_connect_timeout=5")  # rj1-pc02 is waited for that long
    finally:
        hosts.set_link(rj2, up=True)
        hosts.start_unplatform_writer(fleet.lab, pc01)
    assert proc.returncode == 0, proc.stdout[-5000:]
    rows = fleet_rows(tmp_path / "a")
    assert rows["ct1", "pc01"]["app"] == {"qbank_lite": False, "unplatform": False}
    assert rows["ct1", "pc01"]["reachable"] == "yes"
    down = rows["rj1", "pc02"]
    assert down["reachable"].startswith("no: ") and "10.231.0." in down["reachable"] and down["problems"][0] == "unreachable"
    assert "!! rj1/pc02" in proc.stdout
    assert rows["rj1", "pc01"]["reachable"] == "yes"  # one PC down never stops the others
