//! The directory watcher: marks directories created in or moved into the
//! trees, and follows renames that change names the agent relies on.

use std::collections::HashSet;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::fan::Op;
use crate::{ids, watch};

use super::guards::{guard_special, guard_symlink};
use super::marks::{guard_walked, mark_all};
use super::Shared;

pub(super) fn watch_loop(shared: &Arc<Shared>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let mut fds = [
            PollFd::new(shared.groups.notify.as_fd(), PollFlags::POLLIN),
            PollFd::new(shared.wake.as_fd(), PollFlags::POLLIN),
        ];
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
        // Set before reading and cleared only after every rename read has
        // bumped the epoch: see `names_epoch`.
        shared.watch_busy.store(true, Ordering::SeqCst);
        loop {
            let n = match nix::unistd::read(shared.groups.notify.as_fd(), &mut buf) {
                Ok(0) | Err(Errno::EAGAIN) => break,
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    tracing::error!(
                        message_id = ids::MARK_FAILED,
                        "reading directory notifications: {e}"
                    );
                    break;
                }
            };
            let (notices, framed) = watch::parse_events(buf.get(..n).unwrap_or_default());
            let mut rescan = !framed;
            // Unframed input or an overflow may hide renames too.
            if rescan
                || notices
                    .iter()
                    .any(|n| matches!(n, watch::Notice::Renamed | watch::Notice::Overflow))
            {
                shared.names_epoch.fetch_add(1, Ordering::SeqCst);
            }
            for notice in notices {
                match notice {
                    watch::Notice::Renamed => {}
                    watch::Notice::Overflow => rescan = true,
                    watch::Notice::NewDir {
                        fsid,
                        handle_type,
                        handle,
                        name,
                    } => {
                        let opened = shared
                            .groups
                            .with_mount(&fsid, |m| watch::open_new(m, handle_type, &handle, &name));
                        match opened {
                            Some(Ok(Some(watch::NewEntry::Dir(fd, path)))) => {
                                let stats = shared.groups.walk(Op::Add, fd, &path, &HashSet::new());
                                guard_walked(shared, &shared.engine(), &stats);
                                shared.metrics.count_marked(stats.dirs);
                                shared.metrics.tree_grew(&path, stats.dirs);
                            }
                            Some(Ok(Some(watch::NewEntry::Other(fd)))) => {
                                new_name(shared, fd.as_fd())
                            }
                            Some(Ok(None)) => {}
                            Some(Err(e)) => {
                                tracing::error!(
                                    message_id = ids::MARK_FAILED,
                                    "cannot open new directory {:?}: {e}; rescanning",
                                    String::from_utf8_lossy(&name)
                                );
                                rescan = true;
                            }
                            None => rescan = true,
                        }
                    }
                }
            }
            if rescan {
                mark_all(shared, &shared.engine());
            }
        }
        shared.watch_busy.store(false, Ordering::SeqCst);
    }
}

/// A new name that is not a directory appeared in a protected tree
/// (`FAN_CREATE`, `FAN_MOVED_TO`): a symbolic link is guarded, and a
/// kernel-cached file under a new name loses its kernel verdict.
pub(super) fn new_name(shared: &Shared, fd: BorrowedFd<'_>) {
    let Ok(st) = nix::sys::stat::fstat(fd.as_fd()) else {
        return;
    };
    let kind = st.st_mode & libc::S_IFMT;
    if kind == libc::S_IFLNK {
        if let Some(link) = crate::files::fd_path(fd.as_fd()) {
            guard_symlink(shared, &shared.engine(), &link, 0);
        }
    } else if matches!(
        kind,
        libc::S_IFIFO | libc::S_IFSOCK | libc::S_IFCHR | libc::S_IFBLK
    ) {
        if let Some(path) = crate::files::fd_path(fd.as_fd()) {
            guard_special(shared, &shared.engine(), &[path]);
        }
    } else if !shared.kcache.is_empty() {
        shared.kcache.forget(&shared.groups, fd.as_fd(), &st);
    }
}
