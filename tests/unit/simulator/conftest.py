# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the engine simulator tests: the simulator module itself, and a self-cleaning fleet."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulator_harness import SIMULATOR, Fleet  # noqa: E402


@pytest.fixture(scope="session")
def simulator_module():
    spec = importlib.util.spec_from_file_location("sglang_engine_simulator", SIMULATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fleet():
    processes = Fleet()
    yield processes
    processes.close()


@pytest.fixture(scope="module")
def module_fleet():
    processes = Fleet()
    yield processes
    processes.close()
