"""The fleet table's rules: which school has a problem, in which order, what the page holds, and when
each school was last collected, read from manifests as clix_manifest writes them."""

from __future__ import annotations

import datetime
import json
import os
import re
import time
from pathlib import Path

import pytest
from library_module import library_module, run_module
from page_parse import checked

clix_fleet_table = library_module("clix_fleet_table")
clix_manifest = library_module("clix_manifest")
cells, html_page, row_of, text_table = (clix_fleet_table.cells, clix_fleet_table.html_page, clix_fleet_table.row_of,
                                        clix_fleet_table.text_table)

LIMITS = {"disk_percent": 90, "skew_seconds": 300, "collected_days": 180}
NOW = datetime.datetime(2026, 11, 25, tzinfo=datetime.timezone.utc)
HEARTBEAT_ITEMS = ["system-heartbeat", "system-heartbeat (server's own)"]


def heartbeat(**over):
    hb = {"memory": {"percent": 40.0}, "services": {"mongodb": True, "postgresql": True, "container": "running"},
          "uptime_seconds": 86400 * 3, "load": [0.5, 0.4, 0.3], "worst_disk_percent": 50.0, "clock_skew_seconds": 2.0}
    hb.update(over)
    return hb


def seal(archive: Path, folder: str, ended: str, items: dict, monkeypatch, capsys, year: str = "2026") -> None:
    """Seal a school folder as collect.yml's seal task does: clix_manifest with the run's end time and each
    item's result. An end time without a zone stands for an archive sealed before times carried theirs
    (Ansible's now(utc=true) has none): sealed with +00:00, then written back without it, as it lies on disk."""
    root = archive / year / "mz" / folder
    root.mkdir(parents=True, exist_ok=True)
    results = [{"name": name, "status": status, "reason": reason} for name, (status, reason) in items.items()]
    zoned = ended if re.search(r"(Z|[+-][0-9]{2}:[0-9]{2})$", ended) else ended + "+00:00"
    run_module(clix_manifest, {"root": str(root), "school": {"folder": folder}, "items": results,
                               "complete_run": True, "run": {"ended": zoned}}, monkeypatch, capsys)
    if zoned != ended:
        manifest = root / "MANIFEST.json"
        manifest.write_text(manifest.read_text().replace(json.dumps(zoned), json.dumps(ended)))


ALL_OK = {"db": ("ok", None), "media": ("ok", None), "system-heartbeat": ("ok", None)}


def school(sid, hb, problem=None):
    return {"host": f"x-{sid}", "state": "mz", "server_id": sid, "school_code": "2031001", "school_name": "S",
            "folder": f"2031001-{sid}", "heartbeat": hb, "problem": problem}


def row(entry: dict, archive: Path | str) -> dict:
    index = clix_fleet_table.school_manifests(str(archive))
    found = clix_fleet_table.read_manifests(index.get((entry["state"], entry["folder"]), []))
    return row_of(entry, *found, LIMITS, NOW, HEARTBEAT_ITEMS)


def test_each_rule_flags_its_problem_and_a_healthy_school_has_none(tmp_path, monkeypatch, capsys):
    for sid in ("mz1", "mz2", "mz3", "mz4", "mz5"):
        seal(tmp_path, f"2031001-{sid}", "2026-11-20T00:00:00", ALL_OK, monkeypatch, capsys)
    rows = {sid: row(school(sid, hb, problem), tmp_path)["problems"] for sid, hb, problem in [
        ("mz1", heartbeat(), None),
        ("mz2", heartbeat(worst_disk_percent=95.0), None),
        ("mz3", heartbeat(clock_skew_seconds=-900.0), None),
        ("mz4", heartbeat(services={"mongodb": False, "postgresql": True, "container": "exited"}), None),
        ("mz5", None, "unreachable: timed out"),
        ("mz6", heartbeat(), None),  # no manifest at all
    ]}
    assert rows["mz1"] == []
    assert rows["mz2"] == ["disk 95%"]
    assert rows["mz3"] == ["clock skew -900s"]
    assert rows["mz4"] == ["mongodb down", "container exited"]
    assert rows["mz5"] == ["unreachable"]
    assert rows["mz6"] == ["never collected"]


@pytest.fixture
def in_india(monkeypatch):
    """The control node's clock set to India's time, as in the field."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_collection_stamped_without_a_zone_is_read_as_utc(in_india, tmp_path, monkeypatch, capsys):
    """collect.yml's seal wrote Ansible's now(utc=true), a UTC time without its zone: such archives
    exist, and the table reads them (it subtracted them from an aware time and crashed) as UTC, not as
    the control node's local time (India's, in the field)."""
    seal(tmp_path, "2031001-mz1", "2026-11-24T23:30:00.123456", ALL_OK, monkeypatch, capsys)
    seal(tmp_path, "2031001-mz2", "2026-11-25T01:30:00+02:00", ALL_OK, monkeypatch, capsys)  # 23:30 UTC
    seal(tmp_path, "2031001-mz3", "2025-01-01T00:00:00Z", ALL_OK, monkeypatch, capsys)
    mz1, mz2, mz3 = (row(school(sid, heartbeat()), tmp_path) for sid in ("mz1", "mz2", "mz3"))
    assert mz1["last_collected"] == "2026-11-24T23:30:00.123456+00:00" and mz1["problems"] == []
    assert mz2["last_collected"] == "2026-11-24T23:30:00+00:00"
    assert cells(mz1)["last_collected"] == cells(mz2)["last_collected"] == "2026-11-24 23:30"
    assert mz3["problems"] == ["not collected for 693 days"]


def test_a_recorded_time_is_read_in_utc_and_anything_else_is_refused_with_what_it_is(in_india):
    from ansible.module_utils.clix_manifest import recorded_time

    utc = datetime.timezone.utc
    assert recorded_time("2026-11-24T10:00:00") == datetime.datetime(2026, 11, 24, 10, tzinfo=utc)
    assert recorded_time("2026-11-24T10:00:00Z") == recorded_time("2026-11-24T15:30:00+05:30")
    assert recorded_time("2026-11-24T15:30:00+05:30").utcoffset() == datetime.timedelta(0)
    for bad, said in ((None, "None is not a time"), (1732442400, "1732442400 is not a time"),
                      ("yesterday", "'yesterday' is not an ISO 8601 time"),
                      ("0001-01-01T00:00:00+05:00", "'0001-01-01T00:00:00+05:00' is not an ISO 8601 time")):
        with pytest.raises(ValueError, match=re.escape(said)):
            recorded_time(bad)


def test_a_school_is_collected_whatever_its_items_statuses_and_the_table_says_what_it_lacked(
        tmp_path, monkeypatch, capsys):
    seal(tmp_path, "2031001-mz1", "2026-11-24T10:00:00", {
        "db": ("ok", None), "unplatform": ("absent", "not on the server: /home/core/unplatform/"),
        "derived (gStudio container)": ("skipped", "the gStudio container 'gstudio' is stopped on this server")},
        monkeypatch, capsys)
    seal(tmp_path, "2031001-mz2", "2026-11-24T10:00:00", {"db": ("failed", "MongoDB did not answer"),
                                                          "media": ("ok", None)}, monkeypatch, capsys)
    mz1, mz2 = row(school("mz1", heartbeat()), tmp_path), row(school("mz2", heartbeat()), tmp_path)
    assert mz1["last_collected"] == "2026-11-24T10:00:00+00:00" and mz1["problems"] == []  # never "never collected"
    assert mz1["lacked"] == [
        {"item": "derived (gStudio container)", "status": "skipped",
         "reason": "the gStudio container 'gstudio' is stopped on this server"},
        {"item": "unplatform", "status": "absent", "reason": "not on the server: /home/core/unplatform/"}]
    assert cells(mz1)["lacked"] == "skipped: derived (gStudio container); absent: unplatform"
    assert mz2["problems"] == ["last collection failed: db"]
    assert mz2["lacked"] == [{"item": "db", "status": "failed", "reason": "MongoDB did not answer"}]


def test_a_heartbeat_run_is_no_collection_and_a_tags_run_lacks_the_items_it_left(tmp_path, monkeypatch, capsys):
    seal(tmp_path, "2031001-mz1", "2026-11-01T10:00:00", ALL_OK, monkeypatch, capsys)
    seal(tmp_path, "2031001-mz1", "2026-11-24T10:00:00", {"system-heartbeat": ("ok", None)}, monkeypatch, capsys)
    assert row(school("mz1", heartbeat()), tmp_path)["last_collected"] == "2026-11-01T10:00:00+00:00"
    seal(tmp_path, "2031001-mz1", "2026-11-24T11:00:00", {"db": ("ok", None)}, monkeypatch, capsys)  # --tags db
    tagged = row(school("mz1", heartbeat()), tmp_path)
    assert tagged["last_collected"] == "2026-11-24T11:00:00+00:00" and tagged["problems"] == []
    assert tagged["lacked"] == [{"item": "media", "status": "not in this run",
                                 "reason": "last collected 2026-11-01T10:00:00+00:00"}]


def test_the_newest_year_counts_and_an_unreadable_manifest_is_a_problem_of_its_row_only(tmp_path, monkeypatch,
                                                                                         capsys):
    seal(tmp_path, "2031001-mz1", "2026-11-01T10:00:00", ALL_OK, monkeypatch, capsys, year="2025")
    seal(tmp_path, "2031001-mz1", "2026-11-02T10:00:00", {"db": ("ok", None)}, monkeypatch, capsys)
    assert row(school("mz1", heartbeat()), tmp_path)["lacked"] == []  # 2025's items are 2025's
    (tmp_path / "2024" / "mz" / "2031001-mz1").mkdir(parents=True)
    os.mkfifo(tmp_path / "2024" / "mz" / "2031001-mz1" / "MANIFEST.json")  # opening it would hang
    broken = tmp_path / "2026" / "mz" / "2031001-mz2"
    broken.mkdir(parents=True)
    (broken / "MANIFEST.json").write_text(json.dumps({"items": {"db": {"status": "ok", "collected_at": "yesterday"}}}))
    mz1, mz2 = row(school("mz1", heartbeat()), tmp_path), row(school("mz2", heartbeat()), tmp_path)
    assert mz1["last_collected"] == "2026-11-02T10:00:00+00:00"
    assert mz1["problems"] == ["2024's MANIFEST.json unreadable ([Errno 22] is a FIFO, not a regular file: '%s')"
                               % (tmp_path / "2024/mz/2031001-mz1/MANIFEST.json")]
    assert mz2["problems"] == ["2026's MANIFEST.json: db's collected_at 'yesterday' is not an ISO 8601 time",
                               "never collected"]


def test_text_and_html_mark_problem_rows_and_colour_the_problems_column():
    rows = [row(school("mz2", heartbeat(worst_disk_percent=99.0)), "/nonexistent"),
            row(school("mz1", heartbeat()), "/nonexistent")]
    rows[1]["problems"] = []
    lines = text_table(rows)
    assert lines[2].startswith("!! ") and lines[3].startswith("   ")
    source = html_page("t", rows, {"x-mz2": [{"at": "2026-11-24T10:00:00+00:00", "disk": 97.0, "load": 1.0, "skew": 0},
                                             {"at": "2026-11-24T11:00:00+00:00", "disk": None, "load": None,
                                              "skew": None, "reachable": False}]})
    page = checked(source)
    assert source.count('<tr class="problem">') == 1
    assert "11-24 10:00 97%, 1.00, +0s" in page.text and "11-24 11:00 unreachable" in page.text
    assert "None" not in page.text
    assert '<td class="problems">disk 99%; never collected</td>' in source  # the problems column is the red one
    assert source.count('class="problems"') == 2


HOSTILE = ["<script>alert('name')</script>", '"><img src=x onerror=alert(1)>', "a & b </td></tr><b>x"]


def test_hostile_values_are_text_on_the_page_never_markup():
    entry = row({**school("mz1", heartbeat(services={"mongodb": True, "postgresql": True, "container": HOSTILE[1]})),
                 "school_name": HOSTILE[0], "school_code": HOSTILE[2]}, "/nonexistent")
    history = {"x-mz1": [{"at": "<svg onload=x>", "disk": "<i>", "load": "'", "skew": '"'},
                         {"at": "2026-11-24T10:00", "disk": 1.0, "load": 1.0, "skew": 0}]}
    page = checked(html_page("<u>t</u>'\"", [entry], history))
    for value in [*HOSTILE, "<svg onload=x> -, -, -", "11-24 10:00 1%, 1.00, +0s"]:
        assert value in page.text  # shown as written, escaped rather than dropped
    assert page.text.count("<u>t</u>'\"") == 2  # the title, in <title> and <h1>


def lab_pc(sid, pc, hb, problem=None):
    return {**school(sid, hb, problem), "host": f"x-{sid}-{pc}", "platform": "unplatform", "pc": pc}


def pc_heartbeat(qbank=True, ui=True, installs=(("/opt/clix", "v2", 3 * 2**20),)):
    hb = heartbeat(services={"qbank_lite": qbank, "unplatform": ui})
    hb.update(installs=[{"path": p, "version": v, "bytes": b, "files": 10, "complete": True} for p, v, b in installs],
              data_bytes=sum(b for _, _, b in installs))
    return hb


def test_a_lab_pc_row_shows_its_app_its_data_and_when_its_own_item_was_collected(tmp_path, monkeypatch, capsys):
    seal(tmp_path, "2031001-mz1", "2025-03-01T00:00:00", {"unplatform/pc01": ("ok", None)}, monkeypatch, capsys,
         year="2025")
    seal(tmp_path, "2031001-mz1", "2026-11-20T00:00:00", {"unplatform/pc01": ("ok", None)}, monkeypatch, capsys)
    seal(tmp_path, "2031001-mz1", "2026-11-21T00:00:00", {"unplatform/pc02": ("failed", "the PC went away")},
         monkeypatch, capsys)
    seal(tmp_path, "2031001-mz1", "2026-11-22T00:00:00", {"media": ("ok", None)}, monkeypatch, capsys)
    pc01 = row(lab_pc("mz1", "pc01", pc_heartbeat()), tmp_path)
    pc02 = row(lab_pc("mz1", "pc02", pc_heartbeat(qbank=False, ui=False)), tmp_path)
    pc03 = row(lab_pc("mz1", "pc03", pc_heartbeat(ui=False, installs=())), tmp_path)
    assert pc01["last_collected"] == "2026-11-20T00:00:00+00:00" and pc01["problems"] == []
    assert pc02["last_collected"] == "2026-11-21T00:00:00+00:00"  # its item failed: collected all the same
    assert pc02["problems"] == ["last collection failed: unplatform/pc02"]
    assert pc03["problems"] == ["no unplatform install found", "never collected"]
    stale = dict(pc_heartbeat(installs=()), install_search="stale")  # the search did not end in time
    assert row(lab_pc("mz1", "pc03", stale), tmp_path)["problems"] == [
        "the search for unplatform installs failed: stale", "never collected"]
    cells01, cells02, cells03 = (cells(r) for r in (pc01, pc02, pc03))
    assert (cells01["server_id"], cells01["app"], cells01["data"]) == ("mz1/pc01", "running", "3.0 MiB in 1 install(s)")
    assert (cells02["app"], cells03["app"], cells03["data"]) == ("DOWN", "only qbank_lite", "0 B in 0 install(s)")
    assert (cells01["mongodb"], cells01["postgresql"], cells01["container"]) == ("-", "-", "-")
    # A lab PC's row never takes its server's collection, nor the server a lab PC's.
    server = row(school("mz1", heartbeat()), tmp_path)
    assert server["last_collected"] == "2026-11-22T00:00:00+00:00" and cells(server)["app"] == "-"
    partly = pc_heartbeat()
    partly["installs"][0]["complete"] = False  # the heartbeat's time budget ended the count
    assert cells(row(lab_pc("mz1", "pc01", partly), tmp_path))["data"] == "at least 3.0 MiB in 1 install(s)"
    unreachable = row(lab_pc("mz1", "pc01", None, "unreachable: timed out"), tmp_path)
    assert unreachable["problems"] == ["unreachable"] and cells(unreachable)["server_id"] == "mz1/pc01"


def test_lab_pcs_follow_their_school_and_are_counted_apart(tmp_path, monkeypatch, capsys):
    seal(tmp_path, "2031001-mz1", "2026-11-20T00:00:00", {**ALL_OK, "unplatform/pc01": ("ok", None),
                                                          "unplatform/pc02": ("ok", None)}, monkeypatch, capsys)
    seal(tmp_path, "2031001-mz2", "2026-11-20T00:00:00", ALL_OK, monkeypatch, capsys)
    module = {"dest": str(tmp_path / "reports"), "archive_root": str(tmp_path), "now": "2026-11-25T00:00:00",
              "heartbeat_items": HEARTBEAT_ITEMS,
              "schools": [lab_pc("mz1", "pc02", pc_heartbeat()), school("mz2", heartbeat()),
                          lab_pc("mz1", "pc01", pc_heartbeat()), school("mz1", heartbeat()),
                          lab_pc("mz3", "pc01", pc_heartbeat(installs=()))]}
    result = run_module(clix_fleet_table, module, monkeypatch, capsys)
    assert [(r["server_id"], r.get("pc")) for r in result["rows"]] == [
        ("mz3", "pc01"), ("mz1", None), ("mz1", "pc01"), ("mz1", "pc02"), ("mz2", None)]
    assert result["table"][-1] == "2 school(s) and 3 lab PC(s), 1 with problems"
    assert result["table"][2].startswith("!! mz3/pc01")
    page = Path(next(f for f in result["files"] if f.endswith(".html"))).read_text()
    assert "2 school(s) and 3 lab PC(s)" in page
    assert {Path(f).name for f in result["files"]} == {"heartbeat-20261125-000000.%s" % s for s in ("csv", "json", "html")}
