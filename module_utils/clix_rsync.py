# SPDX-License-Identifier: GPL-3.0-or-later
"""rsync to and from a school server, for the control-node modules that move files (clix_pull,
clix_push): the ssh command (riding Ansible's own connection), the remote path, rsync run with its
progress and the files it received handed on as they come, the pull's rsync into the archive, and
what its exit says (absent, failed, worth a retry)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import threading
from typing import Callable

from ansible.module_utils.clix_identity import shown
from ansible.module_utils.clix_manifest import ABSENT, FAILED

SSH_CONNECTIONS = ("ssh", "smart", "paramiko", "paramiko_ssh", "ansible.builtin.ssh", "ansible.builtin.paramiko_ssh")
LOCAL_CONNECTIONS = ("local", "ansible.builtin.local")


def ssh_argument_spec() -> dict:
    """The argument spec of doc_fragments/clix_ssh.py's connection options (host to connection), for every
    module whose rsync reaches a host."""
    return dict(host=dict(type="str", required=True), port=dict(type="int", default=22), user=dict(type="str"),
                private_key=dict(type="path"), ssh_args=dict(type="str", default=""),
                connection=dict(type="str", default="ssh"))


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


def link_options(p: dict, check: bool) -> list:
    """The options of every pull and push that p (the module's) sets: how rsync reaches the host, the
    bandwidth limit, compression, and --dry-run in check mode."""
    argv = [] if p["connection"] in LOCAL_CONNECTIONS else ["-e", ssh_command(p)]
    if p["bwlimit"]:
        argv.append("--bwlimit=%d" % p["bwlimit"])
    if p["compress"]:
        argv.append("--compress")
    if check:
        argv.append("--dry-run")
    return argv


def remote(p: dict, path: str) -> str:
    """path on the host as rsync names it (user@host:path), or as it is for a local connection."""
    if p["connection"] in LOCAL_CONNECTIONS:
        return path
    user = ("%s@" % p["user"]) if p["user"] else ""
    host = "[%s]" % p["host"] if ":" in p["host"] else p["host"]
    return "%s%s:%s" % (user, host, path)


# rsync --stats: the totals every pull and push reports.
STATS = {
    "bytes_received": re.compile(r"^Total bytes received: ([\d,]+)", re.M),
    "bytes_sent": re.compile(r"^Total bytes sent: ([\d,]+)", re.M),
    "files_transferred": re.compile(r"^Number of regular files transferred: ([\d,]+)", re.M),
    "total_bytes": re.compile(r"^Total file size: ([\d,]+)", re.M),
    "source_files": re.compile(r"^Number of files: [\d,]+ \(reg: ([\d,]+)", re.M),
}


def parse_stats(stdout: str, keys: tuple = ("bytes_received", "files_transferred", "total_bytes")) -> dict:
    """The named totals of rsync --stats output (0 for one it did not print)."""
    out = {}
    for key in keys:
        m = STATS[key].search(stdout)
        out[key] = int(m.group(1).replace(",", "")) if m else 0
    return out


# rsync --info=progress2: "  1,234,567  12%  1.23MB/s    0:01:23 (xfr#5, to-chk=100/200)"
PROGRESS_LINE = re.compile(r"^\s*([\d,]+)\s+(\d+%)\s+(\S+/s)")
RECEIVED_FORMAT = "%i %b %n"
RECEIVED_LINE = re.compile(r"^(?P<what>[<>ch.*][fdLDS]\S*) \d+ (?P<name>.*)$")


def rsync_watched(argv: list, progress: Callable, received: Callable | None = None) -> tuple:
    """Run rsync, handing its latest progress line to progress and the names of received files to
    received (when rsync was asked for them), and keeping the rest of its output."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = []
    drain = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    drain.start()
    out, pending = [], b""
    for chunk in iter(lambda: proc.stdout.read1(65536), b""):  # progress lines end in \r, not \n
        *lines, pending = re.split(rb"[\r\n]", pending + chunk)
        latest, names = None, []  # handed on once a chunk: the receiving thread is not woken per file
        for line in lines:
            text = line.decode("utf-8", "replace")
            match = PROGRESS_LINE.match(text)
            if match:
                latest = match
                continue
            named = RECEIVED_LINE.match(text) if received is not None else None
            if named:
                if named.group("what").startswith(">f"):
                    names.append(named.group("name"))
            elif text:
                out.append(text)
        if latest:
            progress(latest)
        if names:
            received(names)
    out.append(pending.decode("utf-8", "replace"))
    proc.wait()
    drain.join()
    return proc.returncode, "\n".join(out), b"".join(err).decode("utf-8", "replace")


PARTIAL_DIR = ".rsync-partial"
# rsync --munge-links stores a received link's target behind this prefix, which resolves nowhere.
MUNGED = "/rsyncd-munged/"


def unmunged(target: str) -> str:
    return target[len(MUNGED):] if target.startswith(MUNGED) else target


def rsync(p: dict, src: str, dest: str, check: bool, extra: list, progress: Callable | None = None,
          received: Callable | None = None) -> tuple:
    """The pull's rsync of src on the host into dest: (exit code, stdout, stderr); progress, when given,
    gets rsync's latest progress line as it comes, and received the names (relative to dest) of the
    regular files rsync has received, a list at a time. p holds clix_pull's options."""
    argv = pull_argv(p, check, extra, progress is not None)
    if received is not None:
        argv.append("--out-format=%s" % RECEIVED_FORMAT)  # %b: a file is named once it is received
    argv += [remote(p, src), dest]
    return rsync_watched(argv, progress or (lambda _match: None), received)


def pull_argv(p: dict, check: bool, extra: list, progress: bool) -> list:
    """The pull's rsync command, without its source and destination."""
    # -a as root would make devices and FIFOs: --no-devices --no-specials. --munge-links: see clix_links.settle_links.
    argv = [p["rsync_path"], "-a", "--no-owner", "--no-group", "--no-devices", "--no-specials", "--munge-links",
            "--chmod=D0700,F0600", "--stats",
            "--partial-dir=%s" % PARTIAL_DIR, "--timeout=%d" % p["timeout"], *extra, *link_options(p, check)]
    return argv + (["--info=progress2"] if progress else [])


# Every file of a listed pull (-ii: the unchanged ones too): its change, bytes that crossed, size, name.
LISTED_FORMAT = "%i %b %l %n"
LISTED_LINE = re.compile(rb"^[.<>ch*]([fdLDS]).{9} (\d+) (\d+) (.*)$", re.M)
PROGRESS_BYTES = re.compile(rb"[\r\n]( *[\d,]+ +\d+% +\S+/s)")


def rsync_listed(p: dict, sources: list, dest: str, extra: list, progress: Callable | None = None) -> tuple:
    """One rsync of several folders on the host into dest, each arriving under dest by the part of its
    path after "/./" (-R): (exit code, stdout, stderr, listing), the listing one (type, received, bytes
    that crossed, size, name relative to dest) per file of every source, unchanged ones included.
    The output is read in bulk (a school's tree may hold many thousand files): only the latest
    progress line of each chunk is looked at as it comes."""
    argv = pull_argv(p, False, ["-R", "-ii", "--out-format=%s" % LISTED_FORMAT, *extra], progress is not None)
    argv += [remote(p, src) for src in sources] + [dest]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = []
    drain = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    drain.start()
    chunks, tail = [], b"\n"
    for chunk in iter(lambda: proc.stdout.read1(65536), b""):
        chunks.append(chunk)
        lines = PROGRESS_BYTES.findall(tail + chunk) if progress is not None else ()
        if lines:
            progress(PROGRESS_LINE.match(lines[-1].decode("ascii", "replace")))
        tail = chunk[-1:]
    proc.wait()
    drain.join()
    out = b"".join(chunks).replace(b"\r", b"\n")
    listing = [(m.group(1), m.group(0)[:1] == b">", int(m.group(2)), int(m.group(3)), m.group(4))
               for m in LISTED_LINE.finditer(out)]
    return proc.returncode, out.decode("utf-8", "replace"), b"".join(err).decode("utf-8", "replace"), listing


NOT_THERE = re.compile(r"(?:change_dir|link_stat) \"([^\"]*)\" failed: No such file or directory")
RSYNC_EXIT = {
    5: "error starting the client-server protocol", 10: "error in socket I/O", 11: "error in file I/O",
    12: "error in the rsync protocol data stream", 23: "some files could not be transferred",
    24: "some source files vanished during the transfer", 30: "timeout in data send/receive",
    35: "timeout waiting for the daemon connection", 255: "ssh failed (host down, unreachable, or host key)",
}
# rsync's exits when the link dropped or stalled (timeouts, a broken connection, ssh's 255), which a
# retry may get past; not when ssh could never work (LASTING).
TRANSIENT_EXITS = (10, 12, 30, 35, 255)
LASTING = re.compile(r"Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|Permission denied|"
                     r"command not found|Could not resolve hostname")
TRANSIENT = "_transient"


def rsync_failed(rc: int, err: str, src: str) -> dict:
    """status and reason for an rsync that exited with rc (and TRANSIENT when a retry may get past it)."""
    if NOT_THERE.search(err):
        return dict(status=ABSENT, reason="not on the server: %s" % shown(src))
    last = err.strip().splitlines()[-1] if err.strip() else ""
    return {"status": FAILED, TRANSIENT: rc in TRANSIENT_EXITS and not LASTING.search(err),
            "reason": "rsync exit %d (%s): %s" % (rc, RSYNC_EXIT.get(rc, "error"), shown(last, 500))}
