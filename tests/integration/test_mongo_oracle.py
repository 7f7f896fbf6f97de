"""MongoDB's real mongodump/mongorestore 100.3.1 (Windows builds under wine) as the oracle for
clix_mongodump: the real mongodump writes the same .bson bytes, and the real mongorestore loads
our dump back to identical documents and indexes - as clix_restore (restore.yml) loads it too."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from conftest import REPO, run_module
from pymongo import MongoClient

from fleet import hosts

pytestmark = pytest.mark.oracle
# By its path: action_plugins/ holds a file of the same name (tests/unit/library_module.py explains).
_spec = importlib.util.spec_from_file_location("clix_library_clix_restore", REPO / "library" / "clix_restore.py")
clix_restore = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(clix_restore)
TOOLS = REPO / ".cache" / "mongotools" / "mongodbtools"
WINE = Path("/usr/lib/wine/wine64")
DATABASES = ["gstudio-mongodb", "assessment", "repository"]


def wine_tool(name: str, *args: str) -> subprocess.CompletedProcess:
    if not WINE.exists() or not (TOOLS / f"{name}.exe").exists():
        pytest.fail("the oracle needs wine64 and MongoDB's tools: run `make deps` (it installs both)")
    env = dict(os.environ, WINEDEBUG="-all", WINEPREFIX="/var/tmp/clix-wine")
    return subprocess.run([str(WINE), str(TOOLS / f"{name}.exe"), *args], env=env, capture_output=True, text=True,
                          timeout=600)


def windows_path(path: Path) -> str:
    return "Z:" + str(path).replace("/", "\\")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def scratch_mongo():
    port = free_port()
    store = Path(tempfile.mkdtemp(prefix="clix-oracle-", dir="/var/tmp"))
    proc = subprocess.Popen([str(Path(sys.executable).with_name("secantusd-py")), "--host", "127.0.0.1", "--port",
                             str(port), "--storage-path", str(store / "db"), "--standalone", "--log-level", "WARNING",
                             "--cache-size", "64M"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hosts.wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, "scratch MongoDB", 30)
    yield port
    proc.terminate()
    proc.wait(timeout=30)
    shutil.rmtree(store, ignore_errors=True)


def restore_ours(target: MongoClient, dump: Path, databases: list[str]) -> None:
    """clix_restore's load of the same dump into the same server, after the real mongorestore's is dropped."""
    for db in databases:
        target.drop_database(db)
    clix_restore.restore_mongo(target, str(dump), databases, {"overwrite": False, "batch_bytes": 1 << 16},
                               {"documents": 0, "collection": ""})


def raw_documents(client: MongoClient, db: str, name: str) -> list[bytes]:
    coll = client[db].get_collection(name, codec_options=CodecOptions(document_class=RawBSONDocument))
    return sorted(doc.raw for doc in coll.find({}))


def test_real_mongodump_writes_the_same_bson_and_real_mongorestore_loads_ours(fleet, target_python, scratch_mongo,
                                                                             tmp_path):
    result = run_module(fleet, "mz2", "clix_mongodump", {"dest": "/home/core/oracle/db"},
                        "-e", f"ansible_python_interpreter={target_python}")["2031002-mz2"]
    assert not result["failed"], result
    ours = fleet.core("mz2") / "oracle" / "db"
    school = fleet.school("mz2")
    real = tmp_path / "real"
    dumped = wine_tool("mongodump", "--uri", f"mongodb://{school.address}:{hosts.MONGO_PORT}/?directConnection=true",
                       "--out", windows_path(real))
    assert dumped.returncode == 0, dumped.stderr
    for db in DATABASES:
        names = sorted(p.name for p in (real / db).glob("*.bson"))
        assert names and names == sorted(p.name for p in (ours / db).glob("*.bson"))
        for name in names:
            assert (ours / db / name).read_bytes() == (real / db / name).read_bytes(), f"{db}/{name}"

    restored = wine_tool("mongorestore", "--uri", f"mongodb://127.0.0.1:{scratch_mongo}/?directConnection=true",
                         windows_path(ours))
    assert restored.returncode == 0, restored.stderr
    source = MongoClient(school.address, hosts.MONGO_PORT, directConnection=True)
    target = MongoClient("127.0.0.1", scratch_mongo, directConnection=True)
    for restorer in ("mongorestore", "clix_restore"):
        if restorer == "clix_restore":
            restore_ours(target, ours, DATABASES)
        for db in DATABASES:
            assert sorted(source[db].list_collection_names()) == sorted(target[db].list_collection_names()), restorer
            for name in source[db].list_collection_names():
                assert raw_documents(source, db, name) == raw_documents(target, db, name), f"{restorer}: {db}.{name}"
                assert sorted((ix["name"], ix["key"]) for ix in source[db][name].list_indexes()) == \
                    sorted((ix["name"], ix["key"]) for ix in target[db][name].list_indexes()), f"{restorer}: {db}.{name}"


# Collection names a school server may hold that are not safe file names: "/" and ".." (a path
# out of the dump), "%" and "+" (the escape characters), a space, a backslash, non-ASCII, a trailing
# dot, and one so long escaped that mongodump cuts it and hashes the rest. SecantusDB, like MongoDB,
# refuses "$" and a leading "." in a collection name (the unit tests cover their escaping).
HOSTILE_DB = "clix-hostile-names"
RAW = CodecOptions(document_class=RawBSONDocument)


def raw_documents_by_command(client: MongoClient, db: str, name: str) -> list[bytes]:
    """The documents of a small collection, by a find command (pymongo refuses some names as Collection)."""
    reply = client[db].command({"find": name, "batchSize": 1000}, codec_options=RAW)
    assert reply["cursor"]["id"] == 0
    return sorted(doc.raw for doc in reply["cursor"]["firstBatch"])


HOSTILE = ["a/b", "x/../../../y", "sp ace+plus%pct", "\u00fc/\u00e9", "back\\slash", "trail.", "a..b", "/" * 80]


def test_real_mongorestore_restores_collection_names_that_are_not_file_names(fleet, target_python, scratch_mongo,
                                                                            tmp_path):
    school = fleet.school("mz1")
    source = MongoClient(school.address, hosts.MONGO_PORT, directConnection=True)
    for i, name in enumerate(HOSTILE):  # raw commands: pymongo's own checks refuse some of these names
        source[HOSTILE_DB].command({"insert": name, "documents": [{"_id": i, "name": name}, {"_id": 100 + i}]})
    try:
        result = run_module(fleet, "mz1", "clix_mongodump", {"dest": "/home/core/oracle-names/db",
                                                             "databases": [HOSTILE_DB]},
                            "-e", f"ansible_python_interpreter={target_python}")["2031001-mz1"]
        real = tmp_path / "real"
        dumped = wine_tool("mongodump", "--uri", f"mongodb://{school.address}:{hosts.MONGO_PORT}/?directConnection=true",
                           "--db", HOSTILE_DB, "--out", windows_path(real))
        expected = {name: raw_documents_by_command(source, HOSTILE_DB, name) for name in HOSTILE}
    finally:
        source.drop_database(HOSTILE_DB)
    assert not result["failed"], result
    assert dumped.returncode == 0, dumped.stderr
    ours = fleet.core("mz1") / "oracle-names" / "db"
    # Nothing but the one database folder: no name reached past it.
    assert sorted(p.name for p in ours.iterdir()) == [HOSTILE_DB]
    assert sorted(p.name for p in (ours / HOSTILE_DB).iterdir()) == sorted(p.name for p in (real / HOSTILE_DB).iterdir())
    for path in (real / HOSTILE_DB).glob("*.bson"):
        assert (ours / HOSTILE_DB / path.name).read_bytes() == path.read_bytes(), path.name

    restored = wine_tool("mongorestore", "--uri", f"mongodb://127.0.0.1:{scratch_mongo}/?directConnection=true",
                         windows_path(ours))
    assert restored.returncode == 0, restored.stderr
    target = MongoClient("127.0.0.1", scratch_mongo, directConnection=True)
    for restorer in ("mongorestore", "clix_restore"):
        if restorer == "clix_restore":
            restore_ours(target, ours, [HOSTILE_DB])
        assert sorted(target[HOSTILE_DB].list_collection_names()) == sorted(HOSTILE), restorer
        for name in HOSTILE:
            assert raw_documents_by_command(target, HOSTILE_DB, name) == expected[name], f"{restorer}: {name}"
