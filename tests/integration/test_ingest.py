"""`ansible-playbook ingest.yml`: the field team's USB extractions (tests/usb.py makes them as
DataExtractionScript.bat does) ingested into a temporary archive, with a small inventory of lab PCs
written here. No fleet: ingest runs on the control node only."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import usb
from ansible.module_utils.clix_manifest import differences
from ansible.module_utils.clix_unplatform import V1_DB, V1_LOG
from conftest import REPO, ansible_env

from clix_derive import unplatform as derive_unplatform
from fleet import unplatform

T1 = dt.datetime(2025, 3, 2, 9, 5, 33)  # before 10:00: the script's hour is space-padded
T2 = dt.datetime(2025, 9, 14, 15, 40, 2)
SCHOOL = "2025/mz/2031001-mz1"
INSTALL = "UsersstudentAppDataLocalCLIxCLIx"
PC01 = f"{SCHOOL}/unplatform/pc01/{INSTALL}"
CONFIG = {"state": "mz", "district": "Aizawl", "schoolId": "2031001", "terminalId": "pc01", "locale": "en"}
INVENTORY = """\
all:
  children:
    mz:
      children:
        mz1:
          hosts:
            2031001-mz1-pc01: {clix_platform: unplatform, clix_pc: pc01, school_code: "2031001", school_name: MIZO HS}
            2031001-mz1-pc02: {clix_platform: unplatform, clix_pc: pc02, school_code: "2031001", school_name: MIZO HS}
        mz2:
          hosts:
            2031002-mz2: {school_code: "2031002", school_name: ANOTHER HS}
"""


def playbook(tmp: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    inventory = tmp / "inventory.yml"
    inventory.write_text(INVENTORY)
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(REPO / name), *args]
    return subprocess.run(cmd, cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=300)


def ingest(tmp: Path, source: Path, archive: Path, *extra: str, school: str | None = "2031001-mz1"
           ) -> subprocess.CompletedProcess:
    """ingest.yml of source into archive, for the school (the operator's -e clix_ingest_school)."""
    named = ("-e", f"clix_ingest_school={school}") if school else ()
    return playbook(tmp, "ingest.yml", "-e", f"clix_ingest_from={source}", "-e", f"clix_archive_root={archive}", *named,
                    *extra)


def ok(proc: subprocess.CompletedProcess) -> str:
    return f"rc={proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


def tree(root: Path) -> dict:
    """{relpath: (sha256, mtime_ns)} of every file below root but the reports and the lock."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and "reports" not in p.parts
            and p.name != ".clix-collect.lock"}


def sessions(db: Path) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {r[0]: r[1] for r in con.execute("SELECT session_id, atime FROM sessions")}
    finally:
        con.close()


def manifest(archive: Path, school: str = SCHOOL) -> dict:
    return json.loads((archive / school / "MANIFEST.json").read_text())


def first_install(tmp: Path) -> Path:
    return usb.make_install(tmp / "pc01", T1, {"s1": "2025-03-02 09:00:00", "s2": "2025-03-02 09:01:00"},
                            {"le1": '{"action": "start"}'}, CONFIG, {"s1": "ज़ोरमथांगा", "s2": "Lalṭhangliana"})


def newer_install(install: Path) -> Path:
    """The same PC later: a new session, s1 touched again, le1 rewritten, le2 new, log1 gone."""
    usb.make_install(install, T2, {"s1": "2025-09-14 15:00:00", "s3": "2025-09-14 15:10:00"},
                     {"le1": '{"action": "start", "later": true}', "le2": '{"action": "finish"}'}, CONFIG)
    (install / usb.DATASTORE / "logging/Log/log1.json").unlink()
    usb.write(install / usb.DATASTORE / "assessment/AssessmentTaken/taken1.json", b'{"_id": "taken1", "score": 2}', T2)
    return install


def test_a_zip_made_like_the_field_teams_is_placed_in_the_extractions_year_sealed_and_reported(tmp_path):
    install = first_install(tmp_path)
    zip_path = usb.extract_like_script(install, tmp_path / "usb", T1)
    assert zip_path.name == f"{INSTALL}-QBank-2025-03-02- 9-05-33.zip"
    archive = tmp_path / "archive"
    proc = ingest(tmp_path, tmp_path / "usb", archive)
    assert proc.returncode == 0, ok(proc)
    assert f"INGESTED    '{zip_path.name}' -> {PC01}" in proc.stdout, ok(proc)
    placed = archive / PC01
    for rel in ("webapps/CLIx/datastore/logging/LogEntry/le1.json",
                "webapps/CLIx/datastore/assessment/AssessmentSection/sec1.json",
                "webapps/unplatform/configuration/config.json", "webapps/unplatform/user_data/s1.json"):
        assert (placed / rel).read_bytes() == (install / rel).read_bytes(), rel
    # the datastore's studentResponseFiles travel as repository/AssetContent and come home again
    assert (placed / "webapps/CLIx/datastore/studentResponseFiles/audio1.mp3").read_bytes() == \
        (install / "webapps/CLIx/datastore/studentResponseFiles/audio1.mp3").read_bytes()
    assert not (placed / "webapps/CLIx/datastore/repository/AssetContent").exists()
    assert not (placed / "webapps/CLIx/datastore/assessment/Item").exists()  # the script never copies it
    assert sessions(placed / "unplatform.sqlite3") == sessions(install / "unplatform.sqlite3")
    assert oct(placed.stat().st_mode & 0o777) == "0o700"
    assert oct((placed / "unplatform.sqlite3").stat().st_mode & 0o777) == "0o600"
    m = manifest(archive)
    item = m["items"]["unplatform/pc01"]
    md5 = hashlib.md5(zip_path.read_bytes()).hexdigest()
    assert item["status"] == "ok"
    assert item["details"]["extraction"] == {"zip": zip_path.name, "md5": md5, "time": "2025-03-02T09:05:33"}
    assert item["details"]["config"] == CONFIG
    assert item["details"]["installs"][0]["label"] == INSTALL and item["details"]["installs"][0]["sessions"] == 2
    assert f"unplatform/pc01/{INSTALL}/unplatform.sqlite3" in m["files"]
    assert differences(str(archive / SCHOOL), m) == []
    proc = playbook(tmp_path, "verify.yml", "-e", f"clix_archive_root={archive}", "-e", f"clix_verify_path={archive}")
    assert proc.returncode == 0 and f"{SCHOOL}: {len(m['files'])} files, all match" in proc.stdout, ok(proc)
    assert not list(archive.glob(".clix-ingest-*")), "the temporary folder is left behind"
    report = json.loads(next((archive / "reports").glob("ingest-*.json")).read_text())
    assert [(s["source"], s["status"]) for s in report["sources"]] == [(zip_path.name, "ingested")]


def test_re_ingesting_the_same_zip_changes_nothing_not_even_the_manifest(tmp_path):
    usb.extract_like_script(first_install(tmp_path), tmp_path / "usb", T1)
    archive = tmp_path / "archive"
    assert ingest(tmp_path, tmp_path / "usb", archive).returncode == 0
    before = tree(archive)
    proc = ingest(tmp_path, tmp_path / "usb", archive)
    assert proc.returncode == 0, ok(proc)
    assert "UNCHANGED" in proc.stdout and "0 added, 0 replaced" in proc.stdout, ok(proc)
    assert tree(archive) == before


def test_a_newer_extraction_adds_what_is_new_and_an_older_one_never_replaces_newer_files(tmp_path):
    install = first_install(tmp_path)
    old_zip = usb.extract_like_script(install, tmp_path / "old", T1)
    install_v1 = tmp_path / "le1-as-first-extracted"
    install_v1.mkdir()
    (install_v1 / "le1.json").write_bytes((install / usb.DATASTORE / "logging/LogEntry/le1.json").read_bytes())
    old_sessions = sessions(install / "unplatform.sqlite3")
    new_zip = usb.extract_like_script(newer_install(install), tmp_path / "new", T2)
    results = {}
    for order in (("old", "new"), ("new", "old")):
        archive = tmp_path / ("archive-" + "-".join(order))
        for name in order:
            proc = ingest(tmp_path, tmp_path / name, archive)
            assert proc.returncode == 0, ok(proc)
        placed = archive / PC01
        log = placed / "webapps/CLIx/datastore/logging"
        assert json.loads((log / "LogEntry/le1.json").read_text())["text"]["text"].endswith("true}"), order
        assert (log / "LogEntry/le2.json").is_file() and (log / "Log/log1.json").is_file(), order
        taken = placed / "webapps/CLIx/datastore/assessment/AssessmentTaken/taken1.json"
        assert json.loads(taken.read_text())["score"] == 2, order  # same size, other bytes, newer
        assert (placed / "webapps/unplatform/user_data/s1.json").is_file(), order
        got = sessions(placed / "unplatform.sqlite3")
        assert got == {"s1": "2025-09-14 15:00:00", "s2": old_sessions["s2"], "s3": "2025-09-14 15:10:00"}, order
        m = manifest(archive)
        assert differences(str(archive / SCHOOL), m) == []
        assert m["items"]["unplatform/pc01"]["details"]["extraction"]["zip"] == new_zip.name
        assert [x["zip"] for x in m["items"]["unplatform/pc01"]["details"]["extractions"]] == [old_zip.name, new_zip.name]
        results[order] = {k: v[0] for k, v in tree(archive / PC01).items() if k != "unplatform.sqlite3"}
        history = archive / SCHOOL / "history"
        kept = {str(p.relative_to(history)): p.read_bytes() for p in history.rglob("*") if p.is_file()} \
            if history.exists() else {}
        if order == ("old", "new"):  # what the newer extraction replaced is kept, under its own time
            stamp = "20250302T090532Z"  # T1, to the two seconds a zip keeps
            rel = f"{stamp}/unplatform/pc01/{INSTALL}/webapps/CLIx/datastore"
            assert kept[f"{rel}/logging/LogEntry/le1.json"] == (install_v1 / "le1.json").read_bytes(), sorted(kept)
            assert f"{rel}/assessment/AssessmentTaken/taken1.json" in kept
            assert f"history/{rel}/logging/LogEntry/le1.json" in m["files"]  # sealed, verified as the rest
            assert f"{stamp}/unplatform/pc01/{INSTALL}/unplatform.sqlite3" in kept  # s1's older row
        else:
            assert kept == {}, sorted(kept)  # an older extraction replaces nothing
    assert results[("old", "new")] == results[("new", "old")]


def test_a_bad_checksum_a_missing_checksum_and_a_truncated_zip_are_refused_and_nothing_of_them_written(tmp_path):
    install = first_install(tmp_path)
    usb_dir = tmp_path / "usb"
    bad = usb.mismatched(usb.extract_like_script(install, usb_dir / "a", T1))
    missing = usb.extract_like_script(install, usb_dir / "b", T1, copy=2)
    missing.with_name(missing.name[:-4] + "checksum.txt").unlink()
    cut = usb.truncated(usb.extract_like_script(install, usb_dir / "c", T1, copy=3))
    other = usb.make_install(tmp_path / "pc02", T1, {"x1": "2025-03-02 09:00:00"}, {"lx": "{}"},
                             dict(CONFIG, terminalId="pc02"))
    fine = usb.extract_like_script(other, usb_dir / "d", T1)
    archive = tmp_path / "archive"
    proc = ingest(tmp_path, usb_dir, archive)
    assert proc.returncode != 0, ok(proc)
    assert f"REFUSED     'a/{bad.name}': MD5 " in proc.stdout and "differs from its checksum file" in proc.stdout, ok(proc)
    assert f"REFUSED     'b/{missing.name}': no checksum file" in proc.stdout, ok(proc)
    assert f"REFUSED     'c/{cut.name}': it is not a readable zip" in proc.stdout, ok(proc)
    assert f"INGESTED    'd/{fine.name}'" in proc.stdout, ok(proc)  # one broken zip never stops the others
    assert "3 extraction(s) refused" in proc.stdout, ok(proc)
    assert not (archive / SCHOOL / "unplatform/pc01").exists()
    assert (archive / SCHOOL / f"unplatform/pc02/{INSTALL}/unplatform.sqlite3").is_file()
    report = (next((archive / "reports").glob("ingest-*.md"))).read_text()
    assert report.count("| refused |") == 3 and "| ingested |" in report


def test_hostile_zips_are_refused_and_nothing_lands_outside_the_archive(tmp_path):
    cases = usb.hostile_zips(tmp_path / "usb", T1, CONFIG)
    archive = tmp_path / "work" / "archive"
    proc = ingest(tmp_path, tmp_path / "usb", archive)
    assert proc.returncode != 0, ok(proc)
    reasons = {"dotdot": "climbs out", "absolute": "absolute path", "backslash": "backslash", "drive": "names a drive",
               "symlink": "symbolic link", "device": "device, FIFO or socket", "duplicate": "appears twice",
               "encrypted": "encrypted", "bomb": "zip bomb", "bad-utf8": "not valid UTF-8"}
    for case, path in cases.items():
        line = next(x for x in proc.stdout.splitlines() if f"{case}/{path.name}" in x)
        assert "REFUSED" in line and reasons[case] in line, line
    assert f"{len(cases)} extraction(s) refused" in proc.stdout
    assert sorted(p.name for p in archive.iterdir()) == [".clix-collect.lock", "reports"] or \
        sorted(p.name for p in archive.iterdir()) == ["reports"]
    assert not [p for p in tmp_path.rglob("escaped*")] and not Path("/tmp/clix-ingest-escaped.json").exists()


def test_a_pc_is_named_by_config_json_or_by_the_operator_and_must_be_in_the_inventory(tmp_path):
    nameless = usb.make_install(tmp_path / "nameless", T1, {"s1": "2025-03-02 09:00:00"}, {"le1": "{}"}, None)
    usb.extract_like_script(nameless, tmp_path / "usb", T1)
    archive = tmp_path / "archive"
    proc = ingest(tmp_path, tmp_path / "usb", archive)
    assert proc.returncode != 0 and "names no terminal: name the PC with -e clix_ingest_pc=<pc> (lab PCs of 2031001-mz1: " \
        "pc01, pc02)" in proc.stdout, ok(proc)
    proc = ingest(tmp_path, tmp_path / "usb", archive, "-e", "clix_ingest_pc=pc02")
    assert proc.returncode == 0, ok(proc)
    assert (archive / SCHOOL / f"unplatform/pc02/{INSTALL}/unplatform.sqlite3").is_file()
    stranger = usb.make_install(tmp_path / "stranger", T1, {"s1": "2025-03-02 09:00:00"}, {"le1": "{}"},
                                dict(CONFIG, terminalId="pc09"))
    usb.extract_like_script(stranger, tmp_path / "usb2", T1)
    proc = ingest(tmp_path, tmp_path / "usb2", archive)
    assert proc.returncode != 0 and "the inventory has no lab PC pc09 of school 2031001-mz1" in proc.stdout, ok(proc)
    assert not (archive / SCHOOL / "unplatform/pc09").exists()


def test_check_mode_writes_nothing(tmp_path):
    usb.extract_like_script(first_install(tmp_path), tmp_path / "usb", T1)
    archive = tmp_path / "archive"
    archive.mkdir(mode=0o700)
    proc = ingest(tmp_path, tmp_path / "usb", archive, "--check")
    assert proc.returncode == 0, ok(proc)
    assert "check mode, nothing written: INGESTED" in proc.stdout and "10 added" in proc.stdout, ok(proc)
    assert list(archive.iterdir()) == []


def test_a_copied_install_folder_and_an_unzipped_extraction_folder_are_ingested_wal_included(tmp_path):
    install = first_install(tmp_path)
    con = sqlite3.connect(install / "unplatform.sqlite3")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("INSERT INTO sessions VALUES ('in-wal', '2025-03-02 09:30:00', 'w')")
    con.commit()
    usb_dir = tmp_path / "usb"
    shutil.copytree(install, usb_dir / "CLIx", copy_function=shutil.copy2)  # copied while the app still held the WAL
    con.close()
    assert (usb_dir / "CLIx/unplatform.sqlite3-wal").stat().st_size > 0
    when = T1.replace(hour=11, tzinfo=dt.timezone.utc).timestamp()  # the PC's times, as a copy keeps them
    for name in ("unplatform.sqlite3", "unplatform.sqlite3-wal", "unplatform.sqlite3-shm"):
        os.utime(usb_dir / "CLIx" / name, (when, when))
    zip_path = usb.extract_like_script(newer_install(install), tmp_path / "zips", T2)
    shutil.unpack_archive(zip_path, usb_dir)
    archive = tmp_path / "archive"
    proc = ingest(tmp_path, usb_dir, archive)
    assert proc.returncode == 0, ok(proc)
    assert f"INGESTED    'CLIx' -> {SCHOOL}/unplatform/pc01/CLIx" in proc.stdout, ok(proc)
    assert f"INGESTED    '{zip_path.name[:-4]}' -> {PC01}" in proc.stdout, ok(proc)
    assert "in-wal" in sessions(archive / SCHOOL / "unplatform/pc01/CLIx/unplatform.sqlite3")
    assert not (archive / SCHOOL / "unplatform/pc01/CLIx/webapps/CLIx/datastore/repository/AssetContent").exists()
    assert (archive / PC01 / "webapps/CLIx/datastore/logging/LogEntry/le2.json").is_file()
    assert differences(str(archive / SCHOOL), manifest(archive)) == []


@pytest.mark.parametrize("torn", [b'{"_id": "le1", "text": {"te', b""])
def test_a_torn_json_file_is_reported_and_not_placed(tmp_path, torn):
    install = first_install(tmp_path)
    (install / usb.DATASTORE / "logging/LogEntry/le1.json").write_bytes(torn)
    usb.extract_like_script(install, tmp_path / "usb", T1)
    archive = tmp_path / "archive"
    proc = ingest(tmp_path, tmp_path / "usb", archive)
    assert proc.returncode == 0, ok(proc)
    assert "1 skipped" in proc.stdout and "le1.json': does not parse as JSON" in proc.stdout, ok(proc)
    assert not (archive / PC01 / "webapps/CLIx/datastore/logging/LogEntry/le1.json").exists()
    report = next((archive / "reports").glob("ingest-*.md")).read_text()
    assert "le1.json': does not parse as JSON" in report


def test_a_run_killed_between_placing_and_sealing_is_sealed_by_the_next_and_its_work_folder_removed(tmp_path):
    usb.extract_like_script(first_install(tmp_path), tmp_path / "usb", T1)
    archive = tmp_path / "archive"
    assert ingest(tmp_path, tmp_path / "usb", archive).returncode == 0
    (archive / SCHOOL / "MANIFEST.json").unlink()  # as if killed after the files were placed
    (archive / ".clix-ingest-left-by-a-killed-run").mkdir()
    proc = ingest(tmp_path, tmp_path / "usb", archive)
    assert proc.returncode == 0 and "UNCHANGED" in proc.stdout, ok(proc)
    m = manifest(archive)
    assert m["items"]["unplatform/pc01"]["details"]["extraction"]["time"] == "2025-03-02T09:05:33"
    assert differences(str(archive / SCHOOL), m) == []
    assert not list(archive.glob(".clix-ingest-*"))


def test_a_terminal_id_that_cannot_be_a_pc_name_leaves_the_naming_to_the_operator(tmp_path):
    odd = usb.make_install(tmp_path / "odd", T1, {"s1": "2025-03-02 09:00:00"}, {"le1": "{}"},
                           dict(CONFIG, terminalId="Lab PC 3"))
    usb.extract_like_script(odd, tmp_path / "usb", T1)
    archive = tmp_path / "archive"
    proc = ingest(tmp_path, tmp_path / "usb", archive)
    assert proc.returncode != 0 and 'config.json\'s terminalId "Lab PC 3" is not of the inventory\'s form' in proc.stdout, \
        ok(proc)
    proc = ingest(tmp_path, tmp_path / "usb", archive, "-e", "clix_ingest_pc=pc02")
    assert proc.returncode == 0, ok(proc)
    assert manifest(archive)["items"]["unplatform/pc02"]["details"]["config"]["terminalId"] == "Lab PC 3"


def test_a_copied_version_1_folder_is_ingested_in_its_own_layout_and_the_derive_reads_it(tmp_path):
    """A v1 install (2016, unplatform/db.sqlite3) copied as a folder: its database and log go to
    unplatform/<pc>/<folder name>/ as the collection places them (the app's code does not), named by
    -e (v1 has no config.json); the derive reads its sessions there; a second run changes nothing."""
    made = unplatform.generate_v1(tmp_path / "usb" / "CLIx_Unplatform", 1, 6)
    (tmp_path / "usb" / "CLIx_Unplatform" / "unplatform" / "views.py").write_text("# the app's code\n")
    archive = tmp_path / "archive"
    proc = ingest(tmp_path, tmp_path / "usb", archive)
    assert proc.returncode != 0 and "names no terminal" in proc.stdout, ok(proc)
    named = ("-e", "clix_ingest_pc=pc02")
    proc = ingest(tmp_path, tmp_path / "usb", archive, *named)
    assert proc.returncode == 0, ok(proc)
    year = dt.datetime.fromtimestamp((made.root / V1_DB).stat().st_mtime, dt.timezone.utc).year
    school = f"{year}/mz/2031001-mz1"
    assert f"INGESTED    'CLIx_Unplatform' -> {school}/unplatform/pc02/CLIx_Unplatform: 2 added" in proc.stdout, ok(proc)
    install = archive / school / "unplatform/pc02/CLIx_Unplatform"
    assert sorted(str(p.relative_to(install)) for p in install.rglob("*") if p.is_file()) == [V1_DB, V1_LOG]
    assert (install / V1_DB).read_bytes() == (made.root / V1_DB).read_bytes()
    m = manifest(archive, school)
    assert m["items"]["unplatform/pc02"]["details"]["installs"][0]["layout"] == "v1"
    assert differences(str(archive / school), m) == []
    pc = derive_unplatform.read_pc("pc02", str(install.parent))
    assert sorted(pc.sessions) == sorted(made.sessions) and pc.entries and not pc.rejects
    before = tree(archive)
    proc = ingest(tmp_path, tmp_path / "usb", archive, *named)
    assert proc.returncode == 0 and "UNCHANGED   'CLIx_Unplatform'" in proc.stdout, ok(proc)
    assert tree(archive) == before


def test_the_school_is_the_operators_word_shown_before_anything_is_written(tmp_path):
    usb.extract_like_script(first_install(tmp_path), tmp_path / "usb", T1)
    archive = tmp_path / "archive"
    proc = ingest(tmp_path, tmp_path / "usb", archive, school=None)
    assert proc.returncode != 0 and "-e clix_ingest_school=<code>-<id>" in proc.stdout, ok(proc)
    assert "clix_platform: unplatform: 2031001-mz1)" in proc.stdout and not archive.exists(), ok(proc)
    proc = ingest(tmp_path, tmp_path / "usb", archive, school="2031002-mz2")  # a school without lab PCs
    assert proc.returncode != 0 and not archive.exists(), ok(proc)
    proc = ingest(tmp_path, tmp_path / "usb", archive)
    assert proc.returncode == 0, ok(proc)
    said = "Ingesting into mz/2031001-mz1 (MIZO HS), lab PCs pc01, pc02, in <archive>/<year"
    assert said in proc.stdout and proc.stdout.index(said) < proc.stdout.index("TASK [clix : Lock the archive]"), ok(proc)


def test_an_extraction_that_contradicts_the_operators_pc_goes_to_quarantine(tmp_path):
    """The stick says pc02, the operator pc01: neither is believed; the data are kept apart, named after
    the operator's school and PC, with what the stick claimed, and the run fails."""
    usb.extract_like_script(first_install(tmp_path), tmp_path / "usb", T1)
    archive = tmp_path / "archive"
    proc = ingest(tmp_path, tmp_path / "usb", archive, "-e", "clix_ingest_pc=pc02")
    assert proc.returncode != 0 and "1 placed in quarantine" in proc.stdout, ok(proc)
    assert 'QUARANTINED' in proc.stdout and 'its config.json says terminal "pc01", not pc02' in proc.stdout, ok(proc)
    assert not (archive / SCHOOL).exists()
    quarantined = archive / "quarantine" / SCHOOL
    m = manifest(archive, "quarantine/" + SCHOOL)
    assert "says terminal" in m["school"]["identity_problem"] and m["school"]["server_says"]["terminalId"] == '"pc01"'
    assert sessions(quarantined / f"unplatform/pc02/{INSTALL}/unplatform.sqlite3") == {
        "s1": "2025-03-02 09:00:00", "s2": "2025-03-02 09:01:00"}
    assert differences(str(quarantined), m) == []
