//! The two fanotify groups and the marking of protected trees.
//!
//! * The permission group (`FAN_CLASS_CONTENT`) receives `FAN_OPEN_PERM` and
//!   `FAN_OPEN_EXEC_PERM` for every file in a marked directory
//!   (`FAN_EVENT_ON_CHILD`). Marks are inode marks on each directory of each
//!   tree, never mount marks; a filesystem mark ([`Groups::mark_filesystem`])
//!   only where [`crate::fsmarks`] finds every tree on that filesystem
//!   covered by a mount of its own.
//! * The notification group (`FAN_CLASS_NOTIF`, `FAN_REPORT_DFID_NAME`)
//!   receives `FAN_CREATE` and `FAN_MOVED_TO` for subdirectories, so that new
//!   directories and trees moved in are marked without a restart.
//!
//! A directory gets its notification mark before its permission mark and
//! both before it is listed: a subdirectory created while the walk runs is
//! either listed or reported, never missed.
//!
//! The permission group is created with `FAN_ENABLE_AUDIT` whenever the
//! kernel allows it (`CAP_AUDIT_WRITE`, a kernel with syscall auditing),
//! whatever the policy says, because a group's flags cannot change after
//! `fanotify_init`: `[audit] kernel_audit` then only decides, answer by
//! answer, whether a denial carries `FAN_AUDIT`
//! ([`Groups::set_kernel_audit`]), so a reload can turn it on or off. When
//! the kernel refuses the flag, the group is created without it and the
//! switch cannot take effect until a restart with the capability.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::fanotify::{EventFFlags, Fanotify, InitFlags, MaskFlags};

mod event;
mod marks;
mod respond;

pub(crate) use event::{i32_at, u16_at, u32_at, u64_at, METADATA_LEN};
pub use event::{parse_perm_events, PermEvent};
pub use marks::{cover, fsid_of, mark_file, open_dir, open_dir_at};

/// Events the permission group asks for on every protected directory.
pub fn perm_mask() -> MaskFlags {
    MaskFlags::FAN_OPEN_PERM | MaskFlags::FAN_OPEN_EXEC_PERM | MaskFlags::FAN_EVENT_ON_CHILD
}

/// Events the notification group asks for, on directories only
/// (`FAN_ONDIR`): new entries (to mark them), and every rename that moves a
/// directory (a marked directory moved itself, or a subdirectory moved in
/// or out), since a directory rename changes the names of the files below
/// it without touching them (see [`crate::cache`]).
pub fn notify_mask() -> MaskFlags {
    MaskFlags::FAN_CREATE
        | MaskFlags::FAN_MOVED_TO
        | MaskFlags::FAN_MOVED_FROM
        | MaskFlags::FAN_MOVE_SELF
        | MaskFlags::FAN_ONDIR
}

/// Events a kernel ignore mark suppresses on a verified file.
pub fn ignore_mask() -> MaskFlags {
    MaskFlags::FAN_OPEN_PERM | MaskFlags::FAN_OPEN_EXEC_PERM
}

/// Filesystem id as reported in fanotify FID records.
pub type FsId = [i32; 2];

/// Both groups, and one open directory per filesystem seen (needed to turn
/// the notification group's file handles back into directories).
pub struct Groups {
    /// The permission group.
    pub perm: Fanotify,
    /// The notification group.
    pub notify: Fanotify,
    /// Per filesystem, one directory per mount of it: (mount id, directory).
    mounts: Mutex<HashMap<FsId, Vec<(i32, OwnedFd)>>>,
    /// The permission group of the agent that ran before this one, kept
    /// alive across the restart by systemd's file descriptor store (see
    /// [`Groups::adopt`]); `None` once its last event is answered.
    inherited: Mutex<Option<std::sync::Arc<Fanotify>>>,
    /// Events read from the inherited group and not answered yet.
    inherited_pending: std::sync::atomic::AtomicUsize,
    /// Why the permission group was created without `FAN_ENABLE_AUDIT`
    /// (`None`: it has it).
    audit_refused: Option<Errno>,
    /// Whether denials are answered with `FAN_AUDIT` (never while
    /// `audit_refused`).
    audit_denials: AtomicBool,
}

/// `[audit] kernel_audit` is on, but the permission group cannot ask the
/// kernel for audit records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "[audit] kernel_audit = true cannot take effect: the kernel refused FAN_ENABLE_AUDIT when \
     the fanotify group was created ({errno}{}); denials are still denied and recorded in the \
     journal, without kernel audit records, until the agent is restarted with it available",
    kernel_audit_hint(*.errno)
)]
pub struct KernelAuditUnavailable {
    /// What `fanotify_init` answered.
    pub errno: Errno,
}

fn kernel_audit_hint(e: Errno) -> &'static str {
    match e {
        Errno::EPERM => ": the agent lacks CAP_AUDIT_WRITE",
        Errno::EINVAL => ": a kernel without syscall auditing, CONFIG_AUDITSYSCALL",
        _ => "",
    }
}

/// Whether to add or remove marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Mark.
    Add,
    /// Unmark.
    Remove,
}

/// What a walk did.
#[derive(Debug, Default)]
pub struct WalkStats {
    /// Directories marked or unmarked.
    pub dirs: usize,
    /// Symbolic links found in the walked directories (when marking).
    pub symlinks: Vec<PathBuf>,
    /// FIFOs, sockets and device nodes found there (when marking).
    pub special: Vec<PathBuf>,
    /// Problems, one readable line each.
    pub errors: Vec<String>,
}

impl Groups {
    /// Creates both groups.
    pub fn init() -> nix::Result<Groups> {
        let common = InitFlags::FAN_CLOEXEC
            | InitFlags::FAN_NONBLOCK
            | InitFlags::FAN_UNLIMITED_QUEUE
            | InitFlags::FAN_UNLIMITED_MARKS;
        let perm_flags = common | InitFlags::FAN_CLASS_CONTENT;
        let event_flags = EventFFlags::O_RDONLY | EventFFlags::O_LARGEFILE | EventFFlags::O_CLOEXEC;
        let enable_audit = InitFlags::from_bits_retain(libc::FAN_ENABLE_AUDIT);
        let (perm, audit_refused) = match Fanotify::init(perm_flags | enable_audit, event_flags) {
            Ok(group) => (group, None),
            // EPERM: no CAP_AUDIT_WRITE; EINVAL: no syscall auditing in
            // the kernel. The group is made without; `set_kernel_audit`
            // reports it when the policy asks for audit records.
            Err(e @ (Errno::EPERM | Errno::EINVAL)) => {
                (Fanotify::init(perm_flags, event_flags)?, Some(e))
            }
            Err(e) => return Err(e),
        };
        let notify = Fanotify::init(
            common
                | InitFlags::FAN_CLASS_NOTIF
                | InitFlags::from_bits_retain(libc::FAN_REPORT_DFID_NAME),
            EventFFlags::O_RDONLY | EventFFlags::O_CLOEXEC,
        )?;
        Ok(Groups {
            perm,
            notify,
            mounts: Mutex::new(HashMap::new()),
            inherited: Mutex::new(None),
            inherited_pending: std::sync::atomic::AtomicUsize::new(0),
            audit_refused,
            audit_denials: AtomicBool::new(false),
        })
    }

    /// Applies `[audit] kernel_audit`: from now on, denials are answered
    /// `FAN_DENY | FAN_AUDIT` when `on`. An error when `on` but the group
    /// was created without `FAN_ENABLE_AUDIT` (denials then go on without
    /// `FAN_AUDIT`: never an unanswered or allowed event).
    pub fn set_kernel_audit(&self, on: bool) -> Result<(), KernelAuditUnavailable> {
        let refused = self.audit_refused.filter(|_| on);
        self.audit_denials
            .store(on && refused.is_none(), Ordering::Relaxed);
        match refused {
            Some(errno) => Err(KernelAuditUnavailable { errno }),
            None => Ok(()),
        }
    }

    /// Whether denials are answered with `FAN_AUDIT` now.
    pub fn kernel_audit(&self) -> bool {
        self.audit_denials.load(Ordering::Relaxed)
    }

    /// Whether the notification group has events queued that the watcher
    /// has not read yet.
    pub fn notify_pending(&self) -> bool {
        let mut fds = [PollFd::new(self.notify.as_fd(), PollFlags::POLLIN)];
        !matches!(nix::poll::poll(&mut fds, PollTimeout::ZERO), Ok(0))
    }
}

#[cfg(test)]
mod tests;
