"""A state's year as ops live it: every command chained on one archive, twice, and what ops look at.

Two field visits to one fleet (its mz schools, a school with lab PCs and one without a server), data
changed on the servers and lab PCs between them. Each visit runs, from the repository root with the
project's Python on the PATH (the README's activation line) and the control node's clock in IST:

    collect.yml -l 'mz,*-pc*' (the lab PCs too)       heartbeat.yml -l mz
    derive.yml -l mz -e derive_from=archive           ingest.yml of a USB extraction (tests/usb.py)
    merge.yml of a field laptop's archive (one collect.yml wrote, a link inside an item included)
    catalog.yml   dataset.yml   verify.yml

and after each command checks what ops would look at: its exit code, the report's rows, the fleet
table's last-collected times, derived files, the ingest and merge results, the catalogue's counts,
the dataset's row counts (each record once), verify clean, no stray messages, the archive's lock free.

tests/integration/test_rehearsal.py runs it on the test session's fleet; `make rehearsal` runs it on
a fleet of its own, printing every command and its output as it runs (python tests/rehearsal.py -h).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import duckdb

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import usb  # noqa: E402

from fleet import hosts  # noqa: E402

BIN = Path(sys.executable).parent
IST = "Asia/Kolkata"  # the control node's clock, as in the field: a time without its zone shows here
MZ = ["2031001-mz1", "2031002-mz2", "2031003-mz3"]
USB_PC = ("3051001-rj1", "pc02")  # a lab PC of the inventory whose config.json names it
FIELD = "01011002-ct2"  # the school the field laptop collects (never collected centrally)
GOOD = ("ok", "unchanged", "absent")
STRAY = ("All assertions passed", "CryptographyDeprecationWarning", "Traceback")


class Failed(AssertionError):
    pass


class Rehearsal:
    """The year on a fleet (`lab`, its inventory) and an archive below `work`."""

    def __init__(self, lab: hosts.Lab, work: Path, say: Callable[[str], None] = print, watch: bool = False) -> None:
        self.lab, self.work, self.say, self.watch = lab, work, say, watch
        self.archive, self.field, self.usb = work / "archive", work / "field-laptop", work / "usb"
        self.year = dt.date.today().year
        self.schools = {s.server_id: s for s in lab.schools()}
        self.undo: list[Callable[[], None]] = []
        self.collected: set = set()  # (state, school folder) the steps so far put into the archive
        self.visit_started = dt.datetime.now(dt.timezone.utc)

    # ------------------------------------------------------------------ running what ops run

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PYTEST"))}
        return dict(env, PATH="%s:%s" % (BIN, env.get("PATH", "")), TZ=IST, ANSIBLE_NOCOLOR="1", PYTHONUNBUFFERED="1")

    def run(self, *argv: str, ok: bool = True) -> subprocess.CompletedProcess:
        """The command as ops type it from the repository root; its output shown live when watched."""
        self.say("$ " + " ".join(shlex.quote(a) for a in argv))
        started = time.monotonic()
        proc = subprocess.Popen(argv, cwd=REPO, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        out = []
        for line in proc.stdout:
            out.append(line)
            if self.watch:
                sys.stdout.write(line)
        proc.wait()
        self.say("   (exit %d after %.0f s)" % (proc.returncode, time.monotonic() - started))
        done = subprocess.CompletedProcess(argv, proc.returncode, "".join(out), "")
        if ok:
            self.check(done.returncode == 0, "exit code %d\n%s" % (done.returncode, done.stdout[-6000:]))
            stray = [s for s in STRAY if s in done.stdout]
            self.check(not stray, "stray output %s:\n%s" % (stray, done.stdout[-3000:]))
        self.check(not (self.archive / ".clix-collect.lock").exists(),
                   "the archive's lock is still held after %s" % " ".join(argv[3:5]))
        return done

    def playbook(self, name: str, *args: str, archive: Path | None = None, ok: bool = True) -> subprocess.CompletedProcess:
        return self.run("ansible-playbook", "-i", str(self.lab.inventory), name, *args,
                        "-e", "clix_archive_root=%s" % (archive or self.archive), ok=ok)

    def check(self, condition: bool, what: str) -> None:
        if not condition:
            raise Failed(what)

    def ok(self, what: str) -> None:
        self.say("   ok: " + what)

    # ------------------------------------------------------------------ what ops look at

    def latest(self, pattern: str) -> dict:
        files = sorted((self.archive / "reports").glob(pattern), key=lambda p: p.stat().st_mtime)
        self.check(bool(files), "no report %s" % pattern)
        return json.loads(files[-1].read_text())

    def manifest(self, folder: str, state: str = "mz", archive: Path | None = None) -> dict:
        return json.loads(((archive or self.archive) / str(self.year) / state / folder / "MANIFEST.json").read_text())

    def since_visit(self, stamp: str | None) -> bool:
        if not stamp:
            return False
        moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        return moment.tzinfo is not None and moment >= self.visit_started - dt.timedelta(seconds=1)

    def query(self, sql: str) -> list:
        con = duckdb.connect(str(self.archive / "dataset" / "clix.duckdb"), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    # ------------------------------------------------------------------ the steps

    def collect(self, visit: int) -> None:
        self.playbook("collect.yml", "-l", "mz,*-pc*")
        rows = self.latest("collect-*.json")["rows"]
        skipped = {("2031003-mz3", "derived (gStudio container)", "skipped")} if visit == 2 else set()
        bad = {(r["school"], r["item"], r["status"]) for r in rows if r["status"] not in GOOD} - skipped
        pcs = sorted(r["school"] for r in rows if r["item"].startswith("unplatform/"))
        self.check(not bad and len({r["school"] for r in rows}) == 7 and len(pcs) == 4,
                   "collect report: problems %s, lab PC rows %s" % (sorted(bad), pcs))
        for folder in MZ:
            m = self.manifest(folder)
            self.check(self.since_visit(m["run"]["ended"]), "%s: run.ended %r" % (folder, m["run"]["ended"]))
        self.collected |= {("mz", folder) for folder in MZ} | {("ct", "1011001-ct1"), ("rj", USB_PC[0])}
        self.ok("collect.yml -l 'mz,*-pc*': 3 schools and 4 lab PCs (rj1's of a school without a server), every "
                "item ok or absent%s" % (" but mz3's derived, skipped: its container is stopped" if skipped else ""))

    def heartbeat(self, visit: int) -> None:
        self.playbook("heartbeat.yml", "-l", "mz")
        rows = {r["host"]: r for r in self.latest("heartbeat-*.json")["rows"]}
        for folder in MZ:
            row = rows[folder]
            self.check(self.since_visit(row.get("last_collected")),
                       "fleet table: %s last collected %r, collected this visit" % (folder, row.get("last_collected")))
            expected = ["container"] if visit == 2 and folder == MZ[2] else []  # stopped between the visits
            self.check([p.split()[0] for p in row.get("problems") or []] == expected,
                       "fleet table: %s has problems %s" % (folder, row.get("problems")))
        self.ok("heartbeat.yml -l mz: every school reachable, last collected this visit, no problem%s" % (
            " but mz3's stopped container" if visit == 2 else ""))

    def derive(self) -> None:
        self.playbook("derive.yml", "-l", "mz", "-e", "derive_from=archive", "-e", "clix_derive_runner=native")
        for folder in MZ:
            derived = self.archive / "derived" / str(self.year) / "mz" / folder
            csvs = list(derived.rglob("*.csv"))
            self.check(len(csvs) > 0, "derive: nothing in %s" % derived)
        self.ok("derive.yml -e derive_from=archive: derived CSVs for the 3 schools")

    def ingest(self, visit: int) -> None:
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0) - dt.timedelta(hours=2 - visit)
        install = self.work / "rj1-pc02-windows"
        sessions = {"w%d" % n: (now - dt.timedelta(minutes=n)).strftime("%Y-%m-%d %H:%M:%S") for n in range(visit * 2)}
        logs = {"le%d" % n: '{"action": "start", "n": %d}' % n for n in range(visit * 2)}
        usb.make_install(install, now, sessions, logs, {"schoolId": USB_PC[0].split("-")[0], "terminalId": USB_PC[1]})
        zip_path = usb.extract_like_script(install, self.usb / ("visit%d" % visit), now)
        self.playbook("ingest.yml", "-e", "clix_ingest_from=%s" % zip_path.parent,
                      "-e", "clix_ingest_school=%s" % USB_PC[0], "-e", "clix_ingest_pc=%s" % USB_PC[1])
        report = self.latest("ingest-*.json")
        self.check([s["status"] for s in report["sources"]] == ["ingested"], "ingest: %s" % report["sources"])
        item = self.manifest(USB_PC[0], "rj")["items"]["unplatform/%s" % USB_PC[1]]
        self.check(item["details"]["extraction"]["zip"] == zip_path.name, "ingest: the manifest's extraction %s"
                   % item["details"].get("extraction"))
        self.ok("ingest.yml: the visit's extraction of %s %s ingested and sealed" % USB_PC)

    def merge(self, visit: int) -> None:
        self.playbook("collect.yml", "-l", "ct2", archive=self.field)
        link = self.field / str(self.year) / "ct" / FIELD / "gstudio" / "media" / "latest-upload.link"
        self.check(link.is_symlink(), "the field laptop's collection kept no link at %s (fleet/data.py makes one)" % link)
        self.playbook("merge.yml", "-e", "clix_merge_from=%s" % self.field)
        merged = self.archive / str(self.year) / "ct" / FIELD / "gstudio" / "media" / "latest-upload.link"
        self.check(merged.is_symlink() and os.readlink(merged) == os.readlink(link),
                   "merge: the link is not in the central archive as a link")
        self.check(self.since_visit(self.manifest(FIELD, "ct")["run"]["ended"]) or visit == 1,
                   "merge: the central manifest of %s is not this visit's" % FIELD)
        self.collected.add(("ct", FIELD))
        self.ok("merge.yml: the field laptop's %s, its link included" % FIELD)

    def catalog(self) -> None:
        self.playbook("catalog.yml")
        cat = json.loads((self.archive / "reports" / "catalogue.json").read_text())
        rows = {(s["state"], r["folder"]): r for s in cat["sections"] if s["year"] == str(self.year) for r in s["rows"]}
        for folder in MZ:
            r = rows[("mz", folder)]
            self.check(r.get("documents") and r.get("users") and r.get("bytes"), "catalogue: %s %s" % (folder, r))
        found = {key for key, r in rows.items() if r.get("collected")}
        self.check(found == self.collected, "catalogue: collected %s, the archive holds %s" % (found, self.collected))
        self.ok("catalog.yml: the year's schools with their bytes, documents and users")

    def dataset(self, before: dict | None) -> dict:
        self.playbook("dataset.yml")
        tables = ("users", "activity_visits", "progress", "tool_events", "assessment_responses", "qbank_log_entries",
                  "unplatform_sessions")
        counts = {t: self.query("SELECT count(*) FROM %s" % t)[0][0] for t in tables}
        distinct = {t: self.query("SELECT count(*) FROM (SELECT DISTINCT * EXCLUDE (collection_id) FROM %s)" % t)[0][0]
                    if "collection_id" in self.columns(t) else
                    self.query("SELECT count(*) FROM (SELECT DISTINCT * FROM %s)" % t)[0][0] for t in tables}
        self.check(all(counts.values()), "dataset: empty tables %s" % counts)
        self.check(counts == distinct, "dataset: duplicated rows %s vs distinct %s" % (counts, distinct))
        # every school of the year's: the mz schools collected, the field laptop's ct2 merged (history/ is no data)
        tool_logs = sum(len(json.loads(f.read_text()))
                        for f in (self.archive / str(self.year)).rglob("gstudio_tools_logs/**/*.json")
                        if "history" not in f.relative_to(self.archive).parts)
        self.check(counts["tool_events"] == tool_logs, "dataset: %d tool events, the archive's logs hold %d"
                   % (counts["tool_events"], tool_logs))
        if before:
            self.check(all(counts[t] >= before[t] for t in tables) and counts["tool_events"] > before["tool_events"],
                       "dataset: visit 2 %s, visit 1 %s" % (counts, before))
        self.ok("dataset.yml: %s, each record once" % ", ".join("%s %d" % kv for kv in counts.items()))
        return counts

    def columns(self, table: str) -> list:
        return [r[0] for r in self.query("DESCRIBE %s" % table)]

    def verify(self) -> None:
        done = self.playbook("verify.yml", "-e", "clix_verify_path=%s" % self.archive)
        self.check("all match" in done.stdout, "verify: %s" % done.stdout[-2000:])
        self.ok("verify.yml: every school of the archive matches its manifest")

    # ------------------------------------------------------------------ between the visits

    def school_dir(self, server_id: str) -> Path:
        return self.lab.host_dir(self.schools[server_id]) / "root" / "home" / "core"

    def change_the_servers(self) -> None:
        """What a few months of school do: new tool logs and media on mz1, a stopped gStudio container
        on mz3 (its derived item is then skipped); the lab PCs' apps keep writing on their own."""
        log = sorted((self.school_dir("mz1") / "data" / "gstudio_tools_logs").rglob("*.json"))[0]
        was = log.read_bytes()
        records = json.loads(was)
        records += [dict(records[-1], created_at="%d-1-%d 10:0:05" % (self.year, day)) for day in (10, 11)]
        log.write_text(json.dumps(records))
        media = self.school_dir("mz1") / "data" / "media" / "rehearsal-visit2.txt"
        media.write_text("uploaded between the visits\n")
        self.undo += [lambda: log.write_bytes(was), media.unlink]
        mz3 = self.schools["mz3"]
        hosts.podman_in_school(self.lab, mz3, "stop", "-t", "0", "gstudio", capture_output=True)
        self.undo.append(lambda: hosts.podman_in_school(self.lab, mz3, "start", "gstudio", capture_output=True))
        self.say("   changed: 2 tool events and a media file on mz1, mz3's gStudio container stopped")

    # ------------------------------------------------------------------ the year

    def year_of_visits(self) -> None:
        counts = None
        try:
            for visit in (1, 2):
                if visit == 2:
                    self.change_the_servers()
                self.visit_started = dt.datetime.now(dt.timezone.utc)
                self.say("== visit %d" % visit)
                self.collect(visit)
                self.heartbeat(visit)
                self.derive()
                self.ingest(visit)
                self.merge(visit)
                self.catalog()
                counts = self.dataset(counts)
                self.verify()
        finally:
            for undo in reversed(self.undo):
                with contextlib.suppress(OSError):
                    undo()


def main(argv: list[str] | None = None) -> int:
    from fleet import __main__ as fleet_cli

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", type=Path, default=Path("/var/tmp/clix-fleet-rehearsal"), help="the fleet's folder")
    p.add_argument("--first-address", type=int, default=30, help="the fleet's first address (10.231.0.N)")
    p.add_argument("--work", type=Path, default=REPO / "rehearsal", help="the archives and USB folder (made anew)")
    args = p.parse_args(argv)
    lab = hosts.Lab(args.dir)
    schools = fleet_cli.plan("mz=3,ct=2", set(), first_address=args.first_address, tag="r", gstudio_container=True)
    fleet_cli.up(lab, schools, fleet_cli.plan_lab_pcs(schools))
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    started = time.monotonic()
    rehearsal = Rehearsal(lab, args.work, watch=True)
    try:
        rehearsal.run("ansible-playbook", "-i", str(lab.inventory), "tests/integration/playbooks/target-python.yml")
        rehearsal.year_of_visits()
    except Failed as exc:
        print("REHEARSAL FAILED: %s" % exc, file=sys.stderr)
        return 1
    finally:
        fleet_cli.down(lab)
    print("rehearsal: two visits in %.0f s; the archive is in %s" % (time.monotonic() - started, args.work / "archive"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
