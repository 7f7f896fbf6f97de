"""MANIFEST.json and its check (module_utils/clix_manifest.py, library/clix_verify.py): every file
with size and sha256, every difference found, nothing in the tree ever followed or blocked on."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path

import pytest
from ansible.module_utils import clix_files
from ansible.module_utils import clix_manifest as manifest
from library_module import library_module, run_module

clix_verify = library_module("clix_verify")
clix_manifest = library_module("clix_manifest")


@pytest.fixture(autouse=True)
def never_hang():
    """A FIFO or /dev/zero read by mistake blocks or never ends: fail instead of hanging."""
    def hung(signum, frame):
        raise AssertionError("hung: something was read that must never be opened")
    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def school(tmp_path: Path) -> Path:
    root = tmp_path / "2031001-mz1"
    (root / "gstudio" / "media" / "img").mkdir(parents=True)
    (root / "gstudio" / "media" / "img" / "a.png").write_bytes(b"png")
    (root / "gstudio" / "server_settings.py").write_bytes(b"X = 1\n")
    (root / "gstudio" / "media" / ".rsync-partial").mkdir()
    (root / "gstudio" / "media" / ".rsync-partial" / "half").write_bytes(b"h")
    return root


def seal(root: Path) -> dict:
    tree = manifest.scan(str(root), ["gstudio", "unplatform"], manifest.load(str(root)))
    sealed = dict(format=manifest.FORMAT, files=tree.files, special_files=tree.special, top_folders=["gstudio", "unplatform"])
    manifest.write(str(root), sealed)
    return sealed


def problems(root: Path) -> dict:
    return {p["path"]: p["problem"] for p in manifest.differences(str(root), manifest.load(str(root)))}


def test_every_data_file_is_listed_with_size_and_sha256(tmp_path):
    root = school(tmp_path)
    files = seal(root)["files"]
    assert sorted(files) == ["gstudio/media/img/a.png", "gstudio/server_settings.py"]  # hidden work files are not data
    assert files["gstudio/media/img/a.png"]["size"] == 3 and files["gstudio/media/img/a.png"]["sha256"] == sha(b"png")
    assert problems(root) == {}


def test_links_are_recorded_as_links_and_never_followed(tmp_path):
    root = school(tmp_path)
    outside = tmp_path / "control-node-secret"
    outside.mkdir()
    (outside / "shadow").write_bytes(b"root:$6$secret")
    media = root / "gstudio" / "media"
    (media / "shadow").symlink_to(outside / "shadow")
    (media / "zero").symlink_to("/dev/zero")
    (media / "elsewhere").symlink_to(outside)
    (media / "inside").symlink_to("img/a.png")
    files = seal(root)["files"]
    assert files["gstudio/media/shadow"] == dict(type="link", target=str(outside / "shadow"),
                                                 size=len(str(outside / "shadow")), sha256=sha(str(outside / "shadow").encode()))
    assert files["gstudio/media/zero"]["target"] == "/dev/zero"
    assert files["gstudio/media/inside"]["type"] == "link"
    assert not any(name.startswith("gstudio/media/elsewhere/") for name in files)  # a linked folder is not walked
    assert all(entry["sha256"] != sha(b"root:$6$secret") for entry in files.values())
    assert problems(root) == {}


def test_fifos_and_devices_are_listed_apart_and_never_opened(tmp_path):
    root = school(tmp_path)
    os.mkfifo(root / "gstudio" / "media" / "pipe")
    os.mknod(root / "gstudio" / "media" / "null", 0o600 | 0o020000, os.makedev(1, 3))
    sealed = seal(root)
    assert sealed["special_files"] == {"gstudio/media/pipe": "FIFO", "gstudio/media/null": "character device"}
    assert "gstudio/media/pipe" not in sealed["files"]
    found = problems(root)
    assert found == {"gstudio/media/pipe": "is a FIFO, never read: not data, remove it",
                     "gstudio/media/null": "is a character device, never read: not data, remove it"}


def test_a_top_folder_that_is_a_link_is_not_walked(tmp_path):
    root = tmp_path / "school"
    root.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x").write_bytes(b"x")
    (root / "gstudio").symlink_to(elsewhere)
    assert seal(root)["files"] == {"gstudio": dict(type="link", target=str(elsewhere), size=len(str(elsewhere)),
                                                   sha256=sha(str(elsewhere).encode()))}


def test_an_unchanged_file_keeps_its_hash_without_being_read(tmp_path, monkeypatch):
    root = school(tmp_path)
    seal(root)
    monkeypatch.setattr(manifest, "sha256_file", lambda *a, **k: pytest.fail("an unchanged file was read again"))
    assert seal(root)["files"]["gstudio/media/img/a.png"]["sha256"] == sha(b"png")


def test_a_changed_file_is_hashed_again_even_with_the_same_size(tmp_path):
    root = school(tmp_path)
    path = root / "gstudio" / "media" / "img" / "a.png"
    seal(root)
    with open(path, "r+b") as f:  # same inode, same size, new content and mtime
        f.write(b"PNG")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert seal(root)["files"]["gstudio/media/img/a.png"]["sha256"] == sha(b"PNG")


def test_a_changed_size_is_hashed_again_even_with_the_same_mtime(tmp_path):
    root = school(tmp_path)
    path = root / "gstudio" / "media" / "img" / "a.png"
    seal(root)
    mtime = path.stat().st_mtime_ns
    with open(path, "ab") as f:
        f.write(b"+")
    os.utime(path, ns=(mtime, mtime))
    assert seal(root)["files"]["gstudio/media/img/a.png"]["sha256"] == sha(b"png+")


def test_differences_name_each_kind_of_change(tmp_path):
    root = school(tmp_path)
    (root / "gstudio" / "media" / "same-size").write_bytes(b"aaaa")
    (root / "gstudio" / "media" / "grows").write_bytes(b"1")
    (root / "gstudio" / "media" / "goes").write_bytes(b"1")
    (root / "gstudio" / "media" / "link").symlink_to("img/a.png")
    seal(root)
    media = root / "gstudio" / "media"
    (media / "same-size").write_bytes(b"bbbb")
    (media / "grows").write_bytes(b"12")
    (media / "goes").unlink()
    (media / "new").write_bytes(b"n")
    (media / "link").unlink()
    (media / "link").symlink_to("../server_settings.py")
    assert problems(root) == {
        "gstudio/media/same-size": "content differs (sha256 mismatch)",
        "gstudio/media/grows": "size 2, manifest says 1",
        "gstudio/media/goes": "missing",
        "gstudio/media/new": "not in the manifest",
        "gstudio/media/link": "is a symbolic link to '../server_settings.py', manifest says a symbolic link to 'img/a.png'",
    }


def test_a_file_replaced_by_a_link_to_the_same_bytes_is_a_difference(tmp_path):
    root = school(tmp_path)
    seal(root)
    copy = tmp_path / "copy.png"
    copy.write_bytes(b"png")
    target = root / "gstudio" / "media" / "img" / "a.png"
    target.unlink()
    target.symlink_to(copy)
    assert problems(root) == {"gstudio/media/img/a.png": f"is a symbolic link to '{copy}', manifest says a file"}


def test_a_folder_replaced_by_a_link_is_not_followed(tmp_path):
    root = school(tmp_path)
    seal(root)
    copy = tmp_path / "copy"
    (root / "gstudio" / "media").rename(copy)
    (root / "gstudio" / "media").symlink_to(copy)  # the same files, reached through a link
    found = problems(root)
    assert found["gstudio/media/img/a.png"] == "missing" and found["gstudio/media"] == "not in the manifest"


def test_a_manifest_that_is_a_link_is_not_read(tmp_path):
    root = school(tmp_path)
    (root / manifest.MANIFEST).symlink_to("/dev/zero")
    with pytest.raises(clix_files.NotRegularFileError):
        manifest.load(str(root))


def run_verify(monkeypatch, capsys, path: Path) -> dict:
    return run_module(clix_verify, {"path": str(path)}, monkeypatch, capsys)


def test_the_manifest_lists_each_items_skipped_links_and_the_special_files(tmp_path, monkeypatch, capsys):
    root = school(tmp_path)
    os.mkfifo(root / "gstudio" / "media" / "pipe")
    skipped = [{"path": "abs", "target": "/etc/passwd"}]
    items = [{"name": "media", "status": "ok", "reason": "1 symbolic link(s) pointing outside the item not kept",
              "source": "/home/core/data/media/", "skipped_links": skipped},
             {"name": "nginx-logs", "status": "ok", "source": "/home/core/data/nginx-logs/"}]
    result = run_module(clix_manifest, {"root": str(root), "school": {"server_id": "mz1"}, "items": items},
                      monkeypatch, capsys)
    assert result["special_files"] == {"gstudio/media/pipe": "FIFO"}
    sealed = json.loads((root / manifest.MANIFEST).read_text())
    assert sealed["items"]["media"]["skipped_links"] == skipped
    assert sealed["items"]["nginx-logs"]["skipped_links"] == []
    assert sealed["special_files"] == {"gstudio/media/pipe": "FIFO"}
    assert sealed["files"]["gstudio/media/img/a.png"]["sha256"] == sha(b"png")


def test_every_time_of_the_manifest_carries_its_zone(tmp_path, monkeypatch, capsys):
    """Its readers compare them with the time now: a run time without a zone (how the role wrote them
    before) or that is no time stops the seal before anything is written."""
    root = school(tmp_path)
    items = [{"name": "media", "status": "ok", "source": "/home/core/data/media/"}]
    run = {"started": "2026-11-27T10:00:00+05:30", "ended": "2026-11-27T05:00:03.5Z"}
    run_module(clix_manifest, {"root": str(root), "school": {}, "items": items, "run": run, "complete_run": True},
               monkeypatch, capsys)
    sealed = json.loads((root / manifest.MANIFEST).read_text())
    assert sealed["run"] == run
    assert sealed["items"]["media"]["collected_at"] == sealed["last_complete"] == "2026-11-27T05:00:03.5Z"
    (root / manifest.MANIFEST).unlink()
    for wrong in ({"ended": "2026-11-27T05:00:03.5"}, {"started": "late"}):
        result = run_module(clix_manifest, {"root": str(root), "school": {}, "items": items, "run": wrong},
                            monkeypatch, capsys)
        key, when = next(iter(wrong.items()))
        assert result["failed"] and "run.%s %r is not an ISO 8601 time with its zone" % (key, when) in result["msg"]
        assert not (root / manifest.MANIFEST).exists()


def test_verify_reports_every_school_and_fails_on_any_difference(tmp_path, monkeypatch, capsys):
    good, bad = school(tmp_path / "a"), school(tmp_path / "b")
    seal(good)
    seal(bad)
    (bad / "gstudio" / "server_settings.py").write_bytes(b"X = 2\n")  # same size, other bytes
    os.mkfifo(bad / "gstudio" / "pipe")
    result = run_verify(monkeypatch, capsys, tmp_path)
    assert result["failed"] is True and result["problems"] == 2
    assert "b/2031001-mz1/gstudio/server_settings.py: content differs" in result["msg"]
    assert "b/2031001-mz1/gstudio/pipe: is a FIFO" in result["msg"]
    assert run_verify(monkeypatch, capsys, tmp_path / "a")["problems"] == 0


def test_verify_reports_a_manifest_that_is_not_a_file(tmp_path, monkeypatch, capsys):
    root = school(tmp_path)
    (root / manifest.MANIFEST).symlink_to("/dev/zero")
    result = run_verify(monkeypatch, capsys, tmp_path)
    assert result["failed"] is True and "MANIFEST.json: cannot be read" in result["msg"]


def test_hashing_refuses_links_fifos_and_devices_without_opening_them(tmp_path):
    (tmp_path / "f").write_bytes(b"f")
    (tmp_path / "link").symlink_to(tmp_path / "f")
    (tmp_path / "zero").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "pipe")
    assert clix_files.sha256_file(str(tmp_path / "f")) == sha(b"f")
    for name, kind in (("link", "symbolic link"), ("zero", "symbolic link"), ("pipe", "FIFO")):
        with pytest.raises(clix_files.NotRegularFileError, match=kind):
            clix_files.sha256_file(str(tmp_path / name))
    with pytest.raises(clix_files.NotRegularFileError, match="character device"):
        clix_files.sha256_file("/dev/zero")


@pytest.mark.parametrize("files", [{}, {
    "gstudio/media/a\n\"files\": {}.png": manifest.entry(3, 1, 2, sha(b"png")),
    "gstudio/media/\u0939\u093f.json": manifest.entry(0, 5, 6, sha(b"")),
    "gstudio/media/link": dict(type=manifest.LINK, target="../x", size=4, sha256=sha(b"../x")),
}])
def test_a_manifest_is_written_as_json_with_one_line_per_file(files):
    """The files go one a line (the fast encoder), everything else indented; names that look like the
    layout's own text and nested "files" keys change nothing of what is read back."""
    m = dict(format=manifest.FORMAT, school={"files": {}}, items={"a": {"files": {}, "n": 1}}, files=files,
             totals=dict(files=len(files)))
    text = manifest.encode(m).decode("utf-8")
    assert json.loads(text) == m
    lines = text.splitlines()
    for rel in files:
        assert sum(line.startswith("  %s: {" % json.dumps(rel)) for line in lines) == 1
    assert text.startswith("{\n ") and text.endswith("\n}")


def test_verify_checks_each_manifest_against_the_schema_and_each_link_stays_in_its_item(tmp_path, monkeypatch,
                                                                                       capsys):
    inside, outside, shaped = school(tmp_path / "a"), school(tmp_path / "b"), school(tmp_path / "c")
    (inside / "gstudio/media/latest.link").symlink_to("img/a.png")
    (outside / "gstudio/media/latest.link").symlink_to("../server_settings.py")
    for root in (inside, outside, shaped):
        seal(root)
    sealed = json.loads((shaped / "MANIFEST.json").read_text())
    (shaped / "MANIFEST.json").write_text(json.dumps(dict(sealed, top_folders=["/etc", "../a"])))
    (inside / "gstudio/media/\x1b[2Jplanted").write_bytes(b"x")
    items = [{"name": "media", "dest": "gstudio/media"}]
    result = run_module(clix_verify, {"path": str(tmp_path), "items": items}, monkeypatch, capsys)
    problems = {s["folder"]: [p["path"] + ": " + p["problem"] for p in s["problems"]] for s in result["schools"]}
    assert problems["a/2031001-mz1"] == ["gstudio/media/\x1b[2Jplanted: not in the manifest"]
    assert "\x1b" not in result["msg"] and "planted" in result["msg"]  # escaped on the terminal
    assert problems["b/2031001-mz1"] == ["gstudio/media/latest.link: a link to '../server_settings.py', which leads "
                                         "outside its item"]
    assert len(problems["c/2031001-mz1"]) == 2 and all(p.startswith("MANIFEST.json: does not follow the schema: "
                                                                    "top_folders.") for p in problems["c/2031001-mz1"])
