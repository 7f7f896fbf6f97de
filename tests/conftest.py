"""Shared test fixtures: the repository's module_utils on the import path, and a fleet of
simulated school servers (real sshd, PostgreSQL and MongoDB wire servers in namespaces)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "library"))
sys.path.insert(0, str(REPO))
import clix_imports  # noqa: E402

clix_imports.use()  # the shared code: ansible.module_utils.clix_*, as the modules import it under Ansible

from fleet import __main__ as fleet_cli  # noqa: E402
from fleet import hosts  # noqa: E402

TEST_FLEET_DIR = Path(os.environ.get("CLIX_TEST_FLEET_DIR", "/var/tmp/clix-fleet-test"))
TEST_SCHOOLS = "mz=3,ct=2"
# Another test fleet may run beside this one (a second checkout): its own addresses and names.
TEST_FIRST_ADDRESS = int(os.environ.get("CLIX_TEST_FLEET_FIRST_ADDRESS", "60"))
TEST_TAG = os.environ.get("CLIX_TEST_FLEET_TAG", "t")


class Fleet:
    def __init__(self, lab: hosts.Lab) -> None:
        self.lab = lab
        self.schools = {s.server_id: s for s in lab.schools()}
        # The unplatform lab PCs (fleet/__main__.py's plan), by <server id>-<pc>: ct1-pc01 ...
        self.lab_pcs = {p.name: p for p in lab.lab_pcs()}

    @property
    def inventory(self) -> Path:
        return self.lab.inventory

    def school(self, server_id: str) -> hosts.School:
        return self.schools[server_id]

    def core(self, server_id: str) -> Path:
        """The school's /home/core as seen from the control node."""
        return self.lab.host_dir(self.school(server_id)) / "root" / "home" / "core"

    def lab_pc(self, name: str) -> hosts.School:
        return self.lab_pcs[name]

    def pc_root(self, name: str) -> Path:
        """A lab PC's / as far as it is its own (/opt, /home), seen from the control node."""
        return self.lab.host_dir(self.lab_pc(name)) / "root"

    def pg_password(self, server_id: str) -> str:
        return (self.lab.host_dir(self.school(server_id)) / "pg.password").read_text()


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    if os.geteuid() != 0:
        pytest.fail("the fleet needs root (network namespaces); run the tests as root, as CI does")
    lab = hosts.Lab(TEST_FLEET_DIR)
    # CLIX_TEST_REUSE_FLEET=1 keeps a fleet brought up with `python -m fleet up --dir ...` (development).
    reuse = os.environ.get("CLIX_TEST_REUSE_FLEET") == "1" and lab.schools()
    if not reuse:
        # Its own addresses and namespace names: a demo fleet (make demo) may be up beside it.
        schools = fleet_cli.plan(TEST_SCHOOLS, set(), first_address=TEST_FIRST_ADDRESS, tag=TEST_TAG,
                                 gstudio_container=True)
        fleet_cli.up(lab, schools, fleet_cli.plan_lab_pcs(schools))  # as `python -m fleet up --lab-pcs`
    yield Fleet(lab)
    if not reuse:
        fleet_cli.down(lab)


def ansible_env() -> dict:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1", PYTHONUNBUFFERED="1")
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return env


def run_playbook(fleet: Fleet, playbook: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(fleet.inventory), str(REPO / playbook), *args],
        cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=timeout)


MINIMAL_RESULT = re.compile(r"^(\S+) \| (SUCCESS|CHANGED|FAILED!|UNREACHABLE!) => (\{.*?^\})$", re.M | re.S)


def run_module(fleet: Fleet, pattern: str, module: str, args: dict, *extra: str) -> dict:
    """Run one module ad hoc on fleet hosts; returns {host: result}, with failed/unreachable set."""
    env = ansible_env()
    env.update(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), pattern, "-i", str(fleet.inventory), "-m", module,
         *(["-a", json.dumps(args)] if args else []), *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    results = {}
    for host, status, body in MINIMAL_RESULT.findall(proc.stdout):
        result = json.loads(body)
        result["failed"] = status == "FAILED!"
        result["unreachable"] = status == "UNREACHABLE!"
        results[host] = result
    if not results:
        raise AssertionError(f"ansible returned no result (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return results


def give_private_python(source: Path, host_root: Path) -> None:
    """The modules' private Python the role installed below `source` (a host's /opt, seen from the
    control node), hard-linked into another host's /opt of the same machine: the same system Python,
    so clix_connect finds it current, as after an install, without installing the same wheels again
    on 2 cores. Nothing writes into an installed file (a reinstall removes the folder first)."""
    src, dest = source / "clix-collect", host_root / "opt" / "clix-collect"
    if dest == src:
        return
    shutil.rmtree(dest, ignore_errors=True)  # a reused fleet's may be out of date
    if subprocess.run(["cp", "-al", str(src), str(dest)], capture_output=True).returncode != 0:  # another file system
        shutil.rmtree(dest, ignore_errors=True)
        subprocess.run(["cp", "-a", str(src), str(dest)], check=True)


@pytest.fixture(scope="session")
def target_python(fleet: Fleet) -> str:
    """The modules' private Python on every fleet host once; returns its path. The role installs it on
    mz1 (target-python.yml); the other hosts get that install (give_private_python), then the role
    checks every host and finds each current."""
    first = run_playbook(fleet, "tests/integration/playbooks/target-python.yml", "-l", fleet.school("mz1").hostname)
    assert first.returncode == 0, first.stdout + first.stderr
    source = fleet.lab.host_dir(fleet.school("mz1")) / "root" / "opt"
    for host in [*fleet.schools.values(), *fleet.lab_pcs.values()]:
        give_private_python(source, fleet.lab.host_dir(host) / "root")
    proc = run_playbook(fleet, "tests/integration/playbooks/target-python.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not re.search(r"\bchanged=[1-9]", proc.stdout), proc.stdout  # clix_connect found each current
    return "/opt/clix-collect/venv/bin/python"


# The stand-in gStudio container's clock for the derived files' names (fleet/standin/manage.py), so
# that tests find the files of one run among the older ones a school server keeps.
PINNED = "2026-11-25T09:07"
PINNED_STAMP = "20261125-09h07m"  # PINNED in the derived files' names (gStudio's %Y%m%d-%Hh%Mm)
PIN_CONTAINER = json.dumps({"clix_derived_env": {"CLIX_STANDIN_NOW": PINNED}})


@pytest.fixture(scope="session")
def mz_collected(fleet: Fleet, target_python: str, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """`collect.yml -l mz` once for the session (the container's clock pinned): the archive and the run.
    Tests that only read it share it; a test that writes into it works on its own `cp -a` copy
    (copy_archive), so that every test reads what that one run wrote."""
    archive = tmp_path_factory.mktemp("mz-collected") / "clix"
    proc = run_playbook(fleet, "collect.yml", "-l", "mz", "-e", f"clix_archive_root={archive}", "-e", PIN_CONTAINER)
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    # The pinned run's exports are in the archive. Left on the servers, a later collection would take them for
    # gStudio's own export of that day (a day the server was on: clix_dataset's server_days).
    for school in ("mz1", "mz2", "mz3"):
        for path in (fleet.core(school) / "data").rglob(f"*{PINNED_STAMP}*"):
            path.unlink()
    return archive, proc


def copy_archive(archive: Path, dest: Path) -> Path:
    """A copy of an archive that keeps its modes, times and links (`cp -a`); returns it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(archive), str(dest)], check=True)
    return dest


def dataset_values(folder: Path) -> str:
    """Every value of every table of a dataset or release folder (its clix.duckdb), as text."""
    import duckdb  # only the dataset's tests read one

    con = duckdb.connect(str(folder / "clix.duckdb"), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return "\n".join(str(row) for name in names for row in con.execute(f"SELECT * FROM {name}").fetchall())
    finally:
        con.close()
