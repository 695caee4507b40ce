//! The texts of [`ParseError`]: each is, character for character, the
//! `String` the parsers returned before their errors became an enum (after
//! `not a minisign signature: ` in the detail of a refused verdict, or as
//! the message of a key file's line).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

const SIG: &str = include_str!("../../../../tests/vectors/minisign/payload.txt.minisig");
const PUB: &str = include_str!("../../../../tests/vectors/minisign/trusted.pub");

#[test]
fn literal_texts() {
    let cases = [
        (
            ParseError::TooLarge { len: 16_385 },
            "signature file is 16385 bytes, more than the 16384 a minisign signature can hold",
        ),
        (
            ParseError::Truncated {
                missing: "global signature",
            },
            "truncated: global signature line missing",
        ),
        (
            ParseError::UntrustedPrefix,
            "first line does not start with \"untrusted comment: \"",
        ),
        (
            ParseError::UntrustedLine,
            "untrusted comment line is too long or contains a carriage return",
        ),
        (
            ParseError::Length {
                what: "global signature line",
                len: 3,
                expected: 64,
            },
            "global signature line is 3 bytes, expected 64",
        ),
        (
            ParseError::SignatureAlgorithm { algorithm: *b"XX" },
            "unsupported signature algorithm \"XX\" (expected \"ED\" or legacy \"Ed\")",
        ),
        (
            ParseError::TrustedPrefix,
            "third line does not start with \"trusted comment: \"",
        ),
        (
            ParseError::TrustedLine,
            "trusted comment is too long or contains a carriage return",
        ),
        (
            ParseError::Unprintable,
            "trusted comment contains unprintable characters",
        ),
        (
            ParseError::KeyAlgorithm { algorithm: *b"ED" },
            "unsupported public key algorithm \"ED\" (minisign keys are \"Ed\")",
        ),
        (
            ParseError::InvalidPoint,
            "the public key is not a valid Ed25519 point",
        ),
        (
            ParseError::Internal {
                what: "key id length",
            },
            "internal: key id length",
        ),
    ];
    for (e, want) in cases {
        assert_eq!(e.to_string(), want);
    }
    // Algorithm bytes that are not UTF-8 show as `String::from_utf8_lossy`.
    assert_eq!(
        ParseError::SignatureAlgorithm {
            algorithm: [0xff, b'D']
        }
        .to_string(),
        format!(
            "unsupported signature algorithm {:?} (expected \"ED\" or legacy \"Ed\")",
            String::from_utf8_lossy(&[0xff, b'D'])
        )
    );
}

#[test]
fn texts_through_the_parsers() {
    let err = |text: &str| parse_signature(text.as_bytes()).unwrap_err().to_string();
    let lines: Vec<&str> = SIG.lines().collect();
    assert_eq!(
        err(&format!("{}\n", lines[0])),
        "truncated: signature line missing"
    );
    assert_eq!(
        err("hello\n"),
        "first line does not start with \"untrusted comment: \""
    );
    assert_eq!(
        err(&SIG.replacen('\n', "\r\r\n", 1)),
        "untrusted comment line is too long or contains a carriage return"
    );
    let b64 = base64::engine::general_purpose::STANDARD
        .decode("!!")
        .unwrap_err();
    assert_eq!(
        err(&format!("{}\n!!\n", lines[0])),
        format!("signature line is not base64: {b64}")
    );
    assert_eq!(
        err(&format!("{}\n{}\n{}\nAAAA\n", lines[0], lines[1], lines[2])),
        "global signature line is 3 bytes, expected 64"
    );
    let mut blob = base64::engine::general_purpose::STANDARD
        .decode(lines[1])
        .unwrap();
    blob[..2].copy_from_slice(b"XX");
    let xx = base64::engine::general_purpose::STANDARD.encode(&blob);
    assert_eq!(
        err(&format!("{}\n{xx}\n", lines[0])),
        "unsupported signature algorithm \"XX\" (expected \"ED\" or legacy \"Ed\")"
    );
    assert_eq!(
        err(&format!("{}\n{}\nx\n", lines[0], lines[1])),
        "third line does not start with \"trusted comment: \""
    );
    assert_eq!(
        err(&SIG.replacen("\ntrusted comment: ", "\ntrusted comment: \u{1}", 1)),
        "trusted comment contains unprintable characters"
    );
    assert_eq!(
        err(&"x".repeat(MAX_SIGNATURE_FILE + 1)),
        "signature file is 16385 bytes, more than the 16384 a minisign signature can hold"
    );

    // Key lines: the message of the key file's error.
    let key_lines: Vec<&str> = PUB.lines().collect();
    let mut key = base64::engine::general_purpose::STANDARD
        .decode(key_lines[1])
        .unwrap();
    key[..2].copy_from_slice(b"ED");
    let ed = base64::engine::general_purpose::STANDARD.encode(&key);
    assert_eq!(
        parse_key_line(ed.as_bytes()).unwrap_err().to_string(),
        "unsupported public key algorithm \"ED\" (minisign keys are \"Ed\")"
    );
    assert_eq!(
        parse_key_line(b"AAAA").unwrap_err().to_string(),
        "public key is 3 bytes, expected 42"
    );
}
