#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_restore
short_description: Check a gStudio school server, then restore its MongoDB and PostgreSQL from archived dumps
description:
  - Runs on the school server (with pymongo, as the role's private Python has it). One job, in two steps -
    the checks first, and only when they pass, the restore.
  - B(Checks) - the server is the school the inventory names (its C(server_settings.py), if any, says
    O(server_id) and O(school_code), leading zeros of a code aside; a blank install - no settings, or
    gStudio's shipped C(sp100) and C(00000000) - is accepted); and the server holds no data - no document in MongoDB (its own C(admin),
    C(local) and C(config) left out), no PostgreSQL database beyond a fresh cluster's, no file in
    O(data_folders) - unless O(overwrite); and each file system has room for what O(space) says goes there.
    A refusal says what was found (files changed after O(collected_at), as data newer than the collection
    restored from), and nothing is changed.
  - B(MongoDB) from a dump in mongodump's layout (O(db_dump), as C(clix_mongodump) writes it - C(.bson)
    and C(.metadata.json), gzipped or not). Each collection is created with its options (a view with
    its pipeline), its documents inserted as the raw BSON read (never decoded), in batches, and its
    indexes created. A collection's name is taken from its C(.metadata.json) (mongodump escapes names in
    file names and cuts long ones); the database from its folder. With O(overwrite), each collection of
    the dump is dropped first.
  - B(PostgreSQL) from C(pg_dump_all.sql) (O(postgres_dump)), fed to C(psql) as C(psql -f) would read it,
    with C(ON_ERROR_STOP) - an error stops the restore and fails the task with psql's message. A
    C(CREATE ROLE) of a role the server already has (its superuser) is left out, as pg_dumpall expects
    (its C(ALTER ROLE) still applies). With O(overwrite), the dump's databases are dropped first.
version_added: "0.2.0"
options:
  server_id:
    description: The inventory's server id of this school.
    type: str
    required: true
  school_code:
    description: The inventory's school code.
    type: str
    required: true
  server_settings:
    description: gStudio's C(server_settings.py) on this server (read as data, never run).
    type: path
    required: true
  db_dump:
    description: Folder of the MongoDB dump to restore (C(<db>/<collection>.bson)); no MongoDB restore when omitted.
    type: path
  postgres_dump:
    description: The C(pg_dump_all.sql) to restore; no PostgreSQL restore when omitted.
    type: path
  data_folders:
    description: Folders that count as the server's data - a file in any of them means the server holds data.
    type: list
    elements: path
    default: []
  stores:
    description:
      - The databases whose data count as the server's (checked) - C(mongodb), C(postgres); those of the
        items restored (with C(--tags media), none). A store given a dump is always checked.
    type: list
    elements: str
    choices: [mongodb, postgres]
    default: [mongodb, postgres]
  space:
    description:
      - "Bytes to be written, by where they go - C({path: bytes}) - checked against the free space of each file
        system (the paths on one summed), with O(reserve_mb) kept free; a file system short of it refuses the restore."
    type: dict
    default: {}
  reserve_mb:
    description: Free space (MiB) to leave on each file system written to.
    type: int
    default: 256
  overwrite:
    description: Restore over data the server holds (the dump's collections and databases are dropped first).
    type: bool
    default: false
  collected_at:
    description:
      - When the collection restored from was collected (ISO 8601, its manifest's run end) - a refusal names
        the data folders holding files changed since as newer data.
    type: str
  uri:
    description: MongoDB connection URI, without credentials (one with a password is refused, unused and unshown).
    type: str
    default: mongodb://127.0.0.1:8017/?directConnection=true
  login_user:
    description: MongoDB user; unauthenticated when omitted.
    type: str
  login_password:
    description: Password of O(login_user).
    type: str
  auth_source:
    description: Database that holds O(login_user).
    type: str
    default: admin
  connect_timeout:
    description: Seconds to wait for MongoDB.
    type: int
    default: 10
  batch_bytes:
    description: Bytes of documents per insert command (MongoDB takes at most 16 MiB).
    type: int
    default: 8388608
  pg_host:
    description: PostgreSQL server address when psql runs on the host.
    type: str
    default: 127.0.0.1
  pg_port:
    description: PostgreSQL port when psql runs on the host.
    type: int
    default: 8432
  pg_user:
    description: PostgreSQL superuser to restore as.
    type: str
    default: postgres
  pg_password:
    description: Password of O(pg_user) (handed over in a private passfile, never on a command line).
    type: str
  pg_container:
    description: Run psql inside this container instead (C(docker exec), peer authentication).
    type: str
  container_runtime:
    description: Command that runs containers (C(docker) or C(podman)).
    type: str
    default: docker
  pg_timeout:
    description: Seconds psql may run.
    type: int
    default: 3600
attributes:
  check_mode:
    details: >-
      Makes every check a real run makes and lists what would be written (RV(collections), RV(documents),
      RV(postgres_databases)); changes nothing.
requirements: [pymongo >= 4.0, psql on the host or in the container]
extends_documentation_fragment:
  - clix_progress
  - clix_attributes
"""

EXAMPLES = r"""
- name: Restore mz1's databases from the dumps pushed into the staging folder
  clix_restore:
    server_id: mz1
    school_code: "2031001"
    server_settings: /home/core/code/gstudio/gnowsys-ndf/gnowsys_ndf/server_settings.py
    db_dump: /home/core/clix-collect-staging/db
    postgres_dump: /home/core/clix-collect-staging/postgres-dump/pg_dump_all.sql
    data_folders: [/home/core/data/media, /home/core/data/rcs-repo]
"""

RETURN = r"""
identity:
  description: What the server's settings say (server_id, school_code, school_name), or None without settings.
  returned: always
  type: dict
collections:
  description: One entry per collection or view restored (or that would be) - db, collection, type, documents, indexes.
  returned: success
  type: list
  elements: dict
documents:
  description: Documents restored (in the dump, in check mode).
  returned: success
  type: int
postgres_databases:
  description: The databases the PostgreSQL dump creates.
  returned: success
  type: list
  elements: str
replaced:
  description: The data the server held (restored over, with O(overwrite); the reason of a refusal otherwise).
    A data folder holding files changed after O(collected_at) says so, with the newest file's time.
  returned: success
  type: list
  elements: str
seconds:
  description: Time taken.
  returned: success
  type: float
"""

import datetime
import gzip
import os
import re
import struct
import subprocess
import tempfile
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.clix_files import free_bytes, human_bytes, open_regular
from ansible.module_utils.clix_identity import same_code, shown
from ansible.module_utils.clix_layout import LayoutError, check_part
from ansible.module_utils.clix_mongo import refuse_uri_password
from ansible.module_utils.clix_postgres import Connection, explain_connection_error, write_passfile
from ansible.module_utils.clix_progress import module_progress
from ansible.module_utils.clix_settings import SettingsError, read_identity

try:
    from bson import json_util
    from bson.raw_bson import RawBSONDocument
    from bson.son import SON
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure, PyMongoError

    PYMONGO_IMPORT_ERROR = None
except ImportError:
    PYMONGO_IMPORT_ERROR = traceback.format_exc()

# gStudio's shipped server_settings.py (a fresh install, before setup.sh names the school).
BLANK_IDENTITY = ("sp100", "00000000")
SYSTEM_DATABASES = ("admin", "local", "config")
SYSTEM_PG_DATABASES = ("postgres", "template0", "template1")
META = re.compile(r"^(?P<stem>.+)\.metadata\.json(?P<gz>\.gz)?$")
CREATE_DATABASE = re.compile(r"^CREATE DATABASE (\"(?:[^\"]|\"\")+\"|[a-z_][a-z0-9_$]*) ")
CREATE_ROLE = re.compile(r"^CREATE ROLE (\"(?:[^\"]|\"\")+\"|[a-z_][a-z0-9_$]*);$")
MAX_DOCS = 1000


class RestoreError(Exception):
    pass


def pg_name(token: str) -> str:
    """An identifier as pg_dumpall writes it, unquoted."""
    return token[1:-1].replace('""', '"') if token.startswith('"') else token


def pg_quote(name: str) -> str:
    return '"%s"' % name.replace('"', '""')


# --- the checks -------------------------------------------------------------------------------

def check_identity(p: dict) -> dict | None:
    """The server's identity; RestoreError when its settings name another school."""
    if not os.path.lexists(p["server_settings"]):
        return None
    try:
        identity = read_identity(p["server_settings"])
    except SettingsError as exc:
        raise RestoreError("the server's %s cannot be read (%s), so it cannot be told to be %s; nothing was "
                           "changed" % (p["server_settings"], exc, p["server_id"])) from None
    said = (identity.get("server_id") or "", identity.get("school_code") or "")
    if said in (("", ""), BLANK_IDENTITY) or (said[0] == p["server_id"] and same_code(said[1], p["school_code"])):
        return identity
    raise RestoreError("this server's settings say it is server %s of school %s, not %s of %s as the inventory says: "
                       "it is another school, and nothing was changed. Check the inventory's address for %s."
                       % (shown(said[0]), shown(said[1]), p["server_id"], p["school_code"], p["server_id"]))


def dump_databases(db_dump: str | None) -> list:
    if not db_dump:
        return []
    if not os.path.isdir(db_dump):
        raise RestoreError("the MongoDB dump %s is not a folder" % db_dump)
    return sorted(check_part(d) for d in os.listdir(db_dump) if os.path.isdir(os.path.join(db_dump, d)))


def mongo_data(client) -> list:
    """The server's databases that hold a document (MongoDB's own left out)."""
    found = []
    for name in client.list_database_names():
        if name not in SYSTEM_DATABASES and any(
                client[name][c].estimated_document_count()
                for c in client[name].list_collection_names() if not c.startswith("system.")):
            found.append("MongoDB database %s" % shown(name))
    return found


def pg_data(conn: Connection) -> list:
    """The server's PostgreSQL databases beyond a fresh cluster's."""
    return ["PostgreSQL database %s" % shown(name) for name in psql_query(conn, "SELECT datname FROM pg_database")
            if name not in SYSTEM_PG_DATABASES]


def postgres_databases(dump: str | None) -> list:
    if not dump:
        return []
    names = []
    with reading(dump) as f:
        for line in f:
            match = CREATE_DATABASE.match(line.decode("utf-8", "replace"))
            if match:
                names.append(pg_name(match.group(1)))
    return names


def psql_query(conn: Connection, sql: str, database: str = "postgres") -> list:
    proc = subprocess.run(conn.argv("psql", "-X", "-A", "-t", "-d", database, "-c", sql),
                          env=conn.env, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RestoreError(explain_connection_error(proc.stderr, conn.params))
    return [line for line in proc.stdout.splitlines() if line]


def utc(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def collected_seconds(collected_at: str | None) -> float | None:
    """The collection's time as a timestamp; None when unknown or unreadable (then nothing is called newer)."""
    try:
        moment = datetime.datetime.fromisoformat(str(collected_at).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)).timestamp()


def folder_data(folders: list, since: float | None) -> tuple:
    """(the folders holding a file - one holding a file changed after since says so, with the newest's time -,
    whether any does). Files are looked at, never opened or followed."""
    held, newer = [], False
    for folder in folders:
        found, newest = False, None
        for top, _dirs, files in os.walk(folder):
            found = found or bool(files)
            if found and since is None:
                break
            for name in files:
                try:
                    mtime = os.lstat(os.path.join(top, name)).st_mtime
                except OSError:
                    continue
                newest = mtime if newest is None else max(newest, mtime)
        changed = newest is not None and since is not None and newest > since
        if found:
            held.append("files in %s%s" % (folder, " (some changed since: the newest at %s)" % utc(newest) if changed else ""))
        newer = newer or changed
    return held, newer


def nearest_folder(path: str) -> str:
    """path, or its nearest ancestor that exists (where what is written there will take its space)."""
    path = os.path.abspath(path)
    while not os.path.isdir(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def space_problems(space: dict, reserve: int) -> list:
    """What lacks room: space's bytes summed per file system (its paths' nearest folders' device), each
    file system with fewer free bytes than its sum and the reserve."""
    by_device = {}
    for path, size in sorted(space.items()):
        folder = nearest_folder(path)
        entry = by_device.setdefault(os.stat(folder).st_dev, dict(folder=folder, bytes=0, paths=[]))
        entry["bytes"] += int(size or 0)
        entry["paths"].append(path)
    problems = []
    for entry in by_device.values():
        free = free_bytes(entry["folder"])
        if free < entry["bytes"] + reserve:
            problems.append("%s has %s free, and %s needs about %s with %s kept free" % (
                entry["folder"], human_bytes(free), ", ".join(entry["paths"]), human_bytes(entry["bytes"]),
                human_bytes(reserve)))
    return problems


def refuse(held: list, newer: bool, collected_at: str | None, full: list) -> None:
    """One refusal naming every reason: the data the server holds (newer than the collection, first), the
    file systems short of room."""
    reasons = []
    overwrite = ("restoring over it would replace it - run again with -e clix_restore_overwrite=true to collect "
                 "the server into the archive's replaced/ folder first and then restore over it")
    if held and newer:
        reasons.append("this server holds data newer than the collection restored from (collected %s): %s: %s"
                       % (collected_at, "; ".join(held), overwrite))
    elif held:
        reasons.append("this server holds data (%s): %s" % ("; ".join(held), overwrite))
    if full:
        reasons.append("not enough free space on this server (%s): free space, or give gStudio's data a larger "
                       "disk" % "; ".join(full))
    if reasons:
        raise RestoreError("%s. Nothing was changed." % ". And ".join(reasons))


# --- MongoDB ----------------------------------------------------------------------------------

def reading(path: str):
    """A regular file of the dump, opened for reading (never through a link, never a FIFO)."""
    return os.fdopen(open_regular(path), "rb")


def read_bytes(path: str, gz: bool) -> bytes:
    with reading(path) as f:
        data = f.read()
    return gzip.decompress(data) if gz else data


def bson_documents(stream):
    """RawBSONDocuments of a .bson stream, each checked for its length and ending NUL."""
    while True:
        head = stream.read(4)
        if not head:
            return
        if len(head) < 4:
            raise RestoreError("a .bson file ends in a partial document")
        (length,) = struct.unpack("<i", head)
        body = stream.read(length - 4) if length >= 5 else b""
        if length < 5 or len(body) != length - 4 or body[-1:] != b"\x00":
            raise RestoreError("a .bson file holds a malformed document")
        yield RawBSONDocument(head + body)


def collections_of(db_dump: str, database: str) -> list:
    """(metadata, .bson path, gzipped) of each collection of a database's folder; views last."""
    folder = os.path.join(db_dump, database)
    found = []
    for name in sorted(os.listdir(folder)):
        match = META.match(name)
        if not match:
            continue
        gz = bool(match.group("gz"))
        meta = json_util.loads(read_bytes(os.path.join(folder, name), gz).decode("utf-8"))
        bson = os.path.join(folder, "%s.bson%s" % (match.group("stem"), ".gz" if gz else ""))
        found.append((meta, bson if os.path.exists(bson) else None, gz))
    return sorted(found, key=lambda c: c[0].get("type", "collection") == "view")


def insert_all(db, name: str, bson: str, gz: bool, batch_bytes: int, done: dict) -> int:
    count = 0
    with reading(bson) as raw:
        stream = gzip.GzipFile(fileobj=raw) if gz else raw
        batch, size = [], 0
        for doc in bson_documents(stream):
            batch.append(doc)
            size += len(doc.raw)
            if size >= batch_bytes or len(batch) >= MAX_DOCS:
                count += insert_batch(db, name, batch, done)
                batch, size = [], 0
        if batch:
            count += insert_batch(db, name, batch, done)
    return count


def insert_batch(db, name: str, batch: list, done: dict) -> int:
    reply = db.command(SON([("insert", name), ("documents", batch), ("ordered", True),
                            ("bypassDocumentValidation", True)]))
    if reply.get("writeErrors"):
        first = reply["writeErrors"][0].get("errmsg")
        raise RestoreError("MongoDB refused a document of %s.%s: %s" % (db.name, shown(name), first))
    done["documents"] += reply.get("n", 0)
    return reply.get("n", 0)


def restore_collection(db, meta: dict, bson: str | None, gz: bool, p: dict, done: dict) -> dict:
    name, kind = meta["collectionName"], meta.get("type", "collection")
    done["collection"] = "%s.%s" % (db.name, shown(name))
    if p["overwrite"]:
        drop_quietly(db, name)
    create = SON([("create", name)])
    create.update(meta.get("options") or {})
    db.command(create)
    result = dict(db=db.name, collection=name, type=kind, documents=0, indexes=0)
    if kind != "collection":
        return result
    if bson:
        result["documents"] = insert_all(db, name, bson, gz, p["batch_bytes"], done)
    indexes = []
    for index in meta.get("indexes") or []:
        if index.get("name") == "_id_":
            continue
        spec = SON((k, v) for k, v in index.items() if k != "ns")
        indexes.append(spec)
    if indexes:
        db.command(SON([("createIndexes", name), ("indexes", indexes)]))
    result["indexes"] = len(indexes)
    return result


def drop_quietly(db, name: str) -> None:
    try:
        db.command(SON([("drop", name)]))
    except OperationFailure as exc:
        if exc.code != 26:  # NamespaceNotFound: nothing to drop
            raise


def plan_collections(db_dump: str, databases: list) -> list:
    planned = []
    for database in databases:
        for meta, bson, gz in collections_of(db_dump, database):
            documents = 0
            if bson and meta.get("type", "collection") == "collection":
                with reading(bson) as raw:
                    documents = sum(1 for _ in bson_documents(gzip.GzipFile(fileobj=raw) if gz else raw))
            planned.append(dict(db=database, collection=meta["collectionName"], type=meta.get("type", "collection"),
                                documents=documents, indexes=len([i for i in meta.get("indexes") or []
                                                                  if i.get("name") != "_id_"])))
    return planned


def restore_mongo(client, db_dump: str, databases: list, p: dict, done: dict) -> list:
    results = []
    for database in databases:
        for meta, bson, gz in collections_of(db_dump, database):
            results.append(restore_collection(client[database], meta, bson, gz, p, done))
    return results


# --- PostgreSQL -------------------------------------------------------------------------------

def restore_postgres(conn: Connection, dump: str, databases: list, p: dict, done: dict) -> None:
    existing_roles = set(psql_query(conn, "SELECT rolname FROM pg_roles"))
    if p["overwrite"]:
        for name in databases:
            psql_query(conn, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % pg_quote(name))
    done["collection"] = "PostgreSQL"
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(conn.argv("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-f", "-"),
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr, env=conn.env)
        try:
            with reading(dump) as f:
                for line in f:
                    role = CREATE_ROLE.match(line.decode("utf-8", "replace").rstrip("\n"))
                    if role and pg_name(role.group(1)) in existing_roles:
                        continue
                    proc.stdin.write(line)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # psql stopped on an error: its message says which
        rc = proc.wait(timeout=p["pg_timeout"])
        stderr.seek(0)
        message = stderr.read().decode("utf-8", "replace").strip()
    if rc != 0:
        raise RestoreError("psql stopped restoring %s (exit %d): %s" % (dump, rc, message[-2000:] or "no message"))


# --- the module -------------------------------------------------------------------------------

def connect(p: dict):
    kwargs = dict(serverSelectionTimeoutMS=p["connect_timeout"] * 1000, directConnection=True)
    if p["login_user"]:
        kwargs.update(username=p["login_user"], password=p["login_password"], authSource=p["auth_source"])
    client = MongoClient(p["uri"], **kwargs)
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        raise RestoreError("cannot reach MongoDB at %s: %s. Is gStudio's container running?" % (p["uri"], exc)) from None
    return client


def pg_params(p: dict) -> dict:
    return dict(host=p["pg_host"], port=p["pg_port"], login_user=p["pg_user"], login_password=p["pg_password"],
                passfile=None, container=p["pg_container"], container_runtime=p["container_runtime"],
                container_user="postgres", pg_dumpall_path="pg_dumpall")


def run(p: dict, check_mode: bool, done: dict) -> dict:
    """The checks, then (unless check_mode) the restore; the checks change nothing."""
    started = time.time()
    identity = check_identity(p)
    databases = dump_databases(p["db_dump"])
    pg_databases = postgres_databases(p["postgres_dump"])
    client = connect(p) if "mongodb" in p["stores"] or databases else None
    passfile = write_passfile(pg_params(p))
    try:
        conn = Connection(pg_params(p), passfile) if "postgres" in p["stores"] or p["postgres_dump"] else None
        since = None if p["overwrite"] else collected_seconds(p["collected_at"])
        held, newer = folder_data(p["data_folders"], since)
        held += (mongo_data(client) if client else []) + (pg_data(conn) if conn else [])
        refuse([] if p["overwrite"] else held, newer, p["collected_at"], space_problems(p["space"], p["reserve_mb"] * 2**20))
        if check_mode:
            collections = plan_collections(p["db_dump"], databases)
        else:
            collections = restore_mongo(client, p["db_dump"], databases, p, done) if databases else []
            if p["postgres_dump"]:
                restore_postgres(conn, p["postgres_dump"], pg_databases, p, done)
    finally:
        if passfile:
            os.unlink(passfile)
    return dict(changed=True, identity=identity, collections=collections, replaced=held,
                documents=sum(c["documents"] for c in collections), postgres_databases=pg_databases,
                seconds=round(time.time() - started, 3))


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            server_id=dict(type="str", required=True),
            school_code=dict(type="str", required=True),
            server_settings=dict(type="path", required=True),
            db_dump=dict(type="path"),
            postgres_dump=dict(type="path"),
            data_folders=dict(type="list", elements="path", default=[]),
            stores=dict(type="list", elements="str", choices=["mongodb", "postgres"], default=["mongodb", "postgres"]),
            overwrite=dict(type="bool", default=False),
            collected_at=dict(type="str"),
            space=dict(type="dict", default={}),
            reserve_mb=dict(type="int", default=256),
            uri=dict(type="str", default="mongodb://127.0.0.1:8017/?directConnection=true"),
            login_user=dict(type="str"),
            login_password=dict(type="str", no_log=True),
            auth_source=dict(type="str", default="admin"),
            connect_timeout=dict(type="int", default=10),
            batch_bytes=dict(type="int", default=8 * 2**20),
            pg_host=dict(type="str", default="127.0.0.1"),
            pg_port=dict(type="int", default=8432),
            pg_user=dict(type="str", default="postgres"),
            pg_password=dict(type="str", no_log=True),
            pg_container=dict(type="str"),
            container_runtime=dict(type="str", default="docker"),
            pg_timeout=dict(type="int", default=3600),
            progress_seconds=dict(type="int", default=60),
        ),
        required_together=[("login_user", "login_password")],
        supports_check_mode=True,
    )
    refuse_uri_password(module)
    if PYMONGO_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("pymongo") + " Run the target_python role first.",
                         exception=PYMONGO_IMPORT_ERROR)
    done = dict(documents=0, collection="")
    try:
        with module_progress(module, lambda: "restoring: {:,} documents, now {}".format(
                done["documents"], done["collection"] or "starting")):
            result = run(module.params, module.check_mode, done)
    except (RestoreError, LayoutError) as exc:
        module.fail_json(msg=str(exc))
    except subprocess.TimeoutExpired:
        module.fail_json(msg="psql ran past pg_timeout (%ss) and was stopped" % module.params["pg_timeout"])
    except (PyMongoError, OSError, ValueError) as exc:
        module.fail_json(msg="the restore failed part-way: %s. Run it again with -e clix_restore_overwrite=true "
                         "once the cause is fixed." % exc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
