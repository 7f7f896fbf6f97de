#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_verify
short_description: Re-check an archive subtree against its MANIFEST.json files
description:
  - Finds every C(MANIFEST.json) below O(path) (a year, a state, or one school), reads every
    file listed and reports exactly what differs - missing files, changed sizes, changed
    contents (sha256), and files that are not in the manifest.
  - Each C(MANIFEST.json) is checked first against the published JSON Schema of its format
    (C(schemas/manifest-1.schema.json)); one that does not follow it is reported, and its folder is
    not checked further.
  - Follows no link - a link is checked as a link (its target text) and, given O(items), must resolve
    inside its item as collect keeps links; a FIFO, device or socket is reported and never opened, a
    C(MANIFEST.json) that is not a regular file is reported.
  - Read-only. Fails when anything differs, or when no manifest is found.
version_added: "0.1.0"
options:
  path:
    description: Archive folder to check (the archive root, a year, a state or a school).
    type: path
    required: true
  items:
    description:
      - The role's item table (C(clix_items)) - C(name) and C(dest) (below the school folder). Given, every
        link a manifest records must resolve inside its item (through the item's own links, never leaving it).
    type: list
    elements: dict
    default: []
attributes:
  check_mode:
    details: >-
      The same as a normal run - the module only reads the archive and changes nothing.
  diff_mode:
    details: The differences found are listed in RV(schools).
extends_documentation_fragment:
  - clix_progress
  - clix_attributes
"""

EXAMPLES = r"""
- name: Verify Mizoram's 2026 collection
  clix_verify:
    path: /srv/archive/2026/mz
"""

RETURN = r"""
schools:
  description: Per school folder - files checked and problems found.
  returned: always
  type: list
  elements: dict
  contains:
    folder:
      description: The folder holding the C(MANIFEST.json), relative to O(path) (C(.) for O(path) itself).
      type: str
    files:
      description: Number of files the manifest lists.
      type: int
    problems:
      description: One entry per difference, with the file's C(path) and the C(problem) found.
      type: list
      elements: dict
problems:
  description: Total number of differences.
  returned: always
  type: int
lines:
  description: One line per school folder when nothing differs, as verify.yml shows them.
  returned: success
  type: list
  elements: str
  sample: ["2026/mz/2031001-mz1: 1480 files, all match"]
"""

import os

from ansible.module_utils import clix_schema
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_identity import said
from ansible.module_utils.clix_layout import MANIFEST, link_stays_inside
from ansible.module_utils.clix_manifest import LINK, Tree, differences, load, scanned_so_far
from ansible.module_utils.clix_progress import module_progress


def manifests_below(path: str) -> list:
    found = []
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if MANIFEST in files:
            found.append(folder)
            dirs[:] = []  # a school's own folders hold no further manifests
    return found


def check_school(path: str, root: str, tree: Tree, table: list) -> dict:
    """What differs in the school folder root from its manifest (tree: the walk's progress; table: the
    item table, for the links)."""
    folder = os.path.relpath(root, path) if root != path else "."
    try:
        manifest = load(root)
    except (OSError, ValueError, RecursionError) as exc:
        return dict(folder=folder, files=0, problems=[dict(path=MANIFEST, problem="cannot be read: %s" % exc)])
    shape = clix_schema.problems(manifest)
    if shape:
        return dict(folder=folder, files=0, problems=[dict(path=MANIFEST, problem="does not follow the schema: %s" % p)
                                                      for p in shape])
    problems = differences(root, manifest, tree)
    if table:
        problems += [dict(path=rel, problem="a link to %r, which leads outside its item" % e["target"])
                     for rel, e in sorted(manifest["files"].items())
                     if e.get("type") == LINK and not link_stays_inside(root, table, rel, e["target"])]
    return dict(folder=folder, files=len(manifest["files"]), problems=problems)


def main() -> None:
    module = AnsibleModule(argument_spec=dict(path=dict(type="path", required=True),
                                              items=dict(type="list", elements="dict", default=[]),
                                              progress_seconds=dict(type="int", default=60)),
                           supports_check_mode=True)
    path = module.params["path"]
    if not os.path.isdir(path):
        module.fail_json(msg="%s is not a folder; give the archive root, a year, a state or a school" % path)
    schools = []
    roots = manifests_below(path)
    walk = Tree()  # the school being checked, for the progress line
    with module_progress(module, lambda: "verifying school %d of %d: %s" % (
            min(len(schools) + 1, len(roots)), len(roots), scanned_so_far(walk))):
        for root in roots:
            walk = Tree()
            try:
                schools.append(check_school(path, root, walk, module.params["items"]))
            except clix_schema.SchemaUnavailable as exc:
                module.fail_json(msg=str(exc), schools=schools)
    if not schools:
        module.fail_json(msg="no %s below %s: nothing has been collected there" % (MANIFEST, path), schools=[])
    total = sum(len(s["problems"]) for s in schools)
    if total:
        lines = [said("%s/%s: %s" % (s["folder"], pr["path"], pr["problem"]), 1000) for s in schools for pr in s["problems"]]
        module.fail_json(msg="%d difference(s) against the manifests:\n%s" % (total, "\n".join(lines)),
                         schools=schools, problems=total)
    lines = ["%s: %d files, all match" % (s["folder"], s["files"]) for s in schools]
    module.exit_json(changed=False, schools=schools, problems=0, lines=lines)


if __name__ == "__main__":
    main()
