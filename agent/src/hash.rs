//! Hashing a file through an open descriptor.
//!
//! Files are read with `pread` rather than mapped: another process may
//! truncate a file while it is being hashed, and a read of a mapped page past
//! the new end raises SIGBUS, which would kill the agent (and a dead agent
//! lets everything through). A short read is reported instead, and the caller
//! denies the file as changed during verification.

use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use sha2::{Digest, Sha256, Sha512};
use sigward_policy::Needs;

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
    /// The watch stopped the hashing.
    #[error("{0}")]
    Interrupted(Interrupt),
    /// The file is too large to hold in memory for a signature over its
    /// whole content.
    #[error("file is {size} bytes; signatures over the whole content (notur, legacy minisign) are verified up to {limit} bytes")]
    TooLarge {
        /// The file's size.
        size: u64,
        /// The limit.
        limit: u64,
    },
}

/// Why a verification was given up before it reached a verdict. Nothing
/// is concluded from it: the events waiting for the verdict get the
/// fail-closed answer of their mode, and nothing is cached.
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
pub enum Interrupt {
    /// The agent is stopping.
    #[error("the agent is stopping")]
    Stopping,
    /// Every process waiting for the verdict is gone.
    #[error("no process waits for the verdict any more")]
    Abandoned,
    /// The verification reads more than its lane allows: it goes on in
    /// the lane for large files.
    #[error("more to read than the lane for small files allows")]
    OverBudget,
    /// A control request's time budget ran out (see
    /// [`crate::scan::EVALUATE_BUDGET`]).
    #[error("the time budget of one control request ran out")]
    Deadline,
}

/// Consulted before every read of a verification (of the file and of the
/// other members of its AiSOC bundle): an error stops the verification.
pub trait Watch {
    /// `n` more bytes are about to be read.
    fn before_read(&mut self, n: u64) -> Result<(), Interrupt>;

    /// A companion file (`FILE.sig`, ...) at `path`, a regular file of a
    /// size that may be read (`st`), is about to be opened for reading
    /// through `probe`, its `O_PATH` descriptor. The agent puts a kernel
    /// mark on it here where that is safe, so that its own read raises no
    /// event (see `agent/workers.rs: Verifying`).
    fn before_companion(
        &mut self,
        _probe: BorrowedFd<'_>,
        _path: &std::path::Path,
        _st: &nix::sys::stat::FileStat,
    ) {
    }
}

/// A verification nothing interrupts (`sigward verify`, `sigward scan`).
pub struct Unwatched;

impl Watch for Unwatched {
    fn before_read(&mut self, _n: u64) -> Result<(), Interrupt> {
        Ok(())
    }
}

/// Largest file kept in memory for formats that sign the content itself.
pub const MAX_CONTENT: u64 = 64 * 1024 * 1024;

/// Everything computed from one pass over a file.
#[derive(Debug, Default)]
pub struct Digests {
    /// SHA-256 (always).
    pub sha256: [u8; 32],
    /// SHA-512, when needed.
    pub sha512: Option<[u8; 64]>,
    /// BLAKE2b-512, when needed.
    pub blake2b512: Option<[u8; 64]>,
    /// The content, when needed.
    pub content: Option<Vec<u8>>,
}

/// Computes SHA-256 and whatever `needs` asks for in one pass over the first
/// `size` bytes of the file behind `fd`.
pub fn digest_fd(
    fd: BorrowedFd<'_>,
    size: u64,
    needs: Needs,
    buf: &mut [u8],
    watch: &mut dyn Watch,
) -> Result<Digests, HashError> {
    if needs == Needs::default() {
        return sha256_fd_watched(fd, size, buf, watch).map(|sha256| Digests {
            sha256,
            ..Digests::default()
        });
    }
    if needs.content && size > MAX_CONTENT {
        return Err(HashError::TooLarge {
            size,
            limit: MAX_CONTENT,
        });
    }
    let mut sha256 = Sha256::new();
    let mut sha512 = needs.sha512.then(Sha512::new);
    let mut blake = needs.blake2b512.then(blake2::Blake2b512::new);
    let mut content = needs
        .content
        .then(|| Vec::with_capacity(usize::try_from(size).unwrap_or(0)));
    read_chunks(fd, size, buf, watch, |chunk| {
        sha256.update(chunk);
        if let Some(h) = sha512.as_mut() {
            h.update(chunk);
        }
        if let Some(h) = blake.as_mut() {
            h.update(chunk);
        }
        if let Some(c) = content.as_mut() {
            c.extend_from_slice(chunk);
        }
    })?;
    Ok(Digests {
        sha256: sha256.finalize().into(),
        sha512: sha512.map(|h| h.finalize().into()),
        blake2b512: blake.map(|h| h.finalize().into()),
        content,
    })
}

/// SHA-256 of the first `size` bytes of the file behind `fd`, read from
/// offset 0 (the descriptor's own offset is not used or moved).
pub fn sha256_fd(fd: BorrowedFd<'_>, size: u64, buf: &mut [u8]) -> Result<[u8; 32], HashError> {
    sha256_fd_watched(fd, size, buf, &mut Unwatched)
}

/// [`sha256_fd`], consulting `watch` before every read.
pub fn sha256_fd_watched(
    fd: BorrowedFd<'_>,
    size: u64,
    buf: &mut [u8],
    watch: &mut dyn Watch,
) -> Result<[u8; 32], HashError> {
    let mut hasher = Sha256::new();
    read_chunks(fd, size, buf, watch, |chunk| hasher.update(chunk))?;
    Ok(hasher.finalize().into())
}

/// Feeds the first `size` bytes of the file to `sink`, chunk by chunk, with
/// `pread` from offset 0 (the descriptor's own offset is not used or moved).
fn read_chunks(
    fd: BorrowedFd<'_>,
    size: u64,
    buf: &mut [u8],
    watch: &mut dyn Watch,
    mut sink: impl FnMut(&[u8]),
) -> Result<(), HashError> {
    // Advice only; a failure changes nothing.
    let _ = nix::fcntl::posix_fadvise(
        fd.as_fd(),
        0,
        0,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL,
    );
    let mut offset: u64 = 0;
    while offset < size {
        let want = usize::try_from(size - offset)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let Some(chunk) = buf.get_mut(..want) else {
            break;
        };
        watch
            .before_read(want as u64)
            .map_err(HashError::Interrupted)?;
        let off = i64::try_from(offset).map_err(|_| HashError::Read(Errno::EOVERFLOW))?;
        match nix::sys::uio::pread(fd, chunk, off) {
            Ok(0) => {
                return Err(HashError::Shrunk {
                    expected: size,
                    got: offset,
                })
            }
            Ok(n) => {
                sink(chunk.get(..n).unwrap_or_default());
                offset += n as u64;
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(HashError::Read(e)),
        }
    }
    Ok(())
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

    /// Stops after `allow` bytes, counting what it was asked for.
    struct Budget {
        allow: u64,
        asked: u64,
    }

    impl Watch for Budget {
        fn before_read(&mut self, n: u64) -> Result<(), Interrupt> {
            if self.asked + n > self.allow {
                return Err(Interrupt::OverBudget);
            }
            self.asked += n;
            Ok(())
        }
    }

    #[test]
    fn the_watch_is_asked_before_every_read_and_can_stop_the_hashing() {
        let mut f = tempfile::tempfile().unwrap_or_else(|e| unreachable!("{e}"));
        let data = vec![3u8; 10 * 1024];
        f.write_all(&data).unwrap_or_else(|e| unreachable!("{e}"));
        let mut buf = vec![0u8; 1024];
        let mut all = Budget {
            allow: u64::MAX,
            asked: 0,
        };
        let want: [u8; 32] = Sha256::digest(&data).into();
        let d = digest_fd(
            f.as_fd(),
            data.len() as u64,
            Needs::default(),
            &mut buf,
            &mut all,
        );
        assert_eq!(d.map(|d| d.sha256), Ok(want));
        assert_eq!(all.asked, data.len() as u64);
        let mut short = Budget {
            allow: 4096,
            asked: 0,
        };
        let needs = Needs {
            sha512: true,
            ..Needs::default()
        };
        let d = digest_fd(f.as_fd(), data.len() as u64, needs, &mut buf, &mut short);
        assert_eq!(
            d.map(|d| d.sha256),
            Err(HashError::Interrupted(Interrupt::OverBudget))
        );
        assert_eq!(short.asked, 4096, "no read beyond what the watch allowed");
    }
}
