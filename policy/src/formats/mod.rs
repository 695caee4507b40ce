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
        Verdict::Verified { .. } => 0,
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
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod testutil {
    use super::*;
    use crate::fingerprint::Fingerprint;

    /// A format's own verifier, as every module exposes it.
    pub type Verifier = fn(&Subject<'_>, &[u8], &Evidence<'_>, &TrustStore, &Options) -> Verdict;

    /// Every truncation of `sig` and one flipped byte at every position,
    /// read by the format's verifier and through the dispatcher: never a
    /// panic, and never a verdict naming another key than `signer`.
    pub fn mutations_never_name_another_key(
        verify_one: Verifier,
        subject: &Subject<'_>,
        sig: &[u8],
        sha256sum: Option<&[u8]>,
        ts: &TrustStore,
        signer: Fingerprint,
    ) {
        let opts = Options::default();
        for i in 0..sig.len() {
            let mut flipped = sig.to_vec();
            flipped[i] ^= 0x41;
            for m in [&sig[..i], &flipped[..]] {
                let evidence = Evidence {
                    sig: Some(m),
                    sha256sum,
                    ..Evidence::default()
                };
                for v in [
                    verify_one(subject, m, &evidence, ts, &opts),
                    verify(subject, &evidence, ts, &opts),
                ] {
                    if v.is_verified() {
                        assert_eq!(v.key(), Some(signer));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod policy_tests {
    use super::*;
    use crate::fingerprint::Fingerprint;
    use crate::trust::{KeyMaterial, KeyOrigin, TrustedKey};
    use ed25519_dalek::SigningKey;

    /// The table holds every format of `FILE.sig` once, in `Format::ALL`'s
    /// order, which breaks ties between candidates.
    #[test]
    fn the_detached_table_follows_format_all() {
        let table: Vec<Format> = DETACHED.iter().map(|f| f.format()).collect();
        let all: Vec<Format> = Format::ALL
            .into_iter()
            .filter(|f| !matches!(f, Format::Minisign | Format::Aisoc))
            .collect();
        assert_eq!(table, all);
    }
    use sha2::{Digest, Sha256};

    const CONTENT: &[u8] = b"print('plugin')\n";
    const NAME: &str = "p.py";
    const SIGNED_AT: &str = "2026-06-01T00:00:00Z";
    const SIGNED_AT_SECS: u64 = 1_780_272_000;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    type Window = (Option<u64>, Option<u64>);

    fn trusted(keys: &[(&SigningKey, Window)]) -> TrustStore {
        let mut ts = TrustStore::new();
        for (k, window) in keys {
            ts.insert(
                TrustedKey::new(
                    KeyMaterial::Ed25519(k.verifying_key()),
                    "t",
                    1,
                    KeyOrigin::Hex,
                )
                .named(&format!("k{}", k.to_bytes()[0]), &[], *window),
            );
        }
        ts
    }

    fn native_sig(signers: &[&SigningKey]) -> String {
        let h: [u8; 32] = Sha256::digest(CONTENT).into();
        let mut doc = None;
        for k in signers {
            doc = Some(native::sign(
                doc,
                k,
                NAME,
                CONTENT.len() as u64,
                &h,
                SIGNED_AT,
            ));
        }
        native::to_text(&doc.unwrap())
    }

    fn run(sig: &str, ts: &TrustStore, opts: &Options) -> Verdict {
        let h: [u8; 32] = Sha256::digest(CONTENT).into();
        let subject = Subject::new(NAME.as_bytes(), CONTENT.len() as u64, &h);
        let evidence = Evidence {
            sig: Some(sig.as_bytes()),
            ..Evidence::default()
        };
        verify(&subject, &evidence, ts, opts)
    }

    #[test]
    fn denied_content_is_revoked_whatever_signed_it() {
        let k = key(1);
        let mut ts = trusted(&[(&k, (None, None))]);
        assert!(run(&native_sig(&[&k]), &ts, &Options::default()).is_verified());
        ts.deny_content(Sha256::digest(CONTENT).into());
        let v = run(&native_sig(&[&k]), &ts, &Options::default());
        assert_eq!(v.reason(), Some(Reason::Revoked));
    }

    #[test]
    fn validity_window_uses_the_authenticated_signing_time() {
        let k = key(1);
        let inside = trusted(&[(&k, (Some(SIGNED_AT_SECS - 10), Some(SIGNED_AT_SECS + 10)))]);
        // `now` far outside: the native signing time is what counts.
        let opts = Options {
            now: SIGNED_AT_SECS + 1_000_000,
            ..Options::default()
        };
        assert!(run(&native_sig(&[&k]), &inside, &opts).is_verified());
        let expired = trusted(&[(&k, (None, Some(SIGNED_AT_SECS - 1)))]);
        let v = run(&native_sig(&[&k]), &expired, &opts);
        assert_eq!(v.reason(), Some(Reason::Expired), "{v:?}");
        let not_yet = trusted(&[(&k, (Some(SIGNED_AT_SECS + 1), None))]);
        assert_eq!(
            run(&native_sig(&[&k]), &not_yet, &opts).reason(),
            Some(Reason::Expired)
        );
    }

    #[test]
    fn window_without_a_signed_time_uses_now() {
        let k = key(2);
        let h: [u8; 32] = Sha256::digest(CONTENT).into();
        let sig = cloacina::sign(&k, &h, "2000-01-01T00:00:00Z");
        let ts = trusted(&[(&k, (None, Some(1_000)))]);
        let late = Options {
            now: 2_000,
            ..Options::default()
        };
        assert_eq!(run(&sig, &ts, &late).reason(), Some(Reason::Expired));
        let early = Options {
            now: 500,
            ..Options::default()
        };
        assert!(run(&sig, &ts, &early).is_verified());
    }

    #[test]
    fn an_expired_co_signer_does_not_hide_a_current_one() {
        let (old, new) = (key(1), key(2));
        let ts = trusted(&[
            (&old, (None, Some(SIGNED_AT_SECS - 1))),
            (&new, (None, None)),
        ]);
        let v = run(&native_sig(&[&old, &new]), &ts, &Options::default());
        assert_eq!(
            v.key(),
            Some(Fingerprint::of_ed25519(&new.verifying_key())),
            "{v:?}"
        );
        assert_eq!(
            run(&native_sig(&[&old]), &ts, &Options::default()).reason(),
            Some(Reason::Expired)
        );
    }

    #[test]
    fn threshold_counts_distinct_trusted_keys() {
        let (a, b, c) = (key(1), key(2), key(3));
        let ts = trusted(&[(&a, (None, None)), (&b, (None, None))]);
        let two = Options {
            threshold: 2,
            ..Options::default()
        };
        let one_sig = run(&native_sig(&[&a]), &ts, &two);
        assert_eq!(one_sig.reason(), Some(Reason::Untrusted));
        assert!(
            matches!(&one_sig, Verdict::Rejected { detail, .. } if detail.contains("threshold 2 not met")),
            "{one_sig:?}"
        );
        // The same key twice counts once; an untrusted co-signer not at all.
        assert!(!run(&native_sig(&[&a, &a]), &ts, &two).is_verified());
        assert!(!run(&native_sig(&[&a, &c]), &ts, &two).is_verified());
        let both = run(&native_sig(&[&a, &b]), &ts, &two);
        assert!(both.is_verified(), "{both:?}");
        assert!(both
            .signer()
            .is_some_and(|s| s.starts_with("2 trusted signers")));
        // A threshold of one is met by either.
        assert!(run(&native_sig(&[&c, &b]), &ts, &Options::default()).is_verified());
    }

    #[test]
    fn self_signed_only_when_allowed() {
        let k = key(9);
        let h: [u8; 32] = Sha256::digest(CONTENT).into();
        let sig = conductor::sign(
            &k,
            &h,
            CONTENT.len() as u64,
            SIGNED_AT,
            "Dev",
            "dev@example.com",
        );
        let empty = TrustStore::new();
        assert_eq!(
            run(&sig, &empty, &Options::default()).reason(),
            Some(Reason::Untrusted)
        );
        let allow = Options {
            allow_self_signed: true,
            ..Options::default()
        };
        let v = run(&sig, &empty, &allow);
        assert!(v.is_verified() && v.is_self_signed(), "{v:?}");
        assert_eq!(v.key(), Some(Fingerprint::of_ed25519(&k.verifying_key())));
        // Self-signed never satisfies a threshold.
        let two = Options {
            threshold: 2,
            ..allow
        };
        assert!(!run(&sig, &empty, &two).is_verified());
        // A revoked key stays refused even when self-signed is allowed.
        let mut revoked = TrustStore::new();
        revoked.revoke(Fingerprint::of_ed25519(&k.verifying_key()));
        assert_eq!(
            run(
                &sig,
                &revoked,
                &Options {
                    allow_self_signed: true,
                    ..Options::default()
                }
            )
            .reason(),
            Some(Reason::Revoked)
        );
    }

    /// What `verify` says of a file named `name` of `size` bytes with the
    /// given SHA-256, with the evidence `sig` / `minisig`.
    fn verify_facts(
        name: &[u8],
        size: u64,
        sha: &[u8; 32],
        evidence: &Evidence<'_>,
        ts: &TrustStore,
        opts: &Options,
    ) -> Verdict {
        verify(&Subject::new(name, size, sha), evidence, ts, opts)
    }

    /// Whenever the evidence alone refuses a file, `verify` refuses it for
    /// the same reason whatever the content (here: the signed content's
    /// hash, and another).
    fn assert_agrees(name: &[u8], size: u64, evidence: &Evidence<'_>, ts: &TrustStore) {
        let opts = Options::default();
        let Some(early) = refused_without_content(name, size, evidence, &opts) else {
            return;
        };
        for sha in [Sha256::digest(CONTENT).into(), [0x5a; 32]] {
            let v = verify_facts(name, size, &sha, evidence, ts, &opts);
            assert!(!v.is_verified(), "{v:?}");
            assert_eq!(v.reason(), early.reason(), "{v:?} vs {early:?}");
            assert_eq!(v.format(), early.format(), "{v:?} vs {early:?}");
        }
    }

    #[test]
    fn no_evidence_is_refused_without_the_content() {
        let opts = Options::default();
        for size in [1, 1 << 40] {
            let v = refused_without_content(b"p.py", size, &Evidence::default(), &opts);
            assert_eq!(v.as_ref().and_then(Verdict::reason), Some(Reason::Unsigned));
        }
        // A checksum companion alone is no signature.
        let sum = Evidence {
            sha256sum: Some(b"00  p.py\n"),
            ..Evidence::default()
        };
        let v = refused_without_content(b"p.py", 100, &sum, &opts);
        assert_eq!(v.and_then(|v| v.reason()), Some(Reason::Unsigned));
        assert_agrees(b"p.py", 100, &sum, &TrustStore::new());
    }

    #[test]
    fn a_native_signature_for_another_size_or_name_is_refused_without_the_content() {
        let k = key(1);
        let ts = trusted(&[(&k, (None, None))]);
        let sig = native_sig(&[&k]);
        let ev = Evidence {
            sig: Some(sig.as_bytes()),
            ..Evidence::default()
        };
        let opts = Options::default();
        let size = CONTENT.len() as u64;
        // The signed size and name: the content decides.
        assert_eq!(
            refused_without_content(NAME.as_bytes(), size, &ev, &opts),
            None
        );
        let big = refused_without_content(NAME.as_bytes(), 100 << 30, &ev, &opts);
        assert_eq!(
            big.as_ref().and_then(Verdict::reason),
            Some(Reason::Tampered)
        );
        assert_eq!(big.as_ref().and_then(Verdict::format), Some(Format::Native));
        assert_eq!(
            big.as_ref().and_then(Verdict::key),
            Some(Fingerprint::of_ed25519(&k.verifying_key()))
        );
        let renamed = refused_without_content(b"other.py", size, &ev, &opts);
        assert_eq!(renamed.and_then(|v| v.reason()), Some(Reason::Tampered));
        for (name, size) in [
            (NAME.as_bytes(), 100 << 30),
            (b"other.py", size),
            (NAME.as_bytes(), 0),
        ] {
            assert_agrees(name, size, &ev, &ts);
        }
        // Malformed documents need no content either.
        for bad in [
            &b"{\"sigward\": 1}"[..],
            b"{\"sigward\": 2, \"x\": 1}",
            b"  \n",
        ] {
            let ev = Evidence {
                sig: Some(bad),
                ..Evidence::default()
            };
            let v = refused_without_content(NAME.as_bytes(), size, &ev, &opts);
            assert_eq!(v.and_then(|v| v.reason()), Some(Reason::Malformed));
            assert_agrees(NAME.as_bytes(), size, &ev, &ts);
        }
    }

    #[test]
    fn a_conductor_signature_for_another_size_is_refused_without_the_content() {
        let k = key(9);
        let h: [u8; 32] = Sha256::digest(CONTENT).into();
        let size = CONTENT.len() as u64;
        let sig = conductor::sign(&k, &h, size, SIGNED_AT, "Dev", "dev@example.com");
        let ts = trusted(&[(&k, (None, None))]);
        let ev = Evidence {
            sig: Some(sig.as_bytes()),
            ..Evidence::default()
        };
        let opts = Options::default();
        assert_eq!(
            refused_without_content(NAME.as_bytes(), size, &ev, &opts),
            None
        );
        let v = refused_without_content(NAME.as_bytes(), size + 1, &ev, &opts);
        assert_eq!(v.as_ref().and_then(Verdict::reason), Some(Reason::Tampered));
        assert_eq!(v.and_then(|v| v.format()), Some(Format::Conductor));
        assert_agrees(NAME.as_bytes(), size + 1, &ev, &ts);
    }

    #[test]
    fn signatures_over_the_content_alone_leave_the_decision_to_the_content() {
        let k = key(2);
        let h: [u8; 32] = Sha256::digest(CONTENT).into();
        let cloacina = cloacina::sign(&k, &h, SIGNED_AT);
        let rsa_shaped = [7u8; 256];
        let opts = Options::default();
        for sig in [cloacina.as_bytes(), &rsa_shaped[..]] {
            let ev = Evidence {
                sig: Some(sig),
                ..Evidence::default()
            };
            assert_eq!(
                refused_without_content(NAME.as_bytes(), 100 << 30, &ev, &opts),
                None
            );
        }
        // A native signature for another size beside an accepted minisign
        // one: the minisign signature may verify.
        let native = native_sig(&[&k]);
        let both = Evidence {
            sig: Some(native.as_bytes()),
            minisig: Some(b"untrusted comment: x\n"),
            ..Evidence::default()
        };
        assert_eq!(
            refused_without_content(NAME.as_bytes(), 1 << 40, &both, &opts),
            None
        );
        // ... unless the policy does not accept minisign.
        let no_minisign = Options {
            formats: vec![Format::Native],
            ..Options::default()
        };
        let v = refused_without_content(NAME.as_bytes(), 1 << 40, &both, &no_minisign);
        assert_eq!(v.and_then(|v| v.reason()), Some(Reason::Tampered));
        // Text in no accepted format.
        let ev = Evidence {
            sig: Some(b"not a signature"),
            ..Evidence::default()
        };
        let v = refused_without_content(NAME.as_bytes(), 1 << 40, &ev, &opts);
        assert_eq!(v.and_then(|v| v.reason()), Some(Reason::Malformed));
        assert_agrees(NAME.as_bytes(), 1 << 40, &ev, &TrustStore::new());
    }
}
