//! Tests against vectors made by the real tools (PyYAML, Python's json,
//! `cryptography`): see `tests/vectors/aisoc/README.md`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::*;
use crate::fingerprint::Fingerprint;

const SIGNER_PEM: &str = include_str!("../../../../tests/vectors/aisoc/signer.pem");
const OTHER_PEM: &str = include_str!("../../../../tests/vectors/aisoc/other.pem");
const CASES: &str = include_str!("../../../../tests/vectors/aisoc/cases.json");

/// One plugin directory of the vectors.
struct Plugin {
    name: &'static str,
    manifest_name: &'static str,
    manifest: &'static [u8],
    sig: &'static [u8],
    files_json: &'static str,
    expected: &'static [u8],
}

macro_rules! plugin {
    ($name:literal, $manifest:literal) => {
        Plugin {
            name: $name,
            manifest_name: $manifest,
            manifest: include_bytes!(concat!(
                "../../../../tests/vectors/aisoc/plugins/",
                $name,
                "/",
                $manifest
            )),
            sig: include_bytes!(concat!(
                "../../../../tests/vectors/aisoc/plugins/",
                $name,
                "/plugin.sig"
            )),
            files_json: include_str!(concat!(
                "../../../../tests/vectors/aisoc/plugins/",
                $name,
                "/files.json"
            )),
            expected: include_bytes!(concat!(
                "../../../../tests/vectors/aisoc/plugins/",
                $name,
                "/expected_canonical.json"
            )),
        }
    };
}

fn plugins() -> Vec<Plugin> {
    vec![
        plugin!("yaml_typing", "plugin.yaml"),
        plugin!("json_manifest", "aisoc-plugin.json"),
        plugin!("yaml_unicode", "plugin.yaml"),
        plugin!("yaml_anchors", "plugin.yaml"),
        plugin!("no_python", "plugin.yaml"),
        plugin!("yaml_crlf_bom", "plugin.yaml"),
    ]
}

fn files_of(p: &Plugin) -> BTreeMap<Vec<u8>, [u8; 32]> {
    let m: BTreeMap<String, String> = serde_json::from_str(p.files_json).unwrap();
    m.into_iter()
        .map(|(k, v)| {
            let mut d = [0u8; 32];
            hex::decode_to_slice(v, &mut d).unwrap();
            (k.into_bytes(), d)
        })
        .collect()
}

fn store(pems: &[&str]) -> TrustStore {
    let mut t = TrustStore::new();
    for (i, p) in pems.iter().enumerate() {
        t.add_pem(&format!("key{i}.pem"), p.as_bytes()).unwrap();
    }
    t
}

fn signer_fp() -> Fingerprint {
    Fingerprint::of_ed25519(&VerifyingKey::from_public_key_pem(SIGNER_PEM).unwrap())
}

/// The seed make.py derives the signing key from.
fn signer_key() -> SigningKey {
    let seed: [u8; 32] = Sha256::digest(b"sigward aisoc vector key signer").into();
    SigningKey::from_bytes(&seed)
}

fn verify(
    p: &Plugin,
    manifest: &[u8],
    sig: &[u8],
    files: &BTreeMap<Vec<u8>, [u8; 32]>,
    trust: &TrustStore,
) -> Verdict {
    verify_bundle(
        &Bundle {
            manifest_name: p.manifest_name,
            manifest,
            sig,
            files,
        },
        trust,
    )
}

#[test]
fn canonical_matches_python_for_every_plugin() {
    for p in plugins() {
        let got = canonical(p.manifest_name, p.manifest, &files_of(&p)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(p.expected),
            "{}",
            p.name
        );
    }
}

#[test]
fn python_typing_table() {
    let cases: Vec<serde_json::Value> = serde_json::from_str(CASES).unwrap();
    assert!(cases.len() > 300);
    let mut failures = Vec::new();
    for c in &cases {
        let kind = c["kind"].as_str().unwrap();
        let text = c["text"].as_str().unwrap();
        let name = if kind == "yaml" {
            "plugin.yaml"
        } else {
            "aisoc-plugin.json"
        };
        let got = canonical(name, text.as_bytes(), &BTreeMap::new());
        match (c.get("canonical").and_then(|v| v.as_str()), &got) {
            (Some(want), Ok(got)) if want.as_bytes() == got.as_slice() => {}
            (None, Err(_)) => {}
            (want, got) => failures.push(format!(
                "{kind} {text:?}\n  python: {}\n  ours:   {}",
                want.map_or_else(|| format!("error {}", c["error"]), str::to_string),
                match got {
                    Ok(g) => String::from_utf8_lossy(g).into_owned(),
                    Err(e) => format!("error {e}"),
                }
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn real_signatures_verify() {
    let trust = store(&[OTHER_PEM, SIGNER_PEM]);
    for p in plugins() {
        let v = verify(&p, p.manifest, p.sig, &files_of(&p), &trust);
        assert_eq!(
            v,
            Verdict::verified(signer_fp(), Format::Aisoc, None),
            "{}",
            p.name
        );
    }
}

#[test]
fn our_signatures_equal_pythons() {
    // Ed25519 is deterministic: signing the same canonical bytes with the
    // same key gives the bytes make.py wrote.
    let key = signer_key();
    assert_eq!(Fingerprint::of_ed25519(&key.verifying_key()), signer_fp());
    for p in plugins() {
        let ours = sign_bundle(&key, p.manifest_name, p.manifest, &files_of(&p)).unwrap();
        let theirs = parse_signature(p.sig).unwrap();
        assert_eq!(
            ours,
            format!("{}\n", hex::encode(theirs.to_bytes())),
            "{}",
            p.name
        );
    }
}

#[test]
fn changed_python_file_is_invalid() {
    let trust = store(&[SIGNER_PEM]);
    for p in plugins() {
        let mut files = files_of(&p);
        let Some((_, first)) = files.iter_mut().next() else {
            continue;
        };
        first[0] ^= 1;
        let v = verify(&p, p.manifest, p.sig, &files, &trust);
        assert_eq!(v.reason(), Some(Reason::Invalid), "{}", p.name);
        assert!(matches!(&v, Verdict::Rejected { detail, .. } if detail == DOES_NOT_VERIFY));
        assert_eq!(v.format(), Some(Format::Aisoc));
    }
}

#[test]
fn added_or_removed_python_file_is_invalid() {
    let trust = store(&[SIGNER_PEM]);
    for p in plugins() {
        let mut files = files_of(&p);
        files.insert("evil.py".into(), [7; 32]);
        assert_eq!(
            verify(&p, p.manifest, p.sig, &files, &trust).reason(),
            Some(Reason::Invalid)
        );
        let mut files = files_of(&p);
        if files.pop_first().is_some() {
            assert_eq!(
                verify(&p, p.manifest, p.sig, &files, &trust).reason(),
                Some(Reason::Invalid)
            );
        }
    }
}

#[test]
fn changed_manifest_is_invalid_but_comments_and_stripped_keys_are_not_signed() {
    let trust = store(&[SIGNER_PEM]);
    let p = plugin!("yaml_typing", "plugin.yaml");
    let files = files_of(&p);
    let text = std::str::from_utf8(p.manifest).unwrap();
    // A different value: the float 1.1 becomes 1.2.
    let changed = text.replace("version: 1.10", "version: 1.20");
    assert_eq!(
        verify(&p, changed.as_bytes(), p.sig, &files, &trust).reason(),
        Some(Reason::Invalid)
    );
    // 1.10 and 1.1 are the same float: the signature still holds.
    let same_float = text.replace("version: 1.10", "version: 1.1");
    assert!(verify(&p, same_float.as_bytes(), p.sig, &files, &trust).is_verified());
    // Comments, and the stripped `signature`/`trust` keys, are not signed.
    let commented = format!(
        "# a comment\n{}",
        text.replace("ignored-by-the-signer", "anything")
    );
    assert!(verify(&p, commented.as_bytes(), p.sig, &files, &trust).is_verified());
    // `yes` → "yes" (quoted) is a different value.
    let quoted = text.replace("enabled: yes", "enabled: 'yes'");
    assert_eq!(
        verify(&p, quoted.as_bytes(), p.sig, &files, &trust).reason(),
        Some(Reason::Invalid)
    );
    // One byte flipped in the JSON manifest.
    let j = plugin!("json_manifest", "aisoc-plugin.json");
    let changed = std::str::from_utf8(j.manifest)
        .unwrap()
        .replace("2.0.0", "2.0.1");
    assert_eq!(
        verify(&j, changed.as_bytes(), j.sig, &files_of(&j), &trust).reason(),
        Some(Reason::Invalid)
    );
}

#[test]
fn signature_file_variants() {
    let trust = store(&[SIGNER_PEM]);
    let p = plugin!("yaml_typing", "plugin.yaml");
    let files = files_of(&p);
    let hexsig = std::str::from_utf8(p.sig).unwrap().trim();
    let raw = hex::decode(hexsig).unwrap();
    let spaced: String = raw.iter().map(|b| format!("{b:02X} ")).collect();
    for ok in [
        hexsig.as_bytes().to_vec(),
        format!("\n\t {hexsig} \x0b\x0c\r\n").into_bytes(),
        spaced.into_bytes(),
        raw.clone(),
    ] {
        assert!(verify(&p, p.manifest, &ok, &files, &trust).is_verified());
    }
    // A flipped hex digit: a different signature.
    let mut flipped = hexsig.as_bytes().to_vec();
    flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        verify(&p, p.manifest, &flipped, &files, &trust).reason(),
        Some(Reason::Invalid)
    );
    let mut flipped_raw = raw.clone();
    flipped_raw[40] ^= 0x80;
    assert_eq!(
        verify(&p, p.manifest, &flipped_raw, &files, &trust).reason(),
        Some(Reason::Invalid)
    );
    // Truncated, empty, garbage, oversized: malformed.
    for bad in [
        hexsig.get(..100).unwrap().as_bytes().to_vec(),
        Vec::new(),
        b"   \n".to_vec(),
        b"not a signature at all".to_vec(),
        format!("{hexsig}00").into_bytes(),
        format!("{} {}", hexsig.get(..1).unwrap(), hexsig.get(1..).unwrap()).into_bytes(),
        vec![0xff; 100_000],
        raw.get(..63).unwrap().to_vec(),
    ] {
        let v = verify(&p, p.manifest, &bad, &files, &trust);
        assert_eq!(
            v.reason(),
            Some(Reason::Malformed),
            "{:?}",
            String::from_utf8_lossy(&bad)
        );
        assert_eq!(v.format(), Some(Format::Aisoc));
    }
}

#[test]
fn sixty_four_hex_characters_are_raw_bytes() {
    // 64 hex characters decode to 32 bytes, so AiSOC takes the file as 64
    // raw bytes; that never verifies but is not malformed.
    let text = [b'a'; 64];
    let sig = parse_signature(&text).unwrap();
    assert_eq!(sig.to_bytes(), text);
}

#[test]
fn trust_outcomes() {
    let p = plugin!("yaml_anchors", "plugin.yaml");
    let files = files_of(&p);
    // Only another Ed25519 key: invalid.
    let v = verify(&p, p.manifest, p.sig, &files, &store(&[OTHER_PEM]));
    assert_eq!(v.reason(), Some(Reason::Invalid));
    // No key at all: untrusted.
    let v = verify(&p, p.manifest, p.sig, &files, &TrustStore::new());
    assert_eq!(v.reason(), Some(Reason::Untrusted));
    // The signer revoked: revoked, naming it.
    let mut t = store(&[SIGNER_PEM]);
    t.revoke(signer_fp());
    let v = verify(&p, p.manifest, p.sig, &files, &t);
    assert_eq!(v.reason(), Some(Reason::Revoked));
    assert_eq!(v.key(), Some(signer_fp()));
    // Revoked signer plus another trusted key: still revoked (closest).
    let mut t = store(&[SIGNER_PEM, OTHER_PEM]);
    t.revoke(signer_fp());
    assert_eq!(
        verify(&p, p.manifest, p.sig, &files, &t).reason(),
        Some(Reason::Revoked)
    );
    // Only the other key, revoked: nothing trusted is left.
    let mut t = store(&[OTHER_PEM]);
    t.revoke(Fingerprint::of_ed25519(
        &VerifyingKey::from_public_key_pem(OTHER_PEM).unwrap(),
    ));
    assert_eq!(
        verify(&p, p.manifest, p.sig, &files, &t).reason(),
        Some(Reason::Untrusted)
    );
    // Label of the trusted key is reported as the signer.
    let mut t = TrustStore::new();
    let vk = VerifyingKey::from_public_key_pem(SIGNER_PEM).unwrap();
    t.insert(
        crate::trust::TrustedKey::new(
            crate::trust::KeyMaterial::Ed25519(vk),
            "x",
            1,
            KeyOrigin::Hex,
        )
        .with_label(Some("acme".into())),
    );
    assert_eq!(
        verify(&p, p.manifest, p.sig, &files, &t),
        Verdict::verified(signer_fp(), Format::Aisoc, Some("acme".into()))
    );
}

#[test]
fn malformed_manifests() {
    let trust = store(&[SIGNER_PEM]);
    let p = plugin!("yaml_typing", "plugin.yaml");
    let files = files_of(&p);
    for bad in [
        &b"date: 2024-01-01\n"[..],
        b"a: [unclosed",
        b"- a list\n",
        b"",
        b"\xff\xfe not utf-8",
        b"a: !!binary aGVsbG8=\n",
        b"a: !!python/object/apply:os.system [id]\n",
        b"{a: 1, 2: b}\n",
    ] {
        let v = verify(&p, bad, p.sig, &files, &trust);
        assert_eq!(
            v.reason(),
            Some(Reason::Malformed),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let big = vec![b'#'; MAX_MANIFEST_BYTES + 1];
    assert_eq!(
        verify(&p, &big, p.sig, &files, &trust).reason(),
        Some(Reason::Malformed)
    );
    assert!(canonical("manifest.toml", b"a: 1", &files).is_err());
}

fn bounded(what: &str, text: String) {
    let start = Instant::now();
    let r = canonical("plugin.yaml", text.as_bytes(), &BTreeMap::new());
    assert!(r.is_err(), "{what} should be refused");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{what} took {:?}",
        start.elapsed()
    );
}

#[test]
fn hostile_manifests_are_bounded() {
    // Billion laughs through aliases.
    let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..40 {
        let p = i - 1;
        s.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    bounded("alias bomb", s);
    // Merge-key doubling.
    let mut s = String::from("m0: &m0 {k0: 0}\n");
    for i in 1..64 {
        let p = i - 1;
        s.push_str(&format!("m{i}: &m{i} {{<<: [*m{p}, *m{p}], k{i}: {i}}}\n"));
    }
    bounded("merge bomb", s);
    // Many merge keys in one mapping (each is deleted in place).
    let mut s = String::from("e: &e {}\nm:\n");
    for _ in 0..40_000 {
        s.push_str("  <<: *e\n");
    }
    bounded("many merge keys", s);
    // Deep nesting, flow and block.
    bounded(
        "deep flow",
        format!("a: {}{}", "[".repeat(100_000), "]".repeat(100_000)),
    );
    bounded("deep flow map", format!("a: {}", "{a: ".repeat(50_000)));
    let mut s = String::new();
    for i in 0..1000 {
        s.push_str(&" ".repeat(i));
        s.push_str("k:\n");
    }
    bounded("deep block", s);
    bounded(
        "deep json",
        format!("{{\"a\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000)),
    );
    // Huge sexagesimal and hex numbers.
    bounded("sexagesimal", format!("a: 1{}", ":59".repeat(200_000)));
    bounded("hex", format!("a: 0x{}", "f".repeat(900_000)));
    // A large but legitimate manifest (60 000 nodes) is fine.
    let mut s = String::new();
    for i in 0..10_000 {
        s.push_str(&format!("key{i}: [value {i}, {i}, {i}.5, yes]\n"));
    }
    let start = Instant::now();
    assert!(canonical("plugin.yaml", s.as_bytes(), &BTreeMap::new()).is_ok());
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn garbage_never_panics() {
    // A cheap deterministic fuzz over YAML- and JSON-ish bytes.
    let alphabet: &[u8] = b"ab:-?,[]{}#&*!|>'\"%@` \t\n\r01.e+_~<=\\xu\xc3\xa9";
    let mut state = 0x1234_5678_9abc_def0u64;
    for len in 0..2000 {
        let mut text = Vec::with_capacity(len % 64);
        for _ in 0..(len % 64) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push(alphabet[(state % alphabet.len() as u64) as usize]);
        }
        let _ = canonical("plugin.yaml", &text, &BTreeMap::new());
        let _ = canonical("aisoc-plugin.json", &text, &BTreeMap::new());
        let _ = parse_signature(&text);
    }
}

/// Differential test against real Python: see the comment inside.
#[test]
fn python_differential_fuzz() {
    // Random manifests, typed and dumped by the real PyYAML and json
    // modules (`tests/vectors/aisoc/fuzz.py`, seeded), compared with ours.
    // AISOC_FUZZ=FILE uses a larger corpus made beforehand with
    // `python3 tests/vectors/aisoc/fuzz.py FILE [COUNT [SEED]]`.
    let path = match std::env::var("AISOC_FUZZ") {
        Ok(p) => std::path::PathBuf::from(p),
        Err(_) => {
            let dir =
                std::env::temp_dir().join(format!("sigward-aisoc-fuzz-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let out = dir.join("cases.json");
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/vectors/aisoc/fuzz.py"
            );
            let status = std::process::Command::new("python3")
                .arg(script)
                .arg(&out)
                .arg("3000")
                .arg("7")
                .status()
                .expect("python3 with PyYAML is needed for the differential test");
            assert!(status.success(), "fuzz.py failed (is PyYAML installed?)");
            out
        }
    };
    let cases: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    if std::env::var_os("AISOC_FUZZ").is_none() {
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    assert!(cases.len() >= 1000, "too few fuzz cases: {}", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let kind = c["kind"].as_str().unwrap();
        let text = c["text"].as_str().unwrap();
        let name = if kind == "yaml" {
            "plugin.yaml"
        } else {
            "aisoc-plugin.json"
        };
        let got = canonical(name, text.as_bytes(), &BTreeMap::new());
        let want = c.get("canonical").and_then(|v| v.as_str());
        let ok = match (&got, want) {
            (Ok(g), Some(w)) => g.as_slice() == w.as_bytes(),
            (Err(_), None) => true,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{kind} {text:?}\n  python: {want:?} {}\n  ours:   {:?}",
                c["error"],
                got.map(|g| String::from_utf8_lossy(&g).into_owned())
            ));
        }
    }
    eprintln!("{} cases, {} mismatches", cases.len(), failures.len());
    assert!(
        failures.is_empty(),
        "{}",
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn names_that_are_not_utf8_are_listed_as_python_lists_them() {
    // Python 3.11: json.dumps({"manifest": {"name": "x"}, "files": {os.fsdecode(p):
    // sha256(c).hexdigest() ...}}, sort_keys=True, separators=(",", ":")) for
    // b"lib/\xffx.py" (b"a"), "lib/\ue000.py" (b"b") and "z.py" (b"c"): the
    // undecodable byte is a lone surrogate, sorted before U+E000.
    let expected = concat!(
        r#"{"files":{"lib/\udcffx.py":"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb","#,
        r#""lib/\ue000.py":"3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d","#,
        r#""z.py":"2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"},"manifest":{"name":"x"}}"#
    );
    let files: BTreeMap<Vec<u8>, [u8; 32]> = [
        (b"lib/\xffx.py".to_vec(), Sha256::digest(b"a").into()),
        (
            "lib/\u{e000}.py".as_bytes().to_vec(),
            Sha256::digest(b"b").into(),
        ),
        (b"z.py".to_vec(), Sha256::digest(b"c").into()),
    ]
    .into_iter()
    .collect();
    let got = canonical("aisoc-plugin.json", br#"{"name": "x"}"#, &files).unwrap();
    assert_eq!(String::from_utf8(got).unwrap(), expected);
}
