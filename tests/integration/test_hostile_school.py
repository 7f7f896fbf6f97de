"""A hostile school (fleet/hostile.py) collected beside a neighbour of the same state: nothing it
holds reaches past its own folder.

The fleet: mz1 hostile, mz2 its neighbour (no gStudio container: collect.yml runs without the
derived step). Runs:
  A  collect.yml -l mz2                      the neighbour alone (baseline)
  B  collect.yml -l mz1,mz2                  the hostile school beside it
  B' derive.yml -l mz1 from archive B        native derive over what B holds of the hostile school
  C  collect.yml -l mz1 --tags db,postgres,settings -e clix_redact_settings=true, then derive.yml:
     the hostile school with its true server_settings.py and without its oddly named collections,
     so that redaction and the derived file names are tried even when the identity check
     quarantines B and the dump refuses the names (each test below fails for one defence only).

Every run is bounded (RUN_TIMEOUT, then it is killed with all its workers). Before and after each run
the whole archive and the control-node side of the traps are listed (lstat, never following a
link); a test names the defence whose absence it shows.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

import bson
import pytest
import yaml
from conftest import REPO, ansible_env

from fleet import __main__ as fleet_cli
from fleet import hostile, hosts

YEAR = str(datetime.date.today().year)
STATE = "mz"
HOSTILE, NEIGHBOUR = "mz1", "mz2"
HOSTILE_FOLDER, NEIGHBOUR_FOLDER = "2031001-mz1", "2031002-mz2"
FIRST_ADDRESS, TAG = 224, "w"  # addresses 224-227 are this test's
# A hanging run (a FIFO or /dev/zero read by the control node) is killed after this many seconds.
RUN_TIMEOUT = int(os.environ.get("CLIX_TEST_HOSTILE_TIMEOUT", "600"))
# The links in data/media/hostile/ that leave the media item (fleet/hostile.py arm_media).
LEAVING_LINKS = ("abs-secret", "abs-hostname", "dev-zero", "up-dir", "up-file", "up-root")
HARMLESS = {"ok", "unchanged", "absent", "skipped"}
ITEM_DESTS = sorted((item["dest"] for item in
                     yaml.safe_load((REPO / "roles/clix/defaults/main.yml").read_text())["clix_items"]),
                    key=len, reverse=True)


# -- running playbooks -----------------------------------------------------------------------------

@dataclass
class Run:
    args: list[str]
    returncode: int | None  # None: killed after RUN_TIMEOUT
    stdout: str
    stderr: str

    @property
    def ended(self) -> bool:
        return self.returncode is not None

    def tail(self) -> str:
        state = f"rc={self.returncode}" if self.ended else f"KILLED after {RUN_TIMEOUT}s (it never ended)"
        return f"{' '.join(self.args)}: {state}\n{self.stdout[-5000:]}\n{self.stderr[-2000:]}"


def playbook(lab: hosts.Lab, name: str, *args: str, timeout: int = RUN_TIMEOUT) -> Run:
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(lab.inventory), str(REPO / name), *args]
    proc = subprocess.Popen(argv, cwd=REPO, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return Run([name, *args], proc.returncode, out, err)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        out, err = proc.communicate()
        return Run([name, *args], None, out, err)


def kill_tree(pid: int) -> None:
    """SIGKILL pid and all its descendants: Ansible's workers start sessions of their own (setsid),
    so the process group is not enough, and one of them may be reading /dev/zero forever."""
    os.kill(pid, signal.SIGSTOP)  # no new workers while the tree is read
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [pid], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            tree.append(child)
            todo.append(child)
    for p in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


def collect(lab: hosts.Lab, archive: Path, *args: str) -> Run:
    # No gStudio container here: without the derived step every item of a sound school is ok, so
    # its staging folder is removed and the next run captures exactly one heartbeat of its own.
    return playbook(lab, "collect.yml", "-e", f"clix_archive_root={archive}", "-e", "clix_derived_on_server=false", *args)


def derive(lab: hosts.Lab, archive: Path, limit: str) -> Run:
    return playbook(lab, "derive.yml", "-l", limit, "-e", f"clix_archive_root={archive}", "-e", "derive_from=archive",
                    "-e", "clix_derive_runner=native")


# -- listing what exists, never following a link ---------------------------------------------------

def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(path: Path) -> tuple:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return ("dir",)
    if stat.S_ISREG(st.st_mode):
        return ("file", st.st_size, sha256(path))
    return ("special", stat.filemode(st.st_mode))


def listing(root: Path) -> dict[str, tuple]:
    """{relative path: description} of everything below root (os.walk never descends a link)."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            out[str(path.relative_to(root))] = describe(path)
    return out


@dataclass
class World:
    """The archive and the control-node side of the traps, at one moment."""

    archive: dict[str, tuple]
    canary: dict[str, tuple]
    victim: bytes
    secret: dict[str, tuple]


def world(archive: Path, traps: hostile.Traps) -> World:
    return World(listing(archive), listing(traps.canary), traps.victim.read_bytes(), listing(traps.secret_dir))


def changed_paths(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def outside(paths: list[str], allowed: list[str], after: dict[str, tuple]) -> list[str]:
    """The paths that are neither below an allowed folder nor a new folder on the way to one."""
    def ok(p: str) -> bool:
        if any(p == a or p.startswith(a + "/") for a in allowed):
            return True
        return after.get(p) == ("dir",) and any(a.startswith(p + "/") for a in allowed)
    return [p for p in paths if not ok(p)]


def hostile_roots() -> list[str]:
    """Where the hostile school's tree may be: its own folder, or its quarantine folder."""
    return [f"{YEAR}/{STATE}/{HOSTILE_FOLDER}", f"quarantine/{YEAR}/{STATE}/{HOSTILE_FOLDER}"]


def item_root(rel: str) -> str | None:
    """The item folder (roles/clix/defaults clix_items dest) that holds rel, with its school folder."""
    parts = rel.split("/")
    for i, part in enumerate(parts):
        if part in ("gstudio", "unplatform"):
            inner = "/".join(parts[i:])
            for dest in ITEM_DESTS:
                if inner.startswith(dest + "/"):
                    return "/".join([*parts[:i], dest])
    return None


def seed_decoys(archive: Path) -> None:
    """Other schools' sealed folders and derived data that no run here may touch."""
    for rel, text in {
        f"{YEAR}/ct/1011001-ct1/MANIFEST.json": '{"format": 1, "files": {}}\n',
        f"{YEAR}/ct/1011001-ct1/gstudio/nginx-logs/access.log": "another state's school\n",
        f"{YEAR}/{STATE}/2031003-mz3/MANIFEST.json": '{"format": 1, "files": {}}\n',
        f"{YEAR}/{STATE}/2031003-mz3/gstudio/media/a/b.png": "another school of the state\n",
        f"quarantine/{YEAR}/{STATE}/2031003-mz3/MANIFEST.json": '{"format": 1, "files": {}}\n',
        f"derived/{YEAR}/{STATE}/{NEIGHBOUR_FOLDER}/activity-timestamp-csvs/old.csv": "Unit,Lesson\r\n",
    }.items():
        path = archive / rel
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(text)
    for path in [archive, *archive.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)


# -- the fleet and the runs ------------------------------------------------------------------------

@dataclass
class HostileFleet:
    lab: hosts.Lab
    hostile: hosts.School
    neighbour: hosts.School
    traps: hostile.Traps

    def core(self, school: hosts.School) -> Path:
        return self.lab.host_dir(school) / "root" / "home" / "core"


@pytest.fixture(scope="module")
def hostile_fleet():
    if os.geteuid() != 0:
        pytest.fail("the fleet needs root (network namespaces); run the tests as root, as CI does")
    lab = hosts.Lab(Path(tempfile.mkdtemp(prefix="clix-fleet-hostile-", dir="/var/tmp")))
    try:
        fleet_cli.up(lab, fleet_cli.plan(f"{STATE}=2", set(), first_address=FIRST_ADDRESS, tag=TAG,
                                         hostile_ids=frozenset({HOSTILE})))
        schools = {s.server_id: s for s in lab.schools()}
        setup = playbook(lab, "tests/integration/playbooks/target-python.yml", timeout=900)
        assert setup.returncode == 0, setup.tail()
        yield HostileFleet(lab, schools[HOSTILE], schools[NEIGHBOUR], hostile.traps(lab, schools[HOSTILE]))
    finally:
        fleet_cli.down(lab)
        shutil.rmtree(lab.root, ignore_errors=True)


@pytest.fixture(scope="module")
def baseline(hostile_fleet, tmp_path_factory) -> tuple[Path, Run]:
    """Archive A: the neighbour alone."""
    archive = tmp_path_factory.mktemp("hostile-a") / "archive"
    run = collect(hostile_fleet.lab, archive, "-l", NEIGHBOUR_FOLDER)
    assert run.returncode == 0, "the neighbour alone must collect cleanly (baseline):\n" + run.tail()
    return archive, run


@dataclass
class Collected:
    archive: Path
    run: Run
    before: World
    after: World


@pytest.fixture(scope="module")
def hostile_run(hostile_fleet, baseline, tmp_path_factory) -> Collected:
    """Archive B: the hostile school and its neighbour in one run, into an archive holding decoys."""
    archive = tmp_path_factory.mktemp("hostile-b") / "archive"
    seed_decoys(archive)
    before = world(archive, hostile_fleet.traps)
    run = collect(hostile_fleet.lab, archive, "-l", f"{HOSTILE_FOLDER},{NEIGHBOUR_FOLDER}")
    return Collected(archive, run, before, world(archive, hostile_fleet.traps))


@pytest.fixture(scope="module")
def derived_over_b(hostile_fleet, hostile_run) -> Collected:
    before = world(hostile_run.archive, hostile_fleet.traps)
    run = derive(hostile_fleet.lab, hostile_run.archive, HOSTILE_FOLDER)
    return Collected(hostile_run.archive, run, before, world(hostile_run.archive, hostile_fleet.traps))


@pytest.fixture(scope="module")
def true_identity(hostile_fleet, hostile_run, tmp_path_factory) -> tuple[Collected, Collected]:
    """Archive C (after B: it changes the school): true identity, no odd collections, redaction on;
    then the native derive over it."""
    hostile.restore_identity(hostile_fleet.lab, hostile_fleet.hostile)
    hostile.drop_odd_collections(hostile_fleet.lab, hostile_fleet.hostile, hosts.MONGO_PORT)
    archive = tmp_path_factory.mktemp("hostile-c") / "archive"
    before = world(archive, hostile_fleet.traps)
    run = collect(hostile_fleet.lab, archive, "-l", HOSTILE_FOLDER, "--tags", "db,postgres,settings",
                  "-e", "clix_redact_settings=true")
    collected = Collected(archive, run, before, world(archive, hostile_fleet.traps))
    run = derive(hostile_fleet.lab, archive, HOSTILE_FOLDER)
    return collected, Collected(archive, run, collected.after, world(archive, hostile_fleet.traps))


def report(archive: Path) -> dict:
    reports = sorted((archive / "reports").glob("collect-*.json"))
    assert reports, f"no collect report in {archive / 'reports'}"
    return json.loads(reports[-1].read_text())


def the_hostile_root(archive: Path) -> Path:
    roots = [archive / r for r in hostile_roots() if (archive / r / "MANIFEST.json").is_file()]
    assert len(roots) == 1, f"the hostile school must have exactly one sealed folder of its own, in {hostile_roots()}; " \
                            f"found {roots}"
    return roots[0]


# -- the baseline works ----------------------------------------------------------------------------

def test_baseline_collects_the_neighbour_alone(baseline):
    archive, run = baseline
    assert (archive / YEAR / STATE / NEIGHBOUR_FOLDER / "MANIFEST.json").is_file()
    assert "1 school(s), 0 problem(s)" in run.stdout


# -- the run -------------------------------------------------------------------------------------

def test_run_ends_and_says_there_were_problems(hostile_run):
    run = hostile_run.run
    assert run.ended, "the run never ended (a FIFO, a device or a link to /dev/zero was read):\n" + run.tail()
    assert run.returncode != 0, "a hostile school is a problem: the exit code must say so\n" + run.tail()


def test_report_gives_a_clear_reason_for_each_problem(hostile_run, baseline):
    rows = report(hostile_run.archive)["rows"]
    mine = [r for r in rows if r["school"] == HOSTILE_FOLDER]
    problems = [r for r in mine if r["status"] not in HARMLESS]
    assert problems, f"the hostile school has no problem row: {mine}"
    unexplained = [r for r in problems if not (r.get("reason") or "").strip()]
    assert not unexplained, f"problem rows without a reason: {unexplained}"
    assert any("identity" in (r.get("reason") or "") or "quarantine" in (r.get("reason") or "") for r in problems), \
        f"no row says that the server's identity was refused: {problems}"
    theirs = {r["item"]: r["status"] for r in rows if r["school"] == NEIGHBOUR_FOLDER}
    alone = {r["item"]: r["status"] for r in report(baseline[0])["rows"]}
    assert theirs == alone, "the neighbour's rows differ from its run alone"


def test_report_pages_escape_the_servers_values(hostile_run):
    pages = list((hostile_run.archive / "reports").glob("*.html"))
    assert pages, "no HTML report"
    for page in pages:
        assert "<script>clix-hostile-html" not in page.read_text(), f"{page.name} carries the server's HTML"


# -- the neighbour and everything else -------------------------------------------------------------

BEATS = "gstudio/system-heartbeat/"
PG_DUMP = "gstudio/postgres-dump/pg_dump_all.sql"
# pg_dump (15.14 on) fences each database with \restrict <random key>: new keys on every dump.
PG_RESTRICT_KEY = re.compile(rb"^(\\(?:un)?restrict) \S+$", re.M)


def differences_from_alone(alone: Path, beside: Path, server_beats: set[str]) -> list[str]:
    """What differs between a school's folder collected alone and beside the hostile school, apart
    from what every run makes anew: the heartbeat it captures (one .log and one .json), the run's
    times, inodes and mtimes in MANIFEST.json, and pg_dump's random \\restrict keys."""
    def data(root: Path) -> dict[str, tuple]:
        files = {p: d for p, d in listing(root).items()
                 if (p != "MANIFEST.json" and not p.startswith(BEATS)) or p.removeprefix(BEATS) in server_beats}
        if files.get(PG_DUMP, ("",))[0] == "file":
            text = PG_RESTRICT_KEY.sub(rb"\1 KEY", (root / PG_DUMP).read_bytes())
            files[PG_DUMP] = ("file", hashlib.sha256(text).hexdigest())
        return files

    def sealed(root: Path) -> dict:
        m = json.loads((root / "MANIFEST.json").read_text())
        return {"school": m["school"], "items": {k: v["status"] for k, v in m["items"].items()},
                "files": {p: (f["size"], f["sha256"] if p != PG_DUMP else "") for p, f in m["files"].items()
                          if not p.startswith(BEATS)}}

    found = [f"file {p}" for p in changed_paths(data(alone), data(beside))]
    for root in (alone, beside):
        names = {p.name for p in (root / BEATS).iterdir()}
        captured = names - server_beats
        if not server_beats <= names or len(captured) != 2 or len({n.rsplit(".", 1)[0] for n in captured}) != 1:
            found.append(f"heartbeat files in {root}: {sorted(names)}")
    a, b = sealed(alone), sealed(beside)
    found += [f"MANIFEST.json {key}" for key in a if a[key] != b[key]]
    return found


def test_neighbour_is_byte_identical_to_its_run_alone(hostile_fleet, hostile_run, baseline):
    a = baseline[0] / YEAR / STATE / NEIGHBOUR_FOLDER
    b = hostile_run.archive / YEAR / STATE / NEIGHBOUR_FOLDER
    assert (b / "MANIFEST.json").is_file(), "the neighbour was not sealed"
    server_beats = {p.name for p in (hostile_fleet.core(hostile_fleet.neighbour) / "data/system-heartbeat").iterdir()}
    found = differences_from_alone(a, b, server_beats)
    assert not found, f"the neighbour differs from its run alone: {found[:30]}"


def test_nothing_outside_the_two_schools_and_the_reports_changes(hostile_run):
    changed = changed_paths(hostile_run.before.archive, hostile_run.after.archive)
    allowed = [*hostile_roots(), f"{YEAR}/{STATE}/{NEIGHBOUR_FOLDER}", "reports"]
    stray = outside(changed, allowed, hostile_run.after.archive)
    assert not stray, f"changed outside {allowed}: {stray[:30]}"


def test_hostile_school_is_sealed_in_its_own_folder(hostile_run):
    the_hostile_root(hostile_run.archive)


# -- the traps -----------------------------------------------------------------------------------

def fired(w: World, prefix: str) -> dict[str, tuple]:
    return {p: d for p, d in w.canary.items() if p.startswith(prefix)}


def canary_text(traps: hostile.Traps, names) -> str:
    return "\n".join(f"{n}: {(traps.canary / n).read_text(errors='replace')[:300]}" for n in names
                     if (traps.canary / n).is_file())


def test_git_never_runs_a_program_from_the_repository_config(hostile_fleet, hostile_run):
    ran = fired(hostile_run.after, "git-")
    assert not ran, "git ran the repository's own programs on the school server:\n" + \
        canary_text(hostile_fleet.traps, ran)


def test_server_values_are_never_templated(hostile_fleet, hostile_run):
    ran = fired(hostile_run.after, "jinja-")
    assert not ran, f"a value read from the server was templated as Jinja on the control node: {sorted(ran)}"


def test_nothing_lands_in_the_canary_folder(hostile_fleet, hostile_run):
    landed = {p: d for p, d in hostile_run.after.canary.items() if not p.startswith(("git-", "jinja-"))}
    assert not landed, f"files escaped into {hostile_fleet.traps.canary}: {sorted(landed)}"


def test_staging_temp_files_never_follow_a_planted_link(hostile_run):
    assert hostile_run.after.victim == hostile.VICTIM_TEXT.encode(), \
        "a module wrote through a link planted at its temporary name in the staging folder: " + \
        hostile_run.after.victim[:200].decode(errors="replace")


def test_control_node_secret_stays_put_and_out_of_the_archive(hostile_fleet, hostile_run):
    assert hostile_run.after.secret == hostile_run.before.secret
    secret = hostile.secret_text(hostile_fleet.traps).encode()
    leaked = [p for p, d in hostile_run.after.archive.items()
              if d[0] == "file" and secret in (hostile_run.archive / p).read_bytes()]
    assert not leaked, f"the control node's file (linked from the school) is in the archive: {leaked}"


def test_archive_holds_no_special_file_and_no_link_leaving_its_item(hostile_run):
    specials = {p: d for p, d in hostile_run.after.archive.items() if d[0] == "special"}
    assert not specials, f"device, FIFO or socket files in the archive: {specials}"
    leaving = {}
    for p, d in hostile_run.after.archive.items():
        if d[0] != "link":
            continue
        item = item_root(p)
        target = os.path.normpath(os.path.join(os.path.dirname(p), d[1])) if not d[1].startswith("/") else d[1]
        if item is None or not target.startswith(item + "/"):
            leaving[p] = d[1]
    assert not leaving, f"links that leave their item in the archive: {leaving}"


def skipped_link_texts(value) -> list[str]:
    """Every string under any 'skipped_links' key of a manifest, at any depth."""
    found: list[str] = []

    def strings(v) -> None:
        if isinstance(v, str):
            found.append(v)
        elif isinstance(v, dict):
            for k, x in v.items():
                strings(k)
                strings(x)
        elif isinstance(v, list):
            for x in v:
                strings(x)

    def walk(v) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                if k == "skipped_links":
                    strings(x)
                else:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(value)
    return found


def test_hostile_manifest_verifies_and_lists_the_skipped_links(hostile_fleet, hostile_run):
    root = the_hostile_root(hostile_run.archive)
    manifest = json.loads((root / "MANIFEST.json").read_text())
    texts = skipped_link_texts(manifest)
    unlisted = [name for name in LEAVING_LINKS if not any(f"hostile/{name}" in t for t in texts)]
    assert not unlisted, f"links dropped from media but not listed in skipped_links: {unlisted} (listed: {texts[:20]})"
    settings = manifest["items"].get("local_settings.py", {})
    assert any("local_settings.py" in t for t in texts) or "link" in (settings.get("reason") or ""), \
        f"local_settings.py is a link out of the school: neither listed nor explained ({settings})"
    verify = playbook(hostile_fleet.lab, "verify.yml", "-e", f"clix_archive_root={hostile_run.archive}",
                      "-e", f"clix_verify_path={root}")
    assert verify.returncode == 0, verify.tail()


def test_odd_mongo_collections_are_archived_under_mongodumps_names(hostile_fleet, hostile_run):
    db = the_hostile_root(hostile_run.archive) / "gstudio" / "db"
    missing, wrong = [], []
    for database, names in hostile.odd_collections(hostile_fleet.traps).items():
        for name in names:
            # mongodump 100.3.1 names files with Go's url.QueryEscape (checked against the real tool:
            # 'a b' -> 'a+b', 'a/b' -> 'a%2Fb', 'a%b' -> 'a%25b', 'è' -> '%C3%A8').
            bson_file = db / database / f"{quote_plus(name, safe='')}.bson"
            if not bson_file.is_file() or bson_file.is_symlink():
                missing.append(str(bson_file.relative_to(db)))
                continue
            docs = bson.decode_all(bson_file.read_bytes())
            if docs != [{"_id": i, "name": name} for i in range(3)]:
                wrong.append((str(bson_file.relative_to(db)), docs))
            meta = json.loads((db / database / f"{quote_plus(name, safe='')}.metadata.json").read_text())
            if meta.get("collectionName") != name:
                wrong.append((str(bson_file.relative_to(db)), meta.get("collectionName")))
    assert not missing and not wrong, f"missing: {missing}; wrong content: {wrong}"


# -- derived data ----------------------------------------------------------------------------------

def derived_allowed() -> list[str]:
    # The lock: a run killed before it released it leaves a stale one, which derive.yml takes over.
    return [f"derived/{YEAR}/{STATE}/{HOSTILE_FOLDER}", "reports", ".clix-collect.lock"]


def test_derive_over_the_hostile_archive_stays_in_its_folder(derived_over_b):
    assert derived_over_b.run.ended, derived_over_b.run.tail()
    changed = changed_paths(derived_over_b.before.archive, derived_over_b.after.archive)
    stray = outside(changed, derived_allowed(), derived_over_b.after.archive)
    assert not stray, f"derive.yml wrote outside {derived_allowed()}: {stray[:30]}"
    assert not changed_paths(derived_over_b.before.canary, derived_over_b.after.canary)


def test_redaction_never_reads_a_linked_settings_file(hostile_fleet, true_identity):
    collected, _ = true_identity
    assert collected.run.ended, collected.run.tail()
    secret = hostile.secret_text(hostile_fleet.traps).encode()
    leaked = [p for p, d in collected.after.archive.items()
              if d[0] == "file" and secret in (collected.archive / p).read_bytes()]
    assert not leaked, f"redacting local_settings.py read the control-node file it links to: {leaked}"
    assert (collected.archive / YEAR / STATE / HOSTILE_FOLDER / "gstudio" / "db" / "gstudio-mongodb").is_dir(), \
        "the school with its true identity was not collected (db):\n" + collected.run.tail()


def test_derived_file_names_from_usernames_stay_in_the_derived_folder(hostile_fleet, true_identity):
    collected, derived = true_identity
    assert (collected.archive / YEAR / STATE / HOSTILE_FOLDER / "gstudio" / "db" / "gstudio-mongodb").is_dir(), \
        "the school with its true identity was not collected (db), derive had nothing to read:\n" + collected.run.tail()
    assert derived.run.ended, derived.run.tail()
    changed = changed_paths(derived.before.archive, derived.after.archive)
    stray = outside(changed, derived_allowed(), derived.after.archive)
    assert not stray, f"a derived file named after a server's username left the derived folder: {stray[:30]}"
    assert not changed_paths(derived.before.canary, derived.after.canary)
    csvs = [p for p in changed if p.startswith(derived_allowed()[0] + "/activity-timestamp-csvs/")
            and derived.after.archive[p][0] == "file"]
    assert csvs, "derive wrote no activity-timestamp CSV for the school: nothing was tried\n" + derived.run.tail()
