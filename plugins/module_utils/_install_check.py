# Copyright (c) 2026 gpufleet.sglang contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The installed set of an SGLang venv judged against a release profile, as pure functions.

The module (``install_check``) runs ``PROBE_SCRIPT`` with the venv's python to collect the installed
distributions (importlib.metadata) and, one process per module, the outcome of importing each probe; the
functions here turn that dump into per-package results and findings. Every finding names what was found,
what the profile expects and the fix (the command, with the venv's own pip).

Findings, by ``check``:
- ``package:<name>``: a pinned package missing or at another version (generic; NVIDIA libraries, FlashInfer, ...).
- ``sgl_kernel_version``: sgl-kernel / sglang-kernel not the profile's (SGLang's own pin may downgrade it:
  sglang 0.5.6.post2 requires sgl-kernel 0.3.19; install it after SGLang with --no-deps).
- ``sgl_kernel_abi``: importing the kernel fails with "undefined symbol" (built against another torch).
- ``torch_version``: torch not the profile's (FlashInfer, or vLLM, changed it).
- ``nccl_version``: NCCL wheel not the profile's (force-reinstall the pin without dependencies).
- ``libcudnn`` / ``libcusparselt``: the wheel missing, or an import failing on libcudnn.so.9 / libcusparseLt.so.0.
- ``transfer_backend:mooncake`` / ``transfer_backend:nixl``: the PD transfer backend not installed.
- ``driver:<module>``: an import needs libcuda.so.1 and the host has no NVIDIA driver (warning: nothing to judge).
- ``import:<module>``: any other failed import probe.
- ``env:<NAME>``: a deprecated ``SGL_`` variable (warning; error when its ``SGLANG_`` twin differs) and
  ``SGLANG_DEEPEP_NUM_MAX_DISPATCH_TOKENS_PER_RANK`` above 1024 (DeepEP asserts <= 1024).
"""
from __future__ import annotations

import re

ERROR = "error"
WARNING = "warning"

# Run with the venv's python: `python - --metadata` prints the installed distributions,
# `python - --import NAME` tries one import. Both print one JSON object on stdout.
PROBE_SCRIPT = r'''
import json, sys
if sys.argv[1] == "--metadata":
    import importlib.metadata as md
    dists = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name:
            dists[name] = dist.version
    print(json.dumps({"python": sys.version.split()[0], "packages": dists}))
else:
    try:
        module = __import__(sys.argv[2])
        print(json.dumps({"ok": True, "version": str(getattr(module, "__version__", "")), "error": ""}))
    except BaseException as error:
        print(json.dumps({"ok": False, "version": "", "error": "%s: %s" % (type(error).__name__, error)}))
'''

DEFAULT_IMPORTS = ("torch", "sgl_kernel", "flashinfer", "sglang")

# SGLang's DeepEP dispatch buffer limit: its DeepEP token dispatcher (sglang/srt/layers/moe/token_dispatcher/deepep.py)
# asserts "self.num_max_dispatch_tokens_per_rank <= 1024" (DeepEP's low-latency dispatch counts up to 1024).
DEEPEP_MAX_DISPATCH_TOKENS = 1024
DEEPEP_DISPATCH_VAR = "SGLANG_DEEPEP_NUM_MAX_DISPATCH_TOKENS_PER_RANK"


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def base_version(version: str) -> str:
    """The version without its local label: torch 2.14.1+cu130 is torch 2.14.1."""
    return version.split("+", 1)[0]


def cuda_major(profile: dict) -> str:
    return str(profile.get("cuda") or "12").split(".", 1)[0]


def nvidia_wheel(library: str, profile: dict) -> str:
    """The pip name of an NVIDIA library wheel for the profile's CUDA major (nvidia-nccl-cu13)."""
    return "nvidia-%s-cu%s" % (library, cuda_major(profile))


def mooncake_names(profile: dict) -> list[str]:
    """Mooncake's wheels: CUDA 13 has its own; the plain name is the CUDA 12 build."""
    if cuda_major(profile) == "13":
        return ["mooncake-transfer-engine-cuda13", "mooncake-transfer-engine"]
    return ["mooncake-transfer-engine"]


def nixl_names(profile: dict) -> list[str]:
    """NIXL's wheels: nixl-cu12 / nixl-cu13 carry the libraries; ``nixl`` was the only one up to 0.9."""
    return ["nixl-cu%s" % cuda_major(profile), "nixl"]


def installed_version(packages: dict, names: list[str]) -> tuple[str, str]:
    """(name, version) of the first of these names installed, or ("", "")."""
    by_name = {normalize(name): (name, version) for name, version in packages.items()}
    for name in names:
        if normalize(name) in by_name:
            return by_name[normalize(name)]
    return "", ""


def _finding(check: str, severity: str, found: str, expected: str, fix: str) -> dict:
    return dict(check=check, severity=severity, found=found, expected=expected, fix=fix)


class Judge:
    """Compares one venv's dump with one profile; ``pip`` is the venv's pip, used in every fix."""

    def __init__(self, profile: dict, venv: str, torch_index_url: str = ""):
        self.profile = profile
        self.pip = "%s/bin/pip" % venv.rstrip("/")
        self.torch_index_url = torch_index_url

    def force(self, *requirements: str) -> str:
        return "%s install --force-reinstall --no-deps %s" % (self.pip, " ".join(requirements))

    def torch_fix(self) -> str:
        index = " --extra-index-url %s" % self.torch_index_url if self.torch_index_url else ""
        return "%s install --force-reinstall torch==%s%s" % (self.pip, self.profile["torch"], index)

    def nvidia_pins(self) -> list[str]:
        return ["%s==%s" % (nvidia_wheel(library, self.profile), self.profile[key])
                for library, key in (("nccl", "nccl"), ("cudnn", "cudnn")) if self.profile.get(key)]

    def kernel_fix(self) -> str:
        """The reinstall order: torch of the profile, then the kernel without deps, then the NVIDIA pins again."""
        steps = [self.torch_fix(), self.force("%s==%s" % (self.profile["sgl_kernel_package"], self.profile["sgl_kernel"]))]
        if self.nvidia_pins():
            steps.append(self.force(*self.nvidia_pins()))
        return "; then ".join(steps)


def expected_packages(profile: dict) -> list[tuple[str, list[str], str | None, bool]]:
    """(label, pip names, pinned version or None, required) for every package the profile names."""
    return [
        ("sglang", ["sglang"], profile.get("sglang"), True),
        (profile["sgl_kernel_package"], [profile["sgl_kernel_package"], "sgl-kernel", "sglang-kernel"], profile.get("sgl_kernel"), True),
        ("torch", ["torch"], profile.get("torch"), True),
        ("flashinfer-python", ["flashinfer-python"], profile.get("flashinfer"), True),
        (nvidia_wheel("nccl", profile), [nvidia_wheel("nccl", profile)], profile.get("nccl"), True),
        (nvidia_wheel("cudnn", profile), [nvidia_wheel("cudnn", profile)], profile.get("cudnn"), True),
        (nvidia_wheel("cusparselt", profile), [nvidia_wheel("cusparselt", profile)], profile.get("cusparselt"), True),
        # NVSHMEM, DeepEP and the transfer backends are optional here: required ones are judged by findings.
        (nvidia_wheel("nvshmem", profile), [nvidia_wheel("nvshmem", profile)], profile.get("nvshmem"), False),
        ("sgl-deep-ep", ["sgl-deep-ep"], profile.get("sgl_deep_ep"), False),
        ("mooncake", mooncake_names(profile), profile.get("mooncake"), False),
        ("nixl", nixl_names(profile), profile.get("nixl"), False),
    ]


def compare_packages(profile: dict, packages: dict) -> dict:
    """label -> {name, installed, expected, ok}; ok is None for an optional package that is absent."""
    result = {}
    for label, names, pinned, required in expected_packages(profile):
        name, version = installed_version(packages, names)
        if not version:
            ok = False if required else None
        else:
            ok = pinned is None or base_version(version) == pinned
        result[label] = dict(name=name or names[0], installed=version or None, expected=pinned, ok=ok)
    return result


def _providing_label(module: str, profile: dict) -> str:
    """The package label (compare_packages) whose absence already explains a failed import of this module."""
    return {"torch": "torch", "sgl_kernel": profile["sgl_kernel_package"], "flashinfer": "flashinfer-python",
            "sglang": "sglang"}.get(module, "")


def _import_findings(judge: Judge, imports: dict, results: dict) -> list[dict]:
    findings = []
    profile = judge.profile
    for module, outcome in imports.items():
        if outcome.get("ok"):
            continue
        error = outcome.get("error", "")
        label = _providing_label(module, profile)
        if error.startswith("ModuleNotFoundError") and label and not results[label]["installed"]:
            continue  # the package finding says it, with the install command
        if "libcudnn.so" in error:
            findings.append(_finding(
                "libcudnn", ERROR, "import %s: %s" % (module, error),
                "libcudnn.so.9 from %s==%s" % (nvidia_wheel("cudnn", profile), profile.get("cudnn") or "(any)"),
                "%s; then load the venv's environment script (LD_LIBRARY_PATH)" % judge.force(
                    "%s==%s" % (nvidia_wheel("cudnn", profile), profile["cudnn"]) if profile.get("cudnn") else nvidia_wheel("cudnn", profile))))
        elif "libcusparseLt.so" in error:
            findings.append(_finding(
                "libcusparselt", ERROR, "import %s: %s" % (module, error),
                "libcusparseLt.so.0 from %s" % nvidia_wheel("cusparselt", profile),
                "%s install %s; then load the venv's environment script (LD_LIBRARY_PATH)" % (
                    judge.pip, "%s==%s" % (nvidia_wheel("cusparselt", profile), profile["cusparselt"])
                    if profile.get("cusparselt") else nvidia_wheel("cusparselt", profile))))
        elif "libcuda.so" in error:
            # libcuda.so.1 is the driver's library, not a wheel's: without a driver (a build host, a container)
            # the kernel cannot be loaded, so its ABI cannot be judged here. Not an install error.
            findings.append(_finding(
                "driver:%s" % module, WARNING, "import %s needs libcuda.so.1, the NVIDIA driver's library, which this "
                "host lacks" % module, "the NVIDIA driver (libcuda.so.1), %s or newer" % (profile.get("driver_floor") or "any"),
                "install the NVIDIA driver on GPU nodes; on a host without one the import of %s (and its ABI check) "
                "cannot be judged" % module))
        elif "undefined symbol" in error and module in ("sgl_kernel", "deep_ep", "sgl_deep_ep"):
            findings.append(_finding(
                "sgl_kernel_abi" if module == "sgl_kernel" else "import:%s" % module, ERROR,
                "import %s: %s" % (module, error),
                "%s built against the installed torch (profile: torch %s)" % (module, profile["torch"]),
                "the extension was built against another torch (torch changed after it was installed): %s" % judge.kernel_fix()
                if module == "sgl_kernel" else
                "the extension was built against another torch: reinstall torch==%s, then rebuild or reinstall %s" % (profile["torch"], module)))
        else:
            findings.append(_finding(
                "import:%s" % module, ERROR, error or "import %s failed" % module, "import %s works" % module,
                "read the error; reinstall the package that provides %s with `%s install --force-reinstall --no-deps PACKAGE==VERSION` "
                "at the profile's version" % (module, judge.pip)))
    return findings


def _package_findings(judge: Judge, packages: dict, results: dict) -> list[dict]:
    profile = judge.profile
    findings = []
    kernel = profile["sgl_kernel_package"]
    nccl = nvidia_wheel("nccl", profile)
    cudnn = nvidia_wheel("cudnn", profile)
    cusparselt = nvidia_wheel("cusparselt", profile)
    for label, row in results.items():
        if row["ok"] is not False:
            continue
        found = "%s %s" % (row["name"], row["installed"]) if row["installed"] else "%s is not installed" % row["name"]
        expected = "%s==%s" % (row["name"], row["expected"]) if row["expected"] else "%s installed" % row["name"]
        if label == kernel:
            # SGLang's own pin may have replaced it; the kernel goes in after SGLang, without deps.
            findings.append(_finding("sgl_kernel_version", ERROR, found, expected, "install %s after SGLang: %s" % (
                kernel, judge.force("%s==%s" % (kernel, row["expected"])))))
        elif label == "torch":
            flashinfer = installed_version(packages, ["flashinfer-python"])[1]
            cause = ("torch changed after SGLang was installed (FlashInfer %s pulls torch unpinned)" % flashinfer
                     if flashinfer else "torch changed after SGLang was installed")
            findings.append(_finding("torch_version", ERROR, found, expected, "%s: %s" % (cause, judge.kernel_fix())))
        elif label == nccl:
            findings.append(_finding("nccl_version", ERROR, found, expected, "NCCL errors or timeouts follow: %s" % judge.force(expected)))
        elif label in (cudnn, cusparselt):
            library = "libcudnn.so.9" if label == cudnn else "libcusparseLt.so.0"
            findings.append(_finding(
                "libcudnn" if label == cudnn else "libcusparselt", ERROR, found, expected,
                "%s is missing or not the profile's: %s; then load the venv's environment script (LD_LIBRARY_PATH)" % (
                    library, judge.force(expected) if row["expected"] else "%s install %s" % (judge.pip, row["name"]))))
        else:
            findings.append(_finding("package:%s" % label, ERROR, found, expected, judge.force(expected) if row["expected"]
                                     else "%s install %s" % (judge.pip, row["name"])))
    return findings


def _backend_findings(judge: Judge, packages: dict, transfer_backend: str, pd: bool) -> list[dict]:
    """PD disaggregation needs its transfer engine in the venv."""
    if not pd or transfer_backend == "none":
        return []
    profile = judge.profile
    if transfer_backend == "mooncake":
        names = mooncake_names(profile)
        pin = profile.get("mooncake")
        symptom = "ModuleNotFoundError: No module named 'mooncake' at --disaggregation-mode prefill/decode"
    else:
        names = nixl_names(profile)
        pin = profile.get("nixl")
        symptom = "--disaggregation-transfer-backend nixl cannot import nixl"
    if installed_version(packages, names)[1]:
        return []
    requirement = "%s==%s" % (names[0], pin) if pin else names[0]
    return [_finding(
        "transfer_backend:%s" % transfer_backend, ERROR, "%s is not installed (%s)" % (" / ".join(names), symptom),
        "%s installed for PD disaggregation with the %s backend" % (requirement, transfer_backend),
        "run the gpufleet.sglang.%s role, or `%s install %s`; then re-pin the NVIDIA libraries (nvidia_libs pin.yml), "
        "which it may downgrade" % (transfer_backend, judge.pip, requirement))]


def env_findings(env: dict) -> list[dict]:
    """Deprecated SGL_ names and the DeepEP dispatch limit in the service environment."""
    findings = []
    for name in sorted(env):
        value = str(env[name])
        if name.startswith("SGL_"):
            replacement = "SGLANG_" + name[len("SGL_"):]
            twin = env.get(replacement)
            # SGLang copies SGL_X over SGLANG_X at import (sglang/srt/environ.py): a differing twin is overridden.
            clash = twin is not None and str(twin) != value
            findings.append(_finding(
                "env:%s" % name, ERROR if clash else WARNING,
                "%s=%s%s" % (name, value, " overrides %s=%s" % (replacement, twin) if clash else " (deprecated)"),
                "%s=%s" % (replacement, value),
                "rename %s to %s in sglang_env (SGLang warns \"Environment variable %s is deprecated\")%s" % (
                    name, replacement, name, "; keep one value" if clash else "")))
        elif name == DEEPEP_DISPATCH_VAR:
            try:
                tokens = int(value)
            except ValueError:
                tokens = None
            if tokens is None or not 0 < tokens <= DEEPEP_MAX_DISPATCH_TOKENS:
                findings.append(_finding(
                    "env:%s" % name, ERROR, "%s=%s" % (name, value), "an integer from 1 to %d" % DEEPEP_MAX_DISPATCH_TOKENS,
                    "set %s=%d or less (DeepEP asserts num_max_dispatch_tokens_per_rank <= %d)" % (
                        name, DEEPEP_MAX_DISPATCH_TOKENS, DEEPEP_MAX_DISPATCH_TOKENS)))
    return findings


def judge(profile: dict, venv: str, packages: dict, imports: dict, transfer_backend: str = "none", pd: bool = False,
          env: dict | None = None, torch_index_url: str = "") -> dict:
    """Everything the module returns except ``changed``: packages, imports, findings, errors, warnings."""
    judge_ = Judge(profile, venv, torch_index_url)
    results = compare_packages(profile, packages)
    findings = _import_findings(judge_, imports, results)
    # An ABI or library failure already explains a package finding of the same check: report the import once.
    seen = set(finding["check"] for finding in findings)
    findings += [f for f in _package_findings(judge_, packages, results) if f["check"] not in seen]
    findings += _backend_findings(judge_, packages, transfer_backend, pd)
    findings += env_findings(env or {})
    errors = [f for f in findings if f["severity"] == ERROR]
    return dict(
        packages=results,
        imports={name: dict(ok=bool(o.get("ok")), error=o.get("error", ""), version=o.get("version", "")) for name, o in imports.items()},
        findings=findings,
        error_count=len(errors),
        warning_count=len(findings) - len(errors),
    )


def summary(result: dict) -> str:
    """The message: one line per finding with its fix, or the all-clear."""
    if not result["findings"]:
        checked = sum(1 for row in result["packages"].values() if row["ok"])
        return "install check passed: %d packages as the profile pins them, %d imports work" % (checked, len(result["imports"]))
    lines = ["install check: %d error(s), %d warning(s)" % (result["error_count"], result["warning_count"])]
    lines += ["%s %s: found %s; expected %s; fix: %s" % (f["severity"].upper(), f["check"], f["found"], f["expected"], f["fix"])
              for f in result["findings"]]
    return "\n".join(lines)
