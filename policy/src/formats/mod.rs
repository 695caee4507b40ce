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
//! The formats of `FILE.sig` are reached through the [`SignatureFormat`]
//! trait and the one table of them, [`DETACHED`]. The caller computes what [`needs`] asks for in one pass over the file and
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

use crate::trust::TrustStore;
use crate::verify::{Reason, Subject, Verdict};

pub use crate::verify::Format;

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
    /// How many distinct trusted keys must have signed a file.
    pub threshold: usize,
    /// Accept a valid signature by any key, for formats that carry the
    /// public key (Conductor's self-signed level).
    pub allow_self_signed: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            formats: Format::ALL.to_vec(),
            ssh_namespace: None,
            minisign_legacy: false,
            now: 0,
            threshold: 1,
            allow_self_signed: false,
        }
    }
}

impl Options {
    /// Whether a format is accepted.
    pub fn allows(&self, f: Format) -> bool {
        self.formats.contains(&f)
    }
}

/// A format whose signature is the detached `FILE.sig`: the agent reads
/// that file once and each of these formats says whether it could have
/// written it ([`SignatureFormat::sniff`]), what it needs computed from the
/// file ([`SignatureFormat::needs`]), and its verdict
/// ([`SignatureFormat::verify`]). minisign (`FILE.minisig`) and AiSOC
/// (bundles) have evidence of their own and are called by name.
pub trait SignatureFormat: Sync {
    /// Which format this is.
    fn format(&self) -> Format;
    /// Whether `sig` looks like this format's signature.
    fn sniff(&self, sig: &[u8]) -> Sniff;
    /// What verifying `sig` will need computed from the file.
    fn needs(&self, sig: &[u8], opts: &Options) -> Needs;
    /// The verdict on `subject` signed by `sig`.
    fn verify(
        &self,
        subject: &Subject<'_>,
        sig: &[u8],
        evidence: &Evidence<'_>,
        trust: &TrustStore,
        opts: &Options,
    ) -> Verdict;
    /// A refusal that follows from the file's name and size alone, for a
    /// format whose signature binds them (see [`refused_without_content`]);
    /// `None` leaves the decision to the content.
    fn refused_by_facts(&self, _name: &[u8], _size: u64, _sig: &[u8]) -> Option<Verdict> {
        None
    }
}

/// Implements [`SignatureFormat`] for a format module's `sniff`, `needs`
/// and `verify` functions.
macro_rules! detached_format {
    ($unit:ident, $module:ident, $format:expr) => {
        detached_format!($unit, $module, $format, |_name, _size, _sig| None);
    };
    ($unit:ident, $module:ident, $format:expr, $refused:expr) => {
        /// The format of the module of the same name, as a [`SignatureFormat`].
        pub struct $unit;

        impl SignatureFormat for $unit {
            fn format(&self) -> Format {
                $format
            }
            fn sniff(&self, sig: &[u8]) -> Sniff {
                $module::sniff(sig)
            }
            fn needs(&self, sig: &[u8], opts: &Options) -> Needs {
                $module::needs(sig, opts)
            }
            fn verify(
                &self,
                subject: &Subject<'_>,
                sig: &[u8],
                evidence: &Evidence<'_>,
                trust: &TrustStore,
                opts: &Options,
            ) -> Verdict {
                $module::verify(subject, sig, evidence, trust, opts)
            }
            fn refused_by_facts(&self, name: &[u8], size: u64, sig: &[u8]) -> Option<Verdict> {
                let refused: fn(&[u8], u64, &[u8]) -> Option<Verdict> = $refused;
                refused(name, size, sig)
            }
        }
    };
}

// Native and Conductor signatures bind the file's size (native: its name
// too), so a mismatch refuses without reading the content.
detached_format!(
    NativeFormat,
    native,
    Format::Native,
    native::refused_by_facts
);
detached_format!(RsaFormat, rsa, Format::RsaOpenssl);
detached_format!(CloacinaFormat, cloacina, Format::Cloacina);
detached_format!(
    ConductorFormat,
    conductor,
    Format::Conductor,
    |_name, size, sig| conductor::refused_by_size(size, sig)
);
detached_format!(NoturFormat, notur, Format::Notur);
detached_format!(SshFormat, sshsig, Format::Ssh);

/// Every format of `FILE.sig`, in [`Format::ALL`]'s order (which breaks
/// ties between equally likely candidates). A new detached format is one
/// module and one line here.
pub const DETACHED: [&dyn SignatureFormat; 6] = [
    &NativeFormat,
    &RsaFormat,
    &CloacinaFormat,
    &ConductorFormat,
    &NoturFormat,
    &SshFormat,
];

/// The formats that could have written `sig`, most likely first.
fn candidates(sig: &[u8], opts: &Options) -> Vec<(&'static dyn SignatureFormat, Sniff)> {
    let mut c: Vec<(&'static dyn SignatureFormat, Sniff)> = DETACHED
        .into_iter()
        .filter(|f| opts.allows(f.format()))
        .map(|f| (f, f.sniff(sig)))
        .filter(|&(_, s)| s != Sniff::No)
        .collect();
    c.sort_by_key(|&(_, s)| std::cmp::Reverse(s));
    if c.first().is_some_and(|&(_, s)| s == Sniff::Yes) {
        c.retain(|&(_, s)| s == Sniff::Yes);
    }
    c
}

/// What verifying `evidence` will need computed from the file.
pub fn needs(evidence: &Evidence<'_>, opts: &Options) -> Needs {
    let mut n = Needs::default();
    if let Some(sig) = evidence.sig {
        for (f, _) in candidates(sig, opts) {
            n = n.union(f.needs(sig, opts));
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
        Verdict::Verified { .. } | Verdict::Listed { .. } => 0,
        Verdict::Rejected { reason, .. } => match reason {
            Reason::Revoked | Reason::Expired | Reason::Writable => 1,
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

/// Verifies a file's evidence: see [`verify_with`].
pub fn verify(
    subject: &Subject<'_>,
    evidence: &Evidence<'_>,
    trust: &TrustStore,
    opts: &Options,
) -> Verdict {
    verify_with(subject, evidence, Vec::new(), trust, opts)
}

/// Verifies a file's evidence, together with `extra` verdicts reached
/// elsewhere for the same file (an AiSOC bundle), and applies the policy:
///
/// * a denied content (`deny_sha256`) is `revoked`, whatever signed it;
/// * otherwise a content on the allow list (`allow_sha256`) is
///   [`Verdict::Listed`], whatever its evidence;
/// * a signature made outside its key's validity window is `expired` (the
///   signing time is the authenticated one where the format has it, else
///   `opts.now`);
/// * at least `opts.threshold` distinct trusted keys must have signed;
/// * a self-signed success counts only when nothing trusted verifies and
///   the threshold is 1;
/// * otherwise the reason of the closest rejection.
pub fn verify_with(
    subject: &Subject<'_>,
    evidence: &Evidence<'_>,
    extra: Vec<Verdict>,
    trust: &TrustStore,
    opts: &Options,
) -> Verdict {
    if trust.is_denied_content(subject.sha256) {
        return Verdict::reject(
            Reason::Revoked,
            format!(
                "content sha256 {} is on the policy's deny list (trust.deny_sha256)",
                hex::encode(subject.sha256)
            ),
            None,
        );
    }
    if trust.is_allowed_content(subject.sha256) {
        return Verdict::Listed {
            sha256: *subject.sha256,
        };
    }
    let threshold = opts.threshold.max(1);
    let mut best: Option<Verdict> = None;
    let mut trusted: Vec<Verdict> = Vec::new();
    let mut self_signed: Option<Verdict> = None;
    // Records one verdict; true once the policy is satisfied.
    let mut consider = |v: Verdict| -> bool {
        let v = apply_window(v, trust, opts);
        if v.is_self_signed() {
            self_signed.get_or_insert(v);
            return false;
        }
        if v.is_verified() {
            if !trusted.iter().any(|t| t.key() == v.key()) {
                trusted.push(v);
            }
            return trusted.len() >= threshold;
        }
        if best.as_ref().is_none_or(|b| closeness(&v) < closeness(b)) {
            best = Some(v);
        }
        false
    };
    let mut done = false;
    for v in extra {
        done |= consider(v);
    }
    if let (Some(sig), false) = (evidence.sig, done) {
        if sig.iter().all(u8::is_ascii_whitespace) {
            consider(Verdict::reject(
                Reason::Malformed,
                "signature file is empty",
                None,
            ));
        } else {
            let cands = candidates(sig, opts);
            if cands.is_empty() {
                consider(no_accepted_format(opts));
            }
            for (format, _) in cands {
                let f = format.format();
                let v = format.verify(subject, sig, evidence, trust, opts);
                let verified = v.is_verified();
                done |= consider(v.in_format(f));
                // Every co-signature counts: towards a threshold, and when
                // one co-signer's key is outside its validity window. When
                // the first one already satisfies the policy, checking the
                // others again would only cost time.
                if f == Format::Native && verified && !done {
                    for co in native::verify_all(subject, sig, trust) {
                        done |= consider(co);
                    }
                }
                if done {
                    break;
                }
            }
        }
    }
    if let (Some(m), false) = (evidence.minisig, done) {
        if opts.allows(Format::Minisign) {
            consider(
                minisign::verify(subject, m, evidence, trust, opts).in_format(Format::Minisign),
            );
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
    if trusted.len() >= threshold {
        let mut first = trusted.swap_remove(0);
        if threshold > 1 {
            if let Verdict::Verified { signer, .. } = &mut first {
                let n = trusted.len() + 1;
                *signer = Some(format!(
                    "{} trusted signers{}",
                    n,
                    signer
                        .as_deref()
                        .map(|s| format!(", first: {s}"))
                        .unwrap_or_default()
                ));
            }
        }
        return first;
    }
    if !trusted.is_empty() {
        let keys: Vec<String> = trusted
            .iter()
            .filter_map(|v| v.key())
            .map(|k| k.to_string())
            .collect();
        return Verdict::reject(
            Reason::Untrusted,
            format!(
                "threshold {threshold} not met: signed by {} trusted key(s) ({})",
                trusted.len(),
                keys.join(", ")
            ),
            trusted.first().and_then(Verdict::key),
        )
        .in_format(
            trusted
                .first()
                .and_then(Verdict::format)
                .unwrap_or(Format::Native),
        );
    }
    if let (Some(v), 1) = (self_signed, threshold) {
        return v;
    }
    best.unwrap_or_else(unsigned_verdict)
}

fn no_accepted_format(opts: &Options) -> Verdict {
    Verdict::reject(
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
    )
}

/// The rejection [`verify`] reaches whatever the file's content, when the
/// evidence, the file's base name and its size alone decide it; `None` when
/// the content decides (or may). The caller reads a file that this refuses
/// only when it wants its digest anyway.
///
/// Decided without the content: no signature at all (`unsigned`); a `.sig`
/// that is empty or in no accepted format (`malformed`); a `.sig` every
/// candidate format of which refuses it on its own: a native document that
/// is malformed or names another file or size, a Conductor signature that
/// is malformed or records another size (both bind the size); a `.minisig`
/// the policy does not accept. Anything else (another format's signature,
/// whose message is a digest of the content only, an accepted `.minisig`)
/// leaves the decision to the content. An AiSOC bundle is evidence too:
/// a caller that has one must not ask.
///
/// Of the policy, the content deny list (`trust.deny_sha256`) alone is not
/// applied: a denied content refused here is refused for the reason given
/// instead of `revoked`.
pub fn refused_without_content(
    name: &[u8],
    size: u64,
    evidence: &Evidence<'_>,
    opts: &Options,
) -> Option<Verdict> {
    let mut refusals = Vec::new();
    if let Some(sig) = evidence.sig {
        if sig.iter().all(u8::is_ascii_whitespace) {
            refusals.push(Verdict::reject(
                Reason::Malformed,
                "signature file is empty",
                None,
            ));
        } else {
            let cands = candidates(sig, opts);
            if cands.is_empty() {
                refusals.push(no_accepted_format(opts));
            }
            for (f, _) in cands {
                refusals.push(f.refused_by_facts(name, size, sig)?.in_format(f.format()));
            }
        }
    }
    if evidence.minisig.is_some() {
        if opts.allows(Format::Minisign) {
            return None;
        }
        refusals.push(
            Verdict::reject(
                Reason::Malformed,
                "minisign signatures are not accepted here by the policy",
                None,
            )
            .in_format(Format::Minisign),
        );
    }
    // The closest rejection, the first on a tie: as `verify_with` chooses.
    Some(
        refusals
            .into_iter()
            .reduce(best)
            .unwrap_or_else(unsigned_verdict),
    )
}

/// Turns a success by a key outside its validity window into `expired`.
fn apply_window(v: Verdict, trust: &TrustStore, opts: &Options) -> Verdict {
    let Verdict::Verified {
        key,
        format,
        signed_at,
        self_signed: false,
        ..
    } = &v
    else {
        return v;
    };
    let t = signed_at.unwrap_or(opts.now);
    match trust.check_window(key, t) {
        Ok(()) => v,
        Err(window) => Verdict::reject(
            Reason::Expired,
            format!(
                "signed by key {key} at {}, outside its validity window ({window})",
                crate::verify::format_rfc3339(t)
            ),
            Some(*key),
        )
        .in_format(*format),
    }
}

fn unsigned_verdict() -> Verdict {
    Verdict::reject(Reason::Unsigned, "no signature file", None)
}

/// Shared checks for the format modules' tests.
#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod policy_tests;
