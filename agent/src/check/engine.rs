//! Verification the way a loaded policy says: the trust store, formats
//! and options of the tree holding a file, and the refusal of files that
//! untrusted users can change.

use std::os::fd::BorrowedFd;
use std::path::Path;

use sigward_policy::config::UntrustedWriters;
use sigward_policy::{Options, Reason, Verdict};

use super::companion::sig_path_for;
use super::{evaluate, Context, Outcome};
use crate::config::Engine;
use crate::hash::{Interrupt, Unwatched, Watch};

/// Verifies the open file `fd`, opened as `path`, the way `engine` says
/// files there are verified: the trust store, formats and options of the
/// tree holding `path` (or the policy's own outside every tree), checked
/// at the current time. `sigward verify` and `sigward scan` come here, the
/// agent's workers through [`evaluate_in_watched`]: both end in
/// [`evaluate`].
pub fn evaluate_in(engine: &Engine, fd: BorrowedFd<'_>, path: &Path, buf: &mut [u8]) -> Outcome {
    let never = evaluate_in_watched(engine, fd, path, false, buf, &mut Unwatched);
    never.unwrap_or_else(|i| Outcome::refused(Reason::Invalid, i.to_string(), sig_path_for(path)))
}

/// [`evaluate_in`], consulting `watch` before every read of the content
/// (the agent's workers: see [`crate::lanes`]). `exec`: the file is opened
/// for execution ([`evaluate_in`] verifies for reading).
pub fn evaluate_in_watched(
    engine: &Engine,
    fd: BorrowedFd<'_>,
    path: &Path,
    exec: bool,
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
        bundle_data: engine.bundle_data_for(path),
        exec,
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
