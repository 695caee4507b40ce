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
/// directory above it, following symbolic links to where they lead.
pub fn check(path: &Path) -> Result<(), StrictError> {
    if !enabled() {
        return Ok(());
    }
    let me = nix::unistd::geteuid().as_raw();
    let file = path.to_path_buf();
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut at: Option<&Path> = Some(&real);
    let mut first = true;
    while let Some(p) = at {
        let st = nix::sys::stat::lstat(p).map_err(|errno| StrictError::Unreadable {
            file: file.clone(),
            at: shown(&file, &real, p),
            errno,
        })?;
        let at_fault = || shown(&file, &real, p);
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
        first = false;
        at = p.parent();
    }
    Ok(())
}

/// The path to name: the file as the policy names it, or the directory.
fn shown(file: &Path, real: &Path, p: &Path) -> PathBuf {
    if p == real {
        file.to_path_buf()
    } else {
        p.to_path_buf()
    }
}

/// Whether an access ACL on `p` grants write to anyone but its owner (one
/// that cannot be read counts as granting it).
fn acl_writes(p: &Path) -> bool {
    let mut buf = [0u8; 1024];
    match rustix::fs::lgetxattr(p, "system.posix_acl_access", &mut buf[..]) {
        Ok(n) => crate::kcache::acl_grants_write(buf.get(..n).unwrap_or_default()),
        Err(rustix::io::Errno::NODATA | rustix::io::Errno::NOTSUP) => false,
        Err(_) => true,
    }
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
        nix::unistd::chown(&f, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        assert_eq!(
            check(&f).unwrap_err().to_string(),
            "owned by uid 65534 (trust material must belong to root)"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
