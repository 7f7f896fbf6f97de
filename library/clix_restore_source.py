#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_restore_source
short_description: Choose and check the archived collection a school server is restored from
description:
  - Runs on the control node (C(delegate_to) C(localhost)), before anything on the school server is
    touched. Finds the school's collection - O(source), or the newest year below O(root) that holds the
    school's folder - and checks it.
  - The source must be this school's - its folder is named C(<school code>-<server id>) of O(school), below
    a folder named after its state, and its C(MANIFEST.json) records the same school code and server id.
    Which school data belongs to is decided by the inventory and the operator, never by the data.
  - A quarantined collection (its manifest records an identity problem, the server or a lab PC having named
    another school) is refused, since which school its data belongs to is not settled.
  - Every file below the folder is checked against C(MANIFEST.json) (size and sha256); a file that
    differs, is missing or is not in the manifest fails the task, naming each one.
  - Returns, for each item of O(items) (the role's item table, the rows that name a way back in
    C(restore)), the archived folder it comes from, where it goes on the server and its files and bytes,
    from the manifest. An item the source's collection did not end C(ok) is left out with its reason.
version_added: "0.2.0"
options:
  root:
    description: The archive root (the role's C(clix_archive_root)).
    type: path
    required: true
  source:
    description: The school's folder to restore from (C(<root>/<year>/<state>/<code>-<id>)); the newest collection of the school below O(root) when omitted.
    type: path
  school:
    description: The inventory's school - C(state), C(folder) (C(<code>-<id>)), C(server_id), C(school_code).
    type: dict
    required: true
  items:
    description:
      - The items to restore - C(name), C(restore) (C(mongodb), C(postgres), C(folder) or C(settings)), C(src) (its
        place on the server) and C(dest) (below the school's folder).
    type: list
    elements: dict
    required: true
  settings:
    description:
      - Restore the C(settings) items too (they hold the school's identity and secrets); left out otherwise. A
        settings file archived redacted (C(clix_redact_settings)) fails the task.
    type: bool
    default: false
attributes:
  check_mode:
    details: Reads and checks exactly as a real run does; it never writes anything.
extends_documentation_fragment:
  - clix_progress
  - clix_attributes
"""

EXAMPLES = r"""
- name: Check the latest collection of mz1
  clix_restore_source:
    root: /srv/clix-archive
    school: {state: mz, folder: 2031001-mz1, server_id: mz1, school_code: "2031001"}
    items:
      - {name: media, restore: folder, src: /home/core/data/media/, dest: gstudio/media}
  delegate_to: localhost
"""

RETURN = r"""
source:
  description: The school's folder restored from.
  returned: success
  type: str
collected_at:
  description: When the source was collected (its manifest's run end).
  returned: success
  type: str
items:
  description: One entry per item that can be restored - name, restore, archive (the folder in the archive), server (where it goes), files, bytes.
  returned: success
  type: list
  elements: dict
left_out:
  description: Items of O(items) not restored, with the reason (not collected, or not ok in the source's collection).
  returned: success
  type: list
  elements: dict
files:
  description: Files to be written.
  returned: success
  type: int
bytes:
  description: Bytes to be written.
  returned: success
  type: int
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import read_regular
from ansible.module_utils.clix_identity import shown
from ansible.module_utils.clix_layout import MANIFEST, LayoutError, check_relpath, school_root, year_root
from ansible.module_utils.clix_manifest import Tree, differences, load, scanned_so_far
from ansible.module_utils.clix_progress import module_progress
from ansible.module_utils.clix_settings import REDACTED

WAYS = ("mongodb", "postgres", "folder", "settings")


class SourceError(Exception):
    pass


def newest_collection(root: str, school: dict) -> str:
    """The school's folder in the newest year below root that has one with a manifest."""
    years = sorted((name for name in os.listdir(root) if name.isdigit() and len(name) == 4), reverse=True)
    for year in years:
        year_root(root, year)
        folder = school_root(root, year, school["state"], school["folder"])
        if os.path.isfile(os.path.join(folder, MANIFEST)):
            return folder
    raise SourceError("no collection of %s below %s: collect it first, or name one with clix_restore_from"
                      % (school["folder"], root))


def check_owner(source: str, manifest: dict, school: dict) -> None:
    """The source is the inventory's school: by its folder's name and state, and by its manifest."""
    path = os.path.abspath(source)
    folder, state = os.path.basename(path), os.path.basename(os.path.dirname(path))
    recorded = manifest.get("school") or {}
    claims = (("folder", folder, school["folder"]), ("state folder", state, school["state"]),
              ("manifest's server_id", recorded.get("server_id"), school["server_id"]),
              ("manifest's school_code", recorded.get("school_code"), school["school_code"]))
    wrong = ["its %s is %s" % (what, shown(found)) for what, found, wanted in claims if str(found) != str(wanted)]
    if wrong:
        raise SourceError("%s is not a collection of %s (%s): restoring it would give this school another school's "
                          "data. Name this school's own folder with clix_restore_from." % (
                              shown(source), school["folder"], "; ".join(wrong)))
    if recorded.get("identity_problem"):
        raise SourceError("%s is a quarantined collection (%s): which school its data belongs to is not settled, so it "
                          "is not restored. Settle whose it is first, or name another collection with "
                          "clix_restore_from." % (shown(source), shown(recorded["identity_problem"])))


def verified(source: str, manifest: dict, tree: Tree) -> None:
    problems = differences(source, manifest, tree)
    if problems:
        lines = ["%s: %s" % (shown(p["path"]), p["problem"]) for p in problems[:50]]
        more = "\n(and %d more)" % (len(problems) - 50) if len(problems) > 50 else ""
        raise SourceError("%s does not verify against its %s, so it is not restored (nothing on the server was "
                          "touched). %d difference(s):\n%s%s\nRestore from another collection, or repair "
                          "this one from a copy." % (shown(source), MANIFEST, len(problems), "\n".join(lines), more))


def plan(source: str, manifest: dict, items: list, settings: bool) -> tuple:
    """(items to restore with their files and bytes, items left out with why)."""
    recorded, statuses = manifest.get("files", {}), manifest.get("items", {})
    chosen, left_out = [], []
    for item in items:
        if item.get("restore") not in WAYS:
            raise SourceError("item %s names no way back (restore: %s)" % (item.get("name"), ", ".join(WAYS)))
        dest = "/".join(check_relpath(item["dest"].strip("/")))
        status = (statuses.get(item["name"]) or {}).get("status")
        if status != "ok":
            left_out.append(dict(name=item["name"], reason="its collection ended %s" % (status or "never collected")))
            continue
        if item["restore"] == "settings" and not settings:
            left_out.append(dict(name=item["name"], reason="settings are restored only with -e clix_restore_settings=true"))
            continue
        files = {rel: e for rel, e in recorded.items() if rel == dest or rel.startswith(dest + "/")}
        if item["restore"] == "settings" and REDACTED.encode() in read_regular(os.path.join(source, dest)):
            raise SourceError("%s was archived with its secrets replaced (clix_redact_settings), so it cannot be "
                              "restored; restore without -e clix_restore_settings=true and set the secrets by hand"
                              % shown(dest))
        chosen.append(dict(name=item["name"], restore=item["restore"], archive=os.path.join(source, dest),
                           server=item["src"], files=len(files), bytes=sum(e.get("size", 0) for e in files.values())))
    return chosen, left_out


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            source=dict(type="path"),
            school=dict(type="dict", required=True),
            items=dict(type="list", elements="dict", required=True),
            settings=dict(type="bool", default=False),
            progress_seconds=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    p = module.params
    tree = Tree()
    try:
        source = p["source"] or newest_collection(p["root"], p["school"])
        manifest = load(source) if os.path.isdir(source) else None
        if manifest is None:
            raise SourceError("%s holds no %s: it is not a collected school folder" % (shown(source), MANIFEST))
        check_owner(source, manifest, p["school"])
        with module_progress(module, lambda: "verifying %s: %s" % (source, scanned_so_far(tree))):
            verified(source, manifest, tree)
        chosen, left_out = plan(source, manifest, p["items"], p["settings"])
    except (SourceError, LayoutError) as exc:
        module.fail_json(msg=str(exc))
    except (OSError, ValueError) as exc:
        module.fail_json(msg="the source cannot be read: %s" % exc)
    module.exit_json(changed=False, source=source, collected_at=(manifest.get("run") or {}).get("ended"),
                     items=chosen, left_out=left_out, files=sum(i["files"] for i in chosen),
                     bytes=sum(i["bytes"] for i in chosen))


if __name__ == "__main__":
    main()
