"""`ansible-playbook merge.yml`: two field archives collected from the fleet at different times, merged
into an empty central archive in both orders, a corrupt school refused, a merge killed with SIGKILL."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, ansible_env, run_playbook

YEAR = time.strftime("%Y")
MZ1 = f"{YEAR}/mz/2031001-mz1"


def ok(proc: subprocess.CompletedProcess) -> str:
    return f"rc={proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


def merge_cmd(fleet, source: Path, central: Path) -> list:
    return [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(fleet.inventory), str(REPO / "merge.yml"),
            "-e", f"clix_merge_from={source}", "-e", f"clix_archive_root={central}"]


def merge(fleet, source: Path, central: Path) -> subprocess.CompletedProcess:
    return subprocess.run(merge_cmd(fleet, source, central), cwd=REPO, env=ansible_env(), capture_output=True,
                          text=True, timeout=600)


def verify(fleet, central: Path) -> subprocess.CompletedProcess:
    return run_playbook(fleet, "verify.yml", "-e", f"clix_archive_root={central}", "-e", f"clix_verify_path={central}")


def data_files(root: Path) -> dict:
    """{relpath: sha256} of every file but the manifests and the reports."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in ("MANIFEST.json", ".clix-collect.lock") and "reports" not in p.parts}


@pytest.fixture(scope="module")
def field_archives(fleet, target_python, tmp_path_factory):
    """A: mz1 and mz2. Then on mz1 a media file is added (big enough to kill a merge while it copies) and
    the nginx log grows; B, collected later: mz1 and mz3, its MongoDB dumps gzipped (a newer dump with other
    files). bad: A with a flipped byte in mz2's dump."""
    base = tmp_path_factory.mktemp("merge")
    a, b, bad = base / "A", base / "B", base / "bad"
    proc = run_playbook(fleet, "collect.yml", "-l", "mz1,mz2", "-e", f"clix_archive_root={a}")
    assert proc.returncode == 0, ok(proc)
    media = fleet.core("mz1") / "data/media/field-video.bin"
    log = fleet.core("mz1") / "data/nginx-logs/access.log"
    saved_log = log.read_bytes()
    media.write_bytes(os.urandom(48 * 1024 * 1024))
    log.write_bytes(saved_log + b'10.0.0.9 - - "GET /later HTTP/1.1" 200 12\n')
    try:
        proc = run_playbook(fleet, "collect.yml", "-l", "mz1,mz3", "-e", f"clix_archive_root={b}",
                            "-e", "clix_mongo_gzip=true")
    finally:
        media.unlink()
        log.write_bytes(saved_log)
    assert proc.returncode == 0, ok(proc)
    shutil.copytree(a, bad, symlinks=True)
    dump = next((bad / f"{YEAR}/mz/2031002-mz2/gstudio/db").rglob("*.bson"))
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01
    dump.write_bytes(bytes(data))
    return a, b, bad


def test_a_then_b_and_b_then_a_give_the_same_files_every_one_kept_and_verified(fleet, field_archives, tmp_path):
    a, b, _ = field_archives
    ab, ba = tmp_path / "AB", tmp_path / "BA"
    for first, second, central in ((a, b, ab), (b, a, ba)):
        for source in (first, second):
            merged = merge(fleet, source, central)
            assert merged.returncode == 0, ok(merged)
    assert data_files(ab) == data_files(ba)
    for central in (ab, ba):
        proc = verify(fleet, central)
        assert proc.returncode == 0 and "all match" in proc.stdout, ok(proc)
    central = data_files(ab)
    for source in (a, b):
        missing = {rel for rel, digest in data_files(source).items() if digest not in central.values()}
        assert not missing, missing
    mz1 = ab / MZ1
    # the newer dump (B's, gzipped) is current, whole; A's plain dump is kept in history
    assert list((mz1 / "gstudio/db").rglob("*.bson.gz")) and not list((mz1 / "gstudio/db").rglob("*.bson"))
    assert list((mz1 / "history").glob("*/gstudio/db/**/*.bson"))
    # the grown log is current, the older one in history; the new media file added
    assert (mz1 / "gstudio/nginx-logs/access.log").read_bytes().endswith(b"/later HTTP/1.1\" 200 12\n")
    assert list((mz1 / "history").glob("*/gstudio/nginx-logs/access.log"))
    assert (mz1 / "gstudio/media/field-video.bin").stat().st_size == 48 * 1024 * 1024
    for school in ("2031001-mz1", "2031002-mz2", "2031003-mz3"):
        assert (ab / YEAR / "mz" / school / "MANIFEST.json").is_file()
    for path in [ab, *ab.rglob("*")]:
        assert (path.stat().st_mode & 0o777) == (0o700 if path.is_dir() else 0o600), path
    reports = sorted((ab / "reports").glob("merge-*.json"))
    assert len(reports) == 2, reports  # a report of each run, saying what it took from which archive
    report = json.loads(reports[-1].read_text())
    assert report["source"] == str(b) and {s["path"]: s["status"] for s in report["schools"]} == \
        {f"{YEAR}/mz/2031001-mz1": "merged", f"{YEAR}/mz/2031003-mz3": "merged"}, report
    assert reports[-1].with_suffix(".md").is_file()
    assert f"Report: {sorted((ba / 'reports').glob('merge-*.json'))[-1]}" in merged.stdout, ok(merged)  # ba's last


def test_merging_twice_changes_nothing(fleet, field_archives, tmp_path):
    a, b, _ = field_archives
    central = tmp_path / "C"
    for source in (a, b):
        assert merge(fleet, source, central).returncode == 0
    before = {str(p): (p.stat().st_mtime_ns, p.stat().st_ino) for p in central.rglob("*") if p.is_file()
              and "reports" not in p.parts}
    proc = merge(fleet, b, central)
    assert proc.returncode == 0, ok(proc)
    assert "merged -" not in proc.stdout and f"{MZ1}: unchanged - 0 added" in proc.stdout, ok(proc)
    after = {str(p): (p.stat().st_mtime_ns, p.stat().st_ino) for p in central.rglob("*") if p.is_file()
             and "reports" not in p.parts}
    assert after == before


def test_the_corrupt_school_is_refused_by_name_and_its_central_copy_untouched(fleet, field_archives, tmp_path):
    a, _, bad = field_archives
    central = tmp_path / "C"
    shutil.copytree(a, central, symlinks=True, ignore=shutil.ignore_patterns("2031002-mz2"))
    before = data_files(central)
    proc = merge(fleet, bad, central)
    assert proc.returncode != 0, ok(proc)
    assert f"{YEAR}/mz/2031002-mz2: REFUSED" in proc.stdout and "sha256 mismatch" in proc.stdout, ok(proc)
    assert "school(s) of the field archive refused" in proc.stdout and "2031002-mz2" in proc.stdout
    assert not (central / YEAR / "mz/2031002-mz2").exists()
    assert data_files(central) == before  # mz1 identical: nothing to do
    assert not (central / ".clix-collect.lock").exists()
    report = json.loads(next((central / "reports").glob("merge-*.json")).read_text())
    assert [s["path"] for s in report["schools"] if s["status"] == "refused"] == [f"{YEAR}/mz/2031002-mz2"]


def test_a_merge_killed_half_way_leaves_a_verifiable_archive_and_a_rerun_finishes_it(fleet, field_archives,
                                                                                     tmp_path):
    a, b, _ = field_archives
    whole, central = tmp_path / "whole", tmp_path / "C"
    for source in (a, b):
        assert merge(fleet, source, whole).returncode == 0
    assert merge(fleet, a, central).returncode == 0
    proc = subprocess.Popen(merge_cmd(fleet, b, central), cwd=REPO, env=ansible_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    stage = central / YEAR / "mz" / ".2031001-mz1.clix-merge"
    video = stage / "gstudio/media/field-video.bin"
    deadline = time.monotonic() + 300
    while not (video.exists() and video.stat().st_size > 0) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert video.exists(), "the merge finished before it could be killed half-way"
    killed = verify(fleet, central)
    assert killed.returncode == 0, ok(killed)
    rerun = merge(fleet, b, central)
    assert rerun.returncode == 0, ok(rerun)
    done = verify(fleet, central)
    assert done.returncode == 0, ok(done)
    assert data_files(central) == data_files(whole)


def test_the_catalogue_of_the_merged_archive_counts_the_dumps_and_keeps_the_heartbeat(fleet, field_archives,
                                                                                      tmp_path):
    a, b, _ = field_archives
    central = tmp_path / "C"
    for source in (a, b):
        assert merge(fleet, source, central).returncode == 0
    proc = run_playbook(fleet, "catalog.yml", "-e", f"clix_archive_root={central}")
    assert proc.returncode == 0, ok(proc)
    cat = json.loads((central / "reports/catalogue.json").read_text())
    rows = {r["folder"]: r for s in cat["sections"] if s["state"] == "mz" for r in s["rows"]}
    assert rows["2031001-mz1"]["documents"] > 0 and rows["2031001-mz1"]["users"] > 0, rows["2031001-mz1"]
    assert rows["2031001-mz1"]["heartbeat"]["captured_at"]
    assert rows["2031001-mz1"]["cells"]["db"]["status"] == "ok"
    assert rows["2031001-mz1"]["cells"]["unplatform"]["status"] == "absent"
    assert {r["cells"]["db"]["status"] for r in rows.values()} == {"ok"}  # mz1, mz2 (A), mz3 (B)


def school_state(folder: Path) -> dict:
    """Every entry below a school folder: its bytes (a link's target), mtime and inode."""
    return {str(p.relative_to(folder)): (os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else None,
                                         p.lstat().st_mtime_ns, p.lstat().st_ino) for p in sorted(folder.rglob("*"))}


def without_inodes(manifest: Path) -> dict:
    data = json.loads(manifest.read_text())
    for entry in data["files"].values():
        entry.pop("inode", None)
    return data


def test_a_hostile_field_archive_is_refused_alone_and_the_neighbour_left_byte_identical(fleet, field_archives,
                                                                                          tmp_path):
    """B as collect.yml wrote it (mz1 with the link collect kept, mz3), its mz3 manifest then tampered: top
    folders into the neighbour mz2 and the control node, a year-1 time, another school's identity, an
    escape sequence. Merged into a central archive holding A (mz1, mz2), beside B without mz3."""
    a, b, _ = field_archives
    link = b / MZ1 / "gstudio/media/latest-upload.link"
    assert link.is_symlink(), "the fleet's mz1 has a link inside its media item: collect keeps it"
    clean, hostile = tmp_path / "clean-field", tmp_path / "hostile-field"
    shutil.copytree(b, clean, symlinks=True, ignore=shutil.ignore_patterns("2031003-mz3"))
    shutil.copytree(b, hostile, symlinks=True)
    mz3 = hostile / YEAR / "mz/2031003-mz3/MANIFEST.json"
    manifest = json.loads(mz3.read_text())
    manifest.update(top_folders=["gstudio", "../2031002-mz2", "/etc", "\x1b[2Jowned"],
                    school=json.loads((a / YEAR / "mz/2031002-mz2/MANIFEST.json").read_text())["school"])
    next(iter(manifest["items"].values()))["collected_at"] = "0001-01-01T00:00:00+05:30"
    mz3.write_text(json.dumps(manifest))
    without, attacked = tmp_path / "without", tmp_path / "attacked"
    assert merge(fleet, a, without).returncode == 0
    shutil.copytree(without, attacked, symlinks=True)
    neighbour = school_state(attacked / YEAR / "mz/2031002-mz2")
    name = ("-e", "clix_merge_name=field laptop")
    done = subprocess.run(merge_cmd(fleet, clean, without) + list(name), cwd=REPO, env=ansible_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, ok(done)
    proc = subprocess.run(merge_cmd(fleet, hostile, attacked) + list(name), cwd=REPO, env=ansible_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0, ok(proc)
    assert f"{YEAR}/mz/2031003-mz3: REFUSED" in proc.stdout, ok(proc)
    assert "does not follow schemas/manifest-1.schema.json" in proc.stdout and "top_folders" in proc.stdout
    assert "\x1b[2J" not in proc.stdout + proc.stderr
    assert not (attacked / YEAR / "mz/2031003-mz3").exists()
    assert school_state(attacked / YEAR / "mz/2031002-mz2") == neighbour  # untouched, to the inode
    assert data_files(attacked / YEAR) == data_files(without / YEAR)
    assert without_inodes(attacked / MZ1 / "MANIFEST.json") == without_inodes(without / MZ1 / "MANIFEST.json")
    merged = attacked / MZ1 / "gstudio/media/latest-upload.link"
    assert merged.is_symlink() and os.readlink(merged) == os.readlink(link)
    checked = verify(fleet, attacked)
    assert checked.returncode == 0 and "all match" in checked.stdout, ok(checked)
