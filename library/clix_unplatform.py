#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_unplatform
short_description: Find a lab PC's unplatform installs and stage their sessions databases for the pull
description:
  - Runs on a lab PC (with the private Python, like C(clix_heartbeat)). Finds every unplatform install -
    C(/opt/clix) (version 2 on Ubuntu), each of O(roots) (version 2 or version 1), and version 1 layouts (a
    folder holding C(unplatform/db.sqlite3)) up to O(search_depth) folders below each of O(search).
  - For each install, takes the sessions database (C(unplatform.sqlite3), or version 1's C(unplatform/db.sqlite3))
    with SQLite's backup API from a read-only connection - the write-ahead log included, one consistent
    snapshot while the app writes - into C(<dest>/<install>/), as a self-contained file (no C(-wal) beside it),
    and reports its sha256 and number of sessions.
  - Reads C(config.json) (its values are returned as data, never used to name anything) and counts the
    C(user_data) files. A JSON file torn by the app's in-place rewrite is read again, up to O(json_tries) times
    O(json_wait) seconds apart, and reported when it never parses.
  - Records the versions found - the layout (C(v1) or C(v2)), a C(VERSION) or C(version.txt) file in the
    install root, and for an install at C(/opt/clix) the version of the Debian package of O(debian_packages)
    that is installed.
  - Returns for each install what the control node pulls (RV(installs[].pull), for C(clix_pull)) - the staged
    database, C(config.json)'s and C(user_data)'s folders and the datastore (its JSON files parsed on the
    control node, torn ones pulled again), without C(repository/AssetContent) (shipped content media) unless
    O(asset_content).
  - Nothing on the PC is followed or changed - an install root, database or C(config.json) that is a symbolic
    link is not read (reported), and the app's own files are opened read-only.
version_added: "0.2.0"
options:
  dest:
    description:
      - Folder on the PC where the databases are staged, one folder per install below it. Emptied first.
    type: path
    required: true
  roots:
    description:
      - Install roots checked besides C(/opt/clix), which always is (version 2 or version 1 layout). An absent
        root is not an error. The role passes C(clix_unplatform_roots).
    type: list
    elements: path
    default: []
  search:
    description: Folders searched for version 1 layouts (unzipped anywhere), without following links.
    type: list
    elements: path
    default: [/home, /opt, /root, /srv]
  search_depth:
    description: How many folders deep below each of O(search) a version 1 install may be.
    type: int
    default: 3
  asset_content:
    description:
      - Also pull the datastore's C(repository/AssetContent) (shipped content media, large; the student
        uploads in it are also in C(studentResponseFiles), which is always pulled).
    type: bool
    default: false
  json_tries:
    description: How many times a JSON file that does not parse is read (or pulled) before it is reported as torn.
    type: int
    default: 5
  json_wait:
    description: Seconds between two reads of a torn JSON file.
    type: float
    default: 0.2
  debian_packages:
    description: Debian packages whose installed version is the version of an install at C(/opt/clix).
    type: list
    elements: str
    default: [clix, unplatform]
  dpkg_status:
    description: dpkg's status file.
    type: path
    default: /var/lib/dpkg/status
attributes:
  check_mode:
    details: >-
      Finds the installs, reads C(config.json) and counts the sessions from a read-only connection as in a normal
      run, and returns the same RV(installs) and RV(config); stages nothing, so RV(installs[].pull) lists the
      folders only (a C(clix_pull) check run then says what would be transferred), not the database.
  diff_mode:
    details: What was staged is listed in RV(installs).
extends_documentation_fragment:
  - clix_staging
  - clix_attributes
"""

EXAMPLES = r"""
- name: Stage a lab PC's sessions databases and list what to pull
  clix_unplatform:
    dest: /var/tmp/clix-collect-staging/unplatform
    staging_dir: /var/tmp/clix-collect-staging
    roots: [/home/student/CLIx]
  vars:
    ansible_python_interpreter: /opt/clix-collect/venv/bin/python
  register: clix_unplatform_result
"""

RETURN = r"""
installs:
  description: One entry per install found, sorted by path.
  returned: always
  type: list
  elements: dict
  contains:
    label:
      description: The install's folder name in the archive (C(/opt/clix) gives C(opt-clix)).
      type: str
    path:
      description: The install root on the PC.
      type: str
    layout:
      description: C(v2) or C(v1).
      type: str
    version:
      description: The version file's first line, or the Debian package's version, or null.
      type: str
    version_source:
      description: Where RV(installs[].version) came from - the file's path or C(dpkg:<package>); null when none.
      type: str
    sessions:
      description: Rows of the staged database's C(sessions) table (version 2); null for version 1 or when unreadable.
      type: int
    database:
      description: The staged database - C(path) on the PC, C(sha256), C(size); null when the install has none.
      type: dict
    user_data:
      description: Number of C(user_data) JSON files (version 2).
      type: int
    config:
      description: C(config.json)'s values as data (null when missing, torn or not an object).
      type: dict
    notes:
      description: What could not be read (a missing C(config.json), a link, a torn file, a database SQLite refused).
      type: list
      elements: str
    pull:
      description:
        - "What the control node pulls for this install - C(clix_pull) items whose C(dest) is relative to the
          install's folder in the archive: C(name), C(src), C(dest), C(kind) (C(sessions), C(json), C(file)),
          C(expect), C(exclude), each made from the table C(LABPC_PARTS) of module_utils/clix_unplatform.py."
        - "The control node trusts none of it - it takes only which parts (C(dest)) are there and the staged
          database's sha256, and makes the rest from its own copy of the table (filter C(clix_labpc_pull_items))."
      type: list
      elements: dict
config:
  description: C(config.json)'s values of the first version 2 install that has one (null when none does).
  returned: always
  type: dict
"""

import json
import os
import sqlite3
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import (
    NotRegularFileError,
    UnsafeFolderError,
    fsync_dir,
    private_dir,
    read_regular,
    remove_quietly,
    sha256_file,
    temp_sibling,
)
from ansible.module_utils.clix_unplatform import (
    INSTALL_ROOT,
    LABPC_PARTS,
    V1_DB,
    V1_LOG,
    V1_SEARCH,
    V1_SEARCH_DEPTH,
    V2_CONFIG,
    V2_SESSIONS_DB,
    V2_USER_DATA,
    UnplatformError,
    connect_ro,
    count_sessions,
    find_installs,
    install_label,
    labpc_part,
    real_dir,
)

CONFIG_LIMIT = 1 << 20
VERSION_FILES = ("VERSION", "version.txt")
VERSION_CHARS = 100


def read_json(path: str, tries: int, wait: float):
    """(value, note): the parsed file, read again while it does not parse (an in-place rewrite)."""
    for attempt in range(max(tries, 1)):
        if attempt:
            time.sleep(wait)
        try:
            return json.loads(read_regular(path, limit=CONFIG_LIMIT).decode("utf-8")), None
        except FileNotFoundError:
            return None, "missing"
        except NotRegularFileError as exc:
            return None, "%s: not read" % exc.strerror
        except (ValueError, UnicodeDecodeError):
            continue
    return None, "torn: did not parse in %d reads" % max(tries, 1)


def read_config(root: str, p: dict) -> tuple:
    value, note = read_json(os.path.join(root, V2_CONFIG), p["json_tries"], p["json_wait"])
    if note:
        return None, "%s %s" % (V2_CONFIG, note)
    if not isinstance(value, dict):
        return None, "%s is not a JSON object" % V2_CONFIG
    return value, None


def version_of(root: str, p: dict) -> tuple:
    """(version, where it came from) or (None, None)."""
    for name in VERSION_FILES:
        path = os.path.join(root, name)
        try:
            text = read_regular(path, limit=4096).decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            continue
        if text:
            return text.splitlines()[0][:VERSION_CHARS], path
    if root == INSTALL_ROOT:
        return debian_version(p["dpkg_status"], p["debian_packages"])
    return None, None


def debian_version(status_file: str, packages: list) -> tuple:
    try:
        text = read_regular(status_file, limit=64 << 20).decode("utf-8", "replace")
    except (OSError, ValueError):
        return None, None
    for stanza in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line.startswith(" "))
        if fields.get("Package") in packages and fields.get("Status", "").endswith(" installed"):
            return fields.get("Version", "")[:VERSION_CHARS], "dpkg:%s" % fields["Package"]
    return None, None


def backup(src_path: str, dest: str) -> int | None:
    """Copy the database at src_path (WAL included) into dest as one consistent, self-contained
    file: SQLite's backup API in one step, then the copy switched out of WAL mode. Returns the
    copy's number of sessions (None when it has no sessions table)."""
    tmp = temp_sibling(dest)
    src = connect_ro(src_path, timeout=30)
    try:
        out = sqlite3.connect(tmp)
        try:
            src.backup(out)
            out.execute("PRAGMA journal_mode=DELETE")
            sessions = count_sessions(out)
        finally:
            out.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.rename(tmp, dest)
        fsync_dir(os.path.dirname(dest))
        return sessions
    except BaseException:
        remove_quietly(tmp)
        raise
    finally:
        src.close()


def database_of(root: str, layout: str) -> str:
    return V2_SESSIONS_DB if layout == "v2" else V1_DB


def stage_database(root: str, layout: str, folder: str | None, info: dict, shown: str) -> list:
    """Back the install's database up into folder (None: check mode, only count); the pull item for
    it, whose src is below shown (folder's name for the control node)."""
    rel = database_of(root, layout)
    src = os.path.join(root, rel)
    try:
        if not os.path.lexists(src):
            info["notes"].append("%s missing: no sessions to collect" % rel)
            return []
        if os.path.islink(src) or not os.path.isfile(src):
            info["notes"].append("%s is not a regular file: not read" % rel)
            return []
        if folder is None:
            con = connect_ro(src, timeout=30)
            try:
                info["sessions"] = count_sessions(con) if layout == "v2" else None
            finally:
                con.close()
            return []
        dest = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
        sessions = backup(src, dest)
    except sqlite3.Error as exc:
        info["notes"].append("%s could not be read by SQLite (%s): not collected" % (rel, exc))
        return []
    info["sessions"] = sessions if layout == "v2" else None
    info["database"] = dict(path=os.path.join(shown, rel), sha256=sha256_file(dest), size=os.path.getsize(dest))
    return [part(info, layout, rel, shown, root, False, expect={os.path.basename(rel): info["database"]["sha256"]})]


def part(info: dict, layout: str, rel: str, staged: str, root: str, asset_content: bool, expect=None) -> dict:
    """A pull of the install: the table's (labpc_part), which is all the control node takes of it."""
    return dict(labpc_part(layout, rel, staged, root, asset_content), name="%s/%s" % (info["label"], rel),
                expect=expect or {})


def count_json(folder: str) -> int:
    try:
        with os.scandir(folder) as entries:
            return sum(1 for e in entries if e.name.endswith(".json") and e.is_file(follow_symlinks=False))
    except OSError:
        return 0


def v2_items(info: dict, root: str, staged: str, asset_content: bool) -> list:
    """The folders pulled straight from the install (JSON files parsed on the control node)."""
    return [part(info, "v2", rel, staged, root, asset_content) for rel, kind in LABPC_PARTS["v2"]
            if kind == "json" and real_dir(os.path.join(root, rel))]


def describe(root: str, layout: str, p: dict, pinned: str | None) -> dict:
    """One install's facts; with pinned (the checked staging folder), its database staged there."""
    label = install_label(root)
    version, source = version_of(root, p)
    info = dict(label=label, path=root, layout=layout, version=version, version_source=source, sessions=None,
                database=None, user_data=None, config=None, notes=[], pull=[])
    folder = None
    if pinned is not None:
        folder = os.path.join(pinned, label)
        os.makedirs(folder, mode=0o700)
    pull = stage_database(root, layout, folder, info, os.path.join(p["dest"], label))
    if layout == "v2":
        info["config"], note = read_config(root, p)
        if note:
            info["notes"].append(note)
        info["user_data"] = count_json(os.path.join(root, V2_USER_DATA))
        pull += v2_items(info, root, os.path.join(p["dest"], label), p["asset_content"])
    elif os.path.isfile(os.path.join(root, V1_LOG)) and not os.path.islink(os.path.join(root, V1_LOG)):
        pull.append(part(info, "v1", V1_LOG, os.path.join(p["dest"], label), root, False))
    info["pull"] = pull
    return info


def fresh_dest(dest: str, staging_dir: str | None) -> str:
    """dest, private and empty (what a previous run staged there is gone), by its pinned name."""
    folder = private_dir(dest, staging_dir or dest)
    for name in os.listdir(folder):
        remove_quietly(os.path.join(folder, name))
    return folder


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            staging_dir=dict(type="path"),
            roots=dict(type="list", elements="path", default=[]),
            search=dict(type="list", elements="path", default=list(V1_SEARCH)),
            search_depth=dict(type="int", default=V1_SEARCH_DEPTH),
            asset_content=dict(type="bool", default=False),
            json_tries=dict(type="int", default=5),
            json_wait=dict(type="float", default=0.2),
            debian_packages=dict(type="list", elements="str", default=["clix", "unplatform"]),
            dpkg_status=dict(type="path", default="/var/lib/dpkg/status"),
        ),
        supports_check_mode=True,
    )
    os.umask(0o077)  # staging holds private data
    p = module.params
    found = find_installs([INSTALL_ROOT, *p["roots"]], p["search"], p["search_depth"], (p["staging_dir"], p["dest"]))
    try:
        dest = None if module.check_mode else fresh_dest(p["dest"], p["staging_dir"])
        installs, skipped = [], []
        for root, layout in sorted(found.items()):
            try:
                installs.append(describe(root, layout, p, dest))
            except UnplatformError as exc:
                skipped.append(str(exc))
    except (UnsafeFolderError, ValueError) as exc:
        module.fail_json(msg="nothing staged in %s: %s" % (p["dest"], exc))
    except OSError as exc:
        module.fail_json(msg="staging in %s failed (%s); free space or fix the folder and run again" % (p["dest"], exc))
    for reason in skipped:
        module.warn("an install was not collected: %s" % reason)
    config = next((i["config"] for i in installs if i["config"] is not None), None)
    module.exit_json(changed=dest is not None and any(i["pull"] for i in installs), installs=installs, config=config)


if __name__ == "__main__":
    main()
