# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Testinfra helpers of the sglang_full scenario: the node's journal is attached to every failed test."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_shared"))
from journal_on_failure import attach_journal  # noqa: E402  pylint: disable=wrong-import-position


pytest_runtest_makereport = attach_journal("journalctl --no-pager --boot --lines 80")
