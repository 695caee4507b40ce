//! AiSOC plugin directory bundles (`plugin.sig`).
//!
//! An AiSOC plugin is a directory holding a manifest (`plugin.yaml`, which
//! wins, else `aisoc-plugin.json`), Python sources and `plugin.sig` at its
//! root. `aisoc plugin sign` signs, with Ed25519, the raw 32-byte SHA-256 of
//! a canonical JSON document:
//!
//! ```text
//! json.dumps({"manifest": M, "files": F}, sort_keys=True, separators=(",", ":")).encode("utf-8")
//! ```
//!
//! where `M` is the manifest as Python loads it (`yaml.safe_load` or
//! `json.loads` of the file's text) with the top-level keys `signature` and
//! `trust` removed, and `F` maps the relative POSIX path of every `*.py`
//! file under the directory (hidden directories included) to its SHA-256 in
//! lowercase hex. A path is a `str` as `pathlib` makes it from the file
//! system's bytes (`os.fsdecode`: a byte that is not UTF-8 becomes a lone
//! surrogate, which `json.dumps` writes as `\udcXX`). `plugin.sig` holds the 64-byte signature in hex
//! (surrounding whitespace ignored; `bytes.fromhex` also skips whitespace
//! between bytes and accepts either case), or as 64 raw bytes.
//!
//! The bytes signed depend on how Python *types* the manifest (`version:
//! 1.10` is the float `1.1`, `enabled: yes` is `true`, `mode: 010` is `8`)
//! and on how `json.dumps` writes the result, so this module reproduces
//! both exactly: `yaml11` (reader, scanner, parser) and `construct`
//! (composer, resolver, `SafeConstructor`) are a port of PyYAML 6.0's pure
//! Python `safe_load` (YAML 1.1), `pyjson` is CPython 3.11's `json.loads`,
//! `pyobj` holds the Python objects and `json.dumps` over them, and `pynum`
//! Python's integers, `int()`/`float()` parsing and `repr(float)`. The
//! manifest text is decoded as `Path.read_text()` does in a UTF-8 locale
//! (strict UTF-8, universal newlines).
//! A manifest Python cannot load, or whose loaded form `json.dumps` cannot
//! write (a timestamp, `!!binary`, a set, mixed key types, a cycle), has no
//! canonical form: the real signer fails on it, and it is reported as
//! malformed here.
//!
//! Work and memory are bounded: manifests over [`MAX_MANIFEST_BYTES`] are
//! refused, as are more than 100 000 YAML nodes (200 000 JSON values),
//! nesting deeper than 128 levels, merge keys that copy or move more than
//! 2^20 entries, and aliases expanding the canonical manifest past 4 MiB.
//! Python accepts somewhat more (up to its recursion limit, about 490 YAML
//! levels, and whatever fits in memory); no real manifest comes near.
//!
//! The caller (the agent) does the I/O: it finds the plugin root, reads the
//! manifest and `plugin.sig`, and hashes every `*.py` file (as Python's
//! `Path.rglob("*.py")` finds them: case-sensitive suffix, hidden files and
//! directories included, symlinked directories not descended, only regular
//! files or symlinks to them).

use std::collections::{BTreeMap, HashSet};

use ed25519_dalek::{Signature, Signer, SigningKey};
use sha2::{Digest, Sha256};
use sigward_pycanon::FsName;

use crate::formats::Format;
use crate::trust::{KeyOrigin, TrustStore};
use crate::verify::{Reason, Verdict};

/// Manifest file names, in order of precedence.
pub const MANIFEST_NAMES: [&str; 2] = ["plugin.yaml", "aisoc-plugin.json"];

/// The signature file at a plugin's root.
pub const SIG_NAME: &str = "plugin.sig";

/// Largest manifest read (bytes).
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;

/// Largest canonical form of the manifest part (bytes).
const MAX_CANONICAL_MANIFEST: usize = 4 << 20;

/// The detail of a bundle whose signature no trusted key verifies.
pub const DOES_NOT_VERIFY: &str =
    "bundle signature does not verify: the manifest or a .py file changed since signing, or another key signed it";

/// A plugin directory's signed material, as read by the caller.
#[derive(Clone, Copy, Debug)]
pub struct Bundle<'a> {
    /// Which manifest was read: one of [`MANIFEST_NAMES`].
    pub manifest_name: &'a str,
    /// The manifest's bytes.
    pub manifest: &'a [u8],
    /// The bytes of `plugin.sig`.
    pub sig: &'a [u8],
    /// Every `*.py` file under the plugin root: relative POSIX path, as
    /// the bytes of its name (which need not be UTF-8) → SHA-256 of its
    /// content.
    pub files: &'a BTreeMap<Vec<u8>, [u8; 32]>,
}

/// `TextIOWrapper`'s universal newlines (`Path.read_text()`): `\r\n` and
/// `\r` become `\n`.
fn universal_newlines(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\r') {
        std::borrow::Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Why a manifest has no canonical form, so that a bundle can be neither
/// verified nor signed. Its `Display` is the detail of the refusal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The manifest is larger than [`MAX_MANIFEST_BYTES`].
    #[error("{manifest_name} is {len} bytes, more than the {MAX_MANIFEST_BYTES} read")]
    ManifestTooLarge {
        /// The manifest's file name.
        manifest_name: String,
        /// Its size in bytes.
        len: usize,
    },
    /// The manifest is not UTF-8 text.
    #[error("{manifest_name} is not UTF-8 text: {source}")]
    NotUtf8 {
        /// The manifest's file name.
        manifest_name: String,
        /// Where the decoding failed.
        #[source]
        source: std::str::Utf8Error,
    },
    /// `yaml.safe_load` raises on `plugin.yaml`.
    #[error("invalid plugin.yaml: {0}")]
    Yaml(#[source] sigward_pycanon::PyError),
    /// `plugin.yaml` holds no document.
    #[error("invalid plugin.yaml: YAML root must be a mapping (the document is empty)")]
    EmptyYaml,
    /// `json.loads` raises on `aisoc-plugin.json`.
    #[error("invalid aisoc-plugin.json: {0}")]
    Json(#[source] sigward_pycanon::PyError),
    /// The manifest name is not one of [`MANIFEST_NAMES`].
    #[error("{manifest_name:?} is not an AiSOC manifest name")]
    UnknownManifestName {
        /// The name given.
        manifest_name: String,
    },
    /// The manifest's root is not a mapping.
    #[error("{manifest_name}: the manifest is not a mapping")]
    NotMapping {
        /// The manifest's file name.
        manifest_name: String,
    },
    /// The keys `signature` and `trust` cannot be removed from the manifest.
    #[error("{0}")]
    UnsignedKeys(#[source] sigward_pycanon::PyError),
    /// `json.dumps` cannot write the manifest (or its form is too large).
    #[error("{manifest_name}: the manifest has no canonical JSON form: {source}")]
    NoCanonicalForm {
        /// The manifest's file name.
        manifest_name: String,
        /// What Python raises (or the bound reached).
        #[source]
        source: sigward_pycanon::PyError,
    },
}

/// Why `plugin.sig` cannot be read. Its `Display` follows `plugin.sig: ` in
/// the detail of the refusal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// Neither 64 bytes in hex nor 64 raw bytes.
    #[error("expected 64 raw bytes or their 128 hex characters, found {len} bytes")]
    Length {
        /// The size of `plugin.sig` in bytes.
        len: usize,
    },
}

/// The exact bytes `aisoc plugin sign` hashes for this manifest and these
/// files; `Err` says why the manifest has no canonical form (the real tool
/// fails on it too).
pub fn canonical(
    manifest_name: &str,
    manifest: &[u8],
    files: &BTreeMap<Vec<u8>, [u8; 32]>,
) -> Result<Vec<u8>, BundleError> {
    if manifest.len() > MAX_MANIFEST_BYTES {
        return Err(BundleError::ManifestTooLarge {
            manifest_name: manifest_name.to_string(),
            len: manifest.len(),
        });
    }
    let text = std::str::from_utf8(manifest).map_err(|source| BundleError::NotUtf8 {
        manifest_name: manifest_name.to_string(),
        source,
    })?;
    let text = universal_newlines(text);
    let doc = match manifest_name {
        "plugin.yaml" => sigward_pycanon::safe_load(&text)
            .map_err(BundleError::Yaml)?
            .ok_or(BundleError::EmptyYaml)?,
        "aisoc-plugin.json" => sigward_pycanon::json_loads(&text).map_err(BundleError::Json)?,
        other => {
            return Err(BundleError::UnknownManifestName {
                manifest_name: other.to_string(),
            })
        }
    };
    if !doc.is_dict() {
        return Err(BundleError::NotMapping {
            manifest_name: manifest_name.to_string(),
        });
    }
    let manifest = doc
        .without_keys(&["signature", "trust"])
        .map_err(BundleError::UnsignedKeys)?;
    // Python holds each path as `os.fsdecode` makes it (undecodable bytes
    // become lone surrogates) and `sort_keys` orders them by code point.
    let mut names: Vec<(FsName, &[u8; 32])> = files
        .iter()
        .map(|(path, digest)| (FsName::decode(path), digest))
        .collect();
    names.sort();
    let mut out = String::from("{\"files\":{");
    for (i, (path, digest)) in names.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        path.json_into(&mut out);
        out.push_str(":\"");
        out.push_str(&hex::encode(digest));
        out.push('"');
    }
    out.push_str("},\"manifest\":");
    let before = out.len();
    manifest
        .dump_into(&mut out, before + MAX_CANONICAL_MANIFEST)
        .map_err(|source| BundleError::NoCanonicalForm {
            manifest_name: manifest_name.to_string(),
            source,
        })?;
    out.push('}');
    Ok(out.into_bytes())
}

/// Python's whitespace for bytes (`bytes.strip()`, `bytes.fromhex`).
fn is_py_space(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `bytes.strip()`.
fn py_strip(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !is_py_space(c)).unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !is_py_space(c))
        .map_or(start, |i| i + 1);
    b.get(start..end).unwrap_or_default()
}

/// `bytes.fromhex`: pairs of hex digits, ASCII whitespace allowed between
/// pairs.
fn from_hex_python(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 2);
    let mut i = 0;
    loop {
        while s.get(i).is_some_and(is_py_space) {
            i += 1;
        }
        let Some(&hi) = s.get(i) else { break };
        let hi = char::from(hi).to_digit(16)?;
        let lo = char::from(*s.get(i + 1)?).to_digit(16)?;
        out.push((hi * 16 + lo) as u8);
        i += 2;
    }
    Some(out)
}

/// Reads `plugin.sig` as AiSOC does: hex of 64 bytes (after stripping
/// surrounding whitespace), else exactly 64 raw bytes.
pub fn parse_signature(raw: &[u8]) -> Result<Signature, SignatureError> {
    let text = py_strip(raw);
    if text.is_ascii() {
        if let Some(bytes) = from_hex_python(text) {
            if let Ok(b) = <[u8; 64]>::try_from(bytes.as_slice()) {
                return Ok(Signature::from_bytes(&b));
            }
        }
    }
    if let Ok(b) = <[u8; 64]>::try_from(raw) {
        return Ok(Signature::from_bytes(&b));
    }
    Err(SignatureError::Length { len: raw.len() })
}

/// Verifies an AiSOC bundle: any trusted Ed25519 key may have signed it
/// (the signature names none); one that verifies suffices.
pub fn verify_bundle(bundle: &Bundle<'_>, trust: &TrustStore) -> Verdict {
    let malformed =
        |detail: String| Verdict::reject(Reason::Malformed, detail, None).in_format(Format::Aisoc);
    let sig = match parse_signature(bundle.sig) {
        Ok(s) => s,
        Err(e) => return malformed(format!("{SIG_NAME}: {e}")),
    };
    let canonical = match canonical(bundle.manifest_name, bundle.manifest, bundle.files) {
        Ok(c) => c,
        Err(e) => return malformed(e.to_string()),
    };
    let digest = Sha256::digest(&canonical);
    let mut seen = HashSet::new();
    let mut revoked = None;
    let mut trusted = false;
    for key in trust.iter() {
        if matches!(key.origin, KeyOrigin::AllowedSigner(_)) {
            continue;
        }
        let Some(vk) = key.ed25519() else { continue };
        if !seen.insert(key.fingerprint) {
            continue;
        }
        let ok = vk.verify_strict(&digest, &sig).is_ok();
        if trust.is_revoked(&key.fingerprint) {
            if ok {
                revoked.get_or_insert(key.fingerprint);
            }
            continue;
        }
        trusted = true;
        if ok {
            return Verdict::verified(key.fingerprint, Format::Aisoc, key.label.clone());
        }
    }
    if let Some(fp) = revoked {
        return Verdict::reject(
            Reason::Revoked,
            format!("bundle signed by revoked key {fp}"),
            Some(fp),
        )
        .in_format(Format::Aisoc);
    }
    if trusted {
        return Verdict::reject(Reason::Invalid, DOES_NOT_VERIFY, None).in_format(Format::Aisoc);
    }
    Verdict::reject(
        Reason::Untrusted,
        "no trusted Ed25519 key: an AiSOC bundle names no signer, so only a trusted Ed25519 key can verify it",
        None,
    )
    .in_format(Format::Aisoc)
}

/// Signs a bundle as `aisoc plugin sign` does; returns the text of
/// `plugin.sig` (lowercase hex and a newline).
pub fn sign_bundle(
    key: &SigningKey,
    manifest_name: &str,
    manifest: &[u8],
    files: &BTreeMap<Vec<u8>, [u8; 32]>,
) -> Result<String, BundleError> {
    let c = canonical(manifest_name, manifest, files)?;
    let sig = key.sign(&Sha256::digest(&c));
    Ok(format!("{}\n", hex::encode(sig.to_bytes())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;

#[cfg(test)]
mod error_texts;
