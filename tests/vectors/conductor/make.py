#!/usr/bin/env python3
"""Recreates the Conductor interop vectors in this directory.

Conductor (conductor-core/src/plugin/signing.rs, conductor-daemon's
conductor-sign) works like this:

  generate-key P   P.private = the 32-byte Ed25519 seed (raw bytes)
                   P.public  = hex of the 32-byte public key (no newline)
  sign F P         F.sig = serde_json::to_string_pretty(SignatureMetadata {
                       version: 1, algorithm: "Ed25519",
                       plugin_hash: hex(SHA-256(F)), plugin_size: len(F),
                       public_key: hex(pk), signature: hex(Ed25519-sign(sk, SHA-256(F))),
                       signed_at: Utc::now().to_rfc3339(),
                       developer: { name, email } })
                   written with std::fs::write (no trailing newline); the
                   signed message is the raw 32-byte digest.
  trust add        ~/.config/conductor/trusted_keys.toml, toml::to_string_pretty
                   of { keys: [ { name, email, public_key, added_at } ] }
  trust revoke     ~/.config/conductor/revoked_keys.toml (newer versions),
                   toml::to_string_pretty of { revoked: [ { fingerprint, reason,
                   revoked_at } ] }, fingerprint = hex(SHA-256(pk))

Python's json.dumps(indent=2) with insertion-ordered dicts writes exactly what
serde_json::to_string_pretty writes for these fields; the TOML files are
written in the layout toml::to_string_pretty produces.

Keys are derived from fixed labels so that rerunning this script recreates
the same files byte for byte. They are test keys: never trust them anywhere.

Requires the `cryptography` package. Run: python3 make.py
"""

import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = os.path.dirname(os.path.abspath(__file__))

SIGNED_AT = "2025-11-19T08:59:12.482113+00:00"


def seed(label):
    return hashlib.sha256(b"sigward interop vector key: conductor " + label).digest()


def raw_public(k):
    return k.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def signature_file(k, plugin, name, email, message=None):
    digest = hashlib.sha256(plugin).digest()
    signature = k.sign(digest if message is None else message)
    doc = {
        "version": 1,
        "algorithm": "Ed25519",
        "plugin_hash": digest.hex(),
        "plugin_size": len(plugin),
        "public_key": raw_public(k).hex(),
        "signature": signature.hex(),
        "signed_at": SIGNED_AT,
        "developer": {"name": name, "email": email},
    }
    return json.dumps(doc, indent=2).encode("utf-8")


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def wasm_module():
    # A valid, minimal WebAssembly module: magic, version 1, one custom
    # section named "sigward" holding a short payload.
    name = b"sigward"
    payload = b"conductor plugin (sigward test vector)"
    body = bytes([len(name)]) + name + payload
    return b"\x00asm" + struct.pack("<I", 1) + bytes([0, len(body)]) + body


def main():
    dev_seed = seed(b"my-plugin-key")
    dev = Ed25519PrivateKey.from_private_bytes(dev_seed)
    old = Ed25519PrivateKey.from_private_bytes(seed(b"old-key"))
    intruder = Ed25519PrivateKey.from_private_bytes(seed(b"intruder"))

    write("my-plugin-key.private", dev_seed)
    write("my-plugin-key.public", raw_public(dev).hex().encode("ascii"))

    trusted = (
        "[[keys]]\n"
        'name = "Your Name"\n'
        'email = "you@example.com"\n'
        f'public_key = "{raw_public(dev).hex()}"\n'
        'added_at = "2025-11-19T08:50:03.113904+00:00"\n'
        "\n"
        "[[keys]]\n"
        'name = "Old Release Key"\n'
        'email = "releases@example.com"\n'
        f'public_key = "{raw_public(old).hex()}"\n'
        'added_at = "2024-02-01T10:00:00+00:00"\n'
    )
    write("trusted_keys.toml", trusted.encode("utf-8"))

    revoked = (
        "[[revoked]]\n"
        f'fingerprint = "{hashlib.sha256(raw_public(old)).hexdigest()}"\n'
        'reason = "key compromised"\n'
        'revoked_at = "2025-11-01T00:00:00Z"\n'
    )
    write("revoked_keys.toml", revoked.encode("utf-8"))

    plugin = wasm_module()
    write("plugin.wasm", plugin)
    write("plugin.wasm.sig", signature_file(dev, plugin, "Your Name", "you@example.com"))

    # Same size, one byte changed.
    tampered = bytearray(plugin)
    tampered[-3] ^= 0x20
    write("plugin-tampered.wasm", bytes(tampered))

    # Valid signatures by keys that are not trusted / trusted but revoked.
    write(
        "plugin.wasm.untrusted.sig",
        signature_file(intruder, plugin, "Mallory", "mallory@example.net"),
    )
    write(
        "plugin.wasm.revoked.sig",
        signature_file(old, plugin, "Old Release Key", "releases@example.com"),
    )

    # Trusted key, wrong message (the hex text of the digest): does not verify.
    digest_hex = hashlib.sha256(plugin).hexdigest().encode("ascii")
    write(
        "plugin.wasm.badsig.sig",
        signature_file(dev, plugin, "Your Name", "you@example.com", message=digest_hex),
    )


if __name__ == "__main__":
    main()
