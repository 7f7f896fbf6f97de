"""``single_school_get_MIT_activity_data.py``: ``qbank/student-activities/activity-data.csv``.

Only the CSV is recomputed; the script's other steps (qbank mongodump, pg_dumpall, tar) copy
data that the collected tree already holds under ``db/`` and ``postgres-dump/``.

The script builds one "blob" per activity-player visit (and per tool-log entry), keyed by
username in a Python 2 dict, then writes five columns per date. Where it raises, its caller
swallows the error and no CSV is written at all (``MitAborted``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections import defaultdict
from collections.abc import Iterator

from ansible.module_utils import clix_layout
from bson import ObjectId
from bson.errors import InvalidId

from .formats import output_path, py2_dict_order, python_slugify, write_csv
from .school import School, ts_parse, ts_text
from .source import SourceError, open_collected

CSV_PATH = os.path.join("qbank", "student-activities", "activity-data.csv")
DAY_COLUMNS = ["Total Timestamps", "Total Timespent (HH:MM:SS.microsec)", "Activities Viewed", "Activity Timestamps"]
# fake_future_ist(): a tool entry without a time is put 5000*365 days after the run.
FAR_FUTURE = dt.timedelta(days=5000 * 365)
Blob = tuple[dt.datetime, str]  # (visited_on as IST wall clock, the name shown for it)


class MitAborted(Exception):
    """Where the script raises inside ``aggregate_user_activity``: it writes no CSV."""


def logged_in_users(school: School) -> list[tuple[str, str]]:
    """``generate_user_list()``: (username, id) of the rows of the first ``COPY auth_user`` block
    whose field 2 (last_login) differs from field 10 (date_joined, stripped), as raw text."""
    try:
        return [(u.fields[4], u.fields[0]) for u in school.auth_users if u.fields[2] != u.fields[10].strip()]
    except IndexError:
        raise MitAborted("an auth_user row has fewer than 11 fields") from None


def _unicode(raw: str) -> str:
    """Python 2 ``unicode(str)`` with the default ASCII codec: a non-ASCII username raises."""
    if not raw.isascii():
        raise MitAborted(f"non-ASCII username {raw!r}")
    return raw


def _object_id(part: str) -> ObjectId:
    try:
        return ObjectId(part)
    except (InvalidId, TypeError):
        raise MitAborted(f"{part!r} is not an ObjectId") from None


def _field(node: dict, key: str) -> str:
    if key not in node or not isinstance(node[key], str):
        raise MitAborted(f"node {node.get('_id')} has no {key}")
    return node[key]


def _unit_label(school: School, part: str) -> str:
    """``get_group_name_id(part, get_obj=True)``: a valid ObjectId names any node by ``_id``
    (nothing else is tried), other text a Group or Author by name (the first stored)."""
    if ObjectId.is_valid(part):
        unit = school.node(part)
    else:
        unit = next((n for n in map(school.nodes.get, school.node_order) if n.get("_type") in ("Group", "Author")
                     and n.get("name") == part), None)
    if unit is None:
        return "Deleted unit? Unknown name."
    return unit["altnames"] if unit.get("altnames") else _field(unit, "name")


def visit_label(school: School, url: str) -> str:
    """``unit / lesson / activity``, each by python-slugify; ``NA`` for a URL of other than 7 parts."""
    parts = url.split("/")
    if len(parts) != 7:
        return "NA / NA / NA"
    lesson, activity = school.nodes.get(_object_id(parts[4])), school.nodes.get(_object_id(parts[5]))
    names = (_unit_label(school, parts[1]),
             _field(lesson, "name") if lesson is not None else "Deleted lesson? Unknown name.",
             _field(activity, "name") if activity is not None else "Deleted activity? Unknown name.")
    return " / ".join(python_slugify(n) for n in names)


def _buddy_names(school: School, user_id: str, session: object) -> list[str]:
    """``Buddies.find_one({loggedin_userid: int(id), session_key: str(session)})``, its
    ``buddy_in_out`` keys looked up as Authors with ``$in``: ascending ``_id`` order."""
    buddy = school.buddy_doc(int(user_id), "None" if session is None else str(session))
    if buddy is None:
        return []
    ids = sorted({_object_id(k) for k in buddy["buddy_in_out"]})
    authors = [school.nodes[i] for i in ids if i in school.nodes and school.nodes[i].get("_type") == "Author"]
    if any("name" not in a for a in authors):
        raise MitAborted("a buddy Author has no name")
    return [a["name"] for a in authors]


def _buddy_id(full_list: list[tuple[str, str]], name: str) -> str:
    """``get_buddy_id``: the id of the first row of the whole table with that username."""
    for raw, user_id in full_list:
        if _unicode(raw.strip()) == name:
            return user_id
    raise MitAborted(f"Buddy not found?? {name!r}")


def _tool_blobs(tools_dir: str, user_id: str, now: dt.datetime) -> list[Blob]:
    """Per folder under ``gstudio_tools_logs``: ``<id>.json``, else the first ``<id>-*.json``.
    ``created_at``/``createdAt`` is ``%Y-%m-%d %H:%M:%S`` (not zero-padded); an entry without
    either is put far in the future; the name is ``appName``, else ``app_name``. Folders and files
    are taken in name order (the script walks them in the file system's order)."""
    blobs: list[Blob] = []
    for folder, dirs, files in os.walk(tools_dir):
        dirs.sort()
        names = sorted(files)
        chosen = f"{user_id}.json" if f"{user_id}.json" in names else next(
            (f for f in names if f.startswith(f"{user_id}-") and f.endswith(".json")), None)
        if chosen is None:
            continue
        try:
            path = clix_layout.contained(tools_dir, os.path.join(folder, chosen))  # never through a link
            with open_collected(path) as f:
                entries = json.load(f)
        except (OSError, ValueError, SourceError):  # invalid JSON is reported and skipped by the script
            continue
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                blobs.append((_tool_time(entry, now), _tool_name(entry)))
    return blobs


def _tool_time(entry: dict, now: dt.datetime) -> dt.datetime:
    key = "created_at" if "created_at" in entry else "createdAt" if "createdAt" in entry else None
    if key is None:
        return now + FAR_FUTURE
    try:
        return dt.datetime.strptime(entry[key], "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        raise MitAborted(f"tool log time {entry[key]!r}") from None


def _tool_name(entry: dict) -> str:
    name = entry["appName"] if "appName" in entry else entry.get("app_name", "Unknown Tool??")
    if not isinstance(name, str):
        raise MitAborted(f"tool name {name!r}")
    return name


def _day_cells(day: dt.date, blobs: list[Blob]) -> list[object]:
    """One day's five cells from its blobs (sorted by time, stable)."""
    names = list(dict.fromkeys(label for _, label in blobs))
    stamps = [json.dumps(sorted(t.strftime("%Y-%m-%d %I:%M:%S %p") for t, label in blobs if label == name))
              for name in names]  # a string sort: '01:00:00 PM' before '11:00:00 AM'
    return [day.strftime("%Y-%m-%d"), len(blobs), str(blobs[-1][0] - blobs[0][0]), "\r\n".join(names),
            "\r\n".join(stamps)]


class _Blobs:
    """Each user's blobs in a SQLite table, in the order the script appends them (memory stays
    flat in the amount of activity)."""

    def __init__(self, school: School) -> None:
        self.db = school.spool
        self.db.execute("CREATE TABLE IF NOT EXISTS ev (user TEXT, ts TEXT, seq INTEGER PRIMARY KEY, label TEXT)")
        self.db.execute("DELETE FROM ev")
        self.pending: list[tuple] = []

    def add(self, user: str, blobs: list[Blob]) -> None:
        self.pending.extend((user, ts_text(t), label) for t, label in blobs)
        if len(self.pending) >= 20_000:
            self.flush()

    def flush(self) -> None:
        self.db.executemany("INSERT INTO ev (user, ts, label) VALUES (?, ?, ?)", self.pending)
        self.pending.clear()

    def days(self) -> list[dt.date]:
        return [dt.date.fromisoformat(d) for (d,) in self.db.execute("SELECT DISTINCT substr(ts, 1, 10) FROM ev ORDER BY 1")]

    def of(self, user: str) -> dict[dt.date, list[Blob]]:
        per_day: dict[dt.date, list[Blob]] = defaultdict(list)
        for ts, label in self.db.execute("SELECT ts, label FROM ev WHERE user = ? ORDER BY ts, seq", (user,)):
            when = ts_parse(ts)
            per_day[when.date()].append((when, label))
        return per_day


def _collect(school: School, blobs: _Blobs, now: dt.datetime) -> dict[str, str]:
    """``activity_details``: every logged-in user's visits (credited to the session's buddies too),
    then every listed user's tool logs. Returns username -> user id, in insertion order."""
    full_list = [(u.fields[4], u.fields[0]) for u in school.auth_users]
    users: dict[str, str] = {}
    for raw, user_id in logged_in_users(school):
        username = _unicode(raw.strip())
        users.setdefault(username, user_id)
        sessions, out_without_session = school.mit_out_sessions(username)
        if out_without_session:
            raise MitAborted(f"a Benchmark of {username} has no session_key")
        for visit, no_session in school.mit_visits(username):
            if not (visit.url.startswith("/") and visit.url.endswith("/")):
                continue  # only such URLs give a blob
            blob = (visit.ts, visit_label(school, visit.url))
            if len(visit.url.split("/")) == 7:
                if no_session or visit.session not in sessions:  # find_next_nav_out_action's KeyError
                    raise MitAborted(f"visit of {username} without an out-record session")
                for buddy in _buddy_names(school, user_id, visit.session):
                    if buddy not in users:
                        users[buddy] = _buddy_id(full_list, buddy)
                    blobs.add(buddy, [blob])
            blobs.add(username, [blob])
    for username, user_id in users.items():  # each user's tool blobs come after their visits
        blobs.add(username, _tool_blobs(school.tools_dir, user_id, now))
    blobs.flush()
    return users


def write_mit_csv(school: School, out_dir: str, now: dt.datetime) -> str | None:
    """Rows in the iteration order of the script's Python 2 dict (logged-in users in dump order,
    buddies when first met); every date of any user gets five columns, blank (``' '``) for a user
    without blobs that day. ``now`` stands for the script's run time (tool entries without one)."""
    blobs = _Blobs(school)
    with school.spool:
        try:
            users = _collect(school, blobs, now)
        except MitAborted as exc:
            print(f"clix-derive: MIT activity data: the script stops here, no CSV: {exc}", file=sys.stderr)
            return None
    days = blobs.days()

    def rows() -> Iterator[list]:
        for username in py2_dict_order(users):
            yield [username, users[username], *day_cells(days, blobs.of(username))]

    path = output_path(out_dir, *os.path.split(CSV_PATH))
    write_csv(path, header(days), rows())
    return path


def header(days: list[dt.date]) -> list[str]:
    """``Username, UserID``, then per date of any user's blobs its five columns."""
    names = ["Username", "UserID"]
    for day in days:
        names += [f"Date ({day})", *DAY_COLUMNS]
    return names


def day_cells(days: list[dt.date], per_day: dict[dt.date, list[Blob]]) -> list[object]:
    """A user's cells for every date: five per date, blank (``' '``) on a date without blobs."""
    cells: list[object] = []
    for day in days:
        cells += _day_cells(day, per_day[day]) if day in per_day else [" "] * (1 + len(DAY_COLUMNS))
    return cells
