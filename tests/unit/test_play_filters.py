"""The filters that hold what the plays' YAML used to compute (issue 24): derive's report row, the hosts
of a school folder, restore's outcomes, a result's lines and files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "filter_plugins"))

import clix

SCHOOLS = {"2031001-mz1-pc01": {"folder": "2031001-mz1", "platform": "unplatform"},
           "2031001-mz1": {"folder": "2031001-mz1", "platform": "gstudio"},
           "2031001-mz1-pc02": {"folder": "2031001-mz1", "platform": "unplatform"},
           "2031002-mz2": {"folder": "2031002-mz2", "platform": "gstudio"}}


def host(name: str = "2031001-mz1", by: str = "2031001-mz1", **facts) -> dict:
    hv = {"inventory_hostname": name, "school_code": "2031001", "school_name": "MIZO HS", "clix_derive_by": by,
          "clix_school": {"folder": "2031001-mz1", "state": "mz", "server_id": "mz1"},
          "clix_school_root": "/a/2026/mz/2031001-mz1", "clix_derived_dir": "/a/derived/2026/mz/2031001-mz1",
          "clix_derive_server": True, "clix_collected_db": True, "clix_collected_lab": False}
    return {**hv, **facts}


def item(row: dict) -> tuple:
    return row["items"][0]["status"], row["items"][0]["reason"], row["problem"]


def test_a_school_is_derived_by_its_server_else_its_first_lab_pc_of_the_play():
    play = list(SCHOOLS)
    assert clix.clix_school_hosts(SCHOOLS, "2031001-mz1", play) == ["2031001-mz1", "2031001-mz1-pc01",
                                                                     "2031001-mz1-pc02"]
    assert clix.clix_school_hosts(SCHOOLS, "2031001-mz1", ["2031001-mz1-pc02", "2031002-mz2"]) == ["2031001-mz1-pc02"]


def test_the_derive_row_says_what_became_of_the_school():
    summary = {"bytes": 10, "files": 2, "seconds": 1, "unplatform": {"pcs": {"pc01": {"rejects": 2}}}}
    run = {"rc": 0, "stdout_lines": ["progress", json.dumps(summary)],
           "stderr_lines": ["clix-derive: pc01/a.json: rejected (torn)", "x", "clix-derive: pc01/b: rejected link"]}
    row = clix.clix_derive_result(host(clix_derive_run=run), False, "derived (archive, native)")
    assert row["items"][0]["name"] == "derived (archive, native)" and row["items"][0]["total_bytes"] == 10
    assert item(row) == ("ok", "2 file(s) of lab PCs rejected, left out: pc01/a.json: rejected (torn); "
                               "pc01/b: rejected link", "")
    assert item(clix.clix_derive_result(host(clix_derive_run={"rc": 0, "stdout_lines": ["{}"]}))) == ("ok", "", "")
    failed = clix.clix_derive_result(host(clix_derive_run={"rc": 1, "stderr": "a\nduckdb: no room\n"}))
    assert item(failed) == ("failed", "duckdb: no room", "duckdb: no room")
    assert item(clix.clix_derive_result(host(clix_derive_run={"rc": 2, "stderr": ""})))[0:2] == (
        "failed", "clix-derive failed")
    missing = "not collected: /a/2026/mz/2031001-mz1/gstudio/db is missing (run collect.yml first)"
    assert item(clix.clix_derive_result(host(clix_collected_db=False, clix_collected_lab=True))) == (
        "failed", missing, missing)
    nothing = "not collected: /a/2026/mz/2031001-mz1 holds neither gstudio/db nor unplatform/ (run collect.yml first)"
    assert item(clix.clix_derive_result(host(clix_derive_server=False, clix_collected_db=False)))[1] == nothing
    assert item(clix.clix_derive_result(host(), True)) == (
        "skipped", "check mode: would write into /a/derived/2026/mz/2031001-mz1", "")
    assert item(clix.clix_derive_result(host("2031001-mz1-pc01", clix_collected_db=False))) == (
        "skipped", "derived with 2031001-mz1", "")


def test_restore_outcomes_and_the_matrix_shown_once():
    hosts = [{"inventory_hostname": "a", "clix_problem": ""}, {"inventory_hostname": "b", "clix_problem": "no room"},
             {"inventory_hostname": "c"}, {"inventory_hostname": "d", "clix_problem": ""}]
    assert clix.clix_restore_outcomes(hosts, True) == ["a: would be restored (--check)", "b: no room",
                                                      "c: not reached", "d: would be restored (--check)"]
    assert clix.clix_restore_outcomes(hosts, False, True) == ["b: no room", "c: not reached"]
    assert clix.clix_report_matrix(["school  db", "a  ok", "cells: ok", "1. a: why"]) == ["school  db", "a  ok",
                                                                                        "cells: ok"]


def test_a_result_is_shown_with_the_files_it_wrote():
    assert clix.clix_written(["table"], ["/a/r.html"]) == "table\nwritten: /a/r.html"
    assert clix.clix_written(["table"]) == "table"
