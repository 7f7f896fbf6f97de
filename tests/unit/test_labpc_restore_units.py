"""A lab PC's restore, on real files: the archived sessions database (the project's fold of the PC's) goes
back in unplatform's own schema and journal mode, row by row; the archive's install folders are taken by
name and never through a link; the PC's install is refused when it holds data, names another school or
lacks room, and its database is replaced whole (temp name, rename, the old WAL gone); the app's processes
are stopped and started again as they ran."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ansible.module_utils import clix_unplatform as U
from ansible.module_utils.clix_identity import shown
from library_module import library_module, run_module

from fleet import unplatform as gen

export = library_module("clix_unplatform_export")
restore = library_module("clix_unplatform_restore")
app = library_module("clix_unplatform_app")

SCHOOL, PC = "1011001", "pc01"
# What sqlite_master holds after session_migration.py ran sql/session_schema.sql: SQLite writes its first
# words as CREATE TABLE and keeps the rest of the text as it was.
UNPLATFORMS = "CREATE TABLE" + U.UNPLATFORM_SESSIONS_SQL[len("create table"):]


def rows(path: Path) -> list:
    con = sqlite3.connect("file:%s?mode=ro&immutable=1" % path, uri=True)  # makes no -wal beside it
    try:
        return con.execute("SELECT session_id, atime, data, typeof(atime) FROM sessions ORDER BY rowid").fetchall()
    finally:
        con.close()


def schema(path: Path) -> str:
    con = sqlite3.connect("file:%s?mode=ro&immutable=1" % path, uri=True)  # makes no -wal beside it
    try:
        return con.execute("SELECT group_concat(sql, ';') FROM sqlite_master").fetchone()[0]
    finally:
        con.close()


def archived_install(tmp_path: Path, sessions: int = 12) -> tuple:
    """A PC's install and its archived copy as collect makes it: the sessions folded into the project's
    schema (merge_sessions), the JSON folders copied."""
    pc = gen.generate(tmp_path / "pc" / "opt" / "clix", "restore-unit", sessions, school_code=SCHOOL, pc=PC)
    install = tmp_path / "archive" / "unplatform" / PC / "opt-clix"
    install.mkdir(parents=True)
    U.merge_sessions(None, str(pc.root / U.V2_SESSIONS_DB), str(install / U.V2_SESSIONS_DB))
    for rel, kind in U.LABPC_PARTS["v2"]:
        if kind == "json":
            shutil.copytree(pc.root / rel, install / rel)
    return pc, install


def test_the_archived_database_goes_back_in_unplatforms_own_schema_and_journal_row_by_row(tmp_path):
    pc, install = archived_install(tmp_path)
    archived = install / U.V2_SESSIONS_DB
    assert schema(archived) == U.SESSIONS_SCHEMA  # the project's, not unplatform's text
    out = tmp_path / "out.sqlite3"
    assert U.unplatform_sessions(str(archived), str(out)) == 12
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == ["out.sqlite3"]  # no -wal
    assert out.read_bytes()[18:20] == b"\x02\x02"  # WAL, as main.py sets it
    assert schema(out) == UNPLATFORMS  # sql/session_schema.sql as session_migration.py runs it
    assert rows(out) == rows(pc.root / U.V2_SESSIONS_DB)
    assert {r[3] for r in rows(out)} == {"text"}


def test_an_archived_database_that_is_no_sessions_database_is_not_converted(tmp_path):
    bad = tmp_path / "bad.sqlite3"
    con = sqlite3.connect(bad)
    con.execute("CREATE TABLE other (a)")
    con.close()
    with pytest.raises(U.UntrustedDatabaseError):
        U.unplatform_sessions(str(bad), str(tmp_path / "out.sqlite3"))


def test_the_export_takes_installs_by_name_never_through_a_link(tmp_path, monkeypatch, capsys):
    _, install = archived_install(tmp_path)
    pcdir = install.parent
    (pcdir / "home-x").symlink_to(install)
    (pcdir / ".hidden").mkdir()
    v1 = pcdir / "home-student-CLIx_Unplatform" / U.V1_DB
    v1.parent.mkdir(parents=True)
    v1.write_bytes(b"")
    args = {"archive": str(pcdir), "dest": str(tmp_path / "work")}
    checked = run_module(export, args, monkeypatch, capsys, check=True)
    assert not (tmp_path / "work").exists()
    result = run_module(export, args, monkeypatch, capsys)
    for done in (checked, result):
        assert [i["label"] for i in done["installs"]] == ["opt-clix"]
        left_out = [shown(n) for n in (".hidden", "home-student-CLIx_Unplatform", "home-x")]
        assert sorted(x["name"] for x in done["left_out"]) == left_out
        parts = {p["rel"]: p for p in done["installs"][0]["parts"]}
        assert set(parts) == {os.path.dirname(U.V2_CONFIG), U.V2_USER_DATA, U.V2_DATASTORE}
        assert parts[U.V2_USER_DATA]["files"] == 12
        assert done["installs"][0]["database"]["sessions"] == 12
    db = result["installs"][0]["database"]
    assert db["path"] == str(tmp_path / "work" / "opt-clix" / U.V2_SESSIONS_DB) and schema(Path(db["path"])) == UNPLATFORMS


def pc_params(root: Path, **extra) -> dict:
    return dict({"installs": [{"label": U.install_label(str(root)), "bytes": 1000}], "school_code": SCHOOL, "pc": PC,
                 "roots": [str(root)], "search": []}, **extra)


def test_an_install_holding_data_is_refused_unless_overwrite_and_nothing_changes(tmp_path, monkeypatch, capsys):
    pc = gen.generate(tmp_path / "clix", "restore-unit", 5, school_code=SCHOOL, pc=PC)
    before = sorted((p, p.stat().st_mtime_ns) for p in pc.root.rglob("*"))
    refused = run_module(restore, pc_params(pc.root), monkeypatch, capsys)
    assert refused["failed"]
    assert "holds data (5 sessions in unplatform.sqlite3, 5 files in webapps/unplatform/user_data" in refused["msg"]
    assert "-e clix_restore_overwrite=true" in refused["msg"]
    assert sorted((p, p.stat().st_mtime_ns) for p in pc.root.rglob("*")) == before
    accepted = run_module(restore, pc_params(pc.root, overwrite=True), monkeypatch, capsys, check=True)
    assert not accepted.get("failed") and accepted["installs"][0]["holds"][0] == "5 sessions in unplatform.sqlite3"


def test_a_fresh_install_is_accepted_and_another_schools_or_a_full_disk_refused(tmp_path, monkeypatch, capsys):
    fresh = gen.generate(tmp_path / "clix", "restore-unit", 0, config=False)
    done = run_module(restore, pc_params(fresh.root), monkeypatch, capsys, check=True)
    assert not done.get("failed") and done["installs"][0]["holds"] == []
    assert done["installs"][0]["parts"][U.V2_DATASTORE]["path"] == str(fresh.root / U.V2_DATASTORE)
    gen.write_config(fresh.root, "2031001", PC)
    other = run_module(restore, pc_params(fresh.root), monkeypatch, capsys, check=True)
    assert other["failed"] and 'but its %s says schoolId "2031001"' % U.V2_CONFIG in other["msg"]
    gen.write_config(fresh.root, SCHOOL, PC)
    full = run_module(restore, pc_params(fresh.root, installs=[{"label": U.install_label(str(fresh.root)),
                                                                "bytes": 1 << 60}]), monkeypatch, capsys, check=True)
    assert full["failed"] and "not enough free space on this PC" in full["msg"]
    missing = run_module(restore, pc_params(fresh.root, installs=[{"label": "opt-clix", "bytes": 1}]), monkeypatch,
                         capsys, check=True)
    assert missing["failed"] and "install unplatform there first" in missing["msg"]


def test_the_database_is_replaced_whole_and_the_old_wal_never_replayed(tmp_path):
    fresh = gen.generate(tmp_path / "clix", "restore-unit", 0, config=False)
    target = fresh.root / U.V2_SESSIONS_DB
    target.chmod(0o666)
    Path(str(target) + "-wal").write_bytes(b"stale")
    _, install = archived_install(tmp_path)
    staged = tmp_path / "staged.sqlite3"
    U.unplatform_sessions(str(install / U.V2_SESSIONS_DB), str(staged))
    with pytest.raises(U.UnplatformError, match="sha256 differs"):
        restore.place(str(fresh.root), str(staged), "0" * 64)
    assert rows(target) == [] and Path(str(target) + "-wal").exists()
    restore.place(str(fresh.root), str(staged), restore.sha256_file(str(staged)))
    assert rows(target) == rows(staged) and len(rows(target)) == 12
    assert not Path(str(target) + "-wal").exists() and (target.stat().st_mode & 0o777) == 0o666
    assert [p.name for p in fresh.root.iterdir() if p.name.startswith(".")] == []


def test_the_module_makes_the_folders_a_fresh_install_lacks_and_puts_the_database_in_place(tmp_path, monkeypatch, capsys):
    fresh = gen.generate(tmp_path / "clix", "restore-unit", 0, config=False)
    (fresh.root / "webapps").chmod(0o777)
    assert not (fresh.root / U.V2_USER_DATA).exists()
    _, install = archived_install(tmp_path)
    label = U.install_label(str(fresh.root))
    (tmp_path / "staged" / label).mkdir(parents=True)
    staged = tmp_path / "staged" / label / U.V2_SESSIONS_DB
    U.unplatform_sessions(str(install / U.V2_SESSIONS_DB), str(staged))
    args = pc_params(fresh.root, staged=str(tmp_path / "staged"),
                     installs=[{"label": label, "bytes": 1, "database": {"sha256": restore.sha256_file(str(staged))}}])
    assert run_module(restore, args, monkeypatch, capsys, check=True)["placed"] == []
    assert not (fresh.root / U.V2_USER_DATA).exists() and rows(fresh.root / U.V2_SESSIONS_DB) == []
    done = run_module(restore, args, monkeypatch, capsys)
    assert done["placed"] == [label] and len(rows(fresh.root / U.V2_SESSIONS_DB)) == 12
    for rel in (U.V2_USER_DATA, os.path.dirname(U.V2_CONFIG)):
        assert ((fresh.root / rel).stat().st_mode & 0o777) == 0o777  # as webapps/ above them
    assert done["installs"][0]["parts"][U.V2_USER_DATA]["chmod"] == "D0777,F0666"


def test_the_apps_processes_are_stopped_and_started_again_as_they_ran(tmp_path, monkeypatch, capsys):
    install = tmp_path / "clix"
    install.mkdir()
    (install / "db").write_text("")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; f = open(sys.argv[1]); time.sleep(60)",
                               str(install / "db"), "ärg"], cwd=tmp_path, start_new_session=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    staging = tmp_path / "staging"
    args = {"record": str(staging / "app.json"), "staging_dir": str(staging), "roots": [str(install)]}
    started = []
    try:
        time.sleep(0.5)
        seen = run_module(app, dict(args, state="stopped"), monkeypatch, capsys, check=True)
        assert [p["pid"] for p in seen["processes"]] == [holder.pid] and holder.poll() is None
        stopped = run_module(app, dict(args, state="stopped"), monkeypatch, capsys)
        assert stopped["changed"] and [p["pid"] for p in stopped["processes"]] == [holder.pid]
        assert holder.wait(5) is not None and other.poll() is None
        assert ((staging / "app.json").stat().st_mode & 0o777) == 0o600
        again = run_module(app, dict(args, state="started"), monkeypatch, capsys)
        started = [p["pid"] for p in again["processes"]]
        assert len(started) == 1 and not (staging / "app.json").exists()
        assert Path("/proc/%d/cmdline" % started[0]).read_bytes().split(b"\0")[-2] == "ärg".encode()
        assert os.readlink("/proc/%d/cwd" % started[0]) == str(tmp_path)
        assert run_module(app, dict(args, state="started"), monkeypatch, capsys)["processes"] == []
        with monkeypatch.context() as m:  # not root: the app could not be seen, so it is never taken for stopped
            m.setattr(os, "geteuid", lambda: 1000)
            assert run_module(app, dict(args, state="stopped"), m, capsys, check=True)["failed"]
    finally:
        for pid in started:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        for proc in (holder, other):
            proc.kill()
            proc.wait()
