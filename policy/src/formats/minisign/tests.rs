//! Unit tests of `minisign`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::formats;
use blake2::{Blake2b512, Digest as _};
use ed25519_dalek::{Signer as _, SigningKey};
use sha2::Sha256;

const TRUSTED_PUB: &[u8] = include_bytes!("../../../../tests/vectors/minisign/trusted.pub");
const STRANGER_PUB: &[u8] = include_bytes!("../../../../tests/vectors/minisign/stranger.pub");
const PAYLOAD: &[u8] = include_bytes!("../../../../tests/vectors/minisign/payload.txt");
const PAYLOAD_TAMPERED: &[u8] =
    include_bytes!("../../../../tests/vectors/minisign/payload_tampered.txt");
const SIG: &[u8] = include_bytes!("../../../../tests/vectors/minisign/payload.txt.minisig");
const SIG_DEFAULT: &[u8] =
    include_bytes!("../../../../tests/vectors/minisign/payload.txt.default-comment.minisig");
const SIG_LEGACY: &[u8] =
    include_bytes!("../../../../tests/vectors/minisign/payload.txt.legacy.minisig");
const SIG_STRANGER: &[u8] =
    include_bytes!("../../../../tests/vectors/minisign/payload.txt.stranger.minisig");
const SIG_FORGED: &[u8] =
    include_bytes!("../../../../tests/vectors/minisign/payload.txt.forged-comment.minisig");

fn store() -> TrustStore {
    let mut ts = TrustStore::new();
    let report = ts.add_file("trusted.pub", TRUSTED_PUB).unwrap();
    assert_eq!(report.added, 1);
    ts
}

fn opts(legacy: bool) -> Options {
    Options {
        minisign_legacy: legacy,
        now: 1_767_225_600,
        ..Options::default()
    }
}

/// Verifies through the dispatcher, computing what `needs` asks for the
/// way the caller does.
fn check(content: &[u8], minisig: &[u8], ts: &TrustStore, opts: &Options) -> Verdict {
    let evidence = Evidence {
        minisig: Some(minisig),
        ..Evidence::default()
    };
    let n = formats::needs(&evidence, opts);
    let sha256: [u8; 32] = Sha256::digest(content).into();
    let b2: [u8; 64] = Blake2b512::digest(content).into();
    let mut subject = Subject::new(b"payload.txt", content.len() as u64, &sha256);
    if n.blake2b512 {
        subject.blake2b512 = Some(&b2);
    }
    if n.content {
        subject.content = Some(content);
    }
    formats::verify(&subject, &evidence, ts, opts)
}

fn trusted_fp(ts: &TrustStore) -> Fingerprint {
    ts.iter().next().unwrap().fingerprint
}

fn detail(v: &Verdict) -> String {
    match v {
        Verdict::Rejected { detail, .. } => detail.clone(),
        Verdict::Verified { .. } | Verdict::Listed { .. } => String::new(),
    }
}

#[test]
fn key_file_loads_with_label_and_key_id() {
    let ts = store();
    let key = ts.iter().next().unwrap();
    let label = key.label.clone().unwrap();
    assert!(label.starts_with("minisign public key "), "{label}");
    let KeyOrigin::Minisign { key_id } = key.origin else {
        panic!("origin {:?}", key.origin)
    };
    // minisign's own display of the key id is in the comment it wrote.
    assert_eq!(
        label,
        format!("minisign public key {}", key_id_hex(&key_id))
    );
    assert_eq!(key.block, 2);
    assert!(key.ed25519().is_some());
}

#[test]
fn key_id_display_matches_minisign() {
    assert_eq!(
        key_id_hex(&[0x32, 0x3a, 0xb7, 0x00, 0x04, 0x24, 0x41, 0x3c]),
        "3C41240400B73A32"
    );
    assert_eq!(key_id_hex(&[1, 0, 0, 0, 0, 0, 0, 0]), "0000000000000001");
}

#[test]
fn bare_key_line_and_errors() {
    let text = std::str::from_utf8(TRUSTED_PUB).unwrap();
    let bare = text.lines().nth(1).unwrap();
    let (keys, warnings) = parse_public_key_file("bare", bare.as_bytes()).unwrap();
    assert_eq!(keys.len(), 1);
    assert!(warnings.is_empty());
    assert_eq!(keys[0].label, None);
    assert_eq!(
        keys[0].fingerprint,
        store().iter().next().unwrap().fingerprint
    );
    // Two keys in one file.
    let both = [TRUSTED_PUB, STRANGER_PUB].concat();
    assert_eq!(parse_public_key_file("both", &both).unwrap().0.len(), 2);
    // Broken files.
    assert!(matches!(
        parse_public_key_file("x", b"untrusted comment: x\n"),
        Err(KeyFileError::Line { line: 1, .. })
    ));
    assert!(matches!(
        parse_public_key_file("x", b"untrusted comment: x\nnot base64!\n"),
        Err(KeyFileError::Line { line: 2, .. })
    ));
    assert!(matches!(
        parse_public_key_file("x", b"untrusted comment: x\nRWQ=\n"),
        Err(KeyFileError::Line { line: 2, .. })
    ));
    assert!(matches!(
        parse_public_key_file("x", b"\n\n"),
        Err(KeyFileError::NoUsableKey(_))
    ));
    // A signature line ("ED" algorithm, 74 bytes) is not a key.
    let sig_line = std::str::from_utf8(SIG).unwrap().lines().nth(1).unwrap();
    assert!(parse_public_key_file("x", sig_line.as_bytes()).is_err());
    // A key with algorithm "ED" is refused (minisign only writes "Ed").
    let mut blob = base64::engine::general_purpose::STANDARD
        .decode(bare)
        .unwrap();
    blob[1] = b'D';
    let b = base64::engine::general_purpose::STANDARD.encode(&blob);
    assert!(parse_public_key_file("x", b.as_bytes()).is_err());
}

#[test]
fn prehashed_vector_verifies_with_trusted_comment_as_signer() {
    let ts = store();
    let v = check(PAYLOAD, SIG, &ts, &opts(false));
    assert_eq!(
        v,
        Verdict::verified(
            trusted_fp(&ts),
            Format::Minisign,
            Some("signed by the sigward release key".into())
        )
    );
    let v = check(PAYLOAD, SIG_DEFAULT, &ts, &opts(false));
    let Verdict::Verified {
        signer: Some(s), ..
    } = &v
    else {
        panic!("{v:?}")
    };
    assert!(
        s.starts_with("timestamp:") && s.ends_with("\tfile:payload.txt\thashed"),
        "{s}"
    );
}

#[test]
fn needs_follow_the_algorithm() {
    assert_eq!(
        needs(SIG, &opts(false)),
        Needs {
            blake2b512: true,
            ..Needs::default()
        }
    );
    assert_eq!(needs(SIG_LEGACY, &opts(false)), Needs::default());
    assert_eq!(
        needs(SIG_LEGACY, &opts(true)),
        Needs {
            content: true,
            ..Needs::default()
        }
    );
    assert_eq!(needs(b"garbage", &opts(true)), Needs::default());
}

#[test]
fn the_minisign_verify_crate_agrees_on_the_vectors() {
    let pk = minisign_verify::PublicKey::decode(std::str::from_utf8(TRUSTED_PUB).unwrap()).unwrap();
    let sig = minisign_verify::Signature::decode(std::str::from_utf8(SIG).unwrap()).unwrap();
    assert!(pk.verify(PAYLOAD, &sig, false).is_ok());
    assert!(pk.verify(PAYLOAD_TAMPERED, &sig, false).is_err());
    let legacy =
        minisign_verify::Signature::decode(std::str::from_utf8(SIG_LEGACY).unwrap()).unwrap();
    assert!(pk.verify(PAYLOAD, &legacy, true).is_ok());
}

#[test]
fn legacy_vector_needs_the_policy() {
    let ts = store();
    let refused = check(PAYLOAD, SIG_LEGACY, &ts, &opts(false));
    assert_eq!(refused.reason(), Some(Reason::Malformed));
    assert_eq!(
        detail(&refused),
        "legacy (non-prehashed) minisign signatures are refused by the policy (minisign_legacy = false)"
    );
    let v = check(PAYLOAD, SIG_LEGACY, &ts, &opts(true));
    assert_eq!(
        v,
        Verdict::verified(
            trusted_fp(&ts),
            Format::Minisign,
            Some("legacy signature".into())
        )
    );
    let tampered = check(PAYLOAD_TAMPERED, SIG_LEGACY, &ts, &opts(true));
    assert_eq!(tampered.reason(), Some(Reason::Invalid));
}

#[test]
fn tampered_file_is_invalid() {
    let ts = store();
    let v = check(PAYLOAD_TAMPERED, SIG, &ts, &opts(false));
    assert_eq!(v.reason(), Some(Reason::Invalid));
    assert_eq!(v.key(), Some(trusted_fp(&ts)));
    assert_eq!(v.format(), Some(Format::Minisign));
    assert!(
        detail(&v).contains("changed since it was signed"),
        "{}",
        detail(&v)
    );
    // What the signature claims is kept for the audit record, marked as
    // unverified.
    let claimed = v.signer().unwrap_or_default();
    assert!(claimed.ends_with(" (unverified)"), "{claimed}");
    assert!(!claimed.starts_with(" (unverified)"), "{claimed}");
}

#[test]
fn forged_trusted_comment_is_invalid() {
    let ts = store();
    let v = check(PAYLOAD, SIG_FORGED, &ts, &opts(false));
    assert_eq!(v.reason(), Some(Reason::Invalid));
    assert!(detail(&v).contains("trusted comment"), "{}", detail(&v));
}

#[test]
fn flipped_signature_byte_is_invalid() {
    let ts = store();
    let text = std::str::from_utf8(SIG).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut blob = base64::engine::general_purpose::STANDARD
        .decode(lines[1])
        .unwrap();
    blob[40] ^= 1;
    let edited = format!(
        "{}\n{}\n{}\n{}\n",
        lines[0],
        base64::engine::general_purpose::STANDARD.encode(&blob),
        lines[2],
        lines[3]
    );
    assert_eq!(
        check(PAYLOAD, edited.as_bytes(), &ts, &opts(false)).reason(),
        Some(Reason::Invalid)
    );
    // Flipping the global signature instead.
    let mut global = base64::engine::general_purpose::STANDARD
        .decode(lines[3])
        .unwrap();
    global[5] ^= 0x80;
    let edited = format!(
        "{}\n{}\n{}\n{}\n",
        lines[0],
        lines[1],
        lines[2],
        base64::engine::general_purpose::STANDARD.encode(&global)
    );
    assert_eq!(
        check(PAYLOAD, edited.as_bytes(), &ts, &opts(false)).reason(),
        Some(Reason::Invalid)
    );
    // Switching ED to Ed makes it a (legacy) signature of the content.
    let mut blob = base64::engine::general_purpose::STANDARD
        .decode(lines[1])
        .unwrap();
    blob[1] = b'd';
    let edited = format!(
        "{}\n{}\n{}\n{}\n",
        lines[0],
        base64::engine::general_purpose::STANDARD.encode(&blob),
        lines[2],
        lines[3]
    );
    assert_eq!(
        check(PAYLOAD, edited.as_bytes(), &ts, &opts(true)).reason(),
        Some(Reason::Invalid)
    );
}

#[test]
fn stranger_key_is_untrusted_with_minisign_key_id() {
    let ts = store();
    let v = check(PAYLOAD, SIG_STRANGER, &ts, &opts(false));
    assert_eq!(v.reason(), Some(Reason::Untrusted));
    let stranger_id = std::str::from_utf8(STRANGER_PUB)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(
        detail(&v).contains(&stranger_id),
        "{} / {stranger_id}",
        detail(&v)
    );
    // Trusting the stranger makes it verify.
    let mut ts2 = store();
    ts2.add_file("stranger.pub", STRANGER_PUB).unwrap();
    assert!(check(PAYLOAD, SIG_STRANGER, &ts2, &opts(false)).is_verified());
    // The same Ed25519 key trusted from another kind of source is not
    // enough: minisign signatures name minisign keys by key id.
    let empty = TrustStore::new();
    assert_eq!(
        check(PAYLOAD, SIG, &empty, &opts(false)).reason(),
        Some(Reason::Untrusted)
    );
}

#[test]
fn revoked_key() {
    let mut ts = store();
    let fp = trusted_fp(&ts);
    ts.revoke(fp);
    let v = check(PAYLOAD, SIG, &ts, &opts(false));
    assert_eq!(v.reason(), Some(Reason::Revoked));
    assert_eq!(v.key(), Some(fp));
}

#[test]
fn truncated_and_garbage_signature_files() {
    let ts = store();
    for cut in [0, 10, 60, 150, 200, SIG.len() - 5] {
        let v = check(PAYLOAD, &SIG[..cut], &ts, &opts(false));
        assert!(
            matches!(v.reason(), Some(Reason::Malformed)),
            "cut at {cut}: {v:?}"
        );
    }
    assert_eq!(
        check(PAYLOAD, b"hello world", &ts, &opts(false)).reason(),
        Some(Reason::Malformed)
    );
    let huge = vec![b'A'; MAX_SIGNATURE_FILE + 1];
    assert_eq!(
        check(PAYLOAD, &huge, &ts, &opts(false)).reason(),
        Some(Reason::Malformed)
    );
    let mut long = b"untrusted comment: ".to_vec();
    long.extend_from_slice(&[b'x'; 5000]);
    long.extend_from_slice(&SIG[SIG.iter().position(|&b| b == b'\n').unwrap()..]);
    assert_eq!(
        check(PAYLOAD, &long, &ts, &opts(false)).reason(),
        Some(Reason::Malformed)
    );
    // Unprintable trusted comment, unknown algorithm, stray CR.
    let text = std::str::from_utf8(SIG).unwrap();
    let ctl = text.replace("release key", "release\u{1}key");
    assert!(parse_signature(ctl.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("unprintable"));
    let cr = text.replace("release key", "release\rkey");
    assert!(parse_signature(cr.as_bytes()).is_err());
    let lines: Vec<&str> = text.lines().collect();
    let mut blob = base64::engine::general_purpose::STANDARD
        .decode(lines[1])
        .unwrap();
    blob[0] = b'X';
    let alg = format!(
        "{}\n{}\n{}\n{}\n",
        lines[0],
        base64::engine::general_purpose::STANDARD.encode(&blob),
        lines[2],
        lines[3]
    );
    assert!(parse_signature(alg.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("algorithm"));
    // CRLF line ends are read as minisign reads them.
    let crlf = text.replace('\n', "\r\n");
    assert!(check(PAYLOAD, crlf.as_bytes(), &ts, &opts(false)).is_verified());
}

#[test]
fn mutated_inputs_never_panic() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let ts = store();
    for _ in 0..3000 {
        for base in [TRUSTED_PUB, SIG, SIG_LEGACY] {
            let mut m = base.to_vec();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % m.len();
                match next() % 3 {
                    0 => m[i] = next() as u8,
                    1 => m.truncate(i),
                    _ => m.insert(i, next() as u8),
                }
                if m.is_empty() {
                    break;
                }
            }
            let _ = parse_public_key_file("fuzz", &m);
            let v = check(PAYLOAD, &m, &ts, &opts(true));
            if v.is_verified() {
                // Only changes minisign also ignores can keep it valid.
                assert!(parse_signature(&m).is_ok());
            }
        }
    }
}

#[test]
fn sniffing() {
    assert_eq!(sniff(SIG), Sniff::Yes);
    assert_eq!(sniff(b"-----BEGIN SSH SIGNATURE-----"), Sniff::No);
    assert_eq!(sniff(b""), Sniff::No);
}

#[test]
fn missing_digest_is_an_internal_failure_not_a_pass() {
    let ts = store();
    let sha256: [u8; 32] = Sha256::digest(PAYLOAD).into();
    let subject = Subject::new(b"payload.txt", PAYLOAD.len() as u64, &sha256);
    let v = verify(&subject, SIG, &Evidence::default(), &ts, &opts(false));
    assert_eq!(v.reason(), Some(Reason::Invalid));
    assert!(detail(&v).starts_with("internal:"));
}

#[test]
fn signatures_made_here_follow_the_same_rules() {
    // A key with a chosen id, signing the way minisign does.
    let sk = SigningKey::from_bytes(&[9; 32]);
    let key_id = [1, 2, 3, 4, 5, 6, 7, 8];
    let mut pk_blob = b"Ed".to_vec();
    pk_blob.extend_from_slice(&key_id);
    pk_blob.extend_from_slice(sk.verifying_key().as_bytes());
    let pub_file = format!(
        "untrusted comment: test key\n{}\n",
        base64::engine::general_purpose::STANDARD.encode(&pk_blob)
    );
    let mut ts = TrustStore::new();
    ts.add_file("t.pub", pub_file.as_bytes()).unwrap();
    let content = b"content";
    let digest = Blake2b512::digest(content);
    let sig = sk.sign(&digest).to_bytes();
    let comment = "timestamp:1\tfile:x";
    let global = sk.sign(&[&sig[..], comment.as_bytes()].concat()).to_bytes();
    let mut blob = b"ED".to_vec();
    blob.extend_from_slice(&key_id);
    blob.extend_from_slice(&sig);
    let file = format!(
        "untrusted comment: x\n{}\ntrusted comment: {comment}\n{}",
        base64::engine::general_purpose::STANDARD.encode(&blob),
        base64::engine::general_purpose::STANDARD.encode(global)
    );
    let v = check(content, file.as_bytes(), &ts, &opts(false));
    assert!(v.is_verified(), "{v:?}");
    assert_eq!(key_id_hex(&key_id), "0807060504030201");
    let other = check(b"Content", file.as_bytes(), &ts, &opts(false));
    assert_eq!(other.reason(), Some(Reason::Invalid));
}
