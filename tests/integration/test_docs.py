# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/ stays true to the code.

- docs/variables.md is what docs/generate_variables.py makes of the contract and the
  roles' argument specs (a stale file fails, with the command that regenerates it).
- The topology guides' plan output is the plan's: each inventory block marked
  ``<!-- inventory: NAME -->`` (``= path`` when it shows a file of the repository,
  whose content it must equal) is planned with the real ``build_plan``, as
  ``playbooks/plan.yml`` plans it; each block marked ``<!-- plan of NAME: topology.md -->``
  holds only lines of that plan's topology.md, and each ``<!-- plan of NAME: errors -->``
  exactly the errors the plan reports.
- The troubleshooting table covers every common error it promises (REQUIRED_TERMS) and
  names only rules and modules that exist.
- Relative links resolve, and docs/index.md links every page.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.manager import VariableManager

from ansible_collections.gpufleet.sglang.plugins.action.topology_plan import role_variable_names
from ansible_collections.gpufleet.sglang.plugins.module_utils._plan_render import render_markdown
from ansible_collections.gpufleet.sglang.plugins.module_utils._topology import (
    CONTRACT, GPU_GROUPS, ROUTER_GROUP, Variable, build_plan)

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDES = sorted((DOCS / "topologies").glob("*.md"))
OWN_PAGES = [DOCS / "index.md", DOCS / "variables.md", DOCS / "troubleshooting.md"] + GUIDES


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_variables", DOCS / "generate_variables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = load_generator()

# ---------------------------------------------------------------- variables.md


def test_variables_md_is_generated_from_the_code():
    current = GENERATOR.VARIABLES_MD.read_text(encoding="utf-8")
    assert current == GENERATOR.splice(current, GENERATOR.render()), (
        "docs/variables.md is stale: run `python docs/generate_variables.py` (or `make docs`) and commit it")


def test_every_contract_variable_is_in_the_reference():
    text = GENERATOR.VARIABLES_MD.read_text(encoding="utf-8")
    for name, spec in CONTRACT.items():
        row = next(line for line in text.splitlines() if line.startswith("| `%s` |" % name))
        for choice in spec.choices:
            assert "`%s`" % choice in row, (name, choice)
        if spec.required:
            assert "**required**" in row


def test_the_generator_renders_role_argument_specs(tmp_path):
    meta = tmp_path / "demo" / "meta"
    meta.mkdir(parents=True)
    (meta / "argument_specs.yml").write_text(yaml.safe_dump({"argument_specs": {
        "extra": {"short_description": "The extra entry point", "options": {
            "demo_flag": {"type": "bool", "default": False, "description": "A flag."}}},
        "main": {"short_description": "Install the C(demo) thing", "options": {
            "demo_version": {"type": "str", "required": True, "description": ["The version.", "See O(demo_mirror)."]},
            "demo_mirror": {"type": "dict", "description": "A mirror.", "options": {
                "url": {"type": "str", "description": "Its URL | escaped."},
                "kind": {"type": "str", "choices": ["http", "file"], "default": "http", "description": "Kind."}}},
            "demo_hosts": {"type": "list", "elements": "str", "default": [], "description": "Hosts."}}},
        "same": {"short_description": "Same as extra", "options": {
            "demo_flag": {"type": "bool", "default": False, "description": "A flag."}}},
    }}))
    block = GENERATOR.render(roles_dir=tmp_path)
    roles = block[block.index("## Role variables"):]
    assert roles.index("### `gpufleet.sglang.demo`") < roles.index("entry point `extra`")
    assert "Install the `demo` thing" in roles
    assert "| `demo_version` | str | **required** | The version. See `demo_mirror`. |" in roles
    assert "| `demo_mirror.kind` | str: `http`, `file` | `http` | Kind. |" in roles
    assert "| `demo_mirror.url` | str | unset | Its URL \\| escaped. |" in roles
    assert "| `demo_hosts` | list of str | `[]` | Hosts. |" in roles
    assert "The same options as entry point `extra`." in roles


def test_an_undocumented_contract_variable_fails_the_generator():
    contract = dict(CONTRACT, sglang_new_knob=Variable("int", 3))
    with pytest.raises(SystemExit, match="no description for sglang_new_knob"):
        GENERATOR.render(contract=contract)


def test_check_mode_reports_a_stale_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "variables.md"
    stale.write_text(GENERATOR.VARIABLES_MD.read_text(encoding="utf-8").replace("sglang_tp_size", "sglang_tp"))
    monkeypatch.setattr(GENERATOR, "VARIABLES_MD", stale)
    assert GENERATOR.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert GENERATOR.main([]) == 0 and GENERATOR.main(["--check"]) == 0
    assert "| `sglang_tp_size` |" in stale.read_text()


# ---------------------------------------------------------------- topology guides

MARKER = re.compile(r"<!-- (?:inventory: (?P<inventory>[\w.-]+)(?: = (?P<path>[\w./-]+))?"
                    r"|plan of (?P<plan>[\w.-]+): (?P<what>[\w.]+)) -->\n```\w*\n(?P<body>.*?)```", re.S)


def marked_blocks(page: Path):
    """(kind, name, what, path, body) of every marked fenced block of PAGE."""
    blocks = []
    for match in MARKER.finditer(page.read_text(encoding="utf-8")):
        if match["inventory"]:
            blocks.append(("inventory", match["inventory"], None, match["path"], match["body"]))
        else:
            blocks.append(("plan of", match["plan"], match["what"], None, match["body"]))
    return blocks


def plan_of_inventory(path: Path):
    """build_plan over the inventory at PATH, fed as the topology_plan action feeds it."""
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(path)])
    variables = VariableManager(loader=loader, inventory=inventory)

    def members(group):
        return [h.name for h in inventory.groups[group].get_hosts()] if group in inventory.groups else []

    groups = {group: members(group) for group, _role in GPU_GROUPS}
    groups[ROUTER_GROUP] = members(ROUTER_GROUP)
    hostvars = {}
    for host in {h for names in groups.values() for h in names}:
        values = variables.get_vars(host=inventory.get_host(host), include_hostvars=False)
        hostvars[host] = {k: values[k] for k in values if k.startswith("sglang_") or k == "ansible_host"}
    return build_plan(groups, hostvars, role_variable_names())


@pytest.fixture(scope="module")
def guide_plans(tmp_path_factory):
    """NAME -> (PlanResult, page) for every inventory block of the guides."""
    plans = {}
    for page in GUIDES:
        for kind, name, _what, path, body in marked_blocks(page):
            if kind != "inventory":
                continue
            assert name not in plans, "inventory %s is shown twice" % name
            if path:
                assert body == (ROOT / path).read_text(encoding="utf-8"), "%s: the block of %s differs from %s" % (
                    page.name, name, path)
                source = ROOT / path
            else:
                source = tmp_path_factory.mktemp(name) / "hosts.yml"
                source.write_text(body, encoding="utf-8")
            plans[name] = (plan_of_inventory(source), page)
    return plans


def test_every_guide_exists_and_has_marked_blocks():
    assert [p.name for p in GUIDES] == ["multinode_tp.md", "pd_disaggregation.md", "single_node.md"]
    for page in GUIDES:
        kinds = {(kind, what) for kind, _n, what, _p, _b in marked_blocks(page)}
        assert ("plan of", "topology.md") in kinds and ("plan of", "errors") in kinds, page.name


def test_the_guides_show_every_example_inventory(guide_plans):
    examples = {p.name for p in (ROOT / "inventories" / "examples").iterdir() if p.is_dir()}
    assert examples <= set(guide_plans)


@pytest.mark.parametrize("page", GUIDES, ids=lambda p: p.name)
def test_plan_excerpts_are_the_plans_output(page, guide_plans):
    checked = 0
    for kind, name, what, _path, body in marked_blocks(page):
        if kind != "plan of":
            continue
        assert name in guide_plans, "%s: no inventory block named %s" % (page.name, name)
        result, _page = guide_plans[name]
        lines = [line for line in body.splitlines() if line.strip() and line.strip() != "..."]
        if what == "topology.md":
            assert result.plan is not None, [str(e) for e in result.errors]
            rendered = set(render_markdown(result.plan).splitlines())
            missing = [line for line in lines if line not in rendered]
            assert not missing, "%s, plan of %s: not in its topology.md:\n%s" % (page.name, name, "\n".join(missing))
        elif what == "errors":
            count = len(result.errors)
            assert lines[0] == "The inventory cannot be deployed (%d error%s); no host was contacted:" % (
                count, "" if count == 1 else "s"), (page.name, name, lines[0])
            assert lines[1:] == ["- " + str(error) for error in result.errors], (page.name, name)
        else:
            raise AssertionError("%s: unknown block kind %r" % (page.name, what))
        checked += 1
    assert checked


def test_every_inventory_shown_is_planned_or_refused_on_purpose(guide_plans):
    for name, (result, page) in guide_plans.items():
        shown = {n for kind, n, what, _p, _b in marked_blocks(page) if kind == "plan of"}
        assert name in shown, "%s: inventory %s has no plan block" % (page.name, name)
        if result.errors:
            assert any(n == name and what == "errors" for kind, n, what, _p, _b in marked_blocks(page))


# ---------------------------------------------------------------- troubleshooting

TROUBLESHOOTING = DOCS / "troubleshooting.md"
# The common errors of installing and running SGLang, by the heading or message users search for;
# each must have a row.
REQUIRED_TERMS = ("libcudnn.so.9", "libcusparseLt.so.0", "NCCL errors or timeouts", "sgl-kernel version mismatch",
                  "undefined symbol", "NIXL library version mismatch", "FlashInfer changes PyTorch version",
                  "No module named 'mooncake'", "num_max_dispatch_tokens_per_rank", "SGL_DISABLE_TP_MEMORY_INBALANCE_CHECK",
                  "nvidia_peermem", "nv_peer_mem", "NIXL_ERR_BACKEND", "total_num_heads % tp_size",
                  "libcudnn.so.9 not found", "libcusparseLt.so.0 not found", "sgl-kernel ABI incompatibility (undefined symbol)",
                  "Mooncake not installed", "num_max_dispatch_tokens_per_rank assertion",
                  "Deprecated environment variable warning", "RDMA Memory Registration", "Out-of-Memory (OOM)",
                  "NCCL Timeout", "IB Device Not Found", "output_partition_size", "GLOO_SOCKET_IFNAME", "NCCL_IB_GID_INDEX")


def table_rows(text: str):
    return [line for line in text.splitlines() if re.match(r"\| \d+ \|", line)]


def test_troubleshooting_rows_are_complete():
    rows = table_rows(TROUBLESHOOTING.read_text(encoding="utf-8"))
    assert len(rows) >= 20
    for row in rows:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert len(cells) == 5 and all(cells), row
    text = "\n".join(rows)
    for term in REQUIRED_TERMS:
        assert term in text, term


def test_troubleshooting_names_only_rules_and_modules_that_exist():
    text = TROUBLESHOOTING.read_text(encoding="utf-8") + "".join(p.read_text(encoding="utf-8") for p in GUIDES)
    source = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "plugins" / "module_utils").glob("*.py"))
    rules = set(re.findall(r"rules? `([a-z_]+)`", text)) | set(re.findall(r"\(`([a-z]+_[a-z_]+)`\)", text))
    assert {"attention_heads_divisible", "env_deprecated", "deepep_dispatch_tokens"} <= rules
    assert not sorted(r for r in rules if '"%s"' % r not in source)
    # A fully qualified name is a module or a filter of the collection.
    plugins = set(re.findall(r"`gpufleet\.sglang\.([a-z_]+)`", text))
    assert plugins and not sorted(m for m in plugins if not any(
        (ROOT / "plugins" / kind / ("%s.py" % m)).exists() for kind in ("modules", "filter")))
    # Something not built yet is said to be planned, with its issue.
    for row in table_rows(TROUBLESHOOTING.read_text(encoding="utf-8")):
        if "Planned" in row:
            assert re.search(r"issues? \d", row), row


# ---------------------------------------------------------------- links


def _slug(heading: str) -> str:
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", heading.strip().lower()))


def _anchors(page: Path) -> set:
    return {_slug(m) for m in re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M)}


@pytest.mark.parametrize("page", OWN_PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_relative_links_resolve(page):
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, anchor = target.partition("#")[::2]
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), "%s links to %s, which does not exist" % (page.name, target)
        if anchor:
            assert anchor in _anchors(resolved), "%s links to %s: no such heading" % (page.name, target)


def test_the_index_links_every_page():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = {(DOCS / t.partition("#")[0]).resolve() for t in re.findall(r"\]\(([^)\s]+)\)", index)}
    pages = {p.resolve() for p in DOCS.rglob("*.md") if p.name != "index.md"}
    assert not sorted(str(p.relative_to(DOCS)) for p in pages - linked)
