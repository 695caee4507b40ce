//! The running agent: threads, event handling, reload and shutdown.
//!
//! Threads:
//! * **events**: reads the permission group, answers at once what needs no
//!   verification (the agent's own opens, directories, empty files, reads of
//!   signature files, off mode, cached allows) and hands everything else to
//!   the workers. It never blocks on verification, disk or logging.
//! * **workers**: hash, verify, answer, and queue audit records.
//! * **watcher**: marks new directories in protected trees.
//! * **audit**: writes records (see [`crate::audit`]).
//! * **control**: serves the control socket (see [`crate::control`]):
//!   `sigward reload` and `ping`. It never touches permission events.
//! * the main thread: start-up, then signals (reload on SIGHUP, stop on
//!   SIGTERM/SIGINT).
//!
//! Every permission event is owned by a [`Pending`] guard that answers it
//! exactly once: explicitly, or on drop (also when a worker panics) with the
//! fail-closed answer of the mode in force.

use std::collections::HashSet;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use crossbeam_channel::{unbounded, Receiver, Sender};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::fanotify::{FanotifyEvent, FanotifyResponse, MaskFlags, Response};
use nix::sys::signal::{SigSet, Signal};
use sigward_policy::config::Mode;
use sigward_policy::{Reason, Verdict};

use crate::audit::{ids, Auditor, Decision, DecisionRecord};
use crate::cache::{Key, VerdictCache};
use crate::check::{self, Outcome, Stamp};
use crate::config::{Engine, LoadError};
use crate::control::{self, ReloadOutcome};
use crate::fan::{self, Groups, Op};
use crate::notify;
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
    event: Option<FanotifyEvent>,
    fail_allow: bool,
}

impl Pending {
    fn new(shared: Arc<Shared>, event: FanotifyEvent, mode: Mode) -> Self {
        Pending {
            shared,
            event: Some(event),
            fail_allow: mode != Mode::Enforce,
        }
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.event.as_ref().and_then(|e| e.fd())
    }

    fn pid(&self) -> i32 {
        self.event.as_ref().map_or(0, |e| e.pid())
    }

    fn answer(mut self, allow: bool) {
        if let Some(ev) = self.event.take() {
            respond(&self.shared, &ev, allow);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(ev) = self.event.take() {
            respond(&self.shared, &ev, self.fail_allow);
        }
    }
}

fn respond(shared: &Shared, ev: &FanotifyEvent, allow: bool) {
    let Some(fd) = ev.fd() else { return };
    let response = if allow {
        Response::FAN_ALLOW
    } else {
        Response::FAN_DENY
    };
    // ENOENT: the kernel already released the event (group shutting down).
    // Nothing else can be done about a failed write; the event thread must
    // not log here.
    let _ = shared
        .groups
        .perm
        .write_response(FanotifyResponse::new(fd, response));
}

/// Work for a verification thread.
struct Job {
    pending: Pending,
    path: PathBuf,
    stamp: Stamp,
    exec: bool,
    mode: Mode,
    engine: Arc<Engine>,
    /// A verdict decided without verification, or taken from the cache.
    known: Option<Arc<Outcome>>,
    cached: bool,
}

/// Runs the agent until SIGTERM or SIGINT. Returns when every pending event
/// has been answered.
pub fn run(policy_path: &Path, control_options: &control::Options) -> Result<(), StartError> {
    let engine = Engine::load(policy_path, 1)?;
    // Before any thread starts (binding changes the umask for a moment), and
    // before anything is marked: a second agent must stop here. Dropping it
    // removes the socket and the pid file, on every return path.
    let mut endpoint = control::Endpoint::open(control_options).map_err(StartError::Control)?;
    raise_fd_limit();

    // Signals are handled by the main thread with sigwait; block them before
    // any thread starts so that every thread inherits the mask.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGHUP);
    signals.thread_block().map_err(sys("blocking signals"))?;

    let groups = Groups::init().map_err(sys("fanotify_init"))?;
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
    });

    let (tx, rx) = unbounded::<Job>();
    let mut workers = Vec::new();
    for i in 0..workers_n {
        let rx = rx.clone();
        let shared = shared.clone();
        workers.push(
            std::thread::Builder::new()
                .name(format!("sigward-worker-{i}"))
                .spawn(move || worker_loop(&shared, &rx))?,
        );
    }
    drop(rx);
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
        report_walk_errors(&stats);
        dirs += stats.dirs;
    }
    announce_modes(&engine);
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
    notify::notify(notify::State::Ready(status.clone()));
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
            "control socket {}: `sigward reload` is served there",
            path.display()
        );
    }

    loop {
        match signals.wait() {
            Ok(Signal::SIGHUP) => {
                let _ = reload(&shared);
            }
            Ok(Signal::SIGTERM) | Ok(Signal::SIGINT) => break,
            Ok(_) | Err(_) => {}
        }
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
    stop_threads(&shared, events, watcher, workers);
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
    // job sender; the workers finish every queued job and exit when the
    // channel is empty. Meanwhile the event thread keeps answering: the
    // workers' own opens of signature files raise events that must be
    // allowed, or the workers (and the openers they serve) would hang.
    for w in workers {
        let _ = w.join();
    }
    shared.workers_done.store(true, Ordering::SeqCst);
    let _ = events.join();
    let _ = watcher.join();
}

/// Seconds since the epoch (0 if the clock is before it).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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

fn event_loop(shared: &Arc<Shared>, tx: Sender<Job>) {
    let mut tx = Some(tx);
    loop {
        let stopping = shared.stopping.load(Ordering::SeqCst);
        drain_events(shared, tx.as_ref());
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
            drain_events(shared, None);
            return;
        }
        let mut fds = [
            PollFd::new(shared.groups.perm.as_fd(), PollFlags::POLLIN),
            PollFd::new(shared.wake.as_fd(), PollFlags::POLLIN),
        ];
        // While stopping, the wake descriptor stays readable; poll the
        // group alone with a short timeout to notice the workers finishing.
        let (fds, timeout) = if tx.is_some() {
            (&mut fds[..], PollTimeout::NONE)
        } else {
            (&mut fds[..1], PollTimeout::from(50u16))
        };
        match nix::poll::poll(fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

fn drain_events(shared: &Arc<Shared>, tx: Option<&Sender<Job>>) {
    loop {
        match shared.groups.perm.read_events() {
            Ok(events) if events.is_empty() => return,
            Ok(events) => {
                for ev in events {
                    handle_event(shared, tx, ev);
                }
            }
            Err(Errno::EINTR) => continue,
            Err(_) => return,
        }
    }
}

fn handle_event(shared: &Arc<Shared>, tx: Option<&Sender<Job>>, ev: FanotifyEvent) {
    if ev.fd().is_none() {
        return; // queue overflow notice; cannot happen with FAN_UNLIMITED_QUEUE
    }
    if ev.pid() == shared.self_pid {
        // The agent's own opens (signature files in marked directories).
        respond(shared, &ev, true);
        return;
    }
    let engine = shared.engine();
    if !ev.check_version() {
        let allow = engine.policy.mode != Mode::Enforce;
        respond(shared, &ev, allow);
        return;
    }
    let exec = ev.mask().contains(MaskFlags::FAN_OPEN_EXEC_PERM);
    let pending = Pending::new(shared.clone(), ev, engine.policy.mode);
    let Some(fd) = pending.fd() else { return };
    let st = match nix::sys::stat::fstat(fd) {
        Ok(st) => st,
        Err(_) => return, // Pending answers fail-closed on drop
    };
    let stamp = Stamp::of(&st);
    let is_dir = (st.st_mode & libc::S_IFMT) == libc::S_IFDIR;
    if is_dir {
        pending.answer(true);
        return;
    }
    let regular = check::is_regular(&st);
    if regular && stamp.size == 0 {
        // Nothing to run in an empty file; deployment tools create files
        // empty before writing them. Checked again on every later open.
        pending.answer(true);
        return;
    }
    let Some(path) = check::fd_path(fd) else {
        return; // fail-closed on drop
    };
    let mode = engine.mode_for(&path);
    let mut pending = pending;
    pending.fail_allow = mode != Mode::Enforce;
    if mode == Mode::Off {
        pending.answer(true);
        return;
    }
    let sig_path = check::sig_path_for(&path);
    let known = if !regular {
        Some(Arc::new(Outcome::refused(
            Reason::Unsigned,
            "not a regular file: only regular files can carry a signature",
            sig_path,
        )))
    } else if check::is_sig_file(&path) {
        if !exec {
            // Loaders and operators read signature files.
            pending.answer(true);
            return;
        }
        Some(Arc::new(Outcome::refused(
            Reason::Invalid,
            "signature files are never executed",
            sig_path,
        )))
    } else {
        None
    };
    let mut cached = false;
    let known = match known {
        Some(k) => Some(k),
        None => {
            let key = Key {
                stamp,
                generation: engine.generation,
                path: path.clone(),
            };
            match shared.cache.get(&key) {
                Some(hit)
                    if hit.verdict.is_verified()
                        && !hit.verdict.is_self_signed()
                        && !engine.policy.audit.log_allowed =>
                {
                    pending.answer(true);
                    return;
                }
                Some(hit) => {
                    cached = true;
                    Some(hit)
                }
                None => None,
            }
        }
    };
    let job = Job {
        pending,
        path,
        stamp,
        exec,
        mode,
        engine,
        known,
        cached,
    };
    // An unbounded channel: sending never blocks. Without a sender (the
    // agent is stopping) or without workers, the job is dropped and its
    // Pending answers with the fail-closed answer of its mode.
    if let Some(tx) = tx {
        let _ = tx.send(job);
    }
}

// --------------------------------------------------------------- workers

fn worker_loop(shared: &Arc<Shared>, rx: &Receiver<Job>) {
    let mut buf = vec![0u8; crate::hash::BUFFER_SIZE];
    while let Ok(job) = rx.recv() {
        // A panic in verification must not take the worker (or the agent)
        // down; the job's Pending answers fail-closed as it unwinds.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            process(shared, job, &mut buf);
        }));
    }
}

fn process(shared: &Arc<Shared>, job: Job, buf: &mut [u8]) {
    let Job {
        pending,
        path,
        stamp,
        exec,
        mode,
        engine,
        known,
        cached,
    } = job;
    let Some(fd) = pending.fd() else { return };
    if check::is_aisoc_manifest(&path) {
        // AiSOC's loader reads the manifest before anything is verified;
        // it is covered by the bundle signature in plugin.sig.
        if !exec {
            pending.answer(true);
            return;
        }
    }
    // A cached rejection stays valid only while the signature files beside
    // it are unchanged: signing a file later must take effect at once.
    let known = known.filter(|k| !cached || k.evidence == check::EvidenceStamps::current(&path));
    let outcome = match known {
        Some(k) => k,
        None => {
            let options = sigward_policy::Options {
                now: unix_now(),
                ..engine.options_for(&path).clone()
            };
            let ctx = check::Context {
                trust: engine.trust_for(&path),
                options: &options,
                tree_root: engine.tree_for(&path).map(|t| t.root.as_path()),
            };
            let o = Arc::new(check::evaluate(fd, &path, &ctx, buf));
            if o.cacheable {
                shared.cache.insert(
                    Key {
                        stamp,
                        generation: engine.generation,
                        path: path.clone(),
                    },
                    o.clone(),
                );
            }
            o
        }
    };
    let verified = outcome.verdict.is_verified();
    let decision = match (verified, mode) {
        (true, _) => Decision::Allow,
        (false, Mode::Enforce) => Decision::Deny,
        (false, _) => Decision::WouldDeny,
    };
    // A self-signed allow is always recorded: it rests on an untrusted key.
    let self_signed = outcome.verdict.is_self_signed();
    if decision == Decision::Allow && !engine.policy.audit.log_allowed && !self_signed {
        pending.answer(true);
        return;
    }
    let pid = pending.pid();
    let (exe, uid) = crate::opener::describe(pid);
    pending.answer(decision != Decision::Deny);
    let (reason, detail) = match &outcome.verdict {
        Verdict::Verified { .. } if self_signed => (
            Some("self-signed"),
            String::from("valid signature by a key that is not trusted (allow_self_signed)"),
        ),
        Verdict::Verified { .. } => (None, String::from("signature verified")),
        Verdict::Rejected { reason, detail, .. } => (Some(reason.as_str()), detail.clone()),
    };
    // Who signed: what the verdict says, else the trusted key's name.
    let signer = outcome.verdict.signer().map(str::to_owned).or_else(|| {
        outcome
            .verdict
            .key()
            .and_then(|k| engine.trust.get(&k))
            .and_then(|k| k.label.clone())
    });
    shared.auditor.record(DecisionRecord {
        decision,
        reason,
        detail,
        path,
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
            for notice in notices {
                match notice {
                    watch::Notice::Overflow => rescan = true,
                    watch::Notice::NewDir {
                        fsid,
                        handle_type,
                        handle,
                        name,
                    } => {
                        let opened = shared.groups.with_mount(&fsid, |m| {
                            watch::open_new_dir(m, handle_type, &handle, &name)
                        });
                        match opened {
                            Some(Ok(Some((fd, path)))) => {
                                let stats = shared.groups.walk(Op::Add, fd, &path, &HashSet::new());
                                report_walk_errors(&stats);
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
    }
}

/// Marks every tree of `engine` again (marks are idempotent).
fn mark_all(shared: &Shared, engine: &Engine) {
    for tree in &engine.trees {
        mark_tree(shared, &tree.root);
    }
}

/// Marks one protected tree, reporting what could not be marked.
fn mark_tree(shared: &Shared, root: &Path) {
    match fan::open_dir(root) {
        Ok(fd) => report_walk_errors(&shared.groups.walk(Op::Add, fd, root, &HashSet::new())),
        Err(e) => tracing::error!(
            message_id = ids::MARK_FAILED,
            "cannot open protected directory {}: {e}",
            root.display()
        ),
    }
}

// ---------------------------------------------------------------- reload

/// Reloads the policy: SIGHUP and the control socket's `reload` both come
/// here. Returns the generation now in force, or the error and the
/// generation that stays in force. Reloads are serialised.
fn reload(shared: &Arc<Shared>) -> Result<u64, (LoadError, u64)> {
    let _serial = shared.reloading.lock().unwrap_or_else(|p| p.into_inner());
    notify::notify(notify::State::Reloading);
    let old = shared.engine();
    let result = match Engine::load(&old.source, old.generation + 1) {
        Err(e) => {
            tracing::error!(
                message_id = ids::RELOAD_FAILED,
                sigward_file = %e.file.display(),
                sigward_line = e.line,
                sigward_generation = old.generation,
                "reload refused, generation {} stays in force: {e}",
                old.generation
            );
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
            for t in new
                .trees
                .iter()
                .filter(|t| !old_roots.contains(t.root.as_path()))
            {
                mark_tree(shared, &t.root);
            }
            *shared.engine.write().unwrap_or_else(|p| p.into_inner()) = new.clone();
            shared.cache.reset(new.policy.agent.cache_entries);
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
