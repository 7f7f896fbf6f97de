#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_gstudio_derive
short_description: Run gStudio's derived-data scripts inside the school server's gStudio container
description:
  - Runs, with C(docker exec) (or C(podman exec)), in the gStudio code folder of the container,
    what field staff run by hand - C(python manage.py export_users_analytics), the all-users
    activity timestamps (C(get_all_users_activity_timestamp_csvs.py) fed to C(manage.py shell)),
    C(python manage.py activity_timestamp <username>) for given users, and qbank's
    C(single_school_get_MIT_activity_data.py). Their outputs land in the container's C(/data)
    (the host's C(/home/core/data)), from where the collection pulls them.
  - Each command runs under C(timeout) inside the container, so a command that overruns is killed
    there too, not just its C(exec) client. Each command's output is kept as a log file (0600) on
    the server, in O(log_dir), a folder created 0700 that must belong to the user running the
    module and must not be a symbolic link.
  - O(env) values never appear on a command line - C(exec) is given only the names (C(-e NAME)) and
    takes each value from its own environment.
  - A server without the container, or with it stopped, is reported in RV(container_state) and
    the module fails with a message saying so; nothing is run.
version_added: "0.2.0"
options:
  runtime:
    description: The container runtime command on the server.
    type: str
    choices: [docker, podman]
    default: docker
  container:
    description: Name of the gStudio container.
    type: str
    default: gstudio
  code_dir:
    description: gStudio's Django project folder inside the container (holds C(manage.py)).
    type: str
    default: /home/docker/code/gstudio/gnowsys-ndf
  commands:
    description: Which scripts to run, in this order.
    type: list
    elements: str
    choices: [export_users_analytics, all_users_activity_timestamps, mit_activity_data]
    default: [export_users_analytics, all_users_activity_timestamps, mit_activity_data]
  users:
    description: Usernames for C(manage.py activity_timestamp <username>), run after O(commands).
    type: list
    elements: str
    default: []
  python:
    description: The Python command inside the container (gStudio's is Python 2.7's C(python)).
    type: str
    default: python
  deployer_script:
    description: gStudio's all-users activity-timestamp script, inside the container.
    type: str
    default: /home/docker/code/gstudio/doc/deployer/get_all_users_activity_timestamp_csvs.py
  mit_script:
    description: qbank's MIT activity-data script, inside the container.
    type: str
    default: /home/docker/code/qbank-gstudio-scripts/single_school_get_MIT_activity_data/single_school_get_MIT_activity_data.py
  env:
    description:
      - Extra environment variables for the commands. Names are letters, digits and C(_); the values
        reach the container through the C(exec) client's environment, never its arguments or the logs.
    type: dict
    default: {}
  timeout:
    description: Seconds each command may run before it is killed.
    type: int
    default: 3600
  log_dir:
    description: Folder on the server that keeps each command's output.
    type: path
    default: /home/core/data/gstudio-logs/clix-derive
attributes:
  check_mode:
    details: >-
      Checks the runtime and the container's state and returns in RV(commands) the commands it would run
      (status C(would run)); runs nothing in the container and writes no log.
  diff_mode:
    details: Each command's output is kept in its log file on the server.
requirements: [docker or podman on the school server]
extends_documentation_fragment:
  - clix_progress
  - clix_attributes
"""

EXAMPLES = r"""
- name: Refresh the progress CSVs and activity timestamps in the gStudio container
  clix_gstudio_derive:
    commands: [export_users_analytics, all_users_activity_timestamps]

- name: Activity timestamps of two students only, with podman
  clix_gstudio_derive:
    runtime: podman
    commands: []
    users: [green-apple-mz1, red-tiger-mz1]
"""

RETURN = r"""
container_state:
  description: C(running), C(stopped) or C(absent).
  returned: always
  type: str
commands:
  description: One entry per command run (or that would run, in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Command name (C(activity_timestamp <user>) for a user).
      type: str
    argv:
      description: The full command line on the server (environment names only, never values).
      type: list
      elements: str
    status:
      description: C(ok), C(failed), C(timeout) or C(would run).
      type: str
    rc:
      description: Exit status.
      returned: unless check mode
      type: int
    seconds:
      description: Duration.
      returned: unless check mode
      type: float
    log:
      description: The log file on the server.
      returned: unless check mode
      type: str
    output_tail:
      description: The last 2000 characters of the command's output (standard output and error together); the whole output is in RV(commands[].log).
      returned: unless check mode
      type: str
"""

import os
import re
import shlex
import shutil
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import UnsafeFolderError, atomic_output, private_dir
from ansible.module_utils.clix_progress import module_progress

COMMANDS = ["export_users_analytics", "all_users_activity_timestamps", "mit_activity_data"]
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def container_state(runtime: str, container: str) -> str:
    done = subprocess.run([runtime, "inspect", "--format", "{{.State.Running}}", container],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        return "absent"
    return "running" if done.stdout.strip() == "true" else "stopped"


def inner_commands(p: dict) -> list[tuple[str, str, list[str]]]:
    """(name, working dir, argv inside the container) for each requested command."""
    py = p["python"]
    known = {
        "export_users_analytics": (p["code_dir"], [py, "manage.py", "export_users_analytics"]),
        "all_users_activity_timestamps": (p["code_dir"], [
            "sh", "-c", "echo %s | %s manage.py shell" % (shlex.quote("execfile('%s')" % p["deployer_script"]), py)]),
        "mit_activity_data": (os.path.dirname(p["mit_script"]), [py, p["mit_script"]]),
    }
    out = [(name, *known[name]) for name in p["commands"]]
    out += [("activity_timestamp %s" % user, p["code_dir"], [py, "manage.py", "activity_timestamp", user])
            for user in p["users"]]
    return out


def exec_argv(p: dict, workdir: str, inner: list[str]) -> list[str]:
    env = [a for name in sorted(p["env"]) for a in ("-e", name)]
    return [p["runtime"], "exec", "-w", workdir, *env, p["container"], "timeout", "-s", "KILL", str(p["timeout"]), *inner]


def run_one(p: dict, log_dir: str, name: str, argv: list[str]) -> dict:
    started = time.monotonic()
    env = dict(os.environ, **{k: str(v) for k, v in p["env"].items()})
    try:
        # The inner `timeout` kills the command in the container; this one is a guard for the client.
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=p["timeout"] + 60,
                              env=env)
        rc, output = done.returncode, done.stdout
    except subprocess.TimeoutExpired as exc:
        rc, output = -9, exc.stdout or b""
    seconds = round(time.monotonic() - started, 3)
    status = "ok" if rc == 0 else ("timeout" if rc in (137, -9) else "failed")
    log_name = "%s-%s.log" % (name.replace(" ", "-").replace("/", "_"), time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    log = os.path.join(p["log_dir"], log_name)
    with atomic_output(os.path.join(log_dir, log_name)) as f:
        f.write(("$ %s\n# exit status %d after %.1f s\n" % (shlex.join(argv), rc, seconds)).encode() + output)
    return {"name": name, "argv": argv, "status": status, "rc": rc, "seconds": seconds, "log": log,
            "output_tail": output.decode("utf-8", "replace")[-2000:]}


def describe_progress(planned: list, results: list) -> str:
    running = planned[len(results)][0] if len(results) < len(planned) else "last command"
    return "running gStudio's %s in its container, %d of %d commands done" % (running, len(results), len(planned))


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            runtime=dict(type="str", choices=["docker", "podman"], default="docker"),
            container=dict(type="str", default="gstudio"),
            code_dir=dict(type="str", default="/home/docker/code/gstudio/gnowsys-ndf"),
            commands=dict(type="list", elements="str", choices=COMMANDS, default=COMMANDS),
            users=dict(type="list", elements="str", default=[]),
            python=dict(type="str", default="python"),
            deployer_script=dict(type="str",
                                 default="/home/docker/code/gstudio/doc/deployer/get_all_users_activity_timestamp_csvs.py"),
            mit_script=dict(type="str", default="/home/docker/code/qbank-gstudio-scripts/single_school_get_MIT_activity_data/"
                                                "single_school_get_MIT_activity_data.py"),
            env=dict(type="dict", default={}),
            timeout=dict(type="int", default=3600),
            log_dir=dict(type="path", default="/home/core/data/gstudio-logs/clix-derive"),
            progress_seconds=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["timeout"] <= 0:
        module.fail_json(msg="timeout must be a positive number of seconds")
    bad_names = sorted(name for name in p["env"] if not ENV_NAME.match(name))
    if bad_names:
        module.fail_json(msg="env names must be letters, digits and _ (not starting with a digit): %s; rename them "
                             "in clix_derived_env" % ", ".join(repr(n) for n in bad_names))
    if shutil.which(p["runtime"]) is None:
        module.fail_json(msg="no %s command on this server: there is no gStudio container to run the scripts in; "
                             "set clix_container_runtime if it uses the other runtime" % p["runtime"],
                         container_state="absent", commands=[])
    state = container_state(p["runtime"], p["container"])
    if state != "running":
        module.fail_json(msg="the gStudio container %r is %s on this server: the derived data was not computed there "
                             "(start it with '%s start %s', or compute it from the archive with "
                             "derive.yml -e derive_from=archive)" % (p["container"], state, p["runtime"], p["container"]),
                         container_state=state, commands=[])
    planned = [(name, exec_argv(p, workdir, inner)) for name, workdir, inner in inner_commands(p)]
    if module.check_mode:
        module.exit_json(changed=bool(planned), container_state=state,
                         commands=[{"name": n, "argv": a, "status": "would run"} for n, a in planned])
    os.umask(0o077)  # the logs hold the school's data
    try:
        log_dir = private_dir(p["log_dir"], setting="clix_data_dir")
    except (UnsafeFolderError, ValueError) as exc:
        module.fail_json(msg="nothing was run, the logs have no safe place: %s" % exc, container_state=state, commands=[])
    results = []
    with module_progress(module, lambda: describe_progress(planned, results)):
        for name, argv in planned:
            results.append(run_one(p, log_dir, name, argv))
    bad = [r for r in results if r["status"] != "ok"]
    if bad:
        module.fail_json(msg="; ".join("%s: %s (exit %d after %.0f s, log %s)"
                                       % (r["name"], r["status"], r["rc"], r["seconds"], r["log"]) for r in bad),
                         changed=True, container_state=state, commands=results)
    module.exit_json(changed=bool(results), container_state=state, commands=results)


if __name__ == "__main__":
    main()
