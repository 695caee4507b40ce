//! `/proc/PID/mountinfo`, read as text (pure functions; the callers read
//! the files).

use std::path::{Path, PathBuf};

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
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
    let root = head.nth(3)?;
    let mount_point = head.next()?;
    let mut tail = tail.split(' ');
    let fstype = tail.next()?;
    let _source = tail.next()?;
    let super_options = tail.next()?;
    Some(Mount {
        root: PathBuf::from(unescape(root)),
        mount_point: PathBuf::from(unescape(mount_point)),
        fstype: fstype.to_string(),
        super_options: super_options.to_string(),
    })
}

/// Whether `dir` is the mount point of a mount that shows a whole
/// filesystem (its root is `/`), as the last mount there says: then every
/// file of that filesystem lies below `dir`, wherever else it is mounted.
pub fn shows_whole_filesystem(text: &str, dir: &Path) -> bool {
    parse(text)
        .iter()
        .rev()
        .find(|m| m.mount_point == dir)
        .is_some_and(|m| m.root == Path::new("/"))
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
        assert!(shows_whole_filesystem(TEXT, Path::new("/srv/plugins")));
        assert!(shows_whole_filesystem(TEXT, Path::new("/srv/with space")));
        assert!(
            !shows_whole_filesystem(TEXT, Path::new("/srv/bound")),
            "a bind mount of a subdirectory"
        );
        assert!(
            !shows_whole_filesystem(TEXT, Path::new("/srv")),
            "not a mount point"
        );
        // The last mount on a mount point is the one in force.
        let over = format!("{TEXT}43 40 254:1 /x /srv/plugins rw - ext4 /dev/vda rw\n");
        assert!(!shows_whole_filesystem(&over, Path::new("/srv/plugins")));
    }
}
