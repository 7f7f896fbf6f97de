"""Import a module of library/ by its path: action_plugins/ holds files of the same names, and
tests/unit/test_inprocess.py puts that folder on sys.path."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from types import ModuleType

import pytest
from ansible.module_utils import basic
from conftest import REPO


def library_module(name: str) -> ModuleType:
    key = "clix_library_%s" % name
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, REPO / "library" / ("%s.py" % name))
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def run_module(module: ModuleType, args: dict, monkeypatch, capsys, check: bool = False) -> dict:
    """Run a module's main() in this process with args (in check mode when asked) and return its
    result. Modules set their own umask: the caller's is given back, so later tests keep theirs."""
    if check:
        args = dict(args, _ansible_check_mode=True)
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    umask = os.umask(0o022)
    try:
        with pytest.raises(SystemExit):
            module.main()
    finally:
        os.umask(umask)
    return json.loads(capsys.readouterr().out)
