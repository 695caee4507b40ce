//! Which file a descriptor is, and whether it changed: the [`Stamp`] of an
//! `fstat`, and the path `/proc/self/fd` shows for a descriptor.

use std::ffi::OsString;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use nix::sys::stat::{FileStat, SFlag};

/// Identity and version of a file, from `fstat`. Two equal stamps mean the
/// file was not changed in between (ctime cannot be set by users).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stamp {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time (s, ns).
    pub mtime: (i64, i64),
    /// Status change time (s, ns).
    pub ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of an `fstat` result.
    pub fn of(st: &FileStat) -> Self {
        Stamp {
            dev: st.st_dev,
            ino: st.st_ino,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
        }
    }
}

/// Whether an `fstat` result is a regular file.
pub fn is_regular(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFREG
}

/// The path an open descriptor refers to, from `/proc/self/fd`.
pub fn fd_path(fd: BorrowedFd<'_>) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    nix::fcntl::readlink(link.as_str())
        .ok()
        .map(|s| PathBuf::from(OsString::from_vec(s.into_vec())))
}

/// Opens for reading the inode that `probe` (an `O_PATH` descriptor of a
/// file already known to be regular) refers to, through its magic link in
/// `/proc/self/fd`: no second lookup of the file's path, which could lead
/// elsewhere by now, and never blocking (`O_NONBLOCK`).
pub fn reopen_for_reading(probe: BorrowedFd<'_>) -> std::io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(format!("/proc/self/fd/{}", probe.as_raw_fd()))
        .map(OwnedFd::from)
}
