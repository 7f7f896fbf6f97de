"""The fields the research team's analyses need, on a school made here in the real record shapes:
tool records as each CLIx tool writes them (the shapes of clix_dashboard_backend_AF's public test
data and of the tools' own sources), users' roles, and an assessment with its context (offering,
part, question text, choices, answer key, and the unit whose page embeds it)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest
from bson import ObjectId
from mit_csv import long_form, sql_long_form
from test_dataset_units import ACT, GST, LESSON, MODULE, PLAYER, T0, UNIT, bench, school, write_bson

from clix_dataset.build import analyses, build
from clix_derive import __main__ as cli

USERS = [(1, "administrator", "2018-05-01 09:00:00+05:30", "2018-05-01 09:00:00+05:30"),
         (5, "red-fox-mz1", "2018-06-04 09:55:00+05:30", "2018-05-01 09:00:00+05:30"),
         (6, "blue-owl-mz1", "2018-06-04 09:55:00+05:30", "2018-05-01 09:00:00+05:30"),
         (7, "mrs-rao-mz1", "2018-06-04 09:55:00+05:30", "2018-05-01 09:00:00+05:30")]
# Tool records as the tools post them (gStudio appends them as they are).
TOOLS = {
    # Ice-cubes-in-lemonade: only nested times, the logged-in user and a buddy named in the record.
    "Ice-cubes-in-lemonade/6-Ice-cubes-in-lemonade.json": [
        {"appName": "Ice-cubes-in-lemonade", "language": "en", "userId": "5", "buddyIds": "5,6",
         "sessionId": "q1w2e3", "appData": {"eventType": "tool_start", "tool_startTime": "2018-6-4 10:5:0",
                                            "language": "en", "attempt": [], "eventType1": "tool_end",
                                            "tool_endTime": "2018-6-4 10:12:30", "totalScore": "3",
                                            "createdAt": "2018-6-4 10:12:30"}}],
    # rationpatterns: JavaScript's getMonth() counts from 0: "2018-5-4" is 4 June.
    "rationpatterns/5-rationpatterns.json": [
        {"appName": "rationpatterns", "userId": "5", "sessionId": "r1", "createdAt": "2018-6-4 11:0:0",
         "appData": {"gameOverallStartTime": "2018-5-4:10:30:0", "gameOverallEndTime": "2018-5-4:10:41:15",
                     "activityNo": 5}}],
    # policesquad: gStudio's gameReporter wrapper, the tool's own count of time.
    "policesquad/5-policesquad.json": [
        {"user_id": "5", "created_at": "2018-6-4 12:0:0", "buddy_details": "5", "sessionid": "djangokey1",
         "app_name": "policesquadv2", "event_type": "stage_end",
         "params": {"CurrentMission": 2, "TimeSpentStage": "0:4:30", "language": "hi"}}],
    # coins_puzzle: createdAt and per-step timeStamps in epoch milliseconds.
    "coins_puzzle/5-coins_puzzle.json": [
        {"appData": {"data_log": [{"coin_2_number": 5, "timeStamp": 1528086847017, "total": 15}]},
         "language": "en", "appName": "coins_puzzle", "userId": "5", "sessionId": "c1", "buddyIds": "",
         "createdAt": "2018-6-4 13:54:7"}],
    # ages_puzzle: a JavaScript Date text inside the data log only; and a record with no time at all.
    "ages_puzzle/5-ages_puzzle.json": [
        {"language": "en", "buddyIds": "", "appName": "ages_puzzle", "userId": "5", "sessionId": "a1",
         "appData": {"data_log": [{"timeStamp": "Mon Jun 04 2018 14:03:31 GMT+0530 (India Standard Time)",
                                   "age1": 12}]}},
        {"appData": {}, "language": "en", "appName": "ages_puzzle", "userId": "5", "sessionId": "a1",
         "buddyIds": ""}],
    # Food_sharing_tool: created_at, and a reason the child typed.
    "Food_sharing_tool/5-Food_sharing_tool.json": [
        {"user_id": "5", "created_at": "2018-6-4 15:16:1", "buddy_details": "5", "app_name": "Food_sharing_tool",
         "event_type": "thirdscreenend", "sessionId": "f1",
         "params": {"language": "en", "Lesson": "2", "TextReasonforfirstchoice": "equal shares"}}],
}
AUTHOR_GST, OFFERED, ASSESSMENT, PART, ITEM1, ITEM2, TAKEN, SECTION, PAGE = (
    ObjectId(f"{i:024x}") for i in range(0x100, 0x109))
C1, C2, C3 = "choice-a", "choice-b", "choice-c"


def qbank(top: Path) -> None:
    db = top / "gstudio" / "db"
    osid = "assessment.{}%3A{}%40ODL.MIT.EDU".format
    write_bson(db / "assessment" / "Item.bson", [
        {"_id": ITEM1, "displayName": {"text": "Q1"}, "genusTypeId": "item-genus-type%3Aqti-choice-interaction%40ODL",
         "question": {"texts": [{"text": "<p>कितने?</p>", "languageTypeId": "639-2%3AHIN%40ISO"},
                                {"text": "<p>How <b>many</b>?</p>", "languageTypeId": "639-2%3AENG%40ISO"}],
                      "choices": [{"id": C1, "texts": [{"text": "<p>two</p>", "languageTypeId": "639-2%3AENG%40ISO"}]},
                                  {"id": C2, "text": "<p>three</p>"}]},
         "answers": [{"genusTypeId": "answer-type%3Aright-answer%40ODL.MIT.EDU", "choiceIds": [C2]},
                     {"genusTypeId": "answer-type%3Awrong-answer%40ODL.MIT.EDU", "choiceIds": [C1]}],
         "assignedBankIds": [osid("Bank", "5a0b1c2d3e4f5a6b7c8d9e0f")]},
        {"_id": ITEM2, "displayName": {"text": "Q2"},
         "genusTypeId": "item-genus-type%3Aqti-extended-text-interaction%40ODL.MIT.EDU",
         "question": {"text": {"text": "Why?"}}, "answers": []}])
    write_bson(db / "assessment" / "AssessmentOffered.bson", [
        {"_id": OFFERED, "displayName": {"text": "Sound: check your understanding"},
         "assessmentId": osid("Assessment", ASSESSMENT), "assignedBankIds": [osid("Bank", "5a0b1c2d3e4f5a6b7c8d9e0f")]}])
    write_bson(db / "assessment_authoring" / "AssessmentPart.bson", [
        {"_id": PART, "displayName": {"text": "Part A"}, "assessmentId": osid("Assessment", ASSESSMENT)}])
    start = dt.datetime(2018, 6, 4, 5, 0)  # dlkit keeps UTC
    write_bson(db / "assessment" / "AssessmentTaken.bson", [
        {"_id": TAKEN, "assessmentOfferedId": osid("AssessmentOffered", OFFERED),
         "takingAgentId": "osid.agent.Agent%3Ared-fox-mz1%40MIT-ODL", "actualStartTime": start,
         "completionTime": start + dt.timedelta(minutes=9), "sections": [osid("AssessmentSection", SECTION)]}])
    write_bson(db / "assessment" / "AssessmentSection.bson", [
        {"_id": SECTION, "assessmentTakenId": str(TAKEN),
         "assessmentPartId": f"assessment_authoring.AssessmentPart%3A{PART}%40ODL",
         "questions": [
             {"_id": ObjectId(), "itemId": osid("Item", ITEM1), "responses": [
                 {"choiceIds": [C2], "submissionTime": start + dt.timedelta(minutes=3), "isCorrect": True},
                 {"choiceIds": [C1], "submissionTime": start + dt.timedelta(minutes=1), "isCorrect": False}]},
             {"_id": ObjectId(), "itemId": osid("Item", ITEM2), "responses": [
                 {"text": {"text": "because of echoes"}, "submissionTime": start + dt.timedelta(minutes=8),
                  "isCorrect": None}]}]}])


@pytest.fixture()
def dataset(tmp_path: Path):
    top = school(tmp_path, "2026", "2031001-mz1", USERS,
                 [bench("red-fox-mz1", PLAYER, T0, "activity_player_detail")],
                 tools={rel: json.dumps(records) for rel, records in TOOLS.items()})
    # Roles: the Author nodes (agency_type) and the staff flag of mrs-rao.
    nodes = top / "gstudio" / "db" / "gstudio-mongodb" / "Nodes.bson"
    write_bson(nodes, [
        {"_id": GST, "_type": "GSystemType", "name": "announced_unit"},
        {"_id": MODULE, "_type": "GSystemType", "name": "Module"},
        {"_id": AUTHOR_GST, "_type": "GSystemType", "name": "Author"},
        {"_id": UNIT, "_type": "Group", "name": "Sound", "altnames": "Sound Unit", "member_of": [GST],
         "collection_set": [LESSON]},
        {"_id": LESSON, "_type": "GSystem", "name": "Lesson 1", "collection_set": [ACT, PAGE]},
        {"_id": ACT, "_type": "GSystem", "name": "Activity 1", "altnames": ""},
        {"_id": PAGE, "_type": "GSystem", "name": "Check", "altnames": "Check yourself",
         "content": '<p>Answer:</p><iframe src="/oac/?unlock_next=ON_CORRECT&bank=assessment.Bank%3A5a0b1c2d3e4f5a6b7c8d9e0f'
                    f'%40ODL.MIT.EDU&assessment_offered_id=assessment.AssessmentOffered%3A{OFFERED}%40ODL.MIT.EDU'
                    '#/assessment"></iframe>'},
        *[{"_id": ObjectId(), "_type": "Author", "name": name, "created_by": uid, "agency_type": agency}
          for uid, name, agency in ((5, "red-fox-mz1", "Student"), (6, "blue-owl-mz1", "Student"),
                                    (7, "mrs-rao-mz1", "Teacher"))]])
    dump = top / "gstudio" / "postgres-dump" / "pg_dump_all.sql"
    dump.write_text(dump.read_text().replace("\tmrs-rao-mz1\t\t\t\tf\t", "\tmrs-rao-mz1\t\t\t\tt\t")
                    .replace("\tf\tadministrator\t", "\tt\tadministrator\t"))
    qbank(top)
    build(str(tmp_path), log=lambda _: None)
    con = duckdb.connect(str(tmp_path / "dataset" / "clix.duckdb"), read_only=True)
    con.execute("SET TimeZone = 'Asia/Kolkata'")
    yield con
    con.close()


def test_tool_records_are_read_as_each_tool_writes_them(dataset):
    rows = dataset.execute(
        "SELECT tool_family, strftime(event_at, '%Y-%m-%d %H:%M:%S'), strftime(started_at, '%Y-%m-%d %H:%M:%S'), "
        "strftime(ended_at, '%H:%M:%S'), seconds, time_spent_seconds, current_mission, event_type, language, "
        "missing_time FROM tool_events ORDER BY tool_family, record_index").fetchall()
    assert rows == [
        ("ages_puzzle", None, None, None, None, None, None, None, "en", False),  # a time in its data log
        ("ages_puzzle", None, None, None, None, None, None, None, "en", True),   # none anywhere
        ("coins_puzzle", "2018-06-04 13:54:07", None, None, None, None, None, None, "en", False),
        ("food_sharing_tool", "2018-06-04 15:16:01", None, None, None, None, None, "thirdscreenend", "en", False),
        ("ice", "2018-06-04 10:12:30", "2018-06-04 10:05:00", "10:12:30", 450.0, None, None, "tool_start", "en", False),
        ("policesquad", "2018-06-04 12:00:00", None, None, None, 270.0, "2", "stage_end", "hi", False),
        ("rationpatterns", "2018-06-04 11:00:00", "2018-06-04 10:30:00", "10:41:15", 675.0, None, None, None, None, False)]
    keys = dict(dataset.execute("SELECT username, user_key FROM users").fetchall())
    ice = dataset.execute("SELECT user_id, user_key, logged_by_user_id, logged_by_user_key, buddy_keys "
                          "FROM tool_events WHERE tool_family = 'ice'").fetchall()
    # A buddy's copy: in blue-owl's file, logged by red-fox, who named blue-owl as a buddy.
    assert ice == [(6, keys["blue-owl-mz1"], 5, keys["red-fox-mz1"], [keys["blue-owl-mz1"]])]


def test_users_carry_their_role(dataset):
    assert dataset.execute("SELECT username, is_staff, is_superuser, agency_type, role FROM users ORDER BY user_id"
                           ).fetchall() == [
        ("administrator", False, True, None, "admin"), ("red-fox-mz1", False, False, "Student", "student"),
        ("blue-owl-mz1", False, False, "Student", "student"), ("mrs-rao-mz1", True, False, "Teacher", "teacher")]


def test_assessments_carry_their_context(dataset):
    assert dataset.execute("SELECT item_id, name, question_text, choices, answer_choice_ids FROM assessment_items "
                           "ORDER BY item_id").fetchall() == [
        (str(ITEM1), "Q1", "How many?", [{"id": C1, "text": "two"}, {"id": C2, "text": "three"}], [C2]),
        (str(ITEM2), "Q2", "Why?", [], [])]
    assert dataset.execute("SELECT offered_id, name, assessment_id, unit_id, unit_name, lesson_name, activity_name "
                           "FROM assessment_offerings").fetchall() == [
        (str(OFFERED), "Sound: check your understanding", str(ASSESSMENT), str(UNIT), "Sound Unit", "Lesson 1",
         "Check yourself")]
    rows = dataset.execute(
        "SELECT r.username, o.name, strftime(r.taken_started_at, '%H:%M'), strftime(r.taken_completed_at, '%H:%M'), "
        "r.part_name, r.question_number, i.question_text, r.attempt, r.response_kind, "
        "[c.text FOR c IN i.choices IF list_contains(r.choice_ids, c.id)], r.answer_text, r.is_correct "
        "FROM assessment_responses r JOIN assessment_items i USING (item_id) "
        "JOIN assessment_offerings o ON o.offered_id = r.assessment_offered_id ORDER BY r.question_number, r.attempt"
    ).fetchall()
    assert rows == [
        ("red-fox-mz1", "Sound: check your understanding", "10:30", "10:39", "Part A", 1, "How many?", 1, "choice",
         ["two"], None, False),
        ("red-fox-mz1", "Sound: check your understanding", "10:30", "10:39", "Part A", 1, "How many?", 2, "choice",
         ["three"], None, True),
        ("red-fox-mz1", "Sound: check your understanding", "10:30", "10:39", "Part A", 2, "Why?", 1, "text",
         [], "because of echoes", None)]


def analysis(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple]:
    return con.execute(analyses()[name]).fetchall()


def test_the_team_s_analyses_answer_as_counted_by_hand(dataset):
    name = dict(dataset.execute("SELECT user_key, username FROM users").fetchall())

    def named(rows: list[tuple], at: int) -> list[tuple]:
        return [(*r[:at], name.get(r[at], r[at]), *r[at + 1:]) for r in rows]

    # red-fox: coins and food sharing one record a day (0 s), policesquad 4 min 30 s by its own count,
    # rationpatterns 10:30:00-10:41:15; blue-owl's copy of the Ice-cubes session 10:05:00-10:12:30; the
    # ages_puzzle records have no time of their own to count.
    assert named(analysis(dataset, "tool_time.sql"), 3) == [
        ("mz", "mz1", "2031001", "blue-owl-mz1", "ice", "Mathematics", 1, 450.0),
        ("mz", "mz1", "2031001", "red-fox-mz1", "coins_puzzle", "Mathematics", 1, 0.0),
        ("mz", "mz1", "2031001", "red-fox-mz1", "food_sharing_tool", "Mathematics", 1, 0.0),
        ("mz", "mz1", "2031001", "red-fox-mz1", "policesquad", "Mathematics", 1, 270.0),
        ("mz", "mz1", "2031001", "red-fox-mz1", "rationpatterns", "Mathematics", 1, 675.0)]
    # admin (never logged in), two students (both logged in, red-fox visited on one day), a teacher.
    assert analysis(dataset, "logins_by_role.sql") == [
        ("mz", "mz1", "2031001", "admin", 1, 0, 0, 0), ("mz", "mz1", "2031001", "student", 2, 2, 1, 1),
        ("mz", "mz1", "2031001", "teacher", 1, 1, 0, 0)]
    # 4 June 2018: the server on (a visit), modules and tools used.
    assert analysis(dataset, "lab_days.sql") == [("mz", "mz1", "2031001", "2018-06", "2018-19", 1, 1, 1, 1, 0)]
    # Both students present on 4 June (red-fox's visit and tools, blue-owl's Ice-cubes copy).
    assert analysis(dataset, "attendance.sql") == [("mz", "mz1", "2031001", "2018-06", 1, 2.0, 2)]
    # Q1 wrong, then right; Q2 typed (qbank does not judge it).
    assert named(analysis(dataset, "assessment_scores_by_unit.sql"), 5) == [
        ("mz", "mz1", "2031001", "Sound Unit", "Sound: check your understanding", "red-fox-mz1", 2, 0, 1)]
    assert [(r[3], r[4], r[5], r[7], r[8], r[9], r[11], r[12], r[13])
            for r in analysis(dataset, "assessment_results.sql")] == [
        ("Sound Unit", "Sound: check your understanding", "Part A", 1, "How many?", 1, "choice", ["two"], False),
        ("Sound Unit", "Sound: check your understanding", "Part A", 1, "How many?", 2, "choice", ["three"], True),
        ("Sound Unit", "Sound: check your understanding", "Part A", 2, "Why?", 1, "text", [], None)]
    assert dataset.execute("SELECT academic_year(DATE '2019-03-31'), academic_year(DATE '2019-04-01')").fetchall() \
        == [("2018-19", "2019-20")]


def test_the_mit_analysis_is_the_mit_script_s_csv(dataset, tmp_path):
    """clix_derive writes the MIT script's CSV from the same collection: the analysis gives its cells."""
    out = tmp_path / "derived"
    assert cli.main(["archive", str(tmp_path / "2026" / "mz" / "2031001-mz1"), "--out", str(out), "--only", "mit",
                     "--now", "2026-11-25T09:07"]) == 0
    expected = long_form(out / "qbank" / "student-activities" / "activity-data.csv")
    assert expected and sql_long_form(analysis(dataset, "mit_activity_data.sql")) == expected
