# SPDX-License-Identifier: GPL-3.0-or-later
"""What every clix module shares in its documentation: its check mode and diff mode attributes (each
module says in C(details) what a check run does) and its authors, as ansible's own
action_common_attributes does for its modules."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode and say what it would do, without changing anything.
    support: full
  diff_mode:
    description: Would return the differences it makes in diff mode.
    support: none
author: clix-collect developers (@clix-collect)
"""
