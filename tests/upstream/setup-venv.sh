#!/usr/bin/env bash
# Create .cache/upstream-venv: Python 3.11 with the pinned SGLang, smg and
# sglang-router packages whose real argument parsers tests/upstream checks the
# golden plans against (see tests/upstream/requirements.txt).
#
#   tests/upstream/setup-venv.sh
#   .cache/upstream-venv/bin/python -m pytest -q -p no:cacheprovider tests/upstream
#
# Idempotent: the venv keeps the sha256 of requirements.txt in a stamp file, and
# a run whose stamp matches does nothing. Any other run builds the venv anew
# (a half-built venv has no stamp, so an interrupted run is redone next time).
#
# Environment: UPSTREAM_PYTHON=/path/to/python3.11 picks the interpreter (the
# SGLang wheel is cp311 only); UPSTREAM_VENV moves the venv.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
REQUIREMENTS=$ROOT/tests/upstream/requirements.txt
VENV=${UPSTREAM_VENV:-$ROOT/.cache/upstream-venv}
STAMP=$VENV/.requirements.sha256
export PIP_DISABLE_PIP_VERSION_CHECK=1

want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [[ -x $VENV/bin/python && -f $STAMP && "$(<"$STAMP")" == "$want" ]]; then
    echo "upstream venv: up to date (${VENV#"$ROOT"/}, requirements sha256 ${want:0:12})"
    exit 0
fi

# The first candidate that runs and is 3.11 (pyenv's shims exist even where
# they fail, hence "runs").
find_python() {
    local candidate
    local candidates=("${UPSTREAM_PYTHON:-}" python3.11)
    while IFS= read -r candidate; do
        candidates+=("$candidate")
    done < <(printf '%s\n' "$HOME"/.pyenv/versions/3.11*/bin/python | sort -rV)
    candidates+=(python3)
    for candidate in "${candidates[@]}"; do
        [[ -n $candidate ]] || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

python=$(find_python) || {
    echo "upstream venv: no Python 3.11 found (the sglang 0.5.23 wheel is cp311 only); set UPSTREAM_PYTHON" >&2
    exit 1
}

# pip on this machine kind names every file:// index it skips; keep the rest.
quiet_pip() {
    { "$VENV/bin/python" -m pip "$@" 2>&1; } | { grep -v "^WARNING: Location 'file:" || true; }
}

start=$SECONDS
echo "upstream venv: building ${VENV#"$ROOT"/} with $("$python" --version 2>&1) ($python)"
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$python" -m venv "$VENV"

with_deps=$(mktemp)
no_deps=$(mktemp)
trap 'rm -f "$with_deps" "$no_deps"' EXIT
grep -v '# no-deps' "$REQUIREMENTS" >"$with_deps" || true
grep '# no-deps' "$REQUIREMENTS" | sed 's/#.*//' >"$no_deps"

quiet_pip install --quiet -r "$with_deps"
quiet_pip install --quiet --no-deps -r "$no_deps"

# torch==2.13.0 should have come from the local CPU-build file; a CUDA build
# still works for parsing, but costs several GB.
"$VENV/bin/python" - <<'EOF'
import sys

import torch

if torch.version.cuda is not None:
    print("upstream venv: note: torch %s is a CUDA build (no local CPU-build file was found)" % torch.__version__,
          file=sys.stderr)
EOF

# The parsers import: fail here rather than in the tests if a dependency is missing.
"$VENV/bin/python" -c 'import sglang.srt.server_args, smg.launch_router, sglang_router.launch_router, pytest'

printf '%s\n' "$want" >"$STAMP"
echo "upstream venv: ready in $((SECONDS - start))s ($(du -sh "$VENV" | cut -f1))"
