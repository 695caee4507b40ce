//! Notur extension archive signatures.
//!
//! Notur (`php artisan notur:export --sign`; the SDK's `notur-pack --sign`,
//! which is not published on npm) signs an
//! archive `X.notur` with libsodium's `crypto_sign_detached`: a plain Ed25519
//! signature over the **whole file** (no prehash). Next to the archive it
//! writes:
//!
//! * `X.notur.sig`: the 64-byte signature as 128 hex characters (lowercase;
//!   the PHP exporter writes no newline, the Node.js packer appends `"\n"`;
//!   Notur reads it with `trim()` and `sodium_hex2bin`, so surrounding
//!   whitespace and either case are accepted here too);
//! * `X.notur.sha256`: `<sha256 hex>  X.notur\n`, the line `sha256sum` writes.
//!
//! Keys are 64 hex characters (`NOTUR_PUBLIC_KEY`); secret keys 128 hex
//! characters (libsodium's 64-byte secret key: seed || public key).
//!
//! A Notur signature names no key, so every trusted Ed25519 key is tried (one
//! pass over the file per key). Notur itself trusts exactly one key; a trust
//! store with several is a superset of that. Keys from OpenSSH
//! `allowed_signers` files are bound to SSH namespaces and are not used.
//!
//! When the `.sha256` file is present it must agree too: it must name this
//! file and give its SHA-256 (Notur writes it; a stale or edited one is
//! reported rather than ignored).

use std::collections::HashSet;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::fingerprint::Fingerprint;
use crate::formats::{Evidence, Format, Needs, Options, Sniff};
use crate::trust::{KeyOrigin, TrustStore};
use crate::verify::{Reason, Subject, Verdict};

/// The message Notur users know for a signature that does not verify.
pub const VERIFICATION_FAILED: &str = "Signature verification failed.";

/// Upper bound on a `.sha256` file (it holds one line; `sha256sum` lists
/// may hold several).
pub const MAX_SHA256SUM_BYTES: usize = 64 * 1024;

/// Upper bound on lines read from a `.sha256` file.
pub const MAX_SHA256SUM_LINES: usize = 1024;

/// Notur's `.sig` text with PHP `trim()`'s whitespace removed.
fn trimmed(bytes: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0 | 0x0b);
    let start = bytes.iter().position(|b| !is_ws(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ws(b))
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// Exactly 128 hex characters, optionally surrounded by whitespace: a Notur
/// signature (no other `.sig` format sigward reads looks like this).
pub fn sniff(bytes: &[u8]) -> Sniff {
    let t = trimmed(bytes);
    if t.len() == 128 && t.iter().all(u8::is_ascii_hexdigit) {
        Sniff::Yes
    } else {
        Sniff::No
    }
}

/// Notur signs the file itself: the whole content is needed.
pub fn needs(_bytes: &[u8], _opts: &Options) -> Needs {
    Needs {
        content: true,
        ..Needs::default()
    }
}

/// Why a Notur signature, key or checksum file cannot be read. Its
/// `Display` is the detail of the refusal (for a `.sha256` file, after
/// `checksum file (.sha256) is unreadable: `).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The `.sig` file does not hold 128 characters once trimmed.
    #[error("a Notur signature is 128 hex characters, this one has {len} non-blank bytes")]
    SignatureLength {
        /// The number of bytes left after trimming whitespace.
        len: usize,
    },
    /// The `.sig` file's 128 characters are not hex.
    #[error("signature is not hex: {0}")]
    SignatureHex(#[source] hex::FromHexError),
    /// A secret key is not 128 characters once trimmed.
    #[error("a Notur secret key is 128 hex characters, this one has {len}")]
    SecretKeyLength {
        /// The number of bytes left after trimming whitespace.
        len: usize,
    },
    /// A secret key's 128 characters are not hex.
    #[error("secret key is not hex: {0}")]
    SecretKeyHex(#[source] hex::FromHexError),
    /// The secret key's second half is not the public key of its seed.
    #[error("the public half of the secret key does not belong to its seed")]
    SecretKeyMismatch,
    /// A public key is not 64 hex characters.
    #[error("{0}")]
    PublicKeyHex(#[source] hex::FromHexError),
    /// A public key's 32 bytes are not an Ed25519 point.
    #[error("{0}")]
    PublicKeyPoint(#[source] ed25519_dalek::SignatureError),
    /// A `.sha256` file is larger than [`MAX_SHA256SUM_BYTES`].
    #[error("{len} bytes, more than the {MAX_SHA256SUM_BYTES} read")]
    ChecksumFileTooLarge {
        /// The file's size in bytes.
        len: usize,
    },
    /// A `.sha256` file lists more than [`MAX_SHA256SUM_LINES`] lines.
    #[error("more than {MAX_SHA256SUM_LINES} lines")]
    TooManyChecksumLines,
    /// A `.sha256` file holds no checksum line.
    #[error("no checksum line")]
    NoChecksumLine,
    /// A `SHA256 (NAME) = HEX` line without its `) = `.
    #[error("line {line}: expected \"SHA256 (NAME) = HEX\"")]
    TagLineSyntax {
        /// 1-based line number.
        line: usize,
    },
    /// A `SHA256 (NAME) = HEX` line whose checksum is not 64 hex characters.
    #[error("line {line}: the checksum is not 64 hex characters")]
    TagLineChecksum {
        /// 1-based line number.
        line: usize,
    },
    /// A line shorter than 64 characters.
    #[error("line {line}: the line is shorter than a SHA-256 checksum")]
    LineTooShort {
        /// 1-based line number.
        line: usize,
    },
    /// A line whose first 64 characters are not hex.
    #[error("line {line}: the line does not start with 64 hex characters (a SHA-256 checksum)")]
    ChecksumNotHex {
        /// 1-based line number.
        line: usize,
    },
    /// Neither `"  "` nor `" *"` after the checksum.
    #[error("line {line}: expected two spaces (or \" *\") between the checksum and the file name")]
    Separator {
        /// 1-based line number.
        line: usize,
    },
    /// Nothing after the checksum and separator.
    #[error("line {line}: no file name after the checksum")]
    NoFileName {
        /// 1-based line number.
        line: usize,
    },
    /// An escaped file name with a backslash GNU coreutils does not write.
    #[error("line {line}: invalid backslash escape in the file name")]
    BadEscape {
        /// 1-based line number.
        line: usize,
    },
}

/// Parses a `.sig` file: 128 hex characters, surrounding whitespace ignored.
pub fn parse_signature(bytes: &[u8]) -> Result<Signature, ParseError> {
    let t = trimmed(bytes);
    if t.len() != 128 {
        return Err(ParseError::SignatureLength { len: t.len() });
    }
    let mut raw = [0u8; 64];
    hex::decode_to_slice(t, &mut raw).map_err(ParseError::SignatureHex)?;
    Ok(Signature::from_bytes(&raw))
}

/// Verifies a Notur signature over `subject.content`.
pub fn verify(
    subject: &Subject<'_>,
    bytes: &[u8],
    evidence: &Evidence<'_>,
    trust: &TrustStore,
    _opts: &Options,
) -> Verdict {
    let signature = match parse_signature(bytes) {
        Ok(s) => s,
        Err(why) => return Verdict::reject(Reason::Malformed, why.to_string(), None),
    };
    let Some(content) = subject.content else {
        return Verdict::reject(
            Reason::Invalid,
            "internal: file content not computed for a Notur signature",
            None,
        );
    };
    if let Some(sums) = evidence.sha256sum {
        if let Some(rejection) = check_sha256sum(subject, sums) {
            return rejection;
        }
    }
    // Every trusted Ed25519 key once, in load order.
    let mut seen = HashSet::new();
    let keys: Vec<_> = trust
        .iter()
        .filter(|k| !matches!(k.origin, KeyOrigin::AllowedSigner(_)))
        .filter_map(|k| k.ed25519().map(|vk| (k, vk)))
        .filter(|(k, _)| seen.insert(k.fingerprint))
        .collect();
    if keys.is_empty() {
        return Verdict::reject(
            Reason::Untrusted,
            "no Ed25519 key is trusted: a Notur signature names no key, so it can only be \
             checked against trusted Ed25519 public keys (such as NOTUR_PUBLIC_KEY as 64 hex characters)",
            None,
        );
    }
    let (revoked, current): (Vec<_>, Vec<_>) = keys
        .into_iter()
        .partition(|(k, _)| trust.is_revoked(&k.fingerprint));
    for (key, vk) in &current {
        if vk.verify_strict(content, &signature).is_ok() {
            return Verdict::verified(key.fingerprint, Format::Notur, key.label.clone());
        }
    }
    for (key, vk) in &revoked {
        if vk.verify_strict(content, &signature).is_ok() {
            return Verdict::reject(
                Reason::Revoked,
                format!("signed by revoked key {}", key.fingerprint),
                Some(key.fingerprint),
            );
        }
    }
    let n = current.len() + revoked.len();
    Verdict::reject(
        Reason::Invalid,
        format!(
            "{VERIFICATION_FAILED} The Notur signature verifies with none of the {n} trusted \
             Ed25519 key{}: the file changed after signing, or another key signed it",
            if n == 1 { "" } else { "s" }
        ),
        None,
    )
}

/// Checks a `.sha256` file against the subject; `None` when it agrees.
fn check_sha256sum(subject: &Subject<'_>, text: &[u8]) -> Option<Verdict> {
    let entries = match parse_sha256sum(text) {
        Ok(e) => e,
        Err(why) => {
            return Some(Verdict::reject(
                Reason::Malformed,
                format!("checksum file (.sha256) is unreadable: {why}"),
                None,
            ))
        }
    };
    let names_this = |name: &[u8]| {
        name == subject.name
            || (name.len() > subject.name.len()
                && name.ends_with(subject.name)
                && name.get(name.len() - subject.name.len() - 1) == Some(&b'/'))
    };
    let mine: Vec<_> = entries.iter().filter(|e| names_this(&e.name)).collect();
    if mine.is_empty() {
        let listed: Vec<String> = entries
            .iter()
            .take(3)
            .map(|e| format!("{:?}", String::from_utf8_lossy(&e.name)))
            .collect();
        return Some(Verdict::reject(
            Reason::Tampered,
            format!(
                "checksum file (.sha256) is for {}, not for this file {:?}",
                listed.join(", "),
                String::from_utf8_lossy(subject.name)
            ),
            None,
        ));
    }
    for e in mine {
        if &e.digest != subject.sha256 {
            return Some(Verdict::reject(
                Reason::Tampered,
                format!(
                    "content does not match the checksum file (.sha256): expected sha256 {}, found sha256 {}",
                    hex::encode(e.digest),
                    hex::encode(subject.sha256)
                ),
                None,
            ));
        }
    }
    None
}

/// One line of a `sha256sum` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChecksumLine {
    /// The SHA-256 it records.
    pub digest: [u8; 32],
    /// The file name, unescaped.
    pub name: Vec<u8>,
    /// Written in binary mode (`*` before the name).
    pub binary: bool,
}

/// Parses `sha256sum` output: `<64 hex> <space|*><name>` lines (GNU), with
/// the backslash escaping GNU coreutils applies to names holding `\`, a
/// newline or a carriage return, and `SHA256 (<name>) = <64 hex>` lines
/// (`--tag`). Blank lines and `#` comments are skipped; a trailing `\r` is
/// ignored. Every other line is an error.
pub fn parse_sha256sum(text: &[u8]) -> Result<Vec<ChecksumLine>, ParseError> {
    if text.len() > MAX_SHA256SUM_BYTES {
        return Err(ParseError::ChecksumFileTooLarge { len: text.len() });
    }
    let mut out = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) || line.first() == Some(&b'#') {
            continue;
        }
        if out.len() >= MAX_SHA256SUM_LINES {
            return Err(ParseError::TooManyChecksumLines);
        }
        out.push(parse_sha256sum_line(i + 1, line)?);
    }
    if out.is_empty() {
        return Err(ParseError::NoChecksumLine);
    }
    Ok(out)
}

/// Parses line `number` (1-based, for the error) of a `sha256sum` file.
fn parse_sha256sum_line(number: usize, line: &[u8]) -> Result<ChecksumLine, ParseError> {
    let (escaped, line) = match line.strip_prefix(b"\\") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let unescaped =
        |name: &[u8]| unescape(name, escaped).ok_or(ParseError::BadEscape { line: number });
    let mut digest = [0u8; 32];
    if let Some(rest) = line.strip_prefix(b"SHA256 (") {
        // BSD / --tag style: SHA256 (name) = hex
        let split = rest
            .windows(4)
            .rposition(|w| w == b") = ")
            .ok_or(ParseError::TagLineSyntax { line: number })?;
        let name = rest.get(..split).unwrap_or_default();
        let hexpart = rest.get(split + 4..).unwrap_or_default();
        hex::decode_to_slice(hexpart, &mut digest)
            .map_err(|_| ParseError::TagLineChecksum { line: number })?;
        return Ok(ChecksumLine {
            digest,
            name: unescaped(name)?,
            binary: false,
        });
    }
    let hexpart = line
        .get(..64)
        .ok_or(ParseError::LineTooShort { line: number })?;
    hex::decode_to_slice(hexpart, &mut digest)
        .map_err(|_| ParseError::ChecksumNotHex { line: number })?;
    let binary = match (line.get(64), line.get(65)) {
        (Some(b' '), Some(b' ')) => false,
        (Some(b' '), Some(b'*')) => true,
        _ => return Err(ParseError::Separator { line: number }),
    };
    let name = line.get(66..).unwrap_or_default();
    if name.is_empty() {
        return Err(ParseError::NoFileName { line: number });
    }
    Ok(ChecksumLine {
        digest,
        name: unescaped(name)?,
        binary,
    })
}

/// Undoes GNU coreutils' file name escaping (`\\`, `\n`, `\r`).
/// `None` for any other escape.
fn unescape(name: &[u8], escaped: bool) -> Option<Vec<u8>> {
    if !escaped {
        return Some(name.to_vec());
    }
    let mut out = Vec::with_capacity(name.len());
    let mut it = name.iter();
    while let Some(&b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next() {
            Some(b'\\') => out.push(b'\\'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            _ => return None,
        }
    }
    Some(out)
}

/// The `.sha256` line Notur (and `sha256sum`) writes for a file. Names
/// holding `\`, newline or carriage return are escaped as `sha256sum` does.
pub fn sha256sum_line(sha256: &[u8; 32], basename: &str) -> String {
    if basename.contains(['\\', '\n', '\r']) {
        let escaped = basename
            .replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\r', "\\r");
        format!("\\{}  {escaped}\n", hex::encode(sha256))
    } else {
        format!("{}  {basename}\n", hex::encode(sha256))
    }
}

/// Signs content as `notur-pack --sign` does: lowercase hex of the Ed25519
/// signature over the whole content, followed by a newline.
pub fn sign(key: &SigningKey, content: &[u8]) -> String {
    let mut s = hex::encode(key.sign(content).to_bytes());
    s.push('\n');
    s
}

/// Notur's secret key text: 128 hex characters (seed || public key), as
/// `notur:keygen` prints it.
pub fn secret_key_hex(key: &SigningKey) -> String {
    hex::encode(key.to_keypair_bytes())
}

/// Parses Notur's 128-hex-character secret key (surrounding whitespace
/// ignored), checking that its public half belongs to its seed.
pub fn parse_secret_key_hex(text: &str) -> Result<SigningKey, ParseError> {
    let t = text.trim();
    if t.len() != 128 {
        return Err(ParseError::SecretKeyLength { len: t.len() });
    }
    let mut raw = [0u8; 64];
    hex::decode_to_slice(t, &mut raw).map_err(ParseError::SecretKeyHex)?;
    SigningKey::from_keypair_bytes(&raw).map_err(|_| ParseError::SecretKeyMismatch)
}

/// Parses a 64-hex-character Ed25519 public key (Notur's `NOTUR_PUBLIC_KEY`,
/// Conductor's `.public` file).
pub fn parse_hex_key(hex64: &[u8]) -> Result<VerifyingKey, ParseError> {
    let mut raw = [0u8; 32];
    hex::decode_to_slice(hex64, &mut raw).map_err(ParseError::PublicKeyHex)?;
    VerifyingKey::from_bytes(&raw).map_err(ParseError::PublicKeyPoint)
}

/// The fingerprint of a 64-hex-character public key, when it parses.
pub fn hex_key_fingerprint(hex64: &[u8]) -> Option<Fingerprint> {
    parse_hex_key(hex64)
        .ok()
        .map(|k| Fingerprint::of_ed25519(&k))
}

pub mod env;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod error_texts;
