//! The two fanotify groups and the marking of protected trees.
//!
//! * The permission group (`FAN_CLASS_CONTENT`) receives `FAN_OPEN_PERM` and
//!   `FAN_OPEN_EXEC_PERM` for every file in a marked directory
//!   (`FAN_EVENT_ON_CHILD`). Marks are inode marks on each directory of each
//!   tree, never mount marks; a filesystem mark ([`Groups::mark_filesystem`])
//!   only where [`crate::fsmarks`] finds every tree on that filesystem
//!   covered by a mount of its own.
//! * The notification group (`FAN_CLASS_NOTIF`, `FAN_REPORT_DFID_NAME`)
//!   receives `FAN_CREATE` and `FAN_MOVED_TO` for subdirectories, so that new
//!   directories and trees moved in are marked without a restart.
//!
//! A directory gets its notification mark before its permission mark and
//! both before it is listed: a subdirectory created while the walk runs is
//! either listed or reported, never missed.

use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Mutex;

use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::fanotify::{
    EventFFlags, Fanotify, FanotifyResponse, InitFlags, MarkFlags, MaskFlags, Response,
};
use nix::sys::stat::{Mode as FileMode, SFlag};

/// Events the permission group asks for on every protected directory.
pub fn perm_mask() -> MaskFlags {
    MaskFlags::FAN_OPEN_PERM | MaskFlags::FAN_OPEN_EXEC_PERM | MaskFlags::FAN_EVENT_ON_CHILD
}

/// Events the notification group asks for, on directories only
/// (`FAN_ONDIR`): new entries (to mark them), and every rename that moves a
/// directory (a marked directory moved itself, or a subdirectory moved in
/// or out), since a directory rename changes the names of the files below
/// it without touching them (see [`crate::cache`]).
pub fn notify_mask() -> MaskFlags {
    MaskFlags::FAN_CREATE
        | MaskFlags::FAN_MOVED_TO
        | MaskFlags::FAN_MOVED_FROM
        | MaskFlags::FAN_MOVE_SELF
        | MaskFlags::FAN_ONDIR
}

/// Events a kernel ignore mark suppresses on a verified file.
pub fn ignore_mask() -> MaskFlags {
    MaskFlags::FAN_OPEN_PERM | MaskFlags::FAN_OPEN_EXEC_PERM
}

/// Size of `struct fanotify_event_metadata`.
pub(crate) const METADATA_LEN: usize = 24;

// Native-endian fields of event records; `None` past the end.
pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
pub(crate) fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
pub(crate) fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// One permission event: the descriptor the kernel opened on the file for
/// the agent, and who is asking. Dropping it closes the descriptor; it does
/// not answer the event (see `agent::Pending`).
#[derive(Debug)]
pub struct PermEvent {
    fd: OwnedFd,
    pid: i32,
    mask: u64,
    version_ok: bool,
    /// Read from the group of the agent that ran before (see
    /// [`Groups::adopt`]): answered there.
    inherited: bool,
}

impl PermEvent {
    /// The descriptor on the file being opened.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The opening process.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Whether this is `FAN_OPEN_EXEC_PERM` (an `execve` or `uselib`).
    pub fn is_exec(&self) -> bool {
        self.mask & libc::FAN_OPEN_EXEC_PERM != 0
    }

    /// Whether the kernel's metadata version is the one this build knows.
    pub fn version_ok(&self) -> bool {
        self.version_ok
    }
}

/// Parses one `read` of the permission group into `out` (not cleared).
///
/// Records without a descriptor (`FAN_NOFD`, queue overflow) are skipped;
/// a buffer that cannot be framed ends the parse. Records whose metadata
/// version is unknown are still returned (their layout of `fd` and `pid` has
/// not changed since fanotify began), flagged so that the caller answers
/// them with the fail-closed answer.
///
/// The descriptors in `buf` must be ones the kernel just installed for this
/// process and that nothing else owns: `buf` must come straight from a
/// `read` of a fanotify group, parsed once.
pub fn parse_perm_events(buf: &[u8], out: &mut Vec<PermEvent>) {
    let mut off = 0usize;
    while let Some(ev) = buf.get(off..).filter(|e| e.len() >= METADATA_LEN) {
        let (Some(len), Some(meta), Some(mask), Some(fd), Some(pid)) = (
            u32_at(ev, 0),
            u16_at(ev, 6),
            u64_at(ev, 8),
            i32_at(ev, 16),
            i32_at(ev, 20),
        ) else {
            return;
        };
        let len = len as usize;
        if len < METADATA_LEN || len > ev.len() || usize::from(meta) > len {
            return;
        }
        off += len;
        if fd < 0 {
            continue;
        }
        // SAFETY: the kernel installed `fd` in this process's descriptor
        // table for this event, and nothing else refers to it: the caller
        // parses each buffer from `read` exactly once, so exactly one
        // OwnedFd owns it (and closes it on drop).
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        out.push(PermEvent {
            fd,
            pid,
            mask,
            version_ok: ev.get(4).copied() == Some(libc::FANOTIFY_METADATA_VERSION),
            inherited: false,
        });
    }
}

/// Reads the permission events queued now in `group` into `out` (cleared
/// first; empty when nothing was queued).
fn read_group(group: BorrowedFd<'_>, buf: &mut [u8], out: &mut Vec<PermEvent>) -> nix::Result<()> {
    out.clear();
    let n = loop {
        match nix::unistd::read(group, buf) {
            Ok(n) => break n,
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Ok(()),
            Err(e) => return Err(e),
        }
    };
    parse_perm_events(buf.get(..n).unwrap_or_default(), out);
    Ok(())
}

/// Filesystem id as reported in fanotify FID records.
pub type FsId = [i32; 2];

/// Both groups, and one open directory per filesystem seen (needed to turn
/// the notification group's file handles back into directories).
pub struct Groups {
    /// The permission group.
    pub perm: Fanotify,
    /// The notification group.
    pub notify: Fanotify,
    /// Per filesystem, one directory per mount of it: (mount id, directory).
    mounts: Mutex<HashMap<FsId, Vec<(i32, OwnedFd)>>>,
    /// The permission group of the agent that ran before this one, kept
    /// alive across the restart by systemd's file descriptor store (see
    /// [`Groups::adopt`]); `None` once its last event is answered.
    inherited: Mutex<Option<std::sync::Arc<Fanotify>>>,
    /// Events read from the inherited group and not answered yet.
    inherited_pending: std::sync::atomic::AtomicUsize,
}

/// Whether to add or remove marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Mark.
    Add,
    /// Unmark.
    Remove,
}

/// What a walk did.
#[derive(Debug, Default)]
pub struct WalkStats {
    /// Directories marked or unmarked.
    pub dirs: usize,
    /// Symbolic links found in the walked directories (when marking).
    pub symlinks: Vec<PathBuf>,
    /// FIFOs, sockets and device nodes found there (when marking).
    pub special: Vec<PathBuf>,
    /// Problems, one readable line each.
    pub errors: Vec<String>,
}

impl Groups {
    /// Creates both groups.
    pub fn init() -> nix::Result<Groups> {
        let common = InitFlags::FAN_CLOEXEC
            | InitFlags::FAN_NONBLOCK
            | InitFlags::FAN_UNLIMITED_QUEUE
            | InitFlags::FAN_UNLIMITED_MARKS;
        let perm = Fanotify::init(
            common | InitFlags::FAN_CLASS_CONTENT,
            EventFFlags::O_RDONLY | EventFFlags::O_LARGEFILE | EventFFlags::O_CLOEXEC,
        )?;
        let notify = Fanotify::init(
            common
                | InitFlags::FAN_CLASS_NOTIF
                | InitFlags::from_bits_retain(libc::FAN_REPORT_DFID_NAME),
            EventFFlags::O_RDONLY | EventFFlags::O_CLOEXEC,
        )?;
        Ok(Groups {
            perm,
            notify,
            mounts: Mutex::new(HashMap::new()),
            inherited: Mutex::new(None),
            inherited_pending: std::sync::atomic::AtomicUsize::new(0),
        })
    }

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

    /// Reads the permission events queued now into `out` (cleared first),
    /// through the caller's buffer: no allocation once `out` has grown to
    /// the largest batch. An empty `out` means nothing was queued.
    pub fn read_perm(&self, buf: &mut [u8], out: &mut Vec<PermEvent>) -> nix::Result<()> {
        read_group(self.perm.as_fd(), buf, out)
    }

    /// Answers a permission event, in the group it was read from. A failed
    /// write cannot be helped: the kernel answers the event itself if the
    /// group goes away.
    pub fn respond(&self, ev: &PermEvent, allow: bool) {
        let response = if allow {
            Response::FAN_ALLOW
        } else {
            Response::FAN_DENY
        };
        let answer = |group: &Fanotify| {
            while let Err(Errno::EINTR) =
                group.write_response(FanotifyResponse::new(ev.fd(), response))
            {}
        };
        if !ev.inherited {
            answer(&self.perm);
            return;
        }
        if let Some(group) = self.inherited_group() {
            answer(&group);
        }
        self.inherited_pending
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn inherited_group(&self) -> Option<std::sync::Arc<Fanotify>> {
        self.inherited
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes over the permission group of the agent that ran before this
    /// one (from systemd's file descriptor store). Its marks are still in
    /// place, so every open of a protected file since that agent died has
    /// been waiting, not allowed. Events that agent had read but not
    /// answered can no longer be seen: each is answered `FAN_DENY` here
    /// (fail-closed; their openers see `EPERM` once), by answering every
    /// descriptor number below `limit`, which must happen before any event
    /// of the group is read by this agent (whose descriptor numbers would
    /// collide). Returns how many such events were answered.
    pub fn adopt(&self, group: OwnedFd, limit: i32) -> usize {
        use std::os::fd::IntoRawFd;
        // SAFETY: `group` is a fanotify group descriptor (systemd handed
        // back the one the previous agent stored under its name), owned
        // from now on by the `Fanotify`, which closes it.
        let group = unsafe { Fanotify::from_raw_fd(group.into_raw_fd()) };
        let mut answered = 0;
        for n in 0..limit {
            // SAFETY: the number is only written into the response, where
            // the kernel matches it against the events the previous agent
            // read; it is never used as a descriptor of this process.
            let fd = unsafe { BorrowedFd::borrow_raw(n) };
            if group
                .write_response(FanotifyResponse::new(fd, Response::FAN_DENY))
                .is_ok()
            {
                answered += 1;
            }
        }
        *self.inherited.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(std::sync::Arc::new(group));
        answered
    }

    /// The inherited group's descriptor, to poll, while there is one.
    pub fn inherited_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.inherited_group().map(|g| g.as_raw_fd())
    }

    /// Removes every mark of the inherited group (this agent's own marks
    /// are in place): no new event reaches it, and it is closed once the
    /// events queued there are answered (see [`Groups::read_inherited`]).
    pub fn retire_inherited(&self) {
        let Some(group) = self.inherited_group() else {
            return;
        };
        for flag in [
            MarkFlags::empty(),
            MarkFlags::FAN_MARK_MOUNT,
            MarkFlags::FAN_MARK_FILESYSTEM,
        ] {
            let _ = group.mark(
                MarkFlags::FAN_MARK_FLUSH | flag,
                MaskFlags::empty(),
                nix::fcntl::AT_FDCWD,
                None::<&Path>,
            );
        }
    }

    /// Reads the events queued in the inherited group into `out` (cleared
    /// first). When none is queued and every one read is answered, the
    /// group is closed, if `retired`.
    pub fn read_inherited(
        &self,
        buf: &mut [u8],
        out: &mut Vec<PermEvent>,
        retired: bool,
    ) -> nix::Result<()> {
        out.clear();
        let Some(group) = self.inherited_group() else {
            return Ok(());
        };
        read_group(group.as_fd(), buf, out)?;
        for ev in out.iter_mut() {
            ev.inherited = true;
        }
        self.inherited_pending
            .fetch_add(out.len(), std::sync::atomic::Ordering::SeqCst);
        if out.is_empty()
            && retired
            && self
                .inherited_pending
                .load(std::sync::atomic::Ordering::SeqCst)
                == 0
        {
            *self.inherited.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        Ok(())
    }

    /// Puts an evictable ignore mark for [`ignore_mask`] on the inode of
    /// `file`: later opens of it are allowed by the kernel without an event,
    /// until the file is modified (the mark does not survive modification),
    /// the inode is evicted from memory, or [`Groups::unignore`] removes it.
    pub fn ignore(&self, file: BorrowedFd<'_>) -> nix::Result<()> {
        let add = MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_EVICTABLE;
        match self.perm.mark(
            add | MarkFlags::FAN_MARK_IGNORE,
            ignore_mask(),
            file,
            None::<&Path>,
        ) {
            // Kernels before 6.0 know only the older flag.
            Err(Errno::EINVAL) => self.perm.mark(
                add | MarkFlags::FAN_MARK_IGNORED_MASK,
                ignore_mask(),
                file,
                None::<&Path>,
            ),
            other => other,
        }
    }

    /// Removes the ignore mark of the inode of `file` (`ENOENT` when it has
    /// none, e.g. because it was evicted). `file` may be an `O_PATH`
    /// descriptor: fanotify refuses those as a mark's object, so the inode
    /// is named through `/proc/self/fd`, a magic link to the very file.
    pub fn unignore(&self, file: BorrowedFd<'_>) -> nix::Result<()> {
        use std::os::fd::AsRawFd;
        let link = format!("/proc/self/fd/{}", file.as_raw_fd());
        let remove = |flag: MarkFlags| {
            self.perm.mark(
                MarkFlags::FAN_MARK_REMOVE | flag,
                ignore_mask(),
                nix::fcntl::AT_FDCWD,
                Some(link.as_str()),
            )
        };
        match remove(MarkFlags::FAN_MARK_IGNORE) {
            Err(Errno::EINVAL) => remove(MarkFlags::FAN_MARK_IGNORED_MASK),
            other => other,
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

    /// Whether the notification group has events queued that the watcher
    /// has not read yet.
    pub fn notify_pending(&self) -> bool {
        let mut fds = [PollFd::new(self.notify.as_fd(), PollFlags::POLLIN)];
        !matches!(nix::poll::poll(&mut fds, PollTimeout::ZERO), Ok(0))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::os::fd::AsRawFd;

    fn record(len: u32, mask: u64, fd: i32, pid: i32) -> Vec<u8> {
        let mut e = Vec::new();
        e.extend_from_slice(&len.to_ne_bytes());
        e.push(libc::FANOTIFY_METADATA_VERSION);
        e.push(0);
        e.extend_from_slice(&(METADATA_LEN as u16).to_ne_bytes());
        e.extend_from_slice(&mask.to_ne_bytes());
        e.extend_from_slice(&fd.to_ne_bytes());
        e.extend_from_slice(&pid.to_ne_bytes());
        e.resize(len as usize, 0);
        e
    }

    #[test]
    fn perm_events_are_framed_by_their_length() {
        // A descriptor this test owns, handed over as the kernel would.
        let fd = nix::unistd::dup(std::io::stdin()).unwrap();
        let raw = fd.as_raw_fd();
        std::mem::forget(fd);
        let mut buf = record(32, libc::FAN_OPEN_PERM, -1, 7);
        buf.extend(record(24, libc::FAN_OPEN_EXEC_PERM, raw, 42));
        // A truncated record ends the parse.
        buf.extend(record(24, 0, -1, 1).get(..10).unwrap());
        let mut out = Vec::new();
        parse_perm_events(&buf, &mut out);
        assert_eq!(out.len(), 1, "fd -1 is skipped, the truncated tail ignored");
        let e = &out[0];
        assert_eq!(
            (e.fd.as_raw_fd(), e.pid, e.mask, e.version_ok),
            (raw, 42, libc::FAN_OPEN_EXEC_PERM, true)
        );
    }
}
