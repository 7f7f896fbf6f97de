#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_git_snapshot
short_description: Record git status, diff, log -5 and branch of gStudio's checkouts into git-commit.log
description:
  - For each repository in O(repos) runs C(git status), C(git diff), C(git log -5) and
    C(git branch) and writes their output, under a header per repository and command, to O(dest).
  - Read-only towards the repositories - git works on a private copy of the index
    (C(GIT_INDEX_FILE)) with optional locks off, so C(git status) and C(git diff) never refresh,
    lock or rewrite the repository's index; repositories owned by another user are read through
    a per-command C(safe.directory), without touching any git config.
  - Works on dirty trees and detached HEADs. A path that is missing or is not a repository is
    written in the log and reported in RV(repos), not fatal.
version_added: "0.1.0"
options:
  dest:
    description: The log file to write (atomically).
    type: path
    required: true
  repos:
    description: Checkouts to record, in order. Defaults to gStudio's and qbank-lite's.
    type: list
    elements: path
    default:
      - /home/core/code/gstudio
      - /home/core/code/gstudio/gnowsys-ndf/qbank-lite
  timeout:
    description: Seconds each git command may take.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    details: Reports which paths are repositories and their current branch; writes nothing.
  diff_mode:
    support: none
requirements: [git]
author: clix-collect developers
"""

EXAMPLES = r"""
- name: Snapshot gStudio's and qbank's git state
  clix_git_snapshot:
    dest: /home/core/clix-collect-staging/git-commit.log
"""

RETURN = r"""
dest: {description: The log file., returned: always, type: str}
repos:
  description: One entry per path in O(repos).
  returned: always
  type: list
  elements: dict
  contains:
    path: {description: The checkout., type: str}
    is_repo: {description: Whether it is a git repository., type: bool}
    head: {description: Commit id of HEAD., type: str}
    branch: {description: Current branch, or C(HEAD (detached)) when detached., type: str}
    dirty: {description: Whether the working tree has changes., type: bool}
    error: {description: Why the path could not be recorded., type: str}
sha256: {description: SHA-256 of the log written., returned: success, type: str}
"""

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import atomic_output

COMMANDS = (["status"], ["diff"], ["log", "-5"], ["branch"])


def git(path: str, args: list, timeout: int, index: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0", LC_ALL="C", GIT_PAGER="cat")
    if index:
        env["GIT_INDEX_FILE"] = index
    argv = ["git", "-c", "safe.directory=%s" % path, "-c", "core.fsmonitor=false", "-C", path,
            "--no-pager", *args]
    return subprocess.run(argv, capture_output=True, text=True, errors="replace", env=env, timeout=timeout)


@contextmanager
def private_index(path: str, timeout: int):
    """A throw-away copy of the repository's index: `git diff` and `git status` refresh the index
    and may write it back even with optional locks off; they write to the copy instead."""
    real = git(path, ["rev-parse", "--git-path", "index"], timeout).stdout.strip()
    real = real if os.path.isabs(real) else os.path.join(path, real)
    fd, copy = tempfile.mkstemp(prefix="clix-git-index-")
    os.close(fd)
    try:
        if os.path.exists(real):
            shutil.copyfile(real, copy)
        else:
            os.unlink(copy)
        yield copy
    finally:
        if os.path.exists(copy):
            os.unlink(copy)


def describe(path: str, timeout: int) -> dict:
    info = dict(path=path, is_repo=False, head=None, branch=None, dirty=None, error=None)
    if not os.path.isdir(path):
        info["error"] = "no such directory"
        return info
    top = git(path, ["rev-parse", "--show-toplevel"], timeout)
    if top.returncode != 0 or os.path.realpath(top.stdout.strip()) != os.path.realpath(path):
        info["error"] = "not a git repository" if top.returncode else "not the top of a git repository"
        return info
    with private_index(path, timeout) as index:
        head = git(path, ["rev-parse", "HEAD"], timeout, index)
        branch = git(path, ["symbolic-ref", "--short", "-q", "HEAD"], timeout, index)
        status = git(path, ["status", "--porcelain"], timeout, index)
    info.update(is_repo=True, head=head.stdout.strip() or None,
                branch=branch.stdout.strip() or "HEAD (detached)", dirty=bool(status.stdout.strip()))
    return info


def snapshot(info: dict, timeout: int) -> str:
    parts = ["=" * 78, "Repository: %s" % info["path"], "=" * 78]
    if not info["is_repo"]:
        parts.append("NOT RECORDED: %s" % info["error"])
        return "\n".join(parts) + "\n\n"
    with private_index(info["path"], timeout) as index:
        for args in COMMANDS:
            proc = git(info["path"], args, timeout, index)
            parts += ["----- git %s -----" % " ".join(args), proc.stdout.rstrip("\n")]
            if proc.returncode != 0:
                parts.append("(git exited %d: %s)" % (proc.returncode, proc.stderr.strip()))
    return "\n".join(parts) + "\n\n"


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            repos=dict(type="list", elements="path",
                       default=["/home/core/code/gstudio", "/home/core/code/gstudio/gnowsys-ndf/qbank-lite"]),
            timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    os.umask(0o077)  # archive and staging hold private data
    p = module.params
    try:
        infos = [describe(path, p["timeout"]) for path in p["repos"]]
    except FileNotFoundError:
        module.fail_json(msg="git is not installed on this server; install it or drop the git item")
    except subprocess.TimeoutExpired as exc:
        module.fail_json(msg="git did not answer within %ss (%s)" % (p["timeout"], " ".join(exc.cmd)))
    if module.check_mode:
        module.exit_json(changed=True, dest=p["dest"], repos=infos)
    text = "".join(snapshot(info, p["timeout"]) for info in infos).encode("utf-8")
    os.makedirs(os.path.dirname(os.path.abspath(p["dest"])), mode=0o700, exist_ok=True)
    previous = None
    if os.path.exists(p["dest"]):
        with open(p["dest"], "rb") as f:
            previous = f.read()
    changed = previous != text
    if changed:
        with atomic_output(p["dest"]) as out:
            out.write(text)
    module.exit_json(changed=changed, dest=p["dest"], repos=infos, sha256=module.sha256(p["dest"]))


if __name__ == "__main__":
    main()
