#!/usr/bin/env bash
# Build the three base images the CSMS stack needs -- Python, Postgres, RabbitMQ -- from Debian
# packages alone, for a site that reaches a Debian mirror but not Docker Hub (mirror-only or
# air-gapped with a local Debian mirror). No image is pulled from any registry:
#   1. debootstrap a minimal Debian rootfs from $DEBIAN_MIRROR and `docker import` it;
#   2. build python / postgres / rabbitmq on it with Debian's python3.11, postgresql-15 and
#      rabbitmq-server (Dockerfiles beside this script), apt-get talking to the same mirror.
# Then point the stack at them (docker-compose.yml reads these variables; so do `make up`
# and `make deploy-test`):
#   PYTHON_IMAGE=csms-base/python:3.11-bookworm
#   POSTGRES_IMAGE=csms-base/postgres:15-bookworm
#   RABBITMQ_IMAGE=csms-base/rabbitmq:3.10-bookworm
# The csms image itself still installs its Python dependencies with pip (PyPI or your
# mirror: set PIP_INDEX_URL as a build arg, see docs/deploy.md).
#
# Egress through a TLS-intercepting proxy (pip then fails with CERTIFICATE_VERIFY_FAILED):
# EXTRA_CA_DIR=/usr/local/share/ca-certificates adds the *.crt files there to the Python
# image's trusted roots, so the csms image build can reach PyPI.
#
# Usage (as root: debootstrap needs it):  deploy/base-images/build.sh [--force]
# Needs: debootstrap, docker. Takes ~5 minutes; re-running skips images that exist (--force
# rebuilds them).
set -euo pipefail

DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-bookworm}
PREFIX=${BASE_IMAGE_PREFIX:-csms-base}
DEBIAN_IMAGE=${DEBIAN_IMAGE:-$PREFIX/debian:$SUITE}
PYTHON_IMAGE=${PYTHON_IMAGE:-$PREFIX/python:3.11-$SUITE}
POSTGRES_IMAGE=${POSTGRES_IMAGE:-$PREFIX/postgres:15-$SUITE}
RABBITMQ_IMAGE=${RABBITMQ_IMAGE:-$PREFIX/rabbitmq:3.10-$SUITE}
# Builds reach the mirror through the host's network (no bridge/NAT needed).
BUILD_NETWORK=${BUILD_NETWORK:-host}
DOCKER=${DOCKER:-docker}
HERE=$(cd "$(dirname "$0")" && pwd)
FORCE=0
[[ ${1:-} == --force ]] && FORCE=1

exists() { [[ $FORCE == 0 ]] && $DOCKER image inspect "$1" >/dev/null 2>&1; }
say() { printf '[base-images] %s\n' "$*" >&2; }

if exists "$DEBIAN_IMAGE"; then
  say "$DEBIAN_IMAGE exists"
else
  command -v debootstrap >/dev/null || { say "debootstrap is missing: apt-get install debootstrap"; exit 1; }
  rootfs=$(mktemp -d /tmp/csms-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  say "debootstrap $SUITE from $DEBIAN_MIRROR into $rootfs"
  debootstrap --variant=minbase "$SUITE" "$rootfs" "$DEBIAN_MIRROR" >&2
  # What an image needs and a chroot does not: no docs, no apt caches, updates and security
  # suites configured like the mirror.
  cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $DEBIAN_MIRROR $SUITE main
deb $DEBIAN_MIRROR $SUITE-updates main
deb ${DEBIAN_SECURITY_MIRROR:-${DEBIAN_MIRROR%/debian}/debian-security} $SUITE-security main
SOURCES
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/01-nodoc" <<'NODOC'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
NODOC
  echo 'APT::Install-Recommends "false"; APT::Install-Suggests "false";' \
    >"$rootfs/etc/apt/apt.conf.d/01-norecommends"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
  say "importing $DEBIAN_IMAGE"
  tar -C "$rootfs" --numeric-owner -c . | $DOCKER import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi

# The build context: this folder, plus ca/ with the extra roots (empty unless EXTRA_CA_DIR).
context=$(mktemp -d /tmp/csms-base-context.XXXXXX)
trap 'rm -rf "$context"' EXIT
cp "$HERE"/*.Dockerfile "$HERE"/*-entrypoint.sh "$context/"
mkdir "$context/ca"
if [[ -n ${EXTRA_CA_DIR:-} ]]; then
  find "$EXTRA_CA_DIR" -maxdepth 1 -name '*.crt' -exec cp {} "$context/ca/" \;
  say "adding $(ls "$context/ca" | wc -l) CA certificate(s) from $EXTRA_CA_DIR to the Python image"
fi

build() {  # image dockerfile
  if exists "$1"; then say "$1 exists"; return; fi
  say "building $1"
  $DOCKER build --network "$BUILD_NETWORK" --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" \
    -f "$context/$2" -t "$1" "$context" >&2
}
build "$PYTHON_IMAGE" python.Dockerfile
build "$POSTGRES_IMAGE" postgres.Dockerfile
build "$RABBITMQ_IMAGE" rabbitmq.Dockerfile

say "done; use them with:"
echo "PYTHON_IMAGE=$PYTHON_IMAGE"
echo "POSTGRES_IMAGE=$POSTGRES_IMAGE"
echo "RABBITMQ_IMAGE=$RABBITMQ_IMAGE"
