//! Views of a protected tree that its own mount does not close.
//!
//! A tree bind-mounted onto itself gets a filesystem mark on the larger
//! filesystem it lies on (see [`crate::fan::Groups::mark_filesystem`]), on the
//! premise that nothing crosses the tree's mount: `rename` and `link` fail
//! with `EXDEV` between mounts, so a file named outside every tree was
//! never opened inside one. Two things made before the bind existed are out
//! of its reach and break that premise:
//!
//! - a mount namespace whose mounts show the tree's directory inside a
//!   larger mount of the filesystem, without the bind (a container, or an
//!   `unshare -m` with private propagation, made earlier; or a
//!   non-recursive bind of a parent directory);
//! - a working directory, root or directory descriptor of a process below
//!   the tree, opened through the larger mount before the bind covered it
//!   (`renameat` relative to it crosses into and out of the tree).
//!
//! [`find`] looks for both in every process. Whatever is made after the
//! bind inherits it (a new namespace copies the mount, a lookup crosses it),
//! so a look when the mark is placed, and again on every reload and mount
//! change, is enough.

use std::collections::HashSet;
use std::fmt;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::fan::Groups;
use crate::mountinfo::{self, Mount};

/// A view of the tree that its mount does not close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// The mount namespace of `pid` shows the tree at `at` without its
    /// mount.
    Mount {
        /// A process in that namespace.
        pid: i32,
        /// Where the tree's directory is shown there.
        at: PathBuf,
    },
    /// A directory in the tree that `pid` holds through a larger mount.
    Descriptor {
        /// The process.
        pid: i32,
        /// `cwd`, `root` or `fd N`.
        what: String,
        /// The directory, in the agent's mounts.
        dir: PathBuf,
    },
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stale::Mount { pid, at } => write!(
                f,
                "the mount namespace of pid {pid} shows it at {} without its own mount (a \
                 namespace made before the bind mount, or a non-recursive bind of a parent)",
                at.display()
            ),
            Stale::Descriptor { pid, what, dir } => write!(
                f,
                "pid {pid} holds {} as its {what} through a mount made before the bind mount",
                dir.display()
            ),
        }
    }
}

/// The first view of the directory `root` of filesystem `dev` (the tree
/// `tree` in the agent's mounts) that its own mount does not close, in any
/// process but `self_pid`.
pub fn find(groups: &Groups, dev: &str, root: &Path, tree: &Path, self_pid: i32) -> Option<Stale> {
    let pids: Vec<i32> = crate::opener::pids()
        .into_iter()
        .filter(|&p| p != self_pid)
        .collect();
    // Every namespace's mounts: one showing the tree uncovered is stale;
    // the ids of the tree's own mounts (of it or below it) are kept.
    let mut tree_mounts = HashSet::new();
    for (pid, text) in crate::opener::mount_namespaces(Some(self_pid)) {
        let mounts = mountinfo::parse(&text);
        if let Some(at) = mountinfo::uncovered_in(&mounts, dev, root) {
            return Some(Stale::Mount { pid, at });
        }
        tree_mounts.extend(
            mounts
                .iter()
                .filter(|m: &&Mount| m.dev == dev && m.root.starts_with(root))
                .map(|m| m.id),
        );
    }
    let (major, minor) = parse_dev(dev)?;
    for &pid in &pids {
        for (what, link) in held_directories(pid) {
            if let Some(dir) = stale_dir(groups, &link, (major, minor), &tree_mounts, tree) {
                return Some(Stale::Descriptor { pid, what, dir });
            }
        }
    }
    None
}

fn parse_dev(dev: &str) -> Option<(u32, u32)> {
    let (a, b) = dev.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// A process's working directory, root and descriptors, as magic links.
fn held_directories(pid: i32) -> Vec<(String, PathBuf)> {
    let base = PathBuf::from(format!("/proc/{pid}"));
    let mut out = vec![
        ("working directory".to_string(), base.join("cwd")),
        ("root directory".to_string(), base.join("root")),
    ];
    if let Ok(fds) = std::fs::read_dir(base.join("fd")) {
        out.extend(fds.flatten().map(|e| {
            (
                format!("descriptor {}", e.file_name().to_string_lossy()),
                e.path(),
            )
        }));
    }
    out
}

/// The directory behind the magic link `link`, if it is on the device
/// `(major, minor)`, reached through a mount that is none of `tree_mounts`,
/// and lies in `tree` (in the agent's mounts).
fn stale_dir(
    groups: &Groups,
    link: &Path,
    (major, minor): (u32, u32),
    tree_mounts: &HashSet<u64>,
    tree: &Path,
) -> Option<PathBuf> {
    use rustix::fs::{AtFlags, StatxFlags, CWD};
    // The magic link leads to the file without a lookup, and
    // `AT_STATX_DONT_SYNC` answers from what the kernel has: a descriptor
    // on a stalled FUSE or NFS mount does not block the look.
    let sx = rustix::fs::statx(
        CWD,
        link,
        AtFlags::STATX_DONT_SYNC,
        StatxFlags::TYPE | StatxFlags::MNT_ID,
    )
    .ok()?;
    let is_dir = u32::from(sx.stx_mode) & libc::S_IFMT == libc::S_IFDIR;
    if !is_dir || sx.stx_dev_major != major || sx.stx_dev_minor != minor {
        return None;
    }
    if tree_mounts.contains(&sx.stx_mnt_id) {
        return None;
    }
    let fd = nix::fcntl::open(
        link,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()?;
    let st = nix::sys::stat::fstat(fd.as_fd()).ok()?;
    crate::names::dir_in_agent_mounts(groups, fd.as_fd(), &st).filter(|p| p.starts_with(tree))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_read() {
        assert_eq!(parse_dev("254:1"), Some((254, 1)));
        assert_eq!(parse_dev("0:52"), Some((0, 52)));
        assert_eq!(parse_dev("x"), None);
    }

    #[test]
    fn views_say_what_and_where() {
        let m = Stale::Mount {
            pid: 7,
            at: PathBuf::from("/mnt/srv/plugins"),
        };
        assert!(m.to_string().contains("pid 7") && m.to_string().contains("/mnt/srv/plugins"));
        let d = Stale::Descriptor {
            pid: 9,
            what: "working directory".into(),
            dir: PathBuf::from("/srv/plugins/att"),
        };
        assert!(d.to_string().contains("working directory") && d.to_string().contains("pid 9"));
    }
}
