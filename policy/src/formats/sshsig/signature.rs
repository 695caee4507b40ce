//! Checking the signature blob with the signer's key: Ed25519 and
//! `sk-ssh-ed25519` with `ed25519-dalek`, RSA (SHA-2 only) and ECDSA with
//! the `ssh-key` crate.

use ed25519_dalek::Verifier as _;
use sha2::{Digest as _, Sha256};
use ssh_key::public::KeyData;

use super::error::CheckError;
use super::wire::Wire;
use super::SshSignature;

/// Checks the signature blob against `message` with `key`.
pub(super) fn check_signature(
    key: &KeyData,
    sig: &SshSignature,
    message: &[u8],
) -> Result<(), CheckError> {
    let mut w = Wire(&sig.signature);
    let alg = w.text("signature algorithm")?;
    let raw = w.string()?;
    let sk_trailer = match key {
        KeyData::SkEd25519(_) | KeyData::SkEcdsaSha2NistP256(_) => Some((w.u8()?, w.u32()?)),
        _ => None,
    };
    if !w.is_empty() {
        return Err(CheckError::TrailingData);
    }
    match key {
        KeyData::Ed25519(pk) => {
            if alg != "ssh-ed25519" {
                return Err(CheckError::AlgorithmMismatch {
                    algorithm: alg.to_string(),
                    key_type: "ssh-ed25519",
                });
            }
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk.0)
                .map_err(|_| CheckError::InvalidEd25519Key)?;
            let s =
                ed25519_dalek::Signature::from_slice(raw).map_err(|_| CheckError::Ed25519Length)?;
            vk.verify_strict(message, &s)
                .map_err(|_| CheckError::DoesNotVerify)
        }
        KeyData::SkEd25519(sk) => {
            if alg != "sk-ssh-ed25519@openssh.com" {
                return Err(CheckError::AlgorithmMismatch {
                    algorithm: alg.to_string(),
                    key_type: "sk-ssh-ed25519",
                });
            }
            let (flags, counter) = sk_trailer.unwrap_or_default();
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&sk.public_key().0)
                .map_err(|_| CheckError::InvalidEd25519Key)?;
            let s =
                ed25519_dalek::Signature::from_slice(raw).map_err(|_| CheckError::Ed25519Length)?;
            // PROTOCOL.u2f: SHA256(application) || flags || counter || SHA256(message).
            let mut m = Vec::with_capacity(32 + 1 + 4 + 32);
            m.extend_from_slice(&Sha256::digest(sk.application().as_bytes()));
            m.push(flags);
            m.extend_from_slice(&counter.to_be_bytes());
            m.extend_from_slice(&Sha256::digest(message));
            vk.verify_strict(&m, &s)
                .map_err(|_| CheckError::DoesNotVerify)
        }
        KeyData::Rsa(_) | KeyData::Ecdsa(_) | KeyData::SkEcdsaSha2NistP256(_) => {
            if matches!(key, KeyData::Rsa(_)) && alg != "rsa-sha2-512" && alg != "rsa-sha2-256" {
                return Err(CheckError::RefusedRsaAlgorithm {
                    algorithm: alg.to_string(),
                });
            }
            let s = ssh_key::Signature::try_from(sig.signature.as_slice())
                .map_err(CheckError::InvalidBlob)?;
            key.verify(message, &s)
                .map_err(|_| CheckError::DoesNotVerify)
        }
        other => Err(CheckError::UnsupportedKey {
            algorithm: other.algorithm().as_str().to_string(),
        }),
    }
}
