"""Pure parts of the MongoDB dump module."""

from __future__ import annotations

import json
import random
import re
import signal
import struct
import time
from contextlib import contextmanager
from urllib.parse import unquote_plus

import bson
import pytest
from ansible.module_utils.clix_layout import LayoutError, check_part
from library_module import library_module

clix_mongodump = library_module("clix_mongodump")  # action_plugins/ has a file of that name too
DumpError = clix_mongodump.DumpError
count_bson_documents = clix_mongodump.count_bson_documents
database_name_problem = clix_mongodump.database_name_problem
dump_collection = clix_mongodump.dump_collection
escape_collection_name = clix_mongodump.escape_collection_name
uri_secrets = clix_mongodump.uri_secrets


def test_count_bson_documents_in_a_raw_batch():
    batch = b"".join(bson.encode({"i": i, "pad": "x" * i}) for i in range(7))
    assert count_bson_documents(batch) == 7
    assert count_bson_documents(b"") == 0


class LiveCollection:
    """A collection a school keeps writing to: each count finds more documents than were read."""

    def __init__(self, docs: int) -> None:
        self.docs = docs

    def find_raw_batches(self, _filter: dict, batch_size: int):
        for start in range(0, self.docs, batch_size):
            yield b"".join(bson.encode({"i": i}) for i in range(start, min(start + batch_size, self.docs)))

    def estimated_document_count(self) -> int:
        self.docs += 3
        return self.docs

    def list_indexes(self) -> list:
        return [{"v": 2, "key": {"_id": 1}, "name": "_id_"}]


class FakeDb(dict):
    name = "gstudio-mongodb"


def dump(tmp_path, coll) -> dict:
    db = FakeDb(Nodes=coll)
    params = {"gzip": False, "batch_size": 4, "reserve_mb": 0}
    done = clix_mongodump.new_progress()
    result = dump_collection(db, {"name": "Nodes", "type": "collection"}, str(tmp_path), params, done)
    assert (done["documents"], done["bytes"]) == (result["documents"], result["bytes"])
    return result


def test_a_collection_written_to_during_the_dump_is_flagged(tmp_path):
    result = dump(tmp_path, LiveCollection(10))
    assert result["documents"] == 10 and result["count_changed"] is True
    assert count_bson_documents((tmp_path / "Nodes.bson").read_bytes()) == 10


def test_a_quiet_collection_is_not_flagged(tmp_path):
    quiet = LiveCollection(10)
    quiet.estimated_document_count = lambda: 10
    assert dump(tmp_path, quiet)["count_changed"] is False


# --- names: escaped as mongodump 100.x escapes them (Go's url.QueryEscape, then the 238-byte cut)

@pytest.mark.parametrize(("name", "stem"), [
    ("Nodes", "Nodes"),
    ("a/b", "a%2Fb"),
    ("x/../../../y", "x%2F..%2F..%2F..%2Fy"),
    ("../../escape", "..%2F..%2Fescape"),
    ("..", ".."),
    (".hidden", ".hidden"),
    ("a$b", "a%24b"),
    ("sp ace+plus%pct", "sp+ace%2Bplus%25pct"),
    ("\u00fc/\u00e9", "%C3%BC%2F%C3%A9"),
    ("back\\slash", "back%5Cslash"),
    ("Az09-_.~", "Az09-_.~"),
    ("nul\x00:;=?@&,*'()!", "nul%00%3A%3B%3D%3F%40%26%2C%2A%27%28%29%21"),
    ("a" * 238, "a" * 238),
    # Longer than 238 escaped: the first 208 bytes (a %XX may be cut), %24, base64url(sha1(name)) unpadded.
    ("a" * 239, "a" * 208 + "%24_cMIV897lX9H69gojV5ddCb0Q5Q"),
    ("/" * 80, "%2F" * 69 + "%" + "%24jSFnvgvUKx025wn7zoCaBVxpdCE"),
])
def test_collection_names_are_escaped_as_mongodump_escapes_them(name, stem):
    assert escape_collection_name(name) == stem


def test_every_escaped_name_is_one_safe_path_part_that_unescapes_to_the_name():
    rng = random.Random(12)
    alphabet = "ab./\\$%+ ~-_\x00\x01\u00e9\u4e2d"
    names = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 90))) for _ in range(500)]
    for name in [*names, ".", "..", "/", "../..", "$"]:
        stem = escape_collection_name(name)
        assert re.fullmatch(r"[A-Za-z0-9_.~%+-]+", stem) and len(stem) <= 238, name
        check_part(stem + ".bson")
        check_part(stem + ".metadata.json")
        if len(stem) < 238:
            assert unquote_plus(stem) == name


@pytest.mark.parametrize("name", ["gstudio-mongodb", "assessment", "qbank_2019", "\u00e9cole", "x" * 63])
def test_database_names_mongodb_allows_are_folders(name):
    assert database_name_problem(name) == ""


@pytest.mark.parametrize("name", ["", "../x", "a/b", "..", "a.b", "sp ace", 'q"', "d$", "back\\slash", "nul\x00",
                                  "ctl\x01", "x" * 64, "\u00e9" * 32])
def test_database_names_mongorestore_would_refuse_are_refused(name):
    assert database_name_problem(name)


# --- BSON streams: a malformed one is an error, never a loop

@contextmanager
def must_not_hang(seconds: float = 5):
    """The module's own time limit (tested below), its expiry a failed test."""
    try:
        with clix_mongodump.time_limit(seconds):
            yield
    except clix_mongodump.DumpTimeout:
        raise AssertionError("did not return within %s seconds" % seconds) from None


GOOD = bson.encode({"i": 1})


@pytest.mark.parametrize(("stream", "says"), [
    (b"\x00\x00\x00\x00" + GOOD, "claims 0 bytes"),  # a zero-length document: looped forever
    (GOOD + struct.pack("<i", 4) + GOOD, "claims 4 bytes"),  # shorter than the smallest document
    (struct.pack("<i", -20) + b"\x00" * 16, "claims -20 bytes"),
    (GOOD + GOOD[:-1], "claims %d bytes, %d are left" % (len(GOOD), len(GOOD) - 1)),  # truncated
    (struct.pack("<i", 1 << 30) + b"\x00", "claims 1073741824 bytes"),
    (GOOD + b"\x05\x00\x00", "3 stray bytes"),
    (GOOD[:-1] + b"\x01", "does not end in NUL"),
])
def test_a_malformed_bson_stream_is_an_error_not_a_loop(stream, says):
    with must_not_hang(), pytest.raises(DumpError, match="malformed BSON") as raised:
        count_bson_documents(stream)
    assert says in str(raised.value)


def test_a_malformed_batch_fails_the_collection_and_leaves_no_bson(tmp_path):
    class Broken(LiveCollection):
        def find_raw_batches(self, _filter: dict, batch_size: int):
            yield GOOD + b"\x00\x00\x00\x00" + GOOD

    with must_not_hang(), pytest.raises(DumpError, match=r'gstudio-mongodb\."Nodes" as malformed BSON'):
        dump(tmp_path, Broken(1))
    assert not list(tmp_path.glob("*.bson*")) and not list(tmp_path.glob(".*tmp*"))


# --- the whole dump, against a stand-in server

class FakeDatabase(dict):
    def __init__(self, name: str, collections: dict) -> None:
        super().__init__(collections)
        self.name = name

    def list_collections(self):
        return [{"name": n, "type": "collection", "options": {}} for n in self]


class FakeAdmin:
    def __init__(self, client: FakeClient) -> None:
        self.client = client

    def command(self, name: str, **_kw) -> dict:
        assert name == "listDatabases"
        return {"databases": [{"name": n, "sizeOnDisk": 0} for n in self.client.dbs]}


class FakeClient:
    def __init__(self, dbs: dict) -> None:
        self.dbs = {name: FakeDatabase(name, colls) for name, colls in dbs.items()}
        self.admin = FakeAdmin(self)

    def server_info(self) -> dict:
        return {"version": "stand-in"}

    def list_database_names(self) -> list:
        return list(self.dbs)

    def __getitem__(self, name: str) -> FakeDatabase:
        return self.dbs[name]


def params(dest, **kw) -> dict:
    base = dict(dest=str(dest), uri="mongodb://127.0.0.1:1/", login_user=None, login_password=None,
                auth_source="admin", databases=[], exclude_databases=["local", "config"], gzip=False,
                connect_timeout=1, timeout=0, batch_size=2, reserve_mb=0)
    return {**base, **kw}


def serve(monkeypatch, dbs: dict) -> None:
    client = FakeClient(dbs)
    monkeypatch.setattr(clix_mongodump, "MongoClient", lambda *_a, **_kw: client)


def tree(folder) -> list:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


HOSTILE = ["a/b", "x/../../../y", "../../escape", "..", ".", "a$b", "/etc/passwd"]


def test_hostile_collection_names_stay_inside_the_dump_as_escaped_files(monkeypatch, tmp_path):
    serve(monkeypatch, {"gstudio-mongodb": {name: LiveCollection(3) for name in HOSTILE}})
    staging = tmp_path / "staging"
    result = clix_mongodump.run(params(staging / "db"), check_mode=False)
    stems = sorted(escape_collection_name(n) for n in HOSTILE)
    files = sorted("gstudio-mongodb/" + s + ext for s in stems for ext in (".bson", ".metadata.json"))
    assert tree(tmp_path) == ["staging", "staging/db", "staging/db/gstudio-mongodb", *("staging/db/" + f for f in files)]
    assert sorted(result["files"]) == files
    for c in result["collections"]:
        meta = json.loads((staging / "db" / "gstudio-mongodb" / (c["file"] + ".metadata.json")).read_text())
        assert meta["collectionName"] == c["collection"] and c["documents"] == 3


@pytest.mark.parametrize("name", ["../x", "a.b", "ctl\x01"])
def test_a_database_named_against_the_rules_stops_the_dump_before_anything_is_written(monkeypatch, tmp_path, name):
    serve(monkeypatch, {"gstudio-mongodb": {"Nodes": LiveCollection(3)}, name: {"Nodes": LiveCollection(3)}})
    for check_mode in (True, False):
        with pytest.raises(DumpError, match="break MongoDB's naming rules") as refused:
            clix_mongodump.run(params(tmp_path / "staging" / "db"), check_mode=check_mode)
        assert json.dumps(name) in str(refused.value) and "exclude_databases" in str(refused.value)
    assert tree(tmp_path) == []


class SlowCollection(LiveCollection):
    """A server that stalls: each batch takes a while, the whole far longer than the limit."""

    def find_raw_batches(self, _filter: dict, batch_size: int):
        for batch in super().find_raw_batches(_filter, batch_size):
            time.sleep(0.05)
            yield batch


def test_a_dump_past_its_time_limit_stops_and_leaves_the_previous_dump(monkeypatch, tmp_path):
    serve(monkeypatch, {"gstudio-mongodb": {"Nodes": SlowCollection(200)}})
    dest = tmp_path / "staging" / "db"
    (dest / "gstudio-mongodb").mkdir(parents=True)
    (dest / "gstudio-mongodb" / "Nodes.bson").write_bytes(GOOD)
    before = tree(tmp_path)
    with pytest.raises(clix_mongodump.DumpTimeout):
        clix_mongodump.run(params(dest, timeout=0.5), check_mode=False)
    assert tree(tmp_path) == before and (dest / "gstudio-mongodb" / "Nodes.bson").read_bytes() == GOOD
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_dump_within_its_time_limit_is_swapped_in(monkeypatch, tmp_path):
    serve(monkeypatch, {"gstudio-mongodb": {"Nodes": LiveCollection(5)}})
    result = clix_mongodump.run(params(tmp_path / "db", timeout=600), check_mode=False)
    assert result["documents"] == 5 and (tmp_path / "db" / "gstudio-mongodb" / "Nodes.bson").exists()
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


# --- secrets

@pytest.mark.parametrize(("uri", "secrets"), [
    ("mongodb://127.0.0.1:8017/?directConnection=true", []),
    ("mongodb://clix@127.0.0.1:8017/", []),
    ("mongodb://clix:s3cret@127.0.0.1:8017/", ["s3cret"]),
    ("mongodb://clix:p%40ss%2Fw@h1,h2/db?authSource=admin", ["p%40ss%2Fw", "p@ss/w"]),
    ("mongodb+srv://clix:a/b?c@d@cluster.example/", ["a/b?c@d"]),
])
def test_a_password_in_the_uri_is_found(uri, secrets):
    found = uri_secrets(uri)
    assert all(s in found for s in secrets) and bool(found) == bool(secrets)


def test_a_path_that_would_leave_the_dump_is_refused_even_if_escaping_failed(monkeypatch, tmp_path):
    """The proof that each path stays under the dump folder does not rely on the escaping alone."""
    serve(monkeypatch, {"gstudio-mongodb": {"Nodes": LiveCollection(1), "../../../escape": LiveCollection(1)}})
    monkeypatch.setattr(clix_mongodump, "escape_collection_name", lambda name: name)
    with pytest.raises(LayoutError):
        clix_mongodump.run(params(tmp_path / "staging" / "db"), check_mode=False)
    assert tree(tmp_path) == ["staging"]


def test_the_time_limit_waits_for_a_step_that_must_finish_whole():
    done = []
    with pytest.raises(clix_mongodump.DumpTimeout), clix_mongodump.time_limit(0.05):
        with clix_mongodump.alarm_held():
            time.sleep(0.3)  # the limit passes in here
            done.append("folder made and remembered")
        done.append("never reached")
    assert done == ["folder made and remembered"]
