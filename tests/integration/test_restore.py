"""`ansible-playbook restore.yml` against the fleet: a school collected, its server wiped as after a disk
change, restored (gStudio's services stopped meanwhile) and collected again gives the same archive item by
item; a restore over a server holding newer data with clix_restore_overwrite first collects it into the
archive's replaced/ folder, the collection restored from untouched, and when it then fails, gStudio's
services run again; the refusals - another school's collection, a server holding (newer) data, a disk
without room, a psql error - change nothing.

ct2 is the school: the session fleet's least used. It holds its data again when these tests end."""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import psycopg2
import pytest
from bson import decode_all, json_util
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from conftest import run_module, run_playbook
from pymongo import MongoClient

from fleet import hosts

YEAR = str(datetime.date.today().year)
SCHOOL, FOLDER, OTHER = "ct2", "01011002-ct2", "ct1"
# The items restore.yml puts back: their folders below the server's /home/core, and in the archive.
SERVER_FOLDERS = ["data/media", "data/rcs-repo", "assesment-datastore/repository",
                  "assesment-datastore/studentResponseFiles"]
ARCHIVE_FOLDERS = ("media", "rcs-repo", "assessment-media", "server_settings.py", "local_settings.py")
STAGING = "clix-collect-staging"
ITEMS = "db,postgres,media,rcs,assessment,settings"  # the items with a way back (clix_items' restore)
NDF = "code/gstudio/gnowsys-ndf/gnowsys_ndf"
FRESH_SETTINGS = ("GSTUDIO_INSTITUTE_ID = 'sp100'\nGSTUDIO_INSTITUTE_ID_SECONDARY ='00000000'\n"
                  "GSTUDIO_INSTITUTE_NAME = 'clix-default'\n")  # gStudio's shipped server_settings.py


SERVICES = ("uwsgi-app", "nginx-app")  # the role's clix_gstudio_services; the stand-in's supervisord programs
NEWER = "data/media/clix-newer-than-the-collection.png"


def ok(proc: subprocess.CompletedProcess) -> str:
    return f"rc={proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


def restore(fleet, archive: Path, *args: str) -> subprocess.CompletedProcess:
    return run_playbook(fleet, "restore.yml", "-e", f"clix_archive_root={archive}", *args)


def school_folder(archive: Path) -> Path:
    return archive / YEAR / "ct" / FOLDER


@pytest.fixture(scope="module")
def collected(fleet, tmp_path_factory) -> Path:
    archive = tmp_path_factory.mktemp("restore") / "first"
    proc = run_playbook(fleet, "collect.yml", "-e", f"clix_archive_root={archive}", "-l", SCHOOL, "--tags", ITEMS)
    assert proc.returncode == 0, ok(proc)
    return archive


def mongo(fleet) -> MongoClient:
    school = fleet.school(SCHOOL)
    return MongoClient(school.address, hosts.MONGO_PORT, directConnection=True)


def postgres(fleet, sql: str) -> list:
    conn = psycopg2.connect(host=fleet.school(SCHOOL).address, port=hosts.PG_PORT, user="postgres",
                            password=fleet.pg_password(SCHOOL), dbname="postgres", connect_timeout=10)
    conn.autocommit = True  # DROP DATABASE runs outside a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def server_state(fleet) -> dict:
    """What a refusal must leave as it was: MongoDB's counts, PostgreSQL's databases and roles, the files."""
    client = mongo(fleet)
    counts = {db: {c: client[db][c].estimated_document_count() for c in client[db].list_collection_names()}
              for db in client.list_database_names()}
    pg = postgres(fleet, "SELECT datname FROM pg_database UNION ALL SELECT rolname FROM pg_roles ORDER BY 1")
    core = fleet.core(SCHOOL)
    files = {str(p.relative_to(core)): (p.stat().st_mode, hashlib.sha256(p.read_bytes()).hexdigest())
             for rel in SERVER_FOLDERS for p in sorted((core / rel).rglob("*")) if p.is_file()}
    return dict(mongo=counts, pg=pg, files=files, staging=(core / STAGING).exists())


def wipe(fleet) -> None:
    """The server as after a disk change and a fresh gStudio install: no data, gStudio's shipped settings."""
    client = mongo(fleet)
    for name in client.list_database_names():
        if name not in ("admin", "local", "config"):
            client.drop_database(name)
    postgres(fleet, "DROP DATABASE gstudio_psql")
    postgres(fleet, "DROP ROLE glab")
    for rel in SERVER_FOLDERS:
        shutil.rmtree(fleet.core(SCHOOL) / rel)
    (fleet.core(SCHOOL) / NDF / "server_settings.py").write_text(FRESH_SETTINGS)
    (fleet.core(SCHOOL) / NDF / "local_settings.py").write_text("# a fresh install's\n")


def in_container(fleet, *cmd: str) -> str:
    return hosts.podman_in_school(fleet.lab, fleet.school(SCHOOL), "exec", "gstudio", *cmd, check=False,
                                  capture_output=True, text=True).stdout


def services_log(fleet) -> list:
    """The stand-in supervisord's log: (UTC timestamp, what happened) per line."""
    lines = []
    for line in in_container(fleet, "cat", "/var/log/supervisor/supervisord.log").splitlines():
        stamp, _, what = line.partition(" INFO ")
        moment = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=datetime.timezone.utc)
        lines.append((moment.timestamp(), what))
    return lines


def running_now(fleet) -> int:
    """The services running (an earlier run may have left them stopped): the log's length from here."""
    in_container(fleet, "supervisorctl", "start", "all")
    return len(services_log(fleet))


def stopped_then_started(fleet, since: int) -> tuple:
    """(when the last service stopped, when the first started again) in the log's lines from since on; each of
    the services stopped once and started once there, in that order, and running now."""
    lines = services_log(fleet)[since:]
    stops = [t for t, what in lines if what.startswith("stopped: ")]
    starts = [t for t, what in lines if what.startswith("spawned: ")]
    assert sorted(what.split()[1] for _, what in lines if what.startswith("stopped: ")) == sorted(SERVICES), lines
    assert sorted(what.split()[1].strip("'") for _, what in lines if what.startswith("spawned: ")) == sorted(SERVICES)
    assert max(stops) <= min(starts), lines
    assert [line.split()[1] for line in in_container(fleet, "supervisorctl", "status").splitlines()] == \
        ["RUNNING"] * len(SERVICES)
    return max(stops), min(starts)


def tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def mongo_items(school: Path) -> dict:
    """Each collection of the archived dump: its documents (as sorted raw BSON), its indexes and options."""
    found = {}
    for bson in sorted((school / "gstudio" / "db").glob("*/*.bson")):
        docs = sorted(d.raw for d in decode_all(bson.read_bytes(), CodecOptions(document_class=RawBSONDocument)))
        meta = json_util.loads(bson.with_name(bson.name[: -len(".bson")] + ".metadata.json").read_text())
        indexes = sorted(json_util.dumps({k: v for k, v in ix.items() if k != "ns"}, sort_keys=True)
                         for ix in meta["indexes"])
        found[str(bson.relative_to(school))] = (docs, indexes, json_util.dumps(meta.get("options"), sort_keys=True))
    return found


def postgres_tables(school: Path) -> dict:
    """{(database, table): (rows, sha256 of the sorted rows)} of the archived pg_dump_all.sql."""
    tables, database, table, rows = {}, None, None, []
    for line in (school / "gstudio" / "postgres-dump" / "pg_dump_all.sql").read_text().splitlines():
        if line.startswith("\\connect "):
            database = line.split()[-1]
        elif line.startswith("COPY "):
            table, rows = line.split()[1], []
        elif table and line == "\\.":
            tables[(database, table)] = (len(rows), hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest())
            table = None
        elif table:
            rows.append(line)
    return tables


def file_hashes(school: Path) -> dict:
    files = json.loads((school / "MANIFEST.json").read_text())["files"]
    return {rel: entry["sha256"] for rel, entry in files.items() if rel.split("/")[1] in ARCHIVE_FOLDERS}


def test_a_wiped_server_restored_and_collected_again_gives_the_same_archive(fleet, collected, tmp_path):
    # --check lists what would be written, and refuses: ct2 holds data and its staging folder (a 64 KiB
    # disk) has no room for the dumps; ct1 is given ct2's collection. Nothing is changed. (A collection
    # that does not verify is refused by the same step as another school's: tests/unit/test_restore_source.py.)
    staging = f"/home/core/{STAGING}"
    hosts.in_namespace(fleet.lab, fleet.school(SCHOOL), ["mkdir", "-m", "0700", staging])
    hosts.in_namespace(fleet.lab, fleet.school(SCHOOL), ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", staging])
    (fleet.core(SCHOOL) / NEWER).write_bytes(b"a picture uploaded after the collection")
    try:
        before = server_state(fleet)
        check = restore(fleet, collected, "-l", f"{SCHOOL},{OTHER}", "--check",
                        "-e", f"clix_restore_from={school_folder(collected)}")
        assert server_state(fleet) == before
    finally:
        hosts.in_namespace(fleet.lab, fleet.school(SCHOOL), ["umount", staging])
        (fleet.core(SCHOOL) / STAGING).rmdir()
    assert check.returncode != 0, ok(check)
    assert "written:" in check.stdout and "name: rcs-repo" in check.stdout and "name: db" in check.stdout
    assert f"{FOLDER}: this server holds data newer than the collection restored from (collected " in check.stdout
    assert "files in /home/core/data/media/ (some changed since: the newest at " in check.stdout, ok(check)
    assert "MongoDB database 'gstudio-mongodb'" in check.stdout
    assert "clix_restore_overwrite=true" in check.stdout
    assert f"not enough free space on this server ({staging} has 64.0 KiB free, and {staging}/db/, " \
        f"{staging}/postgres-dump/ needs about" in check.stdout, ok(check)
    assert f"is not a collection of 1011001-{OTHER} (its folder is '{FOLDER}'" in check.stdout
    assert not (fleet.core(OTHER) / STAGING).exists()

    wipe(fleet)
    since = running_now(fleet)
    try:
        done = restore(fleet, collected, "-l", SCHOOL, "-e", "clix_restore_settings=true")
        assert done.returncode == 0, ok(done)
        # gStudio's services were stopped while the data was written, and run again
        stopped, started = stopped_then_started(fleet, since)
        assert stopped < (fleet.core(SCHOOL) / "data" / "media").stat().st_ctime < started
        assert f"{FOLDER}: restored" in done.stdout
        assert "columns: 1 db  2 media  3 rcs-repo  4 postgres-dump" in done.stdout
        media = fleet.core(SCHOOL) / "data" / "media"
        assert {(p.stat().st_uid, p.stat().st_mode & 0o777) for p in media.rglob("*")} == {(0, 0o755), (0, 0o644)}
        assert not (fleet.core(SCHOOL) / STAGING).exists()
        settings = (fleet.core(SCHOOL) / NDF / "server_settings.py").stat()
        assert (settings.st_uid, settings.st_mode & 0o777) == (500, 0o644)  # the install's owner and mode kept
    except BaseException:  # ct2 back for the others
        restore(fleet, collected, "-l", SCHOOL, "-e", "clix_restore_overwrite=true", "-e", "clix_restore_settings=true")
        raise

    again = tmp_path / "again"
    proc = run_playbook(fleet, "collect.yml", "-e", f"clix_archive_root={again}", "-l", SCHOOL, "--tags", ITEMS)
    assert proc.returncode == 0, ok(proc)
    first, second = school_folder(collected), school_folder(again)
    assert mongo_items(second) == mongo_items(first)
    assert len(mongo_items(first)) > 10
    assert postgres_tables(second) == postgres_tables(first)
    assert postgres_tables(first)[("gstudio_psql", "public.auth_user")][0] > 0
    assert file_hashes(second) == file_hashes(first)
    assert len(file_hashes(first)) > 40 and "gstudio/server_settings.py" in file_hashes(first)

    # Over a server holding newer data, with clix_restore_overwrite: what it holds is collected first, into
    # replaced/<moment>/ - the collection restored from, in this very year, stays as it was. The restore then
    # fails (an owner unknown to the server, after the databases): gStudio's services run again all the same.
    (fleet.core(SCHOOL) / NEWER).write_bytes(b"another picture uploaded after the collection")
    source, since = tree(first), running_now(fleet)
    over = restore(fleet, collected, "-l", SCHOOL, "--tags", "db,postgres,media", "-e", "clix_restore_overwrite=true",
                   "-e", "clix_restore_owner=clix-no-such-user")
    assert over.returncode != 0 and "clix-no-such-user" in over.stdout.split(f"{FOLDER}: ", 1)[1], ok(over)
    stopped_then_started(fleet, since)
    assert tree(first) == source
    [kept] = (collected / "replaced").glob(f"*/{YEAR}/ct/{FOLDER}")
    # what the server held: the items restored over, as restored before, and the newer picture
    assert mongo_items(kept) == mongo_items(first) and postgres_tables(kept) == postgres_tables(first)
    assert file_hashes(kept) == {rel: sha for rel, sha in file_hashes(first).items() if rel.startswith("gstudio/media/")} | {
        "gstudio/media/" + NEWER.split("/", 2)[2]: hashlib.sha256(b"another picture uploaded after the collection").hexdigest()}

    # A field laptop's archive carries what its restores replaced: merge.yml takes replaced/ to the central
    # archive as it takes the schools, verified against its manifest.
    central = tmp_path / "central"
    merged = run_playbook(fleet, "merge.yml", "-e", f"clix_merge_from={collected}", "-e", f"clix_archive_root={central}")
    assert merged.returncode == 0, ok(merged)
    assert file_hashes(central / kept.relative_to(collected)) == file_hashes(kept)


def test_a_psql_error_fails_the_restore_with_its_message(fleet, target_python):
    probe = fleet.core(SCHOOL) / "clix-restore-probe.sql"
    probe.write_text("CREATE DATABASE clix_restore_probe WITH TEMPLATE = template0;\n\\connect clix_restore_probe\n"
                     "CREATE TABLE t (a integer);\nINSERT INTO t VALUES ('not a number');\nCREATE TABLE after (b int);\n")
    try:
        result = run_module(fleet, SCHOOL, "clix_restore", {
            "server_id": SCHOOL, "school_code": "01011002", "server_settings": f"/home/core/{NDF}/server_settings.py",
            "postgres_dump": "/home/core/clix-restore-probe.sql", "stores": [], "overwrite": True,
            "pg_password": fleet.pg_password(SCHOOL)}, "-e", f"ansible_python_interpreter={target_python}")[FOLDER]
        tables = postgres(fleet, "SELECT 1 FROM pg_database WHERE datname = 'clix_restore_probe'")
        after = psycopg2.connect(host=fleet.school(SCHOOL).address, port=hosts.PG_PORT, user="postgres",
                                 password=fleet.pg_password(SCHOOL), dbname="clix_restore_probe")
        with after, after.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'after'")
            stopped = cur.fetchone()[0] == 0
        after.close()
    finally:
        probe.unlink()
        postgres(fleet, "DROP DATABASE IF EXISTS clix_restore_probe")
    assert result["failed"] and tables
    assert result["msg"].startswith("psql stopped restoring /home/core/clix-restore-probe.sql (exit 3): ")
    assert 'invalid input syntax for type integer: "not a number"' in result["msg"]
    assert stopped  # ON_ERROR_STOP: nothing after the error ran
