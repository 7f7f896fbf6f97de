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
    gStudio's container, MongoDB and PostgreSQL answer, clock skew, and when the school was last
    collected and what that collection lacked, read from the archive's C(MANIFEST.json) files.
  - The last collection is the newest time stamped on the school's own items in any year's manifest,
    whatever their statuses (a heartbeat run refreshes only O(heartbeat_items), and is no collection).
    What it lacked is each of its items that is not C(ok) (C(failed), C(skipped), C(absent), with the
    reason) and each item it did not collect (a C(--tags) run). A failed item is a problem; a school with
    no collection at all is C(never collected). Times written without a zone (manifests sealed before
    times carried theirs) are UTC, and read as UTC.
  - Rows with a problem (thresholds in O(thresholds)) come first and are marked. Returns the table
    as text lines and writes C(heartbeat-<time>.csv) (numbers as numbers; cells that a spreadsheet would run
    as a formula start with C(')), C(.json) and a self-contained C(.html) into O(dest)
    (module_utils/clix_templates/fleet.html.j2, autoescaped; short columns explained in a legend, the
    reasons numbered under the table; no script, a Content-Security-Policy that allows only its own
    style sheet).
  - Appends every row to C(heartbeat-history-<state>.jsonl) in O(dest), so trends can be seen; the
    HTML page shows each school's last O(history) values of disk use, load and skew.
  - An unplatform lab PC (C(platform=unplatform) in its entry) gets its own row below its school's
    (server id shown as C(<server id>/<pc>)) - reachable, whether its app answers (C(app) - qbank-lite
    on 8080 and the unplatform UI on 8888; a closed app is not a problem), the data size of its
    installs (C(data); no install found is a problem), and when it was last collected (the
    C(collected_at) of the C(unplatform/<pc>) item in the school's C(MANIFEST.json), with its status
    when not C(ok)).
  - A manifest that cannot be read (not a regular file, not JSON, a time that is not ISO 8601) is a
    problem of its school's row, never the end of the table.
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
        description: No collection for more than this many days.
        type: int
        default: 180
  history:
    description: How many past values the HTML page shows per school.
    type: int
    default: 5
  now:
    description: The time of this run (ISO 8601; without a zone, UTC); defaults to the control node's clock.
    type: str
  heartbeat_items:
    description: >-
      The items a heartbeat run collects (the role's items of C(heartbeat.yml)'s C(clix_item_tags)): an
      entry of only these is a heartbeat, not a collection.
    type: list
    elements: str
    required: true
attributes:
  check_mode:
    details: >-
      Builds the rows from O(schools) and the archive's manifests and returns RV(table), RV(rows) and
      RV(problems); creates no folder, writes no table files and appends no history.
  diff_mode:
    details: The files written are listed in RV(files).
extends_documentation_fragment:
  - clix_attributes
"""

EXAMPLES = r"""
- name: Fleet table
  clix_fleet_table:
    dest: /srv/archive/reports
    archive_root: /srv/archive
    schools: "{{ ansible_play_hosts_all | map('extract', hostvars) | clix_results }}"
    heartbeat_items: [system-heartbeat, "system-heartbeat (server's own)"]
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
  description: >-
    The rows as dicts; C(last_collected) is the last collection's time (ISO 8601, UTC) or null, C(lacked) what
    it lacked (C(item), C(status), C(reason)), C(problems) the row's problems.
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

import datetime
import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import human_bytes, write_text_files
from ansible.module_utils.clix_layout import MANIFEST, school_roots
from ansible.module_utils.clix_manifest import FAILED, OK, load, recorded_time
from ansible.module_utils.clix_pages import Notes, minute, render
from ansible.module_utils.clix_pages import csv_text as people_csv
from ansible.module_utils.clix_unplatform import ARCHIVE_TOP, UnplatformError, pc_relpath

COLUMNS = ["server_id", "school_code", "school_name", "reachable", "uptime", "load", "ram_used", "worst_disk",
           "container", "mongodb", "postgresql", "app", "data", "clock_skew", "last_collected", "lacked", "problems"]


def school_manifests(archive_root: str) -> dict:
    """{(state, folder): [(year, path of its MANIFEST.json)]} of every collected school folder."""
    found = {}
    for path, parsed in school_roots(archive_root):
        found.setdefault((parsed["state"], parsed["folder"]), []).append((parsed["year"], os.path.join(path, MANIFEST)))
    return found


def read_manifests(paths: list) -> tuple:
    """([(year, manifest)], [problem]) of a school's manifests: one that cannot be read is a problem
    of its row, never the end of the table (a FIFO or a link is never opened)."""
    manifests, problems = [], []
    for year, path in paths:
        try:
            manifest = load(os.path.dirname(path))
        except (OSError, ValueError) as exc:
            problems.append("%s's %s unreadable (%s)" % (year, MANIFEST, exc))
            continue
        if isinstance(manifest, dict) and isinstance(manifest.get("items") or {}, dict):
            manifests.append((year, manifest))
        elif manifest is not None:
            problems.append("%s's %s holds no items table" % (year, MANIFEST))
    return manifests, problems


def last_collection(manifests: list, picks) -> dict:
    """The newest collection of the items that `picks` (a test of an item's name) keeps, whatever their
    statuses: {at (ISO 8601, UTC) or None, lacked [{item, status, reason}], problems [str]}. Its items
    are those stamped with its time; what it lacked is each of them not ok, and each item it did not
    collect (a --tags run), with when that one was last collected."""
    stamped, problems = [], []
    for year, manifest in manifests:
        for name, entry in sorted((manifest.get("items") or {}).items()):
            if not picks(name) or not isinstance(entry, dict):
                continue
            try:
                stamped.append((recorded_time(entry.get("collected_at")), year, name, entry))
            except ValueError as exc:
                problems.append("%s's %s: %s's collected_at %s" % (year, MANIFEST, name, exc))
    if not stamped:
        return dict(at=None, lacked=[], problems=problems)
    at, year = max((moment, y) for moment, y, _, _ in stamped)
    lacked = []
    for moment, y, name, entry in stamped:
        if y != year:
            continue
        if moment != at:
            lacked.append(dict(item=name, status="not in this run", reason="last collected %s" % moment.isoformat()))
        elif entry.get("status") != OK:
            lacked.append(dict(item=name, status=str(entry.get("status") or "unknown"), reason=str(entry.get("reason") or "")))
    return dict(at=at.isoformat(), lacked=lacked, problems=problems)


def is_lab_pc_item(name: str) -> bool:
    return name.startswith(ARCHIVE_TOP + "/")


def collection_of(school: dict, manifests: list, heartbeat_items: list) -> dict:
    """The last collection of a school server's own items (a heartbeat run refreshes its heartbeat items
    and is no collection), or of a lab PC's one item."""
    if school.get("platform") == "unplatform":
        try:
            name = pc_relpath(school.get("pc") or "")  # the PC's one item in its school's manifest
        except UnplatformError:
            return dict(at=None, lacked=[], problems=[])
        return last_collection(manifests, lambda n: n == name)
    return last_collection(manifests, lambda n: not is_lab_pc_item(n) and n not in heartbeat_items)


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


def collection_facts(row: dict, collection: dict, read_problems: list, limits: dict, now: datetime.datetime) -> None:
    """When the row's school or lab PC was last collected, what that collection lacked, and its problems."""
    row.update(last_collected=collection["at"], lacked=collection["lacked"])
    row["problems"] += read_problems + collection["problems"]
    if collection["at"] is None:
        row["problems"].append("never collected")
        return
    failed = [e["item"] for e in collection["lacked"] if e["status"] == FAILED]
    if failed:
        row["problems"].append("last collection failed: %s" % ", ".join(failed))
    age = now - recorded_time(collection["at"])
    if age.days > limits["collected_days"]:
        row["problems"].append("not collected for %d days" % age.days)


def row_of(school: dict, manifests: list, read_problems: list, limits: dict, now: datetime.datetime,
           heartbeat_items: list) -> dict:
    """One row of the table from a school's (or lab PC's) heartbeat and its school folder's manifests."""
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
    collection_facts(row, collection_of(school, manifests, heartbeat_items), read_problems, limits, now)
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
            "last_collected": minute(row["last_collected"]) or "never", "lacked": lacked_text(row["lacked"]),
            "problems": "; ".join(row["problems"])}


def lacked_text(lacked: list) -> str:
    """What a collection lacked, by status: 'skipped: derived (gStudio container); absent: unplatform'."""
    by_status = {}
    for entry in lacked:
        by_status.setdefault(entry["status"], []).append(entry["item"])
    return "; ".join("%s: %s" % (status, ", ".join(items)) for status, items in by_status.items())


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


CSV_COLUMNS = ["server_id", "school_code", "school_name", "reachable", "uptime_days", "load", "ram_used_percent",
               "worst_disk_percent", "container", "mongodb", "postgresql", "app", "data_bytes", "clock_skew_seconds",
               "last_collected", "lacked", "problems"]


def csv_text(rows: list) -> str:
    """The table for a spreadsheet: numbers as numbers, times in ISO 8601 (UTC)."""
    lines = []
    for r in rows:
        shown = cells(r)
        lines.append([shown["server_id"], r["school_code"], r["school_name"], r["reachable"], r.get("uptime_days"),
                      r.get("load"), r.get("ram_used_percent"), r.get("worst_disk_percent"), r.get("container"),
                      r.get("mongodb"), r.get("postgresql"), shown["app"] if "app" in r else None, r.get("data_bytes"),
                      r.get("clock_skew_seconds"), r["last_collected"], shown["lacked"], shown["problems"]])
    return people_csv(CSV_COLUMNS, lines)


# The page's columns: (key of cells(), short header, what it is); the legend explains the short ones.
PAGE_COLUMNS = [("server_id", "id", "server id (a lab PC: id/pc)"), ("school_code", "code", "school code"),
                ("school_name", "name", "school name"), ("reachable", "reach", "reachable over SSH"),
                ("uptime", "up", "uptime"), ("load", "load", "load (1 min)"), ("ram_used", "RAM", "RAM used"),
                ("worst_disk", "disk", "fullest disk"), ("container", "ctr", "gStudio's container"),
                ("mongodb", "mongo", "MongoDB answers"), ("postgresql", "pg", "PostgreSQL answers"),
                ("app", "app", "a lab PC's unplatform app (qbank-lite, UI)"),
                ("data", "data", "a lab PC's unplatform data"), ("clock_skew", "skew", "clock skew"),
                ("last_collected", "last", "last collected (UTC)"), ("lacked", "lacked", "what that collection lacked"),
                ("problems", "problems", "problems"), ("history", "history", "past heartbeats (UTC): disk, load, skew")]
DOWN = ("DOWN", "no")


def page_rows(rows: list, history: dict, notes: Notes) -> list:
    """The rows as the page shows them: each cell's text, the reasons as numbers of the notes."""
    out = []
    for r in rows:
        shown = {k: ("" if v == "-" else v) for k, v in cells(r).items()}
        reach = r["reachable"]
        shown["reachable"] = "yes" if reach == "yes" else "no"
        shown["last_collected"] = minute(r["last_collected"]) or "never"
        out.append(dict(row=r, cells=shown, problem=bool(r["problems"]),
                        reach_note=None if reach == "yes" else notes.number(reach.split(": ", 1)[-1]),
                        lacked=[dict(e, note=notes.number(e["reason"])) for e in r["lacked"]],
                        history=[past_line(h) for h in history.get(r["host"], [])]))
    return out


def html_page(title: str, rows: list, history: dict) -> str:
    notes = Notes()
    columns = [key for key, _, _ in PAGE_COLUMNS]
    return render("fleet.html.j2", title=title, summary=summary(rows), rows=page_rows(rows, history, notes),
                  notes=notes, columns=columns, short={k: s for k, s, _ in PAGE_COLUMNS},
                  explain={k: e for k, _, e in PAGE_COLUMNS}, down=DOWN)


def past_line(entry: dict) -> dict:
    """One past heartbeat of a history cell: its time (UTC, '11-24 10:00') and values ('50%, 0.50, +2s')."""
    at = minute(entry.get("at"), "%m-%d %H:%M")
    if entry.get("reachable") is False:
        return dict(at=at, shown="unreachable")

    def shown(key, pattern):
        value = entry.get(key)
        return "-" if not isinstance(value, (int, float)) or isinstance(value, bool) else pattern % value
    return dict(at=at, shown="%s, %s, %s" % (shown("disk", "%.0f%%"), shown("load", "%.2f"), shown("skew", "%+.0fs")))


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
                try:
                    e = json.loads(line)
                except ValueError:
                    continue  # a line torn by a crash is one lost value, never a lost table
                if isinstance(e, dict):
                    by_host.setdefault(e.get("host"), []).append(e)
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
            heartbeat_items=dict(type="list", elements="str", required=True),
        ),
        supports_check_mode=True,
    )
    os.umask(0o077)
    p = module.params
    try:
        now = recorded_time(p["now"]) if p["now"] else datetime.datetime.now(datetime.timezone.utc)
    except ValueError as exc:
        module.fail_json(msg="now: %s; give the time of the run as 2026-11-25T10:00:00+00:00" % exc)
    index, read = school_manifests(p["archive_root"]), {}
    rows = []
    for school in p["schools"]:
        key = (school.get("state"), school.get("folder"))
        if key not in read:
            read[key] = read_manifests(index.get(key, []))
        rows.append(row_of(school, *read[key], p["thresholds"], now, p["heartbeat_items"]))
    rows.sort(key=lambda r: (not r["problems"], r["state"] or "", int("".join(filter(str.isdigit, r["server_id"] or "0")) or 0),
                             r.get("pc") or ""))
    problems = sum(1 for r in rows if r["problems"])
    result = dict(changed=False, rows=rows, problems=problems,
                  table=[*text_table(rows), "", summary(rows)])
    if not module.check_mode:
        os.makedirs(p["dest"], mode=0o700, exist_ok=True)
        history = append_history(p["dest"], rows, now.isoformat(), p["history"])
        base = os.path.join(p["dest"], "heartbeat-%s" % now.strftime("%Y%m%d-%H%M%S"))
        title = "clix-collect heartbeat %s" % now.strftime("%Y-%m-%d %H:%M UTC")
        contents = {".csv": csv_text(rows), ".json": json.dumps(dict(title=title, rows=rows), indent=1, sort_keys=True),
                    ".html": html_page(title, rows, history)}
        result.update(changed=True, files=write_text_files(base, contents))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
