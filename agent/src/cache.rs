//! The verdict cache.
//!
//! Keyed by everything that identifies one version of one file under one
//! name and one policy: device, inode, size, mtime, ctime, the policy
//! generation and the path. ctime is set by the kernel on every change and
//! cannot be set by users, so an in-place rewrite with `touch -r` restoring
//! the mtime still misses; a reload starts a new generation, so no verdict
//! made under the old trust is served; and the path makes a hard link of a
//! signed file under another name a miss (signatures bind the name).

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

use crate::check::{Outcome, Stamp};

/// Cache key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    /// File identity and version.
    pub stamp: Stamp,
    /// Policy generation.
    pub generation: u64,
    /// Path the file was opened under.
    pub path: PathBuf,
}

/// A bounded LRU map from [`Key`] to verification outcomes.
pub struct VerdictCache {
    inner: Mutex<LruCache<Key, Arc<Outcome>>>,
}

impl VerdictCache {
    /// A cache holding at most `capacity` verdicts.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(LruCache::new(non_zero(capacity))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<Key, Arc<Outcome>>> {
        // A panic while holding the lock cannot leave the LRU inconsistent
        // in a way that matters for a cache; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached outcome for `key`.
    pub fn get(&self, key: &Key) -> Option<Arc<Outcome>> {
        self.lock().get(key).cloned()
    }

    /// Stores an outcome.
    pub fn insert(&self, key: Key, outcome: Arc<Outcome>) {
        self.lock().put(key, outcome);
    }

    /// Drops everything (on reload) and applies a new capacity.
    pub fn reset(&self, capacity: usize) {
        let mut c = self.lock();
        c.clear();
        c.resize(non_zero(capacity));
    }

    /// Number of cached verdicts.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// How many verdicts the cache holds at most.
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
    use sigward_policy::Verdict;

    fn outcome() -> Arc<Outcome> {
        Arc::new(Outcome {
            verdict: Verdict::verified(
                sigward_policy::Fingerprint::of_raw_key(&[1; 32]),
                sigward_policy::Format::Native,
                None,
            ),
            sha256: None,
            sig_path: PathBuf::from("/x.sig"),
            evidence: Default::default(),
            cacheable: true,
        })
    }

    fn key(ino: u64, ctime: i64, generation: u64, path: &str) -> Key {
        Key {
            stamp: Stamp {
                dev: 1,
                ino,
                size: 10,
                mtime: (5, 0),
                ctime: (ctime, 0),
            },
            generation,
            path: PathBuf::from(path),
        }
    }

    #[test]
    fn every_key_part_matters() {
        let c = VerdictCache::new(8);
        c.insert(key(1, 1, 1, "/a"), outcome());
        assert!(c.get(&key(1, 1, 1, "/a")).is_some());
        assert!(c.get(&key(1, 2, 1, "/a")).is_none(), "ctime");
        assert!(c.get(&key(1, 1, 2, "/a")).is_none(), "generation");
        assert!(c.get(&key(1, 1, 1, "/b")).is_none(), "path");
        assert!(c.get(&key(2, 1, 1, "/a")).is_none(), "inode");
    }

    #[test]
    fn bounded_and_reset() {
        let c = VerdictCache::new(2);
        for i in 0..5 {
            c.insert(key(i, 1, 1, "/a"), outcome());
        }
        assert_eq!(c.len(), 2);
        c.reset(4);
        assert_eq!(c.len(), 0);
    }
}
