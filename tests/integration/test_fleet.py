"""The test bed itself: each school server and lab PC is isolated, and fleet-down leaves nothing behind."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import pytest
import yaml
from ansible.module_utils import clix_unplatform as U
from conftest import REPO, run_module
from pymongo import MongoClient

from fleet import __main__ as fleet_cli
from fleet import hosts
from fleet.standin.unplatform_writer import TORN_IN_TURNS


def ssh(fleet, server_id: str, command: str, check: bool = True) -> str:
    return ssh_host(fleet, fleet.school(server_id), command, check)


def ssh_host(fleet, school: hosts.School, command: str, check: bool = True) -> str:
    proc = subprocess.run(
        ["ssh", "-i", str(fleet.lab.key), "-o", f"UserKnownHostsFile={fleet.lab.known_hosts}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"root@{school.address}", command],
        capture_output=True, text=True, timeout=30, check=check)
    return proc.stdout.strip()


SETTINGS = "/home/core/code/gstudio/gnowsys-ndf/gnowsys_ndf/server_settings.py"


def test_each_host_has_its_own_hostname_address_files_and_opt(fleet):
    seen = {}
    for sid in ("mz1", "mz2"):
        ssh(fleet, sid, f"mkdir -p /opt/isolation && echo {sid} > /opt/isolation/owner")
    for sid in ("mz1", "mz2"):
        seen[sid] = (ssh(fleet, sid, "hostname"), ssh(fleet, sid, "hostname -I"),
                     ssh(fleet, sid, "cat /opt/isolation/owner"),
                     ssh(fleet, sid, f"grep 'GSTUDIO_INSTITUTE_ID ' {SETTINGS}"))
    assert seen["mz1"][0] == "school-mz1" and seen["mz2"][0] == "school-mz2"
    assert seen["mz1"][1] == fleet.school("mz1").address and seen["mz2"][1] == fleet.school("mz2").address
    assert seen["mz1"][2] == "mz1" and seen["mz2"][2] == "mz2"
    assert "'mz1'" in seen["mz1"][3] and "'mz2'" in seen["mz2"][3]


def test_each_host_has_its_own_databases(fleet):
    users = {}
    for sid in ("mz1", "ct1"):
        school = fleet.school(sid)
        with psycopg2.connect(host=school.address, port=hosts.PG_PORT, user="postgres",
                              password=fleet.pg_password(sid), dbname="gstudio_psql") as conn, conn.cursor() as cur:
            cur.execute("SELECT username FROM auth_user WHERE id > 1 ORDER BY id LIMIT 1")
            pg_user = cur.fetchone()[0]
        client = MongoClient(school.address, hosts.MONGO_PORT, directConnection=True, serverSelectionTimeoutMS=5000)
        mongo_user = client["gstudio-mongodb"].Benchmarks.find_one({}, {"user": 1})["user"]
        client.close()
        users[sid] = (pg_user, mongo_user)
    assert users["mz1"][0].endswith("-mz1") and users["mz1"][1].endswith("-mz1")
    assert users["ct1"][0].endswith("-ct1") and users["ct1"][1].endswith("-ct1")


def test_host_key_checking_is_on(fleet, tmp_path, monkeypatch):
    """Through the project's own ansible.cfg (run_module uses it): a school whose key is not
    recorded is refused, never trusted on first use."""
    monkeypatch.delenv("ANSIBLE_HOST_KEY_CHECKING", raising=False)
    monkeypatch.delenv("ANSIBLE_SSH_ARGS", raising=False)
    # A connection that an earlier test left open (ControlPersist) would be reused without any check.
    sockets = tempfile.mkdtemp(prefix="cp", dir="/tmp")  # short: a socket path has 108 bytes at most
    monkeypatch.setenv("ANSIBLE_SSH_CONTROL_PATH_DIR", sockets)
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    unknown = run_module(fleet, "mz1", "ansible.builtin.ping", {},
                         "-e", f"ansible_ssh_common_args='-o UserKnownHostsFile={empty}'")["2031001-mz1"]
    assert unknown["unreachable"] and "Host key verification failed" in unknown["msg"], unknown
    assert empty.read_text() == ""  # nothing learnt on the way
    known = run_module(fleet, "mz1", "ansible.builtin.ping", {})["2031001-mz1"]
    shutil.rmtree(sockets, ignore_errors=True)
    assert known.get("ping") == "pong", known


def answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


def test_lab_pcs_are_hosts_of_their_school_with_their_own_installs(fleet):
    """The plan of fleet/__main__.py: ct1 has a server and two lab PCs, rj1 lab PCs and no server."""
    inventory = {p.parent.name: yaml.safe_load(p.read_text()) for p in fleet.inventory.glob("*/hosts.yml")}
    ct1 = inventory["ct"]["ct"]["children"]["ct1"]["hosts"]
    assert sorted(ct1) == ["1011001-ct1", "1011001-ct1-pc01", "1011001-ct1-pc02"]
    assert ct1["1011001-ct1-pc01"] == {"ansible_host": fleet.lab_pc("ct1-pc01").address, "school_code": "1011001",
                                       "school_name": "Govt. H.S. School Dhamtari 1", "clix_platform": "unplatform",
                                       "clix_pc": "pc01"}
    assert "clix_platform" not in ct1["1011001-ct1"]
    rj1 = inventory["rj"]["rj"]["children"]
    assert list(rj1) == ["rj1"] and sorted(rj1["rj1"]["hosts"]) == ["3051001-rj1-pc01", "3051001-rj1-pc02"]
    # Lab PCs come after the schools' addresses, and none of mz1..mz3 or ct2 has one.
    assert min(int(p.address.rsplit(".", 1)[1]) for p in fleet.lab_pcs.values()) > \
        max(int(s.address.rsplit(".", 1)[1]) for s in fleet.schools.values())
    assert {p.server_id for p in fleet.lab_pcs.values()} == {"ct1", "rj1"}

    # /opt/clix-collect is the tool's own folder, left by any collection that ran before this test.
    seen = {name: ssh_host(fleet, pc, "hostname; ls /opt | grep -vx clix-collect; ls /home; "
                                      f"cat /opt/clix/{U.V2_CONFIG} 2>/dev/null || echo no-config")
            for name, pc in fleet.lab_pcs.items()}
    assert seen["ct1-pc01"].splitlines()[:2] == ["labpc-ct1-pc01", "clix"]
    config = json.loads(seen["ct1-pc01"].splitlines()[-1])
    assert (config[U.CONFIG_SCHOOL], config[U.CONFIG_TERMINAL]) == ("1011001", "pc01")
    assert seen["ct1-pc02"].splitlines()[-1] == "no-config"
    assert seen["rj1-pc01"].splitlines()[1:] == ["student", "no-config"]  # no /opt/clix: v1 only
    assert ssh_host(fleet, fleet.lab_pc("rj1-pc01"), "ls /home/student/CLIx_Unplatform/unplatform") == "db.sqlite3\ndebug.log"
    assert json.loads(seen["rj1-pc02"].splitlines()[-1])[U.CONFIG_TERMINAL] == "pc02"
    # The server of ct1 has no /opt/clix of its lab PCs, and a lab PC runs no database.
    assert ssh(fleet, "ct1", "ls /opt/clix 2>&1 || true").endswith("No such file or directory")
    assert not answers(fleet.lab_pc("ct1-pc01").address, hosts.PG_PORT)
    assert not answers(fleet.lab_pc("ct1-pc01").address, hosts.MONGO_PORT)


def test_the_app_stand_in_writes_while_it_runs_and_only_on_its_pc(fleet):
    """ct1-pc01 runs the stand-in app: 8080 and 8888 answer, sessions are added in WAL mode (the
    newest only in -wal), and datastore JSON files are rewritten in place, so that a reader sees one
    torn (for certain with TORN_IN_TURNS). The other lab PCs' apps are not running."""
    pc = fleet.lab_pc("ct1-pc01")
    hosts.stop_unplatform_writer(fleet.lab, pc)
    hosts.start_unplatform_writer(fleet.lab, pc, env=TORN_IN_TURNS)
    try:
        stand_in_writes(fleet, pc)
    finally:
        hosts.stop_unplatform_writer(fleet.lab, pc)
        hosts.start_unplatform_writer(fleet.lab, pc)


def stand_in_writes(fleet, pc) -> None:
    assert answers(pc.address, 8080) and answers(pc.address, 8888)
    assert not any(answers(p.address, port) for n, p in fleet.lab_pcs.items() if n != "ct1-pc01" for port in (8080, 8888))
    root = fleet.pc_root("ct1-pc01") / "opt/clix"
    count = ("import sqlite3; print(sqlite3.connect('/opt/clix/unplatform.sqlite3')"
             ".execute('SELECT count(*) FROM sessions').fetchone()[0])")
    before = int(ssh_host(fleet, pc, f'python3 -c "{count}"'))
    torn, parsed, deadline = set(), 0, time.monotonic() + 10
    while not torn and time.monotonic() < deadline:
        for f in (root / U.V2_DATASTORE / "assessment/AssessmentSection").glob("*.json"):
            try:
                json.loads(f.read_bytes())
                parsed += 1
            except ValueError:
                torn.add(f.name)
    assert torn, f"no torn file seen in {parsed} reads"
    after, deadline = before, time.monotonic() + 10
    while after == before and time.monotonic() < deadline:
        time.sleep(0.5)
        after = int(ssh_host(fleet, pc, f'python3 -c "{count}"'))
    assert after > before >= 40
    # The main database file alone (as a plain copy without -wal would have it) lacks the newest sessions.
    (root.parent / "copy").mkdir(exist_ok=True)
    alone = root.parent / "copy" / "unplatform.sqlite3"
    shutil.copyfile(root / U.V2_SESSIONS_DB, alone)
    try:
        assert (root / (U.V2_SESSIONS_DB + "-wal")).stat().st_size > 0
        con = sqlite3.connect(alone)
        assert con.execute("SELECT count(*) FROM sessions").fetchone()[0] < after
        con.close()
    finally:
        shutil.rmtree(root.parent / "copy")


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:  # ended since it was listed
        return b""


def test_the_app_of_a_lab_pc_stops_and_starts(fleet):
    pc = fleet.lab_pc("ct1-pc01")
    hosts.stop_unplatform_writer(fleet.lab, pc)
    try:
        assert not answers(pc.address, 8080) and not answers(pc.address, 8888)
        assert not [pid for pid in hosts.ns_pids(pc.netns) if b"unplatform_writer" in cmdline(pid)]
    finally:
        hosts.start_unplatform_writer(fleet.lab, pc)
    assert answers(pc.address, 8080) and answers(pc.address, 8888)


def fleet_leftovers(lab_dir, prefix: str, pids: list[int], tag: str = "b") -> list[str]:
    left = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    left += [f"netns {line.split()[0]}" for line in netns.splitlines() if line.startswith(f"clix{tag}-{prefix}")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    left += [f"link {line.split(':')[1].strip()}" for line in links.splitlines() if f" cx{tag}-{prefix}" in line]
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            continue
        # A zombie holds nothing but its pid until this machine's init reaps it.
        if stat.rsplit(")", 1)[1].split()[0] != "Z":
            left.append(f"process {pid}: {Path(f'/proc/{pid}/cmdline').read_text().replace(chr(0), ' ')}")
    mounts = Path("/proc/mounts").read_text()
    left += [f"mount {line.split()[1]}" for line in mounts.splitlines() if str(lab_dir) in line]
    return left


def test_twenty_schools_come_up_and_down_leaves_nothing(fleet):
    """A second fleet of 20 schools and their lab PCs beside the session's (other addresses, same bridge)."""
    # Not under pytest's tmp_path: PostgreSQL's user must be able to reach its data folders.
    lab_dir = Path(tempfile.mkdtemp(prefix="clix-fleet-20-", dir="/var/tmp"))
    cmd = [sys.executable, "-m", "fleet"]
    started = time.monotonic()
    up = subprocess.run([*cmd, "up", "--schools", "rj=20", "--lab-pcs", "--first-address", "100", "--tag", "b",
                         "--dir", str(lab_dir)],
                        cwd=REPO, capture_output=True, text=True, timeout=600)
    print(f"20 schools up in {time.monotonic() - started:.1f}s")
    assert up.returncode == 0, up.stdout + up.stderr
    lab = hosts.Lab(lab_dir)
    schools = lab.schools()
    assert len(schools) == 20 and len(lab.lab_pcs()) == 4
    pids = []
    for school in schools + lab.lab_pcs():
        pids += hosts.ns_pids(school.netns)
    # Every school answers over SSH with its own name, and keeps sshd, PostgreSQL and MongoDB.
    assert len(pids) >= 3 * 20
    proc = subprocess.run(
        ["ssh", "-i", str(lab.key), "-o", f"UserKnownHostsFile={lab.known_hosts}", "-o", "BatchMode=yes",
         f"root@{schools[-1].address}", "hostname"], capture_output=True, text=True, timeout=30)
    assert proc.stdout.strip() == "school-rj20"
    writer = next(p for p in lab.lab_pcs() if "v2-app" in p.installs)
    assert answers(writer.address, 8080)  # the app's stand-in runs, and must be gone after down
    down = subprocess.run([*cmd, "down", "--dir", str(lab_dir)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert down.returncode == 0, down.stderr
    assert fleet_leftovers(lab_dir, "rj", pids) == []
    # The session's fleet still works.
    assert ssh(fleet, "mz1", "hostname") == "school-mz1"
    shutil.rmtree(lab_dir)


def test_a_fleet_that_fails_to_come_up_leaves_nothing(fleet, monkeypatch):
    """A host that does not come up (here: its sshd never answers) fails the whole fleet's up, which
    takes down the hosts it started: no namespace, link or process is left for the next run."""
    lab_dir = Path(tempfile.mkdtemp(prefix="clix-fleet-fail-", dir="/var/tmp"))

    def never_answers(address: str, port: int, what: str, timeout: float = 30) -> None:
        raise RuntimeError(f"{what} never answered (this test)")
    monkeypatch.setattr(fleet_cli, "wait_port", never_answers)
    with pytest.raises(RuntimeError, match="this test"):
        fleet_cli.up(hosts.Lab(lab_dir), fleet_cli.plan("mz=2", set(), first_address=250, tag="f"))
    running = subprocess.run(["pgrep", "-f", str(lab_dir)], capture_output=True, text=True).stdout.split()
    assert fleet_leftovers(lab_dir, "mz", [int(pid) for pid in running], tag="f") == []
    assert ssh(fleet, "mz1", "hostname") == "school-mz1"  # the session's fleet (same bridge) still works
    shutil.rmtree(lab_dir)
