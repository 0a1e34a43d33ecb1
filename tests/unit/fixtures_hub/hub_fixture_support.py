# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Names shared by the Hub fixture's tests and their conftest (a module of its own: ``conftest`` is not
importable by name when several directories have one)."""
from __future__ import annotations

from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "fixtures" / "hub" / "hub_server.py"

PUBLIC = "fixture-org/tiny-llama"
GATED = "fixture-org/gated-llama"
PRIVATE = "fixture-org/private-llama"
MOVING = "fixture-org/moving-llama"  # the one repository tests commit to
BIG = "fixture-org/one-shard-llama"  # one weights file above 10 MiB
TOKEN = "hf_fixture_granted_token"
UNGRANTED = "hf_fixture_ungranted_token"
TAG = "v1.0"
