# SPDX-License-Identifier: GPL-3.0-or-later
"""Bench only: the wall-clock seconds of each task of a playbook run, summed by task name, written as
JSON to $CLIX_TASK_TIMES at the end (a task's time runs from its start to the next task's start)."""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: clix_task_times
type: aggregate
short_description: seconds per task, as JSON, for the bench
description: Sums each task's wall-clock seconds by name and writes them to the file named by CLIX_TASK_TIMES.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "clix_task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.started = time.monotonic()
        self.current: tuple | None = None
        self.times: dict = {"(ansible start, before the first task)": 0.0}

    def _close(self) -> None:
        now = time.monotonic()
        name = self.current[0] if self.current else "(ansible start, before the first task)"
        self.times[name] = self.times.get(name, 0.0) + now - (self.current[1] if self.current else self.started)
        self.current = None

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._close()
        self.current = (task.get_name(), time.monotonic())

    def v2_playbook_on_handler_task_start(self, task) -> None:
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_stats(self, stats) -> None:
        self._close()
        path = os.environ.get("CLIX_TASK_TIMES")
        if path:
            with open(path, "w") as f:
                json.dump(self.times, f, indent=1)
