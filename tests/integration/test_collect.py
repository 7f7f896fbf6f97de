"""`ansible-playbook collect.yml` against the fleet: the LEVEL 0-5 tree and every promise around it."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, ansible_env, copy_archive, run_playbook

from fleet import hosts

L4_FOLDERS = ["db", "media", "rcs-repo", "postgres-dump", "system-heartbeat", "gstudio-exported-users-analytics-csvs",
              "gstudio_tools_logs", "gstudio-logs", "nginx-logs", "assessment-media",
              "activity-timestamp-csvs", "qbank"]  # the last two: gStudio's derived data (backup.sh copies them too)
L4_FILES = ["local_settings.py", "server_settings.py", "git-commit.log"]
YEAR = str(datetime.date.today().year)


def collect(fleet, archive: Path, *args: str) -> subprocess.CompletedProcess:
    return run_playbook(fleet, "collect.yml", "-e", f"clix_archive_root={archive}", *args)


def school_dir(archive: Path, state: str, folder: str) -> Path:
    return archive / YEAR / state / folder / "gstudio"


def latest_report(archive: Path) -> dict:
    reports = sorted((archive / "reports").glob("collect-*.json"))
    return json.loads(reports[-1].read_text())


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ok(proc: subprocess.CompletedProcess) -> str:
    return f"rc={proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def mz_archive(mz_collected, tmp_path_factory):
    """The session's `collect.yml -l mz` (conftest.mz_collected), copied: test_rerun_... collects into it again."""
    archive, proc = mz_collected
    return copy_archive(archive, tmp_path_factory.mktemp("archive") / "clix"), proc


def test_mz_fills_the_tree_for_every_mz_school_and_nothing_else(fleet, mz_archive):
    archive, proc = mz_archive
    assert sorted(p.name for p in (archive / YEAR).iterdir()) == ["mz"]
    assert sorted(p.name for p in (archive / YEAR / "mz").iterdir()) == ["2031001-mz1", "2031002-mz2", "2031003-mz3"]
    for sid, folder in (("mz1", "2031001-mz1"), ("mz2", "2031002-mz2"), ("mz3", "2031003-mz3")):
        root = school_dir(archive, "mz", folder)
        assert sorted(p.name for p in root.iterdir()) == sorted(L4_FOLDERS + L4_FILES)
        assert sorted(p.name for p in (root / "assessment-media").iterdir()) == ["repository", "studentResponseFiles"]
        assert (root / "postgres-dump" / "pg_dump_all.sql").read_text().rstrip().endswith("dump complete\n--")
        assert (root / "db" / "gstudio-mongodb" / "Benchmarks.bson").stat().st_size > 0
        assert not (root.parent / "unplatform").exists()
        core = fleet.core(sid)
        for rel in ("data/nginx-logs/access.log", "code/gstudio/gnowsys-ndf/gnowsys_ndf/server_settings.py"):
            archived = root / ("nginx-logs/access.log" if "nginx" in rel else "server_settings.py")
            assert sha(archived) == sha(core / rel)
        media = sorted(p.relative_to(core / "data/media") for p in (core / "data/media").rglob("*") if p.is_file())
        assert media and all(sha(root / "media" / m) == sha(core / "data/media" / m) for m in media)
        assert "On branch dlkit" in (root / "git-commit.log").read_text()
        manifest = json.loads((root.parent / "MANIFEST.json").read_text())
        assert manifest["school"]["server_id"] == sid and manifest["school"]["school_code"] == folder.split("-")[0]
        assert all(item["status"] == "ok" for name, item in manifest["items"].items() if name != "unplatform")
        assert manifest["items"]["unplatform"]["status"] == "absent"
        assert f"gstudio/media/{media[0]}" in manifest["files"]
        stamps = [manifest["run"]["started"], manifest["run"]["ended"], manifest["last_complete"],
                  manifest["heartbeat"]["captured_at"], *(item["collected_at"] for item in manifest["items"].values())]
        assert all(datetime.datetime.fromisoformat(s).utcoffset() == datetime.timedelta(0) for s in stamps), stamps
        assert not (core / "clix-collect-staging").exists()  # staging removed after a good pull
    assert "3 school(s), 0 problem(s)" in proc.stdout


def test_text_is_compressed_on_the_wire(mz_archive):
    archive, _ = mz_archive
    first_run = json.loads(sorted((archive / "reports").glob("collect-*.json"))[0].read_text())
    logs = [r for r in first_run["rows"] if r["item"] == "nginx-logs"]
    assert len(logs) == 3 and all(r["total"] > 2000 and r["received"] < r["total"] / 2 for r in logs), logs


def test_archive_is_private(mz_archive):
    archive, _ = mz_archive
    for path in [archive, *archive.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path} is {oct(mode)}"


def test_report_is_written_as_json_markdown_and_html(mz_archive):
    archive, _ = mz_archive
    report = latest_report(archive)
    assert {r["school"] for r in report["rows"]} == {"2031001-mz1", "2031002-mz2", "2031003-mz3"}
    base = sorted((archive / "reports").glob("collect-*.json"))[-1].with_suffix("")
    md = base.with_suffix(".md").read_text()
    assert "| school | " in md and "| media |" in md and "| 2031001-mz1 | " in md
    assert '<table class="matrix">' in base.with_suffix(".html").read_text()


def test_rerun_moves_almost_nothing_and_keeps_files_deleted_on_the_server(fleet, mz_archive):
    archive, _ = mz_archive
    core = fleet.core("mz1")
    victim = next(p for p in sorted((core / "data/media").rglob("*")) if p.is_file())
    rel = victim.relative_to(core / "data/media")
    saved = victim.read_bytes()
    victim.unlink()
    try:
        proc = collect(fleet, archive, "-l", "mz")
    finally:
        victim.write_bytes(saved)
    assert proc.returncode == 0, ok(proc)
    assert (school_dir(archive, "mz", "2031001-mz1") / "media" / rel).read_bytes() == saved
    # The heartbeat and the derived data (recomputed in the gStudio container) are new on every
    # run; everything else was already archived.
    fresh = ("system-heartbeat", "derived", "gstudio-exported-users-analytics-csvs", "activity-timestamp-csvs",
             "qbank/student-activities")
    rows = [r for r in latest_report(archive)["rows"] if not r["item"].startswith(fresh)]
    received = sum(r["received"] or 0 for r in rows)
    total = sum(r["total"] or 0 for r in rows)
    assert received < 0.01 * total, (received, total)
    assert {r["status"] for r in rows if r["item"] in ("media", "rcs-repo", "nginx-logs", "db")} == {"unchanged"}


def test_verify_passes_then_catches_a_flipped_byte_and_a_missing_file(fleet, mz_archive):
    archive, _ = mz_archive
    good = run_playbook(fleet, "verify.yml", "-e", f"clix_archive_root={archive}")
    assert good.returncode == 0 and "all match" in good.stdout, ok(good)
    root = school_dir(archive, "mz", "2031002-mz2")
    log = root / "nginx-logs" / "access.log"
    data = bytearray(log.read_bytes())
    data[10] ^= 0x01
    original = log.read_bytes()
    log.write_bytes(bytes(data))
    rcs = next(p for p in (root / "rcs-repo").rglob("*") if p.is_file())
    rcs_bytes = rcs.read_bytes()
    rcs.unlink()
    try:
        bad = run_playbook(fleet, "verify.yml", "-e", f"clix_archive_root={archive}",
                           "-e", f"clix_verify_path={archive / YEAR / 'mz'}")
    finally:
        log.write_bytes(original)
        rcs.write_bytes(rcs_bytes)
    assert bad.returncode != 0
    assert "2031002-mz2/gstudio/nginx-logs/access.log: content differs (sha256 mismatch)" in bad.stdout
    assert f"2031002-mz2/{rcs.relative_to(root.parent)}: missing" in bad.stdout


def test_limit_to_one_school(fleet, target_python, tmp_path):
    proc = collect(fleet, tmp_path / "a", "-l", "mz1", "--tags", "settings")
    assert proc.returncode == 0, ok(proc)
    assert [p.name for p in (tmp_path / "a" / YEAR / "mz").iterdir()] == ["2031001-mz1"]


def test_ct_includes_the_unplatform_school_and_keeps_leading_zeros(fleet, target_python, tmp_path):
    proc = collect(fleet, tmp_path / "a", "-l", "ct", "--tags", "unplatform,settings")
    assert proc.returncode == 0, ok(proc)
    ct = tmp_path / "a" / YEAR / "ct"
    assert sorted(p.name for p in ct.iterdir()) == ["01011002-ct2", "1011001-ct1"]
    assert (ct / "1011001-ct1" / "unplatform" / "data" / "unplatform.db").exists()
    assert not (ct / "01011002-ct2" / "unplatform").exists()


def test_tags_collect_only_the_named_items(fleet, target_python, tmp_path):
    proc = collect(fleet, tmp_path / "a", "-l", "mz2", "--tags", "db,postgres")
    assert proc.returncode == 0, ok(proc)
    root = school_dir(tmp_path / "a", "mz", "2031002-mz2")
    assert sorted(p.name for p in root.iterdir()) == ["db", "postgres-dump"]


def test_check_mode_shows_sizes_and_touches_nothing(fleet, target_python, tmp_path):
    archive = tmp_path / "a"
    proc = collect(fleet, archive, "-l", "mz1", "--check")
    assert proc.returncode == 0, ok(proc)
    assert not archive.exists()
    # the matrix: a cell per item with the size that would arrive
    assert re.search(r"^ *2031001-mz1 +(\S+ +){5}", proc.stdout, re.M) and " media " in proc.stdout, ok(proc)
    assert re.search(r"^ *2031001-mz1 .*\d+(\.\d)?M\b", proc.stdout, re.M), ok(proc)
    assert not (fleet.core("mz1") / "clix-collect-staging").exists()


def test_identity_mismatch_goes_to_quarantine(fleet, target_python, tmp_path):
    settings = fleet.core("mz3") / "code/gstudio/gnowsys-ndf/gnowsys_ndf/server_settings.py"
    original = settings.read_text()
    settings.write_text(original.replace("'mz3'", "'mz2'").replace("'2031003'", "'2031002'"))
    try:
        proc = collect(fleet, tmp_path / "a", "-l", "mz3", "--tags", "settings,nginx")
    finally:
        settings.write_text(original)
    assert proc.returncode != 0
    assert "identity mismatch" in proc.stdout and 'server id "mz2", school code "2031002"' in proc.stdout
    assert not (tmp_path / "a" / YEAR / "mz").exists()
    quarantined = list((tmp_path / "a" / "quarantine" / YEAR / "mz").iterdir())
    assert [q.name for q in quarantined] == ["2031003-mz3"]  # the inventory's school, not the server's claim
    assert (quarantined[0] / "gstudio" / "nginx-logs" / "access.log").exists()
    school = json.loads((quarantined[0] / "MANIFEST.json").read_text())["school"]
    assert school["server_says"]["server_id"] == '"mz2"' and school["identity_problem"].startswith("identity mismatch")


def tree_state(folder: Path) -> dict[str, tuple[int, str, int]]:
    """Every entry below folder: (mode, sha256 of a file's bytes, mtime_ns); links never followed."""
    state = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        digest = sha(path) if path.is_file() and not path.is_symlink() else ""
        state[str(path.relative_to(folder))] = (st.st_mode, digest, st.st_mtime_ns)
    return state


def test_a_server_id_holding_a_path_cannot_reach_another_schools_folder(fleet, target_python, tmp_path):
    archive = tmp_path / "a"
    proc = collect(fleet, archive, "-l", "mz2", "--tags", "settings,nginx")
    assert proc.returncode == 0, ok(proc)
    mz2 = archive / YEAR / "mz" / "2031002-mz2"
    before = tree_state(mz2)
    assert "MANIFEST.json" in before and "gstudio/server_settings.py" in before
    settings = fleet.core("mz1") / "code/gstudio/gnowsys-ndf/gnowsys_ndf/server_settings.py"
    original = settings.read_text()
    hostile = f"x/../../../{YEAR}/mz/2031002-mz2"
    settings.write_text(re.sub(r"(?m)^GSTUDIO_INSTITUTE_ID\s*=.*$", f"GSTUDIO_INSTITUTE_ID = {hostile!r}", original))
    try:
        proc = collect(fleet, archive, "-l", "mz1", "--tags", "settings,nginx")
    finally:
        settings.write_text(original)
    assert proc.returncode != 0, ok(proc)  # a quarantined school is a problem of the run
    assert tree_state(mz2) == before, "mz1's hostile server id changed mz2's folder"
    assert sorted(p.name for p in (archive / YEAR / "mz").iterdir()) == ["2031002-mz2"]
    quarantined = archive / "quarantine" / YEAR / "mz" / "2031001-mz1"
    assert sorted(p.name for p in (archive / "quarantine" / YEAR / "mz").iterdir()) == ["2031001-mz1"]
    assert (quarantined / "gstudio" / "server_settings.py").read_text().count(hostile) == 1
    manifest = json.loads((quarantined / "MANIFEST.json").read_text())
    assert manifest["school"]["server_says"]["server_id"] == json.dumps(hostile)
    assert manifest["school"]["server_says"]["server_id_valid"] is False
    assert manifest["school"]["identity_problem"].startswith("identity invalid")
    row = [r for r in latest_report(archive)["rows"] if r["school"] == "2031001-mz1" and r["item"] == "(school)"]
    assert row and "identity invalid" in row[0]["reason"] and json.dumps(hostile) in row[0]["reason"]


def test_one_school_down_and_one_mongo_down_never_stop_the_others(fleet, target_python, tmp_path):
    mz2, mz3 = fleet.school("mz2"), fleet.school("mz3")
    hosts.set_link(mz2, up=False)
    hosts.stop_mongo(fleet.lab, mz3)
    try:
        proc = collect(fleet, tmp_path / "a", "-l", "mz", "-e", "clix_connect_timeout=5")
    finally:
        hosts.set_link(mz2, up=True)
        hosts.restart_mongo(fleet.lab, mz3)
    assert proc.returncode != 0
    rows = latest_report(tmp_path / "a")["rows"]
    by = {(r["school"], r["item"]): r for r in rows}
    assert by[("2031002-mz2", "(school)")]["status"] == "unreachable"
    assert by[("2031003-mz3", "db")]["status"] == "failed" and "MongoDB" in by[("2031003-mz3", "db")]["reason"]
    assert by[("2031003-mz3", "media")]["status"] == "ok"
    assert all(r["status"] == "ok" for r in rows if r["school"] == "2031001-mz1" and r["item"] != "unplatform")
    assert (school_dir(tmp_path / "a", "mz", "2031001-mz1") / "db" / "gstudio-mongodb").is_dir()
    # The failed dump never replaced anything, and the staging folder stays for a retry.
    assert not (school_dir(tmp_path / "a", "mz", "2031003-mz3") / "db").exists()


def test_a_mongo_password_in_the_uri_never_reaches_the_archive_the_reports_or_the_output(fleet, target_python,
                                                                                         tmp_path):
    secret = "collect-secret-4711"
    proc = collect(fleet, tmp_path / "a", "-l", "mz1", "--tags", "db,settings", "-e",
                   f"clix_mongo_uri=mongodb://clix:{secret}@127.0.0.1:8017/?directConnection=true")
    assert proc.returncode != 0, ok(proc)
    by = {(r["school"], r["item"]): r for r in latest_report(tmp_path / "a")["rows"]}
    assert by[("2031001-mz1", "db")]["status"] == "failed"
    assert "uri holds a password" in by[("2031001-mz1", "db")]["reason"]
    others = [r["status"] for (school, item), r in by.items() if school == "2031001-mz1" and item not in ("db", "(school)")]
    assert others and set(others) == {"ok"}  # the settings items: one failed item stops no other
    written = [p for p in (tmp_path / "a").rglob("*") if p.is_file()]
    assert any(p.name == "MANIFEST.json" for p in written) and any(p.parent.name == "reports" for p in written)
    assert [p for p in written if secret.encode() in p.read_bytes()] == []
    assert secret not in proc.stdout + proc.stderr


def test_a_second_run_on_the_same_archive_is_refused(fleet, target_python, tmp_path):
    archive = tmp_path / "a"
    archive.mkdir(mode=0o700)
    lock = archive / ".clix-collect.lock"
    lock.write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "started": "now"}))
    proc = collect(fleet, archive, "-l", "mz1", "--tags", "settings")
    assert proc.returncode != 0 and "locked by another collection" in proc.stdout
    assert "Wait for the school server" not in proc.stdout  # refused before any school was contacted
    lock.write_text(json.dumps({"pid": 2**22 + 7, "host": os.uname().nodename, "started": "long ago"}))
    stale = collect(fleet, archive, "-l", "mz1", "--tags", "settings")
    assert stale.returncode == 0 and "lock of a collection that died" in stale.stdout + stale.stderr, ok(stale)
    assert not lock.exists()


def test_secrets_can_be_redacted_on_copy(fleet, target_python, tmp_path):
    proc = collect(fleet, tmp_path / "a", "-l", "mz1", "--tags", "settings", "-e", "clix_redact_settings=true")
    assert proc.returncode == 0, ok(proc)
    original = (fleet.core("mz1") / "code/gstudio/gnowsys-ndf/gnowsys_ndf/local_settings.py").read_text()
    secret = next(line.split("'")[1] for line in original.splitlines() if line.startswith("SECRET_KEY"))
    archived = (school_dir(tmp_path / "a", "mz", "2031001-mz1") / "local_settings.py").read_text()
    assert secret not in archived and "REDACTED-BY-CLIX-COLLECT" in archived
    assert all(secret.encode() not in p.read_bytes() for p in (tmp_path / "a").rglob("*") if p.is_file())
    verbatim = collect(fleet, tmp_path / "b", "-l", "mz1", "--tags", "settings")
    assert secret in (school_dir(tmp_path / "b", "mz", "2031001-mz1") / "local_settings.py").read_text(), ok(verbatim)


def test_links_and_special_files_of_a_server_never_reach_or_leak_into_the_archive(fleet, target_python, tmp_path):
    """Over real ssh: links out of their item are dropped and listed in the manifest, links inside are
    kept, no FIFO or device is made, a settings file linked to a control-node file is not read."""
    canary = tmp_path / "control-node-secret.txt"
    canary.write_text("CANARY-OF-THE-CONTROL-NODE\n")
    core = fleet.core("mz1")
    media, settings = core / "data/media", core / "code/gstudio/gnowsys-ndf/gnowsys_ndf/local_settings.py"
    planted = {"hostile-abs": str(canary), "hostile-zero": "/dev/zero", "hostile-up": "../../../etc/passwd",
               "hostile-inside": "hostile-dir/x.txt"}
    (media / "hostile-dir").mkdir()
    (media / "hostile-dir" / "x.txt").write_text("x")
    for name, target in planted.items():
        os.symlink(target, media / name)
    os.mkfifo(media / "hostile-fifo")
    os.mknod(media / "hostile-null", 0o600 | 0o020000, os.makedev(1, 3))
    saved_settings = settings.read_bytes()
    settings.unlink()
    settings.symlink_to(canary)
    archive = tmp_path / "a"
    try:
        proc = collect(fleet, archive, "-l", "mz1", "--tags", "media,settings")
    finally:
        settings.unlink()
        settings.write_bytes(saved_settings)
        for name in [*planted, "hostile-fifo", "hostile-null", "hostile-dir/x.txt", "hostile-dir"]:
            path = media / name
            path.rmdir() if name == "hostile-dir" else path.unlink()
    root = school_dir(archive, "mz", "2031001-mz1")
    assert os.readlink(root / "media" / "hostile-inside") == "hostile-dir/x.txt"
    for name in ("hostile-abs", "hostile-zero", "hostile-up", "hostile-fifo", "hostile-null"):
        assert not os.path.lexists(root / "media" / name), name
    assert all(b"CANARY" not in p.read_bytes() for p in archive.rglob("*") if p.is_file() and not p.is_symlink())
    manifest = json.loads((root.parent / "MANIFEST.json").read_text())
    assert manifest["items"]["media"]["skipped_links"] == [
        {"path": "hostile-abs", "target": str(canary)}, {"path": "hostile-up", "target": "../../../etc/passwd"},
        {"path": "hostile-zero", "target": "/dev/zero"}]
    assert manifest["files"]["gstudio/media/hostile-inside"]["type"] == "link"
    assert manifest["items"]["local_settings.py"]["status"] == "failed"
    assert manifest["items"]["local_settings.py"]["skipped_links"] == [{"path": "local_settings.py",
                                                                         "target": str(canary)}]
    assert proc.returncode != 0 and "is a symbolic link on the server" in proc.stdout, ok(proc)
    verify = run_playbook(fleet, "verify.yml", "-e", f"clix_archive_root={archive}")
    assert verify.returncode == 0 and "all match" in verify.stdout, ok(verify)


def test_interrupted_transfer_resumes_and_verifies(fleet, target_python, tmp_path):
    school = fleet.school("mz1")
    big = fleet.core("mz1") / "data/media/big/lecture.mp4"
    big.parent.mkdir(exist_ok=True)
    big.write_bytes(os.urandom(24 * 2**20))
    archive = tmp_path / "a"
    hosts.limit_rate(school, "16mbit")
    try:
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(fleet.inventory),
               str(REPO / "collect.yml"), "-l", "mz1", "--tags", "media", "-e", f"clix_archive_root={archive}"]
        play = subprocess.Popen(cmd, cwd=REPO, env=ansible_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        partial = school_dir(archive, "mz", "2031001-mz1") / "media" / "big"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(partial.rglob("*lecture*")):
            time.sleep(0.2)
        time.sleep(3)  # let a few MB arrive
        os.killpg(play.pid, signal.SIGTERM)
        play.wait(timeout=60)
    finally:
        hosts.limit_rate(school, None)
    assert not (partial / "lecture.mp4").exists()  # a half file never appears under its name
    kept = sum(p.stat().st_size for p in partial.rglob("*lecture*"))
    assert kept > 0, "the interrupted transfer kept nothing to resume from"
    proc = collect(fleet, archive, "-l", "mz1", "--tags", "media")
    big_bytes = big.read_bytes()
    big.unlink()
    big.parent.rmdir()
    assert proc.returncode == 0, ok(proc)
    assert (partial / "lecture.mp4").read_bytes() == big_bytes
    media = next(r for r in latest_report(archive)["rows"] if r["item"] == "media")
    assert media["received"] < len(big_bytes) - kept // 2, (media["received"], kept)
    assert run_playbook(fleet, "verify.yml", "-e", f"clix_archive_root={archive}").returncode == 0


def test_a_pull_cut_off_by_a_dropped_link_is_tried_again_within_the_run(fleet, target_python, tmp_path):
    """The school's link goes down mid-file for longer than rsync's timeout, then comes back: the
    same run pulls the item again (clix_pull_retries), resuming from the part it had."""
    school = fleet.school("mz3")
    big = fleet.core("mz3") / "data/media/big/lecture.mp4"
    big.parent.mkdir(exist_ok=True)
    big.write_bytes(os.urandom(16 * 2**20))
    archive = tmp_path / "a"
    partial = school_dir(archive, "mz", "2031003-mz3") / "media" / "big"
    hosts.limit_rate(school, "16mbit")
    try:
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(fleet.inventory),
               str(REPO / "collect.yml"), "-l", "mz3", "--tags", "media", "-e", f"clix_archive_root={archive}",
               "-e", "clix_rsync_timeout=3", "-e", "clix_pull_retry_seconds=4"]
        play = subprocess.Popen(cmd, cwd=REPO, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sum(p.stat().st_size for p in partial.rglob("*lecture*")) < 2**20:
            time.sleep(0.1)
        hosts.set_link(school, False)
        time.sleep(5)  # rsync gives up after 3 s; the retry starts at 7 s
        hosts.set_link(school, True)
        stdout, _ = play.communicate(timeout=300)
    finally:
        hosts.set_link(school, True)
        hosts.limit_rate(school, None)
    data = big.read_bytes()
    big.unlink()
    big.parent.rmdir()
    assert play.returncode == 0, stdout[-6000:]
    assert (partial / "lecture.mp4").read_bytes() == data
    media = next(r for r in latest_report(archive)["rows"] if r["item"] == "media")
    assert media["status"] == "ok" and "after 2 tries, the first failed: rsync exit 30" in media["reason"], media
    assert media["received"] < len(data) - 2**20 // 2, media  # resumed from the part it had, not started again
    assert re.search(r"^2031003-mz3: pulling media: rsync exit 30 .*; trying again in 4 s \(1 of 2\)$", stdout, re.M)
    assert run_playbook(fleet, "verify.yml", "-e", f"clix_archive_root={archive}").returncode == 0


def test_a_long_pull_shows_its_progress_while_it_runs(fleet, target_python, tmp_path):
    school = fleet.school("mz2")
    big = fleet.core("mz2") / "data/media/big/lecture.mp4"
    big.parent.mkdir(exist_ok=True)
    big.write_bytes(os.urandom(6 * 2**20))
    hosts.limit_rate(school, "8mbit")  # about 6 s for the new file
    try:
        proc = collect(fleet, tmp_path / "a", "-l", "mz2", "--tags", "media", "-e", "clix_progress_seconds=1")
    finally:
        hosts.limit_rate(school, None)
        big.unlink()
        big.parent.rmdir()
    assert proc.returncode == 0, ok(proc)
    lines = re.findall(r"^2031002-mz2: pulling media: ([\d,]+) bytes \((\d+)% of the item\)", proc.stdout, re.M)
    assert len(lines) >= 2, proc.stdout[-3000:]
    sizes = [int(size.replace(",", "")) for size, _ in lines]
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]  # it moves while the task is still running
    assert proc.stdout.index(lines[0][0]) < proc.stdout.index("TASK [clix : Seal the school's folder with its manifest")


def test_a_dump_on_the_school_server_shows_its_progress_while_it_runs(fleet, target_python, tmp_path):
    """The dump runs on the server, in a process of its own that cannot print: its lines come over SSH
    (action_plugins/clix_watched.py), here while MongoDB stalls for a few seconds."""
    mongod = int((fleet.lab.host_dir(fleet.school("mz2")) / "mongo.pid").read_text())
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(fleet.inventory), str(REPO / "collect.yml"),
           "-l", "mz2", "--tags", "db", "-e", f"clix_archive_root={tmp_path / 'a'}", "-e", "clix_progress_seconds=1"]
    play = subprocess.Popen(cmd, cwd=REPO, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    try:
        for line in play.stdout:
            out.append(line)
            if line.startswith("TASK [clix : Identify the school server, dump its databases"):
                os.kill(mongod, signal.SIGSTOP)
                time.sleep(8)  # the task captures the heartbeat first, then dumps
                os.kill(mongod, signal.SIGCONT)
    finally:
        os.kill(mongod, signal.SIGCONT)
        play.wait(timeout=300)
    stdout = "".join(out)
    assert play.returncode == 0, stdout[-6000:]
    task = stdout[stdout.index("TASK [clix : Identify the school server, dump its databases"):]
    task = task[:task.index("TASK [", 1)]  # the lines came while the task ran, before its result
    lines = re.findall(r"^2031002-mz2: dumping MongoDB: ([\d,]+) documents, .* (\d+) s so far$", task, re.M)
    assert len(lines) >= 2, task
    assert [int(s) for _, s in lines] == sorted(int(s) for _, s in lines)
    assert (school_dir(tmp_path / "a", "mz", "2031002-mz2") / "db" / "gstudio-mongodb").is_dir()


@pytest.mark.parametrize("hosts_yml,expected", [
    ("mz:\n  children:\n    mz1:\n      hosts:\n        a: {school_code: '2031001', ansible_host: 10.231.0.250}\n"
     "    mz2:\n      hosts:\n        b: {school_code: '2031002', ansible_host: 10.231.0.251}\n"
     "    ct5:\n      hosts:\n        c: {school_code: '1011005', ansible_host: 10.231.0.252}\n",
     "c: server id ct5 belongs to state ct but is listed under mz"),
    ("mz:\n  children:\n    mz1:\n      hosts:\n        a: {school_code: 2031001, ansible_host: 10.231.0.250}\n",
     "quote it in the inventory"),
    ("mz:\n  children:\n    mz1:\n      hosts:\n        a: {ansible_host: 10.231.0.250}\n", "a: school_code is missing"),
    ("ka:\n  children:\n    ka1:\n      hosts:\n        a: {school_code: '2031001', ansible_host: 10.231.0.250}\n",
     "unknown state code"),
    ("mz:\n  children:\n    mz1:\n      hosts:\n        a: {school_code: '2031001', ansible_host: 10.231.0.250}\n"
     "        b: {school_code: '2031002', ansible_host: 10.231.0.251}\n", "server id mz1 is used by 2 hosts"),
])
def test_bad_inventory_is_refused_before_any_school_is_contacted(tmp_path, hosts_yml, expected):
    inventory = tmp_path / "inventory"
    (inventory / "mz").mkdir(parents=True)
    (inventory / "mz" / "hosts.yml").write_text(hosts_yml)
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                           str(REPO / "collect.yml"), "-e", f"clix_archive_root={tmp_path / 'a'}"],
                          cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert expected in proc.stdout and "no school was contacted" in proc.stdout, ok(proc)
    assert "Wait for the school server" not in proc.stdout
    assert not (tmp_path / "a").exists()


@pytest.fixture
def planted_staging(fleet):
    """mz3's staging folder planted by a school user: set it to a link to a folder or to a folder of uid 500."""
    core = fleet.core("mz3")
    staging, victim = core / "clix-collect-staging", core / "clix-test-victim"

    def clean() -> None:
        for path in (staging, victim):
            if path.is_symlink():
                path.unlink()
            shutil.rmtree(path, ignore_errors=True)

    def plant(kind: str) -> Path:
        clean()
        victim.mkdir(mode=0o777)
        if kind == "link":
            staging.symlink_to("/home/core/clix-test-victim")
        else:
            staging.mkdir(mode=0o777)
            os.chown(staging, 500, 500)
        return victim if kind == "link" else staging

    yield plant
    clean()


@pytest.mark.parametrize(("kind", "tags", "row", "expected"), [
    ("link", "postgres,git", "postgres-dump", "is a symbolic link"),
    ("folder of uid 500", "heartbeat", "(school)", "belongs to uid 500"),
])
def test_a_planted_staging_folder_fails_its_school_clearly_and_nothing_goes_through_it(
        fleet, target_python, tmp_path, planted_staging, kind, tags, row, expected):
    watched = planted_staging(kind)
    proc = collect(fleet, tmp_path / "a", "-l", "mz2,mz3", "--tags", tags)
    assert proc.returncode != 0, ok(proc)
    by = {(r["school"], r["item"]): r for r in latest_report(tmp_path / "a")["rows"]}
    assert by[("2031003-mz3", row)]["status"] == "failed", by
    assert expected in by[("2031003-mz3", row)]["reason"] and "clix_staging_dir" in by[("2031003-mz3", row)]["reason"]
    if kind == "link":
        assert expected in by[("2031003-mz3", "git-commit.log")]["reason"]
    assert all(r["status"] == "ok" for (school, _), r in by.items() if school == "2031002-mz2"), by
    assert list(watched.iterdir()) == []  # nothing written into the planted folder or through the link


def test_a_staging_folder_that_cannot_be_removed_fails_its_school_which_keeps_its_heartbeat_and_items(
        fleet, target_python, tmp_path):
    """The pull and the staging's removal are steps of clix_server's one task: when the removal fails, the
    task fails as its own task did (the school's problem, the run's exit), and what the server said and what
    was pulled are kept for the seal and the report (main.yml's rescue)."""
    staging = fleet.core("mz1") / "clix-collect-staging"
    staging.mkdir(mode=0o700)
    stuck = staging / "stuck"
    stuck.write_text("")
    subprocess.run(["chattr", "+i", str(stuck)], check=True)
    try:
        proc = collect(fleet, tmp_path / "a", "-l", "mz1", "--tags", "heartbeat")
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)
        shutil.rmtree(staging)
    assert proc.returncode != 0, ok(proc)
    school = next(s for s in latest_report(tmp_path / "a")["schools"] if s["host"] == "2031001-mz1")
    assert "could not remove the staging folder" in school["problem"] and "stuck" in school["problem"], school
    assert school["heartbeat"]["server_id"] == "mz1"
    assert {i["name"]: i["status"] for i in school["items"]} == {
        "system-heartbeat": "ok", "system-heartbeat (server's own)": "ok"}
    manifest = json.loads((tmp_path / "a" / YEAR / "mz" / "2031001-mz1" / "MANIFEST.json").read_text())
    assert manifest["items"]["system-heartbeat"]["status"] == "ok"
