# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/nvidia_libs/files/nvidia_libs_state.py: what the venv's nvidia-* packages hold, from their RECORDs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "nvidia_libs" / "files" / "nvidia_libs_state.py"


def wheel(site: Path, name: str, version: str, files: list[str], present: bool = True) -> None:
    """An installed distribution: dist-info with METADATA and RECORD, and its files (unless present is False)."""
    info = site / ("%s-%s.dist-info" % (name.replace("-", "_"), version))
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version))
    (info / "RECORD").write_text("".join("%s,,\n" % f for f in files + ["%s/RECORD" % info.name]))
    for f in files if present else ():
        (site / f).parent.mkdir(parents=True, exist_ok=True)
        (site / f).write_bytes(b"\x7fELF")


def state(site: Path, *packages: str) -> dict:
    out = subprocess.run([sys.executable, str(SCRIPT), *packages], check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(site)})
    return json.loads(out.stdout)


def test_versions_lib_dirs_and_libraries(tmp_path):
    wheel(tmp_path, "nvidia-nccl-cu12", "2.28.3", ["nvidia/nccl/lib/libnccl.so.2", "nvidia/nccl/include/nccl.h"])
    wheel(tmp_path, "nvidia-cudnn-cu12", "9.16.0.29", ["nvidia/cudnn/lib/libcudnn.so.9", "nvidia/cudnn/__init__.py"])
    wheel(tmp_path, "nvidia-cublas-cu12", "12.9.1.4", ["nvidia/cublas/lib/libcublasLt.so.12"])
    wheel(tmp_path, "other", "1.0", ["other/lib/libother.so"])
    got = state(tmp_path, "nvidia-nccl-cu12", "nvidia-cudnn-cu12", "nvidia-cusparselt-cu12")
    assert got["packages"] == {
        "nvidia-nccl-cu12": {"version": "2.28.3", "missing": 0},
        "nvidia-cudnn-cu12": {"version": "9.16.0.29", "missing": 0},
        "nvidia-cusparselt-cu12": {"version": None, "missing": 0},
    }
    # Every nvidia-* package's library directory (cuBLAS too: cuDNN needs it), and no other package's.
    assert got["lib_dirs"] == sorted(str(tmp_path / "nvidia" / d / "lib") for d in ("cublas", "cudnn", "nccl"))
    assert got["libraries"]["libnccl.so.2"] == str(tmp_path / "nvidia/nccl/lib/libnccl.so.2")
    assert "libother.so" not in got["libraries"]


def test_files_gone_are_counted_and_not_listed(tmp_path):
    # Byte code that is gone does not count (pip lists it in RECORD; caches come and go).
    wheel(tmp_path, "nvidia_nccl_cu13", "2.28.9",
          ["nvidia/cu13/lib/libnccl.so.2", "nvidia/cu13/__pycache__/__init__.cpython-311.pyc"], present=False)
    got = state(tmp_path, "nvidia-nccl-cu13")
    assert got["packages"]["nvidia-nccl-cu13"] == {"version": "2.28.9", "missing": 1}
    assert got["lib_dirs"] == [] and got["libraries"] == {}
