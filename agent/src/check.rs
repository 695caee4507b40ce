//! The one verification path shared by the agent and `sigward verify`:
//! from an open file and the name it was opened under to a verdict.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{FileStat, Mode as FileMode, SFlag};
use sigward_policy::{verify, Reason, Subject, TrustStore, Verdict};

use crate::hash::{sha256_fd, HashError};

/// Signature files larger than this are malformed: a real one is a few KiB,
/// and an attacker must not make the agent read a huge file.
pub const MAX_SIGNATURE_SIZE: u64 = 1024 * 1024;

/// Suffix of detached signature files.
pub const SIG_SUFFIX: &str = ".sig";

/// What a verification found.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The verdict.
    pub verdict: Verdict,
    /// SHA-256 of the content, when it was computed.
    pub sha256: Option<[u8; 32]>,
    /// Where the signature was looked for.
    pub sig_path: PathBuf,
    /// The signature file's stamp when it was read (`None`: there was none).
    /// A cached rejection is reused only while this is unchanged.
    pub sig_stamp: Option<Stamp>,
    /// Whether the verdict may be cached: the file was read whole and did
    /// not change meanwhile, and nothing failed for a passing reason.
    pub cacheable: bool,
}

impl Outcome {
    /// A rejection decided without reading the file (nothing hashed, not
    /// cacheable).
    pub fn refused(reason: Reason, detail: impl Into<String>, sig_path: PathBuf) -> Self {
        Outcome {
            verdict: Verdict::Rejected {
                reason,
                detail: detail.into(),
                key: None,
            },
            sha256: None,
            sig_path,
            sig_stamp: None,
            cacheable: false,
        }
    }
}

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

/// The detached signature path of a file.
pub fn sig_path_for(path: &Path) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(SIG_SUFFIX);
    PathBuf::from(s)
}

/// Whether a path names a signature file.
pub fn is_sig_file(path: &Path) -> bool {
    path.as_os_str().as_bytes().ends_with(SIG_SUFFIX.as_bytes())
}

/// Verifies the open file `fd`, opened as `path`, against `trust`.
///
/// `buf` is the caller's hashing buffer. The file is hashed through `fd`
/// (never reopened by name), and its stamp is compared before and after, so a
/// file changed during verification is refused rather than cached.
pub fn evaluate(fd: BorrowedFd<'_>, path: &Path, trust: &TrustStore, buf: &mut [u8]) -> Outcome {
    let sig_path = sig_path_for(path);
    let reject = Outcome::refused;
    let before = match nix::sys::stat::fstat(fd) {
        Ok(st) => st,
        Err(e) => return reject(Reason::Invalid, format!("cannot stat file: {e}"), sig_path),
    };
    if !is_regular(&before) {
        return reject(
            Reason::Unsigned,
            "not a regular file: only regular files can carry a signature".into(),
            sig_path,
        );
    }
    let stamp = Stamp::of(&before);
    let sha256 = match sha256_fd(fd, stamp.size, buf) {
        Ok(h) => h,
        Err(e @ HashError::Shrunk { .. }) => {
            return reject(Reason::Tampered, e.to_string(), sig_path)
        }
        Err(e @ HashError::Read(_)) => return reject(Reason::Invalid, e.to_string(), sig_path),
    };
    match nix::sys::stat::fstat(fd) {
        Ok(after) if Stamp::of(&after) == stamp => {}
        Ok(_) => {
            return Outcome {
                sha256: Some(sha256),
                ..reject(
                    Reason::Tampered,
                    "file changed while it was being verified".into(),
                    sig_path,
                )
            }
        }
        Err(e) => return reject(Reason::Invalid, format!("cannot stat file: {e}"), sig_path),
    }
    let name = path.file_name().map(|n| n.as_bytes()).unwrap_or_default();
    let subject = Subject {
        name,
        size: stamp.size,
        sha256: &sha256,
    };
    let (verdict, sig_stamp, cacheable) = match read_signature(&sig_path) {
        Ok(Some((bytes, st))) => (verify(&subject, Some(&bytes), trust), Some(st), true),
        Ok(None) => (verify(&subject, None, trust), None, true),
        Err(SigError::Refused(detail)) => (
            Verdict::Rejected {
                reason: Reason::Malformed,
                detail,
                key: None,
            },
            sig_stamp(&sig_path),
            true,
        ),
        Err(SigError::Io(detail)) => (
            Verdict::Rejected {
                reason: Reason::Malformed,
                detail,
                key: None,
            },
            None,
            false,
        ),
    };
    Outcome {
        verdict,
        sha256: Some(sha256),
        sig_path,
        sig_stamp,
        cacheable,
    }
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

/// The stamp of a signature path, without following a symlink; `None` when
/// there is nothing there.
pub fn sig_stamp(path: &Path) -> Option<Stamp> {
    nix::sys::stat::lstat(path).ok().map(|st| Stamp::of(&st))
}

/// Reads a signature file: `Ok(None)` when there is none. Symlinks, FIFOs,
/// devices and oversized files are refused without blocking or reading them.
pub fn read_signature(path: &Path) -> Result<Option<(Vec<u8>, Stamp)>, SigError> {
    let flags = OFlag::O_RDONLY
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_NOCTTY
        | OFlag::O_CLOEXEC;
    let fd: OwnedFd = match nix::fcntl::open(path, flags, FileMode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP) => {
            return Err(SigError::Refused(
                "signature file is a symbolic link".into(),
            ))
        }
        Err(e @ (Errno::ENXIO | Errno::EISDIR | Errno::ENOTDIR)) => {
            return Err(SigError::Refused(format!(
                "signature file cannot be read: {e}"
            )))
        }
        Err(e) => return Err(SigError::Io(format!("cannot open signature file: {e}"))),
    };
    let st = nix::sys::stat::fstat(fd.as_fd())
        .map_err(|e| SigError::Io(format!("cannot stat signature file: {e}")))?;
    if !is_regular(&st) {
        return Err(SigError::Refused(
            "signature file is not a regular file".into(),
        ));
    }
    if u64::try_from(st.st_size).unwrap_or(u64::MAX) > MAX_SIGNATURE_SIZE {
        return Err(SigError::Refused(format!(
            "signature file is {} bytes, larger than the {MAX_SIGNATURE_SIZE} bytes allowed",
            st.st_size
        )));
    }
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

/// The path an open descriptor refers to, from `/proc/self/fd`.
pub fn fd_path(fd: BorrowedFd<'_>) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    nix::fcntl::readlink(link.as_str())
        .ok()
        .map(|s| PathBuf::from(OsString::from_vec(s.into_vec())))
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
