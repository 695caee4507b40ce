//! `/proc/PID/mountinfo`, read as text (pure functions; the callers read
//! the files).

use std::path::{Path, PathBuf};

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The mount's id (as `statx` reports it in `stx_mnt_id`).
    pub id: u64,
    /// The device of the filesystem (`MAJ:MIN`).
    pub dev: String,
    /// The directory of the filesystem that the mount shows (`/`: all of it).
    pub root: PathBuf,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The filesystem type (`ext4`, `overlay`, ...).
    pub fstype: String,
    /// The superblock options (`lowerdir=...` for an overlay).
    pub super_options: String,
}

/// Every mount of a `mountinfo` text. Total: lines it cannot read are
/// skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(line).collect()
}

fn line(l: &str) -> Option<Mount> {
    // ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS
    let (head, tail) = l.split_once(" - ")?;
    let mut head = head.split(' ');
    let id = head.next()?.parse().ok()?;
    let dev = head.nth(1)?;
    let root = head.next()?;
    let mount_point = head.next()?;
    let mut tail = tail.split(' ');
    let fstype = tail.next()?;
    let _source = tail.next()?;
    let super_options = tail.next()?;
    Some(Mount {
        id,
        dev: dev.to_string(),
        root: PathBuf::from(unescape(root)),
        mount_point: PathBuf::from(unescape(mount_point)),
        fstype: fstype.to_string(),
        super_options: super_options.to_string(),
    })
}

/// How a protected directory sits among the mounts (of one mount
/// namespace): what decides whether a filesystem mark may guard it (see
/// `mark_filesystem` in the agent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cover {
    /// A whole filesystem is mounted there (the mount's root is `/`): every
    /// file of that filesystem lies below it, wherever else it is mounted,
    /// and nothing can be renamed into or out of it.
    Whole,
    /// A directory of a larger filesystem is mounted there (typically
    /// bind-mounted onto itself), and no other mount shows that directory
    /// except through a mount of it: `rename` and `link` between it and the
    /// rest of the filesystem fail with `EXDEV`.
    OwnMount {
        /// The filesystem's device (`MAJ:MIN`).
        dev: String,
        /// The directory of the filesystem mounted there.
        root: PathBuf,
        /// Where a mount of the whole filesystem is, if there is one: the
        /// names of its files outside the tree are read through it.
        filesystem_at: Option<PathBuf>,
    },
    /// A mount of the directory, but the same directory is also shown at
    /// `at` inside a mount of more of its filesystem, where files can be
    /// renamed in and out.
    Uncovered {
        /// Where the directory is shown without its own mount.
        at: PathBuf,
    },
    /// Not a mount point: a directory of a filesystem with other files.
    Shared,
}

/// How `dir` sits among the mounts of `text` (see [`Cover`]).
pub fn cover(text: &str, dir: &Path) -> Cover {
    let mounts = parse(text);
    // The last mount on a mount point is the one in force.
    let Some(own) = mounts.iter().rev().find(|m| m.mount_point == dir) else {
        return Cover::Shared;
    };
    if own.root == Path::new("/") {
        return Cover::Whole;
    }
    if let Some(at) = uncovered_in(&mounts, &own.dev, &own.root) {
        return Cover::Uncovered { at };
    }
    Cover::OwnMount {
        dev: own.dev.clone(),
        root: own.root.clone(),
        filesystem_at: mounts
            .iter()
            .find(|m| m.dev == own.dev && m.root == Path::new("/"))
            .map(|m| m.mount_point.clone()),
    }
}

/// Where, among `mounts` (of any mount namespace), the directory `root` of
/// the filesystem `dev` is shown inside a mount of more of that filesystem
/// without a mount of the directory itself there (so that files can be
/// renamed between it and the rest of the filesystem), if anywhere.
pub fn uncovered_in(mounts: &[Mount], dev: &str, root: &Path) -> Option<PathBuf> {
    let same_fs = || mounts.iter().filter(|m| m.dev == dev);
    same_fs().find_map(|m| {
        let rest = root.strip_prefix(&m.root).ok()?;
        if rest.as_os_str().is_empty() {
            return None; // a mount of the directory itself
        }
        let at = m.mount_point.join(rest);
        let bound_there = same_fs().any(|x| x.mount_point == at && x.root == root);
        (!bound_there).then_some(at)
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .is_some_and(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if b[i] == b'\\' && octal {
            let d = |k: usize| u32::from(b[i + k] - b'0');
            out.push(u8::try_from(d(1) * 64 + d(2) * 8 + d(3)).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 22 0:50 / /srv/plugins rw,relatime shared:20 - tmpfs tmpfs rw,size=1024k
41 22 254:1 /data/sub /srv/bound rw,relatime shared:1 - ext4 /dev/vda rw
42 22 0:51 / /srv/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn fields_are_read() {
        let m = parse(TEXT);
        assert_eq!(m.len(), 4);
        assert_eq!(m[1].mount_point, PathBuf::from("/srv/plugins"));
        assert_eq!(m[1].fstype, "tmpfs");
        assert_eq!(m[2].root, PathBuf::from("/data/sub"));
        assert_eq!(m[3].mount_point, PathBuf::from("/srv/with space"));
        assert!(parse("garbage\n1 2 - x").is_empty());
    }

    #[test]
    fn whole_filesystems_are_told_from_bind_mounts_and_subdirectories() {
        let whole = |text: &str, dir: &str| cover(text, Path::new(dir)) == Cover::Whole;
        assert!(whole(TEXT, "/srv/plugins"));
        assert!(whole(TEXT, "/srv/with space"));
        assert!(!whole(TEXT, "/srv/bound"), "a bind mount of a subdirectory");
        assert!(!whole(TEXT, "/srv"), "not a mount point");
        // The last mount on a mount point is the one in force.
        let over = format!("{TEXT}43 40 254:1 /x /srv/plugins rw - ext4 /dev/vda rw\n");
        assert!(!whole(&over, "/srv/plugins"));
    }

    #[test]
    fn a_directory_bound_onto_itself_is_a_mount_of_its_own() {
        let root = "22 1 254:1 / / rw shared:1 - ext4 /dev/vda rw\n";
        let bound = format!("{root}30 22 254:1 /srv/plugins /srv/plugins rw - ext4 /dev/vda rw\n");
        let dir = Path::new("/srv/plugins");
        assert_eq!(cover(root, dir), Cover::Shared);
        assert_eq!(
            cover(&bound, dir),
            Cover::OwnMount {
                dev: "254:1".into(),
                root: PathBuf::from("/srv/plugins"),
                filesystem_at: Some(PathBuf::from("/"))
            }
        );
        assert_eq!(cover(TEXT, dir), Cover::Whole);
        // A second bind of the tree elsewhere is still only the tree.
        let twice = format!("{bound}31 22 254:1 /srv/plugins /ctr/plugins rw - ext4 /dev/vda rw\n");
        assert!(matches!(cover(&twice, dir), Cover::OwnMount { .. }));
        // A bind of its parent shows it without its mount...
        let parent = format!("{bound}32 22 254:1 /srv /mnt/srv rw - ext4 /dev/vda rw\n");
        assert_eq!(
            cover(&parent, dir),
            Cover::Uncovered {
                at: PathBuf::from("/mnt/srv/plugins")
            }
        );
        // ...unless the tree is bound there too (a recursive bind).
        let rbind =
            format!("{parent}33 32 254:1 /srv/plugins /mnt/srv/plugins rw - ext4 /dev/vda rw\n");
        assert!(matches!(cover(&rbind, dir), Cover::OwnMount { .. }));
        // Only mounts of the same filesystem count.
        let other = format!("{bound}34 22 254:2 /srv /mnt/other rw - ext4 /dev/vdb rw\n");
        assert!(matches!(cover(&other, dir), Cover::OwnMount { .. }));
    }
}
