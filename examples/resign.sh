#!/usr/bin/env bash
# Regenerates the example key and signatures (the private key is discarded).
# Usage: examples/resign.sh [path/to/sigward]
set -euo pipefail
cd "$(dirname "$0")"
sigward=${1:-../target/release/sigward}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$sigward" keygen --out "$tmp/example" >/dev/null
cp "$tmp/example.pub" keys/example.pub
rm -f plugins/*.sig plugins/tools/*.sig
printf '"""An example plugin that was changed after it was signed."""\n\nprint("original, signed content")\n' > plugins/tampered.py
"$sigward" sign --key "$tmp/example.key" plugins/hello.py plugins/tampered.py plugins/tools/greet.sh
echo 'print("injected after signing")' >> plugins/tampered.py
