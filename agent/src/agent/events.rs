//! The event thread: reads the permission groups, answers at once what needs
//! no verification, and hands the rest to the workers ([`handle_event`], which
//! carries out what [`crate::triage`] decides).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::stat::FileStat;
use sigward_policy::config::{Mode, UntrustedWriters};

use crate::cache::{Entry, Fast, Hit, Probe};
use crate::config::Engine;
use crate::fan::PermEvent;
use crate::files::Stamp;
use crate::fsmarks::Outside;
use crate::lanes::{Lane, Lanes};
use crate::metrics::Metrics;
use crate::names::{self, Unresolved};
use crate::triage::{triage, Facts, FileFacts, Lookup, Then, Triage};
use crate::verdict::Why;
use crate::via::Via;

use super::marks::{leave_outside_file_to_kernel, link_target_of};
use super::pending::{respond, Job, Pending};
use super::workers::{name_settled, only_trusted_can_write, unix_nanos, unwritten};
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
/// ends; an idle agent does not spin. A batch of the agent's own opens
/// alone (its workers and the thread verifying ahead reading files) does
/// not start the spin: nobody else waits for what follows it, and the
/// spinning would take the CPU from the very threads that opened them.
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
                let others = batch.iter().any(|ev| ev.pid() != shared.self_pid);
                for ev in batch.drain(..) {
                    handle_event(shared, tx, ev, &mut names);
                }
                if others {
                    idle_since = Some(Instant::now());
                }
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

/// Handles one event: [`triage`] decides from the facts of [`EventFacts`],
/// and this carries the decision out (answer, cache, kernel, or a job for
/// the workers).
pub(super) fn handle_event(
    shared: &Arc<Shared>,
    tx: Option<&Lanes<Job>>,
    ev: PermEvent,
    names: &mut Names,
) {
    let m = &shared.metrics;
    m.event();
    let engine = shared.engine();
    let exec = ev.is_exec();
    let mut facts = EventFacts {
        shared,
        engine: &engine,
        ev: &ev,
        names,
        st: None,
        outside: None,
    };
    let decided = triage(&mut facts);
    let (st, outside) = (facts.st, facts.outside);
    let pending = match decided {
        Triage::Respond { decision, why } => {
            m.verdict(decision, why);
            respond(shared, &ev, decision.allows());
            return;
        }
        // Pending answers fail-closed on drop.
        Triage::FailClosed => return drop(Pending::new(shared.clone(), ev, engine.policy.mode)),
        _ => Pending::new(shared.clone(), ev, engine.policy.mode),
    };
    let Some(st) = st else { return };
    let stamp = Stamp::of(&st);
    match decided {
        Triage::Respond { .. } | Triage::FailClosed => {}
        Triage::Allow { why, lookup, then } => {
            count(m, lookup);
            match then {
                Then::Nothing => {}
                Then::RememberModeOff { path, epoch } => shared.cache.insert(Entry {
                    stamp,
                    nlink: st.st_nlink,
                    generation: engine.generation,
                    epoch,
                    path: path.into(),
                    fast: Fast::both(Why::ModeOff),
                    valid_until: None,
                    outcome: None,
                    // Mode off: nothing is checked, so nothing to watch.
                    watch_writers: false,
                }),
                Then::LeaveToKernel(path) => {
                    if let (Some(fd), Some(o)) = (pending.fd(), outside.as_deref()) {
                        leave_outside_file_to_kernel(shared, &engine, fd, &st, &path, o);
                    }
                }
            }
            pending.allow_fast(why);
        }
        Triage::Verify(plan) => {
            count(m, plan.lookup);
            let mut pending = pending;
            pending.fail_allow = plan.mode != Mode::Enforce;
            let job = Job {
                pending,
                path: plan.path,
                stamp,
                nlink: st.st_nlink,
                epoch: plan.epoch,
                exec,
                mode: plan.mode,
                known: plan.known,
                cached: plan.cached,
                name_settled: plan.name_settled,
                engine,
            };
            send(m, tx, job);
        }
    }
}

fn count(m: &Metrics, lookup: Lookup) {
    match lookup {
        Lookup::None => {}
        Lookup::Hit => m.cache_hit(),
        Lookup::Miss => m.cache_miss(),
    }
}

/// The facts of one event, found out as [`triage`] asks for them: through
/// the event's descriptor, the policy in force, the caches and the mount
/// tables.
struct EventFacts<'a> {
    shared: &'a Shared,
    engine: &'a Engine,
    ev: &'a PermEvent,
    names: &'a mut Names,
    /// `fstat` of the descriptor, once asked for.
    st: Option<FileStat>,
    /// The filesystem mark's view, when the file's filesystem has one that
    /// also raises opens outside the trees.
    outside: Option<Arc<Outside>>,
}

impl EventFacts<'_> {
    fn probe(&self, st: &FileStat) -> Probe {
        Probe {
            stamp: Stamp::of(st),
            nlink: st.st_nlink,
            generation: self.engine.generation,
        }
    }
}

impl Facts for EventFacts<'_> {
    fn own_open(&self) -> bool {
        self.ev.pid() == self.shared.self_pid
    }

    fn version_ok(&self) -> bool {
        self.ev.version_ok()
    }

    fn policy_mode(&self) -> Mode {
        self.engine.policy.mode
    }

    fn strictest_mode(&self) -> Mode {
        self.engine.strictest_mode()
    }

    fn untrusted_writers_allowed_everywhere(&self) -> bool {
        self.engine
            .trees
            .iter()
            .all(|t| t.untrusted_writers != UntrustedWriters::Refuse)
    }

    fn exec(&self) -> bool {
        self.ev.is_exec()
    }

    fn file(&mut self) -> Option<FileFacts> {
        let st = nix::sys::stat::fstat(self.ev.fd()).ok()?;
        self.st = Some(st);
        let stamp = Stamp::of(&st);
        Some(FileFacts {
            dir: (st.st_mode & libc::S_IFMT) == libc::S_IFDIR,
            regular: crate::files::is_regular(&st),
            size: stamp.size,
            dev: stamp.dev,
            ino: stamp.ino,
        })
    }

    fn only_trusted_can_write(&mut self) -> bool {
        self.st
            .is_some_and(|st| only_trusted_can_write(self.engine, self.ev.fd(), &st))
    }

    fn fast_hit(&mut self) -> Option<Why> {
        let st = self.st?;
        let epoch = self.names.epoch(self.shared);
        let fd = self.ev.fd();
        // The hit path: no path, no /proc, no allocation. Entries of files
        // others may write answer only while nobody writes.
        self.shared
            .cache
            .fast(&self.probe(&st), self.ev.is_exec(), epoch, || unwritten(fd))
    }

    fn names_epoch(&mut self) -> Option<u64> {
        self.names.epoch(self.shared)
    }

    fn name(&mut self) -> (Result<PathBuf, Unresolved>, Via) {
        let Some(st) = self.st else {
            return (Err(Unresolved::Unreadable), Via::Unknown);
        };
        let (fd, pid) = (self.ev.fd(), self.ev.pid());
        // On a filesystem whose mark raises opens outside the trees too,
        // the mount the open went through tells whether it was opened in a
        // tree.
        self.outside = self.shared.filesystem_marks.outside(Stamp::of(&st).dev);
        let via = self.outside.as_ref().map_or(Via::Unknown, |o| {
            self.shared.vias.of(fd, pid, &o.dev, &o.trees)
        });
        // The name in the agent's own mount namespace: never the name the
        // opener's mounts show, which the opener may have chosen.
        let shared = self.shared;
        let name = names::resolve(&shared.groups, &shared.own_ns, fd, &st, pid);
        (name, via)
    }

    fn in_tree(&self, path: &Path) -> bool {
        self.engine.tree_for(path).is_some()
    }

    fn raised_outside(&mut self, path: &Path, via: Via) -> bool {
        self.outside.is_some()
            && via != Via::Tree
            && !self.in_tree(path)
            && !link_target_of(self.shared, path)
    }

    fn mode_for(&self, path: &Path) -> Mode {
        self.engine.mode_for(path)
    }

    fn name_settled(&mut self) -> bool {
        self.st.is_some_and(|st| name_settled(self.shared, &st))
    }

    fn lookup(&mut self, path: &Path, epoch: u64) -> Option<Hit> {
        let st = self.st?;
        let fd = self.ev.fd();
        self.shared
            .cache
            .lookup(&self.probe(&st), path, self.ev.is_exec(), epoch, || {
                unwritten(fd)
            })
    }
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
