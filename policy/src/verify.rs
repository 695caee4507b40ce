//! Verdicts: does this file, as it is now, carry a valid signature by a
//! trusted key?
//!
//! The caller supplies the file's facts (base name, size, SHA-256, computed
//! from the open file) and the bytes of its signature file; this module
//! decides. The agent and `sigward verify` both call [`verify`], so they
//! cannot disagree.

use std::fmt;

use crate::fingerprint::Fingerprint;
use crate::native;
use crate::trust::{PublicKey, TrustStore};

/// The facts of the file being checked, computed by the caller from the open
/// file (never taken from the signature).
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// Base name the file was opened under.
    pub name: &'a [u8],
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content.
    pub sha256: &'a [u8; 32],
}

/// Why a file is refused. The words are stable: they appear in CLI output,
/// audit records and policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No signature file.
    Unsigned,
    /// A signature file that cannot be parsed.
    Malformed,
    /// The file's content, size or name differ from what was signed.
    Tampered,
    /// Signed, but by no trusted key.
    Untrusted,
    /// A trusted key's signature does not verify.
    Invalid,
}

impl Reason {
    /// The stable word for this reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unsigned => "unsigned",
            Reason::Malformed => "malformed",
            Reason::Tampered => "tampered",
            Reason::Untrusted => "untrusted",
            Reason::Invalid => "invalid",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A trusted key signed exactly this file.
    Verified {
        /// The key that verified.
        key: Fingerprint,
    },
    /// Refused.
    Rejected {
        /// Class of failure.
        reason: Reason,
        /// One readable sentence for operators.
        detail: String,
        /// The signer, when the signature names one.
        key: Option<Fingerprint>,
    },
}

impl Verdict {
    fn reject(reason: Reason, detail: impl Into<String>, key: Option<Fingerprint>) -> Self {
        Verdict::Rejected {
            reason,
            detail: detail.into(),
            key,
        }
    }

    /// True for [`Verdict::Verified`].
    pub fn is_verified(&self) -> bool {
        matches!(self, Verdict::Verified { .. })
    }

    /// The key named by the verdict, if any.
    pub fn key(&self) -> Option<Fingerprint> {
        match self {
            Verdict::Verified { key } => Some(*key),
            Verdict::Rejected { key, .. } => *key,
        }
    }
}

/// Verifies a file against the bytes of its signature file (`None` when
/// there is none) and a trust store.
pub fn verify(subject: &Subject<'_>, signature: Option<&[u8]>, trust: &TrustStore) -> Verdict {
    let Some(bytes) = signature else {
        return Verdict::reject(Reason::Unsigned, "no signature file", None);
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Verdict::reject(Reason::Malformed, "signature file is empty", None);
    }
    verify_native(subject, bytes, trust)
}

fn verify_native(subject: &Subject<'_>, bytes: &[u8], trust: &TrustStore) -> Verdict {
    let doc = match native::parse(bytes) {
        Ok(doc) => doc,
        Err(e) => return Verdict::reject(Reason::Malformed, e.to_string(), None),
    };
    // Check the recorded facts first: they explain a mismatch precisely. They
    // are only an explanation; the signature below is checked over the facts
    // computed from the file itself.
    let recorded = native::recorded_sha256(&doc).unwrap_or([0; 32]);
    let first_key = doc
        .signatures
        .first()
        .and_then(|e| Fingerprint::from_hex(&e.key));
    if doc.file.name.as_bytes() != subject.name {
        return Verdict::reject(
            Reason::Tampered,
            format!(
                "signature is for a file named {:?}, this file is named {:?}",
                doc.file.name,
                String::from_utf8_lossy(subject.name)
            ),
            first_key,
        );
    }
    if doc.file.size != subject.size || &recorded != subject.sha256 {
        return Verdict::reject(
            Reason::Tampered,
            format!(
                "content changed since signing: expected sha256 {} ({} bytes), found sha256 {} ({} bytes)",
                doc.file.sha256,
                doc.file.size,
                hex::encode(subject.sha256),
                subject.size
            ),
            first_key,
        );
    }
    let mut invalid: Option<(Fingerprint, String)> = None;
    let mut untrusted: Option<Fingerprint> = None;
    for (i, entry) in doc.signatures.iter().enumerate() {
        let entry = match native::decode_entry(i, entry) {
            Ok(e) => e,
            Err(e) => return Verdict::reject(Reason::Malformed, e.to_string(), None),
        };
        let Some(trusted) = trust.get(&entry.key) else {
            untrusted.get_or_insert(entry.key);
            continue;
        };
        let message = native::signed_message(
            subject.name,
            subject.size,
            subject.sha256,
            &entry.signed_at,
            &entry.key,
        );
        let ok = match &trusted.key {
            PublicKey::Ed25519(vk) => vk.verify_strict(&message, &entry.signature).is_ok(),
        };
        if ok {
            return Verdict::Verified { key: entry.key };
        }
        invalid.get_or_insert((entry.key, format!("signature {} does not verify", i + 1)));
    }
    if let Some((key, detail)) = invalid {
        return Verdict::reject(
            Reason::Invalid,
            format!("{detail} with trusted key {key}"),
            Some(key),
        );
    }
    let key = untrusted.or(first_key);
    Verdict::reject(
        Reason::Untrusted,
        match key {
            Some(k) => format!("signed by key {k}, which is not in the trust store"),
            None => "no signature by a trusted key".to_string(),
        },
        key,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::{sign, to_text};
    use crate::trust::TrustedKey;
    use ed25519_dalek::SigningKey;
    use sha2::{Digest, Sha256};

    const T: &str = "2026-11-21T00:00:00Z";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn store(keys: &[&SigningKey]) -> TrustStore {
        let mut ts = TrustStore::new();
        for k in keys {
            let pk = PublicKey::Ed25519(k.verifying_key());
            ts.insert(TrustedKey {
                fingerprint: pk.fingerprint(),
                key: pk,
                source: "test".into(),
                block: 1,
            });
        }
        ts
    }

    fn sig_for(k: &SigningKey, name: &str, content: &[u8]) -> String {
        let h: [u8; 32] = Sha256::digest(content).into();
        to_text(&sign(None, k, name, content.len() as u64, &h, T))
    }

    fn check(name: &str, content: &[u8], sig: Option<&str>, ts: &TrustStore) -> Verdict {
        let h: [u8; 32] = Sha256::digest(content).into();
        let subject = Subject {
            name: name.as_bytes(),
            size: content.len() as u64,
            sha256: &h,
        };
        verify(&subject, sig.map(str::as_bytes), ts)
    }

    fn reason(v: &Verdict) -> Option<Reason> {
        match v {
            Verdict::Verified { .. } => None,
            Verdict::Rejected { reason, .. } => Some(*reason),
        }
    }

    #[test]
    fn verified() {
        let k = key(1);
        let sig = sig_for(&k, "a.py", b"print(1)\n");
        let v = check("a.py", b"print(1)\n", Some(&sig), &store(&[&k]));
        assert_eq!(
            v,
            Verdict::Verified {
                key: Fingerprint::of_ed25519(&k.verifying_key())
            }
        );
    }

    #[test]
    fn unsigned_and_malformed() {
        let ts = store(&[&key(1)]);
        assert_eq!(reason(&check("a", b"x", None, &ts)), Some(Reason::Unsigned));
        assert_eq!(
            reason(&check("a", b"x", Some(""), &ts)),
            Some(Reason::Malformed)
        );
        assert_eq!(
            reason(&check("a", b"x", Some("garbage"), &ts)),
            Some(Reason::Malformed)
        );
    }

    #[test]
    fn tampered_content_size_and_name() {
        let k = key(1);
        let ts = store(&[&k]);
        let sig = sig_for(&k, "a.py", b"print(1)\n");
        let v = check("a.py", b"print(2)\n", Some(&sig), &ts);
        assert_eq!(reason(&v), Some(Reason::Tampered));
        assert!(
            matches!(&v, Verdict::Rejected { detail, .. } if detail.contains("expected sha256"))
        );
        assert_eq!(
            reason(&check("a.py", b"print(1)\nx", Some(&sig), &ts)),
            Some(Reason::Tampered)
        );
        let renamed = check("auth.py", b"print(1)\n", Some(&sig), &ts);
        assert_eq!(reason(&renamed), Some(Reason::Tampered));
        assert!(matches!(&renamed, Verdict::Rejected { detail, .. } if detail.contains("auth.py")));
    }

    #[test]
    fn untrusted() {
        let sig = sig_for(&key(2), "a", b"x");
        let v = check("a", b"x", Some(&sig), &store(&[&key(1)]));
        assert_eq!(reason(&v), Some(Reason::Untrusted));
        assert_eq!(
            v.key(),
            Some(Fingerprint::of_ed25519(&key(2).verifying_key()))
        );
        assert_eq!(
            reason(&check("a", b"x", Some(&sig), &TrustStore::new())),
            Some(Reason::Untrusted)
        );
    }

    #[test]
    fn invalid_signature_and_edited_fields() {
        let k = key(1);
        let ts = store(&[&k]);
        let sig = sig_for(&k, "a", b"x");
        // Flip one bit of the signature bytes.
        let mut doc = native::parse(sig.as_bytes()).unwrap_or_else(|_| unreachable!());
        let mut raw = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            &doc.signatures[0].signature,
        )
        .unwrap_or_default();
        raw[10] ^= 1;
        doc.signatures[0].signature =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &raw);
        assert_eq!(
            reason(&check("a", b"x", Some(&to_text(&doc)), &ts)),
            Some(Reason::Invalid)
        );
        // Editing the signing time breaks the signature too.
        let mut doc = native::parse(sig.as_bytes()).unwrap_or_else(|_| unreachable!());
        doc.signatures[0].signed_at = "2030-01-01T00:00:00Z".into();
        assert_eq!(
            reason(&check("a", b"x", Some(&to_text(&doc)), &ts)),
            Some(Reason::Invalid)
        );
        // Rewriting the recorded hash to match tampered content: still invalid.
        let mut doc = native::parse(sig.as_bytes()).unwrap_or_else(|_| unreachable!());
        doc.file.sha256 = hex::encode(Sha256::digest(b"y"));
        assert_eq!(
            reason(&check("a", b"y", Some(&to_text(&doc)), &ts)),
            Some(Reason::Invalid)
        );
    }

    #[test]
    fn any_trusted_cosigner_suffices() {
        let (a, b) = (key(1), key(2));
        let h: [u8; 32] = Sha256::digest(b"x").into();
        let doc = sign(None, &a, "f", 1, &h, T);
        let doc = sign(Some(doc), &b, "f", 1, &h, T);
        let v = check("f", b"x", Some(&to_text(&doc)), &store(&[&b]));
        assert_eq!(v.key(), Some(Fingerprint::of_ed25519(&b.verifying_key())));
        assert!(v.is_verified());
    }

    #[test]
    fn non_canonical_signature_is_rejected_by_verify_strict() {
        // A small-order R component: accepted by lax verifiers, refused by
        // verify_strict.
        let k = key(1);
        let ts = store(&[&k]);
        let sig = sig_for(&k, "a", b"x");
        let mut doc = native::parse(sig.as_bytes()).unwrap_or_else(|_| unreachable!());
        let mut raw = [0u8; 64];
        raw[0] = 1; // R = identity point encoding
        doc.signatures[0].signature =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw);
        assert_eq!(
            reason(&check("a", b"x", Some(&to_text(&doc)), &ts)),
            Some(Reason::Invalid)
        );
    }
}
