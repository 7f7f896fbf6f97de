# SPDX-License-Identifier: GPL-3.0-or-later
"""The staging folder option, shared by every module that writes into it on a school server."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  staging_dir:
    description:
      - The staging folder that holds O(dest). It, and the folders below it on the way to O(dest),
        are created 0700 and must belong to the user running the module; no part of the path may
        be a symbolic link. Anything else fails the task before anything is written.
      - Defaults to the folder holding O(dest) (for C(clix_heartbeat), O(dest) itself).
    type: path
"""
