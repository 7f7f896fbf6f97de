"""Pure parts of the MongoDB dump module."""

from __future__ import annotations

import bson
from clix_mongodump import count_bson_documents, dump_collection


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
    return dump_collection(db, {"name": "Nodes", "type": "collection"}, str(tmp_path), params)


def test_a_collection_written_to_during_the_dump_is_flagged(tmp_path):
    result = dump(tmp_path, LiveCollection(10))
    assert result["documents"] == 10 and result["count_changed"] is True
    assert count_bson_documents((tmp_path / "Nodes.bson").read_bytes()) == 10


def test_a_quiet_collection_is_not_flagged(tmp_path):
    quiet = LiveCollection(10)
    quiet.estimated_document_count = lambda: 10
    assert dump(tmp_path, quiet)["count_changed"] is False
