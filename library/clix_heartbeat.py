#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_heartbeat
short_description: Capture a school server's or lab PC's system heartbeat (identity, RAM, disks, uptime, processes, services)
description:
  - Captures what the field team's heartbeat holds, in that order - server id, school id (code),
    school name (read from gStudio's C(server_settings.py) with Python's C(ast), never executed),
    internal IP addresses, RAM (like C(free -h)), disks (like C(df -h)), uptime and processes
    (like C(ps aux)) - plus what ops need between collections - sizes of the data folders, load,
    whether gStudio's container, MongoDB and PostgreSQL answer, and the clock skew against the
    control node.
  - With O(dest), writes C(system-heartbeat-YYYYMMDD-HHMMSS.log) (human-readable) and a C(.json)
    twin with the same facts there, atomically. Always returns the facts as C(clix_heartbeat).
  - Never hangs - each disk is measured in a thread with a timeout (a stale network mount is
    reported as C(stale)), network filesystems are not measured, and folder sizes stop at a time budget.
  - With O(platform=unplatform), the heartbeat of an unplatform lab PC instead - no
    C(server_settings.py), MongoDB, PostgreSQL or container, but whether the app answers on the PC
    (qbank-lite, O(qbank_address); the unplatform UI, O(ui_address)) and the installs found at C(/opt/clix),
    O(unplatform_roots) and below O(unplatform_search) with their version (v2, v1) and data size. A symbolic link is
    never followed.
version_added: "0.1.0"
options:
  platform:
    description: What the host is - a gStudio school server or an unplatform lab PC.
    type: str
    choices: [gstudio, unplatform]
    default: gstudio
  unplatform_roots:
    description:
      - With O(platform=unplatform) - install roots checked besides C(/opt/clix) (version 2 on Ubuntu).
        A root counts when it holds version 2's or version 1's data files; an absent one is not an error.
      - The installs are found as C(clix_unplatform) finds them (the same search, in C(module_utils/clix_unplatform.py)),
        so the heartbeat sizes exactly the installs a collection takes - the role passes both modules the same values.
    type: list
    elements: path
    default: []
  unplatform_search:
    description: >-
      With O(platform=unplatform) - folders searched for version 1 installs (a folder holding
      C(unplatform/db.sqlite3), unzipped anywhere), without following links; O(staging_dir) is never looked into.
    type: list
    elements: path
    default: [/home, /opt, /root, /srv]
  unplatform_search_depth:
    description: With O(platform=unplatform) - how many folders deep below each of O(unplatform_search) a version 1 install may be.
    type: int
    default: 3
  qbank_address:
    description: With O(platform=unplatform) - host:port where the app's qbank-lite answers.
    type: str
    default: 127.0.0.1:8080
  ui_address:
    description: With O(platform=unplatform) - host:port where the app's unplatform UI answers.
    type: str
    default: 127.0.0.1:8888
  dest:
    description: Folder to write the heartbeat files into. Nothing is written when omitted.
    type: path
  server_settings:
    description: gStudio's server_settings.py on the host.
    type: path
    default: /home/core/code/gstudio/gnowsys-ndf/gnowsys_ndf/server_settings.py
  data_dir:
    description: Folder whose sub-folders' sizes are reported (C(du -hs /data/*) in gStudio's script).
    type: path
    default: /home/core/data
  mongo_address:
    description: host:port of MongoDB to probe.
    type: str
    default: 127.0.0.1:8017
  postgres_address:
    description: host:port of PostgreSQL to probe.
    type: str
    default: 127.0.0.1:8432
  container:
    description: Name of gStudio's container to look for.
    type: str
    default: gstudio
  container_runtime:
    description: Container command (C(docker) or C(podman)).
    type: str
    default: docker
  control_time:
    description: The control node's clock (seconds since the epoch) when the task started, for the skew.
    type: float
  clock_offset:
    description: Seconds added to this server's clock reading. A test aid that simulates a wrong clock; leave at 0.
    type: float
    default: 0
  timeout:
    description: Seconds any single probe (a disk, a service, folder sizes) may take.
    type: float
    default: 5
attributes:
  check_mode:
    details: >-
      Gathers the heartbeat and returns it as C(clix_heartbeat) as in a normal run; writes no files, even
      with O(dest).
  diff_mode:
    details: The files written are listed in RV(files).
requirements: [psutil]
extends_documentation_fragment:
  - clix_staging
  - clix_attributes
"""

EXAMPLES = r"""
- name: Heartbeat of every Mizoram school, ad hoc
  # ansible mz -m clix_heartbeat
  clix_heartbeat:

- name: Heartbeat of a lab PC - is the app running, how much data do its installs hold
  clix_heartbeat:
    platform: unplatform
    unplatform_roots: [/srv/CLIx]
    staging_dir: /opt/clix-collect/staging

- name: Heartbeat into the staging folder, with the clock skew against the control node
  clix_heartbeat:
    dest: /home/core/clix-collect-staging/system-heartbeat
    staging_dir: /home/core/clix-collect-staging
    control_time: "{{ now().timestamp() }}"
"""

RETURN = r"""
ansible_facts:
  description: The heartbeat as C(clix_heartbeat).
  returned: always
  type: dict
  contains:
    clix_heartbeat:
      description: >-
        Keys platform, server_id, school_code, school_name, hostname, addresses, memory, swap, disks,
        uptime_seconds, load, process_count, top_processes (the five largest by resident memory;
        the full C(ps aux) table is in the written files only), data_dirs, services (mongodb,
        postgresql, container), clock_skew_seconds, captured_at, worst_disk_percent. A lab PC's
        (O(platform=unplatform)) has no server_id, school_code, school_name or data_dirs; its
        services are qbank_lite and unplatform (each true when it answers), and it adds installs
        (per install path, version, bytes, files, complete - false when the time budget ended the
        count), install_search (null, or why the search for installs gave none - C(stale) when it did
        not end within O(timeout)) and data_bytes (their sum).
      type: dict
files:
  description: The log and JSON files written.
  returned: when dest is given and not in check mode
  type: list
  elements: str
"""

import datetime
import json
import os
import socket
import subprocess
import threading
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.clix_files import UnsafeFolderError, human_bytes, private_dir, write_text_files
from ansible.module_utils.clix_settings import SettingsError, read_identity
from ansible.module_utils.clix_unplatform import INSTALL_ROOT, V1_SEARCH, V1_SEARCH_DEPTH, find_installs

try:
    import psutil

    PSUTIL_IMPORT_ERROR = None
except ImportError:
    PSUTIL_IMPORT_ERROR = traceback.format_exc()

NETWORK_FS = {"nfs", "nfs4", "cifs", "smbfs", "smb3", "sshfs", "fuse.sshfs", "9p", "afs", "glusterfs", "ceph"}
PSEUDO_FS = {"proc", "sysfs", "devpts", "cgroup", "cgroup2", "securityfs", "pstore", "bpf", "debugfs",
             "tracefs", "mqueue", "hugetlbfs", "configfs", "fusectl", "autofs", "binfmt_misc", "nsfs",
             "rpc_pipefs", "devtmpfs"}


def with_timeout(func, timeout: float):
    """(value, None) or (None, 'stale') when func does not return in time. The thread is a
    daemon: a call stuck in the kernel (statfs on a dead NFS server) cannot hold the module."""
    box = {}

    def target():
        try:
            box["value"] = func()
        except Exception as exc:
            box["error"] = str(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return None, "stale"
    return box.get("value"), box.get("error")


def identity(path: str) -> dict:
    try:
        return dict(read_identity(path), settings_error=None)
    except SettingsError as exc:
        return dict(server_id=None, school_code=None, school_name=None, settings_error=str(exc))


def addresses() -> dict:
    out = {}
    for name, addrs in psutil.net_if_addrs().items():
        ips = [a.address for a in addrs if a.family in (socket.AF_INET, socket.AF_INET6)
               and not a.address.startswith("fe80")]
        if ips and name != "lo":
            out[name] = ips
    return out


def disks(timeout: float) -> list:
    rows, seen = [], set()
    for part in psutil.disk_partitions(all=True):
        if part.fstype in PSEUDO_FS or part.mountpoint in seen:
            continue
        seen.add(part.mountpoint)
        row = dict(device=part.device, mountpoint=part.mountpoint, fstype=part.fstype)
        if part.fstype in NETWORK_FS:
            row["state"] = "network filesystem, not measured"
            rows.append(row)
            continue
        usage, error = with_timeout(lambda mp=part.mountpoint: psutil.disk_usage(mp), timeout)
        if usage is None:
            row["state"] = error or "unknown"
        elif usage.total == 0:
            continue
        else:
            row.update(state="ok", total=usage.total, used=usage.used, free=usage.free, percent=usage.percent)
        rows.append(row)
    return rows


def folder_size(path: str, deadline: float) -> tuple:
    """(bytes, files, complete) of a folder tree, stopping at deadline."""
    total = files = 0
    stack = [path]
    while stack:
        if time.monotonic() > deadline:
            return total, files, False
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
                    files += 1
            except OSError:
                continue
    return total, files, True


def data_dirs(path: str, timeout: float) -> dict:
    if not os.path.isdir(path):
        return {}
    deadline = time.monotonic() + timeout
    out = {}
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if os.path.isdir(full):
            size, files, complete = folder_size(full, deadline)
            out[name] = dict(bytes=size, files=files, complete=complete)
    return out


def installs(params: dict, timeout: float) -> tuple:
    """(the lab PC's installs, each with its size; None or why the search gave none): clix_unplatform's
    search, within timeout (a stale mount below a searched folder cannot hold the module)."""
    deadline = time.monotonic() + timeout
    paths, error = with_timeout(lambda: find_installs(
        [INSTALL_ROOT, *params["unplatform_roots"]], params["unplatform_search"], params["unplatform_search_depth"],
        (params["staging_dir"],)), timeout)
    found = []
    for path, version in (paths or {}).items():
        size, files, complete = folder_size(path, deadline)
        found.append(dict(path=path, version=version, bytes=size, files=files, complete=complete))
    return found, error


def port_answers(address: str, timeout: float) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def container_state(runtime: str, name: str, timeout: float) -> str:
    try:
        proc = subprocess.run([runtime, "inspect", "-f", "{{.State.Status}}", name],
                              capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return "no %s on this server" % runtime
    except subprocess.TimeoutExpired:
        return "%s did not answer" % runtime
    if proc.returncode != 0:
        return "absent"
    return proc.stdout.strip() or "unknown"


def processes() -> list:
    rows = []
    attrs = ["pid", "username", "cpu_percent", "memory_percent", "memory_info", "status", "create_time",
             "cmdline", "name"]
    for proc in psutil.process_iter(attrs):
        info = proc.info
        mem = info.get("memory_info")
        rows.append(dict(pid=info["pid"], user=info.get("username"), cpu=info.get("cpu_percent") or 0.0,
                         mem=round(info.get("memory_percent") or 0.0, 1),
                         vsz=mem.vms if mem else 0, rss=mem.rss if mem else 0, stat=info.get("status"),
                         command=" ".join(info.get("cmdline") or []) or "[%s]" % info.get("name")))
    return rows


def gather(params: dict) -> dict:
    now = time.time() + params["clock_offset"]
    mem, swap = psutil.virtual_memory(), psutil.swap_memory()
    lab_pc = params["platform"] == "unplatform"
    facts = dict(platform=params["platform"])
    if not lab_pc:
        facts.update(identity(params["server_settings"]))
    facts.update(
        hostname=socket.gethostname(),
        addresses=addresses(),
        memory=dict(total=mem.total, used=mem.total - mem.available, free=mem.free, available=mem.available,
                    percent=mem.percent),
        swap=dict(total=swap.total, used=swap.used, free=swap.free),
        disks=disks(params["timeout"]),
        uptime_seconds=int(time.time() - psutil.boot_time()),
        load=list(os.getloadavg()),
        processes=processes(),
    )
    if lab_pc:
        found, error = installs(params, params["timeout"])
        facts.update(installs=found, install_search=error, data_bytes=sum(i["bytes"] for i in found), services=dict(
            qbank_lite=port_answers(params["qbank_address"], params["timeout"]),
            unplatform=port_answers(params["ui_address"], params["timeout"])))
    else:
        facts.update(data_dirs=data_dirs(params["data_dir"], params["timeout"]), services=dict(
            mongodb=port_answers(params["mongo_address"], params["timeout"]),
            postgresql=port_answers(params["postgres_address"], params["timeout"]),
            container=container_state(params["container_runtime"], params["container"], params["timeout"]),
        ))
    facts.update(
        captured_at=datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat(),
        clock_skew_seconds=None if params["control_time"] is None else round(now - params["control_time"], 1),
    )
    worst = [d["percent"] for d in facts["disks"] if "percent" in d]
    facts["worst_disk_percent"] = max(worst) if worst else None
    return facts


def summarised(facts: dict) -> dict:
    """The facts without the full process table: it is hundreds of rows that every later task,
    the report and the fleet table would carry for each school; the files keep it."""
    table = facts["processes"]
    top = sorted(table, key=lambda p: p["rss"], reverse=True)[:5]
    out = {k: v for k, v in facts.items() if k != "processes"}
    out.update(process_count=len(table), top_processes=[dict(pid=p["pid"], user=p["user"], rss=p["rss"],
                                                             command=p["command"][:120]) for p in top])
    return out


def render_log(f: dict) -> str:
    def h(n):
        return human_bytes(n) if isinstance(n, (int, float)) else "-"

    if f["platform"] == "unplatform":
        lines = ["unplatform lab PC", "Hostname: %s" % f["hostname"], "Internal IP Address:"]
    else:
        lines = ["Server Id: %s" % f["server_id"], "School Id: %s" % f["school_code"],
                 "School Name: %s" % f["school_name"], "Hostname: %s" % f["hostname"], "Internal IP Address:"]
    lines += ["  %s: %s" % (name, ", ".join(ips)) for name, ips in sorted(f["addresses"].items())]
    m, s = f["memory"], f["swap"]
    lines += ["", "RAM usage (free -h):", "%-6s %10s %10s %10s %10s" % ("", "total", "used", "free", "available"),
              "%-6s %10s %10s %10s %10s" % ("Mem:", h(m["total"]), h(m["used"]), h(m["free"]), h(m["available"])),
              "%-6s %10s %10s %10s" % ("Swap:", h(s["total"]), h(s["used"]), h(s["free"])),
              "", "HDD usage (df -h):", "%-30s %8s %10s %10s %10s %5s  %s" % (
                  "Filesystem", "Type", "Size", "Used", "Avail", "Use%", "Mounted on")]
    for d in f["disks"]:
        if d["state"] == "ok":
            lines.append("%-30s %8s %10s %10s %10s %4.0f%%  %s" % (
                d["device"][:30], d["fstype"], h(d["total"]), h(d["used"]), h(d["free"]), d["percent"],
                d["mountpoint"]))
        else:
            lines.append("%-30s %8s  (%s)  %s" % (d["device"][:30], d["fstype"], d["state"], d["mountpoint"]))
    up = f["uptime_seconds"]
    lines += ["", "Uptime: up %d days, %d:%02d, load average: %s" % (
        up // 86400, up % 86400 // 3600, up % 3600 // 60, ", ".join("%.2f" % x for x in f["load"])),
        "", "Current Processes (ps aux):",
        "%-10s %7s %5s %5s %10s %10s %-6s %s" % ("USER", "PID", "%CPU", "%MEM", "VSZ", "RSS", "STAT", "COMMAND")]
    for p in f["processes"]:
        lines.append("%-10s %7d %5.1f %5.1f %10d %10d %-6s %s" % (
            (p["user"] or "?")[:10], p["pid"], p["cpu"], p["mem"], p["vsz"] // 1024, p["rss"] // 1024,
            (p["stat"] or "?")[:6], p["command"][:200]))
    sizes = f["installs"] if f["platform"] == "unplatform" else [
        dict(d, path=name) for name, d in f["data_dirs"].items()]
    lines += ["", "unplatform installs (du -hs):" if f["platform"] == "unplatform" else "Data folders (du -hs):"]
    for d in sizes:
        partial = "" if d["complete"] else " (partial: time budget reached)"
        version = " (%s)" % d["version"] if "version" in d else ""
        lines.append("%10s %8d files  %s%s%s" % (h(d["bytes"]), d["files"], d["path"], version, partial))
    if f.get("install_search"):
        lines.append("  the search for installs failed: %s" % f["install_search"])
    sv = f["services"]
    lines += ["", "Services:"]
    if f["platform"] == "unplatform":
        lines += ["  qbank-lite: %s" % ("up" if sv["qbank_lite"] else "DOWN"),
                  "  unplatform: %s" % ("up" if sv["unplatform"] else "DOWN")]
    else:
        lines += ["  MongoDB: %s" % ("up" if sv["mongodb"] else "DOWN"),
                  "  PostgreSQL: %s" % ("up" if sv["postgresql"] else "DOWN"),
                  "  gStudio container: %s" % sv["container"]]
    lines += ["Clock skew against control node: %s s" % f["clock_skew_seconds"],
              "Captured at: %s" % f["captured_at"]]
    if f.get("settings_error"):
        lines.append("server_settings.py: %s" % f["settings_error"])
    return "\n".join(lines) + "\n"


def write_files(dest: str, staging_dir: str | None, facts: dict) -> list:
    folder = private_dir(dest, staging_dir)
    stamp = datetime.datetime.strptime(facts["captured_at"][:19], "%Y-%m-%dT%H:%M:%S").strftime("%Y%m%d-%H%M%S")
    name = "system-heartbeat-%s" % stamp
    write_text_files(os.path.join(folder, name),
                     {".log": render_log(facts), ".json": json.dumps(facts, indent=1, sort_keys=True)})
    return [os.path.join(dest, name + suffix) for suffix in (".log", ".json")]


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            platform=dict(type="str", choices=["gstudio", "unplatform"], default="gstudio"),
            unplatform_roots=dict(type="list", elements="path", default=[]),
            unplatform_search=dict(type="list", elements="path", default=list(V1_SEARCH)),
            unplatform_search_depth=dict(type="int", default=V1_SEARCH_DEPTH),
            qbank_address=dict(type="str", default="127.0.0.1:8080"),
            ui_address=dict(type="str", default="127.0.0.1:8888"),
            dest=dict(type="path"),
            staging_dir=dict(type="path"),
            server_settings=dict(type="path", default="/home/core/code/gstudio/gnowsys-ndf/gnowsys_ndf/server_settings.py"),
            data_dir=dict(type="path", default="/home/core/data"),
            mongo_address=dict(type="str", default="127.0.0.1:8017"),
            postgres_address=dict(type="str", default="127.0.0.1:8432"),
            container=dict(type="str", default="gstudio"),
            container_runtime=dict(type="str", default="docker"),
            control_time=dict(type="float"),
            clock_offset=dict(type="float", default=0.0),
            timeout=dict(type="float", default=5.0),
        ),
        supports_check_mode=True,
    )
    os.umask(0o077)  # archive and staging hold private data
    if PSUTIL_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("psutil") + " Run the target_python role first.",
                         exception=PSUTIL_IMPORT_ERROR)
    facts = gather(module.params)
    result = dict(changed=False, ansible_facts=dict(clix_heartbeat=summarised(facts)))
    if module.params["dest"] and not module.check_mode:
        try:
            result.update(changed=True, files=write_files(module.params["dest"], module.params["staging_dir"], facts))
        except (UnsafeFolderError, ValueError) as exc:
            module.fail_json(msg="heartbeat not written to %s: %s" % (module.params["dest"], exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
