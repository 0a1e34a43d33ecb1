# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet's PyPI cache: the client's package came through it, and the cache holds the file."""
from __future__ import annotations

import pytest

testinfra_hosts = ["ansible://all"]


@pytest.fixture(scope="module")
def scenario(host):
    return host.ansible.get_variables()


def is_cache(host):
    return host.backend.get_hostname() == "gpufleet-pc-cache"


def test_the_cache_runs_as_its_own_user(host):
    if not is_cache(host):
        pytest.skip("client node")
    service = host.service("gpufleet-pypi-cache")
    assert service.is_running and service.is_enabled
    assert host.socket("tcp://0.0.0.0:3141").is_listening
    pid = host.run("systemctl show -p MainPID --value gpufleet-pypi-cache").stdout.strip()
    assert host.run("ps -o user= -p %s" % pid).stdout.strip() == "gpufleet-pypi-cache"


def test_the_cache_waits_for_upstream_as_long_as_configured(host, scenario):
    if not is_cache(host):
        pytest.skip("client node")
    pid = host.run("systemctl show -p MainPID --value gpufleet-pypi-cache").stdout.strip()
    argv = host.file("/proc/%s/cmdline" % pid).content.split(b"\0")
    option = argv.index(b"--request-timeout")
    assert argv[option + 1] == str(scenario["pypi_cache_request_timeout"]).encode()


def test_the_cache_holds_the_file_the_client_installed(host, scenario):
    if not is_cache(host):
        pytest.skip("client node")
    name, version = scenario["pypi_cache_test_requirement"].split("==")
    files = host.run("find /var/lib/gpufleet-pypi-cache -name '%s-%s-*.whl'" % (name, version)).stdout.split()
    assert len(files) == 1, files


def test_the_client_pip_asks_the_cache(host):
    if is_cache(host):
        pytest.skip("cache node")
    config = host.file("/etc/pip.conf")
    assert config.mode == 0o644
    assert "index-url = http://gpufleet-pc-cache:3141/root/pypi/+simple/" in config.content_string
    assert "trusted-host = gpufleet-pc-cache" in config.content_string
    # The CA setting of gpufleet.sglang.common is kept beside it.
    assert "cert = /etc/ssl/certs/ca-certificates.crt" in config.content_string


def test_the_client_pip_waits_for_the_cache_as_long_as_configured(host, scenario):
    if is_cache(host):
        pytest.skip("cache node")
    # `pip config list`, not `get`: pip 23's `get` misses keys that `list` shows.
    settings = host.check_output("%s/bin/pip config list" % scenario["pypi_cache_test_venv"]).splitlines()
    assert "global.timeout='%d'" % scenario["pypi_cache_client_timeout"] in settings


def test_the_client_installed_the_pinned_package(host, scenario):
    if is_cache(host):
        pytest.skip("cache node")
    name, version = scenario["pypi_cache_test_requirement"].split("==")
    shown = host.run("%s/bin/pip show %s" % (scenario["pypi_cache_test_venv"], name))
    assert shown.rc == 0 and "Version: %s" % version in shown.stdout
