"""Wait for a host to answer over SSH, read its Python and its private environment's fingerprint,
and work out the environment it should have (library/clix_connect.py documents it).

One task instead of five per host (wait_for_connection, a raw probe, an assert, a set_fact, an
assert): what they did is done here, in the worker, and the role's checks and install run only for
a host whose environment is missing or out of date (roles/clix_target_python).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
import shlex
import time

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase


def version_of(line: str) -> tuple:
    """(3, 11) of "3.11"; () when the line is not a version."""
    return tuple(int(x) for x in line.split(".")) if re.fullmatch(r"\d+\.\d+", line) else ()


def wheels_for(wheels_dir: str, version: str) -> list[str]:
    """The wheels of wheels_dir that install on Python `version`: pure ones, the stable ABI, or its own."""
    tag = version.replace(".", "")
    pattern = re.compile(r"-(py3-none|cp3[0-9]+-abi3|cp%s-cp%s)-" % (tag, tag))
    return sorted(w for w in glob.glob(os.path.join(glob.escape(wheels_dir), "*.whl")) if pattern.search(w))


def fingerprint(wheels: list[str], requirements: str) -> str:
    """What an environment was built from: its wheels' names and the pins (as the file reads, less
    its trailing newlines). Kept in the environment as venv/.clix-fingerprint."""
    with open(requirements, encoding="utf-8") as f:
        pins = f.read().rstrip()
    return hashlib.sha256((",".join(os.path.basename(w) for w in wheels) + pins).encode()).hexdigest()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # it only reads
    _VALID_ARGS = frozenset(("timeout", "system_python", "dir", "wheels_dir", "requirements"))

    def run(self, tmp: str | None = None, task_vars: dict | None = None) -> dict:
        result = super().run(tmp, task_vars)
        args = self._task.args
        python_dir = args["dir"]
        probe = "%s -c 'import sys; print(\"%%d.%%d\" %% sys.version_info[:2])'; cat %s 2>/dev/null || true" % (
            shlex.quote(args["system_python"]), shlex.quote(python_dir + "/venv/.clix-fingerprint"))
        try:
            answer = self.answer(probe, float(args.get("timeout", 20)))
        except AnsibleConnectionFailure as exc:
            return dict(result, failed=True, msg="timed out waiting for the host to answer over SSH: %s" % exc)
        lines = answer["stdout"].splitlines()
        version = lines[0].strip() if lines else ""
        wheels = wheels_for(args["wheels_dir"], version) if version_of(version) else []
        want = fingerprint(wheels, args["requirements"])
        current = (answer["rc"] == 0 and version_of(version) >= (3, 8) and len(lines) > 1 and lines[1].strip() == want
                   and any("/pip-" in w for w in wheels))
        result["ansible_facts"] = {
            "clix_target_python_probe": {"rc": answer["rc"], "stdout_lines": lines},
            "clix_target_python_version": version,
            "clix_target_python_wheels": wheels,
            "clix_target_python_fingerprint": want,
            "clix_target_python_bundle": {
                "path": "%s/bundles/clix-wheels-%s.tar.gz" % (args["wheels_dir"], want),
                "files": [os.path.basename(w) for w in wheels] + [os.path.basename(args["requirements"])],
                "requirements": args["requirements"]},
            "clix_target_python_interpreter": python_dir + "/venv/bin/python",
            "clix_target_python_current": current,
        }
        return result

    def answer(self, command: str, timeout: float) -> dict:
        """The command's result over SSH, tried until timeout (a school's link drops connections; a
        host coming up refuses them), one attempt at a time."""
        deadline = time.monotonic() + timeout
        while True:
            # Each attempt on a new connection (as wait_for_connection): a master connection left from
            # an earlier run would answer for a host that no longer does.
            with contextlib.suppress(AttributeError):
                self._connection.reset()
            try:
                return self._low_level_execute_command(command, sudoable=False)
            except AnsibleConnectionFailure:
                if time.monotonic() + 1 >= deadline:
                    raise
                time.sleep(1)
