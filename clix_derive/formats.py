"""Python 2 output formats that gStudio's scripts produce, and atomic CSV writing."""

from __future__ import annotations

import csv
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Iterable
from typing import Any

from module_utils import clix_layout

NAME_MAX = 255  # bytes in one file name (ext4, xfs)


def slugify(value: str) -> str:
    """Django 1.6 ``slugify``: NFKD, drop non-ASCII, drop ``[^\\w\\s-]``, strip, lower, ``[-\\s]+`` -> ``-``.

    A name written only in Devanagari becomes the empty string, as on the servers.
    """
    value = unicodedata.normalize("NFKD", value or "").encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value, flags=re.ASCII).strip().lower()
    return re.sub(r"[-\s]+", "-", value, flags=re.ASCII)


def py2_repr(value: Any) -> str:
    """``repr`` as Python 2 prints it for the values gStudio puts in list cells.

    Strings from MongoDB are ``unicode`` there: ``u'name'``, non-ASCII as ``\\u0935`` escapes,
    which is exactly what Python 3's ``ascii()`` writes after the ``u`` prefix.
    """
    if isinstance(value, str):
        return "u" + ascii(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(py2_repr(v) for v in value) + "]"
    return repr(value)


def py2_str_float(value: float) -> str:
    """Python 2 ``str(float)``: 12 significant digits, and ``.0`` on a whole number (``225.0``)."""
    text = "%.12g" % value
    if not any(c in text for c in ".enN"):
        text += ".0"
    return text


def name_of(node: dict | None, prefer_altnames: bool) -> str:
    """gStudio's display name: ``altnames`` when set (and not blank), else ``name``."""
    if not node:
        return ""
    if prefer_altnames and (node.get("altnames") or "").strip():
        return node["altnames"]
    return node.get("name") or ""


def output_path(out_dir: str, folder: str, name: str) -> str:
    """out_dir/folder/name, for a file named after values from the school server (server id,
    school code, username). gStudio's name is kept when it is one plain path component the file
    system can hold; otherwise clix_layout.LayoutError says why (the caller skips or fails). The
    path, links in its existing part resolved, is proved to stay under out_dir (clix_layout.under)."""
    clix_layout.check_part(name)
    if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        raise clix_layout.LayoutError("%r is longer than a file name can be" % (name,))
    return clix_layout.under(os.path.abspath(out_dir), folder, name)


def append_text(path: str, text: str) -> None:
    """Append to a log file, never through a link or into a FIFO or device."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise clix_layout.LayoutError("%s is not a regular file: not written" % path)
        os.set_blocking(fd, True)
        f.write(text)


def write_csv(path: str, header: list[str], rows: Iterable[list[Any]]) -> None:
    """Python's csv writer defaults (excel dialect, minimal quoting, CRLF), UTF-8, streamed to a
    temporary name, fsynced and renamed: a reader never sees half a file."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            for row in rows:
                writer.writerow(["" if v is None else v for v in row])
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
