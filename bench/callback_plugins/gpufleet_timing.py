# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Record when each task ran on each host, for bench/converge.py.

Enabled only by the bench (ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins,
ANSIBLE_CALLBACKS_ENABLED=gpufleet_timing); writes GPUFLEET_TIMING_FILE at the end of the run:
{"start": t, "end": t, "tasks": [{"host", "play", "play_tags", "task", "tags", "status", "start", "end"}]}
with wall-clock seconds (time.time(), comparable with the containers' systemd timestamps).
"""
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: gpufleet_timing
type: aggregate
short_description: per-host task start and end times for bench/converge.py
description:
  - Writes the start and end of every task on every host to the JSON file GPUFLEET_TIMING_FILE names.
requirements:
  - GPUFLEET_TIMING_FILE in the environment
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "gpufleet_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("GPUFLEET_TIMING_FILE")
        self._start = time.time()
        self._play = ("", [])
        self._open = {}
        self._tasks = []

    def v2_playbook_on_start(self, playbook):
        self._start = time.time()

    def v2_playbook_on_play_start(self, play):
        self._play = (play.get_name(), sorted(str(tag) for tag in play.tags))

    def v2_runner_on_start(self, host, task):
        self._open[(host.get_name(), task._uuid)] = time.time()

    def _finish(self, result, status):
        host, task = result._host.get_name(), result._task
        end = time.time()
        self._tasks.append({
            "host": host, "play": self._play[0], "play_tags": self._play[1], "task": task.get_name(),
            "action": task.action, "tags": sorted(str(tag) for tag in task.tags), "status": status,
            "start": self._open.pop((host, task._uuid), end), "end": end,
        })

    def v2_runner_on_ok(self, result):
        self._finish(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._finish(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._finish(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._finish(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        if not self._path:
            return
        with open(self._path, "w", encoding="utf-8") as handle:
            json.dump({"start": self._start, "end": time.time(), "tasks": self._tasks}, handle, indent=1)
