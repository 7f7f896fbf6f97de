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
from hostile_git import build_hostile_checkout, git

OWNER = 500  # the "core" user of a gStudio server
SECTIONS = ("----- git status -----", "----- git diff -----", "----- git log -5 -----", "----- git branch -----")


@pytest.fixture
def hostile():
    """A dirty checkout owned by uid 500 whose config points every helper at a canary script."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the checkout must belong to another user, as on a school server")
    top = Path(tempfile.mkdtemp(prefix="clix-git-test-"))
    top.chmod(0o755)  # the owner must reach the checkout
    repo, canaries = build_hostile_checkout(top, top, OWNER)
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


def test_a_filter_name_that_cannot_be_overridden_leaves_the_checkout_unread(hostile):
    repo, canaries, top = hostile
    with open(repo / ".gitattributes", "a") as f:
        f.write("*.txt filter=a=b\n")
    git(repo, "config", "filter.a=b.clean", str(top / "canary.sh"))
    infos, log = clix_git_snapshot.record([str(repo)], 60, check_mode=False)
    assert list(canaries.iterdir()) == []
    assert not infos[0]["is_repo"] and "cannot be told to ignore ('a=b')" in log
