# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Secrets out of text that the collection quotes back to the operator (a journal excerpt in a failure).

SGLang 0.5.23 logs every resolved server argument at start (``server_args={... 'api_key': '...'}``, with
only the watermark keys hidden), so a worker's journal holds its API key, and a failure message that
quotes the journal would put it in the Ansible log. Two nets: every known secret value is masked
wherever it appears, and the value of any secret-named field is masked even when the value is unknown
here (another host's key, a key changed since).
"""
from __future__ import annotations

import re
from typing import Iterable

MASK = "********"

# A secret-named field with its value: 'api_key': 'x', api_key='x', "hf_token": "x", --api-key x,
# HF_TOKEN=x, Authorization: Bearer x.
_NAMES = r"[A-Za-z_-]*(?:api[_-]?key|token(?!s|iz)|secret|passw(?:or)?d)[A-Za-z_-]*"
_FIELD = re.compile(
    r"""(?P<name>['"]?%s['"]?\s*(?::|=|\s)\s*)(?P<value>'[^']*'|"[^"]*"|[^\s,'")}\]]+)""" % _NAMES, re.IGNORECASE)
_BEARER = re.compile(r"(?P<name>\bBearer\s+)(?P<value>[^\s'\",]+)", re.IGNORECASE)
_UNSET = ("None", "null", "''", '""', "False")


def _mask(match: "re.Match[str]") -> str:
    value = match.group("value")
    if value in _UNSET:
        return match.group(0)
    quote = value[0] if value[:1] in ("'", '"') else ""
    return match.group("name") + quote + MASK + quote


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every value of ``secrets`` and every secret-named field's value masked."""
    for secret in sorted({str(s) for s in secrets if s is not None and str(s).strip()}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _BEARER.sub(_mask, _FIELD.sub(_mask, text))
