"""Pure parts of the MongoDB dump module."""

from __future__ import annotations

import bson
from clix_mongodump import count_bson_documents


def test_count_bson_documents_in_a_raw_batch():
    batch = b"".join(bson.encode({"i": i, "pad": "x" * i}) for i in range(7))
    assert count_bson_documents(batch) == 7
    assert count_bson_documents(b"") == 0
