#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_ingest
short_description: Ingest the field team's USB extractions of one school's unplatform lab PCs into the archive
description:
  - Runs on the control node, for one school at a time - O(school), the operator's word; the stick's own files
    never decide which school their data belong to. Finds below O(source), without following links (each
    link is reported), every zip made by the field team's C(DataExtractionScript.bat)
    (C(<install>-QBank-<YYYY-MM-DD-HH-MM-SS>.zip), with the MD5 that C(md5.exe) wrote in C(<name>checksum.txt)
    beside it), every extraction folder that was copied without zipping, and every plainly copied install
    folder - version 2 (holding C(unplatform.sqlite3), C(webapps/CLIx/datastore) or C(webapps/unplatform/user_data))
    or version 1 (holding C(unplatform/db.sqlite3)), told as the collection tells them (C(layout_of) of
    C(module_utils/clix_unplatform.py)). The search walks folders one at a time (no depth is too deep for it).
  - Each source is ingested on its own - one that cannot be read, whatever the reason, is refused with its
    reason and the next one is taken; the report is always written.
  - A zip is refused, and nothing of it written, when its checksum file is missing, unreadable or names
    another file, when its MD5 differs, when it is truncated or corrupt (no central directory, a CRC
    error, a damaged LZMA or deflate stream), and when any entry is hostile - an absolute name, C(..), a
    backslash, a drive letter, a name the name rule refuses (C(clix_identity) - control, invisible or bidi
    characters), a symbolic link, device, FIFO or socket (the unix mode in the entry's external
    attributes), a duplicate name, an encrypted entry, a compression method other than stored, deflate,
    bzip2 or LZMA, names not valid UTF-8 in a zip that says they are - or when it is a zip bomb - more
    than O(max_entries) entries (counted before the zip is read), more than O(max_bytes) expanded, or any
    entry, or all of them, expanding more than O(max_ratio) times their compressed size.
  - Entries that are not the extraction's data are skipped with their reason - outside the zip's top
    folder or outside the extraction's folders (C(EXTRACTION_MAP) of C(module_utils/clix_unplatform.py)),
    hidden names, names the name rule refuses or that are neither ASCII nor marked UTF-8, a zip date that is
    no date (a month 0), a JSON file larger than O(max_json_bytes), nested deeper than Python's JSON reader
    goes, or that does not parse (torn while the app wrote it), and a sessions database that is not a plain
    one (no C(sessions) table, a view or a trigger - it is refused, never run, as C(clix_unplatform.read_sessions)
    reads it). Every name from the stick is escaped in messages and reports (C(clix_identity.shown)).
  - The lab PC is O(pc), else the one the extraction's C(config.json) names (C(terminalId), a C(clix_pc) of
    O(school)'s lab PCs in O(lab_pcs)). A C(config.json) whose C(schoolId) is not O(school)'s school code, or
    whose C(terminalId) is not O(pc), is placed in the school's quarantine folder
    (C(<archive>/quarantine/<YYYY>/<state>/<school>/unplatform/<pc>/)), never into a school's folder, and
    reported. A C(terminalId) that cannot be a C(clix_pc) (a terminal called C(Lab PC 3)) names nothing,
    with a note, so O(pc) names that PC.
  - The data go to C(<YYYY>/<state>/<code>-<id>/unplatform/<pc>/<install>/) in the install's own layout,
    C(<YYYY>) being the year of the extraction (its name's time stamp; for a plain folder, or a stamp the
    script cut from another locale's C(%DATE%), the newest file time); a plain folder's C(<install>) is its
    name. Of a version 1 folder, its database C(unplatform/db.sqlite3) (placed only when SQLite's
    C(quick_check) passes) and C(unplatform/debug.log) are taken, as the collection takes them. A copied
    install folder's C(unplatform.sqlite3-wal) (at most O(max_wal_bytes), read as a stream) is folded into
    its database before the database is checked. Each file is first extracted into a private temporary
    folder inside the archive (same file system), flushed, then renamed into place.
  - Merging - the sessions database (version 2's) is folded with the archived one into a database of the
    project's own schema (C(fold_sessions) - no archived session is ever lost, a session in both keeps the
    later C(atime)); any other file is added when new, left alone when identical, and replaces the archived
    file only when the incoming file's own time (its zip entry's time, or its mtime in a folder) is later
    than the archived file's mtime, which ingest sets to that same time. Nothing replaced is lost - the
    older file is kept in the school's C(history/<its time>/) (C(clix_layout.history_path)), as a merge keeps
    it, and so is the older database when a session's row was replaced by a later one. So a newer
    extraction adds what is new, an older one ingested later never replaces newer files, and a file that is
    gone from a PC stays in the archive. Re-ingesting a zip changes nothing and reports it C(unchanged).
  - A run reads at most O(max_run_bytes) from its sources; a source that would read more is refused.
  - Returns, per school (or quarantine) folder changed, the manifest item C(unplatform/<pc>) to seal with
    C(clix_manifest) (C(details) - the installs, the C(config.json) values as data, the extraction), and
    writes a report (Markdown and JSON) into O(reports_dir). Run inside Ansible's worker
    (C(action_plugins/clix_inprocess.py)), it prints the school, its lab PCs and the sources found before
    it writes anything, then a line per source.
  - Take the archive's lock (C(clix_archive_lock)) around it, as C(ingest.yml) does.
version_added: "0.4.0"
options:
  source:
    description: The folder to search (a mounted USB stick, or a folder the extractions were copied to).
    type: path
    required: true
  archive_root:
    description: The archive's root.
    type: path
    required: true
  lab_pcs:
    description:
      - The inventory's lab PCs - C(host), C(groups) (its state and server-id groups), C(school_code),
        C(school_name), C(pc) (the host's C(clix_pc)).
    type: list
    elements: dict
    required: true
  school:
    description:
      - The school (C(<code>-<id>), a school of O(lab_pcs)) whose extractions these are - the operator's word.
        An extraction whose C(config.json) names another school is quarantined.
    type: str
    required: true
  pc:
    description:
      - The lab PC (C(clix_pc)) of every extraction of the run; without it, each extraction's C(config.json)
        names its PC. An extraction whose C(config.json) names another PC is quarantined.
    type: str
  reports_dir:
    description: Where the report goes (C(<archive>/reports)); none is written when omitted.
    type: path
  max_bytes:
    description: Most bytes one source may expand to.
    type: int
    default: 17179869184
  max_ratio:
    description: Most any entry of a zip, and all of them together, may expand, as a multiple of their compressed size.
    type: int
    default: 200
  max_entries:
    description: Most entries (files and folders) one zip may hold; counted from its end record before it is read.
    type: int
    default: 100000
  max_json_bytes:
    description: Largest JSON file placed (each is parsed in memory first); a larger one is skipped with its reason.
    type: int
    default: 16777216
  max_wal_bytes:
    description: Largest C(unplatform.sqlite3-wal) of a copied install folder folded in; a larger one refuses the folder.
    type: int
    default: 67108864
  max_run_bytes:
    description: Most bytes a run reads from its sources (JSON, WAL and every other file); later sources are refused.
    type: int
    default: 68719476736
attributes:
  check_mode:
    details: >-
      Verifies every source and says what would be ingested, quarantined, unchanged or refused; writes nothing
      into the archive (it extracts into the system's temporary folder, after checking its free space).
extends_documentation_fragment:
  - clix_attributes
"""

EXAMPLES = r"""
- name: Ingest the extractions of one school's lab PCs on a USB stick
  clix_ingest:
    source: /media/usb
    archive_root: /srv/clix-archive
    school: 2031001-mz1
    lab_pcs:
      - {host: 2031001-mz1-pc01, groups: [mz, mz1], school_code: "2031001", school_name: GOVT. MIZO HS, pc: pc01}
    reports_dir: /srv/clix-archive/reports
  delegate_to: localhost
"""

RETURN = r"""
sources:
  description: One entry per extraction or folder found.
  returned: always
  type: list
  elements: dict
  contains:
    source:
      description: The zip or folder, relative to O(source) (as found; printed escaped).
      type: str
    kind:
      description: C(zip), C(extraction folder) or C(install folder).
      type: str
    status:
      description: C(ingested), C(unchanged), C(quarantined) or C(refused).
      type: str
    reason:
      description: Why it was refused or quarantined.
      type: str
    school:
      description: The school (or quarantine) folder below the archive root (C(2026/mz/2031001-mz1)).
      type: str
    pc:
      description: The lab PC.
      type: str
    install:
      description: The install's folder below C(unplatform/<pc>/).
      type: str
    md5:
      description: The zip's MD5, as verified.
      type: str
    time:
      description: The extraction's time (C(YYYY-MM-DDTHH:MM:SS), the PC's clock).
      type: str
    counts:
      description: >-
        Files C(added), C(replaced) (the older kept in C(history/)), C(kept) (the archive's was newer) and
        C(identical); sessions C(sessions_added), C(sessions_updated).
      type: dict
    skipped:
      description: Entries not placed, each with its reason (names escaped).
      type: list
      elements: str
    notes:
      description: What the operator should know, for example a C(config.json) value that cannot name a PC.
      type: list
      elements: str
seal:
  description: >-
    One entry per school or quarantine folder that changed - C(root), C(school) and C(items) (C(unplatform/<pc>)
    with its C(details)) - ready for C(clix_manifest).
  returned: always
  type: list
  elements: dict
refused:
  description: The sources refused (escaped).
  returned: always
  type: list
  elements: str
quarantined:
  description: The sources placed in quarantine (escaped).
  returned: always
  type: list
  elements: str
notes:
  description: What the search met on the stick (links not followed, folders that cannot be read), names escaped.
  returned: always
  type: list
  elements: str
lines:
  description: The report, one line per source.
  returned: always
  type: list
  elements: str
files:
  description: The report files written.
  returned: always
  type: list
  elements: str
started:
  description: When the run started (UTC, ISO 8601).
  returned: always
  type: str
ended:
  description: When the run ended (UTC, ISO 8601); the manifests record it as the items' time.
  returned: always
  type: str
"""

import calendar
import datetime
import hashlib
import json
import lzma
import os
import shutil
import sqlite3
import stat
import tempfile
import zipfile
import zlib

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import (
    CHUNK,
    DiskFullError,
    NotRegularFileError,
    atomic_output,
    fsync_dir,
    install_file,
    open_regular,
    read_regular,
    require_free_space,
    sha256_file,
    write_text_files,
)
from ansible.module_utils.clix_identity import (
    CONFIG_SCHOOL,
    CONFIG_TERMINAL,
    labpc_claims,
    literal,
    same_code,
    shown,
    unsafe_chars,
    unset,
)
from ansible.module_utils.clix_inventory import lab_pc_identities
from ansible.module_utils.clix_layout import (
    LayoutError,
    check_part,
    history_path,
    quarantine_root,
    report_base,
    school_root,
    stamp_of,
    under,
)
from ansible.module_utils.clix_manifest import OK
from ansible.module_utils.clix_manifest import load as load_manifest
from ansible.module_utils.clix_unplatform import (
    EXTRACTION_CHECKSUM_SUFFIX,
    EXTRACTION_ZIP_SUFFIX,
    PC,
    V1_DB,
    V1_LOG,
    V2_ASSET_CONTENT,
    V2_CONFIG,
    V2_DATASTORE,
    V2_SESSIONS_DB,
    V2_STUDENT_RESPONSES,
    V2_USER_DATA,
    UnplatformError,
    UntrustedDatabaseError,
    check_install_label,
    check_sessions,
    extraction_target,
    fold_sessions,
    layout_of,
    open_untrusted,
    parse_checksum,
    parse_extraction,
    pc_relpath,
    session_count,
    standalone,
)

UTF8_FLAG = 0x800
ENCRYPTED_FLAG = 0x1
# Windows' own zip (zipjs.bat) deflates; of the other methods, those zipfile reads. Anything else (AES,
# PPMd, ...) is not the field team's.
METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
# A central directory record is 46 bytes, its name (the script's are about 110) and extra fields: a
# directory larger than this per entry is not a zip's (zipfile would read it whole into memory).
CD_BYTES_PER_ENTRY = 1024
# Errors of a damaged compressed stream (bz2 raises OSError).
CORRUPT = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError)
CONFIG_LIMIT = 1 << 20
CHECKSUM_LIMIT = 4096
RESERVE = 256 << 20
SQLITE_MAGIC = b"SQLite format 3\x00"
WORK_PREFIX = ".clix-ingest-"
SKIPPED_SHOWN = 20
# The PC folder in quarantine of an extraction that names another school and no PC (-e or config.json).
UNNAMED_PC = "unnamed"
# shown()'s limit for a path from the stick: a whole path, never cut.
PATH_CHARS = 4096
COUNTS = ("added", "replaced", "kept", "identical", "sessions_added", "sessions_updated")
# Each limit, the module option and the role variable that sets it.
LIMITS = {key: "clix_ingest_" + key for key in
          ("max_bytes", "max_ratio", "max_entries", "max_json_bytes", "max_wal_bytes", "max_run_bytes")}


class Refused(Exception):
    """A source that is not ingested at all; nothing (more) of it is written."""


def over(limit: str, p: dict, what: str) -> Refused:
    """A refusal that names the limit passed and how to raise it."""
    return Refused("%s, more than %s (%d): refused; if it is real data, raise it with -e %s=<n>"
                   % (what, LIMITS[limit], p[limit], LIMITS[limit]))


def printable(name: str) -> str:
    """A name from the stick as it may be printed: escaped (clix_identity.shown), never cut."""
    return shown(name, PATH_CHARS)


class Entry:
    """One file of a source: where it goes in the install (rel), its size and own time, how to read it,
    and (an install folder's database) the WAL beside it on the stick."""

    def __init__(self, name: str, rel: str, size: int, mtime: float, opener, wal: str | None = None) -> None:
        self.name, self.rel, self.size, self.mtime, self.opener, self.wal = name, rel, size, mtime, opener, wal

    @property
    def is_json(self) -> bool:
        return self.rel.endswith(".json") and not self.rel.startswith(V2_STUDENT_RESPONSES + "/")


# ---------------------------------------------------------------- walking the stick

def walk(top: str, notes: list):
    """(folder, its relative path, [DirEntry of its folders], [DirEntry of its files]) of top and every
    folder below it, one folder at a time (no recursion: no depth is too deep); a folder the caller
    removes from the list of folders is not entered. Links are never followed: each is noted. A folder
    that cannot be read is noted and passed."""
    stack = [top]
    while stack:
        folder = stack.pop()
        rel = os.path.relpath(folder, top)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            notes.append("%s: cannot be read (%s), not searched" % (printable(rel), exc.strerror or exc))
            continue
        dirs, files = [], []
        for entry in entries:
            if entry.is_symlink():
                link = os.path.normpath(os.path.join(rel, entry.name))
                notes.append("%s: a symbolic link, never followed" % printable(link))
            elif entry.is_dir(follow_symlinks=False):
                dirs.append(entry)
            else:
                files.append(entry)
        yield folder, rel, dirs, files
        stack.extend(e.path for e in reversed(dirs))


def find_sources(top: str, notes: list) -> list:
    """(kind, path) of every zip, extraction folder and install folder below top, sorted by path."""
    if layout_of(top):
        return [("install folder", top)]
    found = []
    for _, _, dirs, files in walk(top, notes):
        for entry in files:
            if entry.name.endswith(EXTRACTION_ZIP_SUFFIX) and "-QBank-" in entry.name \
                    and entry.is_file(follow_symlinks=False):
                found.append(("zip", entry.path))
        for entry in list(dirs):
            if parse_extraction(entry.name) or "-QBank-" in entry.name:
                found.append(("extraction folder", entry.path))
                dirs.remove(entry)
            elif layout_of(entry.path):
                found.append(("install folder", entry.path))
                dirs.remove(entry)
    return sorted(found, key=lambda x: x[1])


# ---------------------------------------------------------------- zips

def zip_time(info: zipfile.ZipInfo) -> float | None:
    """An entry's own time (the PC's wall clock, stored without a zone), as seconds read as UTC; None
    when its MS-DOS date and time are no time (a month 0, an hour 31)."""
    try:
        return float(calendar.timegm(datetime.datetime(*info.date_time).timetuple()))
    except (ValueError, OverflowError):
        return None


def hostile(info: zipfile.ZipInfo) -> str | None:
    """Why an entry makes the whole zip untrustworthy, or None."""
    name = info.filename
    if "\\" in name:
        return "entry %s holds a backslash" % printable(name)
    if name.startswith("/"):
        return "entry %s is an absolute path" % printable(name)
    if len(name) > 1 and name[1] == ":":
        return "entry %s names a drive" % printable(name)
    if any(p in ("..", ".") for p in name.rstrip("/").split("/")):
        return "entry %s climbs out of its folder (..)" % printable(name)
    if unsafe_chars(name):
        return "entry %s holds a control, invisible or bidi character" % printable(name)
    if info.flag_bits & ENCRYPTED_FLAG:
        return "entry %s is encrypted" % printable(name)
    if info.compress_type not in METHODS:
        return "entry %s uses compression method %d, which is not a zip of Windows' (stored, deflate, bzip2, LZMA)" \
            % (printable(name), info.compress_type)
    if info.create_system == 3:
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            return "entry %s is a %s" % (printable(name), "symbolic link" if kind == stat.S_IFLNK
                                         else "device, FIFO or socket")
    return None


def census(f, p: dict) -> None:
    """Refuse a zip whose end record says it holds more than max_entries entries, or a central directory
    larger than they need, before zipfile reads the directory (whole, into memory)."""
    try:
        end = zipfile._EndRecData(f)  # the end record, as zipfile itself reads it (zip64 too)
    except OSError as exc:
        raise Refused("it is not a readable zip (%s): copy it again from the PC" % exc) from None
    if not end:
        raise Refused("it is not a readable zip, truncated or corrupt (no end record): copy it again from the PC")
    entries, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if entries > p["max_entries"]:
        raise over("max_entries", p, "it holds %d entries" % entries)
    if size > CD_BYTES_PER_ENTRY * max(entries, 1):
        raise Refused("its central directory of %d bytes is larger than %d entries need: not a zip of the "
                      "field team's script" % (size, entries))
    f.seek(0)


def bomb(infos: list, p: dict) -> str | None:
    """Why the zip's sizes make it a zip bomb (or too large), or None: every entry's ratio and the total's."""
    total = sum(i.file_size for i in infos)
    if total > p["max_bytes"]:
        return over("max_bytes", p, "it would expand to %d bytes" % total).args[0]
    for i in infos:
        if i.file_size > p["max_ratio"] * max(i.compress_size, 1):
            return over("max_ratio", p, "entry %s expands %d times (a zip bomb?)"
                        % (printable(i.filename), i.file_size // max(i.compress_size, 1))).args[0]
    packed = sum(i.compress_size for i in infos)
    if total > p["max_ratio"] * max(packed, 1):
        return over("max_ratio", p, "its entries expand %d times (a zip bomb?)" % (total // max(packed, 1))).args[0]
    return None


def open_zip(path: str, p: dict):
    """(md5, zipfile) of the zip at path, read through one descriptor (closed with the zipfile, see close_zip):
    its MD5 checked against its checksum file, its size checked (census) before zipfile reads its directory."""
    name = os.path.basename(path)
    checksum = os.path.join(os.path.dirname(path), name[:-len(EXTRACTION_ZIP_SUFFIX)] + EXTRACTION_CHECKSUM_SUFFIX)
    try:
        text = read_regular(checksum, limit=CHECKSUM_LIMIT)
    except FileNotFoundError:
        raise Refused("no checksum file %s beside it: copy it from the PC's install folder with the zip"
                      % printable(os.path.basename(checksum))) from None
    except (OSError, ValueError) as exc:
        raise Refused("its checksum file cannot be read (%s)" % shown(str(exc))) from None
    try:
        expected = parse_checksum(text, name)
    except UnplatformError as exc:
        raise Refused(str(exc)) from None
    f = os.fdopen(open_regular(path), "rb")
    try:
        digest = hashlib.md5()
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
        if digest.hexdigest() != expected:
            raise Refused("MD5 %s differs from its checksum file's %s: the copy is damaged, copy it again from the PC"
                          % (digest.hexdigest(), expected))
        census(f, p)
        try:
            archive = zipfile.ZipFile(f)
            archive.stick_file = f  # zipfile never closes a file it was handed
            return expected, archive
        except UnicodeDecodeError:
            raise Refused("an entry's name is marked UTF-8 but is not valid UTF-8") from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise Refused("it is not a readable zip, truncated or corrupt (%s): copy it again from the PC"
                          % shown(str(exc))) from None
    except BaseException:
        f.close()
        raise


def zip_entries(path: str, archive: zipfile.ZipFile, p: dict, skipped: list) -> list:
    infos = archive.infolist()
    if len(infos) > p["max_entries"]:
        raise over("max_entries", p, "it holds %d entries" % len(infos))
    seen = set()
    for info in infos:
        problem = hostile(info)
        if not problem and info.filename in seen:
            problem = "entry %s appears twice" % printable(info.filename)
        if problem:
            raise Refused(problem)
        seen.add(info.filename)
    problem = bomb(infos, p)
    if problem:
        raise Refused(problem)
    stem = os.path.basename(path)[:-len(EXTRACTION_ZIP_SUFFIX)]
    tops = {i.filename.split("/", 1)[0] for i in infos if "/" in i.filename}
    top = stem if stem in tops else (tops.pop() if len(tops) == 1 else None)
    if top is None:
        raise Refused("it has no single top folder named like the zip, as the field team's script makes it")
    entries = []
    for info in infos:
        if info.is_dir():
            continue
        head, _, rel = info.filename.partition("/")
        name = printable(info.filename)
        if head != top or not rel:
            skipped.append("%s: outside the zip's folder %s" % (name, printable(top)))
            continue
        if not info.flag_bits & UTF8_FLAG and not info.filename.isascii():
            skipped.append("%s: a name neither ASCII nor marked UTF-8 (the field team's files have ASCII names)" % name)
            continue
        target = mapped(rel, extraction_target(rel), name, skipped)
        when = zip_time(info)
        if target and when is None:
            skipped.append("%s: its zip date %s is no date (the zip was not made by Windows)"
                           % (name, "-".join(str(x) for x in info.date_time)))
        elif target:
            entries.append(Entry(info.filename, target, info.file_size, when, lambda i=info: archive.open(i)))
    return entries


def mapped(rel: str, target: str | None, name: str, skipped: list) -> str | None:
    """target when it is data the ingest places, else None with the reason in skipped (name: escaped)."""
    if target is None:
        skipped.append("%s: not in one of the extraction's folders" % name)
        return None
    last = rel.rsplit("/", 1)[-1]
    try:
        check_part(last)
    except LayoutError as exc:
        skipped.append("%s: %s" % (name, exc))
        return None
    if last.startswith("."):
        skipped.append("%s: a hidden file" % name)
        return None
    if target not in (V2_SESSIONS_DB, V1_DB, V1_LOG) and not target.startswith(V2_STUDENT_RESPONSES + "/") \
            and not last.endswith(".json"):
        skipped.append("%s: not a .json file" % name)
        return None
    return target


# ---------------------------------------------------------------- folders

def walk_files(root: str, skipped: list) -> list:
    """(relpath, lstat) of every regular file below root; links and special files skipped, never followed."""
    out, notes = [], []
    for _, rel, _, files in walk(root, notes):
        for entry in files:
            path = os.path.normpath(os.path.join(rel, entry.name))
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                out.append((path, st))
            else:
                skipped.append("%s: not a regular file" % printable(path))
    skipped += notes
    return out


def install_target(rel: str, layout: str) -> str | None:
    """The path an install folder's file keeps in the archive, or None when it is not research data
    (version 1: its database and log, as the collection takes them)."""
    if layout == "v1":
        return rel if rel in (V1_DB, V1_LOG) else None
    if rel in (V2_SESSIONS_DB, V2_CONFIG):
        return rel
    if rel.startswith(V2_ASSET_CONTENT + "/"):
        return None  # shipped content media (the uploads are in studentResponseFiles)
    folder = rel.rsplit("/", 1)[0]
    if folder in (V2_USER_DATA, V2_STUDENT_RESPONSES):
        return rel
    parts = rel.split("/")
    if rel.startswith(V2_DATASTORE + "/") and len(parts) == len(V2_DATASTORE.split("/")) + 3:
        return rel
    return None


def folder_entries(kind: str, path: str, skipped: list) -> list:
    entries = []
    layout = layout_of(path)
    for rel, st in walk_files(path, skipped):
        if kind == "install folder":
            target = install_target(rel, layout)
            if target is None:
                continue  # the application itself, shipped content, the WAL (folded in with its database)
        else:
            target = extraction_target(rel)
        target = mapped(rel, target, printable(rel), skipped)
        if target:
            wal = os.path.join(path, V2_SESSIONS_DB + "-wal") if kind == "install folder" and target == V2_SESSIONS_DB \
                else None
            entries.append(Entry(rel, target, st.st_size, st.st_mtime,
                                 lambda r=rel: os.fdopen(open_regular(os.path.join(path, r)), "rb"), wal))
    return entries


# ---------------------------------------------------------------- identity: the operator's school

def config_of(entries: list) -> dict:
    """config.json's values as data ({} when there is none, or it is not a JSON object)."""
    for e in entries:
        if e.rel == V2_CONFIG:
            with e.opener() as f:
                data = f.read(CONFIG_LIMIT + 1)
            try:
                value = json.loads(data.decode("utf-8"))
            except (ValueError, RecursionError):
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def school_pcs(lab_pcs: list, school: str) -> dict:
    """{clix_pc: identity} of the inventory's lab PCs of the school folder (clix_inventory.lab_pc_identities)."""
    return dict(sorted((i["pc"], i) for i in lab_pc_identities(lab_pcs) if i["folder"] == school))


def said_pc(config: dict, notes: list) -> str | None:
    """The clix_pc config.json's terminalId names (case and blanks aside, as clix_identity.same_pc compares);
    a value of another form (a terminal called "Lab PC 3") names nothing, with a note."""
    value = config.get(CONFIG_TERMINAL)
    if unset(value):
        return None
    pc = str(value).strip().lower() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not PC.fullmatch(pc):
        notes.append("config.json's %s %s is not of the inventory's form: the PC is named by -e clix_ingest_pc"
                     % (CONFIG_TERMINAL, literal(value)))
        return None
    return pc


def identify(config: dict, p: dict, pcs: dict, notes: list) -> dict:
    """The destination of an extraction: the identity of the operator's school's PC, with quarantine set to
    the reason when its config.json names another school (schoolId) or contradicts -e clix_ingest_pc."""
    school = next(iter(pcs.values()))
    claim = config.get(CONFIG_SCHOOL)
    terminal = said_pc(config, notes)
    pc = p["pc"] or terminal
    problem = None
    if not unset(claim) and not same_code(claim, school["school_code"]):
        problem = "its config.json says school %s, not %s as given with clix_ingest_school" % (literal(claim), p["school"])
    elif p["pc"] and terminal and terminal != p["pc"]:
        problem = "its config.json says terminal %s, not %s as given with clix_ingest_pc" % (
            literal(config.get(CONFIG_TERMINAL)), p["pc"])
    if problem:
        return dict(school, host=None, pc=pc or UNNAMED_PC, quarantine=problem)
    if not pc:
        raise Refused("its config.json names no terminal: name the PC with -e clix_ingest_pc=<pc> (lab PCs of %s: %s)"
                      % (p["school"], ", ".join(pcs)))
    if pc not in pcs:
        raise Refused("the inventory has no lab PC %s of school %s (its lab PCs: %s): add the PC to the inventory "
                      "(clix_platform: unplatform, clix_pc: %s), or name it with -e clix_ingest_pc=<pc>"
                      % (pc, p["school"], ", ".join(pcs), pc))
    return dict(pcs[pc], quarantine=None)


# ---------------------------------------------------------------- extract and check

def copy_entry(e: Entry, path: str) -> str:
    """The entry's bytes streamed into a new file at path (flushed to disk); its sha256. An entry that
    holds more than its declared size, or whose compressed data is damaged, refuses its source."""
    with e.opener() as src, atomic_output(path) as out:
        copied = 0
        while True:
            block = read_block(src, e)
            if not block:
                break
            copied += len(block)
            if copied > e.size:
                raise Refused("%s is larger than its entry says (%d bytes)" % (printable(e.name), e.size))
            out.write(block)
        return out.sha256.hexdigest()


def read_block(src, e: Entry, size: int = CHUNK) -> bytes:
    try:
        return src.read(size)
    except NotRegularFileError:
        raise
    except CORRUPT as exc:
        raise Refused("it is corrupt (%s at %s): copy it again from the PC" % (shown(str(exc)), printable(e.name))) from None


def read_json(e: Entry, p: dict) -> tuple:
    """(bytes, None) of a JSON entry that parses, else (None, why): never more than max_json_bytes read."""
    if e.size > p["max_json_bytes"]:
        return None, "a JSON file of %d bytes, more than %s (%d): not placed (raise it with -e %s=<bytes> if it " \
            "is real data)" % (e.size, LIMITS["max_json_bytes"], p["max_json_bytes"], LIMITS["max_json_bytes"])
    with e.opener() as src:
        data = read_block(src, e, e.size + 1)
    if len(data) > e.size:
        raise Refused("%s is larger than its entry says (%d bytes)" % (printable(e.name), e.size))
    try:
        json.loads(data.decode("utf-8"))
    except RecursionError:
        return None, "nested deeper than Python's JSON reader goes (about 1000 levels): not unplatform's data"
    except ValueError:
        return None, "does not parse as JSON (torn while the app wrote it?)"
    return data, None


def extract(entries: list, work: str, skipped: list, p: dict) -> list:
    """Each entry copied into work (flushed to disk), checked; returns [(entry, path, sha256)]. A JSON file is
    parsed before it is written (one that does not parse costs no write); an install folder's database gets
    its WAL folded in before it is checked."""
    done = []
    for n, e in enumerate(entries):
        path = os.path.join(work, "%06d" % n)
        try:
            if e.is_json:
                data, problem = read_json(e, p)
                if problem:
                    skipped.append("%s: %s" % (printable(e.name), problem))
                    continue
                with atomic_output(path) as out:
                    out.write(data)
                    digest = out.sha256.hexdigest()
            else:
                digest = copy_entry(e, path)
                if e.wal and fold_wal(e.wal, path, p):
                    digest = sha256_file(path)
        except NotRegularFileError as exc:
            skipped.append("%s: %s" % (printable(e.name), exc.strerror))
            continue
        os.utime(path, (e.mtime, e.mtime))
        problem = check_content(e, path)
        if problem:
            skipped.append("%s: %s, not placed" % (printable(e.name), problem))
            os.unlink(path)
            continue
        done.append((e, path, digest))
    return done


def check_content(e: Entry, path: str) -> str | None:
    if e.rel == V2_SESSIONS_DB:
        return check_sqlite(path, "the session database") or database_problem(path)
    if e.rel == V1_DB:
        return check_sqlite(path, "version 1's database")
    return None


def database_problem(path: str) -> str | None:
    try:
        check_sessions(path)
    except UntrustedDatabaseError as exc:
        return "the session database is refused: %s" % exc
    except sqlite3.Error as exc:
        return "the session database does not open (%s)" % exc
    return None


def check_sqlite(path: str, what: str) -> str | None:
    """Why the SQLite file at path may not be placed (not SQLite, damaged), or None. Read as data
    (clix_unplatform.open_untrusted)."""
    with open(path, "rb") as f:
        if f.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            return "not an SQLite database"
    try:
        con = open_untrusted(path)
        try:
            check = con.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error as exc:
        return "%s does not open (%s)" % (what, exc)
    if check != "ok":
        return "%s is damaged (%s)" % (what, check)
    return None


def fold_wal(wal: str, db: str, p: dict) -> bool:
    """Fold the install folder's unplatform.sqlite3-wal (recent sessions) into the extracted copy db: the
    WAL streamed beside it (at most max_wal_bytes), then checkpointed by SQLite. False when there is none."""
    try:
        fd = open_regular(wal)
    except (FileNotFoundError, NotRegularFileError):
        return False
    with os.fdopen(fd, "rb") as src:
        size = os.fstat(fd).st_size
        if size > p["max_wal_bytes"]:
            raise over("max_wal_bytes", p, "its %s holds %d bytes" % (V2_SESSIONS_DB + "-wal", size))
        with atomic_output(db + "-wal") as out:
            copied = 0
            for block in iter(lambda: src.read(CHUNK), b""):
                copied += len(block)
                if copied > p["max_wal_bytes"]:
                    raise over("max_wal_bytes", p, "its %s grew past the limit while read" % (V2_SESSIONS_DB + "-wal"))
                out.write(block)
    standalone(db)
    for suffix in ("-wal", "-shm"):
        if os.path.lexists(db + suffix):
            os.unlink(db + suffix)
    return True


# ---------------------------------------------------------------- place

def same_content(e: Entry, target: str) -> bool:
    """Whether the entry holds the bytes of the archived file (streamed, nothing written)."""
    with e.opener() as incoming, os.fdopen(open_regular(target), "rb") as archived:
        while True:
            block = read_block(incoming, e)
            if block != archived.read(len(block)):
                return False
            if not block:
                return True


def triage(entries: list, install_root: str, counts: dict) -> list:
    """The entries to extract: new ones, the session database (always folded), and those differing from
    and newer than the archived file. An identical file, or an older one, is counted and never written."""
    todo = []
    for e in entries:
        target = under(install_root, e.rel)
        if e.rel == V2_SESSIONS_DB or not os.path.lexists(target):
            todo.append(e)
            continue
        st = os.lstat(target)
        if not stat.S_ISREG(st.st_mode):
            raise Refused("the archive holds something else than a file at %s: move it aside" % target)
        if st.st_size == e.size and same_content(e, target):
            counts["identical"] += 1
        elif e.mtime <= st.st_mtime:
            counts["kept"] += 1
        else:
            todo.append(e)
    return todo


def keep_older(root: str, target: str) -> None:
    """Keep the archived file at target (below the school folder root) in root/history/<its time>/, as a merge
    keeps an older version (clix_layout.history_path), before it is replaced: a hard link, so that the file
    is never missing from both places. Its time is its mtime (the extraction's own time, which ingest gave
    it); another file of the same time already there takes the next free second."""
    rel = os.path.relpath(target, root)
    digest = None
    moment = int(min(max(os.lstat(target).st_mtime, 0), 253402300739))  # a stamp of years 1970-9999
    for offset in range(60):
        stamp = stamp_of(datetime.datetime.fromtimestamp(moment + offset, datetime.timezone.utc))
        hist = history_path(root, stamp, rel)
        if not os.path.lexists(hist):
            os.makedirs(os.path.dirname(hist), mode=0o700, exist_ok=True)
            history_path(root, stamp, rel)  # the folders just made are real folders inside the school's
            os.link(target, hist)
            fsync_dir(os.path.dirname(hist))
            return
        digest = digest or sha256_file(target)
        if sha256_file(hist) == digest:
            return
    raise Refused("history/ already holds 60 other versions of %s of about the same time: look at them" % rel)


def place(done: list, root: str, install_root: str, work: str, counts: dict, check: bool) -> None:
    dirs = set()
    for e, path, digest in done:
        target = under(install_root, e.rel)
        if os.path.lexists(target) and not stat.S_ISREG(os.lstat(target).st_mode):
            raise Refused("the archive holds something else than a file at %s: move it aside" % target)
        if e.rel == V2_SESSIONS_DB:
            fold_into(root, target, path, work, counts, check)
            continue
        if os.path.lexists(target):
            st = os.lstat(target)
            if sha256_file(target) == digest:
                counts["identical"] += 1
                continue
            if e.mtime <= st.st_mtime:
                counts["kept"] += 1
                continue
            counts["replaced"] += 1
            if not check:
                keep_older(root, target)
        else:
            counts["added"] += 1
        if not check:
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            under(install_root, e.rel)  # the folders just made are real folders inside the install
            os.replace(path, target)
            dirs.add(os.path.dirname(target))
    for folder in dirs:
        fsync_dir(folder)


def fold_into(root: str, target: str, incoming: str, work: str, counts: dict, check: bool) -> None:
    """The session database folded with the archived one into a database of the project's schema
    (clix_unplatform.fold_sessions), moved into place when that changed anything, its time the later of
    the two; the archived one kept in history/ when a session's row was replaced or its schema dropped."""
    first = not os.path.lexists(target)
    folded, path = fold_sessions(target, incoming, work)
    counts["added"] += first
    counts["sessions_added"] += folded["added"]
    counts["sessions_updated"] += folded["updated"]
    if path and not check:
        os.utime(path, (max(os.stat(incoming).st_mtime, 0 if first else os.stat(target).st_mtime),) * 2)
        if folded["updated"] or folded["dropped"]:
            keep_older(root, target)
        install_file(path, target)


# ---------------------------------------------------------------- one source

def year_and_time(kind: str, path: str, entries: list) -> tuple:
    parsed = parse_extraction(os.path.basename(path)[:-len(EXTRACTION_ZIP_SUFFIX)] if kind == "zip"
                              else os.path.basename(path))
    if parsed:
        return parsed[1][:4], parsed[1]
    newest = max((e.mtime for e in entries), default=None)
    if newest is None:
        raise Refused("it holds no data file and no time stamp in its name")
    stamp = datetime.datetime.fromtimestamp(newest, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return stamp[:4], stamp


def install_of(kind: str, path: str) -> str:
    name = os.path.basename(path.rstrip("/"))
    if kind == "zip":
        name = name[:-len(EXTRACTION_ZIP_SUFFIX)]
    parsed = parse_extraction(name)
    label = parsed[0] if parsed else name.split("-QBank-")[0]
    try:
        return check_install_label(label)
    except UnplatformError as exc:
        raise Refused(str(exc)) from None


def needed_bytes(entries: list) -> int:
    """What a source's entries will read: their sizes, and the WAL folded into an install's database."""
    total = sum(e.size for e in entries)
    for e in entries:
        if e.wal and os.path.isfile(e.wal) and not os.path.islink(e.wal):
            total += os.lstat(e.wal).st_size
    return total


def ingest_one(kind: str, path: str, p: dict, pcs: dict, result: dict, check: bool) -> dict:
    """Ingest one source into result (counts, skipped, ...); returns what its PC's manifest item needs."""
    skipped = result["skipped"]
    archive = None
    try:
        if kind == "zip":
            result["md5"], archive = open_zip(path, p)
            entries = zip_entries(path, archive, p, skipped)
        else:
            entries = folder_entries(kind, path, skipped)
        if not entries:
            raise Refused("it holds none of the extraction's data")
        install = install_of(kind, path)
        config = config_of(entries)
        ident = identify(config, p, pcs, result["notes"])
        year, when = year_and_time(kind, path, entries)
        layout = quarantine_root if ident["quarantine"] else school_root
        root = layout(p["archive_root"], year, ident["state"], ident["folder"])
        install_root = under(root, pc_relpath(ident["pc"], install))
        result.update(school=os.path.relpath(root, p["archive_root"]), pc=ident["pc"], install=install, time=when,
                      reason=ident["quarantine"])
        todo = triage(entries, install_root, result["counts"])
        needed = needed_bytes(todo)
        if needed > p["run_bytes_left"]:
            raise over("max_run_bytes", p, "it would read %d bytes, after the %d bytes the run has read"
                       % (needed, p["max_run_bytes"] - p["run_bytes_left"]))
        p["run_bytes_left"] -= needed
        scratch = tempfile.gettempdir() if check else p["archive_root"]  # a check run leaves the archive untouched
        os.makedirs(scratch, mode=0o700, exist_ok=True)
        require_free_space(scratch, needed, RESERVE)
        work = tempfile.mkdtemp(prefix=WORK_PREFIX, dir=scratch)
        try:
            place(extract(todo, work, skipped, p), root, install_root, work, result["counts"], check)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    finally:
        if archive is not None:
            archive.close()
            archive.stick_file.close()
    changed = any(result["counts"][k] for k in ("added", "replaced", "sessions_added", "sessions_updated"))
    result["status"] = "quarantined" if ident["quarantine"] else "ingested" if changed else "unchanged"
    return dict(ident=ident, root=root, install_root=install_root, config=config, changed=changed,
                extraction=dict(source=printable(result["source"]), kind=kind,
                                zip=os.path.basename(path) if kind == "zip" else None,
                                md5=result.get("md5"), time=when, install=install))


def ingest_all(p: dict, pcs: dict, sources: list, check: bool, show) -> tuple:
    """(results, done): each of sources ((kind, path), find_sources) on its own - one that fails, whatever
    the reason, is refused with it and the next one is taken."""
    results, done = [], []
    for n, (kind, path) in enumerate(sources, 1):
        result = dict(source=os.path.relpath(path, p["source"]), kind=kind, status="refused", reason=None, skipped=[],
                      notes=[], counts=dict.fromkeys(COUNTS, 0))
        try:
            done.append(ingest_one(kind, path, p, pcs, result, check))
        except Refused as exc:
            result.update(status="refused", reason=str(exc))
        except (LayoutError, UnplatformError, DiskFullError, sqlite3.Error) as exc:
            result.update(status="refused", reason="%s (nothing more of it was placed)" % exc)
        except Exception as exc:  # whatever a source does, the next one is taken
            result.update(status="refused", reason="it could not be read (%s: %s); nothing more of it was placed"
                          % (type(exc).__name__, shown(str(exc))))
        results.append(result)
        if show:
            show("%d/%d %s" % (n, len(sources), line_of(result)))
    return results, done


# ---------------------------------------------------------------- manifest items and report

def install_details(pc_root: str) -> list:
    installs = []
    for name in sorted(os.listdir(pc_root)) if os.path.isdir(pc_root) else []:
        root = os.path.join(pc_root, name)
        if name.startswith(".") or os.path.islink(root) or not os.path.isdir(root):
            continue
        json_files = sum(1 for _, _, files in os.walk(root) for f in files if f.endswith(".json"))
        db = os.path.join(root, V2_SESSIONS_DB)
        layout = layout_of(root)
        installs.append(dict(label=name, path=None, layout=layout, version=1 if layout == "v1" else 2,
                             json_files=json_files, sessions=session_count(db) if os.path.isfile(db) else None, torn=[]))
    return installs


def extraction_key(x: dict) -> tuple:
    """One extraction, wherever its copy was ingested from: a zip by its MD5, a folder by its install and time."""
    return (x.get("md5"),) if x.get("md5") else (x.get("kind"), x.get("install"), x.get("time"))


def school_of(ds: list, previous: dict) -> dict:
    """The manifest's school: the inventory's (kept from the previous manifest); a quarantine folder's also
    says why, and what the latest extraction's config.json claims (as data)."""
    ident = ds[-1]["ident"]
    school = previous.get("school") or dict(state=ident["state"], server_id=ident["server_id"],
                                            school_code=ident["school_code"], school_name=ident["school_name"],
                                            host=ident["host"])
    if ident["quarantine"]:
        school = dict(school, identity_problem=ident["quarantine"] + "; ingested into quarantine",
                      server_says=labpc_claims(ds[-1]["config"]))
    return school


def seal_entries(done: list) -> list:
    """Per school (or quarantine) folder to seal, its manifest items unplatform/<pc> (details: installs, config,
    extractions). A folder is sealed when an extraction changed its files or is not yet recorded in its
    manifest (a run that stopped between placing and sealing); re-ingesting a recorded one leaves it alone."""
    by_root: dict = {}
    for d in done:
        by_root.setdefault(d["root"], {}).setdefault(d["ident"]["pc"], []).append(d)
    seal = []
    for root, pcs in sorted(by_root.items()):
        try:
            previous = load_manifest(root) or {}
        except (OSError, ValueError):
            previous = {}  # clix_manifest refuses to seal over it, with what to do
        items = []
        for pc, ds in sorted(pcs.items()):
            name = pc_relpath(pc)
            old = ((previous.get("items") or {}).get(name) or {}).get("details") or {}
            extractions = [x for x in old.get("extractions") or [] if isinstance(x, dict)]
            known = {extraction_key(x) for x in extractions}
            new = [d for d in ds if d["changed"] or extraction_key(d["extraction"]) not in known]
            if not new:
                continue
            extractions += [d["extraction"] for d in new if extraction_key(d["extraction"]) not in known]
            extractions.sort(key=lambda x: str(x.get("time")))
            latest = extractions[-1]
            configs = [d["config"] for d in sorted(ds, key=lambda d: d["extraction"]["time"], reverse=True) if d["config"]]
            details = dict(installs=install_details(os.path.dirname(ds[0]["install_root"])),
                           config=configs[0] if configs else old.get("config"),
                           extraction=dict(zip=latest.get("zip"), md5=latest.get("md5"), time=latest.get("time")),
                           extractions=extractions)
            items.append(dict(name=name, status=OK, reason=None, source="USB extraction %s" % latest.get("source"),
                              details=details))
        if items:
            seal.append(dict(root=root, school=school_of([d for ds in pcs.values() for d in ds], previous), items=items))
    return seal


def where_of(r: dict) -> str:
    """<year>/<state>/<school>/unplatform/<pc>/<install>: where a source went."""
    return "%s/%s" % (r["school"], pc_relpath(r["pc"], r["install"]))


def line_of(r: dict) -> str:
    where = " -> %s" % where_of(r) if r.get("pc") else ""
    source = printable(r["source"])
    if r["status"] == "refused":
        return "REFUSED     %s%s: %s" % (source, where, r["reason"])
    c = r["counts"]
    replaced = "%d replaced%s" % (c["replaced"], " (the older kept in history/)" if c["replaced"] else "")
    text = "%-11s %s%s: %d added, %s, %d kept (archive newer), %d identical; sessions %d added, %d updated" % (
        r["status"].upper(), source, where, c["added"], replaced, c["kept"], c["identical"], c["sessions_added"],
        c["sessions_updated"])
    text += "; %d skipped" % len(r["skipped"]) if r["skipped"] else ""
    return text + (" - %s" % r["reason"] if r["status"] == "quarantined" else "")


def lines_of(r: dict) -> list:
    """A source's line, then its notes and skipped entries (the first SKIPPED_SHOWN; all are in the report)."""
    notes = ["    note: %s" % note for note in r["notes"]] + ["    skipped %s" % why for why in r["skipped"][:SKIPPED_SHOWN]]
    more = len(r["skipped"]) - SKIPPED_SHOWN
    return [line_of(r), *notes] + (["    ... %d more skipped, listed in the report" % more] if more > 0 else [])


def markdown(results: list, notes: list, started: str, p: dict) -> str:
    rows = ["# clix-collect ingest %s" % started, "", "From %s, for school %s." % (printable(p["source"]), p["school"]),
            "", "| source | status | lab PC | details |", "|---|---|---|---|"]
    for r in results:
        where = where_of(r) if r.get("pc") else ""
        detail = r["reason"] if r["status"] == "refused" else line_of(r).split(": ", 1)[-1]
        rows.append("| %s | %s | %s | %s |" % (printable(r["source"]), r["status"], where, str(detail).replace("|", "\\|")))
    skipped = ["- skipped in %s: %s" % (printable(r["source"]), s) for r in results for s in r["skipped"]]
    found = ["- %s" % note for note in notes]
    return "\n".join(rows + (["", *skipped] if skipped else []) + (["", "On the stick:", *found] if found else [])) + "\n"


def remove_stale_work(root: str) -> None:
    """The temporary folders of an ingest that was killed (this run holds the archive's lock)."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(root, name)
        if name.startswith(WORK_PREFIX) and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)


def write_report(p: dict, results: list, notes: list, started: str) -> list:
    os.makedirs(p["reports_dir"], mode=0o700, exist_ok=True)
    base = report_base(p["reports_dir"], "ingest")
    return write_text_files(base, {".md": markdown(results, notes, started, p),
                                   ".json": json.dumps(dict(started=started, source=p["source"], school=p["school"],
                                                            sources=results, notes=notes), indent=1, sort_keys=True)})


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="path", required=True),
            archive_root=dict(type="path", required=True),
            lab_pcs=dict(type="list", elements="dict", required=True),
            school=dict(type="str", required=True),
            pc=dict(type="str"),
            reports_dir=dict(type="path"),
            max_bytes=dict(type="int", default=16 << 30),
            max_ratio=dict(type="int", default=200),
            max_entries=dict(type="int", default=100000),
            max_json_bytes=dict(type="int", default=16 << 20),
            max_wal_bytes=dict(type="int", default=64 << 20),
            max_run_bytes=dict(type="int", default=64 << 30),
        ),
        supports_check_mode=True,
    )
    os.umask(0o077)  # the archive holds private data
    p = dict(module.params)
    if not os.path.isdir(p["source"]):
        module.fail_json(msg="%s is not a folder: give the USB stick's folder with -e clix_ingest_from=<folder>"
                         % printable(p["source"]))
    if not os.path.isabs(p["archive_root"]):
        module.fail_json(msg="the archive root %s is not an absolute path" % printable(p["archive_root"]))
    pcs = school_pcs(p["lab_pcs"], p["school"])
    if not pcs:
        schools = sorted({i["folder"] for i in lab_pc_identities(p["lab_pcs"])})
        module.fail_json(msg="the inventory has no lab PC of school %s: give -e clix_ingest_school=<code>-<id> of a "
                         "school with lab PCs (clix_platform: unplatform): %s" % (shown(p["school"]), ", ".join(schools)
                                                                                  or "none"))
    if p["pc"] is not None and p["pc"] not in pcs:
        module.fail_json(msg="school %s has no lab PC %s in the inventory (its lab PCs: %s)"
                         % (p["school"], shown(p["pc"]), ", ".join(pcs)))
    p["run_bytes_left"] = p["max_run_bytes"]
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    show = getattr(module, "progress", None)  # clix_inprocess: printed at once
    notes: list = []
    sources = find_sources(p["source"], notes)
    if show:  # before anything is written
        show("school %s (%s), lab PCs %s: %d source(s) below %s" % (
            p["school"], shown(next(iter(pcs.values()))["school_name"]), ", ".join(pcs), len(sources),
            printable(p["source"])))
    if not module.check_mode:
        remove_stale_work(p["archive_root"])
    results, done = ingest_all(p, pcs, sources, module.check_mode, show)
    seal = [] if module.check_mode else seal_entries(done)
    lines = [line for r in results for line in lines_of(r)] + ["note: %s" % note for note in notes]
    if not results:
        lines.insert(0, "no extraction zip, extraction folder or install folder below %s" % printable(p["source"]))
    if module.check_mode:
        lines = ["check mode, nothing written: %s" % line for line in lines]
    files = write_report(p, results, notes, started) if p["reports_dir"] and not module.check_mode else []
    ended = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    module.exit_json(changed=any(r["status"] in ("ingested", "quarantined") for r in results),
                     sources=[dict(r, source=printable(r["source"])) for r in results], seal=seal,
                     refused=[printable(r["source"]) for r in results if r["status"] == "refused"],
                     quarantined=[printable(r["source"]) for r in results if r["status"] == "quarantined"],
                     notes=notes, lines=lines, files=files, started=started, ended=ended)


if __name__ == "__main__":
    main()
