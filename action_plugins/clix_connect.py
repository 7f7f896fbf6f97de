"""Wait for a host to answer over SSH, read its Python and its private environment's fingerprint,
work out the environment it should have and install it when it is missing or out of date
(library/clix_connect.py documents it).

One task per host instead of five (wait_for_connection, a raw probe, an assert, a set_fact, an
assert) and of an include of the checks and the install for the hosts that need them: an include
skipped on a current host still cost a worker per host and run.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import re
import shlex
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase

# Shared code under its one import name (clix_imports.py, at the checkout's root).
sys.path.append(str(Path(__file__).resolve().parents[1]))
import clix_imports

clix_imports.use()
from ansible.module_utils.clix_files import atomic_output  # noqa: E402


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


WHEELS_SCRIPT = Path(__file__).resolve().parents[1] / "bin" / "clix-wheels"


@contextlib.contextmanager
def locked(folder: str):
    """The control node's wheels folder to one worker at a time (the download and the bundles are made once)."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, ".clix-lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def download_wheels(wheels_dir: str) -> str:
    """A fresh checkout (or a job container) has no wheels yet: make them from the project's pins, once,
    instead of failing every server; what went wrong ('' when nothing). Without a package index this
    says what to do."""
    with locked(wheels_dir):
        if os.path.exists(os.path.join(wheels_dir, ".done")):
            return ""
        done = subprocess.run([str(WHEELS_SCRIPT), wheels_dir], capture_output=True, text=True, check=False)
    return "" if done.returncode == 0 else (done.stderr or done.stdout).strip()[-2000:]


def make_bundle(bundle: dict, wheels_dir: str) -> None:
    """One archive per distinct set of wheels, built once on the control node: a single file to ship."""
    with locked(wheels_dir):
        if os.path.exists(bundle["path"]):
            return
        with open(bundle["requirements"], "rb") as pins, open(os.path.join(wheels_dir, bundle["files"][-1]), "wb") as out:
            out.write(pins.read())
        os.makedirs(os.path.dirname(bundle["path"]), exist_ok=True)
        with atomic_output(bundle["path"]) as out, tarfile.open(fileobj=out, mode="w:gz") as tar:
            for name in bundle["files"]:
                tar.add(os.path.join(wheels_dir, name), arcname=name)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # also under --check: it installs only the tool's own environment
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
        facts = self.facts(answer, args)
        result["ansible_facts"] = facts
        if facts["clix_target_python_current"]:
            return result
        # Also under --check and --tags: the modules cannot run, nor report what they would do, without it.
        try:
            problem = self.install(facts, args)
        except AnsibleConnectionFailure as exc:  # failed, not unreachable: the play's rescue records it
            return dict(result, failed=True, msg="the host stopped answering during the install: %s" % exc)
        if problem:
            # Not the host being unreachable: it answered (clix_failure_status reads install_failed).
            return dict(result, failed=True, install_failed=True, msg=problem)
        facts["clix_target_python_current"] = True
        return dict(result, changed=True)

    def facts(self, answer: dict, args: dict) -> dict:
        """What the host answered and the environment it should have, as facts."""
        lines = answer["stdout"].splitlines()
        version = lines[0].strip() if lines else ""
        wheels = wheels_for(args["wheels_dir"], version) if version_of(version) else []
        want = fingerprint(wheels, args["requirements"])
        current = (answer["rc"] == 0 and version_of(version) >= (3, 8) and len(lines) > 1 and lines[1].strip() == want
                   and any("/pip-" in w for w in wheels))
        return {
            "clix_target_python_probe": {"rc": answer["rc"], "stdout_lines": lines},
            "clix_target_python_version": version,
            "clix_target_python_wheels": wheels,
            "clix_target_python_fingerprint": want,
            "clix_target_python_bundle": {
                "path": "%s/bundles/clix-wheels-%s.tar.gz" % (args["wheels_dir"], want),
                "files": [os.path.basename(w) for w in wheels] + [os.path.basename(args["requirements"])],
                "requirements": args["requirements"]},
            "clix_target_python_interpreter": args["dir"] + "/venv/bin/python",
            "clix_target_python_current": current,
        }

    def install(self, facts: dict, args: dict) -> str:
        """The private environment built on the host from the control node's wheels (never pip from the
        internet); what went wrong ('' when nothing). facts are updated once the wheels are downloaded."""
        version, probe = facts["clix_target_python_version"], facts["clix_target_python_probe"]
        if probe["rc"] != 0 or version_of(version) < (3, 8):
            return ("%s is %s; the collection modules need Python 3.8 or newer. Install python3 on the server or "
                    "set clix_target_python_system." % (args["system_python"], version if version_of(version) else "missing"))
        wheels_dir = args["wheels_dir"]
        problem = download_wheels(wheels_dir)
        if problem:
            return problem
        facts.update(self.facts({"rc": probe["rc"], "stdout": "\n".join(probe["stdout_lines"])}, args))
        if not any("/pip-" in w for w in facts["clix_target_python_wheels"]):
            return ("No wheels for Python %s in %s: add %s to CLIX_TARGET_PYTHONS and run bin/clix-wheels "
                    "(`make wheels`)." % (version, wheels_dir, version))
        bundle = facts["clix_target_python_bundle"]
        make_bundle(bundle, wheels_dir)
        folder = shlex.quote(args["dir"])
        created = self._low_level_execute_command("mkdir -p %s && chmod 0700 %s" % (folder, folder), sudoable=False)
        if created["rc"] != 0:
            return "could not create %s: %s" % (args["dir"], created["stderr"].strip()[-500:])
        self._connection.put_file(bundle["path"], args["dir"] + "/wheels.tar.gz")
        installed = self._low_level_execute_command(
            "set -e; cd %s; chmod 0600 wheels.tar.gz; rm -rf venv wheels; mkdir -m 0700 wheels; "
            "tar -xzf wheels.tar.gz -C wheels; rm wheels.tar.gz; %s -m venv --without-pip venv; "
            "cd wheels; pip_wheel=$(ls pip-*.whl); ../venv/bin/python \"$pip_wheel/pip\" install --quiet --no-index "
            "--disable-pip-version-check --find-links . -r %s; echo %s > ../venv/.clix-fingerprint" % (
                folder, shlex.quote(args["system_python"]), shlex.quote(os.path.basename(args["requirements"])),
                facts["clix_target_python_fingerprint"]), sudoable=False)
        if installed["rc"] != 0:
            return "could not install the private environment in %s: %s" % (
                args["dir"], (installed["stderr"] or installed["stdout"]).strip()[-1000:])
        return ""

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
