"""clix_ingest against a hostile stick, rule by rule: the operator's school decides, each source on its own,
every input bounded, nothing followed, nothing replaced lost (tests/integration/test_hostile_stick.py runs
the whole stick through ingest.yml)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest
import usb
from ansible.module_utils.clix_files import DiskFullError
from library_module import library_module

clix_ingest = library_module("clix_ingest")
P = dict(max_bytes=16 << 30, max_ratio=200, max_entries=100000, max_json_bytes=16 << 20, max_wal_bytes=64 << 20,
         max_run_bytes=64 << 30)
T1 = dt.datetime(2025, 3, 2, 9, 5, 33)
OURS = {"schoolId": "2031001", "terminalId": "pc01"}
PCS = {pc: dict(state="mz", server_id="mz1", folder="2031001-mz1", platform="unplatform", pc=pc, school_code="2031001",
                school_name="MIZO HS", host="2031001-mz1-" + pc) for pc in ("pc01", "pc02")}


def run_p(tmp_path: Path, source: Path, **limits) -> dict:
    return dict(P, **limits, source=str(source), archive_root=str(tmp_path / "archive"), school="2031001-mz1", pc=None,
                run_bytes_left=limits.get("max_run_bytes", P["max_run_bytes"]))


def sources(stick: Path) -> list:
    return clix_ingest.find_sources(str(stick), [])


def entry(rel: str, data: bytes, size: int | None = None) -> object:
    return clix_ingest.Entry(rel, rel, len(data) if size is None else size, 1000.0, lambda: io.BytesIO(data))


# -- which school: the operator's -----------------------------------------------------------------

@pytest.mark.parametrize("config, pc, quarantined", [
    ({"schoolId": "2031002", "terminalId": "pc01"}, None, 'says school "2031002"'),
    ({"schoolId": "2031001", "terminalId": "pc02"}, "pc01", 'says terminal "pc02"'),
    ({"schoolId": " 2031001", "terminalId": "pc01"}, None, "says school"),  # not a code: not this school's
    ({"schoolId": "2031001", "terminalId": "PC01 "}, "pc01", None),  # as clix_identity.same_pc compares
    ({"schoolId": "02031001", "terminalId": "pc01"}, None, None),
    ({}, "pc02", None),
])
def test_a_config_json_that_contradicts_the_operators_school_or_pc_is_quarantined(config, pc, quarantined):
    found = clix_ingest.identify(config, {"school": "2031001-mz1", "pc": pc}, PCS, [])
    assert (found["quarantine"] is None) if quarantined is None else (quarantined in found["quarantine"])
    assert found["folder"] == "2031001-mz1" and found["pc"] == (pc or "pc01")


def test_a_terminal_that_cannot_be_a_pc_name_leaves_the_naming_to_the_operator():
    notes = []
    assert clix_ingest.identify({"terminalId": "Lab PC 3"}, {"school": "2031001-mz1", "pc": "pc02"}, PCS, notes)["pc"] \
        == "pc02"
    assert "'Lab PC 3'" not in notes[0] and '"Lab PC 3"' in notes[0]
    with pytest.raises(clix_ingest.Refused, match="names no terminal"):
        clix_ingest.identify({"terminalId": "Lab PC 3"}, {"school": "2031001-mz1", "pc": None}, PCS, [])


# -- one source never stops the others -----------------------------------------------------------

def test_one_source_that_fails_in_any_way_is_refused_and_the_next_is_taken(tmp_path, monkeypatch):
    stick = tmp_path / "stick"
    for case in ("a", "b"):
        usb.extract_like_script(usb.make_install(tmp_path / case, T1, {case: "2025-03-02 09:00:00"}, {}, OURS),
                                stick / case, T1)
    real = clix_ingest.ingest_one

    def first_breaks(kind, path, *args):
        if "/a/" in path:
            raise ValueError("month must be in 1..12 \x1b[31m")
        return real(kind, path, *args)
    monkeypatch.setattr(clix_ingest, "ingest_one", first_breaks)
    results, done = clix_ingest.ingest_all(run_p(tmp_path, stick), PCS, sources(stick), False, None)
    assert [r["status"] for r in results] == ["refused", "ingested"] and len(done) == 1
    assert "could not be read (ValueError: 'month must be in 1..12 \\x1b[31m')" in results[0]["reason"]


def test_a_zip_date_that_is_no_date_skips_its_entry():
    info = zipfile.ZipInfo("a/logging/LogEntry/x.json", date_time=(2025, 1, 2, 3, 4, 5))
    assert clix_ingest.zip_time(info) is not None
    info.date_time = (2025, 0, 2, 3, 4, 5)  # as a DOS date with month 0 reads
    assert clix_ingest.zip_time(info) is None


def test_an_unknown_compression_method_refuses_the_zip():
    info = zipfile.ZipInfo("a/b.json")
    info.compress_type = 99
    assert "compression method 99" in clix_ingest.hostile(info)


def test_a_name_with_a_c1_or_bidi_character_refuses_the_zip():
    for char in ("\x9b", "\u202e", "\u200b"):
        assert "control, invisible or bidi" in clix_ingest.hostile(zipfile.ZipInfo("a/%sb.json" % char))


# -- every input bounded -----------------------------------------------------------------------------

def checked_zip(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "CLIx-QBank-2025-03-02-10-05-33.zip"
    with zipfile.ZipFile(path, "w") as z:
        for n in range(count):
            z.writestr("CLIx-QBank-2025-03-02-10-05-33/logging/LogEntry/%d.json" % n, b"{}")
    usb.write_checksum(path)
    return path


def test_the_md5_is_compared_with_the_checksum_file(tmp_path):
    path = checked_zip(tmp_path, 1)
    assert clix_ingest.open_zip(str(path), P)[0] == hashlib.md5(path.read_bytes()).hexdigest()
    archive = clix_ingest.open_zip(str(path), P)[1]
    archive.close()
    archive.stick_file.close()
    usb.write_checksum(path, "0" * 32)
    with pytest.raises(clix_ingest.Refused, match="differs from its checksum file"):
        clix_ingest.open_zip(str(path), P)


def test_a_zip_with_more_entries_than_the_limit_is_refused_before_zipfile_reads_it(tmp_path, monkeypatch):
    path = checked_zip(tmp_path, 11)
    monkeypatch.setattr(clix_ingest.zipfile, "ZipFile", lambda *a: pytest.fail("zipfile read the directory"))
    with pytest.raises(clix_ingest.Refused, match=r"11 entries, more than clix_ingest_max_entries \(10\).*-e "
                                                  "clix_ingest_max_entries="):
        clix_ingest.open_zip(str(path), dict(P, max_entries=10))


def test_a_json_file_over_the_limit_is_skipped_naming_the_limit(tmp_path):
    skipped = []
    small, large = entry("webapps/unplatform/user_data/a.json", b"[1]"), entry("webapps/unplatform/user_data/b.json",
                                                                               b"[" + b" " * 20 + b"]")
    done = clix_ingest.extract([small, large], str(tmp_path), skipped, dict(P, max_json_bytes=10))
    assert [e.rel for e, _, _ in done] == [small.rel]
    assert "more than clix_ingest_max_json_bytes (10)" in skipped[0] and "-e clix_ingest_max_json_bytes=" in skipped[0]


def test_json_nested_deeper_than_the_reader_goes_is_skipped(tmp_path):
    skipped = []
    nested = entry("webapps/unplatform/user_data/n.json", b"[" * 100000 + b"]" * 100000)
    assert clix_ingest.extract([nested], str(tmp_path), skipped, P) == [] and "nested deeper than" in skipped[0]


@pytest.mark.parametrize("rel", ["webapps/CLIx/datastore/studentResponseFiles/a.mp3",
                                 "webapps/unplatform/user_data/a.json"])
def test_an_entry_that_holds_more_than_it_declared_refuses_its_source(tmp_path, rel):
    grown = entry(rel, b"[" + b"1" * 100 + b"]", size=10)  # a file that grew on the stick after it was listed
    with pytest.raises(clix_ingest.Refused, match="larger than its entry says"):
        clix_ingest.extract([grown], str(tmp_path), [], P)
    assert os.listdir(tmp_path) == []


def test_a_wal_over_the_limit_refuses_the_folder_without_being_read(tmp_path):
    wal = tmp_path / "unplatform.sqlite3-wal"
    with open(wal, "wb") as f:
        f.truncate(1 << 40)  # a sparse TiB on the stick
    with pytest.raises(clix_ingest.Refused, match="clix_ingest_max_wal_bytes"):
        clix_ingest.fold_wal(str(wal), str(tmp_path / "db"), P)
    assert sorted(os.listdir(tmp_path)) == ["unplatform.sqlite3-wal"]


def test_a_run_reads_at_most_its_budget_and_refuses_the_sources_beyond(tmp_path):
    stick = tmp_path / "stick"
    sizes = []
    for case, pc in (("a", "pc01"), ("b", "pc02")):
        config = dict(OURS, terminalId=pc)
        made = usb.extract_like_script(usb.make_install(tmp_path / case, T1, {case: "x"}, {}, config), stick / case, T1)
        with zipfile.ZipFile(made) as z:
            sizes.append(sum(i.file_size for i in z.infolist()))
    budget = sizes[0] + sizes[1] // 2
    results, _ = clix_ingest.ingest_all(run_p(tmp_path, stick, max_run_bytes=budget), PCS, sources(stick), False, None)
    assert [r["status"] for r in results] == ["ingested", "refused"]
    assert "clix_ingest_max_run_bytes (%d)" % budget in results[1]["reason"]


def test_a_check_run_checks_the_free_space_of_where_it_extracts(tmp_path, monkeypatch):
    usb.extract_like_script(usb.make_install(tmp_path / "a", T1, {"a": "2025-03-02 09:00:00"}, {}, OURS),
                            tmp_path / "stick", T1)
    where = []

    def full(folder, needed, reserve):
        where.append(folder)
        raise DiskFullError("%s is full" % folder)
    monkeypatch.setattr(clix_ingest, "require_free_space", full)
    results, _ = clix_ingest.ingest_all(run_p(tmp_path, tmp_path / "stick"), PCS, sources(tmp_path / "stick"), True, None)
    assert results[0]["status"] == "refused" and where == [clix_ingest.tempfile.gettempdir()]


# -- nothing followed, no depth too deep ------------------------------------------------------------

def test_a_link_on_the_stick_is_never_followed(tmp_path):
    outside = tmp_path / "outside"
    usb.extract_like_script(usb.make_install(tmp_path / "x", T1, {"x": "2025-03-02 09:00:00"}, {}, OURS), outside, T1)
    (outside / "CLIx").mkdir()
    (outside / "CLIx" / "unplatform.sqlite3").write_bytes(b"")
    stick = tmp_path / "stick"
    (stick / "school").mkdir(parents=True)
    (stick / "school" / "linked").symlink_to(outside, target_is_directory=True)
    notes = []
    assert clix_ingest.find_sources(str(stick), notes) == []
    assert notes == ["'school/linked': a symbolic link, never followed"]
    (outside / "webapps").mkdir()
    (outside / "webapps" / "linked").symlink_to(tmp_path / "x" / "webapps", target_is_directory=True)
    skipped = []
    assert clix_ingest.walk_files(str(outside), skipped) and "'webapps/linked': a symbolic link" in skipped[0]


def test_a_source_1200_folders_down_is_found(tmp_path):
    folder = tmp_path / "stick"
    for _ in range(1200):
        folder = folder / "d"
        folder.mkdir(parents=True)
    try:
        zip_path = usb.extract_like_script(usb.make_install(tmp_path / "a", T1, {"a": "x"}, {}, OURS), folder, T1)
        assert clix_ingest.find_sources(str(tmp_path / "stick"), []) == [("zip", str(zip_path))]
    finally:
        usb.remove_deep(tmp_path / "stick")


# -- nothing replaced is lost --------------------------------------------------------------------------

def test_a_replaced_file_is_kept_in_the_schools_history(tmp_path):
    school, work = tmp_path / "2025/mz/2031001-mz1", tmp_path / "work"
    install = school / "unplatform/pc01/CLIx"
    work.mkdir()
    rel = "webapps/CLIx/datastore/logging/LogEntry/x.json"
    counts = dict.fromkeys(clix_ingest.COUNTS, 0)
    for data, when in ((b'{"v": 1}', 1741000000.0), (b'{"v": 2}', 1742000000.0)):
        e = clix_ingest.Entry(rel, rel, len(data), when, lambda d=data: io.BytesIO(d))
        clix_ingest.place(clix_ingest.extract([e], str(work), [], P), str(school), str(install), str(work), counts, False)
    assert (install / rel).read_bytes() == b'{"v": 2}' and counts["replaced"] == 1
    older = school / "history/20250303T110640Z/unplatform/pc01/CLIx" / rel
    assert older.read_bytes() == b'{"v": 1}' and older.stat().st_mtime == 1741000000.0
