"""One owner of who a school is (clix_identity): every pattern ASCII only and matched whole, one
rule for names from the field, one comparison of school codes, used at every site that compares."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ansible.module_utils import clix_identity, clix_layout, clix_unplatform

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "filter_plugins"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "library"))

import clix
import clix_ingest

ARABIC_INDIC_2 = "\u0662"
FULLWIDTH_2 = "\uff12"


@pytest.mark.parametrize("digit", [ARABIC_INDIC_2, FULLWIDTH_2, "\u0968"])  # the last: Devanagari two
def test_a_unicode_digit_is_never_a_digit_of_an_identity(digit):
    assert not clix_identity.is_school_code(digit + "031001")
    assert not clix_identity.is_server_id("mz" + digit)
    assert not clix_identity.is_school_folder(digit + "031001-mz1")
    with pytest.raises(clix_layout.LayoutError):
        clix_layout.check_year("20" + digit + "6")
    with pytest.raises(clix_layout.LayoutError):
        clix_layout.history_path("/a", "2026010" + digit + "T000000Z", "x")
    with pytest.raises(clix_unplatform.UnplatformError):
        clix_unplatform.check_pc("pc0" + digit)
    assert clix_unplatform.parse_extraction("opt-clix-QBank-" + digit + "018-03-02- 9-05-33") is None
    assert clix_layout.parse_school_path("/a", "/a/202" + digit + "/mz/2031001-mz1") is None


@pytest.mark.parametrize("value", ["2031001\n", "mz1\n", "2026\n", "2031001-mz1\n"])
def test_a_trailing_newline_never_passes(value):
    assert not clix_identity.is_school_code(value)
    assert not clix_identity.is_server_id(value)
    assert not clix_identity.is_school_folder(value)
    assert not clix_identity.YEAR.fullmatch(value)
    with pytest.raises(clix_unplatform.UnplatformError):
        clix_unplatform.check_pc("pc01\n")


def test_school_roots_leave_out_look_alike_years_and_folders(tmp_path):
    for name in ("2026", "202" + FULLWIDTH_2, "2026\n"):
        (tmp_path / name / "mz" / "2031001-mz1").mkdir(parents=True)
    (tmp_path / "2026" / "mz" / ("203100" + ARABIC_INDIC_2 + "-mz1")).mkdir()
    assert [p["year"] + "/" + p["folder"] for _, p in clix_layout.school_roots(str(tmp_path))] == ["2026/2031001-mz1"]


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x85", "\x9b", "\u202e", "\u2066", "\u200b", "\u200e",
                                  "\u061c", "\u2028", "\u2029", "\ufeff", "\udcff"])
def test_the_name_rule_refuses_control_invisible_and_bidi_characters(char):
    name = "report" + char + "gpj.exe"
    assert clix_identity.unsafe_chars(name) == [char]
    with pytest.raises(clix_identity.IdentityError):
        clix_identity.check_name(name)
    with pytest.raises(clix_layout.LayoutError):
        clix_layout.under("/archive", "2026", name)
    with pytest.raises(clix_unplatform.UnplatformError):
        clix_unplatform.check_install_label(name)
    assert char not in clix_identity.shown(name) and "\\" in clix_identity.shown(name)


def test_the_name_rule_keeps_names_in_indian_scripts():
    for name in ("ध्वनि (Sound)", "ಕನ್ನಡ", "क्\u200dष", "student's file.json"):
        assert clix_identity.check_name(name) == name
        assert clix_layout.check_part(name) == name
    assert clix_identity.shown("ध्वनि") == "'ध्वनि'"


def test_shown_escapes_what_could_drive_a_terminal_and_cuts():
    text = clix_identity.shown("a\x1b[31mred\x07\\'b" + "x" * 500, limit=20)
    assert text.startswith("'a\\x1b[31mred\\x07\\\\\\'b") and text.endswith("'...") and "\x1b" not in text
    assert clix_identity.shown(None) == "None" and clix_identity.shown(b"\x1b") == repr(b"\x1b")


@pytest.mark.parametrize(("theirs", "ours", "same"), [
    ("2031001", "02031001", True), (2031001, "02031001", True), ("02031001", "2031001", True),
    ("NA", "NA", True), ("2031001", "2031002", False), ("", "", False), (None, "2031001", False),
    (True, "1", False), ("2031001 ", "2031001", False), (FULLWIDTH_2 + "031001", "2031001", False),
    ("203100", "0203100", False), (-2031001, "2031001", False)])
def test_school_codes_compare_one_way_everywhere(theirs, ours, same):
    assert clix_identity.same_code(theirs, ours) is same
    # The server's and the lab PC's claims checks compare with it ...
    facts = {"server_id": "mz1", "school_code": theirs, "school_name": "A", "settings_error": None}
    if isinstance(theirs, str) and clix_identity.is_school_code(theirs):
        assert (clix_identity.server_identity_problem(facts, "mz1", ours) == "") is same
    if not clix_identity.unset(theirs) and clix_identity.is_school_code(ours):
        problem = clix_identity.labpc_identity_problem({"schoolId": theirs, "terminalId": "pc01"}, ours, "pc01")
        assert (problem == "") is same


def test_ingest_compares_a_config_code_with_the_operators_school_as_collect_does():
    pcs = {"pc01": {"school_code": "02031001", "folder": "02031001-mz1", "pc": "pc01"}}
    operator = {"school": "02031001-mz1", "pc": None}
    for config in ({"schoolId": "2031001", "terminalId": "pc01"}, {"schoolId": 2031001, "terminalId": "pc01"}):
        assert clix_ingest.identify(config, operator, pcs, [])["quarantine"] is None
    assert "2031002" in clix_ingest.identify({"schoolId": "2031002", "terminalId": "pc01"}, operator, pcs, [])["quarantine"]
    # A code that starts like the operator's school's is another school.
    pcs = {"pc01": {"school_code": "2031001", "folder": "2031001-mz1", "pc": "pc01"}}
    assert clix_ingest.identify({"schoolId": "20310010", "terminalId": "pc01"}, {"school": "2031001-mz1", "pc": None},
                                pcs, [])["quarantine"]


def test_the_identity_filters_are_clix_identity():
    filters = clix.FilterModule().filters()
    assert filters["clix_identity_problem"] is clix_identity.server_identity_problem
    assert filters["clix_labpc_identity_problem"] is clix_identity.labpc_identity_problem


@pytest.mark.parametrize(("server_id", "state", "error"), [
    ("mz1", "mz", None), ("mz1", "rj", "belongs to state mz"), ("sp3", None, "special/test"),
    ("ka1", None, "unknown state code"), ("mz" + FULLWIDTH_2, None, "not a state code"), ("mz1\n", None, "not a state")])
def test_the_inventory_server_id_rule(server_id, state, error):
    found = clix_identity.server_id_error(server_id, state)
    assert (found is None) if error is None else (error in found and "\n" not in found)


def test_said_prints_a_plain_name_as_it_is_and_escapes_one_a_terminal_would_act_on():
    assert clix_identity.said("gstudio/media/a.png") == "gstudio/media/a.png"
    assert clix_identity.said("top_folders.0: '../x' is not a folder") == "top_folders.0: '../x' is not a folder"
    for hostile in ("\x1b[2Jowned", "a\u202egnp.exe", "a\x85b", "a\nb"):
        assert all(c.isprintable() for c in clix_identity.said(hostile)), hostile
    assert len(clix_identity.said("x" * 1000)) < 210
