//! RSA PKCS#1 v1.5 signatures over SHA-256, as OpenSSL writes them.
//!
//! The Python module-signing system (seed 000) signs each module with
//!
//! ```text
//! openssl dgst -sha256 -sign key.pem -out module.py.sig module.py
//! ```
//!
//! so `module.py.sig` is the raw RSASSA-PKCS1-v1_5 signature (RFC 8017
//! section 8.2) of the SHA-256 digest of the whole file: exactly as many bytes
//! as the key's modulus (256 for RSA-2048, 384 for RSA-3072, 512 for
//! RSA-4096), with no header, no key id and no encoding. The signature does
//! not say which key made it, so every trusted RSA key of the right size is
//! tried.
//!
//! Trust comes from PEM files holding `PUBLIC KEY` (SubjectPublicKeyInfo),
//! `RSA PUBLIC KEY` (PKCS#1) or `CERTIFICATE` (X.509) blocks; `trust.rs`
//! splits the PEM and calls [`key_from_spki_der`], [`key_from_pkcs1_der`] and
//! [`key_from_certificate_der`]. RSA keys must have between [`MIN_BITS`] and
//! [`MAX_BITS`] bits and a sane public exponent (odd, at least 3, below
//! 2^33, smaller than the modulus). Certificates are used for their subject
//! key only (as the Python verifier does): validity dates and issuer
//! signatures are not checked; the subject becomes the key's label.
//!
//! Decisions where the format itself says nothing:
//!
//! * [`sniff`] answers `Maybe` for any binary (non-text) input whose length is
//!   a possible modulus size of a key sigward accepts (256 to 2048 bytes), not
//!   only the common 256/384/512: OpenSSL signs with keys of any size. Text
//!   (valid UTF-8 without control characters: JSON, hex, armoured blocks) is
//!   never an RSA signature.
//! * PKCS#1 v1.5 lets the verifier recover what was signed. When a trusted
//!   key's signature carries a well-formed SHA-256 `DigestInfo` for another
//!   digest, the file changed after signing: `Tampered`, with the signed and
//!   the actual SHA-256. A well-formed block for another hash (e.g.
//!   `openssl dgst -sha512 -sign`) is `Invalid`, naming the hash. Anything
//!   else is `Invalid` ("content changed or signed by another key"). Only the
//!   `rsa` crate's verification ever accepts a signature; recovery only
//!   explains refusals.
//! * A signature whose length matches no trusted (or revoked) RSA key: if the
//!   length is a standard size (2048/3072/4096/6144/8192 bits) the signer is
//!   simply not trusted (`Untrusted`); any other length is `Malformed`
//!   (truncated or not an RSA signature).
//! * A revoked key that verifies, or that recovers to a well-formed block,
//!   gives `Revoked`; keys of the right size that are all revoked and do not
//!   verify leave the signature `Untrusted`.

use std::collections::{BTreeSet, HashSet};

use ed25519_dalek::pkcs8::DecodePublicKey;
use rsa::pkcs1::der::{Decode, Encode};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use sha2::Sha256;

use crate::fingerprint::Fingerprint;
use crate::formats::{Evidence, Format, Needs, Options, Sniff};
use crate::trust::{KeyMaterial, KeyOrigin, TrustStore, TrustedKey};
use crate::verify::{Reason, Subject, Verdict};

/// Smallest RSA key accepted into a trust store, in bits.
pub const MIN_BITS: usize = 2048;

/// Largest RSA key accepted into a trust store, in bits.
pub const MAX_BITS: usize = 16384;

/// Shortest signature read: the modulus size of a [`MIN_BITS`] key.
pub const MIN_SIGNATURE_LEN: usize = MIN_BITS / 8;

/// Longest signature read: the modulus size of a [`MAX_BITS`] key.
pub const MAX_SIGNATURE_LEN: usize = MAX_BITS / 8;

/// Signature lengths of the usual key sizes (2048, 3072, 4096, 6144 and
/// 8192 bits).
pub const STANDARD_SIGNATURE_LENS: [usize; 5] = [256, 384, 512, 768, 1024];

/// Longest certificate subject kept as a key label.
const MAX_LABEL_CHARS: usize = 256;

/// `DigestInfo` DER prefixes (RFC 8017 section 9.2, note 1), by hash.
const DIGEST_INFO_PREFIXES: [(&str, &[u8], usize); 6] = [
    (
        "SHA-256",
        &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        32,
    ),
    (
        "SHA-1",
        &[
            0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
            0x14,
        ],
        20,
    ),
    (
        "SHA-224",
        &[
            0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x04, 0x05, 0x00, 0x04, 0x1c,
        ],
        28,
    ),
    (
        "SHA-384",
        &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        48,
    ),
    (
        "SHA-512",
        &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
        64,
    ),
    (
        "MD5",
        &[
            0x30, 0x20, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05,
            0x05, 0x00, 0x04, 0x10,
        ],
        16,
    ),
];

/// Whether `bytes` are text (valid UTF-8 with no control characters other
/// than tab, CR and LF): JSON, hex, base64 or armoured signatures, never a
/// raw RSA signature.
fn looks_textual(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(s) => s
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')),
        Err(_) => false,
    }
}

/// Format detection for the dispatcher: `Maybe` for binary data as long as
/// the modulus of an acceptable RSA key, `No` otherwise. A raw RSA signature
/// has no marker, so this is never `Yes`.
pub fn sniff(bytes: &[u8]) -> Sniff {
    if (MIN_SIGNATURE_LEN..=MAX_SIGNATURE_LEN).contains(&bytes.len()) && !looks_textual(bytes) {
        Sniff::Maybe
    } else {
        Sniff::No
    }
}

/// RSA signatures need only SHA-256.
pub fn needs(_bytes: &[u8], _opts: &Options) -> Needs {
    Needs::default()
}

/// What a public-key operation on a signature revealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recovered<'a> {
    /// A well-formed PKCS#1 v1.5 block carrying a SHA-256 digest.
    Sha256(&'a [u8]),
    /// A well-formed block for another hash.
    OtherHash(&'static str),
    /// Not a PKCS#1 v1.5 signature block under this key.
    Nothing,
}

/// Applies the public key to the signature and parses the PKCS#1 v1.5
/// signature block `00 01 FF..FF 00 DigestInfo` (at least 8 `FF` bytes,
/// exact length, no trailing data). Used only to explain a refusal.
fn recover(key: &RsaPublicKey, sig: &[u8], out: &mut Vec<u8>) -> bool {
    let k = key.size();
    if sig.len() != k {
        return false;
    }
    let s = BigUint::from_bytes_be(sig);
    if &s >= key.n() {
        return false;
    }
    let m = s.modpow(key.e(), key.n());
    let raw = m.to_bytes_be();
    let Some(pad) = k.checked_sub(raw.len()) else {
        return false;
    };
    out.clear();
    out.resize(pad, 0);
    out.extend_from_slice(&raw);
    true
}

fn classify(em: &[u8]) -> Recovered<'_> {
    let Some(rest) = em.strip_prefix(&[0x00, 0x01]) else {
        return Recovered::Nothing;
    };
    let ff = rest.iter().take_while(|&&b| b == 0xff).count();
    if ff < 8 {
        return Recovered::Nothing;
    }
    let Some(t) = rest.get(ff..).and_then(|r| r.strip_prefix(&[0x00])) else {
        return Recovered::Nothing;
    };
    for (name, prefix, len) in DIGEST_INFO_PREFIXES {
        if let Some(digest) = t.strip_prefix(prefix) {
            if digest.len() == len {
                return if name == "SHA-256" {
                    Recovered::Sha256(digest)
                } else {
                    Recovered::OtherHash(name)
                };
            }
        }
    }
    Recovered::Nothing
}

fn bits_of_len(len: usize) -> usize {
    len.saturating_mul(8)
}

fn describe(k: &TrustedKey) -> String {
    match &k.label {
        Some(label) => format!(
            "{} ({}, {} block {})",
            k.fingerprint, label, k.source, k.block
        ),
        None => format!("{} ({} block {})", k.fingerprint, k.source, k.block),
    }
}

fn sizes_text(sizes: &BTreeSet<usize>) -> String {
    if sizes.is_empty() {
        "no RSA key is trusted".to_string()
    } else {
        let list: Vec<String> = sizes.iter().map(|&s| bits_of_len(s).to_string()).collect();
        format!("trusted RSA key sizes: {} bits", list.join(", "))
    }
}

/// Verifies a raw RSA PKCS#1 v1.5 / SHA-256 signature against every trusted
/// RSA key whose modulus is as long as the signature.
pub fn verify(
    subject: &Subject<'_>,
    bytes: &[u8],
    _evidence: &Evidence<'_>,
    trust: &TrustStore,
    _opts: &Options,
) -> Verdict {
    let len = bytes.len();
    let bits = bits_of_len(len);
    if looks_textual(bytes) {
        return Verdict::reject(
            Reason::Malformed,
            "signature file is text, not the raw binary RSA signature `openssl dgst -sha256 -sign` writes",
            None,
        );
    }
    if !(MIN_SIGNATURE_LEN..=MAX_SIGNATURE_LEN).contains(&len) {
        return Verdict::reject(
            Reason::Malformed,
            format!(
                "signature is {len} bytes; a raw RSA signature is as long as the key's modulus \
                 ({MIN_SIGNATURE_LEN} bytes for RSA-{MIN_BITS} up to {MAX_SIGNATURE_LEN} bytes for RSA-{MAX_BITS})"
            ),
            None,
        );
    }

    // Every RSA key once, split into usable and revoked ones of this size.
    let mut seen: HashSet<Fingerprint> = HashSet::new();
    let mut sizes: BTreeSet<usize> = BTreeSet::new();
    let mut candidates: Vec<(&TrustedKey, &RsaPublicKey)> = Vec::new();
    let mut revoked: Vec<(&TrustedKey, &RsaPublicKey)> = Vec::new();
    for k in trust.iter() {
        let KeyMaterial::Rsa(pk) = &k.material else {
            continue;
        };
        if matches!(k.origin, KeyOrigin::AllowedSigner(_)) || !seen.insert(k.fingerprint) {
            continue;
        }
        let pk: &RsaPublicKey = pk;
        if trust.is_revoked(&k.fingerprint) {
            if pk.size() == len {
                revoked.push((k, pk));
            }
            continue;
        }
        sizes.insert(pk.size());
        if pk.size() == len {
            candidates.push((k, pk));
        }
    }

    for &(k, pk) in &candidates {
        if pk
            .verify(Pkcs1v15Sign::new::<Sha256>(), subject.sha256, bytes)
            .is_ok()
        {
            return Verdict::verified(k.fingerprint, Format::RsaOpenssl, k.label.clone());
        }
    }

    // Not verified: explain why, most specific first.
    let mut em = Vec::with_capacity(len);
    for &(k, pk) in &revoked {
        let verifies = pk
            .verify(Pkcs1v15Sign::new::<Sha256>(), subject.sha256, bytes)
            .is_ok();
        if verifies || (recover(pk, bytes, &mut em) && classify(&em) != Recovered::Nothing) {
            return Verdict::reject(
                Reason::Revoked,
                format!("signed by revoked RSA-{bits} key {}", describe(k)),
                Some(k.fingerprint),
            );
        }
    }
    let mut other_hash: Option<(&TrustedKey, &'static str)> = None;
    for &(k, pk) in &candidates {
        if !recover(pk, bytes, &mut em) {
            continue;
        }
        match classify(&em) {
            Recovered::Sha256(signed) => {
                return Verdict::reject(
                    Reason::Tampered,
                    format!(
                        "content changed since signing: trusted RSA-{bits} key {} signed sha256 {}, file has sha256 {} ({} bytes)",
                        describe(k),
                        hex::encode(signed),
                        hex::encode(subject.sha256),
                        subject.size
                    ),
                    Some(k.fingerprint),
                );
            }
            Recovered::OtherHash(name) => {
                other_hash.get_or_insert((k, name));
            }
            Recovered::Nothing => {}
        }
    }
    if let Some((k, name)) = other_hash {
        return Verdict::reject(
            Reason::Invalid,
            format!(
                "signature by trusted RSA-{bits} key {} is over {name}, not SHA-256 (sign with `openssl dgst -sha256 -sign`)",
                describe(k)
            ),
            Some(k.fingerprint),
        );
    }
    match candidates.as_slice() {
        [(k, _)] => {
            return Verdict::reject(
                Reason::Invalid,
                format!(
                    "RSA signature does not verify with the only trusted RSA-{bits} key, {} (content changed or signed by another key)",
                    describe(k)
                ),
                Some(k.fingerprint),
            );
        }
        [_, _, ..] => {
            return Verdict::reject(
                Reason::Invalid,
                format!(
                    "RSA signature does not verify with any of the {} trusted RSA-{bits} keys (content changed or signed by another key)",
                    candidates.len()
                ),
                None,
            );
        }
        [] => {}
    }
    if !revoked.is_empty() {
        return Verdict::reject(
            Reason::Untrusted,
            format!(
                "no trusted RSA key of {bits} bits: the {} revoked RSA-{bits} key(s) do not verify it either ({})",
                revoked.len(),
                sizes_text(&sizes)
            ),
            None,
        );
    }
    if STANDARD_SIGNATURE_LENS.contains(&len) {
        return Verdict::reject(
            Reason::Untrusted,
            format!(
                "signature is from an RSA-{bits} key, and there is no trusted RSA key of {bits} bits ({})",
                sizes_text(&sizes)
            ),
            None,
        );
    }
    Verdict::reject(
        Reason::Malformed,
        format!(
            "signature is {len} bytes, which is neither a standard RSA size nor the modulus size of a trusted RSA key \
             ({}): truncated, or not an RSA signature",
            sizes_text(&sizes)
        ),
        None,
    )
}

/// Builds an RSA key from big-endian modulus and exponent bytes, refusing
/// keys under [`MIN_BITS`] or over [`MAX_BITS`] bits and insane exponents.
fn rsa_key(modulus: &[u8], exponent: &[u8]) -> Result<KeyMaterial, String> {
    let modulus = modulus.strip_prefix(&[0]).unwrap_or(modulus);
    if modulus.len() > MAX_SIGNATURE_LEN {
        return Err(format!(
            "RSA key of more than {MAX_BITS} bits is too large (at most {MAX_BITS} supported)"
        ));
    }
    if exponent.len() > 8 {
        return Err("RSA public exponent is too large (at most 2^33-1)".to_string());
    }
    let n = BigUint::from_bytes_be(modulus);
    let e = BigUint::from_bytes_be(exponent);
    let bits = n.bits();
    if bits < MIN_BITS {
        return Err(format!(
            "RSA key of {bits} bits is too small (at least {MIN_BITS} required)"
        ));
    }
    if bits > MAX_BITS {
        return Err(format!(
            "RSA key of {bits} bits is too large (at most {MAX_BITS} supported)"
        ));
    }
    RsaPublicKey::new_with_max_size(n, e, MAX_BITS)
        .map(|k| KeyMaterial::Rsa(Box::new(k)))
        .map_err(|err| format!("invalid RSA public key: {err}"))
}

/// The name of a public-key algorithm OID, for messages.
fn algorithm_name(oid: &rsa::pkcs8::ObjectIdentifier) -> String {
    match x509_cert::der::oid::db::DB.by_oid(oid) {
        Some(name) => format!("{name} (OID {oid})"),
        None => format!("OID {oid}"),
    }
}

/// Reads a DER SubjectPublicKeyInfo (`PUBLIC KEY` PEM block): RSA (at least
/// 2048 bits) or Ed25519. Any other algorithm is an error naming its OID.
pub fn key_from_spki_der(der: &[u8]) -> Result<KeyMaterial, String> {
    let spki = rsa::pkcs8::SubjectPublicKeyInfoRef::from_der(der)
        .map_err(|e| format!("not a SubjectPublicKeyInfo: {e}"))?;
    let oid = spki.algorithm.oid;
    if oid == rsa::pkcs1::ALGORITHM_OID {
        // rsaEncryption parameters are NULL (RFC 3279); tolerate their absence.
        let params_ok = match &spki.algorithm.parameters {
            None => true,
            Some(p) => p.is_null(),
        };
        if !params_ok {
            return Err("rsaEncryption key has parameters other than NULL".to_string());
        }
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or("RSA key bit string has unused bits")?;
        return key_from_pkcs1_der(bits);
    }
    if oid == ed25519_dalek::pkcs8::ALGORITHM_OID {
        return ed25519_dalek::VerifyingKey::from_public_key_der(der)
            .map(KeyMaterial::Ed25519)
            .map_err(|e| format!("invalid Ed25519 public key: {e}"));
    }
    Err(format!(
        "unsupported public key algorithm {}: only RSA and Ed25519 keys are supported",
        algorithm_name(&oid)
    ))
}

/// Reads a DER PKCS#1 `RSAPublicKey` (`RSA PUBLIC KEY` PEM block).
pub fn key_from_pkcs1_der(der: &[u8]) -> Result<KeyMaterial, String> {
    let key = rsa::pkcs1::RsaPublicKey::from_der(der)
        .map_err(|e| format!("not a PKCS#1 RSA public key: {e}"))?;
    rsa_key(key.modulus.as_bytes(), key.public_exponent.as_bytes())
}

/// Reads a DER X.509 certificate (`CERTIFICATE` PEM block): its subject
/// public key (RSA or Ed25519) and its subject name as the label. Validity
/// dates, extensions and the issuer's signature are not checked: the
/// certificate is a container for a key the administrator trusts.
pub fn key_from_certificate_der(der: &[u8]) -> Result<(KeyMaterial, Option<String>), String> {
    let cert = x509_cert::Certificate::from_der(der)
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let tbs = &cert.tbs_certificate;
    let spki = tbs
        .subject_public_key_info
        .to_der()
        .map_err(|e| format!("certificate subject key cannot be re-encoded: {e}"))?;
    let material = key_from_spki_der(&spki).map_err(|e| format!("certificate subject key: {e}"))?;
    let subject: String = tbs
        .subject
        .to_string()
        .chars()
        .take(MAX_LABEL_CHARS)
        .collect();
    Ok((material, (!subject.is_empty()).then_some(subject)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::formats;
    use crate::trust::KeyFileError;
    use sha2::Digest;

    macro_rules! vector {
        ($name:literal) => {
            include_bytes!(concat!("../../../tests/vectors/rsa/", $name)).as_slice()
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
            Verdict::Verified { .. } => String::new(),
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
            key_from_spki_der(&der),
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
        assert!(matches!(&r, Err(e) if e.contains("too large")), "{r:?}");
        let huge = vec![0xffu8; 100_000];
        assert!(key_from_pkcs1_der(&pkcs1(&huge, &[3])).is_err());
        // Exactly 16384 bits is accepted.
        let max = vec![0xffu8; 2048];
        assert!(key_from_pkcs1_der(&pkcs1(&max, &[3])).is_ok());
        // 2047 bits is refused.
        let mut small = n.clone();
        small[0] = 0x7f;
        let r = key_from_pkcs1_der(&pkcs1(&small, &[3]));
        assert_eq!(
            r,
            Err("RSA key of 2047 bits is too small (at least 2048 required)".into())
        );
    }

    #[test]
    fn unsupported_spki_names_the_algorithm() {
        let mixed = pem::parse_many(MIXED).unwrap();
        let err = key_from_spki_der(mixed[1].contents()).unwrap_err();
        assert!(
            err.contains("id-ecPublicKey (OID 1.2.840.10045.2.1)"),
            "{err}"
        );
    }
}
