#!/usr/bin/env bash
# The README's main job, on a laptop: a 1P1D fleet of three containers
# (sandbox/up.sh), pd_disagg.yml against it (inventories/sandbox: the engine
# simulator on fake GPUs, the real router from PyPI), then one chat completion
# through the router, printed with the route it took (sandbox/ask.py).
#
#   make demo            (make demo-down removes the fleet)
#   sandbox/demo.sh [ansible-playbook options, e.g. -v or --tags readiness]
#
# Idempotent: a second run finds the fleet up, converges with no change and
# asks again. Needs Docker and the collection's venv (`make demo` makes it).
set -euo pipefail
# shellcheck source=sandbox/fleet.sh
source "$(dirname "${BASH_SOURCE[0]}")/fleet.sh"

VENV_BIN=${VENV_BIN:-$SANDBOX_ROOT/.venv/bin}
[[ -x $VENV_BIN/ansible-playbook ]] || die "no ansible-playbook in $VENV_BIN: run \`make demo\`, which creates the venv"
[[ -e $SANDBOX_ROOT/.cache/collections/ansible_collections/gpufleet/sglang ]] ||
    die "gpufleet.sglang is not linked into .cache/collections: run \`make collection-link\` (make demo does)"

"$SANDBOX_ROOT/sandbox/up.sh"

cd "$SANDBOX_ROOT"
log "ansible-playbook -i inventories/sandbox playbooks/pd_disagg.yml $*"
PATH="$VENV_BIN:$PATH" ansible-playbook -i inventories/sandbox playbooks/pd_disagg.yml "$@"

echo
workers=()
for host in "${SANDBOX_HOSTS[@]}"; do
    [[ ${SANDBOX_ROLES[$host]} == gpu ]] && workers+=(--worker "$host=$(sandbox_container "$host")")
done
"$VENV_BIN/python" "$SANDBOX_ROOT/sandbox/ask.py" --router "$(sandbox_container router-0)" "${workers[@]}"
echo
log "the fleet stays up (docker ps --filter label=${SANDBOX_LABEL%%=*}); sandbox/down.sh (make demo-down) removes it"
