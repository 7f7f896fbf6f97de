"""Filter plugins and the report's rendering."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "filter_plugins"))

import clix
from clix_report import PROBLEMS, html_page, rows, text_table

ITEMS = [{"name": "db", "tag": "db", "kind": "snapshot", "producer": "db", "src": "/s/db/", "dest": "gstudio/db"},
         {"name": "media", "tag": "media", "src": "/d/media/", "dest": "gstudio/media"}]


def test_tags_select_items():
    assert [i["name"] for i in clix.clix_selected(ITEMS, ["all"], [])] == ["db", "media"]
    assert [i["name"] for i in clix.clix_selected(ITEMS, ["db"], [])] == ["db"]
    assert [i["name"] for i in clix.clix_selected(ITEMS, ["all"], ["media"])] == ["db"]


def test_snapshot_carries_checksums_and_failed_producer_carries_its_error():
    ok = clix.clix_pull_items(ITEMS, {"db": {"files": {"g/N.bson": "ab"}}})
    assert ok[0]["expect"] == {"g/N.bson": "ab"} and "error" not in ok[0]
    failed = clix.clix_pull_items(ITEMS, {"db": {"failed": True, "msg": "cannot reach MongoDB"}})
    assert failed[0]["error"] == "cannot reach MongoDB"
    assert failed[1]["kind"] == "folder" and "error" not in failed[1]


def test_identity_check_compares_id_and_code_without_leading_zeros():
    facts = {"server_id": "mz1", "school_code": "2031001", "school_name": "A", "settings_error": None}
    assert clix.clix_identity_problem(facts, "mz1", "02031001") == ""
    # Each value alone decides: another id with the same code, the same id with another code.
    assert clix.clix_identity_problem(facts, "mz2", "2031001").startswith("identity mismatch")
    assert clix.clix_identity_problem(facts, "mz1", "2031002").startswith("identity mismatch")
    assert "identity unknown" in clix.clix_identity_problem({"settings_error": "cannot read"}, "mz1", "2031001")


def test_report_marks_problems_and_unchanged_items():
    schools = [{"host": "a", "folder": "2031001-mz1", "items": [
        {"name": "media", "status": "ok", "files_transferred": 0, "bytes_received": 10, "total_bytes": 99, "seconds": 1},
        {"name": "db", "status": "failed", "reason": "cannot reach MongoDB", "files_transferred": 0}]},
        {"host": "b", "folder": "2031002-mz2", "problem": "unreachable: timed out", "problem_status": "unreachable"}]
    table = rows(schools)
    assert [(r["item"], r["status"]) for r in table] == [("media", "unchanged"), ("db", "failed"),
                                                       ("(school)", "unreachable")]
    text = "\n".join(text_table(table))
    assert "cannot reach MongoDB" in text and "unreachable: timed out" in text
    page = html_page("t", table, "s")
    assert page.count('class="problem"') == sum(1 for r in table if r["status"] in PROBLEMS) == 2
    assert "<script" not in page and "http" not in page


def test_a_school_without_a_result_still_gets_a_row():
    results = clix.clix_results([{"inventory_hostname": "a", "clix_result": {"host": "a", "items": []}},
                                 {"inventory_hostname": "b"}])
    assert results[0] == {"host": "a", "items": []}
    assert results[1]["host"] == "b" and "stopped for this school" in results[1]["problem"]
    assert [r["status"] for r in rows(results)] == ["failed"]


def test_source_digest_follows_the_python_files_only(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    first = clix.clix_source_digest(str(tmp_path))
    (tmp_path / "notes.txt").write_text("not code")
    assert clix.clix_source_digest(str(tmp_path)) == first
    (tmp_path / "b.py").write_text("y = 3\n")
    assert clix.clix_source_digest(str(tmp_path)) != first
