# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the scenarios' testinfra conftests: attach a node's journal to every failed test.

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_shared"))
    from journal_on_failure import attach_journal
    pytest_runtest_makereport = attach_journal("journalctl --no-pager --boot --lines 80")
"""
from __future__ import annotations

import pytest


def attach_journal(command: str):
    """A pytest_runtest_makereport hook that runs ``command`` on the failed test's host."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item, call):  # pylint: disable=unused-argument
        outcome = yield
        report = outcome.get_result()
        host = item.funcargs.get("host") if hasattr(item, "funcargs") else None
        if report.when == "call" and report.failed and host is not None:
            journal = host.run(command)
            report.sections.append(("journal of %s" % host.backend.get_hostname(), journal.stdout or journal.stderr))

    return pytest_runtest_makereport
