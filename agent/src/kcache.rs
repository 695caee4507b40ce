//! The kernel-side verdict cache: ignore marks on verified files.
//!
//! Once a file is verified and allowed, an evictable ignore mark for
//! `FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM` on its inode lets the kernel allow
//! later opens and executions without an event, at the cost of a plain
//! `open`. The kernel clears the mark when the file is modified (it is set
//! without `FAN_MARK_IGNORED_SURV_MODIFY`: `write` and `truncate` raise
//! `FS_MODIFY`; stores through a shared writable mapping do not, which is
//! why only files no untrusted user can open for writing qualify), drops it when the
//! inode leaves memory (`FAN_MARK_EVICTABLE`, so marks never pin inodes),
//! and the agent removes every mark on reload ([`KernelCache::drop_all`])
//! before the new policy answers.
//!
//! A mark is only set where nothing but a trusted owner can change what it
//! vouches for ([`eligibility`]):
//!
//! * the file: a regular file with one link, owned by a trusted owner
//!   (`agent.kernel_cache_owners`, root by default), with no group or other
//!   write permission and no ACL entry granting write to anyone else: a
//!   user who could open it for writing could change it through a shared
//!   writable mapping, whose stores raise no modify event;
//! * its directory: owned by a trusted owner and not writable by others (or
//!   sticky), so no one else can rename it away, rename another file over
//!   its name, or add a second name (the mark binds an inode, while
//!   signatures bind a name); and `fs.protected_hardlinks = 1`, so no one
//!   can link a file they cannot write into a directory of theirs;
//! * every directory above, up to the tree's root: owned by a trusted owner
//!   and not writable by others, so no one else can move a directory
//!   holding the file into another tree with another policy (moving a
//!   directory to a new parent needs write permission on it);
//! * a local filesystem (ext2/3/4, xfs, btrfs, tmpfs, f2fs), where content
//!   only changes through this kernel;
//! * the verdict: verified by a trusted key without a validity window, in a
//!   policy that does not record allowed opens.
//!
//! The marks are tracked by file handle (never by an open descriptor, which
//! would pin the inode), so that a reload can find each inode again with
//! `open_by_handle_at(O_PATH)` and remove its mark.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::sys::stat::FileStat;

use crate::fan::{FsId, Groups};
use crate::files::Stamp;

/// Filesystems whose content changes only through the local kernel.
#[allow(clippy::unnecessary_cast)] // the constants' type differs by target
const LOCAL_FILESYSTEMS: [i64; 5] = [
    libc::EXT4_SUPER_MAGIC as i64, // also ext2 and ext3
    libc::XFS_SUPER_MAGIC as i64,
    libc::BTRFS_SUPER_MAGIC as i64,
    libc::TMPFS_MAGIC as i64,
    libc::F2FS_SUPER_MAGIC as i64,
];

/// Name of the access ACL extended attribute.
pub(crate) const ACL_XATTR: &str = "system.posix_acl_access";

/// Why a verified file is not kernel-cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Ineligible {
    /// Not a regular file.
    #[error("not a regular file")]
    NotRegular,
    /// More than one name.
    #[error("file has more than one link")]
    Links,
    /// Owned by an untrusted user.
    #[error("file owner is not in agent.kernel_cache_owners")]
    Owner,
    /// Writable by group or others.
    #[error("file is writable by group or others")]
    Writable,
    /// An ACL grants write.
    #[error("file has an ACL entry granting write")]
    Acl,
    /// A directory's owner is untrusted.
    #[error("a directory above the file is owned by someone not in agent.kernel_cache_owners")]
    DirOwner,
    /// Others may rename entries of the directory.
    #[error("directory is writable by group or others and not sticky")]
    DirWritable,
    /// An ACL on a directory grants write.
    #[error("a directory above the file has an ACL entry granting write")]
    DirAcl,
    /// A directory above the file's own is writable by others.
    #[error("a directory above the file's own is writable by group or others")]
    AncestorWritable,
    /// Not a local filesystem.
    #[error("not on a local filesystem")]
    Filesystem,
    /// The file or its directory could not be examined.
    #[error("cannot examine the file or its directory")]
    Unknown,
}

/// Facts about a file and its directory, gathered by [`examine`].
#[derive(Debug)]
pub struct Facts<'a> {
    /// `fstat` of the file.
    pub file: &'a FileStat,
    /// Its directory, then each directory above it up to the tree's root.
    pub dirs: &'a [DirFacts],
    /// Whether an ACL on the file grants write to anyone but the owner.
    pub file_acl_writes: bool,
    /// `statfs` `f_type` of the file's filesystem.
    pub fs_magic: i64,
}

/// Facts about one directory above a file.
#[derive(Clone, Debug)]
pub struct DirFacts {
    /// `lstat` of the directory.
    pub st: FileStat,
    /// Whether an ACL on it grants write to anyone but the owner.
    pub acl_writes: bool,
}

/// Whether a verified file may get an ignore mark (see the module docs).
pub fn eligibility(facts: &Facts<'_>, owners: &[u32]) -> Result<(), Ineligible> {
    let f = facts.file;
    if f.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Ineligible::NotRegular);
    }
    if f.st_nlink != 1 {
        return Err(Ineligible::Links);
    }
    untrusted_writers(facts, owners)?;
    if !LOCAL_FILESYSTEMS.contains(&facts.fs_magic) {
        return Err(Ineligible::Filesystem);
    }
    Ok(())
}

/// Whether only the trusted `owners` can change the file, or what it is
/// called: the file is theirs, with no group or other write permission and
/// no ACL entry granting write; its directory is theirs and not writable by
/// others unless sticky (so no one else can rename it away, or another file
/// over its name); every directory above it up to the tree's root is theirs
/// and not writable by others (so no one else can move it into another
/// tree). The rule of kernel-cached verdicts, and of trees that refuse
/// untrusted writers (`protect.untrusted_writers`).
pub fn untrusted_writers(facts: &Facts<'_>, owners: &[u32]) -> Result<(), Ineligible> {
    let f = facts.file;
    if !owners.contains(&f.st_uid) {
        return Err(Ineligible::Owner);
    }
    if f.st_mode & 0o022 != 0 {
        return Err(Ineligible::Writable);
    }
    if facts.file_acl_writes {
        return Err(Ineligible::Acl);
    }
    if facts.dirs.is_empty() {
        return Err(Ineligible::Unknown);
    }
    for (i, d) in facts.dirs.iter().enumerate() {
        let st = &d.st;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(Ineligible::Unknown);
        }
        if !owners.contains(&st.st_uid) {
            return Err(Ineligible::DirOwner);
        }
        // In the file's own directory a sticky bit keeps others from
        // renaming the file; above it, anyone who can write a directory
        // can move it (and the file with it) elsewhere.
        let sticky = i == 0 && st.st_mode & libc::S_ISVTX != 0;
        if st.st_mode & 0o022 != 0 && !sticky {
            return Err(if i == 0 {
                Ineligible::DirWritable
            } else {
                Ineligible::AncestorWritable
            });
        }
        if d.acl_writes && !sticky {
            return Err(Ineligible::DirAcl);
        }
    }
    Ok(())
}

/// Whether an access ACL (the `system.posix_acl_access` value) grants
/// write to anyone but the owning user. Conservative: the mask is not
/// applied, and an ACL that cannot be parsed grants write.
pub fn acl_grants_write(value: &[u8]) -> bool {
    const VERSION: u32 = 2;
    const USER_OBJ: u16 = 0x01;
    const MASK: u16 = 0x10;
    const WRITE: u16 = 0x02;
    let Some((head, entries)) = value.split_first_chunk::<4>() else {
        return true;
    };
    if u32::from_le_bytes(*head) != VERSION || entries.len() % 8 != 0 {
        return true;
    }
    entries.chunks_exact(8).any(|e| {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let perm = u16::from_le_bytes([e[2], e[3]]);
        tag != USER_OBJ && tag != MASK && perm & WRITE != 0
    })
}

/// Gathers [`Facts`] for the file open as `fd` under `path`, in the tree
/// rooted at `root`, and runs `rule` on them ([`eligibility`] or
/// [`untrusted_writers`]).
pub fn examine(
    fd: BorrowedFd<'_>,
    path: &Path,
    root: &Path,
    owners: &[u32],
    rule: fn(&Facts<'_>, &[u32]) -> Result<(), Ineligible>,
) -> Result<(), Ineligible> {
    let file = nix::sys::stat::fstat(fd).map_err(|_| Ineligible::Unknown)?;
    let parent = path.parent().ok_or(Ineligible::Unknown)?;
    let dirs = CHAIN.with(|memo| {
        let mut memo = memo.borrow_mut();
        match memo.as_mut() {
            Some(m) => {
                if m.chain
                    .as_ref()
                    .is_none_or(|(d, r, _)| d != parent || r != root)
                {
                    m.chain = Some((
                        parent.to_path_buf(),
                        root.to_path_buf(),
                        chain(parent, root),
                    ));
                }
                m.chain
                    .as_ref()
                    .map_or(Err(Ineligible::Unknown), |(_, _, c)| c.clone())
            }
            None => chain(parent, root),
        }
    })?;
    let fs = nix::sys::statfs::fstatfs(fd).map_err(|_| Ineligible::Unknown)?;
    #[allow(clippy::unnecessary_cast)] // f_type's width differs by target
    let fs_magic = fs.filesystem_type().0 as i64;
    let facts = Facts {
        file: &file,
        dirs: &dirs,
        file_acl_writes: acl_writes(|buf| fd_xattr(fd, buf))?,
        fs_magic,
    };
    rule(&facts, owners)
}

/// The facts of `dir` and every directory above it up to `root`.
fn chain(dir: &Path, root: &Path) -> Result<Vec<DirFacts>, Ineligible> {
    let mut dirs = Vec::new();
    let mut dir = dir;
    loop {
        let st = nix::sys::stat::lstat(dir).map_err(|_| Ineligible::Unknown)?;
        let acl_writes = acl_writes(|buf| rustix::fs::lgetxattr(dir, ACL_XATTR, buf))?;
        dirs.push(DirFacts { st, acl_writes });
        if dir == root {
            return Ok(dirs);
        }
        dir = match dir.parent() {
            Some(d) if d.starts_with(root) => d,
            _ => return Err(Ineligible::Unknown),
        };
    }
}

/// The directory chain [`examine`] read last on this thread, while a
/// [`ChainMemo`] lives.
struct Memo {
    chain: Option<(PathBuf, PathBuf, Result<Vec<DirFacts>, Ineligible>)>,
}

thread_local! {
    static CHAIN: std::cell::RefCell<Option<Memo>> = const { std::cell::RefCell::new(None) };
}

/// While it lives, [`examine`] on this thread reads the directories above
/// a file once: one verification asks about them up to three times (its
/// tree refuses untrusted writers, a companion is marked for reads, the
/// verified file goes to the kernel), always for the same directory, within
/// a few hundred microseconds. A change meanwhile is one only a trusted
/// owner can make (the chain qualifies only if nobody else can write those
/// directories). Dropped at the end of the verification.
pub struct ChainMemo(());

impl ChainMemo {
    /// Starts remembering (on this thread).
    pub fn begin() -> ChainMemo {
        CHAIN.with(|m| *m.borrow_mut() = Some(Memo { chain: None }));
        ChainMemo(())
    }
}

impl Drop for ChainMemo {
    fn drop(&mut self) {
        CHAIN.with(|m| *m.borrow_mut() = None);
    }
}

/// The access ACL of the file open as `fd`, also an `O_PATH` descriptor
/// (which `fgetxattr` refuses: read through its magic link instead).
fn fd_xattr(fd: BorrowedFd<'_>, buf: &mut [u8]) -> rustix::io::Result<usize> {
    match rustix::fs::fgetxattr(fd, ACL_XATTR, &mut *buf) {
        Err(rustix::io::Errno::BADF) => {
            use std::os::fd::AsRawFd;
            let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
            rustix::fs::getxattr(link.as_str(), ACL_XATTR, buf)
        }
        other => other,
    }
}

/// Whether an ACL on the file open as `fd` grants write to anyone but its
/// owner (an ACL that cannot be read counts as granting it).
pub fn file_acl_writes(fd: BorrowedFd<'_>) -> bool {
    acl_writes(|buf| fd_xattr(fd, buf)).unwrap_or(true)
}

/// Reads an access ACL with `read` and tells whether it grants write (no
/// ACL: no).
pub(crate) fn acl_writes(
    read: impl FnOnce(&mut [u8]) -> rustix::io::Result<usize>,
) -> Result<bool, Ineligible> {
    let mut buf = [0u8; 1024];
    match read(&mut buf[..]) {
        Ok(n) => Ok(acl_grants_write(buf.get(..n).unwrap_or_default())),
        Err(rustix::io::Errno::NODATA | rustix::io::Errno::NOTSUP) => Ok(false),
        // Larger than any ACL worth kernel-caching.
        Err(rustix::io::Errno::RANGE) => Ok(true),
        Err(_) => Err(Ineligible::Unknown),
    }
}

/// A file handle, enough to find an inode again without a name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Handle {
    fsid: FsId,
    handle_type: i32,
    bytes: Box<[u8]>,
    /// The file's ctime when it was verified: a rename or link changes it.
    ctime: (i64, i64),
}

/// Removes the ignore mark of the inode behind a handle, found again with
/// `open_by_handle_at(O_PATH)` (which raises no fanotify event and needs no
/// permission on the file). `None` when the handle's filesystem is not
/// marked; `ENOENT`/`ESTALE` when the inode is gone (and its mark with it).
fn unmark(groups: &Groups, h: &Handle) -> Option<nix::Result<()>> {
    groups.with_mount(&h.fsid, |mount| {
        let fd = crate::handle::open_handle(
            mount,
            h.handle_type,
            &h.bytes,
            libc::O_PATH | libc::O_CLOEXEC,
        )?;
        groups.unignore(fd.as_fd())
    })
}

/// Settings, from the policy in force.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// `agent.kernel_cache`.
    pub enabled: bool,
    /// `agent.kernel_cache_owners`, resolved to uids.
    pub owners: Vec<u32>,
    /// Most marks tracked at once.
    pub limit: usize,
}

struct State {
    /// The generation whose verdicts may be marked; `None` while marks are
    /// being dropped and until the next generation is in force.
    open_for: Option<u64>,
    settings: Settings,
    marks: HashMap<(u64, u64), Handle>,
}

/// What [`KernelCache::drop_all`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Marks removed.
    pub removed: usize,
    /// Marks that could not be removed one by one.
    pub failed: usize,
}

/// The set of ignore marks the agent has placed.
pub struct KernelCache {
    state: Mutex<State>,
    placed: AtomicU64,
    removed: AtomicU64,
}

impl KernelCache {
    /// A cache that places no marks until [`KernelCache::open`].
    pub fn new() -> Self {
        KernelCache {
            state: Mutex::new(State {
                open_for: None,
                settings: Settings::default(),
                marks: HashMap::new(),
            }),
            placed: AtomicU64::new(0),
            removed: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Allows marks for verdicts of `generation`, under `settings`.
    pub fn open(&self, generation: u64, settings: Settings) {
        let mut s = self.lock();
        s.open_for = Some(generation);
        s.settings = settings;
    }

    /// Whether marks may be placed for verdicts of `generation` (under the
    /// settings it was [`open`](KernelCache::open)ed with: that
    /// generation's).
    pub fn accepts(&self, generation: u64) -> bool {
        let s = self.lock();
        s.open_for == Some(generation) && s.settings.enabled
    }

    /// Marks in place (as far as the agent knows: the kernel may have
    /// dropped some since).
    pub fn len(&self) -> usize {
        self.lock().marks.len()
    }

    /// Whether no mark is in place.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks placed since start.
    pub fn placed(&self) -> u64 {
        self.placed.load(Ordering::Relaxed)
    }

    /// Marks removed by [`KernelCache::drop_all`] since start.
    pub fn removed(&self) -> u64 {
        self.removed.load(Ordering::Relaxed)
    }

    /// Puts an ignore mark on the file open as `fd` (verified as `stamp`
    /// under `generation`, which [`KernelCache::accepts`]).
    /// The caller has checked the verdict and [`examine`]d the file.
    ///
    /// After the mark is in place the file is `fstat`ed again: if it
    /// changed since `stamp` (a write that finished before the mark existed
    /// raises no event that could clear it), the mark is removed.
    pub fn mark(
        &self,
        groups: &Groups,
        generation: u64,
        fd: BorrowedFd<'_>,
        stamp: &Stamp,
    ) -> Result<(), Errno> {
        self.place(groups, generation, fd, stamp, |g| g.ignore(fd))
    }

    /// Puts an ignore mark for reads only (`FAN_OPEN_PERM`) on a companion
    /// file (`FILE.sig`, ...) that [`examine`] found [`eligibility`] for,
    /// before the agent reads it: neither that read nor later reads of it
    /// raise an event, while an exec still does (and is refused). The
    /// agent allows such reads anyway (only trusted owners can write the
    /// file); the mark is tracked, removed and re-checked like any other.
    /// `probe` may be an `O_PATH` descriptor.
    pub fn mark_companion(
        &self,
        groups: &Groups,
        generation: u64,
        probe: BorrowedFd<'_>,
        stamp: &Stamp,
    ) -> Result<(), Errno> {
        self.place(groups, generation, probe, stamp, |g| g.ignore_reads(probe))
    }

    fn place(
        &self,
        groups: &Groups,
        generation: u64,
        fd: BorrowedFd<'_>,
        stamp: &Stamp,
        ignore: impl FnOnce(&Groups) -> nix::Result<()>,
    ) -> Result<(), Errno> {
        let (handle_type, bytes, _) = crate::handle::handle_of(fd)?;
        let fsid = crate::fan::fsid_of(fd).ok_or(Errno::EIO)?;
        let handle = Handle {
            fsid,
            handle_type,
            bytes,
            ctime: stamp.ctime,
        };
        // Without a directory of this filesystem the handle could not be
        // opened again to remove the mark.
        if groups.with_mount(&fsid, |_| ()).is_none() {
            return Err(Errno::EXDEV);
        }
        let mut s = self.lock();
        if s.open_for != Some(generation) || !s.settings.enabled {
            return Err(Errno::ESTALE);
        }
        let key = (stamp.dev, stamp.ino);
        if s.marks.len() >= s.settings.limit && !s.marks.contains_key(&key) {
            // Full (the count includes marks the kernel has dropped since):
            // make room by removing one mark for good, so that every mark in
            // the kernel stays one the agent can find again.
            let victim = s.marks.keys().next().copied();
            if let Some((v, h)) = victim.and_then(|v| s.marks.remove(&v).map(|h| (v, h))) {
                if !matches!(
                    unmark(groups, &h),
                    Some(Ok(()) | Err(Errno::ENOENT | Errno::ESTALE))
                ) {
                    // Cannot remove it: keep tracking it, place no more.
                    s.marks.insert(v, h);
                    return Err(Errno::ENOSPC);
                }
            }
        }
        ignore(groups)?;
        let now = nix::sys::stat::fstat(fd).map(|st| Stamp::of(&st));
        if now.as_ref() != Ok(stamp) {
            let _ = groups.unignore(fd);
            return Err(Errno::EAGAIN);
        }
        s.marks.insert(key, handle);
        self.placed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Removes the mark of a file that just got a new name (`FAN_CREATE`
    /// from `link`, or `FAN_MOVED_TO` from `rename`; only a trusted owner can
    /// do either to a marked file): the mark binds an inode, the signature
    /// a name. `file` may be an `O_PATH` descriptor.
    ///
    /// A mark placed after the new name appeared (the file was verified
    /// under it: its ctime, which `rename` and `link` update, is the one
    /// verified) stays.
    pub fn forget(&self, groups: &Groups, file: BorrowedFd<'_>, st: &nix::sys::stat::FileStat) {
        let key = (st.st_dev, st.st_ino);
        let mut s = self.lock();
        let renamed = s
            .marks
            .get(&key)
            .is_some_and(|h| h.ctime != (st.st_ctime, st.st_ctime_nsec));
        if renamed {
            s.marks.remove(&key);
            let _ = groups.unignore(file);
        }
    }

    /// Removes the mark of one inode, if the agent placed one. `file` may be
    /// an `O_PATH` descriptor.
    pub fn drop_inode(&self, groups: &Groups, file: BorrowedFd<'_>) {
        let Ok(st) = nix::sys::stat::fstat(file) else {
            return;
        };
        let mut s = self.lock();
        if s.marks.remove(&(st.st_dev, st.st_ino)).is_some() {
            let _ = groups.unignore(file);
        }
    }

    /// Removes every mark the agent placed and stops placing marks until the
    /// next [`KernelCache::open`]. A mark that cannot be found again one by
    /// one is counted in `failed`; the caller then flushes the group.
    pub fn drop_all(&self, groups: &Groups) -> Dropped {
        let mut s = self.lock();
        s.open_for = None;
        let mut out = Dropped::default();
        for (_, h) in s.marks.drain() {
            match unmark(groups, &h) {
                Some(Ok(())) => out.removed += 1,
                // The inode is gone, and its mark with it.
                Some(Err(Errno::ENOENT | Errno::ESTALE)) => {}
                Some(Err(_)) | None => out.failed += 1,
            }
        }
        s.marks.shrink_to(0);
        self.removed.fetch_add(
            u64::try_from(out.removed).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        out
    }
}

impl Default for KernelCache {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `fs.protected_hardlinks` is 1.
pub fn hardlinks_protected() -> bool {
    std::fs::read_to_string("/proc/sys/fs/protected_hardlinks").is_ok_and(|s| s.trim() == "1")
}

#[cfg(test)]
mod tests;
