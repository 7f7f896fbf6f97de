# SPDX-License-Identifier: GPL-3.0-or-later
"""Progress of a long step: a line every progress_seconds with what it has done so far.

Where the line goes depends on where the module runs (both ways end on the operator's terminal,
"<host>: <line>", as clix_pull's progress does):
- on the control node, inside Ansible's worker (action_plugins/clix_inprocess.py): the module's
  progress() prints it at once;
- on a school server, started by action_plugins/clix_watched.py: the line is left in the file that
  CLIX_PROGRESS_FILE names, which the action plugin reads while the module runs and prints; the
  file is removed when the step ends.
Anywhere else (a module run the usual way) nobody could see it, and nothing is written.

Runs on school servers: the standard library of Python 3.8 only.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from contextlib import contextmanager, suppress
from typing import Callable, Iterator

PROGRESS_FILE = "CLIX_PROGRESS_FILE"
Show = Callable[[str], None]


class LeftInFile:
    """A show() that replaces the file at path (~ is the user's home) by the latest line, whole
    (temporary name, rename), so that its reader never sees half a line; close() removes it."""

    def __init__(self, path: str) -> None:
        self.path = os.path.expanduser(path)

    def __call__(self, line: str) -> None:
        tmp = "%s.tmp-%s" % (self.path, secrets.token_hex(4))
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(line + "\n")
            os.rename(tmp, self.path)
        except OSError:
            pass  # progress is a courtesy: the step goes on without it

    def close(self) -> None:
        with suppress(OSError):
            os.unlink(self.path)


def shower(module) -> Show | None:
    """Where this module's progress lines go (None: nowhere anyone would see them)."""
    printed = getattr(module, "progress", None)  # clix_inprocess's twin of AnsibleModule
    if printed is not None:
        return printed
    path = os.environ.get(PROGRESS_FILE)
    return LeftInFile(path) if path else None


@contextmanager
def progress_lines(show: Show | None, seconds: float, describe: Callable[[], str]) -> Iterator[None]:
    """While the block runs, show describe() and the time taken so far every `seconds` (a stalled
    step says the same again, which is news too). describe is called from another thread: it should
    only read counters."""
    if show is None or seconds <= 0:
        yield
        return
    stop = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        while not stop.wait(seconds):
            show("%s, %d s so far" % (describe(), time.monotonic() - started))

    thread = threading.Thread(target=tick, name="clix-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if isinstance(show, LeftInFile):
            show.close()


def module_progress(module, describe: Callable[[], str]):
    """progress_lines for a module with a progress_seconds option (doc fragment clix_progress)."""
    return progress_lines(shower(module), module.params["progress_seconds"], describe)
