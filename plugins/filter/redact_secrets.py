# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The redact_secrets filter: secrets out of a journal excerpt before a failure message quotes it."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gpufleet.sglang.plugins.module_utils._redact import redact


def redact_secrets(text, secrets=()):
    if not isinstance(secrets, (list, tuple)):
        raise AnsibleFilterError("redact_secrets: secrets must be a list of strings")
    return redact(str(text), [s for s in secrets if isinstance(s, (str, int))])


class FilterModule:
    def filters(self):
        return {"redact_secrets": redact_secrets}
