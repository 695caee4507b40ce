//! Unit tests of `native`.

use super::*;

fn key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

#[test]
fn message_layout_is_fixed() {
    let fp = Fingerprint::of_raw_key(&[1; 32]);
    let m = signed_message(b"a.py", 5, &[9; 32], "T", &fp);
    assert!(m.starts_with(CONTEXT));
    let rest = &m[CONTEXT.len()..];
    assert_eq!(&rest[..8], &5u64.to_be_bytes());
    assert_eq!(&rest[8..40], &[9u8; 32]);
    assert_eq!(&rest[40..44], &4u32.to_be_bytes());
    assert_eq!(&rest[44..48], b"a.py");
    assert_eq!(&rest[48..52], &1u32.to_be_bytes());
    assert_eq!(&rest[52..53], b"T");
    assert_eq!(&rest[53..], fp.as_bytes());
}

#[test]
fn round_trip_and_cosign() {
    let doc = sign(None, &key(1), "a.py", 3, &[1; 32], "2026-01-01T00:00:00Z");
    let text = to_text(&doc);
    assert!(looks_native(text.as_bytes()));
    let parsed = parse(text.as_bytes());
    assert_eq!(parsed.as_ref(), Ok(&doc));
    let doc2 = sign(
        parsed.ok(),
        &key(2),
        "a.py",
        3,
        &[1; 32],
        "2026-01-02T00:00:00Z",
    );
    assert_eq!(doc2.signatures.len(), 2);
    // Re-signing with the same key replaces its entry.
    let doc3 = sign(
        Some(doc2),
        &key(2),
        "a.py",
        3,
        &[1; 32],
        "2026-01-03T00:00:00Z",
    );
    assert_eq!(doc3.signatures.len(), 2);
    // Signing different content starts over.
    let doc4 = sign(
        Some(doc3),
        &key(3),
        "a.py",
        4,
        &[1; 32],
        "2026-01-03T00:00:00Z",
    );
    assert_eq!(doc4.signatures.len(), 1);
}

#[test]
fn malformed_documents() {
    assert!(matches!(parse(b"not json"), Err(MalformedError::Syntax(_))));
    assert!(matches!(parse(b"{}"), Err(MalformedError::Syntax(_))));
    assert_eq!(
        parse(br#"{"sigward":2,"anything":true}"#),
        Err(MalformedError::Version(2))
    );
    let empty = br#"{"sigward":1,"file":{"name":"a","size":1,"sha256":"00"},"signatures":[]}"#;
    assert_eq!(parse(empty), Err(MalformedError::Empty));
    let bad_hash = br#"{"sigward":1,"file":{"name":"a","size":1,"sha256":"00"},"signatures":[{"algorithm":"ed25519","key":"","signed_at":"","signature":""}]}"#;
    assert_eq!(parse(bad_hash), Err(MalformedError::BadHash));
    let unknown =
        br#"{"sigward":1,"extra":1,"file":{"name":"a","size":1,"sha256":"00"},"signatures":[]}"#;
    assert!(matches!(parse(unknown), Err(MalformedError::Syntax(_))));
}

#[test]
fn entry_decoding_errors() {
    let good = sign(None, &key(1), "a", 1, &[0; 32], "2026-01-01T00:00:00Z").signatures[0].clone();
    assert!(decode_entry(0, &good).is_ok());
    let mut e = good.clone();
    e.algorithm = "rsa".into();
    assert!(matches!(
        decode_entry(0, &e),
        Err(MalformedError::Entry { index: 1, .. })
    ));
    let mut e = good.clone();
    e.key = "abc".into();
    assert!(decode_entry(0, &e).is_err());
    let mut e = good.clone();
    e.signature = "!!".into();
    assert!(decode_entry(0, &e).is_err());
    let mut e = good.clone();
    e.signature = "AAAA".into();
    assert!(decode_entry(0, &e).is_err());
    let mut e = good;
    e.signed_at = String::new();
    assert!(decode_entry(0, &e).is_err());
}
