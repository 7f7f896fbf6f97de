"""The test bed itself: each school server is isolated, and fleet-down leaves nothing behind."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
from conftest import REPO, run_module
from pymongo import MongoClient

from fleet import hosts


def ssh(fleet, server_id: str, command: str) -> str:
    school = fleet.school(server_id)
    proc = subprocess.run(
        ["ssh", "-i", str(fleet.lab.key), "-o", f"UserKnownHostsFile={fleet.lab.known_hosts}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"root@{school.address}", command],
        capture_output=True, text=True, timeout=30, check=True)
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


def fleet_leftovers(lab_dir, prefix: str, pids: list[int]) -> list[str]:
    left = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    left += [f"netns {line.split()[0]}" for line in netns.splitlines() if line.startswith(f"clixb-{prefix}")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    left += [f"link {line.split(':')[1].strip()}" for line in links.splitlines() if f" cxb-{prefix}" in line]
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
    """A second fleet of 20 schools beside the session's (other addresses, same bridge)."""
    # Not under pytest's tmp_path: PostgreSQL's user must be able to reach its data folders.
    lab_dir = Path(tempfile.mkdtemp(prefix="clix-fleet-20-", dir="/var/tmp"))
    cmd = [sys.executable, "-m", "fleet"]
    started = time.monotonic()
    up = subprocess.run([*cmd, "up", "--schools", "rj=20", "--first-address", "100", "--tag", "b", "--dir", str(lab_dir)],
                        cwd=REPO, capture_output=True, text=True, timeout=600)
    print(f"20 schools up in {time.monotonic() - started:.1f}s")
    assert up.returncode == 0, up.stdout + up.stderr
    lab = hosts.Lab(lab_dir)
    schools = lab.schools()
    assert len(schools) == 20
    pids = []
    for school in schools:
        pids += hosts.ns_pids(school.netns)
    # Every school answers over SSH with its own name, and keeps sshd, PostgreSQL and MongoDB.
    assert len(pids) >= 3 * 20
    proc = subprocess.run(
        ["ssh", "-i", str(lab.key), "-o", f"UserKnownHostsFile={lab.known_hosts}", "-o", "BatchMode=yes",
         f"root@{schools[-1].address}", "hostname"], capture_output=True, text=True, timeout=30)
    assert proc.stdout.strip() == "school-rj20"
    down = subprocess.run([*cmd, "down", "--dir", str(lab_dir)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert down.returncode == 0, down.stderr
    assert fleet_leftovers(lab_dir, "rj", pids) == []
    # The session's fleet still works.
    assert ssh(fleet, "mz1", "hostname") == "school-mz1"
    shutil.rmtree(lab_dir)
