"""clix_ingest's rules: md5.exe's checksum line, the script's folder names and folders, the zip entries
that refuse a whole zip, and how a file of an extraction meets the archived one."""

from __future__ import annotations

import datetime as dt
import io
import os
import sqlite3
import stat
import zipfile

import pytest
import usb
from ansible.module_utils.clix_unplatform import (
    V1_DB,
    V1_LOG,
    UnplatformError,
    extraction_target,
    parse_checksum,
    parse_extraction,
)
from library_module import library_module

from fleet import unplatform

clix_ingest = library_module("clix_ingest")
ZIP = "UsersstudentAppDataLocalCLIxCLIx-QBank-2018-03-02- 9-05-33.zip"
MD5 = "7d05785b7bceed1dc0696d060db5c7ab"
# The module's limits, as its argument_spec defaults them.
P = dict(max_bytes=16 << 30, max_ratio=200, max_entries=100000, max_json_bytes=16 << 20, max_wal_bytes=64 << 20,
         max_run_bytes=64 << 30)


@pytest.mark.parametrize("text", [
    ("%s  %s\r\n" % (MD5.upper(), ZIP)).encode(),       # md5.exe as the script runs it
    ("%s\n" % MD5).encode(),                            # md5.exe -n, or typed by hand
    ("\ufeff%s *%s\n" % (MD5, ZIP.upper())).encode(),   # BOM, md5sum's binary marker, Windows' case-blind name
])
def test_the_checksum_line_md5_exe_writes_is_read_in_every_form(text):
    assert parse_checksum(text, ZIP) == MD5


@pytest.mark.parametrize("text", [
    ("%s  other.zip\r\n" % MD5).encode(), b"", b"not a checksum\r\n", ("%s\n%s\n" % (MD5, MD5)).encode(),
    ("%s  %s\n" % (MD5[:-1], ZIP)).encode(),
])
def test_a_checksum_file_for_another_zip_or_not_md5_exe_s_is_refused(text):
    with pytest.raises(UnplatformError):
        parse_checksum(text, ZIP)


def test_the_scripts_names_parse_with_a_space_padded_hour_and_a_copy_number():
    assert parse_extraction(ZIP[:-4]) == ("UsersstudentAppDataLocalCLIxCLIx", "2018-03-02T09:05:33", 0)
    assert parse_extraction("CLIx-QBank-2018-03-02-10-05-33 (2)") == ("CLIx", "2018-03-02T10:05:33", 2)
    assert usb.script_name(dt.datetime(2018, 3, 2, 9, 5, 33)) == ZIP[:-4]
    assert parse_extraction("CLIx-QBank--2-03--2018- 9-05-33") is None  # %DATE% of another locale


@pytest.mark.parametrize("rel, target", [
    ("unplatform/sessions/unplatform.sqlite3", "unplatform.sqlite3"),
    ("unplatform/sessions/db.sqlite3", None),
    ("repository/AssetContent/a.mp3", "webapps/CLIx/datastore/studentResponseFiles/a.mp3"),
    ("logging/LogEntry/x.json", "webapps/CLIx/datastore/logging/LogEntry/x.json"),
    ("unplatform/configuration/config.json", "webapps/unplatform/configuration/config.json"),
    ("logging/LogEntry/deeper/x.json", None),
    ("assessment/x.json", None),
    ("logging/LogEntry/", None),
])
def test_only_the_files_directly_in_the_extractions_folders_are_mapped(rel, target):
    assert extraction_target(rel) == target


def info(name: str, unix_mode: int | None = None, flags: int = 0) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name)
    if unix_mode is not None:
        zi.create_system, zi.external_attr = 3, unix_mode << 16
    zi.flag_bits |= flags
    return zi


@pytest.mark.parametrize("zi, why", [
    (info("a/../../b.json"), "climbs out"), (info("a/./b.json"), "climbs out"), (info("/etc/x"), "absolute"),
    (info("a\\b.json"), "backslash"), (info("C:/x.json"), "drive"), (info("a/b\x07.json"), "control"),
    (info("a/l.json", stat.S_IFLNK | 0o777), "symbolic link"), (info("a/f", stat.S_IFIFO | 0o644), "FIFO"),
    (info("a/d", stat.S_IFBLK | 0o644), "device"), (info("a/e.json", flags=0x1), "encrypted"),
])
def test_entries_that_refuse_a_whole_zip(zi, why):
    assert why in clix_ingest.hostile(zi)


@pytest.mark.parametrize("zi", [info("a/b/c.json"), info("a/b/", stat.S_IFDIR | 0o755), info("a/c.json", stat.S_IFREG | 0o644),
                                info("a/b c (2).json")])
def test_ordinary_entries_pass(zi):
    assert clix_ingest.hostile(zi) is None


def test_a_zip_bomb_is_caught_by_its_total_or_by_any_entrys_ratio():
    small, big = info("a/s.json"), info("a/b.json")
    small.file_size, small.compress_size = 1000, 10
    big.file_size, big.compress_size = 8 << 20, 8 << 10
    assert clix_ingest.bomb([small, big], dict(P, max_ratio=2000)) is None
    assert "clix_ingest_max_ratio" in clix_ingest.bomb([small, big], dict(P, max_ratio=500))
    assert "clix_ingest_max_bytes" in clix_ingest.bomb([small, big], dict(P, max_bytes=4 << 20, max_ratio=2000))
    many = []
    for n in range(400):  # each under 1 MiB, each expanding 1,000 times: 360 MiB from 360 KiB
        many.append(info("a/%d.json" % n))
        many[-1].file_size, many[-1].compress_size = 900 << 10, 900
    assert "expands 1024 times" in clix_ingest.bomb(many, P)


def entry(rel: str, data: bytes, when: float) -> object:
    return clix_ingest.Entry(rel, rel, len(data), when, lambda: io.BytesIO(data))


def test_a_newer_file_replaces_an_older_one_never_the_reverse_and_identical_files_are_left_alone(tmp_path):
    install, work = tmp_path / "install", tmp_path / "work"
    work.mkdir()
    rel = "webapps/CLIx/datastore/logging/LogEntry/x.json"
    counts = dict.fromkeys(("added", "replaced", "kept", "identical", "sessions_added", "sessions_updated"), 0)

    def ingest(data: bytes, when: float) -> None:
        skipped = []
        clix_ingest.place(clix_ingest.extract([entry(rel, data, when)], str(work), skipped, P), str(tmp_path),
                          str(install), str(work), counts, False)
        assert skipped == []

    ingest(b'{"v": 2}', 2000.0)
    ingest(b'{"v": 1}', 1000.0)  # an older extraction, ingested later
    ingest(b'{"v": 2}', 2000.0)
    assert (install / rel).read_bytes() == b'{"v": 2}' and os.stat(install / rel).st_mtime == 2000.0
    ingest(b'{"v": 3}', 3000.0)
    assert (install / rel).read_bytes() == b'{"v": 3}'
    assert counts == dict(added=1, replaced=1, kept=1, identical=1, sessions_added=0, sessions_updated=0)


def test_a_torn_json_file_is_skipped_with_its_reason(tmp_path):
    skipped = []
    done = clix_ingest.extract([entry("webapps/unplatform/user_data/s.json", b'{"user', 1.0)], str(tmp_path), skipped, P)
    assert done == [] and "does not parse as JSON" in skipped[0] and os.listdir(tmp_path) == []


@pytest.mark.parametrize("make, why", [
    (lambda con: con.execute("CREATE TABLE other (x)"), "no sessions table"),
    (lambda con: con.execute("CREATE VIEW sessions AS SELECT 1 AS session_id, 2 AS atime, 3 AS data"), "view 'sessions'"),
])
def test_a_session_database_without_the_sessions_table_is_not_placed(tmp_path, make, why):
    db = tmp_path / "db"
    (tmp_path / "w").mkdir()
    con = sqlite3.connect(db)
    make(con)
    con.commit()
    con.close()
    skipped = []
    done = clix_ingest.extract([entry("unplatform.sqlite3", db.read_bytes(), 1.0)], str(tmp_path / "w"), skipped, P)
    assert done == [] and why in skipped[0]


def test_a_file_that_is_not_sqlite_is_not_placed_as_the_session_database(tmp_path):
    skipped = []
    (tmp_path / "w").mkdir()
    done = clix_ingest.extract([entry("unplatform.sqlite3", b"SQLite format 2\x00" + bytes(100), 1.0)],
                               str(tmp_path / "w"), skipped, P)
    assert done == [] and "not an SQLite database" in skipped[0]


def test_entries_that_are_not_the_extractions_data_are_skipped_each_with_its_reason(tmp_path):
    top = ZIP[:-4]
    path = tmp_path / ZIP
    with zipfile.ZipFile(path, "w") as z:
        for name in ("%s/logging/LogEntry/ok.json" % top, "%s/logging/LogEntry/caf\u00e9.json" % top, "stray.json",
                     "%s/logging/LogEntry/Thumbs.db" % top, "%s/logging/LogEntry/.hidden.json" % top,
                     "%s/logging/LogEntry/deeper/x.json" % top, "%s/assessment/Item/item.json" % top):
            z.writestr(name, b"{}")
    skipped = []
    with zipfile.ZipFile(path) as archive:
        archive.infolist()[1].flag_bits &= ~0x800  # as Windows writes a name: in the OEM code page, unmarked
        entries = clix_ingest.zip_entries(str(path), archive, P, skipped)
    assert [e.rel for e in entries] == ["webapps/CLIx/datastore/logging/LogEntry/ok.json"]
    reasons = "\n".join(skipped)
    for why in ("caf\u00e9.json': a name neither ASCII nor marked UTF-8", "stray.json': outside the zip's folder",
                "Thumbs.db': not a .json file", ".hidden.json': a hidden file",
                "deeper/x.json': not in one of the extraction's folders", "Item/item.json': not in one of the extraction's"):
        assert why in reasons, (why, reasons)


def test_a_version_1_database_is_placed_only_when_sqlite_passes_it(tmp_path):
    skipped = []
    db = tmp_path / "db.sqlite3"
    sqlite3.connect(db).execute("CREATE TABLE research_uuid (session_id TEXT)").connection.commit()
    good = entry(V1_DB, db.read_bytes(), 1.0)
    work = tmp_path / "w"
    work.mkdir()
    assert [e.rel for e, _, _ in clix_ingest.extract([good], str(work), skipped, P)] == [V1_DB] and skipped == []
    bad = entry(V1_DB, b"SQLite format 3\x00" + bytes(200), 1.0)
    assert clix_ingest.extract([bad], str(work), skipped, P) == []
    assert "version 1's database" in skipped[0], skipped


def test_of_a_copied_version_1_folder_its_database_and_log_are_taken_and_not_the_app(tmp_path):
    unplatform.generate_v1(tmp_path / "CLIx_Unplatform", 1, 2)
    skipped = []
    entries = clix_ingest.folder_entries("install folder", str(tmp_path / "CLIx_Unplatform"), skipped)
    assert sorted(e.rel for e in entries) == [V1_DB, V1_LOG] and skipped == []
    assert clix_ingest.find_sources(str(tmp_path), []) == [("install folder", str(tmp_path / "CLIx_Unplatform"))]
