# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: install_check
short_description: Check an SGLang venv's installed packages and imports against a release profile
version_added: 0.1.0
description:
  - The final step of the install roles - a diagnosis of an SGLang venv as a module with structured results.
  - Runs the venv's python to read every installed distribution (C(importlib.metadata)) and, one process each, to
    import every module of O(imports); compares them with the release profile and reports each problem with what
    was found, what the profile expects and the fix, as a command with the venv's own pip.
  - Diagnoses the common install failures of SGLang (C(docs/install-errors.md) maps each) - sgl-kernel
    (sglang-kernel) version mismatch; its ABI mismatch after torch changed (C(undefined symbol)); torch changed
    (by FlashInfer); the NCCL wheel not the profile's; C(libcudnn.so.9) / C(libcusparseLt.so.0) missing;
    mooncake or NIXL missing for PD disaggregation; deprecated C(SGL_) variables and
    C(SGLANG_DEEPEP_NUM_MAX_DISPATCH_TOKENS_PER_RANK) above 1024 in the service environment.
  - Importing torch and SGLang needs no GPU, so the check runs on any host, a container too.
  - Read-only; it never changes anything, and runs the same in check mode.
author:
  - gpufleet.sglang contributors (@gpufleet)
options:
  venv:
    description:
      - The virtual environment SGLang is installed in; its C(bin/python) runs the probes.
    type: path
    required: true
  profile:
    description:
      - The release profile, by name (a key of the collection's version matrix, such as V(0.5.23)) or as the dict
        the C(gpufleet.sglang.release_profile) filter returns.
    type: raw
    default: 0.5.23
  transfer_backend:
    description:
      - The PD disaggregation transfer backend the services use; with O(pd=true) its package must be installed.
    type: str
    choices: [nixl, mooncake, none]
    default: none
  pd:
    description:
      - Whether this host runs prefill or decode instances (PD disaggregation).
    type: bool
    default: false
  env:
    description:
      - The environment the services will run with (C(sglang_env) and the plan's per-service env), checked for
        deprecated C(SGL_) names and C(SGLANG_DEEPEP_NUM_MAX_DISPATCH_TOKENS_PER_RANK) above 1024.
    type: dict
    default: {}
  imports:
    description:
      - Modules to import, each in its own process. The kernel package installs the module C(sgl_kernel) under
        both of its names (sgl-kernel, sglang-kernel).
    type: list
    elements: str
    default: [torch, sgl_kernel, flashinfer, sglang]
  torch_index_url:
    description:
      - The index torch comes from, quoted in the fixes that reinstall torch (C(--extra-index-url)).
    type: str
    default: ""
  fail_on_error:
    description:
      - Fail when any finding is an error. Warnings never fail.
    type: bool
    default: true
  timeout:
    description:
      - Seconds each probe may take (importing SGLang the first time compiles bytecode).
    type: int
    default: 600
attributes:
  check_mode:
    support: full
    description: Reads and judges the same in check mode; it never changes anything.
  diff_mode:
    support: none
    description: There is nothing to diff; the module only reads.
notes:
  - The probes inherit the module's environment; LD_LIBRARY_PATH is not set by it, so a library that only the
    venv's environment script makes findable is reported missing, as the service would see it without the script.
seealso:
  - module: gpufleet.sglang.host_checks
"""

EXAMPLES = r"""
- name: Check the installed set against the default profile
  gpufleet.sglang.install_check:
    venv: /opt/sglang/venv

- name: Check a PD prefill node of a mooncake fleet, with the service environment
  gpufleet.sglang.install_check:
    venv: /opt/sglang/venv
    profile: "{{ sglang_release_profile | default('0.5.23') | gpufleet.sglang.release_profile }}"
    transfer_backend: mooncake
    pd: true
    env: "{{ sglang_env }}"
  register: install_check

- name: Show every finding without failing
  gpufleet.sglang.install_check:
    venv: /opt/sglang/venv
    fail_on_error: false
  register: diagnosis
"""

RETURN = r"""
packages:
  description:
    - Each package the profile names, by label (the kernel under the profile's package name, the NVIDIA wheels with
      their CUDA major, C(mooncake) and C(nixl) under those words).
  returned: always
  type: dict
  sample:
    torch: {name: torch, installed: 2.14.1, expected: 2.14.1, ok: true}
    nvidia-nccl-cu13: {name: nvidia-nccl-cu13, installed: 2.28.3, expected: 2.30.7, ok: false}
    mooncake: {name: mooncake-transfer-engine-cuda13, installed: null, expected: 0.3.13.post1, ok: null}
  contains:
    name:
      description: The pip name found installed, or the expected one.
      returned: always
      type: str
    installed:
      description: The installed version; null when absent.
      returned: always
      type: str
    expected:
      description: The profile's pin; null when the profile pins none.
      returned: always
      type: str
    ok:
      description: True when installed at the pin (or any version when unpinned); false when not; null for an optional
        package (NVSHMEM, DeepEP, mooncake, NIXL) that is absent.
      returned: always
      type: bool
imports:
  description: Each probed module with the outcome of importing it.
  returned: always
  type: dict
  sample:
    sgl_kernel: {ok: false, version: "", error: "ImportError: .../common_ops.abi3.so: undefined symbol: _ZN3c104cuda..."}
findings:
  description: Every problem, errors first in check order, each with the fix.
  returned: always
  type: list
  elements: dict
  sample:
    - check: nccl_version
      severity: error
      found: nvidia-nccl-cu13 2.28.3
      expected: nvidia-nccl-cu13==2.30.7
      fix: "NCCL errors or timeouts follow: /opt/sglang/venv/bin/pip install --force-reinstall --no-deps nvidia-nccl-cu13==2.30.7"
  contains:
    check:
      description: What was checked, for example C(sgl_kernel_version), C(sgl_kernel_abi), C(torch_version), C(nccl_version), C(driver:MODULE),
        C(libcudnn), C(libcusparselt), C(transfer_backend:mooncake), C(package:NAME), C(import:MODULE), C(env:NAME).
      returned: always
      type: str
    severity:
      description: V(error) or V(warning).
      returned: always
      type: str
    found:
      description: What was seen.
      returned: always
      type: str
    expected:
      description: What the profile or SGLang needs.
      returned: always
      type: str
    fix:
      description: The fix, with the commands.
      returned: always
      type: str
error_count:
  description: How many findings are errors.
  returned: always
  type: int
  sample: 1
warning_count:
  description: How many findings are warnings.
  returned: always
  type: int
  sample: 0
python:
  description: The venv's Python version.
  returned: always
  type: str
  sample: 3.11.2
msg:
  description: A summary, one line per finding with its fix.
  returned: always
  type: str
  sample: "install check passed: 9 packages as the profile pins them, 4 imports work"
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gpufleet.sglang.plugins.module_utils._install_check import (
    DEFAULT_IMPORTS,
    PROBE_SCRIPT,
    judge,
    summary,
)
from ansible_collections.gpufleet.sglang.plugins.module_utils._profiles import PROFILES


def probe(module: AnsibleModule, python: str, args: list[str]) -> dict:
    """Run PROBE_SCRIPT with the venv's python; its one line of JSON, or the failure as a dict."""
    rc, stdout, stderr = module.run_command(
        ["timeout", str(module.params["timeout"]), python, "-c", PROBE_SCRIPT] + args,
        environ_update={"PYTHONWARNINGS": "ignore"},
    )
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    reason = "exited %d (killed after %ds)" % (rc, module.params["timeout"]) if rc == 124 else "exited %d" % rc
    return {"ok": False, "error": "%s %s: %s" % (" ".join(args), reason, (stderr or stdout).strip()[-2000:])}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            venv=dict(type="path", required=True),
            profile=dict(type="raw", default="0.5.23"),
            transfer_backend=dict(type="str", choices=["nixl", "mooncake", "none"], default="none"),
            pd=dict(type="bool", default=False),
            env=dict(type="dict", default={}),
            imports=dict(type="list", elements="str", default=list(DEFAULT_IMPORTS)),
            torch_index_url=dict(type="str", default=""),
            fail_on_error=dict(type="bool", default=True),
            timeout=dict(type="int", default=600),
        ),
        supports_check_mode=True,
    )
    params = module.params
    profile = params["profile"]
    if isinstance(profile, str):
        if profile not in PROFILES:
            module.fail_json(msg="profile=%r is not a release profile of gpufleet.sglang. Fix: use one of %s." % (
                profile, ", ".join(sorted(PROFILES))))
        profile = PROFILES[profile]
    elif not isinstance(profile, dict) or not {"sglang", "torch", "sgl_kernel_package"} <= set(profile):
        module.fail_json(msg="profile must be a profile name or the dict of the release_profile filter, got %r" % (profile,))

    python = os.path.join(params["venv"], "bin", "python")
    if not os.access(python, os.X_OK):
        module.fail_json(msg="%s is not an executable python: venv=%s holds no virtual environment. Fix: run the "
                             "gpufleet.sglang.sglang role, or point venv at the one SGLang is installed in." % (python, params["venv"]))
    metadata = probe(module, python, ["--metadata"])
    if "packages" not in metadata:
        module.fail_json(msg="cannot read the installed packages of %s: %s" % (params["venv"], metadata.get("error")))
    imports = {name: probe(module, python, ["--import", name]) for name in params["imports"]}

    result = judge(profile, params["venv"], metadata["packages"], imports, params["transfer_backend"], params["pd"],
                   params["env"], params["torch_index_url"])
    result.update(changed=False, python=metadata.get("python", ""), msg=summary(result))
    if result["error_count"] and params["fail_on_error"]:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
