//! `allowed_signers` (OpenSSH sshsig.c parse_principals_key_and_options):
//! reading the file, and whether an entry admits a signature.

use base64::Engine as _;
use ssh_key::public::KeyData;
use ssh_key::PublicKey;

use super::error::EntryRefusal;
use super::patterns::{match_pattern_list, split_list};
use super::times::parse_absolute_time;
use super::wire::{Wire, CERT_SUFFIX};
use crate::trust::{AllowedSigner, KeyFileError, KeyMaterial, KeyOrigin, TrustedKey};

/// Key types sigward verifies.
const SUPPORTED_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// Key types OpenSSH reads that sigward does not verify (entries skipped
/// with a warning).
const UNSUPPORTED_KEY_TYPES: &[&str] = &["ssh-dss", "ecdsa-sha2-nistp521", "ssh-xmss@openssh.com"];

fn is_key_type(name: &str) -> bool {
    SUPPORTED_KEY_TYPES.contains(&name)
        || UNSUPPORTED_KEY_TYPES.contains(&name)
        || name.strip_suffix(CERT_SUFFIX).is_some_and(|base| {
            base.starts_with("ssh-") || base.starts_with("ecdsa-") || base.starts_with("sk-")
        })
}

const WHITESPACE: &[char] = &[' ', '\t', '\r', '\n'];

/// OpenSSH `strdelimw`: the next whitespace-delimited token, where a `"`
/// starts a quoted part running to the next `"` (quotes removed). Returns
/// the token and the rest after the whitespace that follows it.
fn next_token(s: &str) -> Result<(String, &str), String> {
    let Some(i) = s.find(|c: char| WHITESPACE.contains(&c) || c == '"') else {
        return Err("missing key".into());
    };
    let (head, rest) = s.split_at(i);
    if let Some(quoted) = rest.strip_prefix('"') {
        let close = quoted.find('"').ok_or("unterminated quote")?;
        let token = format!("{head}{}", quoted.get(..close).unwrap_or_default());
        let after = quoted.get(close + 1..).unwrap_or_default();
        return Ok((token, after.trim_start_matches(WHITESPACE)));
    }
    Ok((head.to_string(), rest.trim_start_matches(WHITESPACE)))
}

/// OpenSSH `sshkey_advance_past_options`: the options run to the first
/// space or tab outside double quotes (`\"` inside quotes is literal).
fn split_options(s: &str) -> Result<(&str, &str), String> {
    let bytes = s.as_bytes();
    let mut quoted = false;
    let mut i = 0usize;
    while let Some(&c) = bytes.get(i) {
        if !quoted && (c == b' ' || c == b'\t') {
            break;
        }
        if c == b'\\' && bytes.get(i + 1) == Some(&b'"') {
            i += 2;
            continue;
        }
        if c == b'"' {
            quoted = !quoted;
        }
        i += 1;
    }
    if quoted {
        return Err("invalid options: unterminated quote".into());
    }
    let i = i.min(s.len());
    Ok((
        s.get(..i).unwrap_or_default(),
        s.get(i..).unwrap_or_default(),
    ))
}

/// A key read from `keytype base64 [comment]`.
enum ReadKey {
    Key(PublicKey),
    Unsupported(String),
}

/// OpenSSH `sshkey_read`: key type, whitespace, base64 blob whose key type
/// must match; the rest of the line is a comment.
fn read_key(s: &str) -> Result<ReadKey, String> {
    let Some(i) = s.find([' ', '\t']) else {
        return Err("missing key data after the key type".into());
    };
    let (kind, rest) = s.split_at(i);
    if !is_key_type(kind) {
        return Err(format!("unknown key type {kind:?}"));
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let end = rest.find([' ', '\t']).unwrap_or(rest.len());
    let (b64, comment) = rest.split_at(end);
    if b64.is_empty() {
        return Err("missing key data after the key type".into());
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64.trim_matches(WHITESPACE))
        .map_err(|e| format!("key data is not base64: {e}"))?;
    let inner = Wire(&blob)
        .text("key type")
        .map_err(|e| format!("key data is invalid: {e}"))?;
    if inner != kind {
        return Err(format!(
            "key type {kind} does not match the key data ({inner})"
        ));
    }
    if !SUPPORTED_KEY_TYPES.contains(&kind) {
        return Ok(ReadKey::Unsupported(kind.to_string()));
    }
    let mut pk = PublicKey::from_bytes(&blob).map_err(|e| format!("invalid {kind} key: {e}"))?;
    if pk.algorithm().as_str() != kind {
        return Err(format!("key type {kind} does not match the key data"));
    }
    if pk.to_bytes().ok().as_deref() != Some(blob.as_slice()) {
        return Err(format!("{kind} key data is not canonically encoded"));
    }
    if let KeyData::Rsa(r) = pk.key_data() {
        if rsa::RsaPublicKey::try_from(r).is_err() {
            // Too small or too large for the rsa crate: it could never verify.
            return Ok(ReadKey::Unsupported(format!(
                "{kind} (modulus outside 2048..=4096 bits)"
            )));
        }
    }
    pk.set_comment(comment.trim_matches(WHITESPACE));
    Ok(ReadKey::Key(pk))
}

/// OpenSSH `opt_dequote`: a double-quoted value (`\"` is a literal quote).
fn dequote(s: &str) -> Result<(String, &str), String> {
    let inner = s.strip_prefix('"').ok_or("missing start quote")?;
    let mut out = String::new();
    let mut chars = inner.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, inner.get(i + 1..).unwrap_or_default())),
            '\\' if inner.get(i + 1..).is_some_and(|r| r.starts_with('"')) => {
                out.push('"');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    Err("missing end quote".into())
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// OpenSSH `sshsigopt_parse`: `cert-authority`, `namespaces="..."`,
/// `valid-after="..."`, `valid-before="..."`, comma-separated, names in any
/// case; anything else is an error.
fn parse_options(opts: &str, entry: &mut AllowedSigner) -> Result<(), String> {
    let mut s = opts;
    let mut namespaces_seen = false;
    while !s.is_empty() && !s.starts_with([' ', '\t']) {
        if let Some(rest) = strip_prefix_ci(s, "cert-authority") {
            entry.cert_authority = true;
            s = rest;
        } else if let Some(rest) = strip_prefix_ci(s, "namespaces=") {
            if namespaces_seen {
                return Err("multiple \"namespaces\" clauses".into());
            }
            namespaces_seen = true;
            let (value, rest) = dequote(rest)?;
            entry.namespaces = Some(split_list(&value));
            s = rest;
        } else if let Some(rest) = strip_prefix_ci(s, "valid-after=") {
            if entry.valid_after.is_some() {
                return Err("multiple \"valid-after\" clauses".into());
            }
            let (value, rest) = dequote(rest)?;
            entry.valid_after =
                Some(parse_absolute_time(&value).ok_or("invalid \"valid-after\" time")?);
            s = rest;
        } else if let Some(rest) = strip_prefix_ci(s, "valid-before=") {
            if entry.valid_before.is_some() {
                return Err("multiple \"valid-before\" clauses".into());
            }
            let (value, rest) = dequote(rest)?;
            entry.valid_before =
                Some(parse_absolute_time(&value).ok_or("invalid \"valid-before\" time")?);
            s = rest;
        }
        if s.is_empty() || s.starts_with([' ', '\t']) {
            break;
        }
        let Some(rest) = s.strip_prefix(',') else {
            let name: String = s
                .chars()
                .take_while(|&c| c != ',' && c != '=')
                .take(40)
                .collect();
            return Err(format!("unknown key option {name:?}"));
        };
        if rest.is_empty() {
            return Err("unexpected end-of-options".into());
        }
        s = rest;
    }
    if let (Some(after), Some(before)) = (entry.valid_after, entry.valid_before) {
        if before <= after {
            return Err("\"valid-before\" time is before \"valid-after\"".into());
        }
    }
    Ok(())
}

/// Parses one non-blank, non-comment line.
fn parse_line(line: &str) -> Result<(AllowedSigner, ReadKey), String> {
    let (principals, rest) = next_token(line).map_err(|e| format!("invalid line: {e}"))?;
    if principals.is_empty() {
        return Err("empty principal list".into());
    }
    let mut entry = AllowedSigner {
        principals: principals.split(',').map(str::to_string).collect(),
        ..AllowedSigner::default()
    };
    // A key directly after the principals, else options then the key.
    let first = rest.split([' ', '\t']).next().unwrap_or_default();
    let key = if is_key_type(first) {
        read_key(rest)?
    } else {
        let (opts, after) = split_options(rest)?;
        let after = after.trim_start_matches([' ', '\t']);
        if after.is_empty() {
            return Err(if opts.is_empty() {
                "missing key".into()
            } else {
                format!("missing key (or unknown key type {opts:?})")
            });
        }
        parse_options(opts, &mut entry).map_err(|e| format!("bad options: {e}"))?;
        read_key(after).map_err(|e| format!("invalid key: {e}"))?
    };
    Ok((entry, key))
}

/// Parses an OpenSSH `allowed_signers` file (`man ssh-keygen`, ALLOWED
/// SIGNERS): one `principals [options] keytype base64-key [comment]` entry
/// per line; blank lines and lines starting with `#` are ignored. Principals
/// are a comma-separated list of patterns, double-quoted when they hold
/// spaces. Options: `cert-authority`, `namespaces="list"`,
/// `valid-after="time"`, `valid-before="time"`; times `YYYYMMDD[HHMM[SS]]`
/// with an optional `Z`, always read as UTC here (OpenSSH reads times
/// without `Z` as local time). An unknown option or a line that is not an
/// entry is an error naming the line. Keys sigward cannot verify (DSA,
/// NIST P-521, XMSS, certificates) are skipped with a warning.
pub fn parse_allowed_signers(
    source: &str,
    text: &[u8],
) -> Result<(Vec<TrustedKey>, Vec<String>), KeyFileError> {
    let mut keys = Vec::new();
    let mut warnings = Vec::new();
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let number = i + 1;
        let bad = |message: String| KeyFileError::Line {
            line: number,
            message,
        };
        let line = std::str::from_utf8(raw).map_err(|_| bad("not UTF-8 text".into()))?;
        let line = line.trim_matches(WHITESPACE);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.contains('\0') {
            return Err(bad("contains a NUL byte".into()));
        }
        let (entry, key) = parse_line(line).map_err(bad)?;
        match key {
            ReadKey::Key(pk) => {
                let label = entry.principals.join(",");
                keys.push(
                    TrustedKey::new(
                        KeyMaterial::Ssh(Box::new(pk)),
                        source,
                        number,
                        KeyOrigin::AllowedSigner(entry),
                    )
                    .with_label(Some(label)),
                );
            }
            ReadKey::Unsupported(kind) => warnings.push(format!(
                "{source}: line {number} ({}): {kind} keys are not supported; entry skipped",
                entry.principals.join(",")
            )),
        }
    }
    Ok((keys, warnings))
}

/// Whether an `allowed_signers` entry's restrictions admit the signature.
pub(super) fn entry_admits(
    entry: &AllowedSigner,
    namespace: &str,
    now: u64,
) -> Result<(), EntryRefusal> {
    if let Some(ns) = &entry.namespaces {
        if match_pattern_list(namespace, ns) != 1 {
            return Err(EntryRefusal::Namespace {
                namespace: namespace.to_string(),
                patterns: ns.clone(),
            });
        }
    }
    if let Some(after) = entry.valid_after {
        if now < after {
            return Err(EntryRefusal::NotYetValid { valid_after: after });
        }
    }
    if let Some(before) = entry.valid_before {
        if now > before {
            return Err(EntryRefusal::Expired {
                valid_before: before,
            });
        }
    }
    Ok(())
}
