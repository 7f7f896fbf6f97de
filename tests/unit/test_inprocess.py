"""The in-process stand-in for AnsibleModule that runs control-node modules in the worker."""

from __future__ import annotations

import sys

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "action_plugins"))
from clix_inprocess import InProcessModule, ModuleExit

SPEC = {"path": {"type": "path", "required": True}, "state": {"choices": ["present", "absent"], "default": "present"},
        "token": {"type": "str", "no_log": True}}


def outcome(args: dict, check_mode: bool = False, **spec) -> dict:
    with pytest.raises(ModuleExit) as done:
        module = InProcessModule(args, check_mode, "mz1", SPEC, **spec)
        module.warn("careful")
        module.exit_json(changed=True, path=module.params["path"], state=module.params["state"],
                         echo=module.params["token"])
    return done.value.result


def test_arguments_are_validated_and_converted_like_ansible_module(monkeypatch):
    monkeypatch.setenv("HOME", "/home/ops")
    result = outcome({"path": "~/archive", "token": "s3cret"}, supports_check_mode=True)
    assert result["path"] == "/home/ops/archive" and result["state"] == "present" and result["changed"] is True
    assert result["warnings"] == ["careful"]
    assert "s3cret" not in repr(result)  # a no_log value never comes back


def test_bad_arguments_fail_with_the_reason():
    result = outcome({"path": "/a", "state": "gone", "colour": "red"}, supports_check_mode=True)
    assert result["failed"] is True
    assert "colour" in result["msg"] and "gone" in result["msg"]


def test_check_mode_is_refused_for_a_module_without_it():
    result = outcome({"path": "/a"}, check_mode=True, supports_check_mode=False)
    assert result.get("skipped") is True and "changed" not in result


def test_a_part_of_ansible_module_not_provided_fails_with_the_way_out():
    module = InProcessModule({"path": "/a"}, False, "mz1", SPEC, supports_check_mode=True)
    with pytest.raises(AttributeError, match=r"run_command.*remove the module's link"):
        module.run_command(["true"])
    assert getattr(module, "tmpdir", None) is None
