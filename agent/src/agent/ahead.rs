//! Verifying ahead of the loader: the `sigward-ahead-N` threads.
//!
//! A plugin host that finds its plugins by walking a directory opens them
//! one after another, and each first open waits for a verification. When a
//! worker has verified a file someone waited for, these threads verify the
//! other files of its directory with the same extension, in name order,
//! before anyone opens them:
//! the host's next opens find their verdicts cached, and the files the
//! kernel may answer (see [`crate::kcache`]) never raise an event at all.
//!
//! A verification ahead is an ordinary verification: the same
//! [`check::evaluate_in_watched`], the same symbolic-link guard, and the
//! same [`settle`]: the writers' check, a cache entry for the stamp, link
//! count, policy generation, names epoch (read before the file was opened)
//! and path it was made for, and the same kernel-cache rules. Only nobody
//! waits for it: nothing is answered and nothing is recorded. An open of a
//! file refused ahead finds the cached refusal, which a worker answers and
//! records as any other. No event waits for a verification ahead: one for
//! a file being verified ahead is verified by a worker (at the workers'
//! priority), and a file a worker is verifying is not verified ahead. Only
//! files the kernel names as listed are verified: never through a
//! symbolic link (a directory swapped for one after it was offered).
//!
//! Bounds, so that speculation never delays what someone waits for:
//! * as many threads as the small lane has workers, at the large lane's
//!   lower priority ([`crate::lanes::LARGE_LANE_NICE`]): a directory's
//!   files are shared among them, so that a loader waiting for a worker
//!   leaves its CPU to them;
//! * a directory is taken up once per policy generation, at most
//!   `agent.verify_ahead` of its files, each at most
//!   [`crate::lanes::LARGE_FILE`] bytes and read within the small lane's
//!   budget; at most [`QUEUE`] directories and [`FILES`] files wait, newest
//!   first, and the oldest are dropped;
//! * the rest of a directory is given up as soon as more jobs wait for
//!   the workers than there are workers, and when the agent stops or the
//!   policy changes.

use std::collections::{HashSet, VecDeque};
use std::ffi::OsString;
use std::hash::{BuildHasher, RandomState};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::stat::FileStat;
use sigward_policy::config::Mode;

use crate::cache::Probe;
use crate::check;
use crate::config::Engine;
use crate::files::{is_regular, Stamp};
use crate::lanes::{Lane, LaneWatch};

use super::events::names_epoch;
use super::guards::{alias_of, alias_refusal};
use super::workers::{settle, Seen, Verifying};
use super::{InflightKey, Shared};

/// Directories waiting to be taken up (the oldest are dropped).
const QUEUE: usize = 64;

/// Files of the directories taken up, waiting to be verified (the oldest
/// directories' are dropped).
const FILES: usize = 4_096;

/// Directories remembered as taken up; the memory is cleared when full.
const SEEN: usize = 65_536;

/// How often an idle thread looks whether the agent is stopping.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// A directory or file to verify ahead, under the policy generation that
/// asked.
struct Item {
    path: PathBuf,
    engine: Arc<Engine>,
    /// For a directory: the extension of the file whose verification
    /// offered it (`None`: it had none). Only its files with the same
    /// extension are verified ahead: a loader walking a directory opens
    /// files of one kind (`*.py`, `*.so`, executables without one).
    ext: Option<OsString>,
}

/// What waits: directories offered but not listed yet, and the files of
/// those listed, both newest first (a loader that entered a directory
/// is about to open its files; one it left is done with them).
#[derive(Default)]
struct Work {
    dirs: VecDeque<Item>,
    files: VecDeque<Item>,
    /// Directories already offered (a keyed hash of the path, so that the
    /// memory does not grow with the names a tree's writer chooses), with
    /// the generation they were offered under.
    seen: HashSet<(u64, u64)>,
}

/// Directories offered by the workers, and the threads' work.
#[derive(Default)]
pub(super) struct Ahead {
    work: Mutex<Work>,
    ready: Condvar,
    /// The key of the hash in `Work::seen`, random per agent.
    hasher: RandomState,
}

impl Ahead {
    fn lock(&self) -> MutexGuard<'_, Work> {
        self.work.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes every idle thread (the agent is stopping).
    pub(super) fn wake_all(&self) {
        self.ready.notify_all();
    }

    /// A worker verified `path` for someone who waited: the rest of its
    /// directory is worth verifying ahead, once per generation. Never
    /// blocks for longer than a queue operation.
    pub(super) fn offer(&self, engine: &Arc<Engine>, path: &Path) {
        if engine.policy.agent.verify_ahead == 0 {
            return;
        }
        let Some(dir) = path.parent() else { return };
        if engine.tree_for(dir).is_none() || engine.mode_for(dir) == Mode::Off {
            return;
        }
        let key = self.hasher.hash_one(dir);
        let mut w = self.lock();
        if w.seen.len() >= SEEN {
            w.seen.clear();
        }
        if !w.seen.insert((key, engine.generation)) {
            return;
        }
        w.dirs.push_front(Item {
            path: dir.to_path_buf(),
            engine: engine.clone(),
            ext: path.extension().map(|e| e.to_os_string()),
        });
        w.dirs.truncate(QUEUE);
        drop(w);
        self.ready.notify_one();
    }
}

/// One thread: verifies listed files, and lists directories when no file
/// waits, until the agent stops. `workers`: the small lane's threads.
pub(super) fn ahead_loop(shared: &Arc<Shared>, workers: usize) {
    crate::lanes::lower_priority();
    let mut buf = vec![0u8; crate::hash::BUFFER_SIZE];
    let ahead = &shared.ahead;
    let mut w = ahead.lock();
    while !shared.stopping.load(Ordering::SeqCst) {
        if let Some(file) = w.files.pop_front() {
            drop(w);
            if !give_up(shared, &file.engine, workers) {
                // A panic in a verification must not take the thread down
                // (nobody waits for it: nothing else to answer).
                let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    verify(shared, &file.engine, &file.path, &mut buf);
                }));
                if caught.is_err() {
                    tracing::warn!(
                        "verification ahead of {} failed unexpectedly (a bug): skipped",
                        file.path.display()
                    );
                }
            }
            w = ahead.lock();
        } else if let Some(dir) = w.dirs.pop_front() {
            drop(w);
            let files =
                std::panic::catch_unwind(|| list(shared, &dir, workers)).unwrap_or_default();
            w = ahead.lock();
            for f in files.into_iter().rev() {
                w.files.push_front(f);
            }
            w.files.truncate(FILES);
            ahead.ready.notify_all();
        } else {
            w = match ahead.ready.wait_timeout(w, IDLE_POLL) {
                Ok((w, _)) => w,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

/// Whether to give up verifying ahead for now.
fn give_up(shared: &Shared, engine: &Engine, workers: usize) -> bool {
    shared.stopping.load(Ordering::SeqCst)
        || shared.engine().generation != engine.generation
        || shared.metrics.jobs_in_flight() > u64::try_from(workers).unwrap_or(u64::MAX)
}

/// The files of `dir` worth verifying (named like the one that offered
/// it), in name order.
fn list(shared: &Shared, dir: &Item, workers: usize) -> Vec<Item> {
    let engine = &dir.engine;
    if give_up(shared, engine, workers) {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(&dir.path) else {
        return Vec::new();
    };
    // Regular files by their directory entry (no stat), neither signature
    // files nor AiSOC manifests (which are not verified by themselves).
    let mut names: Vec<OsString> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name())
        .filter(|n| {
            let p = Path::new(n);
            p.extension() == dir.ext.as_deref()
                && !check::is_sig_file(p)
                && !check::is_aisoc_manifest(&dir.path.join(p))
        })
        .take(engine.policy.agent.verify_ahead)
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| Item {
            path: dir.path.join(name),
            engine: engine.clone(),
            ext: None,
        })
        .collect()
}

/// Opens `path` for reading only if it is a regular file that the
/// kernel names `path` in the agent's own mount namespace: never through a
/// symbolic link, whether the last component or a directory above it that
/// a tree's writer swapped in after the directory was offered (the
/// verdict must be cached under the file's real name, and read with its
/// real tree's trust). The path is opened `O_PATH` first and the same
/// inode reopened through it: opening a FIFO or a device could block or
/// have effects.
fn open_regular(path: &Path) -> Option<(OwnedFd, FileStat)> {
    let probe = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let st = nix::sys::stat::fstat(probe.as_fd()).ok()?;
    if !is_regular(&st) {
        return None;
    }
    if crate::files::fd_path(probe.as_fd()).as_deref() != Some(path) {
        tracing::debug!(
            "{}: not verified ahead: the kernel names the file otherwise (a symbolic link on \
             the way, or it moved)",
            path.display()
        );
        return None;
    }
    let fd = crate::files::reopen_for_reading(probe.as_fd()).ok()?;
    Some((fd, st))
}

/// Verifies one file ahead, unless it is not worth it (not in a tree in
/// force, empty or large, already cached or being verified for an event)
/// or names are moving. No event ever waits for it: one that comes for
/// the same file meanwhile is verified by a worker, at the workers'
/// priority (a few hundred microseconds of work done twice, rather than an
/// opener waiting on a thread of lower priority).
fn verify(shared: &Arc<Shared>, engine: &Arc<Engine>, path: &Path, buf: &mut [u8]) {
    if engine.tree_for(path).is_none() {
        return;
    }
    let mode = engine.mode_for(path);
    if mode == Mode::Off {
        return;
    }
    // Read before the file is opened, as the event thread reads it before
    // the name: a rename after this bumps it, and the entry then no longer
    // answers without its path being read again.
    let Some(epoch) = names_epoch(shared) else {
        return;
    };
    let Some((fd, st)) = open_regular(path) else {
        return;
    };
    let stamp = Stamp::of(&st);
    if stamp.size == 0 || Lane::for_size(stamp.size) != Lane::Small {
        return;
    }
    let probe = Probe {
        stamp,
        nlink: st.st_nlink,
        generation: engine.generation,
    };
    let key = InflightKey {
        stamp,
        generation: engine.generation,
        path: path.to_path_buf(),
    };
    if shared.cache.holds(&probe) || being_verified(shared, &key) {
        return;
    }
    shared.metrics.verified_ahead();
    let _chain = crate::kcache::ChainMemo::begin();
    let mut watch = Verifying {
        lane: LaneWatch::new(&shared.stopping, Lane::Small, || true),
        shared,
        engine,
    };
    let outcome = match alias_of(shared, &stamp) {
        Some(link) => alias_refusal(&link, path),
        None => {
            match check::evaluate_in_watched(engine, fd.as_fd(), path, false, buf, &mut watch) {
                Ok(outcome) => outcome,
                Err(why) => {
                    tracing::debug!("verification ahead of {} given up: {why}", path.display());
                    return;
                }
            }
        }
    };
    let seen = Seen {
        stamp,
        nlink: st.st_nlink,
        epoch,
    };
    settle(shared, engine, fd.as_fd(), path, seen, mode, outcome);
}

/// Whether a worker is verifying `key` for an event now.
fn being_verified(shared: &Shared, key: &InflightKey) -> bool {
    shared
        .inflight
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains_key(key)
}
