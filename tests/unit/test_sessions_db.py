"""clix_unplatform's sessions databases: read as data (read-only, immutable, no view or trigger,
bounded values, in batches) and folded into a database of the project's own schema."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from ansible.module_utils import clix_unplatform as U


def db(path: Path, *statements: str, journal: str = "DELETE") -> Path:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=%s" % journal)
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()
    return path


def rows(*triples) -> list:
    return ["INSERT INTO sessions VALUES ('%s', '%s', '%s')" % t for t in triples]


ENDLESS_VIEW = ("CREATE VIEW sessions AS WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
                "SELECT x AS session_id, x AS atime, x AS data FROM n")


def test_sessions_are_read_in_batches_from_a_plain_table(tmp_path):
    path = db(tmp_path / "a.db", U.SESSIONS_SCHEMA, *rows(*(("s%03d" % i, "2026-01-01", "d") for i in range(150))))
    chunks = list(U.read_sessions(str(path), batch=64))
    assert [len(c) for c in chunks] == [64, 64, 22] and chunks[0][0] == ("s000", "2026-01-01", "d")


@pytest.mark.parametrize("statements, why", [
    ((ENDLESS_VIEW,), "view 'sessions'"),
    ((U.SESSIONS_SCHEMA, "CREATE VIEW v AS SELECT 1"), "view 'v'"),
    ((U.SESSIONS_SCHEMA, "CREATE TRIGGER t AFTER INSERT ON sessions BEGIN DELETE FROM sessions; END"), "trigger 't'"),
    (("CREATE TABLE other (x)",), "no sessions table"),
    (("CREATE TABLE sessions (session_id, atime)",), "no column data"),
    (("CREATE TABLE sessions (session_id, atime, data AS (zeroblob(1000000000)))",), "computed"),
    (("CREATE VIRTUAL TABLE sessions USING fts5(session_id, atime, data)",), "virtual table"),
])
def test_a_database_that_is_not_a_plain_sessions_database_is_refused_before_a_row_is_read(tmp_path, statements, why):
    path = db(tmp_path / "x.db", *statements)
    with pytest.raises(U.UntrustedDatabaseError, match=why):
        next(U.read_sessions(str(path)))
    assert U.session_count(str(path)) is None


def test_a_value_longer_than_the_limit_is_refused_by_sqlite_not_read(tmp_path):
    path = db(tmp_path / "big.db", U.SESSIONS_SCHEMA)
    con = sqlite3.connect(path)
    con.execute("INSERT INTO sessions VALUES ('s1', '2026', ?)", ("x" * (U.SESSION_VALUE_BYTES + 1),))
    con.commit()
    con.close()
    with pytest.raises(sqlite3.DataError):
        list(U.read_sessions(str(path)))


def test_reading_a_database_at_rest_leaves_nothing_beside_it(tmp_path):
    """A stick's copy is in WAL mode (the app's journal): a plain read-only open would make -wal and -shm."""
    path = db(tmp_path / "wal.db", U.SESSIONS_SCHEMA, *rows(("s1", "2026", "d")), journal="WAL")
    assert U.session_count(str(path)) == 1 and os.listdir(tmp_path) == ["wal.db"]


def test_the_fold_keeps_every_archived_session_and_takes_the_later_atime(tmp_path):
    archived = db(tmp_path / "unplatform.sqlite3", U.SESSIONS_SCHEMA, *rows(("s1", "2026-01-01", "a"), ("s2", "2026-01-01", "b")))
    incoming = db(tmp_path / "in.db", "CREATE TABLE sessions (session_id, atime, data)",
                  *rows(("s2", "2026-02-01", "b2"), ("s3", "2026-01-01", "c"), ("s1", "2025-12-01", "older")),
                  "INSERT INTO sessions VALUES (NULL, '2026', 'no id')")
    work = tmp_path / "work"
    work.mkdir()
    counts, path = U.fold_sessions(str(archived), str(incoming), str(work))
    assert counts == dict(added=1, updated=1, kept=1, skipped=1, dropped=0)
    assert [r for c in U.read_sessions(path) for r in c] == [("s1", "2026-01-01", "a"), ("s2", "2026-02-01", "b2"),
                                                              ("s3", "2026-01-01", "c")]
    os.replace(path, archived)
    counts, path = U.fold_sessions(str(archived), str(incoming), str(work))
    assert path is None and counts["kept"] == 3 and os.listdir(work) == []  # nothing new: nothing to write
