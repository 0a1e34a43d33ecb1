# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A topology plan (docs/plan-format.md) turned into what a person reads.

``render_markdown`` gives ``topology.md``: tables of instances and services,
the router, KV-transfer links, warnings and every service's command line.
``render_svg`` gives a self-contained diagram of the same plan.

Both are pure functions of the plan dict and run in time linear in its size,
so a 512-node fleet renders as quickly as a single node.
"""
from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple
from xml.sax.saxutils import escape

_MODE_LABELS = {"pd": "prefill/decode disaggregation", "regular": "regular instances"}
# Column order of the diagram and group order of the router's worker lists.
_ROLE_ORDER = ("prefill", "decode", "regular")


# ---------------------------------------------------------------- wording shared by both renderings


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _runs(numbered: Iterable[Tuple[int, str]]) -> List[Tuple[str, str]]:
    """Consecutive numbers with the same tag become one ``"a-b"`` span: ``[(span, tag), ...]``."""
    runs: List[List[Any]] = []
    for number, tag in numbered:
        if runs and runs[-1][2] == tag and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number, tag])
    return [(str(first) if first == last else f"{first}-{last}", tag) for first, last, tag in runs]


def _gpu_range(gpu_ids: Sequence[int]) -> str:
    """``0-7`` for a contiguous range, ``0-3,6`` with gaps."""
    return ",".join(span for span, _purpose in _runs((gpu, "") for gpu in gpu_ids)) or "none"


def _port_list(ports: Sequence[Dict[str, Any]]) -> str:
    # A DP-attention block reserves one port per entry; one span reads better than twenty numbers.
    return ", ".join(f"{span} {purpose}" for span, purpose in _runs((p["port"], p["purpose"]) for p in ports))


def _title(plan: Dict[str, Any]) -> str:
    parts = [f"SGLang topology: {_MODE_LABELS.get(plan['mode'], plan['mode'])}",
             plan.get("model_path") or "mixed models"]
    if plan.get("transfer_backend"):
        parts.append(f"KV transfer {plan['transfer_backend']}")
    return " · ".join(parts)


def _summary(plan: Dict[str, Any]) -> str:
    instances = plan["instances"]
    nodes = sum(len(instance["nodes"]) for instance in instances)
    gpus = sum(len(instance["gpu_ids"]) * len(instance["nodes"]) for instance in instances)
    machines = {service["machine"] for service in plan["services"] if service["kind"] == "worker"}
    router = plan.get("router")
    return " · ".join([
        _plural(len(instances), "instance"),
        f"{_plural(nodes, 'node')} on {_plural(len(machines), 'machine')}",
        _plural(gpus, "GPU"),
        f"router {router['host']} ({router['address']})" if router else "no router",
    ])


def _parallelism(instance: Dict[str, Any]) -> str:
    parts = [f"TP {instance['tp_size']}", f"DP {instance['dp_size']}"]
    if instance["pp_size"] != 1:
        parts.append(f"PP {instance['pp_size']}")
    parts.append(f"EP {instance['ep_size']}")
    if instance["enable_dp_attention"]:
        parts.append(f"DP attention, attn-TP {instance['attn_tp_size']}")
    return " · ".join(parts)


def _endpoint(instance: Dict[str, Any]) -> str:
    bootstrap = instance.get("bootstrap_port")
    return instance["url"] + (f" (bootstrap {bootstrap})" if bootstrap else "")


def _router_targets(plan: Dict[str, Any]) -> List[Tuple[str, List[str]]]:
    """The router's worker lists: ``[(role, [endpoint, ...]), ...]`` in column order."""
    by_role: Dict[str, List[str]] = {}
    for instance in plan["instances"]:
        by_role.setdefault(instance["role"], []).append(_endpoint(instance))
    return [(role, by_role[role]) for role in _ROLE_ORDER if role in by_role]


def _router_replicas(router: Dict[str, Any]) -> List[str]:
    """Router hosts besides ``router.host``: the planner lists every sglang_router host in ``hosts``."""
    return [host for host in router.get("hosts") or [] if host != router["host"]]


def _sorted_nodes(instance: Dict[str, Any]) -> List[Dict[str, Any]]:
    return sorted(instance["nodes"], key=lambda node: node["node_rank"])


# ---------------------------------------------------------------- markdown


def _md(value: Any) -> str:
    """Inline markdown text: entities keep ``<`` and ``&`` literal, ``\\|`` keeps table cells whole."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return " ".join(escape(str(value)).replace("|", "\\|").splitlines())


def _md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> List[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines.extend("| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows)
    return lines


def _code_block(body_lines: Sequence[str], info: str) -> List[str]:
    body = "\n".join(body_lines)
    # A fence longer than any backtick run inside cannot be closed by the content.
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", body)), default=0))
    return [fence + info, body, fence]


def _instances_section(plan: Dict[str, Any]) -> List[str]:
    mixed_models = plan.get("model_path") is None
    headers = ["Instance", "Role", "Nodes", "GPUs/node", "GPU ids", "TP", "DP", "PP", "EP",
               "DP attention", "Attn TP", "URL", "Bootstrap", "Dist-init"] + (["Model"] if mixed_models else [])
    rows = [[instance["name"], instance["role"], len(instance["nodes"]), instance["gpus_per_node"],
             _gpu_range(instance["gpu_ids"]), instance["tp_size"], instance["dp_size"], instance["pp_size"],
             instance["ep_size"], instance["enable_dp_attention"], instance["attn_tp_size"], instance["url"],
             instance.get("bootstrap_port"), instance.get("dist_init_addr")]
            + ([instance["model_path"]] if mixed_models else [])
            for instance in plan["instances"]]
    return ["## Instances", "", *_md_table(headers, rows)]


def _services_section(plan: Dict[str, Any]) -> List[str]:
    headers = ["Host", "Address", "Machine", "Role", "Instance", "Rank", "Unit", "GPUs", "Ports"]
    rows = [[service["host"], service["address"], service["machine"], service["role"], service["instance"],
             service["node_rank"], service["unit"], _gpu_range(service["gpu_ids"]) if service["gpu_ids"] else None,
             _port_list(service["ports"])]
            for service in plan["services"]]
    return ["## Services", "", *_md_table(headers, rows)]


def _router_section(plan: Dict[str, Any]) -> List[str]:
    router = plan.get("router")
    if not router:
        return ["## Router", "", "No router: clients call the instance URLs directly."]
    lines = ["## Router", "",
             f"{_md(router['host'])} ({_md(router['address'])}) serves {_md(router['url'])} and routes to:", ""]
    lines.extend(f"- {role}: {_md(', '.join(targets))}" for role, targets in _router_targets(plan))
    replicas = _router_replicas(router)
    return lines + (["", f"Replicas with the same configuration: {_md(', '.join(replicas))}."] if replicas else [])


def _links_section(plan: Dict[str, Any]) -> List[str]:
    if not plan["links"]:
        return ["## KV transfer", "", "None."]
    # Every prefill instance talks to every decode instance: one line per prefill keeps 4x9 short.
    decodes: Dict[Tuple[str, str], List[str]] = {}
    for link in plan["links"]:
        decodes.setdefault((link["prefill"], link["backend"]), []).append(link["decode"])
    return ["## KV transfer", ""] + [f"- {_md(prefill)} → {_md(', '.join(targets))} ({_md(backend)})"
                                     for (prefill, backend), targets in decodes.items()]


def _warnings_section(plan: Dict[str, Any]) -> List[str]:
    lines = ["## Warnings", ""]
    for warning in plan["warnings"]:
        where = [f"{label} {warning[key]}" for label, key in (("instance", "instance"), ("host", "host"),
                                                              ("variable", "variable")) if warning.get(key)]
        lines.append(f"- **{_md(warning['rule'])}** ({_md(', '.join(where))}): {_md(warning['message'])} "
                     f"Fix: {_md(warning['fix'])}")
    return lines if plan["warnings"] else lines + ["None."]


def _commands_section(plan: Dict[str, Any]) -> List[str]:
    lines = ["## Commands"]
    for service in plan["services"]:
        rank = service["node_rank"]
        context = service["instance"] + (f", rank {rank}" if rank is not None else "")
        body = [f"export {shlex.quote(f'{name}={value}')}" for name, value in service["env"].items()]
        body.extend(f"# {name}: secret, set from inventory variable {variable}"
                    for name, variable in service.get("secret_env", {}).items())
        body.append(shlex.join(service["argv"]))
        lines += ["", f"### {_md(service['host'])} · {_md(service['unit'])} ({_md(context)})", "",
                  *_code_block(body, "sh")]
    return lines


def render_markdown(plan: Dict[str, Any]) -> str:
    """``topology.md``: everything the plan decides, for a person to check before deploying."""
    sections = [
        [f"# {_md(_title(plan))}", "", _md(_summary(plan))],
        _instances_section(plan),
        _services_section(plan),
        _router_section(plan),
        _links_section(plan),
        _warnings_section(plan),
        _commands_section(plan),
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


# ---------------------------------------------------------------- SVG

_MARGIN = 24
_PAD = 10
_MONO_SIZE = 12
_MONO_CHAR = 0.6 * _MONO_SIZE  # DejaVu Sans Mono and most monospace fonts advance 0.6 em
_SANS_EM = 0.64  # generous average advance of bold sans-serif, so text never overflows its box
_HEADER_LINE = 22
_LINE = 17
_SEPARATOR = 8
_BOX_GAP = 18
_COLUMN_MIN_WIDTH = 240
_COLUMN_GAP_MIN = 120
_TRUNK_GAP = 18  # router lines run down beside each column, clear of the boxes
_MAX_NODE_ROWS = 12  # bigger instances list the first rows and "... N more nodes"

_STYLE = """
text { font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; fill: #202124; }
.mono { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 12px; }
.title { font-size: 18px; font-weight: bold; }
.summary { font-size: 12px; fill: #5f6368; }
.column-title { font-size: 12px; font-weight: bold; fill: #5f6368; }
.box-title { font-size: 14px; font-weight: bold; }
.master { font-weight: bold; }
.more { fill: #5f6368; font-style: italic; }
rect.box { stroke-width: 1.5; }
.prefill rect.box { fill: #e8f0fe; stroke: #1a73e8; }
.decode rect.box { fill: #e6f4ea; stroke: #188038; }
.regular rect.box { fill: #f1f3f4; stroke: #5f6368; }
.router rect.box { fill: #fef7e0; stroke: #e37400; }
.separator { stroke: #9aa0a6; stroke-width: 0.75; }
.router-link { fill: none; stroke: #e37400; stroke-width: 1.25; opacity: 0.8; }
.kv-stub, .kv-bus { fill: none; stroke: #9334e6; stroke-width: 1.5; }
.kv-bus { stroke-width: 4; }
.kv-label { font-size: 12px; font-weight: bold; fill: #9334e6; text-anchor: middle;
            paint-order: stroke; stroke: #ffffff; stroke-width: 4px; stroke-linejoin: round; }
"""


def _x(text: str) -> str:
    return escape(str(text))


def _attr(text: str) -> str:
    return escape(str(text), {'"': "&quot;"})


def _mono_width(chars: int) -> int:
    return math.ceil(chars * _MONO_CHAR)


def _sans_width(text: str, size: int) -> int:
    return math.ceil(len(text) * size * _SANS_EM)


def _line_baseline(top: int, index: int) -> int:
    return top + (index + 1) * _LINE - 5


@dataclass
class _Box:
    """One box of the diagram: a title, info lines and a table of node rows."""

    css_class: str
    name: str
    header: str
    info: List[str]
    rows: List[Tuple[str, ...]]
    hidden_nodes: int = 0
    master_row: Optional[int] = None
    x: int = 0
    y: int = 0
    width: int = 0

    @property
    def _info_top(self) -> int:
        return self.y + _PAD + _HEADER_LINE

    @property
    def _rows_top(self) -> int:
        return self._info_top + len(self.info) * _LINE + (_SEPARATOR if self.rows else 0)

    @property
    def height(self) -> int:
        return self._rows_top - self.y + (len(self.rows) + bool(self.hidden_nodes)) * _LINE + _PAD

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    @property
    def link_y(self) -> int:
        # At the title row, a fixed offset from the top: boxes side by side get one straight KV line.
        return self.y + _PAD + _HEADER_LINE // 2

    def _row_baseline(self, row: int) -> int:
        return _line_baseline(self._rows_top, row)

    @property
    def master_y(self) -> int:
        """Where the router line arrives: the master's row, else the title."""
        if self.master_row is None:
            return self.link_y
        return self._row_baseline(self.master_row) - 4

    def _table_columns(self) -> Tuple[List[int], int]:
        """Character offset of each node-table column, and the table's width in characters."""
        offsets: List[int] = []
        position = 0
        for column in range(len(self.rows[0]) if self.rows else 0):
            offsets.append(position)
            position += max(len(row[column]) for row in self.rows) + 2
        return offsets, max(0, position - 2)

    def _more_text(self) -> str:
        return f"... {self.hidden_nodes} more nodes"

    def content_width(self) -> int:
        texts = self.info + ([self._more_text()] if self.hidden_nodes else [])
        return 2 * _PAD + max([_sans_width(self.header, 14), _mono_width(self._table_columns()[1])]
                              + [_mono_width(len(text)) for text in texts])

    def svg(self) -> List[str]:
        left = self.x + _PAD
        out = [f'<g class="{_attr(self.css_class)}" data-instance="{_attr(self.name)}">',
               f'<rect class="box" x="{self.x}" y="{self.y}" width="{self.width}" height="{self.height}" rx="6"/>',
               f'<text class="box-title" x="{left}" y="{self.y + _PAD + 15}">{_x(self.header)}</text>']
        out.extend(f'<text class="mono" x="{left}" y="{_line_baseline(self._info_top, index)}">{_x(text)}</text>'
                   for index, text in enumerate(self.info))
        if self.rows:
            rule_y = self._rows_top - _SEPARATOR // 2
            out.append(f'<line class="separator" x1="{left}" y1="{rule_y}" x2="{self.right - _PAD}" y2="{rule_y}"/>')
        offsets = [left + _mono_width(chars) for chars in self._table_columns()[0]]
        for index, row in enumerate(self.rows):
            css = "mono master" if index == self.master_row else "mono"
            cells = "".join(f'<tspan x="{offset}">{_x(cell)}</tspan>' for offset, cell in zip(offsets, row))
            out.append(f'<text class="{css}" y="{self._row_baseline(index)}">{cells}</text>')
        if self.hidden_nodes:
            out.append(f'<text class="mono more" x="{left}" y="{self._row_baseline(len(self.rows))}">'
                       f'{_x(self._more_text())}</text>')
        out.append("</g>")
        return out


def _instance_box(instance: Dict[str, Any], show_model: bool) -> _Box:
    nodes = _sorted_nodes(instance)
    # Keep one row for the "... more" line so a big instance is no taller than _MAX_NODE_ROWS rows.
    listed = nodes if len(nodes) <= _MAX_NODE_ROWS else nodes[:_MAX_NODE_ROWS - 1]
    gpus = f"GPU {_gpu_range(instance['gpu_ids'])}"
    rows = [(node["host"], node["address"], f"rank {node['node_rank']}", gpus) for node in listed]
    master_row = next((index for index, node in enumerate(listed) if node["host"] == instance["master"]), None)
    info = [_parallelism(instance), _endpoint(instance)] + ([instance["model_path"]] if show_model else [])
    header = (f"{instance['name']} · {_plural(len(nodes), 'node')} × "
              f"{_plural(len(instance['gpu_ids']), 'GPU')}")
    return _Box(f"instance {instance['role']}", instance["name"], header, info, rows,
                hidden_nodes=len(nodes) - len(listed), master_row=master_row)


def _router_box(router: Dict[str, Any]) -> _Box:
    replicas = _router_replicas(router)
    return _Box("router", "router", f"router · {router['host']}",
                [router["address"], router["url"]] + ([f"replicas: {', '.join(replicas)}"] if replicas else []), [])


def _marker(marker_id: str, color: str) -> str:
    return (f'<marker id="{marker_id}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>')


def _kv_label(links: Sequence[Dict[str, Any]]) -> str:
    return f"KV transfer ({', '.join(dict.fromkeys(link['backend'] for link in links))})"


def _kv_links(links: Sequence[Dict[str, Any]], boxes: Dict[str, _Box], bus_x: int) -> List[str]:
    """Every link through one vertical bus in the gap: 4x9 links stay 13 stubs, and 1x1 is a straight arrow."""
    prefills = [boxes[name] for name in dict.fromkeys(link["prefill"] for link in links)]
    decodes = [boxes[name] for name in dict.fromkeys(link["decode"] for link in links)]
    out = [f'<line class="kv-stub" data-prefill="{_attr(box.name)}" x1="{box.right}" y1="{box.link_y}" '
           f'x2="{bus_x}" y2="{box.link_y}"/>' for box in prefills]
    out.extend(f'<line class="kv-stub" data-decode="{_attr(box.name)}" x1="{bus_x}" y1="{box.link_y}" '
               f'x2="{box.x}" y2="{box.link_y}" marker-end="url(#arrow-kv)"/>' for box in decodes)
    stub_ys = [box.link_y for box in prefills + decodes]
    out.append(f'<line class="kv-bus" x1="{bus_x}" y1="{min(stub_ys)}" x2="{bus_x}" y2="{max(stub_ys)}"/>')
    # Above the topmost stub nothing of the bus is drawn, so the label never crosses a line.
    out.append(f'<text class="kv-label" x="{bus_x}" y="{min(stub_ys) - 8}">{_x(_kv_label(links))}</text>')
    return out


def _router_links(router: _Box, columns: Iterable[List[_Box]], split_y: int) -> List[str]:
    """One path per instance: down from the router, along a trunk beside the column, into the master row."""
    router_x = router.x + router.width // 2
    out = []
    for index, column in enumerate(columns):
        # The first column is reached from its left, the others from their right, away from the KV links.
        trunk_x = column[0].x - _TRUNK_GAP if index == 0 else column[0].right + _TRUNK_GAP
        for box in column:
            edge_x = box.x if index == 0 else box.right
            out.append(f'<path class="router-link" data-instance="{_attr(box.name)}" '
                       f'd="M{router_x},{router.bottom} V{split_y} H{trunk_x} V{box.master_y} H{edge_x}" '
                       f'marker-end="url(#arrow-router)"/>')
    return out


def render_svg(plan: Dict[str, Any]) -> str:
    """A self-contained diagram: router on top, prefill left, decode right, KV links between."""
    title, summary = _title(plan), _summary(plan)
    show_model = plan.get("model_path") is None
    columns: Dict[str, List[_Box]] = {role: [] for role in _ROLE_ORDER}
    for instance in plan["instances"]:
        columns[instance["role"]].append(_instance_box(instance, show_model))
    columns = {role: column for role, column in columns.items() if column}
    boxes = {box.name: box for column in columns.values() for box in column}

    links = plan["links"]
    column_gap = max(_COLUMN_GAP_MIN, _sans_width(_kv_label(links), 12) + 2 * _TRUNK_GAP if links else 0)
    router = _router_box(plan["router"]) if plan.get("router") else None

    top = _MARGIN + 48
    if router:
        router.y, router.width = top, router.content_width()
        top = router.bottom + 18
    split_y = top  # where router lines turn towards their column
    column_title_y = top + 22
    boxes_top = column_title_y + 12

    x = _MARGIN + _TRUNK_GAP
    for column in columns.values():
        width = max([_COLUMN_MIN_WIDTH] + [box.content_width() for box in column])
        y = boxes_top
        for box in column:
            box.x, box.y, box.width = x, y, width
            y = box.bottom + _BOX_GAP
        x += width + column_gap
    content_right = x - column_gap + _TRUNK_GAP
    if router:
        router.x = max(_MARGIN, (_MARGIN + content_right) // 2 - router.width // 2)

    width = _MARGIN + max(content_right, router.right if router else 0, _sans_width(title, 18) + _MARGIN,
                          _sans_width(summary, 12) + _MARGIN)
    height = _MARGIN + max([router.bottom if router else top]
                           + [column[-1].bottom for column in columns.values()])

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img">',
           f"<title>{_x(title)}</title>",
           f"<style>{_STYLE}</style>",
           f"<defs>{_marker('arrow-router', '#e37400')}{_marker('arrow-kv', '#9334e6')}</defs>",
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
           f'<text class="title" x="{_MARGIN}" y="{_MARGIN + 16}">{_x(title)}</text>',
           f'<text class="summary" x="{_MARGIN}" y="{_MARGIN + 36}">{_x(summary)}</text>']
    for role, column in columns.items():
        out.append(f'<text class="column-title" x="{column[0].x}" y="{column_title_y}">'
                   f'{_x(role.upper())} · {_x(_plural(len(column), "instance"))}</text>')
    if router:
        out.extend(_router_links(router, columns.values(), split_y))
    if links:
        out.extend(_kv_links(links, boxes, columns["prefill"][0].right + column_gap // 2))
    for box in boxes.values():
        out.extend(box.svg())
    if router:
        out.extend(router.svg())
    out.append("</svg>")
    return "\n".join(out) + "\n"
