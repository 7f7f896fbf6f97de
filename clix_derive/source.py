"""Where the school's records come from: a collected tree in the archive, or a live server.

Both hand out documents in MongoDB's natural order (the order of the dumped ``.bson`` or of a
plain ``find()``), because gStudio's outputs follow that order.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import bson
from ansible.module_utils import clix_files, clix_layout, clix_settings
from bson.codec_options import CodecOptions

_CODEC = CodecOptions(tz_aware=False)


class SourceError(Exception):
    """The records needed cannot be read; the message says which and what to do."""


@dataclass(frozen=True)
class AuthUser:
    id: int
    username: str
    last_login: str
    date_joined: str
    fields: tuple[str, ...] = ()  # the row's COPY text fields as they are, for the MIT script
    columns: tuple[str, ...] = ()  # the COPY block's column names, in the order of fields

    def cell(self, name: str) -> str | None:
        """A column's value, unescaped; None for SQL NULL or a column the block does not have."""
        try:
            raw = self.fields[self.columns.index(name)]
        except (ValueError, IndexError):
            return None
        return None if raw == "\\N" else _copy_unescape(raw)


def _refused(path: str, exc: clix_files.NotRegularFileError) -> SourceError:
    if exc.errno == errno.ELOOP:
        return SourceError(f"{path} is a symbolic link: not followed")
    return SourceError(f"{path} is not a regular file: not read ({exc.strerror})")


def open_collected(path: str) -> IO[bytes]:
    """A collected file, opened for reading only if it is a regular file (clix_files.open_regular:
    no link followed, no FIFO or device opened, a swap caught), since a school server chooses
    what its tree holds."""
    try:
        return os.fdopen(clix_files.open_regular(path), "rb")
    except clix_files.NotRegularFileError as exc:
        raise _refused(path, exc) from None


def read_identity(path: str) -> dict[str, str]:
    """server_id, school_code, school_name from gStudio's server_settings.py (clix_settings: parsed,
    never run); each must be set."""
    try:
        source = clix_files.read_regular(path, limit=clix_settings.SETTINGS_LIMIT)
        identity = clix_settings.identity_of(source.decode("utf-8", "replace"))
    except clix_files.NotRegularFileError as exc:
        raise SourceError(f"cannot read the school's identity from {path}: {_refused(path, exc)}") from None
    except (OSError, ValueError, clix_settings.SettingsError) as exc:
        raise SourceError(f"cannot read the school's identity from {path}: {exc}") from None
    missing = [key for key, name in clix_settings.IDENTITY_KEYS.items() if identity[name] is None]
    if missing:
        raise SourceError(f"{path} does not set {', '.join(missing)}")
    return identity


_COPY_HEADER = re.compile(r"^COPY (?:public\.)?auth_user \((?P<cols>[^)]*)\) FROM stdin;$")
_COPY_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|(.))")
_COPY_CHARS = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _copy_unescape(field: str) -> str:
    def one(m: re.Match) -> str:
        if m.group(1):
            return chr(int(m.group(1), 8))
        if m.group(2):
            return chr(int(m.group(2), 16))
        return _COPY_CHARS.get(m.group(3), m.group(3))
    return _COPY_ESCAPE.sub(one, field)


def parse_auth_users(lines: Iterator[str], columns: list[str] | None = None) -> list[AuthUser]:
    """Django's ``auth_user`` rows from COPY text data: a pg_dumpall file (the first ``COPY auth_user``
    block, as the MIT script takes it) or, with ``columns``, the output of ``COPY ... TO STDOUT``."""
    users = []
    in_block = columns is not None
    for raw in lines:
        line = raw.rstrip("\n")
        if not in_block:
            m = _COPY_HEADER.match(line)
            if m:
                columns = [c.strip().strip('"') for c in m.group("cols").split(",")]
                in_block = True
            continue
        if line == "\\.":
            break
        cells = dict(zip(columns, line.split("\t")))
        users.append(AuthUser(int(cells["id"]), _copy_unescape(cells["username"]),
                              _copy_unescape(cells.get("last_login", "\\N")),
                              _copy_unescape(cells.get("date_joined", "\\N")), tuple(line.split("\t")),
                              tuple(columns)))
    if columns is None:
        raise SourceError("the PostgreSQL dump holds no auth_user table (COPY auth_user block)")
    return users


@contextlib.contextmanager
def open_dump(path: str) -> Iterator[IO[bytes]]:
    """A collected dump (open_collected), read through gzip when its name ends in .gz."""
    with open_collected(path) as f:
        yield gzip.GzipFile(fileobj=f, mode="rb") if path.endswith(".gz") else f


class ArchiveSource:
    """A collected school: ``<school>/gstudio/{db,postgres-dump,server_settings.py,gstudio_tools_logs}``."""

    def __init__(self, school_dir: str) -> None:
        self.school_dir = school_dir
        self.gstudio = self._inside(os.path.join(school_dir, "gstudio"))
        self.db_dir = self._inside(clix_layout.mongo_dump_dir(school_dir))
        if not os.path.isdir(self.db_dir):
            raise SourceError(f"{self.db_dir} is missing: collect the school's db item first "
                              f"(ansible-playbook collect.yml --tags db)")
        self.identity = read_identity(os.path.join(self.gstudio, "server_settings.py"))
        self.tools_dir = self._inside(os.path.join(self.gstudio, "gstudio_tools_logs"))

    def _inside(self, path: str) -> str:
        """path, once proved (links resolved) to lie in the school's folder: a linked folder of
        the collected tree never takes a read outside it."""
        try:
            return clix_layout.contained(self.school_dir, path)
        except clix_layout.LayoutError as exc:
            raise SourceError(f"{exc}: a link in the collected tree, not followed") from None

    def documents(self, collection: str) -> Iterator[dict]:
        for name in (f"{collection}.bson", f"{collection}.bson.gz"):
            path = os.path.join(self.db_dir, name)
            if os.path.lexists(path):
                with open_dump(path) as f:
                    yield from bson.decode_file_iter(f, codec_options=_CODEC)
                return

    def auth_users(self) -> list[AuthUser]:
        dump = clix_layout.pg_dump_path(self.school_dir)
        for path in (dump, dump + ".gz"):
            if os.path.lexists(self._inside(path)):
                with open_dump(path) as f:
                    return parse_auth_users(line.decode("utf-8", "replace") for line in f)
        raise SourceError(f"{dump} is missing: collect the "
                          f"school's postgres item first (ansible-playbook collect.yml --tags postgres)")


class LiveSource:
    """A running server: MongoDB through pymongo, ``auth_user`` through ``psql`` (PG* environment)."""

    def __init__(self, mongo_uri: str, settings_path: str, tools_dir: str) -> None:
        from pymongo import MongoClient

        # A URI that names its own server selection timeout keeps it (pymongo lets a keyword win).
        own = "serverselectiontimeoutms=" in mongo_uri.lower()
        self.client = MongoClient(mongo_uri, **({} if own else {"serverSelectionTimeoutMS": 10000}))
        self.identity = read_identity(settings_path)
        self.tools_dir = tools_dir

    def documents(self, collection: str) -> Iterator[dict]:
        coll = self.client[clix_layout.MONGO_DB].get_collection(collection, codec_options=_CODEC)
        yield from coll.find(batch_size=2000)

    def auth_users(self) -> list[AuthUser]:
        cols_sql = ("SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute "
                    "WHERE attrelid = 'auth_user'::regclass AND attnum > 0 AND NOT attisdropped")
        columns = _psql(cols_sql).strip().split(",")
        return parse_auth_users(iter(_psql("COPY auth_user TO STDOUT").splitlines()), columns)


def _psql(sql: str) -> str:
    try:
        done = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                              capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SourceError(f"psql could not read auth_user: {exc}") from None
    if done.returncode != 0:
        raise SourceError(f"psql could not read auth_user: {done.stderr.strip()}")
    return done.stdout
