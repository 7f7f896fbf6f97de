"""``manage.py activity_timestamp <username>`` and ``get_all_users_activity_timestamp_csvs.py``.

One CSV per user: ``activity-timestamp-csvs/<server id>-<username>-activity-visits-<%Y%m%d-%Hh%Mm>.csv``.
A name that is not one plain path component (a username holding ``/``, which Django never makes,
or a name too long for the file system) gets no file: it is skipped with its reason on stderr, so
every file written keeps gStudio's name and stays in the output folder.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from ansible.module_utils.clix_layout import LayoutError

from .formats import name_of, output_path, py2_repr, py2_str_float, slugify, write_csv
from .school import Bench, School

HEADER = ["Unit", "Lesson", "Activity", "Language", "VisitedOn", "OutTime", "OutAction", "TimeSpentInSeconds", "Buddies"]
FOLDER = "activity-timestamp-csvs"
Outs = tuple[list[dt.datetime], list[Bench]]  # a session's out-pattern pages and their times


def counter_usernames(school: School) -> list[str]:
    """Users of ``Counters.distinct('user_id')`` (first appearance), named by their Author node."""
    ids = list(dict.fromkeys(c.get("user_id") for c in school.counters if "user_id" in c))
    names = [a.get("name") for uid in ids for a in school.authors_by_user_id.get(uid, [])]
    return list(dict.fromkeys(n for n in names if n))


@dataclass(frozen=True)
class Visit:
    """One activity-player visit as gStudio's rules see it. ``nodes`` (unit, lesson, activity) is
    None when the URL is not ``/<unit>/course/activity_player/<lesson>/<activity>/`` (7 parts): such a
    visit has no out-event and no buddies. ``buddies`` is None when the session has no Buddy record."""

    bench: Bench
    nodes: tuple[dict | None, dict | None, dict | None] | None
    out: Bench | None
    buddies: list[dict] | None


def visits(school: School, user_id: int, benches: list[Bench]) -> list[Visit]:
    """One user's visits, newest first (``sort('last_update', -1)``; ties keep natural order)."""
    outs_by_session: dict[str | None, Outs] = {}
    for b in benches:  # already by session, time, natural order
        if b.out:
            times, outs = outs_by_session.setdefault(b.session, ([], []))
            times.append(b.ts)
            outs.append(b)
    found = sorted((b for b in benches if b.visit), key=lambda b: b.seq)
    found.sort(key=lambda b: b.ts, reverse=True)
    return [_visit(school, user_id, v, outs_by_session.get(v.session, ([], []))) for v in found]


def _visit(school: School, user_id: int, visit: Bench, outs: Outs) -> Visit:
    parts = visit.url.split("/")
    if not (visit.url.startswith("/") and visit.url.endswith("/") and len(parts) == 7):
        return Visit(visit, None, None, None)
    buddy = school.buddy_doc(user_id, visit.session)
    return Visit(visit, school.player_nodes(visit.url), _out_event(visit, outs),
                 None if buddy is None else school.buddy_authors(buddy))


def visit_rows(school: School, user_id: int, benches: list[Bench]) -> list[list[str]]:
    """Rows for one user, newest visit first."""
    return [_row(v) for v in visits(school, user_id, benches)]


def _row(visit: Visit) -> list[str]:
    row = dict.fromkeys(HEADER, "NA")  # gStudio's default cell is NA
    row["VisitedOn"] = str(visit.bench.ts)  # IST wall clock stored as UTC: printed as stored
    row["Language"] = visit.bench.locale or "en"
    # Only a 7-part player URL is looked into; any other URL keeps NA in every column but
    # VisitedOn and Language, with no out-event or buddies.
    if visit.nodes is None:
        return list(row.values())
    row["Unit"], row["Lesson"], row["Activity"] = _slugs(*visit.nodes)
    if visit.out is not None:
        row["OutTime"] = str(visit.out.ts)
        row["OutAction"] = visit.out.name
        row["TimeSpentInSeconds"] = py2_str_float((visit.out.ts - visit.bench.ts).total_seconds())
    if visit.buddies is not None:
        row["Buddies"] = py2_repr([a.get("name") for a in visit.buddies])
    return list(row.values())


def _slugs(unit: dict | None, lesson: dict | None, activity: dict | None) -> tuple[str, str, str]:
    """Unit and Activity by ``altnames`` or name, Lesson by name, each Django-slugified."""
    return (_slug(name_of(unit, prefer_altnames=True)), _slug(name_of(lesson, prefer_altnames=False)),
            _slug(name_of(activity, prefer_altnames=True)))


_slug = functools.lru_cache(maxsize=4096)(slugify)


def _out_event(visit: Bench, outs: Outs) -> Bench | None:
    """First out-pattern Benchmark of the session with ``last_update >= `` the visit's, other than
    the visit itself, by time then natural order: an equal-time page stored earlier still counts."""
    times, benches = outs
    start = bisect.bisect_left(times, visit.ts)
    return next((benches[i] for i in range(start, len(benches)) if benches[i].seq != visit.seq), None)


def write_activity_csvs(school: School, out_dir: str, now: dt.datetime,
                        usernames: Iterable[str] | None = None) -> list[str]:
    """Write one CSV per user; a user without a Django ``auth_user`` row gets no file (gStudio
    prints 'No user found' and moves on), a user without visits a file with just the header."""
    django = {u.username: u for u in school.auth_users}
    written = []
    for username in (counter_usernames(school) if usernames is None else usernames):
        user = django.get(username.strip())
        if user is None:
            continue
        rows = visit_rows(school, user.id, school.user_benchmarks(user.username))
        name = f"{school.identity['server_id']}-{user.username}-activity-visits-{now:%Y%m%d-%Hh%Mm}.csv"
        try:
            path = output_path(out_dir, FOLDER, name)
        except LayoutError as exc:  # a username no Django server makes: skipped, and said so
            print(f"clix-derive: no activity file for user id {user.id}: {exc}", file=sys.stderr, flush=True)
            continue
        write_csv(path, HEADER, rows)
        written.append(path)
    return written
