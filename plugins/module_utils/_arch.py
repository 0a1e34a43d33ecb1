# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""CUDA architecture lists for source builds (DeepEP's TORCH_CUDA_ARCH_LIST, NVSHMEM's CMAKE_CUDA_ARCHITECTURES).

Input: compute capabilities as gpu_facts returns them (dicts with ``compute_cap``), as strings ("9.0", "sm_90",
"90", "10.0a") or numbers; or one string joined by ";", "," or spaces. Output: the distinct capabilities, in
ascending order, in the notation a build tool reads.
"""
from __future__ import annotations

import re

STYLES = ("torch", "cmake")

_CAP = re.compile(r"^(?:sm_|compute_)?(\d+)(?:\.(\d))?([af]?)$")


def parse_capability(value) -> tuple[int, int, str]:
    """(major, minor, suffix) of one compute capability; ValueError on anything else."""
    if isinstance(value, dict):
        value = value.get("compute_cap")
    if isinstance(value, bool) or value is None:
        raise ValueError("not a compute capability: %r" % (value,))
    text = ("%.1f" % value) if isinstance(value, float) else str(value).strip().lower()
    match = _CAP.match(text)
    if not match:
        raise ValueError("not a compute capability: %r" % (value,))
    digits, minor, suffix = match.groups()
    if minor is not None:
        return int(digits), int(minor), suffix
    if len(digits) < 2:  # "9" alone: major 9, minor 0
        return int(digits), 0, suffix
    return int(digits[:-1]), int(digits[-1]), suffix


def arch_list(values, style: str = "torch") -> str:
    """The capabilities of ``values`` as "9.0;10.0" (torch) or "90;100" (cmake); "" for none."""
    if style not in STYLES:
        raise ValueError("style %r: expected one of %s" % (style, ", ".join(STYLES)))
    if values is None:
        return ""
    if isinstance(values, str):
        values = [v for v in re.split(r"[;,\s]+", values) if v]
    elif isinstance(values, (dict, int, float)):
        values = [values]
    caps = sorted({parse_capability(v) for v in values})
    if style == "torch":
        return ";".join("%d.%d%s" % cap for cap in caps)
    return ";".join("%d%d%s" % cap for cap in caps)
