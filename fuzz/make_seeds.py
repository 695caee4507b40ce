#!/usr/bin/env python3
"""Writes the committed fuzz seeds, fuzz/seeds/<target>/, from the
repository's test vectors and examples (run from anywhere):

    python3 fuzz/make_seeds.py

Every seed is a small valid (or nearly valid) input taken from
tests/vectors/ and examples/, so the fuzzer starts from inputs that reach
the verification code. The directory is rewritten from scratch; the seeds
are deterministic, so re-running it on unchanged vectors changes nothing.
"""

import base64
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")
V = os.path.join(ROOT, "tests", "vectors")
EX = os.path.join(ROOT, "examples")

# The AiSOC vector plugins, in the order fuzz/src/lib.rs (AISOC_FILES) has them.
AISOC_PLUGINS = ["json_manifest", "no_python", "yaml_anchors", "yaml_crlf_bom", "yaml_typing", "yaml_unicode"]

MAX_SEED = 8 * 1024


def read(*parts):
    with open(os.path.join(*parts), "rb") as f:
        return f.read()


def put(target, name, data):
    if len(data) > MAX_SEED:
        sys.exit(f"seed {target}/{name} is {len(data)} bytes, over {MAX_SEED}")
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def copy(target, *paths):
    for p in paths:
        put(target, os.path.basename(p), read(p))


def dearmor(text):
    lines = text.decode().strip().splitlines()
    return base64.b64decode("".join(lines[1:-1]))


POLICIES = {
    "minimal.toml": 'mode = "enforce"\n',
    "full.toml": '''mode = "enforce"
formats = ["native", "rsa-openssl", "aisoc", "cloacina", "conductor", "notur", "minisign", "ssh"]

[trust]
keys = ["keys/release.pub", "/etc/sigward/keys/other.pem"]
keys_dir = "/etc/sigward/keys.d"
ed25519 = ["3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"]
allowed_signers = ["allowed_signers"]
ssh_namespace = "file"
minisign_legacy = false
revoked = ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
revoked_dir = "/etc/sigward/revoked.d"
deny_sha256 = ["2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"]

[[trust.key]]
name = "vendor-a"
file = "keys/vendor-a.pub"
groups = ["vendors"]
not_before = 2026-01-01T00:00:00Z
not_after = 2027-01-01T00:00:00Z

[[trust.key]]
name = "acme"
ed25519 = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
groups = ["partners"]
not_after = "2026-12-31T23:59:59+02:00"

[[protect]]
path = "/srv/app/plugins"
mode = "audit"
formats = ["native"]
trust = ["vendor-a", "vendors"]
threshold = 2
allow_self_signed = false

[[protect]]
path = "../srv/./other"
allow_self_signed = true

[agent]
workers = 4
cache_entries = 65536
metrics_file = "/var/lib/prometheus/node-exporter/sigward.prom"
metrics_interval = 15
kernel_cache = true
kernel_cache_owners = [0, "deploy"]

[audit]
log_allowed = false
rate_limit_burst = 5
rate_limit_interval = 10
''',
    "dropins.toml": '''mode = "enforce"
#%
[[trust.key]]
name = "release-2026"
file = "/etc/sigward/keys/release-2026.pub"
groups = ["release"]

[[protect]]
path = "/srv/app/partner-plugins"
trust = ["release"]
#%
[[protect]]
path = "/srv/app/partner-plugins"
mode = "audit"

[audit]
log_allowed = true
#%
[trust]
revoked = [
  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
]
deny_sha256 = ["2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"]
[agent]
kernel_cache_owners = []
''',
    "aliases.toml": 'mode = "warn"\n[[protect]]\npath = "/opt/x"\nmode = "disabled"\n[[protect]]\npath = "/opt/y"\nmode = "strict"\n',
}


def main():
    if os.path.isdir(SEEDS):
        shutil.rmtree(SEEDS)

    # policy_toml
    copy("policy_toml", os.path.join(EX, "policy.toml"))
    for name, text in POLICIES.items():
        put("policy_toml", name, text.encode())

    # native_sig
    copy("native_sig", os.path.join(EX, "plugins", "hello.py.sig"), os.path.join(EX, "plugins", "tampered.py.sig"),
         os.path.join(EX, "plugins", "tools", "greet.sh.sig"))

    # rsa_sig: signatures and key files (the target reads the input as both)
    r = os.path.join(V, "rsa")
    copy("rsa_sig", *[os.path.join(r, f) for f in sorted(os.listdir(r)) if f.endswith((".sig", ".pem"))])

    # trust_key_file: every kind of key file add_file recognises
    copy("trust_key_file",
         os.path.join(EX, "keys", "example.pub"),
         os.path.join(r, "rsa2048.spki.pem"), os.path.join(r, "rsa3072.pkcs1.pem"),
         os.path.join(r, "rsa4096.cert.pem"), os.path.join(r, "ed25519.cert.pem"), os.path.join(r, "mixed.pem"),
         os.path.join(V, "cloacina", "release.pub.pem"),
         os.path.join(V, "conductor", "my-plugin-key.public"),
         os.path.join(V, "conductor", "trusted_keys.toml"), os.path.join(V, "conductor", "revoked_keys.toml"),
         os.path.join(V, "notur", "public.hex"),
         os.path.join(V, "minisign", "trusted.pub"), os.path.join(V, "aisoc", "signer.pem"))

    # aisoc_manifest: every vector manifest, and a few of the typing cases
    for p in AISOC_PLUGINS:
        d = os.path.join(V, "aisoc", "plugins", p)
        for m in ("plugin.yaml", "aisoc-plugin.json"):
            if os.path.exists(os.path.join(d, m)):
                put("aisoc_manifest", f"{p}-{m}", read(d, m))
    with open(os.path.join(V, "aisoc", "cases.json")) as f:
        cases = json.load(f)
    for i, c in enumerate(cases):
        if i % 8 == 0:
            put("aisoc_manifest", f"case-{i:03}.{c['kind']}", c["text"].encode())

    # aisoc_bundle: header (manifest kind, files map) + u16 sig length + plugin.sig + manifest
    for i, p in enumerate(AISOC_PLUGINS):
        d = os.path.join(V, "aisoc", "plugins", p)
        kind = 0 if os.path.exists(os.path.join(d, "plugin.yaml")) else 1
        manifest = read(d, "plugin.yaml" if kind == 0 else "aisoc-plugin.json")
        sig = read(d, "plugin.sig")
        put("aisoc_bundle", p, bytes([kind | (i << 1)]) + len(sig).to_bytes(2, "big") + sig + manifest)

    # cloacina_sig
    c = os.path.join(V, "cloacina")
    copy("cloacina_sig", *[os.path.join(c, f) for f in sorted(os.listdir(c)) if f.endswith(".sig")])

    # conductor_sig: the JSON signatures and the TOML trust files
    c = os.path.join(V, "conductor")
    copy("conductor_sig", *[os.path.join(c, f) for f in sorted(os.listdir(c)) if f.endswith((".sig", ".toml"))])

    # notur_sig: signatures and the sha256sum companion
    n = os.path.join(V, "notur")
    copy("notur_sig", *[os.path.join(n, f) for f in sorted(os.listdir(n)) if f.endswith((".sig", ".sha256"))])

    # minisign_sig: signatures and public keys
    m = os.path.join(V, "minisign")
    copy("minisign_sig", *[os.path.join(m, f) for f in sorted(os.listdir(m)) if f.endswith((".minisig", ".pub"))])

    # sshsig: armoured signatures, and their binary blobs
    s = os.path.join(V, "ssh")
    for f in sorted(os.listdir(s)):
        if f.endswith(".sig"):
            text = read(s, f)
            put("sshsig", f, text)
            put("sshsig", f + ".blob", dearmor(text))

    # allowed_signers: the vector file, and one line per entry
    text = read(s, "allowed_signers")
    put("allowed_signers", "allowed_signers", text)
    for i, line in enumerate(text.splitlines(keepends=True)):
        if line.strip() and not line.startswith(b"#"):
            put("allowed_signers", f"line-{i + 1:02}", line)
    grace = read(s, "grace_ed25519-cert.pub").split(b" ")
    put("allowed_signers", "cert-line", b"grace@example.com " + b" ".join(grace[:2]) + b"\n")


if __name__ == "__main__":
    main()
