# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host preflight report: every host's collected results judged against the plan, on the controller.

``playbooks/preflight.yml`` runs the read-only modules on every host and registers their results
without failing; the ``preflight_report`` action hands them here. Everything is a pure function of the
plan and the per-host results, so the unit tests feed hand-made results:

- ``gpu``: what ``gpufleet.sglang.gpu_facts`` returned (judged by ``_gpu.check_gpus``);
- ``ib``: what ``gpufleet.sglang.ib_port_state`` returned (its ``problems``; a RoCE port needs a GID);
- ``host``: what ``gpufleet.sglang.host_checks`` returned (its ``checks`` and ``resolutions``).

A result may also be a skipped task (``skipped``), an unreachable host (``unreachable``) or a task that
failed outright (``failed`` with ``msg``, e.g. a timeout): each becomes a row, never an exception.

Cross-host rules: one GPU model per instance across its nodes, and each name resolving to the same
addresses on every host (``_host_checks.compare_resolutions``).

Rows are ``{host, check, status, found, needed, fix}`` with ``status`` in ok, fail, warn, skipped.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from ansible_collections.gpufleet.sglang.plugins.module_utils._gpu import check_gpus, gpu_ranges, version_tuple
from ansible_collections.gpufleet.sglang.plugins.module_utils._host_checks import compare_resolutions
from ansible_collections.gpufleet.sglang.plugins.module_utils._profiles import profile as release_profile

SCHEMA_VERSION = 1
OK, FAIL, WARN, SKIPPED = "ok", "fail", "warn", "skipped"
RESULT_KEYS = ("gpu", "ib", "host")
FLEET = "(fleet)"  # the host column of a cross-host row that no single host owns
_TABLE_COLUMNS = ("host", "check", "status", "found", "needed", "fix")
_TABLE_WIDTHS = {"check": 40, "found": 60, "needed": 45, "fix": 60}


def row(host: str, check: str, status: str, found: Any = "", needed: Any = "", fix: Any = "") -> Dict[str, Any]:
    return {"host": host, "check": check, "status": status, "found": _text(found), "needed": _text(needed), "fix": _text(fix)}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value)


def services_by_host(plan: Mapping[str, Any]) -> Dict[str, List[Mapping[str, Any]]]:
    """The plan's services grouped by inventory host, in plan order."""
    by_host: Dict[str, List[Mapping[str, Any]]] = {}
    for service in plan.get("services") or []:
        by_host.setdefault(service["host"], []).append(service)
    return by_host


def gpu_ids_needed(services: Iterable[Mapping[str, Any]]) -> Dict[str, List[int]]:
    """Every GPU range the plan gives a host, by instance."""
    needed: Dict[str, List[int]] = {}
    for service in services:
        if service.get("kind") == "worker" and service.get("gpu_ids"):
            needed.setdefault(service["instance"], [])
            needed[service["instance"]] = sorted(set(needed[service["instance"]]) | set(service["gpu_ids"]))
    return needed


def _task_problem(host: str, check: str, result: Any, what: str) -> Optional[Dict[str, Any]]:
    """A row for a result that holds no module output: missing, unreachable, or failed before the module answered."""
    if result is None:
        return row(host, check, FAIL, "no result: the %s task did not run on this host" % what,
                   "the %s result of this host" % what,
                   "run the whole preflight.yml (not a --limit or --tags subset without the host plays); check that the "
                   "host is in the inventory and reachable (`ansible -m ping %s`)" % host)
    if not isinstance(result, Mapping):
        return row(host, check, FAIL, "unexpected result %r" % (result,), "the %s module's result" % what, "report this as a bug")
    if result.get("unreachable"):
        return row(host, check, FAIL, "host unreachable: %s" % _one_line(result.get("msg")), "an SSH connection to the host",
                   "check that the host is up, its address (ansible_host) and SSH port are right and the controller's key "
                   "is accepted (`ansible -m ping %s`)" % host)
    return None


def _one_line(text: Any) -> str:
    return " ".join(str(text or "no message").split())


def profile_requirements(plan: Mapping[str, Any], services: Iterable[Mapping[str, Any]]) -> Dict[str, Any]:
    """The driver floor and GPU architectures the release profiles of a host's instances need.

    The highest ``driver_floor`` of the profiles, and the architectures every one of them supports
    (None when no profile names them, or when an instance carries no ``release_profile``).
    """
    names = {s.get("instance") for s in services if s.get("kind") == "worker"}
    floor: Optional[str] = None
    caps: Optional[List[str]] = None
    for instance in plan.get("instances") or []:
        if instance.get("name") not in names:
            continue
        prof = release_profile(instance.get("release_profile"))
        if not prof:
            continue
        candidate = prof.get("driver_floor")
        if candidate and (floor is None or (version_tuple(candidate) or ()) > (version_tuple(floor) or ())):
            floor = candidate
        if prof.get("cuda_archs") is not None:
            caps = list(prof["cuda_archs"]) if caps is None else [c for c in caps if c in prof["cuda_archs"]]
    return {"driver_floor": floor, "cuda_archs": caps}


def gpu_rows(host: str, services: Sequence[Mapping[str, Any]], result: Any, driver_floor: Optional[str] = None,
             compute_caps: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    """GPU rows of a host: ``check_gpus`` failures, the checks that could not run, persistence and NIC affinity.

    ``driver_floor`` and ``compute_caps`` (the release profile's ``cuda_archs``) are None to skip those checks.
    """
    needed = gpu_ids_needed(services)
    if not needed:
        return []
    problem = _task_problem(host, "gpu_facts", result, "gpu_facts")
    if problem:
        return [problem]
    if result.get("skipped"):
        return [row(host, "gpu_facts", SKIPPED, "the gpu_facts task was skipped", "GPUs %s" % _needed_text(needed))]
    if result.get("failed") and "nvidia_smi" not in result:
        # The task failed before the module answered (a timeout: nvidia-smi hangs on a GPU in a bad state).
        return [row(host, "gpu_facts", FAIL, "gpu_facts failed: %s" % _one_line(result.get("msg")),
                    "nvidia-smi answering within the task's timeout (sglang_preflight_gpu_timeout)",
                    "run `nvidia-smi` on the host: a hang usually means a GPU in a bad state (`dmesg | grep -i xid`); "
                    "reset it (`nvidia-smi -r -i <gpu>`) or reboot")]
    try:
        report = check_gpus(result, gpu_ids_needed=needed, driver_floor=driver_floor or None,
                            supported_compute_caps=compute_caps)
    except ValueError as error:
        return [row(host, "driver_version", FAIL, str(error), "a valid sglang_preflight_driver_floor",
                    "set sglang_preflight_driver_floor to a dotted driver version such as 570.26, or leave it unset")]
    rows = [row(host, f["check"], FAIL, f["found"], f["needed"], f["fix"]) for f in report["failures"]]
    failed_checks = {f["check"] for f in report["failures"]}
    rows.extend(row(host, n["check"], SKIPPED, "not run: %s" % n["reason"], "") for n in report["not_run"]
                if n["check"] not in failed_checks)
    if "gpu_count" not in failed_checks and not any(n["check"] == "gpu_count" for n in report["not_run"]):
        rows.append(row(host, "gpu_count", OK, _one_line(result.get("msg")), "GPUs %s" % _needed_text(needed)))
    if driver_floor and "driver_version" not in failed_checks and not report["not_run"]:
        rows.append(row(host, "driver_version", OK, "driver %s" % result.get("driver_version"), "driver %s or newer" % driver_floor))
    for info in report["info"]:
        disabled = info.get("disabled_gpus") or []
        rows.append(row(host, info["check"], WARN if disabled else OK, info["found"], "persistence mode Enabled (reported, never fails)",
                        info["note"] if disabled else ""))
    for warning in ((result.get("nic_affinity") or {}).get("cross_socket") or []):
        rows.append(row(host, "gpu_nic_affinity", WARN, warning.get("warning"), "an active RDMA NIC on the GPU's own NUMA node",
                        warning.get("fix")))
    return rows


def _needed_text(needed: Mapping[str, Sequence[int]]) -> str:
    return "; ".join("%s for %s" % (gpu_ranges(ids), instance) for instance, ids in needed.items())


def ib_rows(host: str, result: Any, link_layer: str = "any") -> List[Dict[str, Any]]:
    """RDMA port rows of a prefill/decode host; None result for a host that needs no RDMA is the caller's business."""
    problem = _task_problem(host, "ib_port", result, "ib_port_state")
    if problem:
        return [problem]
    if result.get("skipped"):
        return []
    if result.get("failed") and "problems" not in result:
        return [row(host, "ib_port", FAIL, "ib_port_state failed: %s" % _one_line(result.get("msg")),
                    "the RDMA ports read from sysfs or ibv_devinfo",
                    "check sglang_ib_device and sglang_preflight_ib_sysfs_root; run `ibv_devinfo -v` on the host")]
    needed_layer = "any link layer" if link_layer == "any" else "link layer %s" % link_layer
    rows = []
    for problem_ in result.get("problems") or []:
        rows.append(row(host, "ib_port:%s" % problem_.get("device"), FAIL, problem_.get("found"), problem_.get("needed"), problem_.get("fix")))
    active = list(result.get("active_devices") or [])
    if not rows:
        rows.append(row(host, "ib_port", OK, "active: %s (%s)" % (", ".join(active) or "none", result.get("source")),
                        "an ACTIVE RDMA port (%s) for the KV transfer" % needed_layer))
    for port in result.get("ports") or []:
        if port.get("device") in active and port.get("state") == "ACTIVE" and port.get("link_layer") == "Ethernet" and not port.get("gid"):
            rows.append(row(host, "roce_gid:%s" % port["device"], FAIL,
                            "%s port %s is RoCE (Ethernet) with no GID set" % (port["device"], port.get("port")),
                            "a GID on every RoCE port the transfer uses",
                            "give the port's netdev an IP address (RoCE GIDs derive from it: `ip addr add <ip>/<len> dev <netdev>`), "
                            "check `show_gids` / `ls /sys/class/infiniband/%s/ports/%s/gids`" % (port["device"], port.get("port"))))
    return rows


def host_check_rows(host: str, result: Any) -> List[Dict[str, Any]]:
    """The rows of host_checks, as it returned them."""
    problem = _task_problem(host, "host_checks", result, "host_checks")
    if problem:
        return [problem]
    if result.get("skipped"):
        return [row(host, "host_checks", SKIPPED, "the host_checks task was skipped", "")]
    checks = result.get("checks")
    if checks is None:
        return [row(host, "host_checks", FAIL, "host_checks failed: %s" % _one_line(result.get("msg")),
                    "the host checks (ports, kernel modules, /dev/shm, disk, paths, memlock, reach, resolution)",
                    "run the preflight with -vvv to see the module's error; report it if it is a traceback")]
    return [row(host, c.get("check", "?"), c.get("status", FAIL), c.get("found"), c.get("needed"), c.get("fix")) for c in checks]


def plan_warning_rows(plan: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """The plan's warnings, one row per host they name (open_without_api_key, ...), so the report shows them."""
    rows = []
    for warning in plan.get("warnings") or []:
        for host in (warning.get("host") or FLEET).split(", "):
            rows.append(row(host, "plan: %s" % warning["rule"], WARN, warning["message"], "", warning["fix"]))
    return rows


def model_rows(plan: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """One GPU model per instance, across all its nodes (a host's own mix is ``check_gpus``'s gpu_model)."""
    rows = []
    for instance in plan.get("instances") or []:
        if len(instance.get("nodes") or []) < 2:
            continue  # one node: check_gpus's gpu_model covers it
        models: Dict[str, List[str]] = {}
        for node in instance.get("nodes") or []:
            gpu = (results.get(node["host"]) or {}).get("gpu")
            if not isinstance(gpu, Mapping) or gpu.get("nvidia_smi") != "present":
                continue
            names = {g.get("name") or "unknown model" for g in gpu.get("gpus") or [] if g.get("index") in instance.get("gpu_ids", [])}
            for name in names:
                models.setdefault(name, []).append(node["host"])
        if len(models) > 1:
            found = "; ".join("%s on %s" % (name, ", ".join(hosts)) for name, hosts in sorted(models.items()))
            hosts = sorted({h for hs in models.values() for h in hs})
            for host in hosts:
                rows.append(row(host, "gpu_model:%s" % instance["name"], FAIL, found,
                                "one GPU model across the nodes of %s" % instance["name"],
                                "tensor-parallel ranks run in lockstep across nodes: put %s on nodes with identical GPUs "
                                "(move the odd node to another instance, or replace it)" % instance["name"]))
    return rows


def resolution_rows(results: Mapping[str, Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Each name resolving to the same addresses on every host that resolved it."""
    by_host = {}
    for host, result in results.items():
        host_result = result.get("host")
        if isinstance(host_result, Mapping) and isinstance(host_result.get("resolutions"), Mapping):
            by_host[host] = host_result["resolutions"]
    rows = []
    for mismatch in compare_resolutions(by_host):
        for host in sorted(mismatch["addresses"]):
            rows.append(row(host, "resolve_consistent:%s" % mismatch["name"], FAIL, mismatch["found"], mismatch["needed"], mismatch["fix"]))
    if by_host and not rows:
        names = sorted({name for res in by_host.values() for name in res})
        if names:
            rows.append(row(FLEET, "resolve_consistent", OK, "%d name%s resolve alike on %d host%s" % (
                len(names), "" if len(names) == 1 else "s", len(by_host), "" if len(by_host) == 1 else "s"),
                "the same addresses on every host"))
    return rows


def needs_rdma(services: Iterable[Mapping[str, Any]]) -> bool:
    """A worker of the host moves data over RDMA (the plan's ``rdma``: KV transfer, DeepEP across nodes)."""
    return any(s.get("rdma") for s in services)


def build_report(
    plan: Mapping[str, Any],
    results: Mapping[str, Mapping[str, Any]],
    *,
    driver_floor: Optional[str] = None,
    link_layer: str = "any",
) -> Dict[str, Any]:
    """The whole preflight report: per-host rows, cross-host rows, failures, and the instances they block.

    ``results`` maps each host to ``{gpu, ib, host}`` (each a registered task result, or None when the
    task did not run there). Every host of the plan gets rows; a host missing from ``results`` is
    reported as such. The floor of the driver is the host's sglang_preflight_driver_floor (its preflight
    block in the plan), else that of the release profile of its instances; ``driver_floor`` overrides
    both. The profile's ``cuda_archs`` are the GPU architectures the host's GPUs must have. The RDMA
    link layer is the host's too (``link_layer`` stands in for a plan without host blocks).
    """
    by_host = services_by_host(plan)
    rows: List[Dict[str, Any]] = []
    for host, services in by_host.items():
        result = results.get(host) or {}
        if not result:
            rows.append(_task_problem(host, "results", None, "preflight"))
            continue
        needs = profile_requirements(plan, services)
        block = ((plan.get("hosts") or {}).get(host) or {}).get("preflight") or {}
        floor = driver_floor or block.get("driver_floor") or needs["driver_floor"]
        rows.extend(gpu_rows(host, services, result.get("gpu"), floor, needs["cuda_archs"]))
        if needs_rdma(services):
            rows.extend(ib_rows(host, result.get("ib"), (block.get("ib") or {}).get("link_layer") or link_layer))
        rows.extend(host_check_rows(host, result.get("host")))
    rows.extend(model_rows(plan, results))
    rows.extend(plan_warning_rows(plan))
    rows.extend(resolution_rows({h: r for h, r in results.items() if h in by_host}))

    failures = [r for r in rows if r["status"] == FAIL]
    failed_hosts = sorted({r["host"] for r in failures if r["host"] != FLEET})
    blocked = sorted({s["instance"] for h in failed_hosts for s in by_host.get(h, [])})
    hosts = {}
    for host in by_host:
        own = [r for r in rows if r["host"] == host]
        gpu = (results.get(host) or {}).get("gpu")
        affinity = gpu.get("nic_affinity") if isinstance(gpu, Mapping) else None
        hosts[host] = {
            "services": [s.get("unit") for s in by_host[host]],
            # The nearest active NICs of each GPU, as SGLang's --disaggregation-ib-device takes them
            # (for sglang_ib_device: auto); None without GPUs or RDMA devices.
            "ib_device_mapping": (affinity or {}).get("argument") if isinstance(affinity, Mapping) else None,
            "counts": {status: sum(1 for r in own if r["status"] == status) for status in (OK, FAIL, WARN, SKIPPED)},
        }
    return {
        "schema_version": SCHEMA_VERSION,
        "ok": not failures,
        "driver_floor": driver_floor or None,
        "hosts": hosts,
        "blocked_instances": blocked,
        "failures": failures,
        "warnings": [r for r in rows if r["status"] == WARN],
        "checks": rows,
    }


def _cell(value: str, column: str) -> str:
    width = _TABLE_WIDTHS.get(column)
    value = " ".join(value.split())
    if width and len(value) > width:
        return value[: width - 3] + "..."
    return value


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = _TABLE_COLUMNS) -> List[str]:
    """The rows as an aligned text table, one string per line (long cells are cut; preflight.json has them whole)."""
    cells = [[_cell(str(r.get(c, "")), c) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() for line in cells)
    return lines


def failure_message(report: Mapping[str, Any], dest: Optional[str] = None) -> str:
    """Every host's failures at once: host, check, found, needed and fix."""
    failures = report["failures"]
    hosts = sorted({f["host"] for f in failures})
    lines = ["Preflight failed: %d check%s on %d host%s (%s); blocked instance%s: %s. Nothing was installed or started." % (
        len(failures), "" if len(failures) == 1 else "s", len(hosts), "" if len(hosts) == 1 else "s", ", ".join(hosts),
        "" if len(report["blocked_instances"]) == 1 else "s", ", ".join(report["blocked_instances"]) or "none")]
    for failure in failures:
        lines.append("- %s: %s: found %s; needed %s; fix: %s" % (
            failure["host"], failure["check"], failure["found"], failure["needed"], failure["fix"] or "see the found value"))
    if dest:
        lines.append("Full report: %s" % dest)
    return "\n".join(lines)
