//! The workers: verify what the event thread handed over ([`process`]),
//! decide, answer, cache and record ([`conclude`]).

use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use nix::sys::stat::FileStat;
use sigward_policy::config::{Mode, UntrustedWriters};
use sigward_policy::{Reason, Verdict};

use crate::audit::DecisionRecord;
use crate::cache::{Entry, Fast};
use crate::check::Outcome;
use crate::config::Engine;
use crate::files::Stamp;
use crate::hash::{Interrupt, Watch};
use crate::lanes::{Lane, LaneWatch};
use crate::metrics::unix_now;
use crate::triage::NAME_EXEMPTION_REFUSED;
use crate::verdict::{Decision, Judgement, Why};
use crate::{check, kcache, metrics};

use super::guards::{alias_of, alias_refusal};
use super::pending::{Job, Pending};
use super::{InflightKey, Shared, Waiter};

/// `escalate`: the large lane's queue, for the small lane's jobs that
/// outgrow it.
pub(super) fn worker_loop(
    shared: &Arc<Shared>,
    rx: &Receiver<Job>,
    lane: Lane,
    escalate: Option<&Sender<Job>>,
) {
    if lane == Lane::Large {
        crate::lanes::lower_priority();
    }
    let mut buf = vec![0u8; crate::hash::BUFFER_SIZE];
    while let Ok(job) = rx.recv() {
        // A panic in verification must not take the worker (or the agent)
        // down; the job's Pending answers fail-closed as it unwinds.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            process(shared, job, &mut buf, lane, escalate);
        }));
        shared.metrics.job_done();
    }
}

/// A claim on verifying one [`InflightKey`]: while it lives, events for
/// the same file wait on it instead of verifying again. Dropped without
/// [`Claim::finish`] (a panic), it releases the waiters, whose Pending
/// guards answer fail-closed.
pub(super) struct Claim<'a> {
    shared: &'a Shared,
    key: Option<InflightKey>,
}

impl Claim<'_> {
    pub(super) fn finish(mut self) -> Vec<Waiter> {
        self.release()
    }

    pub(super) fn release(&mut self) -> Vec<Waiter> {
        let Some(key) = self.key.take() else {
            return Vec::new();
        };
        let mut inflight = self
            .shared
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        inflight.remove(&key).unwrap_or_default()
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        drop(self.release());
    }
}

/// Claims the verification of `key`, or parks `waiter` behind the worker
/// already running it (and returns `None`).
pub(super) fn claim(
    shared: &Shared,
    key: InflightKey,
    waiter: Waiter,
) -> Option<(Claim<'_>, Waiter)> {
    let mut inflight = shared.inflight.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(waiting) = inflight.get_mut(&key) {
        waiting.push(waiter);
        shared.metrics.coalesced();
        return None;
    }
    inflight.insert(key.clone(), Vec::new());
    Some((
        Claim {
            shared,
            key: Some(key),
        },
        waiter,
    ))
}

pub(super) fn process(
    shared: &Arc<Shared>,
    job: Job,
    buf: &mut [u8],
    lane: Lane,
    escalate: Option<&Sender<Job>>,
) {
    let Job {
        pending,
        path,
        stamp,
        nlink,
        epoch,
        exec,
        mode,
        engine,
        known,
        cached,
        name_settled,
    } = job;
    if pending.fd().is_none() {
        return;
    }
    if check::is_aisoc_manifest(&path) && !exec {
        // AiSOC's loader reads the manifest before anything is verified;
        // it is covered by the bundle signature in plugin.sig.
        let trusted = pending.fd().is_some_and(|fd| {
            nix::sys::stat::fstat(fd).is_ok_and(|st| only_trusted_can_write(&engine, fd, &st))
        });
        if trusted || name_settled {
            pending.decide(Decision::Allow, Why::AisocManifest);
        } else {
            let outcome = Outcome::refused(
                Reason::Invalid,
                NAME_EXEMPTION_REFUSED,
                check::sig_path_for(&path),
            );
            conclude(shared, &engine, pending, &path, exec, mode, &outcome);
        }
        return;
    }
    // A cached rejection stays valid only while the signature files beside
    // it are unchanged: signing a file later must take effect at once.
    let known = known.filter(|k| !cached || k.evidence == check::EvidenceStamps::current(&path));
    if let Some(outcome) = known {
        conclude(shared, &engine, pending, &path, exec, mode, &outcome);
        return;
    }
    // Many processes opening one file at once: one verification.
    let key = InflightKey {
        stamp,
        generation: engine.generation,
        path,
    };
    let Some((claim, Waiter { pending, exec })) =
        claim(shared, key.clone(), Waiter { pending, exec })
    else {
        return;
    };
    let path = key.path.clone();
    let Some(fd) = pending.fd() else { return };
    let watch_writers = !refuses_untrusted_writers(&engine, &path);
    if stamp.size == 0 && watch_writers {
        // In a tree that refuses untrusted writers, `evaluate_in` refuses
        // an empty file of theirs like any other.
        shared.cache.remove((stamp.dev, stamp.ino));
        let waiters = claim.finish();
        match empty_file(fd, &stamp) {
            Ok(()) => {
                pending.decide(Decision::Allow, Why::Empty);
                for w in waiters {
                    w.pending.decide(Decision::Allow, Why::Empty);
                }
            }
            Err(detail) => {
                let outcome =
                    Outcome::refused(Reason::Tampered, detail, check::sig_path_for(&path));
                conclude(shared, &engine, pending, &path, exec, mode, &outcome);
                for w in waiters {
                    conclude(shared, &engine, w.pending, &path, w.exec, mode, &outcome);
                }
            }
        }
        return;
    }
    shared.metrics.verification();
    // Small files only: a large file's chain is read again after its
    // hashing, right before a mark.
    let _chain = (lane == Lane::Small).then(kcache::ChainMemo::begin);
    let owner = pending.pid();
    let mut watch = Verifying {
        lane: LaneWatch::new(&shared.stopping, lane, || {
            someone_waits(shared, owner, &key)
        }),
        shared,
        engine: &engine,
    };
    let outcome = match alias_of(shared, &stamp) {
        Some(link) => alias_refusal(&link, &path),
        None => match check::evaluate_in_watched(&engine, fd, &path, exec, buf, &mut watch) {
            Ok(outcome) => outcome,
            Err(why) => {
                let waiters = claim.finish();
                let job = Job {
                    pending,
                    path,
                    stamp,
                    nlink,
                    epoch,
                    exec,
                    mode,
                    engine,
                    known: None,
                    cached: false,
                    name_settled,
                };
                interrupted(shared, why, job, waiters, escalate);
                return;
            }
        },
    };
    let outcome = settle(
        shared,
        &engine,
        fd,
        &path,
        Seen {
            stamp,
            nlink,
            epoch,
        },
        mode,
        outcome,
    );
    let waiters = claim.finish();
    conclude(shared, &engine, pending, &path, exec, mode, &outcome);
    for w in waiters {
        conclude(shared, &engine, w.pending, &path, w.exec, mode, &outcome);
    }
    if lane == Lane::Small {
        shared.ahead.offer(&engine, &path);
    }
}

/// What the open file `fd` was when a verification began: its stamp and
/// link count, and the names epoch read before its name was.
#[derive(Clone, Copy, Debug)]
pub(super) struct Seen {
    pub(super) stamp: Stamp,
    pub(super) nlink: u64,
    pub(super) epoch: u64,
}

/// What follows a verification, whoever waits for it (an event's worker,
/// or nobody: [`super::ahead`]): writers turn a verified verdict into a
/// refusal (`check_writers`), a cacheable outcome is cached under the
/// stamp, link count, generation, names epoch and path it was made for
/// (anything else drops the inode's entry), and a plain allow goes to the
/// kernel where that is safe. Returns the outcome to answer with.
pub(super) fn settle(
    shared: &Shared,
    engine: &Engine,
    fd: BorrowedFd<'_>,
    path: &Path,
    seen: Seen,
    mode: Mode,
    mut outcome: Outcome,
) -> Arc<Outcome> {
    let Seen {
        stamp,
        nlink,
        epoch,
    } = seen;
    let watch_writers = !refuses_untrusted_writers(engine, path);
    check_writers(&mut outcome, fd, &stamp, watch_writers);
    if !outcome.cacheable {
        // Whatever an earlier verdict said no longer holds (a writer
        // appeared, or the file changed).
        shared.cache.remove((stamp.dev, stamp.ino));
    }
    let outcome = Arc::new(outcome);
    let plain_allow = outcome.verdict.is_verified()
        && !outcome.verdict.is_self_signed()
        && !engine.policy.audit.log_allowed;
    // Bundle data is allowed for reading only: never from the cache for an
    // exec, and never left to the kernel (an ignore mark covers execs).
    let data = outcome.bundle_data;
    if outcome.cacheable {
        shared.cache.insert(Entry {
            stamp,
            nlink,
            generation: engine.generation,
            epoch,
            path: path.into(),
            fast: if plain_allow && data {
                Fast {
                    open: Some(Why::Cached),
                    exec: None,
                }
            } else if plain_allow {
                Fast::both(Why::Cached)
            } else {
                Fast::default()
            },
            valid_until: outcome.valid_until,
            outcome: (!plain_allow || data).then(|| outcome.clone()),
            watch_writers,
        });
        // `alias` records an alias before it removes the file's cached
        // verdicts, so looking for one after the insert leaves no window
        // in which a verdict made under the other name survives it.
        if alias_of(shared, &stamp).is_some() {
            shared.cache.remove((stamp.dev, stamp.ino));
        } else if plain_allow && !data && outcome.valid_until.is_none() && mode != Mode::Off {
            kernel_cache(shared, engine, fd, path, &stamp);
        }
    }
    outcome
}

/// The agent's watch over one verification: its lane's limits
/// ([`LaneWatch`]), and the kernel marks of the companions it reads.
pub(super) struct Verifying<'a, W: Watch> {
    pub(super) lane: W,
    pub(super) shared: &'a Shared,
    pub(super) engine: &'a Engine,
}

impl<W: Watch> Watch for Verifying<'_, W> {
    fn before_read(&mut self, n: u64) -> Result<(), Interrupt> {
        self.lane.before_read(n)
    }

    /// A companion that the kernel cache would accept as a verified file
    /// (only trusted owners can change it or its name: [`kcache`]) gets an
    /// ignore mark for reads before the worker opens it: the agent allows
    /// every read of such a file (`Why::SignatureRead`), so the mark changes
    /// no answer, and the worker's own open raises no event (a round trip
    /// through the event thread per verification, otherwise).
    fn before_companion(&mut self, probe: BorrowedFd<'_>, path: &Path, st: &FileStat) {
        let (shared, engine) = (self.shared, self.engine);
        if !shared.kcache.accepts(engine.generation) {
            return;
        }
        let Some(tree) = engine.tree_for(path) else {
            return;
        };
        let owners = &engine.kernel_cache.owners;
        if kcache::examine(probe, path, &tree.root, owners, kcache::eligibility).is_err() {
            return;
        }
        let stamp = Stamp::of(st);
        if let Err(e) =
            shared
                .kcache
                .mark_companion(&shared.groups, engine.generation, probe, &stamp)
        {
            tracing::debug!("{}: no kernel ignore mark: {e}", path.display());
        }
    }
}

/// Whether a process still waits for the verification of `key`: its
/// first opener `owner`, or one of the events parked behind it.
pub(super) fn someone_waits(shared: &Shared, owner: i32, key: &InflightKey) -> bool {
    if !crate::opener::gone(owner) {
        return true;
    }
    let parked: Vec<i32> = {
        let inflight = shared.inflight.lock().unwrap_or_else(|p| p.into_inner());
        inflight
            .get(key)
            .map(|w| w.iter().map(|w| w.pending.pid()).collect())
            .unwrap_or_default()
    };
    parked.into_iter().any(|pid| !crate::opener::gone(pid))
}

/// A verification given up without a verdict (nothing is cached). A job
/// of the small lane that reads more than its lane allows goes on in the
/// large lane, with the events parked behind it; otherwise (the agent is
/// stopping, nobody waits any more) every event gets the fail-closed answer
/// of its mode as its Pending drops.
pub(super) fn interrupted(
    shared: &Shared,
    why: crate::hash::Interrupt,
    job: Job,
    waiters: Vec<Waiter>,
    escalate: Option<&Sender<Job>>,
) {
    tracing::debug!("verification of {} interrupted: {why}", job.path.display());
    let escalate = escalate.filter(|_| {
        why == crate::hash::Interrupt::OverBudget && !shared.stopping.load(Ordering::SeqCst)
    });
    let Some(large) = escalate else { return };
    let again = |pending: Pending, exec: bool| Job {
        pending,
        path: job.path.clone(),
        stamp: job.stamp,
        nlink: job.nlink,
        epoch: job.epoch,
        exec,
        mode: job.mode,
        engine: job.engine.clone(),
        known: None,
        cached: false,
        name_settled: job.name_settled,
    };
    let mut jobs: Vec<Job> = waiters
        .into_iter()
        .map(|w| again(w.pending, w.exec))
        .collect();
    jobs.push(job);
    for job in jobs {
        shared.metrics.job_sent();
        if large.send(job).is_err() {
            shared.metrics.job_done();
        }
    }
}

/// A verified file that another process has open for writing (or mapped
/// shared and writable) can change after the check without any event: it
/// is refused, naming the writers. A file whose only writer is the opener
/// itself (its descriptor is not installed while its open is checked) is
/// allowed, but its verdict is not cached. See [`crate::writers`].
///
/// With `late_writers` (a tree that allows untrusted writers, or a file
/// outside every tree), an open for writing is refused while another
/// process has the file open or mapped: whatever that process already
/// loaded or will read next would change under it, unchecked.
pub(super) fn check_writers(
    outcome: &mut Outcome,
    fd: BorrowedFd<'_>,
    stamp: &Stamp,
    late_writers: bool,
) {
    if !outcome.verdict.is_verified() || crate::writers::open_for_writing(fd) != Some(true) {
        return;
    }
    outcome.cacheable = false;
    let found = crate::writers::writers(stamp.dev, stamp.ino, 4);
    let (found, what) = if !found.is_empty() {
        (found, "the file is open for writing by")
    } else if late_writers {
        let held = crate::writers::holders(stamp.dev, stamp.ino, 4);
        if held.is_empty() {
            return;
        }
        (held, "this open is for writing while the file is in use by")
    } else {
        return;
    };
    outcome.verdict = Verdict::reject(
        Reason::Tampered,
        format!(
            "{what} {}: its content can change after this check",
            describe_writers(&found)
        ),
        outcome.verdict.key(),
    );
}

/// `pid N (fd 3, /usr/bin/python3.11), ...`
pub(super) fn describe_writers(found: &[crate::writers::Writer]) -> String {
    let who: Vec<String> = found
        .iter()
        .map(|w| {
            let exe = crate::opener::exe(w.pid);
            format!(
                "pid {} ({}{})",
                w.pid,
                w.how,
                exe.map(|e| format!(", {e}")).unwrap_or_default()
            )
        })
        .collect();
    who.join(", ")
}

/// An empty file that users other than the trusted owners can write (in a
/// tree that allows them, or outside every tree): nothing to run now, but
/// it could be filled after the check. Allowed only when no other process
/// has it open for writing, and, when this open is itself for writing
/// (creating or filling it), while no other process has it open at all.
fn empty_file(fd: BorrowedFd<'_>, stamp: &Stamp) -> Result<(), String> {
    match crate::writers::open_for_writing(fd) {
        Some(false) => Ok(()),
        None => Err(
            "an empty file that others can write, and whether it is open for writing cannot be \
             told (no lease on this filesystem)"
                .into(),
        ),
        Some(true) => {
            let found = crate::writers::writers(stamp.dev, stamp.ino, 4);
            if !found.is_empty() {
                return Err(format!(
                    "an empty file open for writing by {}: it can be filled after this check",
                    describe_writers(&found)
                ));
            }
            let held = crate::writers::holders(stamp.dev, stamp.ino, 4);
            if !held.is_empty() {
                return Err(format!(
                    "this open is for writing while the file is in use by {}: it would fill a \
                     file they read, unchecked",
                    describe_writers(&held)
                ));
            }
            Ok(())
        }
    }
}

/// Whether the file at `path` is in a tree that refuses untrusted writers
/// (`protect.untrusted_writers`, "refuse" by default).
pub(super) fn refuses_untrusted_writers(engine: &Engine, path: &Path) -> bool {
    engine
        .tree_for(path)
        .is_some_and(|t| t.untrusted_writers == UntrustedWriters::Refuse)
}

/// How long before the permission queue was last seen empty a file must
/// have last changed for its name to count as settled: covers the time
/// between an opener's path lookup and its event entering the queue.
pub(super) const NAME_SETTLE: Duration = Duration::from_secs(2);

/// Nanoseconds since the Unix epoch, now.
pub(super) fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Whether the file's name cannot have changed since it was opened. A
/// rename (or link, or unlink) sets the file's ctime, which nobody can set
/// otherwise. Every event read now was queued after the queue was last
/// seen empty, and its opener looked the name up shortly before that, so a
/// file whose ctime is older than that moment (less [`NAME_SETTLE`]) was
/// not renamed after its opener looked it up: the name the agent reads is
/// the one the opener used. Name-based exemptions (reading a signature
/// file or an AiSOC manifest) rest on it for files others can write.
pub(super) fn name_settled(shared: &Shared, st: &FileStat) -> bool {
    let ctime = u64::try_from(st.st_ctime)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(st.st_ctime_nsec).unwrap_or(0));
    let settle = u64::try_from(NAME_SETTLE.as_nanos()).unwrap_or(u64::MAX);
    ctime.saturating_add(settle) < shared.queue_empty_at.load(Ordering::SeqCst)
}

/// Whether no process has the file open for writing (a lease probe: one
/// `fcntl` pair, no `/proc`).
pub(super) fn unwritten(fd: BorrowedFd<'_>) -> bool {
    crate::writers::open_for_writing(fd) == Some(false)
}

/// Whether only trusted owners can write the file: theirs, no group or
/// other write bit, no ACL entry granting write.
pub(super) fn only_trusted_can_write(engine: &Engine, fd: BorrowedFd<'_>, st: &FileStat) -> bool {
    engine.trusted_owner(st.st_uid) && st.st_mode & 0o022 == 0 && !kcache::file_acl_writes(fd)
}

/// Puts a kernel ignore mark on a file just verified and allowed, where
/// that is safe (see [`crate::kcache`]).
pub(super) fn kernel_cache(
    shared: &Shared,
    engine: &Engine,
    fd: BorrowedFd<'_>,
    path: &Path,
    stamp: &Stamp,
) {
    if !shared.kcache.accepts(engine.generation) {
        return;
    }
    let Some(tree) = engine.tree_for(path) else {
        return;
    };
    if let Err(e) = kcache::examine(
        fd,
        path,
        &tree.root,
        &engine.kernel_cache.owners,
        kcache::eligibility,
    ) {
        tracing::debug!("{}: no kernel ignore mark: {e}", path.display());
        return;
    }
    if let Err(e) = shared
        .kcache
        .mark(&shared.groups, engine.generation, fd, stamp)
    {
        tracing::debug!("{}: no kernel ignore mark: {e}", path.display());
    }
    // A link made meanwhile: `alias` may have looked for a mark before
    // this one existed.
    if alias_of(shared, stamp).is_some() {
        shared.kcache.drop_inode(&shared.groups, fd);
    }
}

/// Answers one event with a verification outcome, and records it.
pub(super) fn conclude(
    shared: &Arc<Shared>,
    engine: &Engine,
    pending: Pending,
    path: &Path,
    exec: bool,
    mode: Mode,
    outcome: &Outcome,
) {
    let log_allowed = engine.policy.audit.log_allowed;
    let j = if outcome.bundle_data {
        Judgement::of_bundle_data(&outcome.verdict, exec, mode, log_allowed)
    } else {
        Judgement::of(&outcome.verdict, mode, log_allowed)
    };
    if !j.record {
        pending.decide(j.decision, j.why);
        return;
    }
    let pid = pending.pid();
    // Before the answer: the opener is still blocked in `open`, so its pid
    // is still its own.
    let opener = crate::opener::describe(pid);
    if j.decision != Decision::Allow {
        shared.metrics.denial(metrics::Denial {
            time: unix_now(),
            decision: j.decision,
            path: path.to_path_buf(),
            reason: j.why.as_str(),
            detail: j.detail.clone(),
            pid,
            exe: opener.exe.clone(),
        });
    }
    pending.decide(j.decision, j.why);
    let signer = check::signer(engine, &outcome.verdict);
    let access = if exec { "exec" } else { "open" };
    let tree = engine.tree_for(path).map(|t| t.root.clone());
    shared.auditor.record(DecisionRecord {
        reason: j.reason,
        detail: j.detail,
        pid,
        opener,
        tree,
        sha256: outcome.sha256.map(hex::encode),
        sig_path: Some(outcome.sig_path.clone()),
        key: outcome.verdict.key().map(|k| k.to_string()),
        format: outcome.verdict.format().map(|f| f.name()),
        signer,
        host_warnings: j.warnings,
        ..DecisionRecord::new(
            j.decision,
            path.to_path_buf(),
            access,
            mode,
            engine.generation,
        )
    });
}
