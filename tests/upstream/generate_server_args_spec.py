# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the argument spec of the installed SGLang's server parser, for the plan and the engine simulator.

The plan checks ``sglang_server_args`` against the parser of each instance's release, and the simulator
(roles/sglang_service/files/sglang_engine_simulator.py) is stdlib-only, so neither can import SGLang; both
read this JSON instead, one file per release profile. Run with a Python that has the SGLang release
installed (the upstream venv has 0.5.23)::

    .cache/upstream-venv/bin/python tests/upstream/generate_server_args_spec.py          # print
    .cache/upstream-venv/bin/python tests/upstream/generate_server_args_spec.py --write  # commit this
    .cache/upstream-venv/bin/python tests/upstream/generate_server_args_spec.py --check  # committed == parser?

``--write`` stores it as roles/sglang_service/files/server_args/<sglang version>.json; the version is
the installed distribution's (importlib.metadata), recorded in the file as ``sglang``.
tests/upstream/test_simulator.py checks that the committed file of the upstream venv's release equals
this output; the tables of the other release profiles are made the same way, each in a throwaway
Python 3.11 venv of its own (the upstream venv holds one release only)::

    python3.11 -m venv /tmp/sglang-0.5.8 && /tmp/sglang-0.5.8/bin/pip install --no-deps sglang==0.5.8
    # then, --no-deps, each package that `import sglang.srt.server_args` still misses (the release's own
    # pins where it has them; torch==2.13.0, the CPU build, is enough), until it imports
    /tmp/sglang-0.5.8/bin/python tests/upstream/generate_server_args_spec.py --stub-module torchvision --write

``--stub-module NAME`` stands in an empty module for NAME (and its submodules) while SGLang's modules are
imported: for a package that a release imports at module level but that cannot load without a GPU stack
(PyPI's torchvision wheels are CUDA builds and do not load against the CPU torch), and that its parser
never calls. The file records the stand-ins as ``stubbed_modules``, and ``--check`` uses the same ones.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import json
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = ROOT / "roles" / "sglang_service" / "files" / "server_args"

# Types the simulator converts like argparse does; any other callable becomes "str" (no check).
_TYPES = {int: "int", float: "float", str: "str", json.loads: "json"}


def _plain(value):
    """``value`` as JSON data, or None when it has no stable JSON form."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and all(v is None or isinstance(v, (bool, int, float, str)) for v in value):
        return list(value)
    return None


def _takes_value(action: argparse.Action) -> str:
    """How many values the option consumes: "0", "1", "?", "*", "+" or a count."""
    if action.nargs is None:
        return "1"
    return str(action.nargs)


def build_spec(parser: argparse.ArgumentParser, version: str, stubbed_modules=()) -> dict:
    options = []
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        kind = type(action).__name__
        entry = {
            "action": kind.lstrip("_"),
            "default": _plain(action.default),
            "dest": action.dest,
            "nargs": _takes_value(action),
            "option_strings": list(action.option_strings),
            "type": _TYPES.get(action.type, "str") if _takes_value(action) != "0" else None,
        }
        if action.choices is not None:
            entry["choices"] = sorted(action.choices, key=lambda c: (str(type(c)), c))
        if kind.startswith("Deprecated"):
            entry["deprecated"] = True
        if getattr(action, "error_message", None):  # a retired flag that stops the launch (DeprecatedAction)
            entry["error_message"] = action.error_message
        if isinstance(action, argparse.BooleanOptionalAction) or kind.startswith("DeprecatedStoreConst"):
            entry["const"] = _plain(getattr(action, "const_value", action.const))
        elif action.nargs == 0:
            entry["const"] = _plain(action.const)
        options.append(entry)
    options.sort(key=lambda e: e["option_strings"][0])
    spec = {
        "generated_by": "tests/upstream/generate_server_args_spec.py",
        "parser": "sglang.srt.server_args.ServerArgs.add_cli_args",
        "prog": parser.prog,
        "sglang": version,
        "options": options,
    }
    if stubbed_modules:
        spec["stubbed_modules"] = sorted(set(stubbed_modules))
    return spec


class _StubModule(types.ModuleType):
    """An empty stand-in: any public attribute is a new empty class (enough for module-level imports)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {"__module__": self.__name__})


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots):
        self.roots = frozenset(roots)

    def find_spec(self, fullname, path=None, target=None):  # pylint: disable=unused-argument
        if fullname.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module):
        module.__path__ = []


@contextlib.contextmanager
def _stubbed(roots):
    """Import ``roots`` (top-level names) as empty stand-ins inside the block."""
    if not roots:
        yield
        return
    finder = _StubFinder(roots)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def current_spec(stub_modules=()) -> dict:
    with _stubbed(stub_modules):
        from sglang.srt.server_args import ServerArgs  # pylint: disable=import-outside-toplevel

    parser = argparse.ArgumentParser(prog="sglang serve")
    ServerArgs.add_cli_args(parser)
    return build_spec(parser, importlib.metadata.version("sglang"), stub_modules)


def spec_path(version: str) -> Path:
    return SPEC_DIR / ("%s.json" % version)


def committed_and_current(stub_modules=()):
    """(path, committed text or None, this parser's text) for the installed SGLang, with the stand-ins the
    committed file records (and ``stub_modules``)."""
    path = spec_path(importlib.metadata.version("sglang"))
    committed = path.read_text(encoding="utf-8") if path.is_file() else None
    recorded = json.loads(committed).get("stubbed_modules") or () if committed else ()
    return path, committed, dumps(current_spec(sorted(set(stub_modules) | set(recorded))))


def dumps(spec: dict) -> str:
    return json.dumps(spec, indent=1, sort_keys=True) + "\n"


def main(argv=None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = cli.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write server_args/<version>.json instead of printing")
    mode.add_argument("--check", action="store_true",
                      help="exit 1 unless server_args/<version>.json equals the installed parser's spec "
                           "(with the stand-ins the file records)")
    cli.add_argument("--stub-module", action="append", default=[], metavar="NAME",
                     help="import NAME as an empty stand-in (repeatable); see the module docstring")
    args = cli.parse_args(argv)
    if args.check:
        path, committed, current = committed_and_current(args.stub_module)
        version = importlib.metadata.version("sglang")
        if committed is None:
            print("no %s for the installed SGLang %s" % (path.relative_to(ROOT), version))
            return 1
        same = committed == current
        print("%s %s SGLang %s's parser" % (path.relative_to(ROOT), "matches" if same else "differs from", version))
        return 0 if same else 1
    spec = current_spec(args.stub_module)
    text = dumps(spec)
    if args.write:
        path = spec_path(spec["sglang"])
        path.write_text(text, encoding="utf-8")
        print("wrote %s (%d options)" % (path.relative_to(ROOT), len(spec["options"])))
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
