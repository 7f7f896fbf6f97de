"""Every play that writes the archive starts with start.yml (inventory, private archive root, lock) and ends
with finish.yml in an always: section (report, lock released), under --tags and --check too; when no host
is left to run the finish, the lock is given back all the same (issue 24)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent
LOCK = ".clix-collect.lock"


def run(tmp_path: Path, playbook: str, *args: str) -> subprocess.CompletedProcess:
    """The playbook against one school whose SSH port refuses every connection (127.0.0.1:1)."""
    (tmp_path / "inventory" / "mz").mkdir(parents=True, exist_ok=True)
    (tmp_path / "inventory" / "mz" / "hosts.yml").write_text(
        "mz:\n  children:\n    mz1:\n      hosts:\n        2031001-mz1:\n"
        "          {school_code: '2031001', ansible_host: 127.0.0.1, ansible_port: 1}\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(tmp_path / "inventory"), playbook,
                           "-e", f"clix_archive_root={tmp_path / 'archive'}", "-e", "clix_connect_timeout=2", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def released(archive: Path) -> bool:
    deadline = time.monotonic() + 10
    while (archive / LOCK).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not (archive / LOCK).exists()


def test_a_run_whose_every_school_failed_reports_and_unlocks_under_tags(tmp_path):
    proc = run(tmp_path, str(REPO / "collect.yml"), "-l", "mz1", "--tags", "db")
    out = proc.stdout
    assert proc.returncode != 0, out[-3000:]
    assert "TASK [clix : Lock the archive]" in out and "TASK [clix : Release the archive lock]" in out, out[-3000:]
    assert out.index("TASK [clix : Write the run report") < out.index("TASK [clix : Release the archive lock]")
    assert list((tmp_path / "archive" / "reports").glob("*.json")), out[-3000:]
    assert not (tmp_path / "archive" / LOCK).exists()
    assert oct((tmp_path / "archive").stat().st_mode & 0o777) == "0o700"


def test_check_mode_runs_the_start_and_the_finish(tmp_path):
    """derive.yml from the archive reaches no host: the start and the finish run, and lock nothing."""
    proc = run(tmp_path, str(REPO / "derive.yml"), "-l", "mz1", "--check",
               "-e", "derive_from=archive", "-e", "clix_derive_runner=native")
    out = proc.stdout
    assert "TASK [clix : Check the inventory of the selected schools]" in out, out[-3000:]
    assert "TASK [clix : Lock the archive]" in out and "TASK [clix : Release the archive lock]" in out, out[-3000:]
    assert "gstudio/db is missing (run collect.yml first)" in out, out[-3000:]  # the report, in the finish
    assert not (tmp_path / "archive" / LOCK).exists()


def test_a_play_whose_every_host_became_unreachable_leaves_no_lock(tmp_path):
    """Ansible runs no always: section for an unreachable host: with every host gone, the finish never
    runs, and the lock's keeper gives the lock back as the run ends."""
    play = tmp_path / "play.yml"
    play.write_text("""---
- name: Reach every host, between the start and the finish
  hosts: all
  gather_facts: false
  tasks:
    - name: Start
      ansible.builtin.import_role: {name: clix, tasks_from: start}
    - name: Reach, then finish
      block:
        - name: Reach the host
          ansible.builtin.ping:
      always:
        - name: Finish
          ansible.builtin.import_role: {name: clix, tasks_from: finish}
""")
    proc = run(tmp_path, str(play), "-e", "ansible_ssh_retries=0")
    out = proc.stdout
    assert proc.returncode != 0 and "UNREACHABLE" in out, out[-3000:]
    assert "TASK [clix : Lock the archive]" in out and "Release the archive lock" not in out, out[-3000:]
    assert released(tmp_path / "archive"), out[-3000:]
