"""clix_derive against a small hand-made school whose expected CSVs were computed by hand, one
rule of gStudio's scripts per record (see the comments beside each record)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import bson
import pytest
from bson import ObjectId

from clix_derive import __main__ as cli
from clix_derive.formats import py2_repr, py2_str_float, slugify

NOW = dt.datetime(2026, 11, 25, 9, 7)
STAMP = "20261125-09h07m"


def oid(n: int) -> ObjectId:
    return ObjectId(f"{n:024x}")


ANNOUNCED, COURSE_EVENT, MODULE = oid(0xA1), oid(0xA2), oid(0xA3)
U1, U2, U3, U4 = oid(0x11), oid(0x12), oid(0x13), oid(0x14)
L1, L2, L3 = oid(0x21), oid(0x22), oid(0x23)
A1, A2, A3 = oid(0x31), oid(0x32), oid(0x33)
ALICE, BOB, CAROL, PILA, GRAY = oid(0x41), oid(0x42), oid(0x43), oid(0x44), oid(0x45)
PILA_NAME = "पीला-owl-mz1"
PILA_REPR = "u'\\u092a\\u0940\\u0932\\u093e-owl-mz1'"
T = dt.datetime(2018, 6, 4)


def node(_id, _type, name, **extra) -> dict:
    return {"_id": _id, "_type": _type, "name": name, "altnames": extra.pop("altnames", ""), "member_of": [],
            "collection_set": [], "created_by": extra.pop("created_by", 1), **extra}


NODES = [
    node(ANNOUNCED, "GSystemType", "announced_unit"),
    node(COURSE_EVENT, "GSystemType", "CourseEventGroup"),
    node(MODULE, "GSystemType", "Module"),
    node(U1, "Group", "English Elementary", member_of=[ANNOUNCED], collection_set=[L2, L1], author_set=[2]),
    node(U2, "Group", "परमाणु", member_of=[ANNOUNCED], collection_set=[L3], author_set=[]),  # slug ''
    node(U3, "Group", "Old Course", member_of=[COURSE_EVENT], collection_set=[], author_set=[]),  # never a file
    node(U4, "Group", "Unvisited Unit", member_of=[ANNOUNCED], collection_set=[], author_set=[]),  # no counters
    node(L1, "GSystem", "Lesson One", altnames="L-One Alt", collection_set=[A1, A2]),
    node(L2, "GSystem", "Lesson Two"),  # no activities: always counts as visited
    node(L3, "GSystem", "Lesson Three", collection_set=[A3]),
    node(A1, "GSystem", "Activity 1", altnames="Act One"),
    node(A2, "GSystem", "Activity 2"),
    node(A3, "GSystem", "Activity 3"),
    node(oid(0x51), "GSystem", "Science Module", member_of=[MODULE], collection_set=[U1]),
    node(ALICE, "Author", "red-ant-mz1", created_by=2),
    node(BOB, "Author", "blue-bat-mz1", created_by=3),
    node(CAROL, "Author", "green-cat-mz1", created_by=4),  # no Django row
    node(PILA, "Author", PILA_NAME, created_by=5),  # unicode name, never logged in
    node(GRAY, "Author", "gray-owl-mz1", created_by=7),  # an assessment entry without 'correct'
]

COUNTERS = [
    {"user_id": 2, "group_id": U1, "visited_nodes": {str(L1): 3, str(A1): 1, str(A2): 2},
     "quiz": {"attempted": 3, "correct": 2, "incorrect": 1},
     "assessment": [{"id": "i1", "correct": True, "failed_attempts": 0},
                    {"id": "i2", "correct": False, "failed_attempts": 1},
                    {"correct": True}]},  # old style: the sums stop here
    {"user_id": 3, "group_id": U1, "visited_nodes": {str(A1): 1}},
    {"user_id": 4, "group_id": U1, "visited_nodes": {}},
    {"user_id": 6, "group_id": U1, "visited_nodes": {}},  # no Author node: left out, logged
    {"user_id": 7, "group_id": U1, "visited_nodes": {}, "assessment": [{"id": "i1"}]},  # left out, logged
    {"user_id": 5, "group_id": U2, "visited_nodes": {}},
    {"user_id": 2, "group_id": U3, "visited_nodes": {}},
    {"user_id": 3, "group_id": U1, "visited_nodes": {str(A1): 1, str(A2): 1}},  # a second Counter: the first counts
]

TRIPLES = [
    {"_type": "GAttribute", "name": "first_name", "subject": ALICE, "object_value": "Alice"},
    {"_type": "GAttribute", "name": "enrollment_code", "subject": ALICE, "object_value": "R1"},
    {"_type": "GAttribute", "name": "educationallevel", "subject": ALICE, "object_value": "Class 9"},
]


def bench(n: int, user: str, session: str, url: str, name: str, when: dt.datetime, locale: str | None = "en") -> dict:
    return {"_id": oid(0x100 + n), "_type": "Benchmark", "name": name, "calling_url": url, "last_update": when,
            "user": user, "session_key": session, "locale": locale}


PLAYER = f"/{U1}/course/activity_player/{L1}"
BENCHMARKS = [
    bench(1, "red-ant-mz1", "s1", "/home/my-desk/", "my_desk", T.replace(hour=10)),
    bench(2, "red-ant-mz1", "s1", f"{PLAYER}/{A1}/", "activity_player_detail", T.replace(hour=10, second=10), "hi"),
    bench(3, "red-ant-mz1", "s1", f"{PLAYER}/{A2}/", "activity_player_detail",
          T.replace(hour=10, minute=1, second=40, microsecond=500000), None),  # no locale: 'en'
    bench(4, "red-ant-mz1", "s1", f"/{U1}/course/content/", "course_content",
          T.replace(hour=10, minute=3, second=10, microsecond=500000)),
    bench(5, "red-ant-mz1", "s2", f"{PLAYER}/{A1}/", "activity_player_detail", T.replace(hour=11), "te"),  # no out
    bench(6, "red-ant-mz1", "s3", f"{PLAYER}/", "activity_player_detail", T.replace(hour=12)),  # 6 parts: NA
    bench(7, "red-ant-mz1", "s4", f"/{U2}/course/activity_player/{L3}/{A3}/", "activity_player_detail",
          T.replace(hour=13)),
    bench(8, "nobody-mz1", "s9", f"{PLAYER}/{A1}/", "activity_player_detail", T.replace(hour=9)),
]

BUDDIES = [{"_type": "Buddy", "loggedin_userid": 2, "session_key": "s1", "starts_at": T.replace(hour=10),
            "ends_at": None, "buddy_in_out": {str(PILA): [{"in": T, "out": None}], str(BOB): [{"in": T, "out": None}]}}]

AUTH_USERS = f"""\
1\tx\t2018-06-02 10:00:00+05:30\tt\tadministrator\t\t\ta@b\tt\tt\t2018-05-01 10:00:00+05:30
2\tx\t2018-06-04 09:00:00+05:30\tf\tred-ant-mz1\t\t\t\tf\tt\t2018-05-01 10:00:00+05:30
3\tx\t2018-06-04 09:00:00+05:30\tf\tblue-bat-mz1\t\t\t\tf\tt\t2018-05-01 10:00:00+05:30
5\tx\t2018-05-01 10:00:00+05:30\tf\t{PILA_NAME}\t\t\t\tf\tt\t2018-05-01 10:00:00+05:30
7\tx\t2018-06-04 09:00:00+05:30\tf\tgray-owl-mz1\t\t\t\tf\tt\t2018-05-01 10:00:00+05:30
"""


@pytest.fixture()
def school(tmp_path: Path) -> Path:
    root = tmp_path / "archive" / "2026" / "mz" / "2031001-mz1"
    g = root / "gstudio"
    db = g / "db" / "gstudio-mongodb"
    db.mkdir(parents=True)
    for name, docs in (("Nodes", NODES), ("Counters", COUNTERS), ("Triples", TRIPLES),
                       ("Benchmarks", BENCHMARKS), ("Buddies", BUDDIES)):
        (db / f"{name}.bson").write_bytes(b"".join(bson.encode(d) for d in docs))
    (g / "postgres-dump").mkdir()
    (g / "postgres-dump" / "pg_dump_all.sql").write_text(
        "--\n\\connect gstudio_psql\n\nCOPY public.auth_user (id, password, last_login, is_superuser, username, "
        "first_name, last_name, email, is_staff, is_active, date_joined) FROM stdin;\n" + AUTH_USERS + "\\.\n\n")
    (g / "server_settings.py").write_text("GSTUDIO_INSTITUTE_ID = 'mz1'\nGSTUDIO_INSTITUTE_ID_SECONDARY = '2031001'\n"
                                          "GSTUDIO_INSTITUTE_NAME = 'GOVT. MIZO HIGH SCHOOL'\n")
    tools = g / "gstudio_tools_logs"
    (tools / "policesquad").mkdir(parents=True)
    (tools / "policesquad" / "2-policesquad.json").write_text(
        json.dumps([{"appName": "policesquad", "created_at": "2018-6-4 9:05:07", "event_type": "click"}]))
    (tools / "coins").mkdir()
    (tools / "coins" / "3-coins.json").write_text(
        json.dumps([{"app_name": "coins", "createdAt": "2018-6-5 10:00:00", "event_type": "start"}]))
    return root


def derive(school: Path) -> Path:
    assert cli.main(["archive", str(school), "--now", NOW.strftime("%Y-%m-%dT%H:%M"), "--jobs", "1"]) == 0
    return school.parents[2] / "derived" / "2026" / "mz" / "2031001-mz1"


def crlf(*lines: str) -> str:
    return "".join(line + "\r\n" for line in lines)


ACTIVITY_HEADER = "Unit,Lesson,Activity,Language,VisitedOn,OutTime,OutAction,TimeSpentInSeconds,Buddies"
BUDDY_CELL = f"\"[u'blue-bat-mz1', {PILA_REPR}]\""  # Author storage order, not buddy_in_out order


def test_activity_timestamps_follow_gstudio_rules(school: Path) -> None:
    out = derive(school) / "activity-timestamp-csvs"
    files = sorted(p.name for p in out.iterdir())
    # Counter users with a Django row; carol (no auth_user row) and user 6 (no Author) get none.
    assert files == sorted(f"mz1-{u}-activity-visits-{STAMP}.csv"
                           for u in ("red-ant-mz1", "blue-bat-mz1", PILA_NAME, "gray-owl-mz1"))
    alice = (out / f"mz1-red-ant-mz1-activity-visits-{STAMP}.csv").read_bytes().decode()
    assert alice == crlf(
        ACTIVITY_HEADER,
        # newest first; Devanagari-only unit name slugifies to ''; no out-event: NA; no Buddy record: NA
        "%s,lesson-three,activity-3,en,2018-06-04 13:00:00,NA,NA,NA,NA" % "",
        # a URL of 6 parts: NA everywhere but Language and VisitedOn
        "NA,NA,NA,en,2018-06-04 12:00:00,NA,NA,NA,NA",
        "english-elementary,lesson-one,act-one,te,2018-06-04 11:00:00,NA,NA,NA,NA",
        # Lesson uses name (not altnames), Activity altnames or name; microseconds printed; str(float)
        "english-elementary,lesson-one,activity-2,en,2018-06-04 10:01:40.500000,2018-06-04 10:03:10.500000,"
        f"course_content,90.0,{BUDDY_CELL}",
        # the next visit ends this one
        "english-elementary,lesson-one,act-one,hi,2018-06-04 10:00:10,2018-06-04 10:01:40.500000,"
        f"activity_player_detail,90.5,{BUDDY_CELL}",
    )
    assert (out / f"mz1-blue-bat-mz1-activity-visits-{STAMP}.csv").read_bytes().decode() == crlf(ACTIVITY_HEADER)


def test_activity_timestamps_for_given_users(school: Path, tmp_path: Path) -> None:
    out = tmp_path / "one"
    assert cli.main(["archive", str(school), "--only", "activity", "--users", "blue-bat-mz1,green-cat-mz1",
                     "--now", "2026-11-25T09:07", "--out", str(out)]) == 0
    assert [p.name for p in (out / "activity-timestamp-csvs").iterdir()] == [f"mz1-blue-bat-mz1-activity-visits-{STAMP}.csv"]


# The progress CSVs and the MIT activity data: test_derive_progress.py and test_derive_mit.py.


def test_formats_of_python_2() -> None:
    assert slugify("Atomic Structure: Part 1!") == "atomic-structure-part-1"
    assert slugify("परमाणु संरचना") == ""
    assert slugify("Café  -- au lait") == "cafe-au-lait"
    assert py2_repr(["a", "पी", 3]) == "[u'a', u'\\u092a\\u0940', 3]"
    assert py2_repr(["it's"]) == "[u\"it's\"]"
    assert [py2_str_float(x) for x in (225.0, 59.001, 1 / 3, 1e16)] == ["225.0", "59.001", "0.333333333333", "1e+16"]


def test_a_school_without_a_dump_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "2026" / "mz" / "2031001-mz1" / "gstudio").mkdir(parents=True)
    assert cli.main(["archive", str(tmp_path / "2026" / "mz")]) == 1
    assert "collect.yml --tags db" in capsys.readouterr().err


def test_no_school_under_the_path_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["archive", str(tmp_path)]) == 2
    assert "no collected school" in capsys.readouterr().err
