"""Python 2 output formats that gStudio's scripts produce, and atomic CSV writing."""

from __future__ import annotations

import codecs
import csv
import html.entities
import os
import re
import stat
import unicodedata
from collections.abc import Iterable
from typing import Any

from ansible.module_utils import clix_layout
from ansible.module_utils.clix_files import atomic_output
from unidecode import unidecode

NAME_MAX = 255  # bytes in one file name (ext4, xfs)


def slugify(value: str) -> str:
    """Django 1.6 ``slugify``: NFKD, drop non-ASCII, drop ``[^\\w\\s-]``, strip, lower, ``[-\\s]+`` -> ``-``.

    A name written only in Devanagari becomes the empty string, as on the servers.
    """
    value = unicodedata.normalize("NFKD", value or "").encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value, flags=re.ASCII).strip().lower()
    return re.sub(r"[-\s]+", "-", value, flags=re.ASCII)


_QUOTES = re.compile(r"'+")
_ENTITY = re.compile("&(%s);" % "|".join(html.entities.name2codepoint))
_DECIMAL = re.compile(r"&#(\d+);")
_HEX = re.compile(r"&#x([\da-fA-F]+);")


def python_slugify(value: str) -> str:
    """python-slugify 1.2.5 as the MIT script calls it (``slugify(text)``) under Python 2: quotes to
    ``-``, Unidecode 1.0.22 (which transliterates: ``ध्वनि (Sound)`` gives ``dhvni (Sound)``), HTML
    entities and character references, NFKD and, as Python 2 does, only its ASCII kept, lower,
    ``[^-a-z0-9]+`` -> ``-``. (The package itself, under Python 3, keeps a character reference's
    accent as a ``-``: tests/unit/test_derive_mit.py compares both.)
    """
    text = _QUOTES.sub("-", value)
    text = unidecode(text)
    text = _ENTITY.sub(lambda m: chr(html.entities.name2codepoint[m.group(1)]), text)
    text = _references(_DECIMAL, 10, text)
    text = _references(_HEX, 16, text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    text = _QUOTES.sub("", text)
    text = re.sub(r"(?<=\d),(?=\d)", "", text)
    text = re.sub(r"[^-a-z0-9]+", "-", text)
    return re.sub(r"-{2,}", "-", text).strip("-")


def _references(pattern: re.Pattern, base: int, text: str) -> str:
    """Character references replaced; one past ``unichr``'s range and python-slugify keeps them all."""
    codes = [int(m.group(1), base) for m in pattern.finditer(text)]
    if any(code > 0x10FFFF for code in codes):
        return text
    return pattern.sub(lambda m: chr(int(m.group(1), base)), text)


def py2_unicode_hash(text: str) -> int:
    """CPython 2.7's ``hash(unicode)`` on a 64-bit wide build without hash randomisation."""
    if not text:
        return 0
    mask = (1 << 64) - 1
    x = (ord(text[0]) << 7) & mask
    for ch in text:
        x = ((1000003 * x) & mask) ^ ord(ch)
    x ^= len(text)
    if x >= 1 << 63:
        x -= 1 << 64
    return -2 if x == -1 else x


def py2_dict_order(keys: Iterable[str]) -> list[str]:
    """The iteration order of a CPython 2.7 dict into which ``keys`` (unicode) were inserted in
    this order, never deleted: open addressing with perturbation, resized to 4x the used count
    when two thirds full, entries re-inserted in slot order (``Objects/dictobject.c``)."""
    mask64 = (1 << 64) - 1
    table: list[tuple[int, str] | None] = [None] * 8
    used = 0

    def slot_for(tab: list, h: int, key: str | None) -> int:
        size_mask = len(tab) - 1
        i = h & mask64
        perturb = h & mask64
        slot = i & size_mask
        while tab[slot] is not None and tab[slot][1] != key:
            i = (i * 5 + perturb + 1) & mask64
            perturb >>= 5
            slot = i & size_mask
        return slot

    for key in keys:
        h = py2_unicode_hash(key)
        slot = slot_for(table, h, key)
        if table[slot] is not None:
            continue
        table[slot] = (h, key)
        used += 1
        if used * 3 >= len(table) * 2:
            size = 8
            while size <= used * (2 if used > 50000 else 4):
                size <<= 1
            old, table = table, [None] * size
            for entry in old:
                if entry is not None:
                    table[slot_for(table, entry[0], None)] = entry
    return [entry[1] for entry in table if entry is not None]


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
    """Python's csv writer defaults (excel dialect, minimal quoting, CRLF), UTF-8, streamed through
    clix_files.atomic_output: a reader never sees half a file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_output(path, mode=0o644) as out:
        writer = csv.writer(codecs.getwriter("utf-8")(out))
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
