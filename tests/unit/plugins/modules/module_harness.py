# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Running a module's main() in-process, shared by the module tests."""
from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from ansible.module_utils.testing import patch_module_args


def run_module(module: ModuleType, capsys: pytest.CaptureFixture[str], **args: Any) -> tuple[int, dict[str, Any]]:
    """Run module.main() with these arguments; return its exit code and the JSON result it printed."""
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        module.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


class _Captured(Exception):
    pass


def argument_spec_of(module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The argument_spec module.main() gives AnsibleModule (which must support check mode)."""
    captured: dict[str, Any] = {}

    def capture(argument_spec: dict[str, Any], supports_check_mode: bool, **_other: Any) -> None:
        captured.update(argument_spec=argument_spec, supports_check_mode=supports_check_mode)
        raise _Captured

    monkeypatch.setattr(module, "AnsibleModule", capture)
    with pytest.raises(_Captured):
        module.main()
    assert captured["supports_check_mode"] is True
    return captured["argument_spec"]
