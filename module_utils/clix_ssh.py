# SPDX-License-Identifier: GPL-3.0-or-later
"""How rsync reaches a school server: the ssh command (riding Ansible's own connection) and the
remote path, for the control-node modules that move files to or from a host (clix_pull, clix_push)."""

from __future__ import annotations

import os
import shlex

SSH_CONNECTIONS = ("ssh", "smart", "paramiko", "paramiko_ssh", "ansible.builtin.ssh", "ansible.builtin.paramiko_ssh")
LOCAL_CONNECTIONS = ("local", "ansible.builtin.local")


def ssh_command(p: dict) -> str:
    """rsync's -e: p holds the module's port, connect_timeout, private_key and ssh_args."""
    argv = ["ssh", "-p", str(p["port"]), "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % p["connect_timeout"],
            "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3",
            # One SSH connection serves every item of the school: the one Ansible opened already,
            # as ansible.cfg puts its control sockets at the same path.
            "-o", "ControlMaster=auto", "-o", "ControlPersist=30",
            "-o", "ControlPath=%s" % os.path.expanduser("~/.ansible/cp/%C")]
    if p["private_key"]:
        argv += ["-i", p["private_key"]]
    argv += shlex.split(p["ssh_args"] or "")
    return " ".join(shlex.quote(a) for a in argv)


def remote(p: dict, path: str) -> str:
    """path on the host as rsync names it (user@host:path), or as it is for a local connection."""
    if p["connection"] in LOCAL_CONNECTIONS:
        return path
    user = ("%s@" % p["user"]) if p["user"] else ""
    host = "[%s]" % p["host"] if ":" in p["host"] else p["host"]
    return "%s%s:%s" % (user, host, path)
