//! Checking the signature blob with the signer's key: Ed25519 and
//! `sk-ssh-ed25519` with `ed25519-dalek`, RSA (SHA-2 only) and ECDSA with
//! the `ssh-key` crate.

use ed25519_dalek::Verifier as _;
use sha2::{Digest as _, Sha256};
use ssh_key::public::KeyData;

use super::wire::Wire;
use super::SshSignature;

/// Checks the signature blob against `message` with `key`.
pub(super) fn check_signature(
    key: &KeyData,
    sig: &SshSignature,
    message: &[u8],
) -> Result<(), String> {
    let mut w = Wire(&sig.signature);
    let alg = w.text("signature algorithm")?;
    let raw = w.string()?;
    let sk_trailer = match key {
        KeyData::SkEd25519(_) | KeyData::SkEcdsaSha2NistP256(_) => Some((w.u8()?, w.u32()?)),
        _ => None,
    };
    if !w.is_empty() {
        return Err("signature blob has trailing data".into());
    }
    match key {
        KeyData::Ed25519(pk) => {
            if alg != "ssh-ed25519" {
                return Err(format!(
                    "signature algorithm {alg} does not match an ssh-ed25519 key"
                ));
            }
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk.0)
                .map_err(|_| "invalid Ed25519 key")?;
            let s = ed25519_dalek::Signature::from_slice(raw)
                .map_err(|_| "Ed25519 signature is not 64 bytes")?;
            vk.verify_strict(message, &s)
                .map_err(|_| "signature does not verify".to_string())
        }
        KeyData::SkEd25519(sk) => {
            if alg != "sk-ssh-ed25519@openssh.com" {
                return Err(format!(
                    "signature algorithm {alg} does not match an sk-ssh-ed25519 key"
                ));
            }
            let (flags, counter) = sk_trailer.unwrap_or_default();
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&sk.public_key().0)
                .map_err(|_| "invalid Ed25519 key")?;
            let s = ed25519_dalek::Signature::from_slice(raw)
                .map_err(|_| "Ed25519 signature is not 64 bytes")?;
            // PROTOCOL.u2f: SHA256(application) || flags || counter || SHA256(message).
            let mut m = Vec::with_capacity(32 + 1 + 4 + 32);
            m.extend_from_slice(&Sha256::digest(sk.application().as_bytes()));
            m.push(flags);
            m.extend_from_slice(&counter.to_be_bytes());
            m.extend_from_slice(&Sha256::digest(message));
            vk.verify_strict(&m, &s)
                .map_err(|_| "signature does not verify".to_string())
        }
        KeyData::Rsa(_) | KeyData::Ecdsa(_) | KeyData::SkEcdsaSha2NistP256(_) => {
            if matches!(key, KeyData::Rsa(_)) && alg != "rsa-sha2-512" && alg != "rsa-sha2-256" {
                return Err(format!(
                    "RSA signature algorithm {alg} is refused (OpenSSH accepts only rsa-sha2-512 and rsa-sha2-256)"
                ));
            }
            let s = ssh_key::Signature::try_from(sig.signature.as_slice())
                .map_err(|e| format!("signature blob is invalid: {e}"))?;
            key.verify(message, &s)
                .map_err(|_| "signature does not verify".to_string())
        }
        other => Err(format!(
            "{} keys are not supported",
            other.algorithm().as_str()
        )),
    }
}
