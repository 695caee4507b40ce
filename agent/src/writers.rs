//! Who can still change a file the agent has just verified.
//!
//! A verdict holds for the content that was hashed. A process that already
//! has the file open for writing, or holds a shared writable mapping of it,
//! can change it after the check without opening it again. Stores through a
//! page that is already dirty and writable in its mapping do not even update
//! the file's times, so no cache key would notice. The agent therefore asks,
//! after hashing, whether the file is open for writing anywhere:
//!
//! * [`open_for_writing`] asks the kernel with a read lease, which cannot be
//!   taken while any writer exists (`F_SETLEASE` `F_RDLCK` fails with
//!   `EAGAIN`), and releases it at once. It needs `CAP_LEASE` for files of
//!   other owners. A lease break that arrives in between sends `SIGIO`,
//!   which the agent ignores ([`ignore_lease_signals`]).
//! * When there are writers, [`writers`] names them from `/proc/PID/fd`,
//!   `/proc/PID/fdinfo` and `/proc/PID/maps`. The opener's own descriptor is
//!   not installed yet while its open is being checked, so a process opening
//!   the file for writing itself is not found: that open is a writer the
//!   lease sees, but it changes nothing before it is allowed.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;

/// Whether any process has the file behind `fd` (opened read-only) open for
/// writing. `None` when the kernel does not say (no `CAP_LEASE`, or a
/// filesystem without leases).
pub fn open_for_writing(fd: BorrowedFd<'_>) -> Option<bool> {
    // SAFETY: F_SETLEASE takes an int argument and only acts on the
    // descriptor, which is valid for the call.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETLEASE, libc::F_RDLCK) };
    if rc == 0 {
        // SAFETY: as above; releases the lease just taken.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETLEASE, libc::F_UNLCK) };
        return Some(false);
    }
    match Errno::last() {
        Errno::EAGAIN => Some(true),
        _ => None,
    }
}

/// Ignores `SIGIO`, the signal a lease break sends to the lease holder
/// (whose default action would end the agent).
pub fn ignore_lease_signals() -> nix::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing SIG_IGN runs no handler code, so nothing about the
    // program's state can be violated by it.
    unsafe { sigaction(Signal::SIGIO, &ignore) }.map(|_| ())
}

/// A process that has a file open for writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    /// Its pid.
    pub pid: i32,
    /// How: `fd N` or `shared writable mapping`.
    pub how: String,
}

/// Processes other than the agent that hold the file (device, inode) open
/// for writing or mapped shared and writable. Reads `/proc`; for use only
/// when [`open_for_writing`] said there are writers.
pub fn writers(dev: u64, ino: u64, limit: usize) -> Vec<Writer> {
    scan(limit, |base| {
        writer_fd(base, dev, ino).or_else(|| writer_map(base, dev, ino))
    })
}

/// Every process but the agent for which `how` says how it holds the
/// file, up to `limit` of them.
fn scan(limit: usize, how: impl Fn(&Path) -> Option<String>) -> Vec<Writer> {
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let mut out = Vec::new();
    for pid in crate::opener::pids().into_iter().filter(|&p| p != me) {
        let base = Path::new("/proc").join(pid.to_string());
        if let Some(how) = how(&base) {
            out.push(Writer { pid, how });
            if out.len() >= limit {
                break;
            }
        }
    }
    out
}

/// Processes other than the agent that have the file (device, inode) open
/// in any way, or mapped: those that would see a change made by a writer
/// that opens it now. Reads `/proc`.
pub fn holders(dev: u64, ino: u64, limit: usize) -> Vec<Writer> {
    scan(limit, |base| {
        holder_fd(base, dev, ino).or_else(|| holder_map(base, dev, ino))
    })
}

/// A descriptor of the process on (dev, ino), opened in any mode.
fn holder_fd(base: &Path, dev: u64, ino: u64) -> Option<String> {
    for fd in std::fs::read_dir(base.join("fd")).ok()?.flatten() {
        if same_file(&fd.path(), dev, ino) {
            return Some(format!("fd {}", fd.file_name().to_string_lossy()));
        }
    }
    None
}

/// Any mapping of (dev, ino) in the process (a loaded library, a mapped
/// file).
fn holder_map(base: &Path, dev: u64, ino: u64) -> Option<String> {
    let maps = std::fs::read_to_string(base.join("maps")).ok()?;
    maps.lines()
        .any(|l| maps_line_of(l, dev, ino).is_some())
        .then(|| "mapping".to_string())
}

/// Whether `/proc/PID/fd/N` is the file (dev, ino). `statx` with
/// `AT_STATX_DONT_SYNC`: a network or FUSE filesystem answers from what it
/// has cached instead of asking its server, so a descriptor an attacker
/// holds on a FUSE file of their own that never answers cannot stall the
/// scan.
fn same_file(fd_link: &Path, dev: u64, ino: u64) -> bool {
    use rustix::fs::{AtFlags, StatxFlags, CWD};
    rustix::fs::statx(CWD, fd_link, AtFlags::STATX_DONT_SYNC, StatxFlags::INO).is_ok_and(|st| {
        st.stx_ino == ino && libc::makedev(st.stx_dev_major, st.stx_dev_minor) == dev
    })
}

/// A descriptor of the process open for writing on (dev, ino).
fn writer_fd(base: &Path, dev: u64, ino: u64) -> Option<String> {
    for fd in std::fs::read_dir(base.join("fd")).ok()?.flatten() {
        if !same_file(&fd.path(), dev, ino) {
            continue;
        }
        let info = std::fs::read_to_string(base.join("fdinfo").join(fd.file_name())).ok()?;
        if fdinfo_writable(&info) {
            return Some(format!("fd {}", fd.file_name().to_string_lossy()));
        }
    }
    None
}

/// Whether an fdinfo text says the descriptor was opened for writing.
pub fn fdinfo_writable(info: &str) -> bool {
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        .is_some_and(|flags| flags & 0o3 != 0)
}

/// A shared writable mapping of (dev, ino) in the process.
fn writer_map(base: &Path, dev: u64, ino: u64) -> Option<String> {
    let maps = std::fs::read_to_string(base.join("maps")).ok()?;
    maps.lines()
        .any(|l| maps_line_writes(l, dev, ino))
        .then(|| "shared writable mapping".to_string())
}

/// Whether a `/proc/PID/maps` line is a shared writable mapping of
/// (dev, ino).
pub fn maps_line_writes(line: &str, dev: u64, ino: u64) -> bool {
    maps_line_of(line, dev, ino).is_some_and(|perms| {
        let perms = perms.as_bytes();
        perms.get(1) == Some(&b'w') && perms.get(3) == Some(&b's')
    })
}

/// The permissions of a `/proc/PID/maps` line when it maps (dev, ino).
fn maps_line_of(line: &str, dev: u64, ino: u64) -> Option<&str> {
    let mut f = line.split_whitespace();
    let (Some(_range), Some(perms), Some(_off), Some(mdev), Some(mino)) =
        (f.next(), f.next(), f.next(), f.next(), f.next())
    else {
        return None;
    };
    let (maj, min) = mdev.split_once(':')?;
    let (Ok(maj), Ok(min), Ok(mino)) = (
        u64::from_str_radix(maj, 16),
        u64::from_str_radix(min, 16),
        mino.parse::<u64>(),
    ) else {
        return None;
    };
    (mino == ino && libc::makedev(maj as u32, min as u32) == dev).then_some(perms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_flags_tell_writers() {
        assert!(fdinfo_writable("pos:\t0\nflags:\t0100001\nmnt_id:\t1\n"));
        assert!(fdinfo_writable("pos:\t0\nflags:\t02100002\n"));
        assert!(!fdinfo_writable("pos:\t0\nflags:\t0100000\n"));
        assert!(!fdinfo_writable("pos:\t0\n"));
    }

    #[test]
    fn maps_lines_tell_shared_writable_mappings() {
        let dev = libc::makedev(0xfe, 0x01);
        let line = "7f00-7f01 rw-s 00000000 fe:01 1234   /srv/plugins/x.py";
        assert!(maps_line_writes(line, dev, 1234));
        assert!(!maps_line_writes(line, dev, 1235));
        assert!(!maps_line_writes(line, libc::makedev(0xfe, 0), 1234));
        let private = "7f00-7f01 rw-p 00000000 fe:01 1234   /srv/plugins/x.py";
        assert!(!maps_line_writes(private, dev, 1234));
        let ro = "7f00-7f01 r--s 00000000 fe:01 1234   /srv/plugins/x.py";
        assert!(!maps_line_writes(ro, dev, 1234));
        assert!(!maps_line_writes("garbage", dev, 1234));
        assert_eq!(maps_line_of(private, dev, 1234), Some("rw-p"));
        assert_eq!(maps_line_of(ro, dev, 1234), Some("r--s"));
        assert_eq!(maps_line_of(ro, dev, 1235), None);
    }
}
