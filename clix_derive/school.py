"""One school's records, loaded the way the derived-data rules need them.

Memory stays flat in the amount of activity: Benchmarks (the only collection that grows with
use) are spooled once into a temporary SQLite file and read back one user at a time; Nodes,
Counters, Buddies and the user attributes grow with users and content, not with visits, and are
kept in memory with only the fields the rules read.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from bson import ObjectId

from .source import AuthUser

NODE_FIELDS = ("_id", "_type", "name", "altnames", "member_of", "collection_set", "author_set", "created_by")
USER_ATTRIBUTES = ("first_name", "last_name", "enrollment_code", "educationallevel")
TS_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

# activity_timestamp.py: a visit is an activity-player page; its end is the next page of the
# same session that matches this "out" pattern (which the next visit also matches).
VISIT_RE = re.compile(r"/course/activity_player", re.I)
OUT_RE = re.compile(r"/course|my-desk|explore|tools/tool-page|course/content", re.I)
# single_school_get_MIT_activity_data.py uses MongoDB $text search instead of regexes: words
# split at punctuation ('_' is part of a word), English stop words ('my') dropped, stems
# compared. Approximation (uncertain): a word matches a term or the term plus 's'.
_WORD = re.compile(r"[0-9A-Za-z_]+")
MIT_VISIT_TERMS = frozenset({"activity_player", "activity_players"})
MIT_OUT_TERMS = frozenset(w + s for w in ("course", "desk", "explore", "tool", "page", "content") for s in ("", "s"))


@dataclass(frozen=True)
class Bench:
    seq: int
    session: str
    ts: dt.datetime
    url: str
    name: str
    locale: str | None
    visit: bool
    out: bool
    mit_visit: bool
    mit_out: bool


class School:
    def __init__(self, source, workdir: str | None = None) -> None:
        self.identity: dict[str, str] = source.identity
        self.tools_dir: str = source.tools_dir
        self.nodes: dict[ObjectId, dict] = {}
        self.node_order: list[ObjectId] = []
        for doc in source.documents("Nodes"):
            slim = {k: doc[k] for k in NODE_FIELDS if k in doc}
            if "_id" in slim and slim["_id"] not in self.nodes:
                self.nodes[slim["_id"]] = slim
                self.node_order.append(slim["_id"])
        self.counters = list(source.documents("Counters"))
        self.buddies = [{k: b.get(k) for k in ("loggedin_userid", "session_key", "buddy_in_out", "starts_at", "ends_at")}
                        for b in source.documents("Buddies")]
        self.attributes = self._user_attributes(source.documents("Triples"))
        self.auth_users: list[AuthUser] = source.auth_users()
        self._tmp = tempfile.TemporaryDirectory(prefix="clix-derive-", dir=workdir)
        self.spool = sqlite3.connect(os.path.join(self._tmp.name, "benchmarks.sqlite"))
        self.benchmark_count = self._spool_benchmarks(source.documents("Benchmarks"))

    def close(self) -> None:
        self.spool.close()
        self._tmp.cleanup()

    # -- Nodes -------------------------------------------------------------------------------
    def of_type(self, _type: str) -> Iterator[dict]:
        return (self.nodes[i] for i in self.node_order if self.nodes[i].get("_type") == _type)

    def gst_id(self, name: str) -> ObjectId | None:
        return next((n["_id"] for n in self.of_type("GSystemType") if n.get("name") == name), None)

    def node(self, ref: str | ObjectId) -> dict | None:
        try:
            return self.nodes.get(ObjectId(ref))
        except Exception:
            return None

    def group_by_id_or_name(self, ref: str) -> dict | None:
        """``get_group_name_id``: a unit is named in URLs by its ObjectId or by its name."""
        node = self.node(ref)
        if node is not None:
            return node
        return next((g for g in self.of_type("Group") if g.get("name") == ref), None)

    def authors_by_user_id(self) -> dict[int, list[dict]]:
        out: dict[int, list[dict]] = {}
        for author in self.of_type("Author"):
            out.setdefault(author.get("created_by"), []).append(author)
        return out

    def tree_children(self, node: dict) -> list[dict]:
        """``Node.get_tree_nodes(level=1)``: a ``$in`` query, so storage order, duplicates dropped."""
        wanted = set(node.get("collection_set") or [])
        return [self.nodes[i] for i in self.node_order if i in wanted]

    def _user_attributes(self, triples: Iterator[dict]) -> dict[tuple[ObjectId, str], object]:
        values: dict[tuple[ObjectId, str], object] = {}
        for t in triples:
            if t.get("_type") == "GAttribute" and t.get("name") in USER_ATTRIBUTES:
                values.setdefault((t.get("subject"), t["name"]), t.get("object_value"))
        return values

    # -- Buddies -----------------------------------------------------------------------------
    def buddy_doc(self, user_id: int, session_key: str) -> dict | None:
        """``Buddy.query_buddy_obj``: the first Buddy record of that user and session."""
        return next((b for b in self.buddies
                     if b["loggedin_userid"] == user_id and b["session_key"] == session_key), None)

    # -- Benchmarks --------------------------------------------------------------------------
    def _spool_benchmarks(self, docs: Iterator[dict]) -> int:
        db = self.spool
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("CREATE TABLE b (seq INTEGER PRIMARY KEY, user TEXT, session TEXT, ts TEXT, url TEXT,"
                   " name TEXT, locale TEXT, visit INT, out INT, mvisit INT, mout INT)")

        def rows() -> Iterator[tuple]:
            for seq, d in enumerate(docs):
                url, when = d.get("calling_url"), d.get("last_update")
                # A Benchmark without a URL string or a datetime matches none of the queries.
                if not isinstance(url, str) or not isinstance(when, dt.datetime):
                    continue
                visit, out = bool(VISIT_RE.search(url)), bool(OUT_RE.search(url))
                words = {w.lower() for w in _WORD.findall(url)}
                mvisit, mout = bool(words & MIT_VISIT_TERMS), bool(words & MIT_OUT_TERMS)
                if visit or out or mvisit or mout:
                    yield (seq, d.get("user"), d.get("session_key"), when.strftime(TS_FORMAT), url,
                           d.get("name"), d.get("locale"), visit, out, mvisit, mout)

        with db:
            db.executemany("INSERT INTO b VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows())
            count = db.execute("SELECT count(*) FROM b").fetchone()[0]
            db.execute("CREATE INDEX b_user ON b (user, session, ts, seq)")
        return count

    def user_benchmarks(self, username: str) -> list[Bench]:
        """The user's spooled Benchmarks, by session, then time, then natural order."""
        cur = self.spool.execute("SELECT seq, session, ts, url, name, locale, visit, out, mvisit, mout FROM b"
                                 " WHERE user = ? ORDER BY session, ts, seq", (username,))
        return [Bench(r[0], r[1], dt.datetime.strptime(r[2], TS_FORMAT), r[3], r[4], r[5], *map(bool, r[6:]))
                for r in cur]
