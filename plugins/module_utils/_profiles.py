# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Named release profiles: the one place that says which SGLang release a fleet runs.

The plan needs the profile because SGLang's command line changes between
releases; the install roles take their version pins from the same profiles, and
the preflight its driver floor and GPU architectures.

Every profile has every key of ``PROFILE_KEYS``. None means "not known / not pinned":
the roles then leave the package to its dependents' resolution, and the preflight
skips the check. Sources, per value, in the comments:

- "PyPI metadata of sglang X": the Requires-Dist lines of that wheel's METADATA
  (0.5.23's are kept in tests/fixtures/pypi/sglang-0.5.23-requires.txt);
- "SGLang's DeepEP build": the DeepEP build of SGLang's own ``docker/Dockerfile`` and
  ``scripts/ci/ci_install_deepep.sh`` (main at commit bfa27438, CUDA 12.9.1, 2025-10): GDRCopy v2.4.4,
  NVSHMEM 3.3.9 built with IBGDA, DeepEP at its ``DEEPEP_COMMIT``. Neither 12.9 release pins these, so both
  12.9 profiles take them from there (older than both releases: re-verify on upgrade);
- "known-good": a pin that installs and imports with that release (the NVIDIA wheels are force-reinstalled
  at it without dependencies after the packages that move them), but that no metadata of the release names.

driver_floor: NVIDIA's minor-version compatibility lets any CUDA 12.x user space (torch cu129, the
nvidia-* wheels) run on a driver >= 525.60.13, and CUDA 13.x on >= 580; the toolkits' own drivers are
higher (12.8 GA: 570.26, 12.9 GA: 575.51.03, 13.0 GA: 580.65.06). The floor taken here is the lowest
driver that runs *every* GPU the profile claims (cuda_archs): for the CUDA 12.9 profiles that is the
R570 branch (570.26, CUDA 12.8 GA), the first branch that drives Blackwell (compute capability 10.0);
525.60.13 would pass Hopper hosts but not B200s, and 575.x (the 12.9 toolkit's driver) would refuse
R570 datacenter (LTS) drivers that minor-version compatibility supports. Minor-version compatibility
does not JIT PTX newer than the driver: SGLang's kernels ship cubins for these architectures and
FlashInfer/Triton compile to cubins, so that limit does not bite. For CUDA 13.0 both rules agree on
the R580 branch; 580.65.06 is the 13.0 GA driver. A table often copied into SGLang build notes (12.9.1:
>= 555.42.02, 12.8.1: >= 550.90.07) is not taken: it disagrees with NVIDIA's CUDA release notes (555.42.02
is the 12.5 driver).
A fleet may still set sglang_preflight_driver_floor, which overrides the profile's.
"""
from __future__ import annotations

from typing import Dict

PROFILE_KEYS = (
    "sglang", "attn_dp_size_flag", "pd_sliced_kv_any_tp", "nixl_reads_ib_device", "cuda", "sgl_kernel_package",
    "sgl_kernel", "torch", "flashinfer", "nccl", "cudnn", "cusparselt", "nvshmem", "gdrcopy", "deepep_commit",
    "sgl_deep_ep", "mooncake", "nixl", "router_package", "router", "driver_floor", "cuda_archs",
)

PROFILES: Dict[str, dict] = {
    # The two CUDA 12.9 releases, for fleets that stay on them.
    "0.5.6.post2": {
        "sglang": "0.5.6.post2",
        "attn_dp_size_flag": False,
        # sglang/srt/disaggregation/{nixl,mooncake}/conn.py send_kvcache_slice of this release: between prefill and
        # decode of different attention-TP sizes, a non-MLA model's heads land right only when prefill TP < decode
        # TP <= KV heads, or decode TP 1 and prefill TP <= KV heads (the plan refuses the rest: pd_attn_tp_slicing).
        "pd_sliced_kv_any_tp": False,
        # sglang/srt/disaggregation/nixl/conn.py of this release never reads --disaggregation-ib-device: UCX picks
        # its devices itself unless UCX_NET_DEVICES names them (sglang_service sets it to the mapped ACTIVE ports).
        "nixl_reads_ib_device": False,
        "cuda": "12.9",  # the sgl-kernel 0.3.21 wheel on PyPI is the CUDA 12.9 build; torch from the cu129 index
        "sgl_kernel_package": "sgl-kernel",
        # known-good: 0.3.21, installed after SGLang (--no-deps); PyPI metadata of sglang 0.5.6.post2 pins 0.3.19,
        # which also works.
        "sgl_kernel": "0.3.21",
        "torch": "2.9.1",  # PyPI metadata of sglang 0.5.6.post2 (torch==2.9.1)
        "flashinfer": "0.5.3",  # PyPI metadata of sglang 0.5.6.post2 (flashinfer_python==0.5.3)
        "nccl": "2.28.3",  # known-good (nvidia-nccl-cu12, force-reinstalled)
        "cudnn": "9.16.0.29",  # known-good (nvidia-cudnn-cu12; PyTorch 2.9 needs cuDNN 9)
        "cusparselt": None,  # unknown: nvidia-cusparselt-cu12 is usually installed unpinned
        "nvshmem": "3.3.9",  # SGLang's DeepEP build
        "gdrcopy": "2.4.4",  # SGLang's DeepEP build
        "deepep_commit": "9af0e0d0e74f3577af1979c9b9e1ac2cad0104ee",  # SGLang's DeepEP build (DEEPEP_COMMIT build arg)
        "sgl_deep_ep": None,  # no packaged DeepEP in this release (built from deepep_commit)
        "mooncake": "0.3.8.post1",  # known-good (mooncake-transfer-engine)
        "nixl": None,  # unknown: no known-good NIXL pin for this release
        "router_package": "sglang-router",  # SGLang's router of the time (python -m sglang_router.launch_router)
        "router": None,  # unknown: nothing pins a router version for this release
        "driver_floor": "570.26",  # R570, CUDA 12.8 GA driver: see the module docstring
        # A100 (8.0), H100/H200 (9.0), B200 (10.0: the kernel wheel's sgl_kernel/sm100 build, BUILD_TYPE=blackwell)
        "cuda_archs": ["8.0", "9.0", "10.0"],
    },
    "0.5.8": {
        "sglang": "0.5.8",
        "attn_dp_size_flag": False,
        "pd_sliced_kv_any_tp": False,  # the same send_kvcache_slice as 0.5.6.post2's
        "nixl_reads_ib_device": False,  # the same nixl/conn.py: --disaggregation-ib-device is not read
        "cuda": "12.9",  # cu129 torch index; PyPI metadata of sglang 0.5.8 (cuda-python==12.9)
        "sgl_kernel_package": "sgl-kernel",
        "sgl_kernel": "0.3.21",  # PyPI metadata of sglang 0.5.8 (sgl-kernel==0.3.21)
        "torch": "2.9.1",  # PyPI metadata of sglang 0.5.8 (torch==2.9.1), as 2.9.1+cu129
        # PyPI metadata of sglang 0.5.8 (flashinfer_python==0.6.1, flashinfer_cubin==0.6.1). Version tables that
        # still say 0.5.3 carry over 0.5.6.post2's pin: the release's own pin wins.
        "flashinfer": "0.6.1",
        "nccl": "2.28.3",  # known-good (nvidia-nccl-cu12, pinned again after NIXL and FlashInfer)
        "cudnn": "9.16.0.29",  # known-good (nvidia-cudnn-cu12, pinned again after NIXL and FlashInfer)
        "cusparselt": None,  # unknown: nvidia-cusparselt-cu12 is usually installed unpinned
        "nvshmem": "3.3.9",  # SGLang's DeepEP build
        "gdrcopy": "2.4.4",  # SGLang's DeepEP build
        "deepep_commit": "9af0e0d0e74f3577af1979c9b9e1ac2cad0104ee",  # SGLang's DeepEP build
        "sgl_deep_ep": None,  # no packaged DeepEP in this release (built from deepep_commit)
        "mooncake": "0.3.8.post1",  # known-good (mooncake-transfer-engine)
        "nixl": "0.9.0",  # known-good
        "router_package": "sglang-router",  # SGLang's router of the time (python -m sglang_router.launch_router)
        "router": None,  # unknown: nothing pins a router version for this release
        "driver_floor": "570.26",  # R570, CUDA 12.8 GA driver: see the module docstring
        "cuda_archs": ["8.0", "9.0", "10.0"],  # A100, H100, B200 (the kernel wheel's sgl_kernel/sm100 build)
    },
    # Newest on PyPI (2026-11). Its parser deprecates `--dp-size N --enable-dp-attention`
    # for `--attn-dp-size N` (sglang/srt/fields/parallel.py: "remove after 2026-12-31").
    # Pins: PyPI metadata of sglang 0.5.23 (tests/fixtures/pypi/sglang-0.5.23-requires.txt).
    "0.5.23": {
        "sglang": "0.5.23",
        "attn_dp_size_flag": True,
        # sglang/srt/disaggregation/common/staging_buffer.py compute_head_slice_params: head slices for any attention-TP
        # sizes of which one is a multiple of the other, replicated KV heads included; with SGLANG_DISAGG_STAGING_BUFFER=1
        # they are gathered in GPU staging buffers (the plan's fix for its pd_attn_tp_mismatch warning names it).
        "pd_sliced_kv_any_tp": True,
        # sglang/srt/disaggregation/nixl/conn.py _resolve_ucx_device_list: the GPU's devices of
        # --disaggregation-ib-device become NIXL's UCX device_list (HCA names only: NIXL appends port 1; a name
        # with a port suffix raises), unless UCX_NET_DEVICES is set, which then wins for every GPU.
        "nixl_reads_ib_device": True,
        # PyPI metadata of sglang 0.5.23: cuda-python>=13.0 and the [cu13] flavours of flashinfer_python,
        # nvidia-cutlass-dsl and humming-kernels, nvshmem4py-cu13.
        "cuda": "13.0",
        "sgl_kernel_package": "sglang-kernel",  # PyPI metadata of sglang 0.5.23: sgl-kernel renamed sglang-kernel
        "sgl_kernel": "0.4.10",  # PyPI metadata of sglang 0.5.23 (sglang-kernel==0.4.10)
        "torch": "2.14.1",  # PyPI metadata of sglang 0.5.23 (torch==2.14.1)
        "flashinfer": "0.7.2",  # PyPI metadata of sglang 0.5.23 (flashinfer_python[cu13]==0.7.2)
        # sglang 0.5.23 pins none of these; torch 2.14.1 does, exactly, and sglang 0.5.23 pins torch: the Requires-Dist
        # of PyPI's torch-2.14.1 Linux wheel METADATA (read 2026-11-24; the same for every cp3xx manylinux_2_28 wheel):
        # cuda-toolkit[...]==13.0.3, nvidia-nccl-cu13==2.30.7, nvidia-cudnn-cu13==9.24.0.43,
        # nvidia-cusparselt-cu13==0.8.1, nvidia-nvshmem-cu13==3.4.5. PyPI's torch 2.14.1 is thus the CUDA 13.0 build.
        "nccl": "2.30.7",
        "cudnn": "9.24.0.43",
        "cusparselt": "0.8.1",
        # nvshmem4py-cu13 (required, unpinned, by sglang 0.5.23) requires nvidia-nvshmem-cu13 unpinned: torch's pin rules.
        "nvshmem": "3.4.5",
        "gdrcopy": None,  # unknown: no metadata or build of this release names one
        "deepep_commit": None,  # none: DeepEP comes as a wheel (sgl_deep_ep), not a source commit
        "sgl_deep_ep": "0.1.2.post1",  # PyPI metadata of sglang 0.5.23 (sgl-deep-ep==0.1.2.post1)
        # Neither is in sglang 0.5.23's metadata: the newest CUDA 13 wheels on PyPI when sglang 0.5.23 was
        # uploaded (2026-10-30): mooncake-transfer-engine-cuda13 0.3.13.post1 (2026-08-31; 0.3.14 followed on
        # 2026-11-03) and nixl-cu13 1.5.1 (2026-10-26). Both require no nvidia-* wheel (nixl-cu13: torch, numpy).
        "mooncake": "0.3.13.post1",
        "nixl": "1.5.1",
        # PyPI metadata of smg 1.13.0 (the wheel fetched with sglang 0.5.23; sglang 0.5.23 itself only
        # requires smg-grpc-servicer>=0.9.0, so this pairing is ours, not a pin of the release).
        "router_package": "smg",
        "router": "1.13.0",
        "driver_floor": "580.65.06",  # R580, CUDA 13.0 GA driver = the CUDA 13.x minimum: see the module docstring
        # The cubins of sglang-kernel 0.4.10's core library: sgl_kernel/sm90/ and sgl_kernel/sm100/common_ops.abi3.so
        # (the loader takes sm90 on compute capability 9.0, sm100 on any other GPU) both carry sm_80, sm_89, sm_90
        # (twice: sm_90 and sm_90a), sm_100 and sm_120, read from the .nv_fatbin entry headers of the PyPI wheel
        # (2026-11-24). Its other libraries cover subsets (flash_ops: 8.0, 8.6, 9.0; flashmla_ops: 9.0, 10.0, 10.3).
        # The preflight lets 8.x GPUs run the sm_80 cubins (8.6 passes); from 9.0 on it wants an exact match.
        "cuda_archs": ["8.0", "8.9", "9.0", "10.0", "12.0"],
    },
}

DEFAULT_PROFILE = "0.5.23"


def profile(name: str | None) -> dict | None:
    """The named profile, or None for no name or an unknown one."""
    return PROFILES.get(name) if name else None
