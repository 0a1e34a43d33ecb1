# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run by a venv's python: where NVIDIA's CUDA wheels put nvcc and the runtime, as JSON.

CUDA 13 wheels share one tree (site-packages/nvidia/cu13/{bin,lib}); CUDA 12 wheels have one per
part (nvidia/cuda_nvcc/bin, nvidia/cuda_runtime/lib). CUDA_HOME is the tree that holds bin/nvcc.
"""
import glob
import json
import os
import sys
import sysconfig

nvidia = os.path.join(sysconfig.get_paths()["purelib"], "nvidia")
nvcc = sorted(glob.glob(os.path.join(nvidia, "*", "bin", "nvcc")))
if not nvcc:
    sys.exit("no nvidia/*/bin/nvcc under %s: the nvidia-cuda-nvcc wheel is not installed" % nvidia)
runtime = glob.glob(os.path.join(nvidia, "*", "lib", "libcudart.so.*"))
json.dump({"home": os.path.dirname(os.path.dirname(nvcc[0])),
           "lib_dirs": sorted({os.path.dirname(path) for path in runtime})}, sys.stdout)
