//! The SSH wire encoding (RFC 4251) of the `SSHSIG` blob: reading the
//! signature file's blob and building the data a signature covers.

use ssh_key::PublicKey;

use super::error::{ParseError, WireError};
use super::{SignerKey, SshHash, SshSignature};

/// The magic preamble of the blob and of the signed data.
pub(super) const MAGIC: &[u8] = b"SSHSIG";
/// The suffix of OpenSSH certificate algorithm names.
pub(super) const CERT_SUFFIX: &str = "-cert-v01@openssh.com";

/// A reader of SSH wire encoding (RFC 4251) over a byte slice.
pub(super) struct Wire<'a>(pub(super) &'a [u8]);

impl<'a> Wire<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.0.len() {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    pub(super) fn u32(&mut self) -> Result<u32, WireError> {
        let b: [u8; 4] = self.take(4)?.try_into().map_err(|_| WireError::Truncated)?;
        Ok(u32::from_be_bytes(b))
    }

    pub(super) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    pub(super) fn string(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u32()?;
        self.take(usize::try_from(n).map_err(|_| WireError::Truncated)?)
    }

    pub(super) fn text(&mut self, what: &'static str) -> Result<&'a str, WireError> {
        let s = self.string()?;
        if s.contains(&0) {
            return Err(WireError::Nul { field: what });
        }
        std::str::from_utf8(s).map_err(|_| WireError::NotUtf8 { field: what })
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Appends `s` as an SSH `string` (uint32 length, then the bytes).
pub(super) fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    // Every string put here is bounded far below 4 GiB (namespace from a
    // 64 KiB file, digests of 64 bytes), so the cast cannot truncate.
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// Parses the binary `SSHSIG` blob, as OpenSSH's `sshsig_wrap_verify` does
/// (trailing data is an error).
pub fn parse_blob(blob: &[u8]) -> Result<SshSignature, ParseError> {
    let mut w = Wire(blob);
    if w.take(MAGIC.len()).ok() != Some(MAGIC) {
        return Err(ParseError::MissingMagic);
    }
    let version = w.u32()?;
    if version > 1 {
        return Err(ParseError::UnsupportedVersion { version });
    }
    let key_blob = w.string()?;
    let namespace = w.text("namespace")?.to_string();
    let _reserved = w.string()?;
    let hash = match w.text("hash algorithm")? {
        "sha256" => SshHash::Sha256,
        "sha512" => SshHash::Sha512,
        other => {
            return Err(ParseError::UnsupportedHash {
                algorithm: other.to_string(),
            })
        }
    };
    let signature = w.string()?.to_vec();
    if !w.is_empty() {
        return Err(ParseError::TrailingData);
    }
    let key_alg = Wire(key_blob).text("public key algorithm")?.to_string();
    let key = if key_alg.ends_with(CERT_SUFFIX) {
        SignerKey::Certificate(key_alg)
    } else {
        let pk = match PublicKey::from_bytes(key_blob) {
            Ok(pk) => pk,
            Err(error) => {
                return Err(ParseError::InvalidKey {
                    algorithm: key_alg,
                    error,
                })
            }
        };
        if pk.algorithm().as_str() != key_alg {
            return Err(ParseError::KeyAlgorithmMismatch { algorithm: key_alg });
        }
        if pk.to_bytes().ok().as_deref() != Some(key_blob) {
            return Err(ParseError::NonCanonicalKey { algorithm: key_alg });
        }
        SignerKey::Plain(pk.key_data().clone())
    };
    let signature_algorithm = Wire(&signature).text("signature algorithm")?.to_string();
    Ok(SshSignature {
        version,
        key,
        namespace,
        hash,
        signature_algorithm,
        signature,
    })
}

/// The blob the signature covers (PROTOCOL.sshsig), from the file's digest.
pub fn signed_data(namespace: &str, hash: SshHash, digest: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(MAGIC.len() + namespace.len() + digest.len() + 32);
    m.extend_from_slice(MAGIC);
    put_string(&mut m, namespace.as_bytes());
    put_string(&mut m, b"");
    put_string(&mut m, hash.name().as_bytes());
    put_string(&mut m, digest);
    m
}
