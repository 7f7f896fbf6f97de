"""Synthetic, deterministic school data that follows gStudio's real schema and naming.

Everything derives from (seed, server id), so two runs of the fleet hold the same data. The size
knob: a "small" school has a few users and a few MB; a "big" one has >= 1 GB of media and
>= 500k Benchmarks, for the benchmarks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bson import ObjectId

COLORS = ["black", "blue", "brown", "gray", "green", "indigo", "khaki", "maroon", "orange", "pink",
          "purple", "red", "violet", "yellow"]
NAMES = ["ant", "apple", "banana", "bat", "bear", "beetle", "bulbul", "bull", "butterfly", "camel",
         "cat", "cheetah", "cobra", "crab", "deer", "dog", "dolphin", "dragon", "duck", "eagle",
         "elephant", "flamingo", "fox", "frog", "goat", "gorilla", "grapes", "heron", "hibiscus",
         "hippo", "horse", "kangaroo", "kiwi", "lion", "llama", "lotus", "monkey", "mouse", "owl",
         "panda", "parrot", "peacock", "pigeon", "rabbit", "rhino", "rose", "seal", "shark", "swan",
         "tiger", "turtle", "whale", "wolf", "zebra"]
# Children's names and roll numbers as teachers typed them into gStudio (GAttributes of each Author):
# what the release tier must never carry (tests/integration/test_dataset.py looks for them).
FIRST_NAMES = ["Aarushi", "Bhavesh", "Chandrika", "Devyani", "Farhana", "Gurpreet", "Harshita", "Ishaan", "Jasleen",
               "Kavitha", "Lalmuanpuii", "Manpreet", "Nandini", "Omkarnath", "Pranjali", "Rukhsana"]
LAST_NAMES = ["Agarwal", "Bhattacharya", "Chaudhary", "Deshmukh", "Fernandes", "Hmingthanzuali", "Iyengar",
              "Jadhav", "Kulkarni", "Lalthlamuana", "Mukherjee", "Nongrum", "Pachuau", "Raghavan"]
# The third unit is named only in Hindi: its progress CSV is named '<code>-<id>--<time>.csv'.
UNITS = [("English Elementary", "English Elementary"), ("Geometric Reasoning", "Geometric Reasoning"),
         ("परमाणु संरचना", "परमाणु संरचना")]
# Tool folders as gStudio names them (the tool's appName); each tool logs its own record shape
# (tool_records below, after clix_dashboard_backend_AF's public test data and the tools' sources).
TOOLS = ["policesquad", "Ice-cubes-in-lemonade", "Food_sharing_tool", "coins_puzzle"]
# A reason a child typed into a tool (Food_sharing_tool's third screen): free text.
TYPED_REASON = "because every friend gets the same number of rotis"
# A child's typed answer to qbank's text question.
TYPED_ANSWER = "the echo comes back from the far wall"
QBANK_DBS = ["assessment", "assessment_authoring", "hierarchy", "id", "logging", "relationship",
             "repository", "resource"]
STANDIN = Path(__file__).resolve().parent / "standin"
# activity_players and ACTIVITY_PLAYER match the MIT script's $text search, activity-player and
# activity_player_detail do not (textsearch.py).
PLAYER_VARIANTS = ["activity_player", "activity_players", "ACTIVITY_PLAYER", "activity-player", "activity_player_detail"]


def _template_version() -> str:
    """The code template is cached per lab; it is rebuilt whenever this file or a stand-in changes."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    for f in sorted(STANDIN.iterdir()):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


CODE_TEMPLATE_VERSION = _template_version()
BASE_TIME = dt.datetime(2018, 6, 4, 9, 30)  # naive IST wall clock, as gStudio stores it


@dataclass
class Size:
    users: int
    sessions_per_user: int
    media_bytes: int

    @classmethod
    def of(cls, big: bool) -> Size:
        # Big: 400 users x 160 sessions x ~8 Benchmarks = ~510k Benchmarks.
        return cls(400, 160, 1100 * 2**20) if big else cls(8, 3, 2 * 2**20)


def oid(rng: random.Random) -> ObjectId:
    return ObjectId(rng.randbytes(12))


def usernames(rng: random.Random, server_id: str, count: int) -> list[str]:
    pairs = [(c, n) for c in COLORS for n in NAMES]
    rng.shuffle(pairs)
    return [f"{c}-{n}-{server_id}" for c, n in pairs[:count]]


class SchoolData:
    """The records of one school, built in memory (small) or streamed (Benchmarks)."""

    def __init__(self, seed: int, server_id: str, school_code: str, school_name: str, big: bool) -> None:
        self.rng = random.Random(f"{seed}-{server_id}")
        # Records added to make derived-data rules visible draw from their own stream, so that the
        # rest of the school stays as it was.
        self.rules_rng = random.Random(f"{seed}-{server_id}-rules")
        self.seed = seed
        self.server_id = server_id
        self.school_code = school_code
        self.school_name = school_name
        self.size = Size.of(big)
        self.users = usernames(self.rng, server_id, self.size.users)
        self.user_ids = list(range(2, 2 + len(self.users)))  # 1 is the Django admin
        # The last user is a teacher (Author agency_type Teacher, Django staff).
        self.teacher_id = self.user_ids[-1]
        # The assessment offered on the first activity page (qbank_records); from its own stream.
        self.offered_id = ObjectId(random.Random(f"{seed}-{server_id}-offered").randbytes(12))
        self._build_nodes()

    def _node(self, _type: str, name: str, rng: random.Random | None = None, **extra) -> dict:
        doc = {"_id": oid(rng or self.rng), "_type": _type, "name": name, "altnames": extra.pop("altnames", ""),
               "language": ["en", "English"], "member_of": [], "type_of": [], "collection_set": [],
               "group_set": [], "created_by": 1, "created_at": BASE_TIME, "last_update": BASE_TIME,
               "status": "PUBLISHED", "access_policy": "PUBLIC"}
        doc.update(extra)
        return doc

    def _build_nodes(self) -> None:
        gst = {n: self._node("GSystemType", n) for n in
               ("announced_unit", "CourseEventGroup", "Module", "Page", "lesson", "Author", "File")}
        self.attribute_types = {n: self._node("AttributeType", n) for n in
                                ("first_name", "last_name", "enrollment_code", "educationallevel")}
        self.units, self.lessons, self.activities = [], [], []
        for name, altname in UNITS:
            unit = self._node("Group", name, altnames=altname, member_of=[gst["announced_unit"]["_id"]],
                              group_type="PUBLIC", author_set=[])
            for ln in range(1, 3):
                lesson = self._node("GSystem", f"{name} Lesson {ln}", member_of=[gst["lesson"]["_id"]])
                for an in range(1, 4):
                    act = self._node("GSystem", f"Activity {ln}.{an}", altnames=f"{name[:3]} {ln}.{an}",
                                     member_of=[gst["Page"]["_id"]], group_set=[unit["_id"]])
                    lesson["collection_set"].append(act["_id"])
                    self.activities.append((unit, lesson, act))
                unit["collection_set"].append(lesson["_id"])
                self.lessons.append(lesson)
            self.units.append(unit)
        # The first activity's page embeds the assessment, as gStudio's pages do: an iframe of the
        # assessment player naming the bank and the offering.
        self.activities[0][2]["content"] = (
            '<p>Try these questions.</p><iframe src="/oac/?unlock_next=ON_CORRECT&api_url=/api/v1&bank='
            'assessment.Bank%3A5a0b1c2d3e4f5a6b7c8d9e0f%40ODL.MIT.EDU&assessment_offered_id='
            f'assessment.AssessmentOffered%3A{self.offered_id}%40ODL.MIT.EDU#/assessment"></iframe>')
        module = self._node("GSystem", "English Module", member_of=[gst["Module"]["_id"]],
                            collection_set=[u["_id"] for u in self.units[:2]])
        self.authors = []
        for uid, uname in zip(self.user_ids, self.users):
            author = self._node("Author", uname, created_by=uid, group_type="PUBLIC",
                                agency_type="Teacher" if uid == self.teacher_id else "Student")
            self.authors.append(author)
            for unit in self.units:
                if self.rng.random() < 0.7:
                    unit["author_set"].append(uid)
        # gStudio's factory types that the progress CSVs need (get_unit_hierarchy, the unit's items).
        factory = [self._node("RelationType", "translation_of", self.rules_rng, object_cardinality=100),
                   self._node("AttributeType", "total_assessment_items", self.rules_rng)]
        self.total_items_at = factory[1]["_id"]
        # Activities are stored in creation order; their ObjectIds are random, so the progress
        # columns (ascending ObjectId) come in another order.
        self.nodes = [*gst.values(), *self.attribute_types.values(), *factory, *self.units, *self.lessons,
                      *(a for _, _, a in self.activities), module, *self.authors]

    def triples(self) -> list[dict]:
        out = []
        for i, author in enumerate(self.authors):
            values = {"first_name": FIRST_NAMES[i % len(FIRST_NAMES)], "last_name": LAST_NAMES[i % len(LAST_NAMES)],
                      "enrollment_code": f"{self.school_code}{i:03d}", "educationallevel": "Class 9"}
            for name, value in values.items():
                out.append({"_id": oid(self.rng), "_type": "GAttribute", "name": name,
                            "subject": author["_id"], "attribute_type": self.attribute_types[name]["_id"],
                            "object_value": value, "status": "PUBLISHED", "language": ["en", "English"]})
        for unit, value in zip(self.units, (6, "None", 4)):  # 'None' is read as 0
            out.append({"_id": oid(self.rules_rng), "_type": "GAttribute", "name": "total_assessment_items",
                        "subject": unit["_id"], "attribute_type": self.total_items_at, "object_value": value,
                        "status": "PUBLISHED"})
        return out

    def counters(self) -> list[dict]:
        """One Counter per user and unit. Some of them carry what gStudio's export trips on: the
        second user's Counter of the first unit lacks ``page`` and the third user's of the second
        unit has an assessment entry without ``correct`` (both users are left out of that unit's
        CSV); the rest mix entries of the real schema with complete ones (partial sums)."""
        out = []
        rules = self.rules_rng
        for n, (uid, author) in enumerate(zip(self.user_ids, self.authors)):
            for u, unit in enumerate(self.units):
                for _ in unit["collection_set"]:
                    self.rng.randint(0, 5)  # what lesson visits once drew: the rest stays as it was
                acts = [a for un, _, a in self.activities if un is unit]
                visited = {str(a["_id"]): rules.randint(0, 3) for a in acts if rules.random() < 0.6}
                assessment = [{"id": "assessment.Item%3A1%40ODL.MIT.EDU", "correct": True, "failed_attempts": 0}]
                if rules.random() < 0.5:
                    assessment.insert(0, {"id": "assessment.Item%3A2%40ODL.MIT.EDU", "correct": 1, "notapplicable": 0,
                                          "incorrect": rules.randint(0, 2), "attempted": rules.randint(1, 3)})
                if (n, u) == (2, 1):
                    assessment.append({"id": "assessment.Item%3A3%40ODL.MIT.EDU", "failed_attempts": 1})
                counter = {"_id": oid(self.rng), "_type": "Counter", "user_id": uid, "auth_id": author["_id"],
                            "group_id": unit["_id"], "last_update": BASE_TIME, "is_group_member": True,
                            "group_points": self.rng.randint(0, 40), "visited_nodes": visited,
                            "quiz": {"attempted": 2, "correct": 1, "incorrect": 1},
                            "file": {"created": 0, "visits_gained": 0, "visits_on_others_res": 0,
                                     "comments_gained": 0, "commented_on_others_res": 0,
                                     "comments_by_others_on_res": {}, "avg_rating_gained": 0,
                                     "rating_count_received": 0},
                            "page": {"blog": {"created": rules.randint(0, 3), "visits_gained": rules.randint(0, 9),
                                              "visits_on_others_res": rules.randint(0, 9), "comments_gained": 1,
                                              "commented_on_others_res": 0, "comments_by_others_on_res": {},
                                              "avg_rating_gained": rules.choice([0, 3.5, 4.33]),
                                              "rating_count_received": 0}, "wiki": {}, "info": {}},
                            "total_comments_by_user": 0,
                            "course": {"modules": {"completed": 0, "total": 1},
                                       "units": {"completed": 0, "total": len(self.units)}},
                            "assessment": assessment}
                if (n, u) == (1, 0):
                    del counter["page"]
                out.append(counter)
        return out

    def sessions(self):
        """Yield (benchmarks, buddy_doc_or_None) per user session, in time order."""
        for s in range(self.size.sessions_per_user):
            for uid, uname, author in zip(self.user_ids, self.users, self.authors):
                key = f"{self.rng.getrandbits(128):032x}"
                t = BASE_TIME + dt.timedelta(days=s, minutes=self.rng.randint(0, 300))
                events = []

                def bench(url: str, name: str, when: dt.datetime, uname: str = uname, key: str = key) -> dict:
                    return {"_id": oid(self.rng), "_type": "Benchmark", "name": name,
                            "time_taken": "0.123", "parameters": "3", "size_of_parameters": "None",
                            "calling_url": url, "last_update": when, "action": url.strip("/").split("/", 1)[-1],
                            "user": uname, "session_key": key, "has_data": {"POST": False, "GET": False},
                            "locale": self.rng.choice(["en", "hi", "te"])}

                events.append(bench("/home/my-desk/", "my_desk", t))
                for _ in range(self.rng.randint(4, 8)):
                    unit, lesson, act = self.rng.choice(self.activities)
                    t += dt.timedelta(seconds=self.rng.randint(20, 400), microseconds=self.rng.choice([0, 999000]))
                    # Mostly the real URL; sometimes a variant that MongoDB's text search and the
                    # activity_timestamp regex treat differently.
                    player = self.rules_rng.choices(PLAYER_VARIANTS, weights=(20, 1, 1, 1, 1))[0]
                    url = f"/{unit['_id']}/course/{player}/{lesson['_id']}/{act['_id']}/"
                    if player == "activity_player" and self.rules_rng.random() < 0.03:
                        url = url.rstrip("/")  # no trailing '/': the MIT script drops the visit
                    ev = bench(url, "activity_player_detail", t)
                    ev["group"] = str(unit["_id"])
                    events.append(ev)
                t += dt.timedelta(seconds=self.rng.randint(20, 200))
                events.append(bench(f"/{self.units[0]['_id']}/course/content/", "course_content", t))
                buddy = None
                if self.rng.random() < 0.3 and len(self.authors) > 1:
                    friend = self.rng.choice([a for a in self.authors if a is not author])
                    buddy = {"_id": oid(self.rng), "_type": "Buddy", "loggedin_userid": uid, "session_key": key,
                             "buddy_in_out": {str(friend["_id"]): [{"in": events[0]["last_update"], "out": None}]},
                             "starts_at": events[0]["last_update"], "ends_at": None}
                yield events, buddy

    def qbank_records(self) -> dict[str, dict[str, list[dict]]]:
        """dlkit's JSON records (its own random stream, so the rest of the school stays as it was):
        Items (the first with its texts in two languages, the last a text question), the offering
        and its part, and for a few users an AssessmentTaken whose AssessmentSection holds every
        attempt per question, newest first, as ``submit_response`` stores them; qbank's LogEntries."""
        rng = random.Random(f"{self.seed}-{self.server_id}-qbank")
        bank = "assessment.Bank%3A5a0b1c2d3e4f5a6b7c8d9e0f%40ODL.MIT.EDU"
        assessment, part = oid(rng), oid(rng)
        items = []
        for i in range(3):
            choices = [{"id": f"{oid(rng)}", "text": f"<p>choice {c}</p>"} for c in range(3)]
            question = {"choices": choices, "text": {"text": f"<p>Question {i + 1}?</p>"}}
            if i == 0:
                question["texts"] = [{"text": "<p>प्रश्न 1?</p>", "languageTypeId": "639-2%3AHIN%40ISO"},
                                     {"text": "<p>Question 1?</p>", "languageTypeId": "639-2%3AENG%40ISO"}]
                del question["text"]
            items.append({"_id": oid(rng), "displayName": {"text": f"Question {i + 1}"}, "assignedBankIds": [bank],
                          "genusTypeId": "item-genus-type%3Aqti-choice-interaction%40ODL.MIT.EDU",
                          "question": question,
                          "answers": [{"choiceIds": [choices[0]["id"]],
                                       "genusTypeId": "answer-type%3Aright-answer%40ODL.MIT.EDU"}],
                          "recordTypeIds": []})
        items.append({"_id": oid(rng), "displayName": {"text": "Explain"}, "assignedBankIds": [bank],
                      "genusTypeId": "item-genus-type%3Aqti-extended-text-interaction%40ODL.MIT.EDU",
                      "question": {"text": {"text": "<p>Why do we hear an echo?</p>"}}, "answers": [],
                      "recordTypeIds": []})
        part_id = f"assessment_authoring.AssessmentPart%3A{part}%40ODL.MIT.EDU"
        takens, sections, logs = [], [], []
        offered = f"assessment.AssessmentOffered%3A{self.offered_id}%40ODL.MIT.EDU"
        for uname in self.users[:4]:
            taken_id, section_id = oid(rng), oid(rng)
            start = BASE_TIME + dt.timedelta(days=rng.randint(0, 5), hours=1)
            questions = []
            for item in items:
                item_ref = f"assessment.Item%3A{item['_id']}%40ODL.MIT.EDU"
                responses = []
                for attempt in range(rng.randint(0, 2)):
                    when = start + dt.timedelta(minutes=2 * attempt + 1)
                    if not item["answers"]:  # the text question: what the child typed
                        responses.insert(0, {"text": {"text": TYPED_ANSWER}, "itemId": item_ref,
                                             "submissionTime": when, "isCorrect": None, "recordTypeIds": []})
                        continue
                    pick = rng.choice(item["question"]["choices"])["id"]
                    responses.insert(0, {"choiceIds": [pick], "itemId": item_ref, "submissionTime": when,
                                         "isCorrect": pick in item["answers"][0]["choiceIds"],
                                         "recordTypeIds": []})
                questions.append({"_id": oid(rng), "itemId": item_ref, "questionId": item_ref,
                                  "assessmentPartId": part_id, "displayElements": [len(questions) + 1],
                                  "responses": responses or [{"missingResponse": 0, "submissionTime": None,
                                                              "itemId": str(item["_id"])}]})
            sections.append({"_id": section_id, "assessmentTakenId": str(taken_id), "actualStartTime": start,
                             "assessmentPartId": part_id, "assessmentParts": [], "questions": questions})
            takens.append({"_id": taken_id, "assessmentOfferedId": offered, "assignedBankIds": [bank],
                           "takingAgentId": f"osid.agent.Agent%3A{uname}%40MIT-ODL", "actualStartTime": start,
                           "completionTime": start + dt.timedelta(minutes=10), "sections": [str(section_id)],
                           "displayName": {"text": ""}, "recordTypeIds": []})
            logs.append({"_id": oid(rng), "timestamp": start, "agentId": f"osid.agent.Agent%3A{uname}%40MIT-ODL",
                         "assignedLogIds": ["logging.Log%3Adefault%40ODL.MIT.EDU"],
                         "genusTypeId": "log-entry-genus%3Adefault%40ODL.MIT.EDU",
                         "priority": "log-entry-priority%3Ainfo%40ODL.MIT.EDU",
                         "text": {"text": json.dumps({"action": "start assessment", "assessmentTakenId": str(taken_id)})}})
        offering = {"_id": self.offered_id, "displayName": {"text": "English: check your understanding"},
                    "assessmentId": f"assessment.Assessment%3A{assessment}%40ODL.MIT.EDU",
                    "assignedBankIds": [bank], "recordTypeIds": []}
        parts = [{"_id": part, "displayName": {"text": "Part 1"}, "recordTypeIds": [],
                  "assessmentId": f"assessment.Assessment%3A{assessment}%40ODL.MIT.EDU"}]
        return {"assessment": {"Item": items, "AssessmentOffered": [offering], "AssessmentTaken": takens,
                               "AssessmentSection": sections},
                "assessment_authoring": {"AssessmentPart": parts}, "logging": {"LogEntry": logs}}

    def django_users(self) -> list[tuple]:
        rows = [(1, "pbkdf2_sha256$admin", BASE_TIME, True, "administrator", "", "", "admin@example.org",
                 True, True, BASE_TIME)]
        for uid, uname in zip(self.user_ids, self.users):
            joined = BASE_TIME - dt.timedelta(days=30)
            # One user in five never logged in (last_login == date_joined), as on real servers.
            last = joined if uid % 5 == 0 else BASE_TIME + dt.timedelta(days=self.rng.randint(0, 20))
            rows.append((uid, "pbkdf2_sha256$x", last, False, uname, "", "", "", uid == self.teacher_id, True,
                         joined))
        return rows


def tool_records(app: str, uid: int, buddy: int) -> list[dict]:
    """Three records of a tool in the shape that tool posts them."""
    session = f"{uid:08x}" * 4
    out = []
    for i in range(3):
        when = f"2018-6-{4 + i} 10:{i}:05"
        if app == "policesquad":  # gStudio's gameReporter wraps the tool's stage_end
            out.append({"user_id": str(uid), "created_at": when, "buddy_details": str(uid), "sessionid": session,
                        "app_name": "policesquadv2", "event_type": "stage_end",
                        "params": {"CurrentMission": i + 1, "TimeSpentStage": f"0:{3 + i}:{10 * i}", "language": "en"}})
        elif app == "Ice-cubes-in-lemonade":  # only nested times
            out.append({"appName": app, "language": "en", "userId": str(uid), "buddyIds": f"{uid},{buddy}",
                        "sessionId": session,
                        "appData": {"eventType": "tool_start", "tool_startTime": f"2018-6-{4 + i} 11:{i}:0",
                                    "language": "en", "attempt": [], "eventType1": "tool_end",
                                    "tool_endTime": f"2018-6-{4 + i} 11:{7 + i}:30", "totalScore": str(i),
                                    "createdAt": f"2018-6-{4 + i} 11:{7 + i}:30"}})
        elif app == "Food_sharing_tool":
            params = {"language": "en", "Lesson": "2", "Activity": "Compare the share: Unequal groups - I"}
            if i == 2:
                params["TextReasonforfirstchoice"] = TYPED_REASON
            out.append({"user_id": str(uid), "created_at": when, "buddy_details": str(uid), "app_name": app,
                        "event_type": ("game_start", "second_screen_end", "thirdscreenend")[i], "params": params,
                        "sessionId": session})
        else:  # coins_puzzle: per-step times in epoch milliseconds
            stamp = int(dt.datetime(2018, 6, 4 + i, 4, 30 + i, tzinfo=dt.timezone.utc).timestamp() * 1000)
            out.append({"appData": {"data_log": [{"coin_1_number": 5, "coin_2_number": 5 + i, "timeStamp": stamp,
                                                  "total": 15 + 2 * i}]},
                        "language": "en", "appName": app, "userId": str(uid), "sessionId": session, "buddyIds": "",
                        "createdAt": when})
    return out


def load_mongo(data: SchoolData, address: str, port: int) -> int:
    """Insert the school's documents; returns the number of Benchmarks."""
    from pymongo import MongoClient

    client = MongoClient(address, port, directConnection=True, serverSelectionTimeoutMS=10000)
    db = client["gstudio-mongodb"]
    db.Nodes.insert_many(data.nodes)
    db.Triples.insert_many(data.triples())
    db.Counters.insert_many(data.counters())
    db.Counters.create_index([("user_id", 1), ("group_id", 1)])
    db.Benchmarks.create_index([("user", 1), ("last_update", -1)])
    batch, buddies, count = [], [], 0
    for events, buddy in data.sessions():
        batch.extend(events)
        if buddy:
            buddies.append(buddy)
        if len(batch) >= 20000:
            db.Benchmarks.insert_many(batch)
            count += len(batch)
            batch = []
    if batch:
        db.Benchmarks.insert_many(batch)
        count += len(batch)
    if buddies:
        db.Buddies.insert_many(buddies)
    else:
        db.create_collection("Buddies")
    db.analytics_collection.insert_one({"timestamp": BASE_TIME, "action": {"key": "login"},
                                        "user": {"name": data.users[0]}, "obj": {}, "session_key": "x"})
    file_id = oid(data.rng)
    db["fs.files"].insert_one({"_id": file_id, "filename": "logo.png", "length": 6, "chunkSize": 261120,
                               "uploadDate": BASE_TIME, "md5": "d41d8cd98f00b204e9800998ecf8427e"})
    db["fs.chunks"].insert_one({"_id": oid(data.rng), "files_id": file_id, "n": 0, "data": b"\x89PNG\r\n"})
    for name in QBANK_DBS:
        qdb = client[name]
        qdb[name.title()].insert_many([{"_id": oid(data.rng), "displayName": {"text": f"{name} {i}"},
                                        "recordTypeIds": [], "assignedBankIds": [f"assessment.Bank%3A{i}"]}
                                       for i in range(3)])
    for name, collections in data.qbank_records().items():
        for collection, docs in collections.items():
            client[name][collection].insert_many(docs)
    client.close()
    return count


def load_postgres(data: SchoolData, address: str, port: int, password: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host=address, port=port, user="postgres", password=password, dbname="postgres",
                            connect_timeout=10)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE ROLE glab LOGIN")
        cur.execute("CREATE DATABASE gstudio_psql OWNER glab")
    conn.close()
    conn = psycopg2.connect(host=address, port=port, user="postgres", password=password,
                            dbname="gstudio_psql", connect_timeout=10)
    with conn, conn.cursor() as cur:
        cur.execute("""CREATE TABLE auth_user (
            id serial PRIMARY KEY, password varchar(128) NOT NULL, last_login timestamptz NOT NULL,
            is_superuser boolean NOT NULL, username varchar(30) NOT NULL UNIQUE,
            first_name varchar(30) NOT NULL, last_name varchar(30) NOT NULL, email varchar(75) NOT NULL,
            is_staff boolean NOT NULL, is_active boolean NOT NULL, date_joined timestamptz NOT NULL)""")
        cur.execute("""CREATE TABLE django_session (session_key varchar(40) PRIMARY KEY,
            session_data text NOT NULL, expire_date timestamptz NOT NULL)""")
        cur.executemany("INSERT INTO auth_user VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", data.django_users())
        cur.execute("ALTER TABLE auth_user OWNER TO glab")
        cur.execute("ALTER TABLE django_session OWNER TO glab")
        cur.execute("INSERT INTO django_session VALUES ('abc', 'e30=', now())")
    conn.close()


SERVER_SETTINGS = """# gStudio server settings (written by setup.sh from the school list)
GSTUDIO_INSTITUTE_ID = '{server_id}'
GSTUDIO_INSTITUTE_ID_SECONDARY = '{school_code}'
GSTUDIO_INSTITUTE_NAME = '{school_name}'
"""

LOCAL_SETTINGS = """# -*- coding: utf-8 -*-
DEBUG = False
SECRET_KEY = '{secret}'
DATABASES = {{
    'default': {{
        'ENGINE': 'django.db.backends.postgresql_psycopg2',
        'NAME': 'gstudio_psql',
        'USER': 'glab',
        'PASSWORD': '{db_password}',
        'HOST': 'localhost',
        'PORT': '5432',
    }},
    'mongodb': {{'ENGINE': 'django_mongokit.mongodb', 'NAME': 'gstudio-mongodb'}},
}}
MONGODB_DBNAME = 'gstudio-mongodb'
MEDIA_ROOT = '/data/media/'
RCS_REPO_DIR = '/data/rcs-repo'
GSTUDIO_LOGS_DIR_PATH = '/data/gstudio-logs'
TIME_ZONE = 'Asia/Kolkata'
from server_settings import *
"""


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def git(repo: Path, *args: str) -> None:
    env = {"GIT_AUTHOR_NAME": "gStudio Dev", "GIT_AUTHOR_EMAIL": "dev@example.org",
           "GIT_COMMITTER_NAME": "gStudio Dev", "GIT_COMMITTER_EMAIL": "dev@example.org",
           "GIT_AUTHOR_DATE": "2018-06-01T10:00:00+05:30", "GIT_COMMITTER_DATE": "2018-06-01T10:00:00+05:30",
           "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)


def make_code_template(dest: Path) -> None:
    """gstudio and qbank-lite checkouts with history; built once per lab, copied per school."""
    gstudio = dest / "gstudio"
    ndf = gstudio / "gnowsys-ndf" / "gnowsys_ndf"
    ndf.mkdir(parents=True)
    git(gstudio, "init", "-q", "-b", "master")
    for i in range(1, 7):
        write_bytes(ndf / "ndf" / f"module{i}.py", f"# gStudio module {i}\nVERSION = {i}\n".encode())
        git(gstudio, "add", "-A")
        git(gstudio, "commit", "-q", "-m", f"Release step {i}: update module{i}")
    write_bytes(ndf / "server_settings.py", SERVER_SETTINGS.format(
        server_id="sp100", school_code="00000000", school_name="clix-default").encode())
    # gStudio's checkout holds manage.py and the deployer scripts; here they are stand-ins.
    write_bytes(gstudio / "gnowsys-ndf" / "manage.py", (STANDIN / "manage.py").read_bytes())
    write_bytes(gstudio / "doc" / "deployer" / "get_all_users_activity_timestamp_csvs.py",
                (STANDIN / "get_all_users_activity_timestamp_csvs.py").read_bytes())
    write_bytes(gstudio / ".gitignore", b"gnowsys-ndf/qbank-lite/\ngnowsys-ndf/gnowsys_ndf/local_settings.py\n")
    git(gstudio, "add", "-A")
    git(gstudio, "commit", "-q", "-m", "Add default server settings")
    git(gstudio, "checkout", "-q", "-b", "dlkit")
    qbank = gstudio / "gnowsys-ndf" / "qbank-lite"
    qbank.mkdir()
    git(qbank, "init", "-q", "-b", "master")
    for i in range(1, 4):
        write_bytes(qbank / "main.py", f"# qbank-lite\nRELEASE = {i}\n".encode())
        git(qbank, "add", "-A")
        git(qbank, "commit", "-q", "-m", f"qbank release {i}")
    git(qbank, "checkout", "-q", "--detach", "HEAD~1")


def write_files(data: SchoolData, core: Path, unplatform: bool, code_template: Path) -> int:
    """Lay out /home/core like a gStudio host; returns the bytes of media written."""
    rng = data.rng
    d = core / "data"
    (core / "code").mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(code_template / "gstudio"), str(core / "code")], check=True)
    ndf = core / "code" / "gstudio" / "gnowsys-ndf" / "gnowsys_ndf"
    (ndf / "server_settings.py").write_text(SERVER_SETTINGS.format(
        server_id=data.server_id, school_code=data.school_code, school_name=data.school_name))
    (ndf / "local_settings.py").write_text(LOCAL_SETTINGS.format(
        secret=f"{rng.getrandbits(160):040x}", db_password=f"{rng.getrandbits(64):016x}"))
    mit = core / "code" / "qbank-gstudio-scripts" / "single_school_get_MIT_activity_data"
    write_bytes(mit / "single_school_get_MIT_activity_data.py",
                (STANDIN / "single_school_get_MIT_activity_data.py").read_bytes())
    # Real checkouts belong to the "core" user (uid 500), not to root who runs the collection.
    subprocess.run(["chown", "-R", "500:500", str(core / "code")], check=True)
    media_left, n = data.size.media_bytes, 0
    while media_left > 0:
        chunk = min(media_left, rng.choice([40_000, 250_000, 4_000_000]))
        h = f"{rng.getrandbits(32):08x}"
        write_bytes(d / "media" / h[:1] / h[1:3] / f"{h}.{rng.choice(['png', 'mp4', 'pdf'])}", rng.randbytes(chunk))
        media_left -= chunk
        n += 1
    # A link that resolves inside its item (collect keeps it as a link; merge and verify take it so)
    first = min(p for p in (d / "media").rglob("*") if p.is_file())
    (d / "media" / "latest-upload.link").symlink_to(first.relative_to(d / "media"))
    for node in data.nodes[:40]:
        h = str(node["_id"])
        body = json.dumps({"_id": h, "name": node["name"], "_type": node["_type"]})
        rcs = ("head\t1.1;\naccess;\nsymbols;\nlocks; strict;\n\n1.1\ndate\t2018.06.04.04.00.00;\n\n"
               f"desc\n@@\n\n1.1\nlog\n@@\ntext\n@{body}\n@\n")
        write_bytes(d / "rcs-repo" / "Nodes" / h[-1] / h[-2] / h[-3] / f"{h}.json,v", rcs.encode())
    write_bytes(d / "gstudio-logs" / "export_users_analytics.log", b"2018-06-03 20:05 export done\n")
    write_bytes(d / "gstudio-logs" / "update-2018-06.log", b"patch-r5 applied\n")
    for n, uid in enumerate(data.user_ids[:5]):
        app = rng.choice(TOOLS)
        events = tool_records(app, uid, data.user_ids[(n + 1) % len(data.user_ids)])
        if uid == data.user_ids[0]:  # a tool that logs no time: the MIT script dates it far in the future
            events.append({"appName": app, "event_type": "end", "params": {}})
        write_bytes(d / "gstudio_tools_logs" / app / f"{uid}-{app}.json", json.dumps(events).encode())
    header = "server_id,school_name,school_code,unit_name,username\r\n"
    rows = "".join(f"{data.server_id},{data.school_name},{data.school_code},english-elementary,{u}\r\n"
                   for u in data.users[:5])
    write_bytes(d / "gstudio-exported-users-analytics-csvs" /
                f"{data.school_code}-{data.server_id}-english-elementary-20180603-20h05m.csv",
                (header + rows).encode())
    write_bytes(d / "activity-timestamp-csvs" / f"{data.server_id}-{data.users[0]}-activity-visits-20180603-20h05m.csv",
                b"Unit,Lesson,Activity,Language,VisitedOn,OutTime,OutAction,TimeSpentInSeconds,Buddies\r\n")
    write_bytes(d / "system-heartbeat" / "system-heartbeat-20180603-010101.log", b"clixserver\nup 3 days\n")
    write_bytes(d / "nginx-logs" / "access.log",
                "".join(f'10.1.1.{i} - - [04/Jun/2018:10:00:{i:02d} +0530] "GET / HTTP/1.1" 200 512\n'
                        for i in range(50)).encode())
    write_bytes(d / "nginx-logs" / "error.log", b"")
    write_bytes(d / "postgres-dump" / "pg_dump_all.sql", b"-- old dump written by the container's backup.sh\n")
    store = core / "assesment-datastore"
    for i in range(4):
        write_bytes(store / "repository" / "AssetContent" / f"asset{i}.mp3", rng.randbytes(20_000))
    for i in range(3):
        write_bytes(store / "studentResponseFiles" / f"response-{data.user_ids[i]}-{i}.wav", rng.randbytes(15_000))
    if unplatform:
        un = core / "unplatform"
        write_bytes(un / "data" / "unplatform.db", rng.randbytes(30_000))
        write_bytes(un / "logs" / "unplatform.log", b"unplatform started\n")
    return data.size.media_bytes
