//! Unit tests of `rsa`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::formats;
use crate::trust::KeyFileError;
use sha2::Digest;

macro_rules! vector {
    ($name:literal) => {
        include_bytes!(concat!("../../../../tests/vectors/rsa/", $name)).as_slice()
    };
}

const MODULE: &[u8] = vector!("module.py");
const TAMPERED: &[u8] = vector!("module_tampered.py");
const SIG2048: &[u8] = vector!("module.py.rsa2048.sig");
const SIG3072: &[u8] = vector!("module.py.rsa3072.sig");
const SIG4096: &[u8] = vector!("module.py.rsa4096.sig");
const SIG8192: &[u8] = vector!("module.py.rsa8192.sig");
const SIG1024: &[u8] = vector!("module.py.rsa1024.sig");
const SIG_OTHER: &[u8] = vector!("module.py.other2048.sig");
const SIG_SHA512: &[u8] = vector!("module.py.rsa2048-sha512.sig");
const SPKI2048: &[u8] = vector!("rsa2048.spki.pem");
const PKCS1_3072: &[u8] = vector!("rsa3072.pkcs1.pem");
const CERT4096: &[u8] = vector!("rsa4096.cert.pem");
const SPKI8192: &[u8] = vector!("rsa8192.spki.pem");
const SPKI1024: &[u8] = vector!("rsa1024.spki.pem");
const OTHER2048: &[u8] = vector!("other2048.spki.pem");
const MIXED: &[u8] = vector!("mixed.pem");
const ED_CERT: &[u8] = vector!("ed25519.cert.pem");
const ED_SPKI: &[u8] = vector!("ed25519.spki.pem");

fn store(files: &[(&str, &[u8])]) -> TrustStore {
    let mut ts = TrustStore::new();
    for (name, text) in files {
        ts.add_file(name, text).unwrap();
    }
    ts
}

fn fp_of(ts: &TrustStore, source: &str) -> Fingerprint {
    ts.iter().find(|k| k.source == source).unwrap().fingerprint
}

fn hash(content: &[u8]) -> [u8; 32] {
    Sha256::digest(content).into()
}

/// Through the dispatcher, as the agent does.
fn check(content: &[u8], sig: &[u8], ts: &TrustStore) -> Verdict {
    let h = hash(content);
    let subject = Subject::new(b"module.py", content.len() as u64, &h);
    let evidence = Evidence {
        sig: Some(sig),
        ..Evidence::default()
    };
    let opts = Options::default();
    assert_eq!(needs(sig, &opts), Needs::default());
    formats::verify(&subject, &evidence, ts, &opts)
}

/// This module alone.
fn direct(content: &[u8], sig: &[u8], ts: &TrustStore) -> Verdict {
    let h = hash(content);
    let subject = Subject::new(b"module.py", content.len() as u64, &h);
    let evidence = Evidence {
        sig: Some(sig),
        ..Evidence::default()
    };
    verify(&subject, sig, &evidence, ts, &Options::default())
}

fn detail(v: &Verdict) -> String {
    match v {
        Verdict::Rejected { detail, .. } => detail.clone(),
        Verdict::Verified { .. } | Verdict::Listed { .. } => String::new(),
    }
}

fn pem_der(text: &[u8]) -> Vec<u8> {
    pem::parse(text).unwrap().contents().to_vec()
}

#[test]
fn openssl_vectors_verify_in_every_trust_store_flavour() {
    let ts = store(&[
        ("spki2048.pem", SPKI2048),
        ("pkcs1-3072.pem", PKCS1_3072),
        ("cert4096.pem", CERT4096),
        ("spki8192.pem", SPKI8192),
    ]);
    assert_eq!(ts.len(), 4);
    for (sig, source, label) in [
        (SIG2048, "spki2048.pem", None),
        (SIG3072, "pkcs1-3072.pem", None),
        (
            SIG4096,
            "cert4096.pem",
            Some("CN=plugin-signer".to_string()),
        ),
        (SIG8192, "spki8192.pem", None),
    ] {
        let expected = Verdict::verified(fp_of(&ts, source), Format::RsaOpenssl, label);
        assert_eq!(check(MODULE, sig, &ts), expected, "{source}");
        assert_eq!(direct(MODULE, sig, &ts), expected, "{source}");
    }
}

#[test]
fn tampered_file_reports_signed_and_actual_hash() {
    let ts = store(&[("k.pem", SPKI2048), ("c.pem", CERT4096)]);
    for sig in [SIG2048, SIG4096] {
        let v = check(TAMPERED, sig, &ts);
        assert_eq!(v.reason(), Some(Reason::Tampered), "{v:?}");
        assert_eq!(v.format(), Some(Format::RsaOpenssl));
        let d = detail(&v);
        assert!(d.contains(&hex::encode(hash(MODULE))), "{d}");
        assert!(d.contains(&hex::encode(hash(TAMPERED))), "{d}");
    }
    assert_eq!(
        direct(TAMPERED, SIG2048, &ts).key(),
        Some(fp_of(&ts, "k.pem"))
    );
}

#[test]
fn flipped_signature_byte_is_invalid() {
    let ts = store(&[("k.pem", SPKI2048)]);
    for i in [0usize, 100, 255] {
        let mut sig = SIG2048.to_vec();
        sig[i] ^= 0x01;
        let v = check(MODULE, &sig, &ts);
        assert_eq!(v.reason(), Some(Reason::Invalid), "{v:?}");
        assert!(detail(&v).contains("does not verify with the only trusted RSA-2048 key"));
        assert_eq!(v.key(), Some(fp_of(&ts, "k.pem")));
    }
}

#[test]
fn signature_by_another_key_of_the_same_size() {
    let ts = store(&[("k.pem", SPKI2048)]);
    let v = check(MODULE, SIG_OTHER, &ts);
    assert_eq!(v.reason(), Some(Reason::Invalid));
    assert!(detail(&v).contains("content changed or signed by another key"));
    // With two trusted 2048-bit keys the signer is either: verifies.
    let ts = store(&[("k.pem", SPKI2048), ("o.pem", OTHER2048)]);
    assert_eq!(
        check(MODULE, SIG_OTHER, &ts),
        Verdict::verified(fp_of(&ts, "o.pem"), Format::RsaOpenssl, None)
    );
    let mut sig = SIG_OTHER.to_vec();
    sig[7] ^= 0x80;
    let v = check(MODULE, &sig, &ts);
    assert_eq!(v.reason(), Some(Reason::Invalid));
    assert!(detail(&v).contains("does not verify with any of the 2 trusted RSA-2048 keys"));
    assert_eq!(v.key(), None);
}

#[test]
fn other_digest_algorithm_is_invalid_and_named() {
    let ts = store(&[("k.pem", SPKI2048)]);
    let v = check(MODULE, SIG_SHA512, &ts);
    assert_eq!(v.reason(), Some(Reason::Invalid));
    assert!(detail(&v).contains("SHA-512"), "{}", detail(&v));
}

#[test]
fn no_trusted_key_of_that_size_is_untrusted() {
    let ts = store(&[("k.pem", SPKI2048)]);
    let v = check(MODULE, SIG4096, &ts);
    assert_eq!(v.reason(), Some(Reason::Untrusted));
    assert!(
        detail(&v).contains("no trusted RSA key of 4096 bits"),
        "{}",
        detail(&v)
    );
    assert!(detail(&v).contains("2048"));
    let v = check(MODULE, SIG2048, &TrustStore::new());
    assert_eq!(v.reason(), Some(Reason::Untrusted));
    assert!(detail(&v).contains("no RSA key is trusted"));
    // Ed25519 keys do not count.
    let v = check(MODULE, SIG2048, &store(&[("e.pem", ED_SPKI)]));
    assert_eq!(v.reason(), Some(Reason::Untrusted));
}

#[test]
fn revoked_key() {
    let mut ts = store(&[("k.pem", SPKI2048), ("c.pem", CERT4096)]);
    let fp = fp_of(&ts, "k.pem");
    ts.revoke(fp);
    let v = check(MODULE, SIG2048, &ts);
    assert_eq!(v.reason(), Some(Reason::Revoked));
    assert_eq!(v.key(), Some(fp));
    // Revoked wins over tampered.
    assert_eq!(
        check(TAMPERED, SIG2048, &ts).reason(),
        Some(Reason::Revoked)
    );
    // Another key still works.
    assert!(check(MODULE, SIG4096, &ts).is_verified());
    // A signature the revoked key did not make is not "revoked".
    let v = check(MODULE, SIG_OTHER, &ts);
    assert_eq!(v.reason(), Some(Reason::Untrusted), "{v:?}");
    // A revoked key next to a trusted one of the same size.
    let mut ts = store(&[("k.pem", SPKI2048), ("o.pem", OTHER2048)]);
    ts.revoke(fp_of(&ts, "o.pem"));
    assert!(check(MODULE, SIG2048, &ts).is_verified());
    assert_eq!(
        check(MODULE, SIG_OTHER, &ts).reason(),
        Some(Reason::Revoked)
    );
}

#[test]
fn truncated_and_padded_signatures() {
    let ts = store(&[("k.pem", SPKI2048), ("p.pem", PKCS1_3072)]);
    // Below the smallest key size: no format claims it.
    let v = check(MODULE, &SIG2048[..255], &ts);
    assert_eq!(v.reason(), Some(Reason::Malformed));
    assert_eq!(
        direct(MODULE, &SIG2048[..255], &ts).reason(),
        Some(Reason::Malformed)
    );
    // An odd length matching no key.
    let v = check(MODULE, &SIG3072[..300], &ts);
    assert_eq!(v.reason(), Some(Reason::Malformed));
    assert_eq!(v.format(), Some(Format::RsaOpenssl));
    assert!(detail(&v).contains("300 bytes"));
    // Truncated to the size of another trusted key: cannot verify.
    assert_eq!(
        check(MODULE, &SIG3072[..256], &ts).reason(),
        Some(Reason::Invalid)
    );
    // A trailing newline makes it 257 bytes.
    let mut sig = SIG2048.to_vec();
    sig.push(b'\n');
    assert_eq!(check(MODULE, &sig, &ts).reason(), Some(Reason::Malformed));
    // Empty.
    assert_eq!(check(MODULE, b"", &ts).reason(), Some(Reason::Malformed));
    assert_eq!(direct(MODULE, b"", &ts).reason(), Some(Reason::Malformed));
}

#[test]
fn garbage_and_oversized_input() {
    let ts = store(&[("k.pem", SPKI2048), ("c.pem", CERT4096)]);
    let big = vec![0xa5u8; 1 << 20];
    assert_eq!(sniff(&big), Sniff::No);
    assert_eq!(direct(MODULE, &big, &ts).reason(), Some(Reason::Malformed));
    assert_eq!(check(MODULE, &big, &ts).reason(), Some(Reason::Malformed));
    // Values at or above the modulus, zero, all ones.
    for fill in [0x00u8, 0x01, 0xff] {
        let sig = vec![fill; 256];
        assert_eq!(sniff(&sig), Sniff::Maybe);
        assert_eq!(direct(MODULE, &sig, &ts).reason(), Some(Reason::Invalid));
    }
    // 512 bytes of text are not an RSA signature.
    let text = "a".repeat(512);
    assert_eq!(
        direct(MODULE, text.as_bytes(), &ts).reason(),
        Some(Reason::Malformed)
    );
    // Pseudo-random binary of every length up to 2100 bytes: no panic.
    let mut x: u32 = 1;
    let noise: Vec<u8> = (0..2100)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    for n in (0..=noise.len())
        .step_by(37)
        .chain([256, 384, 512, 1024, 2048])
    {
        let v = direct(MODULE, &noise[..n], &ts);
        assert!(!v.is_verified());
    }
}

#[test]
fn sniffing() {
    assert_eq!(sniff(SIG2048), Sniff::Maybe);
    assert_eq!(sniff(SIG3072), Sniff::Maybe);
    assert_eq!(sniff(SIG4096), Sniff::Maybe);
    assert_eq!(sniff(SIG8192), Sniff::Maybe);
    assert_eq!(sniff(SIG1024), Sniff::No);
    assert_eq!(sniff(&SIG2048[..255]), Sniff::No);
    assert_eq!(sniff(&[0u8; 2049]), Sniff::No);
    assert_eq!(sniff(b""), Sniff::No);
    // Text of a signature size: JSON, hex, armour.
    let json = format!("{{\"version\":1,\"x\":\"{}\"}}", "a".repeat(256 - 20));
    assert_eq!(json.len(), 256);
    assert_eq!(sniff(json.as_bytes()), Sniff::No);
    let hexsig = format!("{}\n", "ab".repeat(192)).into_bytes();
    assert_eq!(sniff(&hexsig[..384]), Sniff::No);
    let armour = format!(
        "-----BEGIN SSH SIGNATURE-----\n{}\n-----END SSH SIGNATURE-----\n",
        "QUFB".repeat(120)
    );
    assert_eq!(sniff(&armour.as_bytes()[..512]), Sniff::No);
    assert_eq!(needs(SIG2048, &Options::default()), Needs::default());
}

#[test]
fn format_not_allowed_by_policy() {
    let ts = store(&[("k.pem", SPKI2048)]);
    let h = hash(MODULE);
    let subject = Subject::new(b"module.py", MODULE.len() as u64, &h);
    let evidence = Evidence {
        sig: Some(SIG2048),
        ..Evidence::default()
    };
    let opts = Options {
        formats: vec![Format::Native],
        ..Options::default()
    };
    let v = formats::verify(&subject, &evidence, &ts, &opts);
    assert_eq!(v.reason(), Some(Reason::Malformed));
}

#[test]
fn small_keys_are_refused() {
    let der = pem_der(SPKI1024);
    assert_eq!(
        key_from_spki_der(&der).map_err(|e| e.to_string()),
        Err("RSA key of 1024 bits is too small (at least 2048 required)".to_string())
    );
    match TrustStore::new().add_file("small.pem", SPKI1024) {
        Err(KeyFileError::NoUsableKey(why)) => {
            assert!(why.contains("small.pem"), "{why}");
            assert!(why.contains("1024 bits is too small"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    // A 1024-bit signature is not even sniffed.
    let ts = store(&[("k.pem", SPKI2048)]);
    assert_eq!(
        check(MODULE, SIG1024, &ts).reason(),
        Some(Reason::Malformed)
    );
}

#[test]
fn mixed_pem_file_skips_the_ec_key() {
    let mut ts = TrustStore::new();
    let report = ts.add_file("mixed.pem", MIXED).unwrap();
    assert_eq!(report.added, 2);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    let w = &report.warnings[0];
    assert!(w.contains("mixed.pem") && w.contains("PEM block 2"), "{w}");
    assert!(w.contains("1.2.840.10045.2.1"), "{w}");
    assert!(w.contains("ecPublicKey"), "{w}");
    // The certificate (2048-bit key) carries its subject as the label.
    let cert = ts.iter().find(|k| k.block == 1).unwrap();
    let label = cert.label.clone().unwrap();
    // RFC 4514 order, as `openssl x509 -noout -subject -nameopt RFC2253`.
    assert_eq!(label, "O=Example Plugins,CN=mixed-signer");
    assert_eq!(
        check(MODULE, SIG2048, &ts),
        Verdict::verified(cert.fingerprint, Format::RsaOpenssl, Some(label))
    );
    // The SPKI block (3072-bit key) is block 3.
    let spki = ts.iter().find(|k| k.block == 3).unwrap();
    assert_eq!(
        check(MODULE, SIG3072, &ts),
        Verdict::verified(spki.fingerprint, Format::RsaOpenssl, None)
    );
    assert_eq!(
        check(TAMPERED, SIG3072, &ts).reason(),
        Some(Reason::Tampered)
    );
}

#[test]
fn same_key_in_every_encoding_has_one_fingerprint() {
    // The mixed file holds the 2048 key as a certificate and the 3072 key
    // as SPKI; the other files hold them as SPKI and PKCS#1.
    let mut ts = store(&[("k.pem", SPKI2048), ("p.pem", PKCS1_3072)]);
    let report = ts.add_file("mixed.pem", MIXED).unwrap();
    assert_eq!(report.added, 0);
    assert_eq!(ts.len(), 2);
    let pkcs1 = key_from_pkcs1_der(&pem_der(PKCS1_3072)).unwrap();
    let mixed = pem::parse_many(MIXED).unwrap();
    let spki = key_from_spki_der(mixed[2].contents()).unwrap();
    assert_eq!(
        Fingerprint::of_material(&pkcs1),
        Fingerprint::of_material(&spki)
    );
}

#[test]
fn ed25519_certificate_and_spki() {
    let (material, label) = key_from_certificate_der(&pem_der(ED_CERT)).unwrap();
    assert_eq!(label.as_deref(), Some("CN=ed25519-signer"));
    assert!(matches!(material, KeyMaterial::Ed25519(_)));
    assert_eq!(key_from_spki_der(&pem_der(ED_SPKI)), Ok(material));
}

#[test]
fn certificate_yields_rsa_key_and_subject() {
    let (material, label) = key_from_certificate_der(&pem_der(CERT4096)).unwrap();
    assert_eq!(label.as_deref(), Some("CN=plugin-signer"));
    match material {
        KeyMaterial::Rsa(k) => assert_eq!(k.size(), 512),
        other => panic!("{other:?}"),
    }
}

#[test]
fn key_parsers_are_total() {
    for der in [
        pem_der(SPKI2048),
        pem_der(PKCS1_3072),
        pem_der(CERT4096),
        pem_der(ED_CERT),
    ] {
        for n in 0..der.len() {
            let _ = key_from_spki_der(&der[..n]);
            let _ = key_from_pkcs1_der(&der[..n]);
            let _ = key_from_certificate_der(&der[..n]);
        }
        let mut flipped = der.clone();
        for i in (0..der.len()).step_by(7) {
            flipped[i] ^= 0x55;
            let _ = key_from_spki_der(&flipped);
            let _ = key_from_pkcs1_der(&flipped);
            let _ = key_from_certificate_der(&flipped);
            flipped[i] ^= 0x55;
        }
        // Trailing data is refused.
        let mut long = der.clone();
        long.push(0);
        assert!(key_from_spki_der(&long).is_err());
        assert!(key_from_pkcs1_der(&long).is_err());
        assert!(key_from_certificate_der(&long).is_err());
    }
    assert!(key_from_spki_der(b"").is_err());
    assert!(key_from_pkcs1_der(&[0x30, 0x80]).is_err());
    assert!(key_from_certificate_der(&[0xff; 64]).is_err());
}

fn pkcs1(n: &[u8], e: &[u8]) -> Vec<u8> {
    use rsa::pkcs1::der::asn1::UintRef;
    rsa::pkcs1::RsaPublicKey {
        modulus: UintRef::new(n).unwrap(),
        public_exponent: UintRef::new(e).unwrap(),
    }
    .to_der()
    .unwrap()
}

#[test]
fn exponent_and_size_sanity() {
    let KeyMaterial::Rsa(k) = key_from_spki_der(&pem_der(SPKI2048)).unwrap() else {
        panic!()
    };
    let n = k.n().to_bytes_be();
    assert!(key_from_pkcs1_der(&pkcs1(&n, &[0x01, 0x00, 0x01])).is_ok());
    for e in [
        &[1u8][..],
        &[2],
        &[0x01, 0x00, 0x00],
        &[0x02, 0, 0, 0, 0, 1],
        &[1; 9],
    ] {
        let r = key_from_pkcs1_der(&pkcs1(&n, e));
        assert!(r.is_err(), "exponent {e:?}: {r:?}");
    }
    // Even modulus.
    let mut even = n.clone();
    *even.last_mut().unwrap() &= 0xfe;
    assert!(key_from_pkcs1_der(&pkcs1(&even, &[3])).is_err());
    // Too large: 16385 bits and far more.
    let mut huge = vec![0xffu8; 2049];
    huge[0] = 0x01;
    let r = key_from_pkcs1_der(&pkcs1(&huge, &[3]));
    assert!(
        matches!(&r, Err(e) if e.to_string().contains("too large")),
        "{r:?}"
    );
    let huge = vec![0xffu8; 100_000];
    assert!(key_from_pkcs1_der(&pkcs1(&huge, &[3])).is_err());
    // Exactly 16384 bits is accepted.
    let max = vec![0xffu8; 2048];
    assert!(key_from_pkcs1_der(&pkcs1(&max, &[3])).is_ok());
    // 2047 bits is refused.
    let mut small = n.clone();
    small[0] = 0x7f;
    let r = key_from_pkcs1_der(&pkcs1(&small, &[3])).map_err(|e| e.to_string());
    assert_eq!(
        r,
        Err("RSA key of 2047 bits is too small (at least 2048 required)".into())
    );
}

#[test]
fn unsupported_spki_names_the_algorithm() {
    let mixed = pem::parse_many(MIXED).unwrap();
    let err = key_from_spki_der(mixed[1].contents())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("id-ecPublicKey (OID 1.2.840.10045.2.1)"),
        "{err}"
    );
}
