"""A hostile USB stick (tests/usb.py hostile_stick) ingested for one school, beside a neighbour school
whose lab PC (the victim) was ingested before: nothing on the stick reaches past the school the
operator named, one odd source never stops the others, and the control node's memory stays bounded.

No fleet: ingest runs on the control node only and contacts no host. Runs, each into its own archive:
  baseline  the victim PC's honest extraction (-e clix_ingest_school=<neighbour>), then the stick's
            honest sources alone (-e clix_ingest_school=<our school>): a run without the attacker
  attacked  the same victim extraction, then the whole hostile stick for our school
Each test names the defence whose absence it shows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import usb
from ansible.module_utils.clix_identity import unsafe_chars
from conftest import REPO, ansible_env

T1 = dt.datetime(2025, 3, 2, 9, 5, 33)
YEAR = "2025"
SCHOOL, NEIGHBOUR = "2031001-mz1", "2031002-mz2"
OURS = {"state": "mz", "schoolId": "2031001", "terminalId": "pc01"}
VICTIM = {"state": "mz", "schoolId": "2031002", "terminalId": "pc01"}
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
            2031002-mz2-pc01: {clix_platform: unplatform, clix_pc: pc01, school_code: "2031002", school_name: NEXT HS}
"""
# The limits are lowered so that the stick's cases stay small; each is a variable of the role.
LIMITS = ("-e", "clix_ingest_max_entries=10000", "-e", "clix_ingest_max_json_bytes=1048576")
# The ingest's peak resident memory (the Ansible worker that runs it in-process, or any process of the
# run): the stick holds a 4 GiB sparse WAL, a 360 MiB zip bomb and an endless view.
MEMORY_BOUND_MIB = 400
PEAK_RSS = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
            "print('peak-rss-kib=%d' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
            "sys.exit(rc)")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def peak_rss_mib(self) -> float:
        line = [x for x in self.stderr.splitlines() if x.startswith("peak-rss-kib=")][-1]
        return int(line.split("=")[1]) / 1024

    def tail(self) -> str:
        return f"rc={self.returncode}\n{self.stdout[-8000:]}\n{self.stderr[-3000:]}"


def ingest(tmp: Path, source: Path, archive: Path, school: str, *extra: str) -> Run:
    inventory = tmp / "inventory.yml"
    inventory.write_text(INVENTORY)
    cmd = [sys.executable, "-c", PEAK_RSS, str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
           str(REPO / "ingest.yml"), "-e", f"clix_ingest_from={source}", "-e", f"clix_archive_root={archive}",
           "-e", f"clix_ingest_school={school}", *extra]
    proc = subprocess.run(cmd, cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=900)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def listing(root: Path) -> dict[str, tuple]:
    """{relative path: description} of everything below root, never following a link."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            st = os.lstat(path)
            rel = str(path.relative_to(root))
            if stat.S_ISREG(st.st_mode):
                out[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                out[rel] = (stat.filemode(st.st_mode),)
    return out


@dataclass
class Stick:
    cases: dict[str, Path]
    stick: Path
    baseline: Path
    attacked: Path
    before: dict[str, tuple]
    after: dict[str, tuple]
    honest: Run
    run: Run

    def source(self, case: str) -> dict:
        rel = str(self.cases[case].relative_to(self.stick))
        found = [s for s in self.report()["sources"] if s["source"] == rel]
        assert found, f"no source {rel!r} in the report: {[s['source'] for s in self.report()['sources']]}"
        return found[0]

    def report(self) -> dict:
        reports = sorted((self.attacked / "reports").glob("ingest-*.json"))
        assert reports, "no ingest report was written\n" + self.run.tail()
        return json.loads(reports[-1].read_text())


@pytest.fixture(scope="module")
def stick(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile-stick")
    victim = usb.make_install(tmp / "victim", T1, {"v1": "2025-03-02 09:00:00", "v2": "2025-03-02 09:01:00"},
                              {"vle1": '{"action": "start"}'}, VICTIM, {"v1": "Lalṭhangliana"})
    victim_stick = tmp / "victim-stick"
    usb.extract_like_script(victim, victim_stick, T1)
    try:
        cases = usb.hostile_stick(tmp / "stick", tmp / "work", T1, OURS, VICTIM)
        honest = tmp / "honest-stick"
        for case in ("good", "good-folder"):
            shutil.copytree(cases[case].parent, honest / case, symlinks=True)
        seed, baseline, attacked = tmp / "seed" / "archive", tmp / "baseline" / "archive", tmp / "attacked" / "archive"
        run = ingest(tmp, victim_stick, seed, NEIGHBOUR)
        assert run.returncode == 0, "the victim's own extraction must ingest cleanly:\n" + run.tail()
        for archive in (baseline, attacked):
            shutil.copytree(seed, archive, symlinks=True)
        honest_run = ingest(tmp, honest, baseline, SCHOOL, *LIMITS)
        assert honest_run.returncode == 0, "the stick's honest sources alone must ingest cleanly:\n" + honest_run.tail()
        before = listing(attacked)
        run = ingest(tmp, tmp / "stick", attacked, SCHOOL, *LIMITS)
        yield Stick(cases, tmp / "stick", baseline, attacked, before, listing(attacked), honest_run, run)
    finally:  # pytest's clean-up (shutil.rmtree) recurses once per folder
        if (tmp / "stick" / "deep").exists():
            usb.remove_deep(tmp / "stick" / "deep")


# -- the run ---------------------------------------------------------------------------------------

def test_the_run_ends_non_zero_and_writes_its_report(stick):
    assert stick.run.returncode != 0, "a stick with refused sources must fail the run\n" + stick.run.tail()
    assert "extraction(s) refused" in stick.run.stdout, stick.run.tail()
    stick.report()


# (case, status, what the reason or a skipped entry's reason says)
VERDICTS = [
    ("other-school", "quarantined", 'says school "2031002"'),  # 1
    ("trigger", "ingested", "trigger 'wipe'"),  # 2, 11
    ("view", "ingested", "view 'sessions'"),
    ("month0", "ingested", "month0.json': its zip date"),  # 4
    ("nested-json", "ingested", "nested.json': nested deeper than"),
    ("method", "refused", "compression method 99"),
    ("encrypted", "refused", "encrypted"),
    ("lzma", "refused", "corrupt"),
    ("deep", "ingested", ""),  # found 1,200 folders down
    ("sparse-wal", "refused", "clix_ingest_max_wal_bytes"),  # 5
    ("big-json", "ingested", "clix_ingest_max_json_bytes"),
    ("ratio", "refused", "clix_ingest_max_ratio"),  # 6
    ("many", "refused", "clix_ingest_max_entries"),
    ("names", "ingested", "\\x1b[2J\\x1b[31mansi.json"),  # 3
    ("escaped-folder", "refused", "install name '\\x1b[2J\\x1b[31mCLIx\\u202e'"),
]


@pytest.mark.parametrize("case, status, why", VERDICTS, ids=[v[0] for v in VERDICTS])
def test_each_hostile_source_has_its_verdict_and_reason(stick, case, status, why):
    source = stick.source(case)
    said = [source.get("reason") or "", *source.get("skipped", []), *source.get("notes", [])]
    assert source["status"] == status and any(why in s for s in said), f"{case}: {source}"


def test_a_link_on_the_stick_is_reported_and_never_followed(stick):
    notes = "\n".join(stick.report().get("notes", []))
    assert "'link': a symbolic link, never followed" in notes, notes


# -- what the stick must not reach -----------------------------------------------------------------

def test_the_neighbour_and_its_pc_are_byte_identical_to_a_run_without_the_attacker(stick):
    neighbour = f"{YEAR}/mz/{NEIGHBOUR}"
    alone = {p: d for p, d in listing(stick.baseline).items() if p.startswith(neighbour + "/")}
    beside = {p: d for p, d in stick.after.items() if p.startswith(neighbour + "/")}
    assert alone and beside == alone, sorted(set(alone.items()) ^ set(beside.items()))[:20]


def test_an_extraction_naming_another_school_is_quarantined_under_the_operators_school(stick):
    quarantine = stick.attacked / "quarantine" / YEAR / "mz" / SCHOOL
    manifest = json.loads((quarantine / "MANIFEST.json").read_text())
    assert "2031002" in manifest["school"]["identity_problem"], manifest["school"]
    dbs = list(quarantine.rglob("unplatform.sqlite3"))
    assert len(dbs) == 1 and "planted" in sessions(dbs[0])


def test_nothing_changes_outside_the_school_its_quarantine_and_the_reports(stick):
    allowed = (f"{YEAR}/mz/{SCHOOL}", f"quarantine/{YEAR}/mz/{SCHOOL}", "reports", ".clix-collect.lock")
    changed = sorted(p for p in stick.before.keys() | stick.after.keys() if stick.before.get(p) != stick.after.get(p))
    stray = [p for p in changed if not any(p == a or p.startswith(a + "/") or a.startswith(p + "/") for a in allowed)]
    assert not stray, stray[:20]
    planted = [p for p in stick.after if "through-link" in p]
    assert not planted, planted


def test_every_honest_source_on_the_stick_is_ingested(stick):
    for case in ("good", "good-folder"):
        assert stick.source(case)["status"] == "ingested", stick.source(case)
    pcs = stick.attacked / YEAR / "mz" / SCHOOL / "unplatform"
    assert {"g1", "g2"} <= set(sessions(pcs / "pc01" / "UsersstudentAppDataLocalCLIxCLIx" / "unplatform.sqlite3"))
    assert set(sessions(pcs / "pc02" / "CLIx" / "unplatform.sqlite3")) == {"f1", "f2-in-wal"}
    honest = stick.attacked.parent.parent / "honest-stick"
    for rel in ("good-folder/CLIx/webapps/CLIx/datastore/logging/LogEntry/fle1.json",):
        placed = pcs / "pc02" / "CLIx" / rel.split("CLIx/", 1)[1]
        assert placed.read_bytes() == (honest / rel).read_bytes()


def test_no_archived_sessions_database_holds_a_view_or_a_trigger(stick):
    for db in stick.attacked.rglob("unplatform.sqlite3"):
        con = sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True)
        kinds = {k for (k,) in con.execute("SELECT type FROM sqlite_master")}
        con.close()
        assert kinds == {"table", "index"}, (db, kinds)


def test_names_from_the_stick_reach_neither_the_terminal_nor_a_file_name_raw(stick):
    raw = [c for c in usb.ESCAPES.values()] + ["\x1b", "\x9b"]
    shown = stick.run.stdout + stick.run.stderr
    for report in (stick.attacked / "reports").glob("ingest-*"):
        shown += report.read_text(errors="surrogateescape")
    assert not [c for c in raw if c in shown], "a name from the stick reached the terminal or the report raw"
    named = [p for p in stick.after if unsafe_chars(p)]
    assert not named, named


def test_the_control_nodes_memory_stays_under_its_bound(stick):
    assert stick.run.peak_rss_mib < MEMORY_BOUND_MIB, f"peak RSS {stick.run.peak_rss_mib:.0f} MiB"
    print(f"peak RSS: hostile stick {stick.run.peak_rss_mib:.0f} MiB, honest sources {stick.honest.peak_rss_mib:.0f} MiB")


def sessions(db: Path) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True)
    try:
        return dict(con.execute("SELECT session_id, atime FROM sessions"))
    finally:
        con.close()
