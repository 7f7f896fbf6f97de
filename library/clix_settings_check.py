#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# The work is done by the action plugin of the same name (action_plugins/clix_settings_check.py), on
# the control node; this file holds its documentation, as set_fact's does.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_settings_check
short_description: Check the settings of every host of the play against the role's argument spec, once
description:
  - Validates the variables named by an entry point of the role's C(meta/argument_specs.yml) - types,
    choices, elements - as Ansible's own check of a role's arguments does, with the same message
    (C(Validation of arguments failed:) and one line per wrong value), but in ONE task for the play
    instead of one per host.
  - The first host's variables are checked as they are; then every host whose own variables (its
    inventory, its facts) set one of the options otherwise, with those values, each error naming it.
  - Runs on the control node and contacts no host. The playbooks that use it import their entry point
    with C(rolespec_validate) off.
version_added: "0.4.0"
options:
  entry_point:
    description: The entry point of the role (a key of C(argument_specs) in its C(meta/argument_specs.yml)).
    type: str
    default: main
attributes:
  check_mode:
    details: The same as a normal run - it only reads.
extends_documentation_fragment:
  - clix_attributes
"""

EXAMPLES = r"""
- name: Check the settings of every selected host, once
  clix_settings_check:
    entry_point: start
  run_once: true
"""

RETURN = r"""
argument_errors:
  description: One line per wrong value.
  returned: failure
  type: list
  elements: str
"""
