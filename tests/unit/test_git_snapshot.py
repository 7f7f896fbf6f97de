"""clix_git_snapshot reads a hostile checkout as data: git runs as the checkout's owner and no
program the repository's config names (pager, fsmonitor, external diff, textconv, filters,
signature checks) ever runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import clix_git_snapshot
import pytest

OWNER = 500  # the "core" user of a gStudio server
SECTIONS = ("----- git status -----", "----- git diff -----", "----- git log -5 -----", "----- git branch -----")


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


@pytest.fixture
def hostile():
    """A dirty checkout owned by uid 500 whose config points every helper at a canary script."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the checkout must belong to another user, as on a school server")
    top = Path(tempfile.mkdtemp(prefix="clix-git-test-"))
    top.chmod(0o755)  # the owner must reach the checkout
    canaries = top / "canaries"
    canaries.mkdir(mode=0o777)
    canaries.chmod(0o777)
    canary = top / "canary.sh"
    canary.write_text('#!/bin/sh\ntouch "%s/ran-$$"\ncat\n' % canaries)
    canary.chmod(0o755)
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
                       ("core.hooksPath", str(top / "hooks")), ("include.path", str(top / "included.cfg"))):
        git(repo, "config", key, str(value))
    (repo / "a.txt").write_text("hello\nchanged\n")  # dirty, so status and diff would clean them
    (repo / "b.dat").write_text("data\nmore\n")
    subprocess.run(["chown", "-R", "%d:%d" % (OWNER, OWNER), str(repo)], check=True)
    yield repo, canaries, top
    shutil.rmtree(top)


def test_the_hostile_checkout_runs_its_canary_under_plain_git(hostile):
    """The fixture is really hostile: an unguarded `git status; git diff; git log` runs the canary."""
    repo, canaries, _ = hostile
    for args in (["status"], ["diff"], ["log", "-1"]):
        subprocess.run(["git", "-c", "safe.directory=*", "-C", str(repo), *args], capture_output=True)
    assert len(list(canaries.iterdir())) >= 3


def test_a_hostile_checkout_is_recorded_and_runs_nothing(hostile):
    repo, canaries, _ = hostile
    infos, log = clix_git_snapshot.record([str(repo)], 60, check_mode=False)
    assert list(canaries.iterdir()) == []
    assert [s for s in SECTIONS if log.count(s) == 1] == list(SECTIONS)
    assert "modified:   a.txt" in log and "+changed" in log and "+more" in log and "first" in log
    assert infos[0]["dirty"] is True and infos[0]["branch"] == "master"
    assert "dubious ownership" not in log


def test_git_runs_as_the_owner_of_the_checkout(hostile, monkeypatch):
    repo, _, top = hostile
    spy, uids = top / "bin", top / "uids"
    spy.mkdir()
    uids.touch(mode=0o666)
    uids.chmod(0o666)
    (spy / "git").write_text('#!/bin/sh\nid -u >> %s\nexec %s "$@"\n' % (uids, shutil.which("git")))
    (spy / "git").chmod(0o755)
    monkeypatch.setattr(clix_git_snapshot, "PATH", "%s:%s" % (spy, clix_git_snapshot.PATH))
    infos, log = clix_git_snapshot.record([str(repo)], 60, check_mode=False)
    assert set(uids.read_text().split()) == {str(OWNER)}
    assert infos[0]["user"] != "root" and "+changed" in log
