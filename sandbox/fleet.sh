# shellcheck shell=bash
# shellcheck disable=SC2034  # the names are used by the scripts that source this file
# The 1P1D sandbox fleet: names and run options shared by up.sh, down.sh and
# demo.sh (sourced, not run). The containers are the Molecule platforms of
# .config/molecule/config.yml (driver.platform_defaults) started by hand: the
# same image, systemd as PID 1 without --privileged, the fixtures (fake
# nvidia-smi, IB sysfs) mounted read-only at /opt/gpufleet-fixtures.
# inventories/sandbox names them.

SANDBOX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SANDBOX_IMAGE=${SANDBOX_IMAGE:-gpufleet/debian12-systemd:latest}
SANDBOX_NETWORK=${SANDBOX_NETWORK:-gpufleet-sandbox}
SANDBOX_PREFIX=gpufleet-sandbox
# Every container carries this label; down.sh removes only the containers that have it.
SANDBOX_LABEL=org.gpufleet.sandbox=1pd1
# host of inventories/sandbox -> its part (the GPU nodes get fake GPUs).
declare -A SANDBOX_ROLES=([prefill-0]=gpu [decode-0]=gpu [router-0]=cpu)
SANDBOX_HOSTS=(prefill-0 decode-0 router-0)

sandbox_container() { printf '%s-%s' "$SANDBOX_PREFIX" "$1"; }

log() { printf 'sandbox: %s\n' "$*"; }
die() { printf 'sandbox: %s\n' "$*" >&2; exit 1; }

sandbox_need_docker() {
    command -v docker >/dev/null || die "docker is not installed; install Docker and start it (the sandbox is a fleet of containers)"
    docker info >/dev/null 2>&1 || die "the Docker daemon does not answer (docker info); start it, or run as a user of the docker group"
}
