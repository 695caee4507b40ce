#!/usr/bin/env bash
# Builds the Debian package: target/debian/sigward_VERSION-1_ARCH.deb.
# Installs cargo-deb when missing. Prints the package's path last.
set -euo pipefail
source "$(dirname "$0")/common.sh"

ensure_tool cargo-deb cargo-deb '^3.8'
build_release_and_docs
echo "== cargo deb"
mkdir -p "$TARGET_DIR/debian"
deb=$(cargo deb -p sigward --no-build --strip --output "$TARGET_DIR/debian/" | tail -n 1)
dpkg-deb --info "$deb" >/dev/null
echo "$deb"
