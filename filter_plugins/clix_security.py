# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks the start of a play (roles/clix/tasks/start.yml) makes before any school is contacted: host key checking must be on,
whichever launcher (ansible-playbook, ansible-runner, AWX) set the run up."""

from __future__ import annotations

import re
import shlex

# An ssh option that lets an unknown or changed host key through.
_LAX_OPTION = re.compile(r"^(?:-o)?\s*StrictHostKeyChecking\s*[= ]\s*(no|off|accept-new|false)$", re.I)
_KNOWN_HOSTS_NULL = re.compile(r"^(?:-o)?\s*(?:Global)?UserKnownHostsFile\s*[= ]\s*/dev/null$", re.I)
HOST_KEY_VARS = ("ansible_host_key_checking", "ansible_ssh_host_key_checking")
SSH_ARG_VARS = ("ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args")
FALSE = {"false", "no", "off", "0", "n", "f"}


def _is_false(value) -> bool:
    return value is False or str(value).strip().lower() in FALSE


def _options(args: str) -> list:
    """'-o A=b -o C d' -> ['A=b', 'C d']: every ssh -o option of an argument string."""
    try:
        words = shlex.split(args or "")
    except ValueError:
        words = (args or "").split()
    out = []
    for i, word in enumerate(words):
        if word == "-o" and i + 1 < len(words):
            out.append(words[i + 1])
        elif word.startswith("-o") and len(word) > 2:
            out.append(word[2:])
    return out


def lax_ssh_options(args: str) -> list:
    return [o for o in _options(args) if _LAX_OPTION.match(o.strip()) or _KNOWN_HOSTS_NULL.match(o.strip())]


def clix_host_key_problems(hosts: list, config_checking, config_ssh_args: str = "") -> list:
    """Why host key checking would be off for a run, one line per cause naming the setting; []
    when it is on everywhere. hosts: [{host, vars: {...}}] with each host's connection variables."""
    problems = []
    if _is_false(config_checking):
        problems.append("host_key_checking is off in the Ansible configuration or the environment "
                        "(ANSIBLE_HOST_KEY_CHECKING / ANSIBLE_SSH_HOST_KEY_CHECKING; ansible-runner and AWX set "
                        "it to False): set it to True")
    for option in lax_ssh_options(config_ssh_args):
        problems.append("the ssh_args of the Ansible configuration (or ANSIBLE_SSH_ARGS) hold '%s': remove it" % option)
    for entry in hosts:
        hv = entry.get("vars") or {}
        for name in HOST_KEY_VARS:
            if name in hv and hv[name] is not None and _is_false(hv[name]):
                problems.append("%s: the variable %s turns host key checking off: remove it" % (entry["host"], name))
        for name in SSH_ARG_VARS:
            for option in lax_ssh_options(hv.get(name) or ""):
                problems.append("%s: the variable %s holds '%s': remove it" % (entry["host"], name, option))
    return problems


def clix_connection_vars(hostvars: dict) -> dict:
    """The variables of one host that decide host key checking."""
    return {"host": hostvars["inventory_hostname"],
            "vars": {k: hostvars[k] for k in (*HOST_KEY_VARS, *SSH_ARG_VARS) if k in hostvars}}


class FilterModule:
    def filters(self) -> dict:
        return {"clix_host_key_problems": clix_host_key_problems, "clix_connection_vars": clix_connection_vars}
