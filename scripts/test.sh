#!/usr/bin/env bash
# Runs the whole k3rs test suite. As root, first installs the system packages the tests need
# (apt-get), so that a fresh Debian machine of the project's kind can run it as is.
# Extra arguments go to `cargo nextest run` (e.g. a filter).
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use. Extend this list as tests need more (iproute2, runc, ...).
APT_PACKAGES=(build-essential pkg-config git ca-certificates kubectl runc busybox-static iproute2 nftables util-linux docker-registry skopeo tzdata)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "warning: missing packages (${missing[*]}) and not root: tests that need them will say so" >&2
  fi
fi
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo nextest run --workspace --no-fail-fast "$@"
