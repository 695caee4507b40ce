//! sigward's native detached signature format (version 1).
//!
//! A signature file `<file>.sig` is a JSON document:
//!
//! ```json
//! {
//!   "sigward": 1,
//!   "file": { "name": "auth.py", "size": 1234, "sha256": "<64 hex>" },
//!   "signatures": [
//!     { "algorithm": "ed25519", "key": "<fingerprint>",
//!       "signed_at": "2026-11-21T12:00:00Z", "signature": "<base64>" }
//!   ]
//! }
//! ```
//!
//! Each signature is Ed25519 over [`signed_message`], which binds a fixed
//! context string, the file's size, SHA-256 and base name, the signing time
//! and the signer's fingerprint. The `file` object repeats what was signed so
//! that a mismatch can be explained ("expected ..., found ..."); it is never
//! trusted on its own: the message is always rebuilt from the file as it is.
//! See `docs/signature-format.md` for the full specification.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprint;

/// Domain separation: no other protocol signs messages starting with this.
pub const CONTEXT: &[u8] = b"sigward file signature v1\0";

/// The format version this code reads and writes.
pub const VERSION: u64 = 1;

/// The only algorithm of version 1.
pub const ALGORITHM_ED25519: &str = "ed25519";

/// Upper bound on signatures in one file, to bound work per verification.
pub const MAX_SIGNATURES: usize = 64;

/// A parsed signature file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    /// Format version; always [`VERSION`].
    pub sigward: u64,
    /// What was signed.
    pub file: SignedFile,
    /// One entry per signer.
    pub signatures: Vec<SignatureEntry>,
}

/// The signed file's facts, as recorded by the signer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedFile {
    /// Base name (no directory).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

/// One signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEntry {
    /// Always [`ALGORITHM_ED25519`] in version 1.
    pub algorithm: String,
    /// Fingerprint of the signing key.
    pub key: String,
    /// When it was signed (RFC 3339, UTC), covered by the signature.
    pub signed_at: String,
    /// The 64-byte Ed25519 signature, standard base64.
    pub signature: String,
}

/// Why a signature file is not a well-formed version 1 document.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MalformedError {
    /// Not JSON, or not the expected shape.
    #[error("not a sigward signature document: {0}")]
    Syntax(String),
    /// Another version.
    #[error("unsupported sigward signature version {0} (this build reads version {VERSION})")]
    Version(u64),
    /// Nothing signed it.
    #[error("signature document holds no signatures")]
    Empty,
    /// Too many entries.
    #[error("signature document holds {0} signatures (at most {MAX_SIGNATURES} are read)")]
    TooMany(usize),
    /// The recorded hash is not 64 hex characters.
    #[error("file.sha256 is not 64 hex characters")]
    BadHash,
    /// An entry is unreadable.
    #[error("signature {index}: {problem}")]
    Entry {
        /// 1-based entry index.
        index: usize,
        /// What is wrong.
        problem: String,
    },
}

/// A signature entry decoded into typed values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedEntry {
    /// Signer fingerprint.
    pub key: Fingerprint,
    /// Signing time, verbatim.
    pub signed_at: String,
    /// Signature bytes.
    pub signature: ed25519_dalek::Signature,
}

/// Whether `bytes` look like a native signature (a JSON object whose
/// `sigward` member is present). Used to pick the parser.
pub fn looks_native(bytes: &[u8]) -> bool {
    let trimmed = bytes.trim_ascii_start();
    trimmed.first() == Some(&b'{') && bytes.windows(9).any(|w| w == b"\"sigward\"")
}

/// Parses and checks the structure of a signature file.
pub fn parse(bytes: &[u8]) -> Result<SignatureFile, MalformedError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| MalformedError::Syntax(e.to_string()))?;
    match value.get("sigward").and_then(serde_json::Value::as_u64) {
        Some(VERSION) => {}
        Some(other) => return Err(MalformedError::Version(other)),
        None => {
            return Err(MalformedError::Syntax(
                "missing numeric \"sigward\" version member".into(),
            ))
        }
    }
    let doc: SignatureFile =
        serde_json::from_value(value).map_err(|e| MalformedError::Syntax(e.to_string()))?;
    if doc.signatures.is_empty() {
        return Err(MalformedError::Empty);
    }
    if doc.signatures.len() > MAX_SIGNATURES {
        return Err(MalformedError::TooMany(doc.signatures.len()));
    }
    if recorded_sha256(&doc).is_none() {
        return Err(MalformedError::BadHash);
    }
    Ok(doc)
}

/// The recorded SHA-256, when it is well-formed.
pub fn recorded_sha256(doc: &SignatureFile) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(&doc.file.sha256, &mut out).ok()?;
    Some(out)
}

/// Decodes one entry's fields.
pub fn decode_entry(index: usize, entry: &SignatureEntry) -> Result<DecodedEntry, MalformedError> {
    let bad = |problem: String| MalformedError::Entry {
        index: index + 1,
        problem,
    };
    if entry.algorithm != ALGORITHM_ED25519 {
        return Err(bad(format!("unsupported algorithm {:?}", entry.algorithm)));
    }
    let key = Fingerprint::from_hex(&entry.key)
        .ok_or_else(|| bad("key is not a 64-hex-character fingerprint".into()))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&entry.signature)
        .map_err(|e| bad(format!("signature is not base64: {e}")))?;
    let bytes: [u8; 64] = raw
        .as_slice()
        .try_into()
        .map_err(|_| bad(format!("signature is {} bytes, expected 64", raw.len())))?;
    if entry.signed_at.is_empty() || entry.signed_at.len() > 64 || !entry.signed_at.is_ascii() {
        return Err(bad("signed_at must be a short ASCII RFC 3339 time".into()));
    }
    Ok(DecodedEntry {
        key,
        signed_at: entry.signed_at.clone(),
        signature: ed25519_dalek::Signature::from_bytes(&bytes),
    })
}

/// The exact bytes an Ed25519 signature of version 1 covers.
///
/// ```text
/// CONTEXT                      "sigward file signature v1\0"
/// size                         u64, big endian
/// sha256                       32 bytes
/// name length, name            u32 big endian, UTF-8 bytes of the base name
/// signed_at length, signed_at  u32 big endian, ASCII
/// key fingerprint              32 bytes
/// ```
pub fn signed_message(
    name: &[u8],
    size: u64,
    sha256: &[u8; 32],
    signed_at: &str,
    key: &Fingerprint,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONTEXT.len() + 8 + 32 + 8 + name.len() + signed_at.len() + 32);
    m.extend_from_slice(CONTEXT);
    m.extend_from_slice(&size.to_be_bytes());
    m.extend_from_slice(sha256);
    // Names and times are bounded far below 4 GiB (NAME_MAX is 255, times
    // are checked to be at most 64 bytes), so the casts cannot truncate.
    m.extend_from_slice(&(name.len() as u32).to_be_bytes());
    m.extend_from_slice(name);
    m.extend_from_slice(&(signed_at.len() as u32).to_be_bytes());
    m.extend_from_slice(signed_at.as_bytes());
    m.extend_from_slice(key.as_bytes());
    m
}

/// Serialises a document the way `sigward sign` writes it.
pub fn to_text(doc: &SignatureFile) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_default();
    s.push('\n');
    s
}

/// Adds (or replaces) the signature of `signing_key` for a file.
///
/// When `existing` describes the same file (name, size and hash), the new
/// signature is added beside the others (co-signing) and an older one by the
/// same key is replaced; otherwise a new document is started.
pub fn sign(
    existing: Option<SignatureFile>,
    signing_key: &ed25519_dalek::SigningKey,
    name: &str,
    size: u64,
    sha256: &[u8; 32],
    signed_at: &str,
) -> SignatureFile {
    use ed25519_dalek::Signer;
    let fingerprint = Fingerprint::of_ed25519(&signing_key.verifying_key());
    let message = signed_message(name.as_bytes(), size, sha256, signed_at, &fingerprint);
    let signature = signing_key.sign(&message);
    let entry = SignatureEntry {
        algorithm: ALGORITHM_ED25519.into(),
        key: fingerprint.to_string(),
        signed_at: signed_at.into(),
        signature: base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
    };
    let file = SignedFile {
        name: name.into(),
        size,
        sha256: hex::encode(sha256),
    };
    let mut doc = match existing {
        Some(doc) if doc.file == file => doc,
        _ => SignatureFile {
            sigward: VERSION,
            file,
            signatures: Vec::new(),
        },
    };
    let fp_text = fingerprint.to_string();
    doc.signatures
        .retain(|e| !e.key.eq_ignore_ascii_case(&fp_text));
    doc.signatures.push(entry);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn message_layout_is_fixed() {
        let fp = Fingerprint::of_raw_key(&[1; 32]);
        let m = signed_message(b"a.py", 5, &[9; 32], "T", &fp);
        assert!(m.starts_with(CONTEXT));
        let rest = &m[CONTEXT.len()..];
        assert_eq!(&rest[..8], &5u64.to_be_bytes());
        assert_eq!(&rest[8..40], &[9u8; 32]);
        assert_eq!(&rest[40..44], &4u32.to_be_bytes());
        assert_eq!(&rest[44..48], b"a.py");
        assert_eq!(&rest[48..52], &1u32.to_be_bytes());
        assert_eq!(&rest[52..53], b"T");
        assert_eq!(&rest[53..], fp.as_bytes());
    }

    #[test]
    fn round_trip_and_cosign() {
        let doc = sign(None, &key(1), "a.py", 3, &[1; 32], "2026-01-01T00:00:00Z");
        let text = to_text(&doc);
        assert!(looks_native(text.as_bytes()));
        let parsed = parse(text.as_bytes());
        assert_eq!(parsed.as_ref(), Ok(&doc));
        let doc2 = sign(
            parsed.ok(),
            &key(2),
            "a.py",
            3,
            &[1; 32],
            "2026-01-02T00:00:00Z",
        );
        assert_eq!(doc2.signatures.len(), 2);
        // Re-signing with the same key replaces its entry.
        let doc3 = sign(
            Some(doc2),
            &key(2),
            "a.py",
            3,
            &[1; 32],
            "2026-01-03T00:00:00Z",
        );
        assert_eq!(doc3.signatures.len(), 2);
        // Signing different content starts over.
        let doc4 = sign(
            Some(doc3),
            &key(3),
            "a.py",
            4,
            &[1; 32],
            "2026-01-03T00:00:00Z",
        );
        assert_eq!(doc4.signatures.len(), 1);
    }

    #[test]
    fn malformed_documents() {
        assert!(matches!(parse(b"not json"), Err(MalformedError::Syntax(_))));
        assert!(matches!(parse(b"{}"), Err(MalformedError::Syntax(_))));
        assert_eq!(
            parse(br#"{"sigward":2,"anything":true}"#),
            Err(MalformedError::Version(2))
        );
        let empty = br#"{"sigward":1,"file":{"name":"a","size":1,"sha256":"00"},"signatures":[]}"#;
        assert_eq!(parse(empty), Err(MalformedError::Empty));
        let bad_hash = br#"{"sigward":1,"file":{"name":"a","size":1,"sha256":"00"},"signatures":[{"algorithm":"ed25519","key":"","signed_at":"","signature":""}]}"#;
        assert_eq!(parse(bad_hash), Err(MalformedError::BadHash));
        let unknown = br#"{"sigward":1,"extra":1,"file":{"name":"a","size":1,"sha256":"00"},"signatures":[]}"#;
        assert!(matches!(parse(unknown), Err(MalformedError::Syntax(_))));
    }

    #[test]
    fn entry_decoding_errors() {
        let good =
            sign(None, &key(1), "a", 1, &[0; 32], "2026-01-01T00:00:00Z").signatures[0].clone();
        assert!(decode_entry(0, &good).is_ok());
        let mut e = good.clone();
        e.algorithm = "rsa".into();
        assert!(matches!(
            decode_entry(0, &e),
            Err(MalformedError::Entry { index: 1, .. })
        ));
        let mut e = good.clone();
        e.key = "abc".into();
        assert!(decode_entry(0, &e).is_err());
        let mut e = good.clone();
        e.signature = "!!".into();
        assert!(decode_entry(0, &e).is_err());
        let mut e = good.clone();
        e.signature = "AAAA".into();
        assert!(decode_entry(0, &e).is_err());
        let mut e = good;
        e.signed_at = String::new();
        assert!(decode_entry(0, &e).is_err());
    }
}
