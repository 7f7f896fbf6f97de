"""Run a control-node module of clix-collect inside Ansible's worker instead of a new Python.

The modules that only ever run on the control node (clix_pull, clix_manifest, clix_report, ...)
are ordinary modules in library/, documented there and runnable anywhere. Started the normal
way, each run costs a fresh interpreter that unpacks the module and compiles Ansible's module
code again: about a quarter of a second of CPU, several times per school, on the control node
that collects hundreds of schools. This action plugin (linked under each such module's name)
loads the same module file into the worker process and runs its main() with AnsibleModule
replaced by an in-process twin that validates the arguments with the module's own
argument_spec, exactly as AnsibleModule does.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

# The modules import their shared code as ansible.module_utils.clix_*, as under AnsiballZ
# (clix_imports.py, at the checkout's root).
sys.path.append(str(Path(__file__).resolve().parents[1]))
import clix_imports

clix_imports.use()
display = Display()
CONSTRAINTS = ("mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by")


class ModuleExit(Exception):
    def __init__(self, result: dict) -> None:
        super().__init__(result.get("msg", ""))
        self.result = result


class InProcessModule:
    """The part of AnsibleModule that the control-node modules use."""

    def __init__(self, args: dict, check_mode: bool, label: str, argument_spec: dict,
                 supports_check_mode: bool = False, **constraints: Any) -> None:
        unknown = set(constraints) - set(CONSTRAINTS)
        if unknown:
            raise AnsibleActionFail("clix_inprocess cannot stand in for AnsibleModule(%s)" % ", ".join(sorted(unknown)))
        validated = ArgumentSpecValidator(argument_spec, **constraints).validate(args)
        self._no_log_values = validated._no_log_values
        self.warnings: list[str] = []
        if validated.error_messages:
            self.fail_json(msg="; ".join(validated.error_messages))
        if check_mode and not supports_check_mode:
            raise ModuleExit(dict(skipped=True, msg="this module does not support check mode"))
        self.params = validated.validated_parameters
        self.check_mode = check_mode
        self.label = label

    def __getattr__(self, name: str) -> Any:
        # Only reached for what __init__ did not set: a part of AnsibleModule not provided here.
        # An AttributeError, so that getattr(module, name, default) still works.
        raise AttributeError("clix_inprocess does not provide AnsibleModule.%s: add it to InProcessModule, or "
                             "remove the module's link in action_plugins/ so that it runs as a module" % name)

    def warn(self, warning: str) -> None:
        self.warnings.append(warning)

    def progress(self, line: str) -> None:
        """Shown at once, while the module runs (a module in its own process cannot do this)."""
        display.display("%s: %s" % (self.label, line))

    def exit_json(self, **result: Any) -> None:
        result.setdefault("changed", False)
        if self.warnings:
            result["warnings"] = self.warnings
        raise ModuleExit(remove_values(result, self._no_log_values))

    def fail_json(self, msg: str, **result: Any) -> None:
        self.exit_json(failed=True, msg=msg, **result)


def load_module(path: str, name: str):
    spec = importlib.util.spec_from_file_location("clix_inprocess_%s" % name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cannot_honour(action: ActionBase) -> str:
    """What of the task's setup the worker would silently ignore ('' when nothing): it runs as the
    worker's user, with the worker's environment."""
    if action._play_context.become:
        return "become (it would run as %s, not as %s)" % (os.environ.get("USER", "the operator"),
                                                            action._play_context.become_user or "root")
    if any(action._task.environment or []):
        return "environment: (the task's variables would not reach it)"
    return ""


def prepared(action: ActionBase, name: str, task_vars: dict | None) -> Callable[[dict], dict]:
    """The control-node module `name` of library/ made ready to run inside this worker: the task's setup
    checked and the module found now, in the calling thread; the call it returns runs the module with
    args and returns its result. clix_server prepares its pull so, before its steps add to the task's
    environment (clix_watched), and runs it on a thread beside them."""
    refused = cannot_honour(action)
    if refused:
        raise AnsibleActionFail("%s runs inside Ansible's worker on the control node, which cannot honour %s: "
                                "remove it from the task (or from the play or the host's variables)" % (name, refused))
    path = action._shared_loader_obj.module_loader.find_plugin(name)
    if not path:
        raise AnsibleActionFail("clix_inprocess: no module named %s in the library path" % name)
    check_mode = bool(action._play_context.check_mode)
    label = (task_vars or {}).get("inventory_hostname", "localhost")

    def run(args: dict) -> dict:
        module = load_module(path, name)
        module.AnsibleModule = lambda **spec: InProcessModule(dict(args), check_mode, label, **spec)
        # The modules set it for themselves; the worker gets its own back. The umask is the process's: a worker
        # runs one in-process module at a time (clix_server's pull runs beside remote steps only).
        umask = os.umask(0o077)
        try:
            module.main()
        except ModuleExit as done:
            return done.result
        finally:
            os.umask(umask)
        raise AnsibleActionFail("%s returned without exit_json or fail_json" % name)
    return run


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: str | None = None, task_vars: dict | None = None) -> dict:
        result = super().run(tmp, task_vars)
        name = self._task.action.rsplit(".", 1)[-1]
        if self._connection.transport != "local":  # delegated elsewhere: run it there, the usual way
            result.update(self._execute_module(module_name=name, module_args=self._task.args, task_vars=task_vars))
            return result
        result.update(prepared(self, name, task_vars)(self._task.args))
        return result
