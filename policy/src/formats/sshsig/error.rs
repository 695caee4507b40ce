//! Why a signature file is refused: the armour, the wire encoding, the
//! `SSHSIG` blob, the signature check and the `allowed_signers` entry. The
//! `Display` of each is the detail of the refusal (after `not an OpenSSH
//! signature: ` for [`ParseError`]).

use super::times::format_time;
use crate::verify::Reason;

/// Why the armour (`-----BEGIN SSH SIGNATURE-----`) cannot be removed
/// ([`dearmor`](super::dearmor)).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArmorError {
    /// The file is larger than a signature can be.
    #[error("signature file is {size} bytes, more than the {limit} an OpenSSH signature can hold")]
    TooLarge {
        /// The file's size in bytes.
        size: usize,
        /// The largest file read ([`MAX_SIGNATURE_FILE`](super::MAX_SIGNATURE_FILE)).
        limit: usize,
    },
    /// The file does not start with the header.
    #[error("missing -----BEGIN SSH SIGNATURE----- header")]
    MissingHeader,
    /// The header is not followed by a line end.
    #[error("no line end after the header")]
    NoLineEnd,
    /// No line holds the footer.
    #[error("missing -----END SSH SIGNATURE----- footer")]
    MissingFooter,
    /// The body between header and footer is not base64.
    #[error("signature body is not base64: {0}")]
    Base64(base64::DecodeError),
}

/// Why a value of the SSH wire encoding (RFC 4251) cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The data ends before the value (or a length is larger than the data).
    #[error("truncated")]
    Truncated,
    /// A text field holds a NUL byte.
    #[error("{field} contains a NUL byte")]
    Nul {
        /// The field (`namespace`, `hash algorithm`, ...).
        field: &'static str,
    },
    /// A text field is not UTF-8.
    #[error("{field} is not UTF-8")]
    NotUtf8 {
        /// The field (`namespace`, `hash algorithm`, ...).
        field: &'static str,
    },
}

/// Why a signature file is not an OpenSSH signature sigward can check
/// ([`parse`](super::parse), [`parse_blob`](super::parse_blob)).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The armour is broken.
    #[error(transparent)]
    Armor(#[from] ArmorError),
    /// A field of the blob cannot be read.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The blob does not start with `SSHSIG`.
    #[error("missing SSHSIG magic")]
    MissingMagic,
    /// A format version after 1.
    #[error("signature version {version} is newer than the supported version 1")]
    UnsupportedVersion {
        /// The version in the blob.
        version: u32,
    },
    /// A hash algorithm OpenSSH does not sign with.
    #[error("unsupported hash algorithm {algorithm:?} (OpenSSH allows sha256 and sha512)")]
    UnsupportedHash {
        /// The name in the blob.
        algorithm: String,
    },
    /// Bytes after the signature field.
    #[error("signature contains trailing data")]
    TrailingData,
    /// The signer's public key does not decode.
    #[error("public key ({algorithm}) is invalid: {error}")]
    InvalidKey {
        /// The key's algorithm name, as the blob gives it.
        algorithm: String,
        /// Why `ssh-key` refuses it.
        error: ssh_key::Error,
    },
    /// The key's algorithm name is not the one its data decodes as.
    #[error("public key algorithm {algorithm:?} does not match its key data")]
    KeyAlgorithmMismatch {
        /// The key's algorithm name, as the blob gives it.
        algorithm: String,
    },
    /// The key decodes, but re-encodes differently.
    #[error("public key ({algorithm}) is not canonically encoded")]
    NonCanonicalKey {
        /// The key's algorithm name.
        algorithm: String,
    },
}

/// Why a signature does not verify the file with the signer's key
/// (`check_signature`, and the data it checks, `message_for`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(super) enum CheckError {
    /// A field of the signature blob cannot be read.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// Bytes after the signature blob's fields.
    #[error("signature blob has trailing data")]
    TrailingData,
    /// The signature's algorithm is not the key's.
    #[error("signature algorithm {algorithm} does not match an {key_type} key")]
    AlgorithmMismatch {
        /// The signature's algorithm name.
        algorithm: String,
        /// The key's type (`ssh-ed25519`, `sk-ssh-ed25519`).
        key_type: &'static str,
    },
    /// The Ed25519 key is not a valid curve point.
    #[error("invalid Ed25519 key")]
    InvalidEd25519Key,
    /// An Ed25519 signature of another length than 64 bytes.
    #[error("Ed25519 signature is not 64 bytes")]
    Ed25519Length,
    /// The signature is not the key's over the data.
    #[error("signature does not verify")]
    DoesNotVerify,
    /// An RSA signature with SHA-1 (`ssh-rsa`) or another unknown
    /// algorithm.
    #[error("RSA signature algorithm {algorithm} is refused (OpenSSH accepts only rsa-sha2-512 and rsa-sha2-256)")]
    RefusedRsaAlgorithm {
        /// The signature's algorithm name.
        algorithm: String,
    },
    /// `ssh-key` cannot decode the signature blob.
    #[error("signature blob is invalid: {0}")]
    InvalidBlob(ssh_key::Error),
    /// A key type sigward does not verify.
    #[error("{algorithm} keys are not supported")]
    UnsupportedKey {
        /// The key's algorithm name.
        algorithm: String,
    },
    /// The caller did not compute the SHA-512 a `sha512` signature covers
    /// (`needs` asks for it; a bug, not the file's fault).
    #[error("internal: SHA-512 of the file was not computed")]
    MissingSha512,
}

/// Why an `allowed_signers` entry for the signer's key does not admit the
/// signature (`entry_admits`). Its `Display` follows `key ... of ... in
/// FILE line N ` in the detail of the refusal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(super) enum EntryRefusal {
    /// The entry's `namespaces=` patterns do not admit the namespace.
    #[error(
        "is not permitted for signature namespace {namespace:?} (namespaces=\"{}\")",
        .patterns.join(",")
    )]
    Namespace {
        /// The signature's namespace.
        namespace: String,
        /// The entry's patterns.
        patterns: Vec<String>,
    },
    /// The verification time is before the entry's `valid-after`.
    #[error(
        "is not yet valid: valid-after {} is later than the verification time",
        format_time(*.valid_after)
    )]
    NotYetValid {
        /// `valid-after`, seconds since the epoch.
        valid_after: u64,
    },
    /// The verification time is after the entry's `valid-before`.
    #[error("has expired: valid-before {} has passed", format_time(*.valid_before))]
    Expired {
        /// `valid-before`, seconds since the epoch.
        valid_before: u64,
    },
}

impl EntryRefusal {
    /// The verdict's reason: untrusted for the namespace, expired for the
    /// validity window.
    pub(super) fn reason(&self) -> Reason {
        match self {
            EntryRefusal::Namespace { .. } => Reason::Untrusted,
            EntryRefusal::NotYetValid { .. } | EntryRefusal::Expired { .. } => Reason::Expired,
        }
    }
}
