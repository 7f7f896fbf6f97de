#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_ingest
short_description: Ingest the field team's USB extractions of unplatform lab PCs into the archive
description:
  - Runs on the control node. Finds below O(source), without following links, every zip made by the
    field team's C(DataExtractionScript.bat) (C(<install>-QBank-<YYYY-MM-DD-HH-MM-SS>.zip), with the MD5
    that C(md5.exe) wrote in C(<name>checksum.txt) beside it), every extraction folder that was copied
    without zipping, and every plainly copied install folder - version 2 (holding C(unplatform.sqlite3),
    C(webapps/CLIx/datastore) or C(webapps/unplatform/user_data)) or version 1 (holding C(unplatform/db.sqlite3)),
    told as the collection tells them (C(layout_of) of C(module_utils/clix_unplatform.py)).
  - A zip is refused, and nothing of it written, when its checksum file is missing, unreadable or names
    another file, when its MD5 differs, when it is truncated or corrupt (no central directory, a CRC
    error), and when any entry is hostile - an absolute name, C(..), a backslash, a drive letter, a
    symbolic link, device, FIFO or socket (the unix mode in the entry's external attributes), a duplicate
    name, an encrypted entry, names not valid UTF-8 in a zip that says they are, or a zip bomb (more than
    O(max_bytes) expanded, or an entry larger than 1 MiB expanding more than O(max_ratio) times).
  - Entries that are not the extraction's data are skipped with their reason - outside the zip's top
    folder or outside the extraction's folders (C(EXTRACTION_MAP) of C(module_utils/clix_unplatform.py)),
    names that are hidden, hold control characters or are neither ASCII nor marked UTF-8, a JSON file that
    does not parse (torn while the app wrote it), a session database that does not open.
  - The lab PC is named by the extraction's C(config.json) (C(schoolId) is the school code, C(terminalId)
    the PC's C(clix_pc)) or, when it names none, by O(school) and O(pc); it must be one of O(lab_pcs).
    A C(config.json) that names another PC than O(school)/O(pc), or a PC the inventory does not have, is
    refused. A value that cannot be a school code or a C(clix_pc) (a terminal called C(Lab PC 3)) names
    nothing, with a note, so O(school) and O(pc) name that PC.
  - The data go to C(<YYYY>/<state>/<code>-<id>/unplatform/<pc>/<install>/) in the install's own layout,
    C(<YYYY>) being the year of the extraction (its name's time stamp; for a plain folder, or a stamp the
    script cut from another locale's C(%DATE%), the newest file time); a plain folder's C(<install>) is its
    name. Of a version 1 folder, its database C(unplatform/db.sqlite3) (placed only when SQLite's
    C(quick_check) passes) and C(unplatform/debug.log) are taken, as the collection takes them. Each file is first extracted into a
    private temporary folder inside the archive (same file system), flushed, then renamed into place.
  - Merging - the session database (version 2's) is folded into the archived one (C(merge_sessions) - no archived
    session is ever lost); any other file is added when new, left alone when identical, and replaces the
    archived file only when the incoming file's own time (its zip entry's time, or its mtime in a folder)
    is later than the archived file's mtime, which ingest sets to that same time. So a newer extraction
    adds what is new, an older one ingested later never replaces newer files, and a file that is gone
    from a PC stays in the archive. Re-ingesting a zip changes nothing and reports it C(unchanged).
  - Returns, per school folder changed, the manifest item C(unplatform/<pc>) to seal with
    C(clix_manifest) (C(details) - the installs, the C(config.json) values as data, the extraction), and
    writes a report (Markdown and JSON) into O(reports_dir).
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
    description: The school folder (C(<code>-<id>)) of an extraction whose C(config.json) names no school.
    type: str
  pc:
    description: The lab PC (C(clix_pc)) of an extraction whose C(config.json) names no terminal.
    type: str
  reports_dir:
    description: Where the report goes (C(<archive>/reports)); none is written when omitted.
    type: path
  max_bytes:
    description: Most bytes one source may expand to.
    type: int
    default: 17179869184
  max_ratio:
    description: Most an entry larger than 1 MiB may expand, as a multiple of its compressed size.
    type: int
    default: 200
extends_documentation_fragment:
  - clix_progress
attributes:
  check_mode:
    description: Verifies every source and says what would be ingested, unchanged or refused; writes nothing.
    support: full
  diff_mode:
    description: Not supported.
    support: none
author: clix-collect developers (@clix-collect)
"""

EXAMPLES = r"""
- name: Ingest the extractions on a USB stick
  clix_ingest:
    source: /media/usb
    archive_root: /srv/clix-archive
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
      description: The zip or folder, relative to O(source).
      type: str
    kind:
      description: C(zip), C(extraction folder) or C(install folder).
      type: str
    status:
      description: C(ingested), C(unchanged) or C(refused).
      type: str
    reason:
      description: Why it was refused.
      type: str
    school:
      description: The school folder below the archive root (C(2026/mz/2031001-mz1)).
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
      description: Files C(added), C(replaced), C(kept) (the archive's was newer) and C(identical); sessions C(sessions_added), C(sessions_updated).
      type: dict
    skipped:
      description: Entries not placed, each with its reason.
      type: list
      elements: str
    notes:
      description: What the operator should know, for example a C(config.json) value that cannot name a PC.
      type: list
      elements: str
seal:
  description: >-
    One entry per school folder that changed - C(root), C(school) and C(items) (C(unplatform/<pc>) with its
    C(details)) - ready for C(clix_manifest).
  returned: always
  type: list
  elements: dict
refused:
  description: The sources refused.
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
import os
import shutil
import sqlite3
import stat
import tempfile
import time
import zipfile
import zlib

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import (
    DiskFullError,
    NotRegularFileError,
    atomic_output,
    fsync_dir,
    open_regular,
    read_regular,
    remove_quietly,
    require_free_space,
    sha256_file,
    write_text_files,
)
from ansible.module_utils.clix_identity import CONFIG_SCHOOL, CONFIG_TERMINAL, SCHOOL_CODE, same_code, shown
from ansible.module_utils.clix_inventory import check_schools, identity_of
from ansible.module_utils.clix_layout import (
    LayoutError,
    check_part,
    school_root,
    under,
)
from ansible.module_utils.clix_manifest import load as load_manifest
from ansible.module_utils.clix_progress import module_progress
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
    check_install_label,
    connect_ro,
    extraction_target,
    layout_of,
    merge_sessions,
    parse_checksum,
    parse_extraction,
    pc_relpath,
    session_count,
)

UTF8_FLAG = 0x800
ENCRYPTED_FLAG = 0x1
RATIO_FLOOR = 1 << 20
JSON_LIMIT = 256 << 20
CONFIG_LIMIT = 1 << 20
CHECKSUM_LIMIT = 4096
RESERVE = 256 << 20
SQLITE_MAGIC = b"SQLite format 3\x00"
WORK_PREFIX = ".clix-ingest-"
SKIPPED_SHOWN = 20


class Refused(Exception):
    """A source that is not ingested at all; nothing of it is written."""


class Entry:
    """One file of a source: where it goes in the install (rel), its size and own time, how to read it."""

    def __init__(self, name: str, rel: str, size: int, mtime: float, opener) -> None:
        self.name, self.rel, self.size, self.mtime, self.opener = name, rel, size, mtime, opener


# ---------------------------------------------------------------- finding sources

def find_sources(top: str) -> list:
    """(kind, path) of every zip, extraction folder and install folder below top; links never followed."""
    found = []
    for folder, dirs, files in os.walk(top, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(EXTRACTION_ZIP_SUFFIX) and "-QBank-" in name \
                    and stat.S_ISREG(os.lstat(os.path.join(folder, name)).st_mode):
                found.append(("zip", os.path.join(folder, name)))
        for name in list(dirs):
            path = os.path.join(folder, name)
            if os.path.islink(path):
                continue
            if parse_extraction(name) or "-QBank-" in name:
                found.append(("extraction folder", path))
                dirs.remove(name)
            elif layout_of(path):
                found.append(("install folder", path))
                dirs.remove(name)
    if layout_of(top):
        found.append(("install folder", top))
    return found


# ---------------------------------------------------------------- zips

def zip_time(info: zipfile.ZipInfo) -> float:
    """An entry's own time (the PC's wall clock, stored without a zone), as seconds read as UTC."""
    return float(calendar.timegm((*info.date_time, 0, 0, 0)))


def hostile(info: zipfile.ZipInfo) -> str | None:
    """Why an entry makes the whole zip untrustworthy, or None."""
    name = info.filename
    if "\\" in name:
        return "entry %r holds a backslash" % name
    if name.startswith("/"):
        return "entry %r is an absolute path" % name
    if len(name) > 1 and name[1] == ":":
        return "entry %r names a drive" % name
    if any(p in ("..", ".") for p in name.rstrip("/").split("/")):
        return "entry %r climbs out of its folder (..)" % name
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "entry %r holds a control character" % name
    if info.flag_bits & ENCRYPTED_FLAG:
        return "entry %r is encrypted" % name
    if info.create_system == 3:
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            return "entry %r is a %s" % (name, "symbolic link" if kind == stat.S_IFLNK else "device, FIFO or socket")
    return None


def bomb(infos: list, max_bytes: int, max_ratio: int) -> str | None:
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        return "it would expand to %d bytes, more than max_bytes (%d): a zip bomb, or raise clix_ingest_max_bytes" \
            % (total, max_bytes)
    for i in infos:
        if i.file_size > RATIO_FLOOR and i.file_size > max_ratio * max(i.compress_size, 1):
            return "entry %r expands %d times (a zip bomb; most allowed: %d)" \
                % (i.filename, i.file_size // max(i.compress_size, 1), max_ratio)
    return None


def verify_md5(path: str) -> str:
    name = os.path.basename(path)
    checksum = os.path.join(os.path.dirname(path), name[:-len(EXTRACTION_ZIP_SUFFIX)] + EXTRACTION_CHECKSUM_SUFFIX)
    try:
        text = read_regular(checksum, limit=CHECKSUM_LIMIT)
    except FileNotFoundError:
        raise Refused("no checksum file %s beside it: copy it from the PC's install folder with the zip"
                      % os.path.basename(checksum)) from None
    except (OSError, ValueError) as exc:
        raise Refused("its checksum file cannot be read (%s)" % exc) from None
    try:
        expected = parse_checksum(text, name)
    except UnplatformError as exc:
        raise Refused(str(exc)) from None
    digest = hashlib.md5()
    with os.fdopen(open_regular(path), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise Refused("MD5 %s differs from its checksum file's %s: the copy is damaged, copy it again from the PC"
                      % (digest.hexdigest(), expected))
    return expected


def zip_entries(path: str, archive: zipfile.ZipFile, p: dict, skipped: list) -> list:
    infos = archive.infolist()
    seen = set()
    for info in infos:
        problem = hostile(info)
        if not problem and info.filename in seen:
            problem = "entry %r appears twice" % info.filename
        if problem:
            raise Refused(problem)
        seen.add(info.filename)
    problem = bomb(infos, p["max_bytes"], p["max_ratio"])
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
        if head != top or not rel:
            skipped.append("%s: outside the zip's folder %s" % (info.filename, top))
            continue
        if not info.flag_bits & UTF8_FLAG and not info.filename.isascii():
            skipped.append("%s: a name neither ASCII nor marked UTF-8 (the field team's files have ASCII names)"
                           % info.filename)
            continue
        target = mapped(rel, extraction_target(rel), info.filename, skipped)
        if target:
            entries.append(Entry(info.filename, target, info.file_size, zip_time(info),
                                 lambda i=info: archive.open(i)))
    return entries


def mapped(rel: str, target: str | None, shown: str, skipped: list) -> str | None:
    """target when it is data the ingest places, else None with the reason in skipped."""
    if target is None:
        skipped.append("%s: not in one of the extraction's folders" % shown)
        return None
    name = rel.rsplit("/", 1)[-1]
    try:
        check_part(name)
    except LayoutError as exc:
        skipped.append("%s: %s" % (shown, exc))
        return None
    if name.startswith("."):
        skipped.append("%s: a hidden file" % shown)
        return None
    if target not in (V2_SESSIONS_DB, V1_DB, V1_LOG) and not target.startswith(V2_STUDENT_RESPONSES + "/") \
            and not name.endswith(".json"):
        skipped.append("%s: not a .json file" % shown)
        return None
    return target


# ---------------------------------------------------------------- folders

def walk_files(root: str, skipped: list) -> list:
    """(relpath, lstat) of every regular file below root; links and special files skipped, never followed."""
    out = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(dirs + files):
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                skipped.append("%s: a symbolic link, never followed" % rel)
                if name in dirs:
                    dirs.remove(name)
            elif stat.S_ISREG(st.st_mode):
                out.append((rel, st))
            elif not stat.S_ISDIR(st.st_mode):
                skipped.append("%s: not a regular file" % rel)
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
                continue  # the application itself, shipped content, the WAL (folded in by fold_wal)
        else:
            target = extraction_target(rel)
        target = mapped(rel, target, rel, skipped)
        if target:
            entries.append(Entry(rel, target, st.st_size, st.st_mtime,
                                 lambda r=rel: os.fdopen(open_regular(os.path.join(path, r)), "rb")))
    return entries


# ---------------------------------------------------------------- identity

def config_of(entries: list, skipped: list) -> dict:
    for e in entries:
        if e.rel == V2_CONFIG:
            with e.opener() as f:
                data = f.read(CONFIG_LIMIT + 1)
            try:
                value = json.loads(data.decode("utf-8"))
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def lab_pc_index(lab_pcs: list) -> dict:
    """{(school folder, pc): identity} of the inventory's lab PCs whose groups and code pass the rules."""
    index = {}
    for pc in lab_pcs:
        entry = dict(host=pc.get("host"), groups=pc.get("groups") or [], school_code=pc.get("school_code"),
                     school_name=pc.get("school_name"))
        if check_schools([entry]) or not isinstance(pc.get("pc"), str):
            continue
        ident = identity_of(entry)
        index[(ident["folder"], pc["pc"])] = dict(ident, school_code=entry["school_code"],
                                                  school_name=entry["school_name"], host=entry["host"], pc=pc["pc"])
    return index


def said(config: dict, key: str, rule, notes: list) -> str | None:
    """config.json's value for key when it can name a school code or a PC; a value of another form (a
    terminal called "Lab PC 3") names nothing, with a note, so that the operator's -e values name the PC."""
    value = config.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not rule.fullmatch(str(value)):
        notes.append("config.json's %s %s is not of the inventory's form: the PC is named by -e values"
                     % (key, shown(value)))
        return None
    return str(value)


def identify(config: dict, p: dict, index: dict, notes: list) -> dict:
    said_school = said(config, CONFIG_SCHOOL, SCHOOL_CODE, notes)
    said_pc = said(config, CONFIG_TERMINAL, PC, notes)
    if p["school"] and said_school and not same_code(said_school, p["school"].split("-", 1)[0]):
        raise Refused("its config.json says school %r, not %s as given with clix_ingest_school" % (said_school, p["school"]))
    if p["pc"] and said_pc and said_pc != p["pc"]:
        raise Refused("its config.json says terminal %r, not %s as given with clix_ingest_pc" % (said_pc, p["pc"]))
    pc = said_pc or p["pc"]
    if not pc or not (said_school or p["school"]):
        raise Refused("its config.json names no school or terminal: name the PC with -e clix_ingest_school=<code>-<id> "
                      "-e clix_ingest_pc=<pc>")
    matches = [v for (folder, name), v in index.items()
               if name == pc and (folder == p["school"] if p["school"] else same_code(v["school_code"], said_school))]
    if len(matches) != 1:
        what = "no lab PC" if not matches else "%d lab PCs" % len(matches)
        raise Refused("the inventory has %s %s of school %s (clix_platform: unplatform, clix_pc: %s): add the PC to "
                      "the inventory, or name it with -e clix_ingest_school=<code>-<id> -e clix_ingest_pc=<pc>"
                      % (what, pc, p["school"] or said_school, pc))
    return matches[0]


# ---------------------------------------------------------------- extract and place

def extract(entries: list, work: str, skipped: list) -> list:
    """Each entry copied into work (flushed to disk), checked; returns [(entry, path, sha256)]."""
    done = []
    for n, e in enumerate(entries):
        path = os.path.join(work, "%06d" % n)
        try:
            with e.opener() as src, atomic_output(path) as out:
                copied = 0
                for block in iter(lambda s=src: s.read(1 << 20), b""):
                    copied += len(block)
                    if copied > e.size:
                        raise Refused("%s is larger than its entry says" % e.name)
                    out.write(block)
                digest = out.sha256.hexdigest()
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise Refused("it is corrupt (%s at %s): copy it again from the PC" % (exc, e.name)) from None
        except NotRegularFileError as exc:
            skipped.append("%s: %s" % (e.name, exc))
            continue
        os.utime(path, (e.mtime, e.mtime))
        problem = check_content(e, path)
        if problem:
            skipped.append("%s: %s, not placed" % (e.name, problem))
            os.unlink(path)
            continue
        done.append((e, path, digest))
    return done


def check_content(e: Entry, path: str) -> str | None:
    if e.rel == V2_SESSIONS_DB:
        return check_sessions_db(path)
    if e.rel == V1_DB:
        return check_sqlite(path, "version 1's database")
    if e.rel.endswith(".json") and not e.rel.startswith(V2_STUDENT_RESPONSES + "/"):
        if e.size > JSON_LIMIT:
            return "a JSON file larger than %d bytes" % JSON_LIMIT
        try:
            json.loads(read_regular(path).decode("utf-8"))
        except ValueError:
            return "does not parse as JSON (torn while the app wrote it?)"
    return None


def check_sessions_db(path: str) -> str | None:
    return check_sqlite(path, "the session database", "sessions", "SELECT session_id, atime, data FROM sessions LIMIT 1")


def check_sqlite(path: str, what: str, table: str | None = None, probe: str | None = None) -> str | None:
    """Why the SQLite file at path may not be placed (not SQLite, damaged, without table), or None."""
    with open(path, "rb") as f:
        if f.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            return "not an SQLite database"
    try:
        con = connect_ro(path)
        try:
            con.execute("PRAGMA trusted_schema=OFF")  # the file is data: its schema runs no function
            if table:
                kind = con.execute("SELECT type FROM sqlite_master WHERE name = ?", (table,)).fetchone()
                if not kind or kind[0] != "table":
                    return "%s has no %s table" % (what, table)
            check = con.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                return "%s is damaged (%s)" % (what, check)
            if probe:
                con.execute(probe).fetchall()
        finally:
            con.close()
    except sqlite3.Error as exc:
        return "%s does not open (%s)" % (what, exc)
    return None


def fold_wal(source_path: str, db: str) -> None:
    """Fold an install folder's unplatform.sqlite3-wal into the extracted copy db (recent sessions)."""
    wal = os.path.join(source_path, V2_SESSIONS_DB + "-wal")
    try:
        data = read_regular(wal)
    except (FileNotFoundError, NotRegularFileError):
        return
    with atomic_output(db + "-wal") as out:
        out.write(data)
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("PRAGMA journal_mode=DELETE")
    finally:
        con.close()
    for suffix in ("-wal", "-shm"):
        remove_quietly(db + suffix)


def same_content(e: Entry, target: str) -> bool:
    """Whether the entry holds the bytes of the archived file (streamed, nothing written)."""
    try:
        with e.opener() as incoming, os.fdopen(open_regular(target), "rb") as archived:
            while True:
                block = incoming.read(1 << 20)
                if block != archived.read(len(block)):
                    return False
                if not block:
                    return True
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise Refused("it is corrupt (%s at %s): copy it again from the PC" % (exc, e.name)) from None


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


def place(done: list, install_root: str, work: str, counts: dict, check: bool) -> None:
    dirs = set()
    for e, path, digest in done:
        target = under(install_root, e.rel)
        if os.path.lexists(target):
            st = os.lstat(target)
            if not stat.S_ISREG(st.st_mode):
                raise Refused("the archive holds something else than a file at %s: move it aside" % target)
            if e.rel == V2_SESSIONS_DB:
                fold_sessions(target, path, work, counts, check)
                continue
            if sha256_file(target) == digest:
                counts["identical"] += 1
                continue
            if e.mtime <= st.st_mtime:
                counts["kept"] += 1
                continue
            counts["replaced"] += 1
        else:
            counts["added"] += 1
            if e.rel == V2_SESSIONS_DB:
                counts["sessions_added"] += session_count(path) or 0
        if not check:
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            under(install_root, e.rel)  # the folders just made are real folders inside the install
            os.replace(path, target)
            dirs.add(os.path.dirname(target))
    for folder in dirs:
        fsync_dir(folder)


def fold_sessions(target: str, incoming: str, work: str, counts: dict, check: bool) -> None:
    copy = os.path.join(work, "archived-sessions")
    with open(target, "rb") as src, atomic_output(copy) as out:
        shutil.copyfileobj(src, out)
    folded = merge_sessions(copy, incoming)
    counts["sessions_added"] += folded["added"]
    counts["sessions_updated"] += folded["updated"]
    if (folded["added"] or folded["updated"]) and not check:
        with open(copy, "rb+") as f:
            os.fsync(f.fileno())
        os.utime(copy, (max(os.stat(incoming).st_mtime, os.stat(target).st_mtime),) * 2)
        os.replace(copy, target)
        fsync_dir(os.path.dirname(target))
    remove_quietly(copy)


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


def ingest_one(kind: str, path: str, p: dict, index: dict, result: dict, check: bool) -> dict | None:
    """Ingest one source into result (counts, skipped, ...); returns what its PC's manifest item needs."""
    skipped = result["skipped"]
    archive = None
    try:
        if kind == "zip":
            result["md5"] = verify_md5(path)
            try:
                archive = zipfile.ZipFile(path)
            except UnicodeDecodeError:
                raise Refused("an entry's name is marked UTF-8 but is not valid UTF-8") from None
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
                raise Refused("it is not a readable zip, truncated or corrupt (%s): copy it again from the PC" % exc) from None
            entries = zip_entries(path, archive, p, skipped)
        else:
            entries = folder_entries(kind, path, skipped)
        if not entries:
            raise Refused("it holds none of the extraction's data")
        install = install_of(kind, path)
        config = config_of(entries, skipped)
        ident = identify(config, p, index, result["notes"])
        year, when = year_and_time(kind, path, entries)
        school = school_root(p["archive_root"], year, ident["state"], ident["folder"])
        install_root = under(school, pc_relpath(ident["pc"], install))
        result.update(school=os.path.relpath(school, p["archive_root"]), pc=ident["pc"], install=install, time=when)
        todo = triage(entries, install_root, result["counts"])
        if not check:  # a check run extracts outside the archive, which it leaves untouched
            os.makedirs(p["archive_root"], mode=0o700, exist_ok=True)
            require_free_space(p["archive_root"], sum(e.size for e in todo), RESERVE)
        work = tempfile.mkdtemp(prefix=WORK_PREFIX, dir=None if check else p["archive_root"])
        try:
            done = extract(todo, work, skipped)
            for e, extracted, _ in done:
                if kind == "install folder" and e.rel == V2_SESSIONS_DB:
                    fold_wal(path, extracted)
            place(done, install_root, work, result["counts"], check)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    finally:
        if archive is not None:
            archive.close()
    changed = any(result["counts"][k] for k in ("added", "replaced", "sessions_added", "sessions_updated"))
    result["status"] = "ingested" if changed else "unchanged"
    return dict(ident=ident, school=school, install_root=install_root, config=config, changed=changed,
                extraction=dict(source=result["source"], kind=kind, zip=os.path.basename(path) if kind == "zip" else None,
                                md5=result.get("md5"), time=when, install=install))


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


def seal_entries(done: list) -> list:
    """Per school folder to seal, its manifest items unplatform/<pc> (details: installs, config, extractions).
    A school is sealed when an extraction changed its files or is not yet recorded in its manifest (a run
    that stopped between placing and sealing); re-ingesting a recorded one leaves the manifest alone."""
    by_school: dict = {}
    for d in done:
        by_school.setdefault(d["school"], {}).setdefault(d["ident"]["pc"], []).append(d)
    seal = []
    for school, pcs in sorted(by_school.items()):
        previous = load_manifest(school) or {}
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
            items.append(dict(name=name, status="ok", reason=None, source="USB extraction %s" % latest.get("source"),
                              details=details))
        if not items:
            continue
        ident = pcs[next(iter(pcs))][0]["ident"]
        school_dict = previous.get("school") or dict(state=ident["state"], server_id=ident["server_id"],
                                                     school_code=ident["school_code"], school_name=ident["school_name"],
                                                     host=ident["host"])
        seal.append(dict(root=school, school=school_dict, items=items))
    return seal


def where_of(r: dict) -> str:
    """<year>/<state>/<school>/unplatform/<pc>/<install>: where a source went."""
    return "%s/%s" % (r["school"], pc_relpath(r["pc"], r["install"]))


def line_of(r: dict) -> str:
    where = " -> %s" % where_of(r) if r.get("pc") else ""
    if r["status"] == "refused":
        return "REFUSED    %s%s: %s" % (r["source"], where, r["reason"])
    c = r["counts"]
    text = "%-10s %s%s: %d added, %d replaced, %d kept (archive newer), %d identical; sessions %d added, %d updated" % (
        r["status"].upper(), r["source"], where, c["added"], c["replaced"], c["kept"], c["identical"],
        c["sessions_added"], c["sessions_updated"])
    return text + ("; %d skipped" % len(r["skipped"]) if r["skipped"] else "")


def lines_of(r: dict) -> list:
    """A source's line, then its skipped entries (the first SKIPPED_SHOWN; all of them are in the report)."""
    shown = ["    note: %s" % note for note in r["notes"]] + ["    skipped %s" % why for why in r["skipped"][:SKIPPED_SHOWN]]
    more = len(r["skipped"]) - SKIPPED_SHOWN
    return [line_of(r), *shown] + (["    ... %d more skipped, listed in the report" % more] if more > 0 else [])


def markdown(results: list, started: str, source: str) -> str:
    rows = ["# clix-collect ingest %s" % started, "", "From `%s`." % source, "",
            "| source | status | lab PC | details |", "|---|---|---|---|"]
    for r in results:
        where = where_of(r) if r.get("pc") else ""
        detail = r["reason"] if r["status"] == "refused" else line_of(r).split(": ", 1)[-1]
        rows.append("| %s | %s | %s | %s |" % (r["source"], r["status"], where, str(detail).replace("|", "\\|")))
    skipped = ["- skipped in %s: %s" % (r["source"], s) for r in results for s in r["skipped"]]
    return "\n".join(rows + (["", *skipped] if skipped else [])) + "\n"


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


def ingest_source(kind: str, path: str, p: dict, index: dict, done: list, check: bool) -> dict:
    """One extraction's result (refused with the reason, or placed: its seal entry then added to done)."""
    result = dict(source=os.path.relpath(path, p["source"]), kind=kind, status="refused", reason=None, skipped=[], notes=[],
                  counts=dict.fromkeys(("added", "replaced", "kept", "identical", "sessions_added",
                                        "sessions_updated"), 0))
    try:
        done.append(ingest_one(kind, path, p, index, result, check))
    except Refused as exc:
        result.update(status="refused", reason=str(exc))
    except (LayoutError, UnplatformError, DiskFullError, OSError, sqlite3.Error) as exc:
        result.update(status="refused", reason="%s (nothing more of it was placed)" % exc)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="path", required=True),
            archive_root=dict(type="path", required=True),
            lab_pcs=dict(type="list", elements="dict", required=True),
            school=dict(type="str"),
            pc=dict(type="str"),
            reports_dir=dict(type="path"),
            max_bytes=dict(type="int", default=16 << 30),
            max_ratio=dict(type="int", default=200),
            progress_seconds=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    os.umask(0o077)  # the archive holds private data
    p = module.params
    if not os.path.isdir(p["source"]):
        module.fail_json(msg="%s is not a folder: give the USB stick's folder with -e clix_ingest_from=<folder>" % p["source"])
    if not os.path.isabs(p["archive_root"]):
        module.fail_json(msg="the archive root %s is not an absolute path" % p["archive_root"])
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not module.check_mode:
        remove_stale_work(p["archive_root"])
    index = lab_pc_index(p["lab_pcs"])
    results, done = [], []
    with module_progress(module, lambda: "ingesting: %d extractions done (%d ingested, %d refused)" % (
            len(results), sum(r["status"] == "ingested" for r in results), sum(r["status"] == "refused" for r in results))):
        for kind, path in find_sources(p["source"]):
            results.append(ingest_source(kind, path, p, index, done, module.check_mode))
    seal = [] if module.check_mode else seal_entries(done)
    lines = [line for r in results for line in lines_of(r)] \
        or ["no extraction zip, extraction folder or install folder below %s" % p["source"]]
    if module.check_mode:
        lines = ["check mode, nothing written: %s" % line for line in lines]
    files = []
    if p["reports_dir"] and not module.check_mode:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        os.makedirs(p["reports_dir"], mode=0o700, exist_ok=True)
        base = os.path.join(p["reports_dir"], "ingest-%s" % stamp)
        files = write_text_files(base, {".md": markdown(results, started, p["source"]),
                                        ".json": json.dumps(dict(started=started, source=p["source"], sources=results),
                                                            indent=1, sort_keys=True)})
    refused = [r["source"] for r in results if r["status"] == "refused"]
    ended = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    module.exit_json(changed=any(r["status"] == "ingested" for r in results), sources=results, seal=seal,
                     refused=refused, lines=lines, files=files, started=started, ended=ended)


if __name__ == "__main__":
    main()
