"""`molecule test` (default driver, unmanaged) on two schools of the fleet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO, ansible_env


def test_molecule_scenario_collects_twice_and_verifies_with_testinfra(fleet, target_python, tmp_path):
    env = ansible_env()
    env.update(CLIX_FLEET_INVENTORY=str(fleet.inventory), CLIX_MOLECULE_ARCHIVE=str(tmp_path / "archive"))
    env.pop("ANSIBLE_CONFIG", None)  # molecule writes its own, from molecule.yml
    proc = subprocess.run([str(Path(sys.executable).parent / "molecule"), "test"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-8000:]
    assert "3 passed" in output
    assert os.path.isdir(tmp_path / "archive" / "reports")
