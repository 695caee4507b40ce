//! AiSOC plugin bundles: finding a plugin's root, walking and hashing its
//! `*.py` files, and verifying its bundle signature.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode as FileMode;
use sigward_policy::formats::aisoc;
use sigward_policy::{Format, Reason, TrustStore, Verdict};

use super::companion::read_signature;
use crate::files::is_regular;
use crate::hash::{sha256_fd_watched, HashError, Interrupt, Unwatched, Watch};

/// Bounds on the AiSOC bundle walk.
const MAX_BUNDLE_FILES: usize = 10_000;
const MAX_BUNDLE_DEPTH: usize = 64;
const MAX_BUNDLE_ANCESTORS: usize = 32;

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

/// The AiSOC plugin root of `path`: the outermost directory above it (up
/// to and including `stop`, the tree's root, or [`MAX_BUNDLE_ANCESTORS`]
/// levels) that holds `plugin.sig` and a manifest, with the manifest that
/// wins there.
///
/// AiSOC's loader (`PluginManager.discover`) loads the directories directly
/// below its plugins directory and verifies each with the `plugin.sig` at
/// its root only: a subdirectory's own manifest and `plugin.sig` mean
/// nothing to it, and its `*.py` files are members of the outer bundle
/// (`rglob("*.py")`). sigward does not know the plugins directory, so it
/// takes the outermost signed plugin directory, which is that directory in
/// AiSOC's layout; an inner one never decides, so a signed plugin copied
/// into another cannot vouch for files there.
pub(super) fn find_bundle_root(
    path: &Path,
    stop: Option<&Path>,
) -> Option<(PathBuf, &'static str)> {
    let mut dir = path.parent()?;
    let mut found = None;
    for _ in 0..MAX_BUNDLE_ANCESTORS {
        let has = |name: &str| {
            nix::sys::stat::lstat(&dir.join(name))
                .ok()
                .is_some_and(|st| is_regular(&st))
        };
        if has(aisoc::SIG_NAME) {
            if let Some(m) = aisoc::MANIFEST_NAMES.iter().find(|m| has(m)) {
                found = Some((dir.to_path_buf(), *m));
            }
        }
        if stop.is_some_and(|s| s == dir) {
            break;
        }
        match dir.parent() {
            Some(up) => dir = up,
            None => break,
        }
    }
    found
}

/// Verifies the AiSOC bundle rooted at `root` with the file being checked
/// at `path` (whose SHA-256 was computed through its descriptor). Returns
/// the verdict, the `plugin.sig` path, and whether every file could be read.
pub(super) fn bundle_verdict(
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
            Err(e) => return Ok((malformed(e.to_string()), sig_path, false)),
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
/// included, symlinked directories not followed), as relative POSIX path
/// (the bytes of the names, UTF-8 or not) → SHA-256. `known` supplies the
/// hash of one file already computed (the one being opened, hashed through
/// its descriptor). The flag says whether every file could be read.
pub fn bundle_files(root: &Path, known: Option<(&[u8], [u8; 32])>, buf: &mut [u8]) -> Members {
    bundle_files_watched(root, known, buf, &mut Unwatched)
        .unwrap_or_else(|i| Err(BundleError::Interrupted(i)))
}

/// Why the files of an AiSOC plugin cannot be listed as its signature
/// would list them.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleError {
    /// More `.py` files than a bundle may hold.
    #[error("plugin holds more than {limit} .py files")]
    TooManyFiles {
        /// The limit.
        limit: usize,
    },
    /// The walk was interrupted (the agent is stopping, or nobody waits).
    #[error("{0}")]
    Interrupted(Interrupt),
}

/// Bundle members with their SHA-256 and whether all could be read, or why
/// the bundle cannot be verified.
type Members = Result<(BTreeMap<Vec<u8>, [u8; 32]>, bool), BundleError>;

/// [`bundle_files`], consulting `watch` before every read (outer error:
/// interrupted).
fn bundle_files_watched(
    root: &Path,
    known: Option<(&[u8], [u8; 32])>,
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
                return Ok(Err(BundleError::TooManyFiles {
                    limit: MAX_BUNDLE_FILES,
                }));
            }
            let Ok(rel) = p.strip_prefix(root) else {
                continue;
            };
            // Names that are not UTF-8 are listed too, by their bytes: the
            // canonical form writes them as Python's `os.fsdecode` does.
            let rel = posix(rel);
            let digest = match known {
                Some((k, d)) if k == rel.as_slice() => Some(d),
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

/// A relative path's components joined with `/` (`PurePath.as_posix()`),
/// as bytes.
pub(super) fn posix(rel: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, c) in rel.components().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(c.as_os_str().as_bytes());
    }
    out
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
