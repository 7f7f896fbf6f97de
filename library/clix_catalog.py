#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_catalog
short_description: The archive's catalogue - coverage per state and year, sizes, counts and growth - from its manifests
description:
  - Runs on the control node. Reads every school's C(MANIFEST.json) below O(root) (never the data) and
    writes C(<root>/reports/catalogue.json), C(.csv) and a self-contained C(.html) (inline SVG charts, no
    script, a Content-Security-Policy that forbids any network request).
  - Coverage - per state and year, one row per school of O(schools) (the inventory) and per school found
    in the archive only, one column per item; each cell the status of the item's latest collection with
    its date - C(ok), C(partial) (failed, but data from an earlier or interrupted transfer is there),
    C(failed), C(absent) (not on the server, or no gStudio container), C(never) (never collected).
  - Per school and year - bytes, files, MongoDB documents and PostgreSQL users counted in the dumps (as
    the manifest recorded them), the last heartbeat's values.
  - Growth - bytes and schools collected per state per year, drawn as charts; the schools whose archive
    shrank from one year to a later one (a likely data loss on the server).
version_added: "0.3.0"
options:
  root:
    description: >-
      The archive root.
    type: path
    required: true
  schools:
    description: The inventory's schools - C(state), C(folder) (C(<school code>-<server id>)), optionally C(school_name).
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
    description: Reads the manifests and returns the summary; writes nothing.
    support: full
  diff_mode:
    description: Not supported.
    support: none
author: clix-collect developers (@clix-collect)
"""

EXAMPLES = r"""
- name: Catalogue the archive
  clix_catalog:
    root: /srv/clix-archive
    schools: "{{ clix_inventory.schools.values() | list }}"
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
import csv
import html
import io
import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import human_bytes, write_text_files
from ansible.module_utils.clix_layout import MANIFEST, catalogue_base, school_roots

STATUSES = ("ok", "partial", "failed", "absent", "never")
COLOURS = {"ok": "#cfc", "partial": "#fe9", "failed": "#f99", "absent": "#ddd", "never": "#fff"}
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def read_manifests(root: str) -> list:
    """(year, state, folder, manifest) of every collected school folder that has a readable manifest."""
    found = []
    for path, parsed in school_roots(root):
        try:
            with open(os.path.join(path, MANIFEST), "rb") as f:
                manifest = json.loads(f.read())
        except (OSError, ValueError):
            continue
        found.append((parsed["year"], parsed["state"], parsed["folder"], manifest))
    return found


def cell(entry: dict | None, files: list, dest: str | None) -> dict:
    """An item's cell: status, date and reason of its latest collection."""
    if not entry:
        return dict(status="never", at=None, reason="never collected")
    status = entry.get("status")
    reason = entry.get("reason") or ""
    if status == "failed":
        status = "partial" if dest and has_files(files, dest) else "failed"
    elif status in ("absent", "skipped"):
        status = "absent"
    elif status != "ok":
        status = "failed"
    return dict(status=status, at=entry.get("collected_at"), reason=reason or status)


def has_files(files: list, dest: str) -> bool:
    i = bisect.bisect_left(files, dest)
    return i < len(files) and (files[i] == dest or files[i].startswith(dest + "/"))


def school_year(manifest: dict, columns: list, dests: dict) -> dict:
    items = manifest.get("items") or {}
    files = sorted(manifest.get("files") or {})
    totals = manifest.get("totals") or {}
    counts = {}
    for entry in items.values():
        counts.update((entry or {}).get("counts") or {})
    beat = manifest.get("heartbeat") or {}
    return dict(
        cells={name: cell(items.get(name), files, dests.get(name)) for name in columns},
        bytes=totals.get("bytes", 0), files=totals.get("files", len(files)),
        documents=(items.get("db") or {}).get("counts", {}).get("documents"),
        users=(items.get("postgres-dump") or {}).get("counts", {}).get("users"),
        last_complete=manifest.get("last_complete"), collected=(manifest.get("run") or {}).get("ended"),
        school_name=(manifest.get("school") or {}).get("school_name") or "",
        heartbeat={k: beat.get(k) for k in ("captured_at", "uptime_seconds", "load", "worst_disk_percent",
                                            "clock_skew_seconds") if k in beat})


def catalogue(root: str, inventory: list, table: list) -> dict:
    found = read_manifests(root)
    columns = [i["name"] for i in table if i.get("name")]
    for _, _, _, manifest in found:
        columns += [n for n in (manifest.get("items") or {}) if n not in columns]
    dests = {i["name"]: str(i.get("dest", "")).strip("/") for i in table if i.get("name")}
    names = {(s.get("state"), s.get("folder")): s.get("school_name") or "" for s in inventory}
    years = sorted({y for y, _, _, _ in found})
    data = {(y, s, f): school_year(m, columns, dests) for y, s, f, m in found}
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
                    row.update(cells={n: cell(None, [], None) for n in columns}, bytes=None, files=None)
                row["problems"] = sum(1 for c in row["cells"].values() if c["status"] in ("failed", "partial", "never"))
                rows.append(row)
            rows.sort(key=lambda r: (-r["problems"], r["folder"]))
            sections.append(dict(year=year, state=state, rows=rows,
                                 collected=sum(1 for r in rows if r.get("collected")),
                                 bytes=sum(r.get("bytes") or 0 for r in rows)))
    return dict(columns=columns, years=years, sections=sections, growth=growth(data), shrank=shrank(data),
                school_years=len(found))


def growth(data: dict) -> dict:
    """{state: {year: {bytes, schools}}}"""
    out = {}
    for (year, state, _), entry in sorted(data.items()):
        g = out.setdefault(state, {}).setdefault(year, dict(bytes=0, schools=0))
        g["bytes"] += entry["bytes"] or 0
        g["schools"] += 1
    return out


def shrank(data: dict) -> list:
    """Schools whose archive is smaller than in the year before it was last collected."""
    by_school = {}
    for (year, state, folder), entry in sorted(data.items()):
        by_school.setdefault((state, folder), []).append((year, entry["bytes"] or 0))
    out = []
    for (state, folder), seen in sorted(by_school.items()):
        for (y1, b1), (y2, b2) in zip(seen, seen[1:]):
            if b2 < b1:
                out.append(dict(state=state, folder=folder, year_from=y1, year_to=y2, bytes_from=b1, bytes_to=b2))
    return out


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def day(when) -> str:
    return str(when)[:10] if when else ""


def svg_chart(title: str, series: dict, years: list, fmt) -> str:
    """A line chart (one line per state over the years), drawn as inline SVG."""
    width, height, left, bottom, top = 560, 240, 80, 30, 24
    peak = max([v for points in series.values() for v in points.values()] + [1])

    def x(i):
        return left + (width - left - 20) * (i / max(len(years) - 1, 1))

    def y(v):
        return top + (height - top - bottom) * (1 - v / peak)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="%d" height="%d" role="img" '
             'aria-label="%s"><title>%s</title>' % (width, height, esc(title), esc(title)),
             '<text x="%d" y="16" font-size="13">%s</text>' % (left, esc(title)),
             '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>' % (left, y(0), width - 20, y(0)),
             '<text x="4" y="%d" font-size="11">%s</text>' % (top + 8, esc(fmt(peak))),
             '<text x="4" y="%d" font-size="11">0</text>' % y(0)]
    parts += ['<text x="%d" y="%d" font-size="11" text-anchor="middle">%s</text>' % (x(i), height - 8, esc(year))
              for i, year in enumerate(years)]
    for n, (state, points) in enumerate(sorted(series.items())):
        colour = PALETTE[n % len(PALETTE)]
        coords = " ".join("%.1f,%.1f" % (x(i), y(points.get(year, 0))) for i, year in enumerate(years))
        parts.append('<polyline class="series" fill="none" stroke="%s" stroke-width="2" points="%s">'
                     '<title>%s</title></polyline>' % (colour, coords, esc(state)))
        parts += ['<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %s: %s</title></circle>'
                  % (x(i), y(points.get(year, 0)), colour, esc(state), esc(year), esc(fmt(points.get(year, 0))))
                  for i, year in enumerate(years)]
        parts.append('<text x="%d" y="%d" font-size="11" fill="%s">%s</text>'
                     % (width - 60, top + 14 * n, colour, esc(state)))
    return "".join(parts) + "</svg>"


def html_page(cat: dict) -> str:
    years, out = cat["years"], []
    charts = [svg_chart("bytes collected per state", {s: {y: g["bytes"] for y, g in ys.items()}
                                                      for s, ys in cat["growth"].items()}, years, human_bytes),
              svg_chart("schools collected per state", {s: {y: g["schools"] for y, g in ys.items()}
                                                        for s, ys in cat["growth"].items()}, years, str)]
    head = "".join("<th>%s</th>" % esc(c) for c in cat["columns"])
    for sec in cat["sections"]:
        out.append('<h2 id="s-%s-%s">%s %s: %d of %d schools collected, %s</h2>' % (
            esc(sec["year"]), esc(sec["state"]), esc(sec["state"]), esc(sec["year"]), sec["collected"],
            len(sec["rows"]), esc(human_bytes(sec["bytes"]))))
        out.append('<table class="matrix"><tr><th>school</th><th>name</th><th>bytes</th><th>files</th>'
                   '<th>documents</th><th>users</th><th>heartbeat</th>%s</tr>' % head)
        for r in sec["rows"]:
            beat = r.get("heartbeat") or {}
            beat_text = ", ".join("%s %s" % (k, v) for k, v in beat.items() if k != "captured_at")
            cells = "".join('<td class="cell %s" title="%s">%s<br><small>%s</small></td>' % (
                c["status"], esc("%s: %s%s" % (name, c["reason"], " (%s)" % c["at"] if c["at"] else "")),
                esc(c["status"]), esc(day(c["at"]))) for name, c in r["cells"].items())
            out.append('<tr class="%s"><td>%s%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>'
                       '<td title="%s">%s</td>%s</tr>' % (
                           "problem" if r["problems"] else "", esc(r["folder"]),
                           "" if r["in_inventory"] else " <small>(not in the inventory)</small>",
                           esc(r.get("school_name")), esc(human_bytes(r["bytes"]) if r.get("bytes") is not None else ""),
                           esc(r.get("files") if r.get("files") is not None else ""), esc(r.get("documents")),
                           esc(r.get("users")), esc(beat_text), esc(day(beat.get("captured_at"))), cells))
        out.append("</table>")
    shrunk = "".join("<tr><td>%s</td><td>%s</td><td>%s &rarr; %s</td><td>%s &rarr; %s</td></tr>" % (
        esc(s["state"]), esc(s["folder"]), esc(s["year_from"]), esc(s["year_to"]), esc(human_bytes(s["bytes_from"])),
        esc(human_bytes(s["bytes_to"]))) for s in cat["shrank"])
    legend = "".join('<td class="cell %s">%s</td>' % (s, s) for s in STATUSES)
    style = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1.5em}"
             "td,th{border:1px solid #ccc;padding:.2em .4em;font-size:12px;text-align:left}"
             "tr.problem td:first-child{font-weight:bold}"
             + "".join("td.%s{background:%s}" % (s, c) for s, c in COLOURS.items()))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            '<meta http-equiv="Content-Security-Policy" content="%s">'
            "<title>clix-collect catalogue</title><style>%s</style></head><body>"
            "<h1>clix-collect catalogue</h1><p>%d school-years from the manifests; years %s.</p>"
            "<table><tr>%s</tr></table><div>%s</div>"
            "<h2>Schools that shrank (a likely data loss on the server)</h2>"
            "<table class='shrank'><tr><th>state</th><th>school</th><th>years</th><th>bytes</th></tr>%s</table>%s"
            "</body></html>\n" % (CSP, style, cat["school_years"], esc(", ".join(years)), legend, "".join(charts),
                                  shrunk or "<tr><td colspan='4'>none</td></tr>", "".join(out)))


def csv_text(cat: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["year", "state", "school", "school_name", "in_inventory", "bytes", "files", "mongo_documents",
                     "postgres_users", "last_complete", "heartbeat_at", "uptime_seconds", "worst_disk_percent",
                     "clock_skew_seconds", *cat["columns"]])
    for sec in cat["sections"]:
        for r in sec["rows"]:
            beat = r.get("heartbeat") or {}
            writer.writerow([sec["year"], sec["state"], r["folder"], r.get("school_name"), r["in_inventory"],
                             r.get("bytes"), r.get("files"), r.get("documents"), r.get("users"),
                             r.get("last_complete"), beat.get("captured_at"), beat.get("uptime_seconds"),
                             beat.get("worst_disk_percent"), beat.get("clock_skew_seconds"),
                             *("%s %s" % (c["status"], day(c["at"])) if c["at"] else c["status"]
                               for c in r["cells"].values())])
    return buf.getvalue()


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
    return lines


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
    cat = catalogue(p["root"], p["schools"], p["items"])
    result = dict(changed=False, school_years=cat["school_years"], summary=summary(cat), shrank=cat["shrank"])
    if not module.check_mode:
        base = catalogue_base(p["root"])
        os.makedirs(os.path.dirname(base), mode=0o700, exist_ok=True)
        result.update(changed=True, files=write_text_files(base, {
            ".json": json.dumps(cat, indent=1, sort_keys=True), ".csv": csv_text(cat), ".html": html_page(cat)}))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
