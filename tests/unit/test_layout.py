"""The archive layout (module_utils/clix_layout.py): every path built from checked parts, and
proved to stay under its root."""

from __future__ import annotations

import datetime
import os
import re

import pytest
from ansible.module_utils import clix_layout as layout


def test_school_quarantine_derived_and_reports_paths(tmp_path):
    root = str(tmp_path)
    assert layout.school_root(root, 2026, "mz", "2031001-mz1") == f"{root}/2026/mz/2031001-mz1"
    assert layout.quarantine_root(root, "2026", "ct", "01011002-ct2") == f"{root}/quarantine/2026/ct/01011002-ct2"
    assert layout.derived_root(root, 2026, "mz", "NA-mz7") == f"{root}/derived/2026/mz/NA-mz7"
    assert layout.reports_dir(root) == f"{root}/reports"


def test_a_restore_collects_the_server_it_replaces_beside_the_years_never_into_them(tmp_path):
    root = str(tmp_path)
    replaced = layout.replaced_root(root, "20311207T091500Z", 2031, "mz", "2031007-mz7")
    assert replaced == f"{root}/replaced/20311207T091500Z/2031/mz/2031007-mz7"
    # below replaced/<stamp> an archive root's layout; the years' walk passes it by
    assert replaced == layout.school_root(f"{root}/replaced/20311207T091500Z", 2031, "mz", "2031007-mz7")
    os.makedirs(replaced)
    os.makedirs(layout.school_root(root, 2031, "mz", "2031007-mz7"))
    assert [p for p, _ in layout.school_roots(root)] == [f"{root}/2031/mz/2031007-mz7"]
    for stamp in ("2031-12-07", "../2031", "20311207T091500Z/.."):
        with pytest.raises(layout.LayoutError):
            layout.replaced_root(root, stamp, 2031, "mz", "2031007-mz7")


@pytest.mark.parametrize("folder", ["x/../../../2026/mz/2031002-mz2", "..", "2031001-mz1/..", "2031001-xx1",
                                    "203-mz1", "2031001-mz1\n", "", "2031001-mz"])
def test_a_school_folder_that_is_not_code_dash_id_is_refused(tmp_path, folder):
    with pytest.raises(layout.LayoutError):
        layout.school_root(str(tmp_path), 2026, "mz", folder)


@pytest.mark.parametrize("part", ["..", ".", "", "a/../b", "/abs", "a//b", "a\\b", "a\0b", "../x", "a\x7f"])
def test_under_refuses_parts_that_leave_or_name_nothing(tmp_path, part):
    with pytest.raises(layout.LayoutError):
        layout.under(str(tmp_path), "derived", part)


def test_under_refuses_a_path_that_a_link_takes_outside_the_root(tmp_path):
    root = tmp_path / "archive"
    root.mkdir()
    (root / "derived").symlink_to(tmp_path)
    with pytest.raises(layout.LayoutError):
        layout.under(str(root), "derived", "x")
    assert layout.under(str(root), "reports", "a.json") == f"{root}/reports/a.json"


def test_parse_and_list_school_folders(tmp_path):
    root = str(tmp_path)
    for path in (layout.school_root(root, 2025, "mz", "2031001-mz1"),
                 layout.quarantine_root(root, 2026, "mz", "2031002-mz2"),
                 layout.derived_root(root, 2026, "mz", "2031001-mz1"),
                 layout.replaced_root(root, "20261120T101500Z", 2026, "mz", "2031001-mz1")):
        os.makedirs(path)
    os.makedirs(f"{root}/2026/mz/not-a-school")
    os.makedirs(f"{root}/replaced/2026-11-20/2026/mz/2031001-mz1")  # not a stamp: not a school's
    os.symlink(f"{root}/2025/mz/2031001-mz1", f"{root}/2025/mz/2031009-mz9")
    found = layout.school_roots(root, kinds=layout.KINDS)
    assert [(p["kind"], p["year"], p["folder"], p.get("stamp")) for _, p in found] == [
        ("collected", "2025", "2031001-mz1", None), ("derived", "2026", "2031001-mz1", None),
        ("quarantine", "2026", "2031002-mz2", None), ("replaced", "2026", "2031001-mz1", "20261120T101500Z")]
    assert [p for _, p in layout.school_roots(root)] == [found[0][1]]  # the years' walks pass replaced/ by
    assert layout.parse_school_path(root, f"{root}/2026/mz/2031001-mz1")["server_id"] == "mz1"
    assert layout.parse_school_path(root, f"{root}/2026/mz/x") is None


def test_history_stamp_and_path(tmp_path):
    school = layout.school_root(str(tmp_path), 2026, "mz", "2031001-mz1")
    assert layout.history_stamp("2026-11-27T10:05:03.123456+05:30") == "20261127T043503Z"
    assert layout.history_stamp("2026-11-27T10:05:03") == "20261127T100503Z"
    assert layout.history_path(school, "20261127T043503Z", "gstudio/db/x.bson") == \
        f"{school}/history/20261127T043503Z/gstudio/db/x.bson"
    for stamp in ("2026-11-27", "../x", "20261127T043503Z/.."):
        with pytest.raises(layout.LayoutError):
            layout.history_path(school, stamp, "gstudio/x")
    with pytest.raises(layout.LayoutError):
        layout.history_path(school, "20261127T043503Z", "../../x")


def test_a_reports_name_is_its_job_and_utc_moment():
    moment = datetime.datetime(2026, 12, 7, 20, 5, 3, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30)))
    assert layout.report_base("/a/reports", "merge", moment) == "/a/reports/merge-20261207T143503Z"
    assert re.fullmatch(r"/a/reports/ingest-\d{8}T\d{6}Z", layout.report_base("/a/reports", "ingest"))
    for job in ("../x", "a/b", ""):
        with pytest.raises(layout.LayoutError):
            layout.report_base("/a/reports", job, moment)


def test_kind_root_and_catalogue(tmp_path):
    root = str(tmp_path)
    school = dict(year=2026, state="mz", folder="2031001-mz1")
    assert layout.kind_root(root, dict(school, kind="derived")) == layout.derived_root(root, 2026, "mz", "2031001-mz1")
    assert layout.kind_root(root, dict(school, kind="quarantine")) == f"{root}/quarantine/2026/mz/2031001-mz1"
    assert layout.kind_root(root, dict(school, kind="replaced", stamp="20261120T101500Z")) == \
        f"{root}/replaced/20261120T101500Z/2026/mz/2031001-mz1"
    assert layout.catalogue_base(root) == f"{root}/reports/catalogue"
    for wrong in (dict(school, kind="reports"), dict(school, kind="replaced", stamp="../..")):
        with pytest.raises(layout.LayoutError):
            layout.kind_root(root, wrong)
