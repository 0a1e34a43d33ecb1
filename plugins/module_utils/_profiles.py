# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Named release profiles: the one place that says which SGLang release a fleet runs.

The plan needs the profile because SGLang's command line changes between
releases; the install roles take their version pins from the same profiles.
"""
from __future__ import annotations

from typing import Dict

PROFILES: Dict[str, dict] = {
    # The runbooks' releases.
    "0.5.6.post2": {"sglang": "0.5.6.post2", "attn_dp_size_flag": False},
    "0.5.8": {"sglang": "0.5.8", "attn_dp_size_flag": False},
    # Newest on PyPI (2026-11). Its parser deprecates `--dp-size N --enable-dp-attention`
    # for `--attn-dp-size N` (sglang/srt/fields/parallel.py: "remove after 2026-12-31").
    "0.5.23": {"sglang": "0.5.23", "attn_dp_size_flag": True},
}

DEFAULT_PROFILE = "0.5.23"
