# SPDX-License-Identifier: GPL-3.0-or-later
"""The rules a school inventory must follow, shared by the inventory check module and the
CSV-to-inventory command (bin/clix-inventory).

A host is a school server (no clix_platform, or gstudio) or an unplatform lab PC (clix_platform:
unplatform, clix_pc: <pc>, named <code>-<server id>-<pc>), in its school's server-id group. A
school may have lab PCs and no server."""

from __future__ import annotations

from ansible.module_utils import clix_identity, clix_layout, clix_unplatform

# States, server ids and school codes, and their rules, are clix_identity's.
GSTUDIO, UNPLATFORM = "gstudio", "unplatform"


def school_folder(school_code: str, server_id: str) -> str:
    """The LEVEL 2 folder name: <school code>-<server id> (the code keeps its leading zeros), as
    clix_layout builds and checks it."""
    return clix_layout.school_folder(school_code, server_id)


def server_id_groups(groups) -> list:
    """The groups of a host that are meant as server ids (any letters and a number, not a state)."""
    return sorted(g for g in groups if isinstance(g, str) and clix_identity.SERVER_ID_SHAPE.fullmatch(g)
                  and g not in clix_identity.STATES)


def platform_of(entry: dict) -> str:
    return entry.get("platform") or GSTUDIO


def lab_pc_errors(entry: dict, server_id: str) -> list:
    """Why a lab PC host (clix_platform: unplatform) is unusable: its clix_pc, and its name, which
    must be <school code>-<server id>-<clix_pc> of the group it is in."""
    host, pc, code = entry["host"], entry.get("pc"), entry.get("school_code")
    try:
        clix_unplatform.check_pc(pc)
    except clix_unplatform.UnplatformError as exc:
        return ["clix_pc: %s" % exc if pc not in (None, "") else
                "clix_pc is missing: a lab PC (clix_platform: unplatform) names its folder below unplatform/ "
                "with clix_pc (like pc01)"]
    if clix_identity.code_error(code):
        return []  # reported with the school code
    expected = "%s-%s" % (school_folder(code, server_id), pc)  # both parts checked: no pattern of its own
    if host != expected:
        return ["a lab PC of %s with school_code %s and clix_pc %s must be named %s" % (server_id, code, pc, expected)]
    return []


def host_errors(entry: dict, state: str, server_id: str) -> list:
    """The problems of one host once its state and server-id groups are known."""
    problems = [clix_identity.server_id_error(server_id, state), clix_identity.code_error(entry.get("school_code"))]
    if not problems[1]:
        problems.append(clix_identity.code_state_error(entry["school_code"], state))
    platform = platform_of(entry)
    if platform == UNPLATFORM:
        problems += lab_pc_errors(entry, server_id)
    elif platform != GSTUDIO:
        problems.append("clix_platform %r is unknown: use gstudio (a school server, the default) or unplatform "
                        "(a lab PC)" % (platform,))
    elif entry.get("pc") not in (None, ""):
        problems.append("clix_pc is only for lab PCs: add clix_platform: unplatform, or remove clix_pc")
    return [p for p in problems if p]


def school_errors(server_id: str, servers: list, lab_pcs: list) -> list:
    """One school (server id): at most one server, and one school code for its server and lab PCs."""
    errors = []
    if len(servers) > 1:
        errors.append("server id %s is used by %d hosts (%s): each school server needs its own id"
                      % (server_id, len(servers), ", ".join(sorted(s["host"] for s in servers))))
    codes = {}
    for e in servers + lab_pcs:
        codes.setdefault(e.get("school_code"), []).append(e["host"])
    if len(codes) > 1 and not len(servers) > 1:
        errors.append("school %s: its hosts name %d school codes (%s): a school's server and lab PCs share one "
                      "school_code" % (server_id, len(codes), "; ".join(
                          "%s: %s" % (code, ", ".join(sorted(hosts))) for code, hosts in sorted(codes.items(), key=str))))
    return errors


def check_schools(schools: list) -> list:
    """schools: [{host, groups, school_code, school_name, platform, pc}] as the inventory gives
    them (platform, pc: clix_platform, clix_pc). Returns a list of error strings, each naming the
    host and the fix."""
    errors = []
    owners = {}
    for s in schools:
        host, groups = s["host"], set(s.get("groups") or [])
        states = sorted(groups & set(clix_identity.STATES))
        ids = server_id_groups(groups)
        unknown = [g for g in ids if clix_identity.state_of_server_id(g) is None]
        if unknown:
            errors.append("%s: group %s: %s" % (host, ", ".join(unknown), "; ".join(
                clix_identity.server_id_error(g) or "" for g in unknown)))
            continue
        if len(states) != 1:
            errors.append("%s: must be in exactly one state group (%s), found %s"
                          % (host, ", ".join(clix_identity.STATES), ", ".join(states) or "none"))
            continue
        if len(ids) != 1:
            errors.append("%s: must be in exactly one server-id group (like %s1) under %s, found %s"
                          % (host, states[0], states[0], ", ".join(ids) or "none"))
            continue
        state, server_id = states[0], ids[0]
        errors += ["%s: %s" % (host, problem) for problem in host_errors(s, state, server_id)]
        servers, lab_pcs = owners.setdefault(server_id, ([], []))
        (lab_pcs if platform_of(s) == UNPLATFORM else servers).append(s)
    for server_id, (servers, lab_pcs) in sorted(owners.items()):
        errors += school_errors(server_id, servers, lab_pcs)
    return errors


def identity_of(school: dict) -> dict:
    """state, server_id, folder (the school's LEVEL 2 name) and platform of a host that passed
    check_schools; a lab PC's also pc (its folder below the school's unplatform/)."""
    groups = set(school["groups"])
    state = sorted(groups & set(clix_identity.STATES))[0]
    server_id = server_id_groups(groups)[0]
    identity = dict(state=state, server_id=server_id, folder=school_folder(school["school_code"], server_id),
                    platform=platform_of(school))
    if identity["platform"] == UNPLATFORM:
        identity["pc"] = school["pc"]
    return identity


def lab_pc_identities(lab_pcs: list) -> list:
    """identity_of (with school_code, school_name and host) of each lab PC {host, groups, school_code,
    school_name, pc} that passes the inventory's rules; the others are left out."""
    found = []
    for pc in lab_pcs:
        entry = dict(host=pc.get("host"), groups=pc.get("groups") or [], school_code=pc.get("school_code"),
                     school_name=pc.get("school_name"), platform=UNPLATFORM, pc=pc.get("pc"))
        if not check_schools([entry]):
            found.append(dict(identity_of(entry), school_code=entry["school_code"], school_name=entry["school_name"],
                              host=entry["host"]))
    return found
