#!/bin/sh
# Recreates the OpenSSH signature interop vectors with the real ssh-keygen
# (tested with OpenSSH_9.2p1). Private keys are made in a temporary directory
# and thrown away; public keys, payloads, signatures and allowed_signers are
# kept. Every vector is cross-checked with `ssh-keygen -Y verify` at the fixed
# verification time 2026-01-01T00:00:00Z (the time the unit tests use), so the
# expected results are the real tool's.
#
# OpenSSH reads allowed_signers times without a trailing Z as local time;
# sigward reads them as UTC. TZ=UTC makes both agree for these vectors.
set -eu
export TZ=UTC
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rm -f ./*.pub ./*.sig ./*.txt allowed_signers
gen() { # name type [bits]
    if [ $# -eq 3 ]; then
        ssh-keygen -q -t "$2" -b "$3" -N '' -C "$1" -f "$tmp/$1"
    else
        ssh-keygen -q -t "$2" -N '' -C "$1" -f "$tmp/$1"
    fi
    cp "$tmp/$1.pub" "$1.pub"
}
gen alice_ed25519 ed25519        # namespaces="file"
gen bob_rsa rsa 3072             # quoted principal list, no options
gen carol_ecdsa ecdsa 256        # plain entry
gen dave_ed25519 ed25519         # valid-before in the past
gen erin_ed25519 ed25519         # valid-after in the future (no Z: local = UTC here)
gen frank_ed25519 ed25519        # namespaces="git,!file"
gen stranger_ed25519 ed25519     # not in allowed_signers
gen ca_ed25519 ed25519           # cert-authority
gen grace_ed25519 ed25519        # holds a certificate from ca_ed25519
ssh-keygen -q -s "$tmp/ca_ed25519" -I grace-cert -n grace@example.com -V 20250101:20300101 "$tmp/grace_ed25519.pub"
cp "$tmp/grace_ed25519-cert.pub" grace_ed25519-cert.pub

key() { cut -d' ' -f1,2 "$1.pub"; }
{
    echo "# sigward OpenSSH signature test vectors"
    echo "alice@example.com namespaces=\"file\" $(key alice_ed25519) alice's key"
    echo
    echo "\"bob@example.com,bob\" $(key bob_rsa)"
    echo "   carol@example.com	$(key carol_ecdsa)"
    echo "dave@example.com valid-before=\"20200101\" $(key dave_ed25519)"
    echo "erin@example.com valid-after=\"209901011200\" $(key erin_ed25519)"
    echo "frank@example.com namespaces=\"git,!file\" $(key frank_ed25519)"
    echo "*@example.com cert-authority $(key ca_ed25519) the CA"
} > allowed_signers

printf 'plugin payload for sigward ssh vectors\nline two\n' > payload.txt
# One byte changed ("plugin" -> "plugIn").
sed 's/plugin/plugIn/' payload.txt > payload_tampered.txt

sign() { # out key namespace [extra options]
    out=$1; k=$2; ns=$3; shift 3
    rm -f payload.txt.sig
    ssh-keygen -q -Y sign -f "$k" -n "$ns" "$@" payload.txt
    mv payload.txt.sig "$out"
}
sign payload.txt.alice.sig "$tmp/alice_ed25519" file                     # sha512 (default)
sign payload.txt.alice-sha256.sig "$tmp/alice_ed25519" file -O hashalg=sha256
sign payload.txt.alice-other.sig "$tmp/alice_ed25519" other
sign payload.txt.bob.sig "$tmp/bob_rsa" file
sign payload.txt.carol.sig "$tmp/carol_ecdsa" file
sign payload.txt.dave.sig "$tmp/dave_ed25519" file
sign payload.txt.erin.sig "$tmp/erin_ed25519" file
sign payload.txt.frank.sig "$tmp/frank_ed25519" file
sign payload.txt.stranger.sig "$tmp/stranger_ed25519" file
sign payload.txt.grace-cert.sig "$tmp/grace_ed25519-cert.pub" file

check() { # good|bad principal namespace sig file
    want=$1; principal=$2; ns=$3; sig=$4; file=$5
    if ssh-keygen -Y verify -O verify-time=20260101Z -f allowed_signers -I "$principal" \
        -n "$ns" -s "$sig" < "$file" >/dev/null 2>&1; then got=good; else got=bad; fi
    if [ "$got" != "$want" ]; then
        echo "cross-check failed: -I $principal -n $ns -s $sig < $file: $got, expected $want" >&2
        exit 1
    fi
    echo "ok: ssh-keygen -Y verify -I $principal -n $ns -s $sig < $file -> $got"
}
check good alice@example.com file payload.txt.alice.sig payload.txt
check good alice@example.com file payload.txt.alice-sha256.sig payload.txt
check bad alice@example.com file payload.txt.alice.sig payload_tampered.txt
check bad alice@example.com file payload.txt.alice-other.sig payload.txt
check bad alice@example.com other payload.txt.alice-other.sig payload.txt
check good bob@example.com file payload.txt.bob.sig payload.txt
check good bob file payload.txt.bob.sig payload.txt
check bad bob file payload.txt.bob.sig payload_tampered.txt
check good carol@example.com file payload.txt.carol.sig payload.txt
check bad dave@example.com file payload.txt.dave.sig payload.txt
check bad erin@example.com file payload.txt.erin.sig payload.txt
check bad frank@example.com file payload.txt.frank.sig payload.txt
check bad stranger file payload.txt.stranger.sig payload.txt
check good grace@example.com file payload.txt.grace-cert.sig payload.txt
# find-principals reports each signer's principals without -I.
for s in alice bob carol; do
    printf 'principals of payload.txt.%s.sig: ' "$s"
    ssh-keygen -Y find-principals -O verify-time=20260101Z -f allowed_signers -s "payload.txt.$s.sig" 2>/dev/null
done
