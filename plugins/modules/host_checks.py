# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_checks
short_description: Check the ports, kernel modules, memory limits, space, paths and network of an SGLang host
version_added: 0.1.0
description:
  - The host checks of the preflight that concern neither the GPUs (M(gpufleet.sglang.gpu_facts)) nor the RDMA
    ports (M(gpufleet.sglang.ib_port_state)). Each check runs only when its option is given.
  - Ports are read from C(/proc/net/tcp) and C(/proc/net/tcp6); the owner of a listening socket is found through its
    inode, C(/proc/<pid>/fd) and the systemd unit in C(/proc/<pid>/cgroup) (cgroup v1 or v2). Where C(/proc/<pid>/fd)
    cannot be read (another user's process in a container without C(CAP_SYS_PTRACE)), the socket's uid stands in; see
    O(owned_user).
  - Returns every check's result, never only the first failure, each with what was found, what is needed and the
    operator fix, so that the preflight can report every host's problems at once.
  - Does not fail when checks fail unless O(fail_on_error=true). A check that cannot run (a file that cannot be read,
    no C(systemctl)) is V(skipped) with the reason, never a traceback.
  - Read-only; it never changes anything.
author:
  - gpufleet.sglang contributors (@gpufleet)
options:
  ports:
    description:
      - TCP ports that must be free (no listening socket on any address, IPv4 or IPv6), or held only by processes
        of systemd units matching O(owned_unit_pattern).
    type: list
    elements: dict
    suboptions:
      port:
        description: The TCP port.
        type: int
        required: true
      purpose:
        description: What the port is for, as the result names it (for example C(bootstrap) or C(http)).
        type: str
      unit:
        description:
          - The systemd unit of this collection the plan gives the port (C(sglang-prefill-0) or
            C(sglang-prefill-0.service)), for the check by the socket's uid (O(owned_user)).
        type: str
  owned_user:
    description:
      - The user the collection's units run as (C(sglang_service_user)). A port whose socket no process could be tied to
        passes when the socket belongs to this user, the port's O(ports[].unit) matches O(owned_unit_pattern) and that
        unit has processes (read from C(/proc/<pid>/cgroup), which anyone can read).
      - Ignored when the user does not exist on the host (nothing of the collection runs yet).
    type: str
  owned_unit_pattern:
    description:
      - A shell pattern of the systemd units of this collection; a port held by such a unit passes
        (a running deployment being checked again).
    type: str
    default: sglang-*.service
  kernel_modules:
    description:
      - Kernel modules that must be loaded, as C(/proc/modules) names them, for example C(nvidia_peermem) where the
        transfer backend uses GPUDirect RDMA and C(gdrdrv) where gdrcopy is used.
      - When C(nvidia_peermem) is required and only the legacy C(nv_peer_mem) is loaded, the failure says so.
    type: list
    elements: str
  shm_min_bytes:
    description:
      - The size O(shm_path) must have at least, in bytes.
    type: int
  disk:
    description:
      - Paths that need free space (venvs, the model), checked on the filesystem of the path or of its nearest
        existing parent, as available to an unprivileged user.
    type: list
    elements: dict
    suboptions:
      path:
        description: The path.
        type: path
        required: true
      min_free_bytes:
        description: The free space needed, in bytes.
        type: int
        required: true
      purpose:
        description: What the space is for (the plan's preflight block says, e.g. C(virtualenv of sglang-decode-0)).
        type: str
  paths_present:
    description:
      - Paths that must exist, such as the local model path on every node.
    type: list
    elements: path
  memlock_min:
    description:
      - The locked-memory limit needed, in bytes or V(unlimited).
      - The soft limit of this session (C(/proc/self/limits)) below it is a warning, since it concerns only processes
        started from a shell; systemd's C(DefaultLimitMEMLOCK) is reported for information, because the units this
        collection renders set C(LimitMEMLOCK=infinity).
    type: str
  reach:
    description:
      - Addresses this host must reach over TCP within O(reach_timeout), such as each rank's master address.
    type: list
    elements: dict
    suboptions:
      host:
        description: The host name or address.
        type: str
        required: true
      port:
        description: The TCP port; it must accept connections (a refused connection fails).
        type: int
        required: true
  reach_timeout:
    description:
      - Seconds to wait for each O(reach) connection.
    type: float
    default: 3.0
  resolve:
    description:
      - Host names to resolve with C(getaddrinfo); RV(resolutions) returns the addresses so that the controller
        compares them across hosts.
    type: list
    elements: str
  fail_on_error:
    description:
      - Fail when any check fails. By default the module succeeds and RV(failed_checks) counts the failures, so that
        the preflight collects every host's results before it reports them.
    type: bool
    default: false
  modules_file:
    description:
      - The list of loaded kernel modules for O(kernel_modules), in the format of C(/proc/modules); by default
        C(<proc_root>/modules). Point it at a copy to judge another host's modules or a test fixture.
    type: path
  proc_root:
    description:
      - The proc filesystem to read; point it at a copy to check a host image or a test fixture.
    type: path
    default: /proc
  shm_path:
    description:
      - The shared-memory filesystem to measure for O(shm_min_bytes).
    type: path
    default: /dev/shm
attributes:
  check_mode:
    support: full
    description: Reads and judges the same in check mode; it never changes anything.
  diff_mode:
    support: none
    description: There is nothing to diff; the module only reads.
notes:
  - The owner of a port held by another user's process is named only when the module runs as root (C(become=true)),
    in a container only with C(CAP_SYS_PTRACE); without it, O(owned_user) and O(ports[].unit) still recognise the
    collection's own units.
  - Before the services start nothing listens on their ports, so O(reach) needs a port that does listen
    on the master's address (for example sshd's).
seealso:
  - module: gpufleet.sglang.gpu_facts
  - module: gpufleet.sglang.ib_port_state
  - name: proc(5)
    description: The formats of C(/proc/net/tcp), C(/proc/modules), C(/proc/<pid>/cgroup) and C(/proc/<pid>/limits).
    link: https://man7.org/linux/man-pages/man5/proc.5.html
"""

EXAMPLES = r"""
- name: Check what SGLang needs on this host before anything is installed
  gpufleet.sglang.host_checks:
    ports:
      - port: 30000
        purpose: http
      - port: 8998
        purpose: disaggregation bootstrap
    kernel_modules: [nvidia_peermem]
    shm_min_bytes: "{{ 64 * 1024 ** 3 }}"
    disk:
      - path: /opt/sglang
        min_free_bytes: "{{ 20 * 1024 ** 3 }}"
    paths_present: [/models/DeepSeek-V3]
    memlock_min: unlimited
    reach:
      - host: 10.0.0.11
        port: 22
    resolve: "{{ groups['sglang'] }}"
  register: host_checks

- name: Show the failed checks of this host
  ansible.builtin.debug:
    msg: "{{ item.check }}: found {{ item.found }}; needed {{ item.needed }}; fix: {{ item.fix }}"
  loop: "{{ host_checks.checks | selectattr('status', 'equalto', 'fail') | list }}"

- name: Fail at once on this host
  gpufleet.sglang.host_checks:
    kernel_modules: [nvidia_peermem, gdrdrv]
    fail_on_error: true
"""

RETURN = r"""
checks:
  description: Every check that ran, in option order, with its result.
  returned: always
  type: list
  elements: dict
  sample:
    - check: "port:8998"
      status: fail
      found: "port 8998 (bootstrap) is already listening on tcp 0.0.0.0:8998, held by python3 (pid 5151, unit jupyter.service)"
      needed: "port 8998 (bootstrap) free, or held by this collection's unit (sglang-*.service)"
      fix: "stop or reconfigure what holds port 8998 (`ss -ltnp 'sport = :8998'` names it), or give bootstrap another port ..."
    - check: "kernel_module:nvidia_peermem"
      status: ok
      found: nvidia_peermem is loaded
      needed: kernel module nvidia_peermem loaded
      fix: ""
  contains:
    check:
      description:
        - What was checked, as C(kind) or C(kind:subject), kind one of C(port), C(kernel_module), C(shm), C(disk),
          C(path), C(memlock:login), C(memlock:systemd), C(reach), C(resolve).
      returned: always
      type: str
      sample: "port:8998"
    status:
      description: V(ok), V(fail), V(warn) or V(skipped) (the check could not run; RV(checks[].found) says why).
      returned: always
      type: str
      sample: fail
    found:
      description: What was seen.
      returned: always
      type: str
      sample: nvidia_peermem is not loaded; the legacy nv_peer_mem is
    needed:
      description: What the check needs to pass.
      returned: always
      type: str
      sample: kernel module nvidia_peermem loaded
    fix:
      description: The operator fix; empty when the check passed.
      returned: always
      type: str
      sample: "`modprobe nvidia_peermem` ..."
failed_checks:
  description: How many checks have status V(fail).
  returned: always
  type: int
  sample: 1
summary:
  description: How many checks ended in each status.
  returned: always
  type: dict
  sample: {ok: 7, fail: 1, warn: 1, skipped: 0}
resolutions:
  description:
    - The addresses each name of O(resolve) resolves to on this host, sorted (IPv4 first); an empty list when it does
      not resolve. Compare them across hosts with the C(compare_resolutions) function of the collection.
  returned: always
  type: dict
  sample: {node-1: [10.0.0.11], node-2: [10.0.0.12]}
msg:
  description: A one-line summary of the counts.
  returned: always
  type: str
  sample: "10 checks: 8 ok, 1 fail, 1 warn, 0 skipped"
"""

import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gpufleet.sglang.plugins.module_utils._host_checks import (
    DEFAULT_OWNED_UNIT_PATTERN,
    DEFAULT_REACH_TIMEOUT,
    FAIL,
    STATUSES,
    check_disk,
    check_kernel_modules,
    check_memlock,
    check_paths_present,
    check_ports,
    check_reach,
    check_shm,
    parse_limit_value,
    resolve_names,
    summarize,
)


def read_memlock(module: AnsibleModule, proc_root: str) -> list[dict]:
    """Read this session's limits and systemd's default, then judge them."""
    try:
        minimum = parse_limit_value(module.params["memlock_min"])
    except ValueError as error:
        module.fail_json(msg="memlock_min: %s" % error)
    limits_path = "%s/self/limits" % proc_root.rstrip("/")
    limits_text, limits_reason = None, ""
    try:
        with open(limits_path, encoding="utf-8", errors="replace") as handle:
            limits_text = handle.read()
    except OSError as error:
        limits_reason = "%s: %s" % (limits_path, error.strerror or error)
    systemd_text, systemd_reason = None, ""
    systemctl = module.get_bin_path("systemctl")
    if not systemctl:
        systemd_reason = "systemctl is not installed (no systemd on this host)"
    else:
        rc, stdout, stderr = module.run_command([systemctl, "show", "--property", "DefaultLimitMEMLOCK"])
        if rc == 0:
            systemd_text = stdout
        else:
            systemd_reason = "`systemctl show --property DefaultLimitMEMLOCK` exited %d: %s" % (rc, (stderr or stdout).strip())
    return check_memlock(minimum, limits_text, systemd_text, limits_reason, systemd_reason)


def uid_of(user: str | None) -> int | None:
    """The uid of a user of this host; None without a name or for a user that does not exist."""
    if not user:
        return None
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            ports=dict(
                type="list",
                elements="dict",
                options=dict(port=dict(type="int", required=True), purpose=dict(type="str"), unit=dict(type="str")),
            ),
            owned_user=dict(type="str"),
            owned_unit_pattern=dict(type="str", default=DEFAULT_OWNED_UNIT_PATTERN),
            kernel_modules=dict(type="list", elements="str"),
            shm_min_bytes=dict(type="int"),
            disk=dict(
                type="list",
                elements="dict",
                options=dict(path=dict(type="path", required=True), min_free_bytes=dict(type="int", required=True),
                             purpose=dict(type="str")),
            ),
            paths_present=dict(type="list", elements="path"),
            memlock_min=dict(type="str"),
            reach=dict(
                type="list",
                elements="dict",
                options=dict(host=dict(type="str", required=True), port=dict(type="int", required=True)),
            ),
            reach_timeout=dict(type="float", default=DEFAULT_REACH_TIMEOUT),
            resolve=dict(type="list", elements="str"),
            fail_on_error=dict(type="bool", default=False),
            proc_root=dict(type="path", default="/proc"),
            modules_file=dict(type="path"),
            shm_path=dict(type="path", default="/dev/shm"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    proc_root = params["proc_root"]
    checks: list[dict] = []
    resolutions: dict = {}
    if params["ports"] is not None:
        checks.extend(check_ports(params["ports"], proc_root, params["owned_unit_pattern"], uid_of(params["owned_user"])))
    if params["kernel_modules"] is not None:
        checks.extend(check_kernel_modules(params["kernel_modules"], proc_root, params["modules_file"]))
    if params["shm_min_bytes"] is not None:
        checks.append(check_shm(params["shm_min_bytes"], params["shm_path"]))
    if params["disk"] is not None:
        checks.extend(check_disk(params["disk"]))
    if params["paths_present"] is not None:
        checks.extend(check_paths_present(params["paths_present"]))
    if params["memlock_min"] is not None:
        checks.extend(read_memlock(module, proc_root))
    if params["reach"] is not None:
        checks.extend(check_reach(params["reach"], params["reach_timeout"]))
    if params["resolve"] is not None:
        resolutions, resolved = resolve_names(params["resolve"])
        checks.extend(resolved)

    summary = summarize(checks)
    msg = "%d checks: %s" % (len(checks), ", ".join("%d %s" % (summary[status], status) for status in STATUSES))
    result = dict(changed=False, checks=checks, failed_checks=summary[FAIL], summary=summary, resolutions=resolutions, msg=msg)
    if summary[FAIL] and params["fail_on_error"]:
        failed = [check for check in checks if check["status"] == FAIL]
        result["msg"] = "%d host checks failed.\n%s" % (
            len(failed),
            "\n".join("%s: found %s; needed %s; fix: %s" % (c["check"], c["found"], c["needed"], c["fix"]) for c in failed),
        )
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
