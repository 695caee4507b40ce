//! Answering permission events (in this agent's group or in the one
//! inherited from the agent that ran before), and kernel ignore marks.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::fanotify::{Fanotify, FanotifyResponse, MarkFlags, MaskFlags, Response};

use super::event::{read_group, PermEvent};
use super::{ignore_mask, Groups};

impl Groups {
    /// Reads the permission events queued now into `out` (cleared first),
    /// through the caller's buffer: no allocation once `out` has grown to
    /// the largest batch. An empty `out` means nothing was queued.
    pub fn read_perm(&self, buf: &mut [u8], out: &mut Vec<PermEvent>) -> nix::Result<()> {
        read_group(self.perm.as_fd(), buf, out)
    }

    /// Answers a permission event, in the group it was read from; a denial
    /// with `FAN_AUDIT` under `[audit] kernel_audit`
    /// ([`Groups::set_kernel_audit`]). A failed write cannot be helped: the
    /// kernel answers the event itself if the group goes away.
    pub fn respond(&self, ev: &PermEvent, allow: bool) {
        let response = if allow {
            Response::FAN_ALLOW
        } else if self.kernel_audit() {
            Response::FAN_DENY | Response::from_bits_retain(libc::FAN_AUDIT)
        } else {
            Response::FAN_DENY
        };
        let answer = |group: &Fanotify| {
            let write = |r: Response| loop {
                match group.write_response(FanotifyResponse::new(ev.fd(), r)) {
                    Err(Errno::EINTR) => continue,
                    other => return other,
                }
            };
            // A group made without FAN_ENABLE_AUDIT (one inherited from an
            // agent that could not, or did not, ask for it) refuses
            // FAN_AUDIT with EINVAL and leaves the event unanswered: deny
            // it plainly.
            if let Err(Errno::EINVAL) = write(response) {
                if response.bits() & libc::FAN_AUDIT != 0 {
                    let _ = write(Response::FAN_DENY);
                }
            }
        };
        if !ev.inherited {
            answer(&self.perm);
            return;
        }
        if let Some(group) = self.inherited_group() {
            answer(&group);
        }
        self.inherited_pending
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn inherited_group(&self) -> Option<std::sync::Arc<Fanotify>> {
        self.inherited
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes over the permission group of the agent that ran before this
    /// one (from systemd's file descriptor store). Its marks are still in
    /// place, so every open of a protected file since that agent died has
    /// been waiting, not allowed. Events that agent had read but not
    /// answered can no longer be seen: each is answered `FAN_DENY` here
    /// (fail-closed; their openers see `EPERM` once), by answering every
    /// descriptor number below `limit`, which must happen before any event
    /// of the group is read by this agent (whose descriptor numbers would
    /// collide). Returns how many such events were answered.
    pub fn adopt(&self, group: OwnedFd, limit: i32) -> usize {
        use std::os::fd::IntoRawFd;
        // SAFETY: `group` is a fanotify group descriptor (systemd handed
        // back the one the previous agent stored under its name), owned
        // from now on by the `Fanotify`, which closes it.
        let group = unsafe { Fanotify::from_raw_fd(group.into_raw_fd()) };
        let mut answered = 0;
        for n in 0..limit {
            // SAFETY: the number is only written into the response, where
            // the kernel matches it against the events the previous agent
            // read; it is never used as a descriptor of this process.
            let fd = unsafe { BorrowedFd::borrow_raw(n) };
            if group
                .write_response(FanotifyResponse::new(fd, Response::FAN_DENY))
                .is_ok()
            {
                answered += 1;
            }
        }
        *self.inherited.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(std::sync::Arc::new(group));
        answered
    }

    /// The inherited group's descriptor, to poll, while there is one.
    pub fn inherited_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.inherited_group().map(|g| g.as_raw_fd())
    }

    /// Removes every mark of the inherited group (this agent's own marks
    /// are in place): no new event reaches it, and it is closed once the
    /// events queued there are answered (see [`Groups::read_inherited`]).
    pub fn retire_inherited(&self) {
        let Some(group) = self.inherited_group() else {
            return;
        };
        for flag in [
            MarkFlags::empty(),
            MarkFlags::FAN_MARK_MOUNT,
            MarkFlags::FAN_MARK_FILESYSTEM,
        ] {
            let _ = group.mark(
                MarkFlags::FAN_MARK_FLUSH | flag,
                MaskFlags::empty(),
                nix::fcntl::AT_FDCWD,
                None::<&Path>,
            );
        }
    }

    /// Reads the events queued in the inherited group into `out` (cleared
    /// first). When none is queued and every one read is answered, the
    /// group is closed, if `retired`.
    pub fn read_inherited(
        &self,
        buf: &mut [u8],
        out: &mut Vec<PermEvent>,
        retired: bool,
    ) -> nix::Result<()> {
        out.clear();
        let Some(group) = self.inherited_group() else {
            return Ok(());
        };
        read_group(group.as_fd(), buf, out)?;
        for ev in out.iter_mut() {
            ev.inherited = true;
        }
        self.inherited_pending
            .fetch_add(out.len(), std::sync::atomic::Ordering::SeqCst);
        if out.is_empty()
            && retired
            && self
                .inherited_pending
                .load(std::sync::atomic::Ordering::SeqCst)
                == 0
        {
            *self.inherited.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        Ok(())
    }

    /// Puts an evictable ignore mark for [`ignore_mask`] on the inode of
    /// `file`: later opens of it are allowed by the kernel without an event,
    /// until the file is modified (the mark does not survive modification),
    /// the inode is evicted from memory, or [`Groups::unignore`] removes it.
    pub fn ignore(&self, file: BorrowedFd<'_>) -> nix::Result<()> {
        let add = MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_EVICTABLE;
        with_ignore_flag(|flag| {
            self.perm
                .mark(add | flag, ignore_mask(), file, None::<&Path>)
        })
    }

    /// Puts an evictable ignore mark for `FAN_OPEN_PERM` alone on the inode
    /// of `file` (which may be an `O_PATH` descriptor, as in
    /// [`Groups::unignore`]): later opens of it for reading are allowed by
    /// the kernel, an exec still raises its event.
    pub fn ignore_reads(&self, file: BorrowedFd<'_>) -> nix::Result<()> {
        let add = MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_EVICTABLE;
        self.mark_through_link(file, add, MaskFlags::FAN_OPEN_PERM)
    }

    /// Removes the ignore mark of the inode of `file` (`ENOENT` when it has
    /// none, e.g. because it was evicted). `file` may be an `O_PATH`
    /// descriptor.
    pub fn unignore(&self, file: BorrowedFd<'_>) -> nix::Result<()> {
        self.mark_through_link(file, MarkFlags::FAN_MARK_REMOVE, ignore_mask())
    }

    /// An ignore mark operation on the inode of `file`, named through
    /// `/proc/self/fd`, a magic link to the very file: fanotify refuses
    /// `O_PATH` descriptors as a mark's object.
    fn mark_through_link(
        &self,
        file: BorrowedFd<'_>,
        op: MarkFlags,
        mask: MaskFlags,
    ) -> nix::Result<()> {
        use std::os::fd::AsRawFd;
        let link = format!("/proc/self/fd/{}", file.as_raw_fd());
        with_ignore_flag(|flag| {
            self.perm
                .mark(op | flag, mask, nix::fcntl::AT_FDCWD, Some(link.as_str()))
        })
    }
}

/// Runs an ignore mark operation with `FAN_MARK_IGNORE`, and again with the
/// older `FAN_MARK_IGNORED_MASK` on kernels before 6.0 (which refuse the
/// newer flag with `EINVAL`).
fn with_ignore_flag(mark: impl Fn(MarkFlags) -> nix::Result<()>) -> nix::Result<()> {
    match mark(MarkFlags::FAN_MARK_IGNORE) {
        Err(Errno::EINVAL) => mark(MarkFlags::FAN_MARK_IGNORED_MASK),
        other => other,
    }
}
