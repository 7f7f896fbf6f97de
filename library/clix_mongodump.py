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
  - Each collection is streamed as raw BSON batches (never decoded), so memory stays flat
    whatever the collection size.
  - The dump is written into a hidden temporary folder beside O(dest) and swapped in only when
    complete. A failed or interrupted dump never leaves something that looks complete, and the
    previous dump at O(dest) stays as it was.
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
      - Put no password in the URI; use O(login_password).
    type: str
    default: mongodb://127.0.0.1:8017/?directConnection=true
  login_user:
    description: User to authenticate as. Unauthenticated when omitted (gStudio's default).
    type: str
  login_password:
    description: Password of O(login_user).
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
    support: full
    details: Reports the databases, collections, document counts and data size it would dump; writes nothing.
  diff_mode:
    support: none
notes:
  - Not a point-in-time snapshot on a live server; a collection whose count changed during the
    dump is reported in RV(warnings) and in RV(collections[].count_changed).
  - Requires pymongo 4 on the managed node (the C(target_python) role installs it from wheels).
requirements: [pymongo >= 4.0]
author: clix-collect developers
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
    db: {description: Database name., type: str}
    collection: {description: Collection name., type: str}
    type: {description: C(collection) or C(view)., type: str}
    documents: {description: Documents written (estimated count in check mode)., type: int}
    bytes: {description: Size of the .bson(.gz) file as stored., type: int}
    sha256: {description: SHA-256 of the .bson(.gz) file., type: str}
    seconds: {description: Time taken., type: float}
    read_seconds: {description: Time spent streaming the documents (the rest is metadata and the count)., type: float}
    count_changed: {description: The documents read differ from the server's count after the read (live writes)., type: bool}
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

import os
import resource
import struct
import time
import traceback
from uuid import UUID

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.clix_files import (
    DiskFullError,
    atomic_output,
    new_temp_dir,
    remove_quietly,
    replace_dir,
    require_free_space,
)

try:
    from bson import json_util
    from bson.json_util import CANONICAL_JSON_OPTIONS
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure, PyMongoError

    PYMONGO_IMPORT_ERROR = None
except ImportError:
    PYMONGO_IMPORT_ERROR = traceback.format_exc()


FREE_SPACE_CHECK_BYTES = 64 * 2**20


class DumpError(Exception):
    pass


def count_bson_documents(batch: bytes) -> int:
    """Number of BSON documents in a concatenation (each starts with its int32 length)."""
    count, offset, end = 0, 0, len(batch)
    while offset < end:
        (length,) = struct.unpack_from("<i", batch, offset)
        offset += length
        count += 1
    return count


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
                        % (", ".join(missing), ", ".join(present)))
    names = wanted or present
    return sorted(d for d in names if d not in excluded)


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


def metadata_of(db, spec: dict) -> dict:
    """The .metadata.json document, fields in mongodump's order."""
    meta = {"options": spec.get("options", {})}
    if spec.get("type", "collection") == "collection":
        meta["indexes"] = list(db[spec["name"]].list_indexes())
    uuid = (spec.get("info") or {}).get("uuid")
    if uuid is not None:
        meta["uuid"] = uuid.hex if isinstance(uuid, UUID) else bytes(uuid).hex()
    meta["collectionName"] = spec["name"]
    meta["type"] = spec.get("type", "collection")
    return meta


def dump_collection(db, spec: dict, folder: str, params: dict) -> dict:
    name, kind = spec["name"], spec.get("type", "collection")
    started = time.time()
    suffix = ".gz" if params["gzip"] else ""
    meta_name = name + ".metadata.json" + suffix
    with atomic_output(os.path.join(folder, meta_name), params["gzip"]) as meta:
        meta.write(json_util.dumps(metadata_of(db, spec), json_options=CANONICAL_JSON_OPTIONS).encode())
    result = dict(db=db.name, collection=name, type=kind, documents=0, bytes=0, sha256=None,
                  count_changed=False, files={"%s/%s" % (db.name, meta_name): meta.sha256.hexdigest()})
    if kind == "collection":
        coll = db[name]
        path = os.path.join(folder, name + ".bson" + suffix)
        read_started = time.time()
        with atomic_output(path, params["gzip"]) as out:
            checked = 0
            for batch in coll.find_raw_batches({}, batch_size=params["batch_size"]):
                out.write(batch)
                result["documents"] += count_bson_documents(batch)
                if out.size - checked >= FREE_SPACE_CHECK_BYTES:  # the estimate may be wrong: keep watching
                    require_free_space(folder, 0, params["reserve_mb"] * 2**20)
                    checked = out.size
        result["read_seconds"] = round(time.time() - read_started, 3)
        # One count, after the stream: a collection written to during the dump reads differently
        # from what it then holds (a count is a full scan on some servers, so not one before too).
        after = coll.estimated_document_count()
        result.update(bytes=out.size, sha256=out.sha256.hexdigest(), count_changed=after != result["documents"])
        result["files"]["%s/%s.bson%s" % (db.name, name, suffix)] = result["sha256"]
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
            count = db[spec["name"]].estimated_document_count() if kind == "collection" else 0
            collections.append(dict(db=name, collection=spec["name"], type=kind, documents=count))
    return collections, total


def estimated_bytes(client, databases: list) -> int:
    """The space a dump needs, from one listDatabases (dbStats costs a full scan on some servers)."""
    sizes = {d["name"]: int(d.get("sizeOnDisk") or 0) for d in client.admin.command("listDatabases")["databases"]}
    return sum(sizes.get(name, 0) for name in databases)


def run_dump(module: AnsibleModule, client, databases: list, estimate: int) -> dict:
    params = module.params
    dest = params["dest"]
    require_free_space(os.path.dirname(os.path.abspath(dest)), estimate, params["reserve_mb"] * 2**20)
    tmp = new_temp_dir(dest)
    started = time.time()
    try:
        results = []
        for name in databases:
            folder = os.path.join(tmp, name)
            os.mkdir(folder, 0o700)
            for spec in collection_specs(client[name]):
                results.append(dump_collection(client[name], spec, folder, params))
        replace_dir(tmp, dest)
    except BaseException:
        remove_quietly(tmp)
        raise
    return dict(collections=results, seconds=round(time.time() - started, 3))


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            uri=dict(type="str", default="mongodb://127.0.0.1:8017/?directConnection=true"),
            login_user=dict(type="str"),
            login_password=dict(type="str", no_log=True),
            auth_source=dict(type="str", default="admin"),
            databases=dict(type="list", elements="str", default=[]),
            exclude_databases=dict(type="list", elements="str", default=["local", "config"]),
            gzip=dict(type="bool", default=False),
            connect_timeout=dict(type="int", default=10),
            batch_size=dict(type="int", default=1000),
            reserve_mb=dict(type="int", default=256),
        ),
        required_together=[("login_user", "login_password")],
        supports_check_mode=True,
    )
    os.umask(0o077)  # archive and staging hold private data
    if PYMONGO_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("pymongo") + " Run the target_python role first.",
                         exception=PYMONGO_IMPORT_ERROR)
    params = module.params
    try:
        client, version = connect(params)
        databases = select_databases(client, params["databases"], params["exclude_databases"])
        if module.check_mode:
            collections, estimate = plan(client, databases)
            module.exit_json(changed=True, dest=params["dest"], databases=databases, collections=collections,
                             documents=sum(c["documents"] for c in collections), bytes=estimate, seconds=0.0,
                             server_version=version)
        done = run_dump(module, client, databases, estimated_bytes(client, databases))
    except DiskFullError as exc:
        module.fail_json(msg="MongoDB dump not written: %s" % exc, dest=params["dest"])
    except DumpError as exc:
        module.fail_json(msg=str(exc), dest=params["dest"])
    except PyMongoError as exc:
        module.fail_json(msg="MongoDB dump failed part-way (%s); nothing was written to %s. Re-run when "
                         "the server is reachable." % (exc, params["dest"]))
    collections = done["collections"]
    changed_counts = ["%s.%s" % (c["db"], c["collection"]) for c in collections if c["count_changed"]]
    for ns in changed_counts:
        module.warn("the document count of %s changed during the dump (the server was being written to); "
                    "the dump holds the documents read at the time" % ns)
    files = {}
    for c in collections:
        files.update(c.pop("files"))
    module.exit_json(changed=True, dest=params["dest"], databases=databases, collections=collections,
                     documents=sum(c["documents"] for c in collections),
                     bytes=sum(c["bytes"] for c in collections), seconds=done["seconds"],
                     server_version=version, files=files,
                     peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


if __name__ == "__main__":
    main()
