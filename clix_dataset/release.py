"""The release tier: a copy of the dataset a researcher may receive.

    python -m clix_dataset release ARCHIVE --key-file FILE [--out DIR]     (default ARCHIVE/release/)

The restricted dataset is brought up to date first, then each of its partition files is copied
column by column as its privacy class says (tables.py): direct identifiers and free text are
dropped, pseudonymised columns (user keys, session keys, record keys) are replaced by
HMAC-SHA256 with the steward's key, the rest is kept. Schools stay named. The same key gives the
same pseudonym in every release, so longitudinal work still joins; the key never enters the
release (only its id, an HMAC of a constant, so two releases can be told to share a key).
Only the partitions that changed since the last release are written again.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable

from ansible.module_utils import clix_files, clix_layout

from . import __version__
from .build import (
    DATABASE,
    PARTITION_FILE,
    STATE,
    DatasetError,
    build,
    connect,
    load_state,
    partition_path,
    row_counts,
    sql_str,
    table_folders,
    update_database,
    write_analyses,
    write_parquet,
    write_text,
)
from .codebook import codebook
from .tables import PSEUDONYMISED, TABLES, Column, Table

KEY_BYTES = 32
MAKE_KEY = ("make one, once, and keep it outside the archive (the same key gives every child the same pseudonym "
            "in every release; whoever holds it can tell who a pseudonym is): "
            "(umask 077; head -c 32 /dev/urandom > /etc/clix/release.key)")


class ReleaseError(DatasetError):
    """The release cannot be written; the message says what to do."""


def read_key(path: str | None, archive: str, out: str) -> bytes:
    """The key file's bytes: a regular file of at least 32 bytes, private, outside the archive and
    the release."""
    if not path:
        raise ReleaseError(f"the release needs the pseudonym key (--key-file, clix_dataset_key_file): {MAKE_KEY}")
    real = os.path.realpath(path)
    for folder, what in ((archive, "the archive"), (out, "the release")):
        base = os.path.realpath(folder)
        if real == base or real.startswith(base.rstrip("/") + "/"):
            raise ReleaseError(f"the key file {path} is inside {what} ({folder}): it would travel with the data; "
                               "move it out")
    try:
        fd = clix_files.open_regular(path)
    except FileNotFoundError:
        raise ReleaseError(f"the key file {path} does not exist: {MAKE_KEY}") from None
    except OSError as exc:  # a link, a FIFO or a device too (clix_files.NotRegularFileError)
        raise ReleaseError(f"the key file {path} cannot be opened ({exc.strerror}): give a regular file, not a "
                           "link") from None
    try:
        st = os.fstat(fd)
        if st.st_mode & 0o077:
            raise ReleaseError(f"the key file {path} can be read by others (mode {stat.S_IMODE(st.st_mode):o}): "
                               f"chmod 600 {path}")
        key = os.read(fd, 1 << 16)
    finally:
        os.close(fd)
    if len(key) < KEY_BYTES:
        raise ReleaseError(f"the key file {path} holds {len(key)} bytes, fewer than {KEY_BYTES}: {MAKE_KEY}")
    return key


def key_id(key: bytes) -> str:
    return hmac.new(key, b"clix-dataset key id", hashlib.sha256).hexdigest()[:16]


def pseudonymiser(key: bytes) -> Callable[[str], str]:
    @functools.lru_cache(maxsize=1 << 16)
    def pseudonym(value: str) -> str:
        return hmac.new(key, b"clix-pseudonym\0" + value.encode("utf-8", "surrogatepass"),
                        hashlib.sha256).hexdigest()[:32]
    return pseudonym


def released_expr(c: Column) -> str:
    if c.privacy != PSEUDONYMISED:
        return c.name
    if c.type.endswith("[]"):
        return f"list_transform({c.name}, lambda x: pseudonym(x)) AS {c.name}"
    return f"pseudonym({c.name}) AS {c.name}"


def stored_released(table: Table) -> list[Column]:
    return [c for c in table.released() if c.name not in ("year", "state")]


def _signature(path: str) -> str:
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def release(root: str, key_file: str | None, out: str | None = None, log: Callable[[str], None] = print) -> dict:
    root = os.path.abspath(root)
    out = os.path.abspath(out or clix_layout.release_dir(root))
    key = read_key(key_file, root, out)
    built = build(root, log=log)
    source = built["dataset"]
    os.makedirs(out, mode=0o700, exist_ok=True)
    kid = key_id(key)
    state = load_state(out)
    fresh = not state or state.get("key_id") != kid
    if fresh:
        for folder in table_folders(out):
            shutil.rmtree(folder)
        if os.path.exists(os.path.join(out, DATABASE)):
            os.unlink(os.path.join(out, DATABASE))
    done: dict[str, str] = {} if fresh else dict(state.get("partitions") or {})
    seen: dict[str, str] = {}
    partitions: set[tuple[str, str]] = set()
    workdir = tempfile.mkdtemp(prefix=".work-", dir=out)
    try:
        con = connect(workdir)
        con.create_function("pseudonym", pseudonymiser(key), ["VARCHAR"], "VARCHAR")
        try:
            for table in TABLES:
                folder = os.path.join(source, table.history)
                for year, st in _partitions(folder):
                    src = partition_path(source, table.history, year, st)
                    rel = os.path.relpath(src, source)
                    seen[rel] = _signature(src)
                    if done.get(rel) == seen[rel]:
                        continue
                    select = ", ".join(released_expr(c) for c in stored_released(table))
                    write_parquet(con, f"SELECT {select} FROM read_parquet({sql_str(src)}, hive_partitioning = false)",
                                  partition_path(out, table.history, year, st))
                    partitions.add((year, st))
            for rel in sorted(set(done) - set(seen)):  # gone from the restricted dataset
                table, year, st = rel.split("/")[:3]
                partitions.add((year.split("=", 1)[1], st.split("=", 1)[1]))
                os.unlink(os.path.join(out, rel))
        finally:
            con.close()
        status = [dict(r, reason=None if r["status"] == "failed" else r["reason"]) for r in built_status(source)]
        if partitions or fresh or not os.path.exists(os.path.join(out, DATABASE)):
            update_database(out, workdir, TABLES, partitions, fresh, status, columns=lambda t: tuple(t.released()),
                            info={"tier": "release", "version": __version__, "key_id": kid,
                                  "released_at": dt.datetime.now(dt.timezone.utc).isoformat()})
        write_text(os.path.join(out, STATE), json.dumps({"version": __version__, "key_id": kid, "partitions": seen},
                                                        indent=1, sort_keys=True))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    write_text(os.path.join(out, "CODEBOOK.md"), codebook(release=True, key_id=kid))
    write_analyses(out, release=True)
    log(f"release: {out} (key id {kid}; {len(partitions)} partitions written)")
    return {"release": out, "key_id": kid, "dataset": source, "rebuilt": built["rebuilt"], "failed": built["failed"],
            "partitions_written": len(partitions), "counts": row_counts(os.path.join(out, DATABASE))}


def _partitions(folder: str) -> list[tuple[str, str]]:
    found = []
    try:
        years = sorted(os.listdir(folder))
    except OSError:
        return []
    for year in years:
        for st in sorted(os.listdir(os.path.join(folder, year))):
            if os.path.exists(os.path.join(folder, year, st, PARTITION_FILE)):
                found.append((year.split("=", 1)[1], st.split("=", 1)[1]))
    return found


def built_status(dataset: str) -> list[dict]:
    import duckdb

    con = duckdb.connect(os.path.join(dataset, DATABASE), read_only=True)
    try:
        cur = con.execute("SELECT * FROM build_status")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        con.close()
