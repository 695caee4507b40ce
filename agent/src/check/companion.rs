//! A file's companions (`FILE.sig`, `FILE.minisig`, `FILE.sha256`): their
//! paths and stamps, and reading them safely.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode as FileMode;

use crate::files::Stamp;
use crate::hash::{Unwatched, Watch};

/// Signature files larger than this are malformed: a real one is a few KiB,
/// and an attacker must not make the agent read a huge file.
pub const MAX_SIGNATURE_SIZE: u64 = 1024 * 1024;

/// Suffixes of the files that accompany a plugin file: they may be read,
/// never executed, and are not themselves verified.
pub const COMPANION_SUFFIXES: [&str; 3] = [".sig", ".minisig", ".sha256"];

/// Stamps of a file's companions (`None`: absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvidenceStamps {
    /// `FILE.sig`.
    pub sig: Option<Stamp>,
    /// `FILE.minisig`.
    pub minisig: Option<Stamp>,
    /// `FILE.sha256`.
    pub sha256sum: Option<Stamp>,
}

impl EvidenceStamps {
    /// The companions' stamps as they are now (without following symlinks).
    pub fn current(path: &Path) -> Self {
        let st = |suffix: &str| {
            nix::sys::stat::lstat(&companion(path, suffix))
                .ok()
                .map(|st| Stamp::of(&st))
        };
        EvidenceStamps {
            sig: st(".sig"),
            minisig: st(".minisig"),
            sha256sum: st(".sha256"),
        }
    }
}

/// `path` with `suffix` appended (`x.py` → `x.py.sig`).
pub fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The detached signature path of a file.
pub fn sig_path_for(path: &Path) -> PathBuf {
    companion(path, ".sig")
}

/// Whether a path names a signature companion (`.sig`, `.minisig`,
/// `.sha256`): readable, never executable, not verified itself.
pub fn is_sig_file(path: &Path) -> bool {
    let b = path.as_os_str().as_bytes();
    COMPANION_SUFFIXES.iter().any(|s| b.ends_with(s.as_bytes()))
}

/// Why a signature file could not be used.
#[derive(Debug)]
pub enum SigError {
    /// It is not acceptable as it stands (symlink, FIFO, too large): the
    /// same answer until it changes.
    Refused(String),
    /// Reading it failed (I/O error, descriptor limit): may pass.
    Io(String),
}

impl std::fmt::Display for SigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SigError::Refused(s) | SigError::Io(s) => f.write_str(s),
        }
    }
}

/// The stamp of a path, without following a symlink; `None` when there is
/// nothing there.
pub fn sig_stamp(path: &Path) -> Option<Stamp> {
    nix::sys::stat::lstat(path).ok().map(|st| Stamp::of(&st))
}

/// Opens a file for reading without following a final symlink and without
/// blocking on a FIFO or acquiring a terminal.
pub fn open_no_follow(path: &Path) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_NOCTTY
        | OFlag::O_CLOEXEC;
    nix::fcntl::open(path, flags, FileMode::empty())
}

/// Reads a signature file: `Ok(None)` when there is none. Symlinks, FIFOs,
/// devices and oversized files are refused without blocking or reading them.
pub fn read_signature(path: &Path) -> Result<Option<(Vec<u8>, Stamp)>, SigError> {
    read_signature_watched(path, &mut Unwatched)
}

/// [`read_signature`] within a verification: the file is looked at through
/// an `O_PATH` descriptor first (which opens nothing: no FIFO, device or
/// permission event), `watch` is told before it is read
/// ([`Watch::before_companion`]), and the same inode is then opened for
/// reading through that descriptor.
pub fn read_signature_watched(
    path: &Path,
    watch: &mut dyn Watch,
) -> Result<Option<(Vec<u8>, Stamp)>, SigError> {
    let probe: OwnedFd = match nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        FileMode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e @ Errno::ENOTDIR) => {
            return Err(SigError::Refused(format!(
                "signature file cannot be read: {e}"
            )))
        }
        Err(e) => return Err(SigError::Io(format!("cannot open signature file: {e}"))),
    };
    let st = nix::sys::stat::fstat(probe.as_fd())
        .map_err(|e| SigError::Io(format!("cannot stat signature file: {e}")))?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => {}
        libc::S_IFLNK => {
            return Err(SigError::Refused(
                "signature file is a symbolic link".into(),
            ))
        }
        libc::S_IFDIR => {
            return Err(SigError::Refused(format!(
                "signature file cannot be read: {}",
                Errno::EISDIR
            )))
        }
        libc::S_IFSOCK => {
            return Err(SigError::Refused(format!(
                "signature file cannot be read: {}",
                Errno::ENXIO
            )))
        }
        _ => {
            return Err(SigError::Refused(
                "signature file is not a regular file".into(),
            ))
        }
    }
    if u64::try_from(st.st_size).unwrap_or(u64::MAX) > MAX_SIGNATURE_SIZE {
        return Err(SigError::Refused(format!(
            "signature file is {} bytes, larger than the {MAX_SIGNATURE_SIZE} bytes allowed",
            st.st_size
        )));
    }
    watch.before_companion(probe.as_fd(), path, &st);
    let fd = crate::files::reopen_for_reading(probe.as_fd())
        .map_err(|e| SigError::Io(format!("cannot open signature file: {e}")))?;
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_SIGNATURE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| SigError::Io(format!("cannot read signature file: {e}")))?;
    if bytes.len() as u64 > MAX_SIGNATURE_SIZE {
        return Err(SigError::Refused(
            "signature file grew past the size allowed".into(),
        ));
    }
    Ok(Some((bytes, Stamp::of(&st))))
}

/// Opens a file for `sigward verify` the way a loader would.
pub fn open_for_verify(path: &Path) -> Result<OwnedFd, Errno> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK,
        FileMode::empty(),
    )?;
    Ok(fd)
}
