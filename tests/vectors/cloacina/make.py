#!/usr/bin/env python3
"""Recreates the Cloacina interop vectors in this directory.

Cloacina (crates/cloacina/src/security/package_signer.rs and crypto/signing.rs)
signs a package like this:

    package_hash    = hex(SHA-256(package bytes))
    signature       = Ed25519-sign(private_key, SHA-256(package bytes))   # the raw 32 bytes
    key_fingerprint = hex(SHA-256(raw 32-byte public key))
    FILE.sig        = serde_json::to_string_pretty(DetachedSignature { version: 1,
                          algorithm: "ed25519", package_hash, key_fingerprint,
                          signature: base64(signature), signed_at: Utc::now().to_rfc3339() })
                      written with std::fs::write (no trailing newline)

Python's json.dumps(indent=2) with an insertion-ordered dict writes exactly
what serde_json::to_string_pretty writes for these fields.

Keys are derived from fixed labels so that rerunning this script recreates
the same files byte for byte (Ed25519 signatures are deterministic). They are
test keys: never trust them anywhere.

Requires the `cryptography` package. Run: python3 make.py
"""

import base64
import hashlib
import json
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = os.path.dirname(os.path.abspath(__file__))

# chrono's DateTime<Utc>::to_rfc3339() (microseconds as Cloacina's
# UniversalTimestamp keeps them, "+00:00" offset).
SIGNED_AT = "2026-01-28T14:15:49.145483+00:00"


def key(label):
    seed = hashlib.sha256(b"sigward interop vector key: cloacina " + label).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def raw_public(k):
    return k.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def detached_signature(k, package, message=None):
    digest = hashlib.sha256(package).digest()
    signature = k.sign(digest if message is None else message)
    doc = {
        "version": 1,
        "algorithm": "ed25519",
        "package_hash": digest.hex(),
        "key_fingerprint": hashlib.sha256(raw_public(k)).hexdigest(),
        "signature": base64.b64encode(signature).decode("ascii"),
        "signed_at": SIGNED_AT,
    }
    return json.dumps(doc, indent=2).encode("ascii")


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def main():
    release = key(b"release")
    intruder = key(b"intruder")

    # Public key as Cloacina exports it: SPKI "PUBLIC KEY" PEM (44 DER bytes,
    # prefix 302a300506032b6570032100).
    pem = release.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write("release.pub.pem", pem)

    package = b"\x7fELF\x02\x01\x01\x00" + b"cloacina workflow package (sigward test vector)\n" * 4
    write("libworkflow.so", package)
    write("libworkflow.so.sig", detached_signature(release, package))

    # Same length, one byte changed: the signature above no longer matches.
    tampered = bytearray(package)
    tampered[20] ^= 0x01
    write("libworkflow-tampered.so", bytes(tampered))

    # Signed correctly, but by a key that is not trusted.
    write("libworkflow.so.untrusted.sig", detached_signature(intruder, package))

    # Signed by the trusted key over the wrong message (the hex text of the
    # digest instead of its raw bytes): the signature does not verify.
    digest_hex = hashlib.sha256(package).hexdigest().encode("ascii")
    write("libworkflow.so.badsig.sig", detached_signature(release, package, message=digest_hex))


if __name__ == "__main__":
    main()
