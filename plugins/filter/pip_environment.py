# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pip_environment filter: a PyPI mirror and/or a local wheelhouse as pip's environment variables."""
from __future__ import annotations


def pip_environment(index_url, find_links="", extra_index_url=""):
    """PIP_* variables for a mirror (``index_url``) and a wheelhouse (``find_links``); a wheelhouse alone means no index.

    The roles pass these as the task's environment, not as the pip module's extra_args: the module reports any
    task with extra_args as changed in check mode, whatever is installed.
    """
    environment = {}
    if index_url:
        environment["PIP_INDEX_URL"] = str(index_url)
    if find_links:
        environment["PIP_FIND_LINKS"] = str(find_links)
        if not index_url:
            environment["PIP_NO_INDEX"] = "1"
    if extra_index_url and "PIP_NO_INDEX" not in environment:
        environment["PIP_EXTRA_INDEX_URL"] = str(extra_index_url)
    return environment


class FilterModule:
    def filters(self):
        return {"pip_environment": pip_environment}
