# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plan renderings, on plans built by hand in the shape of docs/plan-format.md."""
from __future__ import annotations

import re
import shlex
import time
import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest

from ansible_collections.gpufleet.sglang.plugins.module_utils._plan_render import render_markdown, render_svg

MODEL = "deepseek-ai/DeepSeek-V3"
SVG = "{http://www.w3.org/2000/svg}"
GROUPS = {"regular": "sglang_workers", "prefill": "sglang_prefill", "decode": "sglang_decode"}


# ---------------------------------------------------------------- plan builders


def make_instance(name: str, role: str, nodes: Sequence[Tuple[str, str]], *, gpu_ids: Sequence[int] = range(8),
                  dp_attention: bool = False, port: int = 30000, machine: Optional[str] = None,
                  model: str = MODEL, extra_args: Sequence[str] = ()) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """An instance on ``nodes`` ((host, address) pairs, master first) and its worker services."""
    gpu_ids = list(gpu_ids)
    tp = len(gpu_ids) * len(nodes)
    master_host, master_address = nodes[0]
    uses_dist_init = len(nodes) > 1 or dp_attention
    bootstrap_port = 8998 if role == "prefill" else None
    instance = {
        "name": name, "role": role, "group": GROUPS[role], "model_path": model,
        "nnodes": len(nodes), "gpus_per_node": len(gpu_ids), "base_gpu_id": gpu_ids[0], "gpu_ids": gpu_ids,
        "tp_size": tp, "dp_size": tp if dp_attention else 1, "pp_size": 1, "ep_size": tp if dp_attention else 1,
        "enable_dp_attention": dp_attention, "attn_tp_size": 1 if dp_attention else tp,
        "port": port, "url": f"http://{master_address}:{port}", "bootstrap_port": bootstrap_port,
        "dist_init_addr": f"{master_address}:5000" if uses_dist_init else None,
        "master": master_host, "master_address": master_address,
        "nodes": [{"host": host, "address": address, "node_rank": rank} for rank, (host, address) in enumerate(nodes)],
    }
    ports = [{"port": port, "purpose": "http"}]
    if bootstrap_port:
        ports.append({"port": bootstrap_port, "purpose": "bootstrap"})
    if uses_dist_init:
        ports.append({"port": 5000, "purpose": "dist-init"})
    if dp_attention:
        ports.extend({"port": p, "purpose": "dist-init block (DP attention)"} for p in range(5001, 5007))
    services = []
    for rank, (host, address) in enumerate(nodes):
        argv = ["/opt/sglang/venv/bin/python", "-m", "sglang.launch_server", "--model-path", model,
                "--tp-size", str(tp), "--host", address, "--port", str(port), "--base-gpu-id", str(gpu_ids[0])]
        if uses_dist_init:
            argv += ["--dist-init-addr", instance["dist_init_addr"], "--nnodes", str(len(nodes)),
                     "--node-rank", str(rank)]
        if role != "regular":
            argv += ["--disaggregation-mode", role]
        services.append({
            "host": host, "address": address, "machine": machine or address, "kind": "worker", "role": role,
            "instance": name, "node_rank": rank, "unit": f"sglang-{name}", "gpu_ids": gpu_ids, "ports": ports,
            "argv": argv + list(extra_args), "env": {"NCCL_SOCKET_IFNAME": "ens1f0"},
            "secret_env": {"HF_TOKEN": "sglang_hf_token"},
        })
    return instance, services


def make_plan(*parts: Tuple[Dict[str, Any], List[Dict[str, Any]]], router: bool = False,
              backend: Optional[str] = None, warnings: Sequence[Dict[str, Any]] = ()) -> Dict[str, Any]:
    instances = [instance for instance, _services in parts]
    services = [service for _instance, worker_services in parts for service in worker_services]
    mode = "pd" if any(instance["role"] != "regular" for instance in instances) else "regular"
    models = {instance["model_path"] for instance in instances}
    router_record = None
    if router:
        router_record = {"host": "r0", "address": "10.0.0.10", "port": 8000, "url": "http://10.0.0.10:8000"}
        argv = ["/opt/sglang-router/venv/bin/smg", "launch"]
        if mode == "pd":
            argv.append("--pd-disaggregation")
            for instance in instances:
                argv += (["--prefill", instance["url"], str(instance["bootstrap_port"])]
                         if instance["role"] == "prefill" else ["--decode", instance["url"]])
        else:
            argv += ["--worker-urls"] + [instance["url"] for instance in instances]
        services.append({
            "host": "r0", "address": "10.0.0.10", "machine": "10.0.0.10", "kind": "router", "role": "router",
            "instance": "router", "node_rank": None, "unit": "sglang-router", "gpu_ids": [],
            "ports": [{"port": 8000, "purpose": "router http"}], "argv": argv + ["--port", "8000"],
            "env": {}, "secret_env": {},
        })
    return {
        "schema_version": 1, "mode": mode, "model_path": models.pop() if len(models) == 1 else None,
        "transfer_backend": backend, "instances": instances, "router": router_record,
        "links": [{"prefill": p["name"], "decode": d["name"], "backend": backend}
                  for p in instances if p["role"] == "prefill" for d in instances if d["role"] == "decode"],
        "services": services, "warnings": list(warnings),
    }


def cluster(prefix: str, subnet: int, count: int) -> List[Tuple[str, str]]:
    return [(f"{prefix}{index}", f"10.0.{subnet}.{index + 1}") for index in range(count)]


def single_node_plan() -> Dict[str, Any]:
    return make_plan(make_instance("regular-0", "regular", cluster("gpu", 1, 1)))


def one_prefill_one_decode_plan() -> Dict[str, Any]:
    warning = {"instance": "decode-0", "host": None, "variable": "sglang_tp_size", "rule": "pd_attn_tp_mismatch",
               "message": "prefill attention-TP [8] differs from decode attention-TP [1].",
               "fix": "use the same attention-TP size on both sides."}
    return make_plan(make_instance("prefill-0", "prefill", cluster("p", 1, 1)),
                     make_instance("decode-0", "decode", cluster("d", 2, 1), dp_attention=True),
                     router=True, backend="nixl", warnings=[warning])


def pd_grid_plan(prefills: int, decodes: int) -> Dict[str, Any]:
    return make_plan(*[make_instance(f"prefill-{i}", "prefill", cluster(f"p{i}-", 10 + i, 2)) for i in range(prefills)],
                     *[make_instance(f"decode-{i}", "decode", cluster(f"d{i}-", 50 + i, 1)) for i in range(decodes)],
                     router=True, backend="nixl")


def four_by_nine_nodes_plan() -> Dict[str, Any]:
    return make_plan(make_instance("prefill-0", "prefill", cluster("prefill-node-", 1, 4), dp_attention=True),
                     make_instance("decode-0", "decode", cluster("decode-node-", 2, 9), dp_attention=True),
                     router=True, backend="mooncake")


def shared_machine_plan() -> Dict[str, Any]:
    return make_plan(make_instance("small-a", "regular", [("box-a", "10.0.3.7")], gpu_ids=range(0, 4),
                                   machine="10.0.3.7", model="Qwen/Qwen3-8B"),
                     make_instance("small-b", "regular", [("box-b", "10.0.3.7")], gpu_ids=range(4, 8), port=30001,
                                   machine="10.0.3.7", model="Qwen/Qwen3-4B"),
                     router=True)


def large_fleet_plan() -> Dict[str, Any]:
    """512 nodes: one 256-node instance and 32 instances of 8 nodes."""
    big = make_instance("regular-0", "regular", cluster("big", 100, 256))
    small = [make_instance(f"regular-{i + 1}", "regular", [(f"n{i}-{k}", f"10.{i + 1}.0.{k + 1}") for k in range(8)])
             for i in range(32)]
    return make_plan(big, *small, router=True)


# ---------------------------------------------------------------- helpers to read the output


def parse_svg(plan: Dict[str, Any]) -> ET.Element:
    return ET.fromstring(render_svg(plan))


def svg_lines(root: ET.Element) -> List[str]:
    """Each <text> as it reads on screen: its tspans joined by spaces."""
    return [" ".join(part.strip() for part in text.itertext()) for text in root.iter(f"{SVG}text")]


def with_class(root: ET.Element, css_class: str) -> List[ET.Element]:
    return [element for element in root.iter() if css_class in element.get("class", "").split()]


def table_rows(markdown: str, heading: str) -> List[List[str]]:
    """The cells of the table under ``## heading``, split on unescaped pipes."""
    section = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [re.split(r"(?<!\\)\|", line)[1:-1] for line in section.splitlines() if line.startswith("|")]


ALL_PLANS = [single_node_plan, one_prefill_one_decode_plan, lambda: pd_grid_plan(2, 2), four_by_nine_nodes_plan,
             shared_machine_plan]
PLAN_IDS = ["single-node", "1p1d", "2p2d", "4-node-p-9-node-d", "shared-machine"]


# ---------------------------------------------------------------- both renderings, every plan


@pytest.mark.parametrize("build", ALL_PLANS, ids=PLAN_IDS)
def test_svg_shows_every_instance_node_and_gpu_range(build):
    plan = build()
    lines = svg_lines(parse_svg(plan))
    text = "\n".join(lines)
    for instance in plan["instances"]:
        assert any(line.startswith(instance["name"] + " ") for line in lines)
        gpus = "GPU %d-%d" % (instance["gpu_ids"][0], instance["gpu_ids"][-1])
        for node in instance["nodes"]:
            assert f"{node['host']} {node['address']} rank {node['node_rank']} {gpus}" in lines
    assert "more nodes" not in text


@pytest.mark.parametrize("build", ALL_PLANS, ids=PLAN_IDS)
def test_markdown_lists_every_service_and_its_exact_command(build):
    plan = build()
    markdown = render_markdown(plan)
    services = table_rows(markdown, "Services")
    assert len(services) == 2 + len(plan["services"])
    for service, row in zip(plan["services"], services[2:]):
        assert [row[0].strip(), row[1].strip(), row[2].strip()] == [service["host"], service["address"],
                                                                    service["machine"]]
        assert "\n" + shlex.join(service["argv"]) + "\n" in markdown
    assert markdown.count("export NCCL_SOCKET_IFNAME=ens1f0\n") == sum(s["kind"] == "worker" for s in plan["services"])
    assert len(table_rows(markdown, "Instances")) == 2 + len(plan["instances"])


@pytest.mark.parametrize("build", ALL_PLANS, ids=PLAN_IDS)
def test_router_line_reaches_each_instance_master_row(build):
    plan = build()
    root = parse_svg(plan)
    links = with_class(root, "router-link")
    assert sorted(link.get("data-instance") for link in links) == (
        sorted(instance["name"] for instance in plan["instances"]) if plan["router"] else [])
    groups = {group.get("data-instance"): group for group in with_class(root, "instance")}
    box_spans = [(int(rect.get("x")), int(rect.get("x")) + int(rect.get("width")))
                 for rect in (group.find(f"{SVG}rect") for group in groups.values())]
    for link in links:
        [master_row] = with_class(groups[link.get("data-instance")], "master")
        instance = next(i for i in plan["instances"] if i["name"] == link.get("data-instance"))
        assert svg_lines(master_row) == [f"{instance['master']} {instance['master_address']} rank 0 "
                                         f"GPU {instance['gpu_ids'][0]}-{instance['gpu_ids'][-1]}"]
        # The path's last vertical run ends on the master row, 4px above its baseline, and runs beside
        # the boxes, never through one.
        arrival_y = int(re.findall(r"V(\d+)", link.get("d"))[-1])
        assert arrival_y == int(master_row.get("y")) - 4
        trunk_x = int(re.findall(r"H(\d+)", link.get("d"))[0])
        assert not any(left <= trunk_x <= right for left, right in box_spans)


# ---------------------------------------------------------------- one plan at a time


def test_single_node_has_no_router_and_no_links():
    plan = single_node_plan()
    root = parse_svg(plan)
    assert not with_class(root, "router") and not with_class(root, "kv-label")
    markdown = render_markdown(plan)
    assert markdown.startswith(f"# SGLang topology: regular instances · {MODEL}\n")
    assert "1 instance · 1 node on 1 machine · 8 GPUs · no router" in markdown
    assert "No router: clients call the instance URLs directly." in markdown
    assert "## KV transfer\n\nNone." in markdown and "## Warnings\n\nNone." in markdown


def test_one_prefill_one_decode_draws_one_labelled_link():
    plan = one_prefill_one_decode_plan()
    root = parse_svg(plan)
    # One link reads as one straight arrow: both stubs at one height, meeting at the bus.
    prefill_stub, decode_stub = with_class(root, "kv-stub")
    assert (prefill_stub.get("data-prefill"), decode_stub.get("data-decode")) == ("prefill-0", "decode-0")
    assert {prefill_stub.get("y1"), prefill_stub.get("y2"), decode_stub.get("y1"), decode_stub.get("y2")} == {
        prefill_stub.get("y1")}
    assert prefill_stub.get("x2") == decode_stub.get("x1")
    assert [label.text for label in with_class(root, "kv-label")] == ["KV transfer (nixl)"]
    lines = svg_lines(root)
    assert "router · r0" in lines and "http://10.0.0.10:8000" in lines
    assert "TP 8 · DP 8 · EP 8 · DP attention, attn-TP 1" in lines
    assert "http://10.0.1.1:30000 (bootstrap 8998)" in lines

    markdown = render_markdown(plan)
    assert "r0 (10.0.0.10) serves http://10.0.0.10:8000 and routes to:" in markdown
    assert "- prefill: http://10.0.1.1:30000 (bootstrap 8998)\n- decode: http://10.0.2.1:30000\n" in markdown
    assert "- prefill-0 → decode-0 (nixl)" in markdown
    assert ("- **pd_attn_tp_mismatch** (instance decode-0, variable sglang_tp_size): prefill attention-TP [8] "
            "differs from decode attention-TP [1]. Fix: use the same attention-TP size on both sides.") in markdown
    assert "# HF_TOKEN: secret, set from inventory variable sglang_hf_token" in markdown
    instances = table_rows(markdown, "Instances")
    assert [cell.strip() for cell in instances[3]] == [
        "decode-0", "decode", "1", "8", "0-7", "8", "8", "1", "8", "yes", "1", "http://10.0.2.1:30000", "—",
        "10.0.2.1:5000"]


@pytest.mark.parametrize("prefills, decodes", [(2, 2), (4, 9)])
def test_many_links_share_one_bus(prefills, decodes):
    plan = pd_grid_plan(prefills, decodes)
    root = parse_svg(plan)
    assert len(with_class(root, "kv-bus")) == 1
    stubs = with_class(root, "kv-stub")
    assert sorted(s.get("data-prefill") for s in stubs if s.get("data-prefill")) == [
        f"prefill-{i}" for i in range(prefills)]
    assert sorted(s.get("data-decode") for s in stubs if s.get("data-decode")) == sorted(
        f"decode-{i}" for i in range(decodes))
    assert [label.text for label in with_class(root, "kv-label")] == ["KV transfer (nixl)"]
    decode_names = ", ".join(f"decode-{i}" for i in range(decodes))
    assert f"- prefill-{prefills - 1} → {decode_names} (nixl)" in render_markdown(plan)


def test_prefill_column_is_left_of_decode_column_and_boxes_do_not_overlap():
    root = parse_svg(four_by_nine_nodes_plan())
    rects = {group.get("data-instance"): group.find(f"{SVG}rect") for group in with_class(root, "instance")}
    prefill, decode = ({key: int(rects[name].get(key)) for key in ("x", "y", "width", "height")}
                       for name in ("prefill-0", "decode-0"))
    assert prefill["x"] + prefill["width"] < decode["x"]
    [router] = [group.find(f"{SVG}rect") for group in with_class(root, "router")]
    assert int(router.get("y")) + int(router.get("height")) < min(prefill["y"], decode["y"])
    assert decode["y"] + decode["height"] <= int(root.get("height"))


def test_dp_attention_port_block_is_one_span():
    markdown = render_markdown(four_by_nine_nodes_plan())
    assert "| 30000 http, 8998 bootstrap, 5000 dist-init, 5001-5006 dist-init block (DP attention) |" in markdown
    assert "| 30000 http, 5000 dist-init, 5001-5006 dist-init block (DP attention) |" in markdown


def test_two_instances_on_one_machine_show_their_gpu_ranges():
    plan = shared_machine_plan()
    lines = svg_lines(parse_svg(plan))
    assert "box-a 10.0.3.7 rank 0 GPU 0-3" in lines and "box-b 10.0.3.7 rank 0 GPU 4-7" in lines
    # Different models: no single model in the title, one per box and a Model column.
    assert "Qwen/Qwen3-8B" in lines and "Qwen/Qwen3-4B" in lines
    markdown = render_markdown(plan)
    assert "2 instances · 2 nodes on 1 machine · 8 GPUs · router r0 (10.0.0.10)" in markdown
    assert markdown.startswith("# SGLang topology: regular instances · mixed models\n")
    rows = [[cell.strip() for cell in row] for row in table_rows(markdown, "Services")[2:]]
    assert [(row[0], row[2], row[7]) for row in rows] == [("box-a", "10.0.3.7", "0-3"), ("box-b", "10.0.3.7", "4-7"),
                                                          ("r0", "10.0.0.10", "—")]
    assert table_rows(markdown, "Instances")[0][-1].strip() == "Model"


def test_large_fleet_renders_fast_and_lists_the_first_nodes_only():
    plan = large_fleet_plan()
    assert sum(len(instance["nodes"]) for instance in plan["instances"]) == 512
    start = time.perf_counter()
    svg, markdown = render_svg(plan), render_markdown(plan)
    assert time.perf_counter() - start < 2.0
    root = ET.fromstring(svg)
    lines = svg_lines(root)
    assert "... 245 more nodes" in lines
    assert "big10 10.0.100.11 rank 10 GPU 0-7" in lines and not any(line.startswith("big11 ") for line in lines)
    assert "n31-7 10.32.0.8 rank 7 GPU 0-7" in lines
    assert len(with_class(root, "router-link")) == 33
    assert "33 instances · 512 nodes on 512 machines · 4096 GPUs" in markdown
    assert all(f"\n{shlex.join(service['argv'])}\n" in markdown for service in plan["services"])


def test_markup_in_values_is_escaped():
    nasty = "a<b>&c|d"
    name = 'odd"name<&>'
    warning = {"instance": name, "host": nasty, "variable": "sglang_server_args", "rule": "odd<rule>",
               "message": "x < y & y | z", "fix": "use `--flag` & retry"}
    plan = make_plan(make_instance(name, "regular", [(nasty, "10.0.9.1")], model="org/model|<v2>&",
                                   extra_args=["--served-model-name", "m|<1>&", "--chat-template", "```"]),
                     router=True, warnings=[warning])

    root = parse_svg(plan)  # raises if any <, & or " reached the XML unescaped
    lines = svg_lines(root)
    assert f"{nasty} 10.0.9.1 rank 0 GPU 0-7" in lines
    assert root.find(f"{SVG}title").text == "SGLang topology: regular instances · org/model|<v2>&"
    assert [group.get("data-instance") for group in with_class(root, "instance")] == [name]
    assert [link.get("data-instance") for link in with_class(root, "router-link")] == [name]

    markdown = render_markdown(plan)
    assert "\n" + shlex.join(plan["services"][0]["argv"]) + "\n" in markdown
    assert "\n````sh\n" in markdown  # a fence longer than the ``` inside the command
    assert "org/model\\|&lt;v2&gt;&amp;" in markdown
    assert '**odd&lt;rule&gt;** (instance odd"name&lt;&amp;&gt;, host a&lt;b&gt;&amp;c\\|d' in markdown
    for heading in ("Instances", "Services"):
        rows = table_rows(markdown, heading)
        assert {len(row) for row in rows} == {len(rows[0])}
    assert table_rows(markdown, "Services")[2][0].strip() == "a&lt;b&gt;&amp;c\\|d"


def test_router_replicas_are_named():
    plan = one_prefill_one_decode_plan()
    plan["router"]["hosts"] = ["r0", "r1", "r2"]
    assert "replicas: r1, r2" in svg_lines(parse_svg(plan))
    assert "\nReplicas with the same configuration: r1, r2.\n" in render_markdown(plan)
