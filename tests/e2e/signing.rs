//! The publisher side: `sigward keygen --format` and `sigward sign
//! --format/--bundle` write what the other systems' tools read. Each output
//! is checked by a real tool (sha256sum, openssl, Python `cryptography` and
//! PyYAML) as well as by `sigward verify`. Also: a tree's `formats` list
//! restricts what it accepts.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{run, sigward, Finished, PROC_TIMEOUT};

fn sw(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Finished {
    let v: Vec<OsString> = args.iter().map(|a| a.as_ref().to_os_string()).collect();
    sigward(&v)
}

fn ok(fin: &Finished, what: &str) {
    assert!(
        fin.success(),
        "{what} failed:\n{}\n{}",
        fin.stdout,
        fin.stderr
    );
}

fn python(script: &str, args: &[&Path]) -> Finished {
    let mut cmd = Command::new(crate::openers::python());
    cmd.arg("-c").arg(script);
    for a in args {
        cmd.arg(a);
    }
    run(&mut cmd, PROC_TIMEOUT)
}

fn verify_ok(policy: &Path, file: &Path) {
    let fin = sw(&[&"verify", &"--policy", &policy, &file]);
    assert!(
        fin.success() && fin.stdout.contains(": ok (key "),
        "verify {}:\n{}\n{}",
        file.display(),
        fin.stdout,
        fin.stderr
    );
}

struct Dir {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

fn dir() -> Dir {
    crate::harness::require_root();
    let tmp = tempfile::Builder::new()
        .prefix("sigward-sign-")
        .tempdir_in("/tmp")
        .unwrap();
    let root = tmp.path().to_path_buf();
    fs::create_dir_all(root.join("plugins")).unwrap();
    Dir { _tmp: tmp, root }
}

fn policy(d: &Dir, keys: &[&Path], extra: &str) -> PathBuf {
    let list: Vec<String> = keys
        .iter()
        .map(|k| format!("{:?}", k.display().to_string()))
        .collect();
    let p = d.root.join("policy.toml");
    fs::write(
        &p,
        format!(
            "[trust]\nkeys = [{}]\n\n[[protect]]\npath = \"plugins\"\n{extra}",
            list.join(", ")
        ),
    )
    .unwrap();
    p
}

#[test]
fn keygen_formats_write_the_matching_public_key() {
    let d = dir();
    let fpr = |fin: &Finished| fin.stdout.trim().to_string();
    let pem = sw(&[&"keygen", &"--out", &d.root.join("a")]);
    ok(&pem, "keygen pem");
    assert!(fs::read_to_string(d.root.join("a.pub"))
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    let hex = sw(&[&"keygen", &"--format", &"hex", &"--out", &d.root.join("b")]);
    ok(&hex, "keygen hex");
    let hex_text = fs::read_to_string(d.root.join("b.pub")).unwrap();
    assert_eq!(hex_text.trim().len(), 64, "{hex_text}");
    let cond = sw(&[
        &"keygen",
        &"--format",
        &"conductor",
        &"--out",
        &d.root.join("c"),
    ]);
    ok(&cond, "keygen conductor");
    let public = fs::read_to_string(d.root.join("c.public")).unwrap();
    assert_eq!(public.trim().len(), 64);
    assert!(!d.root.join("c.pub").exists());
    // The fingerprint printed is SHA-256 of the raw key in every form.
    let check = python(
        "import hashlib,sys; print(hashlib.sha256(bytes.fromhex(open(sys.argv[1]).read().strip())).hexdigest())",
        &[&d.root.join("c.public")],
    );
    assert_eq!(check.stdout.trim(), fpr(&cond));
    let p = policy(
        &d,
        &[
            &d.root.join("a.pub"),
            &d.root.join("b.pub"),
            &d.root.join("c.public"),
        ],
        "",
    );
    let list = sw(&[&"trust", &"list", &"--policy", &p]);
    ok(&list, "trust list");
    for f in [fpr(&pem), fpr(&hex), fpr(&cond)] {
        assert!(
            list.stdout.contains(&f),
            "{f} missing from:\n{}",
            list.stdout
        );
    }
}

#[test]
fn notur_signature_is_checked_by_sha256sum_and_libsodium_semantics() {
    let d = dir();
    ok(
        &sw(&[&"keygen", &"--format", &"hex", &"--out", &d.root.join("k")]),
        "keygen",
    );
    let archive = d.root.join("plugins/vendor-ext-1.0.0.notur");
    fs::write(
        &archive,
        b"\x1f\x8b pretend this is a gzipped tar archive\n".repeat(100),
    )
    .unwrap();
    ok(
        &sw(&[
            &"sign",
            &"--format",
            &"notur",
            &"--key",
            &d.root.join("k.key"),
            &archive,
        ]),
        "sign notur",
    );
    // sha256sum itself accepts the checksum companion.
    let sums = run(
        Command::new("sha256sum")
            .arg("-c")
            .arg("vendor-ext-1.0.0.notur.sha256")
            .current_dir(d.root.join("plugins")),
        PROC_TIMEOUT,
    );
    assert!(
        sums.success(),
        "sha256sum -c: {}\n{}",
        sums.stdout,
        sums.stderr
    );
    // Ed25519 over the whole archive, hex, as sodium_crypto_sign_verify_detached checks it.
    let py = python(
        "import sys\nfrom cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey\n\
         pk = Ed25519PublicKey.from_public_bytes(bytes.fromhex(open(sys.argv[1]).read().strip()))\n\
         pk.verify(bytes.fromhex(open(sys.argv[3]).read().strip()), open(sys.argv[2],'rb').read())\nprint('OK')",
        &[&d.root.join("k.pub"), &archive, &PathBuf::from(format!("{}.sig", archive.display()))],
    );
    assert_eq!(py.stdout.trim(), "OK", "{}", py.stderr);
    verify_ok(&policy(&d, &[&d.root.join("k.pub")], ""), &archive);
}

#[test]
fn cloacina_signature_is_checked_by_openssl() {
    let d = dir();
    ok(&sw(&[&"keygen", &"--out", &d.root.join("k")]), "keygen");
    let lib = d.root.join("plugins/libworkflow.so");
    fs::write(&lib, b"\x7fELF pretend library bytes".repeat(50)).unwrap();
    ok(
        &sw(&[
            &"sign",
            &"--format",
            &"cloacina",
            &"--key",
            &d.root.join("k.key"),
            &lib,
        ]),
        "sign cloacina",
    );
    // Extract digest and signature, then let openssl verify raw Ed25519.
    let py = python(
        "import base64,json,sys,hashlib\nd=json.load(open(sys.argv[1]+'.sig'))\n\
         data=open(sys.argv[1],'rb').read()\nassert d['package_hash']==hashlib.sha256(data).hexdigest()\n\
         open(sys.argv[2]+'/digest.bin','wb').write(bytes.fromhex(d['package_hash']))\n\
         open(sys.argv[2]+'/sig.bin','wb').write(base64.b64decode(d['signature']))\nprint(d['key_fingerprint'])",
        &[&lib, &d.root],
    );
    assert!(py.success(), "{}", py.stderr);
    let v = run(
        Command::new("openssl")
            .args(["pkeyutl", "-verify", "-rawin", "-pubin", "-inkey"])
            .arg(d.root.join("k.pub"))
            .arg("-in")
            .arg(d.root.join("digest.bin"))
            .arg("-sigfile")
            .arg(d.root.join("sig.bin")),
        PROC_TIMEOUT,
    );
    assert!(
        v.stdout.contains("Signature Verified Successfully"),
        "openssl: {}\n{}",
        v.stdout,
        v.stderr
    );
    verify_ok(&policy(&d, &[&d.root.join("k.pub")], ""), &lib);
}

#[test]
fn conductor_signature_and_key_files() {
    let d = dir();
    ok(
        &sw(&[
            &"keygen",
            &"--format",
            &"conductor",
            &"--out",
            &d.root.join("dev"),
        ]),
        "keygen",
    );
    let wasm = d.root.join("plugins/my_plugin.wasm");
    fs::write(&wasm, b"\0asm\x01\0\0\0 pretend module".repeat(20)).unwrap();
    // --name/--email are required for Conductor.
    let missing = sw(&[
        &"sign",
        &"--format",
        &"conductor",
        &"--key",
        &d.root.join("dev.key"),
        &wasm,
    ]);
    assert_eq!(missing.code(), Some(2), "{}", missing.stderr);
    ok(
        &sw(&[
            &"sign",
            &"--format",
            &"conductor",
            &"--name",
            &"Dev One",
            &"--email",
            &"dev@example.com",
            &"--key",
            &d.root.join("dev.key"),
            &wasm,
        ]),
        "sign conductor",
    );
    let py = python(
        "import json,sys,hashlib\nfrom cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey\n\
         d=json.load(open(sys.argv[1]+'.sig'))\ndata=open(sys.argv[1],'rb').read()\n\
         assert d['version']==1 and d['algorithm']=='Ed25519' and d['plugin_size']==len(data)\n\
         assert d['plugin_hash']==hashlib.sha256(data).hexdigest()\n\
         assert d['public_key']==open(sys.argv[2]).read().strip()\n\
         assert d['developer']=={'name':'Dev One','email':'dev@example.com'}\n\
         Ed25519PublicKey.from_public_bytes(bytes.fromhex(d['public_key'])).verify(bytes.fromhex(d['signature']), hashlib.sha256(data).digest())\nprint('OK')",
        &[&wasm, &d.root.join("dev.public")],
    );
    assert_eq!(py.stdout.trim(), "OK", "{}", py.stderr);
    // Trust through a Conductor trusted_keys.toml.
    let toml = d.root.join("trusted_keys.toml");
    fs::write(
        &toml,
        format!(
            "[[keys]]\nname = \"Dev One\"\nemail = \"dev@example.com\"\npublic_key = \"{}\"\nadded_at = \"2026-01-01T00:00:00Z\"\n",
            fs::read_to_string(d.root.join("dev.public")).unwrap().trim()
        ),
    )
    .unwrap();
    verify_ok(&policy(&d, &[&toml], ""), &wasm);
}

#[test]
fn sign_accepts_notur_and_conductor_private_keys() {
    let d = dir();
    let file = d.root.join("plugins/x.py");
    fs::write(&file, b"X = 1\n").unwrap();
    // A Notur secret key (seed || public key, 128 hex) and a Conductor
    // .private (32 raw bytes), made by Python as those tools make them.
    let py = python(
        "import sys\nfrom cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey\n\
         from cryptography.hazmat.primitives import serialization as s\n\
         k=Ed25519PrivateKey.generate()\nseed=k.private_bytes(s.Encoding.Raw,s.PrivateFormat.Raw,s.NoEncryption())\n\
         pub=k.public_key().public_bytes(s.Encoding.Raw,s.PublicFormat.Raw)\n\
         open(sys.argv[1]+'/notur.secret','w').write((seed+pub).hex()+'\\n')\n\
         open(sys.argv[1]+'/cond.private','wb').write(seed)\nopen(sys.argv[1]+'/k.hex','w').write(pub.hex())",
        &[&d.root],
    );
    assert!(py.success(), "{}", py.stderr);
    let p = policy(&d, &[&d.root.join("k.hex")], "");
    ok(
        &sw(&[&"sign", &"--key", &d.root.join("notur.secret"), &file]),
        "sign with notur secret",
    );
    verify_ok(&p, &file);
    fs::remove_file(format!("{}.sig", file.display())).unwrap();
    ok(
        &sw(&[&"sign", &"--key", &d.root.join("cond.private"), &file]),
        "sign with conductor private",
    );
    verify_ok(&p, &file);
}

#[test]
fn bundle_signature_matches_aisoc_canonical_form() {
    let d = dir();
    ok(&sw(&[&"keygen", &"--out", &d.root.join("pub")]), "keygen");
    let pd = d.root.join("plugins/enricher");
    fs::create_dir_all(pd.join(".hidden")).unwrap();
    fs::write(
        pd.join("plugin.yaml"),
        "name: Enricher \u{e9}\nversion: 1.0\nenabled: yes\nports: [0x1F, 010]\ntrust: strict\n",
    )
    .unwrap();
    fs::write(pd.join("plugin.py"), b"def run(): return 1\n").unwrap();
    fs::write(pd.join(".hidden/util.py"), b"U = 2\n").unwrap();
    ok(
        &sw(&[&"sign", &"--bundle", &pd, &"--key", &d.root.join("pub.key")]),
        "sign --bundle",
    );
    // Rebuild the signed message exactly as AiSOC does and verify it.
    let py = python(
        "import sys,os,json,hashlib,yaml\nfrom cryptography.hazmat.primitives.serialization import load_pem_public_key\n\
         pd=sys.argv[1]\nm=yaml.safe_load(open(pd+'/plugin.yaml'))\nm.pop('signature',None); m.pop('trust',None)\nfiles={}\n\
         for dp,dn,fn in os.walk(pd):\n  for f in fn:\n    if f.endswith('.py'):\n      full=os.path.join(dp,f); files[os.path.relpath(full,pd)]=hashlib.sha256(open(full,'rb').read()).hexdigest()\n\
         c=json.dumps({'manifest':m,'files':files},sort_keys=True,separators=(',',':')).encode()\n\
         load_pem_public_key(open(sys.argv[2],'rb').read()).verify(bytes.fromhex(open(pd+'/plugin.sig').read().strip()), hashlib.sha256(c).digest())\nprint('OK')",
        &[&pd, &d.root.join("pub.pub")],
    );
    assert_eq!(py.stdout.trim(), "OK", "{}", py.stderr);
    let p = policy(&d, &[&d.root.join("pub.pub")], "");
    verify_ok(&p, &pd.join("plugin.py"));
    verify_ok(&p, &pd.join(".hidden/util.py"));
}

#[test]
fn a_tree_accepts_only_its_formats() {
    let d = dir();
    ok(&sw(&[&"keygen", &"--out", &d.root.join("k")]), "keygen");
    let native = d.root.join("plugins/native.py");
    let cloacina = d.root.join("plugins/cloacina.py");
    fs::write(&native, b"A = 1\n").unwrap();
    fs::write(&cloacina, b"B = 2\n").unwrap();
    ok(
        &sw(&[&"sign", &"--key", &d.root.join("k.key"), &native]),
        "sign native",
    );
    ok(
        &sw(&[
            &"sign",
            &"--format",
            &"cloacina",
            &"--key",
            &d.root.join("k.key"),
            &cloacina,
        ]),
        "sign cloacina",
    );
    let p = policy(&d, &[&d.root.join("k.pub")], "formats = [\"native\"]\n");
    verify_ok(&p, &native);
    let fin = sw(&[&"verify", &"--policy", &p, &cloacina]);
    assert_eq!(fin.code(), Some(1));
    assert!(
        fin.stdout
            .contains("malformed: signature file is not in any accepted format (native)"),
        "{}",
        fin.stdout
    );
    // Without the restriction the same file verifies.
    verify_ok(&policy(&d, &[&d.root.join("k.pub")], ""), &cloacina);
}
