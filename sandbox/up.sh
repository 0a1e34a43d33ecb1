#!/usr/bin/env bash
# Start the 1P1D sandbox fleet: three systemd containers on their own Docker
# network, gpufleet-sandbox-{prefill-0,decode-0,router-0}, which
# inventories/sandbox targets through the community.docker.docker connection.
#
#   sandbox/up.sh        (make demo runs it; sandbox/down.sh removes the fleet)
#
# Builds the local images first when they are missing (tests/docker/build-images.sh,
# which needs root and debootstrap the first time). Idempotent: running
# containers are kept, stopped ones started, missing ones created. The GPU
# nodes get what replaces hardware, as Molecule's prepare gives the scenarios:
# the fake nvidia-smi (one H100-like GPU each) and, through the fixtures mount,
# an ACTIVE IB port tree that inventories/sandbox points the preflight at.
set -euo pipefail
# shellcheck source=sandbox/fleet.sh
source "$(dirname "${BASH_SOURCE[0]}")/fleet.sh"

# What the fake nvidia-smi reports on each GPU node (tests/fixtures/bin/fake_nvidia_smi.py).
# Driver R580 and CUDA 13.0: the floor of the default release profile (0.5.23).
FAKE_GPU_JSON='{"model": "NVIDIA H100 80GB HBM3", "count": 1, "driver_version": "580.95.05",
 "cuda_version": "13.0", "compute_cap": "9.0", "nics": ["mlx5_0"]}'

sandbox_need_docker
if ! docker image inspect "$SANDBOX_IMAGE" >/dev/null 2>&1; then
    log "$SANDBOX_IMAGE is missing: building the local images (tests/docker/build-images.sh)"
    "$SANDBOX_ROOT/tests/docker/build-images.sh"
fi

if ! docker network inspect "$SANDBOX_NETWORK" >/dev/null 2>&1; then
    log "creating network $SANDBOX_NETWORK"
    docker network create --label "$SANDBOX_LABEL" "$SANDBOX_NETWORK" >/dev/null
fi

for host in "${SANDBOX_HOSTS[@]}"; do
    name=$(sandbox_container "$host")
    state=$(docker container inspect --format '{{.State.Status}}' "$name" 2>/dev/null || true)
    case $state in
        running) log "$name is running" ;;
        "") log "creating $name"
            # The rig's container settings (driver.platform_defaults of
            # .config/molecule/config.yml: /dev/shm as large as the preflight wants, a
            # tmpfs limit, not an allocation), plus SYS_PTRACE as the topology scenarios
            # add it: root reads every process's /proc/<pid>/fd, as on a real host, so
            # that the preflight of a second run tells the collection's own units on
            # their ports from strangers.
            docker run --detach --name "$name" --hostname "$name" \
                --network "$SANDBOX_NETWORK" --label "$SANDBOX_LABEL" \
                --cap-add SYS_ADMIN --cap-add SYS_PTRACE --tmpfs /run --tmpfs /run/lock \
                --volume /sys/fs/cgroup:/sys/fs/cgroup:ro \
                --volume "$SANDBOX_ROOT/tests/fixtures:/opt/gpufleet-fixtures:ro" \
                --shm-size 16g \
                "$SANDBOX_IMAGE" /lib/systemd/systemd >/dev/null ;;
        *) log "starting $name ($state)"
           docker start "$name" >/dev/null ;;
    esac
done

for host in "${SANDBOX_HOSTS[@]}"; do
    name=$(sandbox_container "$host")
    # `degraded` is a booted system too: a container lacks units that bare metal has.
    status=$(docker exec "$name" timeout 120 systemctl is-system-running --wait 2>/dev/null || true)
    [[ $status == running || $status == degraded ]] || die "$name did not boot (systemctl is-system-running: ${status:-no answer}); see docker logs $name"
    if [[ ${SANDBOX_ROLES[$host]} == gpu ]]; then
        docker exec "$name" ln -sfn /opt/gpufleet-fixtures/bin/nvidia-smi /usr/local/bin/nvidia-smi
        printf '%s\n' "$FAKE_GPU_JSON" | docker exec -i "$name" sh -c 'cat > /etc/gpufleet-fake-gpu.json'
    fi
done
log "fleet up on network $SANDBOX_NETWORK: ${SANDBOX_HOSTS[*]/#/$SANDBOX_PREFIX-}"
