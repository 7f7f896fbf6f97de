"""`collect.yml` against the fleet's lab PCs (`python -m fleet up --lab-pcs`): each PC's installs land
in unplatform/<pc>/<install>/ of its school's folder, checked against the PC itself after the run -
the SQLite copy holds every session committed before the run (the newest ones only in the WAL while
the app's stand-in writes), every JSON file parses and is the PC's file or an earlier version of it
(never a torn one) - one manifest per school folder, config.json checked, a re-run moves nothing."""

from __future__ import annotations

import datetime
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.clix_unplatform import V1_DB, V2_CONFIG, V2_DATASTORE, V2_SESSIONS_DB
from conftest import REPO, ansible_env, run_playbook

from fleet import hosts
from fleet.standin.unplatform_writer import writer_tick

YEAR = str(datetime.date.today().year)


def collect(fleet, archive: Path, *args: str):
    return run_playbook(fleet, "collect.yml", "-e", f"clix_archive_root={archive}", *args)


def ok(proc) -> str:
    return f"rc={proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


def folder(archive: Path, fleet, pc_name: str, kind: str = "") -> Path:
    pc = fleet.lab_pc(pc_name)
    base = archive / kind if kind else archive
    return base / YEAR / pc.state / f"{pc.school_code}-{pc.server_id}"


def sessions(path: Path) -> dict:
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    try:
        return dict(con.execute("SELECT session_id, atime FROM sessions"))
    finally:
        con.close()


def manifest(school: Path) -> dict:
    return json.loads((school / "MANIFEST.json").read_text())


def latest_report(archive: Path) -> dict:
    return json.loads(sorted((archive / "reports").glob("collect-*.json"))[-1].read_text())


def parsed(path: Path):
    return json.loads(path.read_bytes())


@pytest.fixture(scope="module")
def ct1_archive(fleet, target_python, tmp_path_factory):
    """ct1's server and its lab PCs collected while pc01's app stand-in writes; pc01's app stopped
    after the run (so its files are final when compared), started again at the end."""
    archive = tmp_path_factory.mktemp("labpc") / "clix"
    pc01 = fleet.lab_pc("ct1-pc01")
    start = datetime.datetime.now().replace(microsecond=0)
    assert all(hosts.app_answers(pc01)), "the fixture needs pc01's app stand-in running"
    assert (fleet.pc_root("ct1-pc01") / "opt/clix" / (V2_SESSIONS_DB + "-wal")).stat().st_size > 0
    proc = collect(fleet, archive, "-l", "ct1")
    hosts.stop_unplatform_writer(fleet.lab, pc01)
    yield archive, proc, start
    hosts.start_unplatform_writer(fleet.lab, pc01)


def test_a_school_and_its_lab_pcs_fill_one_folder_with_one_manifest(fleet, ct1_archive):
    archive, proc, _ = ct1_archive
    assert proc.returncode == 0, ok(proc)
    school = folder(archive, fleet, "ct1-pc01")
    m = manifest(school)
    assert m["school"]["hosts"] == ["1011001-ct1", "1011001-ct1-pc01", "1011001-ct1-pc02"]
    assert {"db", "unplatform", "unplatform/pc01", "unplatform/pc02"} <= set(m["items"])
    assert m["items"]["unplatform/pc01"]["status"] == "ok"
    pc02 = m["items"]["unplatform/pc02"]
    assert pc02["details"]["config"] is None and "config.json missing" in pc02["reason"]
    assert any(f.startswith("unplatform/pc01/opt-clix/%s/" % V2_DATASTORE) for f in m["files"])
    report = latest_report(archive)
    rows = {(r["school"], r["item"]): r["status"] for r in report["rows"]}
    assert rows[("1011001-ct1-pc01", "unplatform/pc01")] in ("ok", "unchanged")
    assert ("1011001-ct1", "unplatform/pc01") not in rows
    verify = run_playbook(fleet, "verify.yml", "-e", f"clix_archive_root={archive}")
    assert verify.returncode == 0, ok(verify)


def test_the_sqlite_copy_holds_every_session_committed_before_the_run(fleet, ct1_archive):
    archive, _, start = ct1_archive
    copy = folder(archive, fleet, "ct1-pc01") / "unplatform/pc01/opt-clix" / V2_SESSIONS_DB
    on_pc = sessions(fleet.pc_root("ct1-pc01") / "opt/clix" / V2_SESSIONS_DB)
    before = {sid: atime for sid, atime in on_pc.items() if atime < start.strftime("%Y-%m-%d %H:%M:%S")}
    archived = sessions(copy)
    assert len(before) >= 40 and set(before) <= set(archived)
    assert set(archived) <= set(on_pc)
    assert sorted(p.name for p in copy.parent.iterdir() if p.name.startswith(V2_SESSIONS_DB)) == [V2_SESSIONS_DB]


def test_every_archived_json_parses_and_is_the_pcs_file_or_an_earlier_version(fleet, ct1_archive):
    archive, _, start = ct1_archive
    install = folder(archive, fleet, "ct1-pc01") / "unplatform/pc01/opt-clix"
    pc_install = fleet.pc_root("ct1-pc01") / "opt/clix"
    archived = sorted(p for p in install.rglob("*.json"))
    assert len(archived) > 900
    rewritten = 0
    for path in archived:
        doc = parsed(path)  # a torn file would raise here
        theirs = parsed(pc_install / path.relative_to(install))
        if doc != theirs:
            assert writer_tick(theirs) > writer_tick(doc), path
            rewritten += 1
    assert not (install / "webapps/CLIx/datastore/repository/AssetContent").exists()
    old = [p for p in (pc_install / V2_DATASTORE).rglob("*.json") if p.stat().st_mtime < start.timestamp()
           and "AssetContent" not in p.parts]
    assert all((install / p.relative_to(pc_install)).exists() for p in old)
    assert not list(install.parent.parent.parent.glob(".incoming"))


def test_a_rerun_moves_nothing_for_a_pc_whose_app_is_not_running(fleet, ct1_archive):
    archive, _, _ = ct1_archive
    school = folder(archive, fleet, "ct1-pc02")
    before = {k: v for k, v in manifest(school)["files"].items() if k.startswith("unplatform/pc02/")}
    proc = collect(fleet, archive, "-l", "1011001-ct1-pc02")
    assert proc.returncode == 0, ok(proc)
    m = manifest(school)
    assert {k: v for k, v in m["files"].items() if k.startswith("unplatform/pc02/")} == before
    rows = {(r["school"], r["item"]): r["status"] for r in latest_report(archive)["rows"]}
    assert rows == {("1011001-ct1-pc02", "unplatform/pc02"): "unchanged"}
    assert "db" in m["items"]  # the server's items stay in the one manifest


def test_a_school_with_lab_pcs_and_no_server(fleet, target_python, tmp_path):
    archive = tmp_path / "clix"
    proc = collect(fleet, archive, "-l", "rj1")
    assert proc.returncode == 0, ok(proc)
    school = folder(archive, fleet, "rj1-pc01")
    m = manifest(school)
    assert m["school"]["hosts"] == ["3051001-rj1-pc01", "3051001-rj1-pc02"]
    v1 = m["items"]["unplatform/pc01"]["details"]["installs"]
    assert [(i["label"], i["layout"]) for i in v1] == [("home-student-CLIx_Unplatform", "v1")]
    copy = school / "unplatform/pc01/home-student-CLIx_Unplatform" / V1_DB
    assert sqlite3.connect("file:%s?mode=ro" % copy, uri=True).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert (school / "unplatform/pc02/opt-clix" / V2_SESSIONS_DB).is_file()
    rows = {r["school"] for r in latest_report(archive)["rows"]}
    assert rows == {"3051001-rj1-pc01", "3051001-rj1-pc02"}


def test_a_config_json_naming_another_school_goes_to_quarantine(fleet, target_python, tmp_path):
    config = fleet.pc_root("rj1-pc02") / "opt/clix" / V2_CONFIG
    original = config.read_bytes()
    doc = json.loads(original)
    config.write_text(json.dumps(dict(doc, schoolId="2031001")))
    try:
        archive = tmp_path / "clix"
        proc = collect(fleet, archive, "-l", "rj1")
        assert proc.returncode != 0  # an identity mismatch is a problem of the run
        quarantine = folder(archive, fleet, "rj1-pc02", "quarantine")
        assert (quarantine / "unplatform/pc02/opt-clix" / V2_SESSIONS_DB).is_file()
        m = manifest(quarantine)
        assert m["school"]["hosts"] == ["3051001-rj1-pc02"]
        assert m["school"]["server_says"]["schoolId"] == '"2031001"'
        assert "identity mismatch" in m["school"]["identity_problem"]
        normal = folder(archive, fleet, "rj1-pc01")
        assert not (normal / "unplatform/pc02").exists()
        assert list(manifest(normal)["items"]) == ["unplatform/pc01"]
        rows = {(r["school"], r["item"]): r["status"] for r in latest_report(archive)["rows"]}
        assert rows[("3051001-rj1-pc02", "(school)")] == "identity mismatch"
    finally:
        config.write_bytes(original)


def test_check_mode_says_what_would_come_and_writes_nothing(fleet, target_python, tmp_path):
    archive = tmp_path / "clix"
    proc = collect(fleet, archive, "-l", "rj1", "--check")
    assert proc.returncode == 0, ok(proc)
    assert not archive.exists()
    staging = fleet.pc_root("rj1-pc02") / "opt/clix-collect/staging"
    assert not staging.exists()
    # The report's matrix: the PC's row with its size on the server under the lab PC column, and the
    # summary says nothing was written.
    row = next(line for line in proc.stdout.splitlines() if line.strip().startswith("3051001-rj1-pc02 "))
    assert re.search(r"\d[KMG]$", row.strip()), row
    assert "1 lab PC" in proc.stdout and "to receive (check mode: nothing written)" in proc.stdout, ok(proc)


def test_a_lab_pc_that_does_not_answer_is_sealed_in_with_its_item_failed(fleet, target_python, tmp_path):
    """The other hosts of the school are collected, and the one manifest names the PC's item failed."""
    inventory = tmp_path / "inventory"
    shutil.copytree(fleet.inventory, inventory)
    hosts_yml = inventory / "ct" / "hosts.yml"
    inv = yaml.safe_load(hosts_yml.read_text())
    inv["ct"]["children"]["ct1"]["hosts"]["1011001-ct1-pc02"]["ansible_port"] = 9  # nothing listens there
    hosts_yml.write_text(yaml.safe_dump(inv))
    archive = tmp_path / "clix"
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                           str(REPO / "collect.yml"), "-l", "ct1", "-e", f"clix_archive_root={archive}",
                           "-e", "clix_connect_timeout=5"],
                          cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0, ok(proc)
    m = manifest(folder(archive, fleet, "ct1-pc02"))
    assert m["items"]["unplatform/pc02"]["status"] == "failed" and m["items"]["unplatform/pc01"]["status"] == "ok"
    assert m["items"]["db"]["status"] == "ok"
    rows = {(r["school"], r["item"]): r["status"] for r in latest_report(archive)["rows"]}
    assert rows[("1011001-ct1-pc02", "(school)")] == "unreachable"
    assert rows[("1011001-ct1-pc02", "unplatform/pc02")] == "failed"


def test_a_server_folder_named_like_a_lab_pc_never_lands_in_that_pcs_folder(fleet, target_python, tmp_path):
    """The server's own unplatform item shares unplatform/ with its school's lab PCs: a folder pc01/
    on the server is left out (the PCs known from the inventory, the server collected alone)."""
    shared = fleet.core("ct1") / "unplatform"
    (shared / "pc01").mkdir()
    (shared / "pc01" / "server.json").write_text("{}")
    (shared / "data" / "pc01").mkdir()
    (shared / "data" / "pc01" / "kept.json").write_text("{}")
    try:
        archive = tmp_path / "clix"
        proc = collect(fleet, archive, "-l", "1011001-ct1", "--tags", "unplatform")
        assert proc.returncode == 0, ok(proc)
        school = folder(archive, fleet, "ct1-pc01")
        assert (school / "unplatform/data/unplatform.db").is_file() and (school / "unplatform/data/pc01/kept.json").is_file()
        assert not (school / "unplatform/pc01").exists()
        assert not any(f.startswith("unplatform/pc01/") for f in manifest(school)["files"])
    finally:
        shutil.rmtree(shared / "pc01")
        shutil.rmtree(shared / "data" / "pc01")
