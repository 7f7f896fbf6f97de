#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_unplatform_export
short_description: Make a lab PC's archived unplatform installs ready to go back onto the PC
description:
  - Runs on the control node (C(delegate_to) C(localhost)) in C(restore.yml), on a lab PC's folder of a
    collection that C(clix_restore_source) has checked (C(unplatform/<pc>) of the school's folder).
  - Each folder below it is an install, by its archive name, which must pass the rules C(clix_unplatform) made
    it by; a link or anything else is left out, never followed. A version 1 (2016) install is left out (only
    version 2 is restored).
  - For each version 2 install, the parts of the table C(LABPC_PARTS) (module_utils/clix_unplatform.py) the
    archive holds - the folders to push (C(config.json)'s, C(user_data), the datastore) with their files and bytes,
    links not counted - and its sessions database, converted back from the project's own schema, folded over the
    collections, to unplatform's own (its C(sql/session_schema.sql), WAL mode), written into O(dest)/<install>/
    under a temporary name and renamed when complete.
version_added: "0.2.0"
options:
  archive:
    description: The lab PC's folder in the checked collection (C(<school folder>/unplatform/<pc>)).
    type: path
    required: true
  dest:
    description: A private folder on the control node where the converted databases are written (one folder per install).
    type: path
    required: true
attributes:
  check_mode:
    details: Reads and counts as a real run does (the sessions from the archived database); writes nothing.
extends_documentation_fragment:
  - clix_attributes
"""

EXAMPLES = r"""
- name: Make pc01's installs ready to go back
  clix_unplatform_export:
    archive: /srv/clix-archive/2026/ct/1011001-ct1/unplatform/pc01
    dest: /tmp/clix-restore-pc01
  delegate_to: localhost
"""

RETURN = r"""
installs:
  description:
    - One entry per version 2 install - C(label), C(parts) (each C(name), C(rel), C(archive), C(files), C(bytes)),
      C(database) (C(name), C(path) of the converted file, C(sha256), C(size), C(sessions); null when the archive
      holds none) and C(bytes) (everything written).
  returned: success
  type: list
  elements: dict
left_out:
  description: Folders of the archive not restored, with why.
  returned: success
  type: list
  elements: dict
"""

import os
import sqlite3
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import make_private_dir, remove_quietly, sha256_file, temp_sibling
from ansible.module_utils.clix_identity import shown
from ansible.module_utils.clix_unplatform import (
    LABPC_PARTS,
    V1_DB,
    V2_SESSIONS_DB,
    UnplatformError,
    UntrustedDatabaseError,
    check_install_label,
    holds,
    real_dir,
    session_count,
    unplatform_sessions,
)


def counted(folder: str) -> tuple:
    """(files, bytes) of the regular files below folder, links neither counted nor followed."""
    files = size = 0
    for top, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if real_dir(os.path.join(top, d))]
        for name in names:
            st = os.lstat(os.path.join(top, name))
            if stat.S_ISREG(st.st_mode):
                files, size = files + 1, size + st.st_size
    return files, size


def database(install: str, label: str, dest: str, check: bool):
    """The install's archived sessions database converted back into dest/<label>/ (None when the archive holds none)."""
    archived = os.path.join(install, V2_SESSIONS_DB)
    if not os.path.lexists(archived):
        return None
    if not stat.S_ISREG(os.lstat(archived).st_mode):
        raise UnplatformError("its %s is not a regular file" % V2_SESSIONS_DB)
    name = "%s/%s" % (label, V2_SESSIONS_DB)
    if check:
        sessions = session_count(archived)
        if sessions is None:
            raise UnplatformError("its %s is not a sessions database SQLite can read" % V2_SESSIONS_DB)
        return dict(name=name, path=None, sha256=None, size=os.lstat(archived).st_size, sessions=sessions)
    folder = os.path.join(dest, label)
    make_private_dir(folder)
    out = os.path.join(folder, V2_SESSIONS_DB)
    tmp = temp_sibling(out)
    try:
        sessions = unplatform_sessions(archived, tmp)
        os.rename(tmp, out)
    except BaseException:
        remove_quietly(tmp)
        raise
    return dict(name=name, path=out, sha256=sha256_file(out), size=os.path.getsize(out), sessions=sessions)


def install_entry(install: str, label: str, dest: str, check: bool) -> dict:
    parts = []
    for rel, kind in LABPC_PARTS["v2"]:
        if kind == "json" and holds(install, rel) and real_dir(os.path.join(install, rel)):
            files, size = counted(os.path.join(install, rel))
            parts.append(dict(name="%s/%s" % (label, os.path.basename(rel)), rel=rel,
                              archive=os.path.join(install, rel), files=files, bytes=size))
    db = database(install, label, dest, check)
    return dict(label=label, parts=parts, database=db,
                bytes=sum(x["bytes"] for x in parts) + (db["size"] if db else 0))


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            archive=dict(type="path", required=True),
            dest=dict(type="path", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    os.umask(0o077)
    installs, left_out = [], []
    try:
        if not real_dir(p["archive"]):
            module.fail_json(msg="%s is not a folder of the collection: this PC was never collected into it"
                             % shown(p["archive"]))
        for name in sorted(os.listdir(p["archive"])):
            install = os.path.join(p["archive"], name)
            try:
                label = check_install_label(name)
                if not real_dir(install):
                    raise UnplatformError("not a folder")
                if holds(install, V1_DB):
                    raise UnplatformError("a version 1 (2016) install: only a version 2 install is restored")
                installs.append(install_entry(install, label, p["dest"], module.check_mode))
            except (UnplatformError, UntrustedDatabaseError, sqlite3.Error) as exc:
                left_out.append(dict(name=shown(name), reason=str(exc)))
    except OSError as exc:
        module.fail_json(msg="the lab PC's archive cannot be read: %s" % exc)
    if not installs:
        module.fail_json(msg="%s holds no install to restore%s" % (shown(p["archive"]), "".join(
            "; %s: %s" % (x["name"], x["reason"]) for x in left_out)), left_out=left_out)
    module.exit_json(changed=not module.check_mode, installs=installs, left_out=left_out)


if __name__ == "__main__":
    main()
