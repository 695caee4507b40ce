//! Special files and symbolic links in the trees: what they point at is
//! guarded too, or refused.

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use sigward_policy::config::Mode;
use sigward_policy::Reason;

use crate::audit::DecisionRecord;
use crate::check::Outcome;
use crate::config::Engine;
use crate::fan::Op;
use crate::files::Stamp;
use crate::verdict::{Decision, Why};
use crate::{check, fan, ids};

use super::{report_walk_errors, Shared};

/// FIFOs, sockets and device nodes in protected trees.
///
/// None of them can carry a signature, and the kernel raises no permission
/// event when one is opened, so a loader would read whatever the process at
/// the other end writes (a FIFO named `evil.py`). The agent acts when it
/// finds one, by the walk or the notification group: made by an untrusted
/// owner in a tree in enforce mode, it is removed (a deny record says so; a
/// loader then gets `ENOENT`); in audit mode a would-deny record is
/// written. Root's and trusted owners' are only reported. The removal
/// follows the creation asynchronously: an open in between reaches the
/// special file (see docs/threat-model.md).
pub(super) fn guard_special(shared: &Shared, engine: &Engine, paths: &[PathBuf]) {
    for path in paths {
        let Ok(st) = nix::sys::stat::lstat(path) else {
            continue;
        };
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFIFO => "a FIFO",
            libc::S_IFSOCK => "a socket",
            libc::S_IFCHR => "a character device",
            libc::S_IFBLK => "a block device",
            _ => continue,
        };
        let Some(tree) = engine.tree_for(path) else {
            continue;
        };
        // A special signature file is refused as `malformed` when the file
        // it belongs to is verified (it is opened non-blocking, never read
        // as code by the agent).
        if tree.mode == Mode::Off || check::is_sig_file(path) {
            continue;
        }
        let owner = st.st_uid;
        if engine.trusted_owner(owner) {
            tracing::warn!(
                message_id = ids::POLICY_WARNING,
                sigward_path = %crate::audit::path_text(path),
                "{} is {kind} in a protected tree, made by uid {owner}: it cannot be checked \
                 when opened",
                path.display()
            );
            continue;
        }
        let what = format!(
            "{kind} made by uid {owner} cannot carry a signature and is not checked when opened"
        );
        let (decision, detail) = if tree.mode == Mode::Enforce {
            // Only the very inode found: a file put in its place meanwhile
            // stays (and is checked when opened).
            let same = nix::sys::stat::lstat(path)
                .is_ok_and(|now| (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino));
            if !same {
                continue;
            }
            match std::fs::remove_file(path) {
                Ok(()) => (Decision::Deny, format!("{what}: removed")),
                Err(e) => (Decision::Deny, format!("{what}; removing it failed: {e}")),
            }
        } else {
            (
                Decision::WouldDeny,
                format!("{what}; enforce mode would remove it"),
            )
        };
        shared
            .metrics
            .verdict(decision, Why::Rejected(Reason::Unsigned));
        shared.auditor.record(DecisionRecord {
            reason: Some(Reason::Unsigned.as_str()),
            detail,
            opener: crate::opener::Opener {
                uid: Some(owner),
                ..Default::default()
            },
            tree: Some(tree.root.clone()),
            ..DecisionRecord::new(
                decision,
                path.clone(),
                "create",
                tree.mode,
                engine.generation,
            )
        });
    }
}

/// The canonical directories holding each hop of the chain of links that
/// starts at `link` (the link's own directory excluded), the last one being
/// the final target's. At most 40 hops, as the kernel.
pub(super) fn link_chain_dirs(link: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut p = link.to_path_buf();
    for _ in 0..40 {
        let Ok(t) = std::fs::read_link(&p) else { break };
        let next = match p.parent() {
            Some(parent) if t.is_relative() => parent.join(t),
            _ => t,
        };
        let (Some(dir), Some(name)) = (next.parent(), next.file_name()) else {
            break;
        };
        let Ok(dir) = std::fs::canonicalize(dir) else {
            break;
        };
        p = dir.join(name);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
        let is_link =
            nix::sys::stat::lstat(&p).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK);
        if !is_link {
            break;
        }
    }
    dirs
}

/// The refusal of a file that the symbolic link `link` gives another name
/// (see [`alias_of`]).
pub(super) fn alias_refusal(link: &Path, path: &Path) -> Outcome {
    Outcome::refused(
        Reason::Tampered,
        format!(
            "reachable under another name through the symbolic link {}: a signature binds \
             one name, and the agent cannot tell which name was opened",
            link.display()
        ),
        check::sig_path_for(path),
    )
}

/// The link that gives this file another name, if any.
pub(super) fn alias_of(shared: &Shared, stamp: &Stamp) -> Option<PathBuf> {
    let aliases = shared.aliases.lock().unwrap_or_else(|p| p.into_inner());
    aliases.get(&(stamp.dev, stamp.ino)).cloned()
}

/// A link in a tree to a file in a tree. Under the same base name it adds
/// nothing. Under another one, made by an untrusted owner, it would lend
/// the file's verdict to a name its signature was not made for, and the
/// kernel raises the same event for both names: the file is refused under
/// every name while the link points at it (fail-closed; see "Symbolic links"
/// in docs/threat-model.md).
pub(super) fn alias(
    shared: &Shared,
    link: &Path,
    lst: &nix::sys::stat::FileStat,
    target: &Path,
    engine: &Engine,
) {
    let owner = lst.st_uid;
    if engine.trusted_owner(owner) || link.file_name() == target.file_name() {
        return;
    }
    let Ok(st) = nix::sys::stat::stat(target) else {
        return;
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return;
    }
    let key = (st.st_dev, st.st_ino);
    {
        let mut aliases = shared.aliases.lock().unwrap_or_else(|p| p.into_inner());
        if aliases.insert(key, link.to_path_buf()).is_some() {
            return;
        }
    }
    shared.cache.remove(key);
    if let Ok(fd) = nix::fcntl::open(
        target,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) {
        shared.kcache.drop_inode(&shared.groups, fd.as_fd());
    }
    tracing::warn!(
        message_id = ids::SYMLINK,
        sigward_path = %crate::audit::path_text(link),
        sigward_target = %crate::audit::path_text(target),
        "symbolic link {} (uid {owner}) gives {} another name: it is refused under every name \
         while the link points at it",
        link.display(),
        target.display()
    );
}

/// Drops the aliases whose link is gone or points elsewhere now (on reload).
pub(super) fn recheck_aliases(shared: &Shared) {
    let mut aliases = shared.aliases.lock().unwrap_or_else(|p| p.into_inner());
    aliases.retain(|key, link| {
        std::fs::metadata(&*link).is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino()) == *key
        })
    });
}

/// How deep symbolic links into directories of their owner are followed.
pub(super) const MAX_SYMLINK_DEPTH: usize = 8;

pub(super) fn guard_symlinks(shared: &Shared, engine: &Engine, links: &[PathBuf]) {
    for link in links {
        guard_symlink(shared, engine, link, 0);
    }
}

/// Remembers a file or directory outside the trees that [`guard_symlink`]
/// marks: it is checked, never taken for a file outside the trees (see
/// [`link_target_of`]).
pub(super) fn link_target(shared: &Shared, path: &Path) {
    shared
        .link_targets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(path.to_path_buf());
}

/// Guards a symbolic link found in a protected tree (see "Symbolic links"
/// in docs/threat-model.md).
///
/// Opening a file through a link raises events only where its target is.
/// A target inside a protected tree is checked there. A target outside
/// every tree that belongs to the link's owner, who is not a trusted owner
/// (root or `agent.kernel_cache_owners`), is marked: a regular file with a
/// permission mark of its own, a directory like a tree. Every open of it,
/// by any name, is then checked like a file outside the trees (the
/// policy's global mode and trust). Other targets (root's, another
/// user's) are not marked, since that would let anyone make the agent check
/// (and in enforce mode deny) someone else's files; the link is reported.
pub(super) fn guard_symlink(shared: &Shared, engine: &Engine, link: &Path, depth: usize) {
    let Ok(lst) = nix::sys::stat::lstat(link) else {
        return;
    };
    if lst.st_mode & libc::S_IFMT != libc::S_IFLNK {
        return;
    }
    let Ok(target) = std::fs::canonicalize(link) else {
        tracing::warn!(
            message_id = ids::SYMLINK,
            sigward_path = %crate::audit::path_text(link),
            "symbolic link {} in a protected tree points at nothing: a file created at its \
             target later is not checked through it",
            link.display()
        );
        return;
    };
    if engine.tree_for(&target).is_some() {
        alias(shared, link, &lst, &target, engine);
        return;
    }
    {
        let mut seen = shared.symlinks.lock().unwrap_or_else(|p| p.into_inner());
        if !seen.insert((link.to_path_buf(), target.clone())) {
            return;
        }
    }
    let Ok(st) = nix::sys::stat::stat(&target) else {
        return;
    };
    let owner = lst.st_uid;
    let trusted = engine.trusted_owner(owner);
    let kind = st.st_mode & libc::S_IFMT;
    let not_marked = "it cannot be marked: it is not checked through the link";
    // The owner's directories along the chain (each hop's, and the
    // target's) are marked like trees: a hop re-pointed or a target
    // replaced there is then seen (and guarded again), and every file in
    // them is checked.
    let mut target_dir_marked = false;
    if !trusted {
        for dir in link_chain_dirs(link) {
            let theirs = nix::sys::stat::stat(&dir).is_ok_and(|d| d.st_uid == owner);
            if !theirs || engine.tree_for(&dir).is_some() || depth >= MAX_SYMLINK_DEPTH {
                continue;
            }
            if let Ok(fd) = fan::open_dir(&dir) {
                let stats = shared.groups.walk(Op::Add, fd, &dir, &HashSet::new());
                report_walk_errors(&stats);
                if stats.dirs > 0 {
                    link_target(shared, &dir);
                }
                target_dir_marked |= target.parent() == Some(dir.as_path()) && stats.dirs > 0;
                for l in &stats.symlinks {
                    guard_symlink(shared, engine, l, depth + 1);
                }
            }
        }
    }
    let guarded = if trusted || (st.st_uid != owner && !target_dir_marked) {
        Err("it belongs to root, a trusted owner or another user: it is not checked through the link")
    } else if target_dir_marked {
        Ok(())
    } else if kind == libc::S_IFREG {
        link_target(shared, &target);
        fan::mark_file(&shared.groups, &target).map_err(|_| not_marked)
    } else if kind == libc::S_IFDIR && depth < MAX_SYMLINK_DEPTH {
        match fan::open_dir(&target) {
            Ok(fd) => {
                link_target(shared, &target);
                let stats = shared.groups.walk(Op::Add, fd, &target, &HashSet::new());
                report_walk_errors(&stats);
                for l in &stats.symlinks {
                    guard_symlink(shared, engine, l, depth + 1);
                }
                Ok(())
            }
            Err(_) => Err(not_marked),
        }
    } else {
        Err("it is not checked through the link")
    };
    match guarded {
        Ok(()) => tracing::warn!(
            message_id = ids::SYMLINK,
            sigward_path = %crate::audit::path_text(link),
            sigward_target = %crate::audit::path_text(&target),
            "symbolic link {} in a protected tree points outside every tree, at {} of its owner \
             (uid {owner}): every open of it is now checked",
            link.display(),
            target.display()
        ),
        Err(why) => tracing::warn!(
            message_id = ids::SYMLINK,
            sigward_path = %crate::audit::path_text(link),
            sigward_target = %crate::audit::path_text(&target),
            "symbolic link {} in a protected tree points outside every tree, at {}: {why}",
            link.display(),
            target.display()
        ),
    }
}
