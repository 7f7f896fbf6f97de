"""clix_derive's unplatform data: the hand-made school of tests/unplatform_fixture.py gives the
hand-computed CSVs byte for byte, each mapping rule has a test of its own, and an archive file is
read as untrusted input (a bad file is a reported reject, a broken PC never stops the others)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from pathlib import Path

import pytest
from unplatform_fixture import EXPECTED, SCHOOL, make_school

from clix_derive import __main__ as cli
from clix_derive import unplatform as up

FILES = ["pc01/activity-data.csv", "pc01/sessions.csv", "pc02/activity-data.csv", "pc02/sessions.csv"]


@pytest.fixture()
def school(tmp_path: Path) -> Path:
    return make_school(tmp_path / "clix")


def derived(school: Path) -> Path:
    return school.parents[2] / "derived" / "2026" / "mz" / SCHOOL / "unplatform"


def run(school: Path, capfd) -> tuple[int, list[dict], str]:
    rc = cli.main(["archive", str(school.parent)])
    out, err = capfd.readouterr()
    return rc, [json.loads(line) for line in out.splitlines()], err


@pytest.mark.parametrize("name", FILES)
def test_the_hand_made_school_gives_the_hand_computed_csvs(school, capfd, name):
    rc, _results, err = run(school, capfd)
    assert rc == 0, err
    assert (derived(school) / name).read_bytes() == (EXPECTED / name).read_bytes()


def test_a_school_with_lab_pcs_and_no_server_is_derived_without_a_gstudio_error(school, capfd):
    rc, [result], err = run(school, capfd)
    assert rc == 0 and "gstudio" not in err.lower()
    assert result["school"] == SCHOOL and result["files"] == 4
    assert result["unplatform"]["pcs"] == {"pc01": {"sessions": 6, "log_entries": 13, "rejects": 2},
                                           "pc02": {"sessions": 2, "log_entries": 3, "rejects": 0}}


def test_a_torn_json_file_and_a_link_are_reported_rejects(school, capfd):
    rc, _, err = run(school, capfd)
    assert rc == 0
    assert "rejected" in err and "e13.json: Unterminated string" in err
    assert "e15.json is a symbolic link: not followed" in err


def test_a_broken_pc_is_reported_and_the_other_pc_still_gets_its_data(school, capfd):
    db = school / "unplatform" / "pc02" / "v1-app" / "unplatform" / "db.sqlite3"
    db.write_bytes(b"not a database, just bytes" * 100)
    (school / "unplatform" / "pc01" / "opt-clix" / "unplatform.sqlite3").unlink()
    os.symlink("/etc/passwd", school / "unplatform" / "pc01" / "opt-clix" / "unplatform.sqlite3")
    rc, _, err = run(school, capfd)
    assert rc == 0
    assert "db.sqlite3: file is not a database" in err
    assert "unplatform.sqlite3: not a regular file (a link, FIFO or device): not read" in err
    assert (derived(school) / "pc02" / "sessions.csv").read_text().count("\n") == 2  # gggg7777 only
    assert "aaaa1111" in (derived(school) / "pc01" / "sessions.csv").read_text()


def test_a_pc_whose_output_cannot_be_written_fails_the_school_and_the_other_pc_is_written(school, capfd):
    derived(school).mkdir(parents=True)
    (derived(school) / "pc01").write_text("in the way")
    rc, [result], err = run(school, capfd)
    assert rc == 1 and "lab PC(s) failed: pc01: " in result["failed"] and "lab PC pc01: FAILED" in err
    assert (derived(school) / FILES[3]).read_bytes() == (EXPECTED / FILES[3]).read_bytes()


def test_a_linked_folder_inside_an_install_or_a_linked_unplatform_folder_is_never_followed(school, tmp_path, capfd):
    install = school / "unplatform" / "pc01" / "opt-clix"
    outside = tmp_path / "elsewhere"
    (install / "webapps").rename(outside)
    os.symlink(outside, install / "webapps")
    v1 = school / "unplatform" / "pc02" / "v1-app" / "unplatform"
    v1.rename(tmp_path / "v1-elsewhere")
    os.symlink(tmp_path / "v1-elsewhere", v1)
    rc, [result], err = run(school, capfd)
    assert rc == 0 and result["unplatform"]["pcs"] == {"pc01": {"sessions": 3, "log_entries": 0, "rejects": 2},
                                                       "pc02": {"sessions": 1, "log_entries": 2, "rejects": 1}}
    assert "webapps/unplatform/user_data: " in err and "a link in the collected tree, not followed" in err
    other = school.parent / "2031008-mz8"
    other.mkdir()
    os.symlink(school / "unplatform", other / "unplatform")
    assert cli.main(["archive", str(other)]) == 2 and "no collected school" in capfd.readouterr().err
    assert up.lab_pcs(str(other)) == [] and "unplatform is a link: not followed" in capfd.readouterr().err
    assert not (school.parents[2] / "derived" / "2026" / "mz" / "2031008-mz8").exists()


def test_a_time_past_what_ist_can_show_is_a_reject(tmp_path):
    logs = tmp_path / "pc" / "i" / "webapps" / "CLIx" / "datastore" / "logging" / "LogEntry"
    logs.mkdir(parents=True)
    far = {"year": 9999, "month": 12, "day": 31, "hour": 23, "minute": 0, "second": 0}
    (logs / "a.json").write_text(json.dumps({"timestamp": far, "agentId": "x", "text": {"text": "{}"}}))
    pc = up.read_pc("pc", str(tmp_path / "pc"))
    assert pc.entries == {} and "out of range" in pc.rejects[0][1]


def test_a_folder_that_names_no_lab_pc_or_is_a_link_or_holds_no_install_is_left_out(school, capfd):
    os.symlink(school / "unplatform" / "pc01", school / "unplatform" / "pc03")
    (school / "unplatform" / "PC 4").mkdir()
    # A school server's own unplatform folder (the server item unplatform -> unplatform/) beside them
    (school / "unplatform" / "data").mkdir()
    (school / "unplatform" / "data" / "unplatform.db").write_bytes(b"x")
    (school / "unplatform" / "logs" / "old").mkdir(parents=True)
    rc, [result], err = run(school, capfd)
    assert rc == 0 and sorted(result["unplatform"]["pcs"]) == ["pc01", "pc02"]
    assert "pc03: not a folder (a link or a file): left out" in err and "'PC 4'" in err
    assert "data: no unplatform install in it, not a lab PC: left out" in err and "logs: no unplatform" in err
    assert sorted(p.name for p in derived(school).iterdir()) == ["pc01", "pc02"]


def test_a_school_whose_gstudio_tree_is_broken_still_gets_its_lab_pcs_data(school, capfd):
    (school / "gstudio").mkdir()
    rc, [result], _err = run(school, capfd)
    assert rc == 1 and "gstudio/db/gstudio-mongodb is missing" in result["failed"]
    assert (derived(school) / "pc01" / "activity-data.csv").read_bytes() == (EXPECTED / FILES[0]).read_bytes()


# -- the mapping's rules, one at a time ----------------------------------------------------------
def entry(minute: int, key: str = "s1", **event) -> up.Entry:
    return up.Entry(key, dt.datetime(2018, 7, 9, 4, minute), event)


def session(*entries: up.Entry, username: str = "") -> up.Session:
    return up.Session("s1", {"username": username}, None, list(entries))


def place(activity: str) -> dict:
    return {"unit": "U 1", "subject": "L 1", "activity": activity}


def test_a_visit_is_a_change_of_place_in_ist_wall_clock():
    s = session(entry(0, **place("A")), entry(1, action="pause", **place("A")), entry(2, **place("B")),
                entry(3, **place("A")))
    assert up.visits(s) == [(dt.datetime(2018, 7, 9, 9, 30), "u-1 / l-1 / a"), (dt.datetime(2018, 7, 9, 9, 32), "u-1 / l-1 / b"),
                            (dt.datetime(2018, 7, 9, 9, 33), "u-1 / l-1 / a")]


def test_a_missing_part_of_a_place_is_na_and_other_events_are_no_visits():
    s = session(entry(0, activity="A"), entry(1, action="click", target="Select Module"), entry(2, action="play"))
    assert up.visits(s) == [(dt.datetime(2018, 7, 9, 9, 30), "NA / NA / a")]


def test_a_tool_chosen_in_the_tool_list_is_a_visit_named_by_the_tool():
    s = session(entry(0, action="click", target="Select tool: Police Quad"),
                entry(1, action="click", target="Select subtool: Police Quad"))
    assert up.visits(s) == [(dt.datetime(2018, 7, 9, 9, 30), "Police Quad")]


def test_the_typed_student_ids_are_the_users_else_the_session_id():
    assert up.users_of(session(username="100, 120, and 97")) == ["100", "120", "97"]
    assert up.users_of(session(username=" zoë ,zoë, ")) == ["zoë"]
    assert up.users_of(session(username="")) == ["s1"]


def test_an_entry_logged_under_a_username_goes_to_the_latest_session_of_that_name_started_before_it():
    pc = up.Pc("pc01")
    for sid, hour in (("early", 3), ("late", 5)):
        pc.session(sid).user = {"username": "asha"}
        pc.session(sid).start_utc = dt.datetime(2018, 7, 9, hour)
    pc.entries = {"a": up.Entry("asha", dt.datetime(2018, 7, 9, 4), {}),
                  "b": up.Entry("asha", dt.datetime(2018, 7, 9, 6), {}),
                  "c": up.Entry("asha", dt.datetime(2018, 7, 9, 2), {}),
                  "d": up.Entry("late", dt.datetime(2018, 7, 9, 1), {}),
                  "e": up.Entry("nobody", dt.datetime(2018, 7, 9, 1), {})}
    up._assign(pc)
    assert {k: e.session for k, e in pc.entries.items()} == {"a": "early", "b": "late", "c": "early", "d": "late",
                                                             "e": "nobody"}


def test_the_agent_is_the_unquoted_agent_id_else_the_events_session_key():
    assert up._agent_key({"agentId": "osid.agent.Agent%3Azo%C3%AB%2C%2042%40MIT-ODL"}, {}) == "zoë, 42"
    assert up._agent_key({}, {"user_id": 7, "sessionId": "s9"}) == "s9"
    assert up._agent_key({}, {}) == "none_provided"


def test_a_session_ends_at_its_last_finish_event_else_the_end_is_empty():
    pc = up.Pc("pc01")
    pc.session("s1").entries = [entry(0, action="clicked_finished"), entry(5, action="click", target="Select User"),
                                entry(9, action="play")]
    pc.session("s2").entries = [entry(0, "s2", action="click", target="Select Module")]
    rows = {r[0]: r for r in up.session_rows(pc)}
    assert rows["s1"][4:] == ["2018-07-09 09:30:00", "2018-07-09 09:35:00", "2018-07-09 09:39:00", 3]
    assert rows["s2"][4:] == ["2018-07-09 09:30:00", "", "2018-07-09 09:30:00", 1]


def test_installs_of_one_pc_are_united_an_entry_in_both_counts_once_and_the_first_user_data_wins(school):
    pc = up.read_pc("pc02", str(school / "unplatform" / "pc02"))
    assert pc.sessions["gggg7777"].user["userType"] == "student"
    assert sorted(pc.entries) == ["e20.json", "e21.json", "v1:v1-app:1"]


def test_a_v1_install_without_research_tables_is_a_reported_reject(tmp_path):
    db = tmp_path / "pc" / "old" / "unplatform" / "db.sqlite3"
    db.parent.mkdir(parents=True)
    sqlite3.connect(db).execute("CREATE TABLE django_session (session_key text)").connection.commit()
    pc = up.read_pc("pc", str(tmp_path / "pc"))
    assert pc.sessions == {} and "no research_uuid table" in pc.rejects[0][1]


def test_an_archived_database_that_could_run_or_never_end_is_rejected_unread(tmp_path):
    """clix_derive (and so the dataset) reads a lab PC's databases as untrusted data, by clix_unplatform:
    a sessions 'table' that is an endless recursive view, or a v1 database with a trigger, is a reject."""
    v2 = tmp_path / "pc" / "opt-clix" / "unplatform.sqlite3"
    v2.parent.mkdir(parents=True)
    con = sqlite3.connect(v2)
    con.execute("CREATE VIEW sessions(session_id, atime, data) AS WITH RECURSIVE n(i) AS "
                "(SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i, i, i FROM n")
    con.commit()
    con.close()
    v1 = tmp_path / "pc" / "old" / "unplatform" / "db.sqlite3"
    v1.parent.mkdir(parents=True)
    con = sqlite3.connect(v1)
    con.execute("CREATE TABLE research_uuid (session_id text, creation_time text)")
    con.execute("INSERT INTO research_uuid VALUES ('s1', '2018-07-09 10:00:00')")
    con.execute("CREATE TRIGGER t AFTER INSERT ON research_uuid BEGIN DELETE FROM research_uuid; END")
    con.commit()
    con.close()
    pc = up.read_pc("pc", str(tmp_path / "pc"))
    assert pc.sessions == {}
    reasons = {Path(path).name: reason for path, reason in pc.rejects}
    assert "view 'sessions'" in reasons["unplatform.sqlite3"] and "trigger 't'" in reasons["db.sqlite3"]
