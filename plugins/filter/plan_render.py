# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that render a topology plan for people: a Markdown report and an SVG diagram."""
from __future__ import annotations

from ansible_collections.gpufleet.sglang.plugins.module_utils._plan_render import render_markdown, render_svg


class FilterModule:
    def filters(self):
        return {"plan_markdown": render_markdown, "plan_svg": render_svg}
