"""``manage.py export_users_analytics``: one progress CSV per announced unit.

``gstudio-exported-users-analytics-csvs/<school code>-<server id>-<slug of unit name>-<%Y%m%d-%Hh%Mm>.csv``
"""

from __future__ import annotations

import datetime as dt
import os

from .formats import append_text, name_of, output_path, py2_repr, slugify, write_csv
from .school import School

FIXED_HEADER = [
    "server_id", "school_name", "school_code", "module_name", "unit_name", "username", "user_id",
    "first_name", "last_name", "roll_no", "grade", "enrollment_status", "buddy_userids", "buddy_usernames",
    "total_lessons", "lessons_visited", "percentage_lessons_visited", "total_activities",
    "activities_visited", "percentage_activities_visited", "total_quizitems", "visited_quizitems",
    "attempted_quizitems", "unattempted_quizitems", "correct_attempted_quizitems", "notapplicable_quizitems",
    "incorrect_attempted_quizitems", "user_files", "total_files_viewed_by_user", "other_viewing_my_files",
    "unique_users_commented_on_user_files", "total_rating_rcvd_on_files", "commented_on_others_files",
    "cmts_on_user_files", "total_cmnts_by_user", "user_notes", "others_reading_my_notes",
    "cmts_on_user_notes", "cmnts_rcvd_by_user", "total_notes_read_by_user", "commented_on_others_notes",
    "total_rating_rcvd_on_notes", "correct_attempted_assessments", "unattempted_assessments",
    "visited_assessments", "notapplicable_assessments", "incorrect_attempted_assessments",
    "attempted_assessments", "total_assessment_items",
]
FOLDER = "gstudio-exported-users-analytics-csvs"
LOG = os.path.join("gstudio-logs", "export_users_analytics.log")


class UserSkipped(Exception):
    """Where gStudio raises for a user: the user is left out of the file and logged."""


def announced_units(school: School) -> list[dict]:
    """Groups that are members of ``announced_unit``. gStudio also asks for ``CourseEventGroup``
    units, but computing their analytics fails for every user on school servers: no file."""
    unit_gst = school.gst_id("announced_unit")
    return [g for g in school.of_type("Group") if unit_gst is not None and unit_gst in (g.get("member_of") or [])]


def _percent(part: int, whole: int) -> float:
    # level1/level2_progress_meter, as a float percentage (uncertain: gcourse's rounding).
    return part * 100.0 / whole if whole else 0.0


def _n(counter: dict, *path: str) -> int:
    """A nested Counter number; a missing sub-document counts 0 (mongokit's structure defaults)."""
    value: object = counter
    for key in path:
        value = value.get(key, {}) if isinstance(value, dict) else {}
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _assessments(counter: dict) -> dict[str, int]:
    """Sums over ``counter.assessment``. An entry without ``correct`` raises in gStudio (user left
    out); the sums stop at the first old-style entry that lacks ``id`` or ``failed_attempts``."""
    attempted = correct = 0
    for entry in counter.get("assessment") or []:
        if "correct" not in entry:
            raise UserSkipped("assessment entry without 'correct'")
        if "id" not in entry or "failed_attempts" not in entry:
            break
        attempted += 1
        correct += bool(entry["correct"])
    return {"correct_attempted_assessments": correct, "unattempted_assessments": 0,
            "visited_assessments": attempted, "notapplicable_assessments": 0,
            "incorrect_attempted_assessments": attempted - correct, "attempted_assessments": attempted,
            "total_assessment_items": attempted}


def _lesson_progress(lesson_activities: list[list], visited: dict) -> dict[str, object]:
    """'X out of Y Lessons Visited' and '... Activities Visited'. A lesson counts as visited when
    all its activities were visited, so a lesson with no activities always counts (``all([])``)."""
    activities = list(dict.fromkeys(a for acts in lesson_activities for a in acts))
    seen = {a for a in activities if str(a) in visited}
    lessons_visited = sum(all(a in seen for a in acts) for acts in lesson_activities)
    total_lessons = len(lesson_activities)
    return {"total_lessons": total_lessons, "lessons_visited": lessons_visited,
            "percentage_lessons_visited": _percent(lessons_visited, total_lessons),
            "total_activities": len(activities), "activities_visited": len(seen),
            "percentage_activities_visited": _percent(len(seen), len(activities))}


def _counter_columns(counter: dict) -> dict[str, int]:
    """File, note (blog page) and quiz counts, read from the user's Counter for the unit."""
    attempted, correct = _n(counter, "quiz", "attempted"), _n(counter, "quiz", "correct")
    return {
        "total_quizitems": attempted, "visited_quizitems": attempted, "attempted_quizitems": attempted,
        "unattempted_quizitems": 0, "correct_attempted_quizitems": correct, "notapplicable_quizitems": 0,
        "incorrect_attempted_quizitems": _n(counter, "quiz", "incorrect"),
        "user_files": _n(counter, "file", "created"),
        "total_files_viewed_by_user": _n(counter, "file", "visits_on_others_res"),
        "other_viewing_my_files": _n(counter, "file", "visits_gained"),
        "unique_users_commented_on_user_files": len((counter.get("file") or {}).get("comments_by_others_on_res") or {}),
        "total_rating_rcvd_on_files": _n(counter, "file", "rating_count_received"),
        "commented_on_others_files": _n(counter, "file", "commented_on_others_res"),
        "cmts_on_user_files": _n(counter, "file", "comments_gained"),
        "total_cmnts_by_user": _n(counter, "total_comments_by_user"),
        "user_notes": _n(counter, "page", "blog", "created"),
        "others_reading_my_notes": _n(counter, "page", "blog", "visits_gained"),
        "cmts_on_user_notes": _n(counter, "page", "blog", "comments_gained"),
        "cmnts_rcvd_by_user": _n(counter, "page", "blog", "comments_gained"),
        "total_notes_read_by_user": _n(counter, "page", "blog", "visits_on_others_res"),
        "commented_on_others_notes": _n(counter, "page", "blog", "commented_on_others_res"),
        "total_rating_rcvd_on_notes": _n(counter, "page", "blog", "rating_count_received"),
    }


def _buddies(school: School, user_id: int, now: dt.datetime) -> tuple[str, str]:
    """``Buddy.get_buddy_userids_list_within_datetime(user, now)``: buddies of the user's records
    that started by ``now`` and had not ended before it. The buddy Authors are looked up with an
    ``$in`` query, so ids and names follow Author storage order (Python 2 dict order is arbitrary)."""
    found: set[int] = set()
    for b in school.buddies_of(user_id):
        starts, ends = b.get("starts_at"), b.get("ends_at")
        if not (starts is not None and starts > now) and not (ends is not None and ends < now):
            found.update(school.author_position[k] for k in b["buddy_in_out"] if k in school.author_position)
    ids = list(dict.fromkeys(school.authors[i].get("created_by") for i in sorted(found)))
    names = [a.get("name") for uid in ids for a in school.authors_by_user_id.get(uid, [])]
    return py2_repr(ids), py2_repr(names)


def unit_rows(school: School, unit: dict, now: dt.datetime, log: list[str]) -> tuple[list[str], list[list]]:
    ident = school.identity
    module_gst = school.gst_id("Module")
    modules = [name_of(m, prefer_altnames=True) for m in school.of_type("GSystem")
               if module_gst in (m.get("member_of") or []) and unit["_id"] in (m.get("collection_set") or [])]
    lessons = school.tree_children(unit)
    lesson_activities = [[a["_id"] for a in school.tree_children(lesson)] for lesson in lessons]
    # One column per lesson, "<altnames or name> [<ObjectId>]", in storage order.
    lesson_columns = {f"{name_of(lesson, prefer_altnames=True)} [{lesson['_id']}]": str(lesson["_id"])
                      for lesson in lessons}
    first_counter: dict[object, dict] = {}  # Counters.distinct('user_id'), each user's first Counter
    for c in school.counters:
        if c.get("group_id") == unit["_id"]:
            first_counter.setdefault(c.get("user_id"), c)
    rows = []
    for user_id, counter in first_counter.items():
        try:
            found = school.authors_by_user_id.get(user_id, [])
            if len(found) != 1:
                raise UserSkipped(f"{len(found)} Author nodes for user id {user_id}")
            author = found[0]
            row = dict.fromkeys(FIXED_HEADER, "NA")
            row.update(server_id=ident["server_id"], school_name=ident["school_name"], school_code=ident["school_code"],
                       module_name=py2_repr(modules), unit_name=slugify(unit.get("name") or ""),
                       username=author.get("name"), user_id=user_id,
                       first_name=school.attributes.get((author["_id"], "first_name"), ""),
                       last_name=school.attributes.get((author["_id"], "last_name"), ""),
                       roll_no=school.attributes.get((author["_id"], "enrollment_code"), ""),
                       grade=school.attributes.get((author["_id"], "educationallevel"), ""),
                       enrollment_status="Yes" if user_id in (unit.get("author_set") or []) else "No")
            visited = counter.get("visited_nodes") or {}
            row.update(_lesson_progress(lesson_activities, visited))
            row.update(_counter_columns(counter))
            row.update(_assessments(counter))
            row["buddy_userids"], row["buddy_usernames"] = _buddies(school, user_id, now)
            rows.append([row[k] for k in FIXED_HEADER] + [visited.get(oid, 0) for oid in lesson_columns.values()])
        except UserSkipped as exc:
            log.append(f"{exc}\nUser with id: {user_id} does not exists!!")
    return FIXED_HEADER + list(lesson_columns), rows


def write_progress_csvs(school: School, out_dir: str, now: dt.datetime) -> list[str]:
    """One file per announced unit that has rows; skipped users go to the log, as gStudio does."""
    written, log = [], []
    ident = school.identity
    for unit in announced_units(school):
        header, rows = unit_rows(school, unit, now, log)
        if not rows:
            continue
        name = f"{ident['school_code']}-{ident['server_id']}-{slugify(unit.get('name') or '')}-{now:%Y%m%d-%Hh%Mm}.csv"
        path = output_path(out_dir, FOLDER, name)  # a server id or code that is no file name stops the school
        write_csv(path, header, rows)
        written.append(path)
    if log:
        log_path = output_path(out_dir, *os.path.split(LOG))
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        append_text(log_path, f"\n\n######### Script ran on : {now:%c} #########\n----------------\n" + "".join(log))
    return written
