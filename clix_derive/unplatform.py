"""Derived data of a school's unplatform lab PCs, from the archive's ``unplatform/<pc>/<install>/``.

Per lab PC, into ``<derived school folder>/unplatform/<pc>/``:

``activity-data.csv``
    the columns of the MIT script's ``qbank/student-activities/activity-data.csv`` (``mit.py``:
    ``Username, UserID`` and five columns per date, the day cells computed by the same code).
    unplatform has no activity-player pages and no Django users, so its log entries are mapped:

    - A log entry is a qbank ``logging/LogEntry`` JSON file (v2) or a ``research_appdata`` row
      (v1); its event is the JSON object in ``text.text`` (v1: ``params``).
    - Its session is qbank's agent, ``agentId`` ``osid.agent.Agent%3A<key>%40MIT-ODL``: unplatform
      passes the event's ``session_id``/``sessionId``/``user_id``/``userId`` (first found) as the
      agent (``main.py`` ``generic_logging``). The UI sets that cookie to the typed username when
      one was given, else to the web.py session id (``setSurvey.js``), so a key that is no session
      id but a session's ``username`` belongs to the latest session of that name started at or
      before the entry (else the first); any other key is a session of its own without user data.
    - A **visit** is a content-player event (an event with a non-empty ``activity`` text) whose
      ``unit`` / ``subject`` / ``activity`` differ from the session's previous content-player
      event: the player logs every play, pause and click inside an activity, the MIT script one
      blob per activity-player page. Its name is ``unit / lesson / activity`` (``subject`` is the
      player's lesson), each by python-slugify as the MIT script does, ``NA`` for a missing part.
      A click on ``Select tool: <name>`` (the UI's tool list) is a visit named ``<name>``, as the
      script names a tool blob by its ``appName``.
    - A visit is credited to each user of its session: the session's ``username`` split at commas
      (the UI asks for "student IDs, like: 100, 120, and 97"; a leading ``and`` is dropped), as the
      script credits a visit to each buddy; a session without a typed name counts as one user named
      by its session id. ``UserID`` stays empty: unplatform has no user ids.
    - Times: qbank stamps an entry with ``datetime.utcnow()`` (dlkit ``LogEntryForm``); the CSV
      shows IST wall clock (UTC+05:30), as the MIT script shows gStudio's stored IST times.
    - Rows in code-point order of the username (the script's Python 2 dict order has no meaning
      here); a user with no visit still gets a row (blank cells), as every logged-in user does.

``sessions.csv``
    one row per session of the PC (the sessions table, the user data files and the log entries'
    sessions, united): its id, ``userType``, ``userCount`` and ``username`` from
    ``user_data/<sessionId>.json`` (v1: ``research_user``), start, end, the time of its last log
    entry and its number of log entries. Start is the user data's ``timestamp`` (written with
    ``utcnow()`` when the user form is sent; v1: ``research_uuid.creation_time``), else the first
    log entry. End is the session's last finish event: a ``clicked_finished`` (the lesson's
    "finished" button) or a click on ``Select User``, both of which send the UI back to the user
    form; a session without one has an empty end (its last log entry is in its own column). Times
    are IST wall clock (``str(datetime)``), rows by start (sessions without one last), then id.

Several installs of one PC are one PC: their sessions and log entries are united (in install-name
order); a log entry in several installs (same file name, i.e. same ``_id``) counts once, and a
session's user data is the first install's (by name) that has it.

A folder below ``unplatform/`` is a lab PC when it holds an install (a folder with v2's or v1's
files, ``clix_unplatform.layout_of``); a school server's own unplatform folder (the server item ``unplatform``) shares that folder
and is left out.

Every archive file is untrusted: read only as a regular file (``open_collected``, no link followed),
a file that does not parse is a reject, reported and skipped; a broken PC never stops the others.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import stat
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import unquote

from ansible.module_utils import clix_layout
from ansible.module_utils import clix_unplatform as U
from ansible.module_utils.clix_layout import LayoutError

from .formats import output_path, python_slugify, write_csv
from .mit import Blob, day_cells, header
from .source import SourceError, open_collected

ACTIVITY_CSV = "activity-data.csv"
SESSIONS_CSV = "sessions.csv"
SESSIONS_HEADER = ["Session", "User type", "User count", "Username", "Start (IST)", "End (IST)",
                   "Last log entry (IST)", "Log entries"]
IST = dt.timedelta(hours=5, minutes=30)
AGENT_PREFIX, AGENT_SUFFIX = "osid.agent.Agent%3A", "%40MIT-ODL"
SESSION_KEYS = ("session_id", "sessionId", "user_id", "userId")  # main.py generic_logging's order
TOOL_TARGET = "Select tool: "
MAX_JSON_BYTES = 16 << 20


@dataclass
class Entry:
    key: str  # the agent: a session id or a typed username
    utc: dt.datetime
    event: dict
    session: str = ""


@dataclass
class Session:
    sid: str
    user: dict = field(default_factory=dict)
    start_utc: dt.datetime | None = None
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Pc:
    """One lab PC's installs, read: sessions by id, log entries, and what was rejected."""

    name: str
    sessions: dict[str, Session] = field(default_factory=dict)
    entries: dict[str, Entry] = field(default_factory=dict)  # by log entry id
    rejects: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def session(self, sid: str) -> Session:
        return self.sessions.setdefault(sid, Session(sid))


# -- reading an install ---------------------------------------------------------------------------
def _regular_json(path: str):
    with open_collected(path) as f:
        data = f.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise ValueError("larger than %d bytes" % MAX_JSON_BYTES)
    return json.loads(data.decode("utf-8"))


def _inside(pc: Pc, root: str, path: str) -> bool:
    """Whether path (its links resolved) stays in the install: a linked folder never takes a read out."""
    try:
        clix_layout.contained(root, path)
    except clix_layout.LayoutError as exc:
        pc.rejects.append((path, "%s: a link in the collected tree, not followed" % exc))
        return False
    return True


def _json_files(pc: Pc, root: str, folder: str):
    """(name, document) of each *.json in folder (not below it), in name order; rejects reported."""
    if not _inside(pc, root, folder):
        return
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(".json"))
    except FileNotFoundError:
        return
    except OSError as exc:
        pc.rejects.append((folder, str(exc)))
        return
    for name in names:
        path = os.path.join(folder, name)
        try:
            yield name, _regular_json(path)
        except (OSError, ValueError, SourceError) as exc:
            pc.rejects.append((path, str(exc)))


def _regular_db(pc: Pc, root: str, path: str) -> bool:
    """Whether path is a collected SQLite file that may be read: a regular file inside the install."""
    if not _inside(pc, root, os.path.dirname(path)):
        return False
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            pc.rejects.append((path, "not a regular file (a link, FIFO or device): not read"))
            return False
    except FileNotFoundError:
        return False
    return True


def _sqlite(pc: Pc, root: str, path: str) -> sqlite3.Connection | None:
    """A collected SQLite file opened as untrusted data (clix_unplatform.open_untrusted: read-only,
    immutable, trusted_schema off, values bounded); one with a view or trigger is rejected unread."""
    if not _regular_db(pc, root, path):
        return None
    try:
        con = U.open_untrusted(path)
    except sqlite3.Error as exc:
        pc.rejects.append((path, str(exc)))
        return None
    try:
        extras = U.schema_extras(con)
    except sqlite3.DatabaseError as exc:
        extras = None
        pc.rejects.append((path, str(exc)))
    if extras:
        pc.rejects.append((path, "it holds %s, which unplatform's own database never has: not read" % ", ".join(extras[:5])))
    if extras or extras is None:
        con.close()
        return None
    return con


def _rows(pc: Pc, con: sqlite3.Connection, path: str, sql: str):
    """The query's rows, read in batches (a table is never held whole by SQLite's cursor)."""
    try:
        cursor = con.execute(sql)
        while True:
            chunk = cursor.fetchmany(U.SESSIONS_BATCH)
            if not chunk:
                return
            yield from chunk
    except sqlite3.DatabaseError as exc:
        pc.rejects.append((path, str(exc)))


def _utc_dict(value) -> dt.datetime:
    """dlkit's stored DateTime: {year, month, day, hour, minute, second, microsecond}."""
    if not isinstance(value, dict):
        raise ValueError("timestamp %r is not a date-time" % (value,))
    parts = [value.get(k, 0) for k in ("year", "month", "day", "hour", "minute", "second", "microsecond")]
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
        raise ValueError("timestamp %r is not a date-time" % (value,))
    return _in_range(dt.datetime(*parts))


def _in_range(when: dt.datetime) -> dt.datetime:
    """A time that can be shown in IST (+05:30 past year 9999 cannot)."""
    if when.year > 9998:
        raise ValueError("time %s is out of range" % when)
    return when


def _utc_text(value) -> dt.datetime:
    """``str(datetime.utcnow())`` (user data) or Django's SQLite text (v1)."""
    if not isinstance(value, str):
        raise ValueError("time %r is not text" % (value,))
    return _in_range(dt.datetime.fromisoformat(value.strip().replace("Z", "").split("+")[0]))


def _agent_key(doc: dict, event: dict) -> str:
    agent = doc.get("agentId")
    if isinstance(agent, str) and agent.startswith(AGENT_PREFIX) and agent.endswith(AGENT_SUFFIX):
        return unquote(agent[len(AGENT_PREFIX):-len(AGENT_SUFFIX)])
    return next((str(event[k]) for k in SESSION_KEYS if k in event), "none_provided")


def _event(text) -> dict:
    """The logged event: a JSON object as text; anything else is an event with no fields."""
    try:
        event = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def read_v2(pc: Pc, root: str) -> None:
    db = os.path.join(root, U.V2_SESSIONS_DB)
    if _regular_db(pc, root, db):
        try:
            for chunk in U.read_sessions(db):
                for sid, _atime, _data in chunk:
                    pc.session(str(sid))
        except (sqlite3.Error, U.UntrustedDatabaseError) as exc:
            pc.rejects.append((db, str(exc)))
    for name, doc in _json_files(pc, root, os.path.join(root, U.V2_USER_DATA)):
        sid = doc.get("sessionId") if isinstance(doc, dict) else None
        if not isinstance(sid, str) or not sid:
            pc.rejects.append((os.path.join(root, U.V2_USER_DATA, name), "user data without a sessionId"))
            continue
        session = pc.session(sid)
        if not session.user:  # the first install (by name) that has it
            session.user = doc
            try:
                session.start_utc = _utc_text(doc.get("timestamp"))
            except ValueError:
                session.start_utc = None
    folder = os.path.join(root, U.V2_DATASTORE, "logging", "LogEntry")
    for name, doc in _json_files(pc, root, folder):
        if name in pc.entries:
            continue
        try:
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
            text = doc.get("text")
            event = _event(text.get("text") if isinstance(text, dict) else None)
            pc.entries[name] = Entry(_agent_key(doc, event), _utc_dict(doc.get("timestamp")), event)
        except ValueError as exc:
            pc.rejects.append((os.path.join(folder, name), str(exc)))


def read_v1(pc: Pc, root: str) -> None:
    """The 2016 Django app's research tables (research/models.py): research_uuid (sessions),
    research_user (user type and count), research_appdata (events, params as JSON text)."""
    path = os.path.join(root, U.V1_DB)
    con = _sqlite(pc, root, path)
    if con is None:
        return
    tables = {r[0] for r in _rows(pc, con, path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "research_uuid" not in tables:
        pc.rejects.append((path, "no research_uuid table (not unplatform 2016's research data)"))
    else:
        for sid, created in _rows(pc, con, path, "SELECT session_id, creation_time FROM research_uuid ORDER BY rowid"):
            session = pc.session(str(sid))
            if session.start_utc is None:
                with contextlib.suppress(ValueError):
                    session.start_utc = _utc_text(created)
    if "research_user" in tables:
        for sid, kind, count in _rows(pc, con, path, "SELECT session_id_id, user_type, user_count FROM research_user"
                                      " ORDER BY creation_time, rowid"):
            session = pc.session(str(sid))
            session.user = session.user or {"userType": kind, "userCount": count, "username": ""}
    if "research_appdata" in tables:
        rows = _rows(pc, con, path, "SELECT rowid, session_id_id, app_name, event_type, params, creation_time"
                                    " FROM research_appdata ORDER BY rowid")
        for rowid, sid, app, event_type, params, created in rows:
            try:
                when = _utc_text(created)
            except ValueError as exc:
                pc.rejects.append((path, "research_appdata row %s: %s" % (rowid, exc)))
                continue
            event = {"appName": app, "action": event_type, **_event(params)}
            pc.entries.setdefault("v1:%s:%s" % (os.path.basename(root), rowid), Entry(str(sid), when, event))
    con.close()


def read_pc(name: str, folder: str) -> Pc:
    """A PC's installs (its sub-folders, by name), each read as v2 and as v1 where it has their files."""
    pc = Pc(name)
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        try:
            U.check_install_label(entry.name)
        except U.UnplatformError as exc:
            pc.rejects.append((entry.path, str(exc)))
            continue
        if not entry.is_dir(follow_symlinks=False):
            pc.rejects.append((entry.path, "not a folder (a link or a file): not read"))
            continue
        read_v2(pc, entry.path)
        read_v1(pc, entry.path)
    _assign(pc)
    return pc


def _assign(pc: Pc) -> None:
    """Each log entry to its session (see the module's docstring), in time order."""
    by_name: dict[str, list[Session]] = defaultdict(list)
    for session in pc.sessions.values():
        name = session.user.get("username")
        if isinstance(name, str) and name.strip():
            by_name[name.strip()].append(session)
    for named in by_name.values():
        named.sort(key=lambda s: (s.start_utc is None, s.start_utc or dt.datetime.min, s.sid))
    for _, entry in sorted(pc.entries.items(), key=lambda kv: (kv[1].utc, kv[0])):
        if entry.key in pc.sessions:
            session = pc.sessions[entry.key]
        elif entry.key.strip() in by_name:
            named = by_name[entry.key.strip()]
            started = [s for s in named if s.start_utc is not None and s.start_utc <= entry.utc]
            session = started[-1] if started else named[0]
        else:
            session = pc.session(entry.key)
        entry.session = session.sid
        session.entries.append(entry)


# -- the mapping to the MIT script's blobs --------------------------------------------------------
def _text(event: dict, key: str) -> str:
    value = event.get(key)
    return value.strip() if isinstance(value, str) else ""


def visits(session: Session) -> list[Blob]:
    """A session's visits as (IST wall clock, name) blobs, in time order."""
    blobs: list[Blob] = []
    previous = None
    for entry in session.entries:
        event = entry.event
        if _text(event, "activity"):
            place = tuple(_text(event, k) for k in ("unit", "subject", "activity"))
            if place != previous:
                blobs.append((entry.utc + IST, " / ".join(python_slugify(p) if p else "NA" for p in place)))
            previous = place
        elif _text(event, "action") == "click" and _text(event, "target").startswith(TOOL_TARGET):
            tool = _text(event, "target")[len(TOOL_TARGET):].strip()
            if tool:
                blobs.append((entry.utc + IST, tool))
    return blobs


def users_of(session: Session) -> list[str]:
    """The names a session's visits are credited to: its typed student ids, else its id."""
    typed = session.user.get("username")
    names = []
    for part in (typed.split(",") if isinstance(typed, str) else []):
        name = part.strip()
        if name.lower().startswith("and "):
            name = name[4:].strip()
        if name and name not in names:
            names.append(name)
    return names or [session.sid]


def activity_rows(pc: Pc) -> tuple[list[str], list[list]]:
    per_user: dict[str, dict[dt.date, list[tuple[dt.datetime, int, str]]]] = {}
    seq = 0
    for session in pc.sessions.values():
        blobs = visits(session)
        for user in users_of(session):
            per_day = per_user.setdefault(user, defaultdict(list))  # every user gets a row
            for when, name in blobs:
                seq += 1
                per_day[when.date()].append((when, seq, name))
    days = sorted({day for days in per_user.values() for day in days})
    rows = []
    for user in sorted(per_user):
        per_day = {day: [(when, name) for when, _, name in sorted(blobs)] for day, blobs in per_user[user].items()}
        rows.append([user, "", *day_cells(days, per_day)])
    return header(days), rows


def _ist(when: dt.datetime | None) -> str:
    return "" if when is None else str(when + IST)


def _finish(entry: Entry) -> bool:
    action = _text(entry.event, "action")
    return action == "clicked_finished" or (action == "click" and _text(entry.event, "target") == "Select User")


@dataclass(frozen=True)
class SessionFacts:
    """A session's row, times in UTC (naive)."""

    session: str
    user_type: str
    user_count: str
    username: str
    start: dt.datetime | None
    end: dt.datetime | None
    last_entry: dt.datetime | None
    log_entries: int


def sessions(pc: Pc) -> list[SessionFacts]:
    """The PC's sessions by start (sessions without one last), then id."""
    facts = []
    for session in pc.sessions.values():
        finishes = [e.utc for e in session.entries if _finish(e)]
        user = session.user
        facts.append(SessionFacts(
            session.sid, _cell(user.get("userType")), _cell(user.get("userCount")), _cell(user.get("username")),
            session.start_utc or (session.entries[0].utc if session.entries else None),
            finishes[-1] if finishes else None, session.entries[-1].utc if session.entries else None,
            len(session.entries)))
    return sorted(facts, key=lambda f: (f.start is None, f.start or dt.datetime.min, f.session))


def session_rows(pc: Pc) -> list[list]:
    return [[f.session, f.user_type, f.user_count, f.username, _ist(f.start), _ist(f.end), _ist(f.last_entry),
             f.log_entries] for f in sessions(pc)]


def _cell(value) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# -- a school -------------------------------------------------------------------------------------
def lab_pcs(school_dir: str) -> list[tuple[str, str]]:
    """(pc, folder) of each lab PC below the school's unplatform/, by name. A name that is no lab
    PC's, or a link, is reported on stderr and left out."""
    base = os.path.join(school_dir, U.ARCHIVE_TOP)
    if os.path.islink(base):
        print("clix-derive: %s is a link: not followed, no lab PC derived" % base, file=sys.stderr)
        return []
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        try:
            U.check_pc(entry.name)
        except U.UnplatformError as exc:
            print("clix-derive: %s: %s: not a lab PC, left out" % (entry.path, exc), file=sys.stderr)
            continue
        if not entry.is_dir(follow_symlinks=False):
            print("clix-derive: %s: not a folder (a link or a file): left out" % entry.path, file=sys.stderr)
            continue
        if not _holds_install(entry.path):  # a school server's own unplatform folder shares unplatform/
            print("clix-derive: %s: no unplatform install in it, not a lab PC: left out" % entry.path, file=sys.stderr)
            continue
        found.append((entry.name, entry.path))
    return found


def _holds_install(pc_folder: str) -> bool:
    """Whether a folder below unplatform/ holds an install (clix_unplatform.layout_of's rule)."""
    try:
        installs = [e.path for e in os.scandir(pc_folder) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return False
    return any(U.layout_of(i) for i in installs)


def write_pc(pc: Pc, out_dir: str) -> list[str]:
    folder = U.pc_relpath(pc.name)
    activity = output_path(out_dir, folder, ACTIVITY_CSV)
    write_csv(activity, *activity_rows(pc))
    sessions = output_path(out_dir, folder, SESSIONS_CSV)
    write_csv(sessions, SESSIONS_HEADER, session_rows(pc))
    return [activity, sessions]


def derive_unplatform(school_dir: str, out_dir: str) -> dict:
    """Every lab PC of a collected school: {files, pcs: {pc: {sessions, log_entries, rejects}}, failed}.
    A PC that cannot be read or written is reported (failed) and the others go on."""
    files: list[str] = []
    pcs: dict[str, dict] = {}
    failed: list[str] = []
    for name, folder in lab_pcs(school_dir):
        try:
            pc = read_pc(name, folder)
            files += write_pc(pc, out_dir)
        except (OSError, LayoutError, sqlite3.Error) as exc:
            failed.append("%s: %s" % (name, exc))
            print("clix-derive: lab PC %s: FAILED: %s" % (name, exc), file=sys.stderr, flush=True)
            continue
        for path, reason in pc.rejects:
            print("clix-derive: lab PC %s: rejected %s: %s" % (name, path, reason), file=sys.stderr, flush=True)
        pcs[name] = {"sessions": len(pc.sessions), "log_entries": len(pc.entries), "rejects": len(pc.rejects)}
    return {"files": files, "pcs": pcs, "failed": failed}
