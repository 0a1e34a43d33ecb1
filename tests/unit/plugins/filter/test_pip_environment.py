# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
import pytest

from ansible_collections.gpufleet.sglang.plugins.filter.pip_environment import FilterModule, pip_environment

MIRROR = "https://pypi.mirror.example/simple"
TORCH = "https://download.pytorch.org/whl/cu128"


def test_registered():
    assert FilterModule().filters()["pip_environment"] is pip_environment


@pytest.mark.parametrize("args, expected", [
    (("",), {}),
    ((None, None), {}),
    ((MIRROR,), {"PIP_INDEX_URL": MIRROR}),
    # A wheelhouse alone is the air-gapped path: no index at all.
    (("", "/srv/wheelhouse"), {"PIP_FIND_LINKS": "/srv/wheelhouse", "PIP_NO_INDEX": "1"}),
    ((MIRROR, "/srv/wheelhouse"), {"PIP_INDEX_URL": MIRROR, "PIP_FIND_LINKS": "/srv/wheelhouse"}),
    (("", "", TORCH), {"PIP_EXTRA_INDEX_URL": TORCH}),
    ((MIRROR, "", TORCH), {"PIP_INDEX_URL": MIRROR, "PIP_EXTRA_INDEX_URL": TORCH}),
    # Without an index, the extra index would be the only one pip asks: it is left out.
    (("", "/srv/wheelhouse", TORCH), {"PIP_FIND_LINKS": "/srv/wheelhouse", "PIP_NO_INDEX": "1"}),
])
def test_variables(args, expected):
    assert pip_environment(*args) == expected
