#!/usr/bin/env python3
"""Recreates the Notur interop vectors in this directory.

Notur (src/Support/SignatureVerifier.php, src/Console/Commands/ExportCommand.php,
sdk/bin/notur-pack.js, notur-keygen.js) works like this:

  notur:keygen     sodium_crypto_sign_keypair(); prints
                   Public Key = bin2hex(public key)            (64 hex)
                   Secret Key = bin2hex(secret key)            (128 hex: seed || public key)
  notur:export --sign
                   ARCHIVE.sha256 = hash_file('sha256', ARCHIVE) . '  ' . basename(ARCHIVE) . "\n"
                   ARCHIVE.sig    = bin2hex(sodium_crypto_sign_detached(ARCHIVE bytes, secret key))
                                    (PHP writes no newline; notur-pack.js appends "\n")
  notur:install    sodium_crypto_sign_verify_detached(hex2bin(trim(sig)), ARCHIVE bytes,
                                                      hex2bin(NOTUR_PUBLIC_KEY))

This script signs with the real libsodium (the shared library PHP's sodium
extension and libsodium-wrappers are built on), called through ctypes, and
checks that the `cryptography` package's Ed25519 gives the same bytes. The
`.sha256` file is written by the real `sha256sum` tool. Keys come from fixed
seeds (crypto_sign_seed_keypair) so that rerunning this script recreates the
same files byte for byte; notur:keygen itself picks a random seed. They are
test keys: never trust them anywhere.

Requires libsodium (Debian: libsodium23), coreutils' sha256sum and the
`cryptography` package. Run: python3 make.py
"""

import ctypes
import ctypes.util
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = os.path.dirname(os.path.abspath(__file__))
ARCHIVE = "acme-hello-1.0.0.notur"

sodium = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
if sodium.sodium_init() < 0:
    raise SystemExit("sodium_init failed")


def seed(label):
    return hashlib.sha256(b"sigward interop vector key: notur " + label).digest()


def keypair(seed_bytes):
    """crypto_sign_seed_keypair: returns (public key, 64-byte secret key)."""
    pk = ctypes.create_string_buffer(32)
    sk = ctypes.create_string_buffer(64)
    if sodium.crypto_sign_seed_keypair(pk, sk, seed_bytes) != 0:
        raise SystemExit("crypto_sign_seed_keypair failed")
    pk, sk = pk.raw, sk.raw
    assert sk == seed_bytes + pk
    ref = Ed25519PrivateKey.from_private_bytes(seed_bytes).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert ref == pk, "libsodium and cryptography disagree on the public key"
    return pk, sk


def sign_detached(message, sk):
    sig = ctypes.create_string_buffer(64)
    siglen = ctypes.c_ulonglong(0)
    rc = sodium.crypto_sign_detached(
        sig, ctypes.byref(siglen), message, ctypes.c_ulonglong(len(message)), sk
    )
    if rc != 0 or siglen.value != 64:
        raise SystemExit("crypto_sign_detached failed")
    ref = Ed25519PrivateKey.from_private_bytes(sk[:32]).sign(message)
    assert ref == sig.raw, "libsodium and cryptography disagree on the signature"
    return sig.raw


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def archive():
    """A small .notur archive: a gzipped tar holding checksums.json and the
    extension files, built deterministically (like notur-pack.js with GNU
    tar's --sort=name --mtime=@0 --owner=0 --group=0)."""
    files = {
        "extension.yaml": b"id: acme/hello\nname: Hello\nversion: 1.0.0\n",
        "src/HelloExtension.php": b"<?php\n\nnamespace Acme\\Hello;\n\nclass HelloExtension {}\n",
    }
    checksums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    files["checksums.json"] = (json.dumps(checksums, indent=2) + "\n").encode()
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for name in sorted(files):
                info = tarfile.TarInfo(name)
                info.size = len(files[name])
                info.mtime = 0
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(files[name]))
    return raw.getvalue()


def main():
    pk, sk = keypair(seed(b"author"))
    intruder_pk, intruder_sk = keypair(seed(b"intruder"))

    # What notur:keygen prints, one key per file (with a newline, as
    # `echo "$NOTUR_PUBLIC_KEY" > public.hex` would store it).
    write("public.hex", pk.hex().encode() + b"\n")
    write("secret.hex", sk.hex().encode() + b"\n")

    data = archive()
    write(ARCHIVE, data)

    # notur-pack.js style (trailing newline).
    write(ARCHIVE + ".sig", sign_detached(data, sk).hex().encode() + b"\n")
    # PHP ExportCommand style (no newline).
    write(ARCHIVE + ".php.sig", sign_detached(data, sk).hex().encode())

    # The checksum file, by the real sha256sum (same text as ExportCommand).
    out = subprocess.run(
        ["sha256sum", ARCHIVE], cwd=HERE, check=True, capture_output=True
    ).stdout
    assert out == (hashlib.sha256(data).hexdigest() + "  " + ARCHIVE + "\n").encode()
    write(ARCHIVE + ".sha256", out)

    # Same length, one byte changed.
    tampered = bytearray(data)
    tampered[len(data) // 2] ^= 0x01
    write("acme-hello-1.0.0-tampered.notur", bytes(tampered))

    # A valid signature by a key nobody trusts.
    write(ARCHIVE + ".untrusted.sig", sign_detached(data, intruder_sk).hex().encode() + b"\n")


if __name__ == "__main__":
    main()
