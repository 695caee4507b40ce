//! The texts of [`ParseError`]: each is, character for character, the
//! `String` [`parse`] returned before its errors became an enum (the detail
//! of a refused verdict).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

const SIG: &[u8] = include_bytes!("../../../../tests/vectors/cloacina/libworkflow.so.sig");

#[test]
fn literal_texts() {
    let cases = [
        (
            ParseError::TooLarge { len: 70_000 },
            "Cloacina signature file is 70000 bytes (at most 65536 are read)",
        ),
        (
            ParseError::Version { version: 2 },
            "unsupported Cloacina signature version 2 (expected 1)",
        ),
        (
            ParseError::Algorithm {
                algorithm: "Ed25519".into(),
            },
            "unsupported Cloacina signature algorithm \"Ed25519\" (expected \"ed25519\")",
        ),
        (
            ParseError::PackageHash,
            "package_hash is not 64 hex characters",
        ),
        (
            ParseError::KeyFingerprint,
            "key_fingerprint is not 64 hex characters",
        ),
        (
            ParseError::SignatureBase64(base64::DecodeError::InvalidByte(0, b'!')),
            "signature is not standard base64: Invalid symbol 33, offset 0.",
        ),
        (
            ParseError::SignatureLength { len: 3 },
            "signature is 3 bytes, expected 64",
        ),
    ];
    for (e, want) in cases {
        assert_eq!(e.to_string(), want);
    }
}

#[test]
fn texts_through_parse() {
    let doc: DetachedSignature = serde_json::from_slice(SIG).unwrap();
    let err = |d: DetachedSignature| {
        parse(serde_json::to_string(&d).unwrap().as_bytes())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(DetachedSignature {
            version: 2,
            ..doc.clone()
        }),
        "unsupported Cloacina signature version 2 (expected 1)"
    );
    assert_eq!(
        err(DetachedSignature {
            algorithm: "Ed25519".into(),
            ..doc.clone()
        }),
        "unsupported Cloacina signature algorithm \"Ed25519\" (expected \"ed25519\")"
    );
    assert_eq!(
        err(DetachedSignature {
            package_hash: "00".into(),
            ..doc.clone()
        }),
        "package_hash is not 64 hex characters"
    );
    assert_eq!(
        err(DetachedSignature {
            key_fingerprint: "zz".into(),
            ..doc.clone()
        }),
        "key_fingerprint is not 64 hex characters"
    );
    let b64 = base64::engine::general_purpose::STANDARD
        .decode("!!!!")
        .unwrap_err();
    assert_eq!(
        err(DetachedSignature {
            signature: "!!!!".into(),
            ..doc.clone()
        }),
        format!("signature is not standard base64: {b64}")
    );
    assert_eq!(
        err(DetachedSignature {
            signature: "AAAA".into(),
            ..doc.clone()
        }),
        "signature is 3 bytes, expected 64"
    );
    let json = serde_json::from_slice::<DetachedSignature>(b"{").unwrap_err();
    assert_eq!(
        parse(b"{").unwrap_err().to_string(),
        format!("not a Cloacina signature file: {json}")
    );
    assert_eq!(
        parse(&vec![b' '; MAX_SIG_BYTES + 1])
            .unwrap_err()
            .to_string(),
        "Cloacina signature file is 65537 bytes (at most 65536 are read)"
    );
}
