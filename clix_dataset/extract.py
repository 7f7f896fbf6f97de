"""One collected school, read into the dataset's rows.

Everything comes from the archive as files: MongoDB dumps read as BSON streams, ``auth_user`` from
the pg_dumpall text, CSVs and JSON logs as files. Visits come from clix_derive, so the dataset
holds the very visits the activity-timestamp CSVs are made of.
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import unquote

import bson
from bson.codec_options import CodecOptions

from clix_derive import unplatform
from clix_derive.activity import visits
from clix_derive.formats import name_of, slugify
from clix_derive.school import School
from clix_derive.source import ArchiveSource, AuthUser, SourceError, open_regular, parse_auth_users, read_identity
from module_utils import clix_identity, clix_layout
from module_utils.clix_unplatform import ARCHIVE_TOP

from .tables import BY_NAME

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
_CODEC = CodecOptions(tz_aware=False)
PROGRESS_FOLDER = "gstudio-exported-users-analytics-csvs"
# Every pattern is matched whole and ASCII only (clix_identity's rule); the school is clix_identity's.
PROGRESS_NAME = re.compile(r"(?P<folder>%s)-(?P<slug>.*)-(?P<stamp>[0-9]{8}-[0-9]{2}h[0-9]{2}m)\.csv"
                           % re.sub(r"\?P<\w+>", "?:", clix_identity.SCHOOL_FOLDER.pattern), re.ASCII)
ACTIVITY_COLUMN = re.compile(r"^(?P<name>.*) \[(?P<id>[0-9a-f]{24})\]$")
TOOL_FILE = re.compile(r"(?P<uid>[0-9]+)(?:-.*)?\.json", re.ASCII)
HEARTBEAT_FILE = re.compile(r"system-heartbeat-(?P<day>[0-9]{8})-[0-9]{6}\..*", re.ASCII)
# A special server id at the end of a username (gStudio's default sp100): a shared class account.
SHARED_ACCOUNT = re.compile(r"-%s[0-9]+\Z" % clix_identity.SPECIAL, re.ASCII)
AGENT = re.compile(r"^osid\.agent\.Agent:(?P<name>.*)@")
EARLIEST = dt.datetime(2015, 1, 1)
RAW_LIMIT = 2000


def ist(value: dt.datetime | None) -> str | None:
    """gStudio's naive IST wall clock as an aware timestamp."""
    return None if value is None else value.replace(tzinfo=IST).isoformat()


def utc(value: Any) -> str | None:
    return value.replace(tzinfo=dt.timezone.utc).isoformat() if isinstance(value, dt.datetime) else None


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)


class Rows:
    """Where one school's rows go: one JSON-lines spool file per table, each row completed with the
    school's keys, the collection and the record key (sha256 of the table's identity columns)."""

    def __init__(self, folder: str, keys: dict[str, Any], collection: str) -> None:
        self.folder = folder
        self.keys = keys
        self.collection = collection
        self.counts: dict[str, int] = {}
        self._files: dict[str, IO[str]] = {}
        self._seen: dict[str, set[int]] = {}

    def add(self, table: str, row: dict[str, Any]) -> None:
        full = {**self.keys, **row}
        ident = [full.get(c) for c in BY_NAME[table].identity]
        digest = hashlib.sha256(_json([table, *ident]).encode()).digest()
        # The same record twice in one collection (a progress CSV collected and recomputed alike, a
        # record repeated in a file) is written once: 8 bytes of its key remembered per record.
        seen = self._seen.setdefault(table, set())
        short = int.from_bytes(digest[:8], "big")
        if short in seen:
            return
        seen.add(short)
        full["record_key"] = digest.hex()
        full["collection"] = self.collection
        f = self._files.get(table)
        if f is None:
            path = os.path.join(self.folder, f"{table}.jsonl")
            f = self._files[table] = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        f.write(_json(full) + "\n")
        self.counts[table] = self.counts.get(table, 0) + 1

    def reject(self, table: str, source: str, position: str, reason: str, raw: Any = "") -> None:
        text = raw if isinstance(raw, str) else _json(raw) if raw is not None else ""
        self.add("rejects", {"table_name": table, "source_file": source, "position": position, "reason": reason,
                             "raw": text[:RAW_LIMIT]})

    def path(self, table: str) -> str | None:
        return os.path.join(self.folder, f"{table}.jsonl") if table in self._files else None

    def close(self) -> None:
        for f in self._files.values():
            f.close()


def district(code: str) -> str | None:
    if not code.isdigit():
        return None
    code7 = code[1:] if len(code) == 8 and code.startswith("0") else code
    return code7[1:3]


def bson_docs(path: str, rows: Rows, table: str, rel: str) -> Iterator[dict]:
    """The documents of a dump file, in natural order; a broken stream ends in one reject."""
    if not os.path.exists(path):
        return
    opener = gzip.open if path.endswith(".gz") else open
    n = 0
    try:
        with opener(path, "rb") as f:
            for doc in bson.decode_file_iter(f, codec_options=_CODEC):
                yield doc
                n += 1
    except (bson.errors.BSONError, OSError, EOFError) as exc:
        rows.reject(table, rel, f"document {n}", f"unreadable BSON after {n} documents: {exc}")


def dump_file(gstudio: str, db: str, collection: str) -> str:
    for name in (f"{collection}.bson", f"{collection}.bson.gz"):
        path = os.path.join(gstudio, "db", db, name)
        if os.path.exists(path):
            return path
    return os.path.join(gstudio, "db", db, f"{collection}.bson")


class SchoolReader:
    """One collection: ``<root>/<YYYY>/<state>/<code>-<id>/``, read into ``rows``."""

    def __init__(self, root: str, path: str, parsed: dict, rows: Rows, workdir: str) -> None:
        self.root = root
        self.path = path
        self.parsed = parsed
        self.rows = rows
        self.workdir = workdir
        self.gstudio = os.path.join(path, "gstudio")
        self.collected_at: dt.datetime | None = None
        self.users_by_name: dict[str, int] = {}

    def rel(self, path: str) -> str:
        return os.path.relpath(path, self.root)

    def read(self) -> None:
        self.collection_row()
        # A school with lab PCs and no server: no gStudio record is missing, none is looked for.
        lab_only = not os.path.lexists(self.gstudio) and os.path.isdir(os.path.join(self.path, ARCHIVE_TOP))
        self.school_row(lab_only)
        if lab_only:
            self.unplatform_rows()
            return
        users = self.user_rows()
        self.users_by_name = {u.username: u.id for u in users}
        self.tool_rows()
        self.progress_rows()
        self.assessment_rows()
        self.log_entry_rows()
        self.server_day_rows()
        self.unplatform_rows()
        self.gstudio_rows(users)

    # -- reference -----------------------------------------------------------------------------
    def collection_row(self) -> None:
        manifest_path = os.path.join(self.path, clix_layout.MANIFEST)
        try:
            with open_regular(manifest_path) as f:
                data = f.read()
            manifest = json.loads(data)
        except (OSError, ValueError, SourceError) as exc:
            self.rows.reject("collections", self.rel(manifest_path), "", f"no readable manifest: {exc}")
            return
        when = manifest.get("last_complete") or (manifest.get("run") or {}).get("ended")
        try:
            stamp = dt.datetime.fromisoformat(when) if when else None
        except ValueError:
            stamp = None
        if stamp is not None and stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.timezone.utc)
        self.collected_at = stamp
        items = [{"name": name, "status": item.get("status"), "collected_at": item.get("collected_at"),
                  "reason": item.get("reason")} for name, item in sorted((manifest.get("items") or {}).items())]
        totals = manifest.get("totals") or {}
        self.manifest_school = manifest.get("school") or {}
        self.rows.add("collections", {
            "path": self.rel(self.path), "collected_at": stamp.isoformat() if stamp else None,
            "manifest_sha256": hashlib.sha256(data).hexdigest(), "files": totals.get("files"),
            "bytes": totals.get("bytes"), "items": items})

    def school_row(self, lab_only: bool = False) -> None:
        settings = os.path.join(self.gstudio, "server_settings.py")
        try:
            identity = {} if lab_only else read_identity(settings)
        except SourceError as exc:
            identity = {}
            self.rows.reject("schools", self.rel(settings), "", str(exc))
        code, sid = self.parsed["school_code"], self.parsed["server_id"]
        self.rows.add("schools", {
            "district": district(code), "school_name": identity.get("school_name"),
            "inventory_name": getattr(self, "manifest_school", {}).get("school_name"),
            "settings_server_id": identity.get("server_id"), "settings_school_code": identity.get("school_code"),
            "settings_match": identity.get("server_id") == sid and clix_identity.same_code(identity.get("school_code"), code)})

    def user_rows(self) -> list[AuthUser]:
        dump = os.path.join(self.gstudio, "postgres-dump", "pg_dump_all.sql")
        dump = dump if os.path.exists(dump) or not os.path.exists(dump + ".gz") else dump + ".gz"
        try:
            opener = gzip.open if dump.endswith(".gz") else open
            with opener(dump, "rb") as f:
                users = parse_auth_users(line.decode("utf-8", "replace") for line in f)
        except (OSError, SourceError) as exc:
            self.rows.reject("users", self.rel(dump), "", f"no auth_user rows: {exc}")
            return []
        sid = self.parsed["server_id"]
        for u in users:
            joined, last = _pg_time(u.date_joined), _pg_time(u.last_login)
            self.rows.add("users", {
                "user_id": u.id, "username": u.username, "date_joined": joined, "last_login": last,
                "never_logged_in": last is None or u.last_login.strip() == u.date_joined.strip(),
                "shared_account": bool(SHARED_ACCOUNT.search(u.username)),
                "username_matches_server": u.username.endswith(f"-{sid}")})
        return users

    # -- files ---------------------------------------------------------------------------------
    def tool_rows(self) -> None:
        base = os.path.join(self.gstudio, "gstudio_tools_logs")
        for folder, dirs, files in os.walk(base):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                if name.startswith(".") or not name.endswith(".json") or os.path.islink(path):
                    continue
                self._tool_file(path, os.path.relpath(path, base))

    def _tool_file(self, path: str, source_name: str) -> None:
        rel = self.rel(path)
        m = TOOL_FILE.fullmatch(os.path.basename(path))
        if not m:
            self.rows.reject("tool_events", rel, "", "file name is not <user id>-<tool>.json")
            return
        try:
            with open_regular(path) as f:
                records = json.load(f)
        except (OSError, ValueError, SourceError) as exc:
            self.rows.reject("tool_events", rel, "", f"not JSON: {exc}", _head(path))
            return
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list):
            self.rows.reject("tool_events", rel, "", "not a JSON list of records", records)
            return
        uid = int(m.group("uid"))
        tool = source_name.split(os.sep)[0] if os.sep in source_name else ""
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                self.rows.reject("tool_events", rel, f"record {i}", "record is not a JSON object", rec)
                continue
            self.rows.add("tool_events", self._tool_event(rec, uid, tool, source_name, i))

    def _tool_event(self, rec: dict, uid: int, tool: str, source_name: str, index: int) -> dict:
        event = _tool_time(_first(rec, "created_at", "createdAt", "timestamp"))
        start = _tool_time(_first(rec, "start_time", "startTime", "started_at"))
        end = _tool_time(_first(rec, "end_time", "endTime", "ended_at"))
        times = [t for t in (event, start, end) if t is not None]
        latest = (self.collected_at.astimezone(IST).replace(tzinfo=None) + dt.timedelta(days=1)
                  if self.collected_at else None)
        impossible = any(t < EARLIEST or (latest is not None and t > latest) for t in times) or \
            (start is not None and end is not None and end < start)
        seconds = (end - start).total_seconds() if start and end and end >= start else None
        session = _first(rec, "session_id", "sessionId", "session")
        return {"user_id": uid, "tool": tool, "app_name": _first(rec, "appName", "app_name"),
                "session_id": None if session is None else str(session),
                "event_type": _text(_first(rec, "event_type", "eventType")),
                "event_at": ist(event), "started_at": ist(start), "ended_at": ist(end), "seconds": seconds,
                "missing_time": not times, "impossible_time": impossible, "anonymous": uid == 0,
                "source_name": source_name, "record_index": index, "raw": rec}

    def progress_rows(self) -> None:
        p = self.parsed
        derived = clix_layout.derived_root(self.root, p["year"], p["state"], p["folder"])
        for origin, base in (("collected", self.gstudio), ("derived", derived)):
            folder = os.path.join(base, PROGRESS_FOLDER)
            try:
                names = sorted(n for n in os.listdir(folder) if n.endswith(".csv") and not n.startswith("."))
            except OSError:
                continue
            for name in names:
                path = os.path.join(folder, name)
                if not os.path.islink(path) and os.path.isfile(path):
                    self._progress_file(path, name, origin)

    def _progress_file(self, path: str, name: str, origin: str) -> None:
        rel = self.rel(path)
        m = PROGRESS_NAME.fullmatch(name)
        if not m:
            self.rows.reject("progress", rel, "", "file name is not <code>-<server id>-<unit>-<%Y%m%d-%Hh%Mm>.csv")
            return
        snapshot = dt.datetime.strptime(m.group("stamp"), "%Y%m%d-%Hh%Mm")
        try:
            with io.TextIOWrapper(open_regular(path), encoding="utf-8", newline="") as f:
                reader = csv.reader(f)
                header = next(reader, None)
                if header is None:
                    self.rows.reject("progress", rel, "", "empty file")
                    return
                for line, cells in enumerate(reader, 2):
                    self._progress_row(rel, name, origin, m.group("slug"), snapshot, header, cells, line)
        except (OSError, UnicodeDecodeError, csv.Error, SourceError) as exc:
            self.rows.reject("progress", rel, "", f"unreadable CSV: {exc}", _head(path))

    def _progress_row(self, rel: str, name: str, origin: str, slug: str, snapshot: dt.datetime,
                      header: list[str], cells: list[str], line: int) -> None:
        if len(cells) != len(header):
            self.rows.reject("progress", rel, f"line {line}", f"{len(cells)} cells under {len(header)} headers", cells)
            return
        row = dict(zip(header, cells))
        username = row.get("username", "")
        uid = _int(row.get("user_id"))
        if uid is None:
            uid = self.users_by_name.get(username)
        counts = []
        for head, cell in row.items():
            m = ACTIVITY_COLUMN.match(head)
            if m:
                counts.append({"activity": m.group("name"), "activity_id": m.group("id"), "visits": _int(cell)})
        self.rows.add("progress", {
            "user_id": uid, "username": username, "unit_slug": slug, "snapshot_at": ist(snapshot),
            "origin": origin, "source_name": name, "source_file": rel,
            "module_names": _py_list(row.get("module_name")), "total_activities": _int(row.get("total_activities")),
            "activities_visited": _int(row.get("activities_visited")),
            "total_lessons": _int(row.get("total_lessons")), "lessons_visited": _int(row.get("lessons_visited")),
            "activity_counts": counts, "cells": row})

    # -- qbank ---------------------------------------------------------------------------------
    def assessment_rows(self) -> None:
        path = dump_file(self.gstudio, "assessment", "Item")
        items = {str(d.get("_id")): _text((d.get("displayName") or {}).get("text"))
                 for d in bson_docs(path, self.rows, "assessment_responses", self.rel(path))}
        path = dump_file(self.gstudio, "assessment", "AssessmentTaken")
        takens = {str(d.get("_id")): d for d in bson_docs(path, self.rows, "assessment_responses", self.rel(path))}
        path = dump_file(self.gstudio, "assessment", "AssessmentSection")
        for n, section in enumerate(bson_docs(path, self.rows, "assessment_responses", self.rel(path))):
            taken = takens.get(str(section.get("assessmentTakenId")))
            if taken is None:
                self.rows.reject("assessment_responses", self.rel(path), f"document {n}",
                                 "section of an AssessmentTaken that is not in the dump", section)
                continue
            username = _agent(taken.get("takingAgentId"))
            for question in section.get("questions") or []:
                self._attempts(section, taken, username, question, items)

    def _attempts(self, section: dict, taken: dict, username: str | None, question: dict,
                  items: dict[str, str | None]) -> None:
        responses = [r for r in question.get("responses") or [] if isinstance(r, dict)]
        # dlkit inserts each new response at the front; an UNANSWERED (0) placeholder is no attempt.
        attempts = [r for r in reversed(responses) if not (r.get("missingResponse") == 0 and
                                                            r.get("submissionTime") is None)]
        item_id = question.get("itemId")
        item_key = _object_id_of(item_id)
        for number, response in enumerate(attempts, 1):
            choices = response.get("choiceIds")
            correct = response.get("isCorrect")
            self.rows.add("assessment_responses", {
                "user_id": self.users_by_name.get(username or ""), "username": username,
                "assessment_taken_id": str(taken.get("_id")), "assessment_offered_id": taken.get("assessmentOfferedId"),
                "section_id": str(section.get("_id")), "question_key": str(question.get("_id")),
                "item_id": item_id, "item_name": items.get(item_key or ""), "attempt": number,
                "submitted_at": utc(response.get("submissionTime")),
                "choice_ids": [str(c) for c in choices] if isinstance(choices, list) else None,
                "answer": response, "is_correct": correct if isinstance(correct, bool) else None,
                "cleared": "missingResponse" in response})

    def log_entry_rows(self) -> None:
        path = dump_file(self.gstudio, "logging", "LogEntry")
        for doc in bson_docs(path, self.rows, "qbank_log_entries", self.rel(path)):
            username = _agent(doc.get("agentId"))
            text = doc.get("text")
            self.rows.add("qbank_log_entries", {
                "user_id": self.users_by_name.get(username or ""), "username": username,
                "log_entry_id": str(doc.get("_id")), "logged_at": utc(doc.get("timestamp")),
                "priority": _text(doc.get("priority")), "genus_type": _text(doc.get("genusTypeId")),
                "text": _text(text.get("text") if isinstance(text, dict) else text), "raw": doc})

    # -- lab PCs (unplatform) ------------------------------------------------------------------
    def unplatform_rows(self) -> None:
        """Each lab PC's sessions and visits, by clix_derive's rules (clix_derive/unplatform.py)."""
        for name, folder in unplatform.lab_pcs(self.path):
            pc = unplatform.read_pc(name, folder)
            for path, reason in pc.rejects:
                self.rows.reject("unplatform_sessions", self.rel(path), "", reason)
            for f in unplatform.sessions(pc):
                self.rows.add("unplatform_sessions", {
                    "pc": name, "session_id": f.session, "user_type": f.user_type or None,
                    "user_count": f.user_count or None, "username": f.username or None, "started_at": utc(f.start),
                    "ended_at": utc(f.end), "last_entry_at": utc(f.last_entry), "log_entries": f.log_entries})
            for session in pc.sessions.values():
                blobs = unplatform.visits(session)
                for username in unplatform.users_of(session):
                    for when, label in blobs:
                        self.rows.add("unplatform_visits", {
                            "pc": name, "session_id": session.sid, "username": username,
                            "visited_at": ist(when), "name": label, "day": when.date().isoformat()})

    # -- gStudio's MongoDB ---------------------------------------------------------------------
    def server_day_rows(self) -> None:
        days: dict[dt.date, list] = {}
        path = dump_file(self.gstudio, "gstudio-mongodb", "Benchmarks")
        for doc in bson_docs(path, self.rows, "server_days", self.rel(path)):
            when = doc.get("last_update")
            if isinstance(when, dt.datetime):
                entry = days.setdefault(when.date(), [0, set()])
                entry[0] += 1
                entry[1].add(doc.get("user"))
        for day, (events, users) in sorted(days.items()):
            self.rows.add("server_days", {"day": day.isoformat(), "source": "benchmarks", "events": events,
                                          "users": len(users)})
        beats: dict[str, int] = {}
        try:
            names = os.listdir(os.path.join(self.gstudio, "system-heartbeat"))
        except OSError:
            names = []
        for name in names:
            m = HEARTBEAT_FILE.fullmatch(name)
            if m and name.endswith(".log"):
                beats[m.group("day")] = beats.get(m.group("day"), 0) + 1
        for day, count in sorted(beats.items()):
            try:
                iso = dt.datetime.strptime(day, "%Y%m%d").date().isoformat()
            except ValueError:
                continue
            self.rows.add("server_days", {"day": iso, "source": "heartbeat", "events": count, "users": 0})

    def gstudio_rows(self, users: list[AuthUser]) -> None:
        try:
            school = School(ArchiveSource(self.path), workdir=self.workdir)
        except (SourceError, bson.errors.BSONError, OSError, EOFError) as exc:
            self.rows.reject("activity_visits", self.rel(os.path.join(self.gstudio, "db", "gstudio-mongodb")), "",
                             f"gStudio's dump cannot be read, no visits or units: {exc}")
            return
        try:
            self.unit_rows(school)
            self.visit_rows(school)
        finally:
            school.close()

    def unit_rows(self, school: School) -> None:
        gst = school.gst_id("announced_unit")
        module_gst = school.gst_id("Module")
        modules = [m for m in school.of_type("GSystem") if module_gst in (m.get("member_of") or [])]
        for unit in school.of_type("Group"):
            if gst is None or gst not in (unit.get("member_of") or []):
                continue
            names = [m.get("name") for m in modules if unit["_id"] in (m.get("collection_set") or [])]
            self.rows.add("units", {"unit_id": str(unit["_id"]), "name": unit.get("name"),
                                    "altnames": unit.get("altnames"), "slug": slugify(unit.get("name") or ""),
                                    "module_names": names})

    def visit_rows(self, school: School) -> None:
        usernames = [r[0] for r in school.spool.execute("SELECT DISTINCT user FROM b WHERE visit ORDER BY user")]
        for username in usernames:
            uid = self.users_by_name.get(username) if isinstance(username, str) else None
            for v in visits(school, uid, school.user_benchmarks(username)):
                self.rows.add("activity_visits", self._visit(v, username, uid))

    def _visit(self, v, username: str, uid: int | None) -> dict:
        parts = v.bench.url.split("/")
        unit, lesson, activity = v.nodes or (None, None, None)
        seconds = (v.out.ts - v.bench.ts).total_seconds() if v.out is not None else None
        return {"user_id": uid, "username": username, "session_key": v.bench.session, "url": v.bench.url,
                "unit_id": parts[1] if v.nodes else None,
                "unit_name": name_of(unit, prefer_altnames=True) or None,
                "lesson_id": parts[4] if v.nodes else None,
                "lesson_name": name_of(lesson, prefer_altnames=False) or None,
                "activity_id": parts[5] if v.nodes else None,
                "activity_name": name_of(activity, prefer_altnames=True) or None,
                "language": v.bench.locale or "en", "started_at": ist(v.bench.ts),
                "ended_at": ist(v.out.ts) if v.out is not None else None, "seconds": seconds,
                "out_action": v.out.name if v.out is not None else None,
                "buddies": None if v.buddies is None else [a.get("name") for a in v.buddies],
                "day": v.bench.ts.date().isoformat()}


def _first(rec: dict, *keys: str) -> Any:
    return next((rec[k] for k in keys if rec.get(k) not in (None, "")), None)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        try:
            f = float(str(value).strip())
        except (TypeError, ValueError):
            return None
        return int(f) if f.is_integer() else None


def _py_list(value: str | None) -> list[str] | None:
    """``"[u'Sound', u'Light']"`` (a Python 2 repr in a CSV cell) as a real list, never evaluated."""
    if value is None or not value.strip():
        return None
    text = re.sub(r"(?<![\w'\"])u(['\"])", r"\1", value.strip())
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return [value]
    if isinstance(parsed, (list, tuple)):
        return [str(x) for x in parsed]
    return [str(parsed)]


def _pg_time(value: str) -> str | None:
    """A timestamptz as pg_dump prints it (``2018-06-04 09:30:00+05:30``), or None for ``\\N``."""
    if not value or value == "\\N":
        return None
    text = value.strip()
    if re.search(r"[+-]\d\d$", text):
        text += ":00"
    try:
        return dt.datetime.fromisoformat(text).isoformat()
    except ValueError:
        return None


TOOL_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f",
                "%d/%m/%Y %H:%M:%S")


def _tool_time(value: Any) -> dt.datetime | None:
    """A tool log time as naive IST: gStudio's ``%Y-%m-%d %H:%M:%S`` (not zero-padded), ISO, or epoch
    milliseconds/seconds from the browser; None when missing or unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return dt.datetime.fromtimestamp(seconds, IST).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip().replace("Z", "+00:00")
    for fmt in TOOL_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(IST).replace(tzinfo=None) if parsed.tzinfo else parsed


def _agent(agent_id: Any) -> str | None:
    """``osid.agent.Agent%3A<username>%40MIT-ODL`` -> ``<username>``."""
    if not isinstance(agent_id, str):
        return None
    m = AGENT.match(unquote(agent_id))
    return m.group("name") if m else unquote(agent_id)


def _object_id_of(osid_id: Any) -> str | None:
    """``assessment.Item%3A<hex>%40ODL.MIT.EDU`` -> ``<hex>``."""
    if not isinstance(osid_id, str):
        return None
    m = re.search(r"[0-9a-f]{24}", unquote(osid_id))
    return m.group(0) if m else None


def _head(path: str) -> str:
    try:
        with open_regular(path) as f:
            return f.read(RAW_LIMIT).decode("utf-8", "replace")
    except (OSError, SourceError):
        return ""
