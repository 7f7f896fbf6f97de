#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_report
short_description: Write the run report of a collection (school x item) as JSON, Markdown and HTML
description:
  - Runs on the control node at the end of a collection. Builds the school x item matrix from every
    school's results - schools with a problem first, one column per item - and returns it as text
    lines for the terminal (at most 30 schools, then a count per status for the rest, then the
    reason of each problem shown). Writes C(collect-<time>.json) (every item's detail - status,
    reason, bytes received, size, time; the run's start, end and length), and the matrix as C(.md) and
    a self-contained C(.html) into O(dest), both with the run's date and length.
  - The HTML page (module_utils/clix_templates/report.html.j2, autoescaped) lists the problems first with
    their reasons in full, then the matrix - a row per school with its name, bytes received and size, a
    short column per item (explained below it; a lab PC's item in one column), each cell coloured by status
    with the size received and the number of its reason - then the other reasons (why an item was skipped
    or absent), each once. Nothing is only in a tooltip; it fits a 1400 px window; no script, no request
    out of the page (a Content-Security-Policy allows only its own style sheet).
  - Statuses - C(ok) (new data arrived), C(unchanged) (nothing new), C(failed), C(absent) (not on
    the server), C(skipped) (not asked for), and for whole schools C(unreachable) and
    C(identity mismatch).
version_added: "0.1.0"
options:
  dest:
    description: Folder for the report files (created 0700).
    type: path
    required: true
  schools:
    description: One dict per school server or lab PC - host, folder, row (the label of its row, a lab PC its host name), reachable, problem, items.
    type: list
    elements: dict
    required: true
  title:
    description: Heading of the report.
    type: str
    default: clix-collect run
  started:
    description: When the run started (ISO 8601; without a zone, UTC); the report's time is its end.
    type: str
attributes:
  check_mode:
    details: >-
      Builds the table and returns RV(table), RV(summary) and RV(problems); creates no folder and writes
      no report files.
  diff_mode:
    details: The files written are listed in RV(files).
extends_documentation_fragment:
  - clix_attributes
"""

EXAMPLES = r"""
- name: Report the run
  clix_report:
    dest: /srv/archive/reports
    schools: "{{ ansible_play_hosts_all | map('extract', hostvars) | clix_results }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
table:
  description: The report as text lines.
  returned: always
  type: list
  elements: str
summary:
  description: One line - the number of schools, of problems and the bytes received (the table's last line).
  returned: always
  type: str
  sample: 5 school(s), 1 problem(s), 1.2 GiB received
problems:
  description: Number of failed items plus schools that failed as a whole.
  returned: always
  type: int
files:
  description: Report files written.
  returned: unless check mode
  type: list
  elements: str
"""

import datetime
import html
import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import human_bytes, write_text_files
from ansible.module_utils.clix_layout import report_base
from ansible.module_utils.clix_manifest import ABSENT, FAILED, OK, SKIPPED, recorded_time
from ansible.module_utils.clix_pages import Notes, duration, minute, render, short_names, short_size
from ansible.module_utils.clix_unplatform import ARCHIVE_TOP

# A row's status: an item's (clix_manifest), one of the report's own for an item, or a school's.
UNCHANGED = "unchanged"
UNREACHABLE, IDENTITY_MISMATCH = "unreachable", "identity mismatch"
PROBLEMS = {FAILED, UNREACHABLE, IDENTITY_MISMATCH}


def item_status(item: dict) -> str:
    if item.get("status") == OK and not item.get("files_transferred"):
        return UNCHANGED
    return item.get("status") or "unknown"


def rows(schools: list) -> list:
    out = []
    for s in sorted(schools, key=lambda s: s.get("host", "")):
        label = s.get("row") or s.get("folder") or s.get("host")
        name = s.get("school_name") or ""
        if s.get("problem"):
            out.append(dict(school=label, name=name, item=SCHOOL, status=s.get("problem_status", FAILED),
                            received=None, total=None, seconds=None, reason=s["problem"]))
        for item in s.get("items") or []:
            out.append(dict(school=label, name=name, item=item["name"], status=item_status(item),
                            received=item.get("bytes_received"), total=item.get("total_bytes"),
                            seconds=item.get("seconds"), reason=item.get("reason")))
    return out


def fmt_bytes(n) -> str:
    return "-" if n is None else human_bytes(n)


def fmt_seconds(n) -> str:
    return "-" if n is None else "%.1fs" % n


TERMINAL_SCHOOLS = 30
SCHOOL = "(school)"
LAB_PC = "lab PC"
SHORT = {UNCHANGED: "=", FAILED: "FAIL", ABSENT: "-", SKIPPED: "skip", UNREACHABLE: "UNREACH",
         IDENTITY_MISMATCH: "IDENT"}
# The page's cells: a word or sign per status (colours say the same), and what each means.
PAGE_WORDS = [(OK, "2.0M", "new data arrived (its size)"), (UNCHANGED, "=", "nothing new"),
              (ABSENT, "abs", "not on the server"), (SKIPPED, "skip", "not asked for, or not possible there"),
              (FAILED, "FAIL", "failed"), (UNREACHABLE, "UNREACH", "school unreachable"),
              (IDENTITY_MISMATCH, "IDENT", "another school's server (quarantined)")]


EXPLAIN = {SCHOOL: "the school as a whole (unreachable, or another school's server)",
           LAB_PC: "the lab PC of the row (its unplatform/<pc> item)"}


def column_of(item: str) -> str:
    """A lab PC's item (unplatform/<pc>) is its row's one item: all of them share one column."""
    return LAB_PC if item.startswith(ARCHIVE_TOP + "/") else item


def matrix(table: list) -> tuple[list, list]:
    """(columns, [(school, {column: row})]): one row per school, problems first, one column per item
    in the order the items were collected (the school's own problem in a first column, the lab PCs'
    items in one column)."""
    columns, by_school = [], {}
    for r in table:
        column = column_of(r["item"])
        if column not in columns:
            columns.append(column)
        by_school.setdefault(r["school"], {})[column] = r
    if SCHOOL in columns:
        columns = [SCHOOL] + [c for c in columns if c != SCHOOL]

    def problems(cells: dict) -> int:
        return sum(1 for r in cells.values() if r["status"] in PROBLEMS)
    schools = sorted(by_school.items(), key=lambda kv: (-problems(kv[1]), kv[0]))
    return columns, schools


def cell_text(r: dict | None, sizes: bool = False) -> str:
    """A terminal cell: what arrived (its size), = unchanged, - absent, or the problem in capitals;
    with sizes (check mode), the item's size on the server."""
    if r is None:
        return ""
    if sizes and r["status"] in (OK, UNCHANGED) and r.get("total"):
        return short_size(r["total"])
    if r["status"] == OK and r.get("received"):
        return short_size(r["received"])
    return SHORT.get(r["status"], r["status"])


def text_table(table: list, sizes: bool = False) -> list:
    """The matrix for the terminal (sizes: each cell the item's size on the server, for check mode)."""
    columns, schools = matrix(table)
    shown = schools[:TERMINAL_SCHOOLS]
    width = max([len(s) for s, _ in shown] + [6])
    widths = [max([len(str(i + 1))] + [len(cell_text(cells.get(c), sizes)) for _, cells in shown]) for i, c in
              enumerate(columns)]
    lines = ["%-*s %s" % (width, "school", " ".join("%*s" % (w, i + 1) for i, w in enumerate(widths)))]
    lines.append("-" * len(lines[0]))
    for school, cells in shown:
        row = " ".join("%*s" % (w, cell_text(cells.get(c), sizes)) for c, w in zip(columns, widths))
        lines.append("%-*s %s" % (width, school, row))
    lines.append("columns: " + "  ".join("%d %s" % (i + 1, c) for i, c in enumerate(columns)))
    lines.append(("cells: size on the server" if sizes else "cells: size received") + ", = unchanged, - absent on the server, skip not asked for, "
                 "FAIL / UNREACH / IDENT problems (reasons below)")
    rest = schools[TERMINAL_SCHOOLS:]
    if rest:
        counts = {}
        for _, cells in rest:
            for r in cells.values():
                counts[r["status"]] = counts.get(r["status"], 0) + 1
        lines.append("... and %d more school(s) (see the HTML report): %s" % (
            len(rest), ", ".join("%s %d" % (k, v) for k, v in sorted(counts.items()))))
    reasons = [r for _, cells in shown for r in cells.values() if r["status"] in PROBLEMS]
    for r in reasons:
        lines.append("%s %s: %s" % (r["school"], r["item"], r["reason"] or r["status"]))
    return lines


def md_escape(text: str) -> str:
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def markdown(title: str, table: list, summary: str, run: dict) -> str:
    columns, schools = matrix(table)
    out = ["# %s" % md_escape(title), "", md_escape(run_line(run, summary)), "",
           "| school | %s |" % " | ".join(md_escape(c) for c in columns), "|---|%s" % ("---|" * len(columns))]
    problems = []
    for school, cells in schools:
        row = []
        for c in columns:
            r = cells.get(c)
            if r is None:
                row.append("")
            elif r["status"] in PROBLEMS:
                row.append("**%s**" % md_escape(r["status"]))
                problems.append("- %s, %s: %s" % (md_escape(school), md_escape(r["item"]), md_escape(r["reason"] or r["status"])))
            else:
                row.append(md_escape(r["status"]))
        out.append("| %s | %s |" % (md_escape(school), " | ".join(row)))
    if problems:
        out += ["", "## Problems", "", *problems]
    return "\n".join(out) + "\n"


def run_line(run: dict, summary: str) -> str:
    """'Run 2026-11-24 10:00 to 10:15 UTC (15 min 03 s): 5 school(s), ...'."""
    if not run.get("started"):
        return "Run ended %s UTC: %s" % (minute(run["ended"]), summary)
    start, end = minute(run["started"]), minute(run["ended"])
    end = end[11:] if end[:10] == start[:10] else end
    return "Run %s to %s UTC (%s): %s" % (start, end, duration(run["seconds"]), summary)


def page_view(table: list) -> dict:
    """What the page shows: the problems (numbered, their reasons in full), the matrix of cells (each a
    word, a size and the number of its reason) and the other reasons, each once."""
    columns, schools = matrix(table)
    problems = [r for _, cells in schools for c in columns for r in [cells.get(c)] if r and r["status"] in PROBLEMS]
    number = {id(r): n for n, r in enumerate(problems, 1)}
    notes = Notes(start=len(problems) + 1)
    words = {status: word for status, word, _ in PAGE_WORDS}
    lines = []
    for school, cells in schools:
        shown = []
        for c in columns:
            r = cells.get(c)
            if r is None:
                shown.append(None)
                continue
            word = short_size(r["received"]) if r["status"] == OK and r["received"] else words.get(r["status"], r["status"])
            shown.append(dict(status=r["status"], word=word, item=r["item"],
                              note=number.get(id(r)) or notes.number(r["reason"])))
        first = next(iter(cells.values()))
        lines.append(dict(school=school, name=first.get("name") or "", cells=shown,
                          problem=any(r["status"] in PROBLEMS for r in cells.values()),
                          received=total_of(r["received"] for r in cells.values()),
                          total=total_of(r["total"] for r in cells.values())))
    return dict(columns=columns, short=short_names(columns), explain=EXPLAIN, lines=lines, notes=notes,
                problems=[dict(r, number=number[id(r)]) for r in problems], words=PAGE_WORDS)


def total_of(sizes) -> int | None:
    """The sum of the sizes known (None when none is)."""
    known = [n for n in sizes if n is not None]
    return sum(known) if known else None


def html_page(title: str, table: list, summary: str, run: dict) -> str:
    return render("report.html.j2", title=title, summary=summary, run=run, **page_view(table))


def run_times(started: str | None, ended: datetime.datetime) -> dict:
    """The run's start (as the role recorded it), end and length, in UTC."""
    run = dict(started=None, ended=ended.isoformat(), seconds=None)
    if started:
        begun = recorded_time(started)
        run.update(started=begun.isoformat(), seconds=(ended - begun).total_seconds())
    return run


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(dest=dict(type="path", required=True),
                           schools=dict(type="list", elements="dict", required=True),
                           title=dict(type="str", default="clix-collect run"),
                           started=dict(type="str")),
        supports_check_mode=True,
    )
    os.umask(0o077)  # archive and staging hold private data
    p = module.params
    table = rows(p["schools"])
    problems = sum(1 for r in table if r["status"] in PROBLEMS)
    received = sum(r["received"] or 0 for r in table)
    summary = "%d school(s), %d problem(s), %s %s" % (
        len(p["schools"]), problems, human_bytes(received),
        "to receive (check mode: nothing written)" if module.check_mode else "received")
    lines = [*text_table(table, sizes=module.check_mode), "", summary]
    ended = datetime.datetime.now(datetime.timezone.utc)
    try:
        run = run_times(p["started"], ended)
    except ValueError as exc:
        module.fail_json(msg="started: %s; give the run's start as 2026-11-25T10:00:00+00:00" % exc)
    result = dict(changed=False, table=lines, problems=problems, summary=summary)
    if not module.check_mode:
        os.makedirs(p["dest"], mode=0o700, exist_ok=True)
        base = report_base(p["dest"], "collect", ended)
        contents = {".json": json.dumps(dict(title=p["title"], summary=summary, run=run, rows=table,
                                             schools=p["schools"]), indent=1, sort_keys=True),
                    ".md": markdown(p["title"], table, summary, run), ".html": html_page(p["title"], table, summary, run)}
        result.update(changed=True, files=write_text_files(base, contents))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
