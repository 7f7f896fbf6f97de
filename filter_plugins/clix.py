# SPDX-License-Identifier: GPL-3.0-or-later
"""Small pure functions the clix playbooks use in templates."""

from __future__ import annotations

import hashlib
import json
import os
import re

import ansible.module_utils
from ansible import constants as C
from ansible.errors import AnsibleFilterError

# The archive's layout has one owner, module_utils/clix_layout.py; filters import it the way the
# modules do (ansible.module_utils.clix_*), from the module_utils folders ansible.cfg names.
for _folder in C.DEFAULT_MODULE_UTILS_PATH:
    if _folder not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(_folder)
from ansible.module_utils import clix_layout  # noqa: E402

# What the inventory allows (clix_inventory): a server's claimed values are checked against it.
SERVER_ID = re.compile(r"[a-z]{2}[0-9]+")  # a state code and a number; sp<N> too (fullmatch)
SCHOOL_CODE = re.compile(r"[0-9]{7,8}|NA")
CLAIM_CHARS = 120


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


def clix_produced_at(items: list, producer: str) -> str:
    """Where a producer's module writes on the school server: its item's src in the item table (the
    one place an item's source, staging path and archive path are written), without the trailing /."""
    for item in items:
        if item.get("producer") == producer:
            return item["src"].rstrip("/")
    raise AnsibleFilterError("clix_items has no item with producer %s" % producer)


def clix_pull_items(items: list, host_vars: dict) -> list:
    """Items for clix_pull: a snapshot carries the checksums its producer reported (the result the
    producer's task registered as clix_<producer>_result); an item whose producer failed carries the
    producer's error instead (it is reported, not pulled)."""
    out = []
    for item in items:
        entry = {k: item[k] for k in ("name", "src", "dest")}
        entry["kind"] = item.get("kind", "folder")
        entry["redact"] = bool(item.get("redact", False))
        result = host_vars.get("clix_%s_result" % item["producer"]) if item.get("producer") else None
        if result and not result.get("skipped"):
            if result.get("failed") or result.get("unreachable"):
                entry["error"] = result.get("msg") or "the producing task failed"
            elif entry["kind"] == "snapshot":
                entry["expect"] = result.get("files") or {}
        out.append(entry)
    return out


def clix_server_claims(facts: dict) -> dict:
    """What the server's server_settings.py claims, as data for the manifest and the report: each
    value as a JSON string literal (quotes, control characters and non-ASCII escaped), cut to
    CLAIM_CHARS, and whether it passes the inventory's rules. None when the server gave none."""
    facts = facts or {}

    def literal(value) -> str | None:
        if value is None:
            return None
        text = json.dumps(str(value), ensure_ascii=True)
        return text if len(text) <= CLAIM_CHARS else text[:CLAIM_CHARS - 4] + '..."'

    server_id, code = facts.get("server_id"), facts.get("school_code")
    return {
        "server_id": literal(server_id),
        "school_code": literal(code),
        "school_name": literal(facts.get("school_name")),
        "server_id_valid": isinstance(server_id, str) and bool(SERVER_ID.fullmatch(server_id)),
        "school_code_valid": isinstance(code, str) and bool(SCHOOL_CODE.fullmatch(code)),
    }


def clix_identity_problem(facts: dict, server_id: str, school_code: str) -> str:
    """Why the server's own server_settings.py does not match the inventory ('' when it does).
    The server's values are data: they are checked against the inventory's rules, compared, and
    quoted (escaped) in the reason, never used to name anything. School codes compare without
    leading zeros: the field team writes 2031001 and 02031001."""
    if not facts or facts.get("settings_error"):
        return "identity unknown: %s" % ((facts or {}).get("settings_error") or "no heartbeat")
    claims = clix_server_claims(facts)
    invalid = [name for name, key in (("server id", "server_id"), ("school code", "school_code"))
               if not claims[key + "_valid"]]
    theirs = (facts.get("server_id"), str(facts.get("school_code") or "").lstrip("0"))
    if not invalid and theirs == (server_id, str(school_code).lstrip("0")):
        return ""
    what = ("identity invalid: the server's server_settings.py holds a %s that is not one (the inventory "
            "allows a server id like mz1 or sp3 and a school code of 7-8 digits or NA)" % " and a ".join(invalid)
            if invalid else "identity mismatch")
    return ("%s: the inventory says %s-%s but the server's server_settings.py says server id %s, school code %s, "
            "name %s; collected into quarantine" % (what, school_code, server_id, claims["server_id"],
                                                    claims["school_code"], claims["school_name"]))


def clix_school_root(root: str, year, state: str, folder: str) -> str:
    """<root>/<YYYY>/<state>/<code>-<id> (clix_layout.school_root)."""
    return clix_layout.school_root(root, year, state, folder)


def clix_quarantine_root(root: str, year, state: str, folder: str) -> str:
    """<root>/quarantine/<YYYY>/<state>/<code>-<id>, folder being the inventory's (clix_layout)."""
    return clix_layout.quarantine_root(root, year, state, folder)


def clix_derived_root(root: str, year, state: str, folder: str) -> str:
    """<root>/derived/<YYYY>/<state>/<code>-<id> (clix_layout.derived_root)."""
    return clix_layout.derived_root(root, year, state, folder)


def clix_year_root(root: str, year) -> str:
    """<root>/<YYYY>: the year's collected schools (clix_layout.year_root)."""
    return clix_layout.year_root(root, year)


def clix_reports_dir(root: str) -> str:
    """<root>/reports (clix_layout.reports_dir)."""
    return clix_layout.reports_dir(root)


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


# What the clix-derive image carries (containers/derive/Dockerfile copies the same), relative to
# the checkout: its digest labels the image, so a stale image is told from a current one.
DERIVE_SOURCES = ("clix_derive", "module_utils/clix_layout.py", "module_utils/clix_unplatform.py")


def clix_source_digest(paths) -> str:
    """A short digest of the .py files of folders (sorted by name) and of single files, in the
    order given: what a container image was built from."""
    digest = hashlib.sha256()
    for path in [paths] if isinstance(paths, str) else paths:
        files = ([os.path.join(path, n) for n in sorted(os.listdir(path)) if n.endswith(".py")]
                 if os.path.isdir(path) else [path])
        for name in files:
            with open(name, "rb") as f:
                digest.update(os.path.basename(name).encode() + b"\0" + f.read())
    return digest.hexdigest()[:16]


def clix_derive_digest(repo_root: str) -> str:
    """The digest of the clix-derive image's sources in this checkout."""
    return clix_source_digest([os.path.join(repo_root, p) for p in DERIVE_SOURCES])


class FilterModule:
    def filters(self) -> dict:
        return {
            "clix_school_entry": clix_school_entry,
            "clix_selected": clix_selected,
            "clix_pull_items": clix_pull_items,
            "clix_produced_at": clix_produced_at,
            "clix_identity_problem": clix_identity_problem,
            "clix_server_claims": clix_server_claims,
            "clix_school_root": clix_school_root,
            "clix_quarantine_root": clix_quarantine_root,
            "clix_derived_root": clix_derived_root,
            "clix_year_root": clix_year_root,
            "clix_reports_dir": clix_reports_dir,
            "clix_results": clix_results,
            "clix_source_digest": clix_source_digest,
            "clix_derive_digest": clix_derive_digest,
        }
