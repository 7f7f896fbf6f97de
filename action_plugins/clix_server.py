"""The work on a school server, in one task: clix_heartbeat, then the identity check on this control
node, then clix_mongodump, clix_pg_dumpall, clix_git_snapshot and clix_gstudio_derive for the
selected items, the pull (clix_pull, on this control node: the folders no step writes while the steps
run, the rest after them) and the staging folder's removal (library/clix_server.py documents it).

Each step was a task of its own; the modules stay as they are (each one job, each run on the server
the usual way, its progress shown by clix_watched). What the single task saves is Ansible's
bookkeeping per task and host (a worker, the templating of every variable, the callbacks), which
made most of the control node's CPU per school. A step's failure is recorded in its result, as
ignore_errors recorded it, and never stops the next step.
"""

from __future__ import annotations

import importlib.util
import posixpath
import shlex
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.utils.display import Display

# The identity rules have one owner, module_utils/clix_identity.py, imported as the modules do
# (clix_imports.py, at the checkout's root).
sys.path.append(str(Path(__file__).resolve().parents[1]))
import clix_imports

clix_imports.use()
from ansible.module_utils import clix_identity  # noqa: E402
from ansible.module_utils.clix_manifest import ABSENT, FAILED, OK, SKIPPED  # noqa: E402


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_HERE = Path(__file__).resolve()
clix_watched = _load("clix_watched_action", _HERE.with_name("clix_watched.py"))
clix_inprocess = _load("clix_inprocess_action", _HERE.with_name("clix_inprocess.py"))
clix_filters = _load("clix_filters_for_server", _HERE.parents[1] / "filter_plugins" / "clix.py")
display = Display()

# The steps after the heartbeat: (the producer of the selected item it writes - the item's src is its dest -
# or, for the derived data that writes no item of its own, the tag that selects it; module; fact of its result).
STEPS = (("db", "clix_mongodump", "clix_db_result"),
         ("postgres", "clix_pg_dumpall", "clix_postgres_result"),
         ("git", "clix_git_snapshot", "clix_git_result"),
         ("analytics", "clix_gstudio_derive", "clix_derived_result"))
DERIVE_TAG = "analytics"
STEP_PRODUCERS = tuple(producer for producer, _, _ in STEPS if producer != DERIVE_TAG)
NOT_RUN = {"skipped": True, "changed": False, "skip_reason": "the item is not selected"}
# A missing or stopped gStudio container is an expected condition: a status in the report, not an error.
NO_CONTAINER = ("absent", "stopped")
# An item in one of these states leaves nothing on the server to pull again: its staging folder can go.
DONE = (OK, ABSENT, SKIPPED)


def produced_at(items: list, producer: str) -> str | None:
    """Where the step that produces a selected item writes on the server: the item's src (clix_items, the one
    place an item's source, staging path and archive path are written); None when no selected item is its."""
    for item in items:
        if item.get("producer") == producer:
            return item["src"].rstrip("/")
    return None


def step_args(name: str, args: dict, dest: str | None) -> dict:
    """A step's options as the role gives them, with the dest its item chose (pg_dumpall's: the file in it)."""
    if not dest:
        return dict(args)
    return dict(args, dest=clix_filters.clix_layout_pg_dump(dest) if name == "clix_pg_dumpall" else dest)


def derived_item(result: dict, derive: dict, check_mode: bool) -> dict:
    """The report's and manifest's item for the derived-data step on the server."""
    commands = result.get("commands") or []
    if result.get("container_state", "") in NO_CONTAINER or result.get("failed"):
        status = SKIPPED if result.get("container_state", "") in NO_CONTAINER else FAILED
        reason = result.get("msg", "")
    elif check_mode:
        status, reason = SKIPPED, "check mode: would run " + ", ".join(c["name"] for c in commands)
    else:
        status, reason = OK, ""
    return {"name": "derived (gStudio container)", "status": status, "reason": reason,
            "source": "%s exec %s: %s" % (derive["runtime"], derive["container"],
                                          ", ".join(list(derive["commands"]) + list(derive.get("users") or []))),
            "bytes_received": 0, "total_bytes": 0, "files_transferred": len(commands),
            "seconds": sum(c.get("seconds", 0) for c in commands)}


def after_steps(item: dict, args: dict, derive: bool) -> bool:
    """Whether a selected item is pulled once the steps after the heartbeat have ended: it holds what one
    of them writes (a dump, the git state, the derived data or its log), or it is a single file (settings:
    small, it shares the git log's rsync). The other folders are pulled while the steps run."""
    if item.get("producer") in STEP_PRODUCERS or item.get("kind") == "file":
        return True
    if not derive:
        return False
    log_dir = posixpath.normpath((args.get("clix_gstudio_derive") or {}).get("log_dir") or ".")
    src = posixpath.normpath(item["src"] or ".")  # the server's paths, as the role wrote them
    return item.get("tag") == DERIVE_TAG or (src != "." and (log_dir + "/").startswith(src.rstrip("/") + "/"))


def joined(parts: list, late: list) -> dict:
    """One result of the pull beside the steps and the pull after them: the items in the order they were
    selected (late says which came after); a failed part instead, as a failed pull returns no items."""
    failed = [part for part in parts if part.get("failed")]
    if failed:
        return failed[0]
    beside = iter(parts[0].get("items") or [])
    following = iter(parts[1].get("items") or []) if len(parts) > 1 else iter(())
    out = dict(changed=any(part.get("changed") for part in parts),
               items=[next(following if after else beside) for after in late],
               bytes_received=sum(part.get("bytes_received", 0) for part in parts),
               total_bytes=sum(part.get("total_bytes", 0) for part in parts))
    warnings = [w for part in parts for w in part.get("warnings") or []]
    return dict(out, warnings=warnings) if warnings else out


class ActionModule(clix_watched.ActionModule):
    _supports_check_mode = True
    _supports_async = False
    # ActionBase.run refuses any other option (a misspelt one is an error, not silently ignored); the
    # sub-dicts are checked by the modules they are given to.
    _VALID_ARGS = frozenset(("items", "identity", "heartbeat", *(name for _, name, _ in STEPS), "pull",
                             "progress_seconds", "derive_on_server", "remove_staging"))

    def run(self, tmp: str | None = None, task_vars: dict | None = None) -> dict:
        result = super(clix_watched.ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        items = list(args.get("items") or [])
        heartbeat = self._execute_module("clix_heartbeat", step_args("clix_heartbeat", args["heartbeat"],
                                                                     produced_at(items, "heartbeat")),
                                         task_vars=task_vars)
        heartbeat.pop("invocation", None)
        if heartbeat.get("failed"):
            return dict(result, **heartbeat)
        facts = self.identity(heartbeat.pop("ansible_facts", {}).get("clix_heartbeat"), args["identity"], task_vars)
        facts["clix_heartbeat_result"] = heartbeat
        derive = (boolean(args.get("derive_on_server", True), strict=False)  # "-e ...=false" is a string
                  and any(item.get("tag") == DERIVE_TAG for item in items))
        late = [after_steps(item, args, derive) for item in items]
        pull = clix_inprocess.prepared(self, "clix_pull", task_vars) if "pull" in args else None
        # The folders no step writes are pulled while the steps run, on a thread of its own (the steps use
        # the task's connection, the pull its own rsync): on a school's slow link, the media's transfer
        # takes the dumps' time.
        with ThreadPoolExecutor(max_workers=1) as beside:
            early = pull and beside.submit(self.pull_some, pull, args, [i for i, x in zip(items, late) if not x], facts)
            changed = self.steps(args, items, derive, facts, task_vars) | bool(heartbeat.get("changed"))
            parts = [early.result()] if early else []
        if not pull:
            return dict(result, changed=changed, ansible_facts=facts)
        if any(late) and not parts[0].get("failed"):
            parts.append(self.pull_some(pull, args, [i for i, x in zip(items, late) if x], facts))
        facts["clix_pull_result"] = pulled = joined(parts, late)
        changed |= bool(pulled.get("changed"))
        failed = (pulled.get("msg") or "the pull failed") if pulled.get("failed") else self.remove_staging(args, facts)
        if failed:
            # The task fails as the pull's own task did; the rescue keeps these facts (main.yml).
            return dict(result, failed=True, msg=failed, changed=changed, ansible_facts=facts)
        return dict(result, changed=changed, ansible_facts=facts)

    def steps(self, args: dict, items: list, derive: bool, facts: dict, task_vars: dict | None) -> bool:
        """The steps after the heartbeat for the selected items, each result in facts; whether any changed."""
        seconds = int(args.get("progress_seconds", 60) or 0)
        changed = False
        for producer, name, fact in STEPS:
            dest = produced_at(items, producer)
            if name not in args or not (derive if producer == DERIVE_TAG else dest):
                facts[fact] = dict(NOT_RUN)
                continue
            step = self._execute_watched(name, step_args(name, args[name], dest), task_vars, seconds)
            step.pop("invocation", None)
            if name == "clix_gstudio_derive" and step.get("container_state") in NO_CONTAINER:
                step["failed"] = False  # no gStudio container (or a stopped one): a status in the report
            changed |= bool(step.get("changed"))
            facts[fact] = step
        if not facts["clix_derived_result"].get("skipped"):
            facts["clix_derived_item"] = derived_item(facts["clix_derived_result"], args["clix_gstudio_derive"],
                                                      bool(self._task.check_mode))
        return changed

    @staticmethod
    def pull_some(pull: Callable[[dict], dict], args: dict, items: list, facts: dict) -> dict:
        """clix_pull of these items into the folder the identity chose (in this worker, clix_inprocess)."""
        options = dict(args["pull"])
        # A producer's result is its step's: a failed dump's item carries its error (clix_pull_items).
        options["items"] = clix_filters.clix_pull_items(items, facts, options.pop("lab_pcs", None) or [])
        options["root"] = facts["clix_school_root"]
        try:
            pulled = pull(options)
        except Exception as exc:  # as when it was a task of its own: its message the failure, the facts kept
            pulled = {"failed": True, "msg": "clix_pull: %s" % exc}
        pulled.pop("invocation", None)
        return pulled

    def remove_staging(self, args: dict, facts: dict) -> str:
        """The staging folder removed from the server when every item is done; what failed ('' when nothing)."""
        items = list(facts["clix_pull_result"].get("items") or []) + ([facts["clix_derived_item"]]
                                                                       if "clix_derived_item" in facts else [])
        if not boolean(args.get("remove_staging", True), strict=False) or any(i.get("status") not in DONE for i in items):
            return ""
        if self._play_context.check_mode:
            return ""
        staging = args["heartbeat"]["staging_dir"]
        # One command, not the file module (whose payload each worker builds again): a link is removed, not followed.
        try:
            removed = self._low_level_execute_command("rm -rf -- %s" % shlex.quote(staging), sudoable=False)
        except AnsibleConnectionFailure as exc:  # failed, not unreachable: the pull's facts must reach the rescue
            return "the host stopped answering: %s" % exc
        if removed["rc"] != 0:
            return "could not remove the staging folder %s: %s" % (staging, removed["stderr"].strip()[-300:])
        return ""

    def identity(self, heartbeat: dict | None, identity: dict, task_vars: dict | None) -> dict:
        """The server's identity against the inventory's, and the school folder it goes into (its
        quarantine folder on a mismatch): the server's values are data, checked and compared, never
        used to name anything."""
        problem = clix_identity.server_identity_problem(heartbeat, identity["server_id"], identity["school_code"])
        root = identity["quarantine_root"] if problem else identity["school_root"]
        if problem:
            display.warning("%s: %s -> %s" % ((task_vars or {}).get("inventory_hostname", ""), problem, root))
        return {"clix_heartbeat": heartbeat, "clix_identity": problem, "clix_school_root": root,
                "clix_server_says": clix_identity.server_claims(heartbeat)}
