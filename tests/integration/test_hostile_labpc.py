"""A hostile lab PC (issue 26) on the session fleet: ct1-pc02 (the attacker) answers collect.yml with a
result of its own making - its datastore declared a snapshot after it deleted files, an install whose path
carries escape sequences - and holds a JSON file past clix_unplatform_json_limit, one nested past Python's
reader and a sessions database without a sessions table; its school's server ct1 plants unplatform/pc01 as
a link into its own folder. Nothing of it reaches the neighbour school (rj1) or the victim PC (ct1-pc01),
nor costs pc02 its archived history; the run fails with the reasons, on an escaped terminal, in bounded memory.

A lab PC's module result is the PC's: the attacker replaces the Python the modules run with (its
/opt/clix-collect/venv/bin/python) by one that rewrites clix_unplatform's answer. Runs (--tags unplatform,
pc01's app stopped so that its files are the same in both):
  baseline  ct1 (server, pc01, pc02) and rj1 (two PCs, no server) honest: a run without the attacker
  attacked  a copy of baseline without pc01's folder (a PC new to the archive, whose place the server's
            link can take), then ct1 and rj1 again with the server and pc02 hostile
"""

from __future__ import annotations

import datetime
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from ansible.module_utils.clix_unplatform import V2_DATASTORE, V2_SESSIONS_DB, V2_USER_DATA
from conftest import REPO, ansible_env

from fleet import hosts

YEAR = str(datetime.date.today().year)
# The control node's peak resident memory over the run (any process of it): 60-80 MiB; pc02's 24 MiB
# JSON file of small objects took it to about 700 MiB before clix_unplatform_json_limit.
MEMORY_BOUND_MIB = 200
PEAK_RSS = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
            "print('peak-rss-kib=%d' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
            "sys.exit(rc)")
HOSTILE_PATH = "/opt/\x1b]0;owned\x07\x1b[2Jclix"
# Replaces pc02's answer: the datastore a snapshot (swapped in whole: files the PC deleted gone from the
# archive), an install at HOSTILE_PATH with a note of escape sequences.
REWRITE = r"""
import json, sys
text = sys.stdin.read()
try:
    result = json.loads(text)
except ValueError:
    result = None
if isinstance(result, dict) and result.get("installs"):
    for install in result["installs"]:
        for pull in install["pull"]:
            if pull["dest"] == %(datastore)r:
                pull.update(kind="snapshot", expect={}, exclude=[])
    result["installs"].append(dict(result["installs"][0], label="opt-clix-2", path=%(path)r,
                                   notes=["\x1b[2J\x1b[31mall is well"], pull=[dict(
                                       name="x", src=%(path)r + "/" + %(datastore)r + "/", dest=%(datastore)r,
                                       kind="json", expect={}, exclude=[])]))
    text = json.dumps(result)
sys.stdout.write(text)
""" % {"datastore": V2_DATASTORE, "path": HOSTILE_PATH}
WRAPPER = """#!/bin/bash
set -o pipefail
"$(dirname "$0")/python.real" "$@" | /usr/bin/python3 /opt/hostile/rewrite.py
"""


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def peak_rss_mib(self) -> float:
        return int([x for x in self.stderr.splitlines() if x.startswith("peak-rss-kib=")][-1].split("=")[1]) / 1024

    def tail(self) -> str:
        return f"rc={self.returncode} in {self.seconds:.0f} s\n{self.stdout[-8000:]}\n{self.stderr[-3000:]}"


def collect(fleet, archive: Path, *args: str) -> Run:
    cmd = [sys.executable, "-c", PEAK_RSS, str(Path(sys.executable).parent / "ansible-playbook"), "-i",
           str(fleet.inventory), str(REPO / "collect.yml"), "-e", f"clix_archive_root={archive}", "--tags", "unplatform",
           *args]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=900)
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def school(archive: Path, fleet, pc_name: str) -> Path:
    pc = fleet.lab_pc(pc_name)
    return archive / YEAR / pc.state / f"{pc.school_code}-{pc.server_id}"


def files(folder: Path, prefix: str = "") -> dict:
    """{path: bytes} of the regular files below folder/prefix (links never followed), MANIFEST.json aside."""
    top = folder / prefix
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(top.rglob("*"))
            if p.is_file() and not p.is_symlink() and p.name != "MANIFEST.json"} if top.is_dir() else {}


def manifest_files(folder: Path, prefix: str) -> dict:
    entries = json.loads((folder / "MANIFEST.json").read_text())["files"]
    return {k: (v["size"], v["sha256"]) for k, v in entries.items() if k.startswith(prefix)}


@dataclass
class Attack:
    baseline: Path
    attacked: Path
    honest: Run
    run: Run
    deleted: list


def make_hostile(fleet, pc_root: Path) -> list:
    """pc02 turned hostile; returns the datastore files it deleted."""
    bin_dir = pc_root / "opt/clix-collect/venv/bin"
    (bin_dir / "python").rename(bin_dir / "python.real")
    (bin_dir / "python").write_text(WRAPPER)
    (bin_dir / "python").chmod(0o755)
    (pc_root / "opt/hostile").mkdir()
    (pc_root / "opt/hostile/rewrite.py").write_text(REWRITE)
    install = pc_root / "opt/clix"
    deleted = sorted(p for p in (install / V2_DATASTORE).rglob("*.json"))[:20]
    for path in deleted:
        path.unlink()
    user_data = install / V2_USER_DATA
    (user_data / "big.json").write_bytes(b"[" + b"{}," * (8 << 20) + b"{}]")  # 24 MiB of small objects
    (user_data / "deep.json").write_text("[" * 20000 + "]" * 20000)
    con = sqlite3.connect(install / V2_SESSIONS_DB)
    con.execute("ALTER TABLE sessions RENAME TO gone")  # as a re-installed app not yet started
    con.commit()
    con.close()
    return [str(p.relative_to(install)) for p in deleted]


@pytest.fixture(scope="module")
def attack(fleet, target_python, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile-labpc")
    baseline, attacked = tmp / "baseline", tmp / "attacked"
    pc01 = fleet.lab_pc("ct1-pc01")
    pc_root = fleet.pc_root("ct1-pc02")
    saved = tmp / "pc02-saved"
    shutil.copytree(pc_root / "opt", saved, symlinks=True)
    link = fleet.core("ct1") / "unplatform" / "pc01"
    writer = any(hosts.app_answers(pc01))
    if writer:
        hosts.stop_unplatform_writer(fleet.lab, pc01)  # the victim's files the same in both runs
    try:
        honest = collect(fleet, baseline, "-l", "ct1,rj1")
        assert honest.returncode == 0, honest.tail()
        shutil.copytree(baseline, attacked, symlinks=True)
        # pc01 new to this archive (a PC just added to the inventory): the server's link can take its place
        shutil.rmtree(school(attacked, fleet, "ct1-pc01") / "unplatform/pc01")
        deleted = make_hostile(fleet, pc_root)
        link.symlink_to("data")  # the server's: kept by its pull, as it stays inside its own item
        run = collect(fleet, attacked, "-l", "ct1,rj1")
        print("hostile lab PC: baseline %.0f s, attacked %.0f s, peak %.0f MiB" % (
            honest.seconds, run.seconds, run.peak_rss_mib))
        yield Attack(baseline, attacked, honest, run, deleted)
    finally:
        if link.is_symlink():
            link.unlink()
        for child in (pc_root / "opt").iterdir():  # /opt itself is the PC's mount: emptied, never removed
            shutil.rmtree(child)
        shutil.copytree(saved, pc_root / "opt", symlinks=True, dirs_exist_ok=True)
        if writer:
            hosts.start_unplatform_writer(fleet.lab, pc01)


def test_the_neighbour_school_and_the_victim_pc_are_as_a_run_without_the_attacker(fleet, attack):
    """Items 9 and 10 reach no further than pc02's own folder: rj1's folder and ct1's unplatform/pc01 hold
    the same bytes as after the honest run, and the server's pc01 link was never pulled."""
    for pc, prefix in (("rj1-pc01", ""), ("ct1-pc01", "unplatform/pc01")):
        honest, attacked = school(attack.baseline, fleet, pc), school(attack.attacked, fleet, pc)
        assert files(attacked, prefix) and files(attacked, prefix) == files(honest, prefix), (pc, attack.run.tail())
        assert manifest_files(attacked, prefix) == manifest_files(honest, prefix), pc
    ct1 = school(attack.attacked, fleet, "ct1-pc01")
    assert not (ct1 / "unplatform/pc01").is_symlink()
    assert not (ct1 / "unplatform/data/opt-clix").exists()


def test_the_attackers_archived_history_is_kept(fleet, attack):
    """Item 10: a datastore the PC declared a snapshot is pulled as JSON (the control node's table), so the
    files it deleted stay archived as they were; item 2: its database without a sessions table fails the
    item and the archived copy stays; item 5: the oversized JSON file is not archived, the deep one is."""
    honest, attacked = school(attack.baseline, fleet, "ct1-pc02"), school(attack.attacked, fleet, "ct1-pc02")
    before, after = files(honest, "unplatform/pc02"), files(attacked, "unplatform/pc02")
    assert attack.deleted and all(after.get(rel) == data for rel, data in before.items()), \
        sorted(rel for rel, data in before.items() if after.get(rel) != data)[:10]
    base = "unplatform/pc02/opt-clix/"
    assert all(base + rel in after for rel in attack.deleted)
    assert after[base + V2_SESSIONS_DB] == before[base + V2_SESSIONS_DB]
    assert base + V2_USER_DATA + "/deep.json" in after and base + V2_USER_DATA + "/big.json" not in after
    assert not (attacked / "unplatform/pc02/opt-\x1b]0;owned\x07\x1b[2Jclix").exists()


def test_the_run_fails_with_the_reasons_on_an_escaped_terminal_in_bounded_memory(fleet, attack):
    run = attack.run
    assert run.returncode != 0, run.tail()
    report = json.loads(sorted((attack.attacked / "reports").glob("collect-*.json"))[-1].read_text())
    rows = {(r["school"], r["item"]): r for r in report["rows"]}
    pc02 = rows[(fleet.lab_pc("ct1-pc02").hostname, "unplatform/pc02")]
    assert pc02["status"] == "failed", pc02
    for why in ("clix_unplatform_json_limit", "-e clix_unplatform_json_limit=", "no sessions table",
                "an install the lab PC reported was not pulled", "\\x1b]0;owned\\x07"):
        assert why in pc02["reason"], (why, pc02["reason"])
    assert rows[(fleet.lab_pc("ct1-pc01").hostname, "unplatform/pc01")]["status"] in ("ok", "unchanged")
    assert {r["status"] for k, r in rows.items() if k[0].startswith("3051001-rj1")} <= {"ok", "unchanged"}
    for text in (run.stdout, run.stderr):
        assert "\x1b" not in text and "\x07" not in text, [line for line in text.splitlines() if "\x1b" in line][:3]
    assert run.peak_rss_mib < MEMORY_BOUND_MIB, run.peak_rss_mib
    assert attack.honest.peak_rss_mib < MEMORY_BOUND_MIB
