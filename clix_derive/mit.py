"""``single_school_get_MIT_activity_data.py``: ``qbank/student-activities/activity-data.csv``.

Only the CSV is recomputed; the script's other steps (qbank mongodump, pg_dumpall, tar) copy
data that the collected tree already holds under ``db/`` and ``postgres-dump/``.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
from collections import defaultdict
from collections.abc import Iterator

from module_utils import clix_layout

from .formats import name_of, output_path, write_csv
from .school import Bench, School, ts_parse, ts_text
from .source import SourceError, open_regular

CSV_PATH = os.path.join("qbank", "student-activities", "activity-data.csv")
DAY_COLUMNS = ["Date (YYYY-MM-DD)", "Total Timestamps", "Total Timespent (HH:MM:SS.microsec)",
               "Activities Viewed", "Activity Timestamps"]

_SCAN_LIMIT = 10_000  # pages looked ahead in one session for the out-event
Event = tuple[dt.datetime, str | None]  # (time, label); out-events add a time but no label


def logged_in_users(school: School) -> list:
    """The users parsed from ``COPY auth_user``, kept only if ``last_login != date_joined``."""
    return [u for u in school.auth_users if u.last_login != u.date_joined]


def _visit_label(school: School, url: str) -> str:
    if len(url.split("/")) != 7:
        return url
    unit, lesson, activity = school.player_nodes(url)
    return " / ".join((name_of(unit, True), name_of(lesson, False), name_of(activity, True)))


def _benchmark_events(school: School, benches: list[Bench]) -> list[tuple[str | None, list[Event]]]:
    """Per visit ($text 'activity_player'): its session and events, the visit and the next
    Benchmark of the same session that matches $text 'course my-desk explore tool-page content'."""
    out = []
    for i, b in enumerate(benches):
        if not b.mit_visit:
            continue
        events: list[Event] = [(b.ts, _visit_label(school, b.url))]
        for j in range(i + 1, min(len(benches), i + 1 + _SCAN_LIMIT)):  # by session then time: its next pages
            n = benches[j]
            if n.session != b.session:
                break
            if n.mit_out:
                events.append((n.ts, None))
                break
        out.append((b.session, events))
    return out


def _tool_events(tools_dir: str, user_id: int) -> list[Event]:
    """``gstudio_tools_logs/**/<user id>-*.json``: ``created_at``/``createdAt`` is an IST string
    ``%Y-%m-%d %H:%M:%S`` (not zero-padded), the label ``appName``/``app_name``."""
    events: list[Event] = []
    for path in sorted(glob.glob(os.path.join(tools_dir, "**", f"{user_id}-*.json"), recursive=True)):
        try:
            clix_layout.contained(tools_dir, path)  # a linked folder never takes the search outside
            with open_regular(path) as f:
                entries = json.load(f)
        except (OSError, ValueError, SourceError):
            continue
        for e in entries if isinstance(entries, list) else []:
            stamp = e.get("created_at") or e.get("createdAt")
            try:
                when = dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
            except (TypeError, ValueError):
                continue
            events.append((when, e.get("appName") or e.get("app_name")))
    return events


def _day_cells(day: dt.date, events: list[Event]) -> list[str]:
    """One day's five cells; ``events`` come by time, then in the order they were found."""
    times = [t for t, _ in events]
    labels = [label for _, label in events if label is not None]
    return [day.isoformat(), str(len(times)), str(times[-1] - times[0]), "\r\n".join(labels),
            json.dumps([t.strftime("%Y-%m-%d %I:%M:%S %p") for t in times])]


def write_mit_csv(school: School, out_dir: str) -> str:
    """Events go to a SQLite table as they are found (memory stays flat in the amount of activity),
    then each user's row is built from their events by time, then the order they were found."""
    users = logged_in_users(school)
    listed = {u.id for u in users}
    db = school.spool
    db.execute("CREATE TABLE IF NOT EXISTS ev (user_id INT, ts TEXT, seq INTEGER PRIMARY KEY, label TEXT)")
    db.execute("DELETE FROM ev")

    pending: list[tuple] = []

    def add(user_id: int, events: list[Event], flush: bool = False) -> None:
        if user_id in listed:
            pending.extend((user_id, ts_text(t), label) for t, label in events)
        if flush or len(pending) >= 20_000:  # written in batches: bounded memory, few round trips
            db.executemany("INSERT INTO ev (user_id, ts, label) VALUES (?, ?, ?)", pending)
            pending.clear()

    with db:
        for user in users:
            for session, visit_events in _benchmark_events(school, school.user_benchmarks(user.username)):
                add(user.id, visit_events)
                # Buddies of that session are credited with the same visit.
                buddy = school.buddy_doc(user.id, session)
                for author in school.buddy_authors(buddy) if buddy else []:
                    if author.get("created_by") != user.id:
                        add(author.get("created_by"), visit_events)
            add(user.id, _tool_events(school.tools_dir, user.id))
        add(-1, [], flush=True)
        db.execute("CREATE INDEX IF NOT EXISTS ev_user ON ev (user_id, ts, seq)")
    days = [dt.date.fromisoformat(d) for (d,) in db.execute("SELECT DISTINCT substr(ts, 1, 10) FROM ev ORDER BY 1")]

    def rows() -> Iterator[list]:
        for user in users:
            per_day: dict[dt.date, list[Event]] = defaultdict(list)
            for ts, label in db.execute("SELECT ts, label FROM ev WHERE user_id = ? ORDER BY ts, seq", (user.id,)):
                when = ts_parse(ts)
                per_day[when.date()].append((when, label))
            row: list = [user.username, user.id]
            for day in days:
                # A day without events for this user leaves its five cells empty (uncertain).
                row += _day_cells(day, per_day[day]) if day in per_day else [""] * len(DAY_COLUMNS)
            yield row

    path = output_path(out_dir, *os.path.split(CSV_PATH))
    write_csv(path, ["Username", "UserID"] + DAY_COLUMNS * len(days), rows())
    return path
