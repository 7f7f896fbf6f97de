"""The fleet table's rules: which school has a problem, in which order, what the page holds."""

from __future__ import annotations

import datetime
import html.parser
import json
from pathlib import Path

import clix_fleet_table
from clix_fleet_table import cells, html_page, last_collected, row_of, text_table
from library_module import run_module

LIMITS = {"disk_percent": 90, "skew_seconds": 300, "collected_days": 180}
NOW = datetime.datetime(2026, 11, 25, tzinfo=datetime.timezone.utc)


def heartbeat(**over):
    hb = {"memory": {"percent": 40.0}, "services": {"mongodb": True, "postgresql": True, "container": "running"},
          "uptime_seconds": 86400 * 3, "load": [0.5, 0.4, 0.3], "worst_disk_percent": 50.0, "clock_skew_seconds": 2.0}
    hb.update(over)
    return hb


def seal(tmp_path, state, folder, ended):
    root = tmp_path / "2026" / state / folder
    root.mkdir(parents=True)
    (root / "MANIFEST.json").write_text(json.dumps({"last_complete": ended}))


def school(sid, hb, problem=None):
    return {"host": f"x-{sid}", "state": "mz", "server_id": sid, "school_code": "2031001", "school_name": "S",
            "folder": f"2031001-{sid}", "heartbeat": hb, "problem": problem}


def test_each_rule_flags_its_problem_and_a_healthy_school_has_none(tmp_path):
    for sid in ("mz1", "mz2", "mz3", "mz4", "mz5"):
        seal(tmp_path, "mz", f"2031001-{sid}", "2026-11-20T00:00:00+00:00")
    rows = {sid: row_of(school(sid, hb, problem), str(tmp_path), LIMITS, NOW)["problems"] for sid, hb, problem in [
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


def test_old_collection_is_flagged_and_the_newest_complete_one_counts(tmp_path):
    seal(tmp_path, "mz", "2031001-mz1", "2025-01-01T00:00:00+00:00")
    assert "not collected for" in "; ".join(row_of(school("mz1", heartbeat()), str(tmp_path), LIMITS, NOW)["problems"])
    (tmp_path / "2026").rename(tmp_path / "2025")
    seal(tmp_path, "mz", "2031001-mz1", "2026-11-01T00:00:00+00:00")
    assert last_collected(str(tmp_path), "mz", "2031001-mz1") == "2026-11-01T00:00:00+00:00"


def test_text_and_html_mark_problem_rows():
    rows = [row_of(school("mz2", heartbeat(worst_disk_percent=99.0)), "/nonexistent", LIMITS, NOW),
            row_of(school("mz1", heartbeat()), "/nonexistent", LIMITS, NOW)]
    rows[1]["problems"] = []
    lines = text_table(rows)
    assert lines[2].startswith("!! ") and lines[3].startswith("   ")
    page = html_page("t", rows, {"x-mz2": [{"at": "2026-11-24T10:00", "disk": 97.0, "load": 1.0, "skew": 0}]})
    assert page.count('class="problem"') == 1 and "2026-11-24T10:00: 97.0" in page


class PageParser(html.parser.HTMLParser):
    """The tags and the text a browser would see."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes += attrs

    def handle_data(self, data):
        self.text.append(data)


HOSTILE = ["<script>alert('name')</script>", '"><img src=x onerror=alert(1)>', "a & b </td></tr><b>x"]


def test_hostile_values_are_text_on_the_page_never_markup():
    row = row_of({**school("mz1", heartbeat(services={"mongodb": True, "postgresql": True, "container": HOSTILE[1]})),
                  "school_name": HOSTILE[0], "school_code": HOSTILE[2]}, "/nonexistent", LIMITS, NOW)
    history = {"x-mz1": [{"at": "<svg onload=x>", "disk": "<i>", "load": "'", "skew": '"'},
                         {"at": "2026-11-24T10:00", "disk": 1.0, "load": 1.0, "skew": 0}]}
    page = html_page("<u>t</u>'\"", [row], history)
    parsed = PageParser()
    parsed.feed(page)
    assert parsed.tags == {"html", "head", "meta", "title", "style", "body", "h1", "p", "table", "tr", "th", "td", "br"}
    assert parsed.attributes == [("charset", "utf-8"), ("class", "problem")]
    text = "".join(parsed.text)
    for value in [*HOSTILE, "<svg onload=x>: <i>, ', \""]:
        assert value in text  # shown as written, escaped rather than dropped
    assert text.count("<u>t</u>'\"") == 2  # the title, in <title> and <h1>


def lab_pc(sid, pc, hb, problem=None):
    return {**school(sid, hb, problem), "host": f"x-{sid}-{pc}", "platform": "unplatform", "pc": pc}


def pc_heartbeat(qbank=True, ui=True, installs=(("/opt/clix", "v2", 3 * 2**20),)):
    hb = heartbeat(services={"qbank_lite": qbank, "unplatform": ui})
    hb.update(installs=[{"path": p, "version": v, "bytes": b, "files": 10, "complete": True} for p, v, b in installs],
              data_bytes=sum(b for _, _, b in installs))
    return hb


def seal_items(tmp_path, year, folder, items, last_complete=None):
    root = tmp_path / year / "mz" / folder
    root.mkdir(parents=True)
    (root / "MANIFEST.json").write_text(json.dumps({"last_complete": last_complete, "items": items}))


def test_a_lab_pc_row_shows_its_app_its_data_and_when_its_own_item_was_collected(tmp_path):
    seal_items(tmp_path, "2025", "2031001-mz1",
               {"unplatform/pc01": {"status": "ok", "collected_at": "2025-03-01T00:00:00+00:00"}})
    seal_items(tmp_path, "2026", "2031001-mz1", {
        "unplatform/pc01": {"status": "ok", "collected_at": "2026-11-20T00:00:00+00:00"},
        "unplatform/pc02": {"status": "failed", "collected_at": "2026-11-21T00:00:00+00:00"},
        "media": {"status": "ok", "collected_at": "2026-11-22T00:00:00+00:00"}},
        last_complete="2026-11-22T00:00:00+00:00")
    pc01 = row_of(lab_pc("mz1", "pc01", pc_heartbeat()), str(tmp_path), LIMITS, NOW)
    pc02 = row_of(lab_pc("mz1", "pc02", pc_heartbeat(qbank=False, ui=False)), str(tmp_path), LIMITS, NOW)
    pc03 = row_of(lab_pc("mz1", "pc03", pc_heartbeat(ui=False, installs=())), str(tmp_path), LIMITS, NOW)
    assert pc01["last_collected"] == "2026-11-20T00:00:00+00:00" and pc01["problems"] == []
    assert pc02["last_collected"] is None and pc02["problems"] == ["never collected"]  # its item failed
    assert pc03["problems"] == ["no unplatform install found", "never collected"]
    stale = dict(pc_heartbeat(installs=()), install_search="stale")  # the search did not end in time
    assert row_of(lab_pc("mz1", "pc03", stale), str(tmp_path), LIMITS, NOW)["problems"] == [
        "the search for unplatform installs failed: stale", "never collected"]
    cells01, cells02, cells03 = (cells(r) for r in (pc01, pc02, pc03))
    assert (cells01["server_id"], cells01["app"], cells01["data"]) == ("mz1/pc01", "running", "3.0 MiB in 1 install(s)")
    assert (cells02["app"], cells03["app"], cells03["data"]) == ("DOWN", "only qbank_lite", "0 B in 0 install(s)")
    assert (cells01["mongodb"], cells01["postgresql"], cells01["container"]) == ("-", "-", "-")
    # A lab PC's row never takes its server's collection, nor the server a lab PC's.
    server = row_of(school("mz1", heartbeat()), str(tmp_path), LIMITS, NOW)
    assert server["last_collected"] == "2026-11-22T00:00:00+00:00" and cells(server)["app"] == "-"
    partly = pc_heartbeat()
    partly["installs"][0]["complete"] = False  # the heartbeat's time budget ended the count
    assert cells(row_of(lab_pc("mz1", "pc01", partly), str(tmp_path), LIMITS, NOW))["data"] == \
        "at least 3.0 MiB in 1 install(s)"
    unreachable = row_of(lab_pc("mz1", "pc01", None, "unreachable: timed out"), str(tmp_path), LIMITS, NOW)
    assert unreachable["problems"] == ["unreachable"] and cells(unreachable)["server_id"] == "mz1/pc01"


def test_lab_pcs_follow_their_school_and_are_counted_apart(tmp_path, monkeypatch, capsys):
    ok = {"status": "ok", "collected_at": "2026-11-20T00:00:00+00:00"}
    seal_items(tmp_path, "2026", "2031001-mz1", {"unplatform/pc01": ok, "unplatform/pc02": ok}, ok["collected_at"])
    seal_items(tmp_path, "2026", "2031001-mz2", {}, ok["collected_at"])
    module = {"dest": str(tmp_path / "reports"), "archive_root": str(tmp_path), "now": NOW.isoformat(),
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
