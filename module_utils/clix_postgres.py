# SPDX-License-Identifier: GPL-3.0-or-later
"""How the PostgreSQL tools reach gStudio's server: on the host (host, port, a private passfile) or
inside its container (docker/podman exec, peer authentication), for clix_pg_dumpall and clix_restore.
The password never appears on a command line."""

from __future__ import annotations

import os
import tempfile


class Connection:
    """How to reach the server: the argv prefix and environment for pg_dumpall and psql."""

    def __init__(self, params: dict, passfile: str | None) -> None:
        self.params = params
        self.env = dict(os.environ, PGCONNECT_TIMEOUT="10", LC_ALL="C")
        self.env.pop("PGPASSWORD", None)
        if passfile:
            self.env["PGPASSFILE"] = passfile
        if params["container"] and params["login_password"]:
            self.env["PGPASSWORD"] = params["login_password"]

    def argv(self, program: str, *args: str) -> list:
        p = self.params
        if p["container"]:
            env_flag = ["-e", "PGPASSWORD"] if p["login_password"] else []
            return [p["container_runtime"], "exec", "-i", "-u", p["container_user"], *env_flag,
                    p["container"], program, *args]
        if program == "pg_dumpall":
            program = p["pg_dumpall_path"]
        return [program, "-h", p["host"], "-p", str(p["port"]), "-U", p["login_user"], "-w", *args]


def write_passfile(params: dict) -> str | None:
    """A private passfile for the host's tools; the caller removes it."""
    if params["passfile"]:
        return params["passfile"]
    if not params["login_password"] or params["container"]:
        return None
    fd, path = tempfile.mkstemp(prefix="clix-pgpass-")
    escaped = params["login_password"].replace("\\", "\\\\").replace(":", "\\:")
    with os.fdopen(fd, "w") as f:
        f.write("*:*:*:%s:%s\n" % (params["login_user"].replace(":", "\\:"), escaped))
    return path


def explain_connection_error(stderr: str, params: dict) -> str:
    where = ("container %s" % params["container"]) if params["container"] else (
        "%s:%s" % (params["host"], params["port"]))
    text = stderr.strip()
    if "password authentication failed" in text or "no password supplied" in text:
        hint = "Check login_user/login_password (or the passfile)."
    elif "Connection refused" in text or "timeout expired" in text or "could not connect" in text:
        hint = "Is PostgreSQL running and listening there (gStudio publishes it on 8432)?"
    elif "No such container" in text or "is not running" in text:
        hint = "Start the container or set container to the right name."
    else:
        hint = "See the message above."
    return "PostgreSQL at %s cannot be reached: %s. %s" % (where, text or "no error text", hint)
