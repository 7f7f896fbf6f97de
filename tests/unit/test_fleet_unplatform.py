"""The test bed's unplatform installs (fleet/unplatform.py) hold what the issue's Test bed asks for,
in the layout module_utils/clix_unplatform.py names."""

from __future__ import annotations

import base64
import json
import pickle
import sqlite3
from pathlib import Path

from ansible.module_utils import clix_unplatform as U

from fleet import unplatform


def sessions(db: Path) -> list[tuple]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(con.execute("SELECT session_id, atime, data FROM sessions ORDER BY atime"))
    finally:
        con.close()


def log_texts(root: Path) -> dict[str, list[str]]:
    actions: dict[str, list[str]] = {}
    for f in (root / U.V2_DATASTORE / "logging/LogEntry").glob("*.json"):
        text = json.loads(json.loads(f.read_text(encoding="utf-8"))["text"]["text"])
        actions.setdefault(text["sessionId"], []).append(text["action"])
    return actions


def test_a_v2_install_holds_sessions_user_data_logs_and_assessments(tmp_path):
    made = unplatform.generate(tmp_path / "clix", 7, 30, school_code="2031001", pc="pc01")
    root = made.root
    rows = sessions(root / U.V2_SESSIONS_DB)
    assert [r[0] for r in sorted(rows)] == sorted(made.sessions) and len(rows) == 30
    assert all(len(r[0]) <= 128 for r in rows)
    assert pickle.loads(base64.decodebytes(rows[0][2].encode()))["session_id"] == rows[0][0]  # web.py's DBStore
    con = sqlite3.connect(root / U.V2_SESSIONS_DB)
    assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert "session_id char(128) UNIQUE NOT NULL" in con.execute("SELECT sql FROM sqlite_master").fetchone()[0]
    con.close()
    config = json.loads((root / U.V2_CONFIG).read_text())
    assert config[U.CONFIG_SCHOOL] == "2031001" and config[U.CONFIG_TERMINAL] == "pc01"
    assert set(config) == {"state", "district", "schoolId", "terminalId", "locale", "timestamp"}
    user_data = [json.loads(f.read_text(encoding="utf-8")) for f in (root / U.V2_USER_DATA).glob("*.json")]
    assert sorted(u["sessionId"] for u in user_data) == sorted(made.sessions)
    assert set(user_data[0]) == {"userType", "userCount", "username", "sessionId", "timestamp"}
    assert any(not u["username"].isascii() for u in user_data)  # unicode usernames
    assert any(u["userCount"] > 1 for u in user_data)  # several students at one PC
    # Every JSON file parses; a LogEntry's text.text is itself JSON with the session and action.
    files = [f for f in root.rglob("*.json")]
    assert len(files) == made.json_files + 1  # + config.json
    for f in files:
        json.loads(f.read_text(encoding="utf-8"))
    actions = log_texts(root)
    assert set(actions) == set(made.sessions)
    events = [json.loads(json.loads(f.read_text())["text"]["text"])
              for f in (root / U.V2_DATASTORE / "logging/LogEntry").glob("*.json")]
    assert any({"unit", "subject", "activity"} <= set(e) for e in events)  # content-player events
    assert any(e.get("target", "").startswith("Select tool: ") for e in events)
    assert made.unfinished and all(unplatform.FINISH not in actions[s] for s in made.unfinished)
    assert all(actions[s].count(unplatform.FINISH) == 1 for s in set(made.sessions) - set(made.unfinished))
    for package in ("assessment/AssessmentTaken", "assessment/AssessmentSection", "assessment/Item",
                    "assessment/Assessment", "assessment/AssessmentOffered", "assessment/Bank", "repository/Asset",
                    "logging/Log"):
        assert list((root / U.V2_DATASTORE / package).glob("*.json")), package
    section = json.loads(next((root / U.V2_DATASTORE / "assessment/AssessmentSection").glob("*.json")).read_text())
    assert {"itemId", "responses"} <= set(section["questions"][0])
    # dlkit's way on disk: json.dumps' defaults (ASCII, non-ASCII escaped), a datetime as a dict with tzinfo.
    assert all(f.read_bytes().isascii() for f in files)
    assert set(section["actualStartTime"]) == {"year", "month", "day", "hour", "minute", "second", "microsecond", "tzinfo"}


def test_audio_uploads_are_in_student_responses_and_asset_content_with_their_asset(tmp_path):
    made = unplatform.generate(tmp_path / "clix", 7, 12)
    assert made.uploads
    for name in made.uploads:
        upload = made.root / U.V2_STUDENT_RESPONSES / name
        assert upload.read_bytes()[:3] == b"ID3"
        assert (made.root / U.V2_ASSET_CONTENT / name).read_bytes() == upload.read_bytes()
    assets = [json.loads(f.read_text()) for f in (made.root / U.V2_DATASTORE / "repository/Asset").glob("*.json")]
    assert sorted(a["assetContents"][0]["url"].rsplit("/", 1)[1] for a in assets) == sorted(made.uploads)
    sections = [json.loads(f.read_text()) for f in (made.root / U.V2_DATASTORE / "assessment/AssessmentSection").glob("*.json")]
    file_responses = [r for s in sections for q in s["questions"] for r in q["responses"] if "fileIds" in r]
    assert sorted(n for r in file_responses for n in r["fileIds"]) == sorted(made.uploads)
    # Shipped content media beside the uploads (collected only when asked).
    assert len(list((made.root / U.V2_ASSET_CONTENT).glob("*.mp4"))) == 3


def test_config_can_be_missing_or_unset_and_the_same_seed_makes_the_same_files(tmp_path):
    missing = unplatform.generate(tmp_path / "a", 1, 3, config=False)
    assert not (missing.root / U.V2_CONFIG).exists()
    unset = unplatform.generate(tmp_path / "b", 1, 3)
    assert json.loads((unset.root / U.V2_CONFIG).read_text())[U.CONFIG_SCHOOL] == ""

    def tree(root: Path) -> dict:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
                if p.is_file() and p.name != U.V2_SESSIONS_DB and U.V2_CONFIG not in str(p)}

    assert tree(missing.root) == tree(unset.root)
    assert sessions(missing.root / U.V2_SESSIONS_DB) == sessions(unset.root / U.V2_SESSIONS_DB)


def test_a_v1_install_is_a_django_folder_with_its_database_and_log(tmp_path):
    made = unplatform.generate_v1(tmp_path / "CLIx_Unplatform", 3, 8)
    con = sqlite3.connect(made.root / U.V1_DB)
    logged = {r[0] for r in con.execute("SELECT session_id FROM research_uuid")}
    assert logged == {r[0] for r in con.execute("SELECT DISTINCT session_id_id FROM research_appdata")}
    assert logged == {r[0] for r in con.execute("SELECT session_id_id FROM research_user")}
    finished = {r[0] for r in con.execute("SELECT session_id_id FROM research_appdata WHERE event_type = ?",
                                          (unplatform.FINISH,))}
    con.close()
    assert logged == set(made.sessions) and finished == set(made.sessions) - set(made.unfinished)
    assert made.unfinished
    assert (made.root / U.V1_LOG).read_text(encoding="utf-8").count("session ") == 8
    assert not (made.root / U.V2_SESSIONS_DB).exists()
