//! Hashing a file through an open descriptor.
//!
//! Files are read with `pread` rather than mapped: another process may
//! truncate a file while it is being hashed, and a read of a mapped page past
//! the new end raises SIGBUS, which would kill the agent (and a dead agent
//! lets everything through). A short read is reported instead, and the caller
//! denies the file as changed during verification.

use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use sha2::{Digest, Sha256};

/// Size of the read buffer each worker owns.
pub const BUFFER_SIZE: usize = 1 << 20;

/// Why hashing stopped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashError {
    /// The file ended before the size it had when verification started.
    #[error("file shrank from {expected} to {got} bytes while it was being verified")]
    Shrunk {
        /// Size at the start.
        expected: u64,
        /// Bytes actually read.
        got: u64,
    },
    /// A read failed.
    #[error("cannot read file: {0}")]
    Read(Errno),
}

/// SHA-256 of the first `size` bytes of the file behind `fd`, read from
/// offset 0 (the descriptor's own offset is not used or moved).
pub fn sha256_fd(fd: BorrowedFd<'_>, size: u64, buf: &mut [u8]) -> Result<[u8; 32], HashError> {
    // Advice only; a failure changes nothing.
    let _ = nix::fcntl::posix_fadvise(
        fd.as_fd(),
        0,
        0,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL,
    );
    let mut hasher = Sha256::new();
    let mut offset: u64 = 0;
    while offset < size {
        let want = usize::try_from(size - offset)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let Some(chunk) = buf.get_mut(..want) else {
            break;
        };
        let off = i64::try_from(offset).map_err(|_| HashError::Read(Errno::EOVERFLOW))?;
        match nix::sys::uio::pread(fd, chunk, off) {
            Ok(0) => {
                return Err(HashError::Shrunk {
                    expected: size,
                    got: offset,
                })
            }
            Ok(n) => {
                hasher.update(&chunk[..n.min(chunk.len())]);
                offset += n as u64;
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(HashError::Read(e)),
        }
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn hashes_whole_file_and_reports_short_reads() {
        let mut f = tempfile::tempfile().unwrap_or_else(|e| unreachable!("{e}"));
        let data = vec![7u8; 3 * 1024 + 5];
        f.write_all(&data).unwrap_or_else(|e| unreachable!("{e}"));
        let mut buf = vec![0u8; 1024];
        let h = sha256_fd(f.as_fd(), data.len() as u64, &mut buf);
        let want: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(h, Ok(want));
        let short = sha256_fd(f.as_fd(), data.len() as u64 + 10, &mut buf);
        assert_eq!(
            short,
            Err(HashError::Shrunk {
                expected: data.len() as u64 + 10,
                got: data.len() as u64
            })
        );
        assert_eq!(
            sha256_fd(f.as_fd(), 0, &mut buf),
            Ok(Sha256::digest(b"").into())
        );
    }
}
