//! The running agent: start-up, the threads, shutdown. Each thread's work
//! lives in a submodule: `pending` (the envelope of one event), `events`,
//! `workers`, `ahead`, `watcher`, `guards` (special files and symbolic links),
//! `marks` (trees, filesystems, mounts), `reload` and `telemetry` (status,
//! metrics file, watchdog); `shared` holds the state every thread shares,
//! `signals` the signals the main thread waits for.
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
//! * **ahead**: verifies the other files of a directory whose first file a
//!   worker just verified, before anyone opens them, at a lower priority
//!   (`agent/ahead.rs`).
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
//! Every permission event is owned by a `Pending` guard (`agent/pending.rs`) that answers it
//! exactly once: explicitly, or on drop (also when a worker panics) with the
//! fail-closed answer of the mode in force.

use std::collections::{HashMap, HashSet};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded};
use nix::errno::Errno;
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::signal::Signal;
use sigward_policy::config::Mode;

use crate::audit::Auditor;
use crate::cache::VerdictCache;
use crate::config::Engine;
use crate::control;
use crate::fan::{self, Groups, Op};
use crate::fsmarks::FilesystemMarks;
use crate::ids;
use crate::kcache::KernelCache;
use crate::lanes::{Lane, Lanes};
use crate::metrics::{self, Metrics, TreeState};
use crate::names;
use crate::notify;
use crate::state::StateDir;
use crate::via::Vias;

mod ahead;
mod events;
mod guards;
mod marks;
mod pending;
mod reload;
mod shared;
mod signals;
mod telemetry;
mod watcher;
mod workers;

use shared::{ControlHandler, InflightKey, Shared, Waiter};
pub use signals::block_signals;

use events::event_loop;
use marks::{guard_walked, mounts_loop, refresh_filesystem_marks, report_views};
use pending::Job;
use reload::{load_at_start, reload, save_last_good};
use telemetry::{beat_interval_ms, log_status, metrics_loop, watchdog_loop};
use watcher::watch_loop;
use workers::{unix_nanos, worker_loop};

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    #[error(transparent)]
    Control(#[from] control::EndpointError),
    /// The control socket cannot be served.
    #[error("cannot serve the control socket: {0}")]
    Serve(std::io::Error),
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
    let mut endpoint = control::Endpoint::open(control_options)?;
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
    if let Err(e) = groups.set_kernel_audit(engine.policy.audit.kernel_audit) {
        tracing::warn!(
            message_id = ids::POLICY_WARNING,
            "policy {}: {e}",
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
        ahead: ahead::Ahead::default(),
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
    // Verification ahead of the opens, joined with the workers: their own
    // opens need the event thread's answers until they are gone.
    for i in 0..workers_n {
        let shared = shared.clone();
        workers.push(
            std::thread::Builder::new()
                .name(format!("sigward-ahead-{i}"))
                .spawn(move || ahead::ahead_loop(&shared, workers_n))?,
        );
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
    shared
        .metrics
        .set_policy(crate::fleet::facts(&engine, tree_states));
    announce(&engine);
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
            return Err(StartError::Serve(e));
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

fn stop_threads(
    shared: &Shared,
    events: JoinHandle<()>,
    watcher: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
) {
    shared.stopping.store(true, Ordering::SeqCst);
    let _ = shared.wake.write(1);
    shared.ahead.wake_all();
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

/// What a newly loaded policy must say out loud: the trees it leaves
/// unchecked (exactly those: a global `mode = "off"` under trees that
/// enforce is not reported), and the trusted keys that have expired, are
/// not valid yet, or expire within the warning horizon.
fn announce(engine: &Engine) {
    let off: Vec<String> = engine
        .trees
        .iter()
        .filter(|t| t.mode == Mode::Off)
        .map(|t| t.root.display().to_string())
        .collect();
    if !off.is_empty() {
        let all = off.len() == engine.trees.len();
        tracing::warn!(
            message_id = ids::MODE_OFF,
            sigward_trees = %off.join(" "),
            "MODE IS OFF for {}: files in {} are allowed unchecked{}",
            off.join(", "),
            if off.len() == 1 { "it" } else { "them" },
            if all {
                String::from(" (every protected tree)")
            } else {
                format!(" ({} of {} protected trees)", off.len(), engine.trees.len())
            }
        );
    }
    let now = crate::metrics::unix_now();
    let keys = crate::fleet::keys(&engine.trust, now, crate::fleet::horizon(engine));
    for (k, w) in keys
        .iter()
        .filter_map(|k| k.expiry_warning(now).map(|w| (k, w)))
    {
        tracing::warn!(
            message_id = ids::KEY_EXPIRY,
            sigward_key = %k.fingerprint,
            sigward_key_name = k.name.as_deref().unwrap_or(""),
            sigward_key_validity = k.validity.as_str(),
            sigward_not_after = k.not_after_rfc3339.as_deref().unwrap_or(""),
            "policy {}: {w}",
            engine.source.display()
        );
    }
}

// ---------------------------------------------------------------- events
