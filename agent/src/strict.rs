//! Strict modes for trust material, as sshd's `StrictModes`.
//!
//! The policy file, `policy.d/` and its drop-ins, every key file and key
//! directory, allowed-signers files and revocation directories decide what
//! the agent trusts; whoever can change one of them, or rename a directory
//! above it, decides instead. So each of them, and every directory above
//! it, must belong to root (or to the agent's own user) and be writable by
//! no one else: not by group or others in its mode, not through an ACL
//! entry. A directory with the sticky bit (`/tmp`) may be writable by
//! others above the file: they cannot rename or remove what is not theirs
//! in it.
//!
//! `SIGWARD_INSECURE_MODES=1` in the agent's (or the command's)
//! environment turns the rule off, for tests and containers whose files
//! belong to another user; every policy load then says so in a warning.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The environment variable that turns strict modes off.
pub const INSECURE_ENV: &str = "SIGWARD_INSECURE_MODES";

/// Why a file of trust material is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StrictError {
    /// The file, or a directory above it, belongs to another user.
    #[error("{}owned by uid {uid} (trust material must belong to root)", above(.file, .at))]
    Owner {
        /// The file refused.
        file: PathBuf,
        /// The file or directory at fault.
        at: PathBuf,
        /// Its owner.
        uid: u32,
    },
    /// The file, or a directory above it, is writable by group or others.
    #[error("{}writable by {who} (mode {mode:04o})", above(.file, .at))]
    Writable {
        /// The file refused.
        file: PathBuf,
        /// The file or directory at fault.
        at: PathBuf,
        /// `group`, `others` or `group and others`.
        who: &'static str,
        /// Its permission bits.
        mode: u32,
    },
    /// An ACL entry on the file, or on a directory above it, grants write.
    #[error("{}writable through an ACL entry", above(.file, .at))]
    Acl {
        /// The file refused.
        file: PathBuf,
        /// The file or directory at fault.
        at: PathBuf,
    },
    /// The file or a directory above it cannot be examined.
    #[error("{}cannot be examined: {errno}", above(.file, .at))]
    Unreadable {
        /// The file refused.
        file: PathBuf,
        /// The file or directory at fault.
        at: PathBuf,
        /// From `lstat`.
        errno: nix::errno::Errno,
    },
}

/// "" when the file itself is at fault, else "its directory D is ".
fn above(file: &Path, at: &Path) -> String {
    if file == at {
        String::new()
    } else {
        format!("the directory above it, {}, is ", at.display())
    }
}

/// Whether strict modes apply (unless [`INSECURE_ENV`] is `1`).
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os(INSECURE_ENV).is_none_or(|v| v != "1"))
}

/// The warning every policy load gives while strict modes are off.
pub fn disabled_warning() -> Option<String> {
    (!enabled()).then(|| {
        format!(
            "strict modes are off ({INSECURE_ENV}=1): trust material that other users can change \
             is accepted"
        )
    })
}

/// Checks `path` (a file or a directory of trust material) and every
/// directory that looking it up goes through: each directory above it, and,
/// where the path holds symbolic links, the directories holding the links
/// and every directory above their targets (whoever can change any of them
/// can point the name elsewhere).
pub fn check(path: &Path) -> Result<(), StrictError> {
    if !enabled() {
        return Ok(());
    }
    let me = nix::unistd::geteuid().as_raw();
    let file = path.to_path_buf();
    let (dirs, real) = lookup(path).map_err(|(at, errno)| StrictError::Unreadable {
        file: file.clone(),
        at,
        errno,
    })?;
    // The file itself first, then the directories from the nearest up.
    let mut checked = std::collections::HashSet::new();
    for (i, p) in std::iter::once(&real).chain(dirs.iter().rev()).enumerate() {
        if !checked.insert(p.clone()) {
            continue;
        }
        let first = i == 0;
        let at_fault = || if first { file.clone() } else { p.clone() };
        let st = nix::sys::stat::stat(p).map_err(|errno| StrictError::Unreadable {
            file: file.clone(),
            at: at_fault(),
            errno,
        })?;
        if st.st_uid != 0 && st.st_uid != me {
            return Err(StrictError::Owner {
                file: file.clone(),
                at: at_fault(),
                uid: st.st_uid,
            });
        }
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let sticky = is_dir && !first && st.st_mode & libc::S_ISVTX != 0;
        let who = match (st.st_mode & 0o020 != 0, st.st_mode & 0o002 != 0) {
            (true, true) => Some("group and others"),
            (true, false) => Some("group"),
            (false, true) => Some("others"),
            (false, false) => None,
        };
        if let (Some(who), false) = (who, sticky) {
            return Err(StrictError::Writable {
                file: file.clone(),
                at: at_fault(),
                who,
                mode: st.st_mode & 0o7777,
            });
        }
        if !sticky && acl_writes(p) {
            return Err(StrictError::Acl {
                file: file.clone(),
                at: at_fault(),
            });
        }
    }
    Ok(())
}

/// Looks `path` up one component at a time, following symbolic links as
/// the kernel would. Returns every directory the lookup went through (the
/// root, each directory above the file, each directory holding a link and
/// the directories above its target) and where the path leads; or the
/// path at which the lookup failed, and why.
fn lookup(path: &Path) -> Result<(Vec<PathBuf>, PathBuf), (PathBuf, nix::errno::Errno)> {
    use std::collections::VecDeque;
    use std::path::Component;
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|_| (path.to_path_buf(), nix::errno::Errno::ENOENT))?
            .join(path)
    };
    let mut todo: VecDeque<std::ffi::OsString> = absolute
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut cur = PathBuf::from("/");
    let mut dirs = vec![cur.clone()];
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            cur.pop();
            continue;
        }
        let next = cur.join(&c);
        let st = nix::sys::stat::lstat(&next).map_err(|e| (next.clone(), e))?;
        if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            links += 1;
            if links > 40 {
                return Err((next, nix::errno::Errno::ELOOP));
            }
            let target =
                std::fs::read_link(&next).map_err(|_| (next.clone(), nix::errno::Errno::EIO))?;
            if target.is_absolute() {
                cur = PathBuf::from("/");
            }
            for comp in target.components().rev() {
                match comp {
                    Component::Normal(n) => todo.push_front(n.to_os_string()),
                    Component::ParentDir => todo.push_front("..".into()),
                    _ => {}
                }
            }
            continue;
        }
        cur = next;
        if !todo.is_empty() {
            dirs.push(cur.clone());
        }
    }
    Ok((dirs, cur))
}

/// Whether an access ACL on `p` grants write to anyone but its owner (one
/// that cannot be read counts as granting it).
fn acl_writes(p: &Path) -> bool {
    crate::kcache::acl_writes(|buf| rustix::fs::lgetxattr(p, crate::kcache::ACL_XATTR, buf))
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sigward-strict-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        d
    }

    #[test]
    fn writable_files_and_directories_are_named() {
        if !enabled() || !nix::unistd::geteuid().is_root() {
            return;
        }
        let d = scratch("modes");
        let f = d.join("k.pub");
        std::fs::write(&f, b"k").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(check(&f), Ok(()));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = check(&f).unwrap_err();
        assert_eq!(e.to_string(), "writable by group and others (mode 0666)");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check(&f).unwrap_err().to_string();
        assert!(
            e.contains(&d.display().to_string()) && e.contains("mode 0777"),
            "{e}"
        );
        // Sticky above the file is fine; the file's own directory is not
        // exempt when it is the path checked.
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(check(&f), Ok(()));
        assert!(check(&d).is_err());
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A link to the file from a directory others can write: the
        // directory holding the link is at fault.
        let open = d.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::os::unix::fs::symlink(&f, open.join("k.pub")).unwrap();
        let e = check(&open.join("k.pub")).unwrap_err().to_string();
        assert!(
            e.contains(&open.display().to_string()) && e.contains("0777"),
            "{e}"
        );
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(check(&open.join("k.pub")), Ok(()));
        nix::unistd::chown(&f, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        assert_eq!(
            check(&f).unwrap_err().to_string(),
            "owned by uid 65534 (trust material must belong to root)"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
