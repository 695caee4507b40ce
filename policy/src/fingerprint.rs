//! Key fingerprints.
//!
//! A fingerprint is the SHA-256 of the raw public key bytes (for Ed25519, the
//! 32-byte compressed point), written as 64 lowercase hex characters. It is
//! the same construction Cloacina and Conductor use, so fingerprints printed by
//! those tools match ours. It names keys everywhere: CLI output, signature
//! files, audit records and policies.

use std::fmt;

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

/// SHA-256 of a raw public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of raw public key bytes.
    pub fn of_raw_key(raw: &[u8]) -> Self {
        Self(Sha256::digest(raw).into())
    }

    /// The fingerprint of an Ed25519 public key.
    pub fn of_ed25519(key: &VerifyingKey) -> Self {
        Self::of_raw_key(key.as_bytes())
    }

    /// Parses 64 hex characters (either case).
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(Self(out))
    }

    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let fp = Fingerprint::of_raw_key(&[7u8; 32]);
        let text = fp.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(Fingerprint::from_hex(&text), Some(fp));
        assert_eq!(Fingerprint::from_hex(&text.to_uppercase()), Some(fp));
        assert_eq!(Fingerprint::from_hex(&text[..63]), None);
        assert_eq!(Fingerprint::from_hex("zz"), None);
    }

    #[test]
    fn is_sha256_of_raw_key() {
        // sha256 of 32 zero bytes
        let fp = Fingerprint::of_raw_key(&[0u8; 32]);
        assert_eq!(
            fp.to_string(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }
}
