# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release_profile filter: the install roles' version pins, from the one version matrix."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gpufleet.sglang.plugins.module_utils._profiles import DEFAULT_PROFILE, PROFILES


def release_profile(name):
    """The profile dict of a release name (None: the default profile, whose name lives only in the profiles);
    an unknown name fails with the known ones. The result's ``name`` is the profile's name."""
    name = DEFAULT_PROFILE if name is None else name
    try:
        return dict(PROFILES[name], name=name)
    except (KeyError, TypeError):
        raise AnsibleFilterError(
            "sglang_release_profile %r (rule: a known release profile): not in the version matrix. "
            "Fix: set sglang_release_profile to one of %s." % (name, ", ".join(sorted(PROFILES)))
        ) from None


class FilterModule:
    def filters(self):
        return {"release_profile": release_profile}
