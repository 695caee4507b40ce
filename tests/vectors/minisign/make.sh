#!/bin/sh
# Recreates the minisign interop vectors with the real minisign binary
# (Debian package `minisign`, tested with minisign 0.11). Secret keys are
# made in a temporary directory and thrown away; only public keys, payloads
# and signatures are kept. Every vector is cross-checked with `minisign -V`
# so the expected results below are the real tool's.
set -eu
cd "$(dirname "$0")"
command -v minisign >/dev/null || { echo "minisign not installed (apt-get install -y minisign)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rm -f ./*.pub ./*.minisig ./*.txt
minisign -G -W -f -p trusted.pub -s "$tmp/trusted.key" </dev/null >/dev/null
minisign -G -W -f -p stranger.pub -s "$tmp/stranger.key" </dev/null >/dev/null

printf 'plugin payload for sigward minisign vectors\nline two\n' > payload.txt
# One byte changed ("plugin" -> "plugIn").
sed 's/plugin/plugIn/' payload.txt > payload_tampered.txt

# Prehashed (ED, the default) with a chosen trusted comment.
minisign -S -s "$tmp/trusted.key" -m payload.txt -x payload.txt.minisig \
    -t "signed by the sigward release key" </dev/null >/dev/null
# Prehashed with minisign's default trusted comment (timestamp, file, hashed).
minisign -S -s "$tmp/trusted.key" -m payload.txt -x payload.txt.default-comment.minisig </dev/null >/dev/null
# Legacy (Ed, not prehashed): minisign 0.11 signs legacy with -l.
minisign -S -l -s "$tmp/trusted.key" -m payload.txt -x payload.txt.legacy.minisig \
    -t "legacy signature" </dev/null >/dev/null
# Signed by a key that is not in the trust store.
minisign -S -s "$tmp/stranger.key" -m payload.txt -x payload.txt.stranger.minisig \
    -t "signed by a stranger" </dev/null >/dev/null
# A valid file signature whose trusted comment was edited afterwards: the
# global signature no longer matches.
sed 's/^trusted comment: signed by the sigward release key$/trusted comment: signed by the sigward ROOT key/' \
    payload.txt.minisig > payload.txt.forged-comment.minisig

# Cross-checks with the real tool: expect success (0) or failure (1).
check() { # expected-rc pubkey file sig [extra flags]
    want=$1; pk=$2; file=$3; sig=$4; shift 4
    set +e
    minisign -V -q "$@" -p "$pk" -m "$file" -x "$sig" >/dev/null 2>&1
    got=$?
    set -e
    if [ "$got" != "$want" ]; then
        echo "cross-check failed: minisign -V $* -p $pk -m $file -x $sig: rc $got, expected $want" >&2
        exit 1
    fi
    echo "ok: minisign -V $* -p $pk -m $file -x $sig -> rc $got"
}
check 0 trusted.pub payload.txt payload.txt.minisig
check 0 trusted.pub payload.txt payload.txt.default-comment.minisig
check 0 trusted.pub payload.txt payload.txt.legacy.minisig
check 1 trusted.pub payload.txt payload.txt.legacy.minisig -H
check 1 trusted.pub payload_tampered.txt payload.txt.minisig
check 1 trusted.pub payload_tampered.txt payload.txt.legacy.minisig
check 1 trusted.pub payload.txt payload.txt.stranger.minisig
check 0 stranger.pub payload.txt payload.txt.stranger.minisig
check 1 trusted.pub payload.txt payload.txt.forged-comment.minisig
