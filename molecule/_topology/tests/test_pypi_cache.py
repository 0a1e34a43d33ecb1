# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Download once, in a topology scenario with a host in the group pypi_cache: the install phase ran the
cache, the router's pip asked it, and the cache holds the router package."""
from __future__ import annotations

import pytest

CACHE_DIR = "/var/lib/gpufleet-pypi-cache"


@pytest.fixture(scope="module")
def cache_hosts(variables) -> list:
    hosts = variables["groups"].get("pypi_cache", [])
    if not hosts:
        pytest.skip("no pypi_cache host in this scenario")
    return hosts


def test_the_router_pip_asks_the_cache(host, services, cache_hosts):
    if not any(service["kind"] == "router" for service in services):
        pytest.skip("no router on this host")
    config = host.file("/etc/pip.conf").content_string
    assert "index-url = http://%s:3141/root/pypi/+simple/" % cache_hosts[0] in config


def test_the_cache_holds_the_router_package(host, cache_hosts):
    if host.backend.get_hostname() not in cache_hosts:
        pytest.skip("not the cache host")
    assert host.service("gpufleet-pypi-cache").is_running
    wheels = host.check_output("find %s -name '*.whl' -printf '%%f\\n'", CACHE_DIR).split()
    # smg by default, sglang-router as the option: either came through the cache.
    assert any(wheel.startswith(("smg-", "sglang_router-")) for wheel in wheels), wheels
