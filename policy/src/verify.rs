//! The vocabulary of verification: the file being checked ([`Subject`]),
//! why a file is refused ([`Reason`]) and the outcome ([`Verdict`]).
//!
//! The decision itself is [`crate::formats::verify`]; the agent and
//! `sigward verify` both call it, so they cannot disagree.

use std::fmt;

use crate::fingerprint::Fingerprint;

/// A signature format sigward reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// sigward's own JSON format.
    Native,
    /// RSA PKCS#1 v1.5 over SHA-256, raw binary (`openssl dgst -sha256 -sign`).
    RsaOpenssl,
    /// AiSOC plugin directory bundles (`plugin.sig`).
    Aisoc,
    /// Cloacina package signatures (JSON).
    Cloacina,
    /// Conductor WASM plugin signatures (JSON).
    Conductor,
    /// Notur archive signatures (hex Ed25519 over the whole file).
    Notur,
    /// minisign (`FILE.minisig`).
    Minisign,
    /// OpenSSH `ssh-keygen -Y sign` signatures.
    Ssh,
}

impl Format {
    /// Every format, in the order ties are broken.
    pub const ALL: [Format; 8] = [
        Format::Native,
        Format::RsaOpenssl,
        Format::Aisoc,
        Format::Cloacina,
        Format::Conductor,
        Format::Notur,
        Format::Minisign,
        Format::Ssh,
    ];

    /// The name used in policies, CLI options and audit records.
    pub fn name(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::RsaOpenssl => "rsa-openssl",
            Format::Aisoc => "aisoc",
            Format::Cloacina => "cloacina",
            Format::Conductor => "conductor",
            Format::Notur => "notur",
            Format::Minisign => "minisign",
            Format::Ssh => "ssh",
        }
    }

    /// Parses a format name.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses an RFC 3339 time (any UTC offset) into seconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let t =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

/// Formats seconds since the epoch as RFC 3339 UTC.
pub fn format_rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// The facts of the file being checked, computed by the caller from the open
/// file (never taken from a signature). The optional members are filled when
/// [`crate::formats::needs`] asks for them.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// Base name the file was opened under.
    pub name: &'a [u8],
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content.
    pub sha256: &'a [u8; 32],
    /// SHA-512 of the content.
    pub sha512: Option<&'a [u8; 64]>,
    /// BLAKE2b-512 of the content.
    pub blake2b512: Option<&'a [u8; 64]>,
    /// The whole content.
    pub content: Option<&'a [u8]>,
}

impl<'a> Subject<'a> {
    /// A subject with only the always-computed facts.
    pub fn new(name: &'a [u8], size: u64, sha256: &'a [u8; 32]) -> Self {
        Subject {
            name,
            size,
            sha256,
            sha512: None,
            blake2b512: None,
            content: None,
        }
    }
}

/// Why a file is refused. The words are stable: they appear in CLI output,
/// audit records and policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No signature file.
    Unsigned,
    /// A signature file that cannot be parsed.
    Malformed,
    /// The file's content, size or name differ from what was signed.
    Tampered,
    /// Signed, but by no trusted key.
    Untrusted,
    /// A trusted key's signature does not verify.
    Invalid,
    /// Signed by a revoked key, or the content itself is revoked.
    Revoked,
    /// Signed outside the key's validity window.
    Expired,
    /// Someone other than the trusted owners can change the file (or its
    /// name), in a tree that does not allow untrusted writers.
    Writable,
}

impl Reason {
    /// Every reason, in the order they are shown.
    pub const ALL: [Reason; 8] = [
        Reason::Unsigned,
        Reason::Malformed,
        Reason::Tampered,
        Reason::Untrusted,
        Reason::Invalid,
        Reason::Revoked,
        Reason::Expired,
        Reason::Writable,
    ];

    /// The stable word for this reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unsigned => "unsigned",
            Reason::Malformed => "malformed",
            Reason::Tampered => "tampered",
            Reason::Untrusted => "untrusted",
            Reason::Invalid => "invalid",
            Reason::Revoked => "revoked",
            Reason::Expired => "expired",
            Reason::Writable => "writable",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A trusted key signed exactly this file.
    Verified {
        /// The key that verified.
        key: Fingerprint,
        /// The format of the signature that verified.
        format: Format,
        /// Who signed, when the format or the trust store names them
        /// (OpenSSH principal, Conductor developer, minisign trusted
        /// comment, key label).
        signer: Option<String>,
        /// When it was signed, if the format authenticates a signing time
        /// (seconds since the epoch).
        signed_at: Option<u64>,
        /// Accepted only because the policy allows self-signed signatures:
        /// the key is not trusted.
        self_signed: bool,
        /// Where sigward is laxer than the signing system's own tool: what
        /// sigward accepted that the released tool refuses (upper-case hex
        /// that the tool compares as text, ...), one sentence each. The
        /// decoded values are the same, so the file verifies; the loader of
        /// the plugin system may still refuse it.
        warnings: Vec<String>,
    },
    /// Trusted without a signature: the content's SHA-256 is on the
    /// policy's allow list (`allow_sha256`) and not on its deny list.
    Listed {
        /// The content's SHA-256.
        sha256: [u8; 32],
    },
    /// Refused.
    Rejected {
        /// Class of failure.
        reason: Reason,
        /// One readable sentence for operators.
        detail: String,
        /// The signer, when the signature names one.
        key: Option<Fingerprint>,
        /// The format the signature was read as, when one matched.
        format: Option<Format>,
        /// Who the signature claims signed it, when it says (not verified:
        /// shown to operators only).
        signer: Option<String>,
    },
}

impl Verdict {
    /// A rejection (format filled in by the dispatcher).
    pub fn reject(reason: Reason, detail: impl Into<String>, key: Option<Fingerprint>) -> Self {
        Verdict::Rejected {
            reason,
            detail: detail.into(),
            key,
            format: None,
            signer: None,
        }
    }

    /// Sets the signer a rejection names.
    pub fn with_signer(mut self, who: Option<String>) -> Self {
        if let Verdict::Rejected { signer, .. } = &mut self {
            *signer = who;
        }
        self
    }

    /// The signer named by the verdict, if any.
    pub fn signer(&self) -> Option<&str> {
        match self {
            Verdict::Verified { signer, .. } | Verdict::Rejected { signer, .. } => {
                signer.as_deref()
            }
            Verdict::Listed { .. } => None,
        }
    }

    /// A success.
    pub fn verified(key: Fingerprint, format: Format, signer: Option<String>) -> Self {
        Verdict::Verified {
            key,
            format,
            signer,
            signed_at: None,
            self_signed: false,
            warnings: Vec::new(),
        }
    }

    /// Adds warnings to a success (see [`Verdict::Verified`]'s `warnings`);
    /// other verdicts are returned as they are.
    pub fn with_warnings(mut self, more: impl IntoIterator<Item = String>) -> Self {
        if let Verdict::Verified { warnings, .. } = &mut self {
            warnings.extend(more);
        }
        self
    }

    /// The warnings of a success (empty for any other verdict).
    pub fn warnings(&self) -> &[String] {
        match self {
            Verdict::Verified { warnings, .. } => warnings,
            Verdict::Listed { .. } | Verdict::Rejected { .. } => &[],
        }
    }

    /// Records the authenticated signing time of a success.
    pub fn with_signed_at(mut self, t: Option<u64>) -> Self {
        if let Verdict::Verified { signed_at, .. } = &mut self {
            *signed_at = t;
        }
        self
    }

    /// Marks a success as accepted only because self-signed signatures are
    /// allowed.
    pub fn as_self_signed(mut self) -> Self {
        if let Verdict::Verified { self_signed, .. } = &mut self {
            *self_signed = true;
        }
        self
    }

    /// True for a success that rests on an untrusted (self-signed) key.
    pub fn is_self_signed(&self) -> bool {
        matches!(
            self,
            Verdict::Verified {
                self_signed: true,
                ..
            }
        )
    }

    /// Sets the format of a rejection that has none.
    pub fn in_format(mut self, f: Format) -> Self {
        if let Verdict::Rejected { format, .. } = &mut self {
            format.get_or_insert(f);
        }
        self
    }

    /// True for [`Verdict::Verified`] and [`Verdict::Listed`]: the file may
    /// be used.
    pub fn is_verified(&self) -> bool {
        matches!(self, Verdict::Verified { .. } | Verdict::Listed { .. })
    }

    /// The key named by the verdict, if any.
    pub fn key(&self) -> Option<Fingerprint> {
        match self {
            Verdict::Verified { key, .. } => Some(*key),
            Verdict::Rejected { key, .. } => *key,
            Verdict::Listed { .. } => None,
        }
    }

    /// The reason, for rejections.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Verdict::Verified { .. } | Verdict::Listed { .. } => None,
            Verdict::Rejected { reason, .. } => Some(*reason),
        }
    }

    /// The format the signature was read as.
    pub fn format(&self) -> Option<Format> {
        match self {
            Verdict::Verified { format, .. } => Some(*format),
            Verdict::Rejected { format, .. } => *format,
            Verdict::Listed { .. } => None,
        }
    }
}
