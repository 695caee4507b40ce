//! OpenSSH file signatures (`ssh-keygen -Y sign`) and `allowed_signers`.
//!
//! `ssh-keygen -Y sign -f KEY -n NAMESPACE FILE` writes `FILE.sig`:
//!
//! ```text
//! -----BEGIN SSH SIGNATURE-----
//! base64 (wrapped at 70 columns) of:
//!   "SSHSIG" || uint32 version (1) || string public key || string namespace
//!   || string reserved || string hash algorithm || string signature
//! -----END SSH SIGNATURE-----
//! ```
//!
//! The signature covers the blob of PROTOCOL.sshsig, built here from the
//! digest the caller computed (sigward never holds the file):
//!
//! ```text
//! "SSHSIG" || string namespace || string "" (reserved)
//!          || string hash algorithm ("sha256" | "sha512") || string H(file)
//! ```
//!
//! exactly as OpenSSH's `sshsig_wrap_verify` rebuilds it (the reserved field
//! of the signature is ignored, the expected namespace is used). Ed25519 and
//! `sk-ssh-ed25519` signatures are checked with `verify_strict`; RSA
//! (`rsa-sha2-256`/`rsa-sha2-512` only: SHA-1 `ssh-rsa` signatures are refused
//! as OpenSSH refuses them), ECDSA P-256/P-384 and `sk-ecdsa` P-256 with the
//! `ssh-key` crate.
//!
//! Trust comes only from `allowed_signers` entries ([`parse_allowed_signers`])
//! whose key equals the signature's key, as `ssh-keygen -Y verify` decides:
//! the entry's `namespaces=` patterns must admit the namespace and the
//! verification time must lie within `valid-after`/`valid-before`.
//! Certificate-signed signatures (`-f key-cert.pub`, trusted through a
//! `cert-authority` entry) are not supported: they are refused as untrusted.

use ssh_key::public::KeyData;
use ssh_key::PublicKey;

use crate::fingerprint::Fingerprint;
use crate::formats::{Evidence, Format, Needs, Options, Sniff};
use crate::trust::{AllowedSigner, KeyMaterial, KeyOrigin, TrustStore, TrustedKey};
use crate::verify::{Reason, Subject, Verdict};

mod allowed_signers;
mod armor;
mod error;
mod patterns;
mod signature;
mod times;
mod wire;

pub use allowed_signers::parse_allowed_signers;
pub use armor::{dearmor, BEGIN, END, MAX_SIGNATURE_FILE};
pub use error::{ArmorError, ParseError, WireError};
pub use patterns::{match_pattern, match_pattern_list};
pub use times::parse_absolute_time;
pub use wire::{parse_blob, signed_data};

use allowed_signers::entry_admits;
use error::CheckError;
use signature::check_signature;

/// The message digest a signature covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SshHash {
    /// `sha256`.
    Sha256,
    /// `sha512` (ssh-keygen's default).
    Sha512,
}

impl SshHash {
    /// The name in the signature.
    pub fn name(self) -> &'static str {
        match self {
            SshHash::Sha256 => "sha256",
            SshHash::Sha512 => "sha512",
        }
    }
}

/// The signer's key as the signature carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignerKey {
    /// A plain public key.
    Plain(KeyData),
    /// An OpenSSH certificate (algorithm name ending in
    /// `-cert-v01@openssh.com`), not supported.
    Certificate(String),
}

/// A parsed `SSHSIG` signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshSignature {
    /// Format version (1).
    pub version: u32,
    /// The signer's key.
    pub key: SignerKey,
    /// The namespace the signature was made for (`-n`).
    pub namespace: String,
    /// The digest it covers.
    pub hash: SshHash,
    /// The signature's algorithm name (`ssh-ed25519`, `rsa-sha2-512`, ...).
    pub signature_algorithm: String,
    /// The signature blob (algorithm string, signature string and, for
    /// security keys, flags and counter).
    pub signature: Vec<u8>,
}

// Why the armour and the blob are read here rather than with `ssh-key`'s
// `SshSig` (whose key types and signature checks the submodules use): a
// signature must be accepted exactly when `ssh-keygen -Y verify` accepts
// it, and refused with a reason an operator can act on.
// * `SshSig::from_pem` goes through `pem-rfc7468`, which implements RFC
//   7468's strict form; OpenSSH's `sshsig_dearmor` ignores any whitespace
//   in the body and takes CRLF after the header, so re-wrapped signatures
//   that OpenSSH verifies would be refused.
// * `SshSig` holds the signer as plain `KeyData`: a signature made with a
//   certificate (`-f key-cert.pub`) does not decode at all, where sigward
//   must say that certificate-signed signatures are not supported.
// * Unknown hash algorithms, versions and trailing data get OpenSSH's
//   checks and messages of their own (see `parse_blob`).

/// Parses an armoured OpenSSH signature file.
pub fn parse(bytes: &[u8]) -> Result<SshSignature, ParseError> {
    parse_blob(&dearmor(bytes)?)
}

/// Format detection: the armour header.
pub fn sniff(bytes: &[u8]) -> Sniff {
    if bytes.trim_ascii_start().starts_with(BEGIN.as_bytes()) {
        Sniff::Yes
    } else {
        Sniff::No
    }
}

/// SHA-256 is always computed; `sha512` signatures (ssh-keygen's default)
/// need SHA-512.
pub fn needs(bytes: &[u8], opts: &Options) -> Needs {
    match parse(bytes) {
        Ok(sig) if sig.hash == SshHash::Sha512 && opts.ssh_namespace.is_some() => Needs {
            sha512: true,
            ..Needs::default()
        },
        _ => Needs::default(),
    }
}

/// The sigward fingerprint of an SSH key (see [`Fingerprint::of_material`]).
pub fn fingerprint_of(key: &KeyData) -> Fingerprint {
    Fingerprint::of_material(&KeyMaterial::Ssh(Box::new(PublicKey::from(key.clone()))))
}

/// The key's fingerprint as `ssh-keygen -l` prints it (`SHA256:...`).
pub fn openssh_fingerprint(key: &KeyData) -> String {
    key.fingerprint(ssh_key::HashAlg::Sha256).to_string()
}

/// Verifies an OpenSSH signature file.
pub fn verify(
    subject: &Subject<'_>,
    bytes: &[u8],
    _evidence: &Evidence<'_>,
    trust: &TrustStore,
    opts: &Options,
) -> Verdict {
    let sig = match parse(bytes) {
        Ok(sig) => sig,
        Err(why) => {
            return Verdict::reject(
                Reason::Malformed,
                format!("not an OpenSSH signature: {why}"),
                None,
            )
        }
    };
    let Some(expected_ns) = opts.ssh_namespace.as_deref() else {
        return Verdict::reject(
            Reason::Malformed,
            "no ssh_namespace set in the policy: OpenSSH signatures are refused",
            None,
        );
    };
    let key = match &sig.key {
        SignerKey::Plain(k) => k,
        SignerKey::Certificate(alg) => {
            return Verdict::reject(
                Reason::Untrusted,
                format!("signed with an OpenSSH certificate ({alg}); certificate-signed signatures (cert-authority) are not supported"),
                None,
            )
        }
    };
    let fp = fingerprint_of(key);
    let ssh_fp = openssh_fingerprint(key);
    if trust.is_revoked(&fp) {
        return Verdict::reject(
            Reason::Revoked,
            format!(
                "signed by revoked key {fp} ({} {ssh_fp})",
                key.algorithm().as_str()
            ),
            Some(fp),
        );
    }
    let mut entries: Vec<(&TrustedKey, &AllowedSigner)> = Vec::new();
    let mut ca_only = false;
    let mut other_origin = false;
    for k in trust.lookup(&fp) {
        match (&k.origin, &k.material) {
            (KeyOrigin::AllowedSigner(a), KeyMaterial::Ssh(pk)) if pk.key_data() == key => {
                if a.cert_authority {
                    ca_only = true;
                } else {
                    entries.push((k, a));
                }
            }
            _ => other_origin = true,
        }
    }
    if entries.is_empty() && !ca_only && opts.allow_self_signed {
        // The tree accepts a valid signature by any key; the namespace
        // must still be the policy's.
        if let Some(v) = wrong_namespace(&sig, expected_ns, fp) {
            return v;
        }
        let message = match message_for(subject, sig.hash, expected_ns) {
            Ok(m) => m,
            Err(why) => return Verdict::reject(Reason::Invalid, why.to_string(), Some(fp)),
        };
        return match check_signature(key, &sig, &message) {
            Ok(()) => Verdict::verified(fp, Format::Ssh, None).as_self_signed(),
            Err(why) => Verdict::reject(
                Reason::Invalid,
                format!("self-signed OpenSSH signature by key {ssh_fp} ({fp}) is invalid: {why}"),
                Some(fp),
            ),
        };
    }
    if entries.is_empty() {
        let why = if ca_only {
            "is listed in allowed_signers only as a cert-authority, which does not sign files itself"
        } else if other_origin {
            "is trusted, but not through an allowed_signers file, which OpenSSH signatures need"
        } else {
            "is not in allowed_signers"
        };
        return Verdict::reject(
            Reason::Untrusted,
            format!(
                "signed by {} key {ssh_fp} (fingerprint {fp}), which {why}",
                key.algorithm().as_str()
            ),
            Some(fp),
        );
    }
    if let Some(v) = wrong_namespace(&sig, expected_ns, fp) {
        return v;
    }
    let message = match message_for(subject, sig.hash, expected_ns) {
        Ok(m) => m,
        Err(why) => return Verdict::reject(Reason::Invalid, why.to_string(), Some(fp)),
    };
    if let Err(why) = check_signature(key, &sig, &message) {
        return Verdict::reject(
            Reason::Invalid,
            format!(
                "OpenSSH signature by trusted key {ssh_fp} ({fp}) is invalid: {why} (the file changed since it was signed, or the signature is corrupt)"
            ),
            Some(fp),
        );
    }
    let mut refusal: Option<(Reason, String)> = None;
    for (k, entry) in &entries {
        match entry_admits(entry, &sig.namespace, opts.now) {
            Ok(()) => return Verdict::verified(fp, Format::Ssh, k.label.clone()),
            Err(why) => {
                refusal.get_or_insert((
                    why.reason(),
                    format!(
                        "key {ssh_fp} ({fp}) of {} in {} line {} {why}",
                        k.label.as_deref().unwrap_or("?"),
                        k.source,
                        k.block
                    ),
                ));
            }
        }
    }
    let (reason, detail) = refusal.unwrap_or((
        Reason::Untrusted,
        "internal: no allowed_signers entry".into(),
    ));
    Verdict::reject(reason, detail, Some(fp))
}

/// The refusal for a signature made for another namespace than the
/// policy's.
fn wrong_namespace(sig: &SshSignature, expected_ns: &str, fp: Fingerprint) -> Option<Verdict> {
    (sig.namespace != expected_ns).then(|| {
        Verdict::reject(
            Reason::Invalid,
            format!(
                "signature was made for namespace {:?}, the policy requires {expected_ns:?}",
                sig.namespace
            ),
            Some(fp),
        )
    })
}

/// The SSHSIG signed data for the file, from the digest the signature's
/// hash algorithm names.
fn message_for(
    subject: &Subject<'_>,
    hash: SshHash,
    namespace: &str,
) -> Result<Vec<u8>, CheckError> {
    let digest: &[u8] = match hash {
        SshHash::Sha256 => subject.sha256,
        SshHash::Sha512 => subject.sha512.ok_or(CheckError::MissingSha512)?,
    };
    Ok(signed_data(namespace, hash, digest))
}

#[cfg(test)]
mod tests;
