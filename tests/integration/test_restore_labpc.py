"""`ansible-playbook restore.yml` against the fleet's lab PCs: ct1-pc01 collected, its install wiped to a fresh
one (as the package installs it, the app running), restored and collected again gives the same archive item by
item - the sessions row by row, every other file's sha256 - and its app answers again; ct1-pc02, holding data,
is refused in the same run with nothing on it changed, and does not stop pc01's restore; restored over with
clix_restore_overwrite, what it held is collected first into the archive's replaced/ folder.

pc01's app stand-in runs idle meanwhile (open, nobody using it), so its files stay as collected; it writes again
when the test ends."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

from ansible.module_utils import clix_unplatform as U
from conftest import run_playbook

from fleet import __main__ as fleet_cli
from fleet import hosts
from fleet import unplatform as gen

YEAR = str(datetime.date.today().year)
PC, OTHER = "ct1-pc01", "ct1-pc02"
IDLE = {"CLIX_STANDIN_IDLE": "1"}


def ok(proc: subprocess.CompletedProcess) -> str:
    return f"rc={proc.returncode}\n{proc.stdout[-8000:]}\n{proc.stderr[-3000:]}"


def on_pc(fleet, name: str) -> dict:
    """Every file of the PC's install: its sha256 (the sessions database by its rows and schema)."""
    root = fleet.pc_root(name) / "opt/clix"
    files = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(U.V2_SESSIONS_DB)}
    return dict(files, sessions=rows(root / U.V2_SESSIONS_DB), schema=schema(root / U.V2_SESSIONS_DB))


def rows(db: Path) -> list:
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return con.execute("SELECT session_id, atime, data FROM sessions ORDER BY session_id").fetchall()
    finally:
        con.close()


def schema(db: Path) -> tuple:
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return (con.execute("SELECT sql FROM sqlite_master WHERE name = 'sessions'").fetchone()[0],
                con.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        con.close()


def archived(archive: Path, fleet) -> tuple:
    """(the archived sessions rows, {file: sha256} of the rest) of pc01 in the archive's manifest."""
    pc = fleet.lab_pc(PC)
    school = archive / YEAR / pc.state / f"{pc.school_code}-{pc.server_id}"
    prefix, db = "unplatform/pc01/opt-clix/", "unplatform/pc01/opt-clix/" + U.V2_SESSIONS_DB
    files = json.loads((school / "MANIFEST.json").read_text())["files"]
    return rows(school / db), {k: v["sha256"] for k, v in files.items() if k.startswith(prefix) and k != db}


def app_pid(fleet, name: str = PC) -> int:
    pc = fleet.lab_pc(name)
    found = [p for p in hosts.ns_pids(pc.netns)
             if b"unplatform_writer.py" in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert len(found) == 1, found
    return found[0]


def make_fresh(fleet) -> None:
    """pc01's install as the package installs it: shipped content (the same seed), an empty sessions database."""
    root = fleet.pc_root(PC) / "opt/clix"
    shutil.rmtree(root)
    gen.generate(root, f"{fleet_cli.SEED}-{PC}-v2-app", 0, config=False)


def test_a_wiped_lab_pc_restored_and_collected_again_gives_the_same_archive(fleet, target_python, tmp_path):
    pc, other = fleet.lab_pc(PC), fleet.lab_pc(OTHER)
    both = f"{pc.hostname},{other.hostname}"
    hosts.stop_unplatform_writer(fleet.lab, pc)
    hosts.start_unplatform_writer(fleet.lab, pc, env=IDLE)
    try:
        first = tmp_path / "first"
        proc = run_playbook(fleet, "collect.yml", "-e", f"clix_archive_root={first}", "-l", both)
        assert proc.returncode == 0, ok(proc)
        sessions, files = archived(first, fleet)
        assert len(sessions) >= 100 and len(files) > 900

        hosts.stop_unplatform_writer(fleet.lab, pc)
        make_fresh(fleet)
        hosts.start_unplatform_writer(fleet.lab, pc, env=IDLE)
        fresh, kept, app = on_pc(fleet, PC), on_pc(fleet, OTHER), app_pid(fleet)

        # --check: what would be written, the app that would be stopped; nothing is changed.
        check = run_playbook(fleet, "restore.yml", "-e", f"clix_archive_root={first}", "-l", both, "--check")
        assert check.returncode != 0, ok(check)
        assert f"{pc.hostname}: would be restored (--check)" in check.stdout, ok(check)
        assert "opt-clix/unplatform.sqlite3" in check.stdout and "unplatform_writer.py" in check.stdout
        assert on_pc(fleet, PC) == fresh and app_pid(fleet) == app

        # pc02 holds data: refused, unchanged; pc01 restored all the same, its app stopped and started again.
        done = run_playbook(fleet, "restore.yml", "-e", f"clix_archive_root={first}", "-l", both)
        restarted = app_pid(fleet)
        (fleet.lab.host_dir(pc) / "unplatform-writer.pid").write_text(str(restarted))  # the fleet's to stop
        assert done.returncode != 0, ok(done)
        assert f"{pc.hostname}: restored" in done.stdout, ok(done)
        assert (f"{other.hostname}: this lab PC is not restored (nothing on it was changed): /opt/clix holds data "
                f"({fleet_cli.LAB_PC_SESSIONS} sessions in unplatform.sqlite3") in done.stdout
        assert "clix_restore_overwrite=true" in done.stdout
        table = dict(re.findall(r"^\s*- '?(\S+) +(\S+)", done.stdout, re.M))  # a row per PC: its first cell
        assert re.fullmatch(r"[0-9.]+K", table[pc.hostname]) and table[other.hostname] == "FAIL", table
        assert on_pc(fleet, OTHER) == kept
        assert any(hosts.app_answers(pc)) and restarted != app
        root = fleet.pc_root(PC) / "opt/clix"
        assert schema(root / U.V2_SESSIONS_DB) == ("CREATE TABLE" + U.UNPLATFORM_SESSIONS_SQL[12:], "wal")
        assert not list(root.glob(".*"))  # no temporary name left

        # With overwrite, pc02's data is collected into replaced/<moment>/ first (nothing lost), then restored over.
        hosts.stop_unplatform_writer(fleet.lab, other)
        hosts.start_unplatform_writer(fleet.lab, other, env=IDLE)
        held = on_pc(fleet, OTHER)
        over = run_playbook(fleet, "restore.yml", "-e", f"clix_archive_root={first}", "-l", other.hostname,
                            "-e", "clix_restore_overwrite=true")
        (fleet.lab.host_dir(other) / "unplatform-writer.pid").write_text(str(app_pid(fleet, OTHER)))
        assert over.returncode == 0, ok(over)
        assert f"{other.hostname}: restored" in over.stdout, ok(over)
        [kept] = (first / "replaced").glob(f"*/{YEAR}/{other.state}/{other.school_code}-{other.server_id}")
        assert rows(kept / "unplatform/pc02/opt-clix" / U.V2_SESSIONS_DB) == held["sessions"]
        items = json.loads((kept / "MANIFEST.json").read_text())["items"]
        assert {name: item["status"] for name, item in items.items()} == {"unplatform/pc02": "ok"}, items
        school = first / YEAR / other.state / f"{other.school_code}-{other.server_id}"
        assert on_pc(fleet, OTHER)["sessions"] == rows(school / "unplatform/pc02/opt-clix" / U.V2_SESSIONS_DB)

        second = tmp_path / "second"
        proc = run_playbook(fleet, "collect.yml", "-e", f"clix_archive_root={second}", "-l", pc.hostname)
        assert proc.returncode == 0, ok(proc)
        assert archived(second, fleet) == (sessions, files)
    finally:
        for each in (pc, other):
            hosts.stop_unplatform_writer(fleet.lab, each)
            hosts.start_unplatform_writer(fleet.lab, each)
