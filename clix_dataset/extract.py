"""One collected school, read into the dataset's rows.

Everything comes from the archive as files: MongoDB dumps read as BSON streams, ``auth_user`` from
the pg_dumpall text, CSVs and JSON logs as files. Visits come from clix_derive, so the dataset
holds the very visits the activity-timestamp CSVs are made of.
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import IO, Any
from urllib.parse import unquote

import bson
from ansible.module_utils import clix_identity, clix_layout
from ansible.module_utils.clix_unplatform import ARCHIVE_TOP
from bson.codec_options import CodecOptions

from clix_derive import mit, unplatform
from clix_derive.activity import visits
from clix_derive.formats import name_of, slugify
from clix_derive.school import School
from clix_derive.source import (
    ArchiveSource,
    AuthUser,
    SourceError,
    open_collected,
    open_dump,
    parse_auth_users,
    read_identity,
)

from . import tools
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
# Progress CSV headers holding text (names, ids, lists): every other cell is a number or empty.
PROGRESS_TEXT = {"server_id", "school_name", "school_code", "module_name", "unit_name", "username", "user_id",
                 "first_name", "last_name", "roll_no", "grade", "enrollment_status", "buddy_userids",
                 "buddy_usernames"}
RAW_LIMIT = 2000


def ist(value: dt.datetime | None) -> str | None:
    """gStudio's naive IST wall clock as an aware timestamp."""
    return None if value is None else value.replace(tzinfo=IST).isoformat()


def utc(value: Any) -> str | None:
    return value.replace(tzinfo=dt.timezone.utc).isoformat() if isinstance(value, dt.datetime) else None


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)


def person_key(*parts: Any) -> str:
    """A person's key in the restricted tier: sha256 of what identifies the person (never keyed; the
    release replaces it with an HMAC, release.py)."""
    return hashlib.sha256(_json(["clix-person", *parts]).encode()).hexdigest()[:32]


class Rows:
    """Where one collection's rows go: one JSON-lines spool file per table, each row completed with the
    school's keys, the collection, its time and the record key (sha256 of the table, the school and
    the table's identity columns: unique across the archive, the same in every collection)."""

    def __init__(self, folder: str, keys: dict[str, Any], collection: str, collected_at: str | None) -> None:
        self.folder = folder
        self.keys = keys
        self.collection = collection
        self.collected_at = collected_at
        self.counts: dict[str, int] = {}
        self._files: dict[str, IO[str]] = {}
        self._seen: dict[str, set[int]] = {}

    def add(self, table: str, row: dict[str, Any]) -> None:
        full = {**self.keys, **row}
        ident = [full.get(c) for c in BY_NAME[table].identity]
        if table.startswith("unplatform_"):
            ident.insert(0, full.get("pc"))
        digest = hashlib.sha256(_json([table, full["school_code"], full["server_id"], *ident]).encode()).digest()
        # The same record twice in one collection (a progress CSV collected and recomputed alike, a
        # record repeated in a file) is written once: 8 bytes of its key remembered per record.
        seen = self._seen.setdefault(table, set())
        short = int.from_bytes(digest[:8], "big")
        if short in seen:
            return
        seen.add(short)
        full["record_key"] = digest.hex()
        full["collection"] = self.collection
        full["collected_at"] = self.collected_at
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


class People:
    """The user keys of one collection's gStudio users: an account is (server, username, date_joined),
    so a user id or username that a reinstalled server gives to someone else is another person."""

    def __init__(self, school_code: str, server_id: str) -> None:
        self.school = (school_code, server_id)
        self.by_name: dict[str, tuple[int, str]] = {}
        self.by_id: dict[int, str] = {}

    def add(self, user: AuthUser) -> str:
        key = person_key("gstudio", *self.school, user.username, _pg_time(user.date_joined))
        self.by_name.setdefault(user.username, (user.id, key))
        self.by_id.setdefault(user.id, key)
        return key

    def id_of(self, username: str | None) -> int | None:
        found = self.by_name.get(username or "")
        return found[0] if found else None

    def key_of(self, username: str | None) -> str | None:
        """A username's key; a name without an auth_user row still gets one (its own)."""
        if username is None:
            return None
        found = self.by_name.get(username)
        return found[1] if found else person_key("gstudio", *self.school, username, None)

    def key_of_id(self, user_id: int | None) -> str | None:
        if user_id is None or user_id == 0:
            return None
        return self.by_id.get(user_id) or person_key("gstudio-user-id", *self.school, user_id)


def district(code: str) -> str | None:
    if not code.isdigit():
        return None
    code7 = code[1:] if len(code) == 8 and code.startswith("0") else code
    return code7[1:3]


def bson_docs(path: str, rows: Rows, table: str, rel: str) -> Iterator[dict]:
    """The documents of a dump file, in natural order; a broken stream ends in one reject."""
    if not os.path.lexists(path):
        return
    n = 0
    try:
        with open_dump(path) as f:
            for doc in bson.decode_file_iter(f, codec_options=_CODEC):
                yield doc
                n += 1
    except (bson.errors.BSONError, OSError, EOFError, SourceError) as exc:
        rows.reject(table, rel, f"document {n}", f"unreadable BSON after {n} documents: {exc}")


def dump_file(school: str, db: str, collection: str) -> str:
    folder = clix_layout.mongo_dump_dir(school, db)
    for name in (f"{collection}.bson", f"{collection}.bson.gz"):
        path = os.path.join(folder, name)
        if os.path.lexists(path):
            return path
    return os.path.join(folder, f"{collection}.bson")


def read_manifest(path: str) -> tuple[bytes | None, dict, dt.datetime | None, str | None]:
    """(bytes, parsed, collected_at, error) of a school folder's MANIFEST.json."""
    try:
        with open_collected(os.path.join(path, clix_layout.MANIFEST)) as f:
            data = f.read()
        manifest = json.loads(data)
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError, SourceError) as exc:
        return None, {}, None, f"no readable manifest: {exc}"
    when = manifest.get("last_complete") or (manifest.get("run") or {}).get("ended")
    try:
        stamp = dt.datetime.fromisoformat(when) if isinstance(when, str) else None
    except ValueError:
        stamp = None
    if stamp is not None and stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return data, manifest, stamp, None


class SchoolReader:
    """One collection: ``<root>/<YYYY>/<state>/<code>-<id>/``, read into ``rows``."""

    def __init__(self, root: str, path: str, parsed: dict, rows: Rows, workdir: str,
                 manifest: tuple[bytes | None, dict, dt.datetime | None, str | None]) -> None:
        self.root = root
        self.path = path
        self.parsed = parsed
        self.rows = rows
        self.workdir = workdir
        self.gstudio = os.path.join(path, "gstudio")
        self.manifest = manifest
        self.collected_at = manifest[2]
        self.people = People(parsed["school_code"], parsed["server_id"])

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
        users = self.auth_users()
        school = self.open_school()
        try:
            self.user_rows(users, school)
            self.tool_rows()
            self.progress_rows()
            self.assessment_rows(school)
            self.log_entry_rows()
            self.server_day_rows()
            self.unplatform_rows()
            if school is not None:
                self.unit_rows(school)
                self.visit_rows(school)
        finally:
            if school is not None:
                school.close()

    # -- reference -----------------------------------------------------------------------------
    def collection_row(self) -> None:
        data, manifest, _, error = self.manifest
        if error is not None:
            self.rows.reject("collections", self.rel(os.path.join(self.path, clix_layout.MANIFEST)), "", error)
            return
        items = [{"name": name, "status": _text(item.get("status")), "collected_at": _text(item.get("collected_at")),
                  "reason": _text(item.get("reason"))}
                 for name, item in sorted((manifest.get("items") or {}).items()) if isinstance(item, dict)]
        totals = manifest.get("totals") or {}
        self.rows.add("collections", {
            "path": self.rel(self.path), "manifest_sha256": hashlib.sha256(data or b"").hexdigest(),
            "files": _int(totals.get("files")), "bytes": _int(totals.get("bytes")),
            "item_status": {i["name"]: i["status"] for i in items}, "items": items})

    def school_row(self, lab_only: bool = False) -> None:
        settings = os.path.join(self.gstudio, "server_settings.py")
        try:
            identity = {} if lab_only else read_identity(settings)
        except SourceError as exc:
            identity = {}
            self.rows.reject("schools", self.rel(settings), "", str(exc))
        code, sid = self.parsed["school_code"], self.parsed["server_id"]
        school = self.manifest[1].get("school") or {}
        self.rows.add("schools", {
            "district": district(code), "school_name": identity.get("school_name"),
            "inventory_name": _text(school.get("school_name")) if isinstance(school, dict) else None,
            "settings_server_id": identity.get("server_id"), "settings_school_code": identity.get("school_code"),
            "settings_match": identity.get("server_id") == sid and clix_identity.same_code(identity.get("school_code"), code)})

    def auth_users(self) -> list[AuthUser]:
        dump = clix_layout.pg_dump_path(self.path)
        dump = dump if os.path.lexists(dump) or not os.path.lexists(dump + ".gz") else dump + ".gz"
        try:
            with open_dump(dump) as f:
                users = parse_auth_users(line.decode("utf-8", "replace") for line in f)
        except (OSError, SourceError) as exc:
            self.rows.reject("users", self.rel(dump), "", f"no auth_user rows: {exc}")
            return []
        for u in users:
            self.people.add(u)
        return users

    def user_rows(self, users: list[AuthUser], school: School | None) -> None:
        sid = self.parsed["server_id"]
        for u in users:
            joined, last = _pg_time(u.date_joined), _pg_time(u.last_login)
            authors = school.authors_by_user_id.get(u.id, []) if school is not None else []
            agency = _text(authors[0].get("agency_type")) if authors else None
            staff, superuser = u.cell("is_staff") == "t", u.cell("is_superuser") == "t"
            self.rows.add("users", {
                "user_key": self.people.key_of(u.username), "user_id": u.id, "username": u.username,
                "date_joined": joined, "last_login": last,
                "never_logged_in": last is None or u.last_login.strip() == u.date_joined.strip(),
                "shared_account": bool(SHARED_ACCOUNT.search(u.username)),
                "username_matches_server": u.username.endswith(f"-{sid}"),
                "is_staff": staff, "is_superuser": superuser, "agency_type": agency,
                "mit_listed": len(u.fields) > 10 and u.fields[2] != u.fields[10].strip(),
                "role": role(superuser, staff, agency)})

    def open_school(self) -> School | None:
        try:
            return School(ArchiveSource(self.path), workdir=self.workdir)
        except (SourceError, bson.errors.BSONError, OSError, EOFError) as exc:
            self.rows.reject("activity_visits", self.rel(clix_layout.mongo_dump_dir(self.path)), "",
                             f"gStudio's dump cannot be read, no visits or units: {exc}")
            return None

    # -- files ---------------------------------------------------------------------------------
    def tool_rows(self) -> None:
        base = os.path.join(self.gstudio, "gstudio_tools_logs")
        for folder, dirs, files in os.walk(base):
            dirs.sort()
            names = sorted(n for n in files if not n.startswith(".") and n.endswith(".json")
                           and not os.path.islink(os.path.join(folder, n)))
            # The MIT script reads, per folder and user, <id>.json, else the first <id>-*.json.
            chosen: dict[str, str] = {}
            for name in names:
                m = TOOL_FILE.fullmatch(name)
                if m and (name == f"{m.group('uid')}.json" or m.group("uid") not in chosen):
                    chosen[m.group("uid")] = name
            for name in names:
                path = os.path.join(folder, name)
                self._tool_file(path, os.path.relpath(path, base), name in chosen.values())

    def _tool_file(self, path: str, source_name: str, mit_file: bool) -> None:
        rel = self.rel(path)
        m = TOOL_FILE.fullmatch(os.path.basename(path))
        if not m:
            self.rows.reject("tool_events", rel, "", "file name is not <user id>-<tool>.json")
            return
        try:
            with open_collected(path) as f:
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
        name = os.path.basename(path)
        family = tools.family(name if "-" in name else f"{uid}-{tool}.json")
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                self.rows.reject("tool_events", rel, f"record {i}", "record is not a JSON object", rec)
                continue
            self.rows.add("tool_events", self._tool_event(rec, uid, tool, family, source_name, i, mit_file))

    def _tool_event(self, rec: dict, uid: int, tool: str, family: str, source_name: str, index: int,
                    mit_file: bool) -> dict:
        got = tools.read(rec, family)
        event, start, end = got["event"], got["start"], got["end"]
        times = [t for t in (event, start, end) if t is not None]
        latest = (self.collected_at.astimezone(IST).replace(tzinfo=None) + dt.timedelta(days=1)
                  if self.collected_at else None)
        impossible = any(t < EARLIEST or (latest is not None and t > latest) for t in times) or \
            (start is not None and end is not None and end < start)
        seconds = (end - start).total_seconds() if start and end and end >= start else None
        _, mit_at = tools.mit_time(rec)
        return {"user_key": self.people.key_of_id(uid), "user_id": uid, "tool": tool, "tool_family": family,
                "app_name": _text(_first(rec, "appName", "app_name")), "language": got["language"],
                "session_id": got["session"], "event_type": got["event_type"],
                "event_at": ist(event), "started_at": ist(start), "ended_at": ist(end), "seconds": seconds,
                "time_spent_seconds": got["spent"], "current_mission": got["mission"],
                "logged_by_user_key": self.people.key_of_id(got["user_id"]), "logged_by_user_id": got["user_id"],
                "buddy_keys": [self.people.key_of_id(b) for b in got["buddy_ids"]],
                "missing_time": not got["any_time"], "impossible_time": impossible, "anonymous": uid == 0,
                "source_name": source_name, "record_index": index,
                "record_sha256": hashlib.sha256(_json(rec).encode()).hexdigest(),
                "mit_file": mit_file, "mit_at": ist(mit_at), "mit_label": tools.mit_label(rec), "raw": rec}

    def progress_rows(self) -> None:
        p = self.parsed
        derived = clix_layout.derived_root(self.root, p["year"], p["state"], p["folder"])
        for origin, base in (("collected", self.gstudio), ("derived", derived)):
            folder = os.path.join(base, PROGRESS_FOLDER)
            try:
                names = sorted(n for n in os.listdir(folder) if n.endswith(".csv") and not n.startswith("."))
            except OSError:
                continue
            if origin == "derived":  # each recomputation writes a new set: only the latest one counts
                names = latest_run(names)
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
            with io.TextIOWrapper(open_collected(path), encoding="utf-8", newline="") as f:
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
            uid = self.people.id_of(username)
        counts, numbers = [], {}
        for head, cell in row.items():
            m = ACTIVITY_COLUMN.match(head)
            if m:
                counts.append({"activity": m.group("name"), "activity_id": m.group("id"), "visits": _int(cell)})
            elif head not in PROGRESS_TEXT:
                number = _float(cell)
                if number is not None:
                    numbers[head] = number
        buddies = [_int(b) for b in _py_list(row.get("buddy_userids")) or []]
        self.rows.add("progress", {
            "user_key": self.people.key_of(username), "user_id": uid, "username": username,
            "cell_user_id": row.get("user_id"), "first_name": row.get("first_name"), "last_name": row.get("last_name"),
            "roll_no": row.get("roll_no"), "grade": row.get("grade"), "enrollment_status": row.get("enrollment_status"),
            "buddy_keys": [self.people.key_of_id(b) for b in buddies if b is not None],
            "unit_slug": slug, "snapshot_at": ist(snapshot), "origin": origin, "source_name": name,
            "module_names": _py_list(row.get("module_name")), "total_activities": _int(row.get("total_activities")),
            "activities_visited": _int(row.get("activities_visited")),
            "total_lessons": _int(row.get("total_lessons")), "lessons_visited": _int(row.get("lessons_visited")),
            "activity_counts": counts, "counts": numbers, "cells": row})

    # -- qbank ---------------------------------------------------------------------------------
    def qbank(self, db: str, collection: str, table: str) -> Iterator[dict]:
        path = dump_file(self.path, db, collection)
        return bson_docs(path, self.rows, table, self.rel(path))

    def assessment_rows(self, school: School | None) -> None:
        items: dict[str, str | None] = {}
        for doc in self.qbank("assessment", "Item", "assessment_items"):
            row = item_row(doc)
            items[row["item_id"]] = row["name"]
            self.rows.add("assessment_items", row)
        parts = {_object_id_of(str(d.get("_id"))) or "": _display(d)
                 for d in self.qbank("assessment_authoring", "AssessmentPart", "assessment_responses")}
        places = PagePlaces(school)
        for doc in self.qbank("assessment", "AssessmentOffered", "assessment_offerings"):
            offered = _object_id_of(str(doc.get("_id"))) or ""
            self.rows.add("assessment_offerings", {
                "offered_id": offered, "name": _display(doc), "assessment_id": _object_id_of(doc.get("assessmentId")),
                "bank_ids": _ids(doc.get("assignedBankIds")), **places.of(offered)})
        takens = {str(d.get("_id")): d for d in self.qbank("assessment", "AssessmentTaken", "assessment_responses")}
        path = dump_file(self.path, "assessment", "AssessmentSection")
        for n, section in enumerate(bson_docs(path, self.rows, "assessment_responses", self.rel(path))):
            taken = takens.get(str(section.get("assessmentTakenId"))) or \
                takens.get(_object_id_of(section.get("assessmentTakenId")) or "")
            if taken is None:
                self.rows.reject("assessment_responses", self.rel(path), f"document {n}",
                                 "section of an AssessmentTaken that is not in the dump", section)
                continue
            username = _agent(taken.get("takingAgentId"))
            part = _object_id_of(section.get("assessmentPartId"))
            context = {
                "user_key": self.people.key_of(username), "user_id": self.people.id_of(username),
                "username": username, "assessment_taken_id": str(taken.get("_id")),
                "assessment_offered_id": _object_id_of(taken.get("assessmentOfferedId")),
                "taken_started_at": utc(taken.get("actualStartTime")),
                "taken_completed_at": utc(taken.get("completionTime")), "section_id": str(section.get("_id")),
                "part_id": part, "part_name": parts.get(part or "")}
            for number, question in enumerate(section.get("questions") or [], 1):
                if isinstance(question, dict):
                    self._attempts(context, number, question, items)

    def _attempts(self, context: dict, number: int, question: dict, items: dict[str, str | None]) -> None:
        responses = [r for r in question.get("responses") or [] if isinstance(r, dict)]
        # dlkit inserts each new response at the front; an UNANSWERED (0) placeholder is no attempt.
        attempts = [r for r in reversed(responses) if not (r.get("missingResponse") == 0 and
                                                            r.get("submissionTime") is None)]
        item_id = _object_id_of(question.get("itemId"))
        for attempt, response in enumerate(attempts, 1):
            choices = response.get("choiceIds")
            correct = response.get("isCorrect")
            text = response.get("text")
            self.rows.add("assessment_responses", {
                **context, "question_key": str(question.get("_id")), "question_number": number,
                "item_id": item_id, "item_name": items.get(item_id or ""), "attempt": attempt,
                "submitted_at": utc(response.get("submissionTime")), "response_kind": response_kind(response),
                "choice_ids": [str(c) for c in choices] if isinstance(choices, list) else None,
                "answer_text": _text(text.get("text")) if isinstance(text, dict) else _text(text),
                "answer": response, "is_correct": correct if isinstance(correct, bool) else None,
                "cleared": "missingResponse" in response})

    def log_entry_rows(self) -> None:
        path = dump_file(self.path, "logging", "LogEntry")
        for doc in bson_docs(path, self.rows, "qbank_log_entries", self.rel(path)):
            username = _agent(doc.get("agentId"))
            text = doc.get("text")
            self.rows.add("qbank_log_entries", {
                "user_key": self.people.key_of(username), "user_id": self.people.id_of(username),
                "username": username, "log_entry_id": str(doc.get("_id")), "logged_at": utc(doc.get("timestamp")),
                "priority": _text(doc.get("priority")), "genus_type": _text(doc.get("genusTypeId")),
                "text": _text(text.get("text") if isinstance(text, dict) else text), "raw": doc})

    # -- lab PCs (unplatform) ------------------------------------------------------------------
    def unplatform_rows(self) -> None:
        """Each lab PC's sessions and visits, by clix_derive's rules (clix_derive/unplatform.py)."""
        code, sid = self.parsed["school_code"], self.parsed["server_id"]
        for name, folder in unplatform.lab_pcs(self.path):
            pc = unplatform.read_pc(name, folder)
            for path, reason in pc.rejects:
                self.rows.reject("unplatform_sessions", self.rel(path), "", reason)
            for f in unplatform.sessions(pc):
                session = pc.sessions[f.session]
                self.rows.add("unplatform_sessions", {
                    "pc": name, "session_id": f.session, "user_type": f.user_type or None,
                    "user_count": f.user_count or None, "username": f.username or None,
                    "user_keys": [lab_user_key(code, sid, name, session, u) for u in unplatform.users_of(session)],
                    "started_at": utc(f.start), "ended_at": utc(f.end), "last_entry_at": utc(f.last_entry),
                    "log_entries": f.log_entries})
            for session in pc.sessions.values():
                blobs = unplatform.visits(session)
                for username in unplatform.users_of(session):
                    key = lab_user_key(code, sid, name, session, username)
                    for when, label in blobs:
                        self.rows.add("unplatform_visits", {
                            "pc": name, "session_id": session.sid, "username": username, "user_key": key,
                            "visited_at": ist(when), "name": label, "day": when.date().isoformat()})

    # -- the server's own evidence of days -----------------------------------------------------
    def server_day_rows(self) -> None:
        """Days the server was used (its Benchmarks) or on (its own hourly heartbeat and analytics
        export), each in IST as the stamp's own zone gives it. The collector's heartbeat, written
        into the same folder with a JSON twin and a UTC stamp, is the collector's visit: left out."""
        days: dict[tuple[str, dt.date], list] = {}

        def count(source: str, day: dt.date, user: Any = None) -> None:
            entry = days.setdefault((source, day), [0, set()])
            entry[0] += 1
            if user is not None:
                entry[1].add(user)

        path = dump_file(self.path, clix_layout.MONGO_DB, "Benchmarks")
        for doc in bson_docs(path, self.rows, "server_days", self.rel(path)):
            when = doc.get("last_update")
            if isinstance(when, dt.datetime):  # gStudio's IST wall clock
                count("benchmarks", when.date(), str(doc.get("user")))
        try:
            names = set(os.listdir(os.path.join(self.gstudio, "system-heartbeat")))
        except OSError:
            names = set()
        for name in sorted(names):
            m = HEARTBEAT_FILE.fullmatch(name)
            if m and name.endswith(".log") and f"{name[:-4]}.json" not in names:
                day = _day(m.group("day"))  # the gStudio container's clock: Asia/Kolkata
                if day is not None:
                    count("heartbeat", day)
        try:
            exports = os.listdir(os.path.join(self.gstudio, PROGRESS_FOLDER))
        except OSError:
            exports = []
        visits = collector_visits(self.manifest[1])
        for name in sorted(exports):
            m = PROGRESS_NAME.fullmatch(name)
            if m:  # gStudio's datetime.now() in the container: IST
                stamp = dt.datetime.strptime(m.group("stamp"), "%Y%m%d-%Hh%Mm").replace(tzinfo=IST)
                if not any(start <= stamp <= end for start, end in visits):
                    count("export", stamp.date())
        for (source, day), (events, users) in sorted(days.items()):
            self.rows.add("server_days", {"day": day.isoformat(), "source": source, "events": events,
                                          "users": len(users)})

    # -- gStudio's MongoDB ---------------------------------------------------------------------
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
            uid = self.people.id_of(username) if isinstance(username, str) else None
            for v in visits(school, uid, school.user_benchmarks(username)):
                self.rows.add("activity_visits", self._visit(school, v, username, uid))

    def _visit(self, school: School, v, username: str, uid: int | None) -> dict:
        parts = v.bench.url.split("/")
        unit, lesson, activity = v.nodes or (None, None, None)
        seconds = (v.out.ts - v.bench.ts).total_seconds() if v.out is not None else None
        buddies = None if v.buddies is None else [a.get("name") for a in v.buddies]
        return {"user_key": self.people.key_of(username if isinstance(username, str) else None), "user_id": uid,
                "username": username, "session_key": v.bench.session, "url": v.bench.url,
                # A URL may name a user's own group (their Author, named after them) where a unit goes.
                "unit_id": str(unit["_id"]) if unit is not None and unit.get("_type") == "Group" else None,
                "unit_name": (name_of(unit, prefer_altnames=True) or None)
                if unit is not None and unit.get("_type") == "Group" else None,
                "lesson_id": parts[4] if v.nodes else None,
                "lesson_name": name_of(lesson, prefer_altnames=False) or None,
                "activity_id": parts[5] if v.nodes else None,
                "activity_name": name_of(activity, prefer_altnames=True) or None,
                "language": v.bench.locale or "en", "started_at": ist(v.bench.ts),
                "ended_at": ist(v.out.ts) if v.out is not None else None, "seconds": seconds,
                "out_action": v.out.name if v.out is not None else None, "buddies": buddies,
                "buddy_keys": None if buddies is None else [self.people.key_of(_text(b)) for b in buddies],
                "day": v.bench.ts.date().isoformat(),
                "mit_visit": v.bench.mit_visit and v.bench.url.startswith("/") and v.bench.url.endswith("/"),
                "mit_label": mit_label(school, v.bench.url)}


TEACHING = ("Teacher", "Teacher Educator", "Faculty")


def mit_label(school: School, url: str) -> str | None:
    """The name the MIT script gives a visit (None where the script would stop: no CSV at all)."""
    try:
        return mit.visit_label(school, url)
    except mit.MitAborted:
        return None


def role(superuser: bool, staff: bool, agency: str | None) -> str | None:
    if superuser:
        return "admin"
    if agency in TEACHING or staff:
        return "teacher"
    if agency == "Student":
        return "student"
    return "other" if agency else None


class PagePlaces:
    """The unit, lesson and activity of the page that embeds an offering (School.embedded_offerings):
    a lesson is the node whose collection_set holds the activity, the unit the Group holding the lesson."""

    def __init__(self, school: School | None) -> None:
        self.school = school
        self.parent: dict[Any, Any] = {}
        for node_id in school.node_order if school is not None else []:
            for child in school.nodes[node_id].get("collection_set") or []:
                self.parent.setdefault(child, node_id)

    def of(self, offered: str) -> dict:
        page = self.school.embedded_offerings.get(offered) if self.school is not None else None
        lesson = self.parent.get(page) if page is not None else None
        unit = self.parent.get(lesson) if lesson is not None else None
        nodes = self.school.nodes if self.school is not None else {}
        return {"unit_id": _text(unit), "unit_name": name_of(nodes.get(unit), prefer_altnames=True) or None,
                "lesson_id": _text(lesson), "lesson_name": name_of(nodes.get(lesson), prefer_altnames=False) or None,
                "activity_id": _text(page), "activity_name": name_of(nodes.get(page), prefer_altnames=True) or None}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain(markup: Any) -> str | None:
    """Markup as its text (what BeautifulSoup's get_text gives gStudio's report)."""
    if not isinstance(markup, str):
        return None
    parser = _Text()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts).strip()


ENGLISH, TELUGU, HINDI = "639-2%3AENG%40ISO", "639-2%3ATEL%40ISO", "639-2%3AHIN%40ISO"


def text_of(value: Any) -> str | None:
    """A qbank text: ``{text}``, or ``texts`` in several languages (English, else Telugu, else Hindi,
    else the first, as gStudio's report takes them)."""
    if isinstance(value, dict) and isinstance(value.get("texts"), list):
        texts = [t for t in value["texts"] if isinstance(t, dict)]
        for language in (ENGLISH, TELUGU, HINDI):
            found = [t.get("text") for t in texts if t.get("languageTypeId") == language]
            if found:
                return plain(found[0])
        return plain(texts[0].get("text")) if texts else None
    if isinstance(value, dict) and isinstance(value.get("text"), dict):
        return plain(value["text"].get("text"))
    if isinstance(value, dict):
        return plain(value.get("text"))
    return plain(value)


def item_row(doc: dict) -> dict:
    question = doc.get("question") if isinstance(doc.get("question"), dict) else {}
    choices = [{"id": _text(c.get("id")), "text": text_of(c)} for c in question.get("choices") or []
               if isinstance(c, dict)]
    right = [str(i) for a in doc.get("answers") or [] if isinstance(a, dict)
             and "right-answer" in str(a.get("genusTypeId")) for i in a.get("choiceIds") or []]
    return {"item_id": _object_id_of(str(doc.get("_id"))) or str(doc.get("_id")), "name": _display(doc),
            "genus_type": _text(doc.get("genusTypeId")), "question_text": text_of(question), "choices": choices,
            "answer_choice_ids": right, "bank_ids": _ids(doc.get("assignedBankIds"))}


def response_kind(response: dict) -> str:
    if "choiceIds" in response:
        return "choice"
    if "text" in response:
        return "text"
    if "fileIds" in response or "fileId" in response:
        return "file"
    return "none"


def _display(doc: dict) -> str | None:
    name = doc.get("displayName")
    return _text(name.get("text")) if isinstance(name, dict) else _text(name)


def _ids(value: Any) -> list[str] | None:
    return [_object_id_of(v) or str(v) for v in value] if isinstance(value, list) else None


COLLECTOR_MARGIN = dt.timedelta(minutes=15)


def collector_visits(manifest: dict) -> list[tuple[dt.datetime, dt.datetime]]:
    """When the collector was at the server, by its manifest: the last run, and the time each item
    was collected (the collector has gStudio write its exports just before pulling them), widened
    by a margin."""
    def when(value: Any) -> dt.datetime | None:
        try:
            t = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None
        return None if t is None else t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)

    spans = []
    run = manifest.get("run") if isinstance(manifest.get("run"), dict) else {}
    start, end = when(run.get("started")), when(run.get("ended"))
    if start and end:
        spans.append((start - COLLECTOR_MARGIN, end + COLLECTOR_MARGIN))
    for item in (manifest.get("items") or {}).values():
        t = when(item.get("collected_at")) if isinstance(item, dict) else None
        if t:
            spans.append((t - COLLECTOR_MARGIN, t + COLLECTOR_MARGIN))
    return spans


def lab_user_key(school_code: str, server_id: str, pc: str, session: unplatform.Session, name: str) -> str:
    """A student id typed on a lab PC is the same student on every PC of the school, every year; a
    session without one stands for its own user."""
    typed = session.user.get("username")
    if isinstance(typed, str) and typed.strip():
        return person_key("unplatform", school_code, server_id, name)
    return person_key("unplatform-session", school_code, server_id, pc, name)


def latest_run(names: list[str]) -> list[str]:
    """The progress files of the latest recomputation (the newest stamp) of a derived folder."""
    stamps = {n: m.group("stamp") for n in names if (m := PROGRESS_NAME.fullmatch(n))}
    newest = max(stamps.values(), default=None)
    return [n for n in names if stamps.get(n, newest) == newest]


def _day(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


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


def _float(value: Any) -> float | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


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
        with open_collected(path) as f:
            return f.read(RAW_LIMIT).decode("utf-8", "replace")
    except (OSError, SourceError):
        return ""
