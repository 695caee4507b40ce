//! The texts of [`ParseError`]: each is, character for character, the
//! `String` the functions returned before their errors became an enum (the
//! detail of a refused verdict, which operators' alert rules read).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

#[test]
fn signature_texts() {
    assert_eq!(
        ParseError::SignatureLength { len: 7 }.to_string(),
        "a Notur signature is 128 hex characters, this one has 7 non-blank bytes"
    );
    assert_eq!(
        ParseError::SignatureHex(hex::FromHexError::InvalidHexCharacter { c: 'z', index: 0 })
            .to_string(),
        "signature is not hex: Invalid character 'z' at position 0"
    );
    // Through the function, against the old `format!` of the hex error.
    let hex_err = hex::decode_to_slice([b'z'; 128], &mut [0u8; 64]).unwrap_err();
    assert_eq!(
        parse_signature(&[b'z'; 128]).unwrap_err().to_string(),
        format!("signature is not hex: {hex_err}")
    );
    assert_eq!(
        parse_signature(b"  abc \n").unwrap_err().to_string(),
        "a Notur signature is 128 hex characters, this one has 3 non-blank bytes"
    );
}

#[test]
fn key_texts() {
    assert_eq!(
        ParseError::SecretKeyLength { len: 126 }.to_string(),
        "a Notur secret key is 128 hex characters, this one has 126"
    );
    assert_eq!(
        ParseError::SecretKeyHex(hex::FromHexError::InvalidHexCharacter { c: 'z', index: 126 })
            .to_string(),
        "secret key is not hex: Invalid character 'z' at position 126"
    );
    assert_eq!(
        ParseError::SecretKeyMismatch.to_string(),
        "the public half of the secret key does not belong to its seed"
    );
    let bad = format!("{}zz", "0".repeat(126));
    let hex_err = hex::decode_to_slice(&bad, &mut [0u8; 64]).unwrap_err();
    assert_eq!(
        parse_secret_key_hex(&bad).unwrap_err().to_string(),
        format!("secret key is not hex: {hex_err}")
    );
    assert_eq!(
        parse_secret_key_hex(" 00 ").unwrap_err().to_string(),
        "a Notur secret key is 128 hex characters, this one has 2"
    );
    let seed = SigningKey::from_bytes(&[1; 32]);
    let other = SigningKey::from_bytes(&[2; 32]);
    let mixed = format!(
        "{}{}",
        hex::encode(seed.to_bytes()),
        hex::encode(other.verifying_key().to_bytes())
    );
    assert_eq!(
        parse_secret_key_hex(&mixed).unwrap_err().to_string(),
        "the public half of the secret key does not belong to its seed"
    );

    // Public keys: the hex and the curve errors, as they display.
    assert_eq!(
        ParseError::PublicKeyHex(hex::FromHexError::OddLength).to_string(),
        "Odd number of digits"
    );
    assert_eq!(
        parse_hex_key(b"00").unwrap_err().to_string(),
        hex::decode_to_slice(b"00", &mut [0u8; 32])
            .unwrap_err()
            .to_string()
    );
    let (raw, want) = (0u8..=255)
        .find_map(|k| {
            let raw = [k; 32];
            VerifyingKey::from_bytes(&raw)
                .err()
                .map(|e| (raw, e.to_string()))
        })
        .unwrap();
    assert_eq!(
        parse_hex_key(hex::encode(raw).as_bytes())
            .unwrap_err()
            .to_string(),
        want
    );
    assert_eq!(
        ParseError::PublicKeyPoint(VerifyingKey::from_bytes(&raw).unwrap_err()).to_string(),
        want
    );
}

#[test]
fn checksum_file_texts() {
    let cases = [
        (
            ParseError::ChecksumFileTooLarge { len: 70_000 },
            "70000 bytes, more than the 65536 read",
        ),
        (ParseError::TooManyChecksumLines, "more than 1024 lines"),
        (ParseError::NoChecksumLine, "no checksum line"),
        (
            ParseError::TagLineSyntax { line: 2 },
            "line 2: expected \"SHA256 (NAME) = HEX\"",
        ),
        (
            ParseError::TagLineChecksum { line: 3 },
            "line 3: the checksum is not 64 hex characters",
        ),
        (
            ParseError::LineTooShort { line: 4 },
            "line 4: the line is shorter than a SHA-256 checksum",
        ),
        (
            ParseError::ChecksumNotHex { line: 5 },
            "line 5: the line does not start with 64 hex characters (a SHA-256 checksum)",
        ),
        (
            ParseError::Separator { line: 6 },
            "line 6: expected two spaces (or \" *\") between the checksum and the file name",
        ),
        (
            ParseError::NoFileName { line: 7 },
            "line 7: no file name after the checksum",
        ),
        (
            ParseError::BadEscape { line: 8 },
            "line 8: invalid backslash escape in the file name",
        ),
    ];
    for (e, want) in cases {
        assert_eq!(e.to_string(), want);
    }
    // Through the function: lines are counted with comments and blanks.
    let h = "ab".repeat(32);
    let through = [
        (
            format!("# c\n\nSHA256 (x) - {h}\n"),
            "line 3: expected \"SHA256 (NAME) = HEX\"",
        ),
        (
            format!("SHA256 (x) = {}\n", &h[..10]),
            "line 1: the checksum is not 64 hex characters",
        ),
        (
            "x\n".to_string(),
            "line 1: the line is shorter than a SHA-256 checksum",
        ),
        (
            format!("{}zz  x\n", &h[..62]),
            "line 1: the line does not start with 64 hex characters (a SHA-256 checksum)",
        ),
        (
            format!("{h} x\n"),
            "line 1: expected two spaces (or \" *\") between the checksum and the file name",
        ),
        (
            format!("{h}  \n"),
            "line 1: no file name after the checksum",
        ),
        (
            format!("{h}  a\n\\{h}  a\\qb\n"),
            "line 2: invalid backslash escape in the file name",
        ),
        ("\n# only\n".to_string(), "no checksum line"),
    ];
    for (text, want) in through {
        assert_eq!(
            parse_sha256sum(text.as_bytes()).unwrap_err().to_string(),
            want,
            "{text:?}"
        );
    }
    assert_eq!(
        parse_sha256sum(&vec![b'#'; MAX_SHA256SUM_BYTES + 1])
            .unwrap_err()
            .to_string(),
        "65537 bytes, more than the 65536 read"
    );
}
