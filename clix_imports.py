# SPDX-License-Identifier: GPL-3.0-or-later
"""The one import name of the project's shared code (module_utils/): ``ansible.module_utils.clix_<name>``.

It is the name under which Ansible ships module_utils/ with a module to a host (AnsiballZ finds
what to ship by these import lines), so the modules and module_utils/ itself must use it; every
other reader uses it too, so that a shared module is loaded once, under one name (two names load
it twice: two LayoutError classes, neither catching the other's errors).

Outside a module run, ``use()`` makes that name find this checkout's module_utils/ (the folder
ansible.cfg names as ``module_utils``), once per process, before the first such import:

- where Ansible is installed (the control node's venv: the filter and action plugins, tests,
  bench, clix_derive and clix_dataset run natively, bin/ commands), the folder is added to
  ``ansible.module_utils.__path__``, beside Ansible's own module_utils;
- where it is not (the clix-derive image, the fleet's stand-ins under the system Python), an
  empty ``ansible.module_utils`` package is made whose only folder is module_utils/.

clix_derive, clix_dataset and fleet call it in their ``__init__``; tests/conftest.py, bench, bin/
commands and the two plugins call it before their first shared import. Nothing else touches
``ansible.module_utils.__path__``.
"""

from __future__ import annotations

import os
import sys
import types

MODULE_UTILS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "module_utils")


def use() -> None:
    """Make ``ansible.module_utils.clix_*`` importable from module_utils/ (idempotent)."""
    try:
        import ansible.module_utils as package
    except ImportError:
        package = _standalone_package()
    if MODULE_UTILS not in package.__path__:
        package.__path__.append(MODULE_UTILS)


def _standalone_package() -> types.ModuleType:
    """``ansible`` and ``ansible.module_utils`` as bare packages, for a Python without Ansible."""
    top = types.ModuleType("ansible")
    top.__path__ = []
    package = types.ModuleType("ansible.module_utils")
    package.__path__ = []
    top.module_utils = package
    sys.modules["ansible"] = top
    sys.modules["ansible.module_utils"] = package
    return package
