"""Collecting a lab PC: clix_unplatform on the PC (installs found, the sessions database backed up
with its WAL while the app holds it open, config.json read as data, versions) and clix_pull's
lab-PC kinds on the control node (JSON files parsed, torn ones pulled again and never archived,
sessions folded into the archived copy), with real rsync through a local stand-in for ssh."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from ansible.module_utils import clix_rsync
from ansible.module_utils.clix_unplatform import (
    SESSIONS_SCHEMA,
    V1_DB,
    V2_CONFIG,
    V2_DATASTORE,
    V2_SESSIONS_DB,
    V2_USER_DATA,
    layout_of,
)
from library_module import library_module, run_module

LOCAL_RSH = Path(__file__).parent / "data" / "local-rsh"

clix_unplatform = library_module("clix_unplatform")
clix_pull = library_module("clix_pull")


def new_db(path: Path, sessions: dict) -> sqlite3.Connection:
    """unplatform's sessions database in WAL mode, with the sessions committed but left in the WAL
    (checkpoints off, the connection kept open as the running app keeps it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("CREATE TABLE sessions (session_id CHAR(128) UNIQUE NOT NULL, atime TIMESTAMP NOT NULL "
                "DEFAULT current_timestamp, data TEXT)")
    for sid, atime in sessions.items():
        con.execute("INSERT INTO sessions VALUES (?, ?, ?)", (sid, atime, "data-%s" % sid))
    return con


def sessions_of(path: Path) -> dict:
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return dict(con.execute("SELECT session_id, atime FROM sessions"))
    finally:
        con.close()


def v2_install(root: Path, config: dict | None = None) -> sqlite3.Connection:
    datastore = root / V2_DATASTORE
    (datastore / "logging" / "LogEntry").mkdir(parents=True)
    (datastore / "logging" / "LogEntry" / "a.json").write_text(json.dumps({"text": {"text": "ok"}}))
    (datastore / "repository" / "AssetContent").mkdir(parents=True)
    (datastore / "repository" / "AssetContent" / "movie.mp4").write_bytes(b"media")
    (root / V2_USER_DATA).mkdir(parents=True)
    (root / V2_USER_DATA / "s1.json").write_text(json.dumps({"username": "राम"}))
    if config is not None:
        (root / V2_CONFIG).parent.mkdir(parents=True, exist_ok=True)
        (root / V2_CONFIG).write_text(json.dumps(config))
    return new_db(root / V2_SESSIONS_DB, {"s1": "2026-01-01 10:00:00", "s2": "2026-01-02 10:00:00"})


@pytest.fixture
def pc(tmp_path):
    """A lab PC's tree: a v2 install (the app's connection open, sessions in the WAL) and a v1 one."""
    v2 = tmp_path / "opt" / "clix"
    con = v2_install(v2, {"schoolId": "2031001", "terminalId": "pc01", "state": "mz"})
    v1 = tmp_path / "home" / "teacher" / "CLIx-2016"
    (v1 / "unplatform").mkdir(parents=True)
    sqlite3.connect(v1 / V1_DB).execute("CREATE TABLE django_session (k TEXT)").connection.commit()
    (v1 / "unplatform" / "debug.log").write_text("log\n")
    yield tmp_path, con
    con.close()


@pytest.fixture(autouse=True)
def install_root(tmp_path, monkeypatch):
    """The module always checks /opt/clix: here the test's own."""
    monkeypatch.setattr(clix_unplatform, "INSTALL_ROOT", str(tmp_path / "opt" / "clix"))


def args(tmp: Path, **more) -> dict:
    return dict(dict(dest=str(tmp / "staging" / "unplatform"), staging_dir=str(tmp / "staging"),
                     search=[str(tmp / "home")], dpkg_status=str(tmp / "no-dpkg-status")), **more)


def test_the_sessions_in_the_wal_are_in_the_staged_copy_which_stands_alone(pc, monkeypatch, capsys):
    tmp, _app = pc
    assert (tmp / "opt" / "clix" / (V2_SESSIONS_DB + "-wal")).stat().st_size > 0  # the sessions are in the WAL
    result = run_module(clix_unplatform, args(tmp), monkeypatch, capsys)
    v2 = next(i for i in result["installs"] if i["layout"] == "v2")
    staged = Path(v2["database"]["path"])
    assert v2["sessions"] == 2
    assert sessions_of(staged) == {"s1": "2026-01-01 10:00:00", "s2": "2026-01-02 10:00:00"}
    assert sorted(p.name for p in staged.parent.iterdir()) == [V2_SESSIONS_DB]  # no -wal, -shm beside it
    mode = sqlite3.connect(staged).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "delete"
    assert v2["pull"][0] == dict(name="%s/%s" % (v2["label"], V2_SESSIONS_DB), src=str(staged), dest=V2_SESSIONS_DB,
                                 kind="sessions", expect={V2_SESSIONS_DB: v2["database"]["sha256"]}, exclude=[])


def test_every_install_is_found_with_its_layout_and_what_to_pull(pc, monkeypatch, capsys):
    tmp, _ = pc
    result = run_module(clix_unplatform, args(tmp), monkeypatch, capsys)
    found = {i["path"]: (i["label"], i["layout"]) for i in result["installs"]}
    v1 = str(tmp / "home" / "teacher" / "CLIx-2016")
    assert found == {str(tmp / "opt" / "clix"): ("%s-opt-clix" % str(tmp)[1:].replace("/", "-"), "v2"),
                     v1: ("%s-home-teacher-CLIx-2016" % str(tmp)[1:].replace("/", "-"), "v1")}
    v2 = next(i for i in result["installs"] if i["layout"] == "v2")
    kinds = {item["dest"]: (item["kind"], item["exclude"]) for item in v2["pull"]}
    assert kinds == {V2_SESSIONS_DB: ("sessions", []), os.path.dirname(V2_CONFIG): ("json", []),
                     V2_USER_DATA: ("json", []), V2_DATASTORE: ("json", ["/repository/AssetContent/"])}
    assert v2["user_data"] == 1
    assert result["config"] == {"schoolId": "2031001", "terminalId": "pc01", "state": "mz"}
    old = next(i for i in result["installs"] if i["layout"] == "v1")
    assert {item["dest"]: item["kind"] for item in old["pull"]} == {V1_DB: "sessions", "unplatform/debug.log": "file"}
    assert old["sessions"] is None and old["database"]["size"] > 0


def test_asset_content_is_pulled_only_when_asked(pc, monkeypatch, capsys):
    tmp, _ = pc
    result = run_module(clix_unplatform, args(tmp, asset_content=True), monkeypatch, capsys)
    v2 = next(i for i in result["installs"] if i["layout"] == "v2")
    assert all(item["exclude"] == [] for item in v2["pull"])


def test_a_torn_or_missing_config_is_a_note_and_a_link_is_not_read(tmp_path, monkeypatch, capsys):
    root = tmp_path / "opt" / "clix"
    v2_install(root).close()
    (root / V2_CONFIG).parent.mkdir(parents=True)
    result = run_module(clix_unplatform, args(tmp_path), monkeypatch, capsys)
    assert result["config"] is None and result["installs"][0]["notes"] == ["%s missing" % V2_CONFIG]
    (root / V2_CONFIG).write_text('{"schoolId": "20')
    result = run_module(clix_unplatform, args(tmp_path, json_tries=3, json_wait=0), monkeypatch, capsys)
    assert result["installs"][0]["notes"] == ["%s torn: did not parse in 3 reads" % V2_CONFIG]
    (root / V2_CONFIG).unlink()
    (root / V2_CONFIG).symlink_to("/etc/passwd")
    (root / V2_SESSIONS_DB).rename(root / "elsewhere.sqlite3")
    (root / V2_SESSIONS_DB).symlink_to(root / "elsewhere.sqlite3")
    result = run_module(clix_unplatform, args(tmp_path), monkeypatch, capsys)
    notes = result["installs"][0]["notes"]
    assert notes == ["%s is not a regular file: not read" % V2_SESSIONS_DB,
                     "%s is a symbolic link, not a regular file: not read" % V2_CONFIG]
    assert result["installs"][0]["database"] is None


def test_a_config_rewritten_while_read_is_read_again(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    path.write_text('{"schoolId": "203')
    monkeypatch.setattr(clix_unplatform.time, "sleep", lambda _s: path.write_text('{"schoolId": "2031001"}'))
    assert clix_unplatform.read_json(str(path), 5, 0.1) == ({"schoolId": "2031001"}, None)


def test_versions_from_a_version_file_or_the_debian_package(pc, monkeypatch, capsys):
    tmp, _ = pc
    status = tmp / "dpkg-status"
    status.write_text("Package: other\nStatus: install ok installed\nVersion: 9\n\n"
                      "Package: clix\nStatus: install ok installed\nVersion: 2.1.0-1\n")
    result = run_module(clix_unplatform, args(tmp, dpkg_status=str(status)), monkeypatch, capsys)
    v2 = next(i for i in result["installs"] if i["layout"] == "v2")
    assert (v2["version"], v2["version_source"]) == ("2.1.0-1", "dpkg:clix")
    (tmp / "opt" / "clix" / "VERSION").write_text("v2.0.3\n")
    result = run_module(clix_unplatform, args(tmp, dpkg_status=str(status)), monkeypatch, capsys)
    v2 = next(i for i in result["installs"] if i["layout"] == "v2")
    assert (v2["version"], v2["version_source"]) == ("v2.0.3", str(tmp / "opt" / "clix" / "VERSION"))


def test_check_mode_counts_and_stages_nothing(pc, monkeypatch, capsys):
    tmp, _ = pc
    result = run_module(clix_unplatform, args(tmp), monkeypatch, capsys, check=True)
    v2 = next(i for i in result["installs"] if i["layout"] == "v2")
    assert v2["sessions"] == 2 and [i["kind"] for i in v2["pull"]] == ["json"] * 3 and not result["changed"]
    assert not (tmp / "staging").exists()


# --- the control node's side: clix_pull's json and sessions kinds ---------------------------------


@pytest.fixture(autouse=True)
def local_rsync(monkeypatch):
    monkeypatch.setattr(clix_rsync, "ssh_command", lambda p: str(LOCAL_RSH))


def pull(root: Path, *items: dict, tries: int = 3) -> list:
    full = [dict(dict(kind="json", redact=False, error=None, expect={}, exclude=[]), **item) for item in items]
    p = dict(host="pc", port=22, user=None, private_key=None, ssh_args="", connection="ssh", root=str(root),
             items=full, bwlimit=0, compress=False, timeout=30, connect_timeout=5, rsync_path="rsync",
             progress_seconds=0, json_tries=tries, json_wait=0, json_limit=1 << 20, retries=0, retry_seconds=0)
    return clix_pull.pull_all(p, False, None)


def datastore(tmp: Path) -> Path:
    src = tmp / "pc" / "datastore"
    for rel, text in {"logging/LogEntry/a.json": '{"a": 1}', "logging/LogEntry/b.json": '{"b": 1}',
                      "assessment/AssessmentTaken/t.json": '{"t": 1}', "studentResponseFiles/x.mp3": "audio",
                      "repository/AssetContent/big.mp4": "media"}.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    return src


def tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_datastore_lands_whole_without_excluded_media_and_a_rerun_moves_nothing(tmp_path):
    src, root = datastore(tmp_path), tmp_path / "school"
    item = dict(name="ds", src=str(src) + "/", dest="unplatform/pc01/opt-clix/ds", exclude=["/repository/AssetContent/"])
    result = pull(root, item)[0]
    final = root / "unplatform/pc01/opt-clix/ds"
    assert result["status"] == "ok" and result["torn"] == [] and result["json_files"] == 3
    assert tree(final) == {"logging/LogEntry/a.json": '{"a": 1}', "logging/LogEntry/b.json": '{"b": 1}',
                           "assessment/AssessmentTaken/t.json": '{"t": 1}', "studentResponseFiles/x.mp3": "audio"}
    assert not (root / ".incoming").exists()
    again = pull(root, item)[0]
    assert (again["files_transferred"], again["json_files"], again["source_files"]) == (0, 0, 4)
    (src / "logging/LogEntry/a.json").write_text('{"a": 2}')
    (src / "logging/LogEntry/a.json").touch()
    os.utime(src / "logging/LogEntry/a.json", (1e9, 1e9))
    third = pull(root, item)[0]
    assert third["json_files"] == 1 and tree(final)["logging/LogEntry/a.json"] == '{"a": 2}'
    assert not (root / ".incoming").exists()


def test_a_file_that_stays_torn_is_never_archived_and_the_archived_version_is_kept(tmp_path):
    src, root = datastore(tmp_path), tmp_path / "school"
    item = dict(name="ds", src=str(src) + "/", dest="ds")
    pull(root, item)
    (src / "logging/LogEntry/a.json").write_text('{"a": 2, "tor')
    (src / "logging/LogEntry/new.json").write_text('{"ne')
    result = pull(root, item, tries=3)[0]
    assert result["torn"] == ["logging/LogEntry/a.json", "logging/LogEntry/new.json"]
    assert "2 JSON file(s) never parsed" in result["reason"]
    assert tree(root / "ds")["logging/LogEntry/a.json"] == '{"a": 1}'
    assert not (root / "ds" / "logging/LogEntry/new.json").exists()
    assert not (root / ".incoming").exists()


def test_a_torn_file_is_pulled_again_until_it_parses(tmp_path, monkeypatch):
    src, root = datastore(tmp_path), tmp_path / "school"
    (src / "logging/LogEntry/a.json").write_text('{"a": 1, "b"')
    waits = []

    def the_app_finishes_writing(_seconds):
        waits.append(_seconds)
        (src / "logging/LogEntry/a.json").write_text('{"a": 1, "b": 2}')
    monkeypatch.setattr(clix_pull.time, "sleep", the_app_finishes_writing)
    result = pull(root, dict(name="ds", src=str(src) + "/", dest="ds"))[0]
    assert result["torn"] == [] and len(waits) == 1
    assert tree(root / "ds")["logging/LogEntry/a.json"] == '{"a": 1, "b": 2}'


def sessions_item(staged: Path, digest: str | None = None) -> dict:
    return dict(name="db", src=str(staged), dest="unplatform/pc01/opt-clix/unplatform.sqlite3", kind="sessions",
                expect={"unplatform.sqlite3": digest or clix_pull.sha256_file(str(staged))})


def test_sessions_are_folded_into_the_archived_copy_never_lost(tmp_path):
    root, staged = tmp_path / "school", tmp_path / "pc" / "unplatform.sqlite3"
    new_db(staged, {"s1": "2026-01-01", "s2": "2026-01-02"}).close()
    first = pull(root, sessions_item(staged))[0]
    archived = root / "unplatform/pc01/opt-clix/unplatform.sqlite3"
    assert first["status"] == "ok" and sessions_of(archived) == {"s1": "2026-01-01", "s2": "2026-01-02"}
    staged.unlink()
    new_db(staged, {"s2": "2026-01-05", "s3": "2026-01-03"}).close()  # a re-installed PC: s1 is gone
    second = pull(root, sessions_item(staged))[0]
    assert second["sessions"] == dict(added=1, updated=1, kept=1, skipped=0, dropped=0) and second["files_transferred"] == 1
    assert sessions_of(archived) == {"s1": "2026-01-01", "s2": "2026-01-05", "s3": "2026-01-03"}
    assert sorted(p.name for p in archived.parent.iterdir()) == ["unplatform.sqlite3"]
    third = pull(root, sessions_item(staged))[0]
    assert third["files_transferred"] == 0


def db_with(path: Path, *statements: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()
    return path


SESSIONS_TABLE = ("CREATE TABLE sessions (session_id CHAR(128) UNIQUE NOT NULL, atime TIMESTAMP NOT NULL, data TEXT)")
EMPTIES_THE_TABLE = "CREATE TRIGGER empty AFTER INSERT ON sessions BEGIN DELETE FROM sessions; END"


@pytest.mark.parametrize("statements, why", [
    (("CREATE TABLE other (x)",), "no sessions table"),  # a re-installed app not yet started, a damaged file
    (("CREATE VIEW sessions AS WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
      "SELECT x AS session_id, x AS atime, x AS data FROM n",), "view 'sessions'"),  # endless, too
    ((SESSIONS_TABLE, EMPTIES_THE_TABLE, "INSERT INTO sessions VALUES ('s9', '2026-02-01', 'x')"), "trigger 'empty'"),
])
def test_a_staged_copy_that_is_not_a_plain_sessions_database_fails_the_item_and_the_archive_stays(tmp_path, statements,
                                                                                                   why):
    root, staged = tmp_path / "school", tmp_path / "pc" / "unplatform.sqlite3"
    new_db(staged, {"s1": "2026-01-01", "s2": "2026-01-02"}).close()
    assert pull(root, sessions_item(staged))[0]["status"] == "ok"
    archived = root / "unplatform/pc01/opt-clix/unplatform.sqlite3"
    before = archived.read_bytes()
    staged.unlink()
    db_with(staged, *statements)
    result = pull(root, sessions_item(staged))[0]
    assert result["status"] == "failed" and why in result["reason"] and "archived copy is kept" in result["reason"]
    assert archived.read_bytes() == before and sorted(p.name for p in archived.parent.iterdir()) == [archived.name]


def test_the_archive_holds_a_database_of_the_projects_schema_and_an_archived_trigger_never_fires(tmp_path):
    root, staged = tmp_path / "school", tmp_path / "pc" / "unplatform.sqlite3"
    archived = root / "unplatform/pc01/opt-clix/unplatform.sqlite3"
    # placed by an older clix-collect as a stick held it: a trigger that empties the table on any insert
    db_with(archived, SESSIONS_TABLE, "INSERT INTO sessions VALUES ('s1', '2026-01-01', 'a')", EMPTIES_THE_TABLE)
    new_db(staged, {"s2": "2026-01-02"}).close()
    result = pull(root, sessions_item(staged))[0]
    assert result["status"] == "ok" and result["sessions"] == dict(added=1, updated=0, kept=1, skipped=0, dropped=1)
    assert sessions_of(archived) == {"s1": "2026-01-01", "s2": "2026-01-02"}
    con = sqlite3.connect("file:%s?mode=ro" % archived, uri=True)
    assert con.execute("SELECT type, sql FROM sqlite_master").fetchall() == [
        ("table", SESSIONS_SCHEMA), ("index", None)]
    con.close()


def test_a_staged_database_that_does_not_match_is_refused(tmp_path):
    root, staged = tmp_path / "school", tmp_path / "pc" / "unplatform.sqlite3"
    new_db(staged, {"s1": "2026-01-01"}).close()
    result = pull(root, sessions_item(staged, "0" * 64))[0]
    assert result["status"] == "failed" and "differs from what the lab PC staged" in result["reason"]
    assert not (root / "unplatform").exists()


def test_a_staged_copy_of_a_v1_install_is_not_taken_for_an_install(pc, monkeypatch, capsys):
    tmp, _ = pc
    deep = args(tmp, search=[str(tmp)], search_depth=8)
    first = run_module(clix_unplatform, deep, monkeypatch, capsys)
    second = run_module(clix_unplatform, deep, monkeypatch, capsys)
    assert [i["path"] for i in second["installs"]] == [i["path"] for i in first["installs"]]
    assert len(second["installs"]) == 2


def test_an_install_and_its_version_are_told_by_its_marks_never_through_a_link(tmp_path):
    """module_utils' layout_of, the one rule the collection, the heartbeat, the ingest and the
    derive tell an install by: any of v2's marks, else v1's database; a link at a mark's name
    counts (the install is found and the link reported), a link on the way never does."""
    for mark in (V2_SESSIONS_DB, V2_DATASTORE, V2_USER_DATA):
        root = tmp_path / mark.replace("/", "_")
        (root / mark).parent.mkdir(parents=True, exist_ok=True)
        (root / mark).mkdir() if mark != V2_SESSIONS_DB else (root / mark).write_bytes(b"")
        assert layout_of(str(root)) == "v2", mark
        (root / "unplatform").mkdir()
        (root / V1_DB).write_bytes(b"")
        assert layout_of(str(root)) == "v2", "v2's marks win over v1's database"
    v1 = tmp_path / "v1"
    (v1 / "unplatform").mkdir(parents=True)
    (v1 / V1_DB).write_bytes(b"")
    assert layout_of(str(v1)) == "v1"
    assert layout_of(str(tmp_path / "nothing")) is None and layout_of(str(tmp_path / "v1" / "unplatform")) is None
    os.symlink(v1, tmp_path / "linked-root")
    assert layout_of(str(tmp_path / "linked-root")) is None
    linked = tmp_path / "linked-webapps"
    linked.mkdir()
    os.symlink(tmp_path / V2_DATASTORE.replace("/", "_") / "webapps", linked / "webapps")
    assert layout_of(str(linked)) is None
    at_name = tmp_path / "db-is-a-link"
    at_name.mkdir()
    os.symlink("/etc/passwd", at_name / V2_SESSIONS_DB)
    assert layout_of(str(at_name)) == "v2"
