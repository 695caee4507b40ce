//! Unit tests of native signatures through the format dispatch.

use super::{parse, sign, to_text};
use crate::fingerprint::Fingerprint;
use crate::formats::{self, Evidence, Format, Options};
use crate::trust::{KeyMaterial, KeyOrigin, TrustStore, TrustedKey};
use crate::verify::{Reason, Subject, Verdict};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

const T: &str = "2026-11-21T00:00:00Z";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn store(keys: &[&SigningKey]) -> TrustStore {
    let mut ts = TrustStore::new();
    for k in keys {
        ts.insert(TrustedKey::new(
            KeyMaterial::Ed25519(k.verifying_key()),
            "test",
            1,
            KeyOrigin::Pem,
        ));
    }
    ts
}

fn sig_for(k: &SigningKey, name: &str, content: &[u8]) -> String {
    let h: [u8; 32] = Sha256::digest(content).into();
    to_text(&sign(None, k, name, content.len() as u64, &h, T))
}

fn check(name: &str, content: &[u8], sig: Option<&str>, ts: &TrustStore) -> Verdict {
    let h: [u8; 32] = Sha256::digest(content).into();
    let subject = Subject::new(name.as_bytes(), content.len() as u64, &h);
    let evidence = Evidence {
        sig: sig.map(str::as_bytes),
        ..Evidence::default()
    };
    formats::verify(&subject, &evidence, ts, &Options::default())
}

fn reason(v: &Verdict) -> Option<Reason> {
    v.reason()
}

#[test]
fn verified() {
    let k = key(1);
    let sig = sig_for(&k, "a.py", b"print(1)\n");
    let v = check("a.py", b"print(1)\n", Some(&sig), &store(&[&k]));
    assert_eq!(
        v,
        Verdict::verified(
            Fingerprint::of_ed25519(&k.verifying_key()),
            Format::Native,
            None
        )
        // T = 2026-11-21T00:00:00Z, the signed (authenticated) time.
        .with_signed_at(Some(1_795_219_200))
    );
}

#[test]
fn unsigned_and_malformed() {
    let ts = store(&[&key(1)]);
    assert_eq!(reason(&check("a", b"x", None, &ts)), Some(Reason::Unsigned));
    assert_eq!(
        reason(&check("a", b"x", Some(""), &ts)),
        Some(Reason::Malformed)
    );
    assert_eq!(
        reason(&check("a", b"x", Some("garbage"), &ts)),
        Some(Reason::Malformed)
    );
}

#[test]
fn tampered_content_size_and_name() {
    let k = key(1);
    let ts = store(&[&k]);
    let sig = sig_for(&k, "a.py", b"print(1)\n");
    let v = check("a.py", b"print(2)\n", Some(&sig), &ts);
    assert_eq!(reason(&v), Some(Reason::Tampered));
    assert!(matches!(&v, Verdict::Rejected { detail, .. } if detail.contains("expected sha256")));
    assert_eq!(
        reason(&check("a.py", b"print(1)\nx", Some(&sig), &ts)),
        Some(Reason::Tampered)
    );
    let renamed = check("auth.py", b"print(1)\n", Some(&sig), &ts);
    assert_eq!(reason(&renamed), Some(Reason::Tampered));
    assert!(matches!(&renamed, Verdict::Rejected { detail, .. } if detail.contains("auth.py")));
}

#[test]
fn untrusted() {
    let sig = sig_for(&key(2), "a", b"x");
    let v = check("a", b"x", Some(&sig), &store(&[&key(1)]));
    assert_eq!(reason(&v), Some(Reason::Untrusted));
    assert_eq!(
        v.key(),
        Some(Fingerprint::of_ed25519(&key(2).verifying_key()))
    );
    assert_eq!(
        reason(&check("a", b"x", Some(&sig), &TrustStore::new())),
        Some(Reason::Untrusted)
    );
}

#[test]
fn invalid_signature_and_edited_fields() {
    let k = key(1);
    let ts = store(&[&k]);
    let sig = sig_for(&k, "a", b"x");
    // Flip one bit of the signature bytes.
    let mut doc = parse(sig.as_bytes()).unwrap_or_else(|_| unreachable!());
    let mut raw = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &doc.signatures[0].signature,
    )
    .unwrap_or_default();
    raw[10] ^= 1;
    doc.signatures[0].signature =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &raw);
    assert_eq!(
        reason(&check("a", b"x", Some(&to_text(&doc)), &ts)),
        Some(Reason::Invalid)
    );
    // Editing the signing time breaks the signature too.
    let mut doc = parse(sig.as_bytes()).unwrap_or_else(|_| unreachable!());
    doc.signatures[0].signed_at = "2030-01-01T00:00:00Z".into();
    assert_eq!(
        reason(&check("a", b"x", Some(&to_text(&doc)), &ts)),
        Some(Reason::Invalid)
    );
    // Rewriting the recorded hash to match tampered content: still invalid.
    let mut doc = parse(sig.as_bytes()).unwrap_or_else(|_| unreachable!());
    doc.file.sha256 = hex::encode(Sha256::digest(b"y"));
    assert_eq!(
        reason(&check("a", b"y", Some(&to_text(&doc)), &ts)),
        Some(Reason::Invalid)
    );
}

#[test]
fn any_trusted_cosigner_suffices() {
    let (a, b) = (key(1), key(2));
    let h: [u8; 32] = Sha256::digest(b"x").into();
    let doc = sign(None, &a, "f", 1, &h, T);
    let doc = sign(Some(doc), &b, "f", 1, &h, T);
    let v = check("f", b"x", Some(&to_text(&doc)), &store(&[&b]));
    assert_eq!(v.key(), Some(Fingerprint::of_ed25519(&b.verifying_key())));
    assert!(v.is_verified());
}

#[test]
fn non_canonical_signature_is_rejected_by_verify_strict() {
    // A small-order R component: accepted by lax verifiers, refused by
    // verify_strict.
    let k = key(1);
    let ts = store(&[&k]);
    let sig = sig_for(&k, "a", b"x");
    let mut doc = parse(sig.as_bytes()).unwrap_or_else(|_| unreachable!());
    let mut raw = [0u8; 64];
    raw[0] = 1; // R = identity point encoding
    doc.signatures[0].signature =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw);
    assert_eq!(
        reason(&check("a", b"x", Some(&to_text(&doc)), &ts)),
        Some(Reason::Invalid)
    );
}
