//! Marking the trees and their filesystems, following mount changes, and
//! the files outside the trees that are left to the kernel.

use std::collections::HashSet;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::bounded;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::stat::FileStat;

use crate::config::Engine;
use crate::fan::Op;
use crate::files::Stamp;
use crate::{fan, ids, kcache};

use super::guards::{guard_special, guard_symlinks};
use super::{report_walk_errors, Shared};

/// Marks every tree of `engine` again (marks are idempotent).
pub(super) fn mark_all(shared: &Shared, engine: &Engine) {
    for tree in &engine.trees {
        let dirs = mark_tree(shared, engine, &tree.root);
        shared.metrics.set_tree_directories(&tree.root, dirs);
    }
}

/// After a walk of a protected tree (or part of one): reports what could
/// not be marked, and guards the symbolic links and special files found,
/// under `engine` (the policy the tree belongs to, which during a reload is
/// not yet the one in force).
pub(super) fn guard_walked(shared: &Shared, engine: &Engine, stats: &fan::WalkStats) {
    report_walk_errors(stats);
    guard_symlinks(shared, engine, &stats.symlinks);
    guard_special(shared, engine, &stats.special);
}

/// Marks one protected tree of `engine`, reporting what could not be
/// marked. Returns the number of directories marked.
pub(super) fn mark_tree(shared: &Shared, engine: &Engine, root: &Path) -> usize {
    match fan::open_dir(root) {
        Ok(fd) => {
            let stats = shared.groups.walk(Op::Add, fd, root, &HashSet::new());
            guard_walked(shared, engine, &stats);
            shared.metrics.count_marked(stats.dirs);
            stats.dirs
        }
        Err(e) => {
            tracing::error!(
                message_id = ids::MARK_FAILED,
                "cannot open protected directory {}: {e}",
                root.display()
            );
            0
        }
    }
}

/// Places and removes filesystem marks to match how the trees of `engine`
/// lie among the mounts now ([`FilesystemMarks::refresh`]). When a
/// filesystem's mark went, or stopped covering files outside the trees, the
/// kernel verdicts placed for such files go too (all kernel verdicts: they
/// are not told apart), and come back as files are verified again.
pub(super) fn refresh_filesystem_marks(shared: &Shared, engine: &Engine, announce: bool) {
    let roots: Vec<PathBuf> = engine.trees.iter().map(|t| t.root.clone()).collect();
    let changed =
        shared
            .filesystem_marks
            .refresh(&shared.groups, &roots, shared.self_pid, announce);
    // The trees may have changed: what each mount shows is looked at again.
    shared.vias.clear();
    if changed.lost && !shared.kcache.is_empty() {
        let accepted = shared.kcache.accepts(engine.generation);
        drop_kernel_marks(shared, engine);
        if accepted {
            shared
                .kcache
                .open(engine.generation, engine.kernel_cache.clone());
        }
    }
}

/// Follows changes to the agent's mount table (`/proc/self/mountinfo` is
/// pollable): a tree's bind mount removed, or a mount that shows a tree
/// without it, takes the filesystem mark away at once, since files could
/// then be renamed out of the tree between an open and the agent's look; a
/// tree bound onto itself gets one. Refreshes are serialised with reloads.
pub(super) fn mounts_loop(shared: &Shared, stop: BorrowedFd<'_>) {
    let file = match std::fs::File::open("/proc/self/mountinfo") {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(
                message_id = ids::NEW_DIRECTORY_WINDOW,
                "cannot follow mount changes ({e}): a tree's filesystem mark is looked at again \
                 only on reload"
            );
            return;
        }
    };
    // Whether the mount table changed within `timeout`; `None` once
    // `stop` is readable.
    let changed = |timeout: PollTimeout| {
        let mut fds = [
            PollFd::new(file.as_fd(), PollFlags::POLLPRI),
            PollFd::new(stop, PollFlags::POLLIN),
        ];
        let ready = matches!(nix::poll::poll(&mut fds, timeout), Ok(n) if n > 0);
        let stopped = fds[1].any().unwrap_or(false);
        (!stopped).then_some(ready && fds[0].any().unwrap_or(false))
    };
    while !shared.stopping.load(Ordering::SeqCst) {
        match changed(PollTimeout::from(1000u16)) {
            None => return,
            Some(false) => continue,
            Some(true) => {}
        }
        // A burst of mounts (a container starting) is looked at once.
        std::thread::sleep(Duration::from_millis(50));
        while changed(PollTimeout::ZERO) == Some(true) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _serial = shared.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let engine = shared.engine();
        refresh_filesystem_marks(shared, &engine, false);
        for t in &engine.trees {
            shared
                .metrics
                .set_tree_filesystem_mark(&t.root, shared.filesystem_marks.covers(&t.root));
        }
    }
}

/// Whether `path` is, or lies in, a file or directory outside the trees
/// that [`guard_symlink`] marked for a link in a tree: it is checked, never
/// taken for a file outside the trees.
pub(super) fn link_target_of(shared: &Shared, path: &Path) -> bool {
    shared
        .link_targets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .any(|t| path.starts_with(t))
}

/// Leaves the next opens of a file outside every tree, on a filesystem
/// whose mark covers a tree that is a mount of its own, to the kernel (an
/// ignore mark, removed by any change to the file and by every reload) —
/// only when nobody but the trusted owners could have moved it there or
/// can move it on: the file and every directory above it up to the mount
/// point of its whole filesystem pass the kernel cache's rule
/// ([`kcache::eligibility`]). A mount made before the tree's own (which
/// the agent looks for, see [`crate::stale`]) is then no way to carry a
/// kernel verdict into a tree either.
pub(super) fn leave_outside_file_to_kernel(
    shared: &Shared,
    engine: &Engine,
    fd: BorrowedFd<'_>,
    st: &FileStat,
    path: &Path,
    outside: &crate::fsmarks::Outside,
) {
    let Some(top) = outside.filesystem_at.as_deref() else {
        return;
    };
    let owners = &engine.kernel_cache.owners;
    // The file's own facts first: most files others own or may write are
    // told without looking at their directories.
    if st.st_nlink != 1 || !owners.contains(&st.st_uid) || st.st_mode & 0o022 != 0 {
        return;
    }
    if !shared.kcache.accepts(engine.generation) {
        return;
    }
    if kcache::examine(fd, path, top, owners, kcache::eligibility).is_ok() {
        let _ = shared
            .kcache
            .mark(&shared.groups, engine.generation, fd, &Stamp::of(st));
    }
}

/// How long looking for overlays over the trees may take.
pub(super) const VIEWS_DEADLINE: Duration = Duration::from_secs(3);

/// Set while a look for overlays runs (one that never returned is not
/// started again).
pub(super) static VIEWS_BUSY: AtomicBool = AtomicBool::new(false);

/// [`crate::views::report`], on a thread of its own, for at most
/// [`VIEWS_DEADLINE`]: it walks paths in other mount namespaces, where a
/// mount that never answers (an attacker's FUSE filesystem) would block
/// it, and start-up or a reload must not wait for that.
pub(super) fn report_views(
    shared: &Arc<Shared>,
    engine: &Arc<Engine>,
) -> Vec<crate::views::UncoveredView> {
    if VIEWS_BUSY.swap(true, Ordering::SeqCst) {
        tracing::warn!(
            message_id = ids::OVERLAY_VIEW,
            "not looking for overlays over the protected trees: the previous look has not \
             finished (a mount in another namespace does not answer)"
        );
        return Vec::new();
    }
    let (tx, rx) = bounded(1);
    let (s, e) = (shared.clone(), engine.clone());
    let started = std::thread::Builder::new()
        .name("sigward-views".into())
        .spawn(move || {
            let _ = tx.send(crate::views::report(&s.groups, &e));
            VIEWS_BUSY.store(false, Ordering::SeqCst);
        });
    if started.is_err() {
        VIEWS_BUSY.store(false, Ordering::SeqCst);
        return Vec::new();
    }
    match rx.recv_timeout(VIEWS_DEADLINE) {
        Ok(views) => views,
        Err(_) => {
            tracing::warn!(
                message_id = ids::OVERLAY_VIEW,
                "looking for overlays over the protected trees took more than {VIEWS_DEADLINE:?} \
                 (a mount in another namespace does not answer): some may not be reported"
            );
            Vec::new()
        }
    }
}

/// Removes every kernel ignore mark (the kernel cache stays closed until the
/// caller opens it for the next generation). A mark that cannot be found
/// again by its handle is removed by flushing every mark of the permission
/// group and marking `next`'s trees again: during that short gap opens in
/// the trees are not seen, which is logged; keeping a verdict of the old
/// policy in the kernel would be worse.
pub(super) fn drop_kernel_marks(shared: &Shared, next: &Engine) {
    let dropped = shared.kcache.drop_all(&shared.groups);
    if dropped.failed == 0 {
        return;
    }
    tracing::error!(
        message_id = ids::MARK_FAILED,
        "{} kernel ignore marks could not be removed one by one; flushing all marks and \
         marking every tree again (opens during the next moments are not checked)",
        dropped.failed
    );
    if let Err(e) = shared.groups.flush_perm() {
        tracing::error!(
            message_id = ids::MARK_FAILED,
            "cannot flush fanotify marks: {e}; stale kernel verdicts may remain until restart"
        );
        return;
    }
    // The flush removed the marks placed for symbolic links too: guard
    // every link again.
    shared
        .symlinks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    for tree in &next.trees {
        mark_tree(shared, next, &tree.root);
    }
}
