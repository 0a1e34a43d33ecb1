# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run by the venv's python: what the venv's nvidia-* packages really hold, as JSON.

Arguments: the packages to report on. Output: ``packages`` (per argument: the installed ``version``
or null, and ``missing``, how many of the files its RECORD lists are gone, as when another wheel
overwrote or removed them; byte code aside), ``lib_dirs`` (every directory that holds a shared library of an
installed nvidia-* distribution, which is what LD_LIBRARY_PATH needs) and ``libraries`` (file
name -> path of those libraries).
"""
import csv
import json
import re
import sys
from importlib import metadata


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


wanted = {canonical(name): name for name in sys.argv[1:]}
packages = {name: {"version": None, "missing": 0} for name in sys.argv[1:]}
libraries = {}
seen = set()
for dist in metadata.distributions():
    name = canonical(dist.metadata["Name"] or "")
    # The first of a name on sys.path is the one Python uses; later ones are shadowed.
    if not name.startswith("nvidia-") or name in seen:
        continue
    seen.add(name)
    # RECORD itself, not dist.files: Python 3.12 drops the files that are gone from that list.
    record = dist.read_text("RECORD") or ""
    files = [dist.locate_file(row[0]) for row in csv.reader(record.splitlines()) if row]
    if name in wanted:
        # Byte code is not counted: pip lists it, and caches come and go.
        packages[wanted[name]] = {"version": dist.version,
                                  "missing": sum(1 for path in files if path.suffix != ".pyc" and not path.exists())}
    for path in files:
        if re.match(r"lib.+\.so(\.[0-9]+)*$", path.name) and path.exists():
            libraries.setdefault(path.name, str(path.resolve().parent / path.name))
json.dump({"packages": packages,
           "lib_dirs": sorted({path.rsplit("/", 1)[0] for path in libraries.values()}),
           "libraries": libraries}, sys.stdout, sort_keys=True)
