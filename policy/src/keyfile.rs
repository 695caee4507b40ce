//! Reading key files into a [`TrustStore`]: the format of each file is
//! recognised by its content, and parsed by the format that owns it (PEM
//! public keys and certificates, minisign public keys, Notur hex keys,
//! Conductor `trusted_keys.toml`, OpenSSH `allowed_signers`).
//!
//! These are methods of [`TrustStore`] defined here, above both the trust
//! store and the formats, so that `trust` needs nothing of the formats
//! while the formats use the trust store.

use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::VerifyingKey;

use crate::formats;
use crate::trust::{KeyFileError, KeyMaterial, KeyOrigin, LoadReport, TrustStore, TrustedKey};

/// The extensions AiSOC loads from its trusted-keys directory, compared
/// case-insensitively (`path.suffix.lower() in {".pem", ".pub"}`).
pub const AISOC_KEY_EXTENSIONS: [&str; 2] = ["pem", "pub"];

/// The key id AiSOC gives a file of its trusted-keys directory (its name
/// without the extension, Python's `Path.stem`), or `None` when AiSOC does
/// not load the file: its extension (Python's `Path.suffix`: from the last
/// `.`, which must be neither the first nor the last character) is not
/// `.pem` or `.pub` in any case.
pub fn aisoc_key_id(file_name: &[u8]) -> Option<&[u8]> {
    let dot = file_name.iter().rposition(|&b| b == b'.')?;
    if dot == 0 || dot + 1 == file_name.len() {
        return None;
    }
    let (stem, ext) = file_name.split_at(dot);
    let ext = ext.get(1..)?;
    AISOC_KEY_EXTENSIONS
        .iter()
        .any(|e| ext.eq_ignore_ascii_case(e.as_bytes()))
        .then_some(stem)
}

/// Why AiSOC cannot use a file of its trusted-keys directory (it reads the
/// first PEM block with `cryptography`'s `load_pem_public_key` and verifies
/// with Ed25519 only); sigward skips such a file as AiSOC does, with this
/// as the warning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AisocKeySkip {
    /// The file is empty.
    #[error("empty")]
    Empty,
    /// No PEM block.
    #[error("no PEM block (AiSOC reads an Ed25519 PUBLIC KEY PEM)")]
    NoPem,
    /// The first PEM block is broken.
    #[error("invalid PEM: {0}")]
    BadPem(String),
    /// The first block is a private key.
    #[error(
        "a private key ({0}), which AiSOC cannot use as a trusted key: remove this secret from \
         the host (and replace the key, since it was copied where it does not belong)"
    )]
    PrivateKey(String),
    /// The first block is something else.
    #[error("its first PEM block is {0}, not a PUBLIC KEY")]
    NotPublicKey(String),
    /// A public key of another algorithm.
    #[error("not an Ed25519 key ({0}); AiSOC verifies Ed25519 signatures only")]
    NotEd25519(&'static str),
}

impl TrustStore {
    /// Loads a key file, recognising its format by content.
    pub fn add_file(&mut self, source: &str, text: &[u8]) -> Result<LoadReport, KeyFileError> {
        let trimmed = text.trim_ascii();
        if trimmed.starts_with(b"-----BEGIN") || contains(text, b"\n-----BEGIN ") {
            return self.add_pem(source, text);
        }
        if trimmed.starts_with(b"untrusted comment:") {
            return self.extend(formats::minisign::parse_public_key_file(source, text)?);
        }
        if trimmed.len() == 64 && trimmed.iter().all(u8::is_ascii_hexdigit) {
            let key = formats::notur::parse_hex_key(trimmed)
                .map_err(|e| KeyFileError::Invalid(e.to_string()))?;
            let added = self.insert(TrustedKey::new(
                KeyMaterial::Ed25519(key),
                source,
                1,
                KeyOrigin::Hex,
            ));
            return Ok(LoadReport {
                added: usize::from(added),
                ..LoadReport::default()
            });
        }
        if formats::conductor::looks_like_keys_toml(text) {
            let parsed = formats::conductor::parse_keys_toml(source, text)?;
            let mut report = self.extend(parsed.trusted)?;
            for fp in parsed.revoked {
                if self.revoke(fp) {
                    report.revoked += 1;
                }
            }
            return Ok(report);
        }
        Err(KeyFileError::Unrecognised)
    }

    /// Loads a file of a revocation directory (`revoked_dir`): a key file
    /// ([`add_file`](Self::add_file); the caller revokes its keys), or a
    /// Conductor revocation list. A revocation list that lists nothing (an
    /// empty file, only comments, `revoked = []`) is read as Conductor reads
    /// it: it revokes nothing, with a warning.
    pub fn add_revocation_file(
        &mut self,
        source: &str,
        text: &[u8],
    ) -> Result<LoadReport, KeyFileError> {
        if formats::conductor::is_empty_revocation_list(text) {
            return Ok(LoadReport {
                warnings: vec![format!(
                    "{source}: {}",
                    formats::conductor::WARN_EMPTY_REVOCATION_LIST
                )],
                ..LoadReport::default()
            });
        }
        self.add_file(source, text)
    }

    /// Loads one file of an AiSOC trusted-keys directory as AiSOC loads it:
    /// the first PEM block, which must be an Ed25519 SPKI `PUBLIC KEY`;
    /// later blocks are ignored with a warning. `key_id` (see
    /// [`aisoc_key_id`]) labels the key. `Err` says why AiSOC cannot use the
    /// file: the caller skips it, as AiSOC does, with a warning.
    pub fn add_aisoc_key(
        &mut self,
        source: &str,
        key_id: &str,
        text: &[u8],
    ) -> Result<LoadReport, AisocKeySkip> {
        if text.trim_ascii().is_empty() {
            return Err(AisocKeySkip::Empty);
        }
        let blocks = pem::parse_many(text).map_err(|e| AisocKeySkip::BadPem(e.to_string()))?;
        let Some(first) = blocks.first() else {
            return Err(AisocKeySkip::NoPem);
        };
        let tag = first.tag();
        if tag.contains("PRIVATE KEY") {
            return Err(AisocKeySkip::PrivateKey(tag.to_string()));
        }
        if tag != "PUBLIC KEY" && tag != "RSA PUBLIC KEY" {
            return Err(AisocKeySkip::NotPublicKey(tag.to_string()));
        }
        let vk = match VerifyingKey::from_public_key_der(first.contents()) {
            Ok(vk) if tag == "PUBLIC KEY" => vk,
            _ => {
                let what = if tag == "RSA PUBLIC KEY"
                    || formats::rsa::key_from_spki_der(first.contents()).is_ok()
                {
                    "RSA"
                } else if contains(first.contents(), &EC_PUBLIC_KEY_OID) {
                    "EC"
                } else {
                    "unknown algorithm"
                };
                return Err(AisocKeySkip::NotEd25519(what));
            }
        };
        let key = TrustedKey::new(KeyMaterial::Ed25519(vk), source, 1, KeyOrigin::Pem)
            .with_label(Some(key_id.to_string()));
        let mut report = LoadReport {
            added: usize::from(self.insert(key)),
            ..LoadReport::default()
        };
        if blocks.len() > 1 {
            report.warnings.push(format!(
                "{source}: {} PEM block(s) after the first ignored, as AiSOC reads only the first",
                blocks.len() - 1
            ));
        }
        Ok(report)
    }

    /// Loads `NOTUR_PUBLIC_KEY` from a Notur panel's `.env` file
    /// ([`formats::notur::env`]); a `NOTUR_SECRET_KEY` beside it is a
    /// warning.
    pub fn add_notur_env(&mut self, source: &str, text: &[u8]) -> Result<LoadReport, KeyFileError> {
        let found = formats::notur::env::parse_env(text)
            .map_err(|e| KeyFileError::Invalid(e.to_string()))?;
        let key = TrustedKey::new(
            KeyMaterial::Ed25519(found.key),
            source,
            found.line,
            KeyOrigin::Hex,
        )
        .with_label(Some(formats::notur::env::NAME.to_string()));
        let mut report = LoadReport {
            added: usize::from(self.insert(key)),
            ..LoadReport::default()
        };
        if let Some(line) = found.secret_line {
            report.warnings.push(format!(
                "{source}: line {line}: {} is set: a Notur secret key signs extensions and does \
                 not belong on a panel that only verifies them",
                formats::notur::env::SECRET_NAME
            ));
        }
        Ok(report)
    }

    /// Loads an OpenSSH `allowed_signers` file.
    pub fn add_allowed_signers(
        &mut self,
        source: &str,
        text: &[u8],
    ) -> Result<LoadReport, KeyFileError> {
        self.extend(formats::sshsig::parse_allowed_signers(source, text)?)
    }

    /// Loads every usable key from the PEM text of a key file.
    pub fn add_pem(&mut self, source: &str, text: &[u8]) -> Result<LoadReport, KeyFileError> {
        let blocks = pem::parse_many(text).map_err(|e| KeyFileError::BadPem(e.to_string()))?;
        if blocks.is_empty() {
            return Err(KeyFileError::NoPem);
        }
        let mut report = LoadReport::default();
        let mut usable = 0usize;
        for (i, block) in blocks.iter().enumerate() {
            let index = i + 1;
            let tag = block.tag();
            if tag.contains("PRIVATE KEY") {
                return Err(KeyFileError::PrivateKey {
                    block: index,
                    tag: tag.to_string(),
                });
            }
            let parsed = match tag {
                "PUBLIC KEY" => match VerifyingKey::from_public_key_der(block.contents()) {
                    Ok(vk) => Ok((KeyMaterial::Ed25519(vk), None)),
                    Err(_) => formats::rsa::key_from_spki_der(block.contents())
                        .map(|k| (k, None))
                        .map_err(|e| e.to_string()),
                },
                "RSA PUBLIC KEY" => formats::rsa::key_from_pkcs1_der(block.contents())
                    .map(|k| (k, None))
                    .map_err(|e| e.to_string()),
                "CERTIFICATE" => formats::rsa::key_from_certificate_der(block.contents())
                    .map_err(|e| e.to_string()),
                other => Err(format!("{other} blocks are not public keys")),
            };
            match parsed {
                Ok((material, label)) => {
                    usable += 1;
                    let key =
                        TrustedKey::new(material, source, index, KeyOrigin::Pem).with_label(label);
                    if self.insert(key) {
                        report.added += 1;
                    }
                }
                Err(why) => report.warnings.push(format!(
                    "{source}: PEM block {index} ({tag}) skipped: {why}"
                )),
            }
        }
        if usable == 0 {
            return Err(KeyFileError::NoUsableKey(report.warnings.join("; ")));
        }
        Ok(report)
    }
}

/// DER of the OID `id-ecPublicKey` (1.2.840.10045.2.1), as in an EC key's
/// SPKI.
const EC_PUBLIC_KEY_OID: [u8; 9] = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod aisoc_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// `openssl genpkey -algorithm ed25519` and its `pkey -pubout`.
    const PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIIdQV1HWKRHGppfUnYh7N7S1LeVpLNYnWBpM1m0IjN4j\n-----END PRIVATE KEY-----\n";
    const PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA43QJ6XAMn/YJ1PHtwY4kK/kkNEKGYkouveFsDQrZY78=\n-----END PUBLIC KEY-----\n";
    /// `openssl ecparam -name prime256v1 -genkey` and its `ec -pubout`.
    const EC: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAESJoOC9kwQvEtSOJEQmGwkKiHHOOf\nFuPIGZa5xg66yRraZ2u8a7v6S+a/ZT+eCG3HkKAcm5B+Uue/3+eyZ36CIw==\n-----END PUBLIC KEY-----\n";

    #[test]
    fn key_ids_follow_python_suffix_and_stem() {
        let id =
            |n: &str| aisoc_key_id(n.as_bytes()).map(|s| String::from_utf8_lossy(s).into_owned());
        assert_eq!(id("myorg.pem").as_deref(), Some("myorg"));
        assert_eq!(id("MYORG.PEM").as_deref(), Some("MYORG"));
        assert_eq!(id("signing.pub").as_deref(), Some("signing"));
        assert_eq!(id("a.b.Pub").as_deref(), Some("a.b"));
        assert_eq!(id(".hidden.pem").as_deref(), Some(".hidden"));
        for skipped in [
            "signing.key",
            "k.public",
            "k.pem.bak",
            ".pem",
            "pem",
            "k.",
            "README",
        ] {
            assert_eq!(id(skipped), None, "{skipped}");
        }
    }

    #[test]
    fn only_what_aisoc_can_use_is_loaded() {
        let mut ts = TrustStore::new();
        let r = ts
            .add_aisoc_key("/k/myorg.pem", "myorg", PUBLIC.as_bytes())
            .unwrap();
        assert_eq!((r.added, r.warnings.len()), (1, 0));
        let k = ts.iter().next().unwrap();
        assert_eq!(k.label.as_deref(), Some("myorg"));
        assert_eq!(k.source, "/k/myorg.pem");
        let skip = |text: &str| {
            TrustStore::new()
                .add_aisoc_key("k", "k", text.as_bytes())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(skip(""), "empty");
        assert_eq!(skip(" \n"), "empty");
        assert_eq!(
            skip("hello"),
            "no PEM block (AiSOC reads an Ed25519 PUBLIC KEY PEM)"
        );
        assert!(skip(PRIVATE).starts_with("a private key (PRIVATE KEY), which AiSOC cannot use"));
        assert_eq!(
            skip(EC),
            "not an Ed25519 key (EC); AiSOC verifies Ed25519 signatures only"
        );
        assert_eq!(
            skip("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            "its first PEM block is CERTIFICATE, not a PUBLIC KEY"
        );
        // A private key after the public one: AiSOC reads the first block.
        let mut ts = TrustStore::new();
        let r = ts
            .add_aisoc_key("k.pem", "k", format!("{PUBLIC}{PRIVATE}").as_bytes())
            .unwrap();
        assert_eq!(r.added, 1);
        assert_eq!(
            r.warnings,
            ["k.pem: 1 PEM block(s) after the first ignored, as AiSOC reads only the first"]
        );
        // ...and the other way round, the file is skipped.
        assert!(TrustStore::new()
            .add_aisoc_key("k.pem", "k", format!("{PRIVATE}{PUBLIC}").as_bytes())
            .is_err());
    }
}
