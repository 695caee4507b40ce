//! `NOTUR_PUBLIC_KEY` from a Notur panel's `.env` file.
//!
//! Notur reads its public key with `config('notur.public_key')`, which a
//! Laravel panel takes from `NOTUR_PUBLIC_KEY` in its `.env` (read by
//! phpdotenv). Only that entry is read here, and conservatively: whatever
//! sigward is not sure to read as phpdotenv does refuses the file rather
//! than trusting a key the panel does not use.
//!
//! * Lines end at `\n` (a `\r` before it is dropped). Blank lines and lines
//!   whose first non-blank character is `#` are comments.
//! * An entry is `NAME=value`, with an optional `export ` before the name
//!   and blanks around `=`. Lines that do not name `NOTUR_PUBLIC_KEY` are
//!   not otherwise examined (a panel's `.env` holds much else).
//! * The value is 64 hex characters, unquoted (a ` #` starts a comment),
//!   in double quotes or in single quotes, with nothing but blanks or a
//!   comment after the closing quote. An escape (`\`), an unclosed quote, a
//!   variable (`${...}`), a value split over lines, or any other character
//!   refuses the file.
//! * The entry may appear more than once only with the same value (the
//!   last would win in phpdotenv; two values are refused).
//!
//! A real environment variable `NOTUR_PUBLIC_KEY` of the PHP process, and a
//! cached Laravel configuration (`php artisan config:cache`), take
//! precedence over `.env` in the panel; sigward reads the file only.

use ed25519_dalek::VerifyingKey;

/// The entry read.
pub const NAME: &str = "NOTUR_PUBLIC_KEY";

/// The secret key's entry, which does not belong on a panel.
pub const SECRET_NAME: &str = "NOTUR_SECRET_KEY";

/// What a `.env` file says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvKey {
    /// The key.
    pub key: VerifyingKey,
    /// The 1-based line of its (last) entry.
    pub line: usize,
    /// The line of a non-empty `NOTUR_SECRET_KEY` entry, if any.
    pub secret_line: Option<usize>,
}

/// Why a `.env` file gives no usable `NOTUR_PUBLIC_KEY`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// No entry names it.
    #[error("no {NAME} entry")]
    Missing,
    /// The value cannot be read as phpdotenv reads it, or is not 64 hex
    /// characters.
    #[error("line {line}: {NAME} {why}")]
    Value {
        /// 1-based line.
        line: usize,
        /// What is wrong, after the name.
        why: &'static str,
    },
    /// The 64 hex characters are not an Ed25519 key.
    #[error("line {line}: {NAME} is not an Ed25519 public key: {message}")]
    Key {
        /// 1-based line.
        line: usize,
        /// Why.
        message: String,
    },
    /// Two entries give different values.
    #[error("line {line}: {NAME} is set again, to another value than on line {first}")]
    Twice {
        /// 1-based line of the second value.
        line: usize,
        /// 1-based line of the first.
        first: usize,
    },
}

/// Reads `NOTUR_PUBLIC_KEY` from the text of a `.env` file.
pub fn parse_env(text: &[u8]) -> Result<EnvKey, EnvError> {
    let mut found: Option<([u8; 64], usize)> = None;
    let mut secret_line = None;
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Some((name, value)) = entry(raw) else {
            continue;
        };
        if name == SECRET_NAME.as_bytes() {
            if value
                .iter()
                .any(|b| !b.is_ascii_whitespace() && *b != b'"' && *b != b'\'')
            {
                secret_line = Some(line);
            }
            continue;
        }
        if name != NAME.as_bytes() {
            continue;
        }
        let hex = value_of(value).map_err(|why| EnvError::Value { line, why })?;
        match found {
            Some((first, at)) if first != hex => {
                return Err(EnvError::Twice { line, first: at });
            }
            _ => found = Some((hex, line)),
        }
    }
    let (hex, line) = found.ok_or(EnvError::Missing)?;
    let key = crate::formats::notur::parse_hex_key(&hex).map_err(|e| EnvError::Key {
        line,
        message: e.to_string(),
    })?;
    Ok(EnvKey {
        key,
        line,
        secret_line,
    })
}

/// The name and the rest after `=` of an entry line; `None` for comments,
/// blank lines and lines that are not `NAME=...`.
fn entry(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let line = line.trim_ascii_start();
    if line.first().is_none_or(|&b| b == b'#') {
        return None;
    }
    let line = match line.strip_prefix(b"export") {
        Some(rest) if rest.first().is_some_and(|b| *b == b' ' || *b == b'\t') => {
            rest.trim_ascii_start()
        }
        _ => line,
    };
    let end = line
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'.'))
        .unwrap_or(line.len());
    let (name, rest) = line.split_at(end);
    let rest = rest.trim_ascii_start().strip_prefix(b"=")?;
    (!name.is_empty()).then_some((name, rest))
}

/// The 64 hex characters of a value (what follows `=`).
fn value_of(value: &[u8]) -> Result<[u8; 64], &'static str> {
    let value = value.trim_ascii_start();
    let body = match value.first() {
        None => return Err("is empty"),
        Some(&q @ (b'"' | b'\'')) => {
            let inner = value.get(1..).unwrap_or_default();
            let close = inner
                .iter()
                .position(|&b| b == q)
                .ok_or("has a quote that is not closed on its line")?;
            let (body, after) = inner.split_at(close);
            let after = after.get(1..).unwrap_or_default().trim_ascii_start();
            if !(after.is_empty() || after.first() == Some(&b'#')) {
                return Err("has text after its closing quote");
            }
            body
        }
        Some(_) => {
            // An unquoted value ends at a comment (` #`).
            let end = value
                .windows(2)
                .position(|w| w[0].is_ascii_whitespace() && w[1] == b'#')
                .unwrap_or(value.len());
            value.get(..end).unwrap_or(value).trim_ascii_end()
        }
    };
    if body.contains(&b'\\') {
        return Err("holds an escape (\\), which sigward does not read");
    }
    if body.contains(&b'$') {
        return Err("refers to a variable ($), which sigward does not expand");
    }
    if body.is_empty() {
        return Err("is empty");
    }
    <[u8; 64]>::try_from(body)
        .ok()
        .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
        .ok_or("is not 64 hex characters")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    const PK: &str = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";

    fn key() -> VerifyingKey {
        crate::formats::notur::parse_hex_key(PK.as_bytes()).unwrap()
    }

    fn ok(text: &str) -> EnvKey {
        parse_env(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn err(text: &str) -> String {
        parse_env(text.as_bytes())
            .map(|k| format!("{k:?}"))
            .expect_err(text)
            .to_string()
    }

    #[test]
    fn forms_phpdotenv_reads() {
        // A Laravel panel's .env, as `php artisan notur:keygen` suggests.
        let panel = format!(
            "APP_NAME=Pterodactyl\nAPP_ENV=production\nAPP_KEY=base64:abc=\n# Notur\n\nNOTUR_PUBLIC_KEY={PK}\nDB_PASSWORD=\"p#ss word\"\n"
        );
        let k = ok(&panel);
        assert_eq!((k.key, k.line, k.secret_line), (key(), 6, None));
        for text in [
            format!("NOTUR_PUBLIC_KEY=\"{PK}\""),
            format!("NOTUR_PUBLIC_KEY='{PK}'\r\n"),
            format!("export NOTUR_PUBLIC_KEY={PK}"),
            format!("  NOTUR_PUBLIC_KEY = {PK}  # the author's key"),
            format!("NOTUR_PUBLIC_KEY=\"{PK}\" # comment"),
            format!("NOTUR_PUBLIC_KEY={}", PK.to_uppercase()),
            format!("NOTUR_PUBLIC_KEY={PK}\nNOTUR_PUBLIC_KEY='{PK}'"),
            format!("#NOTUR_PUBLIC_KEY=nothing\nNOTUR_PUBLIC_KEY={PK}"),
        ] {
            assert_eq!(ok(&text).key, key(), "{text:?}");
        }
        // A secret key on the panel is reported (it belongs elsewhere).
        let k = ok(&format!(
            "NOTUR_SECRET_KEY={}{PK}\nNOTUR_PUBLIC_KEY={PK}\n",
            "0".repeat(64)
        ));
        assert_eq!(k.secret_line, Some(1));
        assert_eq!(
            ok(&format!("NOTUR_SECRET_KEY=\nNOTUR_PUBLIC_KEY={PK}")).secret_line,
            None
        );
        // Names that merely contain it are other variables.
        assert_eq!(
            err(&format!("MY_NOTUR_PUBLIC_KEY={PK}")),
            "no NOTUR_PUBLIC_KEY entry"
        );
        assert_eq!(
            err(&format!("NOTUR_PUBLIC_KEYS={PK}")),
            "no NOTUR_PUBLIC_KEY entry"
        );
    }

    #[test]
    fn what_is_not_sure_is_refused() {
        let cases = [
            ("", "no NOTUR_PUBLIC_KEY entry"),
            ("NOTUR_PUBLIC_KEY=", "line 1: NOTUR_PUBLIC_KEY is empty"),
            ("NOTUR_PUBLIC_KEY=\"\"", "line 1: NOTUR_PUBLIC_KEY is empty"),
            (
                "NOTUR_PUBLIC_KEY=a1b2c3d4e5f6...",
                "line 1: NOTUR_PUBLIC_KEY is not 64 hex characters",
            ),
            (
                "NOTUR_PUBLIC_KEY=\"abc",
                "line 1: NOTUR_PUBLIC_KEY has a quote that is not closed on its line",
            ),
            (
                "NOTUR_PUBLIC_KEY=${OTHER}",
                "line 1: NOTUR_PUBLIC_KEY refers to a variable ($), which sigward does not expand",
            ),
            (
                "NOTUR_PUBLIC_KEY=\"a\\nb\"",
                "line 1: NOTUR_PUBLIC_KEY holds an escape (\\), which sigward does not read",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(err(text), want, "{text:?}");
        }
        assert_eq!(
            err(&format!("NOTUR_PUBLIC_KEY=\"{PK}\"x")),
            "line 1: NOTUR_PUBLIC_KEY has text after its closing quote"
        );
        assert_eq!(
            err(&format!("NOTUR_PUBLIC_KEY={PK} extra")),
            "line 1: NOTUR_PUBLIC_KEY is not 64 hex characters"
        );
        let other = PK.replace('3', "4");
        assert_eq!(
            err(&format!(
                "NOTUR_PUBLIC_KEY={PK}\n\nNOTUR_PUBLIC_KEY={other}"
            )),
            "line 3: NOTUR_PUBLIC_KEY is set again, to another value than on line 1"
        );
        // 64 hex characters that are no curve point.
        let raw = (0u8..=255)
            .map(|b| [b; 32])
            .find(|raw| VerifyingKey::from_bytes(raw).is_err())
            .unwrap();
        let bad = format!("NOTUR_PUBLIC_KEY={}", hex::encode(raw));
        assert!(
            err(&bad).starts_with("line 1: NOTUR_PUBLIC_KEY is not an Ed25519 public key: "),
            "{}",
            err(&bad)
        );
        // Never panics on arbitrary bytes.
        for n in 0..512u32 {
            let bytes: Vec<u8> = (0..n)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect();
            let _ = parse_env(&bytes);
            let mut with = b"NOTUR_PUBLIC_KEY=".to_vec();
            with.extend(&bytes);
            let _ = parse_env(&with);
        }
    }
}
