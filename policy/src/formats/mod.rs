//! Signature formats and the dispatch between them.
//!
//! A file's evidence is what lies next to it: `FILE.sig` (native,
//! RSA/openssl, Cloacina, Conductor, Notur, OpenSSH), `FILE.minisig`
//! (minisign) and `FILE.sha256` (Notur's checksum companion). AiSOC bundle
//! signatures (`plugin.sig` at a plugin directory's root) are directory-level
//! and verified through [`aisoc`].
//!
//! Each format module offers the same three functions:
//!
//! * `sniff(bytes) -> Sniff`: does this signature file look like mine?
//! * `needs(bytes, options) -> Needs`: which digests (beyond SHA-256) or
//!   whether the whole content is needed to verify it;
//! * `verify(subject, bytes, evidence, trust, options) -> Verdict`.
//!
//! The caller computes what [`needs`] asks for in one pass over the file and
//! calls [`verify`]. When several formats could have written a `.sig` file,
//! only the formats the policy allows are tried, a verified result wins, and
//! otherwise the reason of the closest match is reported.

pub mod aisoc;
pub mod cloacina;
pub mod conductor;
pub mod minisign;
pub mod native;
pub mod notur;
pub mod rsa;
pub mod sshsig;

use std::fmt;

use crate::trust::TrustStore;
use crate::verify::{Reason, Subject, Verdict};

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

/// How strongly a signature file looks like a format's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sniff {
    /// Certainly not.
    No,
    /// Could be (e.g. any 256 bytes could be an RSA-2048 signature).
    Maybe,
    /// Unmistakably (a magic string or a distinctive JSON member).
    Yes,
}

/// What lies next to the file.
#[derive(Clone, Copy, Debug, Default)]
pub struct Evidence<'a> {
    /// `FILE.sig`.
    pub sig: Option<&'a [u8]>,
    /// `FILE.minisig`.
    pub minisig: Option<&'a [u8]>,
    /// `FILE.sha256` (sha256sum format).
    pub sha256sum: Option<&'a [u8]>,
}

impl Evidence<'_> {
    /// True when there is no signature at all.
    pub fn is_empty(&self) -> bool {
        self.sig.is_none() && self.minisig.is_none()
    }
}

/// What, beyond SHA-256, a verification needs computed from the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// SHA-512 of the content (OpenSSH signatures using sha512).
    pub sha512: bool,
    /// BLAKE2b-512 of the content (minisign `ED`).
    pub blake2b512: bool,
    /// The whole content in memory (Notur, minisign legacy `Ed`: Ed25519
    /// over the file itself).
    pub content: bool,
}

impl Needs {
    /// Both sets of needs.
    pub fn union(self, other: Needs) -> Needs {
        Needs {
            sha512: self.sha512 || other.sha512,
            blake2b512: self.blake2b512 || other.blake2b512,
            content: self.content || other.content,
        }
    }
}

/// Policy settings that shape verification.
#[derive(Clone, Debug)]
pub struct Options {
    /// The formats accepted (all by default).
    pub formats: Vec<Format>,
    /// The namespace OpenSSH signatures must have been made for (`-n`);
    /// `None` refuses every OpenSSH signature.
    pub ssh_namespace: Option<String>,
    /// Accept legacy minisign signatures (`Ed`, not prehashed).
    pub minisign_legacy: bool,
    /// The current time (seconds since the epoch), for validity windows.
    pub now: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            formats: Format::ALL.to_vec(),
            ssh_namespace: None,
            minisign_legacy: false,
            now: 0,
        }
    }
}

impl Options {
    /// Whether a format is accepted.
    pub fn allows(&self, f: Format) -> bool {
        self.formats.contains(&f)
    }
}

/// The formats that could have written `sig`, most likely first.
fn candidates(sig: &[u8], opts: &Options) -> Vec<(Format, Sniff)> {
    let mut c: Vec<(Format, Sniff)> = Format::ALL
        .into_iter()
        .filter(|&f| f != Format::Minisign && f != Format::Aisoc && opts.allows(f))
        .map(|f| (f, sniff(f, sig)))
        .filter(|&(_, s)| s != Sniff::No)
        .collect();
    c.sort_by_key(|&(_, s)| std::cmp::Reverse(s));
    if c.first().is_some_and(|&(_, s)| s == Sniff::Yes) {
        c.retain(|&(_, s)| s == Sniff::Yes);
    }
    c
}

fn sniff(f: Format, sig: &[u8]) -> Sniff {
    match f {
        Format::Native => native::sniff(sig),
        Format::RsaOpenssl => rsa::sniff(sig),
        Format::Cloacina => cloacina::sniff(sig),
        Format::Conductor => conductor::sniff(sig),
        Format::Notur => notur::sniff(sig),
        Format::Ssh => sshsig::sniff(sig),
        Format::Minisign | Format::Aisoc => Sniff::No,
    }
}

/// What verifying `evidence` will need computed from the file.
pub fn needs(evidence: &Evidence<'_>, opts: &Options) -> Needs {
    let mut n = Needs::default();
    if let Some(sig) = evidence.sig {
        for (f, _) in candidates(sig, opts) {
            n = n.union(match f {
                Format::Native => native::needs(sig, opts),
                Format::RsaOpenssl => rsa::needs(sig, opts),
                Format::Cloacina => cloacina::needs(sig, opts),
                Format::Conductor => conductor::needs(sig, opts),
                Format::Notur => notur::needs(sig, opts),
                Format::Ssh => sshsig::needs(sig, opts),
                Format::Minisign | Format::Aisoc => Needs::default(),
            });
        }
    }
    if let (Some(m), true) = (evidence.minisig, opts.allows(Format::Minisign)) {
        n = n.union(minisign::needs(m, opts));
    }
    n
}

/// How close a rejection came to verifying: lower is closer.
fn closeness(v: &Verdict) -> u8 {
    match v {
        Verdict::Verified { .. } => 0,
        Verdict::Rejected { reason, .. } => match reason {
            Reason::Revoked | Reason::Expired => 1,
            Reason::Tampered => 2,
            Reason::Invalid => 3,
            Reason::Untrusted => 4,
            Reason::Malformed => 5,
            Reason::Unsigned => 6,
        },
    }
}

/// Whether `a` came strictly closer to verifying than `b`.
pub fn is_closer(a: &Verdict, b: &Verdict) -> bool {
    closeness(a) < closeness(b)
}

/// The better of two verdicts: a verified one, else the closer rejection
/// (the first on a tie).
pub fn best(a: Verdict, b: Verdict) -> Verdict {
    if is_closer(&b, &a) {
        b
    } else {
        a
    }
}

/// Verifies a file's evidence: any verified signature wins; otherwise the
/// closest rejection is reported.
pub fn verify(
    subject: &Subject<'_>,
    evidence: &Evidence<'_>,
    trust: &TrustStore,
    opts: &Options,
) -> Verdict {
    let mut best: Option<Verdict> = None;
    let mut consider = |v: Verdict| -> bool {
        let verified = v.is_verified();
        if best.as_ref().is_none_or(|b| closeness(&v) < closeness(b)) {
            best = Some(v);
        }
        verified
    };
    if let Some(sig) = evidence.sig {
        if sig.iter().all(u8::is_ascii_whitespace) {
            consider(Verdict::reject(
                Reason::Malformed,
                "signature file is empty",
                None,
            ));
        } else {
            let cands = candidates(sig, opts);
            if cands.is_empty() {
                consider(Verdict::reject(
                    Reason::Malformed,
                    format!(
                        "signature file is not in any accepted format ({})",
                        opts.formats
                            .iter()
                            .filter(|f| !matches!(f, Format::Minisign | Format::Aisoc))
                            .map(|f| f.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None,
                ));
            }
            for (f, _) in cands {
                let v = match f {
                    Format::Native => native::verify(subject, sig, evidence, trust, opts),
                    Format::RsaOpenssl => rsa::verify(subject, sig, evidence, trust, opts),
                    Format::Cloacina => cloacina::verify(subject, sig, evidence, trust, opts),
                    Format::Conductor => conductor::verify(subject, sig, evidence, trust, opts),
                    Format::Notur => notur::verify(subject, sig, evidence, trust, opts),
                    Format::Ssh => sshsig::verify(subject, sig, evidence, trust, opts),
                    Format::Minisign | Format::Aisoc => continue,
                };
                if consider(v.in_format(f)) {
                    return best.unwrap_or_else(unsigned_verdict);
                }
            }
        }
    }
    if let Some(m) = evidence.minisig {
        if opts.allows(Format::Minisign) {
            if consider(
                minisign::verify(subject, m, evidence, trust, opts).in_format(Format::Minisign),
            ) {
                return best.unwrap_or_else(unsigned_verdict);
            }
        } else {
            consider(
                Verdict::reject(
                    Reason::Malformed,
                    "minisign signatures are not accepted here by the policy",
                    None,
                )
                .in_format(Format::Minisign),
            );
        }
    }
    best.unwrap_or_else(unsigned_verdict)
}

fn unsigned_verdict() -> Verdict {
    Verdict::reject(Reason::Unsigned, "no signature file", None)
}
