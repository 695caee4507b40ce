//! Conductor WASM plugin signatures, and Conductor's trust files.
//!
//! `conductor-sign sign plugin.wasm KEY --name N --email E` writes
//! `plugin.wasm.sig`, `serde_json::to_string_pretty` of:
//!
//! ```json
//! {
//!   "version": 1,
//!   "algorithm": "Ed25519",
//!   "plugin_hash": "<hex SHA-256 of the plugin>",
//!   "plugin_size": 123456,
//!   "public_key": "<64 hex: the signer's raw Ed25519 key>",
//!   "signature": "<128 hex>",
//!   "signed_at": "2025-11-19T08:59:12.482113+00:00",
//!   "developer": { "name": "Your Name", "email": "you@example.com" }
//! }
//! ```
//!
//! (no trailing newline). The signature is Ed25519 over the raw 32-byte
//! SHA-256 digest of the plugin file. Only that digest is signed: the size,
//! time and developer fields are not, so they are never trusted on their own
//! (the digest is always the one computed from the file).
//!
//! Checks, each its own reason: version 1 and algorithm `Ed25519`
//! (`malformed`), size and hash (`tampered`), key revoked (`revoked`), key
//! trusted (`untrusted`), signature (`invalid`). The key inside the `.sig`
//! is never trusted by itself: its fingerprint (SHA-256 of the raw key) must
//! be in the trust store. (Conductor's "self-signed" trust level, which
//! accepts any key, is not enabled by any policy option yet; the check is
//! written so that one flag can turn it on.)
//!
//! Trust files, see [`parse_keys_toml`]: `trusted_keys.toml` (`[[keys]]`)
//! and the revocation list `revoked_keys.toml` (`[[revoked]]`).

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprint;
use crate::formats::{Evidence, Format, Needs, Options, Sniff};
use crate::trust::{KeyFileError, KeyMaterial, KeyOrigin, TrustStore, TrustedKey};
use crate::verify::{Reason, Subject, Verdict};

/// The only signature version Conductor writes.
pub const VERSION: u64 = 1;

/// The only algorithm, spelled as Conductor spells it.
pub const ALGORITHM: &str = "Ed25519";

/// Upper bound on a `.sig` file read as Conductor's (real ones are ~500 bytes).
pub const MAX_SIG_BYTES: usize = 64 * 1024;

/// Upper bound on a trust TOML file (Conductor caps its revocation list at
/// 1 MiB too).
pub const MAX_TOML_BYTES: usize = 1 << 20;

/// `plugin.wasm.sig` as Conductor writes it (`SignatureMetadata`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureFile {
    /// Always 1.
    pub version: u64,
    /// Always `Ed25519`.
    pub algorithm: String,
    /// Hex SHA-256 of the plugin file.
    pub plugin_hash: String,
    /// Size of the plugin file in bytes.
    pub plugin_size: u64,
    /// Hex of the signer's 32-byte Ed25519 key.
    pub public_key: String,
    /// Hex of the 64-byte signature.
    pub signature: String,
    /// When it was signed (RFC 3339; not signed).
    pub signed_at: String,
    /// Who signed (not signed).
    pub developer: Developer,
}

/// The `developer` object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Developer {
    /// Name.
    pub name: String,
    /// Email address.
    pub email: String,
}

/// A signature file decoded into typed values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The document itself.
    pub doc: SignatureFile,
    /// `plugin_hash`.
    pub sha256: [u8; 32],
    /// `public_key`.
    pub key: VerifyingKey,
    /// Fingerprint of `public_key`.
    pub fingerprint: Fingerprint,
    /// `signature`.
    pub signature: Signature,
}

/// Conductor compares `plugin_hash` as text with the lower-case hex of the
/// digest it computes: upper-case hex decodes to the same digest here, but
/// Conductor refuses the plugin.
pub const WARN_UPPER_PLUGIN_HASH: &str =
    "upper-case hex in plugin_hash: Conductor compares it as text and will refuse this plugin";

/// Conductor compares `public_key` as text with the keys it trusts.
pub const WARN_UPPER_PUBLIC_KEY: &str =
    "upper-case hex in public_key: Conductor compares it as text and will refuse this plugin";

impl Decoded {
    /// What sigward accepts in this signature and Conductor refuses (see
    /// [`Verdict::Verified`]'s `warnings`): upper-case hex in `plugin_hash`
    /// or `public_key`.
    pub fn host_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if has_upper(&self.doc.plugin_hash) {
            out.push(WARN_UPPER_PLUGIN_HASH.to_string());
        }
        if has_upper(&self.doc.public_key) {
            out.push(WARN_UPPER_PUBLIC_KEY.to_string());
        }
        out
    }

    /// `"Name <email>"`, or whichever part is present.
    pub fn signer(&self) -> Option<String> {
        person(&self.doc.developer.name, &self.doc.developer.email)
    }
}

/// Whether hex text holds upper-case digits (`A`-`F`).
pub(crate) fn has_upper(hex: &str) -> bool {
    hex.bytes().any(|b| b.is_ascii_uppercase())
}

fn person(name: &str, email: &str) -> Option<String> {
    match (name.trim(), email.trim()) {
        ("", "") => None,
        (n, "") => Some(n.to_string()),
        ("", e) => Some(format!("<{e}>")),
        (n, e) => Some(format!("{n} <{e}>")),
    }
}

/// A JSON object with a `plugin_hash` member: unmistakably Conductor's.
pub fn sniff(bytes: &[u8]) -> Sniff {
    let looks_json = bytes.trim_ascii_start().first() == Some(&b'{');
    if looks_json && bytes.windows(13).any(|w| w == b"\"plugin_hash\"") {
        Sniff::Yes
    } else {
        Sniff::No
    }
}

/// Conductor signs the SHA-256 digest: nothing else is needed.
pub fn needs(_bytes: &[u8], _opts: &Options) -> Needs {
    Needs::default()
}

/// Why a Conductor signature file cannot be read. Its `Display` is the
/// detail of the refusal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The file is larger than [`MAX_SIG_BYTES`].
    #[error("Conductor signature file is {len} bytes (at most {MAX_SIG_BYTES} are read)")]
    TooLarge {
        /// The file's size in bytes.
        len: usize,
    },
    /// The file is not the JSON document Conductor writes.
    #[error("not a Conductor signature file: {0}")]
    Json(#[source] serde_json::Error),
    /// `version` is not [`VERSION`].
    #[error("unsupported Conductor signature version {version} (expected {VERSION})")]
    Version {
        /// The version the file gives.
        version: u64,
    },
    /// `algorithm` is not [`ALGORITHM`].
    #[error("unsupported Conductor signature algorithm {algorithm:?} (expected {ALGORITHM:?})")]
    Algorithm {
        /// The algorithm the file gives.
        algorithm: String,
    },
    /// `plugin_hash` is not 64 hex characters.
    #[error("plugin_hash is not 64 hex characters")]
    PluginHash,
    /// `public_key` is not an Ed25519 key in hex.
    #[error("public_key is not a 64-hex-character Ed25519 key: {0}")]
    PublicKey(#[source] crate::formats::notur::ParseError),
    /// `signature` is not 128 hex characters.
    #[error("signature is not 128 hex characters")]
    Signature,
}

/// Parses and decodes a signature file; the error says what is wrong.
pub fn parse(bytes: &[u8]) -> Result<Decoded, ParseError> {
    if bytes.len() > MAX_SIG_BYTES {
        return Err(ParseError::TooLarge { len: bytes.len() });
    }
    let doc: SignatureFile = serde_json::from_slice(bytes).map_err(ParseError::Json)?;
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
    hex::decode_to_slice(&doc.plugin_hash, &mut sha256).map_err(|_| ParseError::PluginHash)?;
    let key = crate::formats::notur::parse_hex_key(doc.public_key.as_bytes())
        .map_err(ParseError::PublicKey)?;
    let mut sig = [0u8; 64];
    hex::decode_to_slice(&doc.signature, &mut sig).map_err(|_| ParseError::Signature)?;
    Ok(Decoded {
        sha256,
        fingerprint: Fingerprint::of_ed25519(&key),
        key,
        signature: Signature::from_bytes(&sig),
        doc,
    })
}

/// Verifies a Conductor signature (trusted keys only).
pub fn verify(
    subject: &Subject<'_>,
    bytes: &[u8],
    _evidence: &Evidence<'_>,
    trust: &TrustStore,
    opts: &Options,
) -> Verdict {
    // Conductor's middle trust level: any valid signature, when the tree's
    // policy allows self-signed plugins.
    verify_with(subject, bytes, trust, opts.allow_self_signed)
}

/// The rejection [`verify`] reaches whatever the plugin's content, when the
/// signature alone decides it: it is malformed, or records another
/// `plugin_size` (checked before anything else). `None`: the content
/// decides.
pub fn refused_by_size(size: u64, bytes: &[u8]) -> Option<Verdict> {
    let d = match parse(bytes) {
        Ok(d) => d,
        Err(why) => return Some(Verdict::reject(Reason::Malformed, why.to_string(), None)),
    };
    (d.doc.plugin_size != size).then(|| {
        Verdict::reject(
            Reason::Tampered,
            format!(
                "plugin changed since signing: expected {} bytes (sha256 {}), found {size} bytes \
                 (not read: the signature records the size)",
                d.doc.plugin_size,
                hex::encode(d.sha256)
            ),
            Some(d.fingerprint),
        )
    })
}

/// The check itself. With `allow_self_signed` (Conductor's level 2) a valid
/// signature by the key inside the `.sig` is accepted even when that key is
/// not in the trust store; revoked keys are refused either way.
fn verify_with(
    subject: &Subject<'_>,
    bytes: &[u8],
    trust: &TrustStore,
    allow_self_signed: bool,
) -> Verdict {
    let d = match parse(bytes) {
        Ok(d) => d,
        Err(why) => return Verdict::reject(Reason::Malformed, why.to_string(), None),
    };
    let fp = d.fingerprint;
    if d.doc.plugin_size != subject.size || &d.sha256 != subject.sha256 {
        return Verdict::reject(
            Reason::Tampered,
            format!(
                "plugin changed since signing: expected sha256 {} ({} bytes), found sha256 {} ({} bytes)",
                hex::encode(d.sha256),
                d.doc.plugin_size,
                hex::encode(subject.sha256),
                subject.size
            ),
            Some(fp),
        );
    }
    if trust.is_revoked(&fp) {
        return Verdict::reject(
            Reason::Revoked,
            format!("signed by revoked key {fp}{}", by(&d)),
            Some(fp),
        );
    }
    let (vk, trusted_label, self_signed) = match trust.ed25519(&fp) {
        Some((k, vk)) => (*vk, k.label.clone(), false),
        None if allow_self_signed => (d.key, None, true),
        None => {
            return Verdict::reject(
                Reason::Untrusted,
                format!(
                    "signed by key {fp}{}, which is not in the trust store (the key inside a Conductor signature is not trusted by itself)",
                    by(&d)
                ),
                Some(fp),
            )
        }
    };
    if vk.verify_strict(subject.sha256, &d.signature).is_err() {
        return Verdict::reject(
            Reason::Invalid,
            format!("signature does not verify with key {fp}{}", by(&d)),
            Some(fp),
        );
    }
    let v = Verdict::verified(fp, Format::Conductor, d.signer().or(trusted_label))
        .with_warnings(d.host_warnings());
    if self_signed {
        v.as_self_signed()
    } else {
        v
    }
}

fn by(d: &Decoded) -> String {
    d.signer()
        .map(|s| format!(" (developer {s:?})"))
        .unwrap_or_default()
}

/// Writes the signature file `conductor-sign sign` writes for a file with
/// this SHA-256 and size: pretty-printed JSON, fields in Conductor's order,
/// no trailing newline (Conductor writes `to_string_pretty` as is).
pub fn sign(
    key: &SigningKey,
    sha256: &[u8; 32],
    size: u64,
    signed_at: &str,
    name: &str,
    email: &str,
) -> String {
    let doc = SignatureFile {
        version: VERSION,
        algorithm: ALGORITHM.to_string(),
        plugin_hash: hex::encode(sha256),
        plugin_size: size,
        public_key: hex::encode(key.verifying_key().as_bytes()),
        signature: hex::encode(key.sign(sha256).to_bytes()),
        signed_at: signed_at.to_string(),
        developer: Developer {
            name: name.to_string(),
            email: email.to_string(),
        },
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// What a Conductor trust TOML file holds.
pub struct KeysToml {
    /// Trusted keys (`[[keys]]`) and warnings about skipped entries.
    pub trusted: (Vec<TrustedKey>, Vec<String>),
    /// Revoked fingerprints (`[[revoked]]`).
    pub revoked: Vec<Fingerprint>,
}

/// Parses Conductor's `trusted_keys.toml` and/or `revoked_keys.toml` (one
/// file may hold both kinds of table).
///
/// `trusted_keys.toml`, as `conductor-sign trust add` writes it:
///
/// ```toml
/// [[keys]]
/// name = "Your Name"
/// email = "you@example.com"
/// public_key = "<64 hex>"
/// added_at = "2025-11-19T08:59:12+00:00"
/// ```
///
/// `public_key` is required; `name`, `email` and `added_at` are optional
/// strings. Each key is labelled `"name <email>"`. An entry whose key cannot
/// be used is skipped with a warning (as Conductor does: dropping a trusted
/// key only removes trust).
///
/// `revoked_keys.toml` (Conductor's revocation list):
///
/// ```toml
/// [[revoked]]
/// fingerprint = "<64 hex: SHA-256 of the raw public key>"
/// public_key = "<64 hex>"            # accepted instead of, or beside, fingerprint
/// reason = "key compromised"         # optional
/// revoked_at = "2026-06-04T00:00:00Z" # optional
/// ```
///
/// Either case of hex and surrounding blanks are accepted; in `[[keys]]`,
/// upper-case hex and a missing `name`, `email` or `added_at` are reported
/// as warnings, since Conductor refuses them. A file that names `revoked`
/// but lists nothing (`revoked = []`) revokes nothing, as in Conductor, with
/// a warning ([`WARN_EMPTY_REVOCATION_LIST`]). When both
/// `fingerprint` and `public_key` are given they must name the same key. A
/// revocation entry that cannot be read is an error for the whole file, as
/// in Conductor: skipping it would leave a compromised key trusted. Other
/// top-level keys are errors too (a misspelt `[[revoked]]` must not pass
/// silently); unknown fields inside an entry are ignored, as Conductor does.
pub fn parse_keys_toml(source: &str, text: &[u8]) -> Result<KeysToml, KeyFileError> {
    if text.len() > MAX_TOML_BYTES {
        return Err(KeyFileError::Invalid(format!(
            "{} bytes, more than the {MAX_TOML_BYTES} read from a Conductor keys file",
            text.len()
        )));
    }
    let text = std::str::from_utf8(text)
        .map_err(|e| KeyFileError::Invalid(format!("not UTF-8 text: {e}")))?;
    let doc = toml::de::DeTable::parse(text).map_err(|e| {
        let message = format!("invalid TOML: {}", e.message().trim());
        match e.span() {
            Some(s) => KeyFileError::Line {
                line: line_of(text, s.start),
                message,
            },
            None => KeyFileError::Invalid(message),
        }
    })?;
    let mut keys = Vec::new();
    let mut warnings = Vec::new();
    let mut revoked = Vec::new();
    let mut key_entries = 0usize;
    for (name, value) in doc.get_ref().iter() {
        let line = line_of(text, name.span().start);
        let tables = match (name.get_ref().as_ref(), value.get_ref()) {
            ("keys" | "revoked", toml::de::DeValue::Array(items)) => items,
            ("keys" | "revoked", _) => {
                return Err(KeyFileError::Line {
                    line,
                    message: format!("`{}` must be an array of tables ([[{}]])", name.get_ref(), name.get_ref()),
                })
            }
            (other, _) => {
                return Err(KeyFileError::Line {
                    line,
                    message: format!(
                        "unknown top-level key `{other}` (a Conductor keys file holds [[keys]] and [[revoked]] tables)"
                    ),
                })
            }
        };
        let is_keys = name.get_ref().as_ref() == "keys";
        for (i, item) in tables.iter().enumerate() {
            let index = i + 1;
            let line = line_of(text, item.span().start);
            let toml::de::DeValue::Table(table) = item.get_ref() else {
                let message = format!("[[{}]] entry {index} is not a table", name.get_ref());
                if is_keys {
                    key_entries += 1;
                    warnings.push(format!("{source}: line {line}: {message}; skipped"));
                    continue;
                }
                return Err(KeyFileError::Line { line, message });
            };
            let field = |k: &str| -> Result<Option<(String, usize)>, String> {
                match table.iter().find(|(key, _)| key.get_ref().as_ref() == k) {
                    None => Ok(None),
                    Some((_, v)) => match v.get_ref() {
                        toml::de::DeValue::String(s) => {
                            Ok(Some((s.to_string(), line_of(text, v.span().start))))
                        }
                        _ => Err(format!("`{k}` must be a string")),
                    },
                }
            };
            if is_keys {
                key_entries += 1;
                match key_entry(source, index, &field) {
                    Ok((k, laxer)) => {
                        keys.push(k);
                        warnings.extend(laxer.into_iter().map(|w| {
                            format!("{source}: line {line}: [[keys]] entry {index}: {w}")
                        }));
                    }
                    Err(why) => warnings.push(format!(
                        "{source}: line {line}: [[keys]] entry {index} skipped: {why}"
                    )),
                }
            } else {
                let fp = revoked_entry(&field).map_err(|(at, message)| KeyFileError::Line {
                    line: at.unwrap_or(line),
                    message: format!("[[revoked]] entry {index}: {message}"),
                })?;
                revoked.push(fp);
            }
        }
    }
    if keys.is_empty() && revoked.is_empty() && key_entries == 0 && names_revoked(&doc) {
        // `revoked = []` (or no table at all beside it): a revocation list
        // that revokes nothing, as Conductor reads it.
        warnings.push(format!("{source}: {WARN_EMPTY_REVOCATION_LIST}"));
        return Ok(KeysToml {
            trusted: (keys, warnings),
            revoked,
        });
    }
    if keys.is_empty() && revoked.is_empty() {
        return Err(KeyFileError::NoUsableKey(if key_entries == 0 {
            format!("{source}: no [[keys]] or [[revoked]] entries")
        } else {
            warnings.join("; ")
        }));
    }
    Ok(KeysToml {
        trusted: (keys, warnings),
        revoked,
    })
}

/// The warning about a Conductor revocation list that lists nothing (an
/// empty file in `revoked_dir`, or `revoked = []`).
pub const WARN_EMPTY_REVOCATION_LIST: &str = "revokes nothing (an empty Conductor revocation list)";

/// The warning about a `[[keys]]` entry whose `public_key` has upper-case
/// hex: Conductor compares the keys of signatures with it as text.
pub const WARN_UPPER_TRUSTED_KEY: &str =
    "upper-case hex in public_key: Conductor compares it as text and will not trust this key";

/// Whether a document names a `revoked` array (empty or not).
fn names_revoked(doc: &toml::Spanned<toml::de::DeTable<'_>>) -> bool {
    doc.get_ref().iter().any(|(k, v)| {
        k.get_ref().as_ref() == "revoked" && matches!(v.get_ref(), toml::de::DeValue::Array(_))
    })
}

/// Whether `text` is a Conductor revocation list that lists nothing: TOML
/// with no entry at all (an empty file, or only comments), or with only
/// empty `revoked` and `keys` arrays. Conductor reads such a file
/// (`revoked` defaults to empty) and revokes nothing.
pub fn is_empty_revocation_list(text: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(text) else {
        return false;
    };
    let Ok(doc) = toml::de::DeTable::parse(text) else {
        return false;
    };
    doc.get_ref().iter().all(|(k, v)| {
        matches!(k.get_ref().as_ref(), "revoked" | "keys")
            && matches!(v.get_ref(), toml::de::DeValue::Array(a) if a.is_empty())
    })
}

/// Whether `text` looks like a Conductor keys file: `[[keys]]` or
/// `[[revoked]]` tables, or a `revoked = [...]` array.
pub fn looks_like_keys_toml(text: &[u8]) -> bool {
    let has = |needle: &[u8]| text.windows(needle.len()).any(|w| w == needle);
    if has(b"[[keys]]") || has(b"[[revoked]]") {
        return true;
    }
    let Ok(text) = std::str::from_utf8(text) else {
        return false;
    };
    toml::de::DeTable::parse(text).is_ok_and(|doc| names_revoked(&doc))
}

type Field<'a> = dyn Fn(&str) -> Result<Option<(String, usize)>, String> + 'a;

/// One `[[keys]]` entry: the key, and what Conductor refuses in the entry
/// although sigward reads it (upper-case hex, a missing `name`, `email` or
/// `added_at`).
fn key_entry(
    source: &str,
    index: usize,
    field: &Field<'_>,
) -> Result<(TrustedKey, Vec<String>), String> {
    let (hexkey, _) = field("public_key")?.ok_or("no `public_key`")?;
    let name = field("name")?;
    let email = field("email")?;
    // `added_at` is informative; Conductor writes it as a string.
    let added_at = field("added_at")?;
    let key = crate::formats::notur::parse_hex_key(hexkey.trim().as_bytes())
        .map_err(|e| format!("`public_key` is not a 64-hex-character Ed25519 key: {e}"))?;
    let mut laxer = Vec::new();
    if has_upper(&hexkey) {
        laxer.push(WARN_UPPER_TRUSTED_KEY.to_string());
    }
    let missing: Vec<&str> = [("name", &name), ("email", &email), ("added_at", &added_at)]
        .into_iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k)
        .collect();
    if !missing.is_empty() {
        laxer.push(format!(
            "no `{}`: Conductor requires name, email and added_at in every entry and will refuse \
             this file",
            missing.join("`, `")
        ));
    }
    let name = name.map(|(s, _)| s).unwrap_or_default();
    let email = email.map(|(s, _)| s).unwrap_or_default();
    let label = person(&name, &email);
    let key = TrustedKey::new(
        KeyMaterial::Ed25519(key),
        source,
        index,
        KeyOrigin::Conductor { name, email },
    )
    .with_label(label);
    Ok((key, laxer))
}

fn revoked_entry(field: &Field<'_>) -> Result<Fingerprint, (Option<usize>, String)> {
    let plain = |e: String| (None, e);
    let by_fp = match field("fingerprint").map_err(plain)? {
        None => None,
        Some((s, at)) => Some(Fingerprint::from_hex(s.trim()).ok_or((
            Some(at),
            format!("`fingerprint` {s:?} is not 64 hex characters (SHA-256 of the public key)"),
        ))?),
    };
    let by_key = match field("public_key").map_err(plain)? {
        None => None,
        Some((s, at)) => {
            let mut raw = [0u8; 32];
            hex::decode_to_slice(s.trim(), &mut raw).map_err(|_| {
                (
                    Some(at),
                    format!("`public_key` {s:?} is not 64 hex characters"),
                )
            })?;
            Some((Fingerprint::of_raw_key(&raw), at))
        }
    };
    match (by_fp, by_key) {
        (Some(a), Some((b, at))) if a != b => Err((
            Some(at),
            format!("`fingerprint` {a} does not match `public_key` (whose fingerprint is {b})"),
        )),
        (Some(a), _) => Ok(a),
        (None, Some((b, _))) => Ok(b),
        (None, None) => Err((None, "needs a `fingerprint` or a `public_key`".to_string())),
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .get(..offset)
        .unwrap_or(text.as_bytes())
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod error_texts;
