//! The mount an open went through, told apart by what it shows.
//!
//! On a filesystem whose mark covers a tree that is a mount of its own
//! ([`crate::fsmarks`]), a file named outside every tree is allowed. Its
//! name is read when the agent looks, not when the file was opened, and a
//! file with a second name outside the tree (a hard link made before the
//! bind mount existed) can lose its name in the tree between the two. The
//! mount the opener went through settles it: every mount shows one
//! directory of its filesystem (its root), so
//!
//! - a mount whose root lies in a tree ([`Via::Tree`]: the tree's bind
//!   mount, or a container's bind of it or of a directory in it) was opened
//!   in the tree, whatever the file is called now;
//! - a mount whose root shares nothing with any tree ([`Via::Disjoint`]:
//!   a bind of another directory) was opened outside every tree, even when
//!   the file's name cannot be told;
//! - a mount whose root holds a tree ([`Via::Above`]: the filesystem's own
//!   mount) reaches into the tree only through the tree's mount, so the
//!   file's name decides.
//!
//! The mount is found by its unique id (`STATX_MNT_ID_UNIQUE`, Linux 6.8;
//! unique ids are never reused), its root once per mount from the opener's
//! `/proc/PID/mountinfo`. Without unique ids the answer is [`Via::Unknown`],
//! and the name decides as before.

use std::collections::HashMap;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What the mount an open went through shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A directory in a tree (or a tree's root).
    Tree,
    /// A directory that holds a tree.
    Above,
    /// A directory that neither holds nor lies in any tree.
    Disjoint,
    /// Not known (no unique mount ids, or the opener's mounts cannot be
    /// read).
    Unknown,
}

/// How a mount root `root` relates to trees rooted at `trees` (directories
/// of the same filesystem, relative to its root).
pub fn classify(root: &Path, trees: &[PathBuf]) -> Via {
    if trees.iter().any(|t| root.starts_with(t)) {
        Via::Tree
    } else if trees.iter().any(|t| t.starts_with(root)) {
        Via::Above
    } else {
        Via::Disjoint
    }
}

/// Most mounts remembered; the table starts again when full.
const MAX_MOUNTS: usize = 4096;

/// `STATX_MNT_ID_UNIQUE`.
const STATX_MNT_ID_UNIQUE: u32 = 0x4000;

/// What each mount shows, by unique mount id, for the trees in force (see
/// [`Vias::clear`]).
#[derive(Default)]
pub struct Vias {
    known: Mutex<HashMap<u64, Via>>,
}

impl Vias {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every mount: the trees changed.
    pub fn clear(&self) {
        self.known.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// What the mount that the open `fd` of process `pid` went through shows,
    /// for trees rooted at `trees` on the filesystem `dev` (`MAJ:MIN`).
    pub fn of(&self, fd: BorrowedFd<'_>, pid: i32, dev: &str, trees: &[PathBuf]) -> Via {
        use rustix::fs::{AtFlags, StatxFlags};
        let unique = rustix::fs::statx(
            fd,
            "",
            AtFlags::EMPTY_PATH | AtFlags::STATX_DONT_SYNC,
            StatxFlags::from_bits_retain(STATX_MNT_ID_UNIQUE),
        );
        let Ok(sx) = unique else { return Via::Unknown };
        if sx.stx_mask & STATX_MNT_ID_UNIQUE == 0 {
            return Via::Unknown;
        }
        let id = sx.stx_mnt_id;
        if let Some(v) = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            return *v;
        }
        let via = match root_of_mount(fd, pid, dev) {
            Some(root) => classify(&root, trees),
            None => return Via::Unknown,
        };
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= MAX_MOUNTS {
            known.clear();
        }
        known.insert(id, via);
        via
    }
}

/// The root of the mount of `fd` (a descriptor of process `pid`'s open),
/// from `pid`'s mount table, if it is a mount of `dev`.
fn root_of_mount(fd: BorrowedFd<'_>, pid: i32, dev: &str) -> Option<PathBuf> {
    use rustix::fs::{AtFlags, StatxFlags};
    let sx = rustix::fs::statx(
        fd,
        "",
        AtFlags::EMPTY_PATH | AtFlags::STATX_DONT_SYNC,
        StatxFlags::MNT_ID,
    )
    .ok()?;
    if sx.stx_mask & StatxFlags::MNT_ID.bits() == 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).ok()?;
    crate::mountinfo::parse(&text)
        .into_iter()
        .find(|m| m.id == sx.stx_mnt_id && m.dev == dev)
        .map(|m| m.root)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn mounts_are_told_by_their_root() {
        let trees = [PathBuf::from("/srv/plugins"), PathBuf::from("/opt/x")];
        assert_eq!(classify(Path::new("/srv/plugins"), &trees), Via::Tree);
        assert_eq!(classify(Path::new("/srv/plugins/att"), &trees), Via::Tree);
        assert_eq!(classify(Path::new("/"), &trees), Via::Above);
        assert_eq!(classify(Path::new("/srv"), &trees), Via::Above);
        assert_eq!(classify(Path::new("/srv/other"), &trees), Via::Disjoint);
        assert_eq!(
            classify(Path::new("/srv/plugins-old"), &trees),
            Via::Disjoint
        );
    }

    #[test]
    fn an_open_file_is_told_by_its_mount() {
        // This process's own open of a file: its mount shows `/` of some
        // filesystem, or a directory above the file.
        let f = std::fs::File::open("/proc/self/exe").unwrap();
        let st = nix::sys::stat::fstat(&f).unwrap();
        let dev = format!(
            "{}:{}",
            nix::sys::stat::major(st.st_dev),
            nix::sys::stat::minor(st.st_dev)
        );
        let pid = i32::try_from(std::process::id()).unwrap();
        let vias = Vias::new();
        use std::os::fd::AsFd;
        let via = vias.of(f.as_fd(), pid, &dev, &[PathBuf::from("/nonexistent-tree")]);
        assert!(
            matches!(via, Via::Disjoint | Via::Above | Via::Unknown),
            "{via:?}"
        );
    }
}
