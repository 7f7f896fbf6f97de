"""A school server's identity values are data: the filters check them against the inventory's
rules and quote them; the archive folders are built by clix_layout from the inventory's names."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "filter_plugins"))

import clix
from ansible.module_utils import clix_identity, clix_layout

HOSTILE = "x/../../../2026/mz/2031002-mz2"


def facts(server_id="mz1", code="2031001", name="GOVT. MIZO HIGH SCHOOL") -> dict:
    return {"server_id": server_id, "school_code": code, "school_name": name, "settings_error": None}


@pytest.mark.parametrize(("server_id", "code"), [
    (HOSTILE, "2031001"), ("mz1", "2031001/../x"), ("mz1\n", "2031001"), ("mz1", "NA\n"), ("MZ1", "2031001"),
    ("mz", "2031001"), ("mz1", "203100"), ("mz1", "\u0662031001"), ("", ""), (None, None)])
def test_a_value_the_inventory_would_refuse_is_reported_invalid(server_id, code):
    problem = clix_identity.server_identity_problem(facts(server_id, code), "mz1", "2031001")
    assert problem.startswith("identity invalid") and "collected into quarantine" in problem


def test_the_claims_are_quoted_escaped_and_cut_in_the_reason_and_the_manifest():
    hostile = facts(HOSTILE, '2031001"; <script>\x1b[31m', "A" * 500)
    problem = clix_identity.server_identity_problem(hostile, "mz1", "2031001")
    assert json.dumps(HOSTILE) in problem
    assert "\x1b" not in problem and "\\u001b" in problem and '\\"' in problem
    claims = clix_identity.server_claims(hostile)
    assert claims["server_id"] == json.dumps(HOSTILE) and not claims["server_id_valid"]
    assert not claims["school_code_valid"] and len(claims["school_name"]) <= clix_identity.CLAIM_CHARS
    assert clix_identity.server_claims(facts("sp3", "NA")) == {
        "server_id": '"sp3"', "school_code": '"NA"', "school_name": json.dumps("GOVT. MIZO HIGH SCHOOL"),
        "server_id_valid": True, "school_code_valid": True}


def test_the_quarantine_folder_is_the_inventory_school_never_the_server_string(tmp_path):
    root = str(tmp_path)
    assert clix_identity.server_identity_problem(facts(HOSTILE), "mz1", "2031001")
    # The role builds it from the inventory's state and folder; the server's string cannot name one.
    assert clix.clix_layout_quarantine_root(root, 2026, "mz", "2031001-mz1") == f"{root}/quarantine/2026/mz/2031001-mz1"
    with pytest.raises(clix_layout.LayoutError):
        clix.clix_layout_quarantine_root(root, 2026, "mz", f"2031001-{HOSTILE}")
    with pytest.raises(clix_layout.LayoutError):
        clix.clix_layout_school_root(root, 2026, "mz", HOSTILE)


def test_the_layout_filters_are_clix_layout(tmp_path):
    root = str(tmp_path)
    assert clix.clix_layout_school_root(root, "2026", "mz", "2031001-mz1") == \
        clix_layout.school_root(root, 2026, "mz", "2031001-mz1")
    assert clix.clix_layout_derived_root(root, 2026, "ct", "NA-ct2") == f"{root}/derived/2026/ct/NA-ct2"
    assert clix.clix_layout_year_root(root, 2026) == f"{root}/2026"
    assert clix.clix_layout_reports_dir(root) == f"{root}/reports"
    assert clix.clix_layout_replaced_root(root, "2031-12-07T09:15:00.123+05:30", 2031, "mz", "2031007-mz7") == \
        clix_layout.replaced_root(root, "20311207T034500Z", 2031, "mz", "2031007-mz7")
    filters = clix.FilterModule().filters()
    assert {"clix_layout_school_root", "clix_layout_quarantine_root", "clix_layout_derived_root", "clix_layout_year_root",
            "clix_layout_reports_dir", "clix_layout_pg_dump", "clix_server_claims"} <= filters.keys()


def test_the_items_table_puts_db_and_postgres_dump_where_clix_layout_reads_them():
    defaults = Path(__file__).resolve().parents[2] / "roles" / "clix" / "defaults" / "main.yml"
    items = {item["name"]: item for item in yaml.safe_load(defaults.read_text())["clix_items"]}
    assert items["db"]["dest"] == clix_layout.GSTUDIO_DB
    assert items["postgres-dump"]["dest"] == clix_layout.POSTGRES_DUMP
    assert clix.clix_layout_pg_dump(items["postgres-dump"]["dest"] + "/") == "gstudio/postgres-dump/pg_dump_all.sql"
    assert clix_layout.pg_dump_path("/a/2026/mz/2031001-mz1") == "/a/2026/mz/2031001-mz1/gstudio/postgres-dump/pg_dump_all.sql"
    assert clix_layout.mongo_dump_dir("/s") == "/s/gstudio/db/gstudio-mongodb"


def test_the_derive_image_digest_covers_clix_derive_the_layouts_it_uses_and_its_packages(tmp_path):
    (tmp_path / "clix_derive").mkdir()
    (tmp_path / "module_utils").mkdir()
    (tmp_path / "clix_derive" / "a.py").write_text("A = 1\n")
    layout = tmp_path / "module_utils" / "clix_layout.py"
    layout.write_text("B = 1\n")
    unplatform = tmp_path / "module_utils" / "clix_unplatform.py"
    unplatform.write_text("C = 1\n")
    requirements = tmp_path / "containers" / "derive" / "requirements.txt"
    requirements.parent.mkdir(parents=True)
    requirements.write_text("Unidecode==1.0.22\n")
    identity = tmp_path / "module_utils" / "clix_identity.py"
    identity.write_text("D = 1\n")
    first = clix.clix_derive_digest(str(tmp_path))
    requirements.write_text("Unidecode==1.0.23\n")
    assert clix.clix_derive_digest(str(tmp_path)) != first
    requirements.write_text("Unidecode==1.0.22\n")
    identity.write_text("D = 2\n")
    assert clix.clix_derive_digest(str(tmp_path)) != first
    identity.write_text("D = 1\n")
    unplatform.write_text("C = 2\n")
    assert clix.clix_derive_digest(str(tmp_path)) != first
    unplatform.write_text("C = 1\n")
    layout.write_text("B = 2\n")
    assert clix.clix_derive_digest(str(tmp_path)) != first
    (tmp_path / "clix_derive" / "a.py").write_text("A = 2\n")
    layout.write_text("B = 1\n")
    assert clix.clix_derive_digest(str(tmp_path)) != first
