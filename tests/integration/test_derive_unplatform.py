"""derive.yml -e derive_from=archive for lab PCs, natively and in the clix-derive image, byte for byte,
on an archive tree built by hand (tests/unplatform_fixture.py): a school with lab PCs and no server
gets its unplatform data and no gStudio error; a school whose server was not collected gets its lab
PCs' data and the server's problem. Nothing here contacts a host, so no fleet is needed."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, ansible_env
from unplatform_fixture import EXPECTED, SCHOOL, make_school

YEAR = str(datetime.date.today().year)
# Another checkout's tests may rebuild localhost/clix-derive:latest meanwhile: a tag of this one's own.
IMAGE = ["-e", f"clix_derive_image={os.environ['CLIX_TEST_DERIVE_IMAGE']}"] if os.environ.get("CLIX_TEST_DERIVE_IMAGE") else []
FILES = ["pc01/activity-data.csv", "pc01/sessions.csv", "pc02/activity-data.csv", "pc02/sessions.csv"]
OTHER = "2031008-mz8"  # a school with a server in the inventory whose gstudio/ was never collected


def ok(proc: subprocess.CompletedProcess) -> str:
    return f"rc={proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, Path]:
    """The hand-made school (two lab PCs, no server) and a school whose server was not collected but
    whose lab PC was (pc01 of the first one, copied), with an inventory naming them."""
    base = tmp_path_factory.mktemp("derive-unplatform")
    root = base / "clix"
    make_school(root, YEAR)
    other = root / YEAR / "mz" / OTHER / "unplatform"
    other.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(root / YEAR / "mz" / SCHOOL / "unplatform" / "pc01"), str(other)], check=True)
    lab_pc = {"school_code": "2031009", "school_name": "A school with lab PCs only",
              "clix_platform": "unplatform", "clix_pc": "pc01", "ansible_host": "192.0.2.1"}
    server = {"school_code": "2031008", "school_name": "A school whose server was not collected",
              "ansible_host": "192.0.2.2"}
    inventory = {"mz": {"children": {"mz9": {"hosts": {f"{SCHOOL}-pc01": lab_pc}},
                                     "mz8": {"hosts": {OTHER: server}}}}}
    (base / "hosts.yml").write_text(yaml.safe_dump(inventory))
    return root, base / "hosts.yml"


def derive(archive: tuple[Path, Path], runner: str) -> tuple[Path, subprocess.CompletedProcess]:
    root, inventory = archive
    out = root / f"recomputed-{runner}"  # inside the archive: the container sees only that
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(REPO / "derive.yml"),
         "-l", "mz", "-e", f"clix_archive_root={root}", "-e", "derive_from=archive",
         "-e", f"clix_derive_runner={runner}", "-e", f"clix_derived_root={out}", *IMAGE],
        cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=600)
    return out, proc


@pytest.fixture(scope="module")
def runs(archive) -> dict:
    return {runner: derive(archive, runner) for runner in ("native", "container")}


def rows(root: Path) -> dict[str, dict]:
    report = json.loads(sorted((root / "reports").glob("collect-*.json"))[-1].read_text())
    return {r["school"]: r for r in report["rows"] if r["item"].startswith("derived")}


@pytest.mark.parametrize("runner", ["native", "container"])
def test_lab_pcs_of_a_school_without_a_server_are_derived_as_computed_by_hand(archive, runs, runner):
    out, proc = runs[runner]
    assert f"derived (archive, {runner})" in proc.stdout, ok(proc)
    derived = out / "derived" / YEAR / "mz" / SCHOOL / "unplatform"  # clix_layout.derived_root
    for name in FILES:
        assert (derived / name).read_bytes() == (EXPECTED / name).read_bytes(), f"{runner}: {name}"
        assert (derived / name).stat().st_mode & 0o077 == 0  # as private as the archive
    row = next(r for s, r in rows(archive[0]).items() if s.startswith(SCHOOL))
    assert row["status"] == "ok" and "gstudio" not in row["reason"].lower(), row
    # the torn JSON file and the link of pc01 are left out, and the report says which
    assert row["reason"].startswith("2 file(s) of lab PCs rejected, left out: lab PC pc01: rejected "), row
    assert "e13.json: Unterminated string" in row["reason"] and "e15.json" in row["reason"], row


@pytest.mark.parametrize("runner", ["native", "container"])
def test_a_school_whose_server_was_not_collected_gets_its_lab_pcs_data_and_the_servers_problem(archive, runs, runner):
    out, proc = runs[runner]
    assert proc.returncode != 0, ok(proc)  # the uncollected server fails the run, as before
    derived = out / "derived" / YEAR / "mz" / OTHER / "unplatform" / "pc01"
    assert (derived / "sessions.csv").read_bytes() == (EXPECTED / "pc01" / "sessions.csv").read_bytes()
    row = rows(archive[0])[OTHER]
    assert row["status"] == "failed" and "gstudio/db is missing (run collect.yml first)" in row["reason"], row


def test_native_and_container_image_write_the_same_bytes(runs):
    (a, _), (b, _) = runs["native"], runs["container"]
    files = sorted(p.relative_to(a) for p in a.rglob("*.csv"))
    assert files == sorted(p.relative_to(b) for p in b.rglob("*.csv")) and len(files) == 6
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_a_school_is_derived_once_by_its_server_else_by_its_first_lab_pc(tmp_path):
    """Several hosts of one school (as the inventory check answers for lab PCs beside a server, or
    lab PCs only): one runs clix-derive for the school, the others record that it did."""
    root = tmp_path / "clix"
    make_school(root, YEAR)
    other = root / YEAR / "mz" / OTHER
    other.mkdir()
    subprocess.run(["cp", "-a", str(root / YEAR / "mz" / SCHOOL / "unplatform"), str(other)], check=True)
    hosts = {f"{SCHOOL}-pc02": ("mz9", SCHOOL, "pc02"), f"{SCHOOL}-pc01": ("mz9", SCHOOL, "pc01"),
             f"{OTHER}-pc01": ("mz8", OTHER, "pc01"), OTHER: ("mz8", OTHER, None)}
    inventory = {"mz": {"children": {group: {"hosts": {
        host: {"school_code": folder.split("-")[0], **({"clix_platform": "unplatform", "clix_pc": pc} if pc else {})}
        for host, (g, folder, pc) in hosts.items() if g == group}} for group in ("mz8", "mz9")}}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    answer = {"schools": {host: {"state": "mz", "server_id": g, "folder": folder,
                                 "platform": "unplatform" if pc else "gstudio", **({"pc": pc} if pc else {})}
                          for host, (g, folder, pc) in hosts.items()}}
    results = tmp_path / "results.json"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
         str(REPO / "tests" / "integration" / "playbooks" / "derive-archive-once.yml"),
         "-e", json.dumps({"clix_inventory": answer, "clix_archive_root": str(root), "clix_year": YEAR,
                           "clix_derive_runner": "native", "clix_test_results": str(results)})],
        cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, ok(proc)
    rows = {r["host"]: r for r in json.loads(results.read_text())}
    item = {host: (r["items"][0]["status"], r["items"][0]["reason"].strip(), int(r["items"][0]["files_transferred"]))
            for host, r in rows.items()}
    assert item[f"{SCHOOL}-pc01"][::2] == ("ok", 4) and item[f"{SCHOOL}-pc01"][1].startswith("2 file(s) of lab PCs")
    assert item[f"{SCHOOL}-pc02"] == ("skipped", f"derived with {SCHOOL}-pc01", 0)
    assert item[f"{OTHER}-pc01"] == ("skipped", f"derived with {OTHER}", 0)
    status, reason, files = item[OTHER]  # the server's host derives its lab PCs and reports its own gap
    assert (status, files) == ("failed", 4) and "gstudio/db is missing (run collect.yml first)" in reason
    assert len(list((root / "derived").rglob("*.csv"))) == 8
