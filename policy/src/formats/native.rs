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
use crate::formats::{Evidence, Format, Needs, Options, Sniff};
use crate::trust::TrustStore;
use crate::verify::{Reason, Subject, Verdict};

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
/// `sigward` member is present).
pub fn looks_native(bytes: &[u8]) -> bool {
    let trimmed = bytes.trim_ascii_start();
    trimmed.first() == Some(&b'{') && bytes.windows(9).any(|w| w == b"\"sigward\"")
}

/// Format detection for the dispatcher.
pub fn sniff(bytes: &[u8]) -> Sniff {
    if looks_native(bytes) {
        Sniff::Yes
    } else {
        Sniff::No
    }
}

/// Native signatures need only SHA-256.
pub fn needs(_bytes: &[u8], _opts: &Options) -> Needs {
    Needs::default()
}

/// Verifies a native signature document.
pub fn verify(
    subject: &Subject<'_>,
    bytes: &[u8],
    _evidence: &Evidence<'_>,
    trust: &TrustStore,
    _opts: &Options,
) -> Verdict {
    let doc = match parse(bytes) {
        Ok(doc) => doc,
        Err(e) => return Verdict::reject(Reason::Malformed, e.to_string(), None),
    };
    // Check the recorded facts first: they explain a mismatch precisely. They
    // are only an explanation; the signature below is checked over the facts
    // computed from the file itself.
    let recorded = recorded_sha256(&doc).unwrap_or([0; 32]);
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
    let mut revoked: Option<Fingerprint> = None;
    let mut untrusted: Option<Fingerprint> = None;
    for (i, entry) in doc.signatures.iter().enumerate() {
        match check_entry(subject, i, entry, trust) {
            Entry::Verified(v) | Entry::Malformed(v) => return v,
            Entry::Revoked(k) => {
                revoked.get_or_insert(k);
            }
            Entry::Untrusted(k) => {
                untrusted.get_or_insert(k);
            }
            Entry::Invalid(k) => {
                invalid.get_or_insert((k, format!("signature {} does not verify", i + 1)));
            }
        }
    }
    if let Some(key) = revoked {
        return Verdict::reject(
            Reason::Revoked,
            format!("signed by revoked key {key}"),
            Some(key),
        );
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

/// The rejection [`verify`] reaches whatever the file's content, when the
/// document alone decides it: it is malformed, or names another file or
/// another size (every signature binds the size, so no content can make
/// it verify). `None`: the content decides.
pub fn refused_by_facts(name: &[u8], size: u64, bytes: &[u8]) -> Option<Verdict> {
    let doc = match parse(bytes) {
        Ok(doc) => doc,
        Err(e) => return Some(Verdict::reject(Reason::Malformed, e.to_string(), None)),
    };
    let first_key = doc
        .signatures
        .first()
        .and_then(|e| Fingerprint::from_hex(&e.key));
    if doc.file.name.as_bytes() != name {
        return Some(Verdict::reject(
            Reason::Tampered,
            format!(
                "signature is for a file named {:?}, this file is named {:?}",
                doc.file.name,
                String::from_utf8_lossy(name)
            ),
            first_key,
        ));
    }
    (doc.file.size != size).then(|| {
        Verdict::reject(
            Reason::Tampered,
            format!(
                "content changed since signing: expected {} bytes (sha256 {}), found {size} bytes \
                 (not read: the signature binds the size)",
                doc.file.size, doc.file.sha256
            ),
            first_key,
        )
    })
}

/// What one signature entry amounts to.
enum Entry {
    Verified(Verdict),
    Malformed(Verdict),
    Revoked(Fingerprint),
    Untrusted(Fingerprint),
    Invalid(Fingerprint),
}

fn check_entry(
    subject: &Subject<'_>,
    i: usize,
    entry: &SignatureEntry,
    trust: &TrustStore,
) -> Entry {
    let entry = match decode_entry(i, entry) {
        Ok(e) => e,
        Err(e) => return Entry::Malformed(Verdict::reject(Reason::Malformed, e.to_string(), None)),
    };
    if trust.is_revoked(&entry.key) {
        return Entry::Revoked(entry.key);
    }
    let Some((trusted, vk)) = trust.ed25519(&entry.key) else {
        return Entry::Untrusted(entry.key);
    };
    let message = signed_message(
        subject.name,
        subject.size,
        subject.sha256,
        &entry.signed_at,
        &entry.key,
    );
    if vk.verify_strict(&message, &entry.signature).is_ok() {
        Entry::Verified(
            Verdict::verified(entry.key, Format::Native, trusted.label.clone())
                .with_signed_at(crate::verify::parse_rfc3339(&entry.signed_at)),
        )
    } else {
        Entry::Invalid(entry.key)
    }
}

/// Every signature of a native document that verifies with a trusted key
/// (co-signatures), for thresholds. Empty when the document is malformed
/// or does not match the file.
pub fn verify_all(subject: &Subject<'_>, bytes: &[u8], trust: &TrustStore) -> Vec<Verdict> {
    let Ok(doc) = parse(bytes) else {
        return Vec::new();
    };
    let facts_match = doc.file.name.as_bytes() == subject.name
        && doc.file.size == subject.size
        && recorded_sha256(&doc).as_ref() == Some(subject.sha256);
    if !facts_match {
        return Vec::new();
    }
    doc.signatures
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match check_entry(subject, i, e, trust) {
            Entry::Verified(v) => Some(v),
            _ => None,
        })
        .collect()
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
mod tests;

#[cfg(test)]
mod verify_tests;
