#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# The work is done by the action plugin of the same name (action_plugins/clix_connect.py), on the
# control node; this file holds its documentation, as set_fact's does.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_connect
short_description: Wait for a host over SSH, check its Python and give it the modules' private environment
description:
  - Runs one command on the host over SSH - the version of O(system_python) and the fingerprint of the
    private environment in O(dir) - trying again, one attempt at a time, until O(timeout) (a school's link
    drops connections). A host that does not answer by then fails the task, its message saying why.
  - Works out on the control node the wheels of O(wheels_dir) that install on that Python and the
    fingerprint of the environment they and O(requirements) make. When the host's environment is there
    with that fingerprint, that is all (one command per host and run).
  - Otherwise it installs it - the only change it makes, in O(dir) alone. It refuses a host whose Python is
    older than 3.8; downloads the wheels once with C(bin/clix-wheels) when O(wheels_dir) has none yet
    (a package index needed, the message says what to do without one); bundles the wheels of that Python
    once on the control node (one file to ship per distinct set); ships the bundle and builds the
    environment from it on the host, never with pip from the internet. A failure there fails the task
    with C(install_failed) set (the host answered).
  - Runs in check mode too, as the modules cannot report what they would collect without their Python.
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
    details: It installs the private environment in check mode too (its own folder only); otherwise it only reads.
  diff_mode:
    details: It reports no diff.
extends_documentation_fragment:
  - clix_attributes
"""

EXAMPLES = r"""
- name: Wait for the server, check its Python and give it its private environment
  clix_connect:
    timeout: 20
    system_python: /usr/bin/python3
    dir: /opt/clix-collect
    wheels_dir: .cache/wheels
    requirements: requirements-target.txt
"""

RETURN = r"""
install_failed:
  description: Set when the host answered and its private environment could not be installed (the msg says why).
  returned: on such a failure
  type: bool
ansible_facts:
  description: What the host has and needs (the modules' tasks use clix_target_python_interpreter).
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
      description: The bundle of wheels it ships when it installs - path, files, requirements.
      type: dict
    clix_target_python_interpreter:
      description: The environment's Python on the host.
      type: str
    clix_target_python_current:
      description: Whether the host's environment is current (after the install, when one was needed).
      type: bool
"""
