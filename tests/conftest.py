"""Make the checkout importable as ``ansible_collections.gpufleet.sglang``.

Plugins import their shared code by its collection path, so the tests need the
repository to sit at ``ansible_collections/gpufleet/sglang`` on ``sys.path``.
When the checkout already lives there (ansible-test, an installed tarball) that
path is used; otherwise a symlink under ``.cache/collections`` provides it, the
same link ``ansible.cfg`` points ansible-playbook at.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _collections_root() -> Path:
    if ROOT.parent.name == "gpufleet" and ROOT.parent.parent.name == "ansible_collections":
        return ROOT.parent.parent.parent
    base = ROOT / ".cache" / "collections"
    link = base / "ansible_collections" / "gpufleet" / "sglang"
    if not link.is_symlink():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT, target_is_directory=True)
    return base


sys.path.insert(0, str(_collections_root()))
