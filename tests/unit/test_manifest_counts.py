"""What a manifest records beside the files: counts from the dumps, the heartbeat's summary, the
history folder a merge made, and where merged files came from."""

from __future__ import annotations

from ansible.module_utils.clix_manifest import count_copy_rows, file_entries, heartbeat_summary
from library_module import library_module

module = library_module("clix_manifest")

DUMP = b"""--
COPY public.django_session (session_key, session_data, expire_date) FROM stdin;
abc\tdata\t2018-06-04
\\.
COPY public.auth_user (id, password, username) FROM stdin;
1\tpbkdf2\tadministrator
2\tpbkdf2\tkhaki-ant
3\tpbkdf2\tCOPY public.auth_user (x) FROM stdin;
\\.

COPY public.auth_user_groups (id) FROM stdin;
1
\\.
"""


def test_users_are_the_rows_of_auth_user_in_the_dump(tmp_path):
    (tmp_path / "dump.sql").write_bytes(DUMP)
    assert count_copy_rows(str(tmp_path / "dump.sql"), "public.auth_user") == 3
    (tmp_path / "none.sql").write_bytes(b"-- empty cluster\n")
    assert count_copy_rows(str(tmp_path / "none.sql"), "public.auth_user") is None


def test_counts_are_kept_only_for_items_that_ended_ok():
    results = [dict(name="db", status="ok"), dict(name="media", status="ok"), dict(name="x", status="failed")]
    items = module.merged_items(None, results, "2026-11-27T10:00:00", {"db": {"documents": 1234, "other": None},
                                                                         "x": {"documents": 9}})
    assert items["db"]["counts"] == {"documents": 1234}
    assert "counts" not in items["media"] and "counts" not in items["x"]


def test_postgres_users_counted_when_the_dump_changed_and_kept_when_not(tmp_path):
    rel = "gstudio/postgres-dump/pg_dump_all.sql"
    (tmp_path / "gstudio/postgres-dump").mkdir(parents=True)
    (tmp_path / rel).write_bytes(DUMP)
    files = file_entries(str(tmp_path), ["gstudio"], None)
    items = {"postgres-dump": dict(status="ok")}
    module.postgres_users(str(tmp_path), rel, items, None, files)
    assert items["postgres-dump"]["counts"] == {"users": 3}
    previous = dict(files=files, items={"postgres-dump": dict(status="ok", counts=dict(users=41))})
    again = {"postgres-dump": dict(status="ok")}
    module.postgres_users(str(tmp_path), rel, again, previous, files)
    assert again["postgres-dump"]["counts"] == {"users": 41}  # the same dump: not read again
    failed = {"postgres-dump": dict(status="failed")}
    module.postgres_users(str(tmp_path), rel, failed, None, files)
    assert "counts" not in failed["postgres-dump"]


def test_heartbeat_summary_and_origins_of_unchanged_files():
    facts = dict(captured_at="2026-11-27T10:00:00", uptime_seconds=5, load=[0.1, 0.2, 0.3], worst_disk_percent=40,
                 top_processes=[{"pid": 1}], addresses=["10.0.0.1"])
    assert heartbeat_summary(facts) == dict(captured_at="2026-11-27T10:00:00", uptime_seconds=5,
                                            load=[0.1, 0.2, 0.3], worst_disk_percent=40)
    assert heartbeat_summary(None) is None and heartbeat_summary({"load": 1}) is None
    previous = dict(files={"a": dict(sha256="1"), "b": dict(sha256="2")},
                    origins={"a": [dict(archive="A", run="t")], "b": [dict(archive="B", run="t")],
                             "gone": [dict(archive="A", run="t")]})
    assert module.kept_origins(previous, {"a": dict(sha256="1"), "b": dict(sha256="changed")}) == \
        {"a": [dict(archive="A", run="t")]}
