# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every argv of every golden plan, fed to the real parsers of the pinned upstream versions.

Run with the upstream venv (tests/upstream/setup-venv.sh builds it)::

    .cache/upstream-venv/bin/python -m pytest -q -p no:cacheprovider tests/upstream

Workers (``<venv>/bin/python -m sglang.launch_server ...``) go through SGLang 0.5.23's own
``prepare_server_args(argv)``, which is what ``sglang.launch_server`` runs first: it builds the
real parser (``ServerArgs.add_cli_args``, about 530 options), ``parse_args`` the argv and turns
the namespace into a ``ServerArgs`` with ``ServerArgs.from_cli_args``.

Why the checks stop there (measured on a CPU machine with SGLang 0.5.23):
``ServerArgs.__post_init__`` is empty in 0.5.23: SGLang's validation moved into
``ServerArgs.resolve_once()`` (``sglang/srt/arg_groups/pipeline.py``), which the launcher calls
in ``run_server``. That pipeline cannot run here, for three independent reasons:

1. importing it pulls ``sglang.srt.configs`` (every model config), hence transformers 5.19 and
   torchvision, and PyPI's torchvision only imports beside a CUDA torch (2.14.1, about 5.5 GB);
   the CPU build of torch 2.13 makes ``import torchvision`` fail
   ("operator torchvision::nms does not exist");
2. every step after the model-independent prefix reads the model's ``config.json`` from the
   Hugging Face hub, which this network does not reach;
3. even with those (tried: CUDA torch + torchvision + a local ``config.json`` for
   Llama-3.1-8B), ``handle_missing_default_values`` calls ``get_device()``, which raises
   "No accelerator (CUDA, XPU, HPU, NPU, MUSA, MPS) or platform plugin is available."
   before the PD, data-parallel and MoE checks run.

So the deepest check that runs on a CPU is the launcher's own parse plus ``from_cli_args``. On
top of it these tests refuse flags that argparse accepts only as abbreviations (``allow_abbrev``
is on: ``--mem-fraction`` passes as ``--mem-fraction-static`` until a new flag makes it
ambiguous) and, in a test of their own, flags SGLang marks deprecated.

Routers take the path their command takes: ``smg launch ...`` is ``smg.cli.main``, whose top
parser hands everything after ``launch`` to ``smg.launch_router.parse_router_args``;
``python -m sglang_router.launch_router ...`` is ``sglang_router.launch_router.main``. Then, as
``launch_router`` does, ``RouterArgs._validate_router_args()`` and ``Router.from_args()``, which
builds the Rust router object (it binds no port: only ``start()`` does).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib.metadata
import io
import json
import logging
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Callable, List, Sequence

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLANS_DIR = ROOT / "tests" / "golden" / "plans"
REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"
UPSTREAM_VENV = ROOT / ".cache" / "upstream-venv"


def _in_upstream_venv() -> bool:
    return Path(sys.prefix).resolve() == UPSTREAM_VENV.resolve()


try:
    import sglang.srt.server_args as sglang_server_args
    import sglang_router.launch_router as sglang_router_launch
    import sglang_router.router as sglang_router_router
    import smg.cli as smg_cli
    import smg.launch_router as smg_launch
    import smg.router as smg_router
    from sglang.srt.arg_groups import argparse_actions as sglang_argparse_actions
except ImportError as exc:
    # Elsewhere (e.g. `pytest tests` from the project's own .venv) these tests do not apply;
    # in the upstream venv, or with GPUFLEET_UPSTREAM_REQUIRED=1, a missing module is an error.
    if _in_upstream_venv() or os.environ.get("GPUFLEET_UPSTREAM_REQUIRED") == "1":
        raise
    pytest.skip("upstream parsers not importable (%s): run tests/upstream/setup-venv.sh and "
                ".cache/upstream-venv/bin/python -m pytest tests/upstream" % exc, allow_module_level=True)


# --- the golden plans ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Service:
    plan: str  # file name, e.g. pd_1p1d.json
    index: int
    data: dict

    @property
    def host(self) -> str:
        return self.data["host"]

    @property
    def argv(self) -> List[str]:
        return list(self.data["argv"])

    @property
    def id(self) -> str:
        return "%s:%s" % (self.plan[:-len(".json")], self.host)

    def report(self, what: str, problems: Sequence[str]) -> str:
        return "%s: host %s (%s %s, services[%d]): %s\n%s\n  argv: %s" % (
            self.plan, self.host, self.data.get("role"), self.data.get("instance"), self.index, what,
            "\n".join("  - " + problem for problem in problems), shlex.join(self.argv))


def _load_services() -> List[Service]:
    services = []
    for path in sorted(PLANS_DIR.glob("*.json")):
        plan = json.loads(path.read_text(encoding="utf-8"))
        for index, data in enumerate(plan.get("services") or []):
            services.append(Service(path.name, index, data))
    return services


SERVICES = _load_services()
WORKERS = [s for s in SERVICES if s.data.get("kind") == "worker"]
ROUTERS = [s for s in SERVICES if s.data.get("kind") == "router"]
WORKER_PARAMS = pytest.mark.parametrize("service", WORKERS, ids=[s.id for s in WORKERS])
ROUTER_PARAMS = pytest.mark.parametrize("service", ROUTERS, ids=[s.id for s in ROUTERS])


# --- running a parser --------------------------------------------------------------------------

def _call_parser(fn: Callable, *args):
    """fn(*args) with stderr captured: (result, None), or (None, why) when argparse exits.

    argparse prints its usage (SGLang's runs to hundreds of lines) and then
    "<prog>: error: <message>"; the message names the offending flag.
    """
    err = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with contextlib.redirect_stderr(err):
            return fn(*args), None
    except SystemExit as exc:
        text = err.getvalue().strip()
        match = re.search(r": error: (.*)\Z", text, re.S)
        return None, (match.group(1).strip() if match else text or "argparse exited with %r" % exc.code)
    finally:
        # prepare_server_args calls logging.basicConfig(force=True): give pytest its handlers back.
        root.handlers[:] = handlers
        root.setLevel(level)


def _option_flags(argv: Sequence[str]) -> List[str]:
    """The --flags of an argv, without any =value."""
    return [token.split("=", 1)[0] for token in argv if token.startswith("--")]


def _spelling_problems(argv: Sequence[str], parser: argparse.ArgumentParser) -> List[str]:
    """Flags argparse accepted only as an abbreviation of a longer option."""
    known = parser._option_string_actions  # pylint: disable=protected-access
    problems = []
    for flag in _option_flags(argv):
        if flag not in known:
            matches = sorted(option for option in known if option.startswith(flag))
            problems.append("%s is not an option, only an abbreviation of %s: spell it out (a new option "
                            "with the same prefix makes it ambiguous)" % (flag, " / ".join(matches) or "nothing"))
    return problems


# --- SGLang workers ----------------------------------------------------------------------------

SGLANG_LAUNCHER = ["-m", "sglang.launch_server"]


@functools.lru_cache(maxsize=None)
def _sglang_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sglang serve")
    sglang_server_args.ServerArgs.add_cli_args(parser)
    return parser


def check_worker_argv(argv: Sequence[str]) -> List[str]:
    """Why SGLang would refuse this worker argv ([] when it accepts it)."""
    if len(argv) < 3 or not argv[0].endswith("/bin/python") or list(argv[1:3]) != SGLANG_LAUNCHER:
        return ["not a `<venv>/bin/python -m sglang.launch_server ...` command: %s" % shlex.join(argv[:3])]
    args = list(argv[3:])
    # The launcher's own first step: parse_args on the real parser, then ServerArgs.from_cli_args.
    server_args, error = _call_parser(sglang_server_args.prepare_server_args, args)
    if error is not None:
        return ["sglang %s: %s" % (_version("sglang"), error)]
    if not isinstance(server_args, sglang_server_args.ServerArgs):
        return ["prepare_server_args returned %r, not a ServerArgs" % type(server_args)]
    return _spelling_problems(args, _sglang_parser())


def deprecated_worker_flags(argv: Sequence[str]) -> List[str]:
    """The flags of argv that SGLang marks deprecated, with SGLang's advice."""
    parser = _sglang_parser()
    found = []
    for flag in _option_flags(argv[3:]):
        action = parser._option_string_actions.get(flag)  # pylint: disable=protected-access
        if action is None:
            continue
        text = (action.help or "").strip()
        deprecated_class = isinstance(action, tuple(
            getattr(sglang_argparse_actions, name) for name in
            ("DeprecatedAction", "DeprecatedStoreTrueAction", "DeprecatedStoreConstAction", "DeprecatedAliasStoreAction")
            if hasattr(sglang_argparse_actions, name)))
        if deprecated_class or text.lstrip("(").lower().startswith("deprecated"):
            found.append("%s: %s" % (flag, text))
    return found


# --- routers -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _router_parser(router_args_class: type) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    router_args_class.add_cli_args(parser, use_router_prefix=False)
    return parser


def _smg_launch(argv: Sequence[str]) -> List[str]:
    # smg.cli.main: the top parser takes the subcommand, every router flag lands in `unknown`.
    parsed, error = _call_parser(smg_cli.create_parser().parse_known_args, list(argv[1:]))
    if error is not None:
        return ["smg %s (command line): %s" % (_version("smg"), error)]
    namespace, unknown = parsed
    if namespace.command != "launch":
        return ["smg subcommand is %r, not 'launch'" % namespace.command]
    router_args, error = _call_parser(smg_launch.parse_router_args, unknown)
    if error is not None:
        return ["smg %s: %s" % (_version("smg"), error)]
    return _router_args_problems(router_args, smg_router.Router, "smg") or _spelling_problems(
        unknown, _router_parser(type(router_args)))


def _sglang_router_launch(argv: Sequence[str]) -> List[str]:
    args = list(argv[3:])
    router_args, error = _call_parser(sglang_router_launch.parse_router_args, args)
    if error is not None:
        return ["sglang-router %s: %s" % (_version("sglang-router"), error)]
    if router_args.mini_lb:
        return []  # launch_router hands these to the Python MiniLoadBalancer, not to Router
    return _router_args_problems(router_args, sglang_router_router.Router, "sglang-router") or _spelling_problems(
        args, _router_parser(type(router_args)))


def _router_args_problems(router_args, router_class, package: str) -> List[str]:
    """What launch_router does before Router.start(): validate, then build the Rust router."""
    try:
        router_args._validate_router_args()  # pylint: disable=protected-access
        router_class.from_args(router_args)
    except Exception as exc:  # pylint: disable=broad-except
        return ["%s %s refuses the parsed arguments: %s: %s" % (package, _version(package), type(exc).__name__, exc)]
    return []


def check_router_argv(argv: Sequence[str]) -> List[str]:
    """Why the router named by argv would refuse it ([] when it accepts it)."""
    if len(argv) >= 2 and argv[0].endswith("/bin/smg") and argv[1] == "launch":
        return _smg_launch(argv)
    if len(argv) >= 3 and argv[0].endswith("/bin/python") and list(argv[1:3]) == ["-m", "sglang_router.launch_router"]:
        return _sglang_router_launch(argv)
    return ["neither `<venv>/bin/smg launch ...` nor `<venv>/bin/python -m sglang_router.launch_router ...`: %s"
            % shlex.join(argv[:3])]


def as_sglang_router(argv: Sequence[str]) -> List[str]:
    """The same router flags under sglang-router's launcher (the planner's other implementation)."""
    venv = argv[0].rsplit("/bin/", 1)[0]
    return [venv + "/bin/python", "-m", "sglang_router.launch_router"] + list(argv[2:])


def _version(package: str) -> str:
    return importlib.metadata.version(package)


# --- the golden plans against the real parsers ----------------------------------------------------

def test_golden_plans_have_services():
    assert WORKERS and ROUTERS, "no worker or no router service in %s/*.json" % PLANS_DIR.relative_to(ROOT)
    other = sorted({s.data.get("kind") for s in SERVICES} - {"worker", "router"})
    assert not other, "services of unknown kind %s" % other


@pytest.mark.parametrize("package", ["sglang", "smg", "sglang-router", "torch"])
def test_venv_has_the_pinned_versions(package):
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", REQUIREMENTS.read_text(encoding="utf-8"), re.M))
    installed = _version(package).split("+", 1)[0]  # torch 2.13.0+cpu is torch==2.13.0
    assert installed == pins[package], ("%s %s is installed, requirements.txt pins %s: rerun tests/upstream/setup-venv.sh"
                                        % (package, installed, pins[package]))


@WORKER_PARAMS
def test_worker_argv_accepted_by_sglang(service, monkeypatch):
    for name, value in (service.data.get("env") or {}).items():
        monkeypatch.setenv(str(name), str(value))  # SGLANG_* variables can change the parser
    problems = check_worker_argv(service.argv)
    assert not problems, service.report("SGLang %s refuses this worker argv" % _version("sglang"), problems)


@WORKER_PARAMS
def test_worker_argv_has_no_deprecated_flag(service):
    found = deprecated_worker_flags(service.argv)
    assert not found, service.report("SGLang %s accepts these flags but marks them deprecated (to be removed)"
                                     % _version("sglang"), found)


@ROUTER_PARAMS
def test_router_argv_accepted_by_router(service):
    problems = check_router_argv(service.argv)
    assert not problems, service.report("the router refuses this argv", problems)


@ROUTER_PARAMS
def test_router_flags_accepted_by_sglang_router_too(service):
    """The planner writes the same flags for sglang_router_implementation smg and sglang-router."""
    argv = service.argv if "sglang_router.launch_router" in service.argv[:3] else as_sglang_router(service.argv)
    problems = check_router_argv(argv)
    assert not problems, service.report("sglang-router %s refuses these router flags" % _version("sglang-router"),
                                        problems + ["(as: %s)" % shlex.join(argv)])


# --- the checks can fail ---------------------------------------------------------------------------

def _golden_worker_with(flag: str) -> List[str]:
    for service in WORKERS:
        if flag in service.argv:
            return service.argv
    pytest.fail("no golden worker argv has %s" % flag)


def _golden_router() -> List[str]:
    for service in ROUTERS:
        if service.argv[0].endswith("/bin/smg"):
            return service.argv
    pytest.fail("no golden router argv runs smg")


def _replace(argv: Sequence[str], old: str, new: str) -> List[str]:
    return [new if token == old else token for token in argv]


def test_invented_worker_flag_is_rejected():
    argv = _replace(_golden_worker_with("--tp-size"), "--tp-size", "--tp-sise")
    problems = check_worker_argv(argv)
    assert problems and "unrecognized arguments: --tp-sise" in problems[0], problems


def test_worker_value_outside_choices_is_rejected():
    argv = _replace(_golden_worker_with("--disaggregation-mode"), "prefill", "prefil")
    problems = check_worker_argv(argv)
    assert problems and "--disaggregation-mode" in problems[0] and "invalid choice: 'prefil'" in problems[0], problems


def test_abbreviated_worker_flag_is_rejected():
    argv = _golden_worker_with("--tp-size") + ["--mem-fraction", "0.8"]
    namespace = _sglang_parser().parse_args(argv[3:])  # argparse itself takes the abbreviation
    assert namespace.mem_fraction_static == 0.8
    problems = check_worker_argv(argv)
    assert problems and "--mem-fraction is not an option" in problems[0], problems


def test_deprecated_worker_flag_is_reported():
    found = deprecated_worker_flags(_golden_worker_with("--tp-size") + ["--disable-cuda-graph"])
    assert [f for f in found if f.startswith("--disable-cuda-graph:")], found


def test_worker_argv_of_another_program_is_rejected():
    argv = _golden_worker_with("--tp-size")
    problems = check_worker_argv([argv[0], "-m", "sglang.launch_srv"] + argv[3:])
    assert problems and "sglang.launch_server" in problems[0], problems


@pytest.mark.parametrize("to_implementation", [list, as_sglang_router], ids=["smg", "sglang-router"])
def test_invented_router_flag_is_rejected(to_implementation):
    argv = to_implementation(_golden_router() + ["--polcy", "cache_aware"])
    problems = check_router_argv(argv)
    assert problems and "unrecognized arguments: --polcy cache_aware" in problems[0], problems


@pytest.mark.parametrize("to_implementation", [list, as_sglang_router], ids=["smg", "sglang-router"])
def test_router_value_outside_choices_is_rejected(to_implementation):
    argv = to_implementation(_golden_router() + ["--policy", "cache_awar"])
    problems = check_router_argv(argv)
    assert problems and "--policy" in problems[0] and "invalid choice: 'cache_awar'" in problems[0], problems


def test_router_port_out_of_range_is_rejected():
    argv = _replace(_golden_router(), "8000", "80000")
    problems = check_router_argv(argv)
    assert problems, "smg accepted --port 80000"
