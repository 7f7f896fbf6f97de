"""The pages people read (run report, catalogue, fleet table) and the CSV they open in a spreadsheet:
values from the field are text, never markup or formulas; each page is self-contained and says why."""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import signal

import pytest
from ansible.module_utils import clix_pages
from library_module import library_module
from page_parse import checked

report = library_module("clix_report")
catalog = library_module("clix_catalog")
fleet_table = library_module("clix_fleet_table")

# Each would be markup, an attribute breakout or a formula if it were written as it is.
HOSTILE = ["<script>alert('n')</script>", '"><img src=x onerror=alert(1)>', "a & b </td></tr><b>x",
           "{{ 7*7 }}{% raw %}", "<svg onload=alert(2)>", "=HYPERLINK(\"http://evil.example\",\"x\")"]
RUN = report.run_times("2026-11-24T10:00:00", datetime.datetime(2026, 11, 24, 10, 15, 3, tzinfo=datetime.timezone.utc))


def field_text(page) -> str:
    return page.text.replace("\n", " ")


def test_the_run_report_shows_every_hostile_value_as_text_and_every_reason_on_the_page():
    schools = [{"host": "a", "folder": HOSTILE[0], "school_name": HOSTILE[1], "items": [
        {"name": HOSTILE[2], "status": "failed", "reason": HOSTILE[3]},
        {"name": "unplatform", "status": "absent", "reason": HOSTILE[4]},
        {"name": "media", "status": "ok", "files_transferred": 3, "bytes_received": 3 << 20, "total_bytes": 5 << 20}]},
        {"host": "b", "folder": "2031002-mz2", "problem": HOSTILE[5], "problem_status": "unreachable"}]
    page = checked(report.html_page("<u>title</u>", report.rows(schools), "2 school(s)", RUN))
    text = field_text(page)
    for value in [*HOSTILE, "<u>title</u>"]:
        assert value in text  # shown as written: escaped, never dropped
    assert "15 min 03 s" in text and "2026-11-24 10:00" in text and "2026-11-24 10:15" in text
    assert "3.0M" in text and "3.0 MiB" in text and "5.0 MiB" in text  # received and the size, per cell and row
    assert "None" not in text


def test_the_run_report_puts_reasons_on_the_page_not_in_tooltips():
    schools = [{"host": "a", "folder": "2031001-mz1", "items": [
        {"name": "db", "status": "failed", "reason": "cannot reach MongoDB"},
        {"name": "derived (gStudio container)", "status": "skipped", "reason": "the container is stopped"}]},
        {"host": "b", "folder": "2031002-mz2", "problem": "unreachable: timed out", "problem_status": "unreachable"},
        {"host": "c", "folder": "2031003-mz3", "items": [
            {"name": "derived (gStudio container)", "status": "skipped", "reason": "the container is stopped"}]}]
    source = report.html_page("t", report.rows(schools), "s", RUN)
    page = checked(source)
    assert "title" not in {k for _, k, _ in page.attributes}
    problems = page.text[page.text.index("Problems (2)"):page.text.index("Schools and items")]
    assert "cannot reach MongoDB" in problems and "unreachable: timed out" in problems
    assert page.text.count("the container is stopped") == 1  # one note for both schools
    assert '<td class="cell skipped">skip<sup><a href="#r3">3</a></sup></td>' in source
    assert '<td class="cell failed">FAIL<sup><a href="#r1">1</a></sup></td>' in source
    assert '<tr id="r1">' in source and '<li id="r3">the container is stopped</li>' in source


def test_a_lab_pcs_item_shares_one_column_and_columns_are_explained():
    schools = [{"host": "ct1-pc%02d" % n, "row": "1011001-ct1-pc%02d" % n, "items": [
        {"name": "unplatform/pc%02d" % n, "status": "ok", "files_transferred": 1, "bytes_received": 10}]}
        for n in range(1, 6)]
    columns, _ = report.matrix(report.rows(schools))
    assert columns == ["lab PC"]
    text = checked(report.html_page("t", report.rows(schools), "s", RUN)).text
    assert "lab PC the lab PC of the row" in " ".join(text.split())


def manifest(root, year, state, folder, items, name="SCHOOL", **extra):
    path = os.path.join(root, str(year), state, folder)
    os.makedirs(path)
    with open(os.path.join(path, "MANIFEST.json"), "w") as f:
        json.dump(dict(format=1, school=dict(school_name=name), items=items, run=dict(ended="%s-06-01T10:00:00" % year),
                       files={}, totals=dict(files=0, bytes=0), **extra), f)


def test_the_catalogue_shows_every_hostile_value_as_text(tmp_path):
    root = str(tmp_path)
    manifest(root, 2026, "mz", "2031001-mz1", {
        "db": dict(status="failed", collected_at=HOSTILE[0], reason=HOSTILE[1]),
        HOSTILE[2]: dict(status="ok", collected_at="2026-06-01T10:00:00")},
        name=HOSTILE[3], heartbeat=dict(captured_at=HOSTILE[4], worst_disk_percent=HOSTILE[5]))
    inventory = [dict(state="mz", folder="2031002-mz2", school_name=HOSTILE[5])]
    page = checked(catalog.html_page(catalog.catalogue(root, inventory, [dict(name="db", dest="gstudio/db")])))
    text = field_text(page)
    for value in HOSTILE:
        assert value in text


def test_the_catalogue_names_the_schools_never_collected_and_says_why_items_failed(tmp_path):
    root = str(tmp_path)
    manifest(root, 2026, "mz", "2031001-mz1", {"db": dict(status="failed", collected_at="2026-06-01T10:00:00",
                                                          reason="MongoDB did not answer")})
    inventory = [dict(state="mz", folder="2031001-mz1", school_name="ONE"),
                 dict(state="mz", folder="2031002-mz2", school_name="GOVT. NEVER SEEN")]
    text = " ".join(checked(catalog.html_page(catalog.catalogue(root, inventory, []))).text.split())
    assert "Never collected (1): 2031002-mz2 GOVT. NEVER SEEN" in text
    assert "Why items failed MongoDB did not answer" in text
    assert "mz 2026: 1 of the inventory's 2 school(s) collected" in text


def test_one_year_of_data_gives_charts_with_a_bar_and_a_value_per_state(tmp_path):
    root = str(tmp_path)
    for state, folder in (("mz", "2031001-mz1"), ("ct", "1011001-ct1")):
        manifest(root, 2026, state, folder, {"db": dict(status="ok", collected_at="2026-06-01T10:00:00")})
    cat = catalog.catalogue(root, [dict(state="mz", folder="2031001-mz1"), dict(state="mz", folder="2031002-mz2"),
                                   dict(state="ct", folder="1011001-ct1")], [])
    size, schools = catalog.charts(cat, {"mz": 2, "ct": 1})
    bars = [s for s in schools["shapes"] if s["kind"] == "rect" and s["cls"].startswith("y") and ": " in s["text"]]
    assert sorted(b["text"] for b in bars) == ["ct 2026: 1", "mz 2026: 1"]
    assert {s["text"] for s in schools["shapes"] if s["kind"] == "text"} >= {"1/1", "1/2", "ct", "mz", "2026"}
    assert [s["text"] for s in schools["shapes"] if s["cls"] == "room"] == ["ct 2026: room for 1", "mz 2026: room for 2"]
    assert len([s for s in size["shapes"] if s["kind"] == "rect" and s["cls"] == "y0"]) == 3  # 2 states + the key


def test_a_fifo_in_place_of_a_manifest_never_hangs_the_catalogue(tmp_path):
    root = str(tmp_path)
    manifest(root, 2026, "mz", "2031001-mz1", {"db": dict(status="ok", collected_at="2026-06-01T10:00:00")})
    os.makedirs(tmp_path / "2026" / "mz" / "2031002-mz2")
    os.mkfifo(tmp_path / "2026" / "mz" / "2031002-mz2" / "MANIFEST.json")
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("the catalogue opened the FIFO and hung"))
    signal.alarm(10)
    try:
        cat = catalog.catalogue(root, [], [])
    finally:
        signal.alarm(0)
    assert cat["school_years"] == 1
    assert cat["unreadable"] == ["2026/mz/2031002-mz2: MANIFEST.json unreadable ([Errno 22] is a FIFO, not a "
                                 "regular file: '%s')" % (tmp_path / "2026/mz/2031002-mz2/MANIFEST.json")]
    assert "unreadable: 2026/mz/2031002-mz2" in "\n".join(catalog.summary(cat))


def fleet_row(**over):
    row = {"host": "x-mz1", "state": "mz", "server_id": "mz1", "school_code": "2031001", "school_name": "S",
           "reachable": "yes", "uptime_days": 3.0, "load": 0.5, "ram_used_percent": 40.0, "worst_disk_percent": 50.0,
           "container": "running", "mongodb": True, "postgresql": True, "clock_skew_seconds": -2.0,
           "last_collected": "2026-11-24T10:00:00+00:00", "lacked": [], "problems": []}
    row.update(over)
    return row


def test_the_fleet_table_shows_every_hostile_value_as_text_and_its_reasons_on_the_page():
    rows = [fleet_row(school_name=HOSTILE[0], container=HOSTILE[1], problems=["container " + HOSTILE[1]],
                      lacked=[dict(item=HOSTILE[2], status="failed", reason=HOSTILE[3])]),
            fleet_row(host="x-mz2", server_id="mz2", reachable="no: unreachable: " + HOSTILE[4], problems=["unreachable"],
                      uptime_days=None, load=None, ram_used_percent=None, worst_disk_percent=None, container=None,
                      mongodb=None, postgresql=None, clock_skew_seconds=None, last_collected=None)]
    history = {"x-mz1": [{"at": HOSTILE[5], "disk": "<i>", "load": 1.0, "skew": 0},
                         {"at": "2026-11-24T11:00:00+00:00", "reachable": False}]}
    page = checked(fleet_table.html_page("heartbeat", rows, history))
    text = field_text(page)
    for value in HOSTILE[:5]:
        assert value in text
    assert "11-24 11:00 unreachable" in text and "None" not in text


def test_csv_cells_from_the_field_never_run_as_formulas(tmp_path):
    assert [clix_pages.spreadsheet_cell(v) for v in ("=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "-12.5", "+3",
                                                     "a=1", 7, -7, None)] == \
        ["'=1+1", "'+1+1", "'-1+1", "'@SUM(A1)", "'\t=1", "'\r=1", "-12.5", "+3", "a=1", 7, -7, None]
    root = str(tmp_path)
    manifest(root, 2026, "mz", "2031001-mz1", {"db": dict(status="ok", collected_at="2026-06-01T10:00:00")},
             name=HOSTILE[5])
    catalogue_rows = list(csv.reader(io.StringIO(catalog.csv_text(catalog.catalogue(root, [], [])))))
    assert catalogue_rows[1][3] == "'" + HOSTILE[5]
    fleet_rows = list(csv.reader(io.StringIO(fleet_table.csv_text([fleet_row(school_name="=cmd|' /C calc'!A0")]))))
    assert fleet_rows[1][2] == "'=cmd|' /C calc'!A0" and fleet_rows[1][13] == "-2.0"


def test_without_its_templates_a_page_module_says_where_it_runs(monkeypatch):
    monkeypatch.setattr(clix_pages, "TEMPLATES", "/nonexistent/clix_templates")
    with pytest.raises(clix_pages.PagesUnavailableError, match="run on the control node"):
        clix_pages.render("report.html.j2", title="t")


def test_gstudios_derived_csvs_keep_a_formula_looking_cell_as_gstudio_writes_it(tmp_path):
    """gStudio's scripts write a username such as =1+1 as it is; clix_derive's CSVs must stay byte for byte
    gStudio's, so the spreadsheet escaping of the pages' CSVs is never theirs."""
    from clix_derive.formats import write_csv

    write_csv(str(tmp_path / "a.csv"), ["username", "n"], [["=1+1", -2], ["@x", None]])
    assert (tmp_path / "a.csv").read_bytes() == b"username,n\r\n=1+1,-2\r\n@x,\r\n"
