# SPDX-License-Identifier: GPL-3.0-or-later
"""The progress option, shared by every module whose work can run longer than a minute."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  progress_seconds:
    description:
      - While the module works, a line this often saying what it has done so far (documents dumped,
        bytes written, files hashed); 0 for none.
      - Printed, after the host's name, when the module runs on the control node through the
        C(clix_inprocess) action plugin, or on a host through the C(clix_watched) action plugin (both
        as the role runs them); a module started any other way runs silently, as modules do.
    type: int
    default: 60
"""
