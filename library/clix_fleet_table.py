#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_fleet_table
short_description: The fleet's health at a glance - one row per school server and lab PC from its heartbeat
description:
  - Runs on the control node at the end of C(heartbeat.yml). One row per school - server id,
    school code and name, reachable or why not, uptime, load, RAM used, worst disk use, whether
    gStudio's container, MongoDB and PostgreSQL answer, clock skew, and the date of the last
    successful collection read from the archive's C(MANIFEST.json) files.
  - Rows with a problem (thresholds in O(thresholds)) come first and are marked. Returns the table
    as text lines and writes C(heartbeat-<time>.csv), C(.json) and a self-contained C(.html)
    (no external assets) into O(dest).
  - Appends every row to C(heartbeat-history-<state>.jsonl) in O(dest), so trends can be seen; the
    HTML page shows each school's last O(history) values of disk use, load and skew.
  - An unplatform lab PC (C(platform=unplatform) in its entry) gets its own row below its school's
    (server id shown as C(<server id>/<pc>)) - reachable, whether its app answers (C(app) - qbank-lite
    on 8080 and the unplatform UI on 8888; a closed app is not a problem), the data size of its
    installs (C(data); no install found is a problem), and when it was last collected (the
    C(collected_at) of the C(unplatform/<pc>) item, status C(ok), in the school's C(MANIFEST.json)).
version_added: "0.1.0"
options:
  dest:
    description: Folder for the table files and the history (created 0700).
    type: path
    required: true
  archive_root:
    description: The archive, searched for each school's manifests.
    type: path
    required: true
  schools:
    description: >-
      One dict per school server or lab PC - host, folder, state, server_id, school_code, school_name,
      problem, heartbeat; a lab PC's also platform (C(unplatform)) and pc.
    type: list
    elements: dict
    required: true
  thresholds:
    description: What counts as a problem.
    type: dict
    default: {}
    suboptions:
      disk_percent:
        description: Worst disk use above this.
        type: float
        default: 90
      skew_seconds:
        description: Clock skew (either way) above this.
        type: float
        default: 300
      collected_days:
        description: No successful collection for more than this many days.
        type: int
        default: 180
  history:
    description: How many past values the HTML page shows per school.
    type: int
    default: 5
  now:
    description: The time of this run (ISO 8601, UTC); defaults to the control node's clock.
    type: str
attributes:
  check_mode:
    description: >-
      Builds the rows from O(schools) and the archive's manifests and returns RV(table), RV(rows) and
      RV(problems); creates no folder, writes no table files and appends no history.
    support: full
  diff_mode:
    description: >-
      Not supported; the files written are listed in RV(files).
    support: none
author: clix-collect developers (@clix-collect)
"""

EXAMPLES = r"""
- name: Fleet table
  clix_fleet_table:
    dest: /srv/archive/reports
    archive_root: /srv/archive
    schools: "{{ ansible_play_hosts_all | map('extract', hostvars, 'clix_result') | list }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
table:
  description: The table as text lines, problems first.
  returned: always
  type: list
  elements: str
rows:
  description: The rows as dicts.
  returned: always
  type: list
  elements: dict
problems:
  description: Number of schools with a problem.
  returned: always
  type: int
files:
  description: Files written.
  returned: unless check mode
  type: list
  elements: str
"""

import csv
import datetime
import glob
import html
import io
import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import human_bytes, write_text_files
from ansible.module_utils.clix_unplatform import UnplatformError, pc_relpath

COLUMNS = ["server_id", "school_code", "school_name", "reachable", "uptime", "load", "ram_used", "worst_disk",
           "container", "mongodb", "postgresql", "app", "data", "clock_skew", "last_collected", "problems"]


def last_collected(archive_root: str, state: str, folder: str) -> str | None:
    """End time of the newest complete collection (every item asked for, every item ok or absent
    on the server), as the manifests record it; heartbeat runs and --tags runs do not count."""
    best = None
    for manifest in manifests(archive_root, state, folder):
        ended = manifest.get("last_complete")
        if ended and (best is None or ended > best):
            best = ended
    return best


def manifests(archive_root: str, state: str, folder: str):
    for path in glob.glob(os.path.join(archive_root, "[0-9][0-9][0-9][0-9]", state, folder, "MANIFEST.json")):
        try:
            with open(path) as f:
                manifest = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict):
            yield manifest


def lab_pc_collected(archive_root: str, state: str, folder: str, pc: str) -> str | None:
    """When the lab PC's item was last collected whole (status ok), in any year's manifest."""
    try:
        name = pc_relpath(pc)  # the PC's one item in its school's manifest
    except UnplatformError:
        return None
    best = None
    for manifest in manifests(archive_root, state, folder):
        item = (manifest.get("items") or {}).get(name)
        at = item.get("collected_at") if isinstance(item, dict) and item.get("status") == "ok" else None
        if isinstance(at, str) and (best is None or at > best):
            best = at
    return best


def lab_pc_row(row: dict, hb: dict) -> None:
    """What a lab PC's heartbeat adds to its row: the app, the installs' data."""
    services = hb.get("services") or {}
    row.update(app={"qbank_lite": bool(services.get("qbank_lite")), "unplatform": bool(services.get("unplatform"))},
               installs=[dict(path=i.get("path"), version=i.get("version"), bytes=i.get("bytes"),
                              complete=i.get("complete") is not False) for i in hb.get("installs") or []],
               data_bytes=hb.get("data_bytes"))
    if hb.get("install_search"):
        row["problems"].append("the search for unplatform installs failed: %s" % hb["install_search"])
    elif not row["installs"]:
        row["problems"].append("no unplatform install found")


def row_of(school: dict, archive_root: str, limits: dict, now: datetime.datetime) -> dict:
    hb = school.get("heartbeat") or {}
    row = {"host": school.get("host"), "state": school.get("state"), "server_id": school.get("server_id"),
           "school_code": school.get("school_code"), "school_name": school.get("school_name"), "problems": []}
    lab_pc = school.get("platform") == "unplatform"
    if lab_pc:
        row["pc"] = school.get("pc")
    if school.get("problem") or not hb:
        row["reachable"] = "no: %s" % (school.get("problem") or "no heartbeat")
        row["problems"].append("unreachable")
    elif lab_pc:
        row["reachable"] = "yes"
        row.update(uptime_days=round(hb["uptime_seconds"] / 86400, 1), load=round(hb["load"][0], 2),
                   ram_used_percent=hb["memory"]["percent"], worst_disk_percent=hb.get("worst_disk_percent"),
                   clock_skew_seconds=hb.get("clock_skew_seconds"))
        lab_pc_row(row, hb)
    else:
        row["reachable"] = "yes"
        mem = hb["memory"]
        services = hb["services"]
        row.update(uptime_days=round(hb["uptime_seconds"] / 86400, 1), load=round(hb["load"][0], 2),
                   ram_used_percent=mem["percent"], worst_disk_percent=hb.get("worst_disk_percent"),
                   container=services["container"], mongodb=services["mongodb"], postgresql=services["postgresql"],
                   clock_skew_seconds=hb.get("clock_skew_seconds"))
        for name in ("mongodb", "postgresql"):
            if not services[name]:
                row["problems"].append("%s down" % name)
        if services["container"] not in ("running", "absent") and not services["container"].startswith("no "):
            row["problems"].append("container %s" % services["container"])
    if row["reachable"] == "yes":
        if (row["worst_disk_percent"] or 0) > limits["disk_percent"]:
            row["problems"].insert(0, "disk %.0f%%" % row["worst_disk_percent"])
        skew = row["clock_skew_seconds"]
        if skew is not None and abs(skew) > limits["skew_seconds"]:
            row["problems"].append("clock skew %+.0fs" % skew)
    if lab_pc:
        row["last_collected"] = lab_pc_collected(archive_root, row["state"] or "", school.get("folder") or "",
                                                 row["pc"] or "")
    else:
        row["last_collected"] = last_collected(archive_root, row["state"] or "", school.get("folder") or "")
    if row["last_collected"] is None:
        row["problems"].append("never collected")
    else:
        age = now - datetime.datetime.fromisoformat(row["last_collected"])
        if age.days > limits["collected_days"]:
            row["problems"].append("not collected for %d days" % age.days)
    return row


def cells(row: dict) -> dict:
    def fmt(value, pattern="%s"):
        return "-" if value is None else pattern % value

    app = row.get("app")
    app_cell = None if app is None else ("running" if all(app.values()) else "DOWN" if not any(app.values()) else
                                         "only %s" % ", ".join(k for k, v in app.items() if v))
    server_id = row["server_id"] if "pc" not in row else "%s/%s" % (row["server_id"], row["pc"])
    return {"server_id": server_id, "school_code": row["school_code"], "school_name": row["school_name"],
            "reachable": row["reachable"], "uptime": fmt(row.get("uptime_days"), "%sd"),
            "load": fmt(row.get("load")), "ram_used": fmt(row.get("ram_used_percent"), "%.0f%%"),
            "worst_disk": fmt(row.get("worst_disk_percent"), "%.0f%%"),
            "container": fmt(row.get("container")),
            "mongodb": fmt(None if "mongodb" not in row else ("up" if row["mongodb"] else "DOWN")),
            "postgresql": fmt(None if "postgresql" not in row else ("up" if row["postgresql"] else "DOWN")),
            "app": fmt(app_cell),
            "data": fmt(None if "installs" not in row else "%s%s in %d install(s)" % (
                "" if all(i["complete"] for i in row["installs"]) else "at least ",
                human_bytes(row["data_bytes"] or 0), len(row["installs"]))),
            "clock_skew": fmt(row.get("clock_skew_seconds"), "%+.0fs"),
            "last_collected": (row["last_collected"] or "never")[:10], "problems": "; ".join(row["problems"])}


def summary(rows: list) -> str:
    """'3 school(s), 1 with problems'; lab PCs are counted apart: '3 school(s) and 4 lab PC(s), ...'."""
    pcs = sum(1 for r in rows if "pc" in r)
    return "%d school(s)%s, %d with problems" % (len(rows) - pcs, " and %d lab PC(s)" % pcs if pcs else "",
                                                 sum(1 for r in rows if r["problems"]))


def text_table(rows: list) -> list:
    shown = [cells(r) for r in rows]
    widths = {c: max(len(c), *(len(str(s[c])) for s in shown)) if shown else len(c) for c in COLUMNS}
    widths["school_name"] = min(widths["school_name"], 28)

    def line(values: dict) -> str:
        return "  ".join(str(values[c])[:widths[c]].ljust(widths[c]) for c in COLUMNS)

    out = [line({c: c for c in COLUMNS}), "  ".join("-" * widths[c] for c in COLUMNS)]
    out += [("!! " if r["problems"] else "   ") + line(s) for r, s in zip(rows, shown)]
    out[0], out[1] = "   " + out[0], "   " + out[1]
    return out


def csv_text(rows: list) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    for r in rows:
        writer.writerow(cells(r))
    return buf.getvalue()


def html_page(title: str, rows: list, history: dict) -> str:
    head = "".join("<th>%s</th>" % html.escape(c) for c in [*COLUMNS, "history (disk, load, skew)"])
    body = []
    for r in rows:
        c = cells(r)
        past = history.get(r["host"], [])
        trend = "<br>".join(html.escape("%s: %s, %s, %s" % (h["at"][:16], h.get("disk"), h.get("load"), h.get("skew")))
                            for h in past)
        cls = ' class="problem"' if r["problems"] else ""
        tds = "".join("<td>%s</td>" % html.escape(str(c[k])) for k in COLUMNS)
        body.append("<tr%s>%s<td>%s</td></tr>" % (cls, tds, trend))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>%s</title><style>"
            "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:90%%}"
            "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}"
            "tr.problem{background:#fdd}tr.problem td:last-child,tr.problem td:nth-child(%d){color:#a00;font-weight:bold}"
            "</style></head><body><h1>%s</h1><p>%s (listed first).</p>"
            "<table><tr>%s</tr>%s</table></body></html>\n"
            % (html.escape(title), COLUMNS.index("problems") + 1, html.escape(title), html.escape(summary(rows)),
               head, "".join(body)))


def append_history(dest: str, rows: list, stamp: str, keep: int) -> dict:
    """Append this run to each state's history; return {host: last `keep` entries}."""
    by_host = {}
    for state in sorted({r["state"] for r in rows}):
        path = os.path.join(dest, "heartbeat-history-%s.jsonl" % state)
        entries = [dict(at=stamp, host=r["host"], disk=r.get("worst_disk_percent"), load=r.get("load"),
                        skew=r.get("clock_skew_seconds"), reachable=r["reachable"] == "yes")
                   for r in rows if r["state"] == state]
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as f:
            for e in entries:
                f.write(json.dumps(e, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        with open(path) as f:
            for line in f:
                e = json.loads(line)
                by_host.setdefault(e["host"], []).append(e)
    return {host: entries[-keep:] for host, entries in by_host.items()}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            archive_root=dict(type="path", required=True),
            schools=dict(type="list", elements="dict", required=True),
            thresholds=dict(type="dict", default={}, options=dict(
                disk_percent=dict(type="float", default=90),
                skew_seconds=dict(type="float", default=300),
                collected_days=dict(type="int", default=180),
            )),
            history=dict(type="int", default=5),
            now=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    os.umask(0o077)
    p = module.params
    now = datetime.datetime.fromisoformat(p["now"]) if p["now"] else datetime.datetime.now(datetime.timezone.utc)
    rows = [row_of(s, p["archive_root"], p["thresholds"], now) for s in p["schools"]]
    rows.sort(key=lambda r: (not r["problems"], r["state"] or "", int("".join(filter(str.isdigit, r["server_id"] or "0")) or 0),
                             r.get("pc") or ""))
    problems = sum(1 for r in rows if r["problems"])
    result = dict(changed=False, rows=rows, problems=problems,
                  table=[*text_table(rows), "", summary(rows)])
    if not module.check_mode:
        os.makedirs(p["dest"], mode=0o700, exist_ok=True)
        stamp = now.isoformat()
        history = append_history(p["dest"], rows, stamp, p["history"])
        base = os.path.join(p["dest"], "heartbeat-%s" % now.strftime("%Y%m%d-%H%M%S"))
        title = "clix-collect heartbeat %s" % now.strftime("%Y-%m-%d %H:%M UTC")
        contents = {".csv": csv_text(rows), ".json": json.dumps(dict(title=title, rows=rows), indent=1, sort_keys=True),
                    ".html": html_page(title, rows, history)}
        result.update(changed=True, files=write_text_files(base, contents))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
