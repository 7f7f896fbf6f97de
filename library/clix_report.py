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
    reason, bytes received, size, time), and the matrix as C(.md) and a self-contained C(.html)
    (cells coloured by status, each titled with its reason and sizes; no external assets) into O(dest).
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
attributes:
  check_mode:
    description: >-
      Builds the table and returns RV(table), RV(summary) and RV(problems); creates no folder and writes
      no report files.
    support: full
  diff_mode:
    description: >-
      Not supported; the files written are listed in RV(files).
    support: none
author: clix-collect developers (@clix-collect)
"""

EXAMPLES = r"""
- name: Report the run
  clix_report:
    dest: /srv/archive/reports
    schools: "{{ ansible_play_hosts_all | map('extract', hostvars, 'clix_result') | list }}"
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

PROBLEMS = {"failed", "unreachable", "identity mismatch"}


def item_status(item: dict) -> str:
    if item.get("status") == "ok" and not item.get("files_transferred"):
        return "unchanged"
    return item.get("status") or "unknown"


def rows(schools: list) -> list:
    out = []
    for s in sorted(schools, key=lambda s: s.get("host", "")):
        label = s.get("row") or s.get("folder") or s.get("host")
        if s.get("problem"):
            out.append(dict(school=label, item="(school)", status=s.get("problem_status", "failed"),
                            received=None, total=None, seconds=None, reason=s["problem"]))
        for item in s.get("items") or []:
            out.append(dict(school=label, item=item["name"], status=item_status(item),
                            received=item.get("bytes_received"), total=item.get("total_bytes"),
                            seconds=item.get("seconds"), reason=item.get("reason")))
    return out


def fmt_bytes(n) -> str:
    return "-" if n is None else human_bytes(n)


def fmt_seconds(n) -> str:
    return "-" if n is None else "%.1fs" % n


TERMINAL_SCHOOLS = 30
SCHOOL = "(school)"
SHORT = {"unchanged": "=", "failed": "FAIL", "absent": "-", "skipped": "skip", "unreachable": "UNREACH",
         "identity mismatch": "IDENT"}


def matrix(table: list) -> tuple[list, list]:
    """(columns, [(school, {column: row})]): one row per school, problems first, one column per item
    in the order the items were collected (the school's own problem in a first column)."""
    columns, by_school = [], {}
    for r in table:
        if r["item"] not in columns:
            columns.append(r["item"])
        by_school.setdefault(r["school"], {})[r["item"]] = r
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
    if sizes and r["status"] in ("ok", "unchanged") and r.get("total"):
        return human_short(r["total"])
    if r["status"] == "ok" and r.get("received"):
        return human_short(r["received"])
    return SHORT.get(r["status"], r["status"])


def human_short(n: int) -> str:
    for unit in ("B", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            return ("%d%s" % (n, unit)) if unit == "B" or n >= 10 else ("%.1f%s" % (n, unit))
        n /= 1024.0
    return str(n)


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


def cell_title(r: dict) -> str:
    reason = (" (%s)" % r["reason"]) if r["reason"] else ""
    return "%s: %s%s - received %s of %s in %s" % (
        r["item"], r["status"], reason, fmt_bytes(r["received"]), fmt_bytes(r["total"]), fmt_seconds(r["seconds"]))


def md_escape(text: str) -> str:
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def markdown(title: str, table: list, summary: str) -> str:
    columns, schools = matrix(table)
    out = ["# %s" % md_escape(title), "", md_escape(summary), "",
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
                problems.append("- %s, %s: %s" % (md_escape(school), md_escape(c), md_escape(r["reason"] or r["status"])))
            else:
                row.append(md_escape(r["status"]))
        out.append("| %s | %s |" % (md_escape(school), " | ".join(row)))
    if problems:
        out += ["", "## Problems", "", *problems]
    return "\n".join(out) + "\n"


def html_page(title: str, table: list, summary: str) -> str:
    esc = html.escape
    columns, schools = matrix(table)
    body = []
    for school, cells in schools:
        tds = []
        for c in columns:
            r = cells.get(c)
            if r is None:
                tds.append("<td></td>")
            else:
                tds.append('<td class="cell %s" title="%s">%s</td>' % (
                    esc(r["status"].replace(" ", "-")), esc(cell_title(r)), esc(r["status"])))
        problem = any(r["status"] in PROBLEMS for r in cells.values())
        body.append('<tr%s><th>%s</th>%s</tr>' % (' class="problem"' if problem else "", esc(school), "".join(tds)))
    colours = {"ok": "#cfc", "unchanged": "#e8f5e8", "failed": "#f99", "unreachable": "#f99",
               "identity-mismatch": "#f9c", "absent": "#ddd", "skipped": "#eee"}
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">'
            "<title>%s</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;font-size:13px}"
            "tr>th:first-child{white-space:nowrap}tr.problem th{color:#a00}%s</style></head><body><h1>%s</h1><p>%s</p>"
            "<table class=\"matrix\"><tr><th>school</th>%s</tr>%s</table></body></html>\n"
            % (esc(title), "".join("td.%s{background:%s}" % kv for kv in colours.items()), esc(title), esc(summary),
               "".join("<th>%s</th>" % esc(c) for c in columns), "".join(body)))


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(dest=dict(type="path", required=True),
                           schools=dict(type="list", elements="dict", required=True),
                           title=dict(type="str", default="clix-collect run")),
        supports_check_mode=True,
    )
    os.umask(0o077)  # archive and staging hold private data
    p = module.params
    table = rows(p["schools"])
    problems = sum(1 for r in table if r["status"] in PROBLEMS)
    received = sum(r["received"] or 0 for r in table)
    summary = "%d school(s), %d problem(s), %s received" % (len(p["schools"]), problems, human_bytes(received))
    lines = [*text_table(table, sizes=module.check_mode), "", summary]
    result = dict(changed=False, table=lines, problems=problems, summary=summary)
    if not module.check_mode:
        os.makedirs(p["dest"], mode=0o700, exist_ok=True)
        base = os.path.join(p["dest"], "collect-%s" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
        contents = {".json": json.dumps(dict(title=p["title"], summary=summary, rows=table, schools=p["schools"]),
                                        indent=1, sort_keys=True),
                    ".md": markdown(p["title"], table, summary), ".html": html_page(p["title"], table, summary)}
        result.update(changed=True, files=write_text_files(base, contents))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
