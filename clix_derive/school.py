"""One school's records, loaded the way the derived-data rules need them.

Memory stays flat in the amount of activity: Benchmarks (the only collection that grows with
use) are spooled once into a temporary SQLite file and read back one user at a time; Nodes,
Counters, Buddies and the user attributes grow with users and content, not with visits, and are
kept in memory with only the fields the rules read.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from bson import ObjectId

from . import textsearch
from .source import AuthUser

NODE_FIELDS = ("_id", "_type", "name", "altnames", "member_of", "collection_set", "author_set", "created_by",
               "language", "object_cardinality", "agency_type")
# An activity page embeds a qbank assessment as an iframe whose src names the offering
# (gStudio's gcourse.get_offered_id reads it the same way): the research dataset maps offerings to units.
EMBEDDED_OFFERING = re.compile(r"assessment_offered_id=assessment\.AssessmentOffered%3A([0-9a-fA-F]{24})%40")
# The AttributeTypes whose GAttribute triples the progress CSVs read.
ATTRIBUTES = ("first_name", "last_name", "enrollment_code", "educationallevel", "total_assessment_items")


def ts_text(when: dt.datetime) -> str:
    """Times are spooled as 'YYYY-MM-DD HH:MM:SS.ffffff' text, which sorts like the times."""
    return when.isoformat(sep=" ", timespec="microseconds")


def ts_parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# activity_timestamp.py: a visit is an activity-player page; its end is the next page of the
# same session that matches this "out" pattern (which the next visit also matches).
VISIT_RE = re.compile(r"/course/activity_player", re.I)
OUT_RE = re.compile(r"/course|my-desk|explore|tools/tool-page|course/content", re.I)
# single_school_get_MIT_activity_data.py runs MongoDB $text searches instead (textsearch.py).
MIT_VISIT_TERMS = textsearch.query_terms("activity_player")
MIT_OUT_TERMS = textsearch.query_terms("course my-desk explore tool-page content")


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
        self.embedded_offerings: dict[str, ObjectId] = {}  # offering (hex) -> the first page embedding it
        for doc in source.documents("Nodes"):
            slim = {k: doc[k] for k in NODE_FIELDS if k in doc}
            if "_id" in slim and slim["_id"] not in self.nodes:
                self.nodes[slim["_id"]] = slim
                self.node_order.append(slim["_id"])
                content = doc.get("content")
                if isinstance(content, str) and "assessment_offered_id=" in content:
                    for offered in EMBEDDED_OFFERING.findall(content):
                        self.embedded_offerings.setdefault(offered.lower(), slim["_id"])
        self.counters = list(source.documents("Counters"))
        self.buddies = [{k: b[k] for k in ("loggedin_userid", "session_key", "starts_at", "ends_at") if k in b}
                        | {"buddy_in_out": b.get("buddy_in_out") or {}}
                        for b in source.documents("Buddies")]
        self._buddy_by_session: dict[tuple, dict] = {}
        self._buddies_by_user: dict[int, list[dict]] = {}
        for b in self.buddies:
            self._buddy_by_session.setdefault((b.get("loggedin_userid"), b.get("session_key")), b)
            self._buddies_by_user.setdefault(b.get("loggedin_userid"), []).append(b)
        self.authors = list(self.of_type("Author"))
        self.author_position = {str(a["_id"]): i for i, a in enumerate(self.authors)}
        self.authors_by_user_id: dict[int, list[dict]] = {}
        for author in self.authors:
            self.authors_by_user_id.setdefault(author.get("created_by"), []).append(author)
        self.attribute_types: dict[str, list[ObjectId]] = {}
        for at in self.of_type("AttributeType"):
            if at.get("name") in ATTRIBUTES:
                self.attribute_types.setdefault(at["name"], []).append(at["_id"])
        wanted = {i for ids in self.attribute_types.values() for i in ids}
        # GAttribute triples of those types, in natural order, with only the fields the rules read.
        self.attributes: list[dict] = [
            {k: t[k] for k in ("subject", "attribute_type", "status", "object_value") if k in t}
            for t in source.documents("Triples")
            if t.get("_type") == "GAttribute" and t.get("attribute_type") in wanted]
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

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one School per run; URLs repeat a lot
    def player_nodes(self, url: str) -> tuple[dict | None, dict | None, dict | None]:
        """Unit, lesson and activity of an activity-player URL of 7 parts."""
        parts = url.split("/")
        return self.group_by_id_or_name(parts[1]), self.node(parts[4]), self.node(parts[5])

    def group_by_id_or_name(self, ref: str) -> dict | None:
        """``get_group_name_id``: a unit is named in URLs by its ObjectId or by its name."""
        node = self.node(ref)
        if node is not None:
            return node
        return next((g for g in self.of_type("Group") if g.get("name") == ref), None)

    def nodes_in(self, ids: list) -> list[dict]:
        """``Nodes.find({'_id': {'$in': ids}})``: answered from the ``_id`` index, so in ascending
        ObjectId order (not storage order), duplicates and ids without a node dropped."""
        found = {n["_id"]: n for n in (self.node(i) for i in ids) if n is not None}
        return [found[i] for i in sorted(found)]

    # -- Buddies -----------------------------------------------------------------------------
    def buddy_doc(self, user_id: int, session_key: str) -> dict | None:
        """``Buddy.query_buddy_obj``: the first Buddy record of that user and session."""
        return self._buddy_by_session.get((user_id, session_key))

    def buddies_of(self, user_id: int) -> list[dict]:
        return self._buddies_by_user.get(user_id, [])

    def buddy_authors(self, buddy: dict) -> list[dict]:
        """The Authors named in a Buddy record, looked up with ``$in``: Author storage order."""
        found = sorted({self.author_position[k] for k in buddy["buddy_in_out"] if k in self.author_position})
        return [self.authors[i] for i in found]

    # -- Benchmarks --------------------------------------------------------------------------
    def _spool_benchmarks(self, docs: Iterator[dict]) -> int:
        db = self.spool
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("CREATE TABLE b (seq INTEGER PRIMARY KEY, user TEXT, session TEXT, ts TEXT, url TEXT,"
                   " name TEXT, locale TEXT, visit INT, out INT, mvisit INT, mout INT, nosession INT)")

        def rows() -> Iterator[tuple]:
            for seq, d in enumerate(docs):
                url, when = d.get("calling_url"), d.get("last_update")
                # A Benchmark without a URL string or a datetime matches none of the queries.
                if not isinstance(url, str) or not isinstance(when, dt.datetime):
                    continue
                visit, out = bool(VISIT_RE.search(url)), bool(OUT_RE.search(url))
                mvisit, mout = textsearch.matches(url, MIT_VISIT_TERMS), textsearch.matches(url, MIT_OUT_TERMS)
                if visit or out or mvisit or mout:
                    yield (seq, d.get("user"), d.get("session_key"), ts_text(when), url,
                           d.get("name"), d.get("locale"), visit, out, mvisit, mout, "session_key" not in d)

        with db:
            db.executemany("INSERT INTO b VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows())
            count = db.execute("SELECT count(*) FROM b").fetchone()[0]
            db.execute("CREATE INDEX b_user ON b (user, session, ts, seq)")
        return count

    def user_benchmarks(self, username: str) -> list[Bench]:
        """The user's spooled Benchmarks, by session, then time, then natural order."""
        cur = self.spool.execute("SELECT seq, session, ts, url, name, locale, visit, out, mvisit, mout FROM b"
                                 " WHERE user = ? ORDER BY session, ts, seq", (username,))
        return [Bench(r[0], r[1], ts_parse(r[2]), r[3], r[4], r[5], *map(bool, r[6:]))
                for r in cur]

    def mit_visits(self, username: str) -> list[tuple[Bench, bool]]:
        """``find({$text: 'activity_player', user}).sort('last_update', -1)``, each with whether it
        lacks ``session_key``; ties in natural order (MongoDB's in-memory sort promises none)."""
        cur = self.spool.execute("SELECT seq, session, ts, url, name, locale, visit, out, mvisit, mout, nosession"
                                 " FROM b WHERE user = ? AND mvisit ORDER BY ts DESC, seq", (username,))
        return [(Bench(r[0], r[1], ts_parse(r[2]), r[3], r[4], r[5], *map(bool, r[6:10])), bool(r[10])) for r in cur]

    def mit_out_sessions(self, username: str) -> tuple[set, bool]:
        """Sessions of the user's Benchmarks matching the "out" ``$text`` search, and whether one
        of those Benchmarks lacks ``session_key``."""
        rows = self.spool.execute("SELECT DISTINCT session, nosession FROM b WHERE user = ? AND mout", (username,))
        sessions, missing = set(), False
        for session, nosession in rows:
            missing = missing or bool(nosession)
            if not nosession:
                sessions.add(session)
        return sessions, missing
