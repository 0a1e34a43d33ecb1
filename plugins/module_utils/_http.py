# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``send`` of _worker_api.py over Ansible's ``open_url``, for the modules that talk to SGLang's services.

An HTTP error status is an answer like any other (its body is read); a request that gets no answer
(connection refused, timeout, a TLS error) is a Response with status None and the reason. Redirects
are not followed: a service that redirects its API answers with that status.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Optional

from ansible.module_utils.urls import open_url

from ansible_collections.gpufleet.sglang.plugins.module_utils._worker_api import Response, Send

MAX_ANSWER_BYTES = 4 * 1024 * 1024


def _read(handle: Any) -> bytes:
    try:
        return handle.read(MAX_ANSWER_BYTES) or b""
    except Exception:  # a body that cannot be read is an empty one
        return b""


def sender(timeout: float = 10, validate_certs: bool = True) -> Send:
    """``send(method, url, headers, body)``: BODY (when not None) goes out as JSON."""

    def send(method: str, url: str, headers: Dict[str, str], body: Optional[Any]) -> Response:
        request_headers = dict(headers)
        data = None
        if body is not None:
            data = json.dumps(body)
            request_headers["Content-Type"] = "application/json"
        try:
            handle = open_url(url, data=data, headers=request_headers, method=method, timeout=timeout,
                              validate_certs=validate_certs, follow_redirects="none")
            return Response(handle.getcode(), _read(handle))
        except Exception as error:  # HTTPError carries an answer; the rest none
            code = getattr(error, "code", None)
            if isinstance(code, int):
                return Response(code, _read(error))
            reason = getattr(error, "reason", None) or error
            return Response(None, b"", "%s: %s" % (type(error).__name__, reason))

    return send
