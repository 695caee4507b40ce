//! Unit tests of `notur`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::formats;
use crate::trust::{AllowedSigner, KeyMaterial, TrustedKey};
use sha2::{Digest, Sha256};

const DIR: &str = "tests/vectors/notur";
const ARCHIVE: &[u8] = include_bytes!("../../../../tests/vectors/notur/acme-hello-1.0.0.notur");
const TAMPERED: &[u8] =
    include_bytes!("../../../../tests/vectors/notur/acme-hello-1.0.0-tampered.notur");
const SIG: &[u8] = include_bytes!("../../../../tests/vectors/notur/acme-hello-1.0.0.notur.sig");
const PHP_SIG: &[u8] =
    include_bytes!("../../../../tests/vectors/notur/acme-hello-1.0.0.notur.php.sig");
const UNTRUSTED_SIG: &[u8] =
    include_bytes!("../../../../tests/vectors/notur/acme-hello-1.0.0.notur.untrusted.sig");
const SHA256SUM: &[u8] =
    include_bytes!("../../../../tests/vectors/notur/acme-hello-1.0.0.notur.sha256");
const PUBLIC: &[u8] = include_bytes!("../../../../tests/vectors/notur/public.hex");
const SECRET: &[u8] = include_bytes!("../../../../tests/vectors/notur/secret.hex");
const NAME: &[u8] = b"acme-hello-1.0.0.notur";

fn store() -> TrustStore {
    let mut ts = TrustStore::new();
    let report = ts.add_file(&format!("{DIR}/public.hex"), PUBLIC).unwrap();
    assert_eq!(report.added, 1);
    ts
}

fn author_fp() -> Fingerprint {
    hex_key_fingerprint(PUBLIC.trim_ascii()).unwrap()
}

fn check(name: &[u8], content: &[u8], sig: &[u8], sums: Option<&[u8]>, ts: &TrustStore) -> Verdict {
    let h: [u8; 32] = Sha256::digest(content).into();
    let evidence = Evidence {
        sig: Some(sig),
        sha256sum: sums,
        ..Evidence::default()
    };
    let opts = Options::default();
    assert!(formats::needs(&evidence, &opts).content);
    let subject = Subject {
        content: Some(content),
        ..Subject::new(name, content.len() as u64, &h)
    };
    let direct = verify(&subject, sig, &evidence, ts, &opts);
    let dispatched = formats::verify(&subject, &evidence, ts, &opts);
    assert_eq!(dispatched, direct.clone().in_format(Format::Notur));
    direct
}

fn detail(v: &Verdict) -> String {
    match v {
        Verdict::Rejected { detail, .. } => detail.clone(),
        Verdict::Verified { .. } | Verdict::Listed { .. } => String::new(),
    }
}

#[test]
fn interop_vectors_verify() {
    let ts = store();
    let want = Verdict::verified(author_fp(), Format::Notur, None);
    assert_eq!(check(NAME, ARCHIVE, SIG, Some(SHA256SUM), &ts), want);
    assert_eq!(check(NAME, ARCHIVE, SIG, None, &ts), want);
    // The PHP exporter writes no newline.
    assert_eq!(check(NAME, ARCHIVE, PHP_SIG, Some(SHA256SUM), &ts), want);
    // Notur does not sign the name: a renamed archive still verifies
    // when no checksum file is there.
    assert_eq!(check(b"renamed.notur", ARCHIVE, SIG, None, &ts), want);
}

#[test]
fn interop_tampered_archive() {
    let ts = store();
    let v = check(NAME, TAMPERED, SIG, Some(SHA256SUM), &ts);
    assert_eq!(v.reason(), Some(Reason::Tampered));
    let d = detail(&v);
    assert!(d.contains("expected sha256 1bfaaa91"), "{d}");
    assert!(d.contains(&hex::encode(Sha256::digest(TAMPERED))), "{d}");
    // Without the checksum file only the signature can tell.
    let v = check(NAME, TAMPERED, SIG, None, &ts);
    assert_eq!(v.reason(), Some(Reason::Invalid));
    assert!(detail(&v).starts_with(VERIFICATION_FAILED));
}

#[test]
fn interop_untrusted_signer() {
    let ts = store();
    let v = check(NAME, ARCHIVE, UNTRUSTED_SIG, Some(SHA256SUM), &ts);
    assert_eq!(v.reason(), Some(Reason::Invalid));
    assert!(detail(&v).contains(VERIFICATION_FAILED));
    // No Ed25519 key trusted at all.
    let v = check(NAME, ARCHIVE, SIG, None, &TrustStore::new());
    assert_eq!(v.reason(), Some(Reason::Untrusted));
}

#[test]
fn interop_secret_key_round_trip() {
    let secret = std::str::from_utf8(SECRET).unwrap();
    let key = parse_secret_key_hex(secret).unwrap();
    assert_eq!(
        hex::encode(key.verifying_key().as_bytes()),
        std::str::from_utf8(PUBLIC).unwrap().trim()
    );
    assert_eq!(secret_key_hex(&key), secret.trim());
    // Our signer writes what notur-pack writes.
    assert_eq!(sign(&key, ARCHIVE).as_bytes(), SIG);
    let h: [u8; 32] = Sha256::digest(ARCHIVE).into();
    assert_eq!(
        sha256sum_line(&h, "acme-hello-1.0.0.notur").as_bytes(),
        SHA256SUM
    );
}

#[test]
fn secret_key_errors() {
    let secret = std::str::from_utf8(SECRET).unwrap().trim();
    assert!(parse_secret_key_hex(&secret[..126]).is_err());
    assert!(parse_secret_key_hex(&format!("{}zz", &secret[..126])).is_err());
    // Public half from another key.
    let other = SigningKey::from_bytes(&[9; 32]);
    let mixed = format!(
        "{}{}",
        &secret[..64],
        hex::encode(other.verifying_key().as_bytes())
    );
    assert!(parse_secret_key_hex(&mixed).is_err());
}

#[test]
fn flipped_signature_and_garbage() {
    let ts = store();
    let mut sig = SIG.to_vec();
    sig[5] = if sig[5] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        check(NAME, ARCHIVE, &sig, None, &ts).reason(),
        Some(Reason::Invalid)
    );
    // Truncated: no longer 128 hex characters.
    let v = verify(
        &Subject {
            content: Some(ARCHIVE),
            ..Subject::new(NAME, 1, &[0; 32])
        },
        &SIG[..100],
        &Evidence::default(),
        &ts,
        &Options::default(),
    );
    assert_eq!(v.reason(), Some(Reason::Malformed));
    assert_eq!(sniff(&SIG[..100]), Sniff::No);
    assert_eq!(sniff(SIG), Sniff::Yes);
    assert_eq!(sniff(&[b'a'; 128]), Sniff::Yes);
    assert_eq!(sniff(&[b'g'; 128]), Sniff::No);
    assert_eq!(sniff(&[0xff; 100_000]), Sniff::No);
    assert!(parse_signature(&[b'z'; 128]).is_err());
    assert!(parse_signature(&[0xff; 1 << 20]).is_err());
    // Uppercase hex is what sodium_hex2bin accepts too.
    let upper = SIG.to_ascii_uppercase();
    assert!(check(NAME, ARCHIVE, &upper, None, &ts).is_verified());
}

#[test]
fn content_not_computed() {
    let h: [u8; 32] = Sha256::digest(ARCHIVE).into();
    let v = verify(
        &Subject::new(NAME, ARCHIVE.len() as u64, &h),
        SIG,
        &Evidence::default(),
        &store(),
        &Options::default(),
    );
    assert_eq!(v.reason(), Some(Reason::Invalid));
    assert!(detail(&v).contains("internal"));
}

#[test]
fn revoked_key() {
    let mut ts = store();
    ts.revoke(author_fp());
    let v = check(NAME, ARCHIVE, SIG, None, &ts);
    assert_eq!(v.reason(), Some(Reason::Revoked));
    assert_eq!(v.key(), Some(author_fp()));
    // A second, unrevoked key that did not sign changes nothing.
    let other = SigningKey::from_bytes(&[3; 32]);
    ts.insert(TrustedKey::new(
        KeyMaterial::Ed25519(other.verifying_key()),
        "o",
        1,
        KeyOrigin::Hex,
    ));
    assert_eq!(
        check(NAME, ARCHIVE, SIG, None, &ts).reason(),
        Some(Reason::Revoked)
    );
}

#[test]
fn several_trusted_keys_and_allowed_signers_excluded() {
    let a = SigningKey::from_bytes(&[1; 32]);
    let b = SigningKey::from_bytes(&[2; 32]);
    let mut ts = TrustStore::new();
    for (k, origin) in [(&a, KeyOrigin::Pem), (&b, KeyOrigin::Hex)] {
        ts.insert(
            TrustedKey::new(KeyMaterial::Ed25519(k.verifying_key()), "t", 1, origin)
                .with_label(Some("label".into())),
        );
    }
    let content = b"archive bytes";
    let v = check(b"x.notur", content, sign(&b, content).as_bytes(), None, &ts);
    assert_eq!(
        v,
        Verdict::verified(
            Fingerprint::of_ed25519(&b.verifying_key()),
            Format::Notur,
            Some("label".into())
        )
    );
    // An allowed_signers key is not a Notur key.
    let mut ts = TrustStore::new();
    ts.insert(TrustedKey::new(
        KeyMaterial::Ed25519(a.verifying_key()),
        "allowed_signers",
        1,
        KeyOrigin::AllowedSigner(AllowedSigner::default()),
    ));
    let v = check(b"x.notur", content, sign(&a, content).as_bytes(), None, &ts);
    assert_eq!(v.reason(), Some(Reason::Untrusted));
}

#[test]
fn checksum_file_variants() {
    let ts = store();
    let h = hex::encode(Sha256::digest(ARCHIVE));
    let ok = |sums: &str| check(NAME, ARCHIVE, SIG, Some(sums.as_bytes()), &ts);
    assert!(ok(&format!("{h} *acme-hello-1.0.0.notur\n")).is_verified());
    assert!(ok(&format!("{h}  dist/acme-hello-1.0.0.notur")).is_verified());
    assert!(ok(&format!("{h}  ./acme-hello-1.0.0.notur\r\n")).is_verified());
    assert!(ok(&format!("SHA256 (acme-hello-1.0.0.notur) = {h}\n")).is_verified());
    assert!(ok(&format!(
        "# list\n{}  other.notur\n{}  acme-hello-1.0.0.notur\n",
        "0".repeat(64),
        h.to_uppercase()
    ))
    .is_verified());
    // Names another file.
    let v = ok(&format!("{h}  other.notur\n"));
    assert_eq!(v.reason(), Some(Reason::Tampered));
    assert!(detail(&v).contains("other.notur"));
    let v = ok(&format!("{h}  xacme-hello-1.0.0.notur\n"));
    assert_eq!(v.reason(), Some(Reason::Tampered));
    // Unparseable.
    for bad in [
        String::new(),
        "\n\n".to_string(),
        "hello".to_string(),
        format!("{h} acme-hello-1.0.0.notur"),
        format!("{h}  "),
        format!("{}  acme-hello-1.0.0.notur", &h[..63]),
        format!("\\{h}  a\\q"),
        "SHA256 (x) = zz".to_string(),
    ] {
        assert_eq!(ok(&bad).reason(), Some(Reason::Malformed), "{bad:?}");
    }
    assert!(parse_sha256sum(&vec![b'#'; MAX_SHA256SUM_BYTES + 1]).is_err());
    let many = format!("{h}  a\n").repeat(MAX_SHA256SUM_LINES + 1);
    assert!(parse_sha256sum(many.as_bytes()).is_err());
}

#[test]
fn escaped_names_round_trip() {
    let h = [7u8; 32];
    for name in ["plain.notur", "back\\slash.notur", "new\nline.notur"] {
        let line = sha256sum_line(&h, name);
        let parsed = parse_sha256sum(line.as_bytes()).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].name, name.as_bytes());
        assert_eq!(parsed[0].digest, h);
        assert!(!parsed[0].binary);
    }
}

#[test]
fn hex_key_parsing() {
    assert!(parse_hex_key(PUBLIC.trim_ascii()).is_ok());
    assert!(parse_hex_key(b"00").is_err());
    assert!(parse_hex_key(&[b'z'; 64]).is_err());
}

#[test]
fn mutated_signature_files_never_panic() {
    let h: [u8; 32] = Sha256::digest(ARCHIVE).into();
    let subject = Subject {
        content: Some(ARCHIVE),
        ..Subject::new(NAME, ARCHIVE.len() as u64, &h)
    };
    crate::formats::testutil::mutations_never_name_another_key(
        verify,
        &subject,
        SIG,
        Some(SHA256SUM),
        &store(),
        author_fp(),
    );
}
