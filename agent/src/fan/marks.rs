//! Marking protected trees: directory marks on every directory of a tree,
//! filesystem marks, marks on single files, and the mounts remembered to
//! resolve the notification group's file handles.

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::fanotify::{Fanotify, MarkFlags, MaskFlags};
use nix::sys::stat::{Mode as FileMode, SFlag};

use super::{notify_mask, perm_mask, FsId, Groups, Op, WalkStats};

impl Groups {
    fn mark_one(&self, op: Op, dir: BorrowedFd<'_>) -> nix::Result<()> {
        let (flags, ignore_missing) = match op {
            Op::Add => (MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_ONLYDIR, false),
            Op::Remove => (
                MarkFlags::FAN_MARK_REMOVE | MarkFlags::FAN_MARK_ONLYDIR,
                true,
            ),
        };
        let run =
            |group: &Fanotify, mask: MaskFlags| match group.mark(flags, mask, dir, None::<&Path>) {
                Err(Errno::ENOENT) if ignore_missing => Ok(()),
                other => other,
            };
        match op {
            Op::Add => {
                run(&self.notify, notify_mask())?;
                run(&self.perm, perm_mask())
            }
            Op::Remove => {
                run(&self.perm, perm_mask())?;
                run(&self.notify, notify_mask())
            }
        }
    }

    /// Removes every mark of the permission group: directory marks and
    /// ignore marks alike. The caller marks the trees again.
    pub fn flush_perm(&self) -> nix::Result<()> {
        self.perm.mark(
            MarkFlags::FAN_MARK_FLUSH,
            MaskFlags::empty(),
            nix::fcntl::AT_FDCWD,
            None::<&Path>,
        )
    }

    /// Adds (or removes) a filesystem mark for permission events on the
    /// filesystem of `dir`: every open and execution of any file on it, in
    /// any directory and through any mount, raises an event, marked
    /// directories or not. Only for a tree that is a whole filesystem or a
    /// mount of its own ([`cover`]).
    pub fn mark_filesystem(&self, op: Op, dir: BorrowedFd<'_>) -> nix::Result<()> {
        let flags = match op {
            Op::Add => MarkFlags::FAN_MARK_ADD,
            Op::Remove => MarkFlags::FAN_MARK_REMOVE,
        } | MarkFlags::FAN_MARK_FILESYSTEM;
        match self.perm.mark(
            flags,
            MaskFlags::FAN_OPEN_PERM | MaskFlags::FAN_OPEN_EXEC_PERM,
            dir,
            None::<&Path>,
        ) {
            Err(Errno::ENOENT) if op == Op::Remove => Ok(()),
            other => other,
        }
    }

    /// Remembers a directory on `dir`'s filesystem, for resolving handles:
    /// one per mount of each filesystem the agent marks something on, so
    /// that a file can be named through whichever of the agent's mounts
    /// shows it (see [`crate::names`]).
    pub fn remember_filesystem(&self, dir: BorrowedFd<'_>) {
        let Some(fsid) = fsid_of(dir) else { return };
        let Ok((_, _, mount_id)) = crate::handle::handle_of(dir) else {
            return;
        };
        let mut mounts = self.mounts.lock().unwrap_or_else(|p| p.into_inner());
        let seen = mounts.entry(fsid).or_default();
        if seen.iter().any(|(id, _)| *id == mount_id) {
            return;
        }
        if let Ok(dup) = dir.try_clone_to_owned() {
            seen.push((mount_id, dup));
        }
    }

    /// A directory on the filesystem `fsid`, if one was seen.
    pub fn with_mount<T>(&self, fsid: &FsId, f: impl FnOnce(BorrowedFd<'_>) -> T) -> Option<T> {
        let mounts = self.mounts.lock().unwrap_or_else(|p| p.into_inner());
        mounts
            .get(fsid)
            .and_then(|seen| seen.first())
            .map(|(_, fd)| f(fd.as_fd()))
    }

    /// The first `Some` that `f` returns for a directory of each of the
    /// agent's mounts of the filesystem `fsid` (in the order they were
    /// seen); `None` if none gives one, or no mount of it was seen.
    pub fn find_mount<T>(
        &self,
        fsid: &FsId,
        mut f: impl FnMut(BorrowedFd<'_>) -> Option<T>,
    ) -> Option<T> {
        let mounts = self.mounts.lock().unwrap_or_else(|p| p.into_inner());
        mounts.get(fsid)?.iter().find_map(|(_, fd)| f(fd.as_fd()))
    }

    /// Marks (or unmarks) `root` and every directory below it, without
    /// following symbolic links. Directories whose (device, inode) is in
    /// `skip` are left alone with everything below them.
    pub fn walk(
        &self,
        op: Op,
        root: OwnedFd,
        root_path: &Path,
        skip: &HashSet<(u64, u64)>,
    ) -> WalkStats {
        enum Item {
            Open(OwnedFd, PathBuf),
            Child(Rc<OwnedFd>, CString, PathBuf),
        }
        let mut stats = WalkStats::default();
        let mut last_dev = None;
        let mut stack = vec![Item::Open(root, root_path.to_path_buf())];
        while let Some(item) = stack.pop() {
            let (fd, path) = match item {
                Item::Open(fd, path) => (fd, path),
                Item::Child(parent, name, path) => match open_dir_at(parent.as_fd(), &name) {
                    Ok(fd) => (fd, path),
                    // Removed or replaced by a non-directory meanwhile.
                    Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => continue,
                    Err(e) => {
                        stats
                            .errors
                            .push(format!("{}: cannot open directory: {e}", path.display()));
                        continue;
                    }
                },
            };
            let st = match nix::sys::stat::fstat(fd.as_fd()) {
                Ok(st) => st,
                Err(e) => {
                    stats
                        .errors
                        .push(format!("{}: cannot stat directory: {e}", path.display()));
                    continue;
                }
            };
            if skip.contains(&(st.st_dev, st.st_ino)) {
                continue;
            }
            if op == Op::Add && last_dev != Some(st.st_dev) {
                self.remember_filesystem(fd.as_fd());
                last_dev = Some(st.st_dev);
            }
            match self.mark_one(op, fd.as_fd()) {
                Ok(()) => stats.dirs += 1,
                Err(e) => stats.errors.push(format!(
                    "{}: cannot {} fanotify mark: {e}",
                    path.display(),
                    if op == Op::Add { "add" } else { "remove" }
                )),
            }
            let children = match list_entries(fd.as_fd()) {
                Ok(Entries {
                    dirs: c,
                    links,
                    special,
                }) => {
                    if op == Op::Add {
                        let full =
                            |n: &CString| path.join(std::ffi::OsStr::from_bytes(n.as_bytes()));
                        stats.symlinks.extend(links.iter().map(full));
                        stats.special.extend(special.iter().map(full));
                    }
                    c
                }
                Err(e) => {
                    stats
                        .errors
                        .push(format!("{}: cannot list directory: {e}", path.display()));
                    continue;
                }
            };
            let parent = Rc::new(fd);
            for name in children {
                let child_path = path.join(std::ffi::OsStr::from_bytes(name.as_bytes()));
                stack.push(Item::Child(parent.clone(), name, child_path));
            }
        }
        stats
    }
}

/// How the directory `root` sits among the agent's mounts (see
/// [`crate::mountinfo::Cover`]); [`Cover::Shared`](crate::mountinfo::Cover)
/// when the mount table cannot be read.
pub fn cover(root: &Path) -> crate::mountinfo::Cover {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map_or(crate::mountinfo::Cover::Shared, |text| {
            crate::mountinfo::cover(&text, root)
        })
}

/// Opens a directory below `parent` without following symlinks.
pub fn open_dir_at(parent: BorrowedFd<'_>, name: &CStr) -> nix::Result<OwnedFd> {
    nix::fcntl::openat(
        parent,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        FileMode::empty(),
    )
}

/// Opens a directory by path (following symlinks: the policy's roots are
/// already canonical).
pub fn open_dir(path: &Path) -> nix::Result<OwnedFd> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        FileMode::empty(),
    )
}

/// The entries of a directory that the walk looks at.
struct Entries {
    dirs: Vec<CString>,
    links: Vec<CString>,
    /// FIFOs, sockets and device nodes.
    special: Vec<CString>,
}

fn list_entries(dir: BorrowedFd<'_>) -> nix::Result<Entries> {
    let mut d = Dir::from_fd(
        dir.try_clone_to_owned()
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?,
    )?;
    let mut dirs = Vec::new();
    let mut links = Vec::new();
    let mut special = Vec::new();
    for entry in d.iter() {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        let kind = match entry.file_type() {
            Some(t) => Some(t),
            None => nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
                .ok()
                .map(
                    |st| match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
                        SFlag::S_IFDIR => Type::Directory,
                        SFlag::S_IFLNK => Type::Symlink,
                        SFlag::S_IFIFO => Type::Fifo,
                        SFlag::S_IFSOCK => Type::Socket,
                        SFlag::S_IFCHR => Type::CharacterDevice,
                        SFlag::S_IFBLK => Type::BlockDevice,
                        _ => Type::File,
                    },
                ),
        };
        match kind {
            Some(Type::Directory) => dirs.push(name.to_owned()),
            Some(Type::Symlink) => links.push(name.to_owned()),
            Some(Type::Fifo | Type::Socket | Type::CharacterDevice | Type::BlockDevice) => {
                special.push(name.to_owned())
            }
            _ => {}
        }
    }
    Ok(Entries {
        dirs,
        links,
        special,
    })
}

/// Puts a permission mark on one file (not a directory): every open and
/// execution of it, by any name, raises an event. Used for files that a
/// symbolic link in a protected tree points at.
pub fn mark_file(groups: &Groups, path: &Path) -> nix::Result<()> {
    // Its events are named through one of the agent's mounts of its
    // filesystem, found from its directory.
    if let Some(dir) = path.parent().and_then(|d| open_dir(d).ok()) {
        groups.remember_filesystem(dir.as_fd());
    }
    groups.perm.mark(
        MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_DONT_FOLLOW,
        MaskFlags::FAN_OPEN_PERM | MaskFlags::FAN_OPEN_EXEC_PERM,
        nix::fcntl::AT_FDCWD,
        Some(path),
    )
}

/// The filesystem id of the filesystem holding `fd`, in the form fanotify
/// reports it.
pub fn fsid_of(fd: BorrowedFd<'_>) -> Option<FsId> {
    let st = nix::sys::statfs::fstatfs(fd).ok()?;
    let fsid = st.filesystem_id();
    // SAFETY: fsid_t is a #[repr(C)] struct holding exactly `[c_int; 2]`
    // (its field is private in libc), so it has the size and layout of
    // `[i32; 2]`, and every bit pattern is a valid `[i32; 2]`.
    let raw: [i32; 2] = unsafe { std::mem::transmute::<libc::fsid_t, [i32; 2]>(fsid) };
    Some(raw)
}
