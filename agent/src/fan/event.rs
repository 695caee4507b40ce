//! Permission events: reading and framing the records of a `read` of the
//! permission group.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

/// Size of `struct fanotify_event_metadata`.
pub(crate) const METADATA_LEN: usize = 24;

// Native-endian fields of event records; `None` past the end.
pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
pub(crate) fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
pub(crate) fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// One permission event: the descriptor the kernel opened on the file for
/// the agent, and who is asking. Dropping it closes the descriptor; it does
/// not answer the event (see `agent::Pending`).
#[derive(Debug)]
pub struct PermEvent {
    pub(super) fd: OwnedFd,
    pub(super) pid: i32,
    pub(super) mask: u64,
    pub(super) version_ok: bool,
    /// Read from the group of the agent that ran before (see
    /// [`Groups::adopt`](super::Groups::adopt)): answered there.
    pub(super) inherited: bool,
}

impl PermEvent {
    /// The descriptor on the file being opened.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The opening process.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Whether this is `FAN_OPEN_EXEC_PERM` (an `execve` or `uselib`).
    pub fn is_exec(&self) -> bool {
        self.mask & libc::FAN_OPEN_EXEC_PERM != 0
    }

    /// Whether the kernel's metadata version is the one this build knows.
    pub fn version_ok(&self) -> bool {
        self.version_ok
    }
}

/// Parses one `read` of the permission group into `out` (not cleared).
///
/// Records without a descriptor (`FAN_NOFD`, queue overflow) are skipped;
/// a buffer that cannot be framed ends the parse. Records whose metadata
/// version is unknown are still returned (their layout of `fd` and `pid` has
/// not changed since fanotify began), flagged so that the caller answers
/// them with the fail-closed answer.
///
/// The descriptors in `buf` must be ones the kernel just installed for this
/// process and that nothing else owns: `buf` must come straight from a
/// `read` of a fanotify group, parsed once.
pub fn parse_perm_events(buf: &[u8], out: &mut Vec<PermEvent>) {
    let mut off = 0usize;
    while let Some(ev) = buf.get(off..).filter(|e| e.len() >= METADATA_LEN) {
        let (Some(len), Some(meta), Some(mask), Some(fd), Some(pid)) = (
            u32_at(ev, 0),
            u16_at(ev, 6),
            u64_at(ev, 8),
            i32_at(ev, 16),
            i32_at(ev, 20),
        ) else {
            return;
        };
        let len = len as usize;
        if len < METADATA_LEN || len > ev.len() || usize::from(meta) > len {
            return;
        }
        off += len;
        if fd < 0 {
            continue;
        }
        // SAFETY: the kernel installed `fd` in this process's descriptor
        // table for this event, and nothing else refers to it: the caller
        // parses each buffer from `read` exactly once, so exactly one
        // OwnedFd owns it (and closes it on drop).
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        out.push(PermEvent {
            fd,
            pid,
            mask,
            version_ok: ev.get(4).copied() == Some(libc::FANOTIFY_METADATA_VERSION),
            inherited: false,
        });
    }
}

/// Reads the permission events queued now in `group` into `out` (cleared
/// first; empty when nothing was queued).
pub(super) fn read_group(
    group: BorrowedFd<'_>,
    buf: &mut [u8],
    out: &mut Vec<PermEvent>,
) -> nix::Result<()> {
    out.clear();
    let n = loop {
        match nix::unistd::read(group, buf) {
            Ok(n) => break n,
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Ok(()),
            Err(e) => return Err(e),
        }
    };
    parse_perm_events(buf.get(..n).unwrap_or_default(), out);
    Ok(())
}
