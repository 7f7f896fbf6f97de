# SPDX-License-Identifier: GPL-3.0-or-later
"""Small pure functions the clix playbooks use in templates."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

# The archive's layout has one owner, module_utils/clix_layout.py; filters import it the way the
# modules do, as ansible.module_utils.clix_* (clix_imports.py, at the checkout's root).
sys.path.append(str(Path(__file__).resolve().parents[1]))
import clix_imports

clix_imports.use()
from ansible.module_utils import clix_identity, clix_inventory, clix_layout, clix_unplatform  # noqa: E402
from ansible.module_utils.clix_manifest import ABSENT, FAILED, OK, SKIPPED  # noqa: E402


def clix_school_entry(hostvars: dict) -> dict:
    """What the inventory check needs of one host's variables."""
    return {
        "host": hostvars["inventory_hostname"],
        "groups": list(hostvars.get("group_names", [])),
        "school_code": hostvars.get("school_code"),
        "school_name": hostvars.get("school_name"),
        "platform": hostvars.get("clix_platform"),
        "pc": hostvars.get("clix_pc"),
    }


def clix_selected(items: list, run_tags: list, skip_tags: list, only: list | None = None) -> list:
    """The items that --tags/--skip-tags select (all of them without --tags), further limited to
    the tags in `only` when a playbook gives them (heartbeat.yml pulls heartbeats only)."""
    wanted = set(run_tags or ["all"])
    skipped = set(skip_tags or [])
    return [i for i in items
            if ("all" in wanted or i["tag"] in wanted or i["name"] in wanted)
            and i["tag"] not in skipped and i["name"] not in skipped
            and (not only or i["tag"] in only)]


def clix_pull_items(items: list, host_vars: dict, lab_pcs=()) -> list:
    """Items for clix_pull: a snapshot carries the checksums its producer reported (the result the
    producer's task registered as clix_<producer>_result); an item whose producer failed carries the
    producer's error instead (it is reported, not pulled). The server's own item into unplatform/
    shares that folder with its school's lab PCs (unplatform/<pc>/): it leaves out each folder at its
    top named like one of lab_pcs (clix_lab_pcs), so nothing of the server's merges into a PC's."""
    out = []
    for item in items:
        entry = {k: item[k] for k in ("name", "src", "dest")}
        entry["kind"] = item.get("kind", "folder")
        entry["redact"] = bool(item.get("redact", False))
        if entry["dest"].strip("/") == clix_unplatform.ARCHIVE_TOP:
            # "/pc01", not "/pc01/": whatever its file type (a link pc01 -> x would carry the PC's pulls along)
            entry["exclude"] = ["/%s" % clix_unplatform.check_pc(pc) for pc in sorted(set(lab_pcs or ()))]
        result = host_vars.get("clix_%s_result" % item["producer"]) if item.get("producer") else None
        if result and not result.get("skipped"):
            if result.get("failed") or result.get("unreachable"):
                entry["error"] = result.get("msg") or "the producing task failed"
            elif entry["kind"] == "snapshot":
                entry["expect"] = result.get("files") or {}
        out.append(entry)
    return out


def clix_labpc_pull_items(installs: list, pc: str, staging: str, asset_content: bool = False) -> list:
    """clix_pull items of a lab PC's installs (clix_unplatform's installs), each going to
    unplatform/<pc>/<install>/<its path in the install>: kind, source and path from the control node's
    table (clix_unplatform.labpc_pulls), the PC's result only saying which installs and parts exist.
    An install that does not pass becomes an item failed with the reason, pulling nothing."""
    items, problems = clix_unplatform.labpc_pulls(installs, pc, staging, asset_content)
    name = clix_unplatform.pc_relpath(pc)
    items += [{"name": name, "src": "", "dest": name, "kind": "file", "error": problem} for problem in problems]
    return items


def clix_labpc_item(pulled: list, found: dict | None, pc: str) -> dict:
    """The lab PC's one manifest and report item, unplatform/<pc>, from its pulls: the worst status,
    the sums, and details (design: installs with their version, sessions, JSON files, torn files;
    config.json's values)."""
    pulled, found = pulled or [], found or {}
    installs = []
    for install in found.get("installs") if isinstance(found.get("installs"), list) else []:
        try:  # the PC's result is data: an install that does not pass was reported by clix_labpc_pull_items
            label = clix_unplatform.labpc_install_label(install)
        except clix_unplatform.UnplatformError:
            continue
        prefix = clix_unplatform.pc_relpath(pc, label)
        mine = [r for r in pulled if r["name"].startswith(prefix + "/")]
        entry = {k: install.get(k) for k in ("path", "layout", "version", "version_source", "sessions", "user_data")}
        notes = install.get("notes") if isinstance(install.get("notes"), list) else []
        entry.update(label=label, notes=[clix_identity.shown(note, 500) for note in notes])
        entry.update(json_files=sum(r.get("json_files") or 0 for r in mine),
                     source_files=sum(r.get("source_files") or 0 for r in mine),
                     torn=[r["name"][len(prefix) + 1:] + "/" + rel for r in mine for rel in r.get("torn") or []],
                     merged=next((r["sessions"] for r in mine if r.get("sessions")), None))
        installs.append(entry)
    statuses = {r["status"] for r in pulled}
    status = FAILED if FAILED in statuses else OK if installs else ABSENT
    reasons = ["%s: %s" % (r["name"], r["reason"]) for r in pulled if r.get("reason")]
    reasons += ["%s: %s" % (i["label"], note) for i in installs for note in i["notes"] or []]
    if not installs:
        reasons.append("no unplatform install found on the lab PC")
    return {"name": clix_unplatform.pc_relpath(pc), "status": status, "reason": "; ".join(reasons) or None,
            "source": ", ".join(clix_identity.shown(i["path"]) for i in installs) or None,
            "bytes_received": sum(r.get("bytes_received") or 0 for r in pulled),
            "total_bytes": sum(r.get("total_bytes") or 0 for r in pulled),
            "files_transferred": sum(r.get("files_transferred") or 0 for r in pulled),
            "seconds": max([r.get("seconds") or 0 for r in pulled] or [0]),
            "skipped_links": [link for r in pulled for link in r.get("skipped_links") or []],
            "details": {"installs": installs, "config": found.get("config")}}


def clix_lab_pcs(hostvars_list: list) -> list:
    """The clix_pc of each lab PC (clix_platform: unplatform) among the hosts' variables, sorted:
    given a school's server-id group from the inventory, that school's lab PCs, in the play or not
    (a value that can name no lab PC's folder names none)."""
    return sorted({hv["clix_pc"] for hv in hostvars_list if hv.get("clix_platform") == clix_inventory.UNPLATFORM
                   and isinstance(hv.get("clix_pc"), str) and clix_unplatform.PC.fullmatch(hv["clix_pc"])})


def clix_labpc_schools(lab_pcs: list) -> dict:
    """{school folder: {state, school_name, pcs}} of the lab PCs ({host, groups, school_code, school_name,
    pc}) that pass the inventory's rules: the schools an ingest may name."""
    schools: dict = {}
    for pc in clix_inventory.lab_pc_identities(lab_pcs):
        school = schools.setdefault(pc["folder"], {"state": pc["state"], "school_name": pc["school_name"], "pcs": []})
        school["pcs"] = sorted(school["pcs"] + [pc["pc"]])
    return dict(sorted(schools.items()))


def clix_folder_writers(hostvars_list: list, root: str) -> list:
    """The hosts that collected into the school folder root (a server and its lab PCs, or the lab
    PCs of a school without one): the server first, then the lab PCs by name. The first one seals
    the folder, once, with every writer's items."""
    writers = [hv for hv in hostvars_list if hv.get("clix_school_root") == root]
    writers.sort(key=lambda hv: (hv.get("clix_platform", "gstudio") == "unplatform", hv["inventory_hostname"]))
    return [hv["inventory_hostname"] for hv in writers]


def clix_failure_problem(failed_result, default: str) -> str:
    """Why a host's block failed, for its row of the report: the failed task's message (of a loop, its
    first failed item's; default when it has none), marked unreachable when Ansible could not reach the
    host. A failure shared from a run_once task, or an unreachable host, comes without
    ansible_failed_task or its result."""
    failed_result = failed_result or {}
    prefix = "unreachable: " if failed_result.get("unreachable") else ""
    # A loop's failure says "One or more items failed": its first failed item's message says why.
    for result in failed_result.get("results") or []:
        if isinstance(result, dict) and result.get("failed") and result.get("msg"):
            return "%s%s" % (prefix, result["msg"])
    return "%s%s" % (prefix, failed_result.get("msg", default))


def clix_failure_status(failed_result, failed_task, connect_actions: list) -> str:
    """The row's status: unreachable when the host failed in the task that waits for it (connect_actions;
    not when it answered and its private Python's install failed) or Ansible could not reach it, else failed."""
    failed_result = failed_result or {}
    waited = (failed_task or {}).get("action", "") in connect_actions and not failed_result.get("install_failed")
    return "unreachable" if waited or failed_result.get("unreachable") else "failed"


def clix_host_items(host_vars: dict) -> list:
    """A host's items for its school's manifest and the report: a lab PC's one item (clix_pulled, set by
    labpc.yml or the rescue); a server's, what its pull returned and its derived step (clix_server)."""
    if host_vars.get("clix_pulled"):
        return list(host_vars["clix_pulled"])
    pulled = (host_vars.get("clix_pull_result") or {}).get("items")
    if pulled is None:  # no pull: the host failed before it, or its pull did
        return []
    derived = host_vars.get("clix_derived_item")
    return list(pulled) + ([derived] if derived else [])


def clix_layout_school_root(root: str, year, state: str, folder: str) -> str:
    """<root>/<YYYY>/<state>/<code>-<id> (clix_layout.school_root)."""
    return clix_layout.school_root(root, year, state, folder)


def clix_layout_quarantine_root(root: str, year, state: str, folder: str) -> str:
    """<root>/quarantine/<YYYY>/<state>/<code>-<id>, folder being the inventory's (clix_layout)."""
    return clix_layout.quarantine_root(root, year, state, folder)


def clix_layout_replaced_root(root: str, moment: str, year, state: str, folder: str) -> str:
    """<root>/replaced/<moment as YYYYMMDDTHHMMSSZ>/<YYYY>/<state>/<code>-<id> (clix_layout.replaced_root)."""
    return clix_layout.replaced_root(root, clix_layout.history_stamp(moment), year, state, folder)


def clix_layout_derived_root(root: str, year, state: str, folder: str) -> str:
    """<root>/derived/<YYYY>/<state>/<code>-<id> (clix_layout.derived_root)."""
    return clix_layout.derived_root(root, year, state, folder)


def clix_layout_year_root(root: str, year) -> str:
    """<root>/<YYYY>: the year's collected schools (clix_layout.year_root)."""
    return clix_layout.year_root(root, year)


def clix_layout_reports_dir(root: str) -> str:
    """<root>/reports (clix_layout.reports_dir)."""
    return clix_layout.reports_dir(root)


def clix_results(hostvars_list: list) -> list:
    """Each host's row of the report: the clix_result it recorded (derive_archive.yml, a lab PC's heartbeat),
    else, once it was sealed (main.yml's end), its row built from its facts (clix_result_row); a host whose
    play broke before either still gets a row, failed, saying so."""
    out = []
    for hv in hostvars_list:
        result = hv.get("clix_result")
        sealed = hv.get("clix_sealed")
        if not result and sealed is not None and not sealed.get("failed"):
            result = clix_result_row(hv)
        if not result:
            result = {"host": hv["inventory_hostname"], "folder": hv["inventory_hostname"], "items": [],
                      "problem": "the play stopped for this school before it recorded a result (see the output above)",
                      "problem_status": "failed"}
        out.append(result)
    return out


def clix_result_row(hv: dict) -> dict:
    """A host's row after main.yml: where it went (the inventory check's word on it), its heartbeat, its
    problem (what failed, else its identity mismatch) and its items (clix_host_items). A lab PC is its own
    row (host <code>-<id>-<pc>) beside its school's server."""
    host = hv["inventory_hostname"]
    school = hv.get("clix_school") or hv["clix_inventory"]["schools"][host]
    identity = hv.get("clix_identity") or ""
    labpc = hv.get("clix_platform") == "unplatform"
    return {"host": host, "row": host if labpc else school["folder"], "folder": school["folder"],
            "state": school["state"], "server_id": school["server_id"], "school_code": hv.get("school_code"),
            "school_name": hv.get("school_name", ""), "heartbeat": hv.get("clix_heartbeat"),
            "problem": hv.get("clix_problem") or identity,
            "problem_status": hv.get("clix_problem_status", "identity mismatch" if identity else FAILED),
            "items": clix_host_items(hv)}


def clix_school_hosts(schools: dict, folder: str, play_hosts: list) -> list:
    """The hosts of the play that the inventory check (its `schools`: host -> identity) puts in the school
    folder `folder`: its server first (<code>-<id> sorts before its lab PCs' <code>-<id>-<pc>), then its lab
    PCs, by name."""
    return sorted(host for host, school in schools.items() if school["folder"] == folder and host in play_hosts)


def clix_derive_result(hostvars: dict, check_mode: bool = False, label: str = "derived") -> dict:
    """The host's row of the run report after derive_archive.yml (derive.yml -e derive_from=archive), from
    the facts it set: the school's one derived item, labelled `label` - ok (with the lab PCs' files that
    clix-derive rejected), failed (clix-derive's last line, or what of the school was not collected), or
    skipped (check mode, or the school derived by another of its hosts)."""
    me, by = hostvars["inventory_hostname"], hostvars["clix_derive_by"]
    run = hostvars.get("clix_derive_run") or {}
    summary = _derive_summary(run)
    problem = _derive_problem(hostvars, run) if by == me else ""
    if problem or by != me:
        reason = problem or "derived with %s" % by
    elif check_mode:
        reason = "check mode: would write into %s" % hostvars["clix_derived_dir"]
    else:
        reason = _derive_rejects(summary, run)
    school = hostvars["clix_school"]
    return {"host": me, "folder": school["folder"], "state": school["state"], "server_id": school["server_id"],
            "school_code": hostvars.get("school_code"), "school_name": hostvars.get("school_name") or "",
            "problem": problem, "problem_status": FAILED,
            "items": [{"name": label, "status": FAILED if problem else SKIPPED if check_mode or by != me else OK,
                       "reason": reason, "source": hostvars["clix_school_root"],
                       "bytes_received": summary.get("bytes", 0), "total_bytes": summary.get("bytes", 0),
                       "files_transferred": summary.get("files", 0), "seconds": summary.get("seconds", 0)}]}


def _derive_summary(run: dict) -> dict:
    """clix-derive's summary, its last line of output (JSON), when it succeeded."""
    lines = run.get("stdout_lines") or []
    if run.get("rc") != 0 or not lines:
        return {}
    try:
        summary = json.loads(lines[-1])
    except ValueError:
        return {}
    return summary if isinstance(summary, dict) else {}


def _derive_problem(hostvars: dict, run: dict) -> str:
    root = hostvars["clix_school_root"]
    if run.get("rc", 0) != 0:
        return (run.get("stderr") or "").strip().split("\n")[-1] or "clix-derive failed"
    if hostvars.get("clix_derive_server") and not hostvars.get("clix_collected_db"):
        return "not collected: %s/%s is missing (run collect.yml first)" % (root, clix_layout.GSTUDIO_DB)
    if not (hostvars.get("clix_collected_db") or hostvars.get("clix_collected_lab")):
        return "not collected: %s holds neither %s nor %s/ (run collect.yml first)" % (
            root, clix_layout.GSTUDIO_DB, clix_unplatform.ARCHIVE_TOP)
    return ""


def _derive_rejects(summary: dict, run: dict) -> str:
    """The lab PCs' files clix-derive rejected (a torn JSON file, a link), left out of the derived data: how
    many, and the first five of its lines naming them."""
    pcs = (summary.get("unplatform") or {}).get("pcs") or {}
    rejected = sum(pc.get("rejects", 0) for pc in pcs.values())
    if not rejected:
        return ""
    named = [line.replace("clix-derive: ", "", 1) if line.startswith("clix-derive: ") else line
             for line in run.get("stderr_lines") or [] if ": rejected " in line]
    return "%d file(s) of lab PCs rejected, left out: %s" % (rejected, "; ".join(named[:5]))


def clix_written(lines: list, files=None) -> str:
    """A result's lines as a run shows them at its end, then a `written: <file>` line per file it wrote."""
    return "\n".join([*lines, *("written: %s" % f for f in files or [])])


# What the clix-derive image carries (containers/derive/Dockerfile copies the same), relative to
# the checkout: its digest labels the image, so a stale image is told from a current one.
# What containers/derive/Dockerfile copies into the image (and .dockerignore lets through).
DERIVE_SOURCES = ("clix_derive", "clix_imports.py", "module_utils/clix_files.py", "module_utils/clix_identity.py",
                  "module_utils/clix_layout.py", "module_utils/clix_settings.py", "module_utils/clix_unplatform.py",
                  "containers/derive/requirements.txt")


def clix_layout_pg_dump(folder: str) -> str:
    """The PostgreSQL dump's file in the postgres-dump item's folder (clix_layout.PG_DUMP)."""
    return "%s/%s" % (folder.rstrip("/"), clix_layout.PG_DUMP)


def clix_source_digest(paths) -> str:
    """A short digest of the .py files of folders (sorted by name) and of single files, in the
    order given: what a container image was built from."""
    digest = hashlib.sha256()
    for path in [paths] if isinstance(paths, str) else paths:
        files = ([os.path.join(path, n) for n in sorted(os.listdir(path)) if n.endswith(".py")]
                 if os.path.isdir(path) else [path])
        for name in files:
            digest.update(os.path.basename(name).encode() + b"\0")
            if os.path.exists(name):  # a tree without one of them still gets a digest (unit tests)
                with open(name, "rb") as f:
                    digest.update(f.read())
    return digest.hexdigest()[:16]


def clix_derive_digest(repo_root: str) -> str:
    """The digest of the clix-derive image's sources in this checkout."""
    return clix_source_digest([os.path.join(repo_root, p) for p in DERIVE_SOURCES])


def clix_push_item(item: dict, chmod: str, owner: str | None = None, group: str | None = None) -> dict:
    """An item of clix_restore_source's plan as clix_push takes it: from its folder in the archive to
    its place on the server, with the owner, group and modes it gets there."""
    pushed = {"name": item["name"], "src": item["archive"], "dest": item["server"], "chmod": chmod}
    pushed.update({k: v for k, v in (("owner", owner), ("group", group)) if v})
    return pushed


def clix_labpc_restore_items(installs: list) -> list:
    """A lab PC's restore plan (clix_unplatform_export's installs) as the report's items: each install's
    sessions database (restore: sessions) and each folder pushed (restore: folder)."""
    items = []
    for install in installs:
        db = install.get("database")
        if db:
            items.append({"name": db["name"], "restore": "sessions", "files": 1, "bytes": db["size"],
                          "sessions": db["sessions"]})
        items += [{"name": p["name"], "restore": "folder", "files": p["files"], "bytes": p["bytes"]}
                  for p in install["parts"]]
    return items


def clix_labpc_push_items(installs: list, targets: list) -> list:
    """clix_push items of a lab PC's restore: each archived part of each install (clix_unplatform_export)
    to its place in the PC's install, with the owner, group and modes clix_unplatform_restore found there."""
    where = {t["label"]: t["parts"] for t in targets}
    out = []
    for install in installs:
        for part in install["parts"]:
            there = where[install["label"]][part["rel"]]
            out.append({"name": part["name"], "src": part["archive"], "dest": there["path"], "chmod": there["chmod"],
                        "owner": there["owner"], "group": there["group"]})
    return out


def clix_restore_results(hostvars_list: list, check_mode: bool = False) -> list:
    """Each school's restore as a row of clix_report (school x item): an item of the plan with the
    result of its push (a folder) or of clix_restore (a dump), an item left out as skipped with why;
    in a check run, each item of the plan with what would be written."""
    out = []
    for hv in hostvars_list:
        school = hv.get("clix_school") or {}
        plan = hv.get("clix_restore_source_result") or {}
        pushed = {i["name"]: i for i in (hv.get("clix_push_folders_result") or {}).get("items") or []}
        loaded = hv.get("clix_restore_result") or {}
        copied = {r["item"]["name"]: r for r in (hv.get("clix_restore_settings_result") or {}).get("results") or []}
        items = []
        for item in plan.get("items") or []:
            if item["restore"] == "settings" and item["name"] in copied and not check_mode:
                done = copied[item["name"]]
                items.append({"name": item["name"], "status": "failed" if done.get("failed") else "ok",
                              "files_transferred": int(bool(done.get("changed"))), "total_bytes": item["bytes"],
                              "bytes_received": item["bytes"] if done.get("changed") else 0, "reason": done.get("msg")})
            elif check_mode or (item["restore"] in ("mongodb", "postgres", "sessions") and loaded and not loaded.get("skipped")):
                items.append({"name": item["name"], "status": "failed" if loaded.get("failed") else "ok",
                              "files_transferred": item["files"], "total_bytes": item["bytes"],
                              "bytes_received": item["bytes"], "seconds": loaded.get("seconds"),
                              "reason": loaded.get("msg") if loaded.get("failed") else None})
            elif item["name"] in pushed:
                items.append(dict(pushed[item["name"]], bytes_received=pushed[item["name"]]["bytes_sent"]))
        items += [{"name": i["name"], "status": "skipped", "reason": i["reason"]} for i in plan.get("left_out") or []]
        problem = hv.get("clix_problem") or ""
        # A lab PC is its own row, beside its school's server (as in collect's report).
        row = hv["inventory_hostname"] if hv.get("clix_platform") == "unplatform" else school.get("folder")
        out.append({"host": hv["inventory_hostname"], "folder": row or hv["inventory_hostname"],
                    "school_name": hv.get("school_name") or "", "problem": problem,
                    "problem_status": "failed", "items": items})
    return out


def clix_restore_outcomes(hostvars_list: list, check_mode: bool = False, failed: bool = False) -> list:
    """`<host>: <outcome>` of each host after restore.yml: why it failed, `not reached` (its play broke
    first), or restored (would be, under --check); only the failed hosts' lines when `failed`."""
    done = "would be restored (--check)" if check_mode else "restored"
    out = []
    for hv in hostvars_list:
        problem = hv.get("clix_problem", "not reached")
        if problem or not failed:
            out.append("%s: %s" % (hv["inventory_hostname"], problem or done))
    return out


def clix_report_matrix(table: list) -> list:
    """clix_report's table up to its legend (the first `cells: ` line), without the reasons after it."""
    for i, line in enumerate(table):
        if line.startswith("cells: "):
            return table[:i + 1]
    return list(table)


class FilterModule:
    def filters(self) -> dict:
        return {
            "clix_school_entry": clix_school_entry,
            "clix_selected": clix_selected,
            "clix_pull_items": clix_pull_items,
            "clix_push_item": clix_push_item,
            "clix_layout_pg_dump": clix_layout_pg_dump,
            "clix_identity_problem": clix_identity.server_identity_problem,
            "clix_server_claims": clix_identity.server_claims,
            "clix_layout_school_root": clix_layout_school_root,
            "clix_layout_quarantine_root": clix_layout_quarantine_root,
            "clix_layout_derived_root": clix_layout_derived_root,
            "clix_layout_replaced_root": clix_layout_replaced_root,
            "clix_layout_year_root": clix_layout_year_root,
            "clix_layout_reports_dir": clix_layout_reports_dir,
            "clix_results": clix_results,
            "clix_school_hosts": clix_school_hosts,
            "clix_derive_result": clix_derive_result,
            "clix_written": clix_written,
            "clix_restore_results": clix_restore_results,
            "clix_restore_outcomes": clix_restore_outcomes,
            "clix_report_matrix": clix_report_matrix,
            "clix_labpc_claims": clix_identity.labpc_claims,
            "clix_labpc_identity_problem": clix_identity.labpc_identity_problem,
            "clix_labpc_pull_items": clix_labpc_pull_items,
            "clix_labpc_item": clix_labpc_item,
            "clix_labpc_item_name": clix_unplatform.pc_relpath,
            "clix_labpc_restore_items": clix_labpc_restore_items,
            "clix_labpc_push_items": clix_labpc_push_items,
            "clix_lab_pcs": clix_lab_pcs,
            "clix_folder_writers": clix_folder_writers,
            "clix_host_items": clix_host_items,
            "clix_failure_problem": clix_failure_problem,
            "clix_failure_status": clix_failure_status,
            "clix_labpc_schools": clix_labpc_schools,
            "clix_source_digest": clix_source_digest,
            "clix_derive_digest": clix_derive_digest,
        }
