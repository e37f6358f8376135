#!/usr/bin/env bash
# Builds the statically linked release `steady` (what the image and the krew archive ship) and
# prints its path. glibc's static libc (Debian's libc6-dev) with `+crt-static`: no shared library,
# so the binary runs on `FROM scratch` and on any x86_64 Linux, whatever its libc. Name resolution
# still works: since glibc 2.34 the `files` and `dns` NSS modules are built into libc, so a static
# binary reads /etc/hosts and /etc/resolv.conf without dlopen()ing libnss_*.so.
# `--target` keeps RUSTFLAGS off build scripts and proc macros, which must stay dynamic.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --release --locked -p steady --target "$target" >&2
echo "${CARGO_TARGET_DIR:-$PWD/target}/$target/release/steady"
