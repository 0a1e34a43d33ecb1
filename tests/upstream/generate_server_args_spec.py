# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the argument spec of the installed SGLang's server parser, for the engine simulator.

The simulator (roles/sglang_service/files/sglang_engine_simulator.py) is stdlib-only, so it cannot
import SGLang; it rebuilds SGLang's parser from this JSON instead. Run with a Python that has the
SGLang release installed (the upstream venv has 0.5.23)::

    .cache/upstream-venv/bin/python tests/upstream/generate_server_args_spec.py          # print
    .cache/upstream-venv/bin/python tests/upstream/generate_server_args_spec.py --write  # commit this

``--write`` stores it as roles/sglang_service/files/server_args/<sglang version>.json.
tests/upstream/test_simulator.py checks that the committed file equals this output.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
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


def build_spec(parser: argparse.ArgumentParser, version: str) -> dict:
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
    return {
        "generated_by": "tests/upstream/generate_server_args_spec.py",
        "parser": "sglang.srt.server_args.ServerArgs.add_cli_args",
        "prog": parser.prog,
        "sglang": version,
        "options": options,
    }


def current_spec() -> dict:
    from sglang.srt.server_args import ServerArgs

    parser = argparse.ArgumentParser(prog="sglang serve")
    ServerArgs.add_cli_args(parser)
    return build_spec(parser, importlib.metadata.version("sglang"))


def dumps(spec: dict) -> str:
    return json.dumps(spec, indent=1, sort_keys=True) + "\n"


def main(argv=None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--write", action="store_true", help="write server_args/<version>.json instead of printing")
    args = cli.parse_args(argv)
    spec = current_spec()
    text = dumps(spec)
    if args.write:
        path = SPEC_DIR / ("%s.json" % spec["sglang"])
        path.write_text(text, encoding="utf-8")
        print("wrote %s (%d options)" % (path.relative_to(ROOT), len(spec["options"])))
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
