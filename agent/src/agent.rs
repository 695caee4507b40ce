//! The running agent: threads, event handling, reload and shutdown.
//!
//! Threads:
//! * **events**: reads the permission group, answers at once what needs no
//!   verification (the agent's own opens, directories, empty files, reads of
//!   signature files, off mode, cached allows) and hands everything else to
//!   the workers. It never blocks on verification, disk or logging.
//! * **workers**: hash, verify, answer, and queue audit records, in two
//!   lanes: small files never wait behind large ones, and a verification
//!   stops when the agent stops or nobody waits for it any more (see
//!   [`crate::lanes`]).
//! * **watcher**: marks new directories in protected trees.
//! * **mounts**: follows the agent's mount table and takes a tree's
//!   filesystem mark away (or places it) when mounts change (see
//!   [`crate::fsmarks`]).
//! * **views**: reports writable overlays over a tree (see
//!   [`crate::views`]).
//! * **log** and **notify**: write records to journald or stderr (see
//!   [`crate::logging`]) and notifications to systemd (see
//!   [`crate::notify`]).
//! * **audit**: writes records (see [`crate::audit`]).
//! * **control**: serves the control socket (see [`crate::control`]):
//!   `sigward reload`, `sigward status` and `ping`. It never touches
//!   permission events.
//! * **metrics**: writes the metrics file, when the policy names one
//!   (see [`crate::metrics`]).
//! * **watchdog**: under a systemd watchdog (`WATCHDOG_USEC`), sends
//!   `WATCHDOG=1` while the event thread's heartbeat is fresh, so that a
//!   wedged event loop gets the agent restarted.
//! * the main thread: start-up, then signals (reload on SIGHUP, stop on
//!   SIGTERM/SIGINT).
//!
//! The event thread counts what it does with relaxed atomics only
//! ([`crate::metrics`]), and beats a heartbeat at least once a second.
//!
//! Every permission event is owned by a [`Pending`] guard that answers it
//! exactly once: explicitly, or on drop (also when a worker panics) with the
//! fail-closed answer of the mode in force.

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::stat::FileStat;
use sigward_policy::config::{Mode, UntrustedWriters};
use sigward_policy::{Reason, Verdict};

use crate::audit::{Auditor, Decision, DecisionRecord};
use crate::cache::{Entry, Fast, Hit, Probe, VerdictCache, NO_EPOCH};
use crate::check::{self, Outcome, Stamp};
use crate::config::{Engine, LoadError};
use crate::control::{self, ReloadOutcome};
use crate::fan::{self, Groups, Op, PermEvent};
use crate::fsmarks::FilesystemMarks;
use crate::ids;
use crate::kcache::{self, KernelCache};
use crate::lanes::{Lane, LaneWatch, Lanes};
use crate::metrics::{self, unix_now, Metrics, TreeState, Why};
use crate::names;
use crate::notify;
use crate::state::StateDir;
use crate::via::{Via, Vias};
use crate::watch;

/// State shared by every thread.
struct Shared {
    groups: Groups,
    engine: RwLock<Arc<Engine>>,
    cache: VerdictCache,
    auditor: Auditor,
    self_pid: i32,
    /// Set when a stop was requested: the event thread hands its queued
    /// events to the workers, then stops dispatching.
    stopping: AtomicBool,
    /// Set once every worker has finished: the event thread may exit.
    workers_done: AtomicBool,
    wake: EventFd,
    /// Held for the whole of a reload: SIGHUP and the control socket may ask
    /// at the same time, and reloads must not interleave.
    reloading: Mutex<()>,
    /// Counters and state for `sigward status` and the metrics file.
    metrics: Metrics,
    /// How often the event loop wakes up at least, to beat its heartbeat
    /// (milliseconds, at most 1000).
    beat_ms: u16,
    /// systemd's watchdog interval, when it is enabled.
    watchdog: Option<Duration>,
    /// Set as soon as a stop is requested: the watchdog stops confirming
    /// liveness and the metrics thread writes its last file.
    shutting_down: AtomicBool,
    /// Wakes the metrics thread (after a reload, and to stop it).
    metrics_wake: Sender<()>,
    /// Ignore marks on verified files.
    kcache: KernelCache,
    /// Bumped by the watcher after each directory rename it reads (see
    /// [`names_epoch`]).
    names_epoch: AtomicU64,
    /// Set by the watcher while it holds notification events it has read
    /// but not yet applied.
    watch_busy: AtomicBool,
    /// Files being verified now, with the events waiting for the same
    /// verdict.
    inflight: Mutex<HashMap<InflightKey, Vec<Waiter>>>,
    /// Symbolic links out of the trees already handled (link, target).
    symlinks: Mutex<HashSet<(PathBuf, PathBuf)>>,
    /// When the event thread last found the permission queue empty (Unix
    /// time in nanoseconds): every event it reads later was queued after
    /// it (see [`name_settled`]).
    queue_empty_at: AtomicU64,
    /// The filesystem marks that close the window for new directories.
    filesystem_marks: FilesystemMarks,
    /// Where the last good policy is kept (`--state-dir`).
    state: Option<StateDir>,
    /// Set once this agent's marks are all in place and the inherited
    /// group's marks are removed: that group is closed when drained.
    inherited_retired: AtomicBool,
    /// What the mounts that opens went through show.
    vias: Vias,
    /// Files and directories outside every tree that [`guard_symlink`]
    /// marked for a link in a tree: their opens are checked, never taken
    /// for opens outside the trees.
    link_targets: Mutex<HashSet<PathBuf>>,
    /// The agent's own mount namespace, in which files are named.
    own_ns: names::OwnNamespace,
    /// Files in the trees that an untrusted user's link gives another name:
    /// (device, inode) → the link. Refused under every name while the link
    /// resolves to them (checked again on every reload).
    aliases: Mutex<HashMap<(u64, u64), PathBuf>>,
}

/// One version of one file under one name and policy generation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct InflightKey {
    stamp: Stamp,
    generation: u64,
    path: PathBuf,
}

/// An event waiting for a verification another worker is running.
struct Waiter {
    pending: Pending,
    exec: bool,
}

impl Shared {
    fn engine(&self) -> Arc<Engine> {
        self.engine
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The policy is invalid.
    #[error("{0}")]
    Policy(#[from] crate::config::LoadError),
    /// fanotify or another system facility failed.
    #[error("{what}: {errno}{}", hint(*.errno))]
    System {
        /// What was attempted.
        what: String,
        /// The error.
        errno: Errno,
    },
    /// A thread could not be started.
    #[error("cannot start thread: {0}")]
    Thread(#[from] std::io::Error),
    /// The control socket or the pid file cannot be set up.
    #[error("{0}")]
    Control(String),
}

fn hint(e: Errno) -> &'static str {
    match e {
        Errno::EPERM => " (sigward run needs root: CAP_SYS_ADMIN for fanotify)",
        Errno::EINVAL | Errno::ENOSYS => {
            " (the kernel lacks fanotify permission events: CONFIG_FANOTIFY_ACCESS_PERMISSIONS)"
        }
        _ => "",
    }
}

fn sys(what: impl Into<String>) -> impl FnOnce(Errno) -> StartError {
    let what = what.into();
    move |errno| StartError::System { what, errno }
}

/// A permission event that must be answered exactly once.
struct Pending {
    shared: Arc<Shared>,
    event: Option<PermEvent>,
    fail_allow: bool,
    /// When the event was read.
    received: Instant,
}

impl Pending {
    fn new(shared: Arc<Shared>, event: PermEvent, mode: Mode) -> Self {
        Pending {
            shared,
            event: Some(event),
            fail_allow: mode != Mode::Enforce,
            received: Instant::now(),
        }
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.event.as_ref().map(PermEvent::fd)
    }

    fn pid(&self) -> i32 {
        self.event.as_ref().map_or(0, |e| e.pid())
    }

    fn answer(mut self, allow: bool) {
        if let Some(ev) = self.event.take() {
            respond(&self.shared, &ev, allow);
        }
    }

    /// Allows on the event thread, without verification.
    fn allow_fast(self, why: Why) {
        self.shared.metrics.verdict(Decision::Allow, why);
        self.answer(true);
    }

    /// Answers a worker's decision (counted, with its latency, before the
    /// answer, so that the opener never sees counts that lag behind it).
    fn decide(self, decision: Decision, why: Why) {
        let m = &self.shared.metrics;
        m.verdict(decision, why);
        m.observe_latency(self.received.elapsed());
        self.answer(decision != Decision::Deny);
    }
}

/// How a fail-closed (or fail-open) answer counts.
fn failure_decision(allow: bool) -> Decision {
    if allow {
        Decision::WouldDeny
    } else {
        Decision::Deny
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(ev) = self.event.take() {
            self.shared
                .metrics
                .verdict(failure_decision(self.fail_allow), Why::Error);
            respond(&self.shared, &ev, self.fail_allow);
        }
    }
}

fn respond(shared: &Shared, ev: &PermEvent, allow: bool) {
    // A failed write (ENOENT: the kernel already released the event, the
    // group is shutting down) cannot be helped; the event thread must not
    // log here.
    shared.groups.respond(ev, allow);
}

/// Work for a verification thread.
struct Job {
    pending: Pending,
    path: PathBuf,
    stamp: Stamp,
    /// Link count at the event.
    nlink: u64,
    /// Names epoch read before `path` ([`NO_EPOCH`] if names were moving).
    epoch: u64,
    exec: bool,
    mode: Mode,
    engine: Arc<Engine>,
    /// A verdict decided without verification, or taken from the cache.
    known: Option<Arc<Outcome>>,
    cached: bool,
    /// Whether the file's name cannot have changed since it was opened
    /// ([`name_settled`]).
    name_settled: bool,
}

/// Runs the agent until SIGTERM or SIGINT. Returns when every pending event
/// has been answered.
pub fn run(
    policy_path: &Path,
    control_options: &control::Options,
    state: Option<StateDir>,
) -> Result<(), StartError> {
    let (engine, degraded) = load_at_start(policy_path, state.as_ref())?;
    // Before any thread starts (binding changes the umask for a moment), and
    // before anything is marked: a second agent must stop here. Dropping it
    // removes the socket and the pid file, on every return path.
    let mut endpoint = control::Endpoint::open(control_options).map_err(StartError::Control)?;
    raise_fd_limit();

    // Signals are handled by the main thread with sigwait. `main` blocked
    // them before the first thread (the log thread) started, so that every
    // thread inherits the mask; blocking again is harmless and keeps `run`
    // correct when called on its own (tests).
    let signals = block_signals().map_err(sys("blocking signals"))?;
    crate::writers::ignore_lease_signals().map_err(sys("ignoring SIGIO"))?;

    let groups = Groups::init().map_err(sys("fanotify_init"))?;
    // The group of the agent that ran before (systemd kept it): every open
    // of a protected file since it died waits there, unanswered.
    let inherited = notify::inherited_group();
    let inherited_name = inherited.as_ref().map(|(_, name)| *name);
    if let Some((group, _)) = inherited {
        let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(1 << 20, |(soft, _)| soft.min(1 << 20));
        let answered = groups.adopt(group, i32::try_from(limit).unwrap_or(1 << 20));
        tracing::warn!(
            message_id = ids::INHERITED,
            "took over the fanotify group of the agent that ran before: its marks stayed in \
             place, so opens waited instead of being allowed; {answered} event(s) it had read \
             but not answered were denied"
        );
    }
    // Files are named through the agent's mounts of their filesystems
    // (see `names`): known before the first event is read, which, with an
    // inherited group, is before the trees are marked again.
    for tree in &engine.trees {
        if let Ok(fd) = fan::open_dir(&tree.root) {
            groups.remember_filesystem(fd.as_fd());
        }
    }
    let (auditor, audit_thread) = Auditor::start(engine.policy.audit.clone())?;
    let wake = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
        .map_err(sys("eventfd"))?;
    for w in &engine.warnings {
        tracing::warn!(
            message_id = ids::POLICY_WARNING,
            "policy {}: {w}",
            policy_path.display()
        );
    }
    let workers_n = engine.policy.agent.workers.unwrap_or_else(default_workers);
    let watchdog = sd_notify::watchdog_enabled().filter(|d| !d.is_zero());
    let beat_ms = beat_interval_ms(watchdog);
    let (metrics_wake, metrics_rx) = bounded::<()>(1);
    let shared = Arc::new(Shared {
        groups,
        cache: VerdictCache::new(engine.policy.agent.cache_entries),
        engine: RwLock::new(Arc::new(engine)),
        auditor,
        self_pid: i32::try_from(std::process::id()).unwrap_or(0),
        stopping: AtomicBool::new(false),
        workers_done: AtomicBool::new(false),
        wake,
        reloading: Mutex::new(()),
        metrics: Metrics::new(),
        beat_ms,
        watchdog,
        shutting_down: AtomicBool::new(false),
        metrics_wake,
        kcache: KernelCache::new(),
        names_epoch: AtomicU64::new(0),
        watch_busy: AtomicBool::new(false),
        inflight: Mutex::new(HashMap::new()),
        symlinks: Mutex::new(HashSet::new()),
        aliases: Mutex::new(HashMap::new()),
        own_ns: names::OwnNamespace::current(),
        filesystem_marks: FilesystemMarks::new(),
        state,
        inherited_retired: AtomicBool::new(false),
        vias: Vias::new(),
        link_targets: Mutex::new(HashSet::new()),
        queue_empty_at: AtomicU64::new(unix_nanos()),
    });
    {
        let engine = shared.engine();
        shared
            .kcache
            .open(engine.generation, engine.kernel_cache.clone());
    }

    let (small_tx, small_rx) = unbounded::<Job>();
    let (large_tx, large_rx) = unbounded::<Job>();
    let mut workers = Vec::new();
    // The small lane's workers hand over what outgrows their lane; the
    // large lane's queue closes once they and the event thread are done.
    let lanes = [
        (Lane::Small, workers_n, small_rx, Some(large_tx.clone())),
        (
            Lane::Large,
            crate::lanes::large_workers(workers_n),
            large_rx,
            None,
        ),
    ];
    for (lane, n, rx, escalate) in lanes {
        for i in 0..n {
            let rx = rx.clone();
            let escalate = escalate.clone();
            let shared = shared.clone();
            workers.push(
                std::thread::Builder::new()
                    .name(format!("sigward-{}-{i}", lane.name()))
                    .spawn(move || worker_loop(&shared, &rx, lane, escalate.as_ref()))?,
            );
        }
    }
    let tx = Lanes::new(small_tx, large_tx);
    let events = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("sigward-events".into())
            .spawn(move || event_loop(&shared, tx))?
    };
    let watcher = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("sigward-watch".into())
            .spawn(move || watch_loop(&shared))?
    };

    // Mark every tree. A root that cannot be marked is fatal: the agent must
    // not claim to enforce what it does not see.
    let engine = shared.engine();
    let mut dirs = 0usize;
    let mut tree_states = Vec::new();
    for tree in &engine.trees {
        let root =
            fan::open_dir(&tree.root).map_err(sys(format!("opening {}", tree.root.display())))?;
        let stats = shared
            .groups
            .walk(Op::Add, root, &tree.root, &HashSet::new());
        if stats.dirs == 0 {
            let detail = stats.errors.join("; ");
            stop_threads(&shared, events, watcher, workers);
            return Err(StartError::System {
                what: format!("marking {}: {detail}", tree.root.display()),
                errno: Errno::EIO,
            });
        }
        guard_walked(&shared, &engine, &stats);
        dirs += stats.dirs;
        tree_states.push(TreeState {
            root: tree.root.clone(),
            mode: tree.mode.as_str(),
            directories: u64::try_from(stats.dirs).unwrap_or(u64::MAX),
            untrusted_writers: tree.untrusted_writers.as_str(),
            filesystem_mark: false,
        });
    }
    refresh_filesystem_marks(&shared, &engine, true);
    for t in &mut tree_states {
        t.filesystem_mark = shared.filesystem_marks.covers(&t.root);
    }
    shared.metrics.count_marked(dirs);
    shared.metrics.set_policy(
        engine.generation,
        engine.policy.mode.as_str(),
        &engine.source,
        tree_states,
    );
    announce_modes(&engine);
    shared.metrics.set_absent_trees(engine.absent.clone());
    shared
        .metrics
        .set_overlay_views(report_views(&shared, &engine));
    match degraded {
        Some(d) => {
            tracing::error!(
                message_id = ids::NOT_IN_FORCE,
                sigward_file = %d.file.display(),
                sigward_reason = %d.reason,
                "the policy {} cannot be loaded: {}; enforcing the last good policy instead{}",
                engine.source.display(),
                d.reason,
                d.last_good_saved_at
                    .map(|t| format!(" (saved {})", metrics::rfc3339(t)))
                    .unwrap_or_default()
            );
            shared.metrics.set_degraded(Some(d));
        }
        None => save_last_good(&shared, &engine),
    }
    let status = format!(
        "enforcing policy {} (generation {}): {} trees, {} directories marked, {} trusted keys",
        engine.source.display(),
        engine.generation,
        engine.trees.len(),
        dirs,
        engine.trust.len()
    );
    tracing::info!(
        message_id = ids::READY,
        sigward_generation = engine.generation,
        sigward_mode = engine.policy.mode.as_str(),
        sigward_dirs = dirs,
        sigward_keys = engine.trust.len(),
        "ready: {status}"
    );
    // The ready record is in the journal before systemd hears READY=1,
    // unless journald is not reading.
    crate::logging::flush(Duration::from_millis(500));
    notify::notify(notify::State::Ready(status.clone()));
    // From now on systemd keeps this agent's group across a crash or kill;
    // the inherited group, whose marks this agent's now duplicate, is
    // emptied and closed.
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        if let Err(e) = notify::store_group(shared.groups.perm.as_fd(), inherited_name) {
            tracing::warn!(
                message_id = ids::INHERITED,
                "cannot keep the fanotify group in systemd's file descriptor store ({e}): if the \
                 agent dies, opens are allowed until it is back"
            );
        }
    }
    shared.groups.retire_inherited();
    shared.inherited_retired.store(true, Ordering::SeqCst);
    drop(engine);

    // Requests queued on the socket during start-up are served from now on,
    // so an answer to `ping` means the agent is enforcing.
    let server = match endpoint.serve(Arc::new(ControlHandler(shared.clone()))) {
        Ok(s) => s,
        Err(e) => {
            stop_threads(&shared, events, watcher, workers);
            return Err(StartError::Control(format!(
                "cannot serve the control socket: {e}"
            )));
        }
    };
    if let Some(path) = endpoint.socket_path() {
        tracing::info!(
            "control socket {}: `sigward reload` and `sigward status` are served there",
            path.display()
        );
    }
    let metrics_thread = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("sigward-metrics".into())
            .spawn(move || metrics_loop(&shared, &metrics_rx))
    };
    // Woken by `mounts_stop` at the stop, and joined before the audit
    // thread: it holds `shared`, whose audit sender keeps that thread
    // alive. (Left to its next poll, every stop, and so every restart that
    // openers wait through, took up to a second longer.)
    let mounts_stop =
        Arc::new(EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC).map_err(sys("eventfd"))?);
    let mounts_thread = {
        let shared = shared.clone();
        let stop = mounts_stop.clone();
        std::thread::Builder::new()
            .name("sigward-mounts".into())
            .spawn(move || mounts_loop(&shared, stop.as_fd()))
    };
    let (watchdog_stop, watchdog_rx) = bounded::<()>(1);
    let watchdog_thread = match shared.watchdog {
        Some(interval) => {
            tracing::info!(
                "systemd watchdog every {interval:?}: WATCHDOG=1 is sent while the event loop \
                 makes progress"
            );
            let shared = shared.clone();
            Some(
                std::thread::Builder::new()
                    .name("sigward-watchdog".into())
                    .spawn(move || watchdog_loop(&shared, interval, &watchdog_rx)),
            )
        }
        None => None,
    };

    loop {
        match signals.wait() {
            Ok(Signal::SIGHUP) => {
                let _ = reload(&shared);
            }
            Ok(Signal::SIGTERM) | Ok(Signal::SIGINT) => break,
            Ok(Signal::SIGUSR1) => log_status(&shared),
            Ok(other) => tracing::debug!("{other} ignored"),
            Err(_) => {}
        }
    }

    // From now on the watchdog no longer confirms liveness; it is gone
    // before STOPPING=1 is queued, so no WATCHDOG=1 follows it.
    shared.shutting_down.store(true, Ordering::SeqCst);
    drop(watchdog_stop);
    if let Some(Ok(t)) = watchdog_thread {
        let _ = t.join();
    }
    tracing::info!(
        message_id = ids::STOPPING,
        "stopping: answering pending events"
    );
    notify::notify(notify::State::Stopping);
    // The control thread goes first: a reload it is running must finish
    // while the event thread still answers the agent's own opens.
    if let Some(server) = server {
        server.shutdown();
    }
    // The last metrics file is written while the event thread still
    // answers the agent's own opens.
    let _ = shared.metrics_wake.try_send(());
    if let Ok(t) = metrics_thread {
        let _ = t.join();
    }
    stop_threads(&shared, events, watcher, workers);
    let _ = mounts_stop.write(1);
    if let Ok(t) = mounts_thread {
        let _ = t.join();
    }
    drop(shared);
    drop(endpoint);
    let _ = audit_thread.join();
    Ok(())
}

/// What the control socket may ask of the agent.
struct ControlHandler(Arc<Shared>);

impl control::Handler for ControlHandler {
    fn generation(&self) -> u64 {
        self.0.engine().generation
    }

    fn reload(&self) -> ReloadOutcome {
        match reload(&self.0) {
            Ok(generation) => ReloadOutcome::Applied { generation },
            Err((e, generation)) => ReloadOutcome::Refused {
                error: e.to_string(),
                generation,
            },
        }
    }

    fn status(&self) -> serde_json::Value {
        status(&self.0)
    }
}

/// The signals the agent handles itself, on the main thread, with
/// `sigwait`: SIGHUP reloads, SIGTERM and SIGINT stop, SIGUSR1 writes the
/// status to the log, and SIGUSR2, SIGALRM and SIGPIPE are ignored. A
/// burst of any of them (several configuration-management handlers at
/// once) coalesces into one pending signal and never kills the agent.
const HANDLED_SIGNALS: [Signal; 7] = [
    Signal::SIGHUP,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGPIPE,
];

/// Blocks [`HANDLED_SIGNALS`] in the calling thread, and so in every thread
/// it starts afterwards, and returns the set for `sigwait`. `main` calls it
/// before anything else starts a thread: a thread started earlier would
/// take such a signal with its default action, which ends the process.
pub fn block_signals() -> nix::Result<SigSet> {
    let mut set = SigSet::empty();
    for s in HANDLED_SIGNALS {
        set.add(s);
    }
    set.thread_block()?;
    Ok(set)
}

/// SIGUSR1: one record with the status, as `sigward status` shows it (the
/// record's `SIGWARD_STATUS` carries the JSON form).
fn log_status(shared: &Shared) {
    let v = status(shared);
    tracing::info!(
        message_id = ids::STATUS,
        sigward_status = %v,
        "status on SIGUSR1:\n{}",
        metrics::human(&v)
    );
}

/// The agent's status (see [`Metrics::status`]).
fn status(shared: &Shared) -> serde_json::Value {
    let engine = shared.engine();
    shared.metrics.status(&metrics::Live {
        cache_entries: shared.cache.len(),
        cache_capacity: shared.cache.capacity(),
        kernel_marks: shared.kcache.len(),
        kernel_marks_placed: shared.kcache.placed(),
        kernel_marks_dropped: shared.kcache.removed(),
        events_lost: shared.auditor.lost(),
        audit_dropped: shared.auditor.dropped(),
        metrics_file: engine.policy.agent.metrics_file.clone(),
        metrics_interval: engine.policy.agent.metrics_interval_secs,
        watchdog: shared.watchdog,
    })
}

/// How often the event loop wakes up at least: once a second, and four
/// times per watchdog interval when that is shorter.
fn beat_interval_ms(watchdog: Option<Duration>) -> u16 {
    let ms = watchdog.map_or(1000, |w| (w.as_millis() / 4).clamp(10, 1000));
    u16::try_from(ms).unwrap_or(1000)
}

/// Sends `WATCHDOG=1` every half interval while the event loop's heartbeat
/// is fresh; stops when the agent begins to stop.
fn watchdog_loop(shared: &Shared, interval: Duration, stop: &Receiver<()>) {
    let every = (interval / 2).max(Duration::from_millis(5));
    loop {
        match stop.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let stopping = shared.shutting_down.load(Ordering::SeqCst);
        if notify::alive(shared.metrics.heartbeat_age(), interval, stopping) {
            notify::notify(notify::State::Watchdog);
        }
    }
}

/// Writes the metrics file every interval, at once after a reload, and a
/// last time when the agent stops. A failure is logged (at most every
/// [`METRICS_ERROR_EVERY`]) and counted, and never affects a verdict.
fn metrics_loop(shared: &Shared, wake: &Receiver<()>) {
    let mut written: Option<PathBuf> = None;
    let mut failures = FailureLog::default();
    loop {
        let engine = shared.engine();
        let want = engine.policy.agent.metrics_file.clone();
        let interval = Duration::from_secs(engine.policy.agent.metrics_interval_secs.max(1));
        drop(engine);
        if written.is_some() && written != want {
            // A stale file beside the new one would be exported as well
            // (and node_exporter refuses the same series from two files).
            if let Some(old) = written.take() {
                match std::fs::remove_file(&old) {
                    Ok(()) => {
                        tracing::info!("metrics file moved: removed the old {}", old.display())
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!("cannot remove old metrics file {}: {e}", old.display())
                    }
                }
            }
        }
        if let Some(path) = &want {
            match metrics::write_atomic(path, &metrics::prometheus(&status(shared))) {
                Ok(()) => {
                    written = Some(path.clone());
                    failures.recovered(path);
                }
                Err(e) => {
                    shared.metrics.metrics_write_failed();
                    failures.failed(path, &e);
                }
            }
        }
        if shared.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let wait = if want.is_some() {
            interval
        } else {
            Duration::from_secs(3600)
        };
        match wake.recv_timeout(wait) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// How often a failing metrics file is reported.
const METRICS_ERROR_EVERY: Duration = Duration::from_secs(600);

/// Rate-limits the reports of a failing metrics file.
#[derive(Default)]
struct FailureLog {
    failing: bool,
    last_report: Option<Instant>,
    suppressed: u64,
}

impl FailureLog {
    fn failed(&mut self, path: &Path, e: &std::io::Error) {
        self.failing = true;
        if self
            .last_report
            .is_some_and(|t| t.elapsed() < METRICS_ERROR_EVERY)
        {
            self.suppressed += 1;
            return;
        }
        let more = if self.suppressed > 0 {
            format!(" ({} more failures since the last report)", self.suppressed)
        } else {
            String::new()
        };
        tracing::error!(
            message_id = ids::METRICS_FAILED,
            "cannot write metrics file {}: {e}{more}; verdicts are not affected",
            path.display()
        );
        self.last_report = Some(Instant::now());
        self.suppressed = 0;
    }

    fn recovered(&mut self, path: &Path) {
        if self.failing {
            tracing::info!("metrics file {} written again", path.display());
        }
        *self = FailureLog::default();
    }
}

fn stop_threads(
    shared: &Shared,
    events: JoinHandle<()>,
    watcher: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
) {
    shared.stopping.store(true, Ordering::SeqCst);
    let _ = shared.wake.write(1);
    // The event thread hands what is queued to the workers, then drops the
    // job senders; the workers finish every queued job and exit when the
    // channels are empty (the large lane's once the small lane's workers,
    // which may hand it jobs, are gone). A verification that reads the
    // file stops at its next read of 1 MiB when it sees `stopping`, and its
    // events get the fail-closed answer of their mode, so the stop does not
    // wait for large files. Meanwhile the event thread keeps answering: the
    // workers' own opens of signature files raise events that must be
    // allowed, or the workers (and the openers they serve) would hang.
    for w in workers {
        let _ = w.join();
    }
    shared.workers_done.store(true, Ordering::SeqCst);
    let _ = events.join();
    let _ = watcher.join();
}

fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 16)
}

/// Each pending event holds a descriptor; an agent that runs out of them
/// cannot receive events. Raise the soft limit to the hard limit.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

fn report_walk_errors(stats: &fan::WalkStats) {
    for e in stats.errors.iter().take(20) {
        tracing::error!(
            message_id = ids::MARK_FAILED,
            "{e}: files in it are not checked"
        );
    }
    if stats.errors.len() > 20 {
        tracing::error!(
            message_id = ids::MARK_FAILED,
            "{} more directories could not be marked",
            stats.errors.len() - 20
        );
    }
}

fn announce_modes(engine: &Engine) {
    if engine.policy.mode == Mode::Off {
        tracing::warn!(
            message_id = ids::MODE_OFF,
            "MODE IS OFF: policy {} disables signature checking; every open is allowed unchecked",
            engine.source.display()
        );
    }
    for t in &engine.trees {
        if t.mode == Mode::Off && engine.policy.mode != Mode::Off {
            tracing::warn!(
                message_id = ids::MODE_OFF,
                "MODE IS OFF for {}: files in it are allowed unchecked",
                t.root.display()
            );
        }
    }
}

// ---------------------------------------------------------------- events

/// Size of the event thread's read buffer: a few hundred events per read.
const EVENT_BUFFER: usize = 16 * 1024;

fn event_loop(shared: &Arc<Shared>, tx: Lanes<Job>) {
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
fn drain_inherited(
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
const SPIN: Duration = Duration::from_micros(50);

fn drain_events(
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
struct Names(Option<Option<u64>>);

impl Names {
    fn epoch(&mut self, shared: &Shared) -> Option<u64> {
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
fn names_epoch(shared: &Shared) -> Option<u64> {
    if shared.groups.notify_pending() || shared.watch_busy.load(Ordering::SeqCst) {
        return None;
    }
    Some(shared.names_epoch.load(Ordering::SeqCst))
}

fn handle_event(shared: &Arc<Shared>, tx: Option<&Lanes<Job>>, ev: PermEvent, names: &mut Names) {
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
    let regular = check::is_regular(&st);
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
fn send(m: &Metrics, tx: Option<&Lanes<Job>>, job: Job) {
    if let Some(tx) = tx {
        m.job_sent();
        let lane = Lane::for_size(job.stamp.size);
        if tx.send(lane, job).is_err() {
            m.job_done();
        }
    }
}

// --------------------------------------------------------------- workers

/// `escalate`: the large lane's queue, for the small lane's jobs that
/// outgrow it.
fn worker_loop(
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
struct Claim<'a> {
    shared: &'a Shared,
    key: Option<InflightKey>,
}

impl Claim<'_> {
    fn finish(mut self) -> Vec<Waiter> {
        self.release()
    }

    fn release(&mut self) -> Vec<Waiter> {
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
fn claim(shared: &Shared, key: InflightKey, waiter: Waiter) -> Option<(Claim<'_>, Waiter)> {
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

fn process(
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
    let owner = pending.pid();
    let mut watch = LaneWatch::new(&shared.stopping, lane, || {
        someone_waits(shared, owner, &key)
    });
    let mut outcome = match alias_of(shared, &stamp) {
        Some(link) => Outcome::refused(
            Reason::Tampered,
            format!(
                "reachable under another name through the symbolic link {}: a signature binds \
                 one name, and the agent cannot tell which name was opened",
                link.display()
            ),
            check::sig_path_for(&path),
        ),
        None => match check::evaluate_in_watched(&engine, fd, &path, buf, &mut watch) {
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
    if outcome.cacheable {
        shared.cache.insert(Entry {
            stamp,
            nlink,
            generation: engine.generation,
            epoch,
            path: path.as_path().into(),
            fast: if plain_allow {
                Fast::both(Why::Cached)
            } else {
                Fast::default()
            },
            valid_until: outcome.valid_until,
            outcome: (!plain_allow).then(|| outcome.clone()),
            watch_writers,
        });
        // `alias` records an alias before it removes the file's cached
        // verdicts, so looking for one after the insert leaves no window
        // in which a verdict made under the other name survives it.
        if alias_of(shared, &stamp).is_some() {
            shared.cache.remove((stamp.dev, stamp.ino));
        } else if plain_allow && outcome.valid_until.is_none() && mode != Mode::Off {
            kernel_cache(shared, &engine, fd, &path, &stamp);
        }
    }
    let waiters = claim.finish();
    conclude(shared, &engine, pending, &path, exec, mode, &outcome);
    for w in waiters {
        conclude(shared, &engine, w.pending, &path, w.exec, mode, &outcome);
    }
}

/// Whether a process still waits for the verification of `key`: its
/// first opener `owner`, or one of the events parked behind it.
fn someone_waits(shared: &Shared, owner: i32, key: &InflightKey) -> bool {
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
fn interrupted(
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
fn check_writers(outcome: &mut Outcome, fd: BorrowedFd<'_>, stamp: &Stamp, late_writers: bool) {
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
fn describe_writers(found: &[crate::writers::Writer]) -> String {
    let who: Vec<String> = found
        .iter()
        .map(|w| {
            let exe = crate::opener::describe(w.pid).0;
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
fn refuses_untrusted_writers(engine: &Engine, path: &Path) -> bool {
    engine
        .tree_for(path)
        .is_some_and(|t| t.untrusted_writers == UntrustedWriters::Refuse)
}

/// How long before the permission queue was last seen empty a file must
/// have last changed for its name to count as settled: covers the time
/// between an opener's path lookup and its event entering the queue.
const NAME_SETTLE: Duration = Duration::from_secs(2);

/// Nanoseconds since the Unix epoch, now.
fn unix_nanos() -> u64 {
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
fn name_settled(shared: &Shared, st: &FileStat) -> bool {
    let ctime = u64::try_from(st.st_ctime)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(st.st_ctime_nsec).unwrap_or(0));
    let settle = u64::try_from(NAME_SETTLE.as_nanos()).unwrap_or(u64::MAX);
    ctime.saturating_add(settle) < shared.queue_empty_at.load(Ordering::SeqCst)
}

/// Why a file named like a signature or an AiSOC manifest is not read
/// freely.
const NAME_EXEMPTION_REFUSED: &str = "named like a signature file or an AiSOC manifest, which \
     may be read freely only when nobody but the trusted owners can write it, or when it was not \
     renamed in the 2 s before this open: its owner could have swapped its name with a plugin's \
     while the plugin was being opened";

/// Whether no process has the file open for writing (a lease probe: one
/// `fcntl` pair, no `/proc`).
fn unwritten(fd: BorrowedFd<'_>) -> bool {
    crate::writers::open_for_writing(fd) == Some(false)
}

/// Whether only trusted owners can write the file: theirs, no group or
/// other write bit, no ACL entry granting write.
fn only_trusted_can_write(engine: &Engine, fd: BorrowedFd<'_>, st: &FileStat) -> bool {
    engine.trusted_owner(st.st_uid) && st.st_mode & 0o022 == 0 && !kcache::file_acl_writes(fd)
}

/// Puts a kernel ignore mark on a file just verified and allowed, where
/// that is safe (see [`crate::kcache`]).
fn kernel_cache(shared: &Shared, engine: &Engine, fd: BorrowedFd<'_>, path: &Path, stamp: &Stamp) {
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
fn conclude(
    shared: &Arc<Shared>,
    engine: &Engine,
    pending: Pending,
    path: &Path,
    exec: bool,
    mode: Mode,
    outcome: &Outcome,
) {
    let verified = outcome.verdict.is_verified();
    let decision = match (verified, mode) {
        (true, _) => Decision::Allow,
        (false, Mode::Enforce) => Decision::Deny,
        (false, _) => Decision::WouldDeny,
    };
    // A self-signed allow is always recorded: it rests on an untrusted key.
    let self_signed = outcome.verdict.is_self_signed();
    let why = match &outcome.verdict {
        Verdict::Verified { .. } if self_signed => Why::SelfSigned,
        Verdict::Verified { .. } => Why::Verified,
        Verdict::Rejected { reason, .. } => Why::Rejected(*reason),
    };
    if decision == Decision::Allow && !engine.policy.audit.log_allowed && !self_signed {
        pending.decide(decision, why);
        return;
    }
    let pid = pending.pid();
    let (exe, uid) = crate::opener::describe(pid);
    let (reason, detail) = match &outcome.verdict {
        Verdict::Verified { .. } if self_signed => (
            Some("self-signed"),
            String::from("valid signature by a key that is not trusted (allow_self_signed)"),
        ),
        Verdict::Verified { .. } => (None, String::from("signature verified")),
        Verdict::Rejected { reason, detail, .. } => (Some(reason.as_str()), detail.clone()),
    };
    if decision != Decision::Allow {
        shared.metrics.denial(metrics::Denial {
            time: unix_now(),
            decision,
            path: path.to_path_buf(),
            reason: why.as_str(),
            detail: detail.clone(),
            pid,
            exe: exe.clone(),
        });
    }
    pending.decide(decision, why);
    let signer = check::signer(engine, &outcome.verdict);
    shared.auditor.record(DecisionRecord {
        decision,
        reason,
        detail,
        path: path.to_path_buf(),
        access: if exec { "exec" } else { "open" },
        pid,
        exe,
        uid,
        sha256: outcome.sha256.map(hex::encode),
        sig_path: Some(outcome.sig_path.clone()),
        key: outcome.verdict.key().map(|k| k.to_string()),
        format: outcome.verdict.format().map(|f| f.name()),
        signer,
        mode,
        generation: engine.generation,
        time: std::time::SystemTime::now(),
    });
}

// --------------------------------------------------------------- watcher

fn watch_loop(shared: &Arc<Shared>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let mut fds = [
            PollFd::new(shared.groups.notify.as_fd(), PollFlags::POLLIN),
            PollFd::new(shared.wake.as_fd(), PollFlags::POLLIN),
        ];
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
        // Set before reading and cleared only after every rename read has
        // bumped the epoch: see `names_epoch`.
        shared.watch_busy.store(true, Ordering::SeqCst);
        loop {
            let n = match nix::unistd::read(shared.groups.notify.as_fd(), &mut buf) {
                Ok(0) | Err(Errno::EAGAIN) => break,
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    tracing::error!(
                        message_id = ids::MARK_FAILED,
                        "reading directory notifications: {e}"
                    );
                    break;
                }
            };
            let (notices, framed) = watch::parse_events(buf.get(..n).unwrap_or_default());
            let mut rescan = !framed;
            // Unframed input or an overflow may hide renames too.
            if rescan
                || notices
                    .iter()
                    .any(|n| matches!(n, watch::Notice::Renamed | watch::Notice::Overflow))
            {
                shared.names_epoch.fetch_add(1, Ordering::SeqCst);
            }
            for notice in notices {
                match notice {
                    watch::Notice::Renamed => {}
                    watch::Notice::Overflow => rescan = true,
                    watch::Notice::NewDir {
                        fsid,
                        handle_type,
                        handle,
                        name,
                    } => {
                        let opened = shared
                            .groups
                            .with_mount(&fsid, |m| watch::open_new(m, handle_type, &handle, &name));
                        match opened {
                            Some(Ok(Some(watch::NewEntry::Dir(fd, path)))) => {
                                let stats = shared.groups.walk(Op::Add, fd, &path, &HashSet::new());
                                guard_walked(shared, &shared.engine(), &stats);
                                shared.metrics.count_marked(stats.dirs);
                                shared.metrics.tree_grew(&path, stats.dirs);
                            }
                            Some(Ok(Some(watch::NewEntry::Other(fd)))) => {
                                new_name(shared, fd.as_fd())
                            }
                            Some(Ok(None)) => {}
                            Some(Err(e)) => {
                                tracing::error!(
                                    message_id = ids::MARK_FAILED,
                                    "cannot open new directory {:?}: {e}; rescanning",
                                    String::from_utf8_lossy(&name)
                                );
                                rescan = true;
                            }
                            None => rescan = true,
                        }
                    }
                }
            }
            if rescan {
                mark_all(shared, &shared.engine());
            }
        }
        shared.watch_busy.store(false, Ordering::SeqCst);
    }
}

/// Removes every kernel ignore mark (the kernel cache stays closed until the
/// caller opens it for the next generation). A mark that cannot be found
/// again by its handle is removed by flushing every mark of the permission
/// group and marking `next`'s trees again: during that short gap opens in
/// the trees are not seen, which is logged; keeping a verdict of the old
/// policy in the kernel would be worse.
fn drop_kernel_marks(shared: &Shared, next: &Engine) {
    let dropped = shared.kcache.drop_all(&shared.groups);
    if dropped.failed == 0 {
        return;
    }
    tracing::error!(
        message_id = ids::MARK_FAILED,
        "{} kernel ignore marks could not be removed one by one; flushing all marks and \
         marking every tree again (opens during the next moments are not checked)",
        dropped.failed
    );
    if let Err(e) = shared.groups.flush_perm() {
        tracing::error!(
            message_id = ids::MARK_FAILED,
            "cannot flush fanotify marks: {e}; stale kernel verdicts may remain until restart"
        );
        return;
    }
    // The flush removed the marks placed for symbolic links too: guard
    // every link again.
    shared
        .symlinks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    for tree in &next.trees {
        mark_tree(shared, next, &tree.root);
    }
}

/// A new name that is not a directory appeared in a protected tree
/// (`FAN_CREATE`, `FAN_MOVED_TO`): a symbolic link is guarded, and a
/// kernel-cached file under a new name loses its kernel verdict.
fn new_name(shared: &Shared, fd: BorrowedFd<'_>) {
    let Ok(st) = nix::sys::stat::fstat(fd.as_fd()) else {
        return;
    };
    let kind = st.st_mode & libc::S_IFMT;
    if kind == libc::S_IFLNK {
        if let Some(link) = check::fd_path(fd.as_fd()) {
            guard_symlink(shared, &shared.engine(), &link, 0);
        }
    } else if matches!(
        kind,
        libc::S_IFIFO | libc::S_IFSOCK | libc::S_IFCHR | libc::S_IFBLK
    ) {
        if let Some(path) = check::fd_path(fd.as_fd()) {
            guard_special(shared, &shared.engine(), &[path]);
        }
    } else if !shared.kcache.is_empty() {
        shared.kcache.forget(&shared.groups, fd.as_fd(), &st);
    }
}

// --------------------------------------------------------- special files

/// FIFOs, sockets and device nodes in protected trees.
///
/// None of them can carry a signature, and the kernel raises no permission
/// event when one is opened, so a loader would read whatever the process at
/// the other end writes (a FIFO named `evil.py`). The agent acts when it
/// finds one, by the walk or the notification group: made by an untrusted
/// owner in a tree in enforce mode, it is removed (a deny record says so; a
/// loader then gets `ENOENT`); in audit mode a would-deny record is
/// written. Root's and trusted owners' are only reported. The removal
/// follows the creation asynchronously: an open in between reaches the
/// special file (see docs/threat-model.md).
fn guard_special(shared: &Shared, engine: &Engine, paths: &[PathBuf]) {
    for path in paths {
        let Ok(st) = nix::sys::stat::lstat(path) else {
            continue;
        };
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFIFO => "a FIFO",
            libc::S_IFSOCK => "a socket",
            libc::S_IFCHR => "a character device",
            libc::S_IFBLK => "a block device",
            _ => continue,
        };
        let Some(tree) = engine.tree_for(path) else {
            continue;
        };
        // A special signature file is refused as `malformed` when the file
        // it belongs to is verified (it is opened non-blocking, never read
        // as code by the agent).
        if tree.mode == Mode::Off || check::is_sig_file(path) {
            continue;
        }
        let owner = st.st_uid;
        if engine.trusted_owner(owner) {
            tracing::warn!(
                message_id = ids::POLICY_WARNING,
                sigward_path = %crate::audit::path_text(path),
                "{} is {kind} in a protected tree, made by uid {owner}: it cannot be checked \
                 when opened",
                path.display()
            );
            continue;
        }
        let what = format!(
            "{kind} made by uid {owner} cannot carry a signature and is not checked when opened"
        );
        let (decision, detail) = if tree.mode == Mode::Enforce {
            // Only the very inode found: a file put in its place meanwhile
            // stays (and is checked when opened).
            let same = nix::sys::stat::lstat(path)
                .is_ok_and(|now| (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino));
            if !same {
                continue;
            }
            match std::fs::remove_file(path) {
                Ok(()) => (Decision::Deny, format!("{what}: removed")),
                Err(e) => (Decision::Deny, format!("{what}; removing it failed: {e}")),
            }
        } else {
            (
                Decision::WouldDeny,
                format!("{what}; enforce mode would remove it"),
            )
        };
        shared
            .metrics
            .verdict(decision, Why::Rejected(Reason::Unsigned));
        shared.auditor.record(DecisionRecord {
            decision,
            reason: Some(Reason::Unsigned.as_str()),
            detail,
            path: path.clone(),
            access: "create",
            pid: 0,
            exe: None,
            uid: Some(owner),
            sha256: None,
            sig_path: None,
            key: None,
            format: None,
            signer: None,
            mode: tree.mode,
            generation: engine.generation,
            time: std::time::SystemTime::now(),
        });
    }
}

// -------------------------------------------------------------- symlinks

/// The canonical directories holding each hop of the chain of links that
/// starts at `link` (the link's own directory excluded), the last one being
/// the final target's. At most 40 hops, as the kernel.
fn link_chain_dirs(link: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut p = link.to_path_buf();
    for _ in 0..40 {
        let Ok(t) = std::fs::read_link(&p) else { break };
        let next = match p.parent() {
            Some(parent) if t.is_relative() => parent.join(t),
            _ => t,
        };
        let (Some(dir), Some(name)) = (next.parent(), next.file_name()) else {
            break;
        };
        let Ok(dir) = std::fs::canonicalize(dir) else {
            break;
        };
        p = dir.join(name);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
        let is_link =
            nix::sys::stat::lstat(&p).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK);
        if !is_link {
            break;
        }
    }
    dirs
}

/// The link that gives this file another name, if any.
fn alias_of(shared: &Shared, stamp: &Stamp) -> Option<PathBuf> {
    let aliases = shared.aliases.lock().unwrap_or_else(|p| p.into_inner());
    aliases.get(&(stamp.dev, stamp.ino)).cloned()
}

/// A link in a tree to a file in a tree. Under the same base name it adds
/// nothing. Under another one, made by an untrusted owner, it would lend
/// the file's verdict to a name its signature was not made for, and the
/// kernel raises the same event for both names: the file is refused under
/// every name while the link points at it (fail-closed; see "Symbolic links"
/// in docs/threat-model.md).
fn alias(
    shared: &Shared,
    link: &Path,
    lst: &nix::sys::stat::FileStat,
    target: &Path,
    engine: &Engine,
) {
    let owner = lst.st_uid;
    if engine.trusted_owner(owner) || link.file_name() == target.file_name() {
        return;
    }
    let Ok(st) = nix::sys::stat::stat(target) else {
        return;
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return;
    }
    let key = (st.st_dev, st.st_ino);
    {
        let mut aliases = shared.aliases.lock().unwrap_or_else(|p| p.into_inner());
        if aliases.insert(key, link.to_path_buf()).is_some() {
            return;
        }
    }
    shared.cache.remove(key);
    if let Ok(fd) = nix::fcntl::open(
        target,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) {
        shared.kcache.drop_inode(&shared.groups, fd.as_fd());
    }
    tracing::warn!(
        message_id = ids::SYMLINK,
        sigward_path = %crate::audit::path_text(link),
        sigward_target = %crate::audit::path_text(target),
        "symbolic link {} (uid {owner}) gives {} another name: it is refused under every name \
         while the link points at it",
        link.display(),
        target.display()
    );
}

/// Drops the aliases whose link is gone or points elsewhere now (on reload).
fn recheck_aliases(shared: &Shared) {
    let mut aliases = shared.aliases.lock().unwrap_or_else(|p| p.into_inner());
    aliases.retain(|key, link| {
        std::fs::metadata(&*link).is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino()) == *key
        })
    });
}

/// How deep symbolic links into directories of their owner are followed.
const MAX_SYMLINK_DEPTH: usize = 8;

fn guard_symlinks(shared: &Shared, engine: &Engine, links: &[PathBuf]) {
    for link in links {
        guard_symlink(shared, engine, link, 0);
    }
}

/// Remembers a file or directory outside the trees that [`guard_symlink`]
/// marks: it is checked, never taken for a file outside the trees (see
/// [`link_target_of`]).
fn link_target(shared: &Shared, path: &Path) {
    shared
        .link_targets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(path.to_path_buf());
}

/// Guards a symbolic link found in a protected tree (see "Symbolic links"
/// in docs/threat-model.md).
///
/// Opening a file through a link raises events only where its target is.
/// A target inside a protected tree is checked there. A target outside
/// every tree that belongs to the link's owner, who is not a trusted owner
/// (root or `agent.kernel_cache_owners`), is marked: a regular file with a
/// permission mark of its own, a directory like a tree. Every open of it,
/// by any name, is then checked like a file outside the trees (the
/// policy's global mode and trust). Other targets (root's, another
/// user's) are not marked, since that would let anyone make the agent check
/// (and in enforce mode deny) someone else's files; the link is reported.
fn guard_symlink(shared: &Shared, engine: &Engine, link: &Path, depth: usize) {
    let Ok(lst) = nix::sys::stat::lstat(link) else {
        return;
    };
    if lst.st_mode & libc::S_IFMT != libc::S_IFLNK {
        return;
    }
    let Ok(target) = std::fs::canonicalize(link) else {
        tracing::warn!(
            message_id = ids::SYMLINK,
            sigward_path = %crate::audit::path_text(link),
            "symbolic link {} in a protected tree points at nothing: a file created at its \
             target later is not checked through it",
            link.display()
        );
        return;
    };
    if engine.tree_for(&target).is_some() {
        alias(shared, link, &lst, &target, engine);
        return;
    }
    {
        let mut seen = shared.symlinks.lock().unwrap_or_else(|p| p.into_inner());
        if !seen.insert((link.to_path_buf(), target.clone())) {
            return;
        }
    }
    let Ok(st) = nix::sys::stat::stat(&target) else {
        return;
    };
    let owner = lst.st_uid;
    let trusted = engine.trusted_owner(owner);
    let kind = st.st_mode & libc::S_IFMT;
    let not_marked = "it cannot be marked: it is not checked through the link";
    // The owner's directories along the chain (each hop's, and the
    // target's) are marked like trees: a hop re-pointed or a target
    // replaced there is then seen (and guarded again), and every file in
    // them is checked.
    let mut target_dir_marked = false;
    if !trusted {
        for dir in link_chain_dirs(link) {
            let theirs = nix::sys::stat::stat(&dir).is_ok_and(|d| d.st_uid == owner);
            if !theirs || engine.tree_for(&dir).is_some() || depth >= MAX_SYMLINK_DEPTH {
                continue;
            }
            if let Ok(fd) = fan::open_dir(&dir) {
                let stats = shared.groups.walk(Op::Add, fd, &dir, &HashSet::new());
                report_walk_errors(&stats);
                if stats.dirs > 0 {
                    link_target(shared, &dir);
                }
                target_dir_marked |= target.parent() == Some(dir.as_path()) && stats.dirs > 0;
                for l in &stats.symlinks {
                    guard_symlink(shared, engine, l, depth + 1);
                }
            }
        }
    }
    let guarded = if trusted || (st.st_uid != owner && !target_dir_marked) {
        Err("it belongs to root, a trusted owner or another user: it is not checked through the link")
    } else if target_dir_marked {
        Ok(())
    } else if kind == libc::S_IFREG {
        link_target(shared, &target);
        fan::mark_file(&shared.groups, &target).map_err(|_| not_marked)
    } else if kind == libc::S_IFDIR && depth < MAX_SYMLINK_DEPTH {
        match fan::open_dir(&target) {
            Ok(fd) => {
                link_target(shared, &target);
                let stats = shared.groups.walk(Op::Add, fd, &target, &HashSet::new());
                report_walk_errors(&stats);
                for l in &stats.symlinks {
                    guard_symlink(shared, engine, l, depth + 1);
                }
                Ok(())
            }
            Err(_) => Err(not_marked),
        }
    } else {
        Err("it is not checked through the link")
    };
    match guarded {
        Ok(()) => tracing::warn!(
            message_id = ids::SYMLINK,
            sigward_path = %crate::audit::path_text(link),
            sigward_target = %crate::audit::path_text(&target),
            "symbolic link {} in a protected tree points outside every tree, at {} of its owner \
             (uid {owner}): every open of it is now checked",
            link.display(),
            target.display()
        ),
        Err(why) => tracing::warn!(
            message_id = ids::SYMLINK,
            sigward_path = %crate::audit::path_text(link),
            sigward_target = %crate::audit::path_text(&target),
            "symbolic link {} in a protected tree points outside every tree, at {}: {why}",
            link.display(),
            target.display()
        ),
    }
}

/// Marks every tree of `engine` again (marks are idempotent).
fn mark_all(shared: &Shared, engine: &Engine) {
    for tree in &engine.trees {
        let dirs = mark_tree(shared, engine, &tree.root);
        shared.metrics.set_tree_directories(&tree.root, dirs);
    }
}

/// After a walk of a protected tree (or part of one): reports what could
/// not be marked, and guards the symbolic links and special files found,
/// under `engine` (the policy the tree belongs to, which during a reload is
/// not yet the one in force).
fn guard_walked(shared: &Shared, engine: &Engine, stats: &fan::WalkStats) {
    report_walk_errors(stats);
    guard_symlinks(shared, engine, &stats.symlinks);
    guard_special(shared, engine, &stats.special);
}

/// Marks one protected tree of `engine`, reporting what could not be
/// marked. Returns the number of directories marked.
fn mark_tree(shared: &Shared, engine: &Engine, root: &Path) -> usize {
    match fan::open_dir(root) {
        Ok(fd) => {
            let stats = shared.groups.walk(Op::Add, fd, root, &HashSet::new());
            guard_walked(shared, engine, &stats);
            shared.metrics.count_marked(stats.dirs);
            stats.dirs
        }
        Err(e) => {
            tracing::error!(
                message_id = ids::MARK_FAILED,
                "cannot open protected directory {}: {e}",
                root.display()
            );
            0
        }
    }
}

/// Places and removes filesystem marks to match how the trees of `engine`
/// lie among the mounts now ([`FilesystemMarks::refresh`]). When a
/// filesystem's mark went, or stopped covering files outside the trees, the
/// kernel verdicts placed for such files go too (all kernel verdicts: they
/// are not told apart), and come back as files are verified again.
fn refresh_filesystem_marks(shared: &Shared, engine: &Engine, announce: bool) {
    let roots: Vec<PathBuf> = engine.trees.iter().map(|t| t.root.clone()).collect();
    let changed =
        shared
            .filesystem_marks
            .refresh(&shared.groups, &roots, shared.self_pid, announce);
    // The trees may have changed: what each mount shows is looked at again.
    shared.vias.clear();
    if changed.lost && !shared.kcache.is_empty() {
        let accepted = shared.kcache.accepts(engine.generation);
        drop_kernel_marks(shared, engine);
        if accepted {
            shared
                .kcache
                .open(engine.generation, engine.kernel_cache.clone());
        }
    }
}

/// Follows changes to the agent's mount table (`/proc/self/mountinfo` is
/// pollable): a tree's bind mount removed, or a mount that shows a tree
/// without it, takes the filesystem mark away at once, since files could
/// then be renamed out of the tree between an open and the agent's look; a
/// tree bound onto itself gets one. Refreshes are serialised with reloads.
fn mounts_loop(shared: &Shared, stop: BorrowedFd<'_>) {
    let file = match std::fs::File::open("/proc/self/mountinfo") {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(
                message_id = ids::NEW_DIRECTORY_WINDOW,
                "cannot follow mount changes ({e}): a tree's filesystem mark is looked at again \
                 only on reload"
            );
            return;
        }
    };
    // Whether the mount table changed within `timeout`; `None` once
    // `stop` is readable.
    let changed = |timeout: PollTimeout| {
        let mut fds = [
            PollFd::new(file.as_fd(), PollFlags::POLLPRI),
            PollFd::new(stop, PollFlags::POLLIN),
        ];
        let ready = matches!(nix::poll::poll(&mut fds, timeout), Ok(n) if n > 0);
        let stopped = fds[1].any().unwrap_or(false);
        (!stopped).then_some(ready && fds[0].any().unwrap_or(false))
    };
    while !shared.stopping.load(Ordering::SeqCst) {
        match changed(PollTimeout::from(1000u16)) {
            None => return,
            Some(false) => continue,
            Some(true) => {}
        }
        // A burst of mounts (a container starting) is looked at once.
        std::thread::sleep(Duration::from_millis(50));
        while changed(PollTimeout::ZERO) == Some(true) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _serial = shared.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let engine = shared.engine();
        refresh_filesystem_marks(shared, &engine, false);
        for t in &engine.trees {
            shared
                .metrics
                .set_tree_filesystem_mark(&t.root, shared.filesystem_marks.covers(&t.root));
        }
    }
}

/// Whether `path` is, or lies in, a file or directory outside the trees
/// that [`guard_symlink`] marked for a link in a tree: it is checked, never
/// taken for a file outside the trees.
fn link_target_of(shared: &Shared, path: &Path) -> bool {
    shared
        .link_targets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .any(|t| path.starts_with(t))
}

/// Leaves the next opens of a file outside every tree, on a filesystem
/// whose mark covers a tree that is a mount of its own, to the kernel (an
/// ignore mark, removed by any change to the file and by every reload) —
/// only when nobody but the trusted owners could have moved it there or
/// can move it on: the file and every directory above it up to the mount
/// point of its whole filesystem pass the kernel cache's rule
/// ([`kcache::eligibility`]). A mount made before the tree's own (which
/// the agent looks for, see [`crate::stale`]) is then no way to carry a
/// kernel verdict into a tree either.
fn leave_outside_file_to_kernel(
    shared: &Shared,
    engine: &Engine,
    fd: BorrowedFd<'_>,
    st: &FileStat,
    path: &Path,
    outside: &crate::fsmarks::Outside,
) {
    let Some(top) = outside.filesystem_at.as_deref() else {
        return;
    };
    let owners = &engine.kernel_cache.owners;
    // The file's own facts first: most files others own or may write are
    // told without looking at their directories.
    if st.st_nlink != 1 || !owners.contains(&st.st_uid) || st.st_mode & 0o022 != 0 {
        return;
    }
    if !shared.kcache.accepts(engine.generation) {
        return;
    }
    if kcache::examine(fd, path, top, owners, kcache::eligibility).is_ok() {
        let _ = shared
            .kcache
            .mark(&shared.groups, engine.generation, fd, &Stamp::of(st));
    }
}

/// How long looking for overlays over the trees may take.
const VIEWS_DEADLINE: Duration = Duration::from_secs(3);

/// Set while a look for overlays runs (one that never returned is not
/// started again).
static VIEWS_BUSY: AtomicBool = AtomicBool::new(false);

/// [`crate::views::report`], on a thread of its own, for at most
/// [`VIEWS_DEADLINE`]: it walks paths in other mount namespaces, where a
/// mount that never answers (an attacker's FUSE filesystem) would block
/// it, and start-up or a reload must not wait for that.
fn report_views(shared: &Arc<Shared>, engine: &Arc<Engine>) -> Vec<crate::views::UncoveredView> {
    if VIEWS_BUSY.swap(true, Ordering::SeqCst) {
        tracing::warn!(
            message_id = ids::OVERLAY_VIEW,
            "not looking for overlays over the protected trees: the previous look has not \
             finished (a mount in another namespace does not answer)"
        );
        return Vec::new();
    }
    let (tx, rx) = bounded(1);
    let (s, e) = (shared.clone(), engine.clone());
    let started = std::thread::Builder::new()
        .name("sigward-views".into())
        .spawn(move || {
            let _ = tx.send(crate::views::report(&s.groups, &e));
            VIEWS_BUSY.store(false, Ordering::SeqCst);
        });
    if started.is_err() {
        VIEWS_BUSY.store(false, Ordering::SeqCst);
        return Vec::new();
    }
    match rx.recv_timeout(VIEWS_DEADLINE) {
        Ok(views) => views,
        Err(_) => {
            tracing::warn!(
                message_id = ids::OVERLAY_VIEW,
                "looking for overlays over the protected trees took more than {VIEWS_DEADLINE:?} \
                 (a mount in another namespace does not answer): some may not be reported"
            );
            Vec::new()
        }
    }
}

// ---------------------------------------------------------------- reload

/// Loads the policy at start-up; when it cannot be loaded, the last good
/// policy from the state directory instead ([`crate::state`]), with the
/// reason the agent is then degraded. Without a last good policy the
/// error stands, and the agent does not start.
fn load_at_start(
    path: &Path,
    state: Option<&StateDir>,
) -> Result<(Engine, Option<metrics::Degraded>), StartError> {
    let err = match Engine::load(path, 1) {
        Ok(engine) => return Ok((engine, None)),
        Err(e) => e,
    };
    let Some(state) = state else {
        return Err(err.into());
    };
    let saved = match state.last_good() {
        Ok(Some(saved)) => saved,
        Ok(None) => return Err(err.into()),
        Err(e) => {
            tracing::error!(
                message_id = ids::NOT_IN_FORCE,
                "the last good policy cannot be used either: {e}"
            );
            return Err(err.into());
        }
    };
    tracing::info!(
        "starting from the last good policy {} (generation {} when it was saved, {})",
        state.last_good_path().display(),
        saved.generation,
        metrics::rfc3339(saved.saved_at)
    );
    match Engine::from_inputs(&saved.inputs, 1) {
        Ok(mut engine) => {
            // Reloads read the policy the agent was started with, wherever
            // the saved one came from.
            engine.source = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            Ok((
                engine,
                Some(metrics::Degraded {
                    reason: err.to_string(),
                    file: err.file.clone(),
                    since: unix_now(),
                    last_good_saved_at: Some(saved.saved_at),
                }),
            ))
        }
        Err(e) => {
            tracing::error!(
                message_id = ids::NOT_IN_FORCE,
                "the last good policy {} cannot be loaded either: {e}",
                state.last_good_path().display()
            );
            Err(err.into())
        }
    }
}

/// Saves the policy in force as the last good one (see [`crate::state`]).
fn save_last_good(shared: &Shared, engine: &Engine) {
    let Some(state) = &shared.state else { return };
    if let Err(e) = state.save(engine) {
        tracing::warn!(
            message_id = ids::POLICY_WARNING,
            "cannot save the policy as the last good one: {e}; if it cannot be loaded at the \
             next start, the agent will not start"
        );
    }
}

/// A reload was refused: the policy on disk is not the one in force. Said
/// at `err` priority with its own MESSAGE_ID, and kept in the status until
/// a reload or restart loads the policy on disk.
fn not_in_force(shared: &Shared, old: &Engine, e: &LoadError) {
    let since = shared.metrics.degraded().map_or_else(unix_now, |d| d.since);
    let last_good_saved_at = shared.metrics.degraded().and_then(|d| d.last_good_saved_at);
    tracing::error!(
        message_id = ids::NOT_IN_FORCE,
        sigward_file = %e.file.display(),
        sigward_line = e.line,
        sigward_reason = %e,
        "the policy {} cannot be loaded: {e}; generation {} stays in force",
        old.source.display(),
        old.generation
    );
    shared.metrics.set_degraded(Some(metrics::Degraded {
        reason: e.to_string(),
        file: e.file.clone(),
        since,
        last_good_saved_at,
    }));
}

/// Reloads the policy: SIGHUP and the control socket's `reload` both come
/// here. Returns the generation now in force, or the error and the
/// generation that stays in force. Reloads are serialised.
fn reload(shared: &Arc<Shared>) -> Result<u64, (LoadError, u64)> {
    let _serial = shared.reloading.lock().unwrap_or_else(|p| p.into_inner());
    notify::notify(notify::State::Reloading);
    let old = shared.engine();
    let result = match Engine::load(&old.source, old.generation + 1) {
        Err(e) => {
            shared.metrics.reloaded(false);
            shared.metrics.reload_result(Some(e.to_string()));
            tracing::error!(
                message_id = ids::RELOAD_FAILED,
                sigward_file = %e.file.display(),
                sigward_line = e.line,
                sigward_generation = old.generation,
                "reload refused, generation {} stays in force: {e}",
                old.generation
            );
            not_in_force(shared, &old, &e);
            Err((e, old.generation))
        }
        Ok(new) => {
            for w in &new.warnings {
                tracing::warn!(
                    message_id = ids::POLICY_WARNING,
                    "policy {}: {w}",
                    new.source.display()
                );
            }
            let new = Arc::new(new);
            let old_roots: HashSet<&Path> = old.trees.iter().map(|t| t.root.as_path()).collect();
            let new_roots: HashSet<&Path> = new.trees.iter().map(|t| t.root.as_path()).collect();
            // New trees are marked before the switch.
            let mut marked = std::collections::HashMap::new();
            for t in new
                .trees
                .iter()
                .filter(|t| !old_roots.contains(t.root.as_path()))
            {
                marked.insert(t.root.as_path(), mark_tree(shared, &new, &t.root));
            }
            // (A tree bind-mounted onto itself since the last load gets
            // its filesystem mark now; one removed from the policy loses
            // it.)
            refresh_filesystem_marks(shared, &new, true);
            let tree_states = new
                .trees
                .iter()
                .map(|t| TreeState {
                    root: t.root.clone(),
                    mode: t.mode.as_str(),
                    untrusted_writers: t.untrusted_writers.as_str(),
                    filesystem_mark: shared.filesystem_marks.covers(&t.root),
                    directories: marked.get(t.root.as_path()).map_or_else(
                        || shared.metrics.tree_directories(&t.root).unwrap_or(0),
                        |&n| u64::try_from(n).unwrap_or(u64::MAX),
                    ),
                })
                .collect();
            // Every verdict the kernel caches rests on the old trust: drop
            // them all before the new generation answers anything.
            drop_kernel_marks(shared, &new);
            recheck_aliases(shared);
            *shared.engine.write().unwrap_or_else(|p| p.into_inner()) = new.clone();
            shared.metrics.set_policy(
                new.generation,
                new.policy.mode.as_str(),
                &new.source,
                tree_states,
            );
            shared.metrics.reloaded(true);
            shared.metrics.reload_result(None);
            shared.metrics.set_degraded(None);
            save_last_good(shared, &new);
            // A changed metrics file or interval applies at once.
            let _ = shared.metrics_wake.try_send(());
            shared.cache.reset(new.policy.agent.cache_entries);
            shared.kcache.open(new.generation, new.kernel_cache.clone());
            shared.auditor.set_settings(new.policy.audit.clone());
            // Trees no longer protected are unmarked, except where they lie
            // inside (or contain) a tree that still is.
            let keep: HashSet<(u64, u64)> = new
                .trees
                .iter()
                .filter_map(|t| std::fs::metadata(&t.root).ok())
                .map(|m| {
                    use std::os::unix::fs::MetadataExt;
                    (m.dev(), m.ino())
                })
                .collect();
            for t in old
                .trees
                .iter()
                .filter(|t| !new_roots.contains(t.root.as_path()))
            {
                if new.tree_for(&t.root).is_some() {
                    continue;
                }
                if let Ok(root) = fan::open_dir(&t.root) {
                    shared.groups.walk(Op::Remove, root, &t.root, &keep);
                }
            }
            announce_modes(&new);
            shared.metrics.set_absent_trees(new.absent.clone());
            shared.metrics.set_overlay_views(report_views(shared, &new));
            tracing::info!(
                message_id = ids::RELOAD_OK,
                sigward_generation = new.generation,
                sigward_mode = new.policy.mode.as_str(),
                "reloaded policy {}: generation {}, {} trees, {} trusted keys",
                new.source.display(),
                new.generation,
                new.trees.len(),
                new.trust.len()
            );
            Ok(new.generation)
        }
    };
    notify::notify(notify::State::Ready(format!(
        "enforcing policy generation {}",
        shared.engine().generation
    )));
    result
}
