# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hardened units of each host (sglang_service, pypi_cache): each installed unit passes `systemd-analyze verify`
and scores under 6.0 in `systemd-analyze security`, whose figure is printed per host and unit."""
from __future__ import annotations

import re

import pytest

MAX_EXPOSURE = 6.0


def gpufleet_units(host) -> list:
    # Exit status 1 when there is none.
    listed = host.run("systemctl list-unit-files --no-legend --type=service 'sglang-*' 'gpufleet-*'").stdout
    units = sorted(line.split()[0] for line in listed.splitlines() if line.strip())
    if not units:
        pytest.skip("no gpufleet unit on this host")
    return units


def test_installed_units_verify(host):
    for unit in gpufleet_units(host):
        path = host.check_output("systemctl show -p FragmentPath --value %s", unit)
        result = host.run("systemd-analyze verify --man=no %s", path)
        complaints = [line for line in result.stderr.splitlines() if unit in line]
        assert result.rc == 0 and not complaints, (unit, result.rc, result.stderr)


def test_exposure_of_each_unit(host, capsys):
    figures = {}
    for unit in gpufleet_units(host):
        result = host.run("systemd-analyze security --no-pager %s", unit)
        found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
        assert found, (unit, result.rc, result.stdout, result.stderr)
        figures[unit] = float(found.group(1))
        with capsys.disabled():  # the figures are the report: printed whatever the outcome
            print("\nsystemd-analyze security: %s %s %.1f" % (host.backend.get_hostname(), unit, figures[unit]))
    assert all(figure < MAX_EXPOSURE for figure in figures.values()), figures
