#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_report
short_description: Write the run report of a collection (school x item) as JSON, Markdown and HTML
description:
  - Runs on the control node at the end of a collection. Builds the table of school x item
    (status, bytes received, size, time) from every school's results, returns it as text lines
    for the terminal, and writes C(collect-<time>.json), C(.md) and a self-contained C(.html)
    (no external assets) into O(dest).
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
    description: One dict per school - host, folder, reachable, problem, items.
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
        label = s.get("folder") or s.get("host")
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


def text_table(table: list) -> list:
    head = "%-22s %-40s %-17s %11s %11s %8s" % ("school", "item", "status", "received", "size", "time")
    lines = [head, "-" * len(head)]
    for r in table:
        lines.append("%-22s %-40s %-17s %11s %11s %8s" % (
            r["school"], r["item"], r["status"], fmt_bytes(r["received"]), fmt_bytes(r["total"]),
            fmt_seconds(r["seconds"])))
        if r["status"] in PROBLEMS and r["reason"]:
            lines.append("%22s   -> %s" % ("", r["reason"]))
    return lines


def markdown(title: str, table: list, summary: str) -> str:
    out = ["# %s" % title, "", summary, "", "| school | item | status | received | size | time | reason |",
           "|---|---|---|---|---|---|---|"]
    for r in table:
        status = "**%s**" % r["status"] if r["status"] in PROBLEMS else r["status"]
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["school"], r["item"], status, fmt_bytes(r["received"]), fmt_bytes(r["total"]),
            fmt_seconds(r["seconds"]), (r["reason"] or "").replace("|", "\\|")))
    return "\n".join(out) + "\n"


def html_page(title: str, table: list, summary: str) -> str:
    cells = []
    for r in table:
        cls = ' class="problem"' if r["status"] in PROBLEMS else ""
        cells.append("<tr%s><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
            cls, *(html.escape(str(v)) for v in (r["school"], r["item"], r["status"], fmt_bytes(r["received"]),
                                                  fmt_bytes(r["total"]), fmt_seconds(r["seconds"]),
                                                  r["reason"] or ""))))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>%s</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
            "tr.problem{background:#fdd;font-weight:bold}</style></head><body><h1>%s</h1><p>%s</p>"
            "<table><tr><th>school</th><th>item</th><th>status</th><th>received</th><th>size</th>"
            "<th>time</th><th>reason</th></tr>%s</table></body></html>\n"
            % (html.escape(title), html.escape(title), html.escape(summary), "".join(cells)))


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
    lines = [*text_table(table), "", summary]
    result = dict(changed=False, table=lines, problems=problems, summary=summary)
    if not module.check_mode:
        os.makedirs(p["dest"], mode=0o700, exist_ok=True)
        base = os.path.join(p["dest"], "collect-%s" % datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
        contents = {".json": json.dumps(dict(title=p["title"], summary=summary, rows=table, schools=p["schools"]),
                                        indent=1, sort_keys=True),
                    ".md": markdown(p["title"], table, summary), ".html": html_page(p["title"], table, summary)}
        result.update(changed=True, files=write_text_files(base, contents))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
