"""Filter plugins and the report's rendering."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "filter_plugins"))

import clix
from ansible.module_utils import clix_identity
from library_module import library_module
from page_parse import checked

clix_report = library_module("clix_report")
PROBLEMS, markdown, rows, text_table = clix_report.PROBLEMS, clix_report.markdown, clix_report.rows, clix_report.text_table
RUN = {"started": "2026-11-24T10:00:00+00:00", "ended": "2026-11-24T10:02:00+00:00", "seconds": 120.0}


def html_page(title, table, summary):
    return clix_report.html_page(title, table, summary, RUN)

ITEMS = [{"name": "db", "tag": "db", "kind": "snapshot", "producer": "db", "src": "/s/db/", "dest": "gstudio/db"},
         {"name": "media", "tag": "media", "src": "/d/media/", "dest": "gstudio/media"}]


def test_tags_select_items():
    assert [i["name"] for i in clix.clix_selected(ITEMS, ["all"], [])] == ["db", "media"]
    assert [i["name"] for i in clix.clix_selected(ITEMS, ["db"], [])] == ["db"]
    assert [i["name"] for i in clix.clix_selected(ITEMS, ["all"], ["media"])] == ["db"]


def test_snapshot_carries_checksums_and_failed_producer_carries_its_error():
    ok = clix.clix_pull_items(ITEMS, {"clix_db_result": {"files": {"g/N.bson": "ab"}}})
    assert ok[0]["expect"] == {"g/N.bson": "ab"} and "error" not in ok[0]
    failed = clix.clix_pull_items(ITEMS, {"clix_db_result": {"failed": True, "msg": "cannot reach MongoDB"}})
    assert failed[0]["error"] == "cannot reach MongoDB"
    assert failed[1]["kind"] == "folder" and "error" not in failed[1]


def test_identity_check_compares_id_and_code_without_leading_zeros():
    facts = {"server_id": "mz1", "school_code": "2031001", "school_name": "A", "settings_error": None}
    assert clix_identity.server_identity_problem(facts, "mz1", "02031001") == ""
    # Each value alone decides: another id with the same code, the same id with another code.
    assert clix_identity.server_identity_problem(facts, "mz2", "2031001").startswith("identity mismatch")
    assert clix_identity.server_identity_problem(facts, "mz1", "2031002").startswith("identity mismatch")
    assert "identity unknown" in clix_identity.server_identity_problem({"settings_error": "cannot read"}, "mz1", "2031001")


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
    assert "<script" not in page and "http:" not in page and "https:" not in page
    assert '<td class="cell unchanged">=</td>' in page


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


def test_report_is_a_school_by_item_matrix_problems_first():
    schools = [{"host": "a", "folder": "2031001-mz1", "items": [
        {"name": "media", "status": "ok", "files_transferred": 0}, {"name": "db", "status": "ok", "files_transferred": 2,
                                                                     "bytes_received": 3 * 1024 * 1024}]},
        {"host": "b", "folder": "2031002-mz2", "items": [
            {"name": "media", "status": "ok", "files_transferred": 0},
            {"name": "db", "status": "failed", "reason": "cannot reach MongoDB"}]}]
    text = text_table(rows(schools))
    assert text[0].split() == ["school", "1", "2"] and text[2].split() == ["2031002-mz2", "=", "FAIL"]
    assert text[3].split() == ["2031001-mz1", "=", "3.0M"]
    assert "columns: 1 media  2 db" in text and "2031002-mz2 db: cannot reach MongoDB" in text
    schools[0]["items"][0]["total_bytes"] = 5 * 1024 * 1024  # check mode: the size on the server
    assert text_table(rows(schools), sizes=True)[3].split() == ["2031001-mz1", "5.0M", "3.0M"]
    md = markdown("t", rows(schools), "s", RUN)
    assert "| school | media | db |" in md and "| 2031002-mz2 | unchanged | **failed** |" in md
    assert "Run 2026-11-24 10:00 to 10:02 UTC (2 min 00 s): s" in md
    page = html_page("t", rows(schools), "s")
    assert page.index("<th>2031002-mz2</th>") < page.index("<th>2031001-mz1</th>")
    assert '<td class="cell failed">FAIL<sup><a href="#r1">1</a></sup></td>' in page
    assert '<td class="cell ok">3.0M</td>' in page


def test_terminal_shows_30_schools_then_a_count_per_status():
    schools = [{"host": "h%03d" % n, "folder": "20310%02d-mz%d" % (n, n), "items": [
        {"name": "media", "status": "failed" if n == 40 else "ok", "files_transferred": 0, "reason": "disk"},
        {"name": "unplatform", "status": "absent"}]} for n in range(1, 51)]
    text = text_table(rows(schools))
    body = [line for line in text if line.startswith("20310")]
    assert len(body) == 31 and body[0].startswith("2031040-mz40 ")  # 30 rows + the problem's reason
    assert "... and 20 more school(s) (see the HTML report): absent 20, unchanged 20" in text


def test_report_escapes_school_names_and_reasons_in_html_and_markdown():
    evil = '<script>alert("x")</script>'
    schools = [{"host": "a", "folder": evil + "-'q'", "items": [
        {"name": "db", "status": "failed", "reason": 'pg said "<b onmouseover=x>"'}]}]
    table = rows(schools)
    page = checked(html_page(evil, table, evil))
    assert evil + "-'q'" in page.text and 'pg said "<b onmouseover=x>"' in page.text
    md = markdown(evil, table, evil, RUN)
    assert "<script" not in md and "<b " not in md and "&lt;script&gt;" in md


def test_no_task_file_writes_its_own_staging_path():
    """The item table (defaults) is the one place an item's staging path is written."""
    tasks = Path(__file__).resolve().parents[2] / "roles" / "clix" / "tasks"
    for path in tasks.glob("*.yml"):
        assert "clix_staging_dir }}/" not in path.read_text() and "clix_staging_dir ~ '/" not in path.read_text(), path
