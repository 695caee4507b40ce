//! Every seed signing system, signed with the real tools, verified by the
//! running agent under real loaders and by `sigward verify`.
//!
//! For each format: a valid signature is allowed (Python import and `cat`);
//! one byte flipped in the file, one byte flipped in the signature, a key
//! not in the trust store, a truncated and an oversized (100 MB) signature
//! file are denied, and `sigward verify` names the expected reason.
//!
//! Tools: openssl (RSA), ssh-keygen (OpenSSH), the minisign binary, and
//! Python's `cryptography` + PyYAML for AiSOC, Cloacina, Conductor and Notur
//! (built exactly as those systems construct their signatures).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{run, sigward, Agent, Finished, PROC_TIMEOUT};
use crate::openers::{cat, expect_allowed, expect_eperm, python_import};

/// Builds the plugin trees and trust stores for every format. Cases per
/// format directory `plugins/<fmt>/`: good.py, flipfile.py, flipsig.py,
/// untrusted.py, truncated.py, oversized.py. AiSOC cases are plugin
/// directories `plugins/aisoc/<case>/` each holding `mod_<case>.py`.
const GENERATOR: &str = r#####"
import base64, hashlib, json, os, struct, subprocess, sys, yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

root = sys.argv[1]
keys = os.path.join(root, "keys")
plugins = os.path.join(root, "plugins")
os.makedirs(keys, exist_ok=True)
CASES = ["good", "flipfile", "flipsig", "untrusted", "truncated", "oversized"]

def sh(*args, **kw):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, **kw)

def raw(pk):
    return pk.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

def pem(pk):
    return pk.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

def payload(case):
    return ("# plugin %s\nVALUE = %r\n" % (case, case)).encode()

def flip_text_char(text, pos):
    # Replace one character of a hex/base64 string with another of the same
    # alphabet, so the file still parses and only the value changes.
    c = text[pos]
    repl = "B" if c == "A" else "A"
    if c in "0123456789abcdef" and c.islower() or c.isdigit():
        repl = "1" if c == "0" else "0"
    return text[:pos] + repl + text[pos + 1:]

def finish(fmt, case, path, sigpath):
    """Apply the case's damage after a good signature was made."""
    if case == "flipfile":
        data = bytearray(open(path, "rb").read()); data[2] ^= 0x01
        write(path, bytes(data))
    elif case == "truncated":
        data = open(sigpath, "rb").read()
        write(sigpath, data[: len(data) // 2])
    elif case == "oversized":
        with open(sigpath, "wb") as f:
            f.truncate(100 * 1024 * 1024)

# ---- RSA / openssl ---------------------------------------------------------
d = os.path.join(plugins, "rsa")
sh("openssl", "genrsa", "-out", os.path.join(keys, "rsa.key"), "2048", stderr=subprocess.DEVNULL)
sh("openssl", "genrsa", "-out", os.path.join(keys, "rsa-other.key"), "2048", stderr=subprocess.DEVNULL)
sh("openssl", "rsa", "-in", os.path.join(keys, "rsa.key"), "-pubout", "-out", os.path.join(keys, "rsa.pub"), stderr=subprocess.DEVNULL)
for case in CASES:
    p = os.path.join(d, "rsa_%s.py" % case); write(p, payload(case))
    key = "rsa-other.key" if case == "untrusted" else "rsa.key"
    sh("openssl", "dgst", "-sha256", "-sign", os.path.join(keys, key), "-out", p + ".sig", p)
    if case == "flipsig":
        data = bytearray(open(p + ".sig", "rb").read()); data[100] ^= 0x01; write(p + ".sig", bytes(data))
    finish("rsa", case, p, p + ".sig")

# ---- OpenSSH ---------------------------------------------------------------
d = os.path.join(plugins, "ssh")
for name in ("id_alice", "id_mallory"):
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", os.path.join(keys, name))
alice = open(os.path.join(keys, "id_alice.pub")).read().split()
write(os.path.join(keys, "allowed_signers"),
      'alice@example.com namespaces="file" %s %s\n' % (alice[0], alice[1]))
for case in CASES:
    p = os.path.join(d, "ssh_%s.py" % case); write(p, payload(case))
    key = "id_mallory" if case == "untrusted" else "id_alice"
    sh("ssh-keygen", "-Y", "sign", "-f", os.path.join(keys, key), "-n", "file", p, stderr=subprocess.DEVNULL)
    if case == "flipsig":
        lines = open(p + ".sig").read().split("\n")
        body = [l for l in lines[1:] if l and not l.startswith("-----")]
        last = len(body) - 1
        # The signature bytes end the blob: change a character near the end
        # of the base64 body, before any padding.
        s = body[last].rstrip("=")
        pos = max(0, len(s) - 3)
        body[last] = flip_text_char(body[last], pos)
        write(p + ".sig", "\n".join([lines[0]] + body + ["-----END SSH SIGNATURE-----", ""]))
    finish("ssh", case, p, p + ".sig")

# ---- minisign --------------------------------------------------------------
d = os.path.join(plugins, "minisign")
for name in ("minisign", "minisign-other"):
    sh("minisign", "-G", "-W", "-f", "-p", os.path.join(keys, name + ".pub"), "-s", os.path.join(keys, name + ".key"))
for case in CASES:
    p = os.path.join(d, "mini_%s.py" % case); write(p, payload(case))
    key = "minisign-other.key" if case == "untrusted" else "minisign.key"
    sh("minisign", "-S", "-s", os.path.join(keys, key), "-m", p, "-t", "release %s" % case)
    sig = p + ".minisig"
    if case == "flipsig":
        lines = open(sig).read().split("\n")
        lines[1] = flip_text_char(lines[1], 40)
        write(sig, "\n".join(lines))
    finish("minisign", case, p, sig)

# ---- Ed25519-based formats built as the real systems build them -------------
trusted = Ed25519PrivateKey.generate()
other = Ed25519PrivateKey.generate()
write(os.path.join(keys, "ed25519.pem"), pem(trusted.public_key()))
write(os.path.join(keys, "notur.hex"), raw(trusted.public_key()).hex() + "\n")
write(os.path.join(keys, "trusted_keys.toml"),
      '[[keys]]\nname = "Plugin Dev"\nemail = "dev@example.com"\npublic_key = "%s"\nadded_at = "2026-01-01T00:00:00Z"\n'
      % raw(trusted.public_key()).hex())

def signer(case):
    return other if case == "untrusted" else trusted

def cloacina(case, p):
    k = signer(case); digest = hashlib.sha256(open(p, "rb").read()).digest()
    doc = {"version": 1, "algorithm": "ed25519", "package_hash": digest.hex(),
           "key_fingerprint": hashlib.sha256(raw(k.public_key())).hexdigest(),
           "signature": base64.b64encode(k.sign(digest)).decode(),
           "signed_at": "2026-01-01T00:00:00Z"}
    if case == "flipsig":
        doc["signature"] = flip_text_char(doc["signature"], 10)
    write(p + ".sig", json.dumps(doc, indent=2))

def conductor(case, p):
    k = signer(case); data = open(p, "rb").read(); digest = hashlib.sha256(data).digest()
    doc = {"version": 1, "algorithm": "Ed25519", "plugin_hash": digest.hex(), "plugin_size": len(data),
           "public_key": raw(k.public_key()).hex(), "signature": k.sign(digest).hex(),
           "signed_at": "2026-01-01T00:00:00Z", "developer": {"name": "Plugin Dev", "email": "dev@example.com"}}
    if case == "flipsig":
        doc["signature"] = flip_text_char(doc["signature"], 10)
    write(p + ".sig", json.dumps(doc, indent=2))

def notur(case, p):
    k = signer(case); data = open(p, "rb").read()
    sig = k.sign(data).hex()
    if case == "flipsig":
        sig = flip_text_char(sig, 10)
    write(p + ".sig", sig + "\n")
    subprocess.run(["sha256sum", os.path.basename(p)], cwd=os.path.dirname(p), check=True,
                   stdout=open(p + ".sha256", "wb"))

for fmt, fn in (("cloacina", cloacina), ("conductor", conductor), ("notur", notur)):
    for case in CASES:
        p = os.path.join(plugins, fmt, "%s_%s.py" % (fmt, case)); write(p, payload(case))
        fn(case, p)
        finish(fmt, case, p, p + ".sig")
# Notur's checksum companion must agree with the (damaged) file too; keep it
# as written before the damage, as an attacker would leave it.

# ---- raw Ed25519 from openssl (pkeyutl -sign -rawin) -------------------------
ok_ = os.path.join(keys, "ossl.key")
sh("openssl", "genpkey", "-algorithm", "ed25519", "-out", ok_)
der = subprocess.run(["openssl", "pkey", "-in", ok_, "-pubout", "-outform", "DER"], check=True,
                     stdout=subprocess.PIPE).stdout
ossl_raw = der[-32:]
write(os.path.join(keys, "ossl.inline"), ossl_raw.hex())
def pkeyutl(data):
    tmp_in, tmp_out = os.path.join(keys, "in.bin"), os.path.join(keys, "out.bin")
    write(tmp_in, data)
    sh("openssl", "pkeyutl", "-sign", "-rawin", "-inkey", ok_, "-in", tmp_in, "-out", tmp_out)
    return open(tmp_out, "rb").read()
p = os.path.join(plugins, "notur", "notur_openssl.py"); write(p, payload("openssl"))
write(p + ".sig", pkeyutl(open(p, "rb").read()).hex() + "\n")
p = os.path.join(plugins, "cloacina", "cloacina_openssl.py"); write(p, payload("openssl"))
digest = hashlib.sha256(open(p, "rb").read()).digest()
write(p + ".sig", json.dumps({"version": 1, "algorithm": "ed25519", "package_hash": digest.hex(),
      "key_fingerprint": hashlib.sha256(ossl_raw).hexdigest(),
      "signature": base64.b64encode(pkeyutl(digest)).decode(), "signed_at": "2026-01-01T00:00:00Z"}, indent=2))

# ---- an OpenSSH RSA signer -----------------------------------------------------
sh("ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-N", "", "-C", "bob", "-f", os.path.join(keys, "id_bob"))
bob = open(os.path.join(keys, "id_bob.pub")).read().split()
with open(os.path.join(keys, "allowed_signers"), "a") as f:
    f.write("bob@example.com %s %s\n" % (bob[0], bob[1]))
p = os.path.join(plugins, "ssh", "ssh_rsa_good.py"); write(p, payload("rsa"))
sh("ssh-keygen", "-Y", "sign", "-f", os.path.join(keys, "id_bob"), "-n", "file", p, stderr=subprocess.DEVNULL)

# ---- AiSOC bundles -----------------------------------------------------------
def canonical(plugin_dir):
    manifest = yaml.safe_load(open(os.path.join(plugin_dir, "plugin.yaml")))
    for k in ("signature", "trust"):
        manifest.pop(k, None)
    files = {}
    for dirpath, dirnames, filenames in os.walk(plugin_dir):
        for fn in filenames:
            if fn.endswith(".py"):
                full = os.path.join(dirpath, fn)
                rel = os.path.relpath(full, plugin_dir).replace(os.sep, "/")
                files[rel] = hashlib.sha256(open(full, "rb").read()).hexdigest()
    return json.dumps({"manifest": manifest, "files": files}, sort_keys=True, separators=(",", ":")).encode()

for case in CASES:
    pd = os.path.join(plugins, "aisoc", case)
    write(os.path.join(pd, "plugin.yaml"),
          "name: enricher-%s\nversion: 1.0\nenabled: yes\nsignature: ignored\nentry: mod_%s\n" % (case, case))
    write(os.path.join(pd, "mod_%s.py" % case), payload(case))
    write(os.path.join(pd, "lib", "helper.py"), b"HELPER = 1\n")
    k = signer(case)
    sig = k.sign(hashlib.sha256(canonical(pd)).digest()).hex()
    if case == "flipsig":
        sig = flip_text_char(sig, 10)
    write(os.path.join(pd, "plugin.sig"), sig + "\n")
    finish("aisoc", case, os.path.join(pd, "mod_%s.py" % case), os.path.join(pd, "plugin.sig"))
"#####;

struct Matrix {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    policy: PathBuf,
}

fn build() -> Matrix {
    crate::harness::require_root();
    let tmp = tempfile::Builder::new()
        .prefix("sigward-formats-")
        .tempdir_in("/tmp")
        .unwrap();
    let root = tmp.path().to_path_buf();
    let script = root.join("make.py");
    fs::write(&script, GENERATOR).unwrap();
    let fin = run(
        Command::new(crate::openers::python())
            .arg(&script)
            .arg(&root),
        PROC_TIMEOUT,
    );
    assert!(
        fin.success(),
        "generator failed (needs openssl, ssh-keygen, minisign, python3 cryptography + pyyaml):\n{}\n{}",
        fin.stdout,
        fin.stderr
    );
    let policy = root.join("policy.toml");
    // The openssl-made key is trusted as an inline string, as Notur's
    // NOTUR_PUBLIC_KEY is usually given.
    let inline = fs::read_to_string(root.join("keys/ossl.inline")).unwrap();
    fs::write(
        &policy,
        format!(
            r#"mode = "enforce"
[trust]
keys = ["keys/rsa.pub", "keys/minisign.pub", "keys/ed25519.pem", "keys/notur.hex", "keys/trusted_keys.toml"]
ed25519 = ["{inline}"]
allowed_signers = ["keys/allowed_signers"]
ssh_namespace = "file"
[[protect]]
path = "plugins"
"#
        ),
    )
    .unwrap();
    Matrix {
        _tmp: tmp,
        root,
        policy,
    }
}

/// Reasons acceptable for one case.
type Reasons = &'static [&'static str];

/// (format dir, module prefix, reason for a flipped file, for a flipped
/// signature, for an untrusted key).
const FORMATS: [(&str, &str, Reasons, Reasons, Reasons); 6] = [
    // Without a key id, RSA and Notur signatures cannot tell another key
    // from changed content.
    (
        "rsa",
        "rsa",
        &["tampered"],
        &["invalid"],
        &["invalid", "untrusted"],
    ),
    (
        "ssh",
        "ssh",
        &["invalid"],
        &["invalid", "malformed"],
        &["untrusted"],
    ),
    (
        "minisign",
        "mini",
        &["invalid"],
        &["invalid", "malformed"],
        &["untrusted"],
    ),
    (
        "cloacina",
        "cloacina",
        &["tampered"],
        &["invalid"],
        &["untrusted"],
    ),
    (
        "conductor",
        "conductor",
        &["tampered"],
        &["invalid"],
        &["untrusted"],
    ),
    (
        "notur",
        "notur",
        &["invalid", "tampered"],
        &["invalid"],
        &["invalid", "untrusted"],
    ),
];

fn verify_line(fin: &Finished, path: &Path) -> String {
    let shown = path.display().to_string();
    fin.stdout
        .lines()
        .find(|l| l.starts_with(&format!("{shown}: ")))
        .unwrap_or_else(|| {
            panic!(
                "no verify line for {shown}:\n{}\n{}",
                fin.stdout, fin.stderr
            )
        })
        .to_string()
}

fn expect_reason(fin: &Finished, path: &Path, reasons: &[&str]) {
    let line = verify_line(fin, path);
    let shown = path.display().to_string();
    let rest = line.strip_prefix(&format!("{shown}: ")).unwrap_or_default();
    assert!(
        reasons.iter().any(|r| rest.starts_with(&format!("{r}: "))),
        "{shown}: expected one of {reasons:?}, got: {rest}"
    );
}

#[test]
fn every_format_verifies_in_the_cli_and_the_agent() {
    let m = build();
    let plugins = m.root.join("plugins");

    // The CLI's verdicts, before the agent runs.
    let mut all: Vec<PathBuf> = Vec::new();
    for (dir, prefix, ..) in FORMATS {
        for case in [
            "good",
            "flipfile",
            "flipsig",
            "untrusted",
            "truncated",
            "oversized",
        ] {
            all.push(plugins.join(dir).join(format!("{prefix}_{case}.py")));
        }
    }
    for case in [
        "good",
        "flipfile",
        "flipsig",
        "untrusted",
        "truncated",
        "oversized",
    ] {
        all.push(
            plugins
                .join("aisoc")
                .join(case)
                .join(format!("mod_{case}.py")),
        );
    }
    let mut args: Vec<std::ffi::OsString> =
        vec!["verify".into(), "--policy".into(), m.policy.clone().into()];
    args.extend(all.iter().map(|p| p.clone().into_os_string()));
    let fin = sigward(&args);
    assert_eq!(
        fin.code(),
        Some(1),
        "verify exit status\n{}\n{}",
        fin.stdout,
        fin.stderr
    );
    for (dir, prefix, flipfile, flipsig, untrusted) in FORMATS {
        let p = |case: &str| plugins.join(dir).join(format!("{prefix}_{case}.py"));
        let good = verify_line(&fin, &p("good"));
        assert!(good.contains(": ok (key "), "{dir}: {good}");
        expect_reason(&fin, &p("flipfile"), flipfile);
        expect_reason(&fin, &p("flipsig"), flipsig);
        expect_reason(&fin, &p("untrusted"), untrusted);
        expect_reason(&fin, &p("truncated"), &["malformed"]);
        expect_reason(&fin, &p("oversized"), &["malformed"]);
    }
    let a = |case: &str| {
        plugins
            .join("aisoc")
            .join(case)
            .join(format!("mod_{case}.py"))
    };
    assert!(verify_line(&fin, &a("good")).contains(": ok (key "));
    expect_reason(&fin, &a("flipfile"), &["invalid"]);
    expect_reason(&fin, &a("flipsig"), &["invalid"]);
    expect_reason(&fin, &a("untrusted"), &["invalid", "untrusted"]);
    // Half of the hex is 64 characters, which AiSOC reads as a raw signature.
    expect_reason(&fin, &a("truncated"), &["invalid", "malformed"]);
    expect_reason(&fin, &a("oversized"), &["malformed"]);

    // The kernel path's verdicts, under real loaders.
    let mut agent = Agent::start(&m.policy);
    for (dir, prefix, ..) in FORMATS {
        let d = plugins.join(dir);
        expect_allowed(
            python_import(&d, &format!("{prefix}_good")),
            &format!("{dir}: import good"),
        );
        expect_allowed(
            cat(&d.join(format!("{prefix}_good.py"))),
            &format!("{dir}: cat good"),
        );
        for case in ["flipfile", "flipsig", "untrusted", "truncated", "oversized"] {
            let what = format!("{dir}: {case}");
            expect_eperm(
                python_import(&d, &format!("{prefix}_{case}")),
                &format!("import {what}"),
            );
            expect_eperm(
                cat(&d.join(format!("{prefix}_{case}.py"))),
                &format!("cat {what}"),
            );
        }
        // Signature files stay readable.
        let sig = if dir == "minisign" { "minisig" } else { "sig" };
        expect_allowed(
            cat(&d.join(format!("{prefix}_good.py.{sig}"))),
            &format!("{dir}: cat .{sig}"),
        );
    }
    expect_allowed(
        python_import(&plugins.join("notur"), "notur_openssl"),
        "notur: openssl-signed",
    );
    expect_allowed(
        python_import(&plugins.join("cloacina"), "cloacina_openssl"),
        "cloacina: openssl-signed",
    );
    expect_allowed(
        python_import(&plugins.join("ssh"), "ssh_rsa_good"),
        "ssh: rsa key",
    );

    // Deny records name the format and who the signature says signed it.
    let record = |p: PathBuf| {
        let shown = p.display().to_string();
        agent.wait_record(&format!("deny of {shown}"), |r| {
            r.get("SIGWARD_PATH") == Some(&shown)
                && r.get("SIGWARD_DECISION").map(String::as_str) == Some("deny")
        })
    };
    let r = record(plugins.join("minisign/mini_flipfile.py"));
    assert_eq!(
        r.get("SIGWARD_FORMAT").map(String::as_str),
        Some("minisign"),
        "{r:?}"
    );
    assert_eq!(
        r.get("SIGWARD_SIGNER").map(String::as_str),
        Some("release flipfile (unverified)"),
        "{r:?}"
    );
    let r = record(plugins.join("ssh/ssh_flipfile.py"));
    assert_eq!(
        r.get("SIGWARD_FORMAT").map(String::as_str),
        Some("ssh"),
        "{r:?}"
    );
    assert_eq!(
        r.get("SIGWARD_SIGNER").map(String::as_str),
        Some("alice@example.com"),
        "{r:?}"
    );
    let r = record(plugins.join("cloacina/cloacina_untrusted.py"));
    assert_eq!(
        r.get("SIGWARD_REASON").map(String::as_str),
        Some("untrusted"),
        "{r:?}"
    );

    let ad = plugins.join("aisoc");
    expect_allowed(
        python_import(&ad.join("good"), "mod_good"),
        "aisoc: import good",
    );
    expect_allowed(
        cat(&ad.join("good/lib/helper.py")),
        "aisoc: cat nested helper",
    );
    expect_allowed(
        cat(&ad.join("good/plugin.yaml")),
        "aisoc: manifest readable",
    );
    expect_allowed(
        cat(&ad.join("good/plugin.sig")),
        "aisoc: plugin.sig readable",
    );
    for case in ["flipfile", "flipsig", "untrusted", "truncated", "oversized"] {
        expect_eperm(
            python_import(&ad.join(case), &format!("mod_{case}")),
            &format!("aisoc: import {case}"),
        );
        expect_eperm(
            cat(&ad.join(case).join("lib/helper.py")),
            &format!("aisoc: helper of {case}"),
        );
    }
    agent.assert_alive("after every format");
}

#[test]
fn trust_list_names_every_source() {
    let m = build();
    let fin = sigward([
        std::ffi::OsStr::new("trust"),
        std::ffi::OsStr::new("list"),
        std::ffi::OsStr::new("--policy"),
        m.policy.as_os_str(),
    ]);
    assert!(fin.success(), "{}\n{}", fin.stdout, fin.stderr);
    for want in [
        "rsa ",
        "ssh-ed25519",
        "alice@example.com",
        "minisign key id",
        "Plugin Dev",
        "rsa.pub#1",
        "notur.hex#1",
        "trusted_keys.toml#1",
        "allowed_signers#1",
    ] {
        assert!(
            fin.stdout.contains(want),
            "trust list lacks {want:?}:\n{}",
            fin.stdout
        );
    }
}
