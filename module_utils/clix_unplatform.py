# SPDX-License-Identifier: GPL-3.0-or-later
"""unplatform's files, owned here and nowhere else: where an install keeps its research data, how
the field team's USB extraction maps onto an install, and how the archive lays out a lab PC.

    <school folder>/unplatform/<pc>/<install>/        one install of one lab PC, in the install's
                                                      own layout (the paths below), whichever way
                                                      it came (over SSH or from a USB extraction)

Version 2 (2017-19, /opt/clix on Ubuntu, %LOCALAPPDATA%/CLIx/CLIx on Windows) keeps, relative to
its install root, the paths named V2_*; version 1 (2016, a Django app unzipped anywhere) keeps
V1_DB. A lab PC's name (<pc>) comes from the inventory; an install's folder name (<install>) is
made here from the install's path. Values read from a lab PC or a USB stick (config.json, folder
and file names) are data: they name nothing until they pass these rules.
Standard library only, Python 3.8: it ships to lab PCs with the modules.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
from urllib.parse import quote

from ansible.module_utils import clix_identity

# The PC's folder below unplatform/ (inventory host var clix_pc); its host name is <code>-<id>-<pc>
# (clix_inventory.lab_pc_errors).
PC = re.compile(r"[a-z0-9][a-z0-9_]{0,31}", re.ASCII)  # fullmatch, as every pattern here

# Version 2, relative to the install root.
V2_SESSIONS_DB = "unplatform.sqlite3"
V2_CONFIG = "webapps/unplatform/configuration/config.json"
V2_USER_DATA = "webapps/unplatform/user_data"
V2_DATASTORE = "webapps/CLIx/datastore"
V2_STUDENT_RESPONSES = V2_DATASTORE + "/studentResponseFiles"
# Shipped content media (large) plus copies of the student uploads: collected only when asked.
V2_ASSET_CONTENT = V2_DATASTORE + "/repository/AssetContent"
# Version 1, relative to the folder it was unzipped into.
V1_DB = "unplatform/db.sqlite3"
V1_LOG = "unplatform/debug.log"

# What the control node pulls of an install, by layout: (path in the install, clix_pull kind), the
# datastore without LABPC_ASSET_EXCLUDE unless asked. The one table of a lab PC's items: the PC only
# says which of these paths it holds; their kind, source and place in the archive are this table's
# (labpc_pulls), never what the PC's result says (a PC that called its datastore a snapshot would
# have replaced its archived history with whatever it holds now).
LABPC_PARTS = {
    "v2": ((V2_SESSIONS_DB, "sessions"), (os.path.dirname(V2_CONFIG), "json"), (V2_USER_DATA, "json"),
           (V2_DATASTORE, "json")),
    "v1": ((V1_DB, "sessions"), (V1_LOG, "file")),
}
LABPC_ASSET_EXCLUDE = "/%s/" % os.path.relpath(V2_ASSET_CONTENT, V2_DATASTORE)
SHA256 = re.compile(r"[0-9a-f]{64}", re.ASCII)

# What tells an install and its version: a folder holding one of V2_MARKS is version 2, else one
# holding V1_DB version 1. A link AT a mark's name counts (the install is found, and the link is
# reported where the file is read, never followed); a link on the way to it never does.
V2_MARKS = (V2_SESSIONS_DB, V2_DATASTORE, V2_USER_DATA)
# Where version 2's Ubuntu package installs (its Debian package's version is that install's), the
# folders searched for version 1 (unzipped anywhere), how deep, and how many folders a search may
# look into (a bound, never a hang).
INSTALL_ROOT = "/opt/clix"
V1_SEARCH = ("/home", "/opt", "/root", "/srv")
V1_SEARCH_DEPTH = 3
SEARCH_FOLDERS = 20000

# config.json keys that identify the PC (schoolId, terminalId): clix_identity's, with the claims check.
CONFIG_SCHOOL = clix_identity.CONFIG_SCHOOL
CONFIG_TERMINAL = clix_identity.CONFIG_TERMINAL

# The field team's DataExtractionScript.bat: <install path without drive and backslashes>-QBank-<stamp>
# (" (2)"... on a clash), zipped as <name>.zip with the MD5 in <name>checksum.txt. The stamp is cut
# from %DATE% and %TIME%, whose hour is space-padded before 10:00 ("2018-03-02- 9-05-33").
EXTRACTION = re.compile(
    r"(?P<install>.+)-QBank-(?P<stamp>[0-9]{4}-[0-9]{2}-[0-9]{2}-[ 0-9][0-9]-[0-9]{2}-[0-9]{2})(?: \((?P<copy>[0-9]+)\))?",
    re.ASCII)
EXTRACTION_CHECKSUM_SUFFIX = "checksum.txt"
EXTRACTION_ZIP_SUFFIX = ".zip"
# md5.exe (Fourmilab MD5 2.2) -o<file> writes "<32 upper-case hex digits>  <zip name as given>" and a
# line end (CRLF on Windows).
CHECKSUM_LINE = re.compile(r"(?P<md5>[0-9A-Fa-f]{32})(?:[ \t]+\*?(?P<name>[^\r\n]*?))?[ \t]*", re.ASCII)
# Folder of an extraction -> path in the install's own layout. Each was copied without recursion.
EXTRACTION_MAP = (
    ("assessment/AssessmentSection", V2_DATASTORE + "/assessment/AssessmentSection"),
    ("assessment/AssessmentTaken", V2_DATASTORE + "/assessment/AssessmentTaken"),
    ("logging/Log", V2_DATASTORE + "/logging/Log"),
    ("logging/LogEntry", V2_DATASTORE + "/logging/LogEntry"),
    ("repository/Asset", V2_DATASTORE + "/repository/Asset"),
    ("repository/AssetContent", V2_STUDENT_RESPONSES),
    ("unplatform/configuration", "webapps/unplatform/configuration"),
    ("unplatform/user_data", V2_USER_DATA),
    ("unplatform/sessions", ""),
)

# The folders an extraction copies files into (files directly in assessment/, logging/ and
# repository/ come from the script's non-recursive copies of the datastore's parent folders).
EXTRACTION_SESSIONS = "unplatform/sessions/" + V2_SESSIONS_DB

INSTALL_LABEL_CHARS = 200


class UnplatformError(ValueError):
    """A name from a lab PC or an extraction that may not name a folder of the archive."""


def check_pc(pc) -> str:
    """A lab PC's folder name below unplatform/: lower-case letters, digits and _, at most 32."""
    if not isinstance(pc, str) or not PC.fullmatch(pc):
        raise UnplatformError("lab PC name %s: use 1-32 lower-case letters, digits or _ (e.g. pc01)"
                              % clix_identity.shown(pc))
    return pc


def install_label(path: str) -> str:
    """The archive folder of an install at an absolute path on a Linux PC: its components joined
    with '-' (/opt/clix -> opt-clix)."""
    parts = [p for p in path.split("/") if p]
    if not path.startswith("/") or not parts or any(p in (".", "..") for p in parts):
        raise UnplatformError("install path %s is not an absolute, normalised path" % clix_identity.shown(path))
    return check_install_label("-".join(parts))


def check_install_label(label) -> str:
    """An install's folder name (made by install_label, or an extraction's <install> part): one
    path component of at most INSTALL_LABEL_CHARS characters, not hidden, without separators, blanks
    at its ends, or anything the name rule refuses (clix_identity.check_name)."""
    if (not isinstance(label, str) or not 0 < len(label) <= INSTALL_LABEL_CHARS or label.startswith(".")
            or "/" in label or "\\" in label or label.strip() != label or clix_identity.unsafe_chars(label)):
        raise UnplatformError("install name %s cannot name a folder of the archive" % clix_identity.shown(label))
    return label


def real_dir(path: str) -> bool:
    """A folder, not a link to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def holds(root: str, rel: str) -> bool:
    """Whether something is at root/rel, every folder on the way a real one (no link followed)."""
    folder = root
    for part in rel.split("/")[:-1]:
        folder = os.path.join(folder, part)
        if not real_dir(folder):
            return False
    return os.path.lexists(os.path.join(root, rel))


def layout_of(root: str):
    """'v2', 'v1' or None: which version's install the folder root is (never through a link)."""
    if not real_dir(root):
        return None
    if any(holds(root, mark) for mark in V2_MARKS):
        return "v2"
    if holds(root, V1_DB):
        return "v1"
    return None


def search_v1(top: str, depth: int, skip: tuple) -> list:
    """Folders up to depth below top that hold version 1's database (at most SEARCH_FOLDERS looked
    into); links never followed, hidden folders and the folders of skip never looked into."""
    found, queue, budget = [], [(top, 0)], SEARCH_FOLDERS
    while queue and budget > 0:
        folder, level = queue.pop(0)
        budget -= 1
        if folder in skip:
            continue
        if holds(folder, V1_DB):
            found.append(folder)
            continue
        if level >= depth:
            continue
        try:
            with os.scandir(folder) as entries:
                subs = sorted(e.path for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))
        except OSError:
            continue
        queue += [(s, level + 1) for s in subs]
    return found


def find_installs(roots, search=V1_SEARCH, depth: int = V1_SEARCH_DEPTH, skip=()) -> dict:
    """{install root: 'v2' or 'v1'}, sorted by path, of a lab PC: each of roots that is an install
    (an absent one is none), and the version 1 installs up to depth folders below each of search.
    skip: folders the search never takes nor looks into (the tool's staging folder: its copies are
    no installs). The one search both the collection (clix_unplatform) and the heartbeat run."""
    skip = tuple(os.path.normpath(f) for f in skip if f)
    installs = {}
    for root in roots:
        root = os.path.normpath(root)
        layout = layout_of(root)
        if layout:
            installs[root] = layout
    for top in search:
        if real_dir(top):
            for folder in search_v1(os.path.normpath(top), depth, skip):
                installs.setdefault(folder, layout_of(folder))
    return dict(sorted(installs.items()))


def parse_extraction(name: str):
    """(install label, 'YYYY-MM-DDTHH:MM:SS', copy number or 0) of an extraction folder or zip name
    (without .zip), or None when the name is not the field team's."""
    match = EXTRACTION.fullmatch(name)
    if not match:
        return None
    try:
        label = check_install_label(match.group("install"))
    except UnplatformError:
        return None
    date, time = match.group("stamp")[:10], match.group("stamp")[11:].replace("-", ":").replace(" ", "0")
    return label, "%sT%s" % (date, time), int(match.group("copy") or 0)


def read_only(path: str) -> str:
    """The URI that opens the SQLite file at path read-only."""
    return "file:%s?mode=ro" % quote(path)


def connect_ro(path: str, timeout: float = 5.0) -> sqlite3.Connection:
    """A read-only connection to a live database (an install's, which its app may be writing): it never
    writes the database. A file at rest from a lab PC, a stick or the archive is opened by open_untrusted."""
    return sqlite3.connect(read_only(path), uri=True, timeout=timeout)


# A sessions database from a lab PC, a USB stick or the archive is data. It is opened read-only and
# immutable (no lock taken, no -wal or -shm made beside it), its schema runs no function with side
# effects (trusted_schema=OFF), no value longer than SESSION_VALUE_BYTES is read (SQLite refuses it),
# and only the rows of a plain sessions table are read, SESSIONS_BATCH at a time, with a full scan
# (which runs no trigger, view or index expression). A database from a lab PC or a stick whose schema
# holds a view or a trigger is not unplatform's (web.py's schema, SESSIONS_SCHEMA, has neither): it is
# refused. What the project archives is a database it made itself with SESSIONS_SCHEMA, the rows copied
# one by one (merge_sessions); an archived one made otherwise (by an older clix-collect, which placed the
# stick's file as it was) gives its rows and is made anew without its views and triggers.
SESSIONS_SCHEMA = ("CREATE TABLE sessions (session_id char(128) UNIQUE NOT NULL, "
                   "atime timestamp NOT NULL default current_timestamp, data text)")  # unplatform_v2 sql/session_schema.sql
SESSION_COLUMNS = ("session_id", "atime", "data")
SESSIONS_BATCH = 64
SESSION_VALUE_BYTES = 1 << 20


class UntrustedDatabaseError(ValueError):
    """An SQLite file that is not a plain unplatform sessions database; nothing of it is read."""


def open_untrusted(path: str) -> sqlite3.Connection:
    """A read-only, immutable connection to an SQLite file at rest that nobody trusts (see above)."""
    con = sqlite3.connect("file:%s?mode=ro&immutable=1" % quote(path), uri=True)
    try:
        for pragma in ("trusted_schema=OFF", "cell_size_check=ON", "mmap_size=0"):
            con.execute("PRAGMA " + pragma)
        if hasattr(con, "setlimit"):  # Python 3.11 on: the control node; a lab PC reads its own files
            con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SESSION_VALUE_BYTES)
    except BaseException:
        con.close()
        raise
    return con


def schema_extras(con: sqlite3.Connection) -> list:
    """The views and triggers of the database's schema, as 'view v', 'trigger t' (names as data)."""
    return ["%s %s" % (kind, clix_identity.shown(name)) for kind, name in
            con.execute("SELECT type, name FROM sqlite_master WHERE type IN ('view', 'trigger') ORDER BY type, name")]


def sessions_problem(con: sqlite3.Connection, strict: bool = True):
    """Why the database is not a plain sessions database (no sessions table, a virtual table, a column
    missing or computed; strict: a view or trigger anywhere in its schema), or None."""
    extras = schema_extras(con)
    if strict and extras:
        return "it holds %s, which unplatform's own database never has: refused, never run" % ", ".join(extras[:5])
    sql = con.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sessions'").fetchone()
    if sql is None:
        return "it has no sessions table"
    if str(sql[0]).lstrip().upper().startswith("CREATE VIRTUAL"):
        return "its sessions table is a virtual table"
    columns = {row[1]: row[6] for row in con.execute("PRAGMA table_xinfo(sessions)")}
    missing = [c for c in SESSION_COLUMNS if c not in columns]
    if missing:
        return "its sessions table has no column %s" % ", ".join(missing)
    if any(columns[c] for c in SESSION_COLUMNS):
        return "a column of its sessions table is computed"
    return None


def check_sessions(path: str, strict: bool = True) -> None:
    """Raise UntrustedDatabaseError when the SQLite file at path is not a plain sessions database
    (sessions_problem), sqlite3.Error when SQLite cannot open it."""
    con = open_untrusted(path)
    try:
        problem = sessions_problem(con, strict)
    finally:
        con.close()
    if problem:
        raise UntrustedDatabaseError(problem)


def read_sessions(path: str, batch: int = SESSIONS_BATCH, strict: bool = True):
    """The rows (session_id, atime, data) of the sessions table of the SQLite file at path, as lists of at
    most batch rows (never the whole table at once). Raises UntrustedDatabaseError when the file is not a
    plain sessions database (sessions_problem), sqlite3.Error when SQLite cannot read it (damaged, a value
    longer than SESSION_VALUE_BYTES). The one way the project reads a sessions table at rest."""
    con = open_untrusted(path)
    try:
        problem = sessions_problem(con, strict)
        if problem:
            raise UntrustedDatabaseError(problem)
        rows = con.execute("SELECT session_id, atime, data FROM sessions")
        while True:
            chunk = rows.fetchmany(batch)
            if not chunk:
                return
            yield chunk
    finally:
        con.close()


def session_count(path: str):
    """Rows of the sessions table of the SQLite file at path (at rest), or None when it has none, is not a
    plain sessions database or does not open."""
    try:
        con = open_untrusted(path)
    except sqlite3.Error:
        return None
    try:
        return None if sessions_problem(con) else con.execute("SELECT count(*) FROM sessions").fetchone()[0]
    except sqlite3.Error:
        return None
    finally:
        con.close()


def count_sessions(con: sqlite3.Connection):
    """Rows of the connection's sessions table, or None when it has none (version 1, not unplatform's).
    For the lab PC's own copy, just made by SQLite's backup API (files at rest: session_count)."""
    try:
        return con.execute("SELECT count(*) FROM sessions").fetchone()[0]
    except sqlite3.Error:
        return None


def merge_sessions(archived, incoming: str, out: str) -> dict:
    """Write into out (a new file) a database of the project's own schema (SESSIONS_SCHEMA) holding the
    sessions of archived (None: none archived yet) and of incoming, both unplatform.sqlite3 copies of one
    install, read as data (read_sessions): a session only in archived is kept, one only in incoming is
    added, and one in both takes the row with the later atime. So a re-installed PC (whose database
    started empty) or an older extraction never loses a session already archived. A row without a
    session id or atime cannot be a session and is skipped. Returns {'added', 'updated', 'kept',
    'skipped', 'dropped'} (kept: archived sessions incoming did not change; dropped: the views and
    triggers of an archived database not made by the project, never run and left out). Raises
    UntrustedDatabaseError when incoming is not a plain sessions database, or the archived one has no
    plain sessions table."""
    counts = dict(added=0, updated=0, kept=0, skipped=0, dropped=0)
    con = sqlite3.connect(out, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=OFF")  # a new private file: renamed into place only when complete
        con.execute(SESSIONS_SCHEMA)
        con.execute("BEGIN")
        if archived:
            try:
                check = open_untrusted(archived)
                try:
                    counts["dropped"] = len(schema_extras(check))
                finally:
                    check.close()
                _fold_rows(con, read_sessions(archived, strict=False), counts, False)
            except UntrustedDatabaseError as exc:
                raise UntrustedDatabaseError("the archived %s: %s" % (os.path.basename(archived), exc)) from None
        _fold_rows(con, read_sessions(incoming), counts, True)
        con.execute("COMMIT")
        counts["kept"] = con.execute("SELECT count(*) FROM sessions").fetchone()[0] - counts["added"] - counts["updated"]
    finally:
        con.close()
    return counts


def _fold_rows(con: sqlite3.Connection, batches, counts: dict, incoming: bool) -> None:
    for chunk in batches:
        for row in chunk:
            _fold_row(con, row, counts, incoming)


def _fold_row(con: sqlite3.Connection, row: tuple, counts: dict, incoming: bool) -> None:
    session_id, atime, data = row
    if not isinstance(session_id, (str, int)) or isinstance(session_id, bool) or session_id == "" or atime is None:
        counts["skipped"] += 1
        return
    known = con.execute("SELECT atime FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
    if known is None:
        con.execute("INSERT INTO sessions (session_id, atime, data) VALUES (?, ?, ?)", row)
        counts["added"] += incoming
    elif str(atime) > str(known[0]):
        con.execute("UPDATE sessions SET atime = ?, data = ? WHERE session_id = ?", (atime, data, session_id))
        counts["updated"] += incoming


def fold_sessions(archived: str, incoming: str, work: str):
    """(counts, path): incoming folded with the archived database at archived (absent: none yet) into a new
    database of the project's schema in the folder work (merge_sessions), at path - or path None when the
    archive already holds every session as incoming has it and nothing to drop (nothing to write). The
    caller moves path into place (clix_files.install_file). The one fold of the pull (over SSH) and the
    ingest (USB)."""
    if os.path.lexists(archived) and not stat.S_ISREG(os.lstat(archived).st_mode):
        raise UntrustedDatabaseError("the archived %s is not a regular file: move it aside" % os.path.basename(archived))
    out = os.path.join(work, "folded-" + os.path.basename(archived))
    if os.path.lexists(out):
        os.unlink(out)
    try:
        counts = merge_sessions(archived if os.path.lexists(archived) else None, incoming, out)
    except BaseException:
        if os.path.lexists(out):
            os.unlink(out)
        raise
    if os.path.lexists(archived) and not (counts["added"] or counts["updated"] or counts["dropped"]):
        os.unlink(out)
        return counts, None
    return counts, out


def standalone(path: str) -> None:
    """A copied database (this run's private file) made one self-contained file before it is read: a WAL
    beside it checkpointed into it, and its journal mode switched out of WAL (which runs nothing of its schema)."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("PRAGMA journal_mode=DELETE")
    finally:
        con.close()


# unplatform's own sessions database, as its app reads it (restore.yml puts it back): the table made by
# its sql/session_schema.sql, whose text session_migration.py runs as it is (so sqlite_master holds it
# verbatim), in WAL mode (main.py sets journal_mode=WAL at every start). The archive's copy is the
# project's own (SESSIONS_SCHEMA, a rollback journal, sessions folded over the collections).
UNPLATFORM_SESSIONS_SQL = ("create table sessions (\n    session_id char(128) UNIQUE NOT NULL,\n"
                           "    atime timestamp NOT NULL default current_timestamp,\n    data text\n)")


def unplatform_sessions(archived: str, out: str) -> int:
    """Write into out (a new file) the sessions of the archived database at archived (read as data,
    read_sessions) as unplatform's own database: UNPLATFORM_SESSIONS_SQL, WAL mode with everything
    checkpointed into the file (no -wal beside it), fsynced. Returns the rows written. Raises
    UntrustedDatabaseError when archived is not a plain sessions database or holds a session twice."""
    con = sqlite3.connect(out, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(UNPLATFORM_SESSIONS_SQL)
        con.execute("BEGIN")
        rows = 0
        try:
            for chunk in read_sessions(archived, strict=False):
                con.executemany("INSERT INTO sessions (session_id, atime, data) VALUES (?, ?, ?)", chunk)
                rows += len(chunk)
        except sqlite3.IntegrityError as exc:
            raise UntrustedDatabaseError("the archived %s cannot be unplatform's (%s)" % (
                os.path.basename(archived), exc)) from None
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    fd = os.open(out, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return rows


# What a fresh install holds none of (restore.yml refuses an install holding any, unless told to
# restore over it): sessions, user_data files, and the datastore's records of what was done in it
# (shipped content - items, assessments, banks, logs' catalogues, content media - comes with every install).
V2_RECORDS = (V2_USER_DATA, V2_DATASTORE + "/logging/LogEntry", V2_DATASTORE + "/assessment/AssessmentTaken",
              V2_DATASTORE + "/assessment/AssessmentSection", V2_STUDENT_RESPONSES)


def install_records(root: str) -> list:
    """What research data the version 2 install at root holds, in words ([] for a fresh install):
    its sessions (from a read-only connection, WAL included; without a -wal beside it, an immutable
    one, which makes no -wal and -shm) and the files of V2_RECORDS' folders (links neither counted nor
    followed). Nothing of the install is changed."""
    held = []
    db = os.path.join(root, V2_SESSIONS_DB)
    if holds(root, V2_SESSIONS_DB) and not os.path.islink(db):
        try:
            con = (connect_ro(db, timeout=30) if os.path.lexists(db + "-wal")
                   else sqlite3.connect("file:%s?mode=ro&immutable=1" % quote(db), uri=True))
            try:
                sessions = count_sessions(con)
            finally:
                con.close()
        except sqlite3.Error as exc:
            sessions, held = None, ["%s that SQLite cannot read (%s)" % (V2_SESSIONS_DB, exc)]
        if sessions:
            held.append("%d sessions in %s" % (sessions, V2_SESSIONS_DB))
    for rel in V2_RECORDS:
        folder = os.path.join(root, rel)
        if not (holds(root, rel) and real_dir(folder)):
            continue
        with os.scandir(folder) as entries:
            files = sum(1 for e in entries if e.is_file(follow_symlinks=False))
        if files:
            held.append("%d files in %s" % (files, rel))
    return held


def extraction_target(relpath: str):
    """The install-relative path of a file at relpath inside an extraction folder (below its top
    folder), or None when the extraction's folders do not hold such a file (only files directly in
    one of EXTRACTION_MAP's folders, as the script copied them; a session database only as
    unplatform/sessions/unplatform.sqlite3)."""
    folder, _, name = relpath.rpartition("/")
    if relpath == EXTRACTION_SESSIONS:
        return V2_SESSIONS_DB
    for source, target in EXTRACTION_MAP:
        if folder == source and target and name:
            return target + "/" + name
    return None


def parse_checksum(text: bytes, zip_name: str) -> str:
    """The lower-case MD5 that md5.exe wrote into <name>checksum.txt for zip_name. Upper or lower
    case, CRLF or LF, a BOM, and a line without the file name are accepted; a line naming another
    file (Windows compares names without case) raises UnplatformError."""
    lines = text.decode("utf-8-sig", "replace").strip().splitlines()
    match = CHECKSUM_LINE.fullmatch(lines[0].strip()) if len(lines) == 1 else None
    if not match:
        raise UnplatformError("the checksum file does not hold one line '<32 hex digits>  <zip name>' as md5.exe writes it")
    named = (match.group("name") or "").strip()
    if named and named.replace("\\", "/").rsplit("/", 1)[-1].casefold() != zip_name.casefold():
        raise UnplatformError("the checksum file is for %r, not for %r" % (named, zip_name))
    return match.group("md5").lower()


# A lab PC's folder below its school folder (clix_layout's): unplatform/<pc>/<install>/<install's own path>.
ARCHIVE_TOP = "unplatform"


def pc_relpath(pc, label=None, rel=None) -> str:
    """unplatform/<pc>[/<install>[/<path in the install's own layout>]], each part checked: the one
    place a lab PC's archive paths below the school folder are made (the manifest item of a lab PC
    is named unplatform/<pc> too)."""
    parts = [ARCHIVE_TOP, check_pc(pc)]
    if label is not None:
        parts.append(check_install_label(label))
    if rel:
        pieces = rel.split("/")
        if rel.startswith("/") or any(p in ("", ".", "..") for p in pieces):
            raise UnplatformError("%r is not a relative path of an install" % (rel,))
        parts += pieces
    return "/".join(parts)


def labpc_part(layout, rel, staged: str, root: str, asset_content: bool = False) -> dict:
    """The clix_pull item (src, dest in the install, kind, exclude) of the table's part rel of an install
    at root of the layout (LABPC_PARTS), its database staged in the folder staged. Raises
    UnplatformError when the table has no such part."""
    kind = dict(LABPC_PARTS.get(layout, ())).get(rel)
    if kind is None:
        raise UnplatformError("%s of a %s install is not a part the control node pulls" % (
            clix_identity.shown(rel), clix_identity.shown(layout)))
    src = (staged.rstrip("/") + "/" + rel if kind == "sessions"
           else root.rstrip("/") + "/" + rel + ("/" if kind == "json" else ""))
    exclude = [LABPC_ASSET_EXCLUDE] if rel == V2_DATASTORE and not asset_content else []
    return dict(src=src, dest=rel, kind=kind, exclude=exclude)


# What the control node takes of a lab PC's word: an honest PC has one or two installs (v2 at /opt/clix, a
# v1 unzipped in a user's folder); a hostile one could name thousands, each pulled.
LABPC_INSTALLS = 16


def labpc_pulls(installs, pc: str, staging: str, asset_content: bool = False) -> tuple:
    """(items, problems): the clix_pull items of a lab PC's installs as clix_unplatform reported them,
    each to unplatform/<pc>/<install>/<path>. The PC's result is data: an install counts by its path
    (absolute, normalised, its folder name made here by install_label) and layout, each of its pulls
    only by the path it names, looked up in LABPC_PARTS, which gives the kind, source and place; a
    staged database's sha256 is kept when it is one. What does not pass is a problem (said through
    clix_identity.shown), never an item; an install whose folder name another install took is one too."""
    items, problems, labels = [], [], set()
    installs = installs if isinstance(installs, list) else []
    if len(installs) > LABPC_INSTALLS:
        problems.append("the lab PC reported %d installs: only the first %d were pulled" % (len(installs), LABPC_INSTALLS))
    for install in installs[:LABPC_INSTALLS]:
        try:
            label = labpc_install_label(install)
            if label in labels:
                raise UnplatformError("a second install at %s: not collected" % clix_identity.shown(install["path"]))
            labels.add(label)
            rels, mine = set(), []
            for pull in install.get("pull") or []:
                rel = pull.get("dest") if isinstance(pull, dict) else None
                if rel in rels:
                    raise UnplatformError("its part %s is named twice" % clix_identity.shown(rel))
                rels.add(rel)
                item = labpc_part(install["layout"], rel, staging.rstrip("/") + "/" + label, install["path"],
                                  asset_content)
                expect = (pull.get("expect") or {}).get(os.path.basename(rel)) if isinstance(pull.get("expect"), dict) else None
                item["expect"] = {os.path.basename(rel): expect} if item["kind"] == "sessions" and isinstance(
                    expect, str) and SHA256.fullmatch(expect) else {}
                if item["kind"] == "sessions" and not item["expect"]:
                    raise UnplatformError("its staged %s came without a sha256: not pulled" % rel)
                dest = pc_relpath(pc, label, rel)
                mine.append(dict(item, name=dest, dest=dest))
            items += mine
        except (UnplatformError, KeyError, TypeError, AttributeError) as exc:
            why = str(exc) if isinstance(exc, UnplatformError) else "its entry is malformed"  # already shown()
            problems.append("an install the lab PC reported was not pulled: %s" % why)
    return items, problems


def labpc_install_label(install) -> str:
    """The archive folder of an install the lab PC reported ({path, layout}), made here from its path."""
    if not isinstance(install, dict) or install.get("layout") not in LABPC_PARTS:
        raise UnplatformError("an install without a known layout (v1 or v2)")
    path = install.get("path")
    if not isinstance(path, str) or os.path.normpath(path) != path:
        raise UnplatformError("install path %s is not an absolute, normalised path" % clix_identity.shown(path))
    return install_label(path)


# A JSON file from a lab PC is parsed only to tell a whole file from one torn by the app's in-place
# rewrite. Python's reader builds every value (about 30 times the file's size in memory) and recurses
# (a file nested about 1000 deep raises RecursionError), so past JSON_FAST_BYTES, or when it recurses
# too deep, the file is checked by json_complete instead: one pass, no value built, the nesting kept
# in a bytearray (a byte per level) - so a check holds at most about 6 times the file's size, and the
# caller bounds the size (clix_pull's json_limit).
JSON_FAST_BYTES = 1 << 20
_JSON_WS = re.compile(r"[ \t\n\r]*")
_JSON_SCALAR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null|NaN|-?Infinity")
_JSON_STRING_REST = re.compile(r'[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*"')


def json_parses(data: bytes) -> bool:
    """Whether data is one whole JSON document (as json.loads reads it), however deeply nested."""
    try:
        if len(data) <= JSON_FAST_BYTES:
            try:
                json.loads(data)
                return True
            except RecursionError:
                pass
        return json_complete(data.decode(json.detect_encoding(data), "surrogatepass"))
    except ValueError:  # UnicodeDecodeError and json's JSONDecodeError are ValueErrors
        return False


def _json_key(text: str, pos: int) -> int:
    """The position after '"key" :' (and blanks) at pos, or -1."""
    if text[pos:pos + 1] != '"':
        return -1
    match = _JSON_STRING_REST.match(text, pos + 1)
    if not match:
        return -1
    pos = _JSON_WS.match(text, match.end()).end()
    return _JSON_WS.match(text, pos + 1).end() if text[pos:pos + 1] == ":" else -1


def json_complete(text: str) -> bool:
    """Whether text is one whole JSON document: checked in one pass without recursion or building values."""
    stack, n = bytearray(), len(text)
    pos = _JSON_WS.match(text, 0).end()
    while True:
        char = text[pos:pos + 1]  # a value starts at pos
        if char in ("{", "["):
            pos = _JSON_WS.match(text, pos + 1).end()
            if text[pos:pos + 1] == ("}" if char == "{" else "]"):
                pos += 1
            else:
                stack.append(ord(char))
                if char == "{":
                    pos = _json_key(text, pos)
                    if pos < 0:
                        return False
                continue
        else:
            match = _JSON_STRING_REST.match(text, pos + 1) if char == '"' else _JSON_SCALAR.match(text, pos)
            if not char or not match:
                return False
            pos = match.end()
        while True:  # a value ended at pos: close containers, or a comma and the next value
            pos = _JSON_WS.match(text, pos).end()
            if not stack:
                return pos == n
            char = text[pos:pos + 1]
            if char == ",":
                pos = _JSON_WS.match(text, pos + 1).end()
                if stack[-1] == ord("{"):
                    pos = _json_key(text, pos)
                    if pos < 0:
                        return False
                break
            if char != ("}" if stack[-1] == ord("{") else "]"):
                return False
            stack.pop()
            pos += 1
