#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clix_pg_dumpall
short_description: Dump a whole PostgreSQL cluster with pg_dumpall, verified, written atomically
description:
  - Runs the real C(pg_dumpall) either on the host (O(host)/O(port)) or inside gStudio's
    container when O(container) is given (C(docker exec), the way gStudio's own backup does it),
    and writes its output to O(dest) (C(postgres-dump/pg_dump_all.sql) in the archive).
  - Detects every failure pg_dumpall can hide, and then writes nothing to O(dest) - a non-zero
    exit, an error on stderr, an empty output, or an output without the closing
    C(PostgreSQL database cluster dump complete) line (a truncated dump).
  - The password never appears on a command line - it is handed over in a private passfile
    (or the container's environment).
version_added: "0.1.0"
options:
  dest:
    description: File to write; its folder is created. Replaced only by a complete, checked dump.
    type: path
    required: true
  host:
    description: Server address when dumping on the host. gStudio publishes its PostgreSQL on 8432.
    type: str
    default: 127.0.0.1
  port:
    description: Server port when dumping on the host.
    type: int
    default: 8432
  login_user:
    description: Superuser to dump as (pg_dumpall needs one for roles and every database).
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user). Omit to use O(passfile), peer or trust authentication.
    type: str
  passfile:
    description: An existing PostgreSQL passfile (mode 0600) to use instead of O(login_password).
    type: path
  container:
    description: Name of a running container to run pg_dumpall in (for example C(gstudio)). The host's O(host)/O(port) are then not used.
    type: str
  container_runtime:
    description: Command that runs containers (C(docker) or C(podman)).
    type: str
    default: docker
  container_user:
    description: OS user to run pg_dumpall as inside the container (peer authentication).
    type: str
    default: postgres
  gzip:
    description: Compress the dump (O(dest) should then end in C(.gz)).
    type: bool
    default: false
  timeout:
    description: Seconds pg_dumpall may run before it is stopped and the task fails.
    type: int
    default: 3600
  pg_dumpall_path:
    description: The pg_dumpall program on the host.
    type: str
    default: pg_dumpall
  reserve_mb:
    description: Free space (MiB) to leave on the destination's filesystem.
    type: int
    default: 256
attributes:
  check_mode:
    details: >-
      Connects, lists the databases with their sizes and checks the free space at O(dest) against them
      (failing as a real run would); runs no pg_dumpall and writes nothing.
  diff_mode:
    details: The dump written is O(dest), with its SHA-256 in RV(sha256).
notes:
  - pg_dumpall has no parallel mode; the plain SQL it writes is usually larger than the databases on disk.
requirements: [pg_dumpall and psql on the host, or in the container]
extends_documentation_fragment:
  - clix_staging
  - clix_progress
  - clix_attributes
"""

EXAMPLES = r"""
- name: Dump the school's PostgreSQL, published on the host
  clix_pg_dumpall:
    dest: /home/core/clix-collect-staging/postgres-dump/pg_dump_all.sql
    staging_dir: /home/core/clix-collect-staging
    login_password: "{{ clix_postgres_password }}"

- name: Dump from inside the gstudio container, as gStudio's backup.sh does
  clix_pg_dumpall:
    dest: /home/core/clix-collect-staging/postgres-dump/pg_dump_all.sql
    container: gstudio
"""

RETURN = r"""
dest:
  description: The dump file.
  returned: always
  type: str
bytes:
  description: Size of the dump as stored (database sizes in check mode).
  returned: always
  type: int
sha256:
  description: SHA-256 of the dump as stored.
  returned: success
  type: str
databases:
  description: Databases in the dump (on the server, in check mode).
  returned: always
  type: list
  elements: str
files:
  description: C({file name - sha256}), for verifying a copy.
  returned: success
  type: dict
peak_rss_bytes:
  description: Peak memory of the module or pg_dumpall, whichever is larger.
  returned: success
  type: int
seconds:
  description: Time pg_dumpall ran.
  returned: always
  type: float
server_version:
  description: pg_dumpall's version line.
  returned: always
  type: str
"""

import os
import re
import resource
import subprocess
import tempfile
import threading
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.clix_files import (
    DiskFullError,
    UnsafeFolderError,
    atomic_output,
    human_bytes,
    private_dir,
    require_free_space,
)
from ansible.module_utils.clix_postgres import Connection, explain_connection_error, write_passfile
from ansible.module_utils.clix_progress import module_progress

COMPLETE_MARK = b"PostgreSQL database cluster dump complete"
DATABASE_HEADER = re.compile(rb'^-- Database "(.+)" dump$', re.M)
STDERR_FAILURE = re.compile(r"(error|fatal|could not|permission denied)", re.I)
TAIL = 4096


class DumpFailed(Exception):
    pass


def list_databases(conn: Connection) -> list:
    sql = ("SELECT datname, pg_database_size(datname) FROM pg_database "
           "WHERE datallowconn ORDER BY datname")
    proc = subprocess.run(conn.argv("psql", "-X", "-A", "-t", "-F", "\t", "-d", "postgres", "-c", sql),
                          env=conn.env, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise DumpFailed(explain_connection_error(proc.stderr, conn.params))
    rows = [line.split("\t") for line in proc.stdout.splitlines() if line.strip()]
    return [(name, int(size)) for name, size in rows]


def stream_dump(module: AnsibleModule, conn: Connection, dest: str) -> dict:
    """Run pg_dumpall into dest; raise DumpFailed (leaving dest untouched) on any doubt."""
    p = module.params
    started = time.time()
    with tempfile.TemporaryFile() as stderr_file:
        try:
            proc = subprocess.Popen(conn.argv("pg_dumpall"), stdout=subprocess.PIPE, stderr=stderr_file,
                                    env=conn.env)
        except OSError as exc:
            raise DumpFailed("cannot run pg_dumpall (%s). Install PostgreSQL's client tools or set "
                             "pg_dumpall_path." % exc) from None
        tail, databases, done = b"", set(), dict(bytes=0, database=b"")
        # A watchdog, because a hung server sends nothing and read() would block forever.
        watchdog = threading.Timer(p["timeout"], proc.kill)
        watchdog.start()
        try:
            with atomic_output(dest, p["gzip"]) as out, module_progress(module, lambda: describe_progress(done)):
                for block in iter(lambda: proc.stdout.read(1 << 20), b""):
                    out.write(block)
                    found = DATABASE_HEADER.findall(tail[-200:] + block)
                    databases.update(found)
                    done.update(bytes=done["bytes"] + len(block), database=found[-1] if found else done["database"])
                    tail = (tail + block)[-TAIL:]
                rc = proc.wait()
                if not watchdog.is_alive():
                    raise DumpFailed("pg_dumpall ran longer than timeout=%ss and was stopped" % p["timeout"])
                stderr_file.seek(0)
                stderr = stderr_file.read().decode("utf-8", "replace")
                check_outcome(rc, stderr, out.size, tail, conn.params)
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return dict(bytes=out.size, sha256=out.sha256.hexdigest(), databases=sorted(d.decode() for d in databases),
                seconds=round(time.time() - started, 3))


def describe_progress(done: dict) -> str:
    return "dumping PostgreSQL: %s written, now %s" % (
        human_bytes(done["bytes"]), "database %s" % done["database"].decode("utf-8", "replace")
        if done["database"] else "the roles")


def check_outcome(rc: int, stderr: str, size: int, tail: bytes, params: dict) -> None:
    if rc != 0:
        raise DumpFailed("pg_dumpall exited with %s. %s" % (rc, explain_connection_error(stderr, params)))
    if STDERR_FAILURE.search(stderr):
        raise DumpFailed("pg_dumpall exited 0 but reported errors: %s" % stderr.strip())
    if size == 0:
        raise DumpFailed("pg_dumpall wrote nothing")
    if COMPLETE_MARK not in tail:
        raise DumpFailed("the dump does not end with '%s': it is truncated" % COMPLETE_MARK.decode())


def pg_dumpall_version(params: dict) -> str:
    if params["container"]:
        argv = [params["container_runtime"], "exec", params["container"], "pg_dumpall", "--version"]
    else:
        argv = [params["pg_dumpall_path"], "--version"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return proc.stdout.strip() or "unknown"


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            staging_dir=dict(type="path"),
            host=dict(type="str", default="127.0.0.1"),
            port=dict(type="int", default=8432),
            login_user=dict(type="str", default="postgres"),
            login_password=dict(type="str", no_log=True),
            passfile=dict(type="path"),
            container=dict(type="str"),
            container_runtime=dict(type="str", default="docker"),
            container_user=dict(type="str", default="postgres"),
            gzip=dict(type="bool", default=False),
            timeout=dict(type="int", default=3600),
            pg_dumpall_path=dict(type="str", default="pg_dumpall"),
            reserve_mb=dict(type="int", default=256),
            progress_seconds=dict(type="int", default=60),
        ),
        mutually_exclusive=[("login_password", "passfile")],
        supports_check_mode=True,
    )
    os.umask(0o077)  # archive and staging hold private data
    p = module.params
    passfile = write_passfile(p)
    try:
        conn = Connection(p, passfile)
        version = pg_dumpall_version(p)
        on_server = list_databases(conn)
        estimate = sum(size for _, size in on_server)
        folder = os.path.dirname(os.path.abspath(p["dest"]))
        require_free_space(folder, estimate, p["reserve_mb"] * 2**20)
        if module.check_mode:
            module.exit_json(changed=True, dest=p["dest"], bytes=estimate, seconds=0.0,
                             databases=[name for name, _ in on_server], server_version=version)
        dest = os.path.join(private_dir(folder, p["staging_dir"]), os.path.basename(p["dest"]))
        result = stream_dump(module, conn, dest)
    except (DumpFailed, DiskFullError, UnsafeFolderError, ValueError) as exc:
        module.fail_json(msg="PostgreSQL dump not written to %s: %s" % (p["dest"], exc), dest=p["dest"])
    except subprocess.TimeoutExpired:
        module.fail_json(msg="PostgreSQL did not answer within 60s; nothing was written", dest=p["dest"])
    finally:
        if passfile and passfile != p["passfile"]:
            os.unlink(passfile)
    result["files"] = {os.path.basename(p["dest"]): result["sha256"]}
    result["peak_rss_bytes"] = max(resource.getrusage(who).ru_maxrss for who in
                                   (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) * 1024
    module.exit_json(changed=True, dest=p["dest"], server_version=version, **result)


if __name__ == "__main__":
    main()
