//! The userspace verdict cache.
//!
//! One entry per inode (device, inode number), holding the version of the
//! file it was decided for, the name it was opened under, the policy
//! generation, and what may be answered from it.
//!
//! An entry answers an open when the file is the same version (size, mtime
//! and ctime: ctime is set by the kernel on every change, including
//! `chmod`, `link`, `unlink` and `rename` of the file itself, and cannot be
//! set by users), under the same policy generation, and under the same
//! name: signatures bind the name, so a hard link of a signed file under
//! another name must not inherit its verdict.
//!
//! Two lookups serve that last condition:
//!
//! * [`VerdictCache::fast`], on the event thread before anything else, needs
//!   no path at all (no `/proc` read, no allocation). It answers only for a
//!   file with a single link, whose ctime is unchanged (so it was neither
//!   renamed nor linked), while no directory above it was renamed either:
//!   the entry's *names epoch* must equal the current one. The watcher bumps
//!   the epoch on every directory rename in a protected tree, and the event
//!   thread treats names as unstable while the watcher has such events
//!   queued or in hand (see `agent::names_epoch`).
//! * [`VerdictCache::lookup`] compares the path the file was opened under,
//!   and refreshes the entry's epoch when it matches.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

use crate::check::Outcome;
use crate::files::Stamp;
use crate::metrics::unix_now;
use crate::verdict::Why;

/// Epoch of entries made while names were not known to be stable: never
/// current.
pub const NO_EPOCH: u64 = u64::MAX;

/// What the event thread may answer from an entry without a worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fast {
    /// Allow opens for reading, counted as this.
    pub open: Option<Why>,
    /// Allow executions, counted as this.
    pub exec: Option<Why>,
}

impl Fast {
    /// Both accesses allowed, counted as `why`.
    pub fn both(why: Why) -> Self {
        Fast {
            open: Some(why),
            exec: Some(why),
        }
    }

    fn for_access(self, exec: bool) -> Option<Why> {
        if exec {
            self.exec
        } else {
            self.open
        }
    }
}

/// One cached decision.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The version of the file it was made for.
    pub stamp: Stamp,
    /// The file's link count then.
    pub nlink: u64,
    /// Policy generation.
    pub generation: u64,
    /// Names epoch when the path was read ([`NO_EPOCH`] if unknown).
    pub epoch: u64,
    /// The name it was opened under.
    pub path: Box<Path>,
    /// What may be allowed on the event thread.
    pub fast: Fast,
    /// Unix time from which the entry no longer holds (a trusted key's
    /// `not_after`).
    pub valid_until: Option<u64>,
    /// The verification outcome, kept where a worker still needs it (a
    /// rejection to record, a self-signed allow, `log_allowed`); `None` for
    /// plain allows.
    pub outcome: Option<Arc<Outcome>>,
    /// Users other than the trusted owners may be able to write the file
    /// (a tree that allows them, or outside every tree): the entry answers
    /// only while nobody has the file open for writing. An open for writing
    /// goes to a worker, which drops the entry: a store through a shared
    /// mapping changes no time on some filesystems (tmpfs), so nothing else
    /// would show that the content changed.
    pub watch_writers: bool,
}

impl Entry {
    fn holds(&self, probe: &Probe) -> bool {
        self.stamp == probe.stamp
            && self.nlink == probe.nlink
            && self.generation == probe.generation
            && self.valid_until.is_none_or(|until| unix_now() < until)
    }
}

/// What identifies the file being opened now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// From `fstat` of the event's descriptor.
    pub stamp: Stamp,
    /// Link count, from the same `fstat`.
    pub nlink: u64,
    /// Policy generation in force.
    pub generation: u64,
}

/// A cache hit found by path.
#[derive(Debug)]
pub enum Hit {
    /// Allow at once.
    Allow(Why),
    /// A decision a worker finishes (records, denials).
    Outcome(Arc<Outcome>),
}

/// A bounded LRU map from inode to [`Entry`].
pub struct VerdictCache {
    inner: Mutex<LruCache<(u64, u64), Entry>>,
}

impl VerdictCache {
    /// A cache holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(LruCache::new(non_zero(capacity))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<(u64, u64), Entry>> {
        // A panic while holding the lock cannot leave the LRU inconsistent
        // in a way that matters for a cache; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The event thread's lookup without a path: an allow, when the entry
    /// holds, the file has one name, and no directory was renamed since the
    /// entry's path was read (`epoch` is the current names epoch, `None`
    /// when names may be changing right now).
    ///
    /// `unwritten` is asked, for entries that [watch
    /// writers](Entry::watch_writers) only, whether the file is open for
    /// writing nowhere.
    pub fn fast(
        &self,
        probe: &Probe,
        exec: bool,
        epoch: Option<u64>,
        unwritten: impl FnOnce() -> bool,
    ) -> Option<Why> {
        let epoch = epoch?;
        if probe.nlink != 1 {
            return None;
        }
        let mut c = self.lock();
        let e = c.get(&(probe.stamp.dev, probe.stamp.ino))?;
        if e.epoch != epoch || !e.holds(probe) {
            return None;
        }
        let why = e.fast.for_access(exec)?;
        (!e.watch_writers || unwritten()).then_some(why)
    }

    /// The lookup by path. On a match, the entry's epoch becomes `epoch`
    /// (the epoch read before `path` was), so later opens take the fast
    /// lookup again.
    pub fn lookup(
        &self,
        probe: &Probe,
        path: &Path,
        exec: bool,
        epoch: u64,
        unwritten: impl FnOnce() -> bool,
    ) -> Option<Hit> {
        let mut c = self.lock();
        let e = c.get_mut(&(probe.stamp.dev, probe.stamp.ino))?;
        if !e.holds(probe) || *e.path != *path || (e.watch_writers && !unwritten()) {
            return None;
        }
        e.epoch = epoch;
        match e.fast.for_access(exec) {
            Some(why) => Some(Hit::Allow(why)),
            None => e.outcome.clone().map(Hit::Outcome),
        }
    }

    /// Whether an entry holds for the file `probe` describes, whatever it
    /// says (the file needs no verification now).
    pub fn holds(&self, probe: &Probe) -> bool {
        self.lock()
            .peek(&(probe.stamp.dev, probe.stamp.ino))
            .is_some_and(|e| e.holds(probe))
    }

    /// Stores an entry (replacing the inode's previous one).
    pub fn insert(&self, entry: Entry) {
        self.lock().put((entry.stamp.dev, entry.stamp.ino), entry);
    }

    /// Drops the entry of one inode.
    pub fn remove(&self, inode: (u64, u64)) {
        self.lock().pop(&inode);
    }

    /// Drops everything (on reload) and applies a new capacity.
    pub fn reset(&self, capacity: usize) {
        let mut c = self.lock();
        c.clear();
        c.resize(non_zero(capacity));
    }

    /// Number of cached entries.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many entries the cache holds at most.
    pub fn capacity(&self) -> usize {
        self.lock().cap().get()
    }
}

fn non_zero(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigward_policy::{Reason, Verdict};
    use std::path::PathBuf;

    fn stamp(ino: u64, ctime: i64) -> Stamp {
        Stamp {
            dev: 1,
            ino,
            size: 10,
            mtime: (5, 0),
            ctime: (ctime, 0),
        }
    }

    fn probe(ino: u64, ctime: i64, generation: u64) -> Probe {
        Probe {
            stamp: stamp(ino, ctime),
            nlink: 1,
            generation,
        }
    }

    fn allow(ino: u64, path: &str) -> Entry {
        Entry {
            stamp: stamp(ino, 1),
            nlink: 1,
            generation: 1,
            epoch: 7,
            path: PathBuf::from(path).into_boxed_path(),
            fast: Fast::both(Why::Cached),
            valid_until: None,
            outcome: None,
            watch_writers: false,
        }
    }

    #[test]
    fn fast_lookup_needs_every_part_to_match() {
        let c = VerdictCache::new(8);
        c.insert(allow(1, "/t/a"));
        let p = probe(1, 1, 1);
        assert_eq!(c.fast(&p, false, Some(7), || true), Some(Why::Cached));
        assert_eq!(c.fast(&p, true, Some(7), || true), Some(Why::Cached));
        assert_eq!(c.fast(&p, false, None, || true), None, "names changing");
        assert_eq!(
            c.fast(&p, false, Some(8), || true),
            None,
            "a directory was renamed"
        );
        assert_eq!(
            c.fast(&probe(1, 2, 1), false, Some(7), || true),
            None,
            "ctime"
        );
        assert_eq!(
            c.fast(&probe(1, 1, 2), false, Some(7), || true),
            None,
            "generation"
        );
        assert_eq!(
            c.fast(&probe(2, 1, 1), false, Some(7), || true),
            None,
            "inode"
        );
        let linked = Probe { nlink: 2, ..p };
        assert_eq!(
            c.fast(&linked, false, Some(7), || true),
            None,
            "second name"
        );
    }

    #[test]
    fn lookup_by_path_binds_the_name_and_refreshes_the_epoch() {
        let c = VerdictCache::new(8);
        c.insert(allow(1, "/t/a"));
        let p = probe(1, 1, 1);
        assert!(c.lookup(&p, Path::new("/t/b"), false, 9, || true).is_none());
        assert_eq!(c.fast(&p, false, Some(9), || true), None);
        assert!(matches!(
            c.lookup(&p, Path::new("/t/a"), false, 9, || true),
            Some(Hit::Allow(Why::Cached))
        ));
        assert_eq!(c.fast(&p, false, Some(9), || true), Some(Why::Cached));
    }

    #[test]
    fn signature_reads_are_not_executions_and_outcomes_go_to_workers() {
        let c = VerdictCache::new(8);
        let mut e = allow(1, "/t/a.sig");
        e.fast = Fast {
            open: Some(Why::SignatureRead),
            exec: None,
        };
        c.insert(e);
        let p = probe(1, 1, 1);
        assert_eq!(
            c.fast(&p, false, Some(7), || true),
            Some(Why::SignatureRead)
        );
        assert_eq!(c.fast(&p, true, Some(7), || true), None);
        assert!(c
            .lookup(&p, Path::new("/t/a.sig"), true, 7, || true)
            .is_none());

        let mut denied = allow(2, "/t/b");
        denied.fast = Fast::default();
        denied.outcome = Some(Arc::new(Outcome::refused(
            Reason::Unsigned,
            "no signature",
            PathBuf::from("/t/b.sig"),
        )));
        c.insert(denied);
        let p = probe(2, 1, 1);
        assert_eq!(c.fast(&p, false, Some(7), || true), None);
        match c.lookup(&p, Path::new("/t/b"), false, 7, || true) {
            Some(Hit::Outcome(o)) => assert!(matches!(o.verdict, Verdict::Rejected { .. })),
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn expired_entries_do_not_hold() {
        let c = VerdictCache::new(8);
        let mut e = allow(1, "/t/a");
        e.valid_until = Some(unix_now().saturating_sub(1));
        c.insert(e);
        let p = probe(1, 1, 1);
        assert_eq!(c.fast(&p, false, Some(7), || true), None);
        assert!(c.lookup(&p, Path::new("/t/a"), false, 7, || true).is_none());
        let mut e = allow(2, "/t/b");
        e.valid_until = Some(unix_now() + 3600);
        c.insert(e);
        assert_eq!(
            c.fast(&probe(2, 1, 1), false, Some(7), || true),
            Some(Why::Cached)
        );
    }

    #[test]
    fn bounded_and_reset() {
        let c = VerdictCache::new(2);
        for i in 0..5 {
            c.insert(allow(i, "/a"));
        }
        assert_eq!(c.len(), 2);
        c.reset(4);
        assert_eq!(c.len(), 0);
        assert_eq!(c.capacity(), 4);
    }

    #[test]
    fn entries_that_watch_writers_answer_only_while_nobody_writes() {
        let c = VerdictCache::new(8);
        c.insert(Entry {
            watch_writers: true,
            ..allow(1, "/t/a")
        });
        let p = probe(1, 1, 1);
        assert_eq!(c.fast(&p, false, Some(7), || true), Some(Why::Cached));
        assert_eq!(c.fast(&p, false, Some(7), || false), None, "a writer");
        assert!(c
            .lookup(&p, Path::new("/t/a"), false, 7, || false)
            .is_none());
        assert!(c.lookup(&p, Path::new("/t/a"), false, 7, || true).is_some());
        // Entries of files only trusted owners can write never ask.
        c.insert(allow(2, "/t/b"));
        let asked = std::cell::Cell::new(false);
        let q = probe(2, 1, 1);
        assert_eq!(
            c.fast(&q, false, Some(7), || {
                asked.set(true);
                false
            }),
            Some(Why::Cached)
        );
        assert!(!asked.get());
    }
}
