"""The README's commands, as written, after its first block (`make demo`, then the activation line).

Every command of the README (each line of its `sh` blocks, each code span that starts with a
command) is either run here, from the repository root with .venv/bin on the PATH, on an archive that
collect.yml wrote from the fleet (as `make demo` leaves one), with the README's placeholders filled in; or
named below with the reason it is not: it needs a school host, or it is the premise or the test
suite itself. A command the README gains that is neither fails the test until it is placed.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_playbook

README = (REPO / "README.md").read_text()
BIN = Path(sys.executable).parent
YEAR = str(datetime.date.today().year)
COMMAND_WORDS = ("ansible-playbook", "ansible ", "ansible-doc", "ansible-runner", "python ", "python -", "make ",
                 "bin/", ".venv/bin/", "podman ", "ssh-keygen", "md5sum", "apt-get", "pytest", "duckdb ", ". .venv")
ENV_PREFIX = re.compile(r"^(?:[A-Z_]+=\S+ )+")

# Commands that reach a school server or lab PC (the demo fleet's, or the production inventory's).
NEEDS_A_SCHOOL = {
    r"^ansible-playbook (-i \S+ )?collect\.yml": "collects school servers",
    r"^ansible-playbook heartbeat\.yml": "takes the schools' heartbeats",
    r"^ansible-playbook restore\.yml": "rebuilds a school server from the archive",
    r"^ansible-playbook derive\.yml -l mz$": "runs gStudio's scripts on the school servers",
    r"^ansible mz -m clix_heartbeat": "runs a module on the school servers",
    r"^ansible-playbook ingest\.yml": "places extractions on lab PCs of the inventory; the shipped inventories name none",
    r"^bin/clix-add-host-key": "records a school server's host key",
    r"^ssh-keygen -lf /etc/ssh": "run on the school server by someone there",
    r"^podman run .*clix-collect-ee": "collects school servers in the execution environment",
    r"^ansible-runner run": "collects school servers under ansible-runner",
}
# The premise, the test suite's own commands and the test bed (fixed addresses, shared caches).
NOT_HERE = {
    r"make demo$": "the premise of this test",
    r"^\. \.venv/bin/activate$": "the premise of this test (its PATH is the test's)",
    r"^make (test|sanity|ee|images|bench|fleet-up|fleet-down|rehearsal)\b": "the test suite, its images or its test bed",
    r"^make fleet-up SCHOOLS=": "the test bed",
    r"^python -m fleet": "the test bed",
    r"^python -m bench": "a benchmark (make bench: minutes of a benchmark-sized school, never a test)",
    r"^\.venv/bin/python tests/mutations\.py$": "the test suite's own mutation check",
    r"^(CLIX_TEST_\S+ )*(CLIX_TEST_\S+ )?(\.\.\.|pytest)": "the test suite itself",
    r"^CLIX_TEST_": "the test suite itself",
    r"^md5sum x\.zip": "an example on a zip of the reader's own",
    r"^python -m clix_derive archive$": "named in passing; the command with its folder is in the table above",
}


def commands() -> list[str]:
    found = []
    for block in re.findall(r"^```sh\n(.*?)^```", README, re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line:
                found.append(re.sub(r"\s+", " ", line))
    for span in re.findall(r"`([^`\n]+)`", README):
        span = span.strip()
        if " " not in span:  # a program's name in passing, not a command
            continue
        if span.startswith(COMMAND_WORDS) or (ENV_PREFIX.match(span) and ENV_PREFIX.sub("", span).startswith(COMMAND_WORDS)):
            found.append(span)
    return list(dict.fromkeys(found))


def reason_not_run(command: str) -> str | None:
    for table in (NEEDS_A_SCHOOL, NOT_HERE):
        for pattern, why in table.items():
            if re.search(pattern, command):
                return why
    return None


@pytest.fixture(scope="module")
def demo(fleet, target_python, tmp_path_factory) -> dict:
    """What `make demo` leaves: an archive collect.yml wrote; and an empty central archive for the
    merge of a field archive (the demo's stands in for the field laptop's)."""
    work = tmp_path_factory.mktemp("readme")
    archive = work / "archive"
    proc = run_playbook(fleet, "collect.yml", "-l", "mz1", "-e", f"clix_archive_root={archive}")  # one school: quicker
    assert proc.returncode == 0, proc.stdout[-3000:]
    return dict(archive=archive, central=work / "central", work=work)


def filled(command: str, demo: dict) -> str:
    """The README's placeholders for what `make demo` made."""
    archive = str(demo["archive"])
    if "/media/usb/clix-archive" in command:  # the field archive merged into a central one
        command = command.replace("/media/usb/clix-archive", archive).replace("/srv/clix-archive", str(demo["central"]))
    command = command.replace("/srv/clix-archive", archive).replace("<archive>", archive)
    command = command.replace("$PWD/archive", archive).replace("'archive/dataset/", "'%s/dataset/" % archive)
    command = command.replace("/2026/", "/%s/" % YEAR).replace("SCHOOL=...", f"SCHOOL={archive}/{YEAR}/mz/2031001-mz1")
    # make's venv step would reinstall the shared .venv of a worktree (its requirements.txt is newer).
    return re.sub(r"^make ", "make -o .venv/.installed ARCHIVE=%s " % archive, command)


def test_every_readme_command_runs_as_written_or_is_named(demo, tmp_path):
    ran, named = [], {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(PATH="%s:%s" % (BIN, env["PATH"]), ANSIBLE_NOCOLOR="1")
    for command in commands():
        why = reason_not_run(command)
        if why:
            named[command] = why
            continue
        cwd = REPO
        if command.startswith("bin/clix-inventory"):  # it rewrites inventories/: run on a copy of them
            cwd = tmp_path / "checkout"
            for folder in ("inventories", "bin", "module_utils"):
                shutil.copytree(REPO / folder, cwd / folder)
            shutil.copy(REPO / "clix_imports.py", cwd)
        proc = subprocess.run(filled(command, demo), shell=True, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=900)
        assert proc.returncode == 0, f"README: {command}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stdout + proc.stderr, command
        if command.startswith("bin/clix-inventory"):
            for state in ("mz", "rj", "ct", "tg"):
                assert (cwd / "inventories" / state / "hosts.yml").read_text() == \
                    (REPO / "inventories" / state / "hosts.yml").read_text(), "regenerating changed %s" % state
        ran.append(command)
    print("ran:\n  " + "\n  ".join(ran))
    print("not run:\n  " + "\n  ".join("%s  (%s)" % kv for kv in named.items()))
    assert any(c.startswith("ansible-playbook verify.yml") for c in ran)
    assert any(c.startswith("ansible-playbook dataset.yml") for c in ran)
    assert any(c.startswith("python -c \"import duckdb") for c in ran)
