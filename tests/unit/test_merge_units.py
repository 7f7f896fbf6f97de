"""clix_merge: a field archive folded into the central one, verified first, nothing lost or
duplicated, order-independent, idempotent, and whole again after a SIGKILL half-way."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import stat
from pathlib import Path

import pytest
from ansible.module_utils import clix_layout as layout
from ansible.module_utils.clix_manifest import differences, file_entries, write
from library_module import library_module

clix_merge = library_module("clix_merge")

ITEMS = [dict(name="db", dest="gstudio/db", kind="snapshot"), dict(name="media", dest="gstudio/media"),
         dict(name="postgres-dump", dest="gstudio/postgres-dump", kind="snapshot"),
         dict(name="git-commit.log", dest="gstudio/git-commit.log", kind="file")]
T1, T2 = "2026-03-01T10:00:00+00:00", "2026-11-20T10:00:00+00:00"


def make_school(root: Path, folder: str, files: dict, when: str, kind: str = "collected", state: str = "mz",
                stamp: str = "") -> Path:
    school = Path(layout.kind_root(str(root), dict(kind=kind, year=2026, state=state, folder=folder, stamp=stamp)))
    for rel, data in files.items():
        (school / rel).parent.mkdir(parents=True, exist_ok=True)
        (school / rel).write_bytes(data)
    items = {i["name"]: dict(status="ok", collected_at=when) for i in ITEMS}
    write(str(school), dict(format=1, school=dict(state=state, server_id=folder.split("-")[1]), items=items,
                            run=dict(started=when, ended=when), top_folders=["gstudio", "unplatform"],
                            files=file_entries(str(school), ["gstudio", "unplatform"], None)))
    return school


def field_archives(tmp_path: Path) -> tuple[Path, Path]:
    """A (March) and B (November): B has a file added, a media file changed, a newer db dump with one
    collection fewer; the settings are the same."""
    a, b = tmp_path / "A", tmp_path / "B"
    common = {"gstudio/media/a.png": b"a" * 1000, "gstudio/git-commit.log": b"On branch dlkit\n"}
    make_school(a, "2031001-mz1", {**common, "gstudio/media/c.txt": b"old text",
                                   "gstudio/db/gstudio-mongodb/Benchmarks.bson": b"bench-march",
                                   "gstudio/db/gstudio-mongodb/Dropped.bson": b"gone by november",
                                   "gstudio/postgres-dump/pg_dump_all.sql": b"-- march"}, T1)
    make_school(b, "2031001-mz1", {**common, "gstudio/media/c.txt": b"new text", "gstudio/media/added.txt": b"new",
                                   "gstudio/db/gstudio-mongodb/Benchmarks.bson": b"bench-november",
                                   "gstudio/postgres-dump/pg_dump_all.sql": b"-- march"}, T2)
    make_school(a, "2031002-mz2", {"gstudio/media/only-a.txt": b"A"}, T1)
    make_school(b, "2031003-mz3", {"gstudio/media/only-b.txt": b"B"}, T2)
    return a, b


def tree(root: Path) -> dict:
    """{relpath: sha256} of every data file (the manifests left out: they name the merge's sources)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file() and p.name != "MANIFEST.json"}


def run(source: Path, dest: Path, check: bool = False) -> list:
    return clix_merge.merge(str(source), str(dest), ITEMS, source.name, check)


def verified(root: Path) -> None:
    schools = layout.school_roots(str(root), kinds=layout.KINDS)
    assert schools
    for path, _ in schools:
        manifest = json.loads((Path(path) / "MANIFEST.json").read_text())
        assert differences(path, manifest) == [], path


def test_a_then_b_and_b_then_a_give_the_same_files_and_lose_none(tmp_path):
    a, b = field_archives(tmp_path)
    ab, ba = tmp_path / "AB", tmp_path / "BA"
    run(a, ab), run(b, ab)
    run(b, ba), run(a, ba)
    assert tree(ab) == tree(ba)
    verified(ab), verified(ba)
    school = ab / "2026/mz/2031001-mz1"
    march = school / "history" / "20260301T100000Z" / "gstudio"
    # the newer dump is current, whole: the collection dropped since March is only in history
    assert (school / "gstudio/db/gstudio-mongodb/Benchmarks.bson").read_bytes() == b"bench-november"
    assert not (school / "gstudio/db/gstudio-mongodb/Dropped.bson").exists()
    assert (march / "db/gstudio-mongodb/Benchmarks.bson").read_bytes() == b"bench-march"
    assert (march / "db/gstudio-mongodb/Dropped.bson").read_bytes() == b"gone by november"
    # a changed media file is kept as both; an added one is added; identical ones once
    assert (school / "gstudio/media/c.txt").read_bytes() == b"new text"
    assert (march / "media/c.txt").read_bytes() == b"old text"
    assert (school / "gstudio/media/added.txt").exists()
    assert not (march / "media/a.png").exists() and not (march / "postgres-dump").exists()
    # every file of both field archives is in the central archive, current or in history
    central = set(tree(ab).values())
    assert set(tree(a).values()) | set(tree(b).values()) <= central
    assert (ab / "2026/mz/2031002-mz2").is_dir() and (ab / "2026/mz/2031003-mz3").is_dir()


def test_the_manifest_records_where_each_file_came_from(tmp_path):
    a, b = field_archives(tmp_path)
    central = tmp_path / "C"
    run(a, central), run(b, central)
    manifest = json.loads((central / "2026/mz/2031001-mz1/MANIFEST.json").read_text())
    origins = manifest["origins"]
    assert origins["gstudio/media/a.png"] == [dict(archive="A", run=T1), dict(archive="B", run=T2)]
    assert origins["gstudio/media/c.txt"] == [dict(archive="B", run=T2)]
    assert origins["history/20260301T100000Z/gstudio/media/c.txt"] == [dict(archive="A", run=T1)]
    assert manifest["items"]["db"]["collected_at"] == T2


def test_merging_twice_changes_nothing(tmp_path):
    a, b = field_archives(tmp_path)
    central = tmp_path / "C"
    run(a, central), run(b, central)
    before = {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in central.rglob("*") if p.is_file()}
    again = run(b, central) + run(a, central)
    assert {s["status"] for s in again} == {"unchanged"}
    assert sum(s["bytes_copied"] for s in again) == 0
    assert {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in central.rglob("*") if p.is_file()} == before


def test_a_school_that_fails_verification_is_refused_and_its_central_copy_untouched(tmp_path):
    a, b = field_archives(tmp_path)
    central = tmp_path / "C"
    run(a, central)
    before = {str(p): p.read_bytes() for p in central.rglob("*") if p.is_file()}
    dump = b / "2026/mz/2031001-mz1/gstudio/db/gstudio-mongodb/Benchmarks.bson"
    data = bytearray(dump.read_bytes())
    data[3] ^= 0x01
    dump.write_bytes(bytes(data))
    results = {s["path"]: s for s in run(b, central)}
    refused = results["2026/mz/2031001-mz1"]
    assert refused["status"] == "refused" and "Benchmarks.bson" in refused["problems"][0]
    assert results["2026/mz/2031003-mz3"]["status"] == "merged"  # the others still merge
    after = {str(p): p.read_bytes() for p in central.rglob("*") if p.is_file() and "2031003-mz3" not in str(p)}
    assert after == before
    assert not list(central.rglob("*" + clix_merge.STAGE_SUFFIX + "*"))


@pytest.mark.parametrize("damage", ["missing", "unlisted", "no manifest", "no hash", "not json"])
def test_a_source_school_that_does_not_match_its_manifest_is_refused(tmp_path, damage):
    a, _ = field_archives(tmp_path)
    school = a / "2026/mz/2031001-mz1"
    if damage == "missing":
        (school / "gstudio/media/c.txt").unlink()
    elif damage == "unlisted":
        (school / "gstudio/media/stray.txt").write_bytes(b"x")
    elif damage == "no hash":
        manifest = json.loads((school / "MANIFEST.json").read_text())
        del manifest["files"]["gstudio/media/c.txt"]["sha256"]
        (school / "MANIFEST.json").write_text(json.dumps(manifest))
    elif damage == "not json":
        (school / "MANIFEST.json").write_text("{not json")
    else:
        (school / "MANIFEST.json").unlink()
    results = {s["path"]: s for s in run(a, tmp_path / "C")}
    assert results["2026/mz/2031001-mz1"]["status"] == "refused"
    assert not (tmp_path / "C/2026/mz/2031001-mz1").exists()


def test_links_and_special_files_are_never_followed_and_are_reported(tmp_path):
    a, _ = field_archives(tmp_path)
    secret = tmp_path / "secret"
    secret.write_bytes(b"not school data")
    media = a / "2026/mz/2031002-mz2/gstudio/media"
    (media / "link").symlink_to(secret)
    (media / "dirlink").symlink_to(tmp_path)
    os.mkfifo(media / "fifo")
    central = tmp_path / "C"
    results = {s["path"]: s for s in run(a, central)}
    school = results["2026/mz/2031002-mz2"]
    assert school["status"] == "merged"
    assert {s.split(" ")[0] for s in school["skipped"]} == {"gstudio/media/link", "gstudio/media/dirlink",
                                                             "gstudio/media/fifo"}
    copied = central / "2026/mz/2031002-mz2/gstudio/media"
    assert sorted(p.name for p in copied.iterdir()) == ["only-a.txt"]
    for path in [central, *central.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


def test_quarantined_derived_and_replaced_folders_merge_the_same_way(tmp_path):
    a, b = field_archives(tmp_path)
    make_school(a, "2031004-mz4", {"gstudio/media/q.txt": b"q"}, T1, kind="quarantine")
    # What a field laptop's restore with overwrite collected of the server before replacing it.
    make_school(b, "2031001-mz1", {"gstudio/media/before.txt": b"held"}, T2, kind="replaced", stamp="20261120T101500Z")
    derived = Path(layout.derived_root(str(b), 2026, "mz", "2031001-mz1"))
    (derived / "activity-timestamp-csvs").mkdir(parents=True)
    (derived / "activity-timestamp-csvs/u.csv").write_bytes(b"user,time\n")
    central = tmp_path / "C"
    run(a, central), run(b, central)
    assert (central / "quarantine/2026/mz/2031004-mz4/gstudio/media/q.txt").read_bytes() == b"q"
    assert (central / "derived/2026/mz/2031001-mz1/activity-timestamp-csvs/u.csv").read_bytes() == b"user,time\n"
    replaced = central / "replaced/20261120T101500Z/2026/mz/2031001-mz1"
    assert (replaced / "gstudio/media/before.txt").read_bytes() == b"held"
    assert json.loads((replaced / "MANIFEST.json").read_text())["files"]["gstudio/media/before.txt"]["size"] == 4
    verified(central)


def test_check_mode_reports_and_writes_nothing(tmp_path):
    a, b = field_archives(tmp_path)
    central = tmp_path / "C"
    run(a, central)
    before = tree(central)
    results = {s["path"]: s for s in run(b, central, check=True)}
    assert results["2026/mz/2031001-mz1"]["added"] >= 2 and results["2026/mz/2031001-mz1"]["replaced"] >= 1
    assert tree(central) == before and not (central / "2026/mz/2031003-mz3").exists()


def killed_after(n: int, call: str, source: Path, central: Path, two_renames: bool = False) -> None:
    """Merge source into central in a child process that SIGKILLs itself at the n-th call of os.<call>
    (with two_renames, as on a file system that cannot exchange two folders in one step)."""
    pid = os.fork()
    if pid == 0:
        if two_renames:
            clix_merge.exchange = lambda a, b: False
        real, count = getattr(os, call), [0]

        def dying(*args, **kwargs):
            count[0] += 1
            if count[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)

        setattr(os, call, dying)
        try:
            run(source, central)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


@pytest.mark.parametrize("call,n", [("fsync", 1), ("copy_file_range", 3), ("fsync", 2), ("rename", 1), ("rename", 2),
                                    ("rename", 3), ("link", 3), ("unlink", 1), ("mkdir", 2)])
def test_a_merge_killed_half_way_leaves_a_verifiable_archive_and_a_rerun_finishes_it(tmp_path, call, n):
    a, b = field_archives(tmp_path)
    whole, central = tmp_path / "whole", tmp_path / "C"
    run(a, whole)
    full = sum(s["bytes_copied"] for s in run(b, whole))
    run(a, central)
    killed_after(n, call, b, central, two_renames=call == "rename" and n == 3)
    verified(central)
    rerun = sum(s["bytes_copied"] for s in run(b, central))
    verified(central)
    assert tree(central) == tree(whole)
    assert not [p for p in central.rglob("*") if p.name.startswith(".")]
    for school in ("2026/mz/2031001-mz1", "2026/mz/2031003-mz3"):
        got = json.loads((central / school / "MANIFEST.json").read_text())
        want = json.loads((whole / school / "MANIFEST.json").read_text())
        assert got["origins"] == want["origins"] and got["items"] == want["items"]
    # what the killed run had already copied is recognised by its sha256, not copied again
    assert rerun < full if (call, n) == ("copy_file_range", 3) else rerun <= full


def test_exchange_swaps_two_folders_in_one_step(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    (tmp_path / "a/x").write_text("a"), (tmp_path / "b/x").write_text("b")
    assert clix_merge.exchange(str(tmp_path / "a"), str(tmp_path / "b"))
    assert (tmp_path / "a/x").read_text() == "b" and (tmp_path / "b/x").read_text() == "a"


def test_a_link_in_the_central_school_never_takes_a_copy_outside(tmp_path):
    a, b = field_archives(tmp_path)
    central, outside = tmp_path / "C", tmp_path / "outside"
    outside.mkdir()
    run(a, central)
    media = central / "2026/mz/2031001-mz1/gstudio/media"
    for p in media.iterdir():
        p.unlink()
    media.rmdir()
    media.symlink_to(outside)
    results = {s["path"]: s for s in run(b, central)}
    assert results["2026/mz/2031001-mz1"]["status"] == "refused"
    assert list(outside.iterdir()) == []


def test_across_file_systems_the_copy_falls_back_to_reads_and_writes(tmp_path, monkeypatch):
    def cross_device(*args):
        raise OSError(errno.EXDEV, "Invalid cross-device link")
    monkeypatch.setattr(os, "copy_file_range", cross_device)
    a, b = field_archives(tmp_path)
    central = tmp_path / "C"
    run(a, central), run(b, central)
    verified(central)
    assert (central / "2026/mz/2031001-mz1/gstudio/media/c.txt").read_bytes() == b"new text"


def test_a_folder_with_a_manifest_outside_the_layout_is_reported_not_merged(tmp_path):
    a, _ = field_archives(tmp_path)
    odd = a / "quarantine/2026/2031002-mz2--server-says-2031003-mz3"
    odd.mkdir(parents=True)
    (odd / "MANIFEST.json").write_text("{}")
    results = {s["path"]: s for s in run(a, tmp_path / "C")}
    assert results["quarantine/2026/2031002-mz2--server-says-2031003-mz3"]["status"] == "refused"
    assert results["2026/mz/2031001-mz1"]["status"] == "merged"
    assert not (tmp_path / "C/quarantine").exists()


def with_link(school: Path, rel: str, target: str) -> None:
    """A link in a school folder that collect kept, recorded in its manifest as collect records it."""
    (school / rel).symlink_to(target)
    manifest = json.loads((school / "MANIFEST.json").read_text())
    manifest["files"] = file_entries(str(school), ["gstudio", "unplatform"], None)
    write(str(school), manifest)


def test_a_link_collect_kept_is_made_anew_never_followed_and_an_older_one_kept_in_history(tmp_path):
    a, b = field_archives(tmp_path)
    with_link(a / "2026/mz/2031001-mz1", "gstudio/media/latest.link", "a.png")
    with_link(b / "2026/mz/2031001-mz1", "gstudio/media/latest.link", "added.txt")
    central = tmp_path / "C"
    results = {s["path"]: s for s in run(a, central)}
    assert results["2026/mz/2031001-mz1"]["status"] == "merged", results
    link = central / "2026/mz/2031001-mz1/gstudio/media/latest.link"
    assert link.is_symlink() and os.readlink(link) == "a.png"
    run(b, central)
    assert os.readlink(link) == "added.txt"
    older = [m / "latest.link" for m in (central / "2026/mz/2031001-mz1/history").glob("*/gstudio/media")]
    assert len(older) == 1 and older[0].is_symlink() and os.readlink(older[0]) == "a.png"  # a.png: not in history
    manifest = json.loads((central / "2026/mz/2031001-mz1/MANIFEST.json").read_text())
    assert manifest["files"]["gstudio/media/latest.link"] == clix_merge.link_entry("added.txt")
    verified(central)
    again = {s["path"]: s for s in run(b, central)}
    assert again["2026/mz/2031001-mz1"]["status"] == "unchanged" and again["2026/mz/2031001-mz1"]["added"] == 0


# The media item's folder lies at gstudio/media; rcs-repo is another item; chain: a link through an
# inner link whose text stays inside, but which the kernel resolves out of the item.
@pytest.mark.parametrize("links", [{"gstudio/media/out.link": "../git-commit.log"},
                                   {"gstudio/media/abs.link": "/etc/passwd"},
                                   {"gstudio/media/deep/deeper/a": "../../c.txt",
                                    "gstudio/media/deep/deeper/x": "a/../../.."}])
def test_a_recorded_link_that_leads_outside_its_item_refuses_its_school_alone(tmp_path, links):
    a, _ = field_archives(tmp_path)
    school = a / "2026/mz/2031001-mz1"
    (school / "gstudio/media/deep/deeper").mkdir(parents=True)
    for rel, target in links.items():
        with_link(school, rel, target)
    central = tmp_path / "C"
    results = {s["path"]: s for s in run(a, central)}
    assert results["2026/mz/2031001-mz1"]["status"] == "refused"
    assert "leads outside its item" in results["2026/mz/2031001-mz1"]["problems"][0]
    assert results["2026/mz/2031002-mz2"]["status"] == "merged"
    assert not (central / "2026/mz/2031001-mz1").exists()


def tamper(school: Path, change) -> None:
    manifest = json.loads((school / "MANIFEST.json").read_text())
    change(manifest)
    (school / "MANIFEST.json").write_text(json.dumps(manifest))


HOSTILE = {
    "top_folders of another school": lambda m: m.update(top_folders=["gstudio", "../2031002-mz2"]),
    "absolute top_folders": lambda m: m.update(top_folders=["/etc"]),
    "a year-1 collected_at": lambda m: m["items"]["media"].update(collected_at="0001-01-01T00:00:00+05:30"),
    "a size of the wrong type": lambda m: m["files"]["gstudio/media/c.txt"].update(size="8"),
    "items of the wrong type": lambda m: m.update(items=["media"]),
    "an escape sequence in a name": lambda m: m.update(top_folders=["\x1b[2J\x1b]0;owned\x07"]),
}


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_a_field_manifest_off_the_schema_refuses_its_school_before_any_of_it_is_used(tmp_path, hostile):
    a, b = field_archives(tmp_path)
    central = tmp_path / "C"
    run(a, central)
    neighbour = central / "2026/mz/2031002-mz2"
    before = {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in neighbour.rglob("*") if p.is_file()}
    tamper(b / "2026/mz/2031001-mz1", HOSTILE[hostile])
    results = {s["path"]: s for s in run(b, central)}
    refused = results["2026/mz/2031001-mz1"]
    assert refused["status"] == "refused" and "does not follow schemas/manifest-1.schema.json" in refused["problems"][0]
    assert "\x1b" not in refused["problems"][0] and "\x07" not in refused["problems"][0]
    assert results["2026/mz/2031003-mz3"]["status"] == "merged"  # the field archive's other school
    assert {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in neighbour.rglob("*") if p.is_file()} == before
    line = clix_merge.summary_line(refused)
    assert "\x1b" not in line


def test_the_central_manifest_takes_neither_the_field_top_folders_nor_its_school(tmp_path):
    a, _ = field_archives(tmp_path)
    school = a / "2026/mz/2031002-mz2"
    tamper(school, lambda m: m.update(top_folders=["gstudio", "unplatform", "elsewhere"],
                                      school=dict(state="mz", server_id="mz1", school_code="2031001")))
    central = tmp_path / "C"
    assert {s["path"]: s["status"] for s in run(a, central)}["2026/mz/2031002-mz2"] == "merged"
    manifest = json.loads((central / "2026/mz/2031002-mz2/MANIFEST.json").read_text())
    assert manifest["top_folders"] == ["gstudio"]
    assert manifest["school"] == dict(state="mz", server_id="mz2", school_code="2031002", folder="2031002-mz2")


def test_one_school_that_breaks_the_merge_is_refused_and_the_others_still_merged(tmp_path):
    a, _ = field_archives(tmp_path)
    (a / "2026/mz/2031001-mz1/MANIFEST.json").write_text("[" * 100_000 + "]" * 100_000)  # deeper than json can read
    results = {s["path"]: s for s in run(a, tmp_path / "C")}
    assert results["2026/mz/2031001-mz1"]["status"] == "refused"
    assert results["2026/mz/2031002-mz2"]["status"] == "merged"
