"""The fleet table's rules: which school has a problem, in which order, what the page holds."""

from __future__ import annotations

import datetime
import html.parser
import json

from clix_fleet_table import html_page, last_collected, row_of, text_table

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
