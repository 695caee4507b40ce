//! Filesystem marks: what closes the window for new directories.
//!
//! The agent marks a tree's directories, and a directory made or moved into
//! the tree is marked when the notification group reports it; an open in it
//! before that raises no event. A filesystem mark (`FAN_MARK_FILESYSTEM`)
//! raises one for every open on the filesystem, through every mount and in
//! every mount namespace, marked directory or not. [`FilesystemMarks`]
//! decides which filesystems get one and keeps the kernel in step:
//!
//! - A tree that is a whole filesystem ([`Cover::Whole`]): every file on it
//!   is in the tree, and nothing is renamed into or out of it.
//! - A tree that is a mount of its own on a larger filesystem
//!   ([`Cover::OwnMount`], typically bind-mounted onto itself), when no
//!   process sees it without that mount ([`crate::stale`]): `rename` and
//!   `link` fail with `EXDEV` across mounts, so a file whose name in the
//!   agent's mounts lies outside every tree was not opened inside one, and
//!   its open is allowed ([`FilesystemMarks::outside`]).
//! - A tree inside a tree that is a whole filesystem is covered by that
//!   tree's mark.
//!
//! A filesystem gets its mark only when *every* tree on it is covered: a
//! plain directory tree on the same filesystem could have a file renamed
//! out of it between an open and the agent's look, which would then find
//! it outside every tree. Every other tree is reported (MESSAGE_ID
//! [`ids::NEW_DIRECTORY_WINDOW`]) with what would close its window.

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::fan::{self, Groups, Op};
use crate::ids;
use crate::mountinfo::Cover;

/// The filesystem marks in place, and what each tree's window is.
pub struct FilesystemMarks {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Per device: the filesystem mark in place.
    devs: HashMap<u64, DevMark>,
    /// Per tree root: whether a filesystem mark covers it.
    trees: HashMap<PathBuf, bool>,
    /// Per tree root: the last window reported for it.
    reported: HashMap<PathBuf, String>,
}

struct DevMark {
    /// A directory of the filesystem, through which the mark is removed
    /// (the tree's root may be gone by then).
    dir: OwnedFd,
    /// Set when files outside every tree raise events through the mark
    /// (the trees on it are mounts of their own).
    shared: Option<Arc<Outside>>,
}

/// A filesystem with files outside the trees whose opens the mark raises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outside {
    /// Its device, `MAJ:MIN`.
    pub dev: String,
    /// The directories of the filesystem (relative to its root) that the
    /// trees on it are.
    pub trees: Vec<PathBuf>,
    /// Where the whole filesystem is mounted in the agent's namespace, if it
    /// is: files outside the trees are named, and examined, through it.
    pub filesystem_at: Option<PathBuf>,
}

/// How one tree is guarded, as [`FilesystemMarks::refresh`] found it.
enum Guard {
    Whole {
        dev: u64,
    },
    OwnMount {
        dev: u64,
        outside: Outside,
    },
    /// Inside a tree that is a whole filesystem or a mount of its own.
    Inside {
        dev: u64,
    },
    Open {
        dev: Option<u64>,
        why: String,
    },
}

impl Guard {
    fn dev(&self) -> Option<u64> {
        match self {
            Guard::Whole { dev } | Guard::OwnMount { dev, .. } | Guard::Inside { dev } => {
                Some(*dev)
            }
            Guard::Open { dev, .. } => *dev,
        }
    }
}

/// What a refresh changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changed {
    /// A filesystem lost its mark, or files outside the trees on it no
    /// longer open unchecked: kernel verdicts placed for such files must go.
    pub lost: bool,
}

impl FilesystemMarks {
    /// No marks.
    pub fn new() -> Self {
        FilesystemMarks {
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Looks at how every tree of `roots` lies among the mounts now, and
    /// places or removes filesystem marks to match. Trees left with a window
    /// are reported: always when `announce` (start-up, reload), otherwise
    /// only when what is reported changed (a mount change).
    pub fn refresh(
        &self,
        groups: &Groups,
        roots: &[PathBuf],
        self_pid: i32,
        announce: bool,
    ) -> Changed {
        let mut guards: Vec<(PathBuf, Guard)> = roots
            .iter()
            .map(|r| (r.clone(), guard_of(groups, r, self_pid)))
            .collect();
        // A tree inside a tree that is a whole filesystem or a mount of its
        // own is covered by that tree's mark: nothing leaves the outer one.
        let outer: Vec<(PathBuf, u64)> = guards
            .iter()
            .filter_map(|(r, g)| match g {
                Guard::Whole { dev } | Guard::OwnMount { dev, .. } => Some((r.clone(), *dev)),
                _ => None,
            })
            .collect();
        for (root, g) in &mut guards {
            if let Guard::Open { dev: Some(dev), .. } = g {
                if outer
                    .iter()
                    .any(|(o, d)| d == dev && root.starts_with(o) && root != o)
                {
                    *g = Guard::Inside { dev: *dev };
                }
            }
        }
        // A filesystem is marked only when every tree on it is covered.
        let open_devs: HashSet<u64> = guards
            .iter()
            .filter_map(|(_, g)| match g {
                Guard::Open { dev, .. } => *dev,
                _ => None,
            })
            .collect();
        let blocker = |dev: u64| {
            guards.iter().find_map(|(r, g)| match g {
                Guard::Open { dev: Some(d), .. } if *d == dev => Some(r.clone()),
                _ => None,
            })
        };
        // Per device: a directory to mark it through, and what lies outside
        // the trees on it.
        let mut want: HashMap<u64, (PathBuf, Option<Outside>)> = HashMap::new();
        let mut windows: Vec<(PathBuf, String)> = Vec::new();
        for (root, g) in &guards {
            match g {
                Guard::Open { why, .. } => windows.push((root.clone(), why.clone())),
                g if g.dev().is_some_and(|d| open_devs.contains(&d)) => {
                    let other = g.dev().and_then(blocker).unwrap_or_default();
                    windows.push((
                        root.clone(),
                        format!(
                            "protected tree {} would be guarded by a filesystem mark, but the \
                             protected tree {} on the same filesystem is not a mount of its own \
                             (a file renamed out of it could not be told from the rest of the \
                             filesystem): a directory made or moved into either is unchecked \
                             until the agent has marked it",
                            root.display(),
                            other.display()
                        ),
                    ));
                }
                Guard::Whole { dev } | Guard::Inside { dev } => {
                    want.entry(*dev).or_insert((root.clone(), None));
                }
                Guard::OwnMount { dev, outside } => {
                    let e = want.entry(*dev).or_insert((root.clone(), None));
                    match &mut e.1 {
                        None => e.1 = Some(outside.clone()),
                        Some(o) => {
                            o.trees.extend(outside.trees.iter().cloned());
                            if o.filesystem_at.is_none() {
                                o.filesystem_at.clone_from(&outside.filesystem_at);
                            }
                        }
                    }
                }
            }
        }
        let mut s = self.lock();
        let mut changed = Changed::default();
        // Remove the marks no longer wanted.
        let gone: Vec<u64> = s
            .devs
            .keys()
            .filter(|dev| !want.contains_key(dev))
            .copied()
            .collect();
        for dev in gone {
            if let Some(m) = s.devs.remove(&dev) {
                let _ = groups.mark_filesystem(Op::Remove, m.dir.as_fd());
                changed.lost = true;
            }
        }
        let mut failed: HashSet<u64> = HashSet::new();
        for (dev, (root, outside)) in want {
            if let Some(m) = s.devs.get_mut(&dev) {
                // Outside files' kernel verdicts rest on what lies outside
                // the trees: when that changes, they go.
                if m.shared.as_deref() != outside.as_ref() {
                    changed.lost |= m.shared.is_some();
                    m.shared = outside.map(Arc::new);
                }
                continue;
            }
            let placed = fan::open_dir(&root).and_then(|fd| {
                groups.mark_filesystem(Op::Add, fd.as_fd())?;
                Ok(fd)
            });
            match placed {
                Ok(dir) => {
                    s.devs.insert(
                        dev,
                        DevMark {
                            dir,
                            shared: outside.map(Arc::new),
                        },
                    );
                }
                Err(e) => {
                    failed.insert(dev);
                    tracing::error!(
                        message_id = ids::MARK_FAILED,
                        "cannot put a filesystem mark on {}: {e}; new directories in it are \
                         unchecked until the agent marks them",
                        root.display()
                    );
                }
            }
        }
        s.trees = guards
            .iter()
            .map(|(r, g)| {
                let covered = !matches!(g, Guard::Open { .. })
                    && g.dev()
                        .is_some_and(|d| s.devs.contains_key(&d) && !failed.contains(&d));
                (r.clone(), covered)
            })
            .collect();
        let now_reported: HashMap<PathBuf, String> = windows.into_iter().collect();
        for (root, why) in &now_reported {
            if announce || s.reported.get(root) != Some(why) {
                tracing::warn!(
                    message_id = ids::NEW_DIRECTORY_WINDOW,
                    sigward_path = %crate::audit::path_text(root),
                    "{why}"
                );
            }
        }
        s.reported = now_reported;
        changed
    }

    /// Whether a filesystem mark covers the tree rooted at `root`.
    pub fn covers(&self, root: &Path) -> bool {
        self.lock().trees.get(root).copied().unwrap_or(false)
    }

    /// For a file on device `dev`: `Some` when the filesystem's mark covers
    /// trees that are mounts of their own, so that opens of its files
    /// outside every tree raise events too (see [`crate::via`] for telling
    /// them apart).
    pub fn outside(&self, dev: u64) -> Option<Arc<Outside>> {
        self.lock().devs.get(&dev).and_then(|m| m.shared.clone())
    }
}

impl Default for FilesystemMarks {
    fn default() -> Self {
        Self::new()
    }
}

/// How the tree rooted at `root` is guarded (remembering a mount of its
/// whole filesystem for naming files outside it).
fn guard_of(groups: &Groups, root: &Path, self_pid: i32) -> Guard {
    let dev = nix::sys::stat::stat(root).ok().map(|st| st.st_dev);
    let open = |why: String| Guard::Open { dev, why };
    let Some(dev_num) = dev else {
        return open(format!(
            "protected tree {} cannot be examined: a directory made or moved into it is \
             unchecked until the agent has marked it",
            root.display()
        ));
    };
    match fan::cover(root) {
        Cover::Whole => Guard::Whole { dev: dev_num },
        Cover::OwnMount {
            dev,
            root: fs_root,
            filesystem_at,
        } => {
            if let Some(fd) = filesystem_at
                .as_deref()
                .and_then(|at| fan::open_dir(at).ok())
            {
                groups.remember_filesystem(fd.as_fd());
            }
            match crate::stale::find(groups, &dev, &fs_root, root, self_pid) {
                None => Guard::OwnMount {
                    dev: dev_num,
                    outside: Outside {
                        dev,
                        trees: vec![fs_root],
                        filesystem_at,
                    },
                },
                Some(stale) => open(format!(
                    "protected tree {} is a mount of its own, but {stale}, where files can be \
                     moved into and out of it: a directory made or moved into the tree is \
                     unchecked until the agent has marked it; reload once that is gone (see \
                     docs/operations.md)",
                    root.display()
                )),
            }
        }
        Cover::Uncovered { at } => open(format!(
            "protected tree {} is a mount of its own, but the same directory is also shown at {} \
             without it, where files can be moved into it: a directory made or moved into the \
             tree is unchecked until the agent has marked it (see docs/operations.md)",
            root.display(),
            at.display()
        )),
        Cover::Shared => open(format!(
            "protected tree {} shares its filesystem and is not a mount of its own: a directory \
             made or moved into it is unchecked until the agent has marked it; bind-mount the \
             tree onto itself to close that window (see docs/operations.md)",
            root.display()
        )),
    }
}
