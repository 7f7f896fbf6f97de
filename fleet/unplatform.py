"""Synthetic unplatform installs of a lab PC, in the shapes of unplatform's public sources (test bed only).

    generate(install_root, seed, n_sessions)            a version 2 install (/opt/clix layout)
    generate_v1(install_root, seed, n_sessions)         a 2016 Django-style install

Usable on its own (the bench makes an install of 100k datastore files with it):

    python -m fleet.unplatform DIR [--sessions N] [--seed S] [--v1]

Everything derives from the seed, so two calls make the same files. What it holds, per session:
a row of `unplatform.sqlite3`'s web.py `sessions` table (WAL mode), its `user_data/<sessionId>.json`
(user type, user count, a username that is sometimes not ASCII), qbank's `logging/LogEntry` JSON
files (`text.text` a JSON string `{sessionId, action, ...}`), and for some sessions an assessment
(`AssessmentTaken`, `AssessmentSection` with responses, some an audio upload in
`studentResponseFiles/` and `repository/AssetContent/` with its `repository/Asset`). Some sessions
have no finish event. Shipped content (`Item`, `Assessment`, `AssessmentOffered`, `Bank`, content
media in `AssetContent`) comes once per install. Names of the paths: module_utils/clix_unplatform.py.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import pickle
import random
import sqlite3
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ansible.module_utils import clix_unplatform as U

BASE_TIME = dt.datetime(2018, 7, 9, 4, 30)  # naive UTC, as dlkit and SQLite's current_timestamp keep it
MIT = "ODL.MIT.EDU"
USERS = ["anita", "rahul", "priya", "सुनीता", "రాము", "lalremruata", "zoë", "mohammed", "ਗੁਰਪ੍ਰੀਤ", "kavya"]
# What the UI and its content player post to qbank's log (the event JSON in text.text): a
# content-player event names its unit, subject (the lesson) and activity; a click on the tool list
# is "Select tool: <name>"; the lesson's "finished" button sends clicked_finished (back to the user
# form, as a click on "Select User" does). A session without one has no finish event.
PLACES = [("English Elementary", "Lesson 1", "Activity 1.1"), ("English Elementary", "Lesson 2", "Activity 2.3"),
          ("Geometric Reasoning", "Lesson 1", "Activity 1.2"), ("परमाणु संरचना", "पाठ 1", "गतिविधि 1.1")]
PLAYER_ACTIONS = ["play", "pause", "click", "next_page"]
TOOLS = ["policesquad", "food-sharing-tool", "ice-cubes-in-lemonade"]
FINISH = "clicked_finished"
SESSIONS_SCHEMA = ("CREATE TABLE sessions (session_id char(128) UNIQUE NOT NULL, "
                   "atime timestamp NOT NULL default current_timestamp, data text)")
# Version 1's research app (CLIx_Unplatform_obsolete unplatform_source/research/models.py), as
# Django makes its tables in SQLite: <app>_<model>, a ForeignKey field f as the column f_id. It has
# no username: a session is a UUID, its users a type and a count; what happened is AppData.
V1_SCHEMA = (
    "CREATE TABLE research_configuration (state varchar(32) NULL, district varchar(32) NULL, "
    "school_id varchar(36) NOT NULL PRIMARY KEY, terminal_id varchar(6) NULL, locale varchar(2) NOT NULL, "
    "is_sent bool NULL, creation_time datetime NOT NULL)",
    "CREATE TABLE research_uuid (session_id varchar(36) NOT NULL PRIMARY KEY, creation_time datetime NOT NULL, "
    "configuration_id varchar(36) NOT NULL REFERENCES research_configuration (school_id))",
    "CREATE TABLE research_user (id integer NOT NULL PRIMARY KEY AUTOINCREMENT, user_type varchar(15) NULL, "
    "user_count varchar(2) NULL, is_sent bool NULL, creation_time datetime NOT NULL, "
    "session_id_id varchar(36) NOT NULL REFERENCES research_uuid (session_id))",
    "CREATE TABLE research_appdata (id integer NOT NULL PRIMARY KEY AUTOINCREMENT, app_name varchar(32) NOT NULL, "
    "event_type varchar(32) NOT NULL, params text NOT NULL, is_sent bool NULL, creation_time datetime NOT NULL, "
    "session_id_id varchar(36) NOT NULL REFERENCES research_uuid (session_id))",
    "CREATE TABLE django_session (session_key varchar(40) NOT NULL PRIMARY KEY, "
    "session_data text NOT NULL, expire_date datetime NOT NULL)",
)


def object_id(rng: random.Random) -> str:
    return rng.randbytes(12).hex()


def osid(namespace: str, kind: str, ident: str, authority: str = MIT) -> str:
    """dlkit's Id as stored in JSON: '<namespace>.<Kind>%3A<identifier>%40<authority>'."""
    return f"{namespace}.{kind}%3A{ident}%40{authority}"


def datetime_dict(t: dt.datetime) -> dict:
    """dlkit json_'s clean_up_datetime: a datetime as its fields, tzinfo null (naive UTC); its
    reader takes a dict with a tzinfo key for a datetime."""
    return {"year": t.year, "month": t.month, "day": t.day, "hour": t.hour, "minute": t.minute,
            "second": t.second, "microsecond": t.microsecond, "tzinfo": None}


@dataclass
class Install:
    """What generate() wrote: the tests compare a collection with it."""

    root: Path
    sessions: list[str] = field(default_factory=list)
    usernames: dict[str, list[str]] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)
    json_files: int = 0

    def datastore(self) -> Path:
        return self.root / U.V2_DATASTORE


def write_json(path: Path, doc: dict) -> None:
    """As dlkit's _save_dict_as_json_file writes: json.dumps' defaults (non-ASCII as \\u escapes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")


def write_config(root: Path, school_code: str | None, pc: str | None, state: str = "mz") -> None:
    """config.json as the UI's SchoolConfiguration page saves it; None leaves a value unset ("")."""
    write_json(root / U.V2_CONFIG, {"state": state, "district": "", U.CONFIG_SCHOOL: school_code or "",
                                    U.CONFIG_TERMINAL: pc or "", "locale": "en",
                                    "timestamp": BASE_TIME.isoformat()})


def session_row(session_id: str, atime: dt.datetime, username: str) -> tuple:
    """web.py's DBStore: data is the session dict pickled and base64-encoded."""
    data = base64.encodebytes(pickle.dumps({"session_id": session_id, "username": username, "ip": "127.0.0.1"},
                                           protocol=2)).decode()
    return session_id, atime.strftime("%Y-%m-%d %H:%M:%S.%f"), data


class Shipped:
    """Content qbank ships with the install: a bank, an assessment offered, items, content media."""

    def __init__(self, rng: random.Random, datastore: Path) -> None:
        self.bank = osid("assessment", "Bank", object_id(rng))
        self.assessment = osid("assessment", "Assessment", object_id(rng))
        self.offered = osid("assessment", "AssessmentOffered", object_id(rng))
        self.items = []
        write_json(datastore / "assessment/Bank" / f"{self.bank.split('%3A')[1].split('%40')[0]}.json",
                   {"_id": self.bank.split("%3A")[1].split("%40")[0], "displayName": {"text": "CLIx English"},
                    "genusTypeId": "bank-genus-type%3Adefault%40DLKIT.MIT.EDU", "recordTypeIds": []})
        for i in range(4):
            ident = object_id(rng)
            choices = [{"id": object_id(rng), "text": f"<p>choice {c}</p>"} for c in range(3)]
            kind = "qti-upload-interaction-audio" if i == 3 else "qti-choice-interaction"
            item = {"_id": ident, "displayName": {"text": f"Question {i + 1}"}, "assignedBankIds": [self.bank],
                    "genusTypeId": f"item-genus-type%3A{kind}%40{MIT}", "recordTypeIds": [],
                    "question": {"choices": choices if i < 3 else [], "text": {"text": f"<p>Question {i + 1}?</p>"}},
                    "answers": [{"choiceIds": [choices[0]["id"]] if i < 3 else [],
                                 "genusTypeId": f"answer-type%3Aright-answer%40{MIT}"}]}
            write_json(datastore / "assessment/Item" / f"{ident}.json", item)
            self.items.append(item)
        write_json(datastore / "assessment/Assessment" / f"{self.assessment.split('%3A')[1].split('%40')[0]}.json",
                   {"_id": self.assessment.split("%3A")[1].split("%40")[0], "assignedBankIds": [self.bank],
                    "itemIds": [osid("assessment", "Item", it["_id"]) for it in self.items],
                    "displayName": {"text": "Unit 1 quiz"}, "recordTypeIds": []})
        write_json(datastore / "assessment/AssessmentOffered" / f"{self.offered.split('%3A')[1].split('%40')[0]}.json",
                   {"_id": self.offered.split("%3A")[1].split("%40")[0], "assessmentId": self.assessment,
                    "assignedBankIds": [self.bank], "displayName": {"text": ""}, "recordTypeIds": []})
        # qbank-lite's GenericLogEntries: every unplatform and tool entry goes to one log of this genus.
        self.log = object_id(rng)
        write_json(datastore / "logging/Log" / f"{self.log}.json",
                   {"_id": self.log, "genusTypeId": "log-genus-type%3Adefault-clix%40ODL.MIT.EDU",
                    "displayName": {"text": "Default CLIx QBank log"}, "recordTypeIds": [],
                    "description": {"text": "For logging info from unplatform and tools, which do not know about catalog IDs"}})
        for _ in range(3):
            path = datastore / "repository/AssetContent" / f"{object_id(rng)}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rng.randbytes(30_000))


def generate(install_root: Path | str, seed: int | str, n_sessions: int, *, school_code: str | None = None,
             pc: str | None = None, config: bool = True, logs_per_session: int = 8) -> Install:
    """A version 2 install at install_root with n_sessions sessions (about logs_per_session + 3
    datastore files each). config=False leaves config.json out; school_code/pc None leave them unset."""
    root = Path(install_root)
    rng = random.Random(f"unplatform-{seed}")
    out = Install(root)
    datastore = root / U.V2_DATASTORE
    shipped = Shipped(rng, datastore)
    if config:
        write_config(root, school_code, pc)
    db = sqlite3.connect(root / U.V2_SESSIONS_DB)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(SESSIONS_SCHEMA)
    rows = []
    for n in range(n_sessions):
        sid = rng.randbytes(20).hex()  # web.py: a sha1 hex digest
        start = BASE_TIME + dt.timedelta(days=n // 40, minutes=(n % 40) * 9)
        users = rng.sample(USERS, rng.choice([1, 1, 2, 3]))
        out.sessions.append(sid)
        out.usernames[sid] = users
        rows.append(session_row(sid, start, users[0]))
        write_json(root / U.V2_USER_DATA / f"{sid}.json",
                   {"userType": "student" if rng.random() < 0.9 else "teacher", "userCount": len(users),
                    "username": ", ".join(users), "sessionId": sid, "timestamp": start.isoformat()})
        t = write_logs(rng, datastore, sid, start, logs_per_session, finished=(n % 7 != 3), log=shipped.log)
        if n % 7 == 3:
            out.unfinished.append(sid)
        if n % 3 == 0:
            upload = write_assessment(rng, datastore, shipped, sid, users[0], t, with_audio=(n % 6 == 0))
            if upload:
                out.uploads.append(upload)
    db.executemany("INSERT INTO sessions VALUES (?, ?, ?)", rows)
    db.commit()
    db.close()
    out.json_files = sum(1 for _ in datastore.rglob("*.json")) + sum(1 for _ in (root / U.V2_USER_DATA).glob("*.json"))
    return out


def log_entry(rng: random.Random, sid: str, t: dt.datetime, text: dict, log: str = "default") -> dict:
    """A LogEntry as qbank-lite's GenericLogEntries makes it: the posted data as a JSON text blob,
    the session (unplatform's x-api-proxy header) in agentId, the time in UTC."""
    return {"_id": object_id(rng), "timestamp": datetime_dict(t), "agentId": osid("osid.agent", "Agent", sid, "MIT-ODL"),
            "assignedLogIds": [osid("logging", "Log", log)], "genusTypeId": "GenusType%3ADEFAULT%40DLKIT.MIT.EDU",
            "priorityId": "log-entry-priority%3Ainfo%40ODL.MIT.EDU",
            "recordTypeIds": ["log-entry-record-type%3Atext-blob%40ODL.MIT.EDU"],
            "text": {"text": json.dumps({"sessionId": sid, **text}, ensure_ascii=False),
                     "languageTypeId": "639-2%3AENG%40ISO", "scriptTypeId": "15924%3ALATN%40ISO",
                     "formatTypeId": "TextFormats%3APLAIN%40okapia.net"}}


def event(rng: random.Random) -> dict:
    """One event of the UI or its content player (without its sessionId)."""
    if rng.random() < 0.1:
        return {"action": "click", "target": "Select tool: %s" % rng.choice(TOOLS)}
    unit, subject, activity = rng.choice(PLACES)
    return {"action": rng.choice(PLAYER_ACTIONS), "unit": unit, "subject": subject, "activity": activity}


def write_logs(rng: random.Random, datastore: Path, sid: str, start: dt.datetime, count: int,
               finished: bool, log: str) -> dt.datetime:
    """A session's LogEntries (login, navigation, ...), the last a logout unless unfinished."""
    t = start
    entries = []
    for _ in range(max(count - 1, 1)):
        t += dt.timedelta(seconds=rng.randint(5, 300), microseconds=rng.randint(0, 999_999))
        entries.append(log_entry(rng, sid, t, event(rng), log))
    if finished:
        t += dt.timedelta(seconds=rng.randint(5, 60))
        entries.append(log_entry(rng, sid, t, {"action": FINISH}, log))
    for e in entries:
        write_json(datastore / "logging/LogEntry" / f"{e['_id']}.json", e)
    return t


def write_assessment(rng: random.Random, datastore: Path, shipped: Shipped, sid: str, username: str,
                     t: dt.datetime, with_audio: bool) -> str | None:
    """An AssessmentTaken and its section; with_audio: the last item answered with an upload."""
    taken, section = object_id(rng), object_id(rng)
    agent = osid("osid.agent", "Agent", sid, "MIT-ODL")
    questions, upload = [], None
    for i, item in enumerate(shipped.items):
        item_id = osid("assessment", "Item", item["_id"])
        responses = []
        if i < 3:
            for attempt in range(rng.randint(0, 2)):
                pick = rng.choice(item["question"]["choices"])["id"]
                responses.insert(0, {"choiceIds": [pick], "itemId": item_id, "recordTypeIds": [],
                                     "submissionTime": datetime_dict(t + dt.timedelta(minutes=attempt + 1)),
                                     "isCorrect": pick in item["answers"][0]["choiceIds"]})
        elif with_audio:
            asset, content = object_id(rng), object_id(rng)
            upload = f"{content}.mp3"
            audio = b"ID3\x03\x00\x00\x00" + rng.randbytes(12_000)
            for folder in ("studentResponseFiles", "repository/AssetContent"):
                (datastore / folder).mkdir(parents=True, exist_ok=True)
                (datastore / folder / upload).write_bytes(audio)
            write_json(datastore / "repository/Asset" / f"{asset}.json",
                       {"_id": asset, "genusTypeId": f"asset-genus-type%3Astudent-submission%40{MIT}",
                        "displayName": {"text": f"{username} audio"}, "recordTypeIds": [],
                        "assetContents": [{"_id": content, "url": f"repository/AssetContent/{upload}",
                                           "genusTypeId": "asset-content-genus-type%3Amp3%40iana.org"}]})
            responses.insert(0, {"fileIds": {upload: {"assetId": osid("repository", "Asset", asset),
                                                      "assetContentId": osid("repository", "AssetContent", content)}},
                                 "itemId": item_id, "submissionTime": datetime_dict(t + dt.timedelta(minutes=5)),
                                 "isCorrect": None, "recordTypeIds": []})
        questions.append({"itemId": item_id, "questionId": item_id, "displayElements": [i + 1],
                          "responses": responses or [{"missingResponse": 0, "itemId": item_id}]})
    write_json(datastore / "assessment/AssessmentSection" / f"{section}.json",
               {"_id": section, "assessmentTakenId": osid("assessment", "AssessmentTaken", taken),
                "assessmentPartId": osid("assessment_authoring", "AssessmentPart", object_id(rng)),
                "actualStartTime": datetime_dict(t), "questions": questions, "recordTypeIds": []})
    write_json(datastore / "assessment/AssessmentTaken" / f"{taken}.json",
               {"_id": taken, "assessmentOfferedId": shipped.offered, "takingAgentId": agent,
                "assignedBankIds": [shipped.bank], "actualStartTime": datetime_dict(t),
                "completionTime": datetime_dict(t + dt.timedelta(minutes=10)), "score": rng.randint(0, 3),
                "sections": [osid("assessment", "AssessmentSection", section)], "displayName": {"text": ""},
                "recordTypeIds": []})
    return upload


def generate_v1(install_root: Path | str, seed: int | str, n_sessions: int) -> Install:
    """The 2016 version: a Django project unzipped anywhere, its data in unplatform/db.sqlite3."""
    root = Path(install_root)
    rng = random.Random(f"unplatform-v1-{seed}")
    out = Install(root)
    (root / U.V1_DB).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(root / U.V1_DB)
    for statement in V1_SCHEMA:
        db.execute(statement)
    start = BASE_TIME.replace(year=2016)
    db.execute("INSERT INTO research_configuration VALUES (?, ?, ?, ?, ?, ?, ?)",
               ("mz", "", "NOTSET", "", "en", None, start.isoformat(sep=" ")))
    log = []
    for n in range(n_sessions):
        sid = str(uuid.UUID(bytes=rng.randbytes(16)))
        count = rng.choice([1, 1, 2, 3])
        out.sessions.append(sid)
        out.usernames[sid] = []  # version 1 keeps no names
        t = start + dt.timedelta(days=n)
        db.execute("INSERT INTO research_uuid VALUES (?, ?, ?)", (sid, t.isoformat(sep=" "), "NOTSET"))
        db.execute("INSERT INTO research_user (user_type, user_count, is_sent, creation_time, session_id_id) "
                   "VALUES (?, ?, ?, ?, ?)", ("student", str(count), None, t.isoformat(sep=" "), sid))
        events = [event(rng) for _ in range(4)] + ([{"action": FINISH}] if n % 4 else [])
        for e in events:
            params = {k: v for k, v in e.items() if k != "action"}
            db.execute("INSERT INTO research_appdata (app_name, event_type, params, is_sent, creation_time, "
                       "session_id_id) VALUES (?, ?, ?, ?, ?, ?)",
                       ("unplatform", e["action"], json.dumps(params), None, t.isoformat(sep=" "), sid))
            t += dt.timedelta(seconds=rng.randint(5, 200))
        if not n % 4:
            out.unfinished.append(sid)
        log.append(f"[{t:%d/%b/%Y %H:%M:%S}] INFO session {sid}\n")
    db.commit()
    db.close()
    (root / U.V1_LOG).write_text("".join(log), encoding="utf-8")
    (root / "manage.py").write_text("#!/usr/bin/env python\n# unplatform 2016 (Django), stand-in\n")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fleet.unplatform", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", type=Path)
    p.add_argument("--sessions", type=int, default=50)
    p.add_argument("--seed", type=int, default=2017)
    p.add_argument("--v1", action="store_true")
    args = p.parse_args(argv)
    made = (generate_v1 if args.v1 else generate)(args.dir, args.seed, args.sessions)
    print(f"{made.root}: {len(made.sessions)} sessions, {made.json_files} JSON files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
