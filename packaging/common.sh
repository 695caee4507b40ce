# Shared by build-deb.sh and build-rpm.sh (sourced, not run).
# Builds the release binary and generates the man pages (sigward*.1, and
# sigward.policy.5 from docs/policy.md) and shell completions into $TARGET_DIR/release/sigward-pkg/, where the package
# metadata in agent/Cargo.toml expects them.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

# The workspace's target directory (honours CARGO_TARGET_DIR and
# .cargo/config.toml).
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
if [ -z "$TARGET_DIR" ]; then
    echo "packaging: cannot find cargo's target directory" >&2
    exit 1
fi

# ensure_tool CARGO_SUBCOMMAND CRATE VERSION_REQ: cargo install CRATE when
# CARGO_SUBCOMMAND is missing (built under the target directory).
ensure_tool() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "== cargo install $2 ($3)"
        cargo install --locked "$2" --version "$3" --target-dir "$TARGET_DIR/cargo-install"
    fi
}

build_release_and_docs() {
    echo "== cargo build --release"
    cargo build --release --locked -p sigward
    local docs="$TARGET_DIR/release/sigward-pkg"
    echo "== man pages and completions -> $docs"
    rm -rf "$docs"
    "$TARGET_DIR/release/sigward" generate-docs --out "$docs" >/dev/null
    gzip -9n "$docs"/man/*.1 "$docs"/man/*.5
    ls "$docs/man/sigward.1.gz" "$docs/man/sigward-run.1.gz" "$docs/man/sigward.policy.5.gz" \
        "$docs/completions/sigward.bash" >/dev/null
}
