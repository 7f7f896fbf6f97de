"""Import a module of library/ by its path: action_plugins/ holds files of the same names, and
tests/unit/test_inprocess.py puts that folder on sys.path."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from conftest import REPO


def library_module(name: str) -> ModuleType:
    key = "clix_library_%s" % name
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, REPO / "library" / ("%s.py" % name))
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]
