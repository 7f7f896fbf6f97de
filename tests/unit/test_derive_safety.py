"""clix_derive treats a collected school as untrusted input: file names made of the server's
usernames and ids stay in the output folder, and what it reads is never a link, FIFO or device."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import bson
import pytest
from bson import ObjectId

from clix_derive import __main__ as cli

REPO = Path(__file__).resolve().parents[2]
STAMP = "20261125-09h07m"
HOSTILE = ["../../x/y", "a/b", "n" * 300]
T = dt.datetime(2018, 6, 4, 10)


def auth_line(uid: int, name: str) -> str:
    return f"{uid}\tx\t2018-06-04 09:00:00+05:30\tf\t{name}\t\t\t\tf\tt\t2018-05-01 10:00:00+05:30\n"


@pytest.fixture()
def school(tmp_path: Path) -> Path:
    """red-ant-mz1 and the hostile usernames, each with a Counter, an Author, a Django row and a visit."""
    names = ["red-ant-mz1", *HOSTILE]
    root = tmp_path / "archive" / "2026" / "mz" / "2031001-mz1"
    g = root / "gstudio"
    db = g / "db" / "gstudio-mongodb"
    db.mkdir(parents=True)
    authors = [{"_id": ObjectId(f"{0x40 + i:024x}"), "_type": "Author", "name": n, "created_by": i + 2}
               for i, n in enumerate(names)]
    counters = [{"user_id": i + 2, "group_id": ObjectId(f"{1:024x}"), "visited_nodes": {}} for i in range(len(names))]
    benches = [{"_type": "Benchmark", "name": "my_desk", "calling_url": "/home/my-desk/", "last_update": T,
                "user": n, "session_key": "s1", "locale": "en"} for n in names]
    for name, docs in (("Nodes", authors), ("Counters", counters), ("Triples", []), ("Benchmarks", benches),
                       ("Buddies", [])):
        (db / f"{name}.bson").write_bytes(b"".join(bson.encode(d) for d in docs))
    (g / "postgres-dump").mkdir()
    (g / "postgres-dump" / "pg_dump_all.sql").write_text(
        "COPY public.auth_user (id, password, last_login, is_superuser, username, first_name, last_name, email, "
        "is_staff, is_active, date_joined) FROM stdin;\n"
        + "".join(auth_line(i + 2, n) for i, n in enumerate(names)) + "\\.\n")
    (g / "server_settings.py").write_text("GSTUDIO_INSTITUTE_ID = 'mz1'\nGSTUDIO_INSTITUTE_ID_SECONDARY = '2031001'\n"
                                          "GSTUDIO_INSTITUTE_NAME = 'GOVT. MIZO HIGH SCHOOL'\n")
    (g / "gstudio_tools_logs" / "coins").mkdir(parents=True)
    return root


def files_below(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir()}


def run_derive(school: Path, out: Path, timeout: int = 60) -> subprocess.CompletedProcess:
    """In a child process with a time limit: a read that blocks fails the test instead of hanging it."""
    return subprocess.run([sys.executable, "-m", "clix_derive", "archive", str(school), "--out", str(out),
                           "--now", "2026-11-25T09:07", "--jobs", "1"],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_usernames_that_are_no_file_name_are_skipped_and_nothing_leaves_the_output_folder(school, tmp_path):
    before = files_below(tmp_path)
    out = tmp_path / "archive" / "derived" / "2026" / "mz" / "2031001-mz1"
    proc = run_derive(school, out)
    assert proc.returncode == 0, proc.stderr
    written = files_below(tmp_path) - before
    assert written and all((tmp_path / f).resolve().is_relative_to(out) for f in written), written
    # gStudio's own name for a normal user; the others are skipped with their reason, named by id.
    assert sorted(p.name for p in (out / "activity-timestamp-csvs").iterdir()) == [
        f"mz1-red-ant-mz1-activity-visits-{STAMP}.csv"]
    for uid in range(3, 3 + len(HOSTILE)):
        assert f"no activity file for user id {uid}:" in proc.stderr
    assert "holds a path separator" in proc.stderr and "longer than a file name can be" in proc.stderr
    assert (out / "qbank" / "student-activities" / "activity-data.csv").read_text().count("../../x/y") == 1


def test_an_output_folder_linked_outside_is_refused(school, tmp_path):
    out = tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "qbank").mkdir(parents=True)
    (out / "activity-timestamp-csvs").symlink_to(elsewhere)
    (out / "qbank" / "student-activities").symlink_to(elsewhere)
    proc = run_derive(school, out)
    assert proc.returncode != 0 and "leaves" in proc.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_server_id_that_is_no_file_name_stops_the_school(school, tmp_path):
    settings = school / "gstudio" / "server_settings.py"
    settings.write_text(settings.read_text().replace("'mz1'", "'../../../x'"))
    before = files_below(tmp_path)
    proc = run_derive(school, tmp_path / "out")
    assert not {f for f in files_below(tmp_path) - before if not f.startswith("out/")}
    assert "holds a path separator" in proc.stderr


@pytest.mark.parametrize("kind", ["link", "fifo", "device"])
def test_a_dump_that_is_a_link_fifo_or_device_is_never_read(school, tmp_path, kind):
    target = school / "gstudio" / "db" / "gstudio-mongodb" / "Counters.bson"
    target.unlink()
    if kind == "link":
        outside = tmp_path / "outside.bson"
        outside.write_bytes(bson.encode({"user_id": 99}))
        target.symlink_to(outside)
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        os.mknod(target, 0o600 | 0o020000, os.makedev(1, 5))  # /dev/zero: a read never ends
    proc = run_derive(school, tmp_path / "out")
    assert proc.returncode != 0
    assert "Counters.bson is " + ("a symbolic link: not followed" if kind == "link" else "not a regular file") in proc.stderr


@pytest.mark.parametrize("folder", ["db/gstudio-mongodb", "postgres-dump", "gstudio_tools_logs"])
def test_a_collected_folder_linked_outside_the_school_is_not_read(school, tmp_path, folder):
    moved = tmp_path / "moved"
    (school / "gstudio" / folder).rename(moved)
    (school / "gstudio" / folder).symlink_to(moved)
    proc = run_derive(school, tmp_path / "out")
    assert proc.returncode != 0 and "a link in the collected tree, not followed" in proc.stderr


def test_settings_linked_to_a_control_node_file_is_not_read(school, tmp_path):
    secret = tmp_path / "secret.py"
    secret.write_text("GSTUDIO_INSTITUTE_ID = 'mz1'\nGSTUDIO_INSTITUTE_ID_SECONDARY = '2031001'\n"
                      "GSTUDIO_INSTITUTE_NAME = 'control node secret'\n")
    settings = school / "gstudio" / "server_settings.py"
    settings.unlink()
    settings.symlink_to(secret)
    proc = run_derive(school, tmp_path / "out")
    assert proc.returncode != 0 and "server_settings.py is a symbolic link: not followed" in proc.stderr


def test_tool_logs_behind_links_or_fifos_are_skipped(school, tmp_path):
    outside = tmp_path / "outside-tools"
    outside.mkdir()
    event = [{"appName": "leak", "created_at": "2018-6-4 9:05:07"}]
    (outside / "2-leak.json").write_text(json.dumps(event))
    tools = school / "gstudio" / "gstudio_tools_logs"
    (tools / "linked").symlink_to(outside)
    (tools / "coins" / "2-link.json").symlink_to(outside / "2-leak.json")
    os.mkfifo(tools / "coins" / "2-fifo.json")
    out = tmp_path / "out"
    proc = run_derive(school, out)
    assert proc.returncode == 0, proc.stderr
    assert "leak" not in (out / "qbank" / "student-activities" / "activity-data.csv").read_text()


def test_the_cli_runs_in_process_too(school, tmp_path):
    # The same guards in the caller's process (the playbook's native runner imports nothing else).
    assert cli.main(["archive", str(school), "--out", str(tmp_path / "o"), "--now", "2026-11-25T09:07", "--jobs", "1"]) == 0
