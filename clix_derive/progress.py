"""``manage.py export_users_analytics``: one progress CSV per announced unit.

``gstudio-exported-users-analytics-csvs/<school code>-<server id>-<slug of unit name>-<%Y%m%d-%Hh%Mm>.csv``
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from typing import TypeVar

from bson import ObjectId

from .formats import append_text, output_path, py2_repr, slugify, write_csv
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
USER_ATTRIBUTES = ("first_name", "last_name", "enrollment_code", "educationallevel")
_STATUSES = ("PUBLISHED", "DELETED")  # the triple statuses gStudio's attribute queries take
T = TypeVar("T")
FOLDER = "gstudio-exported-users-analytics-csvs"
LOG = os.path.join("gstudio-logs", "export_users_analytics.log")


class UserSkipped(Exception):
    """Where gStudio raises for a user: the user is left out of the file and logged."""


class CommandAborted(Exception):
    """Where ``export_users_analytics`` itself raises: this unit and the ones after it get no file."""


# Points per item (gstudio settings); only whether the multiplication raises matters here.
_POINTS = 1


def announced_units(school: School) -> list[dict]:
    """Groups that are members of ``announced_unit``. gStudio also asks for ``CourseEventGroup``
    units, but computing their analytics fails for every user on school servers: no file."""
    unit_gst = school.gst_id("announced_unit")
    return [g for g in school.of_type("Group") if unit_gst is not None and unit_gst in (g.get("member_of") or [])]


def _key(doc: object, *path: str) -> object:
    """``counter['a']['b']``: mongokit fills no defaults on loaded documents, so a missing key raises."""
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            raise UserSkipped(f"KeyError: {key!r}")
        doc = doc[key]
    return doc


def _py(op, *values: object) -> object:
    """A Python operation on Counter values; a TypeError there skips the user, as in gStudio."""
    try:
        return op(*values)
    except TypeError as exc:
        raise UserSkipped(f"TypeError: {exc}") from None


def activity_columns(school: School, unit: dict) -> dict[str, str]:
    """``Node.get_tree_nodes(unit, 'collection_set', level=1)``: the unit's lessons fetched with
    ``$in``, their ``collection_set`` lists joined and fetched with ``$in`` again. ``$in`` on
    ``_id`` is answered from the ``_id`` index: ascending ObjectId order, duplicates and unknown
    ids gone, any node type. Header ``<altnames or name> [<id>]`` -> the id's text."""
    lessons = school.nodes_in(_command_key(unit, "collection_set"))
    activity_ids = [i for lesson in lessons for i in _command_key(lesson, "collection_set")]
    columns = {}
    for act in school.nodes_in(activity_ids):
        altnames, name = _command_key(act, "altnames"), _command_key(act, "name")
        label = altnames if altnames and isinstance(altnames, str) and altnames.strip() else name
        if not isinstance(label, str):
            raise CommandAborted(f"activity {act['_id']} has no name")
        columns[f"{label} [{act['_id']}]"] = str(act["_id"])
    return columns


def _command_key(node: dict, key: str) -> object:
    if key not in node:
        raise CommandAborted(f"KeyError: {key!r} (node {node.get('_id')})")
    return node[key]


def unit_hierarchy(school: School, unit: dict) -> list[list[str]]:
    """``get_unit_hierarchy``: the activity ids of each lesson, lessons in ``collection_set``
    order, ids that resolve to no node skipped, duplicates kept. Each lesson and activity is looked
    up for a translation, which needs the RelationType ``translation_of`` with an
    ``object_cardinality`` above 1 (``get_relation_value`` returns ``{}`` otherwise and
    ``get_lang_node`` raises a KeyError); each lesson's ``language[0]`` is read. Translations only
    rename, and names are not in the CSV."""
    lessons = []
    for lesson in filter(None, map(school.node, unit.get("collection_set") or [])):
        _translation_rt(school)
        language = lesson.get("language")
        if not isinstance(language, (list, str)) or not language:
            raise UserSkipped(f"lesson {lesson['_id']} has no language")
        activities = []
        for act in filter(None, map(school.node, lesson.get("collection_set") or [])):
            _translation_rt(school)
            activities.append(str(act["_id"]))
        lessons.append(activities)
    return lessons


def _translation_rt(school: School) -> None:
    found = [n for n in school.of_type("RelationType") if n.get("name") == "translation_of"]
    cardinality = found[0].get("object_cardinality") if len(found) == 1 else None
    if not (isinstance(cardinality, (int, float)) and cardinality > 1):
        raise UserSkipped("KeyError: 'grel_node' (RelationType translation_of missing or of cardinality 1)")


def _one_attribute_type(school: School, name: str) -> ObjectId | None:
    """``Node.get_name_id_from_type(name, 'AttributeType')``: ``.one()`` raises on several."""
    found = school.attribute_types.get(name, [])
    if len(found) > 1:
        raise UserSkipped(f"MultipleResultsFound: AttributeType {name}")
    return found[0] if found else None


def total_assessment_items(school: School, unit: dict) -> object:
    """``object_value`` of the first GAttribute ``total_assessment_items`` of the unit (PUBLISHED
    or DELETED), ``'None'`` read as 0; 0 without one. "First" is natural order: with the compound
    index of ``gattribute.py`` DELETED would come first, and whether a server built it is
    undetermined (the facts say so), so the natural order is taken."""
    at = _one_attribute_type(school, "total_assessment_items")
    for t in school.attributes:
        if t.get("subject") == unit["_id"] and t.get("attribute_type") == at and t.get("status") in _STATUSES:
            value = t.get("object_value")
            return 0 if value == "None" else value
    return 0



def _lesson_progress(lessons: list[list[str]], visited: set) -> dict[str, object]:
    """'X out of Y Lessons Visited' and '... Activities Visited': a visit is the id's presence
    among the Counter's ``visited_nodes`` keys (even with 0); a lesson counts as visited when all
    its activities were (``all([])``: a lesson without activities always counts). Meters are
    ``(v/float(t))*100`` when both are non-zero, else int 0."""
    total_lessons, total_activities = len(lessons), sum(map(len, lessons))
    lessons_visited = sum(all(a in visited for a in acts) for acts in lessons)
    activities_visited = sum(a in visited for acts in lessons for a in acts)
    return {"total_lessons": total_lessons, "lessons_visited": lessons_visited,
            "percentage_lessons_visited": _meter(lessons_visited, total_lessons),
            "total_activities": total_activities, "activities_visited": activities_visited,
            "percentage_activities_visited": _meter(activities_visited, total_activities)}


def _meter(part: int, whole: int) -> object:
    return (part / float(whole)) * 100 if part and whole else 0


def _assessments(counter: dict, total: object) -> dict[str, object]:
    """course_analytics' sums over ``counter['assessment']``, key by key in this order: correct,
    notapplicable, incorrect, attempted. Any exception (no list, an entry without one of those
    keys, a non-number) ends the sums where they are and leaves ``unattempted`` at 0; otherwise
    ``unattempted = total_assessment_items - attempted``. ``visited`` is never counted."""
    sums = {"correct_attempted_assessments": 0, "notapplicable_assessments": 0,
            "incorrect_attempted_assessments": 0, "attempted_assessments": 0}
    result = {**sums, "unattempted_assessments": 0, "visited_assessments": 0, "total_assessment_items": total}
    try:
        for entry in counter["assessment"]:
            for column, key in (("correct_attempted_assessments", "correct"),
                                ("notapplicable_assessments", "notapplicable"),
                                ("incorrect_attempted_assessments", "incorrect"),
                                ("attempted_assessments", "attempted")):
                result[column] += entry[key]
        result["unattempted_assessments"] = total - result["attempted_assessments"]
    except Exception:  # gStudio catches everything here
        pass
    return result


def _counter_columns(counter: dict) -> dict[str, object]:
    """The Counter fields course_analytics copies, as stored (ints, the ratings as floats rounded
    when written, or int 0); the quiz columns stay 0 for announced units."""
    columns: dict[str, object] = dict.fromkeys(
        ("total_quizitems", "visited_quizitems", "attempted_quizitems", "unattempted_quizitems",
         "correct_attempted_quizitems", "notapplicable_quizitems", "incorrect_attempted_quizitems"), 0)
    columns.update(
        user_notes=_key(counter, "page", "blog", "created"), user_files=_key(counter, "file", "created"),
        total_cmnts_by_user=_key(counter, "total_comments_by_user"),
        cmts_on_user_notes=_key(counter, "page", "blog", "comments_gained"),
        cmts_on_user_files=_key(counter, "file", "comments_gained"),
        unique_users_commented_on_user_files=_py(lambda d: len(d.keys()),
                                                 _key(counter, "file", "comments_by_others_on_res")),
        total_notes_read_by_user=_key(counter, "page", "blog", "visits_on_others_res"),
        total_files_viewed_by_user=_key(counter, "file", "visits_on_others_res"),
        other_viewing_my_files=_key(counter, "file", "visits_gained"),
        others_reading_my_notes=_key(counter, "page", "blog", "visits_gained"),
        commented_on_others_notes=_key(counter, "page", "blog", "commented_on_others_res"),
        commented_on_others_files=_key(counter, "file", "commented_on_others_res"),
        total_rating_rcvd_on_notes=_key(counter, "page", "blog", "avg_rating_gained"),
        total_rating_rcvd_on_files=_key(counter, "file", "avg_rating_gained"))
    columns["cmnts_rcvd_by_user"] = _py(lambda a, b: a + b, columns["cmts_on_user_notes"], columns["cmts_on_user_files"])
    _key(counter, "group_points")
    _user_points(counter)
    return columns


def _user_points(counter: dict) -> None:
    """``Counter.get_all_user_points_dict()``, computed for nothing but able to raise: files,
    notes, then assessment points when ``assessment`` is non-empty (else quiz points), then
    comments. ``get_assessment_points`` handles a missing ``correct`` with ``"...".forma``, an
    AttributeError: an entry without ``correct`` skips the user."""
    _py(lambda v: v * _POINTS, _key(counter, "file", "created"))
    _py(lambda v: v * _POINTS, _key(counter, "page", "blog", "created"))
    if counter.get("assessment"):
        last = 0
        for entry in _py(iter, counter["assessment"]):
            try:
                last = entry["correct"]
            except Exception:  # gStudio's handler itself raises
                raise UserSkipped("AttributeError: 'str' object has no attribute 'forma'") from None
        _py(lambda v: v * _POINTS, last)
    else:
        _py(lambda v: v * _POINTS, _key(counter, "quiz", "correct"))
    _py(lambda v: v * _POINTS, _key(counter, "total_comments_by_user"))


def user_attributes(school: School, username: object) -> dict[str, object]:
    """first_name, last_name, enrollment_code, educationallevel: the GAttributes (PUBLISHED or
    DELETED) of the Group/Author node named ``username``, the last one of each type winning, in
    natural order (as for ``total_assessment_items``, the compound index would put DELETED first).
    Any exception (several nodes of that name, several AttributeTypes of one name, a triple
    without ``object_value``) leaves all four blank, as does a name no node has."""
    values: dict[str, object] = dict.fromkeys(USER_ATTRIBUTES, "")
    subjects = [n for n in school.of_type("Group") if n.get("name") == username] + \
               [n for n in school.of_type("Author") if n.get("name") == username]
    if len(subjects) != 1:
        return values
    try:
        types = {_one_attribute_type(school, name): name for name in USER_ATTRIBUTES}
    except UserSkipped:
        return values
    found = dict(values)
    for t in school.attributes:
        if t.get("subject") == subjects[0]["_id"] and t.get("attribute_type") in types and t.get("status") in _STATUSES:
            if "object_value" not in t:
                return values
            found[types[t["attribute_type"]]] = t["object_value"]
    return found



def _buddies(school: School, user_id: int, now: dt.datetime) -> tuple[str, str]:
    """``Buddy.get_buddy_userids_list_within_datetime(user, now)``: Buddy records of the user with
    ``starts_at <= now`` and ``ends_at`` null or ``>= now``; a buddy counts when one of its
    in/out entries has no ``out`` and ``in < now``, or ``in < now < out``. Their Authors' user ids
    in ascending Author ``_id`` order (``$in``), and the names of the Authors with those user ids.

    ``now`` is the export's own clock, so a dump cannot give the values gStudio wrote; they are
    computed for the run's time (``--now``)."""
    auth_ids: set[ObjectId] = set()
    for b in school.buddies_of(user_id):
        starts, ends = b.get("starts_at"), b.get("ends_at")
        if not (isinstance(starts, dt.datetime) and starts <= now
                and (ends is None or (isinstance(ends, dt.datetime) and ends >= now))):
            continue
        try:
            for key, ios in b["buddy_in_out"].items():
                for io in ios:
                    io_in, io_out = io["in"], io["out"]
                    if (not io_out and now > io_in) or (io_out and io_in < now < io_out):
                        auth_ids.add(ObjectId(key))
        except Exception as exc:  # a missing in/out, a bad id or time: gStudio raises for the user
            raise UserSkipped(f"{type(exc).__name__}: {exc}") from None
    if not auth_ids:
        return "[]", "[]"
    ids = [_key(school.nodes[i], "created_by") for i in sorted(auth_ids) if i in school.nodes]
    names = [a.get("name") for a in school.authors if a.get("created_by") in ids]
    if len(names) != len(ids):
        django = [u.username for u in school.auth_users if u.id in ids]
        names = max(names, django, key=len)
    return py2_repr(ids), py2_repr(names)


def unit_rows(school: School, unit: dict, now: dt.datetime, log: list[str]) -> tuple[list[str], list[list]]:
    ident = school.identity
    columns = activity_columns(school, unit)
    module_gst = school.gst_id("Module")
    # Modules in natural order (the facts leave natural or index order undetermined).
    modules = [m for m in school.of_type("GSystem")
               if module_gst in (m.get("member_of") or []) and unit["_id"] in (m.get("collection_set") or [])]
    # Counters.distinct('user_id') and each user's first Counter. MongoDB 3.x, which the field team's
    # servers ran, returns distinct values in the order a collection scan meets them; newer servers
    # sort them. Which version wrote a school's CSVs is undetermined (the facts say so): 3.x is taken.
    first_counter: dict[object, dict] = {}
    for c in school.counters:
        if c.get("group_id") == unit["_id"] and "user_id" in c:
            first_counter.setdefault(c["user_id"], c)
    # The same for every user: computed once, raised for each (every user of the unit is skipped).
    hierarchy, total = _once(unit_hierarchy, school, unit), _once(total_assessment_items, school, unit)
    rows = []
    for user_id, counter in first_counter.items():
        try:
            found = school.authors_by_user_id.get(user_id, [])
            if len(found) != 1:
                raise UserSkipped(f"{len(found)} Author nodes for user id {user_id}")
            row = dict.fromkeys(FIXED_HEADER, "NA")
            row.update(_lesson_progress(hierarchy(), set(_py(dict.keys, _key(counter, "visited_nodes")))))
            row.update(_assessments(counter, total()))
            row.update(_counter_columns(counter))
            attributes = user_attributes(school, found[0].get("name"))
            row.update(server_id=ident["server_id"], school_name=ident["school_name"], school_code=ident["school_code"],
                       module_name=py2_repr([_module_name(m) for m in modules]), unit_name=slugify(unit.get("name") or ""),
                       username=found[0].get("name"), user_id=user_id,
                       first_name=attributes["first_name"], last_name=attributes["last_name"],
                       roll_no=attributes["enrollment_code"], grade=attributes["educationallevel"],
                       enrollment_status="Yes" if user_id in (unit.get("author_set") or []) else "No")
            row["buddy_userids"], row["buddy_usernames"] = _buddies(school, user_id, now)
            visited = counter["visited_nodes"]
            rows.append([row[k] for k in FIXED_HEADER] + [visited.get(oid, 0) for oid in columns.values()])
        except UserSkipped as exc:
            log.append(f"{exc}\nUser with id: {user_id} does not exists!!")
    return FIXED_HEADER + list(columns), rows


def _once(fn: Callable[..., T], *args: object) -> Callable[[], T]:
    """``fn(*args)`` computed now; the returned function gives its value or raises its error."""
    try:
        value = fn(*args)
    except UserSkipped as exc:
        error = exc

        def fail() -> T:
            raise error
        return fail
    return lambda: value


def _module_name(module: dict) -> object:
    altnames = _key(module, "altnames")
    return altnames if isinstance(altnames, str) and altnames.strip() else module.get("name")


def write_progress_csvs(school: School, out_dir: str, now: dt.datetime) -> list[str]:
    """One file per announced unit that has rows; skipped users go to the log, as gStudio does."""
    written, log = [], []
    ident = school.identity
    for unit in announced_units(school):
        try:
            header, rows = unit_rows(school, unit, now, log)
        except CommandAborted as exc:  # gStudio's command stops with a traceback: no more units
            log.append(f"export_users_analytics stopped at unit {unit['_id']}: {exc}\n")
            break
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
