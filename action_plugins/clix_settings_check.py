"""Check the settings of every host of the play against an entry point of the role's argument spec,
in ONE task on the control node (library/clix_settings_check.py documents it).

Ansible's own check (the task it puts before an entry point's tasks) runs once per host: a worker,
the templating of every option, for each of hundreds of schools. The settings are the same for all of
them but for what a host's own variables set: the first host's are checked as Ansible would, then
each host whose own variables (inventory, facts) set an option otherwise, with those values.
"""

from __future__ import annotations

import os

import yaml
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action.validate_argument_spec import ActionModule as ValidateArgumentSpec
from ansible.utils.vars import combine_vars


def entry_point_options(role_path: str, entry_point: str) -> dict:
    """The options of entry_point in the role's meta/argument_specs.yml."""
    with open(os.path.join(role_path, "meta", "argument_specs.yml"), encoding="utf-8") as f:
        specs = (yaml.safe_load(f) or {}).get("argument_specs") or {}
    if entry_point not in specs:
        raise AnsibleActionFail("clix_settings_check: the role has no entry point %r in meta/argument_specs.yml" % entry_point)
    return specs[entry_point].get("options") or {}


def own_settings(spec: dict, raw: dict, first_raw: dict) -> list:
    """The options that a host's own variables (raw, untemplated) set otherwise than the first host's."""
    return sorted(name for name in spec if name in raw and (name not in first_raw or raw[name] != first_raw[name]))


class ActionModule(ValidateArgumentSpec):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(("entry_point",))

    def run(self, tmp: str | None = None, task_vars: dict | None = None) -> dict:
        task_vars = task_vars or {}
        entry_point = self._task.args.get("entry_point", "main")
        spec = entry_point_options(task_vars["role_path"], entry_point)
        result = super(ValidateArgumentSpec, self).run(tmp, task_vars)
        result["validate_args_context"] = {"type": "role", "name": task_vars.get("role_name", ""),
                                           "argument_spec_name": entry_point, "path": task_vars["role_path"]}
        first_args = self.get_args_from_task_vars(spec, task_vars)
        errors = ArgumentSpecValidator(spec).validate(first_args, validate_role_argument_spec=True).error_messages
        hostvars = task_vars.get("hostvars")
        first = task_vars.get("inventory_hostname")
        if hostvars is not None and first in hostvars:
            first_raw = hostvars.raw_get(first)
            for host in task_vars.get("ansible_play_hosts_all") or []:
                names = own_settings(spec, hostvars.raw_get(host), first_raw) if host != first else []
                if names:
                    own = {name: hostvars[host][name] for name in names}
                    found = ArgumentSpecValidator(spec).validate(combine_vars(first_args, own),
                                                                 validate_role_argument_spec=True).error_messages
                    errors += ["%s (%s's own variables)" % (error, host) for error in found if error not in errors]
        if errors:
            result.update(failed=True, msg="Validation of arguments failed:\n%s" % "\n".join(errors),
                          argument_errors=errors)
            return result
        result.update(changed=False, msg="The arg spec validation passed")
        return result
