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

/// Why a public key (or the certificate holding it) cannot be trusted. Its
/// `Display` is the warning given when the PEM block is skipped.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The modulus is longer than a [`MAX_BITS`] key's.
    #[error("RSA key of more than {MAX_BITS} bits is too large (at most {MAX_BITS} supported)")]
    ModulusTooLong {
        /// The modulus length in bytes (without a leading zero).
        len: usize,
    },
    /// The public exponent is longer than 8 bytes.
    #[error("RSA public exponent is too large (at most 2^33-1)")]
    ExponentTooLarge {
        /// The exponent length in bytes.
        len: usize,
    },
    /// The modulus has fewer than [`MIN_BITS`] bits.
    #[error("RSA key of {bits} bits is too small (at least {MIN_BITS} required)")]
    TooSmall {
        /// The modulus size in bits.
        bits: usize,
    },
    /// The modulus has more than [`MAX_BITS`] bits.
    #[error("RSA key of {bits} bits is too large (at most {MAX_BITS} supported)")]
    TooLarge {
        /// The modulus size in bits.
        bits: usize,
    },
    /// The `rsa` crate refuses the key (even modulus, insane exponent...).
    #[error("invalid RSA public key: {0}")]
    InvalidRsa(#[source] rsa::Error),
    /// A `PUBLIC KEY` block is not a DER SubjectPublicKeyInfo.
    #[error("not a SubjectPublicKeyInfo: {0}")]
    NotSpki(#[source] rsa::pkcs8::der::Error),
    /// An `rsaEncryption` key whose algorithm parameters are not NULL.
    #[error("rsaEncryption key has parameters other than NULL")]
    RsaParameters,
    /// The key's BIT STRING does not hold whole bytes.
    #[error("RSA key bit string has unused bits")]
    UnusedBits,
    /// An Ed25519 SubjectPublicKeyInfo that does not hold an Ed25519 key.
    #[error("invalid Ed25519 public key: {0}")]
    InvalidEd25519(#[source] ed25519_dalek::pkcs8::spki::Error),
    /// A key of another algorithm.
    #[error(
        "unsupported public key algorithm {}: only RSA and Ed25519 keys are supported",
        algorithm_name(oid, *name)
    )]
    UnsupportedAlgorithm {
        /// The algorithm's OID.
        oid: rsa::pkcs8::ObjectIdentifier,
        /// Its name, when the OID database knows it.
        name: Option<&'static str>,
    },
    /// An `RSA PUBLIC KEY` block is not a DER PKCS#1 `RSAPublicKey`.
    #[error("not a PKCS#1 RSA public key: {0}")]
    NotPkcs1(#[source] rsa::pkcs1::der::Error),
    /// A `CERTIFICATE` block is not a DER X.509 certificate.
    #[error("not an X.509 certificate: {0}")]
    NotCertificate(#[source] x509_cert::der::Error),
    /// The certificate's subject key cannot be encoded again as DER.
    #[error("certificate subject key cannot be re-encoded: {0}")]
    SubjectKeyEncoding(#[source] x509_cert::der::Error),
    /// The certificate's subject key cannot be trusted.
    #[error("certificate subject key: {0}")]
    SubjectKey(#[source] Box<KeyError>),
}

/// Builds an RSA key from big-endian modulus and exponent bytes, refusing
/// keys under [`MIN_BITS`] or over [`MAX_BITS`] bits and insane exponents.
fn rsa_key(modulus: &[u8], exponent: &[u8]) -> Result<KeyMaterial, KeyError> {
    let modulus = modulus.strip_prefix(&[0]).unwrap_or(modulus);
    if modulus.len() > MAX_SIGNATURE_LEN {
        return Err(KeyError::ModulusTooLong { len: modulus.len() });
    }
    if exponent.len() > 8 {
        return Err(KeyError::ExponentTooLarge {
            len: exponent.len(),
        });
    }
    let n = BigUint::from_bytes_be(modulus);
    let e = BigUint::from_bytes_be(exponent);
    let bits = n.bits();
    if bits < MIN_BITS {
        return Err(KeyError::TooSmall { bits });
    }
    if bits > MAX_BITS {
        return Err(KeyError::TooLarge { bits });
    }
    RsaPublicKey::new_with_max_size(n, e, MAX_BITS)
        .map(|k| KeyMaterial::Rsa(Box::new(k)))
        .map_err(KeyError::InvalidRsa)
}

/// The name of a public-key algorithm OID, for messages.
fn algorithm_name(oid: &rsa::pkcs8::ObjectIdentifier, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{name} (OID {oid})"),
        None => format!("OID {oid}"),
    }
}

/// Reads a DER SubjectPublicKeyInfo (`PUBLIC KEY` PEM block): RSA (at least
/// 2048 bits) or Ed25519. Any other algorithm is an error naming its OID.
pub fn key_from_spki_der(der: &[u8]) -> Result<KeyMaterial, KeyError> {
    let spki = rsa::pkcs8::SubjectPublicKeyInfoRef::from_der(der).map_err(KeyError::NotSpki)?;
    let oid = spki.algorithm.oid;
    if oid == rsa::pkcs1::ALGORITHM_OID {
        // rsaEncryption parameters are NULL (RFC 3279); tolerate their absence.
        let params_ok = match &spki.algorithm.parameters {
            None => true,
            Some(p) => p.is_null(),
        };
        if !params_ok {
            return Err(KeyError::RsaParameters);
        }
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or(KeyError::UnusedBits)?;
        return key_from_pkcs1_der(bits);
    }
    if oid == ed25519_dalek::pkcs8::ALGORITHM_OID {
        return ed25519_dalek::VerifyingKey::from_public_key_der(der)
            .map(KeyMaterial::Ed25519)
            .map_err(KeyError::InvalidEd25519);
    }
    Err(KeyError::UnsupportedAlgorithm {
        oid,
        name: x509_cert::der::oid::db::DB.by_oid(&oid),
    })
}

/// Reads a DER PKCS#1 `RSAPublicKey` (`RSA PUBLIC KEY` PEM block).
pub fn key_from_pkcs1_der(der: &[u8]) -> Result<KeyMaterial, KeyError> {
    let key = rsa::pkcs1::RsaPublicKey::from_der(der).map_err(KeyError::NotPkcs1)?;
    rsa_key(key.modulus.as_bytes(), key.public_exponent.as_bytes())
}

/// Reads a DER X.509 certificate (`CERTIFICATE` PEM block): its subject
/// public key (RSA or Ed25519) and its subject name as the label. Validity
/// dates, extensions and the issuer's signature are not checked: the
/// certificate is a container for a key the administrator trusts.
pub fn key_from_certificate_der(der: &[u8]) -> Result<(KeyMaterial, Option<String>), KeyError> {
    let cert = x509_cert::Certificate::from_der(der).map_err(KeyError::NotCertificate)?;
    let tbs = &cert.tbs_certificate;
    let spki = tbs
        .subject_public_key_info
        .to_der()
        .map_err(KeyError::SubjectKeyEncoding)?;
    let material = key_from_spki_der(&spki).map_err(|e| KeyError::SubjectKey(Box::new(e)))?;
    let subject: String = tbs
        .subject
        .to_string()
        .chars()
        .take(MAX_LABEL_CHARS)
        .collect();
    Ok((material, (!subject.is_empty()).then_some(subject)))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod error_texts;
