# SPDX-License-Identifier: GPL-3.0-or-later
"""Small pure functions the clix playbooks use in templates."""

from __future__ import annotations

import hashlib
import os


def clix_school_entry(hostvars: dict) -> dict:
    """What the inventory check needs of one host's variables."""
    return {
        "host": hostvars["inventory_hostname"],
        "groups": list(hostvars.get("group_names", [])),
        "school_code": hostvars.get("school_code"),
        "school_name": hostvars.get("school_name"),
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


def clix_pull_items(items: list, producers: dict) -> list:
    """Items for clix_pull: a snapshot carries the checksums its producer reported; an item whose
    producer failed carries the producer's error instead (it is reported, not pulled)."""
    out = []
    for item in items:
        entry = {k: item[k] for k in ("name", "src", "dest")}
        entry["kind"] = item.get("kind", "folder")
        entry["redact"] = bool(item.get("redact", False))
        result = producers.get(item.get("producer")) if item.get("producer") else None
        if result and not result.get("skipped"):
            if result.get("failed") or result.get("unreachable"):
                entry["error"] = result.get("msg") or "the producing task failed"
            elif entry["kind"] == "snapshot":
                entry["expect"] = result.get("files") or {}
        out.append(entry)
    return out


def clix_identity_problem(facts: dict, server_id: str, school_code: str) -> str:
    """Why the server's own server_settings.py does not match the inventory ('' when it does).
    School codes compare without leading zeros: the field team writes 2031001 and 02031001."""
    if not facts or facts.get("settings_error"):
        return "identity unknown: %s" % ((facts or {}).get("settings_error") or "no heartbeat")
    theirs = (facts.get("server_id"), str(facts.get("school_code") or "").lstrip("0"))
    ours = (server_id, str(school_code).lstrip("0"))
    if theirs != ours:
        return ("identity mismatch: the inventory says %s-%s but the server's server_settings.py says %s-%s "
                "(%s); collected into quarantine" % (school_code, server_id, facts.get("school_code"),
                                                      facts.get("server_id"), facts.get("school_name")))
    return ""


def clix_results(hostvars_list: list) -> list:
    """Each school's clix_result; a school whose play broke before it recorded one still gets a row."""
    out = []
    for hv in hostvars_list:
        result = hv.get("clix_result")
        if not result:
            result = {"host": hv["inventory_hostname"], "folder": hv["inventory_hostname"], "items": [],
                      "problem": "the play stopped for this school before it recorded a result (see the output above)",
                      "problem_status": "failed"}
        out.append(result)
    return out


def clix_source_digest(folder: str) -> str:
    """A short digest of the .py files of a folder (sorted by name): what a container image was
    built from, to tell a stale image from a current one."""
    digest = hashlib.sha256()
    for name in sorted(n for n in os.listdir(folder) if n.endswith(".py")):
        with open(os.path.join(folder, name), "rb") as f:
            digest.update(name.encode() + b"\0" + f.read())
    return digest.hexdigest()[:16]


class FilterModule:
    def filters(self) -> dict:
        return {
            "clix_school_entry": clix_school_entry,
            "clix_selected": clix_selected,
            "clix_pull_items": clix_pull_items,
            "clix_identity_problem": clix_identity_problem,
            "clix_results": clix_results,
            "clix_source_digest": clix_source_digest,
        }
