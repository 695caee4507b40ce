//! The one verification path shared by the agent and `sigward verify`:
//! from an open file and the name it was opened under to a verdict.
//!
//! Evidence is read from beside the file (`FILE.sig`, `FILE.minisig`,
//! `FILE.sha256`) and, for `*.py` files inside an AiSOC plugin directory,
//! from the bundle signature at the plugin's root. The file itself is only
//! ever read through the descriptor the caller holds.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode as FileMode;
use sigward_policy::config::UntrustedWriters;
use sigward_policy::formats::{self, aisoc};
use sigward_policy::{Evidence, Format, Options, Reason, Subject, TrustStore, Verdict};

use crate::config::Engine;
use crate::files::{is_regular, Stamp};
use crate::hash::{digest_fd, sha256_fd_watched, HashError, Interrupt, Unwatched, Watch};

/// Signature files larger than this are malformed: a real one is a few KiB,
/// and an attacker must not make the agent read a huge file.
pub const MAX_SIGNATURE_SIZE: u64 = 1024 * 1024;

/// A file that its evidence alone refuses (no signature at all, or one
/// that binds another size: see
/// [`sigward_policy::formats::refused_without_content`]) is read only up
/// to this size: small ones are still hashed, so that their records carry
/// `SIGWARD_SHA256` and the content deny list applies to them as to every
/// file; larger ones are refused without reading a byte of them, so that
/// an unsigned 100 GiB sparse file costs no more than a small one.
pub const HASH_REFUSED_UP_TO: u64 = 1024 * 1024;

/// Suffixes of the files that accompany a plugin file: they may be read,
/// never executed, and are not themselves verified.
pub const COMPANION_SUFFIXES: [&str; 3] = [".sig", ".minisig", ".sha256"];

/// Bounds on the AiSOC bundle walk.
const MAX_BUNDLE_FILES: usize = 10_000;
const MAX_BUNDLE_DEPTH: usize = 64;
const MAX_BUNDLE_ANCESTORS: usize = 32;

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
        }
    }
}

/// Stamps of a file's companions (`None`: absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvidenceStamps {
    /// `FILE.sig`.
    pub sig: Option<Stamp>,
    /// `FILE.minisig`.
    pub minisig: Option<Stamp>,
    /// `FILE.sha256`.
    pub sha256sum: Option<Stamp>,
}

impl EvidenceStamps {
    /// The companions' stamps as they are now (without following symlinks).
    pub fn current(path: &Path) -> Self {
        let st = |suffix: &str| {
            nix::sys::stat::lstat(&companion(path, suffix))
                .ok()
                .map(|st| Stamp::of(&st))
        };
        EvidenceStamps {
            sig: st(".sig"),
            minisig: st(".minisig"),
            sha256sum: st(".sha256"),
        }
    }
}

/// `path` with `suffix` appended (`x.py` → `x.py.sig`).
pub fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The detached signature path of a file.
pub fn sig_path_for(path: &Path) -> PathBuf {
    companion(path, ".sig")
}

/// Whether a path names a signature companion (`.sig`, `.minisig`,
/// `.sha256`): readable, never executable, not verified itself.
pub fn is_sig_file(path: &Path) -> bool {
    let b = path.as_os_str().as_bytes();
    COMPANION_SUFFIXES.iter().any(|s| b.ends_with(s.as_bytes()))
}

/// Whether a path is an AiSOC manifest with a `plugin.sig` beside it: such
/// manifests are read by AiSOC's loader before anything is verified, and are
/// covered by the bundle signature.
pub fn is_aisoc_manifest(path: &Path) -> bool {
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| aisoc::MANIFEST_NAMES.contains(&n));
    named
        && path
            .parent()
            .and_then(|d| nix::sys::stat::lstat(&d.join(aisoc::SIG_NAME)).ok())
            .is_some_and(|st| is_regular(&st))
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
}

/// Verifies the open file `fd`, opened as `path`, the way `engine` says
/// files there are verified: the trust store, formats and options of the
/// tree holding `path` (or the policy's own outside every tree), checked
/// at the current time. `sigward verify` and `sigward scan` come here, the
/// agent's workers through [`evaluate_in_watched`]: both end in
/// [`evaluate`].
pub fn evaluate_in(engine: &Engine, fd: BorrowedFd<'_>, path: &Path, buf: &mut [u8]) -> Outcome {
    let never = evaluate_in_watched(engine, fd, path, buf, &mut Unwatched);
    never.unwrap_or_else(|i| Outcome::refused(Reason::Invalid, i.to_string(), sig_path_for(path)))
}

/// [`evaluate_in`], consulting `watch` before every read of the content
/// (the agent's workers: see [`crate::lanes`]).
pub fn evaluate_in_watched(
    engine: &Engine,
    fd: BorrowedFd<'_>,
    path: &Path,
    buf: &mut [u8],
    watch: &mut dyn Watch,
) -> Result<Outcome, Interrupt> {
    if let Some(refused) = writable_refusal(engine, fd, path) {
        return Ok(refused);
    }
    let options = Options {
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        ..engine.options_for(path).clone()
    };
    let ctx = Context {
        trust: engine.trust_for(path),
        options: &options,
        tree_root: engine.tree_for(path).map(|t| t.root.as_path()),
    };
    evaluate(fd, path, &ctx, buf, watch)
}

/// In a tree that refuses untrusted writers (the default), a file that
/// someone other than the trusted owners can change, or rename, is refused
/// as `writable` before anything is read: whatever a check found, its
/// content or name could change right after it. Not cached: fixing a
/// directory's permissions changes nothing the file's stamp shows.
pub fn writable_refusal(engine: &Engine, fd: BorrowedFd<'_>, path: &Path) -> Option<Outcome> {
    let tree = engine.tree_for(path)?;
    if tree.untrusted_writers != UntrustedWriters::Refuse {
        return None;
    }
    let why = crate::kcache::examine(
        fd,
        path,
        &tree.root,
        &engine.trusted_owners(),
        crate::kcache::untrusted_writers,
    )
    .err()?;
    let owner = nix::sys::stat::fstat(fd)
        .map(|st| {
            format!(
                " (owner uid {}, mode {:04o})",
                st.st_uid,
                st.st_mode & 0o7777
            )
        })
        .unwrap_or_default();
    Some(Outcome {
        cacheable: false,
        ..Outcome::refused(
            Reason::Writable,
            format!(
                "{why}{owner}: someone other than the trusted owners (root and \
                 agent.kernel_cache_owners) could change it after any check; the tree {} \
                 refuses such files (protect.untrusted_writers = \"allow\" verifies them)",
                tree.root.display()
            ),
            sig_path_for(path),
        )
    })
}

/// Who signed: what the verdict says (OpenSSH principal, minisign trusted
/// comment, Conductor developer, certificate subject), else the name of
/// the trusted key.
pub fn signer(engine: &Engine, verdict: &Verdict) -> Option<String> {
    verdict.signer().map(str::to_owned).or_else(|| {
        verdict
            .key()
            .and_then(|k| engine.trust.get(&k))
            .and_then(|k| k.label.clone())
    })
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
        match read_signature(&p) {
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
    let used_sig = if evidence.sig.is_none() && evidence.minisig.is_some() {
        companion(path, ".minisig")
    } else {
        sig_path.clone()
    };

    // Refused whatever the content: a large file is not read at all.
    if bundle_root.is_none() && stamp.size > HASH_REFUSED_UP_TO {
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
    if let Some((root, manifest)) = bundle_root {
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
    if let Some((sig, bundle)) = bundle_sig {
        let rests_on_bundle = match (&verdict, &bundle) {
            (Verdict::Verified { key, .. }, Verdict::Verified { key: b, .. }) => key == b,
            _ => verdict == bundle.clone().in_format(Format::Aisoc),
        };
        if rests_on_bundle || (evidence.is_empty() && !verdict.is_verified()) {
            used_sig = sig;
        }
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

/// The nearest directory above `path` (up to `stop`) that is an AiSOC
/// plugin root: it holds `plugin.sig` and a manifest.
fn find_bundle_root(path: &Path, stop: Option<&Path>) -> Option<(PathBuf, &'static str)> {
    let mut dir = path.parent()?;
    for _ in 0..MAX_BUNDLE_ANCESTORS {
        let has = |name: &str| {
            nix::sys::stat::lstat(&dir.join(name))
                .ok()
                .is_some_and(|st| is_regular(&st))
        };
        if has(aisoc::SIG_NAME) {
            if let Some(m) = aisoc::MANIFEST_NAMES.iter().find(|m| has(m)) {
                return Some((dir.to_path_buf(), m));
            }
        }
        if stop.is_some_and(|s| s == dir) {
            return None;
        }
        dir = dir.parent()?;
    }
    None
}

/// Verifies the AiSOC bundle rooted at `root` with the file being checked
/// at `path` (whose SHA-256 was computed through its descriptor). Returns
/// the verdict, the `plugin.sig` path, and whether every file could be read.
fn bundle_verdict(
    root: &Path,
    manifest_name: &'static str,
    path: &Path,
    sha256: &[u8; 32],
    trust: &TrustStore,
    buf: &mut [u8],
    watch: &mut dyn Watch,
) -> Result<(Verdict, PathBuf, bool), Interrupt> {
    let sig_path = root.join(aisoc::SIG_NAME);
    let malformed =
        |detail: String| Verdict::reject(Reason::Malformed, detail, None).in_format(Format::Aisoc);
    let manifest = match read_signature(&root.join(manifest_name)) {
        Ok(Some((m, _))) => m,
        Ok(None) => {
            return Ok((
                malformed(format!("{manifest_name} disappeared")),
                sig_path,
                false,
            ))
        }
        Err(e) => return Ok((malformed(format!("{manifest_name}: {e}")), sig_path, false)),
    };
    let sig = match read_signature(&sig_path) {
        Ok(Some((s, _))) => s,
        Ok(None) => return Ok((malformed("plugin.sig disappeared".into()), sig_path, false)),
        Err(e) => return Ok((malformed(format!("plugin.sig: {e}")), sig_path, false)),
    };
    let Ok(own) = path.strip_prefix(root) else {
        return Ok((
            malformed("file is outside its plugin root".into()),
            sig_path,
            false,
        ));
    };
    let (files, complete) =
        match bundle_files_watched(root, Some((&posix(own), *sha256)), buf, watch)? {
            Ok(r) => r,
            Err(e) => return Ok((malformed(e), sig_path, false)),
        };
    let bundle = aisoc::Bundle {
        manifest_name,
        manifest: &manifest,
        sig: &sig,
        files: &files,
    };
    Ok((aisoc::verify_bundle(&bundle, trust), sig_path, complete))
}

/// Every `*.py` file under an AiSOC plugin root (hidden directories
/// included, symlinked directories not followed), as relative POSIX path →
/// SHA-256. `known` supplies the hash of one file already computed (the one
/// being opened, hashed through its descriptor). The flag says whether every
/// file could be read.
pub fn bundle_files(
    root: &Path,
    known: Option<(&str, [u8; 32])>,
    buf: &mut [u8],
) -> Result<(BTreeMap<String, [u8; 32]>, bool), String> {
    bundle_files_watched(root, known, buf, &mut Unwatched).unwrap_or_else(|i| Err(i.to_string()))
}

/// Bundle members with their SHA-256 and whether all could be read, or why
/// the bundle cannot be verified.
type Members = Result<(BTreeMap<String, [u8; 32]>, bool), String>;

/// [`bundle_files`], consulting `watch` before every read (outer error:
/// interrupted).
fn bundle_files_watched(
    root: &Path,
    known: Option<(&str, [u8; 32])>,
    buf: &mut [u8],
    watch: &mut dyn Watch,
) -> Result<Members, Interrupt> {
    let mut files = BTreeMap::new();
    let mut complete = true;
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            complete = false;
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            let Ok(ft) = entry.file_type() else {
                complete = false;
                continue;
            };
            if ft.is_dir() {
                if depth + 1 < MAX_BUNDLE_DEPTH {
                    stack.push((p, depth + 1));
                } else {
                    complete = false;
                }
                continue;
            }
            if p.extension().is_none_or(|e| e != "py") {
                continue;
            }
            if files.len() >= MAX_BUNDLE_FILES {
                return Ok(Err(format!(
                    "plugin holds more than {MAX_BUNDLE_FILES} .py files"
                )));
            }
            let Ok(rel) = p.strip_prefix(root) else {
                continue;
            };
            if rel.to_str().is_none() {
                return Ok(Err(format!(
                    "{} has a name that is not UTF-8, which an AiSOC bundle cannot list",
                    p.display()
                )));
            }
            let rel = posix(rel);
            let digest = match known {
                Some((k, d)) if k == rel => Some(d),
                _ => hash_path(&p, buf, watch)?,
            };
            match digest {
                Some(d) => {
                    files.insert(rel, d);
                }
                None => complete = false,
            }
        }
    }
    Ok(Ok((files, complete)))
}

fn posix(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// SHA-256 of a file by path (bundle members other than the one opened).
/// Symlinks to files are followed, as Python's `rglob` does.
/// `Ok(None)`: it cannot be read.
fn hash_path(
    path: &Path,
    buf: &mut [u8],
    watch: &mut dyn Watch,
) -> Result<Option<[u8; 32]>, Interrupt> {
    let Ok(fd) = nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        FileMode::empty(),
    ) else {
        return Ok(None);
    };
    let size = match nix::sys::stat::fstat(fd.as_fd()) {
        Ok(st) if is_regular(&st) => u64::try_from(st.st_size).unwrap_or(0),
        _ => return Ok(None),
    };
    match sha256_fd_watched(fd.as_fd(), size, buf, watch) {
        Ok(d) => Ok(Some(d)),
        Err(HashError::Interrupted(i)) => Err(i),
        Err(_) => Ok(None),
    }
}

/// Why a signature file could not be used.
#[derive(Debug)]
pub enum SigError {
    /// It is not acceptable as it stands (symlink, FIFO, too large): the
    /// same answer until it changes.
    Refused(String),
    /// Reading it failed (I/O error, descriptor limit): may pass.
    Io(String),
}

impl std::fmt::Display for SigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SigError::Refused(s) | SigError::Io(s) => f.write_str(s),
        }
    }
}

/// The stamp of a path, without following a symlink; `None` when there is
/// nothing there.
pub fn sig_stamp(path: &Path) -> Option<Stamp> {
    nix::sys::stat::lstat(path).ok().map(|st| Stamp::of(&st))
}

/// Opens a file for reading without following a final symlink and without
/// blocking on a FIFO or acquiring a terminal.
pub fn open_no_follow(path: &Path) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_NOCTTY
        | OFlag::O_CLOEXEC;
    nix::fcntl::open(path, flags, FileMode::empty())
}

/// Reads a signature file: `Ok(None)` when there is none. Symlinks, FIFOs,
/// devices and oversized files are refused without blocking or reading them.
pub fn read_signature(path: &Path) -> Result<Option<(Vec<u8>, Stamp)>, SigError> {
    let fd: OwnedFd = match open_no_follow(path) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP) => {
            return Err(SigError::Refused(
                "signature file is a symbolic link".into(),
            ))
        }
        Err(e @ (Errno::ENXIO | Errno::EISDIR | Errno::ENOTDIR)) => {
            return Err(SigError::Refused(format!(
                "signature file cannot be read: {e}"
            )))
        }
        Err(e) => return Err(SigError::Io(format!("cannot open signature file: {e}"))),
    };
    let st = nix::sys::stat::fstat(fd.as_fd())
        .map_err(|e| SigError::Io(format!("cannot stat signature file: {e}")))?;
    if !is_regular(&st) {
        return Err(SigError::Refused(
            "signature file is not a regular file".into(),
        ));
    }
    if u64::try_from(st.st_size).unwrap_or(u64::MAX) > MAX_SIGNATURE_SIZE {
        return Err(SigError::Refused(format!(
            "signature file is {} bytes, larger than the {MAX_SIGNATURE_SIZE} bytes allowed",
            st.st_size
        )));
    }
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_SIGNATURE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| SigError::Io(format!("cannot read signature file: {e}")))?;
    if bytes.len() as u64 > MAX_SIGNATURE_SIZE {
        return Err(SigError::Refused(
            "signature file grew past the size allowed".into(),
        ));
    }
    Ok(Some((bytes, Stamp::of(&st))))
}

/// Opens a file for `sigward verify` the way a loader would.
pub fn open_for_verify(path: &Path) -> Result<OwnedFd, Errno> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK,
        FileMode::empty(),
    )?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts what a verification reads.
    #[derive(Default)]
    struct Reads(u64);

    impl Watch for Reads {
        fn before_read(&mut self, n: u64) -> Result<(), Interrupt> {
            self.0 += n;
            Ok(())
        }
    }

    fn file(dir: &Path, name: &str, size: u64) -> (PathBuf, OwnedFd) {
        let p = dir.join(name);
        let f = std::fs::File::create(&p).unwrap_or_else(|e| unreachable!("{e}"));
        f.set_len(size).unwrap_or_else(|e| unreachable!("{e}"));
        let fd = open_for_verify(&p).unwrap_or_else(|e| unreachable!("{e}"));
        (p, fd)
    }

    fn check(path: &Path, fd: &OwnedFd) -> (Outcome, u64) {
        let trust = TrustStore::new();
        let options = Options::default();
        let ctx = Context {
            trust: &trust,
            options: &options,
            tree_root: path.parent(),
        };
        let mut buf = vec![0u8; 64 * 1024];
        let mut reads = Reads::default();
        let outcome = evaluate(fd.as_fd(), path, &ctx, &mut buf, &mut reads)
            .unwrap_or_else(|e| unreachable!("{e}"));
        (outcome, reads.0)
    }

    #[test]
    fn large_files_that_the_evidence_refuses_are_not_read() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        // Unsigned: small ones are hashed (their records carry the digest),
        // large ones (here 100 GiB, sparse) are not read at all.
        let (small, fd) = file(dir.path(), "small.py", HASH_REFUSED_UP_TO);
        let (o, read) = check(&small, &fd);
        assert_eq!(o.verdict.reason(), Some(Reason::Unsigned));
        assert!(o.sha256.is_some() && read == HASH_REFUSED_UP_TO);
        let (huge, fd) = file(dir.path(), "huge.py", 100 << 30);
        let (o, read) = check(&huge, &fd);
        assert_eq!(o.verdict.reason(), Some(Reason::Unsigned));
        assert_eq!((o.sha256, read), (None, 0));
        assert!(o.cacheable, "refused on its evidence, which is stamped");
        // A native signature made for another size.
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let doc = sigward_policy::native::sign(
            None,
            &key,
            "huge.py",
            6,
            &[0; 32],
            "2026-01-01T00:00:00Z",
        );
        std::fs::write(sig_path_for(&huge), sigward_policy::native::to_text(&doc))
            .unwrap_or_else(|e| unreachable!("{e}"));
        let (o, read) = check(&huge, &fd);
        assert_eq!(
            o.verdict.reason(),
            Some(Reason::Tampered),
            "{:?}",
            o.verdict
        );
        assert_eq!((o.sha256, read), (None, 0));
        assert!(o.evidence.sig.is_some());
        // 256 bytes that could be an RSA signature: only the content can
        // refute them, so the file is read.
        let (rsa, fd) = file(dir.path(), "rsa.bin", 3 * HASH_REFUSED_UP_TO);
        std::fs::write(sig_path_for(&rsa), [0x8f; 256]).unwrap_or_else(|e| unreachable!("{e}"));
        let (o, read) = check(&rsa, &fd);
        assert!(!o.verdict.is_verified());
        assert_eq!(read, 3 * HASH_REFUSED_UP_TO);
        assert!(o.sha256.is_some());
    }
}
