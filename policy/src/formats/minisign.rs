//! minisign signatures (`FILE.minisig`) and minisign public keys.
//!
//! A signature file, as `minisign -S` writes it, is four lines:
//!
//! ```text
//! untrusted comment: <anything>
//! base64( "ED" || key id [8] || Ed25519 signature [64] )
//! trusted comment: <text>
//! base64( global Ed25519 signature [64] )
//! ```
//!
//! With algorithm `ED` (prehashed, minisign's default since 0.8) the first
//! signature covers the 64-byte BLAKE2b-512 digest of the file; with the
//! legacy algorithm `Ed` (`minisign -S -l`) it covers the file itself. The
//! global signature covers `signature || trusted comment text` (the text
//! after `trusted comment: `, without the line end), so the trusted comment
//! cannot be edited. Both must verify with the key the key id names.
//!
//! sigward never holds the file to verify a prehashed signature: the caller
//! computes BLAKE2b-512 while it hashes the file (see [`needs`]), and the
//! Ed25519 checks are done here with `ed25519_dalek::VerifyingKey::verify_strict`
//! (the `minisign-verify` crate only verifies from the whole content).
//! Legacy signatures need the whole content and are refused unless the
//! policy sets `minisign_legacy`.
//!
//! A public key file (`minisign -G`) is two lines: `untrusted comment:
//! minisign public key <KEY ID>` and base64(`Ed` || key id (8 bytes) || public
//! key (32 bytes)). Key ids are displayed the way minisign prints them: the 8 bytes
//! read as a little-endian integer, 16 uppercase hex digits.

use base64::Engine as _;

use crate::fingerprint::Fingerprint;
use crate::formats::{Evidence, Format, Needs, Options, Sniff};
use crate::trust::{KeyFileError, KeyMaterial, KeyOrigin, TrustStore, TrustedKey};
use crate::verify::{Reason, Subject, Verdict};

/// Prefix of a signature's and a public key's first line.
pub const UNTRUSTED_PREFIX: &str = "untrusted comment: ";
/// Prefix of a signature's third line.
pub const TRUSTED_PREFIX: &str = "trusted comment: ";
/// Upper bound on a signature file (minisign itself reads at most 1 KiB of
/// untrusted comment and 8 KiB of trusted comment).
pub const MAX_SIGNATURE_FILE: usize = 16 * 1024;
/// Longest untrusted comment line minisign reads (its buffer is 1024 bytes,
/// line end included).
const MAX_UNTRUSTED_LINE: usize = 1022;
/// Longest trusted comment line minisign reads (8192-byte buffer).
const MAX_TRUSTED_LINE: usize = 8190;

/// `Ed`: Ed25519 over the file itself (legacy).
const ALG_LEGACY: [u8; 2] = *b"Ed";
/// `ED`: Ed25519 over BLAKE2b-512 of the file.
const ALG_PREHASHED: [u8; 2] = *b"ED";

/// A parsed `.minisig` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinisignSignature {
    /// `ED` (true) or legacy `Ed` (false).
    pub prehashed: bool,
    /// The signing key's id.
    pub key_id: [u8; 8],
    /// Ed25519 signature over the BLAKE2b-512 digest (or the file).
    pub signature: [u8; 64],
    /// The trusted comment text (after `trusted comment: `).
    pub trusted_comment: String,
    /// Ed25519 signature over `signature || trusted_comment`.
    pub global_signature: [u8; 64],
}

/// A key id as minisign displays it (`minisign public key 1259F5A21DD37512`).
pub fn key_id_hex(key_id: &[u8; 8]) -> String {
    format!("{:016X}", u64::from_le_bytes(*key_id))
}

/// One line of `text` starting at `*pos`, without its line end, the way
/// minisign's `fgets` + `trim` read it: one trailing `\n`, then one `\r`,
/// are removed, and any other `\r` makes the line invalid.
fn next_line<'a>(text: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let rest = text.get(*pos..)?;
    if rest.is_empty() {
        return None;
    }
    let (line, advance) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (rest.get(..i)?, i + 1),
        None => (rest, rest.len()),
    };
    *pos += advance;
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// Why a `.minisig` file or a minisign public key line cannot be read. Its
/// `Display` follows `not a minisign signature: ` in the detail of the
/// refusal (or is the message of the key file's line).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The signature file is larger than [`MAX_SIGNATURE_FILE`].
    #[error(
        "signature file is {len} bytes, more than the {MAX_SIGNATURE_FILE} a minisign signature can hold"
    )]
    TooLarge {
        /// The file's size in bytes.
        len: usize,
    },
    /// The file ends before one of its four lines.
    #[error("truncated: {missing} line missing")]
    Truncated {
        /// The missing line (`untrusted comment`, `signature`, ...).
        missing: &'static str,
    },
    /// The first line is not an untrusted comment.
    #[error("first line does not start with {UNTRUSTED_PREFIX:?}")]
    UntrustedPrefix,
    /// The untrusted comment line is longer than minisign reads, or holds a
    /// carriage return.
    #[error("untrusted comment line is too long or contains a carriage return")]
    UntrustedLine,
    /// A base64 line does not decode.
    #[error("{what} is not base64: {source}")]
    NotBase64 {
        /// Which line (`signature line`, `public key`, ...).
        what: &'static str,
        /// Why it does not decode.
        #[source]
        source: base64::DecodeError,
    },
    /// A base64 line decodes to the wrong number of bytes.
    #[error("{what} is {len} bytes, expected {expected}")]
    Length {
        /// Which line (`signature line`, `public key`, ...).
        what: &'static str,
        /// The number of bytes decoded.
        len: usize,
        /// The number of bytes the line holds in minisign's format.
        expected: usize,
    },
    /// The signature's algorithm is neither `ED` nor `Ed`.
    #[error(
        "unsupported signature algorithm {:?} (expected \"ED\" or legacy \"Ed\")",
        String::from_utf8_lossy(algorithm)
    )]
    SignatureAlgorithm {
        /// The two algorithm bytes.
        algorithm: [u8; 2],
    },
    /// The third line is not a trusted comment.
    #[error("third line does not start with {TRUSTED_PREFIX:?}")]
    TrustedPrefix,
    /// The trusted comment line is longer than minisign reads, or holds a
    /// carriage return.
    #[error("trusted comment is too long or contains a carriage return")]
    TrustedLine,
    /// The trusted comment is not UTF-8 or holds control characters.
    #[error("trusted comment contains unprintable characters")]
    Unprintable,
    /// A public key's algorithm is not `Ed`.
    #[error(
        "unsupported public key algorithm {:?} (minisign keys are \"Ed\")",
        String::from_utf8_lossy(algorithm)
    )]
    KeyAlgorithm {
        /// The two algorithm bytes.
        algorithm: [u8; 2],
    },
    /// A public key's 32 bytes are not an Ed25519 point.
    #[error("the public key is not a valid Ed25519 point")]
    InvalidPoint,
    /// A length this module's own slicing guarantees was wrong.
    #[error("internal: {what}")]
    Internal {
        /// What had the wrong length.
        what: &'static str,
    },
}

fn decode_fixed<const N: usize>(line: &[u8], what: &'static str) -> Result<[u8; N], ParseError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(line)
        .map_err(|source| ParseError::NotBase64 { what, source })?;
    raw.as_slice().try_into().map_err(|_| ParseError::Length {
        what,
        len: raw.len(),
        expected: N,
    })
}

/// Whether minisign would print this trusted comment: tab, printable ASCII
/// and (valid UTF-8) non-ASCII characters, no control characters.
fn printable(text: &str) -> bool {
    text.chars().all(|c| c == '\t' || !c.is_control())
}

/// Parses a `.minisig` file as minisign 0.11 reads it (lines after the
/// fourth are ignored, as minisign ignores them).
pub fn parse_signature(bytes: &[u8]) -> Result<MinisignSignature, ParseError> {
    if bytes.len() > MAX_SIGNATURE_FILE {
        return Err(ParseError::TooLarge { len: bytes.len() });
    }
    let mut pos = 0usize;
    let mut line =
        |missing: &'static str| next_line(bytes, &mut pos).ok_or(ParseError::Truncated { missing });
    let untrusted = line("untrusted comment")?;
    if !untrusted.starts_with(UNTRUSTED_PREFIX.as_bytes()) {
        return Err(ParseError::UntrustedPrefix);
    }
    if untrusted.len() > MAX_UNTRUSTED_LINE || untrusted.contains(&b'\r') {
        return Err(ParseError::UntrustedLine);
    }
    let sig_line = line("signature")?;
    let blob: [u8; 74] = decode_fixed(sig_line, "signature line")?;
    let (alg, rest) = blob.split_at(2);
    let (key_id, signature) = rest.split_at(8);
    let prehashed = match alg {
        a if a == ALG_PREHASHED => true,
        a if a == ALG_LEGACY => false,
        other => {
            return Err(ParseError::SignatureAlgorithm {
                algorithm: other.try_into().map_err(|_| ParseError::Internal {
                    what: "algorithm length",
                })?,
            })
        }
    };
    let trusted = line("trusted comment")?;
    let Some(comment) = trusted.strip_prefix(TRUSTED_PREFIX.as_bytes()) else {
        return Err(ParseError::TrustedPrefix);
    };
    if trusted.len() > MAX_TRUSTED_LINE || comment.contains(&b'\r') {
        return Err(ParseError::TrustedLine);
    }
    let comment = std::str::from_utf8(comment)
        .ok()
        .filter(|c| printable(c))
        .ok_or(ParseError::Unprintable)?;
    let global_line = line("global signature")?;
    let global_signature: [u8; 64] = decode_fixed(global_line, "global signature line")?;
    Ok(MinisignSignature {
        prehashed,
        key_id: key_id.try_into().map_err(|_| ParseError::Internal {
            what: "key id length",
        })?,
        signature: signature.try_into().map_err(|_| ParseError::Internal {
            what: "signature length",
        })?,
        trusted_comment: comment.to_string(),
        global_signature,
    })
}

/// Format detection: minisign signatures start with an untrusted comment.
/// (The dispatcher reads `FILE.minisig` as minisign without asking.)
pub fn sniff(bytes: &[u8]) -> Sniff {
    if bytes
        .trim_ascii_start()
        .starts_with(UNTRUSTED_PREFIX.trim_end().as_bytes())
    {
        Sniff::Yes
    } else {
        Sniff::No
    }
}

/// Prehashed signatures need BLAKE2b-512 of the file; legacy ones the whole
/// content (only when the policy accepts them).
pub fn needs(bytes: &[u8], opts: &Options) -> Needs {
    match parse_signature(bytes) {
        Ok(sig) if sig.prehashed => Needs {
            blake2b512: true,
            ..Needs::default()
        },
        Ok(_) if opts.minisign_legacy => Needs {
            content: true,
            ..Needs::default()
        },
        _ => Needs::default(),
    }
}

/// Verifies a `.minisig` file.
pub fn verify(
    subject: &Subject<'_>,
    bytes: &[u8],
    _evidence: &Evidence<'_>,
    trust: &TrustStore,
    opts: &Options,
) -> Verdict {
    let sig = match parse_signature(bytes) {
        Ok(sig) => sig,
        Err(why) => {
            return Verdict::reject(
                Reason::Malformed,
                format!("not a minisign signature: {why}"),
                None,
            )
        }
    };
    if !sig.prehashed && !opts.minisign_legacy {
        return Verdict::reject(
            Reason::Malformed,
            "legacy (non-prehashed) minisign signatures are refused by the policy (minisign_legacy = false)",
            None,
        );
    }
    // The trusted comment is authenticated only by a valid signature; on a
    // rejection it is shown as what the signature claims.
    let claimed = Some(format!("{} (unverified)", sig.trusted_comment));
    match verify_parsed(subject, sig, trust) {
        v @ Verdict::Verified { .. } => v,
        v => v.with_signer(claimed),
    }
}

fn verify_parsed(subject: &Subject<'_>, sig: MinisignSignature, trust: &TrustStore) -> Verdict {
    let id = key_id_hex(&sig.key_id);
    let candidates: Vec<(&TrustedKey, &ed25519_dalek::VerifyingKey)> = trust
        .iter()
        .filter(|k| matches!(k.origin, KeyOrigin::Minisign { key_id } if key_id == sig.key_id))
        .filter_map(|k| k.ed25519().map(|vk| (k, vk)))
        .collect();
    if candidates.is_empty() {
        return Verdict::reject(
            Reason::Untrusted,
            format!("signed by minisign key {id}, which is not in the trust store"),
            None,
        );
    }
    let message: &[u8] = if sig.prehashed {
        match subject.blake2b512 {
            Some(d) => d,
            None => {
                return Verdict::reject(
                    Reason::Invalid,
                    "internal: BLAKE2b-512 of the file was not computed",
                    None,
                )
            }
        }
    } else {
        match subject.content {
            Some(c) => c,
            None => {
                return Verdict::reject(
                    Reason::Invalid,
                    "internal: the file content was not read",
                    None,
                )
            }
        }
    };
    let signature = ed25519_dalek::Signature::from_bytes(&sig.signature);
    let global_signature = ed25519_dalek::Signature::from_bytes(&sig.global_signature);
    let mut global_message = Vec::with_capacity(64 + sig.trusted_comment.len());
    global_message.extend_from_slice(&sig.signature);
    global_message.extend_from_slice(sig.trusted_comment.as_bytes());

    let mut revoked: Option<Fingerprint> = None;
    let mut invalid: Option<(Fingerprint, String)> = None;
    for (key, vk) in candidates {
        let fp = key.fingerprint;
        if trust.is_revoked(&fp) {
            revoked.get_or_insert(fp);
            continue;
        }
        if vk.verify_strict(message, &signature).is_err() {
            invalid.get_or_insert((
                fp,
                format!(
                    "minisign signature does not verify with trusted key {id} ({fp}): the file changed since it was signed, or the signature is corrupt"
                ),
            ));
            continue;
        }
        if vk
            .verify_strict(&global_message, &global_signature)
            .is_err()
        {
            invalid.get_or_insert((
                fp,
                format!(
                    "the trusted comment of the minisign signature by key {id} ({fp}) was altered: its global signature does not verify"
                ),
            ));
            continue;
        }
        return Verdict::verified(fp, Format::Minisign, Some(sig.trusted_comment));
    }
    if let Some(fp) = revoked {
        return Verdict::reject(
            Reason::Revoked,
            format!("signed by revoked minisign key {id} ({fp})"),
            Some(fp),
        );
    }
    match invalid {
        Some((fp, detail)) => Verdict::reject(Reason::Invalid, detail, Some(fp)),
        None => Verdict::reject(Reason::Invalid, "internal: no minisign key tried", None),
    }
}

/// Decodes a public key line: base64(`Ed` || key id [8] || key [32]).
fn parse_key_line(line: &[u8]) -> Result<([u8; 8], ed25519_dalek::VerifyingKey), ParseError> {
    let blob: [u8; 42] = decode_fixed(line.trim_ascii(), "public key")?;
    let (alg, rest) = blob.split_at(2);
    if alg != ALG_LEGACY {
        return Err(ParseError::KeyAlgorithm {
            algorithm: alg.try_into().map_err(|_| ParseError::Internal {
                what: "algorithm length",
            })?,
        });
    }
    let (id, pk) = rest.split_at(8);
    let key_id: [u8; 8] = id.try_into().map_err(|_| ParseError::Internal {
        what: "key id length",
    })?;
    let pk: [u8; 32] = pk
        .try_into()
        .map_err(|_| ParseError::Internal { what: "key length" })?;
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk).map_err(|_| ParseError::InvalidPoint)?;
    Ok((key_id, vk))
}

/// Parses a minisign public key file (`minisign -G` writes one key: an
/// `untrusted comment:` line and the base64 key line). Several such pairs in
/// one file are all loaded; a bare base64 key line (as `minisign -P` takes)
/// is accepted too, without a label. The label is the comment text.
pub fn parse_public_key_file(
    source: &str,
    text: &[u8],
) -> Result<(Vec<TrustedKey>, Vec<String>), KeyFileError> {
    let mut keys = Vec::new();
    let mut comment: Option<(usize, String)> = None;
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let number = i + 1;
        let line = raw.trim_ascii();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix(UNTRUSTED_PREFIX.trim_end().as_bytes()) {
            if let Some((at, _)) = comment {
                return Err(KeyFileError::Line {
                    line: number,
                    message: format!("the comment on line {at} is not followed by a key"),
                });
            }
            let label = String::from_utf8_lossy(rest.trim_ascii()).into_owned();
            comment = Some((number, label));
            continue;
        }
        let (key_id, vk) = parse_key_line(line).map_err(|e| KeyFileError::Line {
            line: number,
            message: e.to_string(),
        })?;
        let label = comment.take().map(|(_, l)| l).filter(|l| !l.is_empty());
        keys.push(
            TrustedKey::new(
                KeyMaterial::Ed25519(vk),
                source,
                number,
                KeyOrigin::Minisign { key_id },
            )
            .with_label(label),
        );
    }
    if let Some((at, _)) = comment {
        return Err(KeyFileError::Line {
            line: at,
            message: "comment line is not followed by a minisign public key".into(),
        });
    }
    if keys.is_empty() {
        return Err(KeyFileError::NoUsableKey(
            "no minisign public key in the file".into(),
        ));
    }
    Ok((keys, Vec::new()))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod error_texts;
