#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_catalog
short_description: The archive's catalogue - coverage per state and year, sizes, counts and growth - from its manifests
description:
  - Runs on the control node. Reads every school's C(MANIFEST.json) below O(root) (never the data; each
    as a regular file only - a FIFO, device or link in its place is listed as unreadable, never opened) and
    writes C(<root>/reports/catalogue.json), C(.csv) (cells that a spreadsheet would run as a formula
    start with C(')) and a self-contained C(.html) (module_utils/clix_templates/catalogue.html.j2,
    autoescaped; inline SVG charts, no script, a Content-Security-Policy that allows only its own style
    sheet).
  - Coverage - per state and year, one row per school of O(schools) (the inventory) and per school found
    in the archive only, one column per item; each cell the status of the item's latest collection with
    its date - C(ok), C(partial) (failed, but data from an earlier or interrupted transfer is there),
    C(failed), C(absent) (not on the server, or no gStudio container), C(never) (never collected).
  - Per school and year - bytes, files, MongoDB documents and PostgreSQL users counted in the dumps (as
    the manifest recorded them), the last heartbeat's values.
  - Growth - bytes and schools collected per state per year, drawn as bar charts (a bar per state and
    year, its value on it; the schools against the inventory's), which say something from the first year
    on; the schools whose archive shrank from one year to a later one (a likely data loss on the server).
  - The page names the schools never collected, shows why each item failed (numbered under its state's
    table) and fits a 1400 px window (short item columns, explained in a legend; a school's lab PCs in one).
version_added: "0.3.0"
options:
  root:
    description: >-
      The archive root.
    type: path
    required: true
  schools:
    description: >-
      The inventory's hosts as the C(clix_school_entry) filter gives them - C(host), C(groups), C(school_code),
      C(school_name), C(platform), C(pc); checked by the inventory's rules (a problem fails the module) and
      named by them (state, folder).
    type: list
    elements: dict
    default: []
  items:
    description: The role's item table (C(clix_items)) - C(name) and C(dest); sets the columns' order and where each item's files are.
    type: list
    elements: dict
    default: []
attributes:
  check_mode:
    details: Reads the manifests and returns the summary; writes nothing.
extends_documentation_fragment:
  - clix_attributes
"""

EXAMPLES = r"""
- name: Catalogue the archive
  clix_catalog:
    root: /srv/clix-archive
    schools: "{{ groups['all'] | map('extract', hostvars) | map('clix_school_entry') | list }}"
    items: "{{ clix_items }}"
  delegate_to: localhost
"""

RETURN = r"""
files:
  description: >-
    The catalogue files written.
  type: list
  returned: unless check mode
  elements: str
school_years:
  description: >-
    School folders with a manifest.
  type: int
  returned: always
summary:
  description: >-
    One line per state and year - schools collected of the inventory's, bytes - then the schools that shrank (at most 30).
  type: list
  returned: always
  elements: str
shrank:
  description: >-
    Schools whose archive is smaller in a later year - state, folder, from, to, bytes before and after.
  type: list
  returned: always
  elements: dict
"""

import bisect
import json
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import human_bytes, write_text_files
from ansible.module_utils.clix_inventory import check_schools, identity_of
from ansible.module_utils.clix_layout import MANIFEST, catalogue_base, school_roots
from ansible.module_utils.clix_manifest import ABSENT, FAILED, OK, SKIPPED, load
from ansible.module_utils.clix_pages import Notes, day, render, short_names, short_size
from ansible.module_utils.clix_pages import csv_text as people_csv
from ansible.module_utils.clix_unplatform import ARCHIVE_TOP

# A cell's status: an item's (clix_manifest), or one of the catalogue's own two.
PARTIAL, NEVER = "partial", "never"
STATUSES = (OK, PARTIAL, FAILED, ABSENT, NEVER)
PROBLEM_STATUSES = (FAILED, PARTIAL, NEVER)
# The page's cells: a word per status (colours say the same), and what each means.
WORDS = [(OK, "ok", "collected"), (PARTIAL, "part", "failed, but data of it is there"),
         (FAILED, "FAIL", "failed, nothing of it there"), (ABSENT, "abs", "not on the server"),
         (NEVER, "never", "never collected")]
SEVERITY = {OK: 0, ABSENT: 1, PARTIAL: 2, FAILED: 3}
LAB_PCS = "lab PCs"
HEARTBEAT_TAG = "heartbeat"  # the items of heartbeat.yml, which seals its heartbeats into the year's folder
CHART_YEARS = 6  # the latest years a chart shows
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def read_manifests(root: str) -> tuple:
    """([(year, state, folder, manifest)], [problem]) of every collected school folder: a manifest is
    read as a regular file only (a FIFO, a device or a link in its place is never opened), and one
    that cannot be read is listed, never the end of the catalogue."""
    found, problems = [], []
    for path, parsed in school_roots(root):
        where = "%s/%s/%s" % (parsed["year"], parsed["state"], parsed["folder"])
        try:
            manifest = load(path)
        except (OSError, ValueError) as exc:
            problems.append("%s: %s unreadable (%s)" % (where, MANIFEST, exc))
            continue
        if manifest is None:
            continue
        if not isinstance(manifest, dict):
            problems.append("%s: %s is not a manifest" % (where, MANIFEST))
            continue
        found.append((parsed["year"], parsed["state"], parsed["folder"], manifest))
    return found, problems


def as_dict(value) -> dict:
    """A manifest's table, or {} where it holds something else (a field archive's manifest is data)."""
    return value if isinstance(value, dict) else {}


def cell(entry, files: list, dest: str | None) -> dict:
    """An item's cell: status, date and reason of its latest collection."""
    if not isinstance(entry, dict) or not entry:
        return dict(status=NEVER, at=None, reason="never collected")
    status = entry.get("status")
    reason = str(entry.get("reason") or "")
    if status == FAILED:
        status = PARTIAL if dest and has_files(files, dest) else FAILED
    elif status in (ABSENT, SKIPPED):
        status = ABSENT
    elif status != OK:
        status = FAILED
    at = entry.get("collected_at")
    return dict(status=status, at=at if isinstance(at, str) else None, reason=reason or status)


def is_lab_pc_item(name: str) -> bool:
    return name.startswith(ARCHIVE_TOP + "/")


def has_files(files: list, dest: str) -> bool:
    i = bisect.bisect_left(files, dest)
    return i < len(files) and (files[i] == dest or files[i].startswith(dest + "/"))


def number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def school_year(manifest: dict, columns: list, dests: dict, beats: set) -> dict:
    """A school's year from its manifest; a folder that only heartbeat runs wrote into (beats: the items a
    heartbeat refreshes) was not collected that year."""
    items = as_dict(manifest.get("items"))
    files = sorted(as_dict(manifest.get("files")))
    totals = as_dict(manifest.get("totals"))
    beat = as_dict(manifest.get("heartbeat"))
    counts = {name: as_dict(as_dict(items.get(name)).get("counts")) for name in ("db", "postgres-dump")}
    cells = {name: cell(items.get(name), files, dests.get(name)) for name in columns
             if name in items or not is_lab_pc_item(name)}  # another school's lab PC is no cell of this one
    gathered = any(c["status"] != NEVER for name, c in cells.items() if name not in beats)
    return dict(
        cells=cells,
        bytes=number(totals.get("bytes")) or 0, files=number(totals.get("files")) or len(files),
        documents=number(counts["db"].get("documents")), users=number(counts["postgres-dump"].get("users")),
        last_complete=manifest.get("last_complete"),
        collected=(as_dict(manifest.get("run")).get("ended") or "yes") if gathered else None,
        school_name=str(as_dict(manifest.get("school")).get("school_name") or ""),
        heartbeat={k: beat.get(k) for k in ("captured_at", "uptime_seconds", "load", "worst_disk_percent",
                                            "clock_skew_seconds") if k in beat})


def catalogue(root: str, inventory: list, table: list) -> dict:
    """inventory: the inventory's schools (state, folder, school_name); table: the role's items."""
    found, unreadable = read_manifests(root)
    columns = [i["name"] for i in table if i.get("name")]
    for _, _, _, manifest in found:
        columns += [n for n in as_dict(manifest.get("items")) if n not in columns]
    dests = {i["name"]: str(i.get("dest", "")).strip("/") for i in table if i.get("name")}
    names = {}
    for s in inventory:
        names[(s.get("state"), s.get("folder"))] = names.get((s.get("state"), s.get("folder"))) or s.get("school_name") or ""
    years = sorted({y for y, _, _, _ in found})
    beats = {i["name"] for i in table if i.get("tag") == HEARTBEAT_TAG}
    data = {(y, s, f): school_year(m, columns, dests, beats) for y, s, f, m in found}
    sections = []
    for year in years:
        states = sorted({s for s, _ in names} | {s for y, s, _ in data if y == year})
        for state in states:
            folders = sorted({f for s, f in names if s == state} | {f for y, s, f in data if y == year and s == state})
            rows = []
            for folder in folders:
                entry = data.get((year, state, folder))
                row = dict(folder=folder, in_inventory=(state, folder) in names,
                           school_name=names.get((state, folder)) or (entry or {}).get("school_name", ""))
                if entry:
                    row.update(entry)
                else:
                    row.update(cells={n: cell(None, [], None) for n in columns if not is_lab_pc_item(n)},
                               bytes=None, files=None)
                row["problems"] = sum(1 for c in row["cells"].values() if c["status"] in PROBLEM_STATUSES)
                rows.append(row)
            rows.sort(key=lambda r: (-r["problems"], r["folder"]))
            sections.append(dict(year=year, state=state, rows=rows,
                                 collected=sum(1 for r in rows if r.get("collected")),
                                 bytes=sum(r.get("bytes") or 0 for r in rows)))
    return dict(columns=columns, years=years, sections=sections, growth=growth(data), shrank=shrank(data),
                school_years=len(found), unreadable=unreadable)


def growth(data: dict) -> dict:
    """{state: {year: {bytes, schools}}}"""
    out = {}
    for (year, state, _), entry in sorted(data.items()):
        g = out.setdefault(state, {}).setdefault(year, dict(bytes=0, schools=0))
        g["bytes"] += entry["bytes"] or 0
        g["schools"] += 1 if entry["collected"] else 0
    return out


def shrank(data: dict) -> list:
    """Schools whose archive is smaller than in the year before it was last collected (a year of
    heartbeats only is no collection)."""
    by_school = {}
    for (year, state, folder), entry in sorted(data.items()):
        if entry["collected"]:
            by_school.setdefault((state, folder), []).append((year, entry["bytes"] or 0))
    out = []
    for (state, folder), seen in sorted(by_school.items()):
        for (y1, b1), (y2, b2) in zip(seen, seen[1:]):
            if b2 < b1:
                out.append(dict(state=state, folder=folder, year_from=y1, year_to=y2, bytes_from=b1, bytes_to=b2))
    return out


def bar_chart(title: str, groups: list, years: list, unit, whole: bool = False) -> dict:
    """A grouped bar chart as shapes for the page's inline SVG: per group (a state) one bar per year,
    each labelled with its value, and behind it, when given, the room it could fill (the inventory's
    schools). groups: [(label, {year: (value, room or None)})]."""
    width, height, left, top, bottom = 640, 260, 56, 52, 34
    peak = max([max(v, r or 0) for _, ys in groups for v, r in ys.values()] + [1])
    plot_w, plot_h = width - left - 12, height - top - bottom
    slot = plot_w / max(len(groups), 1)
    bar = min(48.0, (slot - 16) / max(len(years), 1))
    shapes = []
    for tick in (0, 0.5, 1) if not whole or peak % 2 == 0 else (0, 1):  # counts: whole numbers only
        y = top + plot_h * (1 - tick)
        shapes.append(dict(kind="line", x1=left, y1=y, x2=width - 12, y2=y, cls="grid" if tick else "axis"))
        shapes.append(dict(kind="text", x=left - 4, y=y + 4, anchor="end", cls="", text=unit(peak * tick)))
    for g, (label, by_year) in enumerate(groups):
        x0 = left + slot * g + (slot - bar * len(years)) / 2
        for i, year in enumerate(years):
            value, room = by_year.get(year, (0, None))
            x = x0 + bar * i
            if room:
                shapes.append(dict(kind="rect", x=x + 1, y=top + plot_h * (1 - room / peak), w=bar - 2,
                                   h=plot_h * room / peak, cls="room", text="%s %s: room for %s" % (label, year, unit(room))))
            h = plot_h * value / peak
            shapes.append(dict(kind="rect", x=x + 1, y=top + plot_h - h, w=bar - 2, h=h,
                               cls="y%d" % (i % CHART_YEARS), text="%s %s: %s" % (label, year, unit(value))))
            shown = unit(value) + ("/%s" % unit(room) if room else "")
            shapes.append(dict(kind="text", x=x + bar / 2, y=top + plot_h - max(h, (plot_h * room / peak) if room else 0) - 3,
                               anchor="middle", cls="", text=shown))
        shapes.append(dict(kind="text", x=left + slot * g + slot / 2, y=height - bottom + 16, anchor="middle",
                           cls="title", text=label))
    for i, year in enumerate(years):  # the key, under the title
        shapes.append(dict(kind="rect", x=left + 70 * i, y=24, w=12, h=12, cls="y%d" % (i % CHART_YEARS), text=year))
        shapes.append(dict(kind="text", x=left + 16 + 70 * i, y=34, anchor="start", cls="", text=year))
    return dict(title=title, width=width, height=height, shapes=shapes)


def charts(cat: dict, inventory_counts: dict) -> list:
    """What the archive holds per state (its size, and the schools collected of the inventory's), one
    bar per year: with one year, the states side by side; with several, their growth too."""
    years = cat["years"][-CHART_YEARS:]
    states = sorted(set(cat["growth"]) | set(inventory_counts))  # a state never collected is a bar of 0
    grown = {s: cat["growth"].get(s, {}) for s in states}
    size = [(s, {y: (grown[s].get(y, {}).get("bytes", 0), None) for y in years}) for s in states]
    schools = [(s, {y: (grown[s].get(y, {}).get("schools", 0), inventory_counts.get(s)) for y in years}) for s in states]
    return [bar_chart("Archive size per state", size, years, lambda v: short_size(int(v))),
            bar_chart("Schools collected per state (of the inventory's)", schools, years, lambda v: "%d" % round(v),
                      whole=True)]


def lab_pc_cell(cells: dict, pcs: list) -> dict | None:
    """The lab PCs of a school in one cell: how many, coloured by the worst of them."""
    shown = [(pc, cells[pc]) for pc in pcs if pc in cells]
    if not shown:
        return None
    worst = max((c for _, c in shown), key=lambda c: SEVERITY.get(c["status"], 0))
    reasons = ["%s: %s" % (pc.split("/", 1)[1], c["reason"]) for pc, c in shown if c["status"] != OK]
    return dict(status=worst["status"], at=max(c["at"] or "" for _, c in shown) or None,
                reason="; ".join(reasons), word="%d PC" % len(shown))


def section_view(sec: dict, columns: list, pcs: list, words: dict) -> dict:
    """A section's rows for the page: each cell a word, its date when it differs from the row's, and the
    number of its reason; the schools never collected named apart."""
    notes = Notes(anchor="r-%s-%s-" % (sec["year"], sec["state"]))
    lines, never = [], []
    for r in sec["rows"]:
        if not r.get("collected"):
            never.append(r)
            continue
        dates = [day(c["at"]) for c in r["cells"].values() if c["at"]]
        latest = max(dates) if dates else ""
        cells = []
        for name in columns:
            c = lab_pc_cell(r["cells"], pcs) if name == LAB_PCS else r["cells"][name]
            if c is None:
                cells.append(None)
                continue
            when = day(c["at"])
            cells.append(dict(status=c["status"], word=c.get("word") or words[c["status"]],
                              when="" if when == latest else when[5:] if DATE.match(when) else when,
                              note=notes.number(c["reason"]) if c["status"] in (FAILED, PARTIAL) else None))
        lines.append(dict(row=r, cells=cells, collected=latest))
    return dict(sec=sec, lines=lines, never=never, notes=notes,
                inventory=sum(1 for r in sec["rows"] if r["in_inventory"]),
                collected_of_inventory=sum(1 for r in sec["rows"] if r["in_inventory"] and r.get("collected")),
                archive_only=sum(1 for r in sec["rows"] if not r["in_inventory"]))


def html_page(cat: dict) -> str:
    pcs = [c for c in cat["columns"] if is_lab_pc_item(c)]
    columns = [c for c in cat["columns"] if c not in pcs] + ([LAB_PCS] if pcs else [])
    words = {status: word for status, word, _ in WORDS}
    inventory_counts = {}
    for sec in cat["sections"]:
        if sec["year"] == (cat["years"] or [""])[-1]:
            inventory_counts[sec["state"]] = sum(1 for r in sec["rows"] if r["in_inventory"])
    return render("catalogue.html.j2", title="clix-collect catalogue", cat=cat, columns=columns,
                  short=short_names(columns), explain={LAB_PCS: "the school's lab PCs (unplatform/<pc>)"},
                  sections=[section_view(sec, columns, pcs, words)  # the latest year first
                            for sec in sorted(cat["sections"], key=lambda sec: sec["year"], reverse=True)],
                  charts=charts(cat, inventory_counts), words=WORDS)


def csv_text(cat: dict) -> str:
    header = ["year", "state", "school", "school_name", "in_inventory", "bytes", "files", "mongo_documents",
              "postgres_users", "last_complete", "heartbeat_at", "uptime_seconds", "worst_disk_percent",
              "clock_skew_seconds", *cat["columns"]]
    rows = []
    for sec in cat["sections"]:
        for r in sec["rows"]:
            beat = r.get("heartbeat") or {}
            rows.append([sec["year"], sec["state"], r["folder"], r.get("school_name"), r["in_inventory"],
                         r.get("bytes"), r.get("files"), r.get("documents"), r.get("users"),
                         r.get("last_complete"), beat.get("captured_at"), beat.get("uptime_seconds"),
                         beat.get("worst_disk_percent"), beat.get("clock_skew_seconds"),
                         *(csv_cell(r["cells"].get(name)) for name in cat["columns"])])
    return people_csv(header, rows)


def csv_cell(c: dict | None) -> str:
    if c is None:
        return ""
    return "%s %s" % (c["status"], day(c["at"])) if c["at"] else c["status"]


def summary(cat: dict) -> list:
    lines = []
    for sec in cat["sections"]:
        inventory = [r for r in sec["rows"] if r["in_inventory"]]
        lines.append("%s %s: %d of the inventory's %d school(s) collected, %d only in the archive, %s" % (
            sec["year"], sec["state"], sum(1 for r in inventory if r.get("collected")), len(inventory),
            sum(1 for r in sec["rows"] if not r["in_inventory"]), human_bytes(sec["bytes"])))
    for s in cat["shrank"][:30]:
        lines.append("shrank: %s/%s %s -> %s: %s -> %s" % (
            s["state"], s["folder"], s["year_from"], s["year_to"], human_bytes(s["bytes_from"]), human_bytes(s["bytes_to"])))
    if len(cat["shrank"]) > 30:
        lines.append("... and %d more schools that shrank (catalogue.html)" % (len(cat["shrank"]) - 30))
    lines += ["unreadable: %s" % problem for problem in cat["unreadable"]]
    return lines


def inventory_schools(entries: list) -> list:
    """The inventory's schools (state, folder, school_name) from its hosts as clix_school_entry gives them;
    raises ValueError listing the inventory's problems."""
    errors = check_schools(entries)
    if errors:
        raise ValueError("The inventory has %d problem(s):\n- %s" % (len(errors), "\n- ".join(errors)))
    return [dict(identity_of(e), school_name=str(e.get("school_name") or "")) for e in entries]


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(root=dict(type="path", required=True),
                           schools=dict(type="list", elements="dict", default=[]),
                           items=dict(type="list", elements="dict", default=[])),
        supports_check_mode=True,
    )
    os.umask(0o077)  # the archive holds private data
    p = module.params
    if not os.path.isdir(p["root"]):
        module.fail_json(msg="%s is not a folder: give the archive root with -e clix_archive_root=..." % p["root"])
    try:
        inventory = inventory_schools(p["schools"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    cat = catalogue(p["root"], inventory, p["items"])
    result = dict(changed=False, school_years=cat["school_years"], summary=summary(cat), shrank=cat["shrank"])
    for problem in cat["unreadable"]:
        module.warn(problem)
    if not module.check_mode:
        base = catalogue_base(p["root"])
        os.makedirs(os.path.dirname(base), mode=0o700, exist_ok=True)
        result.update(changed=True, files=write_text_files(base, {
            ".json": json.dumps(cat, indent=1, sort_keys=True), ".csv": csv_text(cat), ".html": html_page(cat)}))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
