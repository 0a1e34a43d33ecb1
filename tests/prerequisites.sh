#!/usr/bin/env bash
# Prepare a Debian 12 machine for `make demo` and `make test` (README.md, Quickstart): the Debian
# packages, both venvs, ansible-test's offline prerequisites, Docker with dockerd running, and the
# local images. Run it as root from the checkout; CI (.ci/run) runs it too, then `make test`.
#
#   tests/prerequisites.sh
#
# Idempotent: each step does nothing when what it installs is there and current. It needs bash, apt
# and a network that reaches Debian's mirror and PyPI; a Python 3.12 for the tools (pyenv's, or set
# PYTHON=/path/to/python3.12) and a 3.11 for tests/upstream (set UPSTREAM_PYTHON).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1

# Debian packages: git (sanity stages the tracked files), make, shellcheck
# (make lint, and ansible-test's shellcheck test for *.sh files); apt-utils,
# gnupg and dpkg build the signed NVIDIA-layout apt fixture (tests/fixtures/apt-nvidia).
APT_PACKAGES=(git make shellcheck apt-utils gnupg dpkg)

# Install those of the named Debian packages that are missing (one apt-get update, only when needed).
install_missing_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        echo "already installed: $*"
    fi
}

step_system_packages() {
    install_missing_packages "${APT_PACKAGES[@]}"
}

step_python_venv() {
    make .venv
    .venv/bin/python --version
    .venv/bin/ansible-test --version
}

step_upstream_venv() {
    # Python 3.11 venv with the real upstream parsers for tests/upstream (no-op when current).
    tests/upstream/setup-venv.sh
}

step_sanity_prereqs() {
    # get-pip stand-in in ~/.ansible/test/cache (see .ci/sanity).
    make sanity-prep
}

# Docker for the Molecule scenarios (tests/docker/README.md): the daemon,
# debootstrap for the base image, rsync for Molecule's docker driver.
DOCKER_APT_PACKAGES=(docker.io debootstrap rsync)
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/gpufleet-dockerd.log}

step_docker() {
    local i
    install_missing_packages "${DOCKER_APT_PACKAGES[@]}"
    if docker info >/dev/null 2>&1; then
        echo "dockerd already running"
    else
        # No systemd here: dockerd in the background, detached from this
        # script, logging to a file; it starts its own containerd.
        echo "starting dockerd (log: $DOCKERD_LOG)"
        setsid nohup dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
        for ((i = 0; i < 60; i++)); do
            docker info >/dev/null 2>&1 && break
            sleep 1
        done
        if ! docker info >/dev/null 2>&1; then
            echo "dockerd did not answer \`docker info\` within 60s; the end of $DOCKERD_LOG:" >&2
            tail -n 40 "$DOCKERD_LOG" >&2
            return 1
        fi
    fi
    docker version --format 'docker: client {{.Client.Version}}, server {{.Server.Version}}'
    # Every systemd container takes inotify instances; the 14-container scenario (and the sandbox
    # beside it) outgrow the kernel's default of 128 per user.
    local inotify
    inotify=$(cat /proc/sys/fs/inotify/max_user_instances)
    if ((inotify < 1024)); then
        sysctl -q -w fs.inotify.max_user_instances=1024 ||
            echo "warning: fs.inotify.max_user_instances is $inotify; scenarios of many containers may not boot" >&2
    fi
}

step_images() {
    # debian:bookworm (debootstrap) and gpufleet/debian12-systemd; no-op when current.
    make images
}

STEPS=(
    step_system_packages
    step_python_venv
    step_upstream_venv
    step_sanity_prereqs
    step_docker
    step_images
)

for step in "${STEPS[@]}"; do
    echo "==> ${step#step_}"
    start=$SECONDS
    "$step"
    echo "<== ${step#step_}: $((SECONDS - start))s"
done
