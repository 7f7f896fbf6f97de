"""clix_pull on the control node (library/clix_pull.py) with real rsync, through a local stand-in
for ssh: what a hostile server's tree can and cannot put into the archive, and snapshots that are
swapped in only once verified."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path

import pytest
from ansible.module_utils import clix_rsync
from ansible.module_utils.clix_settings import REDACTED
from library_module import library_module

LOCAL_RSH = Path(__file__).parent / "data" / "local-rsh"

clix_pull = library_module("clix_pull")


@pytest.fixture(autouse=True)
def local_rsync(monkeypatch):
    monkeypatch.setattr(clix_rsync, "ssh_command", lambda p: str(LOCAL_RSH))


def params(root: Path, *items: dict) -> dict:
    full = [dict(dict(kind="folder", redact=False, error=None, expect={}), **item) for item in items]
    return dict(host="school", port=22, user=None, private_key=None, ssh_args="", connection="ssh", root=str(root),
                items=full,
                bwlimit=0, compress=False, timeout=30, connect_timeout=5, rsync_path="rsync", progress_seconds=0,
                retries=0, retry_seconds=0)


def pull(root: Path, item: dict, check: bool = False) -> dict:
    p = params(root, item)
    return clix_pull.pull_all(p, check, None)[0]


def links_below(folder: Path) -> dict:
    return {str(p.relative_to(folder)): os.readlink(p) for p in sorted(folder.rglob("*")) if p.is_symlink()}


def specials_below(folder: Path) -> list:
    return [p for p in folder.rglob("*") if not (p.is_symlink() or stat.S_ISREG(p.lstat().st_mode) or p.is_dir())]


@pytest.fixture
def hostile_media(tmp_path) -> Path:
    """A media tree as a hostile server could hold it."""
    src = tmp_path / "server" / "media"
    (src / "sub" / "deep").mkdir(parents=True)
    (src / "f.txt").write_bytes(b"data")
    (src / "sub" / "deep" / "g.txt").write_bytes(b"more")
    links = {
        "sub/ok": "../f.txt",              # inside: kept
        "sub/deep/up-to-top": "../..",     # the item's own top: kept
        "dirlink": "sub/deep",             # a folder inside: kept
        "chained": "dirlink/g.txt",        # through a kept link, still inside: kept
        "abs": "/etc/passwd",              # absolute: dropped
        "zero": "/dev/zero",
        "sub/escape": "../../x",           # out by '..': dropped
        "sub/deep/m": "up-to-top/..",      # out only through a link ('..' of the top): dropped
        "loop-a": "loop-b",                # a loop never resolves: dropped
        "loop-b": "loop-a",
        'we" -> "ird': "/etc/shadow",      # a name that looks like rsync's own message
    }
    for name, target in links.items():
        os.symlink(target, src / name)
    os.mkfifo(src / "pipe")
    os.mknod(src / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    return src


KEPT = {"sub/ok": "../f.txt", "sub/deep/up-to-top": "../..", "dirlink": "sub/deep", "chained": "dirlink/g.txt"}
DROPPED = [{"path": "abs", "target": "/etc/passwd"}, {"path": "loop-a", "target": "loop-b"},
           {"path": "loop-b", "target": "loop-a"}, {"path": "sub/deep/m", "target": "up-to-top/.."},
           {"path": "sub/escape", "target": "../../x"}, {"path": 'we" -> "ird', "target": "/etc/shadow"},
           {"path": "zero", "target": "/dev/zero"}]


def test_only_links_that_stay_inside_the_item_reach_the_archive(tmp_path, hostile_media):
    root = tmp_path / "archive"
    result = pull(root, dict(name="media", src=f"{hostile_media}/", dest="gstudio/media"))
    media = root / "gstudio" / "media"
    assert result["status"] == "ok", result
    assert (media / "f.txt").read_bytes() == b"data" and (media / "sub/deep/g.txt").read_bytes() == b"more"
    assert links_below(media) == KEPT
    assert result["skipped_links"] == DROPPED
    assert "7 symbolic link(s) pointing outside the item not kept" in result["reason"]
    assert specials_below(media) == []  # no FIFO, no device, though rsync -a runs as root
    again = pull(root, dict(name="media", src=f"{hostile_media}/", dest="gstudio/media"))
    assert links_below(media) == KEPT and again["skipped_links"] == DROPPED


def test_a_link_archived_before_is_checked_again(tmp_path, hostile_media):
    root = tmp_path / "archive"
    media = root / "gstudio" / "media"
    media.mkdir(parents=True)
    os.symlink("/etc", media / "old-escape")  # put there by an older tool, or by hand
    result = pull(root, dict(name="media", src=f"{hostile_media}/", dest="gstudio/media"))
    assert not (media / "old-escape").is_symlink()
    assert {"path": "old-escape", "target": "/etc"} in result["skipped_links"]


def test_a_settings_file_linked_to_a_control_node_file_is_never_read_through(tmp_path):
    canary = tmp_path / "control-node" / "secret.txt"
    canary.parent.mkdir()
    canary.write_bytes(b"CANARY-OF-THE-CONTROL-NODE")
    server = tmp_path / "server"
    server.mkdir()
    (server / "local_settings.py").symlink_to(canary)
    root = tmp_path / "archive"
    archived = root / "gstudio" / "local_settings.py"
    archived.parent.mkdir(parents=True)
    archived.write_bytes(b"SECRET_KEY = 'REDACTED'\n")  # the copy of an earlier run
    for redact in (True, False):
        result = pull(root, dict(name="local_settings.py", kind="file", redact=redact,
                                 src=f"{server}/local_settings.py", dest="gstudio/local_settings.py"))
        assert result["status"] == "failed" and "is a symbolic link on the server" in result["reason"]
        assert result["skipped_links"] == [{"path": "local_settings.py", "target": str(canary)}]
        assert archived.read_bytes() == b"SECRET_KEY = 'REDACTED'\n"  # kept, not replaced by a link
    assert all(b"CANARY" not in p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_a_settings_file_is_redacted_and_rewritten_only_when_it_changes(tmp_path):
    server = tmp_path / "server"
    server.mkdir()
    (server / "local_settings.py").write_bytes(b"SECRET_KEY = u'abc'\nDEBUG = False\n")
    root = tmp_path / "archive"
    item = dict(name="local_settings.py", kind="file", redact=True, src=f"{server}/local_settings.py",
                dest="gstudio/local_settings.py")
    first = pull(root, item)
    archived = root / "gstudio" / "local_settings.py"
    assert first["status"] == "ok" and first["files_transferred"] == 1
    assert archived.read_bytes() == f"SECRET_KEY = u'{REDACTED}'\nDEBUG = False\n".encode()
    assert pull(root, item)["files_transferred"] == 0
    (server / "local_settings.py").write_bytes(b"SECRET_KEY = 'abc\n")  # broken: cannot be redacted
    broken = pull(root, item)
    assert broken["status"] == "failed" and "cannot be redacted" in broken["reason"]
    assert archived.read_bytes() == f"SECRET_KEY = u'{REDACTED}'\nDEBUG = False\n".encode()


def test_a_fifo_or_device_as_a_file_item_is_refused_without_blocking(tmp_path):
    server = tmp_path / "server"
    server.mkdir()
    os.mkfifo(server / "server_settings.py")
    result = pull(tmp_path / "archive", dict(name="server_settings.py", kind="file",
                                             src=f"{server}/server_settings.py", dest="gstudio/server_settings.py"))
    assert result["status"] == "failed" and "not a regular file on the server" in result["reason"]
    assert not (tmp_path / "archive" / "gstudio" / "server_settings.py").exists()


def make_dump(folder: Path, content: bytes) -> dict:
    (folder / "gstudio-mongodb").mkdir(parents=True, exist_ok=True)
    (folder / "gstudio-mongodb" / "Nodes.bson").write_bytes(content)
    return {"gstudio-mongodb/Nodes.bson": hashlib.sha256(content).hexdigest()}


def test_a_snapshot_is_swapped_in_only_once_verified(tmp_path):
    staging, root = tmp_path / "staging" / "db", tmp_path / "archive"
    expect = make_dump(staging, b"first dump")
    item = dict(name="db", kind="snapshot", src=f"{staging}/", dest="gstudio/db", expect=expect)
    assert pull(root, item)["status"] == "ok"
    archived = root / "gstudio" / "db" / "gstudio-mongodb" / "Nodes.bson"
    assert archived.read_bytes() == b"first dump"
    # The server's dump is damaged after it reported its sha256: the previous dump stays whole.
    make_dump(staging, b"second dump")
    (staging / "gstudio-mongodb" / "Nodes.bson").write_bytes(b"second dum!")
    bad = pull(root, dict(item, expect=make_dump(tmp_path / "reported", b"second dump")))
    assert bad["status"] == "failed" and "not verified, previous copy kept" in bad["reason"]
    assert "Nodes.bson differs from what the server wrote" in bad["reason"]
    assert archived.read_bytes() == b"first dump"
    good = pull(root, dict(item, expect=make_dump(staging, b"second dump")))
    assert good["status"] == "ok" and archived.read_bytes() == b"second dump"
    assert sorted(p.name for p in root.iterdir()) == ["gstudio"]  # no .incoming left behind


def test_a_snapshot_file_that_is_missing_or_a_link_is_not_verified(tmp_path):
    folder = tmp_path / "incoming"
    expect = make_dump(folder, b"dump")
    os.symlink("Nodes.bson", folder / "gstudio-mongodb" / "Link.bson")
    expect["gstudio-mongodb/Link.bson"] = expect["gstudio-mongodb/Nodes.bson"]
    expect["gstudio-mongodb/Gone.bson"] = expect["gstudio-mongodb/Nodes.bson"]
    assert clix_pull.verify_snapshot(str(folder), expect) == [
        "gstudio-mongodb/Gone.bson missing", "gstudio-mongodb/Link.bson is a symbolic link, not a regular file"]


def test_a_folder_at_a_file_items_path_is_not_pulled(tmp_path):
    server = tmp_path / "server" / "local_settings.py"
    (server / "big").mkdir(parents=True)
    (server / "big" / "data").write_bytes(b"x" * 4096)
    root = tmp_path / "archive"
    result = pull(root, dict(name="local_settings.py", kind="file", src=str(server), dest="gstudio/local_settings.py"))
    assert result["status"] == "failed" and "not a regular file on the server (a folder" in result["reason"]
    assert result["bytes_received"] < 4096
    assert [p.name for p in root.iterdir()] == []  # the hidden work folder is gone too


def test_a_pulled_file_is_on_disk_before_it_is_moved_into_place(tmp_path, monkeypatch):
    server = tmp_path / "server"
    server.mkdir()
    (server / "git-commit.log").write_bytes(b"On branch dlkit\n")
    events, real_fsync, real_rename = [], os.fsync, os.rename

    def fsync(fd):
        path = os.readlink("/proc/self/fd/%d" % fd)
        events.append(("fsync", path, Path(path).read_bytes() if os.path.isfile(path) else None))
        return real_fsync(fd)

    def rename(src, dst):
        events.append(("rename", str(src), str(dst)))
        return real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    root = tmp_path / "archive"
    final = root / "gstudio" / "git-commit.log"
    result = pull(root, dict(name="git-commit.log", kind="file", src=f"{server}/git-commit.log", dest="gstudio/git-commit.log"))
    assert result["status"] == "ok" and final.read_bytes() == b"On branch dlkit\n"
    move = next(e for e in events if e[0] == "rename" and e[2] == str(final))
    at = events.index(move)
    assert ("fsync", move[1], b"On branch dlkit\n") in events[:at], events
    assert ("fsync", str(final.parent), None) in events[at:], events


def test_a_host_with_a_local_connection_is_pulled_from_local_files_without_ssh(tmp_path, hostile_media, monkeypatch):
    def no_ssh(p):
        raise AssertionError("ssh used for a local connection")
    monkeypatch.setattr(clix_rsync, "ssh_command", no_ssh)
    root = tmp_path / "archive"
    p = dict(params(root, dict(name="media", src=f"{hostile_media}/", dest="gstudio/media")), connection="local")
    result = clix_pull.pull_item(p, p["items"][0], False)
    assert result["status"] == "ok", result
    pulled = root / "gstudio" / "media"
    assert (pulled / "f.txt").read_bytes() == b"data" and (pulled / "sub/deep/g.txt").read_bytes() == b"more"
    assert specials_below(pulled) == []
    assert links_below(pulled) == KEPT
    assert sorted(result["skipped_links"], key=lambda d: d["path"]) == DROPPED


def test_items_that_share_a_folder_never_undo_each_other(tmp_path, monkeypatch):
    """The heartbeat the run takes and the server's own heartbeats share gstudio/system-heartbeat:
    an item absent on the server must not remove, while the other is still being pulled, the
    folder that item writes into (its empty folders go once every item is done)."""
    def fake_rsync(p, src, dest, check, extra, progress=None):
        if "missing" in src:
            return 23, "", 'rsync: change_dir "%s" failed: No such file or directory (2)' % src
        time.sleep(0.5)  # still transferring when the absent item is done
        with open(os.path.join(dest, "h.log"), "wb") as f:
            f.write(b"x")
        return 0, "Number of regular files transferred: 1\n", ""
    monkeypatch.setattr(clix_pull, "rsync", fake_rsync)
    root = tmp_path / "archive"
    p = params(root, dict(name="taken", src="/staging/system-heartbeat/", dest="gstudio/system-heartbeat"),
               dict(name="absent", src="/data/missing/", dest="gstudio/system-heartbeat"),
               dict(name="also absent", src="/data/missing-too/", dest="gstudio/nginx-logs"))
    results = clix_pull.pull_all(p, False, None)
    assert [r["status"] for r in results] == ["ok", "absent", "absent"], results
    assert (root / "gstudio" / "system-heartbeat" / "h.log").read_bytes() == b"x"
    assert not (root / "gstudio" / "nginx-logs").exists()  # an absent item leaves no empty folder
    assert all(clix_pull.TIDY not in r for r in results)


def test_a_pull_cut_off_by_the_link_is_tried_again_and_resumes_what_it_had(tmp_path, monkeypatch):
    """rsync's exit for a stalled link (30) twice, then the rest: each try starts from what the
    last one left (here: the partial file rsync keeps), and the item says what it took."""
    src = tmp_path / "server" / "media"
    src.mkdir(parents=True)
    (src / "big.mp4").write_bytes(b"v" * 100)
    real, seen, shown = clix_pull.rsync, [], []

    def cut_twice(p, src_, dest, check, extra, progress=None, received=None):
        seen.append(sorted(str(f.relative_to(dest)) for f in Path(dest).rglob("*")))
        if len(seen) <= 2:
            partial = Path(dest) / clix_rsync.PARTIAL_DIR
            partial.mkdir(exist_ok=True)
            (partial / "big.mp4").write_bytes(b"v" * 10 * len(seen))
            return 30, "", "rsync error: timeout in data send/receive (code 30) at io.c(201)\n"
        return real(p, src_, dest, check, extra, progress, received)
    monkeypatch.setattr(clix_pull, "rsync", cut_twice)
    monkeypatch.setattr(clix_pull.time, "sleep", lambda s: shown.append("slept %g" % s))
    p = dict(params(tmp_path / "archive", dict(name="media", src=f"{src}/", dest="gstudio/media")),
             connection="local", retries=2, retry_seconds=7)
    result = clix_pull.pull_all(p, False, shown.append)[0]
    assert result["status"] == "ok", result
    assert seen == [[], [".rsync-partial", ".rsync-partial/big.mp4"], [".rsync-partial", ".rsync-partial/big.mp4"]]
    assert (tmp_path / "archive" / "gstudio" / "media" / "big.mp4").read_bytes() == b"v" * 100
    assert len(result["retried"]) == 2 and result["retried"][0].startswith("rsync exit 30 (timeout in data send/receive)")
    assert result["reason"].startswith("after 3 tries, the first failed: rsync exit 30"), result["reason"]
    assert shown == ["pulling media: %s; trying again in 7 s (1 of 2)" % result["retried"][0], "slept 7",
                     "pulling media: %s; trying again in 7 s (2 of 2)" % result["retried"][1], "slept 7"]


@pytest.mark.parametrize("rc,err,tries", [
    (255, "ssh: connect to host 10.0.0.9 port 22: Connection timed out\r\nrsync: connection unexpectedly closed", 3),
    (12, "rsync: connection unexpectedly closed (0 bytes received so far) [Receiver]", 3),
    (255, "Host key verification failed.\r\nrsync: connection unexpectedly closed", 1),
    (255, "root@10.0.0.9: Permission denied (publickey).", 1),
    (23, 'rsync: [sender] send_files failed to open "/data/media/x": Permission denied (13)', 1),
])
def test_only_what_a_dropped_link_explains_is_tried_again(tmp_path, monkeypatch, rc, err, tries):
    calls = []
    monkeypatch.setattr(clix_pull, "rsync", lambda *args, **kwargs: calls.append(1) or (rc, "", err))
    p = dict(params(tmp_path / "archive", dict(name="media", src="/data/media/", dest="gstudio/media")),
             retries=2, retry_seconds=0)
    result = clix_pull.pull_all(p, False, None)[0]
    assert len(calls) == tries and result["status"] == "failed"
    assert result["reason"].startswith("rsync exit %d" % rc) and len(result["retried"]) == tries - 1
    assert clix_pull.TRANSIENT not in result


def test_folder_items_of_one_base_share_one_rsync_and_each_keeps_its_own_result(tmp_path, hostile_media, monkeypatch):
    """The folder items below one archive folder are pulled by one rsync (-R), yet each ends as it
    would alone: its own tree, links, excludes, totals and status (absent, or a failure of its own
    that leaves the others ok)."""
    server = hostile_media.parent
    for rel, data in {"logs/l1": b"log", "logs/old/x": b"left out", "media/old/y": b"kept", "real/sa/f": b"sa"}.items():
        (server / rel).parent.mkdir(parents=True, exist_ok=True)
        (server / rel).write_bytes(data)
    os.symlink("real", server / "qbank")  # a folder on the way to an item's source, a link on the server
    items = [dict(name="media", src=f"{hostile_media}/", dest="gstudio/media"),
             dict(name="logs", src=f"{server}/logs/", dest="gstudio/logs", exclude=["/old"]),  # logs/old only
             dict(name="qbank/sa", src=f"{server}/qbank/sa/", dest="gstudio/qbank/sa"),
             dict(name="nginx", src=f"{server}/nginx/", dest="gstudio/nginx")]
    calls = []
    for name in ("rsync", "rsync_listed"):
        real = getattr(clix_pull, name)
        monkeypatch.setattr(clix_pull, name, lambda *a, real=real, name=name, **k: calls.append(name) or real(*a, **k))
    shared, root = params(tmp_path / "a", *items), tmp_path / "a"
    results = clix_pull.pull_all(shared, False, None)
    assert calls == ["rsync_listed"]
    alone = [clix_pull.pull_all(params(tmp_path / "b", item), False, None)[0] for item in items]
    same = ("name", "status", "reason", "files_transferred", "total_bytes", "skipped_links")
    assert [{k: r.get(k) for k in same} for r in results] == [{k: r.get(k) for k in same} for r in alone]
    assert [r["status"] for r in results] == ["ok", "ok", "ok", "absent"] and results[0]["total_bytes"] > 0

    def tree(top: Path) -> dict:
        return {str(f.relative_to(top)): os.readlink(f) if f.is_symlink() else f.read_bytes() if f.is_file() else None
                for f in sorted(top.rglob("*"))}
    assert tree(root) == tree(tmp_path / "b") and b"left out" not in tree(root).values()
    assert (root / "gstudio/media/old/y").read_bytes() == b"kept" and not (root / "gstudio/nginx").exists()
    calls.clear()
    assert [r["files_transferred"] for r in clix_pull.pull_all(shared, False, None)] == [0, 0, 0, 0]
    assert calls == ["rsync_listed"]
    # The archive holds a folder where the server now has logs' file: logs fails, alone; the others do not.
    (root / "gstudio/logs/l1").unlink()
    (root / "gstudio/logs/l1/in-the-way").mkdir(parents=True)
    (hostile_media / "f.txt").write_bytes(b"new data")
    calls.clear()
    results = clix_pull.pull_all(shared, False, None)
    assert [r["status"] for r in results] == ["ok", "failed", "ok", "absent"], results
    assert results[1]["reason"].startswith("rsync exit 23") and results[0]["files_transferred"] == 1
    assert (root / "gstudio/media/f.txt").read_bytes() == b"new data" and links_below(root / "gstudio/media") == KEPT


def test_a_shared_rsync_cut_off_by_the_link_is_tried_again_for_all_its_items(tmp_path, monkeypatch):
    for name in ("media", "logs"):
        (tmp_path / "server" / name).mkdir(parents=True)
        (tmp_path / "server" / name / "f").write_bytes(name.encode())
    items = [dict(name=name, src=f"{tmp_path}/server/{name}/", dest=f"gstudio/{name}") for name in ("media", "logs")]
    real, shown = clix_pull.rsync_listed, []
    cut = {"tries": 1}

    def cut_off(*args, **kwargs):
        if cut["tries"]:
            cut["tries"] -= 1
            return 30, "", "rsync error: timeout in data send/receive (code 30) at io.c(201)\n", []
        return real(*args, **kwargs)
    monkeypatch.setattr(clix_pull, "rsync_listed", cut_off)
    monkeypatch.setattr(clix_pull.time, "sleep", lambda s: shown.append("slept %g" % s))
    p = dict(params(tmp_path / "archive", *items), retries=1, retry_seconds=7)
    results = clix_pull.pull_all(p, False, shown.append)
    assert [(r["status"], r["files_transferred"]) for r in results] == [("ok", 1), ("ok", 1)], results
    assert all(r["reason"].startswith("after 2 tries, the first failed: rsync exit 30") for r in results)
    assert shown == ["pulling media, logs: %s; trying again in 7 s (1 of 1)" % results[0]["retried"][0], "slept 7"]
    cut["tries"] = 2  # the link never comes back: every item fails with the link's reason, none pulled alone
    monkeypatch.setattr(clix_pull, "rsync", lambda *a, **k: pytest.fail("pulled alone after the link dropped"))
    results = clix_pull.pull_all(p, False, None)
    assert [r["status"] for r in results] == ["failed", "failed"]
    assert all(r["reason"].startswith("rsync exit 30") and len(r["retried"]) == 1 for r in results), results


def test_snapshots_pulled_by_one_rsync_are_each_swapped_in_only_once_verified(tmp_path, monkeypatch):
    staging, root = tmp_path / "staging", tmp_path / "archive"
    calls = []
    for name in ("rsync", "rsync_listed"):
        real = getattr(clix_pull, name)
        monkeypatch.setattr(clix_pull, name, lambda *a, real=real, name=name, **k: calls.append(name) or real(*a, **k))

    def snapshots(db: bytes, pg: bytes, db_reported: bytes | None = None) -> list:
        expect = {"db": make_dump(staging / "db", db), "pg": make_dump(staging / "pg", pg)}
        if db_reported:  # the server's dump damaged after it reported its sha256
            expect["db"] = make_dump(tmp_path / "reported", db_reported)
        return clix_pull.pull_all(params(root, *(dict(name=n, kind="snapshot", src=f"{staging}/{n}/", dest=f"gstudio/{n}",
                                                      expect=expect[n]) for n in ("db", "pg"))), False, None)

    def archived(name: str) -> bytes:
        return (root / "gstudio" / name / "gstudio-mongodb" / "Nodes.bson").read_bytes()
    (staging / "pg" / "old").mkdir(parents=True)
    (staging / "pg" / "old" / "gone.sql").write_bytes(b"not in the next dump")
    first = snapshots(b"db 1", b"pg 1")
    assert [(r["status"], r["files_transferred"]) for r in first] == [("ok", 1), ("ok", 2)], first
    assert calls == ["rsync_listed"] and archived("db") == b"db 1" and archived("pg") == b"pg 1"
    (staging / "pg" / "old" / "gone.sql").unlink()
    bad = snapshots(b"db 2", b"pg 2", db_reported=b"db 2!")
    assert [r["status"] for r in bad] == ["failed", "ok"] and "not verified, previous copy kept" in bad[0]["reason"]
    assert archived("db") == b"db 1" and archived("pg") == b"pg 2" and not (root / "gstudio/pg/old/gone.sql").exists()
    assert [r["status"] for r in snapshots(b"db 2", b"pg 2")] == ["ok", "ok"] and archived("db") == b"db 2"
    assert sorted(p.name for p in root.iterdir()) == ["gstudio"]  # no .incoming left behind
    assert calls == ["rsync_listed"] * 3


def test_file_items_fetched_by_one_rsync_are_each_checked_redacted_and_installed_on_their_own(tmp_path, monkeypatch):
    canary = tmp_path / "control-node" / "secret.txt"
    canary.parent.mkdir()
    canary.write_bytes(b"CANARY-OF-THE-CONTROL-NODE")
    server = tmp_path / "server"
    (server / "settings").mkdir(parents=True)
    (server / "settings" / "local_settings.py").write_bytes(b"SECRET_KEY = u'abc'\n")
    os.mkfifo(server / "settings" / "server_settings.py")
    (server / "git-commit.log").symlink_to(canary)
    (server / "folder.py" / "big").mkdir(parents=True)
    items = [dict(name="local_settings.py", kind="file", redact=True, src=f"{server}/settings/local_settings.py",
                  dest="gstudio/local_settings.py"),
             dict(name="server_settings.py", kind="file", src=f"{server}/settings/server_settings.py",
                  dest="gstudio/server_settings.py"),
             dict(name="git-commit.log", kind="file", src=f"{server}/git-commit.log", dest="gstudio/git-commit.log"),
             dict(name="folder.py", kind="file", src=f"{server}/folder.py", dest="gstudio/folder.py"),
             dict(name="gone.log", kind="file", src=f"{server}/gone.log", dest="gstudio/gone.log")]
    calls = []
    for name in ("rsync", "rsync_listed"):
        real = getattr(clix_pull, name)
        monkeypatch.setattr(clix_pull, name, lambda *a, real=real, name=name, **k: calls.append(name) or real(*a, **k))
    root = tmp_path / "a"
    results = clix_pull.pull_all(params(root, *items), False, None)
    assert calls == ["rsync_listed"]
    alone = [clix_pull.pull_all(params(tmp_path / "b", item), False, None)[0] for item in items]
    same = ("name", "status", "reason", "files_transferred", "skipped_links")
    assert [{k: r.get(k) for k in same} for r in results] == [{k: r.get(k) for k in same} for r in alone]
    assert [r["status"] for r in results] == ["ok", "failed", "failed", "failed", "absent"], results
    assert (root / "gstudio" / "local_settings.py").read_bytes() == f"SECRET_KEY = u'{REDACTED}'\n".encode()
    assert sorted(str(f.relative_to(root)) for f in root.rglob("*")) == ["gstudio", "gstudio/local_settings.py"]
    calls.clear()
    assert clix_pull.pull_all(params(root, *items), False, None)[0]["files_transferred"] == 0
    assert calls == ["rsync_listed"]
