"""testinfra checks of the archive that molecule's two collections left on the control node."""

import datetime
import hashlib
import json
import os

testinfra_hosts = ["local://"]

ARCHIVE = os.environ["CLIX_MOLECULE_ARCHIVE"]
YEAR = str(datetime.date.today().year)
SCHOOLS = ["2031001-mz1", "2031002-mz2"]
L4 = ["db", "media", "rcs-repo", "postgres-dump", "system-heartbeat", "gstudio-exported-users-analytics-csvs",
      "gstudio_tools_logs", "gstudio-logs", "nginx-logs", "assessment-media", "local_settings.py",
      "server_settings.py", "git-commit.log", "activity-timestamp-csvs", "qbank"]


def test_tree_has_every_item_of_both_schools_and_nothing_else(host):
    assert sorted(host.file(f"{ARCHIVE}/{YEAR}/mz").listdir()) == SCHOOLS
    for school in SCHOOLS:
        root = host.file(f"{ARCHIVE}/{YEAR}/mz/{school}/gstudio")
        assert root.is_directory and root.mode == 0o700
        assert sorted(root.listdir()) == sorted(L4)
        dump = host.file(f"{root.path}/postgres-dump/pg_dump_all.sql")
        assert dump.is_file and dump.mode == 0o600 and dump.contains("cluster dump complete")
        assert host.file(f"{root.path}/db/gstudio-mongodb/Benchmarks.bson").size > 0


def test_second_collection_moved_almost_nothing(host):
    reports = sorted(r for r in host.file(f"{ARCHIVE}/reports").listdir() if r.endswith(".json"))
    assert len(reports) == 2
    second = json.loads(host.file(f"{ARCHIVE}/reports/{reports[-1]}").content_string)
    # The heartbeat and the derived data (recomputed in the gStudio container) are new on every run.
    fresh = ("system-heartbeat", "derived", "gstudio-exported-users-analytics-csvs", "activity-timestamp-csvs",
             "qbank/student-activities")
    rows = [r for r in second["rows"] if not r["item"].startswith(fresh)]
    assert sum(r["received"] or 0 for r in rows) < 0.01 * sum(r["total"] or 0 for r in rows)
    assert {r["status"] for r in rows if r["item"] in ("media", "rcs-repo", "db", "nginx-logs")} == {"unchanged"}


def test_every_manifest_entry_matches_its_file_and_every_file_has_one(host):
    for school in SCHOOLS:
        root = f"{ARCHIVE}/{YEAR}/mz/{school}"
        manifest = json.loads(host.file(f"{root}/MANIFEST.json").content_string)
        assert manifest["files"] and manifest["totals"]["files"] == len(manifest["files"])
        for rel, entry in manifest["files"].items():
            path = f"{root}/{rel}"
            if entry.get("type") == "link":  # kept as collect found it, recorded with its target, never followed
                assert os.path.islink(path) and os.readlink(path) == entry["target"], rel
                continue
            assert not os.path.islink(path) and os.path.isfile(path), rel
            assert os.path.getsize(path) == entry["size"], rel
            assert sha256(path) == entry["sha256"], rel
        on_disk = {os.path.relpath(os.path.join(folder, name), root)
                   for top in manifest["top_folders"] for folder, _, names in os.walk(f"{root}/{top}") for name in names}
        assert on_disk == set(manifest["files"])


def sha256(path: str) -> str:
    """Read here: local:// is this machine, and one sha256sum process per file would be slow."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
