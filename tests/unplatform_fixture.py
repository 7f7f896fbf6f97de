"""A small, hand-made school of two unplatform lab PCs, whose derived CSVs were computed by hand
(tests/unit/data/unplatform-derived/<pc>/*.csv; the reasoning is in the comments below).

pc01, one v2 install (opt-clix):
  aaaa1111  three students typing "100, 120, and 97" (userCount 3): the UI then logs under the typed
            names; content-player events (a repeated place is one visit; going back is a new one),
            a tool, and a "finished" click (its end)
  bbbb2222  a Devanagari username; no finish event; its entries cross IST midnight
  ffff6666  the same username later: the entry logged after it started is its own
  dddd4444  a teacher without a typed name (logged under the session id); ends with "Select User"
  cccc3333  only in the sessions table
  eeee5555  log entries of an agent no user data names; an upload response (AssessmentSection with
            fileIds, the file in studentResponseFiles/); a torn LogEntry and a link (both rejected)
pc02, two v2 installs (a-old, b-new: the same LogEntry file in both counts once, the first install's
  user data wins) and a 2016 install (v1-app: research_uuid, research_user, research_appdata).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from ansible.module_utils import clix_unplatform as U

EXPECTED = Path(__file__).resolve().parent / "unit" / "data" / "unplatform-derived"
SCHOOL = "2031009-mz9"


def _ts(day: str, hms: str, micro: int = 0) -> dict:
    y, mo, d = (int(x) for x in day.split("-"))
    h, mi, s = (int(x) for x in hms.split(":"))
    return {"year": y, "month": mo, "day": d, "hour": h, "minute": mi, "second": s, "microsecond": micro,
            "tzinfo": None}


def _entry(agent_quoted: str, when: dict, event: dict) -> dict:
    """A qbank LogEntry as dlkit stores it (text.text is the event, as JSON text)."""
    return {"_id": "x", "timestamp": when, "agentId": "osid.agent.Agent%3A" + agent_quoted + "%40MIT-ODL",
            "assignedLogIds": ["logging.Log%3Adefault%40ODL.MIT.EDU"],
            "genusTypeId": "GenusType%3ADEFAULT%40DLKIT.MIT.EDU",
            "recordTypeIds": ["logging.LogEntry%3Atext-blob%40ODL.MIT.EDU"],
            "text": {"text": json.dumps(event, ensure_ascii=False), "languageTypeId": "639-2%3AENG%40ISO"}}


def _write(path: Path, doc) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def _sessions_db(path: Path, ids: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE sessions (session_id char(128) UNIQUE NOT NULL, "
                "atime timestamp NOT NULL default current_timestamp, data text)")
    con.executemany("INSERT INTO sessions VALUES (?, '2018-07-09 10:00:00', 'x')", [(i,) for i in ids])
    con.commit()
    con.close()


GROUP = "100, 120, and 97"
GROUP_Q = "100%2C%20120%2C%20and%2097"
SUNITA = "सुनीता"
SUNITA_Q = "%E0%A4%B8%E0%A5%81%E0%A4%A8%E0%A5%80%E0%A4%A4%E0%A4%BE"
EB = {"unit": "Class 9 -- EB", "subject": "English -- Lesson 1"}
MATHS = {"unit": "Class 8 -- Maths", "subject": "Lesson 2"}


def pc01(install: Path) -> None:
    _sessions_db(install / U.V2_SESSIONS_DB, ["aaaa1111", "bbbb2222", "cccc3333"])
    users = install / U.V2_USER_DATA
    # user data timestamps are str(datetime.utcnow()): UTC, shown +05:30
    _write(users / "aaaa1111.json", {"userType": "student", "userCount": "3", "username": GROUP,
                                     "sessionId": "aaaa1111", "timestamp": "2018-07-09 04:30:00.250000"})
    _write(users / "bbbb2222.json", {"userType": "student", "userCount": 1, "username": SUNITA,
                                     "sessionId": "bbbb2222", "timestamp": "2018-07-09 18:00:00"})
    _write(users / "ffff6666.json", {"userType": "student", "userCount": "1", "username": SUNITA,
                                     "sessionId": "ffff6666", "timestamp": "2018-07-10 04:00:00"})
    _write(users / "dddd4444.json", {"userType": "teacher", "userCount": "1", "username": "",
                                     "sessionId": "dddd4444", "timestamp": "2018-07-10 05:00:00"})
    logs = install / U.V2_DATASTORE / "logging" / "LogEntry"
    g, s = {"sessionId": GROUP}, {"sessionId": SUNITA}
    d = {"sessionId": "dddd4444"}
    lesson = "/subjects/English/units/Class 9 -- EB/lessons/English -- Lesson 1"
    entries = {
        # aaaa1111, logged under the typed names
        "e01": (GROUP_Q, _ts("2018-07-09", "04:31:00"), {**g, "action": "click", "target": "Subject: English"}),
        "e02": (GROUP_Q, _ts("2018-07-09", "04:32:00"), {**g, "action": "play video", **EB, "activity": "Introduction"}),
        "e03": (GROUP_Q, _ts("2018-07-09", "04:33:10"), {**g, "action": "pause video", **EB, "activity": "Introduction"}),
        "e04": (GROUP_Q, _ts("2018-07-09", "04:35:00"), {**g, "action": "click nav", **EB, "activity": "Story Time"}),
        "e05": (GROUP_Q, _ts("2018-07-09", "04:40:00"), {**g, "action": "play audio", **EB, "activity": "Introduction"}),
        "e06": (GROUP_Q, _ts("2018-07-09", "04:45:30", 500000), {**g, "action": "click", "target": "Select tool: Police Quad"}),
        "e07": (GROUP_Q, _ts("2018-07-09", "04:50:00"), {**g, "appName": "unplatform", "action": "clicked_finished",
                                                        "params": {"url": lesson, "response": "yes"}}),
        # bbbb2222 (started 18:00 UTC): 23:50 and 00:10 IST
        "e08": (SUNITA_Q, _ts("2018-07-09", "18:20:00"), {**s, "action": "play video", **MATHS, "activity": "Activity 1"}),
        "e09": (SUNITA_Q, _ts("2018-07-09", "18:40:00"), {**s, "action": "play video", **MATHS, "activity": "Activity 2"}),
        # ffff6666 (started 04:00 UTC on the 10th)
        "e14": (SUNITA_Q, _ts("2018-07-10", "04:10:00"), {**s, "action": "click", "target": "Select Module"}),
        # dddd4444, logged under its session id
        "e10": ("dddd4444", _ts("2018-07-10", "05:01:00"), {**d, "action": "click", "target": "Select tool: Turtle Blocks"}),
        "e11": ("dddd4444", _ts("2018-07-10", "05:02:00"), {**d, "action": "click", "target": "Select User"}),
        # an agent no user data names
        "e12": ("eeee5555", _ts("2018-07-10", "06:00:00"), {"action": "pause audio", "mediaTime": 9.1}),
    }
    for name, (agent, when, event) in entries.items():
        _write(logs / f"{name}.json", _entry(agent, when, event))
    _write(logs / "e13.json", '{"_id": "e13", "timest')  # torn by qbank's in-place rewrite
    os.symlink("/etc/hostname", logs / "e15.json")  # a link is never followed
    store = install / U.V2_DATASTORE
    _write(store / "assessment" / "AssessmentSection" / "s1.json", {
        "_id": "s1", "assessmentTakenId": "assessment.AssessmentTaken%3At1%40ODL.MIT.EDU",
        "questions": [{"itemId": "assessment.Item%3Ai1%40ODL.MIT.EDU", "responses": [{
            "fileIds": {"rec.mp3": {"assetId": "repository.Asset%3Aa1%40ODL.MIT.EDU",
                                    "assetContentId": "repository.AssetContent%3Ac1%40ODL.MIT.EDU"}},
            "submissionTime": _ts("2018-07-09", "04:44:00"), "isCorrect": None}]}]})
    (store / "studentResponseFiles").mkdir(parents=True)
    (store / "studentResponseFiles" / "rec.mp3").write_bytes(b"ID3\x03\x00\x00\x00" + bytes(64))
    _write(install / U.V2_CONFIG, {"state": "mz", "district": "", "schoolId": "2031009", "terminalId": "pc01",
                                   "locale": "en", "timestamp": "2018-07-01T10:00:00"})


def pc02(pc: Path) -> None:
    old, new = pc / "a-old", pc / "b-new"
    _write(old / U.V2_USER_DATA / "gggg7777.json", {"userType": "student", "userCount": "2", "username": "zoë, 42",
                                                   "sessionId": "gggg7777", "timestamp": "2018-08-01 03:00:00"})
    _write(new / U.V2_USER_DATA / "gggg7777.json", {"userType": "teacher", "userCount": "2", "username": "zoë, 42",
                                                   "sessionId": "gggg7777", "timestamp": "2018-08-01 03:00:00"})
    e20 = _entry("zo%C3%AB%2C%2042", _ts("2018-08-01", "03:05:00"),
                 {"sessionId": "zoë, 42", "action": "play video", "unit": "U", "subject": "L", "activity": "A"})
    for install in (old, new):
        _write(install / U.V2_DATASTORE / "logging" / "LogEntry" / "e20.json", e20)
    _write(new / U.V2_DATASTORE / "logging" / "LogEntry" / "e21.json",
           _entry("zo%C3%AB%2C%2042", _ts("2018-08-01", "03:06:00"),
                  {"sessionId": "zoë, 42", "action": "click", "target": "Select User"}))
    v1 = pc / "v1-app" / U.V1_DB
    v1.parent.mkdir(parents=True)
    con = sqlite3.connect(v1)
    con.executescript("""
        CREATE TABLE research_uuid (session_id varchar(36) PRIMARY KEY, creation_time datetime NOT NULL,
                                    configuration_id varchar(36));
        CREATE TABLE research_user (id integer PRIMARY KEY, session_id_id varchar(36), user_type varchar(15),
                                    user_count varchar(2), is_sent bool, creation_time datetime NOT NULL);
        CREATE TABLE research_appdata (id integer PRIMARY KEY, session_id_id varchar(36), app_name varchar(32),
                                       event_type varchar(32), params text, is_sent bool, creation_time datetime NOT NULL);
        INSERT INTO research_uuid VALUES ('hhhh8888', '2016-06-01 05:00:00', '2031009');
        INSERT INTO research_user VALUES (1, 'hhhh8888', 'student', '2', NULL, '2016-06-01 05:00:05');
        INSERT INTO research_appdata VALUES (1, 'hhhh8888', 'unplatform', 'click',
            '{"unit": "Class 9", "subject": "Science", "activity": "Light"}', NULL, '2016-06-01 05:10:00');
    """)
    con.commit()
    con.close()


def make_school(root: Path, year: str = "2026") -> Path:
    """<root>/<year>/mz/2031009-mz9 with unplatform/pc01 and unplatform/pc02, no gstudio/."""
    school = root / year / "mz" / SCHOOL
    pc01(school / "unplatform" / "pc01" / "opt-clix")
    pc02(school / "unplatform" / "pc02")
    return school
