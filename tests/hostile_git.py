"""A git checkout built to attack whoever reads it: its config points the pager, fsmonitor,
external diff, a diff driver's command and textconv, filter drivers (one through an included
file), signature checks and hooks at a canary script that leaves a file behind when it runs. Its
tree is dirty, so `git status` and `git diff` would run the clean filters."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git(repo: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null", GIT_AUTHOR_NAME="t",
               GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    return subprocess.run(["git", "-c", "safe.directory=*", "-C", str(repo), *args], check=True,
                          capture_output=True, env=env, **kwargs)


def add_signed_commit(repo: Path) -> None:
    """A commit carrying a (bogus) signature, so that `log --show-signature` would run gpg."""
    body = git(repo, "cat-file", "commit", "HEAD").stdout.decode()
    head, _, message = body.partition("\n\n")
    signed = head + "\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n -----END PGP SIGNATURE-----\n\n" + message
    new = git(repo, "hash-object", "-t", "commit", "-w", "--stdin", input=signed.encode()).stdout.decode().strip()
    git(repo, "update-ref", "HEAD", new)


def build_hostile_checkout(top: Path, seen_as: Path, owner: int) -> tuple[Path, Path]:
    """Build it in top (seen_as is top's path on the server that reads it); return (checkout,
    folder where each canary run leaves a file)."""
    canaries = top / "canaries"
    canaries.mkdir(mode=0o777)
    canaries.chmod(0o777)
    canary = seen_as / "canary.sh"
    (top / "canary.sh").write_text('#!/bin/sh\ntouch "%s/ran-$$"\ncat\n' % (seen_as / "canaries"))
    (top / "canary.sh").chmod(0o755)
    repo = top / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "master")
    (repo / ".gitattributes").write_text("*.dat filter=evil diff=evil\n*.txt filter=included\n")
    (repo / "a.txt").write_text("hello\n")
    (repo / "b.dat").write_text("data\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    add_signed_commit(repo)
    (top / "included.cfg").write_text('[filter "included"]\n\tprocess = %s\n\tclean = %s\n' % (canary, canary))
    for key, value in (("diff.external", canary), ("core.fsmonitor", canary), ("core.pager", canary),
                       ("pager.status", canary), ("filter.evil.clean", canary), ("filter.evil.smudge", canary),
                       ("filter.evil.required", "true"), ("diff.evil.textconv", canary),
                       ("diff.evil.command", canary), ("log.showSignature", "true"), ("gpg.program", canary),
                       ("core.hooksPath", seen_as / "hooks"), ("include.path", seen_as / "included.cfg")):
        git(repo, "config", key, str(value))
    (repo / "a.txt").write_text("hello\nchanged\n")
    (repo / "b.dat").write_text("data\nmore\n")
    subprocess.run(["chown", "-R", "%d:%d" % (owner, owner), str(repo)], check=True)
    return repo, canaries
