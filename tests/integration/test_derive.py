"""derive.yml both ways on the fleet: gStudio's scripts in each school's (stand-in) container, and
the same data recomputed from the archive natively and in the clix-derive image, byte for byte."""

from __future__ import annotations

import datetime
import filecmp
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import PINNED, PINNED_STAMP, copy_archive, run_module, run_playbook

from fleet import hosts

YEAR = str(datetime.date.today().year)
# Another checkout's tests may rebuild localhost/clix-derive:latest meanwhile: a tag of this one's own.
IMAGE = ["-e", f"clix_derive_image={os.environ['CLIX_TEST_DERIVE_IMAGE']}"] if os.environ.get("CLIX_TEST_DERIVE_IMAGE") else []
OUTPUT_FOLDERS = ["gstudio-exported-users-analytics-csvs", "activity-timestamp-csvs", "qbank/student-activities"]


def ok(proc: subprocess.CompletedProcess) -> str:
    return f"rc={proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


def latest_report(archive: Path) -> dict:
    return json.loads(sorted((archive / "reports").glob("collect-*.json"))[-1].read_text())


def rows_by_school(archive: Path, item_prefix: str) -> dict[str, dict]:
    return {r["school"]: r for r in latest_report(archive)["rows"] if r["item"].startswith(item_prefix)}


def pinned_files(folder: Path) -> dict[str, bytes]:
    """The derived files of the pinned minute (the fleet's servers also hold older ones)."""
    out = {}
    for sub in OUTPUT_FOLDERS:
        for p in sorted((folder / sub).glob("*")):
            if PINNED_STAMP in p.name or p.name == "activity-data.csv":
                out[f"{sub}/{p.name}"] = p.read_bytes()
    return out


@pytest.fixture(scope="module")
def collected(mz_collected, tmp_path_factory) -> Path:
    """mz collected once for the session (conftest.mz_collected); collect.yml ran the scripts in each
    school's container first. A copy: derive.yml writes its reports and recomputed files into it."""
    return copy_archive(mz_collected[0], tmp_path_factory.mktemp("derive") / "clix")


def test_collect_runs_the_scripts_in_the_container_and_reports_them(fleet, collected):
    rows = rows_by_school(collected, "derived")
    assert {s: r["status"] for s, r in rows.items()} == {f"203100{n}-mz{n}": "ok" for n in (1, 2, 3)}
    for n in (1, 2, 3):
        tree = collected / YEAR / "mz" / f"203100{n}-mz{n}" / "gstudio"
        files = pinned_files(tree)
        assert len([f for f in files if f.startswith("gstudio-exported")]) == 3  # the fleet's three units
        assert any(f.startswith("activity-timestamp-csvs/") for f in files)
        assert files["qbank/student-activities/activity-data.csv"].startswith(b"Username,UserID,Date (2018-06-04),")
        # The manifest covers what the container produced, so verify.yml keeps them honest.
        manifest = json.loads((tree.parent / "MANIFEST.json").read_text())
        assert manifest["items"]["derived (gStudio container)"]["status"] == "ok"
        assert any(PINNED_STAMP in path for path in manifest["files"])


@pytest.fixture(scope="module")
def recompute(fleet, collected):
    """derive.yml -e derive_from=archive with a runner, once per module: {runner: (out_root, proc)}.
    Each test asks for the runs it needs, so any of them runs alone (pytest -k)."""
    done: dict[str, tuple[Path, subprocess.CompletedProcess]] = {}

    def run(runner: str) -> tuple[Path, subprocess.CompletedProcess]:
        if runner not in done:
            out_root = collected / f"recomputed-{runner}"
            proc = run_playbook(fleet, "derive.yml", "-l", "mz", "-e", f"clix_archive_root={collected}",
                                "-e", "derive_from=archive", "-e", f"clix_derive_runner={runner}",
                                "-e", f"clix_derived_root={out_root}", "-e", f"clix_derive_now={PINNED}", *IMAGE)
            done[runner] = (out_root, proc)
        return done[runner]

    return run


@pytest.mark.parametrize("runner", ["native", "container"])
def test_archive_recompute_is_byte_identical_to_the_school_containers(fleet, collected, recompute, runner):
    out_root, proc = recompute(runner)
    assert proc.returncode == 0, ok(proc)
    assert f"derived (archive, {runner})" in proc.stdout
    for n in (1, 2, 3):
        folder = f"203100{n}-mz{n}"
        live = pinned_files(collected / YEAR / "mz" / folder / "gstudio")
        derived = out_root / "derived" / YEAR / "mz" / folder  # clix_layout.derived_root
        recomputed = pinned_files(derived)
        assert recomputed.keys() == live.keys()
        for name in live:
            assert recomputed[name] == live[name], f"{folder}/{name} differs between the container on the server and {runner}"
        # Recomputed files are private and never written over the collected originals.
        assert all((derived / f).stat().st_mode & 0o077 == 0 for f in recomputed)


def test_native_and_container_image_agree_on_every_file(fleet, recompute):
    (a, native), (b, container) = recompute("native"), recompute("container")
    assert native.returncode == 0 and container.returncode == 0, ok(native) + ok(container)
    cmp = filecmp.dircmp(a, b)

    def same(c: filecmp.dircmp) -> bool:
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        return not (c.left_only or c.right_only or mismatch or errors) and all(same(s) for s in c.subdirs.values())

    assert list(a.rglob("*.csv")) and same(cmp)


def test_a_school_not_collected_is_reported_by_archive_derive(fleet, tmp_path):
    proc = run_playbook(fleet, "derive.yml", "-l", "mz1", "-e", f"clix_archive_root={tmp_path}",
                        "-e", "derive_from=archive", "-e", "clix_derive_runner=native")
    assert proc.returncode != 0
    row = rows_by_school(tmp_path, "derived")["2031001-mz1"]
    assert row["status"] == "failed" and "run collect.yml first" in row["reason"]


def test_stopped_and_missing_containers_are_reported_not_fatal(fleet, target_python, tmp_path):
    mz2, mz3 = fleet.school("mz2"), fleet.school("mz3")
    hosts.podman_in_school(fleet.lab, mz2, "stop", "-t", "0", "gstudio", capture_output=True)
    hosts.podman_in_school(fleet.lab, mz3, "rename", "gstudio", "gstudio-elsewhere", capture_output=True)
    try:
        proc = run_playbook(fleet, "derive.yml", "-l", "mz", "-e", f"clix_archive_root={tmp_path}")
    finally:
        hosts.podman_in_school(fleet.lab, mz2, "start", "gstudio", capture_output=True)
        hosts.podman_in_school(fleet.lab, mz3, "rename", "gstudio-elsewhere", "gstudio", capture_output=True)
    assert proc.returncode == 0, ok(proc)
    rows = rows_by_school(tmp_path, "derived")
    assert rows["2031001-mz1"]["status"] == "ok"
    assert rows["2031002-mz2"]["status"] == "skipped" and "is stopped" in rows["2031002-mz2"]["reason"]
    assert rows["2031003-mz3"]["status"] == "skipped" and "is absent" in rows["2031003-mz3"]["reason"]
    # an expected condition, never printed as a red error
    assert "fatal: [2031002-mz2]" not in proc.stdout and "fatal: [2031003-mz3]" not in proc.stdout, ok(proc)
    assert "...ignoring" not in proc.stdout, ok(proc)
    # The analytics already on those servers are still pulled.
    assert list((tmp_path / YEAR / "mz" / "2031002-mz2" / "gstudio" / "gstudio-exported-users-analytics-csvs").glob("*.csv"))


def test_a_command_that_overruns_is_killed_inside_the_container(fleet, target_python):
    started = time.monotonic()
    result = run_module(fleet, "mz1", "clix_gstudio_derive",
                        {"runtime": "podman", "commands": ["export_users_analytics"], "timeout": 2,
                         "env": {"CLIX_STANDIN_SLEEP": "30"}},
                        "-e", f"ansible_python_interpreter={target_python}")["2031001-mz1"]
    assert time.monotonic() - started < 25
    assert result["failed"] and result["commands"][0]["status"] == "timeout", result
    assert "export_users_analytics: timeout" in result["msg"]
    left = hosts.podman_in_school(fleet.lab, fleet.school("mz1"), "exec", "gstudio", "sh", "-c",
                                  "grep -l 'manage[.]py' /proc/[0-9]*/cmdline || true", capture_output=True, text=True)
    assert left.stdout.strip() == "", f"manage.py still runs in the container: {left.stdout}"
    log = hosts.in_namespace(fleet.lab, fleet.school("mz1"), ["cat", result["commands"][0]["log"]],
                             capture_output=True, text=True).stdout
    assert "exit status 137" in log


def test_check_mode_runs_nothing(fleet, target_python):
    result = run_module(fleet, "mz1", "clix_gstudio_derive", {"runtime": "podman", "users": ["someone-mz1"]},
                        "--check", "-e", f"ansible_python_interpreter={target_python}")["2031001-mz1"]
    assert not result["failed"] and result["container_state"] == "running"
    assert [c["status"] for c in result["commands"]] == ["would run"] * 4
    assert result["commands"][-1]["name"] == "activity_timestamp someone-mz1"


def test_an_image_built_from_other_code_is_refused_before_anything_is_locked(fleet, tmp_path):
    # The base image carries no clix_derive at all, like an image built before a change to it.
    proc = run_playbook(fleet, "derive.yml", "-l", "mz1", "-e", f"clix_archive_root={tmp_path}",
                        "-e", "derive_from=archive", "-e", "clix_derive_image=localhost/clix-base:bookworm")
    assert proc.returncode != 0
    assert "built from other code than clix_derive/" in proc.stdout and "make images" in proc.stdout
    assert not list(tmp_path.iterdir())  # no lock, no report: refused before the archive was touched


def test_a_school_without_its_container_still_has_its_staging_removed(fleet, target_python, tmp_path):
    """A skipped derived step is an expected condition: the staging folder goes as after a clean run
    (kept, the next run would pull the same heartbeat files again)."""
    mz2 = fleet.school("mz2")
    hosts.podman_in_school(fleet.lab, mz2, "stop", "-t", "0", "gstudio", capture_output=True)
    try:
        proc = run_playbook(fleet, "collect.yml", "-l", "mz2", "--tags", "heartbeat,analytics",
                            "-e", f"clix_archive_root={tmp_path}")
    finally:
        hosts.podman_in_school(fleet.lab, mz2, "start", "gstudio", capture_output=True)
    assert proc.returncode == 0, ok(proc)
    manifest = json.loads((tmp_path / YEAR / "mz" / "2031002-mz2" / "MANIFEST.json").read_text())
    assert any(item["status"] == "skipped" for item in manifest["items"].values()), manifest["items"]
    assert not (fleet.core("mz2") / "clix-collect-staging").exists()
