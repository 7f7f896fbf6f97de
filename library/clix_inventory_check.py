#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_inventory_check
short_description: Validate the school inventory before any school server is contacted
description:
  - Checks every school host against the inventory rules - exactly one state group (C(mz),
    C(rj), C(ct), C(tg)), exactly one server-id group whose state prefix matches (C(mz1) under
    C(mz)), a unique server id, and a C(school_code) that is a quoted string of 7-8 digits (or
    C(NA)) whose first digit names the same state.
  - A host with C(clix_platform=unplatform) is a lab PC of the school its server-id group names
    (the school may have no server) - its C(clix_pc) is 1-32 lower-case letters, digits or C(_),
    its name is C(<school code>-<server id>-<clix_pc>), and it has its school's C(school_code)
    (the server's, and every other lab PC's, of that group). A server has no C(clix_platform)
    (or C(gstudio)) and no C(clix_pc).
  - Fails with one line per problem, naming the host and the fix.
  - Runs on the control node (with C(delegate_to) set to C(localhost)).
version_added: "0.1.0"
options:
  schools:
    description: >-
      One entry per host - C(host), C(groups) (its group_names), C(school_code), C(school_name),
      C(platform) (its C(clix_platform)) and C(pc) (its C(clix_pc)), as the C(clix_school_entry)
      filter makes them.
    type: list
    elements: dict
    required: true
attributes:
  check_mode:
    details: >-
      The same as a normal run - the module only reads the inventory it is given and changes nothing.
  diff_mode:
    details: The module changes nothing.
extends_documentation_fragment:
  - clix_attributes
"""

EXAMPLES = r"""
- name: Check the inventory
  clix_inventory_check:
    schools: "{{ ansible_play_hosts_all | map('extract', hostvars) | map('clix_school_entry') }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
schools:
  description: >-
    Per host - C(state), C(server_id), C(folder) (the school's LEVEL 2 name), C(platform)
    (C(gstudio) or C(unplatform)) and, for a lab PC, C(pc) (its folder below the school's C(unplatform/)).
  returned: success
  type: dict
  sample: {"2031001-mz1": {"state": "mz", "server_id": "mz1", "folder": "2031001-mz1", "platform": "gstudio"},
           "2031001-mz1-pc01": {"state": "mz", "server_id": "mz1", "folder": "2031001-mz1",
                                "platform": "unplatform", "pc": "pc01"}}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_inventory import check_schools, identity_of


def main() -> None:
    module = AnsibleModule(argument_spec=dict(schools=dict(type="list", elements="dict", required=True)),
                           supports_check_mode=True)
    schools = module.params["schools"]
    errors = check_schools(schools)
    if errors:
        module.fail_json(msg="The inventory has %d problem(s); no school was contacted:\n- %s"
                         % (len(errors), "\n- ".join(errors)), errors=errors)
    module.exit_json(changed=False, schools={s["host"]: identity_of(s) for s in schools})


if __name__ == "__main__":
    main()
