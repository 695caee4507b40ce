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

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
