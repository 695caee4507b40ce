//! Cloacina package signatures.
//!
//! Cloacina signs a package file (`libfoo.so`) with Ed25519 over the raw
//! 32-byte SHA-256 digest of the file and writes the detached signature
//! `libfoo.so.sig`, `serde_json::to_string_pretty` of its
//! `DetachedSignature` (no trailing newline):
//!
//! ```json
//! {
//!   "version": 1,
//!   "algorithm": "ed25519",
//!   "package_hash": "<64 lowercase hex: SHA-256 of the file>",
//!   "key_fingerprint": "<64 hex: SHA-256 of the raw 32-byte public key>",
//!   "signature": "<standard base64 of the 64-byte signature>",
//!   "signed_at": "2026-01-28T14:15:49.145483+00:00"
//! }
//! ```
//!
//! `signed_at` is not signed. Cloacina checks, in order, each with its own
//! error: the hash matches the file (`TamperedPackage`, with expected and
//! actual hashes), the fingerprint names a trusted key (`UntrustedSigner`),
//! the signature verifies (`InvalidSignature`); an unreadable file is
//! `MalformedSignature(reason)`. Here they map to `tampered`, `untrusted`,
//! `invalid` and `malformed`, in the same order, with a revoked key
//! (`revoked`) refused before the trust lookup.
//!
//! The whole document is validated before any of those checks (version 1,
//! algorithm `ed25519`, both hex fields, the base64 signature of 64 bytes),
//! so a broken file is always `malformed`. Hex is accepted in either case
//! (the digest compared here is the decoded one); Cloacina compares
//! lower-case strings and refuses upper-case hex, so a success with it
//! carries a warning ([`Decoded::host_warnings`]). The signature is always checked over the digest computed
//! from the file, never over `package_hash`.
//!
//! Trust: Cloacina public keys are SPKI `PUBLIC KEY` PEM files, loaded by
//! [`crate::trust::TrustStore::add_file`]; keys are found by fingerprint.

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey};
use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprint;
use crate::formats::{Evidence, Format, Needs, Options, Sniff};
use crate::trust::TrustStore;
use crate::verify::{Reason, Subject, Verdict};

/// The signature format version Cloacina writes.
pub const VERSION: u64 = 1;

/// The only algorithm, spelled as Cloacina spells it.
pub const ALGORITHM: &str = "ed25519";

/// Upper bound on a `.sig` file read as Cloacina's (real ones are ~380 bytes).
pub const MAX_SIG_BYTES: usize = 64 * 1024;

/// Cloacina's `DetachedSignature`, fields in its order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetachedSignature {
    /// Always 1.
    pub version: u64,
    /// Always `ed25519`.
    pub algorithm: String,
    /// Hex SHA-256 of the package file.
    pub package_hash: String,
    /// Hex SHA-256 of the signer's raw public key.
    pub key_fingerprint: String,
    /// Standard base64 of the 64-byte signature.
    pub signature: String,
    /// When it was signed (RFC 3339; not signed).
    pub signed_at: String,
}

/// A signature file decoded into typed values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The document itself.
    pub doc: DetachedSignature,
    /// `package_hash`.
    pub sha256: [u8; 32],
    /// `key_fingerprint`.
    pub key: Fingerprint,
    /// `signature`.
    pub signature: Signature,
}

/// A JSON object with a `package_hash` member: unmistakably Cloacina's.
pub fn sniff(bytes: &[u8]) -> Sniff {
    let looks_json = bytes.trim_ascii_start().first() == Some(&b'{');
    if looks_json && bytes.windows(14).any(|w| w == b"\"package_hash\"") {
        Sniff::Yes
    } else {
        Sniff::No
    }
}

/// Cloacina signs the SHA-256 digest: nothing else is needed.
pub fn needs(_bytes: &[u8], _opts: &Options) -> Needs {
    Needs::default()
}

/// Why a Cloacina signature file cannot be read (Cloacina's
/// `MalformedSignature` reason). Its `Display` is the detail of the
/// refusal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The file is larger than [`MAX_SIG_BYTES`].
    #[error("Cloacina signature file is {len} bytes (at most {MAX_SIG_BYTES} are read)")]
    TooLarge {
        /// The file's size in bytes.
        len: usize,
    },
    /// The file is not the JSON document Cloacina writes.
    #[error("not a Cloacina signature file: {0}")]
    Json(#[source] serde_json::Error),
    /// `version` is not [`VERSION`].
    #[error("unsupported Cloacina signature version {version} (expected {VERSION})")]
    Version {
        /// The version the file gives.
        version: u64,
    },
    /// `algorithm` is not [`ALGORITHM`].
    #[error("unsupported Cloacina signature algorithm {algorithm:?} (expected {ALGORITHM:?})")]
    Algorithm {
        /// The algorithm the file gives.
        algorithm: String,
    },
    /// `package_hash` is not 64 hex characters.
    #[error("package_hash is not 64 hex characters")]
    PackageHash,
    /// `key_fingerprint` is not 64 hex characters.
    #[error("key_fingerprint is not 64 hex characters")]
    KeyFingerprint,
    /// `signature` is not standard base64.
    #[error("signature is not standard base64: {0}")]
    SignatureBase64(#[source] base64::DecodeError),
    /// `signature` does not decode to 64 bytes.
    #[error("signature is {len} bytes, expected 64")]
    SignatureLength {
        /// The number of bytes decoded.
        len: usize,
    },
}

/// Cloacina compares `package_hash` as text with the lower-case hex of the
/// digest it computes: upper-case hex decodes to the same digest here, but
/// Cloacina refuses the package (`TamperedPackage`).
pub const WARN_UPPER_PACKAGE_HASH: &str =
    "upper-case hex in package_hash: Cloacina compares it as text and will refuse this package";

/// Cloacina finds the signer by comparing `key_fingerprint` as text with the
/// lower-case fingerprints of its trusted keys (`UntrustedSigner`).
pub const WARN_UPPER_KEY_FINGERPRINT: &str =
    "upper-case hex in key_fingerprint: Cloacina compares it as text and will refuse this package";

impl Decoded {
    /// What sigward accepts in this signature and Cloacina refuses (see
    /// [`Verdict::Verified`]'s `warnings`): upper-case hex in
    /// `package_hash` or `key_fingerprint`.
    pub fn host_warnings(&self) -> Vec<String> {
        let upper = crate::formats::conductor::has_upper;
        let mut out = Vec::new();
        if upper(&self.doc.package_hash) {
            out.push(WARN_UPPER_PACKAGE_HASH.to_string());
        }
        if upper(&self.doc.key_fingerprint) {
            out.push(WARN_UPPER_KEY_FINGERPRINT.to_string());
        }
        out
    }
}

/// Parses and decodes a signature file; the error is Cloacina's
/// `MalformedSignature` reason.
pub fn parse(bytes: &[u8]) -> Result<Decoded, ParseError> {
    if bytes.len() > MAX_SIG_BYTES {
        return Err(ParseError::TooLarge { len: bytes.len() });
    }
    let doc: DetachedSignature = serde_json::from_slice(bytes).map_err(ParseError::Json)?;
    if doc.version != VERSION {
        return Err(ParseError::Version {
            version: doc.version,
        });
    }
    if doc.algorithm != ALGORITHM {
        return Err(ParseError::Algorithm {
            algorithm: doc.algorithm,
        });
    }
    let mut sha256 = [0u8; 32];
    hex::decode_to_slice(&doc.package_hash, &mut sha256).map_err(|_| ParseError::PackageHash)?;
    let key = Fingerprint::from_hex(&doc.key_fingerprint).ok_or(ParseError::KeyFingerprint)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&doc.signature)
        .map_err(ParseError::SignatureBase64)?;
    let sig: [u8; 64] = raw
        .as_slice()
        .try_into()
        .map_err(|_| ParseError::SignatureLength { len: raw.len() })?;
    Ok(Decoded {
        sha256,
        key,
        signature: Signature::from_bytes(&sig),
        doc,
    })
}

/// Verifies a Cloacina signature.
pub fn verify(
    subject: &Subject<'_>,
    bytes: &[u8],
    _evidence: &Evidence<'_>,
    trust: &TrustStore,
    _opts: &Options,
) -> Verdict {
    let d = match parse(bytes) {
        Ok(d) => d,
        Err(why) => return Verdict::reject(Reason::Malformed, why.to_string(), None),
    };
    let fp = d.key;
    if &d.sha256 != subject.sha256 {
        return Verdict::reject(
            Reason::Tampered,
            format!(
                "package has been tampered with: hash mismatch (expected {}, got {})",
                hex::encode(d.sha256),
                hex::encode(subject.sha256)
            ),
            Some(fp),
        );
    }
    if trust.is_revoked(&fp) {
        return Verdict::reject(
            Reason::Revoked,
            format!("package signed by revoked key {fp}"),
            Some(fp),
        );
    }
    let Some((trusted, vk)) = trust.ed25519(&fp) else {
        return Verdict::reject(
            Reason::Untrusted,
            format!("package signed by untrusted key {fp} (not in the trust store)"),
            Some(fp),
        );
    };
    if vk.verify_strict(subject.sha256, &d.signature).is_err() {
        return Verdict::reject(
            Reason::Invalid,
            format!("invalid signature: cryptographic verification failed with trusted key {fp}"),
            Some(fp),
        );
    }
    Verdict::verified(fp, Format::Cloacina, trusted.label.clone()).with_warnings(d.host_warnings())
}

/// Writes the detached signature Cloacina writes for a package with this
/// SHA-256: pretty-printed JSON, fields in Cloacina's order, and no trailing
/// newline (Cloacina writes `to_string_pretty` as is).
pub fn sign(key: &SigningKey, sha256: &[u8; 32], signed_at: &str) -> String {
    let doc = DetachedSignature {
        version: VERSION,
        algorithm: ALGORITHM.to_string(),
        package_hash: hex::encode(sha256),
        key_fingerprint: Fingerprint::of_ed25519(&key.verifying_key()).to_string(),
        signature: base64::engine::general_purpose::STANDARD.encode(key.sign(sha256).to_bytes()),
        signed_at: signed_at.to_string(),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

#[cfg(test)]
mod error_texts;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::formats;
    use crate::trust::{KeyMaterial, KeyOrigin, TrustedKey};
    use ed25519_dalek::pkcs8::DecodePublicKey;
    use sha2::{Digest, Sha256};

    const PACKAGE: &[u8] = include_bytes!("../../../tests/vectors/cloacina/libworkflow.so");
    const TAMPERED: &[u8] =
        include_bytes!("../../../tests/vectors/cloacina/libworkflow-tampered.so");
    const SIG: &[u8] = include_bytes!("../../../tests/vectors/cloacina/libworkflow.so.sig");
    const UNTRUSTED_SIG: &[u8] =
        include_bytes!("../../../tests/vectors/cloacina/libworkflow.so.untrusted.sig");
    const BAD_SIG: &[u8] =
        include_bytes!("../../../tests/vectors/cloacina/libworkflow.so.badsig.sig");
    const PEM: &[u8] = include_bytes!("../../../tests/vectors/cloacina/release.pub.pem");

    const T: &str = "2026-01-28T14:15:49.145483+00:00";

    fn release_fp() -> Fingerprint {
        let text = std::str::from_utf8(PEM).unwrap();
        let vk = ed25519_dalek::VerifyingKey::from_public_key_pem(text).unwrap();
        Fingerprint::of_ed25519(&vk)
    }

    fn store() -> TrustStore {
        let mut ts = TrustStore::new();
        assert_eq!(ts.add_file("release.pub.pem", PEM).unwrap().added, 1);
        ts
    }

    fn check(content: &[u8], sig: &[u8], ts: &TrustStore) -> Verdict {
        let h: [u8; 32] = Sha256::digest(content).into();
        let subject = Subject::new(b"libworkflow.so", content.len() as u64, &h);
        let evidence = Evidence {
            sig: Some(sig),
            ..Evidence::default()
        };
        let opts = Options::default();
        let direct = verify(&subject, sig, &evidence, ts, &opts);
        let dispatched = formats::verify(&subject, &evidence, ts, &opts);
        assert_eq!(dispatched, direct.clone().in_format(Format::Cloacina));
        direct
    }

    fn detail(v: &Verdict) -> String {
        match v {
            Verdict::Rejected { detail, .. } => detail.clone(),
            Verdict::Verified { .. } | Verdict::Listed { .. } => String::new(),
        }
    }

    #[test]
    fn interop_valid() {
        let d = parse(SIG).unwrap();
        assert_eq!(d.key, release_fp());
        assert_eq!(
            check(PACKAGE, SIG, &store()),
            Verdict::verified(release_fp(), Format::Cloacina, None)
        );
        assert_eq!(sniff(SIG), Sniff::Yes);
    }

    #[test]
    fn interop_tampered() {
        let v = check(TAMPERED, SIG, &store());
        assert_eq!(v.reason(), Some(Reason::Tampered));
        assert_eq!(v.key(), Some(release_fp()));
        let d = detail(&v);
        assert!(
            d.contains(&format!(
                "expected {}",
                hex::encode(Sha256::digest(PACKAGE))
            )),
            "{d}"
        );
        assert!(
            d.contains(&format!("got {}", hex::encode(Sha256::digest(TAMPERED)))),
            "{d}"
        );
        // Tampering is reported before trust, as Cloacina does.
        assert_eq!(
            check(TAMPERED, SIG, &TrustStore::new()).reason(),
            Some(Reason::Tampered)
        );
    }

    #[test]
    fn interop_untrusted_and_invalid() {
        let ts = store();
        let v = check(PACKAGE, UNTRUSTED_SIG, &ts);
        assert_eq!(v.reason(), Some(Reason::Untrusted));
        let fp = parse(UNTRUSTED_SIG).unwrap().key;
        assert_eq!(v.key(), Some(fp));
        assert!(detail(&v).contains(&fp.to_string()));
        // The trusted key signed the hex text, not the digest.
        let v = check(PACKAGE, BAD_SIG, &ts);
        assert_eq!(v.reason(), Some(Reason::Invalid));
        assert_eq!(v.key(), Some(release_fp()));
        assert_eq!(
            check(PACKAGE, SIG, &TrustStore::new()).reason(),
            Some(Reason::Untrusted)
        );
    }

    #[test]
    fn revoked() {
        let mut ts = store();
        ts.revoke(release_fp());
        let v = check(PACKAGE, SIG, &ts);
        assert_eq!(v.reason(), Some(Reason::Revoked));
        assert_eq!(v.key(), Some(release_fp()));
        // Revoked even when no longer trusted.
        let mut ts = TrustStore::new();
        ts.revoke(release_fp());
        assert_eq!(check(PACKAGE, SIG, &ts).reason(), Some(Reason::Revoked));
    }

    #[test]
    fn our_signer_writes_what_cloacina_writes() {
        // The vector key is derived from a fixed label (see make.py).
        let seed: [u8; 32] = Sha256::digest(b"sigward interop vector key: cloacina release").into();
        let key = SigningKey::from_bytes(&seed);
        assert_eq!(Fingerprint::of_ed25519(&key.verifying_key()), release_fp());
        let h: [u8; 32] = Sha256::digest(PACKAGE).into();
        assert_eq!(sign(&key, &h, T).as_bytes(), SIG);
    }

    #[test]
    fn label_and_key_origins() {
        let k = SigningKey::from_bytes(&[1; 32]);
        let mut ts = TrustStore::new();
        ts.insert(
            TrustedKey::new(
                KeyMaterial::Ed25519(k.verifying_key()),
                "k",
                1,
                KeyOrigin::Hex,
            )
            .with_label(Some("release".into())),
        );
        let h: [u8; 32] = Sha256::digest(b"pkg").into();
        let sig = sign(&k, &h, T);
        assert_eq!(
            check(b"pkg", sig.as_bytes(), &ts),
            Verdict::verified(
                Fingerprint::of_ed25519(&k.verifying_key()),
                Format::Cloacina,
                Some("release".into())
            )
        );
    }

    #[test]
    fn upper_case_hex_verifies_with_a_warning() {
        // Cloacina compares package_hash and key_fingerprint as text and
        // refuses upper-case hex: sigward reads the same bytes, and says so.
        let ts = store();
        let doc: DetachedSignature = serde_json::from_slice(SIG).unwrap();
        assert!(check(PACKAGE, SIG, &ts).warnings().is_empty());
        let mut d = doc.clone();
        d.package_hash = d.package_hash.to_uppercase();
        let v = check(
            PACKAGE,
            serde_json::to_string_pretty(&d).unwrap().as_bytes(),
            &ts,
        );
        assert!(v.is_verified());
        assert_eq!(
            v.warnings(),
            ["upper-case hex in package_hash: Cloacina compares it as text and will refuse this package"]
        );
        d.key_fingerprint = d.key_fingerprint.to_uppercase();
        let v = check(
            PACKAGE,
            serde_json::to_string_pretty(&d).unwrap().as_bytes(),
            &ts,
        );
        assert!(v.is_verified());
        assert_eq!(
            v.warnings(),
            [WARN_UPPER_PACKAGE_HASH, WARN_UPPER_KEY_FINGERPRINT]
        );
        // A refusal carries no warning.
        assert!(check(
            TAMPERED,
            serde_json::to_string_pretty(&d).unwrap().as_bytes(),
            &ts
        )
        .warnings()
        .is_empty());
    }

    #[test]
    fn flipped_signature_and_edited_fields() {
        let ts = store();
        let doc: DetachedSignature = serde_json::from_slice(SIG).unwrap();
        let edit = |f: &dyn Fn(&mut DetachedSignature)| {
            let mut d = doc.clone();
            f(&mut d);
            serde_json::to_string_pretty(&d).unwrap()
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let flipped = edit(&|d| {
            let mut raw = b64.decode(&d.signature).unwrap();
            raw[40] ^= 0x80;
            d.signature = b64.encode(raw);
        });
        assert_eq!(
            check(PACKAGE, flipped.as_bytes(), &ts).reason(),
            Some(Reason::Invalid)
        );
        // signed_at is not signed.
        let retimed = edit(&|d| d.signed_at = "2030-01-01T00:00:00Z".into());
        assert!(check(PACKAGE, retimed.as_bytes(), &ts).is_verified());
        // Uppercase hex reads the same; unknown members are ignored.
        let upper = edit(&|d| d.package_hash = d.package_hash.to_uppercase());
        assert!(check(PACKAGE, upper.as_bytes(), &ts).is_verified());
        let extra = SIG.strip_suffix(b"\n}").unwrap_or(&SIG[..SIG.len() - 2]);
        let extra = format!(
            "{},\n  \"comment\": \"x\"\n}}",
            std::str::from_utf8(extra).unwrap()
        );
        assert!(
            check(PACKAGE, extra.as_bytes(), &ts).is_verified(),
            "{extra}"
        );
        // Rewriting the hash to match tampered content: signature fails.
        let rehashed = edit(&|d| d.package_hash = hex::encode(Sha256::digest(TAMPERED)));
        assert_eq!(
            check(TAMPERED, rehashed.as_bytes(), &ts).reason(),
            Some(Reason::Invalid)
        );
        // Pointing the fingerprint at another key.
        let other = edit(&|d| d.key_fingerprint = Fingerprint::of_raw_key(&[5; 32]).to_string());
        assert_eq!(
            check(PACKAGE, other.as_bytes(), &ts).reason(),
            Some(Reason::Untrusted)
        );
        // A small-order R: lax verifiers accept, verify_strict refuses.
        let weak = edit(&|d| {
            let mut raw = [0u8; 64];
            raw[0] = 1;
            d.signature = b64.encode(raw);
        });
        assert_eq!(
            check(PACKAGE, weak.as_bytes(), &ts).reason(),
            Some(Reason::Invalid)
        );
    }

    #[test]
    fn malformed() {
        let ts = store();
        let doc: DetachedSignature = serde_json::from_slice(SIG).unwrap();
        let with = |d: DetachedSignature| serde_json::to_string(&d).unwrap();
        let cases: Vec<(String, &str)> = vec![
            (
                with(DetachedSignature {
                    version: 2,
                    ..doc.clone()
                }),
                "version 2",
            ),
            (
                with(DetachedSignature {
                    algorithm: "Ed25519".into(),
                    ..doc.clone()
                }),
                "algorithm",
            ),
            (
                with(DetachedSignature {
                    package_hash: "00".into(),
                    ..doc.clone()
                }),
                "package_hash",
            ),
            (
                with(DetachedSignature {
                    key_fingerprint: "zz".into(),
                    ..doc.clone()
                }),
                "key_fingerprint",
            ),
            (
                with(DetachedSignature {
                    signature: "!!!!".into(),
                    ..doc.clone()
                }),
                "base64",
            ),
            (
                with(DetachedSignature {
                    signature: "AAAA".into(),
                    ..doc.clone()
                }),
                "3 bytes",
            ),
            (
                String::from_utf8(SIG[..SIG.len() - 10].to_vec()).unwrap(),
                "not a Cloacina",
            ),
            (r#"{"package_hash": "x"}"#.into(), "missing field"),
            (
                format!("{{\"package_hash\":\"{}\"}}", "a".repeat(MAX_SIG_BYTES)),
                "at most",
            ),
        ];
        for (text, want) in cases {
            let v = check(PACKAGE, text.as_bytes(), &ts);
            assert_eq!(v.reason(), Some(Reason::Malformed), "{text}");
            assert!(detail(&v).contains(want), "{want}: {}", detail(&v));
        }
        assert_eq!(sniff(b"{\"plugin_hash\": 1}"), Sniff::No);
        assert_eq!(sniff(b"[\"package_hash\"]"), Sniff::No);
        assert_eq!(sniff(&[0xff; 4096]), Sniff::No);
        let deep = format!("{{\"package_hash\":{}", "[".repeat(100_000));
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn mutated_signature_files_never_panic() {
        let h: [u8; 32] = Sha256::digest(PACKAGE).into();
        let subject = Subject {
            content: Some(PACKAGE),
            ..Subject::new(b"libworkflow.so", PACKAGE.len() as u64, &h)
        };
        crate::formats::testutil::mutations_never_name_another_key(
            verify,
            &subject,
            SIG,
            None,
            &store(),
            release_fp(),
        );
    }
}
