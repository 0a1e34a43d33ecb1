#!/usr/bin/env bash
# Remove the 1P1D sandbox fleet that sandbox/up.sh started: its three
# containers and its network. Only containers that carry the sandbox label are
# touched. Idempotent: nothing to remove is not an error.
#
#   sandbox/down.sh      (make demo-down)
set -euo pipefail
# shellcheck source=sandbox/fleet.sh
source "$(dirname "${BASH_SOURCE[0]}")/fleet.sh"

sandbox_need_docker
for host in "${SANDBOX_HOSTS[@]}"; do
    name=$(sandbox_container "$host")
    label=$(docker container inspect --format '{{ index .Config.Labels "org.gpufleet.sandbox" }}' "$name" 2>/dev/null || true)
    if [[ -z $label ]]; then
        docker container inspect "$name" >/dev/null 2>&1 && log "$name exists but is not the sandbox's (no $SANDBOX_LABEL label): left alone"
        continue
    fi
    log "removing $name"
    docker rm --force --volumes "$name" >/dev/null
done
if docker network inspect "$SANDBOX_NETWORK" >/dev/null 2>&1; then
    log "removing network $SANDBOX_NETWORK"
    docker network rm "$SANDBOX_NETWORK" >/dev/null
fi
log "fleet down"
