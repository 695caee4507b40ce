//! The texts of the `sshsig` errors: each is, character for character, the
//! `String` the functions returned before their errors became enums (the
//! detail of a refused verdict, after `not an OpenSSH signature: ` for a
//! [`ParseError`]).

use super::super::error::{CheckError, EntryRefusal};
use super::*;

#[test]
fn armour_texts() {
    let err = |bytes: &[u8]| dearmor(bytes).unwrap_err().to_string();
    assert_eq!(
        err(&[b' '; 70_000]),
        "signature file is 70000 bytes, more than the 65536 an OpenSSH signature can hold"
    );
    assert_eq!(err(b""), "missing -----BEGIN SSH SIGNATURE----- header");
    assert_eq!(
        err(format!("{BEGIN}x").as_bytes()),
        "no line end after the header"
    );
    assert_eq!(
        err(format!("{BEGIN}\nAAAA\n").as_bytes()),
        "missing -----END SSH SIGNATURE----- footer"
    );
    assert_eq!(
        err(format!("{BEGIN}\n!!!!\n{END}\n").as_bytes()),
        "signature body is not base64: Invalid symbol 33, offset 0."
    );
    // `parse` shows the armour's errors as they are.
    assert_eq!(
        parse(b"").unwrap_err().to_string(),
        "missing -----BEGIN SSH SIGNATURE----- header"
    );
}

/// Alice's blob with the key, namespace and hash algorithm replaced.
fn blob_with(key: &[u8], namespace: &[u8], hash: &[u8]) -> Vec<u8> {
    let sig = parse(ALICE).unwrap();
    let mut b = b"SSHSIG".to_vec();
    b.extend_from_slice(&1u32.to_be_bytes());
    put_string(&mut b, key);
    put_string(&mut b, namespace);
    put_string(&mut b, b"");
    put_string(&mut b, hash);
    put_string(&mut b, &sig.signature);
    b
}

#[test]
fn blob_texts() {
    let err = |blob: &[u8]| parse_blob(blob).unwrap_err().to_string();
    let blob = dearmor(ALICE).unwrap();
    let key = PublicKey::from_openssh(ALICE_PUB)
        .unwrap()
        .to_bytes()
        .unwrap();
    assert_eq!(err(&blob[..12]), "truncated");
    let mut b = blob.clone();
    b[0] = b'X';
    assert_eq!(err(&b), "missing SSHSIG magic");
    let mut b = blob.clone();
    b[9] = 2;
    assert_eq!(
        err(&b),
        "signature version 2 is newer than the supported version 1"
    );
    let mut b = blob.clone();
    b.push(0);
    assert_eq!(err(&b), "signature contains trailing data");
    assert_eq!(
        err(&blob_with(&key, b"fi\0le", b"sha512")),
        "namespace contains a NUL byte"
    );
    assert_eq!(
        err(&blob_with(&key, b"file", b"sha\xff")),
        "hash algorithm is not UTF-8"
    );
    assert_eq!(
        err(&blob_with(&key, b"file", b"sha1")),
        "unsupported hash algorithm \"sha1\" (OpenSSH allows sha256 and sha512)"
    );
    assert_eq!(
        err(&blob_with(
            b"\0\0\0\x0bssh-ed25519\0\0\0\x03abc",
            b"file",
            b"sha512"
        )),
        "public key (ssh-ed25519) is invalid: length invalid"
    );
    assert_eq!(
        ParseError::KeyAlgorithmMismatch {
            algorithm: "ssh-rsa".into()
        }
        .to_string(),
        "public key algorithm \"ssh-rsa\" does not match its key data"
    );
    assert_eq!(
        ParseError::NonCanonicalKey {
            algorithm: "ssh-ed25519".into()
        }
        .to_string(),
        "public key (ssh-ed25519) is not canonically encoded"
    );
}

#[test]
fn check_texts() {
    let cases = [
        (
            CheckError::Wire(WireError::NotUtf8 {
                field: "signature algorithm",
            }),
            "signature algorithm is not UTF-8",
        ),
        (CheckError::TrailingData, "signature blob has trailing data"),
        (
            CheckError::AlgorithmMismatch {
                algorithm: "rsa-sha2-512".into(),
                key_type: "ssh-ed25519",
            },
            "signature algorithm rsa-sha2-512 does not match an ssh-ed25519 key",
        ),
        (
            CheckError::AlgorithmMismatch {
                algorithm: "ssh-ed25519".into(),
                key_type: "sk-ssh-ed25519",
            },
            "signature algorithm ssh-ed25519 does not match an sk-ssh-ed25519 key",
        ),
        (CheckError::InvalidEd25519Key, "invalid Ed25519 key"),
        (CheckError::Ed25519Length, "Ed25519 signature is not 64 bytes"),
        (CheckError::DoesNotVerify, "signature does not verify"),
        (
            CheckError::RefusedRsaAlgorithm {
                algorithm: "ssh-rsa".into(),
            },
            "RSA signature algorithm ssh-rsa is refused (OpenSSH accepts only rsa-sha2-512 and rsa-sha2-256)",
        ),
        (
            CheckError::InvalidBlob(ssh_key::Error::FormatEncoding),
            "signature blob is invalid: format encoding error",
        ),
        (
            CheckError::UnsupportedKey {
                algorithm: "ssh-dss".into(),
            },
            "ssh-dss keys are not supported",
        ),
        (
            CheckError::MissingSha512,
            "internal: SHA-512 of the file was not computed",
        ),
    ];
    for (e, want) in cases {
        assert_eq!(e.to_string(), want);
    }
}

#[test]
fn entry_refusal_texts() {
    let ns = EntryRefusal::Namespace {
        namespace: "file".into(),
        patterns: vec!["git".into(), "!file".into()],
    };
    assert_eq!(
        ns.to_string(),
        "is not permitted for signature namespace \"file\" (namespaces=\"git,!file\")"
    );
    assert_eq!(ns.reason(), Reason::Untrusted);
    let early = EntryRefusal::NotYetValid {
        valid_after: 4_070_952_000,
    };
    assert_eq!(
        early.to_string(),
        "is not yet valid: valid-after 2099-01-01T12:00:00Z is later than the verification time"
    );
    assert_eq!(early.reason(), Reason::Expired);
    let late = EntryRefusal::Expired {
        valid_before: 1_577_836_800,
    };
    assert_eq!(
        late.to_string(),
        "has expired: valid-before 2020-01-01T00:00:00Z has passed"
    );
    assert_eq!(late.reason(), Reason::Expired);
}
