//! New directories in protected trees.
//!
//! The notification group reports `FAN_CREATE` / `FAN_MOVED_TO` of
//! directories as (parent directory file handle, name). The parent is
//! reopened with `open_by_handle_at` (no path lookup, so renames of the
//! parent cannot misdirect it), the new directory is opened below it without
//! following symlinks, and it is marked with everything below it.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::fan::{i32_at, open_dir_at, u16_at, u32_at, u64_at, FsId, METADATA_LEN};

/// One parsed notification event.
#[derive(Debug, PartialEq, Eq)]
pub enum Notice {
    /// A directory entry appeared: parent handle and name.
    NewDir {
        /// Filesystem of the parent.
        fsid: FsId,
        /// `handle_type` of the parent's file handle.
        handle_type: i32,
        /// The parent's file handle bytes.
        handle: Vec<u8>,
        /// The new entry's name.
        name: Vec<u8>,
    },
    /// A directory was renamed (moved within, into or out of a tree, or a
    /// marked directory moved itself): names of files below it changed.
    Renamed,
    /// The kernel dropped events: everything must be rescanned.
    Overflow,
}

/// Parses a buffer read from a `FAN_REPORT_DFID_NAME` group. Malformed
/// records end the parse (the rest of the buffer cannot be framed); the
/// caller then rescans, which is always safe.
pub fn parse_events(buf: &[u8]) -> (Vec<Notice>, bool) {
    let mut out = Vec::new();
    let mut off = 0usize;
    while off + METADATA_LEN <= buf.len() {
        let Some(ev) = buf.get(off..) else { break };
        let (Some(event_len), Some(vers), Some(meta_len), Some(mask)) = (
            u32_at(ev, 0),
            ev.get(4).copied(),
            u16_at(ev, 6),
            u64_at(ev, 8),
        ) else {
            return (out, false);
        };
        let event_len = event_len as usize;
        let meta_len = meta_len as usize;
        if vers != libc::FANOTIFY_METADATA_VERSION
            || event_len < METADATA_LEN
            || meta_len < METADATA_LEN
            || meta_len > event_len
            || event_len > ev.len()
        {
            return (out, false);
        }
        if mask & libc::FAN_Q_OVERFLOW != 0 {
            out.push(Notice::Overflow);
        } else {
            if mask & (libc::FAN_MOVED_FROM | libc::FAN_MOVED_TO | libc::FAN_MOVE_SELF) != 0 {
                out.push(Notice::Renamed);
            }
            if mask & (libc::FAN_CREATE | libc::FAN_MOVED_TO) != 0 {
                if let Some(n) = parse_info(&ev[meta_len..event_len]) {
                    out.push(n);
                }
            }
        }
        off += event_len;
    }
    (out, true)
}

fn parse_info(mut info: &[u8]) -> Option<Notice> {
    while info.len() >= 4 {
        let kind = *info.first()?;
        let len = u16_at(info, 2)? as usize;
        if len < 4 || len > info.len() {
            return None;
        }
        let rec = &info[..len];
        if kind == libc::FAN_EVENT_INFO_TYPE_DFID_NAME {
            let fsid = [i32_at(rec, 4)?, i32_at(rec, 8)?];
            let handle_bytes = u32_at(rec, 12)? as usize;
            let handle_type = i32_at(rec, 16)?;
            let handle = rec.get(20..20usize.checked_add(handle_bytes)?)?.to_vec();
            let rest = rec.get(20 + handle_bytes..)?;
            let end = rest.iter().position(|&b| b == 0)?;
            let name = rest.get(..end)?.to_vec();
            return Some(Notice::NewDir {
                fsid,
                handle_type,
                handle,
                name,
            });
        }
        info = &info[len..];
    }
    None
}

/// Reopens a directory from its file handle.
pub fn open_by_handle(
    mount: BorrowedFd<'_>,
    handle_type: i32,
    handle: &[u8],
) -> nix::Result<OwnedFd> {
    crate::handle::open_handle(
        mount,
        handle_type,
        handle,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
    )
}

/// A new name below a directory of a tree, opened.
pub enum NewEntry {
    /// A directory, and its path.
    Dir(OwnedFd, PathBuf),
    /// Anything else, opened with `O_PATH` without following a symlink:
    /// enough to `fstat` it and to name its inode, with no permission event
    /// and no access to its content.
    Other(OwnedFd),
}

/// Opens the new entry `name` below the directory with this handle (opened
/// once for both tries). `Ok(None)` when it is gone.
pub fn open_new(
    mount: BorrowedFd<'_>,
    handle_type: i32,
    handle: &[u8],
    name: &[u8],
) -> nix::Result<Option<NewEntry>> {
    let parent = match open_by_handle(mount, handle_type, handle) {
        Ok(parent) => parent,
        // The directory it appeared in was removed since (a moved one is
        // still found by its handle), and the new entry with it: nothing
        // to mark, and nothing that a rescan of every tree would find.
        Err(Errno::ESTALE | Errno::ENOENT) => return Ok(None),
        // A directory removed while its handle is decoded can also fail to
        // reconnect with ENOMEM (measured: a few times in 3,000 directories
        // made and removed at once). Asked twice, that is taken for the
        // same; a failure of another kind is left to the caller's rescan.
        Err(Errno::ENOMEM) => match open_by_handle(mount, handle_type, handle) {
            Ok(parent) => parent,
            Err(Errno::ESTALE | Errno::ENOENT | Errno::ENOMEM) => return Ok(None),
            Err(e) => return Err(e),
        },
        Err(e) => return Err(e),
    };
    let Ok(cname) = CString::new(name) else {
        return Ok(None);
    };
    match open_dir_at(parent.as_fd(), &cname) {
        Ok(fd) => {
            let path = crate::files::fd_path(fd.as_fd())
                .unwrap_or_else(|| Path::new("?").join(String::from_utf8_lossy(name).as_ref()));
            Ok(Some(NewEntry::Dir(fd, path)))
        }
        Err(Errno::ENOENT) => Ok(None),
        Err(Errno::ENOTDIR | Errno::ELOOP) => Ok(nix::fcntl::openat(
            parent.as_fd(),
            cname.as_c_str(),
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_NOFOLLOW
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ok()
        .map(NewEntry::Other)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(mask: u64, info: &[u8]) -> Vec<u8> {
        let len = (METADATA_LEN + info.len()) as u32;
        let mut e = Vec::new();
        e.extend_from_slice(&len.to_ne_bytes());
        e.push(libc::FANOTIFY_METADATA_VERSION);
        e.push(0);
        e.extend_from_slice(&(METADATA_LEN as u16).to_ne_bytes());
        e.extend_from_slice(&mask.to_ne_bytes());
        e.extend_from_slice(&(-1i32).to_ne_bytes());
        e.extend_from_slice(&1i32.to_ne_bytes());
        e.extend_from_slice(info);
        e
    }

    fn dfid_name(handle: &[u8], name: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&7i32.to_ne_bytes());
        body.extend_from_slice(&9i32.to_ne_bytes());
        body.extend_from_slice(&(handle.len() as u32).to_ne_bytes());
        body.extend_from_slice(&1i32.to_ne_bytes());
        body.extend_from_slice(handle);
        body.extend_from_slice(name);
        body.push(0);
        while (body.len() + 4) % 4 != 0 {
            body.push(0);
        }
        let mut rec = vec![libc::FAN_EVENT_INFO_TYPE_DFID_NAME, 0];
        rec.extend_from_slice(&((body.len() + 4) as u16).to_ne_bytes());
        rec.extend_from_slice(&body);
        rec
    }

    #[test]
    fn parses_dfid_name_and_overflow() {
        let mut buf = event(
            libc::FAN_CREATE | libc::FAN_ONDIR,
            &dfid_name(&[1, 2, 3, 4, 5, 6, 7, 8], b"sub"),
        );
        buf.extend(event(libc::FAN_Q_OVERFLOW, &[]));
        buf.extend(event(
            libc::FAN_MOVED_FROM | libc::FAN_ONDIR,
            &dfid_name(&[1; 8], b"gone"),
        ));
        buf.extend(event(
            libc::FAN_MOVED_TO | libc::FAN_ONDIR,
            &dfid_name(&[2; 8], b"new"),
        ));
        let (events, ok) = parse_events(&buf);
        assert!(ok);
        assert_eq!(
            events,
            vec![
                Notice::NewDir {
                    fsid: [7, 9],
                    handle_type: 1,
                    handle: vec![1, 2, 3, 4, 5, 6, 7, 8],
                    name: b"sub".to_vec()
                },
                Notice::Overflow,
                Notice::Renamed,
                Notice::Renamed,
                Notice::NewDir {
                    fsid: [7, 9],
                    handle_type: 1,
                    handle: vec![2; 8],
                    name: b"new".to_vec()
                },
            ]
        );
    }

    #[test]
    fn malformed_input_never_panics() {
        let good = event(libc::FAN_CREATE, &dfid_name(&[1; 8], b"x"));
        for cut in 0..good.len() {
            let _ = parse_events(&good[..cut]);
        }
        for i in 0..good.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                let _ = parse_events(&b);
            }
        }
        let (_, ok) = parse_events(&[0xff; 64]);
        assert!(!ok);
    }
}
