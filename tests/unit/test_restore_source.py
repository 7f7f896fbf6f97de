"""clix_restore_source: which collection a school is restored from, and the checks that refuse one -
another school's, or one whose files differ from its MANIFEST.json (sealed by the real clix_manifest)."""

from __future__ import annotations

from pathlib import Path

from library_module import library_module, run_module

clix_manifest = library_module("clix_manifest")
clix_restore_source = library_module("clix_restore_source")

SCHOOL = {"state": "ct", "folder": "01011002-ct2", "server_id": "ct2", "school_code": "01011002"}
ITEMS = [{"name": "db", "restore": "mongodb", "src": "/stage/db/", "dest": "gstudio/db"},
         {"name": "media", "restore": "folder", "src": "/home/core/data/media/", "dest": "gstudio/media"},
         {"name": "rcs-repo", "restore": "folder", "src": "/home/core/data/rcs-repo/", "dest": "gstudio/rcs-repo"},
         {"name": "server_settings.py", "restore": "settings", "src": "/ndf/server_settings.py",
          "dest": "gstudio/server_settings.py"}]


def collection(root: Path, year: str, monkeypatch, capsys, media: bytes = b"video",
               settings: bytes = b"GSTUDIO_INSTITUTE_ID = 'ct2'\n") -> Path:
    """A school folder of root as collect.yml leaves it: its files, sealed by clix_manifest (rcs-repo failed)."""
    folder = root / year / "ct" / "01011002-ct2"
    (folder / "gstudio" / "db" / "gstudio-mongodb").mkdir(parents=True)
    (folder / "gstudio" / "db" / "gstudio-mongodb" / "Nodes.bson").write_bytes(b"\x05\x00\x00\x00\x00" * 3)
    (folder / "gstudio" / "media" / "a").mkdir(parents=True)
    (folder / "gstudio" / "media" / "a" / "clip.mp4").write_bytes(media)
    (folder / "gstudio" / "server_settings.py").write_bytes(settings)
    items = [{"name": "db", "status": "ok"}, {"name": "media", "status": "ok"}, {"name": "server_settings.py", "status": "ok"},
             {"name": "rcs-repo", "status": "failed", "reason": "rsync exited 23"}]
    school = dict(SCHOOL, school_name="Govt. H.S. School Dhamtari 2")
    result = run_module(clix_manifest, {"root": str(folder), "school": school, "items": items,
                                        "run": {"ended": "%s-11-27T05:00:03Z" % year}}, monkeypatch, capsys)
    assert not result.get("failed"), result
    return folder


def source(root: Path, monkeypatch, capsys, **args) -> dict:
    return run_module(clix_restore_source, dict({"root": str(root), "school": SCHOOL, "items": ITEMS,
                                                 "progress_seconds": 0}, **args), monkeypatch, capsys)


def test_the_newest_collection_is_planned_item_by_item(tmp_path, monkeypatch, capsys):
    collection(tmp_path, "2025", monkeypatch, capsys, media=b"old")
    newest = collection(tmp_path, "2026", monkeypatch, capsys)
    result = source(tmp_path, monkeypatch, capsys)
    assert not result.get("failed"), result
    assert result["source"] == str(newest) and result["collected_at"] == "2026-11-27T05:00:03Z"
    assert result["items"] == [
        {"name": "db", "restore": "mongodb", "archive": str(newest / "gstudio/db"), "server": "/stage/db/",
         "files": 1, "bytes": 15},
        {"name": "media", "restore": "folder", "archive": str(newest / "gstudio/media"),
         "server": "/home/core/data/media/", "files": 1, "bytes": 5}]
    assert result["left_out"] == [{"name": "rcs-repo", "reason": "its collection ended failed"},
                                  {"name": "server_settings.py",
                                   "reason": "settings are restored only with -e clix_restore_settings=true"}]
    assert (result["files"], result["bytes"]) == (2, 20)
    with_settings = source(tmp_path, monkeypatch, capsys, settings=True)
    assert with_settings["items"][-1] == {"name": "server_settings.py", "restore": "settings", "files": 1, "bytes": 29,
                                          "archive": str(newest / "gstudio/server_settings.py"),
                                          "server": "/ndf/server_settings.py"}


def test_settings_archived_redacted_are_never_restored(tmp_path, monkeypatch, capsys):
    collection(tmp_path, "2026", monkeypatch, capsys, settings=b"SECRET_KEY = 'REDACTED-BY-CLIX-COLLECT'\n")
    assert not source(tmp_path, monkeypatch, capsys).get("failed")  # left out, as settings are by default
    result = source(tmp_path, monkeypatch, capsys, settings=True)
    assert result["failed"] and result["msg"].startswith("'gstudio/server_settings.py' was archived with its secrets "
                                                         "replaced (clix_redact_settings), so it cannot be restored")


def test_another_schools_collection_is_refused(tmp_path, monkeypatch, capsys):
    folder = collection(tmp_path, "2026", monkeypatch, capsys)
    other = {"state": "ct", "folder": "1011001-ct1", "server_id": "ct1", "school_code": "1011001"}
    result = source(tmp_path, monkeypatch, capsys, school=other, source=str(folder))
    assert result["failed"]
    assert result["msg"].startswith("'%s' is not a collection of 1011001-ct1 (its folder is '01011002-ct2'; its "
                                    "manifest's server_id is 'ct2'; its manifest's school_code is '01011002')" % folder)
    # Renamed into the other school's folder, its manifest still names its own school.
    moved = tmp_path / "2026" / "ct" / "1011001-ct1"
    folder.rename(moved)
    result = source(tmp_path, monkeypatch, capsys, school=other)
    assert result["failed"] and "its manifest's server_id is 'ct2'; its manifest's school_code is '01011002')" \
        in result["msg"] and "its folder is" not in result["msg"]


def test_a_collection_that_does_not_verify_is_refused_naming_each_file(tmp_path, monkeypatch, capsys):
    folder = collection(tmp_path, "2026", monkeypatch, capsys)
    (folder / "gstudio" / "media" / "a" / "clip.mp4").write_bytes(b"vidEo")
    (folder / "gstudio" / "media" / "a" / "planted.sh").write_bytes(b"rm -rf /")
    result = source(tmp_path, monkeypatch, capsys)
    assert result["failed"]
    assert "does not verify against its MANIFEST.json, so it is not restored" in result["msg"]
    assert "'gstudio/media/a/clip.mp4': content differs (sha256 mismatch)" in result["msg"]
    assert "'gstudio/media/a/planted.sh': not in the manifest" in result["msg"]


def test_a_school_never_collected_is_refused_with_what_to_do(tmp_path, monkeypatch, capsys):
    collection(tmp_path, "2026", monkeypatch, capsys)
    other = {"state": "mz", "folder": "2031001-mz1", "server_id": "mz1", "school_code": "2031001"}
    result = source(tmp_path, monkeypatch, capsys, school=other)
    assert result["failed"] and result["msg"] == (
        "no collection of 2031001-mz1 below %s: collect it first, or name one with clix_restore_from" % tmp_path)


def test_a_quarantined_collection_is_refused(tmp_path, monkeypatch, capsys):
    """A collection whose server named another school (sealed with its identity problem, as collect.yml
    seals a quarantine) is not restored, even when its folder and manifest name the inventory's school."""
    folder = tmp_path / "quarantine" / "2026" / "ct" / "01011002-ct2"
    (folder / "gstudio" / "media").mkdir(parents=True)
    (folder / "gstudio" / "media" / "clip.mp4").write_bytes(b"video")
    school = dict(SCHOOL, identity_problem="identity mismatch: the server says server id 'ct9'")
    sealed = run_module(clix_manifest, {"root": str(folder), "school": school,
                                        "items": [{"name": "media", "status": "ok"}]}, monkeypatch, capsys)
    assert not sealed.get("failed"), sealed
    result = source(tmp_path, monkeypatch, capsys, source=str(folder))
    assert result["failed"] and result["msg"].startswith("'%s' is a quarantined collection ('identity mismatch: "
                                                         % folder), result["msg"]
    assert "is not restored" in result["msg"]
