//! Trust stores: the public keys a policy trusts.
//!
//! Key files are PEM text holding one or more blocks. `PUBLIC KEY` blocks
//! (SubjectPublicKeyInfo) with an Ed25519 key are loaded; other blocks are
//! skipped with a warning that names the block, and a block holding a private
//! key is an error, because a private key in a trust store means a key file was
//! copied to the wrong place.

use std::collections::HashMap;

use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::VerifyingKey;

use crate::fingerprint::Fingerprint;

/// A public key sigward can verify with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// An Ed25519 key.
    Ed25519(VerifyingKey),
}

impl PublicKey {
    /// The key's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        match self {
            PublicKey::Ed25519(k) => Fingerprint::of_ed25519(k),
        }
    }

    /// A short name of the key type.
    pub fn kind(&self) -> &'static str {
        match self {
            PublicKey::Ed25519(_) => "ed25519",
        }
    }
}

/// A key in a trust store, with where it came from.
#[derive(Clone, Debug)]
pub struct TrustedKey {
    /// The key itself.
    pub key: PublicKey,
    /// Its fingerprint.
    pub fingerprint: Fingerprint,
    /// The file it was loaded from, as given to [`TrustStore::add_pem`].
    pub source: String,
    /// The 1-based index of its PEM block in that file.
    pub block: usize,
}

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyFileError {
    /// The file has no PEM block at all.
    #[error("no PEM block found (expected -----BEGIN PUBLIC KEY-----)")]
    NoPem,
    /// The PEM text is broken.
    #[error("invalid PEM: {0}")]
    BadPem(String),
    /// A block holds a private key.
    #[error(
        "PEM block {block} is a private key ({tag}); a trust store must hold public keys only"
    )]
    PrivateKey {
        /// 1-based block index.
        block: usize,
        /// The block's label.
        tag: String,
    },
    /// Every block was skipped.
    #[error("no usable public key: {0}")]
    NoUsableKey(String),
}

/// What loading one key file did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Keys added (duplicates of keys already present are not counted).
    pub added: usize,
    /// Blocks skipped, one readable line each.
    pub warnings: Vec<String>,
}

/// A set of trusted keys, indexed by fingerprint.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    keys: Vec<TrustedKey>,
    by_fingerprint: HashMap<Fingerprint, usize>,
}

impl TrustStore {
    /// An empty trust store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one key; returns false when a key with the same fingerprint is
    /// already present (the first source wins).
    pub fn insert(&mut self, key: TrustedKey) -> bool {
        if self.by_fingerprint.contains_key(&key.fingerprint) {
            return false;
        }
        self.by_fingerprint.insert(key.fingerprint, self.keys.len());
        self.keys.push(key);
        true
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
            if tag != "PUBLIC KEY" {
                report
                    .warnings
                    .push(format!("{source}: PEM block {index} ({tag}) skipped: not a public key this version can use"));
                continue;
            }
            match VerifyingKey::from_public_key_der(block.contents()) {
                Ok(vk) => {
                    usable += 1;
                    let key = PublicKey::Ed25519(vk);
                    let added = self.insert(TrustedKey {
                        fingerprint: key.fingerprint(),
                        key,
                        source: source.to_string(),
                        block: index,
                    });
                    if added {
                        report.added += 1;
                    }
                }
                Err(e) => report.warnings.push(format!(
                    "{source}: PEM block {index} (PUBLIC KEY) skipped: not an Ed25519 key ({e})"
                )),
            }
        }
        if usable == 0 {
            return Err(KeyFileError::NoUsableKey(report.warnings.join("; ")));
        }
        Ok(report)
    }

    /// The key with this fingerprint.
    pub fn get(&self, fingerprint: &Fingerprint) -> Option<&TrustedKey> {
        self.by_fingerprint
            .get(fingerprint)
            .and_then(|&i| self.keys.get(i))
    }

    /// Every key, in load order.
    pub fn iter(&self) -> impl Iterator<Item = &TrustedKey> {
        self.keys.iter()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
    use ed25519_dalek::SigningKey;

    fn pub_pem(seed: u8) -> String {
        let sk = SigningKey::from_bytes(&[seed; 32]);
        sk.verifying_key()
            .to_public_key_pem(Default::default())
            .unwrap_or_default()
    }

    #[test]
    fn loads_several_blocks() {
        let text = format!("comment line\n{}{}", pub_pem(1), pub_pem(2));
        let mut ts = TrustStore::new();
        let report = ts.add_pem("k.pem", text.as_bytes());
        assert_eq!(report.map(|r| r.added), Ok(2));
        assert_eq!(ts.len(), 2);
        let first = ts.iter().next().map(|k| (k.source.clone(), k.block));
        assert_eq!(first, Some(("k.pem".to_string(), 1)));
    }

    #[test]
    fn duplicate_key_counted_once() {
        let mut ts = TrustStore::new();
        assert_eq!(
            ts.add_pem("a", pub_pem(1).as_bytes()).map(|r| r.added),
            Ok(1)
        );
        assert_eq!(
            ts.add_pem("b", pub_pem(1).as_bytes()).map(|r| r.added),
            Ok(0)
        );
        assert_eq!(ts.len(), 1);
    }

    #[test]
    fn private_key_is_an_error() {
        let sk = SigningKey::from_bytes(&[3; 32]);
        let pem = sk
            .to_pkcs8_pem(Default::default())
            .map(|z| z.to_string())
            .unwrap_or_default();
        let err = TrustStore::new().add_pem("x", pem.as_bytes());
        assert!(matches!(
            err,
            Err(KeyFileError::PrivateKey { block: 1, .. })
        ));
    }

    #[test]
    fn no_pem_and_unusable_blocks() {
        assert_eq!(
            TrustStore::new().add_pem("x", b"hello").map(|r| r.added),
            Err(KeyFileError::NoPem)
        );
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            TrustStore::new().add_pem("x", cert.as_bytes()),
            Err(KeyFileError::NoUsableKey(_))
        ));
        // A usable key next to an unusable block loads with a warning.
        let text = format!("{cert}{}", pub_pem(4));
        let report = TrustStore::new().add_pem("x", text.as_bytes());
        assert!(matches!(&report, Ok(r) if r.added == 1 && r.warnings.len() == 1));
    }

    #[test]
    fn garbage_public_key_block_is_skipped() {
        let text = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(matches!(
            TrustStore::new().add_pem("x", text.as_bytes()),
            Err(KeyFileError::NoUsableKey(_))
        ));
    }
}
