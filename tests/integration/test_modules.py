"""The collection modules, run over SSH on fleet school servers against their real databases."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import bson
import bson.json_util
import psycopg2
import pytest
from conftest import REPO, run_module
from hostile_git import build_hostile_checkout
from pymongo import MongoClient

from fleet import hosts

STAGE = "/home/core/clix-test-stage"
MODULES = ["clix_mongodump", "clix_pg_dumpall", "clix_heartbeat", "clix_git_snapshot", "clix_pull",
           "clix_manifest", "clix_verify", "clix_report", "clix_archive_lock", "clix_inventory_check", "clix_merge",
           "clix_catalog"]


def py(target_python: str) -> tuple[str, str]:
    return ("-e", f"ansible_python_interpreter={target_python}")


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders_every_module(module):
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), "-M", str(REPO / "library"), module],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "EXAMPLES" in proc.stdout and "RETURN VALUES" in proc.stdout and "check_mode" in proc.stdout


def server_raw_documents(fleet, sid: str) -> dict:
    client = MongoClient(fleet.school(sid).address, hosts.MONGO_PORT, directConnection=True)
    out = {}
    for db in ("gstudio-mongodb", "assessment"):
        for name in client[db].list_collection_names():
            out[f"{db}/{name}.bson"] = b"".join(client[db][name].find_raw_batches({}))
    client.close()
    return out


def test_mongodump_writes_mongodumps_layout_with_every_document(fleet, target_python):
    result = run_module(fleet, "mz1", "clix_mongodump", {"dest": f"{STAGE}/db"}, *py(target_python))["2031001-mz1"]
    assert result["changed"] and not result.get("failed"), result
    assert {"gstudio-mongodb", "assessment", "hierarchy", "resource"} <= set(result["databases"])
    assert "local" not in result["databases"] and "config" not in result["databases"]
    dump = fleet.core("mz1") / "clix-test-stage" / "db"
    expected = server_raw_documents(fleet, "mz1")
    for rel, raw in expected.items():
        assert (dump / rel).read_bytes() == raw, rel  # byte for byte what the server holds
        assert result["files"][rel] == hashlib.sha256(raw).hexdigest()
    meta = json.loads((dump / "gstudio-mongodb" / "Counters.metadata.json").read_text())
    assert meta["collectionName"] == "Counters" and len(meta["uuid"]) == 32
    assert any(ix["name"] == "user_id_1_group_id_1" for ix in meta["indexes"])
    benchmarks = next(c for c in result["collections"] if c["collection"] == "Benchmarks")
    with open(dump / "gstudio-mongodb/Benchmarks.bson", "rb") as f:
        assert benchmarks["documents"] == len(list(bson.decode_file_iter(f)))
    assert not [p for p in dump.parent.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_mongodump_writes_a_view_as_its_definition_only(fleet, target_python):
    """Views are dumped as mongodump does by default: metadata with viewOn and pipeline, no .bson."""
    client = MongoClient(fleet.school("mz2").address, hosts.MONGO_PORT, directConnection=True)
    db = client["gstudio-mongodb"]
    pipeline = [{"$match": {"is_group_member": True}}, {"$project": {"user_id": 1, "group_id": 1}}]
    db.command("create", "clix_test_members", viewOn="Counters", pipeline=pipeline)
    try:
        result = run_module(fleet, "mz2", "clix_mongodump", {"dest": f"{STAGE}/viewdb", "databases": ["gstudio-mongodb"]},
                            *py(target_python))["2031002-mz2"]
    finally:
        db.drop_collection("clix_test_members")
        client.close()
    assert not result.get("failed"), result
    view = next(c for c in result["collections"] if c["collection"] == "clix_test_members")
    assert view["type"] == "view" and view["documents"] == 0 and view["sha256"] is None
    dump = fleet.core("mz2") / "clix-test-stage" / "viewdb" / "gstudio-mongodb"
    assert not (dump / "clix_test_members.bson").exists()
    meta = bson.json_util.loads((dump / "clix_test_members.metadata.json").read_text())
    assert meta["type"] == "view" and meta["collectionName"] == "clix_test_members"
    assert meta["options"] == {"viewOn": "Counters", "pipeline": pipeline}
    assert "indexes" not in meta


def test_mongodump_check_mode_reports_counts_and_writes_nothing(fleet, target_python):
    result = run_module(fleet, "mz2", "clix_mongodump", {"dest": f"{STAGE}/check-db"}, *py(target_python),
                        "--check")["2031002-mz2"]
    assert result["changed"] and result["bytes"] > 0
    assert any(c["collection"] == "Benchmarks" and c["documents"] > 0 for c in result["collections"])
    assert not (fleet.core("mz2") / "clix-test-stage" / "check-db").exists()


def test_mongodump_bad_credentials_are_refused_with_advice(fleet, target_python, tmp_path):
    """A second MongoDB wire server with authentication on, inside ct1's namespace (port 8018)."""
    school = fleet.school("ct1")
    storage = tmp_path / "auth-mongo"
    exe = str(Path(sys.executable).with_name("secantusd-py"))

    def start(*flags: str) -> subprocess.Popen:
        proc = subprocess.Popen(hosts.in_host(hosts.sshd_pid(fleet.lab, school), [
            exe, "--host", "0.0.0.0", "--port", "8018", "--storage-path", str(storage), "--standalone",
            "--log-level", "WARNING", "--cache-size", "32M", *flags]), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        def answers() -> bool:
            try:
                with MongoClient(school.address, 8018, directConnection=True, serverSelectionTimeoutMS=300) as c:
                    c.admin.command("hello")
                return True
            except Exception:
                return False

        hosts.wait_for(answers, "the MongoDB server with authentication", 30)
        return proc

    proc = start()
    client = MongoClient(school.address, 8018, directConnection=True)
    client.admin.command("createUser", "clix", pwd="right-password", roles=["root"])
    client["gstudio-mongodb"].Nodes.insert_one({"name": "only"})
    client.close()
    hosts.kill_tree(proc.pid)
    proc = start("--auth")
    try:
        args = {"dest": f"{STAGE}/authdb", "uri": "mongodb://127.0.0.1:8018/?directConnection=true",
                "login_user": "clix", "login_password": "wrong-password"}
        # -vvv: the result then carries the module's invocation (its arguments) too.
        refused = run_module(fleet, "ct1", "clix_mongodump", args, *py(target_python), "-vvv")["1011001-ct1"]
        in_uri = {}
        for password in ("uri-secret-7391", "p%40ss%2Fw-7391"):
            uri = f"mongodb://clix:{password}@127.0.0.1:8018/?directConnection=true"
            in_uri[password] = run_module(fleet, "ct1", "clix_mongodump", {**args, "uri": uri, "login_password":
                                                                           "right-password"},
                                          *py(target_python), "-vvv")["1011001-ct1"]
        allowed = run_module(fleet, "ct1", "clix_mongodump", {**args, "login_password": "right-password"},
                             *py(target_python))["1011001-ct1"]
    finally:
        hosts.kill_tree(proc.pid)
    assert refused["failed"] and "refused the login" in refused["msg"] and "login_password" in refused["msg"]
    assert refused["invocation"]["module_args"]["login_user"] == "clix"
    assert "wrong-password" not in json.dumps(refused)
    for password, result in in_uri.items():
        assert result["failed"] and "uri holds a password" in result["msg"] and "login_password" in result["msg"]
        assert "127.0.0.1:8018" in result["invocation"]["module_args"]["uri"]
        for secret in (password, urllib.parse.unquote(password), "right-password"):
            assert secret not in json.dumps(result)
    assert not allowed.get("failed"), allowed
    assert allowed["documents"] == 1
    written = [p for p in (fleet.core("ct1") / "clix-test-stage").rglob("*") if p.is_file()]
    assert written and not [p for p in written if b"-password" in p.read_bytes() or b"7391" in p.read_bytes()]


def test_mongodump_gzip_round_trips(fleet, target_python):
    result = run_module(fleet, "mz2", "clix_mongodump", {"dest": f"{STAGE}/gz", "gzip": True,
                                                         "databases": ["gstudio-mongodb"]}, *py(target_python))["2031002-mz2"]
    assert result["databases"] == ["gstudio-mongodb"]

    raw = gzip.decompress((fleet.core("mz2") / "clix-test-stage/gz/gstudio-mongodb/Nodes.bson.gz").read_bytes())
    assert raw == server_raw_documents(fleet, "mz2")["gstudio-mongodb/Nodes.bson"]


def test_mongodump_server_down_fails_fast_with_advice(fleet, target_python):
    school = fleet.school("mz3")
    hosts.stop_mongo(fleet.lab, school)
    try:
        started = time.monotonic()
        result = run_module(fleet, "mz3", "clix_mongodump", {"dest": f"{STAGE}/db", "connect_timeout": 3},
                            *py(target_python))["2031003-mz3"]
        took = time.monotonic() - started
    finally:
        hosts.restart_mongo(fleet.lab, school)
    assert result["failed"] and "cannot reach MongoDB" in result["msg"] and "docker ps" in result["msg"]
    assert took < 60  # bounded by connect_timeout, not a hang (generous: includes the SSH round trip)
    assert not (fleet.core("mz3") / "clix-test-stage" / "db").exists()


def test_mongodump_stops_at_its_time_limit_and_keeps_the_previous_dump(fleet, target_python):
    """A server that accepts connections and never answers (a stalled mongod): the total limit,
    shorter than the connection timeout here, stops the dump."""
    school = fleet.school("ct2")
    stalled = subprocess.Popen(hosts.in_host(hosts.sshd_pid(fleet.lab, school), [sys.executable, "-c", (
        "import socket\ns = socket.create_server(('127.0.0.1', 8019))\nheld = []\n"
        "while True:\n    held.append(s.accept())\n")]), start_new_session=True)
    previous = fleet.core("ct2") / "clix-test-stage" / "timeout-db" / "gstudio-mongodb"
    previous.mkdir(parents=True, exist_ok=True)
    (previous / "Nodes.bson").write_bytes(b"the previous dump")
    listing = sorted(p.name for p in previous.parent.parent.iterdir())
    try:
        result = run_module(fleet, "ct2", "clix_mongodump", {
            "dest": f"{STAGE}/timeout-db", "uri": "mongodb://127.0.0.1:8019/?directConnection=true",
            "connect_timeout": 60, "timeout": 2}, *py(target_python))["01011002-ct2"]
    finally:
        hosts.kill_tree(stalled.pid)
    assert result["failed"] and "time limit of 2.0 seconds" in result["msg"] and "clix_mongo_timeout" in result["msg"]
    assert sorted(p.name for p in previous.parent.parent.iterdir()) == listing
    assert [p.name for p in previous.parent.iterdir()] == ["gstudio-mongodb"]
    assert (previous / "Nodes.bson").read_bytes() == b"the previous dump"


def tiny_disk(fleet, sid: str, path: str):
    school = fleet.school(sid)
    hosts.in_namespace(fleet.lab, school, ["mkdir", "-p", path])
    hosts.in_namespace(fleet.lab, school, ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", path])


def test_mongodump_refuses_a_staging_disk_that_is_too_small(fleet, target_python):
    tiny_disk(fleet, "ct2", "/home/core/tiny")
    try:
        result = run_module(fleet, "ct2", "clix_mongodump", {"dest": "/home/core/tiny/db", "reserve_mb": 0},
                            *py(target_python))["01011002-ct2"]
        listing = hosts.in_namespace(fleet.lab, fleet.school("ct2"), ["ls", "-A", "/home/core/tiny"],
                                     capture_output=True, text=True).stdout
    finally:
        hosts.in_namespace(fleet.lab, fleet.school("ct2"), ["umount", "/home/core/tiny"])
    assert result["failed"] and "free" in result["msg"] and "clix_staging_dir" in result["msg"]
    assert listing.strip() == ""


def test_pg_dumpall_dump_restores_to_identical_rows(fleet, tmp_path):
    result = run_module(fleet, "ct1", "clix_pg_dumpall", {"dest": f"{STAGE}/postgres-dump/pg_dump_all.sql",
                                                          "login_password": fleet.pg_password("ct1")})["1011001-ct1"]
    assert result["changed"] and not result.get("failed"), result
    assert "gstudio_psql" in result["databases"]
    dump = fleet.core("ct1") / "clix-test-stage/postgres-dump/pg_dump_all.sql"
    text = dump.read_text()
    assert text.rstrip().endswith("PostgreSQL database cluster dump complete\n--")
    assert result["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest()
    assert fleet.pg_password("ct1") not in json.dumps(result)
    with scratch_cluster(tmp_path) as port:
        subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres",
                        "-f", str(dump)], check=True, capture_output=True)
        assert table_rows("127.0.0.1", port, None) == table_rows(fleet.school("ct1").address, hosts.PG_PORT,
                                                                fleet.pg_password("ct1"))


def table_rows(host: str, port: int, password: str | None) -> dict:
    with psycopg2.connect(host=host, port=port, user="postgres", password=password, dbname="gstudio_psql") as conn, \
            conn.cursor() as cur:
        out = {}
        for table in ("auth_user", "django_session"):
            cur.execute(f"SELECT * FROM {table} ORDER BY 1")
            out[table] = cur.fetchall()
        return out


class scratch_cluster:
    """A throw-away PostgreSQL 15 cluster on the control node's loopback (restore target)."""

    def __init__(self, tmp_path: Path) -> None:
        import tempfile

        self.dir = Path(tempfile.mkdtemp(prefix="clix-restore-", dir="/var/tmp"))
        self.port = 55432

    def __enter__(self) -> int:
        subprocess.run(["chown", "postgres:postgres", str(self.dir)], check=True)
        pg = str(hosts.PG_BIN)
        subprocess.run(["runuser", "-u", "postgres", "--", f"{pg}/initdb", "-D", str(self.dir / "data"),
                        "--auth=trust", "-U", "postgres"], check=True, capture_output=True)
        subprocess.run(["runuser", "-u", "postgres", "--", f"{pg}/pg_ctl", "-D", str(self.dir / "data"), "-w", "-s",
                        "-l", str(self.dir / "log"), "-o", f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                        f"-c unix_socket_directories={self.dir}", "start"], check=True, capture_output=True)
        return self.port

    def __exit__(self, *exc) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", f"{hosts.PG_BIN}/pg_ctl", "-D", str(self.dir / "data"),
                        "-w", "-s", "-m", "fast", "stop"], capture_output=True)
        subprocess.run(["rm", "-rf", str(self.dir)], check=False)


def test_pg_dumpall_inside_the_gstudio_container(fleet, tmp_path):
    """As gStudio's backup.sh does it: pg_dumpall in the container (the fleet's stand-in, under
    podman), with the container's own connection settings and no password passed in."""
    result = run_module(fleet, "mz1", "clix_pg_dumpall", {"dest": f"{STAGE}/ctr/pg_dump_all.sql", "container": "gstudio",
                                                          "container_runtime": "podman"})["2031001-mz1"]
    assert result["changed"] and not result.get("failed"), result
    assert "gstudio_psql" in result["databases"]
    dump = fleet.core("mz1") / "clix-test-stage/ctr/pg_dump_all.sql"
    with scratch_cluster(tmp_path) as port:
        subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres",
                        "-f", str(dump)], check=True, capture_output=True)
        assert table_rows("127.0.0.1", port, None) == table_rows(fleet.school("mz1").address, hosts.PG_PORT,
                                                                fleet.pg_password("mz1"))
    missing = run_module(fleet, "mz1", "clix_pg_dumpall", {"dest": f"{STAGE}/ctr2/pg_dump_all.sql",
                                                           "container": "no-such-container",
                                                           "container_runtime": "podman"})["2031001-mz1"]
    assert missing["failed"] and "no-such-container" in missing["msg"], missing
    assert not (fleet.core("mz1") / "clix-test-stage/ctr2/pg_dump_all.sql").exists()


def test_pg_dumpall_bad_password_writes_nothing(fleet):
    result = run_module(fleet, "ct1", "clix_pg_dumpall", {"dest": f"{STAGE}/bad/pg_dump_all.sql",
                                                          "login_password": "wrong"})["1011001-ct1"]
    assert result["failed"] and "password" in result["msg"] and "login_password" in result["msg"]
    assert not (fleet.core("ct1") / "clix-test-stage/bad/pg_dump_all.sql").exists()


def test_pg_dumpall_check_mode_lists_databases_and_writes_nothing(fleet):
    result = run_module(fleet, "ct1", "clix_pg_dumpall", {"dest": f"{STAGE}/chk/pg_dump_all.sql",
                                                          "login_password": fleet.pg_password("ct1")}, "--check")
    result = result["1011001-ct1"]
    assert result["changed"] and "gstudio_psql" in result["databases"] and result["bytes"] > 0
    assert not (fleet.core("ct1") / "clix-test-stage/chk").exists()


@pytest.mark.parametrize("script,expected", [
    ("echo '-- PostgreSQL database cluster dump'; echo 'CREATE TABLE x();'", "truncated"),
    ("echo 'pg_dump: error: query failed' >&2; echo '-- PostgreSQL database cluster dump complete'", "reported errors"),
    ("exit 0", "wrote nothing"),
    ("echo partial; exit 1", "exited with 1"),
])
def test_pg_dumpall_failures_it_would_otherwise_hide(fleet, script, expected):
    """A stand-in pg_dumpall that fails in each way pg_dumpall can; the real psql still answers."""
    fake = fleet.core("ct2") / "fake_pg_dumpall"
    fake.write_text(f"#!/bin/sh\n[ \"$1\" = --version ] && {{ echo 'pg_dumpall (fake) 15'; exit 0; }}\n{script}\n")
    fake.chmod(0o755)
    result = run_module(fleet, "ct2", "clix_pg_dumpall", {
        "dest": f"{STAGE}/fake/pg_dump_all.sql", "login_password": fleet.pg_password("ct2"),
        "pg_dumpall_path": "/home/core/fake_pg_dumpall"})["01011002-ct2"]
    assert result["failed"] and expected in result["msg"], result["msg"]
    folder = fleet.core("ct2") / "clix-test-stage/fake"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_control_node_module_aimed_at_a_school_server_runs_there(fleet):
    # clix_verify runs inside Ansible's worker when it runs on the control node; sent to a school
    # server it runs there like any module. /home/core/data is a folder on the school only.
    assert not Path("/home/core/data").is_dir()
    result = run_module(fleet, "mz1", "clix_verify", {"path": "/home/core/data"})["2031001-mz1"]
    assert result["failed"] and result["msg"] == "no MANIFEST.json below /home/core/data: nothing has been collected there"
    local = run_module(fleet, "localhost", "clix_verify", {"path": "/home/core/data"})["localhost"]
    assert local["failed"] and "is not a folder" in local["msg"]


def test_heartbeat_captures_identity_and_services(fleet, target_python):
    result = run_module(fleet, "mz1", "clix_heartbeat", {"dest": f"{STAGE}/hb", "control_time": time.time()},
                        *py(target_python))["2031001-mz1"]
    facts = result["ansible_facts"]["clix_heartbeat"]
    assert (facts["server_id"], facts["school_code"], facts["school_name"]) == ("mz1", "2031001", "GOVT. MIZO HIGH SCHOOL 1")
    assert facts["hostname"] == "school-mz1"
    assert fleet.school("mz1").address in facts["addresses"]["eth0"]
    assert facts["services"]["mongodb"] is True and facts["services"]["postgresql"] is True
    assert facts["data_dirs"]["media"]["files"] > 0 and abs(facts["clock_skew_seconds"]) < 60
    log = next(p for p in result["files"] if p.endswith(".log"))
    text = (fleet.core("mz1") / Path(log).relative_to("/home/core")).read_text()
    order = ["Server Id: mz1", "School Id: 2031001", "School Name:", "Internal IP Address:", "RAM usage (free -h)",
             "HDD usage (df -h)", "Uptime:", "Current Processes (ps aux)"]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)
    twin = json.loads((fleet.core("mz1") / Path(log.replace(".log", ".json")).relative_to("/home/core")).read_text())
    assert twin["server_id"] == "mz1"
    # The files hold the whole process table (the school's own sshd among it); the returned facts,
    # which every later task carries, only a count and the largest few.
    sshd = str(hosts.sshd_pid(fleet.lab, fleet.school("mz1")))
    assert any(p["pid"] == int(sshd) for p in twin["processes"])
    assert re.search(rf"^\S+\s+{sshd}\s.*sshd", text, re.M)
    assert "processes" not in facts and facts["process_count"] == len(twin["processes"])
    assert 0 < len(facts["top_processes"]) <= 5


def test_heartbeat_check_mode_writes_nothing(fleet, target_python):
    result = run_module(fleet, "mz2", "clix_heartbeat", {"dest": f"{STAGE}/hb-check"}, *py(target_python),
                        "--check")["2031002-mz2"]
    assert result["ansible_facts"]["clix_heartbeat"]["server_id"] == "mz2" and "files" not in result
    assert not (fleet.core("mz2") / "clix-test-stage/hb-check").exists()


def test_heartbeat_never_hangs_on_a_stuck_disk():
    from clix_heartbeat import with_timeout

    started = time.monotonic()
    value, error = with_timeout(lambda: time.sleep(30), 0.5)
    assert (value, error) == (None, "stale") and time.monotonic() - started < 5


def pwd_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "uid %d" % uid


def git_state(repo: Path) -> tuple:
    index = repo / ".git" / "index"
    return index.stat().st_mtime_ns, hashlib.sha256(index.read_bytes()).hexdigest()


def test_git_snapshot_records_both_checkouts_without_touching_them(fleet):
    code = fleet.core("mz2") / "code" / "gstudio"
    before = (git_state(code), git_state(code / "gnowsys-ndf" / "qbank-lite"))
    result = run_module(fleet, "mz2", "clix_git_snapshot", {
        "dest": f"{STAGE}/git-commit.log",
        "repos": ["/home/core/code/gstudio", "/home/core/code/gstudio/gnowsys-ndf/qbank-lite", "/home/core/data"]},
    )["2031002-mz2"]
    assert [r["is_repo"] for r in result["repos"]] == [True, True, False]
    assert result["repos"][0]["branch"] == "dlkit" and result["repos"][0]["dirty"] is True
    assert result["repos"][1]["branch"] == "HEAD (detached)"
    log = (fleet.core("mz2") / "clix-test-stage/git-commit.log").read_text()
    for header in ("----- git status -----", "----- git diff -----", "----- git log -5 -----", "----- git branch -----"):
        assert log.count(header) == 2
    assert "On branch dlkit" in log and "+GSTUDIO_INSTITUTE_ID = 'mz2'" in log and "HEAD detached" in log
    # git ran as the checkouts' owner (uid 500), so it had no ownership to doubt and needed no safe.directory.
    assert [r["user"] for r in result["repos"][:2]] == [pwd_name(500)] * 2
    assert "dubious ownership" not in log and "NOT RECORDED: not a git repository" in log
    assert (git_state(code), git_state(code / "gnowsys-ndf" / "qbank-lite")) == before
    assert not (code / ".git" / "index.lock").exists()
    again = run_module(fleet, "mz2", "clix_git_snapshot", {
        "dest": f"{STAGE}/git-commit.log",
        "repos": ["/home/core/code/gstudio", "/home/core/code/gstudio/gnowsys-ndf/qbank-lite", "/home/core/data"]},
    )["2031002-mz2"]
    assert again["changed"] is False


@pytest.fixture
def hostile_checkout(fleet):
    """On mz3: a dirty checkout owned by uid 500 whose config points at a canary (tests/hostile_git.py)."""
    top = fleet.core("mz3") / "clix-test-hostile"
    shutil.rmtree(top, ignore_errors=True)
    top.mkdir(mode=0o755)
    repo, canaries = build_hostile_checkout(top, Path("/home/core/clix-test-hostile"), 500)
    yield Path("/home/core/clix-test-hostile") / repo.name, canaries
    shutil.rmtree(top)


def test_git_snapshot_reads_a_hostile_checkout_without_running_it(fleet, hostile_checkout):
    repo, canaries = hostile_checkout
    # The checkout is really hostile: plain git on that server runs its canary.
    hosts.in_namespace(fleet.lab, fleet.school("mz3"), ["sh", "-c", f"cd {repo} && git -c safe.directory='*' diff; "
                                                        "git -c safe.directory='*' status"], capture_output=True)
    assert list(canaries.iterdir())
    for ran in canaries.iterdir():
        ran.unlink()
    result = run_module(fleet, "mz3", "clix_git_snapshot", {"dest": f"{STAGE}/hostile/git-commit.log",
                                                            "staging_dir": STAGE, "repos": [str(repo)]})["2031003-mz3"]
    assert not result["failed"], result
    assert list(canaries.iterdir()) == []
    log = (fleet.core("mz3") / "clix-test-stage/hostile/git-commit.log").read_text()
    for header in ("----- git status -----", "----- git diff -----", "----- git log -5 -----", "----- git branch -----"):
        assert log.count(header) == 1
    assert "modified:   b.dat" in log and "+changed" in log and "+more" in log and "first" in log
    assert result["repos"][0]["user"] == pwd_name(500) and result["repos"][0]["dirty"] is True


PLANTED = "/home/core/clix-test-planted"


def staging_writers(fleet, target_python) -> dict:
    """Each module that writes into the staging folder, with its arguments and Ansible extras."""
    return {
        "clix_pg_dumpall": ({"dest": f"{PLANTED}/postgres-dump/pg_dump_all.sql", "staging_dir": PLANTED,
                             "login_password": fleet.pg_password("ct2")}, ()),
        "clix_git_snapshot": ({"dest": f"{PLANTED}/git-commit.log", "staging_dir": PLANTED}, ()),
        "clix_heartbeat": ({"dest": f"{PLANTED}/system-heartbeat", "staging_dir": PLANTED}, py(target_python)),
        "clix_mongodump": ({"dest": f"{PLANTED}/db", "staging_dir": PLANTED, "databases": ["gstudio-mongodb"]},
                           py(target_python)),
    }


@pytest.mark.parametrize("planted", ["folder of uid 500", "link"])
def test_a_staging_folder_planted_by_a_school_user_is_refused(fleet, target_python, planted):
    core = fleet.core("ct2")
    staging, victim = core / "clix-test-planted", core / "clix-test-victim"
    for path in (staging, victim):
        if path.is_symlink():
            path.unlink()
        shutil.rmtree(path, ignore_errors=True)
    victim.mkdir(mode=0o755)
    if planted == "link":
        staging.symlink_to("/home/core/clix-test-victim")
        expected = "is a symbolic link"
    else:
        staging.mkdir(mode=0o777)
        staging.chmod(0o777)
        os.chown(staging, 500, 500)
        expected = "belongs to uid 500"
    try:
        for module, (args, extra) in staging_writers(fleet, target_python).items():
            result = run_module(fleet, "ct2", module, args, *extra)["01011002-ct2"]
            assert result["failed"], (module, result)
            assert expected in result["msg"] and "clix_staging_dir" in result["msg"], (module, result["msg"])
        assert list(victim.iterdir()) == []  # nothing written through the link
        if planted != "link":
            assert list(staging.iterdir()) == [] and os.lstat(staging).st_uid == 500
    finally:
        if staging.is_symlink():
            staging.unlink()
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(victim, ignore_errors=True)


def test_every_staging_writer_makes_its_staging_folder_private(fleet, target_python):
    staging = fleet.core("ct2") / "clix-test-planted"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for module, (args, extra) in staging_writers(fleet, target_python).items():
            result = run_module(fleet, "ct2", module, args, *extra)["01011002-ct2"]
            assert not result["failed"], (module, result)
        for path in (staging, *[p for p in staging.rglob("*") if p.is_dir()]):
            st = os.lstat(path)
            assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o700, 0), path
        for path in (p for p in staging.rglob("*") if not p.is_dir()):
            assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600, path
        assert sorted(p.name for p in staging.iterdir()) == ["db", "git-commit.log", "postgres-dump", "system-heartbeat"]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def test_gstudio_derive_keeps_environment_values_out_of_argv_and_logs(fleet, target_python):
    """The values reach the container (the pinned minute names the output), but never a command
    line that `ps` shows, the returned argv or a log; the logs are private."""
    pinned, token = "2011-07-13T05:43", "clix-secret-" + secrets.token_hex(8)
    data = fleet.core("mz1") / "data"
    seen: list[str] = []
    done = threading.Event()

    def watch() -> None:  # what `ps` shows: every process's command line
        while not done.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                with contextlib.suppress(OSError):
                    line = cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
                    if "exec" in line and "export_users_analytics" in line:
                        seen.append(line)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = run_module(fleet, "mz1", "clix_gstudio_derive", {
            "runtime": "podman", "commands": ["export_users_analytics"],
            "env": {"CLIX_STANDIN_NOW": pinned, "CLIX_STANDIN_SLEEP": "3", "CLIX_TEST_TOKEN": token}},
            *py(target_python))["2031001-mz1"]
    finally:
        done.set()
        watcher.join()
    outputs = list(data.rglob("*20110713-05h43m*"))
    try:
        assert not result["failed"], result
        assert outputs, "the environment did not reach the container"
        assert seen, "ps never showed the exec client"
        assert not [line for line in seen if pinned in line or token in line]
        argv = result["commands"][0]["argv"]
        assert "CLIX_TEST_TOKEN" in argv and not [a for a in argv if token in a or pinned in a]
        log = data / Path(result["commands"][0]["log"]).relative_to("/home/core/data")
        assert stat.S_IMODE(log.stat().st_mode) == 0o600 and stat.S_IMODE(log.parent.stat().st_mode) == 0o700
        assert token not in log.read_text() and pinned not in log.read_text()
        assert token not in json.dumps(result)
    finally:
        for path in outputs:
            path.unlink()
