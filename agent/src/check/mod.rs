//! The one verification path shared by the agent and `sigward verify`:
//! from an open file and the name it was opened under to a verdict.
//!
//! Evidence is read from beside the file (`FILE.sig`, `FILE.minisig`,
//! `FILE.sha256`) and, for `*.py` files inside an AiSOC plugin directory,
//! from the bundle signature at the plugin's root. A data file of such a
//! plugin (`protect.bundle_data`), opened for reading, rests on the same
//! bundle signature: it is allowed while the bundle verifies, unless its
//! name or its first bytes say it is code. The file itself is only ever
//! read through the descriptor the caller holds.

use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sigward_policy::bundle_data::{self, DataPattern};
use sigward_policy::formats;
use sigward_policy::{Evidence, Format, Options, Reason, Subject, TrustStore, Verdict};

use crate::files::{is_regular, Stamp};
use crate::hash::{digest_fd, HashError, Interrupt, Watch};

// The unit tests (`tests.rs`) take these from here with `use super::*`.
#[cfg(test)]
use std::os::fd::{AsFd, OwnedFd};

mod bundle;
mod companion;
mod engine;

pub use bundle::{bundle_files, is_aisoc_manifest, BundleError};
use bundle::{bundle_verdict, find_bundle_root, posix};
pub use companion::{
    companion, is_sig_file, open_for_verify, open_no_follow, read_signature,
    read_signature_watched, sig_path_for, sig_stamp, EvidenceStamps, SigError, COMPANION_SUFFIXES,
    MAX_SIGNATURE_SIZE,
};
pub use engine::{evaluate_in, evaluate_in_watched, signer, writable_refusal};

/// A file that its evidence alone refuses (no signature at all, or one
/// that binds another size: see
/// [`sigward_policy::formats::refused_without_content`]) is read only up
/// to this size: small ones are still hashed, so that their records carry
/// `SIGWARD_SHA256` and the content deny list applies to them as to every
/// file; larger ones are refused without reading a byte of them, so that
/// an unsigned 100 GiB sparse file costs no more than a small one.
pub const HASH_REFUSED_UP_TO: u64 = 1024 * 1024;

/// What a verification found.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The verdict.
    pub verdict: Verdict,
    /// SHA-256 of the content, when it was computed.
    pub sha256: Option<[u8; 32]>,
    /// The signature file the verdict rests on (`FILE.sig` when there is
    /// none).
    pub sig_path: PathBuf,
    /// The companions' stamps when they were read. A cached rejection is
    /// reused only while these are unchanged.
    pub evidence: EvidenceStamps,
    /// Whether the verdict may be cached: the file was read whole and did
    /// not change meanwhile, and nothing failed for a passing reason.
    pub cacheable: bool,
    /// Unix time from which a verified verdict no longer holds, because the
    /// validity window of a key it rests on ends (`None`: no window ends
    /// it). See [`valid_until`].
    pub valid_until: Option<u64>,
    /// The verdict allows a data file of a verified AiSOC bundle
    /// (`protect.bundle_data`) that carries no signature of its own: it
    /// allows reading only, never an exec (see
    /// [`crate::verdict::Judgement::of_bundle_data`]).
    pub bundle_data: bool,
}

impl Outcome {
    /// A rejection decided without reading the file (nothing hashed, not
    /// cacheable).
    pub fn refused(reason: Reason, detail: impl Into<String>, sig_path: PathBuf) -> Self {
        Outcome {
            verdict: Verdict::reject(reason, detail, None),
            sha256: None,
            sig_path,
            evidence: EvidenceStamps::default(),
            cacheable: false,
            valid_until: None,
            bundle_data: false,
        }
    }
}

/// What a verification may consult besides the file.
pub struct Context<'a> {
    /// Trusted keys.
    pub trust: &'a TrustStore,
    /// Accepted formats and format settings, with `now` set.
    pub options: &'a Options,
    /// The protected tree's root: AiSOC plugin roots are looked for up to
    /// here (and up to a fixed number of levels without one).
    pub tree_root: Option<&'a Path>,
    /// Files of a verified AiSOC bundle that may be read without a
    /// signature of their own (`protect.bundle_data`).
    pub bundle_data: &'a [DataPattern],
    /// Whether the file is opened for execution: bundle data never is.
    pub exec: bool,
}

/// Verifies the open file `fd`, opened as `path`.
///
/// `buf` is the caller's hashing buffer. The file is hashed through `fd`
/// (never reopened by name), and its stamp is compared before and after, so a
/// file changed during verification is refused rather than cached. A file
/// refused by its evidence alone is not read beyond [`HASH_REFUSED_UP_TO`].
/// `watch` is consulted before every read of the content (the file's and
/// its AiSOC bundle's): an interruption ends the verification without a
/// verdict.
pub fn evaluate(
    fd: BorrowedFd<'_>,
    path: &Path,
    ctx: &Context<'_>,
    buf: &mut [u8],
    watch: &mut dyn Watch,
) -> Result<Outcome, Interrupt> {
    let sig_path = sig_path_for(path);
    let before = match nix::sys::stat::fstat(fd) {
        Ok(st) => st,
        Err(e) => {
            return Ok(Outcome::refused(
                Reason::Invalid,
                format!("cannot stat file: {e}"),
                sig_path,
            ))
        }
    };
    if !is_regular(&before) {
        return Ok(Outcome::refused(
            Reason::Unsigned,
            "not a regular file: only regular files can carry a signature",
            sig_path,
        ));
    }
    let stamp = Stamp::of(&before);

    // Evidence beside the file.
    let mut cacheable = true;
    let mut stamps = EvidenceStamps::default();
    let mut read_errors: Vec<Verdict> = Vec::new();
    let mut read = |suffix: &str, slot: &mut Option<Stamp>| -> Option<Vec<u8>> {
        let p = companion(path, suffix);
        match read_signature_watched(&p, &mut *watch) {
            Ok(Some((bytes, st))) => {
                *slot = Some(st);
                Some(bytes)
            }
            Ok(None) => None,
            Err(e) => {
                *slot = sig_stamp(&p);
                if matches!(e, SigError::Io(_)) {
                    cacheable = false;
                }
                read_errors.push(Verdict::reject(
                    Reason::Malformed,
                    format!("{}: {e}", p.display()),
                    None,
                ));
                None
            }
        }
    };
    let sig = read(".sig", &mut stamps.sig);
    let minisig = read(".minisig", &mut stamps.minisig);
    let sha256sum = read(".sha256", &mut stamps.sha256sum);
    let evidence = Evidence {
        sig: sig.as_deref(),
        minisig: minisig.as_deref(),
        sha256sum: sha256sum.as_deref(),
    };
    let needs = formats::needs(&evidence, ctx.options);
    let bundle_root =
        if ctx.options.allows(Format::Aisoc) && path.extension().is_some_and(|e| e == "py") {
            find_bundle_root(path, ctx.tree_root)
        } else {
            None
        };
    let name = path.file_name().map(|n| n.as_bytes()).unwrap_or_default();
    // A data file of a signed bundle: read, not code by its name, and
    // matched by one of the tree's patterns. Its content is looked at below.
    let data_candidate = if bundle_root.is_none()
        && ctx.options.allows(Format::Aisoc)
        && !ctx.bundle_data.is_empty()
        && !bundle_data::never_data(name)
    {
        find_bundle_root(path, ctx.tree_root).filter(|(root, _)| {
            path.strip_prefix(root).is_ok_and(|rel| {
                let rel = posix(rel);
                ctx.bundle_data.iter().any(|p| p.matches(&rel))
            })
        })
    } else {
        None
    };
    // An exec of such a file is verified as any other; its refusal must not
    // answer a later read from the cache (nor a read's allow an exec: see
    // `Outcome::bundle_data`).
    if ctx.exec && data_candidate.is_some() {
        cacheable = false;
    }
    let mut data_root = data_candidate.filter(|_| !ctx.exec);
    let mut data_refused = None;
    if data_root.is_some() {
        // Never data, whatever its name: an ELF binary or a script. Read
        // through the descriptor, between the two stamps compared below.
        let mut head = [0u8; bundle_data::HEAD_LEN];
        watch.before_read(bundle_data::HEAD_LEN as u64)?;
        let n = nix::sys::uio::pread(fd, &mut head, 0).unwrap_or(0);
        if let Some(what) = bundle_data::refused_content(head.get(..n).unwrap_or_default()) {
            data_root = None;
            data_refused = Some(what);
        }
    }
    let used_sig = if evidence.sig.is_none() && evidence.minisig.is_some() {
        companion(path, ".minisig")
    } else {
        sig_path.clone()
    };

    // Refused whatever the content: a large file is not read at all
    // (unless contents may be trusted by their digest alone: then only the
    // digest can tell).
    if bundle_root.is_none()
        && data_root.is_none()
        && stamp.size > HASH_REFUSED_UP_TO
        && ctx.trust.allowed_contents() == 0
    {
        if let Some(verdict) =
            formats::refused_without_content(name, stamp.size, &evidence, ctx.options)
        {
            return Ok(Outcome {
                verdict: read_errors.into_iter().fold(verdict, formats::best),
                sha256: None,
                sig_path: used_sig,
                evidence: stamps,
                cacheable,
                valid_until: None,
                bundle_data: false,
            });
        }
    }

    let digests = match digest_fd(fd, stamp.size, needs, buf, watch) {
        Ok(d) => d,
        Err(HashError::Interrupted(i)) => return Err(i),
        Err(e @ HashError::Shrunk { .. }) => {
            return Ok(Outcome::refused(Reason::Tampered, e.to_string(), sig_path))
        }
        Err(e @ HashError::TooLarge { .. }) => {
            return Ok(Outcome::refused(Reason::Malformed, e.to_string(), sig_path))
        }
        Err(e @ HashError::Read(_)) => {
            return Ok(Outcome::refused(Reason::Invalid, e.to_string(), sig_path))
        }
    };
    match nix::sys::stat::fstat(fd) {
        Ok(after) if Stamp::of(&after) == stamp => {}
        Ok(_) => {
            return Ok(Outcome {
                sha256: Some(digests.sha256),
                ..Outcome::refused(
                    Reason::Tampered,
                    "file changed while it was being verified",
                    sig_path,
                )
            })
        }
        Err(e) => {
            return Ok(Outcome::refused(
                Reason::Invalid,
                format!("cannot stat file: {e}"),
                sig_path,
            ))
        }
    }

    let subject = Subject {
        name,
        size: stamp.size,
        sha256: &digests.sha256,
        sha512: digests.sha512.as_ref(),
        blake2b512: digests.blake2b512.as_ref(),
        content: digests.content.as_deref(),
    };
    // An AiSOC bundle is one more piece of evidence, decided together with
    // the others (deny list, validity windows, thresholds).
    let mut extra = Vec::new();
    let mut bundle_sig = None;
    let is_data = data_root.is_some();
    if let Some((root, manifest)) = bundle_root.or(data_root) {
        let (bundle, sig, complete) = bundle_verdict(
            &root,
            manifest,
            path,
            &digests.sha256,
            ctx.trust,
            buf,
            watch,
        )?;
        // A bundle's verdict depends on every file of the plugin: never
        // cache a rejection that may rest on it.
        if !(complete && bundle.is_verified()) {
            cacheable = false;
        }
        bundle_sig = Some((sig, bundle.clone()));
        extra.push(bundle);
    }
    let mut verdict = formats::verify_with(&subject, &evidence, extra, ctx.trust, ctx.options);
    for e in read_errors {
        verdict = formats::best(verdict, e);
    }
    let mut used_sig = used_sig;
    let mut as_data = false;
    if let Some((sig, bundle)) = bundle_sig {
        let rests_on_bundle = match (&verdict, &bundle) {
            (Verdict::Verified { key, .. }, Verdict::Verified { key: b, .. }) => key == b,
            _ => verdict == bundle.clone().in_format(Format::Aisoc),
        };
        if rests_on_bundle || (evidence.is_empty() && !verdict.is_verified()) {
            used_sig = sig;
        }
        as_data = is_data && rests_on_bundle && verdict.is_verified();
    }
    if let (Some(what), Verdict::Rejected { detail, .. }) = (data_refused, &mut verdict) {
        detail.push_str(&format!(
            " (named like data of a signed AiSOC plugin, but {what} is never data: \
             protect.bundle_data)"
        ));
    }
    // A key that is not valid yet becomes valid without any file changing.
    if matches!(
        verdict,
        Verdict::Rejected {
            reason: Reason::Expired,
            ..
        }
    ) {
        cacheable = false;
    }
    Ok(Outcome {
        valid_until: valid_until(&verdict, ctx.trust, ctx.options),
        verdict,
        sha256: Some(digests.sha256),
        sig_path: used_sig,
        evidence: stamps,
        cacheable,
        bundle_data: as_data,
    })
}

/// Until when a verdict holds as time passes (`None`: for ever). A
/// signature with an authenticated signing time was checked against the
/// key's window at that time, which does not move; otherwise the window
/// was checked at `options.now` and the verdict ends with it. With a
/// threshold above one, the verdict names one of its keys only: the
/// earliest end among all keys valid now applies.
pub fn valid_until(verdict: &Verdict, trust: &TrustStore, options: &Options) -> Option<u64> {
    let Verdict::Verified {
        key,
        signed_at: None,
        ..
    } = verdict
    else {
        return None;
    };
    if options.threshold > 1 {
        // A key not valid now gives `Some(now)` (see
        // `TrustStore::valid_until`): only later ends count.
        return trust
            .iter()
            .filter_map(|k| trust.valid_until(&k.fingerprint, options.now))
            .filter(|&until| until > options.now)
            .min();
    }
    trust.valid_until(key, options.now)
}

#[cfg(test)]
mod tests;
