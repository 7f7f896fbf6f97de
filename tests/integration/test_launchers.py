"""Under any launcher (ansible-playbook, ansible-runner, AWX), a run with host key checking off is
refused before a school is contacted, and control-node modules refuse what they cannot honour."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
