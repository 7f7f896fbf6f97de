"""Writing the dataset: each table's history as one Parquet file per partition, the same tables inside
``clix.duckdb`` with the views over them, the codebook, and the state that makes re-runs incremental.

    <dataset>/<table>_history/year=<YYYY>/state=<state>/data.parquet   one row per record and collection
    <dataset>/build_status/data.parquet   what the last run did with each collection (and what it left out)
    <dataset>/clix.duckdb                 the same tables, the views and conventions: it reads no other file
    <dataset>/CODEBOOK.md                 every table, view and column, generated from tables.py and views.py
    <dataset>/.state.json                 each collection's fingerprint when its rows were written

A collection is read again when its fingerprint (its MANIFEST.json, its recomputed progress files,
the dataset code's version) changed; then only the partitions (year and state) it belongs to are
rewritten, in the Parquet files and in clix.duckdb. Every collection's rows are kept (the history);
the views give each record's latest. A school that fails keeps the rows of its last good build and
is reported in ``build_status`` (and by the exit status).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import duckdb
from ansible.module_utils import clix_layout
from ansible.module_utils.clix_files import atomic_output, atomic_path, remove_quietly

from clix_derive.source import SourceError, open_collected

from . import __version__, views
from .codebook import codebook
from .extract import Rows, SchoolReader, read_manifest
from .tables import BUILD_STATUS, TABLES, Table

DATABASE = "clix.duckdb"
STATE = ".state.json"
PARTITION_FILE = "data.parquet"
MEMORY_LIMIT = "256MB"
ROW_GROUP = 100_000
ANALYSES = os.path.join(os.path.dirname(__file__), "analyses")
RESTRICTED_ANALYSES = ("mit_activity_data.sql",)  # they name users


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

    @property
    def partition(self) -> tuple[str, str]:
        return self.year, self.state


def collections(root: str) -> list[Collection]:
    """Every collected school folder of the archive, by year (earlier collections first)."""
    found = [Collection(path, p["year"], p["state"], p["folder"], p["school_code"], p["server_id"])
             for path, p in clix_layout.school_roots(root)]
    return sorted(found, key=lambda c: (c.year, c.state, c.folder))


def left_out(root: str, found: list[Collection]) -> list[dict]:
    """build_status rows of what the dataset does not read, and why."""
    rows = []
    for path, p in clix_layout.school_roots(root, kinds=(clix_layout.QUARANTINE,)):
        rows.append({"school": p["folder"], "collection": os.path.relpath(path, root), "status": "left out",
                     "reason": "quarantined: the server said it was another school; the operator decides where it "
                               "belongs (move it into <YYYY>/<state>/ once resolved)"})
    for c in found:
        history = os.path.join(c.path, clix_layout.HISTORY)
        if os.path.isdir(history) and not os.path.islink(history):
            for stamp in sorted(os.listdir(history)):
                files = sum(len(f) for _, _, f in os.walk(os.path.join(history, stamp)))
                rows.append({"school": c.folder, "collection": f"{c.name}/{clix_layout.HISTORY}/{stamp}",
                             "status": "left out",
                             "reason": f"{files} older versions of files that a merge replaced with newer ones; "
                                       "the dataset reads the current files only"})
    return rows


def fingerprint(root: str, c: Collection) -> str:
    h = hashlib.sha256(f"clix-dataset {__version__}\n".encode())
    try:
        with open_collected(os.path.join(c.path, clix_layout.MANIFEST)) as f:
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


def partition_path(out: str, table: str, year: str, state: str) -> str:
    return os.path.join(out, table, f"year={year}", f"state={state}", PARTITION_FILE)


def sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(workdir: str, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(database)
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.execute(f"SET temp_directory = {sql_str(workdir)}")
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = true")
    return con


def casts(table: Table, columns: Iterable | None = None) -> str:
    return ", ".join(f"CAST({c.name} AS {c.type}) AS {c.name}" for c in (columns or table.stored))


def write_parquet(con: duckdb.DuckDBPyConnection, query: str, target: str) -> None:
    """The query's rows into target, atomically (clix_files.atomic_path)."""
    os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
    with atomic_path(target) as tmp:
        con.execute(f"COPY ({query}) TO {sql_str(tmp)} (FORMAT parquet, COMPRESSION zstd, "
                    f"ROW_GROUP_SIZE {ROW_GROUP})")


def extract(root: str, c: Collection, workdir: str) -> dict[str, str | None]:
    """One collection read into a JSON-lines spool per table (None: no rows), for compact()."""
    manifest = read_manifest(c.path)
    collected_at = manifest[2].isoformat() if manifest[2] else None
    rows = Rows(workdir, {"server_id": c.server_id, "school_code": c.school_code}, c.name, collected_at)
    try:
        SchoolReader(root, c.path, {"year": c.year, "state": c.state, "folder": c.folder,
                                    "school_code": c.school_code, "server_id": c.server_id},
                     rows, workdir, manifest).read()
    finally:
        rows.close()
    return {table.name: rows.path(table.name) for table in TABLES}


def spooled(table: Table, spools: list[str]) -> str:
    """The rows of JSON-lines spools, typed as the table's columns."""
    types = ", ".join(f"{sql_str(c.name)}: {sql_str(c.type)}" for c in table.stored)
    files = ", ".join(sql_str(s) for s in spools)
    return (f"SELECT {casts(table)} FROM read_json([{files}], format = 'newline_delimited', "
            f"columns = {{{types}}})")


def compact(con: duckdb.DuckDBPyConnection, table: Table, target: str, drop: set[str], add: list[str]) -> None:
    """Rewrite one partition file: its rows less those of the collections in drop, with the spooled
    rows in add (extract). No rows left: no file."""
    parts = []
    if os.path.exists(target):
        keep = f" WHERE collection NOT IN ({', '.join(sql_str(d) for d in sorted(drop))})" if drop else ""
        parts.append(f"SELECT {casts(table)} FROM read_parquet({sql_str(target)}, hive_partitioning = false){keep}")
    if add:
        parts.append(spooled(table, add))
    if not parts:
        return
    query = " UNION ALL ".join(parts)
    # A spool holds at least one row: only a partition that loses rows and gains none may end empty.
    if not add and con.execute(f"SELECT count(*) FROM ({query})").fetchone()[0] == 0:
        if os.path.exists(target):
            os.unlink(target)
            _remove_empty_parents(target, levels=2)
        return
    write_parquet(con, query, target)


def _remove_empty_parents(path: str, levels: int) -> None:
    folder = os.path.dirname(path)
    for _ in range(levels):
        try:
            os.rmdir(folder)
        except OSError:
            return
        folder = os.path.dirname(folder)


def load_state(out: str) -> dict:
    try:
        with open(os.path.join(out, STATE), encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict) or state.get("version") != __version__:
        return {}
    return state


def write_text(path: str, text: str) -> None:
    """path holding text, written only when it differs (a re-run with nothing to do writes nothing)."""
    data = text.encode("utf-8")
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                return
    except OSError:
        pass
    with atomic_output(path) as f:
        f.write(data)


def table_folders(out: str) -> list[str]:
    """Folders of out that hold partitions (``year=...``): every table folder of any version."""
    found = []
    for entry in os.scandir(out):
        if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
            try:
                if any(e.name.startswith("year=") for e in os.scandir(entry.path)):
                    found.append(entry.path)
            except OSError:
                continue
    return found


def create_tables(con: duckdb.DuckDBPyConnection, tables: Iterable[Table], columns=None) -> None:
    for table in tables:
        cols = ", ".join(f"{c.name} {c.type}" for c in (columns(table) if columns else table.columns))
        con.execute(f"CREATE TABLE {table.history} ({cols})")


def update_database(out: str, workdir: str, tables: Iterable[Table], partitions: set[tuple[str, str]],
                    fresh: bool, status_rows: list[dict], columns=None, info: dict | None = None) -> None:
    """clix.duckdb brought up to date beside the old one (a copy, then only the partitions that
    changed replaced) and swapped in: a reader of the old file is never disturbed."""
    target = os.path.join(out, DATABASE)
    tables = list(tables)
    with atomic_path(target) as tmp:
        if not fresh and os.path.exists(target):
            shutil.copyfile(target, tmp)
        con = connect(workdir, tmp)
        try:
            if fresh or not os.path.exists(target):
                create_tables(con, tables, columns)
            for table in tables:
                for year, state in sorted(partitions):
                    con.execute(f"DELETE FROM {table.history} WHERE year = ? AND state = ?", [int(year), state])
                    path = partition_path(out, table.history, year, state)
                    if os.path.exists(path):
                        con.execute(f"INSERT INTO {table.history} BY NAME SELECT {int(year)} AS year, "
                                    f"{sql_str(state)} AS state, * FROM read_parquet({sql_str(path)}, hive_partitioning = false)")
            write_status(con, status_rows)
            con.execute("CREATE OR REPLACE TABLE dataset_info (name VARCHAR, value VARCHAR)")
            con.executemany("INSERT INTO dataset_info VALUES (?, ?)", sorted((info or {}).items()))
            for stmt in views.views_sql({t.name for t in tables}, columns):
                con.execute(stmt)
            con.execute("CHECKPOINT")
        finally:
            con.close()
            remove_quietly(f"{tmp}.wal")


def write_status(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    cols = ", ".join(f"{c.name} {c.type}" for c in BUILD_STATUS.columns)
    con.execute(f"CREATE OR REPLACE TABLE {BUILD_STATUS.name} ({cols})")
    if rows:
        con.executemany(f"INSERT INTO {BUILD_STATUS.name} VALUES ({', '.join('?' for _ in BUILD_STATUS.columns)})",
                        [[r.get(c.name) for c in BUILD_STATUS.columns] for r in rows])


def analyses(release: bool = False) -> dict[str, str]:
    """The research team's analyses as SQL files, by name (those that name users: restricted only)."""
    found = {}
    for name in sorted(os.listdir(ANALYSES)):
        if name.endswith(".sql") and not (release and name in RESTRICTED_ANALYSES):
            with open(os.path.join(ANALYSES, name), encoding="utf-8") as f:
                found[name] = f.read()
    return found


def write_analyses(out: str, release: bool = False) -> None:
    folder = os.path.join(out, "analyses")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    wanted = analyses(release)
    for name in os.listdir(folder):
        if name.endswith(".sql") and name not in wanted:
            os.unlink(os.path.join(folder, name))
    for name, text in wanted.items():
        write_text(os.path.join(folder, name), text)


def row_counts(database: str) -> dict[str, int]:
    con = duckdb.connect(database, read_only=True)
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
    out = os.path.abspath(out or clix_layout.dataset_dir(root))
    os.makedirs(out, mode=0o700, exist_ok=True)
    state = load_state(out)
    fresh = not state
    if fresh:  # another version's files (or none): start again
        for folder in table_folders(out):
            shutil.rmtree(folder)
        remove_quietly(os.path.join(out, DATABASE))
    known: dict[str, dict] = dict(state.get("collections") or {})
    names = {c.name for c in found}
    removed = sorted(set(known) - names)
    for gone in removed:
        log(f"{gone}: no longer in the archive, its rows removed")
    workdir = tempfile.mkdtemp(prefix=".work-", dir=out)
    status: dict[str, dict] = {}
    staged: dict[Collection, dict[str, str | None]] = {}
    failed = []
    try:
        for n, c in enumerate(found, 1):
            print_name = f"[{n}/{len(found)}] {c.name}"
            fp = fingerprint(root, c)
            before = known.get(c.name)
            if before and before.get("fingerprint") == fp:
                status[c.name] = {"school": c.folder, "collection": c.name, "fingerprint": fp,
                                  "built_at": before.get("built_at"), "status": "built", "reason": None}
                log(f"{print_name}: unchanged")
                continue
            started = time.monotonic()
            folder = os.path.join(workdir, f"c{n}")
            os.mkdir(folder)
            try:
                staged[c] = extract(root, c, folder)
            except Exception as exc:  # one broken school never stops the others
                failed.append({"collection": c.name, "error": str(exc)})
                status[c.name] = {"school": c.folder, "collection": c.name, "fingerprint": fp,
                                  "built_at": (before or {}).get("built_at"), "status": "failed",
                                  "reason": f"{type(exc).__name__}: {exc}"}
                log(f"{print_name}: FAILED: {exc}")
                continue
            status[c.name] = {"school": c.folder, "collection": c.name, "fingerprint": fp,
                              "built_at": dt.datetime.now(dt.timezone.utc).isoformat(), "status": "built",
                              "reason": None}
            log(f"{print_name}: read in {time.monotonic() - started:.1f} s")
        partitions = {c.partition for c in staged} | {tuple(g.split("/")[:2]) for g in removed}
        drop_by_partition: dict[tuple[str, str], set[str]] = {}
        for c in staged:
            drop_by_partition.setdefault(c.partition, set()).add(c.name)
        for gone in removed:
            drop_by_partition.setdefault(tuple(gone.split("/")[:2]), set()).add(gone)
        con = connect(workdir)
        try:
            for table in TABLES:
                for year, st in sorted(partitions):
                    add = [f for c, files in staged.items() if c.partition == (year, st)
                           and (f := files.get(table.name)) is not None]
                    compact(con, table, partition_path(out, table.history, year, st),
                            drop_by_partition.get((year, st), set()), add)
        finally:
            con.close()
        status_rows = [status[c.name] for c in found] + left_out(root, found)
        if partitions or fresh or not os.path.exists(os.path.join(out, DATABASE)) or failed or removed or \
                _status_changed(state, status_rows):
            update_database(out, workdir, TABLES, partitions, fresh, status_rows,
                            info={"tier": "restricted", "version": __version__})
            write_status_parquet(out, workdir, status_rows)
        new_known = {name: {"fingerprint": s["fingerprint"], "built_at": s["built_at"]}
                     for name, s in status.items() if s["status"] != "failed"}
        for f in failed:  # a failed collection keeps its last good rows, and is read again next time
            if f["collection"] in known:
                new_known[f["collection"]] = {"fingerprint": "failed", "built_at": known[f["collection"]]["built_at"]}
        write_text(os.path.join(out, STATE), json.dumps({"version": __version__, "collections": new_known,
                                                         "status": status_rows}, indent=1, sort_keys=True))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    write_text(os.path.join(out, "CODEBOOK.md"), codebook())
    write_analyses(out)
    counts = row_counts(os.path.join(out, DATABASE))
    return {"dataset": out, "collections": len(found),
            "rebuilt": [c.name for c in found if c in staged],
            "failed": failed, "counts": counts, "built_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def _status_changed(state: dict, rows: list[dict]) -> bool:
    def strip(rs: list[dict]) -> list:
        return [(r.get("collection"), r.get("status"), r.get("reason")) for r in rs]
    return strip(state.get("status") or []) != strip(rows)


def write_status_parquet(out: str, workdir: str, rows: list[dict]) -> None:
    """build_status for readers without DuckDB (its table in clix.duckdb is the same)."""
    con = connect(workdir)
    try:
        write_status(con, rows)
        write_parquet(con, f"SELECT * FROM {BUILD_STATUS.name}", os.path.join(out, BUILD_STATUS.name, PARTITION_FILE))
    finally:
        con.close()
