#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_mongodump
short_description: Dump MongoDB databases in mongodump's directory layout, with pymongo only
description:
  - Dumps every database of a MongoDB server (gStudio's C(gstudio-mongodb) and the qbank
    databases) except C(local) and C(config), or the given list, into O(dest) as
    C(<db>/<collection>.bson) and C(<db>/<collection>.metadata.json), the layout that
    C(mongorestore) reads. No mongodump binary is needed on the server.
  - Names are the server's data, never trusted as paths. A collection's file name is escaped as
    mongodump (mongo-tools 100.x) escapes it, so that C(mongorestore) restores the original name;
    every byte except letters, digits and C(_.-~) becomes C(%XX) (a space C(+)), and a name longer
    than 238 bytes escaped is cut to 208 and ended with C(%24) and the base64 of its SHA-1
    (C(mongorestore) then reads the name from the C(.metadata.json)). Database names are not escaped
    by mongodump; one that breaks MongoDB's naming rules (more than 63 bytes, C(/\. "$), NUL or a
    control character) is refused with the dump, before anything is written.
  - Each collection is streamed as raw BSON batches (never decoded), so memory stays flat
    whatever the collection size.
  - The dump is written into a hidden temporary folder beside O(dest) and swapped in only when
    complete. A failed, interrupted or timed-out dump (O(timeout)) never leaves something that
    looks complete, and the previous dump at O(dest) stays as it was.
  - Credentials are separate options (O(login_user), O(login_password), O(auth_source)); a O(uri)
    that carries a password is refused without being echoed, and no message or result field
    holds the password.
  - Before writing, the free space at O(dest) is checked against the size the databases take on
    the server (one C(listDatabases)), and again every 64 MiB written, so that a dump larger than
    that estimate stops with O(reserve_mb) still free instead of filling the disk.
version_added: "0.1.0"
options:
  dest:
    description: Folder that receives the dump (replaced as a whole when the dump is complete).
    type: path
    required: true
  uri:
    description:
      - MongoDB connection URI. gStudio publishes its container's mongod on the host's port 8017.
      - Without credentials. A URI with a password (C(mongodb://user:password@host)) is refused;
        give the password as O(login_password).
    type: str
    default: mongodb://127.0.0.1:8017/?directConnection=true
  login_user:
    description: User to authenticate as. Unauthenticated when omitted (gStudio's default).
    type: str
  login_password:
    description: Password of O(login_user). Never logged nor returned.
    type: str
  auth_source:
    description: Database that holds O(login_user).
    type: str
    default: admin
  databases:
    description: Databases to dump. All except C(local) and C(config) when empty.
    type: list
    elements: str
    default: []
  exclude_databases:
    description: Databases never dumped.
    type: list
    elements: str
    default: [local, config]
  gzip:
    description: Write C(.bson.gz) and C(.metadata.json.gz), as C(mongodump --gzip) does.
    type: bool
    default: false
  connect_timeout:
    description: Seconds to wait for the server before failing (a server that is down never hangs the play).
    type: int
    default: 10
  timeout:
    description:
      - Seconds the whole dump may take (connecting, reading, writing), 0 for no limit. Past it the
        dump stops with an error, nothing is swapped in and the temporary folder is removed, so
        that a stalled or hostile server never holds the play.
    type: float
    default: 14400
  batch_size:
    description: Documents per cursor batch; bounds the memory used while streaming.
    type: int
    default: 1000
  reserve_mb:
    description: Free space (MiB) to leave on the destination's filesystem after the dump.
    type: int
    default: 256
attributes:
  check_mode:
    details: >-
      Connects, lists the databases and collections it would dump with their estimated document counts and
      the data size the server reports (RV(collections), RV(documents), RV(bytes)); writes nothing and
      checks no free space.
  diff_mode:
    details: Every file written is listed in RV(files) with its SHA-256.
notes:
  - Not a point-in-time snapshot on a live server; a collection whose count changed during the
    dump is reported in a warning and in RV(collections[].count_changed).
  - Requires pymongo 4 on the managed node (the C(target_python) role installs it from wheels).
requirements: [pymongo >= 4.0]
extends_documentation_fragment:
  - clix_staging
  - clix_progress
  - clix_attributes
"""

EXAMPLES = r"""
- name: Dump gStudio and qbank databases into the staging folder
  clix_mongodump:
    dest: /home/core/clix-collect-staging/db

- name: Dump only gStudio's database, compressed
  clix_mongodump:
    dest: /var/tmp/dump/db
    databases: [gstudio-mongodb]
    gzip: true
"""

RETURN = r"""
dest:
  description: Folder holding the finished dump.
  returned: success
  type: str
databases:
  description: Names of the databases dumped (or that would be dumped in check mode).
  returned: always
  type: list
  elements: str
collections:
  description: One entry per collection or view dumped.
  returned: always
  type: list
  elements: dict
  contains:
    db:
      description: Database name.
      type: str
    collection:
      description: Collection name, the server's as it is.
      type: str
    file:
      description: Its file name in dest/<db>/ before .bson and .metadata.json (escaped as mongodump escapes it).
      type: str
    type:
      description: C(collection) or C(view).
      type: str
    documents:
      description: Documents written (estimated count in check mode).
      type: int
    bytes:
      description: Size of the .bson(.gz) file as stored.
      type: int
    sha256:
      description: SHA-256 of the .bson(.gz) file.
      type: str
    seconds:
      description: Time taken.
      type: float
    read_seconds:
      description: Time spent streaming the documents (the rest is metadata and the count).
      type: float
    count_changed:
      description: The documents read differ from the server's count after the read (live writes).
      type: bool
documents:
  description: Total documents written.
  returned: always
  type: int
bytes:
  description: Total bytes of the dump as stored (data size estimate in check mode).
  returned: always
  type: int
seconds:
  description: Duration of the dump.
  returned: always
  type: float
peak_rss_bytes:
  description: Peak memory of the dump process (flat in the data size; for capacity planning).
  returned: success
  type: int
files:
  description: Every file written, as C({path relative to dest - sha256}), for verifying a copy.
  returned: success
  type: dict
server_version:
  description: Version the server reports.
  returned: always
  type: str
"""

import base64
import hashlib
import json
import os
import resource
import signal
import struct
import tempfile
import time
import traceback
from contextlib import contextmanager
from urllib.parse import quote_plus
from uuid import UUID

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.clix_files import (
    DiskFullError,
    UnsafeFolderError,
    atomic_output,
    fsync_dir,
    human_bytes,
    private_dir,
    remove_quietly,
    replace_dir,
    require_free_space,
)
from ansible.module_utils.clix_layout import LayoutError, check_part, under
from ansible.module_utils.clix_mongo import refuse_uri_password, uri_secrets  # noqa: F401 - uri_secrets: the unit tests'
from ansible.module_utils.clix_progress import module_progress

try:
    from bson import json_util
    from bson.codec_options import CodecOptions
    from bson.errors import BSONError
    from bson.json_util import CANONICAL_JSON_OPTIONS
    from bson.raw_bson import RawBSONDocument
    from bson.son import SON
    from pymongo import MongoClient
    from pymongo.errors import InvalidName, OperationFailure, PyMongoError

    PYMONGO_IMPORT_ERROR = None
except ImportError:
    PYMONGO_IMPORT_ERROR = traceback.format_exc()


FREE_SPACE_CHECK_BYTES = 64 * 2**20
# mongo-tools 100.x: the characters mongorestore refuses in a database folder (common/util
# InvalidDBChars, ValidateDBName) and the longest database name.
INVALID_DB_CHARS = '/\\. "\x00$'
MAX_DB_NAME_BYTES = 63
# mongodump's longest file stem, so that ".metadata.json.gz" still fits in 255 bytes, and where a
# longer one is cut before "%24" and the name's hash (mongodump/prepare.go, outputPath).
MAX_STEM = 238
CUT_STEM = 208
# What a file of the dump is written as before it takes its name: no collection's file is named so.
WORK_NAME = ".clix-part"


class DumpError(Exception):
    pass


class DumpTimeout(BaseException):
    """The dump ran past its time limit. A BaseException, so that no `except Exception` on the way
    (pymongo's included) swallows it."""


def escape_collection_name(name: str) -> str:
    """The file stem mongodump 100.x gives a collection: Go's url.QueryEscape (every UTF-8 byte but
    letters, digits and _.-~ as %XX, a space as +), which mongorestore undoes with QueryUnescape; a
    stem longer than 238 bytes is cut to 208, then "%24" and the unpadded URL-safe base64 of the
    name's SHA-1 (mongorestore then takes the name from the .metadata.json). The result never
    holds a "/" or a control character, and with its suffix it is never "." or "..", whatever the
    server sends."""
    stem = quote_plus(name, safe="")
    if len(stem) > MAX_STEM:
        digest = base64.urlsafe_b64encode(hashlib.sha1(name.encode("utf-8")).digest()).rstrip(b"=")
        stem = stem[:CUT_STEM] + "%24" + digest.decode("ascii")
    return stem


def database_name_problem(name) -> str:
    """Why a database name cannot be a folder of the dump ('' when it can). mongodump writes the
    name as it is and mongorestore refuses a folder that breaks MongoDB's rules, so a name the
    server should never have accepted is refused rather than escaped."""
    if not isinstance(name, str) or not name:
        return "it is empty"
    if len(name.encode("utf-8")) > MAX_DB_NAME_BYTES:
        return "it is longer than %d bytes" % MAX_DB_NAME_BYTES
    bad = sorted(set(c for c in name if c in INVALID_DB_CHARS))
    if bad:
        return "it holds %s" % " ".join(json.dumps(c) for c in bad)
    try:
        check_part(name)
    except LayoutError:
        return "it holds a control character"
    return ""


def count_bson_documents(batch: bytes) -> int:
    """Number of BSON documents in a concatenation (each an int32 length of at least 5 that counts
    itself, then the body, ending in NUL). A malformed stream raises DumpError: a broken or
    hostile server never makes this loop or read past the end."""
    count, offset, end = 0, 0, len(batch)
    while offset < end:
        if end - offset < 5:
            raise DumpError("malformed BSON: %d stray bytes at byte %d after document %d" % (end - offset, offset, count))
        (length,) = struct.unpack_from("<i", batch, offset)
        if length < 5 or length > end - offset:
            raise DumpError("malformed BSON: document %d at byte %d claims %d bytes, %d are left"
                            % (count, offset, length, end - offset))
        if batch[offset + length - 1] != 0:
            raise DumpError("malformed BSON: document %d at byte %d does not end in NUL" % (count, offset))
        offset += length
        count += 1
    return count


@contextmanager
def time_limit(seconds: float):
    """Raise DumpTimeout wherever the block is once seconds have passed (0: no limit). SIGALRM
    interrupts a blocking read too, which a check between batches would not."""
    if not seconds or seconds <= 0:
        yield
        return

    def expire(_signum, _frame):
        raise DumpTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def alarm_held():
    """The time limit held back (delivered on leaving) while a step must finish whole: a folder
    made but not yet remembered could not be removed."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})


def connect(params: dict):
    timeout_ms = params["connect_timeout"] * 1000
    kwargs = dict(serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms)
    if params["login_user"]:
        kwargs.update(username=params["login_user"], password=params["login_password"],
                      authSource=params["auth_source"])
    client = MongoClient(params["uri"], **kwargs)
    try:
        info = client.server_info()
        client.admin.command("listDatabases", nameOnly=True)
    except OperationFailure as exc:
        raise DumpError("MongoDB at %s refused the login or the command (%s). Check login_user/"
                        "login_password and auth_source." % (params["uri"], exc.details or exc)) from None
    except PyMongoError as exc:
        raise DumpError("cannot reach MongoDB at %s within %ss: %s. Is gStudio's container running "
                        "(docker ps) and is mongod published on that port?"
                        % (params["uri"], params["connect_timeout"], exc)) from None
    return client, info.get("version", "unknown")


def select_databases(client, wanted: list, excluded: list) -> list:
    present = client.list_database_names()
    missing = [d for d in wanted if d not in present]
    if missing:
        raise DumpError("database(s) %s not on the server, which has: %s"
                        % (", ".join(json.dumps(d) for d in missing), ", ".join(json.dumps(d) for d in present)))
    names = sorted(d for d in (wanted or present) if d not in excluded)
    bad = ["%s (%s)" % (json.dumps(d), database_name_problem(d)) for d in names if database_name_problem(d)]
    if bad:
        raise DumpError("database name(s) %s break MongoDB's naming rules, so they cannot be folders of the dump "
                        "(mongorestore refuses them); nothing was dumped. Rename them on the school server, or "
                        "leave them out with exclude_databases (clix_mongo_exclude_databases)." % ", ".join(bad))
    return names


def collection_specs(db) -> list:
    specs = []
    for spec in db.list_collections():
        name, kind = spec["name"], spec.get("type", "collection")
        if name.startswith("system.") and db.name != "admin":
            continue
        if kind not in ("collection", "view"):
            continue
        specs.append(spec)
    return sorted(specs, key=lambda s: s["name"])


class CommandCollection:
    """A collection read with plain commands (find and getMore, listIndexes, count), as mongodump's
    Go driver reads it, for a name that pymongo refuses to make a Collection of ("..", "$", a
    leading or trailing dot) but a server holds. The cursor's commands share one session, as
    getMore requires; a cursor left open by an error is reaped by the server."""

    def __init__(self, db, name: str) -> None:
        self.db, self.name = db, name

    def _batches(self, command: SON, codec_options, batch_size: int = 0):
        with self.db.client.start_session() as session:
            cursor = self.db.command(command, codec_options=codec_options, session=session)["cursor"]
            yield cursor["firstBatch"]
            while cursor["id"]:
                more = SON([("getMore", cursor["id"]), ("collection", self.name)])
                if batch_size:
                    more["batchSize"] = batch_size
                cursor = self.db.command(more, codec_options=codec_options, session=session)["cursor"]
                yield cursor["nextBatch"]

    def find_raw_batches(self, _filter: dict, batch_size: int):
        command = SON([("find", self.name), ("filter", {}), ("batchSize", batch_size)])
        for batch in self._batches(command, CodecOptions(document_class=RawBSONDocument), batch_size):
            yield b"".join(doc.raw for doc in batch)

    def list_indexes(self) -> list:
        return [ix for batch in self._batches(SON([("listIndexes", self.name)]), CodecOptions(document_class=SON))
                for ix in batch]

    def estimated_document_count(self) -> int:
        return int(self.db.command(SON([("count", self.name)]))["n"])


def collection_of(db, name: str):
    """db[name], or a CommandCollection for a name that pymongo refuses but mongodump dumps."""
    try:
        return db[name]
    except InvalidName:
        return CommandCollection(db, name)


def metadata_of(db, spec: dict) -> dict:
    """The .metadata.json document, fields in mongodump's order."""
    meta = {"options": spec.get("options", {})}
    if spec.get("type", "collection") == "collection":
        meta["indexes"] = list(collection_of(db, spec["name"]).list_indexes())
    uuid = (spec.get("info") or {}).get("uuid")
    if uuid is not None:
        meta["uuid"] = uuid.hex if isinstance(uuid, UUID) else bytes(uuid).hex()
    meta["collectionName"] = spec["name"]
    meta["type"] = spec.get("type", "collection")
    return meta


@contextmanager
def dump_file(folder: str, name: str, compress: bool):
    """atomic_output under a short working name, renamed to name once complete: a mongodump file
    name may take all of the 255 bytes a name can have, leaving no room for a temporary suffix.
    The folder is the dump's own fresh one, swapped in only when the whole dump is complete."""
    final, work = under(folder, name), under(folder, WORK_NAME)
    with atomic_output(work, compress) as out:
        yield out
    if os.path.lexists(final):
        remove_quietly(work)
        raise DumpError("two collections of %s would both be written as %s"
                        % (json.dumps(os.path.basename(folder)), json.dumps(name)))
    os.rename(work, final)


def dump_collection(db, spec: dict, folder: str, params: dict, done: dict) -> dict:
    """One collection into folder; done (the dump's progress so far) counts its documents and bytes."""
    name, kind = spec["name"], spec.get("type", "collection")
    done["collection"] = "%s.%s" % (db.name, json.dumps(name))
    started = time.time()
    suffix = ".gz" if params["gzip"] else ""
    stem = escape_collection_name(name)
    meta_name = stem + ".metadata.json" + suffix
    with dump_file(folder, meta_name, params["gzip"]) as meta:
        meta.write(json_util.dumps(metadata_of(db, spec), json_options=CANONICAL_JSON_OPTIONS).encode())
    result = dict(db=db.name, collection=name, file=stem, type=kind, documents=0, bytes=0, sha256=None,
                  count_changed=False, files={"%s/%s" % (db.name, meta_name): meta.sha256.hexdigest()})
    if kind == "collection":
        coll = collection_of(db, name)
        bson_name = stem + ".bson" + suffix
        read_started = time.time()
        with dump_file(folder, bson_name, params["gzip"]) as out:
            checked = 0
            for batch in coll.find_raw_batches({}, batch_size=params["batch_size"]):
                try:
                    documents = count_bson_documents(batch)
                except DumpError as exc:
                    raise DumpError("MongoDB sent %s.%s as %s; nothing was written. Check the server's database "
                                    "(mongod's log, a repair)." % (db.name, json.dumps(name), exc)) from None
                out.write(batch)
                result["documents"] += documents
                done["documents"] += documents
                done["bytes"] += len(batch)
                if out.size - checked >= FREE_SPACE_CHECK_BYTES:  # the estimate may be wrong: keep watching
                    require_free_space(folder, 0, params["reserve_mb"] * 2**20)
                    checked = out.size
        result["read_seconds"] = round(time.time() - read_started, 3)
        # One count, after the stream: a collection written to during the dump reads differently
        # from what it then holds (a count is a full scan on some servers, so not one before too).
        after = coll.estimated_document_count()
        result.update(bytes=out.size, sha256=out.sha256.hexdigest(), count_changed=after != result["documents"])
        result["files"]["%s/%s" % (db.name, bson_name)] = result["sha256"]
    result["seconds"] = round(time.time() - started, 3)
    return result


def plan(client, databases: list) -> tuple:
    """(collections with estimated counts, estimated total bytes) for check mode."""
    collections, total = [], 0
    for name in databases:
        db = client[name]
        total += int(db.command("dbStats").get("dataSize", 0))
        for spec in collection_specs(db):
            kind = spec.get("type", "collection")
            count = collection_of(db, spec["name"]).estimated_document_count() if kind == "collection" else 0
            collections.append(dict(db=name, collection=spec["name"], file=escape_collection_name(spec["name"]),
                                    type=kind, documents=count))
    return collections, total


def estimated_bytes(client, databases: list) -> int:
    """The space a dump needs, from one listDatabases (dbStats costs a full scan on some servers)."""
    sizes = {d["name"]: int(d.get("sizeOnDisk") or 0) for d in client.admin.command("listDatabases")["databases"]}
    return sum(sizes.get(name, 0) for name in databases)


def new_dump_folder(dest: str, staging_dir: str | None) -> tuple:
    """(dest as a name bound to the checked staging folder, a fresh private hidden folder beside it
    to dump into). The staging folder is checked and made by private_dir: never through a link,
    never one that someone else owns."""
    parent = os.path.dirname(os.path.abspath(dest))
    bound = os.path.join(private_dir(parent, staging_dir), os.path.basename(dest))
    return bound, tempfile.mkdtemp(prefix=".%s.tmp-" % os.path.basename(dest), dir=os.path.dirname(bound))


def new_progress() -> dict:
    """What a dump has done so far, as dump_all counts it (read by describe_progress)."""
    return dict(documents=0, bytes=0, collections=0, collection="")


def describe_progress(done: dict) -> str:
    return "dumping MongoDB: {:,} documents, {} written, {} collections done, now {}".format(
        done["documents"], human_bytes(done["bytes"]), done["collections"], done["collection"] or "starting")


def dump_all(client, databases: list, tmp: str, params: dict, done: dict) -> list:
    """Every collection of every database into tmp/<db>/; each path proved to stay under tmp."""
    results = []
    for name in databases:
        folder = under(tmp, name)
        os.mkdir(folder, 0o700)
        for spec in collection_specs(client[name]):
            results.append(dump_collection(client[name], spec, folder, params, done))
            done["collections"] += 1
        fsync_dir(folder)  # the renames of dump_file
    return results


def run(params: dict, check_mode: bool, done: dict | None = None) -> dict:
    """The dump (its plan in check mode) within the time limit, then the finished dump swapped in.
    On any error or the time limit the temporary folder goes and dest stays as it was."""
    dest = params["dest"]
    tmp = None
    try:
        with time_limit(params["timeout"]):
            started = time.time()
            client, version = connect(params)
            databases = select_databases(client, params["databases"], params["exclude_databases"])
            if check_mode:
                collections, estimate = plan(client, databases)
                return dict(changed=True, dest=dest, databases=databases, collections=collections,
                            documents=sum(c["documents"] for c in collections), bytes=estimate, seconds=0.0,
                            server_version=version)
            estimate = estimated_bytes(client, databases)
            require_free_space(os.path.dirname(os.path.abspath(dest)), estimate, params["reserve_mb"] * 2**20)
            with alarm_held():
                bound, tmp = new_dump_folder(dest, params.get("staging_dir"))
            collections = dump_all(client, databases, tmp, params, done if done is not None else new_progress())
        replace_dir(tmp, bound)  # never interrupted by the time limit: a half-swapped dest would lose the old dump
        tmp = None
    finally:
        if tmp:
            remove_quietly(tmp)
    files = {}
    for c in collections:
        files.update(c.pop("files"))
    return dict(changed=True, dest=dest, databases=databases, collections=collections,
                documents=sum(c["documents"] for c in collections), bytes=sum(c["bytes"] for c in collections),
                seconds=round(time.time() - started, 3), server_version=version, files=files,
                peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            staging_dir=dict(type="path"),
            uri=dict(type="str", default="mongodb://127.0.0.1:8017/?directConnection=true"),
            login_user=dict(type="str"),
            login_password=dict(type="str", no_log=True),
            auth_source=dict(type="str", default="admin"),
            databases=dict(type="list", elements="str", default=[]),
            exclude_databases=dict(type="list", elements="str", default=["local", "config"]),
            gzip=dict(type="bool", default=False),
            connect_timeout=dict(type="int", default=10),
            timeout=dict(type="float", default=14400),
            batch_size=dict(type="int", default=1000),
            reserve_mb=dict(type="int", default=256),
            progress_seconds=dict(type="int", default=60),
        ),
        required_together=[("login_user", "login_password")],
        supports_check_mode=True,
    )
    os.umask(0o077)  # archive and staging hold private data
    refuse_uri_password(module)
    if PYMONGO_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("pymongo") + " Run the target_python role first.",
                         exception=PYMONGO_IMPORT_ERROR)
    params = module.params
    dest = params["dest"]
    done = new_progress()
    try:
        with module_progress(module, lambda: describe_progress(done)):
            result = run(params, module.check_mode, done)
    except DumpTimeout:
        module.fail_json(msg="MongoDB dump stopped: it ran past its time limit of %s seconds (timeout, the role's "
                         "clix_mongo_timeout); nothing was written to %s. Raise the limit for a large database, or "
                         "check the server (a stalled mongod)." % (params["timeout"], dest), dest=dest)
    except (DiskFullError, UnsafeFolderError) as exc:
        module.fail_json(msg="MongoDB dump not written: %s" % exc, dest=dest)
    except DumpError as exc:
        module.fail_json(msg=str(exc), dest=dest)
    except LayoutError as exc:
        module.fail_json(msg="MongoDB dump refused, nothing was written: a name from the server would leave the "
                         "dump folder (%s). Check the school server's databases." % exc, dest=dest)
    except (PyMongoError, BSONError) as exc:
        module.fail_json(msg="MongoDB dump failed part-way (%s); nothing was written to %s. Re-run when "
                         "the server is reachable." % (exc, dest))
    for c in result["collections"]:
        if c.get("count_changed"):
            module.warn("the document count of %s.%s changed during the dump (the server was being written to); "
                        "the dump holds the documents read at the time" % (c["db"], json.dumps(c["collection"])))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
