# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of the plan: what each host must offer before anything is installed (its preflight block).

``preflight_block`` turns a host's services, their instances and the host's settings into the checks the
preflight phase runs there: paths with the bytes each needs free, ports that must be free, kernel modules,
peers to reach, names to resolve. The plan (``_topology.build_plan``) calls it for every host, so the
preflight phase and its report read one answer instead of working it out again in YAML.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence

from ansible_collections.gpufleet.sglang.plugins.module_utils._input_rules import is_ip


def hf_home(service: Mapping[str, Any]) -> str:
    """The Hugging Face cache of a worker: HF_HOME of its environment, else ~/.cache/huggingface of its user."""
    return service["env"].get("HF_HOME") or "%s/.cache/huggingface" % service["home"].rstrip("/")


def weights_dir(model_path: str, service: Mapping[str, Any]) -> str:
    """Where a worker reads its model's weights: the local path, or the model's folder in its HF cache."""
    if model_path.startswith("/"):
        return model_path
    return "%s/hub/models--%s" % (hf_home(service), model_path.replace("/", "--"))


def preflight_block(
    services: Sequence[Mapping[str, Any]],
    instances: Mapping[str, Mapping[str, Any]],
    settings: Mapping[str, Any],
    fleet_names: Sequence[str],
    ssh_ports: Mapping[str, int],
) -> Dict[str, Any]:
    """The preflight checks of one host.

    ``services``: the host's services from the plan; ``instances``: the plan's instance records by name;
    ``settings``: the host's sglang_preflight_* values; ``fleet_names``: every address and machine of the
    fleet; ``ssh_ports``: each host's SSH port (ansible_port), to reach a master before anything listens.
    """
    workers = [s for s in services if s["kind"] == "worker"]
    rdma = any(s["rdma"] for s in workers)
    modules = settings["sglang_preflight_kernel_modules"]
    if modules == "auto":
        modules = list(dict.fromkeys(m for s in workers for m in s["kernel_modules"]))

    disk: List[Dict[str, Any]] = []

    def need(path: str, size: int, purpose: str) -> None:
        if path not in (entry["path"] for entry in disk):
            disk.append({"path": path, "min_free_bytes": size, "purpose": purpose})

    # Only what this fleet installs counts: the engine simulator runs on the system Python, in no venv.
    for service in services:
        if service["venv"]:
            need(service["venv"], settings["sglang_preflight_venv_min_free_bytes"], "virtualenv of %s" % service["unit"])
    for service in workers:
        if not instances[service["instance"]]["model_path"].startswith("/"):
            need(hf_home(service), settings["sglang_preflight_model_min_free_bytes"],
                 "Hugging Face cache of %s (user %s)" % (service["unit"], service["user"]))

    reach = []
    for service in workers:
        instance = instances[service["instance"]]
        if service["node_rank"] and instance["dist_init_addr"]:
            # Nothing listens on the dist-init port before the services start: the master's SSH port stands in.
            target = {"host": instance["master_address"], "port": ssh_ports.get(instance["master"], 22)}
            if target not in reach:
                reach.append(target)

    return {
        "gpu_ids": sorted({gpu for s in workers for gpu in s["gpu_ids"]}),
        "rdma": rdma,
        "ports": [{"port": entry["port"], "purpose": "%s (%s)" % (entry["purpose"], s["unit"]), "unit": s["unit"]}
                  for s in services for entry in s["ports"]],
        "kernel_modules": list(modules) if workers else [],
        "modules_file": settings["sglang_preflight_modules_file"],
        "gpu_timeout": settings["sglang_preflight_gpu_timeout"],
        "driver_floor": settings["sglang_preflight_driver_floor"],
        # The RDMA ports gpu_facts pairs with the GPUs and ib_port_state checks (sglang_ib_device).
        "ib": {"sysfs_root": settings["sglang_preflight_ib_sysfs_root"], "link_layer": settings["sglang_preflight_ib_link_layer"],
               "devices": settings["sglang_ib_device"] if workers else "auto"},
        # The account of the host's units: a port it holds is ours even where /proc/<pid>/fd is unreadable.
        "service_user": services[0]["user"],
        "shm_min_bytes": settings["sglang_preflight_shm_min_bytes"] if workers else None,
        "memlock_min": settings["sglang_preflight_memlock_min"] if rdma else None,
        "disk": disk,
        "paths_present": sorted({instances[s["instance"]]["model_path"] for s in workers
                                 if instances[s["instance"]]["model_path"].startswith("/")}),
        "reach": reach,
        "resolve": sorted({name for name in fleet_names if not is_ip(name)}),
    }
