"""Run a long module on a host and print its progress on the operator's terminal while it runs.

A module in its own process on a school server cannot print: Ansible shows what it did only once it
has ended, so a MongoDB dump of hours says nothing for hours. This action plugin (linked under the
name of each module that can run that long on a host: clix_mongodump, clix_pg_dumpall,
clix_gstudio_derive) runs the module the usual way, with CLIX_PROGRESS_FILE naming a file below the
login user's ~/.ansible where the module leaves its latest progress line (module_utils/clix_progress.py),
and meanwhile reads that file every progress_seconds over a second command on the same SSH
connection, printing each new line as "<host>: <line>". A step shorter than progress_seconds costs
nothing more than a plain run. The module removes its file when it ends.

Ansible's own `async` could not do this as cheaply: it transfers the module as files instead of
piping it, and polls with a module run of its own (about 0.3 s of the control node's CPU per step,
on every school).
"""

from __future__ import annotations

import copy
import importlib.util
import secrets
import threading
from pathlib import Path

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()
_spec = importlib.util.spec_from_file_location("clix_payloads_action", Path(__file__).resolve().with_name("clix_payloads.py"))
clix_payloads = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(clix_payloads)
LINE_LIMIT = 500


def printable(text: str) -> str:
    """The line as the host wrote it, with nothing a terminal would act on (the host is untrusted)."""
    return "".join(c if c.isprintable() else "\\x%02x" % ord(c) if ord(c) < 256 else "?" for c in text)


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp: str | None = None, task_vars: dict | None = None) -> dict:
        result = super().run(tmp, task_vars)
        seconds = int(self._task.args.get("progress_seconds", 60) or 0)
        result.update(self._execute_watched(None, None, task_vars, seconds))
        return result

    def _execute_module(self, module_name: str | None = None, *args, **kwargs) -> dict:
        """The module run the usual way, its payload built once for every run, not once per run (clix_payloads)."""
        with clix_payloads.reused(module_name or self._task.action):
            return super()._execute_module(module_name, *args, **kwargs)

    def _execute_watched(self, name: str | None, args: dict | None, task_vars: dict | None, seconds: int) -> dict:
        """Module name (the task's own when None) with args, its progress lines shown every `seconds`."""
        if seconds <= 0 or self._task.async_val or self._play_context.become:
            # become: the module would write where the login user's command cannot look.
            return self._execute_module(name, args, task_vars=task_vars, wrap_async=bool(self._task.async_val))
        path = "~/.ansible/clix-progress-%s" % secrets.token_hex(8)
        label = (task_vars or {}).get("inventory_hostname", "")
        ended = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(path, seconds, label, ended), daemon=True)
        self._task.environment.append({"CLIX_PROGRESS_FILE": path})
        watcher.start()
        try:
            return self._execute_module(name, args, task_vars=task_vars)
        finally:
            ended.set()
            self._task.environment.pop()
            watcher.join(timeout=5)  # a read stuck on a dropped link never holds the task

    def _watch(self, path: str, seconds: int, label: str, ended: threading.Event) -> None:
        """Print the module's latest line whenever it changed, every `seconds`, until it has ended. A
        copy of the connection of its own: the module's command holds the task's (and its state)."""
        reader = copy.copy(self._connection)
        shown = ""
        if ended.wait(1):  # then read just after the module's lines, which start a little later
            return
        while not ended.wait(seconds):
            try:
                rc, out, _err = reader.exec_command("head -c %d %s 2>/dev/null" % (LINE_LIMIT, path), sudoable=False)
            except Exception as exc:
                display.vvv("%s: no progress line (%s)" % (label, exc))
                continue
            line = out.decode("utf-8", "replace").strip()
            if rc == 0 and line and line != shown and not ended.is_set():
                display.display("%s: %s" % (label, printable(line)))
                shown = line
