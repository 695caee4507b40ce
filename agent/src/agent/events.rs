//! The event thread: reads the permission groups, answers at once what needs
//! no verification, and hands the rest to the workers ([`handle_event`]).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use sigward_policy::config::{Mode, UntrustedWriters};
use sigward_policy::Reason;

use crate::cache::{Entry, Fast, Hit, Probe, NO_EPOCH};
use crate::check::Outcome;
use crate::fan::PermEvent;
use crate::files::Stamp;
use crate::lanes::{Lane, Lanes};
use crate::metrics::Metrics;
use crate::verdict::Why;
use crate::verdict::{failure_decision, Decision};
use crate::via::Via;
use crate::{check, names};

use super::marks::{leave_outside_file_to_kernel, link_target_of};
use super::pending::{respond, Job, Pending};
use super::workers::{
    name_settled, only_trusted_can_write, unix_nanos, unwritten, NAME_EXEMPTION_REFUSED,
};
use super::Shared;

/// Size of the event thread's read buffer: a few hundred events per read.
pub(super) const EVENT_BUFFER: usize = 16 * 1024;

pub(super) fn event_loop(shared: &Arc<Shared>, tx: Lanes<Job>) {
    let mut tx = Some(tx);
    // Reused for every read: the hit path allocates nothing.
    let mut buf = vec![0u8; EVENT_BUFFER];
    let mut batch = Vec::with_capacity(EVENT_BUFFER / 24);
    loop {
        shared.metrics.beat();
        let stopping = shared.stopping.load(Ordering::SeqCst);
        drain_events(shared, tx.as_ref(), &mut buf, &mut batch);
        if stopping && tx.is_some() {
            // Everything queued when the stop began has been read and
            // answered or handed to a worker. Dropping the sender lets the
            // workers finish; from now on events are answered here: the
            // agent's own opens and cached allows are allowed, anything else
            // gets the fail-closed answer of its mode.
            tx = None;
            continue;
        }
        if tx.is_none() && shared.workers_done.load(Ordering::SeqCst) {
            drain_events(shared, None, &mut buf, &mut batch);
            return;
        }
        drain_inherited(shared, tx.as_ref(), &mut buf, &mut batch);
        // SAFETY: a descriptor of the inherited group, which this thread
        // alone closes (in `read_inherited`), after this poll.
        let inherited = shared
            .groups
            .inherited_fd()
            .map(|fd| unsafe { BorrowedFd::borrow_raw(fd) });
        let mut fds = [
            PollFd::new(shared.groups.perm.as_fd(), PollFlags::POLLIN),
            PollFd::new(shared.wake.as_fd(), PollFlags::POLLIN),
            PollFd::new(
                inherited.unwrap_or_else(|| shared.wake.as_fd()),
                PollFlags::POLLIN,
            ),
        ];
        // While stopping, the wake descriptor stays readable; poll the
        // group alone with a short timeout to notice the workers finishing.
        // Never wait longer than the heartbeat interval: an idle loop still
        // beats, so the watchdog tells idle from wedged.
        let (fds, timeout) = if tx.is_some() {
            let n = if inherited.is_some() { 3 } else { 2 };
            (&mut fds[..n], PollTimeout::from(shared.beat_ms))
        } else {
            (&mut fds[..1], PollTimeout::from(50u16))
        };
        match nix::poll::poll(fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

/// Reads and handles the events queued in the permission group of the
/// agent that ran before (see [`Groups::adopt`]), like any other; the
/// group is closed once it is retired and its last event is answered.
pub(super) fn drain_inherited(
    shared: &Arc<Shared>,
    tx: Option<&Lanes<Job>>,
    buf: &mut [u8],
    batch: &mut Vec<PermEvent>,
) {
    let retired = shared.inherited_retired.load(Ordering::SeqCst);
    loop {
        match shared.groups.read_inherited(buf, batch, retired) {
            Ok(()) if batch.is_empty() => return,
            Ok(()) => {
                let mut names = Names::default();
                for ev in batch.drain(..) {
                    handle_event(shared, tx, ev, &mut names);
                }
            }
            Err(_) => return,
        }
    }
}

/// How long the event thread keeps reading after the queue ran empty,
/// before it sleeps in `poll`.
///
/// A process that opens one plugin usually opens the next one (or its
/// signature, or execs it) a few microseconds after its answer. Finding
/// that event by reading again spares the wake-up from `poll`, which on a
/// virtual machine costs tens of microseconds, and the opener waits for it.
/// The price is at most this much CPU time each time a burst of events
/// ends; an idle agent does not spin.
pub(super) const SPIN: Duration = Duration::from_micros(50);

pub(super) fn drain_events(
    shared: &Arc<Shared>,
    tx: Option<&Lanes<Job>>,
    buf: &mut [u8],
    batch: &mut Vec<PermEvent>,
) {
    let mut idle_since: Option<Instant> = None;
    loop {
        match shared.groups.read_perm(buf, batch) {
            Ok(()) if batch.is_empty() => {
                // Every event read from now on was queued after this moment.
                shared.queue_empty_at.store(unix_nanos(), Ordering::SeqCst);
                // Only after events were handled, and not while stopping.
                let Some(since) = idle_since.filter(|_| tx.is_some()) else {
                    return;
                };
                if since.elapsed() >= SPIN {
                    return;
                }
                std::hint::spin_loop();
            }
            Ok(()) => {
                // A steady stream of events keeps the loop in here: beat
                // per batch, so that a busy loop is not taken for a wedged
                // one.
                shared.metrics.beat();
                let mut names = Names::default();
                for ev in batch.drain(..) {
                    handle_event(shared, tx, ev, &mut names);
                }
                idle_since = Some(Instant::now());
            }
            Err(Errno::EMFILE | Errno::ENFILE | Errno::ENOMEM) => {
                // The kernel could not give the agent a descriptor for an
                // event, and denied it itself. Counted here (an atomic, never
                // blocking); the audit thread reports it.
                shared.auditor.event_lost();
                return;
            }
            Err(_) => return,
        }
    }
}

/// Whether the names of files in protected trees are known to be stable
/// for the events of one read, and the names epoch if so; found out once
/// per batch, when the first event needs it.
#[derive(Default)]
pub(super) struct Names(Option<Option<u64>>);

impl Names {
    pub(super) fn epoch(&mut self, shared: &Shared) -> Option<u64> {
        *self.0.get_or_insert_with(|| names_epoch(shared))
    }
}

/// The current names epoch, or `None` if a directory rename may not be
/// accounted for yet.
///
/// A rename that finished before an open began has its notification queued
/// before the open's permission event, hence before the read that returned
/// it: so after that read, the rename is either still queued in the
/// notification group, or held by the watcher (`watch_busy`, set before its
/// read and cleared after it bumped the epoch), or counted in the epoch.
pub(super) fn names_epoch(shared: &Shared) -> Option<u64> {
    if shared.groups.notify_pending() || shared.watch_busy.load(Ordering::SeqCst) {
        return None;
    }
    Some(shared.names_epoch.load(Ordering::SeqCst))
}

pub(super) fn handle_event(
    shared: &Arc<Shared>,
    tx: Option<&Lanes<Job>>,
    ev: PermEvent,
    names: &mut Names,
) {
    let m = &shared.metrics;
    m.event();
    if ev.pid() == shared.self_pid {
        // The agent's own opens (signature files in marked directories).
        m.verdict(Decision::Allow, Why::OwnOpen);
        respond(shared, &ev, true);
        return;
    }
    let engine = shared.engine();
    if !ev.version_ok() {
        let allow = engine.policy.mode != Mode::Enforce;
        m.verdict(failure_decision(allow), Why::Error);
        respond(shared, &ev, allow);
        return;
    }
    let exec = ev.is_exec();
    let pending = Pending::new(shared.clone(), ev, engine.policy.mode);
    let Some(fd) = pending.fd() else { return };
    let st = match nix::sys::stat::fstat(fd) {
        Ok(st) => st,
        Err(_) => return, // Pending answers fail-closed on drop
    };
    let stamp = Stamp::of(&st);
    let is_dir = (st.st_mode & libc::S_IFMT) == libc::S_IFDIR;
    if is_dir {
        pending.allow_fast(Why::Directory);
        return;
    }
    let regular = crate::files::is_regular(&st);
    if regular && stamp.size == 0 && only_trusted_can_write(&engine, fd, &st) {
        // Nothing to run in an empty file that only trusted owners can
        // fill; deployment tools create files empty before writing them.
        // Never cached: checked again on every later open. An empty file
        // others can write goes to a worker (see `empty_file`).
        pending.allow_fast(Why::Empty);
        return;
    }
    let probe = Probe {
        stamp,
        nlink: st.st_nlink,
        generation: engine.generation,
    };
    // The hit path: no path, no /proc, no allocation.
    // Entries of files others may write answer only while nobody writes.
    if let Some(why) = shared
        .cache
        .fast(&probe, exec, names.epoch(shared), || unwritten(fd))
    {
        m.cache_hit();
        pending.allow_fast(why);
        return;
    }
    // Read before the path, so that an entry made from this path is never
    // newer than the names it saw.
    let epoch = names.epoch(shared).unwrap_or(NO_EPOCH);
    // The file's name in the agent's own mount namespace: never the name
    // the opener's mounts show, which the opener may have chosen.
    // On a filesystem whose mark raises opens outside the trees too, the
    // mount the open went through tells whether it was opened in a tree.
    let outside = shared.filesystem_marks.outside(stamp.dev);
    let via = outside.as_ref().map_or(Via::Unknown, |o| {
        shared.vias.of(fd, pending.pid(), &o.dev, &o.trees)
    });
    let resolved = names::resolve(&shared.groups, &shared.own_ns, fd, &st, pending.pid());
    let resolved = match (resolved, via) {
        (Ok(now), Via::Tree) if engine.tree_for(&now).is_none() => {
            Err(names::Unresolved::LeftTree { now })
        }
        (Err(_), Via::Disjoint) => {
            // Opened through a mount that shows no tree: not the agent's
            // business, whatever the file is called.
            m.cache_miss();
            pending.allow_fast(Why::OutsideTrees);
            return;
        }
        (r, _) => r,
    };
    let path = match resolved {
        Ok(path) => path,
        Err(why) => {
            // Without a name its tree, mode and signature cannot be found:
            // refused in the strictest mode of the policy, recorded by
            // device and inode, and never cached.
            m.cache_miss();
            let mode = engine.strictest_mode();
            let mut pending = pending;
            pending.fail_allow = mode != Mode::Enforce;
            if mode == Mode::Off {
                pending.allow_fast(Why::ModeOff);
                return;
            }
            let job = Job {
                path: why.shown(stamp.dev, stamp.ino),
                stamp,
                nlink: st.st_nlink,
                epoch: NO_EPOCH,
                exec,
                mode,
                // An empty file needs no name: it is allowed while nobody
                // else writes or reads it (see `empty_file`), unless a tree
                // refuses untrusted writers (its tree cannot be told).
                known: (!(regular
                    && stamp.size == 0
                    && engine
                        .trees
                        .iter()
                        .all(|t| t.untrusted_writers != UntrustedWriters::Refuse)))
                .then(|| {
                    Arc::new(Outcome::refused(
                        Reason::Unsigned,
                        format!("the file's name cannot be resolved: {why}"),
                        PathBuf::new(),
                    ))
                }),
                cached: false,
                name_settled: false,
                engine,
                pending,
            };
            send(m, tx, job);
            return;
        }
    };
    if let Some(o) = outside.as_deref() {
        if via != Via::Tree && engine.tree_for(&path).is_none() && !link_target_of(shared, &path) {
            // Raised by the filesystem mark of a tree that is a mount of its
            // own, for a file that was not opened in a tree: nothing crosses
            // that mount.
            m.cache_miss();
            leave_outside_file_to_kernel(shared, &engine, fd, &st, &path, o);
            pending.allow_fast(Why::OutsideTrees);
            return;
        }
    }
    let mode = engine.mode_for(&path);
    let mut pending = pending;
    pending.fail_allow = mode != Mode::Enforce;
    let remember = |fast: Fast, path: &Path| {
        shared.cache.insert(Entry {
            stamp,
            nlink: st.st_nlink,
            generation: engine.generation,
            epoch,
            path: path.into(),
            fast,
            valid_until: None,
            outcome: None,
            // Mode off: nothing is checked, so nothing to watch.
            watch_writers: false,
        });
    };
    if mode == Mode::Off {
        remember(Fast::both(Why::ModeOff), &path);
        pending.allow_fast(Why::ModeOff);
        return;
    }
    let sig_path = check::sig_path_for(&path);
    let known = if !regular {
        Some(Arc::new(Outcome::refused(
            Reason::Unsigned,
            "not a regular file: only regular files can carry a signature",
            sig_path,
        )))
    } else if check::is_sig_file(&path) && !(regular && stamp.size == 0 && !exec) {
        // (An empty one others can write goes to `empty_file` like any
        // other empty file: creating a signature file opens it empty.)
        let trusted = pending
            .fd()
            .is_some_and(|fd| only_trusted_can_write(&engine, fd, &st));
        if !exec && (trusted || name_settled(shared, &st)) {
            // Loaders and operators read signature files. An exemption,
            // not a verdict: never cached, decided again on every open.
            pending.allow_fast(Why::SignatureRead);
            return;
        }
        Some(Arc::new(Outcome::refused(
            Reason::Invalid,
            if exec {
                "signature files are never executed"
            } else {
                NAME_EXEMPTION_REFUSED
            },
            sig_path,
        )))
    } else {
        None
    };
    let mut cached = false;
    let known = match known {
        Some(k) => Some(k),
        None => match shared.cache.lookup(&probe, &path, exec, epoch, || {
            pending.fd().is_some_and(unwritten)
        }) {
            Some(Hit::Allow(why)) => {
                m.cache_hit();
                pending.allow_fast(why);
                return;
            }
            Some(Hit::Outcome(hit)) => {
                m.cache_hit();
                cached = true;
                Some(hit)
            }
            None => {
                m.cache_miss();
                None
            }
        },
    };
    let job = Job {
        pending,
        path,
        stamp,
        nlink: st.st_nlink,
        epoch,
        exec,
        mode,
        known,
        cached,
        name_settled: name_settled(shared, &st),
        engine,
    };
    send(m, tx, job);
}

/// Hands a job to the workers of its lane (by the file's size). Unbounded
/// channels: sending never blocks. Without a sender (the agent is
/// stopping) or without workers, the job is dropped and its Pending answers
/// with the fail-closed answer of its mode.
pub(super) fn send(m: &Metrics, tx: Option<&Lanes<Job>>, job: Job) {
    if let Some(tx) = tx {
        m.job_sent();
        let lane = Lane::for_size(job.stamp.size);
        if tx.send(lane, job).is_err() {
            m.job_done();
        }
    }
}
