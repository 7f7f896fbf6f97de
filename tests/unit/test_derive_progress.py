"""export_users_analytics (progress CSVs) against a hand-made school; each record carries the rule
it makes visible, and the expected CSVs were worked out by hand from gStudio's source."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import bson
import pytest
from bson import ObjectId

from clix_derive import __main__ as cli

STAMP = "20261125-09h07m"
T = dt.datetime(2018, 6, 4, 10, 0)


def oid(n: int) -> ObjectId:
    return ObjectId(f"{n:024x}")


ANNOUNCED, MODULE_GST, TRANSLATION_OF = oid(0xA1), oid(0xA3), oid(0xA4)
AT_TOTAL, AT_FIRST, AT_ROLL = oid(0xB1), oid(0xB2), oid(0xB3)
U1, U2 = oid(0x11), oid(0x12)
L1, L2, L3, L4, L_GONE = oid(0x21), oid(0x22), oid(0x23), oid(0x24), oid(0x2F)
A1, A2, A3, A4, A_GONE = oid(0x31), oid(0x32), oid(0x33), oid(0x34), oid(0x3F)
ALICE, BOB, CAROL, DAN, FRED, GINA, GINA2 = (oid(0x41), oid(0x42), oid(0x43), oid(0x44), oid(0x46), oid(0x47),
                                             oid(0x48))


def node(_id: ObjectId, _type: str, name: str, **extra) -> dict:
    return {"_id": _id, "_type": _type, "name": name, "altnames": extra.pop("altnames", ""), "member_of": [],
            "collection_set": [], "language": ["en", "English"], **extra}


NODES = [
    node(ANNOUNCED, "GSystemType", "announced_unit"),
    node(MODULE_GST, "GSystemType", "Module"),
    node(TRANSLATION_OF, "RelationType", "translation_of", object_cardinality=100),
    node(AT_TOTAL, "AttributeType", "total_assessment_items"),
    node(AT_FIRST, "AttributeType", "first_name"),
    node(AT_ROLL, "AttributeType", "enrollment_code"),
    # Lessons in collection_set order L2, L1; an id without a node; L4 without activities.
    node(U1, "Group", "English Elementary", member_of=[ANNOUNCED], collection_set=[L2, L1, L_GONE, L4],
         author_set=[2]),
    node(U2, "Group", "परमाणु", member_of=[ANNOUNCED], collection_set=[L3], author_set=[]),  # slug ''
    # Activities stored A3, A2, A1 and listed A3, A1, A3: the columns come in ObjectId order.
    node(A3, "GSystem", "Activity 3", altnames="  "),  # blank after strip: the name
    node(A2, "GSystem", "Activity 2", altnames="Act Two "),  # altnames kept as they are
    node(A1, "GSystem", "Activity 1"),
    node(A4, "GSystem", "गतिविधि"),
    node(L1, "GSystem", "Lesson One", collection_set=[A3, A1, A3]),  # a repeated activity counts twice
    node(L2, "GSystem", "Lesson Two", collection_set=[A2, A_GONE], language=["hi", "Hindi"]),
    node(L3, "GSystem", "Lesson Three", collection_set=[A4]),
    node(L4, "GSystem", "Lesson Four"),  # no activities: always counts as visited
    node(oid(0x51), "GSystem", "Module A", altnames="Mod A", member_of=[MODULE_GST], collection_set=[U1]),
    node(oid(0x52), "GSystem", "Sci", member_of=[MODULE_GST], collection_set=[U1]),
    node(ALICE, "Author", "red-ant-mz1", created_by=2),
    node(BOB, "Author", "blue-bat-mz1", created_by=3),
    node(CAROL, "Author", "green-cat-mz1", created_by=4),
    node(DAN, "Author", "pink-dog-mz1", created_by=5),
    node(FRED, "Author", "gray-owl-mz1", created_by=7),
    node(GINA, "Author", "red-fox-mz1", created_by=8),
    node(GINA2, "Author", "red-fox-mz1-again", created_by=8),  # two Authors for one user id
]


def counter(user_id: int, unit: ObjectId, visited: dict, **fields) -> dict:
    """A Counter with a distinct value in every field, so each column shows which field feeds it."""
    doc = {"_type": "Counter", "user_id": user_id, "group_id": unit, "visited_nodes": {str(k): v for k, v in visited.items()},
           "group_points": 5, "total_comments_by_user": 31, "quiz": {"attempted": 41, "correct": 42, "incorrect": 43},
           "file": {"created": 11, "visits_gained": 12, "visits_on_others_res": 13, "comments_gained": 14,
                    "commented_on_others_res": 15, "comments_by_others_on_res": {"a": 1, "b": 2},
                    "avg_rating_gained": 3.67, "rating_count_received": 99},
           "page": {"blog": {"created": 21, "visits_gained": 22, "visits_on_others_res": 23, "comments_gained": 24,
                             "commented_on_others_res": 25, "avg_rating_gained": 0}},
           "assessment": []}
    doc.update(fields)
    return doc


COUNTERS = [  # rows follow the first appearance of each user id: bob before alice
    counter(3, U1, {A1: 1}, assessment=[{"correct": 1, "notapplicable": 0, "incorrect": 0, "attempted": 1}]),
    counter(2, U1, {A1: 2, A3: 0, A2: 1},  # A3 visited 0 times is still visited
            assessment=[{"correct": 1, "notapplicable": 0, "incorrect": 2, "attempted": 3},
                        {"correct": 1, "notapplicable": 1, "incorrect": 0}]),  # no 'attempted': the sums stop
    counter(4, U1, {}, assessment=[{"id": "i1", "failed_attempts": 0}]),  # no 'correct': the .forma bug
    {k: v for k, v in counter(5, U1, {}).items() if k != "page"},  # a Counter missing a field
    counter(6, U1, {}),  # no Author
    counter(7, U1, {A2: 5}, assessment=[{"id": "i1", "correct": True, "failed_attempts": 0}]),  # real schema
    counter(8, U1, {}),  # two Authors
    counter(2, U2, {A4: 3}),
    counter(3, U1, {A1: 9, A2: 9}),  # a second Counter of a user: the first one counts
]

TRIPLES = [
    {"_type": "GAttribute", "subject": U1, "attribute_type": AT_TOTAL, "object_value": 99, "status": "DRAFT"},
    {"_type": "GAttribute", "subject": U1, "attribute_type": AT_TOTAL, "object_value": 10, "status": "PUBLISHED"},
    {"_type": "GAttribute", "subject": ALICE, "attribute_type": AT_FIRST, "object_value": "Alice", "status": "PUBLISHED"},
    {"_type": "GAttribute", "subject": ALICE, "attribute_type": AT_FIRST, "object_value": "Alicia", "status": "PUBLISHED"},
    {"_type": "GAttribute", "subject": ALICE, "attribute_type": AT_ROLL, "object_value": "R1", "status": "DELETED"},
]

BUDDIES = [
    {"_type": "Buddy", "loggedin_userid": 2, "session_key": "s1", "starts_at": T, "ends_at": None,
     "buddy_in_out": {str(FRED): [{"in": T, "out": T.replace(hour=11)}],  # out before now: not a buddy now
                      str(BOB): [{"in": T, "out": None}]}},
    {"_type": "Buddy", "loggedin_userid": 3, "session_key": "s2", "starts_at": T, "ends_at": T.replace(hour=12),
     "buddy_in_out": {str(ALICE): [{"in": T, "out": None}]}},  # ended before now
]


def make_school(tmp_path: Path, nodes: list[dict] = NODES) -> Path:
    root = tmp_path / "archive" / "2026" / "mz" / "2031001-mz1"
    db = root / "gstudio" / "db" / "gstudio-mongodb"
    db.mkdir(parents=True)
    for name, docs in (("Nodes", nodes), ("Counters", COUNTERS), ("Triples", TRIPLES), ("Buddies", BUDDIES),
                       ("Benchmarks", [])):
        (db / f"{name}.bson").write_bytes(b"".join(bson.encode(d) for d in docs))
    (root / "gstudio" / "postgres-dump").mkdir()
    (root / "gstudio" / "postgres-dump" / "pg_dump_all.sql").write_text(
        "COPY auth_user (id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, "
        "is_active, date_joined) FROM stdin;\n\\.\n")
    (root / "gstudio" / "server_settings.py").write_text(
        "GSTUDIO_INSTITUTE_ID = 'mz1'\nGSTUDIO_INSTITUTE_ID_SECONDARY = '2031001'\n"
        "GSTUDIO_INSTITUTE_NAME = 'GOVT. MIZO HIGH SCHOOL'\n")
    return root


def progress(school: Path) -> tuple[dict[str, str], str]:
    assert cli.main(["archive", str(school), "--only", "progress", "--now", "2026-11-25T09:07", "--jobs", "1"]) == 0
    out = school.parents[2] / "derived" / "2026" / "mz" / "2031001-mz1"
    folder = out / "gstudio-exported-users-analytics-csvs"
    files = {p.name: p.read_bytes().decode("utf-8") for p in folder.iterdir()} if folder.exists() else {}
    log = out / "gstudio-logs" / "export_users_analytics.log"
    return files, log.read_text() if log.exists() else ""


def crlf(*lines: str) -> str:
    return "".join(line + "\r\n" for line in lines)


FIXED = ("server_id,school_name,school_code,module_name,unit_name,username,user_id,first_name,last_name,roll_no,"
         "grade,enrollment_status,buddy_userids,buddy_usernames,total_lessons,lessons_visited,"
         "percentage_lessons_visited,total_activities,activities_visited,percentage_activities_visited,"
         "total_quizitems,visited_quizitems,attempted_quizitems,unattempted_quizitems,"
         "correct_attempted_quizitems,notapplicable_quizitems,incorrect_attempted_quizitems,user_files,"
         "total_files_viewed_by_user,other_viewing_my_files,unique_users_commented_on_user_files,"
         "total_rating_rcvd_on_files,commented_on_others_files,cmts_on_user_files,total_cmnts_by_user,"
         "user_notes,others_reading_my_notes,cmts_on_user_notes,cmnts_rcvd_by_user,total_notes_read_by_user,"
         "commented_on_others_notes,total_rating_rcvd_on_notes,correct_attempted_assessments,"
         "unattempted_assessments,visited_assessments,notapplicable_assessments,"
         "incorrect_attempted_assessments,attempted_assessments,total_assessment_items")
SCHOOL = "mz1,GOVT. MIZO HIGH SCHOOL,2031001"
QUIZ = "0,0,0,0,0,0,0"  # the quiz columns stay 0 for announced units
# user_files=file.created, total_files_viewed_by_user=file.visits_on_others_res, other_viewing_my_files=
# file.visits_gained, unique_users...=len(file.comments_by_others_on_res), total_rating_rcvd_on_files=
# file.avg_rating_gained, commented_on_others_files, cmts_on_user_files=file.comments_gained,
# total_cmnts_by_user, user_notes=page.blog.created, others_reading_my_notes=page.blog.visits_gained,
# cmts_on_user_notes, cmnts_rcvd_by_user=14+24, total_notes_read_by_user, commented_on_others_notes,
# total_rating_rcvd_on_notes=page.blog.avg_rating_gained
COUNTS = "11,13,12,2,3.67,15,14,31,21,22,24,38,23,25,0"
U1_NAME = f"{STAMP}.csv"


def test_progress_csv_columns_and_values(tmp_path: Path) -> None:
    files, _ = progress(make_school(tmp_path))
    assert sorted(files) == [f"2031001-mz1--{STAMP}.csv", f"2031001-mz1-english-elementary-{STAMP}.csv"]
    modules = "\"[u'Mod A', u'Sci']\""
    assert files[f"2031001-mz1-english-elementary-{STAMP}.csv"] == crlf(
        f"{FIXED},Activity 1 [{A1}],Act Two  [{A2}],Activity 3 [{A3}]",
        # 3 lessons (L2, L1, L4; the missing one skipped), 4 activity entries (A2, A3, A1, A3);
        # bob: L4 only, and A1 counted once: 1/3 and 1/4. Assessments: 1 correct, 10 - 1 unattempted.
        f"{SCHOOL},{modules},english-elementary,blue-bat-mz1,3,,,,,No,[],[],3,1,33.33333333333333,4,1,25.0,"
        f"{QUIZ},{COUNTS},1,9,0,0,0,1,10,1,0,0",
        # alice: every entry visited; the last first_name wins; a DELETED roll number counts; the
        # partial sums of the entry without 'attempted' are kept and unattempted stays 0.
        f"{SCHOOL},{modules},english-elementary,red-ant-mz1,2,Alicia,,R1,,Yes,[3],[u'blue-bat-mz1'],3,3,100.0,4,4,"
        f"100.0,{QUIZ},{COUNTS},2,0,0,1,2,3,10,2,1,0",
        # fred: the real schema's entries only add 'correct' before the KeyError on 'notapplicable'.
        f"{SCHOOL},{modules},english-elementary,gray-owl-mz1,7,,,,,No,[],[],3,2,66.66666666666666,4,1,25.0,"
        f"{QUIZ},{COUNTS},1,0,0,0,0,0,10,0,5,0",
    )
    assert files[f"2031001-mz1--{STAMP}.csv"] == crlf(
        f"{FIXED},गतिविधि [{A4}]",
        f"{SCHOOL},[],,red-ant-mz1,2,Alicia,,R1,,No,[3],[u'blue-bat-mz1'],1,1,100.0,1,1,100.0,{QUIZ},{COUNTS},"
        "0,0,0,0,0,0,0,3",
    )


def test_users_gstudio_raises_for_are_left_out_and_logged(tmp_path: Path) -> None:
    _, log = progress(make_school(tmp_path))
    skipped = sorted(int(m) for m in re.findall(r"User with id: (\d+) does not exists!!", log))
    # 4: an assessment entry without 'correct'; 5: a Counter without 'page'; 6: no Author; 8: two Authors.
    assert skipped == [4, 5, 6, 8]
    assert "forma" in log


def _without(nodes: list[dict], _id: ObjectId, key: str) -> list[dict]:
    return [{k: v for k, v in n.items() if not (n["_id"] == _id and k == key)} for n in nodes]


def test_without_translation_of_every_user_of_a_unit_with_lessons_is_skipped(tmp_path: Path) -> None:
    files, log = progress(make_school(tmp_path, [n for n in NODES if n["_id"] != TRANSLATION_OF]))
    assert files == {}
    assert "User with id: 2 does not exists!!" in log


def test_a_lesson_without_language_skips_the_units_users(tmp_path: Path) -> None:
    files, _ = progress(make_school(tmp_path, _without(NODES, L3, "language")))
    assert sorted(files) == [f"2031001-mz1-english-elementary-{STAMP}.csv"]


@pytest.mark.parametrize(("missing", "key"), [(A1, "altnames"), (L4, "collection_set")])
def test_an_activity_without_altnames_or_a_lesson_without_collection_set_stops_the_command(
        tmp_path: Path, missing: ObjectId, key: str) -> None:
    files, log = progress(make_school(tmp_path, _without(NODES, missing, key)))
    assert files == {}  # U1 comes first: neither unit gets a file
    assert f"stopped at unit {U1}" in log
