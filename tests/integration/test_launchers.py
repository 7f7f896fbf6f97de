"""Under any launcher (ansible-playbook, ansible-runner, AWX), a run with host key checking off is
refused before a school is contacted, and control-node modules refuse what they cannot honour."""

from __future__ import annotations

import datetime
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import REPO, ansible_env, run_playbook

BIN = Path(sys.executable).parent


def unknown_key_inventory(fleet, tmp_path: Path) -> Path:
    """The fleet's inventory, with an empty known_hosts: every school's key is unknown."""
    inv = tmp_path / "inventory"
    subprocess.run(["cp", "-r", str(fleet.inventory), str(inv)], check=True)
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    group_vars = inv / "group_vars" / "all.yml"
    data = yaml.safe_load(group_vars.read_text())
    data["ansible_ssh_common_args"] = f"-o UserKnownHostsFile={empty}"
    group_vars.write_text(yaml.safe_dump(data))
    return inv


def test_host_key_checking_turned_off_by_the_environment_is_refused(fleet, tmp_path):
    archive = tmp_path / "archive"
    inv = unknown_key_inventory(fleet, tmp_path)
    env = dict(ansible_env(), ANSIBLE_HOST_KEY_CHECKING="False")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inv), str(REPO / "collect.yml"), "-l", "mz1",
                           "-e", f"clix_archive_root={archive}"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0
    assert "Host key checking is off" in proc.stdout and "ANSIBLE_HOST_KEY_CHECKING" in proc.stdout, proc.stdout[-3000:]
    assert not archive.exists()  # refused before the archive was even created
    assert (tmp_path / "known_hosts").read_text() == ""


def test_host_key_checking_turned_off_by_a_host_variable_is_refused(fleet, tmp_path):
    proc = run_playbook(fleet, "collect.yml", "-l", "mz1", "-e", f"clix_archive_root={tmp_path / 'a'}",
                        "-e", "ansible_ssh_extra_args='-o StrictHostKeyChecking=no'")
    assert proc.returncode != 0
    assert "ansible_ssh_extra_args holds 'StrictHostKeyChecking=no'" in proc.stdout, proc.stdout[-3000:]


def test_under_ansible_runner_a_server_with_an_unknown_host_key_is_refused(fleet, tmp_path):
    """ansible-runner sets ANSIBLE_HOST_KEY_CHECKING=False for every run it starts."""
    inv = unknown_key_inventory(fleet, tmp_path)
    archive = tmp_path / "archive"
    private = tmp_path / "runner"
    (private / "env").mkdir(parents=True)
    (private / "env" / "envvars").write_text(yaml.safe_dump({"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}))
    proc = subprocess.run([str(BIN / "ansible-runner"), "run", str(private), "--project-dir", str(REPO),
                           "-p", "collect.yml", "--inventory", str(inv), "--limit", "mz1",
                           "--cmdline", f"-e clix_archive_root={archive}"],
                          cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "Host key checking is off" in proc.stdout, proc.stdout[-3000:]
    assert not archive.exists()
    assert (tmp_path / "known_hosts").read_text() == ""


def test_a_control_node_module_refuses_become_and_environment(tmp_path):
    play = tmp_path / "play.yml"
    lock = tmp_path / "archive"
    base = {"hosts": "localhost", "gather_facts": False}
    for extra, expect in (({"become": True}, "cannot honour become"),
                          ({"environment": {"PATH": "/nowhere"}}, "cannot honour environment:")):
        task = {"name": "lock", "clix_archive_lock": {"path": str(lock)}, **extra}
        play.write_text(yaml.safe_dump([{**base, "tasks": [task]}]))
        proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(play)],
                              cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0 and expect in proc.stdout, proc.stdout[-3000:]
        assert not (lock / ".clix-collect.lock").exists() and not lock.exists()


def data_files(archive: Path) -> dict:
    """{relative path: bytes} of every collected file that two runs over unchanged servers must
    share: the heartbeat (uptime, load) and the manifests' run times are of their moment."""
    out = {}
    for path in sorted(archive.rglob("*")):
        rel = path.relative_to(archive)
        if path.is_file() and rel.parts[0].isdigit() and "system-heartbeat" not in rel.parts \
                and path.name != "MANIFEST.json":
            out[str(rel)] = RESTRICT_KEY.sub(rb"\1<key>", path.read_bytes())
    return out


# pg_dumpall (15.14 and later) fences each dump with a random \restrict key of its own.
RESTRICT_KEY = re.compile(rb"^(\\(?:un)?restrict )\S+$", re.M)
RUN_ARGS = ("-l", "mz1,mz2", "-e", "clix_derived_on_server=false")
YEAR = str(datetime.date.today().year)


@pytest.fixture(scope="module")
def plain_archive(fleet, target_python, tmp_path_factory) -> Path:
    archive = tmp_path_factory.mktemp("plain") / "archive"
    proc = run_playbook(fleet, "collect.yml", *RUN_ARGS, "-e", f"clix_archive_root={archive}")
    assert proc.returncode == 0, proc.stdout[-3000:]
    return archive


@pytest.fixture(scope="module")
def plain_run(plain_archive) -> dict:
    files = data_files(plain_archive)
    assert any(name.endswith("pg_dump_all.sql") for name in files) and len(files) > 50
    return files


def test_ansible_runner_from_the_checkout_collects_the_same_archive(fleet, plain_run, tmp_path):
    archive = tmp_path / "archive"
    private = tmp_path / "runner"
    (private / "env").mkdir(parents=True)
    # ansible-runner turns host key checking off unless the job says otherwise (README).
    (private / "env" / "envvars").write_text(yaml.safe_dump(
        {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_HOST_KEY_CHECKING": "True"}))
    extra = " ".join(shlex.quote(a) for a in (*RUN_ARGS[2:], "-e", f"clix_archive_root={archive}"))
    proc = subprocess.run([str(BIN / "ansible-runner"), "run", str(private), "--project-dir", str(REPO),
                           "-p", "collect.yml", "--inventory", str(fleet.inventory), "--limit", RUN_ARGS[1],
                           "--cmdline", extra],
                          cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert data_files(archive) == plain_run


# The image make ee builds (CLIX_TEST_EE_IMAGE: another one, built with EE_TAG=... containers/ee/build.sh).
EE_IMAGE = os.environ.get("CLIX_TEST_EE_IMAGE", "localhost/clix-collect-ee:latest")


def in_the_ee(fleet, archive: Path, *argv: str) -> subprocess.CompletedProcess:
    """A job in the EE image with the checkout, the fleet and the archive mounted, as AWX runs one."""
    env = dict(ansible_env(), CONTAINERS_CONF=str(REPO / "containers" / "containers.conf"))
    assert subprocess.run(["podman", "image", "exists", EE_IMAGE], env=env).returncode == 0, "run `make ee` first"
    lab = str(fleet.lab.root)
    return subprocess.run(
        ["podman", "run", "--rm", "--network", "host", "--user", "0",
         "-v", f"{REPO}:{REPO}:ro", "-v", f"{lab}:{lab}:ro", "-v", f"{archive}:{archive}", "-w", str(REPO),
         "-e", f"ANSIBLE_CONFIG={REPO}/ansible.cfg", "-e", "ANSIBLE_HOST_KEY_CHECKING=True",
         EE_IMAGE, "ansible-playbook", "-i", str(fleet.inventory), *argv, "-e", f"clix_archive_root={archive}"],
        env=env, capture_output=True, text=True, timeout=900)


def test_the_execution_environment_collects_the_same_archive(fleet, plain_run, tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    proc = in_the_ee(fleet, archive, "collect.yml", *RUN_ARGS)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert data_files(archive) == plain_run


def test_the_dataset_and_the_native_derive_run_in_the_execution_environment(fleet, plain_archive):
    """Both need duckdb and the text-search stemmer, which the EE carries (containers/ee/requirements.txt)."""
    proc = in_the_ee(fleet, plain_archive, "derive.yml", "-l", "mz1", "-e", "derive_from=archive",
                     "-e", "clix_derive_runner=native")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    derived = plain_archive / "derived" / YEAR / "mz" / "2031001-mz1"
    assert list(derived.rglob("*.csv")), "no derived CSV in %s" % derived
    proc = in_the_ee(fleet, plain_archive, "dataset.yml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    con = duckdb.connect(str(plain_archive / "dataset" / "clix.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM users").fetchone()[0] > 0
        assert con.execute("SELECT count(DISTINCT server_id) FROM activity_visits").fetchone()[0] == 2
    finally:
        con.close()


def test_a_job_of_ansible_runner_must_name_its_archive(fleet, tmp_path):
    private = tmp_path / "runner"
    (private / "env").mkdir(parents=True)
    home = tmp_path / "home"
    home.mkdir()
    (private / "env" / "envvars").write_text(yaml.safe_dump(
        {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_HOST_KEY_CHECKING": "True", "HOME": str(home)}))
    proc = subprocess.run([str(BIN / "ansible-runner"), "run", str(private), "--project-dir", str(REPO),
                           "-p", "collect.yml", "--inventory", str(fleet.inventory), "--limit", "mz1"],
                          cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "set clix_archive_root to a kept volume" in proc.stdout, proc.stdout[-3000:]
    assert list(home.iterdir()) == [] or not (home / "clix-archive").exists()


def test_clix_pull_refuses_a_connection_it_cannot_ride(tmp_path):
    args = {"host": "school", "root": str(tmp_path / "archive"), "connection": "winrm",
            "items": [{"name": "media", "src": "/x/", "dest": "gstudio/media"}]}
    proc = subprocess.run([str(BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local", "-m", "clix_pull",
                           "-a", json.dumps(args)], cwd=REPO, env=ansible_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and "cannot ride the connection 'winrm'" in proc.stdout, proc.stdout
    assert not (tmp_path / "archive").exists()
