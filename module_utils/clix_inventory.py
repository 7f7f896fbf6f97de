# SPDX-License-Identifier: GPL-3.0-or-later
"""The rules a school inventory must follow, shared by the inventory check module and the
CSV-to-inventory command (bin/clix-inventory)."""

from __future__ import annotations

import re

try:
    from ansible.module_utils import clix_layout
except ImportError:  # bin/clix-inventory imports these rules straight from module_utils/
    import clix_layout  # type: ignore[no-redef]

STATES = {"mz": "Mizoram", "rj": "Rajasthan", "ct": "Chhattisgarh", "tg": "Telangana"}
# First digit of a CLIx school code (after any leading zero) names the state.
STATE_DIGIT = {"1": "ct", "2": "mz", "3": "rj", "4": "tg"}
SERVER_ID = re.compile(r"^([a-z]+)(\d+)$")
SCHOOL_CODE = re.compile(r"^\d{7,8}$")


def school_folder(school_code: str, server_id: str) -> str:
    """The LEVEL 2 folder name: <school code>-<server id> (the code keeps its leading zeros), as
    clix_layout builds and checks it."""
    return clix_layout.school_folder(school_code, server_id)


def code_error(code) -> str | None:
    """Why a school code is unusable, or None. 'NA' is allowed: real servers have it."""
    if code is None or code == "":
        return "school_code is missing"
    if not isinstance(code, str):
        return ("school_code %r is a number, not a string: quote it in the inventory "
                "(school_code: \"%s\") so leading zeros are kept" % (code, code))
    if code == "NA":
        return None
    if not SCHOOL_CODE.match(code):
        return "school_code %r is not 7-8 digits (or NA)" % code
    return None


def code_state_error(code: str, state: str) -> str | None:
    if code == "NA":
        return None
    digit = code.lstrip("0")[:1]
    if STATE_DIGIT.get(digit) != state:
        return ("school_code %s starts with %s, which is the code of %s, but the school is listed under %s"
                % (code, digit, STATE_DIGIT.get(digit, "no state"), state))
    return None


def server_id_error(server_id: str, state: str | None) -> str | None:
    m = SERVER_ID.match(server_id or "")
    if not m:
        return "server id %r is not a state code followed by a number (like mz1)" % server_id
    if m.group(1) not in STATES:
        return "server id %s has unknown state code %r (known: %s)" % (server_id, m.group(1), ", ".join(STATES))
    if state is not None and m.group(1) != state:
        return "server id %s belongs to state %s but is listed under %s" % (server_id, m.group(1), state)
    return None


def check_schools(schools: list) -> list:
    """schools: [{host, groups, school_code, school_name}] as the inventory gives them.
    Returns a list of error strings, each naming the host and the fix."""
    errors = []
    owners = {}
    for s in schools:
        host, groups = s["host"], set(s.get("groups") or [])
        states = sorted(groups & set(STATES))
        ids = sorted(g for g in groups if SERVER_ID.match(g) and g not in STATES)
        unknown = sorted(g for g in groups if SERVER_ID.match(g) and SERVER_ID.match(g).group(1) not in STATES)
        if unknown:
            errors.append("%s: group %s has an unknown state code; use one of %s"
                          % (host, ", ".join(unknown), ", ".join(STATES)))
            continue
        if len(states) != 1:
            errors.append("%s: must be in exactly one state group (%s), found %s"
                          % (host, ", ".join(STATES), ", ".join(states) or "none"))
            continue
        if len(ids) != 1:
            errors.append("%s: must be in exactly one server-id group (like %s1) under %s, found %s"
                          % (host, states[0], states[0], ", ".join(ids) or "none"))
            continue
        state, server_id = states[0], ids[0]
        for problem in (server_id_error(server_id, state), code_error(s.get("school_code"))):
            if problem:
                errors.append("%s: %s" % (host, problem))
        if not code_error(s.get("school_code")):
            problem = code_state_error(s["school_code"], state)
            if problem:
                errors.append("%s: %s" % (host, problem))
        owners.setdefault(server_id, []).append(host)
    for server_id, hosts in sorted(owners.items()):
        if len(hosts) > 1:
            errors.append("server id %s is used by %d hosts (%s): each school server needs its own id"
                          % (server_id, len(hosts), ", ".join(sorted(hosts))))
    return errors


def identity_of(school: dict) -> dict:
    """state, server_id, folder of a school that passed check_schools."""
    groups = set(school["groups"])
    state = sorted(groups & set(STATES))[0]
    server_id = sorted(g for g in groups if SERVER_ID.match(g) and g not in STATES)[0]
    return dict(state=state, server_id=server_id, folder=school_folder(school["school_code"], server_id))
