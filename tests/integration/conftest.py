# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the integration tests (helpers: integration_support.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from integration_support import ROOT, TARBALL_NAME, ansible_env, run, tool


@pytest.fixture(scope="session")
def collection_tarball(tmp_path_factory) -> Path:
    """The collection built from this checkout with ``ansible-galaxy collection build``, as users build it."""
    out = tmp_path_factory.mktemp("dist")
    result = run([tool("ansible-galaxy"), "collection", "build", "--output-path", str(out), str(ROOT)],
                 cwd=out, env=ansible_env(out))
    assert result.returncode == 0, result.stdout + result.stderr
    tarball = out / TARBALL_NAME
    assert tarball.is_file(), sorted(p.name for p in out.iterdir())
    return tarball
