//! The one reader for the small files the agent and the command line read:
//! policy files and drop-ins, key files, revocation lists, allowed-signers
//! files, signing keys, manifests and pid files.
//!
//! Each is opened non-blocking (a FIFO or a device put in place of a key
//! file must be refused at once, not wait for a writer and hang `sigward
//! trust list` or a reload), must be a regular file, and is read up to a
//! limit (a mistake must not exhaust memory). Signature files, which the
//! verdict path reads through the opened file itself, have their own reader
//! in `check`.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The limit for policy, key and revocation files: text files of a few KiB.
pub const CONFIG_LIMIT: u64 = 4 * 1024 * 1024;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// It could not be opened (missing, no permission, ...).
    #[error("{0}")]
    Open(#[source] std::io::Error),
    /// It is not a regular file.
    #[error("not a regular file (a {kind})")]
    NotRegular {
        /// What it is instead.
        kind: &'static str,
    },
    /// It is larger than the limit.
    #[error("larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Reading failed.
    #[error("{0}")]
    Read(#[source] std::io::Error),
}

impl ReadError {
    /// Whether the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Open(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Reads the regular file at `path` (following symbolic links), at most
/// `limit` bytes, without ever blocking on a FIFO or a device, and without
/// opening anything but a regular file (opening some devices has effects:
/// a tape rewinds, a watchdog arms): the path is opened `O_PATH` first,
/// and the file reopened for reading only once it is known to be regular.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    use std::os::fd::AsFd;
    let probe = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(path)
        .map_err(ReadError::Open)?;
    let meta = probe.metadata().map_err(ReadError::Read)?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let kind = if ft.is_dir() {
            "directory"
        } else if ft.is_fifo() {
            "FIFO"
        } else if ft.is_socket() {
            "socket"
        } else if ft.is_char_device() {
            "character device"
        } else if ft.is_block_device() {
            "block device"
        } else {
            "special file"
        };
        return Err(ReadError::NotRegular { kind });
    }
    // The same inode, through the descriptor's magic link (no second
    // lookup of `path`, which could lead elsewhere by now).
    let file =
        std::fs::File::from(super::reopen_for_reading(probe.as_fd()).map_err(ReadError::Open)?);
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Read)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text (lossy: pid files and the like).
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    read(path, limit).map(|b| String::from_utf8_lossy(&b).into_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::time::{Duration, Instant};

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("sigward-bounded-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_fifo_is_refused_at_once() {
        let d = scratch("fifo");
        let fifo = d.join("vendor.pub");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let t0 = Instant::now();
        let e = read(&fifo, CONFIG_LIMIT).unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert!(matches!(e, ReadError::NotRegular { kind: "FIFO" }), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn limits_and_kinds() {
        let d = scratch("limits");
        let f = d.join("k.pub");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read(&f, 5).unwrap(), b"12345");
        assert!(matches!(read(&f, 4), Err(ReadError::TooLarge { limit: 4 })));
        assert!(matches!(
            read(&d, 5),
            Err(ReadError::NotRegular { kind: "directory" })
        ));
        assert!(read(&d.join("missing"), 5).unwrap_err().is_not_found());
        assert!(matches!(
            read(Path::new("/dev/null"), 5),
            Err(ReadError::NotRegular {
                kind: "character device"
            })
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
