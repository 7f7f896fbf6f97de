#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# The work is done by the action plugin of the same name (action_plugins/clix_server.py), which runs
# the modules below on the school server; this file holds its documentation, as set_fact's does.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_server
short_description: A school server's collection - heartbeat, identity, dumps, git state, derived data, pull - in one task
description:
  - Runs on the school server, one after the other, the modules that produce what the pull then
    takes - C(clix_heartbeat), C(clix_mongodump), C(clix_pg_dumpall), C(clix_git_snapshot) and
    C(clix_gstudio_derive) - each with its own options as given here, each the usual way (its own
    Python process on the server, its progress lines shown while it runs), in ONE task. What one task
    instead of five saves is Ansible's own cost per task and host on the control node.
  - Between the heartbeat and the dumps, checks the server's identity (its C(server_settings.py),
    read by the heartbeat) against the inventory's on the control node (C(module_utils/clix_identity.py))
    and chooses the school's folder, its quarantine folder on a mismatch, with a warning.
  - With O(pull), runs C(clix_pull) on the control node, inside Ansible's worker as its own task would
    (C(action_plugins/clix_inprocess.py)), into the folder the identity chose - the folders no step after
    the heartbeat writes (media, the RCS repository, ...) while those steps run, so that on a school's slow
    link their transfer takes the dumps' time; the dumps, the git state, what the derived data writes (the
    C(analytics) items, and the item whose folder holds its C(log_dir)) and the single files (settings)
    once the steps have ended - and removes the staging folder from the server when every item is done (ok,
    absent or skipped) and O(remove_staging) is true.
  - A step fails alone - its failure is kept in its result (the pull reports its item as failed) and the
    next step runs. A failed heartbeat fails the task - without it the server is not known; so does a
    failed pull or staging removal, with the facts so far in the failed result (C(ansible_facts)) for
    the rescue to keep.
  - A step runs only when the item it writes is among the selected O(items) (the item whose C(producer) is
    the step's - C(heartbeat), C(db), C(postgres), C(git)), and writes at that item's C(src) on the server
    (C(pg_dumpall)'s file C(pg_dump_all.sql) in it); the derived data runs when an item of the tag
    C(analytics) is selected. The heartbeat always runs; it writes its files only when its item is selected.
version_added: "0.3.0"
options:
  items:
    description:
      - The selected items of C(clix_items) (C(clix_selected_items)), as the item table writes them. They
        choose the steps and where each writes, and they are the pull's items.
    type: list
    elements: dict
    default: []
  identity:
    description: The inventory's word on the school.
    type: dict
    required: true
    suboptions:
      server_id:
        description: The inventory's server id.
        type: str
        required: true
      school_code:
        description: The inventory's school code.
        type: str
        required: true
      school_root:
        description: The school's folder in the archive, on the control node (never touched here), returned as C(clix_school_root) when the identity matches.
        type: str
        required: true
      quarantine_root:
        description: Its quarantine folder, returned as C(clix_school_root) when the identity does not match.
        type: str
        required: true
  heartbeat:
    description: Options of C(clix_heartbeat) but its C(dest), which is the C(src) of the selected item it produces.
    type: dict
    required: true
  clix_mongodump:
    description: Options of C(clix_mongodump) but its C(dest), run when the item it produces (C(db)) is selected.
    type: dict
  clix_pg_dumpall:
    description: Options of C(clix_pg_dumpall) but its C(dest), run when the item it produces (C(postgres)) is selected.
    type: dict
  clix_git_snapshot:
    description: Options of C(clix_git_snapshot) but its C(dest), run when the item it produces (C(git)) is selected.
    type: dict
  clix_gstudio_derive:
    description: >-
      Options of C(clix_gstudio_derive), run when an item of the tag C(analytics) is selected and O(derive_on_server) is true. A
      missing or stopped container is a skipped step, not a failure.
    type: dict
  derive_on_server:
    description: Whether to run gStudio's derived-data scripts on the server at all.
    type: bool
    default: true
  pull:
    description:
      - Options of C(clix_pull), run after the steps above. Its C(root) is the folder the identity chose
        (C(clix_school_root)).
      - Its C(items) are O(items), made into C(clix_pull)'s by the filter
        C(clix_pull_items) with the steps' results (an item whose producer failed carries its error).
      - C(lab_pcs), the school's lab PCs (the filter C(clix_lab_pcs)), are left out of the server's
        C(unplatform) item.
    type: dict
  remove_staging:
    description: Remove the staging folder (the C(staging_dir) of O(heartbeat)) from the server after a pull whose items are all done.
    type: bool
    default: true
  progress_seconds:
    description: How often a step's progress line is shown while it runs (0 - never).
    type: int
    default: 60
attributes:
  check_mode:
    details: Each module runs in check mode, as it would alone.
  diff_mode:
    details: Each module's result says what it wrote.
extends_documentation_fragment:
  - clix_attributes
"""

EXAMPLES = r"""
- name: Heartbeat and MongoDB dump of a school server, its identity checked
  clix_server:
    items:
      - {name: db, tag: db, kind: snapshot, producer: db, src: /home/core/clix-collect-staging/db/, dest: gstudio/db}
      - {name: system-heartbeat, tag: heartbeat, producer: heartbeat,
         src: /home/core/clix-collect-staging/system-heartbeat/, dest: gstudio/system-heartbeat}
    identity:
      server_id: mz1
      school_code: "2031001"
      school_root: /srv/clix-archive/2026/mz/2031001-mz1
      quarantine_root: /srv/clix-archive/quarantine/2026/mz/2031001-mz1
    heartbeat:
      staging_dir: /home/core/clix-collect-staging
    clix_mongodump:
      staging_dir: /home/core/clix-collect-staging
"""

RETURN = r"""
ansible_facts:
  description: What the seal, the pull and the report take from the server.
  returned: unless the heartbeat failed
  type: dict
  contains:
    clix_heartbeat:
      description: The heartbeat (C(clix_heartbeat)'s fact).
      type: dict
    clix_heartbeat_result:
      description: C(clix_heartbeat)'s result.
      type: dict
    clix_identity:
      description: Why the server is not the inventory's school (empty when it is).
      type: str
    clix_server_says:
      description: What the server's C(server_settings.py) claims, as quoted literals.
      type: dict
    clix_school_root:
      description: The folder the school is collected into - O(identity.school_root) or O(identity.quarantine_root).
      type: str
    clix_db_result:
      description: C(clix_mongodump)'s result (C(skipped) when not run; C(failed) with C(msg) when it failed).
      type: dict
    clix_postgres_result:
      description: C(clix_pg_dumpall)'s result, likewise.
      type: dict
    clix_git_result:
      description: C(clix_git_snapshot)'s result, likewise.
      type: dict
    clix_derived_result:
      description: C(clix_gstudio_derive)'s result, likewise.
      type: dict
    clix_derived_item:
      description: The derived step as an item of the report and manifest (name, status, reason, source, counts).
      returned: when the derived step ran
      type: dict
    clix_pull_result:
      description: C(clix_pull)'s result, its C(items) the report's and the manifest's (the filter C(clix_host_items)).
      returned: with O(pull)
      type: dict
"""
