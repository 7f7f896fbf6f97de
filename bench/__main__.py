"""Benchmarks, run on demand (`make bench`), never by the tests.

Brings up its own fleet (tag "x", addresses from .150): one benchmark-sized school (>= 1 GB of
media, >= 500k Benchmarks), one small school, and later 20 small schools; measures, each against
a baseline measured in the same run, and prints tables with ratios:

  1. MongoDB dump (clix_mongodump) vs a bare pymongo raw-BSON read of the same collections,
     vs MongoDB's real mongodump 100.3.1 (under wine, when present)
  2. PostgreSQL dump (clix_pg_dumpall) vs bare pg_dumpall
  3. peak memory on the school server (module) and on the control node (ansible-playbook)
  4. collect of one school vs plain `rsync -a` of the same folders over a 10 Mbit/s link (tc tbf)
  5. the no-change re-run
  6. collect and heartbeat of 1 school vs 20 schools
  7. derived data of the big school from the archive: natively vs in the clix-derive image,
     against a bare decode of its Benchmarks.bson, with peak memory beside the small school's
  8. the research dataset (clix_dataset) of the big school vs the small one (time, peak memory,
     against a bare decode of Benchmarks.bson), the incremental re-run, and the README's queries
     over 20 schools
  9. merge.yml of a field archive into an empty central archive vs `rsync -a` of the same data
  10. catalog.yml of a generated archive of 700 schools x 5 years (3,500 school-years of manifests)
  11. a lab PC's unplatform install with 100k datastore JSON files (fleet/unplatform.py): its pull
      (rsync into .incoming, every JSON parsed, moved in) and the whole collect.yml of the PC, vs
      `rsync -a` of the same install over the same SSH (goal >= 0.8x)
  12. the research dataset of 300 generated schools (bench/archives.py, no fleet): the full build, files
      per table, peak memory, the re-run after one school changed, the release
  13. restore.yml of the big school onto its wiped server vs the raw tools in the same run - rsync -a of
      the folders over the same SSH, MongoDB's real mongorestore 100.3.1 (under wine) and psql -f over the
      bridge (goal >= 0.8x)

    python -m bench [--skip-big] [--link-mb 40] [--keep]
    python -m bench --archive-only      (9 and 10 alone: no fleet)
    python -m bench --labpc-only        (11 alone, on a fleet of one school and its lab PCs)
    python -m bench --dataset-only      (12 alone: no fleet)
    python -m bench --restore-only [--restore-small]   (13 alone, on a fleet of the big (or a small) school)
    python -m bench --scale-only [--vs REF] [--skip-mitogen] [--skip-link]
                                        (6 alone; with --vs, REF's tree side by side with this one)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ansible.module_utils.clix_layout import MANIFEST
from ansible.module_utils.clix_unplatform import pc_relpath

from fleet import __main__ as fleet_cli
from fleet import hosts, unplatform

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LAB = Path(os.environ.get("CLIX_BENCH_DIR", "/var/tmp/clix-bench"))
TARGET_PYTHON = "/opt/clix-collect/venv/bin/python"
ITEM_FOLDERS = ["media", "rcs-repo", "gstudio-exported-users-analytics-csvs", "gstudio_tools_logs", "gstudio-logs",
                "nginx-logs", "system-heartbeat"]


def env() -> dict:
    e = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    e["PATH"] = f"{BIN}:{e['PATH']}"
    return e


def timed(cmd: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    return time.monotonic() - started, proc


def module(lab: hosts.Lab, pattern: str, name: str, args: dict, *extra: str) -> dict:
    cmd = [str(BIN / "ansible"), pattern, "-i", str(lab.inventory), "-m", name, "-a", json.dumps(args), *extra]
    e = env()
    e.update(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=3600)
    body = proc.stdout[proc.stdout.index("{"):]
    result = json.loads(body[:body.rindex("}") + 1])
    if "FAILED" in proc.stdout.split("\n", 1)[0]:
        raise SystemExit(f"bench: {name} failed: {result.get('msg')}")
    return result


def playbook(lab: hosts.Lab, *args: str, extra_env: dict | None = None,
             tree: Path = REPO) -> tuple[float, subprocess.CompletedProcess, int]:
    """Run a playbook of tree (this checkout, or a baseline's worktree: its own ansible.cfg, roles and
    modules); returns (seconds, process, peak RSS of the control node's ansible in bytes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    seconds, proc = timed([str(BIN / "ansible-playbook"), "-i", str(lab.inventory), *args], cwd=tree,
                          env=dict(env(), ANSIBLE_CONFIG=str(tree / "ansible.cfg"), **(extra_env or {})), timeout=7200)
    if proc.returncode != 0:
        raise SystemExit(f"bench: playbook failed:\n{proc.stdout[-4000:]}")
    return seconds, proc, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) * 1024


def in_school(lab: hosts.Lab, school: hosts.School, cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    return timed(hosts.in_host(hosts.sshd_pid(lab, school), cmd), timeout=3600)


BARE_READ = """
import sys, time
from pymongo import MongoClient
c = MongoClient("127.0.0.1", 8017, directConnection=True)
size = 0
t = time.monotonic()
for name in c.list_database_names():
    if name in ("local", "config"):
        continue
    for coll in c[name].list_collection_names():
        for batch in c[name][coll].find_raw_batches({}, batch_size=1000):
            size += len(batch)
print(time.monotonic() - t, size)
"""


def table(title: str, header: list[str], rows: list[list]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))


def ratio(ours: float, base: float) -> str:
    """clix's speed relative to the baseline: base time / our time (>= 1.00: clix is as fast or faster)."""
    return f"{base / ours:.2f}x" if ours else "-"


def bare_read_seconds(lab: hosts.Lab, big: hosts.School) -> float:
    _, bare = in_school(lab, big, [TARGET_PYTHON, "-c", BARE_READ])
    return float(bare.stdout.split()[0])


def bench_dumps(lab: hosts.Lab, big: hosts.School) -> None:
    host = big.hostname
    bare_read_seconds(lab, big)  # warm the server's cache, so neither side pays for a cold start
    result = module(lab, host, "clix_mongodump", {"dest": "/home/core/bench/db"}, "-e",
                    f"ansible_python_interpreter={TARGET_PYTHON}")
    ours_s, docs, size = result["seconds"], result["documents"], result["bytes"]
    read_s = sum(c.get("read_seconds", 0) for c in result["collections"])
    bare_s = bare_read_seconds(lab, big)
    rows = [["clix_mongodump", f"{ours_s:.1f}", f"{docs / ours_s:,.0f}", f"{size / ours_s / 1e6:.1f}", "1.00x"],
            ["  of which streaming to disk (write, sha256, fsync)", f"{read_s:.1f}", f"{docs / read_s:,.0f}",
             f"{size / read_s / 1e6:.1f}", "-"],
            ["bare pymongo raw read (baseline)", f"{bare_s:.1f}", f"{docs / bare_s:,.0f}", f"{size / bare_s / 1e6:.1f}",
             f"{ratio(ours_s, bare_s)} (streaming: {ratio(read_s, bare_s)})"]]
    tools = REPO / ".cache/mongotools/mongodbtools/mongodump.exe"
    if tools.exists() and Path("/usr/lib/wine/wine64").exists():
        out = Path(tempfile.mkdtemp(dir="/var/tmp"))
        wine_env = dict(os.environ, WINEDEBUG="-all", WINEPREFIX="/var/tmp/clix-wine")
        real_s, proc = timed(["/usr/lib/wine/wine64", str(tools), "--uri",
                              f"mongodb://{big.address}:8017/?directConnection=true", "--out",
                              "Z:" + str(out).replace("/", "\\")], env=wine_env, timeout=3600)
        shutil.rmtree(out, ignore_errors=True)
        if proc.returncode == 0:
            rows.append(["real mongodump 100.3.1 (wine, over the bridge)", f"{real_s:.1f}", f"{docs / real_s:,.0f}",
                         f"{size / real_s / 1e6:.1f}", ratio(ours_s, real_s)])
    table(f"MongoDB dump of {host}: {docs:,} documents, {size / 1e6:.0f} MB "
          f"(ratio = baseline time / clix time; goal vs bare read >= 0.9)",
          ["dumper", "seconds", "docs/s", "MB/s", "clix speed / this one's"], rows)
    pw = (lab.host_dir(big) / "pg.password").read_text()
    pg = module(lab, host, "clix_pg_dumpall", {"dest": "/home/core/bench/pg.sql", "login_password": pw})
    passfile = lab.host_dir(big) / "root/home/core/bench/.pgpass"
    passfile.write_text(f"*:*:*:postgres:{pw}\n")
    passfile.chmod(0o600)
    bare_pg, proc = in_school(lab, big, ["sh", "-c", "PGPASSFILE=/home/core/bench/.pgpass pg_dumpall -h 127.0.0.1 "
                                                     "-p 8432 -U postgres -w > /home/core/bench/bare.sql"])
    table("PostgreSQL dump (goal >= 0.95)", ["dumper", "seconds", "bytes", "clix speed / this one's"],
          [["clix_pg_dumpall", f"{pg['seconds']:.2f}", pg["bytes"], "1.00x"],
           ["bare pg_dumpall (baseline)", f"{bare_pg:.2f}", pg["bytes"], ratio(pg["seconds"], bare_pg)]])
    table("Peak memory on the school server", ["process", "peak RSS"],
          [["clix_mongodump", f"{result['peak_rss_bytes'] / 2**20:.0f} MiB"],
           ["clix_pg_dumpall (incl. pg_dumpall)", f"{pg['peak_rss_bytes'] / 2**20:.0f} MiB"]])
    shutil.rmtree(lab.host_dir(big) / "root/home/core/bench", ignore_errors=True)


BARE_DECODE = """
import sys, time, bson
t = time.monotonic()
with open(sys.argv[1], "rb") as f:
    n = sum(1 for _ in bson.decode_file_iter(f))
print(time.monotonic() - t, n)
"""


def bench_derive(lab: hosts.Lab, big: hosts.School, small: hosts.School) -> None:
    """Derived data from the archive: natively and in the container image, for both schools."""
    # The image carries clix_derive as it was when built: build it from this tree first.
    subprocess.run([str(REPO / "containers/build-images.sh")], check=True,
                   env=dict(os.environ, CONTAINERS_CONF=str(REPO / "containers/containers.conf")))
    archive = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="clix-bench-derive-"))
    try:
        playbook(lab, "collect.yml", "-e", f"clix_archive_root={archive}", "--tags", "db,postgres,settings",
                 "-e", "clix_derived_on_server=false")
        year = next(archive.glob("[0-9]" * 4)).name
        rows = []
        for school in (big, small):
            root = archive / year / school.state / f"{school.school_code}-{school.server_id}"
            runs = {
                "native": [sys.executable, "-m", "clix_derive", "archive", str(root), "--out", str(archive / "n"),
                           "--now", "2026-01-01T00:00"],
                "container (podman, clix-derive image)": [
                    "podman", "run", "--rm", "--network", "none", "-v", f"{archive}:{archive}",
                    "localhost/clix-derive:latest", "archive", str(root), "--out", str(archive / "c"),
                    "--now", "2026-01-01T00:00"],
            }
            bson_file = root / "gstudio/db/gstudio-mongodb/Benchmarks.bson"
            bare_s, bare = timed([sys.executable, "-c", BARE_DECODE, str(bson_file)])
            results = {}
            for name, cmd in runs.items():
                seconds, proc = timed(cmd, cwd=REPO, env=dict(env(), CONTAINERS_CONF=str(REPO / "containers/containers.conf")))
                if proc.returncode != 0:
                    raise SystemExit(f"bench: derive {name} failed:\n{proc.stderr[-3000:]}")
                results[name] = (seconds, json.loads(proc.stdout.strip().splitlines()[-1]))
            same = subprocess.run(["diff", "-r", str(archive / "n"), str(archive / "c")]).returncode == 0
            native_s = results["native"][0]
            for name, (seconds, r) in results.items():
                rows.append([school.server_id, f"{r['benchmarks']:,}", name, f"{seconds:.1f}",
                             f"{r['peak_rss_bytes'] / 2**20:.0f} MiB", ratio(seconds, native_s),
                             "yes" if same else "NO"])
            rows.append([school.server_id, bare.stdout.split()[1], "bare decode of Benchmarks.bson (floor)",
                         f"{bare_s:.1f}", "-", ratio(native_s, bare_s) + " (native vs floor)", "-"])
            shutil.rmtree(archive / "n")
            shutil.rmtree(archive / "c")
        table("Derived data from the archive (ratio = native time / this one's; goal: memory flat in the data size)",
              ["school", "benchmarks", "how", "seconds", "peak RSS", "speed vs native", "files identical"], rows)
    finally:
        shutil.rmtree(archive, ignore_errors=True)


def dataset_build(archive: Path) -> tuple[float, dict]:
    seconds, proc = timed([sys.executable, "-m", "clix_dataset", str(archive)], cwd=REPO, env=env(), timeout=7200)
    if proc.returncode != 0:
        raise SystemExit(f"bench: clix_dataset failed:\n{proc.stderr[-3000:]}")
    return seconds, json.loads(proc.stdout.strip().splitlines()[-1])


def readme_queries() -> dict[str, str]:
    import re

    text = (REPO / "README.md").read_text()
    return dict(re.findall(r"<!-- query: ([\w-]+) -->\n```sql\n(.*?)```", text, re.S))


def dataset_rows(big_root: Path, small_root: Path) -> list[list]:
    """The dataset of one school alone (the big one, then the small one), against a bare decode of
    its Benchmarks.bson: time and peak memory, which should not grow with the data."""
    rows = []
    for root in (big_root, small_root):
        bson_file = next(root.glob("*/*/*/gstudio/db/gstudio-mongodb/Benchmarks.bson"))
        bare_s, bare = timed([sys.executable, "-c", BARE_DECODE, str(bson_file)])
        seconds, result = dataset_build(root)
        rows.append([result["collections"], bare.stdout.split()[1], f"{result['counts']['activity_visits']:,}",
                     f"{seconds:.1f}", f"{result['peak_rss_bytes'] / 2**20:.0f} MiB", f"{bare_s:.1f}",
                     ratio(seconds, bare_s)])
    return rows


def query_rows(root: Path, copies: Path, schools: int) -> list[list]:
    """Copies of the small school (hard links) beside the big one until there are `schools`, the
    incremental re-run that adds them, then each README query on the whole dataset (best of 3)
    against a bare count of the visits."""
    import duckdb

    template = next(copies.glob("*/*/*/gstudio")).parent
    year = template.parent.parent.name
    for n in range(1, schools):
        folder = root / year / "tg" / f"{4000000 + n}-tg{n}"
        folder.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-al", str(template), str(folder)], check=True)
    seconds, result = dataset_build(root)
    rows = [[f"incremental run adding {len(result['rebuilt'])} schools", f"{seconds:.2f}", "-"]]
    con = duckdb.connect(str(root / "dataset" / "clix.duckdb"), read_only=True)
    try:
        def best(sql: str) -> float:
            times = []
            for _ in range(3):
                started = time.monotonic()
                con.execute(sql).fetchall()
                times.append(time.monotonic() - started)
            return min(times)

        floor = best("SELECT count(*) FROM activity_visits")
        rows.append(["bare count(*) of activity_visits (floor)", f"{floor:.3f}", "-"])
        for name, sql in readme_queries().items():
            rows.append([f"README query {name}", f"{best(sql):.3f}", ratio(best(sql), floor)])
    finally:
        con.close()
    return rows


def bench_dataset(lab: hosts.Lab, big: hosts.School, small: hosts.School) -> None:
    archive = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="clix-bench-dataset-"))
    try:
        playbook(lab, "collect.yml", "-e", f"clix_archive_root={archive / 'all'}",
                 "--tags", "db,postgres,settings,tools-logs,analytics,heartbeat", "-e", "clix_derived_on_server=false")
        roots = {}
        for school in (big, small):
            src = next((archive / "all").glob(f"*/*/{school.school_code}-{school.server_id}"))
            dest = archive / school.server_id / src.relative_to(archive / "all")
            dest.parent.mkdir(parents=True)
            subprocess.run(["cp", "-al", str(src), str(dest)], check=True)
            roots[school.server_id] = archive / school.server_id
        report_dataset(roots[big.server_id], roots[small.server_id])
    finally:
        shutil.rmtree(archive, ignore_errors=True)


def report_dataset(big_root: Path, small_root: Path, schools: int = 20) -> None:
    table("Research dataset of one school (ratio = bare Benchmarks decode time / build time; goal: memory flat "
          "in the data size, under 300 MiB)",
          ["schools", "benchmarks", "visits", "seconds", "peak RSS", "bare decode s", "speed vs bare decode"],
          dataset_rows(big_root, small_root))
    table(f"Queries over {schools} schools (the big one and copies of the small one; goal: under a second)",
          ["what", "seconds", "vs bare count"], query_rows(big_root, small_root, schools))


def bench_link(lab: hosts.Lab, small: hosts.School, link_mb: int) -> None:
    """Collect of one school vs plain rsync -a of the same folders, both over 10 Mbit/s."""
    extra = add_media(lab, small, link_mb)
    hosts.limit_rate(small, "10mbit")
    archive = Path(tempfile.mkdtemp(prefix="clix-bench-archive-", dir="/var/tmp"))
    plain = Path(tempfile.mkdtemp(prefix="clix-bench-rsync-", dir="/var/tmp"))
    try:
        ssh = f"ssh -i {lab.key} -o UserKnownHostsFile={lab.known_hosts} -o BatchMode=yes"
        sources = [f"root@{small.address}:/home/core/data/{f}" for f in ITEM_FOLDERS]
        rsync_s, proc = timed(["rsync", "-a", "-e", ssh, *sources, str(plain)], timeout=7200)
        assert proc.returncode == 0, proc.stderr
        tags = "media,rcs,analytics,tools-logs,logs,nginx,heartbeat"
        first_s, _, control_rss = playbook(lab, str(REPO / "collect.yml"), "-l", small.server_id, "--tags", tags,
                                           "-e", f"clix_archive_root={archive}")
        again_s, _, _ = playbook(lab, str(REPO / "collect.yml"), "-l", small.server_id, "--tags", tags,
                                 "-e", f"clix_archive_root={archive}")
        report = json.loads(sorted((archive / "reports").glob("*.json"))[-1].read_text())
        moved = sum(r["received"] or 0 for r in report["rows"] if not r["item"].startswith("system-heartbeat"))
        total = sum(r["total"] or 0 for r in report["rows"] if not r["item"].startswith("system-heartbeat"))
    finally:
        hosts.limit_rate(small, None)
        extra.unlink()
        shutil.rmtree(archive, ignore_errors=True)
        shutil.rmtree(plain, ignore_errors=True)
    table(f"Collect of {small.hostname} ({link_mb} MiB extra media) over a 10 Mbit/s link "
          "(goal: collect >= 0.9x the speed of rsync)",
          ["run", "seconds", "speed vs rsync -a"],
          [["rsync -a of the same folders (baseline)", f"{rsync_s:.1f}", "1.00x"],
           ["collect.yml, first run", f"{first_s:.1f}", ratio(first_s, rsync_s)],
           [f"collect.yml, no change (moved {moved:,} of {total:,} bytes, "
            f"{100 * moved / max(total, 1):.2f}%)", f"{again_s:.1f}", ratio(again_s, rsync_s)]])
    table("Peak memory on the control node", ["process", "peak RSS"],
          [["ansible-playbook collect.yml (largest child)", f"{control_rss / 2**20:.0f} MiB"]])


def control_cpu_seconds() -> float:
    """CPU used so far by finished children of this process: ansible-playbook and what it waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def add_media(lab: hosts.Lab, school: hosts.School, mb: int) -> Path:
    extra = lab.host_dir(school) / "root/home/core/data/media/bench/lecture.mp4"
    extra.parent.mkdir(parents=True, exist_ok=True)
    extra.write_bytes(os.urandom(mb * 2**20))
    return extra


def mitogen_env() -> dict:
    """Ansible with mitogen's linear strategy (the mitogen package, pinned in requirements.txt)."""
    import ansible_mitogen
    strategies = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return dict(ANSIBLE_STRATEGY_PLUGINS=str(strategies), ANSIBLE_STRATEGY="mitogen_linear")


def scale_runs(lab: hosts.Lab, job: str, extra_env: dict | None = None,
               trees: dict[str, Path] | None = None) -> list[list]:
    """One school, then all twenty, each on a fresh archive, for each tree (this checkout, and a
    baseline's worktree with --vs) one after the other on the same fleet: seconds, time vs 1 school,
    control-node CPU per school, the trees side by side."""
    trees = trees or {"this tree": REPO}
    runs: dict[tuple[str, str], tuple[float, float]] = {}
    for limit, count in (("tg1", 1), ("tg", 20)):
        for name, tree in trees.items():
            archive = Path(tempfile.mkdtemp(prefix="clix-bench-scale-", dir="/var/tmp"))
            cpu = control_cpu_seconds()
            seconds, _, _ = playbook(lab, str(tree / job), "-l", limit, "-e", f"clix_archive_root={archive}",
                                     extra_env=extra_env, tree=tree)
            runs[limit, name] = seconds, (control_cpu_seconds() - cpu) / count
            shutil.rmtree(archive, ignore_errors=True)
    rows = []
    for limit in ("tg1", "tg"):
        row = [limit]
        row += [f"{runs[limit, name][0]:.1f}" for name in trees]
        row += [f"{runs[limit, name][0] / runs['tg1', name][0]:.2f}x" for name in trees]
        row += [f"{runs[limit, name][1]:.2f}" for name in trees]
        if len(trees) == 2:
            base, ours = (runs[limit, name][1] for name in trees)
            row.append(f"{ours / base:.2f}")
        rows.append(row)
    return rows


def scale_header(trees: dict[str, Path]) -> list[str]:
    header = ["limit", *(f"seconds {n}" for n in trees), *(f"time vs 1 {n}" for n in trees),
              *(f"control CPU s/school {n}" for n in trees)]
    return header + (["CPU/school this / base"] if len(trees) == 2 else [])


@contextlib.contextmanager
def baseline_tree(ref: str | None):
    """{name: checkout} of the trees to compare: a temporary `git worktree` of ref (in /var/tmp,
    sharing this checkout's .venv and .cache, removed after), then this checkout; or this one alone."""
    if not ref:
        yield {"this tree": REPO}
        return
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", ref], capture_output=True, text=True,
                            check=True).stdout.strip()
    tree = Path(tempfile.mkdtemp(prefix="clix-bench-base-", dir="/var/tmp"))
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), commit], check=True,
                   capture_output=True)
    try:
        for shared in (".venv", ".cache"):
            (tree / shared).symlink_to((REPO / shared).resolve())
        yield {ref if commit.startswith(ref) else f"{ref} ({commit})": tree, "this tree": REPO}
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
        shutil.rmtree(tree, ignore_errors=True)


def bench_mitogen(lab: hosts.Lab) -> None:
    """collect.yml under mitogen's strategy: the control-node CPU per school it would save, or why not."""
    try:
        rows = scale_runs(lab, "collect.yml", mitogen_env())
    except (SystemExit, ImportError) as exc:
        print(f"\ncollect.yml under mitogen_linear: not measured ({str(exc).splitlines()[0][:200]})")
        return
    table("collect.yml on 1 vs 20 schools under mitogen_linear (not the default: bench/README.md says why)",
          scale_header({"this tree": REPO}), rows)


def bench_scale(lab_root: Path, link_mb: int, vs: str | None = None, mitogen: bool = True, link: bool = True) -> None:
    """collect.yml and heartbeat.yml on 1 school vs 20 schools, a fresh archive each: first with
    nothing but the work itself (all 20 simulated servers share this machine's cores with the
    control node), then with each school behind its own 10 Mbit/s link and link_mb MiB of new
    media, as in the field. With vs (a git ref), the same runs of that ref's tree alternate with
    this tree's on the same fleet, side by side."""
    lab = hosts.Lab(lab_root / "scale")
    fleet_cli.up(lab, fleet_cli.plan("tg=20", set(), first_address=200, tag="y"))
    try:
        playbook(lab, str(REPO / "tests/integration/playbooks/target-python.yml"))
        with baseline_tree(vs) as trees:
            header = scale_header(trees)
            for job in ("collect.yml", "heartbeat.yml"):
                table(f"{job} on 1 vs 20 schools, no link limit (goal: 20 schools <= 2x the time of 1)", header,
                      scale_runs(lab, job, trees=trees))
            if mitogen:
                bench_mitogen(lab)
            if link:
                bench_scale_link(lab, link_mb, trees)
    finally:
        fleet_cli.down(lab)


def bench_scale_link(lab: hosts.Lab, link_mb: int, trees: dict[str, Path]) -> None:
    extras = [add_media(lab, school, link_mb) for school in lab.schools()]
    for school in lab.schools():
        hosts.limit_rate(school, "10mbit")
    try:
        table(f"collect.yml on 1 vs 20 schools, each behind its own 10 Mbit/s link with {link_mb} MiB of "
              "new media (goal: <= 2x)", scale_header(trees), scale_runs(lab, "collect.yml", trees=trees))
    finally:
        for school in lab.schools():
            hosts.limit_rate(school, None)
        for extra in extras:
            extra.unlink()


def library_module(name: str):
    """library/<name>.py (bench/__init__.py made the repository's module_utils importable as Ansible's)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_" + name, REPO / "library" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def field_archive(root: Path, schools: int, big_mb: int, small_files: int) -> int:
    """A field archive of real files with their manifests: per school one big video and many small
    files (media, logs); returns its bytes."""
    from ansible.module_utils.clix_manifest import file_entries, write
    total = 0
    for n in range(schools):
        school = root / "2026" / "mz" / f"{2031001 + n}-mz{n + 1}"
        media = school / "gstudio" / "media"
        media.mkdir(parents=True)
        with open(media / "video.mp4", "wb") as f:
            for _ in range(big_mb):
                f.write(os.urandom(1024 * 1024))
        logs = school / "gstudio" / "gstudio-logs"
        logs.mkdir()
        for i in range(small_files):
            (logs / f"log-{i:05d}.txt").write_bytes(os.urandom(4096) * 8)
        files = file_entries(str(school), ["gstudio"], None)
        write(str(school), dict(format=1, school={}, items={"media": dict(status="ok", collected_at="2026-06-01T10:00:00")},
                                run=dict(ended="2026-06-01T10:00:00"), top_folders=["gstudio"], files=files))
        total += sum(e["size"] for e in files.values())
    return total


def bench_merge(schools: int = 8, big_mb: int = 400, small_files: int = 500) -> None:
    """merge.yml into an empty central archive (every school verified, copied, fsynced, manifests
    rebuilt) vs `rsync -a` of the same folders, both from a warm page cache."""
    work = Path(tempfile.mkdtemp(prefix="clix-bench-merge-", dir="/var/tmp"))
    try:
        source = work / "field"
        size = field_archive(source, schools, big_mb, small_files)
        subprocess.run(["cat", *map(str, source.rglob("*.mp4"))], stdout=subprocess.DEVNULL, check=True)
        rsync_s, proc = timed(["rsync", "-a", f"{source}/", f"{work / 'rsync'}/"])
        assert proc.returncode == 0, proc.stderr
        sync_s, _ = timed(["sync"])
        merge_s, proc = timed([str(BIN / "ansible-playbook"), str(REPO / "merge.yml"),
                               "-e", f"clix_merge_from={source}", "-e", f"clix_archive_root={work / 'central'}"],
                              cwd=REPO, env=env())
        if proc.returncode != 0:
            raise SystemExit(f"bench: merge.yml failed:\n{proc.stdout[-3000:]}")
        subprocess.run(["sync"], check=True)
        module = library_module("clix_merge")
        started = time.monotonic()
        module.merge(str(source), str(work / "central2"), [], "bench", False)
        module_s = time.monotonic() - started
        again_s, _ = timed([str(BIN / "ansible-playbook"), str(REPO / "merge.yml"),
                            "-e", f"clix_merge_from={source}", "-e", f"clix_archive_root={work / 'central'}"],
                           cwd=REPO, env=env())
        mb = size / 1e6
        table(f"merge of a field archive ({schools} schools, {mb:.0f} MB, {schools * (small_files + 1)} files) "
              "into an empty central archive",
              ["how", "seconds", "MB/s", "vs rsync -a"],
              [["rsync -a (baseline)", f"{rsync_s:.2f}", f"{mb / rsync_s:.0f}", "1.00x"],
               ["rsync -a, then sync (on disk, as merge leaves it)", f"{rsync_s + sync_s:.2f}",
                f"{mb / (rsync_s + sync_s):.0f}", ratio(rsync_s + sync_s, rsync_s)],
               ["merge.yml (verify + copy + fsync + manifests)", f"{merge_s:.2f}", f"{mb / merge_s:.0f}",
                ratio(merge_s, rsync_s)],
               ["clix_merge alone (no Ansible start-up)", f"{module_s:.2f}", f"{mb / module_s:.0f}",
                ratio(module_s, rsync_s)],
               ["merge.yml again (nothing to copy: verify only)", f"{again_s:.2f}", f"{mb / again_s:.0f}",
                ratio(again_s, rsync_s)]])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_catalog(schools: int = 700, years: int = 5) -> None:
    """catalog.yml over the manifests of a generated archive (no data)."""
    from bench.archives import generate_archive
    work = Path(tempfile.mkdtemp(prefix="clix-bench-catalog-", dir="/var/tmp"))
    try:
        written = generate_archive(str(work), schools=schools, years=years)
        seconds, proc = timed([str(BIN / "ansible-playbook"), str(REPO / "catalog.yml"),
                               "-e", f"clix_archive_root={work}"], cwd=REPO, env=env())
        if proc.returncode != 0:
            raise SystemExit(f"bench: catalog.yml failed:\n{proc.stdout[-3000:]}")
        module = library_module("clix_catalog")
        started = time.monotonic()
        cat = module.catalogue(str(work), [], [])
        module.html_page(cat), module.csv_text(cat)
        module_s = time.monotonic() - started
        mb = sum(p.stat().st_size for p in work.rglob(MANIFEST)) / 1e6
        table(f"catalogue of {written} school-years ({schools} schools x {years} years, {mb:.0f} MB of manifests)",
              ["how", "seconds", "goal"],
              [["catalog.yml (JSON, CSV, HTML)", f"{seconds:.1f}", "< 10 s"],
               ["clix_catalog alone (read + render)", f"{module_s:.1f}", ""]])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_dataset_scale(schools: int = 300) -> None:
    """The research dataset of a generated archive of small schools (bench/archives.py): the full
    build, the files per table, peak memory, a re-run with nothing changed, one after one school
    changed, and the release of it all."""
    from bench.archives import dataset_archive
    work = Path(tempfile.mkdtemp(prefix="clix-bench-dataset-scale-", dir="/var/tmp"))
    try:
        started = time.monotonic()
        folders = dataset_archive(str(work / "archive"), schools=schools)
        made_s = time.monotonic() - started
        root = work / "archive"
        full_s, full = dataset_build(root)
        tables = sorted(p for p in (root / "dataset").iterdir() if p.name.endswith("_history"))
        files = {t.name: len(list(t.rglob("*.parquet"))) for t in tables}
        again_s, again = dataset_build(root)
        before = {p: p.stat().st_mtime_ns for p in (root / "dataset").rglob("*.parquet")}
        manifest = root / folders[len(folders) // 2] / MANIFEST
        manifest.write_text(manifest.read_text().replace("10:00:00", "11:00:00"))
        one_s, one = dataset_build(root)
        rewritten = sum(1 for p, t in before.items() if p.exists() and p.stat().st_mtime_ns != t)
        key = work / "release.key"
        key.write_bytes(os.urandom(32))
        key.chmod(0o600)
        release_s, release = timed([sys.executable, "-m", "clix_dataset", "release", str(root), "--key-file", str(key)],
                                   cwd=REPO, env=env(), timeout=7200)
        if release.returncode != 0:
            raise SystemExit(f"bench: the release failed:\n{release.stderr[-3000:]}")
        mb = sum(p.stat().st_size for p in (root / "dataset").rglob("*") if p.is_file()) / 2**20
        table(f"Research dataset of {len(folders)} generated schools in {len({f.split('/')[1] for f in folders})} "
              f"states ({full['counts']['activity_visits']:,} visits, {full['counts']['users']:,} users; generated in "
              f"{made_s:.0f} s; the dataset {mb:.0f} MiB)",
              ["run", "seconds", "peak RSS", "collections read"],
              [["full build", f"{full_s:.1f}", f"{full['peak_rss_bytes'] / 2**20:.0f} MiB", len(full["rebuilt"])],
               ["re-run, nothing changed", f"{again_s:.1f}", f"{again['peak_rss_bytes'] / 2**20:.0f} MiB",
                len(again["rebuilt"])],
               [f"re-run after one school changed ({rewritten} partition files rewritten)", f"{one_s:.1f}",
                f"{one['peak_rss_bytes'] / 2**20:.0f} MiB", len(one["rebuilt"])],
               ["release of it all (pseudonymised, first time)", f"{release_s:.1f}", "-", "-"]])
        table("Parquet files per table (goal: at most one per table per year and state)", ["table", "files"],
              [[name, n] for name, n in files.items()])
    finally:
        shutil.rmtree(work, ignore_errors=True)


LABPC_DATASTORE_FILES = 100_000
LABPC_FILES_PER_SESSION = 8.7  # datastore JSON files fleet/unplatform.py writes per session, on average


def labpc_install(lab: hosts.Lab, pc: hosts.School) -> tuple[int, float]:
    """Replace the PC's /opt/clix by an install of about LABPC_DATASTORE_FILES datastore files;
    (datastore files, seconds it took to generate)."""
    root = lab.host_dir(pc) / "root" / "opt" / "clix"
    shutil.rmtree(root, ignore_errors=True)
    started = time.monotonic()
    unplatform.generate(root, "bench", int(LABPC_DATASTORE_FILES / LABPC_FILES_PER_SESSION),
                        school_code=pc.school_code, pc=pc.pc)
    files = sum(len(names) for _, _, names in os.walk(root / "webapps/CLIx/datastore"))
    return files, time.monotonic() - started


def task_times_env(path: Path) -> dict:
    """Environment for a playbook run that writes its seconds per task to path (bench/callback)."""
    return {"ANSIBLE_CALLBACK_PLUGINS": f"{REPO / 'bench' / 'callback'}:{REPO / 'callback_plugins'}",
            "ANSIBLE_CALLBACKS_ENABLED": "clix_task_times,clix_template_cache",
            "CLIX_TASK_TIMES": str(path)}


def manifest_scan_seconds(school: Path) -> tuple[float, int]:
    """A full manifest scan of school (every file read and hashed, nothing known), page cache warm."""
    library_module("clix_manifest")  # makes ansible.module_utils.clix_* importable
    from ansible.module_utils import clix_manifest
    started = time.monotonic()
    files = clix_manifest.scan(str(school), ["unplatform"]).files
    return time.monotonic() - started, len(files)


def collect_pc(lab: hosts.Lab, pc: hosts.School, archive: Path, times: Path | None = None) -> tuple[float, dict]:
    """(seconds of collect.yml -l <pc> into archive, the PC's item in the run report)."""
    seconds, _, _ = playbook(lab, str(REPO / "collect.yml"), "-l", pc.hostname, "-e", f"clix_archive_root={archive}",
                             extra_env=task_times_env(times) if times else None)
    report = json.loads(sorted((archive / "reports").glob("*.json"))[-1].read_text())
    return seconds, next(i for s in report["schools"] for i in s["items"] if i["name"] == pc_relpath(pc.pc))


@contextlib.contextmanager
def fresh_ext4(size_gb: int, inodes: int):
    """A new, empty ext4 (with a journal, as a control node's disk has) in a sparse file of /var/tmp,
    mounted on a temporary folder, for the copies a benchmark compares. This machine's root file system
    has no journal, and ext4 without one passes over the inodes freed in the last 60-360 s when it
    makes new ones: a copy of 100k files made after another's were deleted took 2-6x as long, and the
    previous benchmark's deletions slowed a whole round of the next."""
    image = Path(tempfile.mkstemp(prefix="clix-bench-fs-", suffix=".ext4", dir="/var/tmp")[1])
    mount = Path(tempfile.mkdtemp(prefix="clix-bench-mnt-", dir="/var/tmp"))
    try:
        os.truncate(image, size_gb << 30)
        # Inode tables and journal written now, not by the kernel in the background while runs are timed.
        subprocess.run(["mkfs.ext4", "-q", "-F", "-N", str(inodes), "-E", "lazy_itable_init=0,lazy_journal_init=0",
                        str(image)], check=True)
        subprocess.run(["mount", "-o", "loop", str(image), str(mount)], check=True)
        try:
            yield mount
        finally:
            subprocess.run(["umount", str(mount)], check=True)
    finally:
        mount.rmdir()
        image.unlink()


def pull_seconds(lab: hosts.Lab, pc: hosts.School, root: Path, parse: bool = True) -> float:
    """clix_pull's pull of the PC's /opt/clix/ in this process (no Ansible), every JSON file parsed as
    collect.yml has it, or (parse=False, the benchmark only) with its checker idle: what parsing costs."""
    pull = library_module("clix_pull")  # a fresh copy: the idle checker stays in it
    if not parse:
        class Idle(pull.JsonChecker):
            def received(self, names: list) -> None:
                pass

            def finish(self) -> tuple:
                self.queue.put(None)
                self.thread.join()
                return 0, [], []
        pull.JsonChecker = Idle
    p = dict(rsync_path="rsync", timeout=3600, connect_timeout=30, connection="ssh", host=pc.address, port=22, user="root",
             private_key=str(lab.key), ssh_args=f"-o UserKnownHostsFile={lab.known_hosts}", bwlimit=0, compress=False,
             root=str(root), json_tries=3, json_wait=1, json_limit=16 << 20)
    root.mkdir()
    started = time.monotonic()
    result = pull.pull_json(p, {"src": "/opt/clix/", "dest": "unplatform/pc/opt-clix"}, {"status": "ok", "reason": ""}, None)
    seconds = time.monotonic() - started
    assert result["status"] == "ok" and bool(result["json_files"]) == parse, result
    return seconds


def bench_labpc(lab: hosts.Lab, rounds: int = 2) -> None:
    """A lab PC's collection vs rsync -a of the same install over the same SSH (both to the same disk),
    in alternating rounds, each side's fastest kept: the shared machine's load moves single runs by 3x.
    Every copy goes to a fresh file system (fresh_ext4), and nothing is deleted until the end.
    Then: the PC's very first run (its private Python moved aside, so installed again), the no-change
    re-run, and the fixed cost of collecting any lab PC (a PC of ~1k files)."""
    pc = next(p for p in lab.lab_pcs() if p.installs == ("v2",))  # the app is not running there
    small = next(p for p in lab.lab_pcs() if p.installs == ("v2-noconfig",))
    files, made_s = labpc_install(lab, pc)
    ssh = f"ssh -i {lab.key} -o UserKnownHostsFile={lab.known_hosts} -o BatchMode=yes"
    private_python = lab.host_dir(pc) / "root" / Path(TARGET_PYTHON).parents[2].relative_to("/")
    baseline, synced, pulls, collects, times, fixed, parsed, unparsed = [], [], [], [], [], [], [], []
    # 5 copies a round and 2 more, 115k files and 0.5 GB each
    with fresh_ext4(size_gb=8 * rounds, inodes=200_000 * (5 * rounds + 2)) as top:
        for n in range(rounds):
            os.sync()  # each timed run starts with nothing of the others' left to write back
            seconds, proc = timed(["rsync", "-a", "-e", ssh, f"root@{pc.address}:/opt/clix/", str(top / f"rsync{n}")],
                                  timeout=3600)
            assert proc.returncode == 0, proc.stderr
            baseline.append(seconds)
            # The pull ends with a syncfs (nothing lost): it must not pay for the baseline's copy, and
            # the baseline's copy on disk too is a second baseline.
            synced.append(seconds + timed(["sync"])[0])
            seconds, item = collect_pc(lab, pc, top / f"archive{n}", top / f"times{n}.json")
            collects.append(seconds)
            pulls.append(item["seconds"])
            times.append(json.loads((top / f"times{n}.json").read_text()))
            os.sync()
            fixed.append(collect_pc(lab, small, top / f"small{n}")[0])
            os.sync()
            parsed.append(pull_seconds(lab, pc, top / f"parsed{n}"))
            os.sync()
            unparsed.append(pull_seconds(lab, pc, top / f"unparsed{n}", parse=False))
            print(f"lab PC round {n}: rsync -a {baseline[-1]:.1f}s (then sync {synced[-1]:.1f}s), pull {pulls[-1]:.1f}s, "
                  f"collect.yml {collects[-1]:.1f}s, a small PC's collect.yml {fixed[-1]:.1f}s, in process the pull "
                  f"{parsed[-1]:.1f}s and without the parse {unparsed[-1]:.1f}s", flush=True)
        private_python.rename(private_python.with_name("clix-collect.aside"))  # a rename: nothing freed
        os.sync()
        install_s, _ = collect_pc(lab, pc, top / "installed")
        again_s, _ = collect_pc(lab, pc, top / "archive0")
        school = next((top / "archive0").rglob(MANIFEST)).parent
        scan_s, scanned = manifest_scan_seconds(school)
    rsync_s, synced_s, pull_s, first_s, fixed_s = min(baseline), min(synced), min(pulls), min(collects), min(fixed)
    install = item["details"]["installs"][0]

    def each(values: list) -> str:
        return ", ".join(f"{v:.1f}" for v in values)
    table(f"Lab PC {pc.hostname}: /opt/clix with {files:,} datastore files ({install['json_files']:,} JSON parsed, "
          f"{install['sessions']:,} sessions; generated in {made_s:.0f}s); fastest of {rounds} alternating rounds "
          "(goal: the pull, which parses every JSON, >= 0.8x the speed of rsync -a)",
          ["run", "seconds", "files/s", "speed vs rsync -a", "vs rsync -a, then sync"],
          [[f"{label} ({each(values)})" if values else label, f"{sec:.1f}", f"{files / sec:,.0f}" if rate else "",
            ratio(sec, rsync_s) if rate else "", ratio(sec, synced_s) if rate else ""] for label, values, sec, rate in [
              ("rsync -a of /opt/clix over SSH (baseline)", baseline, rsync_s, True),
              ("rsync -a, then sync: the same copy, on disk (second baseline)", synced, synced_s, True),
              ("the pull: rsync into .incoming, every JSON parsed and hashed, on disk (syncfs), moved in", pulls, pull_s,
               True),
              ("the same pull in process (no Ansible)", parsed, min(parsed), True),
              ("the same pull in process with the parse off (the benchmark only): the pull less the parse", unparsed,
               min(unparsed), True),
              ("collect.yml -l <pc>, first collection: Ansible, backup, pull, manifest, report", collects, first_s, True),
              ("collect.yml -l <a PC of ~1k files>: the fixed cost of a lab PC's collection", fixed, fixed_s, False),
              ("the first collection less that fixed cost", [], first_s - fixed_s, True),
              ("collect.yml -l <pc>, the PC's very first run: its private Python installed too", [], install_s, True),
              ("collect.yml -l <pc>, no change", [], again_s, False)]])
    print(f"Parsing and hashing every JSON file costs {1 - min(unparsed) / min(parsed):.0%} of the pull's time in "
          "process (goal: at most a fifth, i.e. the pull >= 0.8x the speed of the same pull without it)")
    fastest = times[collects.index(first_s)]
    rows = [[name[:90], f"{sec:.1f}"] for name, sec in sorted(fastest.items(), key=lambda kv: -kv[1]) if sec >= 0.3]
    rows.append([f"(for comparison) a manifest scan reading all {scanned:,} files of {school.name}, page cache warm",
                 f"{scan_s:.1f}"])
    table(f"Where the {first_s:.1f} s of the fastest first collection went (seconds per task, >= 0.3 s)",
          ["task", "seconds"], rows)


def labpc_only() -> int:
    """Benchmark 11 alone: one small school, its lab PCs, the 100k install."""
    lab = hosts.Lab(LAB)
    schools = fleet_cli.plan("mz=1", set(), first_address=150, tag="x")
    fleet_cli.up(lab, schools, fleet_cli.plan_lab_pcs(schools))
    try:
        playbook(lab, str(REPO / "tests/integration/playbooks/target-python.yml"))
        bench_labpc(lab)
    finally:
        fleet_cli.down(lab)
    return 0


RESTORED = ("media", "rcs-repo")  # below /home/core/data; assessment media below /home/core/assesment-datastore
ASSESSMENT = ("repository", "studentResponseFiles")
MONGORESTORE = REPO / ".cache/mongotools/mongodbtools/mongorestore.exe"
WINE = Path("/usr/lib/wine/wine64")


def wipe_school(lab: hosts.Lab, school: hosts.School) -> None:
    """The server as after a disk change: no MongoDB data, no gStudio database or role, no data folders."""
    import psycopg2
    from pymongo import MongoClient
    client = MongoClient(school.address, hosts.MONGO_PORT, directConnection=True)
    for name in client.list_database_names():
        if name not in ("admin", "local", "config"):
            client.drop_database(name)
    conn = psycopg2.connect(host=school.address, port=hosts.PG_PORT, user="postgres", dbname="postgres",
                            password=(lab.host_dir(school) / "pg.password").read_text())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS gstudio_psql WITH (FORCE)")
        cur.execute("DROP ROLE IF EXISTS glab")
    conn.close()
    core = lab.host_dir(school) / "root/home/core"
    for folder in [core / "data" / f for f in RESTORED] + [core / "assesment-datastore" / f for f in ASSESSMENT]:
        shutil.rmtree(folder, ignore_errors=True)


def raw_restore(lab: hosts.Lab, school: hosts.School, collected: Path) -> list[list]:
    """The same restore by hand: rsync -a of each folder over the same SSH, mongorestore and psql -f over the bridge."""
    ssh = f"ssh -i {lab.key} -o UserKnownHostsFile={lab.known_hosts} -o BatchMode=yes"
    rows = []
    folders = [(collected / "gstudio" / f, f"/home/core/data/{f}") for f in RESTORED] + [
        (collected / "gstudio/assessment-media" / f, f"/home/core/assesment-datastore/{f}") for f in ASSESSMENT]
    started = time.monotonic()
    for src, dest in folders:
        _, proc = timed(["rsync", "-a", "--chown=root:root", "--chmod=D0755,F0644", "-e", ssh, f"{src}/",
                         f"root@{school.address}:{dest}/"], timeout=7200)
        assert proc.returncode == 0, proc.stderr
    rows.append(["rsync -a of media, rcs-repo, assessment media", time.monotonic() - started])
    if MONGORESTORE.exists() and WINE.exists():
        wine_env = dict(os.environ, WINEDEBUG="-all", WINEPREFIX="/var/tmp/clix-wine")
        mongo_s, proc = timed([str(WINE), str(MONGORESTORE), "--uri",
                               f"mongodb://{school.address}:{hosts.MONGO_PORT}/?directConnection=true",
                               "--dir", "Z:" + str(collected / "gstudio/db").replace("/", "\\")], env=wine_env,
                              timeout=7200)
        assert proc.returncode == 0, proc.stderr[-2000:]
        rows.append(["mongorestore 100.3.1 (wine, over the bridge)", mongo_s])
    pg_env = dict(os.environ, PGPASSWORD=(lab.host_dir(school) / "pg.password").read_text())
    # As PostgreSQL's documentation restores pg_dumpall's output: errors (the superuser's CREATE ROLE) go on.
    pg_s, proc = timed(["psql", "-X", "-q", "-h", school.address, "-p", str(hosts.PG_PORT),
                        "-U", "postgres", "-d", "postgres", "-f", str(collected / "gstudio/postgres-dump/pg_dump_all.sql")],
                       env=pg_env, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows.append(["psql -f pg_dump_all.sql (over the bridge)", pg_s])
    return rows


def restore_phases(times: Path) -> list[list]:
    """Where restore.yml's time went: its slowest tasks (bench/callback's seconds per task)."""
    found = json.loads(times.read_text())
    return [[name, seconds] for name, seconds in sorted(found.items(), key=lambda kv: -kv[1])[:6]]


def timed_restore(lab: hosts.Lab, school: hosts.School, archive: Path, items: str, *extra: str) -> tuple[float, list]:
    """(seconds of restore.yml onto the wiped server, its slowest tasks)."""
    wipe_school(lab, school)
    # gStudio's services are stopped and started in its container, where the school runs one.
    services = [] if school.gstudio_container else ["-e", '{"clix_gstudio_services": []}']
    times = archive / "times.json"
    seconds, _, _ = playbook(lab, "restore.yml", "-l", school.server_id, "--tags", items, *services, *extra,
                             "-e", f"clix_archive_root={archive}", extra_env=task_times_env(times))
    return seconds, restore_phases(times)


def bench_restore(lab: hosts.Lab, school: hosts.School) -> None:
    """restore.yml of a school onto its wiped server vs the raw tools, each from the same collection."""
    archive = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="clix-bench-restore-"))
    items = "db,postgres,media,rcs,assessment"
    try:
        playbook(lab, "collect.yml", "-l", school.server_id, "--tags", items, "-e", f"clix_archive_root={archive}")
        [collected] = archive.glob(f"[0-9]*/{school.state}/{school.school_code}-{school.server_id}")
        manifest = json.loads((collected / MANIFEST).read_text())
        size = sum(f["size"] for f in manifest["files"].values())
        # Each side twice, in turn, the faster kept: on a shared machine the load moves between runs.
        raws, ours, plains = [], [], []
        for _ in range(2):
            wipe_school(lab, school)
            raws.append(raw_restore(lab, school, collected))
            ours.append(timed_restore(lab, school, archive, items))
            # rsync --compress (clix_rsync_compress, for slow school links) costs CPU on a LAN.
            plains.append(timed_restore(lab, school, archive, items, "-e", "clix_rsync_compress=false")[0])
    finally:
        shutil.rmtree(archive, ignore_errors=True)
    raw = min(raws, key=lambda r: sum(x[1] for x in r))
    raw_s = sum(r[1] for r in raw)
    ours_s, phases = min(ours)
    plain_s = min(plains)
    rows = [["raw tools, in all (baseline)", f"{raw_s:.1f}", "1.00x"]]
    rows += [[f"  {name}", f"{seconds:.1f}", "-"] for name, seconds in raw]
    rows.append(["restore.yml (checks, services, push, load)", f"{ours_s:.1f}", ratio(ours_s, raw_s)])
    rows += [[f"  {name}", f"{seconds:.1f}", "-"] for name, seconds in phases]
    rows.append(["restore.yml -e clix_rsync_compress=false", f"{plain_s:.1f}", ratio(plain_s, raw_s)])
    rows.append(["each run (raw; restore.yml; without compress)", " ".join(
        "%.0f;%.0f;%.0f" % (sum(x[1] for x in r), o[0], q) for r, o, q in zip(raws, ours, plains)), "-"])
    table(f"Restore of {school.hostname} onto its wiped server: {len(manifest['files']):,} files, {size / 1e6:.0f} MB "
          "(goal >= 0.8x)", ["restorer", "seconds", "speed vs the raw tools"], rows)


def restore_only(small: bool) -> int:
    """Benchmark 13 alone: the big school (or, for a trial, a small one)."""
    lab = hosts.Lab(LAB)
    # A run beside another bench's fleet takes other addresses and names (and CLIX_BENCH_DIR).
    schools = fleet_cli.plan("mz=1", set() if small else {"mz1"}, tag=os.environ.get("CLIX_BENCH_TAG", "x"),
                             first_address=int(os.environ.get("CLIX_BENCH_FIRST_ADDRESS", "150")), gstudio_container=True)
    fleet_cli.up(lab, schools, [])
    try:
        playbook(lab, str(REPO / "tests/integration/playbooks/target-python.yml"))
        bench_restore(lab, lab.schools()[0])
    finally:
        fleet_cli.down(lab)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skip-big", action="store_true", help="skip the benchmark-sized school (dumps)")
    p.add_argument("--skip-scale", action="store_true", help="skip 1 vs 20 schools")
    p.add_argument("--skip-link", action="store_true", help="skip collect vs rsync over the slow link")
    p.add_argument("--skip-derive", action="store_true", help="skip derived data (native vs container)")
    p.add_argument("--skip-dataset", action="store_true", help="skip the research dataset")
    p.add_argument("--dataset-only", action="store_true",
                   help="only the research dataset of 300 generated schools (no fleet)")
    p.add_argument("--skip-archive", action="store_true", help="skip merge vs rsync and the catalogue")
    p.add_argument("--archive-only", action="store_true", help="only merge vs rsync and the catalogue (no fleet)")
    p.add_argument("--skip-labpc", action="store_true", help="skip the lab PC with 100k datastore files")
    p.add_argument("--labpc-only", action="store_true", help="only the lab PC with 100k datastore files")
    p.add_argument("--skip-restore", action="store_true", help="skip restore.yml vs the raw tools")
    p.add_argument("--restore-only", action="store_true", help="only restore.yml vs the raw tools (the big school)")
    p.add_argument("--restore-small", action="store_true", help="with --restore-only: a small school (a trial run)")
    p.add_argument("--link-mb", type=int, default=40, help="extra media pulled over the 10 Mbit/s link")
    p.add_argument("--scale-link-mb", type=int, default=20,
                   help="extra media per school in the 20 schools behind 10 Mbit/s links")
    p.add_argument("--scale-only", action="store_true", help="only 1 vs 20 schools (6), on their own fleet")
    p.add_argument("--vs", metavar="REF",
                   help="run the scale runs of REF's tree too (a temporary git worktree), side by side")
    p.add_argument("--skip-mitogen", action="store_true", help="skip collect.yml under mitogen in the scale runs")
    args = p.parse_args()
    if args.scale_only:
        bench_scale(LAB, args.scale_link_mb, args.vs, mitogen=not args.skip_mitogen, link=not args.skip_link)
        return 0
    if args.labpc_only:
        return labpc_only()
    if args.restore_only:
        return restore_only(args.restore_small)
    if args.dataset_only:
        bench_dataset_scale()
        return 0
    if not args.skip_archive:
        bench_merge()
        bench_catalog()
    if not args.skip_dataset:
        bench_dataset_scale()
    if args.archive_only:
        return 0
    lab = hosts.Lab(LAB)
    spec = "mz=2"
    started = time.monotonic()
    schools = fleet_cli.plan(spec, set() if args.skip_big else {"mz1"}, first_address=150, tag="x")
    fleet_cli.up(lab, schools, [] if args.skip_labpc else fleet_cli.plan_lab_pcs(schools))
    print(f"bench fleet up in {time.monotonic() - started:.0f}s")
    try:
        playbook(lab, str(REPO / "tests/integration/playbooks/target-python.yml"))
        big, small = sorted(lab.schools(), key=lambda s: s.server_id)
        if not args.skip_big:
            bench_dumps(lab, big)
        if not args.skip_restore:
            bench_restore(lab, big)
        if not args.skip_derive:
            bench_derive(lab, big, small)
        if not args.skip_dataset:
            bench_dataset(lab, big, small)
        if not args.skip_link:
            bench_link(lab, small, args.link_mb)
        if not args.skip_labpc:
            bench_labpc(lab)
    finally:
        fleet_cli.down(lab)
    if not args.skip_scale:
        bench_scale(LAB, args.scale_link_mb, args.vs, mitogen=not args.skip_mitogen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
