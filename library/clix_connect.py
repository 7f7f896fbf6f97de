#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# The work is done by the action plugin of the same name (action_plugins/clix_connect.py), on the
# control node; this file holds its documentation, as set_fact's does.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_connect
short_description: Wait for a host over SSH, read its Python and work out the private environment it needs
description:
  - Runs one command on the host over SSH - the version of O(system_python) and the fingerprint of the
    private environment in O(dir) - trying again, one attempt at a time, until O(timeout) (a school's link
    drops connections). A host that does not answer by then fails the task, its message saying why.
  - Works out on the control node the wheels of O(wheels_dir) that install on that Python, the
    fingerprint of the environment they and O(requirements) make, and the bundle to ship, and returns
    them as facts with whether the host's environment is current - the role C(clix_target_python) checks
    and installs only when it is not.
  - Only reads, also in check mode.
version_added: "0.3.0"
options:
  timeout:
    description: Seconds to keep trying; each SSH attempt is given as long (C(ansible_ssh_timeout)).
    type: float
    default: 20
  system_python:
    description: The host's own Python, which creates the environment.
    type: str
    required: true
  dir:
    description: The private environment's folder on the host (C(venv) inside).
    type: str
    required: true
  wheels_dir:
    description: The wheels on the control node.
    type: path
    required: true
  requirements:
    description: The pinned requirements file on the control node.
    type: path
    required: true
attributes:
  check_mode:
    details: It only reads, also in check mode.
  diff_mode:
    details: It changes nothing.
extends_documentation_fragment:
  - clix_attributes
"""

EXAMPLES = r"""
- name: Wait for the server and read its Python
  clix_connect:
    timeout: 20
    system_python: /usr/bin/python3
    dir: /opt/clix-collect
    wheels_dir: .cache/wheels
    requirements: requirements-target.txt
"""

RETURN = r"""
ansible_facts:
  description: What the role clix_target_python needs.
  returned: unless the host did not answer
  type: dict
  contains:
    clix_target_python_probe:
      description: The command's exit status and output lines (the Python version, then the installed fingerprint).
      type: dict
    clix_target_python_version:
      description: The host's Python version, e.g. C(3.11).
      type: str
    clix_target_python_wheels:
      description: The wheels for that version, sorted.
      type: list
    clix_target_python_fingerprint:
      description: The fingerprint the environment should have.
      type: str
    clix_target_python_bundle:
      description: The bundle of wheels to ship - path, files, requirements.
      type: dict
    clix_target_python_interpreter:
      description: The environment's Python on the host.
      type: str
    clix_target_python_current:
      description: Whether the host's environment is there and current (then nothing is installed).
      type: bool
"""
