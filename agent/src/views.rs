//! Overlay mounts that show a protected tree through a writable upper layer.
//!
//! Files of a protected tree opened through an overlay whose lower layer is
//! the tree (or holds it) are checked against the tree: the event names the
//! lower file, which the agent names through its own mounts
//! ([`crate::names`]). A file *created* through the overlay lands in its
//! upper layer, which nothing marks, and is opened unchecked. The agent
//! cannot cover that yet, so it looks for such overlays in every mount
//! namespace at start-up and on every reload, and reports each one
//! ([`report`]).

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::config::Engine;
use crate::fan::Groups;
use crate::mountinfo::unescape;

/// An overlay mount, as `/proc/PID/mountinfo` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    /// Where it is mounted, in its own mount namespace.
    pub mount_point: PathBuf,
    /// Its lower layers, as the mounter named them.
    pub lowers: Vec<PathBuf>,
    /// Its upper layer (none for a read-only overlay).
    pub upper: Option<PathBuf>,
}

/// The overlay mounts of a `mountinfo` text. Total: lines it cannot read
/// are skipped.
pub fn overlays(mountinfo: &str) -> Vec<Overlay> {
    crate::mountinfo::parse(mountinfo)
        .into_iter()
        .filter(|m| m.fstype == "overlay")
        .map(|m| {
            let mut lowers = Vec::new();
            let mut upper = None;
            for opt in split_options(&m.super_options) {
                if let Some(v) = opt.strip_prefix("lowerdir=") {
                    lowers.extend(split_layers(v).into_iter().map(PathBuf::from));
                } else if let Some(v) = opt.strip_prefix("lowerdir+=") {
                    lowers.push(PathBuf::from(unescape(v)));
                } else if let Some(v) = opt.strip_prefix("upperdir=") {
                    upper = Some(PathBuf::from(unescape(v)));
                }
            }
            Overlay {
                mount_point: m.mount_point,
                lowers,
                upper,
            }
        })
        .collect()
}

/// Mount options are separated by commas; a comma inside a path is
/// escaped with a backslash by overlayfs.
fn split_options(options: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut escaped = false;
    for c in options.chars() {
        match c {
            ',' if !escaped => out.push(String::new()),
            ',' => {
                // `\,`: the backslash only escaped the comma.
                if let Some(last) = out.last_mut() {
                    last.pop();
                    last.push(c);
                }
                escaped = false;
            }
            _ => {
                escaped = c == '\\' && !escaped;
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out
}

/// `lowerdir=a:b:c`, where `\:` is a colon inside a path.
fn split_layers(v: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some(':' | ',' | '\\')) => {
                if let (Some(next), Some(last)) = (chars.next(), out.last_mut()) {
                    last.push(next);
                }
            }
            ':' => out.push(String::new()),
            _ => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out.into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| unescape(&s))
        .collect()
}

/// An overlay that shows a protected tree through a writable upper layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UncoveredView {
    /// The protected tree.
    pub tree: PathBuf,
    /// The overlay's mount point, in its namespace.
    pub mount_point: PathBuf,
    /// Its upper layer, as the mounter named it.
    pub upper: PathBuf,
    /// A process in that mount namespace.
    pub pid: i32,
}

/// Every writable overlay, in every mount namespace, one of whose lower
/// layers is a protected tree, lies inside one, or holds one.
pub fn find(groups: &Groups, engine: &Engine) -> Vec<UncoveredView> {
    let mut out = Vec::new();
    for (pid, text) in crate::opener::mount_namespaces(None) {
        for o in overlays(&text) {
            let Some(upper) = o.upper.clone() else {
                continue;
            };
            for lower in &o.lowers {
                let Some(agent_path) = lower_in_agent_mounts(groups, pid, lower) else {
                    continue;
                };
                let tree = engine
                    .tree_for(&agent_path)
                    .map(|t| t.root.clone())
                    .or_else(|| {
                        engine
                            .trees
                            .iter()
                            .find(|t| t.root.starts_with(&agent_path))
                            .map(|t| t.root.clone())
                    });
                if let Some(tree) = tree {
                    out.push(UncoveredView {
                        tree,
                        mount_point: o.mount_point.clone(),
                        upper: upper.clone(),
                        pid,
                    });
                    break;
                }
            }
        }
    }
    out
}

/// The path, through the agent's own mounts, of the directory that
/// process `pid` names `lower` (a path in its mount namespace).
fn lower_in_agent_mounts(groups: &Groups, pid: i32, lower: &Path) -> Option<PathBuf> {
    let rel = lower.strip_prefix("/").unwrap_or(lower);
    let there = Path::new("/proc")
        .join(pid.to_string())
        .join("root")
        .join(rel);
    let dir = nix::fcntl::open(
        &there,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()?;
    let st = nix::sys::stat::fstat(dir.as_fd()).ok()?;
    crate::names::dir_in_agent_mounts(groups, dir.as_fd(), &st)
}

/// Logs each view (a warning with its own MESSAGE_ID) and returns them
/// (for `sigward status`).
pub fn report(groups: &Groups, engine: &Engine) -> Vec<UncoveredView> {
    let views = find(groups, engine);
    for v in &views {
        tracing::warn!(
            message_id = crate::ids::OVERLAY_VIEW,
            sigward_path = %v.tree.display(),
            sigward_mount = %v.mount_point.display(),
            sigward_upper = %v.upper.display(),
            sigward_pid = v.pid,
            "the protected tree {} is a lower layer of the overlay at {} (mount namespace of pid \
             {}): files created through it land in its upper layer {}, which is not protected, \
             and are opened there unchecked",
            v.tree.display(),
            v.mount_point.display(),
            v.pid,
            v.upper.display()
        );
    }
    views
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_lines_give_their_layers() {
        let text = "\
36 35 98:0 / /mnt rw,noatime master:1 - ext3 /dev/root rw,errors=continue
120 29 0:52 / /var/lib/c/merged rw,relatime - overlay overlay rw,lowerdir=/srv/plugins:/srv/base,upperdir=/var/lib/c/up,workdir=/var/lib/c/work
121 29 0:53 / /ro\\040view ro - overlay overlay ro,lowerdir=/a\\:b:/c
122 29 0:54 / /new rw - overlay overlay rw,lowerdir+=/srv/x,lowerdir+=/srv/y,upperdir=/u\\,v,workdir=/w
";
        let o = overlays(text);
        assert_eq!(o.len(), 3, "{o:?}");
        assert_eq!(o[0].mount_point, PathBuf::from("/var/lib/c/merged"));
        assert_eq!(
            o[0].lowers,
            vec![PathBuf::from("/srv/plugins"), PathBuf::from("/srv/base")]
        );
        assert_eq!(o[0].upper, Some(PathBuf::from("/var/lib/c/up")));
        assert_eq!(o[1].mount_point, PathBuf::from("/ro view"));
        assert_eq!(
            o[1].lowers,
            vec![PathBuf::from("/a:b"), PathBuf::from("/c")]
        );
        assert_eq!(o[1].upper, None);
        assert_eq!(
            o[2].lowers,
            vec![PathBuf::from("/srv/x"), PathBuf::from("/srv/y")]
        );
        assert_eq!(o[2].upper, Some(PathBuf::from("/u,v")));
    }

    #[test]
    fn anything_else_is_skipped() {
        assert!(overlays("").is_empty());
        assert!(overlays("garbage\n - overlay\n1 2 3 4 5 6 - overlay").is_empty());
        assert!(overlays("1 2 0:1 / /m rw - tmpfs tmpfs rw").is_empty());
    }
}
