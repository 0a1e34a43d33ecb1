#!/usr/bin/env bash
# Build the local Docker images the Molecule scenarios run, without a registry.
#
#   tests/docker/build-images.sh [--force]      (`make images` and tests/prerequisites.sh call it)
#
# 1. debian:bookworm (also tagged debian:12): a plain Debian base made with
#    `debootstrap --variant=minbase` and `docker import`, tagged with the name
#    a user would pull, so Dockerfiles keep `FROM debian:bookworm`. Like the
#    registry's image it holds no systemd, Python or sudo.
# 2. gpufleet/debian12-systemd:latest: tests/docker/debian12-systemd/Dockerfile,
#    FROM debian:bookworm, with systemd as PID 1, Python and what Ansible needs.
#
# Idempotent: every image carries the sha256 of its inputs in the label
# org.gpufleet.inputs-hash (the base: the debootstrap recipe below and its
# parameters; the systemd image: its build context and the base image's id).
# An image whose label matches is kept; --force (or FORCE=1) rebuilds both.
#
# Environment: DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR (apt mirrors written into
# the base image too; default deb.debian.org), IMAGE_WORKDIR (where the root
# file system is assembled; default /var/tmp).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DOCKER_DIR=$ROOT/tests/docker

SUITE=bookworm
BASE_IMAGE=debian:bookworm
BASE_ALIASES=(debian:12)
SYSTEMD_IMAGE=gpufleet/debian12-systemd:latest
SYSTEMD_CONTEXT=$DOCKER_DIR/debian12-systemd
LABEL=org.gpufleet.inputs-hash
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
IMAGE_WORKDIR=${IMAGE_WORKDIR:-/var/tmp}
ARCH=$(dpkg --print-architecture)
FORCE=${FORCE:-0}
[[ ${1:-} == --force ]] && FORCE=1

# The classic builder: Debian's docker.io 20.10 daemon with a newer CLI
# would otherwise ask for the buildx plugin, and nothing here needs BuildKit.
export DOCKER_BUILDKIT=0

log() { printf 'images: %s\n' "$*"; }

image_label() {
    docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true
}

# The debootstrap recipe. Its own text is part of the base image's input hash,
# so editing it rebuilds the image.
build_debian_base() {
    local rootfs=$1
    debootstrap --variant=minbase --arch="$ARCH" "$SUITE" "$rootfs" "$DEBIAN_MIRROR"
    # The registry image's apt sources: deb822, with updates and security.
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $DEBIAN_MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $DEBIAN_SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # As in the registry image: apt keeps no .deb files and no translations.
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
    # Docker provides these at run time; the build host's must not leak in.
    : >"$rootfs/etc/resolv.conf"
    : >"$rootfs/etc/hostname"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/bootstrap.log \
        "$rootfs"/tmp/* "$rootfs"/var/tmp/*
    mkdir -p "$rootfs/var/lib/apt/lists/partial"
    # Empty lists dated 1970, so that Ansible's `apt: cache_valid_time` updates them.
    touch -d @0 "$rootfs/var/lib/apt/lists"
}

base_inputs_hash() {
    {
        declare -f build_debian_base
        printf '%s\n' "$SUITE" "$DEBIAN_MIRROR" "$DEBIAN_SECURITY_MIRROR" "$ARCH"
    } | sha256sum | cut -d' ' -f1
}

build_base_image() {
    local want rootfs started=$SECONDS
    want=$(base_inputs_hash)
    if ((!FORCE)) && [[ $(image_label "$BASE_IMAGE") == "$want" ]]; then
        log "$BASE_IMAGE up to date (inputs ${want:0:12})"
        return
    fi
    command -v debootstrap >/dev/null || { echo "images: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
    mkdir -p "$IMAGE_WORKDIR"
    rootfs=$(mktemp -d "$IMAGE_WORKDIR/gpufleet-rootfs.XXXXXX")
    # shellcheck disable=SC2064  # expand now: the path is fixed
    trap "rm -rf '$rootfs'" EXIT
    log "building $BASE_IMAGE with debootstrap ($SUITE, minbase, $DEBIAN_MIRROR)"
    if ! build_debian_base "$rootfs" >"$rootfs.log" 2>&1; then
        tail -n 30 "$rootfs.log" >&2
        echo "images: debootstrap failed; the log is $rootfs.log" >&2
        exit 1
    fi
    rm -f "$rootfs.log"
    # Imported under a scratch name and tagged only once tar and a test run
    # succeeded: `docker import` takes a truncated stream without complaint.
    local scratch=gpufleet-build/debian-base:$$ alias
    tar --numeric-owner --xattrs -C "$rootfs" -c . |
        docker import \
            --change 'CMD ["bash"]' \
            --change "LABEL $LABEL=$want" \
            --message "debootstrap --variant=minbase $SUITE $DEBIAN_MIRROR" \
            - "$scratch" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
    docker run --rm --network none "$scratch" sh -c 'apt-get --version >/dev/null' ||
        { docker rmi "$scratch" >/dev/null; echo "images: the imported root file system does not run" >&2; exit 1; }
    for alias in "$BASE_IMAGE" "${BASE_ALIASES[@]}"; do
        docker tag "$scratch" "$alias"
    done
    docker rmi "$scratch" >/dev/null
    log "$BASE_IMAGE built in $((SECONDS - started))s ($(docker image inspect --format '{{.Size}}' "$BASE_IMAGE" | numfmt --to=iec))"
}

systemd_inputs_hash() {
    {
        docker image inspect --format '{{.Id}}' "$BASE_IMAGE"
        (cd "$SYSTEMD_CONTEXT" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    } | sha256sum | cut -d' ' -f1
}

build_systemd_image() {
    local want started=$SECONDS
    want=$(systemd_inputs_hash)
    if ((!FORCE)) && [[ $(image_label "$SYSTEMD_IMAGE") == "$want" ]]; then
        log "$SYSTEMD_IMAGE up to date (inputs ${want:0:12})"
        return
    fi
    log "building $SYSTEMD_IMAGE from ${SYSTEMD_CONTEXT#"$ROOT"/}"
    # --pull=false: the base is local, there is no registry to ask.
    docker build --pull=false --force-rm --label "$LABEL=$want" --tag "$SYSTEMD_IMAGE" "$SYSTEMD_CONTEXT"
    log "$SYSTEMD_IMAGE built in $((SECONDS - started))s ($(docker image inspect --format '{{.Size}}' "$SYSTEMD_IMAGE" | numfmt --to=iec))"
}

docker info >/dev/null 2>&1 || { echo "images: the Docker daemon does not answer (docker info); start dockerd first" >&2; exit 1; }
total=$SECONDS
build_base_image
build_systemd_image
# Dangling layers of replaced builds.
docker image prune --force --filter "label=$LABEL" >/dev/null
log "done in $((SECONDS - total))s"
