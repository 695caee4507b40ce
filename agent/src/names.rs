//! The name of the file behind a permission event, in the agent's own mount
//! namespace.
//!
//! A permission event's descriptor is the opener's open file, and its path
//! (`/proc/self/fd/N`) is made of the *opener's* mounts. Anyone can have
//! mounts of their own (`unshare -Urm`) and bind-mount a file under any
//! name there: their unsigned `evil.py` shown as `x.py.sig`, or their copy
//! of a signed `debug.py` shown as `debug.py`. Every verdict, exemption and
//! cache entry of the agent rests on the name (the signature binds it, and
//! the tree it lies in decides the mode and the trust store), so that name
//! must be one that no other mount namespace can choose.
//!
//! [`resolve`] finds it from the inode, not from the opener's path: the
//! file's handle (`name_to_handle_at`) is opened again through a directory
//! the agent opened itself on the same filesystem (`open_by_handle_at`,
//! `O_PATH`: no permission event), and that descriptor's path is the file's
//! name through the agent's mounts. The name is accepted only if looking it
//! up in the agent's namespace finds the same device and inode. A file with
//! one link has one directory entry, so this name is the only one it has.
//!
//! A file with several links has several names, and the handle says nothing
//! about which one was opened. The opener's path is then used when it is a
//! name of the same inode in the agent's namespace too (an opener in
//! another namespace can only choose among the file's real names, and every
//! verdict for such a file is cached under the name it was made for, see
//! [`crate::cache`]); otherwise the name is ambiguous and the open is
//! refused.
//!
//! A file that cannot be named this way (its filesystem has no file
//! handles, none of the agent's mounts shows it, it was removed while being
//! opened, its path is longer than `PATH_MAX`) is [`Unresolved`], and the
//! agent refuses the open in the strictest mode of its policy.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::FileStat;

use crate::fan::Groups;

/// Why the file behind an event has no name the agent can trust.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unresolved {
    /// The filesystem cannot encode a file handle, and the opener is in
    /// another mount namespace.
    #[error(
        "its filesystem has no file handles ({errno}) and it was opened in another mount \
         namespace, so the agent cannot tell what it is called"
    )]
    NoHandle {
        /// From `name_to_handle_at`.
        errno: Errno,
    },
    /// None of the agent's mounts of the filesystem shows the file.
    #[error("none of the agent's mounts shows it (opened as {opened:?} in the opener's mounts)")]
    NotVisible {
        /// The opener's path, for the record only.
        opened: Option<PathBuf>,
    },
    /// The agent's mounts show the file, but its path there cannot be read
    /// (longer than `PATH_MAX`).
    #[error(
        "its path in the agent's mounts cannot be read (longer than PATH_MAX?), so no \
         signature can be found for it"
    )]
    Unreadable,
    /// Opened through a mount of a protected tree, but named outside every
    /// tree when the agent looked: renamed or unlinked meanwhile (a second
    /// name outside the tree, made before the tree's own mount existed).
    #[error(
        "it was opened through a mount of a protected tree but is now named {now:?}, outside \
         every tree (renamed or unlinked while it was being opened)"
    )]
    LeftTree {
        /// Its name now.
        now: PathBuf,
    },
    /// A file with several links, opened under a name that is not one of
    /// its names in the agent's namespace.
    #[error(
        "it has {nlink} links and was opened as {opened:?}, which is not one of its names in \
         the agent's mount namespace, so which name was opened cannot be told"
    )]
    Ambiguous {
        /// The link count.
        nlink: u64,
        /// The opener's path.
        opened: Option<PathBuf>,
    },
}

impl Unresolved {
    /// The path to show in records and status for the file.
    pub fn shown(&self, dev: u64, ino: u64) -> PathBuf {
        let opened = match self {
            Unresolved::NotVisible { opened } | Unresolved::Ambiguous { opened, .. } => {
                opened.as_deref()
            }
            Unresolved::Unreadable => {
                return PathBuf::from(format!(
                    "(path not readable, longer than PATH_MAX?: device {dev:#x}, inode {ino})"
                ))
            }
            Unresolved::NoHandle { .. } => None,
            Unresolved::LeftTree { now } => {
                return PathBuf::from(format!(
                    "(opened in a protected tree, now named {}: device {dev:#x}, inode {ino})",
                    now.display()
                ))
            }
        };
        match opened {
            Some(p) => PathBuf::from(format!(
                "(unresolved: opened as {} in another mount namespace; device {dev:#x}, inode {ino})",
                p.display()
            )),
            None => PathBuf::from(format!(
                "(unresolved: device {dev:#x}, inode {ino})"
            )),
        }
    }
}

/// The identity of the agent's own mount namespace (the inode of
/// `/proc/self/ns/mnt`), read once at start-up.
#[derive(Debug, Clone, Copy)]
pub struct OwnNamespace(Option<u64>);

impl OwnNamespace {
    /// Reads the agent's mount namespace.
    pub fn current() -> Self {
        OwnNamespace(mount_namespace("/proc/self/ns/mnt"))
    }

    /// Whether process `pid` shares the agent's mount namespace (`false`
    /// when either cannot be read).
    fn shared_with(&self, pid: i32) -> bool {
        match self.0 {
            Some(own) => mount_namespace(&format!("/proc/{pid}/ns/mnt")) == Some(own),
            None => false,
        }
    }
}

fn mount_namespace(path: &str) -> Option<u64> {
    nix::sys::stat::stat(path).ok().map(|st| st.st_ino)
}

/// The name of the file open as `fd` (`st` is its `fstat`, `pid` the
/// opener) in the agent's mount namespace. See the module documentation.
pub fn resolve(
    groups: &Groups,
    own: &OwnNamespace,
    fd: BorrowedFd<'_>,
    st: &FileStat,
    pid: i32,
) -> Result<PathBuf, Unresolved> {
    let opened = || crate::files::fd_path(fd);
    if st.st_nlink > 1 {
        let opened = opened();
        return match opened.as_deref().filter(|p| names_inode(p, st)) {
            Some(p) => Ok(p.to_path_buf()),
            None => Err(Unresolved::Ambiguous {
                nlink: st.st_nlink,
                opened,
            }),
        };
    }
    let (handle_type, handle, _) = match crate::handle::handle_of(fd) {
        Ok(h) => h,
        Err(errno) => {
            // Without handles, only an opener that sees the agent's mounts
            // names the file as the agent would.
            return match opened().filter(|p| own.shared_with(pid) && names_inode(p, st)) {
                Some(p) => Ok(p),
                None => Err(Unresolved::NoHandle { errno }),
            };
        }
    };
    let mut unreadable = false;
    match through_agent_mounts(groups, fd, st, (handle_type, &handle), &mut unreadable) {
        Some(path) => Ok(path),
        None if unreadable => Err(Unresolved::Unreadable),
        None => Err(Unresolved::NotVisible { opened: opened() }),
    }
}

/// The path of the inode behind `fd` (with handle `handle`) through one of
/// the agent's mounts of its filesystem, if looking that path up finds the
/// same inode. `unreadable` is set when a path was too long to read.
fn through_agent_mounts(
    groups: &Groups,
    fd: BorrowedFd<'_>,
    st: &FileStat,
    (handle_type, handle): (i32, &[u8]),
    unreadable: &mut bool,
) -> Option<PathBuf> {
    let fsid = crate::fan::fsid_of(fd)?;
    groups.find_mount(&fsid, |mount| {
        let again =
            crate::handle::open_handle(mount, handle_type, handle, libc::O_PATH | libc::O_CLOEXEC)
                .ok()?;
        let path = crate::files::fd_path(again.as_fd());
        *unreadable |= path.is_none();
        path.filter(|p| names_inode(p, st))
    })
}

/// The path of the directory open as `fd` (in any mount namespace)
/// through the agent's own mounts. A directory has one name, so this is
/// it.
pub fn dir_in_agent_mounts(groups: &Groups, fd: BorrowedFd<'_>, st: &FileStat) -> Option<PathBuf> {
    let (handle_type, handle, _) = crate::handle::handle_of(fd).ok()?;
    through_agent_mounts(groups, fd, st, (handle_type, &handle), &mut false)
}

/// Whether `path`, looked up in the agent's namespace without following a
/// final symbolic link, is the inode of `st`.
fn names_inode(path: &Path, st: &FileStat) -> bool {
    path.is_absolute()
        && nix::sys::stat::fstatat(nix::fcntl::AT_FDCWD, path, AtFlags::AT_SYMLINK_NOFOLLOW)
            .is_ok_and(|now| now.st_dev == st.st_dev && now.st_ino == st.st_ino)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_file_is_named_by_its_own_path() {
        let dir = std::env::temp_dir().join(format!("sigward-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.py");
        std::fs::write(&f, b"x").unwrap();
        let st = nix::sys::stat::stat(&f).unwrap();
        assert!(names_inode(&f, &st));
        assert!(!names_inode(Path::new("relative/a.py"), &st));
        assert!(!names_inode(&dir.join("missing.py"), &st));
        let other = dir.join("b.py");
        std::fs::write(&other, b"y").unwrap();
        assert!(!names_inode(&other, &st));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unresolved_files_are_shown_by_device_and_inode() {
        let u = Unresolved::NotVisible {
            opened: Some(PathBuf::from("/x/evil.py.sig")),
        };
        let shown = u.shown(0x803, 42);
        let s = shown.to_string_lossy();
        assert!(s.contains("/x/evil.py.sig") && s.contains("0x803") && s.contains("42"));
        assert!(!shown.is_absolute(), "never mistaken for a real path: {s}");
    }
}
