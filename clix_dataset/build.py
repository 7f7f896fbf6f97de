"""Writing the dataset: one Parquet file per school and table inside hive partitions, views in
``clix.duckdb``, the codebook, and the state that makes re-runs incremental.

    <archive>/dataset/<table>/year=<YYYY>/state=<state>/<school folder>.parquet
    <archive>/dataset/clix.duckdb       views over the Parquet files (and derived views)
    <archive>/dataset/CODEBOOK.md       every column, generated from tables.py
    <archive>/dataset/.state.json       each collection's fingerprint when its files were written

A collection is rebuilt when its fingerprint (its MANIFEST.json, its recomputed progress files,
the dataset code's version) changed, or when an earlier collection of the same school (same
folder, an earlier year) was: a record already held by an earlier collection is left out of the
later one's files, so every Parquet file is deduplicated on its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from clix_derive.source import SourceError, open_regular
from module_utils import clix_layout

from . import __version__
from .codebook import codebook
from .extract import Rows, SchoolReader
from .tables import TABLES, Table

DATASET = "dataset"
DATABASE = "clix.duckdb"
STATE = ".state.json"
MEMORY_LIMIT = "128MB"


class DatasetError(Exception):
    """The dataset cannot be built; the message says what to do."""


@dataclass(frozen=True)
class Collection:
    path: str
    year: str
    state: str
    folder: str
    school_code: str
    server_id: str

    @property
    def name(self) -> str:
        return f"{self.year}/{self.state}/{self.folder}"


def collections(root: str) -> list[Collection]:
    """Every collected school folder of the archive, by year (earlier collections first)."""
    found = [Collection(path, p["year"], p["state"], p["folder"], p["school_code"], p["server_id"])
             for path, p in clix_layout.school_roots(root)]
    return sorted(found, key=lambda c: (c.year, c.state, c.folder))


def fingerprint(root: str, c: Collection) -> str:
    h = hashlib.sha256(f"clix-dataset {__version__}\n".encode())
    try:
        with open_regular(os.path.join(c.path, clix_layout.MANIFEST)) as f:
            h.update(f.read())
    except (OSError, SourceError):
        h.update(b"no manifest\n")
        h.update(str(time.time_ns()).encode())  # never trusted: rebuilt every run
    derived = os.path.join(clix_layout.derived_root(root, c.year, c.state, c.folder),
                           "gstudio-exported-users-analytics-csvs")
    try:
        entries = sorted(os.scandir(derived), key=lambda e: e.name)
    except OSError:
        entries = []
    for e in entries:
        st = e.stat(follow_symlinks=False)
        h.update(f"{e.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def parquet_path(out: str, table: str, c: Collection) -> str:
    return os.path.join(out, table, f"year={c.year}", f"state={c.state}", f"{c.folder}.parquet")


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _connect(workdir: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.execute(f"SET temp_directory = {_sql_str(workdir)}")
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = true")
    return con


def write_table(con: duckdb.DuckDBPyConnection, table: Table, spool: str | None, target: str,
                earlier: list[str]) -> None:
    """The school's rows of one table into ``target`` (temporary name, fsync, rename): each record
    once, and none that an earlier collection of the school already holds."""
    casts = ", ".join(f"CAST({c.name} AS {c.type}) AS {c.name}" for c in table.stored)
    if spool is None:
        query = f"SELECT {casts} FROM (SELECT {', '.join(f'NULL AS {c.name}' for c in table.stored)}) WHERE false"
    else:
        types = ", ".join(f"{_sql_str(c.name)}: {_sql_str(c.type)}" for c in table.stored)
        source = f"read_json({_sql_str(spool)}, format = 'newline_delimited', columns = {{{types}}})"
        seen = ""
        if earlier:
            files = ", ".join(_sql_str(f) for f in earlier)
            seen = f" WHERE record_key NOT IN (SELECT record_key FROM read_parquet([{files}]))"
        query = f"SELECT {casts} FROM {source}{seen}"  # the spool holds each record once, in order
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.tmp")
    try:
        con.execute(f"COPY ({query}) TO {_sql_str(tmp)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 30000)")
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def build_collection(root: str, out: str, c: Collection, earlier: list[Collection], workdir: str) -> dict:
    started = time.monotonic()
    keys = {"server_id": c.server_id, "school_code": c.school_code}
    with tempfile.TemporaryDirectory(prefix=".clix-dataset-", dir=workdir) as tmp:
        rows = Rows(tmp, keys, c.name)
        try:
            SchoolReader(root, c.path, {"year": c.year, "state": c.state, "folder": c.folder,
                                        "school_code": c.school_code, "server_id": c.server_id},
                         rows, tmp).read()
        finally:
            rows.close()
        con = _connect(tmp)
        try:
            for table in TABLES:
                before = [parquet_path(out, table.name, e) for e in earlier
                          if os.path.exists(parquet_path(out, table.name, e))]
                write_table(con, table, rows.path(table.name), parquet_path(out, table.name, c), before)
        finally:
            con.close()
    return {"collection": c.name, "rows": sum(rows.counts.values()), "seconds": round(time.monotonic() - started, 3)}


def remove_collection(out: str, c_name: str) -> None:
    year, state, folder = c_name.split("/")
    for table in TABLES:
        path = os.path.join(out, table.name, f"year={year}", f"state={state}", f"{folder}.parquet")
        if os.path.exists(path):
            os.unlink(path)


def load_state(out: str) -> dict:
    try:
        with open(os.path.join(out, STATE), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def save_state(out: str, state: dict) -> None:
    _atomic_text(os.path.join(out, STATE), json.dumps(state, indent=1, sort_keys=True))


def _atomic_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def views_sql(out: str) -> list[str]:
    stmts = []
    for table in TABLES:
        glob = os.path.join(os.path.abspath(out), table.name, "*", "*", "*.parquet")
        stmts.append(f"CREATE OR REPLACE VIEW {table.name} AS SELECT year, state, * EXCLUDE (year, state) "
                     f"FROM read_parquet({_sql_str(glob)}, "
                     "hive_partitioning = true, hive_types = {'year': INTEGER, 'state': VARCHAR}, "
                     "union_by_name = true)")
    # Opt-in filters are columns: the research team's exclusions are a WHERE away, never a deletion.
    stmts.append("CREATE OR REPLACE VIEW student_visits AS SELECT v.*, u.shared_account, u.never_logged_in, "
                 "u.username_matches_server FROM activity_visits v LEFT JOIN users u "
                 "ON u.server_id = v.server_id AND u.user_id = v.user_id")
    return stmts


def write_database(out: str) -> None:
    """clix.duckdb, rebuilt whole beside the old one and swapped in."""
    tmp = os.path.join(out, f".{DATABASE}.tmp")
    for leftover in (tmp, f"{tmp}.wal"):
        if os.path.exists(leftover):
            os.unlink(leftover)
    con = duckdb.connect(tmp)
    try:
        for stmt in views_sql(out):
            con.execute(stmt)
    finally:
        con.close()
    os.chmod(tmp, 0o600)
    os.replace(tmp, os.path.join(out, DATABASE))


def row_counts(out: str) -> dict[str, int]:
    con = duckdb.connect(os.path.join(out, DATABASE), read_only=True)
    try:
        return {t.name: con.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0] for t in TABLES}
    finally:
        con.close()


def build(root: str, out: str | None = None, log: Callable[[str], None] = print) -> dict:
    """Build or bring up to date ``<root>/dataset``; returns counts and what was rebuilt."""
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise DatasetError(f"{root} is not a folder: give the archive root (the folder holding <YYYY>/<state>/)")
    found = collections(root)
    if not found:
        raise DatasetError(f"no collected school under {root} (folders <YYYY>/<state>/<code>-<server id>/): "
                           "collect first (ansible-playbook collect.yml)")
    out = os.path.abspath(out or clix_layout.under(root, DATASET))
    os.makedirs(out, mode=0o700, exist_ok=True)
    state = load_state(out)
    new_state: dict[str, str] = {}
    for gone in sorted(set(state) - {c.name for c in found}):
        remove_collection(out, gone)
        log(f"{gone}: no longer in the archive, its files removed")
    dirty_lineages: set[str] = set()
    rebuilt, failed = [], []
    for n, c in enumerate(found, 1):
        print_name = f"[{n}/{len(found)}] {c.name}"
        fp = fingerprint(root, c)
        lineage = c.folder
        if state.get(c.name) == fp and lineage not in dirty_lineages:
            new_state[c.name] = fp
            log(f"{print_name}: unchanged")
            continue
        dirty_lineages.add(lineage)
        earlier = [e for e in found if e.folder == lineage and e.year < c.year]
        try:
            result = build_collection(root, out, c, earlier, out)
        except Exception as exc:  # one broken school never stops the others
            failed.append({"collection": c.name, "error": str(exc)})
            log(f"{print_name}: FAILED: {exc}")
            continue
        new_state[c.name] = fp
        rebuilt.append(result)
        log(f"{print_name}: {result['rows']} rows in {result['seconds']} s")
        save_state(out, {**state, **new_state})
    save_state(out, new_state | {f["collection"]: state[f["collection"]] for f in failed
                                 if f["collection"] in state})
    write_database(out)
    _atomic_text(os.path.join(out, "CODEBOOK.md"), codebook())
    counts = row_counts(out)
    return {"dataset": out, "collections": len(found), "rebuilt": [r["collection"] for r in rebuilt],
            "failed": failed, "counts": counts, "built_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
