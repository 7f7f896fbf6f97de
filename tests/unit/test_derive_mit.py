"""single_school_get_MIT_activity_data.py (activity-data.csv) against a hand-made school; each
record carries the rule it makes visible, the expected CSV was worked out by hand from the script."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import bson
from bson import ObjectId

from clix_derive import __main__ as cli
from clix_derive import textsearch
from clix_derive.formats import py2_dict_order, python_slugify


def oid(n: int) -> ObjectId:
    return ObjectId(f"{n:024x}")


U1, L1, A1, A2 = oid(0x11), oid(0x21), oid(0x31), oid(0x32)
GREEN, RED, BLUE = oid(0x41), oid(0x42), oid(0x43)  # Author _ids: green-cat sorts before blue-bat
D = dt.datetime(2018, 6, 4)

NODES = [
    {"_id": U1, "_type": "Group", "name": "English Elementary", "altnames": ""},
    {"_id": L1, "_type": "GSystem", "name": "Lesson One", "altnames": "L One"},
    {"_id": A1, "_type": "GSystem", "name": "Activity 1", "altnames": "Act One"},  # the MIT script takes name
    {"_id": A2, "_type": "GSystem", "name": "Activity 2"},
    {"_id": RED, "_type": "Author", "name": "red-ant-mz1", "created_by": 2},
    {"_id": BLUE, "_type": "Author", "name": "blue-bat-mz1", "created_by": 3},
    {"_id": GREEN, "_type": "Author", "name": "green-cat-mz1", "created_by": 4},
]


def bench(n: int, user: str, url: str, when: dt.datetime, session: str = "s1") -> dict:
    return {"_id": oid(0x100 + n), "_type": "Benchmark", "name": "activity_player_detail", "calling_url": url,
            "last_update": when, "user": user, "session_key": session, "locale": "en"}


P = f"/{U1}/course"
BENCHMARKS = [
    bench(1, "red-ant-mz1", f"{P}/activity_player/{L1}/{A1}/", D.replace(hour=10, second=10)),
    bench(2, "red-ant-mz1", f"{P}/activity_players/{L1}/{A2}/", D.replace(hour=13)),  # stems to activity_play
    bench(3, "red-ant-mz1", f"{P}/ACTIVITY_PLAYER/{L1}/{A1}/", D.replace(hour=13, minute=5)),  # case folded
    bench(4, "red-ant-mz1", f"{P}/activity-player/{L1}/{A1}/", D.replace(hour=11)),  # two words: no match
    bench(5, "red-ant-mz1", f"{P}/activity_player_detail/{L1}/{A1}/", D.replace(hour=11, minute=30)),  # no match
    bench(6, "red-ant-mz1", "/x/activity_player", D.replace(hour=12)),  # matches, but does not end with '/'
    bench(7, "red-ant-mz1", "/home/activity_player/", D.replace(hour=12, minute=30)),  # 4 parts: NA / NA / NA
    bench(8, "blue-bat-mz1", f"{P}/activity_player/{L1}/{A1}/", D.replace(day=5, hour=9), "s2"),
    bench(9, "Blue-Bat-mz1", f"{P}/activity_player/{L1}/{A1}/", D.replace(day=5, hour=9), "s3"),  # other user
]

# Red's session s1 had buddies: green-cat (never logged in) and blue-bat get copies of its 7-part visits.
BUDDIES = [{"_type": "Buddy", "loggedin_userid": 2, "session_key": "s1", "starts_at": D, "ends_at": None,
            "buddy_in_out": {str(BLUE): [{"in": D, "out": None}], str(GREEN): [{"in": D, "out": None}]}}]

JOINED = "2018-05-01 10:00:00+05:30"
AUTH_USERS = [  # id, last_login, username, date_joined: as pg_dumpall writes them
    ("1", "2018-06-02 10:00:00+05:30", "administrator", JOINED),
    ("2", "2018-06-04 09:00:00+05:30", "red-ant-mz1", JOINED),
    ("4", JOINED, "green-cat-mz1", JOINED),  # never logged in
    ("3", "2018-06-04 09:00:00+05:30", "blue-bat-mz1", JOINED),
    ("5", "\\N", "gray-owl-mz1", JOINED),  # \N differs from the date: listed
]


def make_school(tmp_path: Path, users: list[tuple] = AUTH_USERS, benchmarks: list[dict] = BENCHMARKS) -> Path:
    root = tmp_path / "archive" / "2026" / "mz" / "2031001-mz1"
    g = root / "gstudio"
    db = g / "db" / "gstudio-mongodb"
    db.mkdir(parents=True)
    for name, docs in (("Nodes", NODES), ("Benchmarks", benchmarks), ("Buddies", BUDDIES), ("Counters", []),
                       ("Triples", [])):
        (db / f"{name}.bson").write_bytes(b"".join(bson.encode(d) for d in docs))
    rows = "".join(f"{i}\tpbkdf2\t{last}\tf\t{name}\t\t\t\tf\tt\t{joined}\n" for i, last, name, joined in users)
    (g / "postgres-dump").mkdir()
    (g / "postgres-dump" / "pg_dump_all.sql").write_text(
        "COPY auth_user (id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, "
        f"is_active, date_joined) FROM stdin;\n{rows}\\.\n", encoding="utf-8")
    (g / "server_settings.py").write_text("GSTUDIO_INSTITUTE_ID = 'mz1'\nGSTUDIO_INSTITUTE_ID_SECONDARY = '2031001'\n"
                                          "GSTUDIO_INSTITUTE_NAME = 'x'\n")
    tools = g / "gstudio_tools_logs"
    for rel, entries in (
            ("policesquad/2-policesquad.json", [{"appName": "policesquad", "created_at": "2018-6-4 9:05:07"}]),
            ("coins/2.json", [{"app_name": "coins", "createdAt": "2018-6-4 9:00:00"}]),  # <id>.json first
            ("coins/2-coins.json", [{"app_name": "coins-not-read", "created_at": "2018-6-4 9:01:00"}]),
            ("moontrack/3-moontrack.json", [{"appName": "moontrack", "event_type": "start"}])):  # no time
        (tools / rel).parent.mkdir(parents=True, exist_ok=True)
        (tools / rel).write_text(json.dumps(entries))
    return root


def activity_data(school: Path) -> str | None:
    assert cli.main(["archive", str(school), "--only", "mit", "--now", "2026-11-25T09:07", "--jobs", "1"]) == 0
    path = school.parents[2] / "derived" / "2026" / "mz" / "2031001-mz1" / "qbank" / "student-activities" / "activity-data.csv"
    return path.read_bytes().decode("utf-8") if path.exists() else None


def crlf(*lines: str) -> str:
    return "".join(line + "\r\n" for line in lines)


def q(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


DAY = "Total Timestamps,Total Timespent (HH:MM:SS.microsec),Activities Viewed,Activity Timestamps"
BLANK = " , , , , "
ACT1, ACT2 = "english-elementary / lesson-one / activity-1", "english-elementary / lesson-one / activity-2"
# now + 5000*365 days, at now's time of day
FAR = "7023-08-01"


def test_activity_data_follows_the_script(tmp_path: Path) -> None:
    text = activity_data(make_school(tmp_path))
    red_names = "\r\n".join(["coins", "policesquad", ACT1, "NA / NA / NA", ACT2])
    red_stamps = "\r\n".join(json.dumps(s) for s in (
        ["2018-06-04 09:00:00 AM"], ["2018-06-04 09:05:07 AM"],
        ["2018-06-04 01:05:00 PM", "2018-06-04 10:00:10 AM"],  # sorted as strings: 01 PM before 10 AM
        ["2018-06-04 12:30:00 PM"], ["2018-06-04 01:00:00 PM"]))
    copy_day = ("2018-06-04,3,3:04:50," + q(f"{ACT1}\r\n{ACT2}") + ","
                + q(json.dumps(["2018-06-04 01:05:00 PM", "2018-06-04 10:00:10 AM"]) + "\r\n"
                    + json.dumps(["2018-06-04 01:00:00 PM"])))
    rows = {
        "administrator": f"administrator,1,{BLANK},{BLANK},{BLANK}",  # logged in, no blobs: single spaces
        "red-ant-mz1": f"red-ant-mz1,2,2018-06-04,6,4:05:00,{q(red_names)},{q(red_stamps)},{BLANK},{BLANK}",
        "green-cat-mz1": f"green-cat-mz1,4,{copy_day},{BLANK},{BLANK}",  # a buddy gets a row, id from the table
        "blue-bat-mz1": f"blue-bat-mz1,3,{copy_day},2018-06-05,1,0:00:00,{ACT1},"
                        + q(json.dumps(["2018-06-05 09:00:00 AM"])) + f",{FAR},1,0:00:00,moontrack,"
                        + q(json.dumps([f"{FAR} 09:07:00 AM"])),
        "gray-owl-mz1": f"gray-owl-mz1,5,{BLANK},{BLANK},{BLANK}",
    }
    # Rows in CPython 2.7's dict order for these keys inserted in this order (checked with python2.7).
    order = ["gray-owl-mz1", "administrator", "red-ant-mz1", "green-cat-mz1", "blue-bat-mz1"]
    assert text == crlf(f"Username,UserID,Date (2018-06-04),{DAY},Date (2018-06-05),{DAY},Date ({FAR}),{DAY}",
                        *(rows[u] for u in order))


def test_a_non_ascii_username_met_by_the_script_means_no_csv(tmp_path: Path) -> None:
    users = [*AUTH_USERS[:2], ("6", JOINED, "हरा-owl-mz1", JOINED), *AUTH_USERS[2:]]  # never logged in
    # The buddy lookup for green-cat reads the table's rows up to its own: unicode() of the Hindi one raises.
    assert activity_data(make_school(tmp_path, users)) is None


def test_a_visit_whose_session_has_no_out_record_means_no_csv(tmp_path: Path) -> None:
    no_course = bench(10, "gray-owl-mz1", f"/{U1}/x/activity_player/{L1}/{A1}/", D, "s9")  # no 'course' word
    assert activity_data(make_school(tmp_path, benchmarks=[*BENCHMARKS, no_course])) is None


def test_text_search_words_and_stems() -> None:
    assert textsearch.words("/U1/Course/activity_player/my-desk/l'a/") == ["u1", "course", "activity_player", "my",
                                                                         "desk", "l'a"]
    visit = textsearch.query_terms("activity_player")
    out = textsearch.query_terms("course my-desk explore tool-page content")
    assert visit == {"activity_play"} and out == {"cours", "desk", "explor", "tool", "page", "content"}
    assert [textsearch.matches(u, visit) for u in ("/a/activity_playing/", "/a/Activity_Play", "/a/activityplayer/",
                                                    "/a/activity-player/", None)] == [True, True, False, False, False]
    assert textsearch.matches("/my/", textsearch.query_terms("my")) is False  # stop words never match


def test_python_2_dict_order_and_slugify() -> None:
    # Orders printed by CPython 2.7.18 (64-bit, UCS-4) for dict.fromkeys(keys).keys().
    assert py2_dict_order(["one", "two", "three", "four", "five"]) == ["four", "three", "five", "two", "one"]
    assert py2_dict_order([str(i) for i in range(20)]) == [
        "11", "10", "13", "12", "15", "14", "17", "16", "19", "18", "1", "0", "3", "2", "5", "4", "7", "6", "9", "8"]
    assert python_slugify("Atomic Structure: it's 1,000 &amp; Café") == "atomic-structure-it-s-1000-cafe"
    # As python-slugify 1.2.5 gives them on CPython 2.7: character references decoded, unless one
    # is past unichr's range (then none is).
    assert python_slugify("Caf&#233; &#x41;") == "cafe-a"
    assert python_slugify("a&#233;b &#999999999; c") == "a-233-b-999999999-c"


# Names as CLIx's units, lessons and activities are written (English, Hindi, Telugu, Mizo).
NAMES = ["ध्वनि (Sound)", "परमाणु संरचना", "परमाणु संरचना Lesson 1", "పరమాణు నిర్మాణం", "Ṭhu leh hla: 1,000 'quotes'",
         "Geometric Reasoning Part I", "Activity 1.1", "Café au lait", "  --Ice-cubes--in   lemonade--  ", "गतिविधि 1.1",
         "Ecosystem &amp; health", "x&#x41;y", "", "Ελληνικά", "日本語"]


def test_mit_labels_are_transliterated_as_python_slugify_1_2_5_with_unidecode_1_0_22() -> None:
    from importlib.metadata import version

    from slugify import slugify  # the package itself, the oracle (requirements.txt pins it)

    assert (version("python-slugify"), version("Unidecode")) == ("1.2.5", "1.0.22")
    assert python_slugify("ध्वनि (Sound)") == "dhvni-sound"  # NFKD alone kept only "sound"
    for name in NAMES:
        assert python_slugify(name) == slugify(name), name
    # Where Python 3 runs the package differently from the script's Python 2: a character reference
    # to an accented letter keeps, under Python 3, its accent as a dash; Python 2 drops it.
    assert (slugify("caf&eacute;s"), python_slugify("caf&eacute;s")) == ("cafe-s", "cafes")
