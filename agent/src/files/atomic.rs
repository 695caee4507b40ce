//! Writing a file so that readers see the old one or the new one, never
//! part of one: the metrics file, the pid file, the last good policy, keys
//! and signatures written by the tools all go through [`AtomicWrite`].
//!
//! The bytes go to a temporary file beside the destination (hidden, and
//! ending in `.tmp`, so that neither the agent's key loader nor
//! node_exporter's textfile collector ever reads it), created with
//! `O_EXCL | O_NOFOLLOW` so that a name planted there is never written
//! through, synced, and then renamed over the destination (or linked to it,
//! which fails when the destination exists) and the directory synced. On
//! any error the temporary file is removed. Reading goes through
//! [`crate::files::bounded`].

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How an atomic write places its file; see the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct AtomicWrite {
    mode: u32,
    replace: bool,
}

impl AtomicWrite {
    /// A write that creates the file with `mode` (whatever the umask) and
    /// replaces an existing one.
    pub fn new(mode: u32) -> AtomicWrite {
        AtomicWrite {
            mode,
            replace: true,
        }
    }

    /// Fails with `AlreadyExists` instead of replacing an existing file.
    pub fn no_replace(self) -> AtomicWrite {
        AtomicWrite {
            replace: false,
            ..self
        }
    }

    /// Writes `bytes` to `path`; returns the new file's (device, inode).
    pub fn write(self, path: &Path, bytes: &[u8]) -> std::io::Result<(u64, u64)> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = temporary_name(dir, path)?;
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(self.mode)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)?;
            f.set_permissions(fs::Permissions::from_mode(self.mode))?;
            f.write_all(bytes)?;
            f.sync_all()?;
            let meta = f.metadata()?;
            if self.replace {
                fs::rename(&tmp, path)?;
            } else {
                fs::hard_link(&tmp, path)?;
                fs::remove_file(&tmp)?;
            }
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok((meta.dev(), meta.ino()))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// `.NAME.PID.tmp` beside `path`; a leftover of an earlier write by a
/// process with the same pid is removed first.
fn temporary_name(dir: &Path, path: &Path) -> std::io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{}: not a file name", path.display()),
        )
    })?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp);
    match fs::symlink_metadata(&tmp) {
        Ok(m) if m.file_type().is_file() => fs::remove_file(&tmp)?,
        _ => {}
    }
    Ok(tmp)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_replaces_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.prom");
        AtomicWrite::new(0o644).write(&p, b"one").unwrap();
        let (dev, ino) = AtomicWrite::new(0o600).write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let meta = fs::metadata(&p).unwrap();
        assert_eq!((meta.dev(), meta.ino()), (dev, ino));
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(names(dir.path()), ["out.prom"]);
    }

    #[test]
    fn no_replace_refuses_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pub");
        fs::write(&p, b"old").unwrap();
        let e = AtomicWrite::new(0o644)
            .no_replace()
            .write(&p, b"new")
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["k.pub"]);
    }

    #[test]
    fn never_writes_through_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep").unwrap();
        let p = dir.path().join("out");
        let planted = dir.path().join(format!(".out.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        assert!(AtomicWrite::new(0o644).write(&p, b"x").is_err());
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        assert!(!p.exists());
    }
}
