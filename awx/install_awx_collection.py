# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Install the awx.awx collection that awx/configure.yml uses, without Galaxy.

    python awx/install_awx_collection.py [--dest DIR] [--wheel FILE] [--force]

awx.awx is published on Galaxy, which this project's machines cannot reach,
and the ``ansible`` package on PyPI stopped bundling it in Ansible 14. Its last
release, 24.6.1, is inside the ``ansible`` 13.8.0 wheel, so this script
downloads that wheel with pip (no dependencies, nothing installed into the
running Python), checks its SHA-256 and unpacks only
``ansible_collections/awx/awx`` into DEST (default ``.cache/collections``, the
first entry of ``collections_path`` in ansible.cfg). ``--wheel`` takes a wheel
copied in by hand, for machines without PyPI. With Galaxy access,
``ansible-galaxy collection install awx.awx:24.6.1`` installs the same version.

It does nothing when DEST already holds awx.awx AWX_VERSION (``--force``
reinstalls), so ``make`` targets and tests can call it every time.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

AWX_VERSION = "24.6.1"
# The last ansible release that bundles awx.awx (AWX_VERSION), and its wheel's digest on PyPI.
ANSIBLE_VERSION = "13.8.0"
ANSIBLE_WHEEL_SHA256 = "daf9c9a2850bbc6c098ba3368aeba99d4ae37c90bca47f974dc19342c0571361"
PREFIX = "ansible_collections/awx/awx/"

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEST = ROOT / ".cache" / "collections"


def installed_version(dest: Path) -> str | None:
    """The version of awx.awx in DEST, or None."""
    manifest = dest / PREFIX / "MANIFEST.json"
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))["collection_info"]["version"]
    except (OSError, ValueError, KeyError):
        return None


def download_wheel(workdir: Path) -> Path:
    """pip download ansible==ANSIBLE_VERSION (the wheel alone) into WORKDIR."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--dest", str(workdir), "ansible==%s" % ANSIBLE_VERSION]
    subprocess.run(command, check=True)
    wheels = sorted(workdir.glob("ansible-%s-*.whl" % ANSIBLE_VERSION))
    if not wheels:
        raise SystemExit("install_awx_collection: pip downloaded no ansible %s wheel" % ANSIBLE_VERSION)
    return wheels[0]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def extract(wheel: Path, dest: Path) -> None:
    """Unpack ansible_collections/awx/awx from WHEEL into DEST, replacing what was there."""
    target = dest / PREFIX
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".awx-", dir=target.parent))
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = [m for m in archive.namelist() if m.startswith(PREFIX) and not m.endswith("/")]
            if not members:
                raise SystemExit("install_awx_collection: %s holds no %s" % (wheel.name, PREFIX))
            for member in members:
                relative = PurePosixPath(member[len(PREFIX):])
                if relative.is_absolute() or ".." in relative.parts:
                    raise SystemExit("install_awx_collection: unsafe path in wheel: %s" % member)
                out = staging.joinpath(*relative.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, out.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
        if target.exists() or target.is_symlink():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST,
                        help="collections directory (gets ansible_collections/awx/awx); default %(default)s")
    parser.add_argument("--wheel", type=Path, help="a local ansible-%s wheel instead of downloading it" % ANSIBLE_VERSION)
    parser.add_argument("--force", action="store_true", help="reinstall even when AWX_VERSION is there")
    args = parser.parse_args(argv)

    dest = args.dest.resolve()
    if not args.force and installed_version(dest) == AWX_VERSION:
        print("awx.awx %s already in %s" % (AWX_VERSION, dest))
        return 0
    with tempfile.TemporaryDirectory() as workdir:
        wheel = args.wheel or download_wheel(Path(workdir))
        digest = sha256(wheel)
        if digest != ANSIBLE_WHEEL_SHA256:
            raise SystemExit("install_awx_collection: %s has SHA-256 %s, expected %s"
                             % (wheel, digest, ANSIBLE_WHEEL_SHA256))
        extract(wheel, dest)
    version = installed_version(dest)
    if version != AWX_VERSION:
        raise SystemExit("install_awx_collection: unpacked awx.awx %s, expected %s" % (version, AWX_VERSION))
    print("awx.awx %s installed in %s (from ansible %s)" % (version, dest, ANSIBLE_VERSION))
    return 0


if __name__ == "__main__":
    sys.exit(main())
