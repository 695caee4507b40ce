//! The texts of [`ParseError`]: each is, character for character, the
//! `String` [`parse`] returned before its errors became an enum (the detail
//! of a refused verdict).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

const SIG: &[u8] = include_bytes!("../../../../tests/vectors/conductor/plugin.wasm.sig");

#[test]
fn literal_texts() {
    let cases = [
        (
            ParseError::TooLarge { len: 70_000 },
            "Conductor signature file is 70000 bytes (at most 65536 are read)",
        ),
        (
            ParseError::Version { version: 2 },
            "unsupported Conductor signature version 2 (expected 1)",
        ),
        (
            ParseError::Algorithm {
                algorithm: "RSA \"x\"".into(),
            },
            "unsupported Conductor signature algorithm \"RSA \\\"x\\\"\" (expected \"Ed25519\")",
        ),
        (
            ParseError::PluginHash,
            "plugin_hash is not 64 hex characters",
        ),
        (
            ParseError::PublicKey(crate::formats::notur::ParseError::PublicKeyHex(
                hex::FromHexError::OddLength,
            )),
            "public_key is not a 64-hex-character Ed25519 key: Odd number of digits",
        ),
        (ParseError::Signature, "signature is not 128 hex characters"),
    ];
    for (e, want) in cases {
        assert_eq!(e.to_string(), want);
    }
}

#[test]
fn texts_through_parse() {
    let doc: SignatureFile = serde_json::from_slice(SIG).unwrap();
    let err = |d: SignatureFile| {
        parse(serde_json::to_string(&d).unwrap().as_bytes())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(SignatureFile {
            version: 7,
            ..doc.clone()
        }),
        "unsupported Conductor signature version 7 (expected 1)"
    );
    assert_eq!(
        err(SignatureFile {
            algorithm: "ed25519".into(),
            ..doc.clone()
        }),
        "unsupported Conductor signature algorithm \"ed25519\" (expected \"Ed25519\")"
    );
    assert_eq!(
        err(SignatureFile {
            plugin_hash: "00".into(),
            ..doc.clone()
        }),
        "plugin_hash is not 64 hex characters"
    );
    assert_eq!(
        err(SignatureFile {
            public_key: "0".into(),
            ..doc.clone()
        }),
        "public_key is not a 64-hex-character Ed25519 key: Odd number of digits"
    );
    assert_eq!(
        err(SignatureFile {
            signature: "zz".into(),
            ..doc.clone()
        }),
        "signature is not 128 hex characters"
    );
    let json = serde_json::from_slice::<SignatureFile>(b"{").unwrap_err();
    assert_eq!(
        parse(b"{").unwrap_err().to_string(),
        format!("not a Conductor signature file: {json}")
    );
    assert_eq!(
        parse(&vec![b' '; MAX_SIG_BYTES + 1])
            .unwrap_err()
            .to_string(),
        "Conductor signature file is 65537 bytes (at most 65536 are read)"
    );
}
