#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_unplatform_restore
short_description: Check a lab PC's unplatform installs for a restore, and put their sessions databases back
description:
  - Runs on a lab PC (with the private Python) in C(restore.yml). Finds the PC's installs as C(clix_unplatform)
    does (the same roots and search) and checks each install of O(installs) before anything on the PC changes -
    it is there (a version 2 install, as a fresh one is); its C(config.json), when it has one, names the school
    O(school_code) and the PC O(pc) (unset values aside); it holds no research data (sessions, C(user_data) files,
    the datastore's log entries, assessments taken and student uploads) unless O(overwrite); its disk has room
    for what is written. Every problem of every install is said at once and fails the task.
  - With O(staged) (not in check mode), each install's sessions database staged on the PC (C(<staged>/<label>/unplatform.sqlite3)),
    checked against its sha256, is copied beside the install's C(unplatform.sqlite3) under a temporary name, fsynced, given the
    owner and mode of the file it replaces, and renamed over it, after the old database's C(-wal) and C(-shm)
    are removed (a stale write-ahead log would be replayed into the new database). The app must be stopped.
  - With O(staged), the folders of the install's parts it lacks are made too, each with the owner and mode of the folder
    above it.
  - Returns, for each install, where its parts go and the owner, group and modes the fresh install gives them
    (for C(clix_push)).
version_added: "0.2.0"
options:
  installs:
    description:
      - The installs to restore, as C(clix_unplatform_export) returns them - C(label) (its folder name in the archive, as
        C(clix_unplatform) makes it), C(bytes) (what is written into it) and C(database.sha256) (its converted sessions
        database, null when none); the rest of each entry is not read.
    type: list
    elements: dict
    required: true
  school_code:
    description: The inventory's school code of the PC.
    type: str
    required: true
  pc:
    description: The inventory's name of the PC (C(clix_pc)).
    type: str
    required: true
  overwrite:
    description: Restore into an install that holds research data (what it holds is replaced).
    type: bool
    default: false
  staged:
    description: The folder on the PC the converted sessions databases were pushed into, one folder per install label; they are put in place.
    type: path
  roots:
    description: Install roots checked besides C(/opt/clix) (C(clix_unplatform_roots)).
    type: list
    elements: path
    default: []
  search:
    description: Folders searched for version 1 installs (C(clix_unplatform_v1_search)).
    type: list
    elements: path
    default: [/home, /opt, /root, /srv]
  search_depth:
    description: How deep below O(search) (C(clix_unplatform_search_depth)).
    type: int
    default: 3
  staging_dir:
    description: The tool's staging folder on the PC (C(clix_labpc_staging_dir)), never taken for an install.
    type: path
attributes:
  check_mode:
    details: Checks exactly as a real run does and writes nothing.
extends_documentation_fragment:
  - clix_attributes
"""

EXAMPLES = r"""
- name: Check the lab PC's install before a restore
  clix_unplatform_restore:
    installs: [{label: opt-clix, bytes: 12345678}]
    school_code: "1011001"
    pc: pc01
  check_mode: true
  vars:
    ansible_python_interpreter: /opt/clix-collect/venv/bin/python
"""

RETURN = r"""
installs:
  description:
    - One entry per install of O(installs) - label, path, layout, holds (the research data it held, in words), parts (per
      part of the install - its path, owner, group and modes as rsync C(--chmod) takes them).
  returned: success
  type: list
  elements: dict
placed:
  description: The install labels whose sessions database was put in place.
  returned: success
  type: list
  elements: str
"""

import json
import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import (
    create_new_file,
    free_bytes,
    fsync_dir,
    human_bytes,
    open_regular,
    read_regular,
    remove_quietly,
    sha256_file,
)
from ansible.module_utils.clix_identity import CONFIG_SCHOOL, CONFIG_TERMINAL, literal, same_code, same_pc, unset
from ansible.module_utils.clix_unplatform import (
    INSTALL_ROOT,
    LABPC_PARTS,
    V1_SEARCH,
    V1_SEARCH_DEPTH,
    V2_CONFIG,
    V2_SESSIONS_DB,
    UnplatformError,
    check_install_label,
    find_installs,
    install_label,
    install_records,
    real_dir,
)

CONFIG_LIMIT = 1 << 20
COPY_BLOCK = 1 << 20


def config_problem(root: str, school_code: str, pc: str):
    """Why the install's config.json says it is not the inventory's PC, or None (no config.json is none)."""
    path = os.path.join(root, V2_CONFIG)
    if not os.path.lexists(path):
        return None
    try:
        config = json.loads(read_regular(path, limit=CONFIG_LIMIT).decode("utf-8"))
    except (OSError, ValueError) as exc:
        return "its %s cannot be read (%s), so it cannot say which school it is" % (V2_CONFIG, exc)
    if not isinstance(config, dict):
        return "its %s is not a JSON object" % V2_CONFIG
    school, terminal = config.get(CONFIG_SCHOOL), config.get(CONFIG_TERMINAL)
    if (unset(school) or same_code(school, school_code)) and (unset(terminal) or same_pc(terminal, pc)):
        return None
    said = (school_code, pc, V2_CONFIG, CONFIG_SCHOOL, literal(school), CONFIG_TERMINAL, literal(terminal))
    return ("it is another PC: the inventory says school %s, lab PC %s, but its %s says %s %s, %s %s; restoring "
            "would give it this PC's data" % said)


def owner_of(path: str, fallback: str) -> dict:
    """The owner, group and modes (rsync --chmod) a part gets: its folder's in the fresh install (that of
    the nearest real folder above it when the install has none), files as the folder without execute."""
    while not real_dir(path) and path != fallback:
        path = os.path.dirname(path)
    st = os.lstat(path)
    mode = stat.S_IMODE(st.st_mode) & 0o777
    return dict(owner=str(st.st_uid), group=str(st.st_gid), chmod="D%04o,F%04o" % (mode, mode & 0o666))


def check_install(want: dict, found: dict, p: dict) -> tuple:
    """(the install's target entry, its problems)."""
    label = check_install_label(want.get("label"))
    paths = {install_label(root): (root, layout) for root, layout in found.items()}
    if label not in paths:
        return None, ["no unplatform install on this PC has the archive's folder name %s (found: %s): install "
                      "unplatform there first" % (label, ", ".join(sorted(paths)) or "none")]
    root, layout = paths[label]
    if layout != "v2":
        return None, ["%s is a version 1 (2016) install: only a version 2 install is restored" % root]
    problems = []
    why = config_problem(root, p["school_code"], p["pc"])
    if why:
        problems.append("%s: %s" % (root, why))
    holds = install_records(root)
    if holds and not p["overwrite"]:
        problems.append("%s holds data (%s); restore over it only with -e clix_restore_overwrite=true (what it "
                        "holds is collected into the archive's replaced/ folder first)" % (root, ", ".join(holds)))
    needed = int(want.get("bytes") or 0)
    free = free_bytes(root)
    if needed > free:
        problems.append("not enough free space on this PC (%s has %s free, and the restore writes about %s): free "
                        "space and run again" % (root, human_bytes(free), human_bytes(needed)))
    parts = {rel: dict(owner_of(os.path.join(root, rel), root), path=os.path.join(root, rel))
             for rel, kind in LABPC_PARTS["v2"] if kind == "json"}
    return dict(label=label, path=root, layout=layout, holds=holds, parts=parts), problems


def make_folders(root: str, rel: str) -> None:
    """Make the folders of rel below root that the install lacks (a fresh install may have no user_data yet),
    each with the owner and mode of the folder above it; a link or a file on the way raises UnplatformError."""
    folder = root
    for name in rel.split("/"):
        parent, folder = folder, os.path.join(folder, name)
        if real_dir(folder):
            continue
        if os.path.lexists(folder):
            raise UnplatformError("%s is not a folder: move it aside" % folder)
        st = os.lstat(parent)
        os.mkdir(folder)
        os.chown(folder, st.st_uid, st.st_gid)
        os.chmod(folder, stat.S_IMODE(st.st_mode))


def place(root: str, staged: str, sha256: str) -> None:
    """Put the staged database in place of the install's (see the description); the app is stopped."""
    target = os.path.join(root, V2_SESSIONS_DB)
    old = os.lstat(target) if os.path.lexists(target) else None
    if old is not None and not stat.S_ISREG(old.st_mode):
        raise UnplatformError("%s is not a regular file: move it aside" % target)
    if sha256_file(staged) != sha256:
        raise UnplatformError("the staged %s does not hold what was pushed (sha256 differs)" % staged)
    tmp, fd = create_new_file(target, 0o600)
    try:
        with os.fdopen(fd, "wb") as out, os.fdopen(open_regular(staged), "rb") as src:
            for block in iter(lambda: src.read(COPY_BLOCK), b""):
                out.write(block)
            out.flush()
            if old is not None:
                os.fchown(out.fileno(), old.st_uid, old.st_gid)
            os.fchmod(out.fileno(), stat.S_IMODE(old.st_mode) if old is not None else 0o644)
            os.fsync(out.fileno())
        for suffix in ("-wal", "-shm"):
            if os.path.lexists(target + suffix):
                os.unlink(target + suffix)
        os.rename(tmp, target)
        fsync_dir(root)
    except BaseException:
        remove_quietly(tmp)
        raise


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            installs=dict(type="list", elements="dict", required=True),
            school_code=dict(type="str", required=True),
            pc=dict(type="str", required=True),
            overwrite=dict(type="bool", default=False),
            staged=dict(type="path"),
            roots=dict(type="list", elements="path", default=[]),
            search=dict(type="list", elements="path", default=list(V1_SEARCH)),
            search_depth=dict(type="int", default=V1_SEARCH_DEPTH),
            staging_dir=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    found = find_installs([INSTALL_ROOT, *p["roots"]], p["search"], p["search_depth"], (p["staging_dir"],))
    targets, problems = [], []
    try:
        for want in p["installs"]:
            target, why = check_install(want, found, p)
            problems += why
            if target:
                targets.append(target)
    except (UnplatformError, OSError) as exc:
        problems.append(str(exc))
    if problems:
        module.fail_json(msg="this lab PC is not restored (nothing on it was changed): %s" % "; ".join(problems))
    placed = []
    if p["staged"] and not module.check_mode:
        sums = {w["label"]: (w.get("database") or {}).get("sha256") for w in p["installs"]}
        for target in targets:
            try:
                for rel in target["parts"]:
                    make_folders(target["path"], rel)
                if sums.get(target["label"]):
                    place(target["path"], os.path.join(p["staged"], target["label"], V2_SESSIONS_DB), sums[target["label"]])
                    placed.append(target["label"])
            except (UnplatformError, OSError, KeyError, TypeError) as exc:
                module.fail_json(msg="the sessions database of %s was not put back: %s" % (target["path"], exc),
                                 installs=targets, placed=placed)
    module.exit_json(changed=bool(p["staged"]) and not module.check_mode, installs=targets, placed=placed)


if __name__ == "__main__":
    main()
