#!/usr/bin/env bash
# Builds the krew release archive of `kubectl steady` and writes its uri and sha256 into
# plugins/steady.yaml. From the repository root:
#
#   plugins/release.sh                       # builds the static binary (images/static-binary.sh)
#   STEADY_BIN=path/to/steady plugins/release.sh
#
# Writes dist/steady-vVERSION-linux-amd64.tar.gz (the binary `steady` and LICENSE, which krew-index
# requires in every archive). Upload that file as the release asset of tag vVERSION, then commit
# plugins/steady.yaml: the sha256 in it is this archive's, so the archive uploaded must be this
# one. The archive is byte-reproducible for one binary (sorted names, fixed owner and mtime,
# gzip without a timestamp).
set -euo pipefail
cd "$(dirname "$0")/.."

version=v$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
bin=${STEADY_BIN:-$(images/static-binary.sh)}
name=steady-$version-linux-amd64.tar.gz
uri=https://github.com/steady-dev/steady/releases/download/$version/$name

mkdir -p dist
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -m 0755 "$bin" "$stage/steady"
install -m 0644 LICENSE "$stage/LICENSE"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$stage" -cf - LICENSE steady |
  gzip -9n >"dist/$name"
sha=$(sha256sum "dist/$name" | cut -d' ' -f1)

# The linux/amd64 platform's uri and sha256; `version:` follows the workspace version.
awk -v version="$version" -v uri="$uri" -v sha="$sha" '
  /^  version: / { print "  version: " version; next }
  /^ *arch: / { arch = $2 }
  arch == "amd64" && /^ *uri: / { sub(/uri: .*/, "uri: " uri) }
  arch == "amd64" && /^ *sha256: / { sub(/sha256: .*/, "sha256: " sha) }
  { print }
' plugins/steady.yaml >"$stage/steady.yaml"
cp "$stage/steady.yaml" plugins/steady.yaml
echo "dist/$name"
echo "sha256 $sha (written to plugins/steady.yaml)"
