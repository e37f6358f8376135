#!/usr/bin/env bash
# Builds the steady image from the root Containerfile with buildah, offline (FROM scratch: no
# base image is pulled), and writes it as a docker archive that both `podman load -i` and
# `ctr -n k8s.io images import` accept. From the repository root:
#
#   images/build.sh                          # static release binary (images/static-binary.sh)
#   STEADY_BIN=target/debug/steady images/build.sh   # any binary; a dynamic one brings its libraries
#
# Knobs: STEADY_IMAGE (default ghcr.io/steady-dev/steady:VERSION, the image `steady install` and
# the chart name), OUT (default dist/steady-image-VERSION.tar). Needs buildah (Debian: buildah).
# Prints the archive's path. Load it with `podman load -i ARCHIVE`, or on a node with
# `ctr -n k8s.io images import ARCHIVE` (then `imagePullPolicy: IfNotPresent` finds it).
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
image=${STEADY_IMAGE:-ghcr.io/steady-dev/steady:$version}
out=${OUT:-dist/steady-image-$version.tar}
bin=${STEADY_BIN:-$(images/static-binary.sh)}
command -v buildah >/dev/null || {
  echo "images/build.sh: buildah not found; install it (Debian: apt-get install buildah)" >&2
  exit 1
}

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
install -D -m 0755 "$bin" "$ctx/rootfs/usr/local/bin/steady"
# A dynamic binary gets exactly what the loader needs: every library ldd resolves and the loader
# itself, at the paths the binary asks for. A static one (ldd: "not a dynamic executable") gets
# nothing else.
if ldd "$bin" >/dev/null 2>&1; then
  ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
    while read -r lib; do
      cp -L --parents "$lib" "$ctx/rootfs/"
    done
fi
cp Containerfile "$ctx/Containerfile"

buildah build --quiet --layers=false --format docker --file "$ctx/Containerfile" \
  --label "org.opencontainers.image.version=$version" --tag "$image" "$ctx" >&2
mkdir -p "$(dirname "$out")"
rm -f "$out"
buildah push --quiet "$image" "docker-archive:$out:$image" >&2
echo "$out"
