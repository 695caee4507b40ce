#!/usr/bin/env bash
# Builds the RPM package: target/generate-rpm/sigward-VERSION-1.ARCH.rpm.
# Installs cargo-generate-rpm when missing. Prints the package's path last.
set -euo pipefail
source "$(dirname "$0")/common.sh"

ensure_tool cargo-generate-rpm cargo-generate-rpm '^0.21'
build_release_and_docs
# cargo-generate-rpm packages files as they are: strip the copy it takes (the
# release profile keeps line tables for backtraces).
objcopy --strip-debug "$TARGET_DIR/release/sigward" "$TARGET_DIR/release/sigward-pkg/sigward"
echo "== cargo generate-rpm"
out="$TARGET_DIR/generate-rpm"
mkdir -p "$out"
rm -f "$out"/sigward-*.rpm
# From agent/, so that the metadata's relative paths resolve there (a
# scriptlet path that does not resolve would be packaged as literal text).
(cd "$ROOT/agent" && cargo generate-rpm --target-dir "$TARGET_DIR" --output "$out/")
rpm=$(ls "$out"/sigward-*.rpm)
if command -v rpm >/dev/null 2>&1; then
    grep -q 'systemctl' <<<"$(rpm -qp --scripts "$rpm")" || {
        echo "build-rpm: $rpm has no scriptlets" >&2
        exit 1
    }
fi
echo "$rpm"
