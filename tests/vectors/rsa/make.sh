#!/bin/sh
# Recreates the RSA (openssl dgst -sha256 -sign) interop vectors with the real
# openssl tool. Run from anywhere: ./make.sh
# Private keys are generated in a temporary directory and deleted; only public
# keys, certificates, payloads and signatures are kept.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for bits in 1024 2048 3072 4096 8192; do
    openssl genrsa -out "$tmp/rsa$bits.key" "$bits" 2>/dev/null
done
# A second 2048-bit key that is never trusted.
openssl genrsa -out "$tmp/other2048.key" 2048 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/ec.key"
openssl genpkey -algorithm ed25519 -out "$tmp/ed25519.key"

# Trust-store files in each PEM flavour.
openssl rsa -in "$tmp/rsa2048.key" -pubout -out rsa2048.spki.pem 2>/dev/null
openssl rsa -in "$tmp/rsa3072.key" -RSAPublicKey_out -out rsa3072.pkcs1.pem 2>/dev/null
openssl req -x509 -new -key "$tmp/rsa4096.key" -subj /CN=plugin-signer -days 3650 -out rsa4096.cert.pem
openssl rsa -in "$tmp/rsa8192.key" -pubout -out rsa8192.spki.pem 2>/dev/null
openssl rsa -in "$tmp/rsa1024.key" -pubout -out rsa1024.spki.pem 2>/dev/null
openssl rsa -in "$tmp/other2048.key" -pubout -out other2048.spki.pem 2>/dev/null
# A certificate whose subject key is Ed25519 (read by the same parser).
openssl req -x509 -new -key "$tmp/ed25519.key" -subj /CN=ed25519-signer -days 3650 -out ed25519.cert.pem
openssl pkey -in "$tmp/ed25519.key" -pubout -out ed25519.spki.pem

# Mixed file: a certificate (2048-bit key), an unsupported EC public key and
# an SPKI RSA key (3072-bit), with comment text between the blocks.
openssl req -x509 -new -key "$tmp/rsa2048.key" -subj "/CN=mixed-signer/O=Example Plugins" -days 3650 -out "$tmp/mixed.cert.pem"
openssl ec -in "$tmp/ec.key" -pubout -out "$tmp/ec.pub.pem" 2>/dev/null
openssl rsa -in "$tmp/rsa3072.key" -pubout -out "$tmp/rsa3072.spki.pem" 2>/dev/null
{
    echo "# plugin trust store (certificate, EC key that sigward cannot use, RSA key)"
    cat "$tmp/mixed.cert.pem"
    echo "EC key below is not supported and must be skipped:"
    cat "$tmp/ec.pub.pem"
    cat "$tmp/rsa3072.spki.pem"
} > mixed.pem

# Payload, signatures, tampered copy.
printf 'def register_module(app):\n    app.log("hello from module")\n' > module.py
for bits in 1024 2048 3072 4096 8192; do
    openssl dgst -sha256 -sign "$tmp/rsa$bits.key" -out "module.py.rsa$bits.sig" module.py
done
openssl dgst -sha256 -sign "$tmp/other2048.key" -out module.py.other2048.sig module.py
# Right key, wrong digest algorithm (must be refused: only SHA-256 is read).
openssl dgst -sha512 -sign "$tmp/rsa2048.key" -out module.py.rsa2048-sha512.sig module.py
sed 's/hello/HELLO/' module.py > module_tampered.py

# Self-check with openssl itself.
openssl dgst -sha256 -verify rsa2048.spki.pem -signature module.py.rsa2048.sig module.py
openssl x509 -in rsa4096.cert.pem -pubkey -noout > "$tmp/cert.pub"
openssl dgst -sha256 -verify "$tmp/cert.pub" -signature module.py.rsa4096.sig module.py
if openssl dgst -sha256 -verify rsa2048.spki.pem -signature module.py.rsa2048.sig module_tampered.py >/dev/null 2>&1; then
    echo "tampered copy verified?!" >&2; exit 1
fi
