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
    lock or rewrite the repository's index.
  - A checkout is data, never a program - git runs as the owner of the checkout's C(.git) (root
    drops its privileges), in an empty private home, without system or global config, and with
    every program a repository's config could name turned off on the command line - no pager,
    fsmonitor, hooks, external diff, textconv, signature checks or filter drivers (each filter
    the config defines gets an empty command). No C(safe.directory) is needed - the owner reads
    their own checkout.
  - Works on dirty trees and detached HEADs. A path that is missing or is not a repository is
    written in the log and reported in RV(repos), not fatal.
version_added: "0.1.0"
options:
  dest:
    description: The log file to write (atomically).
    type: path
    required: true
  repos:
    description: Checkouts to record, in order. Defaults to gStudio's and qbank-lite's. Symbolic links are not followed.
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
    details: >-
      Runs git's read-only queries on each path and reports in RV(repos) whether it is a repository, its
      HEAD, branch and whether it is dirty; collects no status, diff or log and writes nothing (neither
      O(dest) nor its folders).
  diff_mode:
    details: The log written is O(dest).
requirements: [git]
extends_documentation_fragment:
  - clix_staging
  - clix_attributes
"""

EXAMPLES = r"""
- name: Snapshot gStudio's and qbank's git state
  clix_git_snapshot:
    dest: /home/core/clix-collect-staging/git-commit.log
    staging_dir: /home/core/clix-collect-staging
"""

RETURN = r"""
dest:
  description: The log file.
  returned: always
  type: str
repos:
  description: One entry per path in O(repos).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The checkout.
      type: str
    is_repo:
      description: Whether it is a git repository.
      type: bool
    head:
      description: Commit id of HEAD.
      type: str
    branch:
      description: Current branch, or C(HEAD (detached)) when detached.
      type: str
    dirty:
      description: Whether the working tree has changes.
      type: bool
    error:
      description: Why the path could not be recorded.
      type: str
    user:
      description: The user git ran as (the owner of the checkout).
      type: str
sha256:
  description: SHA-256 of the log written.
  returned: success
  type: str
"""

import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import UnsafeFolderError, atomic_output, private_dir

# (log header, arguments). No command runs a program the repository names: external diff,
# textconv and signature checks off here, every other helper off in SAFE_CONFIG and, for the
# filter drivers the repository defines, in Repo.prepare().
COMMANDS = (
    ("status", ["status", "--ignore-submodules=all"]),
    ("diff", ["diff", "--no-ext-diff", "--no-textconv", "--ignore-submodules=all"]),
    ("log -5", ["log", "-5", "--no-show-signature"]),
    ("branch", ["branch"]),
)
# Command-line config outranks every config file, the repository's own included.
SAFE_CONFIG = (
    "core.fsmonitor=false", "core.hooksPath=/dev/null", "core.pager=cat", "core.attributesFile=/dev/null",
    "core.untrackedCache=false", "diff.external=", "diff.renames=false", "status.renames=false",
    "status.submoduleSummary=false", "diff.ignoreSubmodules=all", "log.showSignature=false",
    "gpg.program=false", "submodule.recurse=false",
)
FILTER_KEY = re.compile(r"^filter\.(.+)\.(?:clean|smudge|process|required)$")
PATH = "/usr/local/bin:/usr/bin:/bin"


class Unreadable(Exception):
    pass


class Repo:
    """One checkout, read by git running as the checkout's owner in a private, empty home."""

    def __init__(self, path: str, timeout: int) -> None:
        self.path = path
        self.timeout = timeout
        self.uid, self.gid = owner(path)
        self.home = tempfile.mkdtemp(prefix="clix-git-")
        self.index = os.path.join(self.home, "index")
        self.overrides: list[str] = []
        if self.drops_privileges:
            os.chown(self.home, self.uid, self.gid)

    @property
    def drops_privileges(self) -> bool:
        return os.geteuid() == 0 and self.uid != 0

    def close(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    def env(self, index: bool) -> dict:
        env = dict(PATH=PATH, HOME=self.home, XDG_CONFIG_HOME=self.home, LC_ALL="C", GIT_CONFIG_NOSYSTEM="1",
                   GIT_CONFIG_GLOBAL="/dev/null", GIT_ATTR_NOSYSTEM="1", GIT_OPTIONAL_LOCKS="0",
                   GIT_TERMINAL_PROMPT="0", GIT_PAGER="cat", PAGER="cat")
        if index:
            env["GIT_INDEX_FILE"] = self.index
        return env

    def demote(self) -> None:
        if self.drops_privileges:
            os.setgroups([])
            os.setgid(self.gid)
            os.setuid(self.uid)

    def run(self, argv: list, index: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run(argv, capture_output=True, text=True, errors="replace", env=self.env(index),
                              cwd=self.home, timeout=self.timeout, preexec_fn=self.demote, stdin=subprocess.DEVNULL)

    def git(self, args: list, index: bool = False) -> subprocess.CompletedProcess:
        config = [a for kv in (*SAFE_CONFIG, *self.overrides) for a in ("-c", kv)]
        return self.run(["git", "--no-pager", *config, "-C", self.path, *args], index)

    def prepare(self) -> None:
        """Learn the filter drivers the repository configures (their commands are neutralised)
        and give git a private copy of the index: status and diff refresh the index and may
        write it back even with optional locks off; they write to the copy instead."""
        listed = self.git(["config", "--list", "-z"])
        if listed.returncode != 0:
            raise Unreadable("git cannot read its config: %s" % listed.stderr.strip())
        keys = (entry.split("\n", 1)[0] for entry in listed.stdout.split("\0"))
        for name in sorted({m.group(1) for m in map(FILTER_KEY.match, keys) if m}):
            if "=" in name:  # `-c` would split it there
                raise Unreadable("its config names a filter driver git cannot be told to ignore (%r)" % name)
            self.overrides += ["filter.%s.%s=%s" % (name, key, value)
                               for key, value in (("clean", ""), ("smudge", ""), ("process", ""), ("required", "false"))]
        real = self.git(["rev-parse", "--git-path", "index"]).stdout.strip()
        real = real if os.path.isabs(real) else os.path.join(self.path, real)
        # Copied by the owner: the repository chooses that path, root must not read it for them.
        self.run(["sh", "-c", 'test -f "$1" && exec cp -- "$1" "$2"', "sh", real, self.index])


def owner(path: str) -> tuple[int, int]:
    """The owner of the checkout's .git (of the folder itself when there is none)."""
    for candidate in (os.path.join(path, ".git"), path):
        try:
            st = os.lstat(candidate)
        except OSError:
            continue
        return st.st_uid, st.st_gid
    return os.geteuid(), os.getegid()


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "uid %d" % uid


def describe(repo: Repo) -> dict:
    info = dict(path=repo.path, is_repo=False, head=None, branch=None, dirty=None, error=None,
                user=user_name(repo.uid) if repo.drops_privileges else user_name(os.geteuid()))
    if os.path.islink(repo.path):
        info["error"] = "a symbolic link, not followed; list the real checkout in clix_git_repos"
        return info
    if not os.path.isdir(repo.path):
        info["error"] = "no such directory"
        return info
    top = repo.git(["rev-parse", "--show-toplevel"])
    if top.returncode != 0 or os.path.realpath(top.stdout.strip()) != os.path.realpath(repo.path):
        info["error"] = "not a git repository" if top.returncode else "not the top of a git repository"
        if "dubious ownership" in top.stderr:
            info["error"] = "git refuses it: %s" % top.stderr.strip()
        return info
    try:
        repo.prepare()
    except Unreadable as exc:
        info["error"] = str(exc)
        return info
    head = repo.git(["rev-parse", "HEAD"], index=True)
    branch = repo.git(["symbolic-ref", "--short", "-q", "HEAD"], index=True)
    status = repo.git(["status", "--porcelain", "--ignore-submodules=all"], index=True)
    info.update(is_repo=True, head=head.stdout.strip() or None,
                branch=branch.stdout.strip() or "HEAD (detached)", dirty=bool(status.stdout.strip()))
    return info


def snapshot(repo: Repo, info: dict) -> str:
    parts = ["=" * 78, "Repository: %s" % info["path"], "=" * 78]
    if not info["is_repo"]:
        parts.append("NOT RECORDED: %s" % info["error"])
        return "\n".join(parts) + "\n\n"
    for title, args in COMMANDS:
        proc = repo.git(args, index=True)
        parts += ["----- git %s -----" % title, proc.stdout.rstrip("\n")]
        if proc.returncode != 0:
            parts.append("(git exited %d: %s)" % (proc.returncode, proc.stderr.strip()))
    return "\n".join(parts) + "\n\n"


def record(paths: list, timeout: int, check_mode: bool) -> tuple[list, str]:
    infos, texts = [], []
    for path in paths:
        repo = Repo(path, timeout)
        try:
            info = describe(repo)
            infos.append(info)
            if not check_mode:
                texts.append(snapshot(repo, info))
        finally:
            repo.close()
    return infos, "".join(texts)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            staging_dir=dict(type="path"),
            repos=dict(type="list", elements="path",
                       default=["/home/core/code/gstudio", "/home/core/code/gstudio/gnowsys-ndf/qbank-lite"]),
            timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    os.umask(0o077)  # archive and staging hold private data
    p = module.params
    folder = os.path.dirname(os.path.abspath(p["dest"]))
    try:
        infos, text = record(p["repos"], p["timeout"], module.check_mode)
        if module.check_mode:
            module.exit_json(changed=True, dest=p["dest"], repos=infos)
        dest = os.path.join(private_dir(folder, p["staging_dir"]), os.path.basename(p["dest"]))
    except FileNotFoundError as exc:
        module.fail_json(msg="git is not installed on this server (%s); install it or drop the git item" % exc)
    except subprocess.TimeoutExpired as exc:
        module.fail_json(msg="git did not answer within %ss (%s)" % (p["timeout"], " ".join(exc.cmd)))
    except (UnsafeFolderError, ValueError) as exc:
        module.fail_json(msg="git state not written to %s: %s" % (p["dest"], exc), dest=p["dest"])
    data = text.encode("utf-8")
    changed = read_regular(dest) != data
    if changed:
        with atomic_output(dest) as out:
            out.write(data)
    module.exit_json(changed=changed, dest=p["dest"], repos=infos, sha256=module.sha256(dest))


def read_regular(path: str) -> bytes | None:
    """The previous log, if it is a plain file (never a link or a FIFO someone left there)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read() if stat.S_ISREG(os.fstat(f.fileno()).st_mode) else None


if __name__ == "__main__":
    main()
