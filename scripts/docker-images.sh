#!/usr/bin/env bash
# Builds sharpeyes' container images without a registry: a Debian 12 base image made from
# Debian's own packages (debootstrap + docker import), then the shipped deploy/Dockerfile on it.
#
#   scripts/docker-images.sh base             the base image only (sharpeyes/debian:bookworm)
#   scripts/docker-images.sh image [BINARY]   base + sharpeyes:dev from a binary built here
#                                             (default target/release/sharpeyes, else debug)
#   scripts/docker-images.sh source           base + sharpeyes:dev compiled inside Docker
#                                             (needs RUST_IMAGE: a Rust 1.95 bookworm image)
#   scripts/docker-images.sh warm             base, the runtime stage and the compose stack's
#                                             mosquitto/prometheus images, for the layer cache
#                                             (.ci/run starts it while cargo builds); without a
#                                             Docker engine it says so and does nothing
#
# `image` builds the Dockerfile's `prebuilt` target: the same runtime stage as the full build,
# with the binary and the ONNX Runtime library taken from this machine instead of the builder
# stage. Its context is staged from deploy/Dockerfile.dockerignore's allow-list (the legacy
# builder, the only one without buildx, reads no per-Dockerfile ignore file). The compose file's
# mosquitto and prometheus images build on the same base (deploy/*/Dockerfile).
#
# Environment: BASE_IMAGE (default sharpeyes/debian:bookworm), IMAGE (default sharpeyes:dev),
# DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=${BASE_IMAGE:-sharpeyes/debian:bookworm}
IMAGE=${IMAGE:-sharpeyes:dev}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ORT_LIB=libonnxruntime.so.1.31.1

say() { echo "docker-images: $*" >&2; }

base() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    say "$BASE_IMAGE present"
    return
  fi
  command -v debootstrap >/dev/null || { say "debootstrap missing (scripts/setup.sh installs it)"; exit 1; }
  local root
  root=$(mktemp -d /var/tmp/sharpeyes-rootfs.XXXXXX)
  # Cleared as it fires: a RETURN trap stays set and would fire again in the caller.
  trap 'rm -rf "$root"; trap - RETURN' RETURN
  say "debootstrap bookworm from $MIRROR (a few minutes)"
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >&2
  # What a slim image leaves out: apt caches, docs and man pages.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/*
  tar -C "$root" --numeric-owner -c . | docker import - "$BASE_IMAGE" >/dev/null
  say "$BASE_IMAGE imported"
}

# Copies the context the Dockerfile's ignore file allows (its `!` lines) into $1.
stage_context() {
  local ctx=$1 pat f
  rm -rf "$ctx"
  mkdir -p "$ctx"
  while IFS= read -r pat; do
    pat=${pat#!}
    pat=${pat%/}
    # shellcheck disable=SC2086 # the pattern is a glob on purpose
    for f in $pat; do
      [ -e "$f" ] || { say "context: $pat matches nothing"; exit 1; }
      mkdir -p "$ctx/$(dirname "$f")"
      cp -a "$f" "$ctx/$f"
    done
  done < <(grep '^!' deploy/Dockerfile.dockerignore)
}

image() {
  local bin=${1:-}
  if [ -z "$bin" ]; then
    for bin in target/release/sharpeyes target/debug/sharpeyes ""; do
      [ -x "$bin" ] && break
    done
    [ -n "$bin" ] || { say "no binary: cargo build --release first, or pass one"; exit 1; }
  fi
  [ -f "vendor/onnxruntime/$ORT_LIB" ] || scripts/fetch-onnxruntime.sh
  base
  local ctx=target/docker-context
  stage_context "$ctx"
  mkdir -p "$ctx/prebuilt"
  cp "$bin" "$ctx/prebuilt/sharpeyes"
  cp "vendor/onnxruntime/$ORT_LIB" "$ctx/prebuilt/$ORT_LIB"
  say "building $IMAGE (target prebuilt, binary $bin)"
  docker build -q -f deploy/Dockerfile --target prebuilt \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$IMAGE" "$ctx" >&2
  say "$IMAGE built"
}

source_build() {
  base
  : "${RUST_IMAGE:?set RUST_IMAGE to a Rust 1.95 bookworm image}"
  local ctx=target/docker-context
  stage_context "$ctx"
  docker build -f deploy/Dockerfile --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --build-arg "RUST_IMAGE=$RUST_IMAGE" -t "$IMAGE" "$ctx"
}

warm() {
  docker info >/dev/null 2>&1 || { say "no Docker engine answers: nothing to warm"; return; }
  base
  local ctx=target/docker-context-warm
  stage_context "$ctx"
  docker build -q -f deploy/Dockerfile --target runtime \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" "$ctx" >&2
  rm -rf "$ctx"
  local svc
  for svc in mosquitto prometheus; do
    docker build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "sharpeyes/$svc:dev" "deploy/$svc" >&2
  done
  say "warm: base, runtime stage, mosquitto and prometheus images built"
}

case "${1:-image}" in
  base) base ;;
  image) image "${2:-}" ;;
  source) source_build ;;
  warm) warm ;;
  *) echo "usage: $0 base | image [BINARY] | source | warm" >&2; exit 2 ;;
esac
