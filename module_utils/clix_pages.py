# SPDX-License-Identifier: GPL-3.0-or-later
"""What clix-collect writes for people to read: HTML pages from Jinja2 templates, CSV safe to open in a
spreadsheet.

Pages: the run report (clix_report), the catalogue (clix_catalog) and the fleet table
(clix_fleet_table), rendered from the templates in clix_templates/ beside this file, with autoescape
on: every value from the field (names, reasons, paths a server reported) is text on the page, never
markup. Each page is self-contained, runs no script and carries a Content-Security-Policy that
allows nothing but its own style sheet (by its hash) and inline images: no request leaves the page.

The templates are files, read from where this file is: the modules that write pages run on the control
node, inside Ansible's worker (action_plugins/clix_inprocess.py), where Jinja2 is Ansible's own.
AnsiballZ ships only Python code, so a page module run as a separate module on another host (its link
in action_plugins/ removed and the task delegated there) finds no templates, and says so.
"""

from __future__ import annotations

import base64
import csv
import functools
import hashlib
import io
import os

from ansible.module_utils.clix_files import human_bytes
from ansible.module_utils.clix_manifest import recorded_time

try:
    import jinja2
    from markupsafe import Markup
except ImportError:  # Ansible's control node always has them
    jinja2 = None

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clix_templates")
STYLE = "page.css"
# The page's own style sheet by its hash; images only from data: URLs (the charts are inline SVG).
CSP = "default-src 'none'; style-src '%s'; img-src data:; base-uri 'none'; form-action 'none'"

# Short column headers for the items of the role's table (roles/clix/defaults/main.yml), each
# explained in the page's legend; an item not named here gets a numbered header.
SHORT = {
    "(school)": "host", "db": "db", "media": "media", "rcs-repo": "rcs", "postgres-dump": "pg",
    "system-heartbeat": "hb", "system-heartbeat (server's own)": "hb-sv",
    "gstudio-exported-users-analytics-csvs": "csvs", "activity-timestamp-csvs": "times",
    "qbank/student-activities": "qbank", "gstudio_tools_logs": "tools", "gstudio-logs": "logs",
    "local_settings.py": "local", "server_settings.py": "srv", "git-commit.log": "git",
    "assessment-media/repository": "a-rep", "assessment-media/studentResponseFiles": "a-res", "nginx-logs": "nginx",
    "unplatform": "unpl", "derived (gStudio container)": "deriv",
}
# Excel, LibreOffice and Google Sheets run a cell that starts with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class PagesUnavailableError(RuntimeError):
    """The page templates cannot be found: the modules that write pages run on the control node only."""


def short_names(columns: list) -> dict:
    """{column: its short header}, unique: the known items' own, else c<n> (n its place, from 1)."""
    out, taken = {}, set()
    for n, name in enumerate(columns, 1):
        short = SHORT.get(name) or (name if len(name) <= 7 else "c%d" % n)
        if short in taken:
            short = "c%d" % n
        taken.add(short)
        out[name] = short
    return out


def size(n) -> str:
    """A size in bytes for a reader ('' when unknown)."""
    return "" if n is None else human_bytes(n)


def short_size(n) -> str:
    """A size in at most 4 characters: 512B, 7.5K, 20K, 2.0M."""
    if n is None:
        return ""
    for unit in ("B", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            return ("%d%s" % (n, unit)) if unit == "B" or n >= 10 else ("%.1f%s" % (n, unit))
        n /= 1024.0
    return str(n)


def minute(stamp, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """A recorded time in UTC, to the minute ('2026-11-24 10:00'); what is not a time, as it is."""
    if not stamp:
        return ""
    return _shown_time(stamp, pattern) if isinstance(stamp, str) else str(stamp)


@functools.lru_cache(maxsize=4096)  # a catalogue shows the same few times on thousands of cells
def _shown_time(stamp: str, pattern: str) -> str:
    try:
        return recorded_time(stamp).strftime(pattern)
    except ValueError:
        return stamp


def day(stamp) -> str:
    """The UTC date of a recorded time ('2026-11-24'); what is not a time, as it is."""
    return minute(stamp, "%Y-%m-%d")


def duration(seconds) -> str:
    """'2 h 05 min', '3 min 04 s', '12 s'."""
    if seconds is None:
        return ""
    seconds = round(seconds)
    if seconds >= 3600:
        return "%d h %02d min" % (seconds // 3600, seconds % 3600 // 60)
    if seconds >= 60:
        return "%d min %02d s" % (seconds // 60, seconds % 60)
    return "%d s" % seconds


class Notes:
    """Reasons numbered in order of first use from start, each text once: a cell shows the number, the
    page the text (a reason is as long as it is; a cell stays narrow)."""

    def __init__(self, start: int = 1, anchor: str = "r") -> None:
        self.start = start
        self.anchor = anchor  # the ids of the reasons on the page: <anchor><number>
        self.texts: list = []
        self._numbers: dict = {}

    def number(self, text) -> int | None:
        if not text:
            return None
        text = str(text)
        if text not in self._numbers:
            self._numbers[text] = self.start + len(self.texts)
            self.texts.append(text)
        return self._numbers[text]


def _environment():
    if jinja2 is None:
        raise PagesUnavailableError("the pages need Jinja2, which Ansible's control node has: run this module there")
    if not os.path.isdir(TEMPLATES):
        raise PagesUnavailableError(
            "the page templates (module_utils/clix_templates/) are not beside clix_pages: the modules that write "
            "pages run on the control node, through action_plugins/clix_inprocess.py, never as shipped modules")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(size=size, short_size=short_size, minute=minute, day=day, duration=duration)
    return env


def style_sheet() -> str:
    with open(os.path.join(TEMPLATES, STYLE), encoding="utf-8") as f:
        return f.read()


def render(template: str, **context) -> str:
    """The page of template (in clix_templates/) with context, its style sheet inline and allowed by hash."""
    env = _environment()
    css = style_sheet()
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    return env.get_template(template).render(style=Markup(css), csp=CSP % ("sha256-" + digest), **context)


def spreadsheet_cell(value):
    """A CSV cell that a spreadsheet shows as text: a text starting with = + - @ or a tab or carriage
    return (a formula to Excel, LibreOffice and Google Sheets) gets a leading ' (OWASP's advice); numbers,
    and texts that are only a number, stay as they are."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def csv_text(header: list, rows) -> str:
    """CSV for people (a catalogue, a fleet table): every cell through spreadsheet_cell. Never for
    gStudio's derived CSVs, which must stay byte for byte as gStudio writes them."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([spreadsheet_cell(h) for h in header])
    for row in rows:
        writer.writerow([spreadsheet_cell(v) for v in row])
    return buf.getvalue()
